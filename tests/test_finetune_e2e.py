"""A real LoRA fine-tune of the embedded SmolLM2 on CPU: a baseline run on the embedded model, teacher data
from a loopback server with known-good answers (graded by the same rubric and a loopback judge), a few
training steps, the GGUF adapter loaded by llama-cpp-python, the re-evaluation, and kill -9 + resume.

One trained adapter is shared by the module (built once, ~1-2 min on 2 cores)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BASESEL, cli_env

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fakes import FakeOpenAI  # noqa: E402

pytestmark = pytest.mark.slow

TAXONOMY = """\
id: mini
version: 1
domain: customer support
system_prompt: You are the support assistant for Acme Cloud. Be brief and specific.
styles:
  terse: {weight: 1}
  conversational: {weight: 1}
topics:
  - name: billing
    subtopics:
      - name: charges
        situations:
          - I was charged twice for my March invoice
          - My card shows two identical charges this month
          - The invoice total is higher than my plan price
          - I see a charge after I cancelled my plan
        details: [It happened on the same day., The plan is Pro.]
  - name: access
    subtopics:
      - name: login
        situations:
          - I cannot log in after resetting my password
          - The two-factor code never arrives by SMS
          - My account got locked after three attempts
          - The login page keeps reloading without an error
        details: [I use Firefox., It started yesterday.]
"""

# M1 is a deterministic check the base model fails and the teacher's answers ("... your settings page ...") pass.
RUBRIC = """\
id: mini
version: 1
domain: customer support
criteria:
  - id: M1
    name: Points to settings
    kind: contains
    terms: [settings]
    statement: The response tells the user where in the settings to go.
  - id: M2
    name: Addresses the request
    statement: The response addresses the user's actual request.
