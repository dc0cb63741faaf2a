"""The embedded demo corpus (lensforge/demo): planted facts, formats, learnable labels, reproducible bytes.

The files are read here with the stdlib only, following each registry entry's ingest spec, so these
tests check the data against its declaration without depending on the ingest stage.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from lensforge.catalog.registry import load_builtin
from lensforge.catalog.spec import DatasetEntry, FileSpec

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "lensforge" / "demo"
DATA = DEMO / "data"
REGISTRY = DEMO / "registry"
GENERATOR = ROOT / "tools" / "make_demo_corpus.py"

# slug -> (language, task_type, format, {file: rows})
EXPECTED_DATASETS = {
    "demo_news_sentiment_en": ("en", "classification", "csv", {"train.csv": 150, "dev.csv": 30, "test.csv": 60}),
    "demo_sarcasm_ar": ("ar", "classification", "tsv", {"train.tsv": 160, "test.tsv": 50}),
    "demo_checkworthy_en": ("en", "classification", "jsonl", {"tweets.jsonl": 200}),
    "demo_hate_hi": ("hi", "classification", "csv", {"train.csv": 150, "test.csv": 51}),
    "demo_stance_ar": ("ar", "pair_classification", "jsonl", {"train.jsonl": 150, "test.jsonl": 45}),
    "demo_nli_hi": ("hi", "pair_classification", "tsv", {"train.tsv": 150, "test.tsv": 45}),
    "demo_summaries_en": ("en", "generation", "jsonl", {"train.jsonl": 100, "test.jsonl": 25}),
}

# (slug, kind, value, where) -> count: everything planted, and nothing else.
EXPECTED_DIRT = {
    ("demo_news_sentiment_en", "duplicate_same_label", "", "train.csv"): 3,
    ("demo_news_sentiment_en", "train_test_overlap", "", "train.csv + test.csv"): 2,
    ("demo_news_sentiment_en", "html_entity", "", "train.csv"): 3,
    ("demo_news_sentiment_en", "html_entity", "", "test.csv"): 1,
    ("demo_news_sentiment_en", "extra_whitespace", "", "train.csv"): 3,
    ("demo_sarcasm_ar", "duplicate_conflicting_label", "", "train.tsv"): 2,
    ("demo_sarcasm_ar", "too_short", "", "train.tsv"): 4,
    ("demo_sarcasm_ar", "train_test_overlap", "", "train.tsv + test.tsv"): 1,
    ("demo_sarcasm_ar", "bare_quote", "", "train.tsv"): 5,
    ("demo_checkworthy_en", "label_spelling", "check_worthy", "tweets.jsonl"): 6,
    ("demo_checkworthy_en", "label_spelling", "checkworthy", "tweets.jsonl"): 5,
    ("demo_checkworthy_en", "label_spelling", "not_check_worthy", "tweets.jsonl"): 7,
    ("demo_checkworthy_en", "duplicate_same_label", "", "tweets.jsonl"): 3,
    ("demo_checkworthy_en", "duplicate_conflicting_label", "", "tweets.jsonl"): 1,
    ("demo_checkworthy_en", "too_short", "", "tweets.jsonl"): 2,
    ("demo_checkworthy_en", "extra_whitespace", "", "tweets.jsonl"): 3,
    ("demo_hate_hi", "label_spelling", "नफरत", "train.csv"): 3,
    ("demo_hate_hi", "label_spelling", "नफरत", "test.csv"): 1,
    ("demo_hate_hi", "label_spelling", "अपमानजनक", "train.csv"): 3,
    ("demo_hate_hi", "duplicate_conflicting_label", "", "train.csv"): 1,
    ("demo_hate_hi", "too_short", "", "train.csv"): 2,
    ("demo_hate_hi", "train_test_overlap", "", "train.csv + test.csv"): 1,
    ("demo_stance_ar", "duplicate_same_label", "", "train.jsonl"): 2,
    ("demo_stance_ar", "train_test_overlap", "", "train.jsonl + test.jsonl"): 1,
    ("demo_nli_hi", "duplicate_conflicting_label", "", "train.tsv"): 1,
    ("demo_nli_hi", "extra_whitespace", "", "train.tsv"): 2,
    ("demo_summaries_en", "duplicate_same_label", "", "train.jsonl"): 1,
    ("demo_summaries_en", "html_entity", "", "train.jsonl"): 2,
    ("demo_summaries_en", "html_entity", "", "test.jsonl"): 1,
    ("demo_summaries_en", "extra_whitespace", "", "train.jsonl"): 2,
}

# How curation is expected to unify the raw label spellings (written here, not taken from the generator).
CANONICAL = {
    "demo_checkworthy_en": {
        "check_worthy": "Check-worthy",
        "checkworthy": "Check-worthy",
        "not_check_worthy": "Not-check-worthy",
    },
    "demo_hate_hi": {"नफरत": "hate", "अपमानजनक": "offensive"},
    "demo_sarcasm_ar": {"TRUE": "sarcastic", "FALSE": "not-sarcastic"},
}

HTML_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[A-Za-z]+);")
ARABIC = re.compile(r"[\u0600-\u06FF]")
DEVANAGARI = re.compile(r"[\u0900-\u097F]")
PUNCT = ".,!?;:\"'()[]{}«»،؛؟।…-–—#@*/\\|"


# ---------------------------------------------------------------------------------------------
# Reading the files as their entries declare them
# ---------------------------------------------------------------------------------------------


def _entries() -> dict[str, DatasetEntry]:
    return {item.entry.source.package: item.entry for item in load_builtin("demo")}


ENTRIES = _entries()


def read_raw(entry: DatasetEntry, spec: FileSpec) -> list[dict]:
    ing = entry.ingest
    path = DATA / entry.source.package / spec.path
    text = path.read_bytes().decode("utf-8")
    if ing.format == "jsonl":
        return [json.loads(line) for line in text.split("\n") if line.strip()]
    delimiter = ing.delimiter or ("," if ing.format == "csv" else "\t")
    if ing.quoting:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    else:
        assert text.endswith("\n")
        records = [line.split(delimiter) for line in text[:-1].split("\n")]
    names = records.pop(0) if ing.header else list(ing.column_names)
    for rec in records:
        assert len(rec) == len(names), f"{path}: ragged row {rec!r}"
    return [dict(zip(names, rec, strict=True)) for rec in records]


class Row:
    def __init__(self, slug: str, entry: DatasetEntry, raw: dict) -> None:
        cols = entry.ingest.columns
        self.raw = raw
        self.text = str(raw[cols.text])
        self.pair = str(raw[cols.text_pair]) if cols.text_pair else None
        self.label_raw = str(raw[cols.label]) if cols.label else None
        self.target = str(raw[cols.target]) if cols.target else None
        self.id = str(raw[cols.id])
        if self.label_raw is not None:
            self.label = CANONICAL.get(slug, {}).get(self.label_raw, self.label_raw)
        else:
            self.label = self.target

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.text, self.pair)


def load(slug: str) -> dict[str, tuple[FileSpec, list[Row]]]:
    entry = ENTRIES[slug]
    return {spec.path: (spec, [Row(slug, entry, raw) for raw in read_raw(entry, spec)]) for spec in entry.ingest.files}


def letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


def tokens(text: str) -> list[str]:
    return [w for w in (t.strip(PUNCT) for t in text.lower().split()) if w]


def compute_dirt(slug: str) -> dict[tuple[str, str, str, str], int]:
    """Recount every kind of dirt from the files; zero counts are left out."""
    entry = ENTRIES[slug]
    files = load(slug)
    out: Counter = Counter()
    for name, (_spec, rows) in files.items():
        groups: dict[tuple, list[Row]] = {}
        for row in rows:
            groups.setdefault(row.key, []).append(row)
        for group in groups.values():
            labels = {r.label for r in group}
            if len(labels) == 1:
                out[(slug, "duplicate_same_label", "", name)] += len(group) - 1
            else:
                out[(slug, "duplicate_conflicting_label", "", name)] += 1
        for row in rows:
            texts = [row.text] + ([row.pair] if row.pair is not None else [])
            out[(slug, "too_short", "", name)] += letters(row.text) < 3
            out[(slug, "html_entity", "", name)] += any(HTML_ENTITY.search(t) is not None for t in texts)
            out[(slug, "extra_whitespace", "", name)] += any(t != " ".join(t.split()) for t in texts)
            if not entry.ingest.quoting:
                out[(slug, "bare_quote", "", name)] += any('"' in t for t in texts)
            if (
                row.label_raw is not None
                and row.label_raw not in entry.labels
                and row.label_raw not in (entry.ingest.labels.mapping)
            ):
                out[(slug, "label_spelling", row.label_raw, name)] += 1
    by_split = {spec.split: (name, {r.key for r in rows}) for name, (spec, rows) in files.items()}
    if "train" in by_split and "test" in by_split:
        (train_name, train_keys), (test_name, test_keys) = by_split["train"], by_split["test"]
        out[(slug, "train_test_overlap", "", f"{train_name} + {test_name}")] += len(train_keys & test_keys)
    return {k: v for k, v in out.items() if v}


def readme_dirt() -> dict[tuple[str, str, str, str], int]:
    text = (DATA / "README.md").read_text(encoding="utf-8")
    section = text.split("## Planted dirt", 1)[1]
    out = {}
    for line in section.splitlines():
        if not line.startswith("| `demo_"):
            continue
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        slug, kind, value, where, count = cells[:5]
        out[(slug, kind, value, where)] = int(count)
    return out


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def test_registry_entries_validate_and_cover_the_demo():
    items = load_builtin("demo")
    assert len(items) == len(EXPECTED_DATASETS)
    assert set(ENTRIES) == set(EXPECTED_DATASETS)
    for item in items:
        e = item.entry
        slug = e.source.package
        language, task_type, fmt, files = EXPECTED_DATASETS[slug]
        assert item.origin == f"registry/{language}/{slug}.yaml"
        assert (e.language, e.task_type, e.ingest.format) == (language, task_type, fmt)
        assert e.collection == "demo" and e.status == "selected" and e.version == "1"
        assert e.license == "CC0-1.0 (demo data written for lensforge)"
        assert e.name.startswith("Demo") and e.task_definition and e.capability
        assert (DATA / slug).is_dir()
        assert sorted(p.name for p in (DATA / slug).iterdir()) == sorted(files)
        assert [f.path for f in e.ingest.files] == list(files)
        assert e.has_official_split == ("yes" if len(files) > 1 else "no")
        for spec in e.ingest.files:
            assert spec.expected_records == files[spec.path]
            assert getattr(e.published_sizes, spec.split) == files[spec.path]
        if language in ("ar", "hi") and task_type != "generation":
            assert set(e.label_native) == set(e.labels)
            assert set(e.label_native) <= set(e.label_space)
            assert all(language in names for names in e.label_native.values())
        assert "demo" in (e.notes or "").lower()
    assert {e.language for e in ENTRIES.values()} == {"ar", "en", "hi"}
    assert len({e.task for e in ENTRIES.values()}) >= 4
    assert {e.task_type for e in ENTRIES.values()} >= {"classification", "pair_classification", "generation"}


@pytest.mark.parametrize("slug", sorted(EXPECTED_DATASETS))
def test_rows_per_file_match_the_declaration(slug):
    files = load(slug)
    _, _, _, expected = EXPECTED_DATASETS[slug]
    counts = {name: len(rows) for name, (_spec, rows) in files.items()}
    assert counts == expected
    assert 100 <= sum(counts.values()) <= 300
    ids = [row.id for _spec, rows in files.values() for row in rows]
    assert len(ids) == len(set(ids)), "ids must be unique within a dataset"


@pytest.mark.parametrize("slug", sorted(EXPECTED_DATASETS))
def test_label_space_is_exactly_the_raw_values(slug):
    entry = ENTRIES[slug]
    raw = {row.label_raw for _spec, rows in load(slug).values() for row in rows}
    if entry.task_type == "generation":
        assert raw == {None}
        assert entry.ingest.columns.target and not entry.ingest.labels.space
        return
    mapping = entry.ingest.labels.mapping
    if mapping:
        assert raw == set(mapping)
        assert set(mapping.values()) == set(entry.ingest.labels.space) == set(entry.labels)
    else:
        assert raw == set(entry.ingest.labels.space)
        assert set(entry.labels) <= raw
    canonical = {CANONICAL.get(slug, {}).get(v, v) for v in raw}
    assert canonical == set(entry.labels)
    assert 2 <= len(entry.labels) <= 3


def test_readme_and_notes_record_exactly_the_planted_dirt():
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    assert "Synthetic demo data written for lensforge" in readme
    assert readme_dirt() == EXPECTED_DIRT
    for (slug, kind, value, where), count in EXPECTED_DIRT.items():
        what = kind.replace("_", " ") + (f" {value}" if value else "")
        assert f"{what}: {count} in {where}" in ENTRIES[slug].notes
    for slug, (_lang, _tt, _fmt, files) in EXPECTED_DATASETS.items():
        for name, n in files.items():
            assert f"{name}: {n} (" in readme, f"README does not state {slug}/{name} rows"
    kinds = {k[1] for k in EXPECTED_DIRT}
    assert kinds == {
        "duplicate_same_label",
        "duplicate_conflicting_label",
        "label_spelling",
        "too_short",
        "train_test_overlap",
        "html_entity",
        "extra_whitespace",
        "bare_quote",
    }


@pytest.mark.parametrize("slug", sorted(EXPECTED_DATASETS))
def test_planted_dirt_counts_match_the_files(slug):
    expected = {k: v for k, v in EXPECTED_DIRT.items() if k[0] == slug}
    assert compute_dirt(slug) == expected


def test_no_overlap_between_other_splits():
    for slug in EXPECTED_DATASETS:
        by_split = {spec.split: {r.key for r in rows} for spec, rows in load(slug).values()}
        if "dev" in by_split:
            assert not by_split["dev"] & by_split["train"]
            assert not by_split["dev"] & by_split["test"]


def test_html_unescape_is_declared_where_entities_were_planted():
    planted = {k[0] for k in EXPECTED_DIRT if k[1] == "html_entity"}
    for slug, entry in ENTRIES.items():
        assert entry.ingest.html_unescape == (slug in planted)


def test_formats_as_declared():
    # Quoted CSV: commas and doubled quotes inside quoted fields.
    raw = (DATA / "demo_news_sentiment_en" / "train.csv").read_text(encoding="utf-8")
    assert '""' in raw
    rows = [r for _s, rs in load("demo_news_sentiment_en").values() for r in rs]
    assert sum("," in r.text and '"' in r.text for r in rows) >= len(rows) // 2
    # Unquoted TSV: bare quotes are ordinary text, one opens a field, one is never closed.
    rows = [r for _s, rs in load("demo_sarcasm_ar").values() for r in rs]
    assert any(r.text.startswith('"') for r in rows)
    assert any(r.text.count('"') % 2 == 1 for r in rows)
    assert ENTRIES["demo_sarcasm_ar"].ingest.quoting is False
    text = (DATA / "demo_sarcasm_ar" / "train.tsv").read_text(encoding="utf-8")
    quoted = list(csv.reader(io.StringIO(text, newline=""), delimiter="\t"))
    plain = [line.split("\t") for line in text[:-1].split("\n")]
    assert quoted != plain, "reading with CSV quoting should change some tweets; that is why quoting is off"
    # Headerless TSV: the first line is already a record.
    first = (DATA / "demo_nli_hi" / "train.tsv").read_text(encoding="utf-8").split("\n", 1)[0].split("\t")
    assert first[0] != "pair_id" and first[3] in ENTRIES["demo_nli_hi"].label_space
    # JSONL: one object per line; tweet ids are JSON integers.
    rows = [r for _s, rs in load("demo_checkworthy_en").values() for r in rs]
    assert all(isinstance(r.raw["tweet_id"], int) for r in rows)
    # Every file: UTF-8 without BOM, LF line ends, final newline.
    for path in sorted(DATA.glob("*/*")):
        data = path.read_bytes()
        assert not data.startswith(b"\xef\xbb\xbf") and b"\r" not in data and data.endswith(b"\n"), path


def test_scripts_match_the_language():
    for slug, entry in ENTRIES.items():
        rows = [r for _s, rs in load(slug).values() for r in rs if letters(r.text) >= 3]
        if entry.language == "ar":
            assert all(ARABIC.search(r.text) for r in rows)
        elif entry.language == "hi":
            native = [r for r in rows if DEVANAGARI.search(r.text)]
            roman = len(rows) - len(native)
            assert roman == (12 if slug == "demo_hate_hi" else 0)  # 12 Hinglish posts
        else:
            assert all(r.text.isascii() for r in rows)


@pytest.mark.parametrize("slug", sorted(s for s, v in EXPECTED_DATASETS.items() if v[1] != "generation"))
def test_classes_are_balanced(slug):
    entry = ENTRIES[slug]
    everything: Counter = Counter()
    for name, (_spec, rows) in load(slug).items():
        counts = Counter(r.label for r in rows)
        everything.update(counts)
        assert set(counts) == set(entry.labels), name
        assert max(counts.values()) / len(rows) <= 0.5, name
        assert min(counts.values()) / len(rows) >= 0.8 / len(entry.labels), name
    assert max(everything.values()) / sum(everything.values()) <= 0.5


def _macro_f1(gold: list[str], pred: list[str | None], labels: list[str]) -> float:
    scores = []
    for lab in labels:
        tp = sum(g == lab and p == lab for g, p in zip(gold, pred, strict=True))
        fp = sum(g != lab and p == lab for g, p in zip(gold, pred, strict=True))
        fn = sum(g == lab and p != lab for g, p in zip(gold, pred, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores)


@pytest.mark.parametrize("slug", sorted(s for s, v in EXPECTED_DATASETS.items() if v[1] != "generation"))
def test_labels_are_learnable_by_a_cue_word_classifier(slug):
    """Cue words = words seen 3+ times in one class's training rows and (nearly) never in the others."""
    entry = ENTRIES[slug]
    files = load(slug)
    rows = [r for _s, rs in files.values() for r in rs]
    splits = {spec.split: rs for spec, rs in files.values()}
    if "test" in splits:
        train, held_out = splits["train"], splits["test"]
    else:
        train = [r for i, r in enumerate(rows) if i % 4]
        held_out = [r for i, r in enumerate(rows) if not i % 4]

    def words(r: Row) -> set[str]:
        return set(tokens(r.text + " " + (r.pair or "")))

    per_class = {lab: Counter() for lab in entry.labels}
    for r in train:
        per_class[r.label].update(words(r))
    cues = {}
    for lab, counts in per_class.items():
        cues[lab] = {
            w for w, n in counts.items() if n >= 3 and n >= 0.9 * sum(per_class[other][w] for other in entry.labels)
        }
        assert len(cues[lab]) >= 3, f"{lab}: too few cue words"

    def predict(r: Row) -> str | None:
        hits = {lab: len(words(r) & cues[lab]) for lab in entry.labels}
        best = max(hits.values())
        winners = [lab for lab, n in hits.items() if n == best]
        return winners[0] if best and len(winners) == 1 else None

    gold = [r.label for r in held_out]
    pred = [predict(r) for r in held_out]
    accuracy = sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold)
    assert accuracy >= 0.9, f"cue-word accuracy {accuracy:.2f}"
    majority = Counter(r.label for r in train).most_common(1)[0][0]
    baseline = _macro_f1(gold, [majority] * len(gold), entry.labels)
    assert _macro_f1(gold, pred, entry.labels) >= baseline + 0.4


