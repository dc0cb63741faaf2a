"""Immutable, content-addressed snapshots of the instruction dataset, built from a mixture plan.

Each train and dev sample gets one random active instruction of its dataset (seeded); test samples
get the dataset's first instruction (the paper's zero-shot setting). Rows carry `messages`
(system, user = instruction + input, assistant = "Label: ..." or "Summary: ...") that TRL and
axolotl read as chat data, plus flat columns. The snapshot id hashes the files, so the same
inputs give the same id and bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

from lensforge import __version__
from lensforge.catalog.db import connect, query_frame, transaction
from lensforge.catalog.events import record_event
from lensforge.catalog.sqlutil import fetch_one
from lensforge.curate.mixture import CuratedDataset, canonical_labels, curate_dataset, load_plan, resolve_plan
from lensforge.errors import LensforgeError
from lensforge.hashing import seeded_keys
from lensforge.ingest.versions import INGEST_CODE_VERSION, require_valid
from lensforge.instruct.generate import instruction_languages
from lensforge.instruct.store import active_texts
from lensforge.workspace import Workspace

ORDERS = ("alphabetical", "language", "task", "random")
SYSTEM_PROMPT = "You are a social media expert providing accurate analysis and insights."
SPLITS = ("train", "dev", "test")
MESSAGE = pl.Struct({"role": pl.String, "content": pl.String})
SNAPSHOT_SCHEMA = {
    "id": pl.String,
    "dataset": pl.String,
    "language": pl.String,
    "task": pl.String,
    "split": pl.String,
    "instruction_id": pl.String,
    "instruction": pl.String,
    "input": pl.String,
    "output": pl.String,
    "messages": pl.List(MESSAGE),
}
# zstd level 1: ~20% faster to write than level 3 here (2.7M chat rows), files slightly larger.
PARQUET: dict[str, Any] = {"compression": "zstd", "compression_level": 1, "statistics": True}


def format_input(text: pl.Expr, pair: pl.Expr) -> pl.Expr:
    """The model's input: the text, and for pair tasks the second text on its own line."""
    return pl.when(pair.is_null()).then(text).otherwise(pl.format("{}\nSecond text: {}", text, pair))


def format_output(curated: CuratedDataset) -> pl.Expr:
    task_type = curated.planned.entry.task_type
    if task_type == "multilabel":
        return pl.col("canonical").list.sort().list.join(", ")
    return pl.col("canonical").cast(pl.String)


def _dataset_rows(
    curated: CuratedDataset, pools: dict[str, list[dict[str, Any]]], first: dict[str, Any], seed: int
) -> pl.DataFrame:
    """Flat columns for one dataset: instruction per row (random for train/dev, the first for test)."""
    entry = curated.planned.entry
    rows = curated.rows
    ids = [p["instruction_id"] for p in pools["all"]]
    texts = [p["text"] for p in pools["all"]]
    pick = (seeded_keys(rows["sample_id"], seed, "instruction") % len(ids)).cast(pl.Int64)
    frame = rows.with_columns(pick.alias("_pick")).with_columns(
        pl.when(pl.col("split") == "test")
        .then(pl.lit(first["instruction_id"]))
        .otherwise(pl.col("_pick").replace_strict(list(range(len(ids))), ids, return_dtype=pl.String))
        .alias("instruction_id"),
        pl.when(pl.col("split") == "test")
        .then(pl.lit(first["text"]))
        .otherwise(pl.col("_pick").replace_strict(list(range(len(texts))), texts, return_dtype=pl.String))
        .alias("instruction"),
    )
    prefix = "Summary: " if entry.task_type == "generation" else "Label: "
    frame = frame.select(
        pl.col("sample_id").alias("id"),
        pl.col("dataset"),
        pl.col("language"),
        pl.col("task"),
        pl.col("split"),
        pl.col("instruction_id"),
        pl.col("instruction"),
        format_input(pl.col("text"), pl.col("text_pair")).alias("input"),
        format_output(curated).alias("output"),
    )
    # Messages are built per split just before writing (chat_messages): holding them for every row of every
    # split at once roughly doubled the build's peak memory at 2.7M rows.
    return frame.with_columns(pl.lit(prefix).alias("_prefix"))


