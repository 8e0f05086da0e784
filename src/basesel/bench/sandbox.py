"""Run untrusted code (MBPP solutions) in a sandbox, or refuse to.

The sandbox is bubblewrap (`bwrap`): new user, network, PID, mount, IPC and UTS namespaces; a read-only
root holding only /usr and the interpreter's own prefix (no home, no project, no /etc secrets); a small
tmpfs at /tmp as the only writable place; an empty environment; no capabilities; run as an
unprivileged user (root drops to nobody first, so kernel files owned by root stay out of reach), who
cannot create user namespaces of its own (the usual way into the kernel's less-guarded code).
Inside, `sandbox_harness.py` sets the CPU, memory, file-size, open-file and process-count limits and
runs the solution and then its tests. The wall clock is kept here: past it, the whole process group is
killed, and with it the PID namespace, so nothing the code forked survives.

Without bubblewrap (or where user namespaces are disabled) the code is refused unless the caller
passes `unsafe=True` (`--unsafe-code`): then it runs in a plain subprocess with the resource limits,
an empty environment and a scratch directory, but no network or filesystem isolation.
"""

from __future__ import annotations

import functools
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

STATUSES = ("passed", "failed", "timeout", "memory", "error", "refused")
NOBODY = 65534
MAX_PROCESSES = 32  # processes and threads; a fork bomb stops here
SCRATCH_BYTES = 64 * 1024 * 1024  # the tmpfs at /tmp: files count against memory, not RLIMIT_AS
FILE_SIZE_BYTES = 16 * 1024 * 1024  # any one file, stdout and stderr included
MAX_OUTPUT_CHARS = 64 * 1024  # kept of stdout / stderr in the result
_HARNESS = Path(__file__).with_name("sandbox_harness.py")


@dataclass(frozen=True)
class SandboxResult:
    passed: bool
    status: str  # one of STATUSES
    stdout: str
    stderr: str
    isolation: str  # "bwrap", "none" (unsafe=True) or "" (refused)
    detail: str = ""  # one line: the exception, signal or refusal reason
    duration_s: float = 0.0
    returncode: int | None = None
    run_id: str = ""  # in the command line of every process of the run (to prove none outlived it)


def run_untrusted(
    code: str,
    tests: str,
    *,
    timeout_s: float = 10,
    memory_mb: int = 512,
    unsafe: bool = False,
    max_processes: int = MAX_PROCESSES,
) -> SandboxResult:
    """Run `code` then `tests` (asserts) in one fresh interpreter; passed when both finish cleanly."""
    mechanism, reason = isolation_mechanism()
    if mechanism is None and not unsafe:
        message = (
            f"Refused to run untrusted code: no sandbox is available ({reason}). Install bubblewrap "
            "(Debian/Ubuntu: apt-get install bubblewrap; it needs unprivileged user namespaces), or pass "
            "--unsafe-code to run it with resource limits only, without network or filesystem isolation."
        )
        return SandboxResult(False, "refused", "", message, "", detail=reason)
    limits = (memory_mb * 1024 * 1024, max(1, math.ceil(timeout_s)) + 1, FILE_SIZE_BYTES)
    host_dir = Path(tempfile.mkdtemp(prefix="basesel-sandbox-"))
    try:
        return _run(code, tests, host_dir, mechanism or "none", timeout_s, limits, max_processes)
    finally:
        _remove(host_dir)


@functools.lru_cache(maxsize=8)
def _probe(bwrap: str, python: str, uid: int) -> str:
    """'' when bwrap can start the interpreter here, else why not (e.g. user namespaces disabled)."""
    with tempfile.TemporaryDirectory(prefix="basesel-sandbox-probe-") as tmp:
        os.chmod(tmp, 0o755)
        argv = _bwrap_argv(bwrap, Path(python), Path(tmp)) + [python, "-I", "-c", "pass"]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30, **_drop_privileges())
        except (OSError, subprocess.SubprocessError) as exc:
            return f"bwrap could not start: {exc}"
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[0]
        return f"bwrap failed its start-up check: {first}"
    return ""


def isolation_mechanism() -> tuple[str | None, str]:
    """("bwrap", "") when the sandbox works here, else (None, why not)."""
    if not sys.platform.startswith("linux"):
        return None, f"namespaces are Linux-only and this is {sys.platform}"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return None, "bubblewrap (`bwrap`) is not on PATH"
    python = _sandbox_python()
    if python is None:
        return None, "no Python interpreter that the sandbox user can read"
    reason = _probe(bwrap, str(python), os.geteuid())
    return (None, reason) if reason else ("bwrap", "")


