"""Issue 11, each observed case reproduced end to end: `basesel baseline` against a loopback server
(127.0.0.1) playing the candidate and the judge."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from conftest import BASESEL, REPO, cli_env
from scripted_server import ScriptedServer, cites_the_reply

POLITE = "Thanks for reaching out. I am sorry about the trouble; open Settings, then Billing, and we will follow up today."


def run_cli(args: list[str], tmp_path: Path, timeout: int = 240, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(BASESEL + args, cwd=tmp_path, env=cli_env(tmp_path, **env), capture_output=True, text=True, timeout=timeout)


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


# -- 1. no confident decision from an untrustworthy judge ------------------------------------------

def copy_back_and_fail(user: str, criteria: dict[str, str]) -> dict:
    """What the 135M judge did: every reason is the criterion statement, every verdict 'no'."""
    return {cid: {"reason": statement, "verdict": "no"} for cid, statement in criteria.items()}


def test_a_server_candidate_without_a_judge_is_a_usage_error_that_lists_reachable_judges(tmp_path):
    with ScriptedServer(candidate=lambda u: POLITE, judge=copy_back_and_fail, models=("x", "big-judge")) as server:
        proc = run_cli(["baseline", "--model", "openai/x", "--base-url", server.url, "--domain", "support", "-n", "6"], tmp_path)
        assert server.calls == {"candidate": 0, "judge": 0}
    assert proc.returncode == 2, proc.stderr
    assert "no judge given for candidate 'openai/x'" in proc.stderr
    assert f"openai/big-judge --judge-base-url {server.url}" in proc.stderr  # found the way `basesel models` probes
    assert "Traceback" not in proc.stderr and not (tmp_path / "runs").exists()


def test_a_tiny_judge_that_copies_the_criteria_back_gives_a_provisional_decision_at_n_6(tmp_path):
    with ScriptedServer(candidate=lambda u: POLITE, judge=copy_back_and_fail) as server:
        proc = run_cli(["baseline", "--model", "openai/x", "--base-url", server.url, "--judge", "openai/smollm2-135m", "--judge-base-url", server.url,
                        "--domain", "support", "-n", "6", "--judge-max-tokens", "3000", "--out", "run", "--doc", "eval.md", "--json"], tmp_path)
    assert proc.returncode == 7, proc.stderr  # was 4 FULL PIPELINE
    assert {b.get("max_tokens") or b.get("max_completion_tokens") for b in server.judge_bodies} == {3000}  # --judge-max-tokens reaches the judge
    summary = json.loads(proc.stdout)
    assert summary["gate"]["pass_rate"] == 0.0 and summary["gate"]["band"] == "full_pipeline" and summary["gate"]["band_exit_code"] == 4
    assert summary["checks_only"]["passed"] == 6 == summary["checks_only"]["total"]
    codes = [r["code"] for r in summary["provisional_reasons"]]
    assert summary["provisional"] and codes == ["tiny_judge", "copied_reasons", "uniform_verdicts"]
    assert summary["judge_reliability"]["verdicts"]["verdicts"] == 36  # 6 judged criteria x 6 responses: over the 29 needed
    assert "(provisional: tiny_judge, copied_reasons, uniform_verdicts)" in summary["gate"]["decision"]
    assert "PROVISIONAL" in proc.stderr  # the terminal says so even with --json
    doc = (tmp_path / "eval.md").read_text()
    head = doc.split("## Model Selection")[0]
    assert "**PROVISIONAL" in head and "restate the criterion" in head and "Exit code 7" in head
    assert doc.split("## Next Steps")[1].split("\n1. ")[1].startswith("This decision is provisional (tiny_judge, copied_reasons, uniform_verdicts)")


# -- 2. safety gates decide deployment -------------------------------------------------------------

IGNORES_DISTRESS = "That sounds like a lot to carry. A short walk and a to-do list often help. What would make this week easier for you?"


def faithful_coaching_judge(cid: str, user: str) -> str:
    return "no" if cid == "CQ7" else "yes"  # it sees the missed crisis, and passes the rest


def test_a_missed_crisis_blocks_deploy_whatever_the_pass_rate(tmp_path):
    ungated = tmp_path / "coaching-ungated.yaml"
    ungated.write_text("".join(line for line in (REPO / "rubrics" / "coaching.yaml").read_text().splitlines(keepends=True) if "decision_gate:" not in line))
    with ScriptedServer(candidate=lambda u: IGNORES_DISTRESS, judge=cites_the_reply(faithful_coaching_judge)) as server:
        common = ["baseline", "--model", "openai/x", "--base-url", server.url, "--judge", "openai/judge", "--judge-base-url", server.url, "--domain", "coaching", "-n", "50", "--json"]
        before = run_cli(common + ["--rubric", str(ungated), "--out", "ungated", "--doc", "ungated.md"], tmp_path)
        after = run_cli(common + ["--out", "gated", "--doc", "eval.md"], tmp_path)
    old = json.loads(before.stdout)
    assert before.returncode == 0 and old["gate"]["pass_rate"] == 0.92 and old["gate"]["band"] == "sufficient"  # what the user saw: DEPLOY
    assert after.returncode == 8, after.stderr
    summary = json.loads(after.stdout)
    assert summary["gate"]["pass_rate"] == 0.92 and summary["gate"]["band"] == "sufficient" and summary["gate"]["band_exit_code"] == 0
    safety = summary["safety"]
    assert safety["blocked"] and safety["blocking"] == ["CQ7", "CQ8"]
    crisis = {g["criterion"]: g for g in safety["gates"]}
    assert (crisis["CQ7"]["failures"], crisis["CQ7"]["applicable"], crisis["CQ7"]["status"]) == (4, 4, "breached")
    assert crisis["CQ7"]["ci"][0] > 0.4  # its own interval: 4/4 failed
    assert crisis["CQ6"]["status"] in ("held", "unproven") and not crisis["CQ6"]["blocks"]
    assert summary["gate"]["decision"].startswith("SAFETY BLOCK: CQ7, CQ8 breached")
    doc = (tmp_path / "eval.md").read_text()
    first = doc.split("\n\n")[1]  # the paragraph right after the title
    assert first.startswith("> **SAFETY BLOCK: do not deploy.**") and "CQ7" in first and "4/4 failed" in first
    assert "### Safety gates (decision level)" in doc and "**BREACHED**" in doc
    steps = doc.split("## Next Steps")[1]
    assert steps.split("\n1. ")[1].startswith("Do not deploy: the safety gates CQ7, CQ8 are breached") and "deploy the base model" not in steps
    assert "SAFETY BLOCK" in after.stderr


# -- 4. correct evidence ---------------------------------------------------------------------------

class Switchable:
    """A judge whose replies cannot be read until `fixed` is set."""

    def __init__(self) -> None:
        self.fixed = False
        self.good = cites_the_reply(lambda cid, user: "no" if cid == "CS4" and len(user) % 3 == 0 else "yes")

    def __call__(self, user, criteria):
        return self.good(user, criteria) if self.fixed else '{"CS1": {"reason": "The response addr'


def test_an_unreadable_verdict_is_never_cached_and_is_judged_again_once_the_judge_is_fixed(tmp_path):
    judge = Switchable()
    with ScriptedServer(candidate=lambda u: POLITE, judge=judge) as server:
        common = ["baseline", "--model", "openai/x", "--base-url", server.url, "--judge", "openai/judge", "--judge-base-url", server.url, "--domain", "support", "-n", "6", "--json"]
        judge.fixed = True
        decided = run_cli(common + ["--seed", "1", "--out", "earlier", "--doc", "eval.md"], tmp_path)
        assert decided.returncode in (0, 3, 4, 5), decided.stderr
        kept = (tmp_path / "eval.md").read_text()
        judge.fixed = False
        broken = run_cli(common + ["--out", "a", "--doc", "eval.md"], tmp_path)
        assert broken.returncode == 6, broken.stderr
        # a run that scored nothing leaves the document holding a decision alone and says where its own went
        assert (tmp_path / "eval.md").read_text() == kept
        assert (tmp_path / "eval.no-decision.md").is_file() and "eval.no-decision.md" in broken.stderr
        assert json.loads(broken.stdout)["doc"] == "eval.no-decision.md"
        raw = lines(tmp_path / "a" / "judge-replies.jsonl")
        assert raw and raw[0]["text"].startswith('{"CS1": {"reason"') and "judge-replies.jsonl" in lines(tmp_path / "a" / "assessments.jsonl")[0]["unscored_reason"]

        judge.fixed = True
        calls = server.calls["judge"]
        retried = run_cli(["baseline", "--retry-errors", "a", "--json"], tmp_path)
        assert json.loads(retried.stdout)["counts"]["scored"] == 6 and server.calls["judge"] == calls + 6  # asked again, not the cache
        fresh = run_cli(common + ["--out", "b", "--doc", "b.md"], tmp_path)
        assert json.loads(fresh.stdout)["counts"]["scored"] == 6 and server.calls["judge"] == calls + 6  # the good verdicts were cached

        judge.fixed = False
        again = run_cli(common + ["--seed", "2", "--out", "c", "--doc", "c.md"], tmp_path)
        assert again.returncode == 6
        judge.fixed = True
        resumed = run_cli(common + ["--seed", "2", "--out", "c", "--doc", "c.md"], tmp_path)  # the same --out, no flag
        assert json.loads(resumed.stdout)["counts"]["scored"] == 6
    assert len(lines(tmp_path / "c" / "assessments.jsonl")) == 6  # one current record per scenario


def tiny_taxonomy(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(
        "id: tiny\nsystem_prompt: You are a support assistant.\n"
        "styles:\n  plain:\n    templates: ['{{ situation }}']\n"
        "topics:\n"
        "  - {name: billing, subtopics: [{name: charge, situations: ['I was charged twice', 'My invoice is wrong', 'Refund please']}]}\n"
        "  - {name: access, subtopics: [{name: login, situations: ['I cannot log in', 'Reset my password', 'My account is locked']}]}\n"
    )
    return path


def test_until_decisive_adds_only_new_inputs_and_says_when_the_taxonomy_is_exhausted(tmp_path):
    judge = cites_the_reply(lambda cid, user: "yes" if cid != "CS1" or len(user) % 2 else "no")
    with ScriptedServer(candidate=lambda u: POLITE, judge=judge) as server:
        proc = run_cli(["baseline", "--model", "openai/x", "--base-url", server.url, "--judge", "openai/judge", "--judge-base-url", server.url,
                        "--rubric", "support", "--taxonomy", str(tiny_taxonomy(tmp_path)), "-n", "4", "--until-decisive", "--max", "60", "--out", "run", "--json"], tmp_path)
    summary = json.loads(proc.stdout)
    inputs = [s["input"] for s in lines(tmp_path / "run" / "scenarios.jsonl")]
    assert len(inputs) == len(set(inputs)) == 6 == summary["gate"]["scored"]  # 6 distinct inputs, counted once
    assert "taxonomy is exhausted" in summary["growth"]["stop_reason"]


def test_until_decisive_stops_before_spending_when_the_cap_cannot_settle_it(tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    from openai_stub_server import serve

    server, stats = serve(0, delay=0.0, pass_rate=0.60)
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        proc = run_cli(["baseline", "--model", "openai/stub", "--base-url", url, "--judge", "openai/judge", "--judge-base-url", url,
                        "--domain", "support", "-n", "21", "--until-decisive", "--max", "40", "--out", "run", "--json"], tmp_path)
    finally:
        server.shutdown()
        server.server_close()
    summary = json.loads(proc.stdout)
    assert proc.returncode == 5 and summary["gate"]["settle_at_n"] > 40
    assert summary["growth"]["stop_reason"].startswith("stopped early") and len(summary["growth"]["rounds"]) == 1
    assert stats.chat == 42  # not one call past the first 21 scenarios


def test_progress_lines_in_a_log_and_the_paid_call_count(tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    from openai_stub_server import serve

    server, _ = serve(0, delay=0.15)
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        proc = run_cli(["baseline", "--model", "openai/stub", "--base-url", url, "--judge", "openai/judge", "--judge-base-url", url,
                        "--domain", "support", "-n", "8", "--concurrency", "1", "--out", "run"], tmp_path, BASESEL_PROGRESS_EVERY="0.4")
    finally:
        server.shutdown()
        server.server_close()
    progress = [x for x in proc.stderr.splitlines() if x.startswith("progress: ")]
    assert len(progress) >= 3, proc.stderr  # periodic plain lines: stderr is a pipe here, not a terminal
    assert re.fullmatch(r"progress: answers \d+/8, verdicts \d+/8, errors 0, elapsed \S+, ETA \S+", progress[0])
    assert progress[-1].startswith("progress: answers 8/8, verdicts 8/8, errors 0")
    assert "━" not in proc.stderr  # no bar drawn into a log

    paid = run_cli(["baseline", "--model", "anthropic/claude-x", "--judge", "anthropic/claude-y", "--domain", "support", "-n", "10"], tmp_path)
    assert paid.returncode == 1 and "ANTHROPIC_API_KEY" in paid.stderr
    assert "paid API: this run makes 10 answer calls to anthropic/claude-x and 10 verdict calls to anthropic/claude-y" in paid.stderr


def test_scenarios_n_has_a_stated_upper_bound(tmp_path):
    proc = run_cli(["scenarios", "--domain", "support", "-n", "100000000000", "--out", "s.jsonl"], tmp_path, timeout=60)
    assert proc.returncode == 2 and "above the limit of 100,000 scenarios" in proc.stderr and not (tmp_path / "s.jsonl").exists()
    proc = run_cli(["baseline", "--model", "embedded", "--domain", "support", "-n", "200000"], tmp_path, timeout=60)
    assert proc.returncode == 2 and "above the limit" in proc.stderr


def test_responses_hold_one_current_record_per_scenario_and_call_counts_add_up_across_a_resume(tmp_path):
    from fakes import FakeOpenAI

    scenarios = tmp_path / "s.jsonl"
    scenarios.write_text("".join(json.dumps({"id": f"q{i}", "input": f"My invoice {i} is wrong, please help"}) + "\n" for i in range(5)))
    with FakeOpenAI() as server:
        server.targeted["invoice 3 is"] = ["500"] * 4  # every attempt at one answer fails in the first run
        args = ["baseline", "--model", "openai/x", "--base-url", f"{server.url}/v1", "--judge", "openai/judge", "--judge-base-url", f"{server.url}/v1",
                "--rubric", "support", "--scenarios", str(scenarios), "--out", "run", "--json"]
        first = json.loads(run_cli(args, tmp_path).stdout)
        assert first["counts"]["errored"] == 1
        second = json.loads(run_cli(args, tmp_path).stdout)
    responses = lines(tmp_path / "run" / "responses.jsonl")
    assert sorted(r["scenario_id"] for r in responses) == [f"q{i}" for i in range(5)] and all("error" not in r for r in responses)
    assert [r["scenario_id"] for r in lines(tmp_path / "run" / "responses.superseded.jsonl")] == ["q3"]
    ledger = second["cache"]["records"]
    assert ledger["answers"]["called"] + ledger["answers"]["from_cache"] == 5 == second["counts"]["responses"]
    assert ledger["judge_calls"]["called"] + ledger["judge_calls"]["from_cache"] == 5
    assert second["cache"]["reused_from_run_dir"] == {"answers": 4, "verdicts": 4}
