"""The comparison viewer (`basesel report A --compare B`): two runs on the same scenarios, B a better
model; the page's flips and 2x2 counts agree with `compare_runs`, both sides' records are in it, the
refusal of runs graded differently reaches the user, and the page works in headless Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BASESEL, REPO, cli_env

pytest.importorskip("basesel.run.compare")  # issue 12's module (run/compare.py)

sys.path.insert(0, str(REPO / "benchmarks"))
from synthetic_run import make_run  # noqa: E402

from basesel.report.chromium import Chromium, find_chromium  # noqa: E402
from basesel.run.compare import compare_runs  # noqa: E402

N = 60


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmp")
    a = make_run(root / "base", N, seed=2, model="openai/base-7b")
    b = make_run(root / "tuned", N, seed=2, model="openai/tuned-7b", boost=0.2, answers_seed=5)
    return root, a, b


def _rows(path: Path) -> list[dict]:
    html = path.read_text()
    return json.loads(html.split('<script type="application/json" id="rows-data">', 1)[1].split("</script>", 1)[0])


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(BASESEL + args, cwd=cwd, env=cli_env(cwd), capture_output=True, text=True, timeout=120)


def test_comparison_page_agrees_with_compare_runs(runs):
    root, a, b = runs
    proc = _cli(["report", str(a), "--compare", str(b)], root)
    assert proc.returncode == 0, proc.stderr
    page = a / "compare-tuned.html"
    comparison = compare_runs(a, b)
    rows = _rows(page)
    flips = {k: {r["id"] for r in rows if r["flip"] == k} for k in ("improved", "regressed", "same-pass", "same-fail")}
    assert len(flips["improved"]) == comparison["table"]["b_only"] and len(flips["regressed"]) == comparison["table"]["a_only"]
    assert len(flips["same-pass"]) == comparison["table"]["both_pass"] and len(flips["same-fail"]) == comparison["table"]["both_fail"]
    assert flips["improved"] == {f["scenario_id"] for f in comparison["flips"]["improved"]}
    b_answers = {json.loads(line)["scenario_id"]: json.loads(line).get("answer") for line in (b / "responses.jsonl").read_text().splitlines()}
    for r in rows:
        if r["b"] and "a" in r["b"][0]:
            assert r["b"][0]["a"] == b_answers[r["id"]]
    html = page.read_text()
    assert comparison["verdict"].split(" (")[0] in html and html.count("<svg") >= 2


def test_runs_graded_differently_are_refused_unless_forced(runs, tmp_path):
    root, a, b = runs
    other = tmp_path / "other-judge"
    make_run(other, N, seed=2, model="openai/tuned-7b", answers_seed=5)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["judge"]["name"] = "another-judge"
    (other / "manifest.json").write_text(json.dumps(manifest))
    proc = _cli(["report", str(a), "--compare", str(other), "--html-out", str(tmp_path / "x.html")], tmp_path)
    assert proc.returncode != 0 and "judge" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x.html").exists()
    forced = _cli(["report", str(a), "--compare", str(other), "--force", "--html-out", str(tmp_path / "x.html")], tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert "compared with --force" in (tmp_path / "x.html").read_text()


def test_force_without_compare_is_a_usage_error(runs, tmp_path):
    _, a, _ = runs
    proc = _cli(["report", str(a), "--force"], tmp_path)
    assert proc.returncode == 2 and "--force goes with --compare" in proc.stderr


@pytest.mark.slow
@pytest.mark.skipif(find_chromium() is None, reason="needs Chromium")
def test_comparison_page_in_a_browser(runs, tmp_path):
    root, a, b = runs
    out = tmp_path / "cmp.html"
    assert _cli(["report", str(a), "--compare", str(b), "--html-out", str(out)], root).returncode == 0
    regressed = compare_runs(a, b)["table"]["a_only"]
    with Chromium() as browser:
        page = browser.open(out.resolve().as_uri() + "#?flip=regressed")
        page.wait_for("document.documentElement.hasAttribute('data-viewer-ready')")
        page.wait_for("document.getElementById('f-flip').value === 'regressed'")
        assert page.evaluate("document.getElementById('f-count').textContent") == f"{regressed} of {N} scenarios match"
        assert page.evaluate("document.querySelectorAll('#chart-gate svg, #chart-difference svg').length") == 2
        if regressed:
            page.evaluate("document.querySelector('#scenarios tbody tr.row').click()")
            detail = page.evaluate("document.querySelector('#scenarios tr.detail').innerText")
            assert "A: openai/base-7b" in detail and "B: openai/tuned-7b" in detail
        assert browser.errors == []
        assert all(u.startswith(("file://", "about:")) for u in browser.requests)
