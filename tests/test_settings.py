"""The project settings file (basesel.yaml): written by `basesel init`, read by every command from the
working directory, flags winning; a typo is an error with the file and line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from basesel.settings import ROUTES, _commands
from conftest import BASESEL, cli_env
from fakes import FakeOllama


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(BASESEL + args, cwd=cwd, env=cli_env(cwd, **env), capture_output=True, text=True, timeout=120)


def test_every_route_names_a_real_option():
    """A renamed flag must not silently stop the settings from reaching it."""
    import typer

    from basesel.cli.main import app

    commands = _commands(typer.main.get_command(app))
    for key, routes in ROUTES.items():
        for command, param in routes:
            assert command in commands, (key, command)
            assert param in {p.name for p in commands[command].params}, (key, command, param)


def test_initialised_project_runs_the_methods_command_as_written(tmp_path):
    with FakeOllama(pulled=("qwen3:8b", "qwen3:32b")) as ollama:
        init = run(["init", "--domain", "support", "--judge", "qwen3:32b"], tmp_path)
        assert init.returncode == 0, init.stderr
        settings = (tmp_path / "basesel.yaml").read_text()
        assert "domain: support" in settings and "judge: qwen3:32b" in settings
        (tmp_path / "basesel.yaml").write_text(settings.replace("    n: 50", "    n: 8"))
        proc = run(["baseline", "--model", "qwen3:8b", "--out", "run", "--json"], tmp_path, OLLAMA_HOST=ollama.url)
        # no --judge: the settings' judge satisfies the judge-required rule. 7: the fake judge says "yes" to
        # every criterion of every response, which basesel marks provisional (uniform verdicts)
        assert proc.returncode in (0, 5, 7), proc.stderr
        manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
        assert manifest["judge"]["name"] == "qwen3:32b" and manifest["candidate"]["name"] == "qwen3:8b"
        assert manifest["rubric"]["path"] == "rubrics/support.yaml"  # the project's copy
        assert manifest["scenarios"]["count"] == 8  # defaults.baseline.n
        # a flag wins over the file
        proc = run(["baseline", "--model", "qwen3:8b", "--judge", "qwen3:8b", "-n", "7", "--out", "run2", "--json"], tmp_path, OLLAMA_HOST=ollama.url)
        manifest = json.loads((tmp_path / "run2" / "manifest.json").read_text())
        assert manifest["judge"]["name"] == "qwen3:8b" and manifest["scenarios"]["count"] == 7
        # judge calibrate takes the project's judge too
        cal = run(["judge", "calibrate", "--labels", "support", "--json"], tmp_path, OLLAMA_HOST=ollama.url)
        assert cal.returncode == 0, cal.stderr
        assert json.loads(cal.stdout)["judge"]["name"] == "qwen3:32b"
        # report reads its doc path from the file
        (tmp_path / "basesel.yaml").write_text((tmp_path / "basesel.yaml").read_text() + "doc: reports/eval.md\n")
        rep = run(["report", "run"], tmp_path)
        assert rep.returncode == 0, rep.stderr
        assert (tmp_path / "reports" / "eval.md").is_file()


def test_scenarios_and_research_read_the_file_and_flags_win(tmp_path):
    (tmp_path / "basesel.yaml").write_text(
        "domain: coaching\nturns: 2-3\nseed: 4\ndefaults:\n  scenarios: {n: 20, out: from-settings.jsonl}\n  research: {domain: therapeutic, top: 3}\n"
    )
    proc = run(["scenarios", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(x) for x in (tmp_path / "from-settings.jsonl").read_text().splitlines()]
    assert len(rows) == 20 and {r["turns"] for r in rows} == {"2-3"} and json.loads(proc.stdout)["coverage"]["taxonomy"] == "coaching"
    proc = run(["scenarios", "--domain", "support", "-n", "12", "-o", "flag.jsonl", "--json"], tmp_path)
    assert proc.returncode == 0 and json.loads(proc.stdout)["coverage"]["taxonomy"] == "support"
    research = run(["research", "--json"], tmp_path)
    assert research.returncode == 0, research.stderr
    data = json.loads(research.stdout)
    assert data["query"]["domain"] == "therapeutic"


def test_a_domain_flag_replaces_the_files_rubric_and_taxonomy(tmp_path):
    (tmp_path / "basesel.yaml").write_text("rubric: coaching\ntaxonomy: coaching\n")
    proc = run(["scenarios", "--domain", "support", "-n", "12", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["coverage"]["taxonomy"] == "support"
    proc = run(["scenarios", "-n", "20", "--json"], tmp_path)
    assert json.loads(proc.stdout)["coverage"]["taxonomy"] == "coaching"


@pytest.mark.parametrize("text, line, words", [
    ("domain: support\njudgee: qwen3:32b\n", 2, "judgee: unknown field"),
    ("domain: support\ndefaults:\n  baseline:\n    n: 5\n    max_tokenz: 10\n", 5, "'max_tokenz' is not an option of `basesel baseline`"),
    ("defaults:\n  baselin: {n: 5}\n", 2, "no command named 'baselin'"),
])
def test_a_typo_is_an_error_with_file_and_line(tmp_path, text, line, words):
    (tmp_path / "basesel.yaml").write_text(text)
    proc = run(["scenarios"], tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"basesel.yaml:{line}" in proc.stderr and words in proc.stderr


def test_help_is_fast_without_a_settings_file(tmp_path):
    proc = run(["--help"], tmp_path)
    assert proc.returncode == 0 and "basesel.yaml" in proc.stdout
