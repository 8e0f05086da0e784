"""Two finished run directories, checked for comparability and paired sample by sample.

Comparable means graded the same way: the same rubric (its sha256), the same judge (provider, name,
digest, thinking and the verdict settings) and the same scenarios (ids with the same message and tags,
in any order). What may differ is what is being compared: the candidate, its system prompt, sampling.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .files import check_jsonl, read_jsonl
from .summary import latest_records, load_manifest, sample_outcome, summarize

_RECORD_KEYS = {"responses.jsonl": ("scenario_id", "sample"), "assessments.jsonl": ("scenario_id", "sample", "scored")}
# Judge settings that change verdicts: a difference is as serious as another judge.
JUDGE_SETTINGS = ("judge_samples", "judge_temperature")
# Settings of the candidate that may differ (they are part of what is compared) but are worth saying.
CANDIDATE_SETTINGS = ("temperature", "max_tokens", "samples", "think", "seed", "model_options")


@dataclass
class LoadedRun:
    label: str  # "A" or "B"
    path: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]
    responses: dict[tuple[str, int], dict[str, Any]]
    assessments: dict[tuple[str, int], dict[str, Any]]
    scenarios: dict[str, dict[str, Any]] | None  # id -> record of scenarios.jsonl (None: no such file)
    unfinished: str | None = None  # why the run is not finished, when it is not

    @property
    def candidate(self) -> str:
        """provider/name, plus the LoRA adapter when one was served on the base (`-o lora=FILE`)."""
        c = self.manifest["candidate"]
        lora = (self.manifest["config"].get("model_options") or {}).get("lora")
        named = "+lora:" in str(c["name"])  # the llama.cpp backend already names its adapter (name+lora:FILE)
        return f"{c['provider']}/{c['name']}" + (f" + LoRA {Path(str(lora)).name}" if lora and not named else "")

    @property
    def samples(self) -> int:
        return int(self.manifest["config"].get("samples", 1) or 1)


def load_run(path: Path, label: str) -> LoadedRun:
    """Read a run directory written by `basesel baseline`, with errors that name the argument."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"run {label}: {path} does not exist", hint="Pass a run directory written by `basesel baseline` (its --out), e.g. runs/base.")
    if not path.is_dir():
        raise ConfigError(f"run {label}: {path} is a file, not a run directory", hint="Pass the directory that holds manifest.json, responses.jsonl and assessments.jsonl.")
    if not (path / "manifest.json").is_file():
        inside = sorted(p.parent for p in path.glob("*/manifest.json"))
        if inside:  # e.g. runs/ft, whose re-evaluation run is runs/ft/eval
            raise ConfigError(
                f"run {label}: {path} is not a basesel run directory (no manifest.json)",
                hint=f"Pass the run directory inside it: {', '.join(str(p) for p in inside[:3])}.",
            )
    try:
        manifest = load_manifest(path)
        for name, keys in _RECORD_KEYS.items():
            check_jsonl(path / name, name, keys)
        summary = summarize(path)
    except ConfigError as exc:
        raise ConfigError(f"run {label}: {exc.message}", hint=exc.hint, where=exc.where) from exc
    responses, assessments = latest_records(path)
    scenario_file = path / "scenarios.jsonl"
    scenarios = {str(r.get("id")): r for r in read_jsonl(scenario_file)} if scenario_file.is_file() else None
    run = LoadedRun(label, path, manifest, summary, responses, assessments, scenarios)
    run.unfinished = _unfinished(run)
    return run


def _unfinished(run: LoadedRun) -> str | None:
    counts = run.summary["counts"]
    done = counts["assessed"] + counts["errored"]
    if done < counts["samples_expected"]:
        return f"only {done} of {counts['samples_expected']} samples are answered and graded (the run is still going, or was stopped)"
    if not (run.path / "summary.json").is_file():
        return "it has no summary.json (the run is still going, or was stopped before its summary)"
    return None


def require_finished(runs: list[LoadedRun], force: bool) -> list[str]:
    """Refuse unfinished runs unless forced; returns the notes to keep when forced."""
    problems = [r for r in runs if r.unfinished]
    if problems and not force:
        first = problems[0]
        raise ConfigError(
            "; ".join(f"run {r.label} ({r.path}) is not finished: {r.unfinished}" for r in problems),
            hint=f"Wait for it to finish, or resume it: re-run `basesel baseline` with the same flags and --out {first.path}. "
            "--force compares the samples graded so far.",
        )
    return [f"run {r.label} is not finished ({r.unfinished}); compared as it is (--force)." for r in problems]


