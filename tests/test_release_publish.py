"""Snapshot publishing: the dataset card, local export, and the Hub push against a fake HfApi (never the network)."""

from __future__ import annotations

import hashlib
import io
import json
import time
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
import pytest
import yaml

from lensforge.catalog.db import connect, transaction
from lensforge.errors import LensforgeError
from lensforge.release.card import render_card
from lensforge.release.publish import (
    export_snapshot,
    export_to_dir,
    publish_to_hub,
    record_dir_export,
    validate_repo_id,
)
from lensforge.release.schema import lensforge_split
from lensforge.release.snapshot import SNAPSHOT_SCHEMA
from lensforge.release.verify import snapshot_id_of

FAKE_TOKEN = "hf_FakeTokenForTests0123456789abcdef"
SHA = "91c54ad1727ee830252e457677f467be0bfd8a57"
SYSTEM = "You are a social media expert providing accurate analysis and insights."
DATASETS: list[dict[str, Any]] = [
    {
        "dataset_id": "ar/ArSarcasm-v2@v2",
        "name": "ArSarcasm-v2",
        "language": "ar",
        "task": "Sarcasm Detection",
        "task_type": "classification",
        "license": "MIT License",
        "citation": "@inproceedings{abufarha-etal-2021-arsarcasm,\n  title = {Overview of the WANLP 2021 Shared Task:"
        " Sarcasm and Sentiment Detection in Arabic},\n  author = {Abu Farha, Ibrahim and Zaghouani, Wajdi and"
        " Magdy, Walid},\n  year = {2021}\n}",
        "source_url": "https://github.com/iabufarha/ArSarcasm-v2",
        "label_space": ["not-sarcastic", "sarcastic"],
        "rows": {"train": 2, "dev": 1, "test": 1},
    },
    {
        "dataset_id": "en/xlsum",
        "name": "xlsum",
        "language": "en",
        "task": "News Summarization",
        "task_type": "generation",
        "license": "CC BY-NC-SA 4.0",
        "citation": "@inproceedings{hasan-etal-2021-xl,\n  title = {{XL}-Sum: Large-Scale Multilingual Abstractive"
        " Summarization for 44 Languages},\n  author = {Hasan, Tahmid and Bhattacharjee, Abhik},\n  year = {2021}\n}",
        "source_url": "https://huggingface.co/datasets/csebuetnlp/xlsum",
        "label_space": [],
        "rows": {"train": 2, "dev": 1, "test": 1},
    },
    {
        "dataset_id": "hi/hasoc2019@2019",
        "name": "HASOC2019",
        "language": "hi",
        "task": "Offensive Language Detection",
        "task_type": "classification",
        "license": "Research Purpose Only",
        "citation": "Mandl et al. 2019, Overview of the HASOC track at FIRE 2019 | Hate Speech and Offensive Content.",
        "source_url": "https://hasocfire.github.io/hasoc/2019/",
        "label_space": ["not-offensive", "offensive"],
        "rows": {"train": 1, "dev": 0, "test": 1},
    },
]

TEXTS = {
    "ar/ArSarcasm-v2@v2": [
        ("train", "يا سلام على الخدمة الممتازة، ثلاث ساعات انتظار", "sarcastic"),
        ("train", "الطقس اليوم جميل في عمّان", "not-sarcastic"),
        ("dev", "أكيد الحكومة حتحل كل المشاكل بكرة", "sarcastic"),
        ("test", "افتتاح مكتبة عامة جديدة في الرياض", "not-sarcastic"),
    ],
    "en/xlsum": [
        ("train", "The city council approved a new budget for public transport on Tuesday.", "Council backs budget."),
        ("train", "Heavy rain caused flooding in several coastal towns overnight.", "Rain floods towns."),
        ("dev", "Scientists reported a new species of frog in the Amazon basin.", "New frog species found."),
        ("test", "The central bank kept interest rates unchanged this month.", "Rates held steady."),
    ],
    "hi/hasoc2019@2019": [
        ("train", "यह फिल्म बहुत अच्छी थी, सबको देखनी चाहिए", "not-offensive"),
        ("test", "तुम जैसे लोग देश के लिए शर्म की बात हो", "offensive"),
    ],
}


