"""Cross-dataset leakage at snapshot build: a held-out row of one dataset must not be a training row of another.

Ingest already keeps each dataset's own splits apart. A mixture puts several datasets side by side, and releases
of one corpus often share rows (1,830 of ArSarcasm v1's 2,089 test tweets sit verbatim in ArSarcasm-v2's train
split). So the normalised text key (`text_key`, written by ingest: case-folded, URLs, @mentions and Arabic marks
removed; both texts for pair tasks) of every test and dev row is looked up among the train rows of every dataset in
the snapshot, and every test row among the dev rows. The train (or dev) side of a match is what goes: the test sets
stay as published, so scores remain comparable with the literature.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from lensforge.errors import LensforgeError

POLICIES = ("drop", "refuse")
# Which held-out splits a row of each split is checked against.
HELD_OUT: dict[str, tuple[str, ...]] = {"train": ("dev", "test"), "dev": ("test",)}
KEY_COLUMNS = ["dataset", "split", "id", "text_key", "input"]
REPORT_SCHEMA: dict[str, pl.DataType] = {
    "dataset": pl.String(),
    "split": pl.String(),
    "id": pl.String(),
    "input": pl.String(),
    "text_key": pl.String(),
    "held_out_dataset": pl.String(),
    "held_out_split": pl.String(),
}


@dataclass
class CrossLeakage:
    """What the check found: one report row per removed row and held-out (dataset, split) it matches."""

    report: pl.DataFrame
    pairs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def removed(self) -> pl.DataFrame:
        """(dataset, split, id) of every row to remove, once each."""
        return self.report.select("dataset", "split", "id").unique()

    def removed_counts(self) -> dict[str, dict[str, int]]:
        """Rows removed per dataset and split."""
        out: dict[str, dict[str, int]] = {}
        for row in self.removed.group_by("dataset", "split").len().iter_rows(named=True):
            out.setdefault(row["dataset"], {})[row["split"]] = int(row["len"])
        return out

    def summary(self, policy: str) -> dict[str, Any]:
        """The manifest's `cross_leakage` block."""
        removed = self.removed
        return {
            "policy": policy,
            "key": "normalised text key (case-folded; URLs, @mentions, Arabic marks removed; both texts of pairs)",
            "removed": {s: int(removed.filter(pl.col("split") == s).height) for s in HELD_OUT},
            "pairs": self.pairs,
        }


def find_cross_leakage(keys: pl.DataFrame) -> CrossLeakage:
    """Train and dev rows whose text key equals a held-out row's, with the dataset pairs they link.

    `keys` holds every snapshot row: dataset, split, id, text_key and input (the text shown in the report).
    """
    keyed = keys.filter(pl.col("text_key").is_not_null() & (pl.col("text_key") != ""))
    held = keyed.filter(pl.col("split").is_in(["dev", "test"])).select(
        "text_key", pl.col("dataset").alias("held_out_dataset"), pl.col("split").alias("held_out_split")
    )
    held = held.unique()
    parts = []
    for split, against in HELD_OUT.items():
        rows = keyed.filter(pl.col("split") == split)
        targets = held.filter(pl.col("held_out_split").is_in(list(against)))
        parts.append(rows.join(targets, on="text_key", how="inner"))
    report = (
        pl.concat(parts, how="vertical_relaxed")
        .select(list(REPORT_SCHEMA))
        .cast(REPORT_SCHEMA)  # type: ignore[arg-type]
        .sort("dataset", "split", "id", "held_out_dataset", "held_out_split")
    )
    pairs = (
        report.group_by("dataset", "split", "held_out_dataset", "held_out_split")
        .agg(pl.col("id").n_unique().alias("rows"))
        .sort("dataset", "split", "held_out_dataset", "held_out_split")
        .to_dicts()
    )
    return CrossLeakage(report, [{k: (int(v) if k == "rows" else v) for k, v in p.items()} for p in pairs])


def refuse(leak: CrossLeakage) -> None:
    """The `--on-cross-leak refuse` outcome: one message naming every dataset pair."""
    if leak.report.height == 0:
        return
    shown = [
        f"{p['rows']:,} {p['split']} rows of {p['dataset']} equal {p['held_out_split']} rows of {p['held_out_dataset']}"
        for p in leak.pairs
    ]
    raise LensforgeError(
        "cross-dataset leakage: " + "; ".join(shown[:8]) + (f"; and {len(shown) - 8} more" if len(shown) > 8 else ""),
        hint="build with --on-cross-leak drop (the default) to remove those rows and record them, "
        "or take one of the datasets out of the mixture",
    )


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise LensforgeError(f"unknown --on-cross-leak {policy!r} (use {' or '.join(POLICIES)})")
    return policy
