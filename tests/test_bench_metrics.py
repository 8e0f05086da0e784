"""Benchmark metrics, CUAD windows, k-shot selection and TCO against hand-computed values."""

from __future__ import annotations

import random

import pytest

from basesel.bench import costs, cuad, metrics
from basesel.bench.loading import Item, TaskData
from basesel.bench.prompts import INVALID, parse_extraction, parse_label, select_shots, shot_order
from basesel.bench.tasks import TaskSpec
from basesel.errors import ConfigError


# -- the macro-F1 sentinel trap ---------------------------------------------------------------------
def test_macro_f1_passes_labels_so_the_invalid_sentinel_is_no_class():
    from sklearn.metrics import f1_score

    y_true = ["a", "a", "b", "b"]
    y_pred = ["a", INVALID, "b", "b"]
    # by hand: a has P=1, R=1/2 -> F1 2/3; b has F1 1; macro over the label set = 5/6
    assert metrics.classification_metric("macro_f1", y_true, y_pred, ["a", "b"]) == pytest.approx(5 / 6)
    # the trap: without labels= the sentinel is a third class with F1 0 -> (2/3 + 1 + 0) / 3 = 5/9
    assert f1_score(y_true, y_pred, average="macro", zero_division=0) == pytest.approx(5 / 9)
    # weighted by true support (2 and 2): also 5/6; accuracy 3/4
    assert metrics.classification_metric("weighted_f1", y_true, y_pred, ["a", "b"]) == pytest.approx(5 / 6)
    assert metrics.classification_metric("accuracy", y_true, y_pred, ["a", "b"]) == pytest.approx(0.75)


def test_macro_f1_counts_a_label_never_predicted_nor_present_as_zero_only_when_listed():
    # label c is in the set but absent from the data: zero_division=0 makes its F1 0 -> macro (1 + 1 + 0) / 3
    assert metrics.classification_metric("macro_f1", ["a", "b"], ["a", "b"], ["a", "b", "c"]) == pytest.approx(2 / 3)


# -- SQuAD token F1 ---------------------------------------------------------------------------------
def test_token_f1_by_hand():
    # pred tokens {governing, law, is, new, york}; gold {laws, of, state, of, new, york} ('the' dropped): 2 shared
    # P = 2/5, R = 2/6 -> F1 = 4/11
    assert metrics.token_f1("The governing law is New York.", "laws of the State of New York") == pytest.approx(4 / 11)
    assert metrics.token_f1("", "") == 1.0  # no answer, rightly
    assert metrics.token_f1("something", "") == 0.0
    assert metrics.best_token_f1("New York", ["California", "the State of New York"]) == pytest.approx(2 * (1 * 2 / 4) / (1 + 2 / 4))
    assert metrics.best_token_f1("", []) == 1.0


def test_detection_f1_and_aupr_by_hand():
    # gold present T T F F, predicted T F T F: TP 1, FP 1, FN 1 -> F1 0.5
    # scores 2, 0, 1, 0: AP = 0.5 x 1 (first T at rank 1) + 0.5 x 0.5 (second T, ties at the end) = 0.75
    got = metrics.detection_scores([True, True, False, False], [True, False, True, False], [2, 0, 1, 0])
    assert got["detection_f1"] == pytest.approx(0.5)
    assert got["aupr"] == pytest.approx(0.75)
    assert metrics.detection_scores([True, True], [True, False], [1, 0])["aupr"] is None  # one class: undefined


# -- CUAD windows -----------------------------------------------------------------------------------
def test_windows_cover_the_whole_contract_and_a_straddling_answer_is_whole_in_one_window():
    text = "x" * 100  # no spaces: exact boundaries (0,40) (30,70) (60,100)
    assert cuad.windows(text, 40, 10) == [(0, 40), (30, 70), (60, 100)]
    # an answer over the first boundary (35..45) lies wholly in the second window, not in the first
    assert cuad.spans_inside([35], ["y" * 10], (0, 40)) == []
    assert cuad.spans_inside([35], ["y" * 10], (30, 70)) == ["y" * 10]


def test_windows_property_every_char_covered_every_short_span_whole_somewhere():
    rng = random.Random(1)
    for _ in range(200):
        words = [rng.choice(["a", "bb", "ccc", "contract", "clause"]) for _ in range(rng.randint(1, 400))]
        text = " ".join(words)
        size, overlap = rng.randint(50, 300), 0
        overlap = rng.randint(0, size - 1)
        ws = cuad.windows(text, size, overlap)
        assert ws[0][0] == 0 and ws[-1][1] == len(text)
        assert all(b[0] <= a[1] for a, b in zip(ws, ws[1:]))  # no gap between consecutive windows
        assert all(e - s <= size for s, e in ws)
        for _ in range(20):
            length = min(len(text), rng.randint(1, max(1, overlap)))
            start = rng.randint(0, max(0, len(text) - length))
            assert any(s <= start and start + length <= e for s, e in ws), (size, overlap, start, length)


