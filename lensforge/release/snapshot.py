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

import contextlib
import hashlib
import json
import os
import queue
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lensforge import __version__
from lensforge.catalog.db import reading, transaction
from lensforge.catalog.events import record_event
from lensforge.curate.mixture import (
    CuratedDataset,
    PlannedDataset,
    curate_dataset,
    curation_inputs,
    exclusion_text,
    is_excluded,
    load_plan,
    resolve_plan,
)
from lensforge.errors import LensforgeError
from lensforge.hashing import file_sha256, seeded_keys
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
from lensforge.release.verify import snapshot_id_of, verify_folder
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
USER_SEPARATOR = "\nInput: "  # between the instruction and the input in the user message
# Rows per Parquet row group: each group's chat messages are built, written and freed before the next, which bounds
# the build's memory at millions of rows (and suits the Hub's viewer, which reads row groups).
ROW_GROUP = 131_072
CURATE_THREADS = 2  # datasets curated at once (the machine this was tuned on has 2 cores)
HASH_CHUNK = 8 << 20  # bytes of a written file hashed at a time
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
"""progress(step, done, total): called as the build advances (prepare, curate, leakage, write, hash, verify)."""


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


def chat_messages(instruction: pa.Array, inputs: pa.Array, prefix: pa.Array, output: pa.Array) -> pa.Array:
    """list<{role, content}> per row (system, user = instruction + input, assistant = prefix + output), in Arrow.

    A row's three contents are written next to each other by one string join (system + user + assistant), and the
    content column is that buffer cut at three offsets per row: the texts are copied once, and no list of structs
    is converted between libraries (measured ~2x faster than building the messages in Polars and converting them).
    A null instruction, input or output gives a null content, as Polars' string concatenation does.
    """
    n = len(inputs)
    if instruction.null_count or inputs.null_count or output.null_count:
        user = pc.binary_join_element_wise(instruction, inputs, USER_SEPARATOR)
        assistant = pc.binary_join_element_wise(prefix, output, "")
        joined = pc.binary_join_element_wise(SYSTEM_PROMPT, user.fill_null(""), assistant.fill_null(""), "")
        user_len = _byte_lengths(user)
        valid = np.ones(3 * n, dtype=bool)
        valid[1::3] = user.is_valid().to_numpy(zero_copy_only=False)
        valid[2::3] = assistant.is_valid().to_numpy(zero_copy_only=False)
        validity, nulls = pa.array(valid).buffers()[1], int(n * 3 - valid.sum())
    else:
        joined = pc.binary_join_element_wise(SYSTEM_PROMPT, instruction, USER_SEPARATOR, inputs, prefix, output, "")
        user_len = _byte_lengths(instruction) + len(USER_SEPARATOR.encode()) + _byte_lengths(inputs)
        validity, nulls = None, 0
    starts = np.frombuffer(joined.buffers()[1], dtype=np.int32, count=n + 1)
    offsets = np.empty(3 * n + 1, dtype=np.int32)
    offsets[0 : 3 * n : 3] = starts[:-1]
    offsets[1 : 3 * n : 3] = starts[:-1] + len(SYSTEM_PROMPT.encode())
    offsets[2 : 3 * n : 3] = offsets[1 : 3 * n : 3] + user_len
    offsets[3 * n] = starts[n]
    content = pa.StringArray.from_buffers(3 * n, pa.py_buffer(offsets), joined.buffers()[2], validity, nulls)
    role_offsets = np.zeros(3 * n + 1, dtype=np.int32)
    np.cumsum(np.tile(np.array([len(r) for r in ROLES], dtype=np.int32), n), out=role_offsets[1:])
    role = pa.StringArray.from_buffers(3 * n, pa.py_buffer(role_offsets), pa.py_buffer("".join(ROLES).encode() * n))
    messages = pa.StructArray.from_arrays([role, content], names=list(MESSAGE.to_schema()))
    return pa.ListArray.from_arrays(pa.array(np.arange(0, 3 * n + 1, 3, dtype=np.int32)), messages)


