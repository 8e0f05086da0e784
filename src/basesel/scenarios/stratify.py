"""Stratified allocation of N scenarios over taxonomy cells, deterministic for a seed."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .taxonomy import Taxonomy


@dataclass(frozen=True)
class Cell:
    topic: str
    subtopic: str
    style: str
    dims: tuple[tuple[str, str], ...] = ()

    def tags(self) -> dict[str, Any]:
        return {"topic": self.topic, "subtopic": self.subtopic, "style": self.style, **dict(self.dims)}


@dataclass
class Plan:
    cells: list[Cell]
    edge_cases: int
    warnings: list[str]
    uncovered: list[tuple[str, str]]  # (topic, style) pairs left out when N is too small


def _largest_remainder(total: int, weights: list[float], rng: random.Random) -> list[int]:
    """Split `total` in proportion to `weights`; remainders go to the largest fractions (random tie-break)."""
    wsum = sum(weights)
    quotas = [total * w / wsum for w in weights]
    counts = [int(q) for q in quotas]
    order = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - counts[i]), rng.random()))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _pick_balanced(options: dict[str, float], used: dict[str, int], rng: random.Random) -> str:
    """The option furthest below its weighted share so far (keeps every value represented)."""
    total = sum(options.values())
    return min(options, key=lambda k: (used.get(k, 0) / (options[k] / total), rng.random()))


def plan(taxonomy: Taxonomy, n: int, seed: int, include_edge_cases: bool = True) -> Plan:
    """Every edge case once; then every topic x style pair once when N allows; the rest by weight.
    Extra batches of a growing sample (`--until-decisive`) leave the edge cases out: they are in already."""
    rng = random.Random(seed)
    warnings: list[str] = []
    n_edge = len(taxonomy.edge_cases) if include_edge_cases else 0
    remaining = n - n_edge
    if remaining < 0:
        from ..errors import ConfigError

        raise ConfigError(
            f"N={n} is smaller than the taxonomy's {n_edge} edge cases, which are always included",
            hint=f"Use -n {n_edge + len(taxonomy.topics) * len(taxonomy.styles)} or more (edge cases + one per topic x style).",
        )
    styles = list(taxonomy.styles)
    pairs = [(t.name, s) for t in taxonomy.topics for s in styles]
    pair_weights = [t.weight * taxonomy.styles[s].weight for t in taxonomy.topics for s in styles]
    uncovered: list[tuple[str, str]] = []
    if remaining >= len(pairs):
        counts = [1] * len(pairs)
        extra = _largest_remainder(remaining - len(pairs), pair_weights, rng) if remaining > len(pairs) else [0] * len(pairs)
        counts = [a + b for a, b in zip(counts, extra)]
    else:
        counts = _largest_remainder(remaining, pair_weights, rng)
        uncovered = [p for p, c in zip(pairs, counts) if c == 0]
        warnings.append(
            f"N={n} leaves {remaining} scenarios for {len(pairs)} topic x style cells "
            f"({len(taxonomy.topics)} topics x {len(styles)} styles): {len(uncovered)} cells get no scenario, "
            f"so coverage is partial. Use -n {n_edge + len(pairs)} or more for full coverage."
        )
    topics = {t.name: t for t in taxonomy.topics}
    sub_used: dict[str, dict[str, int]] = {t: {} for t in topics}
    dim_used: dict[str, dict[str, int]] = {d: {} for d in taxonomy.dimensions}
    cells: list[Cell] = []
    for (topic_name, style), count in zip(pairs, counts):
        topic = topics[topic_name]
        sub_weights = {s.name: s.weight for s in topic.subtopics}
        for _ in range(count):
            sub = _pick_balanced(sub_weights, sub_used[topic_name], rng)
            sub_used[topic_name][sub] = sub_used[topic_name].get(sub, 0) + 1
            dims = []
            for dim, values in taxonomy.dimensions.items():
                value = _pick_balanced(values, dim_used[dim], rng)
                dim_used[dim][value] = dim_used[dim].get(value, 0) + 1
                dims.append((dim, value))
            cells.append(Cell(topic_name, sub, style, tuple(dims)))
    rng.shuffle(cells)
    return Plan(cells=cells, edge_cases=n_edge, warnings=warnings, uncovered=uncovered)
