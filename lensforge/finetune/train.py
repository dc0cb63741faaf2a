"""LoRA / QLoRA fine-tuning of a base model on a snapshot, with TRL's SFTTrainer and peft.

The layer is thin on purpose: TRL's SFTTrainer runs the loop (labels from the loss mask, packing without
attention across examples, collation, checkpoints, resume, schedules, accelerate/DDP/FSDP), peft adds the
adapter, bitsandbytes quantizes on GPU. This module resolves the config, refuses what this machine cannot run
before anything loads, renders the rows through the model's chat template (chat.render, as evaluation does),
and keeps the run's record: the catalog row (always closed, via try/finally), its phase (status.json), per-step
metrics (catalog + metrics.parquet), log.txt, the adapter and the speed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl

from lensforge.errors import LensforgeError
from lensforge.finetune.chat import ChatTemplate, resolve_template
from lensforge.finetune.config import TrainConfig, check_hardware, resolve_config
from lensforge.finetune.data import (
    SnapshotSource,
    TrainData,
    prepare_examples,
    read_split,
    resolve_base,
    resolve_snapshot,
    to_dataset,
)
from lensforge.finetune.runs import (
    cancel_flag,
    close_dead_runs,
    close_run,
    drop_metrics_after,
    insert_run,
    run_config,
    run_dir,
    run_status,
    unfinished_runs,
    update_run,
    upsert_metrics,
    write_phase,
)
from lensforge.workspace import Workspace, atomic_path

Progress = Callable[[dict[str, Any]], None]
FLUSH_SECONDS = 2.0  # catalog writes of metrics at most this often (the catalog is shared with the app)


def new_run_id(snapshot: str, base: str, preset: str, overrides: dict[str, Any]) -> str:
    """`r` + a short hash of what is trained and when: unique per run, readable in a listing."""
    key = json.dumps(
        {
            "snapshot": snapshot,
            "base": base,
            "preset": preset,
            "overrides": overrides,
            "t": time.time_ns(),
            "pid": os.getpid(),
        },
        sort_keys=True,
        default=str,
    )
    return "r" + hashlib.sha256(key.encode()).hexdigest()[:11]


def _is_main() -> bool:
    """Only one process of a multi-GPU launch writes records (torchrun/accelerate set RANK)."""
    return int(os.environ.get("RANK", "0")) == 0


class _RunLog:
    """Appends timestamped lines to runs/<id>/log.txt (main process only)."""

    def __init__(self, path: Path, enabled: bool) -> None:
        self.path = path
        self.enabled = enabled

    def __call__(self, message: str) -> None:
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")


def _make_callback(
    ws: Workspace,
    run_id: str,
    metrics: list[dict[str, Any]],
    log: _RunLog,
    on_progress: Progress | None,
    cancel_event: threading.Event | None,
) -> Any:
    from transformers import TrainerCallback

    flag = cancel_flag(ws, run_id)
    metrics_path = run_dir(ws, run_id) / "metrics.parquet"

    class RunCallback(TrainerCallback):
        """Per-step loss and learning rate into the catalog and metrics.parquet; progress; stops on a cancel request."""

        def __init__(self) -> None:
            self.pending: list[dict[str, Any]] = []
            self.last_flush = 0.0
            self.cancelled = False
            self.step = 0
            self.max_steps = 0

        def flush(self, force: bool = False) -> None:
            if not _is_main() or (not force and time.monotonic() - self.last_flush < FLUSH_SECONDS):
                return
            with atomic_path(metrics_path) as tmp:  # readers (the app) never see half a file
                pl.DataFrame(metrics, schema=METRICS_SCHEMA).write_parquet(tmp)
            write_phase(ws, run_id, "training", step=self.step, max_steps=self.max_steps)
            try:
                upsert_metrics(ws, run_id, self.pending, timeout=120.0 if force else 1.0)
                if self.pending:
                    update_run(ws, run_id, timeout=120.0 if force else 1.0, steps=int(self.pending[-1]["step"]))
                self.pending = []
            except LensforgeError as exc:  # a busy catalog: keep the rows and try again at the next flush
                if force:
                    raise
                log(f"catalog busy, metrics kept for later: {exc}")
            self.last_flush = time.monotonic()

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.step, self.max_steps = int(state.global_step), int(state.max_steps)
            if on_progress is not None and state.is_world_process_zero:
                on_progress({"event": "step", "step": self.step, "max_steps": self.max_steps, "run_id": run_id})

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kw: Any) -> None:
            if not state.is_world_process_zero or not logs:
                return
            if "loss" not in logs and "eval_loss" not in logs:
                return
            row = {
                "step": int(state.global_step),
                "loss": logs.get("loss"),
                "eval_loss": logs.get("eval_loss"),
                "learning_rate": logs.get("learning_rate"),
                "grad_norm": float(logs["grad_norm"]) if logs.get("grad_norm") is not None else None,
                "epoch": float(state.epoch) if state.epoch is not None else None,
                "tokens_seen": int(state.num_input_tokens_seen or 0),
                "time": time.time(),
            }
            metrics.append(row)
            if row["loss"] is not None:
                self.pending.append(row)
            log(
                f"step {row['step']}/{state.max_steps} "
                + " ".join(
                    f"{k} {row[k]:.4g}" for k in ("loss", "eval_loss", "learning_rate", "epoch") if row[k] is not None
                )
            )
            if on_progress is not None:
                on_progress({**row, "event": "log", "max_steps": int(state.max_steps), "run_id": run_id})
            self.flush()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.step = int(state.global_step)
            if on_progress is not None and state.is_world_process_zero:
                on_progress({"event": "step", "step": self.step, "max_steps": int(state.max_steps), "run_id": run_id})
            wanted = flag.exists() or (cancel_event is not None and cancel_event.is_set())
            wanted = _any_process(wanted)
            if wanted and not self.cancelled:
                self.cancelled = True
                log(f"cancel requested: saving a checkpoint at step {state.global_step} and stopping")
                control.should_save = True
                control.should_training_stop = True

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.flush(force=True)

    return RunCallback()


METRICS_SCHEMA = {
    "step": pl.Int64,
    "loss": pl.Float64,
    "eval_loss": pl.Float64,
    "learning_rate": pl.Float64,
    "grad_norm": pl.Float64,
    "epoch": pl.Float64,
    "tokens_seen": pl.Int64,
    "time": pl.Float64,
}


def _any_process(flag: bool) -> bool:
    """True when any process of a distributed run says so (all must stop at the same step)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return flag
    import torch
    from accelerate import PartialState

    t = torch.tensor([1 if flag else 0], device=PartialState().device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def _load_model(cfg: TrainConfig, name_or_path: str, cuda: bool) -> tuple[Any, Any]:
    """The base model (4/8-bit on GPU when asked) and the LoRA config SFTTrainer puts on it."""
    import torch
    from peft import LoraConfig, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    dtype = getattr(torch, cfg.compute_dtype)
    kwargs: dict[str, Any] = {"dtype": dtype}
    if cfg.attn_implementation:
        kwargs["attn_implementation"] = cfg.attn_implementation
    if cfg.quantization != "none":
        from accelerate import PartialState
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = (
            BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_compute_dtype=dtype,
                bnb_4bit_use_double_quant=cfg.double_quant,
                bnb_4bit_quant_storage=dtype,  # lets FSDP shard the quantized weights
            )
            if cfg.quantization == "4bit"
            else BitsAndBytesConfig(load_in_8bit=True)
        )
        if os.environ.get("ACCELERATE_USE_FSDP", "").lower() not in ("1", "true"):  # FSDP places shards itself
            kwargs["device_map"] = {"": PartialState().local_process_index}  # one copy per GPU under DDP
    try:
        model = AutoModelForCausalLM.from_pretrained(name_or_path, **kwargs)
    except (OSError, ImportError, ValueError) as exc:  # missing files, an attention kernel not installed
        raise LensforgeError(f"cannot load base model {name_or_path!r}: {exc}") from None
    model.config.use_cache = False
    if cfg.quantization != "none":
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=cfg.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=cfg.target_modules,
        modules_to_save=cfg.modules_to_save or None,
        bias="none",
        task_type="CAUSAL_LM",
    )
    return model, lora


