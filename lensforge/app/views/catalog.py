"""Catalog: filter the candidates, open one dataset, diff two, select or exclude with a reason."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import streamlit as st

from lensforge.app.common import NO_DATASETS, NO_INGEST, actor, flash, pick_index, run_page, shown_errors, table
from lensforge.catalog.datasets import (
    catalog_summary,
    dataset_labels,
    diff_datasets,
    list_datasets,
    set_status,
    show_dataset,
)
from lensforge.curate.samples import current_versions
from lensforge.ingest.versions import list_versions
from lensforge.workspace import Workspace

ANY = "(any)"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _filters(ws: Workspace) -> pl.DataFrame:
    summary = catalog_summary(ws)
    cols = st.columns(4)
    language = cols[0].selectbox("Language", [ANY, *sorted(summary["by_language"])], key="cat_language")
    task = cols[1].text_input("Task contains", key="cat_task")
    status = cols[2].selectbox("Status", [ANY, "candidate", "selected", "excluded"], key="cat_status")
    collection = cols[3].selectbox("Collection", [ANY, *sorted(summary["by_collection"])], key="cat_collection")
    return list_datasets(
        ws,
        language=None if language == ANY else language,
        task=task or None,
        status=None if status == ANY else status,
        collection=None if collection == ANY else collection,
    )


def _dataset(ws: Workspace, ids: list[str]) -> None:
    did = st.selectbox("Dataset", ids, key="cat_dataset")
    if not did:
        return
    info = show_dataset(ws, did)
    st.markdown(f"**{info['dataset_id']}** · {info['task']} · status **{info['status']}**")
    if info.get("exclusion_reason"):
        st.caption(f"excluded: {info['exclusion_reason']}")

    with st.form("cat_decision", border=True):
        st.markdown("**Curator decision** (one event in the audit log)")
        reason = st.text_input("Reason (needed to exclude)", key="cat_reason")
        c1, c2, c3 = st.columns(3)
        do_select = c1.form_submit_button("Select", type="primary", key="cat_do_select")
        do_exclude = c2.form_submit_button("Exclude", key="cat_do_exclude")
        do_reset = c3.form_submit_button("Back to candidate", key="cat_do_reset")
    for pressed, status in ((do_select, "selected"), (do_exclude, "excluded"), (do_reset, "candidate")):
        if pressed:
            with shown_errors():
                res = set_status(ws, did, status, actor=actor(), reason=reason or None)
                flash(f"{res['dataset_id']}: {res['from']} → {res['to']}")

    meta, side = st.columns([3, 2])
    with meta:
        st.markdown("**Metadata**")
        rows = [
            {"field": k, "value": _cell(v)}
            for k, v in info.items()
            if k not in ("label_space", "ingest_spec", "source_spec") and v not in (None, "", [])
        ]
        table(rows, height=420)
        with st.expander("Source and ingestion spec"):
            st.json({"source": info.get("source_spec"), "ingest": info.get("ingest_spec")}, expanded=False)
    with side:
        st.markdown("**Label space**")
        labels = dataset_labels(ws, did)
        if labels.is_empty():
            st.caption("No label space recorded (generation task or not described).")
        else:
            table(labels.drop("dataset_id"))
        st.markdown("**Ingested versions**")
        versions = list_versions(ws, did)
        if versions.is_empty():
            st.caption(f"Not ingested yet: run `lensforge ingest {did}`.")
        else:
            table(versions.drop("dataset_id"))


def _diff(ws: Workspace, all_ids: list[str]) -> None:
    a_default = next((d for d in all_ids if d.startswith("ar/ArSarcasm@")), all_ids[0])
    b_default = next((d for d in all_ids if d.startswith("ar/ArSarcasm-v2")), all_ids[min(1, len(all_ids) - 1)])
    c1, c2 = st.columns(2)
    a = c1.selectbox("A", all_ids, index=pick_index(all_ids, a_default), key="cat_diff_a")
    b = c2.selectbox("B", all_ids, index=pick_index(all_ids, b_default), key="cat_diff_b")
    if not (a and b):
        return
    d = diff_datasets(ws, a, b)
    if d["fields"]:
        table([{"field": f["field"], d["a"]: _cell(f["a"]), d["b"]: _cell(f["b"])} for f in d["fields"]])
    else:
        st.caption("No metadata field differs.")
    labels = d["labels"]
    st.markdown(
        f"Labels in both: {', '.join(labels['common']) or '–'}  \n"
        f"Only in {d['a']}: {', '.join(labels['only_in_a']) or '–'}  \n"
        f"Only in {d['b']}: {', '.join(labels['only_in_b']) or '–'}"
    )
    for v in labels["spelling_variants"]:
        st.markdown(f"Spelling variant: `{v['a']}` ~ `{v['b']}`")


def render(ws: Workspace) -> None:
    all_ids = list_datasets(ws)["dataset_id"].to_list()
    if not all_ids:
        st.info(NO_DATASETS)
        return
    if current_versions(ws).is_empty():
        st.info(NO_INGEST)
    candidates, one, diff = st.tabs(["Candidates", "Dataset", "Diff"])
    with candidates:
        frame = _filters(ws)
        st.caption(f"{frame.height} of {len(all_ids)} datasets")
        table(frame.drop("name"))
    with one:
        ids = frame["dataset_id"].to_list() or all_ids
        _dataset(ws, ids)
    with diff:
        _diff(ws, all_ids)


run_page("Catalog", render, caption="Candidate datasets: filter, inspect, diff, and record select/exclude decisions.")
