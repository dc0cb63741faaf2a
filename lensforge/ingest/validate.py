"""Great Expectations checks on one ingested dataset version, run before the version is registered.

Why Great Expectations and not hand-written asserts: the results carry GE's own names, arguments and
unexpected counts, so a report (and anyone who knows GE) reads them the same way every time, and the
checks stay declarative. Polars computes the few things GE has no expectation for (how many splits
share a text, class proportions per split) as helper columns, and GE checks those columns.

GE is slow to import, so it is imported only when something is validated (`warm_up`, the validate step's
set-up before a pipeline's first step, or the first `validate_many`); one in-memory context serves every
validation of a process and leaves nothing on disk.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import json
import math
import os
import sys
import threading
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from lensforge.catalog.constants import SPLITS, TASK_TYPES
from lensforge.datastack import call_with_room
from lensforge.errors import LensforgeError
from lensforge.ingest.schema import TEXT_MAX_CHARS

MAX_EXAMPLES = 5
# Long texts are cut in examples so a report stays readable; the count says how many rows failed.
EXAMPLE_CHARS = 200
# How many unexpected rows GE hands back per expectation; examples are picked (deduplicated) from these.
_PARTIAL_UNEXPECTED = 50


@dataclass(frozen=True)
class ExpectationResult:
    """One GE expectation's outcome, reduced to plain JSON-serialisable values for reports and the catalog.

    `examples` are distinct offending values, except where the value says nothing: a null is shown by
    its row's sample_id (or text, for a null sample_id), a text found in several splits by the text
    itself, a class-proportion miss by its split, label and deviation. Strings are cut at EXAMPLE_CHARS.
    """

    expectation: str  # GE's name, e.g. "expect_column_values_to_not_be_null"
    column: str | None
    success: bool
    observed_value: Any
    unexpected_count: int
    examples: list[Any]  # at most MAX_EXAMPLES offending values (or rows, where the value says nothing)
    details: dict[str, Any]  # the expectation's arguments (value_set, min_value, ...)


@dataclass(frozen=True)
class _Planned:
    """An expectation to run, keyed so its result can be put back in our order (GE reorders them)."""

    key: str
    make: Callable[[Any], Any]  # gx module -> Expectation
    # Where examples come from: "values" (the unexpected values), or one column of the unexpected rows,
    # or "rows" (a dict per unexpected row, of the row_columns given to _run).
    examples: str = "values"
    observed: dict[str, Any] = field(default_factory=dict)  # extra facts computed with Polars


@dataclass(frozen=True)
class ValidationRequest:
    """One version's rows and how to validate them (the arguments of `validate_version`)."""

    frame: pl.DataFrame
    task_type: str
    label_space: list[str]
    text_length: tuple[int, int] = (3, TEXT_MAX_CHARS)
    resplit_by: str | None = None
    proportion_tolerance: float = 0.02
    resplit_splits: tuple[str, ...] | None = None


@dataclass
class _Part:
    """One GE validation of a version: a frame and the expectations on it (`key`: which parts of other
    versions run the very same expectations, so they can be validated together)."""

    name: str
    data: pl.DataFrame
    plan: list[_Planned]
    row_columns: list[str]
    key: tuple[Any, ...]


def validate_version(
    frame: pl.DataFrame,
    *,
    task_type: str,
    label_space: list[str],
    text_length: tuple[int, int] = (3, TEXT_MAX_CHARS),
    resplit_by: str | None = None,
    proportion_tolerance: float = 0.02,
    resplit_splits: tuple[str, ...] | None = None,
) -> list[ExpectationResult]:
    """Validate one ingested version (all splits concatenated) and return every expectation's result.

    Results come in a fixed order: not-null checks, label space, unique sample ids, text length,
    split values, texts shared across splits, then (only when lensforge re-split the set stratified
    by label, `resplit_by == "label"`) class proportions per split. A failure is a result with
    `success=False`, never an exception; bad arguments or missing columns raise LensforgeError.
    `resplit_splits` limits the proportion check to the splits lensforge carved (e.g. train and dev
    carved from an official train), compared with those splits together; an official test stays out.
    """
    request = ValidationRequest(
        frame, task_type, label_space, text_length, resplit_by, proportion_tolerance, resplit_splits
    )
    return validate_many([request])[0]


