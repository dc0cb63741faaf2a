"""Likely label errors: planted flips rank far above chance, every real dataset can be scanned, and a
curator's answers to the suggestions are row decisions in the audit log."""

from __future__ import annotations

import random

import polars as pl
import pytest
from clihelp import run_cli

from lensforge.catalog.events import list_events
from lensforge.curate.classical import out_of_fold_probabilities
from lensforge.curate.decisions import record_row_decisions
from lensforge.curate.label_issues import SOURCE, find_label_issues, label_issue_review, latest_scan, rank_label_issues
from lensforge.errors import LensforgeError
from lensforge.ingest.versions import current_version

CT25_EN = "en/CT25Subjectivity@2025"
REAL = (
    "ar/ArSarcasm-v2@v2",
    "ar/ArSarcasm@v1",
    "ar/CT22Checkworthiness@2022",
    "ar/CT25Subjectivity@2025",
    "en/CT22Checkworthiness@2022",
    "en/CT25Subjectivity@2025",
    "en/DavidsonHateOffensive@2017",
    "hi/HASOC2019@2019",
    "hi/Hindi-Hostility-Detection-CONSTRAINT-2021",
)

# Three topics written the way short news posts are: each has its own words, all share filler words.
TOPICS = {
    "sport": "match goal team coach league striker stadium season win score final player".split(),
    "economy": "market inflation bank prices budget tax growth shares investors rate trade export".split(),
    "health": "hospital vaccine doctors patients virus clinic disease treatment nurses medicine care ward".split(),
}
FILLER = "today said the new after people city report latest week local officials news this".split()


