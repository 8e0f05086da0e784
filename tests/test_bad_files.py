"""Damaged or misplaced files get a ConfigError that names the path and says what to do, never an
internal error: input files that are not UTF-8, output paths that are directories (or sit under a file),
and run directories whose manifest, summary or records are damaged."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BASESEL, REPO, cli_env

sys.path.insert(0, str(REPO / "benchmarks"))
from openai_stub_server import serve  # noqa: E402

NOT_UTF8 = b"\xff\xfe\x00a"


def run_cli(args, tmp_path):
    return subprocess.run(BASESEL + args, cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=120)


def assert_clean_error(proc, *fragments):
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    assert "error:" in proc.stderr and "what to do:" in proc.stderr, proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, (fragment, proc.stderr)


# -- 1. input files that are not UTF-8 -------------------------------------------------------------


def test_read_yaml_names_a_file_that_is_not_utf8(tmp_path):
    from basesel.errors import ConfigError
    from basesel.yamlio import read_yaml

    bad = tmp_path / "rubric.yaml"
    bad.write_bytes(b"id: x\n" + NOT_UTF8)
    with pytest.raises(ConfigError) as err:
        read_yaml(bad)
    assert err.value.where == str(bad) and "not UTF-8" in err.value.message and "line 2" in err.value.message
    assert "UTF-8" in err.value.hint


def test_load_scenarios_names_a_file_that_is_not_utf8(tmp_path):
    from basesel.errors import ConfigError
    from basesel.scenarios.model import load_scenarios

    bad = tmp_path / "s.jsonl"
    bad.write_bytes(NOT_UTF8)
    with pytest.raises(ConfigError) as err:
        load_scenarios(bad)
    assert err.value.where == str(bad) and "not UTF-8" in err.value.message and "Save it as UTF-8" in err.value.hint


def test_cli_rubric_taxonomy_and_scenarios_not_utf8(tmp_path):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_bytes(NOT_UTF8)
    bad_jsonl = tmp_path / "bad.jsonl"
    bad_jsonl.write_bytes(NOT_UTF8)
    good = tmp_path / "s.jsonl"
    good.write_text(json.dumps({"input": "hello"}) + "\n")
    model = ["--model", "openai/x", "--base-url", "http://127.0.0.1:1/v1", "--judge", "openai/x"]
    assert_clean_error(run_cli(["baseline", *model, "--rubric", str(bad_yaml), "--scenarios", str(good)], tmp_path), str(bad_yaml), "not UTF-8", "Save it as UTF-8")
    assert_clean_error(run_cli(["baseline", *model, "--rubric", "support", "--scenarios", str(bad_jsonl)], tmp_path), str(bad_jsonl), "not UTF-8")
    assert_clean_error(run_cli(["scenarios", "--taxonomy", str(bad_yaml)], tmp_path), str(bad_yaml), "not UTF-8")


# -- 2. output paths that are directories, or under a file -----------------------------------------


def test_atomic_write_to_a_directory_or_under_a_file(tmp_path):
    from basesel.errors import ConfigError
    from basesel.run.files import JsonlAppender, atomic_write_text

    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError) as err:
        atomic_write_text(tmp_path / "adir", "text")
    assert str(tmp_path / "adir") in err.value.message and "is a directory" in err.value.message
    with pytest.raises(ConfigError) as err:
        atomic_write_text(tmp_path / "afile" / "doc.md", "text")
    assert f"{tmp_path / 'afile'} is a file" in err.value.message and err.value.hint
    with pytest.raises(ConfigError) as err:
        atomic_write_text(tmp_path / "afile" / "deeper" / "doc.md", "text")
    assert f"{tmp_path / 'afile'} is a file" in err.value.message
    with pytest.raises(ConfigError) as err:
        JsonlAppender(tmp_path / "afile" / "responses.jsonl")
    assert str(tmp_path / "afile") in err.value.message
    with pytest.raises(ConfigError) as err:
        JsonlAppender(tmp_path / "adir")
    assert "is a directory" in err.value.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "afile"]  # no temporary files left behind
    assert list((tmp_path / "adir").iterdir()) == []


def test_atomic_write_without_permission(tmp_path, monkeypatch):
    """Simulated: the tests may run as root, which ignores file modes."""
    import basesel.run.files as files
    from basesel.errors import ConfigError

    def denied(*, dir, **_):
        raise PermissionError(13, "Permission denied", str(dir))

    monkeypatch.setattr(files.tempfile, "mkstemp", denied)
    with pytest.raises(ConfigError) as err:
        files.atomic_write_text(tmp_path / "doc.md", "text")
    assert str(tmp_path / "doc.md") in err.value.message and "Permission denied" in err.value.message
    assert "writable" in err.value.hint and str(tmp_path) in err.value.hint


def test_cli_scenarios_out_is_a_directory(tmp_path):
    (tmp_path / "adir").mkdir()
    assert_clean_error(run_cli(["scenarios", "--domain", "support", "-o", "adir"], tmp_path), "adir", "is a directory")
    (tmp_path / "afile").write_text("x")
    assert_clean_error(run_cli(["scenarios", "--domain", "support", "-o", "afile/s.jsonl"], tmp_path), "afile is a file")


# -- 3. damaged run directories ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One small finished run against the stub server, copied by each test that damages it."""
    root = tmp_path_factory.mktemp("run")
    server, _ = serve(0, delay=0.0)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        scenarios = root / "s.jsonl"
        scenarios.write_text("".join(json.dumps({"id": f"q{i}", "input": f"My invoice {i} is wrong, please help"}) + "\n" for i in range(4)))
        proc = subprocess.run(
            BASESEL + ["baseline", "--model", "openai/stub", "--base-url", url, "--judge", "openai/judge", "--judge-base-url", url,
                       "--rubric", "support", "--scenarios", str(scenarios), "--out", "run", "--json"],
            cwd=root, env=cli_env(root), capture_output=True, text=True, timeout=300,
        )
        assert proc.returncode in (0, 5), proc.stderr
    finally:
        server.shutdown()
        server.server_close()
    return root / "run"


