"""`basesel models`: which providers are installed and what is reachable right now."""

from __future__ import annotations

from typing import Annotated, Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("models")(models)


def models(
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="Also probe this OpenAI-compatible /v1 URL.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")] = False,
) -> None:
    """List the model providers: SDK installed, server reachable, API key present (never printed)."""
    from ..models.spec import check_base_url
    from ..models.status import provider_status
    from .common import print_json, stdout_console

    if base_url is not None:
        check_base_url(base_url, " in --base-url")
    rows = provider_status(base_url)
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table(title="basesel model providers")
    table.add_column("provider", no_wrap=True)
    for col in ("spec example", "installed", "status"):
        table.add_column(col, overflow="fold")  # URLs and install lines are never cut off
    from rich.markup import escape  # "[anthropic]" would otherwise be read as a style tag and vanish

    for r in rows:
        installed = "yes" if r["installed"] else f"no: pip install 'basesel[{r['extra']}]'"
        table.add_row(*(escape(str(v)) for v in (r["provider"], r["example"], installed, r["status"])))
    stdout_console().print(table)
