"""Splits: official splits kept; missing ones carved out, stratified by label and seeded.

Assignment is by rank of a seeded md5 of each sample id within its label group, so it does not
depend on row order and gives each class the same proportions (to within one row).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import polars as pl

from lensforge.catalog.constants import SPLITS
from lensforge.hashing import seeded_keys
from lensforge.ingest.steps import IngestContext, Step, StepOutput

# LlamaLens: sets without an official split become 70/20/10 train/test/dev.
TRAIN, TEST, DEV = 0.7, 0.2, 0.1


@dataclass(frozen=True)
class SplitInfo:
    method: str  # official | resplit_70_20_10 | dev_from_train | test_from_train
    seed: int
    stratified_by: str | None  # "label", "label_set" or None
    fractions: dict[str, float]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _strata(frame: pl.DataFrame, task_type: str) -> tuple[pl.Expr, str | None]:
    if task_type == "generation":
        return pl.lit(""), None
    if task_type == "multilabel":
        return pl.col("label").list.sort().list.join(","), "label_set"
    return pl.col("label").fill_null(""), "label"


def _assign(frame: pl.DataFrame, task_type: str, seed: int, cuts: list[tuple[str, float]]) -> pl.DataFrame:
    """Give each row a split by its position within its stratum; `cuts` are cumulative upper bounds."""
    stratum, _ = _strata(frame, task_type)
    ranked = frame.with_columns(
        seeded_keys(frame["sample_id"], seed, "split").alias("_r"), stratum.alias("_stratum")
    ).with_columns(((pl.col("_r").rank("ordinal").over("_stratum") - 0.5) / pl.len().over("_stratum")).alias("_pos"))
    expr = pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.String))
    for name, upper in cuts:
        expr = expr.when(pl.col("_pos") < upper).then(pl.lit(name))
    expr = expr.otherwise(pl.lit(cuts[-1][0]))
    return ranked.with_columns(expr.alias("split")).drop("_r", "_stratum", "_pos")


def assign_splits(frame: pl.DataFrame, *, task_type: str, seed: int) -> tuple[pl.DataFrame, SplitInfo]:
    """Keep official splits; carve out the missing ones from train."""
    present = set(frame["split"].unique().to_list())
    _, strat = _strata(frame, task_type)
    if set(SPLITS) <= present or not present:
        return frame, SplitInfo("official", seed, None, {})
    train = frame.filter(pl.col("split") == "train")
    rest = frame.filter(pl.col("split") != "train")
    if present == {"train"}:
        out = _assign(train, task_type, seed, [("train", TRAIN), ("test", TRAIN + TEST), ("dev", 1.0)])
        return out, SplitInfo("resplit_70_20_10", seed, strat, {"train": TRAIN, "test": TEST, "dev": DEV})
    if "test" in present and "dev" not in present:
        # Official test kept; dev is 10/80 of train, so the whole stays near 70/20/10.
        frac = DEV / (TRAIN + DEV)
        out = _assign(train, task_type, seed, [("dev", frac), ("train", 1.0)])
        return pl.concat([out, rest]), SplitInfo("dev_from_train", seed, strat, {"dev_of_train": round(frac, 4)})
    if "dev" in present and "test" not in present:
        frac = TEST / (TRAIN + TEST)
        out = _assign(train, task_type, seed, [("test", frac), ("train", 1.0)])
        return pl.concat([out, rest]), SplitInfo("test_from_train", seed, strat, {"test_of_train": round(frac, 4)})
    return frame, SplitInfo("official", seed, None, {})


@dataclass
class AssignSplits(Step):
    """Official splits kept, missing ones carved (see `assign_splits`); drops nothing. The split info is
    left in the context for validation (class proportions are checked only where lensforge carved)."""

    task_type: str = "classification"
    seed: int = 42
    name: str = "split"
    needs: tuple[str, ...] = ("split", "sample_id", "label")

    def run(self, frame: pl.DataFrame, ctx: IngestContext) -> StepOutput:
        kept, info = assign_splits(frame, task_type=self.task_type, seed=self.seed)
        ctx.facts["split"] = info
        counts = {s: int(n) for s, n in kept.group_by("split").len().sort("split").iter_rows()}
        return StepOutput(kept=kept, detail={"method": info.method, "rows": counts})
