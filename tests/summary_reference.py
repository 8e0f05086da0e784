"""A frozen copy of `basesel.run.summary.summarize` as it was before it streamed the run's records
(it read both JSONL files whole into lists and dicts). tests/test_summary_streaming.py checks that the
streamed one gives the same output on the fields this one has. Do not edit it to follow new features;
compare only what it computes."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from basesel.errors import ConfigError
from basesel.gate import evaluate_gate
from basesel.report.quote import QUOTE_CHARS, quote
from basesel.run.breakdown import Breakdown
from basesel.run.files import read_json, read_json_object, read_jsonl, rerun_hint


def _latest(records: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    """Later records supersede earlier ones for the same (scenario, sample): a retried error, say."""
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for r in records:
        out[(r["scenario_id"], r["sample"])] = r
    return out


def latest_records(run_dir: Path) -> tuple[dict[tuple[str, int], dict[str, Any]], dict[tuple[str, int], dict[str, Any]]]:
    """(responses, assessments) of a run, the latest record per (scenario, sample): what the summary counts."""
    from basesel.run.baseline import ASSESSMENTS, RESPONSES

    return _latest(list(read_jsonl(run_dir / RESPONSES))), _latest(list(read_jsonl(run_dir / ASSESSMENTS)))


def sample_outcome(assessment: dict[str, Any]) -> bool | None:
    """One sample's pass (True) / fail (False) as the gate counts it; None when it is unscored."""
    return bool(assessment["passed"]) if assessment["scored"] else None


def load_manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "manifest.json"
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a basesel run directory (no manifest.json)", hint="Pass a directory written by `basesel baseline` (see runs/).")
    hint = f"Delete {path}, then {rerun_hint(run_dir)} It rewrites the manifest."
    manifest = read_json(path, "run manifest", hint=hint)
    problem = _manifest_problem(manifest)
    if problem:
        raise ConfigError(f"run manifest {path} is incomplete: {problem}", hint=hint)
    return manifest


# What the summary reads from a run directory's manifest.json: a top-level key and the keys it must hold.
_MANIFEST_KEYS: dict[str, tuple[str, ...] | None] = {
    "basesel_version": None,  # any value
    "created": None,
    "config": (),  # an object
    "candidate": ("provider", "name"),
    "judge": ("provider", "name"),
    "rubric": ("id",),
    "scenarios": ("count",),
}


def _manifest_problem(manifest: Any) -> str | None:
    if not isinstance(manifest, dict):
        return f"the top level is {type(manifest).__name__}, not an object"
    for key, inner in _MANIFEST_KEYS.items():
        if key not in manifest:
            return f"no '{key}'"
        if inner is not None:
            if not isinstance(manifest[key], dict):
                return f"'{key}' is {type(manifest[key]).__name__}, not an object"
            missing = [k for k in inner if k not in manifest[key]]
            if missing:
                return f"'{key}' has no {', '.join(repr(k) for k in missing)}"
    if not isinstance(manifest["scenarios"]["count"], int):
        return "'scenarios.count' is not a number"
    return None


def _quote(text: str) -> str:
    return quote(text, QUOTE_CHARS)


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


# Mean agreement of K judge samples with their majority below which a criterion's verdicts are flagged.
LOW_AGREEMENT = 0.7
# With fewer responses a judge can agree on all of them honestly (every answer good, or every one bad).
UNIFORM_MIN_RESPONSES = 10


