"""What a trained adapter is served with: the GGUF LoRA (llama.cpp, Ollama), an Ollama Modelfile, the
vLLM command line, an optional merged 16-bit model, and `basesel-adapter.json` naming the base."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .base_model import ResolvedBase

ADAPTER_META = "basesel-adapter.json"
GGUF_ADAPTER = "adapter.gguf"


def write_gguf_adapter(adapter_dir: Path, base: ResolvedBase) -> dict[str, Any] | None:
    """The GGUF LoRA beside the PEFT files, for a GGUF base (the only base llama.cpp can apply it to)."""
    if base.kind != "gguf" or base.gguf_path is None:
        return None
    from .gguf_lora import convert

    return convert(adapter_dir, base.gguf_path, adapter_dir / GGUF_ADAPTER)


def _stops(tokenizer_dir: Path) -> list[str]:
    cfg_path = tokenizer_dir / "tokenizer_config.json"
    try:
        cfg = json.loads(cfg_path.read_text())
    except (OSError, ValueError):
        return []
    eos = cfg.get("eos_token")
    eos = eos.get("content") if isinstance(eos, dict) else eos
    return [eos] if eos else []


def modelfile(adapter_dir: Path, base: ResolvedBase, gguf_adapter: str | None) -> str:
    """An Ollama Modelfile: FROM the base the adapter was trained on, ADAPTER, the chat template, stops."""
    if base.kind == "gguf":
        source = str(base.gguf_path)
        adapter = f"./{gguf_adapter}" if gguf_adapter else "."
    else:
        source = base.spec if base.spec.count(":") == 1 and "/" not in base.spec else (base.hf_id or base.load_from)
        adapter = "."  # Ollama reads a safetensors adapter folder for the architectures it supports
    lines = [
        "# Ollama Modelfile written by `basesel finetune`.",
        "# The base must be the one the adapter was trained on (see basesel-adapter.json): another base behaves erratically.",
        f"FROM {source}",
        f"ADAPTER {adapter}",
        # ChatML, as SmolLM2/Qwen templates render it; Ollama's Go template syntax.
        'TEMPLATE """{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"""'
        if _is_chatml(adapter_dir)
        else "# TEMPLATE: keep the base model's own (Ollama's library template for it); the adapter was trained with the base's chat template.",
    ]
    for stop in _stops(adapter_dir):
        lines.append(f'PARAMETER stop "{stop}"')
    return "\n".join(lines) + "\n"


def _is_chatml(adapter_dir: Path) -> bool:
    for name in ("chat_template.jinja", "tokenizer_config.json"):
        try:
            if "<|im_start|>" in (adapter_dir / name).read_text():
                return True
        except OSError:
            continue
    return False


def vllm_command(adapter_dir: Path, base: ResolvedBase, name: str = "basesel-lora") -> str | None:
    """`vllm serve BASE --enable-lora --lora-modules NAME=DIR` for an HF base (vLLM serves HF checkpoints)."""
    repo = base.hf_id or (base.load_from if base.kind == "hf" else None)
    if repo is None:
        return None
    import json as _json

    rank = _json.loads((adapter_dir / "adapter_config.json").read_text()).get("r", 16)
    return f"vllm serve {repo} --enable-lora --max-lora-rank {max(16, int(rank))} --lora-modules {name}={adapter_dir.resolve()}"


def merge_16bit(adapter_dir: Path, base: ResolvedBase, out_dir: Path, *, trained_4bit: bool) -> dict[str, Any]:
    """Merge the adapter into a 16-bit copy of the base (never into a 4-bit one: W16 != dequant(W4), and
    merged 4-bit loses quality). For a QLoRA adapter this is not exactly the trained model; the record says so."""
    import torch
    from peft import PeftModel

    from .engines.peft_engine import load_base_model, load_tokenizer

    model = load_base_model(base, "bf16")
    model = model.to(torch.float16) if not torch.cuda.is_available() else model
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    try:
        merged.save_pretrained(str(out_dir), safe_serialization=True)
        load_tokenizer(base).save_pretrained(str(out_dir))
    except OSError as exc:
        raise ConfigError(f"cannot write the merged model to {out_dir}: {exc.strerror or exc}", hint="Check free disk space (a merged model is the size of the base in 16-bit).") from exc
    dtype = str(next(merged.parameters()).dtype).replace("torch.", "")
    note = "merged into a 16-bit base; the adapter was trained on a 4-bit base, so the merge is close to, not exactly, the trained model" if trained_4bit else "merged into a 16-bit copy of the training base"
    return {"dir": str(out_dir), "dtype": dtype, "note": note}


def write_adapter_meta(adapter_dir: Path, base: ResolvedBase, *, gguf: dict[str, Any] | None, engine: str, precision: str) -> dict[str, Any]:
    """basesel-adapter.json: which base this adapter belongs to. The benchmark reads it to refuse an
    adapter on a different base and to run its LoRA condition with `-o lora=`."""
    from ..run.files import atomic_write_json

    meta = {
        "format": "basesel-adapter/1",
        "base": {"spec": base.spec, "kind": base.kind, "gguf_sha256": base.sha256, "gguf_file": base.gguf_file, "hf_id": base.hf_id, "serve_spec": base.serve_spec},
        "peft_dir": ".",
        "gguf_adapter": gguf["file"] if gguf else None,
        "engine": engine,
        "precision_trained": precision,
        "serve": {"basesel": f"--model {base.serve_spec} -o lora={adapter_dir.resolve() / gguf['file']}" if gguf and base.serve_spec else None},
    }
    atomic_write_json(adapter_dir / ADAPTER_META, meta)
    return meta
