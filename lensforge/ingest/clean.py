"""Cleaning as small composable steps: each takes a LazyFrame, returns kept rows and dropped rows.

Dropped rows carry `reason` (a short code from schema.REASONS) and `detail`, so nothing leaves the
data without a record of why. Steps run in order; see `default_steps`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import polars as pl

from lensforge.ingest.normalise import text_key_expr

_HTML_ENTITY = r"&(?:#\d+|#[xX][0-9a-fA-F]+|[A-Za-z]+);"


@dataclass
class StepResult:
    kept: pl.LazyFrame
    dropped: pl.LazyFrame  # same columns as kept, plus reason and detail


class Step(Protocol):
    name: str

    def __call__(self, lf: pl.LazyFrame) -> StepResult: ...


def _drop(lf: pl.LazyFrame, mask: pl.Expr, reason: str | pl.Expr, detail: pl.Expr | str) -> StepResult:
    reason_expr = pl.lit(reason) if isinstance(reason, str) else reason
    detail_expr = pl.lit(detail) if isinstance(detail, str) else detail
    dropped = lf.filter(mask).with_columns(reason_expr.alias("reason"), detail_expr.cast(pl.String).alias("detail"))
    return StepResult(kept=lf.filter(~mask), dropped=dropped)


@dataclass
class NormaliseText:
    """NFKC, optional HTML unescaping and outer-quote stripping, whitespace collapse; drops nothing."""

    html_unescape: bool = False
    strip_outer_quotes: bool = False
    name: str = "normalise_text"

    def __call__(self, lf: pl.LazyFrame) -> StepResult:
        frame = lf.collect()
        cols = ["text", "text_pair", "target"]
        for col in cols:
            if frame[col].dtype != pl.String or frame[col].null_count() == frame.height:
                continue
            s = frame[col].str.normalize("NFKC")
            if self.html_unescape:
                mask = s.str.contains(_HTML_ENTITY).fill_null(False)
                if mask.any():
                    fixed = s.filter(mask).map_elements(html.unescape, return_dtype=pl.String)
                    s = s.scatter(mask.arg_true(), fixed)
            s = s.str.replace_all(r"\s+", " ").str.strip_chars()
            if self.strip_outer_quotes:
                # Texts stored as """...""" keep literal quotes after CSV parsing; take off a balanced pair.
                quoted = s.str.starts_with('"') & s.str.ends_with('"') & (s.str.len_chars() >= 2)
                s = pl.select(pl.when(quoted).then(s.str.slice(1, s.str.len_chars() - 2)).otherwise(s)).to_series()
                s = s.str.strip_chars()
            frame = frame.with_columns(s.alias(col))
        empty = frame.clear().with_columns(
            pl.lit(None, dtype=pl.String).alias("reason"), pl.lit(None, dtype=pl.String).alias("detail")
        )
        return StepResult(kept=frame.lazy(), dropped=empty.lazy())


@dataclass
class DropTooShort:
    """The LlamaLens filter: fewer than `min_letters` letters (any script; digits and emoji don't count)."""

    min_letters: int = 3
    name: str = "too_short"

    def __call__(self, lf: pl.LazyFrame) -> StepResult:
        letters = pl.col("text").fill_null("").str.count_matches(r"\p{L}")
        return _drop(lf, letters < self.min_letters, "too_short", pl.format("{} letter(s)", letters))


@dataclass
class CrossSplitLeakage:
    """A text found in test leaves train and dev; a text found in dev leaves train. Test stays intact.

    Runs before unlabelled rows are dropped, so an official test file shipped without labels
    still keeps its texts out of training.
    """

    name: str = "leakage"

    def __call__(self, lf: pl.LazyFrame) -> StepResult:
        test_keys = lf.filter(pl.col("split") == "test").select("text_key").unique().collect()["text_key"]
        dev_keys = lf.filter(pl.col("split") == "dev").select("text_key").unique().collect()["text_key"]
        in_test = pl.col("text_key").is_in(test_keys.implode())
        in_dev = pl.col("text_key").is_in(dev_keys.implode())
        reason = (
            pl.when((pl.col("split") == "train") & in_test)
            .then(pl.lit("leak_test_in_train"))
            .when((pl.col("split") == "dev") & in_test)
            .then(pl.lit("leak_test_in_dev"))
            .when((pl.col("split") == "train") & in_dev)
            .then(pl.lit("leak_dev_in_train"))
        )
        marked = lf.with_columns(reason.alias("_leak"))
        res = _drop(marked, pl.col("_leak").is_not_null(), pl.col("_leak"), "same normalised text in a held-out split")
        return StepResult(kept=res.kept.drop("_leak"), dropped=res.dropped.drop("_leak"))


@dataclass
class DropUnlabelled:
    """Rows without a label (or a generation task without a target) can neither train nor score."""

    task_type: str = "classification"
    name: str = "unlabelled"

    def __call__(self, lf: pl.LazyFrame) -> StepResult:
        if self.task_type == "generation":
            return _drop(lf, pl.col("target").fill_null("") == "", "unlabelled", "no target text")
        missing = pl.col("label").is_null()
        if self.task_type == "multilabel":
            missing = missing | (pl.col("label").list.len() == 0)
        detail = (
            pl.when(pl.col("_labelled_file"))
            .then(pl.lit("empty label field"))
            .otherwise(pl.lit("the file has no labels (released without gold labels)"))
        )
        return _drop(lf, missing, "unlabelled", detail)


@dataclass
class ExactDedup:
    """Within one split: identical normalised texts keep one row; with different labels, none."""

    name: str = "exact_dedup"

    def __call__(self, lf: pl.LazyFrame) -> StepResult:
        schema = lf.collect_schema()
        if schema["label"] == pl.List(pl.String):
            label_key = pl.col("label").list.sort().list.join(",")
        else:
            label_key = pl.col("label").fill_null("")
        group = ["split", "text_key", "_pair_key"]
        marked = lf.with_columns(
            text_key_expr("text_pair").fill_null("").alias("_pair_key"),
            label_key.alias("_label_key"),
            pl.int_range(pl.len()).alias("_order"),
        ).with_columns(
            pl.col("_label_key").n_unique().over(group).alias("_n_labels"),
            pl.col("_order").rank("ordinal").over(group).alias("_rank"),
            pl.col("sample_id").first().over(group, order_by="_order").alias("_first_id"),
        )
        conflict = (pl.col("_n_labels") > 1) & (pl.col("task_type") != "generation")
        dup = ~conflict & (pl.col("_rank") > 1)
        reason = pl.when(conflict).then(pl.lit("label_conflict")).when(dup).then(pl.lit("duplicate"))
        detail = (
            pl.when(conflict)
            .then(pl.format("{} different labels for this text", pl.col("_n_labels")))
            .otherwise(pl.format("duplicate of {}", pl.col("_first_id")))
        )
        marked = marked.with_columns(reason.alias("_why"))
        res = _drop(marked, pl.col("_why").is_not_null(), pl.col("_why"), detail)
        helpers = ["_pair_key", "_label_key", "_order", "_n_labels", "_rank", "_first_id", "_why"]
        return StepResult(kept=res.kept.drop(helpers), dropped=res.dropped.drop(helpers))


def default_steps(*, task_type: str, html_unescape: bool, strip_outer_quotes: bool, min_letters: int) -> list[Step]:
    """The LlamaLens cleaning, in order."""
    return [
        NormaliseText(html_unescape=html_unescape, strip_outer_quotes=strip_outer_quotes),
        DropTooShort(min_letters=min_letters),
        CrossSplitLeakage(),
        DropUnlabelled(task_type=task_type),
        ExactDedup(),
    ]


def run_steps(lf: pl.LazyFrame, steps: Sequence[Step]) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """Apply steps in order; returns kept rows and every step's dropped rows."""
    dropped: list[pl.DataFrame] = []
    current = lf
    for step in steps:
        res = step(current)
        if step.name == "normalise_text":
            # Keys are computed on the cleaned text, once.
            current = res.kept.with_columns(text_key_expr("text").alias("text_key")).collect().lazy()
        else:
            current = res.kept.collect().lazy()
        out = res.dropped.collect()
        if out.height:
            dropped.append(out)
    return current.collect(), dropped
