"""What a snapshot is made of, defined once: its columns, its files, and its split names on the Hub.

The Parquet writer, the dataset card's `dataset_info.features`, the Croissant record set and the field list in the
card all derive from `COLUMNS`, so a column added here appears everywhere with one type and one description.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from lensforge.catalog.constants import SPLITS

SYSTEM_PROMPT = "You are a social media expert providing accurate analysis and insights."
MESSAGE = pl.Struct({"role": pl.String, "content": pl.String})

# name -> (Polars type, what it holds). Order is the column order of every split file.
COLUMNS: dict[str, tuple[pl.DataType, str]] = {
    "id": (pl.String(), "sample id of the source row"),
    "dataset": (pl.String(), "source dataset id"),
    "language": (pl.String(), "language of the input text"),
    "task": (pl.String(), "task name of the source dataset"),
    "split": (pl.String(), "train, dev or test (the Hub's `validation` split holds the dev rows)"),
    "instruction_id": (pl.String(), "id of the instruction used for this row"),
    "instruction": (pl.String(), "the instruction text"),
    "input": (pl.String(), "the text to analyse (pair tasks: both texts)"),
    "output": (pl.String(), "the expected answer: the canonical label(s), or the summary"),
    "messages": (
        pl.List(MESSAGE),
        "chat form of the row: system, user (instruction and input), assistant (the answer)",
    ),
}
SNAPSHOT_SCHEMA: dict[str, pl.DataType] = {name: dtype for name, (dtype, _doc) in COLUMNS.items()}
FIELD_DOCS: dict[str, str] = {name: doc for name, (_dtype, doc) in COLUMNS.items()}

# The files of a snapshot folder (relative paths). Export and Hub push carry exactly these.
CARD = "README.md"
MANIFEST = "manifest.json"
LICENSES = "LICENSES.md"
CROISSANT = "croissant.json"
LEAK_REPORT = "cross_leakage.parquet"


def data_file(split: str) -> str:
    """The Parquet file of a lensforge split (train, dev, test) inside the snapshot folder."""
    return f"data/{split}.parquet"


# lensforge's split names -> the names Hub tools expect (`validation`, not `dev`). Files keep lensforge's names.
HUB_SPLITS: dict[str, str] = {"train": "train", "dev": "validation", "test": "test"}


def hub_split(split: str) -> str:
    """The Hub's name for a lensforge split (dev -> validation)."""
    return HUB_SPLITS[split]


def lensforge_split(hub_name: str) -> str:
    """The lensforge split behind a published split name (validation -> dev); unknown names pass through."""
    return {v: k for k, v in HUB_SPLITS.items()}.get(hub_name, hub_name)


def _feature(dtype: pl.DataType) -> dict[str, Any]:
    """`datasets` YAML form of a Polars type (Features._to_yaml_list): strings, and lists of structs of strings."""
    if dtype == pl.String:
        return {"dtype": "string"}
    if isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct):
        return {"list": [{"name": f.name, **_feature(f.dtype)} for f in dtype.inner.fields]}
    raise ValueError(f"no dataset-card feature for {dtype}")  # a bug: a column type this module does not describe


def card_features() -> list[dict[str, Any]]:
    """The card's `dataset_info.features`, derived from the snapshot columns."""
    return [{"name": name, **_feature(dtype)} for name, dtype in SNAPSHOT_SCHEMA.items()]


__all__ = [
    "CARD",
    "COLUMNS",
    "CROISSANT",
    "FIELD_DOCS",
    "HUB_SPLITS",
    "LEAK_REPORT",
    "LICENSES",
    "MANIFEST",
    "MESSAGE",
    "SNAPSHOT_SCHEMA",
    "SPLITS",
    "SYSTEM_PROMPT",
    "card_features",
    "data_file",
    "hub_split",
    "lensforge_split",
]
