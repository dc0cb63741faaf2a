"""Label extraction: whole labels only, native and code-switched answers, typos, multi-label, never a guess."""

from __future__ import annotations

import pytest

from lensforge.evaluate.extract import extract_label, label_alternatives, skeleton, strip_prefix

SARCASM = ["not-sarcastic", "sarcastic"]
HATE = ["hate-speech", "not-hate-speech", "offensive"]
OFFENSIVE = ["not-offensive", "offensive"]
SENTIMENT = ["negative", "neutral", "positive"]
HOSTILITY = ["defamation", "fake", "hate", "non-hostile", "offensive"]


@pytest.fixture(scope="module")
def sarcasm_alts():
    # As the runner builds them: the project's native table plus the registry's names (keyed by source label).
    return label_alternatives(
        SARCASM, task="sarcasm detection", registry_native={"TRUE": {"ar": "ساخر"}, "FALSE": {"ar": "غير ساخر"}}
    )


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("sarcastic", "sarcastic"),
        ("not-sarcastic", "not-sarcastic"),
        ("Not Sarcastic", "not-sarcastic"),
        ("not_sarcastic", "not-sarcastic"),
        ("NOT-SARCASTIC.", "not-sarcastic"),
        ("Label: not-sarcastic", "not-sarcastic"),
        ("label:sarcastic!", "sarcastic"),
        ("Label: Label: sarcastic", "sarcastic"),
        ("**sarcastic**", "sarcastic"),
        ('"not-sarcastic"', "not-sarcastic"),
        ("The tweet is not sarcastic.", "not-sarcastic"),
        ("This is not a sarcastic tweet", "not-sarcastic"),
        ("No, it is sarcastic", "sarcastic"),  # the comma ends the negation's clause
        ("sarcastic\n\nInput: an echoed prompt that says not-sarcastic", "sarcastic"),
    ],
)
def test_whole_labels_longest_first(answer, expected):
    assert extract_label(answer, SARCASM) == expected


def test_not_x_is_never_read_as_x():
    for answer in ("not-sarcastic", "not sarcastic", "Label: Not-Sarcastic", "it is not sarcastic"):
        assert extract_label(answer, SARCASM) == "not-sarcastic"
    assert extract_label("not-hate-speech", HATE) == "not-hate-speech"
    assert extract_label("hate speech", HATE) == "hate-speech"
    assert extract_label("non-hostile", HOSTILITY, multilabel=True) == ["non-hostile"]


def test_labels_inside_other_words_do_not_match():
    assert extract_label("unsarcasticness", SARCASM) is None
    assert extract_label("offensiveness is subjective", OFFENSIVE) is None


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "   ",
        "asdf qwerty zxcv",
        "I cannot answer that.",
        "<|end|>",
        "12345",
        "sarcastic or not-sarcastic",  # an echoed instruction names both: ambiguous
        "هذا نص عادي عن الطقس",
        "यह एक सामान्य वाक्य है",
    ],
)
def test_garbage_is_none(answer):
    assert extract_label(answer, SARCASM) is None


def test_none_input_and_empty_space():
    assert extract_label(None, SARCASM) is None
    assert extract_label("sarcastic", []) is None


def test_negation_without_counterpart_is_no_reading():
    assert extract_label("not positive", SENTIMENT) is None
    assert extract_label("It is not positive, it is negative", SENTIMENT) == "negative"


def test_native_arabic(sarcasm_alts):
    native, aliases = sarcasm_alts
    assert extract_label("ساخر", SARCASM, native=native, aliases=aliases) == "sarcastic"
    assert extract_label("غير ساخر", SARCASM, native=native, aliases=aliases) == "not-sarcastic"
    assert extract_label("التصنيف: النص ساخر", SARCASM, native=native, aliases=aliases) == "sarcastic"
    assert extract_label("سخرية", SARCASM, native=native, aliases=aliases) == "sarcastic"
    # Arabic spelling variants (hamza forms) are unified on both sides.
    pos_native, _ = label_alternatives(SENTIMENT, task="sentiment analysis")
    assert extract_label("إيجابي", SENTIMENT, native=pos_native) == "positive"
    assert extract_label("ايجابي", SENTIMENT, native=pos_native) == "positive"


def test_native_hindi():
    native, aliases = label_alternatives(HATE, task="hate speech detection")
    # नफरत means "hate"; the hate-speech task's canonical set makes that the hate-speech label.
    assert extract_label("नफरत", HATE, native=native, aliases=aliases) == "hate-speech"
    assert extract_label("घृणा", HATE, native=native, aliases=aliases) == "hate-speech"
    off_native, _ = label_alternatives(OFFENSIVE, task="offensive language detection")
    assert extract_label("गैर-आपत्तिजनक", OFFENSIVE, native=off_native) == "not-offensive"
    assert extract_label("आपत्तिजनक", OFFENSIVE, native=off_native) == "offensive"


