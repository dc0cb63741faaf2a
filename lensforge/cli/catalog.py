"""`lensforge init`, `version` and `catalog ...`: the candidate registry."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.table import Table

from lensforge import __version__
from lensforge.cli.common import (
    JsonOpt,
    _actor,
    _print_counts,
    _print_frame,
    _print_json,
    _ws,
    app,
    console,
    err_console,
    state,
)


@app.command()
def version() -> None:
    """Print the lensforge version."""
    console.print(__version__)


@app.command()
def init(
    demo: Annotated[bool, typer.Option("--demo", help="Also register the embedded demo corpus.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create the workspace and load the built-in dataset registry into its catalog."""
    from lensforge.catalog.setup import init_workspace

    collections = ("llamalens", "demo") if demo else ("llamalens",)
    result = init_workspace(state.workspace, actor=_actor(), collections=collections)
    if as_json:
        _print_json(result)
        return
    verb = "created" if result["created"] else "already existed; updated"
    console.print(f"workspace {result['workspace']} {verb} (schema v{result['schema_version']})")
    for name, counts in result["imported"].items():
        console.print(
            f"  registry {name}: {counts['added']} added, {counts['updated']} updated, {counts['unchanged']} unchanged"
        )


catalog_app = typer.Typer(
    help="Candidate datasets: list, inspect, diff, select or exclude, import, export.", no_args_is_help=True
)
app.add_typer(catalog_app, name="catalog")


