"""The wheel ships the data a user needs: rubrics, taxonomies, templates, configs and the skill."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from conftest import REPO


@pytest.mark.slow
def test_wheel_contains_data_files(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(tmp_path)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("basesel-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for rubric in (REPO / "rubrics").glob("*.yaml"):
        assert f"basesel/_data/rubrics/{rubric.name}" in names
    for taxonomy in (REPO / "taxonomies").glob("*.yaml"):
        assert f"basesel/_data/taxonomies/{taxonomy.name}" in names
    assert {"basesel/_data/templates/base-model-evaluation.md.j2", "basesel/_data/templates/scenario-styles.yaml",
            "basesel/_data/configs/pricing.yaml", "basesel/_data/skill/SKILL.md"} <= names
    assert "basesel/cli/main.py" in names
