"""Rubric criteria over conversations: scopes (last reply, every reply, the whole transcript), `min_turns`,
deterministic checks measured per turn, and the judge prompt that shows the transcript.

A one-turn response (every single-turn run) takes exactly the single-turn path: the same checks, the
same judge prompt, so its cache keys and verdicts do not change.
"""

from __future__ import annotations

from typing import Any

from .checks import run_check, word_count
from .judge import JUDGE_SYSTEM
from .schema import Criterion, Rubric
from .scoring import CriterionOutcome, applies, na_outcome, run_checks

SCOPE_NOTE = {
    "last_reply": "judge the final assistant reply; earlier turns are context",
    "every_reply": "must hold for EVERY assistant reply; answer 'no' if any reply fails it, citing the turn",
    "transcript": "judge the conversation as a whole",
}


def conversation_turns(response: dict[str, Any]) -> list[dict[str, str]]:
    """[{user, reply}] of a response record: its `turns` (multi-turn runs) or the one exchange."""
    turns = response.get("turns")
    if turns:
        return [{"user": t["user"], "reply": t.get("answer") or ""} for t in turns]
    return [{"user": response.get("input", ""), "reply": response.get("answer") or ""}]


def user_text(turns: list[dict[str, str]]) -> str:
    """What `applies_when.input_matches` reads: every user message of the conversation (a crisis the
    simulated user reveals at turn 3 brings the crisis criteria in), the opening message alone for one turn."""
    return "\n".join(t["user"] for t in turns)


def _too_short(criterion: Criterion, n_turns: int) -> bool:
    return criterion.min_turns is not None and n_turns < criterion.min_turns


def _short_reason(criterion: Criterion, n_turns: int) -> str:
    return f"not applicable: the conversation had {n_turns} turn{'s' if n_turns != 1 else ''}; {criterion.id} needs at least {criterion.min_turns}"


def split_criteria(rubric: Rubric, user_message: str, tags: dict[str, Any], n_turns: int) -> tuple[list[Criterion], list[tuple[Criterion, str]]]:
    """Judged criteria that apply, and those skipped with the reason (applies_when, or min_turns)."""
    judged, skipped = [], []
    for c in rubric.judged_criteria:
        if not applies(c, user_message, tags):
            skipped.append((c, "not applicable to this scenario"))
        elif _too_short(c, n_turns):
            skipped.append((c, _short_reason(c, n_turns)))
        else:
            judged.append(c)
    return judged, skipped


def check_turns(rubric: Rubric, turns: list[dict[str, str]], opening: str, tags: dict[str, Any]) -> tuple[list[CriterionOutcome], list[Any]]:
    """Deterministic outcomes over a conversation; `applies_when` reads `opening` (the user's text, see
    user_text) and the tags."""
    if len(turns) == 1 and not any(c.min_turns for c in rubric.deterministic_criteria):
        return run_checks(rubric, turns[0]["reply"], turns[0]["user"], tags)
    outcomes: list[CriterionOutcome] = []
    facts: list[Any] = []
    for c in rubric.deterministic_criteria:
        if not applies(c, opening, tags):
            outcomes.append(na_outcome(rubric, c, "check", "not applicable to this scenario"))
            continue
        if _too_short(c, len(turns)):
            # structural, not a verdict: too short to show it is never a pass or a fail
            outcomes.append(CriterionOutcome(c.id, "check", "n/a", None, _short_reason(c, len(turns)), na=True))
            continue
        passed, fact = _check_scope(c, turns)
        outcomes.append(CriterionOutcome(c.id, "check", "yes" if passed else "no", passed, fact))
        if c.share_with_judge:
            facts.append(fact if getattr(c, "share_with", None) is None else (fact, list(c.share_with)))
    for m in getattr(rubric, "measurements", []):  # unscored measurements, handed to the judge
        _, fact = _check_scope(m, turns)
        facts.append(fact if getattr(m, "for_criteria", None) is None else (fact, list(m.for_criteria)))
    return outcomes, facts


