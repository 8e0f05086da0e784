"""A rich progress bar on stderr, driven by (stage, done, total) callbacks."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator


@contextmanager
def progress_bar(console, disable: bool = False) -> Iterator[Callable[[str, int, int], None]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=disable,
        transient=False,
    ) as progress:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        def rename(stage: str, label: str) -> None:
            if stage in tasks:
                progress.update(tasks[stage], description=label)

        update.rename = rename  # type: ignore[attr-defined]
        yield update


# Seconds between plain progress lines when stderr is not a terminal (CI logs, nohup).
PLAIN_EVERY_S = 30.0


@contextmanager
def run_progress(console) -> Iterator[Callable[[str, int, int], None]]:
    """Progress of a baseline run, fed ("answers" | "verdicts" | "errors", done, total).

    In a terminal: a bar per phase (answers, verdicts) with the error count beside the verdicts.
    Elsewhere (a CI log, nohup): one plain line every BASESEL_PROGRESS_EVERY seconds (default 30) and
    a last one at the end, e.g. `progress: answers 40/50, verdicts 31/50, errors 2, elapsed 1m05s, ETA 21s`."""
    if console.is_terminal:
        with progress_bar(console) as bar:
            errors = {"n": 0}

            def update(stage: str, done: int, total: int) -> None:
                if stage == "errors":
                    errors["n"] = done
                    return
                label = "verdicts" if stage == "verdicts" else stage
                if stage == "verdicts" and errors["n"]:
                    label = f"verdicts ({errors['n']} errors)"
                bar(stage, done, total)
                _rename(bar, stage, label)

            yield update
        return
    yield from _plain_lines(console)


def _rename(bar, stage: str, label: str) -> None:
    rename = getattr(bar, "rename", None)
    if rename is not None:
        rename(stage, label)


def _plain_lines(console) -> Iterator[Callable[[str, int, int], None]]:
    import os
    import threading
    import time

    every = float(os.environ.get("BASESEL_PROGRESS_EVERY") or PLAIN_EVERY_S)
    state = {"answers": 0, "verdicts": 0, "errors": 0, "total": 0}
    start = time.monotonic()
    first_verdicts: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def line() -> str:
        with lock:
            a, v, e, total = state["answers"], state["verdicts"], state["errors"], state["total"]
        elapsed = time.monotonic() - start
        base = first_verdicts[0] if first_verdicts else 0
        done_now = v - base
        eta = "-" if done_now <= 0 or total <= v else _duration(elapsed / done_now * (total - v))
        return f"progress: answers {a}/{total}, verdicts {v}/{total}, errors {e}, elapsed {_duration(elapsed)}, ETA {eta if v < total else '0s'}"

    def tick() -> None:
        while not stop.wait(every):
            console.print(line(), markup=False, highlight=False)

    def update(stage: str, done: int, total: int) -> None:
        with lock:
            state[stage] = done
            state["total"] = total
            if stage == "verdicts" and not first_verdicts:
                first_verdicts.append(done)

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield update
    finally:
        stop.set()
        thread.join(timeout=5)
        console.print(line(), markup=False, highlight=False)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    m, s = divmod(seconds, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"
