"""The benchmark's report: report.html (self-contained: inline SVG charts, per-item predictions with
filters) and summary.md, linked from the decision document."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..run.files import atomic_write_text, read_jsonl

REPORT = "report.html"
SUMMARY_MD = "summary.md"
TEMPLATE = "html/benchmark.html.j2"
DOC_BEGIN, DOC_END = "<!-- basesel:benchmark -->", "<!-- /basesel:benchmark -->"


def fmt_money(x: float | None) -> str:
    if x is None:
        return "unknown"
    if x == 0:
        return "$0"
    return f"${x:,.2f}" if x >= 1 else f"${x:.6f}".rstrip("0")


def fmt_volume(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}/day"


def _label(cell: dict[str, Any]) -> str:
    return f"{cell['model']} · {cell['condition']}"


def charts(summary: dict[str, Any]) -> dict[str, dict[str, str | None]]:
    """Per task: metric per condition with intervals, cost vs metric, TCO vs daily volume (break-even marked)."""
    from . import charts as ch
    from ..bench import costs

    out: dict[str, dict[str, str | None]] = {}
    a = costs.TcoAssumptions(daily_volume=float(summary["settings"].get("volume_per_day") or 1000), rate=summary["settings"].get("gpu_usd_per_hour"),
                             utilization=float(summary["settings"].get("utilization", 0.5)))
    for task in summary["tasks"]:
        cells = [c for c in summary["cells"] if c["task"] == task["id"] and c["value"] is not None]
        entry: dict[str, str | None] = {"metric": None, "cost": None, "tco": None}
        if cells:
            rows = [ch.IntervalRow(_label(c), c["value"], *(c["ci95"] or (None, None))) for c in cells]
            entry["metric"] = ch.interval_chart(rows, title=f"{task['id']}: {task['metric']} (95% bootstrap interval)", xlabel=task["metric"])
        priced = [c for c in cells if c["cost_per_query"]]
        if priced:
            entry["cost"] = ch.scatter_chart([(_label(c), c["cost_per_query"], 100 * c["value"]) for c in priced], title=f"{task['id']}: cost per query vs {task['metric']}",
                                             xlabel="USD per query (log)", ylabel=f"{task['metric']} (%)", logx=True)
        series = {}
        grid = costs.volume_grid(a.daily_volume)
        for c in cells:
            row = costs.CostRow(**c["cost"])
            ys = [costs.tco(row, a, v) for v in grid]
            if all(y is not None for y in ys):
                series[_label(c)] = (grid, ys)
        if series:
            markers = [(b["volume_per_day"], f"break-even {b['self']} vs {b['api']}") for b in summary["break_even"] if b["task"] == task["id"] and b.get("volume_per_day")][:2]
            markers.append((a.daily_volume, "your volume"))
            entry["tco"] = ch.line_chart(series, title=f"{task['id']}: 12-month TCO vs daily volume", xlabel="queries per day (log)", ylabel="USD over 12 months", markers=markers, logx=True)
        out[task["id"]] = entry
    return out


def item_rows(run_dir: Path) -> list[dict[str, Any]]:
    from ..bench.summary import latest_records

    rows = []
    for r in latest_records(run_dir).values():
        rows.append(r | {"ok": "error" not in r and bool(r.get("correct")), "status": "error" if "error" in r else "invalid" if r.get("invalid") else "right" if r.get("correct") else "wrong"})
    return sorted(rows, key=lambda r: (r["task"], r["model"], r["condition"], str(r["item_id"])))


def render_benchmark(run_dir: Path, summary: dict[str, Any], *, doc: Path | None = None) -> dict[str, Path]:
    from .html import write_page

    title = ("[SMOKE TEST, synthetic data] " if summary.get("smoke") else "") + "basesel benchmark"
    report = write_page(run_dir / REPORT, TEMPLATE, title=title, summary=summary, charts=charts(summary), items=item_rows(run_dir), money=fmt_money, volume=fmt_volume)
    md = run_dir / SUMMARY_MD
    atomic_write_text(md, markdown(summary))
    paths = {"report": report, "summary_md": md}
    if doc is not None:
        link_from_doc(doc, md, report, summary)
        paths["doc"] = doc
    return paths


def _metric(c: dict[str, Any]) -> str:
    if c["value"] is None:
        return "-"
    ci = c.get("ci95")
    return f"{100 * c['value']:.1f}%" + (f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else "")


def markdown(summary: dict[str, Any]) -> str:
    lines = ["# Benchmark summary", ""]
    if summary.get("smoke"):
        lines += ["> **Smoke test on synthetic fixture data**: these numbers check the pipeline, they say nothing about the models.", ""]
    lines += [f"Run: `{summary['run_dir']}` ({summary.get('created')}). Full report with charts and every prediction: [report.html](report.html).", ""]
    for task in summary["tasks"]:
        src = task["source"]
        where = "synthetic fixture" if src.get("synthetic") else f"{src.get('dataset')} @ {src.get('revision')}" if src.get("kind") == "datasets" else src.get("path")
        lines += [f"## {task['name']} — {task['metric']}", "", f"Data: {where}; {src.get('test_items')} test items." + (f" {src['split_note']}." if src.get("split_note") else ""), ""]
        lines += ["| model | condition | metric [95% CI] | n | invalid | p50 / p95 latency | cost/query | 12-month TCO |", "|---|---|---|---|---|---|---|---|"]
        for c in (c for c in summary["cells"] if c["task"] == task["id"]):
            lat = "-" if c["latency_p50_s"] is None else f"{c['latency_p50_s']:.2f} / {c['latency_p95_s']:.2f} s"
            inv = "-" if c["invalid_rate"] is None else f"{100 * c['invalid_rate']:.0f}%"
            short = f" (short of {c['shots']} examples on {c['shortfall_items']} items)" if c["shortfall_items"] else ""
            errs = f" (+{c['errors']} errors)" if c["errors"] else ""
            lines.append(f"| {c['model']} | {c['condition']}{short} | {_metric(c)} | {c['n']}{errs} | {inv} | {lat} | {fmt_money(c['cost_per_query'])} | {fmt_money(c['tco_12m'])} |")
        comps = [p for p in summary["comparisons"] if p["task"] == task["id"]]
        if comps:
            lines += ["", "Paired comparisons (same items):", ""]
            for p in comps:
                d = p["difference"]
                mc = f"; McNemar p = {p['mcnemar']['p_exact']:.3g} (mid-p {p['mcnemar']['p_mid']:.3g})" if "mcnemar" in p else ""
                lines.append(f"- {p['b']} vs {p['a']}: {100 * d['estimate']:+.1f} points [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}] on {p['n']} items{mc}")
        bes = [b for b in summary["break_even"] if b["task"] == task["id"]]
        for b in bes:
            lines.append(f"- break-even {b['self']} vs {b['api']}: {fmt_volume(b.get('volume_per_day'))} ({b['note']})")
        lines.append("")
    lines += ["## Assumptions", "", *[f"- {a}" for a in summary["assumptions"]], ""]
    if summary["warnings"]:
        lines += ["## Warnings", "", *[f"- {w}" for w in summary["warnings"]], ""]
    return "\n".join(lines)


def link_from_doc(doc: Path, md: Path, report: Path, summary: dict[str, Any]) -> None:
    """Put (or replace) a short benchmark section with a link to the summary in the decision document."""
    rel = Path(os.path.relpath(md.resolve(), doc.resolve().parent)).as_posix()
    rel_html = Path(os.path.relpath(report.resolve(), doc.resolve().parent)).as_posix()
    kind = "smoke test (synthetic data)" if summary.get("smoke") else "benchmark"
    block = f"{DOC_BEGIN}\n## Benchmark\n\nLatest {kind}: [summary]({rel}) · [report with charts]({rel_html}).\n{DOC_END}"
    text = doc.read_text(encoding="utf-8") if doc.is_file() else "# Base model evaluation\n"
    if DOC_BEGIN in text and DOC_END in text:
        text = re.sub(re.escape(DOC_BEGIN) + ".*?" + re.escape(DOC_END), lambda _: block, text, flags=re.DOTALL)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    atomic_write_text(doc, text)


def predictions_count(run_dir: Path) -> int:
    return sum(1 for _ in read_jsonl(run_dir / "predictions.jsonl"))
