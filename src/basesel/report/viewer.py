"""The run viewer: one self-contained HTML file for a baseline run (or a fine-tune re-evaluation, which is
a baseline run of the tuned model): the gate drawn with its interval, pass rate by criterion, rubric
category and every scenario dimension with intervals, and every scenario with its response, verdicts
and judge reasons, filterable and linkable as #<scenario id>.

The scenarios travel as JSON inside the page and are rendered a page at a time by the page's script,
so a 5,000-scenario run opens as fast as a 50-scenario one (benchmarks/bench_viewer.py). The JSON is
written to the file one scenario at a time, never built whole in memory.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from ..run.breakdown import MAX_VALUES, dimension_value
from .charts import IntervalRow, gate_chart, interval_chart
from .html import environment, json_for_script

TEMPLATE = "html/run.html.j2"
_ROWS_SLOT = "@@BASESEL_ROWS@@"
# Dimensions offered as filters; the others are still searchable and shown per scenario.
MAX_FILTER_VALUES = MAX_VALUES
# Beyond this many values a dimension's chart is left out (a table still lists them all).
MAX_CHART_ROWS = 40


def default_html_path(doc_path: Path) -> Path:
    """The viewer written beside the decision document: docs/base-model-evaluation.html."""
    return doc_path.with_suffix(".html")


def _status(response: dict[str, Any] | None, assessment: dict[str, Any] | None) -> str:
    if response is not None and "error" in response:
        return "error"
    if assessment is None:
        return "pending"
    if not assessment.get("scored"):
        return "unscored"
    return "pass" if assessment.get("passed") else "fail"


# Worst first: a scenario shows the worst status of its samples.
_STATUS_ORDER = ("fail", "error", "unscored", "pending", "pass")


def scenario_row(scenario: dict[str, Any], pairs: list[tuple[dict[str, Any] | None, dict[str, Any] | None]]) -> dict[str, Any]:
    """One scenario as the page's script reads it (short keys: the file carries thousands of these)."""
    tags = {k: v for k, v in scenario.items() if k not in ("id", "input")}
    samples = []
    for k, (resp, a) in enumerate(pairs):
        st = _status(resp, a)
        s: dict[str, Any] = {"k": k, "st": st}
        if resp is not None:
            if "error" in resp:
                s["e"] = str(resp["error"])
            else:
                s["a"] = resp.get("answer", "")
                raw = resp.get("response")
                if raw and raw != s["a"]:
                    s["raw"] = raw  # the reply with its thinking, when the answer was split from it
                if resp.get("truncated"):
                    s["tr"] = 1
                if resp.get("latency_s") is not None:
                    s["lat"] = resp["latency_s"]
        if a is not None:
            if a.get("score") is not None:
                s["sc"] = a["score"]
            if a.get("gate_failures"):
                s["g"] = a["gate_failures"]
            if a.get("unscored_reason"):
                s["ur"] = a["unscored_reason"]
            s["c"] = [[c["id"], c.get("verdict"), None if c.get("passed") is None else int(bool(c["passed"])), c.get("reason", ""), c.get("source"), c.get("agreement")] for c in a.get("criteria", [])]
        samples.append(s)
    statuses = [s["st"] for s in samples] or ["pending"]
    failed = sorted({c[0] for s in samples for c in s.get("c", []) if c[2] == 0})
    scores = [s["sc"] for s in samples if "sc" in s]
    return {
        "id": str(scenario.get("id")),
        "in": scenario.get("input", ""),
        "t": {k: v for k, v in ((k, dimension_value(v)) for k, v in tags.items()) if v is not None},
        "st": min(statuses, key=_STATUS_ORDER.index),
        "np": statuses.count("pass"),
        "ns": sum(1 for x in statuses if x in ("pass", "fail")),
        "fc": failed,
        "sc": round(sum(scores) / len(scores), 4) if scores else None,
        "s": samples,
    }


def iter_rows(run_dir: Path, samples: int) -> Iterator[dict[str, Any]]:
    from .records import iter_joined

    for scenario, pairs in iter_joined(run_dir, samples):
        yield scenario_row(scenario, pairs)


