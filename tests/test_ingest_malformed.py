"""A corpus of malformed files (issue 10): for every file, an independent count of its records equals
kept + quarantined, or the run stops with one line naming the file (and line). Never a traceback.

The files are generated here, small, in a temporary folder. The independent counts use Python's csv
module (with no field-size limit) or plain line counts, never lensforge's readers.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import polars as pl
import pytest
import yaml
from clihelp import run_cli
from test_ingest_inputs import TWEETS, _entry, _register, _write

from lensforge.ingest.run import IngestParams, ingest_dataset
from lensforge.ingest.versions import current_version, load_quarantine, load_rows

# Distinct texts, so dedup does not blur the counts.
ROWS = [(f"{t} (report number {i})", lab) for i in range(30) for t, lab in TWEETS[:4]]


def csv_records(data: bytes, delimiter: str = ",") -> int:
    """Records after the header as Python's csv module reads them, with no field-size limit."""
    old = csv.field_size_limit()
    csv.field_size_limit(1 << 30)
    try:
        return len(list(csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=delimiter))) - 1
    finally:
        csv.field_size_limit(old)


def line_records(data: bytes, header: bool = True) -> int:
    """Physical lines (a last line without newline counts), minus the header."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return len(lines) - (1 if header else 0)


def quoted_csv(rows: list[tuple[str, str]], start: int = 1) -> str:
    return "".join(f'{i},"{t}",{lab}\n' for i, (t, lab) in enumerate(rows, start=start))


def tsv(rows: list[tuple[str, str]], start: int = 1) -> str:
    return "".join(f"{i}\t{t}\t{lab}\n" for i, (t, lab) in enumerate(rows, start=start))


def _case_files() -> dict[str, tuple[str, bytes, dict, int]]:
    """name -> (file name, bytes, spec extras, independent record count)."""
    out: dict[str, tuple[str, bytes, dict, int]] = {}
    huge = "word " * 40_000  # 200,000 characters, beyond Python csv's default 131,072 field limit
    data = ("id,text,label\n" + quoted_csv(ROWS[:50]) + f'51,"{huge}",yes\n' + quoted_csv(ROWS[50:], 52)).encode()
    out["oversized_field"] = ("train.csv", data, {}, csv_records(data))
    data = (
        'id,text,label\r\n1,"first line\nsecond line, with a comma and ""quotes""",yes\r\n'
        + quoted_csv(ROWS[:60], 2).replace("\n", "\r\n")
    ).encode()
    out["crlf_records_lf_inside"] = ("train.csv", data, {}, csv_records(data))
    data = (
        "id,text,label\n" + quoted_csv(ROWS[:40]) + '41,"a quote never closed,yes\n' + quoted_csv(ROWS[40:], 42)
    ).encode()
    out["unclosed_quote_mid_file"] = ("train.csv", data, {}, line_records(data))
    data = ("id\ttext\tlabel\n" + tsv(ROWS[:30]) + "31\tshort\n\n32\ttoo\tmany\tfields\n" + tsv(ROWS[30:], 33)).encode()
    out["ragged_and_blank_lines"] = ("train.tsv", data, {"quoting": False}, line_records(data))
    body = tsv(ROWS[:30]).encode() + b"31\tbad \xff\xfe bytes here\tyes\n32\ta NUL \x00 inside\tno\n"
    data = b"id\ttext\tlabel\n" + body + tsv(ROWS[30:], 33).encode() + b"99\ttruncated"
    out["bad_bytes_and_truncated_line"] = ("train.tsv", data, {"quoting": False}, line_records(data))
    lines = [json.dumps({"id": i, "text": t, "label": lab}) for i, (t, lab) in enumerate(ROWS)]
    lines[10] = '{"id": 10, "text": broken json'
    lines[20] = "[1, 2, 3]"
    lines[30] = ""
    data = ("\n".join(lines) + "\n").encode()
    out["jsonl_broken_lines"] = ("train.jsonl", data, {}, line_records(data, header=False))
    return out


CASES = _case_files()


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_record_is_kept_or_quarantined(ws, tmp_path, case):
    name, data, extra, independent = CASES[case]
    src = tmp_path / "src"
    _write(src, case, name, data)
    fmt = name.rsplit(".", 1)[1]
    entry = _entry(case.title().replace("_", ""), fmt, [{"split": "train", "path": name}], **extra)
    entry["source"]["local"]["slug"] = case
    out = ingest_dataset(ws, _register(ws, entry), sources=src, params=IngestParams(), actor="t")
    assert out.records_read == independent, (case, out.records_read, independent)
    assert sum(out.kept.values()) + sum(out.dropped.values()) == independent
    q = load_quarantine(ws, current_version(ws, f"en/{entry['name']}@1"))
    assert q.height == sum(out.dropped.values()) and q["source_line"].null_count() == 0


