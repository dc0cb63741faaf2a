"""Stable md5-based keys: a seeded pseudo-random number per id (splits, caps, instruction choice, shuffles)
and the hex prefix that makes sample ids; and the SHA-256 of a file (raw sources, snapshot files).

md5 through DuckDB: vectorised, and unlike Polars' hash it does not change between library versions,
so the same seed picks the same rows on every machine and after upgrades. One in-memory DuckDB serves
the whole process (opening one costs ~30 ms, a cursor on it nothing), each call on its own cursor so
threads do not share one.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import duckdb
import polars as pl


def file_sha256(path: Path, data: bytes | None = None) -> str:
    """SHA-256 of a file, read in chunks (files reach hundreds of MB); of `data` when the caller already holds
    the file's bytes, so it is not read twice."""
    if data is not None:
        return hashlib.sha256(data).hexdigest()
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


@functools.cache
def _engine() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def _md5_sql(frame: pl.DataFrame, select: str, params: list[str] | None = None) -> pl.Series:
    cur = _engine().cursor()
    try:
        # Polars' string views as they are (DuckDB reads them): the default export copies every string.
        cur.register("keyed", frame.to_arrow(compat_level=pl.CompatLevel.newest()))
        return cur.sql(select, params=params).pl().to_series()
    finally:
        cur.close()


# md5's first 8 bytes as a big-endian UInt64, from `md5_number` (the 16 digest bytes read as one little-endian
# integer): its low 64 bits with their bytes reversed. Integer arithmetic instead of printing the digest as hex and
# parsing 15 digits back (~30% less CPU per key).
_MD5_HEAD_BE = " | ".join(f"(((x >> {8 * i}) & 255) << {8 * (7 - i)})" for i in range(8))


def seeded_keys(ids: pl.Series, seed: int, salt: str = "") -> pl.Series:
    """A UInt64 per id from md5(id || '#salt:seed'): its first 15 hex digits (60 bits), order-independent and
    reproducible."""
    return _md5_sql(
        pl.DataFrame({"id": ids.cast(pl.String)}),
        f"SELECT ({_MD5_HEAD_BE}) >> 4 AS r "
        "FROM (SELECT CAST(md5_number(id || ?) & 18446744073709551615 AS UBIGINT) AS x FROM keyed)",
        [f"#{salt}:{int(seed)}"],
    ).alias("r")


def md5_prefix_joined(frame: pl.DataFrame, columns: list[str], separator: str, chars: int = 20) -> pl.Series:
    """The first `chars` hex digits of md5 (hashlib's hexdigest) of each row's `columns` joined by `separator`,
    a null taken as the empty string.

    Joined by DuckDB as it hashes, a vector at a time: joining in Polars first wrote every row's whole text
    once more into fresh memory (~0.5 s of CPU per million tweets, most of it faulting the pages in)."""
    parts = ", ".join(f"coalesce(CAST({_quoted(c)} AS VARCHAR), '')" for c in columns)
    select = f"SELECT substr(md5(concat_ws(?, {parts})), 1, {int(chars)}) AS h FROM keyed"
    return _md5_sql(frame.select(columns), select, [separator])


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
