"""Helpers shared by commands: consoles, error printing, option parsing."""

from __future__ import annotations

import sys
from typing import Any

from ..errors import BaseselError, UsageError


def stderr_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)  # no hard wraps inside paths and URLs


def stdout_console():
    from rich.console import Console

    return Console(highlight=False)


def print_error(exc: BaseselError) -> None:
    from rich.markup import escape

    console = stderr_console()
    where = f"{exc.where}: " if exc.where else ""
    console.print(f"[bold red]error:[/] {escape(where + exc.message)}")
    if exc.hint:
        console.print(f"[yellow]what to do:[/] {escape(exc.hint)}")


def warn(message: str) -> None:
    from rich.markup import escape

    stderr_console().print(f"[yellow]warning:[/] {escape(message)}")


def parse_options(pairs: list[str] | None, flag: str) -> dict[str, Any]:
    """`--option key=value` pairs -> dict, with ints/floats/bools converted."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} expects key=value, got '{pair}'", hint=f"Example: {flag} n_ctx=8192")
        out[key.strip()] = _coerce(raw.strip())
    return out


def _coerce(raw: str) -> Any:
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw


def print_json(data: Any) -> None:
    import json

    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
