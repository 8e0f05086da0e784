"""Hard filters, auditable factor scores, deterministic ranking, and the primary / backup pick.

Score out of 100 = domain fit (stars x 10, 10-50) + licence (0-10) + context (0-10) + recency (0-10)
+ quantization / local run (0-10) + community (0-10). Every factor carries a one-line reason.
Models whose focus the domain says to avoid rank after every model it does not; ties break on
domain fit, licence, recency, then the model name, so the order never depends on input order.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from .catalog import COMMERCIAL_LABELS, FOCUS_LABELS, Catalog, Domain, Entry
from .finetune_fit import Trainability, assess as assess_trainability
from .query import Query, fmt_b

STAR = "★"


def stars(n: int) -> str:
    return STAR * n


def fmt_ctx(tokens: Optional[int]) -> str:
    if tokens is None:
        return "?"
    if tokens >= 1024 and tokens % 1024 == 0:
        return f"{tokens // 1024}K"
    return f"{tokens:,}"


def month_key(month: Optional[str]) -> int:
    return int(month.replace("-", "")) if month else 0


def months_between(earlier: str, later: dt.date) -> int:
    year, month = (int(p) for p in earlier.split("-"))
    return (later.year - year) * 12 + later.month - month


_LINEAGE_ALIASES = {"ministral": "mistral", "zephyr": "mistral"}


def lineage(family: str) -> str:
    """'Qwen3-2507' -> 'qwen', 'Llama 3.2' -> 'llama': model families that share a maker and base."""
    m = re.match(r"[a-z]+", family.lower())
    key = m.group(0) if m else family.lower()
    return _LINEAGE_ALIASES.get(key, key)


@dataclass
class Candidate:
    """A model under consideration: a catalog entry, or a Hugging Face search hit (source='hf-search')."""

    id: str
    family: str
    model: str
    params: str
    params_b: Optional[float]
    focus: Optional[str]
    active_params_b: Optional[float] = None
    license: Optional[str] = None
    context: Optional[int] = None
    context_max: Optional[int] = None
    release: Optional[str] = None
    traits: list[str] = field(default_factory=list)
    hf_repo: Optional[str] = None
    gated: Optional[bool] = None
    ollama: Optional[str] = None
    ollama_evidence: Optional[str] = None
    gguf: Optional[str] = None
    gguf_repo: Optional[str] = None
    gguf_file: Optional[str] = None
    issues: list[str] = field(default_factory=list)
    notes: str = ""
    arch: Optional[str] = None
    weights: str = "open"
    source: str = "catalog"
    found_by: Optional[str] = None
    live: dict[str, Any] = field(default_factory=dict)
    """Hugging Face data fetched with --online (downloads, likes, last_modified, license, parameters, gguf_files)."""
    local: Optional[dict[str, Any]] = None
    """Ollama `show` data for a tag already pulled on this machine."""
    online_notes: list[str] = field(default_factory=list)

    @classmethod
    def from_entry(cls, e: Entry) -> "Candidate":
        data = e.model_dump()
        return cls(**data)


@dataclass
class Factor:
    key: str
    name: str
    points: int
    max: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "points": self.points, "max": self.max, "reason": self.reason}


@dataclass
class Scored:
    cand: Candidate
    exclusions: list[str]
    fit: int = 3
    fit_steps: list[str] = field(default_factory=list)
    avoid: bool = False
    fit_base: str = ""
    fit_adjust: list[tuple[int, str]] = field(default_factory=list)
    factors: list[Factor] = field(default_factory=list)
    rank: Optional[int] = None
    status: str = "rejected"
    why: str = ""
    trainability: Optional[Trainability] = None

    @property
    def total(self) -> int:
        """The factors' sum (max 100)."""
        return sum(f.points for f in self.factors)

    @property
    def penalty(self) -> int:
        return self.trainability.penalty if self.trainability else 0

    @property
    def score(self) -> int:
        """What ranks: the factors' sum less the fine-tune penalty (research/finetune_fit.py)."""
        return max(0, self.total - self.penalty)

    def factor(self, key: str) -> Factor:
        return next(f for f in self.factors if f.key == key)

    @property
    def excluded(self) -> bool:
        return bool(self.exclusions)


