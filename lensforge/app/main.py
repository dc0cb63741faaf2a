"""Entry script of the curator app (`lensforge app` runs `streamlit run` on this file).

One Streamlit page per stage, each a module under `views/` that also runs on its own
(`streamlit run lensforge/app/views/catalog.py`); every page's sidebar names the workspace and the
reviewer whose name every action records.
"""

from __future__ import annotations

import streamlit as st

from lensforge.app.common import PAGES_DIR

st.set_page_config(page_title="lensforge", page_icon=":material/dataset:", layout="wide")


def _page(name: str, title: str, icon: str, *, default: bool = False) -> st.Page:
    return st.Page(str(PAGES_DIR / f"{name}.py"), title=title, icon=icon, url_path=name, default=default)


navigation = st.navigation(
    {
        "Data": [
            _page("overview", "Overview", ":material/dashboard:", default=True),
            _page("catalog", "Catalog", ":material/table_view:"),
            _page("quality", "Data quality", ":material/rule:"),
            _page("samples", "Samples", ":material/search:"),
            _page("labels", "Label review", ":material/label:"),
        ],
        "Build": [
            _page("instructions", "Instructions", ":material/edit_note:"),
            _page("snapshots", "Snapshots", ":material/inventory_2:"),
            _page("training", "Training", ":material/model_training:"),
            _page("scores", "Scores", ":material/leaderboard:"),
        ],
    }
)
navigation.run()  # each page draws the sidebar (workspace, reviewer) itself, see common.run_page
