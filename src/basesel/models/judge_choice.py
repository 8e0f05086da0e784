"""The judge is a deliberate choice. Without one named (by `--judge`, or by the project settings file,
which resolve before this is called), the embedded 135M model may judge only the embedded candidate
(the demo); any other candidate gets a usage error listing the judges that are reachable right now,
found the way `basesel models` finds them."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from ..errors import UsageError
from .spec import DEFAULT_VLLM_URL, parse_spec, redact_url
from .status import _get_json, _installed

EMBEDDED = "embedded"


def require_judge(judge: str | None, candidate: str, candidate_base_url: str | None = None) -> str:
    """The judge spec to use. `judge`: the resolved spec (None when neither a flag nor the settings
    named one). Raises UsageError (exit 2) for a non-embedded candidate with no judge."""
    if judge:
        return judge
    if parse_spec(candidate, candidate_base_url).provider == "embedded":
        return EMBEDDED  # the demo: the embedded model grades itself, and the decision says provisional
    found = reachable_judges(candidate_base_url)
    listing = "; ".join(found) if found else "none found (no Ollama or vLLM server answered, and no OPENAI_API_KEY or ANTHROPIC_API_KEY is set)"
    raise UsageError(
        f"no judge given for candidate '{candidate}': the judge decides every pass, so it must be chosen, not defaulted",
        hint=(
            f"Pass --judge SPEC with a model stronger than the candidate (and --judge-base-url for a server). Reachable now: {listing}. "
            "`basesel models` shows every provider; `--judge embedded` (a 135M model) only makes a provisional smoke test."
        ),
    )


def reachable_judges(candidate_base_url: str | None = None) -> list[str]:
    """Judge specs that would work now: models served by a reachable Ollama or vLLM server (or the
    candidate's own OpenAI-compatible server), and API providers whose key is set. Probes run in parallel
    with `basesel models`' short timeout."""
    from .ollama import ollama_host

    probes = {"ollama": f"{ollama_host(None)}/api/tags", "vllm": f"{DEFAULT_VLLM_URL}/models"}
    if candidate_base_url and candidate_base_url.rstrip("/") != DEFAULT_VLLM_URL:
        probes["server"] = f"{candidate_base_url.rstrip('/')}/models"

    def probe(url: str):
        try:
            return _get_json(url)
        except Exception:  # noqa: BLE001 - unreachable: simply not listed
            return None

    with ThreadPoolExecutor(max_workers=len(probes)) as pool:
        answers = dict(zip(probes, pool.map(probe, probes.values())))
    found: list[str] = []
    if isinstance(answers.get("ollama"), dict) and _installed("ollama"):
        found += [f"ollama/{m.get('model') or m.get('name')}" for m in answers["ollama"].get("models", []) if m.get("model") or m.get("name")]
    if isinstance(answers.get("vllm"), dict) and _installed("openai"):
        found += [f"vllm/{m.get('id')}" for m in answers["vllm"].get("data", []) if m.get("id")]
    if isinstance(answers.get("server"), dict) and _installed("openai"):
        url = redact_url(candidate_base_url)
        found += [f"openai/{m.get('id')} --judge-base-url {url}" for m in answers["server"].get("data", []) if m.get("id")]
    if os.environ.get("OPENAI_API_KEY") and _installed("openai"):
        found.append("openai/gpt-4o-mini")
    if os.environ.get("ANTHROPIC_API_KEY") and _installed("anthropic"):
        found.append("anthropic/claude-3-5-haiku-latest")
    return found[:12]
