"""One response, judged: the verdict schema, the judge prompt, K samples with retries, all through the
Executor. `basesel baseline` and `basesel judge calibrate` both call this, so a calibration measures
exactly the judge calls a baseline makes (same prompt, schema, seeds and cache keys)."""

from __future__ import annotations

from typing import Any, Callable

from ..models.base import ChatModel, GenerationParams, Message
from ..rubric.judge import JudgedCriterion, UnreadableVerdict, build_judge_messages, parse_verdicts, verdict_schema
from ..rubric.schema import Criterion, Rubric

# How a judge call that failed on the server's side (not an unreadable answer) starts in the problems log.
CALL_FAILED = "judge call failed"


_schemas: dict[tuple[int, tuple[str, ...]], tuple[Rubric, dict[str, Any]]] = {}


def _schema_for(rubric: Rubric, criteria: list[Criterion]) -> dict[str, Any]:
    """One schema object per rubric and set of criteria, so the cache key serialises it once a run
    (run/cache.py), not once a response. Callers never change it."""
    key = (id(rubric), tuple(c.id for c in criteria))
    hit = _schemas.get(key)
    if hit is None or hit[0] is not rubric:
        if len(_schemas) >= 256:
            _schemas.clear()
        hit = _schemas[key] = (rubric, verdict_schema(criteria))
    return hit[1]


async def judge_verdicts(
    executor: Any,
    judge: ChatModel,
    rubric: Rubric,
    criteria: list[Criterion],
    user_message: str,
    answer: str,
    system_prompt: str | None,
    facts: list[str],
    *,
    samples: int,
    retries: int,
    seed: int,
    params: Callable[[int], GenerationParams],
) -> tuple[list[dict[str, JudgedCriterion] | None], list[str]]:
    """K verdict samples (seed + 7919*k + attempt); an unreadable one is retried up to `retries` times and
    is None when it stays unreadable. Returns (samples, problems log)."""
    schema = _schema_for(rubric, criteria)
    messages = [Message(m["role"], m["content"]) for m in build_judge_messages(rubric, criteria, user_message, answer, system_prompt, facts)]
    out: list[dict[str, JudgedCriterion] | None] = []
    problems: list[str] = []
    for k in range(samples):
        verdicts = None
        for attempt in range(retries + 1):
            result = await executor.call(judge, messages, params(seed + 7919 * k + attempt), json_schema=schema, sample_index=k * 100 + attempt)
            if not result.ok:
                problems.append(f"{CALL_FAILED}: {result.error}")
                break  # transport retries are exhausted already
            try:
                verdicts = parse_verdicts(result.completion.text, criteria)
                break
            except UnreadableVerdict as exc:
                problems.append(f"unreadable verdict (sample {k}, attempt {attempt + 1}): {exc}")
        out.append(verdicts)
    return out, problems
