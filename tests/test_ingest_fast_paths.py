"""The ingest fast paths give exactly what the careful paths give (issue 11, speed).

Each fast path skips work on rows or files a cheap scan clears; these tests pin that the scans clear
nothing the careful path would have changed: the NFKC tables against Python's unicodedata, the
one-pass normalise and key scans against the per-transformation path on real and crafted texts.
"""

from __future__ import annotations

import html
import random
import sys
import unicodedata

import numpy as np
import polars as pl
import pytest

from lensforge.ingest.clean import _HTML_ENTITY, NormaliseText, TextKey, _collapse_whitespace, nfkc, normalise_series
from lensforge.ingest.nfkc_table import UNICODE_VERSION, build_tables, nfkc_tables, not_nfkc_pattern
from lensforge.ingest.normalise import (
    _ARABIC_MARKS,
    _EDGE_QUOTES,
    _MENTION,
    _URL,
    _text_keys_each,
    apply_where,
    text_keys,
)

# Texts each fast path must not get wrong: compatibility forms, composable and reorderable marks
# (Arabic shadda before fatha is out of canonical order; Devanagari nukta and Hangul jamo compose),
# odd whitespace, capitals that lower-case unusually, links, mentions, edge quotes.
TRICKY = [
    "ＡＢＣ ﬁne ﻻ ①",
    "\u0628\u064e\u0651",
    "\u0628\u0651\u064e \u064a\u0627",
    "क\u093c ख़बर \u0928\u093c",
    "\u1100\u1161 \uac00\u11a8",
    "e\u0301 café",
    "a\u00a0b\u2003c\u3000d",
    "  lead and trail\t",
    "two  spaces\nand a line",
    "İstanbul ΣΟΦΟΣ Straße",
    "see https://t.co/x and @user_1 now",
    "“quoted” «done»",
    "'edge'",
    "ﻣﺮﺣﺒﺎ بالعالـــم",
    "plain text with nothing to do",
    "\u00a8 \u00b4 spacing accents",
    "emoji 😀 zwj 👩\u200d💻",
    "",
]


def _real_texts(shared_data) -> pl.Series:
    lines: list[str] = []
    for path in sorted(shared_data.rglob("*")):
        if path.suffix in (".tsv", ".csv", ".jsonl", ".txt") and path.is_file():
            lines += path.read_text(encoding="utf-8", errors="replace").split("\n")
    return pl.Series([*lines, *TRICKY, None], dtype=pl.String)


def test_stored_nfkc_tables_are_what_this_pythons_unicode_data_gives():
    if unicodedata.unidata_version != UNICODE_VERSION:
        pytest.skip(f"tables stored for Unicode {UNICODE_VERSION}; this Python has {unicodedata.unidata_version}")
    assert nfkc_tables() == build_tables()


def test_a_text_the_nfkc_scan_clears_is_already_nfkc():
    singles = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    unsafe, marks = nfkc_tables()
    pool = [chr(c) for low, high in (*marks, *unsafe[:150]) for c in range(low, high + 1)]
    pool += [chr(c) for c in (*range(0x41, 0x250), *range(0x600, 0x700), *range(0x900, 0x980), *range(0x1100, 0x1200))]
    rng = random.Random(11)
    combos = ["".join(rng.choice(pool) for _ in range(rng.randint(2, 4))) for _ in range(200_000)]
    texts = pl.Series([*singles, *combos, *TRICKY])
    cleared = texts.filter(~texts.str.contains(not_nfkc_pattern()))
    assert cleared.len() > 1_000_000  # nearly every single character is cleared: the scan is not trivial
    missed = [t for t in cleared.to_list() if not unicodedata.is_normalized("NFKC", t)]
    assert missed == []


