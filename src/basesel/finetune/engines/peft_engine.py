"""transformers + PEFT: LoRA on CPU (fp32) or a GPU (bf16 where supported), with the base loaded from an
HF repo, a local folder, or a GGUF dequantized by transformers' `gguf_file` loader."""

from __future__ import annotations

from typing import Any

from ...errors import ConfigError
from ..base_model import ResolvedBase
from .base import TrainJob, TrainOutcome, cuda_available


def pick_precision(setting: str) -> str:
    """fp32 on CPU (fp16 does nothing useful there and bf16 is slow on most CPUs); bf16 on a GPU that has it."""
    if setting != "auto":
        return setting
    if cuda_available():
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "fp32"


def load_tokenizer(base: ResolvedBase):
    from transformers import AutoTokenizer

    kwargs = {"gguf_file": base.gguf_file} if base.kind == "gguf" else {}
    try:
        return AutoTokenizer.from_pretrained(base.load_from, **kwargs)
    except (OSError, ValueError) as exc:
        raise _load_error(base, exc) from exc


def load_base_model(base: ResolvedBase, precision: str):
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    kwargs: dict[str, Any] = {"dtype": dtype}
    if base.kind == "gguf":
        kwargs["gguf_file"] = base.gguf_file
        try:  # transformers 5.x keeps GGUF blocks packed when the `kernels` package is present: ask for float weights
            from transformers import GgufConfig

            kwargs["quantization_config"] = GgufConfig(dequantize=True)
        except ImportError:  # older transformers always dequantize
            pass
    try:
        model = AutoModelForCausalLM.from_pretrained(base.load_from, **kwargs)
    except (OSError, ValueError) as exc:
        raise _load_error(base, exc) from exc
    if base.kind == "gguf":
        # The GGUF tensors are dequantized into ordinary float weights; only the marker stays behind, and the
        # Trainer refuses a model marked as GGUF-quantized. Drop the marker: the weights really are float.
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    return model


def _load_error(base: ResolvedBase, exc: Exception) -> ConfigError:
    from ..base_model import SPEC_FORMS

    offline = " (HF_HUB_OFFLINE is set: only models already in the Hugging Face cache load)" if __import__("os").environ.get("HF_HUB_OFFLINE") else ""
    return ConfigError(
        f"could not load the base model {base.spec} ({base.load_from}{'/' + base.gguf_file if base.gguf_file else ''}) for training: {type(exc).__name__}: {str(exc)[:300]}{offline}",
        hint=f"Check the repo id or path and your network. GGUF bases need an architecture transformers can dequantize (llama, qwen2, qwen3, mistral, gemma ...). Model specs that resolve to weights: {SPEC_FORMS}.",
    )


def wrap_lora(model, job: TrainJob):
    from peft import LoraConfig, get_peft_model

    lora = job.config.lora
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in lora.target_modules if t in present]
    if not targets:
        raise ConfigError(
            f"none of the LoRA target modules {lora.target_modules} exist in {job.base.spec}",
            hint=f"Set lora.target_modules in --config to modules the model has (e.g. {sorted(n for n in present if n.endswith('proj'))[:8]}).",
        )
    config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets, use_rslora=lora.rslora, bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, config), targets


class PeftEngine:
    name = "peft"

    def train(self, job: TrainJob) -> TrainOutcome:
        from .trainer import run_training

        precision = pick_precision(job.config.precision.peft)
        tokenizer = load_tokenizer(job.base)
        model = load_base_model(job.base, precision)
        from transformers import set_seed

        # The LoRA A matrices are drawn from torch's RNG when the adapter is created, before the Trainer
        # seeds anything: unseeded, two trainings of one config started from different weights (as
        # Unsloth's random_state= does, the seed is set first).
        set_seed(job.config.train.seed)
        model, targets = wrap_lora(model, job)
        source = "dequantized from " + (job.base.quantization or "GGUF") if job.base.kind == "gguf" else "as published"
        return run_training(model, tokenizer, job, engine=self.name, precision=f"{precision} base ({source}), {precision} LoRA", targets=targets, bf16=precision == "bf16")
