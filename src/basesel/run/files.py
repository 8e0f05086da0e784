"""Crash-safe files: atomic replace for whole files, flushed appends for JSONL records.

Failures the user can fix (the path is a directory, a folder on the way is a file, no permission,
a damaged run file) are raised as `ConfigError`s that name the path.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..errors import ConfigError


def blocking_file(path: Path) -> Path | None:
    """The file (not directory) that sits where `path` or one of its folders should be."""
    return next((p for p in [path, *path.parents] if p.exists() and not p.is_dir()), None)


def write_error(path: Path, exc: OSError, *, what: str = "") -> ConfigError:
    """A ConfigError for an OSError met while writing `path` (or making its folders)."""
    target = f"{what} {path}" if what else str(path)
    if isinstance(exc, IsADirectoryError):
        return ConfigError(f"cannot write {target}: it is a directory", hint=f"Pass a file path (for example {path / 'NAME'}), or move that directory away.")
    if isinstance(exc, (NotADirectoryError, FileExistsError)):
        blocker = blocking_file(path) or Path(exc.filename or path)
        return ConfigError(f"cannot write {target}: {blocker} is a file, not a directory", hint=f"Choose a path whose folders are directories, or move the file {blocker} away.")
    if isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
        where = exc.filename or path.parent
        return ConfigError(f"cannot write {target}: {exc.strerror or 'permission denied'}", hint=f"Choose a writable location, or fix the permissions of {where}.")
    return ConfigError(f"cannot write {target}: {exc.strerror or exc}", hint="Check that the disk has space and the location is writable.")


def ensure_dir(path: Path, *, what: str = "directory") -> Path:
    """mkdir -p, with a ConfigError naming the path when it cannot be made (a file in the way, no permission)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file in the way (`path` itself or a folder on the way), no permission ...
        raise write_error(path, exc, what=what) from exc
    return path


def atomic_write_text(path: Path, text: str) -> None:
    try:
        _atomic_write_text(path, text)
    except OSError as exc:
        raise write_error(path, exc) from exc


def _atomic_write_text(path: Path, text: str) -> None:
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_replace(path, text.encode("utf-8"))


def _atomic_replace(path: Path, data: bytes) -> None:
    """Write beside the file, fsync, then rename over it: readers see the old file or the new, never half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


class JsonlAppender:
    """Appends one JSON record per line, each written to the file as it comes, so a killed run keeps every
    finished record.

    Each record goes to the kernel in one write (`kill -9` then loses none: the page cache holds it).
    fsync, which only matters if the machine itself goes down, runs at most every `sync_every_s` and on
    close: one per record blocked the event loop ~10,000 times in a 5,000-scenario run (docs/benchmarks.md).
    Opening it repairs the file: a torn final line (a killed write) is dropped, and damaged lines in
    the middle (not a JSON object) are moved to `<name>.damaged`, so those samples are simply redone."""

    def __init__(self, path: Path, *, sync_every_s: float = 1.0):
        self.path = path
        self.sync_every_s = sync_every_s
        self._synced = time.monotonic()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _truncate_partial_last_line(path)
            _set_aside_damaged_lines(path)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        except OSError as exc:
            raise write_error(path, exc) from exc

    def write(self, record: dict[str, Any]) -> None:
        data = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:  # a regular file takes it in one write; a short one (a full disk ...) continues
            view = view[os.write(self._fd, view) :]
        now = time.monotonic()
        if now - self._synced >= self.sync_every_s:
            os.fsync(self._fd)
            self._synced = now

    def close(self) -> None:
        if self._fd < 0:
            return
        try:
            os.fsync(self._fd)
        finally:
            os.close(self._fd)
            self._fd = -1


def _truncate_partial_last_line(path: Path) -> None:
    """A process killed mid-write can leave half a line; drop it so appends start clean."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("r+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        # find the last newline, reading back in blocks (never the whole file)
        pos = size
        while pos > 0:
            start = max(0, pos - 65536)
            fh.seek(start)
            block = fh.read(pos - start)
            i = block.rfind(b"\n")
            if i >= 0:
                fh.truncate(start + i + 1)
                return
            pos = start
        fh.truncate(0)


