"""The normalised sample schema every reader produces (DESIGN.md, "A sample after ingestion")."""

from __future__ import annotations

import polars as pl

# Longest text kept (characters after cleaning): longer ones are quarantined as `too_long`, and
# validation checks the same bound. A news article fits; a whole file glued into one field does not.
TEXT_MAX_CHARS = 20_000

# Column order of every ingested Parquet file. `label` is a list for multi-label datasets.
SAMPLE_COLUMNS: tuple[str, ...] = (
    "sample_id",
    "dataset",
    "version",
    "language",
    "task",
    "task_type",
    "split",
    "text",
    "text_original",
    "text_pair",
    "label_raw",
    "label",
    "target",
    "source_file",
    "source_line",
    "text_key",
)
QUARANTINE_COLUMNS: tuple[str, ...] = (*SAMPLE_COLUMNS, "reason", "detail")

# Reason codes a quarantined row can carry.
REASONS: dict[str, str] = {
    "ragged_row": "wrong number of fields for the header",
    "unparseable": "the record could not be parsed",
    "bad_encoding": "bytes that are not valid in the file's encoding",
    "bad_bytes": "control bytes (NUL) inside the record",
    "empty_line": "a blank line where a record was expected",
    "too_short": "fewer than three letters after cleaning",
    "too_long": "longer than the longest text kept (20,000 characters after cleaning)",
    "unlabelled": "no label (an unlabelled file, or an empty label field)",
    "duplicate": "same normalised text and label as a kept row of the same split",
    "label_conflict": "same normalised text with different labels in one split",
    "leak_test_in_train": "text also in the test split; removed from train",
    "leak_test_in_dev": "text also in the test split; removed from dev",
    "leak_dev_in_train": "text also in the dev split; removed from train",
    "near_duplicate": "near-duplicate of a dev or test row (dropped on request)",
}


def label_dtype(task_type: str) -> pl.DataType:
    """Decoded labels are strings, or lists of strings for multi-label tasks."""
    return pl.List(pl.String) if task_type == "multilabel" else pl.String()


def sample_schema(task_type: str) -> dict[str, pl.DataType]:
    """Polars schema of an ingested frame for a task type."""
    schema: dict[str, pl.DataType] = {col: pl.String() for col in SAMPLE_COLUMNS}
    schema["source_line"] = pl.Int64()
    schema["label"] = label_dtype(task_type)
    return schema


def quarantine_schema(task_type: str) -> dict[str, pl.DataType]:
    schema = sample_schema(task_type)
    schema["reason"] = pl.String()
    schema["detail"] = pl.String()
    return schema


def conform(frame: pl.DataFrame | pl.LazyFrame, task_type: str, *, quarantine: bool = False) -> pl.DataFrame:
    """Select and cast the schema's columns in order, adding absent ones as nulls."""
    schema = quarantine_schema(task_type) if quarantine else sample_schema(task_type)
    lf = frame.lazy()
    present = set(lf.collect_schema().names())
    exprs = [
        (pl.col(name).cast(dtype) if name in present else pl.lit(None, dtype=dtype)).alias(name)
        for name, dtype in schema.items()
    ]
    return lf.select(exprs).collect()
