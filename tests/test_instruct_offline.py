"""Offline instruction provider: every answer must pass the factory's validation, so the pipeline runs keyless.

The checks here are written independently of the provider's own helpers (script share by Unicode name,
Jaccard on two tokenisations) so a bug in those helpers cannot hide a bad instruction.
"""

from __future__ import annotations

import itertools
import json
import re
import string
import unicodedata
from typing import Any

import pytest

from lensforge.instruct.checks import check_instruction
from lensforge.instruct.providers.base import LLMRequest, Provider, ProviderError
from lensforge.instruct.providers.offline import OfflineProvider, load_templates

SARCASM: dict[str, Any] = {
    "dataset_id": "ar/ArSarcasm-v2@v2",
    "name": "ArSarcasm-v2",
    "language": "ar",
    "task": "Sarcasm Detection",
    "task_type": "classification",
    "task_definition": "Decide whether an Arabic tweet (MSA or dialect) is sarcastic or not.",
    "labels": ["sarcastic", "not-sarcastic"],
    "native_labels": {"sarcastic": "ساخر", "not-sarcastic": "غير ساخر"},
}
CHECKWORTHY: dict[str, Any] = {
    "dataset_id": "en/CT24_checkworthy",
    "name": "CT24_checkworthy",
    "language": "en",
    "task": "Checkworthiness Detection",
    "task_type": "classification",
    "task_definition": None,
    "labels": ["checkworthy", "not-checkworthy"],
    "native_labels": {},
}
HATE_HI: dict[str, Any] = {
    "dataset_id": "hi/hate-speech-detection",
    "name": "hate-speech-detection",
    "language": "hi",
    "task": "Hate Speech Detection",
    "task_type": "classification",
    "task_definition": None,
    "labels": ["hate", "offensive", "neither"],
    "native_labels": {"hate": "नफरत", "offensive": "आपत्तिजनक"},  # partial: "neither" stays English
}
HOSTILITY: dict[str, Any] = {
    "dataset_id": "hi/Hindi-Hostility-Detection-CONSTRAINT-2021",
    "name": "Hindi-Hostility-Detection-CONSTRAINT-2021",
    "language": "hi",
    "task": "Hate Speech Detection",
    "task_type": "multilabel",
    "task_definition": (
        "Label a Hindi social-media post as non-hostile, or with every hostility type it shows: fake news, "
        "hate speech, offensive content and/or defamation (several may apply)."
    ),
    "labels": ["fake", "hate", "offensive", "defamation", "non-hostile"],
    "native_labels": {"fake": "फर्जी", "hate": "नफरत", "offensive": "आपत्तिजनक", "defamation": "मानहानि"},
}
STANCE: dict[str, Any] = {
    "dataset_id": "ar/stance",
    "name": "stance",
    "language": "ar",
    "task": "Stance Detection",
    "task_type": "pair_classification",
    "task_definition": None,
    "labels": ["agree", "disagree", "other"],
    "native_labels": {"agree": "موافق", "disagree": "معارض", "other": "أخرى"},
}
XLSUM: dict[str, Any] = {
    "dataset_id": "en/xlsum",
    "name": "xlsum",
    "language": "en",
    "task": "News Summarization",
    "task_type": "generation",
    "task_definition": None,
    "labels": [],
    "native_labels": {},
}
DATASETS = {
    "sarcasm": SARCASM,
    "checkworthy": CHECKWORTHY,
    "hate_hi": HATE_HI,
    "hostility": HOSTILITY,
    "stance": STANCE,
    "xlsum": XLSUM,
}
# (dataset, instruction language): English always, plus the native language for ar/hi data.
CASES = [(key, lang) for key, meta in DATASETS.items() for lang in dict.fromkeys(("en", meta["language"]))]
CASE_IDS = [f"{key}-{lang}" for key, lang in CASES]

SCRIPT_PREFIX = {"en": "LATIN", "ar": "ARABIC", "hi": "DEVANAGARI"}
MULTI_MARKERS = {
    "en": ("more than one", "several", "multiple", "one or more"),
    "ar": ("أكثر من", "أو أكثر", "عدة"),
    "hi": ("एक से अधिक", "कई"),
}
PAIR_INPUTS = {"en": ("claim", "text"), "ar": ("ادعاء", "نص"), "hi": ("दाव", "पाठ")}


def meta_for(key: str, lang: str, n: int = 20, seed: int = 7, avoid: list[str] | None = None) -> dict[str, Any]:
    native = DATASETS[key]["native_labels"] if lang != "en" else {}
    return dict(DATASETS[key], instruction_language=lang, native_labels=native, n=n, seed=seed, avoid=avoid or [])


