"""The decision a user acts on, assembled from the pass-rate gate, the judge's trustworthiness
(run/trust.py) and the rubric's decision-level safety gates (run/safety.py). `summarize` calls this
once; the terminal, `--json` and the document all read what it returns."""

from __future__ import annotations

from typing import Any

from ..gate import final_decision
from .safety import evaluate_gates
from .trust import UNIFORM_MIN_VERDICTS, provisional_reasons, uniform_note


def decision_fields(
    manifest: dict[str, Any],
    gate: dict[str, Any],
    *,
    judge_is_candidate: bool,
    judge_tiny: bool,
    scored: list[dict[str, Any]],
    unscored: list[dict[str, Any]],
    calibration: dict[str, Any] | None,
) -> dict[str, Any]:
    """Updates `gate` in place with the final exit code and decision; returns the summary's new
    top-level fields (`provisional`, `provisional_reasons`, `safety`) and the judge-reliability additions."""
    reasons, stats = provisional_reasons(
        judge=manifest["judge"], judge_is_candidate=judge_is_candidate, judge_tiny=judge_tiny, scored=scored, calibration=calibration
    )
    safety = evaluate_gates((manifest.get("rubric") or {}).get("decision_gates") or {}, scored, unscored)
    gate.update(final_decision(gate, provisional=reasons, safety=safety))
    return {
        "provisional": gate["provisional"],
        "provisional_reasons": reasons if gate["band"] is not None else [],
        "safety": safety,
        "judge_verdicts": {**stats, "uniform_min_verdicts": UNIFORM_MIN_VERDICTS, "note": uniform_note(stats)},
    }
