"""Scale check for lensforge.ingest.neardup (a script that prints figures, not a test).

Usage:
    python bench/neardup_scale.py [--rows 2700000] [--planted 5000] [--seed 7]
        [--shingle word] [--ngram N] [--num-perm N] [--bands N] [--threshold X]

Synthesises N tweet-like and news-like rows in English, Arabic and Hindi (Latin, Arabic and Devanagari
pseudo-words drawn Zipf-style from 4,000-word vocabularies headed by real stopwords, with @mentions,
URLs, hashtags and punctuation), in 7 datasets with train/dev/test splits. It then plants ~5,000
near-duplicates: light edits (a word added, removed or changed, punctuation, a URL or @mention changed,
a quarter of them with a second surface edit) of existing rows, put in another split of the same
dataset, in another dataset of the same language (e.g. an older release), or in the same split.

The corpus is generated in a child process and handed over as Parquet, so the peak RSS printed is that
of the detection process alone (the loaded frame plus find_near_duplicates).

Prints: wall time, peak RSS, pairs found, recall on the planted pairs (overall and per edit type), and
precision against the planted pairs (reported pairs that are planted; the rest are counted by kind,
with their median length: on this synthetic corpus they are chance overlaps of very short texts).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VOCAB = 4000
STOP = {
    "en": "the a to of and in is for on that with it this you be are at was have not but i my we they".split(),
    "ar": "في من على إلى أن عن مع هذا التي الذي ما لا و هذه كان قد كل بعد ثم أو هو هي".split(),
    "hi": "के है में की और को से का पर यह ने भी तो नहीं कि हैं एक हम ही था जो कर".split(),
}
LETTERS = {
    "en": list("bcdfghjklmnprstvwyz"),
    "ar": list("ابتثجحخدذرزسشصضطظعغفقكلمنهوي"),
    "hi": list("कखगघचछजझटठडढणतथदधनपफबभमयरलवशषसह"),
}
VOWELS = {"en": list("aeiou"), "ar": ["", "ا", "و", "ي"], "hi": ["", "ा", "ि", "ी", "ु", "ू", "े", "ै", "ो", "ौ"]}
# dataset -> (language, kind, share of that language's rows of that kind)
DATASETS = {
    "en_tweets": ("en", "tweet", 1.0),
    "en_news": ("en", "news", 1.0),
    "ar_tweets_v1": ("ar", "tweet", 0.3),
    "ar_tweets_v2": ("ar", "tweet", 0.7),
    "ar_news": ("ar", "news", 1.0),
    "hi_tweets": ("hi", "tweet", 1.0),
    "hi_news": ("hi", "news", 1.0),
}
LANG_SHARE = {"en": 0.4, "ar": 0.35, "hi": 0.25}
EDITS = ["word_add", "word_remove", "word_change", "punctuation", "url", "mention"]
EDIT_P = [0.2, 0.2, 0.2, 0.15, 0.125, 0.125]
PUNCT = [".", "!", "?", "!!", "...", " ؟", " ।"]


def _vocab(lang: str, rng: np.random.Generator) -> list[str]:
    words = list(STOP[lang])
    seen = set(words)
    while len(words) < VOCAB:
        n = int(rng.integers(2, 5))
        if lang == "en":
            w = "".join(rng.choice(LETTERS[lang]) + rng.choice(VOWELS[lang]) for _ in range(n))
        elif lang == "ar":
            w = ("ال" if rng.random() < 0.3 else "") + "".join(
                rng.choice(LETTERS[lang]) + rng.choice(VOWELS[lang]) for _ in range(n)
            )
        else:
            w = "".join(rng.choice(LETTERS[lang]) + rng.choice(VOWELS[lang]) for _ in range(n))
            w += "ं" if rng.random() < 0.15 else ""
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


def _codes(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
    return alphabet[rng.integers(0, len(alphabet), (n, width))].view(f"<U{width}").ravel()


def synthesise(rows: int, planted: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(corpus: sample_id, dataset, split, text; planted pairs: src_id, dup_id, edit, kind, src_type)."""
    rng = np.random.default_rng(seed)
    vocabs = {lang: _vocab(lang, rng) for lang in LANG_SHARE}
    zipf = 1.0 / (np.arange(VOCAB) + 2.0) ** 1.05
    zipf /= zipf.sum()
    base = rows - planted
    langs = np.array(list(LANG_SHARE))
    lang = rng.choice(len(langs), size=base, p=list(LANG_SHARE.values()))
    is_news = rng.random(base) < 0.3
    n_words = np.where(
        is_news,
        np.clip(np.round(rng.lognormal(np.log(26), 0.4, base)), 6, 70),
        np.clip(np.round(rng.lognormal(np.log(15), 0.45, base)), 3, 45),
    ).astype(np.int64)
    # all vocabularies in one Series; a row draws from its language's block
    all_words = pl.Series([w for lg in langs for w in vocabs[lg]])
    offsets = np.zeros(base + 1, dtype=np.int64)
    np.cumsum(n_words, out=offsets[1:])
    texts: list[pl.Series] = []
    step = 500_000
    for s in range(0, base, step):
        e = min(base, s + step)
        idx = rng.choice(VOCAB, size=int(offsets[e] - offsets[s]), p=zipf) + np.repeat(lang[s:e] * VOCAB, n_words[s:e])
        words = all_words.gather(idx).to_arrow().cast(pa.large_string())
        lists = pa.LargeListArray.from_arrays(pa.array(offsets[s : e + 1] - offsets[s]), words)
        texts.append(pl.Series(lists).list.join(" "))
    text = pl.concat(texts)
    frame = pl.DataFrame({"text": text, "lang": langs[lang], "news": is_news})
    # tweet furniture: mentions, RT, hashtags, URLs, punctuation
    tweet = ~is_news
    handles = pl.Series(np.array(vocabs["en"][100:])[rng.integers(0, VOCAB - 100, base)]) + pl.Series(
        rng.integers(0, 999, base).astype(str)
    )
    urls = "https://t.co/" + pl.Series(_codes(rng, base, 10))
    tags = pl.Series(np.array(all_words.to_list(), dtype=object)[rng.integers(0, VOCAB, base) + lang * VOCAB])
    punct = pl.Series(np.array(PUNCT[:5])[rng.integers(0, 5, base)])
    frame = frame.with_columns(
        handle=handles, url=urls, tag=tags, punct=punct, r=pl.Series(rng.random((base, 5)).tolist())
    ).with_columns(text=pl.when(pl.col("r").list.get(0) < 0.3).then(pl.col("text") + pl.col("punct")).otherwise("text"))
    frame = frame.with_columns(
        text=pl.when(pl.col("r").list.get(1) < 0.2)
        .then(pl.col("text").str.replace(" ", ", ", literal=True))
        .otherwise("text")
    )
    t = pl.Series(tweet)
    frame = (
        frame.with_columns(
            text=pl.when(t & (pl.col("r").list.get(2) < 0.25))
            .then("@" + pl.col("handle") + " " + pl.col("text"))
            .when(t & (pl.col("r").list.get(2) < 0.33))
            .then("RT @" + pl.col("handle") + ": " + pl.col("text"))
            .otherwise("text")
        )
        .with_columns(
            text=pl.when(t & (pl.col("r").list.get(3) < 0.15))
            .then(pl.col("text") + " #" + pl.col("tag"))
            .otherwise("text")
        )
        .with_columns(
            text=pl.when((t & (pl.col("r").list.get(4) < 0.3)) | (~t & (pl.col("r").list.get(4) < 0.05)))
            .then(pl.col("text") + " " + pl.col("url"))
            .otherwise("text")
        )
    )
    # datasets and splits
    ds = np.empty(base, dtype=object)
    for lg in langs:
        for kind in ("tweet", "news"):
            mask = (langs[lang] == lg) & (is_news == (kind == "news"))
            names = [d for d, (dl, dk, _) in DATASETS.items() if dl == lg and dk == kind]
            shares = np.array([DATASETS[d][2] for d in names])
            ds[mask] = np.array(names, dtype=object)[rng.choice(len(names), size=int(mask.sum()), p=shares)]
    split = np.array(["train", "dev", "test"], dtype=object)[rng.choice(3, size=base, p=[0.8, 0.1, 0.1])]
    frame = frame.select("text", "lang", "news").with_columns(
        dataset=pl.Series(ds, dtype=pl.String), split=pl.Series(split)
    )
    frame = frame.with_columns(sample_id=pl.format("{}:{}", "dataset", pl.int_range(pl.len()).cast(pl.String)))
    frame, pairs = _plant(frame, planted, vocabs, rng)
    order = rng.permutation(frame.height)
    return frame[order].select("sample_id", "dataset", "split", "text"), pairs


