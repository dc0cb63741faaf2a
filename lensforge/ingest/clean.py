"""The cleaning steps of ingest: normalise, text key, too short / too long, leakage, unlabelled, dedup.

Each is a `Step` (steps.py): it declares the columns it needs and adds, and returns kept rows and
dropped rows carrying `reason` (a code from schema.REASONS) and `detail`, so nothing leaves the data
without a record of why. Their order is the ingest step list in run.py.
"""

from __future__ import annotations

import functools
import html
import unicodedata
from dataclasses import dataclass

import polars as pl

from lensforge.ingest.nfkc_table import not_nfkc_pattern
from lensforge.ingest.normalise import (
    ODD_SPACE_PATTERN,
    apply_where,
    contains_among,
    key_suspects,
    needs_whitespace_fix,
    text_key_expr,
    text_keys,
)
from lensforge.ingest.schema import TEXT_MAX_CHARS
from lensforge.ingest.steps import IngestContext, Step, StepOutput, drop_where

_HTML_ENTITY = r"&(?:#\d+|#[xX][0-9a-fA-F]+|[A-Za-z]+);"


def key_hash() -> pl.Expr:
    """A 64-bit hash of `text_key` that picks candidate matches (leakage, dedup, cross-dataset overlap); the exact
    keys are compared on the candidates, so a collision costs time, never a row. Polars' hash is stable within a
    process only: never store it."""
    return pl.col("text_key").hash(seed=11)


def nfkc(s: pl.Series) -> pl.Series:
    """NFKC, computed only for texts that are not already NFKC (Python's C quick check decides).

    Measured on 315K tweets: Polars' str.normalize takes 0.85-1.1 s even when nothing changes, while
    the C quick check `unicodedata.is_normalized` over the same texts takes 0.1 s.
    """
    values = s.to_list()
    todo = [i for i, v in enumerate(values) if v is not None and not unicodedata.is_normalized("NFKC", v)]
    if not todo:
        return s
    fixed = pl.Series([unicodedata.normalize("NFKC", values[i]) for i in todo], dtype=pl.String)
    return s.clone().scatter(todo, fixed)  # a new series: scatter writes into the one it is called on


@functools.cache
def _normalise_suspects() -> str:
    """One regex for every text that NFKC or whitespace collapsing could change (see nfkc_table)."""
    return f"{not_nfkc_pattern()}|{ODD_SPACE_PATTERN}"


def _collapse_whitespace(s: pl.Series) -> pl.Series:
    return apply_where(s, needs_whitespace_fix(s), lambda x: x.str.replace_all(r"\s+", " ").str.strip_chars())


def normalise_series(
    s: pl.Series, *, html_unescape: bool, strip_outer_quotes: bool, among: pl.Series | None = None
) -> pl.Series:
    """NFKC, optional HTML unescaping and outer-quote stripping, whitespace collapsed to single spaces.

    One regex scan finds the texts NFKC or whitespace collapsing could change; both run on those alone
    (the Python NFKC check costs ~1 us a text, and most texts need neither). `among`, when given, flags
    the only texts that can be suspects (an earlier, wider scan cleared the others).
    """
    if s.dtype != pl.String or s.null_count() == s.len():
        return s
    pattern = _normalise_suspects()
    suspect = (s.str.contains(pattern) if among is None else contains_among(s, among, pattern)).fill_null(False)
    s = apply_where(s, suspect, nfkc)
    if html_unescape:
        entity = s.str.contains(_HTML_ENTITY).fill_null(False)
        s = apply_where(s, entity, lambda x: x.map_elements(html.unescape, return_dtype=pl.String))
        suspect = suspect | entity  # an unescaped entity may be a space to collapse
    s = apply_where(s, suspect, _collapse_whitespace)
    if strip_outer_quotes:
        # Texts stored as """...""" keep literal quotes after CSV parsing; take off a balanced pair.
        quoted = s.str.starts_with('"') & s.str.ends_with('"') & (s.str.len_chars() >= 2)
        s = apply_where(s, quoted, lambda x: x.str.slice(1, x.str.len_chars() - 2).str.strip_chars())
    return s


# A hint NormaliseText leaves for TextKey (which drops it): the text is its own key, as one scan found.
PLAIN_TEXT = "_plain_text"


@functools.cache
def _text_suspects() -> str:
    """What normalising or keying a text could change, in one pattern: a regex scan of a text that does not
    match costs the same whatever the pattern, so one scan clears a text for both steps."""
    return f"{_normalise_suspects()}|{key_suspects()}"


