"""vLLM: by default a vLLM OpenAI-compatible server (`vllm/<model>`, LoRA adapter names work as model
names); with `--option engine=offline`, an in-process engine (`LLM.chat`, batched by vLLM, LoRA via
`--option lora=<adapter dir>`). The engine needs vllm and a CUDA GPU and is imported lazily."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import BaseselError, MissingDependencyError, require
from .base import ChatModel, Completion, GenerationParams, Message, ModelIdentity, Usage
from .spec import ModelSpec


class VllmEngineModel:
    """One in-process vLLM engine. Calls go through one worker thread; vLLM batches internally."""

    default_concurrency = 1

    def __init__(self, spec: ModelSpec, options: dict[str, Any]):
        try:
            vllm = require("vllm", "vllm", "The in-process vLLM engine (--option engine=offline)")
        except MissingDependencyError as exc:
            exc.hint = "Install vLLM on a CUDA machine (pip install vllm), or drop --option engine=offline to use a vLLM server."
            raise
        torch = require("torch", "finetune", "The in-process vLLM engine")
        if not torch.cuda.is_available():
            raise BaseselError(
                "the in-process vLLM engine needs a CUDA GPU, and none is visible",
                hint="Drop --option engine=offline to use a vLLM server (`vllm serve <model>`), or run on a GPU machine.",
            )
        self._vllm = vllm
        self._llm = vllm.LLM(model=spec.name, enable_lora=bool(options.get("lora")), seed=int(options.get("seed", 0)), max_model_len=options.get("max_model_len"))
        self._lora = None
        if options.get("lora"):
            from vllm.lora.request import LoRARequest

            self._lora = LoRARequest("adapter", 1, str(options["lora"]))
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="basesel-vllm")
        self.identity = ModelIdentity(provider="vllm", name=spec.name, endpoint="in-process", facts={"engine": "vllm offline", "lora": options.get("lora")})

    def _generate_sync(self, messages: list[Message], params: GenerationParams, json_schema: dict | None) -> Completion:
        from vllm import SamplingParams

        extra: dict[str, Any] = {}
        if json_schema is not None:
            from vllm.sampling_params import StructuredOutputsParams

            extra["structured_outputs"] = StructuredOutputsParams(json=json_schema)
        sampling = SamplingParams(temperature=params.temperature, max_tokens=params.max_tokens, seed=params.seed, top_p=params.top_p or 1.0, **extra)
        kwargs: dict[str, Any] = {"lora_request": self._lora, "use_tqdm": False}
        if params.think is not None:
            kwargs["chat_template_kwargs"] = {"enable_thinking": params.think}
        start = time.perf_counter()
        out = self._llm.chat([m.to_dict() for m in messages], sampling, **kwargs)[0]
        choice = out.outputs[0]
        return Completion(
            text=choice.text,
            finish_reason=choice.finish_reason,
            usage=Usage(prompt_tokens=len(out.prompt_token_ids or []), completion_tokens=len(choice.token_ids)),
            latency_s=time.perf_counter() - start,
        )

    async def generate(self, messages: list[Message], params: GenerationParams, json_schema: dict | None = None) -> Completion:
        return await asyncio.get_running_loop().run_in_executor(self._worker, self._generate_sync, messages, params, json_schema)

    async def aclose(self) -> None:
        return None


def create(spec: ModelSpec, options: dict[str, Any]) -> ChatModel:
    if options.get("engine") == "offline":
        return VllmEngineModel(spec, options)
    from .openai_compat import OpenAICompatModel

    return OpenAICompatModel(spec, {k: v for k, v in options.items() if k != "engine"})
