"""Taxonomies as people write them, rewritten into basesel's own shape before validation.

Accepted beside the canonical form (see docs/taxonomies.md):
- the whole taxonomy under one root key (`coaching_taxonomy: {topics: ...}`); `id` defaults to the file name;
- topics as a mapping (name -> subtopics, or name -> {weight, description, subtopics});
- subtopics as a plain list of names, with or without situations (`- panic_attacks`,
  `- burnout: [I work 70-hour weeks ...]`), or a mapping name -> situations;
- styles as a name -> weight map, or a list of names;
- extra weighted dimensions at the top level beside topics and styles (`urgency: {low: 1, high: 2}`),
  a value's weight optionally with `turns: 3-6` (multi-turn length), `description`, `says`;
- comments describing values (`high: 1  # I'm really struggling today`) become their descriptions;
- sections basesel does not use are reported, not refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

CANONICAL_KEYS = {"id", "version", "domain", "description", "system_prompt", "styles", "topics", "dimensions", "edge_cases", "defaults", "turns"}
SITUATION_ALIASES = ("situations", "examples", "messages", "prompts", "scenarios")
# Sections that hold notes for people, never dimensions, whatever their shape.
NOTE_SECTIONS = {"metadata", "meta", "notes", "owner", "author", "authors", "changelog", "evaluation", "evaluation_notes", "rubric", "criteria", "guidelines", "references", "license", "tags", "created", "updated", "status", "name", "title"}


@dataclass
class Normalized:
    data: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    dimension_notes: dict[str, dict[str, str]] = field(default_factory=dict)
    dimension_says: dict[str, dict[str, str]] = field(default_factory=dict)
    dimension_turns: dict[str, dict[str, str]] = field(default_factory=dict)
    named_only: list[str] = field(default_factory=list)  # "topic / subtopic" whose situations come from the name
    root: yaml.Node | None = None  # the node the canonical data came from (error lines)


def humanize(name: Any) -> str:
    """`panic_attacks` -> `panic attacks` (messages use this; tags keep the name as written)."""
    return re.sub(r"[_\s]+", " ", str(name)).strip()


class _Comments:
    """Comments next to YAML keys and list items: the trailing `# ...` on the line, or a comment line just above."""

    def __init__(self, text: str):
        self.lines = text.splitlines()

    def for_node(self, node: yaml.Node | None, value: yaml.Node | None = None) -> str | None:
        if node is None:
            return None
        end = value if value is not None and value.end_mark.line == node.start_mark.line else node
        line_no = end.end_mark.line
        if line_no < len(self.lines):
            rest = self.lines[line_no][end.end_mark.column :]
            m = re.match(r"\s*#\s?(.*)$", rest)
            if m and m.group(1).strip():
                return m.group(1).strip()
        above = node.start_mark.line - 1
        if 0 <= above < len(self.lines):
            m = re.match(r"\s*#\s?(.*)$", self.lines[above])
            if m and m.group(1).strip() and not self.lines[above].lstrip().startswith("##"):
                return m.group(1).strip()
        return None


def _child(node: yaml.Node | None, key: Any) -> tuple[yaml.Node | None, yaml.Node | None]:
    """(key node, value node) of a mapping entry, or (item, item) of a sequence index."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.value == str(key):
                return k, v
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
        return node.value[key], node.value[key]
    return None, None


def _line(node: yaml.Node | None) -> str:
    return f" (line {node.start_mark.line + 1})" if node is not None else ""


