"""Install the agent skill (SKILL.md + skill/*.md) where coding agents look for it, and report on it.

An install writes the files plus a small manifest, `.basesel-skill.json`, holding the sha256 of each
file as installed. The manifest is how a later install tells an untouched older copy (safe to
update) from a file the user edited (left alone unless `--force`). Files the user added to the
folder themselves are never touched.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

SKILL_NAME = "base-model-selector"
MANIFEST = ".basesel-skill.json"


def user_location() -> Path:
    """Personal skills folder of Claude Code (and agents that share its layout)."""
    return Path.home() / ".claude" / "skills" / SKILL_NAME


def project_location(root: Path | None = None) -> Path:
    return (root or Path.cwd()) / ".claude" / "skills" / SKILL_NAME


def resolve_dest(dest: Path) -> Path:
    """`--dest DIR`: a skills directory (the skill goes in DIR/base-model-selector), or the skill folder itself."""
    dest = Path(dest).expanduser()
    return dest if dest.name == SKILL_NAME else dest / SKILL_NAME


def source_files(source: Path | None = None) -> dict[str, Path]:
    """Relative path -> file, for SKILL.md and the reference files in skill/."""
    from .paths import skill_source

    root = source or skill_source()
    skill_md = root / "SKILL.md"
    if not skill_md.is_file():
        raise ConfigError(
            f"the skill's source is missing: {skill_md} not found",
            hint="Reinstall basesel (pip install --force-reinstall basesel); the wheel ships SKILL.md and skill/ under basesel/_data/skill.",
        )
    files = {"SKILL.md": skill_md}
    refs = root / "skill"
    if refs.is_dir():
        for path in sorted(refs.glob("*.md")):
            files[f"skill/{path.name}"] = path
    return files


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("files"), dict) else None


@dataclass
class FileAction:
    path: str  # relative to the install folder
    action: str  # create | update | unchanged | overwrite | remove | conflict | keep-edited
    reason: str = ""


@dataclass
class InstallResult:
    dest: Path
    version: str
    actions: list[FileAction] = field(default_factory=list)
    wrote: bool = False

    @property
    def changed(self) -> list[FileAction]:
        return [a for a in self.actions if a.action not in ("unchanged",)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dest": str(self.dest),
            "version": self.version,
            "changed": self.wrote,
            "files": [{"path": a.path, "action": a.action, **({"reason": a.reason} if a.reason else {})} for a in self.actions],
        }


def plan_install(dest: Path, force: bool = False, source: Path | None = None) -> InstallResult:
    """Decide what installing into `dest` would do, file by file, without writing anything."""
    from . import __version__

    files = source_files(source)
    manifest = read_manifest(dest) or {"files": {}}
    recorded: dict[str, str] = {k: v for k, v in manifest["files"].items() if isinstance(v, str)}
    result = InstallResult(dest=dest, version=__version__)
    for rel, src in files.items():
        target = dest / rel
        want = sha256_file(src)
        if not target.exists():
            result.actions.append(FileAction(rel, "create"))
            continue
        if not target.is_file():
            result.actions.append(FileAction(rel, "conflict", "a folder or special file is in the way"))
            continue
        have = sha256_file(target)
        if have == want:
            result.actions.append(FileAction(rel, "unchanged"))
        elif recorded.get(rel) == have:
            result.actions.append(FileAction(rel, "update", "older installed copy, not edited"))
        elif force:
            result.actions.append(FileAction(rel, "overwrite", "edited locally" if rel in recorded else "not installed by basesel"))
        else:
            result.actions.append(FileAction(rel, "conflict", "edited locally" if rel in recorded else "not installed by basesel"))
    # Files an earlier version installed that this version no longer ships.
    for rel, old_hash in sorted(recorded.items()):
        if rel in files:
            continue
        target = dest / rel
        if not target.is_file():
            continue
        if sha256_file(target) == old_hash or force:
            result.actions.append(FileAction(rel, "remove", "no longer part of the skill"))
        else:
            result.actions.append(FileAction(rel, "keep-edited", "no longer part of the skill, but edited locally: left in place"))
    return result


def _atomic_copy(src: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    tmp.write_bytes(src.read_bytes())
    os.replace(tmp, target)


def install(dest: Path, force: bool = False, source: Path | None = None) -> InstallResult:
    """Copy the skill into `dest`. Idempotent: an up-to-date copy is left untouched (manifest included).

    Raises ConfigError, writing nothing, when a file there was edited locally (or was not written by
    basesel) and `force` is False.
    """
    result = plan_install(dest, force=force, source=source)
    conflicts = [a for a in result.actions if a.action == "conflict"]
    if conflicts:
        listing = "; ".join(f"{a.path} ({a.reason})" for a in conflicts)
        raise ConfigError(
            f"not overwriting {len(conflicts)} file(s) in {dest}: {listing}",
            hint="Move your edits elsewhere, or re-run with --force to replace them with this version's files.",
            where=str(dest),
        )
    files = source_files(source)
    manifest_path = dest / MANIFEST
    previous = read_manifest(dest)
    wanted_manifest_files = {rel: sha256_file(src) for rel, src in files.items()}
    up_to_date = (
        all(a.action == "unchanged" for a in result.actions)
        and previous is not None
        and previous.get("files") == wanted_manifest_files
        and previous.get("version") == result.version
    )
    if up_to_date:
        return result
    try:
        dest.mkdir(parents=True, exist_ok=True)
        for action in result.actions:
            if action.action in ("create", "update", "overwrite"):
                _atomic_copy(files[action.path], dest / action.path)
            elif action.action == "remove":
                (dest / action.path).unlink(missing_ok=True)
        manifest = {
            "skill": SKILL_NAME,
            "version": result.version,
            "installed": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "source": str(next(iter(files.values())).parent),
            "files": wanted_manifest_files,
        }
        tmp = manifest_path.with_name(f".{MANIFEST}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, manifest_path)
    except OSError as exc:
        raise ConfigError(f"cannot write the skill to {dest}: {exc.strerror or exc}", hint="Check the folder's permissions, or pick another place with --dest DIR.", where=str(dest)) from None
    result.wrote = True
    return result


@dataclass
class InstalledInfo:
    scope: str  # user | project | dest
    path: Path
    installed: bool
    version: str | None = None
    installed_at: str | None = None
    edited: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    outdated: list[str] = field(default_factory=list)  # differs from this CLI's copy, not edited
    managed: bool = False  # a basesel manifest is present
    problem: str | None = None

    def status(self, cli_version: str) -> str:
        if not self.installed:
            return "not installed"
        if self.problem:
            return f"unreadable: {self.problem}"
        if not self.managed:
            return "present, not installed by basesel (no manifest)"
        parts = []
        if self.version != cli_version:
            parts.append(f"version {self.version or 'unknown'} differs from the CLI's {cli_version}")
        elif self.outdated:
            parts.append(f"{len(self.outdated)} file(s) differ from this CLI's copy")
        if self.edited:
            parts.append(f"{len(self.edited)} file(s) edited locally")
        if self.missing:
            parts.append(f"{len(self.missing)} file(s) missing")
        return "; ".join(parts) if parts else "up to date"

    def to_dict(self, cli_version: str) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "path": str(self.path),
            "installed": self.installed,
            "version": self.version,
            "cli_version": cli_version,
            "up_to_date": self.installed and self.managed and not self.problem and self.version == cli_version and not (self.edited or self.missing or self.outdated),
            "status": self.status(cli_version),
            "installed_at": self.installed_at,
            "edited": self.edited,
            "missing": self.missing,
            "outdated": self.outdated,
        }


def inspect_location(scope: str, folder: Path) -> InstalledInfo:
    """What is installed in `folder`: version from SKILL.md's metadata, edits against the manifest."""
    from .skill_validate import FrontmatterError, parse_skill_file

    info = InstalledInfo(scope=scope, path=folder, installed=(folder / "SKILL.md").is_file())
    if not info.installed:
        return info
    try:
        meta = parse_skill_file(folder / "SKILL.md").frontmatter.get("metadata")
        if isinstance(meta, dict) and meta.get("version") is not None:
            info.version = str(meta["version"])
    except (FrontmatterError, OSError, UnicodeDecodeError) as exc:
        info.problem = str(exc)
    manifest = read_manifest(folder)
    if manifest is None:
        return info
    info.managed = True
    info.installed_at = manifest.get("installed")
    try:
        current = source_files()
    except ConfigError:
        current = {}
    for rel, recorded in sorted(manifest["files"].items()):
        target = folder / rel
        if not target.is_file():
            info.missing.append(rel)
            continue
        have = sha256_file(target)
        if have != recorded:
            info.edited.append(rel)
        elif rel in current and sha256_file(current[rel]) != have:
            info.outdated.append(rel)
    for rel in current:
        if rel not in manifest["files"]:
            info.outdated.append(rel)
    return info
