"""`basesel report`: re-render the decision document from a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

_RECORD_KEYS = {"responses.jsonl": ("scenario_id", "sample"), "assessments.jsonl": ("scenario_id", "sample", "scored")}


def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `basesel baseline`.")],
    doc: Annotated[Path, typer.Option("--doc", help="Where to write the decision document.")] = Path("docs/base-model-evaluation.md"),
    research: Annotated[Optional[Path], typer.Option("--research", help="research.json from `basesel research` (default: ./research.json if present).")] = None,
) -> None:
    """Re-render docs/base-model-evaluation.md from a run directory (no model calls)."""
    from ..errors import ConfigError
    from ..report.render import render_report
    from .common import stdout_console

    if doc.is_dir():
        raise ConfigError(f"--doc {doc} is a directory", hint=f"Pass the document's file path, for example --doc {doc / 'base-model-evaluation.md'}.")
    check_run_files(run_dir)
    path = render_report(run_dir, doc, research=research)
    if path != doc:
        from .common import warn

        warn(f"nothing was scored in {run_dir}, so {doc} (which holds a decision) was left as it is")
    stdout_console().print(f"wrote {path}")


def check_run_files(run_dir: Path) -> None:
    """Fail with a ConfigError naming the file and line when a run directory's records are damaged (a
    broken line in the middle of assessments.jsonl ...), which reading them would skip without a word.
    The manifest, summary.json and growth.json are checked where they are read."""
    from ..run.files import check_jsonl

    if not (run_dir / "manifest.json").is_file():
        return  # summarize() says it is not a run directory
    for name, keys in _RECORD_KEYS.items():
        check_jsonl(run_dir / name, name, keys)