def validate_many(requests: list[ValidationRequest]) -> list[list[ExpectationResult]]:
    """`validate_version` for many versions at once, with the same results as one by one.

    GE spends ~10 ms per expectation building its metric graph, whatever the rows: for a small dataset
    that is most of its ingest. So versions that run identical expectations are validated as one
    frame; these expectations (not null, in set, unique, lengths between, at most zero) hold on the
    union exactly when they hold on every part, and then each version's result is what GE reports on
    its own (its row count, 0% unexpected). If anything fails on the union, each version is validated
    on its own, so failures carry their own counts and examples.
    """
    prepared = [_prepare(r) for r in requests]
    done: dict[tuple[int, int], list[ExpectationResult]] = {}
    groups: dict[tuple[Any, ...], list[tuple[int, int]]] = {}
    for i, parts in enumerate(prepared):
        for j, part in enumerate(parts):
            groups.setdefault(part.key, []).append((i, j))
    for members in groups.values():
        parts = [prepared[i][j] for i, j in members]
        if len(parts) > 1 and all(_quick_applies(p.data) for p in parts):
            union = pl.concat([p.data for p in parts], how="vertical_relaxed")
            together = _run(parts[0].name, union, parts[0].plan, parts[0].row_columns, result_format=_PASS_FAIL)
            if all(r.success for r in together):
                for (i, j), part in zip(members, parts, strict=True):
                    done[(i, j)] = [
                        _passed(pl_, r, part.data.height) for pl_, r in zip(part.plan, together, strict=True)
                    ]
                continue
        for (i, j), part in zip(members, parts, strict=True):
            done[(i, j)] = _run_part(part)
    out = []
    for i, parts in enumerate(prepared):
        results: list[ExpectationResult] = []
        for j, part in enumerate(parts):
            if part.name == "label_items":
                # The label-space result goes where single-label tasks have theirs: after the not-null checks.
                position = next(
                    k for k, r in enumerate(results) if r.expectation == "expect_column_values_to_be_unique"
                )
                results[position:position] = done[(i, j)]
            else:
                results += done[(i, j)]
        out.append(results)
    return out


# Result formats. Pass/fail only (GE's BOOLEAN_ONLY) skips collecting unexpected values and positions: a
# third of the time on a 110K-row version, most of it on a small one. SUMMARY gives counts and examples.
_PASS_FAIL: dict[str, Any] = {"result_format": "BOOLEAN_ONLY"}
_SUMMARY: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": _PARTIAL_UNEXPECTED}


def _quick_applies(data: pl.DataFrame) -> bool:
    """Whether a pass can be reported from pass/fail alone: rows to count and no nulls, so a passing
    expectation's counts are known (every row checked, none unexpected)."""
    return bool(data.height) and not sum(data.null_count().row(0))


def _run_part(part: _Part) -> list[ExpectationResult]:
    """One validation: pass/fail first, and the SUMMARY run (counts, examples) only when something fails.
    The results are the same as SUMMARY's either way (tests/test_ingest_validate.py checks it)."""
    if _quick_applies(part.data):
        quick = _run(part.name, part.data, part.plan, part.row_columns, result_format=_PASS_FAIL)
        if all(r.success for r in quick):
            return [_passed(planned, r, part.data.height) for planned, r in zip(part.plan, quick, strict=True)]
    return _run(part.name, part.data, part.plan, part.row_columns)


def _passed(planned: _Planned, together: ExpectationResult, rows: int) -> ExpectationResult:
    """A version's result for an expectation that held on it (or on a union of versions, `together`): what
    GE's SUMMARY says of a pass, from a pass/fail run."""
    observed = {"element_count": rows, "unexpected_percent": 0.0, **planned.observed}
    return ExpectationResult(
        expectation=together.expectation,
        column=together.column,
        success=True,
        observed_value=_plain(observed),
        unexpected_count=0,
        examples=[],
        details=together.details,
    )


