"""`--until-decisive`: grow an inconclusive sample in stratified batches from the taxonomy, counting
evidence once. Every new batch holds only inputs that have not run yet (normalized text: case,
punctuation and spacing do not make a message new); when the taxonomy yields no new input the growth
stops and says so. It also stops before spending anything when the observed rate says the cap cannot
settle it (`settle_at_n` above `--max`), or when the decision is provisional (a better sample from an
untrustworthy judge is still untrustworthy)."""

from __future__ import annotations

from typing import Any

from ..scenarios import Scenario
from ..scenarios.dedup import normalize
from ..scenarios.generate import generate

MAX_ROUNDS = 50
DRAWS_PER_ROUND = 5  # extra seeds tried to fill a batch once duplicates are dropped


def distinct(scenarios: list[Scenario], seen: set[str]) -> tuple[list[Scenario], int]:
    """The scenarios whose input is new to `seen` (and to each other); `seen` is updated. Returns (kept, dropped)."""
    kept = []
    for s in scenarios:
        key = normalize(s.input)
        if key in seen:
            continue
        seen.add(key)
        kept.append(s)
    return kept, len(scenarios) - len(kept)


def repeated_inputs(scenarios: list[Scenario]) -> int:
    return len(scenarios) - len({normalize(s.input) for s in scenarios})


def growth_row(summary: dict[str, Any], step: str) -> dict[str, Any]:
    g = summary["gate"]
    return {"step": step, "scenarios": summary["counts"]["scenarios"], "scored": g["scored"], "pass_rate": g["pass_rate"], "ci95": g["ci95"], "decision": g["decision"]}


def _stop_before_growing(summary: dict[str, Any], max_scenarios: int) -> str | None:
    g = summary["gate"]
    if not g["inconclusive"]:
        return "stopped: the interval no longer crosses a decision cut-off"
    if summary.get("provisional"):
        codes = ", ".join(r["code"] for r in summary.get("provisional_reasons", []))
        return f"stopped: the decision is provisional ({codes}); more scenarios judged by the same judge would not make it trustworthy"
    if g["settle_at_n"] is None:
        return "stopped early: the observed rate sits on a cut-off, so no number of scenarios would settle it"
    if g["settle_at_n"] > max_scenarios:
        return (
            f"stopped early: at the observed rate about {g['settle_at_n']} scored scenarios would settle it, more than --max {max_scenarios}; "
            "raise --max to at least that, or report both bands"
        )
    return None


async def grow(runner, prepared, taxonomy, seed: int, max_scenarios: int, summary: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """Run rounds until a stop reason; returns (growth rows, stop reason). `runner.run()` resumes in place."""
    rows = [growth_row(summary, "initial sample")]
    cells = len(taxonomy.topics) * len(taxonomy.styles)
    seen = {normalize(s.input) for s in prepared.scenarios}
    draw = 0
    for round_no in range(1, MAX_ROUNDS + 1):
        reason = _stop_before_growing(summary, max_scenarios)
        if reason:
            return rows, reason
        room = max_scenarios - len(prepared.scenarios)
        if room <= 0:
            return rows, f"stopped at the cap of {max_scenarios} scenarios while still inconclusive"
        # What the observed rate says would settle it, but at most doubling per round: the estimate
        # moves as the sample grows, and every topic x style cell gets at least one new scenario.
        wanted = summary["gate"]["settle_at_n"] - summary["gate"]["scored"]
        batch = min(max(cells, min(wanted, len(prepared.scenarios))), room)
        more: list[Scenario] = []
        dropped = 0
        seeds = []
        for _ in range(DRAWS_PER_ROUND):
            draw += 1
            batch_seed = seed + 1000 * draw
            drawn, _ = generate(taxonomy, batch, seed=batch_seed, id_prefix=f"r{round_no}.{draw}-", include_edge_cases=False)
            new, repeats = distinct(drawn, seen)
            dropped += repeats
            more += new[: batch - len(more)]
            seeds.append(batch_seed)
            if len(more) >= batch:
                break
        if not more:
            return rows, f"stopped: the taxonomy is exhausted: {DRAWS_PER_ROUND} new draws gave no input that has not run yet ({len(seen)} distinct inputs in all); add situations or details to it"
        prepared.scenarios.extend(more)
        summary = await runner.run()
        note = f"; {dropped} repeats of inputs already run were dropped" if dropped else ""
        rows.append(growth_row(summary, f"round {round_no}: +{len(more)} new scenarios (seeds {', '.join(map(str, seeds))}){note}"))
        if len(more) < batch:
            reason = _stop_before_growing(summary, max_scenarios)
            return rows, reason or f"stopped: the taxonomy is exhausted: it yields {len(seen)} distinct inputs, and the last round found only {len(more)} of {batch} new"
    return rows, f"stopped after {MAX_ROUNDS} rounds"