def _parse_line(raw: bytes) -> dict[str, Any] | None:
    """One JSONL record, or None when the line is damaged (not UTF-8, not JSON, not an object)."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError is a ValueError too
        return None
    return record if isinstance(record, dict) else None


def _set_aside_damaged_lines(path: Path) -> None:
    """Streamed: one pass to find damaged lines, a second (only when there are some) to split the file."""
    if not path.is_file():
        return
    with path.open("rb") as fh:
        if not any(raw.strip() and _parse_line(raw) is None for raw in fh):
            return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with path.open("rb") as src, os.fdopen(fd, "wb") as kept, path.with_name(path.name + ".damaged").open("ab") as damaged:
            for raw in src:
                if raw.strip():
                    (kept if _parse_line(raw) is not None else damaged).write(raw)
            kept.flush()
            os.fsync(kept.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a JSONL file; damaged lines (a torn final line from a killed run, bytes that are
    not UTF-8, anything but a JSON object) are skipped. `check_jsonl` reports them instead."""
    if not path.exists():
        return
    with path.open("rb") as fh:
        for raw in fh:
            if not raw.strip():
                continue
            record = _parse_line(raw)
            if record is not None:
                yield record


def rerun_hint(run_dir: Path) -> str:
    """How to rewrite a run directory's files: resume the run (lower case, to follow other advice)."""
    return f"re-run `basesel baseline` with the same flags and --out {run_dir}: it resumes, keeping every finished response and verdict."


def check_jsonl(path: Path, what: str, keys: Iterable[str] = (), *, hint: str | None = None) -> int:
    """Raise a ConfigError naming `path:line` for the first damaged record; returns the number of records.

    A torn final line (no newline: a run killed mid-write) is tolerated, as `read_jsonl` skips it and a
    resumed run drops it. Keys listed in `keys` must be present in every record."""
    if not path.exists():
        return 0
    keys = tuple(keys)
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from exc
    with fh:
        return _check_lines(fh, path, what, keys, hint)


def _check_lines(fh: Any, path: Path, what: str, keys: tuple[str, ...], hint: str | None) -> int:
    count = 0
    for lineno, raw in enumerate(fh, start=1):
        if not raw.strip():
            continue
        torn = not raw.endswith(b"\n")  # only the last line can lack its newline
        record = _parse_line(raw)
        if record is None:
            if torn:
                continue
            raise ConfigError(
                f"{what} is damaged: line {lineno} is not a complete JSON record",
                where=f"{path}:{lineno}",
                hint=hint or f"R{rerun_hint(path.parent)[1:]} It moves damaged lines to {path.name}.damaged and redoes those samples.",
            )
        missing = [k for k in keys if k not in record]
        if missing:
            raise ConfigError(
                f"{what} line {lineno} is not a basesel record (no {', '.join(repr(k) for k in missing)})",
                where=f"{path}:{lineno}",
                hint=f"Delete that line (it was not written by `basesel baseline`), then {rerun_hint(path.parent)}",
            )
        count += 1
    return count


def read_json(path: Path, what: str, *, hint: str | None = None) -> Any:
    """json.loads of a file, with ConfigErrors that name the file: unreadable, not UTF-8, not valid JSON
    (a damaged or cut-short file)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}", hint=hint) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path} is damaged: it is not UTF-8 text (bad byte at offset {exc.start})", hint=hint or "Save it as UTF-8.") from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{what} {path} is damaged or cut short: not valid JSON ({exc})", hint=hint) from exc


def read_json_object(path: Path, what: str, *, hint: str | None = None) -> dict[str, Any]:
    """`read_json` of a file whose top level must be an object (summary.json, growth.json)."""
    data = read_json(path, what, hint=hint)
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is damaged: the top level is {type(data).__name__}, not an object", hint=hint)
    return data
