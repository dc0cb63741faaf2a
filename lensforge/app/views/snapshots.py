"""Snapshots: build one from a mixture, read its manifest and card, publish or export it, see the history."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from lensforge.app.common import actor, flash, ingested_or_explain, run_page, shown_errors, table
from lensforge.curate.mixture import load_plan, plan_summary
from lensforge.pipeline import demo_mixture_path
from lensforge.release.publish import TOKEN_ENV, export_snapshot, publish_to_hub
from lensforge.release.snapshot import ORDERS, build_snapshot, get_snapshot, list_snapshots
from lensforge.workspace import Workspace

NO_TOKEN = (
    f"No Hugging Face token: set {TOKEN_ENV} in the environment the app runs in (a token with write access), "
    "or export the snapshot to a folder instead."
)


def _build(ws: Workspace) -> None:
    with st.form("snap_build"):
        st.markdown("**Build a snapshot**")
        path = st.text_input("Mixture file", value=str(demo_mixture_path()), key="snap_mixture")
        c1, c2, c3 = st.columns(3)
        order = c1.selectbox("Order", ORDERS, index=ORDERS.index("language"), key="snap_order")
        instructions = c2.selectbox("Instructions", ["en", "native", "both"], key="snap_instructions")
        seed = c3.text_input("Seed (blank: the mixture's)", key="snap_seed")
        allow_proposed = st.checkbox("Allow unreviewed label mappings (recorded)", key="snap_allow_proposed")
        allow_invalid = st.text_input(
            "Reason to use versions that failed validation (blank: refuse them)", key="snap_allow_invalid"
        )
        c4, c5 = st.columns(2)
        plan = c4.form_submit_button("Preview the plan", key="snap_do_plan")
        build = c5.form_submit_button("Build snapshot", type="primary", key="snap_do_build")
    if plan:
        with shown_errors():
            summary = plan_summary(ws, load_plan(Path(path)))
            table(
                [
                    {
                        "dataset": d["dataset_id"],
                        **{s: d["after"][s] for s in ("train", "dev", "test")},
                        "cap removed": d["removed_by_caps"]["train"],
                        "pending labels": len(d["pending_labels"]),
                    }
                    for d in summary["datasets"]
                ]
            )
            st.caption(f"total {summary['totals']}; caps removed {summary['removed_by_caps']}")
    if build:
        with shown_errors():
            seed_value = None
            if seed.strip():
                if not seed.strip().lstrip("-").isdigit():
                    st.error(f"seed must be a whole number, not {seed!r}")
                    return
                seed_value = int(seed)
            with st.spinner("Building the snapshot…"):
                res = build_snapshot(
                    ws,
                    Path(path),
                    order=order,
                    instructions=instructions,
                    seed=seed_value,
                    allow_proposed=allow_proposed,
                    allow_invalid=allow_invalid.strip() or None,
                    actor=actor(),
                )
            verb = "built" if res["status"] == "new" else "already built (unchanged)"
            st.session_state["snap_pick"] = res["snapshot_id"]
            flash(f"snapshot {res['snapshot_id']} {verb}: {res['rows']}")


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
                "train": d["rows"]["train"],
                "dev": d["rows"]["dev"],
                "test": d["rows"]["test"],
                "instructions": len(d["instruction_ids"]),
            }
            for d in inputs["datasets"]
        ]
    )
    st.markdown("**Publications**")
    _publications(info)
    header, body = _card(ws.root / info["path"])
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
    _build(ws)
    st.subheader("History")
    history = list_snapshots(ws)
    if history.is_empty():
        st.info(
            "No snapshot built yet: build one above, or run "
            "`lensforge snapshot build lensforge/demo/mixture.toml` (after `lensforge instruct generate --all`)."
        )
        return
    table(history)
    _details(ws, history)


run_page("Snapshots", render, caption="Immutable snapshots: build, inspect manifest and card, publish or export.")
