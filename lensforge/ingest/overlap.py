"""Reports across datasets: exact overlap of normalised texts (and label disagreement), near duplicates.

E.g. ArSarcasm v1 sits inside ArSarcasm-v2's training split: the overlap report shows how much of
each v1 split is found in each v2 split, and where the two releases label the same tweet differently.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import polars as pl

from lensforge.catalog.constants import SPLITS
from lensforge.catalog.db import connect, transaction
from lensforge.catalog.events import record_event
from lensforge.errors import LensforgeError
from lensforge.ingest.clean import key_hash
from lensforge.ingest.versions import current_versions_frame, load_rows, record_report
from lensforge.workspace import Workspace, atomic_path


def _label_norm() -> pl.Expr:
    """Labels compared across releases ignore case and separators (True ~ TRUE, not-sarcastic ~ not_sarcastic)."""
    col = pl.col("label")
    return col.str.to_lowercase().str.replace_all(r"[^\p{L}\p{N}]+", "")


def current_versions(ws: Workspace, dataset_ids: list[str] | None = None) -> list[dict[str, Any]]:
    """Id, dataset, folder and validity of every current version (or of the named datasets)."""
    with connect(ws, read_only=True) as con:
        df = current_versions_frame(con).select("version_id", "dataset_id", "path", "valid")
    rows = df.to_dicts()
    if dataset_ids is not None:
        rows = [r for r in rows if r["dataset_id"] in dataset_ids]
    return rows


# Quarantined rows that are still real, labelled records of the release (not parse failures or junk).
_RELEASED_REASONS = (
    "duplicate",
    "label_conflict",
    "leak_test_in_train",
    "leak_test_in_dev",
    "leak_dev_in_train",
    "near_duplicate",
)


# Version id -> the distinct key hashes of its rows (kept and quarantined), filled by ingest as it writes a
# version, so the report run right after does not read every text back. Versions never change once
# written, and Polars' hash is stable within a process, so an entry never goes stale. At most 16M hashes
# (128 MB; the 2.7M-row LlamaLens corpus needs ~22 MB) are kept: the oldest versions go first.
_KEY_HASHES: OrderedDict[str, pl.Series] = OrderedDict()
_KEY_HASHES_MAX = 16_000_000
_KEY_HASHES_LOCK = threading.Lock()


def remember_key_hashes(version_id: str, frames: list[pl.DataFrame]) -> None:
    """Keep the distinct text-key hashes of a version's rows (the frames it writes) for the overlap report."""
    keys = pl.concat([f.select("text_key") for f in frames], how="vertical_relaxed")
    hashes = keys.drop_nulls().select(key_hash().unique().alias("h")).get_column("h")
    with _KEY_HASHES_LOCK:
        _KEY_HASHES[version_id] = hashes
        while len(_KEY_HASHES) > 1 and sum(h.len() for h in _KEY_HASHES.values()) > _KEY_HASHES_MAX:
            _KEY_HASHES.popitem(last=False)


def _remembered(version_id: str) -> pl.Series | None:
    with _KEY_HASHES_LOCK:
        return _KEY_HASHES.get(version_id)


