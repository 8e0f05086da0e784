"""Read the skill's markdown: code blocks, inline code, `basesel ...` command lines, walkthrough markers,
and check a command line against the real click command tree.

Used by test_skill_commands.py (every command parses against the CLI) and test_skill_walkthrough.py
(the marked blocks run, in order).

Walkthrough markers: an HTML comment on the line(s) just before a fenced block,
    <!-- walkthrough: NAME key=value key=value -->
with optional keys (comma-separated lists):
    reads=a.b,c   dotted keys that must exist in the JSON the block's last command prints on stdout
                  (`*` stands for every element of a list: reads=*.provider)
    files=p,q     files that must exist (relative to the project) after the block ran
    exit=0,3      exit codes accepted from the block's last command (default 0)
    stdout=TEXT   text the block's stdout must contain
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
MARKER = re.compile(r"^\s*<!--\s*walkthrough:\s*(.*?)\s*-->\s*$")
SHELL_LANGS = {"", "bash", "sh", "shell", "console", "zsh"}
SEPARATORS = {"&&", "||", ";", "|"}
ELLIPSIS = {"...", "…"}


def skill_docs() -> list[Path]:
    return [REPO / "SKILL.md", *sorted((REPO / "skill").glob("*.md"))]


@dataclass
class Marker:
    name: str
    reads: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    exit: list[int] = field(default_factory=lambda: [0])
    stdout: str | None = None


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    marker: Marker | None = None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def parse_marker(body: str) -> Marker:
    parts = body.split()
    if not parts or "=" in parts[0]:
        raise ValueError(f"walkthrough marker needs a step name first: {body!r}")
    marker = Marker(name=parts[0])
    for part in parts[1:]:
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"walkthrough marker option must be key=value: {part!r}")
        if key == "reads":
            marker.reads = [v for v in value.split(",") if v]
        elif key == "files":
            marker.files = [v for v in value.split(",") if v]
        elif key == "exit":
            marker.exit = [int(v) for v in value.split(",") if v]
        elif key == "stdout":
            marker.stdout = value
        else:
            raise ValueError(f"unknown walkthrough marker key {key!r}")
    return marker


def code_blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang, start = m.group(2), m.group(3).lower(), i
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence[:3]):
            j += 1
        marker = None
        k = start - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        if k >= 0 and (mm := MARKER.match(lines[k])):
            marker = parse_marker(mm.group(1))
        blocks.append(Block(path, start + 1, lang, "\n".join(lines[start + 1 : j]), marker))
        i = j + 1
    return blocks


def inline_code(path: Path) -> list[tuple[int, str]]:
    """(line, code) for inline code spans outside fenced blocks."""
    out: list[tuple[int, str]] = []
    in_fence = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        for m in re.finditer(r"(`+)(.+?)\1", line):
            out.append((number, m.group(2).strip()))
    return out


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Join backslash continuations; drop comments, blank lines and a leading '$ ' prompt.
    Returns (0-based offset of the first physical line, line)."""
    out: list[tuple[int, str]] = []
    buf, first = "", None
    for offset, raw in enumerate(text.splitlines()):
        line = raw.rstrip()
        if first is None:
            first = offset
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        stripped = buf.strip()
        if stripped.startswith("$ "):
            stripped = stripped[2:]
        if stripped and not stripped.startswith("#"):
            out.append((first, stripped))
        buf, first = "", None
    return out


