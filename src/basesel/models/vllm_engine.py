"""vLLM: by default a vLLM OpenAI-compatible server (`vllm/<model>`, LoRA adapter names work as model
names); with `--option engine=offline`, an in-process engine (`LLM.chat`, LoRA via `--option
lora=<adapter dir>`). The engine needs vllm and a CUDA GPU and is imported lazily.

The in-process engine batches: concurrent `generate` calls wait a few milliseconds, then go to vLLM
together as one `LLM.chat` call (a list of conversations, one SamplingParams each), so vLLM's
continuous batching sees the whole batch instead of one request at a time.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import BaseselError, ConfigError, MissingDependencyError, ModelError, require
from .base import ChatModel, Completion, GenerationParams, Message, ModelIdentity, Usage, bool_option, number_option, with_model_think
from .spec import ModelSpec

ENGINE_OPTIONS = ("max_model_len", "gpu_memory_utilization", "tensor_parallel_size", "dtype", "max_lora_rank", "enforce_eager")


@dataclass
class _Request:
    messages: list[dict[str, str]]
    params: GenerationParams
    json_schema: dict | None


class MicroBatcher:
    """Collects concurrent requests and runs them as batches on one worker thread.

    A batch starts `window_s` after its first request (or as soon as `max_batch` are waiting); requests
    arriving while a batch runs form the next one. Results come back to each caller in order.
    """

    def __init__(self, run_batch: Callable[[list[Any]], list[Any]], *, max_batch: int = 64, window_s: float = 0.005):
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._window_s = window_s
        self._pending: list[tuple[Any, asyncio.Future]] = []
        self._task: asyncio.Task | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="basesel-vllm")
        self.batch_sizes: list[int] = []

    async def submit(self, item: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        self._pending.append((item, future))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        if len(self._pending) < self._max_batch:
            await asyncio.sleep(self._window_s)  # let the other concurrent callers join this batch
        while self._pending:
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            self.batch_sizes.append(len(batch))
            try:
                results = await loop.run_in_executor(self._worker, self._run_batch, [item for item, _ in batch])
            except Exception as exc:  # noqa: BLE001 - handed to every caller of the batch
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results):
                if not future.done():
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)


class VllmEngineModel:
    """One in-process vLLM engine, fed in batches."""

    default_concurrency = 64  # requests in flight; vLLM batches them (the executor's per-endpoint limit)

    def __init__(self, spec: ModelSpec, options: dict[str, Any]):
        try:
            vllm = require("vllm", "vllm", "The in-process vLLM engine (--option engine=offline)")
        except MissingDependencyError as exc:
            exc.hint = "Install vLLM on a CUDA machine (pip install vllm), or drop --option engine=offline to use a vLLM server."
            raise
        torch = require("torch", "finetune", "The in-process vLLM engine")  # vLLM itself depends on torch
        if not torch.cuda.is_available():
            raise BaseselError(
                "the in-process vLLM engine needs a CUDA GPU, and none is visible",
                hint="Drop --option engine=offline to use a vLLM server (`vllm serve <model>`), or run on a GPU machine.",
            )
        lora = options.get("lora")
        max_batch = number_option(options, "max_batch", 64, kind=int, model=str(spec))  # checked before the slow load
        think = bool_option(options, "think", model=str(spec))  # -o think=false: this model only
        engine_kwargs = {k: options[k] for k in ENGINE_OPTIONS if k in options}
        try:
            self._llm = vllm.LLM(model=spec.name, enable_lora=bool(lora), seed=_seed(options, spec), **engine_kwargs)
        except Exception as exc:  # noqa: BLE001 - vLLM raises many types while loading (HF, CUDA, config)
            raise ModelError(
                f"vLLM could not load '{spec.name}': {type(exc).__name__}: {str(exc)[:300]}",
                hint="Check the model id or path, and GPU memory (-o gpu_memory_utilization=0.85, -o max_model_len=8192).",
            ) from exc
        self._lora = None
        if lora:
            from vllm.lora.request import LoRARequest

            self._lora = LoRARequest("adapter", 1, str(lora))
        self._batcher = MicroBatcher(self._run_batch, max_batch=max_batch)
        self.identity = ModelIdentity(
            provider="vllm",
            name=spec.name,
            endpoint="in-process",
            facts={k: v for k, v in {"engine": "vllm offline", "lora": str(lora) if lora else None, **engine_kwargs}.items() if v is not None},
            think=think,
        )

    @staticmethod
    def _sampling(params: GenerationParams, json_schema: dict | None) -> Any:
        from vllm import SamplingParams

        extra: dict[str, Any] = {}
        if json_schema is not None:
            try:  # vLLM >= 0.10.2 (guided_* was removed in 0.12)
                from vllm.sampling_params import StructuredOutputsParams

                extra["structured_outputs"] = StructuredOutputsParams(json=json_schema)
            except ImportError:  # older vLLM
                from vllm.sampling_params import GuidedDecodingParams

                extra["guided_decoding"] = GuidedDecodingParams(json=json_schema)
        return SamplingParams(temperature=params.temperature, max_tokens=params.max_tokens, seed=params.seed, top_p=params.top_p or 1.0, **extra)

    def _run_batch(self, requests: list[_Request]) -> list[Completion | BaseException]:
        """One LLM.chat call per thinking setting (chat_template_kwargs apply to a whole call)."""
        results: list[Completion | BaseException | None] = [None] * len(requests)
        groups: dict[Any, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault(r.params.think, []).append(i)
        for think, idx in groups.items():
            kwargs: dict[str, Any] = {"lora_request": self._lora, "use_tqdm": False}
            if think is not None:
                kwargs["chat_template_kwargs"] = {"enable_thinking": think}
            start = time.perf_counter()
            try:
                outputs = self._llm.chat([requests[i].messages for i in idx], [self._sampling(requests[i].params, requests[i].json_schema) for i in idx], **kwargs)
            except ValueError as exc:  # e.g. one prompt longer than max_model_len
                if len(idx) > 1:  # run them one by one so only the offending request fails
                    for i in idx:
                        results[i] = self._run_batch([requests[i]])[0]
                    continue
                results[idx[0]] = ModelError(f"vLLM rejected the request: {exc}", hint="Raise -o max_model_len or shorten the input.")
                continue
            latency = time.perf_counter() - start
            for i, out in zip(idx, outputs):
                choice = out.outputs[0]
                results[i] = Completion(
                    text=choice.text,
                    finish_reason=choice.finish_reason,
                    usage=Usage(prompt_tokens=len(out.prompt_token_ids or []), completion_tokens=len(choice.token_ids)),
                    latency_s=latency,  # the batch's wall time
                    cost_usd=0.0,
                )
        return results  # type: ignore[return-value]

    async def generate(self, messages: list[Message], params: GenerationParams, json_schema: dict | None = None) -> Completion:
        params = with_model_think(params, self.identity.think)  # before batching: calls group by thinking setting
        return await self._batcher.submit(_Request([m.to_dict() for m in messages], params, json_schema))

    async def aclose(self) -> None:
        self._batcher.close()


def _seed(options: dict[str, Any], spec: ModelSpec) -> int:
    """-o seed= (0 by default); zero is a valid seed, so it is not read as a positive number option."""
    raw = options.get("seed", 0)
    try:
        if isinstance(raw, bool):
            raise ValueError(raw)
        return int(str(raw))
    except ValueError:
        pass
    raise ConfigError(f"option seed={raw!r} for {spec} is not a whole number", hint="Set it as -o seed=0 (any whole number), or leave it out.")


def create(spec: ModelSpec, options: dict[str, Any]) -> ChatModel:
    engine = options.get("engine", "server")
    if engine == "offline":
        return VllmEngineModel(spec, options)
    if engine != "server":
        raise ConfigError(f"unknown vLLM engine '{engine}'", hint="Use -o engine=server (default, a `vllm serve` endpoint) or -o engine=offline (in-process).")
    from .openai_compat import OpenAICompatModel

    return OpenAICompatModel(spec, {k: v for k, v in options.items() if k != "engine"})
