"""Read-only queries the app needs beyond the stages' public functions.

Two kinds live here. Small catalog reads that sum up what each stage produced (one short read-only
connection each, so a CLI command writing at the same time is not blocked for long). And the sample
browser: the Parquet files of the current versions queried in place with DuckDB
(`read_parquet([...])` + WHERE + LIMIT/OFFSET + a count), so a page of 2.7M rows costs what one page
costs, not what the corpus costs. Text search goes through a word index built once per file and kept
in memory, because a substring scan of every text is seconds at that scale.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from lensforge.catalog.db import connect, query_frame
from lensforge.errors import LensforgeError
from lensforge.workspace import Workspace

SPLITS = ("train", "dev", "test")
# What a sample row shows; `label` is rendered as text (multi-label lists joined) in every file.
SAMPLE_COLUMNS = ("sample_id", "dataset", "language", "split", "label", "text", "text_pair", "target")


# ----------------------------------------------------------------------------- catalog summaries


def has_catalog(ws: Workspace) -> bool:
    """Whether the workspace has a catalog yet (the app never creates one by merely looking)."""
    return ws.catalog_path.is_file()


def current_versions(ws: Workspace) -> pl.DataFrame:
    """The current ingested version of every dataset, with the dataset's language and task."""
    with connect(ws, read_only=True) as con:
        return query_frame(
            con,
            "SELECT v.dataset_id, v.version_id, v.path, d.language, d.task, d.task_type, v.valid, v.records_read, "
            "v.kept_train, v.kept_dev, v.kept_test, v.quarantined, v.dropped_by_reason, v.label_counts, v.created_at "
            "FROM ingested_versions v JOIN datasets d USING (dataset_id) WHERE v.is_current ORDER BY v.dataset_id",
        )


def stage_counts(ws: Workspace) -> dict[str, Any]:
    """What each stage has produced so far, in one read-only connection."""

    def by_status(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, int]:
        return {str(k): int(n) for k, n in con.execute(sql).fetchall()}

    with connect(ws, read_only=True) as con:
        one = con.execute(
            "SELECT (SELECT count(*) FROM datasets), (SELECT count(*) FROM ingested_versions), "
            "(SELECT count(*) FROM ingested_versions WHERE is_current), "
            "(SELECT coalesce(sum(kept_train + kept_dev + kept_test), 0) FROM ingested_versions WHERE is_current), "
            "(SELECT count(*) FROM snapshots), (SELECT count(*) FROM publications), "
            "(SELECT count(*) FROM llm_calls), (SELECT coalesce(sum(cost_usd), 0) FROM llm_calls)"
        ).fetchall()[0]
        mappings = by_status(
            con,
            "SELECT m.status, count(*) FROM label_mappings m JOIN ingested_versions v USING (version_id) "
            "WHERE v.is_current GROUP BY m.status",
        )
        unopened = con.execute(
            "SELECT count(*) FROM ingested_versions v WHERE v.is_current AND NOT EXISTS "
            "(SELECT 1 FROM label_mappings m WHERE m.version_id = v.version_id) "
            "AND v.dataset_id IN (SELECT dataset_id FROM datasets WHERE task_type <> 'generation')"
        ).fetchall()[0][0]
        instructions = by_status(con, "SELECT status, count(*) FROM instructions GROUP BY status")
        runs = by_status(con, "SELECT status, count(*) FROM runs GROUP BY status")
        evals = by_status(con, "SELECT status, count(*) FROM evals GROUP BY status")
    return {
        "datasets": int(one[0]),
        "versions": int(one[1]),
        "current_versions": int(one[2]),
        "kept_rows": int(one[3]),
        "snapshots": int(one[4]),
        "publications": int(one[5]),
        "llm_calls": int(one[6]),
        "cost_usd": float(one[7]),
        "mappings": mappings,
        "datasets_without_review": int(unopened),
        "instructions": instructions,
        "runs": runs,
        "evals": evals,
    }


