"""The comparison viewer: one self-contained HTML file for two runs on the same scenarios (a fine-tuned
model against its base, or any A/B), rendered from `basesel.run.compare.compare_runs`' dict: both gates
with their intervals against the cut-offs, the pass-rate difference with its paired-bootstrap interval,
the 2x2 table and McNemar p, per-criterion deltas, the flips, and every scenario with both runs'
responses and verdicts side by side, filterable (improved / regressed / ...) and linkable as #<id>.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from .charts import IntervalRow, gate_chart, interval_chart
from .html import environment
from .viewer import _ROWS_SLOT, scenario_row, write_streamed

TEMPLATE = "html/compare.html.j2"


def _flip(a: dict[str, Any], b: dict[str, Any] | None) -> str:
    if b is None or a["ns"] == 0 or b["ns"] == 0:
        return "unpaired"
    pa, pb = a["np"] == a["ns"], b["np"] == b["ns"]  # every scored sample passed
    if pa and pb:
        return "same-pass"
    if not pa and not pb:
        return "same-fail"
    return "improved" if pb else "regressed"


def iter_pair_rows(run_a: Path, run_b: Path, samples_a: int, samples_b: int) -> Iterator[dict[str, Any]]:
    """A's scenarios in A's order, each joined with B's records of the same scenario id (one at a time)."""
    from ..run.baseline import ASSESSMENTS, RESPONSES
    from .records import RecordIndex, iter_joined

    with RecordIndex(run_b / RESPONSES) as responses_b, RecordIndex(run_b / ASSESSMENTS) as assessments_b:
        for scenario, pairs in iter_joined(run_a, samples_a):
            row = scenario_row(scenario, pairs)
            sid = row["id"]
            pairs_b = [(responses_b.get((sid, k)), assessments_b.get((sid, k))) for k in range(samples_b)]
            if all(r is None and x is None for r, x in pairs_b):
                row |= {"b": [], "sb": "missing", "fb": [], "npb": 0, "scb": None, "flip": "unpaired"}
            else:
                b = scenario_row(scenario, pairs_b)
                row |= {"b": b["s"], "sb": b["st"], "fb": b["fc"], "npb": b["np"], "scb": b["sc"], "flip": _flip(row, b)}
            yield row


def charts_for(c: dict[str, Any]) -> dict[str, Any]:
    a, b = c["a"]["paired"], c["b"]["paired"]
    label_a, label_b = f"A {c['a']['candidate']}"[:40], f"B {c['b']['candidate']}"[:40]
    out: dict[str, Any] = {}
    if a["pass_rate"] is not None and b["pass_rate"] is not None:
        out["gates"] = gate_chart(
            a["pass_rate"], *a["ci95"], extra=[IntervalRow(label_b, b["pass_rate"], *b["ci95"])], label=label_a,
            title="Pass rate of each run on the paired samples, 95% Wilson intervals",
        )
    d = c["difference"]
    out["difference"] = interval_chart(
        [IntervalRow("B − A", 100 * d["estimate"], 100 * d["low"], 100 * d["high"])],
        title="Pass-rate difference, 95% paired-bootstrap interval", xlabel="percentage points", cutoffs=(0.0,), percent=False,
    )
    return out


def _filter_context(run_a: Path, comparison: dict[str, Any]) -> tuple[dict[str, list[str]], list[dict[str, Any]]]:
    from ..run.summary import summarize
    from .viewer import MAX_FILTER_VALUES

    summary = summarize(run_a)
    dims = {d: list(v) for d, v in (summary.get("breakdowns") or {}).get("dimensions", {}).items() if len(v) <= MAX_FILTER_VALUES}
    names = {cid: v.get("name") for cid, v in (summary.get("breakdowns") or {}).get("criteria", {}).items()}
    criteria = [{"id": r["id"], "name": names.get(r["id"])} for r in comparison["criteria"]]
    return dims, criteria


def write_comparison_viewer(run_a: Path, run_b: Path, path: Path, *, force: bool = False, comparison: dict[str, Any] | None = None) -> Path:
    """Compare run B against run A (`compare_runs`, which refuses runs graded differently unless `force`)
    and write the comparison viewer to `path`."""
    if comparison is None:
        from ..run.compare import compare_runs

        comparison = compare_runs(run_a, run_b, force=force)
    dims, criteria = _filter_context(run_a, comparison)
    sides = [f"A: {comparison['a']['candidate']} ({comparison['a']['run_dir']})", f"B: {comparison['b']['candidate']} ({comparison['b']['run_dir']})"]
    html = environment().get_template(TEMPLATE).render(
        title=f"basesel comparison: {comparison['b']['candidate']} against {comparison['a']['candidate']}",
        cm=comparison,  # not `c`: the run page's template sets that name
        s={},  # the run page's own summary, which this page does not show
        charts=charts_for(comparison),
        filter_dims=dims,
        filter_criteria=criteria,
        compare=True,
        sides=sides,
        rows_slot=_ROWS_SLOT,
    )
    samples_a = int(comparison["a"].get("samples_per_scenario") or 1)
    samples_b = int(comparison["b"].get("samples_per_scenario") or 1)
    return write_streamed(path, html, iter_pair_rows(Path(run_a), Path(run_b), samples_a, samples_b))