def _edit_once(words: list[str], edit: str, vocab: list[str], rng: np.random.Generator) -> list[str]:
    words = list(words)
    if edit == "word_add":
        words.insert(int(rng.integers(0, len(words) + 1)), vocab[int(rng.integers(0, VOCAB))])
    elif edit == "word_remove" and len(words) > 2:
        del words[int(rng.integers(0, len(words)))]
    elif edit == "word_change":
        words[int(rng.integers(0, len(words)))] = vocab[int(rng.integers(0, VOCAB))]
    elif edit == "punctuation":
        last = words[-1]
        stripped = last.rstrip(".!?,")
        words[-1] = stripped + PUNCT[int(rng.integers(0, 5))] if stripped == last else stripped
        if rng.random() < 0.5 and len(words) > 3:
            i = int(rng.integers(0, len(words) - 1))
            words[i] = words[i].rstrip(",") if words[i].endswith(",") else words[i] + ","
    elif edit == "url":
        url = "https://t.co/" + str(_codes(rng, 1, 10)[0])
        at = [i for i, w in enumerate(words) if w.startswith("http")]
        if at:
            words[at[0]] = url
        else:
            words.append(url)
    elif edit == "mention":
        handle = "@" + vocab[int(rng.integers(100, VOCAB))] + str(int(rng.integers(0, 999)))
        at = [i for i, w in enumerate(words) if w.startswith("@")]
        if at:
            words[at[0]] = handle + (":" if words[at[0]].endswith(":") else "")
        else:
            words.insert(0, handle)
    return words


