"""`lensforge labels ...`, `samples`, `rows ...` and `curate plan`: label mappings, the rows behind them,
row-level decisions and mixture plans."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
from lensforge.errors import LensforgeError

if TYPE_CHECKING:
    from lensforge.curate.decisions import Action

labels_app = typer.Typer(
    help="Label mappings: review proposals, approve, reject, set; the audit log.", no_args_is_help=True
)
curate_app = typer.Typer(help="Mixture plans and caps.", no_args_is_help=True)
rows_app = typer.Typer(
    help="Row-level decisions: relabel, exclude or dismiss single rows (by sample id, or every row a filter "
    "matches); applied when a snapshot is built.",
    no_args_is_help=True,
)
app.add_typer(labels_app, name="labels")
app.add_typer(curate_app, name="curate")
app.add_typer(rows_app, name="rows")


def _print_review(rev: dict[str, Any]) -> None:
    console.print(
        f"[bold]{rev['dataset_id']}[/bold] version {rev['version_id']} | task {rev['task']} "
        f"(canonical set: {rev['task_group'] or 'none'}: {', '.join(rev['task_labels']) or '-'})"
    )
    table = Table(title=f"label mappings ({rev['pending']} pending) - mapping version {rev['mapping_version_id']}")
    for col in ("source → decoded → canonical", "status", "author", "train", "dev", "test", "reason"):
        table.add_column(col, overflow="fold", max_width=70)
    counts = {r["raw_label"]: r for r in rev["per_label"]}
    for m in rev["mappings"]:
        c = counts.get(m["raw_label"], {})
        colour = {"approved": "green", "rejected": "red"}.get(m["status"], "yellow")
        table.add_row(
            m["chain"],
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
    """The audit log of a dataset's curation: label mappings and row decisions."""
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
            "relabeled": d["row_decisions"].get("relabeled", 0),
            "excluded": d["row_decisions"].get("excluded", 0),
        }
        for d in summary["datasets"]
    ]
    _print_frame(pl.DataFrame(rows), title="per dataset")
    _print_frame(pl.DataFrame(summary["by_language"]), title="per language")
    _print_frame(pl.DataFrame(summary["by_task"]), title="per task")
    _print_frame(
        pl.DataFrame([{"": "rows", **summary["totals"]}, {"": "removed by caps", **summary["removed_by_caps"]}]),
        title="totals",
    )
    if summary["pending_labels"]:
        console.print(f"[yellow]{summary['pending_labels']} label mapping(s) still pending review[/yellow]")


@labels_app.command("pending")
def labels_pending(as_json: JsonOpt = False) -> None:
    """The review queue: every dataset version with pending mappings, stale instructions or failed validation."""
    from lensforge.instruct.queue import review_queue

    queue = review_queue(_ws())
    if as_json:
        _print_json(queue)
    elif not queue:
        console.print("nothing pending: every current version is reviewed, valid and has instructions")
    else:
        _print_frame(pl.DataFrame(queue).drop("version_id"), title=f"review queue ({len(queue)} item(s))", max_width=80)


# ----------------------------------------------------------------------------- samples


LabelsOpt = Annotated[
    list[str] | None,
    typer.Option("--label", help="A label in any of its names: source, decoded or canonical (repeatable)."),
]
SplitOpt = Annotated[list[str] | None, typer.Option("--split", help="train, dev or test (repeatable).")]
SearchOpt = Annotated[
    str, typer.Option("--search", help="Words that must all occur in the text (case-insensitive, inside words).")
]


def _filter(names: list[str], labels: list[str] | None, splits: list[str] | None, search: str) -> Any:
    from lensforge.catalog.constants import SPLITS
    from lensforge.curate.samples import SampleFilter

    bad = [s for s in splits or [] if s not in SPLITS]
    if bad:
        raise LensforgeError(f"unknown split {bad[0]!r} (use {', '.join(SPLITS)})")
    return SampleFilter(datasets=tuple(names), splits=tuple(splits or ()), labels=tuple(labels or ()), text=search)


