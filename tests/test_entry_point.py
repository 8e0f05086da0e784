"""The console-script entry ends the process right after the exit handlers, skipping interpreter
teardown (~0.2 s once an SDK is loaded): exit codes, output and other exit handlers must survive that."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import REPO, cli_env

PROBE = textwrap.dedent(
    """
    import atexit, sys
    from pathlib import Path
    import typer
    import basesel.cli.main as entry

    out = Path(sys.argv[1])
    if sys.argv[2] == "early-handler":
        atexit.register(lambda: (out / "early").write_text("ran"))

    class Finalizer:  # runs at interpreter teardown, if there is one
        def __del__(self):
            (out / "teardown").write_text("ran")

    keep = Finalizer()

    @entry.app.command("probe")
    def probe(code: int = 0) -> None:
        atexit.register(lambda: (out / "late").write_text("ran"))
        sys.stdout.write("x" * 1_000_000)  # buffered, not flushed: the exit must flush it
        if code:
            raise typer.Exit(code)

    sys.argv = ["basesel", "probe", *sys.argv[3:]]
    entry.run()
    """
)


def run_probe(tmp_path, mode: str, *args: str) -> subprocess.CompletedProcess:
    script = tmp_path / "bin" / "basesel"  # named like the console script, which is what run() looks for
    script.parent.mkdir(exist_ok=True)
    script.write_text(PROBE)
    return subprocess.run([sys.executable, str(script), str(tmp_path), mode, *args], capture_output=True, text=True, env=cli_env(tmp_path), cwd=REPO, timeout=60)


def test_teardown_is_skipped_but_output_and_later_exit_handlers_are_not(tmp_path):
    proc = run_probe(tmp_path, "plain")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "x" * 1_000_000
    assert (tmp_path / "late").read_text() == "ran"
    assert not (tmp_path / "teardown").exists()


def test_exit_codes_pass_through(tmp_path):
    assert run_probe(tmp_path, "plain", "--code", "4").returncode == 4
    assert run_probe(tmp_path, "plain", "--bogus").returncode == 2  # usage error from click


def test_a_handler_registered_before_the_entry_still_runs(tmp_path):
    # e.g. coverage's data writer, registered at interpreter start-up: then the normal teardown happens
    proc = run_probe(tmp_path, "early-handler", "--code", "3")
    assert proc.returncode == 3
    assert (tmp_path / "early").read_text() == "ran"
    assert (tmp_path / "late").read_text() == "ran"
    assert proc.stdout == "x" * 1_000_000
    assert (tmp_path / "teardown").exists()  # the contrast: a normal exit tears down


def test_a_caller_that_carries_on_is_not_cut_short(tmp_path):
    # run() called from another program (here: a script not named basesel) must return to it
    code = "import sys, basesel.cli.main as m\nsys.argv = ['basesel', '--version']\ntry:\n    m.run()\nexcept SystemExit:\n    pass\nprint('carried on')\nsys.exit(7)\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(tmp_path), timeout=60)
    assert proc.returncode == 7 and proc.stdout.endswith("carried on\n"), proc  # its own exit code, not run()'s


def test_errors_still_exit_1_with_their_message(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "basesel", "report", str(tmp_path)], capture_output=True, text=True, env=cli_env(tmp_path), timeout=60)
    assert proc.returncode == 1
    assert "error" in proc.stderr.lower()
