"""The Streamlit curator app, driven headless with streamlit.testing (AppTest).

Each test opens the entry script (sidebar and navigation included) and switches to a page, so what
is tested is what a user gets. Actions go through the same stage functions as the CLI, so the checks
read the catalog through those functions too.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import polars as pl
import pytest
from app_fixtures import MAIN, PAGES, open_page, shown, use
from streamlit.testing.v1 import AppTest

from lensforge.app import queries
from lensforge.catalog.events import list_events
from lensforge.curate import samples
from lensforge.curate.mappings import review
from lensforge.release.snapshot import get_snapshot, list_snapshots, snapshot_dir
from lensforge.workspace import resolve_workspace

# ----------------------------------------------------------------------------- every page renders


DEMO_EXPECT = {
    "overview": "What each stage has produced",
    "queue": "item(s) over",
    "catalog": "Label space",
    "quality": "Row accounting",
    "samples": "matching samples",
    "labels": "Impact preview",
    "label_issues": "has not been scanned yet",
    "instructions": "No instructions yet",
    "mixtures": "Compose",
    "snapshots": "No snapshot built yet",
    "snapshot_rows": "No snapshot built yet",
    "training": "No snapshot to train on yet",
    "scores": "No evaluation yet",
}


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_the_demo_workspace(page, demo_ws, monkeypatch):
    use(monkeypatch, demo_ws)
    at = open_page(page)
    assert DEMO_EXPECT[page] in shown(at)
    assert not at.error, [e.value for e in at.error]
    if page == "overview":
        assert {m.label: m.value for m in at.metric}["Ingested"] == "7"
    if page == "quality":
        acc = at.dataframe[0].value
        assert len(acc) == 7 and acc["balanced"].all()
    if page == "samples":
        assert "**1,334** matching samples" in shown(at)
        assert len(at.dataframe[0].value) == 50
    if page == "labels":
        assert at.get("vega_lite_chart"), "the impact preview chart"


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_the_real_datasets(page, real_ws_copy, monkeypatch):
    use(monkeypatch, real_ws_copy)
    at = open_page(page)
    assert DEMO_EXPECT[page] in shown(at)  # nothing beyond ingest has run on either
    assert not at.error, [e.value for e in at.error]
    if page == "overview":
        assert {m.label: m.value for m in at.metric}["Ingested"] == "9"
    if page == "quality":
        assert len(at.dataframe[0].value) == 9
    if page == "samples":
        from lensforge.catalog.db import connect

        with connect(real_ws_copy, read_only=True) as con:
            kept = con.execute(
                "SELECT sum(kept_train + kept_dev + kept_test) FROM ingested_versions WHERE is_current"
            ).fetchall()[0][0]
        assert f"**{kept:,}** matching samples" in shown(at)  # every kept row of the nine sets
        assert len(at.dataframe[0].value) == 50


@pytest.mark.parametrize("page", ["snapshots", "training", "scores", "instructions"])
def test_later_pages_show_what_the_later_stages_wrote(page, eval_workspace, monkeypatch):
    ws, sid, (base_id, tuned_id) = eval_workspace
    use(monkeypatch, ws)
    at = open_page(page)
    assert not at.error, [e.value for e in at.error]
    text = shown(at)
    if page == "snapshots":
        assert sid in text and "lensforge-demo" in text
        assert "Not published yet." in text
    if page == "training":
        assert "No run yet." in text
        assert at.selectbox(key="trn_preset").value == "cpu-tiny"
    if page == "scores":
        assert at.selectbox(key="sc_a").value == base_id and at.selectbox(key="sc_b").value == tuned_id
        assert at.get("vega_lite_chart"), "per-dataset bars"
        cmp = at.dataframe[0].value
        assert (cmp["fine-tuned"] >= cmp["base"]).all()
        side = next(d.value for d in at.dataframe if "input" in d.value.columns)  # the per-sample table
        assert {"base", "fine-tuned", "gold", "input"} <= set(side.columns) and len(side) > 0
    if page == "instructions":
        assert len(at.dataframe) >= 2 and "Cost ledger" in text


@pytest.mark.parametrize("page", PAGES)
def test_pages_explain_what_to_run_on_an_empty_workspace(page, ws, monkeypatch):
    at = open_page(page)
    assert "lensforge init" in shown(at)
    assert not ws.catalog_path.exists(), "looking must not create a workspace"


@pytest.fixture(scope="module")
def registry_only(tmp_path_factory):
    from lensforge.catalog.setup import init_workspace

    ws = resolve_workspace(tmp_path_factory.mktemp("app_reg") / "ws")
    init_workspace(ws, actor="fixture", collections=("llamalens", "demo"))
    return ws


@pytest.mark.parametrize("page", PAGES)
def test_pages_explain_what_to_run_when_nothing_is_ingested(page, registry_only, monkeypatch):
    use(monkeypatch, registry_only)
    at = open_page(page)
    assert "No dataset ingested yet: run `lensforge ingest --all --sources DIR`" in shown(at)


# ----------------------------------------------------------------------------- the sample browser query


def test_sample_queries_match_a_plain_polars_filter(demo_ws):
    versions = samples.current_versions(demo_ws)
    sources = samples.sample_sources(demo_ws, versions)
    frame = pl.concat([pl.read_parquet(s.path) for s in sources], how="vertical_relaxed")
    cases = [
        (samples.SampleFilter(), pl.lit(True)),
        (
            samples.SampleFilter(languages=("hi",), splits=("test",)),
            (pl.col("language") == "hi") & (pl.col("split") == "test"),
        ),
        (samples.SampleFilter(labels=("positive", "hate")), pl.col("label").is_in(["positive", "hate"])),
        (samples.SampleFilter(text="the"), pl.col("text").str.to_lowercase().str.contains("the", literal=True)),
        (
            samples.SampleFilter(datasets=("en/DemoNewsSentiment@1",), labels=("negative",), text="rise"),
            (pl.col("dataset") == "en/DemoNewsSentiment@1")
            & (pl.col("label") == "negative")
            & pl.col("text").str.to_lowercase().str.contains("rise", literal=True),
        ),
    ]
    for flt, expr in cases:
        want = frame.filter(expr)
        first = samples.query_samples(sources, flt, limit=7, offset=0)
        assert first.total == want.height, flt
        assert first.rows["sample_id"].to_list() == want["sample_id"].head(7).to_list(), flt
        deep = samples.query_samples(sources, flt, limit=7, offset=max(0, want.height - 5))
        assert deep.rows["sample_id"].to_list() == want["sample_id"].tail(min(5, want.height)).to_list(), flt
        assert first.index_used == bool(flt.text)


def test_the_samples_page_filters_and_pages(demo_ws, monkeypatch):
    use(monkeypatch, demo_ws)
    at = open_page("samples")
    at.multiselect(key="smp_languages").select("ar")
    at.text_input(key="smp_text").input("ال")
    at.run()
    assert not at.exception
    rows = at.dataframe[0].value
    assert len(rows) > 0 and set(rows["language"]) == {"ar"}
    at.number_input(key="smp_page").set_value(2).run()
    assert not at.exception and at.number_input(key="smp_page").value == 2


def test_multilabel_rows_match_any_chosen_label(real_ws_copy):
    did = "hi/Hindi-Hostility-Detection-CONSTRAINT-2021"
    versions = samples.current_versions(real_ws_copy)
    sources = samples.sample_sources(real_ws_copy, versions)
    assert samples.label_options(sources, (did,)) == ["defamation", "fake", "hate", "non-hostile", "offensive"]
    frame = pl.concat([pl.read_parquet(s.path) for s in sources if s.dataset_id == did])
    for labels, text in ((("hate",), ""), (("fake", "defamation"), ""), (("hate",), "है")):
        flt = samples.SampleFilter(datasets=(did,), labels=labels, text=text)
        want = frame.filter(
            pl.col("label").list.eval(pl.element().is_in(list(labels))).list.any()
            & pl.col("text").str.to_lowercase().str.contains(text, literal=True)
        )
        page = samples.query_samples(sources, flt, limit=20)
        assert page.total == want.height > 0, flt
        assert page.rows["sample_id"].to_list() == want["sample_id"].head(20).to_list()
        assert all(any(lab in row.split(", ") for lab in labels) for row in page.rows["label"].to_list())


def test_quality_page_shows_the_overlap_of_two_releases_side_by_side(real_ws_copy, monkeypatch):
    use(monkeypatch, real_ws_copy)
    at = open_page("quality")
    overlap = next(df.value for df in at.dataframe if "shared_texts" in df.value.columns)
    assert {"ar/ArSarcasm-v2@v2", "ar/ArSarcasm@v1"} <= set(overlap["a_dataset"]) | set(overlap["b_dataset"])
    at.checkbox(key="dq_disagree").check().run()
    assert not at.exception
    a, b = at.text_area(key="dq_overlap_pick_a").value, at.text_area(key="dq_overlap_pick_b").value
    assert a and b  # the two releases' texts of one pair, next to each other
    assert "labels" in shown(at)


# ----------------------------------------------------------------------------- actions land in the catalog


def test_catalog_exclude_needs_a_reason_and_is_recorded(demo_ws, monkeypatch):
    use(monkeypatch, demo_ws)
    at = open_page("catalog")
    at.text_input(key="actor").input("alice")
    at.selectbox(key="cat_dataset").select("en/DemoCheckworthy@1")
    at.run()
    at.button(key="cat_do_exclude").click().run()
    assert not at.exception
    assert any("needs a reason" in e.value for e in at.error)
    at.text_input(key="cat_reason").input("too small for the mixture")
    at.button(key="cat_do_exclude").click().run()
    assert not at.exception and not at.error
    assert any("selected → excluded" in s.value for s in at.success)
    events = list_events(demo_ws, kind="catalog.exclude")
    assert events.height == 1 and events["subject"][0] == "en/DemoCheckworthy@1" and events["actor"][0] == "alice"


def test_approving_a_mapping_on_label_review_writes_one_audit_row(real_ws_copy, monkeypatch):
    use(monkeypatch, real_ws_copy)
    did = "ar/ArSarcasm-v2@v2"
    at = open_page("labels")
    at.text_input(key="actor").input("reviewer-1")
    at.selectbox(key="lbl_dataset").select(did)
    at.run()
    assert not at.exception
    before = review(real_ws_copy, did)
    assert before["pending"] > 0
    pending = [m["raw_label"] for m in before["mappings"] if m["status"] == "proposed"]
    assert at.multiselect(key="lbl_approve_raws").value == pending
    at.text_input(key="lbl_approve_reason").input("TRUE/FALSE spellings checked")
    at.button(key="lbl_approve").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    events = list_events(real_ws_copy, kind="labels.approve")
    assert events.height == 1
    assert events["subject"][0] == did and events["actor"][0] == "reviewer-1"
    after = review(real_ws_copy, did)
    assert after["pending"] == 0
    assert {m["raw_label"]: m["status"] for m in after["mappings"]} == dict.fromkeys(pending, "approved")
    log = at.dataframe[-1].value  # the audit log on the page shows it
    assert "labels.approve" in set(log["kind"])


def test_instructions_then_a_snapshot_from_the_pages(demo_ws, monkeypatch):
    use(monkeypatch, demo_ws)
    at = open_page("instructions")
    at.radio(key="ins_scope").set_value("every ingested dataset")
    at.button(key="ins_do_generate").click().run(timeout=300)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("instruction set(s)" in s.value for s in at.success)

    assert set(list_events(demo_ws, kind="instruct.generate", limit=100)["actor"]) == {"tester"}

    at.switch_page("views/mixtures.py").run()  # the demo workspace opens on the demo's built-in mixture
    assert not at.exception
    assert at.selectbox(key="mix_pick").value == "lensforge-demo (built-in)"
    at.button(key="mix_do_build").click().run(timeout=300)
    assert not at.exception and not at.error, [e.value for e in at.error]
    history = list_snapshots(demo_ws)
    assert history.height == 1
    sid = history["snapshot_id"][0]
    assert any(sid in s.value and "built" in s.value for s in at.success)
    assert at.session_state["mix_built"] == sid
    assert list_events(demo_ws, kind="snapshot.build")["actor"][0] == "tester"


def test_snapshot_rows_page_pages_through_a_split(snap_ws, monkeypatch):
    ws, sid = snap_ws
    use(monkeypatch, ws)
    at = open_page("snapshot_rows")
    assert at.selectbox(key="sr_snapshot").value == sid
    rows = at.dataframe[0].value
    assert len(rows) == 25 and {"instruction", "input", "answer"} <= set(rows.columns)
    at.radio(key="sr_split").set_value("test").run()
    at.multiselect(key="sr_datasets").select("ar/DemoSarcasm@1").run()
    test = at.dataframe[0].value
    assert set(test["dataset"]) == {"ar/DemoSarcasm@1"}
    assert "Answer" in shown(at) and not at.exception


def test_rebuilding_a_damaged_snapshot_says_repaired(snap_ws, monkeypatch):
    ws, sid = snap_ws
    use(monkeypatch, ws)
    damaged = snapshot_dir(ws, sid) / "data" / "test.parquet"
    damaged.chmod(0o644)
    damaged.write_bytes(b"not the file the manifest lists")
    at = open_page("mixtures")
    assert at.selectbox(key="mix_pick").value == "lensforge-demo (built-in)"
    at.button(key="mix_do_build").click().run(timeout=300)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state["mix_built"] == sid
    assert any(sid in s.value and "rebuilt (its files had changed)" in s.value for s in at.success)
    assert not any("unchanged" in s.value for s in at.success)


def test_publishing_without_hf_token_says_so(snap_ws, monkeypatch):
    ws, _sid = snap_ws
    use(monkeypatch, ws)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    at = open_page("snapshots")
    at.text_input(key="snap_repo").input("someone/lensforge-demo")
    at.button(key="snap_do_publish").click().run()
    assert not at.exception
    assert any("HF_TOKEN" in e.value for e in at.error)
    assert list_events(ws, kind="publish").height == 0


def test_export_to_a_folder_is_recorded(snap_ws, monkeypatch, tmp_path):
    ws, sid = snap_ws
    use(monkeypatch, ws)
    at = open_page("snapshots")
    at.text_input(key="snap_export_dir").input(str(tmp_path / "export"))
    at.button(key="snap_do_export").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert (tmp_path / "export" / "data" / "train.parquet").is_file()
    assert str(tmp_path / "export") in shown(at)  # the publication is listed
    pubs = get_snapshot(ws, sid)["publications"]
    assert [(p["kind"], p["target"], p["actor"]) for p in pubs] == [("dir", str(tmp_path / "export"), "tester")]


def test_disabling_an_instruction_is_recorded(snap_ws, monkeypatch):
    ws, _sid = snap_ws
    use(monkeypatch, ws)
    at = open_page("instructions")
    iid = at.selectbox(key="ins_pick").value
    at.button(key="ins_do_toggle").click().run()
    assert any("needs a --reason" in e.value for e in at.error)
    at.text_input(key=f"ins_reason_{iid}").input("names the wrong label")
    at.button(key="ins_do_toggle").click().run()
    assert not at.exception and not at.error
    events = list_events(ws, kind="instruct.disable")
    assert events.height == 1 and events["subject"][0] == iid


# ----------------------------------------------------------------------------- training


def _wait_finished(ws, run_id: str, timeout: float = 240) -> dict:
    from lensforge.finetune.api import get_run

    deadline = time.monotonic() + timeout
    while True:
        run = get_run(ws, run_id)
        if run["status"] != "running" or time.monotonic() > deadline:
            return run
        time.sleep(2)


@pytest.mark.slow(seconds=34)
def test_a_cpu_tiny_run_started_from_the_page_finishes_with_a_loss_curve(snap_ws, monkeypatch):
    ws, sid = snap_ws
    use(monkeypatch, ws)
    at = open_page("training")
    assert at.selectbox(key="trn_snapshot").value == sid
    at.text_input(key="trn_overrides").input("max_steps=5 logging_steps=1")
    at.button(key="trn_do_start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    run_id = at.session_state["trn_run"]
    assert any(run_id in s.value for s in at.success)
    assert list_events(ws, kind="finetune.start")["subject"][0] == run_id
    run = _wait_finished(ws, run_id)
    assert run["status"] == "finished", queries.log_tail(run["log_path"])
    assert [m["step"] for m in run["metrics"]] == [1, 2, 3, 4, 5]
    at.run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Status"] == "finished"
    assert at.get("vega_lite_chart"), "the loss curve"
    assert run_id in at.dataframe[0].value["run_id"].to_list()


def test_a_failing_training_process_is_shown_failed_with_its_error(snap_ws, monkeypatch):
    ws, sid = snap_ws
    use(monkeypatch, ws)
    at = open_page("training")
    at.text_input(key="trn_overrides").input("max_steps=5")
    at.button(key="trn_do_start").click().run()
    run_id = at.session_state["trn_run"]
    shutil.rmtree(snapshot_dir(ws, sid) / "data")  # the process finds its training data gone
    run = _wait_finished(ws, run_id)
    assert run["status"] == "failed" and run["error"]
    at.run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Status"] == "failed"
    assert any(f"Run {run_id} failed" in e.value for e in at.error)


def test_a_bad_override_is_an_error_on_the_page(snap_ws, monkeypatch):
    ws, _sid = snap_ws
    use(monkeypatch, ws)
    at = open_page("training")
    at.text_input(key="trn_overrides").input("max_stepz=5")
    at.button(key="trn_do_start").click().run()
    assert not at.exception
    assert any("max_stepz" in e.value for e in at.error)


# ----------------------------------------------------------------------------- beside the CLI


def test_a_locked_catalog_shows_busy_then_an_error_not_a_traceback(demo_ws, monkeypatch):
    use(monkeypatch, demo_ws)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(120)",
            str(demo_ws.catalog_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        at = AppTest.from_file(str(MAIN), default_timeout=60)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert any("Catalog busy, retrying" in w.value for w in at.warning)
        assert any("busy" in t.value.lower() for t in at.toast)
        assert any("is locked by another lensforge process" in e.value for e in at.error)
    finally:
        holder.kill()
        holder.wait()
    at.run()  # the lock is gone: the page is back
    assert not at.exception and not at.error
    assert {m.label: m.value for m in at.metric}["Ingested"] == "7"


def test_launch_runs_streamlit_on_localhost_with_the_workspace(monkeypatch, tmp_path):
    from lensforge.app import launch

    seen = {}

    class FakePopen:
        def __init__(self, cmd, env, **_options):  # e.g. preexec_fn (the child dies with the app)
            seen["cmd"], seen["env"] = cmd, env

        def wait(self):
            return 0

    monkeypatch.setattr(launch.subprocess, "Popen", FakePopen)
    assert launch.launch(resolve_workspace(tmp_path / "w"), port=8765) == 0
    cmd = seen["cmd"]
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4].endswith("lensforge/app/main.py")
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--server.port") + 1] == "8765"
    assert cmd[cmd.index("--server.headless") + 1] == "true"
    assert seen["env"]["LENSFORGE_HOME"] == str(tmp_path / "w")
    launch.launch(tmp_path / "w", user="alice")
    assert seen["env"]["LENSFORGE_USER"] == "alice"
    assert seen["cmd"][seen["cmd"].index("--server.port") + 1] == "8501"