ROLES = ("system", "user", "assistant")


def chat_messages(frame: pl.DataFrame) -> pl.Series:
    """list[{role, content}] per row. Built as one flat column and regrouped: measured ~5x faster than
    concatenating three struct literals per row (1.06 s vs 0.19 s for 111K rows)."""
    flat = (
        frame.with_row_index("_row")
        .select(
            "_row",
            pl.concat_list(
                pl.lit(SYSTEM_PROMPT),
                pl.concat_str([pl.col("instruction"), pl.lit("\nInput: "), pl.col("input")]),
                pl.col("_prefix") + pl.col("output"),
            ).alias("content"),
        )
        .explode("content")
    )
    flat = flat.with_columns(pl.Series("role", list(ROLES) * frame.height, dtype=pl.String))
    grouped = flat.group_by("_row", maintain_order=True).agg(pl.struct("role", "content").alias("messages"))
    return grouped["messages"]


def order_rows(frame: pl.DataFrame, order: str, seed: int) -> pl.DataFrame:
    """The paper's four data orders, applied within a split."""
    if order not in ORDERS:
        raise LensforgeError(f"unknown order {order!r} (use {', '.join(ORDERS)})")
    keyed = frame.with_columns(seeded_keys(frame["id"], seed, "order").alias("_r"))
    if order == "alphabetical":
        keyed = keyed.sort("language", "dataset", "id")
    elif order == "language":
        keyed = keyed.sort("language", "_r")
    elif order == "task":
        keyed = keyed.sort("task", "_r")
    else:
        keyed = keyed.sort("_r")
    return keyed.drop("_r")