# ---------------------------------------------------------------------------------------------
# hard filters


def hard_filters(c: Candidate, q: Query, catalog: Catalog) -> list[str]:
    """Every reason this candidate cannot be used for the query (empty = eligible)."""
    out: list[str] = []
    if q.min_params_b is not None or q.max_params_b is not None:
        if c.params_b is None:
            out.append("parameter count unknown, cannot check the size range")
        elif q.min_params_b is not None and c.params_b < q.min_params_b:
            out.append(f"{c.params} is below the {fmt_b(q.min_params_b)} minimum")
        elif q.max_params_b is not None and c.params_b > q.max_params_b:
            out.append(f"{c.params} is above the {fmt_b(q.max_params_b)} maximum")
    if q.license != "any":
        cls = catalog.commercial(c.license)
        if cls is None:
            out.append(f"licence not confirmed ({c.license or 'unknown'}); --license {q.license} needs a known licence")
        elif cls == "no":
            out.append(f"{licence_name(c.license, catalog)} does not allow commercial use")
        elif cls == "conditional" and q.license == "permissive":
            out.append(f"{licence_name(c.license, catalog)} allows commercial use only with conditions (--license permissive)")
    if q.context_needed is not None:
        if c.context is None:
            out.append(f"context length not confirmed; {q.context_needed:,} tokens needed")
        elif c.context < q.context_needed and (c.context_max is None or c.context_max < q.context_needed):
            longest = f"{fmt_ctx(c.context)}" + (f" ({fmt_ctx(c.context_max)} with rope scaling)" if c.context_max else "")
            out.append(f"context {longest} is shorter than the {q.context_needed:,} tokens needed")
    if q.gguf and c.gguf not in ("official", "community"):
        out.append("no GGUF build known" if c.gguf == "none" else "GGUF availability not confirmed (--gguf); --online may find one")
    if q.ollama and not c.ollama:
        out.append("no Ollama tag known (--ollama)")
    return out


def licence_name(licence: Optional[str], catalog: Catalog) -> str:
    if not licence:
        return "unknown licence"
    parts = [catalog.licenses[i].name if i in catalog.licenses else i for i in licence.split(" AND ")]
    return " + ".join(parts)


# ---------------------------------------------------------------------------------------------
# factors


def domain_fit(c: Candidate, domain: Domain) -> tuple[int, list[str], bool, list[tuple[int, str]]]:
    """(stars 1-5, one line per step, avoided?, [(delta, reason)] adjustments) from the domain's guidance."""
    if c.focus is None:
        return 3, ["focus unknown (not in the catalog): neutral ★★★ — read the model card to judge fit"], False, []
    base = domain.focus[c.focus]
    steps = [f"{FOCUS_LABELS[c.focus]} -> {stars(base.stars)} ({base.reason})"]
    if domain.neutral:
        return base.stars, steps, False, []
    adjustments: list[tuple[int, str]] = []
    positive = 0
    for trait in c.traits:
        adj = domain.traits.get(trait)
        if adj is None or adj.delta == 0:
            continue
        if adj.delta > 0 and positive >= 1:
            steps.append(f"{trait}: +0 ({adj.reason}; trait bonuses count once)")
            continue
        positive += max(adj.delta, 0)
        adjustments.append((adj.delta, adj.reason))
        steps.append(f"{trait}: {adj.delta:+d} ({adj.reason})")
    if c.params_b is not None:
        for rule in domain.size:
            if rule.applies(c.params_b):
                adjustments.append((rule.delta, rule.reason))
                steps.append(f"size {c.params}: {rule.delta:+d} ({rule.reason})")
    raw = base.stars + sum(d for d, _ in adjustments)
    total = max(1, min(5, raw))
    if total != raw:
        steps.append(f"clamped to {stars(total)}")
    return total, steps, base.avoid, adjustments


LICENCE_POINTS = {"yes": 10, "conditional": 6, "no": 2, None: 0}


