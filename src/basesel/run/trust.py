"""Can the decision be trusted? The reasons a decision is **provisional**: its judge is tiny, is the
candidate itself, copies the criterion statements back instead of giving reasons, gives the same
verdict to everything, or was calibrated below kappa 0.6 against human labels.

A provisional decision keeps its band (the numbers are what they are) but gets exit code 7 and a
banner in the terminal and the document, so nobody acts on it as if it were measured evidence.

How much evidence each check needs:
- copied or empty reasons are told per verdict, so one response is enough (n >= 1): the decision is
  provisional when at least half of the judge's reasons restate the statement or are empty;
- uniform verdicts: if a judge that tells responses apart said "yes" with any probability between 10%
  and 90%, the chance that m verdicts all come out the same is at most 0.9^m + 0.1^m, which falls below
  5% at m = 29. So the judge giving one verdict to every response on every judged criterion, over at
  least 29 verdicts (e.g. 6 criteria x 5 responses), marks the decision provisional; below 29 verdicts
  it is reported ("too few verdicts to tell") but does not. A calibration with kappa >= 0.6 for this
  judge and rubric shows the judge can tell passes from fails, and clears it.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

# Share of judge reasons that restate the statement (or are empty) from which the judge is not reasoning.
COPIED_SHARE = 0.5
# Verdicts below which one identical verdict everywhere cannot be told from chance (see module docstring).
UNIFORM_MIN_VERDICTS = math.ceil(math.log(0.05) / math.log(0.9))  # 29
KAPPA_MIN = 0.6


def _reason(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message, **extra}


def judge_verdict_stats(assessments: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts over every judged verdict (n/a included; judge errors excluded)."""
    verdicts: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    responses = 0
    for a in assessments:
        judged = [c for c in a.get("criteria", []) if c.get("source") == "judge" and c.get("verdict") in ("yes", "no", "n/a")]
        if judged:
            responses += 1
        for c in judged:
            verdicts[c["verdict"]] += 1
            if c.get("reason_flag"):
                flags[c["reason_flag"]] += 1
    total = sum(verdicts.values())
    return {
        "responses": responses,
        "verdicts": total,
        "by_verdict": dict(verdicts),
        "copied_reasons": flags.get("copied", 0),
        "empty_reasons": flags.get("empty", 0),
        "uniform": total > 0 and len(verdicts) == 1,
    }


def provisional_reasons(
    *,
    judge: dict[str, Any],
    judge_is_candidate: bool,
    judge_tiny: bool,
    scored: list[dict[str, Any]],
    calibration: dict[str, Any] | None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(reasons the decision is provisional, the verdict statistics behind them)."""
    name = f"{judge.get('provider')}/{judge.get('name')}"
    reasons: list[dict[str, Any]] = []
    stats = judge_verdict_stats(scored)
    kappa = calibration.get("kappa") if calibration else None
    calibrated_ok = kappa is not None and kappa >= KAPPA_MIN and not calibration.get("rubric_changed")  # type: ignore[union-attr]
    if judge_is_candidate:
        reasons.append(_reason("judge_is_candidate", f"the judge ({name}) is the candidate itself: it grades its own answers"))
    if judge_tiny:
        reasons.append(_reason("tiny_judge", f"the judge ({name}) is a tiny model (under 3B parameters): its verdicts are weak evidence"))
    if stats["verdicts"]:
        bad = stats["copied_reasons"] + stats["empty_reasons"]
        share = bad / stats["verdicts"]
        if share >= COPIED_SHARE:
            reasons.append(_reason(
                "copied_reasons",
                f"{bad} of the judge's {stats['verdicts']} reasons ({100 * share:.0f}%) restate the criterion or are empty: the judge is not "
                "reasoning about the responses (told per verdict; any n)",
                share=round(share, 4),
            ))
    if stats["uniform"] and stats["responses"] >= 2 and not calibrated_ok:
        verdict = next(iter(stats["by_verdict"]))
        if stats["verdicts"] >= UNIFORM_MIN_VERDICTS:
            reasons.append(_reason(
                "uniform_verdicts",
                f"the judge answered \"{verdict}\" to all {stats['verdicts']} verdicts ({stats['responses']} responses x every judged criterion): "
                f"from {UNIFORM_MIN_VERDICTS} verdicts on, a judge that tells responses apart does that by chance less than 5% of the time",
                verdict=verdict, verdicts=stats["verdicts"],
            ))
    if kappa is not None and kappa < KAPPA_MIN:
        reasons.append(_reason(
            "low_kappa",
            f"the judge's calibration against human labels gives Cohen's kappa {kappa:.2f} (< {KAPPA_MIN}): it disagrees with people too often",
            kappa=kappa,
        ))
    return reasons, stats


def uniform_note(stats: dict[str, Any]) -> str | None:
    """A line for the judge reliability section when every verdict is the same but too few to tell."""
    if stats["uniform"] and stats["responses"] >= 2 and stats["verdicts"] < UNIFORM_MIN_VERDICTS:
        verdict = next(iter(stats["by_verdict"]))
        return (
            f"the judge answered \"{verdict}\" to all {stats['verdicts']} verdicts; {UNIFORM_MIN_VERDICTS} or more are needed to tell a judge "
            "that does not discriminate from chance, so this does not yet make the decision provisional"
        )
    return None
