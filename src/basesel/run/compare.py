"""The paired comparison of two runs on the same scenarios: the one module behind `basesel compare`,
the fine-tune re-evaluation and the benchmark.

    comparison = compare_runs(Path("runs/base"), Path("runs/ft/eval"))        # JSON-able dict
    markdown = render_comparison_markdown(comparison, training=training_record)
    append_section(Path("docs/base-model-evaluation.md"), markdown, marker="finetune")

Each sample's pass/fail is the one the run's own summary counts (run/summary.py). Samples are paired
on (scenario id, sample); those unscored in either run are set aside and reported. Statistics: the
2x2 table, McNemar's exact p and mid-p, a paired-bootstrap 95% interval of the pass-rate difference,
each run's Wilson interval and decision band (basesel.stats, basesel.gate).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from .. import __version__
from ..gate import evaluate_gate
from ..report.sections import append_section  # noqa: F401 - part of this module's interface
from .pairing import Pair, Pairing, check_comparable, load_run, notes_on_settings, pair_runs, require_finished

SCHEMA = 1
RESAMPLES = 10_000
SEED = 0
ALPHA = 0.05
INPUT_CHARS = 160
ANSWER_CHARS = 240
REASON_CHARS = 160


def brief(text: str | None, limit: int) -> str:
    """`text` on one line, cut at a word boundary to at most `limit` characters (with an ellipsis)."""
    flat = " ".join(str(text or "").split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    space = cut.rfind(" ")
    if flat[len(cut)] != " " and space >= limit // 2:  # mid-word: back to the last space, unless that is far
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


def compare_runs(run_a: Path, run_b: Path, *, force: bool = False) -> dict[str, Any]:
    """Compare run B against run A (the baseline). Refuses (ConfigError) runs that were not graded the
    same way, unfinished runs and runs without a scenario in common; `force` compares what is there."""
    if Path(run_a).resolve() == Path(run_b).resolve():
        from ..errors import ConfigError

        raise ConfigError(f"A and B are the same run directory ({run_a})", hint="Pass two different runs: the reference (e.g. the baseline) first, then the run to compare with it.")
    a, b = load_run(Path(run_a), "A"), load_run(Path(run_b), "B")
    notes = require_finished([a, b], force)
    diffs = check_comparable(a, b, force)
    notes += [f"{d['message']} (compared anyway: --force)." for d in diffs]
    notes += notes_on_settings(a, b)
    pairing = pair_runs(a, b)
    if not pairing.pairs:
        from ..errors import ConfigError

        raise ConfigError(
            f"no sample is scored in both {a.path} and {b.path} ({len(pairing.excluded)} set aside: errored, unscored or missing in one run)",
            hint="Re-run the runs with --retry-errors (or resume them) until their samples are scored, then compare.",
        )
    return _build(a, b, pairing, diffs, notes, force)


def _build(a, b, pairing: Pairing, diffs: list[dict[str, Any]], notes: list[str], force: bool) -> dict[str, Any]:
    from ..stats import clustered_mcnemar, mcnemar, paired_cluster_bootstrap, paired_mean_difference

    pairs = pairing.pairs
    outcomes_a = [p.a_passed for p in pairs]
    outcomes_b = [p.b_passed for p in pairs]
    test = mcnemar(outcomes_a, outcomes_b)
    clusters = pairing.clusters()
    clustered = any(len(ps) > 1 for ps in clusters.values())
    if clustered:
        groups = list(clusters.values())
        interval = paired_cluster_bootstrap(
            [sum(p.a_passed for p in g) for g in groups], [sum(p.b_passed for p in g) for g in groups], [len(g) for g in groups],
            n_resamples=RESAMPLES, seed=SEED,
        )
        p_clustered = clustered_mcnemar(
            [sum(p.a_passed and not p.b_passed for p in g) for g in groups], [sum(p.b_passed and not p.a_passed for p in g) for g in groups]
        )
        notes.append(
            f"several samples per scenario ({len(pairs)} pairs in {len(clusters)} scenarios): they are not independent, so the interval "
            "resamples whole scenarios and the clustered McNemar p (Durkalski) is the one to read; the exact p treats every sample as independent."
        )
    else:
        interval = paired_mean_difference([float(x) for x in outcomes_a], [float(x) for x in outcomes_b], n_resamples=RESAMPLES, seed=SEED)
        p_clustered = None
    gate_a = evaluate_gate(sum(outcomes_a), len(pairs))
    gate_b = evaluate_gate(sum(outcomes_b), len(pairs))
    excluded = _excluded_summary(pairing)
    if pairing.excluded:
        notes.append(f"{len(pairing.excluded)} sample(s) are not scored in both runs and are left out of the pairing: " + "; ".join(f"{n} {why}" for why, n in excluded["by_reason"].items()) + ".")
    comparison: dict[str, Any] = {
        "schema": SCHEMA,
        "basesel_version": __version__,
        "forced": force,
        "a": _side(a, gate_a),
        "b": _side(b, gate_b),
        "graded_with": {
            "rubric": {k: a.manifest["rubric"].get(k) for k in ("id", "version", "sha256")},
            "judge": f"{a.manifest['judge']['provider']}/{a.manifest['judge']['name']}",
            "judge_b": f"{b.manifest['judge']['provider']}/{b.manifest['judge']['name']}",
        },
        "differences": diffs,
        "pairing": {
            "unit": "scenario-sample" if clustered else "scenario",
            "paired": len(pairs),
            "scenarios_paired": len(clusters),
            "scenarios_a": pairing.scenarios_a,
            "scenarios_b": pairing.scenarios_b,
            "scenarios_common": pairing.common_scenarios,
            "excluded": excluded,
        },
        "table": test.to_dict(),
        "mcnemar": {"p_exact": test.p_exact, "p_mid": test.p_mid, "p_clustered": p_clustered, "discordant": test.discordant, "method": "exact binomial on the discordant pairs (statsmodels); mid-p (scipy)"},
        "difference": interval.to_dict() | {"resamples": RESAMPLES, "seed": SEED, "method": "paired percentile bootstrap" + (" over scenarios" if clustered else "")},
        "criteria": _criteria(pairs),
        "safety": _safety(a, b),
        "flips": _flips(a, b, pairs),
        "notes": notes + _decision_notes(a, b),
    }
    comparison["verdict"] = _verdict(comparison)
    return comparison


def _side(run, gate) -> dict[str, Any]:
    m = run.manifest
    return {
        "run_dir": str(run.path),
        "candidate": run.candidate,
        "candidate_identity": {k: m["candidate"].get(k) for k in ("provider", "name", "endpoint", "digest")},
        "created": m.get("created"),
        "samples_per_scenario": run.samples,
        "paired": gate.to_dict(),  # pass rate, Wilson interval and band on the paired samples
        "run": run.summary["gate"],  # the run's own gate and final decision (safety gates, a provisional judge) over all its samples
        "provisional_reasons": run.summary.get("provisional_reasons") or [],
        "doc": m["config"].get("doc"),
    }


def _safety(a, b) -> dict[str, Any] | None:
    """The rubric's decision-level safety gates in each run (over each run's own samples), side by side."""
    sa, sb = a.summary.get("safety") or {}, b.summary.get("safety") or {}
    by_a = {g["criterion"]: g for g in sa.get("gates", [])}
    by_b = {g["criterion"]: g for g in sb.get("gates", [])}
    if not by_a and not by_b:
        return None
    rows = []
    for cid in [*by_a, *(k for k in by_b if k not in by_a)]:
        ga, gb = by_a.get(cid, {}), by_b.get(cid, {})
        rows.append({
            "criterion": cid, "name": ga.get("name") or gb.get("name"), "rule": ga.get("rule") or gb.get("rule"),
            **{f"{k}_{side}": g.get(k) for side, g in (("a", ga), ("b", gb)) for k in ("status", "failures", "applicable")},
        })
    return {"a_blocked": bool(sa.get("blocked")), "b_blocked": bool(sb.get("blocked")), "gates": rows}


def _decision_notes(a, b) -> list[str]:
    notes = []
    for run in (a, b):
        g = run.summary["gate"]
        if g.get("safety_blocked"):
            notes.append(f"run {run.label}'s own decision is {g['decision']}.")
        elif g.get("provisional"):
            codes = ", ".join(r.get("code", "?") for r in run.summary.get("provisional_reasons") or [])
            notes.append(f"run {run.label}'s decision is provisional ({codes}): read its document before acting on either rate.")
    return notes


def _excluded_summary(pairing: Pairing) -> dict[str, Any]:
    reasons: Counter[str] = Counter()
    for e in pairing.excluded:
        for side in ("a", "b"):
            if e[side] != "scored":
                reasons[f"{side.upper()} {e[side].split(':', 1)[0]}"] += 1
    return {"count": len(pairing.excluded), "by_reason": dict(reasons.most_common()), "items": pairing.excluded[:200]}


def _criteria(pairs: list[Pair]) -> list[dict[str, Any]]:
    """Per criterion, on the paired samples: failures under A and B, and how many samples it flipped."""
    order: list[str] = []
    stats: dict[str, Counter[str]] = {}
    critical = {g for p in pairs for side in (p.a, p.b) for g in side.get("gate_failures") or []}
    for p in pairs:
        a_by = {c["id"]: c["passed"] for c in p.a["criteria"]}
        b_by = {c["id"]: c["passed"] for c in p.b["criteria"]}
        for cid in [*a_by, *(k for k in b_by if k not in a_by)]:
            if cid not in stats:
                order.append(cid)
                stats[cid] = Counter()
            s, va, vb = stats[cid], a_by.get(cid), b_by.get(cid)
            s["applicable_a"] += va is not None
            s["applicable_b"] += vb is not None
            s["failures_a"] += va is False
            s["failures_b"] += vb is False
            s["fixed"] += va is False and vb is True
            s["broken"] += va is True and vb is False
    rows = []
    for cid in order:
        s = stats[cid]
        rows.append({
            "id": cid,
            **{k: s[k] for k in ("failures_a", "failures_b", "applicable_a", "applicable_b", "fixed", "broken")},
            "delta": s["failures_b"] - s["failures_a"],
            "critical": cid in critical,  # a failure of it fails the sample whatever the score (seen failing here)
            "fail_rate_a": round(s["failures_a"] / s["applicable_a"], 4) if s["applicable_a"] else None,
            "fail_rate_b": round(s["failures_b"] / s["applicable_b"], 4) if s["applicable_b"] else None,
        })
    rows.sort(key=lambda r: (r["delta"], -r["failures_a"], order.index(r["id"])))
    return rows


def _first_reason(assessment: dict[str, Any]) -> str:
    """The reason given for the sample's first failed criterion, critical ones first: why it failed."""
    gates = set(assessment.get("gate_failures") or [])
    failed = sorted((c for c in assessment["criteria"] if c["passed"] is False), key=lambda c: c["id"] not in gates)
    return f"{failed[0]['id']}: {brief(failed[0].get('reason'), REASON_CHARS)}" if failed else ""


