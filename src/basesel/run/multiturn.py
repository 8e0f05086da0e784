"""What the baseline pipeline needs for multi-turn runs, kept out of run/baseline.py: opening the
simulated user, its part of the manifest, per-turn resume (turns.jsonl) and the single-turn grading of
each conversation's first reply (single_turn.jsonl), for the side-by-side comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Awaitable, Callable

from ..models import ChatModel, GenerationParams
from ..models.spec import redact_url
from .conversation import TURNS, Conversations, graded, parse_turns, scenario_turns, taxonomy_notes, turns_on_disk
from .files import JsonlAppender, read_jsonl

SINGLE_TURN = "single_turn.jsonl"


def is_multi_turn(config: Any, scenarios: list[Any]) -> bool:
    """--turns / --user-sim given, or scenarios that carry more than one turn."""
    if config.turns or config.user_sim:
        return True
    return any(scenario_turns(s.tags, None, s.id, config.seed) > 1 for s in scenarios)


def default_user_sim(config: Any, scenarios: list[Any]) -> str | None:
    """A multi-turn run without --user-sim: the judge plays the user (a model strong enough to grade is
    strong enough to play a persona). Returns the warning that says so."""
    if config.turns:
        parse_turns(config.turns)  # a malformed --turns fails before any model loads
    if not is_multi_turn(config, scenarios) or config.user_sim:
        return None
    config.user_sim, config.user_sim_base_url, config.user_sim_options = config.judge, config.judge_base_url, dict(config.judge_options)
    return f"no --user-sim given: the judge ({config.judge}) plays the simulated user; pass --user-sim SPEC to choose another model"


class MultiTurnStage:
    def __init__(self, run: Any):
        self.run = run  # the BaselineRun
        self.cfg = run.cfg
        self.simulator: ChatModel | None = None
        self.conversations: Conversations | None = None
        self._turns: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self._single_done: set[tuple[str, int]] = set()
        self._turns_out: JsonlAppender | None = None
        self._single_out: JsonlAppender | None = None

    @property
    def active(self) -> bool:
        return self.conversations is not None

    def _sim_params(self, attempt: int) -> GenerationParams:
        # pinned: the simulator's scores swing with its sampling, so temperature and seed are fixed and recorded
        return GenerationParams(temperature=self.cfg.user_sim_temperature, max_tokens=self.cfg.user_sim_max_tokens, seed=self.cfg.seed + 104729 * attempt, think=False)

    async def open(self) -> None:
        note = default_user_sim(self.cfg, self.run.p.scenarios)
        if note and note not in self.run.p.warnings:
            self.run.p.warnings.append(note)
        if not is_multi_turn(self.cfg, self.run.p.scenarios):
            return
        same_as = _reusable(self.run)
        if same_as is not None:
            self.simulator = same_as
        else:
            from .endpoints import open_model  # the route every run model is opened by, looked up when called

            self.simulator = open_model(self.cfg.user_sim, self.cfg.user_sim_base_url, [], self.cfg.user_sim_options)
            describe = getattr(self.simulator, "describe", None)
            if describe is not None:
                await describe()
            self.run.executor.set_limit(self.simulator, self.cfg.concurrency)
        self.conversations = Conversations(
            self.run.executor, self.run.candidate, self.simulator, self.run.p.system_prompt, self.run._params(), self._sim_params,
            notes=taxonomy_notes(getattr(self.run.p, "taxonomy", None)),
        )

    def manifest_part(self) -> dict[str, Any]:
        if not self.active:
            return {}
        assert self.simulator is not None
        ident = self.simulator.identity.to_dict()
        ident["endpoint"] = redact_url(ident.get("endpoint"))
        turns = {s.id: scenario_turns(s.tags, self.cfg.turns, s.id, self.cfg.seed) for s in self.run.p.scenarios}
        return {"user_sim": ident, "multi_turn": {"turns": self.cfg.turns, "per_scenario": turns, "temperature": self.cfg.user_sim_temperature, "seed": self.cfg.seed}}

    def same_run(self, old: dict[str, Any], new: dict[str, Any]) -> bool:
        """Conversations on disk continue only under the same simulated user and turn counts."""
        def sim(m: dict[str, Any]) -> Any:
            u = m.get("user_sim") or {}
            return (u.get("provider"), u.get("name"), u.get("digest"))

        old_turns = (old.get("multi_turn") or {}).get("per_scenario") or {}
        new_turns = (new.get("multi_turn") or {}).get("per_scenario") or {}
        # a sample grown by --until-decisive keeps the earlier scenarios' counts and adds new ones
        return sim(old) == sim(new) and all(new_turns.get(k) == v for k, v in old_turns.items())

    def start(self, run_dir: Path) -> None:
        if not self.active:
            return
        self._turns = turns_on_disk(list(read_jsonl(run_dir / TURNS)))
        # as for assessments.jsonl: a verdict that could not be obtained is judged again on the next run
        self._single_done = {(r["scenario_id"], r["sample"]) for r in read_jsonl(run_dir / SINGLE_TURN) if r.get("scored") and not r.get("judge_failed") and not r.get("judge_error")}
        self._turns_out = JsonlAppender(run_dir / TURNS)
        self._single_out = JsonlAppender(run_dir / SINGLE_TURN) if self.cfg.single_turn_too else None

    async def respond(self, scenario: Any, sample: int) -> dict[str, Any]:
        assert self.conversations is not None and self._turns_out is not None
        max_turns = scenario_turns(scenario.tags, self.cfg.turns, scenario.id, self.cfg.seed)
        return await self.conversations.converse(scenario, sample, max_turns, self._turns.get((scenario.id, sample), []), self._turns_out.write)

    async def grade_first_reply(self, scenario: Any, response: dict[str, Any], assess: Callable[[Any, dict[str, Any]], Awaitable[dict[str, Any]]]) -> None:
        """The first reply graded as a single-turn response (the same judge call a single-turn run makes)."""
        if self._single_out is None or not graded(response) or not response.get("turns"):
            return
        key = (scenario.id, response["sample"])
        if key in self._single_done:
            return
        first = response["turns"][0]
        single = {"scenario_id": scenario.id, "sample": response["sample"], "input": scenario.input, "tags": scenario.tags, "answer": first.get("answer") or ""}
        self._single_out.write(await assess(scenario, single))
        self._single_done.add(key)

    async def close(self) -> None:
        for out in (self._turns_out, self._single_out):
            if out is not None:
                out.close()
        if self.simulator is not None and self.simulator is not self.run.candidate and self.simulator is not self.run.judge:
            await self.simulator.aclose()


def _reusable(run: Any) -> ChatModel | None:
    """The candidate's or the judge's model object when the simulated user is the same model (one
    embedded model in memory, one endpoint limit)."""
    cfg = run.cfg
    wanted = (cfg.user_sim, cfg.user_sim_base_url, cfg.user_sim_options)
    if wanted == (cfg.model, cfg.base_url, cfg.model_options):
        return run.candidate
    if wanted == (cfg.judge, cfg.judge_base_url, cfg.judge_options):
        return run.judge
    return None
