"""`basesel baseline`: run the base model on every scenario, grade, gate, and write the decision doc."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .options import (
    BaseUrlsOpt,
    DomainOpt,
    EndpointsOpt,
    JsonOpt,
    JudgeBaseUrlsOpt,
    JudgeEndpointsOpt,
    JudgeOpt,
    JudgeMaxTokensOpt,
    JudgeOptionOpt,
    ModelOpt,
    NOpt,
    OptionOpt,
    RubricOpt,
    SeedOpt,
    TaxonomyOpt,
    domain_files,
)


MAX_SCENARIOS_DEFAULT = 400


def baseline(
    model: Annotated[Optional[str], typer.Option("--model", "-m", help=ModelOpt.__metadata__[0].help)] = None,
    judge: JudgeOpt = None,
    domain: DomainOpt = None,
    rubric: RubricOpt = None,
    taxonomy: TaxonomyOpt = None,
    scenarios: Annotated[Optional[Path], typer.Option("--scenarios", "-s", help="Scenario JSONL (user message under input/message/prompt/text; optional id; other fields kept as tags).")] = None,
    n: NOpt = None,
    system_prompt: Annotated[Optional[str], typer.Option("--system-prompt", help="System prompt text, or a .txt/.md file holding it (default: the domain pack's).")] = None,
    base_url: BaseUrlsOpt = None,
    judge_base_url: JudgeBaseUrlsOpt = None,
    endpoints: EndpointsOpt = None,
    judge_endpoints: JudgeEndpointsOpt = None,
    concurrency: Annotated[Optional[int], typer.Option("--concurrency", "-c", min=1, help="Parallel calls per server (default: 1 in-process llama.cpp, 4 local servers, 8 APIs).")] = None,
    judge_concurrency: Annotated[Optional[int], typer.Option("--judge-concurrency", min=1, help="Parallel judge calls (default: --concurrency).")] = None,
    temperature: Annotated[Optional[float], typer.Option("--temperature", min=0.0, help="Candidate sampling temperature (default 0.7).")] = None,
    seed: SeedOpt = 0,
    max_tokens: Annotated[Optional[int], typer.Option("--max-tokens", min=1, help="Candidate token limit (default 1024). Cut-off answers are flagged.")] = None,
    judge_max_tokens: JudgeMaxTokensOpt = 1024,
    judge_samples: Annotated[int, typer.Option("--judge-samples", min=1, help="Judge verdicts per response (majority vote; agreement reported). With K > 1 the judge samples at --judge-temperature (default 0.7).")] = 1,
    judge_temperature: Annotated[Optional[float], typer.Option("--judge-temperature", min=0.0, help="Judge sampling temperature (default 0, or 0.7 with --judge-samples > 1: at 0, K verdicts are K copies of one).")] = None,
    think: Annotated[Optional[bool], typer.Option("--think/--no-think", help="Thinking models: enable or disable thinking where the backend supports it.")] = None,
    option: OptionOpt = None,
    judge_option: JudgeOptionOpt = None,
    pull: Annotated[bool, typer.Option("--pull", help="Ollama: pull the candidate/judge model first if the server lacks it.")] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Bypass the shared response cache (BASESEL_CACHE_DIR).")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Run directory (default runs/<timestamp>-<model>/). An existing one is resumed.")] = None,
    doc: Annotated[Path, typer.Option("--doc", help="Where to write the decision document.")] = Path("docs/base-model-evaluation.md"),
    research: Annotated[Optional[Path], typer.Option("--research", help="research.json from `basesel research` (default: ./research.json if present).")] = None,
    html: Annotated[bool, typer.Option("--html/--no-html", help="Also write the run viewer (one offline HTML file) beside the document: docs/base-model-evaluation.html.")] = True,
    until_decisive: Annotated[bool, typer.Option("--until-decisive", help="While the 95% interval crosses a cut-off, add stratified batches from the taxonomy (new seeds) until it does not, or --max is reached.")] = False,
    max_scenarios: Annotated[int, typer.Option("--max", min=1, help="Cap on scenarios for --until-decisive.")] = MAX_SCENARIOS_DEFAULT,
    turns: Annotated[Optional[str], typer.Option("--turns", help="Multi-turn: N or MIN-MAX turns per conversation with a simulated user (drawn per scenario, fixed for --seed). Default: the scenarios' own `turns` (from the taxonomy's turn ranges), else single-turn.")] = None,
    user_sim: Annotated[Optional[str], typer.Option("--user-sim", help="Multi-turn: the model that plays the user (same forms as --model; default: the judge). Pinned at --user-sim-temperature and --seed.")] = None,
    user_sim_base_url: Annotated[Optional[str], typer.Option("--user-sim-base-url", help="Simulated user's server URL (OpenAI-compatible /v1 endpoint or Ollama host).")] = None,
    user_sim_option: Annotated[Optional[list[str]], typer.Option("--user-sim-option", help="Backend option key=value for the simulated user (repeatable).")] = None,
    user_sim_temperature: Annotated[float, typer.Option("--user-sim-temperature", min=0.0, help="Simulated user's sampling temperature (pinned, recorded in the manifest).")] = 0.7,
    single_turn: Annotated[bool, typer.Option("--single-turn/--no-single-turn", help="Multi-turn runs: also grade each conversation's first reply alone, for the single-turn vs multi-turn comparison (one more judge call per scenario).")] = True,
    retry_errors: Annotated[Optional[Path], typer.Option("--retry-errors", help="Re-run only the errored samples of this run directory (failed answers, and verdicts the judge's server failed), with its original settings. --base-url, --judge-base-url and --user-sim-base-url given with it replace the run's; pass them again when they carried credentials (user:password@, ?key=), which basesel never writes to the run directory.")] = None,
    engine: Annotated[str, typer.Option("--engine", help="Where the candidate generates: default (its backend), or ray (a Ray Data LLM pipeline: vLLM on the cluster's GPUs for vllm/NAME weights, or Ray's HTTP processor against --base-url). See docs/scale.md.")] = "default",
    ray_address: Annotated[Optional[str], typer.Option("--ray-address", help="Ray cluster for --engine ray and ray/ models (HEAD:6379, or ray://HEAD:10001); default RAY_ADDRESS, else a local Ray instance.")] = None,
    as_json: JsonOpt = False,
    ctx: typer.Context = None,  # type: ignore[assignment]  # typer passes it: which flags were given
) -> None:
    """Run the base model on every scenario, grade each response with the rubric, gate, and write the decision document.

    Exit codes: 0 sufficient (>=70%), 3 fine-tune (50-70%), 4 full pipeline (<50%),
    5 inconclusive (the 95% interval crosses a cut-off), 6 nothing scored, 7 provisional (the judge
    cannot be trusted: tiny, the candidate itself, copied reasons, uniform verdicts, kappa < 0.6),
    8 safety block (a decision-level safety gate is breached: do not deploy), 1 error, 2 usage.
    """
    import asyncio

    from ..errors import ConfigError, UsageError
    from ..run.config import RunConfig, default_judge_temperature
    from .common import parse_options, warn

    if doc.is_dir():
        raise ConfigError(f"--doc {doc} is a directory", hint="Pass the decision document's file path, e.g. --doc docs/base-model-evaluation.md.")
    if until_decisive and scenarios is not None:
        raise UsageError(
            "--until-decisive draws new scenarios from the taxonomy, and --scenarios gives a fixed file that cannot grow",
            hint="Drop --scenarios (keep --taxonomy or --domain), or write more scenarios yourself and run the bigger file into a new --out.",
        )
    from ..run.budget import check_scenario_count

    check_scenario_count(n)
    check_scenario_count(max_scenarios, "--max")
    if max_scenarios != MAX_SCENARIOS_DEFAULT and not until_decisive:
        raise UsageError("--max caps --until-decisive, which is not set", hint="Add --until-decisive, or drop --max (use -n for a fixed number of scenarios).")
    if judge_samples > 1 and judge_temperature == 0:
        warn("--judge-samples > 1 at --judge-temperature 0: the K verdicts will mostly be copies of one, and self-consistency will look perfect.")
    if retry_errors is not None:
        _refuse_ignored_flags_with_retry(ctx)
        given = {
            "candidate": _endpoint_list(base_url, endpoints, "--base-url", "--endpoints"),
            "judge": _endpoint_list(judge_base_url, judge_endpoints, "--judge-base-url", "--judge-endpoints"),
            "user_sim": [{"url": user_sim_base_url, "concurrency": None}] if user_sim_base_url else [],
        }
        config = _config_from_run(retry_errors, given)
        if _given_on_command_line(ctx, "doc"):
            config = config.model_copy(update={"doc": doc})
    else:
        if model is None:
            raise UsageError("no candidate model given", hint="Pass --model, e.g. --model embedded, --model qwen3:8b or --model openai/gpt-4o-mini.")
        from ..models.judge_choice import require_judge

        rubric_path, taxonomy_path = domain_files(domain, rubric, taxonomy)
        if rubric_path is None:
            raise UsageError("no rubric given", hint="Pass --rubric FILE or --domain NAME (bundled packs: see `basesel init --list`).")
        if scenarios is not None and not scenarios.is_file():
            raise ConfigError(f"scenarios file not found: {scenarios}", hint="Generate one with `basesel scenarios`, or pass an existing JSONL file.")
        candidate_urls = _endpoint_list(base_url, endpoints, "--base-url", "--endpoints")
        judge_urls = _endpoint_list(judge_base_url, judge_endpoints, "--judge-base-url", "--judge-endpoints")
        first_url = candidate_urls[0]["url"] if candidate_urls else None
        first_judge_url = judge_urls[0]["url"] if judge_urls else None
        judge = require_judge(judge, model, first_url)  # None: neither --judge nor the settings named one
        model = _engine_spec(model, first_url, engine)
        defaults = _taxonomy_defaults(taxonomy_path)
        if scenarios is not None and system_prompt is None and taxonomy_path is not None:
            # scenarios written elsewhere (e.g. `basesel scenarios --generator`) still run under the domain's system prompt
            system_prompt = defaults.get("system_prompt")
        config = RunConfig(
            model=model,
            judge=judge,
            base_url=first_url,
            judge_base_url=first_judge_url,
            endpoints=candidate_urls if len(candidate_urls) > 1 else [],
            judge_endpoints=judge_urls if len(judge_urls) > 1 else [],
            rubric=rubric_path,
            taxonomy=None if scenarios is not None else taxonomy_path,
            scenarios=scenarios,
            n=n or defaults.get("n") or 50,
            seed=seed,
            system_prompt=system_prompt,
            temperature=temperature if temperature is not None else defaults.get("temperature", 0.7),
            max_tokens=max_tokens or defaults.get("max_tokens") or 1024,
            judge_samples=judge_samples,
            judge_max_tokens=judge_max_tokens,
            judge_temperature=judge_temperature if judge_temperature is not None else default_judge_temperature(judge_samples),
            think=think,
            concurrency=concurrency,
            judge_concurrency=judge_concurrency,
            no_cache=no_cache,
            out=out,
            doc=doc,
            research=research,
            model_options=_with_ray(_with_pull(parse_options(option, "--option"), model, first_url, pull), model, ray_address),
            judge_options=_with_ray(_with_pull(parse_options(judge_option, "--judge-option"), judge, first_judge_url, pull), judge, ray_address),
            turns=turns,
            user_sim=user_sim,
            user_sim_base_url=user_sim_base_url,
            user_sim_options=parse_options(user_sim_option, "--user-sim-option"),
            user_sim_temperature=user_sim_temperature,
            single_turn_too=single_turn,
        )
    from ..report.render import load_research

    load_research(config.research)  # a broken research.json fails now, not after the run
    try:
        run_dir, summary = asyncio.run(_run(config, until_decisive, max_scenarios))
    except KeyboardInterrupt:
        from .common import stderr_console

        stderr_console().print("\nInterrupted. Every finished response and verdict is on disk; run the same command again (same --out) to resume.")
        raise typer.Exit(130) from None
    _finish(run_dir, summary, config, as_json, html=html)


async def _run(config, until_decisive: bool, max_scenarios: int):
    from ..run.baseline import run_baseline
    from .common import stderr_console, warn
    from .progress import run_progress

    from ..run.budget import call_plan

    console = stderr_console()
    console.print(f"candidate: [bold]{config.model}[/]   judge: [bold]{config.judge}[/]")

    def announce(scenarios: int) -> None:
        plan = call_plan(config, scenarios, max_scenarios=max_scenarios if until_decisive else None)
        if plan:
            console.print(plan, markup=False, highlight=False)

    with run_progress(console) as update:
        run_dir, summary = await run_baseline(config, progress=update, until_decisive=until_decisive, max_scenarios=max_scenarios, before_run=announce)
    for w in summary["warnings"]:
        warn(w)
    return run_dir, summary


def _finish(run_dir: Path, summary: dict, config, as_json: bool, *, html: bool = True) -> None:
    from ..errors import ExitCode
    from ..report.render import render_report
    from .common import print_json, stderr_console

    doc_path = render_report(run_dir, config.doc, research=config.research, summary=summary, html=html)
    summary["doc"] = str(doc_path)
    if summary.get("doc_note"):
        from .common import warn

        warn(summary["doc_note"])
    if html:
        from ..report.viewer import default_html_path

        summary["viewer"] = str(default_html_path(doc_path))
    if as_json:
        from .summary_view import show_decision_flags

        show_decision_flags(summary, stderr_console())  # stdout is the JSON; the flags still reach a person
        print_json(summary)
    else:
        from .summary_view import show_summary

        show_summary(summary)
        stderr_console().print(f"\nrun directory: {run_dir}\ndecision document: {doc_path}" + (f"\nrun viewer: {summary['viewer']}" if html else ""))
    code = ExitCode(summary["gate"]["exit_code"])
    if code != ExitCode.SUFFICIENT:
        raise typer.Exit(int(code))


def _endpoint_list(urls: list[str] | None, file: Path | None, url_flag: str, file_flag: str) -> list[dict]:
    """The servers of one model: repeated URL flags, or an endpoints file (not both)."""
    from ..errors import UsageError

    if urls and file is not None:
        raise UsageError(f"{url_flag} and {file_flag} both list servers", hint=f"Put every server in {file}, or drop {file_flag} and repeat {url_flag}.")
    if file is not None:
        from ..run.endpoints import load_endpoints_file

        return [{"url": e.url, "concurrency": e.concurrency} for e in load_endpoints_file(file)]
    # the same URL twice is the same server once (a flag repeated to be sure, or in a wrapper script)
    return [{"url": u, "concurrency": None} for u in dict.fromkeys(urls or [])]


def _engine_spec(model: str, base_url: str | None, engine: str) -> str:
    """--engine ray: the candidate's spec as a Ray Data LLM model (ray/NAME), its weights or its server kept."""
    from ..errors import UsageError
    from ..models.spec import parse_spec

    if engine not in ("default", "ray"):
        raise UsageError(f"unknown --engine '{engine}'", hint="Use --engine default (the model's own backend) or --engine ray (a Ray Data LLM pipeline).")
    if engine == "default":
        return model
    spec = parse_spec(model, base_url)
    if spec.provider == "ray" or (spec.provider == "vllm" and base_url is None) or (spec.provider in ("openai", "vllm") and base_url):
        return f"ray/{spec.name}"  # vllm/NAME with no --base-url: local weights on the cluster's GPUs; with one: Ray's HTTP processor
    raise UsageError(
        f"--engine ray runs vLLM weights (vllm/NAME) or an OpenAI-compatible server (--base-url), not {spec.provider} models",
        hint="Use --model vllm/<HF id or path> for weights on the Ray cluster, or --model openai/NAME --base-url URL; drop --engine ray otherwise.",
    )


