"""From raw files to the normalised sample schema: the read step, label decoding, keys and ids."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from lensforge.catalog.spec import ColumnMap, DatasetEntry, FileSpec, LabelDecoding
from lensforge.errors import LensforgeError
from lensforge.hashing import md5_prefix_joined
from lensforge.ingest.readers import LINE, RAW, RawRead, escaped, read_file
from lensforge.ingest.steps import IngestContext, Step, StepOutput

# The columns the read step hands to the next steps (the raw side of a sample).
READ_COLUMNS: tuple[str, ...] = (
    "dataset",
    "language",
    "task",
    "task_type",
    "split",
    "source_file",
    "source_line",
    "source_id",
    "text_original",
    "text_pair",
    "label_raw",
    "target",
    "file_labelled",
    "sample_id",
)

_URL = r"(?:https?://|www\.)\S+"
_MENTION = r"@\w+"
_ARABIC_DIACRITICS = r"[\x{0610}-\x{061A}\x{064B}-\x{065F}\x{0670}\x{06D6}-\x{06ED}]"
_TATWEEL = "\u0640"  # removed with a literal search: ~3x cheaper than through the class, and common
_ARABIC_MARKS = _ARABIC_DIACRITICS[:-1] + r"\x{0640}]"  # diacritics and tatweel
_LOWER = r"\p{Changes_When_Lowercased}"  # a character lower-casing changes
_EDGE_QUOTES = r"^[\"'“”«»„`]+|[\"'“”«»„`]+$"


def apply_where(s: pl.Series, mask: pl.Series, fn: Callable[[pl.Series], pl.Series]) -> pl.Series:
    """Apply `fn` only to the rows that need it (most texts need no change, and these ops are costly).

    Returns a new series: `s` itself is left as it was (Polars' scatter writes into the series it is
    called on)."""
    mask = mask.fill_null(False)
    if not mask.any():
        return s
    return s.clone().scatter(mask.arg_true(), fn(s.filter(mask)))


# Whitespace other than a single ASCII space: Aho-Corasick over literals is ~10x cheaper than a regex.
_ODD_SPACE = [
    "  ",
    "\t",
    "\n",
    "\r",
    "\x0b",
    "\x0c",
    "\x85",
    "\xa0",
    "\u1680",
    "\u2028",
    "\u2029",
    "\u202f",
    "\u205f",
    "\u3000",
    *[chr(c) for c in range(0x2000, 0x200B)],
]


def needs_whitespace_fix(s: pl.Series) -> pl.Series:
    """A superset of the texts that whitespace collapsing or stripping would change."""
    return s.str.contains_any(_ODD_SPACE) | s.str.starts_with(" ") | s.str.ends_with(" ")


def _literal(text: str) -> str:
    return "".join(f"\\x{{{ord(c):X}}}" for c in text)


# The same whitespace test as one regex alternative, to fold into a scan that looks for more at once.
ODD_SPACE_PATTERN = "|".join(_literal(w) for w in _ODD_SPACE) + "|^ | $"

_EDGE_QUOTE_CHARS = ['"', "'", "“", "”", "«", "»", "„", "`"]


@functools.cache
def key_suspects() -> str:
    """One regex for every text the key's transformations could change: a character that changes when
    lower-cased, a link or mention, an Arabic mark, whitespace to collapse, a quote at either end."""
    quotes = "[" + "".join(_literal(c) for c in _EDGE_QUOTE_CHARS) + "]"
    return "|".join(
        [
            _LOWER,
            "http",
            r"www\.",
            "@",
            _ARABIC_MARKS,
            ODD_SPACE_PATTERN,
            f"^{quotes}|{quotes}$",
        ]
    )


def contains_among(s: pl.Series, among: pl.Series, pattern: str) -> pl.Series:
    """`s.str.contains(pattern)`, scanning only the rows `among` flags (the others are known not to match)."""
    rows = among.arg_true()
    out = pl.repeat(False, s.len(), dtype=pl.Boolean, eager=True)
    if rows.len() == 0:
        return out
    return out.scatter(rows, s.gather(rows).str.contains(pattern).fill_null(False))


@functools.cache
def _rare_in_key() -> str:
    """A character with a lower case, an Arabic diacritic or odd whitespace: one scan for the three."""
    return f"{_LOWER}|{_ARABIC_DIACRITICS}|{ODD_SPACE_PATTERN}"


def _text_keys_each(s: pl.Series) -> pl.Series:
    """The key transformations, each run only on the texts it would change (found by a cheaper scan):
    lower-casing an Arabic or Devanagari text (which has no case) costs ~5x a scan for letters that have
    a lower case, and most texts hold no link, mention or diacritic.

    A regex scan of a text that does not match costs the same whatever the pattern, so the three that
    rarely match (case, diacritics, whitespace) are one scan, and each is asked separately only of the
    texts that scan flags. Each transformation leaves a text without its pattern unchanged, so a mask may
    flag more rows than need it, never fewer. Whitespace: a text the scan did not flag had single ASCII
    spaces only; cutting a link, mention or mark out of it can leave a double or edge space (and nothing
    else), which literal searches find.
    """
    rare = s.str.contains(_rare_in_key()).fill_null(False)
    key = apply_where(s, contains_among(s, rare, _LOWER), lambda x: x.str.to_lowercase())
    web = key.str.contains_any(["http", "www.", "@"]).fill_null(False)
    key = apply_where(key, web, lambda x: x.str.replace_all(_URL, " ").str.replace_all(_MENTION, " "))
    tatweel = key.str.contains(_TATWEEL, literal=True).fill_null(False)
    key = apply_where(key, tatweel, lambda x: x.str.replace_all(_TATWEEL, "", literal=True))
    marks = contains_among(key, rare, _ARABIC_DIACRITICS)  # lower-casing and cutting links add no diacritic
    key = apply_where(key, marks, lambda x: x.str.replace_all(_ARABIC_DIACRITICS, ""))
    cut = web | tatweel | marks
    spaced = contains_among(key, rare, ODD_SPACE_PATTERN) | (
        cut & (key.str.contains("  ", literal=True) | key.str.starts_with(" ") | key.str.ends_with(" "))
    )
    key = apply_where(key, spaced, lambda x: x.str.replace_all(r"\s{2,}", " ").str.strip_chars())
    edged = key.str.head(1).is_in(_EDGE_QUOTE_CHARS) | key.str.tail(1).is_in(_EDGE_QUOTE_CHARS)
    return apply_where(key, edged, lambda x: x.str.replace_all(_EDGE_QUOTES, "").str.strip_chars())


def text_keys(s: pl.Series, plain: pl.Series | None = None) -> pl.Series:
    """The dedup key of each (cleaned, NFKC) text: case-folded, URLs and @mentions gone, Arabic marks and
    tatweel gone, runs of whitespace collapsed, quotes at either end gone.

    One regex scan finds the texts any of these would change (on a typical corpus, a minority: a text
    without capitals, links, marks or edge quotes is its own key); the transformations run on those only.
    `plain`, when given, flags texts an earlier, wider scan already cleared (see NormaliseText): only the
    others are scanned.
    """
    pattern = key_suspects()
    suspects = s.str.contains(pattern) if plain is None else contains_among(s, ~plain.fill_null(False), pattern)
    return apply_where(s, suspects, _text_keys_each)


def text_key_expr(col: str) -> pl.Expr:
    """`text_keys` as an expression on column `col`."""
    return pl.col(col).map_batches(text_keys, return_dtype=pl.String)


def _require(read: RawRead, cols: ColumnMap, file: FileSpec, origin: str, task_type: str) -> None:
    wanted = {"text": cols.text, "text_pair": cols.text_pair, "target": cols.target, "id": cols.id}
    if file.labelled and task_type != "generation":
        wanted["label"] = cols.label
    for role, name in wanted.items():
        if name and name not in read.columns:
            raise LensforgeError(
                f"{origin}: no column {name!r} for the {role} (columns: {escaped(', '.join(read.columns), 200)})",
                hint="fix ingest.columns in the registry entry, or mark the file labelled: false",
            )


def decode_labels(frame: pl.DataFrame, task_type: str, dec: LabelDecoding) -> pl.DataFrame:
    """label_raw -> label: strip, map codes, split multi-label fields; empty becomes null."""
    raw = pl.col("label_raw")
    if dec.strip:
        raw = raw.str.strip_chars()
    raw = pl.when(raw == "").then(None).otherwise(raw)
    frame = frame.with_columns(raw.alias("label_raw"))
    if task_type == "generation":
        return frame.with_columns(pl.lit(None, dtype=pl.String).alias("label"))
    if task_type == "multilabel":
        sep = dec.multilabel_separator or ","
        items = pl.col("label_raw").str.split(sep).list.eval(pl.element().str.strip_chars())
        items = items.list.eval(pl.element().filter(pl.element() != ""))
        if dec.mapping:
            items = items.list.eval(pl.element().replace(dec.mapping))
        return frame.with_columns(
            pl.when(pl.col("label_raw").is_null())
            .then(None)
            .otherwise(items.list.unique(maintain_order=True))
            .alias("label")
        )
    label = pl.col("label_raw")
    if dec.mapping:
        label = label.replace(dec.mapping)
    return frame.with_columns(label.alias("label"))


@dataclass
class DecodeLabels(Step):
    """Raw label values to decoded labels (strings, or lists for multi-label tasks); drops nothing."""

    task_type: str = "classification"
    decoding: LabelDecoding = field(default_factory=LabelDecoding)
    name: str = "decode_labels"
    needs: tuple[str, ...] = ("label_raw",)
    adds: tuple[str, ...] = ("label",)

    def run(self, frame: pl.DataFrame, ctx: IngestContext) -> StepOutput:
        return StepOutput(kept=decode_labels(frame, self.task_type, self.decoding))


def to_samples(
    read: RawRead, entry: DatasetEntry, file: FileSpec, *, source_file: str, split: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parsed rows -> normalised samples; unparseable records -> quarantine rows (same columns)."""
    assert entry.ingest is not None
    cols = entry.ingest.columns
    _require(read, cols, file, source_file, entry.task_type)
    base = {
        "dataset": pl.lit(entry.dataset_id),
        "language": pl.lit(entry.language),
        "task": pl.lit(entry.task),
        "task_type": pl.lit(entry.task_type),
        "split": pl.lit(split),
        "source_file": pl.lit(source_file),
    }
    has_label = file.labelled and cols.label is not None and cols.label in read.columns
    frame = read.rows.select(
        pl.col(cols.text).alias("text_original"),
        (pl.col(cols.text_pair) if cols.text_pair else pl.lit(None, dtype=pl.String)).alias("text_pair"),
        (pl.col(cols.label) if has_label else pl.lit(None, dtype=pl.String)).alias("label_raw"),
        (pl.col(cols.target) if cols.target else pl.lit(None, dtype=pl.String)).alias("target"),
        (pl.col(cols.id) if cols.id else pl.lit(None, dtype=pl.String)).alias("source_id"),
        pl.col(LINE).alias("source_line"),
        pl.lit(file.labelled).alias("file_labelled"),
        **base,
    )
    bad = read.bad.select(
        pl.col(RAW).alias("text_original"),
        pl.col(LINE).alias("source_line"),
        pl.col("reason"),
        pl.col("detail"),
        pl.lit(None, dtype=pl.String).alias("source_id"),
        pl.lit(None, dtype=pl.String).alias("text_pair"),
        pl.lit(None, dtype=pl.String).alias("target"),
        pl.lit(None, dtype=pl.String).alias("label_raw"),
        pl.lit(file.labelled).alias("file_labelled"),
        **base,
    )
    return frame, bad