def _synthetic(rows: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(rows):
        label = list(TOPICS)[i % len(TOPICS)]
        words = rng.sample(TOPICS[label], 4) + rng.sample(FILLER, 6)
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def test_planted_flips_rank_far_above_chance():
    texts, labels = _synthetic(600, seed=1)
    rng = random.Random(7)
    flipped = set(rng.sample(range(len(labels)), k=30))  # a known 5% of the rows
    noisy = [rng.choice([c for c in TOPICS if c != lab]) if i in flipped else lab for i, lab in enumerate(labels)]
    probs, classes, folds = out_of_fold_probabilities(texts, noisy, folds=5, seed=0)
    assert folds == 5 and classes == sorted(TOPICS)
    ranking = rank_label_issues(probs, classes, noisy)
    top = set(ranking.head(len(flipped))["row"].to_list())
    precision_at_k = len(top & flipped) / len(flipped)
    assert precision_at_k >= 0.8  # chance is 0.05
    flagged = ranking.filter(pl.col("is_issue"))
    assert len(set(flagged["row"].to_list()) & flipped) >= 27  # recall of the flagged rows
    # The suggestion of a flipped row is its true label, with confidence.
    for row in flagged.filter(pl.col("row").is_in(list(flipped))).iter_rows(named=True):
        assert row["suggested"] == labels[row["row"]] and row["confidence"] > 0.5


def test_planted_flips_in_label_sets_rank_above_chance():
    texts, labels = _synthetic(600, seed=2)
    sets = [[lab] for lab in labels]
    rng = random.Random(3)
    flipped = set(rng.sample(range(len(sets)), k=30))
    noisy = [[rng.choice([c for c in TOPICS if c != s[0]])] if i in flipped else s for i, s in enumerate(sets)]
    probs, classes, _ = out_of_fold_probabilities(texts, noisy, multilabel=True, folds=5, seed=0)
    ranking = rank_label_issues(probs, classes, noisy, multilabel=True)
    top = set(ranking.head(len(flipped))["row"].to_list())
    assert len(top & flipped) / len(flipped) >= 0.6  # chance is 0.05


def test_the_cli_scans_a_real_dataset_and_stores_the_suggestions_per_version(real_ws_copy, capsys):
    ws = real_ws_copy
    res = run_cli(capsys, "-w", str(ws.root), "quality", "label-issues", CT25_EN, "--limit", "5", "--json")
    assert res.code == 0, res.err
    out = res.json()
    version = current_version(ws, CT25_EN)
    assert out["version_id"] == version["version_id"] and out["rows_scanned"] > 1000
    assert 0 < out["issues"] < out["rows_scanned"] and len(out["suggestions"]) == 5
    first = out["suggestions"][0]
    assert first["rank"] == 1 and first["given"] != first["suggested"]
    assert {first["given"], first["suggested"]} == {"objective", "subjective"}  # the canonical vocabulary
    assert 0.5 < first["confidence"] <= 1 and first["text"]
    assert [s["quality"] for s in out["suggestions"]] == sorted(s["quality"] for s in out["suggestions"])
    scan = latest_scan(ws, CT25_EN)
    assert scan["scan_id"] == out["scan_id"] and scan["version_id"] == version["version_id"]
    assert (ws.root / scan["path"]).is_file() and scan["path"].startswith(version["path"])
    assert pl.read_parquet(ws.root / scan["path"]).height == out["issues"]
    assert list_events(ws, kind="quality.label_issues")["subject"].to_list() == [CT25_EN]
    plain = run_cli(capsys, "-w", str(ws.root), "quality", "label-issues", CT25_EN, "--limit", "3")
    assert "likely label errors among" in plain.out and "the 3 most likely label errors" in plain.out


def test_a_curators_answers_are_row_decisions_in_the_audit_log(real_ws_copy):
    ws = real_ws_copy
    scan = find_label_issues(ws, CT25_EN, actor="tester", folds=3)
    top = scan["suggestions"].head(3).to_dicts()
    relabel, exclude, dismiss = top
    record_row_decisions(
        ws, CT25_EN, [relabel["sample_id"]], action="relabel", label=relabel["suggested"],
        reason="reads as the suggestion", actor="curator", source=SOURCE,
    )  # fmt: skip
    record_row_decisions(
        ws, CT25_EN, [exclude["sample_id"]], action="exclude", reason="ambiguous sentence", actor="curator",
        source=SOURCE,
    )  # fmt: skip
    record_row_decisions(
        ws, CT25_EN, [dismiss["sample_id"]], action="dismiss", reason="label is right", actor="curator", source=SOURCE
    )
    review = label_issue_review(ws, CT25_EN)
    decided = {r["sample_id"]: r for r in review["suggestions"].iter_rows(named=True) if r["decision"]}
    assert {d["decision"] for d in decided.values()} == {"relabel", "exclude", "dismiss"}
    assert decided[relabel["sample_id"]]["decided_label"] == relabel["suggested"]
    assert decided[exclude["sample_id"]]["decision_reason"] == "ambiguous sentence"
    assert review["suggestions"].filter(pl.col("decision").is_null()).height == scan["issues"] - 3
    events = list_events(ws, subject=CT25_EN, limit=20).filter(pl.col("kind").str.starts_with("rows."))
    assert sorted(events["kind"].to_list()) == ["rows.dismiss", "rows.exclude", "rows.relabel"]
    assert all(f'"source": "{SOURCE}"' in p for p in events["payload"]) and set(events["actor"]) == {"curator"}
    # The next scan checks the labels a snapshot would use: the excluded row is gone, the relabeled one
    # carries its new label.
    again = find_label_issues(ws, CT25_EN, actor="tester", folds=3)
    assert again["rows_scanned"] == scan["rows_scanned"] - 1
    assert exclude["sample_id"] not in again["suggestions"]["sample_id"].to_list()
    moved = again["suggestions"].filter(pl.col("sample_id") == relabel["sample_id"])
    assert moved.is_empty() or moved["given"][0] == relabel["suggested"]


@pytest.mark.slow(seconds=44)
def test_every_real_dataset_can_be_scanned(real_ws_copy):
    for did in REAL:
        res = find_label_issues(real_ws_copy, did, actor="tester", folds=2)
        assert res["rows_scanned"] > 500 and 0 < res["issues"] < res["rows_scanned"] / 2, (did, res["issues"])
        suggestions = res["suggestions"]
        assert suggestions.filter(pl.col("given") == pl.col("suggested")).is_empty(), did
        assert suggestions["text"].null_count() == 0 and suggestions["confidence"].is_between(0, 1).all(), did


def test_a_summarisation_dataset_has_no_label_to_check(demo_ws):
    with pytest.raises(LensforgeError, match="generation task: only labelled rows can carry a wrong label"):
        find_label_issues(demo_ws, "en/DemoNewsSummaries@1", actor="tester")
