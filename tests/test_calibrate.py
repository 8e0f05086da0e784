"""Judge reliability: Cohen's kappa / sensitivity / specificity against hand-computed values, calibration
on labelled responses (stand-in judge and a real local server), the shipped labelled set, the decision
document's Judge Reliability section, and self-consistency with several judge samples."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import BASESEL, REPO, cli_env
from basesel.errors import ConfigError
from basesel.models.base import Completion, GenerationParams, Message, ModelIdentity
from basesel.paths import cache_dir
from basesel.rubric import load_rubric
from basesel.rubric.agreement import agreement, cohen_kappa, normalize_label
from basesel.rubric.scoring import CriterionOutcome, decide
from basesel.run.cache import ResponseCache
from basesel.run.calibrate import calibration_report, judge_labelled, load_labels
from basesel.run.executor import Executor, RetryPolicy

SUPPORT_LABELS = REPO / "rubrics" / "labels" / "support-labels.jsonl"


# --- the metrics ------------------------------------------------------------------------------------


def test_binary_kappa_sensitivity_specificity_by_hand():
    # 3 both-fail, 1 human-fail/judge-pass, 2 human-pass/judge-fail, 4 both-pass
    human = ["fail"] * 4 + ["pass"] * 6
    judge = ["fail", "fail", "fail", "pass", "fail", "fail", "pass", "pass", "pass", "pass"]
    stats = agreement(human, judge)
    # po = 7/10; pe = 0.4*0.5 + 0.6*0.5 = 0.5; kappa = (0.7 - 0.5) / 0.5 = 0.4
    assert stats["agreement"] == 0.7
    assert stats["kappa"] == pytest.approx(0.4)
    assert stats["sensitivity"] == 0.75  # 3 of the 4 human fails caught
    assert stats["specificity"] == pytest.approx(4 / 6, abs=1e-4)  # 4 of the 6 human passes passed
    assert stats["confusion"] == {"fail_fail": 3, "fail_pass": 1, "pass_fail": 2, "pass_pass": 4, "na_mismatch": 0}


def test_three_class_kappa_with_na_by_hand():
    human = ["pass", "pass", "fail", "n/a", "n/a", "fail"]
    judge = ["pass", "fail", "fail", "n/a", "pass", "fail"]
    stats = agreement(human, judge)
    # po = 4/6; pe = (2*2 + 2*3 + 2*1) / 36 = 1/3; kappa = (2/3 - 1/3) / (2/3) = 0.5
    assert stats["kappa"] == pytest.approx(0.5)
    # binary pairs only: (p,p) (p,f) (f,f) (f,f) -> TP 2, FN 0, FP 1, TN 1
    assert stats["sensitivity"] == 1.0 and stats["specificity"] == 0.5
    assert stats["confusion"]["na_mismatch"] == 1


def test_kappa_matches_scikit_learn_and_undefined_cases():
    from sklearn.metrics import cohen_kappa_score

    human = ["pass", "fail", "pass", "pass", "n/a", "fail", "pass", "fail"]
    judge = ["pass", "pass", "pass", "fail", "n/a", "fail", "pass", "pass"]
    assert cohen_kappa(human, judge) == pytest.approx(cohen_kappa_score(human, judge))
    assert cohen_kappa(["pass"] * 5, ["pass"] * 5) is None  # one class only: undefined, not a number
    assert cohen_kappa([], []) is None
    stats = agreement(["pass", "pass"], ["pass", "pass"])
    assert stats["kappa"] is None and stats["sensitivity"] is None and stats["specificity"] == 1.0
    assert cohen_kappa(["pass", "fail"], ["pass", "pass"]) == 0.0  # a judge that always passes has kappa 0


@pytest.mark.parametrize("raw, label", [("pass", "pass"), ("YES", "pass"), (True, "pass"), ("no", "fail"), (False, "fail"), ("NA", "n/a"), (None, "n/a"), ("maybe", None)])
def test_label_spellings(raw, label):
    assert normalize_label(raw) == label


# --- calibration on labelled responses with a stand-in judge ----------------------------------------

RUBRIC = """
id: mini
pass_rule: {mode: all}
criteria:
  - {id: Q1, name: Good, statement: The response is good.}
  - {id: Q2, name: Polite, statement: The response is polite., na_allowed: true}
  - {id: Q3, name: Short, statement: At most 30 words., kind: max_words, value: 30}
