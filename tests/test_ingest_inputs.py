"""Ingest of bad and unusual inputs: clear errors, quarantined records with lines, every format reader."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import polars as pl
import pytest
import yaml

from lensforge.catalog.datasets import import_entries
from lensforge.catalog.registry import load_yaml_text
from lensforge.errors import LensforgeError
from lensforge.ingest.run import IngestParams, ingest_dataset
from lensforge.ingest.versions import current_version, load_quarantine, load_rows

TWEETS = [
    ("The minister announced new vaccine rules today", "yes"),
    ("Just had coffee with my best friend, lovely morning", "no"),
    ("Officials say 40% of hospitals are full this week", "yes"),
    ("Watching the game tonight with the family", "no"),
    ("Government confirms schools will close on Monday", "yes"),
    ("My cat is sleeping on the keyboard again", "no"),
    ("Report claims the virus spreads through water", "yes"),
    ("What a beautiful sunset at the beach", "no"),
]


def _entry(name: str, fmt: str, files: list[dict], **extra) -> dict:
    spec = {
        "format": fmt,
        "files": files,
        "columns": {"text": "text", "label": "label", "id": "id"},
        "labels": {"space": ["yes", "no"]},
        **extra,
    }
    return {
        "name": name,
        "language": "en",
        "version": "1",
        "task": "Claim Detection",
        "task_type": "classification",
        "source": {"local": {"slug": name.lower()}},
        "ingest": spec,
    }


def _register(ws, entry: dict):
    loaded = load_yaml_text(yaml.safe_dump(entry), "test.yaml")
    import_entries(ws, loaded, actor="tester", source="test")
    return loaded[0].entry


def _ingest(ws, sources: Path, entry: dict):
    e = _register(ws, entry)
    return ingest_dataset(ws, e, sources=sources, params=IngestParams(), actor="tester")


def _tsv(rows: list[tuple[str, str]], header: str = "id\ttext\tlabel") -> str:
    return header + "\n" + "".join(f"{i}\t{t}\t{lab}\n" for i, (t, lab) in enumerate(rows, start=1))


@pytest.fixture
def src(tmp_path):
    return tmp_path / "sources"


def _write(src: Path, slug: str, name: str, data: bytes | str) -> None:
    folder = src / slug
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def test_empty_file_is_a_clear_error(ws, src):
    _write(src, "empty", "train.tsv", b"")
    entry = _entry("Empty", "tsv", [{"split": "train", "path": "train.tsv"}], quoting=False)
    with pytest.raises(LensforgeError, match="empty file"):
        _ingest(ws, src, entry)
    assert current_version(ws, "en/Empty@1") is None


def test_header_only_file_is_a_clear_error(ws, src):
    _write(src, "headeronly", "train.tsv", "id\ttext\tlabel\n")
    entry = _entry("HeaderOnly", "tsv", [{"split": "train", "path": "train.tsv"}], quoting=False)
    with pytest.raises(LensforgeError, match="header but no records"):
        _ingest(ws, src, entry)


def test_missing_label_column_names_the_column(ws, src):
    _write(src, "nolabel", "train.tsv", "id\ttext\n1\tsome text here\n")
    entry = _entry("NoLabel", "tsv", [{"split": "train", "path": "train.tsv"}], quoting=False)
    with pytest.raises(LensforgeError, match=r"no column 'label' for the label \(columns: id, text\)"):
        _ingest(ws, src, entry)


def test_label_outside_the_space_makes_the_version_invalid(ws, src):
    rows = TWEETS * 4 + [("Breaking: the port is closed for repairs", "maybe")]
    _write(src, "odd", "train.tsv", _tsv(rows))
    entry = _entry("Odd", "tsv", [{"split": "train", "path": "train.tsv"}], quoting=False)
    out = _ingest(ws, src, entry)
    assert not out.valid
    assert any("be_in_set(label)" in f for f in out.failed_expectations)
    # Later stages refuse it unless a reason is recorded.
    from lensforge.catalog.db import transaction
    from lensforge.ingest.versions import require_valid

    with transaction(ws) as con, pytest.raises(LensforgeError, match=r"failed \d+ validation"):
        require_valid(con, out.version_id, used_by="test", actor="tester")
    with transaction(ws) as con:
        require_valid(con, out.version_id, used_by="test", actor="tester", allow_invalid_reason="label fixed upstream")
        assert con.execute("SELECT reason FROM invalid_overrides").fetchall() == [("label fixed upstream",)]


def test_invalid_utf8_nul_and_truncated_last_line_are_quarantined(ws, src):
    body = _tsv(TWEETS * 3).encode("utf-8")
    body += b"90\tbad bytes \xff\xfe in this tweet\tyes\n"
    body += b"91\ta NUL \x00 inside\tno\n"
    body += b"92\ttruncated final line without label"  # no tab, no newline
    _write(src, "dirty", "train.tsv", body)
    entry = _entry("Dirty", "tsv", [{"split": "train", "path": "train.tsv"}], quoting=False)
    out = _ingest(ws, src, entry)
    q = load_quarantine(ws, current_version(ws, "en/Dirty@1"))
    by_reason = {
        r["reason"]: r for r in q.filter(pl.col("reason").is_in(["bad_encoding", "bad_bytes", "ragged_row"])).to_dicts()
    }
    n = len(TWEETS) * 3
    assert by_reason["bad_encoding"]["source_line"] == n + 2
    assert "\\xff" in by_reason["bad_encoding"]["text_original"]
    assert by_reason["bad_bytes"]["source_line"] == n + 3
    assert by_reason["ragged_row"]["source_line"] == n + 4
    assert by_reason["ragged_row"]["detail"] == "2 fields, header has 3"
    assert out.records_read == n + 3
    assert sum(out.kept.values()) + sum(out.dropped.values()) == out.records_read


def test_quoted_csv_with_crlf_records_and_lf_inside_posts(ws, src):
    data = 'id,text,label\r\n1,"first line\nsecond line of post",yes\r\n2,"a, comma and ""quotes""",no\r\n'
    data += "".join(f'{i},"{t}",{lab}\r\n' for i, (t, lab) in enumerate(TWEETS, start=3))
    data += '99,"unclosed quote at the end,no'
    _write(src, "crlf", "train.csv", data)
    entry = _entry("Crlf", "csv", [{"split": "train", "path": "train.csv"}])
    out = _ingest(ws, src, entry)
    v = current_version(ws, "en/Crlf@1")
    rows = load_rows(ws, v)
    first = rows.filter(pl.col("text").str.starts_with("first line"))
    assert first["text"].item() == "first line second line of post"
    assert first["text_original"].item() == "first line\nsecond line of post"
    assert first["source_line"].item() == 2
    assert rows.filter(pl.col("text").str.contains("comma"))["text"].item() == 'a, comma and "quotes"'
    third = rows.filter(pl.col("text") == TWEETS[0][0])
    assert third["source_line"].item() == 5  # record 3 starts after the two-line record
    assert out.records_read == len(TWEETS) + 3
    q = load_quarantine(ws, v)
    assert q.filter(pl.col("source_line") == len(TWEETS) + 5)["reason"].to_list() in (["ragged_row"], ["unparseable"])