def _with_ray(options: dict, spec: str, address: str | None) -> dict:
    """--ray-address becomes the Ray engine's `ray_address` option, for specs that run on Ray."""
    if address and spec.startswith("ray/") and "ray_address" not in options:
        return {**options, "ray_address": address}
    return options


def _with_pull(options: dict, spec: str, base_url: str | None, pull: bool) -> dict:
    """--pull becomes the Ollama backend's `pull` option, for the specs that are Ollama models."""
    if pull and "pull" not in options:
        from ..models.spec import parse_spec

        if parse_spec(spec, base_url).provider == "ollama":
            options = {**options, "pull": True}
    return options


def _taxonomy_defaults(path: Path | None) -> dict:
    if path is None:
        return {}
    from ..scenarios import load_taxonomy

    tax = load_taxonomy(path)
    return tax.defaults.model_dump(exclude_none=True) | ({"system_prompt": tax.system_prompt} if tax.system_prompt else {})


def _config_from_run(run_dir: Path, urls: dict[str, list[dict]]):
    from ..run.config import RunConfig
    from ..run.summary import load_manifest

    manifest = load_manifest(run_dir)
    data = dict(manifest["config"])
    _apply_base_urls(run_dir, manifest, data, urls)
    data["out"] = str(run_dir)
    # Re-use the exact scenarios and system prompt the run used, even if the taxonomy changed since.
    data["scenarios"] = str(run_dir / "scenarios.jsonl")
    data["taxonomy"] = None
    data["system_prompt"] = manifest.get("system_prompt", {}).get("text")
    return RunConfig.model_validate(data)


