"""`basesel benchmark` end to end against a loopback OpenAI-compatible server, and every bad input the
issue lists: each a clear error (what, where, what to do), never a traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BASESEL, REPO, cli_env

sys.path.insert(0, str(REPO / "benchmarks"))
from openai_stub_server import serve  # noqa: E402

LABELS = ["billing", "shipping", "other"]


def run_cli(args, tmp_path, timeout=180, **env):
    return subprocess.run(BASESEL + args, cwd=tmp_path, env=cli_env(tmp_path, **env), capture_output=True, text=True, timeout=timeout)


def assert_clean_error(proc, *fragments, code=1):
    assert proc.returncode == code, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "error:" in proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, (fragment, proc.stderr)


def write_tickets(path: Path, n: int = 8, split: bool = True) -> Path:
    rows = []
    for i in range(n):
        label = LABELS[i % 3]
        row = {"id": f"t{i}", "input": f"ticket {i}: my problem is about {label} number {i}", "label": label}
        if split:
            row["split"] = "test" if i < n // 2 else "train"
        rows.append(row)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def stub():
    server, stats = serve(0, delay=0.0, pass_rate=0.5)
    yield server, stats
    server.shutdown()
    server.server_close()


def test_benchmark_run_against_a_loopback_server(tmp_path, stub):
    server, stats = stub
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    tickets = write_tickets(tmp_path / "tickets.jsonl")
    args = ["benchmark", "--task-file", str(tickets), "--labels", ",".join(LABELS), "--model", "openai/local-model", "--base-url", url,
            "--api", "openai/gpt-4o-mini", "--api", "openai/mystery-model", "--conditions", "zero-shot,2-shot", "--volume", "20000/day",
            "--gpu-usd-per-hour", "2", "--resamples", "200", "--out", "runs/b1", "--json"]
    proc = run_cli(args, tmp_path, OPENAI_BASE_URL=url, OPENAI_API_KEY="sk-test-not-real")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    run = tmp_path / "runs" / "b1"
    preds = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 4 * 2 * 3  # 4 test items x 2 conditions x 3 models
    assert stats.snapshot()["structured"] == 24  # every call constrained to the label set
    from sklearn.metrics import f1_score

    for cell in summary["cells"]:
        rows = [p for p in preds if p["model"] == cell["model"] and p["condition"] == cell["condition"]]
        expected = f1_score([r["gold"] for r in rows], [r["pred"] for r in rows], labels=LABELS, average="macro", zero_division=0)
        assert cell["value"] == pytest.approx(expected)
        assert cell["ci95"][0] <= cell["value"] <= cell["ci95"][1]
        assert cell["latency_p50_s"] is not None and cell["latency_p95_s"] >= cell["latency_p50_s"]
        if cell["condition"] == "2-shot":
            assert all(len(r["shots"]) == 2 and r["item_id"] not in r["shots"] for r in rows)
    by = {(c["model"], c["condition"]): c for c in summary["cells"]}
    assert by[("openai/mystery-model", "zero-shot")]["cost_per_query"] is None  # unknown, never 0
    assert "mystery-model" in by[("openai/mystery-model", "zero-shot")]["cost"]["basis"]
    assert any("mystery-model" in w and "pricing" in w for w in summary["warnings"])
    assert by[("openai/gpt-4o-mini", "zero-shot")]["cost_per_query"] > 0
    local = by[("openai/local-model", "zero-shot")]
    assert local["hosted"] == "self" and local["cost_per_query"] > 0 and local["throughput_qps"] > 0
    assert local["tco_12m"] == pytest.approx(2 * 8760)  # one instance covers 20,000/day at this speed
    assert any(b["self"] == "openai/local-model zero-shot" and b["api"] == "openai/gpt-4o-mini zero-shot" for b in summary["break_even"])
    assert any("20,000 queries/day" in a for a in summary["assumptions"])
    pairs = {(c["a"], c["b"]) for c in summary["comparisons"]}
    assert ("openai/local-model zero-shot", "openai/local-model 2-shot") in pairs
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["seed"] == 0 and manifest["versions"]["scikit-learn"] and manifest["tasks"][0]["items_sha256"]
    assert "sk-test-not-real" not in (run / "manifest.json").read_text() + (run / "predictions.jsonl").read_text()
    html = (run / "report.html").read_text()
    assert html.count("<svg") >= 3 and 'data-filter="condition"' in html and "unknown" in html
    assert (run / "summary.md").read_text().startswith("# Benchmark summary")
    # the same command again: everything is done, no model call
    before = stats.snapshot()["chat"]
    again = run_cli(args, tmp_path, OPENAI_BASE_URL=url, OPENAI_API_KEY="sk-test-not-real")
    assert again.returncode == 0 and stats.snapshot()["chat"] == before
    assert len((run / "predictions.jsonl").read_text().splitlines()) == 24


def test_benchmark_resumes_after_a_kill(tmp_path):
    server, stats = serve(0, delay=0.2, pass_rate=0.5)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        tickets = write_tickets(tmp_path / "tickets.jsonl", n=24, split=False)  # leave-one-out few-shot pool
        args = ["benchmark", "--task-file", str(tickets), "--labels", ",".join(LABELS), "--model", "openai/local-model", "--base-url", url,
                "--conditions", "zero-shot,3-shot", "--concurrency", "1", "--no-cache", "--resamples", "100", "--out", "runs/k"]
        proc = subprocess.Popen(BASESEL + args, cwd=tmp_path, env=cli_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        preds = tmp_path / "runs" / "k" / "predictions.jsonl"
        deadline = time.time() + 60
        while time.time() < deadline and (not preds.exists() or len(preds.read_text().splitlines()) < 10):
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        done = len(preds.read_text().splitlines())
        assert 10 <= done < 48
        calls_before = stats.snapshot()["chat"]
        finished = run_cli(args, tmp_path)
        assert finished.returncode == 0, finished.stderr[-2000:]
        records = [json.loads(line) for line in preds.read_text().splitlines()]
        keys = [(r["condition"], r["item_id"]) for r in records]
        assert len(set(keys)) == 48 and len(keys) == 48  # nothing redone, nothing missing
        assert stats.snapshot()["chat"] - calls_before == 48 - done  # only the unfinished items were called
        assert all(r["item_id"] not in r["shots"] for r in records)
    finally:
        server.shutdown()
        server.server_close()


FREE_TEXT_RUBRIC = """
id: replies
criteria:
  - id: HELP
    name: Helps
    statement: The reply helps with the user's actual request.
  - id: KIND
    name: Polite
    statement: The reply is polite.
  - id: SHORT
    name: Short
    kind: max_words
    value: 30
    statement: The reply is at most 30 words.