def mapping_status(ws: Workspace) -> pl.DataFrame:
    """Per current version: how many source labels are proposed, approved, rejected (none yet: never opened)."""
    with connect(ws, read_only=True) as con:
        return query_frame(
            con,
            "SELECT v.dataset_id, v.version_id, d.task_type, "
            "count(m.raw_label) FILTER (WHERE m.status = 'proposed') AS proposed, "
            "count(m.raw_label) FILTER (WHERE m.status = 'approved') AS approved, "
            "count(m.raw_label) FILTER (WHERE m.status = 'rejected') AS rejected "
            "FROM ingested_versions v JOIN datasets d USING (dataset_id) "
            "LEFT JOIN label_mappings m ON m.version_id = v.version_id "
            "WHERE v.is_current GROUP BY ALL ORDER BY v.dataset_id",
        )


def instruction_counts(ws: Workspace) -> pl.DataFrame:
    """Active and disabled instructions per dataset and language."""
    with connect(ws, read_only=True) as con:
        return query_frame(
            con,
            "SELECT dataset_id, language, count(*) FILTER (WHERE status = 'active') AS active, "
            "count(*) FILTER (WHERE status = 'disabled') AS disabled FROM instructions "
            "GROUP BY ALL ORDER BY dataset_id, language",
        )


def runs_table(ws: Workspace) -> pl.DataFrame:
    """The `runs` rows read directly (for when the finetune stage cannot be imported)."""
    with connect(ws, read_only=True) as con:
        return query_frame(
            con,
            "SELECT run_id, created_at, finished_at, status, actor, snapshot_id, base_model, preset, steps, "
            "final_loss, wall_seconds, error FROM runs ORDER BY created_at DESC, run_id",
        )


def run_metrics(ws: Workspace, run_id: str) -> pl.DataFrame:
    """Per-step loss and learning rate of one run, straight from `run_metrics`."""
    with connect(ws, read_only=True) as con:
        return query_frame(
            con,
            "SELECT step, loss, learning_rate, epoch FROM run_metrics WHERE run_id = ? ORDER BY step",
            [run_id],
        )


def log_tail(path: str | Path, max_bytes: int = 8000) -> str:
    """The end of a run's log file (it may be large and still growing)."""
    p = Path(path)
    if not p.is_file():
        return ""
    with p.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - max_bytes))
        data = fh.read()
    return data.decode("utf-8", errors="replace")


def predictions_side_by_side(ws: Workspace, eval_a: dict[str, Any], eval_b: dict[str, Any]) -> pl.DataFrame:
    """The predictions of two evaluations joined on sample id (a = base, b = fine-tuned, usually)."""
    pa = ws.root / eval_a["path"] / "predictions.parquet"
    pb = ws.root / eval_b["path"] / "predictions.parquet"
    if not (pa.is_file() and pb.is_file()):
        return pl.DataFrame()
    cols = ["id", "dataset", "language", "input", "gold", "prediction", "raw_output", "parseable"]
    a = pl.read_parquet(pa, columns=cols)
    b = pl.read_parquet(pb, columns=["id", "dataset", "prediction", "raw_output", "parseable"])
    return a.rename({c: f"{c}_a" for c in ("prediction", "raw_output", "parseable")}).join(
        b.rename({c: f"{c}_b" for c in ("prediction", "raw_output", "parseable")}), on=["id", "dataset"], how="inner"
    )


# ----------------------------------------------------------------------------- sample browser


@dataclass(frozen=True)
class SampleSource:
    """One Parquet file of a current version: a dataset's split."""

    path: str
    dataset_id: str
    language: str
    split: str
    version_id: str
    rows: int
    label_kind: str  # "string", "list" (multi-label) or "none"
    has_pair: bool = True  # False when the footer says text_pair is null in every row (not read then)
    has_target: bool = True


@dataclass(frozen=True)
class SampleFilter:
    """What the sample browser asks for; empty tuples mean 'any'."""

    datasets: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    splits: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    text: str = ""


