"""Check an agent skill folder against the Agent Skills format.

Rules (from the Agent Skills specification and the reference validators):

- `SKILL.md` starts with YAML frontmatter between `---` lines, holding only the allowed keys
  (`name`, `description`, `license`, `compatibility`, `metadata`, `allowed-tools`).
- `name`: 1-64 characters of lowercase a-z, 0-9 and single hyphens (no leading, trailing or double
  hyphen), not containing "claude" or "anthropic", and equal to the skill's folder name.
- `description`: 1-1024 characters, not blank, no `<` or `>`.
- `compatibility`: at most 500 characters; `license` and `allowed-tools`: strings;
  `metadata`: a map of strings to strings.
- Body: at most `MAX_BODY_LINES` lines (details belong in reference files).
- Every relative link in SKILL.md, and in the markdown files it links to, resolves to a file inside
  the skill folder (an installed copy holds nothing else).

The folder-name rule has one exception: basesel's own skill *source* folder (`paths.skill_source()`:
the repository root in a checkout, `basesel/_data/skill` in a wheel). That folder is where the skill
is kept, not where an agent loads it from; `basesel skill install` copies it into a folder named
after the skill, and the installed copy gets the full check. Any other folder — a copy of the
repository elsewhere included — must be named after the skill.

Library code: the CLI (`basesel skill validate`) only prints what `validate_skill` returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SKILL_FILE = "SKILL.md"
ALLOWED_KEYS = ("name", "description", "license", "compatibility", "metadata", "allowed-tools")
REQUIRED_KEYS = ("name", "description")
NAME_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
NAME_MAX = 64
RESERVED_WORDS = ("claude", "anthropic")
DESCRIPTION_MAX = 1024
COMPATIBILITY_MAX = 500
MAX_BODY_LINES = 500
BODY_WORDS_WARN = 4000  # ~5k tokens: the size the format notes advise for a loaded body

# [text](target) or ![alt](target), optionally with a "title"; and reference definitions "[id]: target".
_INLINE_LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REF_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass
class Problem:
    """One finding: where (file:line), what, and whether it breaks the skill."""

    where: str
    message: str
    level: str = "error"  # "error" | "warning"

    def to_dict(self) -> dict[str, str]:
        return {"level": self.level, "where": self.where, "message": self.message}


@dataclass
class SkillFile:
    path: Path
    frontmatter: dict[str, Any]
    body: str
    body_start_line: int  # 1-based line of the first body line in the file
    key_lines: dict[str, int] = field(default_factory=dict)


@dataclass
class ValidationResult:
    path: Path
    name: str | None = None
    version: str | None = None
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked_files: list[str] = field(default_factory=list)
    body_lines: int | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def error(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message, "error"))

    def warn(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message, "warning"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "ok": self.ok,
            "name": self.name,
            "version": self.version,
            "body_lines": self.body_lines,
            "errors": [p.to_dict() for p in self.errors],
            "warnings": [p.to_dict() for p in self.warnings],
            "notes": self.notes,
            "checked_files": self.checked_files,
        }


class FrontmatterError(ValueError):
    def __init__(self, message: str, line: int = 1):
        super().__init__(message)
        self.line = line


def split_frontmatter(text: str) -> tuple[str, str, int]:
    """(frontmatter text, body, 1-based line where the body starts). Raises FrontmatterError."""
    text = text.removeprefix("\ufeff")  # a byte-order mark some editors write: not content
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise FrontmatterError("SKILL.md must start with YAML frontmatter: a '---' line, the keys, and a closing '---' line", 1)
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            return "".join(lines[1:index]), "".join(lines[index + 1 :]), index + 2
    raise FrontmatterError("the frontmatter has no closing '---' line", 1)


def parse_skill_file(path: Path) -> SkillFile:
    """Read SKILL.md into frontmatter (a dict) and body. Raises FrontmatterError (with a line) on bad YAML."""
    import yaml

    text = path.read_text(encoding="utf-8")
    raw, body, body_start = split_frontmatter(text)
    try:
        data = yaml.safe_load(raw) if raw.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1  # +1 for the opening '---', +1 for 1-based
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise FrontmatterError(f"the frontmatter is not valid YAML: {problem}", line) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FrontmatterError("the frontmatter must be a YAML mapping of keys to values", 2)
    key_lines: dict[str, int] = {}
    for offset, line in enumerate(raw.splitlines()):
        match = re.match(r"^([A-Za-z0-9_-]+)\s*:", line)
        if match and match.group(1) not in key_lines:
            key_lines[match.group(1)] = offset + 2
    return SkillFile(path=path, frontmatter=data, body=body, body_start_line=body_start, key_lines=key_lines)


def skill_file_in(path: Path) -> Path:
    """SKILL.md for a folder or a file path."""
    return path / SKILL_FILE if path.is_dir() else path


def is_source_folder(folder: Path) -> bool:
    """True for basesel's own skill source folder (exempt from the folder-name rule, see module doc)."""
    from .paths import skill_source

    try:
        return folder.resolve() == skill_source().resolve()
    except OSError:
        return False


