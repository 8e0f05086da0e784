"""Several servers of one model: an endpoint pool, and the per-endpoint state the executor keeps.

`--base-url` given more than once (or `--endpoints FILE`) makes an `EndpointPool`: one backend per
server, one model. The executor (run/executor.py) sends each call to the pool member with the fewest
calls in flight for its size, within that member's own concurrency; a member that fails
`DRAIN_AFTER` times in a row is drained (no new calls; the calls it holds are cancelled and retried on
the others) and tried again with one probe call after a cool-down that doubles up to `MAX_COOLDOWN_S`;
a probe that succeeds puts it back in use. Cache keys come from the pool's identity, which is the
first member's: an answer is cached the same whichever server gave it, and a run on the first URL
alone shares the cache with the pool.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..models.base import ChatModel, Completion, GenerationParams, Message, ModelIdentity
from .slots import PrioritySlots

DRAIN_AFTER = 2  # consecutive failed calls after which a pool member is drained
FIRST_COOLDOWN_S = 1.0
MAX_COOLDOWN_S = 30.0


@dataclass(frozen=True)
class EndpointSpec:
    """One server of a pool: its URL and, optionally, its own concurrency (else --concurrency)."""

    url: str
    concurrency: int | None = None


def load_endpoints_file(path: Path) -> list[EndpointSpec]:
    """A YAML (or JSON) list of servers: URLs, or mappings with `url` and `concurrency`, at the top
    level or under `endpoints:`.

        endpoints:
          - url: http://gpu1:8000/v1
            concurrency: 16
          - http://gpu2:8000/v1
    """
    from ..models.spec import check_base_url
    from ..yamlio import read_text, safe_load

    hint = "Write it as `endpoints:` followed by a list of URLs or of {url: ..., concurrency: N} entries."
    if not path.is_file():
        raise ConfigError(f"endpoints file not found: {path}", hint=hint)
    data = safe_load(read_text(path, "endpoints file"))
    items = data.get("endpoints") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise ConfigError(f"endpoints file {path} lists no endpoints", hint=hint)
    out = []
    for i, item in enumerate(items, start=1):
        entry = {"url": item} if isinstance(item, str) else item
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            raise ConfigError(f"endpoint {i} in {path} has no url", hint=hint)
        unknown = set(entry) - {"url", "concurrency"}
        if unknown:
            raise ConfigError(f"endpoint {i} in {path} has unknown keys: {', '.join(sorted(unknown))}", hint=hint)
        concurrency = entry.get("concurrency")
        if concurrency is not None and (isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1):
            raise ConfigError(f"endpoint {i} in {path}: concurrency {concurrency!r} is not a whole number >= 1", hint=hint)
        out.append(EndpointSpec(check_base_url(entry["url"], f" (endpoint {i} in {path})"), concurrency))
    return out


class EndpointPool:
    """A ChatModel made of several backends for one model. Only the executor routes its calls."""

    def __init__(self, members: list[ChatModel], concurrency: list[int | None] | None = None):
        if not members:
            raise ValueError("an endpoint pool needs at least one member")
        self.members = members
        self.member_concurrency = list(concurrency or [None] * len(members))
        self.default_concurrency = members[0].default_concurrency

    @property
    def identity(self) -> ModelIdentity:
        return self.members[0].identity  # the cache key's: the same whichever member answers

    async def describe(self) -> None:
        """Every member describes itself; members that report different weights are not one model."""
        for m in self.members:
            describe = getattr(m, "describe", None)
            if describe is not None:
                await describe()
        digests = {m.identity.endpoint: m.identity.digest for m in self.members}
        if len(set(digests.values())) > 1:
            listing = ", ".join(f"{url}: {d or 'unknown'}" for url, d in digests.items())
            raise ConfigError(
                f"the endpoints of {self.identity.spec} serve different model files ({listing})",
                hint="Point every --base-url of one model at servers of the same weights, or run them as separate models.",
            )
        self.identity.facts["endpoints"] = [m.identity.endpoint for m in self.members]

    async def generate(self, messages: list[Message], params: GenerationParams, json_schema: dict[str, Any] | None = None) -> Completion:
        # The executor routes pool calls itself (Executor.call); a direct call goes to the first member.
        return await self.members[0].generate(messages, params, json_schema)

    async def aclose(self) -> None:
        for m in self.members:
            await m.aclose()


def open_model(spec: str, base_url: str | None, endpoints: list[EndpointSpec], options: dict[str, Any]) -> ChatModel:
    """One backend, or a pool of one per endpoint when more than one server is given."""
    from ..models import create_model

    urls = [e.url for e in endpoints]
    if len(urls) <= 1:
        return create_model(spec, base_url=urls[0] if urls else base_url, options=options)
    if len(set(urls)) != len(urls):
        dup = next(u for u in urls if urls.count(u) > 1)
        raise ConfigError(f"endpoint {dup} is listed twice for {spec}", hint="Give each server once; set its concurrency to send it more calls.")
    members = [create_model(spec, base_url=url, options=options) for url in urls]
    return EndpointPool(members, [e.concurrency for e in endpoints])


@dataclass
class EndpointStats:
    calls: int = 0  # calls sent, retries included
    ok: int = 0
    failed: int = 0  # transient failures (retried)
    rejected: int = 0
    drained: int = 0  # times taken out of use
    recovered: int = 0  # times a probe put it back
    moved: int = 0  # calls cancelled here when it was drained, retried on another endpoint
    latency_ms: Counter[int] = field(default_factory=Counter)  # successful calls, by whole milliseconds
    last_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls, "ok": self.ok, "failed": self.failed, "rejected": self.rejected, "drained": self.drained,
            "recovered": self.recovered, "moved": self.moved, "latency_ms": {str(k): v for k, v in sorted(self.latency_ms.items())},
            "last_error": self.last_error,
        }


class Endpoint:
    """One server as the executor sees it: its concurrency limit, health and counts."""

    def __init__(self, key: str, slots: PrioritySlots):
        self.key = key
        self.slots = slots
        self.stats = EndpointStats()
        self.models: set[str] = set()  # model specs called here
        self.failures = 0  # consecutive
        self.down_until: float | None = None  # drained until then (monotonic); None: in use
        self.cooldown = FIRST_COOLDOWN_S
        self.probing = False
        self.pool_calls: set[asyncio.Task[Any]] = set()  # calls routed here by a pool (cancelled on drain)
        self.drain_cancelled: set[asyncio.Task[Any]] = set()

    @property
    def usable(self) -> bool:
        """Takes new pool calls: up, or drained with its cool-down over and no probe out yet."""
        return self.down_until is None or (not self.probing and time.monotonic() >= self.down_until)

    def load(self) -> float:
        return (self.slots._in_use + len(self.slots._waiters)) / self.slots.size

    def succeeded(self, latency_s: float) -> None:
        self.stats.ok += 1
        self.stats.latency_ms[int(latency_s * 1000)] += 1
        self.failures = 0
        if self.down_until is not None:
            self.down_until, self.probing, self.cooldown = None, False, FIRST_COOLDOWN_S
            self.stats.recovered += 1

    def failed(self, error: str, *, in_pool: bool) -> bool:
        """Count a failed call; in a pool, drain the endpoint when it keeps failing. True when drained now."""
        self.stats.failed += 1
        self.stats.last_error = error
        self.failures += 1
        if not in_pool:
            return False
        if self.down_until is not None:  # a failed probe: wait longer before the next
            self.probing = False
            self.cooldown = min(MAX_COOLDOWN_S, self.cooldown * 2)
            self.down_until = time.monotonic() + self.cooldown
            return False
        if self.failures < DRAIN_AFTER:
            return False
        self.down_until = time.monotonic() + self.cooldown
        self.stats.drained += 1
        for task in self.pool_calls:  # what it still holds goes elsewhere
            if not task.done():
                self.drain_cancelled.add(task)
                task.cancel()
        return True


class Drained(Exception):
    """The endpoint holding a call was drained: the call goes to another one (not a failed attempt)."""


class PoolRouter:
    """Picks a pool member for each call: the usable one with the lowest load (in flight and waiting,
    over its size), in list order on ties. Calls wait by priority (verdicts first) when every usable
    member is full, and are woken when a slot frees or a cool-down ends."""

    def __init__(self, members: list[tuple[ChatModel, Endpoint]]):
        self.members = members
        self._waiters: list[tuple[int, int, asyncio.Future[tuple[ChatModel, Endpoint]]]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        for _, ep in members:
            ep.slots.on_release.append(self._wake)

    def _pick(self, avoid: Endpoint | None) -> tuple[ChatModel, Endpoint] | None:
        """The least-loaded usable member with a free slot (taken), avoiding `avoid` while another can serve."""
        best = None
        for member, ep in self.members:
            if ep is avoid or not ep.usable or not ep.slots.free():
                continue
            if best is None or ep.load() < best[1].load():
                best = (member, ep)
        if best is None:
            return self._pick(None) if avoid is not None else None
        best[1].slots.try_acquire()
        if best[1].down_until is not None:
            best[1].probing = True  # one probe call at a time to a drained endpoint
        return best

    async def acquire(self, priority: int, avoid: Endpoint | None = None) -> tuple[ChatModel, Endpoint]:
        if not self._waiters:
            got = self._pick(avoid)
            if got is not None:
                return got
        future: asyncio.Future[tuple[ChatModel, Endpoint]] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), future))
        self._schedule_cooldown_wake()
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                future.result()[1].slots.release()
            raise

    def _wake(self) -> None:
        while self._waiters:
            if self._waiters[0][2].done():
                heapq.heappop(self._waiters)
                continue
            got = self._pick(None)
            if got is None:
                self._schedule_cooldown_wake()
                return
            _, _, future = heapq.heappop(self._waiters)
            future.set_result(got)

    def _schedule_cooldown_wake(self) -> None:
        """When every member is drained, wake the waiters as the first cool-down ends."""
        ends = [ep.down_until for _, ep in self.members if ep.down_until is not None and not ep.probing]
        if not ends or any(ep.down_until is None for _, ep in self.members) or self._timer is not None:
            return
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timer = None
            self._wake()

        self._timer = loop.call_later(max(0.0, min(ends) - time.monotonic()) + 0.001, fire)


def summarize_endpoints(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per endpoint, over every session of a run (endpoints.json): counts, errors, latency mean/p50/p95."""
    merged: dict[str, dict[str, Any]] = {}
    for session in records:
        for row in session.get("endpoints", []):
            m = merged.setdefault(row["endpoint"], {"endpoint": row["endpoint"], "models": [], "calls": 0, "ok": 0, "failed": 0, "rejected": 0,
                                                    "drained": 0, "recovered": 0, "moved": 0, "latency": Counter(), "last_error": None})
            m["models"] = sorted(set(m["models"]) | set(row.get("models", [])))
            for k in ("calls", "ok", "failed", "rejected", "drained", "recovered", "moved"):
                m[k] += row.get(k, 0)
            m["latency"].update({int(k): v for k, v in row.get("latency_ms", {}).items()})
            m["last_error"] = row.get("last_error") or m["last_error"]
    out = []
    for m in merged.values():
        latency = m.pop("latency")
        n = sum(latency.values())
        m["latency_mean_s"] = round(sum(k * v for k, v in latency.items()) / n / 1000, 4) if n else None
        m["latency_p50_s"] = _percentile(latency, 0.5)
        m["latency_p95_s"] = _percentile(latency, 0.95)
        out.append(m)
    return out


def _percentile(counts: Counter[int], q: float) -> float | None:
    n = sum(counts.values())
    if not n:
        return None
    rank = min(n - 1, int(round(q * (n - 1))))  # the same rank rule as the summary's latency percentiles
    seen = 0
    for ms in sorted(counts):
        seen += counts[ms]
        if seen > rank:
            return ms / 1000
    return None
