"""Opt-in live enrichment (`--online`): Hugging Face model info and search, local Ollama `show`,
and web searches with ddgs. Every part fails soft: an unreachable service becomes a note and the
catalog-only facts stand; nothing here raises to the caller.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .catalog import Catalog
from .scoring import Candidate

HF_EXPAND = ["downloads", "likes", "lastModified", "cardData", "safetensors", "gguf", "siblings", "tags", "gated"]
HF_SEARCH_EXPAND = ["downloads", "likes", "lastModified", "cardData", "safetensors", "gguf", "tags"]
DEFAULT_OLLAMA = "http://127.0.0.1:11434"
MAX_HF_LOOKUPS = 30
MAX_SEARCH_HITS = 10
MAX_WEB_RESULTS = 5


@dataclass
class OnlineReport:
    status: dict[str, str] = field(default_factory=dict)
    """Per service (huggingface, ollama, web): what happened, in one line."""
    notes: list[str] = field(default_factory=list)
    sources: list[dict[str, str]] = field(default_factory=list)
    discovered: list[Candidate] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    hf_api: Any = None
    """The HfApi client once the Hub answered (None when it is unavailable)."""

    def add_source(self, title: str, url: str, query: str) -> None:
        if url and all(s["url"] != url for s in self.sources):
            self.sources.append({"title": title or url, "url": url, "query": query})


def _short_error(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > 160:
        text = text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# ---------------------------------------------------------------------------------------------
# Hugging Face


def _hf_api(endpoint: Optional[str], report: OnlineReport):
    try:
        from huggingface_hub import HfApi, constants
    except ImportError:
        report.status["huggingface"] = "skipped: the huggingface_hub package is not installed (pip install 'basesel[research]')"
        return None
    if constants.is_offline_mode():
        report.status["huggingface"] = "skipped: HF_HUB_OFFLINE is set, so Hugging Face lookups are disabled"
        return None
    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None  # read now: constants froze it at import
    return HfApi(endpoint=endpoint.rstrip("/")) if endpoint else HfApi()


def _http_status(exc: BaseException) -> Optional[int]:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _is_http_error(exc: BaseException) -> bool:
    try:
        from huggingface_hub.errors import HfHubHTTPError
    except ImportError:  # pragma: no cover - huggingface_hub without .errors
        return False
    return isinstance(exc, HfHubHTTPError)


def _card_license(info: Any) -> Optional[str]:
    card = getattr(info, "card_data", None)
    lic = None
    if card is not None:
        lic = getattr(card, "license", None) if not isinstance(card, dict) else card.get("license")
    if isinstance(lic, list):
        lic = lic[0] if lic else None
    if not lic:
        for tag in getattr(info, "tags", None) or []:
            if isinstance(tag, str) and tag.startswith("license:"):
                return tag.split(":", 1)[1]
    return lic


def pick_gguf(files: list[str]) -> Optional[str]:
    """The Q4_K_M file of a GGUF repo (the method's reference quantization), else the first .gguf."""
    ggufs = sorted(f for f in files if f.lower().endswith(".gguf") and "mmproj" not in f.lower())
    if not ggufs:
        return None
    single = [f for f in ggufs if "-of-" not in f] or ggufs
    for pref in ("q4_k_m", "q4_k", "q4_0", "q4"):
        hits = [f for f in single if pref in f.lower()]
        if hits:
            return hits[0]
    return single[0]


def apply_model_info(c: Candidate, info: Any, catalog: Catalog) -> None:
    live = c.live
    live["source"] = "huggingface"
    live["repo"] = getattr(info, "id", c.hf_repo)
    for attr, key in (("downloads", "downloads"), ("likes", "likes")):
        value = getattr(info, attr, None)
        if isinstance(value, int):
            live[key] = value
    modified = getattr(info, "last_modified", None)
    if modified is not None:
        live["last_modified"] = modified.date().isoformat() if hasattr(modified, "date") else str(modified)[:10]
    lic = _card_license(info)
    if lic:
        live["license"] = lic
        live["license_id"] = catalog.licence_from_hf(lic) or lic
    st = getattr(info, "safetensors", None)
    total = getattr(st, "total", None) if st is not None else None
    if isinstance(total, int) and total > 0:
        live["parameters"] = total
    gated = getattr(info, "gated", None)
    if gated is not None:
        live["gated"] = gated
        if c.gated is None and gated:
            c.gated = True
    files = [s.rfilename for s in (getattr(info, "siblings", None) or []) if getattr(s, "rfilename", None)]
    ggufs = [f for f in files if f.lower().endswith(".gguf")]
    if ggufs:
        live["gguf_files"] = ggufs[:20]
        if c.gguf in (None, "none"):
            c.gguf = "official" if c.source == "catalog" else "community"
            c.gguf_repo = c.gguf_repo or c.hf_repo
            c.online_notes.append(f"GGUF files found in {c.hf_repo} on Hugging Face")
        if c.gguf_repo == c.hf_repo and not c.gguf_file:
            c.gguf_file = pick_gguf(ggufs)
    elif getattr(info, "gguf", None) and c.gguf in (None, "none"):
        c.gguf = "community"


class _HfAbort(Exception):
    pass


def _hf_call(fn: Callable[[], Any], report: OnlineReport) -> Any:
    """Run one Hub call. HTTP errors (404, 401) return None; network failures abort all Hub lookups."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - every failure is soft
        if _is_http_error(exc) and _http_status(exc) is not None:
            return None
        report.status["huggingface"] = f"failed: Hugging Face unreachable ({_short_error(exc)}); catalog facts only"
        raise _HfAbort from exc


def hf_enrich(cands: list[Candidate], catalog: Catalog, report: OnlineReport, *, endpoint: Optional[str] = None, timeout: float = 5.0, budget_s: float = 60.0) -> Any:
    """model_info for each candidate's repo. Returns the HfApi (for later calls) or None when unavailable."""
    api = _hf_api(endpoint, report)
    if api is None:
        return None
    start = time.monotonic()
    done = missing = 0
    try:
        for c in cands[:MAX_HF_LOOKUPS]:
            if not c.hf_repo:
                continue
            if time.monotonic() - start > budget_s:
                report.notes.append(f"Hugging Face: stopped after {budget_s:.0f} s; {done} of {len(cands)} models enriched")
                break
            info = _hf_call(lambda c=c: api.model_info(c.hf_repo, expand=HF_EXPAND, timeout=timeout), report)
            if info is None:
                missing += 1
                c.online_notes.append(f"{c.hf_repo}: not found or not readable on Hugging Face")
                continue
            apply_model_info(c, info, catalog)
            done += 1
    except _HfAbort:
        return None
    report.status["huggingface"] = f"ok: {done} model{'s' if done != 1 else ''} enriched" + (f", {missing} not found" if missing else "")
    return api


def _list_models(api: Any, timeout: float, **params: Any) -> list[Any]:
    """GET /api/models once, with a timeout and no retries (HfApi.list_models retries with backoff for
    tens of seconds when the network is down)."""
    from huggingface_hub import ModelInfo
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    response = get_session().get(f"{api.endpoint}/api/models", params=params, headers=build_hf_headers(), timeout=timeout)
    hf_raise_for_status(response)
    return [ModelInfo(**item) for item in response.json()]


def hf_find_gguf(api: Any, cands: list[Candidate], report: OnlineReport, *, timeout: float = 5.0, limit: int = 10) -> None:
    """Look for GGUF repos named after each model: for models whose GGUF availability is unknown, and
    for picks known to have GGUF builds but no recorded repo (so the pull command can name a file)."""
    if api is None:
        return
    try:
        for c in [c for c in cands if c.source == "catalog" and not c.gguf_repo and c.gguf != "none"][:limit]:
            hits = _hf_call(lambda c=c: _list_models(api, timeout, search=c.model, filter="gguf", sort="downloads", limit=3), report)
            if hits:
                c.gguf = c.gguf or "community"
                c.gguf_repo = hits[0].id
                c.online_notes.append(f"GGUF build found on Hugging Face: {hits[0].id}")
    except _HfAbort:
        return


def hf_resolve_files(api: Any, cands: list[Candidate], report: OnlineReport, *, timeout: float = 5.0) -> None:
    """Pick the Q4_K_M file of each candidate's GGUF repo, so the pull command names a real file."""
    if api is None:
        return
    try:
        for c in cands:
            if not c.gguf_repo or c.gguf_file:
                continue
            info = _hf_call(lambda c=c: api.model_info(c.gguf_repo, expand=["siblings"], timeout=timeout), report)
            if info is None:
                continue
            files = [s.rfilename for s in (getattr(info, "siblings", None) or [])]
            c.gguf_file = pick_gguf(files)
            if c.gguf_file:
                c.online_notes.append(f"GGUF file {c.gguf_file} in {c.gguf_repo}")
    except _HfAbort:
        return


def hf_search(api: Any, terms: list[str], known_repos: set[str], catalog: Catalog, report: OnlineReport, *, timeout: float = 5.0) -> None:
    """`--search TEXT`: Hub models beyond the catalog (domain fine-tunes, say), most downloaded first."""
    if api is None:
        if terms:
            report.notes.append("--search skipped: Hugging Face is not available")
        return
    try:
        for term in terms:
            hits = _hf_call(
                lambda term=term: _list_models(api, timeout, search=term, pipeline_tag="text-generation", sort="downloads", limit=MAX_SEARCH_HITS, expand=HF_SEARCH_EXPAND),
                report,
            )
            found = 0
            for info in hits or []:
                repo = getattr(info, "id", None)
                if not repo or repo.lower() in known_repos:
                    continue
                known_repos.add(repo.lower())
                report.discovered.append(discovered_candidate(info, term, catalog))
                found += 1
            report.notes.append(f"Hugging Face search '{term}': {found} model{'s' if found != 1 else ''} beyond the catalog")
    except _HfAbort:
        return


def discovered_candidate(info: Any, term: str, catalog: Catalog) -> Candidate:
    repo = info.id
    author, _, name = repo.partition("/")
    c = Candidate(id=repo.lower(), family=author or repo, model=repo, params="?", params_b=None, focus=None, hf_repo=repo, source="hf-search", found_by=term)
    apply_model_info(c, info, catalog)
    if c.live.get("parameters"):
        c.params_b = round(c.live["parameters"] / 1e9, 2)
        c.params = f"{c.params_b:g}B"
    lic = c.live.get("license")
    if lic:
        c.license = catalog.licence_from_hf(lic) or str(lic)
    tags = [t for t in (getattr(info, "tags", None) or []) if isinstance(t, str)]
    if "gguf" in tags and c.gguf is None:
        c.gguf = "community"
        c.gguf_repo = repo
    if "gguf" in tags and "safetensors" not in tags and not c.live.get("parameters"):
        c.weights = "gguf-only"  # a GGUF conversion: training needs its base repo, or transformers' GGUF loader
    known = catalog.finetune.architectures if catalog.finetune else {}
    c.arch = next((t for t in tags if t in known), None)  # the Hub tags a repo with its model_type
    c.notes = "Hugging Face search hit: facts from the Hub, focus and domain fit unknown"
    return c


# ---------------------------------------------------------------------------------------------
# Ollama (local server)


def ollama_url(explicit: Optional[str] = None) -> str:
    """--ollama-url, else OLLAMA_HOST (as the ollama CLI reads it), else http://127.0.0.1:11434."""
    raw = (explicit or os.environ.get("OLLAMA_HOST") or DEFAULT_OLLAMA).strip().rstrip("/")
    if "://" not in raw:
        raw = "http://" + raw
    try:
        parsed = urllib.parse.urlparse(raw)
        host = parsed.hostname or "127.0.0.1"
        port = parsed.port or 11434
    except ValueError as exc:  # "Port out of range", an unclosed "[" ...
        raise ValueError(f"not a usable Ollama URL {raw!r} ({exc})") from exc
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"{parsed.scheme}://{host}:{port}"


# What a wrong or half-working server can raise: refused, timed out, not HTTP, not JSON.
_HTTP_ERRORS = (OSError, ValueError, urllib.error.URLError, http.client.HTTPException)


def _http_json(url: str, payload: Optional[dict] = None, timeout: float = 2.0) -> Any:
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {}, method="POST" if data else "GET")
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - a user-given local URL
        return json.loads(resp.read().decode("utf-8"))


