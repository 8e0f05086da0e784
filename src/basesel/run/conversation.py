"""Multi-turn conversations: the candidate talks with a simulated user for a number of turns.

Turn 1 is the scenario's opening message, so the candidate's first reply is exactly the single-turn
call (same messages, same cache key). After each reply the simulated user (`--user-sim`, pinned
temperature and seed) writes the next message, playing the persona the scenario's tags describe; it
may end the conversation with the stop token. Every call goes through the run's one Executor (cache,
limits, retries). Each finished turn is appended to turns.jsonl at once, so a killed run resumes
mid-conversation; the finished conversation becomes one record in responses.jsonl.

Stop reasons: turn_limit, user_ended, simulator_error. A conversation the simulator could not continue
is not graded (never counted against the candidate) and is tried again on the next run of the same --out.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import ConfigError
from ..models import ChatModel, GenerationParams, Message, split_thinking
from ..models.base import rough_token_count
from .executor import Executor

TURNS = "turns.jsonl"
STOP_TOKEN = "###STOP###"
TURN_LIMIT, USER_ENDED, SIMULATOR_ERROR = "turn_limit", "user_ended", "simulator_error"
MAX_TURNS = 100

SIMULATOR_SYSTEM = """You play a user talking to an AI assistant, so that the assistant can be tested. Stay in character as this person for the whole conversation.

## Who you are
{persona}

## Your opening message (already sent)
{opening}

## How to play
- Write only your next message to the assistant: first person, in the same voice, style and length as your opening message. No labels, no quotation marks, no stage directions.
- Reveal your situation gradually: answer what the assistant asked, and add at most one new detail per message. Do not tell everything at once.
- Never invent what the assistant did not say: react only to what is actually in its replies, and never claim it said, promised or suggested something it did not.
- You are the user, not the assistant: do not give advice, do not summarise the conversation, do not thank it at every turn.
- When your concern is settled, you have nothing more to say, or the assistant has ended the conversation, reply with exactly {stop} and nothing else."""


def parse_turns(value: Any, where: str = "--turns") -> tuple[int, int]:
    """'5' or 5 -> (5, 5); '3-6' -> (3, 6)."""
    text = str(value).strip()
    m = re.fullmatch(r"(\d+)(?:\s*(?:-|\.\.|to)\s*(\d+))?", text)
    if not m:
        raise ConfigError(f"{where}: '{text}' is not a number of turns", hint="Write N (e.g. 5) or a range MIN-MAX (e.g. 3-6).")
    lo = int(m.group(1))
    hi = int(m.group(2) or lo)
    if lo < 1 or hi < lo or hi > MAX_TURNS:
        raise ConfigError(f"{where}: turns {text} must satisfy 1 <= MIN <= MAX <= {MAX_TURNS}", hint="For example 3-6, or 1 for single-turn.")
    return lo, hi


def draw_turns(turns: tuple[int, int], scenario_id: str, seed: int) -> int:
    """The turn count of one scenario: fixed for a seed, independent of the other scenarios."""
    lo, hi = turns
    return lo if lo == hi else random.Random(f"{seed}:{scenario_id}").randint(lo, hi)


def scenario_turns(tags: dict[str, Any], flag: str | None, scenario_id: str, seed: int) -> int:
    """--turns wins; else the scenario's own `turns` (written by `basesel scenarios` from the taxonomy's
    turn ranges, or by hand: N or MIN-MAX); else 1 (single-turn)."""
    if flag:
        return draw_turns(parse_turns(flag), scenario_id, seed)
    if tags.get("turns") not in (None, ""):
        return draw_turns(parse_turns(tags["turns"], where=f"scenario {scenario_id}: turns"), scenario_id, seed)
    return 1


_PERSONA_SKIP = {"turns", "source", "id", "input", "sample"}


def persona(tags: dict[str, Any], notes: dict[str, str] | None = None) -> str:
    """The simulated user's persona, from the scenario's tags (topic, subtopic, style, dimensions) and
    the taxonomy's descriptions of those values where it has them."""
    notes = notes or {}
    lines = []
    if tags.get("edge_case"):
        lines.append(f"- This conversation tests a hard case: {str(tags['edge_case']).replace('_', ' ')}. Keep it that kind of case.")
    if tags.get("topic") and tags.get("topic") != "edge_case":
        about = str(tags["topic"]) + (f" / {tags['subtopic']}" if tags.get("subtopic") else "")
        lines.append(f"- What you came about: {about.replace('_', ' ')}")
    if tags.get("style") and tags.get("style") != "edge":
        note = notes.get(f"style:{tags['style']}")
        lines.append(f"- How you write: {tags['style']}" + (f" ({note})" if note else ""))
    hidden = notes.get(f"details:{tags.get('topic')}/{tags.get('subtopic')}")
    if hidden:
        lines.append(f"- More of your situation, to reveal one piece at a time and only when it fits the conversation: {hidden}")
    for key, value in tags.items():
        if key in _PERSONA_SKIP or key in ("topic", "subtopic", "style", "edge_case") or isinstance(value, (dict, list)):
            continue
        note = notes.get(f"{key}:{value}")
        lines.append(f"- {key.replace('_', ' ')}: {value}" + (f" ({note})" if note else ""))
    return "\n".join(lines) or "- An ordinary user of this assistant."


