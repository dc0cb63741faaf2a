"""A snapshot as the model sees it: one page of a split's rows, filtered, read in place.

What the app's Snapshot rows page shows: the instruction, the input and the answer of each row, from
`data/<split>.parquet` through DuckDB (WHERE + LIMIT/OFFSET), so a split of millions of rows is never loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from lensforge.catalog.constants import SPLITS
from lensforge.errors import LensforgeError
from lensforge.workspace import Workspace


@dataclass
class SnapshotPage:
    """One page of a snapshot split's rows and how many match."""

    total: int
    rows: pl.DataFrame
    datasets: list[str]  # every dataset of the split (for the filter)


def snapshot_rows(
    ws: Workspace,
    folder: Path,
    split: str,
    *,
    datasets: tuple[str, ...] = (),
    text: str = "",
    sample_id: str = "",
    limit: int = 20,
    offset: int = 0,
) -> SnapshotPage:
    """Rows of `folder/data/<split>.parquet` with the instruction, input and answer the model is given.

    Read in place through DuckDB with WHERE + LIMIT/OFFSET, in the file's order (the snapshot's data
    order); text matches the input or the answer, case-insensitively.
    """
    path = folder / "data" / f"{split}.parquet"
    if split not in SPLITS or not path.is_file():
        raise LensforgeError(f"the snapshot has no {split!r} split at {path}")
    where, params = [], []
    if datasets:
        where.append("list_contains(?, dataset)")
        params.append(list(datasets))
    if text.strip():
        where.append("(input ILIKE ? OR output ILIKE ?)")
        params += [f"%{text.strip()}%"] * 2
    if sample_id.strip():
        where.append("id = ?")
        params.append(sample_id.strip())
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    con = duckdb.connect(":memory:")
    try:
        source = f"read_parquet('{_sql_path(path)}')"
        total = int(con.execute(f"SELECT count(*) FROM {source}{clause}", params).fetchall()[0][0])
        rows = con.sql(
            f"SELECT id, dataset, language, task, instruction_id, instruction, input, output, "
            f"messages[length(messages)].content AS answer FROM {source}{clause} LIMIT ? OFFSET ?",
            params=[*params, int(limit), int(offset)],
        ).pl()
        names = [r[0] for r in con.execute(f"SELECT DISTINCT dataset FROM {source} ORDER BY 1").fetchall()]
    finally:
        con.close()
    return SnapshotPage(total, rows, names)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
