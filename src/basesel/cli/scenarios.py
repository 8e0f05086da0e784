"""`basesel scenarios`: generate single-turn evaluation inputs from a taxonomy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .options import DomainOpt, JsonOpt, NOpt, SeedOpt, TaxonomyOpt, domain_files


def scenarios(
    domain: DomainOpt = None,
    taxonomy: TaxonomyOpt = None,
    n: NOpt = None,
    seed: SeedOpt = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output JSONL file.")] = Path("scenarios.jsonl"),
    as_json: JsonOpt = False,
) -> None:
    """Generate ~50 single-turn user messages from a taxonomy, stratified over topic x style, edge cases included."""
    from ..errors import ConfigError
    from ..scenarios import load_taxonomy, write_scenarios
    from ..scenarios.coverage import coverage_report
    from ..scenarios.generate import generate
    from .common import print_json, stdout_console, warn

    _, taxonomy_path = domain_files(domain, None, taxonomy)
    if taxonomy_path is None:
        raise ConfigError("no taxonomy given", hint="Pass --taxonomy FILE or --domain NAME.")
    tax = load_taxonomy(taxonomy_path)
    for w in tax.warnings:
        warn(w)
    items, plan = generate(tax, n or tax.defaults.n or 50, seed)
    for w in plan.warnings:
        warn(w)
    write_scenarios(items, out)
    report = coverage_report(tax, items)
    if as_json:
        print_json({"out": str(out), "count": len(items), "coverage": report})
        return
    console = stdout_console()
    console.print(f"wrote {len(items)} scenarios to {out}")
    console.print(f"topic x style cells covered: {report['cells_covered']}/{report['cells_total']}; edge cases: {report['edge_cases_present']}/{report['edge_cases_total']}")