def test_an_oversized_field_costs_only_its_own_record(ws, tmp_path):
    name, data, _, _ = CASES["oversized_field"]
    _write(tmp_path, "big", name, data)
    entry = _entry("Big", "csv", [{"split": "train", "path": name, "expected_records": len(ROWS) + 1}])
    out = ingest_dataset(ws, _register(ws, entry), sources=tmp_path, params=IngestParams(), actor="t")
    assert out.records_read == len(ROWS) + 1
    assert out.dropped == {"too_long": 1}
    assert sum(out.kept.values()) == len(ROWS)
    q = load_quarantine(ws, current_version(ws, "en/Big@1"))
    assert q["source_line"].to_list() == [52] and q["detail"].item() == "199999 characters"  # trailing space cleaned
    assert out.valid


def test_unclosed_quote_is_quarantined_on_its_line_and_reading_resumes(ws, tmp_path):
    name, data, _, _ = CASES["unclosed_quote_mid_file"]
    _write(tmp_path, "unclosed", name, data)
    out = ingest_dataset(
        ws,
        _register(ws, _entry("Unclosed", "csv", [{"split": "train", "path": name}])),
        sources=tmp_path,
        params=IngestParams(),
        actor="t",
    )
    assert out.dropped == {"unparseable": 1}
    q = load_quarantine(ws, current_version(ws, "en/Unclosed@1"))
    assert q["source_line"].item() == 42 and "never closed" in q["detail"].item()
    rows = load_rows(ws, current_version(ws, "en/Unclosed@1"))
    assert rows.filter(pl.col("source_line") == 43)["text"].item() == ROWS[40][0]


def test_bare_quotes_read_with_quoting_on_make_the_version_invalid(ws, tmp_path):
    # A TSV whose texts carry bare quotes: with quoting on, "She said... opens a field that the next odd
    # quote closes, gluing lines into one record (the CT25 trap). The declared count catches it.
    rows = list(ROWS[:40])
    rows[5] = ('"Nobody listens, she said of the new ministry plan', "yes")
    rows[9] = ('The cabinet denied it" in a short statement today', "no")
    data = ("id\ttext\tlabel\n" + tsv(rows)).encode()
    _write(tmp_path, "bare", "train.tsv", data)
    entry = _entry("Bare", "tsv", [{"split": "train", "path": "train.tsv", "expected_records": 40}], quoting=True)
    out = ingest_dataset(ws, _register(ws, entry), sources=tmp_path, params=IngestParams(), actor="t")
    assert out.records_read == csv_records(data, "\t") == 36  # lines 7-11 became one record
    assert sum(out.kept.values()) + sum(out.dropped.values()) == out.records_read
    assert not out.valid
    assert "ingest_records_match_declared(train.tsv)" in out.failed_expectations
    (problem,) = out.problems
    assert "train.tsv" in problem and "40 records declared, 36 read" in problem and "quoting: false" in problem
    # Read as the registry should say, the same file is fine.
    fixed = _entry("Bare", "tsv", [{"split": "train", "path": "train.tsv", "expected_records": 40}], quoting=False)
    again = ingest_dataset(ws, _register(ws, fixed), sources=tmp_path, params=IngestParams(), actor="t")
    assert again.records_read == 40 and again.valid and again.version_id != out.version_id


def test_a_column_name_too_few_leaves_an_empty_split_and_an_invalid_version(ws, tmp_path):
    data = tsv(ROWS[:40]).encode()  # 3 fields per line, no header
    _write(tmp_path, "headless", "train.tsv", data)
    entry = _entry(
        "Headless",
        "tsv",
        [{"split": "train", "path": "train.tsv", "expected_records": 40}],
        quoting=False,
        header=False,
        column_names=["text", "label"],
    )
    entry["ingest"]["columns"].pop("id")
    out = ingest_dataset(ws, _register(ws, entry), sources=tmp_path, params=IngestParams(), actor="t")
    assert out.records_read == 40 and out.dropped == {"ragged_row": 40}
    assert not out.valid
    assert "ingest_split_has_rows(train)" in out.failed_expectations
    assert any("no train row was kept" in p and "column_names" in p for p in out.problems)


def _cli_ingest(capsys, ws, tmp_path, case: str, name: str, data: bytes, **extra):
    src = tmp_path / "src"
    _write(src, case.lower(), name, data)
    fmt = name.rsplit(".", 1)[1]
    entry = _entry(case, fmt, [{"split": "train", "path": name}], **extra)
    reg = tmp_path / f"{case}.yaml"
    reg.write_text(yaml.safe_dump(entry), encoding="utf-8")
    assert run_cli(capsys, "-w", str(ws.root), "catalog", "import", str(reg)).code == 0
    return run_cli(capsys, "-w", str(ws.root), "ingest", f"en/{case}@1", "--sources", str(src))


