"""`basesel research`: the method's Step 1 — every viable candidate for the target size and domain in one
auditable comparison, then one primary and one backup pick with reasons.

    from basesel.research import Query, run_research
    result = run_research(Query(domain="therapeutic", min_params_b=7, max_params_b=10))
    result.outcome.primary.cand.model
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .catalog import Catalog, Domain, load_catalog, load_domains
from .enrich import OnlineReport
from .query import Query, context_from_turns, parse_params, parse_size, parse_tokens
from .scoring import Candidate, Outcome, Scored, evaluate, lineage

__all__ = [
    "Candidate",
    "Catalog",
    "Query",
    "Research",
    "context_from_turns",
    "find_candidate",
    "load_catalog",
    "load_domains",
    "parse_params",
    "parse_size",
    "parse_tokens",
    "run_research",
]


@dataclass
class Research:
    query: Query
    catalog: Catalog
    catalog_path: Path
    domain_name: str
    domain: Domain
    outcome: Outcome
    generated: dt.datetime
    today: dt.date
    warnings: list[str] = field(default_factory=list)
    online: Optional[OnlineReport] = None

    @property
    def all_scored(self) -> list[Scored]:
        return self.outcome.ranked + self.outcome.excluded


def run_research(
    query: Query,
    *,
    catalog_file: Optional[Path] = None,
    today: Optional[dt.date] = None,
    ollama_url: Optional[str] = None,
    hf_endpoint: Optional[str] = None,
    hf_timeout: float = 5.0,
    web: bool = True,
) -> Research:
    """Filter, score and rank the catalog for `query`; with `query.online`, enrich from the network first."""
    from .catalog import catalog_path

    path = catalog_path(catalog_file)
    catalog = load_catalog(catalog_file)
    domain_name, domain = load_domains().resolve(query.domain)
    if query.domain != domain_name:
        query.domain_input = query.domain_input or query.domain
        query.domain = domain_name
    today = today or dt.date.today()
    warnings: list[str] = []
    stale = catalog.stale_warning(today)
    if stale:
        warnings.append(stale)
    if domain.neutral:
        warnings.append("domain 'custom' has no prefer/avoid guidance: every model gets a neutral ★★★ fit, so the ranking rests on licence, context, recency and local-run factors. Judge domain fit yourself (--explain MODEL shows the facts).")

    cands = [Candidate.from_entry(e) for e in catalog.models]
    outcome = evaluate(cands, query, domain_name, domain, catalog)
    report: Optional[OnlineReport] = None
    if query.online:
        report = _go_online(cands, outcome, query, catalog, ollama_url=ollama_url, hf_endpoint=hf_endpoint, timeout=hf_timeout)
        outcome = evaluate(cands + report.discovered, query, domain_name, domain, catalog)
        from .enrich import hf_find_gguf, hf_resolve_files
        from .scoring import pull_command

        picks = [s.cand for s in (outcome.primary, outcome.backup) if s is not None]
        hf_find_gguf(report.hf_api, [c for c in picks if pull_command(c) is None], report, timeout=hf_timeout)
        hf_resolve_files(report.hf_api, picks, report, timeout=hf_timeout)
        if web:
            _web(report, outcome, query, domain, today)
        for service, status in report.status.items():
            if not status.startswith("ok") and not (service == "ollama" and "no Ollama server answered" in status):
                warnings.append(f"--online: {service} {status}")
    return Research(query, catalog, path, domain_name, domain, outcome, dt.datetime.now().astimezone().replace(microsecond=0), today, warnings, report)


def _go_online(cands: list[Candidate], outcome: Outcome, query: Query, catalog: Catalog, *, ollama_url: Optional[str], hf_endpoint: Optional[str], timeout: float) -> OnlineReport:
    from .enrich import hf_enrich, hf_find_gguf, hf_search, ollama_enrich

    report = OnlineReport()
    local_only = {"gguf", "ollama"}
    near = [s for s in outcome.excluded if all(_filter_kind(r) in local_only for r in s.exclusions)]
    pool = [s.cand for s in outcome.ranked[: query.top + 5]] + [s.cand for s in near]
    api = report.hf_api = hf_enrich(pool, catalog, report, endpoint=hf_endpoint, timeout=timeout)
    hf_find_gguf(api, [c for c in pool if c.gguf is None], report, timeout=timeout)  # availability unknown
    known = {c.hf_repo.lower() for c in cands if c.hf_repo}
    hf_search(api, query.search, known, catalog, report, timeout=timeout)
    ollama_enrich(cands, report, url=ollama_url)
    return report


def _filter_kind(reason: str) -> str:
    if "GGUF" in reason:
        return "gguf"
    if "Ollama" in reason:
        return "ollama"
    return "other"


def _web(report: OnlineReport, outcome: Outcome, query: Query, domain: Domain, today: dt.date) -> None:
    from .enrich import web_queries, web_search

    families: list[str] = []
    seen: set[str] = set()
    for s in outcome.ranked:
        if s.cand.source != "catalog":
            continue
        key = lineage(s.cand.family)
        if key not in seen:
            seen.add(key)
            families.append(s.cand.family)
        if len(families) == 2:
            break
    web_search(web_queries(query.size_label, query.topic or domain.topic, domain.capability, families, today.year), report)


def find_candidate(research: Research, name: str) -> Scored:
    """The scored candidate matching `name` (catalog id, model name, HF repo or Ollama tag, any case)."""
    import difflib

    from ..errors import ConfigError

    key = name.strip().lower()
    everyone = research.all_scored
    for s in everyone:
        c = s.cand
        names = {c.id.lower(), c.model.lower(), (c.hf_repo or "").lower(), (c.ollama or "").lower()}
        if key in names:
            return s
    pool = sorted({s.cand.id for s in everyone} | {s.cand.model for s in everyone} | {s.cand.ollama for s in everyone if s.cand.ollama})
    close = difflib.get_close_matches(name, pool, n=5, cutoff=0.5) or difflib.get_close_matches(key, [p.lower() for p in pool], n=5, cutoff=0.5)
    hint = f"Did you mean: {', '.join(close)}?" if close else "Run `basesel research` to list the candidates, or pass a catalog id, model name, HF repo or Ollama tag."
    raise ConfigError(f"no model named '{name}' in the catalog", hint=hint)
