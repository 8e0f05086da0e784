"""Task items: from a pinned Hugging Face dataset (checked for truncation), a bundled synthetic fixture
(tests and --smoke-test), or the user's own CSV/JSONL/inline rows. All three become the same `Item`s."""

from __future__ import annotations

import csv
import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .tasks import TaskSpec, source_of, tasks_dir


@dataclass
class Item:
    id: str
    row: dict[str, Any]  # the raw row: the prompt template's fields
    where: str  # file:line or dataset[split][index], for errors
    label: str | None = None  # classification
    answers: list[str] = field(default_factory=list)  # extraction: gold spans ([] = absent)

    def fingerprint(self) -> str:
        blob = json.dumps({"id": self.id, "row": self.row}, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class TaskData:
    task: TaskSpec
    test: list[Item]
    pool: list[Item]  # few-shot candidates (never the evaluated item: prompts.select_shots excludes it)
    labels: list[str] | None
    source: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    @property
    def items_sha256(self) -> str:
        return hashlib.sha256("".join(i.fingerprint() for i in self.test).encode()).hexdigest()


def read_rows(path: Path) -> list[tuple[dict[str, Any], int]]:
    """Rows of a CSV or JSONL file, each with its line number (for errors that say file:line)."""
    from ..yamlio import read_text

    text = read_text(path, "data file")
    rows: list[tuple[dict[str, Any], int]] = []
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines(keepends=True))
        for row in reader:
            rows.append(({k: v for k, v in row.items() if k is not None}, reader.line_num))
        return rows
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"line is not valid JSON: {exc.msg}", where=f"{path}:{line_no}", hint="Each line must be one JSON object.") from exc
        if not isinstance(row, dict):
            raise ConfigError("line is not a JSON object", where=f"{path}:{line_no}", hint="Each line must be one JSON object, e.g. {\"input\": \"...\", \"label\": \"...\"}.")
        rows.append((row, line_no))
    return rows


def read_fixture(path: Path) -> tuple[dict[str, Any], list[tuple[dict[str, Any], int]]]:
    """A fixture: a first line {"_meta": {"synthetic": true, "labels": [...], ...}}, then rows with a `split`."""
    rows = read_rows(path)
    if not rows or "_meta" not in rows[0][0]:
        raise ConfigError("fixture has no _meta header line", where=f"{path}:1", hint='Start it with {"_meta": {"synthetic": true, ...}}.')
    meta = rows[0][0]["_meta"]
    if meta.get("synthetic") is not True:
        raise ConfigError("fixture is not marked synthetic", where=f"{path}:1", hint='Bundled fixtures are written for this project: set "synthetic": true in _meta.')
    return meta, rows[1:]


def load_task_data(task: TaskSpec, *, smoke: bool = False, revision: str | None = None, sample: int | None = None) -> TaskData:
    """The task's test items (sampled) and few-shot pool."""
    warnings: list[str] = []
    label_names = task.labels
    if task.dataset is not None and smoke:
        if not task.dataset.fixture:
            raise ConfigError(f"task '{task.id}' has no synthetic fixture for --smoke-test", hint="Add dataset.fixture to its YAML, or leave it out of --tasks.")
        path = tasks_dir() / task.dataset.fixture
        meta, rows = read_fixture(path)
        label_names = label_names or meta.get("labels")
        if meta.get("task_overrides"):  # e.g. smaller CUAD windows, so the tiny contracts still span several
            task = _override(task, meta["task_overrides"], path)
        split_rows = _by_split(rows, path, default=None)
        source = {"kind": "fixture", "path": str(path), "synthetic": True, "dataset": task.dataset.id, "note": meta.get("note"), "overrides": meta.get("task_overrides")}
    elif task.dataset is not None:
        split_rows, names = _hf_rows(task, revision)
        label_names = label_names or names
        source = {"kind": "datasets", "dataset": task.dataset.id, "config": task.dataset.config, "revision": revision or task.dataset.revision, "synthetic": False,
                  "counts": {s: len(r) for s, r in split_rows.items()}, "split_note": task.dataset.split_note}
    else:
        if task.items is not None:
            rows = [(r, i + 1) for i, r in enumerate(task.items)]
            where = f"{source_of(task) or task.id} items"
        else:
            base = source_of(task).parent if source_of(task) else Path.cwd()
            data_path = (base / task.data).resolve() if task.data else None
            assert data_path is not None
            if not data_path.is_file():
                raise ConfigError(f"task '{task.id}': data file not found: {data_path}", where=str(source_of(task) or ""), hint="Fix `data:` (relative to the task YAML) or create the file.")
            rows = read_rows(data_path)
            where = str(data_path)
        split_rows = _by_split(rows, Path(where), default="test")
        source = {"kind": "user", "path": where, "synthetic": False}
    if task.kind == "classification" and not label_names:
        raise ConfigError(f"task '{task.id}' has no label set", hint="Add labels: [...] to the task, or use a dataset whose label field is a ClassLabel.")
    test_split = task.dataset.test_split if task.dataset else "test"
    pool_split = task.dataset.pool_split if task.dataset else "train"
    test = [_item(task, row, where, label_names, i, test_split) for i, (row, where) in enumerate(split_rows.get(test_split, []))]
    pool = [_item(task, row, where, label_names, i, pool_split) for i, (row, where) in enumerate(split_rows.get(pool_split or "", []))] if pool_split else []
    if task.dataset is not None and task.dataset.carve_test_from_pool and not test:
        test, pool = _carve(pool, task.dataset.carve_test_from_pool, task.seed)
        source["carved"] = f"test = a stratified {task.dataset.carve_test_from_pool:.0%} of '{pool_split}' (seed {task.seed}); the rest is the few-shot pool"
    if not test:
        raise ConfigError(f"task '{task.id}' has no test items (split '{test_split}')", hint="Check the data's split column / the dataset's test_split.")
    if not pool and task.dataset is None:
        pool = test[:]  # your rows without a train split: each item's examples are the *other* items
        source["pool_note"] = "no train rows: few-shot examples are drawn from the other test items (never the evaluated one)"
    # fixtures are tiny by design: their size against the real sample size is no news
    test = _sample(task, test, sample or (None if source.get("synthetic") else task.test_sample_size), warnings)
    source["test_items"] = len(test)
    source["pool_items"] = len(pool)
    return TaskData(task, test, pool, label_names, source, warnings)


