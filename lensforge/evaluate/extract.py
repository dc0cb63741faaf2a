"""Turn a model's free-text answer into a label of the dataset's label space, or say it cannot.

LlamaLens replaced every answer that was not a valid label with a *random* valid label, which makes a
model that answers nonsense look like chance. Here an answer is read against the label space only, in
tiers from strict to lenient, and anything that does not resolve to exactly one reading is `None`
(unparseable), which the metrics count as wrong:

1. the whole answer (after "Label:" and punctuation are stripped) is a label, a native-language name of
   one, or an alias;
2. whole labels and native names found as token spans, longest first ("not-sarcastic" claims its tokens
   before "sarcastic" can), with a negation just before a label ("not a sarcastic tweet") read as the
   label's negated counterpart; several different labels in one answer are ambiguous;
3. code-switched answers (an English label written in Devanagari or Arabic script) transliterated with
   anyascii and compared on a consonant skeleton that absorbs the usual spelling shifts (ph/f, p/b, v/f);
4. a close typo of a whole label or native name (difflib ratio above a threshold).

Comparisons happen on a "squashed" form: case folded, Arabic letter variants and diacritics unified,
separators and punctuation removed, so "Not_Sarcastic", "not sarcastic" and "not-sarcastic" are one key
(the same rule as `lensforge.curate.labels.fold`, which keys the native-label table).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from anyascii import anyascii

from lensforge.curate.labels import fold, native_table, task_group

# Arabic letter variants and marks that spelling varies on; unified on both sides of every comparison.
_AR_MAP = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ؤ": "و", "ئ": "ي"})
_DROP = re.compile("[\u064b-\u065f\u0670\u0640\u093c\u200c\u200d\u200e\u200f\ufeff]")  # tashkeel, tatweel, nukta
_PREFIX = re.compile(r"^\s*(?:label|labels|answer|output|prediction|summary|class|category)\s*[:：\-]\s*", re.I)
_SEGMENT = re.compile(r"\n|[.!?؟।](?:\s|$)")
_MULTI_SPLIT = re.compile(r"[,;/|&+،؛\n]|\s(?:and|or|و|او|और|या)\s", re.I)
_MAX_SPAN = 6
# Devanagari letters with a nukta that write English sounds (ज़ z, फ़ f, क़ q, ख़ kh), before nukta is dropped.
_NUKTA = {"\u091c\u093c": "z", "\u095b": "z", "\u092b\u093c": "f", "\u095e": "f", "\u0915\u093c": "k", "\u0958": "k"}

# Words that negate the label after them ("is not a sarcastic tweet"), and Hindi ones that follow it.
_NEG_BEFORE = frozenset(
    {"not", "no", "non", "never", "nor", "isnt", "isn", "arent", "aren", "wasnt", "wasn", "doesnt", "doesn", "dont"}
    | {"ليس", "ليست", "غير", "لا", "لم", "لن"}
    | {"गैर", "न"}
)
_NEG_AFTER = frozenset({"नहीं", "नही", "ना"})
_NEG_WINDOW = 2
_CLAUSE = re.compile(r"[,;:!?.،؛؟।()\[\]\n]")

# Aliases too common in ordinary text to be searched for inside an answer: they count only as the whole answer.
_GENERIC = frozenset({"yes", "no", "true", "false", "0", "1", "none", "not", "normal", "other", "both", "neither"})


def _clean(text: str) -> str:
    """NFKC, case fold, Arabic variants unified, marks that spelling varies on dropped."""
    return _DROP.sub("", unicodedata.normalize("NFKC", text).casefold().translate(_AR_MAP))


def tokens(text: str) -> list[str]:
    """Word tokens (letters, digits and combining marks, so Devanagari vowel signs stay in their word)."""
    out = []
    for ch in _clean(text):
        out.append(ch if ch.isalnum() or unicodedata.category(ch).startswith("M") else " ")
    return "".join(out).split()


def squash(text: str) -> str:
    """The comparison key: tokens joined without separators."""
    return "".join(tokens(text))


def strip_prefix(text: str) -> str:
    """The answer without a leading "Label:"/"Summary:" (the assistant turn starts with one in training)."""
    previous = None
    while previous != text:
        previous, text = text, _PREFIX.sub("", text, count=1)
    return text.strip()


@dataclass(frozen=True)
class _Index:
    labels: tuple[str, ...]
    search: dict[str, str]  # squashed label or native name -> label (looked for inside an answer)
    whole: dict[str, str]  # squashed alias -> label (only as the whole answer)
    skeletons: dict[str, str]  # consonant skeleton of each label -> label
    max_span: int


def _counterpart(label: str, labels: Sequence[str]) -> str | None:
    """The negated label of `label` in the space ("sarcastic" -> "not-sarcastic"), if there is one."""
    key = squash(label)
    for other in labels:
        if squash(other) in {f"not{key}", f"non{key}", f"no{key}"}:
            return other
    return None


def _build(labels: Sequence[str], native: Mapping[str, str], aliases: Mapping[str, str]) -> _Index:
    labels = tuple(dict.fromkeys(labels))
    search: dict[str, str] = {}
    for name, label in native.items():
        if label in labels and squash(name):
            search.setdefault(squash(name), label)
    for label in labels:  # labels themselves win over any native name with the same key
        search[squash(label)] = label
    whole = {squash(a): lab for a, lab in aliases.items() if lab in labels and squash(a)}
    skeletons: dict[str, str] = {}
    for label in labels:
        sk = skeleton(label)
        if sk and sk not in skeletons:
            skeletons[sk] = label
        elif sk in skeletons and skeletons[sk] != label:
            skeletons[sk] = ""  # two labels share a skeleton: unusable for either
    return _Index(labels, search, whole, {k: v for k, v in skeletons.items() if v}, _MAX_SPAN)


def skeleton(text: str) -> str:
    """A consonant skeleton of romanised text: what survives the spelling shifts of transliteration.

    Devanagari and Arabic spellings of English words lose vowels and swap f/ph/v, p/b, g/j, s/z, c/k;
    the skeleton maps each group to one letter and drops vowels and doubled letters.
    """
    text = unicodedata.normalize("NFC", text)
    for nukta, latin in _NUKTA.items():
        text = text.replace(nukta, latin)
    s = anyascii(_clean(text).replace("ं", "न्").replace("ँ", "न्")).lower()
    s = s.replace("tsh", "c").replace("ph", "f").replace("ck", "k").replace("ch", "c").replace("sh", "s")
    s = re.sub(r"c(?=[eiy])", "s", s).replace("c", "k").replace("q", "k").replace("x", "ks")
    s = s.translate(str.maketrans({"v": "f", "p": "b", "g": "j", "z": "s", "w": "", "y": ""}))
    s = re.sub(r"[^a-z]", "", s)
    s = re.sub(r"[aeiou]", "", s)
    return re.sub(r"(.)\1+", r"\1", s)


def clauses(text: str) -> tuple[list[str], list[int]]:
    """Tokens and the clause each belongs to (a comma or stop ends a clause, so "No, it is sarcastic"
    does not negate "sarcastic")."""
    toks: list[str] = []
    ids: list[int] = []
    for n, clause in enumerate(_CLAUSE.split(text)):
        part = tokens(clause)
        toks += part
        ids += [n] * len(part)
    return toks, ids


def _negated(toks: list[str], ids: list[int], start: int, end: int) -> bool:
    """Whether a negation in the same clause sits just before (or, in Hindi, just after) a span."""
    lo = max(0, start - _NEG_WINDOW)
    before = [t for t, c in zip(toks[lo:start], ids[lo:start], strict=True) if c == ids[start]]
    after = [t for t, c in zip(toks[end : end + 2], ids[end : end + 2], strict=True) if c == ids[end - 1]]
    return any(t in _NEG_BEFORE for t in before) or any(t in _NEG_AFTER for t in after)


def _spans(region: str, index: _Index) -> list[tuple[int, str]]:
    """(position, label) of whole labels and native names found in a text, longest spans first."""
    toks, ids = clauses(region)
    claimed = [False] * len(toks)
    found: list[tuple[int, str]] = []
    for n in range(min(index.max_span, len(toks)), 0, -1):
        for i in range(len(toks) - n + 1):
            if any(claimed[i : i + n]):
                continue
            label = index.search.get("".join(toks[i : i + n]))
            if label is None:
                continue
            for j in range(i, i + n):
                claimed[j] = True
            if _negated(toks, ids, i, i + n):
                flipped = _counterpart(label, index.labels)
                if flipped is None:
                    continue  # "not positive", or "not offensive" with no not-offensive label: no reading
                label = flipped
            found.append((i, label))
    found.sort()
    return found


def _fuzzy(key: str, candidates: Mapping[str, str], threshold: float, min_len: int = 4) -> str | None:
    """The one label whose key is closest to `key`, when close enough and not tied with another label."""
    if len(key) < min_len:
        return None
    best: dict[str, float] = {}
    for cand, label in candidates.items():
        if len(cand) < min_len:
            continue
        ratio = difflib.SequenceMatcher(None, key, cand).ratio()
        if ratio >= threshold and ratio > best.get(label, 0.0):
            best[label] = ratio
    if not best:
        return None
    ranked = sorted(best.items(), key=lambda kv: -kv[1])
    if len(ranked) > 1 and ranked[1][1] == ranked[0][1]:
        return None
    return ranked[0][0]


def _non_latin(text: str) -> bool:
    return any(ch.isalpha() and not ch.isascii() for ch in text)


def _one(region: str, index: _Index, threshold: float, *, lenient: bool) -> str | tuple[str, ...] | None:
    """Read one region as a single label; a tuple means several different labels (ambiguous)."""
    toks = tokens(region)
    if not toks:
        return None
    key = "".join(toks)
    if key in index.search:
        return index.search[key]
    if key in index.whole:
        return index.whole[key]
    hits = list(dict.fromkeys(label for _, label in _spans(region, index)))
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        return tuple(hits)
    if not lenient:
        return None
    if _non_latin(region):
        romanised = anyascii(_clean(region))
        rtoks = tokens(romanised)
        rkey = "".join(rtoks)
        if rkey in index.search:
            return index.search[rkey]
        rhits = list(dict.fromkeys(label for _, label in _spans(romanised, index)))
        if len(rhits) == 1:
            return rhits[0]
        sk = skeleton(region)
        if sk in index.skeletons:
            return index.skeletons[sk]
        hit = _fuzzy(sk, index.skeletons, threshold)
        if hit is not None:
            return hit
    return _fuzzy(key, index.search, threshold)


def _segments(text: str) -> list[str]:
    return [s for s in (part.strip() for part in _SEGMENT.split(text)) if tokens(s)]


def extract_label(
    text: str | None,
    labels: Sequence[str],
    *,
    multilabel: bool = False,
    native: Mapping[str, str] | None = None,
    aliases: Mapping[str, str] | None = None,
    fuzzy_threshold: float = 0.85,
) -> list[str] | str | None:
    """The label (or, for multi-label sets, the sorted labels) an answer names; None when it names none clearly.

    `native` maps other names of a label (Arabic, Hindi) to the label and is searched inside the answer;
    `aliases` (e.g. "yes" -> "sarcastic") count only when they are the whole answer. Never guesses.
    """
    if text is None or not labels:
        return None
    index = _build(labels, native or {}, aliases or {})
    body = strip_prefix(text)
    if multilabel:
        return _extract_multi(body, index, fuzzy_threshold)
    segments = _segments(body)
    if not segments:
        return None
    first = _one(segments[0], index, fuzzy_threshold, lenient=True)
    if isinstance(first, str):
        return first
    if isinstance(first, tuple):
        return None  # the answer itself names several labels: ambiguous
    rest = _one(" ".join(segments[1:]), index, fuzzy_threshold, lenient=False) if len(segments) > 1 else None
    return rest if isinstance(rest, str) else None


def _extract_multi(body: str, index: _Index, threshold: float) -> list[str] | None:
    lines = [line for line in body.splitlines() if tokens(line)]
    if not lines:
        return None
    found: set[str] = set()
    for part in _MULTI_SPLIT.split(lines[0]):
        if not tokens(part):
            continue
        got = _one(part, index, threshold, lenient=True)
        if isinstance(got, str):
            found.add(got)
        elif isinstance(got, tuple):
            found.update(got)  # "fake hate" without a separator still names two labels
    return sorted(found) or None


def label_alternatives(
    labels: Sequence[str],
    *,
    task: str | None = None,
    registry_native: Mapping[str, Mapping[str, str]] | None = None,
    native_file: Path | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """(native, aliases) for `extract_label`: other names of this label space's labels.

    Native names come from the project's table (plus a workspace's `native_labels.yaml`) and from the
    registry's per-label names (keyed by the *source* label, so they go through the task's canonical
    aliases: 'TRUE' -> sarcastic). An English word reaches a label directly (case and separators aside)
    or through the task's canonical set ("hate" -> hate-speech for hate-speech tasks). Names that reach
    a label only through a generic alias (yes/no/true/false) are kept for whole answers only.
    """
    by_key = {fold(lab): lab for lab in labels}
    group = task_group(task) if task else None

    def resolve(word: str) -> tuple[str | None, bool]:
        """The label an English word names, and whether that reading is specific enough to search for."""
        k = fold(word)
        if k in by_key:
            return by_key[k], k not in _GENERIC
        if group is not None:
            canonical = group.aliases.get(k)
            if canonical is not None and fold(canonical) in by_key:
                return by_key[fold(canonical)], k not in _GENERIC
        return None, False

    native: dict[str, str] = {}
    aliases: dict[str, str] = {}
    for table in native_table(native_file).values():
        for name, english in table.items():
            label, specific = resolve(english)
            if label is not None:
                (native if specific else aliases).setdefault(name, label)
    for source, names in (registry_native or {}).items():
        label, specific = resolve(source)
        if label is None:
            continue
        for name in names.values():
            (native if specific else aliases).setdefault(name, label)
    if group is not None:
        for alias, canonical in group.aliases.items():
            if fold(canonical) in by_key and alias not in by_key:
                aliases.setdefault(alias, by_key[fold(canonical)])
    return native, aliases


def split_labels(value: str | None) -> list[str]:
    """The atoms of a multi-label gold value ("fake, hate" -> ["fake", "hate"])."""
    if not value:
        return []
    return sorted({part.strip() for part in value.split(",") if part.strip()})


def join_labels(values: Iterable[str]) -> str:
    """The gold form of a label set: sorted, comma-joined (as the snapshot writes it)."""
    return ", ".join(sorted(set(values)))
