"""Entry script of the curator app (`lensforge app` runs `streamlit run` on this file).

One Streamlit page per stage, each a module under `views/` that also runs on its own
(`streamlit run lensforge/app/views/catalog.py`); every page's sidebar names the workspace and the
reviewer whose name every action records.
"""

from __future__ import annotations

import streamlit as st

from lensforge.app.common import PAGES_DIR

st.set_page_config(page_title="lensforge", page_icon=":material/dataset:", layout="wide")


def _page(name: str, title: str, icon: str, **kwargs: object) -> st.Page:
    return st.Page(
        str(PAGES_DIR / f"{name}.py"), title=title, icon=icon, url_path=kwargs.pop("url_path", name), **kwargs
    )


navigation = st.navigation(
    {
        "Data": [
            # The default page is served at the root URL; the hidden twin keeps `/overview` working too.
            _page("overview", "Overview", ":material/dashboard:", default=True, url_path=""),
            _page("overview", "Overview", ":material/dashboard:", visibility="hidden"),
            _page("queue", "Review queue", ":material/checklist:"),
            _page("catalog", "Catalog", ":material/table_view:"),
            _page("quality", "Data quality", ":material/rule:"),
            _page("samples", "Samples", ":material/search:"),
            _page("labels", "Label review", ":material/label:"),
            _page("label_issues", "Label issues", ":material/report:"),
        ],
        "Build": [
            _page("instructions", "Instructions", ":material/edit_note:"),
            _page("mixtures", "Mixtures", ":material/tune:"),
            _page("snapshots", "Snapshots", ":material/inventory_2:"),
            _page("snapshot_rows", "Snapshot rows", ":material/table_rows:"),
            _page("training", "Training", ":material/model_training:"),
            _page("scores", "Scores", ":material/leaderboard:"),
        ],
    }
)
navigation.run()  # each page draws the sidebar (workspace, reviewer) itself, see common.run_page