def _byte_lengths(strings: pa.Array) -> np.ndarray:
    """UTF-8 byte length of each string (0 for a null)."""
    return pc.binary_length(strings).fill_null(0).to_numpy(zero_copy_only=False)


def order_positions(frame: pl.DataFrame, order: str, seed: int) -> pl.Series:
    """Row positions of one split in the paper's four data orders (gather the frame by them to order it).

    The shuffles sort on each row's seeded hash `_r` (computed once per row by the build; computed here when the
    frame lacks it), so the same seed gives the same order on every machine. By language or task, each block's
    hashes are sorted on their own: ~5x faster than sorting on the (string, hash) pair, same order.
    """
    if order not in ORDERS:
        raise LensforgeError(f"unknown order {order!r} (use {', '.join(ORDERS)})")
    if order == "alphabetical":
        return frame.select(pl.arg_sort_by("language", "dataset", "id", maintain_order=True)).to_series()
    keys = frame["_r"] if "_r" in frame.columns else seeded_keys(frame["id"], seed, "order")
    if order == "random":
        return pl.DataFrame([keys.alias("_r")]).select(pl.arg_sort_by("_r", maintain_order=True)).to_series()
    rows = pl.DataFrame([frame[order].alias("_block"), keys.alias("_r")]).with_row_index("_pos")
    blocks = sorted(rows["_block"].unique().to_list(), key=lambda b: (b is not None, b or ""))  # nulls first
    parts = [
        rows.filter(pl.col("_block").is_null() if b is None else pl.col("_block") == b).sort("_r", maintain_order=True)[
            "_pos"
        ]
        for b in blocks
    ]
    return pl.concat(parts) if parts else pl.Series("_pos", [], dtype=pl.UInt32)


def order_rows(frame: pl.DataFrame, order: str, seed: int) -> pl.DataFrame:
    """The rows of one split in the paper's four data orders (see `order_positions`), without `_r`."""
    return frame.drop("_r", strict=False)[order_positions(frame, order, seed)]


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
# The flat columns a row group takes from the build's rows (the instruction comes from the instruction table).
_FLAT = ["id", "dataset", "language", "task", "split", "input", "output", "_prefix"]


def _arrow_group(chunk: pl.DataFrame, instructions: pl.DataFrame) -> pa.Table:
    """One row group as Arrow, in the file schema: instruction texts looked up, chat messages built.

    The instruction texts are gathered by Polars (views): ~7x faster than Arrow's take. Polars hands its string
    views to Arrow as they are and Arrow copies them out, into memory its allocator reuses from group to group
    (Polars' own copy page-faults fresh memory for every group: ~15x the faults).
    """
    flat = (
        chunk.select(_FLAT).hstack(instructions[chunk["_instruction"]]).to_arrow(compat_level=pl.CompatLevel.newest())
    )
    cols = {name: flat.column(name).combine_chunks().cast(pa.string()) for name in flat.column_names}
    cols["messages"] = chat_messages(cols["instruction"], cols["input"], cols["_prefix"], cols["output"])
    return pa.Table.from_arrays([cols[name] for name in SNAPSHOT_SCHEMA], schema=ARROW_SCHEMA)


@dataclass
class _Written:
    rows: int
    num_bytes: int  # Arrow size of the data: the card's `num_bytes`
    file_bytes: int
    sha256: str


