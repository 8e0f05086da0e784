"""The baseline run a fine-tune starts from: its manifest, summary, held-out scenarios and the settings the
re-evaluation must repeat (model, rubric, judge, system prompt, sampling). Every one can be overridden."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError


@dataclass
class BaseRun:
    run_dir: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]
    scenarios: list[Any]

    @property
    def config(self) -> dict[str, Any]:
        return self.manifest["config"]

    @property
    def system_prompt(self) -> str | None:
        return (self.manifest.get("system_prompt") or {}).get("text")

    @property
    def model_spec(self) -> str:
        return self.config["model"]

    def rubric_path(self) -> Path:
        """The rubric the baseline graded with; it must still hash the same (a changed rubric grades differently)."""
        path = Path(self.config["rubric"])
        if not path.is_file():
            raise ConfigError(
                f"the baseline's rubric {path} is not found (paths in the manifest are relative to where the baseline ran)",
                hint="Run from the same directory as the baseline, or pass --rubric with the same rubric file.",
            )
        return path

    def taxonomy_path(self) -> Path | None:
        value = (self.manifest.get("taxonomy") or {}).get("path") or self.config.get("taxonomy")
        return Path(value) if value else None

    def doc_path(self) -> Path:
        return Path(self.config.get("doc") or "docs/base-model-evaluation.md")


def load_base_run(run_dir: Path) -> BaseRun:
    """A finished baseline run directory, or a ConfigError saying what is missing."""
    from ..run.files import read_json_object
    from ..run.summary import load_manifest
    from ..scenarios import load_scenarios

    if not run_dir.is_dir():
        raise ConfigError(f"--from-run {run_dir} is not a directory", hint="Pass the --out directory of a finished `basesel baseline` run.")
    manifest = load_manifest(run_dir)
    summary_path = run_dir / "summary.json"
    if not summary_path.is_file():
        raise ConfigError(
            f"--from-run {run_dir} is not a finished baseline run (no summary.json)",
            hint=f"Finish it first: re-run `basesel baseline` with the same flags and --out {run_dir} (it resumes).",
        )
    summary = read_json_object(summary_path, "run summary")
    counts = summary.get("counts") or {}
    if counts.get("assessed", 0) < counts.get("samples_expected", 0):
        raise ConfigError(
            f"--from-run {run_dir} is incomplete: {counts.get('assessed', 0)} of {counts.get('samples_expected', 0)} samples assessed",
            hint=f"Finish it first: re-run `basesel baseline` with the same flags and --out {run_dir} (it resumes).",
        )
    scenarios_path = run_dir / "scenarios.jsonl"
    if not scenarios_path.is_file():
        raise ConfigError(f"--from-run {run_dir} has no scenarios.jsonl (the held-out set)", hint="Pass a run directory written by `basesel baseline`.")
    return BaseRun(run_dir, manifest, summary, load_scenarios(scenarios_path))
