"""Checks of a whole version that no row-level expectation can make: records read against the counts the
registry declares, and splits left empty. They sit in the validation record beside the Great
Expectations results (same shape, names starting `ingest_`), and a failure makes the version invalid.

Why: a reader can agree with itself and still be wrong. A TSV with bare quotes read with quoting on
glues lines into giant records; a header one column short turns every row ragged. Both balance
read = kept + quarantined. Only a count made elsewhere (the source's documentation) or the plain fact
that a split came out empty shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from lensforge.catalog.constants import SPLITS
from lensforge.ingest.steps import IngestContext, Step, StepOutput
from lensforge.ingest.validate import ExpectationResult, ValidationRequest, validate_many, warm_up

RECORDS_CHECK = "ingest_records_match_declared"
SPLIT_CHECK = "ingest_split_has_rows"
# Carved splits, by split method: these must come out non-empty too.
_CARVED = {"resplit_70_20_10": SPLITS, "dev_from_train": ("dev",), "test_from_train": ("test",)}


def likely_cause(meta: dict[str, Any], *, quoting: bool, fmt: str) -> str:
    """The most probable reason a file's record count is off, from its line and record counts."""
    lines, records, declared = meta.get("lines"), meta["records"], meta.get("expected_records")
    ragged = (meta.get("quarantined") or {}).get("ragged_row", 0)
    if lines is not None and quoting and lines > records:
        return (
            f"quote characters join lines into records ({lines} lines, {records} records): if quotes are plain "
            "text in this file, set `quoting: false` in the registry entry"
        )
    if lines is not None and declared is not None and lines < declared:
        return f"the file has {lines} lines, fewer than the {declared} records declared: truncated, or another file"
    if not quoting and fmt == "csv":
        return "fields may hold quoted line breaks: set `quoting: true` in the registry entry"
    if ragged and ragged * 2 >= records:
        return "most records have the wrong number of fields: check the header or column_names and the delimiter"
    return "the file differs from the one the declared count was made on, or the declared count is wrong"


def records_checks(raw_files: list[dict[str, Any]], *, quoting: bool, fmt: str) -> list[ExpectationResult]:
    """One result per file that declares `expected_records`: declared against records read."""
    out = []
    for meta in raw_files:
        declared = meta.get("expected_records")
        if declared is None:
            continue
        ok = declared == meta["records"]
        observed = {"declared": declared, "records": meta["records"], "physical_lines": meta.get("lines")}
        message = (
            ""
            if ok
            else (
                f"{meta['path']}: {declared} records declared, {meta['records']} read; likely cause: "
                + likely_cause(meta, quoting=quoting, fmt=fmt)
            )
        )
        out.append(
            ExpectationResult(
                expectation=RECORDS_CHECK,
                column=meta["path"],
                success=ok,
                observed_value=observed,
                unexpected_count=abs(declared - meta["records"]),
                examples=[],
                details={"message": message} if message else {},
            )
        )
    return out


def split_checks(
    kept: dict[str, int],
    raw_files: list[dict[str, Any]],
    split_method: str,
    dropped_by_file: dict[str, dict[str, int]],
) -> list[ExpectationResult]:
    """Every split that should have rows (a labelled file feeds it, or lensforge carved it) kept some."""
    fed = {m["split"] for m in raw_files if m.get("labelled", True)}
    should = [s for s in SPLITS if s in fed or s in _CARVED.get(split_method, ())]
    out = []
    for split in should:
        ok = kept.get(split, 0) > 0
        message = ""
        if not ok:
            files = [m for m in raw_files if m["split"] == split] or [m for m in raw_files if m["split"] == "train"]
            read = sum(m["records"] for m in files)
            reasons: dict[str, int] = {}
            for m in files:
                for reason, n in dropped_by_file.get(m["path"], {}).items():
                    reasons[reason] = reasons.get(reason, 0) + n
            worst = max(reasons, key=lambda r: reasons[r]) if reasons else None
            message = f"no {split} row was kept of {read} records read from {', '.join(m['path'] for m in files)}"
            if worst:
                message += f"; dropped: {', '.join(f'{k} {v}' for k, v in sorted(reasons.items()))}"
            if worst == "ragged_row":
                message += "; likely cause: the header or column_names do not match the file's column count"
        out.append(
            ExpectationResult(
                expectation=SPLIT_CHECK,
                column=split,
                success=ok,
                observed_value={"kept": kept.get(split, 0)},
                unexpected_count=0 if ok else 1,
                examples=[],
                details={"message": message} if message else {},
            )
        )
    return out


@dataclass
class Validate(Step):
    """Great Expectations on the kept rows, then the version-level checks above; drops nothing.

    The results (in order: GE's, then records against declared counts, then splits with rows) are left
    in the context; any failure makes the version invalid.
    """

    task_type: str = "classification"
    label_space: list[str] = field(default_factory=list)
    quoting: bool = True
    fmt: str = "csv"
    name: str = "validate"

    @property
    def needs(self) -> tuple[str, ...]:  # type: ignore[override]
        target = ("target",) if self.task_type == "generation" else ("label",)
        pair = ("text_pair",) if self.task_type == "pair_classification" else ()
        return ("sample_id", "split", "text", "text_key", *target, *pair)

    def prepare(self) -> None:
        """Great Expectations imported and its context built (once per process: see `warm_up`)."""
        warm_up()

    def run(self, frame: pl.DataFrame, ctx: IngestContext) -> StepOutput:
        return self._finish(frame, ctx, validate_many([self._request(frame, ctx)])[0])

    @staticmethod
    def run_many(steps: list[Validate], frames: list[pl.DataFrame], ctxs: list[IngestContext]) -> list[StepOutput]:
        """Validate many small datasets in as few GE runs as possible (see `validate_many`)."""
        requests = [step._request(f, c) for step, f, c in zip(steps, frames, ctxs, strict=True)]
        results = validate_many(requests)
        return [step._finish(f, c, r) for step, f, c, r in zip(steps, frames, ctxs, results, strict=True)]

    def _request(self, frame: pl.DataFrame, ctx: IngestContext) -> ValidationRequest:
        info = ctx.facts.get("split")
        method = info.method if info is not None else "official"
        return ValidationRequest(
            frame,
            self.task_type,
            self.label_space,
            resplit_by="label" if info is not None and info.stratified_by and method != "official" else None,
            resplit_splits={"dev_from_train": ("train", "dev"), "test_from_train": ("train", "test")}.get(method),
        )

    def _finish(self, frame: pl.DataFrame, ctx: IngestContext, results: list[ExpectationResult]) -> StepOutput:
        info = ctx.facts.get("split")
        method = info.method if info is not None else "official"
        kept = {s: int(n) for s, n in frame.group_by("split").len().iter_rows()}
        by_file: dict[str, dict[str, int]] = {}
        for part in ctx.dropped:
            for name, reason, n in part.group_by("source_file", "reason").len().iter_rows():
                by_file.setdefault(name, {})[reason] = by_file.get(name, {}).get(reason, 0) + int(n)
        results = [
            *results,
            *records_checks(ctx.raw_files, quoting=self.quoting, fmt=self.fmt),
            *split_checks(kept, ctx.raw_files, method, by_file),
        ]
        ctx.facts["validation"] = results
        failed = [r.expectation + (f"({r.column})" if r.column else "") for r in results if not r.success]
        return StepOutput(kept=frame, detail={"checks": len(results), "failed": failed})
