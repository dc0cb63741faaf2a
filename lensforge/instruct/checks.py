"""Validation of generated instructions: length, labels named, script, near-duplicates.

Every candidate that fails is kept with its reason (instruction_rejects), never dropped silently.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass

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


def script_share(text: str, language: str) -> float:
    """Share of letters written in the language's script."""
    want = _SCRIPTS.get(language)
    letters = [ch for ch in text if ch.isalpha()]
    if not letters or want is None:
        return 1.0
    return sum(1 for ch in letters if want in unicodedata.name(ch, "")) / len(letters)


def words(text: str) -> set[str]:
    return {w.casefold() for w in _WORD.findall(text)}


def jaccard(a: set[str], b: set[str]) -> float:
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
