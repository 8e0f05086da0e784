"""Fine-tune hyper-parameters: configs/finetune.yaml (the documented defaults), a user's --config on top,
then the common flags. Unknown keys are errors that point at the line."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class LoraSettings(_Strict):
    r: int = Field(default=16, ge=1, le=1024)
    alpha: float = Field(default=32, gt=0)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    rslora: bool = False
    target_modules: list[str] = Field(default_factory=lambda: list(DEFAULT_TARGETS), min_length=1)


class TrainSettings(_Strict):
    learning_rate: float = Field(default=2.0e-4, gt=0, lt=1)
    epochs: float = Field(default=3, gt=0)
    max_steps: Optional[int] = Field(default=None, ge=1)
    batch_size: int = Field(default=4, ge=1)
    grad_accum: int = Field(default=4, ge=1)
    max_length: int = Field(default=1024, ge=16)
    warmup_ratio: float = Field(default=0.03, ge=0, lt=1)
    weight_decay: float = Field(default=0.0, ge=0)
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "cosine"
    max_grad_norm: float = Field(default=1.0, gt=0)
    seed: int = 0


class ValidationSettings(_Strict):
    fraction: float = Field(default=0.1, gt=0, lt=1)
    min_items: int = Field(default=1, ge=1)
    eval_steps: int = Field(default=20, ge=1)
    early_stopping_patience: int = Field(default=3, ge=1)
    save_total_limit: int = Field(default=2, ge=1)


class TeacherSettings(_Strict):
    n: int = Field(default=200, ge=1)
    tries: int = Field(default=3, ge=1, le=20)
    failed_weight: float = Field(default=3.0, ge=1)
    temperature: float = Field(default=0.7, ge=0)


class PrecisionSettings(_Strict):
    peft: Literal["auto", "fp32", "bf16"] = "auto"


class FinetuneConfig(_Strict):
    lora: LoraSettings = Field(default_factory=LoraSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    validation: ValidationSettings = Field(default_factory=ValidationSettings)
    teacher: TeacherSettings = Field(default_factory=TeacherSettings)
    precision: PrecisionSettings = Field(default_factory=PrecisionSettings)

    @model_validator(mode="after")
    def _keep_best(self) -> "FinetuneConfig":
        # The best checkpoint and the latest must both survive rotation.
        if self.validation.save_total_limit < 2:
            self.validation.save_total_limit = 2
        return self


def default_config_path() -> Path:
    from ..paths import bundled

    return bundled("configs") / "finetune.yaml"


def load_config(path: Optional[Path] = None, **overrides) -> FinetuneConfig:
    """The shipped defaults, or `path` (a partial file: what it leaves out keeps the default), then the
    flags that were given (None = not given)."""
    from ..errors import ConfigError
    from ..yamlio import load_model

    if path is not None and not Path(path).is_file():
        raise ConfigError(f"fine-tune config not found: {path}", hint=f"Copy the defaults from {default_config_path()} and pass that file to --config.")
    config = load_model(Path(path) if path is not None else default_config_path(), FinetuneConfig, what="fine-tune config")
    where = {
        "max_steps": ("train", "max_steps"),
        "epochs": ("train", "epochs"),
        "lr": ("train", "learning_rate"),
        "lora_r": ("lora", "r"),
        "max_length": ("train", "max_length"),
        "seed": ("train", "seed"),
        "teacher_tries": ("teacher", "tries"),
        "teacher_n": ("teacher", "n"),
        "eval_steps": ("validation", "eval_steps"),
    }
    data = config.model_dump()
    for flag, value in overrides.items():
        if value is None:
            continue
        section, key = where[flag]
        data[section][key] = value
    try:
        return FinetuneConfig.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"invalid fine-tune setting from the command line: {exc}", hint="See `basesel finetune --help` for the allowed ranges.") from exc
