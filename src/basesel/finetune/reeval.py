"""Re-evaluation: the fine-tuned model answers the held-out baseline scenarios under the baseline's system
prompt and sampling, graded by its rubric and judge, through the baseline pipeline (cache, resume, run
directory); then the paired comparison is appended to the baseline's decision document."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .from_run import BaseRun


@dataclass
class EvalOverrides:
    """Flags that replace what the baseline's manifest says (None = keep the baseline's)."""

    judge: str | None = None
    judge_base_url: str | None = None
    judge_options: dict[str, Any] = field(default_factory=dict)
    rubric: Path | None = None
    system_prompt: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None


def judge_options(base: BaseRun, o: EvalOverrides) -> dict[str, Any]:
    """--judge-option wins; a --judge of its own starts without the baseline judge's options."""
    if o.judge_options:
        return o.judge_options
    return {} if o.judge else dict(base.config.get("judge_options") or {})


def eval_config(base: BaseRun, model: str, model_options: dict[str, Any], out: Path, o: EvalOverrides, *, base_url: str | None = None):
    from ..run.baseline import read_system_prompt
    from ..run.config import RunConfig

    c = base.config
    system_prompt = read_system_prompt(o.system_prompt) if o.system_prompt is not None else base.system_prompt
    return RunConfig(
        model=model,
        base_url=base_url,
        model_options=model_options,
        judge=o.judge or c["judge"],
        judge_base_url=o.judge_base_url if o.judge else c.get("judge_base_url"),
        judge_options=judge_options(base, o),
        rubric=o.rubric or base.rubric_path(),
        scenarios=base.run_dir / "scenarios.jsonl",
        system_prompt=system_prompt,
        temperature=c.get("temperature", 0.7) if o.temperature is None else o.temperature,
        max_tokens=o.max_tokens or c.get("max_tokens", 1024),
        seed=c.get("seed", 0) if o.seed is None else o.seed,
        judge_samples=c.get("judge_samples", 1),
        judge_temperature=c.get("judge_temperature", 0.0),
        judge_max_tokens=c.get("judge_max_tokens", 1024),
        samples=c.get("samples", 1),
        no_cache=c.get("no_cache", False),
        out=out,
        doc=out / "evaluation.md",
    )


def run_eval(base: BaseRun, model: str, model_options: dict[str, Any], out: Path, overrides: EvalOverrides, progress=None, *, base_url: str | None = None) -> tuple[Path, dict[str, Any]]:
    import asyncio

    from ..report.render import render_report
    from ..run.baseline import run_baseline

    config = eval_config(base, model, model_options, out, overrides, base_url=base_url)
    run_dir, summary = asyncio.run(run_baseline(config, progress=progress))
    render_report(run_dir, config.doc, summary=summary)  # the fine-tuned run's own document, beside the run
    return run_dir, summary


def append_comparison(base: BaseRun, eval_dir: Path, doc: Path, training: dict[str, Any], marker: str) -> dict[str, Any] | None:
    """The paired comparison appended to the decision document as "Fine-tune results" (an earlier section
    with the same marker is replaced; the baseline sections stay). None when `basesel compare` is missing."""
    try:
        from ..run.compare import append_section, compare_runs, render_comparison_markdown
    except ImportError:
        return None
    comparison = compare_runs(base.run_dir, eval_dir)
    markdown = render_comparison_markdown(comparison, heading="Fine-tune results", training=training)
    append_section(doc, markdown, marker=marker)
    return comparison