@dataclass
class SamplePage:
    """One page of matching samples and the total count."""

    total: int
    rows: pl.DataFrame
    offset: int
    limit: int
    files: int
    seconds: float
    index_used: bool = False


def _stat_key(path: str) -> tuple[str, int, int]:
    st = os.stat(path)
    return path, st.st_mtime_ns, st.st_size


_META_CACHE: dict[tuple[str, int, int], tuple[int, str, bool, bool]] = {}


def _all_null(meta: pq.FileMetaData, column: str) -> bool:
    """Whether the footer's statistics say `column` holds no value at all (then it need not be read)."""
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    if column not in names:
        return True
    index = names.index(column)
    nulls = 0
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(index).statistics
        if stats is None or not stats.has_null_count:
            return False
        nulls += stats.null_count
    return nulls == meta.num_rows


def _file_meta(path: str) -> tuple[int, str, bool, bool]:
    """Rows, label kind and whether text_pair / target hold values, from the footer (cached per file state)."""
    key = _stat_key(path)
    hit = _META_CACHE.get(key)
    if hit is not None:
        return hit
    schema = pq.read_schema(path)
    kind = "none"
    if "label" in schema.names:
        t = schema.field("label").type
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            kind = "list"
        elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
            kind = "string"
    meta = pq.read_metadata(path)
    found = (meta.num_rows, kind, not _all_null(meta, "text_pair"), not _all_null(meta, "target"))
    _META_CACHE[key] = found
    return found


def sample_sources(ws: Workspace, versions: pl.DataFrame | None = None) -> list[SampleSource]:
    """Every split file of every current version, in a fixed order (dataset, then train/dev/test)."""
    versions = current_versions(ws) if versions is None else versions
    out = []
    for v in versions.iter_rows(named=True):
        for split in SPLITS:
            path = ws.root / v["path"] / f"{split}.parquet"
            if not path.is_file():
                continue
            rows, kind, pair, target = _file_meta(str(path))
            out.append(
                SampleSource(
                    str(path), v["dataset_id"], v["language"], split, v["version_id"], rows, kind, pair, target
                )
            )
    return out


def label_options(versions: pl.DataFrame, datasets: tuple[str, ...] = ()) -> list[str]:
    """Decoded labels seen in the chosen datasets (from the recorded per-split label counts)."""
    labels: set[str] = set()
    for v in versions.iter_rows(named=True):
        if datasets and v["dataset_id"] not in datasets:
            continue
        counts = v["label_counts"]
        counts = json.loads(counts) if isinstance(counts, str) else counts or {}
        multilabel = v.get("task_type") == "multilabel"  # counts are per label combination "a,b"
        for per_split in counts.values():
            for key in per_split or {}:
                if multilabel:
                    labels.update(part.strip() for part in str(key).split(","))
                else:
                    labels.add(str(key))
    return sorted(labels)


_DB: duckdb.DuckDBPyConnection | None = None
_DB_LOCK = threading.Lock()


def _cursor() -> duckdb.DuckDBPyConnection:
    """A cursor on one in-memory DuckDB (not the catalog): cheap per query, safe across app sessions."""
    global _DB
    with _DB_LOCK:
        if _DB is None:
            _DB = duckdb.connect(":memory:")
        cur = _DB.cursor()
    cur.execute("SET enable_progress_bar = false")
    cur.execute("SET parquet_metadata_cache = true")  # footers are read once per file, not once per query
    return cur


def select_files(sources: list[SampleSource], flt: SampleFilter) -> list[SampleSource]:
    """Dataset, language and split filters pick whole files: no row is read to apply them."""
    chosen = [
        s
        for s in sources
        if (not flt.datasets or s.dataset_id in flt.datasets)
        and (not flt.languages or s.language in flt.languages)
        and (not flt.splits or s.split in flt.splits)
    ]
    if flt.labels:
        chosen = [s for s in chosen if s.label_kind != "none"]
    return chosen


