"""The Scores page with its context (majority, classical baseline, SOTA with citation, per class, confusion
matrix, one unit for unparseable answers) and the Label issues review page, driven headless (AppTest)."""

from __future__ import annotations

import shutil

import polars as pl
import pytest
from app_fixtures import open_page, shown, use

from lensforge.catalog.datasets import import_sota
from lensforge.catalog.events import list_events
from lensforge.catalog.registry import SotaRow
from lensforge.catalog.spec import Sota
from lensforge.curate.label_issues import SOURCE, label_issue_review
from lensforge.evaluate.api import run_baseline
from lensforge.workspace import resolve_workspace

SARCASM = "ar/DemoSarcasm@1"
CT25_EN = "en/CT25Subjectivity@2025"
CITATION = "Abu Farha et al. 2021 (demo stand-in)"


@pytest.fixture
def scored_ws(eval_workspace, tmp_path):
    """The evaluated demo workspace plus a classical baseline and a cited SOTA for the sarcasm set."""
    ws, sid, (base_id, tuned_id) = eval_workspace
    shutil.copytree(ws.root, tmp_path / "ws")
    ws = resolve_workspace(tmp_path / "ws")
    classical = run_baseline(ws, sid, actor="fixture")["eval_id"]
    sota = Sota(metric="F-score of the sarcastic class", value=0.62, citation=CITATION, split="test", confidence="high")
    import_sota(ws, [SotaRow(SARCASM, sota, "sota.csv:2")], actor="fixture", source="sota.csv")
    return ws, base_id, tuned_id, classical


def test_scores_show_majority_classical_models_and_cited_sota_side_by_side(scored_ws, monkeypatch):
    ws, _base_id, _tuned_id, classical = scored_ws
    use(monkeypatch, ws)
    at = open_page("scores")
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="sc_c").value == classical  # the newest classical baseline of the snapshot
    main = pl.from_pandas(at.dataframe[0].value)
    for col in ("majority baseline", "classical baseline", "base", "fine-tuned", "SOTA", "vs SOTA"):
        assert col in main.columns, col
    assert (
        main.columns.index("majority baseline") < main.columns.index("classical baseline") < main.columns.index("base")
    )
    sarcasm = main.filter(pl.col("dataset_id") == SARCASM).row(0, named=True)
    assert sarcasm["metric"] == "f1:sarcastic" and sarcasm["SOTA"] == pytest.approx(0.62)
    assert sarcasm["vs SOTA"].startswith(("+", "-")) and sarcasm["classical baseline"] > sarcasm["majority baseline"]
    # Unparseable answers: one unit (percent of the test rows) in every table.
    assert main["unparseable (base)"].str.ends_with("%").all()
    per_language = pl.from_pandas(at.dataframe[1].value)
    assert per_language["unparseable (base)"].str.ends_with("%").all()
    text = shown(at)
    assert CITATION in text and "split: test; confidence: high" in text
    # Per class and the confusion matrix of the chosen dataset and evaluation (unparseable answers last).
    per_class = pl.from_pandas(at.dataframe[2].value)
    assert {"label", "precision", "recall", "f1", "support", "predicted"} <= set(per_class.columns)
    # Each class with the label chain the snapshot was built with: source → decoded → canonical.
    assert per_class.columns[:2] == ["label", "source → decoded → canonical"]
    for label, chains in per_class.select("label", "source → decoded → canonical").iter_rows():
        assert chains and all(c.count(" → ") == 2 and c.endswith(f" → {label}") for c in chains.split("; "))
    confusion = pl.from_pandas(at.dataframe[3].value)
    assert confusion.columns[0] == "gold" and confusion.columns[-1] == "(unparseable)"
    assert confusion.select(pl.exclude("gold")).sum_horizontal().sum() == per_class["support"].sum()
    # The base model's confusion matrix shows its unparseable answers (it answers "I am not sure." 3 times in 4).
    at.selectbox(key="sc_class_eval").set_value("base").run()
    assert pl.from_pandas(at.dataframe[3].value)["(unparseable)"].sum() > 0
    # Without a classical baseline, its column goes.
    at.selectbox(key="sc_c").set_value("(none)").run()
    assert "classical baseline" not in at.dataframe[0].value.columns


def test_label_issues_page_scans_and_records_a_curators_decision(real_ws_copy, monkeypatch):
    ws = real_ws_copy
    use(monkeypatch, ws)
    at = open_page("label_issues")
    assert "has not been scanned yet" in shown(at)
    at.selectbox(key="li_dataset").set_value(CT25_EN).run()
    at.number_input(key="li_folds").set_value(3).run()
    at.button(key="li_scan").click().run()
    assert not at.exception, [e.value for e in at.exception]
    text = shown(at)
    assert "likely label errors among" in text and "waiting for a decision" in text
    listed = pl.from_pandas(at.dataframe[0].value)
    assert listed["rank"].to_list()[:3] == [1, 2, 3] and (listed["given"] != listed["suggested"]).all()
    top = listed.row(0, named=True)
    # Confirm the first suggestion: a relabel row decision with the reason, recorded under the reviewer's name.
    at.radio(key=f"li_action_{CT25_EN}").set_value("relabel").run()
    at.text_input(key=f"li_reason_{CT25_EN}_{top['sample_id']}").input("the sentence states an opinion").run()
    at.button(key=f"li_decide_{CT25_EN}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert f"relabel → {top['suggested']} on row #1" in shown(at)
    event = list_events(ws, subject=CT25_EN, kind="rows.relabel").row(0, named=True)
    assert event["actor"] == "tester" and f'"source": "{SOURCE}"' in event["payload"]
    assert top["sample_id"] in event["payload"] and "the sentence states an opinion" in event["payload"]
    review = label_issue_review(ws, CT25_EN)["suggestions"]
    decided = review.filter(pl.col("sample_id") == top["sample_id"]).row(0, named=True)
    assert decided["decision"] == "relabel" and decided["decided_label"] == top["suggested"]
    # The waiting list no longer holds it; the next row's reason starts empty, and without one the decision is
    # refused on the page.
    assert top["sample_id"] not in at.dataframe[0].value["sample_id"].to_list()
    at.radio(key=f"li_action_{CT25_EN}").set_value("dismiss").run()
    at.button(key=f"li_decide_{CT25_EN}").click().run()
    assert any("needs a reason" in e.value for e in at.error)