class _SplitFile:
    """One split's Parquet file while it is written: its rows in order, cut into row groups, hashed as written."""

    OPTIONS: ClassVar[dict[str, Any]] = {
        "compression": "zstd",
        "compression_level": ZSTD_LEVEL,
        "use_dictionary": DICTIONARY_COLUMNS,
        "write_statistics": STATISTICS_COLUMNS,
    }

    def __init__(self, part: pl.DataFrame, positions: pl.Series, instructions: pl.DataFrame, path: Path) -> None:
        self.part, self.positions, self.instructions, self.path = part, positions, instructions, path
        self.starts = iter(range(0, part.height, ROW_GROUP))  # an empty split: a file with the schema, no rows
        self.sink = pa.OSFile(str(path), "wb")  # a native file: the encoder never takes the GIL to write a page
        self.writer = pq.ParquetWriter(self.sink, ARROW_SCHEMA, **self.OPTIONS)
        self.nbytes = 0
        self.grown_to = 0  # bytes of the file written so far (set by the thread that encodes)
        self.sha256 = hashlib.sha256()
        self._written = open(path, "rb")  # read back as the file grows, closed with it

    def next_group(self) -> pa.Table | None:
        """The next row group, built (None when every row is out)."""
        start = next(self.starts, None)
        if start is None:
            return None
        table = _arrow_group(self.part[self.positions.slice(start, ROW_GROUP)], self.instructions)
        self.nbytes += table.nbytes
        return table

    def write(self, table: pa.Table, *, hash_now: bool = True) -> None:
        """Encode a row group. `hash_now=False` (train's encoder thread) only notes how far the file has grown:
        the build thread hashes it (`catch_up`) while it would otherwise wait, off the encoder's critical path."""
        self.writer.write_table(table, row_group_size=ROW_GROUP)
        self.grown_to = self.sink.tell()
        if hash_now:
            self._hash_to(self.grown_to)

    def catch_up(self) -> None:
        """Hash what the encoder has written so far (called from the build thread only)."""
        self._hash_to(self.grown_to)

    def _hash_to(self, end: int) -> None:
        """Hash the file up to `end`, read back from the page cache as it grows. (A Python file object hashing
        each page as the writer hands it over made the encoder take the GIL ~300 times a row group: 2 s of waits
        measured on 2 cores.)"""
        while chunk := self._written.read(min(HASH_CHUNK, end - self._written.tell())):
            self.sha256.update(chunk)

    def close(self) -> _Written:
        self.writer.close()
        size = self.sink.tell()
        self.sink.close()
        self._hash_to(size)
        self._written.close()
        return _Written(self.part.height, self.nbytes, size, self.sha256.hexdigest())

    def abandon(self) -> None:
        """Let an unfinished file go (the staging folder is removed): whatever closing it says is moot."""
        with contextlib.suppress(Exception):
            self.writer.close()
        self.sink.close()
        self._written.close()