def split_segments(line: str) -> list[list[str]]:
    """Shell-split a line into command segments at &&, ||, ;, | (comments dropped)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    segments: list[list[str]] = [[]]
    for token in lexer:
        if token in SEPARATORS:
            segments.append([])
        else:
            segments[-1].append(token)
    return [s for s in segments if s]


def basesel_argv(segment: list[str]) -> list[str] | None:
    """The arguments after `basesel` if this segment runs it (leading VAR=value assignments allowed)."""
    i = 0
    while i < len(segment) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", segment[i]):
        i += 1
    if i < len(segment) and segment[i] == "basesel":
        return segment[i + 1 :]
    return None


@dataclass
class CommandLine:
    where: str
    argv: list[str]  # after "basesel"
    strict: bool  # from a code block (full command) rather than inline prose

    @property
    def text(self) -> str:
        return "basesel " + " ".join(self.argv)


def skill_commands() -> list[CommandLine]:
    out: list[CommandLine] = []
    for path in skill_docs():
        rel = path.relative_to(REPO)
        for block in code_blocks(path):
            if block.lang not in SHELL_LANGS:
                continue
            for offset, line in logical_lines(block.text):
                for segment in split_segments(line):
                    argv = basesel_argv(segment)
                    if argv is not None:
                        out.append(CommandLine(f"{rel}:{block.line + 1 + offset}", argv, strict=True))
        for number, code in inline_code(path):
            if not re.match(r"^basesel(\s|$)", code):
                continue
            try:
                segments = split_segments(code)
            except ValueError:
                segments = [code.split()]
            for segment in segments:
                argv = basesel_argv(segment)
                if argv is not None:
                    out.append(CommandLine(f"{rel}:{number}", argv, strict=False))
    return out


# Duck-typed: typer vendors its own copy of click (typer._click), so isinstance checks against the
# `click` package would miss typer's classes.
def _is_group(command) -> bool:
    return isinstance(getattr(command, "commands", None), dict)


def _is_option(param) -> bool:
    return getattr(param, "param_type_name", None) == "option"


def _is_argument(param) -> bool:
    return getattr(param, "param_type_name", None) == "argument"


def _choices(option) -> list[str] | None:
    """The allowed values of a choice option: click's Choice type, or typer's Enum annotation."""
    import enum

    kind = getattr(option, "type", None)
    if isinstance(getattr(kind, "choices", None), (list, tuple)):
        return [str(c) for c in kind.choices]
    annotation = getattr(getattr(option, "type_descriptor", None), "annotation", None)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str(m.value) for m in annotation]
    return None


def _option_index(command) -> dict[str, object]:
    index: dict[str, object] = {}
    for param in command.params:
        if _is_option(param):
            for name in [*param.opts, *param.secondary_opts]:
                index[name] = param
    return index


def _is_placeholder(value: str) -> bool:
    return bool(re.match(r"^(<.*>|\$.*|[A-Z][A-Z0-9_.]*|\.\.\.|…)$", value))


def check_command(root, argv: list[str], strict: bool = True) -> list[str]:
    """Problems with `basesel ARGV` against the click tree: unknown (sub)commands, unknown flags,
    flags missing their value, bad choices, too many (or, when strict, too few) positional arguments."""
    problems: list[str] = []
    command = root
    path = ["basesel"]
    args = list(argv)
    # Group-level options (e.g. --version, --help) come before the subcommand.
    while _is_group(command):
        if args and args[0] in ("--help", "--version"):
            return problems
        if args and args[0].startswith("-"):
            opts = _option_index(command)
            if args[0].split("=", 1)[0] not in opts:
                problems.append(f"{' '.join(path)} has no option {args[0]}")
                return problems
            args.pop(0)
            continue
        if not args:
            if strict:
                problems.append(f"{' '.join(path)} needs a subcommand ({', '.join(sorted(command.commands))})")
            return problems
        name = args.pop(0)
        if _is_placeholder(name):  # e.g. `basesel <command> --help`
            return problems
        sub = command.commands.get(name)
        if sub is None:
            problems.append(f"{' '.join(path)} has no command {name!r} (has: {', '.join(sorted(command.commands))})")
            return problems
        command = sub
        path.append(name)

    opts = _option_index(command)
    positionals: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        i += 1
        if token in ELLIPSIS:
            continue
        if token == "--help":
            return problems
        if token.startswith("-") and len(token) > 1 and not re.match(r"^-\d", token):
            name, eq, inline_value = token.partition("=")
            option = opts.get(name)
            if option is None:
                problems.append(f"{' '.join(path)} has no option {name}")
                continue
            takes_value = not (option.is_flag or option.count)
            if not takes_value:
                if eq:
                    problems.append(f"{' '.join(path)} {name} is a flag and takes no value")
                continue
            if eq:
                value = inline_value
            elif i < len(args) and args[i] not in ELLIPSIS:
                value = args[i]
                i += 1
            else:
                problems.append(f"{' '.join(path)} {name} needs a value")
                continue
            choices = _choices(option)
            if choices is not None and not _is_placeholder(value):
                matches = value in choices or value.lower() in [c.lower() for c in choices]
                if not matches:
                    problems.append(f"{' '.join(path)} {name} {value!r} is not one of {', '.join(choices)}")
            continue
        positionals.append(token)

    arguments = [p for p in command.params if _is_argument(p)]
    unlimited = any(a.nargs == -1 for a in arguments)
    capacity = sum(max(a.nargs, 0) for a in arguments)
    if not unlimited and len(positionals) > capacity:
        problems.append(f"{' '.join(path)} takes {capacity} argument(s), got {len(positionals)}: {' '.join(positionals)}")
    if strict:
        required = sum(max(a.nargs, 1) for a in arguments if a.required)
        if len(positionals) < required:
            names = ", ".join(a.name.upper() for a in arguments if a.required)
            problems.append(f"{' '.join(path)} needs argument(s) {names}")
    return problems


def cli_root():
    import typer

    from basesel.cli.main import app

    return typer.main.get_command(app)
