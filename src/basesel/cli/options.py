"""Option definitions shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Candidate model: embedded | qwen3:8b (Ollama) | ollama/TAG | llamacpp/FILE.gguf | openai/NAME | vllm/NAME | anthropic/NAME.")]
JudgeOpt = Annotated[Optional[str], typer.Option("--judge", help="Judge model spec (same forms as --model), stronger than the candidate. Required unless the candidate is `embedded` (the demo, judged by itself: provisional); without it the error lists the judges reachable now.")]
BaseUrlOpt = Annotated[Optional[str], typer.Option("--base-url", help="Candidate server URL: any OpenAI-compatible /v1 endpoint (openai/NAME), or the Ollama host.")]
JudgeBaseUrlOpt = Annotated[Optional[str], typer.Option("--judge-base-url", help="Judge server URL (OpenAI-compatible /v1 endpoint or Ollama host).")]
BaseUrlsOpt = Annotated[Optional[list[str]], typer.Option("--base-url", help="Candidate server URL: any OpenAI-compatible /v1 endpoint (openai/NAME), or the Ollama host. Repeat it for several servers of the same model: calls go to the least busy, a failing one is drained and retried elsewhere.")]
JudgeBaseUrlsOpt = Annotated[Optional[list[str]], typer.Option("--judge-base-url", help="Judge server URL (OpenAI-compatible /v1 endpoint or Ollama host); repeatable, as --base-url.")]
EndpointsOpt = Annotated[Optional[Path], typer.Option("--endpoints", help="YAML list of the candidate's servers, each a URL or {url, concurrency} (instead of repeating --base-url).")]
JudgeEndpointsOpt = Annotated[Optional[Path], typer.Option("--judge-endpoints", help="YAML list of the judge's servers, as --endpoints.")]
DomainOpt = Annotated[Optional[str], typer.Option("--domain", "-d", help="Domain pack (rubric + taxonomy + system prompt): support, coaching, coding, factual-qa, creative-writing, medical. A project copy from `basesel init` (./rubrics/NAME.yaml) wins over the bundled one. Explicit flags override it.")]
RubricOpt = Annotated[Optional[Path], typer.Option("--rubric", "-r", help="Rubric YAML (a path, or a bundled name).")]
TaxonomyOpt = Annotated[Optional[Path], typer.Option("--taxonomy", "-t", help="Taxonomy YAML to generate scenarios from (a path, or a bundled name).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for scenario sampling and model calls.")]
NOpt = Annotated[Optional[int], typer.Option("-n", "--n", min=1, help="Number of scenarios (default 50, or the domain pack's).")]
JudgeMaxTokensOpt = Annotated[int, typer.Option("--judge-max-tokens", min=16, help="Token limit of each judge reply (default 1024). Raise it for a long rubric or a thinking judge: a cut-off verdict cannot be read.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
OptionOpt = Annotated[Optional[list[str]], typer.Option("--option", "-o", help="Backend option key=value for the candidate (repeatable), e.g. n_ctx=8192, num_ctx=8192, timeout=60.")]
JudgeOptionOpt = Annotated[Optional[list[str]], typer.Option("--judge-option", help="Backend option key=value for the judge (repeatable).")]


def domain_files(domain: str | None, rubric: Path | None, taxonomy: Path | None) -> tuple[Path | None, Path | None]:
    """Resolve --domain into rubric/taxonomy paths; explicit --rubric/--taxonomy win."""
    from ..paths import resolve_data_file

    rubric_path = resolve_data_file(rubric, "rubrics") if rubric is not None else None
    taxonomy_path = resolve_data_file(taxonomy, "taxonomies") if taxonomy is not None else None
    if domain:
        from ..domains import domain_paths

        pack_rubric, pack_taxonomy = domain_paths(domain)  # the project's copies (basesel init) win
        rubric_path = rubric_path or pack_rubric
        taxonomy_path = taxonomy_path or pack_taxonomy
    return rubric_path, taxonomy_path