def _one_line_error(res, *needles: str) -> None:
    assert res.code == 1
    lines = [line for line in res.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.err
    assert "Traceback" not in res.err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_repeated_header_column_is_refused_naming_it(ws, tmp_path, capsys):
    data = ("id,text,text,label\n" + "".join(f'{i},"{t}","{t}",{lab}\n' for i, (t, lab) in enumerate(ROWS))).encode()
    res = _cli_ingest(capsys, ws, tmp_path, "Twice", "train.csv", data)
    _one_line_error(res, "train.csv, line 1", "'text' twice", "fields 2 and 3")


@pytest.mark.parametrize(
    ("blob", "kind"),
    [
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)) * 4, "a zip archive"),
        (bytes(range(256)) * 8, "binary data"),
        (b"PAR1\x15\x04\x15\x10" + b"\x00\x01" * 300, "a Parquet file"),
    ],
)
def test_binary_file_is_refused_with_escaped_bytes(ws, tmp_path, capsys, blob, kind):
    res = _cli_ingest(capsys, ws, tmp_path, "Binary", "train.csv", blob)
    _one_line_error(res, "train.csv", "not a delimited text file", kind)
    assert not any(ord(c) < 32 and c not in "\n" for c in res.err)  # no raw control bytes on the terminal


def test_expected_records_that_match_keep_the_version_valid(ws, tmp_path):
    data = ("id\ttext\tlabel\n" + tsv(ROWS)).encode()
    _write(tmp_path, "fine", "train.tsv", data)
    entry = _entry(
        "Fine", "tsv", [{"split": "train", "path": "train.tsv", "expected_records": len(ROWS)}], quoting=False
    )
    out = ingest_dataset(ws, _register(ws, entry), sources=tmp_path, params=IngestParams(), actor="t")
    assert out.valid and not out.problems
    v = current_version(ws, "en/Fine@1")
    (meta,) = v["raw_files"]
    assert meta["lines"] == meta["records"] == meta["expected_records"] == len(ROWS)


def test_a_killed_run_leaves_nothing_the_next_run_does_not_clean(ws, tmp_path):
    import os
    import time

    data = ("id\ttext\tlabel\n" + tsv(ROWS)).encode()
    _write(tmp_path, "killed", "train.tsv", data)
    entry = _entry("Killed", "tsv", [{"split": "train", "path": "train.tsv"}], quoting=False)
    e = _register(ws, entry)
    first = ingest_dataset(ws, e, sources=tmp_path, params=IngestParams(), actor="t")
    folder = (ws.root / first.path).parent
    # What a SIGKILL leaves: a temporary folder of a dead writer, and a renamed version never committed.
    stale_tmp = folder / f".{first.version_id}.pid999999999.abc123"
    stale_tmp.mkdir()
    (stale_tmp / "train.parquet").write_bytes(b"partial")
    orphan = folder / "v0000000000dead"
    orphan.mkdir()
    (orphan / "report.json").write_text("{}")
    old = time.time() - 3600
    os.utime(orphan, (old, old))
    recent = folder / "v00000000000new"  # could be another process between rename and commit: reported only
    recent.mkdir()
    out = ingest_dataset(ws, e, sources=tmp_path, params=IngestParams(), actor="t")
    assert out.status == "unchanged"
    actions = {Path(x["path"]).name: x["action"] for x in out.leftovers}
    assert actions == {
        stale_tmp.name: "removed",
        "v0000000000dead": "removed",
        "v00000000000new": "kept (may be in use)",
    }
    assert not stale_tmp.exists() and not orphan.exists() and recent.exists()
    assert (ws.root / first.path / "report.json").is_file()  # the listed version is untouched


def test_a_renamed_copy_never_shares_deletes_or_inherits_the_originals_version(ws, tmp_path):
    # Issue 10 item 3: the same files under another registry name used to hash to the same version id, so
    # ingesting the copy deleted the original's version and the copy inherited its label approvals.
    from lensforge.curate.mappings import approve, review
    from lensforge.ingest.api import ingest_report

    data = ("id\ttext\tlabel\n" + tsv(ROWS)).encode()
    _write(tmp_path, "orig", "train.tsv", data)
    original = _entry("Orig", "tsv", [{"split": "train", "path": "train.tsv"}], quoting=False)
    first = ingest_dataset(ws, _register(ws, original), sources=tmp_path, params=IngestParams(), actor="t")
    approve(ws, "en/Orig@1", [], actor="curator", all_auto=True, reason="checked by hand")
    copy = _entry("Copy", "tsv", [{"split": "train", "path": "train.tsv"}], quoting=False)
    copy["source"]["local"]["slug"] = "orig"  # the very same files
    second = ingest_dataset(ws, _register(ws, copy), sources=tmp_path, params=IngestParams(), actor="t")
    assert second.status == "new" and second.version_id != first.version_id
    assert current_version(ws, "en/Orig@1")["version_id"] == first.version_id
    assert ingest_report(ws, "en/Orig@1")["version"]["version_id"] == first.version_id
    assert review(ws, "en/Copy@1")["pending"]  # nobody approved the copy's labels
    assert not review(ws, "en/Orig@1")["pending"]
    again = ingest_dataset(ws, _register(ws, original), sources=tmp_path, params=IngestParams(), actor="t")
    assert again.status == "unchanged" and again.version_id == first.version_id
    # A change to how labels decode (or to the task) is a new version.
    relabelled = _entry("Orig", "tsv", [{"split": "train", "path": "train.tsv"}], quoting=False)
    relabelled["task"] = "Check-worthiness"
    third = ingest_dataset(ws, _register(ws, relabelled), sources=tmp_path, params=IngestParams(), actor="t")
    assert third.version_id != first.version_id
