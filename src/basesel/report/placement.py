"""Where a decision document goes. A run that scored nothing has no decision; written over a document
that holds one, it would erase the evidence someone may be acting on. It goes beside it instead
(`<name>.no-decision.md`), and the caller says where."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_DECISION_LINE = re.compile(r"^- \*\*Decision:\*\* \*\*(?P<decision>[^*]+)\*\*", re.MULTILINE)


def holds_decision(path: Path) -> bool:
    """True when an existing document states a decision (not 'NO DECISION')."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    m = _DECISION_LINE.search(text)
    return bool(m) and not m.group("decision").startswith("NO DECISION")


def document_path(doc_path: Path, summary: dict[str, Any]) -> tuple[Path, str | None]:
    """(where to write, a note when that is not `doc_path`)."""
    if summary.get("gate", {}).get("band") is not None or not doc_path.is_file() or not holds_decision(doc_path):
        return doc_path, None
    beside = doc_path.with_name(doc_path.name.removesuffix(".md") + ".no-decision.md")
    return beside, (
        f"nothing was scored, so {doc_path} (which holds a decision) was left as it is; this run's document is {beside}"
    )
