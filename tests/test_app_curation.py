"""The curator's workflow in the app (AppTest) on the real datasets: queue, examples, row decisions, restore,
mixture editor, snapshot rows, and the small traps of issue 14."""

from __future__ import annotations

import json
import urllib.parse

import polars as pl
from app_fixtures import open_page, shown, use

from lensforge.app import queries
from lensforge.catalog.events import list_events
from lensforge.curate.decisions import list_row_decisions
from lensforge.curate.mappings import approve, review
from lensforge.curate.mixture import list_mixtures, load_plan
from lensforge.ingest.versions import current_version

CT22 = "en/CT22Checkworthiness@2022"
DAVIDSON = "en/DavidsonHateOffensive@2017"
HOSTILITY = "hi/Hindi-Hostility-Detection-CONSTRAINT-2021"


def _links(at) -> list[tuple[str, dict[str, str]]]:
    return [(p.proto.page, dict(urllib.parse.parse_qsl(p.proto.query_string))) for p in at.get("page_link")]


def test_the_queue_lists_the_work_and_links_each_item_to_its_page(real_ws_copy, monkeypatch):
    use(monkeypatch, real_ws_copy)
    at = open_page("queue")
    queue = at.dataframe[0].value
    assert len(queue) == 18 and set(queue["kind"]) == {"labels", "instructions"}
    item = next(i for i, r in enumerate(queue.to_dict("records")) if r["dataset_id"] == CT22 and r["kind"] == "labels")
    at.selectbox(key="q_item").set_value(item).run()
    assert "lensforge labels review" in shown(at)
    assert _links(at)[-1] == ("labels", {"dataset": CT22})
    # The link opens Label review on that dataset.
    at.query_params["dataset"] = CT22
    at.switch_page("views/labels.py").run()
    assert not at.exception and at.selectbox(key="lbl_dataset").value == CT22


def test_label_review_shows_the_chain_and_example_rows_linked_to_samples(real_ws_copy, monkeypatch):
    use(monkeypatch, real_ws_copy)
    at = open_page("labels")
    at.selectbox(key="lbl_dataset").select(DAVIDSON).run()
    assert not at.exception and not at.error
    chains = at.dataframe[0].value["source → decoded → canonical"].to_list()
    assert "2 → neither → neither (proposed)" in chains
    assert (
        sum(("`" in c.value and "· train" in c.value) or "· test" in c.value or "· dev" in c.value for c in at.caption)
        >= 9
    )
    assert ("samples", {"dataset": DAVIDSON, "label": "2"}) in _links(at)
    # Approving every proposal without a reason says so on the page, in the page's words.
    at.button(key="lbl_approve_all").click().run()
    assert any("Give a reason above" in e.value for e in at.error) and not any("--" in e.value for e in at.error)
    assert list_events(real_ws_copy, kind="labels.approve").is_empty()
    # The Set form opens on each source label's own mapping (Hostility: `defamation`, not the first label).
    at.selectbox(key="lbl_dataset").select(HOSTILITY).run()
    at.selectbox(key="lbl_set_raw").select("defamation").run()
    assert at.selectbox(key=f"lbl_set_canon_{HOSTILITY}_defamation").value == "defamation"
    at.selectbox(key="lbl_set_raw").select("hate").run()
    assert at.selectbox(key=f"lbl_set_canon_{HOSTILITY}_hate").value == "hate-speech"


def test_samples_opened_from_a_link_relabel_one_row_exclude_another(real_ws_copy, monkeypatch):
    use(monkeypatch, real_ws_copy)
    review(real_ws_copy, CT22)
    at = open_page("samples")
    at.query_params.update({"dataset": CT22, "label": "not-checkworthy"})
    at.run()
    assert at.multiselect(key="smp_datasets").value == [CT22]
    assert "**2,270** matching samples" in shown(at)
    rows = at.dataframe[0].value
    assert set(rows["source → decoded → canonical"]) == {"0 → not-check-worthy → not-checkworthy"}
    a, b = rows["sample_id"][0], rows["sample_id"][1]
    at.text_input(key="actor").input("alice")
    at.multiselect(key="smp_pick").select(a).run()
    at.radio(key="smp_action").set_value("relabel").run()
    at.selectbox(key=f"smp_label_{CT22}").select("checkworthy")
    at.text_input(key="smp_reason").input("names a vaccine figure").run()
    assert "This touches **1** row(s)" in shown(at)
    at.button(key="smp_do_decide").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    at.multiselect(key="smp_pick_1").set_value([b]).run()  # a fresh, empty pick after each action
    at.radio(key="smp_action").set_value("exclude")
    at.text_input(key="smp_reason").input("an advert")
    at.button(key="smp_do_decide").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    decided = list_row_decisions(real_ws_copy, CT22)
    assert dict(zip(decided["sample_id"], decided["action"], strict=True)) == {a: "relabel", b: "exclude"}
    assert set(decided["actor"]) == {"alice"} and set(decided["source"]) == {"samples"}
    shown_rows = at.dataframe[0].value.set_index("sample_id")
    assert shown_rows.loc[a, "decision"] == "relabel → checkworthy" and shown_rows.loc[b, "decision"] == "exclude"
    # The full-text view marks the search words.
    at.text_input(key="smp_text").input("vaccine").run()
    assert any("<mark>vaccine</mark>" in h.proto.body.lower() for h in at.get("html"))
    # Bulk: every matching row, with the count before the click.
    at.radio(key="smp_scope").set_value("every row matching the filter").run()
    at.radio(key="smp_action").set_value("dismiss").run()
    assert not at.exception
    total = int(shown(at).split("**")[1].replace(",", ""))
    assert f"This touches **{total:,}** row(s)" in shown(at)
    assert list_events(real_ws_copy, kind="rows.dismiss").is_empty()


