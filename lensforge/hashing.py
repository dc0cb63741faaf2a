"""A seeded, stable pseudo-random number per id, for splits, caps, instruction choice and shuffles.

md5 through DuckDB: vectorised, and unlike Polars' hash it does not change between library versions,
so the same seed picks the same rows on every machine and after upgrades.
"""

from __future__ import annotations

import duckdb
import polars as pl


def seeded_keys(ids: pl.Series, seed: int, salt: str = "") -> pl.Series:
    """A UInt64 per id from md5(id || '#salt:seed'): order-independent and reproducible."""
    con = duckdb.connect()
    try:
        con.register("ids", pl.DataFrame({"id": ids.cast(pl.String)}))
        out = con.sql(
            "SELECT CAST(('0x' || substr(md5(id || ?), 1, 15)) AS UBIGINT) AS r FROM ids",
            params=[f"#{salt}:{int(seed)}"],
        ).pl()
    finally:
        con.close()
    return out["r"]