def _is_weight(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _looks_like_dimension(value: Any) -> bool:
    if isinstance(value, dict) and value:
        return all(_is_weight(v) or (isinstance(v, dict) and ("weight" in v or "turns" in v)) or v is None for v in value.values())
    if isinstance(value, list) and value:
        return all(isinstance(v, (str, int, float)) and not isinstance(v, bool) and len(str(v)) <= 40 for v in value)
    return False


def normalize(data: dict[str, Any], text: str, stem: str, source: str = "") -> Normalized:
    root = yaml.compose(text, Loader=yaml.SafeLoader) if text else None
    comments = _Comments(text)
    out = Normalized(data=data, root=root)
    data, root = _unwrap_root(data, root, out)
    out.root = root
    canonical: dict[str, Any] = {}
    raw_dims = data.get("dimensions")
    dimensions: Any = dict(raw_dims) if isinstance(raw_dims, dict) else ({} if raw_dims is None else raw_dims)
    for key, value in data.items():
        if key in CANONICAL_KEYS:
            canonical[key] = value
        elif key.lower() not in NOTE_SECTIONS and _looks_like_dimension(value) and isinstance(dimensions, dict):
            dimensions[key] = value
        else:
            _refuse_typo(key, _child(root, key)[0], source)
            out.warnings.append(f"section '{key}'{_line(_child(root, key)[0])} is not used by basesel and was ignored")
    canonical.setdefault("id", stem)
    if "topics" in canonical:
        canonical["topics"] = _topics(canonical["topics"], _child(root, "topics")[1], comments, out)
    if "styles" in canonical:
        canonical["styles"] = _styles(canonical["styles"], _child(root, "styles")[1], comments)
    if isinstance(dimensions, dict) and dimensions:
        canonical["dimensions"] = {
            dim: _dimension(dim, values, _child(root, dim)[1] or _child(_child(root, "dimensions")[1], dim)[1], comments, out) for dim, values in dimensions.items()
        }
    if "turns" in canonical and isinstance(canonical["turns"], int):
        canonical["turns"] = str(canonical["turns"])
    out.data = canonical
    return out


def _refuse_typo(key: str, node: yaml.Node | None, source: str) -> None:
    """An unknown section spelled almost like one basesel reads is a typo, not a note: an error, so a
    misspelled system_prompt is not silently dropped."""
    import difflib

    close = difflib.get_close_matches(key, sorted(CANONICAL_KEYS), n=1, cutoff=0.8)
    if close:
        from ..errors import ConfigError

        raise ConfigError(
            f"unknown field '{key}' (did you mean '{close[0]}'?)",
            where=f"{source}:{node.start_mark.line + 1}" if node is not None else source or None,
            hint=f"Rename it to '{close[0]}'; sections basesel does not read are ignored with a warning, but this one looks like a typo.",
        )


def _unwrap_root(data: dict[str, Any], root: yaml.Node | None, out: Normalized) -> tuple[dict[str, Any], yaml.Node | None]:
    """`my_taxonomy: {topics: ...}`: the taxonomy under one root key (other top-level keys are reported)."""
    if "topics" in data:
        return data, root
    holders = [k for k, v in data.items() if isinstance(v, dict) and "topics" in v]
    if len(holders) != 1:
        return data, root
    key = holders[0]
    for other in data:
        if other != key:
            out.warnings.append(f"section '{other}'{_line(_child(root, other)[0])} is outside the taxonomy under '{key}' and was ignored")
    return data[key], _child(root, key)[1]


def _topics(value: Any, node: yaml.Node | None, comments: _Comments, out: Normalized) -> Any:
    if isinstance(value, dict):  # name -> subtopics | {weight, description, subtopics}
        items = []
        for name, body in value.items():
            k, v = _child(node, name)
            items.append(_topic(name, body, v, comments.for_node(k, v), comments, out))
        return items
    if isinstance(value, list):
        items = []
        for i, entry in enumerate(value):
            _, item = _child(node, i)
            if isinstance(entry, str):
                items.append(_topic(entry, None, None, comments.for_node(item), comments, out))
            elif isinstance(entry, dict) and "name" not in entry and len(entry) == 1:  # - anxiety: [panic attacks, ...]
                (name, body), = entry.items()
                k, v = _child(item, name)
                items.append(_topic(name, body, v, comments.for_node(k, v), comments, out))
            elif isinstance(entry, dict):
                items.append(_topic(entry.get("name"), entry, item, None, comments, out, explicit=True))
            else:
                items.append(entry)
        return items
    return value


def _topic(name: Any, body: Any, node: yaml.Node | None, note: str | None, comments: _Comments, out: Normalized, explicit: bool = False) -> Any:
    if isinstance(body, dict) and (explicit or "subtopics" in body or any(a in body for a in SITUATION_ALIASES) or "weight" in body or "description" in body):
        topic = {k: v for k, v in body.items() if k not in SITUATION_ALIASES}
        topic["name"] = str(name) if name is not None else name
        if note and "description" not in topic:
            topic["description"] = note
        if "subtopics" in body:
            topic["subtopics"] = _subtopics(str(name), body["subtopics"], _child(node, "subtopics")[1], comments, out)
        else:  # a topic with its own situations (or none): one subtopic of the same name
            situations = next((body[a] for a in SITUATION_ALIASES if a in body), None)
            topic["subtopics"] = [_subtopic(str(name), str(name), situations, None, topic.get("description"), out)]
        return topic
    subtopics = body if body is not None else [name]
    return {"name": str(name), **({"description": note} if note else {}), "subtopics": _subtopics(str(name), subtopics, node, comments, out)}


def _subtopics(topic: str, value: Any, node: yaml.Node | None, comments: _Comments, out: Normalized) -> Any:
    if isinstance(value, dict):
        items = []
        for name, body in value.items():
            k, v = _child(node, name)
            items.append(_subtopic_entry(topic, name, body, v, comments.for_node(k, v), out))
        return items
    if not isinstance(value, list):
        return value
    items = []
    for i, entry in enumerate(value):
        _, item = _child(node, i)
        if isinstance(entry, (str, int, float)) and not isinstance(entry, bool):
            items.append(_subtopic(topic, str(entry), None, None, comments.for_node(item), out))
        elif isinstance(entry, dict) and "name" not in entry and len(entry) == 1:
            (name, body), = entry.items()
            k, v = _child(item, name)
            items.append(_subtopic_entry(topic, name, body, v, comments.for_node(k, v), out))
        elif isinstance(entry, dict):
            alias = next((a for a in SITUATION_ALIASES if a in entry), None)
            rest = {k: v for k, v in entry.items() if k not in SITUATION_ALIASES}
            # situations written (even an empty list, which validation then reports) are kept as written
            items.append(rest | {"situations": entry[alias]} if alias else _subtopic(topic, str(entry.get("name")), None, rest, rest.get("description"), out))
        else:
            items.append(entry)
    return items


def _subtopic_entry(topic: str, name: Any, body: Any, node: yaml.Node | None, note: str | None, out: Normalized) -> Any:
    if isinstance(body, list):
        return _subtopic(topic, str(name), [str(s) for s in body], None, note, out)
    if isinstance(body, str):
        return _subtopic(topic, str(name), [body], None, note, out)
    if _is_weight(body):
        return _subtopic(topic, str(name), None, {"weight": body}, note, out)
    if isinstance(body, dict):
        situations = next((body[a] for a in SITUATION_ALIASES if a in body), None)
        rest = {k: v for k, v in body.items() if k not in SITUATION_ALIASES}
        return _subtopic(topic, str(name), situations, rest, rest.pop("description", None) or note, out)
    return _subtopic(topic, str(name), None, None, note, out)


def _subtopic(topic: str, name: str, situations: Any, rest: dict[str, Any] | None, description: str | None, out: Normalized) -> dict[str, Any]:
    from .situations import situations_for

    sub: dict[str, Any] = {k: v for k, v in (rest or {}).items() if k not in ("name", "description")}
    sub["name"] = name
    if description:
        sub["description"] = description
    if situations:
        sub["situations"] = situations if isinstance(situations, list) else [situations]
    else:
        sub["situations"], sub["case"] = situations_for(name, topic, description)
        if sub["case"] is None:
            out.named_only.append(f"{topic} / {name}")
            del sub["case"]
    return sub


def _styles(value: Any, node: yaml.Node | None, comments: _Comments) -> Any:
    if isinstance(value, list):
        styles: dict[str, Any] = {}
        for i, entry in enumerate(value):
            _, item = _child(node, i)
            if isinstance(entry, str):
                note = comments.for_node(item)
                styles[entry] = {"weight": 1.0, **({"description": note} if note else {})}
            elif isinstance(entry, dict) and "name" in entry:
                styles[str(entry["name"])] = {k: v for k, v in entry.items() if k != "name"}
            elif isinstance(entry, dict) and len(entry) == 1:
                (name, body), = entry.items()
                styles[str(name)] = _style_body(body, None)
        return styles
    if isinstance(value, dict):
        out = {}
        for name, body in value.items():
            k, v = _child(node, name)
            out[name] = _style_body(body, comments.for_node(k, v))
        return out
    return value


def _style_body(body: Any, note: str | None) -> Any:
    if _is_weight(body):
        return {"weight": body, **({"description": note} if note else {})}
    if isinstance(body, str):
        return {"description": body}
    if isinstance(body, list):
        return {"templates": body}
    if body is None:
        return {**({"description": note} if note else {})}
    if isinstance(body, dict) and note and "description" not in body:
        return {**body, "description": note}
    return body


def _dimension(dim: str, values: Any, node: yaml.Node | None, comments: _Comments, out: Normalized) -> Any:
    """-> {value: weight}; descriptions, `says` phrases and turn ranges are kept beside it."""
    if isinstance(values, list):
        items = []
        for i, v in enumerate(values):
            _, item = _child(node, i)
            items.append((str(v), 1.0, comments.for_node(item)))
    elif isinstance(values, dict):
        items = []
        for value, body in values.items():
            k, v = _child(node, value)
            items.append((str(value), body, comments.for_node(k, v)))
    else:
        return values
    weights: dict[str, Any] = {}
    for value, body, note in items:
        if isinstance(body, dict):
            unknown = set(body) - {"weight", "turns", "description", "says"}
            if unknown:
                out.warnings.append(f"dimension '{dim}' value '{value}': field(s) {', '.join(sorted(unknown))} are not used (use weight, turns, description, says)")
            weights[value] = body.get("weight", 1.0)
            if body.get("turns") is not None:
                out.dimension_turns.setdefault(dim, {})[value] = str(body["turns"])
            note = body.get("description") or note
            if body.get("says") is not None:
                out.dimension_says.setdefault(dim, {})[value] = str(body["says"])
        else:
            weights[value] = 1.0 if body is None else body
        if note:
            out.dimension_notes.setdefault(dim, {})[value] = note
    return weights


def load_forms(path, model):
    """Read a taxonomy file, rewrite its shorthand forms, validate it; errors name the file and line."""
    from pydantic import ValidationError

    from ..errors import ConfigError
    from ..yamlio import format_validation_error, read_yaml

    data, text = read_yaml(path)
    if data is None:
        raise ConfigError("taxonomy file is empty", where=str(path), hint="See the bundled taxonomy examples (taxonomies/) and docs/taxonomies.md for the format.")
    if not isinstance(data, dict):
        raise ConfigError(f"taxonomy file must be a mapping at the top level, got {type(data).__name__}", where=str(path), hint="See docs/taxonomies.md for the forms basesel reads.")
    try:
        forms = normalize(data, text, path.stem, str(path))
    except yaml.YAMLError:  # composing failed where parsing did not: keep the data, lose the comments
        forms = normalize(data, "", path.stem, str(path))
    try:
        return model.model_validate(forms.data), forms
    except ValidationError as exc:
        raise ConfigError(
            "invalid taxonomy:\n" + format_validation_error(exc, path, _canonical_view(forms.root)),
            where=str(path),
            hint="Fix the fields listed above; the bundled taxonomy files and docs/taxonomies.md show the forms basesel reads.",
        ) from exc


def _canonical_view(root: yaml.Node | None) -> yaml.Node | None:
    """Error locations are in the canonical shape (topics as a list); map a topics mapping onto a
    sequence of its entries so `topics.2.subtopics` still finds its line."""
    if not isinstance(root, yaml.MappingNode):
        return root

    def view(node: yaml.Node, key: str | None = None) -> yaml.Node:
        if isinstance(node, yaml.MappingNode) and key in ("topics", "subtopics"):
            return yaml.SequenceNode("tag:yaml.org,2002:seq", [view(v, None) if isinstance(v, yaml.MappingNode) else _named(k, v) for k, v in node.value], node.start_mark, node.end_mark)
        if isinstance(node, yaml.MappingNode):
            return yaml.MappingNode(node.tag, [(k, view(v, k.value)) for k, v in node.value], node.start_mark, node.end_mark)
        if isinstance(node, yaml.SequenceNode):
            return yaml.SequenceNode(node.tag, [view(v, None) for v in node.value], node.start_mark, node.end_mark)
        return node

    return view(root)


def _named(key: yaml.Node, value: yaml.Node) -> yaml.Node:
    """`name: body` as a mapping node at the key's line, so a location inside it points there."""
    return yaml.MappingNode("tag:yaml.org,2002:map", [(yaml.ScalarNode("tag:yaml.org,2002:str", "name", key.start_mark, key.end_mark), key), (yaml.ScalarNode("tag:yaml.org,2002:str", "subtopics", key.start_mark, key.end_mark), value)], key.start_mark, value.end_mark)
