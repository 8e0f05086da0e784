"""`basesel init`: copy a bundled domain pack (rubric + taxonomy, labelled set if any) into a project to edit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def init(
    domain: Annotated[Optional[str], typer.Option("--domain", "-d", help="Domain pack to copy: support, coaching, coding, factual-qa, creative-writing, medical (see --list).")] = None,
    dest: Annotated[Path, typer.Option("--dest", help="Project root to copy into: files go to DEST/rubrics/ and DEST/taxonomies/.")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that already exist.")] = False,
    list_packs: Annotated[bool, typer.Option("--list", help="List the bundled domain packs and exit.")] = False,
    judge: Annotated[Optional[str], typer.Option("--judge", help="The project's judge, written to basesel.yaml (e.g. openai/gpt-4o-mini, qwen3:32b).")] = None,
    judge_base_url: Annotated[Optional[str], typer.Option("--judge-base-url", help="The judge's server URL, written to basesel.yaml.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")] = False,
) -> None:
    """Copy a domain pack into your project (rubrics/NAME.yaml, taxonomies/NAME.yaml) so you can edit it,
    and write the project settings file basesel.yaml (domain, judge, defaults).

    Every command run from DEST reads basesel.yaml (flags win), so `basesel baseline --model qwen3:8b`
    runs with the project's domain and judge. Existing files are never overwritten without --force.
    """
    from ..domains import bundled_domains, find_pack
    from ..errors import ConfigError, UsageError
    from .common import print_json, stdout_console

    if list_packs:
        rows = [_describe(p) for p in bundled_domains()]
        if as_json:
            print_json(rows)
            return
        _print_list(rows)
        return
    if domain is None:
        raise UsageError("no domain given", hint="Pass --domain NAME (see `basesel init --list`).")
    pack = find_pack(domain)
    if dest.exists() and not dest.is_dir():
        raise ConfigError(f"--dest {dest} is a file, not a directory", hint="Pass the project's root directory.")
    targets = [(src, dest / rel) for src, rel in pack.files()]
    existing = [t for _, t in targets if t.exists()]
    if existing and not force:
        raise ConfigError(
            f"refusing to overwrite {len(existing)} existing file(s): {', '.join(str(p) for p in existing)}",
            hint="Edit them in place, pass --force to replace them with the bundled versions, or use another --dest.",
        )
    from ..run.files import atomic_write_text

    for src, target in targets:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(target, src.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot write {target}: {exc.strerror}", hint="Check that --dest is writable.") from exc
    written = [str(t) for _, t in targets]
    from ..settings import SETTINGS_FILE, settings_text

    settings_path = dest / SETTINGS_FILE
    kept_settings = settings_path.exists() and not force
    if not kept_settings:
        atomic_write_text(settings_path, settings_text(pack.name, judge, judge_base_url))
        written.append(str(settings_path))
    if as_json:
        print_json({"domain": pack.name, "written": written, "overwritten": [str(p) for p in existing], "settings_kept": str(settings_path) if kept_settings else None})
        return
    console = stdout_console()
    for path in written:
        console.print(f"wrote {path}{' (overwritten)' if Path(path) in existing else ''}")
    if kept_settings:
        console.print(f"kept the existing {settings_path} (pass --force to rewrite it)")
    judge_part = "" if judge else " --judge JUDGE"
    console.print(
        f"\nEdit the criteria, topics and system prompt to match your product"
        + ("" if judge else f", name your judge in {settings_path}")
        + f", then run (from {dest}; {SETTINGS_FILE} supplies the domain{' and judge' if judge else ''}):\n"
        f"  basesel scenarios\n"
        f"  basesel baseline --model qwen3:8b{judge_part}"
    )
    if pack.labels is not None:
        console.print(f"  basesel judge calibrate --labels {dest / 'rubrics' / 'labels' / pack.labels.name} --domain {pack.name} --judge JUDGE")


def _describe(pack) -> dict:
    from ..rubric import load_rubric
    from ..scenarios import load_taxonomy

    rubric, taxonomy = load_rubric(pack.rubric), load_taxonomy(pack.taxonomy)
    return {
        "name": pack.name,
        "domain": rubric.domain or taxonomy.domain,
        "description": rubric.description,
        "criteria": len(rubric.criteria),
        "critical": [c.id for c in rubric.criteria if c.critical],
        "deterministic": [c.id for c in rubric.deterministic_criteria],
        "topics": len(taxonomy.topics),
        "edge_cases": len(taxonomy.edge_cases),
        "labelled_set": pack.labels.name if pack.labels else None,
    }


def _print_list(rows: list[dict]) -> None:
    from rich.table import Table

    from .common import stdout_console

    table = Table(title="Bundled domain packs (basesel init --domain NAME)", title_justify="left")
    for col in ("name", "domain", "criteria", "critical", "topics", "edge cases", "labels"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], r["domain"] or "-", str(r["criteria"]), ", ".join(r["critical"]) or "-", str(r["topics"]), str(r["edge_cases"]), r["labelled_set"] or "-")
    stdout_console().print(table)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