def licence_factor(c: Candidate, catalog: Catalog) -> Factor:
    cls = catalog.commercial(c.license)
    name = licence_name(c.license, catalog) if cls else (f"'{c.license}' (not in the licence list)" if c.license else "not confirmed")
    reason = f"{name}: {COMMERCIAL_LABELS[cls]}"
    if cls in ("conditional", "no"):
        conds = [catalog.licenses[i].conditions for i in c.license.split(" AND ") if catalog.licenses[i].conditions]
        if conds:
            reason += f" ({'; '.join(conds)})"
    return Factor("license", "Licence", LICENCE_POINTS[cls], 10, reason)


def context_factor(c: Candidate, q: Query) -> Factor:
    ext = f" ({fmt_ctx(c.context_max)} with YaRN / rope scaling)" if c.context_max else ""
    if q.context_needed is not None:
        need = q.context_label
        if c.context is None:
            return Factor("context", "Context", 0, 10, f"context length not confirmed; {need} needed")
        if c.context >= q.context_needed:
            return Factor("context", "Context", 10, 10, f"native {fmt_ctx(c.context)}{ext} fits the {need} needed")
        if c.context_max is not None and c.context_max >= q.context_needed:
            return Factor("context", "Context", 6, 10, f"native {fmt_ctx(c.context)} is short of the {need} needed; fits only with rope scaling ({fmt_ctx(c.context_max)})")
        return Factor("context", "Context", 0, 10, f"native {fmt_ctx(c.context)}{ext} is shorter than the {need} needed")
    if c.context is None:
        return Factor("context", "Context", 2, 10, "context length not confirmed")
    tiers = [(131072, 10), (32768, 8), (8192, 5), (0, 3)]
    points = next(p for limit, p in tiers if c.context >= limit)
    return Factor("context", "Context", points, 10, f"native {fmt_ctx(c.context)}{ext} (no --context/--turns given: longer scores higher)")


def recency_factor(c: Candidate, catalog: Catalog) -> Factor:
    month = c.release
    label = "released"
    if month is None and c.live.get("last_modified"):
        month = str(c.live["last_modified"])[:7]
        label = "last updated on Hugging Face"
    if month is None:
        return Factor("recency", "Recency", 3, 10, "release month not confirmed")
    age = months_between(month, catalog.as_of)
    tiers = [(6, 10), (12, 8), (18, 6), (24, 4)]
    points = next((p for limit, p in tiers if age <= limit), 2)
    reason = f"{label} {month}, {max(age, 0)} months before the catalog date ({catalog.as_of.isoformat()})"
    marks = [t for t in ("superseded", "dated") if t in c.traits]
    if marks and points > 2:
        points = 2
        reason += f"; the catalog marks it {marks[0]}"
    return Factor("recency", "Recency", points, 10, reason)


GGUF_POINTS = {"official": 6, "community": 4, "none": 0, None: 1}
OLLAMA_POINTS = {"library": 4, "in-use": 3, "reported": 1, None: 0}


def quant_factor(c: Candidate) -> Factor:
    gp = GGUF_POINTS[c.gguf]
    gguf = {"official": "official GGUF", "community": "community GGUF", "none": "no GGUF", None: "GGUF not confirmed"}[c.gguf]
    if c.gguf_repo:
        gguf += f" ({c.gguf_repo})"
    if c.local:
        op = 4
        ollama = f"already pulled in local Ollama as {c.local.get('tag', c.ollama)}"
        if c.local.get("quantization"):
            ollama += f" ({c.local['quantization']})"
    else:
        op = OLLAMA_POINTS[c.ollama_evidence if c.ollama else None]
        ollama = {
            "library": f"Ollama {c.ollama} (on the Ollama library)",
            "in-use": f"Ollama {c.ollama} (tag seen in use)",
            "reported": f"Ollama {c.ollama} (reported by a third party only)",
        }.get(c.ollama_evidence or "", "no Ollama tag")
    return Factor("quantization", "Quantization", gp + op, 10, f"{gguf}; {ollama}")


def downloads_label(n: int) -> str:
    for div, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= div:
            return f"{n / div:.1f}{suffix}"
    return str(n)