def test_summaries_are_one_sentence_of_a_short_paragraph():
    for _spec, rows in load("demo_summaries_en").values():
        for r in rows:
            sentences = [s for s in re.split(r"(?<=\.)\s+", " ".join(r.text.split())) if s]
            assert 2 <= len(sentences) <= 4, r.text
            assert r.target.endswith(".") and r.target.count(". ") == 0
            assert len(r.target) < len(r.text)


def test_no_accidental_near_duplicates():
    """Apart from the planted copies, no two rows share most of their words (near-dup removal keeps the data)."""
    for slug in EXPECTED_DATASETS:
        rows = [r for _s, rs in load(slug).values() for r in rs]
        keys = {" ".join((r.text + " " + (r.pair or "")).split()) for r in rows}
        sets = [set(tokens(k)) for k in sorted(keys)]
        sets = [s for s in sets if s]
        for i, a in enumerate(sets):
            for b in sets[i + 1 :]:
                assert len(a & b) / len(a | b) < 0.8, (slug, sorted(a & b))


def test_demo_data_is_small():
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert total < 400 * 1024


def test_generator_reproduces_the_committed_bytes(tmp_path):
    for run in ("a", "b"):
        out = tmp_path / run
        subprocess.run([sys.executable, str(GENERATOR), "--out", str(out)], check=True, capture_output=True)
    committed = sorted(
        p.relative_to(DEMO)
        for p in DEMO.rglob("*")
        if p.is_file()
        and p.suffix != ".py"
        and "__pycache__" not in p.parts
        and p.relative_to(DEMO).parts[0] in ("data", "registry")
    )
    generated = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert generated == committed
    for rel in generated:
        a = (tmp_path / "a" / rel).read_bytes()
        assert a == (tmp_path / "b" / rel).read_bytes(), f"{rel} differs between two runs"
        assert a == (DEMO / rel).read_bytes(), f"{rel} differs from the committed file: rerun the generator"