def _rows(items: dict[str, dict[str, Any]], label=lambda k: k) -> list[IntervalRow]:
    return [IntervalRow(label(k), v["rate"], *(v["ci95"] or (None, None))) for k, v in items.items() if v.get("rate") is not None]


def charts_for(summary: dict[str, Any]) -> dict[str, Any]:
    """Inline SVG charts: the gate, criteria, categories and one per dimension."""
    g = summary["gate"]
    bd = summary.get("breakdowns") or {}
    extra = []
    co = summary.get("checks_only")
    if co:
        extra.append(IntervalRow("checks alone", co["pass_rate"], *co["ci95"]))
    out: dict[str, Any] = {"gate": gate_chart(g["pass_rate"], *(g["ci95"] or (None, None)), extra=extra) if g["pass_rate"] is not None else None}
    crit = bd.get("criteria") or {}
    out["criteria"] = interval_chart(_rows(crit, lambda k: f"{k} {crit[k].get('name') or ''}".strip()[:48]), title="Pass rate by criterion (applicable responses)", cutoffs=(0.5, 0.7)) if crit else None
    cats = bd.get("categories") or {}
    out["categories"] = interval_chart(_rows({k: v["all_passed"] for k, v in cats.items()}), title="Responses passing every criterion of the category", cutoffs=(0.5, 0.7)) if cats else None
    out["dimensions"] = {}
    for dim, values in (bd.get("dimensions") or {}).items():
        if 1 < len(values) <= MAX_CHART_ROWS:
            out["dimensions"][dim] = interval_chart(_rows(values), title=f"Pass rate by {dim}", cutoffs=(0.5, 0.7))
    return out


def page_context(run_dir: Path, summary: dict[str, Any], *, kind: str | None = None) -> dict[str, Any]:
    bd = summary.get("breakdowns") or {}
    dims = {d: list(v) for d, v in (bd.get("dimensions") or {}).items() if len(v) <= MAX_FILTER_VALUES}
    criteria = [{"id": cid, "name": v.get("name")} for cid, v in (bd.get("criteria") or {}).items()]
    known = {c["id"] for c in criteria}
    criteria += [{"id": c["id"], "name": None} for c in summary.get("criteria", []) if c["id"] not in known]
    return {
        "s": summary,
        "kind": kind or run_kind(summary),
        "charts": charts_for(summary),
        "filter_dims": dims,
        "filter_criteria": criteria,
        "rows_slot": _ROWS_SLOT,
        "compare": False,
    }


def run_kind(summary: dict[str, Any]) -> str:
    """A fine-tune re-evaluation is a baseline run of the tuned model: its manifest says what it was tuned from."""
    cfg = summary.get("config") or {}
    if summary.get("finetune") or (cfg.get("model_options") or {}).get("lora"):
        return "fine-tune re-evaluation"
    return "baseline"


def write_streamed(path: Path, html: str, rows: Iterator[Any]) -> Path:
    """Write `html` with its rows slot replaced by the JSON array of `rows`, streamed, atomically."""
    from ..run.files import write_error

    head, sep, tail = html.partition(_ROWS_SLOT)
    if not sep:
        raise ValueError("the page template has no rows slot")
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "Is a directory", str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(head)
                fh.write("[")
                for i, row in enumerate(rows):
                    if i:
                        fh.write(",\n")
                    fh.write(json_for_script(row))
                fh.write("]")
                fh.write(tail)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise write_error(path, exc, what="run viewer") from exc
    return path


def write_viewer(run_dir: Path, path: Path, summary: dict[str, Any] | None = None) -> Path:
    """Write the run viewer for `run_dir` to `path` (`summary`: the one just computed, else rebuilt)."""
    if summary is None:
        from ..run.summary import summarize

        summary = summarize(run_dir)
    context = page_context(run_dir, summary)
    cand = summary["candidate"]
    title = f"basesel run viewer: {cand['provider']}/{cand['name']}"
    html = environment().get_template(TEMPLATE).render(title=title, **context)
    samples = int(summary["config"].get("samples", 1) or 1)
    return write_streamed(path, html, iter_rows(run_dir, samples))

