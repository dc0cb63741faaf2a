"""Readers: one raw file, as its registry spec describes it, to string columns plus source line numbers.

A record that does not parse (wrong field count, invalid bytes, broken JSON) is never merged
into a neighbour or dropped: it comes back in `bad` with its line and reason, and counts as read.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from lensforge.catalog.spec import FileSpec, IngestSpec
from lensforge.errors import LensforgeError

LINE = "__line"
RAW = "__raw"
_SURROGATE = re.compile(r"[\udc80-\udcff]")
_BAD_SCHEMA = {LINE: pl.Int64, RAW: pl.String, "reason": pl.String, "detail": pl.String}


@dataclass
class RawRead:
    """What one file gave: parsed rows (all strings), unparseable records, and how many records in all."""

    rows: pl.DataFrame  # raw columns + __line
    bad: pl.DataFrame  # __line, __raw, reason, detail
    records: int
    columns: list[str]


def _bad_frame(lines: list[int], raws: list[str], reasons: list[str], details: list[str]) -> pl.DataFrame:
    return pl.DataFrame({LINE: lines, RAW: raws, "reason": reasons, "detail": details}, schema=_BAD_SCHEMA)


def load_bytes(path: Path, file: FileSpec) -> bytes:
    """The raw bytes of a file, or of a member inside a zip archive."""
    if not path.is_file():
        raise LensforgeError(f"source file not found: {path}")
    if file.member is None:
        return path.read_bytes()
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            # Some archives store members with an absolute path ("/x.tsv"); match either form.
            wanted = file.member.lstrip("/")
            hit = next((n for n in names if n == file.member or n.lstrip("/") == wanted), None)
            if hit is None:
                raise LensforgeError(f"{path}: archive has no member {file.member!r} (members: {', '.join(names[:8])})")
            return zf.read(hit)
    except zipfile.BadZipFile:
        raise LensforgeError(f"{path}: not a zip archive, but the spec names member {file.member!r}") from None


def decode(data: bytes, encoding: str, origin: str) -> str:
    """Decode with the spec's encoding; a UTF-8 BOM is dropped; invalid bytes survive as surrogates."""
    enc = encoding.lower().replace("_", "-")
    if enc in ("utf-8", "utf8", "utf-8-sig"):
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        enc = "utf-8"
    try:
        return data.decode(enc, errors="surrogateescape")
    except LookupError:
        raise LensforgeError(f"{origin}: unknown encoding {encoding!r}") from None


def _header_names(names: list[str]) -> list[str]:
    """Empty header fields (a leaked pandas index, say) get a positional name; duplicates get a suffix."""
    out: list[str] = []
    for i, name in enumerate(names):
        name = name.strip()
        if not name:
            name = f"_col{i}"
        base, k = name, 1
        while name in out:
            k += 1
            name = f"{base}_{k}"
        out.append(name)
    return out


def _split_bad_text(values: list[str]) -> tuple[list[int], list[str]]:
    """Indices of values carrying undecodable bytes or NUL, with the reason for each."""
    idx, reasons = [], []
    for i, v in enumerate(values):
        if _SURROGATE.search(v):
            idx.append(i)
            reasons.append("bad_encoding")
        elif "\x00" in v:
            idx.append(i)
            reasons.append("bad_bytes")
    return idx, reasons


def _printable(raw: str) -> str:
    """Undecodable bytes shown as \\xNN, the way a person would look for them in a hex editor."""
    return raw.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="backslashreplace")


def _lines_fast(data: bytes) -> pl.Series | None:
    """Every physical line through Polars' CSV reader (one column, no quoting), or None when the bytes
    need the careful path (NUL bytes, invalid UTF-8). Measured ~10x faster than splitting in Python."""
    if b"\x00" in data:
        return None
    try:
        frame = pl.read_csv(
            io.BytesIO(data),
            separator="\x00",
            quote_char=None,
            has_header=False,
            new_columns=["line"],
            infer_schema=False,
            comment_prefix=None,
        )
    except pl.exceptions.ComputeError:
        return None
    return frame["line"].fill_null("").str.strip_suffix("\r")


