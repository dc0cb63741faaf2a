"""The `lensforge` command: one sub-command per stage, each a thin call into the stage's public API."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from lensforge import __version__
from lensforge.errors import LensforgeError
from lensforge.workspace import Workspace, current_user, resolve_workspace

console = Console()
if not console.is_terminal:
    console.width = 160  # piped output: wide tables rather than 80-column folds
err_console = Console(stderr=True)

app = typer.Typer(
    help="lensforge: curate labelled news and social-media datasets into a versioned instruction-tuning set.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
catalog_app = typer.Typer(
    help="Candidate datasets: list, inspect, diff, select or exclude, import, export.", no_args_is_help=True
)
app.add_typer(catalog_app, name="catalog")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")]


class State:
    workspace: Workspace
    user: str | None = None


state = State()


@app.callback()
def _root(
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace", "-w", help="Workspace directory (env LENSFORGE_HOME, default ./lensforge-workspace)."
        ),
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="Who is acting (env LENSFORGE_USER).")] = None,
) -> None:
    state.workspace = resolve_workspace(workspace)
    state.user = user


def _ws() -> Workspace:
    """The workspace, created and initialised on first use."""
    from lensforge.catalog.setup import ensure_initialised

    ensure_initialised(state.workspace, actor=_actor())
    return state.workspace


def _actor() -> str:
    return current_user(state.user)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def _print_frame(df: pl.DataFrame, title: str | None = None, max_width: int = 60) -> None:
    table = Table(title=title, show_lines=False)
    for col in df.columns:
        table.add_column(col, overflow="fold", max_width=max_width)
    for row in df.iter_rows():
        table.add_row(*["" if v is None else str(v) for v in row])
    console.print(table)


def _print_counts(title: str, counts: dict[str, int]) -> None:
    table = Table(title=title)
    table.add_column(title.split(" ")[-1])
    table.add_column("datasets", justify="right")
    for key, n in counts.items():
        table.add_row(key, str(n))
    console.print(table)


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


# ----------------------------------------------------------------------------- catalog


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
        Path, typer.Argument(help="A YAML registry file (one entry or a list) or a CSV in the reference format.")
    ],
    reset_status: Annotated[bool, typer.Option(help="Overwrite curators' select/exclude decisions.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add or update candidates from a validated YAML or CSV file."""
    from lensforge.catalog.datasets import import_entries
    from lensforge.catalog.registry import load_file

    ws = _ws()
    entries = load_file(file)
    res = import_entries(ws, entries, actor=_actor(), source=str(file), reset_status=reset_status)
    if as_json:
        _print_json(res.as_dict())
    else:
        console.print(f"{file}: {len(res.added)} added, {len(res.updated)} updated, {len(res.unchanged)} unchanged")


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


# ----------------------------------------------------------------------------- ingest


