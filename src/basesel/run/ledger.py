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

import json
from pathlib import Path
from typing import Any

from .files import _atomic_replace, read_jsonl


def compact_records(run_dir: Path, names: list[str]) -> None:
    for name in names:
        path = run_dir / name
        if not path.is_file():
            continue
        records = list(read_jsonl(path))
        latest: dict[tuple[str, int], dict[str, Any]] = {}
        for r in records:
            latest[(r.get("scenario_id"), r.get("sample", 0))] = r  # type: ignore[index]
        if len(latest) == len(records):
            continue
        current = {id(r) for r in latest.values()}
        superseded = [r for r in records if id(r) not in current]
        with path.with_name(path.name.removesuffix(".jsonl") + ".superseded.jsonl").open("a", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in superseded)
        order: dict[tuple[str, int], int] = {}
        for r in records:
            order.setdefault((r.get("scenario_id"), r.get("sample", 0)), len(order))  # type: ignore[arg-type]
        kept = sorted(latest.items(), key=lambda kv: order[kv[0]])
        _atomic_replace(path, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for _, r in kept).encode("utf-8"))


def call_ledger(run_dir: Path) -> dict[str, Any]:
    """Model calls behind the run directory's current records (answers and judge calls), split into
    those a model answered and those the shared cache answered."""
    from .baseline import ASSESSMENTS, RESPONSES

    answers = {"called": 0, "from_cache": 0, "errored": 0}
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    for r in read_jsonl(run_dir / RESPONSES):
        latest[(r["scenario_id"], r.get("sample", 0))] = r
    for r in latest.values():
        if "error" in r:
            answers["errored"] += 1
        else:
            answers["from_cache" if r.get("cached") else "called"] += 1
    verdicts = {"called": 0, "from_cache": 0}
    judged: dict[tuple[str, int], dict[str, Any]] = {}
    for r in read_jsonl(run_dir / ASSESSMENTS):
        judged[(r["scenario_id"], r.get("sample", 0))] = r
    for r in judged.values():
        calls = r.get("judge_calls") or {}
        verdicts["called"] += calls.get("called", 0)
        verdicts["from_cache"] += calls.get("cached", 0)
    return {"answers": answers, "judge_calls": verdicts}