def _lines_careful(text: str, first_line: int, skip_header: bool) -> tuple[list[str], pl.DataFrame, pl.Series]:
    """Python split of decoded text; lines with undecodable bytes or NUL go to `bad` with their numbers."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    header = lines[:1] if skip_header else []
    body = lines[1:] if skip_header else lines
    bad_idx, bad_reasons = _split_bad_text(body)
    bad = _bad_frame(
        [first_line + i for i in bad_idx],
        [_printable(body[i]) for i in bad_idx],
        bad_reasons,
        ["invalid bytes for the declared encoding" if r == "bad_encoding" else "NUL byte" for r in bad_reasons],
    )
    skip = set(bad_idx)
    keep = [i for i in range(len(body)) if i not in skip]
    good = pl.Series([body[i] for i in keep], dtype=pl.String).str.strip_suffix("\r")
    numbers = pl.Series(LINE, [first_line + i for i in keep], dtype=pl.Int64)
    return header, bad, good.to_frame(RAW).with_columns(numbers)


def _read_delimited_unquoted(data: bytes, spec: IngestSpec, origin: str, delimiter: str, used: set[str]) -> RawRead:
    """One physical line = one record; the delimiter never appears inside a field."""
    first_line = 2 if spec.header else 1
    if data.startswith(b"\xef\xbb\xbf") and spec.encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig"):
        data = data[3:]
    fast = _lines_fast(data) if spec.encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig") else None
    if fast is not None:
        if fast.len() == 0:
            raise LensforgeError(f"{origin}: empty file")
        header_line = fast[0] if spec.header else None
        body = fast[1:] if spec.header else fast
        frame = body.to_frame(RAW).with_columns(
            pl.int_range(first_line, first_line + body.len(), dtype=pl.Int64).alias(LINE)
        )
        bad_enc = _bad_frame([], [], [], [])
        total = body.len()
    else:
        text = decode(data, spec.encoding, origin)
        header_lines, bad_enc, frame = _lines_careful(text, first_line, spec.header)
        if spec.header and not header_lines:
            raise LensforgeError(f"{origin}: empty file")
        header_line = header_lines[0].rstrip("\r") if header_lines else None
        total = frame.height + bad_enc.height
    if spec.header:
        assert header_line is not None
        header = _header_names(header_line.split(delimiter))
    else:
        header = list(spec.column_names or [])
    n_cols = len(header)
    frame = frame.with_columns(pl.col(RAW).str.split(delimiter).alias("__fields"))
    frame = frame.with_columns(pl.col("__fields").list.len().alias("__n"))
    ok = pl.col("__n") == n_cols
    if spec.ragged == "pad_unused":
        # Short rows are kept when every missing trailing column is one the spec does not use.
        last_used = max((header.index(c) for c in used if c in header), default=n_cols - 1)
        ok = ok | ((pl.col("__n") < n_cols) & (pl.col("__n") > last_used))
    blank_mask = pl.col(RAW).str.strip_chars() == ""
    good = frame.filter(ok & ~blank_mask)
    ragged = frame.filter(~ok & ~blank_mask)
    blank = frame.filter(blank_mask)
    cols = [pl.col("__fields").list.get(i, null_on_oob=True).alias(name) for i, name in enumerate(header)]
    rows = good.select([*cols, LINE])
    bad = pl.concat(
        [
            bad_enc,
            ragged.select(
                LINE,
                RAW,
                pl.lit("ragged_row").alias("reason"),
                pl.format("{} fields, header has " + str(n_cols), pl.col("__n")).alias("detail"),
            ),
            blank.select(LINE, RAW, pl.lit("empty_line").alias("reason"), pl.lit("blank line").alias("detail")),
        ]
    ).sort(LINE)
    return RawRead(rows=rows, bad=bad, records=total, columns=header)


def _read_delimited_quoted(text: str, spec: IngestSpec, origin: str, delimiter: str) -> RawRead:
    """CSV quoting: fields may hold the delimiter, quotes and newlines (CRLF records, LF inside posts)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', doublequote=True)
    records: list[list[str]] = []
    starts: list[int] = []
    prev_end = 0
    try:
        for rec in reader:
            starts.append(prev_end + 1)
            prev_end = reader.line_num
            records.append(rec)
    except csv.Error as exc:
        # Unparseable tail (e.g. an unclosed quote at end of file): keep it as one bad record.
        rest = text.split("\n")[prev_end:]
        starts.append(prev_end + 1)
        records.append(["\x00UNPARSEABLE\x00", f"{exc}", "\n".join(rest)])
    if not records:
        raise LensforgeError(f"{origin}: empty file")
    if spec.header:
        header = _header_names(records[0])
        body, body_starts = records[1:], starts[1:]
    else:
        header = list(spec.column_names or [])
        body, body_starts = records, starts
    n_cols = len(header)
    good: list[list[str]] = []
    good_lines: list[int] = []
    bad_lines, bad_raws, bad_reasons, bad_details = [], [], [], []
    for rec, line in zip(body, body_starts, strict=True):
        if rec and rec[0] == "\x00UNPARSEABLE\x00":
            bad_lines.append(line)
            bad_raws.append(_printable(rec[2]))
            bad_reasons.append("unparseable")
            bad_details.append(rec[1])
            continue
        joined = delimiter.join(rec)
        if not rec:
            bad_lines.append(line)
            bad_raws.append("")
            bad_reasons.append("empty_line")
            bad_details.append("blank line")
        elif _SURROGATE.search(joined):
            bad_lines.append(line)
            bad_raws.append(_printable(joined))
            bad_reasons.append("bad_encoding")
            bad_details.append("invalid bytes for the declared encoding")
        elif "\x00" in joined:
            bad_lines.append(line)
            bad_raws.append(joined)
            bad_reasons.append("bad_bytes")
            bad_details.append("NUL byte")
        elif len(rec) != n_cols:
            bad_lines.append(line)
            bad_raws.append(joined)
            bad_reasons.append("ragged_row")
            bad_details.append(f"{len(rec)} fields, header has {n_cols}")
        else:
            good.append(rec)
            good_lines.append(line)
    columns = list(zip(*good, strict=True)) if good else [() for _ in header]
    rows = pl.DataFrame(
        {name: pl.Series(name, list(col), dtype=pl.String) for name, col in zip(header, columns, strict=True)}
    )
    rows = rows.with_columns(pl.Series(LINE, good_lines, dtype=pl.Int64))
    return RawRead(
        rows=rows, bad=_bad_frame(bad_lines, bad_raws, bad_reasons, bad_details), records=len(body), columns=header
    )


