"""Generation as a Ray Data LLM pipeline (`ray.data.llm`), behind the one model protocol.

`ray/<model>` (or `--engine ray` on a `vllm/<model>` or OpenAI-compatible spec) runs generation on a
Ray cluster (`-o ray_address=`, `--ray-address`, or RAY_ADDRESS; none: a local Ray instance):

- local weights: `vLLMEngineProcessorConfig` + `build_processor`, vLLM engine replicas across the
  cluster's GPUs (`-o ray_concurrency=N` replicas, `-o tensor_parallel_size=`), LoRA adapters with
  `-o lora=DIR` (a local folder) or `-o lora=s3://bucket/adapters/NAME`;
- with a base URL: `HttpRequestProcessorConfig` against an OpenAI-compatible `/chat/completions`
  (the same pipeline shape, no GPU), `-o ray_concurrency=N` request workers.

Calls arrive one at a time from the executor (cache, retries and the run directory are unchanged);
they are gathered for `-o batch_window_s` (0.5 s, or until `-o max_batch_rows`), then run as one Ray
Dataset through the processor. Results stream back row by row as the pipeline finishes them, so a
killed run keeps every answer already written, and the next batch forms while one runs. Ray is
imported on the first real call: a fully cached run never starts it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
from typing import Any

from ..errors import ConfigError, ModelError, TransientModelError, require
from .base import ChatModel, Completion, GenerationParams, Message, ModelIdentity, Usage, number_option
from .spec import ModelSpec, is_local_url, redact_url

VLLM_ENGINE_OPTIONS = ("max_model_len", "gpu_memory_utilization", "dtype", "enforce_eager", "max_lora_rank")


class RayDataModel:
    def __init__(self, spec: ModelSpec, options: dict[str, Any]):
        label = str(spec)
        self.model_name = spec.name
        self.url = spec.base_url or options.get("base_url")
        self.mode = "http" if self.url else "vllm"
        self.address = options.get("ray_address") or os.environ.get("RAY_ADDRESS") or None
        self.batch_size = number_option(options, "batch_size", 16 if self.mode == "http" else 64, kind=int, model=label)
        self.ray_concurrency = number_option(options, "ray_concurrency", 1, kind=int, model=label)
        self.window_s = number_option(options, "batch_window_s", 0.5, model=label)
        self.max_rows = number_option(options, "max_batch_rows", 4096, kind=int, model=label)
        self.num_cpus = number_option(options, "ray_num_cpus", os.cpu_count() or 1, kind=int, model=label)  # a local instance only
        self.tensor_parallel = number_option(options, "tensor_parallel_size", 1, kind=int, model=label)
        self.lora = str(options["lora"]) if options.get("lora") else None
        self.engine_kwargs = {k: options[k] for k in VLLM_ENGINE_OPTIONS if k in options}
        # in-flight calls the executor hands over: a whole stage, so Ray sees big batches
        self.default_concurrency = self.max_rows
        facts: dict[str, Any] = {"engine": "ray-data-llm", "processor": "http" if self.mode == "http" else "vllm"}
        if self.lora:
            facts["lora"] = self.lora
        facts.update(self.engine_kwargs)
        self.identity = ModelIdentity(provider="ray", name=spec.name, endpoint=redact_url(self.url) if self.url else None, facts=facts)
        self._pending: list[tuple[int, dict[str, Any], float, asyncio.Future[Completion]]] = []
        self._ids = itertools.count()
        self._runner: asyncio.Task[None] | None = None
        self._ray: Any = None
        self._started_local = False
        self.batches: list[int] = []  # rows per Ray Dataset run

    # -- set-up ----------------------------------------------------------------------------------
    async def check(self) -> None:
        """Connect to Ray (or start a local instance), then, for local weights, check the cluster has
        the GPUs vLLM needs. Runs once, before the first real call."""
        await asyncio.to_thread(self._connect)
        if self.mode == "vllm":
            await asyncio.to_thread(self._check_gpus)

    def _connect(self) -> None:
        ray = require("ray", "ray", "The Ray Data LLM engine (--engine ray)")
        require("aiohttp", "ray", "The Ray Data LLM engine (--engine ray)")  # ray.data.llm imports it; ray[data] does not bring it
        require("ray.data.llm", "ray", "The Ray Data LLM engine (--engine ray)")
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": "WARNING", "log_to_driver": False}
            try:
                if self.address:
                    ray.init(address=self.address, **kwargs)
                else:
                    ray.init(num_cpus=self.num_cpus, **kwargs)
                    self._started_local = True
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ModelError(
                    f"cannot connect to the Ray cluster at {self.address or 'a new local instance'}: {str(exc)[:300]}",
                    hint="Start one with `ray start --head` (workers: `ray start --address HEAD:6379`) and pass --ray-address HEAD:6379 "
                    "(or ray://HEAD:10001 from outside the cluster); see docs/scale.md.",
                ) from exc
        import ray.data

        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # basesel draws its own progress
        context.print_on_execution_start = False
        self._ray = ray

    def _check_gpus(self) -> None:
        gpus = self._ray.cluster_resources().get("GPU", 0)
        needed = self.tensor_parallel
        if gpus < needed:
            raise ConfigError(
                f"the Ray cluster at {self.address or 'this machine (local instance)'} has {gpus:g} GPUs; the vLLM engine for {self.model_name} needs {needed}",
                hint="Run on a cluster with GPUs (`ray start` on each GPU node, then --ray-address HEAD:6379), or point --base-url at an "
                "OpenAI-compatible server to use Ray's HTTP request processor instead.",
            )

    # -- the processor -----------------------------------------------------------------------------
    def _processor(self) -> Any:
        from ray.data.llm import HttpRequestProcessorConfig, build_processor

        if self.mode == "http":
            headers = {}
            key = os.environ.get("VLLM_API_KEY")  # the server's own key, never the OpenAI one
            if key and not is_local_url(self.url):
                headers["Authorization"] = f"Bearer {key}"
            config = HttpRequestProcessorConfig(
                url=self.url.rstrip("/") + "/chat/completions", headers=headers, batch_size=self.batch_size,
                concurrency=self.ray_concurrency,  # (no should_continue_on_error here: a failed Dataset fails its calls, retried)
            )
            return build_processor(config, postprocess=_http_result)
        return self._vllm_processor()

    def _vllm_processor(self) -> Any:
        """Thin on purpose: it only runs on a GPU cluster, after the GPU check."""
        from ray.data.llm import build_processor, vLLMEngineProcessorConfig

        engine_kwargs: dict[str, Any] = {"tensor_parallel_size": self.tensor_parallel, **self.engine_kwargs}
        lora_root = None
        if self.lora:
            engine_kwargs["enable_lora"] = True
            if "://" in self.lora:  # s3://bucket/adapters/NAME: Ray downloads NAME from the folder
                lora_root = self.lora.rsplit("/", 1)[0]
        config = vLLMEngineProcessorConfig(
            model_source=self.model_name, engine_kwargs=engine_kwargs, concurrency=self.ray_concurrency, batch_size=self.batch_size,
            accelerator_type=None, dynamic_lora_loading_path=lora_root, should_continue_on_error=True,
        )
        return build_processor(config, postprocess=_vllm_result)

    def _row(self, call_id: int, messages: list[Message], params: GenerationParams, json_schema: dict[str, Any] | None) -> dict[str, Any]:
        chat = [m.to_dict() for m in messages]
        if self.mode == "http":
            payload: dict[str, Any] = {"model": self.model_name, "messages": chat, **params.sampling_kwargs()}
            if json_schema is not None:
                payload["response_format"] = {"type": "json_schema", "json_schema": {"name": "verdicts", "schema": json_schema, "strict": True}}
            # JSON text: Ray Data stores columns as Arrow, and rows' schemas differ (verdict schemas by criteria)
            return {"basesel_id": call_id, "payload_json": json.dumps(payload), "max_tokens": params.max_tokens}
        sampling: dict[str, Any] = {"temperature": params.temperature, "max_tokens": params.max_tokens, "seed": params.seed}
        if params.top_p is not None:
            sampling["top_p"] = params.top_p
        if json_schema is not None:
            sampling["structured_outputs"] = {"json": json.dumps(json_schema)}
        row = {"basesel_id": call_id, "messages": chat, "sampling_params": sampling, "max_tokens": params.max_tokens}
        if self.lora:
            row["model"] = self.lora.rsplit("/", 1)[-1] if "://" in self.lora else self.lora
        return row

    # -- calls -------------------------------------------------------------------------------------
    async def generate(self, messages: list[Message], params: GenerationParams, json_schema: dict[str, Any] | None = None) -> Completion:
        if self._ray is None:
            await self.check()  # a caller outside the executor
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Completion] = loop.create_future()
        call_id = next(self._ids)
        self._pending.append((call_id, self._row(call_id, messages, params, json_schema), time.perf_counter(), future))
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._run_batches())
        return await future

    async def _run_batches(self) -> None:
        """One Ray Dataset run at a time; calls that arrive meanwhile form the next."""
        loop = asyncio.get_running_loop()
        while self._pending:
            if len(self._pending) < self.max_rows:
                await asyncio.sleep(self.window_s)  # let the rest of the stage join this batch
            batch, self._pending = self._pending[: self.max_rows], self._pending[self.max_rows :]
            batch = [item for item in batch if not item[3].done()]  # callers cancelled meanwhile
            if not batch:
                continue
            self.batches.append(len(batch))
            waiting = {call_id: (started, future) for call_id, _, started, future in batch}
            try:
                await asyncio.to_thread(self._run_dataset, [row for _, row, _, _ in batch], loop, waiting)
            except Exception as exc:  # noqa: BLE001 - the whole Dataset failed: every call of it is retried
                detail = f"the Ray Data job failed: {type(exc).__name__}: {str(exc)[:300]}"
                for _, future in waiting.values():
                    if not future.done():
                        future.set_exception(TransientModelError(detail))
            for _, future in waiting.values():
                if not future.done():
                    future.set_exception(TransientModelError("the Ray Data job returned no row for this call"))

    def _run_dataset(self, rows: list[dict[str, Any]], loop: asyncio.AbstractEventLoop, waiting: dict[int, Any]) -> None:
        """In a worker thread: the rows through the processor, each result handed back as it comes."""
        dataset = self._ray.data.from_items(rows)
        if self.mode == "http":
            dataset = dataset.map(_decode_payload)
        for result in self._processor()(dataset).iter_rows():
            loop.call_soon_threadsafe(self._resolve, dict(result), waiting)

    def _resolve(self, result: dict[str, Any], waiting: dict[int, Any]) -> None:
        entry = waiting.get(int(result.get("basesel_id", -1)))
        if entry is None or entry[1].done():
            return
        started, future = entry
        error = result.get("__inference_error__") or result.get("error")
        if error:
            future.set_exception(TransientModelError(f"Ray Data row failed: {str(error)[:300]}"))
            return
        finish = result.get("finish_reason") or ("length" if result.get("completion_tokens", 0) >= result.get("max_tokens", 1 << 30) else "stop")
        future.set_result(Completion(
            text=result.get("text") or "", finish_reason=finish,
            usage=Usage(prompt_tokens=int(result.get("prompt_tokens") or 0), completion_tokens=int(result.get("completion_tokens") or 0)),
            latency_s=time.perf_counter() - started,  # from the call to its row's return: batching included
            cost_usd=None if self.mode == "http" else 0.0,
        ))

    async def aclose(self) -> None:
        for _, _, _, future in self._pending:
            if not future.done():
                future.cancel()
        self._pending.clear()
        if self._runner is not None and not self._runner.done():
            self._runner.cancel()
        if self._ray is not None and self._ray.is_initialized():
            await asyncio.to_thread(self._ray.shutdown)  # a local instance stops; a cluster is only left
            self._ray = None


def _decode_payload(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "payload": json.loads(row["payload_json"])}


def _http_result(row: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat completion (or an error body) -> the fields a Completion needs."""
    out: dict[str, Any] = {"basesel_id": row["basesel_id"], "max_tokens": row.get("max_tokens")}
    response = row.get("http_response") or {}
    choices = response.get("choices") if isinstance(response, dict) else None
    if not choices:
        error = response.get("error") if isinstance(response, dict) else None
        out["error"] = (error.get("message") if isinstance(error, dict) else str(error)) if error else "the server returned no choices"
        return out
    choice = choices[0]
    usage = response.get("usage") or {}
    out.update({"text": (choice.get("message") or {}).get("content") or "", "finish_reason": choice.get("finish_reason"),
                "prompt_tokens": usage.get("prompt_tokens") or 0, "completion_tokens": usage.get("completion_tokens") or 0})
    return out


def _vllm_result(row: dict[str, Any]) -> dict[str, Any]:
    return {"basesel_id": row["basesel_id"], "max_tokens": row.get("max_tokens"), "text": row.get("generated_text") or "",
            "prompt_tokens": row.get("num_input_tokens") or 0, "completion_tokens": row.get("num_generated_tokens") or 0}


def create(spec: ModelSpec, options: dict[str, Any]) -> ChatModel:
    return RayDataModel(spec, options)
