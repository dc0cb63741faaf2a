"""What the app's pages show beyond one stage function: overview counts composed from the table owners' functions
(one short read-only connection, so a CLI command writing at the same time is not blocked for long), and helpers
that only format (a run's log tail and phase).

No SQL on catalog tables here (tests/test_table_owners.py): each count comes from the module that owns its table.
The sample browser lives in the curate stage (`lensforge.curate.samples`), the snapshot rows in
`lensforge.release.rows`, the side-by-side predictions in `lensforge.evaluate.report`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import polars as pl

from lensforge.catalog.datasets import count_datasets
from lensforge.catalog.db import connect
from lensforge.curate.mappings import STATUSES, review_status
from lensforge.evaluate.store import eval_status_counts
from lensforge.finetune.runs import run_status_counts
from lensforge.ingest.versions import version_counts
from lensforge.instruct.ledger import call_totals
from lensforge.instruct.store import instruction_status_counts
from lensforge.release.store import release_counts
from lensforge.workspace import Workspace

# ----------------------------------------------------------------------------- catalog summaries


def has_catalog(ws: Workspace) -> bool:
    """Whether the workspace has a catalog yet (the app never creates one by merely looking)."""
    return ws.catalog_path.is_file()


def stage_counts(ws: Workspace) -> dict[str, Any]:
    """What each stage has produced so far, each count from the table's owner, in one read-only connection."""
    with connect(ws, read_only=True) as con:
        versions = version_counts(con)
        release = release_counts(con)
        calls = call_totals(con)
        review = review_status(con)
        out = {
            "datasets": count_datasets(con),
            **versions,
            **release,
            **calls,
            "instructions": instruction_status_counts(con),
            "runs": run_status_counts(con),
            "evals": eval_status_counts(con),
        }
    mapped = {s: int(review[s].sum()) for s in STATUSES}
    out["mappings"] = {s: n for s, n in mapped.items() if n}
    out["datasets_without_review"] = review.filter(
        (pl.col("mapped") == 0) & (pl.col("task_type") != "generation")
    ).height
    return out


def mapping_status(ws: Workspace) -> pl.DataFrame:
    """Per current version: how many source labels are proposed, approved, rejected (none yet: never opened)."""
    with connect(ws, read_only=True) as con:
        return review_status(con).select("dataset_id", "version_id", "task_type", *STATUSES)


def log_tail(path: str | Path, max_bytes: int = 8000) -> str:
    """The end of a run's log file (it may be large and still growing)."""
    p = Path(path)
    if not p.is_file():
        return ""
    with p.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - max_bytes))
        data = fh.read()
    return data.decode("utf-8", errors="replace")


def run_phase(run: dict[str, Any], log: str) -> str:
    """What a running run is doing before its first loss: the phase the run records, if it does, else the last
    line of its log (loading the model, tokenising…), else "starting"."""
    phase = run.get("phase")
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    if phase:
        return f"{phase}" + (f" · {lines[-1][:160]}" if lines else "")
    return lines[-1][:200] if lines else "starting"
