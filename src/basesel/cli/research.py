"""`basesel research`: rank every viable base model for a size and domain; pick a primary and a backup."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

DOMAINS_HELP = "therapeutic, coding, math, creative, factual, support, custom (aliases such as empathy, code, logic, writing, qa accepted)"


def research(
    domain: Annotated[str, typer.Option("--domain", "-d", help=f"Target domain: {DOMAINS_HELP}. Drives the 1-5 star domain fit from the method's prefer/avoid table.")] = "custom",
    size: Annotated[Optional[str], typer.Option("--size", help="Parameter range, e.g. 7-10B, 1-4B, 500M-2B, '<=4B', '>=14B', or 8B (about 8B, ±25%).")] = None,
    min_params: Annotated[Optional[str], typer.Option("--min-params", help="Smallest model, e.g. 7B or 500M (instead of --size).")] = None,
    max_params: Annotated[Optional[str], typer.Option("--max-params", help="Largest model, e.g. 10B (instead of --size).")] = None,
    context: Annotated[Optional[str], typer.Option("--context", help="Context needed, in tokens: 8192, 8k, 128K. Models that cannot fit it, or whose context is not confirmed, are excluded; fitting only with rope scaling costs points.")] = None,
    turns: Annotated[Optional[int], typer.Option("--turns", min=1, help="Longest conversation in turns; context needed = turns x 2 x 200 tokens (the method's rule).")] = None,
    license: Annotated[str, typer.Option("--license", help="any | commercial (commercial use allowed, conditions may apply) | permissive (no conditions).")] = "any",
    gguf: Annotated[bool, typer.Option("--gguf", help="Require a known GGUF build (llama.cpp / LM Studio).")] = False,
    ollama: Annotated[bool, typer.Option("--ollama", help="Require a known Ollama tag.")] = False,
    top: Annotated[int, typer.Option("--top", min=1, help="Ranked candidates to show and save (the method suggests 8-12).")] = 10,
    online: Annotated[bool, typer.Option("--online", help="Enrich from the network: Hugging Face model info, local Ollama `show`, ddgs web searches. Failures fall back to the catalog with a note.")] = False,
    search: Annotated[Optional[list[str]], typer.Option("--search", help="With --online: search Hugging Face for models beyond the catalog (repeatable), e.g. --search 'therapy llama'.")] = None,
    ollama_url: Annotated[Optional[str], typer.Option("--ollama-url", help="Local Ollama server for --online (default: OLLAMA_HOST, else http://127.0.0.1:11434).")] = None,
    topic: Annotated[Optional[str], typer.Option("--topic", help="What your project is about, e.g. 'legal contract review': used in the --online web searches (needed with --domain custom).")] = None,
    explain: Annotated[Optional[str], typer.Option("--explain", help="Print every factor for one model (catalog id, model name, HF repo or Ollama tag) and exit; writes nothing.")] = None,
    catalog: Annotated[Optional[Path], typer.Option("--catalog", help="Use this catalog YAML instead of the bundled one (same format as configs/catalog.yaml).")] = None,
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where to write research.json and research.md (baseline's decision document reads ./research.json).")] = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print research.json (or the --explain record) on stdout.")] = False,
) -> None:
    """Research candidates (the method's Step 1): filter, score and rank open-weight models for a size and
    domain, pick a primary and a backup, and write research.json + research.md for the decision document.

    Offline by default (the built-in catalog); --online adds live Hugging Face, Ollama and web data.
    """
    from ..errors import ConfigError, UsageError
    from ..research import Query, context_from_turns, find_candidate, parse_params, parse_size, parse_tokens, run_research
    from ..research import output
    from .common import print_json, stdout_console, warn

    for flag, value in (("--size", size), ("--min-params", min_params), ("--max-params", max_params), ("--context", context), ("--explain", explain), ("--ollama-url", ollama_url), ("--topic", topic)):
        if value is not None and not value.strip():
            raise ConfigError(f"{flag} was given an empty value", hint=f"Give {flag} a value, or leave the option out.")
    if ollama_url is not None:
        from ..research.enrich import ollama_url as normalize_ollama_url

        try:
            normalize_ollama_url(ollama_url)
        except ValueError as exc:
            raise ConfigError(str(exc), hint="Pass --ollama-url as http://HOST:PORT, e.g. http://127.0.0.1:11434.") from exc
    if size and (min_params or max_params):
        raise UsageError("--size cannot be combined with --min-params / --max-params", hint="Use one: --size 7-10B, or --min-params 7B --max-params 10B.")
    if context and turns:
        raise UsageError("--context and --turns both set the context needed", hint="Pass one: --turns 10 (= 10 x 2 x 200 = 4,000 tokens) or --context 4k.")
    if search and not online:
        raise UsageError("--search looks models up on Hugging Face and needs --online", hint="Add --online, e.g. basesel research --online --search 'therapy'.")
    lo, hi = parse_size(size) if size else (None, None)
    if min_params:
        lo = parse_params(min_params, "--min-params")
    if max_params:
        hi = parse_params(max_params, "--max-params")
    needed = parse_tokens(context) if context else (context_from_turns(turns) if turns else None)
    query = Query(
        domain=domain,
        min_params_b=lo,
        max_params_b=hi,
        context_needed=needed,
        turns=turns,
        license=license.strip().lower(),
        gguf=gguf,
        ollama=ollama,
        top=top,
        online=online,
        search=[s for s in (search or []) if s.strip()],
        topic=topic.strip() if topic else None,
    )
    result = run_research(query, catalog_file=catalog, ollama_url=ollama_url)
    for message in result.warnings:
        warn(message)

    if explain:
        scored = find_candidate(result, explain)
        if as_json:
            print_json(output.explain_json(scored, result))
        else:
            output.explain(scored, result, stdout_console())
        return

    try:
        json_path, md_path, data = output.write(result, out_dir)
    except OSError as exc:
        raise ConfigError(f"cannot write research.json / research.md into {out_dir}: {exc.strerror or exc}", hint="Pass --out-dir a directory you can write to (it is created when missing).") from exc
    if as_json:
        print_json(data)
        return
    console = stdout_console()
    output.print_table(result, data, console)
    console.print(f"\nwrote {json_path} and {md_path}; `basesel baseline` run from {out_dir if str(out_dir) != '.' else 'this directory'} adds the comparison to its decision document.")


def register(app: typer.Typer) -> None:
    app.command("research")(research)