def test_aggregate_takes_the_first_found_answer_and_counts_unreadable_windows():
    agg = cuad.aggregate([cuad.WindowAnswer(False, ""), cuad.WindowAnswer(True, "first"), cuad.WindowAnswer(False, "", valid=False), cuad.WindowAnswer(True, "second")])
    assert (agg.present, agg.answer, agg.score, agg.invalid_windows, agg.windows) == (True, "first", 2.0, 1, 4)


# -- parsing ----------------------------------------------------------------------------------------
def test_parse_label_reads_json_bare_and_contained_labels_else_invalid():
    labels = ["card_arrival", "pin_blocked", "exchange_rate"]
    assert parse_label('{"label": "pin_blocked"}', labels) == "pin_blocked"
    assert parse_label("Card arrival", labels) == "card_arrival"
    assert parse_label("The intent is exchange_rate.", labels) == "exchange_rate"
    assert parse_label("either pin_blocked or card_arrival", labels) == INVALID  # two labels named: no answer
    assert parse_label("no idea", labels) == INVALID


def test_parse_extraction():
    assert parse_extraction('{"present": true, "answer": "Governed by Delaware law."}') == (True, "Governed by Delaware law.")
    assert parse_extraction('{"present": false, "answer": ""}') == (False, "")
    assert parse_extraction("None.") == (False, "")
    assert parse_extraction('{"foo": 1}') is None


# -- k-shot -----------------------------------------------------------------------------------------
def _data(pool_labels: list[str], test_ids: list[str] | None = None) -> TaskData:
    task = TaskSpec(id="t", kind="classification", metric="macro_f1", items=[{"input": "x", "label": "a"}], labels=sorted(set(pool_labels)), fields={"input": "input", "label": "label"})
    pool = [Item(f"p{i}", {"input": f"text {i}", "label": lab}, "here", label=lab) for i, lab in enumerate(pool_labels)]
    return TaskData(task, pool[:], pool, task.labels, {})


def test_k_shot_never_contains_the_evaluated_item_and_is_exactly_k_when_possible():
    data = _data(["a", "b", "c"] * 4)  # the pool is the test set itself (leave-one-out)
    order = shot_order(data, seed=3)
    for item in data.test:
        shots = select_shots(order, 5, item, data.task)
        assert len(shots.items) == 5 and shots.shortfall == 0
        assert item.id not in [s.id for s in shots.items]
        assert all(s.row["input"] != item.row["input"] for s in shots.items)
    # the same seed gives the same examples; stratified: 3 shots cover all 3 labels
    assert [s.id for s in select_shots(shot_order(data, 3), 3, data.test[0], data.task).items] == [s.id for s in select_shots(order, 3, data.test[0], data.task).items]
    assert {s.label for s in select_shots(order, 3, data.test[0], data.task).items} == {"a", "b", "c"}


def test_k_shot_shortfall_is_reported_not_hidden():
    data = _data(["a", "b", "a"])
    shots = select_shots(shot_order(data, 0), 5, data.test[0], data.task)
    assert len(shots.items) == 2 and shots.shortfall == 3  # 3 in the pool, minus the evaluated item


def test_k_shot_skips_a_duplicate_of_the_evaluated_input_under_another_id():
    data = _data(["a", "b", "a"])
    data.pool.append(Item("dup", dict(data.test[0].row), "here", label="a"))
    for seed in range(10):
        shots = select_shots(shot_order(data, seed), 3, data.test[0], data.task)
        assert "dup" not in [s.id for s in shots.items]


# -- cost and TCO -----------------------------------------------------------------------------------
def test_parse_volume():
    assert costs.parse_volume("20000/day") == 20000
    assert costs.parse_volume("20k/day") == 20000
    assert costs.parse_volume("1,000 per day") == 1000
    assert costs.parse_volume("600/hour") == 14400
    assert costs.parse_volume("1.5M/month") == pytest.approx(1.5e6 * 12 / 365)
    for bad in ("lots", "20000", "20000/fortnight", "-5/day", "0/day"):
        with pytest.raises(ConfigError) as err:
            costs.parse_volume(bad)
        assert "20000/day" in err.value.hint or "above zero" in err.value.message


