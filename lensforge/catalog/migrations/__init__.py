"""Versioned catalog schema: numbered SQL files, applied in order, each in its own transaction.

A later stage adds tables by adding the next numbered file here; opening an older catalog
applies the missing files. A catalog written by a newer lensforge is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import duckdb

from lensforge.catalog.sqlutil import fetch_one
from lensforge.errors import LensforgeError

_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    """Every migration shipped with this lensforge, by version."""
    found = []
    for entry in resources.files(__name__).iterdir():
        m = _FILE_RE.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"catalog migrations are not numbered 1..N: {versions}")
    return found


LATEST = len(available())


def applied_version(con: duckdb.DuckDBPyConnection) -> int:
    """The schema version recorded in this catalog (0 for a fresh file)."""
    exists = fetch_one(con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'")
    if not exists or exists[0] == 0:
        return 0
    row = fetch_one(con, "SELECT coalesce(max(version), 0) FROM schema_migrations")
    return int(row[0]) if row else 0


def pending(con: duckdb.DuckDBPyConnection) -> list[Migration]:
    """Migrations this catalog lacks; refuses a catalog from a newer lensforge."""
    current = applied_version(con)
    if current > LATEST:
        raise LensforgeError(
            f"this catalog was written by a newer lensforge (schema version {current}, "
            f"this lensforge knows up to {LATEST})",
            hint="upgrade lensforge, or use another --workspace",
        )
    return [mig for mig in available() if mig.version > current]


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply the missing migrations; returns the versions applied."""
    done = []
    for mig in pending(con):
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
                "applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
            )
            con.execute(mig.sql)
            con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [mig.version, mig.name])
        except Exception:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        done.append(mig.version)
    return done
