"""Short-lived DuckDB connections to the workspace catalog, with a brief retry on a lock.

The app and a CLI command may share one catalog file. DuckDB lets one process write at a
time, so every action opens a connection, does its work in one transaction and closes it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import polars as pl

from lensforge.catalog.migrations import migrate, pending
from lensforge.errors import LensforgeError
from lensforge.workspace import Workspace

LOCK_RETRY_SECONDS = 5.0
LOCK_POLL_SECONDS = 0.1

# One catalog connection at a time per process: DuckDB refuses a read-only and a writable connection
# to the same file in one process, and threads (parallel ingest, the app) would otherwise race.
_process_lock = threading.RLock()

# Called once per retry with a human-readable message; the app shows it on the page.
LockNotifier = Callable[[str], None]
_notifier: LockNotifier | None = None


def set_lock_notifier(fn: LockNotifier | None) -> None:
    """Register a callback told when the catalog is locked and we are waiting."""
    global _notifier
    _notifier = fn


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc)
    return "lock" in text.lower() and ("Could not set lock" in text or "Conflicting lock" in text)


def _open(path: str, read_only: bool, timeout: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + timeout
    told = False
    while True:
        try:
            return duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as exc:
            if not _is_lock_error(exc):
                raise LensforgeError(f"cannot open catalog {path}: {exc}") from exc
            if time.monotonic() >= deadline:
                raise LensforgeError(
                    f"the catalog {path} is locked by another lensforge process",
                    hint="wait for it to finish, or point --workspace elsewhere",
                ) from exc
            if _notifier is not None and not told:
                _notifier("catalog is busy (another lensforge process is writing); retrying")
                told = True
            time.sleep(LOCK_POLL_SECONDS)


@contextlib.contextmanager
def connect(
    ws: Workspace, *, read_only: bool = False, timeout: float = LOCK_RETRY_SECONDS
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the workspace catalog (creating and migrating it when writable); inside `reading`, a read reuses one."""
    with _process_lock:
        block: _Reading | None = getattr(_reading_state, "block", None)
        if block is not None and block.path == ws.catalog_path:
            if read_only:
                yield block.connection(ws, timeout)
                return
            block.close()  # DuckDB refuses a writable connection beside the read-only one: the next read reopens it
        with _connect_locked(ws, read_only=read_only, timeout=timeout) as con:
            yield con


class _Reading:
    """The read-only connection shared by the reads of one `reading` block (opened at the first read)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stack: contextlib.ExitStack | None = None
        self._con: duckdb.DuckDBPyConnection | None = None

    def connection(self, ws: Workspace, timeout: float) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            stack = contextlib.ExitStack()
            self._con = stack.enter_context(_connect_locked(ws, read_only=True, timeout=timeout))
            self._stack = stack
        return self._con

    def close(self) -> None:
        if self._stack is not None:
            self._stack.close()
        self._stack, self._con = None, None


_reading_state = threading.local()


@contextlib.contextmanager
def reading(ws: Workspace) -> Iterator[None]:
    """Let the catalog reads inside this block share one read-only connection.

    Opening the catalog costs ~30 ms of CPU (DuckDB loads its schema, the migration level is checked), and a
    command that reads dataset by dataset pays it per read: a snapshot build of 24 datasets opened it ~100 times
    (3 s). Inside the block the first read opens it and later reads reuse it; a write closes it first and the next
    read opens it again. Keep the block to the reads: while it is open, other threads wait (as for any connection)
    and other processes cannot write.
    """
    with _process_lock:
        if getattr(_reading_state, "block", None) is not None:  # nested: the outer block serves
            yield
            return
        _reading_state.block = block = _Reading(ws.catalog_path)
        try:
            yield
        finally:
            _reading_state.block = None
            block.close()


@contextlib.contextmanager
def _connect_locked(ws: Workspace, *, read_only: bool, timeout: float) -> Iterator[duckdb.DuckDBPyConnection]:
    if read_only and not ws.catalog_path.exists():
        # Nothing written yet: create it once so readers see the empty schema.
        with _connect_locked(ws, read_only=False, timeout=timeout):
            pass
    if not read_only:
        ws.ensure()
    con = _open(str(ws.catalog_path), read_only, timeout)
    try:
        if read_only:
            if pending(con):
                # An older catalog: migrate through a writable connection, then read.
                con.close()
                with _connect_locked(ws, read_only=False, timeout=timeout):
                    pass
                con = _open(str(ws.catalog_path), True, timeout)
        else:
            migrate(con)
        yield con
    finally:
        con.close()


@contextlib.contextmanager
def transaction(ws: Workspace, timeout: float = LOCK_RETRY_SECONDS) -> Iterator[duckdb.DuckDBPyConnection]:
    """One writable connection with one transaction: all of an action's writes, or none."""
    with connect(ws, read_only=False, timeout=timeout) as con:
        con.execute("BEGIN TRANSACTION")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        else:
            con.execute("COMMIT")


def query_frame(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pl.DataFrame:
    """Run a query and return a Polars frame (zero-copy from DuckDB)."""
    return con.sql(sql, params=params or None).pl()


def read_frame(ws: Workspace, sql: str, params: list | None = None) -> pl.DataFrame:
    """One read-only query as a frame: the owner modules' listings are each a single SELECT, and this keeps the
    connection handling (lock waits, the shared connection of a `reading` block) in one place."""
    with connect(ws, read_only=True) as con:
        return query_frame(con, sql, params)
