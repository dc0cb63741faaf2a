"""Ingest all nine real datasets in place from ../shared/data and check the facts their SOURCE.md gives."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import polars as pl
import pytest
from clihelp import run_cli

from lensforge.catalog.db import connect
from lensforge.ingest.normalise import text_key_expr
from lensforge.ingest.versions import current_version, latest_report, load_quarantine, load_rows, validation_results
from lensforge.workspace import resolve_workspace

REAL = [
    "ar/ArSarcasm@v1",
    "ar/ArSarcasm-v2@v2",
    "ar/CT22Checkworthiness@2022",
    "en/CT22Checkworthiness@2022",
    "ar/CT25Subjectivity@2025",
    "en/CT25Subjectivity@2025",
    "en/DavidsonHateOffensive@2017",
    "hi/Hindi-Hostility-Detection-CONSTRAINT-2021",
    "hi/HASOC2019@2019",
]


@pytest.fixture
def ingested(real_workspace):
    return real_workspace


def _count_records(path: Path, tsv: bool) -> int:
    with path.open(encoding="utf-8", newline="") as fh:
        if tsv:
            rows = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
        else:
            rows = list(csv.reader(fh))
    return len(rows) - 1


def test_all_nine_ingest_with_accounting_invariant(ingested):
    ws, result = ingested
    done = {o["dataset_id"]: o for o in result["ingested"]}
    assert set(done) == set(REAL)
    with connect(ws, read_only=True) as con:
        rows = con.execute(
            "SELECT dataset_id, records_read, kept_train + kept_dev + kept_test, quarantined, valid, raw_files "
            "FROM ingested_versions WHERE is_current"
        ).fetchall()
    assert len(rows) == 9
    for did, read, kept, quarantined, valid, raw in rows:
        assert read == kept + quarantined, did
        assert valid, did
        # Issue 10: every file's records read equal the count its registry entry declares.
        for f in json.loads(raw):
            assert f["expected_records"] is not None and f["records"] == f["expected_records"], (did, f["path"])
        q = load_quarantine(ws, current_version(ws, did))
        assert q.height == quarantined
        assert q["reason"].null_count() == 0 and q["source_line"].null_count() == 0


def test_records_read_match_source_counts(ingested, shared_data):
    ws, _ = ingested
    expected = {
        "ar/ArSarcasm-v2@v2": 12548 + 3000,
        "ar/ArSarcasm@v1": 8437 + 2110,
        "ar/CT22Checkworthiness@2022": 2513 + 235 + 691 + 682,
        "en/CT22Checkworthiness@2022": 2122 + 195 + 574 + 149,
        "ar/CT25Subjectivity@2025": 2446 + 467 + 748,
        "en/CT25Subjectivity@2025": 830 + 462 + 484,
        "en/DavidsonHateOffensive@2017": 24783,
        "hi/Hindi-Hostility-Detection-CONSTRAINT-2021": 5728 + 811 + 1653,
        "hi/HASOC2019@2019": 4665 + 1318,
    }
    for did, n in expected.items():
        v = current_version(ws, did)
        assert v["records_read"] == n, did
        for f in v["raw_files"]:
            assert len(f["sha256"]) == 64 and f["bytes"] > 0
    # Cross-check one file against an independent count.
    v = current_version(ws, "hi/HASOC2019@2019")
    per_file = {f["path"]: f["records"] for f in v["raw_files"]}
    assert per_file["hindi_dataset.tsv"] == _count_records(shared_data / "hasoc2019_hindi/hindi_dataset.tsv", tsv=True)


def test_ct25_english_dev_rows_lacking_only_an_unused_column_are_kept(ingested):
    # Issue 10 item 8: dev_en.tsv has a 4-column header and 243 rows (physical lines 221-463) with 3 fields;
    # they lack only `solved_conflict`, which nothing uses. They were quarantined as ragged; now they are kept.
    ws, _ = ingested
    v = current_version(ws, "en/CT25Subjectivity@2025")
    q = load_quarantine(ws, v)
    assert q.filter(pl.col("reason") == "ragged_row").height == 0
    dev = load_rows(ws, v, ("dev",))
    assert dev.height == 462  # SOURCE.md: no duplicate and no overlap in dev
    short = dev.filter(pl.col("source_line") >= 221)
    assert short.height == 243 and short["source_line"].max() == 463
    assert dict(dev.group_by("label").len().iter_rows()) == {"SUBJ": 240, "OBJ": 222}  # SOURCE.md, all 462 rows
    files = {f["path"]: f for f in v["raw_files"]}
    assert files["dev_en.tsv"]["records"] == files["dev_en.tsv"]["expected_records"] == 462


def test_ct22_arabic_conflicts_leaks_and_unlabelled_test(ingested, shared_data):
    ws, _ = ingested
    v = current_version(ws, "ar/CT22Checkworthiness@2022")
    q = load_quarantine(ws, v)
    reasons = dict(q.group_by("reason").len().iter_rows())
    assert reasons["unlabelled"] == 682  # the official test file ships without labels
    assert reasons["label_conflict"] >= 28  # 14 tweet ids carry both labels in train
    assert reasons["leak_test_in_train"] >= 130  # 130 train tweets reappear in the official test file
    conflicts = q.filter(pl.col("reason") == "label_conflict")
    per_key = conflicts.group_by("split", "text_key").agg(pl.col("label").n_unique())
    assert (per_key["label"] >= 2).all()
    # No kept train/dev text appears in any test file (labelled dev_test or unlabelled test).
    test_texts = pl.concat(
        [
            pl.read_csv(shared_data / "ct22_checkworthy_ar" / name, separator="\t", quote_char=None)
            for name in ("CT22_arabic_1A_checkworthy_test.tsv",)
        ],
        how="diagonal",
    ).select(text_key_expr("tweet_text").alias("k"))
    kept = load_rows(ws, v, ("train", "dev"))
    import html

    unescaped = test_texts.with_columns(pl.col("k").map_elements(html.unescape, return_dtype=pl.String))
    assert kept.join(unescaped.rename({"k": "text_key"}), on="text_key").height == 0
    # 0/1 were decoded to the names the registry gives.
    assert set(load_rows(ws, v)["label"].unique()) == {"check-worthy", "not-check-worthy"}


def test_arsarcasm_v1_sits_inside_v2_train(ingested):
    ws, _ = ingested
    report = latest_report(ws, "cross_dataset_overlap")
    assert report is not None
    rows = [
        r
        for r in report["summary"]["pairs"]
        if {r["a_dataset"], r["b_dataset"]} == {"ar/ArSarcasm@v1", "ar/ArSarcasm-v2@v2"}
    ]
    assert rows
    v1_in_v2_train = {}
    for r in rows:
        v1_side = "b" if r["b_dataset"] == "ar/ArSarcasm@v1" else "a"
        v2_side = "a" if v1_side == "b" else "b"
        # v2's dev was carved from its official train file; v2's test shares nothing with v1.
        assert r[f"{v2_side}_split"] in ("train", "dev")
        v1_in_v2_train.setdefault(r[f"{v1_side}_split"], 0)
        v1_in_v2_train[r[f"{v1_side}_split"]] += r["shared_texts"]
        total_key = f"{v1_side}_unique_texts"
        v1_in_v2_train[r[f"{v1_side}_split"] + "_total"] = r[total_key]
    for split in ("train", "test"):
        assert v1_in_v2_train[split] / v1_in_v2_train[split + "_total"] > 0.99, v1_in_v2_train
    disagreements = sum(r["label_disagreements"] for r in rows)
    assert 15 <= disagreements <= 40  # SOURCE.md: 23 shared tweets carry different sarcasm labels


def test_constraint_multilabel_labels(ingested):
    ws, _ = ingested
    rows = load_rows(ws, current_version(ws, "hi/Hindi-Hostility-Detection-CONSTRAINT-2021"))
    assert rows.schema["label"] == pl.List(pl.String)
    atoms = set(rows["label"].explode().unique())
    assert atoms == {"non-hostile", "fake", "hate", "offensive", "defamation"}
    train = rows.filter(pl.col("split") == "train")
    combo = train.filter(pl.col("label").list.len() == 3)
    assert combo.height > 50  # e.g. defamation,fake,offensive
    fake = train.filter(pl.col("label").list.contains("fake")).height
    assert 1100 <= fake <= 1144  # 1,144 in the raw train file, a few dropped as duplicates or leaks
    assert not rows["text"].str.contains("\n").any()  # multi-line posts collapsed


def test_davidson_integer_labels_decoded_and_resplit(ingested):
    ws, _ = ingested
    v = current_version(ws, "en/DavidsonHateOffensive@2017")
    rows = load_rows(ws, v)
    assert set(rows["label_raw"].unique()) == {"0", "1", "2"}
    pairs = dict(rows.select("label_raw", "label").unique().iter_rows())
    assert pairs == {"0": "hate speech", "1": "offensive language", "2": "neither"}
    assert not rows["text"].str.contains("&amp;").any()
    assert v["split_method"] == "resplit_70_20_10"
    sizes = rows.group_by("split").len()
    share = {s: n / rows.height for s, n in sizes.iter_rows()}
    assert abs(share["train"] - 0.7) < 0.01 and abs(share["test"] - 0.2) < 0.01 and abs(share["dev"] - 0.1) < 0.01
    whole = rows["label"].value_counts(normalize=True)
    for split in ("train", "dev", "test"):
        part = rows.filter(pl.col("split") == split)["label"].value_counts(normalize=True)
        joined = whole.join(part, on="label")
        assert (joined["proportion"] - joined["proportion_right"]).abs().max() < 0.01


def test_every_version_has_stored_validation_results(ingested):
    ws, _ = ingested
    for did in REAL:
        v = current_version(ws, did)
        res = validation_results(ws, v["version_id"])
        assert res.height >= 8, did
        assert res["success"].all(), did
        names = set(res["expectation"])
        assert "expect_column_values_to_be_unique" in names and "expect_column_values_to_be_in_set" in names


def test_reingest_is_a_noop_and_sample_ids_are_stable(ingested, capsys, shared_data, tmp_path):
    ws, _ = ingested
    before = current_version(ws, "en/CT22Checkworthiness@2022")
    res = run_cli(
        capsys, "-w", str(ws.root), "ingest", "en/CT22Checkworthiness@2022", "--sources", str(shared_data), "--json"
    )
    assert res.code == 0, res.err
    outcome = res.json()["ingested"][0]
    assert outcome["status"] == "unchanged" and outcome["version_id"] == before["version_id"]
    # A second workspace reproduces the same version id and the same sample ids.
    other = resolve_workspace(tmp_path / "other")
    res = run_cli(
        capsys, "-w", str(other.root), "ingest", "en/CT22Checkworthiness@2022", "--sources", str(shared_data), "--json"
    )
    assert res.json()["ingested"][0]["version_id"] == before["version_id"]
    a = load_rows(ws, before).sort("sample_id")["sample_id"]
    b = load_rows(other, current_version(other, "en/CT22Checkworthiness@2022")).sort("sample_id")["sample_id"]
    assert a.to_list() == b.to_list()


def test_ingest_report_cli(ingested, capsys):
    ws, _ = ingested
    res = run_cli(capsys, "-w", str(ws.root), "ingest", "report", "ArSarcasm@v1", "--json")
    assert res.code == 0, res.err
    rep = res.json()
    assert rep["accounting"]["records_read"] == 10547
    assert any(r["reason"] == "leak_test_in_train" for r in rep["leakage"])
    assert rep["overlaps"]
    text = run_cli(capsys, "-w", str(ws.root), "ingest", "report", "ArSarcasm@v1").out
    assert "leak_test_in_train" in text and "expect_column_values_to_be_unique" in text
    # Issue 11: the per-step table, from the catalog; issue 10: physical lines vs records per file.
    steps = rep["steps"]
    names = [s["step"] for s in steps]
    assert names[0] == "read" and names[-2:] == ["validate", "write"] and "exact_dedup" in names
    assert steps[0]["rows_in"] == 10547
    for s in steps:
        assert s["rows_in"] == s["rows_out"] + sum(s["dropped"].values()), s["step"]
    assert {s["step"]: s["dropped"] for s in steps}["leakage"]["leak_test_in_train"] > 0
    assert "steps (rows through each step)" in text and "exact_dedup" in text
    files = {f["path"]: f for f in rep["files"]}
    assert files["ArSarcasm_test.csv"]["records"] == files["ArSarcasm_test.csv"]["declared"] == 2110
    assert files["ArSarcasm_test.csv"]["physical_lines"] >= 2110
    # `ingest report` is a real sub-command; `ingest run NAME` is what `ingest NAME` runs.
    assert "report" in run_cli(capsys, "-w", str(ws.root), "ingest", "--help").out
    assert run_cli(capsys, "-w", str(ws.root), "ingest", "report").code == 2  # NAME is required


def test_near_duplicate_reports_within_and_across_datasets(real_ws_copy, capsys, shared_data):
    root = str(real_ws_copy.root)
    res = run_cli(
        capsys,
        "-w",
        root,
        "ingest",
        "ArSarcasm@v1",
        "ArSarcasm-v2",
        "--sources",
        str(shared_data),
        "--near-dup",
        "--json",
    )
    assert res.code == 0, res.err
    out = res.json()
    # Report only: the versions are the ones already ingested (near-dup reporting does not change the data).
    assert {o["status"] for o in out["ingested"]} == {"unchanged"}
    near = out["near_duplicates"]
    assert near and near["pairs"] > 1000  # v1's tweets sit inside v2: many light-edit pairs across the two
    report = latest_report(real_ws_copy, "near_duplicates")
    assert report["params"]["shingle"] == "word" and report["params"]["num_perm"] == 128
    from lensforge.ingest.overlap import report_pairs

    pairs = report_pairs(real_ws_copy, report)
    assert set(pairs["kind"]) == {"cross_dataset"}
    assert (pairs["similarity"] >= report["params"]["threshold"]).all()
    assert pairs["a_text"].null_count() == 0 and pairs["b_text"].null_count() == 0


def test_drop_near_dup_removes_train_rows_that_nearly_repeat_a_held_out_row(ws, capsys, tmp_path):
    from test_ingest_inputs import TWEETS, _entry, _write

    rows = [f"{i}\t{t} number {i} in the series of reports\t{lab}" for i, (t, lab) in enumerate(TWEETS * 6)]
    train = "id\ttext\tlabel\n" + "\n".join(rows) + "\n"
    # The test file repeats two train tweets with one word changed.
    test = (
        "id\ttext\tlabel\n"
        + "\n".join(
            [
                f"900\t{TWEETS[0][0]} number 0 in the series of new reports\t{TWEETS[0][1]}",
                f"901\t{TWEETS[1][0]} number 1 in the series of new reports\t{TWEETS[1][1]}",
                "902\tA completely different sentence about the weather in the mountains today\tno",
            ]
        )
        + "\n"
    )
    src = tmp_path / "src"
    _write(src, "nearset", "train.tsv", train)
    _write(src, "nearset", "test.tsv", test)
    entry = _entry(
        "NearSet",
        "tsv",
        [{"split": "train", "path": "train.tsv"}, {"split": "test", "path": "test.tsv"}],
        quoting=False,
    )
    from test_ingest_inputs import _register

    from lensforge.ingest.run import IngestParams, ingest_dataset

    e = _register(ws, entry)
    reported = ingest_dataset(ws, e, sources=src, params=IngestParams(near_dup=True), actor="t")
    assert reported.near_duplicates >= 2 and "near_duplicate" not in reported.dropped
    dropped = ingest_dataset(ws, e, sources=src, params=IngestParams(drop_near_dup=True), actor="t")
    assert dropped.version_id != reported.version_id
    assert dropped.dropped["near_duplicate"] >= 2
    q = load_quarantine(ws, current_version(ws, "en/NearSet@1"))
    gone = q.filter(pl.col("reason") == "near_duplicate")
    assert set(gone["split"]) == {"train"} and gone["detail"].str.contains("held-out").all()
    assert dropped.kept["test"] == 3  # the held-out split is never touched


def test_overlap_report_from_remembered_key_hashes_equals_one_read_from_the_files(tmp_path, capsys, shared_data):
    # Issue 11: ingest remembers the key hashes of each version it writes, so the overlap report right after
    # reads no text key twice. The report must be the one a cold read of every file gives (v1 sits in v2).
    from lensforge.ingest import overlap

    overlap._KEY_HASHES.clear()
    res = run_cli(capsys, "-w", str(tmp_path / "ws"), "ingest", "ar/ArSarcasm@v1", "ar/ArSarcasm-v2@v2",
                  "--sources", str(shared_data), "--json")  # fmt: skip
    assert res.code == 0, res.err
    ws = resolve_workspace(tmp_path / "ws")
    versions = overlap.current_versions(ws)
    assert len(versions) == 2 and all(overlap._remembered(v["version_id"]) is not None for v in versions)
    warm_summary, warm_pairs = overlap.cross_dataset_overlap(ws, versions)
    overlap._KEY_HASHES.clear()
    cold_summary, cold_pairs = overlap.cross_dataset_overlap(ws, versions)
    assert warm_pairs.height > 10_000  # v1's tweets (and their quarantined duplicates) found in v2
    assert warm_summary.equals(cold_summary) and warm_pairs.equals(cold_pairs)
    # What was remembered is every distinct key of the version's files, kept and quarantined.
    v1 = next(v for v in versions if v["dataset_id"] == "ar/ArSarcasm@v1")
    overlap.remember_key_hashes("probe", [load_rows(ws, v1), load_quarantine(ws, v1)])
    files = pl.concat([load_rows(ws, v1).select("text_key"), load_quarantine(ws, v1).select("text_key")])
    assert overlap._remembered("probe").len() == files["text_key"].drop_nulls().n_unique()


def test_remembered_key_hashes_are_bounded_oldest_first(monkeypatch):
    from lensforge.ingest import overlap

    monkeypatch.setattr(overlap, "_KEY_HASHES", overlap.OrderedDict())
    monkeypatch.setattr(overlap, "_KEY_HASHES_MAX", 25)
    for name, n in (("a", 10), ("b", 10), ("c", 10)):
        overlap.remember_key_hashes(name, [pl.DataFrame({"text_key": [f"{name} {i}" for i in range(n)]})])
    assert overlap._remembered("a") is None and overlap._remembered("b").len() == overlap._remembered("c").len() == 10
    overlap.remember_key_hashes("big", [pl.DataFrame({"text_key": [f"big {i}" for i in range(40)]})])
    assert list(overlap._KEY_HASHES) == ["big"]  # alone over the bound, the newest is still kept
