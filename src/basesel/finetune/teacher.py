"""Teacher data: new scenarios from the baseline's taxonomy (new seeds), weighted toward the topics and
styles whose scenarios failed criteria in the baseline; the teacher answers under the same system prompt,
and every answer is graded by the same rubric and judge through the baseline pipeline itself (the one
executor, cache and run directory). Only passing answers are kept (rejection sampling: each try is a
baseline run of the teacher over the scenarios still without a passing answer, with a new seed).

Each try's run directory (`teacher/try-K/`) resumes like any baseline run, and the shared cache makes a
re-run of the whole command cost no model calls for answers already graded."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import ConfigError
from .config import FinetuneConfig
from .data import Example
from .from_run import BaseRun

OVERSAMPLE = 3  # scenarios drawn per one wanted: near-duplicates of the held-out set are dropped


@dataclass
class TeacherSettings:
    spec: str
    base_url: str | None
    options: dict[str, Any]
    judge: str
    judge_base_url: str | None
    judge_options: dict[str, Any]
    rubric: Path
    system_prompt: str | None
    max_tokens: int
    judge_samples: int
    judge_temperature: float
    no_cache: bool = False


def failure_weights(base: BaseRun) -> dict[str, dict[str, float]]:
    """Failure mass per topic and per style: failed-criterion verdicts of the baseline's scored answers,
    each weighted by how often that criterion failed overall (a rare failure counts for less), per scored answer."""
    from ..run.files import read_jsonl

    tags = {s.id: s.tags for s in base.scenarios}
    crit_rate = {c["id"]: (c.get("fail_rate") or 0.0) for c in base.summary.get("criteria", [])}
    mass: dict[str, dict[str, float]] = {"topic": defaultdict(float), "style": defaultdict(float)}
    scored: dict[str, Counter] = {"topic": Counter(), "style": Counter()}
    latest = {(a["scenario_id"], a["sample"]): a for a in read_jsonl(base.run_dir / "assessments.jsonl")}
    for a in latest.values():
        if not a.get("scored"):
            continue
        t = tags.get(a["scenario_id"], {})
        failed = [c["id"] for c in a.get("criteria", []) if c.get("passed") is False]
        m = sum(crit_rate.get(cid, 0.0) for cid in failed)
        for key in ("topic", "style"):
            value = t.get(key)
            if value is None:
                continue
            scored[key][value] += 1
            mass[key][value] += m
    return {key: {v: mass[key][v] / scored[key][v] for v in scored[key]} for key in mass}


def weighted_taxonomy(taxonomy, weights: dict[str, dict[str, float]], failed_weight: float):
    """A copy of the taxonomy whose topic and style weights grow with their failure mass: the most failing
    one gets `failed_weight` times its weight, one with no failures keeps its own."""
    tax = taxonomy.model_copy(deep=True)

    def scale(value: str, kind: str) -> float:
        top = max(weights[kind].values(), default=0.0)
        share = weights[kind].get(value, 0.0) / top if top > 0 else 0.0
        return 1.0 + (failed_weight - 1.0) * share

    for topic in tax.topics:
        topic.weight = topic.weight * scale(topic.name, "topic")
    for name, style in tax.styles.items():
        style.weight = style.weight * scale(name, "style")
    return tax


def draw_scenarios(base: BaseRun, config: FinetuneConfig, threshold: float) -> tuple[list[Any], dict[str, Any]]:
    """New scenarios, weighted toward failures, with near-duplicates of the held-out set and of each other dropped."""
    from ..scenarios import load_taxonomy
    from ..scenarios.dedup import NearDuplicateIndex, dedupe
    from ..scenarios.generate import generate

    path = base.taxonomy_path()
    if path is None or not path.is_file():
        raise ConfigError(
            f"--teacher draws new scenarios from the baseline's taxonomy, and {'the run names none' if path is None else f'{path} is not found'}",
            hint="Pass --taxonomy FILE (the one the baseline's scenarios came from), or bring your own data with --data FILE.",
        )
    taxonomy = load_taxonomy(path)
    weights = failure_weights(base)
    tax = weighted_taxonomy(taxonomy, weights, config.teacher.failed_weight)
    want = config.teacher.n
    drawn, _ = generate(tax, want * OVERSAMPLE, seed=config.train.seed + 100_003, id_prefix="t-", include_edge_cases=False)
    held_out = NearDuplicateIndex(threshold, [s.input for s in base.scenarios])
    near_held_out = [(s, held_out.match(s.input)) for s in drawn]
    fresh = [s for s, hit in near_held_out if hit is None]
    unique = dedupe(fresh, text=lambda s: s.input, threshold=threshold)
    kept = unique.kept[:want]
    report = {
        "taxonomy": str(path),
        "failure_mass": {k: {v: round(x, 4) for v, x in sorted(d.items())} for k, d in weights.items()},
        "weights": {"topic": {t.name: round(t.weight, 4) for t in tax.topics}, "style": {k: round(v.weight, 4) for k, v in tax.styles.items()}},
        "drawn": len(drawn),
        "dropped_near_held_out": len(drawn) - len(fresh),
        "dropped_near_held_out_examples": [{"scenario_id": s.id, "text": s.input[:80], "held_out": hit[0][:80], "score": round(hit[1], 1)} for s, hit in near_held_out if hit is not None][:5],
        "dropped_repeats": len(unique.dropped),
        "scenarios": len(kept),
    }
    if not kept:
        raise ConfigError(
            f"every scenario drawn from {path} ({len(drawn)}) is a near-duplicate of the held-out set or of another",
            hint="The taxonomy has too few distinct situations for new data: add situations/details to it, or bring data with --data FILE.",
        )
    return kept, report


async def _one_try(settings: TeacherSettings, scenarios: list[Any], out: Path, seed: int, temperature: float, progress) -> dict[tuple[str, int], dict[str, Any]]:
    from ..run.baseline import run_baseline
    from ..run.config import RunConfig
    from ..run.files import read_jsonl
    from ..scenarios.model import write_scenarios

    out.mkdir(parents=True, exist_ok=True)
    write_scenarios(scenarios, out / "teacher-scenarios.jsonl")
    config = RunConfig(
        model=settings.spec, base_url=settings.base_url, model_options=settings.options,
        judge=settings.judge, judge_base_url=settings.judge_base_url, judge_options=settings.judge_options,
        rubric=settings.rubric, scenarios=out / "teacher-scenarios.jsonl", system_prompt=settings.system_prompt,
        temperature=temperature, max_tokens=settings.max_tokens, seed=seed,
        judge_samples=settings.judge_samples, judge_temperature=settings.judge_temperature,
        no_cache=settings.no_cache, out=out, doc=out / "unused.md",
    )
    await run_baseline(config, progress=progress)
    responses = {r["scenario_id"]: r for r in read_jsonl(out / "responses.jsonl") if "error" not in r}
    assessments = {a["scenario_id"]: a for a in read_jsonl(out / "assessments.jsonl")}
    return {sid: {"assessment": a, "response": responses.get(sid)} for sid, a in assessments.items()}


async def teacher_examples(base: BaseRun, settings: TeacherSettings, config: FinetuneConfig, out_dir: Path, threshold: float, progress: Callable | None = None) -> tuple[list[Example], dict[str, Any]]:
    """Rejection-sampled teacher data and its report."""
    scenarios, report = draw_scenarios(base, config, threshold)
    by_id = {s.id: s for s in scenarios}
    kept: dict[str, dict[str, Any]] = {}
    last: dict[str, dict[str, Any]] = {}
    first_try_rate = None
    tries_used = 0
    for k in range(config.teacher.tries):
        todo = [s for s in scenarios if s.id not in kept]
        if not todo:
            break
        tries_used += 1
        results = await _one_try(settings, todo, out_dir / "teacher" / f"try-{k + 1}", config.train.seed + 7_777 * k, config.teacher.temperature, progress)
        passed = {sid: r for sid, r in results.items() if r["assessment"].get("scored") and r["assessment"].get("passed") and r["response"]}
        if k == 0:
            scored = sum(1 for r in results.values() if r["assessment"].get("scored"))
            first_try_rate = round(len(passed) / scored, 4) if scored else None
        kept.update(passed)
        last.update({sid: r for sid, r in results.items() if sid not in kept})
    examples = []
    for sid, r in kept.items():
        s = by_id[sid]
        msgs = ([{"role": "system", "content": settings.system_prompt}] if settings.system_prompt else []) + [
            {"role": "user", "content": s.input},
            {"role": "assistant", "content": r["response"]["answer"]},
        ]
        examples.append(Example(msgs, f"teacher:{sid}", {k: s.tags[k] for k in ("topic", "subtopic", "style") if k in s.tags}))
    examples.sort(key=lambda e: e.source)
    report.update(_teacher_report(base, scenarios, kept, last, first_try_rate, tries_used, settings.spec))
    if len(examples) < 2:
        raise ConfigError(
            f"the teacher {settings.spec} kept failing: {len(examples)} of {len(scenarios)} scenarios got a passing answer in {tries_used} tries "
            f"(first-try pass rate {first_try_rate if first_try_rate is not None else 'n/a'}); most failed criteria: {report['dropped']['failing_criteria'] or 'none (errors)'}",
            hint="Use a stronger --teacher, raise --teacher-tries, or check the judge; what was graded is kept in "
            f"{out_dir / 'teacher'} and a re-run reuses it from the cache.",
        )
    return examples, report


def _teacher_report(base: BaseRun, scenarios, kept, last, first_try_rate, tries, spec) -> dict[str, Any]:
    cells: dict[str, dict[str, int]] = defaultdict(lambda: {"scenarios": 0, "kept": 0})
    for s in scenarios:
        cell = f"{s.tags.get('topic')} x {s.tags.get('style')}"
        cells[cell]["scenarios"] += 1
        cells[cell]["kept"] += 1 if s.id in kept else 0
    baseline_failing = [c["id"] for c in base.summary.get("criteria", []) if c.get("failures")]
    per_criterion = {}
    for cid in baseline_failing:
        applicable = sum(1 for r in kept.values() for c in r["assessment"].get("criteria", []) if c["id"] == cid and c.get("passed") is not None)
        per_criterion[cid] = {"kept_items_where_it_applies": applicable}
    reasons = Counter()
    failing = Counter()
    for r in last.values():
        a = r["assessment"]
        if r["response"] is None:
            reasons["the teacher's call errored"] += 1
        elif not a.get("scored"):
            reasons["unscored (the judge's verdict could not be read)"] += 1
        else:
            reasons["failed the rubric on every try"] += 1
            failing.update(c["id"] for c in a.get("criteria", []) if c.get("passed") is False)
    return {
        "teacher": spec,
        "tries": tries,
        "teacher_first_try_pass_rate": first_try_rate,
        "kept": len(kept),
        "kept_rate": round(len(kept) / len(scenarios), 4) if scenarios else None,
        "cells": dict(sorted(cells.items())),
        "baseline_failing_criteria": per_criterion,
        "dropped": {"count": len(last), "reasons": dict(reasons), "failing_criteria": dict(failing.most_common(5))},
    }
