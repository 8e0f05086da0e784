"""Model specs and cache keys."""

from __future__ import annotations

import pytest

from basesel.errors import ConfigError
from basesel.models import Completion, GenerationParams, Message, ModelIdentity, parse_spec
from basesel.models.base import split_thinking
from basesel.run.cache import ResponseCache, cache_key


@pytest.mark.parametrize(
    "spec, provider, name",
    [
        ("qwen3:8b", "ollama", "qwen3:8b"),
        ("ollama/qwen3:8b", "ollama", "qwen3:8b"),
        ("embedded", "embedded", "SmolLM2-135M-Instruct"),
        ("smollm2", "embedded", "SmolLM2-135M-Instruct"),
        ("llamacpp/models/x.gguf", "llamacpp", "models/x.gguf"),
        ("./x.gguf", "llamacpp", "./x.gguf"),
        ("openai/gpt-4o-mini", "openai", "gpt-4o-mini"),
        ("anthropic/claude-x", "anthropic", "claude-x"),
        ("hf.co/user/repo:Q4_K_M", "ollama", "hf.co/user/repo:Q4_K_M"),
    ],
)
def test_parse_spec(spec, provider, name):
    parsed = parse_spec(spec)
    assert (parsed.provider, parsed.name) == (provider, name)


def test_vllm_gets_default_url_and_base_url_passes_through():
    assert parse_spec("vllm/qwen").base_url == "http://localhost:8000/v1"
    assert parse_spec("openai/x", "http://127.0.0.1:9/v1").base_url == "http://127.0.0.1:9/v1"


def test_unknown_provider_and_empty_spec():
    with pytest.raises(ConfigError, match="unknown provider 'foo'"):
        parse_spec("foo/bar")
    with pytest.raises(ConfigError):
        parse_spec(" ")
    with pytest.raises(ConfigError, match="no model"):
        parse_spec("openai/")


def test_split_thinking():
    assert split_thinking("<think>hmm</think>\nAnswer") == ("Answer", "<think>hmm</think>")
    assert split_thinking("<think>never closed")[0] == ""


