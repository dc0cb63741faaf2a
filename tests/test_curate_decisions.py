"""Row-level curation decisions on the real datasets: relabel, exclude, dismiss, restore, carry over, apply."""

from __future__ import annotations

import json

import polars as pl
import pytest

from lensforge.catalog.events import list_events
from lensforge.curate.decisions import (
    apply_row_decisions,
    clear_row_decisions,
    decision_set_id,
    get_decision_set,
    list_row_decisions,
    preview_row_decisions,
    record_row_decisions,
)
from lensforge.curate.mappings import approve, review
from lensforge.curate.mixture import MixturePlan, curate_dataset, resolve_plan
from lensforge.errors import LensforgeError
from lensforge.ingest.versions import current_version, load_quarantine, load_rows

CT22 = "en/CT22Checkworthiness@2022"
HOSTILITY = "hi/Hindi-Hostility-Detection-CONSTRAINT-2021"


def _rows(ws, did: str) -> pl.DataFrame:
    version = current_version(ws, did)
    assert version is not None
    return load_rows(ws, version, columns=["sample_id", "split", "label_raw"])


def _curated(ws, did: str):
    plan = MixturePlan.model_validate({"name": "t", "caps": {"train": 0}, "datasets": [{"ref": did}]})
    (planned,) = resolve_plan(ws, plan)
    return curate_dataset(ws, planned, seed=1, allow_proposed=True, actor="t", used_by="t", record=False)


def test_relabel_exclude_and_dismiss_change_the_curated_rows(real_ws_copy):
    ws = real_ws_copy
    rows = _rows(ws, CT22)
    a, b, c = rows.filter(pl.col("label_raw") == "0")["sample_id"].head(3).to_list()
    before = _curated(ws, CT22)
    assert before.decision_set_id is None and before.rows.filter(pl.col("sample_id") == a)["canonical"][0] == (
        "not-checkworthy"
    )

    res = record_row_decisions(
        ws, CT22, [a], action="relabel", label="checkworthy", reason="names a vaccine figure", actor="alice"
    )
    assert res["rows"] == 1 and res["decision_set_id"].startswith("d")
    record_row_decisions(ws, CT22, [b], action="exclude", reason="an advert, not a claim", actor="alice")
    record_row_decisions(ws, CT22, [c], action="dismiss", reason="label is right", actor="bob", source="label-issues")

    after = _curated(ws, CT22)
    by_id = dict(zip(after.rows["sample_id"].to_list(), after.rows["canonical"].to_list(), strict=True))
    assert by_id[a] == "checkworthy"
    assert b not in by_id
    assert by_id[c] == "not-checkworthy"  # dismissed: unchanged
    assert after.rows.height == before.rows.height - 1
    assert after.row_decisions == {
        "decision_set_id": after.decision_set_id,
        "relabeled": 1,
        "excluded": 1,
        "restored": 0,
        "not_found": 0,
    }
    # The set holds what changes rows (dismissals do not), and is stored under its id.
    assert after.decision_set_id == decision_set_id(ws, CT22)
    assert get_decision_set(ws, after.decision_set_id)["decisions"] == {
        a: ["relabel", "checkworthy"],
        b: ["exclude", None],
    }

    # One event per action, with the real actor and the ids.
    kinds = list_events(ws, subject=CT22)
    decided = kinds.filter(pl.col("kind").str.starts_with("rows."))
    assert decided["kind"].to_list() == ["rows.dismiss", "rows.exclude", "rows.relabel"]
    assert decided["actor"].to_list() == ["bob", "alice", "alice"]
    payload = json.loads(decided["payload"][2])
    assert payload["sample_ids"] == [a] and payload["label"] == "checkworthy" and payload["reason"]
    listed = list_row_decisions(ws, CT22)
    assert set(listed["action"]) == {"relabel", "exclude", "dismiss"}
    assert listed.filter(pl.col("action") == "dismiss")["source"][0] == "label-issues"


