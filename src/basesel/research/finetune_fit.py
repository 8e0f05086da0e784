"""Can `basesel finetune` train this candidate and serve the result? The backup pick may become the model
that is fine-tuned, so research marks (and scores down) candidates the engines cannot train or export.

The facts are data: `finetune.architectures` in configs/catalog.yaml (per config.json model_type) and each
model's `arch` / `weights`. The penalty comes off the factor total (max 100), at most MAX_PENALTY points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from .catalog import Catalog
    from .scoring import Candidate

MAX_PENALTY = 25
CANNOT_TRAIN = 25  # closed weights, an architecture PEFT cannot train, a GGUF-only base transformers cannot read
LIMITED_TRAINING = 5
NO_LLAMACPP_ADAPTER = 8  # the adapter needs a merged 16-bit model and another server (vLLM, transformers)
LIMITED_ADAPTER = 4
UNCONFIRMED = 2


@dataclass
class Trainability:
    status: str  # yes | limited | no | unknown
    penalty: int
    reasons: list[str] = field(default_factory=list)
    train: Optional[str] = None  # peft support of the architecture (yes | limited | no), None when unknown
    export: Optional[str] = None  # llamacpp_lora of the architecture

    @property
    def label(self) -> str:
        return {"yes": "yes", "limited": "limited", "no": "cannot fine-tune", "unknown": "not confirmed"}[self.status]

    @property
    def summary(self) -> str:
        """For a table cell: the mark, then the reasons."""
        if self.status == "yes" and not self.reasons:
            return "yes: trains with PEFT, adapter loads in llama.cpp"
        return f"{self.label}: {'; '.join(self.reasons)}" if self.reasons else self.label

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "penalty": self.penalty, "reasons": self.reasons, "train": self.train, "export": self.export, "summary": self.summary}


def assess(c: "Candidate", catalog: "Catalog") -> Optional[Trainability]:
    """None when the catalog does not assess fine-tuning (a custom catalog without `finetune`)."""
    support = catalog.finetune
    if support is None:
        return None
    if c.weights == "closed":
        return Trainability("no", CANNOT_TRAIN, ["closed weights, served behind an API: there is nothing to fine-tune locally"])
    arch = support.architectures.get(c.arch) if c.arch else None
    if arch is None:
        what = f"architecture '{c.arch}' is not in the fine-tune table" if c.arch else "architecture not recorded"
        return Trainability("unknown", UNCONFIRMED, [f"{what}: check its config.json model_type against docs/finetune.md before planning a fine-tune"])
    points, reasons, blocked = 0, [], False
    if arch.peft == "no":
        blocked = True
        points += CANNOT_TRAIN
        reasons.append(f"transformers/PEFT cannot fine-tune {c.arch}" + (f" ({arch.note})" if arch.note else ""))
    elif arch.peft == "limited":
        points += LIMITED_TRAINING
        reasons.append(arch.note or f"PEFT trains {c.arch} only in part")
    if c.weights == "gguf-only":
        if arch.gguf_base == "no":
            blocked = True
            points += CANNOT_TRAIN
            reasons.append(f"only GGUF builds, and transformers' GGUF loader cannot read {c.arch}")
        else:
            points += LIMITED_TRAINING
            reasons.append("only GGUF builds: trains on the GGUF dequantized, its quantization error baked into the base")
    elif c.hf_repo is None:
        points += UNCONFIRMED
        reasons.append("no Hugging Face repo recorded: training needs its safetensors weights" + (" (or its GGUF, which transformers can load)" if arch.gguf_base == "yes" else ""))
    # the architecture's note says why its adapters are limited, unless a training reason quoted it already
    noted = bool(arch.note) and arch.note in reasons
    said = noted and "llama.cpp" in arch.note

    def export_reason(default: str) -> None:
        if not said:
            reasons.append(arch.note if arch.note and not noted else default)

    if arch.llamacpp_lora == "no":
        points += NO_LLAMACPP_ADAPTER
        reasons.append("its LoRA adapter does not load in llama.cpp / Ollama: serve the merged 16-bit model (--merge) with vLLM or transformers")
    elif arch.llamacpp_lora == "limited":
        points += LIMITED_ADAPTER
        export_reason("llama.cpp loads its LoRA adapter only in part")
    elif arch.llamacpp_lora == "unconfirmed":
        points += UNCONFIRMED
        export_reason("LoRA adapters for it not confirmed in llama.cpp")
    status = "no" if blocked else ("limited" if points else "yes")
    return Trainability(status, min(points, MAX_PENALTY), reasons, arch.peft, arch.llamacpp_lora)
