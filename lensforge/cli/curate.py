"""`lensforge labels ...` and `curate plan`: label mappings and mixture plans."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.table import Table

from lensforge.cli.common import (
    JsonOpt,
    ReasonOpt,
    _actor,
    _print_frame,
    _print_json,
    _ws,
    app,
    console,
)

labels_app = typer.Typer(
    help="Label mappings: review proposals, approve, reject, set; the audit log.", no_args_is_help=True
)
curate_app = typer.Typer(help="Mixture plans and caps.", no_args_is_help=True)
app.add_typer(labels_app, name="labels")
app.add_typer(curate_app, name="curate")


def _print_review(rev: dict[str, Any]) -> None:
    console.print(
        f"[bold]{rev['dataset_id']}[/bold] version {rev['version_id']} | task {rev['task']} "
        f"(canonical set: {rev['task_group'] or 'none'}: {', '.join(rev['task_labels']) or '-'})"
    )
    table = Table(title=f"label mappings ({rev['pending']} pending) - mapping version {rev['mapping_version_id']}")
    for col in ("source label", "canonical", "status", "author", "train", "dev", "test", "reason"):
        table.add_column(col, overflow="fold", max_width=70)
    counts = {r["raw_label"]: r for r in rev["per_label"]}
    for m in rev["mappings"]:
        c = counts.get(m["raw_label"], {})
        colour = {"approved": "green", "rejected": "red"}.get(m["status"], "yellow")
        table.add_row(
            m["raw_label"],
            str(m["canonical"] or ""),
            f"[{colour}]{m['status']}[/{colour}]",
            m["author"],
            str(c.get("train", 0)),
            str(c.get("dev", 0)),
            str(c.get("test", 0)),
            m["reason"],
        )
    console.print(table)
    console.print("before: " + ", ".join(f"{k} {v}" for k, v in rev["before"].items()))
    console.print("after:  " + ", ".join(f"{k} {v}" for k, v in rev["after"].items()))
    for target, raws in rev["merged"].items():
        console.print(f"merged into {target}: {', '.join(raws)}")
    for u in rev["unmapped"]:
        console.print(f"[red]unmapped[/red] {u['raw_label']} ({u['rows']} rows, {u['status']})")


@labels_app.command("review")
def labels_review(
    ref: Annotated[str, typer.Argument(help="Dataset NAME[@VERSION].")], as_json: JsonOpt = False
) -> None:
    """Proposed mappings with their impact: rows per label, classes before and after, merges."""
    from lensforge.curate.mappings import review

    rev = review(_ws(), ref)
    _print_json(rev) if as_json else _print_review(rev)


@labels_app.command("approve")
def labels_approve(
    ref: Annotated[str, typer.Argument(help="Dataset NAME[@VERSION].")],
    raws: Annotated[list[str] | None, typer.Argument(help="Source labels to approve.")] = None,
    all_auto: Annotated[bool, typer.Option("--all-auto", help="Approve every automatic proposal.")] = False,
    reason: ReasonOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Approve proposed mappings."""
    from lensforge.curate.mappings import approve

    res = approve(_ws(), ref, raws or [], actor=_actor(), all_auto=all_auto, reason=reason)
    if as_json:
        _print_json(res)
    else:
        for c in res["changes"]:
            console.print(f"{res['dataset_id']}: {c['raw']} -> {c['to']['canonical']} approved")
        console.print(f"mapping version {res['mapping_version_id']}")


@labels_app.command("reject")
def labels_reject(
    ref: Annotated[str, typer.Argument(help="Dataset NAME[@VERSION].")],
    raw: Annotated[str, typer.Argument(help="Source label.")],
    reason: ReasonOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Reject a mapping: rows with that label stay out of snapshots."""
    from lensforge.curate.mappings import reject

    res = reject(_ws(), ref, raw, actor=_actor(), reason=reason or "")
    _print_json(res) if as_json else console.print(f"{res['dataset_id']}: {raw} rejected")


@labels_app.command("set")
def labels_set(
    ref: Annotated[str, typer.Argument(help="Dataset NAME[@VERSION].")],
    raw: Annotated[str, typer.Argument(help="Source label.")],
    canonical: Annotated[str, typer.Argument(help="Canonical label.")],
    reason: ReasonOpt = None,
    new_label: Annotated[
        bool, typer.Option("--new-label", help="Allow a name outside the task's set (and add it).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Map a source label to a canonical label of your choice."""
    from lensforge.curate.mappings import set_label

    res = set_label(_ws(), ref, raw, canonical, actor=_actor(), reason=reason or "", new_label=new_label)
    _print_json(res) if as_json else console.print(f"{res['dataset_id']}: {raw} -> {canonical} (approved)")


@labels_app.command("log")
def labels_log(ref: Annotated[str, typer.Argument(help="Dataset NAME[@VERSION].")], as_json: JsonOpt = False) -> None:
    """The audit log of a dataset's label mappings."""
    from lensforge.curate.mappings import audit_log

    df = audit_log(_ws(), ref)
    _print_json(df.to_dicts()) if as_json else _print_frame(df.with_columns(pl.col("payload").str.slice(0, 120)))


@curate_app.command("plan")
def curate_plan(
    file: Annotated[Path, typer.Argument(help="Mixture TOML file.")],
    as_json: JsonOpt = False,
) -> None:
    """Totals per language, task and dataset, and what the caps remove, before anything is built."""
    from lensforge.curate.mixture import load_plan, plan_summary

    summary = plan_summary(_ws(), load_plan(file))
    if as_json:
        _print_json(summary)
        return
    console.print(f"[bold]{summary['name']}[/bold] seed {summary['seed']} caps {summary['caps']}")
    rows = [
        {
            "dataset": d["dataset_id"],
            "version": d["version_id"],
            "train": d["after"]["train"],
            "dev": d["after"]["dev"],
            "test": d["after"]["test"],
            "cap removed": d["removed_by_caps"]["train"],
            "max dev. (pp)": round(100 * d["cap_max_deviation"], 3),
            "pending labels": len(d["pending_labels"]),
            "rejected rows": d["rejected_rows"],
        }
        for d in summary["datasets"]
    ]
    _print_frame(pl.DataFrame(rows), title="per dataset")
    _print_frame(pl.DataFrame(summary["by_language"]), title="per language")
    _print_frame(pl.DataFrame(summary["by_task"]), title="per task")
    t, r = summary["totals"], summary["removed_by_caps"]
    console.print(f"total: train {t['train']}, dev {t['dev']}, test {t['test']}; caps removed {r}")
    if summary["pending_labels"]:
        console.print(f"[yellow]{summary['pending_labels']} label mapping(s) still pending review[/yellow]")