def _read_jsonl(text: str, origin: str) -> RawRead:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise LensforgeError(f"{origin}: empty file")
    objs: list[dict] = []
    good_lines: list[int] = []
    bad_lines, bad_raws, bad_reasons, bad_details = [], [], [], []
    for i, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped:
            bad_lines.append(i)
            bad_raws.append("")
            bad_reasons.append("empty_line")
            bad_details.append("blank line")
            continue
        if _SURROGATE.search(line):
            bad_lines.append(i)
            bad_raws.append(_printable(line))
            bad_reasons.append("bad_encoding")
            bad_details.append("invalid bytes for the declared encoding")
            continue
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError as exc:
            bad_lines.append(i)
            bad_raws.append(line)
            bad_reasons.append("unparseable")
            bad_details.append(f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(obj, dict):
            bad_lines.append(i)
            bad_raws.append(line)
            bad_reasons.append("unparseable")
            bad_details.append("a JSON line that is not an object")
            continue
        objs.append(obj)
        good_lines.append(i)
    return _records_to_read(objs, good_lines, _bad_frame(bad_lines, bad_raws, bad_reasons, bad_details), len(lines))


def _stringify(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _records_to_read(objs: list[dict], lines: list[int], bad: pl.DataFrame, total: int) -> RawRead:
    names: list[str] = []
    for obj in objs:
        for key in obj:
            if key not in names:
                names.append(key)
    data = {name: pl.Series(name, [_stringify(o.get(name)) for o in objs], dtype=pl.String) for name in names}
    rows = pl.DataFrame(data).with_columns(pl.Series(LINE, lines, dtype=pl.Int64))
    return RawRead(rows=rows, bad=bad, records=total, columns=names)


def _read_json(text: str, spec: IngestSpec, origin: str) -> RawRead:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LensforgeError(f"{origin}: invalid JSON: {exc.msg} at line {exc.lineno}") from None
    if spec.records_key:
        if not isinstance(data, dict) or spec.records_key not in data:
            raise LensforgeError(f"{origin}: no key {spec.records_key!r} holding the records")
        data = data[spec.records_key]
    if not isinstance(data, list):
        raise LensforgeError(f"{origin}: expected a list of records (set records_key for an object)")
    objs, lines, bad_lines, bad_raws = [], [], [], []
    for i, obj in enumerate(data, start=1):
        if isinstance(obj, dict):
            objs.append(obj)
            lines.append(i)
        else:
            bad_lines.append(i)
            bad_raws.append(json.dumps(obj, ensure_ascii=False))
    bad = _bad_frame(
        bad_lines, bad_raws, ["unparseable"] * len(bad_lines), ["record is not an object"] * len(bad_lines)
    )
    return _records_to_read(objs, lines, bad, len(data))


def _read_parquet(data: bytes) -> RawRead:
    frame = pl.read_parquet(io.BytesIO(data))
    rows = frame.select([pl.col(c).cast(pl.String) for c in frame.columns]).with_columns(
        pl.int_range(1, frame.height + 1, dtype=pl.Int64).alias(LINE)
    )
    return RawRead(rows=rows, bad=_bad_frame([], [], [], []), records=frame.height, columns=list(frame.columns))


def _read_xlsx(data: bytes, spec: IngestSpec, origin: str) -> RawRead:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for a broken file
        raise LensforgeError(f"{origin}: not a readable XLSX workbook ({exc})") from None
    ws = wb[spec.sheet] if spec.sheet else wb.worksheets[0]
    rows_iter = ws.iter_rows(values_only=True)
    objs, lines = [], []
    header: list[str] | None = None if spec.header else list(spec.column_names or [])
    total = 0
    for i, values in enumerate(rows_iter, start=1):
        if header is None:
            header = _header_names(["" if v is None else str(v) for v in values])
            continue
        total += 1
        objs.append({name: v for name, v in zip(header, values, strict=False)})
        lines.append(i)
    wb.close()
    if header is None:
        raise LensforgeError(f"{origin}: empty workbook")
    read = _records_to_read(objs, lines, _bad_frame([], [], [], []), total)
    for name in header:
        if name not in read.rows.columns:
            read.rows = read.rows.with_columns(pl.lit(None, dtype=pl.String).alias(name))
    read.columns = header
    return read


def read_file(path: Path, file: FileSpec, spec: IngestSpec, *, used_columns: set[str] | None = None) -> RawRead:
    """Read one raw file as the spec says. `used_columns` are the columns the column map needs."""
    origin = f"{path}" + (f"!{file.member}" if file.member else "")
    data = load_bytes(path, file)
    if not data.strip():
        raise LensforgeError(f"{origin}: empty file")
    fmt = spec.format
    if fmt == "parquet":
        return _read_parquet(data)
    if fmt == "xlsx":
        return _read_xlsx(data, spec, origin)
    if fmt in ("csv", "tsv") and not spec.quoting:
        read = _read_delimited_unquoted(
            data, spec, origin, spec.delimiter or ("\t" if fmt == "tsv" else ","), used_columns or set()
        )
        if read.records == 0:
            raise LensforgeError(f"{origin}: the file has a header but no records")
        return read
    text = decode(data, spec.encoding, origin)
    if fmt == "jsonl":
        return _read_jsonl(text, origin)
    if fmt == "json":
        return _read_json(text, spec, origin)
    read = _read_delimited_quoted(text, spec, origin, spec.delimiter or ("\t" if fmt == "tsv" else ","))
    if read.records == 0:
        raise LensforgeError(f"{origin}: the file has a header but no records")
    return read