def _by_split(everything: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The build's rows cut into one frame per split, in their order, in one pass (they share the strings' bytes,
    not the views or numbers); a split without rows is an empty frame."""
    parts = everything.partition_by("split", as_dict=True, maintain_order=True)
    return {split: parts.get((split,), everything.clear()) for split in SPLITS}


def _write_splits(
    parts: dict[str, pl.DataFrame], instructions: pl.DataFrame, folder: Path, *, order: str, seed: int, tick: Progress
) -> dict[str, _Written]:
    """Every split's file, in two threads: one encodes train's row groups, this one builds them and, while two
    built groups wait, builds and encodes a group of dev or test.

    A Parquet file is encoded on one core and train holds ~70% of the rows: its encoder is the build's critical
    path, so it gets a thread of its own that never waits for a group, and the second core does all the rest
    (building every group, encoding the small splits, hashing train's file while it waits; about as much work).
    Measured on 2 cores, three writers of one split each leave train's encoder waiting for CPU. Groups go into
    each file in order, so the bytes never depend on timing.
    """
    files = {}
    for split in SPLITS:
        part = parts.pop(split)  # the file holds the only reference: its rows go with it
        files[split] = _SplitFile(part, order_positions(part, order, seed), instructions, folder / data_file(split))
    train, written = files["train"], {}
    ready: queue.Queue[pa.Table | None] = queue.Queue(maxsize=2)

    def encode_train() -> None:
        while (table := ready.get()) is not None:
            train.write(table, hash_now=False)

    def hand_over(table: pa.Table | None) -> None:
        while True:  # a failed encoder takes nothing more: stop waiting for it
            if ready.full():
                train.catch_up()  # the wait's time goes to hashing train's file so far
            try:
                return ready.put(table, timeout=0.2)
            except queue.Full:
                if encoder.done():
                    encoder.result()
                    raise RuntimeError("the train encoder stopped") from None

    tick("write", 0, len(SPLITS))
    small = ((split, files[split]) for split in SPLITS if split != "train")
    current: tuple[str, _SplitFile] | None = next(small, None)
    finished = False
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            encoder = pool.submit(encode_train)
            try:
                table = train.next_group()
                while table is not None or current is not None:
                    if table is not None and (current is None or not ready.full()):
                        hand_over(table)
                        table = train.next_group()
                        continue
                    assert current is not None
                    split, file = current
                    group = file.next_group()
                    if group is not None:
                        file.write(group)
                        continue
                    written[split] = file.close()
                    tick("write", len(written), len(SPLITS))
                    current = next(small, None)
            finally:
                if not encoder.done():
                    hand_over(None)
            encoder.result()
        written["train"] = train.close()
        finished = True
    finally:
        if not finished:  # the encoder has stopped: let the unfinished files go (the staging folder is removed)
            for file in files.values():
                file.abandon()
    tick("write", len(written), len(SPLITS))
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


def _instruction_pools(
    ws: Workspace, planned: list[PlannedDataset], instructions: str
) -> tuple[dict[str, _Pool], list[dict[str, Any]]]:
    """Each dataset's active instructions in the build's instruction table; a dataset without any stops the build
    before anything is read or written."""
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
    return pools, table


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
    used_by = f"snapshot:{plan.name}"
    tick("prepare", 0, 1)
    with reading(ws):  # the plan, instructions, mappings and decisions of every dataset: one catalog connection
        planned = resolve_plan(ws, plan, allow_invalid=allow_invalid, allow_excluded=allow_excluded)
        pools, table = _instruction_pools(ws, planned, instructions)
        if not all(p.version["valid"] for p in planned):
            with transaction(ws) as con:
                for p in planned:
                    if not p.version["valid"]:
                        require_valid(
                            con,
                            p.version["version_id"],
                            used_by=used_by,
                            actor=actor,
                            allow_invalid_reason=p.choice.allow_invalid,
                        )
        prepared = [
            curation_inputs(ws, p, allow_proposed=allow_proposed, actor=actor, used_by=used_by, record=True)
            for p in planned
        ]
    tick("prepare", 1, 1)

    def curated(n: int) -> tuple[CuratedDataset, pl.DataFrame]:
        """One dataset's curation and its narrow snapshot rows (the wide rows are let go at once)."""
        c = curate_dataset(
            ws,
            planned[n],
            seed=seed,
            allow_proposed=allow_proposed,
            actor=actor,
            used_by=used_by,
            record=True,
            inputs=prepared[n],
        )
        rows = _dataset_rows(c, pools[planned[n].dataset_id], seed)
        c.rows = c.rows.clear()
        return c, rows

    # Two datasets at a time (Parquet reads, md5 and joins release the GIL, so the second core fills the first's
    # single-threaded stretches); only the narrow snapshot rows are kept.
    frames, datasets_meta, inputs, drift = [], [], [], []
    tick("curate", 0, len(planned))
    with ThreadPoolExecutor(max_workers=CURATE_THREADS) as curators:
        for n, (c, rows) in enumerate(curators.map(curated, range(len(planned)))):
            tick("curate", n + 1, len(planned))
            p, e, pool = planned[n], planned[n].entry, pools[planned[n].dataset_id]
            line = _label_space_drift(p, pool, c.label_space)
            if line:
                drift.append(line)
            frames.append(rows)
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
    everything = everything.drop("text_key")  # before the copies below: the keys are as large as the texts
    if leak.report.height:
        everything = everything.join(leak.removed, on=["dataset", "split", "id"], how="anti", maintain_order="left")
    # One chunk per column: gathering a row group from the 24 per-dataset chunks is ~9x slower (measured).
    everything = everything.rechunk()
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
        # One frame per split, and the whole let go before writing: the parts share its strings' bytes, but its
        # views and numbers (~0.3 GiB at 2.7M rows) would otherwise stay through the write, the build's peak.
        parts = _by_split(everything)
        del everything
        written = _write_splits(parts, instruction_table, staging, order=order, seed=seed, tick=tick)
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
            tick("verify", 0, 1)  # the catalogued copy, file by file, before it is trusted
            intact = verify_folder(target, manifest)["ok"]
            tick("verify", 1, 1)
            if intact:
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