def _label_sql(kind: str) -> str:
    if kind == "list":
        return "array_to_string(label, ', ')"
    if kind == "string":
        return "label"
    return "CAST(NULL AS VARCHAR)"


def _where(kind: str, labels: tuple[str, ...]) -> tuple[str, list[Any]]:
    """The row filter on labels, one bound parameter per label (an IN list DuckDB pushes into the scan)."""
    if not labels:
        return "", []
    marks = ", ".join("?" for _ in labels)
    if kind == "list":
        return f" WHERE list_has_any(label, [{marks}])", list(labels)
    return f" WHERE label IN ({marks})", list(labels)


def _select_list(source: SampleSource) -> str:
    """The columns read from a file; dataset, language and split are the file's own and added afterwards."""
    pair = "CAST(text_pair AS VARCHAR)" if source.has_pair else "CAST(NULL AS VARCHAR)"
    target = "CAST(target AS VARCHAR)" if source.has_target else "CAST(NULL AS VARCHAR)"
    return f"sample_id, {_label_sql(source.label_kind)} AS label, text, {pair} AS text_pair, {target} AS target"


def _with_source(frame: pl.DataFrame, source: SampleSource) -> pl.DataFrame:
    return frame.with_columns(
        pl.lit(source.dataset_id, dtype=pl.String).alias("dataset"),
        pl.lit(source.language, dtype=pl.String).alias("language"),
        pl.lit(source.split, dtype=pl.String).alias("split"),
    ).select(SAMPLE_COLUMNS)


_LABEL_COUNTS: dict[tuple[str, int, int], dict[Any, int]] = {}


def _label_counts(cur: duckdb.DuckDBPyConnection, files: list[SampleSource]) -> list[dict[Any, int]]:
    """Rows per label value (per label combination for multi-label files) of each file, computed once per file."""
    keys = [_stat_key(f.path) for f in files]
    missing = [(f, k) for f, k in zip(files, keys, strict=True) if k not in _LABEL_COUNTS]
    for kind in ("string", "list"):
        group = [(f, k) for f, k in missing if f.label_kind == kind]
        if not group:
            continue
        value = "list_sort(label)" if kind == "list" else "label"
        found: dict[str, dict[Any, int]] = {f.path: {} for f, _ in group}
        for name, lab, n in cur.sql(
            f"SELECT filename, {value} AS lab, count(*) FROM read_parquet(?, filename=true) GROUP BY ALL",
            params=[[f.path for f, _ in group]],
        ).fetchall():
            found[str(name)][tuple(lab) if isinstance(lab, list) else lab] = int(n)
        for f, k in group:
            _LABEL_COUNTS[k] = found[f.path]
    return [_LABEL_COUNTS.get(k, {}) for k in keys]


def _counts(cur: duckdb.DuckDBPyConnection, files: list[SampleSource], labels: tuple[str, ...]) -> list[int]:
    """Matching rows per file: the footer's row count, or the cached label counts when labels are chosen."""
    if not labels:
        return [f.rows for f in files]
    chosen = set(labels)
    out = []
    for f, counts in zip(files, _label_counts(cur, files), strict=True):
        if f.label_kind == "list":
            out.append(sum(n for combo, n in counts.items() if combo and chosen.intersection(combo)))
        else:
            out.append(sum(n for value, n in counts.items() if value in chosen))
    return out


def _window(counts: list[int], offset: int, limit: int) -> list[tuple[int, int, int]]:
    """(file index, offset in that file's matches, how many) covering the global window [offset, offset+limit)."""
    out, start = [], 0
    end = offset + limit
    for i, n in enumerate(counts):
        lo, hi = max(offset, start), min(end, start + n)
        if lo < hi:
            out.append((i, lo - start, hi - lo))
        start += n
        if start >= end:
            break
    return out


def _empty_rows() -> pl.DataFrame:
    return pl.DataFrame(schema={c: pl.String for c in SAMPLE_COLUMNS})


