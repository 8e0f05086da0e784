"""`basesel report`: re-render the decision document and the run viewer from a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

_RECORD_KEYS = {"responses.jsonl": ("scenario_id", "sample"), "assessments.jsonl": ("scenario_id", "sample", "scored")}


def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `basesel baseline`.")],
    doc: Annotated[Path, typer.Option("--doc", help="Where to write the decision document.")] = Path("docs/base-model-evaluation.md"),
    research: Annotated[Optional[Path], typer.Option("--research", help="research.json from `basesel research` (default: ./research.json if present).")] = None,
    html: Annotated[bool, typer.Option("--html", help="Write only the run viewer (one self-contained, offline HTML file), to --html-out; the document is left alone.")] = False,
    html_out: Annotated[Optional[Path], typer.Option("--html-out", help="Where --html writes the viewer (default: RUN_DIR/viewer.html).")] = None,
    no_html: Annotated[bool, typer.Option("--no-html", help="Write the document without the viewer beside it.")] = False,
    compare: Annotated[Optional[Path], typer.Option("--compare", help="Another run on the same scenarios (e.g. the fine-tuned model's re-evaluation): write the comparison viewer of it against RUN_DIR, to --html-out (default RUN_DIR/compare-<its name>.html).")] = None,
    force: Annotated[bool, typer.Option("--force", help="With --compare: compare runs graded with another rubric, judge or scenario set anyway (the differences are listed).")] = False,
) -> None:
    """Re-render docs/base-model-evaluation.md (with its charts and the run viewer beside it, as
    `baseline` writes them) from a run directory, with no model calls. `--html` writes only the viewer;
    `--compare OTHER_RUN` the comparison viewer of two runs."""
    from ..errors import ConfigError, UsageError
    from .common import stdout_console

    if html and no_html:
        raise UsageError("--html writes only the viewer and --no-html leaves it out", hint="Pass one of them.")
    if html_out is not None and not (html or compare):
        raise UsageError("--html-out says where --html writes the viewer, and --html is not set", hint="Add --html (without it the viewer goes beside --doc).")
    if force and compare is None:
        raise UsageError("--force goes with --compare", hint="Add --compare OTHER_RUN, or drop --force.")
    check_run_files(run_dir)
    console = stdout_console()
    if compare is not None:
        if no_html:
            raise UsageError("--compare writes an HTML comparison and --no-html says not to", hint="Drop --no-html (`basesel compare A B` gives the comparison as text).")
        from ..report.compare_view import write_comparison_viewer

        check_run_files(compare)
        target = html_out or run_dir / f"compare-{compare.resolve().name}.html"
        if target.is_dir():
            raise ConfigError(f"--html-out {target} is a directory", hint=f"Pass the file's path, for example --html-out {target / 'compare.html'}.")
        console.print(f"wrote {write_comparison_viewer(run_dir, compare, target, force=force)}")
        return
    if html:
        from ..report.viewer import write_viewer

        target = html_out or run_dir / "viewer.html"
        if target.is_dir():
            raise ConfigError(f"--html-out {target} is a directory", hint=f"Pass the file's path, for example --html-out {target / 'viewer.html'}.")
        console.print(f"wrote {write_viewer(run_dir, target)}")
        return
    if doc.is_dir():
        raise ConfigError(f"--doc {doc} is a directory", hint=f"Pass the document's file path, for example --doc {doc / 'base-model-evaluation.md'}.")
    from ..report.render import render_report

    path = render_report(run_dir, doc, research=research, html=not no_html)
    if path != doc:
        from .common import warn

        warn(f"nothing was scored in {run_dir}, so {doc} (which holds a decision) was left as it is")
    console.print(f"wrote {path}")
    if not no_html:
        from ..report.viewer import default_html_path

        console.print(f"wrote {default_html_path(path)}")


def check_run_files(run_dir: Path) -> None:
    """Fail with a ConfigError naming the file and line when a run directory's records are damaged (a
    broken line in the middle of assessments.jsonl ...), which reading them would skip without a word.
    The manifest, summary.json and growth.json are checked where they are read."""
    from ..run.files import check_jsonl

    if not (run_dir / "manifest.json").is_file():
        return  # summarize() says it is not a run directory
    for name, keys in _RECORD_KEYS.items():
        check_jsonl(run_dir / name, name, keys)
