"""The floor for the cold-run benchmarks: the official `openai` SDK alone making the same calls as basesel.

No basesel beyond its slot order (run/slots.py), no files, no grading: import the SDK, send the answer
requests and, as each answer arrives, its verdict request (a JSON-schema response format, as the
judge's), at most CONCURRENCY in flight, verdicts first when both wait, then end the process without
interpreter teardown (as basesel's entry does). Whatever this takes, process start included, no
SDK-based client can beat on this machine.

    python benchmarks/sdk_floor_client.py http://127.0.0.1:PORT/v1          # 50 scenarios, 8 slots
    python benchmarks/sdk_floor_client.py URL --calls calls.json --concurrency 64   # basesel's exact requests
    python benchmarks/sdk_floor_client.py URL --calls calls.json --post    # through client.post, as basesel sends them
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import openai

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from floor_common import ANSWER_PLACEHOLDER, ANSWER_PRIORITY, SCHEMA, SLOTS, VERDICT_PRIORITY, load_calls, new_slots  # noqa: E402


def default_calls(n: int = 50) -> list[dict]:
    """The small benchmark's calls: short fixed prompts, a 7-criterion verdict schema."""
    return [
        {
            "answer": {"messages": [{"role": "system", "content": "You are a support agent."}, {"role": "user", "content": f"My invoice {i} is wrong."}],
                       "max_tokens": 1024, "temperature": 0.7, "seed": 0},
            "verdict": {"messages": [{"role": "user", "content": "Grade this answer: " + ANSWER_PLACEHOLDER}], "schema": SCHEMA,
                        "max_tokens": 1024, "temperature": 0.0, "seed": 0},
        }
        for i in range(n)
    ]


async def main(base_url: str, calls: list[dict], concurrency: int, post: bool = False) -> None:
    client = openai.AsyncOpenAI(base_url=base_url, api_key="not-needed", max_retries=0)
    slots = new_slots(concurrency)

    async def create(**body) -> str:
        if post:  # the SDK's own request method, a dict back (what basesel's OpenAI backend calls)
            reply = await client.post("/chat/completions", body=body, cast_to=object)
            return reply["choices"][0]["message"]["content"] or ""
        reply = await client.chat.completions.create(**body)
        return reply.choices[0].message.content or ""

    async def scenario(call: dict) -> None:
        a, v = call["answer"], call["verdict"]
        async with slots.slot(ANSWER_PRIORITY):
            text = await create(model="stub", messages=a["messages"], max_tokens=a["max_tokens"], temperature=a["temperature"], seed=a["seed"])
        messages = [{**m, "content": m["content"].replace(ANSWER_PLACEHOLDER, text)} for m in v["messages"]]
        async with slots.slot(VERDICT_PRIORITY):
            await create(
                model="stub", messages=messages, max_tokens=v["max_tokens"], temperature=v["temperature"], seed=v["seed"],
                response_format={"type": "json_schema", "json_schema": {"name": "verdicts", "schema": v["schema"], "strict": True}},
            )

    await asyncio.gather(*(scenario(c) for c in calls))
    await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("base_url")
    parser.add_argument("--calls", help="a calls file (see floor_common.load_calls); default: the 50 small scenarios")
    parser.add_argument("--concurrency", type=int, default=SLOTS)
    parser.add_argument("--post", action="store_true", help="call client.post('/chat/completions', cast_to=object) instead of chat.completions.create")
    args = parser.parse_args()
    asyncio.run(main(args.base_url, load_calls(args.calls) if args.calls else default_calls(), args.concurrency, args.post))
    sys.stdout.flush()
    os._exit(0)