def _flip(a, b, p: Pair) -> dict[str, Any]:
    key = (p.scenario_id, p.sample)
    ra, rb = a.responses.get(key, {}), b.responses.get(key, {})
    failing = p.a if not p.a_passed else p.b
    return {
        "scenario_id": p.scenario_id,
        "sample": p.sample,
        "input": brief(ra.get("input") or rb.get("input"), INPUT_CHARS),
        "answer_a": brief(ra.get("answer"), ANSWER_CHARS),
        "answer_b": brief(rb.get("answer"), ANSWER_CHARS),
        "failed_a": [c["id"] for c in p.a["criteria"] if c["passed"] is False],
        "failed_b": [c["id"] for c in p.b["criteria"] if c["passed"] is False],
        "critical": list(failing.get("gate_failures") or []),  # critical criteria failed on the failing side
        "reason": _first_reason(failing),
        "score_a": p.a.get("score"),
        "score_b": p.b.get("score"),
    }


def _flips(a, b, pairs: list[Pair]) -> dict[str, list[dict[str, Any]]]:
    regressed = [_flip(a, b, p) for p in pairs if p.a_passed and not p.b_passed]
    return {
        "improved": [_flip(a, b, p) for p in pairs if p.b_passed and not p.a_passed],
        "regressed": sorted(regressed, key=lambda f: not f["critical"]),  # a broken safety gate first
    }


