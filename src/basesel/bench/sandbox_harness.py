"""Runs INSIDE the code sandbox, under the sandbox's own interpreter (stdlib only, never imports basesel).

argv: solution path, tests path, verdict fd, memory bytes, CPU seconds, process limit (0: none),
file-size bytes, run id (unused here: it marks every process of the run). The nonce arrives on stdin. The limits are set here, inside the namespaces, because
RLIMIT_NPROC set before the user namespace exists would count every process of the calling user.
Verdict lines ("<nonce> started|passed|memory|failed <why>") go to a file descriptor the caller
opened; only this process writes them, never a child the solution forked.
"""

from __future__ import annotations

import os
import resource
import sys
import traceback


def _limit(which: int, soft: int, hard: int | None = None) -> None:
    resource.setrlimit(which, (soft, soft if hard is None else hard))  # hard cap: the code cannot raise it


def main() -> None:
    solution_path, tests_path, verdict_fd = sys.argv[1], sys.argv[2], int(sys.argv[3])
    memory, cpu, nproc, fsize = (int(a) for a in sys.argv[4:8])
    nonce = sys.stdin.readline().strip()
    sys.stdin.close()
    with open(solution_path, encoding="utf-8") as f:
        solution = f.read()
    with open(tests_path, encoding="utf-8") as f:
        tests = f.read()
    verdict = os.fdopen(verdict_fd, "w", buffering=1)
    me = os.getpid()

    def say(word: str) -> None:
        if os.getpid() == me:  # a forked child runs this code too; it has no say
            verdict.write(f"{nonce} {word}\n")
            verdict.flush()

    _limit(resource.RLIMIT_AS, memory)
    _limit(resource.RLIMIT_CPU, cpu, cpu + 1)  # SIGXCPU first, SIGKILL a second later
    _limit(resource.RLIMIT_FSIZE, fsize)
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_NOFILE, 64)
    if nproc:
        _limit(resource.RLIMIT_NPROC, nproc)
    say("started")
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    code = 1
    try:
        exec(compile(solution, "solution.py", "exec"), namespace)
        exec(compile(tests, "tests.py", "exec"), namespace)
    except MemoryError:
        namespace.clear()
        say("memory")
    except SystemExit as exc:
        say(f"failed SystemExit({exc.code!r}) before the tests finished")
    except BaseException as exc:  # noqa: BLE001 - any failure of untrusted code is a failed solution
        try:
            traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next)  # not the harness frame
        except BaseException:  # noqa: BLE001 - e.g. no memory left to format it
            pass
        message = " ".join(str(exc).split())[:200]
        say(f"failed {type(exc).__name__}: {message}" if message else f"failed {type(exc).__name__}")
    else:
        say("passed")
        code = 0
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass
    os._exit(code if os.getpid() == me else 1)  # skip the solution's atexit hooks and threads


if __name__ == "__main__":
    main()