# ---------------------------------------------------------------------------------------------
# comparability


def _short_sha(sha: str | None) -> str:
    return sha[:12] if sha else "unknown"


def _judge_key(m: dict[str, Any]) -> dict[str, Any]:
    j = m["judge"]
    key = {"provider": j.get("provider"), "name": j.get("name"), "digest": j.get("digest"), "think": j.get("think")}
    key |= {s: m["config"].get(s) for s in JUDGE_SETTINGS}
    return key


def differences(a: LoadedRun, b: LoadedRun) -> list[dict[str, Any]]:
    """What makes the two runs' verdicts incomparable: rubric, judge, scenario set."""
    out: list[dict[str, Any]] = []
    ra, rb = a.manifest["rubric"], b.manifest["rubric"]
    if ra.get("sha256") != rb.get("sha256"):
        out.append({
            "what": "rubric",
            "a": {"id": ra.get("id"), "version": ra.get("version"), "path": ra.get("path"), "sha256": ra.get("sha256")},
            "b": {"id": rb.get("id"), "version": rb.get("version"), "path": rb.get("path"), "sha256": rb.get("sha256")},
            "message": f"the rubric differs: A graded with {ra.get('id')} v{ra.get('version')} (sha256 {_short_sha(ra.get('sha256'))}, {ra.get('path')}), "
            f"B with {rb.get('id')} v{rb.get('version')} (sha256 {_short_sha(rb.get('sha256'))}, {rb.get('path')})",
        })
    ja, jb = _judge_key(a.manifest), _judge_key(b.manifest)
    changed = [k for k in ja if ja[k] != jb[k]]
    if changed:
        parts = [f"{k} {ja[k]!r} vs {jb[k]!r}" for k in changed]
        out.append({
            "what": "judge",
            "a": ja,
            "b": jb,
            "fields": changed,
            "message": f"the judge differs: A was graded by {ja['provider']}/{ja['name']}, B by {jb['provider']}/{jb['name']} ({'; '.join(parts)})",
        })
    scen = _scenario_difference(a, b)
    if scen:
        out.append(scen)
    return out


def _scenario_difference(a: LoadedRun, b: LoadedRun) -> dict[str, Any] | None:
    if a.scenarios is None or b.scenarios is None:
        sa, sb = a.manifest["scenarios"].get("sha256"), b.manifest["scenarios"].get("sha256")
        if sa == sb:
            return None
        return {"what": "scenarios", "only_a": [], "only_b": [], "changed": [],
                "message": f"the scenario set differs: sha256 {_short_sha(sa)} vs {_short_sha(sb)} (a run has no scenarios.jsonl to say which)"}
    only_a = sorted(set(a.scenarios) - set(b.scenarios))
    only_b = sorted(set(b.scenarios) - set(a.scenarios))
    changed = sorted(k for k in set(a.scenarios) & set(b.scenarios) if a.scenarios[k] != b.scenarios[k])
    if not (only_a or only_b or changed):
        return None
    bits = []
    for ids, text in ((only_a, "only in A"), (only_b, "only in B"), (changed, "with the same id but another message or tags")):
        if ids:
            bits.append(f"{len(ids)} {text} ({_ids(ids)})")
    return {"what": "scenarios", "only_a": only_a, "only_b": only_b, "changed": changed,
            "message": f"the scenario set differs: {len(a.scenarios)} scenarios in A, {len(b.scenarios)} in B; " + "; ".join(bits)}


def _ids(ids: list[str], limit: int = 5) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def notes_on_settings(a: LoadedRun, b: LoadedRun) -> list[str]:
    """Differences that are allowed (they are what is compared) but a reader should know, and what
    weakens the evidence of both runs (the judge)."""
    notes = []
    for run in (a, b):
        rel = run.summary["judge_reliability"]
        if rel["judge_is_candidate"]:
            notes.append(f"in run {run.label} the judge is the candidate itself: it graded its own answers, which inflates that run's pass rate.")
    if any(run.summary["judge_reliability"]["judge_is_tiny"] for run in (a, b)):
        notes.append(f"the judge ({a.summary['judge_reliability']['judge']}) is a tiny model: its verdicts, and so this comparison, are weak evidence.")
    ca, cb = a.manifest["config"], b.manifest["config"]
    changed = [f"{k} {ca.get(k)!r} vs {cb.get(k)!r}" for k in CANDIDATE_SETTINGS if ca.get(k) != cb.get(k)]
    if changed:
        notes.append("the candidates ran with different settings: " + "; ".join(changed) + ".")
    pa, pb = (a.manifest.get("system_prompt") or {}).get("sha256"), (b.manifest.get("system_prompt") or {}).get("sha256")
    if pa != pb:
        notes.append("the system prompts differ: the comparison measures the prompt as well as the model.")
    if a.manifest["judge"].get("endpoint") != b.manifest["judge"].get("endpoint"):
        notes.append(f"the judge was served from different endpoints ({a.manifest['judge'].get('endpoint')} vs {b.manifest['judge'].get('endpoint')}); the same model name is assumed to be the same model.")
    if a.manifest["candidate"] == b.manifest["candidate"] and not changed and pa == pb:
        notes.append("both runs have the same candidate, settings and system prompt: differences are sampling noise.")
    return notes


