"""Near-duplicate detection with MinHash-LSH, within and across datasets (runs after exact dedup).

Why: exact dedup misses light edits (a word added, removed or changed, punctuation, another URL or
@mention). Such pairs across train and dev/test leak evaluation data, and across datasets they show
that one release contains another. This module only reports pairs; what to drop is the caller's policy.

How (vectorised end to end; no per-row Python):

1. Texts are normalised and shingled in Polars; shingles are hashed to u64 (seeded Polars hash) and
   word/char n-grams are combined from the token hashes in numpy.
2. rensa (Rust MinHash) sketches every row from one flat hash buffer per pass of bands, and its LSH
   one-shot pass flags the rows that share a band with any other row. Most rows are flagged by no
   band, so only the flagged rows' signatures are brought into Python.
3. For the flagged rows, band keys are hashed in numpy and bucketed by sorting; pairs are enumerated
   per bucket (a bucket over `max_bucket` rows is paired within a sliding window only, so boilerplate
   shared by thousands of rows cannot blow up quadratically) and filtered by scope.
4. Candidates whose MinHash estimate is more than 4 sigma below `threshold` are dropped; the rest are
   verified by the exact Jaccard similarity of their shingle-hash sets, and pairs at or above
   `threshold` are reported. The reported `similarity` is that exact value, not an estimate.

Memory: the shingle-hash buffer (8 bytes a shingle, ~20 word bigrams a tweet), rensa's copy of it and
one n x 16 u32 matrix per pass: about 1.5 GB on top of the input frame at 2.7M tweets (measured peak
2.3 GB with the frame). Character shingles take about five times the buffer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from typing import Literal

import numpy as np
import polars as pl
import rensa

from lensforge.errors import LensforgeError
from lensforge.ingest.normalise import text_key_expr
from lensforge.ingest.steps import IngestContext, Step, StepOutput, drop_where

Scope = Literal["within", "across", "both"]
Progress = Callable[[int, int], None]

PAIR_SCHEMA: dict[str, pl.DataType] = {
    "a_id": pl.String(),
    "b_id": pl.String(),
    "a_dataset": pl.String(),
    "b_dataset": pl.String(),
    "a_split": pl.String(),
    "b_split": pl.String(),
    "similarity": pl.Float64(),
    "a_text": pl.String(),
    "b_text": pl.String(),
    "kind": pl.String(),
}
KINDS = ("cross_split", "within_split", "cross_dataset")

_ZERO_WIDTH = r"[\x{200B}-\x{200F}\x{FEFF}]"
_NOT_WORD = r"[^\w\s]+"  # Rust regex: \w is Unicode and keeps combining marks (Devanagari matras, virama)
_ARABIC_FROM = ["أ", "إ", "آ", "ٱ", "ى", "ة"]
_ARABIC_TO = ["ا", "ا", "ا", "ا", "ي", "ه"]

_M64 = np.uint64(0x9E3779B97F4A7C15)  # odd multipliers for combining hashes (wrapping u64 arithmetic)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_PERMS_PER_PASS = 16  # permutations per rensa pass: bounds its signature matrix to n x 16 u32
_CHUNK_ROWS = 200_000  # rows shingled per Polars batch: bounds the exploded-token memory
_PAIR_CHUNK = 200_000  # candidate pairs verified per batch: bounds the verification memory
_SIG_ROWS = 100_000  # rows per rensa digest -> Python list hand-over: bounds that transient


@dataclass(frozen=True)
class NearDupParams:
    """Everything that decides which pairs are found; `as_dict()` goes into reports so a run can be redone.

    Why these defaults: tweets are short (median ~15 words), so one changed word moves a large share of
    the shingles. On word bigrams a change in an N-word text leaves Jaccard (N-3)/(N+1): 0.64 at 10
    words, 0.75 at 15. A 0.6 threshold keeps such edits for texts of 9+ words; 0.7 would lose them below
    13 words, about a third of tweets. Word trigrams fall further ((N-5)/(N+1)); single words make
    stopword-only overlaps look similar and multiply LSH candidates (measured: 10.7M vs 0.63M candidate
    pairs at 2.7M rows). 32 bands of 4 rows give a candidate probability of 0.988 at Jaccard 0.6 and
    0.9998 at 0.7. Recall on planted light edits: 0.985 at 2.7M rows (bench/neardup_scale.py).
    """

    shingle: Literal["word", "char"] = "word"  # word n-grams (default) or character n-grams (~5x the shingles)
    ngram: int = 2  # n-gram size; a text with fewer than `ngram` tokens becomes one shingle (the whole text)
    num_perm: int = 128  # MinHash permutations
    bands: int = 32  # LSH bands; rows_per_band = num_perm // bands
    threshold: float = 0.6  # exact Jaccard of the shingle sets a candidate pair must reach to be reported
    seed: int = 42  # seeds the shingle hash and the MinHash permutations: same input + seed -> same output
    normalise: bool = True  # casefold, strip URLs/@mentions/punctuation, Arabic marks/tatweel/letter variants
    max_bucket: int = 100  # an LSH bucket larger than this is paired only within a sliding window of this size

    def __post_init__(self) -> None:
        if self.shingle not in ("word", "char"):
            raise LensforgeError(f"shingle must be 'word' or 'char', not {self.shingle!r}")
        if self.ngram < 1:
            raise LensforgeError(f"ngram must be >= 1, not {self.ngram}")
        if self.bands < 1 or self.num_perm < self.bands or self.num_perm % self.bands:
            raise LensforgeError(f"num_perm ({self.num_perm}) must be a positive multiple of bands ({self.bands})")
        if not 0.0 < self.threshold <= 1.0:
            raise LensforgeError(f"threshold must be in (0, 1], not {self.threshold}")
        if self.max_bucket < 2:
            raise LensforgeError(f"max_bucket must be >= 2, not {self.max_bucket}")

    @property
    def rows_per_band(self) -> int:
        return self.num_perm // self.bands

    def as_dict(self) -> dict:
        """Parameters plus the derived and fixed choices a report needs to interpret the pairs."""
        out: dict = asdict(self)
        out.update(
            rows_per_band=self.rows_per_band,
            # LSH S-curve midpoint: pairs above this Jaccard are likely to be candidates
            lsh_threshold=round((1.0 / self.bands) ** (1.0 / self.rows_per_band), 4),
            similarity="exact_jaccard",
            minhash=f"rensa {version('rensa')} RMinHash",
            shingle_hash=f"polars {pl.__version__} hash",
        )
        return out


@dataclass
class NearDupStats:
    """Counts from one run, for the report next to the pairs (why a number of pairs is what it is)."""

    rows: int = 0
    rows_empty: int = 0  # nothing left after normalisation (e.g. only a URL): not compared
    shingles: int = 0
    flagged_rows: int = 0  # rows sharing at least one LSH band with another row (any pass)
    capped_buckets: int = 0  # buckets over max_bucket, paired within a sliding window only
    rows_in_capped_buckets: int = 0
    candidate_pairs: int = 0  # distinct pairs from LSH buckets, after the scope filter
    checked_exactly: int = 0  # candidates whose MinHash estimate is within 4 sigma of the threshold
    pairs: int = 0  # candidates with similarity >= threshold
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def normalise_expr(col: str = "text") -> pl.Expr:
    """The text that is shingled: the exact-dedup key, then Arabic letter variants and punctuation folded."""
    return (
        text_key_expr(col)
        .str.replace_all(_ZERO_WIDTH, "")
        .str.replace_many(_ARABIC_FROM, _ARABIC_TO)
        .str.replace_all(_NOT_WORD, " ")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads combined hashes over all 64 bits (in place, wrapping)."""
    h ^= h >> np.uint64(30)
    h *= _MIX1
    h ^= h >> np.uint64(27)
    h *= _MIX2
    h ^= h >> np.uint64(31)
    return h