@app.command("samples")
def samples_command(
    names: Annotated[list[str], typer.Argument(help="Dataset NAME(s).")],
    labels: LabelsOpt = None,
    splits: SplitOpt = None,
    search: SearchOpt = "",
    limit: Annotated[int, typer.Option("--limit", min=1, help="Rows to show.")] = 20,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Rows to skip.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Kept rows of the current versions: the label chain, the text, and any curator decision on the row."""
    from lensforge.curate.mappings import chain_expr
    from lensforge.curate.samples import browse

    page = browse(_ws(), _filter(names, labels, splits, search), limit=limit, offset=offset)
    rows = page.rows.with_columns(chain_expr(pl.col("label_raw"), pl.col("label"), pl.col("canonical")).alias("chain"))
    if as_json:
        _print_json({"total": page.total, "offset": page.offset, "limit": page.limit, "rows": rows.to_dicts()})
        return
    shown = rows.select(
        "sample_id",
        "split",
        pl.col("chain").alias("source → decoded → canonical"),
        pl.when(pl.col("decided_label").is_not_null())
        .then(pl.format("{} → {}", "decision", "decided_label"))
        .otherwise(pl.col("decision").fill_null(""))
        .alias("decision"),
        "text",
    )
    _print_frame(
        shown,
        title=f"{page.total:,} matching rows (showing {page.offset + 1}-{page.offset + rows.height})",
        max_width=90,
    )


# ----------------------------------------------------------------------------- row decisions


IdsArg = Annotated[list[str] | None, typer.Argument(help="Sample ids (see `lensforge samples NAME --json`).")]
PreviewOpt = Annotated[bool, typer.Option("--preview", help="Count the rows it would touch; change nothing.")]
MatchLabelOpt = Annotated[
    list[str] | None, typer.Option("--match-label", help="Bulk: every row with this label (any of its names).")
]
MatchSplitOpt = Annotated[list[str] | None, typer.Option("--match-split", help="Bulk: rows of this split.")]
MatchSearchOpt = Annotated[str, typer.Option("--match-search", help="Bulk: rows whose text holds these words.")]


def _decide(
    action: Action,
    ref: str,
    ids: list[str] | None,
    label: str | None,
    reason: str | None,
    preview: bool,
    match: tuple[list[str] | None, list[str] | None, str],
    as_json: bool,
) -> None:
    """One row action on named rows, or (with `match`: labels, splits, search words) on every row it matches."""
    from lensforge.curate.decisions import decide_rows

    match_label, match_split, match_search = match
    bulk = bool(match_label or match_split or match_search)
    res = decide_rows(
        _ws(),
        ref,
        ids or [],
        action=action,
        label=label,
        reason=reason or "",
        actor=_actor(),
        preview=preview,
        match=_filter([], match_label, match_split, match_search) if bulk else None,
    )
    if as_json:
        _print_json(res)
        return
    verb = "would" if preview else "did"
    target = f" → {res['label']}" if res["label"] else ""
    console.print(
        f"{res['dataset_id']}: {action}{target} {verb} touch {res['rows']} row(s) "
        f"({res['restored_from_quarantine']} from the quarantine, {res['unchanged']} already so"
        + (", replacing " + ", ".join(f"{n} {a}" for a, n in res["replaces"].items()) if res["replaces"] else "")
        + ")"
    )
    if not preview:
        console.print(f"decision set {res['decision_set_id']} (event {res['event_id']})")


@rows_app.command("relabel")
def rows_relabel(
    ref: Annotated[str, typer.Argument(help="Dataset NAME.")],
    ids: IdsArg = None,
    label: Annotated[str, typer.Option("--label", help="The new canonical label (multi-label: comma-separated).")] = "",
    reason: ReasonOpt = None,
    preview: PreviewOpt = False,
    match_label: MatchLabelOpt = None,
    match_split: MatchSplitOpt = None,
    match_search: MatchSearchOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Give rows a new canonical label (restores rows quarantined for a label conflict or no label)."""
    _decide("relabel", ref, ids, label, reason, preview, (match_label, match_split, match_search), as_json)


@rows_app.command("exclude")
def rows_exclude(
    ref: Annotated[str, typer.Argument(help="Dataset NAME.")],
    ids: IdsArg = None,
    reason: ReasonOpt = None,
    preview: PreviewOpt = False,
    match_label: MatchLabelOpt = None,
    match_split: MatchSplitOpt = None,
    match_search: MatchSearchOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Keep rows out of every snapshot."""
    _decide("exclude", ref, ids, None, reason, preview, (match_label, match_split, match_search), as_json)


@rows_app.command("dismiss")
def rows_dismiss(
    ref: Annotated[str, typer.Argument(help="Dataset NAME.")],
    ids: IdsArg = None,
    reason: ReasonOpt = None,
    preview: PreviewOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Record that rows were looked at and stay as they are (e.g. a suggested label issue that is not one)."""
    _decide("dismiss", ref, ids, None, reason, preview, (None, None, ""), as_json)


@rows_app.command("clear")
def rows_clear(
    ref: Annotated[str, typer.Argument(help="Dataset NAME.")],
    ids: Annotated[list[str], typer.Argument(help="Sample ids.")],
    reason: ReasonOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Withdraw the decisions on rows (they go back to what the label mapping makes of them)."""
    from lensforge.curate.decisions import clear_row_decisions

    res = clear_row_decisions(_ws(), ref, ids, reason=reason or "", actor=_actor())
    _print_json(res) if as_json else console.print(f"{res['dataset_id']}: {res['rows']} decision(s) withdrawn")


@rows_app.command("list")
def rows_list(
    ref: Annotated[str | None, typer.Argument(help="Dataset NAME (default: every dataset).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The current row decisions, newest first."""
    from lensforge.curate.decisions import list_row_decisions

    df = list_row_decisions(_ws(), ref)
    _print_json(df.to_dicts()) if as_json else _print_frame(
        df.drop("event_id", "version_id"), title=f"{df.height} row decision(s)"
    )
