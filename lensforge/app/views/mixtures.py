"""Mixtures: compose a mixture from the catalog, save it in the workspace, see its plan, build its snapshot.

A mixture picks ingested datasets, caps (for every dataset and per dataset), the seed, the data order
and the instruction language; it is saved as TOML under the workspace's `mixtures/` folder (the file
`lensforge snapshot build` reads), never typed as a server path. The demo's mixture is offered only
where the demo corpus is ingested.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from lensforge.app.common import actor, flash, ingested_or_explain, link, pick_index, prefill, run_page, shown_errors
from lensforge.app.common import table as show_table
from lensforge.catalog.constants import SPLITS
from lensforge.catalog.datasets import list_datasets
from lensforge.curate.mixture import (
    MixturePlan,
    list_mixtures,
    load_plan,
    plan_from_dict,
    plan_summary,
    save_mixture,
)
from lensforge.pipeline import demo_mixture_path
from lensforge.release.snapshot import BUILD_STATUS_TEXT, ORDERS, build_snapshot
from lensforge.workspace import Workspace

NEW = "(new mixture)"
BUILTIN = " (built-in)"
INSTRUCTION_LANGUAGES = ("en", "native", "both")


def _choices(ws: Workspace, ingested: list[str]) -> dict[str, Path | None]:
    """Saved mixtures by name, the demo's where its datasets are ingested, and a new one."""
    out: dict[str, Path | None] = {}
    for path in list_mixtures(ws):
        with shown_errors():
            out[load_plan(path).name] = path
    demo = set(list_datasets(ws, collection="demo")["dataset_id"].to_list())
    if demo & set(ingested):
        out[load_plan(demo_mixture_path()).name + BUILTIN] = demo_mixture_path()
    out[NEW] = None
    return out


def _caps_frame(plan: MixturePlan | None, datasets: list[str]) -> pl.DataFrame:
    """Per-dataset caps to edit (blank: the mixture's cap)."""
    known = {d.ref: d for d in (plan.datasets if plan else [])}
    return pl.DataFrame(
        {
            "dataset": datasets,
            **{f"{s}_cap": [getattr(known[d], f"{s}_cap") if d in known else None for d in datasets] for s in SPLITS},
        },
        schema={"dataset": pl.String, **{f"{s}_cap": pl.Int64 for s in SPLITS}},
    )


def _editor(ws: Workspace, ingested: list[str], name: str, plan: MixturePlan | None, builtin: bool) -> None:
    st.subheader("Compose")
    if builtin:
        st.caption("The demo's mixture is part of lensforge: save your changes under another name.")
    k = f"mix_{name}"  # widgets per mixture: switching mixtures opens each with its own values
    picked = [d.ref for d in plan.datasets] if plan else []
    c1, c2 = st.columns([3, 2])
    new_name = c1.text_input("Name", value="" if plan is None or builtin else plan.name, key=f"{k}_name")
    seed = c2.number_input("Seed", value=plan.seed if plan else 42, step=1, key=f"{k}_seed")
    if plan is not None and plan.select is not None:
        st.caption(f"Also every dataset matching {plan.select.model_dump(exclude_none=True)} (kept as written).")
    datasets = st.multiselect("Datasets", ingested, default=[d for d in picked if d in ingested], key=f"{k}_datasets")
    c3, c4, c5, c6, c7 = st.columns(5)
    caps = plan.caps if plan else None
    train = c3.number_input("Train cap (0: none)", 0, value=caps.train if caps else 20_000, key=f"{k}_train")
    dev = c4.number_input("Dev cap", 0, value=caps.dev if caps else 0, key=f"{k}_dev")
    test = c5.number_input("Test cap", 0, value=caps.test if caps else 0, key=f"{k}_test")
    orders = list(ORDERS)
    order = c6.selectbox(
        "Order", orders, index=pick_index(orders, (plan.order if plan else None) or "language"), key=f"{k}_order"
    )
    langs = list(INSTRUCTION_LANGUAGES)
    instructions = c7.selectbox(
        "Instructions", langs, index=pick_index(langs, (plan.instructions if plan else None) or "en"), key=f"{k}_ins"
    )
    per = st.data_editor(
        _caps_frame(plan, datasets).to_pandas(),
        hide_index=True,
        disabled=["dataset"],
        key=f"{k}_per_{abs(hash(tuple(datasets)))}",  # new rows: a fresh editor
        column_config={f"{s}_cap": st.column_config.NumberColumn(min_value=0, step=1) for s in SPLITS},
    )
    if st.button("Save mixture", type="primary", key="mix_do_save"):
        with shown_errors():
            chosen: list[dict[str, Any]] = []
            for row in pl.from_pandas(per).iter_rows(named=True):
                item: dict[str, Any] = {"ref": row["dataset"]}
                item.update({f"{s}_cap": int(row[f"{s}_cap"]) for s in SPLITS if row[f"{s}_cap"] is not None})
                chosen.append(item)
            data: dict[str, Any] = {
                "name": new_name.strip(),
                "seed": int(seed),
                "order": order,
                "instructions": instructions,
                "caps": {"train": int(train), "dev": int(dev), "test": int(test)},
                "datasets": chosen,
            }
            if plan is not None and plan.select is not None and not builtin:
                data["select"] = plan.select.model_dump()
            new = plan_from_dict(data, origin=f"mixture {new_name.strip() or '(unnamed)'}")
            path = save_mixture(ws, new)
            st.session_state["mix_next"] = new.name  # picked on the rerun, before the selectbox is drawn
            flash(f"mixture {new.name!r} saved in the workspace ({path.relative_to(ws.root)})")


