"""Summarize a run directory: counts, the gate, failure analysis, judge reliability, examples."""

from __future__ import annotations

import heapq
import json
import statistics
import sys
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from ..errors import ConfigError
from ..gate import evaluate_gate
from ..report.quote import QUOTE_CHARS, quote
from .breakdown import Breakdown
from .files import _parse_line, read_json, read_json_object, rerun_hint

Key = tuple[str, int]


class LatestRecords(Mapping):
    """The latest record of each (scenario, sample) in a JSONL file, as a read-only mapping that reads
    records from disk when asked for them.

    Later records supersede earlier ones for the same (scenario, sample): a retried error, say. Only
    each key's byte offset is kept (keys in the order they first appear, as a dict updated record by
    record keeps them), never the records themselves: a 5,000-scenario run is summarised holding one
    record at a time."""

    def __init__(self, path: Path):
        self.path = path
        self._offsets: dict[Key, int] = {}
        if not path.exists():
            return
        offset = 0
        with path.open("rb") as fh:
            for raw in fh:
                if raw.strip():
                    record = _parse_line(raw)
                    if record is not None:
                        self._offsets[(record["scenario_id"], record["sample"])] = offset
                offset += len(raw)

    def __len__(self) -> int:
        return len(self._offsets)

    def __iter__(self) -> Iterator[Key]:
        return iter(self._offsets)

    def __contains__(self, key: object) -> bool:
        return key in self._offsets

    def __getitem__(self, key: Key) -> dict[str, Any]:
        offset = self._offsets[key]
        with self.path.open("rb") as fh:
            fh.seek(offset)
            return json.loads(fh.readline())

    def items(self) -> Iterator[tuple[Key, dict[str, Any]]]:  # type: ignore[override]
        """(key, latest record) in key order, reading the file once."""
        if not self._offsets:
            return
        with self.path.open("rb") as fh:
            for key, offset in self._offsets.items():
                fh.seek(offset)
                yield key, json.loads(fh.readline())

    def values(self) -> Iterator[dict[str, Any]]:  # type: ignore[override]
        return (record for _, record in self.items())


class RecordView:
    """Re-iterable records of a LatestRecords that pass a test (the scored assessments, say): read
    again from disk on each pass, never held. For code written for lists: len, iteration, `+`."""

    def __init__(self, records: LatestRecords, keep: Callable[[dict[str, Any]], bool], count: int):
        self._records, self._keep, self._count = records, keep, count

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (r for r in self._records.values() if self._keep(r))

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __add__(self, other: Iterable[dict[str, Any]]) -> list[dict[str, Any]] | _Chain:
        return _Chain(self, other)

    def __radd__(self, other: Iterable[dict[str, Any]]) -> _Chain:
        return _Chain(other, self)


class _Chain:
    def __init__(self, *parts: Iterable[dict[str, Any]]):
        self._parts = parts

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for part in self._parts:
            yield from part

    def __add__(self, other: Iterable[dict[str, Any]]) -> _Chain:
        return _Chain(self, other)


def latest_records(run_dir: Path) -> tuple[LatestRecords, LatestRecords]:
    """(responses, assessments) of a run, the latest record per (scenario, sample): what the summary counts.
    Read-only mappings that read each record from disk when it is asked for."""
    from .baseline import ASSESSMENTS, RESPONSES

    return LatestRecords(run_dir / RESPONSES), LatestRecords(run_dir / ASSESSMENTS)


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


class _ChecksOnly:
    """Pass rate on the deterministic checks alone (every applicable check passes): a signal that does not
    depend on the judge, worth reading beside the full rate when the judge is small or uncalibrated."""

    def __init__(self) -> None:
        self.passed = self.total = 0

    def add(self, a: dict[str, Any]) -> None:
        checks = [c for c in a["criteria"] if c.get("source") == "check" and c["passed"] is not None]
        if checks:
            self.total += 1
            self.passed += all(c["passed"] for c in checks)

    def result(self) -> dict[str, Any] | None:
        if not self.total:
            return None
        gate = evaluate_gate(self.passed, self.total)
        return {"passed": gate.passed, "total": gate.scored, "pass_rate": gate.rate, "ci95": [gate.ci_low, gate.ci_high], "band": gate.band.value if gate.band else None}


