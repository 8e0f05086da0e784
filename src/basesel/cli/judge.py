"""`basesel judge calibrate`: measure the judge against human pass/fail labels (Cohen's kappa)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .options import DomainOpt, JsonOpt, JudgeBaseUrlOpt, JudgeMaxTokensOpt, JudgeOptionOpt, RubricOpt, SeedOpt

judge_app = typer.Typer(
    name="judge",
    help="Judge reliability: calibrate the judge against human labels.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


@judge_app.command("calibrate")
def calibrate(
    labels: Annotated[str, typer.Option("--labels", "-l", help="Labels JSONL ({id, input, response, labels: {criterion: pass|fail|n/a}} per line), or a bundled set's name, e.g. support.")],
    judge: Annotated[Optional[str], typer.Option("--judge", help="Judge model spec to calibrate (same forms as baseline's --judge; required: the judge is what is measured).")] = None,
    judge_base_url: JudgeBaseUrlOpt = None,
    judge_option: JudgeOptionOpt = None,
    rubric: RubricOpt = None,
    domain: DomainOpt = None,
    system_prompt: Annotated[Optional[str], typer.Option("--system-prompt", help="The assistant's system prompt shown to the judge (text or .txt/.md file; default: the domain pack's).")] = None,
    judge_samples: Annotated[int, typer.Option("--judge-samples", min=1, help="Judge verdicts per response (majority vote), as in baseline.")] = 1,
    judge_temperature: Annotated[Optional[float], typer.Option("--judge-temperature", min=0.0, help="Judge temperature, as in baseline (default 0, or 0.7 with --judge-samples > 1).")] = None,
    judge_max_tokens: JudgeMaxTokensOpt = 1024,
    seed: SeedOpt = 0,
    concurrency: Annotated[Optional[int], typer.Option("--concurrency", "-c", min=1, help="Parallel judge calls.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Where to save the report. The decision document reads RUN_DIR/calibration.json or ./calibration.json.")] = Path("calibration.json"),
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Bypass the shared response cache.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run the judge on human-labelled responses and report agreement per criterion and overall.

    Cohen's kappa, sensitivity (share of human fails the judge also fails) and specificity (share of
    human passes the judge also passes), and the pass rate the judge would give vs the labels'.
    Kappa below 0.6 is flagged. Uses the same judge prompt, schema and scoring as `basesel baseline`.
    """
    import asyncio

    from ..domains import canonical
    from ..errors import ConfigError, UsageError, require_installed
    from ..paths import bundled
    from ..rubric import load_rubric
    from ..run.baseline import read_system_prompt
    from ..run.calibrate import calibration_meta, calibration_report, load_labels
    from ..run.files import atomic_write_json
    from .common import parse_options, print_json, warn
    from .options import domain_files

    require_installed("sklearn", "judge", "Judge calibration (Cohen's kappa)")
    if not judge:
        from ..models.judge_choice import reachable_judges

        found = reachable_judges(judge_base_url)
        raise UsageError(
            "no judge given: calibration measures one judge against the labels, so it must be named",
            hint=f"Pass --judge SPEC (and --judge-base-url for a server), the judge your baselines use. Reachable now: {'; '.join(found) if found else 'none found'}.",
        )
    labels_path = Path(labels).expanduser()
    if not labels_path.is_file():
        candidate = bundled("rubrics") / "labels" / f"{canonical(labels)}-labels.jsonl"
        if labels_path.suffix or not candidate.is_file():
            available = sorted(p.name.removesuffix("-labels.jsonl") for p in (bundled("rubrics") / "labels").glob("*-labels.jsonl"))
            raise ConfigError(f"labels file not found: {labels}", hint=f"Pass a JSONL file, or a bundled set: {', '.join(available) or '(none)'}.")
        labels_path = candidate
        if rubric is None and domain is None:
            domain = canonical(labels)
    rubric_path, taxonomy_path = domain_files(domain, rubric, None)
    if rubric_path is None:
        raise UsageError("no rubric given", hint="Pass --rubric FILE or --domain NAME: the rubric the labels were written for.")
    the_rubric = load_rubric(rubric_path)
    items = load_labels(labels_path, the_rubric)
    prompt = read_system_prompt(system_prompt)
    if prompt is None and taxonomy_path is not None:
        from ..scenarios import load_taxonomy

        prompt = load_taxonomy(taxonomy_path).system_prompt
    options = parse_options(judge_option, "--judge-option")
    if judge_temperature is None:
        from ..run.config import default_judge_temperature

        judge_temperature = default_judge_temperature(judge_samples)  # as baseline

    from ..run.budget import paid_api

    if paid_api(judge, judge_base_url):
        from .common import stderr_console

        stderr_console().print(f"paid API: this calibration makes {len(items) * judge_samples:,} verdict calls to {judge} (up to {len(items) * judge_samples * 3:,} if replies must be retried); cached verdicts cost nothing.", markup=False, highlight=False)
    results, judge_model = asyncio.run(
        _judge_all(items, the_rubric, judge, judge_base_url, options, prompt, judge_samples, judge_temperature, seed, concurrency, no_cache, judge_max_tokens)
    )
    meta = calibration_meta(judge_model, the_rubric, rubric_path, labels_path, samples=judge_samples, temperature=judge_temperature, seed=seed, system_prompt=prompt)
    report = calibration_report(the_rubric, results, meta=meta)
    atomic_write_json(out, report)
    if as_json:
        print_json(report | {"out": str(out)})
        return
    _print(report, out)
    for w in report["warnings"]:
        warn(w)


