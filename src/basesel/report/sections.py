"""Sections that later steps add to a document another step wrote (the decision document gains
"Fine-tune results"): delimited by HTML comments, so a re-run replaces its own section in place and
every byte outside it stays as it was."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import ConfigError

_MARKER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/@+=-]*$")
# Any basesel section, whatever its marker: what `basesel report` carries over when it re-renders.
_ANY_SECTION = re.compile(r"<!-- basesel:section (?P<m>\S+) start -->\n.*?<!-- basesel:section (?P=m) end -->\n?", re.DOTALL)


def start_tag(marker: str) -> str:
    return f"<!-- basesel:section {marker} start -->"


def end_tag(marker: str) -> str:
    return f"<!-- basesel:section {marker} end -->"


def check_marker(marker: str) -> str:
    if not _MARKER.match(marker) or "--" in marker:
        raise ConfigError(
            f"section marker {marker!r} cannot go in an HTML comment",
            hint="Use letters, digits and . _ : / @ + = - (no spaces, no '--'), e.g. 'finetune'.",
        )
    return marker


def wrap(markdown: str, marker: str) -> str:
    body = markdown if markdown.endswith("\n") else markdown + "\n"
    return f"{start_tag(marker)}\n{body}{end_tag(marker)}\n"


def replace_or_append(text: str, markdown: str, marker: str, *, where: str = "the document") -> str:
    """`text` with the section `marker` replaced in place, or appended after one blank line."""
    check_marker(marker)
    block = wrap(markdown, marker)
    start, end = start_tag(marker), end_tag(marker)
    starts, ends = text.count(start), text.count(end)
    if starts == 0 and ends == 0:
        if not text:
            return block
        sep = "" if text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")  # one blank line before it
        return text + sep + block
    if starts != 1 or ends != 1 or text.index(start) > text.index(end):
        raise ConfigError(
            f"{where} has {starts} start and {ends} end comment(s) for the section '{marker}' (one of each, in order, expected)",
            hint=f"Fix or delete the lines '{start}' and '{end}' by hand (everything between them is replaced), then run again.",
        )
    i = text.index(start)
    j = text.index(end) + len(end)
    if text[j : j + 1] == "\n":
        j += 1
    return text[:i] + block + text[j:]


def append_section(doc_path: Path, markdown: str, *, marker: str) -> None:
    """Add (or, on a re-run, replace) the section `marker` in `doc_path`; a missing document is created.
    The text outside the section is kept byte for byte (line endings included)."""
    from ..run.files import atomic_write_text

    doc_path = Path(doc_path)
    if doc_path.is_dir():
        raise ConfigError(f"cannot add a section to {doc_path}: it is a directory", hint=f"Pass the document's file path, for example {doc_path / 'base-model-evaluation.md'}.")
    text = ""
    if doc_path.exists():
        try:
            text = doc_path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{doc_path} is not UTF-8 text (bad byte at offset {exc.start})", hint="Save it as UTF-8, or pass another --doc.") from exc
        except OSError as exc:
            raise ConfigError(f"cannot read {doc_path}: {exc.strerror}", hint="Check its permissions, or pass another --doc.") from exc
    atomic_write_text(doc_path, replace_or_append(text, markdown, marker, where=str(doc_path)))


def sections_in(text: str) -> list[str]:
    """Every complete basesel section in `text`, wrapped, in document order."""
    return [m.group(0) if m.group(0).endswith("\n") else m.group(0) + "\n" for m in _ANY_SECTION.finditer(text)]


_ABOUT = re.compile(r"<!-- basesel:about run=(?P<run>.+?) -->")


def about_tag(run_dir: Path) -> str:
    """A hidden line inside a section naming the run it extends (the decision document's own run), so a
    re-rendered document keeps the section only while it is about the same run."""
    return f"<!-- basesel:about run={Path(run_dir).resolve().as_posix()} -->"


def carry_sections(old_text: str, new_text: str, run_dir: Path | None = None) -> str:
    """`new_text` (a re-rendered document) with the sections of `old_text` it lacks appended, so that
    re-rendering the baseline part does not drop "Fine-tune results". A section that names another run
    (its about line) is left out: it compared a baseline this document no longer shows."""
    out = new_text
    here = Path(run_dir).resolve().as_posix() if run_dir is not None else None
    for block in sections_in(old_text):
        marker = _ANY_SECTION.match(block).group("m")  # type: ignore[union-attr]
        about = _ABOUT.search(block)
        if about and here is not None and about.group("run") != here:
            continue
        if start_tag(marker) not in out:
            out = replace_or_append(out, block.split("\n", 1)[1].rsplit(end_tag(marker), 1)[0], marker)
    return out
