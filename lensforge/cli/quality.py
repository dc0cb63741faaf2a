"""`lensforge quality ...`: likely label errors, found with cleanlab over the classical model's predictions."""

from __future__ import annotations

from typing import Annotated

import polars as pl
import typer

from lensforge.cli.common import JsonOpt, _actor, _print_frame, _print_json, _ws, app, console

quality_app = typer.Typer(help="Data quality beyond ingest: likely label errors to review.", no_args_is_help=True)
app.add_typer(quality_app, name="quality")


@quality_app.command("label-issues")
def label_issues(
    name: Annotated[str, typer.Argument(help="Dataset NAME[@VERSION] (its current ingested version is scanned).")],
    folds: Annotated[int, typer.Option(help="Cross-validation folds for the out-of-fold probabilities.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the folds and the classifier.")] = 0,
    limit: Annotated[int, typer.Option(help="Show the N most likely errors (all are stored).")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Rank train/dev rows whose label is likely wrong: given label, suggested label, confidence and text.

    Each is answered with a row decision (relabel to the suggestion, exclude, or dismiss, with a reason),
    in the app's Label issues page or from the CLI; the decisions go to the audit log.
    """
    from lensforge.curate.label_issues import find_label_issues

    res = find_label_issues(_ws(), name, actor=_actor(), folds=folds, seed=seed)
    suggestions: pl.DataFrame = res.pop("suggestions")
    if as_json:
        _print_json({**res, "suggestions": suggestions.head(limit).to_dicts()})
        return
    console.print(
        f"{res['dataset_id']} version {res['version_id']}: {res['issues']} likely label errors among "
        f"{res['rows_scanned']} train/dev rows ({res['params']['folds']}-fold, {res['wall_seconds']:.1f} s); "
        f"scan {res['scan_id']}"
    )
    shown = suggestions.head(limit).select(
        "rank",
        "sample_id",
        "split",
        "given",
        "suggested",
        pl.col("confidence").round(3),
        pl.col("text").str.slice(0, 120),
    )
    _print_frame(shown, title=f"the {shown.height} most likely label errors")