# What --retry-errors takes beside the run directory: the servers (which may have moved or carried
# credentials), where the document goes, and how results are shown. Everything else is the run's own.
RETRY_FLAGS = {"retry_errors", "base_url", "judge_base_url", "user_sim_base_url", "endpoints", "judge_endpoints", "doc", "html", "as_json", "no_cache"}


def _given_on_command_line(ctx, name: str) -> bool:
    source = ctx.get_parameter_source(name) if ctx is not None else None
    return getattr(source, "name", None) == "COMMANDLINE"  # not a default, basesel.yaml or the environment


def _refuse_ignored_flags_with_retry(ctx) -> None:
    """A flag the retry would silently ignore (the run's settings are its manifest's) is an error."""
    from ..errors import UsageError

    if ctx is None:
        return
    ignored = [p for p in ctx.command.params if p.name not in RETRY_FLAGS and _given_on_command_line(ctx, p.name or "")]
    if ignored:
        flags = ", ".join(p.opts[0] for p in ignored)
        raise UsageError(
            f"--retry-errors re-runs the errored samples with the run's own settings, so {flags} would be ignored",
            hint="Drop them (servers: --base-url, --judge-base-url, --user-sim-base-url, --endpoints, --judge-endpoints may change), "
                 "or start a new run with those settings and a new --out.",
        )


