"""Load YAML into pydantic models with errors that name the file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's parser when PyYAML was built with it (the wheels are: several times faster than pure
    Python), refusing duplicate keys: YAML keeps the last one silently, so a criterion with two `kind:`
    lines or a topic listed twice would lose data without a word."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:  # an unhashable key: the base class reports it
                break
            if first != key_node.start_mark.line + 1:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {first}); YAML would keep only the last one", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


class LocatedValueError(ValueError):
    """A check over a whole model that knows which part it is about (the second of two equal ids, a
    dimension, a template), so the error points at that part's line instead of the model's first."""

    def __init__(self, message: str, *loc: str | int):
        super().__init__(message)
        self.loc = loc


def repeated(values: list[str]) -> tuple[list[str], int | None]:
    """The values that occur more than once, and the index of the first repeat (where to point)."""
    dupes = sorted({v for v in values if values.count(v) > 1})
    at = next((i for i, v in enumerate(values) if v in values[:i]), None)
    return dupes, at


def _node_at(node: yaml.Node | None, loc: tuple[Any, ...]) -> yaml.Node | None:
    """Walk a composed YAML node tree along a pydantic error location."""
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if k.value == str(key):
                    nxt = v
                    break
            if nxt is None:
                return node
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            # pydantic adds union/tag names to locations; skip them
            continue
    return node


def format_validation_error(exc: ValidationError, path: Path, root: yaml.Node | None) -> str:
    lines = []
    for err in exc.errors()[:8]:
        # a model-level check's own location, inside the model pydantic names
        loc = tuple(err["loc"]) + tuple(getattr((err.get("ctx") or {}).get("error"), "loc", ()))
        node = _node_at(root, loc)
        line = f"line {node.start_mark.line + 1}" if node is not None else "?"
        field = ".".join(str(p) for p in loc) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; see the bundled examples for the allowed fields)"
        lines.append(f"  {path}:{line.removeprefix('line ')}  {field}: {msg}")
    more = len(exc.errors()) - 8
    if more > 0:
        lines.append(f"  ... and {more} more")
    return "\n".join(lines)


def not_utf8(path: Path, exc: UnicodeDecodeError) -> ConfigError:
    """The error for a text file in another encoding (UTF-16, Latin-1, a binary file ...)."""
    data = exc.object if isinstance(exc.object, bytes) else b""
    line = data[: exc.start].count(b"\n") + 1
    return ConfigError(
        f"file is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}, line {line})" if exc.start < len(data) else "file is not UTF-8 text",
        where=str(path),
        hint="Save it as UTF-8 (in most editors: Save As / Reopen with encoding UTF-8), or check that it is the text file you meant.",
    )


def read_text(path: Path, what: str = "", *, hint: str | None = None, encoding: str = "utf-8") -> str:
    """A text file's contents, with a ConfigError naming the file when it cannot be read or is not UTF-8."""
    try:
        return path.read_text(encoding=encoding)
    except OSError as exc:
        raise ConfigError(f"cannot read {what + ' ' if what else ''}{path}: {exc.strerror}", hint=hint) from exc
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from exc


def read_yaml(path: Path) -> tuple[Any, str]:
    """The parsed data and the text it came from."""
    text = read_text(path)
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"malformed YAML: {problem}", where=where, hint="Fix the YAML syntax at that line (indentation, colons, quotes).") from exc
    return data, text


def safe_load(text: str) -> Any:
    """yaml.safe_load with the fast loader."""
    return yaml.load(text, Loader=_StrictLoader)


def compose(text: str) -> yaml.Node | None:
    """The node tree (with line numbers), built only when an error must point at a line."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None


def load_model(path: Path, model: type[M], *, what: str) -> M:
    """Parse `path` as YAML and validate it as `model`."""
    data, text = read_yaml(path)
    if data is None:
        raise ConfigError(f"{what} file is empty", where=str(path), hint=f"See the bundled {what} examples for the format.")
    if not isinstance(data, dict):
        raise ConfigError(f"{what} file must be a mapping at the top level, got {type(data).__name__}", where=str(path))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            f"invalid {what}:\n" + format_validation_error(exc, path, compose(text)),
            where=str(path),
            hint=f"Fix the fields listed above; the bundled {what} files show the format.",
        ) from exc
