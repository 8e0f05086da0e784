"""LLM scenario generation (batches under a JSON schema, through the Executor), near-duplicate removal,
re-generation of holes, template fallback, the coverage report; the real embedded model on a tiny taxonomy."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import textwrap

import pytest

from conftest import REPO
from basesel.models.base import Completion, GenerationParams, Message, ModelIdentity
from basesel.paths import cache_dir
from basesel.run.cache import ResponseCache
from basesel.run.executor import Executor, RetryPolicy
from basesel.scenarios import load_taxonomy
from basesel.scenarios.coverage import coverage_report
from basesel.scenarios.dedup import NearDuplicateIndex, dedupe, near_duplicate_pairs, normalize, similarity
from basesel.scenarios.llm_generate import GenerationSettings, build_generation_messages, clean_message, generate_with_llm, parse_messages
from basesel.scenarios.stratify import Cell

TINY = """
id: tiny
domain: customer support
system_prompt: You are the support assistant for Acme Cloud.
styles:
  terse: {weight: 1}
  conversational: {weight: 1}
dimensions:
  mood: {calm: 1, frustrated: 1}
topics:
  - name: billing
    subtopics:
      - {name: double charge, situations: [I was charged twice for my March invoice]}
      - {name: refund, situations: [I want a refund for my annual plan]}
  - name: access
    subtopics:
      - {name: password reset, situations: [The password reset email never arrives]}
edge_cases:
  - {id: ambiguous, input: "it doesn't work"}
