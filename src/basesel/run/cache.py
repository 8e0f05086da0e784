"""Content-addressed response cache shared by every run (BASESEL_CACHE_DIR, else the user cache dir).

The key covers everything that changes an answer: model identity (incl. file hash or digest),
messages, sampling parameters, the JSON schema and the sample index. One file per entry,
written atomically, so concurrent runs and killed runs never corrupt it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..models.base import Completion, GenerationParams, Message, ModelIdentity

CACHE_FORMAT = 1


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@lru_cache(maxsize=256)
def _params_json(params: GenerationParams) -> str:
    return _dumps(params.to_dict())


_schema_json: dict[int, tuple[Any, str]] = {}  # id -> (the schema, kept alive so its id stays its own; its JSON)


def _schema_part(schema: dict[str, Any] | None) -> str:
    """A run asks with a handful of schemas, thousands of times each (judging.py builds each once)."""
    if schema is None:
        return "null"
    hit = _schema_json.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    text = _dumps(schema)
    if len(_schema_json) >= 256:
        _schema_json.clear()
    _schema_json[id(schema)] = (schema, text)
    return text


def cache_key(
    identity: ModelIdentity,
    messages: list[Message],
    params: GenerationParams,
    json_schema: dict[str, Any] | None,
    sample_index: int,
) -> str:
    """sha256 of the canonical JSON (sorted keys, compact) of {format, messages, model, params, sample,
    schema}. Built part by part, in that (sorted) order, so the parts that repeat across calls (params,
    schema) are serialised once; the text is the same as dumping the whole payload at once."""
    blob = (
        f'{{"format":{CACHE_FORMAT},"messages":{_dumps([m.to_dict() for m in messages])},"model":{_dumps(identity.cache_identity())},'
        f'"params":{_params_json(params)},"sample":{_dumps(sample_index)},"schema":{_schema_part(json_schema)}}}'
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


_tmp_names = itertools.count()


class ResponseCache:
    def __init__(self, root: Path, enabled: bool = True):
        self.root = root / "responses"
        self.enabled = enabled
        self.hits = 0
        self.misses = 0
        self._dirs: set[Path] = set()  # shard folders known to exist

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> Completion | None:
        if not self.enabled:
            return None
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.misses += 1
            return None
        self.hits += 1
        return Completion.from_dict(data)

    def put(self, key: str, completion: Completion) -> None:
        if not self.enabled:
            return
        path = self._path(key)
        # A name no other writer uses (pid + counter), so no random name and no retry loop as in mkstemp.
        tmp = path.parent / f".{key}.{os.getpid()}.{next(_tmp_names)}.tmp"
        data = json.dumps(completion.to_dict(), ensure_ascii=False).encode("utf-8")
        try:
            if path.parent not in self._dirs:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._dirs.add(path.parent)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
            self._dirs.discard(path.parent)
            # a cache that cannot be written costs a re-run, not the result