def _override(task: TaskSpec, overrides: dict[str, Any], path: Path) -> TaskSpec:
    from pydantic import ValidationError

    data = task.model_dump() | overrides
    try:
        new = TaskSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"fixture task_overrides are invalid: {exc.errors()[0]['msg']}", where=f"{path}:1", hint="Fix _meta.task_overrides.") from exc
    new._source = task._source
    return new


def _by_split(rows: list[tuple[dict[str, Any], int]], path: Path, default: str | None) -> dict[str, list[tuple[dict[str, Any], str]]]:
    out: dict[str, list[tuple[dict[str, Any], str]]] = {}
    for row, line in rows:
        split = row.get("split") or default
        if split is None:
            raise ConfigError("row has no `split`", where=f"{path}:{line}", hint="Fixture rows need split: train or test.")
        out.setdefault(str(split), []).append((row, f"{path}:{line}"))
    return out


def _item(task: TaskSpec, row: dict[str, Any], where: str, labels: list[str] | None, index: int, split: str | None) -> Item:
    f = task.fields
    missing = [name for name in (f.input if "{input}" in task.prompt.template else None, f.label, f.answers, f.context, f.question, *f.tests) if name and name not in row]
    missing += [name for name in _template_fields(task.prompt.template) if name not in ("input", "labels") and name not in row and name not in missing]
    if missing:
        raise ConfigError(f"row has no field {', '.join(repr(m) for m in missing)} (task '{task.id}')", where=where, hint=f"Add the field to every row, or change fields:/prompt.template in the task '{task.id}'.")
    item_id = str(row[f.id]) if f.id and row.get(f.id) not in (None, "") else f"{split or 'row'}-{index}"
    item = Item(item_id, dict(row), where)
    if task.kind == "classification":
        item.label = _label(row[f.label], labels or [], where, task.id)  # type: ignore[index]
    if task.kind == "extraction":
        item.answers = _answers(row[f.answers])  # type: ignore[index]
    return item


