"""Offline instruction provider: writes LlamaLens-style instructions from dataset metadata, no API key.

Why: the pipeline must run anywhere (CI, air-gapped machines, demos), so when no provider key is set the
instruction factory still needs N varied, valid instructions per dataset and language. This provider
composes them from hand-written English, Arabic and Hindi sentence pieces
(`lensforge/instruct/offline_templates.yaml`) using only `request.metadata`; it never parses the prompt.
Every instruction it returns already satisfies the factory's checks (length, every label named, script
share, no near-duplicates among themselves or with `avoid`), so the factory rejects none of them.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import string
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from lensforge.catalog.constants import TASK_TYPES
from lensforge.instruct.checks import (
    MAX_CHARS,
    MIN_CHARS,
    NEAR_DUPLICATE,
    SCRIPT_SHARE,
    jaccard,
    letter_script,
    script_share,
)
from lensforge.instruct.providers.base import LLMRequest, LLMResponse, ProviderError

DEFAULT_MODEL = "lensforge-offline-1"
INSTRUCTION_LANGUAGES: tuple[str, ...] = ("en", "ar", "hi")


# Sampling effort: compose candidates until n are accepted or the template space looks exhausted.
_MIN_ATTEMPTS = 3000
_ATTEMPTS_PER_INSTRUCTION = 300
_MAX_CONSECUTIVE_MISSES = 2500

_P_INLINE_LABELS = 0.5  # opener carries the label list itself (else a separate label sentence)
_P_DEFINITION = 0.3  # add the task-definition sentence (when there is one in the right script)
_P_CONTEXT = 0.25  # add a "This is a ... task." sentence
_P_SINGLE_ANSWER = 0.9  # single-label/pair: add an answer-format sentence (multilabel: always)
_NOTE_COUNTS = (0, 0, 0, 1, 1, 2)  # judging-advice sentences per label-task instruction
# Arabic/Hindi instructions whose labels are English get more native sentences, to keep the script share.
_LATIN_HEAVY_LETTERS = 40
_NOTE_COUNTS_LATIN_HEAVY = (1, 2, 2, 3)
_END_PUNCT = (".", "!", "?", "؟", "।")


@lru_cache(maxsize=1)
def load_templates() -> dict[str, Any]:
    """The template data shipped with the package (read once; it is immutable data)."""
    text = resources.files("lensforge.instruct").joinpath("offline_templates.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or "languages" not in data:
        raise ProviderError("offline_templates.yaml is malformed: no 'languages' section")
    return data


# --- checks shared with the tests (the factory applies the same rules) ---------------------------------


def word_sets(text: str) -> tuple[frozenset[str], ...]:
    """The text's word set under several tokenisations (whitespace, punctuation stripped, regex \\w+).

    Stricter than the factory on purpose: an instruction kept here is no near duplicate under any of them, the
    factory's `words` included.
    """
    low = text.lower()
    raw = low.split()
    stripped = [w.strip(string.punctuation + "،؛؟।") for w in raw]
    return (
        frozenset(raw),
        frozenset(w for w in stripped if w),
        frozenset(re.findall(r"\w+", low)),
    )


def near_duplicate(a: tuple[frozenset[str], ...], b: tuple[frozenset[str], ...]) -> bool:
    """True when any tokenisation puts the two texts at or above the Jaccard limit."""
    return any(jaccard(x, y) >= NEAR_DUPLICATE for x, y in zip(a, b, strict=True))


# --- the request, as structured facts -------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    """What one request asks for, normalised from `request.metadata`."""

    dataset_id: str
    name: str
    data_language: str
    instruction_language: str
    task: str
    task_type: str
    task_definition: str | None
    labels: tuple[str, ...]
    native_labels: dict[str, str]
    n: int
    seed: int
    avoid: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> _Spec:
        """Validate the metadata contract; a missing or odd field is a caller bug, reported clearly."""
        for key in ("dataset_id", "instruction_language", "task_type", "n"):
            if meta.get(key) in (None, ""):
                raise ProviderError(f"offline provider: request metadata lacks {key!r}")
        lang = str(meta["instruction_language"])
        if lang not in INSTRUCTION_LANGUAGES:
            raise ProviderError(
                f"offline provider writes instructions in {', '.join(INSTRUCTION_LANGUAGES)} only, not {lang!r}"
            )
        task_type = str(meta["task_type"])
        if task_type not in TASK_TYPES:
            raise ProviderError(f"offline provider: unknown task_type {task_type!r} (expected one of {TASK_TYPES})")
        try:
            n = int(meta["n"])
            seed = int(meta.get("seed") or 0)
        except (TypeError, ValueError) as exc:
            raise ProviderError(f"offline provider: n and seed must be integers ({exc})") from exc
        labels = tuple(dict.fromkeys(str(x) for x in (meta.get("labels") or []) if str(x).strip()))
        native = {str(k): str(v) for k, v in (meta.get("native_labels") or {}).items() if v and str(v).strip()}
        definition = meta.get("task_definition")
        return cls(
            dataset_id=str(meta["dataset_id"]),
            name=str(meta.get("name") or meta["dataset_id"]),
            data_language=str(meta.get("language") or lang),
            instruction_language=lang,
            task=str(meta.get("task") or ""),
            task_type=task_type,
            task_definition=str(definition).strip() if definition and str(definition).strip() else None,
            labels=() if task_type == "generation" else labels,
            native_labels=native,
            n=max(n, 0),
            seed=seed,
            avoid=tuple(str(a) for a in (meta.get("avoid") or [])),
        )

    def rng_seed(self) -> int:
        """Seed from dataset, language, seed and how many are already accepted: same request, same answer."""
        key = f"{self.dataset_id}\x1f{self.instruction_language}\x1f{self.seed}\x1f{len(self.avoid)}"
        return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")

    def label_names(self) -> list[str]:
        """Labels as they should appear in the instruction: native name where known (ar/hi), else English."""
        if self.instruction_language == "en":
            return list(self.labels)
        return [self.native_labels.get(lab, lab) for lab in self.labels]

    def names_label(self, text: str, label: str) -> bool:
        """The validator's rule: the English name or the native name of the label appears in the text."""
        native = self.native_labels.get(label) if self.instruction_language != "en" else None
        return label in text or bool(native and native in text)


