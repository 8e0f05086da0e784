"""What the two floor clients share: the verdict schema, and basesel's own slot order (verdicts before
answers when both wait), so the floor schedules its calls exactly as basesel does. No client library."""

from __future__ import annotations

from basesel.run.slots import PrioritySlots

SLOTS = 8
VERDICT = {"type": "object", "properties": {"reason": {"type": "string"}, "verdict": {"type": "string", "enum": ["yes", "no", "n/a"]}}, "required": ["reason", "verdict"], "additionalProperties": False}
SCHEMA = {"type": "object", "properties": {f"CS{i}": VERDICT for i in range(1, 8)}, "required": [f"CS{i}" for i in range(1, 8)], "additionalProperties": False}
VERDICT_PRIORITY, ANSWER_PRIORITY = 0, 1  # lower goes first, as basesel orders them


def new_slots() -> PrioritySlots:
    return PrioritySlots(SLOTS)
