"""Mixture plans: `curate plan` totals per language, task and dataset; bad plans are refused."""

from __future__ import annotations

import textwrap

from clihelp import run_cli


def _plan(tmp_path, text: str):
    path = tmp_path / "mix.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_plan_prints_totals_and_cap_effect(real_ws_copy, capsys, tmp_path):
    path = _plan(
        tmp_path,
        """
        name = "real-mix"
        seed = 42
        languages = ["ar", "en", "hi"]
        [caps]
        train = 2000
        [[datasets]]
        ref = "ArSarcasm-v2"
        [[datasets]]
        ref = "en/DavidsonHateOffensive@2017"
        train_cap = 5000
        [[datasets]]
        ref = "hi/HASOC2019@2019"
        """,
    )
    res = run_cli(capsys, "-w", str(real_ws_copy.root), "curate", "plan", str(path), "--json")
    assert res.code == 0, res.err
    plan = res.json()
    per = {d["dataset_id"]: d for d in plan["datasets"]}
    assert per["ar/ArSarcasm-v2@v2"]["after"]["train"] == 2000
    assert per["en/DavidsonHateOffensive@2017"]["after"]["train"] == 5000
    assert per["en/DavidsonHateOffensive@2017"]["removed_by_caps"]["train"] == 17143 - 5000
    assert per["hi/HASOC2019@2019"]["after"]["train"] == 2000
    # Dev and test are untouched without their own caps.
    assert per["ar/ArSarcasm-v2@v2"]["after"]["test"] == per["ar/ArSarcasm-v2@v2"]["before"]["test"]
    assert all(d["cap_max_deviation"] <= 0.01 for d in plan["datasets"])
    assert set(per["ar/ArSarcasm-v2@v2"]["labels_after"]) == {"sarcastic", "not-sarcastic"}
    langs = {r["language"]: r["train"] for r in plan["by_language"]}
    assert langs == {"ar": 2000, "en": 5000, "hi": 2000}
    assert plan["totals"]["train"] == 9000
    assert plan["pending_labels"] == 2 + 3 + 2  # nothing reviewed yet: shown, not refused
    text = run_cli(capsys, "-w", str(real_ws_copy.root), "curate", "plan", str(path)).out
    assert "per language" in text and "pending review" in text


def test_bad_plans_are_refused(real_ws_copy, capsys, tmp_path):
    cases = {
        'name = "x"\n[[datasets]]\nref = "NoSuchSet"\n': "no dataset named 'NoSuchSet'",
        'name = "x"\n[[datasets]]\nref = "ArSarcasm-v2"\nversion = "v000"\n': "no ingested version 'v000'",
        'name = "x"\n[[datasets]]\nref = "xlsum"\n': "ambiguous",
        'name = "x"\n[[datasets]]\nref = "ar/ASND"\n': "has not been ingested",
        'name = "x"\n[caps]\ntrain = -5\n[[datasets]]\nref = "ArSarcasm-v2"\n': "caps.train",
        'name = "x"\nseed = "abc"\n[[datasets]]\nref = "ArSarcasm-v2"\n': "seed",
        'name = "x"\n': "names no datasets",
        'name = "x"\n[[datasets]]\nreff = "ArSarcasm-v2"\n': "datasets.0",
        "name = \n": "not valid TOML",
    }
    for text, message in cases.items():
        res = run_cli(capsys, "-w", str(real_ws_copy.root), "curate", "plan", str(_plan(tmp_path, text)))
        assert res.code == 1, text
        assert message in res.err, (text, res.err)


def test_a_plan_and_a_review_each_open_the_catalog_once_with_the_same_results(demo_ws, monkeypatch):
    # The demo pipeline's curate stage took 12 s for seven small sets: `plan_summary` opened the catalog 44 times
    # (~3.5 s a plan), each `review` 4 times. Their reads now share one connection; the answers are unchanged.
    import contextlib

    import lensforge.catalog.db as db
    import lensforge.curate.mappings as mappings
    import lensforge.curate.mixture as mixture
    from lensforge.pipeline import demo_mixture_path

    plan = mixture.load_plan(demo_mixture_path())
    opened: list[bool] = []
    real_open = db._open
    monkeypatch.setattr(db, "_open", lambda path, ro, timeout: opened.append(ro) or real_open(path, ro, timeout))
    summary = mixture.plan_summary(demo_ws, plan)
    assert opened == [True]
    opened.clear()
    rev = mappings.review(demo_ws, "hi/DemoHateSpeech@1")
    assert opened == [True]
    assert summary["totals"]["train"] > 0 and rev["pending"] == 0
    assert set(rev["after"]) == {"hate-speech", "offensive", "not-hate-speech"}
    # Each read through a connection of its own, as before: the same answers.
    for module in (mixture, mappings):
        monkeypatch.setattr(module, "reading", lambda ws: contextlib.nullcontext())
    opened.clear()
    assert mixture.plan_summary(demo_ws, plan) == summary and len(opened) > 10
    assert mappings.review(demo_ws, "hi/DemoHateSpeech@1") == rev
