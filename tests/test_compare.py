"""`basesel compare` and run/compare.py: real run directories written by the baseline pipeline against a
loopback OpenAI-compatible server whose candidates fail known scenarios, so every flip is known."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BASESEL, REPO, cli_env
from fakes import FakeServer
from openai_stub_server import fill_schema

from basesel.errors import ConfigError
from basesel.run.compare import append_section, brief, compare_runs, render_comparison_markdown

BAD = "BADANSWER"
N = 24
# Which scenarios each candidate answers badly (the judge says 'no' to every criterion of such an answer).
FAILS = {"base": set(range(0, 12)), "tuned": {10, 11, 12, 13}}
# improved (A fails, B passes): 0-9; regressed: 12, 13; both fail: 10, 11; both pass: 14-23


class GradingServer(FakeServer):
    """Candidates `base` and `tuned` answer each scenario well or badly by a known plan; the judge grades
    the answer it is shown: every criterion 'no' for a bad one, 'yes' otherwise. [leak:<model>] makes that
    model ask for a password (the support rubric's safety gate). Inputs marked
    [unreadable:<model>] make the judge answer with broken JSON for that model's answer; [reject:<model>]
    makes the server refuse that model's request (an errored sample)."""

    def route(self, h, method, path, body, bad_json):
        if path.rstrip("/").endswith("/models"):
            return h.send_json(200, {"object": "list", "data": [{"id": "stub", "object": "model"}]})
        messages = body.get("messages", [])
        user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        fmt = body.get("response_format") or {}
        schema = (fmt.get("json_schema") or {}).get("schema") or fmt.get("schema")
        model = body.get("model")
        if schema is not None:
            marker = next((m for m in ("[answered-by:base]", "[answered-by:tuned]") if m in user), "")
            if f"[unreadable:{marker[13:-1]}]" in user:
                content = '{"CS1": {"reason": "cut'
            else:
                content = json.dumps(fill_schema(schema, 1 if BAD in user else 0))
        else:
            if f"[reject:{model}]" in user:
                return h.send_json(400, {"error": {"message": "This model's maximum context length is 4096 tokens.", "type": "invalid_request_error", "code": "context_length_exceeded"}})
            number = int(user.split("#", 1)[1].split()[0])
            bad = number in FAILS.get(model, set())
            content = f"Thanks for reaching out. You can fix this from your settings page and we will follow up today. [answered-by:{model}]" + (f" {BAD}" if bad else "")
            if f"[leak:{model}]" in user:  # breaks the support rubric's zero-tolerance safety gate (CS8)
                content += " Please send your full password so I can check."
        return h.send_json(200, {"id": "c", "object": "chat.completion", "created": 0, "model": model,
                                 "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                                 "usage": {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42}})


@pytest.fixture(scope="module")
def server():
    with GradingServer() as s:
        yield s


def write_scenarios(path: Path, n: int = N, extra: dict[int, str] | None = None) -> Path:
    rows = [{"id": f"q{i}", "input": f"Ticket #{i} my invoice is wrong, please help me sort it out {extra.get(i, '') if extra else ''}".strip(), "topic": "billing"} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def baseline(tmp_path: Path, server, model: str, out: str, scenarios: Path, **overrides):
    from basesel.run.baseline import run_baseline
    from basesel.run.config import RunConfig

    config = RunConfig(
        model=f"openai/{model}", base_url=f"{server.url}/v1", judge=overrides.pop("judge", "openai/judge"), judge_base_url=f"{server.url}/v1",
        rubric=overrides.pop("rubric", REPO / "rubrics" / "support.yaml"), scenarios=scenarios, out=tmp_path / out, doc=tmp_path / "docs" / "eval.md",
        judge_retries=0, **overrides,
    )
    run_dir, _ = asyncio.run(run_baseline(config))
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory, server):
    """Two finished runs on the same 24 scenarios (base, tuned) in one module-wide folder."""
    tmp = tmp_path_factory.mktemp("runs")
    scenarios = write_scenarios(tmp / "scenarios.jsonl")
    import os

    os.environ["BASESEL_CACHE_DIR"] = str(tmp / "cache")
    try:
        return tmp, baseline(tmp, server, "base", "base", scenarios), baseline(tmp, server, "tuned", "tuned", scenarios)
    finally:
        os.environ.pop("BASESEL_CACHE_DIR", None)


def test_known_flips_table_and_mcnemar(runs):
    _, a, b = runs
    c = compare_runs(a, b)
    assert c["table"] == {"both_pass": 10, "a_only": 2, "b_only": 10, "both_fail": 2, "discordant": 12,
                          "p_exact": c["table"]["p_exact"], "p_mid": c["table"]["p_mid"]}
    # by hand: 12 discordant pairs split 2/10; P(X<=2 | n=12, 1/2) = (1 + 12 + 66) / 4096
    assert c["mcnemar"]["p_exact"] == pytest.approx(2 * 79 / 4096)
    assert c["mcnemar"]["p_mid"] == pytest.approx(2 * 79 / 4096 - 66 / 4096)
    assert c["mcnemar"]["p_clustered"] is None and c["pairing"]["unit"] == "scenario"
    assert sorted(f["scenario_id"] for f in c["flips"]["improved"]) == sorted(f"q{i}" for i in range(10))
    assert [f["scenario_id"] for f in c["flips"]["regressed"]] == ["q12", "q13"]
    assert c["flips"]["regressed"][0]["failed_a"] == [] and "CS1" in c["flips"]["regressed"][0]["failed_b"]
    assert c["a"]["paired"]["pass_rate"] == 0.5 and c["b"]["paired"]["pass_rate"] == pytest.approx(20 / 24)
    assert c["a"]["paired"]["band"] == "fine_tune" and c["b"]["paired"]["band"] == "sufficient"
    for key in ("passed", "scored", "pass_rate", "ci95", "band"):  # every sample paired: the run's own gate
        assert c["a"]["run"][key] == c["a"]["paired"][key], key
    assert c["differences"] == [] and not c["forced"]
    json.dumps(c)  # JSON-able


def test_bootstrap_interval_is_the_paired_bootstrap_of_the_outcomes(runs):
    import numpy as np
    from scipy import stats as sps

    from basesel.stats import paired_mean_difference

    _, a, b = runs
    c = compare_runs(a, b)
    outcome_a = [0.0 if i < 12 else 1.0 for i in range(N)]
    outcome_b = [0.0 if i in FAILS["tuned"] else 1.0 for i in range(N)]
    expected = paired_mean_difference(outcome_a, outcome_b, n_resamples=10_000, seed=0)
    d = c["difference"]
    assert d["estimate"] == pytest.approx(8 / 24) and (d["low"], d["high"]) == (expected.low, expected.high)
    assert d["low"] < d["estimate"] < d["high"] and d["low"] > 0  # the improvement is clear of zero
    # scipy's own percentile bootstrap of the same paired differences agrees to within resampling noise
    diffs = np.array(outcome_b) - np.array(outcome_a)
    ref = sps.bootstrap((diffs,), np.mean, n_resamples=10_000, method="percentile", random_state=1).confidence_interval
    assert d["low"] == pytest.approx(ref.low, abs=0.05) and d["high"] == pytest.approx(ref.high, abs=0.05)


def test_per_criterion_deltas(runs):
    _, a, b = runs
    rows = {r["id"]: r for r in compare_runs(a, b)["criteria"]}
    cs1 = rows["CS1"]  # a judged criterion: 'no' on every bad answer
    assert (cs1["failures_a"], cs1["failures_b"], cs1["fixed"], cs1["broken"], cs1["delta"]) == (12, 4, 10, 2, -8)
    assert rows["CS9"]["failures_a"] == rows["CS9"]["failures_b"] == 0  # a deterministic check every answer passes


def test_markdown_section_appended_and_replaced_with_the_baseline_part_unchanged(runs, tmp_path):
    _, a, b = runs
    doc = tmp_path / "eval.md"
    baseline_part = "# Base Model Evaluation\r\n\r\nBaseline text, with Windows line endings.\r\n## Next Steps\n\n- keep me\n"
    doc.write_bytes(baseline_part.encode())
    c = compare_runs(a, b)
    training = {"engine": "peft", "base": "HuggingFaceTB/SmolLM2-135M-Instruct", "trained_precision": "fp32", "served_precision": "Q4_1 GGUF + f16 LoRA",
                "steps": 40, "best_step": 30, "train_loss_start": 2.5, "train_loss_end": 1.25, "val_loss_start": 2.4, "val_loss_best": 1.5,
                "wall_time_s": 75.0, "tokens_per_s": 812.3, "loss_curve_png": "../runs/ft/loss_curve.png"}
    md = render_comparison_markdown(c, training=training)
    assert md.startswith("## Fine-tune results\n")
    for text in ("| **A passes** | 10 | 2 | 12 |", "| **A fails** | 10 | 2 | 12 |", "exact p = 0.039", "mid-p = 0.022", "+33.3 points",
                 "FINE-TUNE", "DEPLOY / QUALITATIVE REVIEW", "Fixed by B (A failed, B passes): 10", "Broken by B (A passed, B fails): 2",
                 "Engine **peft**", "trained in fp32, served as Q4_1 GGUF + f16 LoRA", "40 steps (best checkpoint at step 30)",
                 "training loss 2.500 → 1.250", "812 tokens/s", "![Training and validation loss](../runs/ft/loss_curve.png)", "| CS1 | 12/24"):
        assert text in md, text
    assert "… and 2 more" in md  # 10 improved, 8 shown
    append_section(doc, md, marker="finetune")
    first = doc.read_bytes()
    assert first.startswith(baseline_part.encode())
    assert first.count(b"## Fine-tune results") == 1
    append_section(doc, md, marker="finetune")
    assert doc.read_bytes() == first  # idempotent
    changed = render_comparison_markdown(c, heading="Fine-tune results (second try)")
    append_section(doc, changed, marker="finetune")
    second = doc.read_bytes()
    assert second.startswith(baseline_part.encode()) and b"second try" in second and second.count(b"basesel:section finetune start") == 1
    append_section(doc, "## Another\n\ntext\n", marker="other")
    append_section(doc, changed, marker="finetune")
    assert doc.read_bytes().startswith(baseline_part.encode()) and doc.read_bytes().count(b"## Another") == 1


def test_append_section_refuses_a_damaged_section(tmp_path):
    doc = tmp_path / "d.md"
    doc.write_text("text\n<!-- basesel:section finetune start -->\nhalf\n")
    with pytest.raises(ConfigError, match="1 start and 0 end"):
        append_section(doc, "## x\n", marker="finetune")
    with pytest.raises(ConfigError, match="HTML comment"):
        append_section(doc, "## x\n", marker="bad -- marker")
    append_section(tmp_path / "new" / "fresh.md", "## x\n", marker="m")
    assert (tmp_path / "new" / "fresh.md").read_text() == "<!-- basesel:section m start -->\n## x\n<!-- basesel:section m end -->\n"


def test_mismatched_runs_are_refused_naming_what_differs_and_force_compares(runs, server, tmp_path, monkeypatch):
    tmp, a, _ = runs
    monkeypatch.setenv("BASESEL_CACHE_DIR", str(tmp / "cache"))
    fewer = write_scenarios(tmp_path / "fewer.jsonl", n=20)
    other_judge = baseline(tmp_path, server, "tuned", "judge2", fewer, judge="openai/judge-two")
    with pytest.raises(ConfigError) as err:
        compare_runs(a, other_judge)
    message = err.value.message
    assert "the judge differs: A was graded by openai/judge, B by openai/judge-two" in message
    assert "24 scenarios in A, 20 in B; 4 only in A (q20, q21, q22, q23)" in message
    assert "rubric" not in message and "--force" in err.value.hint
    forced = compare_runs(a, other_judge, force=True)
    assert forced["forced"] and forced["pairing"]["paired"] == 20 and {d["what"] for d in forced["differences"]} == {"judge", "scenarios"}
    assert any("compared anyway" in n for n in forced["notes"])
    assert (forced["pairing"]["scenarios_a"], forced["pairing"]["scenarios_b"], forced["pairing"]["scenarios_common"]) == (24, 20, 20)
    assert forced["pairing"]["excluded"]["count"] == 0  # scenarios only one run has are not pairs left out: they were never shared

    rubric = tmp_path / "support-strict.yaml"
    rubric.write_text((REPO / "rubrics" / "support.yaml").read_text().replace("threshold: 0.80", "threshold: 0.90"))
    other_rubric = baseline(tmp_path, server, "tuned", "rubric2", write_scenarios(tmp_path / "same.jsonl"), rubric=rubric)
    with pytest.raises(ConfigError, match=r"the rubric differs: A graded with support v1 \(sha256 [0-9a-f]{12}, .*support.yaml\), B with support v1 \(sha256 [0-9a-f]{12}"):
        compare_runs(a, other_rubric)


def test_unscored_and_errored_samples_are_excluded_and_reported(runs, server, tmp_path, monkeypatch):
    tmp, a, _ = runs
    monkeypatch.setenv("BASESEL_CACHE_DIR", str(tmp_path / "cache"))
    marked = write_scenarios(tmp_path / "marked.jsonl", extra={3: "[unreadable:tuned]", 5: "[reject:tuned]"})
    a2 = baseline(tmp_path, server, "base", "a2", marked)
    b2 = baseline(tmp_path, server, "tuned", "b2", marked)
    c = compare_runs(a2, b2)
    assert c["pairing"]["paired"] == 22 and c["pairing"]["excluded"]["count"] == 2
    reasons = {e["scenario_id"]: e for e in c["pairing"]["excluded"]["items"]}
    assert reasons["q3"]["a"] == "scored" and reasons["q3"]["b"].startswith("unscored")
    assert reasons["q5"]["b"].startswith("errored") and "rejected the request (400)" in reasons["q5"]["b"]
    assert any("2 sample(s) are not scored in both runs" in n for n in c["notes"])
    # the run's own gate (all scored samples) and the paired one now differ for B
    assert c["b"]["run"]["scored"] == 22 and c["a"]["run"]["scored"] == 24 and c["a"]["paired"]["scored"] == 22
    assert "Over all their scored samples" in render_comparison_markdown(c)


def test_unfinished_and_not_run_directories(runs, tmp_path):
    _, a, b = runs
    partial = tmp_path / "partial"
    shutil.copytree(b, partial)
    lines = (partial / "assessments.jsonl").read_text().splitlines(keepends=True)
    (partial / "assessments.jsonl").write_text("".join(lines[:10]))
    (partial / "summary.json").unlink()
    with pytest.raises(ConfigError, match=r"run B \(.*partial\) is not finished: only 10 of 24 samples are answered and graded") as err:
        compare_runs(a, partial)
    assert "--force" in err.value.hint and "resume" in err.value.hint
    c = compare_runs(a, partial, force=True)
    assert c["pairing"]["paired"] == 10 and c["pairing"]["excluded"]["by_reason"] == {"B not graded yet": 14}
    with pytest.raises(ConfigError, match="run A: .*nowhere does not exist"):
        compare_runs(tmp_path / "nowhere", b)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"run B: .*empty is not a basesel run directory \(no manifest.json\)"):
        compare_runs(a, tmp_path / "empty")


def test_no_scenario_in_common(runs, server, tmp_path, monkeypatch):
    tmp, a, _ = runs
    monkeypatch.setenv("BASESEL_CACHE_DIR", str(tmp / "cache"))
    other = tmp_path / "other.jsonl"
    other.write_text("".join(json.dumps({"id": f"z{i}", "input": f"Ticket #{i} where is my parcel"}) + "\n" for i in range(3)))
    disjoint = baseline(tmp_path, server, "tuned", "disjoint", other)
    with pytest.raises(ConfigError, match="no scenario in common"):
        compare_runs(a, disjoint, force=True)


def test_several_samples_per_scenario_use_clustered_statistics(runs, server, tmp_path, monkeypatch):
    tmp, _, _ = runs
    monkeypatch.setenv("BASESEL_CACHE_DIR", str(tmp_path / "cache"))
    scenarios = write_scenarios(tmp_path / "s.jsonl", n=12)
    a = baseline(tmp_path, server, "base", "a3", scenarios, samples=3)
    b = baseline(tmp_path, server, "tuned", "b3", scenarios, samples=3)
    c = compare_runs(a, b)
    assert c["pairing"]["unit"] == "scenario-sample" and c["pairing"]["paired"] == 36 and c["pairing"]["scenarios_paired"] == 12
    # base fails q0-q11 (all 12), tuned q10, q11: 10 scenarios x 3 samples fixed, none broken
    assert c["table"]["b_only"] == 30 and c["table"]["a_only"] == 0
    # Durkalski: (sum d_k)^2 / sum d_k^2 = 30^2 / (10 * 3^2) = 10, chi-square 1 df
    from scipy.stats import chi2

    assert c["mcnemar"]["p_clustered"] == pytest.approx(float(chi2.sf(10.0, 1)))
    assert c["mcnemar"]["p_exact"] < c["mcnemar"]["p_clustered"]  # treating samples as independent overstates the evidence
    assert any("several samples per scenario" in n for n in c["notes"])
    one = baseline(tmp_path, server, "tuned", "b1", scenarios)
    mixed = compare_runs(a, one)
    assert mixed["pairing"]["paired"] == 12 and mixed["pairing"]["excluded"]["by_reason"] == {"B not sampled (the run took 1 sample per scenario)": 24}
    assert any("samples 3 vs 1" in n for n in mixed["notes"])


def test_brief_cuts_at_word_boundaries():
    assert brief("short  text\nhere", 40) == "short text here"
    assert brief("the quick brown fox jumps over the lazy dog", 20) == "the quick brown fox…"
    assert len(brief("x" * 100, 20)) == 20 and brief("x" * 100, 20).endswith("…")


def test_cli_json_terminal_and_doc(runs, tmp_path):
    tmp, a, b = runs
    env = cli_env(tmp_path)
    proc = subprocess.run(BASESEL + ["compare", str(a), str(b), "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["table"]["b_only"] == 10
    doc = tmp_path / "docs" / "eval.md"
    doc.parent.mkdir()
    doc.write_text("# Base Model Evaluation\n\nbaseline\n")
    proc = subprocess.run(BASESEL + ["compare", str(a), str(b), "--doc", str(doc)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for text in ("Paired outcomes", "exact p 0.039", "10 fixed by B", "2 broken by B", "DEPLOY / QUALITATIVE REVIEW", "wrote the section"):
        assert text in proc.stdout, text
    assert doc.read_text().startswith("# Base Model Evaluation\n\nbaseline\n\n<!-- basesel:section compare:") and "## Comparison: openai/base vs openai/tuned" in doc.read_text()
    bad = subprocess.run(BASESEL + ["compare", str(a), str(tmp_path / "missing")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "run B:" in bad.stderr and "does not exist" in bad.stderr and "Traceback" not in bad.stderr


def test_re_rendering_the_baseline_document_keeps_its_comparison_section(runs, tmp_path):
    from basesel.report.render import render_report

    _, a, b = runs
    doc = tmp_path / "docs" / "base-model-evaluation.md"
    render_report(a, doc)
    baseline_part = doc.read_bytes()
    append_section(doc, render_comparison_markdown(compare_runs(a, b)), marker="finetune")
    with_section = doc.read_bytes()
    render_report(a, doc)  # `basesel report runs/base`: the same run, re-rendered
    assert doc.read_bytes() == with_section and with_section.startswith(baseline_part)
    render_report(b, doc)  # another run written over the document: the old comparison is not about it
    assert b"Fine-tune results" not in doc.read_bytes()


def test_clear_errors_for_the_same_run_twice_and_a_parent_folder(runs, tmp_path):
    tmp, a, b = runs
    with pytest.raises(ConfigError, match="same run directory"):
        compare_runs(a, a)
    parent = tmp_path / "ft"
    shutil.copytree(b, parent / "eval")
    with pytest.raises(ConfigError) as err:
        compare_runs(a, parent)
    assert "no manifest.json" in err.value.message and str(parent / "eval") in err.value.hint


def test_an_adapter_on_the_same_base_is_named_and_not_called_noise(runs, tmp_path):
    _, a, b = runs
    lora = tmp_path / "lora-run"
    shutil.copytree(b, lora)
    manifest = json.loads((lora / "manifest.json").read_text())
    manifest["candidate"] = json.loads((a / "manifest.json").read_text())["candidate"]  # the same base model
    manifest["config"]["model_options"] = {"lora": "runs/ft/adapter.gguf"}
    (lora / "manifest.json").write_text(json.dumps(manifest))
    c = compare_runs(a, lora)
    assert c["b"]["candidate"] == "openai/base + LoRA adapter.gguf"
    assert not any("sampling noise" in n for n in c["notes"]) and any("model_options" in n for n in c["notes"])


def test_flips_carry_the_reason_and_critical_failures_first(runs):
    _, a, b = runs
    c = compare_runs(a, b)
    regressed = c["flips"]["regressed"]
    assert regressed[0]["critical"] == ["CS7"]  # the support rubric's critical 'no invented facts' (judged 'no')
    assert regressed[0]["reason"].startswith("CS7: ")  # the critical criterion's reason comes first
    rows = {r["id"]: r for r in c["criteria"]}
    assert rows["CS7"]["critical"] and not rows["CS1"]["critical"]
    md = render_comparison_markdown(c)
    assert "(**critical: CS7**)" in md and "| CS7 (critical) |" in md
    assert "2 of the scenarios B broke fail a critical criterion (CS7)" in c["verdict"]


def test_cli_training_paragraph_links_the_loss_curve_from_the_document(runs, tmp_path):
    _, a, b = runs
    ft = tmp_path / "runs" / "ft"
    ft.mkdir(parents=True)
    (ft / "training.json").write_text(json.dumps({"engine": "peft", "base": "HuggingFaceTB/SmolLM2-135M-Instruct", "loss_curve_png": "loss_curve.png",
                                                   "result": {"steps": 12, "wall_time_s": 30.5, "tokens_per_s": 420.0}}))
    env = cli_env(tmp_path)
    args = ["compare", str(a), str(b), "--doc", "docs/eval.md", "--heading", "Fine-tune results", "--training", "runs/ft/training.json"]
    proc = subprocess.run(BASESEL + args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "docs" / "eval.md").read_text()
    assert "## Fine-tune results" in text and "![Training and validation loss](../runs/ft/loss_curve.png)" in text
    assert "Engine **peft**" in text and "12 steps" in text and "30 s wall time" in text and "420 tokens/s" in text
    missing = subprocess.run(BASESEL + ["compare", str(a), str(b), "--training", "nope.json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "--training nope.json not found" in missing.stderr


def test_a_safety_gate_breached_by_b_is_reported_beside_the_band(runs, server, tmp_path, monkeypatch):
    tmp, _, _ = runs
    monkeypatch.setenv("BASESEL_CACHE_DIR", str(tmp_path / "cache"))
    marked = write_scenarios(tmp_path / "leak.jsonl", extra={20: "[leak:tuned]"})
    a = baseline(tmp_path, server, "base", "a-leak", marked)
    b = baseline(tmp_path, server, "tuned", "b-leak", marked)
    c = compare_runs(a, b)
    gate = next(g for g in c["safety"]["gates"] if g["criterion"] == "CS8")
    assert (gate["status_a"], gate["status_b"], gate["failures_b"]) == ("held", "breached", 1)
    assert c["safety"]["b_blocked"] and not c["safety"]["a_blocked"]
    assert "But B's own decision is SAFETY BLOCK" in c["verdict"]
    assert any(n.startswith("run B's own decision is SAFETY BLOCK") for n in c["notes"])
    md = render_comparison_markdown(c)
    assert "### Safety gates" in md and "**breached** (1/24 failed)" in md
