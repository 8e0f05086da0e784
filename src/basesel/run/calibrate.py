"""Judge calibration: run the judge on human-labelled responses and measure how often it agrees.

Labels file (JSONL), one response a line:

    {"id": "L01", "input": "user message", "response": "assistant response",
     "labels": {"CS1": "pass", "CS3": "n/a", "CS7": "fail"}}

Optional fields: `system_prompt` (overrides the default for that line), `tags` (scenario tags,
for `applies_when`), and anything else (a `note` explaining the labels, say), which is ignored.

Each response goes through exactly the code a baseline uses: deterministic checks (their facts
handed to the judge), then `judge_verdicts` (same prompt, schema, seeds and cache keys), then the
rubric's scoring. Per criterion and overall (judged criteria pooled) we report Cohen's kappa,
sensitivity and specificity (fail = positive class; see rubric/agreement.py), and at response level
the pass rate the judge's verdicts give against the pass rate the labels give, both through the
rubric's pass rule. A criterion a line leaves unlabelled takes the machine's outcome on both sides
(so it cannot create disagreement) and is not counted in that criterion's metrics.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import ConfigError
from ..models.base import ChatModel, GenerationParams, split_thinking
from ..rubric.agreement import KAPPA_THRESHOLD, agreement, normalize_label, outcome_label
from ..rubric.schema import Rubric
from ..rubric.scoring import CriterionOutcome, applies, assess, decide, run_checks
from .judging import judge_verdicts

CALIBRATION_KIND = "basesel-calibration"
CALIBRATION_FILE = "calibration.json"


@dataclass
class LabelledResponse:
    id: str
    input: str
    response: str
    labels: dict[str, str]
    tags: dict[str, Any] = field(default_factory=dict)
    system_prompt: str | None = None


def load_labels(path: Path, rubric: Rubric) -> list[LabelledResponse]:
    """Read and validate a labels JSONL file against the rubric; errors name the line."""
    from ..yamlio import read_text

    lines = read_text(path, "labels file", hint="Pass an existing JSONL file to --labels.").splitlines()
    by_id = {c.id: c for c in rubric.criteria}
    ids = set(by_id)
    items: list[LabelledResponse] = []
    seen: set[str] = set()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"line is not valid JSON: {exc}", where=where, hint="Each line must be one JSON object.") from exc
        if not isinstance(row, dict):
            raise ConfigError("line is not a JSON object", where=where)
        for key in ("input", "response"):
            if not isinstance(row.get(key), str):
                raise ConfigError(f"missing or non-text '{key}'", where=where, hint='Each line needs {"input": ..., "response": ..., "labels": {...}}.')
        raw = row.get("labels")
        if not isinstance(raw, dict) or not raw:
            raise ConfigError("missing 'labels' (an object mapping criterion ids to pass/fail/n/a)", where=where)
        labels: dict[str, str] = {}
        for cid, value in raw.items():
            if cid not in ids:
                raise ConfigError(
                    f"label for unknown criterion '{cid}' (rubric '{rubric.id}' has {', '.join(sorted(ids))})",
                    where=where,
                    hint="Label the rubric's criterion ids, or pass the rubric these labels were written for (--rubric/--domain).",
                )
            label = normalize_label(value)
            if label is None:
                raise ConfigError(
                    f"criterion {cid}: label {value!r} is not pass, fail or n/a", where=where,
                    hint="Write each label as pass, fail or n/a (yes/no and true/false are read as pass/fail).",
                )
            criterion = by_id[cid]
            if label == "n/a" and not criterion.na_allowed and criterion.applies_when is None:
                raise ConfigError(
                    f"criterion {cid} does not allow n/a (it always applies), but this line labels it n/a",
                    where=where,
                    hint=f"Label {cid} pass or fail, or set `na_allowed: true` on it in the rubric.",
                )
            labels[cid] = label
        sid = str(row.get("id", lineno))
        if sid in seen:
            raise ConfigError(f"duplicate id '{sid}'", where=where, hint="Ids in a labels file must be unique.")
        seen.add(sid)
        tags = row.get("tags") or {}
        if not isinstance(tags, dict):
            raise ConfigError("'tags' must be an object", where=where)
        sp = row.get("system_prompt")
        items.append(LabelledResponse(sid, row["input"], row["response"], labels, tags, sp if isinstance(sp, str) else None))
    if not items:
        raise ConfigError(f"labels file {path} holds no labelled responses", hint="Write one JSON object per line (see rubrics/labels/support-labels.jsonl).")
    judged = {c.id for c in rubric.judged_criteria}
    if judged and not any(set(i.labels) & judged for i in items):
        raise ConfigError(
            f"no line labels any judged criterion of rubric '{rubric.id}' ({', '.join(sorted(judged))})",
            hint="Calibration measures the judge: label at least its criteria.",
        )
    return items


async def judge_labelled(
    items: list[LabelledResponse],
    rubric: Rubric,
    judge: ChatModel,
    executor: Any,
    *,
    system_prompt: str | None,
    samples: int = 1,
    retries: int = 2,
    seed: int = 0,
    temperature: float = 0.0,
    max_tokens: int = 1024,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """The judge's outcome for every labelled response (one record each, in input order)."""
    report = progress or (lambda stage, done, total: None)
    done = 0
    report("judging", 0, len(items))

    def params(s: int) -> GenerationParams:
        return GenerationParams(temperature=temperature, max_tokens=max_tokens, seed=s)

    async def one(item: LabelledResponse) -> dict[str, Any]:
        nonlocal done
        answer, _ = split_thinking(item.response)
        checks, facts = run_checks(rubric, answer, item.input, item.tags)
        judged = [c for c in rubric.judged_criteria if applies(c, item.input, item.tags)]
        skipped = [c for c in rubric.judged_criteria if c not in judged]
        verdicts: list[Any] = []
        problems: list[str] = []
        if judged:
            verdicts, problems = await judge_verdicts(
                executor, judge, rubric, judged, item.input, answer, item.system_prompt or system_prompt, facts,
                samples=samples, retries=retries, seed=seed, params=params,
            )
        a = assess(rubric, item.id, 0, checks, judged, verdicts, skipped)
        done += 1
        report("judging", done, len(items))
        return {"item": item, "assessment": a, "problems": problems}

    return list(await asyncio.gather(*(one(i) for i in items)))