"""

FT_CONFIG = "train: {batch_size: 2, grad_accum: 1, learning_rate: 1.0e-3, max_length: 256}\nlora: {r: 8, alpha: 16}\n"


def cli(args: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(BASESEL + args, cwd=cwd, env=cli_env(cwd), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    work = tmp_path_factory.mktemp("ft")
    (work / "tax.yaml").write_text(TAXONOMY)
    (work / "rubric.yaml").write_text(RUBRIC)
    (work / "ft.yaml").write_text(FT_CONFIG)
    with FakeOpenAI() as server:
        url = f"{server.url}/v1"
        base = cli(["baseline", "--model", "embedded", "--judge", "openai/judge", "--judge-base-url", url, "--taxonomy", "tax.yaml", "--rubric", "rubric.yaml",
                    "-n", "4", "--max-tokens", "32", "--temperature", "0", "--out", "base", "--doc", "doc.md"], work)
        assert base.returncode not in (1, 2), base.stderr  # a decision (0, 3-8), not an error
        doc_before = (work / "doc.md").read_text()
        started = time.monotonic()
        ft = cli(["finetune", "--from-run", "base", "--teacher", "openai/teacher", "--teacher-base-url", url, "--teacher-n", "12", "--teacher-tries", "2",
                  "--config", "ft.yaml", "--max-steps", "8", "--eval-steps", "4", "--out", "ft", "--no-progress"], work)
        assert ft.returncode == 0, ft.stderr
        teacher_calls = server.count("POST /v1/chat/completions")
    return {"work": work, "ft": work / "ft", "stderr": ft.stderr, "doc_before": doc_before, "seconds": time.monotonic() - started, "calls": teacher_calls}


def test_training_learns_and_records_everything(trained):
    ft = trained["ft"]
    record = json.loads((ft / "training.json").read_text())
    t = record["training"]
    assert t["steps"] == 8 and t["resumed_from_step"] is None
    assert t["final"]["train_loss"] < t["initial"]["train_loss"]  # it learned the teacher's answers
    assert t["final"]["val_loss"] < t["initial"]["val_loss"]
    evals = [h for h in t["history"] if "eval_loss" in h]
    assert [h["step"] for h in evals] == [4, 8] and t["best_val_loss"] == pytest.approx(min(h["eval_loss"] for h in evals), abs=1e-5)
    assert t["tokens_per_s"] > 0 and t["tokens_seen"] > 0 and t["peak_memory"]["max_rss_mib"] > 100
    # loss only on the assistant turn, pad distinct from the end-of-turn token
    assert t["tokenizer"]["pad_token"] != "<|im_end|>"
    trained_text = t["tokenizer"]["masking_example"]["trained_text"]
    assert trained_text.startswith("Thanks for reaching out.") and trained_text.rstrip().endswith("<|im_end|>") and "<|im_start|>" not in trained_text
    assert record["precision"]["trained"].startswith("fp32 base (dequantized from Q4_1)") and "Q4_1" in record["precision"]["served"]
    assert {"torch", "transformers", "peft"} <= set(record["versions"]) and record["hardware"]["cpu_count"]
    assert record["data"]["train"]["sha256"] and record["seed"] == 0 and record["config"]["lora"]["r"] == 8
    assert (ft / "loss-curve.png").read_bytes()[:4] == b"\x89PNG"
    for name in ("adapter_model.safetensors", "adapter_config.json", "adapter.gguf", "Modelfile", "basesel-adapter.json"):
        assert (ft / "adapter" / name).is_file(), name
    meta = json.loads((ft / "adapter" / "basesel-adapter.json").read_text())
    assert meta["base"]["spec"] == "embedded" and len(meta["base"]["gguf_sha256"]) == 64 and meta["gguf_adapter"] == "adapter.gguf"
    modelfile = (ft / "adapter" / "Modelfile").read_text()
    assert "ADAPTER ./adapter.gguf" in modelfile and 'PARAMETER stop "<|im_end|>"' in modelfile and "FROM /" in modelfile


def test_teacher_data_is_graded_kept_and_never_overlaps_the_held_out_set(trained):
    ft, work = trained["ft"], trained["work"]
    report = json.loads((ft / "data-report.json").read_text())
    src = report["source"]
    assert src["kind"] == "teacher" and src["teacher_first_try_pass_rate"] == 1.0 and src["kept"] == 12
    assert sum(c["scenarios"] for c in src["cells"].values()) == 12 and "M1" in src["baseline_failing_criteria"]
    assert (ft / "teacher" / "try-1" / "assessments.jsonl").is_file()  # graded through the baseline pipeline
    held = [json.loads(line)["input"] for line in (work / "base" / "scenarios.jsonl").read_text().splitlines()]
    from basesel.scenarios.dedup import similarity

    for name in ("train.jsonl", "val.jsonl"):
        for line in (ft / name).read_text().splitlines():
            user = next(m["content"] for m in json.loads(line)["messages"] if m["role"] == "user")
            assert max(similarity(user, h) for h in held) < 90


def test_gguf_adapter_changes_the_embedded_models_answer(trained):
    import asyncio

    from basesel.models import GenerationParams, Message, create_model

    prompt = [Message("system", "You are the support assistant for Acme Cloud. Be brief and specific."), Message("user", "My invoice shows a charge I do not recognise")]
    params = GenerationParams(temperature=0, max_tokens=24, seed=0)
    plain = create_model("embedded")
    tuned = create_model("embedded", options={"lora": str(trained["ft"] / "adapter")})  # the folder: basesel-adapter.json names the file
    assert tuned.identity.adapter["sha256"] and tuned.identity.name.endswith("+lora:adapter.gguf")
    before = asyncio.run(plain.generate(prompt, params)).text
    after = asyncio.run(tuned.generate(prompt, params)).text
    assert before != after
    off = create_model("embedded", options={"lora": str(trained["ft"] / "adapter" / "adapter.gguf"), "lora_scale": 0})
    assert asyncio.run(off.generate(prompt, params)).text == before  # at scale 0 the adapter is the only difference


def test_reevaluation_uses_the_baseline_settings_and_the_adapter(trained):
    ft, work = trained["ft"], trained["work"]
    record = json.loads((ft / "training.json").read_text())
    ev = record["evaluation"]
    manifest = json.loads((ft / "eval" / "manifest.json").read_text())
    base_manifest = json.loads((work / "base" / "manifest.json").read_text())
    assert manifest["candidate"]["adapter"]["sha256"] and manifest["scenarios"]["sha256"] == base_manifest["scenarios"]["sha256"]
    assert manifest["system_prompt"] == base_manifest["system_prompt"] and manifest["rubric"]["sha256"] == base_manifest["rubric"]["sha256"]
    for key in ("temperature", "max_tokens", "seed", "judge", "judge_base_url"):
        assert manifest["config"][key] == base_manifest["config"][key], key
    assert ev["run_dir"].endswith("eval") and ev["pass_rate"] is not None
    answers = lambda run: {r["scenario_id"]: r["answer"] for r in map(json.loads, (run / "responses.jsonl").read_text().splitlines())}  # noqa: E731
    before, after = answers(work / "base"), answers(ft / "eval")
    assert before.keys() == after.keys() and before != after  # same scenarios at temperature 0, answered by the adapter
    assert (ft / "eval" / "evaluation.md").is_file()
    try:
        import basesel.run.compare  # noqa: F401
    except ImportError:
        pytest.skip("basesel compare has not landed: the document section is appended once it has")
    doc = (work / "doc.md").read_text()
    assert doc.startswith(trained["doc_before"].rstrip()[:200]) and "Fine-tune results" in doc


@pytest.mark.timeout(1500)  # three trainings of 12 steps: ~2 min alone, 9 min seen on a loaded 2-core machine
def test_kill_mid_training_then_the_same_command_resumes(tmp_path):
    """SIGKILL after the first checkpoint; the re-run continues from it, not from step 0."""
    data = tmp_path / "chats.jsonl"
    asks = ["I was charged twice", "I cannot log in", "My invoice is wrong", "The 2FA code never arrives", "I see a charge after cancelling", "My account is locked"]
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"{a} (case {i})"}, {"role": "assistant", "content": "Thanks for reaching out. You can fix this from your settings page."}]}) + "\n" for i, a in enumerate(asks * 2)))
    (tmp_path / "ft.yaml").write_text(FT_CONFIG)
    args = ["finetune", "--base", "embedded", "--data", str(data), "--config", "ft.yaml", "--max-steps", "12", "--eval-steps", "2", "--out", "r", "--no-eval", "--no-progress"]
    proc = subprocess.Popen(BASESEL + args, cwd=tmp_path, env=cli_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if (tmp_path / "r" / "checkpoints" / "checkpoint-2" / "trainer_state.json").is_file():
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read().decode()
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stderr.close()
    assert not (tmp_path / "r" / "training.json").exists()
    again = cli(args, tmp_path)  # the same command
    assert again.returncode == 0, again.stderr
    assert "resuming from checkpoint-" in again.stderr
    record = json.loads((tmp_path / "r" / "training.json").read_text())
    t = record["training"]
    assert t["resumed_from_step"] >= 2 and t["steps"] == 12
    assert t["tokens_this_session"] < t["tokens_seen"]  # earlier steps were not redone
    # ... and it ends where an uninterrupted training of the same settings ends: the same steps over the same
    # tokens, the same losses, the same adapter (before the LoRA init was seeded, even two fresh trainings differed)
    whole = cli(args[:-4] + ["--out", "whole", "--no-eval", "--no-progress"], tmp_path)
    assert whole.returncode == 0, whole.stderr
    u = json.loads((tmp_path / "whole" / "training.json").read_text())["training"]
    assert (t["steps"], t["tokens_seen"]) == (u["steps"], u["tokens_seen"])
    assert [h["step"] for h in t["history"]] == [h["step"] for h in u["history"]]  # the killed session's log kept, nothing logged twice
    for key in ("val_loss", "train_loss"):
        assert t["final"][key] == pytest.approx(u["final"][key], rel=1e-3, abs=1e-4)
    from safetensors.numpy import load_file

    resumed, uninterrupted = load_file(tmp_path / "r" / "adapter" / "adapter_model.safetensors"), load_file(tmp_path / "whole" / "adapter" / "adapter_model.safetensors")
    assert resumed.keys() == uninterrupted.keys()
    for name in resumed:
        assert abs(resumed[name] - uninterrupted[name]).max() <= 1e-3, name
