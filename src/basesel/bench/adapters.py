"""The LoRA condition: an adapter directory from `basesel finetune`.

`<adapter>/basesel-adapter.json` names the base model it was trained on (spec and GGUF sha256) and the
GGUF adapter file. The model runs as that base with `-o lora=<adapter.gguf>`; an adapter trained on
another base than --model is refused, naming both (a LoRA applied to the wrong base is noise).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError

ADAPTER_MANIFEST = "basesel-adapter.json"


@dataclass(frozen=True)
class Adapter:
    directory: Path
    gguf: Path
    base_spec: str
    base_sha256: str | None
    training: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "gguf": str(self.gguf), "base_spec": self.base_spec, "base_sha256": self.base_sha256, "training": self.training}


def _first(data: dict[str, Any], *paths: str) -> Any:
    for path in paths:
        value: Any = data
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value not in (None, ""):
            return value
    return None


def read_adapter(directory: Path) -> Adapter:
    manifest = directory / ADAPTER_MANIFEST
    if not directory.is_dir():
        raise ConfigError(f"--adapter {directory} is not a directory", hint="Pass the adapter directory `basesel finetune` wrote (it holds basesel-adapter.json).")
    if not manifest.is_file():
        raise ConfigError(f"--adapter {directory} has no {ADAPTER_MANIFEST}", hint="Pass a directory written by `basesel finetune`; a bare PEFT folder does not say which base it was trained on.")
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {manifest}: {exc}", hint="Re-export the adapter with `basesel finetune`.") from exc
    base_spec = _first(data, "base.spec", "base_spec", "base_model", "base")
    gguf_name = _first(data, "gguf.file", "gguf", "gguf_adapter", "adapter_gguf", "files.gguf", "lora_gguf")
    if not isinstance(base_spec, str) or not isinstance(gguf_name, str):
        raise ConfigError(f"{manifest} names no base model or no GGUF adapter file", hint="Re-export the adapter with `basesel finetune` (it writes both).")
    gguf = (directory / gguf_name) if not Path(gguf_name).is_absolute() else Path(gguf_name)
    if not gguf.is_file():
        raise ConfigError(f"the adapter's GGUF file {gguf} is missing", hint="Re-export it with `basesel finetune --export gguf`, or pass the directory that holds it.")
    sha = _first(data, "base.gguf_sha256", "base.sha256", "base_gguf_sha256", "base_sha256")
    training = _first(data, "training") or {}
    return Adapter(directory, gguf, base_spec, str(sha).removeprefix("sha256:") if sha else None, training if isinstance(training, dict) else {})


def check_base(adapter: Adapter, model_spec: str, model_digest: str | None) -> None:
    """Refuse an adapter whose base is not --model: by GGUF sha256 when both are known, else by spec."""
    from ..models.spec import parse_spec

    digest = (model_digest or "").removeprefix("sha256:") or None
    if adapter.base_sha256 and digest:
        if adapter.base_sha256 != digest:
            raise ConfigError(
                f"the adapter in {adapter.directory} was trained on {adapter.base_spec} (GGUF sha256 {adapter.base_sha256[:12]}...), not on --model {model_spec} (sha256 {digest[:12]}...)",
                hint=f"Benchmark it with --model {adapter.base_spec}, or pass an adapter trained on {model_spec}.",
            )
        return
    if str(parse_spec(adapter.base_spec)) != str(parse_spec(model_spec)):
        raise ConfigError(
            f"the adapter in {adapter.directory} was trained on {adapter.base_spec}, not on --model {model_spec}",
            hint=f"Benchmark it with --model {adapter.base_spec}, or pass an adapter trained on {model_spec}.",
        )


def training_usd(adapter: Adapter, rate: float | None, override: float | None) -> tuple[float | None, str]:
    if override is not None:
        return override, f"--training-usd {override}"
    seconds = _first(adapter.training, "wall_s", "wall_seconds", "seconds", "duration_s")
    if isinstance(seconds, (int, float)) and rate is not None:
        return rate * float(seconds) / 3600, f"training time {float(seconds):.0f} s x ${rate}/h"
    return None, "unknown: pass --training-usd (the adapter records no training time, or no --gpu-usd-per-hour)"
