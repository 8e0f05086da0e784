"""The floor for the cold-run benchmark: the official `openai` SDK alone making the same 100 calls.

No basesel beyond its slot order (run/slots.py), no files, no grading: import the SDK, send 50 answer requests and, as each answer
arrives, its verdict request (a JSON-schema response format, as the judge's), 8 in flight at most,
verdicts first when both wait, then end the process without interpreter teardown (as basesel's entry
does). Whatever this takes, process start included, no SDK-based client can beat on this machine.

    python benchmarks/sdk_floor_client.py http://127.0.0.1:PORT/v1
"""

from __future__ import annotations

import asyncio
import os
import sys

import openai

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from floor_common import ANSWER_PRIORITY, SCHEMA, VERDICT_PRIORITY, new_slots  # noqa: E402


async def main(base_url: str) -> None:
    client = openai.AsyncOpenAI(base_url=base_url, api_key="not-needed", max_retries=0)
    slots = new_slots()

    async def scenario(i: int) -> None:
        async with slots.slot(ANSWER_PRIORITY):
            answer = await client.chat.completions.create(
                model="stub", messages=[{"role": "system", "content": "You are a support agent."}, {"role": "user", "content": f"My invoice {i} is wrong."}],
                max_tokens=1024, temperature=0.7, seed=0,
            )
        async with slots.slot(VERDICT_PRIORITY):
            await client.chat.completions.create(
                model="stub", messages=[{"role": "user", "content": "Grade this answer: " + (answer.choices[0].message.content or "")}],
                max_tokens=1024, temperature=0.0, seed=0,
                response_format={"type": "json_schema", "json_schema": {"name": "verdicts", "schema": SCHEMA, "strict": True}},
            )

    await asyncio.gather(*(scenario(i) for i in range(50)))
    await client.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    sys.stdout.flush()
    os._exit(0)