def _drop_privileges() -> dict:
    """Root runs the sandbox as nobody: inside a user namespace root's files would still be its own."""
    return {"user": NOBODY, "group": NOBODY, "extra_groups": []} if os.geteuid() == 0 else {}


def _others_can_read(path: Path) -> bool:
    """Every directory above `path` searchable and `path` itself readable by any user (for nobody)."""
    try:
        if not os.stat(path).st_mode & 0o004:
            return False
        return all(os.stat(p).st_mode & 0o001 for p in path.parents)
    except OSError:
        return False


def _sandbox_python() -> Path | None:
    """The base interpreter (never the virtualenv: its packages and path stay outside), else /usr/bin/python3."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    base = Path(sys.base_prefix) / "bin"
    for candidate in (base / version, base / "python3", Path("/usr/bin/python3")):
        if candidate.is_file():
            real = candidate.resolve()
            if os.geteuid() != 0 or (_others_can_read(real) and _others_can_read(_HARNESS)):
                return real
    return None


@functools.lru_cache(maxsize=4)
def _bwrap_help(bwrap: str) -> str:
    try:
        return subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _bwrap_argv(bwrap: str, python: Path, host_dir: Path) -> list[str]:
    argv = [bwrap, "--unshare-all", "--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY)]
    if "--disable-userns" in _bwrap_help(bwrap):  # bubblewrap >= 0.8
        argv.insert(3, "--disable-userns")
    argv += ["--cap-drop", "ALL", "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    argv += ["--clearenv"]
    for name, value in _sandbox_env("/tmp").items():
        argv += ["--setenv", name, value]
    argv += ["--ro-bind", "/usr", "/usr"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / top
        if host.is_symlink():  # merged /usr: /bin -> usr/bin
            argv += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            argv += ["--ro-bind", str(host), str(host)]
    argv += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    prefix = python.parent.parent
    if not python.is_relative_to("/usr") and prefix != Path("/"):
        argv += ["--ro-bind", str(prefix), str(prefix)]  # e.g. a pyenv or conda interpreter
    argv += ["--ro-bind", str(host_dir), "/sandbox"]
    argv += ["--size", str(SCRATCH_BYTES), "--perms", "1777", "--tmpfs", "/tmp"]
    argv += ["--dev", "/dev", "--remount-ro", "/dev", "--proc", "/proc", "--remount-ro", "/", "--chdir", "/tmp"]
    return argv


def _sandbox_env(home: str) -> dict[str, str]:
    """All the environment untrusted code gets: nothing of the caller's (no keys, no tokens)."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
    }


def _run(code, tests, host_dir: Path, mechanism: str, timeout_s, limits, max_processes) -> SandboxResult:
    memory, cpu, fsize = limits
    os.chmod(host_dir, 0o755)  # readable by nobody: holds only our harness and the code under test
    for name, text in (("solution.py", code), ("tests.py", tests), ("harness.py", _HARNESS.read_text())):
        (host_dir / name).write_text(text, encoding="utf-8")
        os.chmod(host_dir / name, 0o644)
    out_dir = Path(tempfile.mkdtemp(prefix="basesel-sandbox-out-"))  # never visible inside
    nonce = secrets.token_hex(16)
    try:
        if mechanism == "bwrap":
            inner, python = "/sandbox", _sandbox_python()
            prefix = _bwrap_argv(shutil.which("bwrap") or "bwrap", python, host_dir)
            nproc, cwd, env, extra = max_processes, None, {}, _drop_privileges()
        else:  # unsafe: limits only; the process count is not limited (it would count all the user's)
            inner, python, prefix = str(host_dir), Path(sys.executable), []
            scratch = out_dir / "scratch"
            scratch.mkdir()
            nproc, cwd, env, extra = 0, scratch, _sandbox_env(str(scratch)), {}
        with open(out_dir / "stdout", "wb") as out, open(out_dir / "stderr", "wb") as err, open(
            out_dir / "verdict", "wb"
        ) as verdict, open(out_dir / "info", "wb") as info:
            fd, fds = verdict.fileno(), (verdict.fileno(), info.fileno())
            if prefix:  # bwrap reports the host PID of the namespace's init, to be killed on timeout
                prefix = prefix[:1] + ["--info-fd", str(info.fileno())] + prefix[1:]
            argv = prefix + [str(python), "-I", "-B", f"{inner}/harness.py", f"{inner}/solution.py", f"{inner}/tests.py"]
            argv += [str(fd), str(memory), str(cpu), str(nproc), str(fsize), host_dir.name]
            started = time.monotonic()
            try:
                returncode, timed_out = _supervise(argv, nonce, timeout_s, out, err, fds, cwd, env, extra, out_dir / "info")
            except OSError as exc:  # e.g. bwrap removed since the check: the sandbox's failure, not the code's
                return SandboxResult(False, "error", "", str(exc), mechanism, detail=f"the sandbox did not start: {exc}")
            duration = time.monotonic() - started
        stdout, stderr = _read(out_dir / "stdout"), _read(out_dir / "stderr")
        verdicts = _read(out_dir / "verdict").splitlines()
    finally:
        _remove(out_dir)
    status, detail = _classify(verdicts, nonce, returncode, timed_out, timeout_s, stderr)
    return SandboxResult(
        status == "passed", status, stdout, stderr, mechanism, detail=detail, duration_s=round(duration, 3),
        returncode=returncode, run_id=host_dir.name,
    )