def test_generic_native_words_count_only_as_the_whole_answer(sarcasm_alts):
    native, aliases = sarcasm_alts
    assert extract_label("نعم", SARCASM, native=native, aliases=aliases) == "sarcastic"
    assert extract_label("yes", SARCASM, native=native, aliases=aliases) == "sarcastic"
    # "لا" (no) inside a sentence is not an answer.
    assert extract_label("لا أعرف ماذا أقول", SARCASM, native=native, aliases=aliases) is None


def test_registry_native_names_follow_the_source_labels():
    native, _ = label_alternatives(
        OFFENSIVE, task="offensive language detection", registry_native={"HOF": {"hi": "घृणास्पद या आपत्तिजनक"}}
    )
    assert native["घृणास्पद या आपत्तिजनक"] == "offensive"


@pytest.mark.parametrize(
    ("answer", "labels", "expected"),
    [
        ("ऑफेंसिव", OFFENSIVE, "offensive"),  # "offensive" written in Devanagari
        ("नॉट सार्कैस्टिक", SARCASM, "not-sarcastic"),
        ("सार्कैस्टिक", SARCASM, "sarcastic"),
        ("पॉज़िटिव", SENTIMENT, "positive"),
        ("नेगेटिव", SENTIMENT, "negative"),
        ("ساركاستيك", SARCASM, "sarcastic"),  # "sarcastic" in Arabic script
        ("نوت ساركاستيك", SARCASM, "not-sarcastic"),
        ("نيجاتيف", SENTIMENT, "negative"),
        ("أوفنسيف", OFFENSIVE, "offensive"),
        ("फेक", HOSTILITY, "fake"),
    ],
)
def test_code_switched_through_anyascii(answer, labels, expected):
    assert extract_label(answer, labels) == expected


def test_skeleton_absorbs_transliteration_shifts():
    assert skeleton("offensive") == skeleton("ऑफेंसिव") == skeleton("أوفنسيف")
    assert skeleton("positive") == skeleton("بوزيتيف") == skeleton("पॉज़िटिव")


@pytest.mark.parametrize(
    ("answer", "labels", "expected"),
    [
        ("sarcastc", SARCASM, "sarcastic"),
        ("not sarcastc", SARCASM, "not-sarcastic"),
        ("Label: sarcasticc", SARCASM, "sarcastic"),
        ("postive", SENTIMENT, "positive"),
        ("neutrall", SENTIMENT, "neutral"),
        ("offensiv", OFFENSIVE, "offensive"),
    ],
)
def test_fuzzy_typos(answer, labels, expected):
    assert extract_label(answer, labels) == expected


def test_fuzzy_threshold_is_respected():
    assert extract_label("sarcasm-ish", SARCASM) is None
    assert extract_label("sarcastc", SARCASM, fuzzy_threshold=0.99) is None
    assert extract_label("hat", ["hate", "love"]) is None  # too short to guess a typo


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("fake, hate", ["fake", "hate"]),
        ("hate, fake", ["fake", "hate"]),
        ("Labels: defamation; offensive", ["defamation", "offensive"]),
        ("fake and hate", ["fake", "hate"]),
        ("defamation/fake/offensive", ["defamation", "fake", "offensive"]),
        ("fake, fake", ["fake"]),
        ("non-hostile", ["non-hostile"]),
        ("fake, gibberish", ["fake"]),
        ("hate, ofensive", ["hate", "offensive"]),
        ("gibberish, nonsense", None),
        ("", None),
    ],
)
def test_multilabel(answer, expected):
    assert extract_label(answer, HOSTILITY, multilabel=True) == expected


def test_multilabel_native_hindi():
    native, aliases = label_alternatives(HOSTILITY, task="hostility detection")
    assert extract_label("फर्जी, नफरत", HOSTILITY, multilabel=True, native=native, aliases=aliases) == ["fake", "hate"]
    assert extract_label("मानहानि और फर्जी", HOSTILITY, multilabel=True, native=native) == ["defamation", "fake"]


def test_strip_prefix():
    assert strip_prefix("Label: x") == "x"
    assert strip_prefix("Summary:  the text") == "the text"
    assert strip_prefix("answer - y") == "y"
    assert strip_prefix("labelling is hard") == "labelling is hard"