def test_jsonl_json_parquet_xlsx_and_zip_members(ws, src, tmp_path):
    recs = [{"id": i, "text": t, "label": lab} for i, (t, lab) in enumerate(TWEETS, start=1)]
    _write(src, "jl", "train.jsonl", "\n".join(json.dumps(r) for r in recs) + "\n{not json}\n")
    out = _ingest(ws, src, _entry("Jl", "jsonl", [{"split": "train", "path": "train.jsonl"}]))
    assert out.dropped.get("unparseable") == 1 and out.records_read == len(recs) + 1

    _write(src, "js", "data.json", json.dumps({"rows": recs}))
    out = _ingest(ws, src, _entry("Js", "json", [{"split": "train", "path": "data.json"}], records_key="rows"))
    assert out.records_read == len(recs)

    (src / "pq").mkdir(parents=True)
    pl.DataFrame(recs).write_parquet(src / "pq" / "train.parquet")
    out = _ingest(ws, src, _entry("Pq", "parquet", [{"split": "train", "path": "train.parquet"}]))
    assert sum(out.kept.values()) == len(recs)

    import openpyxl

    wb = openpyxl.Workbook()
    sheet = wb.active
    sheet.append(["id", "text", "label"])
    for r in recs:
        sheet.append([r["id"], r["text"], r["label"]])
    (src / "xl").mkdir(parents=True)
    wb.save(src / "xl" / "train.xlsx")
    out = _ingest(ws, src, _entry("Xl", "xlsx", [{"split": "train", "path": "train.xlsx"}]))
    rows = load_rows(ws, current_version(ws, "en/Xl@1"))
    assert sorted(rows["source_line"].to_list()) == list(range(2, len(recs) + 2))

    (src / "zp").mkdir(parents=True)
    with zipfile.ZipFile(src / "zp" / "bundle.zip", "w") as zf:
        zf.writestr("/abs/train.tsv", _tsv(TWEETS))  # an absolute member name, as some archives have
        zf.writestr("__MACOSX/._train.tsv", b"junk")
    entry = _entry("Zp", "tsv", [{"split": "train", "path": "bundle.zip", "member": "abs/train.tsv"}], quoting=False)
    out = _ingest(ws, src, entry)
    assert out.records_read == len(TWEETS)


