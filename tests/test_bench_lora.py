"""The lora condition on the embedded model with a tiny GGUF LoRA adapter (written here with `gguf`, in
the format `basesel finetune` exports), and the refusal of an adapter trained on another base file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from basesel.models import llamacpp

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not hasattr(llamacpp, "lora_option"), reason="needs the llama.cpp backend's -o lora= (basesel finetune)")]


def tiny_adapter(directory: Path, base_sha256: str, base_spec: str = "embedded") -> Path:
    """One LoRA pair on layer 0's attention query (SmolLM2-135M: 576 wide), rank 4, small weights."""
    import gguf
    import numpy as np

    directory.mkdir(parents=True)
    rng = np.random.default_rng(0)
    writer = gguf.GGUFWriter(str(directory / "adapter.gguf"), arch="llama")
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", 8.0)
    writer.add_tensor("blk.0.attn_q.weight.lora_a", (rng.standard_normal((4, 576)) * 0.01).astype(np.float32))
    writer.add_tensor("blk.0.attn_q.weight.lora_b", (rng.standard_normal((576, 4)) * 0.01).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    (directory / "basesel-adapter.json").write_text(json.dumps({"format": "basesel-adapter/1", "base": {"spec": base_spec, "gguf_sha256": base_sha256}, "gguf_adapter": "adapter.gguf"}))
    return directory


def test_lora_condition_runs_the_adapter_on_its_base_and_refuses_another_base(tmp_path):
    import subprocess

    from conftest import BASESEL, cli_env

    from basesel.models.gguf import embedded_model_path, sha256_of

    good = tiny_adapter(tmp_path / "good", sha256_of(embedded_model_path()))
    args = ["benchmark", "--smoke-test", "--tasks", "fpb", "--sample", "3", "--conditions", "zero-shot,lora", "--adapter", str(good), "--out", "runs/smoke/lora", "--resamples", "200", "--json"]
    proc = subprocess.run(BASESEL + args, cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    keys = {(c["model"], c["condition"]) for c in summary["cells"]}
    assert keys == {("embedded", "zero-shot"), ("embedded+lora", "lora")}
    manifest = json.loads((tmp_path / "runs/smoke/lora/manifest.json").read_text())
    tuned = next(m for m in manifest["models"] if m["key"] == "embedded+lora")
    assert "adapter.gguf" in json.dumps(tuned["identity"]) and manifest["adapter"]["base_sha256"]
    assert any(p["b"] == "embedded+lora lora" and p["a"] == "embedded zero-shot" for p in summary["comparisons"])

    wrong = tiny_adapter(tmp_path / "wrong", "0" * 64, base_spec="embedded")
    bad = subprocess.run(BASESEL + ["benchmark", "--smoke-test", "--tasks", "fpb", "--conditions", "lora", "--adapter", str(wrong), "--out", "runs/smoke/bad"],
                         cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "was trained on embedded (GGUF sha256 000000000000" in bad.stderr and "not on --model embedded" in bad.stderr
