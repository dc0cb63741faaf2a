"""Catalog schema versions: migration of older catalogs, refusal of newer ones, and lock handling."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import duckdb
import pytest
from clihelp import run_cli

from lensforge.catalog import db, migrations
from lensforge.catalog.datasets import show_dataset
from lensforge.errors import LensforgeError


def test_fresh_catalog_records_every_migration(ws):
    with db.connect(ws) as con:
        rows = con.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == list(range(1, migrations.LATEST + 1))
    assert rows[0][1] == "foundation"


def test_opening_an_older_catalog_applies_new_migrations(ws, capsys, monkeypatch):
    assert run_cli(capsys, "-w", str(ws.root), "init").code == 0
    run_cli(capsys, "-w", str(ws.root), "catalog", "exclude", "ASND", "--reason", "kept out")
    shipped = migrations.available()
    extra = migrations.Migration(
        version=len(shipped) + 1,
        name="test_added_table",
        sql="CREATE TABLE curator_notes (dataset_id VARCHAR, note VARCHAR);",
    )
    monkeypatch.setattr(migrations, "available", lambda: [*shipped, extra])
    monkeypatch.setattr(migrations, "LATEST", extra.version)
    # A read-only open of the older catalog migrates it first, and the data survives.
    with db.connect(ws, read_only=True) as con:
        versions = [r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()]
        assert versions[-1] == extra.version
        assert con.execute("SELECT count(*) FROM curator_notes").fetchall() == [(0,)]
    assert show_dataset(ws, "ASND")["status"] == "excluded"


def test_catalog_from_a_newer_lensforge_is_refused(ws, capsys):
    assert run_cli(capsys, "-w", str(ws.root), "init").code == 0
    con = duckdb.connect(str(ws.catalog_path))
    con.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'from_the_future')")
    con.close()
    res = run_cli(capsys, "-w", str(ws.root), "catalog", "list")
    assert res.code == 1
    assert "newer lensforge" in res.err and "999" in res.err
    with pytest.raises(LensforgeError):
        with db.connect(ws, read_only=True):
            pass


def test_a_locked_catalog_waits_then_says_so(ws, capsys):
    assert run_cli(capsys, "-w", str(ws.root), "init").code == 0
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import duckdb, sys, time
                con = duckdb.connect({str(ws.catalog_path)!r})
                print("locked", flush=True)
                time.sleep(30)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        told = []
        db.set_lock_notifier(told.append)
        try:
            with pytest.raises(LensforgeError, match="locked by another lensforge process"):
                with db.connect(ws, timeout=0.5):
                    pass
        finally:
            db.set_lock_notifier(None)
        assert told and "busy" in told[0]
    finally:
        holder.kill()
        holder.wait()
    # Once the other process is gone, the same call works.
    with db.connect(ws, timeout=2) as con:
        assert con.execute("SELECT count(*) FROM datasets").fetchall()[0][0] > 0


def test_reads_inside_a_reading_block_share_one_connection_and_see_writes(ws, monkeypatch):
    event = "INSERT INTO events (actor, kind, subject, payload) VALUES ('t', 'k', 's', '{}')"
    with db.transaction(ws) as con:  # creates the catalog
        con.execute(event)
    opened = []
    real_open = db._open
    monkeypatch.setattr(db, "_open", lambda path, ro, timeout: opened.append(ro) or real_open(path, ro, timeout))
    count = "SELECT count(*) FROM events"
    with db.reading(ws):
        with db.connect(ws, read_only=True) as first:
            before = first.execute(count).fetchall()[0][0]
        with db.connect(ws, read_only=True) as second:
            assert second is first
        with db.reading(ws), db.connect(ws, read_only=True) as nested:  # a nested block: the outer one serves
            assert nested is first
        assert opened == [True]
        # A write closes the shared reader (DuckDB refuses both kinds in one process); the next read reopens it.
        with db.transaction(ws) as con:
            con.execute(event)
        with db.connect(ws, read_only=True) as third:
            assert third.execute(count).fetchall()[0][0] == before + 1
        assert opened == [True, False, True]
    with db.connect(ws, read_only=True):  # outside the block a read opens its own connection again
        pass
    assert opened == [True, False, True, True]
