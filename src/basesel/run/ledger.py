"""What a run directory's record files hold, and what its calls cost.

`responses.jsonl` and `assessments.jsonl` are appended to while a run works (a killed run keeps every
finished record); a retried error or a re-judged verdict adds a later record for the same (scenario,
sample). When a run finishes, each file is compacted to **one current record per (scenario, sample)**,
in first-seen order; the records it replaced go to `<name>.superseded.jsonl`. Readers take the last
record per key either way, so a file left mid-run by a kill reads the same.

The call ledger counts from those current records, so it adds up across any number of resumes:
answers called + answers from the cache = responses; the same for judge calls.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from .files import _parse_line, read_jsonl


def _key(record: dict[str, Any]) -> tuple[Any, Any]:
    return (record.get("scenario_id"), record.get("sample", 0))


def compact_records(run_dir: Path, names: list[str]) -> None:
    """Streamed, one line at a time: a pass to find each key's current (last) record, and only when
    some are superseded, a second that writes the current ones (first-seen order) beside the file and
    appends the others to `<name>.superseded.jsonl`, then replaces the file."""
    for name in names:
        path = run_dir / name
        if not path.is_file():
            continue
        latest: dict[tuple[Any, Any], int] = {}  # key -> line number of its current record; first-seen order
        records = 0
        with path.open("rb") as fh:
            for lineno, raw in enumerate(fh):
                record = _parse_line(raw) if raw.strip() else None
                if record is not None:
                    latest[_key(record)] = lineno
                    records += 1
        if len(latest) == records:
            continue
        current = set(latest.values())
        offsets: dict[int, int] = {}  # line number -> byte offset, for the current records only
        superseded = path.with_name(path.name.removesuffix(".jsonl") + ".superseded.jsonl")
        with path.open("rb") as fh, superseded.open("ab") as old:
            offset = 0
            for lineno, raw in enumerate(fh):
                if raw.strip() and _parse_line(raw) is not None:
                    if lineno in current:
                        offsets[lineno] = offset
                    else:
                        old.write(raw if raw.endswith(b"\n") else raw + b"\n")
                offset += len(raw)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with path.open("rb") as src, os.fdopen(fd, "wb") as out:
                for lineno in latest.values():
                    src.seek(offsets[lineno])
                    raw = src.readline()
                    out.write(raw if raw.endswith(b"\n") else raw + b"\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def call_ledger(run_dir: Path) -> dict[str, Any]:
    """Model calls behind the run directory's current records (answers and judge calls), split into
    those a model answered and those the shared cache answered. Streamed: per key, only its outcome."""
    from .baseline import ASSESSMENTS, RESPONSES

    answer_of: dict[tuple[str, int], str] = {}
    for r in read_jsonl(run_dir / RESPONSES):
        answer_of[(r["scenario_id"], r.get("sample", 0))] = "errored" if "error" in r else "from_cache" if r.get("cached") else "called"
    answers = {"called": 0, "from_cache": 0, "errored": 0}
    for outcome in answer_of.values():
        answers[outcome] += 1
    judged: dict[tuple[str, int], tuple[int, int]] = {}
    for r in read_jsonl(run_dir / ASSESSMENTS):
        calls = r.get("judge_calls") or {}
        judged[(r["scenario_id"], r.get("sample", 0))] = (calls.get("called", 0), calls.get("cached", 0))
    verdicts = {"called": sum(c for c, _ in judged.values()), "from_cache": sum(c for _, c in judged.values())}
    return {"answers": answers, "judge_calls": verdicts}
