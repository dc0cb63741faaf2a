"""Training: start a fine-tuning run in the background, follow its loss and log live, cancel it.

The run is a detached process (`start_background`), so it survives the browser tab and the app;
this page only reads the `runs` and `run_metrics` rows and the run's log file.
"""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

import altair as alt
import polars as pl
import streamlit as st

from lensforge.app import queries
from lensforge.app.common import actor, flash, ingested_or_explain, run_page, shown_errors, table
from lensforge.finetune.runs import recorded_runs, run_metrics
from lensforge.release.store import list_snapshots
from lensforge.workspace import Workspace

REFRESH_SECONDS = 2.0
DEFAULT_PRESET = "cpu-tiny"


def _finetune() -> ModuleType | None:
    """The finetune stage's API, or None (with a note) while it cannot be imported."""
    try:
        from lensforge.finetune import api
    except ImportError as exc:
        st.warning(f"The fine-tuning stage cannot be loaded ({exc}); showing the recorded runs only.")
        return None
    return api


def parse_override_text(text: str) -> list[str]:
    """`key=value` items separated by spaces, semicolons or new lines (commas stay inside list values)."""
    return [item for item in re.split(r"[\s;]+", text.strip()) if item]


def loss_chart(metrics: pl.DataFrame) -> alt.Chart:
    """Training loss per step, with the learning rate on a second axis."""
    data = metrics.drop_nulls("loss").to_pandas()
    base = alt.Chart(data).encode(x=alt.X("step:Q", title="step"))
    loss = base.mark_line(point=True).encode(
        y=alt.Y("loss:Q", title="loss"), tooltip=["step:Q", alt.Tooltip("loss:Q", format=".4f")]
    )
    lr = base.mark_line(strokeDash=[4, 3], color="gray").encode(
        y=alt.Y("learning_rate:Q", title="learning rate", axis=alt.Axis(format=".1e"))
    )
    return alt.layer(loss, lr).resolve_scale(y="independent").properties(height=260, title="training loss")


def _start(ws: Workspace, ft: ModuleType, snapshots: list[str]) -> None:
    presets = list(ft.list_presets())
    with st.form("trn_start"):
        st.markdown("**Start a run** (a background process; it keeps going if you close the page)")
        c1, c2, c3 = st.columns([2, 1, 1])
        snapshot = c1.selectbox("Snapshot", snapshots, key="trn_snapshot")
        preset = c2.selectbox(
            "Preset", presets, index=presets.index(DEFAULT_PRESET) if DEFAULT_PRESET in presets else 0, key="trn_preset"
        )
        base = c3.text_input("Base model (blank: the preset's)", key="trn_base")
        overrides = st.text_input(
            "Overrides (key=value, separated by spaces)",
            key="trn_overrides",
            placeholder="max_steps=50 logging_steps=5",
            help="Any field of the preset: " + ", ".join(ft.valid_keys()),
        )
        go = st.form_submit_button("Start training", type="primary", key="trn_do_start")
    if go:
        with shown_errors():
            values = ft.parse_overrides(parse_override_text(overrides))
            run_id = ft.start_background(ws, snapshot, base.strip() or None, preset, values, actor())
            st.session_state["trn_run"] = run_id
            flash(f"run {run_id} started")


def _panel(ws: Workspace, ft: ModuleType | None, run_id: str) -> None:
    """Status, loss curve and log tail of one run (redrawn every few seconds while it runs)."""
    run: dict[str, Any]
    if ft is not None:
        run = ft.get_run(ws, run_id)
        metrics = pl.DataFrame(run["metrics"], schema=["step", "loss", "learning_rate", "epoch"], orient="row")
    else:
        rows = recorded_runs(ws).filter(pl.col("run_id") == run_id)
        if rows.is_empty():
            st.error(f"no run {run_id!r}")
            return
        run = rows.to_dicts()[0]
        run["log_path"] = str(ws.runs_dir / run_id / "log.txt")
        metrics = run_metrics(ws, run_id)
    status = run["status"]
    cols = st.columns(5)
    cols[0].metric("Status", status)
    cols[1].metric("Steps logged", metrics["step"].max() if metrics.height else 0)
    last = metrics.drop_nulls("loss")
    cols[2].metric("Last loss", f"{last['loss'][-1]:.4f}" if last.height else "–")
    cols[3].metric("Preset", run.get("preset") or "–")
    cols[4].metric("Wall time", f"{run['wall_seconds']:.0f} s" if run.get("wall_seconds") else "–")
    if status == "failed":
        st.error(f"Run {run_id} failed: {run.get('error') or 'no error recorded'} (log: {run['log_path']})")
    elif status == "cancelled":
        st.warning(f"Run {run_id} was cancelled.")
    elif status == "finished":
        st.success(f"Run {run_id} finished: {run.get('steps')} steps, final loss {run.get('final_loss') or 0:.4f}")
    tail = queries.log_tail(run["log_path"])
    if last.height:
        st.altair_chart(loss_chart(metrics), width="stretch")
    elif status == "running":
        st.info(f"Phase: {queries.run_phase(run, tail)}")
    else:
        st.caption("No loss logged.")
    with st.expander("Log (last lines)", expanded=status != "finished"):
        st.code(tail or "(empty)", language=None)
    if status == "running" and ft is not None and st.button("Cancel run", key="trn_cancel"):
        with shown_errors():
            ft.cancel_run(ws, run_id, actor())
            flash(f"run {run_id} cancelled")
    if status != "running" and st.session_state.get("trn_live") == run_id:
        st.session_state.pop("trn_live", None)
        st.rerun(scope="app")  # the run ended while we watched it: refresh the runs table too


def render(ws: Workspace) -> None:
    if ingested_or_explain(ws) is None:
        return
    ft = _finetune()
    history = list_snapshots(ws)
    if history.is_empty():
        st.info(
            "No snapshot to train on yet: build one on the Mixtures page "
            "(or run `lensforge snapshot build MIXTURE.toml`)."
        )
    elif ft is not None:
        _start(ws, ft, history["snapshot_id"].to_list())

    runs = ft.list_runs(ws) if ft is not None else recorded_runs(ws)
    st.subheader("Runs")
    if runs.is_empty():
        st.caption("No run yet.")
        return
    table(runs)
    ids = runs["run_id"].to_list()
    if st.session_state.get("trn_run") not in ids:
        st.session_state["trn_run"] = ids[0]
    run_id = st.selectbox("Run", ids, key="trn_run")
    c1, _ = st.columns([1, 5])
    c1.button("Refresh", key="trn_refresh")
    status = runs.filter(pl.col("run_id") == run_id)["status"][0]
    if status == "running":
        st.session_state["trn_live"] = run_id
        st.fragment(run_every=REFRESH_SECONDS)(_panel)(ws, ft, run_id)
    else:
        _panel(ws, ft, run_id)


run_page("Training", render, caption="Fine-tune on a snapshot in the background; follow loss and log live.")
