"""Ingest one dataset: the step list below, run over its raw files, with full row accounting.

`ingest_steps` is the whole ingest, top to bottom. Every record read ends either kept (in a split) or
quarantined with a reason, and each step checks its own rows in = out + dropped. Outputs go to a
temporary folder that is renamed into place, and the catalog is updated in one transaction, so a
killed run leaves no partial version (and the next run removes what it left).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from lensforge.catalog.constants import SPLITS
from lensforge.catalog.db import transaction
from lensforge.catalog.spec import DatasetEntry, FileSpec, IngestSpec
from lensforge.errors import LensforgeError
from lensforge.hashing import file_sha256
from lensforge.ingest.checks import Validate
from lensforge.ingest.clean import (
    CrossSplitLeakage,
    DropTooLong,
    DropTooShort,
    DropUnlabelled,
    ExactDedup,
    NormaliseText,
    TextKey,
)
from lensforge.ingest.normalise import DecodeLabels, ReadFiles
from lensforge.ingest.overlap import remember_key_hashes
from lensforge.ingest.readers import LINE, RAW, RawRead, load_bytes
from lensforge.ingest.schema import TEXT_MAX_CHARS, conform, quarantine_schema
from lensforge.ingest.sources import load_hub_splits, resolve_source
from lensforge.ingest.splits import AssignSplits
from lensforge.ingest.steps import IngestContext, Lane, OnStep, Pipeline, Step, StepOutput, StepStats, run_together
from lensforge.ingest.versions import (
    VersionRows,
    clean_leftovers,
    make_current,
    make_version_id,
    record_versions,
    registered_versions,
    step_stats_rows,
    temp_prefix,
    version_dir,
)
from lensforge.workspace import Workspace, seal

# A dataset's catalog writes: a write to run in a given transaction, or a new version's rows (written with the
# run's other new versions, one statement per table: see `commit_writes`).
CatalogWrite = Callable[[duckdb.DuckDBPyConnection], None] | VersionRows
Defer = Callable[[CatalogWrite], None]


def commit_writes(con: duckdb.DuckDBPyConnection, writes: list[CatalogWrite]) -> None:
    """Datasets' catalog writes, inside the caller's transaction: the writes in order, then the new versions."""
    for write in writes:
        if not isinstance(write, VersionRows):
            write(con)
    record_versions(con, [w for w in writes if isinstance(w, VersionRows)])


# Kept rows are written uncompressed, measured on 665K bench rows (534 MB as written): the write took 0.73 s
# CPU uncompressed, 2.08 with lz4 (332 MB), 2.12 snappy (352 MB), 2.49 zstd level 1 (166 MB); reading the
# files back was fastest uncompressed too (Polars 0.54 s vs 0.66 / 0.95 / 0.93, DuckDB, as the snapshot
# build reads them, 1.54 s vs 1.70 / 1.80 / 1.99). The price is disk, ~3x zstd's. The quarantine, small,
# stays compressed.
PARQUET_SMALL: dict[str, Any] = {"compression": "zstd", "compression_level": 1}
# Kept rows go to pyarrow as Polars holds them (string views, no conversion), with dictionary pages only for the
# columns of few distinct values and footer statistics only for the columns readers filter or skip on: the three
# texts get none (their min/max cost a comparison per row and prune nothing). On the bench's largest split file
# (278K rows, 320 MB) that is 0.20 s of CPU against Polars' writer's 0.32-0.41 s, the same rows and types read
# back by Polars and DuckDB. The Arrow schema is not stored, so readers see plain Parquet strings, as before.
_FEW_VALUES = ("dataset", "version", "language", "task", "task_type", "split", "label_raw", "label", "source_file")
# text_pair and target: their null counts tell `curate.samples` whether a file holds any (then they are read).
_WITH_STATISTICS = (*_FEW_VALUES, "sample_id", "source_line", "text_pair", "target")
ROW_GROUP = 262_144  # Polars' default: readers (DuckDB) take a file's row groups in parallel


def write_kept(frame: pl.DataFrame, path: Path) -> None:
    """One split's kept rows as uncompressed Parquet (see above)."""
    import pyarrow.parquet as pq

    columns = set(frame.columns)
    pq.write_table(
        frame.to_arrow(compat_level=pl.CompatLevel.newest()),
        path,
        compression="none",
        use_dictionary=[c for c in _FEW_VALUES if c in columns],
        write_statistics=[c for c in _WITH_STATISTICS if c in columns],
        store_schema=False,
        row_group_size=ROW_GROUP,
    )