def _checks_only(scored: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Pass rate on the deterministic checks alone (every applicable check passes): a signal that does not
    depend on the judge, worth reading beside the full rate when the judge is small or uncalibrated."""
    outcomes = []
    for a in scored:
        checks = [c for c in a["criteria"] if c.get("source") == "check" and c["passed"] is not None]
        if checks:
            outcomes.append(all(c["passed"] for c in checks))
    if not outcomes:
        return None
    gate = evaluate_gate(sum(outcomes), len(outcomes))
    return {"passed": gate.passed, "total": gate.scored, "pass_rate": gate.rate, "ci95": [gate.ci_low, gate.ci_high], "band": gate.band.value if gate.band else None}


def _uniform_verdicts(scored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Judged criteria on which the judge said the same thing to every response."""
    verdicts: dict[str, list[str]] = defaultdict(list)
    for a in scored:
        for c in a["criteria"]:
            if c.get("source") == "judge" and c.get("verdict") in ("yes", "no", "n/a"):
                verdicts[c["id"]].append(str(c["verdict"]))
    return [
        {"id": cid, "verdict": vs[0], "n": len(vs)}
        for cid, vs in verdicts.items()
        if len(vs) >= UNIFORM_MIN_RESPONSES and len(set(vs)) == 1
    ]


def summarize(run_dir: Path) -> dict[str, Any]:
    from basesel.run.baseline import is_tiny

    manifest = load_manifest(run_dir)
    responses, assessments = latest_records(run_dir)
    scenario_count = manifest["scenarios"]["count"]
    samples = manifest["config"].get("samples", 1)
    expected = scenario_count * samples

    ok = [r for r in responses.values() if "error" not in r]
    errored = [r for r in responses.values() if "error" in r]
    truncated = [r for r in ok if r.get("truncated")]
    scored = [a for a in assessments.values() if sample_outcome(a) is not None]
    unscored = [a for a in assessments.values() if sample_outcome(a) is None]
    passed = [a for a in scored if sample_outcome(a)]
    gate = evaluate_gate(len(passed), len(scored))

    # Failure analysis per criterion, with representative reasons and scenario ids.
    rubric_order: list[str] = []
    fails: dict[str, list[tuple[str, str]]] = defaultdict(list)
    applicable: Counter[str] = Counter()
    not_applicable: Counter[str] = Counter()
    agreements: list[float] = []
    agreement_by_criterion: dict[str, list[float]] = defaultdict(list)
    for a in scored:
        for c in a["criteria"]:
            if c["id"] not in rubric_order:
                rubric_order.append(c["id"])
            if c["passed"] is None:
                not_applicable[c["id"]] += 1
                continue
            applicable[c["id"]] += 1
            if c["passed"] is False:
                fails[c["id"]].append((a["scenario_id"], c.get("reason", "")))
            if c.get("agreement") is not None:
                agreements.append(c["agreement"])
                agreement_by_criterion[c["id"]].append(c["agreement"])
    criteria_stats = []
    for cid in rubric_order:
        items = fails.get(cid, [])
        reasons = Counter(r for _, r in items if r)
        criteria_stats.append(
            {
                "id": cid,
                "failures": len(items),
                "applicable": applicable[cid],
                "not_applicable": not_applicable[cid],
                "fail_rate": round(len(items) / applicable[cid], 4) if applicable[cid] else None,
                # mean share of the K judge samples that agreed with the majority (None: one sample, or a check)
                "agreement": round(statistics.fmean(agreement_by_criterion[cid]), 4) if agreement_by_criterion[cid] else None,
                "scenario_ids": [s for s, _ in items][:8],
                "reasons": [_quote(r) for r, _ in reasons.most_common(3)],
            }
        )
    criteria_stats.sort(key=lambda c: (-c["failures"], rubric_order.index(c["id"])))
    gate_failures = Counter(g for a in scored for g in a.get("gate_failures", []))

    # Pass rate per tag value (topic, style, ...), for patterns.
    by_tag: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for a in scored:
        resp = responses.get((a["scenario_id"], a["sample"]), {})
        for tag in ("topic", "style", "edge_case"):
            value = (resp.get("tags") or {}).get(tag)
            if value is None:
                continue
            by_tag[tag][str(value)][1] += 1
            by_tag[tag][str(value)][0] += 1 if a["passed"] else 0
    breakdown = {tag: {v: {"passed": c[0], "scored": c[1]} for v, c in sorted(values.items())} for tag, values in by_tag.items()}
    # Every dimension, criterion and rubric category with intervals, fed one record at a time.
    breakdowns = Breakdown.for_manifest(manifest)
    for a in scored:
        breakdowns.add(a, responses.get((a["scenario_id"], a["sample"]), {}).get("tags"))

    # Best and worst responses (quoted briefly) for qualitative notes.
    def example(a: dict[str, Any]) -> dict[str, Any]:
        resp = responses.get((a["scenario_id"], a["sample"]), {})
        failed = [c["id"] for c in a["criteria"] if c["passed"] is False]
        return {"scenario_id": a["scenario_id"], "input": _quote(resp.get("input", "")), "response": _quote(resp.get("answer", "")), "score": a["score"], "failed": failed}

    ranked = sorted(scored, key=lambda a: (a["score"] if a["score"] is not None else (1.0 if a["passed"] else 0.0), a["passed"]))
    worst = [example(a) for a in ranked if not a["passed"]][:3]
    best = [example(a) for a in reversed(ranked) if a["passed"]][:3]

    latencies = [r["latency_s"] for r in ok if r.get("latency_s") is not None and not r.get("cached")]
    all_latencies = [r["latency_s"] for r in ok if r.get("latency_s") is not None]
    usage = Counter()
    for r in ok:
        for k, v in (r.get("usage") or {}).items():
            usage[k] += v or 0
    costs = [r["cost_usd"] for r in ok if r.get("cost_usd") is not None]

    candidate, judge = manifest["candidate"], manifest["judge"]
    warnings = list(manifest.get("warnings", []))
    judge_is_candidate = candidate["provider"] == judge["provider"] and candidate["name"] == judge["name"] and candidate.get("endpoint") == judge.get("endpoint")
    judge_tiny = is_tiny(judge.get("facts", {}), judge["name"])
    if judge_is_candidate:
        warnings.append("the judge is the candidate model itself: it grades its own answers, which inflates pass rates. Use a different, stronger --judge.")
    if judge_tiny:
        warnings.append(f"the judge ({judge['provider']}/{judge['name']}) is a tiny model: its verdicts are weak evidence. Use a stronger --judge for a decision you act on.")
    if truncated:
        warnings.append(f"{len(truncated)} responses were cut off by --max-tokens (finish reason 'length'); raise --max-tokens if that hurts them.")
    if errored:
        common, times = Counter(_quote(r["error"]) for r in errored).most_common(1)[0]
        warnings.append(
            f"{len(errored)} samples errored and are excluded; re-run with the same --out (or --retry-errors) to retry them. "
            f"Most common error ({times}x): {common}"
        )
    judge_failed = [a for a in unscored if a.get("judge_error")]
    if len(unscored) > len(judge_failed):
        warnings.append(f"{len(unscored) - len(judge_failed)} responses are unscored (the judge's verdict could not be read) and are excluded from the pass rate.")
    if judge_failed:
        warnings.append(
            f"{len(judge_failed)} responses are unscored because the judge's server kept failing; they are excluded from the pass rate. "
            "Re-run with the same --out (or --retry-errors RUN_DIR) to judge them again."
        )
    if len(assessments) + len(errored) < expected:
        warnings.append(f"the run is incomplete: {len(assessments)} of {expected} samples assessed. Re-run with the same --out to resume.")

    from basesel.run.conversation_summary import multi_turn_summary

    multi_turn = multi_turn_summary(run_dir, responses, assessments)
    if multi_turn:
        warnings += multi_turn.pop("warnings")
    checks_only = _checks_only(scored)
    uniform = _uniform_verdicts(scored)
    if uniform:
        ids = ", ".join(f"{u['id']} ({u['verdict']})" for u in uniform)
        line = f"the judge gave every response the same verdict on {ids}: it does not tell responses apart there, so those verdicts carry no information."
        if checks_only:
            line += f" The deterministic checks alone pass {checks_only['passed']}/{checks_only['total']} ({100 * checks_only['pass_rate']:.0f}%)."
        warnings.append(line)

    from basesel.run.calibrate import KAPPA_THRESHOLD, find_calibration

    calibration, calibration_note = find_calibration(run_dir, judge, manifest["rubric"])
    if calibration and calibration["kappa"] is not None and calibration["kappa"] < KAPPA_THRESHOLD:
        warnings.append(
            f"the judge's calibration against human labels gives Cohen's kappa {calibration['kappa']:.2f} (< {KAPPA_THRESHOLD}): "
            "its verdicts disagree with people too often to trust this pass rate alone."
        )

    from basesel.run.decision import decision_fields

    gate_dict = gate.to_dict()
    decided = decision_fields(manifest, gate_dict, judge_is_candidate=judge_is_candidate, judge_tiny=judge_tiny, scored=scored, unscored=unscored, calibration=calibration)
    if decided["judge_verdicts"]["note"]:
        warnings.append(decided["judge_verdicts"]["note"])

    growth_path = run_dir / "growth.json"
    growth = read_json_object(growth_path, "sample growth log", hint=f"Delete {growth_path}, or {rerun_hint(run_dir)}") if growth_path.is_file() else None

    return {
        "run_dir": str(run_dir),
        "growth": growth,
        "basesel_version": manifest["basesel_version"],
        "created": manifest["created"],
        "candidate": candidate,
        "judge": judge,
        "rubric": manifest["rubric"],
        "taxonomy": manifest.get("taxonomy"),
        "scenarios_info": manifest["scenarios"],
        "config": manifest["config"],
        "counts": {
            "scenarios": scenario_count,
            "samples_expected": expected,
            "responses": len(ok),
            "errored": len(errored),
            "truncated": len(truncated),
            "assessed": len(assessments),
            "scored": len(scored),
            "unscored": len(unscored),
            "passed": len(passed),
        },
        "gate": gate_dict,
        "provisional": decided["provisional"],
        "provisional_reasons": decided["provisional_reasons"],
        "safety": decided["safety"],
        "checks_only": checks_only,
        "criteria": criteria_stats,
        "gate_failures": dict(gate_failures),
        "breakdown": breakdown,
        "breakdowns": breakdowns.result(),
        "judge_reliability": {
            "judge": f"{judge['provider']}/{judge['name']}",
            "judge_is_candidate": judge_is_candidate,
            "judge_is_tiny": judge_tiny,
            "samples_per_response": manifest["config"].get("judge_samples", 1),
            "unscored": len(unscored),
            "self_consistency": round(statistics.fmean(agreements), 4) if agreements else None,
            "uniform_criteria": uniform,
            "agreement_by_criterion": {c["id"]: c["agreement"] for c in criteria_stats if c["agreement"] is not None},
            "low_agreement_criteria": sorted(c["id"] for c in criteria_stats if c["agreement"] is not None and c["agreement"] < LOW_AGREEMENT),
            "calibration": calibration,
            "calibration_note": calibration_note,
            "verdicts": decided["judge_verdicts"],
        },
        "examples": {"best": best, "worst": worst},
        "performance": {
            "latency_mean_s": round(statistics.fmean(latencies), 4) if latencies else None,
            "latency_p50_s": round(_pct(latencies, 0.5), 4) if latencies else None,
            "latency_p95_s": round(_pct(latencies, 0.95), 4) if latencies else None,
            "latency_measured_calls": len(latencies),
            "latency_all_mean_s": round(statistics.fmean(all_latencies), 4) if all_latencies else None,
            "tokens": dict(usage),
            "cost_usd": round(sum(costs), 6) if costs else None,
        },
        "warnings": warnings,
        "multi_turn": multi_turn,
    }
