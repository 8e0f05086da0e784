"""Next steps when the decision is not the band's: a safety block replaces them (deploying is off the
table), a provisional judge comes first (nothing should be acted on until the judge is fixed)."""

from __future__ import annotations

from typing import Any


def decision_next_steps(summary: dict[str, Any], band_steps: list[str]) -> list[str]:
    steps = list(band_steps)
    safety = summary.get("safety") or {}
    if safety.get("blocked"):
        gates = ", ".join(safety.get("blocking", []))
        steps = [
            f"Do not deploy: the safety gate{'s' if len(safety.get('blocking', [])) > 1 else ''} {gates} {'are' if len(safety.get('blocking', [])) > 1 else 'is'} breached. Read every listed scenario's response in responses.jsonl.",
            f"Make {gates} the first target: test whether a better system prompt fixes it on the failing scenarios; if not, fine-tune on examples of the right behaviour, or choose another base model.",
            "Re-run this baseline on the same scenarios after the fix; deploy only when every gate holds.",
        ] + [s for s in steps if not s.lower().startswith(("do a qualitative review", "if a specific failure mode matters"))]
    if summary.get("provisional"):
        codes = ", ".join(r["code"] for r in summary.get("provisional_reasons", []))
        steps.insert(0, f"This decision is provisional ({codes}): re-run with a stronger --judge into a new --out (the answers come from the cache), or calibrate this judge with `basesel judge calibrate` to kappa >= 0.6, before acting on anything below.")
    return steps