def _shared_keys(ws: Workspace, versions: list[dict[str, Any]]) -> pl.Series:
    """Normalised texts found in more than one dataset (only their rows are worth loading)."""
    by_dataset: dict[str, list[dict[str, Any]]] = {}
    for v in versions:
        by_dataset.setdefault(v["dataset_id"], []).append(v)
    scans: list[pl.LazyFrame] = []  # per dataset, its files' keys
    hashed: list[pl.LazyFrame] = []  # per dataset, its distinct key hashes
    for group in by_dataset.values():
        paths = []
        for v in group:
            root = ws.root / v["path"]
            names = [f"{s}.parquet" for s in SPLITS] + ["quarantine.parquet"]
            paths += [root / n for n in names if (root / n).exists()]
        if not paths:
            continue
        # Kept and quarantined files differ in columns: one scan each.
        scan = pl.concat([pl.scan_parquet(p).select("text_key") for p in paths]).drop_nulls()
        scans.append(scan)
        known = [_remembered(v["version_id"]) for v in group]
        if all(h is not None for h in known):
            hashed.append(pl.LazyFrame({"h": pl.concat(known).unique()}))  # type: ignore[arg-type]
        else:
            hashed.append(scan.select(key_hash().unique().alias("h")))
    if not scans:
        return pl.Series("text_key", [], dtype=pl.String)
    # Candidates by a 64-bit hash first (grouping integers is far cheaper than grouping millions of
    # strings): the hashes more than one dataset has. The exact texts are then read for the candidates only.
    candidates = pl.concat(hashed).group_by("h").len().filter(pl.col("len") > 1).collect()["h"]
    if candidates.is_empty():
        return pl.Series("text_key", [], dtype=pl.String)
    in_candidates = key_hash().is_in(candidates.implode())
    exact = [scan.filter(in_candidates).unique() for scan in scans]
    return pl.concat(exact).group_by("text_key").len().filter(pl.col("len") > 1).collect()["text_key"]


def _rows_for_overlap(ws: Workspace, versions: list[dict[str, Any]]) -> pl.DataFrame:
    """Per dataset, split and normalised text: the labels the release gives it, and whether a row was kept."""
    shared_keys = _shared_keys(ws, versions)
    if shared_keys.is_empty():  # no text in two datasets: no row to load
        return pl.DataFrame()
    shared = shared_keys.implode()
    frames = []
    cols = ["dataset", "split", "text", "text_key", "label"]
    for v in versions:
        # Lazy scans of the needed columns, filtered on the key: most rows are shared with nothing.
        root = ws.root / v["path"]
        kept_files = [root / f"{s}.parquet" for s in SPLITS if (root / f"{s}.parquet").exists()]
        kept = (
            pl.scan_parquet(kept_files)
            .select(cols)
            .filter(pl.col("text_key").is_in(shared))
            .with_columns(pl.lit(True).alias("kept"))
            .collect()
        )
        quarantine = (
            pl.scan_parquet(root / "quarantine.parquet")
            .filter(pl.col("reason").is_in(_RELEASED_REASONS) & pl.col("text_key").is_in(shared))
            .select(cols)
            .with_columns(pl.lit(False).alias("kept"))
            .collect()
        )
        rows = pl.concat([kept, quarantine], how="vertical_relaxed")
        if rows["label"].dtype == pl.List(pl.String):
            rows = rows.with_columns(pl.col("label").list.sort().list.join(","))
        frames.append(rows.select("dataset", "split", "text", "text_key", pl.col("label").cast(pl.String), "kept"))
    if not frames:
        return pl.DataFrame()
    rows = pl.concat(frames).with_columns(_label_norm().alias("label_norm"))
    return rows.group_by("dataset", "split", "text_key").agg(
        pl.col("text").first(),
        pl.col("label").unique().sort().str.join("|").alias("labels"),
        pl.col("label_norm").unique().sort().str.join("|").alias("label_set"),
        pl.col("kept").any(),
    )


