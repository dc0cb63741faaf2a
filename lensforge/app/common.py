"""What every page shares: the workspace, who is acting, errors shown on the page, the busy-catalog notice.

The app is a thin layer over the stages (DESIGN.md): a page reads through the stages' public functions,
an action calls the same function the CLI calls with the reviewer's name as `actor`, and an expected
failure (`LensforgeError`) is shown as one message on the page, never as a traceback.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st
from streamlit.errors import StreamlitAPIException
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


# Text boxes and texts take their direction from their content: Arabic or Hindi first, laid out right to left.
BIDI_CSS = (
    "<style>textarea, input[type='text'], .lf-text {unicode-bidi: plaintext; text-align: start;} "
    ".lf-text {white-space: pre-wrap; line-height: 1.5;} .lf-text mark {padding: 0 2px;}</style>"
)


def run_page(title: str, render: Callable[[Workspace], None], *, caption: str | None = None) -> None:
    """Draw one page: title, lock notifier, pending messages, then `render`; a LensforgeError ends it on the page."""
    set_lock_notifier(_notify_busy)
    ws = workspace()
    sidebar(ws)
    st.html(BIDI_CSS)
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


def text_block(text: str | None, words: tuple[str, ...] = ()) -> None:
    """A full text as written (new lines kept, direction from its script), with search words highlighted."""
    st.html(f'<div class="lf-text" dir="auto">{highlighted(text or "", words)}</div>')


def highlighted(text: str, words: tuple[str, ...]) -> str:
    """`text` as HTML with every case-insensitive occurrence of the words marked (one pass, so marks never nest)."""
    wanted = sorted({w for w in words if w}, key=len, reverse=True)
    if not wanted:
        return html.escape(text)
    pattern = re.compile("|".join(re.escape(w) for w in wanted), re.IGNORECASE)
    parts, last = [], 0
    for m in pattern.finditer(text):
        parts += [html.escape(text[last : m.start()]), f"<mark>{html.escape(m.group())}</mark>"]
        last = m.end()
    return "".join(parts) + html.escape(text[last:])


def query_param(name: str) -> str | None:
    """A value passed in the page's URL (links between pages carry a dataset, a label, a snapshot)."""
    value = st.query_params.get(name)
    return value or None


def prefill(key: str, param: str, value_of: Callable[[str], Any]) -> None:
    """Set a widget's state from the URL once per distinct value, so a link opens the page pre-filtered while
    the user can still change the filter afterwards."""
    raw = query_param(param)
    seen = f"_prefilled_{key}"
    if raw is not None and st.session_state.get(seen) != raw:
        st.session_state[seen] = raw
        st.session_state[key] = value_of(raw)


def link(page: str, text: str, params: dict[str, str] | None = None) -> None:
    """A link to another page of the app (`views/<page>.py`) carrying query parameters.

    A page run on its own (`streamlit run lensforge/app/views/x.py`) has no other pages: the link is then
    shown as the URL to open in the full app.
    """
    try:
        st.page_link(f"views/{page}.py", label=text, icon=":material/arrow_forward:", query_params=params or None)
    except StreamlitAPIException:
        query = urllib.parse.urlencode(params or {})
        st.caption(f"{text}: open `/{page}" + (f"?{query}" if query else "") + "` in the full app")