def query_samples(sources: list[SampleSource], flt: SampleFilter, *, limit: int = 50, offset: int = 0) -> SamplePage:
    """One page of samples matching the filter, and how many match in all.

    Files are visited in a fixed order and each is read with LIMIT/OFFSET, so page N is the same on
    every call and a deep page reads only the file it falls in. Text search (case-insensitive; every
    word of the query must occur inside a word of the text) goes through the word index.
    """
    started = time.perf_counter()
    limit, offset = max(1, int(limit)), max(0, int(offset))
    files = select_files(sources, flt)
    # Lower-cased the way the index was (Polars), so both sides agree on every script.
    words = tuple(pl.Series([flt.text], dtype=pl.String).str.to_lowercase()[0].split())
    cur = _cursor()
    try:
        if words:
            return _query_text(cur, sources, files, flt, words, limit=limit, offset=offset, started=started)
        counts = _counts(cur, files, flt.labels)
        frames = []
        for i, inner, n in _window(counts, offset, limit):
            f = files[i]
            where, params = _where(f.label_kind, flt.labels)
            page = cur.sql(
                f"SELECT {_select_list(f)} FROM read_parquet(?){where} LIMIT ? OFFSET ?",
                params=[f.path, *params, n, inner],
            ).pl()
            frames.append(_with_source(page, f))
        rows = pl.concat(frames, how="vertical_relaxed") if frames else _empty_rows()
        return SamplePage(sum(counts), rows, offset, limit, len(files), time.perf_counter() - started)
    except (duckdb.IOException, OSError) as exc:  # a version replaced by an ingest while we read it
        raise LensforgeError(f"the sample files changed while they were read ({exc})", hint="reload the page") from exc
    finally:
        cur.close()


def _query_text(
    cur: duckdb.DuckDBPyConnection,
    sources: list[SampleSource],
    files: list[SampleSource],
    flt: SampleFilter,
    words: tuple[str, ...],
    *,
    limit: int,
    offset: int,
    started: float,
) -> SamplePage:
    corpus = corpus_index(sources)
    selected = {f.path for f in files}
    rows, file_of_row = corpus.search(words, [s.path in selected for s in sources], flt.labels)
    page_rows, page_files = rows[offset : offset + limit], file_of_row[offset : offset + limit]
    wanted: dict[int, list[int]] = {}
    for fi, r in zip(page_files.tolist(), page_rows.tolist(), strict=True):
        wanted.setdefault(fi, []).append(r)
    out = _fetch_rows(cur, [(sources[fi], rs) for fi, rs in wanted.items()])
    return SamplePage(int(rows.size), out, offset, limit, len(files), time.perf_counter() - started, index_used=True)


def _fetch_rows(cur: duckdb.DuckDBPyConnection, wanted: list[tuple[SampleSource, list[int]]]) -> pl.DataFrame:
    """Given rows of given files, in the given order, in one DuckDB query.

    One UNION ALL branch per file, each with its own row numbers, so DuckDB decompresses only the pages
    holding them; columns that are null throughout a file, and the file's constants, are not read.
    """
    if not wanted:
        return _empty_rows()
    union = " UNION ALL ".join(
        f"SELECT {i}::INTEGER AS _file, file_row_number AS _row, {_select_list(source)} "
        f"FROM read_parquet(${i + 1}, file_row_number=true) "
        f"WHERE file_row_number IN ({', '.join(str(int(r)) for r in sorted(rows))})"
        for i, (source, rows) in enumerate(wanted)
    )
    got = cur.sql(union, params=[source.path for source, _ in wanted]).pl()
    order = pl.DataFrame(
        {
            "_file": [i for i, (_, rows) in enumerate(wanted) for _ in rows],
            "_row": [int(r) for _, rows in wanted for r in rows],
            "dataset": [s.dataset_id for s, rows in wanted for _ in rows],
            "language": [s.language for s, rows in wanted for _ in rows],
            "split": [s.split for s, rows in wanted for _ in rows],
        },
        schema={"_file": pl.Int32, "_row": pl.Int64, "dataset": pl.String, "language": pl.String, "split": pl.String},
    ).with_row_index("_pos")
    got = got.with_columns(pl.col("_file").cast(pl.Int32), pl.col("_row").cast(pl.Int64))
    return order.join(got, on=["_file", "_row"], how="inner").sort("_pos").select(SAMPLE_COLUMNS)


