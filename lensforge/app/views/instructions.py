"""Instructions: per dataset view, edit and disable; generate more; the cost ledger."""

from __future__ import annotations

import polars as pl
import streamlit as st

from lensforge.app.common import actor, flash, ingested_or_explain, prefill, run_page, shown_errors, table
from lensforge.instruct.api import generate_many
from lensforge.instruct.ledger import cost_summary
from lensforge.instruct.store import (
    edit_instruction,
    instruction_counts,
    list_instructions,
    rejects,
    set_status,
    show_instruction,
)
from lensforge.workspace import Workspace

PROVIDERS = ("offline", "openai", "anthropic")
ANY = "(any)"


def _generate(ws: Workspace, did: str) -> None:
    with st.form("ins_generate"):
        st.markdown("**Generate instructions**")
        c1, c2, c3, c4 = st.columns([2, 1, 1, 2])
        providers = c1.multiselect(
            "Providers",
            PROVIDERS,
            default=["offline"],
            key="ins_providers",
            help="openai / anthropic need OPENAI_API_KEY / ANTHROPIC_API_KEY in the app's environment.",
        )
        n = c2.number_input("N per language", min_value=1, max_value=200, value=20, key="ins_n")
        languages = c3.selectbox("Languages", ["both", "en", "native"], key="ins_languages")
        scope = c4.radio("For", [f"this dataset ({did})", "every ingested dataset"], key="ins_scope")
        submitted = st.form_submit_button("Generate", type="primary", key="ins_do_generate")
    if submitted:
        every = scope.startswith("every")
        with shown_errors(), st.spinner("Generating and validating instructions…"):
            res = generate_many(
                ws,
                [] if every else [did],
                all_=every,
                n=int(n),
                provider_names=list(providers) or None,
                languages=languages,
                actor=actor(),
            )
            accepted = sum(o["accepted"] for o in res["outcomes"])
            flash(
                f"{len(res['outcomes'])} instruction set(s): {accepted} accepted, "
                f"{res['requests_sent']} request(s) sent, {res['cache_hits']} cached"
            )


def _one(ws: Workspace, frame: pl.DataFrame) -> None:
    ids = frame["instruction_id"].to_list()
    texts = dict(zip(ids, frame["text"].to_list(), strict=True))
    iid = st.selectbox(
        "Instruction", ids, format_func=lambda i: f"{i} · {texts[i][:90]}", key="ins_pick", index=0 if ids else None
    )
    if not iid:
        return
    info = show_instruction(ws, iid)
    st.caption(
        f"{info['dataset_id']} · {info['language']} · position {info['position']} · {info['status']} · "
        f"{info['provider']}/{info['model']}" + (f" · edited by {info['edited_by']}" if info.get("edited_by") else "")
    )
    with st.form(f"ins_edit_{iid}"):
        text = st.text_area("Text", info["text"], height=120, key=f"ins_text_{iid}")
        reason = st.text_input("Reason (required)", key=f"ins_reason_{iid}")
        c1, c2 = st.columns(2)
        save = c1.form_submit_button("Save edit", type="primary", key="ins_do_save")
        toggle = c2.form_submit_button("Disable" if info["status"] == "active" else "Enable", key="ins_do_toggle")
    if save:
        with shown_errors():
            edit_instruction(ws, iid, text, actor=actor(), reason=reason)
            flash(f"{iid} edited")
    if toggle:
        new = "disabled" if info["status"] == "active" else "active"
        with shown_errors():
            set_status(ws, iid, new, actor=actor(), reason=reason)
            flash(f"{iid} {new}")
    if info["history"]:
        with st.expander(f"History ({len(info['history'])} events)"):
            table(info["history"])


def render(ws: Workspace) -> None:
    versions = ingested_or_explain(ws)
    if versions is None:
        return
    counts = instruction_counts(ws)
    if counts.is_empty():
        st.info("No instructions yet: generate them below or run `lensforge instruct generate --all`.")
    else:
        with st.expander(f"Instruction sets ({counts.height})", expanded=False):
            table(counts)

    ids = versions["dataset_id"].to_list()
    prefill("ins_dataset", "dataset", lambda v: v if v in ids else ids[0])  # a link from the review queue
    c1, c2, c3 = st.columns([3, 1, 1])
    did = c1.selectbox("Dataset", ids, key="ins_dataset")
    language = c2.selectbox("Language", [ANY, "en", "ar", "hi"], key="ins_language")
    status = c3.selectbox("Status", [ANY, "active", "disabled"], key="ins_status")
    _generate(ws, did)

    frame = list_instructions(
        ws, did, language=None if language == ANY else language, status=None if status == ANY else status
    )
    st.subheader(f"Instructions of {did}")
    if frame.is_empty():
        st.caption("None for these filters.")
    else:
        table(frame.select("instruction_id", "language", "position", "status", "provider", "model", "text"))
        _one(ws, frame)

    bad = rejects(ws, did)
    with st.expander(f"Rejected candidates ({bad.height})"):
        if bad.height:
            table(bad.select("language", "provider", "reason", "text"))
        else:
            st.caption("None.")

    st.subheader("Cost ledger")
    ledger = cost_summary(ws)
    if ledger.height <= 1:
        st.caption("No LLM request has been sent (the offline provider costs nothing).")
    table(ledger)


run_page("Instructions", render, caption="Instruction sets per dataset: review, edit, disable, generate, cost.")