@pytest.mark.parametrize("html_unescape,strip_outer_quotes", [(False, False), (True, True)])
def test_normalise_scan_gives_what_normalising_every_text_gives(shared_data, html_unescape, strip_outer_quotes):
    texts = _real_texts(shared_data)
    got = normalise_series(texts, html_unescape=html_unescape, strip_outer_quotes=strip_outer_quotes)
    every = nfkc(texts)  # the exact check on every text
    if html_unescape:
        every = apply_where(
            every, every.str.contains(_HTML_ENTITY), lambda x: x.map_elements(html.unescape, return_dtype=pl.String)
        )
    every = _collapse_whitespace(every)
    if strip_outer_quotes:
        quoted = every.str.starts_with('"') & every.str.ends_with('"') & (every.str.len_chars() >= 2)
        every = pl.select(
            pl.when(quoted).then(every.str.slice(1, every.str.len_chars() - 2).str.strip_chars()).otherwise(every)
        ).to_series()
    assert got.to_list() == every.to_list()
    tricky = dict(zip(TRICKY, got.to_list()[-len(TRICKY) - 1 : -1], strict=True))
    assert tricky["ＡＢＣ ﬁne ﻻ ①"] == "ABC fine \u0644\u0627 1"
    assert tricky["\u0628\u0651\u064e \u064a\u0627"] == "\u0628\u064e\u0651 \u064a\u0627"  # marks reordered
    assert tricky["a\u00a0b\u2003c\u3000d"] == "a b c d"


def test_key_scan_gives_what_keying_every_text_gives(shared_data):
    texts = normalise_series(_real_texts(shared_data), html_unescape=False, strip_outer_quotes=False)
    assert text_keys(texts).to_list() == _text_keys_each(texts).to_list()
    assert text_keys(pl.Series(["see https://t.co/x and @user_1 NOW", "“quoted”"])).to_list() == [
        "see and now",
        "quoted",
    ]


def _key_every(texts: pl.Series) -> pl.Series:
    """The key with every transformation run on every text (the careful path)."""
    key = texts.str.to_lowercase().str.replace_all(_URL, " ").str.replace_all(_MENTION, " ")
    key = key.str.replace_all(_ARABIC_MARKS, "").str.replace_all(r"\s{2,}", " ").str.strip_chars()
    return key.str.replace_all(_EDGE_QUOTES, "").str.strip_chars()


def test_key_transformations_skip_no_text_they_would_change(shared_data):
    # Texts with no capital, diacritic or odd space, where cutting a mark, link or mention leaves a double
    # or edge space (the case the narrowed whitespace check must still catch), among real and random texts.
    cut = ["كتب ـ قلم", "ـ قلم", "قلم ـ", "a @user b", "@user b", "see www.x.y", "bـــ c ـ", "ـ"]
    rng = random.Random(5)
    pool = [*"abA \t\u00a0\u3000@.:/\"'«»`\u0640\u064e\u0651İΣ", "http://x ", "www.q", "@u", " \u0640", "\u0640 "]
    random_texts = ["".join(rng.choice(pool) for _ in range(rng.randint(0, 12))) for _ in range(100_000)]
    real = normalise_series(_real_texts(shared_data), html_unescape=False, strip_outer_quotes=False)
    texts = pl.concat([real, pl.Series([*cut, *random_texts], dtype=pl.String)])
    assert _text_keys_each(texts).to_list() == _key_every(texts).to_list()
    assert _text_keys_each(pl.Series(cut[:3])).to_list() == ["كتب قلم", "قلم", "قلم"]


