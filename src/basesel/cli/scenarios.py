"""`basesel scenarios`: generate single-turn evaluation inputs from a taxonomy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .options import DomainOpt, JsonOpt, NOpt, RubricOpt, SeedOpt, TaxonomyOpt, domain_files


def scenarios(
    domain: DomainOpt = None,
    taxonomy: TaxonomyOpt = None,
    n: NOpt = None,
    seed: SeedOpt = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output JSONL file.")] = Path("scenarios.jsonl"),
    coverage: Annotated[Optional[Path], typer.Option("--coverage", help="Where to save the coverage report (default: <out> with .coverage.json).")] = None,
    generator: Annotated[Optional[str], typer.Option("--generator", "-g", help="Write the messages with this model (any spec: embedded, qwen3:8b, openai/NAME ...). Default: offline jinja2 templates.")] = None,
    generator_base_url: Annotated[Optional[str], typer.Option("--generator-base-url", help="Generator server URL (OpenAI-compatible /v1 endpoint or Ollama host).")] = None,
    generator_option: Annotated[Optional[list[str]], typer.Option("--generator-option", help="Backend option key=value for the generator (repeatable).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=50, help="Messages asked for per generator call (structured output).")] = 5,
    dedup_threshold: Annotated[float, typer.Option("--dedup-threshold", min=0, max=100, help="Drop a generated message whose normalized text is at least this similar (0-100, rapidfuzz ratio) to one already kept; 100 = identical only.")] = 90.0,
    max_rounds: Annotated[int, typer.Option("--max-rounds", min=1, max=10, help="Generation rounds in all: the first, then re-generation of holes left by duplicates and unusable output.")] = 3,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0, help="Generator sampling temperature.")] = 0.9,
    concurrency: Annotated[Optional[int], typer.Option("--concurrency", "-c", min=1, help="Parallel generator calls.")] = None,
    template_fallback: Annotated[bool, typer.Option("--template-fallback/--no-template-fallback", help="Fill holes still open after the last round from the style templates (tagged source=template).")] = True,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Bypass the shared response cache.")] = False,
    turns: Annotated[Optional[str], typer.Option("--turns", help="Multi-turn: write N or MIN-MAX as every scenario's `turns` (over the taxonomy's turn ranges); `basesel baseline` then runs each for that many turns with a simulated user.")] = None,
    rubric: RubricOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Generate ~50 single-turn user messages from a taxonomy, stratified over topic x style, edge cases included.

    Offline jinja2 templates by default; with --generator a model writes them in batches under a JSON
    schema, near-duplicates are removed and holes re-generated. A coverage report (every topic x style
    cell and edge case, counts per cell) is printed and saved next to the output.
    """
    from ..errors import ConfigError, UsageError
    from ..scenarios import load_taxonomy, write_scenarios
    from ..scenarios.coverage import coverage_report
    from ..run.files import atomic_write_json
    from .common import parse_options, print_json, warn

    if out.is_dir():
        raise ConfigError(f"--out {out} is a directory", hint=f"Pass the output file's path, for example -o {out / 'scenarios.jsonl'}.")
    if coverage is not None and coverage.is_dir():
        raise ConfigError(f"--coverage {coverage} is a directory", hint=f"Pass the report file's path, for example --coverage {coverage / 'scenarios.coverage.json'}.")
    from ..run.budget import check_scenario_count

    check_scenario_count(n)  # before the taxonomy is read: a size past the limit is refused outright
    rubric_path, taxonomy_path = domain_files(domain, rubric, taxonomy)
    if turns is not None:
        from ..run.conversation import parse_turns

        parse_turns(turns)
    if taxonomy_path is None:
        raise UsageError("no taxonomy given", hint="Pass --taxonomy FILE or --domain NAME.")
    tax = load_taxonomy(taxonomy_path)
    for w in tax.warnings:
        warn(w)
    count = n or tax.defaults.n or 50
    check_scenario_count(count, "-n" if n else f"the taxonomy's defaults.n ({taxonomy_path})")
    generation: dict[str, Any] | None = None
    if generator is None:
        from ..scenarios.generate import generate

        items, plan = generate(tax, count, seed)
    else:
        import asyncio

        from ..scenarios.llm_generate import GenerationSettings

        settings = GenerationSettings(
            batch_size=batch_size,
            temperature=temperature,
            dedup_threshold=dedup_threshold,
            max_rounds=max_rounds,
            seed=seed,
            template_fallback=template_fallback,
            concurrency=concurrency,
        )
        options = parse_options(generator_option, "--generator-option")
        items, plan, stats = asyncio.run(_generate_llm(tax, count, generator, generator_base_url, options, settings, no_cache))
        generation = stats.to_dict()
    for w in plan.warnings:
        warn(w)
    if turns is not None:
        for item in items:
            item.tags["turns"] = turns
    write_scenarios(items, out)
    report = coverage_report(tax, items)
    if rubric_path is not None:
        from ..rubric import load_rubric
        from ..scenarios.coverage import gate_coverage, gate_coverage_warnings

        the_rubric = load_rubric(rubric_path)
        report["gate_coverage"] = gate_coverage(the_rubric, items)
        for w in gate_coverage_warnings(the_rubric, items):
            warn(w)
    if generation is not None:
        report["generation"] = generation
    coverage_path = coverage or out.with_name(out.name.removesuffix(".jsonl") + ".coverage.json")
    atomic_write_json(coverage_path, {"scenarios_file": str(out), "taxonomy_path": str(taxonomy_path), "seed": seed, **report})
    if generation is not None:
        _generation_warnings(generation, warn)
    if not report["complete"] and not plan.warnings:
        warn(f"coverage is incomplete: missing {', '.join(report['missing_cells'] + report['missing_edge_cases'])}")
    if as_json:
        print_json({"out": str(out), "coverage_file": str(coverage_path), "count": len(items), "coverage": report})
        return
    _print_coverage(report, out, coverage_path)


