"""Ingest at the paper's scale, per format and shape: lensforge against a pandas run of the same steps.

    python bench/ingest_scale.py [--shapes tsv,csv,jsonl,llamalens,tiny] [--rows 2700000] [--datasets 24]
                                 [--skip-pandas] [--near-dup] [--codecs]

Shapes (each synthesised, ingested and reported on its own):
  tsv        2.7M rows in 24 datasets, unquoted TSV
  csv        the same rows as quoted CSV, texts with embedded quotes, commas and line breaks
  jsonl      the same rows as JSON lines
  llamalens  52 datasets of very different sizes (the 39 published LlamaLens sizes, the rest 1K-30K rows),
             quoted CSV, ~2.7M rows
  tiny       52 datasets of ~400 rows (quoted CSV): the fixed cost per dataset, start-up included

Texts are tweets and news sentences in Arabic, English and Hindi scripts, with planted exact duplicates,
label conflicts, cross-split leaks and light-edit near duplicates. For each shape, in separate processes
(so peak RSS is each run's own):
  1. `lensforge ingest NAMES --json` (read, clean, dedup, leakage, split, validate, write, catalog);
  2. a pandas implementation of the same steps;
then prints wall time, peak RSS, the ratio, whether both dropped the same rows for the same reasons, and
lensforge's per-step breakdown (seconds summed over datasets, from the per-step stats).
Targets on the 2-core machine: <= 15 s and >= 10x pandas at 2.7M rows, peak RSS <= 4 GiB; tiny <= 10 s;
near-dup (with --near-dup) <= 5 min.

With --codecs, the last shape's kept rows are rewritten with each Parquet codec (what ingest's write step
would cost with it) and read back whole by Polars and by DuckDB (as the snapshot build reads them): CPU
seconds and size per codec, uncompressed (what ingest writes) first.
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
# Published LlamaLens dataset sizes (train + dev + test, from ../shared/reference/llamalens_datasets.csv).
LLAMALENS_SIZES = [
    515, 1422, 1528, 3126, 4496, 4727, 4761, 4840, 5100, 6222, 8180, 8396, 8653, 8806, 10038, 12556, 12827, 21145,
    23752, 28542, 36306, 36522, 37425, 41139, 45491, 46775, 47538, 51270, 52506, 54545, 71210, 77858, 88448, 107574,
    190761, 208387, 329563, 401635, 404434,
]  # fmt: skip


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
    rng: np.random.Generator, vocab: np.ndarray, n: int, label_words: dict[int, np.ndarray], messy: bool
) -> tuple[pl.Series, np.ndarray]:
    """Tweets (8-30 words) and news sentences (15-50 words); each label has a few cue words. `messy`: some
    texts carry commas, quoted phrases and line breaks (what quoted CSV must survive)."""
    labels = rng.integers(0, len(LABELS), n)
    is_news = rng.random(n) < 0.3
    lengths = np.where(is_news, rng.integers(15, 51, n), rng.integers(8, 31, n))
    words = vocab[rng.integers(0, len(vocab), lengths.sum())]
    # One cue word per text makes labels learnable, like a real corpus.
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    for lab, cue in label_words.items():
        sel = starts[labels == lab]
        words[sel] = cue[rng.integers(0, len(cue), len(sel))]
    if messy:
        words = words.astype(object)
        pick = rng.random(len(words))
        words[pick < 0.02] = words[pick < 0.02] + ","
        quoted = (pick >= 0.02) & (pick < 0.025)
        words[quoted] = '"' + words[quoted] + '"'
        words[(pick >= 0.025) & (pick < 0.026)] = words[(pick >= 0.025) & (pick < 0.026)] + "\n"
    texts = (
        pl.DataFrame({"w": words.astype(str), "g": np.repeat(np.arange(n), lengths)})
        .group_by("g", maintain_order=True)
        .agg(pl.col("w").str.join(" "))
        .get_column("w")
    )
    return texts, labels


def _write(part: pl.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "tsv":
        part.write_csv(path, separator="\t", quote_style="never")
    elif fmt == "csv":
        part.write_csv(path, quote_style="non_numeric")
    else:
        part.write_ndjson(path)


def synthesise(
    rows: int, datasets: int, seed: int = 7, *, fmt: str = "tsv", sizes: list[int] | None = None, out: Path = OUT
) -> tuple[list[dict], dict]:
    """Write a corpus under `out` (sources/ and registry.yaml); returns the registry entries and what was planted.

    `sizes` gives each dataset's row count (else `rows // datasets` each)."""
    rng = np.random.default_rng(seed)
    # Only this corpus's own files: the other shapes live in sub-folders of the tsv shape's folder.
    for old in ("sources", "workspace", "pandas_out", "snapshot_ws"):
        shutil.rmtree(out / old, ignore_errors=True)
    src = out / "sources"
    src.mkdir(parents=True)
    langs = ["ar", "en", "hi"]
    vocabs = {lang: make_vocab(rng, SCRIPTS[lang], 4000) for lang in langs}
    entries, planted = [], {"near_pairs": [], "dup_extra": 0, "conflicts": 0, "leaks": 0}
    sizes = sizes or [rows // datasets] * datasets
    ext = {"tsv": "tsv", "csv": "csv", "jsonl": "jsonl"}[fmt]
    for d, per in enumerate(sizes):
        lang = langs[d % 3]
        vocab = vocabs[lang]
        cues = {i: vocab[rng.integers(0, len(vocab), 5)] for i in range(len(LABELS))}
        n_base = int(per * 0.985)
        texts, labels = synth_texts(rng, vocab, n_base, cues, messy=fmt != "tsv")
        frame = pl.DataFrame({"text": texts, "label": np.array(LABELS)[labels]})
        # Plants: exact duplicates (same label), conflicting duplicates, light edits.
        n_dup, n_conf, n_near = int(per * 0.01), int(per * 0.002), max(1, min(n_base // 20, 5000 // len(sizes)))
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
            _write(part, src / slug / f"{s}.{ext}", fmt)
            files.append({"split": s, "path": f"{s}.{ext}", "expected_records": part.height})
        spec: dict = {"format": fmt, "files": files, "columns": {"id": "id", "text": "text", "label": "label"}}
        if fmt == "tsv":
            spec["quoting"] = False
        entries.append(
            {
                "name": f"Synth{d:02d}",
                "language": lang,
                "version": "1",
                "task": "Sentiment Classification",
                "task_type": "classification",
                "labels": LABELS,
                "source": {"local": {"slug": slug}},
                "ingest": {**spec, "labels": {"space": LABELS}},
            }
        )
    (out / "registry.yaml").write_text(yaml.safe_dump(entries, allow_unicode=True), encoding="utf-8")
    planted["records"] = sum(f["expected_records"] for e in entries for f in e["ingest"]["files"])
    return entries, planted


PANDAS_BASELINE = r"""
import hashlib, html, json, re, sys, unicodedata
from pathlib import Path
import pandas as pd
src, out, fmt = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
out.mkdir(parents=True, exist_ok=True)
URL = re.compile(r"(?:https?://|www\.)\S+"); MENTION = re.compile(r"@\w+")
MARKS = re.compile("[\u0610-\u061A\u064B-\u065F\u0670\u06D6-\u06ED\u0640]"); LETTER = re.compile(r"[^\W\d_]")
EDGE = re.compile("^[\"'\u201c\u201d\u00ab\u00bb\u201e`]+|[\"'\u201c\u201d\u00ab\u00bb\u201e`]+$")
def read(path):
    if fmt == "tsv":
        return pd.read_csv(path, sep="\t", quoting=3, dtype=str, keep_default_na=False)
    if fmt == "csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    return pd.read_json(path, lines=True, dtype=False).astype(str)
def key(t):
    t = " ".join(MARKS.sub("", MENTION.sub(" ", URL.sub(" ", t.lower()))).split())
    return EDGE.sub("", t).strip()
summary = {}
for folder in sorted(src.iterdir()):
    parts = []
    for split in ("train", "dev", "test"):
        df = read(folder / f"{split}.{fmt}")
        df["split"] = split
        parts.append(df)
    df = pd.concat(parts, ignore_index=True)
    read_n = len(df)
    df["text_original"] = df["text"]
    df["text"] = df["text"].apply(lambda t: " ".join(unicodedata.normalize("NFKC", t).split()))
    df["letters"] = df["text"].apply(lambda t: len(LETTER.findall(t)))
    short = df[df["letters"] < 3]; df = df[df["letters"] >= 3].copy()
    df["key"] = df["text"].apply(key)
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
    assert read_n == len(df) + len(q)
    summary[folder.name] = {"read": read_n, "kept": len(df), "dropped": q["reason"].value_counts().to_dict()}
print(json.dumps(summary))
"""


CPU_SECONDS: dict[int, float] = {}  # id(proc) -> user + system CPU seconds of that child


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall seconds and this child's own peak RSS (GiB), read by GNU time (RUSAGE_CHILDREN would give the
    maximum over every child so far, not this one's). Its CPU seconds go to CPU_SECONDS: on a shared
    machine they move less with other people's load than wall time does."""
    timed = ["/usr/bin/time", "-f", "%M %U %S", *cmd] if Path("/usr/bin/time").exists() else cmd
    # What the previous step wrote (the synthesised sources, the other run's output: up to ~2 GB) is flushed
    # first, so its write-back does not compete with the run being timed for the CPU and the disk.
    os.sync()
    t0 = time.perf_counter()
    proc = subprocess.run(timed, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"command failed: {' '.join(cmd)}")
    if timed is not cmd:
        peak, user, system = proc.stderr.strip().splitlines()[-1].split()
        peak_kib, CPU_SECONDS[id(proc)] = int(peak), float(user) + float(system)
    else:
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, peak_kib / (1024 * 1024), proc


def _fold(dropped: dict[str, int]) -> dict[str, int]:
    """lensforge's reasons as the pandas run names them (the three leak directions are one `leak`)."""
    out: dict[str, int] = {}
    for reason, n in dropped.items():
        key = "leak" if reason.startswith("leak_") else reason
        out[key] = out.get(key, 0) + n
    return out


def bench_shape(shape: str, args: argparse.Namespace, env: dict[str, str]) -> None:
    out = OUT if shape == "tsv" else OUT / shape
    fmt = {"llamalens": "csv", "tiny": "csv"}.get(shape, shape)
    if shape == "llamalens":
        rng = np.random.default_rng(52)
        extra = np.exp(rng.uniform(np.log(1000), np.log(30000), 52 - len(LLAMALENS_SIZES))).astype(int).tolist()
        sizes = [int(s * args.rows / 2_700_000) for s in LLAMALENS_SIZES + extra]
        entries, planted = synthesise(0, 0, fmt=fmt, sizes=sizes, out=out)
    elif shape == "tiny":
        entries, planted = synthesise(0, 0, fmt=fmt, sizes=[400] * 52, out=out)
    else:
        entries, planted = synthesise(args.rows, args.datasets, fmt=fmt, out=out)
    print(f"\n== {shape}: {planted['records']:,} records in {len(entries)} datasets ({fmt})")
    ws = out / "workspace"
    lensforge = [sys.executable, "-m", "lensforge.cli", "-w", str(ws)]
    subprocess.run(
        [*lensforge, "catalog", "import", str(out / "registry.yaml")], env=env, check=True, capture_output=True
    )
    names = [f"{e['language']}/{e['name']}@1" for e in entries]
    wall, rss, proc = run_measured([*lensforge, "ingest", *names, "--sources", str(out / "sources"), "--json"], env)
    result = json.loads(proc.stdout)
    read = sum(o["records_read"] for o in result["ingested"])
    kept = sum(sum(o["kept"].values()) for o in result["ingested"])
    dropped: dict[str, int] = {}
    per_step: dict[str, float] = {}
    for o in result["ingested"]:
        for k, v in o["dropped"].items():
            dropped[k] = dropped.get(k, 0) + v
        for s in o.get("steps", []):  # (a lensforge from before per-step stats has none)
            per_step[s["step"]] = per_step.get(s["step"], 0.0) + s["seconds"]
    assert read == planted["records"] and read == kept + sum(dropped.values())
    assert all(o["valid"] for o in result["ingested"]), [
        o.get("problems") for o in result["ingested"] if not o["valid"]
    ]
    cpu = CPU_SECONDS.get(id(proc), float("nan"))
    print(
        f"lensforge: {wall:.1f} s wall ({cpu:.1f} s CPU), peak RSS {rss:.2f} GiB, read {read:,}, kept {kept:,}, "
        f"dropped {dropped}"
    )
    steps = ", ".join(f"{k} {v:.2f}" for k, v in per_step.items())
    print(f"  per step (s, summed over datasets, which run several at once): {steps}")
    if shape == "tiny":
        print(
            f"  fixed cost: {wall / len(entries) * 1000:.0f} ms per dataset, start-up included (target <= 10 s in all)"
        )

    if args.skip_pandas:
        return
    script = OUT / "pandas_baseline.py"
    script.write_text(PANDAS_BASELINE, encoding="utf-8")
    p_wall, p_rss, p_proc = run_measured(
        [sys.executable, str(script), str(out / "sources"), str(out / "pandas_out"), fmt], env
    )
    summary = json.loads(p_proc.stdout)
    p_kept = sum(v["kept"] for v in summary.values())
    p_dropped: dict[str, int] = {}
    for v in summary.values():
        for k, n in v["dropped"].items():
            p_dropped[k] = p_dropped.get(k, 0) + n
    same = p_kept == kept and p_dropped == _fold(dropped)
    p_cpu = CPU_SECONDS.get(id(p_proc), float("nan"))
    print(
        f"pandas:    {p_wall:.1f} s wall ({p_cpu:.1f} s CPU), peak RSS {p_rss:.2f} GiB, kept {p_kept:,}, dropped {p_dropped}"
    )
    print(f"  same rows dropped for the same reasons: {'yes' if same else 'NO'}")
    if shape == "tiny":  # the target here is the fixed cost, not a ratio (pandas has no validation or catalog)
        print(f"speed-up tiny: {p_wall / wall:.1f}x wall; lensforge {wall:.1f} s (target <= 10 s)")
        return
    print(
        f"speed-up {shape}: {p_wall / wall:.1f}x wall, {p_cpu / cpu:.1f}x CPU (target >= 10x); lensforge {wall:.1f} s "
        f"(target <= 15 s); RSS {rss:.2f} GiB (target <= 4)"
    )


CODECS: dict[str, dict] = {
    "uncompressed": {"compression": "uncompressed"},
    "lz4": {"compression": "lz4"},
    "snappy": {"compression": "snappy"},
    "zstd-1": {"compression": "zstd", "compression_level": 1},
}


def bench_codecs(ws: Path) -> None:
    """Kept-row Parquet per codec: write CPU seconds, bytes, and CPU seconds to read it all back."""
    import duckdb

    kept = sorted(p for p in ws.glob("datasets/*/v*/*.parquet") if p.stem != "quarantine")
    if not kept:
        print("codecs: no kept files to rewrite")
        return
    frames = [pl.read_parquet(p) for p in kept]
    con = duckdb.connect()
    print(f"codecs ({sum(f.height for f in frames):,} kept rows in {len(kept)} files, CPU seconds):")
    for name, options in CODECS.items():
        folder = OUT / "codecs" / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        started = time.process_time()
        for i, frame in enumerate(frames):
            frame.write_parquet(folder / f"{i}.parquet", **options)
        write = time.process_time() - started
        size = sum(p.stat().st_size for p in folder.iterdir())
        started = time.process_time()
        pl.scan_parquet(folder / "*.parquet").collect()
        polars_read = time.process_time() - started
        started = time.process_time()
        con.sql(f"SELECT * FROM read_parquet('{folder}/*.parquet')").to_arrow_table()
        duck_read = time.process_time() - started
        print(
            f"  {name:12s} write {write:5.2f}, {size / 1e6:6.0f} MB, read: Polars {polars_read:5.2f}, DuckDB {duck_read:5.2f}"
        )
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", default="tsv,csv,jsonl,llamalens,tiny")
    ap.add_argument("--rows", type=int, default=2_700_000)
    ap.add_argument("--datasets", type=int, default=24)
    ap.add_argument("--skip-pandas", action="store_true")
    ap.add_argument("--near-dup", action="store_true", help="also time the cross-dataset near-duplicate report")
    ap.add_argument("--codecs", action="store_true", help="also compare Parquet codecs on the last shape's kept rows")
    args = ap.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    shapes = [shape.strip() for shape in args.shapes.split(",")]
    for shape in shapes:
        bench_shape(shape, args, env)
    if args.codecs:
        bench_codecs((OUT if shapes[-1] == "tsv" else OUT / shapes[-1]) / "workspace")

    if args.near_dup:
        ws = OUT / "workspace"
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
