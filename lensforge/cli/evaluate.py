"""`lensforge evaluate`, `evals ...` and `report`: scores."""

from __future__ import annotations

import json
import time
from pathlib import Path
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

evals_app = typer.Typer(help="Evaluations: list, show, compare.", no_args_is_help=True)
app.add_typer(evals_app, name="evals")


@app.command()
def evaluate(
    snapshot: Annotated[str, typer.Option("--snapshot", help="Snapshot id whose test splits are scored.")],
    model: Annotated[
        str | None, typer.Option("--model", help="Base model: tiny, a local folder or a Hub name.")
    ] = None,
    adapter: Annotated[str | None, typer.Option("--adapter", help="A run id or an adapter folder.")] = None,
    datasets: Annotated[list[str] | None, typer.Option("--datasets", help="Only these datasets (repeatable).")] = None,
    backend: Annotated[str, typer.Option(help="transformers or openai-compatible.")] = "transformers",
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="The OpenAI-compatible server (vLLM, TGI).")
    ] = None,
    chat_template: Annotated[
        str | None,
        typer.Option(
            "--chat-template",
            "--chat-format",
            help="A shipped chat template (llama2, mistral, tiny) or a .jinja file, for a model without its own.",
        ),
    ] = None,
    score_labels: Annotated[
        bool, typer.Option("--score-labels", help="Score each label by log-probability (AUC).")
    ] = False,
    limit: Annotated[int | None, typer.Option("--limit", help="At most N test rows per dataset.")] = None,
    batch_size: Annotated[int, typer.Option(help="Generation batch size.")] = 16,
    as_json: JsonOpt = False,
) -> None:
    """Zero-shot evaluation on each dataset's test split with its first instruction."""
    from lensforge.evaluate.api import evaluate_named

    with progress_bar(None if as_json else console, unit="rows") as bars:
        res = evaluate_named(
            _ws(),
            snapshot_id=snapshot,
            model=model,
            adapter=adapter,
            datasets=datasets,
            backend=backend,
            base_url=base_url,
            chat_template=chat_template,
            score_labels=score_labels,
            batch_size=batch_size,
            actor=_actor(),
            limit_per_dataset=limit,
            on_progress=None if as_json else _EvalView(bars),
        )
    if as_json:
        _print_json(res)
        return
    console.print(f"evaluation {res['eval_id']} {res['status']} in {res.get('wall_seconds', 0):.1f} s")
    _print_frame(pl.DataFrame(_score_rows(res)), title="scores")


def _score_rows(res: dict[str, Any]) -> list[dict[str, Any]]:
    """One line per dataset: the primary score, rows, the unparseable share (percent of rows) and SOTA."""
    from lensforge.evaluate.metrics import percent

    return [
        {
            "dataset": d["dataset_id"],
            "metric": d["primary_metric"],
            "score": round(d["primary_value"], 4) if d["primary_value"] is not None else None,
            "n": d["n"],
            "unparseable": percent(d["unparseable_rate"]),
            "sota": d.get("sota_value"),
        }
        for d in res["datasets"]
    ]


class _EvalView:
    """One bar per dataset (rows answered, rate, ETA), left on screen as a line when the dataset is done."""

    def __init__(self, bars: Progress) -> None:
        self.bars = bars
        self.tasks: dict[str, tuple[TaskID, float]] = {}

    def __call__(self, info: dict[str, Any]) -> None:
        if info.get("event") != "dataset":
            return
        name = f"[{info['index'] + 1}/{info['datasets']}] {info['dataset']}"
        if info["dataset"] not in self.tasks:
            self.tasks[info["dataset"]] = (self.bars.add_task(name, total=info["total"]), time.monotonic())
        task, started = self.tasks[info["dataset"]]
        self.bars.update(task, completed=info["done"])
        if info["done"] >= info["total"]:
            self.bars.remove_task(task)
            seconds = time.monotonic() - started
            self.bars.console.print(f"  {name}: {info['total']} rows in {seconds:.1f} s", highlight=False)


@evals_app.command("list")
def evals_list(as_json: JsonOpt = False) -> None:
    """Evaluations, newest first."""
    from lensforge.evaluate.api import list_evals

    df = list_evals(_ws())
    df = df.with_columns([pl.col(c).cast(pl.String) for c in df.columns if df[c].dtype in (pl.Datetime, pl.Date)])
    _print_json(df.to_dicts()) if as_json else _print_frame(df, title="evaluations")


@evals_app.command("show")
def evals_show(eval_id: Annotated[str, typer.Argument(help="Evaluation id.")], as_json: JsonOpt = False) -> None:
    """An evaluation's scores per dataset."""
    from lensforge.evaluate.api import get_eval

    info = get_eval(_ws(), eval_id)
    _print_json(info) if as_json else console.print_json(json.dumps(info, default=str, ensure_ascii=False))


@evals_app.command("compare")
def evals_compare(
    a: Annotated[str, typer.Argument(help="Evaluation id (e.g. the base model's).")],
    b: Annotated[str, typer.Argument(help="Evaluation id (e.g. the fine-tuned model's).")],
    as_json: JsonOpt = False,
) -> None:
    """Two evaluations side by side per dataset."""
    from lensforge.evaluate.api import compare
    from lensforge.evaluate.metrics import percent

    df = compare(_ws(), a, b)
    if as_json:
        _print_json(df.to_dicts())
        return
    shares = [c for c in df.columns if c.startswith("unparseable_rate")]
    _print_frame(
        df.with_columns(pl.col(c).map_elements(percent, return_dtype=pl.String) for c in shares), title=f"{a} vs {b}"
    )


@app.command()
def report(
    evals: Annotated[
        list[str], typer.Argument(help="Evaluation ids to put side by side (e.g. base, then fine-tuned).")
    ],
    run: Annotated[str | None, typer.Option("--run", help="The run whose loss curve to include.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder for report.md and report.html.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Markdown and HTML report: majority and classical baselines, models and SOTA per dataset, per language,
    per class, unparseable shares, loss curve."""
    from lensforge.evaluate.api import write_report

    res = write_report(_ws(), evals=evals, run_id=run, out_dir=out_dir)
    _print_json(res) if as_json else console.print(f"report written: {res.get('markdown')} and {res.get('html')}")


@app.command()
def baseline(
    snapshot: Annotated[str, typer.Argument(help="Snapshot id: train on its train split, score its test split.")],
    datasets: Annotated[list[str] | None, typer.Option("--datasets", help="Only these datasets (repeatable).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the classifier.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Classical baseline: TF-IDF (word and character n-grams) + logistic regression per labelled dataset,
    scored and recorded like an evaluation."""
    from lensforge.evaluate.api import run_baseline

    res = run_baseline(_ws(), snapshot, datasets=datasets, seed=seed, actor=_actor())
    if as_json:
        _print_json(res)
        return
    console.print(f"classical baseline {res['eval_id']} {res['status']} in {res.get('wall_seconds', 0):.1f} s")
    _print_frame(pl.DataFrame(_score_rows(res)), title="scores")
    for did, why in res["skipped"].items():
        console.print(f"skipped {did}: {why}")