class TextIndex:
    """Lower-cased whitespace words of one file -> the rows holding them (CSR arrays), plus the file's labels.

    A query word matches a row when it occurs inside one of the row's words, so the vocabulary (tens of
    thousands of words) is scanned instead of the texts (hundreds of megabytes).
    """

    def __init__(self, path: str) -> None:
        frame = pl.read_parquet(path, columns=["text", "label"])
        self.rows = frame.height
        labels = frame["label"]
        if labels.dtype == pl.List(pl.String):
            labels = labels.list.sort().list.join("\x1f")
        elif labels.dtype != pl.String:
            labels = pl.Series([None] * frame.height, dtype=pl.String)
        values, codes = np.unique(labels.fill_null("\x00").to_numpy().astype(str), return_inverse=True)
        self.label_values = [set(v.split("\x1f")) if v != "\x00" else set() for v in values]
        self.label_codes = codes.astype(np.int32)
        grouped = (
            frame.lazy()
            .select(
                pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"),
                pl.col("text").fill_null("").str.to_lowercase().str.split(" ").alias("word"),
            )
            .explode("word")
            .filter(pl.col("word") != "")
            .group_by("word")
            .agg(pl.col("row").unique().sort())
            .collect()
        )
        self.vocab = grouped["word"]
        self.lengths = grouped["row"].list.len().to_numpy().astype(np.int64)
        self.starts = np.cumsum(self.lengths) - self.lengths
        self.postings = grouped["row"].explode().to_numpy().astype(np.uint32)

    def nbytes(self) -> int:
        return int(self.postings.nbytes + self.lengths.nbytes + self.starts.nbytes + self.label_codes.nbytes)


class CorpusIndex:
    """The word indexes of every file, searched together: one vocabulary scan per query word for the corpus.

    Rows are numbered globally in the files' fixed order (dataset, then train/dev/test), the order the
    browser pages through, so a result is one sorted array of row numbers.
    """

    def __init__(self, sources: list[SampleSource]) -> None:
        self.indexes = [text_index(s) for s in sources]
        sizes = [ix.rows for ix in self.indexes]
        self.row_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.vocab = pl.concat([ix.vocab for ix in self.indexes]) if self.indexes else pl.Series([], dtype=pl.String)
        self.token_file = np.repeat(
            np.arange(len(self.indexes), dtype=np.int32), [len(ix.vocab) for ix in self.indexes]
        )
        self.token_offsets = np.concatenate([[0], np.cumsum([len(ix.vocab) for ix in self.indexes])]).astype(np.int64)
        label_base = np.cumsum([0] + [len(ix.label_values) for ix in self.indexes])
        self.label_values = [v for ix in self.indexes for v in ix.label_values]
        self.label_codes = (
            np.concatenate([ix.label_codes + base for ix, base in zip(self.indexes, label_base, strict=False)])
            if self.indexes
            else np.zeros(0, dtype=np.int32)
        )

    def _word_mask(self, word: str, file_selected: np.ndarray) -> np.ndarray:
        mask = np.zeros(int(self.row_offsets[-1]), dtype=bool)
        tokens = np.flatnonzero(self.vocab.str.contains(word, literal=True).fill_null(False).to_numpy())
        tokens = tokens[file_selected[self.token_file[tokens]]]
        if tokens.size == 0:
            return mask
        files = self.token_file[tokens]
        bounds = np.flatnonzero(np.diff(files)) + 1
        for chunk in np.split(tokens, bounds):
            fi = int(self.token_file[chunk[0]])
            ix = self.indexes[fi]
            local = chunk - self.token_offsets[fi]
            lens = ix.lengths[local]
            flat = np.repeat(ix.starts[local] - (np.cumsum(lens) - lens), lens) + np.arange(int(lens.sum()))
            mask[ix.postings[flat].astype(np.int64) + self.row_offsets[fi]] = True
        return mask

    def search(
        self, words: tuple[str, ...], file_selected: list[bool], labels: tuple[str, ...] = ()
    ) -> tuple[np.ndarray, np.ndarray]:
        """(local row numbers, file positions) of the rows matching every word (and a label), in browse order."""
        chosen = np.array(file_selected, dtype=bool)
        mask: np.ndarray | None = None
        for word in words:
            hit = self._word_mask(word, chosen)
            mask = hit if mask is None else mask & hit
        rows = np.flatnonzero(mask) if mask is not None else np.zeros(0, dtype=np.int64)
        if labels and rows.size:
            wanted = [i for i, values in enumerate(self.label_values) if values & set(labels)]
            rows = rows[np.isin(self.label_codes[rows], np.array(wanted, dtype=np.int32))]
        files = np.searchsorted(self.row_offsets, rows, side="right") - 1
        return rows - self.row_offsets[files], files