def test_tco_and_break_even_by_hand():
    a = costs.TcoAssumptions(daily_volume=20000, rate=1.0, utilization=0.5)
    api = costs.CostRow("openai/x", "zero-shot", "api", 0.001, "")
    local = costs.CostRow("embedded", "lora", "self", 1.0 * 10 / 20 / 3600, "", throughput_qps=2.0, training_usd=100.0)
    # API: 0.001 x 20000 x 365 = 7300; self: capacity 2 x 86400 x 0.5 = 86400/day -> 1 instance -> 100 + 8760
    assert costs.tco(api, a) == pytest.approx(7300)
    assert costs.tco(local, a) == pytest.approx(8860)
    assert costs.instances_needed(200000, 2.0, 0.5) == 3
    be = costs.break_even(local, api, a)
    assert be["volume_per_day"] == pytest.approx(8860 / 0.365)  # where 0.001 x V x 365 = 8860
    assert be["instances"] == 1 and be["stays_cheaper"] is True
    # an API so cheap that one instance's capacity costs less through it than the instance: no break-even
    cheap = costs.CostRow("openai/x", "zero-shot", "api", 1e-6, "")
    assert costs.break_even(local, cheap, a)["volume_per_day"] is None
    # later steps: capacity 30,000/day, training $20,000: the API line first meets a step at 10 instances,
    # where (20000 + 10 x 8760) / 0.365 = 294,795/day lies within (270,000, 300,000]
    big = costs.CostRow("embedded", "lora", "self", None, "", throughput_qps=30000 / 86400 / 0.5, training_usd=20000.0)
    be2 = costs.break_even(big, api, a)
    assert be2["instances"] == 10 and be2["volume_per_day"] == pytest.approx((20000 + 10 * 8760) / 0.365)
    assert costs.tco(big, a, be2["volume_per_day"]) == pytest.approx(costs.tco(api, a, be2["volume_per_day"]))


def test_unknown_prices_stay_unknown_never_zero():
    row = costs.api_cost("no-such-model-xyz", "openai/no-such-model-xyz", "zero-shot", [{"prompt_tokens": 10, "completion_tokens": 2}])
    assert row.cost_per_query is None and row.missing_price == "no-such-model-xyz" and "unknown" in row.basis
    a = costs.TcoAssumptions(daily_volume=1000, rate=None)
    assert costs.tco(row, a) is None
    local = costs.self_hosted_cost("embedded", "zero-shot", None, 10.0, 5)
    assert local.cost_per_query is None and "--gpu-usd-per-hour" in local.basis
    priced = costs.api_cost("gpt-4o-mini", "openai/gpt-4o-mini", "zero-shot", [{"prompt_tokens": 1000, "completion_tokens": 100}])
    assert priced.cost_per_query == pytest.approx((1000 * 0.15 + 100 * 0.60) / 1e6)


def test_paired_comparison_uses_mcnemar_for_accuracy_and_bootstrap_for_f1():
    a = [{"item_id": str(i), "gold": "x", "pred": "x" if i < 5 else "y", "correct": i < 5, "score": float(i < 5)} for i in range(20)]
    b = [{"item_id": str(i), "gold": "x", "pred": "x" if i < 15 else "y", "correct": i < 15, "score": float(i < 15)} for i in range(20)]
    res = metrics.paired("accuracy", a, b, ["x", "y"], resamples=500)
    assert res["mcnemar"]["b_only"] == 10 and res["mcnemar"]["a_only"] == 0
    assert res["mcnemar"]["p_exact"] == pytest.approx(2 * 0.5 ** 10)
    assert res["difference"]["estimate"] == pytest.approx(0.5)
    f1 = metrics.paired("macro_f1", a, b, ["x", "y"], resamples=200)
    assert "mcnemar" not in f1 and f1["difference"]["low"] <= f1["difference"]["estimate"] <= f1["difference"]["high"]


def test_the_resampling_f1_equals_scikit_learn_with_labels():
    import numpy as np

    rng = random.Random(7)
    labels = ["a", "b", "c", "d"]
    for metric in ("macro_f1", "weighted_f1", "accuracy"):
        for _ in range(30):
            n = rng.randint(1, 40)
            records = [{"gold": rng.choice(labels), "pred": rng.choice(labels + [INVALID, "zzz"])} for _ in range(n)]
            stat = metrics.resample_statistic(metric, records, labels)
            idx = np.array([rng.randrange(n) for _ in range(n)])
            expected = metrics.classification_metric(metric, [records[i]["gold"] for i in idx], [records[i]["pred"] for i in idx], labels)
            assert stat(idx) == pytest.approx(expected), (metric, records)


def test_free_text_judge_notes_name_the_judge_and_flag_a_tiny_or_self_judge():
    from basesel.bench.summary import _judge_notes

    tasks = [{"id": "replies", "kind": "free_text"}, {"id": "banking77", "kind": "classification"}]
    models = [{"spec": "openai/x", "identity": {"digest": "d-cand"}}]
    strong = {"provider": "openai", "name": "gpt-4o-mini", "facts": {}, "digest": "d-judge"}
    assert _judge_notes({"judge": strong, "tasks": tasks, "models": models}) == [
        "replies: answers graded by the rubric with judge openai/gpt-4o-mini at temperature 0, one verdict per answer"]
    tiny = {"provider": "embedded", "name": "SmolLM2-135M-Instruct", "facts": {"parameters": 135e6}}
    assert "tiny model" in _judge_notes({"judge": tiny, "tasks": tasks, "models": models})[1]
    itself = dict(strong, digest="d-cand")
    assert "grades its own answers" in _judge_notes({"judge": itself, "tasks": tasks, "models": models})[1]
    assert _judge_notes({"judge": strong, "tasks": tasks[1:], "models": models}) == []
