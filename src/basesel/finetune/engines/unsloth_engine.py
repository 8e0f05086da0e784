"""Unsloth: QLoRA on CUDA (4-bit base, LoRA on every attention and MLP projection), trained by the shared
loop (assistant-only labels, early stopping, resume), adapters saved in PEFT format.

Unsloth does not train on CPU (`from_pretrained` raises "Unsloth currently only supports GPUs"), so a CUDA
device is checked before anything of unsloth is imported."""

from __future__ import annotations

from ...errors import ConfigError, MissingDependencyError, find_module_spec
from .base import TrainJob, TrainOutcome, cuda_available


def check_unsloth() -> None:
    if not cuda_available():
        raise ConfigError(
            "--engine unsloth needs an NVIDIA GPU with CUDA, and this machine has none (torch.cuda.is_available() is False)",
            hint="Use --engine peft (transformers + PEFT, runs on CPU) or --engine auto, or run on a CUDA machine with pip install 'basesel[finetune-gpu]'.",
        )
    if find_module_spec("unsloth") is None:
        raise MissingDependencyError("unsloth", "finetune-gpu", "QLoRA with --engine unsloth")


class UnslothEngine:
    name = "unsloth"

    def train(self, job: TrainJob) -> TrainOutcome:
        check_unsloth()
        import unsloth  # noqa: F401 - must come before transformers/peft, whose classes it patches
        from unsloth import FastLanguageModel

        from .trainer import run_training

        if job.base.kind == "gguf":
            if not job.base.hf_id:
                raise ConfigError(
                    f"Unsloth loads Hugging Face checkpoints, not GGUF files ({job.base.spec})",
                    hint="Pass --base with the HF repo the GGUF was converted from, or use --engine peft (it dequantizes the GGUF).",
                )
            name = job.base.hf_id
        else:
            name = job.base.load_from
        lora = job.config.lora
        model, tokenizer = FastLanguageModel.from_pretrained(model_name=name, max_seq_length=job.config.train.max_length, load_in_4bit=True, dtype=None)
        model = FastLanguageModel.get_peft_model(
            model,
            r=lora.r,
            target_modules=lora.target_modules,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            bias="none",
            use_gradient_checkpointing="unsloth",
            random_state=job.config.train.seed,
            use_rslora=lora.rslora,
        )
        import torch

        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return run_training(model, tokenizer, job, engine=self.name, precision=f"nf4 base (4-bit, bitsandbytes), {precision} LoRA", targets=list(lora.target_modules), bf16=precision == "bf16")
