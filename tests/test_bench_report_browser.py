"""report.html in a real headless Chromium: it renders, its charts are there, its filter script ran, and
the browser logged no console message (errors included). A page that does log an error proves the
capture works."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import BASESEL, REPO, cli_env

sys.path.insert(0, str(REPO / "benchmarks"))
from openai_stub_server import serve  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")]


def chromium(url: str, *extra: str) -> tuple[str, list[str]]:
    """The DOM after scripts ran, and every console line the page produced."""
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *extra, url],
                              capture_output=True, text=True, timeout=90)
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return proc.stdout, console


def test_console_capture_sees_a_deliberate_error(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>console.error('deliberate-error-42'); undefinedFunction();</script></body></html>")
    _, console = chromium(page.as_uri(), "--dump-dom")
    assert any("deliberate-error-42" in line for line in console)
    assert any("undefinedFunction" in line for line in console)


def test_report_renders_in_chromium_with_charts_filters_and_no_console_errors(tmp_path):
    server, _ = serve(0, delay=0.0, pass_rate=0.5)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        labels = ["billing", "shipping", "other"]
        rows = [{"id": f"t{i}", "input": f"ticket {i} about {labels[i % 3]}", "label": labels[i % 3], "split": "test" if i < 9 else "train"} for i in range(18)]
        (tmp_path / "tickets.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        proc = subprocess.run(BASESEL + ["benchmark", "--task-file", "tickets.jsonl", "--labels", ",".join(labels), "--model", "openai/local-model", "--base-url", url,
                                         "--api", "openai/gpt-4o-mini", "--conditions", "zero-shot,3-shot", "--volume", "20000/day", "--gpu-usd-per-hour", "1.2",
                                         "--resamples", "200", "--out", "runs/r"],
                              cwd=tmp_path, env=cli_env(tmp_path, OPENAI_BASE_URL=url, OPENAI_API_KEY="sk-test"), capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr[-2000:]
    finally:
        server.shutdown()
        server.server_close()
    report = tmp_path / "runs" / "r" / "report.html"
    html = report.read_text()
    import re

    assert re.findall(r"(?:src|href)=[\"']?(?:https?:)?//", html) == [] and "<link" not in html and "fetch(" not in html  # self-contained: no CDN
    dom, console = chromium(report.as_uri(), "--dump-dom")
    assert console == [], console
    assert dom.count("<svg") >= 3  # metric with intervals, cost vs accuracy, TCO vs volume
    assert 'data-chart="metric"' in dom and 'data-chart="cost"' in dom and 'data-chart="tco"' in dom
    assert "36 of 36 shown" in dom  # the filter script ran: 9 items x 2 conditions x 2 models
    assert "break-even" in dom.lower()
    shot = tmp_path / "report.png"
    _, console = chromium(report.as_uri(), f"--screenshot={shot}", "--window-size=1280,2200", "--hide-scrollbars")
    assert console == [] and shot.stat().st_size > 10_000


def test_report_filter_by_condition_and_correctness_in_chromium(tmp_path):
    """The generic filter narrows the predictions table when a filter is set through the URL hash flow."""
    from basesel.report.html import render_page

    items = [
        {"task": "t", "model": "m", "condition": c, "item_id": str(i), "gold": "a", "pred": "a" if ok else "b", "ok": ok, "status": "right" if ok else "wrong", "output": "", "latency_s": 0.1}
        for i, (c, ok) in enumerate([("zero-shot", True), ("zero-shot", False), ("5-shot", True), ("5-shot", False), ("5-shot", False)])
    ]
    summary = {"run_dir": "r", "created": "now", "smoke": False, "models": [{"key": "m"}], "tasks": [], "cells": [], "comparisons": [], "break_even": [], "assumptions": [], "warnings": []}
    html = render_page("html/benchmark.html.j2", title="t", summary=summary, charts={}, items=items, money=str, volume=str)
    # select 5-shot and wrong-only before the page's script runs, as a user's choice would
    html = html.replace('<option value="5-shot">', '<option value="5-shot" selected>').replace("<input type=\"checkbox\" data-failed-only>", "<input type=\"checkbox\" data-failed-only checked>")
    page = tmp_path / "f.html"
    page.write_text(html)
    dom, console = chromium(page.as_uri(), "--dump-dom")
    assert console == []
    assert "2 of 5 shown" in dom
