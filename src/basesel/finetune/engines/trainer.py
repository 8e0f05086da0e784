"""The training loop every engine shares: transformers' Trainer with labels masked to assistant turns,
validation every N steps, early stopping on validation loss, the best checkpoint kept, resume from the
last complete checkpoint, and a rich progress line (loss, tokens/s, ETA).

TRL's SFTTrainer is not used: its `assistant_only_loss` needs `{% generation %}` markers in the chat
template, which SmolLM2's, Llama's and Qwen's templates lack; the data is tokenized and masked here
(finetune/tokenize.py) and handed to the plain Trainer."""

from __future__ import annotations

import errno
import json
import random
import shutil
import time
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from ..tokenize import IGNORE, describe_masking, encode_all, ensure_pad_token
from .base import TrainJob, TrainOutcome

INITIAL_EVAL = "initial-eval.json"
TRAIN_SUBSET = 64  # training items whose loss is measured before and after (the "did it learn" check)


class PadCollator:
    """Right-pads input_ids with the pad token, attention_mask with 0 and labels with -100."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(i["input_ids"]) for i in items)

        def pad(key: str, value: int):
            return torch.tensor([i[key] + [value] * (width - len(i[key])) for i in items], dtype=torch.long)

        return {"input_ids": pad("input_ids", self.pad_id), "attention_mask": pad("attention_mask", 0), "labels": pad("labels", IGNORE)}


def complete_checkpoints(folder: Path) -> list[Path]:
    """Checkpoints that finished saving, oldest first. A checkpoint cut short (a kill or a full disk while
    saving) is moved aside, so resuming picks the last complete one."""
    if not folder.is_dir():
        return []
    good = []
    for ckpt in sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]) if p.name.split("-")[-1].isdigit() else -1):
        if not ckpt.is_dir() or not ckpt.name.split("-")[-1].isdigit():
            continue
        try:
            json.loads((ckpt / "trainer_state.json").read_text())
            ok = (ckpt / "optimizer.pt").is_file() and any(ckpt.glob("adapter_model.*"))
        except (OSError, ValueError):
            ok = False
        if ok:
            good.append(ckpt)
        else:
            shutil.move(str(ckpt), str(ckpt.with_name(f"{ckpt.name}.incomplete-{int(time.time())}")))
    return good


def _progress_callback(job: TrainJob, state_box: dict[str, Any]):
    from transformers import TrainerCallback

    class RichProgress(TrainerCallback):
        """One progress line: step/total, loss, validation loss, tokens/s, ETA."""

        def on_train_begin(self, args, state, control, **kw):
            state_box["t0"] = time.perf_counter()
            state_box["tokens0"] = state.num_input_tokens_seen
            state_box["step0"] = state.global_step
            if not job.show_progress:
                return
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            from ...cli.common import stderr_console

            self.progress = Progress(
                TextColumn("[bold]training[/]"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=stderr_console(), transient=False,
            )
            self.progress.start()
            self.task = self.progress.add_task("train", total=state.max_steps, completed=state.global_step, info="")

        def _info(self, state) -> str:
            elapsed = time.perf_counter() - state_box["t0"]
            tps = (state.num_input_tokens_seen - state_box["tokens0"]) / elapsed if elapsed > 0 else 0.0
            parts = []
            if state_box.get("loss") is not None:
                parts.append(f"loss {state_box['loss']:.3f}")
            if state_box.get("eval_loss") is not None:
                parts.append(f"val {state_box['eval_loss']:.3f}")
            parts.append(f"{tps:,.0f} tok/s")
            return "  ".join(parts)

        def on_log(self, args, state, control, logs=None, **kw):
            logs = logs or {}
            if "loss" in logs:
                state_box["loss"] = logs["loss"]
            if "eval_loss" in logs:
                state_box["eval_loss"] = logs["eval_loss"]

        def on_step_end(self, args, state, control, **kw):
            if job.show_progress:
                self.progress.update(self.task, completed=state.global_step, info=self._info(state))

        def on_train_end(self, args, state, control, **kw):
            state_box["t1"] = time.perf_counter()
            state_box["tokens1"] = state.num_input_tokens_seen
            if job.show_progress:
                self.progress.update(self.task, completed=state.global_step, info=self._info(state))
                self.progress.stop()

    return RichProgress()


def _timed_trainer_class():
    """Trainer that keeps the time spent validating and checkpointing apart, so tokens/s measures training."""
    from transformers import Trainer

    class TimedTrainer(Trainer):
        overhead_s = 0.0

        def evaluate(self, *args, **kwargs):
            start = time.perf_counter()
            try:
                return super().evaluate(*args, **kwargs)
            finally:
                self.overhead_s += time.perf_counter() - start

        def _save_checkpoint(self, *args, **kwargs):
            start = time.perf_counter()
            try:
                return super()._save_checkpoint(*args, **kwargs)
            finally:
                self.overhead_s += time.perf_counter() - start

    return TimedTrainer


def _peak_memory() -> dict[str, Any]:
    import resource

    out: dict[str, Any] = {"max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    try:
        import torch

        if torch.cuda.is_available():
            out["cuda_max_allocated_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    except Exception:  # noqa: BLE001 - memory facts only
        pass
    return out


def _losses(trainer, train_subset: list[dict[str, Any]], val: list[dict[str, Any]]) -> dict[str, float]:
    """Mean loss on a training subset and on the validation split, without logging them as evaluations."""
    out = {}
    for key, data in (("train_loss", train_subset), ("val_loss", val)):
        metrics = trainer.evaluate(eval_dataset=data, metric_key_prefix="probe")
        out[key] = round(float(metrics["probe_loss"]), 6)
    trainer.state.log_history = [h for h in trainer.state.log_history if "probe_loss" not in h]
    return out


def run_training(model, tokenizer, job: TrainJob, *, engine: str, precision: str, targets: list[str], bf16: bool = False) -> TrainOutcome:
    """Train `model` (already wrapped with LoRA) on the job's data and save the best adapter."""
    from transformers import EarlyStoppingCallback, TrainingArguments

    cfg = job.config
    pad = ensure_pad_token(tokenizer)
    if pad.get("added"):
        model.resize_token_embeddings(len(tokenizer))
    max_length = cfg.train.max_length
    train, dropped = encode_all(tokenizer, job.train, max_length, what="training", drop_long=_generated(job))
    val, dropped_val = encode_all(tokenizer, job.val, max_length, what="validation", drop_long=_generated(job))
    labels_total = sum(sum(1 for x in i["labels"] if x != IGNORE) for i in train)
    assert labels_total > 0, "every label is masked"  # encode_all refuses per item already; this guards the whole set
    subset = random.Random(cfg.train.seed).sample(train, min(TRAIN_SUBSET, len(train)))

    job.checkpoints_dir.mkdir(parents=True, exist_ok=True)
    checkpoints = complete_checkpoints(job.checkpoints_dir)
    resume = checkpoints[-1] if checkpoints else None
    use_cpu = not _cuda()
    args = TrainingArguments(
        output_dir=str(job.checkpoints_dir),
        per_device_train_batch_size=cfg.train.batch_size,
        per_device_eval_batch_size=cfg.train.batch_size,
        gradient_accumulation_steps=cfg.train.grad_accum,
        learning_rate=cfg.train.learning_rate,
        num_train_epochs=cfg.train.epochs,
        max_steps=cfg.train.max_steps or -1,
        lr_scheduler_type=cfg.train.lr_scheduler,
        warmup_steps=cfg.train.warmup_ratio,
        weight_decay=cfg.train.weight_decay,
        max_grad_norm=cfg.train.max_grad_norm,
        logging_steps=1,
        eval_strategy="steps",
        eval_steps=cfg.validation.eval_steps,
        save_strategy="steps",
        save_steps=cfg.validation.eval_steps,
        save_total_limit=cfg.validation.save_total_limit,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        report_to=[],
        disable_tqdm=True,
        seed=cfg.train.seed,
        data_seed=cfg.train.seed,
        use_cpu=use_cpu,
        bf16=bf16,
        dataloader_num_workers=0,
        dataloader_pin_memory=not use_cpu,
        include_num_input_tokens_seen="non_padding",
        remove_unused_columns=False,
        log_level="error",
    )
    box: dict[str, Any] = {}
    trainer = _timed_trainer_class()(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=val,
        data_collator=PadCollator(tokenizer.pad_token_id),
        callbacks=[EarlyStoppingCallback(early_stopping_patience=cfg.validation.early_stopping_patience), _progress_callback(job, box)],
    )
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # the rich line shows progress; raw log dicts would flood stdout
    initial_path = job.checkpoints_dir / INITIAL_EVAL
    if resume is None or not initial_path.is_file():
        initial = _losses(trainer, subset, val)
        initial_path.write_text(json.dumps(initial))
    else:
        initial = json.loads(initial_path.read_text())
    if resume is not None:
        job.log(f"resuming from {resume.name} (step {resume.name.split('-')[-1]}); earlier steps are not redone")
    trainer.overhead_s = 0.0  # the probes above are not part of training
    try:
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            kept = complete_checkpoints(job.checkpoints_dir)
            raise ConfigError(
                f"the disk filled up while training wrote {exc.filename or job.checkpoints_dir}",
                hint=f"Free space and run the same command again: it resumes from {kept[-1].name if kept else 'step 0 (no checkpoint was complete)'}; "
                "an unfinished checkpoint is moved aside.",
            ) from exc
        raise
    state = trainer.state
    overhead = trainer.overhead_s
    final = _losses(trainer, subset, val)
    job.adapter_dir.mkdir(parents=True, exist_ok=True)
    trainer.model.save_pretrained(str(job.adapter_dir))
    tokenizer.save_pretrained(str(job.adapter_dir))
    wall = box.get("t1", time.perf_counter()) - box.get("t0", time.perf_counter())
    compute = max(1e-9, wall - overhead)
    tokens_session = int(box.get("tokens1", state.num_input_tokens_seen) - box.get("tokens0", 0))
    history = [
        {k: (round(v, 6) if isinstance(v, float) else v) for k, v in h.items() if k in ("step", "epoch", "loss", "eval_loss", "learning_rate", "grad_norm")}
        for h in state.log_history
        if "loss" in h or "eval_loss" in h
    ]
    evals = [h["eval_loss"] for h in history if "eval_loss" in h]
    return TrainOutcome(
        engine=engine,
        adapter_dir=job.adapter_dir,
        precision_trained=precision,
        steps=state.global_step,
        max_steps=state.max_steps,
        resumed_from_step=int(resume.name.split("-")[-1]) if resume else None,
        best_checkpoint=Path(state.best_model_checkpoint).name if state.best_model_checkpoint else None,
        best_val_loss=round(float(state.best_metric), 6) if state.best_metric is not None else (min(evals) if evals else None),
        stopped_early=state.global_step < state.max_steps,
        initial=initial,
        final=final,
        history=history,
        tokens_seen=int(state.num_input_tokens_seen),
        tokens_this_session=tokens_session,
        train_wall_s=round(wall, 3),
        eval_and_checkpoint_s=round(overhead, 3),
        tokens_per_s=round(tokens_session / compute, 1) if wall > 0 and tokens_session > 0 else None,
        peak_memory=_peak_memory(),
        tokenizer={**pad, "targets": targets, "masking_example": describe_masking(tokenizer, train[0]), "labels_trained": labels_total},
        dropped=dropped + dropped_val,
    )


def _generated(job: TrainJob) -> bool:
    """Generated (teacher) data: over-long items are dropped and reported instead of failing the run."""
    return bool(job.train) and job.train[0].source.startswith("teacher:")


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
