"""`basesel research`: catalog schema, hard filters, auditable scoring properties, picks, stale warning, CLI."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from basesel.cli.main import app
from basesel.errors import ConfigError
from basesel.research import Query, find_candidate, load_catalog, load_domains, parse_size, parse_tokens, run_research
from basesel.research.catalog import FOCUS_LABELS
from basesel.research.output import to_json
from basesel.research.scoring import Candidate, evaluate, lineage
from conftest import BASESEL, REPO, cli_env

CATALOG = REPO / "configs" / "catalog.yaml"
STATUSES = {"selected", "backup", "rejected", "excluded"}


def research(**kw) -> object:
    today = kw.pop("today", dt.date(2026, 12, 1))
    return run_research(Query(**kw), today=today)


def write_catalog(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(CATALOG.read_text())
    mutate(data)
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# --------------------------------------------------------------------------------------------- catalog


def test_bundled_catalog_validates_every_row_with_known_licences():
    cat = load_catalog()
    assert len(cat.models) >= 40
    sizes = [m.params_b for m in cat.models]
    assert min(sizes) <= 0.15 and sum(1 for s in sizes if 24 <= s <= 33) >= 5  # ~0.1B .. ~32B covered
    for m in cat.models:
        for lid in m.licence_ids:
            assert lid in cat.licenses, (m.id, lid)
        assert cat.commercial(m.license) in ("yes", "conditional", "no", None)
        assert m.focus in FOCUS_LABELS
        assert (m.ollama is None) == (m.ollama_evidence is None)
    # "?" facts in model-facts.md stay unknown, never guessed
    by_id = {m.id: m for m in cat.models}
    assert by_id["zephyr-7b-beta"].context is None
    assert by_id["deepseek-r1-0528-qwen3-8b"].license is None
    assert by_id["granite-3.3-8b-instruct"].release is None and by_id["granite-3.3-8b-instruct"].ollama is None
    assert by_id["deepseek-r1-distill-llama-8b"].ollama is None  # NOT deepseek-r1:8b
    assert by_id["qwen3-8b"].context == 32768 and by_id["qwen3-8b"].context_max == 131072
    assert cat.commercial(by_id["ministral-8b-instruct-2410"].license) == "no"
    assert cat.commercial(by_id["deepseek-r1-distill-llama-8b"].license) == "conditional"  # MIT AND llama3.1: most restrictive


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda d: d["models"][0].update(license="WTFPL-9"), "unknown licence id 'WTFPL-9'"),
        (lambda d: d["models"][1].update(release="April 2025"), "models.1.release"),
        (lambda d: d["models"][2].update(ollama_evidence=None), "ollama and ollama_evidence go together"),
        (lambda d: d["models"][3].update(colour="blue"), "unknown field"),
        (lambda d: d["models"][4].update(focus="vibes"), "models.4.focus"),
        (lambda d: d["models"].append(dict(d["models"][0])), "used twice"),
    ],
)
def test_catalog_schema_errors_name_the_field(tmp_path, mutate, fragment):
    path = write_catalog(tmp_path, mutate)
    with pytest.raises(ConfigError) as err:
        load_catalog(path)
    assert fragment in err.value.message
    assert str(path) in (err.value.where or "") or str(path) in err.value.message


def test_domain_guidance_covers_required_domains_and_aliases():
    domains = load_domains()
    for name in ("therapeutic", "coding", "math", "creative", "factual", "support", "custom"):
        assert name in domains.domains
    assert domains.resolve("empathy")[0] == "therapeutic"
    assert domains.resolve("Code")[0] == "coding"
    assert domains.resolve("creative writing")[0] == "creative"
    with pytest.raises(ConfigError) as err:
        domains.resolve("astrology")
    assert "therapeutic" in err.value.hint


# --------------------------------------------------------------------------------------------- inputs


def test_size_and_context_parsing():
    assert parse_size("7-10B") == (7, 10)
    assert parse_size("500M-2B") == (0.5, 2)
    assert parse_size("0.5-3b") == (0.5, 3)
    assert parse_size("<=4B") == (None, 4)
    assert parse_size(">=14B") == (14, None)
    assert parse_size("8B") == (6, 10)
    assert parse_tokens("32k") == 32768 and parse_tokens("8192") == 8192
    for bad in ("big", "10-7B", "7-", ""):
        with pytest.raises(ConfigError):
            parse_size(bad)


# --------------------------------------------------------------------------------------------- scoring


def test_every_factor_has_a_reason_and_the_total_adds_up():
    r = research(domain="therapeutic")
    for s in r.all_scored:
        assert [f.key for f in s.factors] == ["domain_fit", "license", "context", "recency", "quantization", "community"]
        assert all(f.reason.strip() and 0 <= f.points <= f.max for f in s.factors)
        assert 1 <= s.fit <= 5 and s.factor("domain_fit").points == 10 * s.fit
        assert s.total == sum(f.points for f in s.factors) <= 100
        assert s.fit_steps


def _similar(a, b) -> bool:
    return abs(math.log(a.params_b / b.params_b)) <= math.log(1.5)


@pytest.mark.parametrize("domain", ["therapeutic", "support"])
def test_no_reasoning_model_outranks_a_similar_chat_model_for_dialogue(domain):
    r = research(domain=domain)
    cat = r.catalog
    ranked = r.outcome.ranked
    pairs = 0
    for rs in ranked:
        if rs.cand.focus != "reasoning":
            continue
        for cs in ranked:
            if cs.cand.focus == "chat" and _similar(rs.cand, cs.cand) and cat.commercial(rs.cand.license) == cat.commercial(cs.cand.license):
                pairs += 1
                assert cs.rank < rs.rank, (domain, cs.cand.model, cs.rank, rs.cand.model, rs.rank)
    assert pairs >= 5  # the property is exercised, not vacuous
    distill = find_candidate(r, "DeepSeek-R1-Distill-Qwen-7B")
    assert distill.fit <= 2 and distill.avoid and "avoid" in distill.why


def test_coding_prefers_reasoning_capable_over_pure_chat():
    r = research(domain="coding", min_params_b=7, max_params_b=16)
    first_chat = min(s.rank for s in r.outcome.ranked if s.cand.focus == "chat")
    last_reasoning = max(s.rank for s in r.outcome.ranked if s.cand.focus in ("reasoning", "hybrid", "code"))
    assert last_reasoning < first_chat
    assert r.outcome.primary.cand.focus in ("reasoning", "hybrid", "code")


def test_math_rewards_thinking_and_creative_penalises_weak_writers():
    math_r = research(domain="math", min_params_b=12, max_params_b=16)
    assert find_candidate(math_r, "phi-4-reasoning").fit == 5
    creative = research(domain="creative")
    assert find_candidate(creative, "phi-4").fit < find_candidate(creative, "gemma-3-12b-it").fit


def test_custom_domain_is_neutral_with_a_note():
    r = research(domain="custom")
    assert {s.fit for s in r.all_scored} == {3}
    assert any("no prefer/avoid guidance" in w for w in r.warnings)


def test_license_commercial_excludes_research_only_and_unconfirmed():
    r = research(domain="therapeutic", license="commercial")
    eligible = {s.cand.id for s in r.outcome.ranked}
    excluded = {s.cand.id: s.exclusions for s in r.outcome.excluded}
    assert "ministral-8b-instruct-2410" not in eligible
    assert any("does not allow commercial use" in x for x in excluded["ministral-8b-instruct-2410"])
    assert any("licence not confirmed" in x for x in excluded["deepseek-r1-0528-qwen3-8b"])
    assert all(r.catalog.commercial(s.cand.license) in ("yes", "conditional") for s in r.outcome.ranked)
    assert "llama-3.1-8b-instruct" in eligible  # conditional is still commercial
    strict = research(domain="therapeutic", license="permissive")
    assert all(r.catalog.commercial(s.cand.license) == "yes" for s in strict.outcome.ranked)
    assert "llama-3.1-8b-instruct" not in {s.cand.id for s in strict.outcome.ranked}


def test_context_filter_removes_short_context_models():
    r = research(domain="coding", context_needed=65536)
    eligible = {s.cand.id: s for s in r.outcome.ranked}
    excluded = {s.cand.id: s.exclusions for s in r.outcome.excluded}
    assert "phi-4" in excluded and "16K" in excluded["phi-4"][0]
    assert "openchat-3.5-0106" in excluded
    assert all(s.cand.context is not None for s in r.outcome.ranked)
    assert all(max(s.cand.context, s.cand.context_max or 0) >= 65536 for s in r.outcome.ranked)
    # Qwen3-8B: 32K native, 128K with YaRN -> eligible, fewer context points, and a concern
    qwen = eligible["qwen3-8b"]
    assert qwen.factor("context").points == 6 and "rope scaling" in qwen.factor("context").reason
    assert research(domain="coding", context_needed=200_000).outcome.ranked
    assert "qwen3-8b" not in {s.cand.id for s in research(domain="coding", context_needed=200_000).outcome.ranked}


def test_size_gguf_and_ollama_filters():
    r = research(domain="support", min_params_b=7, max_params_b=10, gguf=True, ollama=True)
    assert r.outcome.ranked
    for s in r.outcome.ranked:
        assert 7 <= s.cand.params_b <= 10
        assert s.cand.gguf in ("official", "community") and s.cand.ollama
    excluded = {s.cand.id: s.exclusions for s in r.outcome.excluded}
    assert any("GGUF availability not confirmed" in x for x in excluded["granite-3.3-8b-instruct"])
    assert any("no Ollama tag" in x for x in excluded["olmo-3-7b-instruct"])
    assert any("above the 10B maximum" in x for x in excluded["qwen3-14b"])


def test_ranking_is_deterministic_whatever_the_input_order():
    cat = load_catalog()
    name, dom = load_domains().resolve("creative")
    q = Query(domain=name)
    base = [s.cand.id for s in evaluate([Candidate.from_entry(e) for e in cat.models], q, name, dom, cat).ranked]
    for seed in range(3):
        entries = list(cat.models)
        random.Random(seed).shuffle(entries)
        assert [s.cand.id for s in evaluate([Candidate.from_entry(e) for e in entries], q, name, dom, cat).ranked] == base
    # exact ties fall back to the model name
    twin_a = Candidate.from_entry(cat.models[0])
    twin_b = Candidate.from_entry(cat.models[0])
    twin_a.id, twin_a.model, twin_b.id, twin_b.model = "zz", "Zeta", "aa", "Alpha"
    assert [s.cand.model for s in evaluate([twin_a, twin_b], q, name, dom, cat).ranked] == ["Alpha", "Zeta"]


def test_primary_and_backup_come_from_different_families_with_reasons():
    r = research(domain="therapeutic", min_params_b=7, max_params_b=10)
    p, b = r.outcome.primary, r.outcome.backup
    assert p.rank == 1 and p.status == "selected" and b.status == "backup"
    assert lineage(p.cand.family) != lineage(b.cand.family)
    data = to_json(r)
    for role in ("primary", "backup"):
        pick = data[role]
        assert pick["rationale"] and pick["strengths"] and pick["pull_command"].startswith("basesel pull ")
    rejected = [c for c in data["candidates"] if c["status"] == "rejected"]
    assert rejected and all(c["why"] for c in rejected)


def test_no_candidate_left_gives_null_picks():
    r = research(domain="coding", min_params_b=0.1, max_params_b=0.2, context_needed=1_000_000)
    assert r.outcome.primary is None and r.outcome.backup is None
    assert to_json(r)["primary"] is None


# --------------------------------------------------------------------------------------------- staleness


def test_stale_catalog_warning_fires_after_six_months():
    cat = load_catalog()
    assert not cat.is_stale(cat.as_of + dt.timedelta(days=150))
    assert cat.is_stale(cat.as_of + dt.timedelta(days=200))
    fresh = research(domain="coding", today=cat.as_of + dt.timedelta(days=30))
    assert not any("newer models" in w for w in fresh.warnings)


def test_cli_warns_on_an_old_catalog_and_records_it(tmp_path):
    old = write_catalog(tmp_path, lambda d: d.update(as_of="2024-01-15"))
    result = CliRunner().invoke(app, ["research", "--catalog", str(old), "--domain", "coding", "--out-dir", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "newer models" in result.output and "2024-01-15" in result.output
    data = json.loads((tmp_path / "out" / "research.json").read_text())
    assert data["catalog"]["stale"] is True and data["catalog_date"] == "2024-01-15"
    assert any("stale" in w for w in data["warnings"])
    assert "**Warning:**" in (tmp_path / "out" / "research.md").read_text()


# --------------------------------------------------------------------------------------------- CLI


def test_cli_writes_research_json_and_md_matching_the_contract(tmp_path):
    result = CliRunner().invoke(app, ["research", "--domain", "empathy", "--size", "7-10B", "--turns", "10", "--license", "commercial", "--top", "6", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    data = json.loads((tmp_path / "research.json").read_text())
    assert printed["candidates"] == data["candidates"]
    assert data["query"]["domain"] == "therapeutic" and data["query"]["domain_input"] == "empathy"
    assert data["query"]["context_needed"] == 4000 and data["query"]["turns"] == 10
    dt.datetime.fromisoformat(data["generated"])
    dt.date.fromisoformat(data["catalog_date"])
    ranked = [c for c in data["candidates"] if c["status"] != "excluded"]
    assert len(ranked) == 6
    for c in data["candidates"]:
        assert c["status"] in STATUSES
        assert isinstance(c["model"], str) and isinstance(c["params"], str)
        assert isinstance(c["domain_fit"], int) and 1 <= c["domain_fit"] <= 5
        assert c["context"] is None or isinstance(c["context"], int)
        assert c["why_considered"] and c["why"]
    assert [c["status"] for c in ranked][:2] == ["selected", "backup"]
    assert any(c["status"] == "excluded" for c in data["candidates"])
    assert len(data["excluded"]) >= 40  # full list stays in research.json
    for role in ("primary", "backup"):
        assert set(data[role]) >= {"model", "rationale", "strengths", "concerns", "pull_command"}
    assert data["sources"] == []
    md = (tmp_path / "research.md").read_text()
    assert data["primary"]["model"] in md and "| Model | Params | License |" in md and "## Excluded by hard filters" in md


def test_cli_explain_prints_every_factor(tmp_path):
    result = CliRunner().invoke(app, ["research", "--domain", "therapeutic", "--explain", "deepseek-r1:7b"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in ("Domain fit", "Licence", "Context", "Recency", "Quantization", "Community", "Total"):
        assert name in result.output
    assert "DeepSeek-R1-Distill-Qwen-7B" in result.output and "avoid" in result.output
    assert not (tmp_path / "research.json").exists()  # --explain writes nothing
    as_json = CliRunner().invoke(app, ["research", "-d", "coding", "--explain", "Qwen/Qwen3-8B", "--json"])
    record = json.loads(as_json.stdout)
    assert record["id"] == "qwen3-8b" and len(record["factors"]) == 6 and record["pull_command"] == "basesel pull qwen3:8b"


@pytest.mark.parametrize(
    "args, fragments, code",
    [
        (["--size", "huge"], ["cannot read a parameter range", "7-10B"], 1),
        (["--size", "10-7B"], ["lower bound is above"], 1),
        (["--min-params", "10B", "--max-params", "7B"], ["above --max-params"], 1),
        (["--context", "8k", "--turns", "4"], ["--context and --turns"], 2),
        (["--search", "therapy"], ["needs --online"], 2),
        (["--license", "free"], ["--license must be one of"], 1),
        (["--domain", "astrology"], ["unknown domain", "therapeutic"], 1),
        (["--explain", "qwen3-9b"], ["no model named", "Did you mean"], 1),
        (["--catalog", "missing.yaml"], ["catalog file not found"], 1),
    ],
)
def test_bad_input_is_a_clean_error(monkeypatch, capsys, args, fragments, code):
    """Through the console-script entry point (basesel.cli.main.run), in-process for speed."""
    from basesel.cli import main

    monkeypatch.setattr(sys, "argv", ["basesel", "research", *args])
    with pytest.raises(SystemExit) as exit_info:
        main.run()
    out = capsys.readouterr()
    assert exit_info.value.code == code, (exit_info.value.code, out.err)  # 2: flags that contradict each other
    assert "Traceback" not in out.err and "error:" in out.err
    for fragment in fragments:
        assert fragment in out.err, (fragment, out.err)


def test_console_script_runs_research_and_help_stays_fast(tmp_path):
    proc = subprocess.run(BASESEL + ["research", "--size", "1-4B", "--domain", "support"], cwd=tmp_path, env=cli_env(tmp_path, COLUMNS="160"), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "SELECTED" in proc.stdout and (tmp_path / "research.json").is_file()
    probe = "import sys, basesel.cli.main; print(sorted(m for m in ('rich', 'pydantic', 'jinja2', 'huggingface_hub', 'ddgs', 'basesel.research') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert "basesel.research" not in loaded.stdout and "huggingface_hub" not in loaded.stdout and "ddgs" not in loaded.stdout, loaded.stdout
