"""`basesel finetune` end to end: data -> train -> export -> re-evaluate, in one run directory.

runs/ft/
  train.jsonl, val.jsonl, data-report.json   the data and what was checked, kept and dropped
  teacher/try-K/                             teacher answers graded by the baseline pipeline (--teacher)
  checkpoints/                               Trainer checkpoints (resume point), the best one kept
  adapter/                                   PEFT adapter, adapter.gguf, basesel-adapter.json, Modelfile
  merged/                                    --merge: the 16-bit merged model
  training.json, loss-curve.png              the record
  eval/                                      the re-evaluation run (a baseline run directory)
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import UsageError
from .config import FinetuneConfig
from .data import TRAIN_FILE, VAL_FILE, Example
from .reeval import EvalOverrides


@dataclass
class FinetuneRequest:
    out: Path
    config: FinetuneConfig
    from_run: Path | None = None
    data: Path | None = None
    val_data: Path | None = None
    teacher: str | None = None
    teacher_base_url: str | None = None
    teacher_options: dict[str, Any] = field(default_factory=dict)
    base: str | None = None
    taxonomy: Path | None = None
    engine: str = "auto"
    merge: bool = False
    no_eval: bool = False
    eval_model: str | None = None
    eval_base_url: str | None = None
    doc: Path | None = None
    dedup_threshold: float = 90.0
    overrides: EvalOverrides = field(default_factory=EvalOverrides)
    show_progress: bool = True


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for name in ("basesel", "torch", "transformers", "peft", "trl", "accelerate", "gguf", "llama-cpp-python", "unsloth", "bitsandbytes"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _hardware() -> dict[str, Any]:
    import os

    out: dict[str, Any] = {"platform": platform.platform(), "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count()}
    try:
        import torch

        out["cuda"] = torch.cuda.is_available()
        if out["cuda"]:
            out["gpu"] = torch.cuda.get_device_name(0)
        out["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return out


def _fingerprint(req: FinetuneRequest) -> dict[str, Any]:
    """What decides the training data: equal fingerprints let a re-run reuse train/val (and resume)."""
    from .data import file_sha256

    return {
        "data": file_sha256(req.data) if req.data else None,
        "val_data": file_sha256(req.val_data) if req.val_data else None,
        "teacher": req.teacher,
        "teacher_settings": req.config.teacher.model_dump() if req.teacher else None,
        "from_run": str(req.from_run) if req.from_run else None,
        "seed": req.config.train.seed,
        "validation": req.config.validation.fraction,
        "dedup_threshold": req.dedup_threshold,
    }


def prepare_data(req: FinetuneRequest, base_run, log: Callable[[str], None]) -> tuple[list[Example], list[Example], dict[str, Any]]:
    """train / val examples and the data report: reused from the run directory when the inputs are the same."""
    from ..run.files import atomic_write_json, read_json_object
    from .data import check_no_leak, load_chat_jsonl, near_duplicates, read_examples, split, write_examples

    fingerprint = _fingerprint(req)
    report_path = req.out / "data-report.json"
    if report_path.is_file() and (req.out / TRAIN_FILE).is_file() and (req.out / VAL_FILE).is_file():
        old = read_json_object(report_path, "data report")
        if old.get("fingerprint") == fingerprint:
            log(f"reusing the training data in {req.out} (same inputs)")
            return read_examples(req.out / TRAIN_FILE), read_examples(req.out / VAL_FILE), old
    held_out = base_run.scenarios if base_run is not None else []
    report: dict[str, Any] = {"fingerprint": fingerprint, "held_out_scenarios": len(held_out), "dedup_threshold": req.dedup_threshold}
    if req.data is not None:
        examples = load_chat_jsonl(req.data)
        report["source"] = {"kind": "file", "path": str(req.data), "conversations": len(examples)}
    else:
        import asyncio

        from .reeval import judge_options
        from .teacher import TeacherSettings, teacher_examples

        assert base_run is not None and req.teacher is not None
        c, o = base_run.config, req.overrides
        settings = TeacherSettings(
            spec=req.teacher, base_url=req.teacher_base_url, options=req.teacher_options,
            judge=o.judge or c["judge"], judge_base_url=o.judge_base_url if o.judge else c.get("judge_base_url"),
            judge_options=judge_options(base_run, o),
            rubric=o.rubric or base_run.rubric_path(), system_prompt=base_run.system_prompt if o.system_prompt is None else o.system_prompt,
            max_tokens=o.max_tokens or c.get("max_tokens", 1024), judge_samples=c.get("judge_samples", 1),
            judge_temperature=c.get("judge_temperature", 0.0), no_cache=c.get("no_cache", False),
        )
        if req.taxonomy is not None:
            base_run.manifest.setdefault("taxonomy", {})["path"] = str(req.taxonomy)
        log(f"teacher {req.teacher}: drawing {req.config.teacher.n} new scenarios weighted toward the baseline's failures, up to {req.config.teacher.tries} tries each")
        examples, teacher_report = asyncio.run(teacher_examples(base_run, settings, req.config, req.out, req.dedup_threshold))
        report["source"] = {"kind": "teacher", **teacher_report}
    report["near_duplicates"] = near_duplicates(examples, req.dedup_threshold)[:50]
    if held_out:
        check_no_leak(examples, held_out, req.dedup_threshold, what="training")
    if req.val_data is not None:
        val = load_chat_jsonl(req.val_data)
        if held_out:
            check_no_leak(val, held_out, req.dedup_threshold, what="validation")
        train = examples
    else:
        train, val = split(examples, req.config.validation.fraction, req.config.validation.min_items, req.config.train.seed)
    report["train"] = {"items": len(train), "sha256": write_examples(req.out / TRAIN_FILE, train)}
    report["val"] = {"items": len(val), "sha256": write_examples(req.out / VAL_FILE, val)}
    atomic_write_json(report_path, report)
    return train, val, report


def _loss_curve(out: Path, history: list[dict[str, Any]], initial: dict[str, float]) -> Path | None:
    from ..report.charts import line_chart

    train = [(h["step"], h["loss"]) for h in history if "loss" in h]
    val = [(0, initial["val_loss"])] + [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    if not train:
        return None
    series = {"training loss": ([s for s, _ in train], [v for _, v in train]), "validation loss": ([s for s, _ in val], [v for _, v in val])}
    path = out / "loss-curve.png"
    line_chart(series, title="Fine-tune loss", xlabel="optimizer step", ylabel="loss (assistant tokens)", fmt="png", path=path)
    return path


def run_finetune(req: FinetuneRequest, log: Callable[[str], None] = print) -> dict[str, Any]:
    from ..run.files import atomic_write_json, ensure_dir
    from .base_model import resolve_base
    from .engines.base import TrainJob, select_engine
    from .export import merge_16bit, modelfile, vllm_command, write_adapter_meta, write_gguf_adapter
    from .from_run import load_base_run

    if (req.data is None) == (req.teacher is None):
        raise UsageError("give the training data with exactly one of --data FILE or --teacher SPEC", hint="--data takes your own chat JSONL; --teacher generates data from the baseline's failures.")
    base_run = load_base_run(req.from_run) if req.from_run is not None else None
    if base_run is None and (req.teacher is not None or req.base is None):
        raise UsageError("--from-run is needed for --teacher, and for knowing the base model without --base", hint="Pass --from-run RUN_DIR (a finished `basesel baseline` run), or --base SPEC with --data FILE.")
    from .engines.base import ENGINES, require_training_stack

    if req.engine not in ENGINES:
        raise UsageError(f"unknown --engine '{req.engine}'", hint=f"Use one of: {', '.join(ENGINES)}.")
    require_training_stack()  # a missing extra is named before any data is generated
    if req.engine == "unsloth":
        from .engines.unsloth_engine import check_unsloth

        check_unsloth()  # no CUDA: say so before the teacher spends calls
    ensure_dir(req.out, what="fine-tune run directory")
    started = time.time()
    base_spec = req.base or base_run.model_spec  # type: ignore[union-attr]
    base = resolve_base(base_spec, (base_run.config.get("model_options") if base_run and not req.base else None) or {})
    # Data first: a malformed file or a held-out leak fails in a second, before torch is imported.
    train, val, data_report = prepare_data(req, base_run, log)
    log(f"data: {len(train)} training, {len(val)} validation conversations")
    engine, why = select_engine(req.engine)
    log(f"engine: {engine.name} ({why})")
    job = TrainJob(base, train, val, req.config, req.out / "checkpoints", req.out / "adapter", log=log, show_progress=req.show_progress)
    outcome = engine.train(job)
    gguf = write_gguf_adapter(job.adapter_dir, base)
    meta = write_adapter_meta(job.adapter_dir, base, gguf=gguf, engine=outcome.engine, precision=outcome.precision_trained)
    (job.adapter_dir / "Modelfile").write_text(modelfile(job.adapter_dir, base, gguf["file"] if gguf else None))
    merged = merge_16bit(job.adapter_dir, base, req.out / "merged", trained_4bit=outcome.engine == "unsloth") if req.merge else None
    curve = _loss_curve(req.out, outcome.history, outcome.initial)
    served = f"{base.quantization or 'GGUF'} base + f32 LoRA in llama.cpp ({base.serve_spec} -o lora=...)" if gguf else "the PEFT adapter on the base as published (vLLM / transformers)"
    record = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "base": base.to_dict(),
        "from_run": str(req.from_run) if req.from_run else None,
        "engine": {"name": outcome.engine, "why": why},
        "precision": {"trained": outcome.precision_trained, "served": served},
        "config": req.config.model_dump(),
        "data": {"train": data_report["train"], "val": data_report["val"], "source": data_report.get("source", {}).get("kind")},
        "training": outcome.to_dict(),
        "exports": {
            "peft_adapter": str(job.adapter_dir),
            "gguf_adapter": gguf,
            "modelfile": str(job.adapter_dir / "Modelfile"),
            "vllm": vllm_command(job.adapter_dir, base),
            "merged": merged,
            "basesel_spec": meta["serve"]["basesel"],
        },
        "loss_curve_png": curve.name if curve else None,
        "seed": req.config.train.seed,
        "hardware": _hardware(),
        "versions": _versions(),
        "wall_s": None,
    }
    record["wall_s"] = round(time.time() - started, 2)
    atomic_write_json(req.out / "training.json", record)
    if not req.no_eval:
        record["evaluation"] = _evaluate(req, base_run, base, gguf, record, log)
        record["wall_s"] = round(time.time() - started, 2)
        atomic_write_json(req.out / "training.json", record)
    return record


def training_summary(record: dict[str, Any], doc: Path, out: Path) -> dict[str, Any]:
    """The training facts the "Fine-tune results" section shows, under run/compare.py's documented names;
    the loss curve is linked relative to the document."""
    import os

    t = record["training"]
    curve = out / record["loss_curve_png"] if record.get("loss_curve_png") else None
    best = t.get("best_checkpoint")
    return {
        "engine": record["engine"]["name"],
        "base": record["base"]["spec"],
        "trained_precision": record["precision"]["trained"],
        "served_precision": record["precision"]["served"],
        "steps": t["steps"],
        "best_step": int(best.split("-")[-1]) if best and best.split("-")[-1].isdigit() else None,
        "epochs": (t["history"][-1].get("epoch") if t["history"] else None),
        "train_loss_start": t["initial"].get("train_loss"),
        "train_loss_end": t["final"].get("train_loss"),
        "val_loss_start": t["initial"].get("val_loss"),
        "val_loss_best": t["best_val_loss"],
        "wall_time_s": record["wall_s"],
        "tokens_per_s": t["tokens_per_s"],
        "train_examples": record["data"]["train"]["items"],
        "val_examples": record["data"]["val"]["items"],
        "loss_curve_png": os.path.relpath(curve.resolve(), doc.parent.resolve()) if curve else None,
        "adapter": record["exports"]["peft_adapter"],
    }


def _evaluate(req: FinetuneRequest, base_run, base, gguf, record: dict[str, Any], log) -> dict[str, Any]:
    if base_run is None:
        return {"skipped": "no --from-run: there are no held-out scenarios to re-evaluate on"}
    if req.eval_model is not None:
        model, options = req.eval_model, {}
    elif gguf is not None and base.serve_spec:
        options = {k: v for k, v in (base_run.config.get("model_options") or {}).items() if k in ("n_ctx", "n_threads")}
        model, options = base.serve_spec, {**options, "lora": str((req.out / "adapter" / gguf["file"]).resolve())}
    else:
        cmd = record["exports"]["vllm"]
        log(f"re-evaluation skipped: serve the adapter first ({cmd}), then pass --eval-model vllm/basesel-lora")
        return {"skipped": "the adapter needs a server: start it and pass --eval-model", "vllm": cmd}
    from .reeval import append_comparison, run_eval

    log(f"re-evaluating {model} + adapter on the {len(base_run.scenarios)} held-out scenarios")
    eval_dir, summary = run_eval(base_run, model, options, req.out / "eval", req.overrides, base_url=req.eval_base_url)
    doc = req.doc or base_run.doc_path()
    out = {"run_dir": str(eval_dir), "pass_rate": summary["gate"]["pass_rate"], "decision": summary["gate"]["decision"], "doc": str(doc)}
    if doc.is_file():
        comparison = append_comparison(base_run, eval_dir, doc, training_summary(record, doc.resolve(), req.out.resolve()), marker=f"finetune:{req.out.name}")
        if comparison is None:
            log("the paired comparison needs `basesel compare` (basesel.run.compare), which this install lacks; the eval run is in " + str(eval_dir))
            out["comparison"] = None
        else:
            out["comparison"] = comparison
    else:
        log(f"decision document {doc} not found: the comparison is not appended (pass --doc)")
        out["comparison"] = None
    return out