def transcript_text(turns: list[dict[str, Any]]) -> str:
    return "\n\n".join(f"USER: {t['user'].strip()}\n\nASSISTANT: {(t.get('answer') or '').strip()}" for t in turns)


def simulator_messages(tags: dict[str, Any], opening: str, turns: list[dict[str, Any]], max_turns: int, notes: dict[str, str] | None = None) -> list[Message]:
    system = SIMULATOR_SYSTEM.format(persona=persona(tags, notes), opening=opening.strip(), stop=STOP_TOKEN)
    user = (
        f"The conversation so far:\n\n{transcript_text(turns)}\n\n"
        f"Write your next message (turn {len(turns) + 1} of at most {max_turns}), or {STOP_TOKEN} to end the conversation."
    )
    return [Message("system", system), Message("user", user)]


_LABEL_RE = re.compile(r"^\s*(?:\*\*)?(?:user|me|you)(?:\*\*)?\s*:\s*", re.IGNORECASE)


# Phrases of the simulator's own prompt: a message holding one is the prompt leaking (small models
# echo their instructions), not something a user would write. Unusable: retried, then a simulator error.
LEAK_MARKERS = ("## How to play", "## Who you are", "## Your opening message", "You play a user", "Stay in character", "Write only your next message",
                "Write your next message", "You are the user, not the assistant", "The conversation so far:")


def leaked_prompt(text: str) -> bool:
    lowered = text.lower()
    return any(m.lower() in lowered for m in LEAK_MARKERS)


def clean_user_message(text: str) -> tuple[str, bool]:
    """(message, ended): the simulator's output without thinking, labels or wrapping quotes; `ended`
    when it holds the stop token (what precedes the token is not sent: the user has left)."""
    answer, _ = split_thinking(text)
    if STOP_TOKEN in answer or STOP_TOKEN.strip("#") in answer:
        return "", True
    answer = _LABEL_RE.sub("", answer.strip())
    answer = answer.split("\nASSISTANT:")[0].strip()
    if len(answer) >= 2 and answer[0] == answer[-1] and answer[0] in "\"'“”":
        answer = answer[1:-1].strip()
    return answer, False


