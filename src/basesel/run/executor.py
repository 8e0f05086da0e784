"""Executes model calls: cache first, bounded concurrency per endpoint, retries on transient errors.

Every stage that calls a model (candidate responses, judge verdicts, scenario generation,
benchmarks of fine-tuned adapters) goes through `Executor.call`, so caching, limits and
retries behave the same everywhere.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import RequestRejected, TransientModelError
from ..models.base import ChatModel, Completion, GenerationParams, Message
from .cache import ResponseCache, cache_key
from .slots import PrioritySlots


# Refused requests, with not one answered, after which the refusals are taken to be systematic.
SYSTEMATIC_REJECTIONS = 3


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    max_retry_after_s: float = 120.0

    def delay(self, attempt: int, exc: TransientModelError) -> float:
        if exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), self.max_retry_after_s)
        # exponential backoff with full jitter
        return random.uniform(0, min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1)))


@dataclass
class CallResult:
    completion: Completion | None
    cached: bool
    attempts: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.completion is not None


class Executor:
    def __init__(self, cache: ResponseCache, retry: RetryPolicy | None = None):
        self.cache = cache
        self.retry = retry or RetryPolicy()
        self._limits: dict[str, PrioritySlots] = {}
        self.calls = 0  # model calls actually made (cache misses incl. retries)
        self._checked: dict[int, asyncio.Lock] = {}
        self._ready: set[int] = set()
        self._answered: set[int] = set()  # models that answered at least once
        self._rejections: dict[int, int] = {}

    def set_limit(self, model: ChatModel, concurrency: int | None) -> None:
        """Calls to one endpoint share one limit, so a candidate and judge on the same server share it."""
        endpoint = model.identity.endpoint or model.identity.spec
        size = max(1, concurrency or model.default_concurrency)
        if endpoint in self._limits:
            size = min(size, self._limits[endpoint].size)
        self._limits[endpoint] = PrioritySlots(size)

    def limit_size(self, model: ChatModel) -> int:
        return self._limit(model).size

    def _limit(self, model: ChatModel) -> PrioritySlots:
        endpoint = model.identity.endpoint or model.identity.spec
        if endpoint not in self._limits:
            self.set_limit(model, None)
        return self._limits[endpoint]

    def _note_rejection(self, model: ChatModel, exc: RequestRejected) -> None:
        """One refused request is that sample's problem; the first several refused with none answered
        means every request will be (a wrong parameter, an unsupported feature): stop the run there."""
        count = self._rejections[id(model)] = self._rejections.get(id(model), 0) + 1
        if id(model) not in self._answered and count >= SYSTEMATIC_REJECTIONS:
            raise exc

    async def _ensure_ready(self, model: ChatModel) -> None:
        """Run a backend's preflight `check()` once, before its first real call. A fully cached
        run never contacts the server (or imports its SDK)."""
        if id(model) in self._ready:
            return
        lock = self._checked.setdefault(id(model), asyncio.Lock())
        async with lock:
            if id(model) in self._ready:
                return
            check = getattr(model, "check", None)
            if check is not None:
                await check()
            self._ready.add(id(model))

    async def call(
        self,
        model: ChatModel,
        messages: list[Message],
        params: GenerationParams,
        *,
        json_schema: dict[str, Any] | None = None,
        sample_index: int = 0,
        priority: int = 0,
        accept: Callable[[Completion], bool] | None = None,
    ) -> CallResult:
        """One call, from the cache when it holds the answer. Waiting calls to a busy endpoint go in
        `priority` order (lower first). `accept`: a completion it rejects (a judge reply that cannot be
        read) is returned but never cached, and a cached one it rejects is called again."""
        key = cache_key(model.identity, messages, params, json_schema, sample_index)
        hit = self.cache.get(key)
        if hit is not None and accept is not None and not accept(hit):
            hit = None  # cached before this rule existed: ask again
        if hit is not None:
            self._answered.add(id(model))  # it answered these settings before: later refusals are per request
            return CallResult(hit, cached=True, attempts=0)
        await self._ensure_ready(model)
        last_error = ""
        for attempt in range(1, self.retry.attempts + 1):
            try:
                async with self._limit(model).slot(priority):
                    self.calls += 1
                    completion = await model.generate(messages, params, json_schema)
            except TransientModelError as exc:
                last_error = str(exc)
                if attempt == self.retry.attempts:
                    break
                await asyncio.sleep(self.retry.delay(attempt, exc))
                continue
            except RequestRejected as exc:
                self._note_rejection(model, exc)
                detail = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
                return CallResult(None, cached=False, attempts=attempt, error=f"rejected: {detail}")
            self._answered.add(id(model))
            if accept is None or accept(completion):
                self.cache.put(key, completion)
            return CallResult(completion, cached=False, attempts=attempt)
        return CallResult(None, cached=False, attempts=self.retry.attempts, error=f"{last_error} (gave up after {self.retry.attempts} attempts)")
