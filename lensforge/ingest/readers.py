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

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.json as pa_json

from lensforge.catalog.spec import FileSpec, IngestSpec
from lensforge.errors import LensforgeError

LINE = "__line"
RAW = "__raw"
BAD = "__bad"
_SURROGATE = re.compile(r"[\udc80-\udcff]")
_BAD_SCHEMA = {LINE: pl.Int64, RAW: pl.String, "reason": pl.String, "detail": pl.String}


@dataclass
class RawRead:
    """What one file gave: parsed rows (all strings), unparseable records, and how many records in all.

    `records` is counted without the field parser (physical lines, or lines grouped by quote pairing,
    or JSON lines), so rows + bad == records checks that no parser swallowed a record. `lines` is the
    number of physical lines after the header (None for formats without lines).
    """

    rows: pl.DataFrame  # raw columns + __line
    bad: pl.DataFrame  # __line, __raw, reason, detail
    records: int
    columns: list[str]
    lines: int | None = None


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


_BINARY_MAGIC: dict[bytes, str] = {
    b"PK\x03\x04": "a zip archive (or an XLSX workbook)",
    b"PAR1": "a Parquet file",
    b"\x1f\x8b": "a gzip file",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"SQLite format 3": "an SQLite database",
    b"\xd0\xcf\x11\xe0": "an old Office document (XLS)",
}


def escaped(data: bytes | str, limit: int = 40) -> str:
    """A short, terminal-safe rendering of raw bytes or text: control and undecodable bytes as escapes."""
    if isinstance(data, str):
        data = data.encode("utf-8", errors="surrogateescape")
    shown = data[:limit].decode("utf-8", errors="backslashreplace")
    shown = "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in shown)
    return shown + ("…" if len(data) > limit else "")


def refuse_binary(data: bytes, origin: str, fmt: str) -> None:
    """Stop at once on a file that is not delimited text, instead of reading bytes as columns."""
    head = data[:65536]
    kind = next((what for magic, what in _BINARY_MAGIC.items() if head.startswith(magic)), None)
    if kind is None:
        controls = sum(head.count(bytes([b])) for b in (*range(0, 9), 11, 12, *range(14, 32)))
        if head and controls / len(head) > 0.05:
            kind = "binary data"
    if kind is not None:
        raise LensforgeError(
            f"{origin}: not a delimited text file ({kind}; it starts with '{escaped(head, 16)}')",
            hint=f"the registry says format {fmt}: point the entry at the text file, or fix its format",
        )


def _header_names(names: list[str], origin: str, used: set[str]) -> list[str]:
    """Empty header fields (a leaked pandas index, say) get a positional name.

    A name the column map uses may appear once only: with two `text` columns there is no telling
    which one holds the text. Unused repeats get a numbered suffix.
    """
    out: list[str] = []
    for i, name in enumerate(names):
        name = name.strip()
        if not name:
            name = f"_col{i}"
        if name in out and name in used:
            first = out.index(name) + 1
            raise LensforgeError(
                f"{origin}, line 1: the header names column '{escaped(name)}' twice (fields {first} and {i + 1})",
                hint="rename one of them in the file, or give column_names in the registry entry",
            )
        base, k = name, 1
        while name in out:
            k += 1
            name = f"{base}_{k}"
        out.append(name)
    if any(not c.isprintable() for c in "".join(out)):
        raise LensforgeError(f"{origin}, line 1: the header holds control bytes ('{escaped(' | '.join(out))}')")
    return out


def _printable(raw: str) -> str:
    """Undecodable bytes shown as \\xNN, the way a person would look for them in a hex editor."""
    return raw.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="backslashreplace")


def _utf8(spec: IngestSpec) -> bool:
    return spec.encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig")


def _lines_fast(data: bytes) -> pl.Series | None:
    """Every physical line through Polars' CSV reader (one column, no quoting), or None when the bytes are
    not valid UTF-8 (the careful path). The separator is a control byte the file does not contain.
    Measured ~10x faster than splitting in Python."""
    sep = next((chr(b) for b in range(0, 9) if bytes([b]) not in data), None)
    if sep is None:
        return None
    try:
        frame = pl.read_csv(
            io.BytesIO(data),
            separator=sep,
            quote_char=None,
            has_header=False,
            new_columns=["line"],
            infer_schema=False,
            comment_prefix=None,
        )
    except pl.exceptions.ComputeError:
        return None
    return frame["line"].fill_null("")