def check_name(value: Any) -> list[str]:
    """Problems with a skill name (empty list: valid)."""
    if not isinstance(value, str):
        return [f"'name' must be a string, got {type(value).__name__}"]
    problems = []
    if not 1 <= len(value) <= NAME_MAX:
        problems.append(f"'name' must be 1-{NAME_MAX} characters, got {len(value)}")
    if value and not NAME_PATTERN.match(value):
        problems.append(f"'name' {value!r} must use lowercase letters, digits and single hyphens, with no hyphen at either end")
    for word in RESERVED_WORDS:
        if word in value.lower():
            problems.append(f"'name' must not contain the reserved word {word!r}")
    return problems


def check_description(value: Any) -> list[str]:
    if not isinstance(value, str):
        return [f"'description' must be a string, got {type(value).__name__}"]
    problems = []
    if not value.strip():
        problems.append("'description' is empty: say what the skill does and when to use it")
    if len(value) > DESCRIPTION_MAX:
        problems.append(f"'description' is {len(value)} characters; the limit is {DESCRIPTION_MAX}")
    if "<" in value or ">" in value:
        problems.append("'description' must not contain angle brackets (< or >)")
    return problems


def _check_frontmatter(skill: SkillFile, folder: Path, result: ValidationResult) -> None:
    fm = skill.frontmatter
    rel = SKILL_FILE

    def where(key: str) -> str:
        return f"{rel}:{skill.key_lines.get(key, 1)}"

    for key in fm:
        if key not in ALLOWED_KEYS:
            result.error(where(str(key)), f"key {key!r} is not allowed in the frontmatter (allowed: {', '.join(ALLOWED_KEYS)}); put extra fields under 'metadata'")
    for key in REQUIRED_KEYS:
        if key not in fm:
            result.error(f"{rel}:1", f"the frontmatter has no {key!r}")

    if "name" in fm:
        for message in check_name(fm["name"]):
            result.error(where("name"), message)
        name = fm["name"] if isinstance(fm["name"], str) else None
        result.name = name
        if name is not None:
            if folder.name == name:
                pass
            elif is_source_folder(folder):
                result.notes.append(
                    f"folder-name check skipped: {folder} is basesel's skill source folder; installed copies are named '{name}' (basesel skill install)"
                )
            else:
                result.error(where("name"), f"'name' is {name!r} but the skill folder is named {folder.name!r}: they must be equal")

    if "description" in fm:
        for message in check_description(fm["description"]):
            result.error(where("description"), message)

    if "license" in fm and not isinstance(fm["license"], str):
        result.error(where("license"), "'license' must be a string (a licence name or a bundled licence file)")

    if "compatibility" in fm:
        value = fm["compatibility"]
        if not isinstance(value, str) or not value.strip():
            result.error(where("compatibility"), "'compatibility' must be a non-empty string")
        elif len(value) > COMPATIBILITY_MAX:
            result.error(where("compatibility"), f"'compatibility' is {len(value)} characters; the limit is {COMPATIBILITY_MAX}")

    if "allowed-tools" in fm and not isinstance(fm["allowed-tools"], str):
        result.error(where("allowed-tools"), "'allowed-tools' must be a space-separated string")

    if "metadata" in fm:
        meta = fm["metadata"]
        if not isinstance(meta, dict):
            result.error(where("metadata"), "'metadata' must be a map of strings to strings")
        else:
            for k, v in meta.items():
                if not isinstance(k, str) or not isinstance(v, str):
                    result.error(where("metadata"), f"'metadata' entry {k!r}: {v!r} must map a string to a string (quote it: {k}: \"{v}\")")
            version = meta.get("version")
            if isinstance(version, str):
                result.version = version