@dataclass
class NormaliseText(Step):
    """`text` is the cleaned `text_original`; a pair's second text and a target are cleaned in place. Drops nothing.

    Also adds PLAIN_TEXT: texts that neither normalising nor keying would change (one scan for both
    steps; each step then scans only the others for its own reasons)."""

    html_unescape: bool = False
    strip_outer_quotes: bool = False
    name: str = "normalise"
    needs: tuple[str, ...] = ("text_original",)
    adds: tuple[str, ...] = ("text", PLAIN_TEXT)

    def run(self, frame: pl.DataFrame, ctx: IngestContext) -> StepOutput:
        opts = {"html_unescape": self.html_unescape, "strip_outer_quotes": self.strip_outer_quotes}
        original = frame["text_original"]
        if original.dtype == pl.String:
            maybe = original.str.contains(_text_suspects()).fill_null(False)
        else:  # every text null
            maybe = pl.repeat(False, frame.height, dtype=pl.Boolean, eager=True)
        text = normalise_series(original, **opts, among=maybe)
        # Unchanged and cleared: HTML unescaping can change a text the scan cleared, so compare as well.
        plain = ~maybe & text.eq_missing(original)
        cleaned = [text.alias("text"), plain.alias(PLAIN_TEXT)]
        cleaned += [normalise_series(frame[c], **opts) for c in ("text_pair", "target") if c in frame.columns]
        return StepOutput(kept=frame.with_columns(cleaned))


@dataclass
class TextKey(Step):
    """The dedup and leakage key. For pair tasks it holds both texts: one premise legitimately recurs with
    different hypotheses, in several splits."""

    name: str = "text_key"
    needs: tuple[str, ...] = ("text",)
    adds: tuple[str, ...] = ("text_key",)

    def run(self, frame: pl.DataFrame, ctx: IngestContext) -> StepOutput:
        plain = frame[PLAIN_TEXT] if PLAIN_TEXT in frame.columns else None
        key: pl.Expr = pl.lit(text_keys(frame["text"], plain))
        if "text_pair" in frame.columns and frame["text_pair"].null_count() < frame.height:
            key = (
                pl.when(pl.col("text_pair").is_null())
                .then(key)
                .otherwise(pl.concat_str([key, pl.lit(" \x1f "), text_key_expr("text_pair")]))
            )
        return StepOutput(kept=frame.with_columns(key.alias("text_key")).drop(PLAIN_TEXT, strict=False))


@dataclass
class DropTooShort(Step):
    """The LlamaLens filter: fewer than `min_letters` letters (any script; digits and emoji don't count)."""

    min_letters: int = 3
    name: str = "too_short"
    needs: tuple[str, ...] = ("text",)

    def run(self, frame: pl.DataFrame, ctx: IngestContext) -> StepOutput:
        # A search that stops at the n-th letter is far cheaper than counting every letter of every text.
        enough = pl.col("text").fill_null("").str.contains("(?s)" + ".*?".join([r"\p{L}"] * self.min_letters))
        letters = pl.col("text").fill_null("").str.count_matches(r"\p{L}")
        return drop_where(frame, ~enough, "too_short", pl.format("{} letter(s)", letters))


@dataclass
class DropTooLong(Step):
    """Texts longer than `max_chars` after cleaning: an oversized field costs its own record only."""

    max_chars: int = TEXT_MAX_CHARS
    name: str = "too_long"
    needs: tuple[str, ...] = ("text",)

    def run(self, frame: pl.DataFrame, ctx: IngestContext) -> StepOutput:
        length = pl.col("text").fill_null("").str.len_chars()
        return drop_where(frame, length > self.max_chars, "too_long", pl.format("{} characters", length))


@dataclass
class CrossSplitLeakage(Step):
    """A text found in test leaves train and dev; a text found in dev leaves train. Test stays intact.

    Runs before unlabelled rows are dropped, so an official test file shipped without labels
    still keeps its texts out of training.
    """

    name: str = "leakage"
    needs: tuple[str, ...] = ("split", "text_key")

    def run(self, frame: pl.DataFrame, ctx: IngestContext) -> StepOutput:
        split = pl.col("split")
        # Candidates first, by a 64-bit hash of the key (hashing integers is far cheaper than strings); the
        # exact keys are compared on the candidates only, so a hash collision costs time, never a row.
        hashed = frame.select(split, key_hash().alias("_h"))
        test_h = hashed.filter(split == "test")["_h"].unique().implode()
        dev_h = hashed.filter(split == "dev")["_h"].unique().implode()
        maybe = hashed.select(
            (((split != "test") & pl.col("_h").is_in(test_h)) | ((split == "train") & pl.col("_h").is_in(dev_h)))
            .fill_null(False)
            .alias("m")
        )["m"]
        if not maybe.any():
            return StepOutput(kept=frame)
        rows = maybe.arg_true()
        candidates = frame[rows]
        shared = hashed["_h"].is_in(hashed["_h"].gather(rows).unique().implode())
        held_out = frame.filter(shared & (hashed["split"] != "train"))  # test and dev rows sharing a hash
        test_keys = held_out.filter(split == "test")["text_key"].unique().implode()
        dev_keys = held_out.filter(split == "dev")["text_key"].unique().implode()
        in_test = pl.col("text_key").is_in(test_keys)
        in_dev = pl.col("text_key").is_in(dev_keys)
        reason = (
            pl.when((split == "train") & in_test)
            .then(pl.lit("leak_test_in_train"))
            .when((split == "dev") & in_test)
            .then(pl.lit("leak_test_in_dev"))
            .when((split == "train") & in_dev)
            .then(pl.lit("leak_dev_in_train"))
        )
        leak = pl.repeat(None, frame.height, dtype=pl.String, eager=True).scatter(
            rows, candidates.select(reason.alias("_leak"))["_leak"]
        )
        out = drop_where(
            frame.with_columns(leak.alias("_leak")),
            pl.col("_leak").is_not_null(),
            pl.col("_leak"),
            "same normalised text in a held-out split",
        )
        assert out.dropped is not None
        return StepOutput(kept=out.kept.drop("_leak"), dropped=out.dropped.drop("_leak"))