def _plan(ws: Workspace, name: str, plan: MixturePlan) -> None:
    st.subheader("Plan")
    if st.button("Preview the plan", key="mix_do_plan"):
        with shown_errors(), st.spinner("Applying mappings, row decisions and caps…"):
            st.session_state[f"mix_summary_{name}"] = plan_summary(ws, plan)
    summary = st.session_state.get(f"mix_summary_{name}")
    if summary is None:
        st.caption("What a snapshot of this mixture would hold, per dataset, language and task, after the caps.")
        return
    per_dataset = [
        {
            "dataset": d["dataset_id"],
            "version": d["version_id"],
            **{s: d["after"][s] for s in SPLITS},
            "removed by caps (train)": d["removed_by_caps"]["train"],
            "pending labels": len(d["pending_labels"]),
            "rejected-label rows": d["rejected_rows"],
            "relabeled rows": d["row_decisions"].get("relabeled", 0),
            "excluded rows": d["row_decisions"].get("excluded", 0),
        }
        for d in summary["datasets"]
    ]
    show_table(per_dataset)
    left, right = st.columns(2)
    with left:
        st.markdown("**Per language**")
        show_table(summary["by_language"])
    with right:
        st.markdown("**Per task**")
        show_table(summary["by_task"])
    st.markdown("**Totals**")
    show_table(
        [
            {"": "rows", **summary["totals"]},
            {"": "removed by caps", **summary["removed_by_caps"]},
        ]
    )
    if summary["pending_labels"]:
        st.warning(
            f"{summary['pending_labels']} label mapping(s) still pending: review them (Review queue) or allow "
            "unreviewed mappings below."
        )


def _build(ws: Workspace, path: Path) -> None:
    st.subheader("Build")
    c1, c2 = st.columns([1, 2])
    allow_proposed = c1.checkbox("Allow unreviewed label mappings (recorded)", key="mix_allow_proposed")
    allow_invalid = c2.text_input(
        "Reason to use versions that failed validation (blank: refuse them)", key="mix_allow_invalid"
    )
    if st.button("Build snapshot", type="primary", key="mix_do_build"):
        with shown_errors(), st.spinner("Building the snapshot…"):
            res = build_snapshot(
                ws,
                path,
                allow_proposed=allow_proposed,
                allow_invalid=allow_invalid.strip() or None,
                actor=actor(),
            )
            verb = BUILD_STATUS_TEXT[res["status"]]
            st.session_state["mix_built"] = res["snapshot_id"]
            flash(f"snapshot {res['snapshot_id']} {verb}: {res['rows']}")
    built = st.session_state.get("mix_built")
    if built:
        link("snapshot_rows", f"Open the rows of snapshot {built}", {"snapshot": built})


def render(ws: Workspace) -> None:
    versions = ingested_or_explain(ws)
    if versions is None:
        return
    ingested = versions["dataset_id"].to_list()
    choices = _choices(ws, ingested)
    names = list(choices)
    prefill("mix_pick", "mixture", lambda v: v if v in names else names[0])
    if "mix_next" in st.session_state:
        st.session_state["mix_pick"] = st.session_state.pop("mix_next")
    if st.session_state.get("mix_pick") not in names:
        st.session_state["mix_pick"] = names[0]
    name = st.selectbox("Mixture", names, key="mix_pick")
    path = choices[name]
    builtin = name.endswith(BUILTIN)
    plan = load_plan(path) if path else None
    if path and not builtin:
        st.caption(f"saved as `{path.relative_to(ws.root)}` in the workspace")
    _editor(ws, ingested, name, plan, builtin)
    if plan is None or path is None:
        return
    _plan(ws, name, plan)
    _build(ws, path)


run_page(
    "Mixtures",
    render,
    caption="Compose a mixture from the catalog, save it in the workspace, preview its plan, build its snapshot.",
)
