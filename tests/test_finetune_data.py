"""Fine-tune inputs that need no training: chat JSONL validation (file:line), near-duplicates, the held-out
leak check, the split, the hyper-parameter config, base resolution, engine choice, -o lora= errors, the
teacher's failure weighting, and the CLI's bad-input errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import BASESEL, REPO, cli_env

from basesel.errors import ConfigError, UsageError
from basesel.finetune.base_model import resolve_base
from basesel.finetune.config import FinetuneConfig, default_config_path, load_config
from basesel.finetune.data import Example, check_no_leak, leaks, load_chat_jsonl, near_duplicates, split
from basesel.scenarios.model import Scenario


def chat(user: str, answer: str = "Go to Settings > Billing.", system: str | None = None) -> dict:
    msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return {"messages": msgs}


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


GOOD = chat("I was charged twice", system="Be brief.")


@pytest.mark.parametrize(
    "bad, message",
    [
        ("{not json", "not valid JSON"),
        ({"msgs": []}, "not an object with 'messages'"),
        ({"messages": []}, "non-empty list"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "last message is not an assistant turn"),
        ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "  "}]}, "message 2 (assistant) is empty"),
        ({"messages": [{"role": "bot", "content": "hi"}]}, "role 'bot'"),
        ({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "assistant", "content": "c"}]}, "message 2 is 'user' where 'assistant' was expected"),
        ({"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}, {"role": "assistant", "content": "c"}]}, "system message may only come first"),
        ({"messages": [{"role": "assistant", "content": "a"}]}, "message 1 is 'assistant' where 'user' was expected"),
        ({"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "c"}]}, "no text 'content'"),
        ({"messages": [{"role": "user", "content": "a", "tool_calls": []}, {"role": "assistant", "content": "c"}]}, "unknown key(s) tool_calls"),
    ],
)
def test_malformed_chat_jsonl_names_file_and_line(tmp_path, bad, message):
    path = write_jsonl(tmp_path / "train.jsonl", [GOOD, "", bad])
    with pytest.raises(ConfigError) as err:
        load_chat_jsonl(path)
    assert err.value.where == f"{path}:3"  # the blank line 2 is skipped, the count is still the file's
    assert message in err.value.message
    assert "messages" in err.value.hint


def test_valid_chat_jsonl_loads_with_sources_and_tags(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [GOOD, {**chat("x"), "topic": "billing"}])
    items = load_chat_jsonl(path)
    assert [e.source for e in items] == [f"{path}:1", f"{path}:2"]
    assert items[1].tags == {"topic": "billing"} and items[0].messages[0]["role"] == "system"


def test_empty_or_missing_data_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_chat_jsonl(tmp_path / "nope.jsonl")
    with pytest.raises(ConfigError, match="holds no conversations"):
        load_chat_jsonl(write_jsonl(tmp_path / "e.jsonl", [""]))


def examples(*users: str) -> list[Example]:
    return [Example(chat(u)["messages"], f"f:{i + 1}") for i, u in enumerate(users)]


def test_near_duplicates_are_reported_with_both_lines():
    found = near_duplicates(examples("My card was charged twice!", "my card was charged twice", "How do I export my data?"), 90)
    assert found == [{"a": "f:1", "b": "f:2", "score": 100.0}]


def test_held_out_leak_fails_loudly_with_the_pairs():
    held = [Scenario("s001", "I cannot log in after resetting my password"), Scenario("s002", "Where is my invoice?")]
    items = examples("How do I export my data?", "i cannot log in after resetting my password!!", "I can't log in after resetting my password")
    found = leaks(items, held, 90)
    assert [(f["item"], f["scenario_id"]) for f in found] == [("f:2", "s001"), ("f:3", "s001")]
    with pytest.raises(ConfigError) as err:
        check_no_leak(items, held, 90, what="training")
    assert "2 training item(s) overlap the held-out" in err.value.message
    assert "f:2 ~ held-out s001 (similarity 100)" in err.value.message
    check_no_leak(items[:1], held, 90, what="training")  # no overlap: no error


def test_split_is_stratified_deterministic_and_never_empty():
    items = [Example(chat(f"q{i}")["messages"], f"f:{i}", {"topic": "a" if i < 10 else "b"}) for i in range(20)]
    train, val = split(items, 0.2, 1, seed=3)
    assert len(val) == 4 and len(train) == 16
    assert sorted(e.tags["topic"] for e in val) == ["a", "a", "b", "b"]
    assert [e.source for e in split(items, 0.2, 1, seed=3)[1]] == [e.source for e in val]
    train, val = split(items[:2], 0.1, 1, seed=0)
    assert len(train) == 1 and len(val) == 1
    with pytest.raises(ConfigError, match="at least 2"):
        split(items[:1], 0.1, 1, seed=0)


def test_shipped_config_is_the_documented_defaults():
    assert load_config() == FinetuneConfig()
    assert default_config_path().is_file()


def test_config_flags_and_partial_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  batch_size: 2\n")
    cfg = load_config(path, max_steps=7, lr=1e-3, lora_r=4, max_length=128, seed=5, epochs=None)
    assert (cfg.train.batch_size, cfg.train.max_steps, cfg.train.learning_rate, cfg.lora.r, cfg.train.max_length, cfg.train.seed) == (2, 7, 1e-3, 4, 128, 5)
    assert cfg.train.epochs == 3  # left out of the file: the default
    path.write_text("train:\n  batch_sise: 2\n")
    with pytest.raises(ConfigError, match="batch_sise"):
        load_config(path)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_base_resolution_forms(tmp_path):
    embedded = resolve_base("embedded")
    assert embedded.kind == "gguf" and embedded.serve_spec == "embedded" and embedded.gguf_file.endswith(".gguf") and len(embedded.sha256) == 64
    assert resolve_base("HuggingFaceTB/SmolLM2-135M-Instruct").hf_id == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert resolve_base("hf/Qwen/Qwen3-8B").load_from == "Qwen/Qwen3-8B"
    assert resolve_base("qwen3:8b").hf_id == "Qwen/Qwen3-8B"  # through the research catalog
    assert resolve_base("vllm/Qwen/Qwen3-4B").hf_id == "Qwen/Qwen3-4B"
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    assert resolve_base(str(tmp_path / "m")).kind == "hf"
    for spec, words in (("openai/gpt-4o-mini", "served by an API"), ("ollama/nosuchmodel:1b", "maps no Hugging Face repo"), (str(tmp_path / "x.gguf"), "GGUF not found")):
        with pytest.raises(ConfigError) as err:
            resolve_base(spec)
        assert words in err.value.message and "embedded" in err.value.hint


def test_unsloth_without_cuda_says_so_before_importing_it():
    from basesel.finetune.engines.base import select_engine

    with pytest.raises(ConfigError) as err:
        select_engine("unsloth")
    assert "needs an NVIDIA GPU with CUDA" in err.value.message and "--engine peft" in err.value.hint
    import sys

    assert "unsloth" not in sys.modules
    engine, why = select_engine("auto")
    assert engine.name == "peft" and "no CUDA device" in why
    with pytest.raises(UsageError):
        select_engine("deepspeed")


def test_lora_option_errors(tmp_path):
    from basesel.models.llamacpp import lora_option

    assert lora_option({}, model="m") == (None, 1.0)
    with pytest.raises(ConfigError, match="without lora"):
        lora_option({"lora_scale": 0.5}, model="m")
    with pytest.raises(ConfigError, match="not found"):
        lora_option({"lora": str(tmp_path / "a.gguf")}, model="m")
    (tmp_path / "a.gguf").write_bytes(b"GGUF")
    assert lora_option({"lora": str(tmp_path / "a.gguf"), "lora_scale": "0.5"}, model="m") == (tmp_path / "a.gguf", 0.5)
    assert lora_option({"lora": str(tmp_path)}, model="m")[0] == tmp_path / "a.gguf"  # the folder's only GGUF
    with pytest.raises(ConfigError, match="not a number"):
        lora_option({"lora": str(tmp_path / "a.gguf"), "lora_scale": "big"}, model="m")


def test_adapter_is_part_of_the_cache_identity():
    from basesel.models.base import ModelIdentity

    plain = ModelIdentity("embedded", "SmolLM2", endpoint="/m.gguf", digest="sha256:1")
    with_lora = ModelIdentity("embedded", "SmolLM2", endpoint="/m.gguf", digest="sha256:1", adapter={"path": "/a", "sha256": "ab", "scale": 1.0})
    moved = ModelIdentity("embedded", "SmolLM2", endpoint="/m.gguf", digest="sha256:1", adapter={"path": "/b", "sha256": "ab", "scale": 1.0})
    assert "adapter" not in plain.cache_identity()  # existing cache keys are unchanged
    assert with_lora.cache_identity() != plain.cache_identity()
    assert with_lora.cache_identity() == moved.cache_identity()  # where the file lies does not change answers


def test_weighted_taxonomy_favours_what_failed():
    from basesel.finetune.teacher import weighted_taxonomy
    from basesel.scenarios import load_taxonomy

    tax = load_taxonomy(REPO / "taxonomies" / "support.yaml")
    first, second = tax.topics[0].name, tax.topics[1].name
    weights = {"topic": {first: 0.8, second: 0.0}, "style": {"terse": 0.4, "detailed": 0.2}}
    out = weighted_taxonomy(tax, weights, failed_weight=3.0)
    assert out.topics[0].weight == pytest.approx(tax.topics[0].weight * 3.0)
    assert out.topics[1].weight == pytest.approx(tax.topics[1].weight)
    assert out.styles["terse"].weight == pytest.approx(3.0) and out.styles["detailed"].weight == pytest.approx(2.0)
    assert tax.topics[0].weight != out.topics[0].weight  # the original is untouched


def run_cli(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(BASESEL + args, cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=120)


def test_cli_bad_inputs_are_clear_errors_not_tracebacks(tmp_path):
    bad = write_jsonl(tmp_path / "bad.jsonl", [GOOD, {"messages": [{"role": "user", "content": "hi"}]}])
    cases = [
        (["finetune", "--base", "embedded", "--data", str(bad), "--no-eval"], f"{bad}:2", 1),
        (["finetune", "--from-run", str(tmp_path / "nope"), "--data", str(bad)], "is not a directory", 1),
        (["finetune", "--base", "embedded"], "exactly one of --data FILE or --teacher SPEC", 2),
        (["finetune", "--data", str(bad)], "--from-run is needed", 2),
        (["finetune", "--base", "openai/gpt-4o", "--data", str(bad)], "served by an API", 1),
        (["finetune", "--base", "embedded", "--data", str(bad), "--engine", "unsloth"], "needs an NVIDIA GPU", 1),
    ]
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "manifest.json").write_text(json.dumps({"basesel_version": "0", "created": "x", "config": {}, "candidate": {"provider": "embedded", "name": "m"}, "judge": {"provider": "embedded", "name": "m"}, "rubric": {"id": "r"}, "scenarios": {"count": 3}}))
    cases.append((["finetune", "--from-run", str(tmp_path / "half"), "--data", str(bad)], "not a finished baseline run", 1))
    for args, needle, code in cases:
        proc = run_cli(args, tmp_path)
        assert proc.returncode == code, (args, proc.stderr)
        assert needle in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_finetune_help_imports_no_training_stack(tmp_path):
    code = "import sys; sys.argv=['basesel','finetune','--help']\nfrom basesel.cli.main import app\ntry:\n    app()\nexcept SystemExit: pass\nprint(sorted(m for m in ('torch','transformers','peft','llama_cpp','matplotlib') if m in sys.modules))"
    proc = subprocess.run([BASESEL[0], "-c", code], cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert "--teacher-tries" in proc.stdout and "--engine" in proc.stdout


def test_missing_training_stack_names_the_extra(monkeypatch):
    import sys

    from basesel.errors import MissingDependencyError
    from basesel.finetune.engines.base import require_training_stack

    monkeypatch.setitem(sys.modules, "peft", None)  # as if not installed
    with pytest.raises(MissingDependencyError) as err:
        require_training_stack()
    assert "pip install 'basesel[finetune]'" in err.value.hint


def test_a_checkpoint_cut_short_is_moved_aside(tmp_path):
    from basesel.finetune.engines.trainer import complete_checkpoints

    for step, complete in ((2, True), (4, True), (6, False)):
        ckpt = tmp_path / f"checkpoint-{step}"
        ckpt.mkdir()
        (ckpt / "adapter_model.safetensors").write_bytes(b"x")
        if complete:
            (ckpt / "optimizer.pt").write_bytes(b"x")
            (ckpt / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-4" / "trainer_state.json").write_text('{"global_st')  # killed while writing
    assert [p.name for p in complete_checkpoints(tmp_path)] == ["checkpoint-2"]
    assert sorted(p.name.split(".")[0] for p in tmp_path.glob("checkpoint-*.incomplete-*")) == ["checkpoint-4", "checkpoint-6"]


def test_llama_repack_switch(monkeypatch):
    from basesel.models.llamacpp import skip_repack

    monkeypatch.setenv("BASESEL_LLAMA_REPACK", "1")
    assert skip_repack() is False
    monkeypatch.setenv("BASESEL_LLAMA_REPACK", "0")
    assert skip_repack() is True
    monkeypatch.delenv("BASESEL_LLAMA_REPACK")
    flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "") if Path("/proc/cpuinfo").exists() else ""
    assert skip_repack() is (" amx_tile" in flags)
