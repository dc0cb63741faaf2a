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

import polars as pl
import pytest

from lensforge.ingest.clean import _HTML_ENTITY, _collapse_whitespace, nfkc, normalise_series
from lensforge.ingest.nfkc_table import UNICODE_VERSION, build_tables, nfkc_tables, not_nfkc_pattern
from lensforge.ingest.normalise import _text_keys_each, apply_where, text_keys

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
