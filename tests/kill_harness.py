"""Kill a real basesel process with SIGKILL at a chosen moment, then check what the next run of the same
command must keep. For any command that appends JSONL records (baseline; finetune and benchmark when
they write theirs) or keeps its progress in the response cache (scenarios --generator).

    killed = kill_at(cmd, cwd=..., env=..., when=lines_reached(run / "assessments.jsonl", 3), then_wait_s=0.02)
    snap = killed.snapshot  # the complete records of the watched files at the moment of the kill
    ... run the same command to the end ...
    assert_kept(snap, run, key=lambda r: (r["scenario_id"], r["sample"]))
    assert_clean_jsonl(run / "responses.jsonl")

The process runs in its own session and the whole group is killed (children such as a local Ray
instance go with it); `kill_at` never leaves it running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable


@dataclass
class Killed:
    killed: bool  # False: the command finished before the moment came
    returncode: int
    after_s: float  # how long it ran
    snapshot: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # file name -> complete records
    torn: dict[str, bool] = field(default_factory=dict)  # file name -> it ended in half a line
    at_kill: Any = None  # what `observe()` returned just before the kill (server counters, cache size ...)


def complete_records(path: Path) -> tuple[list[dict[str, Any]], bool]:
    """The records on complete lines (a line ends with a newline), and whether a torn line follows."""
    if not path.is_file():
        return [], False
    data = path.read_bytes()
    head, _, tail = data.rpartition(b"\n")
    lines = head.split(b"\n") if head else []
    return [json.loads(line) for line in lines if line.strip()], bool(tail.strip())


def count_lines(path: Path) -> int:
    try:
        with path.open("rb") as fh:
            return fh.read().count(b"\n")
    except FileNotFoundError:
        return 0


def lines_reached(path: Path, n: int) -> Callable[[], bool]:
    """A moment: `path` holds at least `n` complete lines (0: as soon as the process starts)."""
    return lambda: n <= 0 or count_lines(path) >= n


def kill_at(
    cmd: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    when: Callable[[], bool],
    then_wait_s: float = 0.0,
    watch: Iterable[Path] = (),
    observe: Callable[[], Any] | None = None,
    timeout_s: float = 120.0,
    poll_s: float = 0.002,
) -> Killed:
    """Start `cmd`; as soon as `when()` holds, wait `then_wait_s`, snapshot the `watch` files, and SIGKILL
    the process group. Returns what happened; the process is gone either way."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while proc.poll() is None and not when():
            if time.monotonic() - start > timeout_s:
                raise TimeoutError(f"{cmd[:4]} neither finished nor reached the kill moment in {timeout_s} s")
            time.sleep(poll_s)
        if proc.poll() is not None:
            return Killed(False, proc.returncode, time.monotonic() - start)
        if then_wait_s:
            time.sleep(then_wait_s)
        seen = observe() if observe is not None else None
        os.killpg(proc.pid, signal.SIGKILL)  # the moment: nothing is flushed, closed or handled after this
        proc.wait(timeout=30)
        killed = Killed(True, proc.returncode, time.monotonic() - start, at_kill=seen)
        for path in watch:
            killed.snapshot[path.name], killed.torn[path.name] = complete_records(path)
        return killed
    finally:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=30)


def kill_each_time(cmd: list[str], *, cwd: Path, env: dict[str, str], counted: Path, kills: Iterable[tuple[int, float]],
                   watch: Iterable[Path], observe: Callable[[], Any] | None = None) -> list[dict[str, list[dict[str, Any]]]]:
    """Run `cmd` once per (lines, wait) in `kills`, each time killed `wait` s after `counted` holds `lines`
    complete lines; returns the snapshots of the runs that were really killed (not finished first)."""
    watch = list(watch)
    snapshots = []
    for lines, wait in kills:
        killed = kill_at(cmd, cwd=cwd, env=env, when=lines_reached(counted, lines), then_wait_s=wait, watch=watch, observe=observe)
        if killed.killed:
            snapshots.append(killed.snapshot)
    return snapshots


def records_by_key(path: Path, key: Callable[[dict[str, Any]], Any]) -> dict[Any, list[dict[str, Any]]]:
    out: dict[Any, list[dict[str, Any]]] = {}
    records, _ = complete_records(path)
    for r in records:
        out.setdefault(key(r), []).append(r)
    return out


def assert_kept(snapshot: dict[str, list[dict[str, Any]]], folder: Path, key: Callable[[dict[str, Any]], Any], *, ignore: tuple[str, ...] = ()) -> None:
    """Every record a killed run had finished is in the final file, unchanged (fields in `ignore` aside)."""
    for name, records in snapshot.items():
        final = records_by_key(folder / name, key)
        for r in records:
            got = final.get(key(r))
            assert got, f"{name}: the record for {key(r)} finished before the kill is gone"
            strip = lambda d: {k: v for k, v in d.items() if k not in ignore}  # noqa: E731
            assert strip(got[-1]) == strip(r), f"{name}: the record for {key(r)} changed after the kill"


def assert_one_per_key(path: Path, key: Callable[[dict[str, Any]], Any]) -> None:
    """No result was written twice: one record per key, and nothing was set aside as superseded."""
    counts = {k: len(v) for k, v in records_by_key(path, key).items()}
    dups = {k: n for k, n in counts.items() if n > 1}
    assert not dups, f"{path.name}: written more than once: {dups}"
    superseded = path.with_name(path.name.removesuffix(".jsonl") + ".superseded.jsonl")
    assert not superseded.exists(), f"{superseded.name} exists: a result was redone after the kill"


def assert_clean_jsonl(path: Path) -> None:
    """No torn line left: the file ends with a newline, every line is a JSON object, nothing set aside as damaged."""
    data = path.read_bytes()
    assert data.endswith(b"\n"), f"{path.name} ends in half a line"
    for lineno, line in enumerate(data.split(b"\n")[:-1], start=1):
        assert isinstance(json.loads(line), dict), f"{path.name}:{lineno} is not a JSON object"
    assert not path.with_name(path.name + ".damaged").exists(), f"{path.name}.damaged exists"
