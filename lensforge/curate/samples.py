"""The sample browser: kept rows of the current versions, filtered and paged in place with DuckDB.

The Samples page and `lensforge samples` both read here. The Parquet files are queried where they lie
(`read_parquet([...])` + WHERE + LIMIT/OFFSET + a count), so a page of 2.7M rows costs what one page
costs, not what the corpus costs. Text search goes through a word index built once per file and kept
in memory, because a substring scan of every text is seconds at that scale.

A label filter may name a label in any of its three names (source, decoded, canonical; see
`mappings.label_vocabulary`): per file it becomes the decoded labels whose chain holds the name, and
each row comes back with all three.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from lensforge.catalog.constants import SPLITS
from lensforge.catalog.db import connect
from lensforge.curate.mappings import LabelVocabulary, label_vocabulary
from lensforge.errors import LensforgeError
from lensforge.ingest.versions import current_versions_frame
from lensforge.workspace import Workspace

# What a sample row shows. `label` is the decoded label rendered as text (multi-label lists joined) in every
# file, `label_raw` the source value, `canonical` what the current mapping makes of it.
SAMPLE_COLUMNS = (
    "sample_id",
    "dataset",
    "language",
    "split",
    "label_raw",
    "label",
    "canonical",
    "text",
    "text_pair",
    "target",
)


def current_versions(ws: Workspace) -> pl.DataFrame:
    """The current ingested version of every dataset, with the dataset's language and task."""
    with connect(ws, read_only=True) as con:
        return current_versions_frame(con).select(
            "dataset_id",
            "version_id",
            "path",
            "language",
            "task",
            "task_type",
            "valid",
            "records_read",
            "kept_train",
            "kept_dev",
            "kept_test",
            "quarantined",
            "dropped_by_reason",
            "label_counts",
            "created_at",
        )


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
    vocabulary: LabelVocabulary | None = None  # the dataset's label chain

    def decoded_labels(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """The decoded labels of this file that a filter naming `names` (in any of the three names) selects."""
        if not names:
            return ()
        if self.vocabulary is None:
            return names
        return tuple(sorted(self.vocabulary.decoded_matching(set(names))))


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
    # Without a catalog (Parquet files only, as bench/app_queries.py synthesises them) labels filter by decoded name.
    vocab = label_vocabulary(ws, versions["dataset_id"].to_list()) if ws.catalog_path.is_file() else {}
    out = []
    for v in versions.iter_rows(named=True):
        for split in SPLITS:
            path = ws.root / v["path"] / f"{split}.parquet"
            if not path.is_file():
                continue
            rows, kind, pair, target = _file_meta(str(path))
            out.append(
                SampleSource(
                    str(path),
                    v["dataset_id"],
                    v["language"],
                    split,
                    v["version_id"],
                    rows,
                    kind,
                    pair,
                    target,
                    vocab.get(v["dataset_id"]),
                )
            )
    return out


def label_options(sources: list[SampleSource], datasets: tuple[str, ...] = ()) -> list[str]:
    """Every name a label filter accepts for the chosen datasets: source, decoded and canonical names."""
    names: set[str] = set()
    for s in sources:
        if s.vocabulary is not None and (not datasets or s.dataset_id in datasets):
            names |= s.vocabulary.names
    return sorted(names)


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
    raw = "CAST(label_raw AS VARCHAR)" if source.label_kind != "none" else "CAST(NULL AS VARCHAR)"
    return (
        f"sample_id, {raw} AS label_raw, {_label_sql(source.label_kind)} AS label, text, "
        f"{pair} AS text_pair, {target} AS target"
    )


def canonical_expr(vocab: LabelVocabulary | None) -> pl.Expr:
    """The canonical name(s) the dataset's mapping gives a row's `label_raw` (atoms joined for multi-label)."""
    mapping = vocab.canonical_of() if vocab is not None else {}
    if not mapping:
        return pl.lit(None, dtype=pl.String)
    keys, values = list(mapping), list(mapping.values())
    if vocab is not None and vocab.separator:
        return (
            pl.col("label_raw")
            .str.split(vocab.separator)
            .list.eval(
                pl.element().str.strip_chars().replace_strict(keys, values, default=None, return_dtype=pl.String)
            )
            .list.drop_nulls()
            .list.join(", ")
        )
    return pl.col("label_raw").replace_strict(keys, values, default=None, return_dtype=pl.String)


def _canonical(source: SampleSource) -> pl.Expr:
    return canonical_expr(source.vocabulary)


def _with_source(frame: pl.DataFrame, source: SampleSource) -> pl.DataFrame:
    return frame.with_columns(
        pl.lit(source.dataset_id, dtype=pl.String).alias("dataset"),
        pl.lit(source.language, dtype=pl.String).alias("language"),
        pl.lit(source.split, dtype=pl.String).alias("split"),
        _canonical(source).alias("canonical"),
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


def _counts(
    cur: duckdb.DuckDBPyConnection, files: list[SampleSource], labels: list[tuple[str, ...]] | None
) -> list[int]:
    """Matching rows per file: the footer's row count, or the cached label counts when labels are chosen
    (`labels`: the decoded labels chosen in each file)."""
    if labels is None:
        return [f.rows for f in files]
    out = []
    for f, counts, chosen_here in zip(files, _label_counts(cur, files), labels, strict=True):
        chosen = set(chosen_here)
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
    return pl.DataFrame(schema=dict.fromkeys(SAMPLE_COLUMNS, pl.String))


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
    per_file = [f.decoded_labels(flt.labels) for f in files] if flt.labels else None
    cur = _cursor()
    try:
        if words:
            return _query_text(cur, sources, files, per_file, words, limit=limit, offset=offset, started=started)
        counts = _counts(cur, files, per_file)
        frames = []
        for i, inner, n in _window(counts, offset, limit):
            f = files[i]
            where, params = _where(f.label_kind, per_file[i] if per_file else ())
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
    per_file: list[tuple[str, ...]] | None,
    words: tuple[str, ...],
    *,
    limit: int,
    offset: int,
    started: float,
) -> SamplePage:
    corpus = corpus_index(sources)
    chosen = {f.path: (per_file[i] if per_file else ()) for i, f in enumerate(files)}
    labels = [set(chosen.get(s.path, ())) for s in sources] if per_file is not None else None
    rows, file_of_row = corpus.search(words, [s.path in chosen for s in sources], labels)
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
    joined = order.join(got, on=["_file", "_row"], how="inner").sort("_pos")
    return joined.with_columns(_canonical_by_dataset([source for source, _ in wanted])).select(SAMPLE_COLUMNS)


def _canonical_by_dataset(sources: list[SampleSource]) -> pl.Expr:
    """`canonical` for rows of several datasets in one expression (a page holds few rows: no split and concat)."""
    expr: Any = None
    for source in {s.dataset_id: s for s in sources if s.vocabulary and s.vocabulary.canonical_of()}.values():
        mine = pl.col("dataset") == source.dataset_id
        expr = (pl.when(mine) if expr is None else expr.when(mine)).then(_canonical(source))
    return (expr.otherwise(None) if expr is not None else pl.lit(None, dtype=pl.String)).alias("canonical")


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
        self.label_base = label_base
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
        self, words: tuple[str, ...], file_selected: list[bool], labels: list[set[str]] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(local row numbers, file positions) of the rows matching every word (and, with `labels`, one of the
        decoded labels chosen for the row's file), in browse order."""
        chosen = np.array(file_selected, dtype=bool)
        mask: np.ndarray | None = None
        for word in words:
            hit = self._word_mask(word, chosen)
            mask = hit if mask is None else mask & hit
        rows = np.flatnonzero(mask) if mask is not None else np.zeros(0, dtype=np.int64)
        if labels is not None and rows.size:
            wanted = [
                int(self.label_base[f]) + i
                for f, ix in enumerate(self.indexes)
                for i, values in enumerate(ix.label_values)
                if values & labels[f]
            ]
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


DECISION_COLUMNS = ("decision", "decided_label", "decision_reason", "decided_by")


def with_decisions(ws: Workspace, rows: pl.DataFrame) -> pl.DataFrame:
    """A page's rows with the curator's decision on each (null where none), and the answer a snapshot will
    give (`answer`: the relabel, else the mapping's canonical; null for excluded rows)."""
    from lensforge.curate.decisions import decisions_on

    decided = decisions_on(ws, rows["sample_id"].to_list()) if rows.height else pl.DataFrame()
    if decided.is_empty():
        decided = pl.DataFrame(
            schema={"dataset": pl.String, "sample_id": pl.String, **dict.fromkeys(DECISION_COLUMNS, pl.String)}
        )
    out = rows.join(decided, on=["dataset", "sample_id"], how="left", maintain_order="left")
    return out.with_columns(
        pl.when(pl.col("decision") == "exclude")
        .then(None)
        .when(pl.col("decision") == "relabel")
        .then(pl.col("decided_label").str.replace_all(",", ", ", literal=True))
        .otherwise(pl.col("canonical"))
        .alias("answer")
    )


def browse(ws: Workspace, flt: SampleFilter, *, limit: int = 50, offset: int = 0) -> SamplePage:
    """One page of the current versions' rows with their decisions: what `lensforge samples` prints."""
    from dataclasses import replace

    from lensforge.catalog.datasets import resolve

    sources = sample_sources(ws)
    if flt.datasets:
        with connect(ws, read_only=True) as con:
            flt = replace(flt, datasets=tuple(resolve(con, ref) for ref in flt.datasets))
        known = {s.dataset_id for s in sources}
        missing = [d for d in flt.datasets if d not in known]
        if missing:
            raise LensforgeError(f"{missing[0]} has not been ingested yet", hint=f"run `lensforge ingest {missing[0]}`")
    page = query_samples(sources, flt, limit=limit, offset=offset)
    page.rows = with_decisions(ws, page.rows)
    return page


def matching_sample_ids(sources: list[SampleSource], flt: SampleFilter, *, max_rows: int = 200_000) -> list[str]:
    """Every sample id the filter matches (the target of a bulk action), in browse order."""
    total = query_samples(sources, flt, limit=1).total
    if total > max_rows:
        raise LensforgeError(
            f"the filter matches {total:,} rows, more than {max_rows:,} for one bulk action", hint="narrow it down"
        )
    if total == 0:
        return []
    return query_samples(sources, flt, limit=total).rows["sample_id"].to_list()


def label_examples(ws: Workspace, ref: str, *, per_label: int = 3, seed: int = 0) -> dict[str, list[dict[str, Any]]]:
    """`per_label` example rows per source label of the current version, picked at random but seeded (the
    same rows on every call): the rows behind a mapping decision. Multi-label rows count for each atom."""
    from lensforge.curate.mappings import current_of
    from lensforge.hashing import seeded_keys
    from lensforge.ingest.versions import load_rows

    with connect(ws, read_only=True) as con:
        _did, version, entry = current_of(con, ref)
    if entry.task_type == "generation":
        return {}
    rows = load_rows(ws, version, columns=["sample_id", "split", "label_raw", "text"]).drop_nulls("label_raw")
    if entry.task_type == "multilabel":
        sep = (entry.ingest.labels.multilabel_separator if entry.ingest else None) or ","
        rows = rows.with_columns(pl.col("label_raw").str.split(sep)).explode("label_raw")
        rows = rows.with_columns(pl.col("label_raw").str.strip_chars()).filter(pl.col("label_raw") != "")
    picked = (
        rows.with_columns(seeded_keys(rows["sample_id"], seed, "examples").alias("_r"))
        .sort("_r")
        .group_by("label_raw", maintain_order=True)
        .head(per_label)
        .drop("_r")
    )
    return {
        raw: part.drop("label_raw").to_dicts()
        for (raw,), part in picked.sort("label_raw", maintain_order=True).group_by("label_raw", maintain_order=True)
    }