def _plant(
    frame: pl.DataFrame, planted: int, vocabs: dict[str, list[str]], rng: np.random.Generator
) -> tuple[pl.DataFrame, pl.DataFrame]:
    src = frame[np.sort(rng.choice(frame.height, size=planted, replace=False))]
    latin = vocabs["en"]
    rows, pairs = [], []
    for j, rec in enumerate(src.iter_rows(named=True)):
        words = rec["text"].split(" ")
        edit = str(rng.choice(EDITS, p=EDIT_P))
        vocab = vocabs[rec["lang"]] if edit.startswith("word") else latin
        new = _edit_once(words, edit, vocab, rng)
        label = edit
        if rng.random() < 0.25:
            second = str(rng.choice([e for e in ("punctuation", "url", "mention") if e != edit]))
            new = _edit_once(new, second, latin, rng)
            label = f"{edit}+{second}"
        while new == words:  # an edit that changed nothing (e.g. punctuation added then removed)
            label = "word_change"
            new = _edit_once(words, label, vocabs[rec["lang"]], rng)
        kind = str(rng.choice(["cross_split", "cross_dataset", "within_split"], p=[0.5, 0.3, 0.2]))
        dataset, split = rec["dataset"], rec["split"]
        if kind == "cross_split":
            split = "test" if split == "train" else "train"
        elif kind == "cross_dataset":
            same_lang = [d for d, (lg, _, _) in DATASETS.items() if lg == rec["lang"] and d != dataset]
            dataset = same_lang[int(rng.integers(0, len(same_lang)))]
            split = str(rng.choice(["train", "dev", "test"]))
        dup_id = f"{dataset}:planted{j}"
        rows.append((" ".join(new), rec["lang"], rec["news"], dataset, split, dup_id))
        pairs.append((rec["sample_id"], dup_id, label, kind, "news" if rec["news"] else "tweet"))
    dups = pl.DataFrame(rows, schema=["text", "lang", "news", "dataset", "split", "sample_id"], orient="row")
    truth = pl.DataFrame(pairs, schema=["src_id", "dup_id", "edit", "kind", "src_type"], orient="row")
    return pl.concat([frame, dups.select(frame.columns)]), truth


