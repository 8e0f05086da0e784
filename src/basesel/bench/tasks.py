"""Benchmark tasks as data: configs/tasks/<id>.yaml, or a user's --task-file (YAML, CSV or JSONL).

A task says where its items come from (a `datasets` id pinned to a revision, with the row counts a
complete download has), which fields hold the input and the answer, the label set, the metric, the
prompt, the output budget, which split the few-shot examples come from, and how many test items are
drawn with which seed. Every bundled task also names a small synthetic fixture in the same row schema
(configs/tasks/fixtures/), which the tests and `--smoke-test` use: this machine has no hub access.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from ..errors import ConfigError

Kind = Literal["classification", "extraction", "code", "free_text"]
Metric = Literal["weighted_f1", "macro_f1", "accuracy", "token_f1", "pass_at_1", "rubric_pass"]

# Which metrics fit which kind of task: a typo'd pairing fails at load, not after the run.
METRICS_FOR: dict[str, tuple[str, ...]] = {
    "classification": ("weighted_f1", "macro_f1", "accuracy"),
    "extraction": ("token_f1",),
    "code": ("pass_at_1",),
    "free_text": ("rubric_pass",),
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetSpec(Strict):
    id: str = Field(description="Hugging Face dataset id, e.g. PolyAI/banking77")
    config: str | None = None
    revision: str | None = Field(None, description="commit sha (or ref) the data is pinned to")
    revision_note: str | None = None  # where the pin came from, or why there is none
    test_split: str = "test"
    pool_split: str | None = "train"  # few-shot examples come from here, never from the test items
    split_note: str | None = None  # e.g. MedMCQA: the test split has no labels, validation is used
    carve_test_from_pool: float | None = Field(None, gt=0, lt=1)  # FPB ships one split: a seeded stratified share of it is the test set
    expected_counts: dict[str, int] = Field(default_factory=dict)  # split -> rows of a complete download
    fixture: str | None = None  # synthetic rows in the same schema, relative to configs/tasks/


class Fields(Strict):
    input: str | None = "input"  # the row field the prompt's {input} stands for (templates may name any field)
    label: str | None = None  # classification: the answer field (a label name, or an index into `labels`)
    answers: str | None = None  # extraction: SQuAD-style {text: [...], answer_start: [...]} or a list of strings
    context: str | None = None  # extraction: the long document that is windowed
    question: str | None = None  # extraction: what is asked of the document
    tests: list[str] = Field(default_factory=list)  # code: fields whose text/lines make the test program
    reference: str | None = None  # code / free text: a reference answer (used as the few-shot demonstration)
    id: str | None = None  # a stable item id; else the row's position


class Prompt(Strict):
    system: str | None = None
    template: str = "{input}"  # str.format over the row's fields (lists are joined with newlines)
    answer_template: str | None = None  # how a few-shot demonstration's answer is written (default: the answer itself)


class Windows(Strict):
    """Extraction over long documents: every character of the document falls in some window, and
    consecutive windows overlap so a clause cut by one boundary is whole in the next window."""

    size_chars: int = Field(4000, gt=100)
    overlap_chars: int = Field(800, ge=0)
    balance: bool = True  # sample present and absent questions 50/50

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Windows:
        if self.overlap_chars >= self.size_chars:
            raise ValueError(f"overlap_chars ({self.overlap_chars}) must be below size_chars ({self.size_chars})")
        return self


class TaskSpec(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    name: str | None = None
    kind: Kind
    metric: Metric
    dataset: DatasetSpec | None = None
    data: str | None = None  # user tasks: a CSV/JSONL file (relative to the YAML) instead of a dataset
    items: list[dict[str, Any]] | None = None  # user tasks: rows inline
    fields: Fields = Field(default_factory=Fields)
    labels: list[str] | None = None  # classification; None = the dataset's ClassLabel names
    prompt: Prompt = Field(default_factory=Prompt)
    max_tokens: int = Field(16, gt=0)
    test_sample_size: int | None = Field(None, gt=0)
    seed: int = 0
    windows: Windows | None = None  # extraction over long documents (CUAD)
    rubric: str | None = None  # free text: the basesel rubric that grades each answer
    _source: Path | None = PrivateAttr(None)  # the file it was read from

    @model_validator(mode="after")
    def _consistent(self) -> TaskSpec:
        if self.metric not in METRICS_FOR[self.kind]:
            raise ValueError(f"metric '{self.metric}' does not fit a {self.kind} task (use one of: {', '.join(METRICS_FOR[self.kind])})")
        sources = [s for s in (self.dataset, self.data, self.items) if s is not None]
        if len(sources) != 1:
            raise ValueError("a task needs exactly one of: dataset (a Hugging Face dataset), data (a CSV/JSONL file), items (rows inline)")
        if self.kind == "classification" and not self.fields.label:
            raise ValueError("a classification task needs fields.label (the row field holding the answer)")
        if self.kind == "classification" and self.labels is None and self.dataset is None:
            raise ValueError("a classification task from your own data needs labels: [the label set]")
        if self.labels is not None:
            if len(set(self.labels)) != len(self.labels) or not self.labels:
                raise ValueError("labels must be a non-empty list without repeats")
        if self.kind == "extraction" and not self.fields.answers:
            raise ValueError("an extraction task needs fields.answers (the row field holding the gold answer spans)")
        if self.kind == "code" and not self.fields.tests:
            raise ValueError("a code task needs fields.tests (the row fields holding the test code)")
        if self.kind == "free_text" and not self.rubric:
            raise ValueError("a free-text task needs rubric: (a basesel rubric file or bundled name) to grade answers")
        return self

    @property
    def title(self) -> str:
        return self.name or self.id


def tasks_dir() -> Path:
    from ..paths import bundled

    return bundled("configs") / "tasks"


def bundled_task_ids() -> list[str]:
    return sorted(p.stem for p in tasks_dir().glob("*.yaml"))


def load_task_yaml(path: Path) -> TaskSpec:
    from ..yamlio import load_model

    task = load_model(path, TaskSpec, what="task")
    task._source = path
    return task


def source_of(task: TaskSpec) -> Path | None:
    """The file the task was read from (relative paths in it are relative to that file)."""
    return task._source


def bundled_task(task_id: str) -> TaskSpec:
    path = tasks_dir() / f"{task_id}.yaml"
    if not path.is_file():
        raise ConfigError(
            f"unknown task '{task_id}'",
            hint=f"Bundled tasks: {', '.join(bundled_task_ids())}. For your own data pass --task-file FILE (YAML, CSV or JSONL).",
        )
    return load_task_yaml(path)


def parse_task_list(value: str | None) -> list[str]:
    return [t.strip() for t in (value or "").split(",") if t.strip()]


def task_from_file(path: Path, *, labels: list[str] | None = None, rubric: str | None = None) -> TaskSpec:
    """--task-file: a task YAML, or a bare CSV/JSONL of rows (input + label -> classification over
    --labels; input + answer -> extraction; input alone -> free text graded by --rubric)."""
    if not path.is_file():
        raise ConfigError(f"task file not found: {path}", hint="Pass a task YAML (see configs/tasks/), or a CSV/JSONL with an `input` column.")
    if path.suffix.lower() in (".yaml", ".yml"):
        return load_task_yaml(path)
    if path.suffix.lower() not in (".csv", ".jsonl", ".json"):
        raise ConfigError(f"task file {path} is not YAML, CSV or JSONL", hint="Name it .yaml, .csv or .jsonl.")
    from .loading import read_rows

    rows = read_rows(path)
    if not rows:
        raise ConfigError("task file has no rows", where=str(path), hint="Add rows with at least an `input` column.")
    columns = set().union(*(r.keys() for r, _ in rows))
    for row, line in rows:
        if not str(row.get("input") or "").strip():
            raise ConfigError("row has no `input`", where=f"{path}:{line}", hint="Every row needs a non-empty `input` column (the text the model sees).")
    spec: dict[str, Any] = {"id": _slug(path.stem), "name": path.stem, "data": str(path.resolve()), "fields": {"input": "input", "id": "id" if "id" in columns else None}}
    if "label" in columns:
        found = sorted({str(r["label"]) for r, _ in rows if r.get("label") not in (None, "")})
        spec |= {"kind": "classification", "metric": "macro_f1", "labels": labels or found, "max_tokens": 32}
        spec["fields"]["label"] = "label"
        spec["prompt"] = {"template": "{input}\n\nAnswer with one label from: " + ", ".join(labels or found) + "."}
    elif "answer" in columns:
        spec |= {"kind": "extraction", "metric": "token_f1", "max_tokens": 128}
        spec["fields"]["answers"] = "answer"
    else:
        if not rubric:
            raise ConfigError(
                f"task file {path} has no `label` or `answer` column, so its answers are free text graded by a rubric, and no --rubric was given",
                hint="Pass --rubric FILE (or a bundled rubric name such as support), or add a `label` column (classification) or an `answer` column (extraction).",
            )
        spec |= {"kind": "free_text", "metric": "rubric_pass", "rubric": rubric, "max_tokens": 512}
        if "reference" in columns:
            spec["fields"]["reference"] = "reference"
    from pydantic import ValidationError

    try:
        return TaskSpec.model_validate(spec)
    except ValidationError as exc:  # e.g. a label set with repeats from --labels
        raise ConfigError(f"task file {path}: {exc.errors()[0]['msg']}", hint="Check the --labels and --rubric flags and the file's columns.") from exc


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "task"
