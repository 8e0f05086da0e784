"""`basesel benchmark`: tasks x conditions (zero-shot, k-shot, LoRA) x models -> accuracy, latency,
cost per query and 12-month TCO, in a run directory with report.html. The work is in basesel.bench."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .options import BaseUrlOpt, JsonOpt, OptionOpt

SMOKE_CONDITIONS = "zero-shot,2-shot"


def benchmark(
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="The small model: embedded | qwen3:8b | llamacpp/FILE.gguf | vllm/NAME ... (zero/k-shot, and lora with --adapter).")] = None,
    adapter: Annotated[Optional[Path], typer.Option("--adapter", help="Adapter directory from `basesel finetune` (basesel-adapter.json + GGUF): the lora condition.")] = None,
    api: Annotated[Optional[list[str]], typer.Option("--api", help="API model to compare (repeatable): openai/NAME, anthropic/NAME. Zero/k-shot only.")] = None,
    tasks: Annotated[Optional[str], typer.Option("--tasks", help="Bundled tasks, comma-separated: banking77, cuad, ledgar, fpb, medmcqa, mbpp.")] = None,
    task_file: Annotated[Optional[list[Path]], typer.Option("--task-file", help="Your own task (repeatable): a task YAML, or a CSV/JSONL with input + label / answer columns (or input alone, graded by --rubric).")] = None,
    labels: Annotated[Optional[str], typer.Option("--labels", help="Label set for a bare CSV/JSONL classification task, comma-separated (default: the labels found in it).")] = None,
    rubric: Annotated[Optional[str], typer.Option("--rubric", help="Rubric (file or bundled name) grading a bare CSV/JSONL free-text task.")] = None,
    judge: Annotated[Optional[str], typer.Option("--judge", help="Judge for rubric-graded (free-text) tasks: same forms as --model; required for them unless --model is embedded (the embedded judge's scores are a smoke check, not evidence).")] = None,
    judge_base_url: Annotated[Optional[str], typer.Option("--judge-base-url", help="The judge's server URL (OpenAI-compatible /v1 endpoint or Ollama host).")] = None,
    conditions: Annotated[Optional[str], typer.Option("--conditions", help="Comma-separated: zero-shot, K-shot (e.g. 5-shot), lora. Default zero-shot,5-shot (+lora with --adapter).")] = None,
    sample: Annotated[Optional[int], typer.Option("--sample", min=1, help="Test items per task (default: each task's test_sample_size).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the few-shot examples and model calls.")] = 0,
    dataset_revision: Annotated[Optional[list[str]], typer.Option("--dataset-revision", help="TASK=REVISION: load a dataset at another pinned revision (repeatable).")] = None,
    volume: Annotated[Optional[str], typer.Option("--volume", help="Daily volume for the 12-month TCO, e.g. 20000/day, 1.5M/month.")] = None,
    gpu_usd_per_hour: Annotated[Optional[float], typer.Option("--gpu-usd-per-hour", min=0.0, help="One machine rate (USD/hour) for every self-hosted model in the report; without it their cost is unknown.")] = None,
    training_usd: Annotated[Optional[float], typer.Option("--training-usd", min=0.0, help="The fine-tune's cost in USD (default: the adapter's training time x --gpu-usd-per-hour).")] = None,
    utilization: Annotated[float, typer.Option("--utilization", min=0.01, max=1.0, help="Share of a self-hosted instance's measured capacity used on average (headroom for peaks).")] = 0.5,
    pricing: Annotated[Optional[Path], typer.Option("--pricing", help="Pricing table YAML for API costs (default: the bundled, dated configs/pricing.yaml).")] = None,
    base_url: BaseUrlOpt = None,
    option: OptionOpt = None,
    concurrency: Annotated[Optional[int], typer.Option("--concurrency", "-c", min=1, help="Parallel calls per server (default: the backend's).")] = None,
    no_constrain: Annotated[bool, typer.Option("--no-constrain", help="Do not constrain outputs to the label set / answer schema; parse free text instead.")] = False,
    unsafe_code: Annotated[bool, typer.Option("--unsafe-code", help="MBPP: run generated code even where no sandbox isolation is available.")] = False,
    resamples: Annotated[int, typer.Option("--resamples", min=100, help="Bootstrap resamples for intervals and paired comparisons.")] = 2000,
    smoke_test: Annotated[bool, typer.Option("--smoke-test", help="The whole pipeline on the bundled synthetic fixtures (offline), under runs/smoke/; never touches real results.")] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Bypass the shared response cache.")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Run directory (default runs/bench-<time>, or runs/smoke/bench-<time>). An existing one is resumed.")] = None,
    doc: Annotated[Optional[Path], typer.Option("--doc", help="Decision document to link the summary from (default docs/base-model-evaluation.md when it exists).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Benchmark a small model (zero-shot, k-shot, LoRA) against API models on real tasks: accuracy with
    intervals, latency, cost per query, 12-month TCO and break-even volume; writes report.html."""
    import asyncio
    import os

    from ..bench.adapters import read_adapter
    from ..bench.costs import parse_volume
    from ..bench.runner import BenchConfig, parse_conditions, resolve_run_dir
    from ..errors import UsageError
    from .common import parse_options

    volume_per_day = parse_volume(volume) if volume is not None else None
    if pricing is not None:
        if not pricing.is_file():
            from ..errors import ConfigError

            raise ConfigError(f"--pricing {pricing}: file not found", hint="Pass a pricing YAML (models: {NAME: {input: USD/1M, output: USD/1M}}), or leave it out for the bundled table.")
        os.environ["BASESEL_PRICING"] = str(pricing.resolve())
    if smoke_test:
        model = model or "embedded"
        tasks = tasks or "banking77,fpb,medmcqa,ledgar,cuad,mbpp"
        conditions = conditions or (SMOKE_CONDITIONS + (",lora" if adapter else ""))
    conds = parse_conditions(conditions or ("zero-shot,5-shot" + (",lora" if adapter else "")))
    if model is None and not api:
        raise UsageError("no model to benchmark", hint="Pass --model (e.g. embedded, qwen3:8b) and/or --api (e.g. openai/gpt-4o-mini), or --smoke-test.")
    if "lora" in conds and model is None:
        raise UsageError("the lora condition needs --model (the adapter's base) and --adapter", hint="Pass --model and --adapter, or drop lora from --conditions (API models run zero-/k-shot only).")
    if adapter is not None and "lora" not in conds:
        raise UsageError("--adapter is given but the conditions do not include lora", hint="Add lora to --conditions, or drop --adapter.")
    loaded = _load_tasks(tasks, task_file, labels, rubric, smoke_test, _revisions(dataset_revision), sample)
    if any(t.task.kind == "free_text" for t in loaded):
        from ..models.judge_choice import require_judge

        judge = require_judge(judge, model or (api or ["embedded"])[0], base_url)
    run_dir = resolve_run_dir(out, smoke_test)
    adapter_info = read_adapter(adapter) if adapter is not None else None
    settings = _settings(volume, volume_per_day, gpu_usd_per_hour, utilization, training_usd, adapter_info, resamples)
    cfg = BenchConfig(
        tasks=loaded, conditions=conds, model=model, base_url=base_url, options=parse_options(option, "--option"), adapter=adapter_info, apis=list(api or []),
        judge=judge or "embedded", judge_base_url=judge_base_url, seed=seed, concurrency=concurrency, constrain=not no_constrain, unsafe_code=unsafe_code, smoke=smoke_test, no_cache=no_cache, out=run_dir, settings=settings,
    )
    try:
        summary = asyncio.run(_run(cfg, run_dir))
    except KeyboardInterrupt:
        from .common import stderr_console

        stderr_console().print("\nInterrupted. Every finished prediction is on disk; run the same command again (same --out) to resume.")
        raise typer.Exit(130) from None
    _finish(run_dir, summary, doc, as_json)


