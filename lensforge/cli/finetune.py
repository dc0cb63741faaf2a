"""`lensforge finetune` and `runs ...`: training runs."""

from __future__ import annotations

from typing import Annotated, Any

import polars as pl
import typer
from rich.progress import Progress, TaskID

from lensforge.cli.common import (
    JsonOpt,
    _actor,
    _print_frame,
    _print_json,
    _ws,
    app,
    console,
)
from lensforge.progress import progress_bar

runs_app = typer.Typer(help="Fine-tuning runs: list, show, cancel.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


@app.command()
def finetune(
    snapshot: Annotated[str, typer.Argument(help="A snapshot id, or REPO@REVISION of a snapshot on the Hub.")],
    base: Annotated[str | None, typer.Option("--base", help="Base model (default: the preset's).")] = None,
    preset: Annotated[
        str, typer.Option("--preset", help="llamalens-qlora, llamalens-lora, qlora-r64 or cpu-tiny.")
    ] = "cpu-tiny",
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a preset value: key=value (repeatable).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted run with the same settings.")
    ] = False,
    background: Annotated[
        bool, typer.Option("--background", help="Start in the background and return the run id.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune a base model on a snapshot (LoRA/QLoRA through TRL's SFTTrainer) and record the run.

    The rows are rendered with the base model's own chat template (`--set chat_template=NAME|FILE` for a base
    model without one: llama2, mistral, tiny).
    """
    from lensforge.finetune.api import parse_overrides, start_background, train

    ws = _ws()
    overrides = parse_overrides(set_ or [])
    if background:
        run_id = start_background(ws, snapshot, base, preset, overrides, _actor(), resume=resume)
        _print_json({"run_id": run_id}) if as_json else console.print(f"run {run_id} started in the background")
        return

    with progress_bar(None if as_json else console, unit="steps") as bars:
        res = train(
            ws,
            snapshot,
            base=base,
            preset=preset,
            overrides=overrides,
            actor=_actor(),
            resume=resume,
            on_progress=None if as_json else _TrainView(bars),
        )
    if as_json:
        _print_json(res)
    else:
        console.print(
            f"run {res['run_id']} {res['status']}: adapter {res.get('adapter_path')}, "
            f"final loss {res.get('final_loss')}"
        )


class _TrainView:
    """Draws train()'s progress events: a line per phase, a bar for data preparation and one for the steps."""

    def __init__(self, bars: Progress) -> None:
        self.bars = bars
        self.tasks: dict[str, TaskID] = {}
        self.loss: float | None = None

    def _bar(self, key: str, description: str, total: int, done: int) -> None:
        if key not in self.tasks:
            self.tasks[key] = self.bars.add_task(description, total=total, completed=done)
        self.bars.update(self.tasks[key], description=description, total=total, completed=done)

    def __call__(self, info: dict[str, Any]) -> None:
        event = info.get("event")
        if event == "phase":
            self.bars.console.print(f"[bold]{info['phase']}[/bold]: {info['message']}", highlight=False)
        elif event == "data":
            key = f"data:{info['split']}"
            self._bar(key, f"rendering {info['split']} rows", info["total"], info["done"])
            if info["done"] >= info["total"]:
                self.bars.remove_task(self.tasks.pop(key))
        elif event == "data_done":
            self.bars.console.print(f"  {info['message']}", highlight=False)
        elif event in ("step", "log"):
            if info.get("loss") is not None:
                self.loss = info["loss"]
            loss = f" (loss {self.loss:.3f})" if self.loss is not None else ""
            self._bar("steps", f"training{loss}", info["max_steps"], info["step"])


@runs_app.command("list")
def runs_list(as_json: JsonOpt = False) -> None:
    """Fine-tuning runs, newest first."""
    from lensforge.finetune.api import list_runs

    df = list_runs(_ws())
    df = df.with_columns([pl.col(c).cast(pl.String) for c in df.columns if df[c].dtype in (pl.Datetime, pl.Date)])
    _print_json(df.to_dicts()) if as_json else _print_frame(
        df.select(
            [
                c
                for c in (
                    "run_id",
                    "status",
                    "snapshot_id",
                    "base_model",
                    "preset",
                    "steps",
                    "final_loss",
                    "wall_seconds",
                    "created_at",
                )
                if c in df.columns
            ]
        ),
        title="runs",
    )


@runs_app.command("show")
def runs_show(run_id: Annotated[str, typer.Argument(help="Run id.")], as_json: JsonOpt = False) -> None:
    """A run's record and its per-step loss and learning rate."""
    from lensforge.finetune.api import get_run

    info = get_run(_ws(), run_id)
    if as_json:
        _print_json(info)
        return
    for key, value in info.items():
        if key != "metrics":
            console.print(f"[bold]{key}[/bold]: {value}", highlight=False)
    metrics = info.get("metrics") or []
    if metrics:
        console.print(
            f"{len(metrics)} logged steps; first loss {metrics[0].get('loss')}, last loss {metrics[-1].get('loss')}"
        )


@runs_app.command("cancel")
def runs_cancel(run_id: Annotated[str, typer.Argument(help="Run id.")]) -> None:
    """Ask a running training to stop (it saves a checkpoint; --resume continues it)."""
    from lensforge.finetune.api import cancel_run

    cancel_run(_ws(), run_id, _actor())
    console.print(f"run {run_id} cancelled")
