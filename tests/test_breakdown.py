"""Pass rates by every dimension, criterion and rubric category (run/breakdown.py), and quotes cut at
word boundaries (report/quote.py)."""

from __future__ import annotations

import json
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from synthetic_run import make_run  # noqa: E402

from basesel.gate import wilson_interval  # noqa: E402
from basesel.report.quote import quote  # noqa: E402
from basesel.run.breakdown import MAX_VALUES, Breakdown, CriterionInfo, rubric_criteria  # noqa: E402


def a(passed: bool, *criteria: tuple[str, bool | None], scored: bool = True) -> dict:
    return {"scored": scored, "passed": passed, "criteria": [{"id": cid, "passed": p} for cid, p in criteria]}


def test_quote_cuts_at_a_word_boundary():
    text = "The quick brown fox jumps over the lazy dog " * 20
    q = quote(text, 50)
    assert q.endswith(" ...") and len(q) <= 54
    body = q[: -len(" ...")]
    assert text.startswith(body) and text[len(body)] == " "  # the cut falls on a space: no word is split
    assert quote("short   text\nhere", 50) == "short text here"
    assert quote("exactly ten", 11) == "exactly ten"
    # One very long word (a URL) is cut hard rather than dropped.
    url = "https://example.org/" + "x" * 200
    assert quote(f"see {url}", 60) == f"see {url}"[:60] + " ..."
    # A cut right before a space keeps the whole last word.
    assert quote("alpha beta gamma", 10) == "alpha beta ..."


def test_dimensions_criteria_and_categories_from_streamed_records():
    crit = [CriterionInfo("A", "first", "resolution", 2.0), CriterionInfo("B", "second", "resolution", 1.0), CriterionInfo("C", "third", "safety", 1.0, critical=True)]
    bd = Breakdown(crit, {"resolution": 0.6, "safety": 0.4})
    records = [
        (a(True, ("A", True), ("B", True), ("C", True)), {"topic": "billing", "style": "terse", "mood": "calm", "note": "x"}),
        (a(False, ("A", False), ("B", True), ("C", True)), {"topic": "billing", "style": "detailed", "mood": "frustrated"}),
        (a(False, ("A", True), ("B", None), ("C", False)), {"topic": "access", "style": "terse", "mood": None, "n": 3}),
        (a(False, ("A", True), scored=False), {"topic": "access"}),  # unscored: counts nowhere
    ]
    for assessment, tags in records:
        bd.add(assessment, tags)
    r = bd.result()
    dims = r["dimensions"]
    assert list(dims)[:2] == ["topic", "style"]  # the known dimensions first, the others by name
    assert dims["topic"]["billing"] == {"passed": 1, "scored": 2, "rate": 0.5, "ci95": [round(x, 4) for x in wilson_interval(1, 2)]}
    assert dims["topic"]["access"]["scored"] == 1
    assert dims["mood"] == {"calm": dims["mood"]["calm"], "frustrated": dims["mood"]["frustrated"]}  # a null tag is skipped
    assert dims["n"]["3"]["scored"] == 1 and dims["note"]["x"]["passed"] == 1
    assert r["criteria"]["A"]["passed"] == 2 and r["criteria"]["A"]["scored"] == 3 and r["criteria"]["A"]["name"] == "first"
    assert r["criteria"]["B"]["scored"] == 2  # n/a is not applicable
    assert r["criteria"]["C"]["critical"] is True
    res = r["categories"]["resolution"]
    # per response: A(w2)+B(w1) -> 1.0, then (0*2+1*1)/3, then A alone (B n/a) -> 1.0
    assert res["mean_score"] == round((1.0 + 1 / 3 + 1.0) / 3, 4)
    assert res["all_passed"]["passed"] == 2 and res["all_passed"]["scored"] == 3 and res["weight"] == 0.6
    assert r["categories"]["safety"]["all_passed"]["passed"] == 2 and r["categories"]["safety"]["criteria"] == ["C"]


def test_free_form_tags_are_not_dimensions():
    bd = Breakdown()
    for i in range(MAX_VALUES + 5):
        bd.add(a(True), {"topic": f"t{i % 3}", "expected": f"answer number {i}", "long": "y" * 200, "tags": ["a", "b"]})
    r = bd.result()
    assert set(r["dimensions"]) == {"topic"}
    assert r["free_form_tags"] == ["expected", "long", "tags"]
    # the known dimensions are kept however many values they have
    bd = Breakdown()
    for i in range(MAX_VALUES + 5):
        bd.add(a(True), {"subtopic": f"s{i}"})
    assert len(bd.result()["dimensions"]["subtopic"]) == MAX_VALUES + 5


def test_summary_of_a_run_holds_every_breakdown(tmp_path):
    run = make_run(tmp_path / "run", 60, seed=1)
    summary = json.loads((run / "summary.json").read_text())
    bd = summary["breakdowns"]
    scored = summary["counts"]["scored"]
    edge = sum(v["scored"] for v in bd["dimensions"]["edge_case"].values())
    total = {dim: sum(v["scored"] for v in bd["dimensions"][dim].values()) for dim in ("topic", "style", "subtopic", "mood")}
    assert total == {"topic": scored, "style": scored, "subtopic": scored - edge, "mood": scored - edge}  # edge cases have no subtopic or mood
    assert set(bd["categories"]) == {"resolution", "communication", "safety"}
    failures = {c["id"]: c["failures"] for c in summary["criteria"]}
    for cid, v in bd["criteria"].items():
        assert v["scored"] - v["passed"] == failures[cid]
    # criterion names and categories come from the manifest, without the rubric file
    manifest = json.loads((run / "manifest.json").read_text())
    infos, weights = rubric_criteria(manifest)
    assert infos[0].name and weights == {"resolution": 0.4, "communication": 0.3, "safety": 0.3}


def test_categories_fall_back_to_the_unchanged_rubric_file(tmp_path):
    run = make_run(tmp_path / "run", 12, seed=2)
    manifest = json.loads((run / "manifest.json").read_text())
    del manifest["rubric"]["criteria"], manifest["rubric"]["category_weights"]  # a run from before they were recorded
    infos, weights = rubric_criteria(manifest)
    assert [i.id for i in infos][:2] == ["CS1", "CS2"] and weights["resolution"] == 0.4
    manifest["rubric"]["sha256"] = "0" * 64  # the rubric changed since: its categories would be a guess
    assert rubric_criteria(manifest) == ([], {})


@pytest.mark.parametrize("broken", ["criteria-not-a-list", "no-path"])
def test_unknown_categories_leave_the_section_out(tmp_path, broken):
    manifest = {"rubric": {"id": "x", "criteria": "nope"} if broken == "criteria-not-a-list" else {"id": "x"}}
    assert rubric_criteria(manifest) == ([], {})
    bd = Breakdown.for_manifest(manifest)
    bd.add(a(True, ("A", True)), {"topic": "t"})
    assert bd.result()["categories"] == {} and bd.result()["criteria"]["A"]["category"] is None