# --- composition ----------------------------------------------------------------------------------------

_FORMATTER = string.Formatter()


def _fields(template: str) -> frozenset[str]:
    """Placeholder names a template uses."""
    return frozenset(f for _, f, _, _ in _FORMATTER.parse(template) if f)


def _task_key(task: str) -> str:
    return " ".join(task.lower().split())


def _join(items: list[str], lang: str, word: str | None) -> str:
    """'a, b or c' style lists in the instruction language (word=None gives a plain comma list)."""
    sep = "، " if lang == "ar" else ", "
    if word is None or len(items) < 2:
        return sep.join(items)
    return f"{sep.join(items[:-1])} {word} {items[-1]}"


def _article(phrase: str) -> str:
    """English indefinite article for a phrase ('an Arabic tweet', 'a claim')."""
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def _finish(sentence: str, lang: str) -> str:
    """End a sentence with the language's full stop if it has no final punctuation."""
    s = sentence.strip()
    if s.endswith(_END_PUNCT):
        return s
    return s + ("।" if lang == "hi" else ".")


class _Composer:
    """Random instruction builder for one request: picks pieces, fills placeholders, checks the rules."""

    def __init__(self, spec: _Spec) -> None:
        data = load_templates()
        self.spec = spec
        lang = spec.instruction_language
        self.lang = lang
        self.kit: dict[str, Any] = data["languages"][lang]
        kind: dict[str, list[str]] = self.kit[spec.task_type]
        task_key = _task_key(spec.task)
        gloss = self.kit.get("tasks", {}).get(task_key)

        base: dict[str, str] = {}
        data_lang = self.kit["data_language"].get(spec.data_language)
        if lang == "en":
            data_lang = data_lang or spec.data_language
            base["lang"] = data_lang
            base["a_lang"] = _article(data_lang)
        elif lang == "ar":
            base["lang_phrase"] = data_lang or ""
        else:
            base["lang"] = data_lang or ""
        if gloss:
            base["topic"] = gloss["topic"]
            base["task_name"] = gloss["name"]
        elif lang == "en" and spec.task:
            # Unknown task in English: its own name still reads well ("Toxicity Detection" -> "toxicity").
            base["task_name"] = task_key
            base["topic"] = re.sub(r"\s+(detection|classification|identification|categorization)$", "", task_key)
        if spec.task_definition and script_share(spec.task_definition, lang) >= SCRIPT_SHARE:
            base["definition"] = _finish(spec.task_definition, lang)

        names = spec.label_names()
        if names:
            or_word = {"en": "or", "ar": "أو", "hi": "या"}[lang]
            and_word = {"en": "and", "ar": None, "hi": "और"}[lang]
            base["L_or"] = _join(names, lang, or_word)
            base["L_list"] = _join(names, lang, None)
            if and_word is not None:  # Arabic never gets {L_and}: "و" glued to a label would hide it
                base["L_and"] = _join(names, lang, and_word)
        self.base = base

        self.nouns = self._noun_keys(data, task_key)
        if spec.task_type == "pair_classification":
            pairs = data["pair_inputs"]
            first, second = pairs.get(task_key, pairs["default"])
            base.update(self._noun_values(first, "first"))
            base.update(self._noun_values(second, "second"))
            self.nouns = [second]

        sample = dict(base, **self._noun_values(self.nouns[0], "noun"))
        available = set(sample)
        self.usable: dict[str, list[str]] = {
            part: [t for t in templates if _fields(t) <= available] for part, templates in kind.items()
        }
        self.context = [t for t in self.kit.get("context", []) if _fields(t) <= available]
        self.definition = [t for t in self.kit.get("definition", []) if _fields(t) <= available]
        self.notes = (
            [] if spec.task_type == "generation" else [t for t in self.kit.get("notes", []) if _fields(t) <= available]
        )
        needed = ("openers",) if spec.task_type == "generation" else ("answers",)
        if any(not self.usable.get(part) for part in needed) or not (
            spec.task_type == "generation" or self.usable.get("openers_plain") or self.usable.get("openers_labels")
        ):
            raise ProviderError(f"offline provider: no usable {lang} templates for {spec.task_type} task {spec.task!r}")
        latin = sum(1 for c in "".join(names) if c.isalpha() and letter_script(c) == "en")
        self.latin_heavy = lang != "en" and latin > _LATIN_HEAVY_LETTERS

    def _noun_keys(self, data: dict[str, Any], task_key: str) -> list[str]:
        """Data kinds for this dataset: a telling word in its name wins, else the task's usual kinds."""
        lowered = self.spec.name.lower()
        for word, keys in data["name_nouns"].items():
            if word in lowered:
                return list(keys)
        return list(data["task_nouns"].get(task_key, data["task_nouns"]["default"]))

    def _noun_values(self, key: str, slot: str) -> dict[str, str]:
        """Placeholder values for a noun in one slot (noun, first, second), with agreeing words."""
        entry = self.kit["nouns"][key]
        out = {slot: entry["sg"]}
        if self.lang == "en":
            out[f"a_{slot}"] = _article(entry["sg"])
        elif self.lang == "ar":
            out[f"{slot}_indef"] = entry["indef"]
        else:
            out[f"{slot}_obl"] = entry.get("obl", entry["sg"])
        if slot == "noun":
            gender = entry.get("gender", "m")
            for word, forms in self.kit.get("gender_forms", {}).items():
                out[word] = forms[gender]
        return out

    def _fill(self, template: str, values: dict[str, str]) -> str:
        text = template.format_map(values)
        return re.sub(r"\s+([،,.:;?؟।])", r"\1", re.sub(r"\s+", " ", text)).strip()

    def compose(self, rng: random.Random) -> str:
        """One candidate instruction (not yet checked)."""
        values = dict(self.base, **self._noun_values(rng.choice(self.nouns), "noun"))
        use = self.usable
        sentences: list[str]
        if self.spec.task_type == "generation":
            sentences = [self._fill(rng.choice(use["openers"]), values)]
            extras = use.get("extras", [])
            k = min(rng.choice((0, 1, 1, 2)), len(extras))
            sentences += [self._fill(t, values) for t in rng.sample(extras, k)]
        else:
            plain = use.get("openers_plain", [])
            inline = bool(self.spec.labels) and bool(use.get("openers_labels")) and rng.random() < _P_INLINE_LABELS
            inline = inline or not plain
            if inline:
                sentences = [self._fill(rng.choice(use["openers_labels"]), values)]
            else:
                sentences = [self._fill(rng.choice(plain), values)]
                if self.spec.labels:
                    sentences.append(self._fill(rng.choice(use["label_sentences"]), values))
            counts = _NOTE_COUNTS_LATIN_HEAVY if self.latin_heavy else _NOTE_COUNTS
            k = min(rng.choice(counts), len(self.notes))
            sentences += [self._fill(t, values) for t in rng.sample(self.notes, k)]
            required = self.spec.task_type == "multilabel"
            if required or rng.random() < _P_SINGLE_ANSWER:
                sentences.append(self._fill(rng.choice(use["answers"]), values))
        roll = rng.random() * (_P_DEFINITION + _P_CONTEXT) if self.latin_heavy else rng.random()
        extra: str | None = None
        if self.definition and roll < _P_DEFINITION:
            extra = self._fill(rng.choice(self.definition), values)
        elif self.context and roll < _P_DEFINITION + _P_CONTEXT:
            extra = self._fill(rng.choice(self.context), values)
        if extra:
            sentences.insert(rng.choice((0, 1)), extra)
        return " ".join(sentences)

    def valid(self, text: str) -> bool:
        """The factory's per-instruction rules: length, script share, every label named."""
        if not MIN_CHARS <= len(text) <= MAX_CHARS:
            return False
        if script_share(text, self.lang) < SCRIPT_SHARE:
            return False
        return all(self.spec.names_label(text, lab) for lab in self.spec.labels)