@pytest.fixture
def run_copy(finished_run, tmp_path):
    dest = tmp_path / "run"
    shutil.copytree(finished_run, dest)
    return dest


def cut(path: Path, fraction: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def replace_line(path: Path, index: int, text: bytes) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    lines[index] = text + b"\n"
    path.write_bytes(b"".join(lines))


def test_report_on_an_intact_run_still_works(run_copy, tmp_path):
    proc = run_cli(["report", "run", "--doc", "out.md"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out.md").is_file()


@pytest.mark.parametrize(
    "damage, fragments",
    [
        (lambda run: cut(run / "manifest.json"), ["manifest.json", "not valid JSON", "Delete", "--out"]),
        (lambda run: (run / "manifest.json").write_bytes(b"\x00" * 64), ["manifest.json", "damaged"]),
        (lambda run: (run / "manifest.json").write_text("{}"), ["manifest.json", "incomplete", "no 'basesel_version'"]),
        (lambda run: (run / "manifest.json").write_text("[]"), ["manifest.json", "not an object"]),
        (lambda run: (run / "manifest.json").write_bytes(NOT_UTF8), ["manifest.json", "not UTF-8"]),
        (lambda run: cut(run / "summary.json"), ["summary.json", "not valid JSON", "Delete"]),
        (lambda run: (run / "growth.json").write_text('{"rounds": ['), ["growth.json", "not valid JSON"]),
        (lambda run: (run / "summary.json").write_text("[1]"), ["summary.json", "not an object", "Delete"]),
        (lambda run: (run / "growth.json").write_text('"rounds"'), ["growth.json", "not an object"]),
        (lambda run: replace_line(run / "assessments.jsonl", 1, b'{"scenario_id": "q1", "sam'), ["assessments.jsonl:2", "damaged", "--out", "resumes"]),
        (lambda run: replace_line(run / "assessments.jsonl", 1, b"[1, 2]"), ["assessments.jsonl:2", "damaged"]),
        (lambda run: replace_line(run / "responses.jsonl", 0, b'{"x": 1}'), ["responses.jsonl:1", "'scenario_id'", "Delete that line"]),
        (lambda run: replace_line(run / "responses.jsonl", 2, NOT_UTF8), ["responses.jsonl:3", "damaged"]),
    ],
    ids=["manifest-cut", "manifest-zeros", "manifest-empty-object", "manifest-list", "manifest-not-utf8", "summary-cut", "growth-cut", "summary-list", "growth-string",
         "assessment-torn-middle", "assessment-not-object", "response-missing-keys", "response-not-utf8"],
)
def test_report_on_a_damaged_run_names_the_file(run_copy, tmp_path, damage, fragments):
    damage(run_copy)
    assert_clean_error(run_cli(["report", "run", "--doc", "out.md"], tmp_path), *fragments)


def test_report_tolerates_a_torn_final_line(run_copy, tmp_path):
    """A run killed mid-write leaves half a last line: the report reads the rest (the run is incomplete)."""
    path = run_copy / "assessments.jsonl"
    path.write_bytes(path.read_bytes().rstrip(b"\n")[:-10])
    proc = run_cli(["report", "run", "--doc", "out.md"], tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_report_doc_is_a_directory(run_copy, tmp_path):
    (tmp_path / "docs").mkdir(exist_ok=True)
    assert_clean_error(run_cli(["report", "run", "--doc", "docs"], tmp_path), "docs", "is a directory")
    (tmp_path / "afile").write_text("x")
    assert_clean_error(run_cli(["report", "run", "--doc", "afile/doc.md"], tmp_path), "afile is a file")


def test_read_json_names_the_file(tmp_path):
    from basesel.errors import ConfigError
    from basesel.run.files import read_json

    path = tmp_path / "manifest.json"
    path.write_text('{"a": ')
    with pytest.raises(ConfigError) as err:
        read_json(path, "run manifest", hint="do this")
    assert str(path) in err.value.message and "run manifest" in err.value.message and err.value.hint == "do this"
    path.write_text('{"a": 1}')
    assert read_json(path, "run manifest") == {"a": 1}


def test_reopening_a_damaged_jsonl_sets_broken_lines_aside(tmp_path):
    """What the report's advice relies on: a resumed run drops damaged lines (kept in NAME.damaged), so
    read_jsonl and check_jsonl agree afterwards and those samples are redone."""
    from basesel.errors import ConfigError
    from basesel.run.files import JsonlAppender, check_jsonl, read_jsonl

    path = tmp_path / "assessments.jsonl"
    path.write_bytes(b'{"scenario_id": "a", "sample": 0}\n{"scenario_id": "b", "sam\n' + NOT_UTF8 + b'\n[1]\n{"scenario_id": "c", "sample": 0}\n{"scenario_id": "d"')
    assert [r["scenario_id"] for r in read_jsonl(path)] == ["a", "c"]
    with pytest.raises(ConfigError):
        check_jsonl(path, "assessments.jsonl", ("scenario_id", "sample"))
    appender = JsonlAppender(path)
    appender.write({"scenario_id": "b", "sample": 0})
    appender.close()
    assert [r["scenario_id"] for r in read_jsonl(path)] == ["a", "c", "b"]
    assert check_jsonl(path, "assessments.jsonl", ("scenario_id", "sample")) == 3
    assert (tmp_path / "assessments.jsonl.damaged").read_bytes() == b'{"scenario_id": "b", "sam\n' + NOT_UTF8 + b"\n[1]\n"


def test_load_scenarios_accepts_a_byte_order_mark(tmp_path):
    from basesel.scenarios.model import load_scenarios

    path = tmp_path / "s.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"id": "a", "input": "hello"}).encode() + b"\n")
    assert [s.id for s in load_scenarios(path)] == ["a"]


def test_ensure_dir_names_the_file_in_the_way(tmp_path):
    """The helper for run directories (`--out`): a file where the directory should be is a ConfigError."""
    from basesel.errors import ConfigError
    from basesel.run.files import ensure_dir

    (tmp_path / "afile").write_text("x")
    for target in (tmp_path / "afile", tmp_path / "afile" / "run"):
        with pytest.raises(ConfigError) as err:
            ensure_dir(target, what="run directory")
        assert f"run directory {target}" in err.value.message and f"{tmp_path / 'afile'} is a file" in err.value.message
    assert ensure_dir(tmp_path / "a" / "b").is_dir()


CLOSED = "http://127.0.0.1:9/v1"  # nothing listens: these errors must come before any call


def test_baseline_out_under_a_file_and_a_non_utf8_system_prompt_fail_before_any_call(tmp_path):
    (tmp_path / "afile").write_text("not a directory")
    common = ["baseline", "--model", "openai/x", "--base-url", CLOSED, "--judge", "openai/x", "--judge-base-url", CLOSED, "--domain", "support"]
    assert_clean_error(run_cli(common + ["--out", "afile/sub"], tmp_path), "afile is a file, not a directory")
    (tmp_path / "prompt.txt").write_bytes(b"\xff\xfeY\x00o\x00u\x00")
    assert_clean_error(run_cli(common + ["--system-prompt", "prompt.txt"], tmp_path), "prompt.txt", "not UTF-8")
    (tmp_path / "docdir").mkdir()
    assert_clean_error(run_cli(common + ["--doc", "docdir"], tmp_path), "--doc docdir is a directory")


def test_retry_errors_and_resume_name_a_damaged_manifest(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text('{"config": {"model": ')
    assert_clean_error(run_cli(["baseline", "--retry-errors", "run"], tmp_path), "manifest.json")
    common = ["baseline", "--model", "openai/x", "--base-url", CLOSED, "--judge", "openai/x", "--judge-base-url", CLOSED, "--domain", "support", "--out", "run"]
    assert_clean_error(run_cli(common, tmp_path), "manifest.json")
