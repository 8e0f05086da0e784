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
        "3 fine-tune (50-70%), 4 full pipeline (<50%), 5 inconclusive, 6 nothing scored, 7 provisional (untrustworthy judge), "
        "8 safety block (do not deploy), 1 error, 2 usage.\n\n"
        "In a project set up with `basesel init`, ./basesel.yaml gives every command its defaults (domain, judge ...); flags win."
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
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """basesel: measured evidence for choosing and fine-tuning a base model.

    In a project initialised with `basesel init`, ./basesel.yaml supplies defaults to every command
    (domain or rubric/taxonomy, judge, system prompt ...); flags on the command line win.
    """
    from ..settings import apply_settings

    apply_settings(ctx)


def _register() -> None:
    from . import baseline, report, scenarios

    app.command("baseline")(baseline.baseline)
    app.command("scenarios")(scenarios.scenarios)
    app.command("report")(report.report)
    for optional in ("research", "models", "pull", "skill", "judge", "init", "compare", "finetune", "benchmark"):
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

    Typer/click (standalone mode) handle usage errors (exit 2) and `typer.Exit` codes themselves; the
    exit code is kept here for the exit handler that ends the process without teardown.
    """
    status = _skip_teardown_at_exit()
    try:
        _run_app()
        status.code = 0
    except SystemExit as exc:
        status.code = exc.code
        raise
    except KeyboardInterrupt:
        status.code = 130  # 128 + SIGINT, as the shell reports an interrupted command
        raise


def _run_app() -> None:
    from ..errors import BaseselError, ExitCode

    _load_dotenv()
    try:
        app()
    except BaseselError as exc:
        from .common import print_error

        print_error(exc)
        sys.exit(int(exc.exit_code))
    except Exception as exc:  # noqa: BLE001 - last line of defence against tracebacks
        if os.environ.get("BASESEL_DEBUG"):
            raise
        print(f"basesel: internal error: {type(exc).__name__}: {exc}\nSet BASESEL_DEBUG=1 to see the traceback, and please report it.", file=sys.stderr)
        sys.exit(int(ExitCode.ERROR))


class _ExitStatus:
    code: object = 1  # an exception that escapes run() exits with 1


def _skip_teardown_at_exit() -> _ExitStatus:
    """End the process as soon as every exit handler has run, skipping the interpreter's teardown.

    Once an SDK is loaded, tearing down its thousands of classes costs ~0.2 s after the work is done
    and every file is closed (docs/benchmarks.md). Registered first, this handler runs last (atexit
    runs in reverse), after the handlers of anything imported later; it flushes what teardown would.
    Where a handler was registered before the entry (coverage's data writer ...), teardown stays."""
    import atexit

    status = _ExitStatus()
    if not _owns_the_process() or getattr(atexit, "_ncallbacks", lambda: 1)() > 0:
        return status  # a caller that carries on (a test runner), or a handler registered before us

    def exit_now() -> None:
        if "logging" in sys.modules:
            sys.modules["logging"].shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        code = status.code
        os._exit(0 if code is None else code if isinstance(code, int) else 1)

    atexit.register(exit_now)
    return status


def _owns_the_process() -> bool:
    """run() is this process's entry: the `basesel` script or `python -m basesel`."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name == "basesel.__main__":
        return True
    return os.path.splitext(os.path.basename(getattr(main, "__file__", None) or ""))[0] == "basesel"


def _load_dotenv() -> None:
    """API keys may live in ./.env; variables already set win. Values are only ever read from the
    environment, never written to run directories, caches, logs or documents."""
    from pathlib import Path

    if Path(".env").is_file():
        from dotenv import load_dotenv

        load_dotenv(Path(".env"), override=False)