def _file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_snapshot(
    ws: Workspace,
    plan_path: Path,
    *,
    order: str | None = None,
    instructions: str | None = None,
    seed: int | None = None,
    allow_proposed: bool = False,
    allow_invalid: str | None = None,
    actor: str,
) -> dict[str, Any]:
    """Build (or find) the snapshot of a mixture; refuses invalid versions and unreviewed mappings unless told."""
    from lensforge.release.card import render_card

    plan = load_plan(plan_path)
    order, instructions = order or plan.order or "language", instructions or plan.instructions or "en"
    if order not in ORDERS:
        raise LensforgeError(f"unknown order {order!r} (use {', '.join(ORDERS)})")
    seed = plan.seed if seed is None else seed
    planned = resolve_plan(ws, plan, allow_invalid=allow_invalid)
    # Instruction sets first: a dataset without active instructions stops the build before anything is written.
    pools: dict[str, dict[str, list[dict[str, Any]]]] = {}
    firsts: dict[str, dict[str, Any]] = {}
    for p in planned:
        langs = instruction_languages(p.entry, instructions)
        by_lang = {lang: active_texts(ws, p.dataset_id, lang) for lang in langs}
        empty = [lang for lang, items in by_lang.items() if not items]
        if empty:
            raise LensforgeError(
                f"{p.dataset_id} has no active {'/'.join(empty)} instructions",
                hint=f"run `lensforge instruct generate {p.dataset_id}` or re-enable disabled ones",
            )
        pools[p.dataset_id] = {"all": [i for lang in langs for i in by_lang[lang]]}
        firsts[p.dataset_id] = by_lang[langs[0]][0]
    with transaction(ws) as con:
        for p in planned:
            if not p.version["valid"]:
                require_valid(
                    con,
                    p.version["version_id"],
                    used_by=f"snapshot:{plan.name}",
                    actor=actor,
                    allow_invalid_reason=p.choice.allow_invalid,
                )
    # One dataset at a time: keep only the narrow snapshot rows, so memory holds one wide frame at most.
    frames, datasets_meta, inputs = [], [], []
    for p in planned:
        c = curate_dataset(
            ws, p, seed=seed, allow_proposed=allow_proposed, actor=actor, used_by=f"snapshot:{plan.name}", record=True
        )
        e = p.entry
        rows = {s: int(c.rows.filter(pl.col("split") == s).height) for s in SPLITS}
        frames.append(_dataset_rows(c, pools[p.dataset_id], firsts[p.dataset_id], seed))
        datasets_meta.append(
            {
                "dataset_id": p.dataset_id,
                "name": e.name,
                "language": e.language,
                "task": e.task,
                "task_type": e.task_type,
                "license": e.license,
                "citation": e.citation,
                "source_url": e.source_url,
                "label_space": canonical_labels(c.rows, e.task_type),
                "rows": rows,
            }
        )
        inputs.append(
            {
                "dataset_id": p.dataset_id,
                "version_id": p.version["version_id"],
                "mapping_version_id": c.mapping_version_id,
                "decision_set_id": c.decision_set_id,
                "row_decisions": c.row_decisions,
                "proposed_labels_used": c.pending_labels,
                "allow_invalid": p.choice.allow_invalid if not p.version["valid"] else None,
                "caps": p.caps,
                "rows_before_caps": c.before,
                "rows": rows,
                "rejected_label_rows": c.rejected_rows,
                "instruction_ids": [i["instruction_id"] for i in pools[p.dataset_id]["all"]],
                "test_instruction_id": firsts[p.dataset_id]["instruction_id"],
            }
        )
        del c
    everything = pl.concat(frames, how="vertical_relaxed")
    del frames
    manifest_inputs = {
        "mixture": plan.name,
        "order": order,
        "instructions": instructions,
        "seed": seed,
        "caps": plan.caps.model_dump(),
        "code_version": {"lensforge": __version__, "ingest": INGEST_CODE_VERSION},
        "datasets": inputs,
    }
    staging = Path(tempfile.mkdtemp(prefix=".snapshot.", dir=ws.snapshots_dir))
    try:
        (staging / "data").mkdir()
        counts = {}
        for split in SPLITS:
            part = order_rows(everything.filter(pl.col("split") == split), order, seed)
            part = part.with_columns(chat_messages(part).alias("messages"))
            part = part.select([pl.col(c).cast(t) for c, t in SNAPSHOT_SCHEMA.items()])
            part.write_parquet(staging / "data" / f"{split}.parquet", **PARQUET)
            counts[split] = part.height
        card = render_card(
            {"inputs": manifest_inputs},
            datasets_meta,
            title=f"lensforge snapshot: {plan.name}",
            summary={
                "rows": counts,
                "num_bytes": {k: (staging / "data" / f"{k}.parquet").stat().st_size for k in SPLITS},
                "order": order,
                "instructions": instructions,
                "seed": seed,
            },
        )
        (staging / "README.md").write_text(card, encoding="utf-8")
        outputs = {rel: _file_sha(staging / rel) for rel in ("README.md", *(f"data/{s}.parquet" for s in SPLITS))}
        snapshot_id = (
            "s"
            + hashlib.sha256(
                json.dumps({"inputs": manifest_inputs, "outputs": outputs}, sort_keys=True).encode()
            ).hexdigest()[:15]
        )
        manifest = {"snapshot_id": snapshot_id, "inputs": manifest_inputs, "outputs": outputs, "rows": counts}
        (staging / "manifest.json").write_text(
            json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True), encoding="utf-8"
        )
        target = ws.snapshots_dir / snapshot_id
        with connect(ws, read_only=True) as con:
            known = fetch_one(con, "SELECT snapshot_id FROM snapshots WHERE snapshot_id = ?", [snapshot_id])
        if known and target.is_dir():
            return {"snapshot_id": snapshot_id, "status": "unchanged", "path": str(target), "rows": counts}
        if target.exists():
            shutil.rmtree(target)  # a leftover without a catalog row: an interrupted earlier build
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    with transaction(ws) as con:
        con.execute(
            "INSERT INTO snapshots (snapshot_id, created_by, mixture, path, manifest, rows_train, rows_dev, rows_test) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [
                snapshot_id,
                actor,
                plan.name,
                str(target.relative_to(ws.root)),
                json.dumps(manifest, ensure_ascii=False),
                counts["train"],
                counts["dev"],
                counts["test"],
            ],
        )
        record_event(
            con,
            actor=actor,
            kind="snapshot.build",
            subject=snapshot_id,
            payload={
                "mixture": plan.name,
                "order": order,
                "instructions": instructions,
                "seed": seed,
                "rows": counts,
                "allow_proposed": allow_proposed,
                "allow_invalid": allow_invalid,
            },
        )
    return {"snapshot_id": snapshot_id, "status": "new", "path": str(target), "rows": counts}


