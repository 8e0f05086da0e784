"""In-process llama.cpp backend (llama-cpp-python), also used for the embedded default model."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..errors import ConfigError, RequestRejected, require
from .base import Completion, GenerationParams, Message, ModelIdentity, Usage, bool_option, number_option
from .gguf import embedded_model_path, sha256_of
from .spec import ModelSpec

# One loaded model per (path, n_ctx): candidate and judge on the same file share weights and a lock.
_LOADED: dict[tuple[str, int], "LlamaCppModel"] = {}
_LOADED_LOCK = threading.Lock()


class LlamaCppModel:
    """Runs a GGUF in this process. llama-cpp-python decodes one request at a time, so every call runs
    on one dedicated worker thread (serialized, the event loop stays responsive). One thread, not a
    pool: llama.cpp's OpenMP team is per calling thread, and hopping between threads ran ~3x slower here."""

    default_concurrency = 1

    def __init__(self, path: Path, *, name: str, n_ctx: int = 4096, n_threads: int | None = None, provider: str = "llamacpp"):
        llama_cpp = require("llama_cpp", "llamacpp", "Running GGUF models in-process")
        if not path.is_file():
            raise ConfigError(
                f"GGUF file not found: {path}",
                hint="Check the path, or download one with: basesel pull hf/<repo> --file <name.gguf>",
            )
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads or max(1, os.cpu_count() or 1),
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ConfigError(f"llama.cpp could not load {path}: {exc}", hint="Is it a valid GGUF file for this llama.cpp version?") from exc
        self._lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="basesel-llamacpp")
        meta = getattr(self._llm, "metadata", {}) or {}
        facts: dict[str, Any] = {
            "path": str(path),
            "file_size_bytes": path.stat().st_size,
            "context_length": _int_or_none(meta.get(f"{meta.get('general.architecture', 'llama')}.context_length")),
            "architecture": meta.get("general.architecture"),
            "quantization": _quant_from(meta, path),
            "license": meta.get("general.license"),
            "n_ctx": n_ctx,
        }
        if hasattr(self._llm, "n_params"):
            try:
                facts["parameters"] = int(self._llm.n_params())
            except Exception:  # noqa: BLE001 - metadata only
                pass
        self.identity = ModelIdentity(
            provider=provider,
            name=name,
            endpoint=str(path.resolve()),
            digest=f"sha256:{sha256_of(path)}",
            facts={k: v for k, v in facts.items() if v is not None},
        )

    def _generate_sync(self, messages: list[Message], params: GenerationParams, json_schema: dict | None) -> Completion:
        kwargs: dict[str, Any] = {"messages": [m.to_dict() for m in messages], **params.sampling_kwargs()}
        if json_schema is not None:
            # llama-cpp-python honours a schema only in this form; {"type": "json_schema"} is silently ignored.
            kwargs["response_format"] = {"type": "json_object", "schema": json_schema}
        with self._lock:
            start = time.perf_counter()
            try:
                out = self._llm.create_chat_completion(**kwargs)
            except ValueError as exc:  # e.g. prompt longer than the context window
                raise RequestRejected(f"llama.cpp rejected the request: {exc}", hint="Raise n_ctx (--option n_ctx=8192) or shorten the input.") from exc
            latency = time.perf_counter() - start
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return Completion(
            text=choice["message"].get("content") or "",
            finish_reason=choice.get("finish_reason"),
            usage=Usage(prompt_tokens=usage.get("prompt_tokens", 0), completion_tokens=usage.get("completion_tokens", 0)),
            latency_s=latency,
            cost_usd=0.0,
        )

    async def generate(self, messages: list[Message], params: GenerationParams, json_schema: dict | None = None) -> Completion:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, self._generate_sync, messages, params, json_schema)

    async def aclose(self) -> None:
        return None  # shared weights stay loaded for other users in this process


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _quant_from(meta: dict, path: Path) -> str | None:
    stem = path.stem.upper()
    for marker in ("Q4_K_M", "Q4_K_S", "Q5_K_M", "Q5_K_S", "Q6_K", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q3_K_M", "Q2_K", "F16", "BF16", "F32", "IQ4_XS"):
        if marker in stem:
            return marker
    return meta.get("general.file_type")


def load(path: Path, *, name: str, provider: str, options: dict[str, Any]) -> LlamaCppModel:
    n_ctx = number_option(options, "n_ctx", 4096, kind=int, model=f"{provider}/{name}")
    n_threads = number_option(options, "n_threads", 8, kind=int, model=f"{provider}/{name}") if "n_threads" in options else None
    # llama-cpp-python cannot switch a chat template's thinking on or off: -o think= is checked, then left to
    # the model's default (docs/backends.md). The loaded model is shared, so nothing is recorded on it.
    bool_option(options, "think", model=f"{provider}/{name}")
    key = (str(path.resolve()) if path.exists() else str(path), n_ctx)
    with _LOADED_LOCK:
        if key not in _LOADED:
            _LOADED[key] = LlamaCppModel(path, name=name, n_ctx=n_ctx, n_threads=n_threads, provider=provider)
        return _LOADED[key]


def create(spec: ModelSpec, options: dict[str, Any]) -> LlamaCppModel:
    path = Path(spec.name).expanduser()
    parts = spec.name.split("/")
    hub_form = (len(parts) >= 3 and parts[-1].endswith(".gguf")) or (len(parts) == 2 and not spec.name.endswith(".gguf"))
    if not path.exists() and hub_form and not spec.name.startswith(("/", ".", "~")):
        from ..errors import ModelError
        from .hf import resolve_hf_gguf  # owner/repo/file.gguf, or owner/repo + -o file=...

        try:
            path = resolve_hf_gguf(spec.name, options.get("file"))
        except ModelError as exc:
            exc.hint = f"{exc.hint} (There is no local file {spec.name} either.)"
            raise
    return load(path, name=path.name, provider="llamacpp", options=options)


def create_embedded(spec: ModelSpec, options: dict[str, Any]) -> LlamaCppModel:
    model = load(embedded_model_path(), name="SmolLM2-135M-Instruct-Q4_1", provider="embedded", options=options)
    model.identity.facts.setdefault("parameters_label", "135M")
    model.identity.facts.setdefault("license", "Apache-2.0")
    model.identity.facts.setdefault("context_length", 8192)
    return model
