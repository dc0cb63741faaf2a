"""Label unification on the real datasets: proposals, review commands, audit log, the snapshot gate."""

from __future__ import annotations

import json

import pytest
from clihelp import run_cli

from lensforge.catalog.events import list_events
from lensforge.curate.labels import native_table, propose
from lensforge.curate.mappings import effective_mapping, review
from lensforge.errors import LensforgeError


def test_ct22_zero_one_become_checkworthiness_names(real_ws_copy):
    for ref in ("ar/CT22Checkworthiness@2022", "en/CT22Checkworthiness@2022"):
        rev = review(real_ws_copy, ref)
        mapping = {m["raw_label"]: m["canonical"] for m in rev["mappings"]}
        assert mapping == {"0": "not-checkworthy", "1": "checkworthy"}
        reasons = {m["raw_label"]: m["reason"] for m in rev["mappings"]}
        assert "registry decoding '1' -> 'check-worthy'" in reasons["1"]
        assert all(m["status"] == "proposed" and m["author"] == "auto" for m in rev["mappings"])
        assert set(rev["after"]) == {"checkworthy", "not-checkworthy"}
        assert sum(rev["after"].values()) == sum(rev["before"].values())


def test_arsarcasm_v1_and_v2_spellings_unify(real_ws_copy):
    v1 = review(real_ws_copy, "ArSarcasm@v1")
    v2 = review(real_ws_copy, "ArSarcasm-v2")
    m1 = {m["raw_label"]: m["canonical"] for m in v1["mappings"]}
    m2 = {m["raw_label"]: m["canonical"] for m in v2["mappings"]}
    assert m1 == {"True": "sarcastic", "False": "not-sarcastic"}
    assert m2 == {"TRUE": "sarcastic", "FALSE": "not-sarcastic"}
    assert set(v1["after"]) == set(v2["after"]) == {"sarcastic", "not-sarcastic"}
    # The impact preview counts every kept row per source label and split.
    per = {r["raw_label"]: r for r in v2["per_label"]}
    assert per["TRUE"]["rows"] == v2["after"]["sarcastic"]
    assert per["TRUE"]["train"] + per["TRUE"]["dev"] + per["TRUE"]["test"] == per["TRUE"]["rows"]


def test_native_arabic_and_hindi_labels_map_to_english():
    table = native_table()
    ar = propose("جدير بالتحقق", task="Checkworthiness Detection", decoding={}, native=table)
    assert ar.canonical == "checkworthy" and "native (ar)" in ar.reason
    hi = propose("नफरत", task="Hate Speech Detection", decoding={}, native=table)
    assert hi.canonical == "hate-speech" and "native (hi)" in hi.reason
    hi2 = propose("फर्जी", task="Factuality Detection", decoding={}, native=table)
    assert hi2.canonical == "false"


def test_workspace_file_extends_the_native_table(tmp_path):
    extra = tmp_path / "native_labels.yaml"
    extra.write_text("ar:\n  ساخرة: sarcastic\n", encoding="utf-8")
    table = native_table(extra)
    assert propose("ساخرة", task="Sarcasm Detection", decoding={}, native=table).canonical == "sarcastic"
    assert propose("ساخرة", task="Sarcasm Detection", decoding={}, native=native_table()).canonical == "ساخرة"


def test_multilabel_atoms_and_other_real_sets(real_ws_copy):
    hostility = review(real_ws_copy, "hi/Hindi-Hostility-Detection-CONSTRAINT-2021")
    raws = {m["raw_label"] for m in hostility["mappings"]}
    assert raws == {"defamation", "fake", "hate", "offensive", "non-hostile"}  # atoms, not combinations
    hasoc = {m["raw_label"]: m["canonical"] for m in review(real_ws_copy, "HASOC2019")["mappings"]}
    assert hasoc == {"HOF": "offensive", "NOT": "not-offensive"}
    davidson = {m["raw_label"]: m["canonical"] for m in review(real_ws_copy, "DavidsonHateOffensive")["mappings"]}
    assert davidson == {"0": "hate-speech", "1": "offensive-speech", "2": "neither"}