_INDEX: OrderedDict[tuple[str, int, int], TextIndex] = OrderedDict()
_INDEX_MAX_FILES = 512
_CACHE_LOCK = threading.Lock()  # short: look-ups and inserts
_BUILD_LOCK = threading.Lock()  # long: one build at a time (two cores; a second build would only compete)


def _cached(key: tuple[str, int, int]) -> TextIndex | None:
    with _CACHE_LOCK:
        hit = _INDEX.get(key)
        if hit is not None:
            _INDEX.move_to_end(key)
        return hit


def text_index(source: SampleSource) -> TextIndex:
    """The word index of a file, built on first use and kept (keyed by path, mtime and size)."""
    key = _stat_key(source.path)
    hit = _cached(key)
    if hit is not None:
        return hit
    with _BUILD_LOCK:
        hit = _cached(key)
        if hit is None:
            hit = TextIndex(source.path)
            with _CACHE_LOCK:
                _INDEX[key] = hit
                while len(_INDEX) > _INDEX_MAX_FILES:
                    _INDEX.popitem(last=False)
    return hit


_CORPUS: tuple[tuple[tuple[str, int, int], ...], CorpusIndex] | None = None


def corpus_index(sources: list[SampleSource]) -> CorpusIndex:
    """The combined index of these files (the latest one is kept; per-file indexes are reused when it changes)."""
    global _CORPUS
    key = tuple(_stat_key(s.path) for s in sources)
    current = _CORPUS
    if current is not None and current[0] == key:
        return current[1]
    built = CorpusIndex(sources)
    _CORPUS = (key, built)
    return built


def index_ready(sources: list[SampleSource]) -> bool:
    """Whether every file already has its word index (text search is then fast)."""
    with _CACHE_LOCK:
        return all(_stat_key(s.path) in _INDEX for s in sources if os.path.exists(s.path))


_WARMER: threading.Thread | None = None


def warm_text_index(sources: list[SampleSource]) -> threading.Thread:
    """Build the word indexes (and label counts) in a background thread, so the first search does not wait.

    One warmer at a time per process: a second call while one runs returns the running one.
    """
    global _WARMER
    with _CACHE_LOCK:
        if _WARMER is not None and _WARMER.is_alive():
            return _WARMER

        def work() -> None:
            cur = _cursor()
            try:
                _label_counts(cur, sources)
            except Exception:  # a file replaced meanwhile: the query path recounts or reports it
                pass
            finally:
                cur.close()
            try:
                corpus_index(sources)
            except Exception:  # same: the query path rebuilds or reports it
                pass

        _WARMER = threading.Thread(target=work, name="lensforge-text-index", daemon=True)
        _WARMER.start()
        return _WARMER
