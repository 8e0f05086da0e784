"""The MBPP code sandbox: right code passes, wrong code fails, and every escape is contained.

Each escape is written as a solution whose tests pass only if the escape worked, so a contained
escape is a *failed* solution, and the host is then checked directly (no connection accepted, no
file written, no secret printed, no process left)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import tempfile
import textwrap
import uuid
from pathlib import Path

import pytest

from basesel.bench import sandbox
from basesel.bench.sandbox import run_untrusted

MECHANISM, WHY_NOT = sandbox.isolation_mechanism()
needs_isolation = pytest.mark.skipif(MECHANISM is None, reason=f"no sandbox here: {WHY_NOT}")


def survivors(run_id: str) -> list[int]:
    """PIDs whose command line still names this run (every process of the run does)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if run_id.encode() in cmdline and state != "Z":
                found.append(int(entry.name))
    return found


@needs_isolation
def test_a_correct_solution_passes():
    result = run_untrusted("def add(a, b):\n    return a + b\n", "assert add(1, 2) == 3\nassert add(-1, 1) == 0\n")
    assert (result.passed, result.status, result.isolation) == (True, "passed", "bwrap")


@needs_isolation
def test_a_wrong_solution_fails_with_its_traceback():
    result = run_untrusted("def add(a, b):\n    return a - b\n", "assert add(1, 2) == 3\n")
    assert (result.passed, result.status) == (False, "failed")
    assert result.detail.startswith("AssertionError")
    assert 'File "tests.py", line 1' in result.stderr and "harness" not in result.stderr


@needs_isolation
@pytest.mark.parametrize(
    "code",
    ["import sys\nsys.exit(0)\n", "import os\nos._exit(0)\n", "def f(:\n"],
    ids=["sys.exit", "os._exit", "syntax-error"],
)
def test_leaving_before_the_tests_run_is_not_a_pass(code):
    result = run_untrusted(code, "assert False\n")
    assert (result.passed, result.status) == (False, "failed")


@needs_isolation
def test_network_connect_to_a_loopback_listener_is_refused():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(0.5)
        port = server.getsockname()[1]
        code = textwrap.dedent(f"""
            import socket
            try:
                with socket.create_connection(("127.0.0.1", {port}), timeout=2) as c:
                    c.sendall(b"stolen")
                connected = True
            except OSError as exc:
                print("connect failed:", exc)
                connected = False
        """)
        result = run_untrusted(code, "assert connected\n")
        with pytest.raises(socket.timeout):
            server.accept()  # nothing ever reached the host's listener
    assert (result.passed, result.status) == (False, "failed")
    assert "connect failed" in result.stdout


@needs_isolation
def test_the_home_directory_and_the_project_are_invisible_and_unwritable(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".netrc").write_text("machine example.com password hunter2\n")
    monkeypatch.setenv("HOME", str(home))
    real_home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    marker = f"basesel-sandbox-escape-{uuid.uuid4().hex}"
    targets = [home / marker, real_home / marker, tmp_path / marker, Path.cwd() / marker]
    code = textwrap.dedent(f"""
        targets = {[str(t) for t in targets]!r}
        wrote, read = [], None
        for target in targets:
            try:
                with open(target, "w") as f:
                    f.write("pwned")
                wrote.append(target)
            except OSError as exc:
                print("write failed:", target, exc)
        try:
            read = open({str(home / ".netrc")!r}).read()
        except OSError as exc:
            print("read failed:", exc)
        open("/tmp/scratch.txt", "w").write("the scratch space is writable")
    """)
    result = run_untrusted(code, "assert wrote or read\n")
    assert (result.passed, result.status) == (False, "failed")
    assert result.stdout.count("write failed") == len(targets)
    assert "hunter2" not in result.stdout + result.stderr
    assert not [t for t in targets if t.exists()]


@needs_isolation
def test_kernel_settings_stay_out_of_reach():
    """Inside a user namespace, code running as the caller's uid 0 could write /proc/sys; it runs as nobody.
    (It writes back the value it read: harmless, were it ever to succeed.)"""
    code = textwrap.dedent("""
        path = "/proc/sys/kernel/printk_ratelimit"
        value = open(path).read()
        try:
            with open(path, "w") as f:
                f.write(value)
            wrote = True
        except OSError as exc:
            print("refused:", exc)
            wrote = False
    """)
    result = run_untrusted(code, "assert wrote\n")
    assert (result.passed, result.status) == (False, "failed") and "refused:" in result.stdout