@app.command(context_settings={"allow_extra_args": False})
def ingest(
    names: Annotated[list[str] | None, typer.Argument(help="Datasets to ingest, or `report NAME`.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every dataset whose source can be found.")] = False,
    sources: Annotated[
        Path | None,
        typer.Option(
            "--sources", help="Folder of local mirrors, one sub-folder per dataset slug (env LENSFORGE_SOURCES)."
        ),
    ] = None,
    near_dup: Annotated[bool, typer.Option("--near-dup", help="Report MinHash-LSH near duplicates.")] = False,
    drop_near_dup: Annotated[
        bool, typer.Option("--drop-near-dup", help="Drop train rows that nearly duplicate a dev/test row.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed for carved-out splits.")] = 42,
    hub: Annotated[
        bool, typer.Option("--hub", help="With --all, also fetch Hub-only datasets (needs network).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Read, clean, dedup, split and validate datasets; `ingest report NAME` shows a version's report."""
    from lensforge.ingest.api import ingest_many, ingest_report, ingest_targets
    from lensforge.workspace import resolve_sources

    names = names or []
    ws = _ws()
    if names and names[0] == "report":
        if len(names) != 2:
            raise LensforgeError("usage: lensforge ingest report NAME")
        rep = ingest_report(ws, names[1])
        if as_json:
            _print_json(rep)
        else:
            _print_ingest_report(rep)
        return
    from lensforge.ingest.run import IngestParams

    params = IngestParams(seed=seed, near_dup=near_dup, drop_near_dup=drop_near_dup)
    targets = ingest_targets(ws, names, all_)
    result = ingest_many(
        ws,
        targets,
        sources=resolve_sources(sources),
        params=params,
        actor=_actor(),
        strict=not all_,
        console=None if as_json else console,
    )
    if as_json:
        _print_json(result)


def _print_ingest_report(rep: dict[str, Any]) -> None:
    v = rep["version"]
    console.print(f"[bold]{v['dataset_id']}[/bold] version {v['version_id']} ({'valid' if v['valid'] else 'INVALID'})")
    acc = rep["accounting"]
    console.print(
        f"read {acc['records_read']} | kept "
        + ", ".join(f"{k} {n}" for k, n in acc["kept"].items())
        + " | dropped "
        + (", ".join(f"{k} {n}" for k, n in acc["dropped"].items()) or "none")
    )
    console.print(f"split: {rep['split']['method']} (seed {rep['split']['seed']})")
    table = Table(title="validation (Great Expectations)")
    for col in ("expectation", "column", "success", "observed", "unexpected"):
        table.add_column(col, overflow="fold", max_width=60)
    for r in rep["validation"]:
        table.add_row(
            r["expectation"],
            str(r["column"] or ""),
            "yes" if r["success"] else "[red]NO[/red]",
            json.dumps(r["observed_value"], ensure_ascii=False)[:60],
            str(r["unexpected_count"]),
        )
    console.print(table)
    if rep["leakage"]:
        _print_frame(pl.DataFrame(rep["leakage"]), title="leakage removed (examples)")
    if rep["overlaps"]:
        _print_frame(pl.DataFrame(rep["overlaps"]), title="cross-dataset overlap")
    if rep.get("near_duplicates"):
        _print_frame(pl.DataFrame(rep["near_duplicates"]), title="near duplicates (examples)")


# ----------------------------------------------------------------------------- labels and curate

labels_app = typer.Typer(
    help="Label mappings: review proposals, approve, reject, set; the audit log.", no_args_is_help=True
)
curate_app = typer.Typer(help="Mixture plans and caps.", no_args_is_help=True)
app.add_typer(labels_app, name="labels")
app.add_typer(curate_app, name="curate")
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why (recorded in the audit log).")]


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


# ----------------------------------------------------------------------------- instructions, snapshots, publish

instruct_app = typer.Typer(
    help="Instruction factory: generate, review, edit, disable; the cost ledger.", no_args_is_help=True
)
snapshot_app = typer.Typer(
    help="Immutable snapshots built from a mixture: build, list, show, diff.", no_args_is_help=True
)
app.add_typer(instruct_app, name="instruct")
app.add_typer(snapshot_app, name="snapshot")


@instruct_app.command("generate")
def instruct_generate(
    names: Annotated[
        list[str] | None, typer.Argument(help="Datasets (default with --all: every ingested one).")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every dataset with an ingested version.")] = False,
    n: Annotated[int, typer.Option("--n", help="Instructions per dataset and language.")] = 20,
    provider: Annotated[
        list[str] | None,
        typer.Option(
            "--provider", help="openai, anthropic, offline (repeatable; default: those with a key, else offline)."
        ),
    ] = None,
    model: Annotated[list[str] | None, typer.Option("--model", help="PROVIDER=MODEL, e.g. openai=gpt-4o-mini.")] = None,
    languages: Annotated[str, typer.Option("--languages", help="en, native or both.")] = "both",
    batch: Annotated[bool, typer.Option("--batch", help="Send through the providers' batch APIs (resumable).")] = False,
    concurrency: Annotated[int, typer.Option(help="Requests in flight at once.")] = 4,
    as_json: JsonOpt = False,
) -> None:
    """Generate N validated instructions per dataset (English and native language)."""
    from lensforge.instruct.api import generate_many

    models = {}
    for item in model or []:
        name, sep, value = item.partition("=")
        if not sep or not value:
            raise LensforgeError(f"--model expects PROVIDER=MODEL, got {item!r}")
        models[name] = value
    result = generate_many(
        _ws(),
        names or [],
        all_=all_,
        n=n,
        provider_names=provider,
        models=models,
        languages=languages,
        batch=batch,
        concurrency=concurrency,
        actor=_actor(),
        console=None if as_json else console,
    )
    if as_json:
        _print_json(result)


@instruct_app.command("list")
def instruct_list(
    ref: Annotated[str | None, typer.Argument(help="Dataset NAME[@VERSION].")] = None,
    language: Annotated[str | None, typer.Option(help="Instruction language.")] = None,
    status: Annotated[str | None, typer.Option(help="active or disabled.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Instructions, by dataset and language."""
    from lensforge.instruct.store import list_instructions

    df = list_instructions(_ws(), ref, language=language, status=status)
    if as_json:
        _print_json(df.with_columns(pl.col("created_at").cast(pl.String)).to_dicts())
    else:
        _print_frame(
            df.select("instruction_id", "dataset_id", "language", "position", "status", "provider", "text"),
            title=f"{df.height} instructions",
            max_width=90,
        )


@instruct_app.command("show")
def instruct_show(iid: Annotated[str, typer.Argument(help="Instruction id.")], as_json: JsonOpt = False) -> None:
    """One instruction with its edit history."""
    from lensforge.instruct.store import show_instruction

    info = show_instruction(_ws(), iid)
    if as_json:
        _print_json(info)
        return
    for key, value in info.items():
        if key != "history":
            console.print(f"[bold]{key}[/bold]: {value}")
    for h in info["history"]:
        console.print(f"  {h['ts']} {h['actor']} {h['kind']} {h['payload']}")


@instruct_app.command("edit")
def instruct_edit(
    iid: Annotated[str, typer.Argument(help="Instruction id.")],
    text: Annotated[str, typer.Option("--text", help="The new text.")],
    reason: ReasonOpt = None,
) -> None:
    """Edit an instruction's text (the old text stays in the audit log)."""
    from lensforge.instruct.store import edit_instruction

    res = edit_instruction(_ws(), iid, text, actor=_actor(), reason=reason or "")
    console.print(f"{res['instruction_id']} edited")


@instruct_app.command("disable")
def instruct_disable(iid: Annotated[str, typer.Argument(help="Instruction id.")], reason: ReasonOpt = None) -> None:
    """Disable an instruction: snapshots stop using it."""
    from lensforge.instruct.store import set_status

    set_status(_ws(), iid, "disabled", actor=_actor(), reason=reason or "")
    console.print(f"{iid} disabled")


@instruct_app.command("enable")
def instruct_enable(iid: Annotated[str, typer.Argument(help="Instruction id.")], reason: ReasonOpt = None) -> None:
    """Re-enable a disabled instruction."""
    from lensforge.instruct.store import set_status

    set_status(_ws(), iid, "active", actor=_actor(), reason=reason or "")
    console.print(f"{iid} enabled")


@instruct_app.command("rejects")
def instruct_rejects(
    ref: Annotated[str | None, typer.Argument(help="Dataset.")] = None, as_json: JsonOpt = False
) -> None:
    """Candidate instructions that failed validation, with the reason."""
    from lensforge.instruct.store import rejects

    df = rejects(_ws(), ref)
    if as_json:
        _print_json(df.with_columns(pl.col("created_at").cast(pl.String)).to_dicts())
    else:
        _print_frame(
            df.select("dataset_id", "language", "provider", "reason", "text"),
            title=f"{df.height} rejected",
            max_width=80,
        )


@instruct_app.command("cost")
def instruct_cost(as_json: JsonOpt = False) -> None:
    """The cost ledger: tokens and USD per provider, model and dataset."""
    from lensforge.instruct.ledger import cost_summary

    df = cost_summary(_ws())
    _print_json(df.to_dicts()) if as_json else _print_frame(df, title="cost ledger")


@snapshot_app.command("build")
def snapshot_build(
    mixture: Annotated[Path, typer.Argument(help="Mixture TOML file.")],
    order: Annotated[str, typer.Option(help="alphabetical, language, task or random.")] = "language",
    instructions: Annotated[str, typer.Option(help="en, native or both.")] = "en",
    seed: Annotated[int | None, typer.Option(help="Seed (default: the mixture's).")] = None,
    allow_proposed: Annotated[
        bool, typer.Option("--allow-proposed", help="Use unreviewed label mappings (recorded).")
    ] = False,
    allow_invalid: Annotated[
        str | None, typer.Option("--allow-invalid", help="REASON to use versions that failed validation.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Build an immutable snapshot (Parquet per split, dataset card, manifest)."""
    from lensforge.instruct.snapshot import build_snapshot

    res = build_snapshot(
        _ws(),
        mixture,
        order=order,
        instructions=instructions,
        seed=seed,
        allow_proposed=allow_proposed,
        allow_invalid=allow_invalid,
        actor=_actor(),
    )
    if as_json:
        _print_json(res)
    else:
        verb = "built" if res["status"] == "new" else "already built (unchanged)"
        console.print(f"snapshot {res['snapshot_id']} {verb}: {res['rows']} at {res['path']}")


@snapshot_app.command("list")
def snapshot_list(as_json: JsonOpt = False) -> None:
    """Snapshots, newest first, with where they were published."""
    from lensforge.instruct.snapshot import list_snapshots

    df = list_snapshots(_ws()).with_columns(pl.col("created_at").cast(pl.String))
    _print_json(df.to_dicts()) if as_json else _print_frame(df, title="snapshots")


@snapshot_app.command("show")
def snapshot_show(snapshot_id: Annotated[str, typer.Argument(help="Snapshot id.")], as_json: JsonOpt = False) -> None:
    """A snapshot's manifest and publications."""
    from lensforge.instruct.snapshot import get_snapshot

    info = get_snapshot(_ws(), snapshot_id)
    if as_json:
        _print_json(info)
        return
    m = info["manifest"]
    console.print(f"[bold]{info['snapshot_id']}[/bold] mixture {info['mixture']} rows {m['rows']} at {info['path']}")
    console.print(
        f"order {m['inputs']['order']}, instructions {m['inputs']['instructions']}, seed {m['inputs']['seed']}"
    )
    _print_frame(
        pl.DataFrame(
            [
                {
                    "dataset": d["dataset_id"],
                    "version": d["version_id"],
                    "mapping": d["mapping_version_id"],
                    "train": d["rows"]["train"],
                    "dev": d["rows"]["dev"],
                    "test": d["rows"]["test"],
                    "instructions": len(d["instruction_ids"]),
                }
                for d in m["inputs"]["datasets"]
            ]
        ),
        title="inputs",
    )
    for p in info["publications"]:
        console.print(f"published to {p['target']} ({p['kind']}) commit {p['commit_sha']} {p['url'] or ''}")


@snapshot_app.command("diff")
def snapshot_diff(
    a: Annotated[str, typer.Argument(help="Snapshot id.")],
    b: Annotated[str, typer.Argument(help="Snapshot id.")],
    as_json: JsonOpt = False,
) -> None:
    """What differs between two snapshots."""
    from lensforge.instruct.snapshot import diff_snapshots

    d = diff_snapshots(_ws(), a, b)
    if as_json:
        _print_json(d)
        return
    console.print(f"only in {a}: {', '.join(d['only_in_a']) or '-'}")
    console.print(f"only in {b}: {', '.join(d['only_in_b']) or '-'}")
    for c in d["changed"]:
        console.print(
            f"{c['dataset_id']}: " + json.dumps({k: v for k, v in c.items() if k != "dataset_id"}, ensure_ascii=False)
        )
    for k, v in d["settings"].items():
        console.print(f"{k}: {v['a']} -> {v['b']}")
    console.print(f"rows: {d['rows']['a']} -> {d['rows']['b']}")


@app.command()
def publish(
    snapshot_id: Annotated[str, typer.Argument(help="Snapshot id.")],
    repo: Annotated[str | None, typer.Option("--repo", help="Hub dataset repo ORG/NAME.")] = None,
    private: Annotated[bool, typer.Option("--private", help="Create the repo private.")] = False,
    tag: Annotated[str | None, typer.Option("--tag", help="Tag the upload commit.")] = None,
    to_dir: Annotated[
        Path | None, typer.Option("--to-dir", help="Write the Hub layout to a local folder instead.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Publish a snapshot to the Hugging Face Hub (token from HF_TOKEN), or export it in Hub layout."""
    from lensforge.instruct.publish import export_snapshot, publish_to_hub

    ws = _ws()
    if (repo is None) == (to_dir is None):
        raise LensforgeError("give --repo ORG/NAME or --to-dir DIR")
    if to_dir is not None:
        res = export_snapshot(ws, snapshot_id, to_dir, actor=_actor())
    else:
        res = publish_to_hub(ws, snapshot_id, repo, private=private, tag=tag, actor=_actor())
    _print_json(res) if as_json else console.print(f"published {snapshot_id} -> {res.get('url') or res['target']}")


# ----------------------------------------------------------------------------- finetune, evaluate, report, app

runs_app = typer.Typer(help="Fine-tuning runs: list, show, cancel.", no_args_is_help=True)
evals_app = typer.Typer(help="Evaluations: list, show, compare.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
app.add_typer(evals_app, name="evals")


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
    """Fine-tune a base model on a snapshot (LoRA/QLoRA) and record the run."""
    from lensforge.finetune.api import parse_overrides, start_background, train

    ws = _ws()
    overrides = parse_overrides(set_ or [])
    if background:
        run_id = start_background(ws, snapshot, base, preset, overrides, _actor(), resume=resume)
        _print_json({"run_id": run_id}) if as_json else console.print(f"run {run_id} started in the background")
        return

    def progress(info: dict[str, Any]) -> None:
        if not as_json and "step" in info and info.get("loss") is not None:
            console.print(f"step {info['step']}: loss {info['loss']:.4f}", highlight=False)

    res = train(
        ws, snapshot, base=base, preset=preset, overrides=overrides, actor=_actor(), resume=resume, on_progress=progress
    )
    if as_json:
        _print_json(res)
    else:
        console.print(
            f"run {res['run_id']} {res['status']}: adapter {res.get('adapter_path')}, "
            f"final loss {res.get('final_loss')}"
        )


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


def _resolve_eval_model(
    ws: Workspace, model: str | None, adapter: str | None, snapshot: str
) -> tuple[str, str | None, str | None, str | None]:
    """(model path or name, adapter path, run id, chat format) from what the user typed."""
    from lensforge.finetune.api import get_run, resolve_base
    from lensforge.instruct.snapshot import snapshot_dir

    run_id = None
    if adapter and not Path(adapter).exists():
        run = get_run(ws, adapter)  # a run id: its adapter, and its base unless --model says otherwise
        run_id = run["run_id"]
        adapter = str(ws.root / run["adapter_path"]) if run.get("adapter_path") else None
        if adapter is None:
            raise LensforgeError(f"run {run_id} has no adapter (status {run['status']})")
        model = model or run["base_model"]
    if not model:
        raise LensforgeError("give --model (a base model, or tiny) or --adapter RUN")
    if model == "tiny":
        path, fmt = resolve_base(ws, "tiny", snapshot_dir(ws, snapshot))
        return path, adapter, run_id, fmt.name
    return model, adapter, run_id, None


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
    chat_format: Annotated[str | None, typer.Option("--chat-format", help="llama3, llama2, mistral or tiny.")] = None,
    score_labels: Annotated[
        bool, typer.Option("--score-labels", help="Score each label by log-probability (AUC).")
    ] = False,
    limit: Annotated[int | None, typer.Option("--limit", help="At most N test rows per dataset.")] = None,
    batch_size: Annotated[int, typer.Option(help="Generation batch size.")] = 16,
    as_json: JsonOpt = False,
) -> None:
    """Zero-shot evaluation on each dataset's test split with its first instruction."""
    from lensforge.evaluate.api import evaluate as run_eval

    ws = _ws()
    if backend == "transformers":
        model, adapter, run_id, fmt = _resolve_eval_model(ws, model, adapter, snapshot)
    else:
        run_id, fmt = None, None
        if not model:
            raise LensforgeError("give --model (the name the server serves)")
    res = run_eval(
        ws,
        model=model,
        snapshot_id=snapshot,
        adapter=adapter,
        run_id=run_id,
        datasets=datasets,
        backend=backend,
        base_url=base_url,
        chat_format=chat_format or fmt,
        score_labels=score_labels,
        batch_size=batch_size,
        actor=_actor(),
        limit_per_dataset=limit,
    )
    if as_json:
        _print_json(res)
        return
    console.print(f"evaluation {res['eval_id']} {res['status']} in {res.get('wall_seconds', 0):.1f} s")
    rows = [
        {
            "dataset": d["dataset_id"],
            "metric": d["primary_metric"],
            "score": round(d["primary_value"], 4) if d["primary_value"] is not None else None,
            "n": d["n"],
            "unparseable": d["unparseable"],
            "sota": d.get("sota_value"),
        }
        for d in res["datasets"]
    ]
    _print_frame(pl.DataFrame(rows), title="scores")


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

    df = compare(_ws(), a, b)
    _print_json(df.to_dicts()) if as_json else _print_frame(df, title=f"{a} vs {b}")


@app.command()
def report(
    evals: Annotated[
        list[str], typer.Argument(help="Evaluation ids to put side by side (e.g. base, then fine-tuned).")
    ],
    run: Annotated[str | None, typer.Option("--run", help="The run whose loss curve to include.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder for report.md and report.html.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Markdown and HTML report: scores vs base vs SOTA, per language, unparseable rates, loss curve."""
    from lensforge.evaluate.api import write_report

    res = write_report(_ws(), evals=evals, run_id=run, out_dir=out_dir)
    _print_json(res) if as_json else console.print(f"report written: {res.get('markdown')} and {res.get('html')}")


@app.command("app")
def app_command(
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8501,
    host: Annotated[str, typer.Option(help="Address to bind (localhost by default).")] = "127.0.0.1",
) -> None:
    """Open the Streamlit curator app over this workspace."""
    from lensforge.app.launch import launch

    raise typer.Exit(launch(_ws(), host=host, port=port, user=state.user))


# ----------------------------------------------------------------------------- pipeline


@app.command()
def pipeline(
    as_json: JsonOpt = False,
) -> None:
    """Run every stage end to end on the embedded demo corpus."""
    from lensforge.pipeline import run_pipeline

    result = run_pipeline(
        state.workspace,
        actor=_actor(),
        log=err_console.print if as_json else console.print,
        console=None if as_json else console,
    )
    if as_json:
        _print_json(result)
        return
    report = Path(result["stages"]["report"]["markdown"])
    if report.is_file():
        console.rule("report")
        console.print(report.read_text(encoding="utf-8"), markup=False, highlight=False)


def main(argv: list[str] | None = None) -> None:
    """Entry point: expected failures print one line and exit 1; bugs keep their traceback."""
    try:
        app(args=argv)
    except LensforgeError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
