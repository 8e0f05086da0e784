"""Summarize a run directory: counts, the gate, failure analysis, judge reliability, examples."""

from __future__ import annotations

import heapq
import json
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterator

from ..errors import ConfigError
from ..gate import evaluate_gate
from .files import _parse_line, read_json, read_json_object, rerun_hint

QUOTE_CHARS = 400


class LatestRecords:
    """The latest record of each (scenario, sample) in a JSONL file, read from disk when asked for.

    Later records supersede earlier ones for the same (scenario, sample): a retried error, say. Only
    each key's byte offset is kept (in the order keys first appear), never the records themselves, so
    summarising a 5,000-scenario run holds one record at a time."""

    def __init__(self, path: Path):
        self.path = path
        self._offsets: dict[tuple[str, int], int] = {}  # a key updated later keeps its first position
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

    def __contains__(self, key: object) -> bool:
        return key in self._offsets

    def values(self) -> Iterator[dict[str, Any]]:
        """Each key's latest record, in the order the keys first appear."""
        if not self._offsets:
            return
        with self.path.open("rb") as fh:
            for offset in self._offsets.values():
                fh.seek(offset)
                yield json.loads(fh.readline())

    def get(self, key: tuple[str, int], default: Any = None) -> Any:
        offset = self._offsets.get(key)
        if offset is None:
            return default
        with self.path.open("rb") as fh:
            fh.seek(offset)
            return json.loads(fh.readline())


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
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS].rstrip() + " ..."


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
            if c.get("source") == "judge" and c.get("verdict") is not None:
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
    """The 3 worst failed and 3 best passed responses, as a sort of every scored assessment by
    (score, passed) would rank them (ties in record order), kept in two heaps of three."""

    def __init__(self) -> None:
        self.position = 0
        self.worst: list[tuple[Any, ...]] = []  # max-heap by negated rank: the 3 lowest
        self.best: list[tuple[Any, ...]] = []  # min-heap: the 3 highest

    def add(self, a: dict[str, Any]) -> None:
        score = a["score"] if a["score"] is not None else (1.0 if a["passed"] else 0.0)
        rank = (score, a["passed"], self.position)
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

    def result(self, responses: LatestRecords) -> dict[str, list[dict[str, Any]]]:
        def example(item: tuple[Any, ...]) -> dict[str, Any]:
            key, scenario_id, score, failed = item
            resp = responses.get(key, {})
            return {"scenario_id": scenario_id, "input": _quote(resp.get("input", "")), "response": _quote(resp.get("answer", "")), "score": score, "failed": failed}

        worst = [example(item) for _, item in sorted(self.worst, reverse=True)]
        best = [example(item) for _, item in sorted(self.best, reverse=True)]
        return {"best": best, "worst": worst}


def _intern_tags(tags: dict[str, Any] | None) -> dict[str, Any]:
    """Tag values repeat across thousands of records: one string object each."""
    return {sys.intern(k): (sys.intern(v) if isinstance(v, str) else v) for k, v in (tags or {}).items()}


def summarize(run_dir: Path) -> dict[str, Any]:
    from .baseline import ASSESSMENTS, RESPONSES, is_tiny

    manifest = load_manifest(run_dir)
    responses = LatestRecords(run_dir / RESPONSES)
    assessments = LatestRecords(run_dir / ASSESSMENTS)
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
    tags_of: dict[tuple[str, int], dict[str, Any]] = {}
    for r in responses.values():
        tags_of[(r["scenario_id"], r["sample"])] = _intern_tags(r.get("tags"))
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

    # One pass over the assessments: the gate, failure analysis per criterion, pass rate per tag value
    # (topic, style, ...), examples, judge reliability.
    scored = unscored = passed = judge_failed = 0
    criteria = _CriterionTally()
    gate_failures: Counter[str] = Counter()
    by_tag: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    examples = _Examples()
    checks = _ChecksOnly()
    uniform_tally = _UniformVerdicts()
    for a in assessments.values():
        if not a["scored"]:
            unscored += 1
            judge_failed += bool(a.get("judge_error"))
            continue
        scored += 1
        passed += bool(a["passed"])
        criteria.add(a)
        gate_failures.update(a.get("gate_failures", []))
        tags = tags_of.get((a["scenario_id"], a["sample"]), {})
        for tag in ("topic", "style", "edge_case"):
            value = tags.get(tag)
            if value is None:
                continue
            by_tag[tag][str(value)][1] += 1
            by_tag[tag][str(value)][0] += 1 if a["passed"] else 0
        examples.add(a)
        checks.add(a)
        uniform_tally.add(a)
    gate = evaluate_gate(passed, scored)
    criteria_stats = criteria.stats()
    agreements = criteria.agreements
    breakdown = {tag: {v: {"passed": c[0], "scored": c[1]} for v, c in sorted(values.items())} for tag, values in by_tag.items()}

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
    if unscored > judge_failed:
        warnings.append(f"{unscored - judge_failed} responses are unscored (the judge's verdict could not be read) and are excluded from the pass rate.")
    if judge_failed:
        warnings.append(
            f"{judge_failed} responses are unscored because the judge's server kept failing; they are excluded from the pass rate. "
            "Re-run with the same --out (or --retry-errors RUN_DIR) to judge them again."
        )
    if len(assessments) + errored < expected:
        warnings.append(f"the run is incomplete: {len(assessments)} of {expected} samples assessed. Re-run with the same --out to resume.")

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
            "scored": scored,
            "unscored": unscored,
            "passed": passed,
        },
        "gate": gate.to_dict(),
        "checks_only": checks_only,
        "criteria": criteria_stats,
        "gate_failures": dict(gate_failures),
        "breakdown": breakdown,
        "judge_reliability": {
            "judge": f"{judge['provider']}/{judge['name']}",
            "judge_is_candidate": judge_is_candidate,
            "judge_is_tiny": judge_tiny,
            "samples_per_response": manifest["config"].get("judge_samples", 1),
            "unscored": unscored,
            "self_consistency": round(statistics.fmean(agreements), 4) if agreements else None,
            "uniform_criteria": uniform,
            "agreement_by_criterion": {c["id"]: c["agreement"] for c in criteria_stats if c["agreement"] is not None},
            "low_agreement_criteria": sorted(c["id"] for c in criteria_stats if c["agreement"] is not None and c["agreement"] < LOW_AGREEMENT),
            "calibration": calibration,
            "calibration_note": calibration_note,
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
    }
