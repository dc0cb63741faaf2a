"""Validation of generated instructions: length, labels named, script, near-duplicates.

Every candidate that fails is kept with its reason (instruction_rejects), never dropped silently.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Set
from dataclasses import dataclass
from functools import lru_cache

from lensforge.curate.labels import fold

MIN_CHARS = 40
MAX_CHARS = 600
NEAR_DUPLICATE = 0.8  # word-level Jaccard at or above which two instructions count as the same
SCRIPT_SHARE = 0.6

_SCRIPTS = {"ar": "ARABIC", "hi": "DEVANAGARI", "en": "LATIN"}
_WORD = re.compile(r"\w+", re.UNICODE)


def parse_instructions(text: str) -> list[str]:
    """Instructions from a provider's reply: {"instructions": [...]}, a bare list, fenced or chatty JSON."""
    cleaned = re.sub(r"^```(?:json)?\s*|\s*```$", "", text.strip(), flags=re.MULTILINE)
    candidates = [cleaned]
    for opener, closer in (("{", "}"), ("[", "]")):
        start, end = cleaned.find(opener), cleaned.rfind(closer)
        if 0 <= start < end:
            candidates.append(cleaned[start : end + 1])
    for blob in candidates:
        try:
            data = json.loads(blob)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            data = data.get("instructions", next((v for v in data.values() if isinstance(v, list)), None))
        if isinstance(data, list):
            out = []
            for item in data:
                if isinstance(item, dict):
                    item = item.get("instruction") or item.get("text")
                if isinstance(item, str) and item.strip():
                    out.append(" ".join(item.split()))
            return out
    return []


@lru_cache(maxsize=1 << 16)
def letter_script(ch: str) -> str | None:
    """Which of our languages' scripts a letter belongs to, from its Unicode name (cached: texts reuse letters)."""
    name = unicodedata.name(ch, "")
    return next((lang for lang, script in _SCRIPTS.items() if script in name), None)


def script_share(text: str, language: str) -> float:
    """Share of the letters of `text` written in `language`'s script (ar: Arabic, hi: Devanagari, en: Latin).

    The one definition the factory's check and the offline provider both use. A text without letters has no
    share (0.0: it is written in no language); a language without a known script cannot be judged (1.0).
    """
    if language not in _SCRIPTS:
        return 1.0
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for ch in letters if letter_script(ch) == language) / len(letters)


def words(text: str) -> set[str]:
    """The case-folded words (`\\w+` runs) of a text: what near-duplicate checks compare."""
    return {w.casefold() for w in _WORD.findall(text)}


def jaccard(a: Set[str], b: Set[str]) -> float:
    """Jaccard similarity of two word sets; two empty sets are the same set (1.0)."""
    return len(a & b) / len(a | b) if a or b else 1.0


@dataclass(frozen=True)
class Check:
    ok: bool
    reason: str = ""


def missing_labels(text: str, labels: list[str], native_labels: dict[str, str]) -> list[str]:
    """The labels an instruction does not name (in English or in its native name)."""
    folded = fold(text)
    return [
        lab
        for lab in labels
        if fold(lab) not in folded and not (lab in native_labels and fold(native_labels[lab]) in folded)
    ]


def check_instruction(
    text: str,
    *,
    language: str,
    task_type: str,
    labels: list[str],
    native_labels: dict[str, str],
    accepted: list[str],
) -> Check:
    """One candidate against the rules; `accepted` are instructions already kept for this set."""
    if len(text) < MIN_CHARS:
        return Check(False, f"too_short: {len(text)} characters (minimum {MIN_CHARS})")
    if len(text) > MAX_CHARS:
        return Check(False, f"too_long: {len(text)} characters (maximum {MAX_CHARS})")
    share = script_share(text, language)
    if share < SCRIPT_SHARE:
        return Check(False, f"wrong_script: {share:.0%} of letters in the {_SCRIPTS.get(language, '?')} script")
    if task_type != "generation":
        missing = missing_labels(text, labels, native_labels)
        if missing:
            return Check(False, f"missing_labels: {', '.join(missing)}")
    mine = words(text)
    for other in accepted:
        sim = jaccard(mine, words(other))
        if sim >= NEAR_DUPLICATE:
            return Check(False, f"near_duplicate: word overlap {sim:.2f} with an accepted instruction")
    return Check(True)