def _instruction(dataset_id: str) -> tuple[str, str]:
    task = next(d["task"] for d in DATASETS if d["dataset_id"] == dataset_id)
    return f"i-{dataset_id.split('/')[0]}-1", f"Classify the text for {task.lower()} and answer with the label."


def _rows(split: str) -> pl.DataFrame:
    out = []
    for dataset_id, items in TEXTS.items():
        meta = next(d for d in DATASETS if d["dataset_id"] == dataset_id)
        iid, instruction = _instruction(dataset_id)
        prefix = "Summary: " if meta["task_type"] == "generation" else "Label: "
        for n, (row_split, text, output) in enumerate(items):
            if row_split != split:
                continue
            out.append(
                {
                    "id": f"{dataset_id}:{split}:{n}",
                    "dataset": dataset_id,
                    "language": meta["language"],
                    "task": meta["task"],
                    "split": split,
                    "instruction_id": iid,
                    "instruction": instruction,
                    "input": text,
                    "output": output,
                    "messages": [
                        {"role": "system", "content": SYSTEM},
                        {"role": "user", "content": f"{instruction}\nInput: {text}"},
                        {"role": "assistant", "content": prefix + output},
                    ],
                }
            )
    return pl.DataFrame(out, schema=SNAPSHOT_SCHEMA)


def _manifest(counts: dict[str, int]) -> dict[str, Any]:
    inputs = {
        "mixture": "llamalens-ar-en-hi",
        "order": "language",
        "instructions": "en",
        "seed": 42,
        "caps": {"train": 20000, "dev": 0, "test": 0},
        "code_version": {"lensforge": "0.1.0", "ingest": "3"},
        "datasets": [
            {
                "dataset_id": d["dataset_id"],
                "version_id": f"v{n:015d}",
                "mapping_version_id": f"m{n:015d}",
                "instruction_ids": [_instruction(d["dataset_id"])[0]],
                "test_instruction_id": _instruction(d["dataset_id"])[0],
                "rows": d["rows"],
            }
            for n, d in enumerate(DATASETS)
        ],
    }
    return {"inputs": inputs, "rows": counts}


TITLE = 'lensforge snapshot: "llamalens-ar-en-hi" #1'


def _snapshot_files() -> tuple[str, dict[str, bytes], dict[str, Any], dict[str, int]]:
    """The files of the hand-built snapshot, its manifest (outputs hashed) and its content-addressed id."""
    files, counts = {}, {}
    for split in ("train", "dev", "test"):
        frame = _rows(split)
        buf = io.BytesIO()
        frame.write_parquet(buf)
        files[f"data/{split}.parquet"] = buf.getvalue()
        counts[split] = frame.height
    building = _manifest(counts)
    files["README.md"] = render_card(building, DATASETS, title=TITLE, summary={"rows": counts}).encode("utf-8")
    outputs = {rel: hashlib.sha256(data).hexdigest() for rel, data in sorted(files.items())}
    sid = snapshot_id_of(building["inputs"], outputs)
    return sid, files, {**building, "snapshot_id": sid, "outputs": outputs}, counts


SID, FILES, MANIFEST, COUNTS = _snapshot_files()


@pytest.fixture
def snapshot(ws) -> dict[str, Any]:
    """A small hand-built snapshot folder (ar, en, hi rows with messages) with its catalog row."""
    folder = ws.ensure().snapshots_dir / SID
    for rel, data in FILES.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    manifest, counts = MANIFEST, dict(COUNTS)
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    card = FILES["README.md"].decode("utf-8")
    with transaction(ws) as con:
        con.execute(
            "INSERT INTO snapshots (snapshot_id, created_by, mixture, path, manifest, rows_train, rows_dev, rows_test) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [SID, "tester", "llamalens-ar-en-hi", f"snapshots/{SID}", json.dumps(manifest), *counts.values()],
        ).fetchall()
    return {"id": SID, "dir": folder, "counts": counts, "card": card}


