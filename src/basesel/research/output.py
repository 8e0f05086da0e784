"""research.json (read by the decision document), research.md, the terminal table and --explain."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from .catalog import COMMERCIAL_LABELS, FOCUS_LABELS
from .query import fmt_b
from .scoring import Scored, concerns, out_of_size, fmt_ctx, pull_command, rationale, stars, strengths, why_considered

if TYPE_CHECKING:
    from . import Research

JSON_FILE = "research.json"
MD_FILE = "research.md"
TEMPLATE = "research.md.j2"
NEAR_MISSES = 4
FT_MARKS = {"yes": "yes", "limited": "ltd", "no": "no", "unknown": "?"}
"""The terminal table's fine-tune column: research/finetune_fit.py's status, short."""
"""Excluded models listed in the comparison table (the rest stay in research.json's `excluded`)."""


def candidate_row(s: Scored, r: "Research") -> dict[str, Any]:
    c = s.cand
    row: dict[str, Any] = {
        "model": c.model,
        "id": c.id,
        "family": c.family,
        "params": c.params,
        "params_b": c.params_b,
        "active_params_b": c.active_params_b,
        "license": c.license,
        "commercial": r.catalog.commercial(c.license),
        "context": c.context,
        "context_max": c.context_max,
        "release": c.release,
        "focus": c.focus,
        "domain_fit": s.fit,
        "avoid": s.avoid,
        "why_considered": why_considered(s),
        "status": s.status,
        "why": s.why,
        "rank": s.rank,
        "score": s.score,
        "factor_total": s.total,
        "factors": [f.as_dict() for f in s.factors],
        "finetune": s.trainability.as_dict() if s.trainability else None,
        "fit_steps": s.fit_steps,
        "hf_repo": c.hf_repo,
        "ollama": c.ollama,
        "gguf": c.gguf,
        "gguf_repo": c.gguf_repo,
        "gguf_file": c.gguf_file,
        "source": c.source,
    }
    if s.exclusions:
        row["exclusions"] = s.exclusions
    if c.live:
        row["live"] = c.live
    if c.local:
        row["local"] = c.local
    if c.online_notes:
        row["online_notes"] = c.online_notes
    return row


def pick(s: Optional[Scored], r: "Research", role: str) -> Optional[dict[str, Any]]:
    if s is None:
        return None
    c = s.cand
    return {
        "model": c.model,
        "id": c.id,
        "rationale": rationale(s, r.outcome, role),
        "strengths": strengths(s, r.query),
        "concerns": concerns(s, r.query, r.domain_name, r.catalog),
        "pull_command": pull_command(c),
        "score": s.score,
        "finetune": s.trainability.as_dict() if s.trainability else None,
        "domain_fit": s.fit,
        "params": c.params,
        "license": c.license,
        "context": c.context,
        "hf_repo": c.hf_repo,
        "ollama": c.ollama,
        "gguf_repo": c.gguf_repo,
        "gguf_file": c.gguf_file,
    }


def shown(r: "Research") -> tuple[list[Scored], list[Scored]]:
    """(ranked rows for the table, excluded near misses for the table)."""
    o = r.outcome
    top = o.ranked[: r.query.top]
    extra = [o.primary, o.backup] + [s for s in o.ranked if s.cand.source != "catalog"][:NEAR_MISSES]
    for s in extra:
        if s is not None and s not in top:
            top.append(s)
    near = [s for s in o.excluded if not out_of_size(s)][:NEAR_MISSES]
    return top, near


def to_json(r: "Research") -> dict[str, Any]:
    from .. import __version__

    o = r.outcome
    top, near = shown(r)
    by_size = sum(1 for s in o.excluded if out_of_size(s))
    data: dict[str, Any] = {
        "basesel_version": __version__,
        "generated": r.generated.isoformat(),
        "catalog_date": r.catalog.as_of.isoformat(),
        "catalog": {"path": str(r.catalog_path), "models": len(r.catalog.models), "stale": r.catalog.is_stale(r.today), "source": r.catalog.source},
        "query": r.query.record(),
        "domain": {"name": r.domain_name, "label": r.domain.label, "prefer": r.domain.prefer, "avoid": r.domain.avoid, "guidance": r.domain.source},
        "counts": {
            "catalog": len(r.catalog.models),
            "discovered": len(r.online.discovered) if r.online else 0,
            "eligible": len(o.ranked),
            "excluded": len(o.excluded),
            "excluded_by_size": by_size,
            "shown": len(top),
        },
        "warnings": r.warnings,
        "candidates": [candidate_row(s, r) for s in top + near],
        "primary": pick(o.primary, r, "primary"),
        "backup": pick(o.backup, r, "backup"),
        "excluded": [{"model": s.cand.model, "id": s.cand.id, "params": s.cand.params, "why": s.why} for s in o.excluded],
        "sources": r.online.sources if r.online else [],
        "online": None,
        "watch_list": r.catalog.watch_list,
    }
    if r.online is not None:
        data["online"] = {"status": r.online.status, "notes": r.online.notes, "queries": r.online.queries}
    return data


def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from ..paths import bundled

    env = Environment(loader=FileSystemLoader(str(bundled("templates"))), undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["cell"] = lambda s: str(s if s is not None else "?").replace("|", "\\|").replace("\n", " ")
    env.filters["stars"] = lambda n: stars(int(n or 0))
    env.filters["ctx"] = fmt_ctx
    return env


def to_markdown(data: dict[str, Any]) -> str:
    return _environment().get_template(TEMPLATE).render(r=data, focus_labels=FOCUS_LABELS)


def write(r: "Research", out_dir: Path) -> tuple[Path, Path, dict[str, Any]]:
    import json

    from ..run.files import atomic_write_text

    data = to_json(r)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / JSON_FILE, out_dir / MD_FILE
    atomic_write_text(json_path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(md_path, to_markdown(data))
    return json_path, md_path, data


# ---------------------------------------------------------------------------------------------
# terminal


def print_table(r: "Research", data: dict[str, Any], console) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    q = data["query"]
    bits = [f"domain {r.domain.label}"]
    if q.get("size"):
        bits.append(f"size {q['size']}")
    if r.query.context_label:
        bits.append(f"context >= {r.query.context_label}")
    if q.get("license") != "any":
        bits.append(f"licence {q['license']}")
    if q.get("gguf"):
        bits.append("GGUF required")
    if q.get("ollama"):
        bits.append("Ollama tag required")
    title = f"Candidates: {'; '.join(bits)} (catalog {data['catalog_date']})"
    wide = console.width >= 150
    table = Table(title=escape(title), title_justify="left", show_lines=False, pad_edge=False, box=box.SIMPLE_HEAD, collapse_padding=True)
    table.add_column("#", justify="right")
    table.add_column("Model", overflow="fold")
    table.add_column("Params", no_wrap=True)
    table.add_column("License", no_wrap=True, overflow="ellipsis", max_width=12)
    table.add_column("Ctx", justify="right", no_wrap=True)
    table.add_column("Released" if wide else "Rel.", no_wrap=True)
    table.add_column("Fit", no_wrap=True)
    table.add_column("Score", justify="right", no_wrap=True)
    table.add_column("FT", no_wrap=True)
    table.add_column("Status", no_wrap=not wide)
    styles = {"selected": "bold green", "backup": "bold cyan", "rejected": "", "excluded": "dim"}
    for row in data["candidates"]:
        status = {"selected": "SELECTED", "backup": "BACKUP", "rejected": "rejected", "excluded": "excluded"}[row["status"]]
        why = row["why"]
        table.add_row(
            str(row["rank"] or "-"),
            escape(row["model"]),
            escape((fmt_b(row["params_b"]) + (" MoE" if row.get("active_params_b") else "")) if row["params_b"] else row["params"]),
            escape(row["license"] or "?"),
            fmt_ctx(row["context"]),
            row["release"] or "?",
            stars(row["domain_fit"]),
            str(row["score"]) if row["status"] != "excluded" else "-",
            FT_MARKS.get((row.get("finetune") or {}).get("status"), "-"),
            escape(f"{status}: {why}" if wide and row["status"] in ("rejected", "excluded") else status),
            style=styles[row["status"]],
        )
    console.print(table)
    if not wide:
        console.print("Why each model was rejected or excluded: research.md, or `basesel research --explain MODEL`.")
    counts = data["counts"]
    console.print(
        f"{counts['eligible']} eligible of {counts['catalog'] + counts['discovered']} models; {counts['excluded']} excluded by hard filters"
        + (f" ({counts['excluded_by_size']} outside the size range)" if counts["excluded_by_size"] else "")
        + ". Score = domain fit x10 + licence + context + recency + quantization + community (max 100), "
        "less up to 25 points when `basesel finetune` cannot train or export the model (FT: yes / ltd / no / ?)."
    )
    for role in ("primary", "backup"):
        p = data[role]
        if not p:
            continue
        console.print(f"\n[bold]{role.title()}: {escape(p['model'])}[/] — {escape(p['rationale'])}")
        for s in p["strengths"][:4]:
            console.print(f"  [green]+[/] {escape(s)}")
        for s in p["concerns"][:5]:
            console.print(f"  [yellow]![/] {escape(s)}")
        if p["pull_command"]:
            console.print(f"  get it: [bold]{escape(p['pull_command'])}[/]")
    if data["primary"] is None:
        console.print("\n[bold red]No candidate passes the hard filters.[/] Loosen --size / --context / --license / --gguf / --ollama, or see the excluded list in research.json.")


def explain(s: Scored, r: "Research", console) -> None:
    from rich.markup import escape
    from rich.table import Table

    c = s.cand
    head = f"[bold]{escape(c.model)}[/] ({escape(c.id)}) — {escape(c.family)}"
    if s.excluded:
        head += " — [red]EXCLUDED[/]"
    elif s.rank:
        head += f" — rank {s.rank} of {len(r.outcome.ranked)}, {s.status.upper()}"
    console.print(head)
    facts = [
        ("params", c.params + (f" (active {c.active_params_b:g}B)" if c.active_params_b else "")),
        ("licence", f"{c.license or 'not confirmed'} — {COMMERCIAL_LABELS[r.catalog.commercial(c.license)]}"),
        ("context", fmt_ctx(c.context) + (f" (up to {fmt_ctx(c.context_max)} with rope scaling)" if c.context_max else "")),
        ("released", c.release or "not confirmed"),
        ("focus", FOCUS_LABELS.get(c.focus or "", "unknown") + (f"; traits: {', '.join(c.traits)}" if c.traits else "")),
        ("HF repo", (c.hf_repo or "unknown") + (" (gated)" if c.gated else "")),
        ("Ollama", f"{c.ollama} ({c.ollama_evidence})" if c.ollama else "no tag known"),
        ("GGUF", (c.gguf or "not confirmed") + (f" — {c.gguf_repo}" if c.gguf_repo else "") + (f" / {c.gguf_file}" if c.gguf_file else "")),
        ("notes", c.notes or "-"),
    ]
    for key, value in facts:
        console.print(f"  {key:9} {escape(str(value))}")
    if s.exclusions:
        console.print("[bold]Hard filters failed:[/]")
        for reason in s.exclusions:
            console.print(f"  [red]x[/] {escape(reason)}")
    table = Table(title=f"Factors for {r.domain.label}", title_justify="left", pad_edge=False)
    table.add_column("Factor")
    table.add_column("Points", justify="right")
    table.add_column("Reason")
    for f in s.factors:
        table.add_row(f.name, f"{f.points}/{f.max}", escape(f.reason))
    if s.trainability is not None:
        table.add_row("Fine-tune", f"-{s.penalty}", escape(s.trainability.summary))
    table.add_row("[bold]Total[/]", f"[bold]{s.score}/100[/]", "domain-avoided models rank after all others" if s.avoid else "")
    console.print(table)
    console.print("[bold]Domain fit steps:[/]")
    for step in s.fit_steps:
        console.print(f"  - {escape(step)}")
    if s.why and not s.excluded:
        console.print(f"[bold]Verdict:[/] {s.status} — {escape(s.why)}")
    if c.live or c.local:
        console.print(f"[bold]Live data:[/] {escape(str({**c.live, **({'ollama_local': c.local} if c.local else {})}))}")
    pc = pull_command(c)
    if pc:
        console.print(f"[bold]Get it:[/] {escape(pc)}")
    elif c.gguf in ("official", "community"):
        where = f" in {c.gguf_repo}" if c.gguf_repo else ""
        console.print(f"[bold]Get it:[/] {c.gguf} GGUF builds exist{escape(where)} but no file is recorded; --online looks one up")
    else:
        console.print("[bold]Get it:[/] no Ollama tag or GGUF build known" + (f"; weights at hf.co/{escape(c.hf_repo)}" if c.hf_repo else ""))


def explain_json(s: Scored, r: "Research") -> dict[str, Any]:
    row = candidate_row(s, r)
    row["strengths"] = strengths(s, r.query)
    row["concerns"] = concerns(s, r.query, r.domain_name, r.catalog)
    row["pull_command"] = pull_command(s.cand)
    row["traits"] = s.cand.traits
    row["issues"] = s.cand.issues
    row["notes"] = s.cand.notes
    return row
