"""What the two floor clients share: the verdict schema and the slot order (no imports of any client library)."""

from __future__ import annotations

import asyncio
import heapq
import itertools

SLOTS = 8
VERDICT = {"type": "object", "properties": {"reason": {"type": "string"}, "verdict": {"type": "string", "enum": ["yes", "no", "n/a"]}}, "required": ["reason", "verdict"], "additionalProperties": False}
SCHEMA = {"type": "object", "properties": {f"CS{i}": VERDICT for i in range(1, 8)}, "required": [f"CS{i}" for i in range(1, 8)], "additionalProperties": False}


class Slots:
    """At most SLOTS requests in flight; waiters go in priority order (0 = verdicts, before answers)."""

    def __init__(self) -> None:
        self.active = 0
        self.waiting: list[tuple[int, int, asyncio.Future]] = []
        self.order = itertools.count()

    async def take(self, priority: int) -> None:
        if self.active < SLOTS and not self.waiting:
            self.active += 1
            return
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self.waiting, (priority, next(self.order), future))
        await future

    def give(self) -> None:
        if self.waiting:
            heapq.heappop(self.waiting)[2].set_result(None)  # the slot passes straight on
        else:
            self.active -= 1
