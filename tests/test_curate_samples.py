"""The rows behind every decision: one label vocabulary, `lensforge samples`, the review queue, `rows ...`."""

from __future__ import annotations

import polars as pl
from clihelp import run_cli

from lensforge.curate.mappings import chain_text, label_vocabulary, review
from lensforge.curate.samples import SampleFilter, label_examples, query_samples, sample_sources

CT22 = "en/CT22Checkworthiness@2022"
DAVIDSON = "en/DavidsonHateOffensive@2017"


def test_a_label_filters_by_any_of_its_three_names(real_ws_copy):
    ws = real_ws_copy
    before = label_vocabulary(ws, [CT22])[CT22]
    assert {k.raw for k in before.links} == {None}  # never opened for review: decoded names only, nothing written
    rev = review(ws, CT22)
    assert {m["chain"] for m in rev["mappings"]} == {
        "0 → not-check-worthy → not-checkworthy (proposed)",
        "1 → check-worthy → checkworthy (proposed)",
    }
    sources = sample_sources(ws)
    totals = {
        name: query_samples(sources, SampleFilter(datasets=(CT22,), labels=(name,)), limit=5)
        for name in ("0", "not-check-worthy", "not-checkworthy")
    }
    want = sum(r["rows"] for r in rev["per_label"] if r["raw_label"] == "0")
    assert {p.total for p in totals.values()} == {want}
    page = totals["not-checkworthy"]
    assert set(zip(page.rows["label_raw"], page.rows["label"], page.rows["canonical"], strict=True)) == {
        ("0", "not-check-worthy", "not-checkworthy")
    }
    # Text search takes the same label names.
    hits = query_samples(sources, SampleFilter(datasets=(CT22,), labels=("0",), text="vaccine"), limit=500)
    assert hits.total > 0 and set(hits.rows["label_raw"]) == {"0"}
    # Across datasets one canonical name picks each dataset's own source labels (Davidson's `2` is `neither`).
    review(ws, DAVIDSON)
    both = query_samples(sample_sources(ws), SampleFilter(labels=("neither",)), limit=3)
    assert both.total == sum(r["rows"] for r in review(ws, DAVIDSON)["per_label"] if r["raw_label"] == "2")
    assert set(both.rows["label_raw"]) == {"2"}


def test_chain_text_and_examples_are_stable(real_ws_copy):
    assert chain_text("2", "neither", "neither") == "2 → neither → neither"
    assert chain_text(None, "hate", None) == "– → hate → –"
    one = label_examples(real_ws_copy, DAVIDSON, per_label=3, seed=1)
    again = label_examples(real_ws_copy, DAVIDSON, per_label=3, seed=1)
    other = label_examples(real_ws_copy, DAVIDSON, per_label=3, seed=2)
    assert sorted(one) == ["0", "1", "2"] and all(len(v) == 3 for v in one.values())
    assert one == again and one != other
    assert {"sample_id", "split", "text"} <= set(one["0"][0])


def test_samples_command(real_ws_copy, capsys):
    w = ("-w", str(real_ws_copy.root))
    review(real_ws_copy, CT22)
    res = run_cli(capsys, *w, "samples", CT22, "--label", "not-checkworthy", "--split", "dev", "--limit", "4", "--json")
    assert res.code == 0, res.err
    data = res.json()
    assert data["total"] == 151 and len(data["rows"]) == 4
    row = data["rows"][0]
    assert row["chain"] == "0 → not-check-worthy → not-checkworthy" and row["split"] == "dev"
    assert row["decision"] is None and row["answer"] == "not-checkworthy"
    res = run_cli(capsys, *w, "samples", CT22, "--search", "vaccine", "--limit", "2", "--json")
    assert all("vaccine" in r["text"].lower() for r in res.json()["rows"])
    assert "matching rows" in run_cli(capsys, *w, "samples", CT22, "--limit", "2").out
    bad = run_cli(capsys, *w, "samples", "CT22Checkworthiness")
    assert bad.code == 1 and "ambiguous" in bad.err
    bad = run_cli(capsys, *w, "samples", CT22, "--split", "validation")
    assert bad.code == 1 and "unknown split 'validation'" in bad.err