# What a sample id hashes, joined by U+001F (a null as the empty string): the same input, the same id.
SAMPLE_ID_PARTS = ("dataset", "source_id", "text_original", "text_pair", "target")


def assign_sample_ids(frame: pl.DataFrame) -> pl.DataFrame:
    """Stable ids: md5 of dataset, source id, original text and pair (the same input, the same id).

    md5 (lensforge.hashing) is vectorised and does not change between library versions, unlike Polars' hash.
    """
    if frame.height == 0:
        return frame.with_columns(pl.lit(None, dtype=pl.String).alias("sample_id"))
    ids = md5_prefix_joined(frame, list(SAMPLE_ID_PARTS), separator="\x1f", chars=20)
    return frame.with_columns(ids.alias("sample_id"))


@dataclass
class ReadFiles(Step):
    """Every raw file of the entry, read as its spec says, to sample rows with stable ids.

    Records that do not parse are dropped here with their line and reason. `rows_in` is the number of
    records counted in the files without the field parser, so a reader that swallows records fails the
    pipeline's in = out + dropped check, naming the file.
    """

    name: str = "read"
    adds: tuple[str, ...] = READ_COLUMNS

    def run(self, frame: pl.DataFrame, ctx: IngestContext) -> StepOutput:
        entry = ctx.entry
        spec = entry.ingest
        assert spec is not None
        used = {c for c in spec.columns.model_dump().values() if c}
        samples, bad = [], []
        hub_reads = ctx.facts.get("hub_reads")
        for position, meta in enumerate(ctx.raw_files):
            if hub_reads is not None:
                file, read = hub_reads[position]
            else:
                file = spec.files[position]
                assert ctx.source_root is not None
                path = ctx.source_root / file.path
                read = read_file(path, file, spec, used_columns=used, data=ctx.raw_bytes.pop(meta["path"], None))
                if read.rows.height + read.bad.height != read.records:
                    raise LensforgeError(
                        f"{path}: the reader lost records: {read.records} counted, {read.rows.height} parsed "
                        f"and {read.bad.height} quarantined"
                    )
            meta["lines"] = read.lines
            meta["records"] = read.records
            meta["parsed"] = read.rows.height
            meta["quarantined"] = {
                str(k): int(n) for k, n in read.bad.group_by("reason").len().sort("reason").iter_rows()
            }
            s, b = to_samples(read, entry, file, source_file=meta["path"], split=file.split)
            samples.append(s)
            bad.append(b)
        rows = assign_sample_ids(pl.concat(samples, how="diagonal_relaxed"))
        dropped = assign_sample_ids(pl.concat(bad, how="diagonal_relaxed"))
        detail = {"files": {m["path"]: {k: m.get(k) for k in ("lines", "records", "parsed")} for m in ctx.raw_files}}
        return StepOutput(kept=rows, dropped=dropped, rows_in=sum(m["records"] for m in ctx.raw_files), detail=detail)