def test_a_quarantined_unlabelled_row_is_restored_from_data_quality(real_ws_copy, monkeypatch):
    use(monkeypatch, real_ws_copy)
    review(real_ws_copy, CT22)
    at = open_page("quality")
    at.query_params["dataset"] = CT22
    at.run()
    assert at.selectbox(key="dq_dataset").value == CT22
    at.multiselect(key="dq_reason").select("unlabelled").run()
    quarantine = next(df.value for df in at.dataframe if "source → decoded → canonical" in df.value.columns)
    sid = quarantine["sample_id"][0]
    at.multiselect(key="dq_restore_rows").select(sid).run()
    at.selectbox(key=f"dq_restore_label_{CT22}").select("checkworthy")
    at.text_input(key="dq_restore_reason").input("read the tweet: a claim")
    at.button(key="dq_do_restore").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (row,) = list_row_decisions(real_ws_copy, CT22).to_dicts()
    assert (row["sample_id"], row["origin"], row["source"]) == (sid, "quarantine:unlabelled", "quarantine")
    assert "1** relabel" in shown(at)  # the Row decisions tab


def test_mixture_editor_saves_plans_and_builds_then_snapshot_rows_show_the_answer(real_ws_copy, monkeypatch):
    from lensforge.curate.decisions import record_row_decisions
    from lensforge.instruct.generate import generate_for, make_providers

    ws = real_ws_copy
    use(monkeypatch, ws)
    for did in (CT22, DAVIDSON):
        review(ws, did)
        approve(ws, did, [], actor="t", all_auto=True, reason="checked")
        generate_for(ws, did, providers=make_providers(["offline"]), languages="en")
    train = pl.read_parquet(ws.root / current_version(ws, CT22)["path"] / "train.parquet")
    sid = train.filter(pl.col("label_raw") == "0")["sample_id"][0]
    record_row_decisions(ws, CT22, [sid], action="relabel", label="checkworthy", reason="a claim", actor="t")

    at = open_page("mixtures")
    assert at.selectbox(key="mix_pick").value == "(new mixture)"  # no demo mixture on a real workspace
    assert not any("demo" in o for o in at.selectbox(key="mix_pick").options)
    at.text_input(key="mix_(new mixture)_name").input("english checks")
    at.multiselect(key="mix_(new mixture)_datasets").set_value([CT22, DAVIDSON])
    at.number_input(key="mix_(new mixture)_train").set_value(3000)
    at.selectbox(key="mix_(new mixture)_order").select("task")
    at.button(key="mix_do_save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (path,) = list_mixtures(ws)
    assert path == ws.root / "mixtures" / "english-checks.toml"
    plan = load_plan(path)
    assert (plan.order, plan.caps.train, [d.ref for d in plan.datasets]) == ("task", 3000, [CT22, DAVIDSON])
    assert at.selectbox(key="mix_pick").value == "english checks"

    at.button(key="mix_do_plan").click().run()
    assert not at.exception and not at.error
    per_dataset = at.dataframe[-4].value
    assert list(per_dataset["dataset"]) == [CT22, DAVIDSON] and list(per_dataset["train"]) == [2120, 3000]
    assert per_dataset.set_index("dataset").loc[CT22, "relabeled rows"] == 1
    totals = at.dataframe[-1].value.set_index("")
    assert totals.loc["rows", "train"] == 5120

    at.button(key="mix_do_build").click().run(timeout=300)
    assert not at.exception and not at.error, [e.value for e in at.error]
    built = at.session_state["mix_built"]
    event = list_events(ws, kind="snapshot.build")
    assert event["subject"][0] == built and json.loads(event["payload"][0])["order"] == "task"
    assert ("snapshot_rows", {"snapshot": built}) in _links(at)

    at.query_params["snapshot"] = built
    at.switch_page("views/snapshot_rows.py").run()
    assert not at.exception and at.selectbox(key="sr_snapshot").value == built
    at.text_input(key="sr_id").input(sid).run()
    (row,) = at.dataframe[0].value.to_dict("records")
    assert row["answer"] == "checkworthy"
    assert any(">Label: checkworthy<" in h.proto.body for h in at.get("html"))  # the assistant turn, in full


def test_small_traps(real_ws_copy, monkeypatch):
    use(monkeypatch, real_ws_copy)
    at = open_page("overview")
    stages = next(df.value for df in at.dataframe if "stage" in df.value.columns)
    assert not any("pipeline" in str(n) for n in stages["next"])  # a real workspace is not sent to the demo
    assert "unicode-bidi: plaintext" in at.get("html")[0].proto.body  # Arabic / Hindi edit boxes lay out RTL
    assert queries.run_phase({}, "") == "starting"
    assert queries.run_phase({}, "loading tiny\ntokenising 1,234 rows\n") == "tokenising 1,234 rows"
    assert queries.run_phase({"phase": "tokenising"}, "x\n") == "tokenising · x"
