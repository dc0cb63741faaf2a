"""The catalog CLI on the shipped registry: listing, inspecting, diffing, status changes, export."""

from __future__ import annotations

import csv
import json

from clihelp import run_cli

from lensforge.catalog.datasets import show_dataset
from lensforge.catalog.events import list_events


def test_init_creates_workspace_and_loads_registry(ws, capsys):
    res = run_cli(capsys, "-w", str(ws.root), "init", "--json")
    assert res.code == 0, res.err
    data = res.json()
    assert data["created"] is True
    assert (ws.root / "catalog.duckdb").is_file()
    for sub in ("datasets", "snapshots", "cache", "runs", "evals"):
        assert (ws.root / sub).is_dir()
    assert data["imported"]["llamalens"]["added"] >= 89
    again = run_cli(capsys, "-w", str(ws.root), "init", "--json").json()
    assert again["created"] is False
    assert again["imported"]["llamalens"]["added"] == 0
    assert again["imported"]["llamalens"]["unchanged"] == data["imported"]["llamalens"]["added"]


def test_any_command_creates_the_workspace_on_first_use(ws, capsys):
    assert not ws.root.exists()
    res = run_cli(capsys, "-w", str(ws.root), "catalog", "list", "--language", "hi", "--json")
    assert res.code == 0, res.err
    rows = res.json()
    assert rows and all(r["language"] == "hi" for r in rows)
    assert (ws.root / "catalog.duckdb").is_file()


def test_summary_reports_every_reference_row(ws, capsys, reference_csv):
    res = run_cli(capsys, "-w", str(ws.root), "catalog", "summary", "--json")
    assert res.code == 0, res.err
    summary = res.json()
    rows = list(csv.DictReader(reference_csv.open(encoding="utf-8")))
    assert summary["total"] >= len(rows)
    listed = run_cli(capsys, "-w", str(ws.root), "catalog", "list", "--json").json()
    keys = {(r["name"], r["language"], r["version"]) for r in listed}
    for row in rows:
        assert (row["name"], row["language"], row["version"] or None) in keys, row["name"]
    # Facts only: the reference's counts by language and final-52 membership come through unchanged.
    for lang in ("ar", "en", "hi"):
        expected = sum(1 for r in rows if r["language"] == lang)
        got = sum(1 for r in listed if r["language"] == lang and r["collection"] == "llamalens")
        assert got >= expected
    selected_in_csv = sum(1 for r in rows if r["in_final_52"] == "yes")
    assert summary["by_status"]["selected"] == selected_in_csv


def test_reference_facts_stay_as_given(ws, capsys):
    run_cli(capsys, "-w", str(ws.root), "init")
    asnd = show_dataset(ws, "ASND")
    assert asnd["published_train"] == 74496
    assert asnd["published_dev"] == 11136
    assert asnd["published_test"] == 21942
    assert asnd["license"] == "CC BY 4.0"
    assert asnd["source_spec"]["hub"] == {"repo": "QCRI/LlamaLens-Arabic", "config": "ASND", "revision": None}
    # Empty cells stay empty.
    claim = show_dataset(ws, "ans-claim")
    assert claim["published_train"] is None and claim["license"] is None and claim["sota_metric"] is None
    xlsum_hi = show_dataset(ws, "hi/xlsum")
    assert xlsum_hi["task_type"] == "generation"
    assert xlsum_hi["published_train"] == 70754


def test_ambiguous_and_unknown_names_give_one_line_errors(ws, capsys):
    res = run_cli(capsys, "-w", str(ws.root), "catalog", "show", "xlsum")
    assert res.code == 1
    assert "ambiguous" in res.err and "ar/xlsum" in res.err and "hi/xlsum" in res.err
    assert "Traceback" not in res.err
    assert len(res.err.strip().splitlines()) == 1
    res = run_cli(capsys, "-w", str(ws.root), "catalog", "show", "NoSuchDataset")
    assert res.code == 1 and "no dataset named 'NoSuchDataset'" in res.err
    ok = run_cli(capsys, "-w", str(ws.root), "catalog", "show", "en/xlsum", "--json")
    assert ok.code == 0 and ok.json()["dataset_id"] == "en/xlsum"


