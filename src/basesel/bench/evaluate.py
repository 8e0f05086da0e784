"""One item under one condition: build the prompt, call the model through the Executor, grade.

Every record says what was asked (shots, shortfall), what came back, and how it was graded; an output
that is no valid answer is `invalid` and counted wrong; a call that failed is an `error` (redone on
resume, left out of the metric and counted)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from ..models.base import ChatModel, GenerationParams, Message
from . import cuad
from .loading import Item, TaskData
from .metrics import best_token_f1
from .prompts import INVALID, Shots, build_messages, demo_answer, extract_code, output_schema, parse_extraction, parse_label, render, select_shots

OUTPUT_KEEP = 2000  # characters of each output kept in the record (the report shows them)


@dataclass
class Context:
    executor: Any
    constrain: bool = True
    unsafe_code: bool = False
    judge: ChatModel | None = None
    rubric: Any = None
    seed: int = 0
    sandbox_limits: dict[str, Any] = field(default_factory=lambda: {"timeout_s": 10, "memory_mb": 512})


def _params(data: TaskData, seed: int) -> GenerationParams:
    return GenerationParams(temperature=0.0, max_tokens=data.task.max_tokens, seed=seed)


def _labels_text(data: TaskData) -> str:
    return ", ".join(data.labels or [])


def _user_text(data: TaskData, row: dict[str, Any], **extra: Any) -> str:
    return render(data.task, row, labels=_labels_text(data), **extra)


def demos_for(data: TaskData, shots: Shots) -> list[tuple[str, str]]:
    task, out = data.task, []
    for demo in shots.items:
        answer = demo_answer(task, demo)
        if answer is None:
            continue
        if task.kind == "extraction" and task.windows is not None and task.fields.context:
            text = cuad.demo_context(demo.row, task.fields.context, task.fields.answers or "answers")
            out.append((_user_text(data, demo.row, **{task.fields.context: text}), answer))
        else:
            out.append((_user_text(data, demo.row), answer))
    return out


async def evaluate(ctx: Context, model: ChatModel, data: TaskData, item: Item, k: int, order: list[Item]) -> dict[str, Any]:
    task = data.task
    shots = select_shots(order, k, item, task) if k else Shots([], 0)
    demos = demos_for(data, shots) if k else []
    record: dict[str, Any] = {"item_id": item.id, "shots": [d.id for d in shots.items][: len(demos)], "shots_wanted": k, "shortfall": k - len(demos)}
    schema = output_schema(task, data.labels) if ctx.constrain else None
    if task.kind == "extraction" and task.windows is not None and task.fields.context:
        return record | await _windowed(ctx, model, data, item, demos, schema)
    messages = build_messages(task, _user_text(data, item.row), demos)
    result = await ctx.executor.call(model, messages, _params(data, ctx.seed), json_schema=schema)
    if not result.ok:
        return record | {"error": result.error, "gold": _gold(data, item)}
    c = result.completion
    record |= {"output": c.text[:OUTPUT_KEEP], "latency_s": round(c.latency_s, 4), "usage": {"prompt_tokens": c.usage.prompt_tokens, "completion_tokens": c.usage.completion_tokens},
               "cached": result.cached, "finish_reason": c.finish_reason, "truncated": c.truncated, "gold": _gold(data, item)}
    return record | await _grade(ctx, data, item, c.text)


def _gold(data: TaskData, item: Item) -> Any:
    if data.task.kind == "classification":
        return item.label
    if data.task.kind == "extraction":
        return item.answers
    return None


async def _grade(ctx: Context, data: TaskData, item: Item, text: str) -> dict[str, Any]:
    task = data.task
    if task.kind == "classification":
        pred = parse_label(text, data.labels or [])
        return {"pred": pred, "invalid": pred == INVALID, "correct": pred == item.label, "score": float(pred == item.label)}
    if task.kind == "extraction":
        parsed = parse_extraction(text)
        if parsed is None:
            return {"pred": "", "invalid": True, "correct": False, "score": 0.0, "pred_present": not item.answers, "gold_present": bool(item.answers), "detect_score": 0.0}
        present, answer = parsed
        f1 = best_token_f1(answer, item.answers)
        return {"pred": answer, "invalid": False, "correct": f1 == 1.0, "score": f1, "pred_present": present, "gold_present": bool(item.answers), "detect_score": float(present)}
    if task.kind == "code":
        return await _run_code(ctx, task, item, text)
    return await _rubric(ctx, item, text)


async def _windowed(ctx: Context, model: ChatModel, data: TaskData, item: Item, demos: list[tuple[str, str]], schema: dict | None) -> dict[str, Any]:
    task = data.task
    assert task.windows is not None and task.fields.context
    text = str(item.row.get(task.fields.context) or "")
    spans = cuad.windows(text, task.windows.size_chars, task.windows.overlap_chars)

    async def one(span: tuple[int, int]):
        messages = build_messages(task, _user_text(data, item.row, **{task.fields.context: text[span[0] : span[1]]}), demos)
        return await ctx.executor.call(model, messages, _params(data, ctx.seed), json_schema=schema)

    results = await asyncio.gather(*(one(s) for s in spans))
    failed = [r for r in results if not r.ok]
    if failed:
        return {"error": failed[0].error, "gold": item.answers, "windows": len(spans)}
    answers, outputs = [], []
    for r in results:
        parsed = parse_extraction(r.completion.text)
        answers.append(cuad.WindowAnswer(False, "", valid=False) if parsed is None else cuad.WindowAnswer(*parsed))
        outputs.append(r.completion.text[:300])
    agg = cuad.aggregate(answers)
    all_invalid = agg.invalid_windows == agg.windows
    f1 = 0.0 if all_invalid else best_token_f1(agg.answer, item.answers)
    comps = [r.completion for r in results]
    return {
        "gold": item.answers, "pred": agg.answer, "windows": agg.windows, "invalid_windows": agg.invalid_windows, "invalid": all_invalid,
        "pred_present": (not item.answers) if all_invalid else agg.present, "gold_present": bool(item.answers), "detect_score": agg.score,
        "correct": (not all_invalid) and f1 == 1.0, "score": f1, "output": " | ".join(outputs)[:OUTPUT_KEEP],
        "latency_s": round(sum(c.latency_s for c in comps), 4), "cached": all(r.cached for r in results),
        "usage": {"prompt_tokens": sum(c.usage.prompt_tokens for c in comps), "completion_tokens": sum(c.usage.completion_tokens for c in comps)},
        "truncated": any(c.truncated for c in comps), "finish_reason": comps[-1].finish_reason,
    }


async def _run_code(ctx: Context, task: Any, item: Item, text: str) -> dict[str, Any]:
    from .sandbox import run_untrusted

    code = extract_code(text)
    tests = "\n".join("\n".join(map(str, v)) if isinstance(v, list) else str(v or "") for v in (item.row.get(f) for f in task.fields.tests))
    if not code:
        return {"pred": "", "invalid": True, "correct": False, "score": 0.0, "sandbox": "no code"}
    result = await asyncio.to_thread(run_untrusted, code, tests, unsafe=ctx.unsafe_code, **ctx.sandbox_limits)
    detail = getattr(result, "detail", "") or (result.stderr or "").strip()
    if result.status == "refused":
        return {"error": f"sandbox refused to run the code: {detail[:300]} (pass --unsafe-code to run it without isolation)", "sandbox": "refused"}
    if result.status == "error":  # the sandbox itself failed, not the model's code: redo on resume
        return {"error": f"sandbox error: {detail[:300]}", "sandbox": "error"}
    return {"pred": code[:OUTPUT_KEEP], "invalid": False, "correct": bool(result.passed), "score": float(bool(result.passed)), "sandbox": result.status,
            "sandbox_detail": detail[-400:], "sandbox_isolation": getattr(result, "isolation", None)}


async def _rubric(ctx: Context, item: Item, text: str) -> dict[str, Any]:
    from ..models.base import split_thinking
    from ..rubric.scoring import applies, assess, run_checks
    from ..run.judging import judge_verdicts

    rubric, judge = ctx.rubric, ctx.judge
    answer, _ = split_thinking(text)
    user = str(item.row.get("input") or "")
    checks, facts = run_checks(rubric, answer, user, {})
    judged = [c for c in rubric.judged_criteria if applies(c, user, {})]
    skipped = [c for c in rubric.judged_criteria if c not in judged]
    samples: list[Any] = []
    if judged:
        samples, _problems = await judge_verdicts(ctx.executor, judge, rubric, judged, user, answer, None, facts, samples=1, retries=2, seed=ctx.seed,
                                                  params=lambda s: GenerationParams(temperature=0.0, max_tokens=1024, seed=s))
    a = assess(rubric, item.id, 0, checks, judged, samples, skipped)
    if not a.scored:
        return {"error": f"unscored: {a.unscored_reason}", "pred": answer[:OUTPUT_KEEP]}
    return {"pred": answer[:OUTPUT_KEEP], "invalid": False, "correct": bool(a.passed), "score": float(bool(a.passed)), "rubric_score": a.score,
            "failed_criteria": [o.id for o in a.outcomes if o.passed is False]}


def message_dicts(messages: list[Message]) -> list[dict[str, str]]:
    return [m.to_dict() for m in messages]
