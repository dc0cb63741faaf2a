"""Ingest at the paper's scale: lensforge's ingest path against a straightforward pandas version.

    python bench/ingest_scale.py [--rows 2700000] [--datasets 24] [--skip-pandas] [--near-dup]

Synthesises a corpus (tweets and news sentences in Arabic, English and Hindi scripts, with planted
exact duplicates, label conflicts, cross-split leaks and light-edit near duplicates), writes it as
raw TSV files, then runs in separate processes (so peak RSS is each run's own):
  1. `lensforge ingest --all` (read, clean, dedup, leakage, split, validate, write, catalog);
  2. a pandas implementation of the same steps;
and prints wall time, peak RSS and the ratio. Targets on the 2-core machine: lensforge <= 15 s,
>= 10x faster than pandas, peak RSS <= 4 GiB; near-dup (with --near-dup) <= 5 min, recall >= 0.9.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import yaml

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "ingest_scale"

SCRIPTS = {
    "ar": [chr(c) for c in range(0x0627, 0x064A)],
    "en": list("abcdefghijklmnopqrstuvwxyz"),
    "hi": [chr(c) for c in range(0x0915, 0x0939)],
}
LABELS = ["positive", "negative", "neutral"]


def make_vocab(rng: np.random.Generator, letters: list[str], size: int) -> np.ndarray:
    lens = rng.integers(2, 9, size)
    idx = rng.integers(0, len(letters), lens.sum())
    flat = np.array(letters)[idx]
    words, pos = [], 0
    for n in lens:
        words.append("".join(flat[pos : pos + n]))
        pos += n
    return np.array(words, dtype=object)


def synth_texts(
    rng: np.random.Generator, vocab: np.ndarray, n: int, label_words: dict[int, np.ndarray]
) -> tuple[pl.Series, np.ndarray]:
    """Tweets (8-30 words) and news sentences (15-50 words); each label has a few cue words."""
    labels = rng.integers(0, len(LABELS), n)
    is_news = rng.random(n) < 0.3
    lengths = np.where(is_news, rng.integers(15, 51, n), rng.integers(8, 31, n))
    words = vocab[rng.integers(0, len(vocab), lengths.sum())]
    # One cue word per text makes labels learnable, like a real corpus.
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    for lab, cue in label_words.items():
        sel = starts[labels == lab]
        words[sel] = cue[rng.integers(0, len(cue), len(sel))]
    texts = (
        pl.DataFrame({"w": words.astype(str), "g": np.repeat(np.arange(n), lengths)})
        .group_by("g", maintain_order=True)
        .agg(pl.col("w").str.join(" "))
        .get_column("w")
    )
    return texts, labels


def synthesise(rows: int, datasets: int, seed: int = 7) -> tuple[list[dict], dict]:
    rng = np.random.default_rng(seed)
    if OUT.exists():
        shutil.rmtree(OUT)
    src = OUT / "sources"
    src.mkdir(parents=True)
    langs = ["ar", "en", "hi"]
    vocabs = {lang: make_vocab(rng, SCRIPTS[lang], 4000) for lang in langs}
    entries, planted = [], {"near_pairs": [], "dup_extra": 0, "conflicts": 0, "leaks": 0}
    per = rows // datasets
    for d in range(datasets):
        lang = langs[d % 3]
        vocab = vocabs[lang]
        cues = {i: vocab[rng.integers(0, len(vocab), 5)] for i in range(len(LABELS))}
        n_base = int(per * 0.985)
        texts, labels = synth_texts(rng, vocab, n_base, cues)
        frame = pl.DataFrame({"text": texts, "label": np.array(LABELS)[labels]})
        # Plants: exact duplicates (same label), conflicting duplicates, light edits.
        n_dup, n_conf, n_near = int(per * 0.01), int(per * 0.002), max(1, 5000 // datasets)
        dup = frame.sample(n_dup, seed=d)
        conf = frame.sample(n_conf, seed=d + 100).with_columns(
            pl.col("label").replace({"positive": "negative", "negative": "neutral", "neutral": "positive"})
        )
        near_src = frame.sample(n_near, seed=d + 200, with_replacement=False)
        near = near_src.with_columns((pl.col("text") + " " + pl.lit(str(vocab[0]))).alias("text"))
        frame = pl.concat([frame, dup, conf, near]).sample(fraction=1.0, shuffle=True, seed=d + 300)
        frame = frame.with_row_index("id", offset=1)
        n = frame.height
        split = np.where(rng.random(n) < 0.7, "train", np.where(rng.random(n) < 0.67, "test", "dev"))
        frame = frame.with_columns(pl.Series("split", split))
        # Cross-split leaks: copy 0.5% of test texts into train.
        leak = frame.filter(pl.col("split") == "test").sample(fraction=0.005, seed=d + 400)
        frame = pl.concat([frame, leak.with_columns(pl.lit("train").alias("split"))])
        planted["dup_extra"] += n_dup
        planted["conflicts"] += n_conf
        planted["leaks"] += leak.height
        planted["near_pairs"].append(near_src.height)
        slug = f"synth_{lang}_{d:02d}"
        (src / slug).mkdir()
        files = []
        for s in ("train", "dev", "test"):
            part = frame.filter(pl.col("split") == s).select("id", "text", "label")
            part.write_csv(src / slug / f"{s}.tsv", separator="\t", quote_style="never")
            files.append({"split": s, "path": f"{s}.tsv", "expected_records": part.height})
        entries.append(
            {
                "name": f"Synth{d:02d}",
                "language": lang,
                "version": "1",
                "task": "Sentiment Classification",
                "task_type": "classification",
                "labels": LABELS,
                "source": {"local": {"slug": slug}},
                "ingest": {
                    "format": "tsv",
                    "quoting": False,
                    "files": files,
                    "columns": {"id": "id", "text": "text", "label": "label"},
                    "labels": {"space": LABELS},
                },
            }
        )
    (OUT / "registry.yaml").write_text(yaml.safe_dump(entries, allow_unicode=True), encoding="utf-8")
    total = sum(f["expected_records"] for e in entries for f in e["ingest"]["files"])
    planted["records"] = total
    return entries, planted


PANDAS_BASELINE = r"""
import hashlib, html, json, re, sys, unicodedata
from pathlib import Path
import pandas as pd
src, out = Path(sys.argv[1]), Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
URL = re.compile(r"(?:https?://|www\.)\S+"); MENTION = re.compile(r"@\w+")
MARKS = re.compile("[\u0610-\u061A\u064B-\u065F\u0670\u06D6-\u06ED\u0640]"); LETTER = re.compile(r"[^\W\d_]")
summary = {}
for folder in sorted(src.iterdir()):
    parts = []
    for split in ("train", "dev", "test"):
        df = pd.read_csv(folder / f"{split}.tsv", sep="\t", quoting=3, dtype=str, keep_default_na=False)
        df["split"] = split
        parts.append(df)
    df = pd.concat(parts, ignore_index=True)
    read = len(df)
    df["text_original"] = df["text"]
    df["text"] = df["text"].apply(lambda t: " ".join(html.unescape(unicodedata.normalize("NFKC", t)).split()))
    df["letters"] = df["text"].apply(lambda t: len(LETTER.findall(t)))
    short = df[df["letters"] < 3]; df = df[df["letters"] >= 3].copy()
    df["key"] = df["text"].apply(lambda t: " ".join(MARKS.sub("", MENTION.sub(" ", URL.sub(" ", t.lower()))).split()))
    test_keys = set(df.loc[df["split"] == "test", "key"]); dev_keys = set(df.loc[df["split"] == "dev", "key"])
    leak = ((df["split"] != "test") & df["key"].isin(test_keys)) | ((df["split"] == "train") & df["key"].isin(dev_keys))
    leaked = df[leak]; df = df[~leak].copy()
    nlab = df.groupby(["split", "key"])["label"].transform("nunique")
    conflict = df[nlab > 1]; df = df[nlab == 1]
    dup_mask = df.duplicated(["split", "key"], keep="first")
    dups = df[dup_mask]; df = df[~dup_mask].copy()
    df["sample_id"] = df.apply(lambda r: hashlib.md5(f"{folder.name}\x1f{r['id']}\x1f{r['text_original']}".encode()).hexdigest()[:20], axis=1)
    assert df["sample_id"].is_unique and df["text"].notna().all() and df["label"].isin(["positive", "negative", "neutral"]).all()
    assert df.groupby("key")["split"].nunique().max() <= 1
    for split in ("train", "dev", "test"):
        df[df["split"] == split].to_parquet(out / f"{folder.name}_{split}.parquet")
    q = pd.concat([short.assign(reason="too_short"), leaked.assign(reason="leak"), conflict.assign(reason="label_conflict"), dups.assign(reason="duplicate")])
    q.to_parquet(out / f"{folder.name}_quarantine.parquet")
    assert read == len(df) + len(q)
    summary[folder.name] = {"read": read, "kept": len(df), "dropped": len(q)}