def _prepare(request: ValidationRequest) -> list[_Part]:
    """The GE validations of one version, in result order (label items are placed by `validate_many`)."""
    frame, task_type, label_space = request.frame, request.task_type, request.label_space
    text_length, resplit_by, resplit_splits = request.text_length, request.resplit_by, request.resplit_splits
    proportion_tolerance = request.proportion_tolerance
    _check_arguments(frame, task_type, label_space, text_length, proportion_tolerance)
    if task_type == "multilabel" and frame.schema["label"] == pl.Null:  # every label null: give it its list type
        frame = frame.with_columns(pl.col("label").cast(pl.List(pl.String)))
    labelled = task_type != "generation"
    multilabel = task_type == "multilabel"
    low, high = text_length

    rows = frame.with_columns(text_key_splits=_splits_per_text_key())
    shared_texts = rows.filter(pl.col("text_key_splits") > 1).get_column("text_key").n_unique()

    plan: list[_Planned] = [
        _Planned(
            "sample_id_not_null",
            lambda gx: gx.expectations.ExpectColumnValuesToNotBeNull(column="sample_id"),
            "text",
        ),
        _Planned(
            "split_not_null", lambda gx: gx.expectations.ExpectColumnValuesToNotBeNull(column="split"), "sample_id"
        ),
        _Planned("text_not_null", lambda gx: gx.expectations.ExpectColumnValuesToNotBeNull(column="text"), "sample_id"),
    ]
    if task_type == "pair_classification":
        plan.append(
            _Planned(
                "text_pair_not_null",
                lambda gx: gx.expectations.ExpectColumnValuesToNotBeNull(column="text_pair"),
                "sample_id",
            )
        )
    target_column = "label" if labelled else "target"
    plan.append(
        _Planned(
            f"{target_column}_not_null",
            lambda gx: gx.expectations.ExpectColumnValuesToNotBeNull(column=target_column),
            "sample_id",
        )
    )
    if labelled and not multilabel:
        plan.append(
            _Planned(
                "label_in_space",
                lambda gx: gx.expectations.ExpectColumnValuesToBeInSet(column="label", value_set=list(label_space)),
            )
        )
    plan += [
        _Planned("sample_id_unique", lambda gx: gx.expectations.ExpectColumnValuesToBeUnique(column="sample_id")),
        _Planned(
            "text_length",
            lambda gx: gx.expectations.ExpectColumnValueLengthsToBeBetween(
                column="text", min_value=low, max_value=high
            ),
        ),
        _Planned(
            "split_values",
            lambda gx: gx.expectations.ExpectColumnValuesToBeInSet(column="split", value_set=list(SPLITS)),
        ),
        _Planned(
            "text_in_one_split",
            # InSet, not Between: GE's pandas Between runs a Python function per row (seconds at 1M rows).
            lambda gx: gx.expectations.ExpectColumnValuesToBeInSet(column="text_key_splits", value_set=[0, 1]),
            "text",
            {"shared_texts": shared_texts},
        ),
    ]

    # Only the columns the expectations read go to pandas: the conversion is most of the cost on big sets.
    row_columns = ["sample_id", "split", "text", "text_key_splits", target_column]
    if task_type == "pair_classification":
        row_columns.append("text_pair")
    if multilabel:
        # Lists become one numpy array per cell in pandas, which GE can only fingerprint by pickling the
        # frame (seconds per million rows). Joined labels are null exactly where the list is, which is
        # all the not-null check reads; the labels themselves are checked one by one on `label_item`.
        rows = rows.with_columns(pl.col("label").list.join("|"))

    key = (task_type, tuple(label_space), text_length, proportion_tolerance)
    parts = [_Part("rows", rows.select(row_columns), plan, ["sample_id", "text"], ("rows", *key))]

    if multilabel:
        items = _label_items(frame)
        item_plan = [
            _Planned(
                "label_item_in_space",
                lambda gx: gx.expectations.ExpectColumnValuesToBeInSet(
                    column="label_item", value_set=list(label_space)
                ),
            )
        ]
        parts.append(_Part("label_items", items, item_plan, ["sample_id"], ("label_items", *key)))

    if resplit_by == "label" and labelled:
        carved = frame if resplit_splits is None else frame.filter(pl.col("split").is_in(list(resplit_splits)))
        proportions = class_proportions(carved, multilabel=multilabel)
        # A split of n rows cannot match a share closer than whole rows allow: a stratified split may put
        # each stratum one row off, so a class is off by up to one row and the split's size by one row per
        # stratum (weighted by the class's share). Above that floor, `proportion_tolerance` applies.
        labelled_rows = carved.filter(pl.col("label").is_not_null())
        strata = labelled_rows["label"].list.sort() if multilabel else labelled_rows["label"]
        n_strata = max(1, strata.n_unique())
        proportions = proportions.with_columns(
            allowed=pl.max_horizontal(
                pl.lit(proportion_tolerance), (1 + pl.col("overall_share") * n_strata) / pl.col("samples")
            )
        ).with_columns(excess=pl.col("deviation") - pl.col("allowed"))
        worst = {**_largest_deviation(proportions), "tolerance": proportion_tolerance}
        proportion_plan = [
            _Planned(
                "class_proportions",
                lambda gx: gx.expectations.ExpectColumnValuesToBeBetween(column="excess", max_value=0.0),
                "rows",
                worst,
            )
        ]
        parts.append(
            _Part(
                "class_proportions",
                proportions,
                proportion_plan,
                ["split", "label", "deviation"],
                ("class_proportions", *key),
            )
        )
    return parts


