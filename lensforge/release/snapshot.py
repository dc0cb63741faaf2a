"""Immutable, content-addressed snapshots of the instruction dataset, built from a mixture plan.

Each train and dev sample gets one random active instruction of its dataset (seeded); test samples
get the dataset's first instruction (the paper's zero-shot setting). Rows carry `messages`
(system, user = instruction + input, assistant = "Label: ..." or "Summary: ...") that TRL and
axolotl read as chat data, plus flat columns. The snapshot id hashes the files, so the same
inputs give the same id and bytes.

Before anything is written the build refuses what would make the snapshot lie: excluded or superseded datasets
without a recorded reason, instructions written for a label space the approved mapping no longer gives, and (with
`on_cross_leak="refuse"`) rows shared between one dataset's training data and another's held-out data; by default
those training (and dev) rows are removed and listed. Files are written read-only and can be re-verified.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from lensforge import __version__
from lensforge.catalog.db import transaction
from lensforge.catalog.events import record_event
from lensforge.curate.mixture import (
    CuratedDataset,
    PlannedDataset,
    curate_dataset,
    exclusion_text,
    is_excluded,
    load_plan,
    resolve_plan,
)
from lensforge.errors import LensforgeError
from lensforge.hashing import seeded_keys
from lensforge.ingest.versions import INGEST_CODE_VERSION, require_valid
from lensforge.instruct.generate import instruction_languages
from lensforge.instruct.store import active_instructions
from lensforge.release.leakage import CrossLeakage, check_policy, find_cross_leakage, refuse
from lensforge.release.schema import (
    CARD,
    CROISSANT,
    HUB_SPLITS,
    LEAK_REPORT,
    LICENSES,
    MANIFEST,
    MESSAGE,
    SNAPSHOT_SCHEMA,
    SPLITS,
    SYSTEM_PROMPT,
    data_file,
)
from lensforge.release.store import get_snapshot, is_catalogued, list_snapshots, record_snapshot, snapshot_dir
from lensforge.release.verify import file_sha256, snapshot_id_of, verify_folder
from lensforge.workspace import Workspace, seal

__all__ = [
    "BUILD_STATUS_TEXT",
    "MESSAGE",
    "ORDERS",
    "SNAPSHOT_SCHEMA",
    "SYSTEM_PROMPT",
    "build_snapshot",
    "dataset_facts",
    "diff_snapshots",
    "get_snapshot",
    "list_snapshots",
    "snapshot_dir",
]

ORDERS = ("alphabetical", "language", "task", "random")
# What `build_snapshot`'s status means, in words the CLI and the app both show.
BUILD_STATUS_TEXT = {
    "new": "built",
    "repaired": "rebuilt (its files had changed)",
    "unchanged": "already built (unchanged)",
}
ROLES = ("system", "user", "assistant")
# Rows per Parquet row group: each group's chat messages are built, written and freed before the next, which bounds
# the build's memory at millions of rows (and suits the Hub's viewer, which reads row groups).
ROW_GROUP = 131_072
ZSTD_LEVEL = 1  # ~20% faster to write than level 3 here (2.7M chat rows), files slightly larger.
# The Arrow schema of the files (32-bit string offsets: what `datasets` holds them as).
ARROW_SCHEMA = pa.schema(
    [
        pa.field(name, pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])))
        if name == "messages"
        else pa.field(name, pa.string())
        for name in SNAPSHOT_SCHEMA
    ]
)

Progress = Callable[[str, int, int], None]
"""progress(step, done, total): called as the build advances (curate, leakage, write, hash)."""


def _silent(_step: str, _done: int, _total: int) -> None:
    return None


def format_input(text: pl.Expr, pair: pl.Expr) -> pl.Expr:
    """The model's input: the text, and for pair tasks the second text on its own line."""
    return pl.when(pair.is_null()).then(text).otherwise(pl.format("{}\nSecond text: {}", text, pair))


def format_output(curated: CuratedDataset) -> pl.Expr:
    task_type = curated.planned.entry.task_type
    if task_type == "multilabel":
        return pl.col("canonical").list.sort().list.join(", ")
    return pl.col("canonical").cast(pl.String)


@dataclass
class _Pool:
    """One dataset's active instructions: all of them (train/dev draw from these), the first is the test prompt."""

    items: list[dict[str, Any]]
    offset: int  # index of the first item in the build's instruction table