def community_factor(c: Candidate) -> Factor:
    issues = len(c.issues)
    penalty = 2 * issues
    issue_text = f"; {issues} known issue{'s' if issues != 1 else ''}: {'; '.join(c.issues)}" if issues else "; no known issues in the catalog"
    downloads = c.live.get("downloads")
    if isinstance(downloads, int):
        tiers = [(1_000_000, 10), (100_000, 8), (10_000, 6), (1_000, 4), (0, 2)]
        base = next(p for limit, p in tiers if downloads >= limit)
        likes = c.live.get("likes")
        live = f"{downloads_label(downloads)} downloads (last 30 days)" + (f", {likes:,} likes" if isinstance(likes, int) else "") + " on Hugging Face"
        return Factor("community", "Community", max(0, base - penalty), 10, live + issue_text)
    return Factor("community", "Community", max(0, 6 - penalty), 10, "no live signal (run with --online for downloads and likes)" + issue_text)


# ---------------------------------------------------------------------------------------------
# ranking and picks


@dataclass
class Outcome:
    ranked: list[Scored]
    excluded: list[Scored]
    primary: Optional[Scored]
    backup: Optional[Scored]
    domain_name: str
    domain: Domain


def score_candidate(c: Candidate, q: Query, domain: Domain, catalog: Catalog) -> Scored:
    s = Scored(cand=c, exclusions=hard_filters(c, q, catalog))
    s.fit, s.fit_steps, s.avoid, s.fit_adjust = domain_fit(c, domain)
    s.fit_base = domain.focus[c.focus].reason if c.focus else "focus unknown"
    fit_reason = f"{stars(s.fit)} for {domain.label}: " + ", ".join(step.split(" (", 1)[0] for step in s.fit_steps)
    if s.avoid:
        fit_reason += f" — avoided for this domain (avoid: {domain.avoid})"
    s.factors = [
        Factor("domain_fit", "Domain fit", s.fit * 10, 50, fit_reason),
        licence_factor(c, catalog),
        context_factor(c, q),
        recency_factor(c, catalog),
        quant_factor(c),
        community_factor(c),
    ]
    s.trainability = assess_trainability(c, catalog)
    return s


def sort_key(s: Scored, catalog: Catalog) -> tuple:
    return (
        s.avoid,
        -s.score,
        -s.fit,
        -LICENCE_POINTS[catalog.commercial(s.cand.license)],
        -month_key(s.cand.release),
        s.cand.model.lower(),
        s.cand.id,
    )


def evaluate(cands: list[Candidate], q: Query, domain_name: str, domain: Domain, catalog: Catalog) -> Outcome:
    scored = [score_candidate(c, q, domain, catalog) for c in cands]
    ranked = sorted((s for s in scored if not s.excluded), key=lambda s: sort_key(s, catalog))
    excluded = sorted((s for s in scored if s.excluded), key=lambda s: (out_of_size(s), len(s.exclusions), -s.total, s.cand.model.lower(), s.cand.id))
    for i, s in enumerate(ranked, 1):
        s.rank = i
    for s in excluded:
        s.status = "excluded"
        s.why = "; ".join(s.exclusions)
    vetted = [s for s in ranked if s.cand.source == "catalog"]
    primary = vetted[0] if vetted else None
    backup = None
    if primary is not None:
        rest = [s for s in vetted[1:] if s.avoid == primary.avoid or not s.avoid]
        other = [s for s in rest if lineage(s.cand.family) != lineage(primary.cand.family)]
        backup = other[0] if other else (rest[0] if rest else None)
    out = Outcome(ranked, excluded, primary, backup, domain_name, domain)
    for s in ranked:
        s.status, s.why = _verdict(s, out)
    return out


SIZE_MARKERS = (" is below the ", " is above the ", "parameter count unknown")


def out_of_size(s: Scored) -> bool:
    """Excluded (among other reasons) for size: listed after the near misses, which are in the size range."""
    return any(m in r for r in s.exclusions for m in SIZE_MARKERS)