class _UniformVerdicts:
    """Judged criteria on which the judge said the same thing to every response."""

    def __init__(self) -> None:
        self.seen: dict[str, list[Any]] = {}  # criterion -> [first verdict, count, all the same]

    def add(self, a: dict[str, Any]) -> None:
        for c in a["criteria"]:
            if c.get("source") == "judge" and c.get("verdict") in ("yes", "no", "n/a"):
                verdict = str(c["verdict"])
                entry = self.seen.get(c["id"])
                if entry is None:
                    self.seen[c["id"]] = [verdict, 1, True]
                else:
                    entry[1] += 1
                    entry[2] = entry[2] and verdict == entry[0]

    def result(self) -> list[dict[str, Any]]:
        return [{"id": cid, "verdict": first, "n": n} for cid, (first, n, same) in self.seen.items() if n >= UNIFORM_MIN_RESPONSES and same]


class _CriterionTally:
    """Failures per criterion, with the first scenario ids and the most common reasons."""

    def __init__(self) -> None:
        self.order: list[str] = []  # criteria in the order they first appear
        self.failures: Counter[str] = Counter()
        self.failed_ids: dict[str, list[str]] = defaultdict(list)  # the first 8
        self.reasons: dict[str, Counter[str]] = defaultdict(Counter)
        self.applicable: Counter[str] = Counter()
        self.not_applicable: Counter[str] = Counter()
        self.agreements: list[float] = []
        self.agreement_by_criterion: dict[str, list[float]] = defaultdict(list)

    def add(self, a: dict[str, Any]) -> None:
        for c in a["criteria"]:
            cid = c["id"]
            if cid not in self.applicable and cid not in self.not_applicable and cid not in self.order:
                self.order.append(cid)
            if c["passed"] is None:
                self.not_applicable[cid] += 1
                continue
            self.applicable[cid] += 1
            if c["passed"] is False:
                self.failures[cid] += 1
                if len(self.failed_ids[cid]) < 8:
                    self.failed_ids[cid].append(a["scenario_id"])
                reason = c.get("reason", "")
                if reason:
                    self.reasons[cid][reason] += 1
            if c.get("agreement") is not None:
                self.agreements.append(c["agreement"])
                self.agreement_by_criterion[cid].append(c["agreement"])

    def stats(self) -> list[dict[str, Any]]:
        out = []
        for cid in self.order:
            failures, applicable = self.failures[cid], self.applicable[cid]
            by_criterion = self.agreement_by_criterion.get(cid)
            out.append(
                {
                    "id": cid,
                    "failures": failures,
                    "applicable": applicable,
                    "not_applicable": self.not_applicable[cid],
                    "fail_rate": round(failures / applicable, 4) if applicable else None,
                    # mean share of the K judge samples that agreed with the majority (None: one sample, or a check)
                    "agreement": round(statistics.fmean(by_criterion), 4) if by_criterion else None,
                    "scenario_ids": list(self.failed_ids.get(cid, [])),
                    "reasons": [_quote(r) for r, _ in self.reasons[cid].most_common(3)] if cid in self.reasons else [],
                }
            )
        out.sort(key=lambda c: (-c["failures"], self.order.index(c["id"])))
        return out


