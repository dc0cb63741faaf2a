"""What every page shares: the workspace, who is acting, errors shown on the page, the busy-catalog notice.

The app is a thin layer over the stages (DESIGN.md): a page reads through the stages' public functions,
an action calls the same function the CLI calls with the reviewer's name as `actor`, and an expected
failure (`LensforgeError`) is shown as one message on the page, never as a traceback.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from lensforge.app import queries
from lensforge.catalog.db import set_lock_notifier
from lensforge.curate.samples import current_versions
from lensforge.errors import LensforgeError
from lensforge.workspace import HOME_ENV, USER_ENV, Workspace, current_user, resolve_workspace

APP_DIR = Path(__file__).resolve().parent
# Page modules live in views/, not pages/: a pages/ folder beside main.py switches Streamlit to its
# legacy multipage mode, which fights st.navigation on deep links.
PAGES_DIR = APP_DIR / "views"
ACTOR_KEY = "actor"
FLASH_KEY = "_lensforge_flash"

NO_CATALOG = (
    "No lensforge workspace at `{root}` yet: run `lensforge init --demo` to create it "
    "(or `lensforge pipeline` to run every stage on the demo corpus), or point `LENSFORGE_HOME` at a workspace."
)
NO_INGEST = (
    "No dataset ingested yet: run `lensforge ingest --all --sources DIR` "
    "(or `lensforge pipeline` to run every stage on the demo corpus)."
)
NO_DATASETS = "The catalog holds no datasets yet: run `lensforge init --demo` to load the built-in registry."


def workspace() -> Workspace:
    """The workspace the app serves: `$LENSFORGE_HOME` (set by `lensforge app`), else ./lensforge-workspace."""
    return resolve_workspace(os.environ.get(HOME_ENV) or None)


def actor() -> str:
    """The reviewer named in the sidebar; every action is recorded under this name."""
    name = st.session_state.get(ACTOR_KEY)
    if isinstance(name, str) and name.strip():
        return name.strip()
    return current_user(None)


def default_actor() -> str:
    return os.environ.get(USER_ENV) or current_user(None)


def _notify_busy(message: str) -> None:
    """Called by the catalog layer while it waits for another process's write lock."""
    if get_script_run_ctx() is None:  # a background thread: nowhere to show it
        return
    st.toast("Catalog busy, retrying…", icon="⏳")
    st.warning(f"Catalog busy, retrying: {message}.")


def sidebar(ws: Workspace) -> None:
    """Workspace path and the reviewer's name (drawn by every page, so a page also works on its own)."""
    with st.sidebar:
        st.caption("Workspace")
        st.code(str(ws.root), language=None, wrap_lines=True)
        st.text_input(
            "Reviewer",
            value=default_actor(),
            key=ACTOR_KEY,
            help="Recorded as the actor of every action (default: $LENSFORGE_USER).",
        )


def flash(message: str) -> None:
    """Show `message` after the rerun that refreshes the page's tables."""
    st.session_state.setdefault(FLASH_KEY, []).append(message)
    st.rerun()


def _show_flashes() -> None:
    for message in st.session_state.pop(FLASH_KEY, []):
        st.success(message)


@contextlib.contextmanager
def shown_errors() -> Iterator[None]:
    """Show an expected failure where it happened and carry on drawing the rest of the page."""
    try:
        yield
    except LensforgeError as exc:
        st.error(str(exc))


def run_page(title: str, render: Callable[[Workspace], None], *, caption: str | None = None) -> None:
    """Draw one page: title, lock notifier, pending messages, then `render`; a LensforgeError ends it on the page."""
    set_lock_notifier(_notify_busy)
    ws = workspace()
    sidebar(ws)
    st.title(title)
    if caption:
        st.caption(caption)
    _show_flashes()
    if not queries.has_catalog(ws):
        st.info(NO_CATALOG.format(root=ws.root))
        return
    try:
        render(ws)
    except LensforgeError as exc:
        st.error(str(exc))


def ingested_or_explain(ws: Workspace) -> pl.DataFrame | None:
    """The current versions, or None after telling the user what to run first."""
    versions = current_versions(ws)
    if versions.is_empty():
        st.info(NO_INGEST)
        return None
    return versions


def table(frame: pl.DataFrame | list[dict[str, Any]], **kwargs: Any) -> None:
    """A read-only table without the index column."""
    data = pl.DataFrame(frame) if isinstance(frame, list) else frame
    st.dataframe(data, hide_index=True, **kwargs)


def counts_frame(counts: dict[str, int], key: str) -> pl.DataFrame:
    return pl.DataFrame(
        {key: list(counts), "datasets": list(counts.values())}, schema={key: pl.String, "datasets": pl.Int64}
    )


def pick_index(options: list[str], preferred: str | None) -> int:
    """Index of `preferred` in `options`, or 0."""
    return options.index(preferred) if preferred in options else 0