def cross_dataset_overlap(ws: Workspace, versions: list[dict[str, Any]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(summary per dataset/split pair, one row per shared text) over the given versions."""
    rows = _rows_for_overlap(ws, versions)
    if rows.height == 0:
        empty = pl.DataFrame()
        return empty, empty
    a = rows.rename({c: f"a_{c}" for c in rows.columns if c != "text_key"})
    b = rows.rename({c: f"b_{c}" for c in rows.columns if c != "text_key"})
    pairs = a.join(b, on="text_key", how="inner").filter(pl.col("a_dataset") < pl.col("b_dataset"))
    pairs = pairs.with_columns((pl.col("a_label_set") != pl.col("b_label_set")).alias("labels_disagree")).drop(
        "a_label_set", "b_label_set"
    )
    sizes = rows.group_by("dataset", "split").agg(pl.len().alias("unique_texts"))
    summary = (
        pairs.group_by("a_dataset", "a_split", "b_dataset", "b_split")
        .agg(pl.len().alias("shared_texts"), pl.col("labels_disagree").sum().alias("label_disagreements"))
        .join(
            sizes.rename({"dataset": "a_dataset", "split": "a_split", "unique_texts": "a_unique_texts"}),
            on=["a_dataset", "a_split"],
        )
        .join(
            sizes.rename({"dataset": "b_dataset", "split": "b_split", "unique_texts": "b_unique_texts"}),
            on=["b_dataset", "b_split"],
        )
        .with_columns(
            (pl.col("shared_texts") / pl.col("a_unique_texts")).round(4).alias("share_of_a"),
            (pl.col("shared_texts") / pl.col("b_unique_texts")).round(4).alias("share_of_b"),
        )
        .sort("a_dataset", "b_dataset", "a_split", "b_split")
    )
    return summary, pairs.sort("a_dataset", "b_dataset", "a_split", "b_split", "text_key")


def _report_id(kind: str, version_ids: list[str], params: dict[str, Any]) -> str:
    blob = json.dumps({"kind": kind, "versions": sorted(version_ids), "params": params}, sort_keys=True)
    return kind[:4] + "-" + hashlib.sha256(blob.encode()).hexdigest()[:12]


def store_report(
    ws: Workspace,
    *,
    kind: str,
    versions: list[dict[str, Any]],
    params: dict[str, Any],
    summary: dict[str, Any],
    pairs: pl.DataFrame,
    actor: str,
) -> str:
    """Write the pairs Parquet (atomically) and record the report in the catalog."""
    version_ids = [v["version_id"] for v in versions]
    report_id = _report_id(kind, version_ids, params)
    target = ws.reports_dir / f"{report_id}.parquet"
    with atomic_path(target) as tmp:
        pairs.write_parquet(tmp)
    with transaction(ws) as con:
        record_report(
            con,
            report_id=report_id,
            kind=kind,
            version_ids=version_ids,
            params=params,
            summary=summary,
            path=str(target.relative_to(ws.root)),
        )
        record_event(con, actor=actor, kind=f"report.{kind}", subject=report_id, payload={"versions": version_ids})
    return report_id


def run_overlap_report(ws: Workspace, *, actor: str, dataset_ids: list[str] | None = None) -> dict[str, Any] | None:
    """Exact cross-dataset overlap over the current versions; None when fewer than two are ingested."""
    versions = current_versions(ws, dataset_ids)
    if len(versions) < 2:
        return None
    summary, pairs = cross_dataset_overlap(ws, versions)
    summary_rows = summary.to_dicts() if summary.height else []
    report_id = store_report(
        ws,
        kind="cross_dataset_overlap",
        versions=versions,
        params={"key": "normalised text (case-folded; URLs, @mentions, Arabic marks removed)"},
        summary={"pairs": summary_rows},
        pairs=pairs,
        actor=actor,
    )
    return {"report_id": report_id, "summary": summary_rows, "shared_rows": pairs.height}


def run_near_dup_report(ws: Workspace, *, actor: str, dataset_ids: list[str] | None = None) -> dict[str, Any] | None:
    """MinHash-LSH near duplicates across the current versions of different datasets."""
    from lensforge.ingest.neardup import NearDupParams, find_near_duplicates

    versions = current_versions(ws, dataset_ids)
    if len(versions) < 2:
        return None
    frame = pl.concat([load_rows(ws, v).select("sample_id", "dataset", "split", "text") for v in versions])
    params = NearDupParams()
    pairs = find_near_duplicates(frame, params, scope="across")
    counts = (
        pairs.group_by("a_dataset", "b_dataset").len().sort("a_dataset", "b_dataset").to_dicts() if pairs.height else []
    )
    report_id = store_report(
        ws,
        kind="near_duplicates",
        versions=versions,
        params=params.as_dict(),
        summary={"pairs": counts},
        pairs=pairs,
        actor=actor,
    )
    return {"report_id": report_id, "summary": counts, "pairs": pairs.height}


def report_pairs(ws: Workspace, report: dict[str, Any]) -> pl.DataFrame:
    path = Path(ws.root / report["path"])
    if not path.is_file():
        raise LensforgeError(f"report file missing: {path}")
    return pl.read_parquet(path)