def _verdict(s: Scored, out: Outcome) -> tuple[str, str]:
    p, b = out.primary, out.backup
    if s is p:
        why = f"highest score ({s.score}/100) among {len(out.ranked)} eligible candidates"
        if s.avoid:
            why += f"; every eligible model is in the {out.domain.label} avoid list"
        return "selected", why
    if s is b:
        if lineage(s.cand.family) != lineage(p.cand.family):
            return "backup", f"best candidate from another family than the primary ({s.score}/100): the fallback if the primary underperforms"
        return "backup", f"next best candidate ({s.score}/100): the fallback if the primary underperforms"
    if s.cand.source != "catalog":
        return "rejected", f"found by searching '{s.cand.found_by}', not vetted ({s.score}/100): read its model card, add it to a catalog (--catalog) to make it eligible"
    if p is None:
        return "rejected", f"score {s.score}/100"
    if s.avoid and not p.avoid:
        return "rejected", f"the {out.domain.label} guidance says avoid {FOCUS_LABELS[s.cand.focus]} models (avoid: {out.domain.avoid})"
    gaps = []
    for f in s.factors:
        gap = p.factor(f.key).points - f.points
        if gap > 0:
            gaps.append((gap, f.key, _short(s, f.key)))
    gap = s.penalty - p.penalty
    if gap > 0:
        gaps.append((gap, "finetune", f"fine-tuning {s.trainability.label} (-{s.penalty})"))  # type: ignore[union-attr]
    gaps.sort(key=lambda g: (-g[0], g[1]))
    if not gaps:
        return "rejected", f"tied with the primary on score ({s.score}/100); ranked lower by the tie-break (domain fit, licence, release, name)"
    behind = ", ".join(text for _, _, text in gaps[:2])
    return "rejected", f"score {s.score} vs {p.score}: {behind}"


def _short(s: Scored, key: str) -> str:
    c = s.cand
    if key == "domain_fit":
        return f"lower domain fit ({stars(s.fit)})"
    if key == "license":
        return f"licence {c.license or 'not confirmed'}"
    if key == "context":
        return f"context {fmt_ctx(c.context)}" if c.context else "context not confirmed"
    if key == "recency":
        return f"older (released {c.release})" if c.release else "release not confirmed"
    if key == "quantization":
        return "fewer local-run options (GGUF / Ollama)"
    if key == "community":
        return f"{len(c.issues)} known issue(s)" if c.issues else "weaker community signal"
    return key


# ---------------------------------------------------------------------------------------------
# what a reader needs about a pick


def why_considered(s: Scored) -> str:
    c = s.cand
    if c.source != "catalog":
        dl = c.live.get("downloads")
        return f"found on Hugging Face by searching '{c.found_by}'" + (f" ({downloads_label(dl)} downloads)" if isinstance(dl, int) else "")
    text = FOCUS_LABELS[c.focus] if c.focus else "focus unknown"
    if c.notes:
        text += f"; {c.notes}"
    return text if len(text) <= 110 else text[:107].rstrip(" ;,") + "..."


THINKING_DOMAINS = ("therapeutic", "creative", "support")


def strengths(s: Scored, q: Query) -> list[str]:
    c = s.cand
    out = [f"{stars(s.fit)} domain fit: {s.fit_base}"]
    out += [reason for delta, reason in s.fit_adjust if delta > 0]
    lic = s.factor("license")
    if lic.points == 10:
        out.append(lic.reason)
    ctx = s.factor("context")
    if ctx.points >= 8:
        out.append(ctx.reason)
    rec = s.factor("recency")
    if rec.points >= 8:
        out.append(f"recent: {rec.reason.split(',')[0]}")
    quant = s.factor("quantization")
    if quant.points >= 7:
        out.append(f"easy to run locally: {quant.reason}")
    if isinstance(c.live.get("downloads"), int) and s.factor("community").points >= 8:
        out.append(f"active community: {downloads_label(c.live['downloads'])} downloads last month")
    if "fully-open" in c.traits:
        out.append("fully open (training data and code published)")
    if s.trainability is not None and s.trainability.status == "yes":
        out.append("fine-tunable here: PEFT trains it and its LoRA adapter loads in llama.cpp, served like the baseline")
    return out