def class_proportions(frame: pl.DataFrame, *, multilabel: bool) -> pl.DataFrame:
    """Per split and class: the class's share of the split's labelled samples vs its share of the whole.

    Classes missing from a split count with share 0, which is exactly the skew a stratified re-split
    must not produce. For multilabel sets a share is the fraction of samples carrying the label.
    """
    labelled = frame.filter(pl.col("split").is_not_null() & pl.col("label").is_not_null()).select("split", "label")
    if multilabel:
        labelled = labelled.with_columns(pl.col("label").list.unique())
    sizes = labelled.group_by("split").agg(samples=pl.len())
    items = labelled.explode("label") if multilabel else labelled
    counts = items.drop_nulls("label").group_by("split", "label").agg(count=pl.len())
    total = labelled.height
    overall = counts.group_by("label").agg(overall_share=pl.col("count").sum() / total if total else pl.lit(0.0))
    grid = (
        sizes.join(overall, how="cross")
        .join(counts, on=["split", "label"], how="left")
        .with_columns(pl.col("count").fill_null(0))
        .with_columns(split_share=pl.col("count") / pl.col("samples"))
        .with_columns(deviation=(pl.col("split_share") - pl.col("overall_share")).abs())
    )
    order = {name: i for i, name in enumerate(SPLITS)}
    return (
        grid.with_columns(_order=pl.col("split").replace_strict(order, default=len(SPLITS), return_dtype=pl.Int64))
        .sort("_order", "split", "label")
        .select("split", "label", "samples", "count", "split_share", "overall_share", "deviation")
    )


def _splits_per_text_key() -> pl.Expr:
    """How many distinct splits each row's text_key occurs in (null for rows without a key)."""
    return (
        pl.when(pl.col("text_key").is_not_null())
        .then(pl.col("split").drop_nulls().n_unique().over("text_key"))
        .otherwise(None)
    )


