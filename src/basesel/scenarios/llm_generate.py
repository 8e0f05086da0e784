"""LLM scenario generation: realistic opening messages per taxonomy cell, written by any backend.

The same stratified plan as the template path (every edge case; every topic x style cell when N
allows; the rest by weight; subtopics and dimensions balanced) decides *which* scenarios to write.
The generator model then writes the messages, one batch per (topic, subtopic, style) group, under
a JSON schema `{"messages": [str, ...]}`, one message per planned scenario with that scenario's
dimension values spelled out. Every call goes through the Executor (cache, retries, concurrency
limit), so a re-run with the same settings costs no model calls.

After each round, near-duplicates (normalized text similarity, see dedup.py) and unusable
messages are dropped; the holes they leave are re-generated in further rounds (bounded) with the
messages already kept shown as "write something different". Holes left after the last round are
filled from the style templates (tagged `source: template`) unless that fallback is turned off.
Scenarios are inputs only: single-turn user messages.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from ..models.base import ChatModel, GenerationParams, Message, split_thinking
from .dedup import DEFAULT_THRESHOLD, NearDuplicateIndex
from .generate import _extra_tags, _slug, default_style_templates, render_cell
from .model import Scenario
from .stratify import Cell, Plan, plan
from .taxonomy import Taxonomy

DEFAULT_STYLE_DESCRIPTIONS = {
    "terse": "very short: a few words up to one short sentence, often lower-case, no greeting, typed quickly",
    "conversational": "casual and friendly: one to three sentences, as if talking to a person",
    "detailed": "long and specific: a paragraph with background, what the user already tried, and exactly what they want to know",
}

# Providers whose structured output is a grammar that honours minItems/maxItems (llama.cpp, Ollama).
# Hosted APIs' strict modes accept only a subset of JSON Schema, so they get the plain schema.
_GRAMMAR_PROVIDERS = ("embedded", "llamacpp", "ollama")

GENERATOR_SYSTEM = (
    "You write realistic opening messages that real users send to an AI assistant; they are used to test that "
    "assistant. Write each message in the user's own voice (first person), as the very first message of a "
    "conversation: only the text the user types, with no reply, no label, no quotation marks around it. "
    "Make the messages concrete and different from each other (wording, details, names, numbers); never copy "
    "the examples. Answer with JSON only."
)

MAX_MESSAGE_CHARS = 6000
STYLE_TOKEN_BUDGET = {"terse": 64, "conversational": 128, "detailed": 320}


@dataclass
class GenerationSettings:
    batch_size: int = 5
    """Messages asked for in one call (one planned scenario each)."""
    temperature: float = 0.9
    max_tokens_per_message: int | None = None
    """Token budget per message asked for; default by style (terse 64, conversational 128, detailed 320, other 200)."""
    dedup_threshold: float = DEFAULT_THRESHOLD
    max_rounds: int = 3
    """Generation rounds in all: the first plus re-generation of holes."""
    seed: int = 0
    template_fallback: bool = True
    """Fill holes still open after the last round from the style templates."""
    concurrency: int | None = None


@dataclass
class GenerationStats:
    generator: str
    rounds: int = 0
    calls: int = 0
    cache_hits: int = 0
    failed_calls: int = 0
    unreadable_outputs: int = 0
    messages_received: int = 0
    rejected: Counter = field(default_factory=Counter)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    open_after_round: list[int] = field(default_factory=list)
    """Planned scenarios still without a message after each round."""
    filled_by_template: int = 0
    unfilled: int = 0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator,
            "rounds": self.rounds,
            "calls": self.calls,
            "cache_hits": self.cache_hits,
            "failed_calls": self.failed_calls,
            "unreadable_outputs": self.unreadable_outputs,
            "messages_received": self.messages_received,
            "rejected": dict(self.rejected),
            "near_duplicates_dropped": len(self.duplicates),
            "near_duplicate_examples": self.duplicates[:10],
            "open_after_round": self.open_after_round,
            "filled_by_template": self.filled_by_template,
            "unfilled": self.unfilled,
            "errors": self.errors[:5],
        }


@dataclass
class Slot:
    index: int  # 1-based position in the plan
    cell: Cell
    text: str | None = None
    source: str | None = None


# --- the request ---------------------------------------------------------------------------------


def generation_schema(count: int, exact: bool) -> dict[str, Any]:
    items: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
    if exact:
        items["minItems"] = count
        items["maxItems"] = count
    return {"type": "object", "properties": {"messages": items}, "required": ["messages"], "additionalProperties": False}


def _style_example(taxonomy: Taxonomy, cell: Cell, rng: random.Random) -> str | None:
    style = taxonomy.styles[cell.style]
    if not (style.templates or default_style_templates().get(cell.style)):
        return None
    return render_cell(taxonomy, cell, rng)


def build_generation_messages(taxonomy: Taxonomy, cells: list[Cell], avoid: list[str], example: str | None) -> list[Message]:
    """The request for one batch: cells share topic, subtopic and style; each may differ in dimensions."""
    first = cells[0]
    topic = next(t for t in taxonomy.topics if t.name == first.topic)
    sub = next(s for s in topic.subtopics if s.name == first.subtopic)
    style = taxonomy.styles[first.style]
    lines = [f"Domain: {taxonomy.domain or taxonomy.id}" + (f" - {taxonomy.description.strip()}" if taxonomy.description else "")]
    if taxonomy.system_prompt:
        prompt = " ".join(taxonomy.system_prompt.split())
        lines.append(f"The assistant's instructions (context only; do not answer as the assistant): {prompt[:700]}")
    lines += ["", f"Topic: {topic.name}" + (f" - {topic.description.strip()}" if topic.description else ""), f"Subtopic: {sub.name}" + (f" - {sub.description.strip()}" if sub.description else "")]
    lines.append("Situations users in this subtopic face (examples; invent new, concrete variations):")
    lines += [f"- {s.strip()}" for s in sub.situations[:6]]
    if sub.details:
        lines.append("Details a user might mention:")
        lines += [f"- {d.strip()}" for d in sub.details[:4]]
    description = style.description or DEFAULT_STYLE_DESCRIPTIONS.get(first.style, first.style)
    lines += ["", f"Style: {first.style} - {description.strip()}"]
    if example:
        lines.append(f'Example of this style (phrasing only; do not copy it): "{example}"')
    lines += ["", f"Write {len(cells)} different message{'s' if len(cells) > 1 else ''}:"]
    for i, cell in enumerate(cells, start=1):
        notes = taxonomy.dimension_notes
        dims = "; ".join(f"{k}: {v}" + (f" ({notes[k][v]})" if v in notes.get(k, {}) else "") for k, v in cell.dims)
        lines.append(f"{i}. a message from a user" + (f" ({dims})" if dims else ""))
    if avoid:
        lines.append("")
        lines.append("Already written for this subtopic (write something clearly different):")
        lines += [f"- {' '.join(a.split())[:200]}" for a in avoid[:8]]
    lines += ["", f'Return JSON: {{"messages": [{", ".join(f"message {i}" for i in range(1, len(cells) + 1))}]}}, the messages in that order.']
    return [Message("system", GENERATOR_SYSTEM), Message("user", "\n".join(lines))]


# --- reading the answer --------------------------------------------------------------------------

_STRING_RE = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)


class UnreadableOutput(ValueError):
    pass


def parse_messages(text: str) -> list[str]:
    """Messages from the generator's output: the JSON object, a bare array, or, when the output was cut
    off mid-way, every complete string after `"messages"`."""
    answer, _ = split_thinking(text)
    answer = answer.strip()
    if answer.startswith("```"):
        answer = re.sub(r"^```[a-zA-Z]*\s*", "", answer)
        answer = re.sub(r"\s*```$", "", answer)
    data: Any = None
    for opener, closer in (("{", "}"), ("[", "]")):
        start, end = answer.find(opener), answer.rfind(closer)
        if start >= 0 and end > start:
            try:
                data = json.loads(answer[start : end + 1], strict=False)
                break
            except ValueError:
                continue
    if data is None:
        at = answer.find('"messages"')
        if at < 0:
            raise UnreadableOutput("no JSON with a 'messages' list in the generator's output")
        rest = answer[at + len('"messages"') :]
        rest = rest[rest.find("[") + 1 :] if "[" in rest else ""
        data = {"messages": [json.loads(f'"{m}"', strict=False) for m in _STRING_RE.findall(rest)]}
    if isinstance(data, dict):
        data = data.get("messages", next((v for v in data.values() if isinstance(v, list)), None))
    if not isinstance(data, list):
        raise UnreadableOutput("the generator's output holds no list of messages")
    out = []
    for item in data:
        if isinstance(item, dict):
            item = next((item[k] for k in ("message", "text", "content", "input") if isinstance(item.get(k), str)), None)
        if isinstance(item, str):
            out.append(item)
        else:
            out.append("")  # keeps positions aligned with the planned scenarios
    return out


_LABEL_RE = re.compile(r"^\s*(?:(?:message\s*\d+|user|customer|client|patient|me)\s*[:\-–]|\d+[.)])\s*", re.IGNORECASE)
_ROLE_TURN_RE = re.compile(r"\n\s*(?:assistant|ai|agent|support|bot|coach|doctor|tutor)\s*:", re.IGNORECASE)
_ECHO_RE = re.compile(r"\bmessage\s*\d|\ba message from\b|\buser\s*\d\b|\bjson\b|\{\s*\"", re.IGNORECASE)
# How an assistant's reply starts; a user's opening message does not.
_ASSISTANT_RE = re.compile(
    r"^(i'?m (so |very )?sorry (for|to hear|about|that)|i apologi[sz]e|thank(s| you) for (contacting|reaching|your message|getting in touch)"
    r"|sure[,!.]|certainly[,!.]|of course[,!.]|here('s| is| are) (a|an|the|some|your)\b|as an ai\b)",
    re.IGNORECASE,
)
_WORD_RE = re.compile(r"[^\W\d_]{2,}")


def clean_message(text: str) -> tuple[str | None, str | None]:
    """(message, None) for a usable single-turn user message, else (None, why it was rejected)."""
    t = text.strip()
    t = _LABEL_RE.sub("", t, count=1).strip()
    t = _ROLE_TURN_RE.split(t, maxsplit=1)[0].strip()  # a transcript: keep only the user's first turn
    if len(t) >= 2 and t[0] in "\"'“‘" and t[-1] in "\"'”’":
        t = t[1:-1].strip()
    words = _WORD_RE.findall(t)
    if len(words) < 2 or (len(words) == 2 and sum(map(len, words)) < 10):
        return None, "too short or no words"
    if _ECHO_RE.search(t):
        return None, "echoes the instructions"
    if _ASSISTANT_RE.search(t):
        return None, "reads as the assistant's reply"
    if len(t) > MAX_MESSAGE_CHARS:
        return None, f"longer than {MAX_MESSAGE_CHARS} characters"
    if _repetitive(t):
        return None, "degenerate repetition"
    return t, None


def _repetitive(text: str) -> bool:
    """A looping generation: one word taking a large share of the text, or phrases said over and over
    (few distinct word trigrams; natural text repeats almost none)."""
    words = re.findall(r"\w+", text.casefold())
    if len(words) < 12:
        return False
    top = Counter(words).most_common(1)[0][1]
    trigrams = list(zip(words, words[1:], words[2:]))
    return top / len(words) > 0.3 or len(set(trigrams)) / len(trigrams) < 0.6


# --- the generator -------------------------------------------------------------------------------


def _batches(slots: list[Slot], size: int) -> list[list[Slot]]:
    groups: dict[tuple[str, str, str], list[Slot]] = {}
    for s in slots:
        groups.setdefault((s.cell.topic, s.cell.subtopic, s.cell.style), []).append(s)
    out = []
    for members in groups.values():
        for i in range(0, len(members), size):
            out.append(members[i : i + size])
    return out


async def generate_with_llm(
    taxonomy: Taxonomy,
    n: int,
    model: ChatModel,
    executor: Any,
    settings: GenerationSettings | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    *,
    include_edge_cases: bool = True,
) -> tuple[list[Scenario], Plan, GenerationStats]:
    """N scenarios written by `model`: the stratified plan, filled batch by batch, deduplicated,
    holes re-generated (bounded), then template fallback. Deterministic for a seed with a cache."""
    settings = settings or GenerationSettings()
    if settings.batch_size < 1 or settings.max_rounds < 1:
        from ..errors import ConfigError

        raise ConfigError("--batch-size and --max-rounds must be at least 1")
    the_plan = plan(taxonomy, n, settings.seed, include_edge_cases)
    stats = GenerationStats(generator=model.identity.spec)
    report = progress or (lambda stage, done, total: None)
    edge = [
        Scenario(id=f"edge-{e.id}", input=e.input.strip(), tags={"topic": "edge_case", "edge_case": e.id, "style": "edge", **e.tags})
        for e in taxonomy.edge_cases[: the_plan.edge_cases]
    ]
    index = NearDuplicateIndex(settings.dedup_threshold, [s.input for s in edge])
    slots = [Slot(i, cell) for i, cell in enumerate(the_plan.cells, start=1)]
    exact = model.identity.provider in _GRAMMAR_PROVIDERS
    rng = random.Random(settings.seed + 17)
    executor.set_limit(model, settings.concurrency)

    for round_no in range(settings.max_rounds):
        holes = [s for s in slots if s.text is None]
        if not holes:
            break
        stats.rounds += 1
        batches = _batches(holes, settings.batch_size)
        done = 0
        report(f"generating (round {round_no + 1})", 0, len(batches))

        async def one(batch_no: int, batch: list[Slot]) -> tuple[list[Slot], list[str] | None]:
            nonlocal done
            cells = [s.cell for s in batch]
            kept_here = [s.text for s in slots if s.text and (s.cell.topic, s.cell.subtopic, s.cell.style) == (cells[0].topic, cells[0].subtopic, cells[0].style)]
            example = _style_example(taxonomy, cells[0], random.Random(f"{settings.seed}-{round_no}-{batch_no}"))
            messages = build_generation_messages(taxonomy, cells, kept_here if round_no else [], example)
            params = GenerationParams(
                temperature=settings.temperature,
                max_tokens=(settings.max_tokens_per_message or STYLE_TOKEN_BUDGET.get(cells[0].style, 200)) * len(cells) + 48,
                seed=settings.seed + 1000 * round_no + batch_no,
            )
            result = await executor.call(model, messages, params, json_schema=generation_schema(len(cells), exact), sample_index=round_no)
            done += 1
            report(f"generating (round {round_no + 1})", done, len(batches))
            if result.cached:
                stats.cache_hits += 1
            else:
                stats.calls += 1
            if not result.ok:
                stats.failed_calls += 1
                stats.errors.append(str(result.error))
                return batch, None
            try:
                return batch, parse_messages(result.completion.text)
            except UnreadableOutput as exc:
                stats.unreadable_outputs += 1
                stats.errors.append(str(exc))
                return batch, None

        results = await asyncio.gather(*(one(i, b) for i, b in enumerate(batches)))
        # Accept in plan order, so which of two near-duplicates survives does not depend on timing.
        accepted: list[tuple[Slot, str]] = []
        for batch, texts in results:
            if texts is None:
                continue
            stats.messages_received += len(texts)
            for slot, raw in zip(batch, texts):
                text, why = clean_message(raw)
                if text is None:
                    stats.rejected[why] += 1
                    continue
                accepted.append((slot, text))
        for slot, text in sorted(accepted, key=lambda p: p[0].index):
            hit = index.match(text)
            if hit is not None:
                stats.duplicates.append({"dropped": text[:200], "duplicate_of": hit[0][:200], "similarity": round(hit[1], 1)})
                continue
            index.add(text)
            slot.text, slot.source = text, "llm"
        stats.open_after_round.append(sum(1 for s in slots if s.text is None))

    for slot in (s for s in slots if s.text is None):
        text = _template_fill(taxonomy, slot.cell, index, rng) if settings.template_fallback else None
        if text is None:
            stats.unfilled += 1
            continue
        index.add(text)
        slot.text, slot.source = text, "template"
        stats.filled_by_template += 1

    scenarios = list(edge)
    for slot in slots:
        if slot.text is None:
            continue
        scenarios.append(Scenario(id=f"s{slot.index:03d}-{_slug(slot.cell.topic)}-{slot.cell.style}", input=slot.text, tags={**slot.cell.tags(), **_extra_tags(taxonomy, slot.cell), "source": slot.source}))
    if taxonomy.turns:  # multi-turn counts, as on the template path
        for s in scenarios:
            s.tags.setdefault("turns", taxonomy.turns)
    return scenarios, the_plan, stats


def _template_fill(taxonomy: Taxonomy, cell: Cell, index: NearDuplicateIndex, rng: random.Random) -> str | None:
    """A template rendering for a hole: one that is not a near-duplicate if 20 draws find one, else one
    that at least is not identical (templates of one situation resemble each other by design)."""
    if not (taxonomy.styles[cell.style].templates or default_style_templates().get(cell.style)):
        return None
    fallback = None
    for _ in range(20):
        text = render_cell(taxonomy, cell, rng)
        hit = index.match(text)
        if hit is None:
            return text
        if hit[1] < 100 and fallback is None:
            fallback = text
    return fallback
