"""The project settings file, basesel.yaml, written by `basesel init` and read by every command run
from its directory. A flag on the command line wins over the file; the file wins over built-in defaults.

It works through click's `default_map`: the settings become each command's option defaults, so
`basesel baseline --model qwen3:8b` in an initialised project runs with the project's domain (or
rubric and taxonomy), judge, system prompt and defaults, exactly as if they had been typed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SETTINGS_FILE = "basesel.yaml"

# Which commands each project-wide setting feeds, as (command path, option's parameter name).
# Explicit, because the same flag name means different things in different commands (research's
# --domain is a research domain, its --turns a number).
ROUTES: dict[str, list[tuple[str, str]]] = {
    "domain": [("baseline", "domain"), ("scenarios", "domain"), ("judge calibrate", "domain")],
    "rubric": [("baseline", "rubric"), ("scenarios", "rubric"), ("judge calibrate", "rubric")],
    "taxonomy": [("baseline", "taxonomy"), ("scenarios", "taxonomy")],
    "scenarios": [("baseline", "scenarios")],
    "model": [("baseline", "model")],
    "base_url": [("baseline", "base_url")],
    "model_options": [("baseline", "option")],
    "judge": [("baseline", "judge"), ("judge calibrate", "judge")],
    "judge_base_url": [("baseline", "judge_base_url"), ("judge calibrate", "judge_base_url")],
    "judge_options": [("baseline", "judge_option"), ("judge calibrate", "judge_option")],
    "system_prompt": [("baseline", "system_prompt"), ("judge calibrate", "system_prompt")],
    "user_sim": [("baseline", "user_sim")],
    "user_sim_base_url": [("baseline", "user_sim_base_url")],
    "user_sim_options": [("baseline", "user_sim_option")],
    "turns": [("baseline", "turns"), ("scenarios", "turns")],
    "seed": [("baseline", "seed"), ("scenarios", "seed"), ("judge calibrate", "seed")],
    "research": [("baseline", "research"), ("report", "research")],
    "doc": [("baseline", "doc"), ("report", "doc")],
}
# A --domain typed on the command line brings its own rubric, taxonomy and system prompt: the file's
# rubric/taxonomy/system_prompt then give way, so the two never mix.
YIELD_TO_DOMAIN = ("rubric", "taxonomy", "system_prompt")


def _model():
    from pydantic import BaseModel, ConfigDict, Field

    class Settings(BaseModel):
        """basesel.yaml. Paths are relative to the directory the file is in (where commands run)."""

        model_config = ConfigDict(extra="forbid")

        domain: str | None = None
        """Domain pack: your copies in rubrics/NAME.yaml and taxonomies/NAME.yaml (basesel init), else the bundled pack."""
        rubric: str | None = None
        taxonomy: str | None = None
        scenarios: str | None = None
        model: str | None = None
        """A default candidate; usually given per run with --model."""
        base_url: str | None = None
        model_options: dict[str, Any] = Field(default_factory=dict)
        judge: str | None = None
        """The judge model spec, e.g. openai/gpt-4o-mini or qwen3:32b."""
        judge_base_url: str | None = None
        judge_options: dict[str, Any] = Field(default_factory=dict)
        system_prompt: str | None = None
        """Text, or a .txt/.md file holding it (default: the taxonomy's system_prompt)."""
        user_sim: str | None = None
        user_sim_base_url: str | None = None
        user_sim_options: dict[str, Any] = Field(default_factory=dict)
        turns: str | None = None
        seed: int | None = None
        research: str | None = None
        doc: str | None = None
        defaults: dict[str, dict[str, Any]] = Field(default_factory=dict)
        """Per command (`baseline`, `scenarios`, `judge calibrate`, `research` ...): option name -> value."""

    return Settings


def find_settings(cwd: Path | None = None) -> Path | None:
    path = (cwd or Path()) / SETTINGS_FILE
    return path if path.is_file() else None


def load_settings(path: Path) -> Any:
    from .errors import ConfigError
    from .yamlio import load_model

    try:
        data = load_model(path, _model(), what="project settings")
    except ConfigError as exc:
        exc.hint = f"Fix {path} (its fields: docs/settings.md), or move it away to run without project settings."
        raise
    if data.turns is not None:
        data.turns = str(data.turns)
    return data


def _commands(group: Any, prefix: str = "") -> dict[str, Any]:
    """'baseline' -> click command, 'judge calibrate' -> ..., for every command under the group."""
    out = {}
    for name, cmd in getattr(group, "commands", {}).items():
        path = f"{prefix}{name}"
        if getattr(cmd, "commands", None) is not None:  # a group (typer ships its own click: no isinstance)
            out.update(_commands(cmd, path + " "))
        else:
            out[path] = cmd
    return out


def _as_flag_value(param: Any, value: Any) -> Any:
    """Settings values in the shape the option takes: key=value lists for --option-style flags."""
    if isinstance(value, dict):
        return [f"{k}={v}" for k, v in value.items()]
    if getattr(param, "multiple", False) and not isinstance(value, list):
        return [value]
    return value


def _unless_domain_typed(value: Any, click_globals: Any) -> Any:
    """A default that gives way when --domain was typed. click resolves the options typed on the command
    line before the defaults of the others, so --domain's source is known when this is called."""
    def default() -> Any:
        ctx = click_globals.get_current_context(silent=True)
        source = ctx.get_parameter_source("domain") if ctx is not None else None
        return None if source is not None and source.name == "COMMANDLINE" else value

    return default


def default_map(settings: Any, path: Path, root: Any, click_globals: Any = None) -> dict[str, Any]:
    """click's default_map for the command group `root`, from the settings."""
    from .errors import ConfigError
    from .yamlio import compose, read_text

    commands = _commands(root)
    flat: dict[str, dict[str, Any]] = {}
    for key, routes in ROUTES.items():
        value = getattr(settings, key)
        if value in (None, {}, []):
            continue
        for command, param_name in routes:
            cmd = commands.get(command)
            param = next((p for p in cmd.params if p.name == param_name), None) if cmd is not None else None
            if param is not None:
                flag_value = _as_flag_value(param, value)
                has_domain = any(p.name == "domain" for p in cmd.params)
                if key in YIELD_TO_DOMAIN and has_domain and click_globals is not None:
                    flag_value = _unless_domain_typed(flag_value, click_globals)
                flat.setdefault(command, {})[param_name] = flag_value
    for command, values in settings.defaults.items():
        cmd = commands.get(command)
        node = compose(read_text(path))
        if cmd is None:
            raise ConfigError(
                f"defaults: no command named '{command}'", where=f"{path}:{_line(node, 'defaults', command)}",
                hint=f"Commands: {', '.join(sorted(commands))}.",
            )
        names = {p.name: p for p in cmd.params}
        by_flag = {opt.lstrip("-").replace("-", "_"): p.name for p in cmd.params for opt in getattr(p, "opts", [])}
        for key, value in values.items():
            name = key.replace("-", "_")
            name = name if name in names else by_flag.get(name, name)
            if name not in names:
                raise ConfigError(
                    f"defaults.{command}: '{key}' is not an option of `basesel {command}`", where=f"{path}:{_line(node, 'defaults', command, key)}",
                    hint=f"Options: {', '.join(sorted(n for n in names if n != 'help'))} (as in `basesel {command} --help`, without the dashes).",
                )
            flat.setdefault(command, {})[name] = _as_flag_value(names[name], value)
    nested: dict[str, Any] = {}
    for command, values in flat.items():
        here = nested
        *groups, leaf = command.split(" ")
        for g in groups:
            here = here.setdefault(g, {})
        here.setdefault(leaf, {}).update(values)
    return nested


def _line(node: Any, *keys: str) -> str:
    from .yamlio import _node_at

    found = _node_at(node, keys)
    return str(found.start_mark.line + 1) if found is not None else "?"


def apply_settings(ctx: Any) -> None:
    """Called by the CLI's group callback: ./basesel.yaml becomes the subcommands' defaults. No file,
    no cost (nothing is imported), so `basesel --help` stays fast."""
    path = find_settings()
    if path is None:
        return
    import importlib

    # typer may ship its own copy of click: use the one this context comes from
    click_globals = importlib.import_module(type(ctx).__module__.rsplit(".", 1)[0] + ".globals")
    ctx.default_map = default_map(load_settings(path), path, ctx.command, click_globals)


# The research command's domain for each bundled pack (its --domain names research domains).
RESEARCH_DOMAIN = {"coaching": "therapeutic", "coding": "coding", "creative-writing": "creative", "factual-qa": "factual", "support": "support"}


def settings_text(domain: str, judge: str | None, judge_base_url: str | None) -> str:
    """basesel.yaml as `basesel init` writes it: the values set, the rest as commented examples."""
    lines = [
        "# basesel project settings, written by `basesel init`. Every basesel command run from this",
        "# directory reads them; a flag on the command line wins. Fields: docs/settings.md",
        f"domain: {domain}                # rubrics/{domain}.yaml + taxonomies/{domain}.yaml (your copies)",
        "# rubric: rubrics/my-rubric.yaml      # instead of the domain's (paths relative to this file's directory)",
        "# taxonomy: taxonomies/my-taxonomy.yaml",
        f"judge: {judge}" if judge else "# judge: openai/gpt-4o-mini         # the judge every baseline uses: name a strong model here",
        f"judge_base_url: {judge_base_url}" if judge_base_url else "# judge_base_url: http://127.0.0.1:11434",
        "# system_prompt: prompts/system.txt   # default: the taxonomy's system_prompt",
        "# user_sim: openai/gpt-4o-mini        # multi-turn: the simulated user (default: the judge)",
        "# turns: 3-6                          # multi-turn: turns per conversation",
        "defaults:                             # per command: option -> value, as in `basesel CMD --help`",
        "  baseline:",
        "    n: 50",
    ]
    if domain in RESEARCH_DOMAIN:
        lines += ["  research:", f"    domain: {RESEARCH_DOMAIN[domain]}"]
    return "\n".join(lines) + "\n"