def test_the_review_queue_says_what_clears_each_item(real_ws_copy, capsys):
    w = ("-w", str(real_ws_copy.root))
    queue = run_cli(capsys, *w, "labels", "pending", "--json").json()
    mine = [q for q in queue if q["dataset_id"] == CT22]
    assert [q["kind"] for q in mine] == ["labels", "instructions"]
    assert mine[0]["action"] == f"`lensforge labels review {CT22}`"
    review(real_ws_copy, CT22)  # opened: proposals pending
    queue = run_cli(capsys, *w, "labels", "pending", "--json").json()
    item = next(q for q in queue if q["dataset_id"] == CT22 and q["kind"] == "labels")
    assert item["detail"] == "2 mapping(s) pending: 0, 1" and "labels approve" in item["action"]
    assert run_cli(capsys, *w, "labels", "approve", CT22, "--all-auto", "--reason", "checked").code == 0
    from lensforge.instruct.generate import generate_for, make_providers

    generate_for(real_ws_copy, CT22, providers=make_providers(["offline"]), languages="en")
    queue = run_cli(capsys, *w, "labels", "pending", "--json").json()
    assert not [q for q in queue if q["dataset_id"] == CT22]
    # Renaming a label makes the instructions that name the old one stale.
    run_cli(capsys, *w, "labels", "set", CT22, "1", "worth-checking", "--new-label", "--reason", "house style")
    queue = run_cli(capsys, *w, "labels", "pending", "--json").json()
    (stale,) = [q for q in queue if q["dataset_id"] == CT22]
    assert stale["kind"] == "instructions" and "worth-checking" in stale["detail"]
    assert "review queue" in run_cli(capsys, *w, "labels", "pending").out


def test_rows_commands_single_and_bulk_with_preview(real_ws_copy, capsys):
    w = ("-w", str(real_ws_copy.root))
    review(real_ws_copy, CT22)
    rows = run_cli(capsys, *w, "samples", CT22, "--label", "0", "--limit", "2", "--json").json()["rows"]
    a, b = rows[0]["sample_id"], rows[1]["sample_id"]
    res = run_cli(
        capsys,
        *w,
        "--user",
        "carol",
        "rows",
        "relabel",
        CT22,
        a,
        "--label",
        "checkworthy",
        "--reason",
        "a claim",
        "--json",
    )
    assert res.code == 0, res.err
    assert res.json()["rows"] == 1 and res.json()["label"] == "checkworthy"
    assert run_cli(capsys, *w, "rows", "exclude", CT22, b, "--reason", "spam", "--json").code == 0
    page = run_cli(capsys, *w, "samples", CT22, "--label", "0", "--limit", "2", "--json").json()["rows"]
    assert [(r["decision"], r["answer"]) for r in page] == [("relabel", "checkworthy"), ("exclude", None)]

    preview = run_cli(
        capsys,
        *w,
        "rows",
        "exclude",
        CT22,
        "--match-label",
        "checkworthy",
        "--match-split",
        "dev",
        "--preview",
        "--json",
    ).json()
    assert preview["rows"] == 44 and preview["unchanged"] == 0
    text = run_cli(capsys, *w, "rows", "exclude", CT22, "--match-label", "1", "--match-split", "dev", "--preview").out
    assert "would touch 44 row(s)" in text
    assert run_cli(capsys, *w, "rows", "list", "--json").json().__len__() == 2  # a preview writes nothing
    res = run_cli(
        capsys, *w, "rows", "exclude", CT22, "--match-label", "1", "--match-split", "dev", "--reason", "dev clean-up"
    )
    assert res.code == 0 and "did touch 44 row(s)" in res.out
    listed = run_cli(capsys, *w, "rows", "list", CT22, "--json").json()
    assert len(listed) == 46 and {r["actor"] for r in listed if r["sample_id"] == a} == {"carol"}
    log = run_cli(capsys, *w, "labels", "log", CT22, "--json").json()
    assert [e["kind"] for e in log][:3] == ["rows.exclude", "rows.exclude", "rows.relabel"]

    bad = run_cli(capsys, *w, "rows", "exclude", CT22, a, "--match-label", "1", "--reason", "x")
    assert bad.code == 1 and "not both" in bad.err
    bad = run_cli(capsys, *w, "rows", "relabel", CT22, a, "--label", "maybe", "--reason", "x")
    assert bad.code == 1 and "'maybe' is not a canonical label" in bad.err
    cleared = run_cli(capsys, *w, "rows", "clear", CT22, a, b, "--reason", "undo", "--json").json()
    assert cleared["rows"] == 2
    assert pl.DataFrame(run_cli(capsys, *w, "rows", "list", "--json").json()).height == 44
