"""Training data in chat `messages` format: validation with file:line errors, near-duplicate report,
the held-out leak check, the train/validation split and the files written to the run directory."""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..errors import ConfigError

ROLES = ("system", "user", "assistant")
TRAIN_FILE = "train.jsonl"
VAL_FILE = "val.jsonl"
# Pairs quoted in an error or report: enough to act on, short enough to read.
MAX_QUOTED = 10


@dataclass
class Example:
    messages: list[dict[str, str]]
    source: str  # "file:line", or "teacher:<scenario id>"
    tags: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        """The user turns, the text compared against the held-out scenarios."""
        return "\n".join(m["content"] for m in self.messages if m["role"] == "user")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"messages": self.messages}
        if self.tags:
            out["tags"] = self.tags
        out["source"] = self.source
        return out


def _problem(messages: Any) -> str | None:
    """What is wrong with one conversation, or None."""
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty list of {role, content} objects"
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            return f"message {i + 1} is not an object"
        role, content = m.get("role"), m.get("content")
        if role not in ROLES:
            return f"message {i + 1} has role {role!r}; roles are system, user and assistant"
        if not isinstance(content, str):
            return f"message {i + 1} ({role}) has no text 'content'"
        if not content.strip():
            return f"message {i + 1} ({role}) is empty"
        extra = set(m) - {"role", "content"}
        if extra:
            return f"message {i + 1} has unknown key(s) {', '.join(sorted(extra))} (tool calls are not supported)"
    turns = messages[1:] if messages[0]["role"] == "system" else messages
    if any(m["role"] == "system" for m in turns):
        return "a system message may only come first"
    if not turns:
        return "there is no user turn"
    for i, m in enumerate(turns):
        expected = "user" if i % 2 == 0 else "assistant"
        if m["role"] != expected:
            at = i + 1 + (len(messages) - len(turns))
            return f"message {at} is {m['role']!r} where {expected!r} was expected (turns alternate user, assistant, starting with user)"
    if turns[-1]["role"] != "assistant":
        return "the last message is not an assistant turn (there is nothing to learn from)"
    return None


def load_chat_jsonl(path: Path) -> list[Example]:
    """Read and validate a chat JSONL file: one {"messages": [...]} object a line. The first problem
    found is a ConfigError naming file:line."""
    from ..yamlio import read_text

    hint = 'Each line must be {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}, ending with an assistant turn.'
    if not path.is_file():
        raise ConfigError(f"training data file not found: {path}", hint="Pass a chat JSONL file to --data, or use --teacher SPEC to generate data.")
    lines = read_text(path, "training data", encoding="utf-8-sig").splitlines()
    out: list[Example] = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"line is not valid JSON: {exc}", where=where, hint=hint) from exc
        if not isinstance(row, dict) or "messages" not in row:
            raise ConfigError("line is not an object with 'messages'", where=where, hint=hint)
        problem = _problem(row["messages"])
        if problem:
            raise ConfigError(problem, where=where, hint=hint)
        tags = row.get("tags") if isinstance(row.get("tags"), dict) else {k: v for k, v in row.items() if k in ("topic", "style")}
        out.append(Example([{"role": m["role"], "content": m["content"]} for m in row["messages"]], where, tags or {}))
    if not out:
        raise ConfigError(f"training data file {path} holds no conversations", hint=hint)
    return out


def near_duplicates(examples: list[Example], threshold: float) -> list[dict[str, Any]]:
    """Pairs of training items whose user turns are near-duplicates (reported, not removed: a user's own
    data may repeat on purpose)."""
    from ..scenarios.dedup import near_duplicate_pairs

    pairs = near_duplicate_pairs([e.prompt for e in examples], threshold)
    return [{"a": examples[i].source, "b": examples[j].source, "score": round(s, 1)} for i, j, s in pairs]


def leaks(examples: Iterable[Example], held_out: list[Any], threshold: float) -> list[dict[str, Any]]:
    """Training items whose user turns match a held-out scenario exactly or nearly (the rapidfuzz
    index `basesel scenarios` dedups with)."""
    from ..scenarios.dedup import NearDuplicateIndex

    index = NearDuplicateIndex(threshold, [s.input for s in held_out])
    ids = {s.input: s.id for s in held_out}
    found = []
    for e in examples:
        for m in e.messages:
            if m["role"] != "user":
                continue
            hit = index.match(m["content"])
            if hit is not None:
                found.append({"item": e.source, "scenario_id": ids.get(hit[0]), "score": round(hit[1], 1), "item_text": _short(m["content"]), "held_out_text": _short(hit[0])})
                break
    return found


def check_no_leak(examples: list[Example], held_out: list[Any], threshold: float, *, what: str) -> None:
    """Fail loudly, naming the offending pairs, when training data overlaps the held-out scenarios."""
    found = leaks(examples, held_out, threshold)
    if not found:
        return
    lines = [f"  {f['item']} ~ held-out {f['scenario_id']} (similarity {f['score']:g}): {f['item_text']!r} vs {f['held_out_text']!r}" for f in found[:MAX_QUOTED]]
    more = f"\n  ... and {len(found) - MAX_QUOTED} more" if len(found) > MAX_QUOTED else ""
    raise ConfigError(
        f"{len(found)} {what} item(s) overlap the held-out baseline scenarios (exact or near-duplicate, threshold {threshold:g}):\n" + "\n".join(lines) + more,
        hint="Remove those items (the held-out scenarios must stay unseen, or the re-evaluation measures memorization), or lower the check with --dedup-threshold only if the match is a false alarm.",
    )


def _short(text: str, n: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


def split(examples: list[Example], fraction: float, min_items: int, seed: int) -> tuple[list[Example], list[Example]]:
    """A validation split stratified by topic (when items carry one), deterministic for a seed; at least
    `min_items` and never every item."""
    if len(examples) < 2:
        raise ConfigError(
            f"only {len(examples)} training conversation(s): training needs at least 2 (one is held back for validation)",
            hint="Add more conversations to --data, or raise --teacher-n / --teacher-tries.",
        )
    rng = random.Random(seed)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(examples):
        groups[str(e.tags.get("topic", ""))].append(i)
    wanted = min(len(examples) - 1, max(min_items, round(fraction * len(examples))))
    val_idx: list[int] = []
    # proportional per topic, then top up at random
    for _, idx in sorted(groups.items()):
        rng.shuffle(idx)
        val_idx += idx[: int(len(idx) * wanted / len(examples))]
    rest = [i for i in range(len(examples)) if i not in set(val_idx)]
    rng.shuffle(rest)
    val_idx += rest[: wanted - len(val_idx)]
    chosen = set(val_idx)
    return [e for i, e in enumerate(examples) if i not in chosen], [examples[i] for i in sorted(chosen)]


def write_examples(path: Path, examples: list[Example]) -> str:
    """Write a JSONL file atomically; returns its sha256."""
    from ..run.files import atomic_write_text

    text = "".join(json.dumps(e.to_dict(), ensure_ascii=False) + "\n" for e in examples)
    atomic_write_text(path, text)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_examples(path: Path) -> list[Example]:
    """Read back a train.jsonl / val.jsonl written by `write_examples`."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Example(r["messages"], r.get("source", f"{path}:{i + 1}"), r.get("tags") or {}) for i, r in enumerate(rows)]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