def _sft_config(cfg: TrainConfig, out: Path, cuda: bool, has_eval: bool) -> Any:
    """TRL's SFTConfig from the preset. Every field TRL defaults differently from transformers is set here."""
    from trl import SFTConfig

    return SFTConfig(
        output_dir=str(out),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.per_device_batch,
        per_device_eval_batch_size=cfg.per_device_batch,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_steps or cfg.warmup_ratio,  # a float below 1 is a ratio of the total steps
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        optim=cfg.optimizer,
        bf16=cuda and cfg.compute_dtype == "bfloat16",
        fp16=cuda and cfg.compute_dtype == "float16",
        activation_checkpointing=cfg.gradient_checkpointing,  # TRL defaults it on; transformers 5's name for it
        activation_checkpointing_kwargs={"use_reentrant": False} if cfg.gradient_checkpointing else None,
        train_sampling_strategy="group_by_length" if cfg.group_by_length else "random",
        # The examples arrive rendered and masked (chat.render); TRL turns the masks into labels, packs them into
        # max_length blocks (best-fit decreasing, padding-free: position ids restart per example, so attention
        # never crosses an example boundary) and collates.
        max_length=cfg.max_length,
        packing=cfg.packing,
        packing_strategy="bfd",
        eval_packing=False,
        logging_steps=cfg.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit or None,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=cfg.eval_steps or None,
        seed=cfg.seed,
        data_seed=cfg.seed,
        include_num_input_tokens_seen="non_padding",
        report_to="none",
        disable_tqdm=True,
        ddp_find_unused_parameters=False,  # every LoRA (and modules_to_save) weight takes part in each step
        dataloader_num_workers=0,
        dataloader_pin_memory=cuda,
        use_cpu=not cuda,
    )