def _template_fields(template: str) -> list[str]:
    import string

    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def _label(value: Any, labels: list[str], where: str, task_id: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < len(labels):
            return labels[value]
        raise ConfigError(f"label index {value} is outside the label set of task '{task_id}' ({len(labels)} labels)", where=where, hint="Fix the row's label, or the task's labels list.")
    text = str(value).strip()
    if text not in labels:
        shown = ", ".join(labels[:12]) + (" ..." if len(labels) > 12 else "")
        raise ConfigError(f"label '{text}' is not in the label set of task '{task_id}' ({shown})", where=where, hint="Fix the row's label, or add it to the task's labels (a label the model may never answer would skew macro F1).")
    return text


def _answers(value: Any) -> list[str]:
    if isinstance(value, dict):
        value = value.get("text", [])
    if isinstance(value, str):
        value = [value] if value.strip() else []
    return [str(v) for v in (value or []) if str(v).strip()]


def _carve(pool: list[Item], fraction: float, seed: int) -> tuple[list[Item], list[Item]]:
    """A stratified, seeded test share of a single-split dataset (FPB)."""
    rng = random.Random(seed)
    by_label: dict[Any, list[Item]] = {}
    for item in pool:
        by_label.setdefault(item.label, []).append(item)
    test: list[Item] = []
    for label in sorted(by_label, key=str):
        group = by_label[label][:]
        rng.shuffle(group)
        test += group[: max(1, round(len(group) * fraction))]
    chosen = {id(i) for i in test}
    return test, [i for i in pool if id(i) not in chosen]


def _sample(task: TaskSpec, items: list[Item], size: int | None, warnings: list[str]) -> list[Item]:
    rng = random.Random(task.seed)
    if task.kind == "extraction" and task.windows is not None and task.windows.balance:
        present = [i for i in items if i.answers]
        absent = [i for i in items if not i.answers]
        half = (size or len(items)) // 2
        half_p, half_a = min(half, len(present)), min(half, len(absent))
        if half_p < half or half_a < half:
            warnings.append(f"{task.id}: balance wanted {half} present and {half} absent questions; the data has {len(present)} present, {len(absent)} absent, so {half_p} + {half_a} are used")
        n = min(half_p, half_a)
        picked = rng.sample(present, n) + rng.sample(absent, n)
        return sorted(picked, key=lambda i: i.id)
    if size is None or size >= len(items):
        if size is not None and size > len(items):
            warnings.append(f"{task.id}: {size} test items asked for, the data has {len(items)}: all are used")
        return items
    return sorted(rng.sample(items, size), key=lambda i: items.index(i))


def _hf_rows(task: TaskSpec, revision: str | None) -> tuple[dict[str, list[tuple[dict[str, Any], str]]], list[str] | None]:
    """Rows of every needed split from `datasets`, pinned to a revision, with the truncation check."""
    ds = task.dataset
    assert ds is not None
    rev = revision or ds.revision
    if not rev:
        raise ConfigError(
            f"task '{task.id}': no pinned revision for dataset {ds.id}" + (f" ({ds.revision_note})" if ds.revision_note else ""),
            hint=f"Pass --dataset-revision {task.id}=<commit sha> (the dataset page's 'History' tab lists them); an unpinned dataset can change under a benchmark.",
        )
    from ..errors import require

    datasets = require("datasets", "bench", "Loading benchmark datasets")
    # a single-split dataset (FPB) has no test split to load: its test share is carved from the pool
    splits = [s for s in dict.fromkeys([None if ds.carve_test_from_pool else ds.test_split, ds.pool_split]) if s]
    out: dict[str, list[tuple[dict[str, Any], str]]] = {}
    names: list[str] | None = None
    for split in splits:
        try:
            data = datasets.load_dataset(ds.id, ds.config, revision=rev, split=split)
        except Exception as exc:  # noqa: BLE001 - offline, missing split, script-only repo ...: all need the same advice
            raise ConfigError(
                f"cannot load dataset {ds.id}{'/' + ds.config if ds.config else ''} (revision {rev}, split {split}): {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                hint=(
                    f"This needs the Hugging Face hub (or its local cache: HF_DATASETS_OFFLINE=1 uses only the cache). Offline, pass --task-file FILE "
                    f"with your own copy of the rows (fields: {_field_list(task)}), or --smoke-test to run the bundled synthetic fixture. "
                    "A script-only repository needs a parquet revision (--dataset-revision TASK=<sha of refs/convert/parquet>)."
                ),
            ) from exc
        expected = ds.expected_counts.get(split)
        if expected is not None and len(data) != expected:
            raise ConfigError(
                f"dataset {ds.id} split '{split}' has {len(data)} rows at revision {rev}, a complete download has {expected}: it looks truncated or not the pinned data",
                hint="Clear the datasets cache for it (~/.cache/huggingface/datasets) and load again, or pin the revision the expected count belongs to.",
            )
        feature = getattr(data, "features", {}).get(task.fields.label) if task.fields.label else None
        if names is None and feature is not None and hasattr(feature, "names"):
            names = list(feature.names)
        out[split] = [(dict(row), f"{ds.id}[{split}][{i}]") for i, row in enumerate(data)]
    return out, names


def _field_list(task: TaskSpec) -> str:
    f = task.fields
    wanted = [f.id, f.label, f.answers, f.context, f.question, *f.tests, *_template_fields(task.prompt.template)]
    return ", ".join(dict.fromkeys(w for w in wanted if w and w != "input")) or "input"
