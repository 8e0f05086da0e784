"""Which weights to train: the baselined model spec (or --base) resolved to a Hugging Face repo id, a
local folder, or a GGUF file (the embedded model included) that transformers dequantizes through its
`gguf_file` loader. An Ollama tag or catalog name is mapped to its Hugging Face repo through the
research catalog."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

SPEC_FORMS = (
    "embedded; llamacpp/PATH.gguf or PATH.gguf (a local GGUF, dequantized for training); "
    "an HF repo id (HuggingFaceTB/SmolLM2-135M-Instruct, or hf/<owner>/<repo>); a local folder with config.json and weights; "
    "an Ollama tag or catalog id that the research catalog maps to an HF repo (qwen3:8b, qwen3-8b); "
    "vllm/<HF repo id> (vLLM serves HF repos by id)"
)


@dataclass
class ResolvedBase:
    """The training base and how the adapter will be served."""

    spec: str  # the model spec as the baseline ran it (or --base)
    kind: str  # "gguf" | "hf"
    load_from: str  # folder or HF repo id passed to from_pretrained
    gguf_file: str | None = None  # file name inside load_from, for GGUF bases
    gguf_path: Path | None = None
    hf_id: str | None = None
    sha256: str | None = None  # of the GGUF file
    serve_spec: str | None = None  # how basesel serves base+adapter (`embedded`, `llamacpp/PATH`) for a GGUF base
    notes: list[str] = field(default_factory=list)
    quantization: str | None = None  # of the served GGUF

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "kind": self.kind,
            "load_from": self.load_from,
            "gguf_file": self.gguf_file,
            "gguf_path": str(self.gguf_path) if self.gguf_path else None,
            "hf_id": self.hf_id,
            "gguf_sha256": self.sha256,
            "serve_spec": self.serve_spec,
            "quantization": self.quantization,
            "notes": self.notes,
        }


def _gguf(spec: str, path: Path, serve_spec: str) -> ResolvedBase:
    from ..models.gguf import sha256_of
    from ..models.llamacpp import _quant_from

    path = path.expanduser()
    if not path.is_file():
        raise ConfigError(f"base model GGUF not found: {path}", hint=f"Model specs that resolve to weights: {SPEC_FORMS}.")
    return ResolvedBase(spec, "gguf", str(path.resolve().parent), path.name, path.resolve(), sha256=sha256_of(path), serve_spec=serve_spec, quantization=_quant_from({}, path))


def _looks_like_hf_id(text: str) -> bool:
    import re

    return bool(re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", text))


def _from_catalog(name: str) -> str | None:
    from ..research.catalog import load_catalog

    lowered = name.lower()
    for entry in load_catalog().models:
        if lowered in {(entry.ollama or "").lower(), entry.id.lower(), (entry.hf_repo or "").lower()} and entry.hf_repo:
            return entry.hf_repo
    return None


def resolve_base(spec: str, options: dict[str, Any] | None = None) -> ResolvedBase:
    """A model spec -> the weights to train. Raises a ConfigError listing the spec forms that work."""
    from ..models.spec import parse_spec

    options = options or {}
    text = spec.strip()
    local = Path(text).expanduser()
    if text.startswith("hf/"):
        text = text[3:]
        if not _looks_like_hf_id(text):
            raise ConfigError(f"'{spec}' is not an HF repo id", hint="Write hf/<owner>/<repo>, e.g. hf/HuggingFaceTB/SmolLM2-135M-Instruct.")
        return ResolvedBase(spec, "hf", text, hf_id=text)
    if local.is_dir():
        if not (local / "config.json").is_file():
            ggufs = sorted(local.glob("*.gguf"))
            if len(ggufs) == 1:
                return _gguf(spec, ggufs[0], f"llamacpp/{ggufs[0].resolve()}")
            raise ConfigError(f"base folder {local} holds no config.json (and not exactly one .gguf)", hint=f"Model specs that resolve to weights: {SPEC_FORMS}.")
        return ResolvedBase(spec, "hf", str(local.resolve()), hf_id=None, notes=["a local Hugging Face folder"])
    from ..models.spec import PROVIDERS

    if _looks_like_hf_id(text) and text.split("/")[0].lower() not in PROVIDERS and not text.endswith(".gguf"):
        return ResolvedBase(spec, "hf", text, hf_id=text)
    parsed = parse_spec(text)
    if parsed.provider == "embedded":
        from ..models.gguf import embedded_model_path

        base = _gguf(spec, embedded_model_path(), "embedded")
        base.hf_id = "HuggingFaceTB/SmolLM2-135M-Instruct"
        base.notes.append("the embedded SmolLM2-135M-Instruct Q4_1 GGUF, dequantized to float for training")
        return base
    if parsed.provider == "llamacpp":
        path = Path(parsed.name).expanduser()
        if not path.exists() and not parsed.name.startswith(("/", ".", "~")) and parsed.name.count("/") >= 2:
            from ..models.hf import resolve_hf_gguf

            path = resolve_hf_gguf(parsed.name, options.get("file"))
        return _gguf(spec, path, f"llamacpp/{path.expanduser().resolve()}")
    if parsed.provider == "ollama":
        repo = _from_catalog(parsed.name)
        if repo is None and _looks_like_hf_id(parsed.name):
            return ResolvedBase(spec, "hf", parsed.name, hf_id=parsed.name)
        if repo is None:
            raise ConfigError(
                f"cannot find the weights of '{spec}': the research catalog maps no Hugging Face repo to that Ollama tag",
                hint=f"Pass --base with the model's HF repo id (e.g. --base Qwen/Qwen3-8B). Model specs that resolve to weights: {SPEC_FORMS}.",
            )
        return ResolvedBase(spec, "hf", repo, hf_id=repo, notes=[f"Ollama tag {parsed.name} mapped to {repo} by the research catalog; the adapter must be served on that same base"])
    if parsed.provider == "vllm" and _looks_like_hf_id(parsed.name):
        return ResolvedBase(spec, "hf", parsed.name, hf_id=parsed.name)
    raise ConfigError(
        f"'{spec}' cannot be fine-tuned here: {parsed.provider} models are served by an API whose weights basesel cannot train",
        hint=f"Pass --base with open weights. Model specs that resolve to weights: {SPEC_FORMS}.",
    )