@catalog_app.command("list")
def catalog_list(
    language: Annotated[str | None, typer.Option(help="Only this language code (ar, en, hi, ...).")] = None,
    task: Annotated[str | None, typer.Option(help="Only tasks containing this text.")] = None,
    status: Annotated[str | None, typer.Option(help="candidate, selected or excluded.")] = None,
    collection: Annotated[str | None, typer.Option(help="llamalens, demo or user.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List candidate datasets."""
    from lensforge.catalog.datasets import list_datasets

    df = list_datasets(_ws(), language=language, task=task, status=status, collection=collection)
    if as_json:
        _print_json(df.to_dicts())
    else:
        _print_frame(df.drop("name"), title=f"{df.height} datasets")


@catalog_app.command("show")
def catalog_show(
    ref: Annotated[str, typer.Argument(help="NAME[@VERSION], optionally LANG/NAME[@VERSION].")],
    as_json: JsonOpt = False,
) -> None:
    """Show every recorded field of one dataset."""
    from lensforge.catalog.datasets import show_dataset

    info = show_dataset(_ws(), ref)
    if as_json:
        _print_json(info)
        return
    table = Table(title=info["dataset_id"], show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in info.items():
        if key == "label_space":
            value = ", ".join(lab["label"] for lab in value)
        elif isinstance(value, dict | list):
            value = json.dumps(value, ensure_ascii=False)
        table.add_row(key, "" if value is None else str(value))
    console.print(table)


@catalog_app.command("labels")
def catalog_labels(ref: Annotated[str, typer.Argument(help="NAME[@VERSION].")], as_json: JsonOpt = False) -> None:
    """Show a dataset's label space with native-language names where known."""
    from lensforge.catalog.datasets import dataset_labels

    df = dataset_labels(_ws(), ref)
    if as_json:
        _print_json(df.to_dicts())
    else:
        _print_frame(df, title=f"label space of {df['dataset_id'][0] if df.height else ref}")


@catalog_app.command("diff")
def catalog_diff(
    a: Annotated[str, typer.Argument(help="First dataset NAME[@VERSION].")],
    b: Annotated[str, typer.Argument(help="Second dataset NAME[@VERSION].")],
    as_json: JsonOpt = False,
) -> None:
    """Metadata and label-space differences between two datasets or versions."""
    from lensforge.catalog.datasets import diff_datasets

    d = diff_datasets(_ws(), a, b)
    if as_json:
        _print_json(d)
        return
    table = Table(title=f"{d['a']}  vs  {d['b']}")
    table.add_column("field", style="bold")
    table.add_column(d["a"], overflow="fold", max_width=50)
    table.add_column(d["b"], overflow="fold", max_width=50)
    for f in d["fields"]:
        fa, fb = (json.dumps(x, ensure_ascii=False) if isinstance(x, dict | list) else x for x in (f["a"], f["b"]))
        table.add_row(f["field"], "" if fa is None else str(fa), "" if fb is None else str(fb))
    console.print(table)
    labels = d["labels"]
    console.print(f"labels in both: {', '.join(labels['common']) or '-'}")
    console.print(f"only in {d['a']}: {', '.join(labels['only_in_a']) or '-'}")
    console.print(f"only in {d['b']}: {', '.join(labels['only_in_b']) or '-'}")
    for v in labels["spelling_variants"]:
        console.print(f"spelling variant: {v['a']!r} ~ {v['b']!r}")
    pub = d["published_labels"]
    if pub["only_in_a"] or pub["only_in_b"]:
        console.print(
            f"published labels only in {d['a']}: {', '.join(pub['only_in_a']) or '-'}; "
            f"only in {d['b']}: {', '.join(pub['only_in_b']) or '-'}"
        )


@catalog_app.command("select")
def catalog_select(ref: Annotated[str, typer.Argument(help="NAME[@VERSION].")], as_json: JsonOpt = False) -> None:
    """Mark a candidate as selected for the mixture."""
    from lensforge.catalog.datasets import set_status

    res = set_status(_ws(), ref, "selected", actor=_actor())
    _print_json(res) if as_json else console.print(f"{res['dataset_id']}: {res['from']} -> selected")


@catalog_app.command("exclude")
def catalog_exclude(
    ref: Annotated[str, typer.Argument(help="NAME[@VERSION].")],
    reason: Annotated[str, typer.Option("--reason", help="Why it is excluded (recorded).")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Exclude a candidate, with a reason."""
    from lensforge.catalog.datasets import set_status

    res = set_status(_ws(), ref, "excluded", actor=_actor(), reason=reason)
    _print_json(res) if as_json else console.print(f"{res['dataset_id']}: {res['from']} -> excluded ({reason})")


@catalog_app.command("import")
def catalog_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="A YAML registry file (one entry or a list), a CSV in the reference format, or a SOTA CSV "
            "(columns dataset, metric, value, citation; optional split, confidence, note)."
        ),
    ],
    reset_status: Annotated[bool, typer.Option(help="Overwrite curators' select/exclude decisions.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add or update candidates from a validated YAML or CSV file, or set published SOTA scores from a SOTA CSV."""
    from lensforge.catalog.datasets import import_file

    res = import_file(_ws(), file, actor=_actor(), reset_status=reset_status)
    if as_json:
        _print_json({k: v for k, v in res.items() if k != "kind"})
    elif res["kind"] == "sota":
        console.print(f"{file}: SOTA set for {len(res['updated'])} dataset(s): {', '.join(res['updated'])}")
    else:
        console.print(
            f"{file}: {len(res['added'])} added, {len(res['updated'])} updated, {len(res['unchanged'])} unchanged"
        )


@catalog_app.command("export")
def catalog_export(
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Export the candidate table."""
    from lensforge.catalog.datasets import export_catalog
    from lensforge.workspace import write_text_atomic

    text = export_catalog(_ws(), fmt)
    if output:
        write_text_atomic(output, text)
        err_console.print(f"wrote {output}")
    else:
        sys.stdout.write(text)


@catalog_app.command("summary")
def catalog_summary(as_json: JsonOpt = False) -> None:
    """Counts by status, language, task, task type, capability and collection."""
    from lensforge.catalog.datasets import catalog_summary as summarise

    s = summarise(_ws())
    if as_json:
        _print_json(s)
        return
    console.print(f"[bold]{s['total']}[/bold] candidate datasets, {s['labels'].get('distinct', 0)} distinct labels")
    for key, title in (
        ("by_status", "by status"),
        ("by_language", "by language"),
        ("by_task_type", "by task type"),
        ("by_capability", "by capability"),
        ("by_task", "by task"),
    ):
        _print_counts(title, s[key])
    console.print(f"{len(s['with_ingest_spec'])} datasets have an ingestion spec")


@catalog_app.command("events")
def catalog_events(
    subject: Annotated[str | None, typer.Option(help="Only events about this subject.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 30,
    as_json: JsonOpt = False,
) -> None:
    """The audit log: recent events."""
    from lensforge.catalog.events import list_events

    df = list_events(_ws(), subject=subject, limit=limit)
    if as_json:
        _print_json(df.to_dicts())
    else:
        _print_frame(df.with_columns(pl.col("payload").str.slice(0, 100)), title="events")
