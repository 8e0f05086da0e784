"""Where basesel finds its bundled data and keeps its cache."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_root() -> Path:
    """Directory holding rubrics/, taxonomies/, templates/, configs/ and the skill.

    In a wheel they are copied to `basesel/_data`; in a source checkout
    (editable install) they are the repository's top-level folders.
    """
    packaged = _PACKAGE_DIR / "_data"
    if packaged.is_dir():
        return packaged
    return _PACKAGE_DIR.parent.parent


def bundled(kind: str) -> Path:
    """Bundled data folder: 'rubrics', 'taxonomies', 'templates' or 'configs'."""
    return data_root() / kind


def skill_source() -> Path:
    """Folder holding SKILL.md and the skill/ reference files."""
    packaged = _PACKAGE_DIR / "_data" / "skill"
    if packaged.is_dir():
        return packaged
    return _PACKAGE_DIR.parent.parent


def cache_dir() -> Path:
    """Response cache shared by every run. Override with BASESEL_CACHE_DIR."""
    override = os.environ.get("BASESEL_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("basesel"))


def resolve_data_file(value: str | os.PathLike, kind: str, suffixes: tuple[str, ...] = (".yaml", ".yml")) -> Path:
    """A user's path if it exists, else a bundled file of that name (`support` -> rubrics/support.yaml)."""
    from .errors import ConfigError

    path = Path(value).expanduser()
    if path.is_file():
        return path
    name = path.name
    candidates = [bundled(kind) / name] + [bundled(kind) / f"{name}{s}" for s in suffixes]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    available = sorted(p.stem for p in bundled(kind).glob("*.y*ml")) if bundled(kind).is_dir() else []
    raise ConfigError(
        f"{ {'rubrics': 'rubric', 'taxonomies': 'taxonomy'}.get(kind, kind)} file not found: {value}",
        hint=f"Pass an existing file path, or one of the bundled names: {', '.join(available) or '(none)'}.",
    )