def test_a_bulk_action_is_one_event_and_its_preview_counts_the_rows(real_ws_copy):
    ws = real_ws_copy
    ids = _rows(ws, CT22).filter(pl.col("split") == "dev")["sample_id"].head(40).to_list()
    record_row_decisions(ws, CT22, ids[:5], action="exclude", reason="first pass", actor="alice")
    preview = preview_row_decisions(ws, CT22, ids, action="exclude")
    assert preview["rows"] == 40 and preview["unchanged"] == 5 and preview["replaces"] == {}
    preview = preview_row_decisions(ws, CT22, ids, action="relabel", label="checkworthy")
    assert preview["replaces"] == {"exclude": 5} and preview["unchanged"] == 0
    assert list_events(ws, kind="rows.exclude").height == 1  # a preview writes nothing

    res = record_row_decisions(ws, CT22, ids, action="relabel", label="checkworthy", reason="bulk", actor="alice")
    assert res["rows"] == 40
    events = list_events(ws, kind="rows.relabel")
    assert events.height == 1 and json.loads(events["payload"][0])["count"] == 40
    assert list_row_decisions(ws, CT22, actions=["relabel"]).height == 40

    clear_row_decisions(ws, CT22, ids[:10], reason="too hasty", actor="alice")
    assert list_row_decisions(ws, CT22).height == 30
    assert list_events(ws, kind="rows.clear").height == 1


def test_decisions_are_refused_with_a_message_for_a_person(real_ws_copy):
    ws = real_ws_copy
    sid = _rows(ws, CT22)["sample_id"][0]
    cases = [
        (dict(sample_ids=[sid], action="exclude", reason=""), "needs a reason"),
        (dict(sample_ids=["nope"], action="exclude", reason="r"), "has no row nope"),
        (dict(sample_ids=[sid], action="relabel", label="spam", reason="r"), "'spam' is not a canonical label"),
        (dict(sample_ids=[sid], action="relabel", reason="r"), "needs the new label"),
        (dict(sample_ids=[sid], action="delete", reason="r"), "unknown row action"),
        (dict(sample_ids=[], action="exclude", reason="r"), "name at least one row"),
    ]
    for kwargs, message in cases:
        with pytest.raises(LensforgeError, match=message):
            record_row_decisions(ws, CT22, actor="t", **kwargs)
    version = current_version(ws, CT22)
    leak = load_quarantine(ws, version).filter(pl.col("reason").str.starts_with("leak_"))["sample_id"][0]
    with pytest.raises(LensforgeError, match="not for its label"):
        record_row_decisions(ws, CT22, [leak], action="relabel", label="checkworthy", reason="r", actor="t")
    with pytest.raises(LensforgeError, match="already left out"):
        record_row_decisions(ws, CT22, [leak], action="exclude", reason="r", actor="t")
    assert list_row_decisions(ws).is_empty() and list_events(ws, kind="rows.exclude").is_empty()


def test_a_relabel_restores_an_unlabelled_quarantined_row(real_ws_copy):
    ws = real_ws_copy
    version = current_version(ws, CT22)
    unlabelled = load_quarantine(ws, version).filter(pl.col("reason") == "unlabelled")
    sid, split = unlabelled["sample_id"][0], unlabelled["split"][0]
    res = record_row_decisions(ws, CT22, [sid], action="relabel", label="checkworthy", reason="read it", actor="t")
    assert res["restored_from_quarantine"] == 1
    assert list_row_decisions(ws, CT22)["origin"][0] == "quarantine:unlabelled"
    cur = _curated(ws, CT22)
    row = cur.rows.filter(pl.col("sample_id") == sid).row(0, named=True)
    assert (row["split"], row["canonical"]) == (split, "checkworthy")
    assert cur.row_decisions["restored"] == 1


def test_multilabel_relabel_and_a_rejected_mapping(real_ws_copy):
    ws = real_ws_copy
    rows = _rows(ws, HOSTILITY)
    sid = rows.filter(pl.col("label_raw") == "non-hostile")["sample_id"][0]
    record_row_decisions(ws, HOSTILITY, [sid], action="relabel", label="offensive, hate-speech", reason="r", actor="t")
    assert list_row_decisions(ws, HOSTILITY)["label"][0] == "hate-speech,offensive"
    cur = _curated(ws, HOSTILITY)
    assert cur.rows.filter(pl.col("sample_id") == sid)["canonical"][0].to_list() == ["hate-speech", "offensive"]

    # A relabel wins over a rejected source label: the row comes back while its siblings stay out.
    from lensforge.curate.mappings import reject

    fake = rows.filter(pl.col("label_raw") == "fake")["sample_id"].head(2).to_list()
    reject(ws, HOSTILITY, "fake", actor="t", reason="not hostility")
    record_row_decisions(ws, HOSTILITY, fake[:1], action="relabel", label="defamation", reason="r", actor="t")
    cur = _curated(ws, HOSTILITY)
    ids = set(cur.rows["sample_id"].to_list())
    assert fake[0] in ids and fake[1] not in ids