@pytest.mark.parametrize("html_unescape,strip_outer_quotes", [(False, False), (True, True)])
def test_normalise_and_key_steps_sharing_one_scan_give_what_each_scan_gives(
    shared_data, html_unescape, strip_outer_quotes
):
    # The normalise step's one scan (for both steps) must clear no text either step would change; HTML
    # entities can turn a cleared text into one with a capital or a mark.
    extra = ["&Eacute;t&eacute; &amp; co", "&#x41;BC", "x &#1611; y", '"Quoted"', '" spaced "', "&quot;Q&quot;"]
    texts = pl.concat([_real_texts(shared_data), pl.Series(extra, dtype=pl.String)])
    frame = pl.DataFrame({"text_original": texts})
    step = NormaliseText(html_unescape=html_unescape, strip_outer_quotes=strip_outer_quotes)
    normalised = step.run(frame, ctx=None).kept  # type: ignore[arg-type]
    keyed = TextKey().run(normalised, ctx=None).kept  # type: ignore[arg-type]
    text = normalise_series(texts, html_unescape=html_unescape, strip_outer_quotes=strip_outer_quotes)
    assert keyed.columns == ["text_original", "text", "text_key"]  # the shared scan's hint is gone
    assert keyed["text"].to_list() == text.to_list()
    assert keyed["text_key"].to_list() == text_keys(text).to_list()


# --- readers: the one-parse fast path against the careful path, file by file ------------------------------

_Q = '1,"plain",pos\n2,"a, comma",neg\n3,"doubled ""quotes"" inside",pos\n4,"two\nlines",neg\n5,"",pos\n'
READER_CASES: dict[str, tuple[str, bytes, dict]] = {
    "quoted_csv": ("csv", ("id,text,label\n" + _Q).encode(), {}),
    "quoted_csv_no_final_newline": ("csv", ("id,text,label\n" + _Q).rstrip("\n").encode(), {}),
    "quoted_csv_bom": ("csv", b"\xef\xbb\xbf" + ("id,text,label\n" + _Q).encode(), {}),
    "quoted_header": ("csv", ('"id","text","label"\n' + _Q).encode(), {}),
    "stray_quote_in_unquoted_field": ("csv", b'id,text,label\n1,she said "hi, there",pos\n2,ok,neg\n', {}),
    "quote_after_closing_quote": ("csv", b'id,text,label\n1,"a"b,pos\n2,ok,neg\n', {}),
    "unclosed_quote": ("csv", b'id,text,label\n1,"never closed,pos\n2,ok,neg\n', {}),
    "empty_fields": ("csv", b'id,text,label\n1,a,\n2,"",neg\n,b,pos\n', {}),
    "tsv_empty_fields": ("tsv", b"id\ttext\tlabel\n1\ta\t\n\tb\tpos\n", {"quoting": False}),
    "blank_line": ("csv", b"id,text,label\n1,a,pos\n\n2,b,neg\n", {}),
    "ragged_short": ("csv", b"id,text,label\n1,a,pos\n2,b\n", {}),
    "ragged_long": ("csv", b"id,text,label\n1,a,pos\n2,b,neg,extra\n", {}),
    "crlf": ("csv", b'id,text,label\r\n1,"a\nb",pos\r\n2,c,neg\r\n', {}),
    "no_header": ("csv", b"1,a,pos\n2,b,neg\n", {"header": False, "column_names": ["id", "text", "label"]}),
    "single_column": ("csv", b"text\nhello\n   \nworld\n", {"columns": {"text": "text"}}),
    "tsv": ("tsv", b'id\ttext\tlabel\n1\ta "bare" quote\tpos\n2\tb\tneg\n', {"quoting": False}),
    "tsv_blank_tabs": ("tsv", b"id\ttext\tlabel\n1\ta\tpos\n\t \t\n2\tb\tneg\n", {"quoting": False}),
    "tsv_bad_bytes": ("tsv", b"id\ttext\tlabel\n1\ta \xff\tpos\n2\tb\x00\tneg\n", {"quoting": False}),
    "tsv_quoting_on_bare_quotes": ("tsv", b'id\ttext\tlabel\n1\t"she said\tpos\n2\tit" today\tneg\n', {}),
    "jsonl": ("jsonl", b'{"id": 1, "text": "a", "label": "pos"}\n{"id": 2, "text": "b\\nc", "label": "neg"}\n', {}),
    "jsonl_blank_line": (
        "jsonl",
        b'{"id": 1, "text": "a", "label": "pos"}\n\n{"id": 2, "text": "b", "label": "neg"}\n',
        {},
    ),
    "jsonl_nested": (
        "jsonl",
        b'{"id": 1, "text": "a", "label": ["pos"]}\n{"id": 2, "text": "b", "label": ["neg"]}\n',
        {},
    ),
    "jsonl_broken": ("jsonl", b'{"id": 1, "text": "a", "label": "pos"}\n{"id": 2, "text": \n', {}),
    "jsonl_mixed_types": (
        "jsonl",
        b'{"id": 1, "text": "a", "label": 1}\n{"id": "x2", "text": "b", "label": true}\n',
        {},
    ),
}