"""


def test_free_text_task_graded_by_a_rubric_with_a_judge_on_its_own_server(tmp_path):
    """A bare JSONL of inputs + --rubric: each answer graded by the judge (+ the rubric's checks),
    rubric_pass per condition, the failed criteria per item, the judge named in the summary."""
    sys.path.insert(0, str(REPO / "tests"))
    from scripted_server import ScriptedServer

    def candidate(user: str) -> str:
        if "refund" in user:
            return "No."  # the judge says it does not help
        if "essay" in user:
            return "word " * 40  # fails the 30-word check, whatever the judge says
        return "Sorry about that: I have reset your session, please sign in again."

    def judge(user: str, criteria: dict[str, str]) -> dict:
        return {cid: {"reason": f"The reply to '{user[:25]}' was read in full.", "verdict": "no" if cid == "HELP" and "refund" in user else "yes"} for cid in criteria}

    inputs = ["I want a refund for March", "I cannot sign in", "write me an essay on outages", "my session expired",
              "please refund my order", "login loops forever"]
    task = tmp_path / "replies.jsonl"
    task.write_text("".join(json.dumps({"id": f"q{i}", "input": text, "split": "test" if i < 6 else "train"}) + "\n" for i, text in enumerate(inputs)))
    rubric = tmp_path / "replies-rubric.yaml"
    rubric.write_text(FREE_TEXT_RUBRIC)
    with ScriptedServer(candidate, judge, models=("x", "judge")) as cand_server, ScriptedServer(candidate, judge, models=("x", "judge")) as judge_server:
        args = ["benchmark", "--task-file", str(task), "--rubric", str(rubric), "--model", "openai/x", "--base-url", cand_server.url,
                "--judge", "openai/judge", "--judge-base-url", judge_server.url, "--conditions", "zero-shot", "--resamples", "200", "--out", "runs/ft", "--json"]
        proc = run_cli(args, tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        # the candidate's server answered only the candidate, the judge's only the judge
        assert cand_server.calls == {"candidate": 6, "judge": 0} and judge_server.calls == {"candidate": 0, "judge": 6}
    summary = json.loads(proc.stdout)
    (cell,) = summary["cells"]
    assert cell["metric"] == "rubric_pass" and cell["value"] == pytest.approx(3 / 6)  # 2 refunds fail HELP, the essay fails SHORT
    preds = {r["item_id"]: r for r in map(json.loads, (tmp_path / "runs" / "ft" / "predictions.jsonl").read_text().splitlines())}
    assert preds["q0"]["failed_criteria"] == ["HELP"] and preds["q2"]["failed_criteria"] == ["SHORT"] and preds["q1"]["failed_criteria"] == []
    assert [preds[f"q{i}"]["correct"] for i in range(6)] == [False, True, False, True, False, True]
    assert any("judge openai/judge" in w for w in summary["warnings"])
    manifest = json.loads((tmp_path / "runs" / "ft" / "manifest.json").read_text())
    assert manifest["judge"]["name"] == "judge" and manifest["tasks"][0]["kind"] == "free_text"


# -- bad input --------------------------------------------------------------------------------------
def test_unknown_task(tmp_path):
    assert_clean_error(run_cli(["benchmark", "--tasks", "banking77,nope", "--model", "embedded"], tmp_path), "unknown task 'nope'", "banking77, cuad, fpb, ledgar, mbpp, medmcqa", "--task-file")


def test_task_yaml_with_a_missing_field_names_file_and_line(tmp_path):
    (tmp_path / "data.jsonl").write_text(json.dumps({"input": "a", "label": "x"}) + "\n")
    (tmp_path / "task.yaml").write_text("id: mine\nkind: classification\nmetric: macro_f1\ndata: data.jsonl\nfields:\n  input: input\n  label: label\n")
    proc = run_cli(["benchmark", "--task-file", "task.yaml", "--model", "embedded"], tmp_path)
    assert_clean_error(proc, "task.yaml", "labels")
    (tmp_path / "task.yaml").write_text("id: mine\nkind: classification\nmetric: macro_f1\ndata: data.jsonl\nlabels: [x, y]\nfields:\n  input: input\n  label: label\nprompt:\n  tempalte: '{input}'\n")
    assert_clean_error(run_cli(["benchmark", "--task-file", "task.yaml", "--model", "embedded"], tmp_path), "task.yaml:10", "prompt.tempalte")


def test_data_row_with_a_missing_field_names_file_and_line(tmp_path):
    (tmp_path / "t.jsonl").write_text(json.dumps({"input": "a", "label": "x"}) + "\n" + json.dumps({"input": "b", "label": "y"}) + "\n" + json.dumps({"label": "x"}) + "\n")
    assert_clean_error(run_cli(["benchmark", "--task-file", "t.jsonl", "--model", "embedded"], tmp_path), "t.jsonl:3", "input")


def test_a_label_outside_the_label_set(tmp_path):
    (tmp_path / "t.jsonl").write_text(json.dumps({"input": "a", "label": "billing"}) + "\n" + json.dumps({"input": "b", "label": "refund"}) + "\n")
    proc = run_cli(["benchmark", "--task-file", "t.jsonl", "--labels", "billing,shipping", "--model", "embedded"], tmp_path)
    assert_clean_error(proc, "t.jsonl:2", "label 'refund' is not in the label set")


def test_a_dataset_that_cannot_be_loaded_offline_says_what_to_pass_instead(tmp_path):
    proc = run_cli(["benchmark", "--tasks", "medmcqa", "--model", "embedded", "--sample", "5"], tmp_path, HF_DATASETS_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    assert_clean_error(proc, "cannot load dataset openlifescienceai/medmcqa", "91c6572c", "--task-file", "--smoke-test")
    assert_clean_error(run_cli(["benchmark", "--tasks", "ledgar", "--model", "embedded"], tmp_path), "no pinned revision", "--dataset-revision ledgar=")


def test_an_adapter_trained_on_another_base_is_refused_naming_both(tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter.gguf").write_bytes(b"GGUF")
    (adapter / "basesel-adapter.json").write_text(json.dumps({"base": {"spec": "ollama/qwen3:8b", "gguf_sha256": None}, "gguf": "adapter.gguf"}))
    proc = run_cli(["benchmark", "--task-file", str(write_tickets(tmp_path / "t.jsonl")), "--model", "openai/other", "--base-url", "http://127.0.0.1:9/v1",
                    "--adapter", str(adapter), "--conditions", "zero-shot,lora"], tmp_path)
    assert_clean_error(proc, "trained on ollama/qwen3:8b", "openai/other")


def test_unparseable_volume(tmp_path):
    assert_clean_error(run_cli(["benchmark", "--tasks", "fpb", "--model", "embedded", "--volume", "lots"], tmp_path), "--volume 'lots'", "20000/day")


def test_smoke_and_real_runs_never_share_a_directory(tmp_path):
    assert_clean_error(run_cli(["benchmark", "--smoke-test", "--out", "runs/real"], tmp_path), "smoke", code=2)
    proc = run_cli(["benchmark", "--task-file", str(write_tickets(tmp_path / "t.jsonl")), "--model", "embedded", "--out", "runs/smoke/x"], tmp_path)
    assert_clean_error(proc, "smoke-test runs only", code=2)


def test_bad_conditions_and_flags(tmp_path):
    assert_clean_error(run_cli(["benchmark", "--tasks", "fpb", "--model", "embedded", "--conditions", "five-shot"], tmp_path), "unknown condition 'five-shot'", code=2)
    assert_clean_error(run_cli(["benchmark", "--tasks", "fpb", "--api", "openai/gpt-4o-mini", "--conditions", "lora"], tmp_path), "lora", code=2)
    assert_clean_error(run_cli(["benchmark", "--tasks", "fpb"], tmp_path), "no model", code=2)
    assert_clean_error(run_cli(["benchmark", "--tasks", "fpb", "--model", "embedded", "--dataset-revision", "cuad"], tmp_path), "TASK=REVISION", code=2)


def test_help_lists_the_command_quickly(tmp_path):
    proc = run_cli(["benchmark", "--help"], tmp_path)
    assert proc.returncode == 0 and "--smoke-test" in proc.stdout and "--volume" in proc.stdout


def test_a_free_text_task_needs_a_named_judge_unless_the_model_is_embedded(tmp_path):
    task = tmp_path / "replies.jsonl"
    task.write_text(json.dumps({"id": "q0", "input": "I cannot sign in"}) + "\n")
    proc = run_cli(["benchmark", "--task-file", str(task), "--rubric", "support", "--model", "openai/x", "--base-url", "http://127.0.0.1:9/v1"], tmp_path,
                   OLLAMA_HOST="http://127.0.0.1:9")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "no judge given" in proc.stderr and "--judge SPEC" in proc.stderr
