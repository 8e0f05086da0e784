"""Charts for every report, drawn offline with matplotlib.

Each function returns the picture as SVG text (inlined into a self-contained HTML page) or writes a PNG
(linked from a markdown document). matplotlib is imported here only, with the non-interactive Agg
backend, so nothing needs a display and the CLI does not pay for it at start-up.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence


@dataclass(frozen=True)
class IntervalRow:
    label: str
    value: float | None
    low: float | None = None
    high: float | None = None


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _finish(fig, fmt: str, path: Path | None) -> str | None:
    plt = _plt()
    fig.tight_layout()
    if fmt == "svg":
        buf = io.StringIO()
        fig.savefig(buf, format="svg")
        plt.close(fig)
        text = buf.getvalue()
        return text[text.index("<svg") :]  # drop the XML prologue: the SVG is inlined into HTML
    if path is None:
        raise ValueError("a PNG chart needs a path")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)
    return None


def interval_chart(
    rows: Sequence[IntervalRow],
    *,
    title: str,
    xlabel: str = "pass rate",
    cutoffs: Iterable[float] = (),
    percent: bool = True,
    fmt: str = "svg",
    path: Path | None = None,
) -> str | None:
    """Horizontal points with their intervals, one row per label (top to bottom in the given order),
    with vertical lines at the decision cut-offs."""
    plt = _plt()
    rows = [r for r in rows if r.value is not None]
    height = 0.9 + 0.32 * max(1, len(rows))
    fig, ax = plt.subplots(figsize=(6.4, height))
    scale = 100 if percent else 1
    ys = list(range(len(rows)))[::-1]
    for y, r in zip(ys, rows):
        lo = r.low if r.low is not None else r.value
        hi = r.high if r.high is not None else r.value
        ax.plot([lo * scale, hi * scale], [y, y], color="#4c72b0", linewidth=2.2, solid_capstyle="butt", clip_on=False)
        ax.plot([r.value * scale], [y], "o", color="#1f3b70", markersize=5, clip_on=False)  # a rate of 0 or 100% stays visible
    for c in cutoffs:
        ax.axvline(c * scale, color="#c44e52", linestyle="--", linewidth=1)
    ax.set_yticks(ys)
    ax.set_yticklabels([r.label for r in rows])
    if percent:
        ax.set_xlim(0, 100)
        ax.set_xlabel(f"{xlabel} (%)")
    else:
        ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return _finish(fig, fmt, path)


def line_chart(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    markers: Sequence[tuple[float, str]] = (),
    logx: bool = False,
    fmt: str = "svg",
    path: Path | None = None,
) -> str | None:
    """Lines (e.g. loss curves, TCO against daily volume); `markers` draws labelled vertical lines
    (e.g. a break-even volume)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    for name, (xs, ys) in series.items():
        ax.plot(list(xs), list(ys), label=name, linewidth=1.6)
    for x, label in markers:
        ax.axvline(x, color="#555", linestyle=":", linewidth=1)
        ax.annotate(label, (x, 1), xycoords=("data", "axes fraction"), xytext=(3, -10), textcoords="offset points", fontsize=8)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8)
    return _finish(fig, fmt, path)


def scatter_chart(
    points: Sequence[tuple[str, float, float]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    logx: bool = False,
    fmt: str = "svg",
    path: Path | None = None,
) -> str | None:
    """Labelled points (e.g. cost per query against accuracy)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for label, x, y in points:
        ax.plot([x], [y], "o", markersize=6)
        ax.annotate(label, (x, y), xytext=(4, 3), textcoords="offset points", fontsize=8)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _finish(fig, fmt, path)


def gate_chart(
    rate: float | None,
    low: float | None,
    high: float | None,
    *,
    cutoffs: Sequence[float] = (0.5, 0.7),
    title: str = "Pass rate and its 95% interval against the decision cut-offs",
    extra: Sequence[IntervalRow] = (),
    label: str = "pass rate",
    fmt: str = "svg",
    path: Path | None = None,
) -> str | None:
    """The decision gate: the pass rate with its interval on a 0-100% axis shaded by decision band
    (full pipeline / fine-tune / deploy), the cut-offs drawn. `extra` adds rows below it (e.g. the
    deterministic checks alone, or a second run)."""
    plt = _plt()
    rows = [IntervalRow(label, rate, low, high), *extra]
    rows = [r for r in rows if r.value is not None]
    fig, ax = plt.subplots(figsize=(6.4, 1.25 + 0.38 * max(1, len(rows))))
    edges = [0.0, *sorted(cutoffs), 1.0]
    colours = ["#f6d5d3", "#fbeccb", "#d8eedc"]  # full pipeline, fine-tune, deploy
    names = ["full pipeline", "fine-tune", "deploy"]
    for i in range(len(edges) - 1):
        ax.axvspan(100 * edges[i], 100 * edges[i + 1], color=colours[min(i, 2)], zorder=0)
        ax.text(100 * (edges[i] + edges[i + 1]) / 2, 1.02, names[min(i, 2)], transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=8, color="#444")
    for c in cutoffs:
        ax.axvline(100 * c, color="#c44e52", linestyle="--", linewidth=1, zorder=1)
    ys = list(range(len(rows)))[::-1]
    for y, r in zip(ys, rows):
        lo = r.low if r.low is not None else r.value
        hi = r.high if r.high is not None else r.value
        ax.plot([100 * lo, 100 * hi], [y, y], color="#1f3b70", linewidth=3, solid_capstyle="butt", zorder=2)
        ax.plot([100 * lo, 100 * lo], [y - 0.18, y + 0.18], color="#1f3b70", linewidth=1.5, zorder=2)
        ax.plot([100 * hi, 100 * hi], [y - 0.18, y + 0.18], color="#1f3b70", linewidth=1.5, zorder=2)
        ax.plot([100 * r.value], [y], "o", color="#0b1f44", markersize=7, zorder=3, clip_on=False)
        ax.annotate(f"{100 * r.value:.1f}%", (100 * r.value, y), xytext=(0, 7), textcoords="offset points", ha="center", fontsize=8, zorder=3)
    ax.set_xlim(0, 100)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_yticks(ys)
    ax.set_yticklabels([r.label for r in rows])
    ax.set_xlabel("pass rate (%)")
    ax.set_title(title, pad=16)
    return _finish(fig, fmt, path)
