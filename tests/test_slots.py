"""The per-endpoint limit: never more than `size` holders, waiters served by priority then arrival."""

from __future__ import annotations

import asyncio

import pytest

from basesel.run.slots import PrioritySlots


def test_waiters_are_served_by_priority_then_in_arrival_order():
    async def scenario() -> list[str]:
        slots = PrioritySlots(1)
        order: list[str] = []
        release_first = asyncio.Event()

        async def holder() -> None:
            async with slots.slot():
                await release_first.wait()

        async def waiter(name: str, priority: int) -> None:
            async with slots.slot(priority):
                order.append(name)

        first = asyncio.create_task(holder())
        await asyncio.sleep(0)
        tasks = [asyncio.create_task(waiter(n, p)) for n, p in [("answer-a", 1), ("verdict-a", 0), ("answer-b", 1), ("verdict-b", 0)]]
        await asyncio.sleep(0)
        release_first.set()
        await asyncio.gather(first, *tasks)
        return order

    assert asyncio.run(scenario()) == ["verdict-a", "verdict-b", "answer-a", "answer-b"]


def test_never_more_holders_than_slots_and_cancelled_waiters_give_their_turn_back():
    async def scenario() -> tuple[int, int]:
        slots = PrioritySlots(3)
        active = peak = 0

        async def work(i: int) -> None:
            nonlocal active, peak
            async with slots.slot(i % 2):
                active += 1
                peak = max(peak, active)
                await asyncio.sleep(0.001)
                active -= 1

        tasks = [asyncio.create_task(work(i)) for i in range(30)]
        await asyncio.sleep(0)
        for t in tasks[10:15]:  # waiting ones, cancelled before their turn
            t.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert sum(isinstance(r, asyncio.CancelledError) for r in results) == 5
        # every slot came back: three more holders get in at once
        async with slots.slot(), slots.slot(), slots.slot():
            free = slots.size - slots._in_use
        return peak, free

    peak, free = asyncio.run(scenario())
    assert peak == 3 and free == 0


def test_size_must_be_positive():
    with pytest.raises(ValueError):
        PrioritySlots(0)
