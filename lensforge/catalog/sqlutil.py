"""Small DuckDB helpers (DuckDB 2 wants every result fully consumed before the next statement)."""

from __future__ import annotations

from typing import Any

import duckdb


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> tuple[Any, ...] | None:
    """The first row of a query, consuming the whole result."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None
