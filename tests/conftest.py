"""Shared fixtures. Every test gets its own cache directory and working directory, so runs never
touch the user's cache or the repository's docs/."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BASESEL = [sys.executable, "-m", "basesel"]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("BASESEL_CACHE_DIR", str(tmp_path / "cache"))
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OLLAMA_HOST", "VLLM_API_KEY", "HF_TOKEN", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "OLLAMA_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def repo() -> Path:
    return REPO


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for running `python -m basesel` in a subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["BASESEL_CACHE_DIR"] = str(tmp_path / "cache")
    env["HF_HUB_OFFLINE"] = "1"
    env.update(extra)
    return env
