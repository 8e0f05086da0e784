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

# One loaded model per (path, n_ctx, adapter, scale): candidate and judge on the same file share weights and a lock.
_LOADED: dict[tuple, "LlamaCppModel"] = {}
_LOADED_LOCK = threading.Lock()


class LlamaCppModel:
    """Runs a GGUF in this process. llama-cpp-python decodes one request at a time, so every call runs
    on one dedicated worker thread (serialized, the event loop stays responsive). One thread, not a
    pool: llama.cpp's OpenMP team is per calling thread, and hopping between threads ran ~3x slower here."""

    default_concurrency = 1

    def __init__(
        self,
        path: Path,
        *,
        name: str,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        provider: str = "llamacpp",
        lora: Path | None = None,
        lora_scale: float = 1.0,
    ):
        llama_cpp = require("llama_cpp", "llamacpp", "Running GGUF models in-process")
        if not path.is_file():
            raise ConfigError(
                f"GGUF file not found: {path}",
                hint="Check the path, or download one with: basesel pull hf/<repo> --file <name.gguf>",
            )
        lora_kwargs = {"lora_path": str(lora), "lora_scale": lora_scale} if lora is not None else {}
        try:
            with _without_extra_buffer_types(llama_cpp, skip_repack()):
                self._llm = llama_cpp.Llama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    n_threads=n_threads or max(1, os.cpu_count() or 1),
                    verbose=False,
                    **lora_kwargs,
                )
        except (ValueError, RuntimeError) as exc:
            if lora is not None:
                raise ConfigError(
                    f"llama.cpp could not load the LoRA adapter {lora} on {path}: {exc}",
                    hint="The adapter must be a GGUF LoRA trained on this exact base (see its basesel-adapter.json); `basesel finetune` writes one as adapter/adapter.gguf.",
                ) from exc
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
            adapter={"path": str(lora.resolve()), "sha256": sha256_of(lora), "scale": lora_scale, "type": "lora"} if lora is not None else None,
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


def skip_repack() -> bool:
    """Whether to load weights without llama.cpp's extra buffer types (AMX / repacked layouts).

    On AMX-capable Xeons inside VMs, llama.cpp's AMX repack path dies with SIGILL (seen here with
    llama-cpp-python 0.3.36: the process exits 132 at the first decode). The extra buffer types are only a
    speed-up, so they are skipped where the CPU advertises AMX; BASESEL_LLAMA_REPACK=1 / =0 forces either way."""
    forced = os.environ.get("BASESEL_LLAMA_REPACK")
    if forced is not None:
        return forced.strip().lower() in ("0", "false", "no", "off")
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            return any(line.startswith("flags") and " amx_tile" in line for line in fh)
    except OSError:
        return False


class _without_extra_buffer_types:
    """llama-cpp-python's Llama() has no argument for llama_model_params.use_extra_bufts: while one model is
    constructed (under _LOADED_LOCK), its default-params function hands out params with it switched off."""

    def __init__(self, llama_cpp: Any, active: bool):
        self.low = getattr(llama_cpp, "llama_cpp", None)
        self.active = active and self.low is not None and hasattr(self.low, "llama_model_default_params")

    def __enter__(self):
        if self.active:
            self.original = self.low.llama_model_default_params

            def defaults():
                params = self.original()
                if hasattr(params, "use_extra_bufts"):
                    params.use_extra_bufts = False
                return params

            self.low.llama_model_default_params = defaults
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.active:
            self.low.llama_model_default_params = self.original


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


def _free_loaded() -> None:
    """Free the weights while llama_cpp's module is intact: left to the interpreter's teardown, Llama.__del__
    runs after its globals are gone and prints a TypeError ('NoneType' object is not callable)."""
    with _LOADED_LOCK:
        models = list(_LOADED.values())
        _LOADED.clear()
    for model in models:
        llm = getattr(model, "_llm", None)
        close = getattr(llm, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # noqa: BLE001 - exiting anyway
                pass


def load(path: Path, *, name: str, provider: str, options: dict[str, Any]) -> LlamaCppModel:
    n_ctx = number_option(options, "n_ctx", 4096, kind=int, model=f"{provider}/{name}")
    n_threads = number_option(options, "n_threads", 8, kind=int, model=f"{provider}/{name}") if "n_threads" in options else None
    # llama-cpp-python cannot switch a chat template's thinking on or off: -o think= is checked, then left to
    # the model's default (docs/backends.md). The loaded model is shared, so nothing is recorded on it.
    bool_option(options, "think", model=f"{provider}/{name}")
    lora, lora_scale = lora_option(options, model=f"{provider}/{name}")
    if lora is not None:  # the name says what answers: the base plus which adapter, at which scale
        name = f"{name}+lora:{lora.name}" + ("" if lora_scale == 1.0 else f"@{lora_scale:g}")
    key = (str(path.resolve()) if path.exists() else str(path), n_ctx, str(lora.resolve()) if lora else None, lora_scale)
    with _LOADED_LOCK:
        if key not in _LOADED:
            if not _LOADED:
                import atexit

                atexit.register(_free_loaded)
            _LOADED[key] = LlamaCppModel(path, name=name, n_ctx=n_ctx, n_threads=n_threads, provider=provider, lora=lora, lora_scale=lora_scale)
        return _LOADED[key]


def lora_option(options: dict[str, Any], *, model: str) -> tuple[Path | None, float]:
    """`-o lora=PATH` (a GGUF LoRA adapter, or a `basesel finetune` adapter folder holding one) and
    `-o lora_scale=X` (default 1.0). The adapter is part of the model's identity and cache key."""
    raw = options.get("lora")
    if "lora_scale" in options and raw is None:
        raise ConfigError(f"option lora_scale for {model} is set without lora", hint="Add -o lora=PATH/adapter.gguf, or drop -o lora_scale.")
    if raw is None or raw == "":
        return None, 1.0
    scale = options.get("lora_scale", 1.0)
    try:
        if isinstance(scale, bool):
            raise ValueError(scale)
        scale = float(scale)
    except (TypeError, ValueError):
        raise ConfigError(f"option lora_scale={scale!r} for {model} is not a number", hint="Set it as -o lora_scale=1.0 (0 switches the adapter off).") from None
    path = Path(str(raw)).expanduser()
    if path.is_dir():
        path = adapter_gguf_in(path, model=model)
    if not path.is_file():
        raise ConfigError(
            f"LoRA adapter not found for {model}: {path}",
            hint="Pass -o lora=<run>/adapter/adapter.gguf (written by `basesel finetune`), or the adapter folder itself.",
        )
    return path, scale


def adapter_gguf_in(folder: Path, *, model: str) -> Path:
    """The GGUF LoRA file of an adapter folder: the one its basesel-adapter.json names, else the only .gguf."""
    import json

    meta = folder / "basesel-adapter.json"
    if meta.is_file():
        try:
            name = json.loads(meta.read_text(encoding="utf-8")).get("gguf_adapter")
        except (OSError, ValueError):
            name = None
        if name:
            return folder / name
    found = sorted(folder.glob("*.gguf"))
    if len(found) == 1:
        return found[0]
    raise ConfigError(
        f"-o lora={folder} for {model}: the folder holds {'no' if not found else len(found)} GGUF files and no basesel-adapter.json naming one",
        hint="Pass the GGUF LoRA file itself: -o lora=PATH/adapter.gguf.",
    )


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
