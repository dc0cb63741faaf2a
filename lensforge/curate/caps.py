"""Per-dataset caps with stratified sampling that keeps the label distribution.

LlamaLens capped each dataset's training split at 20K rows, stratified by label (summaries
sampled uniformly). Here each stratum gets its share of the cap by largest remainder, and the
rows kept within a stratum are those with the smallest seeded hash of their sample id, so the
choice does not depend on row order and the same seed keeps the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from lensforge.hashing import seeded_keys

DEFAULT_TRAIN_CAP = 20_000


@dataclass
class CapReport:
    before: int
    after: int
    cap: int | None
    stratified_by: str | None
    max_deviation: float  # largest |share after - share before| over classes with >= 100 rows
    worst_class: str | None
    per_class: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "before": self.before,
            "after": self.after,
            "removed": self.before - self.after,
            "cap": self.cap,
            "stratified_by": self.stratified_by,
            "max_deviation": self.max_deviation,
            "worst_class": self.worst_class,
            "per_class": self.per_class,
        }


def stratum_expr(task_type: str, label_col: str = "canonical") -> pl.Expr | None:
    """What a cap stratifies on: the label, the label combination (multi-label), nothing (generation)."""
    if task_type == "generation":
        return None
    if task_type == "multilabel":
        return pl.col(label_col).list.sort().list.join(",")
    return pl.col(label_col).cast(pl.String)


def _quotas(sizes: pl.DataFrame, cap: int) -> pl.DataFrame:
    """Largest-remainder share of `cap` per stratum (sums to exactly `cap`)."""
    total = sizes["n"].sum()
    exact = sizes.with_columns((pl.col("n") * cap / total).alias("exact"))
    exact = exact.with_columns(pl.col("exact").floor().cast(pl.Int64).alias("quota"))
    left = cap - int(exact["quota"].sum())
    order = exact.with_columns((pl.col("exact") - pl.col("quota")).alias("rem")).sort(
        ["rem", "stratum"], descending=[True, False]
    )
    bonus = pl.Series("bonus", [1] * left + [0] * (order.height - left), dtype=pl.Int64)
    return order.with_columns((pl.col("quota") + bonus).alias("quota")).select("stratum", "n", "quota")


def cap_rows(
    frame: pl.DataFrame, cap: int | None, *, task_type: str, seed: int, label_col: str = "canonical"
) -> tuple[pl.DataFrame, CapReport]:
    """Keep at most `cap` rows, preserving the class distribution (or uniformly for generation)."""
    n = frame.height
    strat = stratum_expr(task_type, label_col)
    if cap is None or n <= cap:
        return frame, _report(frame, frame, cap, strat, task_type)
    keyed = frame.with_columns(seeded_keys(frame["sample_id"], seed, "cap").alias("_r"))
    keyed = keyed.with_columns((strat if strat is not None else pl.lit("")).alias("stratum"))
    sizes = keyed.group_by("stratum").len().rename({"len": "n"})
    quotas = _quotas(sizes, cap)
    kept = (
        keyed.join(quotas.select("stratum", "quota"), on="stratum")
        .with_columns(pl.col("_r").rank("ordinal").over("stratum").alias("_rank"))
        .filter(pl.col("_rank") <= pl.col("quota"))
        .drop("_r", "_rank", "quota", "stratum")
    )
    # Restore the input's order among the kept rows.
    kept = frame.join(kept.select("sample_id"), on="sample_id", how="semi")
    return kept, _report(frame, kept, cap, strat, task_type)


def _report(
    before: pl.DataFrame, after: pl.DataFrame, cap: int | None, strat: pl.Expr | None, task_type: str
) -> CapReport:
    if strat is None or before.height == 0:
        return CapReport(before.height, after.height, cap, None, 0.0, None)
    b = before.select(strat.alias("cls")).group_by("cls").len().rename({"len": "n_before"})
    if after is before:  # nothing capped (the usual case): counted once (a snapshot build counts 2.7M rows here)
        a = b.rename({"n_before": "n_after"})
    else:
        a = after.select(strat.alias("cls")).group_by("cls").len().rename({"len": "n_after"})
    table = (
        b.join(a, on="cls", how="left")
        .fill_null(0)
        .with_columns(
            (pl.col("n_before") / before.height).alias("share_before"),
            (pl.col("n_after") / max(after.height, 1)).alias("share_after"),
        )
        .with_columns((pl.col("share_after") - pl.col("share_before")).abs().alias("deviation"))
        .sort("n_before", descending=True)
    )
    big = table.filter(pl.col("n_before") >= 100)
    worst = big.sort("deviation", descending=True).row(0, named=True) if big.height else None
    return CapReport(
        before.height,
        after.height,
        cap,
        "label_set" if task_type == "multilabel" else "label",
        round(float(worst["deviation"]), 6) if worst else 0.0,
        worst["cls"] if worst else None,
        [
            {k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()}
            for r in table.rename({"cls": "class"}).to_dicts()
        ],
    )
