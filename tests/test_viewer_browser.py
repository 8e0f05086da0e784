"""The run viewer in a real headless Chromium (DevTools protocol over a pipe): it renders, its charts are
there, every filter narrows the rows to what the records say, #<scenario id> and #?filters link, it
asks for nothing but its own file, and no script error is logged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BASESEL, REPO, cli_env

sys.path.insert(0, str(REPO / "benchmarks"))
from synthetic_run import make_run  # noqa: E402

from basesel.report.chromium import Chromium, find_chromium  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.skipif(find_chromium() is None, reason="needs Chromium (apt-get install chromium)")]

N = 150  # more than one page of rows (100): revealing a scenario must render past the first page


def _records(run: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (run / name).read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def viewer(tmp_path_factory):
    root = tmp_path_factory.mktemp("viewer")
    run = make_run(root / "run", N, seed=3)
    out = root / "viewer.html"
    proc = subprocess.run(BASESEL + ["report", str(run), "--html", "--html-out", str(out)], cwd=root, env=cli_env(root), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with Chromium() as browser:
        page = browser.open(out.resolve().as_uri())
        page.wait_for("document.documentElement.hasAttribute('data-viewer-ready')")
        yield run, out, browser, page


def count(page) -> str:
    return page.evaluate("document.getElementById('f-count').textContent")


def set_control(page, selector: str, value) -> None:
    js = "v => { const el = document.querySelector(%s); if (el.type === 'checkbox') el.checked = v; else el.value = v; el.dispatchEvent(new Event(el.type === 'search' ? 'input' : 'change')); }" % json.dumps(selector)
    page.evaluate(f"({js})({json.dumps(value)})")


def reset(page) -> None:
    page.evaluate("document.getElementById('f-reset').click()")


def visible_ids(page) -> list[str]:
    return page.evaluate("Array.from(document.querySelectorAll('#scenarios tbody tr.row')).map(r => r.id)")


def test_renders_with_charts_and_every_section(viewer):
    run, out, browser, page = viewer
    html = out.read_text()
    assert page.evaluate("document.title").startswith("basesel run viewer")
    assert count(page) == f"{N} of {N} scenarios match"
    assert len(visible_ids(page)) == 100 and page.evaluate("getComputedStyle(document.getElementById('f-more')).display") != "none"
    assert page.evaluate("document.querySelectorAll('#chart-gate svg').length") == 1
    assert page.evaluate("document.querySelectorAll('#chart-criteria svg, #chart-categories svg').length") == 2
    charted = page.evaluate("Array.from(document.querySelectorAll('[data-chart] svg')).map(s => s.closest('[data-chart]').dataset.chart)")
    assert {"topic", "style", "mood"} <= set(charted)
    summary = json.loads((run / "summary.json").read_text())
    assert f"{100 * summary['gate']['pass_rate']:.1f}%" in page.evaluate("document.getElementById('decision').textContent")
    # The 50%/70% cut-off lines are drawn in the gate chart (dashed), with the band names.
    gate_svg = page.evaluate("document.querySelector('#chart-gate svg').outerHTML")
    assert "fine-tune" in gate_svg and "deploy" in gate_svg and "full pipeline" in gate_svg
    # Offline: no resource beyond the file itself, nothing in the markup that points outside.
    assert all(u.startswith("file://") or u.startswith("data:") or u == "about:blank" for u in browser.requests), browser.requests
    for needle in ('src="http', "src='http", 'href="//', "@import", "fetch(", "XMLHttpRequest"):
        assert needle not in html


def test_filters_narrow_rows_to_what_the_records_say(viewer):
    run, _, _, page = viewer
    assessments = {a["scenario_id"]: a for a in _records(run, "assessments.jsonl")}
    scenarios = _records(run, "scenarios.jsonl")
    failed = {sid for sid, a in assessments.items() if a["scored"] and not a["passed"]}
    assert 0 < len(failed) < N

    set_control(page, "#f-failed", True)
    assert count(page) == f"{len(failed)} of {N} scenarios match"
    page.evaluate("document.getElementById('f-more').click()")
    assert set(visible_ids(page)) == failed

    reset(page)
    cs1 = {sid for sid, a in assessments.items() if any(c["id"] == "CS1" and c["passed"] is False for c in a["criteria"])}
    set_control(page, "#f-criterion", "CS1")
    assert count(page) == f"{len(cs1)} of {N} scenarios match" and set(visible_ids(page)) <= cs1

    reset(page)
    billing = {s["id"] for s in scenarios if s.get("topic") == "billing"}
    set_control(page, "select[data-dim=topic]", "billing")
    assert count(page) == f"{len(billing)} of {N} scenarios match" and set(visible_ids(page)) == billing

    # Text search reaches the judge's reasons, not only the inputs.
    reset(page)
    word = "invents a refund amount"
    hits = {sid for sid, a in assessments.items() if any(word in (c.get("reason") or "") for c in a["criteria"])}
    set_control(page, "#f-search", word.upper())
    assert hits and count(page) == f"{len(hits)} of {N} scenarios match"

    # Filters combine.
    reset(page)
    set_control(page, "#f-failed", True)
    set_control(page, "select[data-dim=topic]", "billing")
    assert count(page) == f"{len(failed & billing)} of {N} scenarios match"
    reset(page)


def test_a_row_opens_with_response_verdicts_and_reasons(viewer):
    run, _, _, page = viewer
    first = visible_ids(page)[0]
    page.evaluate(f"document.getElementById({json.dumps(first)}).click()")
    detail = page.evaluate(f"document.getElementById({json.dumps(first)}).nextElementSibling.innerText")
    response = next(r for r in _records(run, "responses.jsonl") if r["scenario_id"] == first)
    assessment = next(a for a in _records(run, "assessments.jsonl") if a["scenario_id"] == first)
    assert response["answer"][:60] in detail
    for c in assessment["criteria"]:
        assert c["id"] in detail and c["reason"][:40] in detail


def test_links_by_scenario_id_and_by_filter(viewer):
    run, out, _, page = viewer
    last = _records(run, "scenarios.jsonl")[-1]["id"]  # beyond the first page of 100 rows
    page.navigate("about:blank")
    page.navigate(out.resolve().as_uri() + "#" + last)  # a fresh load with the hash
    page.wait_for("document.documentElement.hasAttribute('data-viewer-ready')")
    page.wait_for(f"document.getElementById({json.dumps(last)}) !== null")
    assert page.evaluate(f"document.getElementById({json.dumps(last)}).classList.contains('hit')")
    assert page.evaluate(f"document.getElementById({json.dumps(last)}).nextElementSibling.classList.contains('detail')")

    assessments = _records(run, "assessments.jsonl")
    # failed overall and on CS2 (a CS2 miss alone need not fail a response under a weighted pass rule)
    failing_cs2 = {a["scenario_id"] for a in assessments if a["scored"] and not a["passed"] and any(c["id"] == "CS2" and c["passed"] is False for c in a["criteria"])}
    page.navigate(out.resolve().as_uri() + "#?failed=1&criterion=CS2")  # the same page: a hashchange
    page.wait_for("document.getElementById('f-criterion').value === 'CS2'")
    assert page.evaluate("document.getElementById('f-failed').checked")
    assert count(page) == f"{len(failing_cs2)} of {N} scenarios match"


def test_no_script_errors(viewer):
    _, _, browser, page = viewer
    page.evaluate("document.getElementById('f-reset').click()")
    assert browser.errors == []
    log = browser.stderr_path.read_text(errors="replace") if browser.stderr_path and browser.stderr_path.exists() else ""
    assert "Uncaught" not in log


def test_a_run_with_nothing_scored_and_no_tags_opens_without_errors(tmp_path):
    run = make_run(tmp_path / "run", 8, seed=1)
    lines = [json.loads(line) for line in (run / "scenarios.jsonl").read_text().splitlines()]
    (run / "scenarios.jsonl").write_text("".join(json.dumps({"id": x["id"], "input": x["input"]}) + "\n" for x in lines))
    (run / "assessments.jsonl").write_text("")
    out = tmp_path / "v.html"
    proc = subprocess.run(BASESEL + ["report", str(run), "--html", "--html-out", str(out)], cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with Chromium() as browser:
        page = browser.open(out.resolve().as_uri() + "#" + lines[-1]["id"])
        page.wait_for("document.documentElement.hasAttribute('data-viewer-ready')")
        assert count(page) == "8 of 8 scenarios match"
        assert page.evaluate(f"document.getElementById({json.dumps(lines[-1]['id'])}).nextElementSibling.classList.contains('detail')")
        set_control(page, "#f-status", "pending")
        assert count(page).split(" of ")[0] == str(sum(1 for r in (run / "responses.jsonl").read_text().splitlines() if '"error"' not in r))
        assert browser.errors == []
