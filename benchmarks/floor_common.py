"""What the floor clients share: the verdict schema, and basesel's own slot order (verdicts before
answers when both wait), so the floor schedules its calls exactly as basesel does. No client library."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from basesel.run.slots import PrioritySlots

SLOTS = 8
VERDICT = {"type": "object", "properties": {"reason": {"type": "string"}, "verdict": {"type": "string", "enum": ["yes", "no", "n/a"]}}, "required": ["reason", "verdict"], "additionalProperties": False}
SCHEMA = {"type": "object", "properties": {f"CS{i}": VERDICT for i in range(1, 8)}, "required": [f"CS{i}" for i in range(1, 8)], "additionalProperties": False}
VERDICT_PRIORITY, ANSWER_PRIORITY = 0, 1  # lower goes first, as basesel orders them
# In a calls file, where the verdict request's user message takes the answer the server gave.
ANSWER_PLACEHOLDER = "\x00ANSWER\x00"


def new_slots(size: int = SLOTS) -> PrioritySlots:
    return PrioritySlots(size)


def load_calls(path: str | Path) -> list[dict[str, Any]]:
    """A calls file (benchmarks/bench_scale.py writes one): per scenario, the answer request and the
    verdict request exactly as basesel sends them, the verdict's user message with ANSWER_PLACEHOLDER
    where the answer goes (the answer itself comes from the server, as in basesel)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