async def _generate_llm(tax, count, spec, base_url, options, settings, no_cache):
    from ..models import create_model
    from ..paths import cache_dir
    from ..run.cache import ResponseCache
    from ..run.executor import Executor, RetryPolicy
    from ..scenarios.llm_generate import generate_with_llm
    from .common import stderr_console
    from .progress import progress_bar

    model = create_model(spec, base_url=base_url, options=options)
    try:
        describe = getattr(model, "describe", None)
        if describe is not None:
            await describe()
        executor = Executor(ResponseCache(cache_dir(), enabled=not no_cache), RetryPolicy())
        console = stderr_console()
        console.print(f"generator: [bold]{model.identity.spec}[/]")
        with progress_bar(console) as update:
            return await generate_with_llm(tax, count, model, executor, settings, update)
    finally:
        await model.aclose()


def _generation_warnings(g: dict[str, Any], warn) -> None:
    if g["calls"] + g["cache_hits"] and g["failed_calls"] == g["calls"] + g["cache_hits"]:
        warn(f"every generator call failed ({g['errors'][0] if g['errors'] else 'no detail'})")
    if g["filled_by_template"]:
        warn(f"{g['filled_by_template']} scenarios could not be generated in {g['rounds']} rounds and were filled from the style templates (tagged source=template)")
    if g["unfilled"]:
        warn(f"{g['unfilled']} planned scenarios have no message (generation failed and --no-template-fallback)")


def _print_coverage(report: dict[str, Any], out: Path, coverage_path: Path) -> None:
    from rich.markup import escape
    from rich.table import Table

    from .common import stdout_console

    console = stdout_console()
    console.print(f"wrote {report['scenarios']} scenarios to {out}")
    table = Table(title="Scenarios per topic x style", title_justify="left")
    table.add_column("topic")
    for style in report["styles"]:
        table.add_column(style, justify="right")
    for topic in report["topics"]:
        counts = [report["cell_counts"][f"{topic} x {style}"] for style in report["styles"]]
        table.add_row(escape(topic), *[str(c) if c else "[red]0[/]" for c in counts])
    console.print(table)
    console.print(
        f"topic x style cells covered: {report['cells_covered']}/{report['cells_total']}; "
        f"subtopics: {report['subtopics_covered']}/{report['subtopics_total']}; "
        f"edge cases: {report['edge_cases_present']}/{report['edge_cases_total']}"
        + (f" (missing: {', '.join(report['missing_edge_cases'])})" if report["missing_edge_cases"] else "")
    )
    if report.get("gate_coverage"):
        console.print("gate criteria (scenarios each applies to): " + ", ".join(f"{k} {v}" if v else f"[red]{k} 0[/]" for k, v in report["gate_coverage"].items()))
    for dim, counts in report["dimension_counts"].items():
        console.print(f"{dim}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    g = report.get("generation")
    if g:
        console.print(
            f"generator {g['generator']}: {g['calls']} calls ({g['cache_hits']} cached), {g['rounds']} rounds; "
            f"{g['near_duplicates_dropped']} near-duplicates dropped, {sum(g['rejected'].values())} unusable messages rejected, "
            f"{g['filled_by_template']} filled from templates; sources: " + ", ".join(f"{k} {v}" for k, v in report["sources"].items())
        )
    console.print(f"coverage report: {coverage_path}")