@needs_isolation
@pytest.mark.skipif(MECHANISM and "--disable-userns" not in sandbox._bwrap_help(shutil.which("bwrap") or ""), reason="bubblewrap < 0.8")
def test_no_nested_user_namespace():
    code = textwrap.dedent("""
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        created = libc.unshare(0x10000000) == 0  # CLONE_NEWUSER: full capabilities in a namespace of one's own
        print("unshare:", os.strerror(ctypes.get_errno()))
    """)
    result = run_untrusted(code, "assert created\n")
    assert (result.passed, result.status) == (False, "failed") and "unshare:" in result.stdout


@needs_isolation
def test_unsafe_still_sandboxes_where_a_sandbox_works():
    result = run_untrusted("import os\n", "assert True\n", unsafe=True)
    assert (result.status, result.isolation) == ("passed", "bwrap")


@needs_isolation
def test_environment_secrets_do_not_reach_the_code(monkeypatch):
    secret = f"sk-test-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("BASESEL_SANDBOX_CANARY", secret)
    code = textwrap.dedent("""
        import os
        found = [v for v in os.environ.values() if v.startswith("sk-test-")]
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    environ = open(f"/proc/{pid}/environ", "rb").read()
                except OSError:
                    continue
                found += [w.decode() for w in environ.split(b"\\0") if b"sk-test-" in w]
        print(dict(os.environ), found)
    """)
    result = run_untrusted(code, "assert found\n")
    assert (result.passed, result.status) == (False, "failed")
    assert secret not in result.stdout + result.stderr
    assert "HOME" in result.stdout  # the code did run and print its (clean) environment


@needs_isolation
def test_a_fork_bomb_is_stopped_and_nothing_survives():
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    result = run_untrusted(code, "", timeout_s=2)
    assert (result.passed, result.status) == (False, "timeout")
    assert result.duration_s < 8
    assert survivors(result.run_id) == []


@needs_isolation
def test_a_daemon_that_left_the_session_dies_with_the_run():
    code = textwrap.dedent("""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(120)
            os._exit(0)
        time.sleep(0.3)
    """)
    result = run_untrusted(code, "", timeout_s=5)
    assert result.status == "passed"
    assert survivors(result.run_id) == []


@needs_isolation
def test_an_infinite_loop_times_out_on_the_wall_clock():
    result = run_untrusted("while True:\n    pass\n", "", timeout_s=1.5)
    assert (result.passed, result.status) == (False, "timeout")
    assert 1.4 < result.duration_s < 6
    assert survivors(result.run_id) == []


@needs_isolation
@pytest.mark.parametrize(
    "code",
    ["big = bytearray(4 * 1024 ** 3)\n", "chunks = []\nwhile True:\n    chunks.append(b' ' * 10 ** 7)\n"],
    ids=["one-allocation", "growing"],
)
def test_a_memory_bomb_hits_the_memory_limit(code):
    result = run_untrusted(code, "", memory_mb=256)
    assert (result.passed, result.status) == (False, "memory")


@needs_isolation
def test_the_scratch_space_is_bounded():
    result = run_untrusted("open('/tmp/fill', 'wb').write(b'x' * (100 * 1024 * 1024))\n", "")
    assert result.status == "failed" and "OSError" in result.detail


def test_without_isolation_untrusted_code_is_refused_and_never_run(tmp_path, monkeypatch):
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no bwrap to be found
    ran = tmp_path / "ran"
    code = f"open({str(ran)!r}, 'w').write('ran')\n"
    result = run_untrusted(code, "")
    assert (result.passed, result.status, result.isolation) == (False, "refused", "")
    assert "bubblewrap" in result.stderr and "--unsafe-code" in result.stderr
    assert not ran.exists()
    # --unsafe-code: runs with limits only, in the open (it can write where it likes)
    result = run_untrusted(code + "def add(a, b):\n    return a + b\n", "assert add(2, 2) == 4\n", unsafe=True)
    assert (result.passed, result.status, result.isolation) == (True, "passed", "none")
    assert ran.read_text() == "ran"
    assert run_untrusted("while True:\n    pass\n", "", timeout_s=1, unsafe=True).status == "timeout"


@pytest.mark.skipif(not Path("/bin/sh").exists(), reason="needs /bin/sh")
def test_a_bwrap_that_cannot_start_here_means_refusal(monkeypatch):
    """As where user namespaces are disabled (a container's seccomp profile, AppArmor's restriction)."""
    with tempfile.TemporaryDirectory() as bin_dir:  # under /tmp, reachable by nobody (root's probe)
        os.chmod(bin_dir, 0o755)
        fake = Path(bin_dir) / "bwrap"
        fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
        fake.chmod(fake.stat().st_mode | stat.S_IEXEC | stat.S_IXGRP | stat.S_IXOTH | stat.S_IROTH)
        monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
        result = run_untrusted("print('hi')\n", "")
    assert result.status == "refused"
    assert "setting up uid map" in result.detail and "setting up uid map" in result.stderr
