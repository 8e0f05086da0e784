"""The scenario record and its JSONL file format."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

INPUT_KEYS = ("input", "message", "prompt", "text")


@dataclass
class Scenario:
    id: str
    input: str
    tags: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "input": self.input, **self.tags}


def load_scenarios(path: Path) -> list[Scenario]:
    """JSONL: the user message under input/message/prompt/text, optional id (else the line number),
    every other field kept as a tag."""
    from ..yamlio import read_text

    # utf-8-sig: a byte-order mark (Windows editors) is dropped
    lines = read_text(path, "scenarios file", hint="Pass an existing JSONL file to --scenarios.", encoding="utf-8-sig").splitlines()
    scenarios: list[Scenario] = []
    seen: set[str] = set()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"line is not valid JSON: {exc}", where=f"{path}:{lineno}", hint="Each line must be one JSON object.") from exc
        if not isinstance(row, dict):
            raise ConfigError("line is not a JSON object", where=f"{path}:{lineno}")
        key = next((k for k in INPUT_KEYS if isinstance(row.get(k), str) and row[k].strip()), None)
        if key is None:
            raise ConfigError(
                "no user message on this line",
                where=f"{path}:{lineno}",
                hint=f"Put the message under one of: {', '.join(INPUT_KEYS)}.",
            )
        text = row.pop(key)
        sid = str(row.pop("id", lineno))
        if sid in seen:
            raise ConfigError(f"duplicate scenario id '{sid}'", where=f"{path}:{lineno}", hint="Scenario ids must be unique.")
        seen.add(sid)
        scenarios.append(Scenario(id=sid, input=text, tags=row))
    if not scenarios:
        raise ConfigError(f"scenarios file {path} holds no scenarios", hint="Generate some with `basesel scenarios`.")
    return scenarios


def write_scenarios(scenarios: list[Scenario], path: Path) -> None:
    from ..run.files import atomic_write_text

    atomic_write_text(path, "".join(json.dumps(s.to_dict(), ensure_ascii=False) + "\n" for s in scenarios))


def scenarios_hash(scenarios: list[Scenario]) -> str:
    h = hashlib.sha256()
    for s in scenarios:
        h.update(json.dumps(s.to_dict(), sort_keys=True, ensure_ascii=False).encode())
    return h.hexdigest()
