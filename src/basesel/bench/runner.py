"""A benchmark run: tasks x models x conditions, in one run directory.

Every model call goes through the one Executor (shared response cache, per-endpoint limits, retries).
Predictions are appended to predictions.jsonl as each item finishes; a re-run of the same command (same
--out) skips what is done and redoes failed calls, so a killed run loses nothing finished. Cells of one
model run one after another (items inside a cell in parallel up to the endpoint's limit), so each cell's
wall time, and from it the throughput and self-hosted cost, is its own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .. import __version__
from ..errors import ConfigError, UsageError
from ..models import ChatModel, create_model
from ..models.spec import parse_spec, redact_url
from ..paths import cache_dir
from ..run.cache import ResponseCache
from ..run.executor import Executor, RetryPolicy
from ..run.files import JsonlAppender, atomic_write_json, blocking_file, ensure_dir, read_jsonl
from .adapters import Adapter, check_base
from .evaluate import Context, evaluate
from .loading import TaskData
from .prompts import shot_order

MANIFEST = "manifest.json"
PREDICTIONS = "predictions.jsonl"
TIMINGS = "timings.jsonl"
SUMMARY = "summary.json"
SMOKE_NAMESPACE = "smoke"


def parse_conditions(text: str) -> list[str]:
    """'zero-shot,5-shot,lora' -> ['zero-shot', '5-shot', 'lora'] (checked)."""
    out = []
    for raw in (text or "").split(","):
        c = raw.strip().lower()
        if not c:
            continue
        if c in ("zero-shot", "0-shot", "zeroshot"):
            c = "zero-shot"
        elif not (c == "lora" or re.fullmatch(r"[1-9][0-9]*-shot", c)):
            raise UsageError(f"unknown condition '{raw.strip()}'", hint="Conditions: zero-shot, K-shot (e.g. 5-shot), lora; comma-separated.")
        if c not in out:
            out.append(c)
    if not out:
        raise UsageError("no conditions given", hint="Pass e.g. --conditions zero-shot,5-shot,lora.")
    return out


def shots_of(condition: str) -> int:
    return int(condition.split("-")[0]) if condition.endswith("-shot") and condition != "zero-shot" else 0


@dataclass
class BenchConfig:
    tasks: list[TaskData]
    conditions: list[str]
    model: str | None = None
    base_url: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    adapter: Adapter | None = None
    apis: list[str] = field(default_factory=list)
    judge: str = "embedded"
    judge_base_url: str | None = None
    seed: int = 0
    concurrency: int | None = None
    constrain: bool = True
    unsafe_code: bool = False
    smoke: bool = False
    no_cache: bool = False
    out: Path | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # costs and report settings, recorded in the manifest


@dataclass
class Row:
    """One model as benchmarked: a local model, the local model with the LoRA, or an API model."""

    key: str
    spec: str
    hosted: str  # "self" | "api"
    model: ChatModel
    conditions: list[str]


def default_run_dir(smoke: bool) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / SMOKE_NAMESPACE / f"bench-{stamp}" if smoke else Path("runs") / f"bench-{stamp}"


def resolve_run_dir(out: Path | None, smoke: bool) -> Path:
    """Smoke runs live under a `smoke` folder and real runs never do, so neither can overwrite the other."""
    run_dir = out or default_run_dir(smoke)
    in_smoke = SMOKE_NAMESPACE in run_dir.parts
    if smoke and not in_smoke:
        raise UsageError(f"--smoke-test writes only under a '{SMOKE_NAMESPACE}' folder, and --out {run_dir} is not inside one", hint=f"Drop --out (it defaults to runs/{SMOKE_NAMESPACE}/bench-<time>), or pass a path like runs/{SMOKE_NAMESPACE}/mine.")
    if not smoke and in_smoke:
        raise UsageError(f"--out {run_dir} is inside a '{SMOKE_NAMESPACE}' folder, which holds smoke-test runs only", hint="Pick a run directory outside any 'smoke' folder for a real benchmark.")
    blocker = blocking_file(run_dir)
    if blocker is not None:
        raise ConfigError(f"--out {run_dir}: {blocker} is a file, not a directory", hint="Pass a new directory, or an existing benchmark run directory to resume it.")
    return run_dir


class BenchmarkRun:
    def __init__(self, cfg: BenchConfig, run_dir: Path, progress: Callable[[str, int, int], None] | None = None):
        self.cfg = cfg
        self.run_dir = run_dir
        self.progress = progress or (lambda stage, done, total: None)
        self.executor = Executor(ResponseCache(cache_dir(), enabled=not cfg.no_cache), RetryPolicy())
        self.rows: list[Row] = []
        self.judge: ChatModel | None = None

    async def _open(self) -> None:
        cfg = self.cfg
        if cfg.model:
            local_conditions = [c for c in cfg.conditions if c != "lora"]
            base = create_model(cfg.model, base_url=cfg.base_url, options=cfg.options)
            await _describe(base)
            hosted = "api" if parse_spec(cfg.model, cfg.base_url).provider in ("openai", "anthropic") and not cfg.base_url else "self"
            if local_conditions:
                self.rows.append(Row(cfg.model, cfg.model, hosted, base, local_conditions))
            if "lora" in cfg.conditions:
                if cfg.adapter is None:
                    raise UsageError("the lora condition needs --adapter DIR (written by `basesel finetune`)", hint="Pass --adapter, or drop lora from --conditions.")
                check_base(cfg.adapter, cfg.model, base.identity.digest)
                tuned = create_model(cfg.model, base_url=cfg.base_url, options={**cfg.options, "lora": str(cfg.adapter.gguf)})
                await _describe(tuned)
                _check_lora_applied(tuned, cfg.adapter, cfg.model)
                self.rows.append(Row(f"{cfg.model}+lora", cfg.model, hosted, tuned, ["lora"]))
        elif "lora" in cfg.conditions:
            raise UsageError("the lora condition needs --model (the adapter's base) and --adapter", hint="Pass --model and --adapter, or drop lora from --conditions.")
        api_conditions = [c for c in cfg.conditions if c != "lora"]
        for spec in cfg.apis:
            if not api_conditions:
                break
            model = create_model(spec)
            await _describe(model)
            self.rows.append(Row(spec, spec, "api", model, api_conditions))
        if not self.rows:
            raise UsageError("nothing to benchmark", hint="Pass --model and/or --api, with conditions that apply to them (lora needs --model).")
        for row in self.rows:
            self.executor.set_limit(row.model, cfg.concurrency)
        if any(t.task.kind == "free_text" for t in cfg.tasks):
            self.judge = create_model(cfg.judge, base_url=cfg.judge_base_url)
            await _describe(self.judge)

    def manifest(self) -> dict[str, Any]:
        import importlib.metadata as md

        def version(name: str) -> str | None:
            try:
                return md.version(name)
            except md.PackageNotFoundError:
                return None

        return {
            "kind": "benchmark",
            "smoke": self.cfg.smoke,
            "basesel_version": __version__,
            "python": sys.version.split()[0],
            "versions": {p: version(p) for p in ("datasets", "scikit-learn", "llama_cpp_python", "openai", "anthropic", "numpy", "scipy", "statsmodels")},
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "seed": self.cfg.seed,
            "conditions": self.cfg.conditions,
            "constrained_decoding": self.cfg.constrain,
            "models": [{"key": r.key, "spec": r.spec, "hosted": r.hosted, "conditions": r.conditions, "identity": _redacted_identity(r.model)} for r in self.rows],
            "base_url": redact_url(self.cfg.base_url),
            "judge_base_url": redact_url(self.cfg.judge_base_url),
            "adapter": self.cfg.adapter.to_dict() if self.cfg.adapter else None,
            "judge": _redacted_identity(self.judge) if self.judge else None,
            "tasks": [
                {"id": t.task.id, "name": t.task.title, "kind": t.task.kind, "metric": t.task.metric, "labels": t.labels, "max_tokens": t.task.max_tokens,
                 "seed": t.task.seed, "source": t.source, "items_sha256": t.items_sha256, "warnings": t.warnings, "spec": t.task.model_dump(mode="json", exclude={"items"})}
                for t in self.cfg.tasks
            ],
            "settings": self.cfg.settings,
        }

    def _check_resumable(self, manifest: dict[str, Any]) -> None:
        path = self.run_dir / MANIFEST
        if not path.exists():
            return
        from ..run.files import read_json_object

        old = read_json_object(path, "benchmark manifest")
        if old.get("kind") != "benchmark":
            raise ConfigError(f"{self.run_dir} is not a benchmark run directory", hint="Pass a new --out directory.")
        if bool(old.get("smoke")) != self.cfg.smoke:
            raise ConfigError(f"{self.run_dir} holds a {'smoke-test' if old.get('smoke') else 'real'} benchmark; this run is {'a smoke test' if self.cfg.smoke else 'real'}", hint="Use another --out directory.")
        old_items = {t["id"]: t["items_sha256"] for t in old.get("tasks", [])}
        old_models = {m["key"]: m["identity"].get("digest") for m in old.get("models", [])}
        for t in manifest["tasks"]:
            if t["id"] in old_items and old_items[t["id"]] != t["items_sha256"]:
                raise ConfigError(f"{self.run_dir} ran task '{t['id']}' on other items (another sample size, seed or data revision)", hint="Use the same flags as that run to resume it, or a new --out.")
        for m in manifest["models"]:
            if m["key"] in old_models and old_models[m["key"]] != m["identity"].get("digest"):
                raise ConfigError(f"{self.run_dir} ran {m['key']} as another model file (digest changed)", hint="Use a new --out to benchmark the changed model.")
        manifest["created"] = old.get("created", manifest["created"])
        manifest["resumed"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")

    async def run(self) -> dict[str, Any]:
        from ..rubric import load_rubric
        from ..paths import resolve_data_file
        from .summary import summarize

        await self._open()
        warm = _Prewarm()
        manifest = self.manifest()
        self._check_resumable(manifest)
        ensure_dir(self.run_dir, what="run directory")
        atomic_write_json(self.run_dir / MANIFEST, manifest)
        done = {_key(r) for r in read_jsonl(self.run_dir / PREDICTIONS) if "error" not in r}
        out = JsonlAppender(self.run_dir / PREDICTIONS)
        timings = JsonlAppender(self.run_dir / TIMINGS)
        rubrics = {t.task.id: load_rubric(resolve_data_file(t.task.rubric, "rubrics")) for t in self.cfg.tasks if t.task.kind == "free_text"}
        orders = {t.task.id: shot_order(t, self.cfg.seed) for t in self.cfg.tasks}
        # Each record is fsync'd (a kill loses nothing finished); an fsync takes milliseconds, so it runs on
        # one writer thread (in order) instead of stalling every call in flight on the event loop.
        from concurrent.futures import ThreadPoolExecutor

        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="basesel-bench-writer")
        loop = asyncio.get_running_loop()

        async def cell(row: Row, data: TaskData, condition: str) -> None:
            task = data.task
            ctx = Context(self.executor, constrain=self.cfg.constrain, unsafe_code=self.cfg.unsafe_code, judge=self.judge, rubric=rubrics.get(task.id), seed=self.cfg.seed)
            todo = [i for i in data.test if (task.id, row.key, condition, i.id) not in done]
            stage = f"{task.id} | {row.key} | {condition}"
            finished = len(data.test) - len(todo)
            self.progress(stage, finished, len(data.test))
            fresh = 0
            start = time.perf_counter()
            limit = asyncio.Semaphore(max(1, self.executor.limit_size(row.model)) * 2)

            async def one(item) -> None:
                nonlocal finished, fresh
                async with limit:
                    record = await evaluate(ctx, row.model, data, item, shots_of(condition), orders[task.id])
                warm.start()  # after the first answer: the SDK's own import is done, the calls are flowing
                await loop.run_in_executor(writer, out.write, {"task": task.id, "model": row.key, "condition": condition, **record})
                finished += 1
                fresh += 0 if record.get("cached") else 1
                self.progress(stage, finished, len(data.test))

            async with asyncio.TaskGroup() as group:
                for item in todo:
                    group.create_task(one(item))
            if todo:
                timings.write({"task": task.id, "model": row.key, "condition": condition, "items": len(todo), "fresh": fresh, "wall_s": round(time.perf_counter() - start, 4),
                               "concurrency": self.executor.limit_size(row.model)})

        async def model_cells(row: Row) -> None:
            for data in self.cfg.tasks:
                for condition in row.conditions:
                    await cell(row, data, condition)

        try:
            async with asyncio.TaskGroup() as group:  # models in parallel; each model's cells in turn
                for row in self.rows:
                    group.create_task(model_cells(row))
        except BaseExceptionGroup as eg:
            raise _first_leaf(eg) from None
        finally:
            writer.shutdown(wait=True)
            out.close()
            timings.close()
            for model in {id(r.model): r.model for r in self.rows}.values():
                await model.aclose()
        summary = summarize(self.run_dir)
        summary["cache"] = {"hits": self.executor.cache.hits, "model_calls": self.executor.calls, "enabled": self.executor.cache.enabled}
        atomic_write_json(self.run_dir / SUMMARY, summary)
        return summary


class _Prewarm:
    """Import what the summary and report need (scikit-learn, scipy, statsmodels, matplotlib: ~3 s) on a
    background thread while the model calls are waiting on the network, instead of after the last one.
    Started once the first answer is in: started earlier, it competed for the GIL with the backend's
    own first import (the openai SDK) and delayed the first request by ~1 s (docs/benchmarks.md)."""

    def __init__(self) -> None:
        self.started = False

    def start(self) -> None:
        if self.started:
            return
        self.started = True
        import threading

        threading.Thread(target=self._warm, name="basesel-prewarm", daemon=True).start()

    @staticmethod
    def _warm() -> None:
        try:
            import sklearn.metrics  # noqa: F401
            import statsmodels.stats.contingency_tables  # noqa: F401

            from ..report.charts import _plt

            _plt()
        except Exception:  # noqa: BLE001 - a missing extra is reported where it is really needed
            pass


def _key(r: dict[str, Any]) -> tuple[str, str, str, str]:
    return (r.get("task"), r.get("model"), r.get("condition"), r.get("item_id"))  # type: ignore[return-value]


def _redacted_identity(model: ChatModel) -> dict[str, Any]:
    """A model's identity for the manifest, its endpoint without credentials."""
    ident = model.identity.to_dict()
    ident["endpoint"] = redact_url(ident.get("endpoint"))
    return ident


async def _describe(model: ChatModel) -> None:
    describe = getattr(model, "describe", None)
    if describe is not None:
        await describe()


def _check_lora_applied(model: ChatModel, adapter: Adapter, spec: str) -> None:
    """A backend that ignored `-o lora=` would benchmark the base twice under two names."""
    ident = model.identity
    blob = f"{ident.facts} {ident.digest} {ident.name}"
    if adapter.gguf.name not in blob and str(adapter.gguf) not in blob:
        raise ConfigError(
            f"the backend of {spec} did not report the LoRA adapter {adapter.gguf.name} as loaded",
            hint="Use a backend that applies -o lora= (llama.cpp in-process / the embedded model), or update basesel.",
        )


def _first_leaf(group: BaseExceptionGroup) -> BaseException:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first