def _read(case: str, monkeypatch, tmp_path, careful: bool):
    from lensforge.catalog.spec import FileSpec, IngestSpec
    from lensforge.ingest import readers

    fmt, data, extra = READER_CASES[case]
    spec = IngestSpec.model_validate(
        {
            "format": fmt,
            "files": [{"split": "train", "path": f"x.{fmt}"}],
            "columns": {"text": "text", "label": "label"},
        }
        | extra
    )
    if careful:
        monkeypatch.setattr(readers, "_delimited_fast", lambda *a: None)
        monkeypatch.setattr(readers, "_jsonl_whole", lambda *a: None)
    path = tmp_path / f"x.{fmt}"
    path.write_bytes(data)
    used = {c for c in spec.columns.model_dump().values() if c}
    return readers.read_file(path, FileSpec(split="train", path=path.name), spec, used_columns=used)


@pytest.mark.parametrize("case", sorted(READER_CASES))
def test_the_fast_reader_gives_what_the_careful_reader_gives(case, monkeypatch, tmp_path):
    fast = _read(case, monkeypatch, tmp_path, careful=False)
    careful = _read(case, monkeypatch, tmp_path, careful=True)
    assert (fast.records, fast.lines, fast.columns) == (careful.records, careful.lines, careful.columns)
    assert fast.rows.to_dicts() == careful.rows.to_dicts()
    assert fast.bad.to_dicts() == careful.bad.to_dicts()


def test_the_fast_reader_takes_clean_files_and_leaves_doubtful_ones(monkeypatch, tmp_path):
    from lensforge.ingest import readers

    taken: list[str] = []
    for name, fast in (("_delimited_fast", readers._delimited_fast), ("_jsonl_whole", readers._jsonl_whole)):

        def spy(*args, _fast=fast, _name=name):
            out = _fast(*args)
            if out is not None:
                taken.append(_name)
            return out

        monkeypatch.setattr(readers, name, spy)
    clean = ("quoted_csv", "tsv", "jsonl", "empty_fields", "tsv_empty_fields")
    for case in (*clean, "stray_quote_in_unquoted_field", "tsv_blank_tabs", "ragged_short", "jsonl_nested"):
        before = len(taken)
        _read(case, monkeypatch, tmp_path, careful=False)
        assert (len(taken) > before) == (case in clean), case


# --- JSON lines: one parse against the first lines' schema, or Polars' whole-file inference -----------------