def calibration_report(rubric: Rubric, results: list[dict[str, Any]], *, meta: dict[str, Any] | None = None, threshold: float = KAPPA_THRESHOLD) -> dict[str, Any]:
    """Per-criterion and overall agreement, and judge vs label pass rates (pure: no model calls)."""
    pairs: dict[str, tuple[list[str], list[str]]] = {c.id: ([], []) for c in rubric.criteria}
    judge_passed: list[bool] = []
    label_passed: list[bool] = []
    rows: list[dict[str, Any]] = []
    unscored: list[str] = []
    for r in results:
        item: LabelledResponse = r["item"]
        a = r["assessment"]
        if not a.scored:
            unscored.append(item.id)
            rows.append({"id": item.id, "scored": False, "problems": r.get("problems", [])[-2:]})
            continue
        machine = {o.id: o for o in a.outcomes}
        human_outcomes = []
        disagreements = []
        for cid, o in machine.items():
            m_label = outcome_label(o.passed)
            h_label = item.labels.get(cid)
            if h_label is None:
                human_outcomes.append(o)
                continue
            pairs[cid][0].append(h_label)
            pairs[cid][1].append(m_label)
            human_outcomes.append(CriterionOutcome(cid, "label", h_label, None if h_label == "n/a" else h_label == "pass"))
            if h_label != m_label:
                disagreements.append({"criterion": cid, "label": h_label, "judge": m_label, "reason": o.reason[:300]})
        h_pass, _, _ = decide(rubric, human_outcomes)
        judge_passed.append(bool(a.passed))
        label_passed.append(h_pass)
        rows.append({"id": item.id, "scored": True, "judge_passed": bool(a.passed), "label_passed": h_pass, "disagreements": disagreements})

    criteria = []
    for c in rubric.criteria:
        human, machine = pairs[c.id]
        if not human:
            continue
        stats = agreement(human, machine)
        criteria.append(
            {
                "id": c.id,
                "name": c.name,
                "source": "judge" if c.judged else "check",
                "critical": c.critical,
                **stats,
                "flagged": stats["kappa"] is not None and stats["kappa"] < threshold,
            }
        )
    judged_ids = [c.id for c in rubric.judged_criteria]
    pooled_h = [h for cid in judged_ids for h in pairs[cid][0]]
    pooled_m = [m for cid in judged_ids for m in pairs[cid][1]]
    overall = agreement(pooled_h, pooled_m) if pooled_h else None
    as_label = lambda flags: ["pass" if f else "fail" for f in flags]  # noqa: E731
    response_level = agreement(as_label(label_passed), as_label(judge_passed)) if judge_passed else None
    n = len(judge_passed)
    pass_rate = {
        "n": n,
        "judge": round(sum(judge_passed) / n, 4) if n else None,
        "labels": round(sum(label_passed) / n, 4) if n else None,
        "difference": round((sum(judge_passed) - sum(label_passed)) / n, 4) if n else None,
        "decision_agreement": response_level["agreement"] if response_level else None,
        "decision_kappa": response_level["kappa"] if response_level else None,
        "decision_sensitivity": response_level["sensitivity"] if response_level else None,
        "decision_specificity": response_level["specificity"] if response_level else None,
    }
    low = [c["id"] for c in criteria if c["source"] == "judge" and c["flagged"]]
    low_checks = [c["id"] for c in criteria if c["source"] == "check" and c["agreement"] is not None and c["agreement"] < 1]
    kappa = overall["kappa"] if overall else None
    warnings = []
    if kappa is None:
        warnings.append("overall kappa is undefined (the labels or the judge use a single class): add varied labelled responses")
    elif kappa < threshold:
        warnings.append(f"overall Cohen's kappa {kappa:.2f} is below {threshold}: the judge disagrees with the human labels too often to trust alone")
    if low:
        warnings.append(f"kappa below {threshold} on: {', '.join(low)}")
    if low_checks:
        warnings.append(f"deterministic checks disagree with the labels on: {', '.join(low_checks)} (fix the check or the label)")
    if unscored:
        warnings.append(f"{len(unscored)} responses unscored (the judge's verdict could not be read): {', '.join(unscored[:8])}")
    if pass_rate["difference"] is not None and abs(pass_rate["difference"]) >= 0.1:
        direction = "higher" if pass_rate["difference"] > 0 else "lower"
        warnings.append(f"the judge's pass rate is {abs(pass_rate['difference']) * 100:.0f} points {direction} than the labels'")
    return {
        "kind": CALIBRATION_KIND,
        "version": 1,
        **(meta or {}),
        "n": n,
        "unscored": len(unscored),
        "kappa": kappa,
        "kappa_threshold": threshold,
        "positive_class": "fail",
        "overall": overall,
        "criteria": criteria,
        "low_kappa_criteria": low,
        "pass_rate": pass_rate,
        "warnings": warnings,
        "responses": rows,
    }