@dataclass
class Conversations:
    """Drives the conversations of one run. `turns_of(scenario)` gives each one's turn count."""

    executor: Executor
    candidate: ChatModel
    simulator: ChatModel | None
    system_prompt: str | None
    candidate_params: GenerationParams
    simulator_params: Callable[[int], GenerationParams]
    simulator_retries: int = 2
    notes: dict[str, str] | None = None

    def candidate_messages(self, turns: list[dict[str, Any]], next_user: str) -> list[Message]:
        msgs = [Message("system", self.system_prompt)] if self.system_prompt else []
        for t in turns:
            msgs += [Message("user", t["user"]), Message("assistant", t.get("answer") or "")]
        return msgs + [Message("user", next_user)]

    async def _reply(self, scenario_id: str, sample: int, turn: int, user: str, earlier: list[dict[str, Any]]) -> dict[str, Any]:
        result = await self.executor.call(self.candidate, self.candidate_messages(earlier, user), self.candidate_params, sample_index=sample, priority=1)
        record: dict[str, Any] = {"scenario_id": scenario_id, "sample": sample, "turn": turn, "user": user, "cached": result.cached}
        if not result.ok:
            record["error"] = result.error
            return record
        c = result.completion
        assert c is not None
        answer, thinking = split_thinking(c.text)
        usage = c.usage.__dict__.copy()
        if thinking and not usage.get("thinking_tokens"):
            usage["thinking_tokens"] = rough_token_count(thinking)
        record.update({"response": c.text, "answer": answer, "finish_reason": c.finish_reason, "truncated": c.truncated, "usage": usage, "latency_s": round(c.latency_s, 4), "cost_usd": c.cost_usd})
        return record

    async def _next_user(self, tags: dict[str, Any], opening: str, turns: list[dict[str, Any]], max_turns: int, sample: int) -> tuple[str | None, bool, str | None]:
        """(message, ended, error). Unusable output (empty, or the simulator playing the assistant) is
        retried with the next seed; a server that keeps failing is an error after the Executor's retries."""
        assert self.simulator is not None
        messages = simulator_messages(tags, opening, turns, max_turns, self.notes)
        problem = "no output"
        for attempt in range(self.simulator_retries + 1):
            result = await self.executor.call(self.simulator, messages, self.simulator_params(attempt), sample_index=sample * 100 + attempt, priority=1)
            if not result.ok:
                return None, False, f"simulated user's call failed: {result.error}"
            text, ended = clean_user_message(result.completion.text)  # type: ignore[union-attr]
            if ended:
                return None, True, None
            if text and not leaked_prompt(text):
                return text, False, None
            problem = f"{'it repeated its own instructions' if text else 'empty message'} (attempt {attempt + 1})"
        return None, False, f"simulated user gave no usable message: {problem}"

    async def converse(self, scenario: Any, sample: int, max_turns: int, done: list[dict[str, Any]], on_turn: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Continue (or start) one conversation; `done` holds its turns already on disk, in order."""
        turns = [t for t in done if "error" not in t][:max_turns]
        stop_reason, sim_error = None, None
        while True:
            if turns and len(turns) >= max_turns:
                stop_reason = TURN_LIMIT
                break
            if not turns:
                user = scenario.input
            else:
                user, ended, sim_error = await self._next_user(scenario.tags, scenario.input, turns, max_turns, sample)
                if ended:
                    stop_reason = USER_ENDED
                    break
                if sim_error:
                    stop_reason = SIMULATOR_ERROR
                    break
            record = await self._reply(scenario.id, sample, len(turns) + 1, user, turns)  # type: ignore[arg-type]
            on_turn(record)
            if "error" in record:
                return self._record(scenario, sample, turns, max_turns, None) | {"error": record["error"], "failed_turn": record["turn"]}
            turns.append(record)
        out = self._record(scenario, sample, turns, max_turns, stop_reason)
        if sim_error:
            out["simulator_error"] = sim_error
        return out

    def _record(self, scenario: Any, sample: int, turns: list[dict[str, Any]], max_turns: int, stop_reason: str | None) -> dict[str, Any]:
        """The conversation as one response record: the last reply is `answer`, usage and latency summed."""
        last = turns[-1] if turns else {}
        usage: dict[str, int] = {}
        for t in turns:
            for k, v in (t.get("usage") or {}).items():
                usage[k] = usage.get(k, 0) + (v or 0)
        costs = [t["cost_usd"] for t in turns if t.get("cost_usd") is not None]
        keep = ("turn", "user", "answer", "response", "finish_reason", "truncated", "latency_s", "cached")
        return {
            "scenario_id": scenario.id,
            "sample": sample,
            "input": scenario.input,
            "tags": scenario.tags,
            "cached": all(t.get("cached") for t in turns) if turns else False,
            "response": last.get("response", ""),
            "answer": last.get("answer", ""),
            "finish_reason": last.get("finish_reason"),
            "truncated": any(t.get("truncated") for t in turns),
            "usage": usage,
            "latency_s": round(sum(t.get("latency_s") or 0 for t in turns), 4),
            "cost_usd": round(sum(costs), 6) if costs else None,
            "turns": [{k: t.get(k) for k in keep} for t in turns],
            "max_turns": max_turns,
            "stop_reason": stop_reason,
        }


def graded(response: dict[str, Any]) -> bool:
    """A finished response that is graded: not a candidate error, not a conversation the simulator broke."""
    return "error" not in response and response.get("stop_reason") != SIMULATOR_ERROR


def turns_on_disk(records: list[dict[str, Any]]) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """Finished turns per (scenario, sample), in turn order, the latest record of each turn winning."""
    by_key: dict[tuple[str, int], dict[int, dict[str, Any]]] = {}
    for r in records:
        if "error" in r:
            continue
        by_key.setdefault((r["scenario_id"], r["sample"]), {})[r["turn"]] = r
    out = {}
    for key, turns in by_key.items():
        ordered = []
        for n in range(1, len(turns) + 1):  # a gap (a damaged line) ends the usable prefix
            if n not in turns:
                break
            ordered.append(turns[n])
        out[key] = ordered
    return out


def taxonomy_notes(taxonomy: Any) -> dict[str, str]:
    """'style:NAME' and 'DIM:VALUE' -> the taxonomy's description, for the simulator's persona."""
    if taxonomy is None:
        return {}
    notes = {f"style:{name}": s.description for name, s in taxonomy.styles.items() if s.description}
    for topic in taxonomy.topics:
        for sub in topic.subtopics:
            facts = [d.strip().rstrip(".") for d in sub.details] + ([sub.description.strip().rstrip(".")] if sub.description else [])
            if facts:
                notes[f"details:{topic.name}/{sub.name}"] = "; ".join(facts)
    for dim, values in (getattr(taxonomy, "dimension_notes", None) or {}).items():
        notes.update({f"{dim}:{v}": text for v, text in values.items() if text})
    return notes
