"""The floor for `basesel benchmark`'s speed target: the official `openai` SDK alone making the same
classification calls (same messages, the same label-set JSON schema, same sampling), 16 in flight,
nothing written, then exit without interpreter teardown (as basesel's entry does).

    python benchmarks/sdk_floor_benchmark_client.py http://127.0.0.1:PORT/v1 tickets.jsonl LABELS CONCURRENCY
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import openai


async def main(base_url: str, rows_path: str, labels: list[str], concurrency: int) -> None:
    # basesel retries a dropped connection (its executor); the floor does too, with the SDK's own retry, so a
    # rare loopback reset on a busy machine fails neither side
    client = openai.AsyncOpenAI(base_url=base_url, api_key="not-needed", max_retries=2)
    rows = [json.loads(line) for line in open(rows_path, encoding="utf-8") if line.strip()]
    schema = {"type": "object", "properties": {"label": {"type": "string", "enum": labels}}, "required": ["label"], "additionalProperties": False}
    slots = asyncio.Semaphore(concurrency)

    async def one(row: dict) -> None:
        text = f"{row['input']}\n\nAnswer with one label from: {', '.join(labels)}."
        async with slots:
            out = await client.chat.completions.create(
                model="stub", messages=[{"role": "user", "content": text}], temperature=0.0, max_tokens=32, seed=0,
                response_format={"type": "json_schema", "json_schema": {"name": "verdicts", "schema": schema, "strict": True}},
            )
        json.loads(out.choices[0].message.content or "{}")

    await asyncio.gather(*(one(r) for r in rows))
    await client.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3].split(","), int(sys.argv[4])))
    sys.stdout.flush()
    os._exit(0)