def _dataset_rows(curated: CuratedDataset, pool: _Pool, seed: int) -> pl.DataFrame:
    """Narrow columns for one dataset: the row's instruction as an index into the build's instruction table.

    Instruction texts (and the chat messages that repeat them) are materialised only when a row group is
    written, so the whole mixture is held once, in its narrowest form. One seeded hash per row (`_r`) orders the
    rows and picks the instruction (its low bits; the order depends on its high bits), one md5 pass instead of two.
    """
    entry = curated.planned.entry
    rows = curated.rows
    key = seeded_keys(rows["sample_id"], seed, "order")
    pick = (key % len(pool.items)).cast(pl.UInt32)
    pair = entry.task_type == "pair_classification" or rows["text_pair"].null_count() < rows.height
    return rows.select(
        pl.col("sample_id").alias("id"),
        pl.col("dataset"),
        pl.col("language"),
        pl.col("task"),
        pl.col("split"),
        # Test rows get the first instruction (index 0 of the pool), train and dev rows a seeded random one.
        (pl.when(pl.col("split") == "test").then(pl.lit(0, dtype=pl.UInt32)).otherwise(pick) + pool.offset).alias(
            "_instruction"
        ),
        (format_input(pl.col("text"), pl.col("text_pair")) if pair else pl.col("text")).alias("input"),
        format_output(curated).alias("output"),
        pl.lit("Summary: " if entry.task_type == "generation" else "Label: ").alias("_prefix"),
        pl.col("text_key"),
        key.alias("_r"),
    )