def format_points(x: float) -> str:
    return f"{100 * x:+.1f} points"


def _verdict(c: dict[str, Any]) -> str:
    """One sentence a reader can act on: direction, size, interval, significance, the new band."""
    pa, pb = c["a"]["paired"], c["b"]["paired"]
    d, m = c["difference"], c["mcnemar"]
    p = m["p_clustered"] if m["p_clustered"] is not None else m["p_exact"]
    which = "clustered McNemar" if m["p_clustered"] is not None else "McNemar exact"
    n = c["pairing"]["paired"]
    head = (
        f"On {n} paired {'samples' if c['pairing']['unit'] == 'scenario-sample' else 'scenarios'}, B passes {pb['passed']} and A {pa['passed']} "
        f"({100 * pa['pass_rate']:.1f}% -> {100 * pb['pass_rate']:.1f}%, {format_points(d['estimate'])}; 95% interval {format_points(d['low'])} to {format_points(d['high'])})."
    )
    t = c["table"]
    if t["discordant"] == 0:
        sig = " No scenario flipped: the runs agree on every paired sample."
    elif p < ALPHA:
        direction = "better" if d["estimate"] > 0 else "worse"
        sig = f" {t['b_only']} flipped to pass and {t['a_only']} to fail; {which} p = {format_p(p)}: B is {direction}, and chance alone rarely gives a split this uneven."
    else:
        sig = f" {t['b_only']} flipped to pass and {t['a_only']} to fail; {which} p = {format_p(p)}: not distinguishable from chance at this sample size."
    crosses = d["low"] < 0 < d["high"]
    if crosses and t["discordant"]:
        sig += " The interval includes no change."
    band = f" New band for B: {pb['decision']}; A was {pa['decision']}."
    if c["b"]["run"].get("safety_blocked"):
        band += f" But B's own decision is {c['b']['run']['decision']}."
    critical = [f for f in c["flips"]["regressed"] if f["critical"]]
    if critical:
        ids = sorted({g for f in critical for g in f["critical"]})
        band += f" {len(critical)} of the scenarios B broke fail a critical criterion ({', '.join(ids)}): read them before acting on the rate."
    return head + sig + band


