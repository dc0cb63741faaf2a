"""`lensforge pipeline` on the embedded demo corpus: every stage that exists runs, end to end."""

from __future__ import annotations

import json

import pytest
from clihelp import run_cli

from lensforge.ingest.versions import current_version, load_quarantine


@pytest.mark.slow(seconds=360)
def test_pipeline_runs_on_the_demo_corpus(ws, capsys, monkeypatch):
    # API keys exported on a machine without network: `--provider offline` keeps the pipeline off the providers.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-a-real-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-not-a-real-key")
    res = run_cli(capsys, "-w", str(ws.root), "pipeline", "--provider", "offline", "--json")
    assert res.code == 0, res.err
    out = res.json()
    ingest = out["stages"]["ingest"]
    assert len(ingest) == 7
    assert all(v["valid"] for v in ingest.values()), ingest
    assert out["stages"]["catalog"]["by_collection"]["demo"] == 7
    # Planted dirt is found: texts under three letters, conflicting duplicates, a train/test overlap.
    sarcasm = load_quarantine(ws, current_version(ws, "ar/DemoSarcasm@1"))
    reasons = dict(sarcasm.group_by("reason").len().iter_rows())
    assert reasons["too_short"] == 4 and reasons["label_conflict"] == 4 and reasons["leak_test_in_train"] == 1
    # Label spelling variants (Check-worthy / check_worthy) are duplicates, not conflicts.
    check = load_quarantine(ws, current_version(ws, "en/DemoCheckworthy@1"))
    conflicts = check.filter(check["reason"] == "label_conflict")
    assert conflicts.height == 2
    folded = {lab.lower().replace("-", "").replace("_", "") for lab in conflicts["label"]}
    assert folded == {"checkworthy", "notcheckworthy"}
    # The train-only set was re-split 70/20/10 and recorded so.
    assert current_version(ws, "en/DemoCheckworthy@1")["split_method"] == "resplit_70_20_10"
    # Curation: every demo mapping approved, with the reason on record; the mixture plan was computed.
    from lensforge.catalog.events import list_events
    from lensforge.curate.mappings import review

    for did in ingest:
        if did != "en/DemoNewsSummaries@1":
            assert review(ws, did)["pending"] == 0, did
    approvals = list_events(ws, kind="labels.approve", limit=100)
    assert approvals.height == 6
    assert all("automatic proposals accepted" in p for p in approvals["payload"])
    plan = out["stages"]["curate"]["plan"]
    assert plan["totals"]["train"] == sum(v["kept"]["train"] for v in ingest.values())
    hate = out["stages"]["curate"]["mappings"]["hi/DemoHateSpeech@1"]["labels"]
    assert set(hate) == {"hate-speech", "offensive", "not-hate-speech"}  # native नफरत / अपमानजनक merged in
    # Instructions, snapshot, fine-tuning, evaluation and report ran.
    assert out["stages"]["instructions"]["providers"] == [{"name": "offline", "model": "lensforge-offline-1"}]
    snap = out["stages"]["snapshot"]
    assert snap["rows"]["train"] == plan["totals"]["train"]
    run = out["stages"]["finetune"]
    assert run["status"] == "finished" and run["steps"] > 0
    # Learning happened: on every classification test set the fine-tuned tiny model beats both its base and
    # the majority-class baseline on macro-F1.
    report = json.loads((ws.root / "reports" / "demo" / "report.json").read_text(encoding="utf-8"))
    classification = [d for d in report["datasets"] if d["metric"] == "macro_f1"]
    assert len(classification) == 6
    for d in classification:
        base, tuned = d["values"]["base"], d["values"]["fine-tuned"]
        assert tuned > base, d
        assert tuned > d["majority_baseline"], d
        # The classical baseline (TF-IDF + logistic regression) is a column of its own, above the floor.
        assert d["classical_baseline"] > d["majority_baseline"], d
    assert report["columns"] == ["classical baseline", "base", "fine-tuned"]
    assert out["stages"]["evaluate"]["classical"] == report["evals"][0]
    summaries = next(d for d in report["datasets"] if d["metric"] == "rouge2")
    assert summaries["values"]["fine-tuned"] >= summaries["values"]["base"]
    assert (ws.root / "reports" / "demo" / "report.html").is_file()
    assert json.dumps(out)  # serialisable
    # Every event names who ran the pipeline ($LENSFORGE_USER), none "auto" or "unknown".
    assert set(list_events(ws, limit=10_000)["actor"]) == {"tester"}
