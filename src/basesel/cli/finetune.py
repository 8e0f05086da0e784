"""`basesel finetune`: training data from the baseline's failures -> a LoRA adapter -> exports -> the
re-evaluation on the held-out scenarios. Thin: the work is in basesel.finetune (imported when it runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .options import JsonOpt

Opt = typer.Option


def finetune(
    from_run: Annotated[Optional[Path], Opt("--from-run", help="A finished `basesel baseline` run: its model, rubric, judge, system prompt, sampling and held-out scenarios.")] = None,
    data: Annotated[Optional[Path], Opt("--data", help="Your own chat JSONL ({\"messages\": [...]} a line, ending with an assistant turn).")] = None,
    val_data: Annotated[Optional[Path], Opt("--val-data", help="A validation JSONL of your own (default: split off --data / the teacher data).")] = None,
    teacher: Annotated[Optional[str], Opt("--teacher", help="Generate data: this model answers new scenarios from the run's taxonomy; only answers the rubric and judge pass are kept.")] = None,
    teacher_base_url: Annotated[Optional[str], Opt("--teacher-base-url", help="Server URL for the teacher.")] = None,
    teacher_option: Annotated[Optional[list[str]], Opt("--teacher-option", help="Backend option key=value for the teacher (repeatable).")] = None,
    teacher_tries: Annotated[Optional[int], Opt("--teacher-tries", min=1, max=20, help="Answers per scenario until one passes (rejection sampling; default 3).")] = None,
    teacher_n: Annotated[Optional[int], Opt("--teacher-n", min=1, help="New scenarios to draw (default 200).")] = None,
    taxonomy: Annotated[Optional[Path], Opt("--taxonomy", help="Taxonomy for --teacher (default: the baseline's).")] = None,
    base: Annotated[Optional[str], Opt("--base", help="Weights to train (default: the baselined model): embedded, a GGUF, an HF repo id, a local folder, an Ollama tag the catalog maps.")] = None,
    engine: Annotated[str, Opt("--engine", help="auto (unsloth when CUDA and unsloth are present, else peft) | unsloth (QLoRA, CUDA) | peft (transformers + PEFT, CPU or GPU).")] = "auto",
    config: Annotated[Optional[Path], Opt("--config", help="Hyper-parameter YAML (defaults: configs/finetune.yaml; a partial file keeps the rest).")] = None,
    max_steps: Annotated[Optional[int], Opt("--max-steps", min=1, help="Stop after this many optimizer steps (overrides --epochs).")] = None,
    epochs: Annotated[Optional[float], Opt("--epochs", min=0.01, help="Passes over the training data (default 3).")] = None,
    lr: Annotated[Optional[float], Opt("--lr", min=0.0, help="Learning rate (default 2e-4).")] = None,
    lora_r: Annotated[Optional[int], Opt("--lora-r", min=1, help="LoRA rank (default 16).")] = None,
    max_length: Annotated[Optional[int], Opt("--max-length", min=16, help="Tokens per conversation (default 1024).")] = None,
    eval_steps: Annotated[Optional[int], Opt("--eval-steps", min=1, help="Validate and checkpoint every N steps (default 20).")] = None,
    seed: Annotated[Optional[int], Opt("--seed", help="Seed for the split, data order and LoRA init (default 0).")] = None,
    out: Annotated[Path, Opt("--out", help="Fine-tune run directory; running the same command again resumes it.")] = Path("runs/finetune"),
    merge: Annotated[bool, Opt("--merge", help="Also write a merged 16-bit model (never merged into a 4-bit base).")] = False,
    no_eval: Annotated[bool, Opt("--no-eval", help="Skip the re-evaluation on the held-out scenarios.")] = False,
    eval_model: Annotated[Optional[str], Opt("--eval-model", help="Spec of the served fine-tuned model to re-evaluate (default: the base + -o lora= for GGUF bases).")] = None,
    eval_base_url: Annotated[Optional[str], Opt("--eval-base-url", help="Server URL for --eval-model.")] = None,
    judge: Annotated[Optional[str], Opt("--judge", help="Judge for teacher grading and re-evaluation (default: the baseline's).")] = None,
    judge_base_url: Annotated[Optional[str], Opt("--judge-base-url", help="Server URL for --judge.")] = None,
    judge_option: Annotated[Optional[list[str]], Opt("--judge-option", help="Backend option key=value for the judge (repeatable).")] = None,
    rubric: Annotated[Optional[Path], Opt("--rubric", help="Rubric (default: the baseline's).")] = None,
    system_prompt: Annotated[Optional[str], Opt("--system-prompt", help="System prompt text or .txt/.md file (default: the baseline's).")] = None,
    temperature: Annotated[Optional[float], Opt("--temperature", min=0.0, help="Re-evaluation sampling temperature (default: the baseline's).")] = None,
    max_tokens: Annotated[Optional[int], Opt("--max-tokens", min=1, help="Re-evaluation / teacher token limit (default: the baseline's).")] = None,
    doc: Annotated[Optional[Path], Opt("--doc", help="Decision document to append \"Fine-tune results\" to (default: the baseline's).")] = None,
    dedup_threshold: Annotated[float, Opt("--dedup-threshold", min=0.0, max=100.0, help="Similarity (0-100) at which a training item counts as a near-duplicate of a held-out scenario.")] = 90.0,
    no_progress: Annotated[bool, Opt("--no-progress", help="No progress bar (logs only).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune the baselined model on data aimed at its failures, export the adapter, and re-evaluate it.

    Data comes from --data (your chat JSONL, validated) or --teacher (generated, graded by the baseline's
    rubric and judge, only passing answers kept); it never overlaps the held-out baseline scenarios.
    Outputs in --out: adapter/ (PEFT + adapter.gguf + Modelfile + basesel-adapter.json), training.json,
    loss-curve.png, eval/ (the re-evaluation run). Killing it and running the same command resumes.
    """
    from ..finetune.config import load_config
    from ..finetune.pipeline import FinetuneRequest, run_finetune
    from ..finetune.reeval import EvalOverrides
    from .common import parse_options, print_json, stderr_console

    cfg = load_config(config, max_steps=max_steps, epochs=epochs, lr=lr, lora_r=lora_r, max_length=max_length, seed=seed, teacher_tries=teacher_tries, teacher_n=teacher_n, eval_steps=eval_steps)
    console = stderr_console()
    request = FinetuneRequest(
        out=out, config=cfg, from_run=from_run, data=data, val_data=val_data, teacher=teacher, teacher_base_url=teacher_base_url,
        teacher_options=parse_options(teacher_option, "--teacher-option"), base=base, taxonomy=taxonomy, engine=engine, merge=merge,
        no_eval=no_eval, eval_model=eval_model, eval_base_url=eval_base_url, doc=doc, dedup_threshold=dedup_threshold,
        overrides=EvalOverrides(judge=judge, judge_base_url=judge_base_url, judge_options=parse_options(judge_option, "--judge-option"), rubric=rubric, system_prompt=system_prompt, temperature=temperature, max_tokens=max_tokens, seed=seed),
        show_progress=not no_progress,
    )
    _quiet_libraries()
    try:
        record = run_finetune(request, log=lambda line: console.print(line, markup=False, highlight=False))
    except KeyboardInterrupt:
        console.print(f"\nInterrupted. Checkpoints are in {out / 'checkpoints'}; run the same command again to resume from the last one.")
        raise typer.Exit(130) from None
    if as_json:
        print_json(record)
        return
    t = record["training"]
    console.print(
        f"\ntrained {t['steps']} steps ({record['engine']['name']}): train loss {t['initial']['train_loss']:.3f} -> {t['final']['train_loss']:.3f}, "
        f"val loss {t['initial']['val_loss']:.3f} -> {t['final']['val_loss']:.3f} (best {t['best_val_loss']}); {t['tokens_per_s']} tokens/s"
    )
    console.print(f"adapter: {out / 'adapter'}   record: {out / 'training.json'}")
    if record["exports"]["basesel_spec"]:
        console.print(f"serve it in basesel: {record['exports']['basesel_spec']}")
    ev = record.get("evaluation")
    if ev and ev.get("run_dir"):
        console.print(f"re-evaluation: pass rate {ev['pass_rate']:.0%} ({ev['decision']}), run {ev['run_dir']}; decision document {ev['doc']}")


def _quiet_libraries() -> None:
    """transformers/peft warnings and tqdm bars would bury the progress line; errors still surface."""
    import os
    import warnings

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")  # transformers' GGUF dequantization bar
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    warnings.filterwarnings("ignore", module="peft")
    warnings.filterwarnings("ignore", module="transformers")
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass


def register(app: typer.Typer) -> None:
    app.command("finetune")(finetune)