def format_p(p: float) -> str:
    return f"{p:.2g}" if p >= 0.001 else "< 0.001"


# ---------------------------------------------------------------------------------------------
# markdown


def _training_view(training: dict[str, Any] | None) -> dict[str, Any] | None:
    """The facts of a training record the paragraph shows, looked up under their documented names
    (flat, or nested under `config` / `result`); a missing fact is None."""
    if not training:
        return None
    pools = [training] + [training[k] for k in ("result", "config", "metrics", "summary") if isinstance(training.get(k), dict)]

    def get(*names: str) -> Any:
        for pool in pools:
            for name in names:
                if pool.get(name) is not None:
                    return pool[name]
        return None

    return {
        "engine": get("engine"),
        "base": get("base", "base_model"),
        "trained_precision": get("trained_precision", "precision_trained", "train_precision", "precision"),
        "served_precision": get("served_precision", "precision_served", "serve_precision"),
        "steps": get("steps", "global_step", "max_steps"),
        "best_step": get("best_step"),
        "epochs": get("epochs"),
        "train_loss_start": get("train_loss_start", "train_loss_first"),
        "train_loss_end": get("train_loss_end", "train_loss_final", "train_loss"),
        "val_loss_start": get("val_loss_start", "val_loss_initial", "val_loss_step0"),
        "val_loss_best": get("val_loss_best", "best_val_loss", "val_loss"),
        "wall_time_s": get("wall_time_s", "wall_s", "train_wall_s"),
        "tokens_per_s": get("tokens_per_s", "train_tokens_per_s"),
        "train_examples": get("train_examples", "train_items"),
        "val_examples": get("val_examples", "val_items"),
        "loss_curve_png": get("loss_curve_png"),
        "adapter": get("adapter", "adapter_dir"),
    }


def _environment():
    from ..report.render import _environment as report_environment

    env = report_environment()
    env.filters["p"] = format_p
    env.filters["points"] = format_points
    env.filters["num"] = lambda x, nd=3: "-" if x is None else (f"{x:,.{nd}f}" if isinstance(x, float) else f"{x:,}" if isinstance(x, int) else str(x))
    env.filters["duration"] = _duration
    env.filters["mdquote"] = lambda s: _MD_SPECIAL.sub(r"\\\1", str(s or ""))  # a quoted answer stays plain text
    return env


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "-"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


FLIPS_SHOWN = 8
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|~])")


def render_comparison_markdown(comparison: dict[str, Any], *, heading: str = "Fine-tune results", training: dict[str, Any] | None = None) -> str:
    """The comparison as a markdown section (## heading). `training`: the record of the fine-tune that made
    B (training.json); its `loss_curve_png` is linked as given, so pass it relative to the document."""
    from ..report.sections import about_tag

    return _environment().get_template("comparison.md.j2").render(
        c=comparison, heading=heading, t=_training_view(training), flips_shown=FLIPS_SHOWN, alpha=ALPHA, about=about_tag(Path(comparison["a"]["run_dir"]))
    )