async def _judge_all(items, rubric, spec, base_url, options, prompt, samples, temperature, seed, concurrency, no_cache, max_tokens=1024):
    from ..models import create_model
    from ..paths import cache_dir
    from ..run.cache import ResponseCache
    from ..run.calibrate import judge_labelled
    from ..run.executor import Executor, RetryPolicy
    from .common import stderr_console
    from .progress import progress_bar

    model = create_model(spec, base_url=base_url, options=options)
    try:
        describe = getattr(model, "describe", None)
        if describe is not None:
            await describe()
        executor = Executor(ResponseCache(cache_dir(), enabled=not no_cache), RetryPolicy())
        executor.set_limit(model, concurrency)
        console = stderr_console()
        console.print(f"judge: [bold]{model.identity.spec}[/]   rubric: [bold]{rubric.id}[/]   labelled responses: {len(items)}")
        with progress_bar(console) as update:
            results = await judge_labelled(items, rubric, model, executor, system_prompt=prompt, samples=samples, seed=seed, temperature=temperature, max_tokens=max_tokens, progress=update)
        return results, model
    finally:
        await model.aclose()


def _fmt(x: Any, pct: bool = False) -> str:
    if x is None:
        return "-"
    return f"{100 * x:.0f}%" if pct else f"{round(x, 2) or 0.0:.2f}"  # no "-0.00"


def _print(report: dict[str, Any], out: Path) -> None:
    from rich.table import Table

    from .common import stdout_console

    console = stdout_console()
    table = Table(title=f"Judge calibration: {report['judge']['spec']} on rubric {report['rubric']['id']} ({report['n']} labelled responses)", title_justify="left")
    for col in ("criterion", "source", "n", "agreement", "kappa", "sensitivity", "specificity", "flag"):
        table.add_column(col, justify="left" if col in ("criterion", "source", "flag") else "right")
    for c in report["criteria"]:
        flag = "[red]kappa < 0.6[/]" if c["flagged"] else ""
        table.add_row(c["id"] + (" (gate)" if c["critical"] else ""), c["source"], str(c["n"]), _fmt(c["agreement"], True), _fmt(c["kappa"]), _fmt(c["sensitivity"], True), _fmt(c["specificity"], True), flag)
    console.print(table)
    o = report["overall"] or {}
    console.print(
        f"overall (judged criteria pooled, {o.get('n', 0)} verdicts): Cohen's kappa {_fmt(report['kappa'])}, "
        f"agreement {_fmt(o.get('agreement'), True)}, sensitivity {_fmt(o.get('sensitivity'), True)}, specificity {_fmt(o.get('specificity'), True)}"
    )
    p = report["pass_rate"]
    console.print(
        f"response pass rate: judge {_fmt(p['judge'], True)} vs labels {_fmt(p['labels'], True)} "
        f"(same decision on {_fmt(p['decision_agreement'], True)} of responses; decision kappa {_fmt(p['decision_kappa'])})"
    )
    console.print("sensitivity = share of human-failed verdicts the judge also fails; specificity = share of human-passed ones it also passes.")
    console.print(f"saved {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(judge_app, name="judge")
