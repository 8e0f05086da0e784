"""`basesel skill`: install the agent skill where coding agents load it, validate it, show what is installed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

skill_app = typer.Typer(
    name="skill",
    help="The agent skill (SKILL.md + skill/ references): install it for Claude Code and other Agent Skills readers, validate it, show what is installed.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]


def _console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)  # paths stay on one line


def _target(user: bool, project: bool, dest: Optional[Path]) -> tuple[str, Path]:
    from ..errors import UsageError
    from ..skill_install import project_location, resolve_dest, user_location

    if sum(bool(x) for x in (user, project, dest is not None)) > 1:
        raise UsageError("pick one place: --user, --project or --dest DIR", hint="e.g. basesel skill install --project")
    if dest is not None:
        return "dest", resolve_dest(dest)
    if project:
        return "project", project_location()
    return "user", user_location()


@skill_app.command("install")
def install(
    user: Annotated[bool, typer.Option("--user", help="Install for you, in ~/.claude/skills/base-model-selector/ (the default).")] = False,
    project: Annotated[bool, typer.Option("--project", help="Install for this project, in ./.claude/skills/base-model-selector/ (commit it to share it).")] = False,
    dest: Annotated[Optional[Path], typer.Option("--dest", help="Another skills directory (the skill goes in DIR/base-model-selector/), or the skill folder itself.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite files edited locally (or not written by basesel).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Copy SKILL.md and the skill/ reference files into an agent's skills folder.

    Idempotent: an up-to-date copy is left untouched. Refuses, writing nothing, when a file there was
    edited locally, unless --force.
    """
    from ..skill_install import install as do_install
    from ..skill_validate import validate_skill
    from .common import print_json, warn

    scope, folder = _target(user, project, dest)
    result = do_install(folder, force=force)
    check = validate_skill(folder)
    if as_json:
        print_json({**result.to_dict(), "scope": scope, "valid": check.ok, "problems": [p.to_dict() for p in check.problems]})
    else:
        console = _console()
        if result.wrote:
            console.print(f"installed base-model-selector {result.version} ({scope}) in {folder}", markup=False)
            for action in result.actions:
                if action.action != "unchanged":
                    console.print(f"  {action.action:<11} {action.path}{f'  ({action.reason})' if action.reason else ''}", markup=False)
        else:
            console.print(f"base-model-selector {result.version} is already installed and up to date in {folder}", markup=False)
        for action in result.actions:
            if action.action == "keep-edited":
                warn(f"{folder / action.path}: {action.reason}")
        for problem in check.problems:
            warn(f"{problem.where}: {problem.message}")
    if not check.ok:
        raise typer.Exit(1)


@skill_app.command("validate")
def validate(
    path: Annotated[Optional[Path], typer.Argument(help="A skill folder or its SKILL.md (default: the skill this CLI ships).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a skill against the Agent Skills format: frontmatter keys and limits, name = folder name, body size, links.

    Exit code 0 when valid (warnings allowed), 1 when any rule is broken.
    """
    from ..errors import ConfigError
    from ..paths import skill_source
    from ..skill_validate import validate_skill
    from .common import print_json

    target = path if path is not None else skill_source()
    if not target.exists():
        raise ConfigError(f"no such file or folder: {target}", hint="Pass a skill folder (holding SKILL.md) or a SKILL.md file.")
    result = validate_skill(target)
    if as_json:
        print_json(result.to_dict())
    else:
        from rich.markup import escape

        console = _console()
        for problem in result.problems:
            colour = "red" if problem.level == "error" else "yellow"
            console.print(f"[{colour}]{problem.level}:[/] {escape(problem.where)}: {escape(problem.message)}")
        for note in result.notes:
            console.print(f"note: {escape(note)}")
        verdict = "[green]valid[/]" if result.ok else f"[red]invalid[/] ({len(result.errors)} error(s))"
        details = f"name {result.name!r}, version {result.version}, body {result.body_lines} lines, files checked: {', '.join(result.checked_files)}"
        console.print(f"{escape(str(result.path))}: {verdict}; {escape(details)}")
    if not result.ok:
        raise typer.Exit(1)


@skill_app.command("show")
def show(
    dest: Annotated[Optional[Path], typer.Option("--dest", help="Also inspect this skills directory or skill folder.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Where the skill is installed (user, project), its version against this CLI's, and local edits."""
    from .. import __version__
    from ..paths import skill_source
    from ..skill_install import inspect_location, project_location, resolve_dest, user_location
    from .common import print_json

    places = [("user", user_location()), ("project", project_location())]
    if dest is not None:
        places.append(("dest", resolve_dest(dest)))
    infos = [inspect_location(scope, folder) for scope, folder in places]
    if as_json:
        print_json({"cli_version": __version__, "source": str(skill_source()), "locations": [i.to_dict(__version__) for i in infos]})
        return
    console = _console()
    console.print(f"basesel {__version__}; skill source: {skill_source()}", markup=False)
    for info in infos:
        console.print(f"{info.scope:<8} {info.path}: {info.status(__version__)}", markup=False)
        for rel in info.edited:
            console.print(f"         edited: {rel}", markup=False)
        for rel in info.missing:
            console.print(f"         missing: {rel}", markup=False)
    if not any(i.installed for i in infos):
        console.print("Install it with: basesel skill install --user   (or --project)", markup=False)
    elif any(i.installed and i.status(__version__) != "up to date" for i in infos):
        console.print("Update with: basesel skill install --user (or --project); add --force to replace edited files.", markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(skill_app, name="skill")
