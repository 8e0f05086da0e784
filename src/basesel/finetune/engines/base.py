"""The engine interface: one job in (base, data, settings, folders), one outcome out. Engines differ only
in how they load the base and wrap it with LoRA; the training loop, checkpoints, early stopping, resume,
progress and the record are shared (engines/trainer.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from ...errors import ConfigError, MissingDependencyError, UsageError, find_module_spec
from ..base_model import ResolvedBase
from ..config import FinetuneConfig
from ..data import Example

ENGINES = ("auto", "unsloth", "peft")


@dataclass
class TrainJob:
    base: ResolvedBase
    train: list[Example]
    val: list[Example]
    config: FinetuneConfig
    checkpoints_dir: Path
    adapter_dir: Path
    log: Callable[[str], None] = print
    show_progress: bool = True


@dataclass
class TrainOutcome:
    engine: str
    adapter_dir: Path
    precision_trained: str
    steps: int
    max_steps: int
    resumed_from_step: int | None
    best_checkpoint: str | None
    best_val_loss: float | None
    stopped_early: bool
    initial: dict[str, float]  # losses before the first step: train_loss (on a training subset), val_loss
    final: dict[str, float]  # the same, with the kept (best) adapter
    history: list[dict[str, Any]]  # the trainer's log: {step, loss} and {step, eval_loss}
    tokens_seen: int  # non-padding tokens trained on (all sessions)
    tokens_this_session: int
    train_wall_s: float  # this session's time in the training loop, validation and checkpoints included
    eval_and_checkpoint_s: float  # the part of it spent validating and saving checkpoints
    tokens_per_s: float | None  # tokens_this_session / (train_wall_s - eval_and_checkpoint_s)
    peak_memory: dict[str, Any]
    tokenizer: dict[str, Any]  # pad token chosen, masking example
    dropped: list[dict[str, Any]] = field(default_factory=list)  # too long for max_length

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["adapter_dir"] = str(self.adapter_dir)
        return out


class Engine(Protocol):
    name: str

    def train(self, job: TrainJob) -> TrainOutcome: ...


def cuda_available() -> bool:
    """torch.cuda.is_available(), importing torch only when it is installed."""
    if find_module_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def require_training_stack() -> None:
    for module in ("torch", "transformers", "peft"):
        if find_module_spec(module) is None:
            raise MissingDependencyError(module, "finetune", "Fine-tuning")


def select_engine(name: str) -> tuple[Engine, str]:
    """The engine and why it was picked. `unsloth` checks for a CUDA device before importing anything of unsloth."""
    if name not in ENGINES:
        raise UsageError(f"unknown --engine '{name}'", hint=f"Use one of: {', '.join(ENGINES)}.")
    require_training_stack()
    if name == "unsloth":
        from .unsloth_engine import UnslothEngine, check_unsloth

        check_unsloth()
        return UnslothEngine(), "asked for with --engine unsloth"
    if name == "peft":
        from .peft_engine import PeftEngine

        return PeftEngine(), "asked for with --engine peft"
    has_cuda = cuda_available()
    has_unsloth = find_module_spec("unsloth") is not None
    if has_cuda and has_unsloth:
        from .unsloth_engine import UnslothEngine

        return UnslothEngine(), "auto: a CUDA device and unsloth are present (QLoRA, 4-bit base)"
    from .peft_engine import PeftEngine

    why = "no CUDA device" if not has_cuda else "unsloth is not installed (pip install 'basesel[finetune-gpu]')"
    return PeftEngine(), f"auto: {why}, so transformers + PEFT"


def unsupported_base(base: ResolvedBase, engine: str) -> ConfigError:
    return ConfigError(f"the {engine} engine cannot load {base.spec}", hint="Use --engine peft, or pass --base with an HF repo id.")
