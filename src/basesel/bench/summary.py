"""Aggregate a benchmark run directory into summary.json: per task x model x condition the metric with
its 95% bootstrap interval, invalid-output rate, few-shot shortfall, latency p50/p95, throughput, cost
per query and 12-month TCO; paired comparisons between conditions; break-even volumes."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Any

from ..run.files import read_json_object, read_jsonl
from . import costs, metrics


def latest_records(run_dir: Path) -> dict[tuple, dict[str, Any]]:
    """The last record per (task, model, condition, item); a success wins over an earlier failure."""
    out: dict[tuple, dict[str, Any]] = {}
    for r in read_jsonl(run_dir / "predictions.jsonl"):
        key = (r.get("task"), r.get("model"), r.get("condition"), r.get("item_id"))
        if key in out and "error" not in out[key] and "error" in r:
            continue
        out[key] = r
    return out


def _timing(run_dir: Path) -> dict[tuple, dict[str, float]]:
    out: dict[tuple, dict[str, float]] = {}
    for t in read_jsonl(run_dir / "timings.jsonl"):
        key = (t["task"], t["model"], t["condition"])
        acc = out.setdefault(key, {"fresh": 0, "wall_s": 0.0, "concurrency": t.get("concurrency", 1)})
        if t.get("fresh"):
            acc["fresh"] += t["fresh"]
            acc["wall_s"] += t["wall_s"]
    return out


def summarize(run_dir: Path) -> dict[str, Any]:
    manifest = read_json_object(run_dir / "manifest.json", "benchmark manifest")
    settings = manifest.get("settings", {})
    resamples = int(settings.get("resamples", metrics.DEFAULT_RESAMPLES))
    records = latest_records(run_dir)
    timing = _timing(run_dir)
    models = {m["key"]: m for m in manifest["models"]}
    assumptions = costs.TcoAssumptions(daily_volume=float(settings.get("volume_per_day") or 1000), rate=settings.get("gpu_usd_per_hour"), utilization=float(settings.get("utilization", 0.5)))
    if not settings.get("volume_per_day"):
        assumptions.notes.append("no --volume given: TCO shown at 1,000 queries/day")
    by_item: dict[tuple[str, str, str], list[tuple[Any, dict[str, Any]]]] = {}
    for (t, mk, c, item), r in records.items():
        by_item.setdefault((t, mk, c), []).append((item, r))
    cells: list[dict[str, Any]] = []
    comparisons: list[dict[str, Any]] = []
    break_evens: list[dict[str, Any]] = []
    warnings: list[str] = []
    for task in manifest["tasks"]:
        warnings += task.get("warnings", [])
        labels = task.get("labels") if task["kind"] == "classification" else None
        by_cell: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for m in manifest["models"]:
            for condition in m["conditions"]:
                # in item order, not the order answers finished: the bootstrap intervals resample by
                # position with a fixed seed, so the same predictions always give the same intervals
                rows = [r for _, r in sorted(by_item.get((task["id"], m["key"], condition), []), key=lambda kr: str(kr[0]))]
                scored = [r for r in rows if "error" not in r]
                by_cell[(m["key"], condition)] = scored
                cells.append(_cell(task, m, condition, rows, scored, labels, timing.get((task["id"], m["key"], condition)), assumptions, settings, resamples))
        comparisons += _comparisons(task, by_cell, labels, resamples)
        break_evens += _break_evens(task["id"], [c for c in cells if c["task"] == task["id"]], assumptions)
    warnings += _judge_notes(manifest)
    missing = sorted({c["cost"]["missing_price"] for c in cells if c["cost"].get("missing_price")})
    if missing:
        warnings.append(f"no price in the pricing table for: {', '.join(missing)} (their cost is unknown; add them to configs/pricing.yaml or BASESEL_PRICING)")
    shortfalls = [c for c in cells if c["shortfall_items"]]
    for c in shortfalls:
        warnings.append(f"{c['task']} {c['model']} {c['condition']}: {c['shortfall_items']} items got fewer than {c['shots']} examples (at most {c['shortfall_max']} short): the pool has too few")
    return {
        "run_dir": str(run_dir), "smoke": manifest.get("smoke", False), "created": manifest.get("created"),
        "tasks": [{k: t[k] for k in ("id", "name", "kind", "metric")} | {"source": t["source"], "labels": len(t["labels"] or []) if t.get("labels") else None} for t in manifest["tasks"]],
        "models": [{"key": m["key"], "hosted": m["hosted"], "identity": m["identity"]} for m in manifest["models"]],
        "cells": cells, "comparisons": comparisons, "break_even": break_evens,
        "assumptions": assumptions.lines(), "settings": settings, "warnings": warnings,
    }


def _judge_notes(manifest: dict[str, Any]) -> list[str]:
    """Free-text tasks are scored by a judge: name it, and say when its scores are weak evidence."""
    from ..run.baseline import is_tiny

    judge = manifest.get("judge")
    free = [t["id"] for t in manifest["tasks"] if t["kind"] == "free_text"]
    if not judge or not free:
        return []
    name = f"{judge.get('provider')}/{judge.get('name')}"
    notes = [f"{', '.join(free)}: answers graded by the rubric with judge {name} at temperature 0, one verdict per answer"]
    judged_models = {m["identity"].get("digest") or m["spec"] for m in manifest["models"]}
    if is_tiny(judge.get("facts", {}), judge.get("name", "")) or judge.get("provider") == "embedded":
        notes.append(f"the judge {name} is a tiny model: its rubric scores are a smoke check, not evidence (pass --judge with a model of 3B+ parameters, e.g. --judge openai/gpt-4o-mini)")
    elif (judge.get("digest") or None) in judged_models:
        notes.append(f"the judge {name} is also one of the benchmarked models: it grades its own answers")
    return notes


def _cell(task, m, condition, rows, scored, labels, timing, a: costs.TcoAssumptions, settings, resamples) -> dict[str, Any]:
    metric = task["metric"]
    value = metrics.metric_on(metric, scored, labels) if scored else None
    ci = metrics.interval(metric, scored, labels, resamples=resamples, seed=task["seed"]) if scored else None
    latencies = [float(r["latency_s"]) for r in scored if r.get("latency_s") is not None]
    extra: dict[str, Any] = {}
    if task["kind"] == "classification" and metric != "accuracy" and scored:
        extra["accuracy"] = metrics.classification_metric("accuracy", [r["gold"] for r in scored], [r["pred"] for r in scored], labels)
    if task["kind"] == "extraction" and scored:
        extra.update(metrics.detection_scores([bool(r.get("gold_present")) for r in scored], [bool(r.get("pred_present")) for r in scored], [float(r.get("detect_score", 0)) for r in scored]))
    k = int(condition.split("-")[0]) if condition.endswith("-shot") and condition != "zero-shot" else 0
    short = [r.get("shortfall", 0) for r in scored if r.get("shortfall")]
    cost = _cost(m, condition, scored, timing, latencies, a, settings)
    tco = costs.tco(cost, a)
    throughput = cost.throughput_qps
    return {
        "task": task["id"], "model": m["key"], "hosted": m["hosted"], "condition": condition, "metric": metric,
        "value": value, "ci95": [ci.low, ci.high] if ci else None, "n": len(scored), "items": len(rows), "errors": len(rows) - len(scored),
        "invalid": sum(1 for r in scored if r.get("invalid")), "invalid_rate": (sum(1 for r in scored if r.get("invalid")) / len(scored)) if scored else None,
        "shots": k, "shortfall_items": len(short), "shortfall_max": max(short) if short else 0,
        "latency_p50_s": metrics.percentile(latencies, 50), "latency_p95_s": metrics.percentile(latencies, 95), "throughput_qps": throughput,
        "cost": cost.to_dict(), "cost_per_query": cost.cost_per_query, "tco_12m": tco, **extra,
    }


def _cost(m, condition, scored, timing, latencies, a, settings) -> costs.CostRow:
    if m["hosted"] == "api":
        return costs.api_cost(m["identity"]["name"], m["key"], condition, [r.get("usage") or {} for r in scored])
    training = float(settings.get("training_usd") or 0.0) if condition == "lora" else 0.0
    if condition == "lora" and settings.get("training_usd") is None:
        training_note = settings.get("training_note") or "unknown training cost"
    else:
        training_note = None
    if timing and timing["fresh"]:
        wall, n, basis = timing["wall_s"], timing["fresh"], f"measured wall time (concurrency {timing['concurrency']})"
    elif latencies:
        wall, n, basis = sum(latencies), len(latencies), "recorded per-call latencies, one at a time (all answers came from the cache)"
    else:
        wall, n, basis = None, 0, ""
    row = costs.self_hosted_cost(m["key"], condition, a.rate, wall, n, training_usd=training, wall_basis=basis)
    if training_note:
        row.basis += f"; training cost: {training_note} (counted as 0 in TCO)"
    return row


def _comparisons(task, by_cell, labels, resamples) -> list[dict[str, Any]]:
    """Pairs on the same items: conditions of one model, and models under one condition."""
    keys = [k for k, v in by_cell.items() if v]
    out = []
    for (ma, ca), (mb, cb) in combinations(keys, 2):
        if ma != mb and ca != cb and not ({ca, cb} <= {"zero-shot", "lora"}):
            continue
        result = metrics.paired(task["metric"], by_cell[(ma, ca)], by_cell[(mb, cb)], labels, resamples=resamples, seed=task["seed"])
        if result:
            out.append({"task": task["id"], "a": f"{ma} {ca}", "b": f"{mb} {cb}", "metric": task["metric"], **result})
    return out


def _break_evens(task_id, cells, a) -> list[dict[str, Any]]:
    out = []
    for s in (c for c in cells if c["hosted"] == "self"):
        for api in (c for c in cells if c["hosted"] == "api"):
            self_row, api_row = costs.CostRow(**s["cost"]), costs.CostRow(**api["cost"])
            out.append({"task": task_id, "self": f"{s['model']} {s['condition']}", "api": f"{api['model']} {api['condition']}", **costs.break_even(self_row, api_row, a)})
    return out
