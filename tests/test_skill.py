"""The agent skill: the validator's rules (each with a failing example), `basesel skill install`
(idempotent, refuses to overwrite local edits without --force), `show`, and the shipped skill itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from basesel import __version__
from basesel.errors import ConfigError
from basesel.paths import skill_source
from basesel.skill_install import MANIFEST, SKILL_NAME, inspect_location, install, plan_install, sha256_file
from basesel.skill_validate import MAX_BODY_LINES, validate_skill
from conftest import BASESEL, REPO, cli_env

VALID = {
    "name": "my-skill",
    "description": "Does a thing. Use when the user asks for the thing.",
    "license": "Apache-2.0",
    "compatibility": "Requires Python 3.11+",
    "metadata": {"version": __version__},
}


def make_skill(root: Path, folder: str = "my-skill", body: str = "# Title\n\nSee [ref](ref.md).\n", raw: str | None = None, files: dict[str, str] | None = None, **changes) -> Path:
    """A skill folder with SKILL.md; `changes` override frontmatter keys (value None removes one)."""
    path = root / folder
    path.mkdir(parents=True, exist_ok=True)
    if raw is None:
        fm = {**VALID, **changes}
        fm = {k: v for k, v in fm.items() if v is not None}
        raw = "---\n" + yaml.safe_dump(fm, sort_keys=False, allow_unicode=True) + "---\n" + body
    (path / "SKILL.md").write_text(raw, encoding="utf-8")
    for rel, text in {"ref.md": "# Reference\n", **(files or {})}.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text, encoding="utf-8")
    return path


def errors(path: Path) -> list[str]:
    return [f"{p.where}: {p.message}" for p in validate_skill(path).errors]


def assert_error(path: Path, fragment: str) -> None:
    found = errors(path)
    assert any(fragment in e for e in found), found


# --- the validator ------------------------------------------------------------------------------


def test_a_valid_skill_passes(tmp_path):
    result = validate_skill(make_skill(tmp_path))
    assert result.ok, result.problems
    assert result.name == "my-skill" and result.version == __version__
    assert result.checked_files == ["SKILL.md", "ref.md"]


def test_a_byte_order_mark_before_the_frontmatter_is_not_content(tmp_path):
    path = make_skill(tmp_path)
    skill_md = path / "SKILL.md"
    skill_md.write_text("\ufeff" + skill_md.read_text(encoding="utf-8"), encoding="utf-8")
    result = validate_skill(path)
    assert result.ok, result.problems


def test_a_skill_md_path_works_like_its_folder(tmp_path):
    assert validate_skill(make_skill(tmp_path) / "SKILL.md").ok


@pytest.mark.parametrize(
    "raw, fragment",
    [
        ("# no frontmatter\n", "must start with YAML frontmatter"),
        ("---\nname: my-skill\n", "no closing '---'"),
        ("---\nname: [unclosed\n---\nbody\n", "not valid YAML"),
        ("---\n- a list\n---\nbody\n", "must be a YAML mapping"),
    ],
)
def test_frontmatter_must_be_a_closed_yaml_mapping(tmp_path, raw, fragment):
    assert_error(make_skill(tmp_path, raw=raw), fragment)


def test_yaml_errors_carry_the_file_line(tmp_path):
    path = make_skill(tmp_path, raw="---\nname: my-skill\ndescription: [oops\n---\nbody\n")
    assert any(e.startswith("SKILL.md:") and "not valid YAML" in e for e in errors(path))


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("My-Skill", "lowercase letters"),
        ("-my-skill", "no hyphen at either end"),
        ("my-skill-", "no hyphen at either end"),
        ("my--skill", "single hyphens"),
        ("my_skill", "lowercase letters"),
        ("a" * 65, "1-64 characters"),
        ("", "1-64 characters"),
        ("claude-helper", "reserved word 'claude'"),
        ("anthropic-tools", "reserved word 'anthropic'"),
        (12, "must be a string"),
    ],
)
def test_name_rules(tmp_path, name, fragment):
    folder = name if isinstance(name, str) and name and "/" not in name else "folder"
    assert_error(make_skill(tmp_path, folder=folder, name=name), fragment)


def test_name_must_equal_the_folder_name(tmp_path):
    assert_error(make_skill(tmp_path, folder="other-folder"), "skill folder is named 'other-folder'")


def test_a_64_character_name_is_allowed(tmp_path):
    name = "a" * 64
    assert validate_skill(make_skill(tmp_path, folder=name, name=name)).ok


@pytest.mark.parametrize(
    "key, fragment",
    [("name", "no 'name'"), ("description", "no 'description'")],
)
def test_required_keys(tmp_path, key, fragment):
    assert_error(make_skill(tmp_path, **{key: None}), fragment)


@pytest.mark.parametrize(
    "description, fragment",
    [
        ("   ", "is empty"),
        ("x" * 1025, "1025 characters; the limit is 1024"),
        ("Use for <html> work", "angle brackets"),
        ("Use when a > b", "angle brackets"),
        (["a", "list"], "must be a string"),
    ],
)
def test_description_rules(tmp_path, description, fragment):
    assert_error(make_skill(tmp_path, description=description), fragment)


def test_a_1024_character_description_is_allowed(tmp_path):
    assert validate_skill(make_skill(tmp_path, description="x" * 1024)).ok


def test_unknown_keys_are_rejected(tmp_path):
    assert_error(make_skill(tmp_path, version="1.0"), "key 'version' is not allowed")


def test_allowed_tools_is_an_allowed_key(tmp_path):
    assert validate_skill(make_skill(tmp_path, **{"allowed-tools": "Bash Read"})).ok
    assert_error(make_skill(tmp_path / "b", **{"allowed-tools": ["Bash"]}), "space-separated string")


@pytest.mark.parametrize(
    "value, fragment",
    [("x" * 501, "501 characters; the limit is 500"), ("", "non-empty string"), (5, "non-empty string")],
)
def test_compatibility_rules(tmp_path, value, fragment):
    assert_error(make_skill(tmp_path, compatibility=value), fragment)


@pytest.mark.parametrize(
    "value, fragment",
    [({"version": 1.5}, "must map a string to a string"), (["version"], "map of strings to strings"), ({"n": None}, "must map a string to a string")],
)
def test_metadata_must_map_strings_to_strings(tmp_path, value, fragment):
    assert_error(make_skill(tmp_path, metadata=value), fragment)


def test_license_must_be_a_string(tmp_path):
    assert_error(make_skill(tmp_path, license=["MIT"]), "'license' must be a string")


def test_body_line_limit(tmp_path):
    long_body = "line\n" * (MAX_BODY_LINES + 1)
    assert_error(make_skill(tmp_path, body=long_body), f"{MAX_BODY_LINES + 1} lines")
    assert validate_skill(make_skill(tmp_path / "ok", body="line\n" * MAX_BODY_LINES)).ok


def test_empty_body_is_an_error(tmp_path):
    assert_error(make_skill(tmp_path, body="\n\n"), "body is empty")


def test_broken_relative_link(tmp_path):
    path = make_skill(tmp_path, body="# T\n\nSee [guide](guides/missing.md#part).\n")
    found = errors(path)
    assert any("SKILL.md:" in e and "guides/missing.md" in e and "does not resolve" in e for e in found), found


def test_link_line_numbers_count_the_frontmatter(tmp_path):
    path = make_skill(tmp_path, body="# T\n\n[x](nope.md)\n")
    text = (path / "SKILL.md").read_text().splitlines()
    line = next(i for i, t in enumerate(text, start=1) if "nope.md" in t)
    assert any(e.startswith(f"SKILL.md:{line}:") for e in errors(path)), errors(path)


def test_links_must_stay_inside_the_skill_folder(tmp_path):
    (tmp_path / "outside.md").write_text("x")
    assert_error(make_skill(tmp_path, body="# T\n[o](../outside.md)\n"), "points outside the skill folder")


def test_absolute_links_are_rejected(tmp_path):
    assert_error(make_skill(tmp_path, body="# T\n[a](/etc/hosts)\n"), "absolute path")


def test_urls_anchors_and_code_are_not_checked(tmp_path):
    body = "# T\n[web](https://example.com/x.md) [mail](mailto:a@b.c) [top](#t)\n`[not](a-link.md)`\n```\n[nor](this.md)\n```\n"
    assert validate_skill(make_skill(tmp_path, body=body)).ok


def test_reference_style_links_are_checked(tmp_path):
    assert_error(make_skill(tmp_path, body="# T\nSee [the guide][g].\n\n[g]: missing.md\n"), "missing.md")


def test_links_inside_reference_files_are_checked(tmp_path):
    path = make_skill(tmp_path, body="# T\n[r](skill/ref.md)\n", files={"skill/ref.md": "back to [top](../SKILL.md), [gone](gone.md)\n"})
    found = errors(path)
    assert any(e.startswith("skill/ref.md:1") and "gone.md" in e for e in found), found
    assert not any("SKILL.md' does not" in e for e in found)


def test_a_version_different_from_the_cli_is_a_warning(tmp_path):
    result = validate_skill(make_skill(tmp_path, metadata={"version": "0.0.1"}))
    assert result.ok and any("0.0.1" in w.message for w in result.warnings)


def test_missing_skill_md(tmp_path):
    (tmp_path / "my-skill").mkdir()
    assert_error(tmp_path / "my-skill", "no SKILL.md here")


# --- the folder-name exemption for basesel's own source folder -----------------------------------


def test_the_source_folder_is_exempt_from_the_folder_name_rule():
    source = skill_source()
    assert source.name != SKILL_NAME  # the repo root (or _data/skill): named otherwise
    result = validate_skill(source)
    assert result.ok, result.problems
    assert any("folder-name check skipped" in n for n in result.notes)


def test_a_copy_of_the_source_elsewhere_is_not_exempt(tmp_path):
    copy = tmp_path / "checkout"
    (copy / "skill").mkdir(parents=True)
    (copy / "SKILL.md").write_bytes((skill_source() / "SKILL.md").read_bytes())
    for ref in (skill_source() / "skill").glob("*.md"):
        (copy / "skill" / ref.name).write_bytes(ref.read_bytes())
    assert_error(copy, "skill folder is named 'checkout'")


# --- the shipped skill -------------------------------------------------------------------------


def test_shipped_skill_frontmatter():
    from basesel.skill_validate import parse_skill_file

    fm = parse_skill_file(REPO / "SKILL.md").frontmatter
    assert fm["name"] == SKILL_NAME
    assert fm["metadata"] == {"version": __version__}
    assert fm["license"] == "Apache-2.0"
    assert "pip install 'basesel[all]'" in fm["compatibility"]
    description = fm["description"].lower()
    for trigger in ("fine-tuning project", "base model", "quality bar", "fine-tune", "rubric"):
        assert trigger in description, trigger


def test_package_version_matches_pyproject():
    import tomllib

    assert tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"] == __version__


def test_every_reference_file_is_linked_from_skill_md():
    result = validate_skill(REPO)
    refs = {f"skill/{p.name}" for p in (REPO / "skill").glob("*.md")}
    assert refs == set(result.checked_files) - {"SKILL.md"}
    assert refs >= {"skill/research-guide.md", "skill/rubric-design.md", "skill/scenario-design.md", "skill/decision-guide.md", "skill/finetune-benchmark.md"}


def test_skill_md_body_has_the_sections_the_method_needs():
    text = (REPO / "SKILL.md").read_text(encoding="utf-8")
    for heading in ("## When to use", "## The process", "### Step 8: Decide", "## Judgement calls", "## Common mistakes", "## Outputs checklist"):
        assert heading in text, heading
    assert "Inconclusive" in text and "| 5 |" in text  # the gate table includes the inconclusive band


# --- install --------------------------------------------------------------------------------------


def test_install_copies_the_skill_and_the_copy_validates(tmp_path):
    dest = tmp_path / "skills" / SKILL_NAME
    result = install(dest)
    assert result.wrote
    assert (dest / "SKILL.md").read_bytes() == (skill_source() / "SKILL.md").read_bytes()
    for ref in (skill_source() / "skill").glob("*.md"):
        assert (dest / "skill" / ref.name).read_bytes() == ref.read_bytes()
    manifest = json.loads((dest / MANIFEST).read_text())
    assert manifest["version"] == __version__ and manifest["files"]["SKILL.md"] == sha256_file(dest / "SKILL.md")
    check = validate_skill(dest)
    assert check.ok, check.problems
    assert not check.notes  # the installed copy passes the folder-name rule for real


def test_install_is_idempotent(tmp_path):
    dest = tmp_path / SKILL_NAME
    install(dest)
    stamps = {p: p.stat().st_mtime_ns for p in dest.rglob("*") if p.is_file()}
    again = install(dest)
    assert not again.wrote and all(a.action == "unchanged" for a in again.actions)
    assert {p: p.stat().st_mtime_ns for p in dest.rglob("*") if p.is_file()} == stamps


def test_install_refuses_to_overwrite_local_edits_without_force(tmp_path):
    dest = tmp_path / SKILL_NAME
    install(dest)
    edited = dest / "skill" / "decision-guide.md"
    edited.write_text("my notes\n")
    with pytest.raises(ConfigError) as info:
        install(dest)
    assert "skill/decision-guide.md (edited locally)" in info.value.message and "--force" in info.value.hint
    assert edited.read_text() == "my notes\n"  # nothing written

    result = install(dest, force=True)
    assert any(a.path == "skill/decision-guide.md" and a.action == "overwrite" for a in result.actions)
    assert edited.read_bytes() == (skill_source() / "skill" / "decision-guide.md").read_bytes()


def test_install_updates_an_older_untouched_copy_without_force(tmp_path):
    dest = tmp_path / SKILL_NAME
    install(dest)
    # Simulate an older version installed by basesel: different content, recorded in the manifest.
    old = dest / "SKILL.md"
    old.write_text(old.read_text().replace(__version__, "0.0.1"))
    manifest = json.loads((dest / MANIFEST).read_text())
    manifest["files"]["SKILL.md"] = sha256_file(old)
    manifest["files"]["skill/retired.md"] = sha256_file(dest / "skill" / "research-guide.md")
    (dest / "skill" / "retired.md").write_bytes((dest / "skill" / "research-guide.md").read_bytes())
    manifest["version"] = "0.0.1"
    (dest / MANIFEST).write_text(json.dumps(manifest))
    result = install(dest)
    actions = {a.path: a.action for a in result.actions}
    assert actions["SKILL.md"] == "update" and actions["skill/retired.md"] == "remove"
    assert old.read_bytes() == (skill_source() / "SKILL.md").read_bytes()
    assert not (dest / "skill" / "retired.md").exists()


def test_install_keeps_an_edited_retired_file_and_users_own_files(tmp_path):
    dest = tmp_path / SKILL_NAME
    install(dest)
    manifest = json.loads((dest / MANIFEST).read_text())
    manifest["files"]["skill/retired.md"] = "0" * 64
    (dest / MANIFEST).write_text(json.dumps(manifest))
    (dest / "skill" / "retired.md").write_text("edited\n")
    (dest / "notes.md").write_text("mine\n")
    result = install(dest)
    assert {a.path: a.action for a in result.actions}["skill/retired.md"] == "keep-edited"
    assert (dest / "skill" / "retired.md").read_text() == "edited\n"
    assert (dest / "notes.md").read_text() == "mine\n"


def test_install_refuses_a_different_skill_md_it_did_not_write(tmp_path):
    dest = tmp_path / SKILL_NAME
    dest.mkdir()
    (dest / "SKILL.md").write_text("---\nname: base-model-selector\n---\nsomeone else's\n")
    plan = plan_install(dest)
    assert {a.path: a.action for a in plan.actions}["SKILL.md"] == "conflict"
    with pytest.raises(ConfigError, match="not installed by basesel"):
        install(dest)


def test_install_adopts_an_identical_copy_without_a_manifest(tmp_path):
    dest = tmp_path / SKILL_NAME
    install(dest)
    (dest / MANIFEST).unlink()
    result = install(dest)
    assert result.wrote and all(a.action == "unchanged" for a in result.actions)
    assert (dest / MANIFEST).is_file()


# --- the CLI: locations, errors without tracebacks, show ---------------------------------------


def run_cli(args: list[str], tmp_path: Path, home: Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = cli_env(tmp_path, HOME=str(home))
    return subprocess.run(BASESEL + args, cwd=cwd or tmp_path, env=env, capture_output=True, text=True, timeout=60)


def test_cli_install_user_project_and_dest(tmp_path):
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir(), project.mkdir()
    proc = run_cli(["skill", "install", "--user", "--json"], tmp_path, home, cwd=project)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["dest"] == str(home / ".claude" / "skills" / SKILL_NAME) and out["valid"] and out["changed"]
    assert (home / ".claude/skills/base-model-selector/SKILL.md").is_file()

    proc = run_cli(["skill", "install", "--project"], tmp_path, home, cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert (project / ".claude/skills/base-model-selector/skill/decision-guide.md").is_file()
    again = run_cli(["skill", "install", "--project"], tmp_path, home, cwd=project)
    assert again.returncode == 0 and "already installed and up to date" in again.stdout

    proc = run_cli(["skill", "install", "--dest", str(tmp_path / "agents")], tmp_path, home)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "agents" / SKILL_NAME / "SKILL.md").is_file()


def test_cli_install_default_is_user(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    assert run_cli(["skill", "install"], tmp_path, home).returncode == 0
    assert (home / ".claude/skills/base-model-selector/SKILL.md").is_file()


def test_cli_errors_print_a_message_not_a_traceback(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    both = run_cli(["skill", "install", "--user", "--project"], tmp_path, home)
    assert both.returncode == 2 and "pick one place" in both.stderr and "Traceback" not in both.stderr

    assert run_cli(["skill", "install"], tmp_path, home).returncode == 0
    (home / ".claude/skills/base-model-selector/SKILL.md").write_text("edited")
    refused = run_cli(["skill", "install"], tmp_path, home)
    assert refused.returncode == 1 and "edited locally" in refused.stderr and "--force" in refused.stderr
    assert "Traceback" not in refused.stderr
    forced = run_cli(["skill", "install", "--force"], tmp_path, home)
    assert forced.returncode == 0, forced.stderr

    missing = run_cli(["skill", "validate", str(tmp_path / "nowhere")], tmp_path, home)
    assert missing.returncode == 1 and "no such file or folder" in missing.stderr and "Traceback" not in missing.stderr


def test_cli_validate_reports_problems_with_exit_1(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    bad = make_skill(tmp_path, folder="bad-skill", name="Bad", description="x <y>")
    proc = run_cli(["skill", "validate", str(bad)], tmp_path, home)
    assert proc.returncode == 1
    assert "lowercase letters" in proc.stdout and "angle brackets" in proc.stdout and "Traceback" not in proc.stderr
    data = json.loads(run_cli(["skill", "validate", str(bad), "--json"], tmp_path, home).stdout)
    assert data["ok"] is False and len(data["errors"]) >= 3  # name pattern, folder name, angle brackets

    ok = run_cli(["skill", "validate"], tmp_path, home)  # default: the skill this CLI ships
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "valid" in ok.stdout


def test_cli_show_reports_versions_and_edits(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    shown = json.loads(run_cli(["skill", "show", "--json"], tmp_path, home).stdout)
    assert shown["cli_version"] == __version__
    assert [loc["installed"] for loc in shown["locations"]] == [False, False]
    assert "basesel skill install" in run_cli(["skill", "show"], tmp_path, home).stdout

    assert run_cli(["skill", "install"], tmp_path, home).returncode == 0
    user = json.loads(run_cli(["skill", "show", "--json"], tmp_path, home).stdout)["locations"][0]
    assert user["installed"] and user["version"] == __version__ and user["up_to_date"] and user["status"] == "up to date"

    (home / ".claude/skills/base-model-selector/skill/rubric-design.md").write_text("mine")
    user = json.loads(run_cli(["skill", "show", "--json"], tmp_path, home).stdout)["locations"][0]
    assert user["edited"] == ["skill/rubric-design.md"] and not user["up_to_date"]
    assert "edited: skill/rubric-design.md" in run_cli(["skill", "show"], tmp_path, home).stdout


def test_show_flags_an_older_installed_version(tmp_path):
    dest = tmp_path / SKILL_NAME
    install(dest)
    skill_md = dest / "SKILL.md"
    skill_md.write_text(skill_md.read_text().replace(f'version: "{__version__}"', 'version: "0.0.1"'))
    manifest = json.loads((dest / MANIFEST).read_text())
    manifest["files"]["SKILL.md"] = sha256_file(skill_md)
    (dest / MANIFEST).write_text(json.dumps(manifest))
    info = inspect_location("dest", dest)
    assert info.version == "0.0.1" and "differs from the CLI's" in info.status(__version__)


def test_skill_help_is_fast_and_imports_only_typer():
    code = "import sys, basesel.cli.skill; print(sorted(m for m in ('rich', 'yaml', 'pydantic', 'jinja2') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
