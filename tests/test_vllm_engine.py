"""The in-process vLLM engine (`vllm/<model> -o engine=offline`).

vLLM needs a CUDA GPU, which the test machines lack. What is tested here is basesel's side: the clear
messages when vLLM or a GPU is missing, and the batching and request mapping, against a stand-in `vllm`
module that records each `LLM.chat` call the way vLLM's signature takes it (a list of conversations and a
list of SamplingParams). It says nothing about vLLM's own behaviour.
"""

from __future__ import annotations

import asyncio
import importlib.machinery
import sys
import types
from dataclasses import dataclass, field

import pytest

from basesel.errors import BaseselError, ConfigError, MissingDependencyError
from basesel.models import GenerationParams, Message, create_model


def module(name: str, **attrs) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__spec__ = importlib.machinery.ModuleSpec(name, None)
    mod.__dict__.update(attrs)
    return mod


@dataclass
class SamplingParams:
    temperature: float = 1.0
    max_tokens: int = 16
    seed: int | None = None
    top_p: float = 1.0
    structured_outputs: object = None


@dataclass
class StructuredOutputsParams:
    json: dict | None = None


@dataclass
class LoRARequest:
    name: str
    id: int
    path: str


@dataclass
class Output:
    text: str
    token_ids: list[int]
    finish_reason: str = "stop"


@dataclass
class RequestOutput:
    prompt_token_ids: list[int]
    outputs: list[Output] = field(default_factory=list)


class FakeLLM:
    instances: list["FakeLLM"] = []

    def __init__(self, model: str, **kwargs):
        self.model, self.kwargs, self.calls = model, kwargs, []
        FakeLLM.instances.append(self)

    def chat(self, messages, sampling_params, *, lora_request=None, use_tqdm=True, chat_template_kwargs=None):
        assert isinstance(messages[0], list) and len(messages) == len(sampling_params)  # batched form
        self.calls.append({"n": len(messages), "lora": lora_request, "template": chat_template_kwargs, "sampling": sampling_params})
        outs = []
        for conv, sp in zip(messages, sampling_params):
            text = '{"CS1": "yes"}' if sp.structured_outputs is not None else f"answer to: {conv[-1]['content']}"
            outs.append(RequestOutput(prompt_token_ids=[1] * 7, outputs=[Output(text, [2] * 5)]))
        return outs


@pytest.fixture
def fake_vllm(monkeypatch):
    FakeLLM.instances.clear()
    sampling = module("vllm.sampling_params", SamplingParams=SamplingParams, StructuredOutputsParams=StructuredOutputsParams)
    lora = module("vllm.lora.request", LoRARequest=LoRARequest)
    monkeypatch.setitem(sys.modules, "vllm", module("vllm", LLM=FakeLLM, SamplingParams=SamplingParams, sampling_params=sampling))
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling)
    monkeypatch.setitem(sys.modules, "vllm.lora", module("vllm.lora", request=lora))
    monkeypatch.setitem(sys.modules, "vllm.lora.request", lora)
    cuda = types.SimpleNamespace(available=True)
    monkeypatch.setitem(sys.modules, "torch", module("torch", cuda=types.SimpleNamespace(is_available=lambda: cuda.available)))
    return cuda


def test_missing_vllm_says_how_to_get_it_or_use_a_server(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(MissingDependencyError) as err:
        create_model("vllm/Qwen/Qwen3-8B", options={"engine": "offline"})
    assert "pip install vllm" in err.value.hint and "engine=offline" in err.value.hint


def test_no_gpu_is_a_clear_error(fake_vllm):
    fake_vllm.available = False
    with pytest.raises(BaseselError) as err:
        create_model("vllm/Qwen/Qwen3-8B", options={"engine": "offline"})
    assert "CUDA GPU" in err.value.message and "vllm serve" in err.value.hint
    assert FakeLLM.instances == []  # nothing loaded


def test_unknown_engine_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown vLLM engine 'gpu'"):
        create_model("vllm/x", options={"engine": "gpu"})


def test_concurrent_calls_are_batched_with_lora_structure_and_thinking(fake_vllm):
    model = create_model("vllm/Qwen/Qwen3-8B", options={"engine": "offline", "lora": "/adapters/support", "max_model_len": 4096})
    llm = FakeLLM.instances[0]
    assert llm.model == "Qwen/Qwen3-8B" and llm.kwargs["enable_lora"] and llm.kwargs["max_model_len"] == 4096
    schema = {"type": "object", "properties": {"CS1": {"type": "string", "enum": ["yes", "no"]}}}

    async def go():
        answers = [model.generate([Message("user", f"q{i}")], GenerationParams(max_tokens=32, think=False)) for i in range(10)]
        verdicts = [model.generate([Message("user", f"judge {i}")], GenerationParams(temperature=0.0, think=False), json_schema=schema) for i in range(3)]
        thinking = [model.generate([Message("user", "think")], GenerationParams(think=True))]
        try:
            return await asyncio.gather(*answers, *verdicts, *thinking)
        finally:
            await model.aclose()

    results = asyncio.run(go())
    # 14 concurrent requests -> one batch, split into one LLM.chat call per thinking setting
    assert model._batcher.batch_sizes == [14]
    assert sorted(c["n"] for c in llm.calls) == [1, 13]
    big = next(c for c in llm.calls if c["n"] == 13)
    assert big["template"] == {"enable_thinking": False} and big["lora"].path == "/adapters/support"
    assert sum(sp.structured_outputs is not None for sp in big["sampling"]) == 3
    assert next(c for c in llm.calls if c["n"] == 1)["template"] == {"enable_thinking": True}
    # each caller gets its own answer back, in order
    assert [r.text for r in results[:10]] == [f"answer to: q{i}" for i in range(10)]
    assert all(r.text == '{"CS1": "yes"}' for r in results[10:13])
    assert results[0].usage.prompt_tokens == 7 and results[0].usage.completion_tokens == 5
    assert model.identity.endpoint == "in-process" and model.identity.facts["lora"] == "/adapters/support"


def test_an_overlong_prompt_fails_only_its_own_request(fake_vllm):
    model = create_model("vllm/m", options={"engine": "offline"})
    llm = FakeLLM.instances[0]
    real_chat = llm.chat

    def chat(messages, sampling_params, **kw):
        if any(conv[-1]["content"] == "too long" for conv in messages):
            raise ValueError("prompt is longer than max_model_len")
        return real_chat(messages, sampling_params, **kw)

    llm.chat = chat

    async def go():
        try:
            return await asyncio.gather(*(model.generate([Message("user", t)], GenerationParams()) for t in ("a", "too long", "b")), return_exceptions=True)
        finally:
            await model.aclose()

    a, bad, b = asyncio.run(go())
    assert a.text == "answer to: a" and b.text == "answer to: b"
    assert isinstance(bad, BaseselError) and "max_model_len" in bad.hint