def _physical_lines(data: bytes, spec: IngestSpec, origin: str, *, keep_cr: bool = False) -> pl.DataFrame:
    """Every physical line: RAW (undecodable bytes shown as \\xNN, a CR before the LF kept), LINE (1-based),
    BAD (a reason or null).

    Line-level trouble (invalid bytes, NUL) is marked here and quarantined with its record later, so a
    bad byte costs its record only. Polars' line reader drops the CR of a CRLF ending; with `keep_cr`
    (quoted CSV, where a CR may sit inside a field) lines are split in Python instead when the file has CRs.
    """
    if _utf8(spec) and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    fast = _lines_fast(data) if _utf8(spec) and not (keep_cr and b"\r" in data) else None
    if fast is not None:
        return fast.to_frame(RAW).with_columns(
            pl.int_range(1, fast.len() + 1, dtype=pl.Int64).alias(LINE),
            pl.when(pl.col(RAW).str.contains("\x00", literal=True))
            .then(pl.lit("bad_bytes"))
            .otherwise(pl.lit(None, dtype=pl.String))
            .alias(BAD),
        )
    lines = decode(data, spec.encoding, origin).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    reasons: list[str | None] = [None] * len(lines)
    if any(_SURROGATE.search(line) for line in lines):  # only files with bytes invalid in their encoding
        for i, line in enumerate(lines):
            if _SURROGATE.search(line):
                reasons[i] = "bad_encoding"
                lines[i] = _printable(line)
            elif "\x00" in line:
                reasons[i] = "bad_bytes"
    else:
        reasons = [None if "\x00" not in line else "bad_bytes" for line in lines]
    return pl.DataFrame(
        {
            RAW: pl.Series(lines, dtype=pl.String),
            LINE: pl.int_range(1, len(lines) + 1, dtype=pl.Int64, eager=True),
            BAD: pl.Series(reasons, dtype=pl.String),
        }
    )


