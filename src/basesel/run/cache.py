"""Content-addressed response cache shared by every run (BASESEL_CACHE_DIR, else the user cache dir).

The key covers everything that changes an answer: model identity (incl. file hash or digest),
messages, sampling parameters, the JSON schema and the sample index. One file per entry,
written atomically, so concurrent runs and killed runs never corrupt it.

Entries are written by one background thread: creating a file costs ~0.5 ms on this machine's ext4,
which on the event loop held up every other call (5,000-scenario runs, docs/benchmarks.md). An entry
waiting to be written is served from memory; `flush()` (and process exit) waits for the writes. A
killed run loses at most the entries still queued, and its run directory holds those results anyway.
"""

from __future__ import annotations

import atexit
import hashlib
import itertools
import json
import os
import queue
import threading
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


# Entries waiting for the writer beyond which put() writes inline (a disk slower than the calls).
MAX_PENDING = 2000


class _Writer:
    """The process's one cache-writing thread. Entries waiting for it are kept by path, so every
    ResponseCache of the process (a second run in the same process, say) reads them."""

    def __init__(self) -> None:
        self.pending: dict[str, Completion] = {}
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._dirs: set[str] = set()  # shard folders known to exist

    def put(self, path: str, data: bytes, completion: Completion) -> None:
        if len(self.pending) >= MAX_PENDING:
            self.write(path, data)
            return
        self.pending[path] = completion
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="basesel-cache-writer", daemon=True)
                self._thread.start()
                atexit.register(self.flush)
        self._queue.put((path, data, completion))

    def flush(self) -> None:
        """Wait until every entry queued so far is on disk."""
        if self._thread is None or not self._thread.is_alive():
            return
        done = threading.Event()
        self._queue.put(done)
        done.wait()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if isinstance(item, threading.Event):
                item.set()
                continue
            path, data, completion = item
            self.write(path, data)
            if self.pending.get(path) is completion:
                self.pending.pop(path, None)

    def write(self, path: str, data: bytes) -> None:
        folder = os.path.dirname(path)
        # A name no other writer uses (pid + counter), so no random name and no retry loop as in mkstemp.
        tmp = f"{folder}{os.sep}.{os.path.basename(path)}.{os.getpid()}.{next(_tmp_names)}.tmp"
        try:
            if folder not in self._dirs:
                os.makedirs(folder, exist_ok=True)
                self._dirs.add(folder)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError:
            self._dirs.discard(folder)
            try:
                os.unlink(tmp)
            except OSError:
                pass
            # a cache that cannot be written costs a re-run, not the result


_writer = _Writer()


class ResponseCache:
    def __init__(self, root: Path, enabled: bool = True):
        self.root = root / "responses"
        self.enabled = enabled
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> str:
        return f"{self.root}{os.sep}{key[:2]}{os.sep}{key}.json"  # str, not Path: built twice a call

    def get(self, key: str) -> Completion | None:
        if not self.enabled:
            return None
        path = self._path(key)
        pending = _writer.pending.get(path)
        if pending is not None:
            self.hits += 1
            return pending
        try:
            with open(path, "rb") as fh:
                data = json.loads(fh.read())
        except (OSError, ValueError):
            self.misses += 1
            return None
        self.hits += 1
        return Completion.from_dict(data)

    def put(self, key: str, completion: Completion) -> None:
        if not self.enabled:
            return
        _writer.put(self._path(key), json.dumps(completion.to_dict(), ensure_ascii=False).encode("utf-8"), completion)

    def flush(self) -> None:
        """Wait until every entry put so far (by any cache of this process) is on disk."""
        _writer.flush()
