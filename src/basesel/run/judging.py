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
    raw_replies: list[dict[str, Any]] | None = None,
    calls: dict[str, int] | None = None,
    turns: list[dict[str, str]] | None = None,
) -> tuple[list[dict[str, JudgedCriterion] | None], list[str]]:
    """K verdict samples (seed + 7919*k + attempt); an unreadable one is retried up to `retries` times and
    is None when it stays unreadable. Returns (samples, problems log). An unreadable reply is never
    cached (a fixed judge is asked again) and, with `raw_replies`, is kept there for diagnosis.
    `calls` counts the judge calls answered by a model ("called") and by the cache ("cached").
    `turns` ([{user, reply}], several): the judge reads the conversation (rubric/turns.py); one turn is
    judged exactly as a single-turn response."""
    schema = _schema_for(rubric, criteria)

    def readable(completion) -> bool:
        try:
            parse_verdicts(completion.text, criteria)
            return True
        except UnreadableVerdict:
            return False

    if turns is not None and len(turns) > 1:
        from ..rubric.turns import build_conversation_judge_messages

        built = build_conversation_judge_messages(rubric, criteria, turns, system_prompt, facts)
    else:
        built = build_judge_messages(rubric, criteria, user_message, answer, system_prompt, facts)
    messages = [Message(m["role"], m["content"]) for m in built]
    out: list[dict[str, JudgedCriterion] | None] = []
    problems: list[str] = []
    for k in range(samples):
        verdicts = None
        for attempt in range(retries + 1):
            result = await executor.call(judge, messages, params(seed + 7919 * k + attempt), json_schema=schema, sample_index=k * 100 + attempt, accept=readable)
            if calls is not None:
                calls["cached" if result.cached else "called"] = calls.get("cached" if result.cached else "called", 0) + 1
            if not result.ok:
                problems.append(f"{CALL_FAILED}: {result.error}")
                break  # transport retries are exhausted already
            try:
                verdicts = parse_verdicts(result.completion.text, criteria)
                break
            except UnreadableVerdict as exc:
                problems.append(f"unreadable verdict (sample {k}, attempt {attempt + 1}): {exc}")
                if raw_replies is not None:
                    c = result.completion
                    raw_replies.append({"judge_sample": k, "attempt": attempt + 1, "error": str(exc), "finish_reason": c.finish_reason, "text": c.text})
        out.append(verdicts)
    return out, problems