"""


class KeywordJudge:
    """Verdicts are a function of the response text: Q1 yes iff it contains GOOD; Q2 n/a iff it contains
    NEUTRAL, else yes iff it contains PLEASE."""

    default_concurrency = 4

    def __init__(self):
        self.identity = ModelIdentity(provider="standin", name="keyword-judge", endpoint="standin://judge")
        self.calls = 0

    async def generate(self, messages: list[Message], params: GenerationParams, json_schema=None) -> Completion:
        self.calls += 1
        response = messages[-1].content.split("## Assistant response\n", 1)[1].split("\n\n## ", 1)[0]
        verdicts = {"Q1": "yes" if "GOOD" in response else "no", "Q2": "n/a" if "NEUTRAL" in response else ("yes" if "PLEASE" in response else "no")}
        return Completion(text=json.dumps({k: {"reason": "keyword", "verdict": v} for k, v in verdicts.items() if k in json_schema["properties"]}), finish_reason="stop")

    async def aclose(self) -> None:
        pass


def write_labels(path: Path, rows: list[tuple[str, str, dict]]) -> Path:
    path.write_text("".join(json.dumps({"id": i, "input": "a question", "response": r, "labels": l}) + "\n" for i, r, l in rows))
    return path


def test_calibration_report_by_hand(tmp_path):
    rubric_path = tmp_path / "mini.yaml"
    rubric_path.write_text(textwrap.dedent(RUBRIC))
    rubric = load_rubric(rubric_path)
    # Q1: 3 both-fail, 1 human-fail/judge-pass, 2 human-pass/judge-fail, 4 both-pass (the first test's table)
    rows = [
        ("r1", "bad PLEASE", {"Q1": "fail", "Q2": "pass"}),
        ("r2", "bad PLEASE", {"Q1": "fail", "Q2": "pass"}),
        ("r3", "bad NEUTRAL", {"Q1": "fail", "Q2": "n/a"}),
        ("r4", "GOOD but wrong PLEASE", {"Q1": "fail", "Q2": "pass"}),
        ("r5", "fine PLEASE", {"Q1": "pass", "Q2": "pass"}),
        ("r6", "fine rude", {"Q1": "pass", "Q2": "pass"}),
        ("r7", "GOOD PLEASE", {"Q1": "pass", "Q2": "pass"}),
        ("r8", "GOOD PLEASE", {"Q1": "pass", "Q2": "pass"}),
        ("r9", "GOOD NEUTRAL", {"Q1": "pass", "Q2": "n/a"}),
        ("r10", "GOOD PLEASE " + "word " * 40, {"Q1": "pass", "Q3": "pass"}),  # Q3 label disagrees with the check; Q2 unlabelled
    ]
    items = load_labels(write_labels(tmp_path / "l.jsonl", rows), rubric)
    judge = KeywordJudge()
    executor = Executor(ResponseCache(cache_dir()), RetryPolicy(attempts=1))
    results = asyncio.run(judge_labelled(items, rubric, judge, executor, system_prompt=None))
    report = calibration_report(rubric, results, meta={"judge": {"spec": "standin/keyword-judge"}})
    assert judge.calls == 8 and report["n"] == 10 and report["unscored"] == 0  # r2 and r8 repeat r1 and r7: cached
    q1 = next(c for c in report["criteria"] if c["id"] == "Q1")
    assert q1["kappa"] == pytest.approx(0.4) and q1["sensitivity"] == 0.75 and q1["specificity"] == pytest.approx(0.6667, abs=1e-4)
    assert q1["flagged"] and report["low_kappa_criteria"] == ["Q1"]
    q2 = next(c for c in report["criteria"] if c["id"] == "Q2")
    # Q2 labelled on r1-r9: judge n/a on r3 and r9 (agrees), 'no' on r6 where the human said pass
    assert q2["n"] == 9 and q2["agreement"] == pytest.approx(8 / 9, abs=1e-4) and q2["specificity"] == pytest.approx(6 / 7, abs=1e-4)
    q3 = next(c for c in report["criteria"] if c["id"] == "Q3")
    assert q3["source"] == "check" and q3["n"] == 1 and q3["agreement"] == 0.0
    assert any("deterministic checks disagree" in w and "Q3" in w for w in report["warnings"])
    # pooled over judged criteria Q1+Q2: 19 pairs
    assert report["overall"]["n"] == 19 and report["kappa"] == report["overall"]["kappa"]
    # response level (pass rule 'all'): judge passes r4, r7, r8, r9 (r10 fails the Q3 check) -> 4/10;
    # labels pass r5-r9 and r10 (its Q3 label overrides the check) -> 6/10
    assert report["pass_rate"]["judge"] == 0.4 and report["pass_rate"]["labels"] == 0.6
    assert report["pass_rate"]["difference"] == -0.2 and any("20 points lower" in w for w in report["warnings"])
    # decisions: both pass r7-r9; judge-only r4; labels-only r5, r6, r10; both fail r1-r3 -> 6/10 agree
    assert report["pass_rate"]["decision_agreement"] == 0.6
    r4 = next(r for r in report["responses"] if r["id"] == "r4")
    assert r4["disagreements"] == [{"criterion": "Q1", "label": "fail", "judge": "pass", "reason": "keyword"}]


@pytest.mark.parametrize(
    "line, fragment",
    [
        ('{"input": "q", "response": "r", "labels": {"Q9": "pass"}}', "unknown criterion 'Q9'"),
        ('{"input": "q", "response": "r", "labels": {"Q1": "maybe"}}', "is not pass, fail or n/a"),
        ('{"input": "q", "response": "r", "labels": {"Q1": "n/a"}}', "does not allow n/a"),
        ('{"input": "q", "labels": {"Q1": "pass"}}', "'response'"),
        ('{"input": "q", "response": "r"}', "missing 'labels'"),
        ("{not json", "not valid JSON"),
        ('{"input": "q", "response": "r", "labels": {"Q3": "pass"}}', "no line labels any judged criterion"),
    ],
)
def test_bad_labels_files_are_clear_errors(tmp_path, line, fragment):
    rubric_path = tmp_path / "mini.yaml"
    rubric_path.write_text(textwrap.dedent(RUBRIC))
    path = tmp_path / "l.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(ConfigError) as err:
        load_labels(path, load_rubric(rubric_path))
    assert fragment in str(err.value)


def test_shipped_support_labels_are_valid_varied_and_consistent_with_the_checks():
    rubric = load_rubric(REPO / "rubrics" / "support.yaml")
    items = load_labels(SUPPORT_LABELS, rubric)
    assert len(items) >= 30 and len({i.id for i in items}) == len(items)
    assert all(set(i.labels) == {c.id for c in rubric.criteria} for i in items)  # every criterion labelled
    for c in rubric.judged_criteria:
        used = {i.labels[c.id] for i in items}
        assert {"pass", "fail"} <= used, (c.id, used)
    decisions = [decide(rubric, [CriterionOutcome(k, "label", v, None if v == "n/a" else v == "pass") for k, v in i.labels.items()])[0] for i in items]
    assert 0.3 < sum(decisions) / len(decisions) < 0.7  # good and bad responses, not one-sided
    from basesel.rubric.scoring import run_checks

    disagree = []
    for i in items:
        for o in run_checks(rubric, i.response, i.input, {})[0]:
            if i.labels[o.id] != ("pass" if o.passed else "fail"):
                disagree.append((i.id, o.id))
    assert disagree == []  # L23 ("please don't send passwords here") once tripped CS8: the lookbehinds fixed it


# --- through the CLI, against a real local server, and into the decision document -------------------


def _serve():
    sys.path.insert(0, str(REPO / "benchmarks"))
    from openai_stub_server import serve

    return serve(0, delay=0.0, na_where_allowed=False)  # "yes" to everything


def run_cli(args, tmp_path):
    return subprocess.run(BASESEL + args, cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=300)


def test_calibrate_cli_and_decision_document(tmp_path):
    """The stub judge says 'yes' to everything: kappa 0 on every judged criterion, sensitivity 0,
    specificity 1, and a judge pass rate far above the labels'. The decision document shows it."""
    server, stats = _serve()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        judge = ["--judge", "openai/judge", "--judge-base-url", url]
        proc = run_cli(["judge", "calibrate", "--labels", "support", *judge, "--json"], tmp_path)
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        n_labels = len(SUPPORT_LABELS.read_text().splitlines())
        assert report["n"] == n_labels and stats.structured == n_labels  # one judge call per response
        assert report["kappa"] == 0.0 and report["overall"]["sensitivity"] == 0.0 and report["overall"]["specificity"] == 1.0
        judged = [c for c in report["criteria"] if c["source"] == "judge"]
        assert {c["id"] for c in judged} == {"CS1", "CS2", "CS3", "CS4", "CS5", "CS7"}
        assert all(c["kappa"] == 0.0 and c["flagged"] for c in judged)
        assert report["pass_rate"]["judge"] > report["pass_rate"]["labels"]
        assert report["judge"]["spec"] == "openai/judge" and report["rubric"]["id"] == "support"
        saved = json.loads((tmp_path / "calibration.json").read_text())
        assert saved["kappa"] == 0.0 and saved["labels"]["sha256"]
        # a second run is served from the cache
        before = stats.structured
        assert run_cli(["judge", "calibrate", "--labels", "support", *judge, "--out", "again.json"], tmp_path).returncode == 0
        assert stats.structured == before
        # a baseline with the same judge picks the calibration up
        proc = run_cli(["baseline", "--model", "openai/stub", "--base-url", url, *judge, "--domain", "support", "-n", "21", "--out", "run", "--json"], tmp_path)
        summary = json.loads(proc.stdout)
        cal = summary["judge_reliability"]["calibration"]
        assert cal["kappa"] == 0.0 and cal["n"] == n_labels and cal["path"] == "calibration.json"
        assert any("kappa 0.00" in w for w in summary["warnings"])
        # a calibration below 0.6 makes the decision provisional, with its own exit code (issue 11)
        assert proc.returncode == 7 and summary["provisional"] and "low_kappa" in [r["code"] for r in summary["provisional_reasons"]]
        doc = (tmp_path / "docs" / "base-model-evaluation.md").read_text()
        assert "**PROVISIONAL" in doc.split("## Model Selection")[0] and "kappa 0.00" in doc.split("## Model Selection")[0]
        section = doc.split("## Judge Reliability", 1)[1].split("## Qualitative Notes", 1)[0]
        assert "Cohen's κ 0.00" in section and "below 0.6" in section and "CS1" in section
        # a calibration of another judge is not applied
        (tmp_path / "calibration.json").write_text(json.dumps(saved | {"judge": saved["judge"] | {"name": "other"}}))
        assert run_cli(["report", "run"], tmp_path).returncode == 0
        section = (tmp_path / "docs" / "base-model-evaluation.md").read_text().split("## Judge Reliability", 1)[1]
        assert "Calibration:** not run" in section and "calibrated another judge" in section
    finally:
        server.shutdown()
        server.server_close()