def _tag_variants(tag: str) -> set[str]:
    return {tag, f"{tag}:latest"} if ":" not in tag else {tag}


def ollama_enrich(cands: list[Candidate], report: OnlineReport, *, url: Optional[str] = None, timeout: float = 2.0) -> None:
    """`show` for catalog tags already pulled on the local Ollama server: quantization, size, context."""
    try:
        base = ollama_url(url)
    except ValueError as exc:
        report.status["ollama"] = f"skipped: {exc}; set --ollama-url (or OLLAMA_HOST) to e.g. http://127.0.0.1:11434"
        return
    try:
        tags = _http_json(f"{base}/api/tags", timeout=timeout)
    except _HTTP_ERRORS as exc:
        report.status["ollama"] = f"skipped: no Ollama server answered at {base} ({_short_error(exc)})"
        return
    models = tags.get("models") if isinstance(tags, dict) else None
    if not isinstance(models, list):
        report.status["ollama"] = f"skipped: {base}/api/tags did not answer like Ollama (no list of models)"
        return
    pulled: set[str] = set()
    for m in models:
        if not isinstance(m, dict):
            continue
        for key in ("name", "model"):
            if isinstance(m.get(key), str):
                pulled.add(m[key])
    matched = 0
    for c in cands:
        if not c.ollama:
            continue
        hits = sorted(_tag_variants(c.ollama) & pulled)
        if not hits:
            continue
        tag = hits[0]
        try:
            show = _http_json(f"{base}/api/show", {"model": tag}, timeout=max(timeout, 5.0))
        except _HTTP_ERRORS as exc:
            c.online_notes.append(f"Ollama show {tag} failed: {_short_error(exc)}")
            continue
        if not isinstance(show, dict):
            c.online_notes.append(f"Ollama show {tag} answered something other than a JSON object: ignored")
            continue
        details = show.get("details") if isinstance(show.get("details"), dict) else {}
        info = show.get("model_info") if isinstance(show.get("model_info"), dict) else {}
        local: dict[str, Any] = {"tag": tag, "parameter_size": details.get("parameter_size"), "quantization": details.get("quantization_level"), "family": details.get("family")}
        ctx = next((v for k, v in info.items() if k.endswith(".context_length") and isinstance(v, int)), None)
        if ctx:
            local["context_length"] = ctx
        if isinstance(info.get("general.parameter_count"), int):
            local["parameter_count"] = info["general.parameter_count"]
        lic = show.get("license")
        if isinstance(lic, str) and lic.strip():
            local["license_first_line"] = lic.strip().splitlines()[0][:120]
        c.local = local
        matched += 1
    report.status["ollama"] = f"ok: {base} answered; {len(pulled)} tag{'s' if len(pulled) != 1 else ''} pulled, {matched} match catalog candidates"


