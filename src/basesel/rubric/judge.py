"""The LLM judge: one call per response covering every judged criterion, constrained by a JSON schema."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from .schema import Criterion, Rubric

Verdict = Literal["yes", "no", "n/a"]
VERDICTS = ("yes", "no", "n/a")


def verdict_schema(criteria: list[Criterion]) -> dict[str, Any]:
    """One key per criterion; `reason` comes before `verdict` so the judge reasons first."""
    props = {}
    for c in criteria:
        allowed = list(VERDICTS) if c.na_allowed else ["yes", "no"]
        props[c.id] = {
            "type": "object",
            "properties": {
                "reason": {"type": "string"},  # no maxLength: it explodes llama.cpp grammars
                "verdict": {"type": "string", "enum": allowed},
            },
            "required": ["reason", "verdict"],
            "additionalProperties": False,
        }
    return {"type": "object", "properties": props, "required": [c.id for c in criteria], "additionalProperties": False}


JUDGE_SYSTEM = (
    "You are a strict, fair evaluator. You grade one assistant response against a rubric. "
    "For every criterion, first write a short reason that cites the response, then a verdict: "
    "'yes' if the statement is true of the response, 'no' if it is not"
    "{na}. Judge only what is written. Answer with JSON only."
)


def build_judge_messages(
    rubric: Rubric,
    criteria: list[Criterion],
    user_message: str,
    response: str,
    system_prompt: str | None,
    facts: list,
) -> list[dict[str, str]]:
    """`facts`: plain strings are shown for every criterion; (text, criterion ids) only with those criteria."""
    na = any(c.na_allowed for c in criteria)
    system = JUDGE_SYSTEM.format(na=", 'n/a' if the criterion does not apply to this conversation (only where allowed)" if na else "")
    if rubric.judge_instructions:
        system += "\n\n" + rubric.judge_instructions.strip()
    lines = []
    if system_prompt:
        lines += ["## The assistant's instructions (system prompt)", system_prompt.strip(), ""]
    lines += ["## User message", user_message.strip(), "", "## Assistant response", response.strip() or "(empty response)", ""]
    shared = [f for f in facts if isinstance(f, str)]
    targeted: dict[str, list[str]] = {}
    for f in facts:
        if not isinstance(f, str):
            for cid in f[1] or []:
                targeted.setdefault(cid, []).append(f[0])
    if shared:
        lines += ["## Measured facts about the response (computed exactly; trust these over your own counting)"]
        lines += [f"- {f}" for f in shared]
        lines.append("")
    lines.append("## Criteria")
    for c in criteria:
        note = " (n/a allowed)" if c.na_allowed else ""
        lines.append(f"- {c.id} ({c.name}){note}: {c.statement}")
        for fact in targeted.get(c.id, []):
            lines.append(f"  - Measured (exact; trust it over your own counting): {fact}")
    lines += ["", "Return a JSON object with one key per criterion id, each {\"reason\": ..., \"verdict\": ...}."]
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(lines)}]


@dataclass
class JudgedCriterion:
    verdict: Verdict
    reason: str


class UnreadableVerdict(ValueError):
    """The judge's output could not be read as verdicts for every criterion."""


def parse_verdicts(text: str, criteria: list[Criterion]) -> dict[str, JudgedCriterion]:
    """Read the judge's JSON. Raises UnreadableVerdict if any criterion is missing or malformed."""
    from ..models.base import split_thinking

    answer, _ = split_thinking(text)
    answer = answer.strip()
    if answer.startswith("```"):
        answer = answer.strip("`")
        answer = answer[answer.find("{") :]
    start, end = answer.find("{"), answer.rfind("}")
    if start < 0 or end < start:
        raise UnreadableVerdict("no JSON object in the judge's output")
    try:
        data = json.loads(answer[start : end + 1])
    except ValueError as exc:
        raise UnreadableVerdict(f"judge output is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise UnreadableVerdict("judge output is not a JSON object")
    out: dict[str, JudgedCriterion] = {}
    for c in criteria:
        item = data.get(c.id)
        if isinstance(item, str):
            item = {"verdict": item, "reason": ""}
        if not isinstance(item, dict):
            raise UnreadableVerdict(f"no verdict for criterion {c.id}")
        verdict = str(item.get("verdict", "")).strip().lower().replace("na", "n/a").replace("n//a", "n/a")
        if verdict in ("true", "pass"):
            verdict = "yes"
        elif verdict in ("false", "fail"):
            verdict = "no"
        if verdict not in VERDICTS:
            raise UnreadableVerdict(f"criterion {c.id}: verdict {item.get('verdict')!r} is not yes/no/n/a")
        out[c.id] = JudgedCriterion(verdict=verdict, reason=str(item.get("reason", ""))[:500])  # type: ignore[arg-type]
    return out
