"""Speed targets of `basesel finetune` (issue 12), measured on this machine. Prints a markdown report.

    .venv/bin/python benchmarks/bench_finetune.py [--pairs 3] [--steps 8]

1. Training tokens/s of `basesel finetune --engine peft` vs a minimal hand-written transformers + PEFT loop
   on the same data, steps and settings (embedded SmolLM2-135M dequantized from its GGUF, fp32 on CPU,
   LoRA r16 on every projection, batch 4, max_length 256): median over back-to-back pairs of the ratio,
   each side a fresh process. basesel's figure is the one it records in training.json (its validation
   and checkpoint time kept apart); the loop's is tokens / time in its loop. Target >= 0.9x.
2. Peak memory (max RSS) of each side.
3. `basesel finetune --help` start-up (median of 7; target < 0.3 s), beside `basesel --help`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
BASESEL = [sys.executable, "-m", "basesel"]
SETTINGS = {"batch_size": 4, "grad_accum": 1, "learning_rate": 2.0e-4, "max_length": 256, "lr_scheduler": "cosine", "warmup_ratio": 0.0, "seed": 0}

TOPICS = ["billing", "login", "storage", "outage", "export", "plan"]
ASKS = ["I was charged twice this month", "I cannot log in after a password reset", "My storage quota looks wrong",
        "The dashboard is down for me", "How do I export my files?", "Can I switch to the yearly plan?"]


def make_data(path: Path, n: int) -> None:
    rng = random.Random(0)
    rows = []
    for i in range(n):
        k = i % len(ASKS)
        answer = " ".join(rng.choice(["Open Settings", "then Billing", "and pick the invoice;", "we will check it", "within a day.", "Reply with the error text", "if it persists."]) for _ in range(12 + rng.randrange(12)))
        rows.append({"messages": [{"role": "system", "content": "You are the Acme Cloud support assistant."},
                                  {"role": "user", "content": f"{ASKS[k]} (ticket {i}, {TOPICS[k]})"},
                                  {"role": "assistant", "content": answer}]})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = str(SRC) + os.pathsep + out.get("PYTHONPATH", "")
    out["HF_HUB_OFFLINE"] = "1"
    return out


def run_basesel(data: Path, steps: int, work: Path) -> dict:
    cfg = work / "bench.yaml"
    cfg.write_text(json.dumps({"train": SETTINGS, "lora": {"r": 16, "alpha": 32, "dropout": 0.0}}))
    out = work / f"ft-{time.time_ns()}"
    cmd = BASESEL + ["finetune", "--base", "embedded", "--data", str(data), "--engine", "peft", "--config", str(cfg), "--max-steps", str(steps),
                     "--eval-steps", str(steps), "--out", str(out), "--no-eval", "--no-progress"]
    proc = subprocess.run(cmd, env=env(), capture_output=True, text=True, cwd=work)
    if proc.returncode != 0:
        raise SystemExit(f"basesel finetune failed:\n{proc.stderr[-3000:]}")
    t = json.loads((out / "training.json").read_text())["training"]
    return {"tokens_per_s": t["tokens_per_s"], "tokens": t["tokens_this_session"], "peak_rss_mib": t["peak_memory"]["max_rss_mib"], "steps": t["steps"]}


def run_hand(data: Path, steps: int, work: Path) -> dict:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--hand-loop", str(data), "--steps", str(steps)], env=env(), capture_output=True, text=True, cwd=work)
    if proc.returncode != 0:
        raise SystemExit(f"hand-written loop failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def hand_loop(data: Path, steps: int) -> None:
    """The minimal loop: same base, same LoRA, same tokenized data (basesel's masking), AdamW + cosine."""
    import resource

    import torch
    from peft import LoraConfig, get_peft_model
    from torch.utils.data import DataLoader
    from transformers import AutoModelForCausalLM, AutoTokenizer, get_scheduler

    from basesel.finetune.data import load_chat_jsonl
    from basesel.finetune.engines.trainer import PadCollator
    from basesel.finetune.tokenize import encode, ensure_pad_token
    from basesel.models.gguf import embedded_model_path

    torch.manual_seed(SETTINGS["seed"])
    path = embedded_model_path()
    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    ensure_pad_token(tok)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], task_type="CAUSAL_LM"))
    items = [encode(tok, e, SETTINGS["max_length"]) for e in load_chat_jsonl(data)]
    items = [{k: i[k] for k in ("input_ids", "attention_mask", "labels")} for i in items]
    loader = DataLoader(items, batch_size=SETTINGS["batch_size"], shuffle=True, collate_fn=PadCollator(tok.pad_token_id), generator=torch.Generator().manual_seed(0))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=SETTINGS["learning_rate"])
    sched = get_scheduler("cosine", opt, num_warmup_steps=0, num_training_steps=steps)
    model.train()
    tokens, done = 0, 0
    start = time.perf_counter()
    while done < steps:
        for batch in loader:
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            tokens += int(batch["attention_mask"].sum())
            done += 1
            if done == steps:
                break
    wall = time.perf_counter() - start
    print(json.dumps({"tokens_per_s": round(tokens / wall, 1), "tokens": tokens, "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), "steps": done}))


def help_time(args: list[str], runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(BASESEL + args, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--items", type=int, default=48)
    parser.add_argument("--hand-loop", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hand_loop is not None:
        return hand_loop(args.hand_loop, args.steps)
    with tempfile.TemporaryDirectory(prefix="bench-ft-") as tmp:
        work = Path(tmp)
        os.environ["BASESEL_CACHE_DIR"] = str(work / "cache")
        data = work / "data.jsonl"
        make_data(data, args.items)
        pairs = []
        for i in range(args.pairs):
            # alternate which side runs first: drift on a shared machine hits both equally
            first, second = (run_basesel, run_hand) if i % 2 == 0 else (run_hand, run_basesel)
            a = first(data, args.steps, work)
            b = second(data, args.steps, work)
            ours, theirs = (a, b) if first is run_basesel else (b, a)
            pairs.append((ours, theirs))
            print(f"pair {i + 1}: basesel {ours['tokens_per_s']} tok/s, hand loop {theirs['tokens_per_s']} tok/s", file=sys.stderr)
        ratios = [o["tokens_per_s"] / t["tokens_per_s"] for o, t in pairs]
        help_ft = help_time(["finetune", "--help"])
        help_root = help_time(["--help"])
    print("## `basesel finetune` (issue 12)\n")
    print(f"Machine: {os.cpu_count()} CPUs, no GPU; torch {__import__('torch').__version__}, transformers {__import__('transformers').__version__}, peft {__import__('peft').__version__}. "
          f"Embedded SmolLM2-135M-Instruct dequantized from Q4_1 to fp32, LoRA r16 alpha32 on q/k/v/o/gate/up/down, batch {SETTINGS['batch_size']}, "
          f"max_length {SETTINGS['max_length']}, {args.steps} optimizer steps on {args.items} synthetic support conversations, {args.pairs} back-to-back pairs (order alternated).\n")
    print("| pair | basesel finetune tok/s | hand-written loop tok/s | ratio | basesel peak RSS MiB | loop peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for i, ((o, t), r) in enumerate(zip(pairs, ratios), start=1):
        print(f"| {i} | {o['tokens_per_s']} | {t['tokens_per_s']} | {r:.3f} | {o['peak_rss_mib']} | {t['peak_rss_mib']} |")
    print(f"\n**Median ratio {statistics.median(ratios):.3f}x** (target >= 0.9x). Peak memory (max RSS, whole process): basesel {statistics.median(o['peak_rss_mib'] for o, _ in pairs)} MiB, "
          f"hand loop {statistics.median(t['peak_rss_mib'] for _, t in pairs)} MiB.\n")
    print(f"`basesel finetune --help`: {help_ft:.3f} s median of 7 (target < 0.3 s); `basesel --help`: {help_root:.3f} s.")


if __name__ == "__main__":
    main()
