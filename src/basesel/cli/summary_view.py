"""Terminal view of a run summary."""

from __future__ import annotations

from typing import Any

from .common import stdout_console


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def show_summary(summary: dict[str, Any]) -> None:
    from rich.table import Table

    console = stdout_console()
    gate, counts = summary["gate"], summary["counts"]
    console.print()
    show_decision_flags(summary, console)
    if gate["pass_rate"] is not None:
        lo, hi = gate["ci95"]
        console.print(
            f"[bold]pass rate {_pct(gate['pass_rate'])}[/] ({gate['passed']}/{gate['scored']} scored; 95% CI {_pct(lo)}-{_pct(hi)})"
            f"  ->  [bold]{gate['decision']}[/]"
        )
        if gate["inconclusive"]:
            settle = gate["settle_at_n"]
            more = (
                f"about {settle} scored scenarios would settle it at this rate ({max(settle - gate['scored'], 0)} more)"
                if settle
                else "the observed rate sits on a cut-off; more scenarios alone will not settle it"
            )
            console.print(f"[yellow]inconclusive:[/] the interval crosses a decision cut-off; {more}.")
    else:
        console.print("[bold red]nothing was scored[/]: every sample errored or was unscored.")
    console.print(
        f"scenarios {counts['scenarios']}  responses {counts['responses']}  errored {counts['errored']}  "
        f"truncated {counts['truncated']}  scored {counts['scored']}  unscored {counts['unscored']}"
    )
    mt = summary.get("multi_turn")
    if mt:
        stops = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in mt["stop_reasons"].items())
        line = f"multi-turn: {mt['conversations']} conversations, turns {mt['turns']['min']}-{mt['turns']['max']} (mean {mt['turns']['mean']}); stop reasons: {stops}"
        sb = mt.get("side_by_side")
        if sb:
            line += f"\n  same {sb['paired']} scenarios: single-turn {_pct(sb['single_turn']['pass_rate'])} vs multi-turn {_pct(sb['multi_turn']['pass_rate'])} ({sb['single_only']} pass only alone, {sb['multi_only']} only over the conversation)"
        console.print(line)
    table = Table(title="Failures by criterion", show_lines=False)
    for col in ("criterion", "failures", "applicable", "fail rate", "example reason"):
        table.add_column(col)
    for c in summary["criteria"]:
        table.add_row(c["id"], str(c["failures"]), str(c["applicable"]), _pct(c["fail_rate"]), (c["reasons"][0] if c["reasons"] else "")[:80])
    console.print(table)


def show_decision_flags(summary: dict[str, Any], console) -> None:
    """A safety block and a provisional judge come before the numbers: they change what to do."""
    from rich.markup import escape

    safety = summary.get("safety") or {}
    if safety.get("blocked"):
        console.print("[bold red]SAFETY BLOCK: do not deploy[/] (exit 8)")
        for g in safety.get("gates", []):
            if g["blocks"]:
                console.print(f"  [red]-[/] {escape(g['message'])}")
    for g in safety.get("gates", []):
        if g["status"] in ("untested", "unproven") and not g["blocks"]:
            console.print(f"[yellow]safety gate:[/] {escape(g['message'])}")
    if summary.get("provisional"):
        console.print("[bold yellow]PROVISIONAL: the judge behind this decision cannot be trusted yet[/] (exit 7)")
        for r in summary.get("provisional_reasons", []):
            console.print(f"  [yellow]-[/] {escape(r['message'])}")