def _revisions(pairs: list[str] | None) -> dict[str, str]:
    from ..errors import UsageError

    out = {}
    for pair in pairs or []:
        task, sep, rev = pair.partition("=")
        if not sep or not task.strip() or not rev.strip():
            raise UsageError(f"--dataset-revision expects TASK=REVISION, got '{pair}'", hint="Example: --dataset-revision ledgar=0123abcd...")
        out[task.strip()] = rev.strip()
    return out


def _load_tasks(tasks, task_files, labels, rubric, smoke, revisions, sample):
    from ..bench.loading import load_task_data
    from ..bench.tasks import bundled_task, parse_task_list, task_from_file
    from ..errors import UsageError

    specs = [bundled_task(t) for t in parse_task_list(tasks)]
    label_list = [x.strip() for x in labels.split(",") if x.strip()] if labels else None
    specs += [task_from_file(p, labels=label_list, rubric=rubric) for p in task_files or []]
    if not specs:
        raise UsageError("no tasks given", hint="Pass --tasks banking77,fpb,... and/or --task-file FILE.")
    ids = [s.id for s in specs]
    if len(set(ids)) != len(ids):
        raise UsageError(f"task ids repeat: {', '.join(sorted({i for i in ids if ids.count(i) > 1}))}", hint="Give each --task-file its own id (the YAML's id:, or the file name).")
    unknown = set(revisions) - set(ids)
    if unknown:
        raise UsageError(f"--dataset-revision names tasks not in this run: {', '.join(sorted(unknown))}", hint=f"Tasks in this run: {', '.join(ids)}.")
    return [load_task_data(s, smoke=smoke, revision=revisions.get(s.id), sample=sample) for s in specs]