def test_decisions_carry_over_to_the_next_version(real_ws_copy):
    from conftest import SHARED_DATA

    from lensforge.ingest.api import ingest_many, ingest_targets
    from lensforge.ingest.run import IngestParams
    from lensforge.workspace import resolve_sources

    ws = real_ws_copy
    did = "ar/ArSarcasm-v2@v2"
    old = current_version(ws, did)["version_id"]
    a, b = _rows(ws, did)["sample_id"].head(2).to_list()
    record_row_decisions(ws, did, [a], action="exclude", reason="spam", actor="t")
    record_row_decisions(ws, did, [b], action="relabel", label="sarcastic", reason="r", actor="t")
    set_before = decision_set_id(ws, did)
    targets = ingest_targets(ws, [did], False)
    ingest_many(ws, targets, sources=resolve_sources(SHARED_DATA), params=IngestParams(seed=7), actor="t")
    new = current_version(ws, did)["version_id"]
    assert new != old
    if review(ws, did)["pending"]:
        approve(ws, did, [], actor="t", all_auto=True, reason="r")
    cur = _curated(ws, did)
    assert cur.planned.version["version_id"] == new
    assert cur.decision_set_id == set_before
    assert a not in set(cur.rows["sample_id"].to_list())
    assert cur.rows.filter(pl.col("sample_id") == b)["canonical"][0] == "sarcastic"


def test_apply_row_decisions_keeps_row_order_and_ignores_unknown_ids():
    frame = pl.DataFrame({"sample_id": ["a", "b", "c", "d"], "canonical": ["x", None, "x", "y"]})
    decisions = pl.DataFrame(
        {"sample_id": ["b", "c", "zz"], "action": ["relabel", "exclude", "exclude"], "label": ["y", None, None]}
    )
    out = apply_row_decisions(frame, decisions, task_type="classification")
    assert out.to_dicts() == [
        {"sample_id": "a", "canonical": "x"},
        {"sample_id": "b", "canonical": "y"},
        {"sample_id": "d", "canonical": "y"},
    ]


def test_a_snapshot_applies_the_decisions_and_its_manifest_names_the_set(demo_ws, tmp_path):
    from lensforge.instruct.generate import generate_for, make_providers
    from lensforge.release.snapshot import build_snapshot, snapshot_dir

    did = "en/DemoNewsSentiment@1"
    generate_for(demo_ws, did, providers=make_providers(["offline"]), languages="en")
    mixture = tmp_path / "mix.toml"
    mixture.write_text(f'name = "one"\n[[datasets]]\nref = "{did}"\n', encoding="utf-8")
    rows = _rows(demo_ws, did).filter(pl.col("split") == "train")
    a, b = rows.filter(pl.col("label_raw") == "positive")["sample_id"].head(2).to_list()
    record_row_decisions(demo_ws, did, [a], action="relabel", label="negative", reason="sarcasm", actor="t")
    record_row_decisions(demo_ws, did, [b], action="exclude", reason="duplicate wire copy", actor="t")

    sid = build_snapshot(demo_ws, mixture, actor="t")["snapshot_id"]
    train = pl.read_parquet(snapshot_dir(demo_ws, sid) / "data" / "train.parquet")
    row = train.filter(pl.col("id") == a).row(0, named=True)
    assert row["output"] == "negative" and row["messages"][2]["content"] == "Label: negative"
    assert train.filter(pl.col("id") == b).is_empty()
    manifest = json.loads((snapshot_dir(demo_ws, sid) / "manifest.json").read_text(encoding="utf-8"))
    (inputs,) = manifest["inputs"]["datasets"]
    assert inputs["decision_set_id"] == decision_set_id(demo_ws, did) is not None
    assert inputs["row_decisions"]["relabeled"] == 1 and inputs["row_decisions"]["excluded"] == 1