def chat_messages(frame: pl.DataFrame) -> pl.Series:
    """list[{role, content}] per row (system, user = instruction + input, assistant = prefix + output).

    The three contents are computed as columns, interleaved by a gather (Polars strings are views: this moves
    16-byte views, not text) and reshaped into three-element lists: measured ~1.6x faster than exploding a
    concatenated list and grouping it back per row.
    """
    n = frame.height
    parts = frame.select(
        pl.lit(SYSTEM_PROMPT, dtype=pl.String).alias("system"),
        pl.concat_str([pl.col("instruction"), pl.lit("\nInput: "), pl.col("input")]).alias("user"),
        (pl.col("_prefix") + pl.col("output")).alias("assistant"),
    )
    stacked = pl.concat([parts["system"], parts["user"], parts["assistant"]])
    order = pl.select((pl.int_range(0, 3 * n, dtype=pl.Int64) % 3) * n + pl.int_range(0, 3 * n, dtype=pl.Int64) // 3)
    content = stacked.gather(order.to_series())
    role = pl.select(
        (pl.int_range(0, 3 * n, dtype=pl.UInt32) % 3).replace_strict([0, 1, 2], list(ROLES), return_dtype=pl.String)
    ).to_series()
    flat = pl.DataFrame({"role": role, "content": content}).select(pl.struct("role", "content").alias("m"))["m"]
    return flat.reshape((n, 3)).cast(pl.List(MESSAGE)).alias("messages")


def order_rows(frame: pl.DataFrame, order: str, seed: int) -> pl.DataFrame:
    """The paper's four data orders, applied within a split.

    The shuffles sort on each row's seeded hash `_r` (computed once per row by the build; computed here when the
    frame lacks it), so the same seed gives the same order on every machine.
    """
    if order not in ORDERS:
        raise LensforgeError(f"unknown order {order!r} (use {', '.join(ORDERS)})")
    if order == "alphabetical":
        return frame.sort("language", "dataset", "id").drop("_r", strict=False)
    keyed = frame if "_r" in frame.columns else frame.with_columns(seeded_keys(frame["id"], seed, "order").alias("_r"))
    if order == "language":
        keyed = keyed.sort("language", "_r")
    elif order == "task":
        keyed = keyed.sort("task", "_r")
    else:
        keyed = keyed.sort("_r")
    return keyed.drop("_r")


# Parquet encoding: dictionaries only where values repeat (instructions, labels, names), statistics only on short
# columns. Dictionary attempts and min/max over the long texts cost ~20% of the write and help no reader.
DICTIONARY_COLUMNS = [
    "dataset",
    "language",
    "task",
    "split",
    "instruction_id",
    "instruction",
    "output",
    "messages.list.element.role",
]
STATISTICS_COLUMNS = ["id", "dataset", "language", "task", "split", "instruction_id", "output"]


def _arrow_group(chunk: pl.DataFrame, instructions: pl.DataFrame) -> pa.Table:
    """One row group as Arrow, in the file schema: instruction texts looked up, chat messages built."""
    texts = instructions.select(
        pl.col("instruction_id").gather(chunk["_instruction"]),
        pl.col("instruction").gather(chunk["_instruction"]),
    )
    chunk = chunk.with_columns(texts["instruction_id"], texts["instruction"])
    chunk = chunk.with_columns(chat_messages(chunk))
    return chunk.select(list(SNAPSHOT_SCHEMA)).to_arrow().cast(ARROW_SCHEMA)


class _HashingFile(io.RawIOBase):
    """A write-only file that hashes what goes through it, so a split's SHA-256 is known when its writer closes."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._file = open(path, "wb")
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.sha256.update(view)
        self._file.write(view)
        self.size += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        return self.size

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


@dataclass
class _Written:
    rows: int
    num_bytes: int  # Arrow size of the data: the card's `num_bytes`
    file_bytes: int
    sha256: str


def _write_split(part: pl.DataFrame, instructions: pl.DataFrame, path: Path) -> _Written:
    """Write one split's rows group by group, hashing the file as it is written.

    The next group is built (Polars) while a writer thread encodes the previous one (Arrow releases the GIL);
    groups are written in order, so the bytes never depend on timing.
    """
    nbytes = 0
    options: dict[str, Any] = {
        "compression": "zstd",
        "compression_level": ZSTD_LEVEL,
        "use_dictionary": DICTIONARY_COLUMNS,
        "write_statistics": STATISTICS_COLUMNS,
    }
    with _HashingFile(path) as sink, ThreadPoolExecutor(max_workers=1) as writer_thread:
        with pq.ParquetWriter(sink, ARROW_SCHEMA, **options) as writer:
            pending: Future[None] | None = None
            for start in range(0, part.height, ROW_GROUP):  # an empty split: a file with the schema and no rows
                table = _arrow_group(part.slice(start, ROW_GROUP), instructions)
                nbytes += table.nbytes
                if pending is not None:
                    pending.result()
                pending = writer_thread.submit(writer.write_table, table, row_group_size=ROW_GROUP)
            if pending is not None:
                pending.result()
        return _Written(part.height, nbytes, sink.size, sink.sha256.hexdigest())


def _write_splits(
    everything: pl.DataFrame, instructions: pl.DataFrame, folder: Path, *, order: str, seed: int, tick: Progress
) -> dict[str, _Written]:
    """Every split's file: train in one thread, dev then test in another.

    One Parquet writer encodes on one core, and train holds most rows: writing the smaller splits beside it keeps
    both cores busy. Each file's bytes depend only on its rows.
    """
    parts = {split: everything.filter(pl.col("split") == split) for split in SPLITS}
    done: list[str] = []

    def write(splits: tuple[str, ...]) -> dict[str, _Written]:
        out = {}
        for split in splits:
            rows = order_rows(parts.pop(split), order, seed)
            out[split] = _write_split(rows, instructions, folder / data_file(split))
            done.append(split)
            tick("write", len(done), len(SPLITS))
        return out

    tick("write", 0, len(SPLITS))
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = [pool.submit(write, ("train",)), pool.submit(write, ("dev", "test"))]
        written = {k: v for job in jobs for k, v in job.result().items()}
    return {split: written[split] for split in SPLITS}


def _label_space_drift(planned: PlannedDataset, pool: _Pool, current: list[str]) -> str | None:
    """A line naming the instructions of one dataset written for another label space, or None."""
    stale = [i for i in pool.items if i.get("label_space") is not None and i["label_space"] != current]
    if not stale:
        return None
    written_for = sorted({", ".join(i["label_space"]) or "(none)" for i in stale})
    return (
        f"{planned.dataset_id}: {len(stale)} active instruction(s) name {' / '.join(written_for)} "
        f"but the approved mapping gives {', '.join(current) or '(none)'}"
    )


def dataset_facts(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per dataset id of a snapshot manifest: its task, task type and label space (empty for older manifests).

    Later stages (evaluation) read task types here instead of parsing the card's prose.
    """
    out = {}
    for item in (manifest.get("inputs") or {}).get("datasets") or []:
        facts = {k: item[k] for k in ("task", "task_type", "label_space", "language") if k in item}
        if facts:
            out[item["dataset_id"]] = facts
    return out


def build_snapshot(
    ws: Workspace,
    plan_path: Path,
    *,
    order: str | None = None,
    instructions: str | None = None,
    seed: int | None = None,
    allow_proposed: bool = False,
    allow_invalid: str | None = None,
    allow_excluded: str | None = None,
    on_cross_leak: str = "drop",
    actor: str,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Build (or find) the snapshot of a mixture.

    Refuses invalid versions, unreviewed mappings and excluded datasets unless told (with a reason, recorded),
    and instructions written for another label space. Rows leaking from one dataset's held-out splits into another's
    train/dev are removed and listed (`on_cross_leak="drop"`) or refuse the build (`"refuse"`). `progress` is told
    each step's counts; the function itself prints nothing.
    """
    from lensforge.release.card import render_card, render_licenses
    from lensforge.release.croissant import render_croissant

    clock = _StepClock(progress or _silent)
    tick = clock.tick
    check_policy(on_cross_leak)
    plan = load_plan(plan_path)
    order, instructions = order or plan.order or "language", instructions or plan.instructions or "en"
    if order not in ORDERS:
        raise LensforgeError(f"unknown order {order!r} (use {', '.join(ORDERS)})")
    seed = plan.seed if seed is None else seed
    planned = resolve_plan(ws, plan, allow_invalid=allow_invalid, allow_excluded=allow_excluded)
    # Instruction sets first: a dataset without active instructions stops the build before anything is written.
    pools: dict[str, _Pool] = {}
    table: list[dict[str, Any]] = []
    active = active_instructions(ws, [p.dataset_id for p in planned])
    for p in planned:
        langs = instruction_languages(p.entry, instructions)
        by_lang = {lang: active.get((p.dataset_id, lang), []) for lang in langs}
        empty = [lang for lang, items in by_lang.items() if not items]
        if empty:
            raise LensforgeError(
                f"{p.dataset_id} has no active {'/'.join(empty)} instructions",
                hint=f"run `lensforge instruct generate {p.dataset_id}` or re-enable disabled ones",
            )
        items = [i for lang in langs for i in by_lang[lang]]  # the first is the test prompt
        pools[p.dataset_id] = _Pool(items, len(table))
        table += items
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
    frames, datasets_meta, inputs, drift = [], [], [], []
    for n, p in enumerate(planned):
        tick("curate", n, len(planned))
        c = curate_dataset(
            ws, p, seed=seed, allow_proposed=allow_proposed, actor=actor, used_by=f"snapshot:{plan.name}", record=True
        )
        e = p.entry
        pool = pools[p.dataset_id]
        line = _label_space_drift(p, pool, c.label_space)
        if line:
            drift.append(line)
        frames.append(_dataset_rows(c, pool, seed))
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
                "hub_repo": e.source.hub.repo if e.source and e.source.hub else None,
                "label_space": c.label_space,
            }
        )
        inputs.append(
            {
                "dataset_id": p.dataset_id,
                "version_id": p.version["version_id"],
                "mapping_version_id": c.mapping_version_id,
                "task": e.task,
                "task_type": e.task_type,
                "language": e.language,
                "label_space": c.label_space,
                "decision_set_id": c.decision_set_id,
                "row_decisions": c.row_decisions,
                "proposed_labels_used": c.pending_labels,
                "allow_invalid": p.choice.allow_invalid if not p.version["valid"] else None,
                "allow_excluded": p.choice.allow_excluded if is_excluded(e) else None,
                "caps": p.caps,
                "rows_before_caps": c.before,
                "rejected_label_rows": c.rejected_rows,
                "instruction_ids": [i["instruction_id"] for i in pool.items],
                "test_instruction_id": pool.items[0]["instruction_id"],
            }
        )
        del c
    tick("curate", len(planned), len(planned))
    if drift:
        names = " ".join(line.split(":", 1)[0] for line in drift)
        raise LensforgeError(
            "instructions were written for another label space: " + "; ".join(drift),
            hint=f"regenerate them with `lensforge instruct generate {names} --replace-stale`",
        )
    everything = pl.concat(frames, how="vertical_relaxed")
    del frames

    tick("cross-dataset leakage", 0, 1)
    leak = find_cross_leakage(everything.select("dataset", "split", "id", "text_key", "input"))
    if on_cross_leak == "refuse":
        refuse(leak)
    if leak.report.height:
        everything = everything.join(leak.removed, on=["dataset", "split", "id"], how="anti", maintain_order="left")
    everything = everything.drop("text_key")
    tick("cross-dataset leakage", 1, 1)
    _attach_counts(everything, leak, datasets_meta, inputs)

    manifest_inputs = {
        "mixture": plan.name,
        "order": order,
        "instructions": instructions,
        "seed": seed,
        "caps": plan.caps.model_dump(),
        "on_cross_leak": on_cross_leak,
        "code_version": {"lensforge": __version__, "ingest": INGEST_CODE_VERSION},
        "datasets": inputs,
    }
    instruction_table = pl.DataFrame(
        {"instruction_id": [i["instruction_id"] for i in table], "instruction": [i["text"] for i in table]},
        schema={"instruction_id": pl.String, "instruction": pl.String},
    )
    staging = Path(tempfile.mkdtemp(prefix=".snapshot.", dir=ws.snapshots_dir))
    try:
        (staging / "data").mkdir()
        written = _write_splits(everything, instruction_table, staging, order=order, seed=seed, tick=tick)
        del everything
        counts = {s: w.rows for s, w in written.items()}
        num_bytes = {s: w.num_bytes for s, w in written.items()}
        download = {s: w.file_bytes for s, w in written.items()}
        tick("hash", 0, 1)  # the report, card, licences and Croissant, and their hashes
        leak.report.write_parquet(staging / LEAK_REPORT, compression="zstd", statistics=False)
        outputs = {data_file(s): w.sha256 for s, w in written.items()}
        outputs[LEAK_REPORT] = file_sha256(staging / LEAK_REPORT)
        building = {"inputs": manifest_inputs, "cross_leakage": leak.summary(on_cross_leak), "rows": counts}
        title = f"lensforge snapshot: {plan.name}"
        summary = {"rows": counts, "num_bytes": num_bytes, "download_bytes": download}
        files = {
            CARD: render_card(building, datasets_meta, title=title, summary={**summary, "order": order, "seed": seed}),
            LICENSES: render_licenses(datasets_meta),
            CROISSANT: render_croissant(building, datasets_meta, title=title, rows=counts, file_hashes=outputs),
        }
        for rel, text in files.items():
            (staging / rel).write_text(text, encoding="utf-8")
            outputs[rel] = file_sha256(staging / rel)
        tick("hash", 1, 1)
        outputs = dict(sorted(outputs.items()))
        snapshot_id = snapshot_id_of(manifest_inputs, outputs)
        manifest = {
            "snapshot_id": snapshot_id,
            "inputs": manifest_inputs,
            "outputs": outputs,
            "rows": counts,
            "splits": {hub: split for split, hub in HUB_SPLITS.items()},
            "sizes": {"num_bytes": num_bytes, "download_bytes": download},
            "cross_leakage": leak.summary(on_cross_leak),
        }
        (staging / MANIFEST).write_text(
            json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True), encoding="utf-8"
        )
        target = ws.snapshots_dir / snapshot_id
        known = is_catalogued(ws, snapshot_id)
        status = "new"
        if known and target.is_dir():
            if verify_folder(target, manifest)["ok"]:
                return {
                    "snapshot_id": snapshot_id,
                    "status": "unchanged",
                    "path": str(target),
                    "rows": counts,
                    "seconds": clock.seconds(),
                }
            status = "repaired"  # the catalogued files no longer match their manifest: the fresh build replaces them
        if target.exists():
            shutil.rmtree(target)  # a damaged copy, or a leftover without a catalog row (an interrupted build)
        seal(staging)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    with transaction(ws) as con:
        record_snapshot(
            con,
            snapshot_id=snapshot_id,
            actor=actor,
            mixture=plan.name,
            path=str(target.relative_to(ws.root)),
            manifest=manifest,
            rows=counts,
        )
        for p in planned:  # an excluded dataset used with a reason: one event each, with the snapshot it went into
            if is_excluded(p.entry):
                record_event(
                    con,
                    actor=actor,
                    kind="mixture.allow_excluded",
                    subject=p.dataset_id,
                    payload={
                        "reason": p.choice.allow_excluded,
                        "status": exclusion_text(p.entry),
                        "used_by": f"snapshot:{plan.name}",
                        "snapshot_id": snapshot_id,
                    },
                )
        record_event(
            con,
            actor=actor,
            kind="snapshot.build" if status == "new" else "snapshot.repair",
            subject=snapshot_id,
            payload={
                "mixture": plan.name,
                "order": order,
                "instructions": instructions,
                "seed": seed,
                "rows": counts,
                "allow_proposed": allow_proposed,
                "allow_invalid": allow_invalid,
                "allow_excluded": allow_excluded,
                "on_cross_leak": on_cross_leak,
                "cross_leak_removed": leak.summary(on_cross_leak)["removed"],
            },
        )
    return {
        "snapshot_id": snapshot_id,
        "status": status,
        "path": str(target),
        "rows": counts,
        "cross_leak_removed": leak.summary(on_cross_leak)["removed"],
        "seconds": clock.seconds(),
    }


class _StepClock:
    """Passes progress on, and times each step from its first report to its last (for `seconds` in the result)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.started = time.perf_counter()
        self.spans: dict[str, list[float]] = {}

    def tick(self, step: str, done: int, total: int) -> None:
        now = time.perf_counter()
        self.spans.setdefault(step, [now, now])[1] = now
        self.progress(step, done, total)

    def seconds(self) -> dict[str, float]:
        """Seconds per step, and `total` since the build started (setup and writing the card are in neither)."""
        out = {step: round(end - start, 2) for step, (start, end) in self.spans.items()}
        return {**out, "total": round(time.perf_counter() - self.started, 2)}


def _attach_counts(
    everything: pl.DataFrame, leak: CrossLeakage, datasets_meta: list[dict[str, Any]], inputs: list[dict[str, Any]]
) -> None:
    """Rows per split of each dataset after the leakage check, and what the check removed from it."""
    counts: dict[str, dict[str, int]] = {}
    for row in everything.group_by("dataset", "split").len().iter_rows(named=True):
        counts.setdefault(row["dataset"], {})[row["split"]] = int(row["len"])
    removed = leak.removed_counts()
    for meta, item in zip(datasets_meta, inputs, strict=True):
        did = item["dataset_id"]
        rows = {s: counts.get(did, {}).get(s, 0) for s in SPLITS}
        meta["rows"] = item["rows"] = rows
        item["cross_leak_removed"] = {s: removed.get(did, {}).get(s, 0) for s in ("train", "dev")}


def verify_snapshot(ws: Workspace, snapshot_id: str) -> dict[str, Any]:
    """Re-hash every file of a catalogued snapshot against the catalog's copy of its manifest."""
    from lensforge.release.verify import verify_folder

    info = get_snapshot(ws, snapshot_id)
    folder = snapshot_dir(ws, info)
    return {"path": str(folder), **verify_folder(folder, info["manifest"]), "snapshot_id": snapshot_id}


def diff_snapshots(ws: Workspace, a: str, b: str) -> dict[str, Any]:
    """Datasets added or removed; versions, mappings, row decisions, instructions and row counts that changed."""
    ma, mb = get_snapshot(ws, a)["manifest"], get_snapshot(ws, b)["manifest"]
    da = {d["dataset_id"]: d for d in ma["inputs"]["datasets"]}
    db = {d["dataset_id"]: d for d in mb["inputs"]["datasets"]}
    changed = []
    for did in sorted(set(da) & set(db)):
        fields = {
            k: {"a": da[did].get(k), "b": db[did].get(k)}
            for k in (
                "version_id",
                "mapping_version_id",
                "decision_set_id",
                "rows",
                "test_instruction_id",
                "caps",
                "label_space",
            )
            if da[did].get(k) != db[did].get(k)
        }
        if set(da[did]["instruction_ids"]) != set(db[did]["instruction_ids"]):
            fields["instructions"] = {
                "added": sorted(set(db[did]["instruction_ids"]) - set(da[did]["instruction_ids"])),
                "removed": sorted(set(da[did]["instruction_ids"]) - set(db[did]["instruction_ids"])),
            }
        if fields:
            changed.append({"dataset_id": did, **fields})
    settings = {
        k: {"a": ma["inputs"].get(k), "b": mb["inputs"].get(k)}
        for k in ("order", "instructions", "seed", "caps", "on_cross_leak")
        if ma["inputs"].get(k) != mb["inputs"].get(k)
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
