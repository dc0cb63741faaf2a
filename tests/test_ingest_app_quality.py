"""The Data quality page shows the rows through each ingest step (issue 11): a waterfall and its table."""

from __future__ import annotations

from test_app import open_page, use


def test_quality_page_shows_rows_through_each_step(real_ws_copy, monkeypatch):
    use(monkeypatch, real_ws_copy)
    at = open_page("quality")
    at.selectbox(key="dq_dataset").select("ar/CT22Checkworthiness@2022").run()
    assert not at.exception and not at.error
    steps = next(df.value for df in at.dataframe if "rows in" in df.value.columns)
    assert steps["step"].tolist()[0] == "read" and steps["step"].tolist()[-1] == "write"
    assert steps["rows in"].iloc[0] == 4121  # records counted in the four files
    by_step = dict(zip(steps["step"], steps["dropped"], strict=True))
    assert "unlabelled 682" in by_step["unlabelled"] and "leak_test_in_train" in by_step["leakage"]
    charts = at.get("vega_lite_chart")
    assert any("rows through each ingest step" in str(c.proto.spec) for c in charts)