@dataclass
class DropUnlabelled(Step):
    """Rows without a label (or a generation task without a target) can neither train nor score."""

    task_type: str = "classification"
    name: str = "unlabelled"

    @property
    def needs(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("target",) if self.task_type == "generation" else ("label",)

    def run(self, frame: pl.DataFrame, ctx: IngestContext) -> StepOutput:
        if self.task_type == "generation":
            return drop_where(frame, pl.col("target").fill_null("") == "", "unlabelled", "no target text")
        missing = pl.col("label").is_null()
        if self.task_type == "multilabel":
            missing = missing | (pl.col("label").list.len() == 0)
        detail: pl.Expr | str = "empty label field"
        if "file_labelled" in frame.columns:
            detail = (
                pl.when(pl.col("file_labelled"))
                .then(pl.lit("empty label field"))
                .otherwise(pl.lit("the file has no labels (released without gold labels)"))
            )
        return drop_where(frame, missing, "unlabelled", detail)


@dataclass
class ExactDedup(Step):
    """Within one split: identical normalised texts keep one row; with different labels, none."""

    task_type: str = "classification"
    name: str = "exact_dedup"
    needs: tuple[str, ...] = ("split", "text_key", "sample_id", "label")

    def run(self, frame: pl.DataFrame, ctx: IngestContext) -> StepOutput:
        # Spelling variants of one label (Check-worthy / check_worthy) are not a conflict.
        fold = r"[^\p{L}\p{N}]+"
        if frame.schema["label"] == pl.List(pl.String):
            label_key = pl.col("label").list.eval(pl.element().str.to_lowercase().str.replace_all(fold, "")).list.sort()
            label_key = label_key.list.join(",")
        else:
            label_key = pl.col("label").cast(pl.String).fill_null("").str.to_lowercase().str.replace_all(fold, "")
        group = ["split", "text_key"]  # for pair tasks text_key already holds both texts
        # Only rows whose key occurs more than once in their split can be dropped: work on those alone. They
        # are picked by a 64-bit hash of the key (a collision only adds a candidate; the groups below are exact).
        repeated = pl.len().over("split", key_hash()) > 1
        marked = frame.with_columns(pl.int_range(pl.len()).alias("_order"), repeated.alias("_rep"))
        dupes = marked.filter(pl.col("_rep"))
        if dupes.height == 0:
            return StepOutput(kept=frame)
        dupes = dupes.with_columns(label_key.alias("_label_key")).with_columns(
            pl.col("_label_key").n_unique().over(group).alias("_n_labels"),
            pl.col("_order").rank("ordinal").over(group).alias("_rank"),
            pl.col("sample_id").first().over(group, order_by="_order").alias("_first_id"),
        )
        conflict = (pl.col("_n_labels") > 1) & pl.lit(self.task_type != "generation")
        dup = ~conflict & (pl.col("_rank") > 1)
        reason = pl.when(conflict).then(pl.lit("label_conflict")).when(dup).then(pl.lit("duplicate"))
        detail = (
            pl.when(conflict)
            .then(pl.format("{} different labels for this text", pl.col("_n_labels")))
            .otherwise(pl.format("duplicate of {}", pl.col("_first_id")))
        )
        dupes = dupes.with_columns(reason.alias("_why"), detail.alias("_detail"))
        gone = dupes.filter(pl.col("_why").is_not_null())
        kept = marked.filter(~pl.col("_order").is_in(gone["_order"].implode()))
        helpers = ["_label_key", "_order", "_rep", "_n_labels", "_rank", "_first_id", "_why", "_detail"]
        dropped = gone.with_columns(pl.col("_why").alias("reason"), pl.col("_detail").alias("detail")).drop(helpers)
        return StepOutput(kept=kept.drop("_order", "_rep"), dropped=dropped)
