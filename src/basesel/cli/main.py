"""Entry point. Command modules import only typer at load time, so `--help` stays fast."""

from __future__ import annotations

import os
import sys

import typer

from .. import __version__

app = typer.Typer(
    name="basesel",
    help=(
        "Is the base model already good enough, and will fine-tuning fix it?\n\n"
        "Steps: research -> scenarios -> baseline -> report. Exit codes of `baseline`: 0 sufficient (>=70%), "
        "3 fine-tune (50-70%), 4 full pipeline (<50%), 5 inconclusive, 6 nothing scored, 1 error, 2 usage."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        print(f"basesel {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """basesel: measured evidence for choosing and fine-tuning a base model."""


def _register() -> None:
    from . import baseline, report, scenarios

    app.command("baseline")(baseline.baseline)
    app.command("scenarios")(scenarios.scenarios)
    app.command("report")(report.report)
    for optional in ("research", "models", "pull", "skill", "judge", "init"):
        try:
            module = __import__(f"basesel.cli.{optional}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"basesel.cli.{optional}":
                raise
            continue
        module.register(app)


_register()


def run() -> None:
    """Console-script entry: user errors print a message (what, where, what to do), never a traceback.

    Typer/click (standalone mode) handle usage errors (exit 2) and `typer.Exit` codes themselves.
    """
    from ..errors import BaseselError, ExitCode

    _load_dotenv()
    try:
        app()
    except BaseselError as exc:
        from .common import print_error

        print_error(exc)
        sys.exit(int(ExitCode.ERROR))
    except Exception as exc:  # noqa: BLE001 - last line of defence against tracebacks
        if os.environ.get("BASESEL_DEBUG"):
            raise
        print(f"basesel: internal error: {type(exc).__name__}: {exc}\nSet BASESEL_DEBUG=1 to see the traceback, and please report it.", file=sys.stderr)
        sys.exit(int(ExitCode.ERROR))


def _load_dotenv() -> None:
    """API keys may live in ./.env; variables already set win. Values are only ever read from the
    environment, never written to run directories, caches, logs or documents."""
    from pathlib import Path

    if Path(".env").is_file():
        from dotenv import load_dotenv

        load_dotenv(Path(".env"), override=False)