def test_review_commands_write_the_audit_log(real_ws_copy, capsys):
    ws = real_ws_copy
    root = str(ws.root)
    res = run_cli(capsys, "-w", root, "labels", "review", "ArSarcasm@v1", "--json")
    assert res.code == 0 and res.json()["pending"] == 2
    before = list_events(ws, subject="ar/ArSarcasm@v1", limit=100).height
    res = run_cli(capsys, "-w", root, "--user", "amal", "labels", "approve", "ArSarcasm@v1", "True")
    assert res.code == 0, res.err
    res = run_cli(
        capsys,
        "-w",
        root,
        "--user",
        "amal",
        "labels",
        "set",
        "ArSarcasm@v1",
        "False",
        "not-sarcastic",
        "--reason",
        "checked 20 rows",
    )
    assert res.code == 0, res.err
    events = list_events(ws, subject="ar/ArSarcasm@v1", limit=100)
    assert events.height == before + 2
    assert events["kind"].to_list()[:2] == ["labels.set", "labels.approve"]
    assert events["actor"].to_list()[:2] == ["amal", "amal"]
    payload = json.loads(events["payload"][0])
    assert payload["changes"][0]["to"] == {"canonical": "not-sarcastic", "status": "approved"}
    rev = review(ws, "ArSarcasm@v1")
    assert rev["pending"] == 0
    assert {m["raw_label"]: m["author"] for m in rev["mappings"]} == {"True": "amal", "False": "amal"}
    log = run_cli(capsys, "-w", root, "labels", "log", "ArSarcasm@v1", "--json").json()
    assert [e["kind"] for e in log][:2] == ["labels.set", "labels.approve"]


def test_bad_review_input_changes_nothing(real_ws_copy, capsys):
    root = str(real_ws_copy.root)
    run_cli(capsys, "-w", root, "labels", "review", "HASOC2019")
    before = list_events(real_ws_copy, limit=1000).height
    bad = [
        (["labels", "set", "HASOC2019", "HOF", "nasty", "--reason", "r"], "not in the canonical label set"),
        (["labels", "approve", "HASOC2019", "MAYBE"], "no source label 'MAYBE'"),
        (["labels", "approve", "HASOC2019"], "--all-auto"),
        (["labels", "approve", "HASOC2019", "--all-auto"], "needs a reason"),
        (["labels", "reject", "HASOC2019", "HOF"], "needs a reason"),
        (["labels", "review", "NoSuchSet"], "no dataset named"),
    ]
    for args, message in bad:
        res = run_cli(capsys, "-w", root, *args)
        assert res.code == 1, args
        assert message in res.err, (args, res.err)
    assert list_events(real_ws_copy, limit=1000).height == before
    # --new-label extends the task's set and is recorded.
    res = run_cli(
        capsys,
        "-w",
        root,
        "labels",
        "set",
        "HASOC2019",
        "HOF",
        "hostile",
        "--reason",
        "HASOC merges hate and offence",
        "--new-label",
    )
    assert res.code == 0, res.err
    assert {m["raw_label"]: m["canonical"] for m in review(real_ws_copy, "HASOC2019")["mappings"]}["HOF"] == "hostile"


def test_the_gate_refuses_unreviewed_mappings_unless_allowed(real_ws_copy):
    with pytest.raises(LensforgeError, match="not reviewed"):
        effective_mapping(real_ws_copy, "ar/CT25Subjectivity@2025", allow_proposed=False)
    eff = effective_mapping(real_ws_copy, "ar/CT25Subjectivity@2025", allow_proposed=True, actor="t", used_by="test")
    assert sorted(eff.proposed_used) == ["OBJ", "SUBJ"]
    assert list_events(real_ws_copy, kind="labels.allow_proposed").height == 1
    # Rejecting a label leaves its rows out and changes the mapping version.
    from lensforge.curate.mappings import approve, reject

    approve(real_ws_copy, "ar/CT25Subjectivity@2025", ["OBJ"], actor="t")
    reject(real_ws_copy, "ar/CT25Subjectivity@2025", "SUBJ", actor="t", reason="test")
    final = effective_mapping(real_ws_copy, "ar/CT25Subjectivity@2025")
    assert final.mapping == {"OBJ": "objective", "SUBJ": None}
    assert final.mapping_version_id != eff.mapping_version_id
    rev = review(real_ws_copy, "ar/CT25Subjectivity@2025")
    assert [u["raw_label"] for u in rev["unmapped"]] == ["SUBJ"]