def test_hub_source_offline_fails_at_once_with_a_hint(ws, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    entry = {
        "name": "HubOnly",
        "language": "ar",
        "task": "Claim Detection",
        "task_type": "classification",
        "source": {"hub": {"repo": "QCRI/LlamaLens-Arabic", "config": "ans-claim"}},
    }
    e = _register(ws, entry)
    with pytest.raises(LensforgeError) as err:
        ingest_dataset(ws, e, sources=None, params=IngestParams(), actor="tester")
    msg = str(err.value)
    assert "ar/HubOnly" in msg and "QCRI/LlamaLens-Arabic" in msg and "offline" in msg and "--sources" in msg


def test_missing_local_source_names_the_folder(ws, tmp_path):
    entry = _entry("Gone", "tsv", [{"split": "train", "path": "train.tsv"}], quoting=False)
    e = _register(ws, entry)
    with pytest.raises(LensforgeError, match=r"no local copy found at .*gone"):
        ingest_dataset(ws, e, sources=tmp_path, params=IngestParams(), actor="tester")


def test_a_crash_before_the_catalog_commit_leaves_no_version_and_a_rerun_completes(ws, src, monkeypatch):
    _write(src, "crash", "train.tsv", _tsv(TWEETS * 5))
    entry = _entry("Crash", "tsv", [{"split": "train", "path": "train.tsv"}], quoting=False)
    e = _register(ws, entry)
    import lensforge.ingest.versions as versions_mod

    real = versions_mod.record_events

    def boom(*args, **kwargs):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(versions_mod, "record_events", boom)  # the transaction's last statement
    with pytest.raises(KeyboardInterrupt):
        ingest_dataset(ws, e, sources=src, params=IngestParams(), actor="tester")
    assert current_version(ws, "en/Crash@1") is None  # the catalog transaction rolled back
    monkeypatch.setattr(versions_mod, "record_events", real)
    out = ingest_dataset(ws, e, sources=src, params=IngestParams(), actor="tester")
    assert out.status == "new"
    assert current_version(ws, "en/Crash@1")["version_id"] == out.version_id
    folder = ws.root / out.path
    assert sorted(p.name for p in folder.iterdir()) == [
        "dev.parquet",
        "quarantine.parquet",
        "report.json",
        "test.parquet",
        "train.parquet",
    ]
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temporary folders left


def test_changed_input_makes_a_new_version(ws, src):
    _write(src, "change", "train.tsv", _tsv(TWEETS * 4))
    entry = _entry("Change", "tsv", [{"split": "train", "path": "train.tsv"}], quoting=False)
    first = _ingest(ws, src, entry)
    assert _ingest(ws, src, entry).status == "unchanged"
    _write(src, "change", "train.tsv", _tsv(TWEETS * 4 + [("Police report a new road closure downtown", "yes")]))
    second = _ingest(ws, src, entry)
    assert second.status == "new" and second.version_id != first.version_id
    assert current_version(ws, "en/Change@1")["version_id"] == second.version_id
    params_changed = ingest_dataset(ws, _register(ws, entry), sources=src, params=IngestParams(seed=7), actor="t")
    assert params_changed.version_id not in (first.version_id, second.version_id)