"""


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(textwrap.dedent(TINY))
    return load_taxonomy(path)


class StandInGenerator:
    """Writes messages as a function of the request. `mode` decides its flaws:
    'good'      distinct messages naming subtopic, style, dimensions and message number;
    'dupes'     in the first round every message of a batch is the same text up to punctuation, so all
                but one are near-duplicates; later rounds write distinct ones;
    'garbage'   unreadable output in the first round, good messages later;
    'broken'    always unreadable."""

    default_concurrency = 2

    def __init__(self, mode: str = "good"):
        self.mode = mode
        self.identity = ModelIdentity(provider="standin", name=f"generator-{mode}", endpoint="standin://generator")
        self.requests: list[tuple[str, dict | None]] = []

    async def generate(self, messages: list[Message], params: GenerationParams, json_schema=None) -> Completion:
        prompt = messages[-1].content
        self.requests.append((prompt, json_schema))
        sub = re.search(r"^Subtopic: (.+)$", prompt, re.M).group(1)
        style = re.search(r"^Style: (\w+)", prompt, re.M).group(1)
        wanted = re.findall(r"^(\d+)\. a message from a user(?: \((.*)\))?$", prompt, re.M)
        retry = params.seed >= 1000  # rounds after the first use seed + 1000 * round
        if self.mode == "broken" or (self.mode == "garbage" and not retry):
            return Completion(text="I cannot do that, sorry", finish_reason="stop")
        out = []
        for num, dims in wanted:
            if self.mode == "dupes" and not retry:
                token = _token(params.seed, sub, style)  # the same for the whole batch
                out.append(f"{token} question about {sub}{'!' * int(num)}")
            else:  # a long random-looking token keeps distinct messages far below the threshold
                token = _token(params.seed, sub, style, num)
                out.append(f"{token} this is about {sub} ({style}); {dims or 'no dims'}{' again' if retry else ''}")
        return Completion(text=json.dumps({"messages": out}), finish_reason="stop")

    async def aclose(self) -> None:
        pass


def _token(*parts) -> str:
    import hashlib

    return hashlib.sha256(repr(parts).encode()).hexdigest()


def run_generation(taxonomy, n, model, **settings):
    executor = Executor(ResponseCache(cache_dir()), RetryPolicy(attempts=1))
    items, the_plan, stats = asyncio.run(generate_with_llm(taxonomy, n, model, executor, GenerationSettings(**settings)))
    return items, the_plan, stats, executor


# --- dedup ----------------------------------------------------------------------------------------


def test_normalize_and_similarity():
    assert normalize("Hi!  My CARD was charged\ttwice...") == "hi my card was charged twice"
    assert similarity("I was charged twice.", "i was charged TWICE") == 100
    assert similarity("I was charged twice for my March invoice", "The password reset email never arrives") < 50


def test_dedupe_drops_crafted_near_duplicates_and_keeps_paraphrases():
    texts = [
        "I was charged twice for my March invoice.",
        "i was charged twice for my march invoice!!",  # identical after normalization
        "I was charged twice for my March invoices",  # one letter off
        "Hey, I was charged twice for my March invoice",  # a greeting added
        "My March invoice was billed two times",  # a real paraphrase: different words
        "The password reset email never arrives",
    ]
    result = dedupe(texts, threshold=90)
    assert result.kept == [texts[0], texts[4], texts[5]]
    assert [d.item for d in result.dropped] == texts[1:4]
    assert all(d.duplicate_of == texts[0] and d.score >= 90 for d in result.dropped)
    assert result.dropped[0].score == 100
    # threshold 100: only texts identical after normalization are dropped
    strict = dedupe(texts, threshold=100)
    assert [d.item for d in strict.dropped] == [texts[1]]
    # pairs: every near-duplicate pair among the first four, none with the others
    pairs = {(i, j) for i, j, _ in near_duplicate_pairs(texts, 90)}
    assert pairs == {(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)}


def test_dedupe_against_existing_texts_and_bad_threshold():
    result = dedupe(["it doesn't work!", "it does not work at all today"], threshold=90, existing=["It doesn't work"])
    assert [d.item for d in result.dropped] == ["it doesn't work!"]
    from basesel.errors import ConfigError

    with pytest.raises(ConfigError, match="between 0 and 100"):
        NearDuplicateIndex(150)


# --- reading generator output ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"messages": ["a b c", "d e f"]}', ["a b c", "d e f"]),
        ('```json\n{"messages": ["one"]}\n```', ["one"]),
        ('<think>plan</think>{"messages": ["x"]}', ["x"]),
        ('["bare", "array"]', ["bare", "array"]),
        ('{"messages": [{"message": "in an object"}, 3]}', ["in an object", ""]),
        ('{"messages": ["complete one", "complete two", "cut off he', ["complete one", "complete two"]),
        ('{"messages": ["line\nbreak"]}', ["line\nbreak"]),
    ],
)
def test_parse_messages(text, expected):
    assert parse_messages(text) == expected


def test_parse_messages_unreadable():
    from basesel.scenarios.llm_generate import UnreadableOutput

    with pytest.raises(UnreadableOutput):
        parse_messages("Sure! Here are some messages: hello there")


@pytest.mark.parametrize(
    "raw, ok",
    [
        ("Message 1: My card was charged twice this month, please help", "My card was charged twice this month, please help"),
        ('"I want a refund for my plan"', "I want a refund for my plan"),
        ("I can't log in.\nAssistant: Sorry to hear that! Try resetting.", "I can't log in."),
        ("ok", None),
        ("1. a message from a user (mood: calm)", None),
        ("a message from user 2", None),
        ("a user's 2nd", None),
        ("double charge??", "double charge??"),
        ("I'm sorry for any confusion. The billing team is here to help you.", None),
        ("Thank you for contacting Acme support, how can I help?", None),
        ("I'm sorry if this is a silly question, but how do I export my data?", "I'm sorry if this is a silly question, but how do I export my data?"),
        ("2) My invoice shows the wrong VAT number", "My invoice shows the wrong VAT number"),
        ("message 2", None),
        ("I will change this service. I will change this service again. I will change this service again and again.", None),
        ("double " * 40, None),
    ],
)
def test_clean_message_keeps_only_single_turn_user_messages(raw, ok):
    text, why = clean_message(raw)
    assert text == ok
    assert (why is None) == (ok is not None)


# --- the generator --------------------------------------------------------------------------------


def test_request_names_the_cell_its_dimensions_and_the_style(tiny):
    cells = [Cell("billing", "double charge", "terse", (("mood", "calm"),)), Cell("billing", "double charge", "terse", (("mood", "frustrated"),))]
    system, user = build_generation_messages(tiny, cells, ["an earlier message"], "quick q: i was charged twice")
    assert system.role == "system" and "first person" in system.content
    text = user.content
    assert "Topic: billing" in text and "Subtopic: double charge" in text and "Style: terse - very short" in text
    assert "1. a message from a user (mood: calm)" in text and "2. a message from a user (mood: frustrated)" in text
    assert "I was charged twice for my March invoice" in text and "Acme Cloud" in text
    assert "Already written" in text and "an earlier message" in text and "quick q: i was charged twice" in text


def test_generates_every_planned_scenario_in_batches_with_structured_output(tiny):
    model = StandInGenerator("good")
    items, the_plan, stats, _ = run_generation(tiny, 13, model, batch_size=3)
    assert len(items) == 13 and not the_plan.warnings
    report = coverage_report(tiny, items)
    assert report["complete"] and report["sources"] == {"llm": 12}
    assert items[0].id == "edge-ambiguous"
    for s in items[1:]:
        assert s.tags["source"] == "llm"
        assert s.input.endswith(f"about {s.tags['subtopic']} ({s.tags['style']}); mood: {s.tags['mood']}")  # message i got cell i's dims
    # one request per batch of <= 3 scenarios of the same (topic, subtopic, style)
    assert stats.rounds == 1 and stats.calls == len(model.requests) and stats.open_after_round == [0]
    for prompt, schema in model.requests:
        k = len(re.findall(r"^\d+\. a message", prompt, re.M))
        assert 1 <= k <= 3
        assert schema["properties"]["messages"]["type"] == "array" and schema["required"] == ["messages"]
        assert "minItems" not in schema["properties"]["messages"]  # hosted-API-safe schema for non-grammar backends


def test_near_duplicates_are_dropped_and_their_holes_regenerated(tiny):
    model = StandInGenerator("dupes")
    items, _, stats, _ = run_generation(tiny, 13, model, batch_size=4)
    assert len(items) == 13 and coverage_report(tiny, items)["complete"]
    # first round: in each batch of k messages, k-1 are punctuation variants of the first
    first_round = [p for p, _ in model.requests if "Already written" not in p]
    expected_dupes = sum(len(re.findall(r"^\d+\. a message", p, re.M)) - 1 for p in first_round)
    assert expected_dupes > 0 and len(stats.duplicates) == expected_dupes
    assert stats.rounds == 2 and stats.open_after_round == [expected_dupes, 0]
    assert all(d["similarity"] >= 90 for d in stats.duplicates)
    texts = [s.input for s in items]
    assert not near_duplicate_pairs(texts, 90)
    assert sum("again" in t for t in texts) == expected_dupes  # the holes were refilled by the second round
    assert {s.tags["source"] for s in items[1:]} == {"llm"}


def test_unreadable_output_is_regenerated_and_determinism_comes_from_the_cache(tiny):
    model = StandInGenerator("garbage")
    items, _, stats, _ = run_generation(tiny, 9, model, batch_size=5, seed=4)
    assert stats.unreadable_outputs >= 1 and stats.rounds == 2 and stats.open_after_round[-1] == 0
    assert len(items) == 9 and all(s.tags["source"] == "llm" for s in items[1:])
    again = StandInGenerator("garbage")
    items2, _, stats2, executor = run_generation(tiny, 9, again, batch_size=5, seed=4)
    assert [s.to_dict() for s in items2] == [s.to_dict() for s in items]
    assert again.requests == [] and stats2.calls == 0 and stats2.cache_hits == stats.calls  # a re-run makes no calls


def test_template_fallback_after_bounded_rounds_or_holes_reported(tiny):
    model = StandInGenerator("broken")
    items, _, stats, _ = run_generation(tiny, 9, model, batch_size=2, max_rounds=2)
    assert stats.rounds == 2 and stats.unreadable_outputs == len(model.requests)
    assert stats.filled_by_template == 8 and stats.unfilled == 0
    assert len(items) == 9 and coverage_report(tiny, items)["sources"] == {"template": 8}
    items, _, stats, _ = run_generation(tiny, 9, StandInGenerator("broken"), batch_size=2, max_rounds=1, template_fallback=False)
    report = coverage_report(tiny, items)
    assert stats.unfilled == 8 and len(items) == 1 and not report["complete"] and len(report["missing_cells"]) == 4


def test_grammar_backends_get_an_exact_item_count(tiny):
    model = StandInGenerator("good")
    model.identity = ModelIdentity(provider="llamacpp", name="x.gguf", endpoint="standin://x")
    run_generation(tiny, 5, model, batch_size=2)
    schema = model.requests[0][1]
    k = len(re.findall(r"^\d+\. a message", model.requests[0][0], re.M))
    assert schema["properties"]["messages"]["minItems"] == schema["properties"]["messages"]["maxItems"] == k


# --- the CLI against an OpenAI-compatible server -----------------------------------------------------


def test_cli_generator_against_a_local_server(tmp_path, tiny):
    """The stub server answers every structured request with one identical message: the first is kept,
    the rest are near-duplicates, re-generation cannot fix that, and the templates fill the holes."""
    from conftest import BASESEL, cli_env
    import subprocess

    sys.path.insert(0, str(REPO / "benchmarks"))
    from openai_stub_server import serve

    server, stats = serve(0, delay=0.0)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        args = ["scenarios", "-t", str(tmp_path / "tiny.yaml"), "-n", "9", "--generator", "openai/gen", "--generator-base-url", url, "--max-rounds", "2", "--out", "gen.jsonl", "--json"]
        proc = subprocess.run(BASESEL + args, cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    cov = out["coverage"]
    assert cov["complete"] and cov["scenarios"] == 9 and cov["sources"] == {"llm": 1, "template": 7}
    g = cov["generation"]
    assert g["generator"] == "openai/gen" and g["near_duplicates_dropped"] >= 7 and g["rounds"] == 2 and g["filled_by_template"] == 7
    assert stats.structured == g["calls"] > 0
    saved = json.loads((tmp_path / "gen.coverage.json").read_text())
    assert saved["generation"]["calls"] == g["calls"] and saved["cell_counts"] == cov["cell_counts"]
    assert "filled from the style templates" in proc.stderr


@pytest.mark.slow
def test_embedded_model_writes_valid_scenarios(tmp_path):
    """The real SmolLM2-135M through llama.cpp's JSON-schema grammar: 2 topics x 1 style."""
    from basesel.models import create_model

    path = tmp_path / "t.yaml"
    path.write_text(
        textwrap.dedent(
            """
            id: two
            domain: customer support
            system_prompt: You are the support assistant for Acme Cloud.
            styles:
              conversational: {weight: 1}
            topics:
              - name: billing
                subtopics: [{name: double charge, situations: [I was charged twice for my March invoice]}]
              - name: account access
                subtopics: [{name: password reset, situations: [The password reset email never arrives]}]
            """
        )
    )
    taxonomy = load_taxonomy(path)
    model = create_model("embedded")
    try:
        items, _, stats, _ = run_generation(taxonomy, 2, model, batch_size=1, max_rounds=2, max_tokens_per_message=60)
    finally:
        asyncio.run(model.aclose())
    assert stats.calls >= 2 and stats.messages_received >= 2
    assert len(items) == 2 and coverage_report(taxonomy, items)["complete"]
    for s in items:
        assert s.tags["topic"] in ("billing", "account access") and s.tags["style"] == "conversational"
        assert s.tags["source"] in ("llm", "template")
        assert clean_message(s.input)[0] == s.input  # single-turn, usable, not an echo
    assert sum(s.tags["source"] == "llm" for s in items) + stats.filled_by_template == 2