# ---------------------------------------------------------------------------------------------
# web search (ddgs)


def web_queries(size_label: Optional[str], topic: str, capability: str, families: list[str], year: int) -> list[str]:
    """The method's search patterns, filled in."""
    size = size_label.replace(" ", "") if size_label else "small"
    parts = [
        " ".join(p for p in ("best", size, "parameter LLM", str(year), topic) if p),
        " ".join(p for p in ("open source LLM", topic, "fine-tuned", str(year)) if p) if topic else None,
        f"best LLM for {capability} {year}",
    ]
    if len(families) >= 2:
        parts.insert(1, f"{families[0]} vs {families[1]} comparison {year}")
    return [p for p in parts if p]


def web_search(queries: list[str], report: OnlineReport, *, timeout: int = 5, max_results: int = MAX_WEB_RESULTS) -> None:
    report.queries = list(queries)
    try:
        from ddgs import DDGS
    except ImportError:
        report.status["web"] = "skipped: the ddgs package is not installed (pip install 'basesel[research]')"
        return
    ok = failed = 0
    last_error = ""
    try:
        client = DDGS(timeout=timeout)
    except Exception as exc:  # noqa: BLE001
        report.status["web"] = f"failed: web search unavailable ({_short_error(exc)}); catalog facts only"
        return
    for query in queries:
        try:
            results = client.text(query, max_results=max_results)
        except Exception as exc:  # noqa: BLE001 - ddgs raises DDGSException subclasses, and network errors
            failed += 1
            last_error = _short_error(exc)
            if "no results" in str(exc).lower():
                continue
            if ok == 0:
                break  # the first query failed for a reason other than "no results": offline, blocked
            continue
        ok += 1
        for r in results or []:
            if isinstance(r, dict):
                report.add_source(str(r.get("title") or ""), str(r.get("href") or r.get("url") or ""), query)
    if ok:
        report.status["web"] = f"ok: {ok} of {len(queries)} searches answered, {len(report.sources)} sources kept" + (f" ({failed} failed: {last_error})" if failed else "")
    else:
        report.status["web"] = f"failed: web search unavailable ({last_error or 'no results'}); catalog facts only"