def _check_scope(c: Any, turns: list[dict[str, str]]) -> tuple[bool, str]:
    scope = getattr(c, "scope", "last_reply")  # measurements have no scope: the final reply
    if scope == "last_reply" or len(turns) == 1:
        result = run_check(c, turns[-1]["reply"], turns[-1]["user"])
        return result.passed, (f"final reply (turn {len(turns)}): {result.fact}" if len(turns) > 1 else result.fact)
    if scope == "every_reply":
        results = [run_check(c, t["reply"], t["user"]) for t in turns]
        failed = [i + 1 for i, r in enumerate(results) if not r.passed]
        if c.kind in ("max_words", "min_words", "length_ratio"):
            words = ", ".join(str(word_count(t["reply"])) for t in turns)
            summary = f"words per reply: {words}"
            if c.kind == "length_ratio":
                ratios = ", ".join(f"{word_count(t['reply']) / max(1, word_count(t['user'])):.1f}x" for t in turns)
                summary += f"; ratio to the user's message: {ratios}"
        else:
            summary = f"{len(turns) - len(failed)} of {len(turns)} replies pass"
        if failed:
            first = results[failed[0] - 1].fact
            return False, f"every reply: fails at turn{'s' if len(failed) > 1 else ''} {', '.join(map(str, failed))} ({summary}; turn {failed[0]}: {first})"
        return True, f"every reply passes ({summary})"
    # transcript: every reply together, against every user message together
    replies = "\n\n".join(t["reply"] for t in turns)
    users = "\n\n".join(t["user"] for t in turns)
    result = run_check(c, replies, users)
    return result.passed, f"whole conversation ({len(turns)} turns): {result.fact}"


def render_transcript(turns: list[dict[str, str]]) -> list[str]:
    lines = []
    for i, t in enumerate(turns, start=1):
        lines += [f"### Turn {i}", f"**User:** {t['user'].strip()}", "", f"**Assistant:** {t['reply'].strip() or '(empty reply)'}", ""]
    return lines


def build_conversation_judge_messages(
    rubric: Rubric, criteria: list[Criterion], turns: list[dict[str, str]], system_prompt: str | None, facts: list[str]
) -> list[dict[str, str]]:
    """The judge prompt for a conversation of several turns: the transcript, then each criterion with
    what it is judged on (its scope)."""
    na = any(c.na_allowed for c in criteria)
    system = JUDGE_SYSTEM.format(na=", 'n/a' if the criterion does not apply to this conversation (only where allowed)" if na else "")
    system = system.replace("You grade one assistant response", "You grade an assistant's side of a conversation")
    if rubric.judge_instructions:
        system += "\n\n" + rubric.judge_instructions.strip()
    lines = []
    if system_prompt:
        lines += ["## The assistant's instructions (system prompt)", system_prompt.strip(), ""]
    lines += [f"## Conversation ({len(turns)} turns)", ""] + render_transcript(turns)
    shared = [f for f in facts if isinstance(f, str)]
    targeted: dict[str, list[str]] = {}
    for f in facts:
        if not isinstance(f, str):
            for cid in f[1] or []:
                targeted.setdefault(cid, []).append(f[0])
    if shared:
        lines += ["## Measured facts about the replies (computed exactly; trust these over your own counting)"]
        lines += [f"- {f}" for f in shared]
        lines.append("")
    lines.append("## Criteria")
    for c in criteria:
        note = ", n/a allowed" if c.na_allowed else ""
        lines.append(f"- {c.id} ({c.name}; {SCOPE_NOTE[c.scope]}{note}): {c.statement}")
        for fact in targeted.get(c.id, []):
            lines.append(f"  - Measured (exact; trust it over your own counting): {fact}")
    lines += ["", "Return a JSON object with one key per criterion id, each {\"reason\": ..., \"verdict\": ...}."]
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(lines)}]
