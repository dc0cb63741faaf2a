"""Ingest as a plain list of small steps, each with one `run`, each counting what it did.

The idea comes from datatrove's pipeline blocks: a pipeline is a list you can read top to bottom,
every block has the same signature, and every block keeps its own statistics. Ours works on whole
Polars frames rather than document streams, since every ingest step here is a column operation:

- a step declares the columns it `needs` and the ones it `adds`; `Pipeline` checks the chain when it
  is built, so a step placed before the step that makes its input fails with a sentence, not deep
  inside Polars;
- `run(frame, ctx)` returns the kept rows and the dropped rows (same columns plus `reason`, `detail`);
- the pipeline times each step, counts rows in and out and drops by reason, checks that
  in = out + dropped, and reports each step to a progress callback as it finishes.
"""

from __future__ import annotations

import resource
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from lensforge.catalog.spec import DatasetEntry
from lensforge.errors import LensforgeError


@dataclass
class IngestContext:
    """What the steps of one dataset's ingest share: the entry, its version, and what steps leave for later ones.

    Steps read their settings from their own fields; the context carries only facts about this run
    (where the files are, what the split step decided, the validation results, where to write).
    """

    entry: DatasetEntry
    version_id: str = ""
    source_root: Path | None = None
    raw_files: list[dict[str, Any]] = field(default_factory=list)  # one per file: path, split, sha256, counts...
    raw_bytes: dict[str, bytes] = field(default_factory=dict)  # file path -> bytes read while hashing
    staging: Path | None = None  # the temporary version folder the write step fills
    facts: dict[str, Any] = field(default_factory=dict)  # split info, validation results, near-dup pairs
    dropped: list[pl.DataFrame] = field(default_factory=list)  # every step's dropped rows so far, in order

    @property
    def task_type(self) -> str:
        return self.entry.task_type


@dataclass
class StepOutput:
    """A step's result: the rows that go on, the rows it removed (with reason and detail), and notes."""

    kept: pl.DataFrame
    dropped: pl.DataFrame | None = None
    rows_in: int | None = None  # only for the read step: records counted in the files, not rows handed in
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepStats:
    """What one step did to one dataset: the numbers behind `ingest report` and the app's waterfall."""

    step: str
    rows_in: int
    rows_out: int
    dropped: dict[str, int]
    seconds: float
    peak_rss_mib: float  # the process's peak resident memory when the step ended (getrusage; cheap)
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Step(ABC):
    """One ingest step. Subclasses set `name`, and `needs` / `adds` (class attributes or properties)."""

    name: str = "step"
    needs: tuple[str, ...] = ()
    adds: tuple[str, ...] = ()

    @abstractmethod
    def run(self, frame: pl.DataFrame, ctx: IngestContext) -> StepOutput:
        """Turn the rows handed in into kept rows and dropped rows."""

    def prepare(self) -> None:
        """Set-up the step needs once per process before rows arrive (an import, a context); none by default.

        A pipeline calls it before its first step, so the set-up never competes with other datasets' steps
        for the GIL (see `Validate.prepare`)."""
        return None

    def __call__(self, frame: pl.DataFrame, ctx: IngestContext) -> StepOutput:
        """Run on its own (tests, a notebook): the same column contract as inside a pipeline."""
        missing = [c for c in self.needs if c not in frame.columns]
        if missing:
            raise LensforgeError(
                f"ingest step {self.name!r} needs column(s) {', '.join(missing)}, which the frame does not have"
            )
        return self.run(frame, ctx)


def drop_where(frame: pl.DataFrame, mask: pl.Expr, reason: str | pl.Expr, detail: str | pl.Expr) -> StepOutput:
    """Split rows on `mask` (evaluated once); the dropped rows get `reason` and `detail`."""
    reason_expr = pl.lit(reason) if isinstance(reason, str) else reason
    detail_expr = pl.lit(detail) if isinstance(detail, str) else detail
    marked = frame.with_columns(mask.fill_null(False).alias("_drop"))
    dropped = (
        marked.filter(pl.col("_drop"))
        .with_columns(reason_expr.cast(pl.String).alias("reason"), detail_expr.cast(pl.String).alias("detail"))
        .drop("_drop")
    )
    return StepOutput(kept=marked.filter(~pl.col("_drop")).drop("_drop"), dropped=dropped)


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


OnStep = Callable[[str, int, int, "StepStats | None"], None]  # step name, position, step count, stats (None: started)