def test_a_synced_version_is_not_read_again_and_a_lost_row_is_refused_then_repaired(real_ws_copy, monkeypatch):
    """Once a version has its mapping rows, the gate does not re-read its Parquet files for the label set; a row
    lost from the catalog (edited by hand) is refused by curation, not read as a rejection, and review restores it."""
    import lensforge.curate.mappings as mappings
    from lensforge.catalog.db import transaction
    from lensforge.curate.mixture import MixturePlan, curate_dataset, resolve_plan

    ref = "HASOC2019"
    first = review(real_ws_copy, ref)  # the first look proposes every label
    assert {m["raw_label"] for m in first["mappings"]} == {"HOF", "NOT"}
    mappings.approve(real_ws_copy, ref, [], actor="t", all_auto=True, reason="test")
    reads = []
    real_source_labels = mappings.source_labels
    monkeypatch.setattr(mappings, "source_labels", lambda *a, **k: reads.append(a[1]) or real_source_labels(*a, **k))
    eff = effective_mapping(real_ws_copy, ref)
    assert eff.mapping == {"HOF": "offensive", "NOT": "not-offensive"} and reads == []

    with transaction(real_ws_copy) as con:
        con.execute("DELETE FROM label_mappings WHERE dataset_id = ? AND raw_label = 'NOT'", [first["dataset_id"]])
    planned = resolve_plan(real_ws_copy, MixturePlan.model_validate({"name": "t", "datasets": [{"ref": ref}]}))[0]
    with pytest.raises(LensforgeError, match=r"1 source label\(s\) have no mapping row \(NOT\)") as err:
        curate_dataset(real_ws_copy, planned, seed=1, allow_proposed=False, actor="t", used_by="t", record=True)
    assert "labels review" in err.value.hint
    repaired = review(real_ws_copy, ref)  # counts the labels, so the missing row comes back as a proposal
    assert {m["raw_label"]: m["status"] for m in repaired["mappings"]} == {"HOF": "approved", "NOT": "proposed"}
    assert len(reads) == 1  # review read the labels once (it counted them and synced with the same read)
    with pytest.raises(LensforgeError, match="not reviewed"):  # the restored row is a proposal: the gate holds
        effective_mapping(real_ws_copy, ref)
    mappings.approve(real_ws_copy, ref, ["NOT"], actor="t")
    cur = curate_dataset(real_ws_copy, planned, seed=1, allow_proposed=False, actor="t", used_by="t", record=True)
    assert cur.rejected_rows == 0 and cur.rows.height == sum(repaired["before"].values())


def test_map_labels_refuses_multilabel_atoms_without_a_row_and_keeps_rejections_as_nulls(real_workspace):
    import polars as pl

    from lensforge.catalog.db import connect
    from lensforge.curate.mappings import current_of, map_labels

    with connect(real_workspace[0], read_only=True) as con:
        _did, _version, entry = current_of(con, "hi/Hindi-Hostility-Detection-CONSTRAINT-2021")
    assert entry.task_type == "multilabel" and entry.ingest.labels.multilabel_separator == ","
    rows = pl.DataFrame({"label_raw": ["hate, offensive", "non-hostile", None, "fake,"]})
    mapped = map_labels(rows, entry, {"hate": "hate", "offensive": None, "non-hostile": "not-hostile", "fake": "fake"})
    assert mapped["canonical"].to_list() == [["hate"], ["not-hostile"], None, ["fake"]]
    with pytest.raises(LensforgeError, match=r"hi/Hindi-Hostility.*: 1 source label\(s\) have no mapping row \(fake\)"):
        map_labels(rows, entry, {"hate": "hate", "offensive": None, "non-hostile": "not-hostile"})


def test_equal_mappings_of_two_datasets_are_two_mapping_versions(real_ws_copy):
    """CheckThat 2025 ar and en map SUBJ/OBJ alike; each dataset's approval is its own mapping version."""
    from lensforge.catalog.db import connect
    from lensforge.curate.mappings import approve

    refs = ("ar/CT25Subjectivity@2025", "en/CT25Subjectivity@2025")
    for ref in refs:
        approve(real_ws_copy, ref, ["OBJ", "SUBJ"], actor="t")
    effective = [effective_mapping(real_ws_copy, ref) for ref in refs]
    assert effective[0].mapping == effective[1].mapping
    assert effective[0].mapping_version_id != effective[1].mapping_version_id
    with connect(real_ws_copy, read_only=True) as con:
        for eff in effective:
            # The recorded row names the dataset that approved it, and the migration's SQL gives the same id.
            row = con.execute(
                "SELECT dataset_id, version_id,"
                " 'm' || left(sha256(version_id || chr(10) || CAST(mapping AS VARCHAR)), 15)"
                " FROM mapping_versions WHERE mapping_version_id = ?",
                [eff.mapping_version_id],
            ).fetchall()
            assert row == [(eff.dataset_id, eff.version_id, eff.mapping_version_id)]


def test_a_new_version_carries_over_decisions(ws, capsys, tmp_path):
    from test_ingest_inputs import TWEETS, _entry, _ingest, _tsv, _write

    src = tmp_path / "src"
    _write(src, "carry", "train.tsv", _tsv(TWEETS * 4))
    entry = _entry("Carry", "tsv", [{"split": "train", "path": "train.tsv"}], quoting=False)
    entry["task"] = "Claim Detection"
    _ingest(ws, src, entry)
    from lensforge.curate.mappings import approve, set_label

    approve(ws, "Carry", ["yes"], actor="amal")
    set_label(ws, "Carry", "no", "not-claim", actor="amal", reason="checked")
    _write(src, "carry", "train.tsv", _tsv(TWEETS * 4 + [("Officials confirm the bridge reopens next week", "yes")]))
    _ingest(ws, src, entry)
    rev = review(ws, "Carry")
    assert rev["pending"] == 0
    assert all(m["reason"].startswith("carried over from") for m in rev["mappings"])
