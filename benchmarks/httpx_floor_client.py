"""For comparison only: the calls of sdk_floor_client.py made through `httpx` alone, without the openai SDK.

basesel does not do this (the foundation issue asks for the official SDK); the script measures what a raw
HTTP client for local servers would save, for whoever decides between the SDK and the cold-run target.

    python benchmarks/httpx_floor_client.py http://127.0.0.1:PORT/v1
"""

from __future__ import annotations

import asyncio
import os
import sys

import httpx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from floor_common import ANSWER_PRIORITY, SCHEMA, VERDICT_PRIORITY, new_slots  # noqa: E402


async def main(base_url: str) -> None:
    client = httpx.AsyncClient(base_url=base_url, timeout=120)
    slots = new_slots()

    async def chat(body: dict) -> dict:
        response = await client.post("/chat/completions", json=body)
        response.raise_for_status()
        return response.json()

    async def scenario(i: int) -> None:
        async with slots.slot(ANSWER_PRIORITY):
            answer = await chat({"model": "stub", "messages": [{"role": "system", "content": "You are a support agent."}, {"role": "user", "content": f"My invoice {i} is wrong."}],
                                 "max_tokens": 1024, "temperature": 0.7, "seed": 0})
        async with slots.slot(VERDICT_PRIORITY):
            await chat({"model": "stub", "messages": [{"role": "user", "content": "Grade this answer: " + (answer["choices"][0]["message"]["content"] or "")}],
                        "max_tokens": 1024, "temperature": 0.0, "seed": 0,
                        "response_format": {"type": "json_schema", "json_schema": {"name": "verdicts", "schema": SCHEMA, "strict": True}}})

    await asyncio.gather(*(scenario(i) for i in range(50)))
    await client.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    sys.stdout.flush()
    os._exit(0)