def _shingle_chunk(texts: pl.Series, params: NearDupParams) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes of a batch of texts: (flat u64 hashes in row order, shingle count per row)."""
    frame = pl.DataFrame({"text": texts.fill_null("")})
    if params.normalise:
        norm = frame.select(normalise_expr("text")).to_series()
    elif params.shingle == "word":
        norm = frame.select(pl.col("text").str.replace_all(r"\s+", " ").str.strip_chars()).to_series()
    else:
        norm = frame.to_series()
    empty = (norm.str.len_bytes() == 0).to_numpy()
    tokens = norm.str.split(" ") if params.shingle == "word" else norm.str.split("")
    lengths = tokens.list.len().to_numpy().astype(np.int64)
    lengths[empty] = 0  # "".split(" ") is [""]
    flat = tokens.explode(empty_as_null=False, keep_nulls=False)
    tok_hash = flat.hash(params.seed).to_numpy()
    if len(tok_hash) != lengths.sum():  # rows with [""] contribute one token each: drop them
        keep = np.repeat(~empty, tokens.list.len().to_numpy())
        tok_hash = tok_hash[keep]
    n = params.ngram
    long_rows = lengths >= n
    counts = np.where(long_rows, lengths - n + 1, np.where(lengths > 0, 1, 0)).astype(np.int64)
    out_off = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out_off[1:])
    out = np.empty(int(out_off[-1]), dtype=np.uint64)
    # n-grams of rows with >= n tokens: combine n consecutive token hashes (order-sensitive)
    tok_off = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=tok_off[1:])
    row_of_tok = np.repeat(np.arange(len(lengths)), lengths)
    pos = np.arange(len(tok_hash), dtype=np.int64) - tok_off[row_of_tok]
    starts = np.flatnonzero(pos <= lengths[row_of_tok] - n)
    if len(starts):
        g = tok_hash[starts].copy()
        for j in range(1, n):
            g *= _M64
            g += tok_hash[starts + j]
        if n > 1:
            _mix(g)
        out[out_off[row_of_tok[starts]] + pos[starts]] = g
    # shorter rows: the whole normalised text is one shingle
    short = np.flatnonzero(~long_rows & (lengths > 0))
    if len(short):
        out[out_off[short]] = norm.gather(short).hash(params.seed + 1).to_numpy()
    return out, counts


def _band_codes(
    sig: np.ndarray, rows: np.ndarray, r: int, max_bucket: int, capped: np.ndarray
) -> tuple[np.ndarray, int]:
    """Distinct candidate pairs, coded lo * n + hi, from the bands of `sig` (the signatures of `rows`).

    Rows with equal band keys share a bucket and a bucket of m rows gives its m(m-1)/2 pairs; over
    max_bucket rows it gives only the pairs within max_bucket consecutive members (in row order), so
    boilerplate shared by thousands of rows costs m * max_bucket pairs, not m^2. Such rows are marked
    in `capped`; the number of such buckets is returned with the codes.
    """
    n = len(capped)
    codes: list[np.ndarray] = []
    n_capped = 0
    for b in range(sig.shape[1] // r):
        key = np.zeros(len(rows), dtype=np.uint64)
        for j in range(b * r, (b + 1) * r):
            key ^= sig[:, j].astype(np.uint64)
            key *= _M64
        _mix(key)
        order = np.argsort(key, kind="stable")  # rows ascend within a bucket
        k, rs = key[order], rows[order]
        for d in range(1, max_bucket):
            same = k[d:] == k[:-d]
            if not same.any():
                break
            codes.append(rs[:-d][same] * n + rs[d:][same])
        starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
        sizes = np.diff(np.r_[starts, len(k)])
        big = sizes > max_bucket
        if big.any():
            n_capped += int(big.sum())
            capped[rs[_gather_index(np.flatnonzero(big), np.r_[starts, len(k)])]] = True
    return (np.unique(np.concatenate(codes)) if codes else np.empty(0, dtype=np.int64)), n_capped


def _sketch(rows: np.ndarray | None, hashes: np.ndarray, offsets: np.ndarray, perms: int, seed: int):
    """rensa digest matrix of `rows` (None: all rows) from the flat shingle-hash buffer."""
    if rows is not None:
        hashes = hashes[_gather_index(rows, offsets)]
        sub = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(offsets[rows + 1] - offsets[rows], out=sub[1:])
        offsets = sub
    return rensa.RMinHash.digest_matrix_from_flat_token_hashes(hashes, offsets, perms, seed)


def _signatures(rows: np.ndarray, hashes: np.ndarray, offsets: np.ndarray, passes: list[tuple[int, int]]) -> np.ndarray:
    """MinHash signatures (len(rows) x the passes' permutations, u32) of selected rows.

    rensa hands digests to Python as lists of ints, so rows go in batches to bound that transient.
    """
    out = np.empty((len(rows), sum(p for p, _ in passes)), dtype=np.uint32)
    for s in range(0, len(rows), _SIG_ROWS):
        batch = rows[s : s + _SIG_ROWS]
        col = 0
        for perms, seed in passes:
            out[s : s + len(batch), col : col + perms] = _sketch(batch, hashes, offsets, perms, seed).to_rows()
            col += perms
    return out


def _estimated_jaccard(pairs: np.ndarray, rows: np.ndarray, sig: np.ndarray) -> np.ndarray:
    """Share of equal MinHash values per pair (rows: sorted row numbers whose signatures are `sig`)."""
    out = np.empty(pairs.shape[1])
    for s in range(0, pairs.shape[1], _PAIR_CHUNK):
        a = sig[np.searchsorted(rows, pairs[0, s : s + _PAIR_CHUNK])]
        b = sig[np.searchsorted(rows, pairs[1, s : s + _PAIR_CHUNK])]
        out[s : s + _PAIR_CHUNK] = (a == b).mean(axis=1)
    return out


def _exact_jaccard(pairs: np.ndarray, hashes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Jaccard of the shingle-hash sets of each pair (2 x k array of row numbers), vectorised in Polars."""
    out = np.empty(pairs.shape[1])
    for s in range(0, pairs.shape[1], _PAIR_CHUNK):
        out[s : s + _PAIR_CHUNK] = _exact_jaccard_chunk(pairs[:, s : s + _PAIR_CHUNK], hashes, offsets)
    return out


def _exact_jaccard_chunk(pairs: np.ndarray, hashes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    rows = np.unique(pairs)
    lengths = offsets[rows + 1] - offsets[rows]
    local = np.repeat(np.arange(len(rows), dtype=np.int64), lengths)
    sets = pl.DataFrame({"r": local, "h": hashes[_gather_index(rows, offsets)]}).unique()
    size = np.zeros(len(rows), dtype=np.int64)
    per_row = sets.group_by("r").len()
    size[per_row["r"].to_numpy()] = per_row["len"].to_numpy()
    a = np.searchsorted(rows, pairs[0])
    b = np.searchsorted(rows, pairs[1])
    ids = pl.DataFrame({"p": np.arange(len(a), dtype=np.int64), "a": a, "b": b})
    both = pl.concat(
        [
            ids.select("p", pl.col("a").alias("r")).join(sets, on="r").select("p", "h"),
            ids.select("p", pl.col("b").alias("r")).join(sets, on="r").select("p", "h"),
        ]
    )
    shared = both.group_by("p", "h").len().filter(pl.col("len") == 2).group_by("p").len()
    inter = np.zeros(len(a), dtype=np.int64)
    inter[shared["p"].to_numpy()] = shared["len"].to_numpy()
    return inter / np.maximum(size[a] + size[b] - inter, 1)


def find_near_duplicates_with_stats(
    frame: pl.DataFrame,
    params: NearDupParams = NearDupParams(),
    *,
    scope: Scope = "both",
    progress: Progress | None = None,
) -> tuple[pl.DataFrame, NearDupStats]:
    """`find_near_duplicates`, plus the run's counts (flagged rows, capped buckets, candidates, timings)."""
    missing = {"sample_id", "dataset", "split", "text"} - set(frame.columns)
    if missing:
        raise LensforgeError(f"near-duplicate search needs columns {sorted(missing)}")
    if scope not in ("within", "across", "both"):
        raise LensforgeError(f"scope must be 'within', 'across' or 'both', not {scope!r}")
    if frame["sample_id"].null_count() or frame["sample_id"].n_unique() != frame.height:
        raise LensforgeError("sample_id must be unique and not null for near-duplicate search")
    n = frame.height
    stats = NearDupStats(rows=n)
    passes = _passes(params)
    total = -(-n // _CHUNK_ROWS) + len(passes) + 1
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    # 1. shingle hashes of all rows: one flat u64 buffer + row offsets
    t0 = time.perf_counter()
    text = frame["text"].cast(pl.String)
    parts: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    for start in range(0, n, _CHUNK_ROWS):
        h, c = _shingle_chunk(text.slice(start, _CHUNK_ROWS), params)
        parts.append(h)
        counts.append(c)
        tick()
    hashes = np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)
    del parts
    count = np.concatenate(counts) if counts else np.empty(0, dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(count, out=offsets[1:])
    live = np.flatnonzero(count > 0)  # rows empty after normalisation are not compared
    stats.rows_empty = n - len(live)
    stats.shingles = len(hashes)
    stats.seconds["shingle"] = round(time.perf_counter() - t0, 2)

    # 2-3. per pass: rensa sketches every live row and flags band collisions; flagged rows are bucketed here
    t0 = time.perf_counter()
    ds_code = frame["dataset"].cast(pl.String).fill_null("").rank("dense").to_numpy()
    r = params.rows_per_band
    flagged_any = np.zeros(n, dtype=bool)
    capped = np.zeros(n, dtype=bool)
    codes = np.empty(0, dtype=np.int64)
    for perms, seed in passes:
        if len(live) > 1:
            matrix = _sketch(None if len(live) == n else live, hashes, offsets, perms, seed)
            lsh = rensa.RMinHashLSH(params.threshold, perms, perms // r)
            flagged = live[np.asarray(lsh.query_duplicate_flags_matrix_one_shot(matrix), dtype=bool)]
            del matrix, lsh
            if len(flagged) > 1:
                flagged_any[flagged] = True
                sig = _signatures(flagged, hashes, offsets, [(perms, seed)])
                new, n_capped = _band_codes(sig, flagged, r, params.max_bucket, capped)
                stats.capped_buckets += n_capped
                if scope != "both":
                    same = ds_code[new // n] == ds_code[new % n]
                    new = new[same] if scope == "within" else new[~same]
                codes = np.union1d(codes, new)
        tick()
    pairs = np.stack([codes // n, codes % n])
    del codes
    stats.flagged_rows = int(flagged_any.sum())
    stats.rows_in_capped_buckets = int(capped.sum())
    stats.candidate_pairs = pairs.shape[1]
    stats.seconds["lsh"] = round(time.perf_counter() - t0, 2)

    # 4. the MinHash estimate drops most candidates cheaply; exact Jaccard decides the rest
    t0 = time.perf_counter()
    if pairs.shape[1]:
        rows = np.unique(pairs)
        est = _estimated_jaccard(pairs, rows, _signatures(rows, hashes, offsets, passes))
        slack = 4.0 * np.sqrt(params.threshold * (1.0 - params.threshold) / params.num_perm)  # 4 sigma
        pairs = pairs[:, est >= params.threshold - slack]
        stats.checked_exactly = pairs.shape[1]
        sim = _exact_jaccard(pairs, hashes, offsets)
        keep = sim >= params.threshold
        pairs, sim = pairs[:, keep], sim[keep]
    else:
        sim = np.empty(0)
    out = _report(frame, pairs, sim)
    stats.pairs = out.height
    stats.seconds["verify"] = round(time.perf_counter() - t0, 2)
    tick()
    return out, stats


def find_near_duplicates(
    frame: pl.DataFrame,
    params: NearDupParams = NearDupParams(),
    *,
    scope: Scope = "both",
    progress: Progress | None = None,
) -> pl.DataFrame:
    """Near-duplicate pairs in `frame` (sample_id, dataset, split, text), each unordered pair once (a_id < b_id).

    kind: cross_split (same dataset, different splits: leakage), within_split (same dataset and split)
    or cross_dataset. scope "within" keeps same-dataset pairs, "across" cross-dataset pairs.
    similarity is the exact Jaccard of the two shingle sets (>= params.threshold). The output is sorted
    by (a_id, b_id) and the same for the same input and params. progress(done, total) counts steps: one
    per batch of rows shingled, one per pass of LSH bands, one for verification.
    """
    return find_near_duplicates_with_stats(frame, params, scope=scope, progress=progress)[0]


def _passes(params: NearDupParams) -> list[tuple[int, int]]:
    """(permutations, seed) per rensa pass: whole bands, about _PERMS_PER_PASS permutations each."""
    r = params.rows_per_band
    per_pass = max(1, _PERMS_PER_PASS // r) * r
    out = []
    left, i = params.num_perm, 0
    while left > 0:
        perms = min(per_pass, left)
        out.append((perms, (params.seed * 1_000_003 + i) % (2**63)))
        left -= perms
        i += 1
    return out


def _gather_index(rows: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Flat positions of the items of `rows`, in order, in a buffer cut by `offsets` (len = rows + 1)."""
    lengths = offsets[rows + 1] - offsets[rows]
    base = np.repeat(offsets[rows] - (np.cumsum(lengths) - lengths), lengths)
    return base + np.arange(int(lengths.sum()), dtype=np.int64)


def _report(frame: pl.DataFrame, pairs: np.ndarray, sim: np.ndarray) -> pl.DataFrame:
    cols = frame.select(
        pl.col("sample_id").cast(pl.String),
        pl.col("dataset").cast(pl.String),
        pl.col("split").cast(pl.String),
        pl.col("text").cast(pl.String),
    )
    a = cols[pairs[0]]
    b = cols[pairs[1]]
    swap = (a["sample_id"] > b["sample_id"]).to_numpy()
    first = np.where(swap, pairs[1], pairs[0])
    second = np.where(swap, pairs[0], pairs[1])
    a, b = cols[first], cols[second]
    out = pl.DataFrame(
        {
            "a_id": a["sample_id"],
            "b_id": b["sample_id"],
            "a_dataset": a["dataset"],
            "b_dataset": b["dataset"],
            "a_split": a["split"],
            "b_split": b["split"],
            "similarity": pl.Series(sim, dtype=pl.Float64),
            "a_text": a["text"],
            "b_text": b["text"],
        }
    )
    kind = (
        pl.when(pl.col("a_dataset").ne_missing(pl.col("b_dataset")))
        .then(pl.lit("cross_dataset"))
        .when(pl.col("a_split").ne_missing(pl.col("b_split")))
        .then(pl.lit("cross_split"))
        .otherwise(pl.lit("within_split"))
    )
    return out.with_columns(kind.alias("kind")).sort("a_id", "b_id").select(list(PAIR_SCHEMA)).cast(PAIR_SCHEMA)


@dataclass
class NearDuplicates(Step):
    """MinHash-LSH near duplicates within the dataset. Reported (pairs left in the context); with `drop`,
    the train member of each train/held-out pair leaves (held-out splits stay intact)."""

    drop: bool = False
    name: str = "near_dup"
    needs: tuple[str, ...] = ("sample_id", "dataset", "split", "text")

    def run(self, frame: pl.DataFrame, ctx: IngestContext) -> StepOutput:
        pairs = find_near_duplicates(frame.select("sample_id", "dataset", "split", "text"), scope="within")
        ctx.facts["near_pairs"] = pairs
        detail = {"pairs": pairs.height}
        if not self.drop or pairs.height == 0:
            return StepOutput(kept=frame, detail=detail)
        cross = pairs.filter(pl.col("kind") == "cross_split")
        victims = pl.concat(
            [
                cross.filter((pl.col("a_split") == "train") & (pl.col("b_split") != "train")).select(
                    pl.col("a_id").alias("sample_id"), pl.col("b_id").alias("other"), pl.col("similarity")
                ),
                cross.filter((pl.col("b_split") == "train") & (pl.col("a_split") != "train")).select(
                    pl.col("b_id").alias("sample_id"), pl.col("a_id").alias("other"), pl.col("similarity")
                ),
            ]
        ).unique("sample_id", keep="first", maintain_order=True)
        marked = frame.join(victims, on="sample_id", how="left", maintain_order="left")
        out = drop_where(
            marked,
            pl.col("other").is_not_null(),
            "near_duplicate",
            pl.format("similar ({}) to held-out {}", pl.col("similarity").round(3), pl.col("other")),
        )
        assert out.dropped is not None
        return StepOutput(
            kept=out.kept.drop("other", "similarity"), dropped=out.dropped.drop("other", "similarity"), detail=detail
        )