def test_calibrate_cli_errors(tmp_path):
    proc = run_cli(["judge", "calibrate", "--labels", "nosuch.jsonl", "--judge", "embedded"], tmp_path)
    assert proc.returncode == 1 and "labels file not found" in proc.stderr and "support" in proc.stderr and "Traceback" not in proc.stderr
    (tmp_path / "l.jsonl").write_text('{"input": "q", "response": "r", "labels": {"CS1": "pass"}}\n')
    proc = run_cli(["judge", "calibrate", "--labels", "l.jsonl", "--judge", "embedded"], tmp_path)
    assert proc.returncode == 2 and "no rubric given" in proc.stderr
    proc = run_cli(["judge", "calibrate", "--labels", "l.jsonl", "--domain", "coaching", "--judge", "embedded"], tmp_path)
    assert proc.returncode == 1 and "unknown criterion 'CS1'" in proc.stderr and "l.jsonl:1" in proc.stderr


# --- self-consistency with several judge samples ------------------------------------------------------


class SeededJudge:
    """Deterministic in the seed: CS1 is 'no' when seed % 3 == 0, CS2 is 'no' when the seed is odd,
    everything else 'yes'. With --judge-samples 3 and --seed 0 the seeds are 0, 7919 and 15838, so
    CS1 reads no/yes/yes and CS2 yes/no/yes: majority 'yes', agreement 2/3 on both."""

    default_concurrency = 4

    def __init__(self):
        self.identity = ModelIdentity(provider="standin", name="seeded-judge", endpoint="standin://judge")
        self.seeds: list[int] = []

    async def generate(self, messages, params, json_schema=None):
        self.seeds.append(params.seed)
        verdict = {cid: "yes" for cid in json_schema["properties"]}
        if params.seed % 3 == 0:
            verdict["CS1"] = "no"
        if params.seed % 2 == 1:
            verdict["CS2"] = "no"
        return Completion(text=json.dumps({k: {"reason": f"seed {params.seed}", "verdict": v} for k, v in verdict.items()}), finish_reason="stop")

    async def aclose(self):
        pass


