"""The built-in candidate catalog and the domain guidance: data files validated on every load.

`configs/catalog.yaml` lists open-weight models with their published facts (unknown facts are null,
never guessed); `configs/research-domains.yaml` holds the domain prefer/avoid guidance that turns a
model's architecture focus and traits into a 1-5 star domain fit.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import ConfigError

Focus = Literal["chat", "reasoning", "hybrid", "code", "general"]
FOCUS_LABELS: dict[str, str] = {
    "chat": "chat-focused",
    "reasoning": "reasoning-focused",
    "hybrid": "hybrid thinking",
    "code": "code-trained",
    "general": "general-purpose",
}
Trait = Literal[
    "code",
    "creative",
    "dated",
    "dialogue",
    "edge",
    "fully-open",
    "instruction-following",
    "math",
    "moe",
    "multilingual",
    "multimodal",
    "no-moderation",
    "poor-empathy",
    "rag",
    "structured-output",
    "superseded",
    "thinking-default",
    "thinking-switch",
    "tools",
    "weak-creative",
    "weak-knowledge",
]
Commercial = Literal["yes", "conditional", "no"]
Weights = Literal["open", "gguf-only", "closed"]
Support = Literal["yes", "limited", "no"]
COMMERCIAL_LABELS = {"yes": "commercial use allowed", "conditional": "commercial use with conditions", "no": "no commercial use", None: "licence not confirmed"}

CATALOG_FILE = "catalog.yaml"
DOMAINS_FILE = "research-domains.yaml"
STALE_MONTHS = 6

_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_MONTH = re.compile(r"^(19|20)\d\d-(0[1-9]|1[0-2])$")


class Licence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    """Human-readable licence name."""
    commercial: Commercial
    """yes = commercial use allowed; conditional = allowed with conditions; no = not allowed."""
    conditions: Optional[str] = None
    """The conditions, in one line, when `commercial` is conditional or no."""
    hf_ids: list[str] = Field(default_factory=list)
    """Licence ids as Hugging Face writes them (`license:` in the model card), to map live data back."""


class Entry(BaseModel):
    """One model of the catalog."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    family: str
    model: str
    params: str
    """Parameter count as published, for display ("30B MoE (~3B active)")."""
    params_b: float = Field(gt=0)
    """Total parameters in billions: what the size filter compares."""
    active_params_b: Optional[float] = Field(default=None, gt=0)
    license: Optional[str] = None
    """Licence id from the catalog's `licenses` ("A AND B" when both apply); null when not confirmed."""
    context: Optional[int] = Field(default=None, gt=0)
    """Native / default context length in tokens; null when not confirmed."""
    context_max: Optional[int] = Field(default=None, gt=0)
    """Context with YaRN / rope scaling, when longer than the native one."""
    release: Optional[str] = None
    """First release month, YYYY-MM; null when not confirmed."""
    focus: Focus
    traits: list[Trait] = Field(default_factory=list)
    hf_repo: Optional[str] = None
    gated: Optional[bool] = None
    ollama: Optional[str] = None
    ollama_evidence: Optional[Literal["library", "in-use", "reported"]] = None
    gguf: Optional[Literal["official", "community", "none"]] = None
    gguf_repo: Optional[str] = None
    gguf_file: Optional[str] = None
    issues: list[str] = Field(default_factory=list)
    notes: str = ""
    arch: Optional[str] = None
    """The architecture as config.json's `model_type` names it (a key of the catalog's `finetune.architectures`);
    null when not recorded."""
    weights: Weights = "open"
    """open = Hugging Face weights to train; gguf-only = only GGUF builds; closed = served behind an API only."""

    @field_validator("release")
    @classmethod
    def _month(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not _MONTH.match(v):
            raise ValueError("release must be a month written YYYY-MM (quote it in YAML), or null when not confirmed")
        return v

    @field_validator("hf_repo", "gguf_repo")
    @classmethod
    def _repo(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not _REPO.match(v):
            raise ValueError("a Hugging Face repo id is written owner/name")
        return v

    @field_validator("traits")
    @classmethod
    def _unique_traits(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("traits are listed twice")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "Entry":
        if (self.ollama is None) != (self.ollama_evidence is None):
            raise ValueError("ollama and ollama_evidence go together: give both, or neither")
        if self.context_max is not None and (self.context is None or self.context_max <= self.context):
            raise ValueError("context_max must be longer than a known native context")
        if self.active_params_b is not None and self.active_params_b > self.params_b:
            raise ValueError("active_params_b cannot exceed params_b")
        if (self.gguf_repo or self.gguf_file) and self.gguf not in ("official", "community"):
            raise ValueError("gguf_repo / gguf_file need gguf: official or community")
        if self.gguf_file and not self.gguf_file.endswith(".gguf"):
            raise ValueError("gguf_file must name a .gguf file")
        return self

    @property
    def licence_ids(self) -> list[str]:
        return split_licence(self.license)


def split_licence(value: Optional[str]) -> list[str]:
    return [part.strip() for part in value.split(" AND ")] if value else []


class ArchSupport(BaseModel):
    """What the fine-tune engines can do with one architecture."""

    model_config = ConfigDict(extra="forbid")

    peft: Support
    """transformers + PEFT LoRA (the engine on every machine; Unsloth on CUDA trains the same architectures or more)."""
    gguf_base: Literal["yes", "no"]
    """transformers' GGUF loader reads it: a base known only as a GGUF can be dequantized and trained."""
    llamacpp: Optional[str] = None
    """llama.cpp's name for the architecture (gguf's MODEL_ARCH), when llama.cpp runs it."""
    llamacpp_lora: Literal["yes", "limited", "no", "unconfirmed"]
    """A LoRA adapter for it loads in llama.cpp (the GGUF LoRA export, Ollama's ADAPTER)."""
    note: str = ""
    """Why a limit applies, in one line: shown in the research table."""

    @model_validator(mode="after")
    def _lora_needs_llamacpp(self) -> "ArchSupport":
        if self.llamacpp_lora in ("yes", "limited") and self.llamacpp is None:
            raise ValueError("llamacpp_lora yes / limited needs the architecture's llama.cpp name (llamacpp)")
        if (self.peft != "yes" or self.llamacpp_lora != "yes") and not self.note:
            raise ValueError("a limit (peft or llamacpp_lora not yes) needs a note saying why")
        return self


class FinetuneSupport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checked: str
    """Against which library versions the table was checked."""
    architectures: dict[str, ArchSupport]


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: dt.date
    """When the facts were compiled: `research` warns when this is older than 6 months."""
    source: str
    licenses: dict[str, Licence]
    models: list[Entry] = Field(min_length=1)
    watch_list: list[str] = Field(default_factory=list)
    """Reported but unverified models: shown, never scored."""
    finetune: Optional[FinetuneSupport] = None
    """What `basesel finetune` can train and export, per architecture; None: not assessed (a custom catalog)."""

    @model_validator(mode="after")
    def _references(self) -> "Catalog":
        seen: set[str] = set()
        for entry in self.models:
            if entry.id in seen:
                raise ValueError(f"model id '{entry.id}' is used twice")
            seen.add(entry.id)
            for lid in entry.licence_ids:
                if lid not in self.licenses:
                    raise ValueError(f"model '{entry.id}': unknown licence id '{lid}' (known: {', '.join(sorted(self.licenses))})")
            if entry.arch is not None and self.finetune is not None and entry.arch not in self.finetune.architectures:
                raise ValueError(f"model '{entry.id}': architecture '{entry.arch}' is not in finetune.architectures (known: {', '.join(sorted(self.finetune.architectures))})")
        return self

    def commercial(self, licence: Optional[str]) -> Optional[str]:
        """The most restrictive commercial-use class of a licence expression; None when unknown."""
        ids = split_licence(licence)
        if not ids or any(i not in self.licenses for i in ids):
            return None
        order = {"no": 0, "conditional": 1, "yes": 2}
        return min((self.licenses[i].commercial for i in ids), key=order.__getitem__)

    def licence_from_hf(self, hf_id: Optional[str]) -> Optional[str]:
        """Map a Hugging Face licence id (`apache-2.0`) to a catalog licence id (`Apache-2.0`)."""
        if not hf_id:
            return None
        key = str(hf_id).strip().lower()
        for lid, lic in self.licenses.items():
            if key == lid.lower() or key in (h.lower() for h in lic.hf_ids):
                return lid
        return None

    def age_months(self, today: dt.date) -> int:
        return (today.year - self.as_of.year) * 12 + today.month - self.as_of.month - (1 if today.day < self.as_of.day else 0)

    def is_stale(self, today: dt.date) -> bool:
        return self.age_months(today) >= STALE_MONTHS

    def stale_warning(self, today: dt.date) -> Optional[str]:
        if not self.is_stale(today):
            return None
        return (
            f"the model catalog is dated {self.as_of.isoformat()} ({self.age_months(today)} months ago): newer models have "
            "probably been released since (models release monthly; 6-month-old lists are stale). Run with --online to "
            "search for recent models, or update the catalog (--catalog FILE)."
        )


class FocusFit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stars: int = Field(ge=1, le=5)
    reason: str
    avoid: bool = False
    """The domain's guidance says to avoid models of this focus."""


class TraitAdjust(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delta: int = Field(ge=-2, le=2)
    reason: str


class SizeAdjust(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_b: Optional[float] = None
    max_b: Optional[float] = None
    delta: int = Field(ge=-2, le=2)
    reason: str

    @model_validator(mode="after")
    def _bound(self) -> "SizeAdjust":
        if self.min_b is None and self.max_b is None:
            raise ValueError("a size adjustment needs min_b or max_b")
        return self

    def applies(self, params_b: float) -> bool:
        return (self.min_b is None or params_b >= self.min_b) and (self.max_b is None or params_b < self.max_b)


class Domain(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str
    aliases: list[str] = Field(default_factory=list)
    source: Literal["method", "basesel"]
    prefer: str
    avoid: str
    capability: str
    """For the web query "best LLM for [capability] [year]"."""
    topic: str = ""
    """For the web queries "best [size] parameter LLM [year] [topic]" and "open source LLM [topic] fine-tuned [year]"."""
    neutral: bool = False
    """No guidance: every model gets the same fit (the custom domain)."""
    focus: dict[Focus, FocusFit]
    traits: dict[Trait, TraitAdjust] = Field(default_factory=dict)
    size: list[SizeAdjust] = Field(default_factory=list)

    @model_validator(mode="after")
    def _all_focus(self) -> "Domain":
        missing = sorted(set(FOCUS_LABELS) - set(self.focus))
        if missing:
            raise ValueError(f"focus is missing {', '.join(missing)}: every focus needs a star value")
        return self


class DomainFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domains: dict[str, Domain]

    @model_validator(mode="after")
    def _unique_names(self) -> "DomainFile":
        seen: dict[str, str] = {}
        for name, dom in self.domains.items():
            for alias in [name, *dom.aliases]:
                key = alias.lower()
                if key in seen:
                    raise ValueError(f"domain name '{alias}' is used by both '{seen[key]}' and '{name}'")
                seen[key] = name
        return self

    def resolve(self, name: str) -> tuple[str, Domain]:
        key = name.strip().lower().replace("_", "-").replace(" ", "-")
        for dname, dom in self.domains.items():
            if key == dname or key in (a.lower() for a in dom.aliases):
                return dname, dom
        names = ", ".join(self.domains)
        raise ConfigError(
            f"unknown domain '{name}'",
            hint=f"Use one of: {names} (custom = no guidance, neutral fit; add --topic '{name}' for the web searches). Aliases: "
            + "; ".join(f"{d}: {', '.join(v.aliases)}" for d, v in self.domains.items() if v.aliases)
            + ".",
        )


def catalog_path(path: Optional[Path] = None) -> Path:
    from ..paths import bundled

    if path is None:
        return bundled("configs") / CATALOG_FILE
    if not Path(path).is_file():
        raise ConfigError(f"catalog file not found: {path}", hint="Pass an existing YAML file in the format of the bundled configs/catalog.yaml, or drop --catalog.")
    return Path(path)


def load_catalog(path: Optional[Path] = None) -> Catalog:
    """Load and validate a catalog (default: the bundled configs/catalog.yaml). Treat the result as
    read-only: it is cached until the file changes."""
    return _load_cached(catalog_path(path), Catalog, "catalog")


def load_domains(path: Optional[Path] = None) -> DomainFile:
    from ..paths import bundled

    return _load_cached(Path(path) if path else bundled("configs") / DOMAINS_FILE, DomainFile, "research domains")


_CACHE: dict[tuple, BaseModel] = {}


def _load_cached(path: Path, model: type, what: str):
    from ..yamlio import load_model

    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, model.__name__)
    except OSError:
        key = None
    if key is not None and key in _CACHE:
        return _CACHE[key]
    loaded = load_model(path, model, what=what)
    if key is not None:
        _CACHE[key] = loaded
    return loaded
