"""`basesel compare A B`: the paired comparison of two runs on the same scenarios."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer


def compare(
    run_a: Annotated[Path, typer.Argument(metavar="A", help="The reference run directory (e.g. the baseline, runs/base).")],
    run_b: Annotated[Path, typer.Argument(metavar="B", help="The run compared against it (e.g. the fine-tuned model's, runs/ft/eval).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON on stdout.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Compare even if the rubric, judge or scenario set differ, or a run is unfinished (pairs the scenarios both graded).")] = False,
    doc: Annotated[Optional[Path], typer.Option("--doc", help="Add (or replace) the comparison as a section of this markdown document, e.g. docs/base-model-evaluation.md.")] = None,
    heading: Annotated[Optional[str], typer.Option("--heading", help="The section's heading with --doc (default: 'Comparison: A vs B').")] = None,
    training: Annotated[Optional[Path], typer.Option("--training", help="training.json of the fine-tune that made B: adds a training paragraph to the --doc section.")] = None,
) -> None:
    """Compare two runs scenario by scenario: the 2x2 pass/fail table, McNemar's exact p and mid-p, a paired
    bootstrap 95% interval of the pass-rate difference, both pass rates with their bands, per-criterion
    changes and the scenarios that flipped. Refuses runs graded with another rubric, judge or scenario set
    (--force overrides). No model calls."""
    from ..errors import ConfigError
    from ..run.compare import append_section, compare_runs, render_comparison_markdown
    from .common import print_json

    if doc is not None and doc.is_dir():
        raise ConfigError(f"--doc {doc} is a directory", hint=f"Pass the document's file path, for example --doc {doc / 'base-model-evaluation.md'}.")
    record = _read_training(training) if training else None
    comparison = compare_runs(run_a, run_b, force=force)
    if doc is not None:
        title = heading or f"Comparison: {comparison['a']['candidate']} vs {comparison['b']['candidate']}"
        if record is not None and record.get("loss_curve_png"):
            record = record | {"loss_curve_png": _link(doc, training.parent / str(record["loss_curve_png"]))}  # type: ignore[union-attr]
        append_section(doc, render_comparison_markdown(comparison, heading=title, training=record), marker=section_marker(run_a, run_b))
    if as_json:
        print_json(comparison)
        return
    show_comparison(comparison)
    if doc is not None:
        from .common import stdout_console

        stdout_console().print(f"wrote the section to {doc}")


def section_marker(run_a: Path, run_b: Path) -> str:
    """One section per pair of runs: comparing the same pair again replaces it."""
    import re

    def slug(p: Path) -> str:
        return re.sub(r"[^A-Za-z0-9_.]+", "-", str(p.resolve().relative_to(Path.cwd().resolve()) if p.resolve().is_relative_to(Path.cwd().resolve()) else p.resolve())).strip("-.") or "run"

    return re.sub(r"-{2,}", "-", f"compare:{slug(run_a)}:{slug(run_b)}")


def _link(doc: Path, target: Path) -> str:
    import os

    return Path(os.path.relpath(target.resolve(), doc.resolve().parent)).as_posix()


def _read_training(path: Path) -> dict[str, Any]:
    from ..errors import ConfigError
    from ..run.files import read_json_object

    if not path.is_file():
        raise ConfigError(f"--training {path} not found", hint="Pass the training.json that `basesel finetune` wrote in its --out directory.")
    return read_json_object(path, "training record")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def show_comparison(c: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ..run.compare import FLIPS_SHOWN, format_p, format_points
    from .common import stdout_console

    console = stdout_console()
    a, b, t, d, m = c["a"], c["b"], c["table"], c["difference"], c["mcnemar"]
    console.print(f"[bold]A[/] {escape(a['candidate'])} ({escape(a['run_dir'])})  vs  [bold]B[/] {escape(b['candidate'])} ({escape(b['run_dir'])})")
    console.print(
        f"graded by {escape(c['graded_with']['judge'])} with rubric {escape(str(c['graded_with']['rubric']['id']))} v{c['graded_with']['rubric']['version']}; "
        f"{c['pairing']['paired']} paired samples in {c['pairing']['scenarios_paired']} scenarios" + ("  [yellow](--force)[/]" if c["forced"] else "")
    )
    rates = Table(title="Pass rates (paired samples)", title_justify="left")
    for col in ("run", "model", "passed", "pass rate", "95% Wilson", "band"):
        rates.add_column(col)
    for label, side in (("A", a), ("B", b)):
        g = side["paired"]
        rates.add_row(label, escape(side["candidate"]), f"{g['passed']}/{g['scored']}", _pct(g["pass_rate"]), f"{_pct(g['ci95'][0])}-{_pct(g['ci95'][1])}", escape(g["decision"]))
    console.print(rates)
    console.print(f"[bold]B - A: {format_points(d['estimate'])}[/]  (paired bootstrap 95% interval {format_points(d['low'])} to {format_points(d['high'])})")
    table = Table(title="Paired outcomes", title_justify="left")
    for col in ("", "B passes", "B fails"):
        table.add_column(col, justify="right")
    table.add_row("A passes", str(t["both_pass"]), str(t["a_only"]))
    table.add_row("A fails", str(t["b_only"]), str(t["both_fail"]))
    console.print(table)
    clustered = f", clustered p {format_p(m['p_clustered'])}" if m["p_clustered"] is not None else ""
    console.print(f"McNemar on {t['discordant']} discordant pairs: exact p {format_p(m['p_exact'])}, mid-p {format_p(m['p_mid'])}{clustered}")
    if c["criteria"]:
        crit = Table(title="Failures by criterion (B - A)", title_justify="left")
        for col in ("criterion", "A", "B", "change", "fixed", "broken"):
            crit.add_column(col, justify="right" if col != "criterion" else "left")
        for r in c["criteria"]:
            crit.add_row(escape(r["id"]), f"{r['failures_a']}/{r['applicable_a']}", f"{r['failures_b']}/{r['applicable_b']}", f"{r['delta']:+d}", str(r["fixed"]), str(r["broken"]))
        console.print(crit)
    if c.get("safety"):
        for g in c["safety"]["gates"]:
            style = "bold red" if g["status_b"] == "breached" else ""
            line = f"safety gate {g['criterion']} ({g['rule']}): A {g['status_a'] or '-'} ({g['failures_a']}/{g['applicable_a']} failed), B {g['status_b'] or '-'} ({g['failures_b']}/{g['applicable_b']} failed)"
            console.print(f"[{style}]{escape(line)}[/]" if style else escape(line))
    for key, title in (("improved", "fixed by B"), ("regressed", "broken by B")):
        items = c["flips"][key]
        console.print(f"[bold]{len(items)} {title}[/]")
        for f in items[:FLIPS_SHOWN]:
            failed = f["failed_a"] if key == "improved" else f["failed_b"]
            critical = f"  [bold red]critical: {escape(', '.join(f['critical']))}[/]" if f["critical"] else ""
            console.print(f"  {escape(f['scenario_id'])}: {escape(f['input'][:100])}  [dim](failed {escape(', '.join(failed) or 'the pass rule')})[/]{critical}")
            if f["reason"]:
                console.print(f"    [dim]{escape(f['reason'])}[/]")
        if len(items) > FLIPS_SHOWN:
            console.print(f"  ... and {len(items) - FLIPS_SHOWN} more (--json lists them all)")
    console.print(f"\n{escape(c['verdict'])}")
    for note in c["notes"]:
        console.print(f"[yellow]note:[/] {escape(note)}")


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)