class Pipeline:
    """An ordered list of steps whose column contract was checked when it was built."""

    def __init__(self, steps: Sequence[Step], *, start_columns: Sequence[str] = ()) -> None:
        self.steps = list(steps)
        have = set(start_columns)
        for position, step in enumerate(self.steps):
            missing = [c for c in step.needs if c not in have]
            if missing:
                before = " -> ".join(s.name for s in self.steps[:position]) or "nothing"
                raise LensforgeError(
                    f"ingest step {step.name!r} needs column(s) {', '.join(missing)}, which no earlier step adds "
                    f"(steps before it: {before})",
                    hint="move the step after the one that adds the column",
                )
            have |= set(step.adds)
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise LensforgeError(f"ingest steps must have distinct names: {', '.join(names)}")

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.steps]

    def prepare(self) -> None:
        """Every step's once-per-process set-up (`Step.prepare`), in order."""
        for step in self.steps:
            step.prepare()

    def run(
        self, frame: pl.DataFrame, ctx: IngestContext, *, on_step: OnStep | None = None
    ) -> tuple[pl.DataFrame, list[StepStats]]:
        """Run every step in order; returns the kept rows and per-step stats (dropped rows go to `ctx.dropped`)."""
        self.prepare()
        lane = Lane(self, ctx, frame, on_step=on_step)
        for position, step in enumerate(self.steps):
            lane.started(position)
            started = time.perf_counter()
            lane.finished(position, step.run(lane.frame, ctx), time.perf_counter() - started)
        return lane.frame, lane.stats


@dataclass
class Lane:
    """One dataset on its way through its pipeline: the rows so far and what each step did."""

    pipeline: Pipeline
    ctx: IngestContext
    frame: pl.DataFrame = field(default_factory=pl.DataFrame)
    stats: list[StepStats] = field(default_factory=list)
    error: LensforgeError | None = None
    on_step: OnStep | None = None

    def started(self, position: int) -> None:
        if self.on_step is not None:
            self.on_step(self.pipeline.steps[position].name, position, len(self.pipeline.steps), None)

    def finished(self, position: int, out: StepOutput, seconds: float) -> None:
        """Book a step's output: dropped rows to the context, the in = out + dropped check, the stats."""
        step, ctx = self.pipeline.steps[position], self.ctx
        rows_in = self.frame.height if out.rows_in is None else out.rows_in
        gone = out.dropped if out.dropped is not None and out.dropped.height else None
        by_reason: dict[str, int] = {}
        if gone is not None:
            by_reason = {str(r): int(n) for r, n in gone.group_by("reason").len().sort("reason").iter_rows()}
            ctx.dropped.append(gone)
        if rows_in != out.kept.height + sum(by_reason.values()):
            raise RuntimeError(
                f"ingest step {step.name!r} lost rows for {ctx.entry.dataset_id}: {rows_in} in, "
                f"{out.kept.height} kept, {sum(by_reason.values())} dropped"
            )
        record = StepStats(
            step=step.name,
            rows_in=rows_in,
            rows_out=out.kept.height,
            dropped=by_reason,
            seconds=round(seconds, 4),
            peak_rss_mib=_peak_rss_mib(),
            detail=out.detail,
        )
        self.stats.append(record)
        self.frame = out.kept
        if self.on_step is not None:
            self.on_step(step.name, position, len(self.pipeline.steps), record)


def run_together(lanes: list[Lane]) -> None:
    """Run several datasets' pipelines step by step: every dataset goes through step k before any goes to
    step k+1, so a step that can handle many datasets in one go (a `run_many` static method, like
    validation) does. Meant for small datasets, whose cost is per call, not per row.

    The pipelines must list the same steps. A dataset whose step raises LensforgeError stops there
    (`lane.error`) and the others go on; a shared step's time is split evenly among its datasets.
    """
    names = lanes[0].pipeline.names if lanes else []
    if any(lane.pipeline.names != names for lane in lanes):
        raise ValueError("datasets run together need the same step list")
    for lane in lanes:
        lane.pipeline.prepare()
    for position in range(len(names)):
        live = [lane for lane in lanes if lane.error is None]
        if not live:
            return
        for lane in live:
            lane.started(position)
        shared = getattr(type(live[0].pipeline.steps[position]), "run_many", None)
        if shared is not None and len(live) > 1:
            started = time.perf_counter()
            outs = shared(
                [lane.pipeline.steps[position] for lane in live],
                [lane.frame for lane in live],
                [lane.ctx for lane in live],
            )
            share = (time.perf_counter() - started) / len(live)
            for lane, out in zip(live, outs, strict=True):
                out.detail = {**out.detail, "run_with": len(live)}
                lane.finished(position, out, share)
            continue
        for lane in live:
            started = time.perf_counter()
            try:
                out = lane.pipeline.steps[position].run(lane.frame, lane.ctx)
            except LensforgeError as exc:
                lane.error = exc
                continue
            lane.finished(position, out, time.perf_counter() - started)
