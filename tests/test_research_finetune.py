"""`basesel research` knows what `basesel finetune` can train and export: marks, penalties, the table,
research.json, and the catalog's fine-tune data checked against the installed libraries."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pytest
import yaml

from basesel.research import Query, load_catalog, run_research
from basesel.research.finetune_fit import CANNOT_TRAIN, LIMITED_TRAINING, NO_LLAMACPP_ADAPTER, UNCONFIRMED
from basesel.research.output import to_json, to_markdown
from conftest import REPO

CATALOG = REPO / "configs" / "catalog.yaml"
TODAY = dt.date(2026, 12, 1)


def research(catalog=None, **kw):
    return run_research(Query(**kw), today=TODAY, catalog_file=catalog)


def by_id(r):
    return {s.cand.id: s for s in r.all_scored}


def custom_catalog(tmp_path, extra_models=(), drop_finetune=False):
    data = yaml.safe_load(CATALOG.read_text())
    data["models"].extend(extra_models)
    if drop_finetune:
        data.pop("finetune")
        for m in data["models"]:
            m.pop("arch", None)
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def clone(entry_id: str, **changes):
    data = yaml.safe_load(CATALOG.read_text())
    entry = next(m for m in data["models"] if m["id"] == entry_id)
    return {**entry, **changes}


def test_every_catalog_model_is_assessed_and_the_score_is_the_factors_less_the_penalty():
    r = research(domain="support")
    for s in r.all_scored:
        t = s.trainability
        assert t is not None and t.status in ("yes", "limited", "no", "unknown")
        assert s.score == max(0, s.total - t.penalty) and 0 <= t.penalty <= 25
        assert (t.penalty == 0) == (t.status == "yes")
        assert t.status == "yes" or t.reasons
    ranked = r.outcome.ranked
    assert [s.score for s in ranked if not s.avoid] == sorted((s.score for s in ranked if not s.avoid), reverse=True)


def test_known_limits_are_marked_with_their_reasons():
    s = by_id(research(domain="support"))
    tiny = s["granite-4.0-h-tiny"].trainability  # hybrid Mamba: limited training, adapter not loadable in llama.cpp
    assert tiny.status == "limited" and tiny.penalty == LIMITED_TRAINING + NO_LLAMACPP_ADAPTER
    assert any("Mamba" in why for why in tiny.reasons) and any("does not load in llama.cpp" in why for why in tiny.reasons)
    assert (tiny.train, tiny.export) == ("limited", "no")
    assert s["smollm2-135m-instruct"].trainability.status == "yes"  # the embedded model: Llama architecture
    assert s["qwen3-8b"].trainability.penalty == 0
    moe = s["qwen3-30b-a3b-instruct-2507"].trainability
    assert moe.status == "limited" and "expert" in moe.reasons[0]
    unrecorded = s["granite-4.0-micro"].trainability
    assert unrecorded.status == "unknown" and unrecorded.penalty == UNCONFIRMED and "architecture not recorded" in unrecorded.reasons[0]
    from basesel.research.scoring import concerns as concern_lines

    r = research(domain="support", min_params_b=5, max_params_b=9)
    line = concern_lines(by_id(r)["granite-4.0-h-tiny"], r.query, r.domain_name, r.catalog)[0]
    assert line.startswith("fine-tuning limited (-13 points): hybrid Mamba-2 MoE")


def test_closed_and_gguf_only_models_are_scored_down_and_ranked_lower(tmp_path):
    path = custom_catalog(tmp_path, [
        clone("qwen3-8b", id="qwen3-8b-api", model="Qwen3-8B (API)", weights="closed"),
        clone("qwen3-8b", id="qwen3-8b-gguf", model="Qwen3-8B (GGUF only)", weights="gguf-only", hf_repo=None),
        clone("olmo-2-1124-7b-instruct", id="olmo-gguf", model="OLMo-2 (GGUF only)", weights="gguf-only"),
    ])
    r = research(path, domain="coding", min_params_b=6, max_params_b=10, top=60)
    s = by_id(r)
    api, gguf, olmo, real = (s[k] for k in ("qwen3-8b-api", "qwen3-8b-gguf", "olmo-gguf", "qwen3-8b"))
    assert api.trainability.status == "no" and api.trainability.penalty == CANNOT_TRAIN and "closed weights" in api.trainability.reasons[0]
    assert api.total == real.total and api.score == real.score - CANNOT_TRAIN and api.rank > real.rank
    # a GGUF-only base of an architecture transformers' GGUF loader reads: trainable, dequantized
    assert gguf.trainability.status == "limited" and gguf.trainability.penalty == LIMITED_TRAINING and "dequantized" in gguf.trainability.reasons[0]
    # ... and of one it cannot read: not trainable
    assert olmo.trainability.status == "no" and "cannot read olmo2" in olmo.trainability.reasons[0]
    row = next(row for row in to_json(r)["candidates"] if row["id"] == "qwen3-8b-api")
    assert row["finetune"]["status"] == "no" and row["score"] == row["factor_total"] - CANNOT_TRAIN
    assert "cannot fine-tune" in row["why"] or row["why"].startswith("score")


def test_research_json_and_markdown_carry_the_mark_and_reason():
    r = research(domain="support", min_params_b=5, max_params_b=9, top=20)
    data = to_json(r)
    rows = {row["id"]: row for row in data["candidates"]}
    tiny = rows["granite-4.0-h-tiny"]
    assert tiny["finetune"]["status"] == "limited" and tiny["finetune"]["penalty"] == 13 and tiny["score"] == tiny["factor_total"] - 13
    assert data["primary"]["finetune"]["status"] in ("yes", "limited", "unknown")
    md = to_markdown(data)
    assert "| Score | Fine-tune | Notes | Verdict |" in md
    line = next(line for line in md.splitlines() if line.startswith("| ") and "granite-4.0-h-tiny" in line and "★" in line)
    assert "limited: hybrid Mamba-2 MoE" in line
    breakdown = next(line for line in md.splitlines() if line.startswith("| granite-4.0-h-tiny |"))
    assert "| -13 |" in breakdown and f"**{tiny['score']}**" in breakdown
    json.dumps(data)


def test_a_catalog_without_finetune_data_scores_as_before(tmp_path):
    r = research(custom_catalog(tmp_path, drop_finetune=True), domain="support")
    assert all(s.trainability is None and s.score == s.total for s in r.all_scored)
    assert to_json(r)["candidates"][0]["finetune"] is None
    assert "| - |" in to_markdown(to_json(r))


def test_unknown_architecture_in_a_catalog_is_a_clear_error(tmp_path):
    from basesel.errors import ConfigError

    path = custom_catalog(tmp_path, [clone("qwen3-8b", id="x", arch="qwen9")])
    with pytest.raises(ConfigError, match="architecture 'qwen9' is not in finetune.architectures"):
        load_catalog(path)


def test_hugging_face_search_hits_read_architecture_and_gguf_only_from_tags():
    from basesel.research.enrich import discovered_candidate
    from basesel.research.finetune_fit import assess

    catalog = load_catalog()
    gguf = discovered_candidate(SimpleNamespace(id="someone/Qwen3-8B-Support-GGUF", tags=["gguf", "qwen3", "text-generation"]), "support", catalog)
    assert (gguf.arch, gguf.weights) == ("qwen3", "gguf-only")
    assert assess(gguf, catalog).status == "limited"
    full = discovered_candidate(SimpleNamespace(id="someone/llama-support", tags=["safetensors", "llama", "transformers"]), "support", catalog)
    assert (full.arch, full.weights) == ("llama", "open") and assess(full, catalog).status == "yes"
    odd = discovered_candidate(SimpleNamespace(id="someone/thing", tags=["rwkv"]), "support", catalog)
    assert odd.arch is None and assess(odd, catalog).status == "unknown"


def test_fine_tune_data_agrees_with_the_installed_transformers_and_gguf():
    """gguf_base = transformers' GGUF loader reads the architecture; llamacpp = an architecture gguf-py (llama.cpp) knows."""
    gguf = pytest.importorskip("gguf")
    pytest.importorskip("transformers")
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    table = load_catalog().finetune.architectures
    llamacpp_names = {a.name.lower() for a in gguf.MODEL_ARCH}
    for name, support in table.items():
        loader_name = name.removesuffix("_text")
        assert (support.gguf_base == "yes") == (loader_name in GGUF_SUPPORTED_ARCHITECTURES), name
        if support.llamacpp is not None:
            assert support.llamacpp in llamacpp_names, (name, support.llamacpp)
        if support.peft != "no":  # transformers has a model class to put LoRA on
            assert name in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES or name in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES, name