def latest_checkpoint(run_path: Path) -> Path | None:
    """The newest `checkpoint-<step>` folder of a run (what resume continues from)."""
    found = [
        p for p in (run_path / "checkpoints").glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()
    ]
    return max(found, key=lambda p: int(p.name.split("-")[-1])) if found else None


def find_resumable(ws: Workspace, source: SnapshotSource, base: str, preset: str, overrides: dict[str, Any]) -> str:
    """The newest failed or cancelled run of the same snapshot, base, preset and overrides with a checkpoint."""
    close_dead_runs(ws)  # a run whose process died counts as failed; a live one is not taken over
    wanted = json.loads(json.dumps(overrides, sort_keys=True, default=str))
    for run_id, ov in unfinished_runs(ws, source.snapshot_id, base, preset):
        if ov == wanted and latest_checkpoint(run_dir(ws, run_id)) is not None:
            return run_id
    raise LensforgeError(
        f"nothing to resume: no unfinished run of {source.snapshot_id} / {base} / {preset} with these settings "
        "has a checkpoint",
        hint="start a new run without --resume",
    )


def train(
    ws: Workspace,
    snapshot: str,
    *,
    base: str | None = None,
    preset: str,
    overrides: dict[str, Any] | None = None,
    actor: str,
    resume: bool = False,
    on_progress: Progress | None = None,
    cancel_event: threading.Event | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """Fine-tune `base` (default: the preset's) on a snapshot; returns the closed run's summary.

    `snapshot`: a local snapshot id or REPO@REVISION. `overrides`: `--set` keys (strings are parsed).
    `resume`: continue the newest unfinished matching run (or `run_id`) from its latest checkpoint.
    `run_id` without `resume`: take over a row created beforehand (a background run). Errors before the run
    starts (bad settings, no GPU for a 4-bit preset, unknown snapshot or base) leave no run row; later ones
    close the run as failed and are raised again.
    """
    overrides = dict(overrides or {})
    if base is not None:
        if overrides.get("base_model", base) != base:
            raise LensforgeError(f"two base models given: {base!r} and base_model={overrides['base_model']!r}")
        overrides["base_model"] = base
    cfg = resolve_config(preset, overrides)
    import torch

    cuda = torch.cuda.is_available()
    check_hardware(cfg, preset, cuda=cuda)  # before any weights load
    source = resolve_snapshot(ws, snapshot)
    with _quiet(cfg, cuda):
        return _train(ws, source, cfg, preset, overrides, actor, resume, on_progress, cancel_event, run_id, cuda)


@contextlib.contextmanager
def _quiet(cfg: TrainConfig, cuda: bool) -> Iterator[None]:
    """No progress bars (they would clutter the CLI's output and log.txt) and the run's CPU threads; restored after."""
    import torch
    from transformers.utils import logging as hf_logging

    threads = torch.get_num_threads()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    if cfg.cpu_threads and not cuda:
        torch.set_num_threads(cfg.cpu_threads)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            yield
    finally:
        torch.set_num_threads(threads)
        if bars:
            hf_logging.enable_progress_bar()


def _train(
    ws: Workspace,
    source: SnapshotSource,
    cfg: TrainConfig,
    preset: str,
    overrides: dict[str, Any],
    actor: str,
    resume: bool,
    on_progress: Progress | None,
    cancel_event: threading.Event | None,
    run_id: str | None,
    cuda: bool,
) -> dict[str, Any]:
    from accelerate import PartialState
    from transformers import AutoTokenizer

    main = _is_main()
    _phase(on_progress, "tokenizer", f"tokenizer and chat template of {cfg.base_model}")
    state = PartialState(cpu=not cuda)  # joins the process group under `accelerate launch`/torchrun
    with state.main_process_first():  # the tiny model is built once, by the main process
        name_or_path = resolve_base(ws, cfg.base_model, source.path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    except OSError as exc:
        raise LensforgeError(f"cannot load the tokenizer of {name_or_path!r}: {exc}") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    template = resolve_template(tokenizer, cfg.chat_template, model=cfg.base_model)

    typed_overrides = {k: getattr(cfg, k) for k in overrides}
    if resume and run_id is None:
        run_id = find_resumable(ws, source, cfg.base_model, preset, typed_overrides) if main else None
    adopting = run_id is not None
    if main and run_id is None:
        run_id = new_run_id(source.snapshot_id, cfg.base_model, preset, typed_overrides)
    run_id = _broadcast(run_id)
    assert run_id is not None
    path = run_dir(ws, run_id)
    resume_from = latest_checkpoint(path) if resume else None
    if resume and resume_from is None:
        raise LensforgeError(f"run {run_id} has no checkpoint to resume from", hint="start a new run without resume")
    log = _RunLog(path / "log.txt", main)
    record = {
        "run_id": run_id,
        "snapshot_id": source.snapshot_id,
        "hub_repo": source.hub_repo,
        "hub_revision": source.hub_revision,
        "hub_sha": source.hub_sha,
        "base_model": cfg.base_model,
        "preset": preset,
        "overrides": typed_overrides,
        "config": {
            **cfg.model_dump(),
            "preset": preset,
            "base_path": name_or_path,
            "world_size": state.num_processes,
            "chat_template_sha": template.sha,
            "loss_mask": template.mask_source,
        },
        "chat_format": template.name,  # the column keeps its name: it holds the chat template's name
        "path": str(path.relative_to(ws.root)),
        "pid": os.getpid(),
    }
    if main:
        _open_run(ws, record, actor=actor, adopting=adopting, resume=resume)
    started = time.monotonic()
    status, error, summary = "failed", None, {}
    try:
        summary = _run(
            ws,
            run_id,
            cfg,
            source,
            name_or_path,
            template,
            tokenizer,
            cuda,
            log,
            on_progress,
            cancel_event,
            resume_from,
        )
        status = "cancelled" if summary.pop("cancelled") else "finished"
    except KeyboardInterrupt:
        status, error = "cancelled", "interrupted"
        raise
    except BaseException as exc:
        error = str(exc) if isinstance(exc, LensforgeError) else f"{type(exc).__name__}: {exc}"
        log(f"failed: {error}")
        raise
    finally:
        wall = round(time.monotonic() - started, 3)
        if main:
            if status == "finished" and cancel_flag(ws, run_id).exists():
                status = "cancelled"
            close_run(ws, run_id, status, error=error, wall_seconds=wall, **summary)
            write_phase(ws, run_id, status, error=error)
            log(f"run {status} after {wall:.1f}s" + (f": {error}" if error else ""))
    return {"run_id": run_id, "status": status, "path": str(path), **summary, "wall_seconds": wall}


def _broadcast(value: str | None) -> str | None:
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _open_run(ws: Workspace, record: dict[str, Any], *, actor: str, adopting: bool, resume: bool) -> None:
    """Insert the run row, or take over an existing one (a background run's, or a run being resumed)."""
    run_id = record["run_id"]
    if not adopting:
        run_dir(ws, run_id).mkdir(parents=True, exist_ok=True)
        insert_run(ws, record, actor=actor)
        return
    status = run_status(ws, run_id)
    if status is None:
        raise LensforgeError(f"no run {run_id!r} to continue")
    if not resume and status != "running":
        raise LensforgeError(f"run {run_id} is {status}; it was stopped before its process started")
    cancel_flag(ws, run_id).unlink(missing_ok=True)
    update_run(
        ws,
        run_id,
        status="running",
        error=None,
        finished_at=None,
        pid=record["pid"],
        config=record["config"],
        chat_format=record["chat_format"],
    )
    if resume:
        from lensforge.catalog.db import transaction
        from lensforge.catalog.events import record_event

        with transaction(ws) as con:
            record_event(con, actor=actor, kind="finetune.resume", subject=run_id, payload={"pid": record["pid"]})


def _phase(on_progress: Progress | None, phase: str, message: str) -> None:
    if on_progress is not None and _is_main():
        on_progress({"event": "phase", "phase": phase, "message": message})


def _fit_message(split: str, stats: dict[str, int], cfg: TrainConfig) -> str:
    """What happened to the rows longer than max_length, said plainly (the console and log.txt show it)."""
    rows, longest = stats["rows"], stats["longest"]
    if not stats["dropped"] and not stats["truncated"]:
        return f"{split}: all {rows} rows fit max_length {cfg.max_length} tokens (longest {longest})"
    parts = []
    if stats["dropped"]:
        why = (
            "truncation=drop"
            if cfg.truncation == "drop"
            else "their answer alone is longer than max_length, so cutting the prompt cannot save them"
        )
        parts.append(
            f"dropped {stats['dropped']} of {rows} rows longer than max_length {cfg.max_length} tokens ({why})"
        )
    if stats["truncated"]:
        parts.append(f"cut the prompt's start of {stats['truncated']} rows to fit (truncation=prompt_left)")
    hint = "; raise --set max_length=N to keep them" if stats["dropped"] else ""
    return f"{split}: " + ", ".join(parts) + f"; longest row {longest} tokens{hint}"


def _prepare(
    frame: pl.DataFrame,
    split: str,
    tokenizer: Any,
    template: ChatTemplate,
    cfg: TrainConfig,
    on_progress: Progress | None,
    truncation: str,
) -> TrainData:
    def progress(done: int, total: int) -> None:
        if on_progress is not None and _is_main():
            on_progress({"event": "data", "split": split, "done": done, "total": total})

    return prepare_examples(
        frame["messages"].to_list(),
        tokenizer,
        template,
        max_length=cfg.max_length,
        truncation=truncation,
        on_progress=progress,
    )


def _run(
    ws: Workspace,
    run_id: str,
    cfg: TrainConfig,
    source: SnapshotSource,
    name_or_path: str,
    template: ChatTemplate,
    tokenizer: Any,
    cuda: bool,
    log: _RunLog,
    on_progress: Progress | None,
    cancel_event: threading.Event | None,
    resume_from: Path | None,
) -> dict[str, Any]:
    from transformers import PrinterCallback, set_seed
    from trl import SFTTrainer

    path = run_dir(ws, run_id)
    main = _is_main()
    log(
        f"run {run_id}: snapshot {source.snapshot_id}, base {cfg.base_model} ({name_or_path}), "
        f"chat template {template.name} (sha {template.sha}, loss mask from the {template.mask_source})"
    )
    log("config " + json.dumps(cfg.model_dump(), sort_keys=True, default=str))
    set_seed(cfg.seed)
    if main:
        write_phase(ws, run_id, "data")
    _phase(on_progress, "data", f"rendering the snapshot through chat template {template.name}")
    train_rows = read_split(source.path, "train")
    if train_rows.height == 0:
        raise LensforgeError(f"snapshot {source.snapshot_id} has no train rows")
    data = _prepare(train_rows, "train", tokenizer, template, cfg, on_progress, cfg.truncation)
    stats = data.stats()
    fit = _fit_message("train", stats, cfg)
    log(f"train data: {stats['rows']} rows, {stats['examples']} examples, {stats['tokens']} tokens; {fit}")
    if on_progress is not None and main:
        on_progress({"event": "data_done", "split": "train", **stats, "message": fit})
    if not data.input_ids:
        raise LensforgeError(
            f"every train example is longer than max_length {cfg.max_length} tokens (longest {stats['longest']})",
            hint="raise --set max_length=N",
        )
    dev = read_split(source.path, "dev")
    eval_ds = None
    if cfg.eval_steps and dev.height:
        dev_data = _prepare(dev, "dev", tokenizer, template, cfg, on_progress, "drop")
        eval_ds = to_dataset(dev_data) if dev_data.input_ids else None
    if main:
        update_run(ws, run_id, train_rows=stats["rows"], config={**_config_json(ws, run_id), "data": stats})
        write_phase(ws, run_id, "model", data=stats)
    _phase(on_progress, "model", f"loading {cfg.base_model} and batching the examples (TRL)")
    model, lora = _load_model(cfg, name_or_path, cuda)

    metrics: list[dict[str, Any]] = []
    metrics_path = path / "metrics.parquet"
    if resume_from is not None:  # keep the steps up to the checkpoint; the later ones are trained again
        done = int(resume_from.name.split("-")[-1])
        if metrics_path.is_file():
            metrics = pl.read_parquet(metrics_path).filter(pl.col("step") <= done).to_dicts()
        if main:
            drop_metrics_after(ws, run_id, done)
    callback = _make_callback(ws, run_id, metrics, log, on_progress, cancel_event)
    trainer = SFTTrainer(
        model=model,
        args=_sft_config(cfg, path / "checkpoints", cuda, eval_ds is not None),
        train_dataset=to_dataset(data),
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=[callback],
    )
    trainer.remove_callback(PrinterCallback)  # our callback logs to log.txt; stdout stays the caller's
    trainable, total = trainer.model.get_nb_trainable_parameters()
    blocks = len(trainer.train_dataset)
    log(
        f"model loaded: {total:,} parameters, {trainable:,} trainable ({100 * trainable / total:.2f}%); "
        f"{blocks} {'packed blocks' if cfg.packing else 'examples'} per epoch"
    )
    if resume_from is not None:
        log(f"resuming from {resume_from.name}")
    if main:
        write_phase(ws, run_id, "training", step=0, data=stats)
    _phase(on_progress, "training", f"{blocks} {'packed blocks' if cfg.packing else 'examples'} per epoch")
    t0 = time.monotonic()
    output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    seconds = time.monotonic() - t0
    state = trainer.state
    tokens = int(state.num_input_tokens_seen or 0) - int(getattr(trainer, "_initial_num_input_tokens_seen", 0) or 0)
    cancelled = callback.cancelled
    adapter = path / "adapter"
    if not cancelled:
        if main:
            write_phase(ws, run_id, "saving", step=int(state.global_step))
        _phase(on_progress, "saving", "the adapter and the tokenizer (with its chat template)")
        if trainer.is_fsdp_enabled:  # gather the sharded adapter into one file
            trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
        trainer.save_model(str(adapter))  # the adapter + tokenizer and its chat template; only the main process writes
    losses = [m["loss"] for m in metrics if m.get("loss") is not None]
    speed = round(tokens / seconds, 1) if seconds > 0 else None
    steps_done = int(state.global_step) - int(getattr(trainer, "_initial_global_step", 0) or 0)
    log(
        f"trained {steps_done} steps in {seconds:.1f}s ({steps_done / max(seconds, 1e-9):.2f} steps/s, "
        f"{speed} tokens/s); global step {state.global_step}; training loss {output.training_loss:.4f}"
    )
    return {
        "cancelled": cancelled,
        "steps": int(state.global_step),
        "train_rows": stats["rows"],
        "final_loss": losses[-1] if losses else None,
        "tokens_per_second": speed,
        "adapter_path": None if cancelled else str(adapter.relative_to(ws.root)),
    }


def _config_json(ws: Workspace, run_id: str) -> dict[str, Any]:
    return run_config(ws, run_id)