# each model's servers in a run config: its first URL, its list of servers (two or more), the flags naming them
_SERVERS = {
    "candidate": ("base_url", "endpoints", "--base-url (or --endpoints)"),
    "judge": ("judge_base_url", "judge_endpoints", "--judge-base-url (or --judge-endpoints)"),
    "user_sim": ("user_sim_base_url", None, "--user-sim-base-url"),
}


def _apply_base_urls(run_dir: Path, manifest: dict, data: dict, given: dict[str, list[dict]]) -> None:
    """Servers given with --retry-errors replace the run's. A URL whose credentials were removed before
    the manifest was written cannot be rebuilt from it: calling it without them would fail every sample
    (or reach the server unauthenticated), so it must be passed again."""
    from ..errors import ConfigError
    from ..models.spec import check_base_url, redact_url
    from .common import warn

    removed = set(manifest.get("url_credentials_removed") or [])
    missing = []
    for who, (url_field, list_field, flags) in _SERVERS.items():
        servers = given.get(who) or []
        old = [e["url"] for e in data.get(list_field) or []] if list_field else []
        old = old or ([data[url_field]] if data.get(url_field) else [])
        if not servers:
            if removed & {url_field, list_field}:
                missing.append((flags, old))
            continue
        for server in servers:
            check_base_url(server["url"], f" in {flags}")
        new = [redact_url(e["url"]) for e in servers]
        if old and new != old:
            warn(f"{flags.split(' ')[0]} {', '.join(new)} replaces the run's {', '.join(old)} for the retried samples.")
        data[url_field] = servers[0]["url"]
        if list_field:
            data[list_field] = servers if len(servers) > 1 else []
    if missing:
        raise ConfigError(
            f"the run in {run_dir} used {' and '.join(f for f, _ in missing)} with credentials (user:password@ or ?key=), "
            "which basesel never writes to the run directory, so the retry cannot call the servers with them",
            hint=f"Pass the same servers again with their credentials put back in: basesel baseline --retry-errors {run_dir} "
            + " ".join(f"{f.split(' ')[0]} '{url}'" for f, urls in missing for url in urls) + ".",
        )
