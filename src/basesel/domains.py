"""Domain packs: a rubric and a taxonomy (with its system prompt) sharing one name, plus an optional
labelled set for judge calibration (`rubrics/labels/<name>-labels.jsonl`).

`--domain NAME` prefers a project copy (`./rubrics/NAME.yaml`, `./taxonomies/NAME.yaml`, written by
`basesel init --domain NAME`) over the bundled pack, so edits to the copy take effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError
from .paths import bundled

# Other names users type for a pack (the research command's domain names included).
ALIASES = {
    "therapeutic": "coaching",
    "therapy": "coaching",
    "empathy": "coaching",
    "mental-health": "coaching",
    "wellbeing": "coaching",
    "code": "coding",
    "programming": "coding",
    "software": "coding",
    "factual": "factual-qa",
    "qa": "factual-qa",
    "knowledge": "factual-qa",
    "question-answering": "factual-qa",
    "creative": "creative-writing",
    "writing": "creative-writing",
    "fiction": "creative-writing",
    "storytelling": "creative-writing",
    "health": "medical",
    "medical-information": "medical",
    "customer-support": "support",
    "helpdesk": "support",
}


@dataclass(frozen=True)
class DomainPack:
    name: str
    rubric: Path
    taxonomy: Path
    labels: Path | None

    def files(self) -> list[tuple[Path, Path]]:
        """(source, path relative to a project root) for every file of the pack."""
        out = [(self.rubric, Path("rubrics") / f"{self.name}.yaml"), (self.taxonomy, Path("taxonomies") / f"{self.name}.yaml")]
        if self.labels is not None:
            out.append((self.labels, Path("rubrics") / "labels" / self.labels.name))
        return out


def canonical(name: str) -> str:
    key = name.strip().lower().replace("_", "-").replace(" ", "-")
    return ALIASES.get(key, key)


def bundled_domains() -> list[DomainPack]:
    rubrics, taxonomies = bundled("rubrics"), bundled("taxonomies")
    packs = []
    for rubric in sorted(rubrics.glob("*.yaml")):
        taxonomy = taxonomies / rubric.name
        if taxonomy.is_file():
            labels = rubrics / "labels" / f"{rubric.stem}-labels.jsonl"
            packs.append(DomainPack(rubric.stem, rubric, taxonomy, labels if labels.is_file() else None))
    return packs


def find_pack(name: str) -> DomainPack:
    wanted = canonical(name)
    packs = bundled_domains()
    for pack in packs:
        if pack.name == wanted:
            return pack
    raise ConfigError(
        f"no bundled domain pack named '{name}'",
        hint=f"Bundled packs: {', '.join(p.name for p in packs)} (see `basesel init --list`).",
    )


def domain_paths(name: str, root: Path | None = None) -> tuple[Path, Path]:
    """(rubric, taxonomy) for --domain NAME: the project's copies under `root` (default: the working
    directory) where they exist, else the bundled pack's."""
    wanted = canonical(name)
    root = Path() if root is None else root
    local_rubric, local_taxonomy = root / "rubrics" / f"{wanted}.yaml", root / "taxonomies" / f"{wanted}.yaml"
    if local_rubric.is_file() and local_taxonomy.is_file():
        return local_rubric, local_taxonomy
    pack = find_pack(wanted)
    return (local_rubric if local_rubric.is_file() else pack.rubric), (local_taxonomy if local_taxonomy.is_file() else pack.taxonomy)