def list_snapshots(ws: Workspace) -> pl.DataFrame:
    with connect(ws, read_only=True) as con:
        return query_frame(
            con,
            "SELECT s.snapshot_id, s.created_at, s.created_by, s.mixture, s.rows_train, s.rows_dev, s.rows_test, "
            "(SELECT string_agg(p.target, ', ') FROM publications p WHERE p.snapshot_id = s.snapshot_id) AS published "
            "FROM snapshots s ORDER BY s.created_at DESC",
        )


def get_snapshot(ws: Workspace, snapshot_id: str) -> dict[str, Any]:
    with connect(ws, read_only=True) as con:
        df = query_frame(con, "SELECT * FROM snapshots WHERE snapshot_id = ?", [snapshot_id])
        if df.height == 0:
            raise LensforgeError(f"no snapshot {snapshot_id!r}", hint="see `lensforge snapshot list`")
        pubs = query_frame(con, "SELECT * FROM publications WHERE snapshot_id = ? ORDER BY ts", [snapshot_id])
    row = df.to_dicts()[0]
    row["manifest"] = json.loads(row["manifest"])
    row["created_at"] = str(row["created_at"])
    row["publications"] = [{**p, "ts": str(p["ts"])} for p in pubs.to_dicts()]
    return row


def snapshot_dir(ws: Workspace, snapshot_id: str) -> Path:
    return ws.root / get_snapshot(ws, snapshot_id)["path"]


def diff_snapshots(ws: Workspace, a: str, b: str) -> dict[str, Any]:
    """Datasets added or removed, versions, mappings, instructions and row counts that changed."""
    ma, mb = get_snapshot(ws, a)["manifest"], get_snapshot(ws, b)["manifest"]
    da = {d["dataset_id"]: d for d in ma["inputs"]["datasets"]}
    db = {d["dataset_id"]: d for d in mb["inputs"]["datasets"]}
    changed = []
    for did in sorted(set(da) & set(db)):
        fields = {
            k: {"a": da[did][k], "b": db[did][k]}
            for k in ("version_id", "mapping_version_id", "rows", "test_instruction_id", "caps")
            if da[did][k] != db[did][k]
        }
        if set(da[did]["instruction_ids"]) != set(db[did]["instruction_ids"]):
            fields["instructions"] = {
                "added": sorted(set(db[did]["instruction_ids"]) - set(da[did]["instruction_ids"])),
                "removed": sorted(set(da[did]["instruction_ids"]) - set(db[did]["instruction_ids"])),
            }
        if fields:
            changed.append({"dataset_id": did, **fields})
    settings = {
        k: {"a": ma["inputs"][k], "b": mb["inputs"][k]}
        for k in ("order", "instructions", "seed", "caps")
        if ma["inputs"][k] != mb["inputs"][k]
    }
    return {
        "a": a,
        "b": b,
        "only_in_a": sorted(set(da) - set(db)),
        "only_in_b": sorted(set(db) - set(da)),
        "changed": changed,
        "settings": settings,
        "rows": {"a": ma["rows"], "b": mb["rows"]},
    }