def generate_instructions(metadata: dict[str, Any]) -> list[str]:
    """Up to metadata['n'] distinct valid instructions, deterministic for the same metadata.

    Fewer than n come back only when the template space is exhausted for this dataset (e.g. a label list
    so long that few phrasings fit in 600 characters); the factory then sees a short answer, as from an LLM.
    """
    spec = _Spec.from_metadata(metadata)
    if spec.n == 0:
        return []
    composer = _Composer(spec)
    rng = random.Random(spec.rng_seed())
    taken: list[tuple[frozenset[str], ...]] = [word_sets(a) for a in spec.avoid]
    seen = {" ".join(a.split()) for a in spec.avoid}
    out: list[str] = []
    misses = 0
    budget = max(_MIN_ATTEMPTS, _ATTEMPTS_PER_INSTRUCTION * spec.n)
    for _ in range(budget):
        if len(out) >= spec.n or misses >= _MAX_CONSECUTIVE_MISSES:
            break
        text = composer.compose(rng)
        sets = word_sets(text)
        if text in seen or not composer.valid(text) or any(near_duplicate(sets, t) for t in taken):
            misses += 1
            continue
        misses = 0
        seen.add(text)
        taken.append(sets)
        out.append(text)
    return out


def _estimate_tokens(text: str) -> int:
    """Rough token count (4 characters a token) so the cost ledger has plausible numbers."""
    return max(1, len(text) // 4)


class OfflineProvider:
    """Provider that needs no key or network: template-built instructions, same answer for the same request."""

    name = "offline"

    def __init__(self, model: str = DEFAULT_MODEL) -> None:
        self.model = model

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Answer with `{"instructions": [...]}` built from `request.metadata` (the prompt text is ignored)."""
        instructions = generate_instructions(request.metadata)
        text = json.dumps({"instructions": instructions}, ensure_ascii=False)
        return LLMResponse(
            text=text,
            provider=self.name,
            model=self.model,
            input_tokens=_estimate_tokens(request.system + request.user),
            output_tokens=_estimate_tokens(text),
            cached=False,
            request_hash=request.key(self.name, self.model),
        )
