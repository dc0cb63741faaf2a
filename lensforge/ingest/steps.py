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

    def run(
        self, frame: pl.DataFrame, ctx: IngestContext, *, on_step: OnStep | None = None
    ) -> tuple[pl.DataFrame, list[StepStats]]:
        """Run every step in order; returns the kept rows and per-step stats (dropped rows go to `ctx.dropped`)."""
        stats: list[StepStats] = []
        total = len(self.steps)
        for position, step in enumerate(self.steps):
            if on_step is not None:
                on_step(step.name, position, total, None)
            started = time.perf_counter()
            out = step.run(frame, ctx)
            seconds = time.perf_counter() - started
            rows_in = frame.height if out.rows_in is None else out.rows_in
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
            stats.append(record)
            if on_step is not None:
                on_step(step.name, position, total, record)
            frame = out.kept
        return frame, stats