def _front_matter(card: str) -> dict[str, Any]:
    assert card.startswith("---\n")
    head, _, _ = card[4:].partition("\n---\n")
    return yaml.safe_load(head)


def _catalog_dump(ws) -> str:
    """Every value of every catalog table, as text (to look for a leaked token)."""
    parts = []
    with connect(ws, read_only=True) as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        for table in tables:
            parts.append(repr(con.execute(f'SELECT * FROM "{table}"').fetchall()))
    return "\n".join(parts)


def _publications(ws) -> list[tuple]:
    with connect(ws, read_only=True) as con:
        return con.execute(
            "SELECT snapshot_id, target, kind, commit_sha, tag, url, private, actor FROM publications"
        ).fetchall()


def _publish_events(ws) -> list[dict[str, Any]]:
    with connect(ws, read_only=True) as con:
        rows = con.execute("SELECT actor, subject, payload FROM events WHERE kind = 'publish'").fetchall()
    return [{"actor": a, "subject": s, "payload": json.loads(p)} for a, s, p in rows]


class FakeHub:
    """Stands in for huggingface_hub.HfApi: records every call, returns what the real one returns."""

    instances: ClassVar[list[FakeHub]] = []

    def __init__(self, token: str | None = None, fail: str | None = None, **_: Any) -> None:
        self.token = token
        self.fail = fail
        self.calls: list[tuple[str, tuple, dict]] = []
        FakeHub.instances.append(self)

    def create_repo(self, repo_id: str, **kwargs: Any) -> str:
        from huggingface_hub import RepoUrl

        self.calls.append(("create_repo", (repo_id,), kwargs))
        return RepoUrl(f"https://huggingface.co/datasets/{repo_id}")

    def upload_folder(self, **kwargs: Any) -> Any:
        from huggingface_hub import CommitInfo

        self.calls.append(("upload_folder", (), kwargs))
        folder = Path(kwargs["folder_path"])  # a staged export, gone after the call: list what it held
        self.uploaded = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        if self.fail == "upload":
            raise RuntimeError(f"401 Unauthorized for token {FAKE_TOKEN}")
        repo = kwargs["repo_id"]
        return CommitInfo(
            commit_url=f"https://huggingface.co/datasets/{repo}/commit/{SHA}",
            commit_message=kwargs.get("commit_message") or "",
            commit_description="",
            oid=SHA,
        )

    def create_tag(self, repo_id: str, **kwargs: Any) -> None:
        self.calls.append(("create_tag", (repo_id,), kwargs))
        if self.fail == "tag":
            raise RuntimeError("409 Conflict: tag already exists")

    def named(self, name: str) -> list[tuple[tuple, dict]]:
        return [(args, kwargs) for n, args, kwargs in self.calls if n == name]


