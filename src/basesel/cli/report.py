"""`basesel report`: re-render the decision document from a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `basesel baseline`.")],
    doc: Annotated[Path, typer.Option("--doc", help="Where to write the decision document.")] = Path("docs/base-model-evaluation.md"),
    research: Annotated[Optional[Path], typer.Option("--research", help="research.json from `basesel research` (default: ./research.json if present).")] = None,
) -> None:
    """Re-render docs/base-model-evaluation.md from a run directory (no model calls)."""
    from ..report.render import render_report
    from .common import stdout_console

    path = render_report(run_dir, doc, research=research)
    stdout_console().print(f"wrote {path}")