def check_comparable(a: LoadedRun, b: LoadedRun, force: bool) -> list[dict[str, Any]]:
    diffs = differences(a, b)
    if diffs and not force:
        raise ConfigError(
            f"runs {a.path} and {b.path} were not graded the same way, so their pass rates are not comparable: "
            + "; ".join(d["message"] for d in diffs),
            hint="Compare runs of the same rubric, judge and scenarios (re-run one with the other's --rubric, --judge and "
            "--scenarios <run>/scenarios.jsonl), or pass --force to compare them anyway on the scenarios they share.",
        )
    return diffs


# ---------------------------------------------------------------------------------------------
# pairing


@dataclass
class Pair:
    scenario_id: str
    sample: int
    a: dict[str, Any]  # assessment records
    b: dict[str, Any]

    @property
    def a_passed(self) -> bool:
        return bool(sample_outcome(self.a))

    @property
    def b_passed(self) -> bool:
        return bool(sample_outcome(self.b))


@dataclass
class Pairing:
    pairs: list[Pair]
    excluded: list[dict[str, Any]] = field(default_factory=list)  # {scenario_id, sample, a, b}: why each side is missing
    scenarios_a: int = 0
    scenarios_b: int = 0
    common_scenarios: int = 0

    def clusters(self) -> dict[str, list[Pair]]:
        out: dict[str, list[Pair]] = defaultdict(list)
        for p in self.pairs:
            out[p.scenario_id].append(p)
        return dict(out)


def _side_status(run: LoadedRun, key: tuple[str, int]) -> str | None:
    """None when this sample is scored in the run; else why not."""
    a = run.assessments.get(key)
    if a is not None:
        if sample_outcome(a) is not None:
            return None
        return "unscored: " + str(a.get("unscored_reason") or "the judge's verdict could not be read")
    r = run.responses.get(key)
    if r is not None and "error" in r:
        return "errored: " + " ".join(str(r["error"]).split())[:160]
    if run.scenarios is not None and key[0] not in run.scenarios:
        return "not in this run's scenario set"
    if key[1] >= run.samples:
        return f"not sampled (the run took {run.samples} sample{'s' if run.samples != 1 else ''} per scenario)"
    return "not graded yet"


def pair_runs(a: LoadedRun, b: LoadedRun) -> Pairing:
    """Pair the two runs' samples on (scenario id, sample); samples unscored in either are set aside."""
    ids_a = set(a.scenarios) if a.scenarios is not None else {k[0] for k in (*a.assessments, *a.responses)}
    ids_b = set(b.scenarios) if b.scenarios is not None else {k[0] for k in (*b.assessments, *b.responses)}
    common = ids_a & ids_b
    if not common:
        raise ConfigError(
            f"runs {a.path} and {b.path} have no scenario in common ({len(ids_a)} scenarios in A, {len(ids_b)} in B)",
            hint="Run the second model on the first run's scenarios: basesel baseline ... --scenarios " f"{a.path / 'scenarios.jsonl'}",
        )
    order = {sid: i for i, sid in enumerate(a.scenarios or {})}
    keys = sorted(
        {k for k in (*a.assessments, *a.responses, *b.assessments, *b.responses) if k[0] in common}
        | {(sid, s) for sid in common for s in range(max(a.samples, b.samples))},
        key=lambda k: (order.get(k[0], len(order)), k[0], k[1]),
    )
    pairs, excluded = [], []
    for key in keys:
        why_a, why_b = _side_status(a, key), _side_status(b, key)
        if why_a is None and why_b is None:
            pairs.append(Pair(key[0], key[1], a.assessments[key], b.assessments[key]))
        else:
            excluded.append({"scenario_id": key[0], "sample": key[1], "a": why_a or "scored", "b": why_b or "scored"})
    return Pairing(pairs, excluded, len(ids_a), len(ids_b), len(common))
