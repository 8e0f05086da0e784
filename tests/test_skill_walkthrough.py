"""An agent's walk through the skill: in a fresh project folder, run the command blocks that SKILL.md
marks with `<!-- walkthrough: ... -->`, in order, then the marked blocks of skill/finetune-benchmark.md
(re-measuring on the same held-out scenarios, and the paired comparison), and check that each produces
the output the skill tells the agent to read, ending with docs/base-model-evaluation.md.

Substitutions, so the walk runs offline on the embedded model in about two minutes. They touch only
option values, never which commands or flags run (tests/test_skill_commands.py checks those as written):

    --model / -m VALUE      -> $BASESEL_WALKTHROUGH_MODEL      (default: embedded)
    --judge VALUE           -> $BASESEL_WALKTHROUGH_JUDGE      (default: embedded)
    --generator / -g VALUE  -> $BASESEL_WALKTHROUGH_MODEL
    -n / --n VALUE          -> $BASESEL_WALKTHROUGH_N          (default: 8; the support pack needs 21
                                                                for full coverage: fewer only warns)
    --max-tokens VALUE      -> $BASESEL_WALKTHROUGH_MAX_TOKENS (default: 48); added to every
                               `baseline` line that lacks it
    --base-url / --judge-base-url VALUE   dropped (the embedded model runs in-process)

Marker keys (see tests/skill_docs.py): reads= dotted keys that must be in the JSON on stdout (`*` = every
element of a list), files=
paths that must exist afterwards, exit= accepted exit codes (baseline: 0/3/4/5 are all decisions),
stdout= text the output must contain. Every file a command is given with --rubric, --taxonomy,
--scenarios or --system-prompt must exist in the project at that point: the skill's earlier steps have
to have produced it (e.g. `basesel init` writing rubrics/support.yaml).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import cli_env
from skill_docs import REPO, Block, basesel_argv, code_blocks, logical_lines, split_segments

MODEL = os.environ.get("BASESEL_WALKTHROUGH_MODEL", "embedded")
JUDGE = os.environ.get("BASESEL_WALKTHROUGH_JUDGE", "embedded")
N = os.environ.get("BASESEL_WALKTHROUGH_N", "8")
MAX_TOKENS = os.environ.get("BASESEL_WALKTHROUGH_MAX_TOKENS", "48")
COMMAND_TIMEOUT = 1800  # one command; the embedded judge slows down badly when other processes share the CPU

SMALL_LABELS = "labels-small.jsonl"  # the first lines of the labelled set: calibration on the embedded judge, quickly
REPLACE = {"--model": MODEL, "-m": MODEL, "--judge": JUDGE, "--generator": MODEL, "-g": MODEL, "-n": N, "--n": N, "--max-tokens": MAX_TOKENS, "--labels": SMALL_LABELS,
           "--max": N}  # --until-decisive capped at the sample it starts from: the run it resumes keeps its scenarios
DROP = {"--base-url", "--judge-base-url"}
INPUT_FILES = {"--rubric", "-r", "--taxonomy", "-t", "--scenarios", "-s", "--system-prompt"}


def substitute(argv: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        name, eq, _ = token.partition("=")
        if name in DROP:
            i += 1 if eq else 2
            continue
        if name in REPLACE:
            out += [name, REPLACE[name]]
            i += 1 if eq else 2
            continue
        out.append(token)
        i += 1
    if out[:1] == ["baseline"] and "--max-tokens" not in out:
        out += ["--max-tokens", MAX_TOKENS]
    return out


def lookup(data, dotted: str):
    """Follow a dotted key; `*` stands for every element of a (non-empty) list."""
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if part == "*":
            assert isinstance(data, list) and data, f"{dotted!r}: expected a non-empty list"
            rest = ".".join(parts[i + 1 :])
            return [lookup(item, rest) if rest else item for item in data]
        assert isinstance(data, dict) and part in data, f"missing key {dotted!r}"
        data = data[part]
    return data


def walkthrough_blocks() -> list[Block]:
    blocks = [b for b in code_blocks(REPO / "SKILL.md") if b.marker]
    blocks += [b for b in code_blocks(REPO / "skill" / "finetune-benchmark.md") if b.marker]
    return blocks


def run_block(block: Block, project: Path, env: dict[str, str], log: list[str]) -> subprocess.CompletedProcess:
    """Run a marked block line by line; return the last command's result."""
    if block.lang == "python":
        proc = subprocess.run([sys.executable, "-c", block.text], cwd=project, env=env, capture_output=True, text=True, timeout=120)
        log.append(f"[{block.where}] python block -> {proc.returncode}\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        return proc
    proc = None
    lines = logical_lines(block.text)
    assert lines, f"{block.where}: empty walkthrough block"
    for index, (_, line) in enumerate(lines):
        segments = split_segments(line)
        argv = basesel_argv(segments[0])
        if argv is not None:
            assert len(segments) == 1 and not {"<", ">", ">>"} & set(argv), f"{block.where}: walkthrough basesel lines must be plain commands: {line}"
            args = substitute(argv)
            for flag, value in zip(args, args[1:]):
                if flag in INPUT_FILES and (flag != "--system-prompt" or value.endswith((".txt", ".md"))):
                    assert (project / value).is_file(), f"{block.where}: `{line}` needs {value}, which the skill's earlier steps did not create"
            command = [sys.executable, "-m", "basesel", *args]
            shown = "basesel " + shlex.join(args)
        else:
            command = ["bash", "-c", line]  # a non-basesel helper line (e.g. saving the system prompt)
            shown = line
        proc = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
        log.append(f"[{block.where}] $ {shown}\n-> exit {proc.returncode}\n{proc.stderr[-3000:]}")
        last = index == len(lines) - 1
        allowed = block.marker.exit if last else [0]
        assert proc.returncode in allowed, f"{block.where}: `{shown}` exited {proc.returncode} (allowed {allowed})\n" + "\n".join(log[-3:])
        assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.mark.slow
@pytest.mark.timeout(2400)  # ~2.5 min on an idle 2-core machine; a busy one is many times slower
def test_agent_walkthrough_of_the_skill(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    env = cli_env(tmp_path)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    log: list[str] = []
    blocks = walkthrough_blocks()
    assert [b.marker.name for b in blocks][:8] == ["models", "init", "research", "scenarios", "calibrate", "baseline", "until-decisive", "report"]

    outputs: dict[str, dict] = {}
    for block in blocks:
        marker = block.marker
        if marker.name == "calibrate":  # `init` copied the labelled set; calibrate on its first lines only
            labels = (project / "rubrics" / "labels" / "support-labels.jsonl").read_text(encoding="utf-8").splitlines()
            (project / SMALL_LABELS).write_text("\n".join(labels[:2]) + "\n", encoding="utf-8")
        proc = run_block(block, project, env, log)
        if marker.reads:
            try:
                data = json.loads(proc.stdout)
            except ValueError:
                pytest.fail(f"{block.where}: stdout is not JSON:\n{proc.stdout[:2000]}\n{proc.stderr[-2000:]}")
            for key in marker.reads:
                try:
                    lookup(data, key)
                except AssertionError as exc:
                    pytest.fail(f"{block.where} ({marker.name}): the skill tells the agent to read `{key}`, but the output lacks it: {exc}")
            outputs[marker.name] = data
        elif "--json" in block.text and block.lang != "python":
            json.loads(proc.stdout)  # every --json command prints JSON, even where nothing specific is read
        for rel in marker.files:
            assert (project / rel).is_file(), f"{block.where} ({marker.name}): expected {rel} to exist afterwards"
        if marker.stdout:
            assert marker.stdout in proc.stdout, f"{block.where}: expected {marker.stdout!r} in stdout:\n{proc.stdout[-2000:]}"

    # The research step's pick is what the document's Model Selection section shows.
    research = outputs["research"]
    doc = (project / "docs" / "base-model-evaluation.md").read_text(encoding="utf-8")
    for heading in ("## Model Selection", "### Research Summary", "## Evaluation Results", "## Failure Analysis", "## Judge Reliability", "## Qualitative Notes", "## Next Steps", "## Reproducibility"):
        assert heading in doc, heading
    assert research["primary"]["model"] in doc and "**SELECTED**" in doc

    # SKILL.md promises that baseline with the same --taxonomy, -n and --seed runs exactly the reviewed scenarios.
    def inputs(path: Path) -> list[tuple[str, str]]:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [(r["id"], r["input"]) for r in rows]

    assert inputs(project / "scenarios.jsonl") == inputs(project / "runs" / "baseline" / "scenarios.jsonl")
    assert outputs["scenarios"]["count"] == int(N)

    baseline = outputs["baseline"]
    assert baseline["gate"]["exit_code"] in (0, 3, 4, 5, 7, 8)  # the embedded judge: provisional (7)
    assert baseline["counts"]["scenarios"] == int(N)
    assert Path(baseline["doc"]).name == "base-model-evaluation.md"
    assert f"{baseline['gate']['passed']}/{baseline['gate']['scored']}" in doc

    # Re-measuring on the held-out scenarios pairs every scenario of the baseline run.
    finetuned = outputs["finetuned"]
    assert finetuned["counts"]["scenarios"] == baseline["counts"]["scenarios"]
    def scored_keys(run: str) -> set[tuple[str, int]]:
        rows = [json.loads(line) for line in (project / "runs" / run / "assessments.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
        latest = {(r["scenario_id"], r["sample"]): r for r in rows}
        return {k for k, r in latest.items() if r["scored"]}

    paired = scored_keys("baseline") & scored_keys("finetuned")
    assert paired, "no scenario was scored in both runs: the ids of the re-run do not match the baseline's"
    compare = outputs["compare"]
    assert compare["pairing"]["paired"] == len(paired), compare["pairing"]
    t = compare["table"]
    assert t["both_pass"] + t["a_only"] + t["b_only"] + t["both_fail"] == len(paired)
    assert (project / "docs" / "finetuned-evaluation.md").is_file()
    assert "<!-- basesel:section compare:runs-baseline:runs-finetuned start -->" in doc and "## Comparison:" in doc