def test_cache_key_covers_everything_that_changes_an_answer():
    ident = ModelIdentity("llamacpp", "m", "/m.gguf", "sha256:a")
    msgs = [Message("user", "hi")]
    params = GenerationParams(temperature=0.7, max_tokens=10, seed=0)
    base = cache_key(ident, msgs, params, None, 0)
    assert base == cache_key(ModelIdentity("llamacpp", "m", "/m.gguf", "sha256:a", facts={"x": 1}), msgs, params, None, 0)
    variants = [
        cache_key(ModelIdentity("llamacpp", "m", "/m.gguf", "sha256:b"), msgs, params, None, 0),
        cache_key(ModelIdentity("ollama", "m", "/m.gguf", "sha256:a"), msgs, params, None, 0),
        cache_key(ident, [Message("user", "hi!")], params, None, 0),
        cache_key(ident, [Message("system", "s"), *msgs], params, None, 0),
        cache_key(ident, msgs, GenerationParams(temperature=0.2, max_tokens=10, seed=0), None, 0),
        cache_key(ident, msgs, GenerationParams(temperature=0.7, max_tokens=11, seed=0), None, 0),
        cache_key(ident, msgs, GenerationParams(temperature=0.7, max_tokens=10, seed=1), None, 0),
        cache_key(ident, msgs, params, {"type": "object"}, 0),
        cache_key(ident, msgs, params, None, 1),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_cache_round_trip_and_disable(tmp_path):
    cache = ResponseCache(tmp_path)
    c = Completion("hello", "stop")
    cache.put("ab" * 32, c)
    assert cache.get("ab" * 32).text == "hello" and cache.hits == 1
    off = ResponseCache(tmp_path, enabled=False)
    assert off.get("ab" * 32) is None


def test_urls_are_redacted_before_they_are_written():
    from basesel.models.spec import redact_url

    assert redact_url("http://user:s3cret@127.0.0.1:8000/v1?token=abc") == "http://127.0.0.1:8000/v1"
    assert redact_url("http://localhost:11434") == "http://localhost:11434"
    assert redact_url(None) is None


def test_vllm_spec_targets_a_server_by_default_and_offline_engine_needs_vllm(monkeypatch):
    import sys

    from basesel.errors import MissingDependencyError
    from basesel.models import create_model
    from basesel.models.openai_compat import OpenAICompatModel

    server = create_model("vllm/my-lora-adapter")
    assert isinstance(server, OpenAICompatModel) and server.identity.endpoint == "http://localhost:8000/v1" and server.model_name == "my-lora-adapter"
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(MissingDependencyError) as err:
        create_model("vllm/Qwen/Qwen3-8B", options={"engine": "offline"})
    assert "pip install vllm" in err.value.hint


def test_system_prompt_from_file_flag_or_taxonomy_is_the_same_text(tmp_path):
    """The cache key covers the system prompt, so the file's trailing newline must not make a new key."""
    from basesel.paths import data_root
    from basesel.run.baseline import prepare
    from basesel.run.config import RunConfig

    root = data_root()
    rubric, taxonomy = root / "rubrics" / "support.yaml", root / "taxonomies" / "support.yaml"
    from_taxonomy = prepare(RunConfig(model="embedded", rubric=rubric, taxonomy=taxonomy, n=6)).system_prompt
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text(from_taxonomy + "\n\n", encoding="utf-8")
    from_file = prepare(RunConfig(model="embedded", rubric=rubric, taxonomy=taxonomy, n=6, system_prompt=str(prompt_file))).system_prompt
    from_flag = prepare(RunConfig(model="embedded", rubric=rubric, taxonomy=taxonomy, n=6, system_prompt=from_taxonomy + "\n")).system_prompt
    assert from_taxonomy and from_taxonomy == from_file == from_flag
    assert not from_taxonomy.endswith(("\n", " "))


def test_split_thinking_without_an_opening_tag():
    """Qwen3/R1 chat templates put `<think>` in the prompt: the reply starts inside the block."""
    assert split_thinking("The user was billed twice.\n</think>\n\nSorry about that!") == ("Sorry about that!", "The user was billed twice.\n</think>")
    assert split_thinking("Plan.</think>Answer <think>more</think> end") == ("Answer  end", "Plan.</think><think>more</think>")
    assert split_thinking("<think>a</think>B</think>C") == ("B</think>C", "<think>a</think>")  # an opened block first: as before
    assert split_thinking("No thinking here.") == ("No thinking here.", "")


def test_per_model_thinking_is_part_of_the_cache_key():
    msgs, params = [Message("user", "hi")], GenerationParams()
    plain = cache_key(ModelIdentity("ollama", "m", "http://h", "d"), msgs, params, None, 0)
    assert plain == cache_key(ModelIdentity("ollama", "m", "http://h", "d", think=None), msgs, params, None, 0)  # old keys still hit
    assert plain != cache_key(ModelIdentity("ollama", "m", "http://h", "d", think=False), msgs, params, None, 0)
    assert ModelIdentity("ollama", "m", think=False).to_dict()["think"] is False and "think" not in ModelIdentity("ollama", "m").to_dict()


def test_numeric_and_boolean_options_are_checked():
    from basesel.models.base import bool_option, number_option

    assert number_option({"timeout": 60}, "timeout", 300.0) == 60.0 and number_option({}, "timeout", 300.0) == 300.0
    assert number_option({"n_ctx": "8192"}, "n_ctx", 4096, kind=int) == 8192  # options given from Python may be strings
    for bad in ("abc", True, 0, -5):
        with pytest.raises(ConfigError, match="timeout") as err:
            number_option({"timeout": bad}, "timeout", 300.0, model="ollama/qwen3:8b")
        assert "ollama/qwen3:8b" in err.value.message and "-o timeout=" in err.value.hint
    with pytest.raises(ConfigError, match="whole number"):
        number_option({"n_ctx": 81.5}, "n_ctx", 4096, kind=int)
    assert bool_option({"think": False}, "think") is False and bool_option({}, "think") is None and bool_option({"pull": "yes"}, "pull") is True
    with pytest.raises(ConfigError, match="think") as err:
        bool_option({"think": "maybe"}, "think", model="openai/x")
    assert "true or false" in err.value.hint


@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:abc", "http://127.0.0.1:99999/v1", "ftp://127.0.0.1/v1", "http://", "http://user:pw@[::1/v1"])
def test_invalid_base_url_is_a_config_error(url):
    with pytest.raises(ConfigError, match="base URL") as err:
        parse_spec("openai/x", url)
    assert "http://" in err.value.hint and "pw" not in err.value.message


@pytest.mark.parametrize("url", ["http://[::1]:8080/v1", "https://api.example.com/v1", "127.0.0.1:11434", "localhost", "[::1]"])
def test_valid_base_urls_pass(url):
    assert parse_spec("qwen3:8b", url).base_url == url
