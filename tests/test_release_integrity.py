"""The release stage's data contract: what a snapshot build refuses, removes and records, and how it stays intact.

Cross-dataset leakage (on the real ArSarcasm v1 and v2), excluded datasets, instruction label-space drift, edits
that make new instruction ids, read-only files and `snapshot verify`, the Hub layout (validation split, licences,
sizes, task ids, Croissant checked by mlcroissant), and the manifest as the source of task types.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from clihelp import run_cli

from lensforge.catalog.events import list_events
from lensforge.errors import LensforgeError
from lensforge.ingest.versions import current_version, load_rows
from lensforge.instruct.generate import generate_for, make_providers
from lensforge.instruct.store import list_instructions, show_instruction
from lensforge.pipeline import demo_mixture_path
from lensforge.release.schema import CROISSANT, LEAK_REPORT, LICENSES, lensforge_split
from lensforge.release.snapshot import build_snapshot, dataset_facts, get_snapshot, snapshot_dir
from lensforge.workspace import resolve_workspace

V1, V2 = "ar/ArSarcasm@v1", "ar/ArSarcasm-v2@v2"


def _front_matter(card: str) -> dict[str, Any]:
    head, _, _ = card[4:].partition("\n---\n")
    return yaml.safe_load(head)


def _with_instructions(ws, ids: list[str], languages: str = "en") -> None:
    for did in ids:
        generate_for(ws, did, providers=make_providers(["offline"]), languages=languages)


@pytest.fixture(scope="module")
def demo_built(demo_workspace, tmp_path_factory):
    """The curated demo with offline English instructions and one snapshot, built with a progress callback."""
    from lensforge.catalog.datasets import list_datasets

    root = tmp_path_factory.mktemp("release") / "ws"
    shutil.copytree(demo_workspace.root, root)
    ws = resolve_workspace(root)
    _with_instructions(ws, list_datasets(ws, collection="demo")["dataset_id"].to_list())
    steps: list[tuple[str, int, int]] = []
    res = build_snapshot(ws, demo_mixture_path(), actor="t", progress=lambda *a: steps.append(a))
    return ws, res, steps


@pytest.fixture
def demo_copy(demo_built, tmp_path):
    """A private copy of `demo_built` for tests that change files or the catalog."""
    ws, res, _ = demo_built
    shutil.copytree(ws.root, tmp_path / "ws")
    return resolve_workspace(tmp_path / "ws"), res


# --- cross-dataset leakage and excluded datasets (real data) -----------------------------------------------------


def _mixture(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "mixture.toml"
    path.write_text('name = "arsarcasm-both"\nseed = 42\n[caps]\ntrain = 0\n' + body, encoding="utf-8")
    return path


def _keys(ws, did: str, split: str) -> pl.DataFrame:
    rows = load_rows(ws, current_version(ws, did), (split,), columns=["sample_id", "text_key"])
    return rows.filter(pl.col("text_key").is_not_null())


def test_arsarcasm_v1_test_rows_are_removed_from_v2_train(real_ws_copy, capsys, tmp_path):
    ws = real_ws_copy
    root = str(ws.root)
    both = '[[datasets]]\nref = "ar/ArSarcasm-v2@v2"\n[[datasets]]\nref = "ar/ArSarcasm@v1"\n'
    mixture = _mixture(tmp_path, both)
    # v1 is superseded: refused until a reason is given, before anything is curated or written.
    refused = run_cli(capsys, "-w", root, "snapshot", "build", str(mixture), "--allow-proposed")
    assert refused.code == 1 and "ar/ArSarcasm@v1 (superseded by ar/ArSarcasm-v2@v2)" in refused.err
    assert "allow_excluded" in refused.err and "Traceback" not in refused.err
    _with_instructions(ws, [V1, V2])
    why = "measure how much of v1 v2 repeats"
    # --on-cross-leak refuse: stops with the dataset pairs, writes no snapshot.
    stop = run_cli(
        capsys,
        "-w",
        root,
        "snapshot",
        "build",
        str(mixture),
        "--allow-proposed",
        "--allow-excluded",
        why,
        "--on-cross-leak",
        "refuse",
    )
    assert stop.code == 1 and "cross-dataset leakage" in stop.err
    assert f"train rows of {V2} equal test rows of {V1}" in stop.err
    assert not [p for p in ws.snapshots_dir.iterdir() if p.name.startswith("s")]

    res = run_cli(
        capsys, "-w", root, "snapshot", "build", str(mixture), "--allow-proposed", "--allow-excluded", why, "--json"
    )
    assert res.code == 0, res.err
    built = res.json()
    manifest = get_snapshot(ws, built["snapshot_id"])["manifest"]
    pairs = {
        (p["dataset"], p["split"], p["held_out_dataset"], p["held_out_split"]): p["rows"]
        for p in manifest["cross_leakage"]["pairs"]
    }
    # Independently: v2 train rows whose normalised text is one of v1's test texts.
    v1_test = _keys(ws, V1, "test")
    v2_train = _keys(ws, V2, "train")
    leaked = v2_train.filter(pl.col("text_key").is_in(v1_test["text_key"].implode()))
    assert pairs[(V2, "train", V1, "test")] == leaked.height
    # The measurement: most of v1's 2,089 test tweets sit in v2's train split.
    assert v1_test.height == 2089
    assert v1_test.filter(pl.col("text_key").is_in(v2_train["text_key"].implode())).height >= 1830
    # Removed rows are gone from the train file and listed in the report; the test sets stay whole.
    folder = snapshot_dir(ws, built["snapshot_id"])
    train = pl.read_parquet(folder / "data" / "train.parquet", columns=["id", "dataset", "input"])
    test = pl.read_parquet(folder / "data" / "test.parquet", columns=["id", "dataset", "input"])
    assert not set(leaked["sample_id"]) & set(train["id"])
    assert test.filter(pl.col("dataset") == V1).height == 2089
    assert not set(train["input"]) & set(test["input"])
    report = pl.read_parquet(folder / LEAK_REPORT)
    assert set(leaked["sample_id"]) <= set(report.filter(pl.col("held_out_dataset") == V1)["id"])
    assert manifest["cross_leakage"]["removed"]["train"] == report.filter(pl.col("split") == "train")["id"].n_unique()
    removed_v2 = next(d for d in manifest["inputs"]["datasets"] if d["dataset_id"] == V2)["cross_leak_removed"]
    assert removed_v2["train"] >= leaked.height
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "## Cross-dataset leakage" in card and f"| {V2} | train | {V1} | test | {leaked.height:,} |" in card
    # The override is on record: in the manifest and as one event.
    v1_input = next(d for d in manifest["inputs"]["datasets"] if d["dataset_id"] == V1)
    assert v1_input["allow_excluded"] == why
    events = list_events(ws, kind="mixture.allow_excluded")
    assert events.height == 1 and json.loads(events["payload"][0])["reason"] == why


def test_excluded_dataset_named_with_a_reason_in_the_mixture(demo_copy, tmp_path):
    ws, _ = demo_copy
    from lensforge.catalog.datasets import set_status

    set_status(ws, "ar/DemoSarcasm@1", "excluded", actor="t", reason="labels too noisy")
    plan = Path(demo_mixture_path()).read_text(encoding="utf-8").replace('status = "selected"', 'status = ""')
    named = tmp_path / "named.toml"
    named.write_text(plan + '\n[[datasets]]\nref = "ar/DemoSarcasm@1"\n', encoding="utf-8")
    with pytest.raises(LensforgeError, match=r"ar/DemoSarcasm@1 \(excluded: labels too noisy\)"):
        build_snapshot(ws, named, actor="t")
    named.write_text(plan + '\n[[datasets]]\nref = "ar/DemoSarcasm@1"\nallow_excluded = "checked"\n', encoding="utf-8")
    res = build_snapshot(ws, named, actor="t")
    entry = next(
        d
        for d in get_snapshot(ws, res["snapshot_id"])["manifest"]["inputs"]["datasets"]
        if d["dataset_id"] == "ar/DemoSarcasm@1"
    )
    assert entry["allow_excluded"] == "checked"


# --- instruction label spaces and edits ---------------------------------------------------------------------------


def test_relabel_refuses_stale_instructions_until_regenerated(demo_copy, capsys):
    ws, _ = demo_copy
    from lensforge.curate.mappings import review, set_label

    did = "ar/DemoSarcasm@1"
    raw = next(m["raw_label"] for m in review(ws, did)["mappings"] if m["canonical"] == "sarcastic")
    set_label(ws, did, raw, "ironic", actor="t", reason="rename", new_label=True)
    with pytest.raises(LensforgeError) as info:
        build_snapshot(ws, demo_mixture_path(), actor="t")
    message = str(info.value)
    assert f"{did}: 20 active instruction(s) name not-sarcastic, sarcastic" in message
    assert "gives ironic, not-sarcastic" in message
    assert f"lensforge instruct generate {did} --replace-stale" in message
    res = run_cli(capsys, "-w", str(ws.root), "instruct", "generate", did, "--replace-stale", "--languages", "en")
    assert res.code == 0, res.err
    assert list_instructions(ws, did, status="active")["label_space"].unique().to_list() == [
        '["ironic", "not-sarcastic"]'
    ]
    built = build_snapshot(ws, demo_mixture_path(), actor="t")
    train = pl.read_parquet(snapshot_dir(ws, built["snapshot_id"]) / "data" / "train.parquet")
    rows = train.filter(pl.col("dataset") == did)
    assert set(rows["output"]) == {"ironic", "not-sarcastic"}
    assert rows["instruction"].str.contains("ironic").all()
    facts = dataset_facts(get_snapshot(ws, built["snapshot_id"])["manifest"])
    assert facts[did]["label_space"] == ["ironic", "not-sarcastic"]


def test_an_edit_makes_a_new_instruction_and_old_manifests_keep_their_text(demo_copy, capsys):
    ws, first = demo_copy
    did = "en/DemoCheckworthy@1"
    old = get_snapshot(ws, first["snapshot_id"])["manifest"]
    old_test_id = next(d for d in old["inputs"]["datasets"] if d["dataset_id"] == did)["test_instruction_id"]
    old_text = show_instruction(ws, old_test_id)["text"]
    new_text = "Label the tweet as check-worthy or not-check-worthy for fact-checkers; give the label only."
    res = run_cli(capsys, "-w", str(ws.root), "instruct", "edit", old_test_id, "--text", new_text, "--reason", "tone")
    assert res.code == 0, res.err
    new = list_instructions(ws, did).filter(pl.col("text") == new_text).row(0, named=True)
    assert new["instruction_id"] != old_test_id and new["replaces"] == old_test_id and new["status"] == "active"
    assert show_instruction(ws, old_test_id)["status"] == "disabled"
    assert show_instruction(ws, old_test_id)["text"] == old_text  # the old id still means the old text
    assert show_instruction(ws, old_test_id)["replaced_by"] == new["instruction_id"]
    second = build_snapshot(ws, demo_mixture_path(), actor="t")
    entry = next(
        d for d in get_snapshot(ws, second["snapshot_id"])["manifest"]["inputs"]["datasets"] if d["dataset_id"] == did
    )
    assert entry["test_instruction_id"] == new["instruction_id"] and old_test_id not in entry["instruction_ids"]
    test = pl.read_parquet(snapshot_dir(ws, second["snapshot_id"]) / "data" / "test.parquet")
    assert set(test.filter(pl.col("dataset") == did)["instruction"]) == {new_text}
    assert (
        run_cli(
            capsys,
            "-w",
            str(ws.root),
            "instruct",
            "edit",
            new["instruction_id"],
            "--text",
            new_text,
            "--reason",
            "same",
        ).code
        == 1
    )


# --- immutability --------------------------------------------------------------------------------------------------


def test_snapshot_and_version_files_are_read_only_and_verified(demo_copy, capsys, tmp_path):
    ws, res = demo_copy
    folder = snapshot_dir(ws, res["snapshot_id"])
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert {p.relative_to(folder).as_posix() for p in files} >= {"README.md", LICENSES, CROISSANT, LEAK_REPORT}
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o222 == 0 for p in files)
    version = ws.root / current_version(ws, "ar/DemoSarcasm@1")["path"]
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o222 == 0 for p in version.iterdir() if p.is_file())
    ok = run_cli(capsys, "-w", str(ws.root), "snapshot", "verify", res["snapshot_id"], "--json")
    assert ok.code == 0 and ok.json()["ok"] and {f["status"] for f in ok.json()["files"]} == {"ok"}
    # Someone forces a change: verify names the file, and publish and finetune refuse the snapshot.
    train = folder / "data" / "train.parquet"
    train.chmod(0o644)
    train.write_bytes(train.read_bytes() + b"x")
    bad = run_cli(capsys, "-w", str(ws.root), "snapshot", "verify", res["snapshot_id"])
    assert bad.code == 1 and "data/train.parquet: changed" in bad.err
    export = run_cli(capsys, "-w", str(ws.root), "publish", res["snapshot_id"], "--to-dir", str(tmp_path / "out"))
    assert export.code == 1 and "does not match its manifest" in export.err and not (tmp_path / "out").exists()
    from lensforge.finetune.data import resolve_snapshot

    with pytest.raises(LensforgeError, match="does not match its manifest"):
        resolve_snapshot(ws, res["snapshot_id"])
    (folder / "notes.txt").write_text("added", encoding="utf-8")
    again = run_cli(capsys, "-w", str(ws.root), "snapshot", "verify", res["snapshot_id"], "--json")
    assert {f["path"]: f["status"] for f in again.json()["files"]}["notes.txt"] == "unexpected"
    # Building the same mixture again restores the snapshot's files (same id), and says so.
    rebuilt = build_snapshot(ws, demo_mixture_path(), actor="t")
    assert (rebuilt["snapshot_id"], rebuilt["status"]) == (res["snapshot_id"], "repaired")
    assert run_cli(capsys, "-w", str(ws.root), "snapshot", "verify", res["snapshot_id"]).code == 0
    assert list_events(ws, kind="snapshot.repair").height == 1


@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_folders_follow_the_umask(demo_copy, mask):
    ws, _ = demo_copy
    from lensforge.workspace import seal

    folder = ws.root / "sealed"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "x.parquet").write_bytes(b"x")
    os.chmod(folder, 0o700)  # what tempfile.mkdtemp gives a staging folder
    old = os.umask(mask)
    try:
        seal(folder)
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~mask
    assert stat.S_IMODE((folder / "data").stat().st_mode) == 0o777 & ~mask
    assert stat.S_IMODE((folder / "data" / "x.parquet").stat().st_mode) == 0o444


# --- the published layout ------------------------------------------------------------------------------------------


def test_export_meets_hub_conventions_and_croissant_validates(demo_built, tmp_path, monkeypatch):
    import datasets
    import mlcroissant
    import pyarrow.parquet as pq

    from lensforge.release.publish import export_snapshot, publish_to_hub

    ws, res, steps = demo_built
    assert [s for s, done, total in steps if done == total] == ["curate", "cross-dataset leakage", "write", "hash"]
    assert ("curate", 7, 7) in steps and ("write", 3, 3) in steps
    out = Path(export_snapshot(ws, res["snapshot_id"], tmp_path / "export", actor="t")["path"])
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf"))
    assert list(loaded) == ["train", "validation", "test"]
    assert {lensforge_split(k): v.num_rows for k, v in loaded.items()} == res["rows"]
    assert set(loaded["validation"]["split"]) == {"dev"}
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["splits"] == {"train": "train", "validation": "dev", "test": "test"}
    meta = _front_matter((out / "README.md").read_text(encoding="utf-8"))
    # Mixed or non-Hub licences: `other` with a link to the file listing each source's terms.
    assert meta["license"] == "other" and meta["license_link"] == LICENSES
    licences = (out / LICENSES).read_text(encoding="utf-8")
    assert all(f"| {d['dataset_id']} |" in licences for d in manifest["inputs"]["datasets"])
    # Sizes: num_bytes is the data as loaded (Arrow), not the Parquet file size.
    for split in meta["dataset_info"]["splits"]:
        path = out / "data" / f"{lensforge_split(split['name'])}.parquet"
        assert split["num_bytes"] == pq.read_table(path).nbytes != path.stat().st_size
    sizes = [(out / "data" / f"{s}.parquet").stat().st_size for s in ("train", "dev", "test")]
    assert meta["dataset_info"]["download_size"] == sum(sizes)
    # Task ids from task types; every source named; a bias, risks and limitations section.
    assert meta["task_categories"] == ["summarization", "text-classification"]
    wanted = ["multi-class-classification", "sentiment-classification", "hate-speech-detection"]
    wanted += ["natural-language-inference", "fact-checking", "news-articles-summarization"]
    assert set(wanted) <= set(meta["task_ids"])
    assert "multi-label-classification" not in meta["task_ids"]
    assert len(meta["source_datasets"]) == 7 and all(s.startswith("extended|") for s in meta["source_datasets"])
    body = (out / "README.md").read_text(encoding="utf-8")
    assert "## Bias, risks and limitations" in body and "hi/DemoHateSpeech@1 holds hateful" in body
    # Croissant: accepted by mlcroissant, and its records read back from the Parquet files.
    dataset = mlcroissant.Dataset(jsonld=str(out / CROISSANT))
    record = next(iter(dataset.records("validation")))
    assert record["validation/split"] == b"dev" and len(record["validation/messages"]) == 3
    jsonld = json.loads((out / CROISSANT).read_text(encoding="utf-8"))
    assert jsonld["rai:dataBiases"] and jsonld["rai:personalSensitiveInformation"] and jsonld["rai:dataLimitations"]
    # The Hub push uploads exactly the files the export wrote.
    calls: dict[str, Any] = {}

    class Hub:
        def create_repo(self, *a: Any, **k: Any) -> str:
            return "https://huggingface.co/datasets/org/name"

        def upload_folder(self, **k: Any) -> dict[str, str]:
            calls.update(k)
            return {"oid": "0" * 40}

    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")  # lensforge.hub: either switch means offline
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", "hf_" + "x" * 20)
    publish_to_hub(ws, res["snapshot_id"], "org/name", actor="t", api=Hub())
    exported = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert sorted(calls["allow_patterns"]) == exported


def test_evaluation_reads_task_types_from_the_manifest(demo_built, monkeypatch):
    ws, res, _ = demo_built
    from lensforge.evaluate import runner

    info = get_snapshot(ws, res["snapshot_id"])
    facts = dataset_facts(info["manifest"])
    assert facts["ar/DemoStance@1"]["task_type"] == "pair_classification"
    assert facts["en/DemoNewsSummaries@1"] == {
        "task": "News Summarization",
        "task_type": "generation",
        "label_space": [],
        "language": "en",
    }
    # Without catalog rows (a snapshot from another workspace), the manifest decides, not the card's prose.
    manifest = json.loads(json.dumps(info["manifest"]))
    for d in manifest["inputs"]["datasets"]:
        d["task_type"] = "multilabel"
    monkeypatch.setattr(runner, "_catalog_info", lambda _ws, _ids: ({}, {}))
    plans = runner._plan(ws, snapshot_dir(ws, res["snapshot_id"]), manifest, ["ar/DemoSarcasm@1"], 2)
    assert [p.task_type for p in plans] == ["multilabel"]
