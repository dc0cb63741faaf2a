"""Snapshots: the history, one snapshot's inputs, labels, manifest and card; publish or export it.

Snapshots are built on the Mixtures page; their rows are read on the Snapshot rows page."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from lensforge.app.common import actor, flash, ingested_or_explain, link, run_page, shown_errors, table
from lensforge.curate.mappings import mapping_chain
from lensforge.release.publish import TOKEN_ENV, export_snapshot, publish_to_hub
from lensforge.release.store import get_snapshot, list_snapshots, snapshot_dir
from lensforge.workspace import Workspace

NO_TOKEN = (
    f"No Hugging Face token: set {TOKEN_ENV} in the environment the app runs in (a token with write access), "
    "or export the snapshot to a folder instead."
)


def _card(folder: Path) -> tuple[str, str]:
    """The dataset card split into its YAML header and its Markdown body."""
    path = folder / "README.md"
    if not path.is_file():
        return "", ""
    text = path.read_text(encoding="utf-8")
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        if end != -1:
            return text[4:end], text[end + 4 :].lstrip("\n")
    return "", text


def _publish(ws: Workspace, sid: str) -> None:
    hub, folder = st.columns(2)
    with hub, st.form("snap_publish"):
        st.markdown("**Publish to the Hugging Face Hub**")
        repo = st.text_input("Dataset repo (ORG/NAME)", key="snap_repo")
        c1, c2 = st.columns(2)
        private = c1.checkbox("Private", key="snap_private")
        tag = c2.text_input("Tag (optional)", key="snap_tag")
        go = st.form_submit_button("Publish", type="primary", key="snap_do_publish")
    if go:
        if not os.environ.get(TOKEN_ENV, "").strip():
            hub.error(NO_TOKEN)
        else:
            with shown_errors(), st.spinner("Uploading…"):
                res = publish_to_hub(ws, sid, repo.strip(), private=private, tag=tag.strip() or None, actor=actor())
                flash(f"published {sid} → {res.get('url') or res['target']}")
    with folder, st.form("snap_export"):
        st.markdown("**Export to a folder** (the same layout, for a later upload)")
        target = st.text_input("Folder", key="snap_export_dir")
        go_export = st.form_submit_button("Export", key="snap_do_export")
    if go_export:
        with shown_errors():
            if not target.strip():
                st.error("name a folder to export to")
                return
            res = export_snapshot(ws, sid, Path(target.strip()), actor=actor())
            flash(f"exported {sid} → {res['path']}")


def _publications(info: dict[str, Any]) -> None:
    if not info["publications"]:
        st.caption("Not published yet.")
        return
    for p in info["publications"]:
        where = f"[{p['target']}]({p['url']})" if p.get("url") else f"`{p['target']}`"
        commit = f" · commit `{p['commit_sha'][:12]}`" if p.get("commit_sha") else ""
        tag = f" · tag `{p['tag']}`" if p.get("tag") else ""
        st.markdown(f"- {p['kind']}: {where}{commit}{tag} · {p['ts']} by {p['actor']}")


def _details(ws: Workspace, history: pl.DataFrame) -> None:
    ids = history["snapshot_id"].to_list()
    preferred = st.session_state.get("snap_pick")
    if preferred not in ids:
        st.session_state["snap_pick"] = ids[0]
    sid = st.selectbox("Snapshot", ids, key="snap_pick")
    info = get_snapshot(ws, sid)
    m = info["manifest"]
    inputs = m["inputs"]
    st.markdown(
        f"**{sid}** · mixture {info['mixture']} · rows {m['rows']} · order {inputs['order']} · "
        f"instructions {inputs['instructions']} · seed {inputs['seed']}"
    )
    table(
        [
            {
                "dataset": d["dataset_id"],
                "version": d["version_id"],
                "mapping": d["mapping_version_id"],
                "row decisions": d.get("decision_set_id"),
                "train": d["rows"]["train"],
                "dev": d["rows"]["dev"],
                "test": d["rows"]["test"],
                "instructions": len(d["instruction_ids"]),
            }
            for d in inputs["datasets"]
        ]
    )
    link("snapshot_rows", f"Open the rows of {sid} as the model sees them", {"snapshot": sid})
    with st.expander("Labels: source → decoded → canonical (the answer the model learns)"):
        table(
            [
                {"dataset": d["dataset_id"], "source → decoded → canonical": k.chain}
                for d in inputs["datasets"]
                for k in mapping_chain(ws, d["dataset_id"], d["version_id"], d["mapping_version_id"])
            ]
        )
    st.markdown("**Publications**")
    _publications(info)
    header, body = _card(snapshot_dir(ws, info))
    with st.expander("Dataset card (README.md)"):
        if header:
            st.code(header, language="yaml")
        st.markdown(body)
    with st.expander("Manifest (manifest.json)"):
        st.json(m, expanded=False)
    _publish(ws, sid)


def render(ws: Workspace) -> None:
    if ingested_or_explain(ws) is None:
        return
    link("mixtures", "Compose a mixture and build a snapshot on the Mixtures page")
    st.subheader("History")
    history = list_snapshots(ws)
    if history.is_empty():
        st.info(
            "No snapshot built yet: build one on the Mixtures page, or run "
            "`lensforge snapshot build MIXTURE.toml` (after `lensforge instruct generate --all`)."
        )
        return
    table(history)
    _details(ws, history)


run_page("Snapshots", render, caption="Immutable snapshots: inspect manifest, labels and card, publish or export.")
