"""Near-duplicate search on real tweets and news sentences (Arabic, English, Hindi) with planted light edits.

The corpus is ~570 real texts read in place from shared/data (csv module: TSVs with quoting disabled),
split into train/dev/test by position. Fifty light edits of them are planted in another split of the
same dataset, in another dataset (an "older release"), or in the same split, and 40 ArSarcasm v1 test
tweets sit beside their copies in v2 train (a real release contained in a newer one). The search must
find every planted and every v1/v2 pair with the right kind, and every pair it reports must really be
near-identical by an independent word-overlap check. Smaller hand-made cases cover hard negatives, the
exact similarity, normalisation, tiny texts and the bucket cap.
"""

from __future__ import annotations

import csv
import os
import random
import re
from pathlib import Path

import polars as pl
import pytest

from lensforge.errors import LensforgeError
from lensforge.ingest.neardup import (
    KINDS,
    PAIR_SCHEMA,
    NearDupParams,
    find_near_duplicates,
    find_near_duplicates_with_stats,
)

SHARED_DATA = Path(os.environ.get("LENSFORGE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
# dataset name -> (file under shared/data, text column, tsv?, rows taken, language)
SOURCES = {
    "davidson_en": ("davidson_hate_offensive_en/labeled_data.csv", "tweet", False, 130, "en"),
    "ct25_en": ("ct25_subjectivity_en/dev_test_en.tsv", "sentence", True, 60, "en"),
    "arsarcasm_ar": ("arsarcasm_v2/testing_data.csv", "tweet", False, 120, "ar"),
    "ct22_ar": ("ct22_checkworthy_ar/CT22_arabic_1A_checkworthy_dev_test.tsv", "tweet_text", True, 60, "ar"),
    "hasoc_hi": ("hasoc2019_hindi/hindi_data_test_gold.tsv", "text", True, 120, "hi"),
}
# where a cross-dataset copy goes: an older release of the same collection, or a sibling dataset
OTHER = {"davidson_en": "davidson_en_v0", "ct25_en": "ct25_en_v0", "arsarcasm_ar": "arsarcasm_ar_v1"}
OTHER |= {"ct22_ar": "arsarcasm_ar", "hasoc_hi": "hasoc_hi_v0"}
V1_TEST, V2_TRAIN = "arsarcasm_v1/ArSarcasm_test.csv", "arsarcasm_v2/training_data.csv"
WORDS = {"en": ["really", "today", "people"], "ar": ["جدا", "اليوم", "الناس"], "hi": ["बहुत", "आज", "लोग"]}
EDITS = ["url", "mention", "punct", "word_add", "word_remove", "word_change", "script"]
PLACEMENT = ["cross_split", "cross_dataset", "within_split"]


def _read(root: Path, path: str, column: str, tsv: bool, rows: int) -> list[str]:
    with open(root / path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t" if tsv else ",", quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL)
        header = next(reader)
        i = header.index(column)
        out: list[str] = []
        seen: set[str] = set()
        for rec in reader:
            text = " ".join(rec[i].strip().strip('"').split()) if len(rec) > i else ""
            if len(text.split()) >= 3 and text not in seen:  # exact dedup happened upstream
                seen.add(text)
                out.append(text)
            if len(out) == rows:
                return out
    return out


def _edit(text: str, edit: str, lang: str) -> str:
    words = text.split()
    mid = len(words) // 2
    if edit == "url":
        words = [w for w in words if not w.startswith("http")] + ["https://t.co/Zq81LmX0pa"]
    elif edit == "mention":
        words = ["@news_desk_24", *words]
    elif edit == "punct":
        words = [w.strip(",.!?؟।") for w in words]
        words[-1] += " !!"
    elif edit == "word_add":
        words.insert(mid, WORDS[lang][0])
    elif edit == "word_remove":
        del words[mid]
    elif edit == "word_change":
        words[mid] = WORDS[lang][1]
    elif lang == "ar":  # tatweel and a diacritic inside the longest word
        j = max(range(len(words)), key=lambda k: len(words[k]))
        words[j] = words[j][:2] + "ـ" + words[j][2] + "َ" + words[j][3:]
    elif lang == "en":
        words = [w.upper() for w in words]
    else:
        words[-1] += "।"
    return " ".join(words)


def _plain_words(text: str) -> list[str]:
    """An independent, simpler normalisation: lower-case words without URLs, @mentions, marks or punctuation."""
    text = re.sub(r"https?://\S+|@\w+|[\u064B-\u065F\u0640]", " ", text.lower())
    return re.findall(r"\w+", text)


@pytest.fixture(scope="module")
def corpus() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(frame: sample_id/dataset/split/text; planted pairs: a_id/b_id/edit/kind; real v1-in-v2 pairs: a_id/b_id)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real datasets not found at {SHARED_DATA} (set LENSFORGE_SHARED_DATA)")
    rng = random.Random(7)
    rows: list[tuple[str, str, str, str]] = []
    planted: list[tuple[str, str, str, str]] = []
    for d, (dataset, (path, column, tsv, n, lang)) in enumerate(SOURCES.items()):
        texts = _read(SHARED_DATA, path, column, tsv, n)
        assert len(texts) == n, f"{path}: only {len(texts)} usable rows"
        for i, text in enumerate(texts):
            split = ("test", "dev", "train", "train", "train")[i % 5]
            rows.append((f"{dataset}:{i:04d}", dataset, split, text))
        # plant light edits of texts long enough that one edit is light (14+ words besides URLs/@mentions)
        long = [r for r in rows if r[1] == dataset and len(_plain_words(r[3])) >= 14]
        for j, (sid, _, split, text) in enumerate(rng.sample(long, 10)):
            edit = EDITS[j % len(EDITS)]
            kind = PLACEMENT[(j + d) % len(PLACEMENT)]
            dup_ds, dup_split = dataset, split
            if kind == "cross_split":
                dup_split = "train" if split != "train" else "test"
            elif kind == "cross_dataset":
                dup_ds = OTHER[dataset]
            dup_id = f"{dup_ds}:{dataset}-edit{j:02d}"
            rows.append((dup_id, dup_ds, dup_split, _edit(text, edit, lang)))
            planted.append((min(sid, dup_id), max(sid, dup_id), edit, kind))
    # a real older release inside a newer one: ArSarcasm v1 test tweets reappear in v2 train (quoting differs)
    v2_train = {" ".join(_plain_words(t)): t for t in _read(SHARED_DATA, V2_TRAIN, "tweet", False, 20_000)}
    real: list[tuple[str, str]] = []
    for i, text in enumerate(_read(SHARED_DATA, V1_TEST, "tweet", False, 40)):
        rows.append((f"arsarcasm_v1:{i:04d}", "arsarcasm_v1", "test", text))
        newer = v2_train.get(" ".join(_plain_words(text)))
        if newer is not None:
            rows.append((f"arsarcasm_v2:{i:04d}", "arsarcasm_v2", "train", newer))
            real.append((f"arsarcasm_v1:{i:04d}", f"arsarcasm_v2:{i:04d}"))
    frame = pl.DataFrame(rows, schema=["sample_id", "dataset", "split", "text"], orient="row")
    truth = pl.DataFrame(planted, schema=["a_id", "b_id", "edit", "kind"], orient="row")
    return frame, truth, pl.DataFrame(real, schema=["a_id", "b_id"], orient="row")


@pytest.fixture(scope="module")
def found(corpus: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]) -> pl.DataFrame:
    return find_near_duplicates(corpus[0])


def test_finds_every_planted_light_edit_with_its_kind(corpus, found):
    _, truth, _ = corpus
    assert truth.height == 50 and set(truth["kind"]) == set(KINDS)
    hits = truth.join(found, on=["a_id", "b_id"], how="left", suffix="_found")
    missed = hits.filter(pl.col("similarity").is_null())
    assert missed.is_empty(), f"missed planted pairs:\n{missed.select('a_id', 'b_id', 'edit')}"
    assert (hits["kind"] == hits["kind_found"]).all()
    assert (hits["similarity"] >= 0.6).all()
    # surface-only edits (URL, @mention, punctuation, tatweel/diacritics, case) vanish in normalisation
    surface = hits.filter(pl.col("edit").is_in(["url", "mention", "punct", "script"]))
    assert (surface["similarity"] == 1.0).all()
    assert found.schema == pl.Schema(PAIR_SCHEMA)
    assert (found["a_id"] < found["b_id"]).all()
    assert found.select("a_id", "b_id").is_unique().all()


def test_finds_the_older_release_inside_the_newer_one(corpus, found):
    _, _, real = corpus
    assert real.height >= 30  # most of the 40 v1 tweets are in v2 train
    hits = real.join(found, on=["a_id", "b_id"], how="left")
    assert hits["similarity"].is_not_null().all()
    assert (hits["kind"] == "cross_dataset").all()


def test_every_other_reported_pair_is_really_near_identical(corpus, found):
    _, truth, real = corpus
    others = found.join(truth, on=["a_id", "b_id"], how="anti").join(real, on=["a_id", "b_id"], how="anti")
    checked = found.join(truth, on=["a_id", "b_id"], how="anti")
    assert checked.height > others.height  # the real v1/v2 pairs are checked here too
    for a, b, sim in checked.select("a_text", "b_text", "similarity").iter_rows():
        wa, wb = set(_plain_words(a)), set(_plain_words(b))
        overlap = len(wa & wb) / max(len(wa | wb), 1)
        assert overlap >= 0.5, f"unrelated texts paired (similarity {sim:.2f}):\n  {a}\n  {b}"


def test_related_but_different_texts_are_not_paired():
    texts = [
        "The government announced new measures on Monday to fight inflation and support families",
        "The opposition said on Monday that the government measures will not stop inflation",
        "الحكومة تعلن اليوم عن إجراءات جديدة لمكافحة التضخم ودعم الأسر محدودة الدخل",
        "المعارضة تقول إن إجراءات الحكومة الجديدة لن توقف التضخم ولن تدعم الأسر",
        "सरकार ने आज महंगाई से लड़ने और परिवारों की मदद के लिए नए कदमों की घोषणा की",
        "विपक्ष ने कहा कि सरकार के नए कदम महंगाई को नहीं रोक पाएंगे और परिवारों की मदद नहीं करेंगे",
    ]
    frame = pl.DataFrame(
        {
            "sample_id": [f"n{i}" for i in range(len(texts))],
            "dataset": ["news"] * len(texts),
            "split": ["train", "test"] * 3,
            "text": texts,
        }
    )
    assert find_near_duplicates(frame).is_empty()
    # the same corpus with one light edit per language does report exactly those three pairs
    edited = frame.vstack(
        frame.head(5)
        .gather_every(2)
        .with_columns(pl.col("sample_id") + "_copy", pl.col("text").str.replace(r"\S+$", "!!"))
    )
    pairs = find_near_duplicates(edited)
    assert sorted(pairs["b_id"]) == ["n0_copy", "n2_copy", "n4_copy"]
    assert (pairs["a_id"] + "_copy" == pairs["b_id"]).all()


def test_similarity_is_the_exact_jaccard_and_the_threshold_holds():
    base = (
        "the city council met on tuesday evening to discuss the new budget for schools "
        "roads and parks in the northern district"
    ).split()
    edited = list(base)
    for i in (3, 8, 13, 18):  # four words changed, spread out: a heavy edit, not a light one
        edited[i] = f"x{i}"
    frame = pl.DataFrame(
        {
            "sample_id": ["a", "b"],
            "dataset": ["council"] * 2,
            "split": ["train", "test"],
            "text": [" ".join(base), " ".join(edited)],
        }
    )
    bigrams = [{(w[i], w[i + 1]) for i in range(len(w) - 1)} for w in (base, edited)]
    jaccard = len(bigrams[0] & bigrams[1]) / len(bigrams[0] | bigrams[1])
    assert 0.4 < jaccard < 0.6
    assert find_near_duplicates(frame).is_empty()  # below the default 0.6
    pairs = find_near_duplicates(frame, NearDupParams(threshold=0.4))
    assert pairs["similarity"].to_list() == pytest.approx([jaccard], abs=1e-12)
    assert pairs["kind"].to_list() == ["cross_split"]


def test_normalisation_folds_surface_variants():
    variants = [
        ("أحمد ذهب إلى المدرسة في الصباح مع أخيه الصغير", "احمد ذهب الى المدرسه في الصباح مع اخيه الصغير"),
        ("مَرْحَباً بِكُمْ فِي البَرْنامَج الجَدِيد اليوم", "مرحـــبا بكم في البرنامج الجديد اليوم"),
        (
            "Breaking: floods hit the coast, thousands evacuated! https://t.co/a1",
            "@desk breaking floods hit the coast thousands evacuated",
        ),
        ("मुंबई में भारी बारिश से जनजीवन प्रभावित।", "मुंबई में भारी बारिश से जन‍जीवन प्रभावित"),
    ]
    texts = [t for pair in variants for t in pair]
    frame = pl.DataFrame(
        {
            "sample_id": [f"v{i}" for i in range(len(texts))],
            "dataset": ["variants"] * len(texts),
            "split": ["train", "test"] * len(variants),
            "text": texts,
        }
    )
    pairs = find_near_duplicates(frame)
    assert sorted(zip(pairs["a_id"], pairs["b_id"], strict=True)) == [(f"v{2 * i}", f"v{2 * i + 1}") for i in range(4)]
    assert (pairs["similarity"] == 1.0).all()


def test_scope_filters_same_dataset_and_cross_dataset_pairs(corpus, found):
    frame = corpus[0]
    within = find_near_duplicates(frame, scope="within")
    across = find_near_duplicates(frame, scope="across")
    assert not within.is_empty() and not across.is_empty()
    assert (within["a_dataset"] == within["b_dataset"]).all()
    assert set(within["kind"]) <= {"cross_split", "within_split"}
    assert (across["kind"] == "cross_dataset").all()
    assert pl.concat([within, across]).sort("a_id", "b_id").equals(found)
    with pytest.raises(LensforgeError):
        find_near_duplicates(frame, scope="everything")  # type: ignore[arg-type]


def test_deterministic_and_independent_of_row_order(corpus, found):
    frame = corpus[0]
    assert find_near_duplicates(frame).equals(found)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=3)
    assert find_near_duplicates(shuffled).equals(found)


def test_params_are_recorded_and_checked():
    params = NearDupParams()
    d = params.as_dict()
    assert d["shingle"] == "word" and d["ngram"] == 2
    assert d["num_perm"] == 128 and d["bands"] == 32 and d["rows_per_band"] == 4
    assert d["threshold"] == 0.6 and d["max_bucket"] == 100 and d["seed"] == 42
    assert d["similarity"] == "exact_jaccard" and d["minhash"].startswith("rensa ")
    with pytest.raises(LensforgeError):
        NearDupParams(num_perm=100, bands=32)
    with pytest.raises(LensforgeError):
        NearDupParams(threshold=0.0)
    with pytest.raises(LensforgeError):
        NearDupParams(shingle="sentence")  # type: ignore[arg-type]


def test_tiny_and_empty_texts_are_handled():
    texts = ["ok", "OK!", "lol", "شكرا", "شُكْراً", "हाँ", "हाँ।", "good morning", "Good morning!!", "👍", "", "   "]
    texts += ["@someone", "https://t.co/abc", "@other https://t.co/xyz"]
    frame = pl.DataFrame(
        {
            "sample_id": [f"t{i:02d}" for i in range(len(texts))],
            "dataset": ["tiny"] * len(texts),
            "split": ["train"] * len(texts),
            "text": texts,
        }
    )
    pairs, stats = find_near_duplicates_with_stats(frame)
    got = {(a, b) for a, b in pairs.select("a_text", "b_text").iter_rows()}
    # one- and two-word texts compare whole (one shingle): equal after normalisation or not at all
    assert got == {("ok", "OK!"), ("شكرا", "شُكْراً"), ("हाँ", "हाँ।"), ("good morning", "Good morning!!")}
    assert (pairs["similarity"] == 1.0).all()
    assert stats.rows_empty == 6  # emoji, blanks, bare @mention/URL: nothing left to compare


def test_huge_bucket_is_capped_not_quadratic():
    # 400 copies of the same greeting, differing only in @mention and URL: one giant LSH bucket
    texts = [f"@fan{i} Good morning everyone, have a great day https://t.co/x{i}" for i in range(400)]
    frame = pl.DataFrame(
        {"sample_id": [f"g{i:03d}" for i in range(400)], "dataset": "greetings", "split": "train", "text": texts}
    )
    pairs, stats = find_near_duplicates_with_stats(frame, NearDupParams(max_bucket=20))
    assert stats.capped_buckets > 0 and stats.rows_in_capped_buckets == 400
    assert 0 < pairs.height <= 400 * 19  # a sliding window of 20, not 400 * 399 / 2 = 79,800 pairs
    assert set(pairs["a_id"]) | set(pairs["b_id"]) == set(frame["sample_id"])  # every row stays linked


def test_char_shingles_and_progress(corpus):
    frame, truth, _ = corpus
    calls: list[tuple[int, int]] = []
    pairs = find_near_duplicates(
        frame, NearDupParams(shingle="char", ngram=5), progress=lambda d, t: calls.append((d, t))
    )
    hits = truth.join(pairs, on=["a_id", "b_id"], how="semi")
    assert hits.height >= 0.9 * truth.height
    assert calls and calls[-1][0] == calls[-1][1]
    assert [d for d, _ in calls] == list(range(1, len(calls) + 1))


def test_bad_input_is_refused():
    frame = pl.DataFrame(
        {"sample_id": ["a", "a"], "dataset": ["d", "d"], "split": ["train", "test"], "text": ["x", "y"]}
    )
    with pytest.raises(LensforgeError, match="unique"):
        find_near_duplicates(frame)
    with pytest.raises(LensforgeError, match="columns"):
        find_near_duplicates(frame.drop("split"))
