"""Every `basesel ...` command line in SKILL.md and skill/*.md parses against the real CLI.

Commands come from shell code blocks (full command lines: subcommand, flags, values, required
arguments) and from inline code in the prose (`basesel research --explain MODEL`: subcommand and flags).
Each is checked against the click command tree of `basesel.cli.main.app`: the command and subcommand
exist and every `--flag` exists on it, so renaming or removing a flag the skill teaches breaks this test.
"""

from __future__ import annotations

import re

import click
import pytest

from skill_docs import REPO, check_command, cli_root, code_blocks, inline_code, skill_commands, skill_docs

COMMANDS = skill_commands()

# The method's steps the skill must teach with real commands (code blocks, not only prose).
WORKFLOW = {
    "models",
    "init",
    "research",
    "pull",
    "scenarios",
    "judge calibrate",
    "baseline",
    "report",
}


@pytest.fixture(scope="module")
def root() -> click.Command:
    return cli_root()


@pytest.mark.parametrize("command", COMMANDS, ids=[f"{c.where} {' '.join(c.argv[:2])}" for c in COMMANDS])
def test_skill_command_parses_against_the_cli(root, command):
    problems = check_command(root, command.argv, strict=command.strict)
    assert not problems, f"{command.where}: `{command.text}`: " + "; ".join(problems)


def test_commands_are_found_in_blocks_and_prose():
    assert len(COMMANDS) >= 25, [c.text for c in COMMANDS]
    assert any(not c.strict for c in COMMANDS), "inline `basesel ...` spans are not extracted"
    assert {c.where.split(":")[0] for c in COMMANDS} >= {"SKILL.md", "skill/research-guide.md", "skill/rubric-design.md", "skill/scenario-design.md", "skill/decision-guide.md", "skill/finetune-benchmark.md"}


def test_skill_md_teaches_every_step_with_a_full_command():
    in_skill_md = {" ".join(c.argv[:2]) if c.argv[:1] in (["judge"], ["skill"]) else (c.argv[0] if c.argv else "") for c in COMMANDS if c.strict and c.where.startswith("SKILL.md")}
    missing = WORKFLOW - in_skill_md
    assert not missing, f"SKILL.md has no code-block command for: {sorted(missing)}"


def test_skill_md_tells_the_agent_to_start_with_help_and_json():
    text = (REPO / "SKILL.md").read_text(encoding="utf-8")
    assert "`basesel --help`" in text and "--json" in text
    baseline_lines = [c for c in COMMANDS if c.strict and c.where.startswith("SKILL.md") and c.argv[:1] == ["baseline"]]
    assert baseline_lines and all("--json" in c.argv for c in baseline_lines)


# --- the checker itself, on a small CLI, so a passing suite means something -------------------


@pytest.fixture
def toy() -> click.Group:
    @click.group()
    @click.option("--version", is_flag=True)
    def cli(version):  # pragma: no cover - never invoked
        pass

    @cli.command()
    @click.option("--model", "-m")
    @click.option("--json", "as_json", is_flag=True)
    @click.option("--think/--no-think", default=None)
    @click.option("--license", type=click.Choice(["any", "commercial"]))
    def run(model, as_json, think, license):  # pragma: no cover
        pass

    @cli.command()
    @click.argument("run_dir")
    def report(run_dir):  # pragma: no cover
        pass

    @cli.group()
    def judge():  # pragma: no cover
        pass

    @judge.command()
    @click.option("--labels")
    def calibrate(labels):  # pragma: no cover
        pass

    return cli


def test_checker_accepts_valid_lines(toy):
    for argv in (
        ["run", "--model", "x", "--json"],
        ["run", "-m", "x", "--no-think", "--license", "commercial"],
        ["run", "--model=x"],
        ["report", "runs/a"],
        ["report", "RUN_DIR"],
        ["judge", "calibrate", "--labels", "l.jsonl"],
        ["--version"],
        ["run", "--help"],
        ["<command>", "--help"],
        ["run", "--license", "MODE"],
    ):
        assert check_command(toy, argv) == [], argv


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["run", "--modle", "x"], "has no option --modle"),  # a renamed or misspelt flag
        (["runn"], "has no command 'runn'"),
        (["judge", "calibrat"], "has no command 'calibrat'"),
        (["judge"], "needs a subcommand"),
        (["run", "--model"], "needs a value"),
        (["run", "--json=yes"], "takes no value"),
        (["run", "--license", "gpl"], "is not one of"),
        (["report", "a", "b"], "takes 1 argument(s), got 2"),
        (["report"], "needs argument(s) RUN_DIR"),
        (["--verbose", "run"], "has no option --verbose"),
    ],
)
def test_checker_rejects_bad_lines(toy, argv, expected):
    problems = check_command(toy, argv)
    assert any(expected in p for p in problems), problems


def test_inline_mentions_are_not_held_to_required_arguments(toy):
    assert check_command(toy, ["report"], strict=False) == []
    assert check_command(toy, ["judge"], strict=False) == []
    assert check_command(toy, ["run", "--nope"], strict=False) != []


def test_extraction_handles_continuations_pipes_comments_and_inline_code(tmp_path, monkeypatch):
    import skill_docs

    doc = tmp_path / "SKILL.md"
    doc.write_text(
        "Use `basesel report RUN_DIR` or `pip install basesel`.\n"
        "```bash\n"
        "# a comment: basesel nothing\n"
        "basesel baseline --model x \\\n"
        "  --json | jq .gate   # trailing comment\n"
        "cd proj && basesel report runs/a\n"
        "$ basesel --help\n"
        "```\n"
        "```python\n"
        "basesel = 1\n"
        "```\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(skill_docs, "REPO", tmp_path)
    monkeypatch.setattr(skill_docs, "skill_docs", lambda: [doc])
    found = [(c.where, c.argv, c.strict) for c in skill_docs.skill_commands()]
    assert found == [
        ("SKILL.md:4", ["baseline", "--model", "x", "--json"], True),
        ("SKILL.md:6", ["report", "runs/a"], True),
        ("SKILL.md:7", ["--help"], True),
        ("SKILL.md:1", ["report", "RUN_DIR"], False),
    ]


def test_walkthrough_markers_parse_and_cover_the_method():
    marked = [b for path in skill_docs() for b in code_blocks(path) if b.marker]
    names = [b.marker.name for b in marked if b.path.name == "SKILL.md"]
    assert names == ["models", "init", "research", "scenarios", "calibrate", "baseline", "until-decisive", "report"]
    assert [b.marker.name for b in marked if b.path.name == "finetune-benchmark.md"] == ["system-prompt", "finetuned", "compare"]
    baseline = next(b for b in marked if b.marker.name == "baseline")
    assert set(baseline.marker.exit) == {0, 3, 4, 5, 7, 8}
    assert "docs/base-model-evaluation.md" in baseline.marker.files
    # Every key the walkthrough checks in the baseline's JSON is one SKILL.md tells the agent to read.
    skill_text = (REPO / "SKILL.md").read_text(encoding="utf-8")
    for key in baseline.marker.reads:
        assert re.search(r"[`.]" + re.escape(key.split(".")[-1]) + "`", skill_text), key


def test_inline_code_skips_fenced_blocks(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("a `one`\n```\n`two`\n```\nb `three`\n", encoding="utf-8")
    assert inline_code(doc) == [(1, "one"), (5, "three")]
