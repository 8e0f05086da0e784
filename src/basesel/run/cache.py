"""Content-addressed response cache shared by every run (BASESEL_CACHE_DIR, else the user cache dir).

The key covers everything that changes an answer: model identity (incl. file hash or digest),
messages, sampling parameters, the JSON schema and the sample index. One file per entry,
written atomically, so concurrent runs and killed runs never corrupt it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..models.base import Completion, GenerationParams, Message, ModelIdentity

CACHE_FORMAT = 1


def cache_key(
    identity: ModelIdentity,
    messages: list[Message],
    params: GenerationParams,
    json_schema: dict[str, Any] | None,
    sample_index: int,
) -> str:
    payload = {
        "format": CACHE_FORMAT,
        "model": identity.cache_identity(),
        "messages": [m.to_dict() for m in messages],
        "params": params.to_dict(),
        "schema": json_schema,
        "sample": sample_index,
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    def __init__(self, root: Path, enabled: bool = True):
        self.root = root / "responses"
        self.enabled = enabled
        self.hits = 0
        self.misses = 0

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
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(completion.to_dict(), fh, ensure_ascii=False)
            os.replace(tmp, path)
        except OSError:
            pass  # a cache that cannot be written costs a re-run, not the result
