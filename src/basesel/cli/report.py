"""`basesel report`: re-render the decision document from a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

# What the summary reads from a run directory's manifest.json: a top-level key and the keys it must hold.
_MANIFEST_KEYS: dict[str, tuple[str, ...] | None] = {
    "basesel_version": None,  # any value
    "created": None,
    "config": (),  # an object
    "candidate": ("provider", "name"),
    "judge": ("provider", "name"),
    "rubric": ("id",),
    "scenarios": ("count",),
}
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
    stdout_console().print(f"wrote {path}")


def check_run_files(run_dir: Path) -> None:
    """Fail with a ConfigError naming the file when a run directory's files are damaged (a cut-short
    manifest.json, a broken line in the middle of assessments.jsonl ...), before the report reads them."""
    from ..errors import ConfigError
    from ..run.files import check_jsonl, read_json, rerun_hint

    manifest_path = run_dir / "manifest.json"
    if not manifest_path.is_file():
        return  # summarize() says it is not a run directory
    rerun = rerun_hint(run_dir)
    manifest_hint = f"Delete {manifest_path}, then {rerun} It rewrites the manifest."
    manifest = read_json(manifest_path, "run manifest", hint=manifest_hint)
    problem = _manifest_problem(manifest)
    if problem:
        raise ConfigError(f"run manifest {manifest_path} is incomplete: {problem}", hint=manifest_hint)
    for name, what in (("summary.json", "run summary"), ("growth.json", "sample growth log")):
        path = run_dir / name
        if not path.is_file():
            continue
        hint = f"Delete {path} (the report is rebuilt from the records without it), or {rerun}"
        data = read_json(path, what, hint=hint)
        if not isinstance(data, dict):
            raise ConfigError(f"{path} is damaged: the top level is {type(data).__name__}, not an object", hint=hint)
    for name, keys in _RECORD_KEYS.items():
        check_jsonl(run_dir / name, name, keys)


def _manifest_problem(manifest: Any) -> str | None:
    if not isinstance(manifest, dict):
        return f"the top level is {type(manifest).__name__}, not an object"
    for key, inner in _MANIFEST_KEYS.items():
        if key not in manifest:
            return f"no '{key}'"
        if inner is not None:
            if not isinstance(manifest[key], dict):
                return f"'{key}' is {type(manifest[key]).__name__}, not an object"
            missing = [k for k in inner if k not in manifest[key]]
            if missing:
                return f"'{key}' has no {', '.join(repr(k) for k in missing)}"
    if not isinstance(manifest["scenarios"]["count"], int):
        return "'scenarios.count' is not a number"
    return None
