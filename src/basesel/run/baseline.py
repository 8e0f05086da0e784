"""The baseline pipeline: scenarios -> candidate responses -> checks + judge -> assessments -> summary.

Records are appended to the run directory as they finish; a re-run (same --out) resumes, and the
shared response cache makes a fresh run directory cost no model calls for work already done.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .. import __version__
from ..errors import ConfigError
from ..models import ChatModel, GenerationParams, Message, split_thinking
from ..models.base import rough_token_count
from ..models.spec import redact_url
from ..paths import cache_dir
from ..rubric import Rubric, load_rubric
from ..rubric.scoring import assess
from ..rubric.turns import check_turns, conversation_turns, split_criteria, user_text
from ..scenarios import Scenario, load_scenarios, load_taxonomy, write_scenarios
from ..scenarios.generate import generate
from ..scenarios.model import scenarios_hash
from .cache import ResponseCache
from .config import RunConfig
from .executor import Executor, RetryPolicy
from .conversation import graded
from .judging import CALL_FAILED, judge_verdicts
from .safety import gate_specs
from .files import JsonlAppender, atomic_write_json, blocking_file, ensure_dir, read_json_object, read_jsonl

MANIFEST = "manifest.json"
RESPONSES = "responses.jsonl"
ASSESSMENTS = "assessments.jsonl"
SUMMARY = "summary.json"
SCENARIOS = "scenarios.jsonl"
GROWTH = "growth.json"
JUDGE_REPLIES = "judge-replies.jsonl"  # judge replies that could not be read, for diagnosis
ENDPOINTS = "endpoints.json"


@dataclass
class Prepared:
    config: RunConfig
    rubric: Rubric
    scenarios: list[Scenario]
    system_prompt: str | None
    warnings: list[str] = field(default_factory=list)
    taxonomy_sha256: str | None = None
    taxonomy: Any = None


def read_system_prompt(value: str | None) -> str | None:
    """--system-prompt takes text or a path to a file holding it."""
    if value is None:
        return None
    candidate = Path(value).expanduser()
    if len(value) < 4096 and "\n" not in value and candidate.suffix in (".txt", ".md") :
        if not candidate.is_file():
            raise ConfigError(f"system prompt file not found: {value}", hint="Pass the prompt text itself, or an existing .txt/.md file.")
        from ..yamlio import read_text

        return read_text(candidate, "system prompt file").strip()
    return value


def prepare(config: RunConfig) -> Prepared:
    rubric = load_rubric(config.rubric)
    warnings: list[str] = []
    taxonomy_sha = None
    prepared_taxonomy = None
    system_prompt = read_system_prompt(config.system_prompt)
    from .growth import distinct, repeated_inputs

    if config.scenarios is not None:
        scenarios = load_scenarios(config.scenarios)
        repeats = repeated_inputs(scenarios)
        if repeats:
            warnings.append(
                f"{repeats} scenarios in {config.scenarios} repeat the input of an earlier one: each repeat is counted as separate evidence "
                "by the interval; remove them for a pass rate over distinct inputs"
            )
    elif config.taxonomy is not None:
        taxonomy = load_taxonomy(config.taxonomy)
        taxonomy_sha = taxonomy.source_sha256
        warnings += taxonomy.warnings
        scenarios, plan = generate(taxonomy, config.n, config.seed)
        warnings += plan.warnings
        scenarios, dropped = distinct(scenarios, set())  # evidence counted once: one scenario per distinct input
        if dropped:
            warnings.append(f"{dropped} generated scenarios repeated an input already drawn and were dropped: the taxonomy yields {len(scenarios)} distinct inputs for -n {config.n}")
        if system_prompt is None:
            system_prompt = taxonomy.system_prompt
        prepared_taxonomy = taxonomy
    else:
        raise ConfigError("no scenarios to run", hint="Pass --taxonomy FILE (scenarios are generated) or --scenarios FILE (JSONL), or --domain NAME.")
    # The same prompt from a file, a flag or the taxonomy must hash to the same cache key: no stray whitespace.
    system_prompt = (system_prompt or "").strip() or None
    if not rubric.judged_criteria:
        warnings.append("the rubric has no judged (llm) criteria: only deterministic checks are applied")
    from ..scenarios.coverage import gate_coverage_warnings

    warnings += gate_coverage_warnings(rubric, scenarios)
    return Prepared(config, rubric, scenarios, system_prompt, warnings, taxonomy_sha, prepared_taxonomy)


def default_run_dir(model: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", model).strip("-")[:60]
    return Path("runs") / f"{stamp}-{slug}"


def sha256_text(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_tiny(identity_facts: dict[str, Any], name: str) -> bool:
    params = identity_facts.get("parameters")
    if isinstance(params, (int, float)) and params > 0:
        return params < 3e9
    m = re.search(r"(\d+(?:\.\d+)?)\s*([mb])\b", name.lower().replace("-", " ").replace(":", " "))
    if m:
        value = float(m.group(1)) * (1e6 if m.group(2) == "m" else 1e9)
        return value < 3e9
    return False


class BaselineRun:
    """One baseline run bound to a run directory."""

    def __init__(self, prepared: Prepared, run_dir: Path, *, progress: Callable[[str, int, int], None] | None = None):
        self.p = prepared
        self.cfg = prepared.config
        self.run_dir = run_dir
        self.progress = progress or (lambda stage, done, total: None)
        self.executor = Executor(ResponseCache(cache_dir(), enabled=not self.cfg.no_cache), RetryPolicy())
        self.candidate: ChatModel | None = None
        self.judge: ChatModel | None = None
        self.raw_out: JsonlAppender | None = None
        self.reused: dict[str, int] = {"answers": 0, "verdicts": 0}
        from .multiturn import MultiTurnStage

        self.multi = MultiTurnStage(self)  # inactive for single-turn runs

    # -- set-up ----------------------------------------------------------------------------------
    def _params(self) -> GenerationParams:
        return GenerationParams(temperature=self.cfg.temperature, max_tokens=self.cfg.max_tokens, seed=self.cfg.seed, think=self.cfg.think)

    def _judge_params(self, attempt_seed: int) -> GenerationParams:
        return GenerationParams(temperature=self.cfg.judge_temperature, max_tokens=self.cfg.judge_max_tokens, seed=attempt_seed, think=False if self.cfg.think is False else None)

    def manifest(self) -> dict[str, Any]:
        assert self.candidate is not None and self.judge is not None
        cfg = self.cfg.model_dump(mode="json")
        cfg["base_url"], cfg["judge_base_url"] = redact_url(cfg["base_url"]), redact_url(cfg["judge_base_url"])
        for key in ("endpoints", "judge_endpoints"):
            cfg[key] = [{**e, "url": redact_url(e["url"])} for e in cfg.get(key, [])]
        cfg["user_sim_base_url"] = redact_url(cfg.get("user_sim_base_url"))
        return {
            "basesel_version": __version__,
            "python": sys.version.split()[0],
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "config": cfg,
            "candidate": self.candidate.identity.to_dict(),
            "judge": self.judge.identity.to_dict(),
            "rubric": {
                "id": self.p.rubric.id, "version": self.p.rubric.version, "path": str(self.cfg.rubric), "sha256": self.p.rubric.source_sha256,
                "decision_gates": gate_specs(self.p.rubric),
                # what reports need without the rubric file: names, categories and weights (run/breakdown.py)
                "criteria": [{"id": c.id, "name": c.name, "category": c.category or "general", "weight": c.weight, "critical": c.critical} for c in self.p.rubric.criteria],
                "category_weights": dict(self.p.rubric.pass_rule.category_weights),
            },
            "taxonomy": {"path": str(self.cfg.taxonomy) if self.cfg.taxonomy else None, "sha256": self.p.taxonomy_sha256},
            "scenarios": {"count": len(self.p.scenarios), "sha256": scenarios_hash(self.p.scenarios), "source": str(self.cfg.scenarios) if self.cfg.scenarios else "generated"},
            "system_prompt": {"sha256": sha256_text(self.p.system_prompt), "text": self.p.system_prompt},
            "warnings": self.p.warnings,
            **self.multi.manifest_part(),
        }

    def _check_resumable(self, manifest: dict[str, Any]) -> None:
        old_path = self.run_dir / MANIFEST
        if not old_path.exists():
            return
        from .summary import load_manifest

        old = load_manifest(self.run_dir)  # a damaged one is a ConfigError naming it
        same = (
            old.get("candidate", {}).get("digest") == manifest["candidate"]["digest"]
            and old.get("candidate", {}).get("name") == manifest["candidate"]["name"]
            and (old.get("candidate", {}).get("adapter") or {}).get("sha256") == (manifest["candidate"].get("adapter") or {}).get("sha256")
            and old.get("rubric", {}).get("sha256") == manifest["rubric"]["sha256"]
            # the same scenarios, or the same ones plus more (a sample grown by --until-decisive)
            and (old.get("scenarios", {}).get("sha256") == manifest["scenarios"]["sha256"] or self._extends_old_scenarios())
            and self.multi.same_run(old, manifest)
        )
        if not same:
            raise ConfigError(
                f"run directory {self.run_dir} holds a different run (another model, rubric or scenario set)",
                hint="Use a new --out directory, or the same flags as that run to resume it.",
            )
        manifest["created"] = old.get("created", manifest["created"])
        manifest["resumed"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")

    def _extends_old_scenarios(self) -> bool:
        """The run directory's scenarios are the first of this run's (streamed: one record at a time)."""
        count = 0
        for count, old in enumerate(read_jsonl(self.run_dir / SCENARIOS), start=1):
            if count > len(self.p.scenarios) or self.p.scenarios[count - 1].to_dict() != old:
                return False
        return True

    def _resume_state(self) -> tuple[set[tuple[str, int]], dict[tuple[str, int], dict[str, Any]], set[tuple[str, int]]]:
        """What a resumed run keeps, read record by record (never the whole files): the samples assessed
        for good, the graded answers still waiting for their verdict, and every sample with a graded answer.

        A verdict that could not be obtained (unreadable, or the judge's server failed) is judged again
        on every run of this --out and by --retry-errors: unreadable replies are never cached."""
        settled: dict[tuple[str, int], bool] = {}  # the latest assessment of each sample: is it final?
        for r in read_jsonl(self.run_dir / ASSESSMENTS):
            settled[(r["scenario_id"], r["sample"])] = bool(r.get("scored") and not r.get("judge_failed") and not r.get("judge_error"))
        done = {key for key, final in settled.items() if final}
        del settled
        waiting: dict[tuple[str, int], dict[str, Any]] = {}
        answered: set[tuple[str, int]] = set()
        for r in read_jsonl(self.run_dir / RESPONSES):
            if graded(r):
                key = (r["scenario_id"], r["sample"])
                answered.add(key)
                if key not in done:
                    waiting[key] = r
        return done, waiting, answered

    async def _open_models(self) -> None:
        from .endpoints import EndpointSpec, open_model

        cfg = self.cfg
        servers = [EndpointSpec(e.url, e.concurrency) for e in cfg.endpoints]
        self.candidate = open_model(cfg.model, cfg.base_url, servers, cfg.model_options)
        if cfg.judge == cfg.model and cfg.judge_base_url == cfg.base_url and cfg.judge_options == cfg.model_options and cfg.judge_endpoints == cfg.endpoints:
            self.judge = self.candidate
        else:
            self.judge = open_model(cfg.judge, cfg.judge_base_url, [EndpointSpec(e.url, e.concurrency) for e in cfg.judge_endpoints], cfg.judge_options)
        for model in {id(self.candidate): self.candidate, id(self.judge): self.judge}.values():
            describe = getattr(model, "describe", None)  # backends whose identity comes from the server
            if describe is not None:
                await describe()
        self.executor.set_limit(self.candidate, self.cfg.concurrency)
        if self.judge is not self.candidate:
            self.executor.set_limit(self.judge, self.cfg.judge_concurrency or self.cfg.concurrency)
        await self.multi.open()

    # -- one scenario ----------------------------------------------------------------------------
    def _messages(self, scenario: Scenario) -> list[Message]:
        msgs = [Message("system", self.p.system_prompt)] if self.p.system_prompt else []
        return msgs + [Message("user", scenario.input)]

    async def _respond(self, scenario: Scenario, sample: int) -> dict[str, Any]:
        assert self.candidate is not None
        if self.multi.active:
            return await self.multi.respond(scenario, sample)
        # Answers queue behind verdicts on a shared endpoint: finished scenarios make room for new ones.
        result = await self.executor.call(self.candidate, self._messages(scenario), self._params(), sample_index=sample, priority=1)
        record: dict[str, Any] = {"scenario_id": scenario.id, "sample": sample, "input": scenario.input, "tags": scenario.tags, "cached": result.cached, "attempts": result.attempts}
        if not result.ok:
            record["error"] = result.error
            return record
        c = result.completion
        assert c is not None
        answer, thinking = split_thinking(c.text)
        usage = c.usage.__dict__.copy()
        if thinking and not usage.get("thinking_tokens"):
            usage["thinking_tokens"] = rough_token_count(thinking)
        record.update(
            {
                "response": c.text,
                "answer": answer,
                "finish_reason": c.finish_reason,
                "truncated": c.truncated,
                "usage": usage,
                "latency_s": round(c.latency_s, 4),
                "cost_usd": c.cost_usd,
            }
        )
        return record

    async def _assess(self, scenario: Scenario, response: dict[str, Any]) -> dict[str, Any]:
        assert self.judge is not None
        rubric = self.p.rubric
        answer = response["answer"]
        turns = conversation_turns(response)  # one turn for single-turn responses
        said = user_text(turns) if len(turns) > 1 else scenario.input
        checks, facts = check_turns(rubric, turns, said, scenario.tags)
        judged, skipped_why = split_criteria(rubric, said, scenario.tags, len(turns))
        skipped = [c for c, _ in skipped_why]
        samples: list[Any] = []
        attempts_log: list[str] = []
        raw: list[dict[str, Any]] = []
        calls: dict[str, int] = {}
        if judged:
            samples, attempts_log = await judge_verdicts(
                self.executor, self.judge, rubric, judged, scenario.input, answer, self.p.system_prompt, facts,
                samples=self.cfg.judge_samples, retries=self.cfg.judge_retries, seed=self.cfg.seed, params=self._judge_params,
                raw_replies=raw, calls=calls, turns=turns,
            )
        a = assess(rubric, scenario.id, response["sample"], checks, judged, samples, skipped)
        why = {c.id: reason for c, reason in skipped_why}
        for o in a.outcomes:
            if o.source == "skipped" and o.id in why:
                o.reason = why[o.id]
        record = a.to_dict()
        record["judge_calls"] = {"called": calls.get("called", 0), "cached": calls.get("cached", 0)}
        if raw and self.raw_out is not None:
            for r in raw:  # unreadable replies, kept for diagnosis (never cached)
                self.raw_out.write({"scenario_id": scenario.id, "sample": response["sample"], **r})
        if attempts_log:
            record["judge_problems"] = attempts_log[-5:]
            if a.judge_failed:
                cut = any(r.get("finish_reason") == "length" for r in raw)
                detail = f"{a.unscored_reason or 'no verdict could be obtained'}: {attempts_log[-1]}"
                record["unscored_reason"] = detail + (" (the reply hit --judge-max-tokens: raise it)" if cut else "") + f"; raw replies in {JUDGE_REPLIES}"
                # The judge's server failed (not its answer): judge it again on the next run of this --out.
                record["judge_error"] = any(p.startswith(CALL_FAILED) for p in attempts_log)
        return record

    # -- the run ---------------------------------------------------------------------------------
    async def run(self) -> dict[str, Any]:
        from .summary import summarize

        await self._open_models()
        manifest = self.manifest()
        self._check_resumable(manifest)
        ensure_dir(self.run_dir, what="run directory")
        atomic_write_json(self.run_dir / MANIFEST, manifest)
        write_scenarios(self.p.scenarios, self.run_dir / SCENARIOS)

        done_assessments, done_responses, answered_keys = self._resume_state()
        responses_out = JsonlAppender(self.run_dir / RESPONSES)
        assessments_out = JsonlAppender(self.run_dir / ASSESSMENTS)
        self.raw_out = JsonlAppender(self.run_dir / JUDGE_REPLIES)
        self.multi.start(self.run_dir)
        total = len(self.p.scenarios) * self.cfg.samples
        keys = [(s.id, k) for s in self.p.scenarios for k in range(self.cfg.samples)]
        finished = sum(1 for key in keys if key in done_assessments)
        answered = sum(1 for key in keys if key in answered_keys)
        del keys, answered_keys
        errors = 0
        self.reused = {"answers": answered, "verdicts": finished}
        self.progress("answers", answered, total)
        self.progress("verdicts", finished, total)
        self.progress("errors", 0, total)
        todo = ((s, k) for s in self.p.scenarios for k in range(self.cfg.samples) if (s.id, k) not in done_assessments)

        async def one(scenario: Scenario, sample: int) -> None:
            nonlocal finished, answered, errors
            response = done_responses.pop((scenario.id, sample), None)
            if response is None:
                response = await self._respond(scenario, sample)
                responses_out.write(response)
                if "error" in response:
                    errors += 1
                    self.progress("errors", errors, total)
                else:
                    answered += 1
                    self.progress("answers", answered, total)
            if graded(response):  # a conversation the simulated user broke is not the candidate's fault
                await self.multi.grade_first_reply(scenario, response, self._assess)
                record = await self._assess(scenario, response)
                assessments_out.write(record)
                if record.get("judge_failed"):
                    errors += 1
                    self.progress("errors", errors, total)
            finished += 1
            self.progress("verdicts", finished, total)

        async def worker() -> None:
            for scenario, sample in todo:  # one shared iterator: each job goes to exactly one worker
                await one(scenario, sample)

        # Scenarios go through answer -> verdict one after another, with only as many in flight as the
        # two stages can work on at once: finished assessments then arrive steadily (a killed run keeps
        # them), instead of every answer first and every verdict last. Both stages count even on one
        # shared endpoint, so answers are waiting whenever a verdict frees a slot (see run/slots.py).
        # A fixed set of workers pulls the jobs in order: memory stays flat however many scenarios.
        in_flight = self.executor.limit_size(self.candidate) + self.executor.limit_size(self.judge)  # type: ignore[arg-type]
        try:
            async with asyncio.TaskGroup() as group:  # a fatal error cancels the other calls
                for _ in range(min(in_flight, max(1, total - finished))):
                    group.create_task(worker())
        except BaseExceptionGroup as eg:
            raise _first_leaf(eg) from None
        finally:
            responses_out.close()
            assessments_out.close()
            self.raw_out.close()
            await self.multi.close()
            self.executor.cache.flush()
            await self.candidate.aclose()  # type: ignore[union-attr]
            if self.judge is not self.candidate:
                await self.judge.aclose()  # type: ignore[union-attr]
        # facts a backend learned while running (e.g. sampling parameters a reasoning model refused) go on record
        atomic_write_json(self.run_dir / MANIFEST, {**manifest, "candidate": self.candidate.identity.to_dict(), "judge": self.judge.identity.to_dict()})  # type: ignore[union-attr]
        from .ledger import call_ledger, compact_records

        compact_records(self.run_dir, [RESPONSES, ASSESSMENTS])  # one current record per (scenario, sample)
        self._record_endpoints()
        summary = summarize(self.run_dir)
        summary["cache"] = {
            # this invocation
            "hits": self.executor.cache.hits, "model_calls": self.executor.calls, "enabled": self.executor.cache.enabled,
            "reused_from_run_dir": self.reused,
            # the run directory as a whole, counted from its records: adds up across resumes
            "records": call_ledger(self.run_dir),
        }
        atomic_write_json(self.run_dir / SUMMARY, summary)
        return summary


    def _record_endpoints(self) -> None:
        """Add this session's per-endpoint counts to endpoints.json (one entry per run of this --out)."""
        stats = self.executor.endpoint_stats()
        if not stats:
            return
        path = self.run_dir / ENDPOINTS
        sessions = read_json_object(path, "endpoint log").get("sessions", []) if path.is_file() else []
        sessions.append({"ended": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "endpoints": stats})
        atomic_write_json(path, {"sessions": sessions})


def resolve_run_dir(config: RunConfig) -> Path:
    run_dir = config.out or default_run_dir(config.model)
    # Checked before any model is loaded or called: a file where the run directory should go.
    blocker = blocking_file(run_dir)
    if blocker is not None:
        raise ConfigError(
            f"--out {run_dir}: {blocker} is a file, not a directory",
            hint="Pass a new directory to --out (or an existing run directory to resume it), or move that file away.",
        )
    return run_dir


async def run_baseline(
    config: RunConfig,
    progress: Callable[[str, int, int], None] | None = None,
    *,
    until_decisive: bool = False,
    max_scenarios: int = 400,
    before_run: Callable[[int], None] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Run the baseline. With `until_decisive`, keep adding stratified batches from the same taxonomy
    (new seeds) while the pass-rate interval crosses a decision cut-off and the cap allows."""
    prepared = prepare(config)
    run_dir = resolve_run_dir(config)
    if before_run is not None:
        before_run(len(prepared.scenarios))
    runner = BaselineRun(prepared, run_dir, progress=progress)
    summary = await runner.run()
    if not until_decisive:
        return run_dir, summary
    if config.taxonomy is None:
        raise ConfigError("--until-decisive needs --taxonomy (or --domain): new scenarios are drawn from it", hint="A fixed --scenarios file cannot grow.")
    from .growth import grow

    growth, reason = await grow(runner, prepared, load_taxonomy(config.taxonomy), config.seed, max_scenarios, summary)
    atomic_write_json(run_dir / GROWTH, {"rounds": growth, "stop_reason": reason, "max_scenarios": max_scenarios})
    from .summary import summarize

    summary = summarize(run_dir) | {"cache": summary.get("cache")}
    atomic_write_json(run_dir / SUMMARY, summary)
    return run_dir, summary


def _first_leaf(group: BaseExceptionGroup) -> BaseException:
    """The first real error inside a (possibly nested) exception group."""
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first
