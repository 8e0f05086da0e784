"""Conversations -> token ids with labels masked to the assistant turns, through the base's own chat
template; a pad token distinct from the end-of-turn token.

The assistant spans are found by rendering the template on growing prefixes of the conversation (the
prompt up to the generation prompt, then through the assistant turn) and mapping those character spans
onto the tokens with the fast tokenizer's offsets. This works with any prefix-stable template, needs no
`{% generation %}` markers (SmolLM2's, Llama's and Qwen's templates have none), and is checked: a
template that is not prefix-stable, or data where every label ends up masked, refuses to train."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .data import Example

IGNORE = -100


def end_of_turn_ids(tokenizer: Any) -> set[int]:
    """Token ids that end an assistant turn: the eos token and the usual end-of-turn markers present in the vocabulary."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    vocab = tokenizer.get_vocab()
    for marker in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "</s>", "<|endoftext|>"):
        if marker in vocab and marker in (tokenizer.chat_template or ""):
            ids.add(vocab[marker])
    return ids


def ensure_pad_token(tokenizer: Any) -> dict[str, Any]:
    """Give the tokenizer a pad token that is not an end-of-turn token (pad == eos teaches a model never to
    stop when a collator masks pads). An existing unused special token is preferred, since a new one would
    change the vocabulary the GGUF base and the adapter must share. Returns what was chosen, for the record."""
    eot = end_of_turn_ids(tokenizer)
    if tokenizer.pad_token_id is not None and tokenizer.pad_token_id not in eot:
        return {"pad_token": tokenizer.pad_token, "pad_token_id": tokenizer.pad_token_id, "changed": False}
    candidates = [tokenizer.unk_token, "<|finetune_right_pad_id|>", "<|fim_pad|>", "<pad>", "<|pad|>", "<|endoftext|>"]
    vocab = tokenizer.get_vocab()
    for token in candidates:
        if token and token in vocab and vocab[token] not in eot:
            tokenizer.pad_token = token
            return {"pad_token": token, "pad_token_id": vocab[token], "changed": True, "added": False}
    tokenizer.add_special_tokens({"pad_token": "<|basesel_pad|>"})
    return {"pad_token": tokenizer.pad_token, "pad_token_id": tokenizer.pad_token_id, "changed": True, "added": True}


def _render(tokenizer: Any, messages: list[dict[str, str]], *, generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def assistant_spans(tokenizer: Any, messages: list[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of every assistant turn (its end-of-turn token included)."""
    full = _render(tokenizer, messages, generation_prompt=False)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        start = len(_render(tokenizer, messages[:i], generation_prompt=True))
        end = len(_render(tokenizer, messages[: i + 1], generation_prompt=False))
        prefix = _render(tokenizer, messages[: i + 1], generation_prompt=False)
        if not full.startswith(prefix) or start > end:
            raise ConfigError(
                "the base model's chat template is not prefix-stable (rendering a conversation in parts does not match rendering it whole)",
                hint="Loss masking needs a template whose output for the first N turns is a prefix of the whole; templates that rewrite earlier turns (e.g. dropping past thinking) need a flattened data set.",
            )
        spans.append((start, end))
    return full, spans


def encode(tokenizer: Any, example: Example, max_length: int) -> dict[str, Any]:
    """input_ids / attention_mask / labels for one conversation; labels are -100 outside assistant turns."""
    text, spans = assistant_spans(tokenizer, example.messages)
    # The template already holds the special tokens (BOS included where the model uses one): adding them
    # again would double the BOS, a classic train/serve mismatch.
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = enc["input_ids"]
    labels = []
    for token_id, (a, b) in zip(ids, enc["offset_mapping"]):
        inside = any(s <= a < e for s, e in spans) and b > a
        labels.append(token_id if inside else IGNORE)
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels, "length": len(ids), "source": example.source}


def encode_all(tokenizer: Any, examples: list[Example], max_length: int, *, what: str, drop_long: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Encode every example. Too long for `max_length`: an error naming file:line (`drop_long` False, the
    user's data) or dropped and reported (generated data). Every label masked: training refuses to start."""
    encoded, dropped = [], []
    for e in examples:
        item = encode(tokenizer, e, max_length)
        if item["length"] > max_length:
            if not drop_long:
                raise ConfigError(
                    f"{what} conversation is {item['length']} tokens, longer than max_length {max_length}",
                    where=e.source,
                    hint="Shorten it, or raise --max-length (memory grows with it); the context of the base model is the upper limit.",
                )
            dropped.append({"source": e.source, "reason": f"{item['length']} tokens > max_length {max_length}"})
            continue
        if all(label == IGNORE for label in item["labels"]):
            raise ConfigError(
                f"{what} conversation has no assistant tokens left to learn from after masking",
                where=e.source,
                hint="Every label was masked: the chat template did not mark the assistant turn. Check that the conversation ends with an assistant turn and that the base's template renders it.",
            )
        encoded.append(item)
    if not encoded:
        raise ConfigError(f"no {what} conversation fits max_length", hint="Raise --max-length, or shorten the conversations.")
    return encoded, dropped


def describe_masking(tokenizer: Any, item: dict[str, Any]) -> dict[str, Any]:
    """What one encoded example trains on, decoded: proof in training.json that the mask is right."""
    trained = [t for t, label in zip(item["input_ids"], item["labels"]) if label != -100]
    return {"tokens": item["length"], "trained_tokens": len(trained), "trained_text": tokenizer.decode(trained)[:300]}