def _supervise(argv, nonce, timeout_s, out, err, fds, cwd, env, extra, info: Path) -> tuple[int | None, bool]:
    """Start the sandbox in its own process group; past the wall clock, kill the namespace and the group.

    Killing bwrap alone would leave the namespace's init to die later, orphaned: instead its init is
    killed first (taking every process of the PID namespace with it) and bwrap, which reaps it, exits.
    """
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=out, stderr=err, pass_fds=fds, cwd=cwd, env=env,
        start_new_session=True, **extra,
    )
    try:
        proc.stdin.write((nonce + "\n").encode())
        proc.stdin.close()
    except OSError:  # it died before reading: the verdict file says why
        pass
    try:
        return proc.wait(timeout=timeout_s), False
    except subprocess.TimeoutExpired:
        init = _namespace_init(info)
        if init:
            _kill(init)
            try:
                return proc.wait(timeout=5), True
            except subprocess.TimeoutExpired:
                pass
        _kill_group(proc.pid)
        return proc.wait(), True
    finally:
        _kill_group(proc.pid)  # a child still in the group after the leader left


def _namespace_init(info: Path) -> int | None:
    try:
        return int(json.loads(info.read_text())["child-pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _classify(verdicts, nonce, returncode, timed_out, timeout_s, stderr) -> tuple[str, str]:
    words = [line.split(" ", 1)[1] for line in verdicts if line.startswith(nonce + " ")]
    if timed_out:
        return "timeout", f"still running after {timeout_s:g} s: killed, with every process it started"
    if "started" not in words:
        tail = (stderr.strip().splitlines() or ["no output"])[-1]
        return "error", f"the sandbox did not start (exit code {returncode}): {tail}"
    final = words[-1]
    if final == "passed" and returncode == 0:
        return "passed", ""
    if final == "memory":
        return "memory", "MemoryError: past the memory limit"
    if final.startswith("failed"):
        return "failed", final.removeprefix("failed ").strip()
    signum = -returncode if returncode is not None and returncode < 0 else (returncode or 0) - 128
    if signum == signal.SIGXCPU or signum == signal.SIGKILL:
        return "timeout", f"killed by {signal.Signals(signum).name}: past the CPU-time limit"
    if 0 < signum < 65:
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        return "failed", f"killed by {name} before the tests finished"
    return "failed", f"exited with code {returncode} before the tests finished"


def _read(path: Path) -> str:
    with open(path, "rb") as f:
        data = f.read(MAX_OUTPUT_CHARS + 1)
    text = data[:MAX_OUTPUT_CHARS].decode("utf-8", errors="replace")
    return text + "\n[... output truncated]" if len(data) > MAX_OUTPUT_CHARS else text


def _remove(path: Path) -> None:
    """rmtree that also gets past directories the code made unreadable (unsafe mode)."""

    def retry(func, target, _exc):
        try:
            os.chmod(os.path.dirname(target), 0o700)
            func(target)
        except OSError:
            pass

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=retry)
    else:
        shutil.rmtree(path, onerror=retry)
