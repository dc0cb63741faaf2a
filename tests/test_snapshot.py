"""Snapshots: chat rows, instruction assignment, orders, determinism, gates, card, export, diff."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import datasets
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from clihelp import run_cli

from lensforge.catalog.events import list_events
from lensforge.errors import LensforgeError
from lensforge.instruct.generate import generate_for, make_providers
from lensforge.instruct.store import list_instructions, set_status
from lensforge.pipeline import demo_mixture_path
from lensforge.release.schema import lensforge_split
from lensforge.release.snapshot import build_snapshot, diff_snapshots, get_snapshot


@pytest.fixture
def ready(demo_ws):
    """The demo workspace with offline instructions for every dataset (en + native)."""
    from lensforge.catalog.datasets import list_datasets

    for did in list_datasets(demo_ws, collection="demo")["dataset_id"].to_list():
        generate_for(demo_ws, did, providers=make_providers(["offline"]), languages="both")
    return demo_ws


def _files(path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.rglob("*.parquet"))}


def test_build_rows_instructions_and_determinism(ready, tmp_path):
    res = build_snapshot(ready, demo_mixture_path(), order="language", instructions="en", actor="t")
    assert res["status"] == "new"
    folder = ready.root / get_snapshot(ready, res["snapshot_id"])["path"]
    train = pl.read_parquet(folder / "data" / "train.parquet")
    test = pl.read_parquet(folder / "data" / "test.parquet")
    assert train.columns == [
        "id",
        "dataset",
        "language",
        "task",
        "split",
        "instruction_id",
        "instruction",
        "input",
        "output",
        "messages",
    ]
    # messages: system, user = instruction + input, assistant = "Label: <output>".
    row = train.row(0, named=True)
    assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
    assert row["messages"][1]["content"] == f"{row['instruction']}\nInput: {row['input']}"
    assert row["messages"][2]["content"] in (f"Label: {row['output']}", f"Summary: {row['output']}")
    # Test rows use each dataset's first English instruction; train rows draw from the whole active set.
    ins = list_instructions(ready, language="en")
    first = {d: g.sort("position")["instruction_id"][0] for (d,), g in ins.group_by("dataset_id")}
    for (did,), group in test.group_by("dataset"):
        assert group["instruction_id"].unique().to_list() == [first[did]]
    assert train.group_by("dataset").agg(pl.col("instruction_id").n_unique())["instruction_id"].min() > 5
    # Canonical labels, pair inputs and summaries.
    sarcasm = set(train.filter(pl.col("dataset") == "ar/DemoSarcasm@1")["output"])
    assert sarcasm == {"sarcastic", "not-sarcastic"}
    stance = train.filter(pl.col("dataset") == "ar/DemoStance@1")
    assert stance["input"].str.contains("\nSecond text: ").all()
    summaries = train.filter(pl.col("dataset") == "en/DemoNewsSummaries@1")
    assert summaries["messages"].list.get(2).struct.field("content").str.starts_with("Summary: ").all()
    # By-language order: languages in order, no dataset block structure inside a language.
    langs = train["language"].to_list()
    assert langs == sorted(langs)
    # Same inputs: same id and the same bytes.
    again = build_snapshot(ready, demo_mixture_path(), order="language", instructions="en", actor="t")
    assert again["snapshot_id"] == res["snapshot_id"] and again["status"] == "unchanged"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (
        manifest["outputs"]["data/train.parquet"]
        == hashlib.sha256((folder / "data/train.parquet").read_bytes()).hexdigest()
    )
    assert {d["dataset_id"] for d in manifest["inputs"]["datasets"]} == set(train["dataset"].unique())
    assert all(d["mapping_version_id"].startswith("m") for d in manifest["inputs"]["datasets"])


def test_orders_and_instruction_modes_change_the_snapshot(ready):
    alpha = build_snapshot(ready, demo_mixture_path(), order="alphabetical", instructions="en", actor="t")
    rand = build_snapshot(ready, demo_mixture_path(), order="random", instructions="en", actor="t")
    native = build_snapshot(ready, demo_mixture_path(), order="alphabetical", instructions="native", actor="t")
    assert len({alpha["snapshot_id"], rand["snapshot_id"], native["snapshot_id"]}) == 3
    folder = ready.root / get_snapshot(ready, alpha["snapshot_id"])["path"]
    train = pl.read_parquet(folder / "data" / "train.parquet")
    keys = list(zip(train["language"], train["dataset"], train["id"], strict=True))
    assert keys == sorted(keys)  # alphabetical: no shuffle
    nat = pl.read_parquet(ready.root / get_snapshot(ready, native["snapshot_id"])["path"] / "data" / "test.parquet")
    arabic = nat.filter(pl.col("dataset") == "ar/DemoSarcasm@1")["instruction"][0]
    assert any("\u0600" <= ch <= "\u06ff" for ch in arabic)
    d = diff_snapshots(ready, alpha["snapshot_id"], native["snapshot_id"])
    assert d["settings"]["instructions"] == {"a": "en", "b": "native"}
    assert any("instructions" in c for c in d["changed"])
    with pytest.raises(LensforgeError, match="unknown order"):
        build_snapshot(ready, demo_mixture_path(), order="shuffled", actor="t")


def test_diff_names_the_row_decisions_that_changed(snap_ws):
    from lensforge.curate.decisions import record_row_decisions
    from lensforge.ingest.versions import current_version, load_rows

    ws, before = snap_ws
    did = "ar/DemoSarcasm@1"
    row = load_rows(ws, current_version(ws, did), ("train",), columns=["sample_id"])["sample_id"][0]
    decided = record_row_decisions(ws, did, [row], action="exclude", reason="off topic", actor="t")
    after = build_snapshot(ws, demo_mixture_path(), actor="t")
    d = diff_snapshots(ws, before, after["snapshot_id"])
    (changed,) = [c for c in d["changed"] if c["dataset_id"] == did]
    assert changed["decision_set_id"] == {"a": None, "b": decided["decision_set_id"]}


def test_export_loads_with_datasets(ready, capsys, tmp_path):
    res = build_snapshot(ready, demo_mixture_path(), actor="t")
    out = tmp_path / "export"
    cli = run_cli(capsys, "-w", str(ready.root), "publish", res["snapshot_id"], "--to-dir", str(out), "--json")
    assert cli.code == 0, cli.err
    loaded = datasets.load_dataset(str(out))
    assert set(loaded.keys()) == {"train", "validation", "test"}  # the dev rows are published as `validation`
    assert loaded["train"].num_rows == res["rows"]["train"] and loaded["test"].num_rows == res["rows"]["test"]
    assert loaded["train"].features["messages"].feature["role"].dtype == "string"
    assert loaded["train"][0]["messages"][2]["role"] == "assistant"
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "CC0-1.0" in card and "DemoSarcasm" in card
    assert get_snapshot(ready, res["snapshot_id"])["publications"][0]["kind"] == "dir"
    bad = run_cli(capsys, "-w", str(ready.root), "publish", res["snapshot_id"], "--repo", "no-slash")
    assert bad.code == 1


def test_gates_unreviewed_mappings_disabled_instructions_invalid_versions(demo_ws, tmp_path):
    ws = demo_ws
    from lensforge.catalog.datasets import list_datasets
    from lensforge.catalog.db import transaction

    for did in list_datasets(ws, collection="demo")["dataset_id"].to_list():
        generate_for(ws, did, providers=make_providers(["offline"]), languages="en")
    # Put one mapping back to proposed: the build is refused unless proposals are allowed (and recorded).
    with transaction(ws) as con:
        con.execute("UPDATE label_mappings SET status = 'proposed' WHERE dataset_id = 'ar/DemoSarcasm@1'")
    with pytest.raises(LensforgeError, match="not reviewed"):
        build_snapshot(ws, demo_mixture_path(), actor="t")
    assert not list(ws.snapshots_dir.glob("s*"))
    build_snapshot(ws, demo_mixture_path(), allow_proposed=True, actor="t")
    assert list_events(ws, kind="labels.allow_proposed").height == 1
    # A dataset whose instructions are all disabled stops the build.
    for iid in list_instructions(ws, "ar/DemoStance@1")["instruction_id"].to_list():
        set_status(ws, iid, "disabled", actor="t", reason="test")
    with pytest.raises(LensforgeError, match="ar/DemoStance@1 has no active en instructions"):
        build_snapshot(ws, demo_mixture_path(), allow_proposed=True, actor="t")
    for iid in list_instructions(ws, "ar/DemoStance@1")["instruction_id"].to_list():
        set_status(ws, iid, "active", actor="t", reason="test")
    # An invalid version is refused unless a reason is given, which is recorded.
    with transaction(ws) as con:
        con.execute(
            "UPDATE ingested_versions SET valid = FALSE, failed_expectations = 1 WHERE dataset_id = 'hi/DemoNLI@1'"
        )
    with pytest.raises(LensforgeError, match="failed validation"):
        build_snapshot(ws, demo_mixture_path(), allow_proposed=True, actor="t")
    build_snapshot(ws, demo_mixture_path(), allow_proposed=True, allow_invalid="checked by hand", actor="t")
    assert list_events(ws, kind="ingest.allow_invalid").height == 1


@pytest.mark.slow(seconds=17)
def test_real_datasets_snapshot_loads_and_rebuilds_to_the_same_id(real_ws_copy, capsys, tmp_path):
    root = str(real_ws_copy.root)
    res = run_cli(capsys, "-w", root, "instruct", "generate", "--all", "--json")
    assert res.code == 0, res.err
    mixture = Path(__file__).resolve().parents[1] / "examples" / "real_mixture.toml"
    refused = run_cli(capsys, "-w", root, "snapshot", "build", str(mixture))
    assert refused.code == 1 and "not reviewed" in refused.err
    first = run_cli(capsys, "-w", root, "snapshot", "build", str(mixture), "--allow-proposed", "--json").json()
    second = run_cli(capsys, "-w", root, "snapshot", "build", str(mixture), "--allow-proposed", "--json").json()
    assert first["snapshot_id"] == second["snapshot_id"] and second["status"] == "unchanged"
    said = run_cli(capsys, "-w", root, "snapshot", "build", str(mixture), "--allow-proposed").out
    assert f"train {first['rows']['train']:,} · dev {first['rows']['dev']:,}" in said and "{" not in said
    out = tmp_path / "real_export"
    assert run_cli(capsys, "-w", root, "publish", first["snapshot_id"], "--to-dir", str(out)).code == 0
    loaded = datasets.load_dataset(str(out))
    assert {lensforge_split(k): v.num_rows for k, v in loaded.items()} == first["rows"]
    test = loaded["test"].to_polars()
    assert set(test["dataset"].unique()) == {
        "ar/ArSarcasm-v2@v2",
        "ar/CT22Checkworthiness@2022",
        "en/CT22Checkworthiness@2022",
        "ar/CT25Subjectivity@2025",
        "en/CT25Subjectivity@2025",
        "en/DavidsonHateOffensive@2017",
        "hi/Hindi-Hostility-Detection-CONSTRAINT-2021",
        "hi/HASOC2019@2019",
    }
    assert set(test.filter(pl.col("dataset") == "ar/ArSarcasm-v2@v2")["output"]) == {"sarcastic", "not-sarcastic"}
    # Caps applied: Davidson's 17,143 training rows stay (below 20K); the card names every citation.
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "Davidson" in card and "abufarha" in card.lower()


def test_chat_messages_hold_the_row_texts_and_keep_a_missing_one_null():
    from lensforge.release.snapshot import SYSTEM_PROMPT, chat_messages

    instruction = ["Classify the text.", "صنّف النص.", None, "Summarise the article."]
    inputs = ["good day", "يوم جميل جدا", "x", None]
    prefix = ["Label: ", "Label: ", "Label: ", "Summary: "]
    output = ["positive", None, "negative", "short"]

    def expected(rows: range) -> list[list[dict[str, str | None]]]:
        out = []
        for i in rows:
            user = None if instruction[i] is None or inputs[i] is None else f"{instruction[i]}\nInput: {inputs[i]}"
            answer = None if output[i] is None else prefix[i] + output[i]
            out.append(
                [
                    {"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": user},
                    {"role": "assistant", "content": answer},
                ]
            )
        return out

    def arrays(rows: range) -> list[pa.Array]:
        return [pa.array([col[i] for i in rows], pa.string()) for col in (instruction, inputs, prefix, output)]

    assert chat_messages(*arrays(range(4))).to_pylist() == expected(range(4))  # with nulls
    assert chat_messages(*arrays(range(1))).to_pylist() == expected(range(1))  # without
    assert chat_messages(*arrays(range(0))).to_pylist() == []


def test_order_positions_give_the_sorted_order_of_each_mode():
    from lensforge.release.snapshot import order_positions

    rng = np.random.default_rng(0)
    n = 5_000
    frame = pl.DataFrame(
        {
            "id": [f"s{i:05d}" for i in rng.permutation(n)],
            "dataset": rng.choice(["ar/A@1", "en/B@1", "hi/C@1"], n),
            "language": rng.choice(["ar", "en", "hi", None], n),
            "task": rng.choice(["sentiment", "stance"], n),
            "_r": rng.integers(0, 2**60, n, dtype=np.uint64),
        }
    )
    for order, keys in (
        ("language", ["language", "_r"]),
        ("task", ["task", "_r"]),
        ("random", ["_r"]),
        ("alphabetical", ["language", "dataset", "id"]),
    ):
        assert frame[order_positions(frame, order, 42)].equals(frame.sort(keys, maintain_order=True)), order


def _rows(n: int, split: str, rng: np.random.Generator) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [f"{split}{i:05d}" for i in range(n)],
            "dataset": rng.choice(["ar/A@1", "en/B@1"], n),
            "language": rng.choice(["ar", "en"], n),
            "task": "sentiment",
            "split": split,
            "_instruction": rng.integers(0, 3, n).astype(np.uint32),
            "input": [f"text {i} of {split}" for i in range(n)],
            "output": rng.choice(["positive", "negative"], n),
            "_prefix": "Label: ",
            "_r": rng.integers(0, 2**60, n, dtype=np.uint64),
        }
    )


def test_split_files_hold_their_rows_in_order_and_a_failed_encoder_stops_the_write(tmp_path, monkeypatch):
    from lensforge.release import snapshot as s

    monkeypatch.setattr(s, "ROW_GROUP", 1000)
    rng = np.random.default_rng(1)
    rows = pl.concat([_rows(5500, "train", rng), _rows(1200, "dev", rng), _rows(0, "test", rng)])
    instructions = pl.DataFrame({"instruction_id": ["i0", "i1", "i2"], "instruction": ["Say.", "Tell.", "Name."]})
    (tmp_path / "data").mkdir()
    written = s._write_splits(s._by_split(rows), instructions, tmp_path, order="language", seed=1, tick=lambda *_: None)
    for split, count in (("train", 5500), ("dev", 1200), ("test", 0)):
        path = tmp_path / "data" / f"{split}.parquet"
        assert written[split].rows == count and written[split].sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        got = pl.read_parquet(path)
        part = rows.filter(pl.col("split") == split)
        assert got["id"].to_list() == part.sort("language", "_r")["id"].to_list()
        assert got.columns == list(s.SNAPSHOT_SCHEMA)
    assert pq.ParquetFile(tmp_path / "data" / "train.parquet").num_row_groups == 6
    # The same rows written again (two threads, six row groups): the same bytes, so the same snapshot id.
    (tmp_path / "again" / "data").mkdir(parents=True)
    again = s._write_splits(
        s._by_split(rows), instructions, tmp_path / "again", order="language", seed=1, tick=lambda *_: None
    )
    assert {k: w.sha256 for k, w in again.items()} == {k: w.sha256 for k, w in written.items()}
    train = pl.read_parquet(tmp_path / "data" / "train.parquet")
    user = train["messages"].list.get(1).struct.field("content")
    assert (user == train["instruction"] + "\nInput: " + train["input"]).all()

    real_write = s._SplitFile.write

    def failing(self: s._SplitFile, table: pa.Table, **how: bool) -> None:
        if self.path.name == "train.parquet":
            raise OSError("disk full")
        real_write(self, table, **how)

    monkeypatch.setattr(s._SplitFile, "write", failing)
    with pytest.raises(OSError, match="disk full"):
        s._write_splits(s._by_split(rows), instructions, tmp_path, order="language", seed=1, tick=lambda *_: None)
