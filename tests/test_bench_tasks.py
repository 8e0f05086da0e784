"""Bundled tasks and fixtures, user task files, dataset loading up to the hub, MBPP grading in the sandbox."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from basesel.bench.evaluate import Context, _grade
from basesel.bench.loading import load_task_data, read_fixture
from basesel.bench.tasks import bundled_task, bundled_task_ids, task_from_file, tasks_dir
from basesel.errors import ConfigError


def test_every_bundled_task_loads_its_synthetic_fixture():
    assert bundled_task_ids() == ["banking77", "cuad", "fpb", "ledgar", "mbpp", "medmcqa"]
    for task_id in bundled_task_ids():
        task = bundled_task(task_id)
        assert task.dataset and task.dataset.expected_counts and task.dataset.fixture
        meta, _ = read_fixture(tasks_dir() / task.dataset.fixture)
        assert meta["synthetic"] is True
        data = load_task_data(task, smoke=True)
        assert data.test and data.source["synthetic"] is True and data.source["kind"] == "fixture"
        assert not ({i.id for i in data.test} & {i.id for i in data.pool})  # test items never in the few-shot pool
    medmcqa = bundled_task("medmcqa")
    assert medmcqa.dataset.test_split == "validation" and "no labels" in medmcqa.dataset.split_note
    fpb = load_task_data(bundled_task("fpb"), smoke=True)
    assert {i.label for i in fpb.test} == {"negative", "neutral", "positive"}  # carved, stratified
    cuad = load_task_data(bundled_task("cuad"), smoke=True)
    assert sum(bool(i.answers) for i in cuad.test) == sum(not i.answers for i in cuad.test)  # balanced


def test_a_fixture_not_marked_synthetic_is_refused(tmp_path, monkeypatch):
    from basesel.bench import loading

    bad = tmp_path / "f.jsonl"
    bad.write_text(json.dumps({"_meta": {"note": "x"}}) + "\n" + json.dumps({"split": "test", "text": "a", "label": 0}) + "\n")
    with pytest.raises(ConfigError) as err:
        loading.read_fixture(bad)
    assert "not marked synthetic" in err.value.message and err.value.where.endswith(":1")


def test_hub_loading_is_pinned_and_fails_offline_with_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ConfigError) as err:
        load_task_data(bundled_task("cuad"))
    assert "d9c4ee0250ae2eb97bdb5b50773ab14ea62d0631" in err.value.message
    assert "--task-file" in err.value.hint and "--smoke-test" in err.value.hint and "context" in err.value.hint
    with pytest.raises(ConfigError) as err:
        load_task_data(bundled_task("fpb"))
    assert "--dataset-revision fpb=" in err.value.hint


def test_truncation_check_against_expected_counts(monkeypatch):
    import datasets

    from basesel.bench import loading

    rows = datasets.Dataset.from_list([{"text": "a", "label": 0}] * 5, features=datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["x", "y"])}))
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: rows)
    with pytest.raises(ConfigError) as err:
        loading.load_task_data(bundled_task("banking77"))
    assert "has 5 rows" in err.value.message and "3080" in err.value.message and "truncated" in err.value.message


def test_label_names_come_from_the_classlabel_feature(monkeypatch):
    import datasets

    from basesel.bench import loading

    task = bundled_task("banking77").model_copy(update={"dataset": bundled_task("banking77").dataset.model_copy(update={"expected_counts": {}})})
    rows = datasets.Dataset.from_list([{"text": f"t{i}", "label": i % 2} for i in range(6)], features=datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["card_arrival", "pin_blocked"])}))
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: rows)
    data = loading.load_task_data(task)
    assert data.labels == ["card_arrival", "pin_blocked"] and {i.label for i in data.test} == {"card_arrival", "pin_blocked"}
    assert data.source["revision"] == task.dataset.revision


def test_bare_csv_task_kinds(tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text("input,label\nhello,a\nbye,b\n")
    t = task_from_file(csv)
    assert t.kind == "classification" and t.labels == ["a", "b"] and t.metric == "macro_f1"
    jsonl = tmp_path / "e.jsonl"
    jsonl.write_text(json.dumps({"input": "q", "answer": "x"}) + "\n")
    assert task_from_file(jsonl).kind == "extraction"
    free = tmp_path / "f.jsonl"
    free.write_text(json.dumps({"input": "q"}) + "\n")
    with pytest.raises(ConfigError) as err:
        task_from_file(free)
    assert "--rubric" in err.value.hint
    assert task_from_file(free, rubric="support").kind == "free_text"


def test_task_yaml_errors_point_at_the_line(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("id: t\nkind: classification\nmetric: token_f1\nitems:\n  - {input: a, label: x}\nlabels: [x]\nfields: {input: input, label: label}\n")
    with pytest.raises(ConfigError) as err:
        task_from_file(path)
    assert "does not fit a classification task" in err.value.message


@pytest.mark.skipif(not __import__("shutil").which("bwrap"), reason="needs bubblewrap for the sandbox")
def test_mbpp_grading_runs_the_code_in_the_sandbox():
    task = bundled_task("mbpp")
    data = load_task_data(task, smoke=True)
    item = next(i for i in data.test if "maximum" in i.row["text"])
    ctx = Context(executor=None)
    good = asyncio.run(_grade(ctx, data, item, "```python\ndef max_of(xs):\n    return max(xs)\n```"))
    assert good["correct"] is True and good["sandbox"] == "passed"
    bad = asyncio.run(_grade(ctx, data, item, "```python\ndef max_of(xs):\n    return min(xs)\n```"))
    assert bad["correct"] is False and bad["sandbox"] == "failed"
    from pathlib import Path

    target = Path.home() / f"basesel-bench-escape-{os.getpid()}"
    sneaky = asyncio.run(_grade(ctx, data, item, f"open({str(target)!r}, 'w').write('x')\ndef max_of(xs):\n    return max(xs)\n"))
    assert sneaky["correct"] is False and not target.exists()  # the user's home is not there to write to
    empty = asyncio.run(_grade(ctx, data, item, ""))
    assert empty["invalid"] is True and empty["correct"] is False
