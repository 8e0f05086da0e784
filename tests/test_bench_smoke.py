"""The smoke run end to end on the real embedded model (zero-shot and k-shot; constrained decoding
through llama.cpp's grammar), killed mid-run and resumed by the same command."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BASESEL, cli_env

pytestmark = pytest.mark.slow

ARGS = ["benchmark", "--smoke-test", "--tasks", "banking77,cuad", "--sample", "2", "--conditions", "zero-shot,2-shot", "--out", "runs/smoke/e2e", "--no-cache", "--resamples", "200"]


def test_smoke_run_on_the_embedded_model_resumes_after_a_kill(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "base-model-evaluation.md").write_text("# Base model evaluation\n\nThe decision.\n")
    run = tmp_path / "runs" / "smoke" / "e2e"
    preds = run / "predictions.jsonl"
    proc = subprocess.Popen(BASESEL + ARGS, cwd=tmp_path, env=cli_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and (not preds.exists() or len(preds.read_text().splitlines()) < 3):
        time.sleep(0.1)
    assert proc.poll() is None, proc.stderr.read()[-2000:]  # still running: killed mid-run, not after
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stderr.close()
    before = [r for r in map(_parse, preds.read_text().splitlines()) if r is not None]  # a torn last line is dropped on resume
    assert 3 <= len(before) < 8

    done = subprocess.run(BASESEL + ARGS + ["--json"], cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in preds.read_text().splitlines()]
    keys = [(r["task"], r["condition"], r["item_id"]) for r in records]
    assert len(keys) == len(set(keys)) == 8  # 2 tasks x 2 conditions x 2 items, nothing done twice
    assert records[: len(before)] == before  # what finished before the kill was kept as it was
    summary = json.loads(done.stdout)
    assert summary["smoke"] is True
    cells = {(c["task"], c["condition"]): c for c in summary["cells"]}
    assert set(cells) == {("banking77", "zero-shot"), ("banking77", "2-shot"), ("cuad", "zero-shot"), ("cuad", "2-shot")}
    for c in cells.values():
        assert c["n"] == 2 and c["value"] is not None and c["latency_p50_s"] > 0 and c["throughput_qps"] > 0
        assert c["cost_per_query"] is None and "gpu-usd-per-hour" in c["cost"]["basis"]  # no rate given: unknown, not 0
    assert "detection_f1" in cells[("cuad", "zero-shot")] and "aupr" in cells[("cuad", "zero-shot")]
    for r in records:
        assert r["item_id"] not in r["shots"] and len(r["shots"]) == (2 if r["condition"] == "2-shot" else 0)
        if r["task"] == "cuad":
            assert r["windows"] >= 2  # the fixture contracts span several windows
        if r["task"] == "banking77":
            assert r["pred"] in json.loads((run / "manifest.json").read_text())["tasks"][0]["labels"] or r["invalid"]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["smoke"] is True and manifest["resumed"] and all(t["source"]["synthetic"] for t in manifest["tasks"])
    assert manifest["models"][0]["identity"]["digest"].startswith("sha256:")
    html = (run / "report.html").read_text()
    assert "Smoke test on synthetic fixture data" in html and html.count("<svg") >= 2
    doc = (tmp_path / "docs" / "base-model-evaluation.md").read_text()
    assert "The decision." in doc and "runs/smoke/e2e/summary.md" in doc and "smoke test" in doc
    assert not (tmp_path / "runs" / "bench").exists()  # nothing outside the smoke namespace


def _parse(line: str):
    try:
        return json.loads(line)
    except ValueError:
        return None
