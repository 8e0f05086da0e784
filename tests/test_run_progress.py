"""Progress of a baseline run: plain periodic lines off a terminal, phases and the error count in one."""

from __future__ import annotations

import io
import re
import time

from rich.console import Console

from basesel.cli.progress import run_progress


def test_plain_lines_when_stderr_is_not_a_terminal(monkeypatch):
    monkeypatch.setenv("BASESEL_PROGRESS_EVERY", "0.05")
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    with run_progress(console) as update:
        for stage in ("answers", "verdicts", "errors"):
            update(stage, 0, 4)
        for i in range(1, 5):
            update("answers", i, 4)
            time.sleep(0.06)
            update("verdicts", i, 4)
        update("errors", 1, 4)
    lines = out.getvalue().splitlines()
    assert len(lines) >= 3 and all(line.startswith("progress: ") for line in lines)
    assert re.fullmatch(r"progress: answers 4/4, verdicts 4/4, errors 1, elapsed \d+s, ETA 0s", lines[-1])
    assert any(re.search(r"ETA \d+s", line) for line in lines[:-1])


def test_a_terminal_shows_the_answer_and_judge_phases_and_the_error_count():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with run_progress(console) as update:
        update("answers", 3, 4)
        update("errors", 2, 4)
        update("verdicts", 2, 4)
    text = out.getvalue()
    assert "answers" in text and "verdicts (2 errors)" in text and "progress:" not in text