@dataclass(frozen=True)
class IngestParams:
    """Cleaning and split parameters; all of them enter the version id."""

    min_letters: int = 3
    max_chars: int = TEXT_MAX_CHARS
    seed: int = 42
    drop_near_dup: bool = False
    near_dup: bool = False  # report only: does not change the data, not part of the version id

    def version_fields(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("near_dup")
        return out


def ingest_steps(entry: DatasetEntry, params: IngestParams) -> list[Step]:
    """The ingest of one dataset, in order. Each step says what it needs and adds (see steps.py).

    Leakage runs before unlabelled rows leave, so an official test file released without labels still
    keeps its texts out of training; dedup runs after, so a duplicate is judged among labelled rows.
    """
    spec = entry.ingest
    assert spec is not None
    task_type = entry.task_type
    steps: list[Step] = [
        ReadFiles(),  # raw files -> sample rows with stable ids; unparseable records dropped with their line
        NormaliseText(html_unescape=spec.html_unescape, strip_outer_quotes=spec.strip_outer_quotes),
        DecodeLabels(task_type=task_type, decoding=spec.labels),
        TextKey(),
        DropTooShort(min_letters=params.min_letters),
        DropTooLong(max_chars=params.max_chars),
        CrossSplitLeakage(),
        DropUnlabelled(task_type=task_type),
        ExactDedup(task_type=task_type),
        AssignSplits(task_type=task_type, seed=params.seed),
    ]
    if params.near_dup or params.drop_near_dup:
        from lensforge.ingest.neardup import NearDuplicates  # imports rensa: only when asked

        steps.append(NearDuplicates(drop=params.drop_near_dup))
    steps += [
        Validate(task_type=task_type, label_space=entry.label_space, quoting=spec.quoting, fmt=spec.format),
        WriteFiles(task_type=task_type),
    ]
    return steps


@dataclass
class WriteFiles(Step):
    """Kept rows per split and every dropped row (the quarantine) as Parquet, into the staging folder."""

    task_type: str = "classification"
    name: str = "write"
    needs: tuple[str, ...] = ("sample_id", "split", "text", "text_key")
    adds: tuple[str, ...] = ("version",)

    def run(self, frame: pl.DataFrame, ctx: IngestContext) -> StepOutput:
        assert ctx.staging is not None
        version = pl.lit(ctx.version_id).alias("version")
        kept = conform(frame.with_columns(version), self.task_type)
        parts = [conform(d.with_columns(version), self.task_type, quarantine=True) for d in ctx.dropped]
        quarantine = (
            pl.concat(parts, how="vertical") if parts else pl.DataFrame(schema=quarantine_schema(self.task_type))
        ).sort("source_file", "source_line")
        for split in SPLITS:
            write_kept(kept.filter(pl.col("split") == split), ctx.staging / f"{split}.parquet")
        quarantine.write_parquet(ctx.staging / "quarantine.parquet", **PARQUET_SMALL)
        near = ctx.facts.get("near_pairs")
        if near is not None:
            near.write_parquet(ctx.staging / "near_duplicates.parquet")
        ctx.facts["quarantine"] = quarantine
        size = sum(p.stat().st_size for p in ctx.staging.iterdir())
        return StepOutput(kept=kept, detail={"bytes": size})


@dataclass
class IngestOutcome:
    dataset_id: str
    version_id: str
    status: str  # new | unchanged
    path: str
    records_read: int
    kept: dict[str, int]
    dropped: dict[str, int]
    valid: bool
    failed_expectations: list[str] = field(default_factory=list)
    split_method: str = "official"
    near_duplicates: int | None = None
    problems: list[str] = field(default_factory=list)  # why the version is invalid, for a person
    leftovers: list[dict[str, str]] = field(default_factory=list)  # what a killed earlier run left behind
    steps: list[dict[str, Any]] = field(default_factory=list)  # per-step stats (StepStats.as_dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _hub_reads(entry: DatasetEntry) -> list[tuple[FileSpec, RawRead]]:
    """Hub splits as raw reads (the LlamaLens configs hold input/output columns)."""
    out = []
    for split, ds in load_hub_splits(entry).items():
        frame = ds.to_polars()  # type: ignore[attr-defined]
        rows = frame.select([pl.col(c).cast(pl.String) for c in frame.columns]).with_columns(
            pl.int_range(1, frame.height + 1, dtype=pl.Int64).alias(LINE)
        )
        bad = pl.DataFrame(schema={LINE: pl.Int64, RAW: pl.String, "reason": pl.String, "detail": pl.String})
        read = RawRead(rows=rows, bad=bad, records=frame.height, columns=frame.columns)
        out.append((FileSpec(split=split, path=f"hub:{split}"), read))  # type: ignore[arg-type]
    return out


def _hub_spec(entry: DatasetEntry) -> DatasetEntry:
    if entry.ingest is not None:
        return entry
    spec = IngestSpec.model_validate(
        {
            "format": "parquet",
            "files": [{"split": "train", "path": "hub"}],
            "columns": {
                "text": "input",
                "label": None if entry.task_type == "generation" else "output",
                "id": "id",
                "target": "output" if entry.task_type == "generation" else None,
            },
        }
    )
    return entry.model_copy(update={"ingest": spec})


def _label_counts(kept: pl.DataFrame, task_type: str) -> dict[str, dict[str, int]]:
    if task_type == "generation" or kept.height == 0:
        return {s: {} for s in SPLITS}
    col = pl.col("label").list.sort().list.join(",") if task_type == "multilabel" else pl.col("label")
    counts = kept.group_by("split", col.alias("l")).len().sort("split", "l")
    out: dict[str, dict[str, int]] = {s: {} for s in SPLITS}
    for split, label, n in counts.iter_rows():
        out[split][str(label)] = int(n)
    return out


def _hash_sources(ctx: IngestContext, kind: str, description: str) -> list[str]:
    """Fill `ctx.raw_files` (and the bytes read while hashing, so the read step reads each file once)."""
    entry = ctx.entry
    assert entry.ingest is not None
    if kind == "hub":
        reads = _hub_reads(entry)
        ctx.facts["hub_reads"] = reads
        for file, read in reads:
            ctx.raw_files.append(
                {"path": file.path, "split": file.split, "labelled": True, "sha256": "", "bytes": 0, "lines": None}
                | {"records": read.records, "expected_records": None}
            )
        return [description]
    assert ctx.source_root is not None
    for file in entry.ingest.files:
        path = ctx.source_root / file.path
        if not path.is_file():
            raise LensforgeError(f"{entry.dataset_id}: source file not found: {path}")
        name = file.path + (f"!{file.member}" if file.member else "")
        data = load_bytes(path, file)
        ctx.raw_bytes[name] = data
        ctx.raw_files.append(
            {
                "path": name,
                "split": file.split,
                "labelled": file.labelled,
                "sha256": file_sha256(path) if file.member else file_sha256(path, data),
                "bytes": path.stat().st_size,
                "expected_records": file.expected_records,
            }
        )
    return [f["sha256"] for f in ctx.raw_files]


def ingest_dataset(
    ws: Workspace,
    entry: DatasetEntry,
    *,
    sources: Path | None,
    params: IngestParams,
    actor: str,
    on_step: OnStep | None = None,
    allow_hub: bool = True,
    registered: dict[str, str] | None = None,
    defer: Defer | None = None,
) -> IngestOutcome:
    """Ingest one registry entry into a new content-addressed version (or say it is unchanged).

    `registered` (version id -> dataset id of every catalogued version) saves a catalog round trip per
    dataset when the caller read it once for many; without it the catalog is asked. With `defer`, the
    catalog writes are handed over (to run in the caller's one transaction for many datasets) instead of
    committed here; the version folder is in place either way, and a folder whose commit never comes is
    removed by a later run.
    """
    commit = defer or (lambda write: _commit_now(ws, write))
    job = _prepare(ws, entry, sources=sources, params=params, allow_hub=allow_hub, registered=registered)
    if job.outcome is not None:
        commit(functools.partial(make_current, version_id=job.ctx.version_id, dataset_id=entry.dataset_id))
        return job.outcome
    try:
        kept, stats = job.pipeline.run(pl.DataFrame(), job.ctx, on_step=on_step)
        return _publish(job, kept, stats, commit, actor)
    finally:
        job.discard()


def ingest_together(
    ws: Workspace,
    entries: list[DatasetEntry],
    *,
    sources: Path | None,
    params: IngestParams,
    actor: str,
    defer: Defer,
    on_step: Callable[[str], OnStep] | None = None,
    allow_hub: bool = True,
    registered: dict[str, str] | None = None,
) -> list[IngestOutcome | LensforgeError]:
    """`ingest_dataset` for many small datasets, run step by step together (see `run_together`), so each
    call-bound cost (Great Expectations above all) is paid once for the lot. One outcome or error per entry.
    `on_step(dataset_id)` gives each dataset's progress callback."""
    results: list[IngestOutcome | LensforgeError | None] = [None] * len(entries)
    jobs: list[tuple[int, _Job]] = []
    for i, entry in enumerate(entries):
        try:
            job = _prepare(ws, entry, sources=sources, params=params, allow_hub=allow_hub, registered=registered)
        except LensforgeError as exc:
            results[i] = exc
            continue
        if job.outcome is not None:
            defer(functools.partial(make_current, version_id=job.ctx.version_id, dataset_id=entry.dataset_id))
            results[i] = job.outcome
        else:
            jobs.append((i, job))
    by_steps: dict[tuple[str, ...], list[tuple[int, _Job]]] = {}
    for i, job in jobs:
        by_steps.setdefault(tuple(job.pipeline.names), []).append((i, job))
    try:
        for group in by_steps.values():
            lanes = [
                Lane(
                    job.pipeline,
                    job.ctx,
                    pl.DataFrame(),
                    on_step=on_step(job.ctx.entry.dataset_id) if on_step else None,
                )
                for _, job in group
            ]
            run_together(lanes)
            for (i, job), lane in zip(group, lanes, strict=True):
                if lane.error is not None:
                    results[i] = lane.error
                    continue
                try:
                    results[i] = _publish(job, lane.frame, lane.stats, defer, actor)
                except LensforgeError as exc:
                    results[i] = exc
    finally:
        for _, job in jobs:
            job.discard()
    return [r if r is not None else LensforgeError("not ingested") for r in results]


@dataclass
class _Job:
    """A dataset ready to run: its pipeline and context (with a staging folder), or already answered."""

    ctx: IngestContext
    pipeline: Pipeline
    out_dir: Path
    rel: str
    source: str
    params: IngestParams
    leftovers: list[dict[str, str]]
    outcome: IngestOutcome | None = None  # set when the version already exists

    def discard(self) -> None:
        if self.ctx.staging is not None and self.ctx.staging.exists():
            shutil.rmtree(self.ctx.staging, ignore_errors=True)


def _prepare(
    ws: Workspace,
    entry: DatasetEntry,
    *,
    sources: Path | None,
    params: IngestParams,
    allow_hub: bool,
    registered: dict[str, str] | None,
) -> _Job:
    """Resolve the source, build the pipeline (checking its column contract before any file is read), hash
    the raw files into the version id, and clean what a killed run left; stage a folder if there is work."""
    resolved = resolve_source(entry, sources, allow_hub=allow_hub)
    if resolved.kind == "hub":
        entry = _hub_spec(entry)
    if entry.ingest is None:
        raise LensforgeError(f"{entry.dataset_id} has no ingestion spec in the registry")
    spec = entry.ingest
    pipeline = Pipeline(ingest_steps(entry, params))

    ctx = IngestContext(entry=entry, source_root=resolved.root)
    hashes = _hash_sources(ctx, resolved.kind, resolved.description)
    # Everything that changes decoded rows or the labels curation will see enters the id.
    ctx.version_id = make_version_id(
        entry.dataset_id,
        hashes,
        {
            "ingest": spec.model_dump(mode="json"),
            "task": entry.task,
            "task_type": entry.task_type,
            "labels": entry.label_space,
            "label_native": entry.label_native,
        },
        params.version_fields(),
    )
    out_dir = version_dir(ws, entry.dataset_id, ctx.version_id)
    rel = str(out_dir.relative_to(ws.root))
    if registered is None:
        registered = registered_versions(ws)
    existing = registered.get(ctx.version_id)
    if existing and existing != entry.dataset_id:
        raise LensforgeError(
            f"{entry.dataset_id}: version {ctx.version_id} is already registered for {existing}; refusing to replace it"
        )
    leftovers = clean_leftovers(ws, entry.dataset_id, set(registered))
    job = _Job(ctx, pipeline, out_dir, rel, resolved.description, params, leftovers)
    if existing and (out_dir / "report.json").is_file():
        job.outcome = _unchanged(entry, ctx.version_id, out_dir, rel, leftovers)
        return job
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    ctx.staging = Path(tempfile.mkdtemp(prefix=temp_prefix(ctx.version_id), dir=out_dir.parent))
    return job


def _publish(job: _Job, kept: pl.DataFrame, stats: list[StepStats], commit: Defer, actor: str) -> IngestOutcome:
    """The report into the staged folder, the folder renamed into place, the catalog writes committed."""
    ctx = job.ctx
    assert ctx.staging is not None
    outcome, report = _account(ctx, kept, stats, job.source, job.rel, job.params)
    outcome.leftovers = job.leftovers
    (ctx.staging / "report.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
    )
    if job.out_dir.exists():
        shutil.rmtree(job.out_dir)
    seal(ctx.staging)  # read-only files, a folder the team can read (mkdtemp makes it 0700)
    os.replace(ctx.staging, job.out_dir)
    # The overlap report after the run then needs no second read of every text key (the files are in place).
    remember_key_hashes(ctx.version_id, [kept, ctx.facts["quarantine"]])
    commit(_version_rows(ctx, outcome, report, stats, actor))
    return outcome


def _commit_now(ws: Workspace, write: CatalogWrite) -> None:
    with transaction(ws) as con:
        commit_writes(con, [write])


def _unchanged(
    entry: DatasetEntry, version_id: str, out_dir: Path, rel: str, leftovers: list[dict[str, str]]
) -> IngestOutcome:
    """The version already exists: what its report says (the caller makes it current again)."""
    report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    return IngestOutcome(
        dataset_id=entry.dataset_id,
        version_id=version_id,
        status="unchanged",
        path=rel,
        records_read=report["accounting"]["records_read"],
        kept=report["accounting"]["kept"],
        dropped=report["accounting"]["dropped"],
        valid=report["valid"],
        failed_expectations=report.get("failed_expectations", []),
        split_method=report["split"]["method"],
        problems=report.get("problems", []),
        leftovers=leftovers,
        steps=report.get("steps", []),
    )


def _account(
    ctx: IngestContext, kept: pl.DataFrame, stats: list[StepStats], source: str, rel: str, params: IngestParams
) -> tuple[IngestOutcome, dict[str, Any]]:
    """Totals, the read = kept + quarantined invariant, and the version's report."""
    entry = ctx.entry
    quarantine: pl.DataFrame = ctx.facts["quarantine"]
    records_read = stats[0].rows_in
    present = dict(kept.group_by("split").len().iter_rows())
    kept_counts = {s: int(present.get(s, 0)) for s in SPLITS}
    dropped_counts = {str(k): int(v) for k, v in quarantine.group_by("reason").len().sort("reason").iter_rows()}
    if sum(kept_counts.values()) + quarantine.height != records_read:
        raise RuntimeError(
            f"row accounting broken for {entry.dataset_id}: read {records_read}, kept "
            f"{sum(kept_counts.values())}, quarantined {quarantine.height}"
        )
    results = ctx.facts["validation"]
    failed = [r.expectation + (f"({r.column})" if r.column else "") for r in results if not r.success]
    problems = [r.details["message"] for r in results if not r.success and r.details.get("message")]
    split_info = ctx.facts["split"]
    near = ctx.facts.get("near_pairs")
    report = {
        "dataset_id": entry.dataset_id,
        "version_id": ctx.version_id,
        "source": source,
        "raw_files": ctx.raw_files,
        "params": params.version_fields(),
        "split": split_info.as_dict(),
        "accounting": {"records_read": records_read, "kept": kept_counts, "dropped": dropped_counts},
        "label_counts": _label_counts(kept, entry.task_type),
        "valid": not failed,
        "failed_expectations": failed,
        "problems": problems,
        "validation": [asdict(r) for r in results],
        "near_duplicates": None if near is None else {"pairs": near.height},
        "steps": [s.as_dict() for s in stats],
    }
    outcome = IngestOutcome(
        dataset_id=entry.dataset_id,
        version_id=ctx.version_id,
        status="new",
        path=rel,
        records_read=records_read,
        kept=kept_counts,
        dropped=dropped_counts,
        valid=not failed,
        failed_expectations=failed,
        split_method=split_info.method,
        near_duplicates=None if near is None else near.height,
        problems=problems,
        steps=report["steps"],
    )
    return outcome, report


def _version_rows(
    ctx: IngestContext, outcome: IngestOutcome, report: dict[str, Any], stats: list[StepStats], actor: str
) -> VersionRows:
    """The version's catalog rows: the version, its validation results and step stats, and one event."""
    entry = ctx.entry
    results = ctx.facts["validation"]
    version = {
        "version_id": ctx.version_id,
        "dataset_id": entry.dataset_id,
        "path": outcome.path,
        "source": report["source"],
        "raw_files": json.dumps(ctx.raw_files),
        "spec_hash": entry.spec_hash(),
        "params": json.dumps({**report["params"], "split": report["split"]}),
        "split_method": outcome.split_method,
        "seed": report["params"]["seed"],
        "records_read": outcome.records_read,
        "kept_train": outcome.kept["train"],
        "kept_dev": outcome.kept["dev"],
        "kept_test": outcome.kept["test"],
        "quarantined": sum(outcome.dropped.values()),
        "dropped_by_reason": json.dumps(outcome.dropped),
        "label_counts": json.dumps(report["label_counts"], ensure_ascii=False),
        "valid": outcome.valid,
        "failed_expectations": len(outcome.failed_expectations),
    }
    dumps = functools.partial(json.dumps, ensure_ascii=False, default=str)
    validation = pl.DataFrame(
        {
            "version_id": [ctx.version_id] * len(results),
            "position": list(range(len(results))),
            "expectation": [r.expectation for r in results],
            "column_name": [r.column for r in results],
            "success": [r.success for r in results],
            "observed_value": [dumps(r.observed_value) for r in results],
            "unexpected_count": [r.unexpected_count for r in results],
            "examples": [dumps(r.examples) for r in results],
            "details": [dumps(r.details) for r in results],
        },
        schema_overrides={"position": pl.Int32, "column_name": pl.String, "unexpected_count": pl.Int64},
    )
    return VersionRows(
        version=version,
        validation=validation,
        stats=step_stats_rows(ctx.version_id, stats),
        event={
            "actor": actor,
            "kind": "ingest.version",
            "subject": entry.dataset_id,
            "payload": {
                "version_id": ctx.version_id,
                "records_read": outcome.records_read,
                "kept": outcome.kept,
                "quarantined": sum(outcome.dropped.values()),
                "valid": outcome.valid,
            },
        },
    )
