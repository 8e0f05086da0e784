"""A run's records joined per scenario, read from disk one at a time.

Reports walk every scenario (its response and verdicts) of runs up to thousands of scenarios: instead
of loading responses.jsonl and assessments.jsonl whole, an index keeps only the byte offset of the
latest record per (scenario, sample) (a retried error supersedes the earlier line) and reads a record
when it is needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, BinaryIO, Iterator


class RecordIndex:
    """Offsets of the latest line per (scenario_id, sample) of one JSONL file; damaged lines are skipped
    (as `read_jsonl` does; `check_jsonl` reports them)."""

    def __init__(self, path: Path):
        self.path = path
        self.offsets: dict[tuple[str, int], int] = {}
        self._fh: BinaryIO | None = None
        if not path.exists():
            return
        with path.open("rb") as fh:
            offset = 0
            for raw in fh:
                record = _parse(raw)
                if record is not None and "scenario_id" in record:
                    self.offsets[(str(record["scenario_id"]), int(record.get("sample", 0)))] = offset
                offset += len(raw)

    def get(self, key: tuple[str, int]) -> dict[str, Any] | None:
        offset = self.offsets.get(key)
        if offset is None:
            return None
        if self._fh is None:
            self._fh = self.path.open("rb")
        self._fh.seek(offset)
        return _parse(self._fh.readline())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> RecordIndex:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def iter_scenarios(run_dir: Path) -> Iterator[dict[str, Any]]:
    """The run's scenarios in run order, as written to scenarios.jsonl ({"id", "input", **tags})."""
    from ..run.files import read_jsonl

    yield from read_jsonl(run_dir / "scenarios.jsonl")


def iter_joined(run_dir: Path, samples: int) -> Iterator[tuple[dict[str, Any], list[tuple[dict[str, Any] | None, dict[str, Any] | None]]]]:
    """(scenario, [(response, assessment) per sample]) for every scenario, one scenario in memory at a time."""
    from ..run.baseline import ASSESSMENTS, RESPONSES

    with RecordIndex(run_dir / RESPONSES) as responses, RecordIndex(run_dir / ASSESSMENTS) as assessments:
        for scenario in iter_scenarios(run_dir):
            sid = str(scenario.get("id"))
            yield scenario, [(responses.get((sid, k)), assessments.get((sid, k))) for k in range(samples)]
