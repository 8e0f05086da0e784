"""The streamed summary (run/summary.py reads the run's records one at a time) gives exactly the output
of the version that read both JSONL files whole (tests/summary_reference.py), on generated run
directories with superseded records, errors, unscored and judge-failed samples, K-sample agreement,
ties between examples, and damaged lines."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import summary_reference
from basesel.run.summary import LatestRecords, summarize

REASONS = ["", "too short", "no steps", "polite and complete", "x" * 450]
TOPICS = ["billing", "login", "edge_case"]


@st.composite
def response(draw, sid: str, sample: int) -> dict:
    r = {"scenario_id": sid, "sample": sample, "input": draw(st.sampled_from(["help me", "My invoice is wrong " * 30])),
         "tags": {"topic": draw(st.sampled_from(TOPICS)), "style": draw(st.sampled_from(["terse", "detailed"])), "persona": draw(st.sampled_from(["new", "expert"]))},
         "cached": draw(st.booleans())}
    if draw(st.integers(0, 5)) == 0:
        r["error"] = draw(st.sampled_from(["server error 500", "timed out", "rejected: bad"]))
        return r
    r |= {"response": "answer", "answer": draw(st.sampled_from(["ok", "a longer answer " * 40])), "finish_reason": "stop",
          "truncated": draw(st.booleans()), "usage": {"prompt_tokens": draw(st.integers(0, 50)), "completion_tokens": draw(st.integers(0, 50))},
          "latency_s": draw(st.one_of(st.none(), st.floats(0, 3, allow_nan=False))), "cost_usd": draw(st.one_of(st.none(), st.floats(0, 1, allow_nan=False)))}
    return r


@st.composite
def assessment(draw, sid: str, sample: int, k_samples: bool) -> dict:
    scored = draw(st.integers(0, 6)) > 0
    criteria = []
    for cid, source in (("CH1", "check"), ("CH2", "check"), ("CS1", "judge"), ("CS2", "judge"), ("CS3", "judge")):
        if draw(st.integers(0, 8)) == 0:
            continue  # a criterion missing from some records moves the first-seen order
        verdict = draw(st.sampled_from(["yes", "no", "n/a"]))
        c = {"id": cid, "source": source, "verdict": verdict, "passed": {"yes": True, "no": False, "n/a": None}[verdict], "reason": draw(st.sampled_from(REASONS))}
        if source == "judge" and draw(st.integers(0, 4)) == 0:
            c["reason_flag"] = draw(st.sampled_from(["copied", "empty"]))
        if k_samples and source == "judge":
            c["agreement"] = draw(st.sampled_from([0.333, 0.667, 1.0]))
        criteria.append(c)
    a = {"scenario_id": sid, "sample": sample, "scored": scored, "passed": (draw(st.booleans()) if scored else None),
         "score": draw(st.one_of(st.none(), st.sampled_from([0.0, 0.5, 0.75, 1.0]))) if scored else None,
         "gate_failures": draw(st.lists(st.sampled_from(["CH1", "CS1"]), max_size=2)), "criteria": criteria}
    if not scored and draw(st.booleans()):
        a["judge_error"] = True
    return a


@st.composite
def run_dir_records(draw):
    n = draw(st.integers(0, 24))
    samples = draw(st.integers(1, 2))
    k_samples = draw(st.booleans())
    keys = [(f"s{i}", k) for i in range(n) for k in range(samples)]
    responses, assessments = [], []
    for _ in range(draw(st.integers(1, 3))):  # later passes supersede earlier records (a resumed run)
        for sid, k in draw(st.permutations(keys)) if keys else []:
            if draw(st.booleans()):
                responses.append(draw(response(sid, k)))
            if draw(st.booleans()):
                assessments.append(draw(assessment(sid, k, k_samples)))
    return n, samples, k_samples, responses, assessments, draw(st.booleans())


def write_run(root: Path, n: int, samples: int, k: bool, responses: list, assessments: list, damage: bool) -> Path:
    run = root / "run"
    run.mkdir()
    judge = {"provider": "openai", "name": "judge-70b", "endpoint": "http://127.0.0.1:1/v1", "facts": {}}
    manifest = {"basesel_version": "0", "created": "2026-12-01T00:00:00+00:00", "config": {"samples": samples, "judge_samples": 3 if k else 1},
                "candidate": {"provider": "openai", "name": "cand", "endpoint": "http://127.0.0.1:1/v1", "facts": {}}, "judge": judge,
                "rubric": {"id": "support", "version": 1, "sha256": "x",
                           "criteria": [{"id": cid, "name": cid.lower(), "category": "safety" if cid in ("CH1", "CS1") else "quality", "weight": 1.0 + i, "critical": cid in ("CH1", "CS1")}
                                        for i, cid in enumerate(["CH1", "CH2", "CS1", "CS2", "CS3"])],
                           "decision_gates": {"CH1": {"name": "ch1", "kind": "check", "max_fail_rate": 0.0, "confidence": 0.95, "on_unproven": "warn"},
                                              "CS1": {"name": "cs1", "kind": "llm", "max_fail_rate": 0.1, "confidence": 0.95, "on_unproven": "block"}}},
                "scenarios": {"count": n, "sha256": "y"}, "warnings": ["from the manifest"]}
    (run / "manifest.json").write_text(json.dumps(manifest))
    for name, records in (("responses.jsonl", responses), ("assessments.jsonl", assessments)):
        lines = [json.dumps(r) + "\n" for r in records]
        if damage and lines:
            lines.insert(len(lines) // 2, "{not json\n")
            lines.append('{"scenario_id": "torn", "sam')  # a torn last line
        (run / name).write_text("".join(lines))
    return run


def assert_same(new: dict, ref: dict) -> None:
    for key, value in ref.items():
        if key == "warnings":  # others may add warnings; the reference's must all be there, in order
            it = iter(new["warnings"])
            assert all(any(w == x for x in it) for w in value), (value, new["warnings"])
        elif isinstance(value, dict) and isinstance(new.get(key), dict):
            for inner, v in value.items():
                assert new[key].get(inner) == v, (key, inner, new[key].get(inner), v)
        else:
            assert new.get(key) == value, (key, new.get(key), value)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(run_dir_records())
def test_streamed_summary_equals_the_whole_file_summary(records):
    root = Path(tempfile.mkdtemp())
    try:
        run = write_run(root, *records)
        assert_same(summarize(run), summary_reference.summarize(run))
    finally:
        shutil.rmtree(root)


def test_latest_records_keep_first_position_and_latest_content(tmp_path):
    path = tmp_path / "r.jsonl"
    rows = [{"scenario_id": "a", "sample": 0, "v": 1}, {"scenario_id": "b", "sample": 0, "v": 2}, {"scenario_id": "a", "sample": 0, "v": 3}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "garbage\n")
    latest = LatestRecords(path)
    assert [r["v"] for r in latest.values()] == [3, 2] and len(latest) == 2
    assert latest.get(("a", 0))["v"] == 3 and latest.get(("zz", 0), {}) == {} and ("b", 0) in latest
    assert list(LatestRecords(tmp_path / "missing.jsonl").values()) == []
