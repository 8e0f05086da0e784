"""A PEFT LoRA adapter -> a GGUF LoRA adapter that llama.cpp loads (`Llama(model_path=base.gguf,
lora_path=adapter.gguf)`), written with the `gguf` package.

The file is what llama.cpp's convert_lora_to_gguf.py writes (that script is not on PyPI):
`general.type = adapter`, `adapter.type = lora`, `adapter.lora.alpha`, the base's architecture, and a
`<gguf tensor name>.lora_a` / `.lora_b` pair per adapted weight, named through gguf's HF->GGUF tensor map.
Two details make it match the base GGUF:
- llama.cpp scales an adapter by alpha / rank; PEFT by alpha / r (or alpha / sqrt(r) with rsLoRA), so the
  alpha written is PEFT's scaling x r;
- the HF->GGUF conversion permutes the rows of Llama's q/k projections (rotary layout), and transformers'
  GGUF loader undoes it: lora_b of q_proj/k_proj gets the same permutation (lora_a is untouched)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..errors import ConfigError

# Architectures whose HF->GGUF conversion permutes q/k rows (convert_hf_to_gguf.py's LlamaModel.permute).
PERMUTED_QK = {"llama"}
# Architectures whose projection names the tensor map knows and that need no other rewriting.
SUPPORTED = PERMUTED_QK | {"qwen2", "qwen3", "qwen2moe", "qwen3moe", "gemma", "gemma2", "gemma3", "phi3", "granite", "olmo2", "smollm3"}


def base_gguf_facts(path: Path) -> dict[str, Any]:
    """architecture, block count and head counts of the base GGUF."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))

    def field(key: str):
        f = reader.fields.get(key)
        if f is None:
            return None
        value = f.parts[f.data[0]]
        if f.types and f.types[0].name == "STRING":
            return bytes(value).decode("utf-8")
        return value.tolist()[0] if hasattr(value, "tolist") else value

    arch = field("general.architecture")
    return {
        "architecture": arch,
        "block_count": field(f"{arch}.block_count"),
        "head_count": field(f"{arch}.attention.head_count"),
        "head_count_kv": field(f"{arch}.attention.head_count_kv") or field(f"{arch}.attention.head_count"),
    }


def _permute(weights, n_head: int, n_head_kv: int | None):
    """convert_hf_to_gguf.py's LlamaModel.permute, on the output rows."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def _arch_enum(name: str):
    import gguf

    for enum, arch_name in gguf.MODEL_ARCH_NAMES.items():
        if arch_name == name:
            return enum
    return None


def convert(adapter_dir: Path, base_gguf: Path, out: Path) -> dict[str, Any]:
    """Write `out` from the PEFT adapter in `adapter_dir`; returns facts for the record."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    cfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    facts = base_gguf_facts(base_gguf)
    arch = facts["architecture"]
    if arch not in SUPPORTED or _arch_enum(arch) is None:
        raise ConfigError(
            f"writing a GGUF LoRA for the '{arch}' architecture is not supported",
            hint=f"The PEFT adapter in {adapter_dir} is saved; serve it with vLLM (--enable-lora) or merge it (--merge). GGUF LoRA export knows: {', '.join(sorted(SUPPORTED))}.",
        )
    r = int(cfg["r"])
    scaling = cfg["lora_alpha"] / (math.sqrt(r) if cfg.get("use_rslora") else r)
    name_map = gguf.get_tensor_name_map(_arch_enum(arch), int(facts["block_count"]))
    tensors = load_file(str(adapter_dir / "adapter_model.safetensors"))
    pairs: dict[str, dict[str, Any]] = {}
    for key, value in tensors.items():
        # base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight
        stem, _, part = key.rpartition(".lora_")
        which = part.split(".")[0]  # A or B
        hf_name = stem.removeprefix("base_model.model.") + ".weight"
        gguf_name = name_map.get_name(hf_name, try_suffixes=(".weight",))
        if gguf_name is None:
            raise ConfigError(f"adapter tensor {key} has no GGUF name for the {arch} architecture", hint="Train with the default target modules (attention and MLP projections).")
        pairs.setdefault(gguf_name, {})[which] = value.astype(np.float32)
        pairs[gguf_name]["hf"] = hf_name
    writer = gguf.GGUFWriter(str(out), arch=arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(scaling * r))
    writer.add_name(f"basesel LoRA for {base_gguf.name}")
    for gguf_name in sorted(pairs):
        pair = pairs[gguf_name]
        if "A" not in pair or "B" not in pair:
            raise ConfigError(f"adapter tensor pair for {pair['hf']} is incomplete", hint="The adapter file is damaged; train again.")
        b = pair["B"]
        if arch in PERMUTED_QK and pair["hf"].endswith(("q_proj.weight", "k_proj.weight")):
            kv = facts["head_count_kv"] if pair["hf"].endswith("k_proj.weight") else facts["head_count"]
            b = _permute(b, int(facts["head_count"]), int(kv))
        base_name = gguf_name.removesuffix(".weight") + ".weight"
        writer.add_tensor(f"{base_name}.lora_a", np.ascontiguousarray(pair["A"]))
        writer.add_tensor(f"{base_name}.lora_b", np.ascontiguousarray(b))
    out.parent.mkdir(parents=True, exist_ok=True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {"file": out.name, "architecture": arch, "tensors": 2 * len(pairs), "alpha": round(scaling * r, 6), "rank": r, "permuted_qk": arch in PERMUTED_QK}