def ask(meta: dict[str, Any], user: str = "Write instructions.") -> list[str]:
    provider = OfflineProvider()
    resp = provider.complete(LLMRequest(system="You write instructions.", user=user, metadata=meta))
    payload = json.loads(resp.text)
    assert set(payload) == {"instructions"}
    assert all(isinstance(x, str) for x in payload["instructions"])
    return payload["instructions"]


def share(text: str, lang: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum(unicodedata.name(c, "").startswith(SCRIPT_PREFIX[lang]) for c in letters) / len(letters)


def words(text: str) -> list[set[str]]:
    low = text.lower()
    return [
        {w.strip(string.punctuation + "،؛؟।") for w in low.split()} - {""},
        set(re.findall(r"\w+", low)),
    ]


def max_jaccard(a: str, b: str) -> float:
    return max(len(x & y) / len(x | y) for x, y in zip(words(a), words(b), strict=True))


def assert_valid(meta: dict[str, Any], instructions: list[str]) -> None:
    lang = meta["instruction_language"]
    for text in instructions:
        assert 40 <= len(text) <= 600, text
        assert share(text, lang) >= 0.6, text
        for label in meta["labels"]:
            native = meta["native_labels"].get(label)
            assert label in text or (native and native in text), (label, text)
    assert len(set(instructions)) == len(instructions)
    for a, b in itertools.combinations(instructions, 2):
        assert max_jaccard(a, b) < 0.8, (a, b)


def test_offline_provider_is_a_provider_with_token_counts() -> None:
    provider: Provider = OfflineProvider()
    assert provider.name == "offline" and provider.model == "lensforge-offline-1"
    req = LLMRequest(system="sys", user="Write 20 instructions.", metadata=meta_for("sarcasm", "ar"))
    resp = provider.complete(req)
    assert resp.provider == "offline" and resp.model == "lensforge-offline-1" and not resp.cached
    assert resp.input_tokens == len("sys" + "Write 20 instructions.") // 4
    assert resp.output_tokens == len(resp.text) // 4 > 0
    assert resp.request_hash == req.key("offline", "lensforge-offline-1")
    assert OfflineProvider(model="other").complete(req).model == "other"


@pytest.mark.parametrize(("key", "lang"), CASES, ids=CASE_IDS)
def test_twenty_valid_distinct_instructions(key: str, lang: str) -> None:
    meta = meta_for(key, lang)
    instructions = ask(meta)
    assert len(instructions) == 20
    assert_valid(meta, instructions)


@pytest.mark.parametrize(("key", "lang"), CASES, ids=CASE_IDS)
def test_deterministic_and_seeded(key: str, lang: str) -> None:
    first = ask(meta_for(key, lang, seed=1))
    assert ask(meta_for(key, lang, seed=1), user="a different prompt text") == first  # metadata only
    assert set(ask(meta_for(key, lang, seed=2))) != set(first)


@pytest.mark.parametrize(("key", "lang"), CASES, ids=CASE_IDS)
def test_top_up_avoids_accepted_instructions(key: str, lang: str) -> None:
    accepted = ask(meta_for(key, lang))
    meta = meta_for(key, lang, n=10, avoid=accepted)
    more = ask(meta)
    assert len(more) == 10
    assert_valid(meta, more)
    for new, old in itertools.product(more, accepted):
        assert new != old
        assert max_jaccard(new, old) < 0.8, (new, old)


@pytest.mark.parametrize(("key", "lang"), CASES, ids=CASE_IDS)
def test_the_factory_validator_accepts_every_instruction(key: str, lang: str) -> None:
    """The contract that matters: nothing the offline provider writes lands in instruction_rejects."""
    accepted: list[str] = []

    def validate(meta: dict[str, Any]) -> None:
        for text in ask(meta):
            check = check_instruction(
                text,
                language=lang,
                task_type=meta["task_type"],
                labels=meta["labels"],
                native_labels=meta["native_labels"],
                accepted=accepted,
            )
            assert check.ok, (check.reason, text)
            accepted.append(text)

    validate(meta_for(key, lang))
    validate(meta_for(key, lang, n=10, avoid=list(accepted)))  # the top-up round
    assert len(accepted) == 30


def test_english_instructions_use_verbatim_english_labels() -> None:
    meta = dict(meta_for("sarcasm", "en"), native_labels=SARCASM["native_labels"])  # even if sent, ignored
    for text in ask(meta):
        assert "sarcastic" in text and "not-sarcastic" in text
        assert "ساخر" not in text


def test_native_instructions_prefer_native_label_names() -> None:
    for text in ask(meta_for("sarcasm", "ar")):
        assert "ساخر" in text and "غير ساخر" in text and "sarcastic" not in text
    for text in ask(meta_for("hate_hi", "hi")):
        assert "नफरत" in text and "आपत्तिजनक" in text and "neither" in text  # partial map: English fallback


@pytest.mark.parametrize("lang", ["en", "hi"])
def test_multilabel_says_several_labels_may_apply_comma_separated(lang: str) -> None:
    for text in ask(meta_for("hostility", lang)):
        assert any(m in text.lower() for m in MULTI_MARKERS[lang]), text
        comma = ("comma",) if lang == "en" else ("अल्पविराम",)
        assert any(c in text.lower() for c in comma), text


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_pair_instructions_mention_both_inputs(lang: str) -> None:
    first, second = PAIR_INPUTS[lang]
    for text in ask(meta_for("stance", lang)):
        assert first in text and second in text, text


def test_summarization_asks_for_one_sentence_and_names_no_labels() -> None:
    for text in ask(meta_for("xlsum", "en")):
        assert re.search(r"\b(one|single)[- ]sentence", text.lower()), text
        assert "label" not in text.lower()


@pytest.mark.parametrize("lang", ["ar", "hi"])
def test_native_summarization_instructions(lang: str) -> None:
    meta = dict(XLSUM, dataset_id=f"{lang}/xlsum", language=lang, instruction_language=lang, n=20, seed=0, avoid=[])
    instructions = ask(meta)
    assert len(instructions) == 20
    assert_valid(meta, instructions)
    marker = "جملة واحدة" if lang == "ar" else "वाक्य"
    assert all(marker in text for text in instructions)


def test_fewer_requested_and_zero() -> None:
    assert len(ask(meta_for("checkworthy", "en", n=3))) == 3
    assert ask(meta_for("checkworthy", "en", n=0)) == []


def test_bad_metadata_is_a_provider_error() -> None:
    provider = OfflineProvider()
    with pytest.raises(ProviderError, match="instructions in"):
        provider.complete(LLMRequest(system="", user="", metadata=meta_for("checkworthy", "de")))
    with pytest.raises(ProviderError, match="task_type"):
        provider.complete(LLMRequest(system="", user="", metadata=dict(meta_for("checkworthy", "en"), task_type="x")))
    bad = meta_for("checkworthy", "en")
    del bad["n"]
    with pytest.raises(ProviderError, match="'n'"):
        provider.complete(LLMRequest(system="", user="", metadata=bad))


def test_unknown_task_still_yields_instructions() -> None:
    for lang in ("en", "ar", "hi"):
        meta = dict(meta_for("checkworthy", lang), task="Toxicity Detection", language=lang)
        instructions = ask(meta)
        assert len(instructions) == 20
        assert_valid(meta, instructions)


def test_every_template_renders_for_every_noun() -> None:
    """Catches placeholder typos and broken template rules in the YAML, whatever the sampler happens to pick."""
    data = load_templates()
    dummy = {"lang": "X", "a_lang": "an X", "lang_phrase": "X", "topic": "T", "task_name": "N", "definition": "D."}
    dummy |= {"L_or": "a or b", "L_and": "a and b", "L_list": "a, b"}
    for lang, kit in data["languages"].items():
        for noun_key, noun in kit["nouns"].items():
            values = dict(dummy)
            for slot in ("noun", "first", "second"):
                values |= {slot: noun["sg"], f"a_{slot}": "a " + noun["sg"]}
                values |= {f"{slot}_indef": noun.get("indef", ""), f"{slot}_obl": noun.get("obl", noun["sg"])}
            for word, forms in kit.get("gender_forms", {}).items():
                values[word] = forms[noun["gender"]]
            groups = [kit["context"], kit["definition"], kit["notes"]]
            groups += [
                t for kind in ("classification", "multilabel", "pair_classification") for t in kit[kind].values()
            ]
            groups += list(kit["generation"].values())
            for template in itertools.chain.from_iterable(groups):
                assert "{" not in template.format_map(values), (lang, noun_key, template)
        for answer in kit["multilabel"]["answers"]:
            assert any(m in answer.lower() for m in MULTI_MARKERS[lang]), answer
        if lang == "ar":  # "و" glued to a label would hide it from a word-boundary label check
            assert "{L_and}" not in json.dumps(kit, ensure_ascii=False)
        for opener in kit["generation"]["openers"]:
            assert "L_" not in opener and "label" not in opener.lower() and "लेबल" not in opener
    for kind in ("classification", "multilabel", "pair_classification"):
        assert all("{L_" in t for t in data["languages"]["en"][kind]["openers_labels"])