def _generate(args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    frame, truth = synthesise(args.rows, args.planted, args.seed)
    frame.write_parquet(Path(args.generate_only) / "corpus.parquet")
    truth.write_parquet(Path(args.generate_only) / "planted.parquet")
    print(f"generated {frame.height:,} rows in {time.perf_counter() - t0:.1f}s", flush=True)


def _measure(args: argparse.Namespace) -> dict:
    from lensforge.ingest.neardup import NearDupParams, find_near_duplicates_with_stats

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, __file__, "--generate-only", tmp, "--rows", str(args.rows)]
        cmd += ["--planted", str(args.planted), "--seed", str(args.seed)]
        subprocess.run(cmd, check=True)
        frame = pl.read_parquet(Path(tmp) / "corpus.parquet")
        truth = pl.read_parquet(Path(tmp) / "planted.parquet")
    overrides = {k: getattr(args, k) for k in ("shingle", "ngram", "num_perm", "bands", "threshold")}
    params = NearDupParams(**{k: v for k, v in overrides.items() if v is not None})
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    pairs, stats = find_near_duplicates_with_stats(frame, params)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    truth = truth.with_columns(
        a_id=pl.min_horizontal("src_id", "dup_id"), b_id=pl.max_horizontal("src_id", "dup_id")
    ).join(
        pairs.select("a_id", "b_id", "similarity", pl.col("kind").alias("found_kind")), on=["a_id", "b_id"], how="left"
    )
    found = truth["similarity"].is_not_null()
    planted_found = int(found.sum())
    kind_ok = int((truth["kind"] == truth["found_kind"]).sum())
    per_edit = (
        truth.group_by(pl.col("edit").str.split("+").list.first())
        .agg(n=pl.len(), recall=pl.col("similarity").is_not_null().mean())
        .sort("edit")
    )
    per_type = truth.group_by("src_type").agg(recall=pl.col("similarity").is_not_null().mean()).sort("src_type")
    keys = truth.select("a_id", "b_id")
    unplanted = pairs.join(keys, on=["a_id", "b_id"], how="anti")
    touching = unplanted.filter(
        pl.col("a_id").is_in(truth["dup_id"].implode()) | pl.col("b_id").is_in(truth["dup_id"].implode())
    ).height
    out = {
        "rows": frame.height,
        "params": params.as_dict(),
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(peak),
        "rss_after_load_mb": round(rss_loaded),
        "pairs": pairs.height,
        "planted": truth.height,
        "planted_found": planted_found,
        "recall": round(planted_found / max(truth.height, 1), 4),
        "kind_correct": round(kind_ok / max(planted_found, 1), 4),
        "precision_vs_planted": round(planted_found / max(pairs.height, 1), 4),
        "unplanted_pairs": unplanted.height,
        "unplanted_touching_a_planted_row": touching,
        "unplanted_by_kind": dict(sorted(unplanted["kind"].value_counts().iter_rows())),
        "unplanted_median_words": unplanted["a_text"].str.count_matches(r"\S+").median(),
        "recall_by_edit": {r["edit"]: round(r["recall"], 4) for r in per_edit.iter_rows(named=True)},
        "recall_by_source": {r["src_type"]: round(r["recall"], 4) for r in per_type.iter_rows(named=True)},
        "stats": stats.as_dict(),
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=2_700_000)
    ap.add_argument("--planted", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--shingle", choices=["word", "char"])
    ap.add_argument("--ngram", type=int)
    ap.add_argument("--num-perm", dest="num_perm", type=int)
    ap.add_argument("--bands", type=int)
    ap.add_argument("--threshold", type=float)
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--generate-only", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate_only:
        _generate(args)
        return
    out = _measure(args)
    text = json.dumps(out, indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    print(
        f"\n{out['rows']:,} rows: {out['wall_s']}s, peak RSS {out['peak_rss_mb']} MB, {out['pairs']:,} pairs, "
        f"recall {out['recall']:.3f} on {out['planted']:,} planted, "
        f"precision vs planted {out['precision_vs_planted']:.3f}"
    )


if __name__ == "__main__":
    main()