_ONE_PARSE_CASES = {
    "clean": b'{"id": 1, "text": "a", "label": "pos"}\n{"id": 2, "text": "b", "label": "neg"}\n',
    "late_key": b'{"id": 1, "text": "a"}\n{"id": 2, "text": "b", "label": "neg"}\n',
    "missing_later": b'{"id": 1, "text": "a", "label": "pos"}\n{"text": "b"}\n{}\n',
    "int_then_float": b'{"id": 1, "text": "a"}\n{"id": 2.5, "text": "b"}\n',
    "float_then_int": b'{"id": 1.5, "text": "a"}\n{"id": 2, "text": "b"}\n{"id": 1e3, "text": "c"}\n',
    "int_then_string": b'{"id": 1, "text": "a"}\n{"id": "x2", "text": "b"}\n',
    "string_then_int": b'{"id": "x1", "text": "a"}\n{"id": 2, "text": "b"}\n',
    "null_then_string": b'{"id": 1, "text": "a", "label": null}\n{"id": 2, "text": "b", "label": "neg"}\n',
    "bool_then_string": b'{"id": 1, "text": "a", "label": true}\n{"id": 2, "text": "b", "label": "neg"}\n',
    "bools": b'{"text": "a", "label": true}\n{"text": "b", "label": false}\n',
    "huge_int_later": b'{"id": 1, "text": "a"}\n{"id": 99999999999999999999, "text": "b"}\n',
    "nested_later": b'{"id": 1, "text": "a"}\n{"id": 2, "text": "b", "label": ["neg"]}\n',
    "duplicate_key": b'{"id": 1, "text": "a"}\n{"id": 2, "text": "b", "text": "c"}\n',
    "escapes": '{"text": "\\ud83d\\ude00 \\u00e9 \\/ \\\\ \\" \\t سلام नमस्ते"}\n{"text": "x\\ud800y"}\n'.encode(),
    "not_an_object_later": b'{"id": 1, "text": "a"}\n[1, 2]\n',
    # A line longer than pyarrow's default 1 MB block (a whole article in one field).
    "long_line": b'{"id": 1, "text": "a"}\n{"id": 2, "text": "' + "نص ".encode() * 500_000 + b'"}\n',
}


@pytest.mark.parametrize("first_lines", [1, 1000])
@pytest.mark.parametrize("case", sorted(_ONE_PARSE_CASES))
def test_jsonl_one_parse_gives_what_whole_file_inference_gives(case, first_lines, monkeypatch):
    """Keys or value types first seen after the schema's lines must never be dropped or coerced: the one
    parse refuses them and the whole-file inference answers, so the rows are those of inferring from every line."""
    from lensforge.catalog.spec import IngestSpec
    from lensforge.ingest import readers

    spec = IngestSpec.model_validate(
        {"format": "jsonl", "files": [{"split": "train", "path": "x.jsonl"}], "columns": {"text": "text"}}
    )
    data = _ONE_PARSE_CASES[case]
    monkeypatch.setattr(readers, "JSONL_SCHEMA_LINES", first_lines)
    one = readers._jsonl_whole(data, spec)
    monkeypatch.setattr(readers, "_ndjson_one_parse", lambda *a: None)
    whole = readers._jsonl_whole(data, spec)
    assert (one is None) == (whole is None)
    if one is not None:
        assert (one.columns, one.records) == (whole.columns, whole.records)
        assert one.rows.to_dicts() == whole.rows.to_dicts()


def test_jsonl_one_parse_takes_files_whose_first_lines_show_every_key_and_type(monkeypatch):
    from lensforge.ingest import readers

    monkeypatch.setattr(readers, "JSONL_SCHEMA_LINES", 1)
    taken = {
        case
        for case, data in _ONE_PARSE_CASES.items()
        if readers._ndjson_one_parse(data, readers._line_ends(data)) is not None
    }
    assert taken == {"clean", "missing_later", "float_then_int", "bools", "long_line"}


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
def test_byte_positions_a_chunk_at_a_time_are_every_position(chunk, monkeypatch):
    from lensforge.ingest import readers

    monkeypatch.setattr(readers, "_SCAN_CHUNK", chunk)
    data = ('a,"b\nc"\nسلام,"x ""y"""\nनमस्ते\n' * 5).encode() + b"end"
    raw = np.frombuffer(data, dtype=np.uint8)
    for value in (ord("\n"), ord('"')):
        assert readers._byte_positions(raw, value).tolist() == np.flatnonzero(raw == value).tolist()
    assert readers._line_ends(b"a\n").tolist() == [1]
    assert readers._line_ends(b"a\nb").tolist() == [1, 3]