def test_diff_shows_arsarcasm_label_space_differences(ws, capsys):
    res = run_cli(capsys, "-w", str(ws.root), "catalog", "diff", "ArSarcasm@v1", "ArSarcasm-v2", "--json")
    assert res.code == 0, res.err
    d = res.json()
    assert d["a"] == "ar/ArSarcasm@v1" and d["b"] == "ar/ArSarcasm-v2@v2"
    fields = {f["field"]: f for f in d["fields"]}
    assert fields["version"]["a"] == "v1" and fields["version"]["b"] == "v2"
    assert fields["superseded_by"]["a"] == "ar/ArSarcasm-v2@v2"
    assert fields["status"]["a"] == "excluded" and fields["status"]["b"] == "selected"
    assert set(d["published_labels"]["only_in_a"]) == {"TRUE", "FALSE"}
    assert set(d["published_labels"]["only_in_b"]) == {"not-sarcastic", "sarcastic"}
    # The table form names the labels too.
    text = run_cli(capsys, "-w", str(ws.root), "catalog", "diff", "ArSarcasm@v1", "ArSarcasm-v2").out
    assert "not-sarcastic" in text and "superseded_by" in text


def test_select_and_exclude_write_one_event_each(ws, capsys):
    run_cli(capsys, "-w", str(ws.root), "init")
    before = list_events(ws, limit=1000).height
    res = run_cli(
        capsys, "-w", str(ws.root), "--user", "amal", "catalog", "exclude", "ar/xlsum", "--reason", "too long"
    )
    assert res.code == 0, res.err
    assert show_dataset(ws, "ar/xlsum")["status"] == "excluded"
    assert show_dataset(ws, "ar/xlsum")["exclusion_reason"] == "too long"
    res = run_cli(capsys, "-w", str(ws.root), "catalog", "select", "ar/xlsum")
    assert res.code == 0
    events = list_events(ws, subject="ar/xlsum")
    assert events.height == 2
    assert events["kind"].to_list() == ["catalog.select", "catalog.exclude"]
    assert events["actor"].to_list()[1] == "amal"
    assert json.loads(events["payload"][1])["reason"] == "too long"
    assert list_events(ws, limit=1000).height == before + 2


def test_exclude_without_reason_is_refused(ws, capsys):
    res = run_cli(capsys, "-w", str(ws.root), "catalog", "exclude", "ASND")
    assert res.code == 1 and "reason" in res.err
    assert show_dataset(ws, "ASND")["status"] == "selected"


def test_labels_and_export(ws, capsys, tmp_path):
    labels = run_cli(
        capsys, "-w", str(ws.root), "catalog", "labels", "hi/Hindi-Hostility-Detection-CONSTRAINT-2021", "--json"
    )
    assert labels.code == 0
    names = {r["label"] for r in labels.json()}
    # Published as comma-joined combinations; the label space holds the atomic labels.
    assert {"fake", "hate", "offensive", "defamation", "non-hostile"} <= names
    assert not any("," in n for n in names)
    out = tmp_path / "cat.csv"
    res = run_cli(capsys, "-w", str(ws.root), "catalog", "export", "--format", "csv", "-o", str(out))
    assert res.code == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    asnd = next(r for r in rows if r["dataset_id"] == "ar/ASND")
    assert asnd["published_train"] == "74496" and "sports" in asnd["label_space"].split("|")
    js = run_cli(capsys, "-w", str(ws.root), "catalog", "export", "--format", "json")
    assert len(json.loads(js.out)) == len(rows)
    bad = run_cli(capsys, "-w", str(ws.root), "catalog", "export", "--format", "xml")
    assert bad.code == 1 and "csv or json" in bad.err


def test_events_listing(ws, capsys):
    run_cli(capsys, "-w", str(ws.root), "init")
    res = run_cli(capsys, "-w", str(ws.root), "catalog", "events", "--json")
    kinds = [e["kind"] for e in res.json()]
    assert "workspace.init" in kinds and "catalog.import" in kinds
