"""Speed targets of `basesel benchmark` (issue 13), both sides measured in the same run. Prints markdown.

    .venv/bin/python benchmarks/bench_benchmark.py [--skip-llama] [--runs 3]

1. 1,000 classification items against an OpenAI-compatible server on 127.0.0.1 answering after 200 ms,
   concurrency 16, process start included: `basesel benchmark` (predictions, summary with bootstrap
   intervals, report.html) vs the bare official SDK making the same 1,000 calls
   (benchmarks/sdk_floor_benchmark_client.py). Target: basesel <= 1.15 x the SDK.
2. Classification on the embedded model with constrained decoding (the label-set JSON schema -> a
   llama.cpp grammar): items/s through basesel's runner vs llama-cpp-python called directly with the
   same messages and the same schema. Target: >= 0.9 x.
"""

from __future__ import annotations

import argparse
import asyncio
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
LABELS = ["billing", "shipping", "other"]


def write_items(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"t{i}", "input": f"Ticket {i}: a question about {LABELS[i % 3]} (order {i * 7919 % 100000}).", "label": LABELS[i % 3]}) + "\n")
    return path


def stats_of(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as resp:
        return json.load(resp)


def timed(cmd: list[str], env: dict[str, str], cwd: str) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, proc.returncode


def bench_loopback(workdir: Path, env: dict[str, str], runs: int, n: int = 1000, concurrency: int = 16) -> dict:
    """Alternating basesel / bare-SDK runs, each against its own fresh server (cold cache for basesel)."""
    from openai_stub_server import serve

    items = write_items(workdir / "tickets.jsonl", n)
    rows: dict[str, list[float]] = {"basesel": [], "sdk": []}
    calls: dict[str, list[int]] = {"basesel": [], "sdk": []}
    for i in range(runs):
        for side in (("basesel", "sdk") if i % 2 == 0 else ("sdk", "basesel")):
            server, _ = serve(0, delay=0.2)
            port = server.server_address[1]
            url = f"http://127.0.0.1:{port}/v1"
            try:
                if side == "basesel":
                    run_env = dict(env, BASESEL_CACHE_DIR=str(workdir / f"cache-{i}"))
                    cmd = BASESEL + ["benchmark", "--task-file", str(items), "--labels", ",".join(LABELS), "--model", "openai/stub", "--base-url", url,
                                     "--conditions", "zero-shot", "--concurrency", str(concurrency), "--out", f"runs/loop-{i}"]
                    seconds, rc = timed(cmd, run_env, str(workdir))
                else:
                    seconds, rc = timed([sys.executable, str(HERE / "sdk_floor_benchmark_client.py"), url, str(items), ",".join(LABELS), str(concurrency)], env, str(workdir))
                got = stats_of(port)["chat"]
            finally:
                server.shutdown()
                server.server_close()
            if rc != 0 or got < n:
                raise SystemExit(f"{side} run failed (exit {rc}, {got} calls of {n})")
            rows[side].append(seconds)
            calls[side].append(got)
    ratios = [b / s for b, s in zip(rows["basesel"], rows["sdk"])]
    return {"basesel_s": statistics.median(rows["basesel"]), "sdk_s": statistics.median(rows["sdk"]), "ratio": statistics.median(ratios),
            "runs": {k: [round(x, 2) for x in v] for k, v in rows.items()}, "ideal_s": n / concurrency * 0.2, "n": n}


# -- embedded model -----------------------------------------------------------------------------------
def _embedded_items(n: int):
    from basesel.bench.loading import load_task_data
    from basesel.bench.tasks import bundled_task

    data = load_task_data(bundled_task("banking77"), smoke=True)
    base = data.test + data.pool
    # distinct messages (so llama.cpp's prompt cache cannot replay one), from the fixture's texts
    for i in range(n):
        src = base[i % len(base)]
        src_row = dict(src.row, text=f"{src.row['text']} (case {i})")
        yield src, src_row


def llama_worker(mode: str, n: int) -> None:
    """One side in its own process; prints items/s as JSON."""
    from basesel.bench.evaluate import _user_text
    from basesel.bench.loading import Item, load_task_data
    from basesel.bench.prompts import build_messages, output_schema
    from basesel.bench.tasks import bundled_task

    data = load_task_data(bundled_task("banking77"), smoke=True)
    items = [Item(f"b{i}", row, "bench", label=src.label) for i, (src, row) in enumerate(_embedded_items(n))]
    schema = output_schema(data.task, data.labels)
    if mode == "direct":
        import llama_cpp

        from basesel.models.gguf import embedded_model_path

        llm = llama_cpp.Llama(model_path=str(embedded_model_path()), n_ctx=4096, n_threads=os.cpu_count(), verbose=False)

        def call(item) -> None:
            messages = [m.to_dict() for m in build_messages(data.task, _user_text(data, item.row), [])]
            out = llm.create_chat_completion(messages=messages, temperature=0.0, max_tokens=data.task.max_tokens, seed=0,
                                             response_format={"type": "json_object", "schema": schema})
            json.loads(out["choices"][0]["message"]["content"] or "{}")

        call(items[0])  # warm-up, as basesel's side gets one
        start = time.perf_counter()
        for item in items:
            call(item)
        print(json.dumps({"items_per_s": len(items) / (time.perf_counter() - start)}))
        return
    from basesel.bench.evaluate import Context, evaluate
    from basesel.models import create_model
    from basesel.run.cache import ResponseCache
    from basesel.run.executor import Executor
    from basesel.run.files import JsonlAppender

    model = create_model("embedded")
    executor = Executor(ResponseCache(Path(tempfile.mkdtemp()), enabled=False))
    ctx = Context(executor)

    out = JsonlAppender(Path(tempfile.mkdtemp()) / "predictions.jsonl")

    async def run() -> float:
        await evaluate(ctx, model, data, items[0], 0, [])  # warm-up
        start = time.perf_counter()
        for item in items:  # one at a time, as the single in-process llama.cpp worker runs them anyway
            record = await evaluate(ctx, model, data, item, 0, [])
            assert "error" not in record, record
            out.write({"task": "banking77", "model": "embedded", "condition": "zero-shot", **record})  # fsync'd, as the runner does
        return len(items) / (time.perf_counter() - start)

    print(json.dumps({"items_per_s": asyncio.run(run())}))


def bench_llama(n: int, rounds: int) -> dict:
    results: dict[str, list[float]] = {"direct": [], "basesel": []}
    for i in range(rounds):
        for mode in (("direct", "basesel") if i % 2 == 0 else ("basesel", "direct")):
            out = subprocess.run([sys.executable, __file__, "--llama-worker", mode, str(n)], capture_output=True, text=True, check=True)
            results[mode].append(json.loads(out.stdout.strip().splitlines()[-1])["items_per_s"])
    ratios = [b / d for b, d in zip(results["basesel"], results["direct"])]
    return {"direct": statistics.median(results["direct"]), "basesel": statistics.median(results["basesel"]), "ratio": statistics.median(ratios),
            "runs": {k: [round(x, 2) for x in v] for k, v in results.items()}, "n": n}


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--llama-worker":
        llama_worker(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-llama", action="store_true")
    parser.add_argument("--runs", type=int, default=3, help="alternating runs per side for the loopback measurement")
    parser.add_argument("--llama-items", type=int, default=40)
    parser.add_argument("--llama-rounds", type=int, default=4)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="basesel-bench13-"))
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    print(f"## `basesel benchmark` speed (issue 13)\n\nMachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n")
    print("| Measurement | Result | Target | Met |\n|---|---|---|---|")
    r = bench_loopback(workdir, env, args.runs)
    print(f"| {r['n']} classification items, 200 ms loopback server, concurrency 16, process start included: `basesel benchmark` vs the bare `openai` SDK making the same calls (median of {len(r['runs']['sdk'])} alternating runs each) | {r['basesel_s']:.2f} s vs {r['sdk_s']:.2f} s; median per-pair ratio {r['ratio']:.3f}x (ideal {r['ideal_s']:.1f} s) | <= 1.15x | {'yes' if r['ratio'] <= 1.15 else 'no'} |")
    if not args.skip_llama:
        t = bench_llama(args.llama_items, args.llama_rounds)
        print(f"| embedded model, banking77-style classification with the label-set grammar, {t['n']} items a run: items/s through basesel's runner vs llama-cpp-python direct ({len(t['runs']['direct'])} alternating rounds) | {t['basesel']:.2f} vs {t['direct']:.2f} items/s; median per-round ratio {t['ratio']:.3f}x | >= 0.9x | {'yes' if t['ratio'] >= 0.9 else 'no'} |")
        print(f"\nItems/s per run: basesel {t['runs']['basesel']}; direct {t['runs']['direct']}.")
    print(f"\nLoopback runs (s): basesel {r['runs']['basesel']}; bare SDK {r['runs']['sdk']}.")


if __name__ == "__main__":
    main()
