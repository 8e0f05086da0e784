"""The large-run targets of issue 15, measured end to end. Prints a markdown report.

    .venv/bin/python benchmarks/bench_scale.py [--n 5000] [--concurrency 64] [--delay 0.05] [--rounds 3]

`basesel baseline` on N scenarios x (answer + judge), 2N calls, against the OpenAI-compatible stub
server on 127.0.0.1 (every call answered after --delay), `--concurrency C`, process start included,
and in the same rounds the bare official SDK making the same 2N calls (benchmarks/sdk_floor_client.py
with a calls file holding basesel's exact requests; the server's digest of the calls each client made
shows they are the same). Each round runs both, in alternating order, each against a fresh server and
basesel with an empty cache. Per client: wall time, CPU time (user + system, from wait4), peak RSS,
and for basesel the RSS when 1,000 and when N scenarios were assessed (sampled every 0.1 s). Then
`basesel report` on the big run (summary + decision document from the run directory) is timed.

Targets: basesel's median wall within 1.15x of the SDK's; RSS < 300 MB at the end and flat between
1,000 and N assessed scenarios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
BASESEL = [sys.executable, "-m", "basesel"]
DOMAIN = "support"


def stats_of(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as resp:
        return json.load(resp)


def write_inputs(scenarios_file: Path, calls_file: Path, n: int, seed: int = 0) -> None:
    """The run's N scenarios and basesel's own requests for them, built with basesel's code (untimed, here).

    The scenarios are the support domain's generated ones, each made distinct with a ticket number (at
    N in the thousands the templates repeat, and repeated inputs would be answered from the cache): a
    user's own JSONL, run with `--scenarios FILE --domain support`. The calls: the answer request under
    the domain's system prompt, then the judge prompt and verdict schema, with the facts of the
    deterministic checks on the answer the stub server will give. The verdict's response text is a
    placeholder the floor client fills with the answer it receives."""
    from floor_common import ANSWER_PLACEHOLDER
    from openai_stub_server import plain_reply

    from basesel.domains import domain_paths
    from basesel.rubric.judge import build_judge_messages, verdict_schema
    from basesel.rubric.scoring import applies, run_checks
    from basesel.run.baseline import prepare
    from basesel.run.config import RunConfig
    from basesel.scenarios import load_taxonomy

    rubric_path, taxonomy_path = domain_paths(DOMAIN)
    taxonomy = load_taxonomy(taxonomy_path)
    # the taxonomy yields a few hundred distinct inputs (repeats are dropped): cycle them, each made distinct
    generated = prepare(RunConfig(model="openai/stub", rubric=rubric_path, taxonomy=taxonomy_path, n=n, seed=seed)).scenarios
    with scenarios_file.open("w", encoding="utf-8") as fh:
        for i in range(n):
            s = generated[i % len(generated)]
            fh.write(json.dumps({**s.to_dict(), "id": f"{s.id}-{i}", "input": f"{s.input} (ticket #{10000 + i})"}) + "\n")
    p = prepare(RunConfig(model="openai/stub", rubric=rubric_path, scenarios=scenarios_file, system_prompt=taxonomy.system_prompt, seed=seed))
    defaults = taxonomy.defaults
    calls = []
    for s in p.scenarios:
        messages = ([{"role": "system", "content": p.system_prompt}] if p.system_prompt else []) + [{"role": "user", "content": s.input}]
        answer = plain_reply(s.input)
        _, facts = run_checks(p.rubric, answer, s.input, s.tags)
        judged = [c for c in p.rubric.judged_criteria if applies(c, s.input, s.tags)]
        verdict_messages = build_judge_messages(p.rubric, judged, s.input, ANSWER_PLACEHOLDER, p.system_prompt, facts)
        calls.append({
            "answer": {"messages": messages, "max_tokens": defaults.max_tokens or 1024, "temperature": defaults.temperature if defaults.temperature is not None else 0.7, "seed": seed},
            "verdict": {"messages": verdict_messages, "schema": verdict_schema(judged), "max_tokens": 1024, "temperature": 0.0, "seed": seed},
        })
    calls_file.write_text(json.dumps(calls), encoding="utf-8")


def count_lines(path: Path, state: dict) -> int:
    """Lines appended to `path` so far, reading only what is new since the last call."""
    try:
        with path.open("rb") as fh:
            fh.seek(state.get("offset", 0))
            data = fh.read()
    except FileNotFoundError:
        return 0
    state["offset"] = state.get("offset", 0) + len(data)
    state["lines"] = state.get("lines", 0) + data.count(b"\n")
    return state["lines"]


def run_client(cmd: list[str], env: dict, cwd: str, watch: Path | None = None, marks: tuple[int, ...] = ()) -> dict:
    """Run one client to the end: wall time (process start included), CPU time and peak RSS (wait4),
    and, when `watch` (a JSONL file the client appends to) is given, the RSS first seen at each mark."""
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ps = psutil.Process(proc.pid)
    rss_at: dict[int, float] = {}
    samples: list[tuple[int, float]] = []
    state: dict = {}
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)  # reaps it with its rusage (poll() would not keep that)
        if pid:
            break
        try:
            rss = ps.memory_info().rss / 2**20
        except psutil.Error:
            continue
        if watch is not None:
            done = count_lines(watch, state)
            samples.append((done, rss))
            for mark in marks:
                if mark not in rss_at and done >= mark:
                    rss_at[mark] = rss
        time.sleep(0.1)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024, "rc": proc.returncode,
            "rss_at": rss_at, "last_rss_mb": samples[-1][1] if samples else None, "stderr": stderr[-2000:]}


def one_round(order: tuple[str, ...], args, env: dict, workdir: Path, round_no: int) -> dict:
    from openai_stub_server import serve

    out = {}
    for side in order:
        server, _ = serve(0, delay=args.delay)
        port = server.server_address[1]
        url = f"http://127.0.0.1:{port}/v1"
        try:
            started = time.time()
            if side in ("sdk", "sdk-post"):
                post = ["--post"] if side == "sdk-post" else []
                row = run_client([sys.executable, str(HERE / "sdk_floor_client.py"), url, "--calls", str(workdir / "calls.json"), "--concurrency", str(args.concurrency), *post], env, str(workdir))
            else:
                run_dir = workdir / f"runs/scale-{round_no}"
                run_env = dict(env, BASESEL_CACHE_DIR=str(workdir / f"cache-{round_no}"))
                cmd = BASESEL + ["baseline", "--model", "openai/stub", "--base-url", url, "--judge", "openai/stub", "--judge-base-url", url,
                                 "--domain", DOMAIN, "--scenarios", str(workdir / "scenarios.jsonl"), "--concurrency", str(args.concurrency), "--out", str(run_dir), "--doc", str(workdir / "scale.md")]
                row = run_client(cmd, run_env, str(workdir), watch=run_dir / "assessments.jsonl", marks=(1000, args.n))
                row["run_dir"] = run_dir
            stats = stats_of(port)
        finally:
            server.shutdown()
            server.server_close()
        row |= {"calls": stats["chat"], "digest": stats["calls_digest"], "max_active": stats["max_active"],
                "requests_s": (stats["last_finish"] or 0) - (stats["first_arrival"] or 0), "to_first_s": (stats["first_arrival"] or started) - started}
        ok_rc = (0,) if side != "basesel" else (0, 3, 4, 5, 7, 8)  # a decision (7: the stub judges itself)
        if row["rc"] not in ok_rc or row["calls"] != 2 * args.n:
            raise SystemExit(f"{side} failed: exit {row['rc']}, {row['calls']} calls\n{row['stderr']}")
        out[side] = row
    if len({row["digest"] for row in out.values()}) != 1:
        raise SystemExit("the floor clients and basesel did not make the same calls (server digests differ)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--post-floor", action="store_true", help="also time the floor client sending through client.post, as basesel does")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="basesel-scale-"))
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    write_inputs(workdir / "scenarios.jsonl", workdir / "calls.json", args.n)

    sides = ("sdk", "basesel") + (("sdk-post",) if args.post_floor else ())
    rounds = [one_round(sides if i % 2 == 0 else tuple(reversed(sides)), args, env, workdir, i) for i in range(args.rounds)]
    report_times = []
    for _ in range(3):
        start = time.perf_counter()
        rc = subprocess.run(BASESEL + ["report", str(rounds[-1]["basesel"]["run_dir"]), "--doc", str(workdir / "report.md")], env=env, cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        report_times.append(time.perf_counter() - start)
        if rc != 0:
            raise SystemExit(f"basesel report failed (exit {rc})")

    calls = 2 * args.n
    med = lambda side, key: statistics.median(r[side][key] for r in rounds)  # noqa: E731
    ratios = [r["basesel"]["wall_s"] / r["sdk"]["wall_s"] for r in rounds]
    b_wall, s_wall = med("basesel", "wall_s"), med("sdk", "wall_s")
    ratio = b_wall / s_wall
    rss_1k = statistics.median(r["basesel"]["rss_at"].get(1000, float("nan")) for r in rounds)
    rss_n = statistics.median(r["basesel"]["rss_at"].get(args.n, float("nan")) for r in rounds)
    peak = max(r["basesel"]["peak_rss_mb"] for r in rounds)
    ideal = calls / args.concurrency * args.delay
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
          f"{args.rounds} rounds, each side against a fresh server.\n")
    print("| Measurement | basesel | bare SDK | Target | Met |\n|---|---|---|---|---|")
    print(f"| {args.n:,} scenarios, {calls:,} calls, {args.delay * 1000:.0f} ms server, concurrency {args.concurrency}: wall, process start included (median) "
          f"| {b_wall:.2f} s | {s_wall:.2f} s | basesel <= 1.15x SDK (ideal {ideal:.1f} s) | {'yes' if ratio <= 1.15 else 'no'} ({ratio:.3f}x) |")
    print(f"| CPU time (user + system), median; per call | {med('basesel', 'cpu_s'):.2f} s; {1000 * med('basesel', 'cpu_s') / calls:.2f} ms "
          f"| {med('sdk', 'cpu_s'):.2f} s; {1000 * med('sdk', 'cpu_s') / calls:.2f} ms | - | - |")
    print(f"| peak RSS (largest of the rounds) | {peak:.0f} MB | {max(r['sdk']['peak_rss_mb'] for r in rounds):.0f} MB | < 300 MB | {'yes' if peak < 300 else 'no'} |")
    print(f"| RSS at 1,000 / at {args.n:,} scenarios assessed (median) | {rss_1k:.0f} / {rss_n:.0f} MB ({rss_n - rss_1k:+.1f} MB) | - | no growth | "
          f"{'yes' if rss_n - rss_1k <= 5 else 'no'} |")
    print(f"| requests phase (server: first request to last answer), median | {med('basesel', 'requests_s'):.2f} s | {med('sdk', 'requests_s'):.2f} s | - | - |")
    print(f"| start to first request, median | {med('basesel', 'to_first_s'):.2f} s | {med('sdk', 'to_first_s'):.2f} s | - | - |")
    print(f"| `basesel report` on the {args.n:,}-scenario run (summary + document; median of 3) | {statistics.median(report_times):.2f} s | - | seconds | - |")
    if args.post_floor:
        p_wall = med("sdk-post", "wall_s")
        print(f"| the same calls through the SDK's `client.post` (as basesel sends them): wall, CPU per call (median) | - | {p_wall:.2f} s; "
              f"{1000 * med('sdk-post', 'cpu_s') / calls:.2f} ms | basesel / this: {b_wall / p_wall:.3f}x | - |")
    print(f"\nPer round (basesel / SDK wall, s): " + "; ".join(f"{r['basesel']['wall_s']:.2f} / {r['sdk']['wall_s']:.2f} ({q:.3f}x)" for r, q in zip(rounds, ratios))
          + f". Server's digest of the calls made, equal for both clients: {rounds[0]['sdk']['digest']}.")


if __name__ == "__main__":
    main()