def markdown_links(text: str) -> list[tuple[int, str]]:
    """(1-based line, target) for every markdown link outside fenced code blocks and inline code."""
    out: list[tuple[int, str]] = []
    in_fence = False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        stripped = re.sub(r"`[^`]*`", "", line)
        for match in _INLINE_LINK.finditer(stripped):
            out.append((number, match.group(1)))
        ref = _REF_LINK.match(stripped)
        if ref:
            out.append((number, ref.group(1)))
    return out


def _relative_target(target: str) -> str | None:
    """The file part of a relative link, or None for URLs, anchors and absolute paths."""
    if not target or target.startswith("#") or _SCHEME.match(target) or target.startswith("//"):
        return None
    return target.split("#", 1)[0].split("?", 1)[0] or None


def _check_links(file: Path, text: str, line_offset: int, folder: Path, result: ValidationResult) -> list[Path]:
    """Report links that do not resolve inside `folder`; return the markdown files linked."""
    from urllib.parse import unquote

    linked: list[Path] = []
    rel_file = file.relative_to(folder).as_posix() if file.is_relative_to(folder) else str(file)
    root = folder.resolve()
    for number, target in markdown_links(text):
        where = f"{rel_file}:{number + line_offset}"
        if target.startswith("/") and not target.startswith("//"):
            result.error(where, f"link {target!r} is an absolute path: use a path relative to the file")
            continue
        part = _relative_target(target)
        if part is None:
            continue
        resolved = (file.parent / unquote(part)).resolve()
        if not resolved.is_relative_to(root):
            result.error(where, f"link {target!r} points outside the skill folder; an installed copy will not have it")
        elif not resolved.exists():
            result.error(where, f"link {target!r} does not resolve: {resolved.relative_to(root).as_posix()} is missing")
        elif resolved.is_file() and resolved.suffix.lower() == ".md":
            linked.append(resolved)
    return linked


def validate_skill(path: Path) -> ValidationResult:
    """Validate a skill folder (or its SKILL.md). Never raises for problems in the skill itself:
    they are returned as errors and warnings with file:line."""
    path = Path(path).expanduser()
    skill_path = skill_file_in(path)
    folder = skill_path.parent
    result = ValidationResult(path=folder)
    if not skill_path.is_file():
        result.error(str(skill_path), f"no {SKILL_FILE} here" if path.is_dir() else "file not found")
        return result
    result.checked_files.append(SKILL_FILE)
    try:
        skill = parse_skill_file(skill_path)
    except FrontmatterError as exc:
        result.error(f"{SKILL_FILE}:{exc.line}", str(exc))
        return result
    except (OSError, UnicodeDecodeError) as exc:
        result.error(SKILL_FILE, f"cannot read the file: {exc}")
        return result

    _check_frontmatter(skill, folder, result)

    body_lines = skill.body.splitlines()
    result.body_lines = len(body_lines)
    if len(body_lines) > MAX_BODY_LINES:
        result.error(f"{SKILL_FILE}:{skill.body_start_line}", f"the body is {len(body_lines)} lines; keep it under {MAX_BODY_LINES} and move details to reference files")
    words = len(skill.body.split())
    if words > BODY_WORDS_WARN:
        result.warn(f"{SKILL_FILE}:{skill.body_start_line}", f"the body is {words} words (~{int(words * 1.3)} tokens); the format advises ~5k tokens at most")
    if not skill.body.strip():
        result.error(f"{SKILL_FILE}:{skill.body_start_line}", "the body is empty: write the instructions the agent follows")

    references = _check_links(skill_path, skill.body, skill.body_start_line - 1, folder, result)
    seen = {skill_path.resolve()}
    for ref in references:
        if ref in seen:
            continue
        seen.add(ref)
        result.checked_files.append(ref.relative_to(folder.resolve()).as_posix())
        try:
            text = ref.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            result.error(ref.name, f"cannot read the file: {exc}")
            continue
        # Links inside reference files are checked too, but not followed further (one level deep).
        _check_links(ref, text, 0, folder.resolve(), result)

    from . import __version__

    if result.version is not None and result.version != __version__:
        result.warn(f"{SKILL_FILE}:{skill.key_lines.get('metadata', 1)}", f"metadata.version is {result.version} but this basesel is {__version__}: the skill may describe a different CLI")
    return result