def concerns(s: Scored, q: Query, domain_name: str, catalog: Catalog) -> list[str]:
    c = s.cand
    out: list[str] = []
    if s.trainability is not None and s.trainability.status in ("no", "limited", "unknown"):
        out.append(f"fine-tuning {s.trainability.label}" + (f" (-{s.penalty} points)" if s.penalty else "") + ": " + "; ".join(s.trainability.reasons))
    if s.avoid:
        out.append(f"the domain guidance says avoid {FOCUS_LABELS[c.focus]} models; no eligible model was outside the avoid list")
    if c.focus == "hybrid" and domain_name in THINKING_DOMAINS:
        if "thinking-switch" in c.traits:
            out.append("thinking mode is on by default: switch it off for this domain (/no_think or enable_thinking=False; basesel baseline --no-think)")
        else:
            out.append("hybrid thinking model: check that thinking can be switched off for fast, conversational replies")
    out += [reason for delta, reason in s.fit_adjust if delta < 0]
    cls = catalog.commercial(c.license)
    if cls == "conditional":
        out.append(s.factor("license").reason)
    elif cls is None:
        out.append("licence not confirmed: check the model card before any commercial use")
    elif cls == "no":
        out.append(s.factor("license").reason)
    live_lic = c.live.get("license_id")
    if live_lic and c.license and live_lic != c.license:
        out.append(f"Hugging Face lists the licence as {c.live.get('license')} while the catalog says {c.license}: check the exact repo")
    ctx = s.factor("context")
    if ctx.points == 6 and q.context_needed is not None:
        out.append(ctx.reason)
    unknown = [name for name, value in (("context", c.context), ("release", c.release), ("GGUF", c.gguf)) if value is None]
    if unknown:
        out.append("not confirmed in the catalog: " + ", ".join(unknown))
    if s.factor("recency").points <= 4 and c.release:
        out.append(f"older release ({c.release}): newer generations often outperform")
    out += c.issues
    if c.gated:
        out.append("gated on Hugging Face: accept the licence on the model page before downloading")
    if c.ollama and c.ollama_evidence == "reported":
        out.append(f"the Ollama tag {c.ollama} is only reported by a third party: check `ollama show {c.ollama}` serves {c.hf_repo or c.model}")
    if c.active_params_b:
        out.append(f"mixture of experts: all {fmt_b(c.params_b)} parameters must fit in memory, though only {fmt_b(c.active_params_b)} are active per token")
    if c.params_b is not None and c.params_b < 1:
        out.append("under 1B parameters: expect weak answers; useful for testing the pipeline")
    if pull_command(c) is None:
        if c.gguf_repo:
            out.append(f"choose a Q4_K_M .gguf in {c.gguf_repo} and run `basesel pull hf/{c.gguf_repo} --file FILE` (--online finds the file)")
        else:
            where = f"hf.co/{c.hf_repo}" if c.hf_repo else "its publisher"
            out.append(f"no Ollama tag or GGUF file known: get the weights from {where} (--online searches for GGUF builds)")
    return out


def pull_command(c: Candidate) -> Optional[str]:
    if c.ollama and c.ollama_evidence in ("library", "in-use"):
        return f"basesel pull {c.ollama}"
    if c.gguf_repo and c.gguf_file:
        return f"basesel pull hf/{c.gguf_repo} --file {c.gguf_file}"
    if c.ollama:
        return f"basesel pull {c.ollama}"
    return None


def rationale(s: Scored, out: Outcome, role: str) -> str:
    c = s.cand
    facts = f"{c.params}, {c.license or 'licence not confirmed'}, {fmt_ctx(c.context)} context, released {c.release or '?'}"
    if role == "primary":
        head = f"Highest score ({s.score}/100) of {len(out.ranked)} eligible candidates"
    else:
        head = f"Ranked #{s.rank} ({s.score}/100)" + (", best of another model family than the primary" if out.primary and lineage(c.family) != lineage(out.primary.cand.family) else "")
    return f"{head}: {stars(s.fit)} domain fit for {out.domain.label} ({FOCUS_LABELS.get(c.focus or '', 'focus unknown')}); {facts}."
