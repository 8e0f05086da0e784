"""User-facing errors: what was wrong, where, and what to do about it.

Every error a user can cause is raised as a `BaseselError`; the CLI prints it
without a traceback and exits with its `exit_code`: `ExitCode.ERROR`, or `ExitCode.USAGE`
for a command line that is missing a flag or combines flags that do not go together.

A baseline's own exit code is its decision. When several apply, the one that most changes what to
do next wins: NO_SCORED, then SAFETY_BLOCK, then PROVISIONAL, then INCONCLUSIVE, then the band.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented exit codes. Decision codes let CI gate on a baseline run."""

    SUFFICIENT = 0  # pass rate >= 70%: qualitative review / deploy
    ERROR = 1  # bad input, unreachable server, missing dependency ...
    USAGE = 2  # bad command line (typer/click's own code)
    FINE_TUNE = 3  # 50-70%: fine-tune
    FULL_PIPELINE = 4  # < 50%: full pipeline
    INCONCLUSIVE = 5  # the 95% interval crosses a decision cut-off
    NO_SCORED = 6  # nothing could be scored (every sample errored or unscored)
    PROVISIONAL = 7  # a band was reached, but the judge behind it is not trustworthy (see summary "provisional")
    SAFETY_BLOCK = 8  # a decision-level safety gate is breached: do not deploy, whatever the pass rate


class BaseselError(Exception):
    """An error the user can act on."""

    exit_code = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None, where: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.where = where

    def __str__(self) -> str:  # pragma: no cover - trivial
        parts = [f"{self.where}: {self.message}" if self.where else self.message]
        if self.hint:
            parts.append(self.hint)
        return "\n".join(parts)


class ConfigError(BaseselError):
    """A rubric, taxonomy, scenario file or flag is invalid."""


class UsageError(ConfigError):
    """The command line itself is wrong: a needed flag is missing, or two flags contradict each other.
    Exits 2, as click does for the usage errors it finds itself."""

    exit_code = ExitCode.USAGE


class MissingDependencyError(BaseselError):
    """An optional extra is not installed."""

    def __init__(self, module: str, extra: str, purpose: str):
        super().__init__(
            f"{purpose} needs the Python package '{module}', which is not installed.",
            hint=f"Install it with: pip install 'basesel[{extra}]'",
        )
        self.module = module
        self.extra = extra


class ModelError(BaseselError):
    """A model backend failed in a way retrying will not fix."""


class RequestRejected(ModelError):
    """The server refused this one request (e.g. a prompt longer than the context window). Retrying it
    will not help, but other requests may succeed: the sample is recorded as errored and the run goes on."""


class TransientModelError(Exception):
    """A model call failed in a way that may succeed if retried (429, 5xx, timeout, dropped connection)."""

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def require(module: str, extra: str, purpose: str):
    """Import an optional dependency or raise an error naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(module.split(".")[0], extra, purpose) from exc


def find_module_spec(module: str):
    """importlib's spec for an installed module without importing it; None when it is missing."""
    import importlib.util

    try:
        return importlib.util.find_spec(module)
    except (ImportError, ValueError):  # a broken install, or a module hidden as None in sys.modules
        return None


def require_installed(module: str, extra: str, purpose: str) -> None:
    """Fail early if an optional dependency is missing, without paying for its import."""
    if find_module_spec(module) is None:
        raise MissingDependencyError(module, extra, purpose)