def _join_quoted_records(lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Group physical lines into CSV records: a record ends on a line where the quotes seen so far pair up.

    Counting quote characters is independent of any field parser, so it also gives the number of
    physical records. A quote opened and never closed would swallow the rest of the file; instead
    the line that opened it is quarantined (`unparseable`) and counting resumes on the next line.
    Returns the records (RAW, LINE of the first line, BAD) and the unclosed-quote records.
    """
    records, unclosed = [], []
    rest = lines
    while rest.height:
        marked = rest.with_columns(
            (pl.col(RAW).str.count_matches('"', literal=True).cum_sum() % 2 == 1).alias("_open")
        ).with_columns((~pl.col("_open").shift(1, fill_value=False)).cum_sum().alias("_rec"))
        if not marked["_open"][-1]:
            break_at = None
        else:
            break_at = int(marked.filter(pl.col("_rec") == marked["_rec"][-1])[LINE][0])
        done = marked if break_at is None else marked.filter(pl.col(LINE) < break_at)
        if done["_open"].any():
            # Only the lines of multi-line records are grouped; the rest pass through as they are.
            inside = pl.col("_open") | pl.col("_open").shift(1, fill_value=False)
            single = done.filter(~inside)
            joined = (
                done.filter(inside)
                .group_by("_rec", maintain_order=True)
                .agg(pl.col(RAW).str.join("\n"), pl.col(LINE).first(), pl.col(BAD).drop_nulls().first())
            )
            done = pl.concat([single.select(RAW, LINE, BAD), joined.select(RAW, LINE, BAD)]).sort(LINE)
        records.append(done.select(RAW, LINE, BAD))
        if break_at is None:
            break
        opener = rest.filter(pl.col(LINE) == break_at)
        unclosed.append(
            opener.select(
                LINE,
                RAW,
                pl.lit("unparseable").alias("reason"),
                pl.lit("a quote opened on this line is never closed").alias("detail"),
            )
        )
        rest = rest.filter(pl.col(LINE) > break_at)
    empty = lines.clear().select(RAW, LINE, BAD)
    bad = pl.concat(unclosed) if unclosed else _bad_frame([], [], [], [])
    return (pl.concat(records) if records else empty), bad


def _field_counts(raw: pl.Expr, delimiter: str, quoted: bool) -> pl.Expr:
    """Fields per record; with quoting, delimiters inside "..." do not count (doubled quotes pair up too)."""
    if not quoted:
        return raw.str.count_matches(delimiter, literal=True) + 1
    outside = pl.when(raw.str.contains('"', literal=True)).then(raw.str.replace_all('"[^"]*"', "")).otherwise(raw)
    return outside.str.count_matches(delimiter, literal=True) + 1


def _parse_quoted(records: pl.DataFrame, header: list[str], delimiter: str) -> pl.DataFrame:
    """Fields of well-formed quoted records: Polars' CSV parser on all of them at once.

    Only if Polars refuses (a stray quote inside an unquoted field, say) are these records parsed one
    by one with Python's csv module, as the careful fallback.
    """
    blob = "\n".join(records[RAW].to_list()).encode("utf-8") + b"\n"
    try:
        parsed = pl.read_csv(
            io.BytesIO(blob),
            separator=delimiter,
            quote_char='"',
            has_header=False,
            new_columns=header,
            infer_schema=False,
            empty_string_is_null=False,
            comment_prefix=None,
        )
        if parsed.height == records.height and parsed.width == len(header):
            return parsed.with_columns(records[LINE])
    except pl.exceptions.PolarsError:
        pass
    old = csv.field_size_limit()
    csv.field_size_limit(1 << 30)
    try:
        rows = [next(csv.reader([r], delimiter=delimiter), []) for r in records[RAW].to_list()]
    finally:
        csv.field_size_limit(old)
    padded = [(r + [""] * len(header))[: len(header)] for r in rows]
    columns = list(zip(*padded, strict=True)) if padded else [() for _ in header]
    return pl.DataFrame(
        {name: pl.Series(name, list(col), dtype=pl.String) for name, col in zip(header, columns, strict=True)}
    ).with_columns(records[LINE])


def _parse_whole(
    data: bytes, spec: IngestSpec, header: list[str], delimiter: str, good: pl.DataFrame
) -> pl.DataFrame | None:
    """When every record is well-formed, Polars' CSV reader parses the file's own bytes in one call (the
    fastest path); None when it disagrees with the record count made beforehand, or refuses."""
    if not _utf8(spec):
        return None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    parsed = _polars_csv(data, spec, header, delimiter, empty_is_null=False)
    if parsed is None or parsed.height != good.height or parsed.columns != header:
        return None
    return parsed.with_columns(good[LINE])


def _polars_csv(
    data: bytes, spec: IngestSpec, header: list[str], delimiter: str, *, empty_is_null: bool
) -> pl.DataFrame | None:
    """Polars' CSV reader over a whole file, every value a string; None when it refuses the file."""
    try:
        return pl.read_csv(
            io.BytesIO(data),
            separator=delimiter,
            quote_char='"' if spec.quoting else None,
            has_header=spec.header,
            new_columns=header,
            infer_schema=False,
            empty_string_is_null=empty_is_null,
            comment_prefix=None,
        )
    except pl.exceptions.PolarsError:
        return None


_QUOTE, _NEWLINE = ord('"'), ord("\n")


def _quotes_conform(raw: np.ndarray, quotes: np.ndarray, delimiter: int) -> bool:
    """Whether every quote character sits where RFC 4180 puts one: an opening quote at the start of a
    field (after a delimiter, a line break, the start of the file, or the quote that closed the first half
    of a doubled "" pair), a closing one at its end (before a delimiter, a line break, the end of the file,
    or the other half of a doubled pair). Then pairing quotes line by line (the careful path) and a CSV
    parser agree on every record and field; a stray quote inside an unquoted field makes them differ."""
    opening, closing = quotes[0::2], quotes[1::2]
    before = raw[np.maximum(opening - 1, 0)]
    after = raw[np.minimum(closing + 1, raw.size - 1)]
    opens_ok = (opening == 0) | (before == delimiter) | (before == _NEWLINE) | (before == _QUOTE)
    closes_ok = (closing == raw.size - 1) | (after == delimiter) | (after == _NEWLINE) | (after == _QUOTE)
    return bool(opens_ok.all() and closes_ok.all())


def _delimited_fast(data: bytes, spec: IngestSpec, origin: str, delimiter: str, used: set[str]) -> RawRead | None:
    """A well-formed delimited file in one Polars parse, checked against what the careful path would find;
    None (the careful path) whenever the file might hold a record that path would quarantine.

    Records are found as the careful path finds them (physical lines, or lines grouped by quote pairing),
    from the raw bytes with numpy instead of a string per line, and the parse must give exactly that many
    rows (Polars refuses a record with an extra field). Polars reads a missing field and an empty one
    alike (null), so the records with a null, and with a space delimiter those whose first field is blank,
    get the careful path's own field count and blank-record test; they are few. Files with NUL bytes,
    carriage returns, invalid UTF-8, quotes out of place (see `_quotes_conform`) or a single column take
    the careful path.
    """
    if not _utf8(spec) or b"\x00" in data or b"\r" in data:
        return None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = _line_ends(data)  # byte offset where each physical line ends
    physical = ends.size
    first_line = np.arange(1, physical + 1)  # of each record
    record_ends = ends
    if spec.quoting:
        quotes = _byte_positions(raw, _QUOTE)
        if quotes.size:
            if quotes.size % 2 or not _quotes_conform(raw, quotes, ord(delimiter)):
                return None
            # A record ends on a line where the quotes seen so far pair up; the next starts on the line after.
            closing = np.flatnonzero(np.searchsorted(quotes, ends) % 2 == 0)
            first_line = np.concatenate([[0], closing[:-1] + 1]) + 1
            record_ends = ends[closing]
    record_starts = np.concatenate([[0], record_ends[:-1] + 1])
    if spec.header:
        if record_ends.size == 0:
            return None
        try:
            head = data[: record_ends[0]].decode("utf-8")
        except UnicodeDecodeError:
            return None
        names = next(csv.reader([head], delimiter=delimiter)) if spec.quoting and '"' in head else head.split(delimiter)
        header = _header_names(names, origin, used)
        first_line, record_starts, record_ends = first_line[1:], record_starts[1:], record_ends[1:]
    else:
        header = list(spec.column_names or [])
    if len(header) < 2:
        return None
    parsed = _polars_csv(data, spec, header, delimiter, empty_is_null=True)
    if parsed is None or parsed.height != first_line.size or parsed.columns != header:
        return None
    doubtful = pl.any_horizontal(pl.all().is_null())
    if delimiter.isspace():
        doubtful = doubtful | pl.col(header[0]).str.contains(r"^\s*$")
    suspects = parsed.select(doubtful.fill_null(True).arg_true())[:, 0].to_numpy()
    if suspects.size:
        texts = [data[record_starts[i] : record_ends[i]].decode("utf-8") for i in suspects]
        checked = pl.DataFrame({RAW: texts}, schema={RAW: pl.String}).select(
            (_field_counts(pl.col(RAW), delimiter, spec.quoting) == len(header)) & ~pl.col(RAW).str.contains(r"^\s*$")
        )
        if not checked[:, 0].all():
            return None  # a short or blank record
        parsed = parsed.fill_null("")  # in a record with every field, a null was an empty field
    rows = parsed.with_columns(pl.Series(LINE, first_line, dtype=pl.Int64))
    lines = physical - (1 if spec.header else 0)
    return RawRead(rows=rows, bad=_bad_frame([], [], [], []), records=parsed.height, columns=header, lines=lines)


def _read_delimited(data: bytes, spec: IngestSpec, origin: str, delimiter: str, used: set[str]) -> RawRead:
    """CSV/TSV, quoted or not, without a per-record Python parser on the main path.

    Records are physical lines (quoting off) or lines grouped by quote pairing (quoting on); each
    record's field count is taken outside quotes; well-formed records are split by Polars. Ragged,
    blank, undecodable and unclosed records are quarantined with their first line.
    """
    fast = _delimited_fast(data, spec, origin, delimiter, used)
    if fast is not None:
        return fast
    quoted = spec.quoting
    lines = _physical_lines(data, spec, origin, keep_cr=quoted)
    if lines.height == 0:
        raise LensforgeError(f"{origin}: empty file")
    if quoted:
        records, unclosed = _join_quoted_records(lines)
    else:
        records, unclosed = lines, _bad_frame([], [], [], [])
    # A CRLF file's records end in CR; a CR inside a quoted field stays, as Polars' CSV reader keeps it.
    records = records.with_columns(pl.col(RAW).str.strip_suffix("\r"))
    unclosed = unclosed.with_columns(pl.col(RAW).str.strip_suffix("\r"))
    if spec.header:
        if records.height == 0 or int(records[LINE][0]) != 1:
            raise LensforgeError(f"{origin}, line 1: a quote in the header is never closed")
        head = records[RAW][0]
        names = next(csv.reader([head], delimiter=delimiter)) if quoted and '"' in head else head.split(delimiter)
        header = _header_names(names, origin, used)
        records = records.slice(1)
        unclosed = unclosed.filter(pl.col(LINE) > 1)
    else:
        header = list(spec.column_names or [])
    n_cols = len(header)
    body_lines = lines.height - (1 if spec.header else 0)
    records = records.with_columns(_field_counts(pl.col(RAW), delimiter, quoted).alias("__n"))
    ok = pl.col("__n") == n_cols
    if spec.ragged == "pad_unused":
        # Short rows are kept when every missing trailing column is one the spec does not use.
        last_used = max((header.index(c) for c in used if c in header), default=n_cols - 1)
        ok = ok | ((pl.col("__n") < n_cols) & (pl.col("__n") > last_used))
    blank = pl.col(RAW).str.contains(r"^\s*$")
    kind = (
        pl.when(pl.col(BAD).is_not_null())
        .then(pl.col(BAD))
        .when(blank)
        .then(pl.lit("empty_line"))
        .when(~ok)
        .then(pl.lit("ragged_row"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    records = records.with_columns(kind.alias("__kind"))
    good = records.filter(pl.col("__kind").is_null())
    detail = (
        pl.when(pl.col("__kind") == "bad_encoding")
        .then(pl.lit("invalid bytes for the declared encoding"))
        .when(pl.col("__kind") == "bad_bytes")
        .then(pl.lit("NUL byte"))
        .when(pl.col("__kind") == "empty_line")
        .then(pl.lit("blank line"))
        .otherwise(pl.format("{} fields, header has " + str(n_cols), pl.col("__n")))
    )
    bad = pl.concat(
        [
            unclosed,
            records.filter(pl.col("__kind").is_not_null()).select(
                LINE, RAW, pl.col("__kind").alias("reason"), detail.alias("detail")
            ),
        ]
    ).sort(LINE)
    exact = bad.height == 0 and bool((good["__n"] == n_cols).all())
    rows = _parse_whole(data, spec, header, delimiter, good) if exact else None
    if rows is not None:
        pass
    elif quoted and good[RAW].str.contains('"', literal=True).any():
        pad = pl.col(RAW) + pl.lit(delimiter).repeat_by(pl.lit(n_cols) - pl.col("__n")).list.join("")
        rows = _parse_quoted(good.with_columns(pad.alias(RAW)), header, delimiter)
    else:
        fields = pl.col(RAW).str.split_exact(delimiter, max(n_cols - 1, 0)).struct.rename_fields(header)
        rows = good.select(fields.alias("__fields"), pl.col(LINE)).unnest("__fields")
    return RawRead(
        rows=rows,
        bad=bad,
        records=records.height + unclosed.height,
        columns=header,
        lines=body_lines,
    )


def _read_jsonl(data: bytes, spec: IngestSpec, origin: str) -> RawRead:
    """One JSON object per line. Polars parses the whole file when every line is a flat object; otherwise
    each line is parsed on its own, so a broken line is quarantined with its number and costs only itself."""
    whole = _jsonl_whole(data, spec)
    if whole is not None:
        return whole
    lines = _physical_lines(data, spec, origin).with_columns(pl.col(RAW).str.strip_suffix("\r"))
    if lines.height == 0:
        raise LensforgeError(f"{origin}: empty file")
    blank = lines[RAW].str.strip_chars() == ""
    good = lines.filter(~blank & pl.col(BAD).is_null())
    fast = _jsonl_fast(good) if good.height else None
    if fast is not None:
        bad = lines.filter(blank | pl.col(BAD).is_not_null()).select(
            LINE,
            RAW,
            pl.col(BAD).fill_null("empty_line").alias("reason"),
            pl.when(pl.col(BAD) == "bad_encoding")
            .then(pl.lit("invalid bytes for the declared encoding"))
            .when(pl.col(BAD) == "bad_bytes")
            .then(pl.lit("NUL byte"))
            .otherwise(pl.lit("blank line"))
            .alias("detail"),
        )
        return RawRead(rows=fast, bad=bad, records=lines.height, columns=fast.columns[:-1], lines=lines.height)
    objs: list[dict] = []
    good_lines: list[int] = []
    bad_lines, bad_raws, bad_reasons, bad_details = [], [], [], []
    for raw, i, why in lines.iter_rows():  # careful path: some line is not a flat JSON object
        stripped = raw.strip()
        if not stripped:
            bad_lines.append(i)
            bad_raws.append("")
            bad_reasons.append("empty_line")
            bad_details.append("blank line")
            continue
        if why is not None:
            bad_lines.append(i)
            bad_raws.append(raw)
            bad_reasons.append(why)
            bad_details.append("invalid bytes for the declared encoding" if why == "bad_encoding" else "NUL byte")
            continue
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError as exc:
            bad_lines.append(i)
            bad_raws.append(raw)
            bad_reasons.append("unparseable")
            bad_details.append(f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(obj, dict):
            bad_lines.append(i)
            bad_raws.append(raw)
            bad_reasons.append("unparseable")
            bad_details.append("a JSON line that is not an object")
            continue
        objs.append(obj)
        good_lines.append(i)
    read = _records_to_read(objs, good_lines, _bad_frame(bad_lines, bad_raws, bad_reasons, bad_details), lines.height)
    read.lines = lines.height
    return read


_SCAN_CHUNK = 1 << 20


def _byte_positions(raw: np.ndarray, value: int) -> np.ndarray:
    """Offsets of every `value` byte, a megabyte at a time through one reused mask: comparing the whole file
    at once allocates a mask as large as the file, and faulting in its fresh pages cost 5-8x the comparison."""
    mask = np.empty(min(raw.size, _SCAN_CHUNK), dtype=bool)
    found = []
    for start in range(0, raw.size, _SCAN_CHUNK):
        chunk = raw[start : start + _SCAN_CHUNK]
        part = mask[: chunk.size]
        np.equal(chunk, value, out=part)
        found.append(np.flatnonzero(part) + start)
    return np.concatenate(found) if found else np.empty(0, dtype=np.intp)


def _line_ends(data: bytes) -> np.ndarray:
    """Byte offsets where each physical line ends (the last one may end at the end of the file)."""
    ends = _byte_positions(np.frombuffer(data, dtype=np.uint8), _NEWLINE)
    return ends if data.endswith(b"\n") else np.append(ends, len(data))


def _jsonl_whole(data: bytes, spec: IngestSpec) -> RawRead | None:
    """A clean JSON-lines file in one Polars parse of its own bytes: every physical line one flat object
    (Polars skips blank lines, so as many rows as lines means none was blank). None for the careful path."""
    if not _utf8(spec) or b"\x00" in data or b"\r" in data:
        return None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    ends = _line_ends(data)
    physical = ends.size
    frame = _ndjson(data, ends)
    if frame is None or frame.height != physical or any(dt.is_nested() for dt in frame.dtypes):
        return None
    rows = frame.select(pl.all().cast(pl.String)).with_columns(
        pl.int_range(1, physical + 1, dtype=pl.Int64).alias(LINE)
    )
    return RawRead(rows=rows, bad=_bad_frame([], [], [], []), records=physical, columns=frame.columns, lines=physical)


def _ndjson(data: bytes, ends: np.ndarray) -> pl.DataFrame | None:
    """A JSON-lines document as a frame: one parse when its first lines show every key and value type, else
    Polars' inference from every line; None when neither can take it (a broken line, say)."""
    frame = _ndjson_one_parse(data, ends)
    if frame is not None:
        return frame
    try:
        return pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)
    except (pl.exceptions.PolarsError, ValueError):
        return None


# Lines whose keys and value types a JSON-lines file's schema is taken from before its one parse.
JSONL_SCHEMA_LINES = 1000
_ARROW_TYPE = {pl.Int64: pa.int64(), pl.Float64: pa.float64(), pl.String: pa.large_string(), pl.Boolean: pa.bool_()}


def _ndjson_one_parse(data: bytes, ends: np.ndarray) -> pl.DataFrame | None:
    """The whole file in one parse against the schema of its first lines; None when any later line has a key or
    a value type those lines did not show (the caller then infers the schema from every line, as before).

    Polars infers a schema from every line before it parses (4-5x the parse itself). pyarrow parses once
    against an explicit schema and refuses an unexpected key or a value of another type, so the frame it
    gives holds the same keys, types and values as Polars' whole-file inference would (tested line for line).
    """
    if ends.size == 0:
        return None
    head = data[: int(ends[min(JSONL_SCHEMA_LINES, ends.size) - 1]) + 1]
    try:
        sample = pl.read_ndjson(io.BytesIO(head), infer_schema_length=None)
    except (pl.exceptions.PolarsError, ValueError):
        return None
    types = [_ARROW_TYPE.get(dtype) for dtype in sample.dtypes]  # a null-only or nested column: infer all
    if not sample.width or any(t is None for t in types):
        return None
    options = pa_json.ParseOptions(
        explicit_schema=pa.schema(list(zip(sample.columns, types, strict=True))), unexpected_field_behavior="error"
    )
    longest = int(np.diff(ends, prepend=-1).max())  # pyarrow parses in blocks that must hold whole lines
    blocks = pa_json.ReadOptions(block_size=max(1 << 20, longest + 1))
    try:
        # The system allocator: pyarrow's own pool would keep the freed parse buffers (~0.1 GiB more peak RSS).
        table = pa_json.read_json(
            io.BytesIO(data), read_options=blocks, parse_options=options, memory_pool=pa.system_memory_pool()
        )
    except pa.ArrowException:
        return None
    return pl.from_arrow(table)


def _jsonl_fast(good: pl.DataFrame) -> pl.DataFrame | None:
    """All non-blank lines as one NDJSON document through Polars, values as strings; None when Polars
    cannot take it (a broken line, a line that is not an object, nested values)."""
    blob = "\n".join(good[RAW].to_list()).encode("utf-8")
    frame = _ndjson(blob, _line_ends(blob))
    if frame is None or frame.height != good.height or any(dt.is_nested() for dt in frame.dtypes):
        return None
    return frame.select(pl.all().cast(pl.String)).with_columns(good[LINE])


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


def _read_xlsx(data: bytes, spec: IngestSpec, origin: str, used: set[str]) -> RawRead:
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
            header = _header_names(["" if v is None else str(v) for v in values], origin, used)
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


def read_file(
    path: Path, file: FileSpec, spec: IngestSpec, *, used_columns: set[str] | None = None, data: bytes | None = None
) -> RawRead:
    """Read one raw file as the spec says. `used_columns` are the columns the column map needs; `data` the
    file's bytes when the caller already holds them (it read them to hash the file)."""
    origin = f"{path}" + (f"!{file.member}" if file.member else "")
    if data is None:
        data = load_bytes(path, file)
    if not data or data.isspace():  # not `data.strip()`: that copies the whole file to test it
        raise LensforgeError(f"{origin}: empty file")
    fmt = spec.format
    used = used_columns or set()
    if fmt == "parquet":
        return _read_parquet(data)
    if fmt == "xlsx":
        return _read_xlsx(data, spec, origin, used)
    refuse_binary(data, origin, fmt)
    if fmt == "jsonl":
        return _read_jsonl(data, spec, origin)
    if fmt == "json":
        return _read_json(decode(data, spec.encoding, origin), spec, origin)
    read = _read_delimited(data, spec, origin, spec.delimiter or ("\t" if fmt == "tsv" else ","), used)
    if read.records == 0:
        raise LensforgeError(f"{origin}: the file has a header but no records")
    return read
