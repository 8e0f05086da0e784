"""Prompts for one item under a condition: zero-shot, or k demonstrations from the pool (exactly k,
fixed seed, stratified by label, never the evaluated item), and the constrained-output schema."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from typing import Any

from ..models.base import Message
from .loading import Item, TaskData
from .tasks import TaskSpec

INVALID = "__invalid__"  # the sentinel for an output that is no label; never a class in any metric


@dataclass(frozen=True)
class Shots:
    items: list[Item]
    wanted: int

    @property
    def shortfall(self) -> int:
        return self.wanted - len(self.items)


def render(task: TaskSpec, row: dict[str, Any], **extra: Any) -> str:
    """The user prompt: the template over the row's fields (lists joined by lines), plus `extra`."""
    values = {k: "\n".join(map(str, v)) if isinstance(v, list) else v for k, v in row.items()} | extra
    if task.fields.input and task.fields.input in row:
        values.setdefault("input", row[task.fields.input])
    return task.prompt.template.format_map(_Missing(values))


class _Missing(dict):
    def __missing__(self, key: str) -> str:  # a field checked at load; anything else renders empty
        return ""


def shot_order(data: TaskData, seed: int) -> list[Item]:
    """The pool in the order demonstrations are taken: shuffled with the seed, then interleaved label by
    label (round robin), so the first k cover as many labels as k allows. Exact duplicate inputs are kept
    once: a repeated row could otherwise show the model the evaluated item under another id."""
    rng = random.Random(seed)
    pool = data.pool[:]
    rng.shuffle(pool)
    if data.task.kind != "classification":
        return pool
    buckets: dict[str, list[Item]] = {}
    for item in pool:
        buckets.setdefault(item.label or "", []).append(item)
    labels = sorted(buckets)
    rng.shuffle(labels)
    ordered: list[Item] = []
    while any(buckets.values()):
        for label in labels:
            if buckets[label]:
                ordered.append(buckets[label].pop(0))
    return ordered


def select_shots(order: list[Item], k: int, item: Item, task: TaskSpec) -> Shots:
    """The first k demonstrations that are not the evaluated item (by id or by its input text)."""
    own = _input_text(task, item)
    picked: list[Item] = []
    for candidate in order:
        if len(picked) == k:
            break
        if candidate.id == item.id or _input_text(task, candidate) == own:
            continue
        picked.append(candidate)
    return Shots(picked, k)


def _input_text(task: TaskSpec, item: Item) -> str:
    return render(task, item.row)


def demo_answer(task: TaskSpec, item: Item) -> str | None:
    """The assistant turn of a demonstration, written as the model is asked to answer."""
    if task.kind == "classification":
        return json.dumps({"label": item.label})
    if task.kind == "extraction":
        return json.dumps({"present": bool(item.answers), "answer": item.answers[0] if item.answers else ""})
    ref = task.fields.reference
    if ref and item.row.get(ref):
        text = str(item.row[ref])
        return f"```python\n{text}\n```" if task.kind == "code" else text
    return None


def build_messages(task: TaskSpec, user_text: str, demos: list[tuple[str, str]]) -> list[Message]:
    msgs = [Message("system", task.prompt.system)] if task.prompt.system else []
    for question, answer in demos:
        msgs += [Message("user", question), Message("assistant", answer)]
    return msgs + [Message("user", user_text)]


def output_schema(task: TaskSpec, labels: list[str] | None) -> dict[str, Any] | None:
    """The constrained-decoding schema: an object (OpenAI strict mode and Anthropic tools need one)."""
    if task.kind == "classification":
        return {"type": "object", "properties": {"label": {"type": "string", "enum": list(labels or [])}}, "required": ["label"], "additionalProperties": False}
    if task.kind == "extraction":
        return {"type": "object", "properties": {"present": {"type": "boolean"}, "answer": {"type": "string"}}, "required": ["present", "answer"], "additionalProperties": False}
    return None


def _json_object(text: str) -> dict[str, Any] | None:
    text = text.strip()
    for candidate in (text, *re.findall(r"\{.*?\}", text, re.DOTALL)):
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", re.sub(r"[^\w\s\-]", "", text.lower())).strip()


def parse_label(text: str, labels: list[str]) -> str:
    """The label an output names: JSON {"label": ...}, the bare label, or the one label the text
    contains. Anything else is INVALID (counted wrong, never a class)."""
    obj = _json_object(text)
    if obj is not None and isinstance(obj.get("label"), str):
        text = obj["label"]
    by_norm = {_norm(label): label for label in labels}
    norm = _norm(text)
    if norm in by_norm:
        return by_norm[norm]
    contained = [label for n, label in by_norm.items() if n and re.search(rf"(?<!\w){re.escape(n)}(?!\w)", norm)]
    return contained[0] if len(contained) == 1 else INVALID


def parse_extraction(text: str) -> tuple[bool, str] | None:
    """(present, answer) from {"present": ..., "answer": ...}; plain text is read as the answer, with
    'none'/empty meaning absent. None = unreadable."""
    obj = _json_object(text)
    if obj is not None:
        if "answer" not in obj and "present" not in obj:
            return None
        answer = str(obj.get("answer") or "").strip()
        present = obj.get("present")
        present = bool(answer) if not isinstance(present, bool) else present
        return (present and bool(answer), answer if present else "")
    stripped = text.strip().strip('"').strip()
    if not stripped or stripped.lower().rstrip(".") in ("none", "no", "absent", "not present", "n/a"):
        return (False, "")
    return (True, stripped)


_FENCE = re.compile(r"```(?:python|py)?\s*\n(.*?)(?:```|$)", re.DOTALL)


def extract_code(text: str) -> str:
    """The program in a reply: the first fenced block, else the whole reply."""
    m = _FENCE.search(text)
    return (m.group(1) if m else text).strip()
