"""`lensforge snapshot ...` and `publish`: immutable snapshots and their publication."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from lensforge.cli.common import (
    JsonOpt,
    _actor,
    _print_frame,
    _print_json,
    _ws,
    app,
    console,
)
from lensforge.errors import LensforgeError

snapshot_app = typer.Typer(
    help="Immutable snapshots built from a mixture: build, verify, list, show, diff.", no_args_is_help=True
)
app.add_typer(snapshot_app, name="snapshot")


@snapshot_app.command("build")
def snapshot_build(
    mixture: Annotated[Path, typer.Argument(help="Mixture TOML file.")],
    order: Annotated[
        str | None, typer.Option(help="alphabetical, language, task or random (default: the mixture's, else language).")
    ] = None,
    instructions: Annotated[
        str | None, typer.Option(help="en, native or both (default: the mixture's, else en).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (default: the mixture's).")] = None,
    allow_proposed: Annotated[
        bool, typer.Option("--allow-proposed", help="Use unreviewed label mappings (recorded).")
    ] = False,
    allow_invalid: Annotated[
        str | None, typer.Option("--allow-invalid", help="REASON to use versions that failed validation.")
    ] = None,
    allow_excluded: Annotated[
        str | None, typer.Option("--allow-excluded", help="REASON to use excluded or superseded datasets (recorded).")
    ] = None,
    on_cross_leak: Annotated[
        str,
        typer.Option(
            "--on-cross-leak",
            help="drop: remove train/dev rows equal to another dataset's held-out rows (listed); refuse: stop.",
        ),
    ] = "drop",
    as_json: JsonOpt = False,
) -> None:
    """Build an immutable snapshot (Parquet per split, dataset card, Croissant, licences, manifest)."""
    from lensforge.progress import progress_bar, step_callback
    from lensforge.release.snapshot import BUILD_STATUS_TEXT, build_snapshot

    bars = progress_bar(None if as_json else console)
    with bars:
        res = build_snapshot(
            _ws(),
            mixture,
            order=order,
            instructions=instructions,
            seed=seed,
            allow_proposed=allow_proposed,
            allow_invalid=allow_invalid,
            allow_excluded=allow_excluded,
            on_cross_leak=on_cross_leak,
            actor=_actor(),
            progress=step_callback(bars),
        )
    if as_json:
        _print_json(res)
        return
    verb = BUILD_STATUS_TEXT[res["status"]]
    console.print(f"snapshot {res['snapshot_id']} {verb}: {res['rows']} at {res['path']}")
    removed = res.get("cross_leak_removed") or {}
    if any(removed.values()):
        console.print(
            f"cross-dataset leakage: removed {removed.get('train', 0):,} train and {removed.get('dev', 0):,} dev rows "
            "equal to another dataset's held-out rows (listed in cross_leakage.parquet)"
        )


@snapshot_app.command("verify")
def snapshot_verify(snapshot_id: Annotated[str, typer.Argument(help="Snapshot id.")], as_json: JsonOpt = False) -> None:
    """Re-hash every file of a snapshot against its manifest; exits 1 when anything changed."""
    from lensforge.release.snapshot import verify_snapshot

    res = verify_snapshot(_ws(), snapshot_id)
    if as_json:
        _print_json(res)
    else:
        _print_frame(pl.DataFrame(res["files"]).select("path", "status", "expected"), title=f"{snapshot_id} files")
    if not res["ok"]:
        raise LensforgeError(f"snapshot {snapshot_id} does not match its manifest: " + "; ".join(res["problems"]))
    if not as_json:
        console.print(f"snapshot {snapshot_id}: all {len(res['files'])} files match the manifest")


@snapshot_app.command("list")
def snapshot_list(as_json: JsonOpt = False) -> None:
    """Snapshots, newest first, with where they were published."""
    from lensforge.release.store import list_snapshots

    df = list_snapshots(_ws()).with_columns(pl.col("created_at").cast(pl.String))
    _print_json(df.to_dicts()) if as_json else _print_frame(df, title="snapshots")


@snapshot_app.command("show")
def snapshot_show(snapshot_id: Annotated[str, typer.Argument(help="Snapshot id.")], as_json: JsonOpt = False) -> None:
    """A snapshot's manifest and publications."""
    from lensforge.release.store import get_snapshot

    info = get_snapshot(_ws(), snapshot_id)
    if as_json:
        _print_json(info)
        return
    m = info["manifest"]
    console.print(f"[bold]{info['snapshot_id']}[/bold] mixture {info['mixture']} rows {m['rows']} at {info['path']}")
    console.print(
        f"order {m['inputs']['order']}, instructions {m['inputs']['instructions']}, seed {m['inputs']['seed']}"
    )
    leak = m.get("cross_leakage")
    if leak:
        removed = leak.get("removed") or {}
        console.print(
            f"cross-dataset leakage ({leak.get('policy')}): {removed.get('train', 0):,} train and "
            f"{removed.get('dev', 0):,} dev rows removed, {len(leak.get('pairs') or [])} dataset pair(s)"
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
    from lensforge.release.snapshot import diff_snapshots

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
    from lensforge.release.publish import export_snapshot, publish_to_hub

    ws = _ws()
    if (repo is None) == (to_dir is None):
        raise LensforgeError("give --repo ORG/NAME or --to-dir DIR")
    if to_dir is not None:
        res = export_snapshot(ws, snapshot_id, to_dir, actor=_actor())
    else:
        res = publish_to_hub(ws, snapshot_id, repo, private=private, tag=tag, actor=_actor())
    _print_json(res) if as_json else console.print(f"published {snapshot_id} -> {res.get('url') or res['target']}")
