"""The decision document picks up research.json: the Model Selection section shows the candidate table,
the primary and backup with strengths / concerns, and the pull command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from basesel.cli.main import app
from basesel.errors import ConfigError
from basesel.report.render import render_report
from conftest import BASESEL, REPO, cli_env

sys.path.insert(0, str(REPO / "benchmarks"))
from openai_stub_server import serve  # noqa: E402


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A real run directory: `basesel baseline` on two scenarios against the local OpenAI-compatible stub."""
    work = tmp_path_factory.mktemp("baseline")
    server, _ = serve(0, delay=0.0)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        scenarios = work / "s.jsonl"
        scenarios.write_text("".join(json.dumps({"id": f"s{i}", "input": text}) + "\n" for i, text in enumerate(["My order is late.", "How do I reset my password?"])))
        proc = subprocess.run(
            BASESEL + ["baseline", "--model", "openai/stub", "--base-url", url, "--judge", "openai/judge", "--judge-base-url", url,
                       "--rubric", "support", "--scenarios", str(scenarios), "--out", "run", "--doc", "no-research.md"],
            cwd=work, env=cli_env(work), capture_output=True, text=True, timeout=180,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode in (0, 3, 4, 5), proc.stderr
    assert "Research was not run" in (work / "no-research.md").read_text()
    return work / "run"


def test_decision_document_includes_the_research_table(tmp_path, run_dir):
    result = CliRunner().invoke(app, ["research", "--domain", "therapeutic", "--size", "7-10B", "--turns", "8", "--license", "commercial", "--top", "5"])
    assert result.exit_code == 0, result.output
    research = json.loads((tmp_path / "research.json").read_text())
    primary, backup = research["primary"], research["backup"]

    doc = render_report(run_dir, tmp_path / "docs" / "eval.md")  # ./research.json is picked up by default
    text = doc.read_text()
    section = text.split("## Model Selection", 1)[1].split("### Selected Model", 1)[0]
    assert "### Research Summary" in section and "Research was not run" not in text
    assert "| Model | Params | License | Context | Released | Domain Fit | Why Considered | Why Selected/Rejected |" in section
    assert f"Catalog dated {research['catalog_date']}" in section
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| Model") ]
    assert len(rows) == len(research["candidates"])
    assert any(row.startswith(f"| {primary['model']} |") and "**SELECTED** - " in row and "⭐⭐⭐⭐" in row for row in rows)
    assert any(row.startswith(f"| {backup['model']} |") and "**BACKUP** - " in row for row in rows)
    assert any("Rejected - " in row for row in rows) and any("Excluded - " in row for row in rows)
    assert f"**Primary: {primary['model']}.**" in section and f"**Backup: {backup['model']}.**" in section
    assert f"- Get it: `{primary['pull_command']}`" in section
    assert "- Expected strengths: " in section
    assert "license=commercial" in section and "domain=therapeutic" in section


def test_explicit_research_file_with_warnings_and_sources(tmp_path, run_dir):
    import yaml

    old = yaml.safe_load((REPO / "configs" / "catalog.yaml").read_text())
    old["as_of"] = "2024-02-01"
    (tmp_path / "old.yaml").write_text(yaml.safe_dump(old, sort_keys=False))
    out = tmp_path / "elsewhere"
    result = CliRunner().invoke(app, ["research", "--domain", "coding", "--catalog", str(tmp_path / "old.yaml"), "--out-dir", str(out)])
    assert result.exit_code == 0, result.output
    path = out / "research.json"
    data = json.loads(path.read_text())
    # what `--online` adds when web searches answer (see test_research_online for the real thing)
    data["sources"] = [{"title": "Best 8B models | 2026", "url": "https://example.org/best", "query": "best 7B-10B parameter LLM 2026 coding"}]
    path.write_text(json.dumps(data))
    doc = render_report(run_dir, tmp_path / "eval.md", research=path).read_text()
    assert "### Research Summary" in doc and f"**Primary: {data['primary']['model']}.**" in doc
    assert "> **Research warning:** the model catalog is dated 2024-02-01" in doc
    assert "**Sources:** [Best 8B models \\| 2026](https://example.org/best)" in doc
    with pytest.raises(ConfigError):
        render_report(run_dir, tmp_path / "eval2.md", research=tmp_path / "nope.json")