def calibration_meta(judge: ChatModel, rubric: Rubric, rubric_path: Path | None, labels_path: Path, *, samples: int, temperature: float, seed: int, system_prompt: str | None) -> dict[str, Any]:
    ident = judge.identity
    return {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "judge": {"spec": ident.spec, **ident.to_dict()},
        "rubric": {"id": rubric.id, "version": rubric.version, "path": str(rubric_path) if rubric_path else None, "sha256": rubric.source_sha256},
        "labels": {"path": str(labels_path), "sha256": hashlib.sha256(labels_path.read_bytes()).hexdigest()},
        "settings": {"judge_samples": samples, "judge_temperature": temperature, "seed": seed, "system_prompt_sha256": hashlib.sha256(system_prompt.encode()).hexdigest() if system_prompt else None},
    }


def find_calibration(run_dir: Path, judge: dict[str, Any], rubric: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The calibration that applies to a run: `RUN_DIR/calibration.json`, else `./calibration.json`, used
    only when it measured the same judge (provider, name, digest) on the same rubric id. Returns
    (summary for the decision document, or None; a note when a file was found but does not apply)."""
    for path in (run_dir / CALIBRATION_FILE, Path(CALIBRATION_FILE)):
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            return None, f"{path} is not valid JSON; ignored"
        if not isinstance(data, dict) or data.get("kind") != CALIBRATION_KIND:
            continue
        cj = data.get("judge") or {}
        same_judge = cj.get("provider") == judge.get("provider") and cj.get("name") == judge.get("name") and (not cj.get("digest") or not judge.get("digest") or cj.get("digest") == judge.get("digest"))
        if not same_judge:
            return None, f"{path} calibrated another judge ({cj.get('spec')}); not applied"
        if (data.get("rubric") or {}).get("id") != rubric.get("id"):
            return None, f"{path} calibrated rubric '{(data.get('rubric') or {}).get('id')}', not '{rubric.get('id')}'; not applied"
        return {
            "path": str(path),
            "kappa": data.get("kappa"),
            "n": data.get("n"),
            "low_kappa_criteria": data.get("low_kappa_criteria", []),
            "pass_rate_judge": (data.get("pass_rate") or {}).get("judge"),
            "pass_rate_labels": (data.get("pass_rate") or {}).get("labels"),
            "rubric_changed": bool(rubric.get("sha256") and (data.get("rubric") or {}).get("sha256") not in (None, rubric.get("sha256"))),
            "created": data.get("created"),
        }, None
    return None, None