class _Examples:
    """The 3 worst failed and 3 best passed responses, as a stable sort of every scored assessment by
    (score, passed) ranks them, kept in two heaps of three."""

    def __init__(self) -> None:
        self.position = 0
        self.worst: list[tuple[Any, ...]] = []  # by negated rank: popping drops the highest, keeps the 3 lowest
        self.best: list[tuple[Any, ...]] = []  # popping drops the lowest, keeps the 3 highest

    def add(self, a: dict[str, Any]) -> None:
        score = a["score"] if a["score"] is not None else (1.0 if a["passed"] else 0.0)
        rank = (score, bool(a["passed"]), self.position)
        self.position += 1
        failed = [c["id"] for c in a["criteria"] if c["passed"] is False]
        item = ((a["scenario_id"], a["sample"]), a["scenario_id"], a["score"], failed)
        if a["passed"]:
            heapq.heappush(self.best, (rank, item))
            if len(self.best) > 3:
                heapq.heappop(self.best)
        else:
            heapq.heappush(self.worst, (tuple(-x for x in rank), item))
            if len(self.worst) > 3:
                heapq.heappop(self.worst)

    def result(self, responses: Mapping[Key, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        def example(item: tuple[Any, ...]) -> dict[str, Any]:
            key, scenario_id, score, failed = item
            resp = responses.get(key, {})
            return {"scenario_id": scenario_id, "input": _quote(resp.get("input", "")), "response": _quote(resp.get("answer", "")), "score": score, "failed": failed}

        return {"best": [example(item) for _, item in sorted(self.best, reverse=True)], "worst": [example(item) for _, item in sorted(self.worst, reverse=True)]}


def _intern_tags(tags: Any) -> Any:
    """Tag values repeat across thousands of records: one string object each."""
    if not isinstance(tags, dict):
        return tags
    return {sys.intern(k) if isinstance(k, str) else k: (sys.intern(v) if isinstance(v, str) else v) for k, v in tags.items()}


def summarize(run_dir: Path) -> dict[str, Any]:
    from .baseline import is_tiny

    manifest = load_manifest(run_dir)
    responses, assessments = latest_records(run_dir)
    scenario_count = manifest["scenarios"]["count"]
    samples = manifest["config"].get("samples", 1)
    expected = scenario_count * samples

    # One pass over the responses, one record at a time: counts, latency, usage, cost, and the tags.
    ok = errored = truncated = 0
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    all_latencies: list[float] = []
    usage: Counter[str] = Counter()
    costs: list[float] = []
    tags_of: dict[Key, Any] = {}
    for key, r in responses.items():
        tags_of[key] = _intern_tags(r.get("tags"))
        if "error" in r:
            errored += 1
            errors[_quote(r["error"])] += 1
            continue
        ok += 1
        truncated += bool(r.get("truncated"))
        if r.get("latency_s") is not None:
            all_latencies.append(r["latency_s"])
            if not r.get("cached"):
                latencies.append(r["latency_s"])
        for k, v in (r.get("usage") or {}).items():
            usage[k] += v or 0
        if r.get("cost_usd") is not None:
            costs.append(r["cost_usd"])

    # One pass over the assessments: the gate, failures per criterion with representative reasons and
    # scenario ids, pass rate per tag value (topic, style, ...), every dimension, criterion and rubric
    # category with intervals (Breakdown), examples, judge reliability.
    n_scored = n_unscored = n_passed = judge_failed = 0
    criteria = _CriterionTally()
    gate_failures: Counter[str] = Counter()
    by_tag: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    breakdowns = Breakdown.for_manifest(manifest)
    examples = _Examples()
    checks = _ChecksOnly()
    uniform_tally = _UniformVerdicts()
    for key, a in assessments.items():
        if sample_outcome(a) is None:
            n_unscored += 1
            judge_failed += bool(a.get("judge_error"))
            continue
        n_scored += 1
        n_passed += bool(sample_outcome(a))
        criteria.add(a)
        gate_failures.update(a.get("gate_failures", []))
        tags = tags_of.get(key) or {}
        for tag in ("topic", "style", "edge_case"):
            value = tags.get(tag)
            if value is None:
                continue
            by_tag[tag][str(value)][1] += 1
            by_tag[tag][str(value)][0] += 1 if a["passed"] else 0
        breakdowns.add(a, tags_of.get(key))
        examples.add(a)
        checks.add(a)
        uniform_tally.add(a)
    gate = evaluate_gate(n_passed, n_scored)
    criteria_stats = criteria.stats()
    agreements = criteria.agreements
    breakdown = {tag: {v: {"passed": c[0], "scored": c[1]} for v, c in sorted(values.items())} for tag, values in by_tag.items()}
    # What later steps iterate again (the decision's trust and safety checks): views that re-read the file.
    scored = RecordView(assessments, lambda a: sample_outcome(a) is not None, n_scored)
    unscored = RecordView(assessments, lambda a: sample_outcome(a) is None, n_unscored)

    candidate, judge = manifest["candidate"], manifest["judge"]
    warnings = list(manifest.get("warnings", []))
    judge_is_candidate = candidate["provider"] == judge["provider"] and candidate["name"] == judge["name"] and candidate.get("endpoint") == judge.get("endpoint")
    judge_tiny = is_tiny(judge.get("facts", {}), judge["name"])
    if judge_is_candidate:
        warnings.append("the judge is the candidate model itself: it grades its own answers, which inflates pass rates. Use a different, stronger --judge.")
    if judge_tiny:
        warnings.append(f"the judge ({judge['provider']}/{judge['name']}) is a tiny model: its verdicts are weak evidence. Use a stronger --judge for a decision you act on.")
    if truncated:
        warnings.append(f"{truncated} responses were cut off by --max-tokens (finish reason 'length'); raise --max-tokens if that hurts them.")
    if errored:
        common, times = errors.most_common(1)[0]
        warnings.append(
            f"{errored} samples errored and are excluded; re-run with the same --out (or --retry-errors) to retry them. "
            f"Most common error ({times}x): {common}"
        )
    if n_unscored > judge_failed:
        warnings.append(f"{n_unscored - judge_failed} responses are unscored (the judge's verdict could not be read) and are excluded from the pass rate.")
    if judge_failed:
        warnings.append(
            f"{judge_failed} responses are unscored because the judge's server kept failing; they are excluded from the pass rate. "
            "Re-run with the same --out (or --retry-errors RUN_DIR) to judge them again."
        )
    if len(assessments) + errored < expected:
        warnings.append(f"the run is incomplete: {len(assessments)} of {expected} samples assessed. Re-run with the same --out to resume.")

    from .conversation_summary import multi_turn_summary

    multi_turn = multi_turn_summary(run_dir, responses, assessments)
    if multi_turn:
        warnings += multi_turn.pop("warnings")
    checks_only = checks.result()
    uniform = uniform_tally.result()
    if uniform:
        ids = ", ".join(f"{u['id']} ({u['verdict']})" for u in uniform)
        line = f"the judge gave every response the same verdict on {ids}: it does not tell responses apart there, so those verdicts carry no information."
        if checks_only:
            line += f" The deterministic checks alone pass {checks_only['passed']}/{checks_only['total']} ({100 * checks_only['pass_rate']:.0f}%)."
        warnings.append(line)

    from .calibrate import KAPPA_THRESHOLD, find_calibration

    calibration, calibration_note = find_calibration(run_dir, judge, manifest["rubric"])
    if calibration and calibration["kappa"] is not None and calibration["kappa"] < KAPPA_THRESHOLD:
        warnings.append(
            f"the judge's calibration against human labels gives Cohen's kappa {calibration['kappa']:.2f} (< {KAPPA_THRESHOLD}): "
            "its verdicts disagree with people too often to trust this pass rate alone."
        )

    from .decision import decision_fields

    gate_dict = gate.to_dict()
    decided = decision_fields(manifest, gate_dict, judge_is_candidate=judge_is_candidate, judge_tiny=judge_tiny, scored=scored, unscored=unscored, calibration=calibration)
    if decided["judge_verdicts"]["note"]:
        warnings.append(decided["judge_verdicts"]["note"])

    endpoints_path = run_dir / "endpoints.json"
    endpoints = None
    if endpoints_path.is_file():
        from .endpoints import summarize_endpoints

        log = read_json_object(endpoints_path, "endpoint log", hint=f"Delete {endpoints_path} (it only holds per-server counts), or {rerun_hint(run_dir)}")
        endpoints = summarize_endpoints(log.get("sessions", []))

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
            "responses": ok,
            "errored": errored,
            "truncated": truncated,
            "assessed": len(assessments),
            "scored": n_scored,
            "unscored": n_unscored,
            "passed": n_passed,
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
            "unscored": n_unscored,
            "self_consistency": round(statistics.fmean(agreements), 4) if agreements else None,
            "uniform_criteria": uniform,
            "agreement_by_criterion": {c["id"]: c["agreement"] for c in criteria_stats if c["agreement"] is not None},
            "low_agreement_criteria": sorted(c["id"] for c in criteria_stats if c["agreement"] is not None and c["agreement"] < LOW_AGREEMENT),
            "calibration": calibration,
            "calibration_note": calibration_note,
            "verdicts": decided["judge_verdicts"],
        },
        "examples": examples.result(responses),
        "performance": {
            "latency_mean_s": round(statistics.fmean(latencies), 4) if latencies else None,
            "latency_p50_s": round(_pct(latencies, 0.5), 4) if latencies else None,
            "latency_p95_s": round(_pct(latencies, 0.95), 4) if latencies else None,
            "latency_measured_calls": len(latencies),
            "latency_all_mean_s": round(statistics.fmean(all_latencies), 4) if all_latencies else None,
            "tokens": dict(usage),
            "cost_usd": round(sum(costs), 6) if costs else None,
        },
        "endpoints": endpoints,
        "warnings": warnings,
        "multi_turn": multi_turn,
    }