print(json.dumps(summary))
"""


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall seconds and this child's own peak RSS (GiB), read by GNU time (RUSAGE_CHILDREN would give the
    maximum over every child so far, not this one's)."""
    timed = ["/usr/bin/time", "-f", "%M", *cmd] if Path("/usr/bin/time").exists() else cmd
    t0 = time.perf_counter()
    proc = subprocess.run(timed, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"command failed: {' '.join(cmd)}")
    peak_kib = (
        int(proc.stderr.strip().splitlines()[-1])
        if timed is not cmd
        else resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    )
    return wall, peak_kib / (1024 * 1024), proc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2_700_000)
    ap.add_argument("--datasets", type=int, default=24)
    ap.add_argument("--skip-pandas", action="store_true")
    ap.add_argument("--near-dup", action="store_true", help="also time the cross-dataset near-duplicate report")
    args = ap.parse_args()

    t0 = time.perf_counter()
    entries, planted = synthesise(args.rows, args.datasets)
    print(f"synthesised {planted['records']:,} records in {len(entries)} datasets ({time.perf_counter() - t0:.1f} s)")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    ws = OUT / "workspace"
    lensforge = [sys.executable, "-m", "lensforge.cli", "-w", str(ws)]
    subprocess.run(
        [*lensforge, "catalog", "import", str(OUT / "registry.yaml")], env=env, check=True, capture_output=True
    )
    names = [f"{e['language']}/{e['name']}@1" for e in entries]

    wall, rss, proc = run_measured([*lensforge, "ingest", *names, "--sources", str(OUT / "sources"), "--json"], env)
    result = json.loads(proc.stdout)
    read = sum(o["records_read"] for o in result["ingested"])
    kept = sum(sum(o["kept"].values()) for o in result["ingested"])
    dropped: dict[str, int] = {}
    for o in result["ingested"]:
        for k, v in o["dropped"].items():
            dropped[k] = dropped.get(k, 0) + v
    print(
        f"lensforge ingest: {wall:.1f} s wall, peak RSS {rss:.2f} GiB, read {read:,}, kept {kept:,}, dropped {dropped}"
    )
    print(
        f"  planted: {planted['dup_extra']:,} duplicates, {planted['conflicts']:,} conflicts, {planted['leaks']:,} leaks"
    )
    assert read == planted["records"] and read == kept + sum(dropped.values())

    if not args.skip_pandas:
        script = OUT / "pandas_baseline.py"
        script.write_text(PANDAS_BASELINE, encoding="utf-8")
        p_wall, p_rss, _ = run_measured(
            [sys.executable, str(script), str(OUT / "sources"), str(OUT / "pandas_out")], env
        )
        print(f"pandas baseline:  {p_wall:.1f} s wall, peak RSS {p_rss:.2f} GiB")
        print(
            f"speed-up: {p_wall / wall:.1f}x (target >= 10x); lensforge {wall:.1f} s (target <= 15 s); "
            f"RSS {rss:.2f} GiB (target <= 4)"
        )

    if args.near_dup:
        code = (
            "import sys, time, json; from lensforge.workspace import resolve_workspace;"
            "from lensforge.ingest.overlap import run_near_dup_report;"
            f"t=time.perf_counter(); r=run_near_dup_report(resolve_workspace({str(ws)!r}), actor='bench');"
            "print(json.dumps({'seconds': time.perf_counter()-t, 'pairs': r['pairs'], 'report': r['report_id']}))"
        )
        n_wall, n_rss, proc = run_measured([sys.executable, "-c", code], env)
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        print(
            f"near-dup report: {n_wall:.1f} s wall, peak RSS {n_rss:.2f} GiB, {info['pairs']:,} pairs (target <= 300 s)"
        )


if __name__ == "__main__":
    main()