class PoliteCandidate:
    default_concurrency = 4

    def __init__(self):
        self.identity = ModelIdentity(provider="standin", name="candidate", endpoint="standin://candidate")

    async def generate(self, messages, params, json_schema=None):
        return Completion(text="Sorry about that. Please reply with your account email and I will pass this to the team.", finish_reason="stop")

    async def aclose(self):
        pass


@pytest.mark.parametrize("samples, expected_consistency, expected_low", [(3, (2 / 3 * 2 + 4) / 6, ["CS1", "CS2"]), (1, None, [])])
def test_self_consistency_with_a_deterministic_stand_in_judge(tmp_path, monkeypatch, samples, expected_consistency, expected_low):
    from basesel.run import baseline as baseline_module
    from basesel.run.config import RunConfig

    judge, candidate = SeededJudge(), PoliteCandidate()
    import basesel.models as models_package

    # the run opens its models through run/endpoints.py, which looks create_model up when it is called
    monkeypatch.setattr(models_package, "create_model", lambda spec, base_url=None, options=None: judge if "judge" in spec else candidate)
    config = RunConfig(model="standin/candidate", judge="standin/judge", rubric=REPO / "rubrics" / "support.yaml", taxonomy=REPO / "taxonomies" / "support.yaml", n=21, judge_samples=samples, out=tmp_path / "run")
    _, summary = asyncio.run(baseline_module.run_baseline(config))
    rel = summary["judge_reliability"]
    assert summary["counts"]["scored"] == 21 and rel["samples_per_response"] == samples
    assert sorted(set(judge.seeds)) == ([0, 7919, 15838] if samples == 3 else [0])
    if expected_consistency is None:
        assert rel["self_consistency"] is None
        # a single sample at seed 0 says CS1 'no' for every response
        assert next(c for c in summary["criteria"] if c["id"] == "CS1")["failures"] == 21
    else:
        assert rel["self_consistency"] == pytest.approx(expected_consistency, abs=1e-3)  # from agreements rounded to 3 places
        assert next(c for c in summary["criteria"] if c["id"] == "CS1")["failures"] == 0  # majority 'yes'
        rows = [json.loads(line) for line in (tmp_path / "run" / "assessments.jsonl").read_text().splitlines()]
        agreements = {c["id"]: c["agreement"] for c in rows[0]["criteria"] if "agreement" in c}
        assert agreements == {"CS1": 0.667, "CS2": 0.667, "CS3": 1.0, "CS4": 1.0, "CS5": 1.0, "CS7": 1.0}
    assert rel["low_agreement_criteria"] == expected_low
    if samples == 3:  # per criterion: the mean over responses of the share agreeing with the majority
        assert rel["agreement_by_criterion"]["CS1"] == pytest.approx(0.667, abs=1e-3) and rel["agreement_by_criterion"]["CS3"] == 1.0
        assert next(c for c in summary["criteria"] if c["id"] == "CS2")["agreement"] == pytest.approx(0.667, abs=1e-3)