def _label_items(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per (sample, label) of a multilabel set, so GE can check each label against the space."""
    return frame.select("sample_id", pl.col("label").alias("label_item")).explode("label_item").drop_nulls("label_item")


def _largest_deviation(proportions: pl.DataFrame) -> dict[str, Any]:
    """Where a class's share in a split strays furthest from its share of the whole."""
    if proportions.is_empty():
        return {"max_deviation": 0.0, "split": None, "label": None}
    row = proportions.sort("deviation", descending=True, maintain_order=True).row(0, named=True)
    return {
        "max_deviation": round(row["deviation"], 6),
        "split": row["split"],
        "label": row["label"],
        "split_share": round(row["split_share"], 6),
        "overall_share": round(row["overall_share"], 6),
    }


def _check_arguments(
    frame: pl.DataFrame,
    task_type: str,
    label_space: list[str],
    text_length: tuple[int, int],
    proportion_tolerance: float,
) -> None:
    """Fail early, with a message for a person, on what would otherwise surface as a GE exception."""
    if task_type not in TASK_TYPES:
        raise LensforgeError(f"unknown task type {task_type!r}", hint=f"one of {', '.join(TASK_TYPES)}")
    required = ["sample_id", "split", "text", "text_key"]
    required.append("target" if task_type == "generation" else "label")
    if task_type == "pair_classification":
        required.append("text_pair")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise LensforgeError(f"ingested frame lacks column(s) {', '.join(missing)}")
    if task_type != "generation":
        if not label_space:
            raise LensforgeError(f"a {task_type} dataset needs a non-empty label space to validate against")
        is_list = isinstance(frame.schema["label"], pl.List)
        if task_type == "multilabel" and not is_list and frame.schema["label"] != pl.Null:
            raise LensforgeError("a multilabel dataset's label column must be a list of strings")
        if task_type != "multilabel" and is_list:
            raise LensforgeError(f"a {task_type} dataset's label column must hold one string per row, not lists")
    low, high = text_length
    if low < 0 or high < low:
        raise LensforgeError(f"bad text length bounds {text_length}", hint="need 0 <= min <= max")
    if not 0 <= proportion_tolerance <= 1:
        raise LensforgeError(f"proportion tolerance {proportion_tolerance} is not between 0 and 1")


# GE imports every expectation it ships when it is imported; one of them brings scipy.stats and altair
# (~1.1 of GE's ~2.7 s CPU import, 600 modules) for a distribution test and its charts, which lensforge
# never runs. They are deferred: each is really imported the first time anything reads from it.
_DEFERRED_FOR_GE = ("scipy.stats", "altair")
_DEFER_LOCK = threading.Lock()


class _DeferredModule(types.ModuleType):
    """Stands in sys.modules for a module not imported yet; the first attribute read imports the real one
    (replacing the stand-in) and answers from it, as every later read through this object does."""

    def __getattr__(self, attr: str) -> Any:
        with _DEFER_LOCK:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
            real = importlib.import_module(self.__name__)
        return getattr(real, attr)


def _defer_import(name: str) -> None:
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None:
        return
    stand_in = _DeferredModule(name)
    stand_in.__spec__ = spec
    stand_in.__file__ = spec.origin
    if spec.submodule_search_locations is not None:
        stand_in.__path__ = list(spec.submodule_search_locations)
    sys.modules[name] = stand_in


def _import_gx() -> Any:
    """Import GE only when validating: the import takes seconds, and analytics must be off before it."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    if "great_expectations" not in sys.modules:
        # The import creates ~150K objects that live as long as the process: the full collections it set off
        # (three, ~0.1 s each of holding the GIL while files are read) freed nothing. None runs until it is done.
        collecting = gc.isenabled()
        gc.disable()
        try:
            for name in _DEFERRED_FOR_GE:
                _defer_import(name)
            import great_expectations  # noqa: F401
        finally:
            if collecting:
                gc.enable()
    import great_expectations as gx
    from great_expectations.execution_engine import pandas_execution_engine

    # GE fingerprints every pandas batch under 1 GB by hashing all its cells (5 s per million rows here),
    # a marker we never read. Turning the threshold off changes no expectation and no result.
    pandas_execution_engine.HASH_THRESHOLD = 0
    return gx


def warm_up() -> None:
    """Import GE and build its context once per process, before a dataset's steps start (threads asking
    together wait for the one build; later calls return at once).

    Not beside the steps: GE's import is ~0.9 s of CPU that holds the GIL, and on two cores the thread holding
    it competes with the workers' threads for it. Interleaved CLI runs against importing from a background
    thread while files are read (medians): LlamaLens shape 10.15 -> 10.35 s wall (within noise), 17.5 -> 17.0 s
    CPU; TSV 8.44 -> 8.15 s; 52 tiny sets 3.95 -> 3.83 s. Called per pipeline, so a run where nothing is new
    never imports GE (9 real sets unchanged: 1.3-1.8 s, against 2.6-2.8 s importing up front).
    """
    _batch_definition()


_GX_LOCK = threading.Lock()
_DEFINITION_LOCK = threading.Lock()
_definition: Any = None


def _batch_definition() -> Any:
    """One in-memory context per process, with one pandas asset whose batches are the frames we pass in.

    Built once: a context, a data source and a stored suite per dataset cost a tenth of a second each
    time, which was most of the fixed cost of ingesting a small dataset. The lock is here, not in a caller,
    so threads that validate at once (with or without a pipeline's `warm_up`) wait for the one build
    instead of each building a context. Progress bars are off (they would spam CLI output and logs).
    The build (GE's import, mostly) runs with room on the frame stack: without it the interpreter maps and
    unmaps a 16 KiB stack chunk ~36,000 times during the import (lensforge.datastack).
    """
    global _definition
    if _definition is None:
        with _DEFINITION_LOCK:
            if _definition is None:
                _definition = call_with_room(_build_batch_definition)
    return _definition


def _build_batch_definition() -> Any:
    gx = _import_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = context.data_sources.add_pandas("lensforge").add_dataframe_asset("frame")
    return asset.add_batch_definition_whole_dataframe("whole")


def _run(
    name: str,
    data: pl.DataFrame,
    plan: list[_Planned],
    row_columns: list[str],
    *,
    result_format: dict[str, Any] = _SUMMARY,
) -> list[ExpectationResult]:
    """Run the planned expectations on one frame (as pandas: GE rejects Polars) and return results in plan order.

    The suite is validated against the batch directly, not stored in the context. GE reports unexpected
    rows by position only: asking it for `unexpected_index_column_names` makes it look up every
    unexpected row one by one (tens of seconds when 100K rows fail), so the rows named in examples are
    read back from the Polars frame instead.
    """
    gx = _import_gx()
    definition = _batch_definition()
    suite = gx.ExpectationSuite(name=name)
    for planned in plan:
        expectation = planned.make(gx)
        expectation.meta = {"lensforge_key": planned.key}
        suite.add_expectation(expectation)
    # Arrow-backed pandas columns: no Python object per string to build, and GE's null, set, length and
    # uniqueness checks run as Arrow kernels instead of Python loops over objects (same results: the SUMMARY
    # comparisons in tests/test_ingest_validate.py; ~10% less GE time on the LlamaLens shape).
    frame = data.to_pandas(use_pyarrow_extension_array=True)
    with _GX_LOCK:  # one context is shared by the ingest worker threads
        outcome = definition.get_batch(batch_parameters={"dataframe": frame}).validate(
            suite, result_format=result_format
        )
    by_key = {r.expectation_config.meta["lensforge_key"]: r for r in outcome.results}
    return [_result(planned, by_key[planned.key], data.select(row_columns)) for planned in plan]


def _result(planned: _Planned, outcome: Any, rows: pl.DataFrame) -> ExpectationResult:
    """Reduce a GE validation result to an ExpectationResult of plain values."""
    config = outcome.expectation_config
    info = outcome.exception_info or {}
    if info.get("raised_exception"):
        raise RuntimeError(f"Great Expectations failed on {config.type}: {info.get('exception_message')}")
    result = outcome.result or {}
    kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id", "result_format")}
    observed = result.get("observed_value")
    if observed is None:
        percent = result.get("unexpected_percent")
        observed = {
            "element_count": result.get("element_count"),
            "unexpected_percent": None if percent is None else round(float(percent), 4),
        }
    if planned.observed:
        observed = {**observed, **planned.observed} if isinstance(observed, dict) else planned.observed
    return ExpectationResult(
        expectation=config.type,
        column=kwargs.get("column"),
        success=bool(outcome.success),
        observed_value=_plain(observed),
        unexpected_count=int(result.get("unexpected_count") or 0),
        examples=_examples(planned.examples, result, rows),
        details=_plain(kwargs),
    )


def _examples(source: str, result: dict[str, Any], rows: pl.DataFrame) -> list[Any]:
    """Up to MAX_EXAMPLES distinct offending values (or row identifiers where the value is uninformative).

    `rows` is the validated frame's `row_columns`, in the order GE saw them (its positions are GE's index).
    """
    candidates: list[Any]
    if source == "values":
        candidates = list(result.get("partial_unexpected_list") or [])
    else:
        positions = [int(i) for i in result.get("partial_unexpected_index_list") or []]
        picked = rows.select(pl.all().gather(positions))
        candidates = picked.to_dicts() if source == "rows" else picked.get_column(source).to_list()
    seen: set[str] = set()
    examples: list[Any] = []
    for value in candidates:
        plain = _plain(value, cut=True)
        key = json.dumps(plain, sort_keys=True, ensure_ascii=False)
        if key in seen:
            continue
        seen.add(key)
        examples.append(plain)
        if len(examples) == MAX_EXAMPLES:
            break
    return examples


def _plain(value: Any, *, cut: bool = False) -> Any:
    """numpy / pandas values to plain Python (NaN and NA to None), so json.dumps works on every result."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return value[:EXAMPLE_CHARS] + "…" if cut and len(value) > EXAMPLE_CHARS else value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {str(k): _plain(v, cut=cut) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v, cut=cut) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return _plain(value.tolist(), cut=cut)
    if hasattr(value, "item"):
        return _plain(value.item(), cut=cut)
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return None
    except ImportError:  # pragma: no cover - pandas comes with GE
        pass
    return str(value)
