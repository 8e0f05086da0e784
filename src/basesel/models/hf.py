"""Resolve GGUF files from a Hugging Face repo through huggingface_hub (cached locally)."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, ModelError, require


def resolve_hf_gguf(repo_and_file: str, filename: str | None = None) -> Path:
    """`owner/repo/file.gguf` or `owner/repo` + filename -> a local path (downloaded once)."""
    parts = repo_and_file.split("/")
    if filename is None and len(parts) >= 3 and parts[-1].endswith(".gguf"):
        repo_id, filename = "/".join(parts[:2]), "/".join(parts[2:])
    else:
        repo_id = "/".join(parts[:2])
    if not filename:
        raise ConfigError(
            f"'{repo_and_file}' names a Hugging Face repo but no GGUF file",
            hint="Write llamacpp/<owner>/<repo>/<file.gguf>, or pass --option file=<file.gguf>.",
        )
    hub = require("huggingface_hub", "research", "Downloading GGUF files from Hugging Face")
    try:
        return Path(hub.hf_hub_download(repo_id=repo_id, filename=filename))
    except Exception as exc:  # noqa: BLE001 - huggingface_hub raises many network/HTTP types
        raise ModelError(
            f"could not fetch {filename} from the Hugging Face repo {repo_id}: {type(exc).__name__}: {exc}",
            hint="Check the repo and file name and your network; offline, download the file elsewhere and pass its local path.",
        ) from exc


def download_gguf(repo_id: str, filename: str, dest: Path) -> Path:
    """Download one GGUF file into `dest` (huggingface_hub shows its own progress bar)."""
    hub = require("huggingface_hub", "research", "Downloading GGUF files from Hugging Face")
    try:
        return Path(hub.hf_hub_download(repo_id=repo_id, filename=filename, local_dir=str(dest)))
    except Exception as exc:  # noqa: BLE001 - network, 404, offline mode ...
        raise ModelError(
            f"could not download {filename} from the Hugging Face repo {repo_id}: {type(exc).__name__}: {exc}",
            hint="Check the repo id and file name (huggingface.co/<repo>/tree/main) and your network; HF_HUB_OFFLINE=1 blocks downloads.",
        ) from exc