@pytest.fixture
def online(monkeypatch) -> None:
    """Lift offline mode for code paths that only ever meet the fake HfApi, and provide a fake token."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")  # lensforge.hub: either switch means offline
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)


# --- the card ---------------------------------------------------------------------------------------------------


def test_card_front_matter_names_licences_languages_tasks_and_splits(snapshot):
    card = snapshot["card"]
    meta = _front_matter(card)
    assert meta["pretty_name"] == TITLE  # quotes, colon and '#' survive YAML
    assert meta["license"] == "other"
    assert meta["language"] == ["ar", "en", "hi"]
    assert meta["multilinguality"] == "multilingual"
    assert meta["task_categories"] == ["summarization", "text-classification"]
    assert "instruction-tuning" in meta["tags"]
    assert meta["configs"] == [
        {
            "config_name": "default",
            # The Hub's split names (dev rows published as `validation`), lensforge's file names.
            "data_files": [
                {"split": hub, "path": f"data/{s}.parquet"}
                for s, hub in (("train", "train"), ("dev", "validation"), ("test", "test"))
            ],
        }
    ]
    splits = {s["name"]: s["num_examples"] for s in meta["dataset_info"]["splits"]}
    assert splits == {"train": 5, "validation": 2, "test": 3}
    assert snapshot["counts"] == {"train": 5, "dev": 2, "test": 3}
    features = {f["name"]: f for f in meta["dataset_info"]["features"]}
    assert features["messages"]["list"] == [{"name": "role", "dtype": "string"}, {"name": "content", "dtype": "string"}]
    assert all(features[c]["dtype"] == "string" for c in ("id", "instruction", "input", "output"))
    body = card.split("\n---\n", 1)[1]
    for d in DATASETS:
        assert d["license"] in body
        assert d["citation"] in body
        assert d["dataset_id"] in body
        for label in d["label_space"]:
            assert f"`{label}`" in body
    assert body.count("```bibtex") == 2  # the two bibtex citations; the plain-text one is fenced as text
    assert "Hate Speech and Offensive Content" in body and "\\|" not in body.split("## Citations")[1]
    for fact in ("`language`", "`en`", "`42`", "`v000000000000000`", "`m000000000000002`", "lensforge `0.1.0`"):
        assert fact in body


def test_card_uses_a_hub_licence_id_when_all_sources_share_one():
    same = [dict(d, license="CC BY 4.0") for d in DATASETS[:2]]
    meta = _front_matter(render_card({"inputs": {}}, same, title="t", summary={"rows": {"train": 4, "test": 2}}))
    assert meta["license"] == "cc-by-4.0"
    assert meta["language"] == ["ar", "en"]
    one = _front_matter(render_card({}, DATASETS[2:], title="t", summary={"rows": {"train": 1, "test": 1}}))
    assert one["license"] == "other" and one["license_name"] == "research-purpose-only"


def test_export_loads_with_datasets(snapshot, tmp_path):
    import datasets

    out = export_to_dir(snapshot["dir"], tmp_path / "export")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "README.md",
        "data/dev.parquet",
        "data/test.parquet",
        "data/train.parquet",
        "manifest.json",
        "recipes/README.md",
        "recipes/axolotl.yaml",
        "recipes/train_trl.py",
    ]
    ds = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf-cache"))
    assert set(ds) == {"train", "validation", "test"}  # dev rows are published under the Hub's name
    assert {lensforge_split(s): ds[s].num_rows for s in ds} == snapshot["counts"]
    message = datasets.List({"role": datasets.Value("string"), "content": datasets.Value("string")})
    expected = {c: datasets.Value("string") for c in SNAPSHOT_SCHEMA if c != "messages"} | {"messages": message}
    assert ds["train"].features == datasets.Features(expected)
    rows = {r["id"]: r for r in ds["train"]}
    arabic = rows["ar/ArSarcasm-v2@v2:train:0"]
    assert [m["role"] for m in arabic["messages"]] == ["system", "user", "assistant"]
    assert arabic["messages"][2]["content"] == "Label: sarcastic"
    assert "ثلاث ساعات" in arabic["messages"][1]["content"]
    assert set(ds["test"]["language"]) == {"ar", "en", "hi"}


def test_card_leaves_out_an_empty_split_so_the_folder_still_loads(tmp_path):
    import datasets

    folder = tmp_path / "nodev"
    (folder / "data").mkdir(parents=True)
    counts = {}
    for split in ("train", "dev", "test"):
        frame = _rows(split).filter(pl.col("dataset") == "hi/hasoc2019@2019")
        frame.write_parquet(folder / "data" / f"{split}.parquet")
        counts[split] = frame.height
    assert counts["dev"] == 0
    card = render_card(_manifest(counts), DATASETS[2:], title="hindi only", summary={"rows": counts})
    (folder / "README.md").write_text(card, encoding="utf-8")
    assert [f["split"] for f in _front_matter(card)["configs"][0]["data_files"]] == ["train", "test"]
    ds = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "hf-cache"))
    assert {s: ds[s].num_rows for s in ds} == {"train": 1, "test": 1}


# --- local export -----------------------------------------------------------------------------------------------


def test_export_refuses_a_foreign_folder_and_replaces_its_own_earlier_export(snapshot, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(LensforgeError, match="not empty"):
        export_to_dir(snapshot["dir"], foreign)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]

    target = tmp_path / "again"
    export_to_dir(snapshot["dir"], target)
    export_to_dir(snapshot["dir"], target)  # an earlier export of the same snapshot: replaced
    assert (target / "README.md").read_text(encoding="utf-8") == snapshot["card"]

    (target / "extra.txt").write_text("added by hand", encoding="utf-8")
    with pytest.raises(LensforgeError, match="not empty"):
        export_to_dir(snapshot["dir"], target)
    assert (target / "extra.txt").is_file()

    with pytest.raises(LensforgeError, match="overlap"):
        export_to_dir(snapshot["dir"], snapshot["dir"] / "inside")
    assert not list(tmp_path.glob(".*.tmp"))  # no temp folders left behind


def test_dir_export_is_recorded(ws, snapshot, tmp_path):
    result = export_snapshot(ws, SID, tmp_path / "out", actor="tester")
    assert Path(result["path"]) == (tmp_path / "out").resolve()
    assert _publications(ws) == [(SID, str((tmp_path / "out").resolve()), "dir", None, None, None, None, "tester")]
    (event,) = _publish_events(ws)
    assert event["subject"] == SID and event["payload"]["kind"] == "dir"
    with pytest.raises(LensforgeError, match="does not hold an export"):
        record_dir_export(ws, SID, tmp_path, "tester")


# --- the Hub push -----------------------------------------------------------------------------------------------


def test_publish_makes_one_commit_tags_it_and_records_it(ws, snapshot, online, monkeypatch):
    import huggingface_hub

    FakeHub.instances.clear()
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHub)  # the boundary: the client publish_to_hub builds
    result = publish_to_hub(ws, SID, "QCRI/lensforge-ar-en-hi", private=True, tag="v1.0", actor="tester")

    (hub,) = FakeHub.instances
    assert hub.token == FAKE_TOKEN  # handed to the client, and nowhere else
    ((repo_args, repo_kwargs),) = hub.named("create_repo")
    assert repo_args == ("QCRI/lensforge-ar-en-hi",)
    assert repo_kwargs["repo_type"] == "dataset" and repo_kwargs["private"] is True and repo_kwargs["exist_ok"]
    ((_, upload),) = hub.named("upload_folder")
    assert Path(upload["folder_path"]).name == SID  # the export layout of the snapshot, training recipes included
    assert hub.uploaded == [
        *sorted(p.relative_to(snapshot["dir"]).as_posix() for p in snapshot["dir"].rglob("*") if p.is_file()),
        "recipes/README.md",
        "recipes/axolotl.yaml",
        "recipes/train_trl.py",
    ]
    assert upload["repo_id"] == "QCRI/lensforge-ar-en-hi" and upload["repo_type"] == "dataset"
    assert SID in upload["commit_message"]
    ((tag_args, tag_kwargs),) = hub.named("create_tag")
    assert tag_args == ("QCRI/lensforge-ar-en-hi",)
    assert tag_kwargs["tag"] == "v1.0" and tag_kwargs["revision"] == SHA and tag_kwargs["repo_type"] == "dataset"
    assert [name for name, _, _ in hub.calls] == ["create_repo", "upload_folder", "create_tag"]

    url = "https://huggingface.co/datasets/QCRI/lensforge-ar-en-hi"
    assert result["commit_sha"] == SHA and result["tag"] == "v1.0" and result["url"] == url
    assert _publications(ws) == [(SID, "QCRI/lensforge-ar-en-hi", "hub", SHA, "v1.0", url, True, "tester")]
    (event,) = _publish_events(ws)
    assert event["actor"] == "tester" and event["subject"] == SID
    assert event["payload"]["commit_sha"] == SHA and event["payload"]["target"] == "QCRI/lensforge-ar-en-hi"

    # The token is nowhere: catalog values, the catalog file, the snapshot and the result.
    assert FAKE_TOKEN not in _catalog_dump(ws)
    for path in ws.root.rglob("*"):
        if path.is_file():
            assert FAKE_TOKEN.encode() not in path.read_bytes(), path
    assert FAKE_TOKEN not in json.dumps(result)


def test_publish_without_tag_passes_api_and_makes_no_tag(ws, snapshot, online):
    hub = FakeHub()
    result = publish_to_hub(ws, SID, "org/name.v2", actor="tester", api=hub)
    assert [name for name, _, _ in hub.calls] == ["create_repo", "upload_folder"]
    assert hub.named("create_repo")[0][1]["private"] is False
    assert result["tag"] is None and _publications(ws)[0][3] == SHA


def test_missing_token_fails_and_records_nothing(ws, snapshot, online, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    hub = FakeHub()
    with pytest.raises(LensforgeError, match="set HF_TOKEN"):
        publish_to_hub(ws, SID, "org/name", actor="tester", api=hub)
    assert hub.calls == [] and _publications(ws) == [] and _publish_events(ws) == []


def test_failed_upload_never_shows_the_token(ws, snapshot, online):
    hub = FakeHub(fail="upload")
    with pytest.raises(LensforgeError) as info:
        publish_to_hub(ws, SID, "org/name", actor="tester", api=hub)
    assert "uploading" in str(info.value) and "401" in str(info.value)
    assert FAKE_TOKEN not in str(info.value) and FAKE_TOKEN not in repr(info.value.args)
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert _publications(ws) == [] and _publish_events(ws) == []


def test_failed_tag_still_records_the_commit(ws, snapshot, online):
    hub = FakeHub(fail="tag")
    with pytest.raises(LensforgeError, match="409"):
        publish_to_hub(ws, SID, "org/name", tag="v1", actor="tester", api=hub)
    assert _publications(ws)[0][3:5] == (SHA, None)


@pytest.mark.parametrize("repo", ["noslash", "a/b/c", "bad name/x", "/x", "org/", "org/-x", "org/a..b", "org/n@me"])
def test_bad_repo_names_are_refused_before_anything(ws, snapshot, online, repo):
    with pytest.raises(LensforgeError, match="invalid Hub repo"):
        validate_repo_id(repo)
    hub = FakeHub()
    with pytest.raises(LensforgeError, match="invalid Hub repo"):
        publish_to_hub(ws, SID, repo, actor="tester", api=hub)
    assert hub.calls == [] and _publications(ws) == []


def test_good_repo_names_pass():
    for repo in ("QCRI/LlamaLens-Arabic", "my_org/name.v2", "a/b"):
        assert validate_repo_id(repo) == repo


def test_unknown_snapshot_is_refused(ws, snapshot, online):
    hub = FakeHub()
    with pytest.raises(LensforgeError, match="no snapshot 'snope'"):
        publish_to_hub(ws, "snope", "org/name", actor="tester", api=hub)
    with pytest.raises(LensforgeError, match="no snapshot 'snope'"):
        export_snapshot(ws, "snope", Path("unused"), actor="tester")
    assert hub.calls == []


@pytest.mark.parametrize("how", ["env", "constant"])
def test_offline_push_with_the_real_client_fails_at_once(ws, snapshot, monkeypatch, how):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1" if how == "env" else "0")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", how == "constant")
    start = time.monotonic()
    with pytest.raises(LensforgeError, match="offline") as info:
        publish_to_hub(ws, SID, "org/name", actor="tester")
    assert time.monotonic() - start < 2.0
    assert "--to-dir" in str(info.value) and FAKE_TOKEN not in str(info.value)
    assert _publications(ws) == []