def _settings(volume, volume_per_day, rate, utilization, training_usd, adapter, resamples) -> dict:
    from ..bench.adapters import training_usd as adapter_training
    from ..models.pricing import pricing_path

    settings = {"volume": volume, "volume_per_day": volume_per_day, "gpu_usd_per_hour": rate, "utilization": utilization, "resamples": resamples, "pricing_table": pricing_path()}
    try:
        import yaml

        settings["pricing_as_of"] = (yaml.safe_load(Path(pricing_path()).read_text(encoding="utf-8")) or {}).get("as_of")
    except (OSError, ValueError, AttributeError):
        settings["pricing_as_of"] = None
    if adapter is not None:
        usd, note = adapter_training(adapter, rate, training_usd)
        settings["training_usd"], settings["training_note"] = usd, note
    elif training_usd is not None:
        settings["training_usd"], settings["training_note"] = training_usd, f"--training-usd {training_usd}"
    return settings


async def _run(cfg, run_dir: Path):
    from ..bench.runner import BenchmarkRun
    from .common import stderr_console
    from .progress import progress_bar

    console = stderr_console()
    if cfg.smoke:
        console.print("[yellow]smoke test:[/] bundled synthetic fixtures, results under runs/smoke/ (never mixed with real results)")
    console.print(f"models: [bold]{', '.join(filter(None, [cfg.model, *cfg.apis]))}[/]   tasks: {', '.join(t.task.id for t in cfg.tasks)}   conditions: {', '.join(cfg.conditions)}")
    with progress_bar(console) as update:
        return await BenchmarkRun(cfg, run_dir, progress=update).run()


def _finish(run_dir: Path, summary: dict, doc: Path | None, as_json: bool) -> None:
    from ..report.benchmark import render_benchmark
    from .common import print_json, stderr_console, warn

    default_doc = Path("docs/base-model-evaluation.md")
    target = doc if doc is not None else (default_doc if default_doc.is_file() else None)
    paths = render_benchmark(run_dir, summary, doc=target)
    summary["report"] = str(paths["report"])
    summary["summary_md"] = str(paths["summary_md"])
    if as_json:
        print_json(summary)
        return
    for w in summary["warnings"]:
        warn(w)
    from ..report.benchmark import fmt_money

    console = stderr_console()
    for c in summary["cells"]:
        value = "-" if c["value"] is None else f"{100 * c['value']:.1f}%"
        ci = f" [{100 * c['ci95'][0]:.1f}, {100 * c['ci95'][1]:.1f}]" if c.get("ci95") else ""
        inv = "" if not c["invalid"] else f", {c['invalid']} invalid"
        console.print(f"{c['task']:<10} {c['model']:<28} {c['condition']:<10} {c['metric']} {value}{ci} (n={c['n']}{inv})  cost/query {fmt_money(c['cost_per_query'])}")
    console.print(f"\nrun directory: {run_dir}\nreport: {paths['report']}\nsummary: {paths['summary_md']}" + (f"\nlinked from: {paths['doc']}" if "doc" in paths else ""))


def register(app: typer.Typer) -> None:
    app.command("benchmark")(benchmark)
