"""PNG charts for the markdown decision document, written beside it and linked relatively (a markdown
viewer shows them; nothing is fetched): the gate with its interval, and pass rate by topic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .charts import IntervalRow, gate_chart, interval_chart

# A chart with more rows than this is unreadable at document width; the table beside it lists them all.
MAX_ROWS = 40


def chart_paths(doc_path: Path) -> dict[str, Path]:
    stem = doc_path.stem
    return {"gate": doc_path.with_name(f"{stem}-gate.png"), "topic": doc_path.with_name(f"{stem}-topic.png")}


def write_doc_charts(summary: dict[str, Any], doc_path: Path) -> dict[str, str]:
    """Draw the charts that have data; returns {name: path relative to the document}. A chart that has
    nothing to draw is removed, so an old picture never sits beside a new document."""
    from ..run.files import write_error

    paths = chart_paths(doc_path)
    written: dict[str, str] = {}
    g = summary["gate"]
    topics = ((summary.get("breakdowns") or {}).get("dimensions") or {}).get("topic") or {}
    rows = [IntervalRow(k, v["rate"], *v["ci95"]) for k, v in topics.items() if v.get("rate") is not None]
    try:
        if g["pass_rate"] is not None:
            co = summary.get("checks_only")
            extra = [IntervalRow("checks alone", co["pass_rate"], *co["ci95"])] if co else []
            gate_chart(g["pass_rate"], *g["ci95"], extra=extra, fmt="png", path=paths["gate"])
            written["gate"] = paths["gate"].name
        else:
            paths["gate"].unlink(missing_ok=True)
        if 1 < len(rows) <= MAX_ROWS:
            interval_chart(rows, title="Pass rate by topic (95% Wilson intervals)", cutoffs=(0.5, 0.7), fmt="png", path=paths["topic"])
            written["topic"] = paths["topic"].name
        else:
            paths["topic"].unlink(missing_ok=True)
    except OSError as exc:
        raise write_error(Path(getattr(exc, "filename", None) or paths["gate"]), exc, what="chart") from exc
    return written
