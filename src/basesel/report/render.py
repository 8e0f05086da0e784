"""Render docs/base-model-evaluation.md from a run directory with a jinja2 template."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from ..errors import ConfigError

TEMPLATE = "base-model-evaluation.md.j2"

NEXT_STEPS = {
    "sufficient": [
        "Do a qualitative review: read the worst responses below and the failures per criterion; numbers hide specific failure modes.",
        "If a specific failure mode matters, consider targeted fine-tuning on it; otherwise deploy the base model with this system prompt.",
        "Re-run this baseline with a stronger judge (or calibrate the judge with `basesel judge calibrate`) before acting, if the judge is small.",
    ],
    "fine_tune": [
        "Proceed with fine-tuning (moderate gains expected).",
        "Use the failure analysis to guide training-data generation: write examples that target the most-failed criteria first.",
        "Keep these scenarios as the held-out set and re-run the same rubric after fine-tuning to measure the gain.",
    ],
    "full_pipeline": [
        "Run the full pipeline: data generation, fine-tuning and evaluation.",
        "Analyse the failures: are they fixable with data (tone, format, missing steps), or architectural (knowledge, reasoning, context length)? If architectural, go back to research and choose a different base model (see the backup pick).",
        "Keep these scenarios as the held-out set and re-run the same rubric after fine-tuning to measure the gain.",
    ],
}


def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from ..paths import bundled

    env = Environment(loader=FileSystemLoader(str(bundled("templates"))), undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["pct"] = lambda x: "-" if x is None else f"{100 * x:.1f}%"
    env.filters["cell"] = lambda s: str(s if s is not None else "-").replace("|", "\\|").replace("\n", " ")
    env.filters["tokens"] = _tokens
    env.filters["plain"] = lambda v: ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
    return env


def _tokens(n: Any) -> str:
    """A context length as people write it: 131072 -> 128K."""
    from ..research.scoring import fmt_ctx

    return fmt_ctx(n) if isinstance(n, int) else str(n if n is not None else "-")


def load_research(path: Path | None) -> dict[str, Any] | None:
    """research.json from `basesel research`; the default ./research.json is optional."""
    explicit = path is not None
    path = path or Path("research.json")
    if not path.is_file():
        if explicit:
            raise ConfigError(f"research file not found: {path}", hint="Run `basesel research` first, or drop --research.")
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"research file {path} is not valid JSON: {exc}", hint="Re-run `basesel research` to rewrite it.") from exc
    problem = _research_shape_problem(data)
    if problem:
        raise ConfigError(
            f"{path} is not a research.json written by `basesel research`: {problem}",
            hint="Re-run `basesel research` to rewrite it, pass another file with --research, or move that file away.",
        )
    return data


# The fields the decision document's Model Selection section reads from research.json.
_CANDIDATE_FIELDS = ("model", "params", "license", "context", "release", "domain_fit", "why_considered", "status", "why")
_PICK_FIELDS = ("model", "rationale", "strengths", "concerns", "pull_command")


def _research_shape_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return f"the top level is {type(data).__name__}, not an object"
    if not isinstance(data.get("candidates"), list):
        return "no 'candidates' list"
    for key in ("primary", "backup"):
        if key not in data or not (data[key] is None or isinstance(data[key], dict)):
            return f"no '{key}' pick (an object, or null)"
        missing = [k for k in _PICK_FIELDS if data[key] is not None and k not in data[key]]
        if missing:
            return f"the {key} pick lacks {', '.join(missing)}"
    for i, row in enumerate(data["candidates"]):
        missing = [k for k in _CANDIDATE_FIELDS if not isinstance(row, dict) or k not in row]
        if missing:
            return f"candidate {i + 1} lacks {', '.join(missing)}"
    return None


def _normal(name: str) -> str:
    """A model name reduced for matching: qwen3:4b, Qwen/Qwen3-4B and Qwen3-4B-Q4_K_M.gguf -> qwen34b..."""
    name = name.strip().lower().rsplit("/", 1)[-1]
    name = name.removesuffix(".gguf")
    return "".join(ch for ch in name if ch.isalnum())


def _pick_names(pick: dict[str, Any]) -> list[str]:
    names = [pick.get("model"), pick.get("id"), pick.get("hf_repo")]
    command = pick.get("pull_command") or ""
    if command.startswith("basesel pull "):
        names += [w for w in command.split()[2:] if not w.startswith("-")]
    return [n for n in (_normal(str(x)) for x in names if x) if n]


def research_role(candidate: dict[str, Any], research: dict[str, Any] | None) -> str | None:
    """'primary' or 'backup' when the evaluated model is that research pick (by any of its names: the
    catalog name, Ollama tag, Hugging Face repo or GGUF file); None when it is neither."""
    if not research:
        return None
    cand = _normal(str(candidate.get("name", "")))
    for role in ("primary", "backup"):
        pick = research.get(role)
        if pick and cand and any(cand == n or cand.startswith(n) for n in _pick_names(pick)):
            return role
    return None


def render_report(run_dir: Path, doc_path: Path, research: Path | None = None, summary: dict[str, Any] | None = None, *, html: bool = True, charts: bool = True) -> Path:
    """Write the decision document, its chart images beside it, and (with `html`) the run viewer beside
    it (docs/base-model-evaluation.html). `summary`: the one the run just computed; without it
    (`basesel report`) it is rebuilt from the run directory's records, with the cache figures of
    summary.json."""
    from ..run.files import atomic_write_text, read_json_object, rerun_hint
    from ..run.summary import summarize

    if summary is None:
        summary = summarize(run_dir)
        previous = run_dir / "summary.json"
        if previous.is_file():
            hint = f"Delete {previous} (the report is rebuilt from the records without it), or {rerun_hint(run_dir)}"
            summary["cache"] = read_json_object(previous, "run summary", hint=hint).get("cache")
    from .next_steps import decision_next_steps
    from .placement import document_path

    # A run that scored nothing never replaces a document holding a decision, nor its charts and viewer.
    doc_path, note = document_path(doc_path, summary)
    if note:
        summary["doc_note"] = note
    band = summary["gate"]["band"]
    research_data = load_research(research)
    # Charts and viewer go beside the document actually written (never over a decision's own pictures).
    chart_files: dict[str, str] = {}
    if charts:
        from .doc_charts import write_doc_charts

        chart_files = write_doc_charts(summary, doc_path)
    html_path = None
    if html:
        from .viewer import default_html_path

        html_path = default_html_path(doc_path)
    text = _environment().get_template(TEMPLATE).render(
        s=summary,
        date=dt.date.today().isoformat(),
        research=research_data,
        research_role=research_role(summary["candidate"], research_data),
        charts=chart_files,
        viewer=html_path.name if html_path else None,
        next_steps=decision_next_steps(summary, NEXT_STEPS.get(band or "", ["Nothing could be scored: fix the errors listed above and re-run with the same --out."])),
    )
    if doc_path.is_file():  # sections added later ("Fine-tune results") survive a re-render of this run
        from .sections import carry_sections

        try:
            text = carry_sections(doc_path.read_bytes().decode("utf-8"), text, run_dir)
        except (OSError, UnicodeDecodeError):
            pass  # an unreadable old document has nothing to carry over; it is replaced
    atomic_write_text(doc_path, text)
    if html_path is not None:
        from .viewer import write_viewer

        write_viewer(run_dir, html_path, summary)
    return doc_path
