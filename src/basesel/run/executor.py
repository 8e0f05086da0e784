"""Executes model calls: cache first, bounded concurrency per endpoint, retries on transient errors.

Every stage that calls a model (candidate responses, judge verdicts, scenario generation,
benchmarks of fine-tuned adapters) goes through `Executor.call`, so caching, limits and
retries behave the same everywhere. A model served by several endpoints (an `EndpointPool`,
run/endpoints.py) is routed here too: least-loaded member, drained on failure, retried elsewhere.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import ModelError, RequestRejected, TransientModelError
from ..models.base import ChatModel, Completion, GenerationParams, Message
from .cache import ResponseCache, cache_key
from .endpoints import Drained, Endpoint, EndpointPool, PoolRouter
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
        self._endpoints: dict[str, Endpoint] = {}  # endpoint (URL, file, spec) -> its limit, health, counts
        self._routers: dict[int, PoolRouter] = {}
        self.calls = 0  # model calls actually made (cache misses incl. retries)
        self._checked: dict[int, asyncio.Lock] = {}
        self._ready: set[int] = set()
        self._answered: set[int] = set()  # models that answered at least once
        self._rejections: dict[int, int] = {}

    @staticmethod
    def _key(model: ChatModel) -> str:
        return model.identity.endpoint or model.identity.spec

    def set_limit(self, model: ChatModel, concurrency: int | None) -> None:
        """Calls to one endpoint share one limit, so a candidate and judge on the same server share it.
        A pool's members each get their own (their endpoints-file concurrency, else `concurrency`)."""
        if isinstance(model, EndpointPool):
            for member, own in zip(model.members, model.member_concurrency):
                self.set_limit(member, own or concurrency)
            self._routers.pop(id(model), None)
            return
        key = self._key(model)
        size = max(1, concurrency or model.default_concurrency)
        old = self._endpoints.get(key)
        if old is not None:
            size = min(size, old.slots.size)
        endpoint = Endpoint(key, PrioritySlots(size))
        if old is not None:
            endpoint.stats, endpoint.models = old.stats, old.models
        self._endpoints[key] = endpoint

    def limit_size(self, model: ChatModel) -> int:
        if isinstance(model, EndpointPool):
            return sum(self._endpoint(m).slots.size for m in model.members)
        return self._endpoint(model).slots.size

    def _endpoint(self, model: ChatModel) -> Endpoint:
        key = self._key(model)
        if key not in self._endpoints:
            self.set_limit(model, None)
        return self._endpoints[key]

    def _limit(self, model: ChatModel) -> PrioritySlots:
        return self._endpoint(model).slots

    def endpoint_stats(self) -> list[dict[str, Any]]:
        """Per endpoint: the models called there, calls, failures, drains, latency (whole ms counts)."""
        return [{"endpoint": ep.key, "models": sorted(ep.models), **ep.stats.to_dict()} for ep in self._endpoints.values() if ep.stats.calls]

    def _router(self, pool: EndpointPool) -> PoolRouter:
        router = self._routers.get(id(pool))
        if router is None:
            router = self._routers[id(pool)] = PoolRouter([(m, self._endpoint(m)) for m in pool.members])
        return router

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
        if isinstance(model, EndpointPool) and len(model.members) > 1:
            return await self._call_pool(model, key, messages, params, json_schema, priority, accept)
        await self._ensure_ready(model)
        endpoint = self._endpoint(model)
        endpoint.models.add(model.identity.spec)
        stats = endpoint.stats
        last_error = ""
        for attempt in range(1, self.retry.attempts + 1):
            try:
                async with endpoint.slots.slot(priority):
                    self.calls += 1
                    stats.calls += 1
                    start = time.perf_counter()
                    completion = await model.generate(messages, params, json_schema)
            except TransientModelError as exc:
                last_error = str(exc)
                endpoint.failed(last_error, in_pool=False)
                if attempt == self.retry.attempts:
                    break
                await asyncio.sleep(self.retry.delay(attempt, exc))
                continue
            except RequestRejected as exc:
                stats.rejected += 1
                self._note_rejection(model, exc)
                detail = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
                return CallResult(None, cached=False, attempts=attempt, error=f"rejected: {detail}")
            endpoint.succeeded(time.perf_counter() - start)
            self._answered.add(id(model))
            if accept is None or accept(completion):
                self.cache.put(key, completion)
            return CallResult(completion, cached=False, attempts=attempt)
        return CallResult(None, cached=False, attempts=self.retry.attempts, error=f"{last_error} (gave up after {self.retry.attempts} attempts)")

    async def _call_pool(self, pool: EndpointPool, key: str, messages: list[Message], params: GenerationParams,
                         json_schema: dict[str, Any] | None, priority: int, accept: Callable[[Completion], bool] | None) -> CallResult:
        """A pool call: the router picks a member per attempt. A failure drains a member that keeps
        failing and moves the calls it holds; the next attempt goes to another member without waiting
        when one is usable. A drained member's cancelled calls do not count as attempts."""
        router = self._router(pool)
        last_error, attempt, avoid = "", 0, None
        moves = 0
        while attempt < self.retry.attempts:
            member, endpoint = await router.acquire(priority, avoid)
            endpoint.models.add(member.identity.spec)
            settled = False
            try:
                try:
                    await self._ensure_ready(member)
                except ModelError as exc:  # this server is not there: drain it, unless no member is
                    if not any(ep.down_until is None for _, ep in router.members if ep is not endpoint):
                        raise
                    endpoint.failures = max(endpoint.failures, DRAIN_NOW)
                    endpoint.failed(exc.message, in_pool=True)
                    settled, avoid, last_error = True, endpoint, exc.message
                    continue
                attempt += 1
                self.calls += 1
                endpoint.stats.calls += 1
                start = time.perf_counter()
                completion = await self._on_endpoint(endpoint, member.generate(messages, params, json_schema))
                settled = True
                endpoint.succeeded(time.perf_counter() - start)  # before the release: back in use for the next
            except Drained:
                settled, avoid = True, endpoint
                endpoint.stats.moved += 1
                attempt -= 1  # not this call's fault: it goes elsewhere
                moves += 1
                if moves > 8 * len(pool.members):
                    last_error = last_error or f"{endpoint.key} was drained"
                    break
                continue
            except TransientModelError as exc:
                settled, avoid, last_error = True, endpoint, str(exc)
                endpoint.failed(last_error, in_pool=True)
                if attempt == self.retry.attempts:
                    break
                if not any(ep.usable and ep is not endpoint for _, ep in router.members):
                    await asyncio.sleep(self.retry.delay(attempt, exc))  # nowhere else to go now: back off
                continue
            except RequestRejected as exc:
                settled = True
                endpoint.stats.rejected += 1
                endpoint.probing = False
                self._note_rejection(pool, exc)
                detail = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
                return CallResult(None, cached=False, attempts=attempt, error=f"rejected: {detail}")
            finally:
                endpoint.slots.release()
                if not settled and endpoint.probing and endpoint.down_until is not None:
                    endpoint.probing = False  # a probe that ended without an answer (cancelled): allow another
            self._answered.add(id(pool))
            if accept is None or accept(completion):
                self.cache.put(key, completion)
            return CallResult(completion, cached=False, attempts=attempt)
        return CallResult(None, cached=False, attempts=attempt, error=f"{last_error} (gave up after {attempt} attempts)")

    @staticmethod
    async def _on_endpoint(endpoint: Endpoint, call: Any) -> Completion:
        """Run a pool call as a task the endpoint holds, so draining the endpoint can cancel it."""
        task = asyncio.ensure_future(call)
        endpoint.pool_calls.add(task)
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task in endpoint.drain_cancelled and not (current is not None and current.cancelling()):
                raise Drained() from None
            raise
        finally:
            endpoint.pool_calls.discard(task)
            endpoint.drain_cancelled.discard(task)


DRAIN_NOW = 1_000  # failures that drain a member at once (its server is not reachable)
