"""Every metric against values worked out by hand on small, realistic cases."""

from __future__ import annotations

import math

import pytest
from rouge_score import rouge_scorer
from sklearn.metrics import roc_auc_score

from lensforge.evaluate import metrics

S, N = "sarcastic", "not-sarcastic"


def test_classification_unparseable_counts_as_wrong_but_is_not_a_label():
    gold = [S, S, S, N, N, N, N, N]
    pred = [S, N, None, N, N, S, N, None]
    got = metrics.classification_scores(gold, pred, [N, S])
    # 4 of 8 right.
    assert got["accuracy"] == pytest.approx(0.5)
    # sarcastic: P 1/2, R 1/3 -> F1 0.4; not-sarcastic: P 3/4, R 3/5 -> F1 2/3.
    assert got["macro_f1"] == pytest.approx((0.4 + 2 / 3) / 2)
    assert got["weighted_f1"] == pytest.approx((3 * 0.4 + 5 * 2 / 3) / 8)
    # Micro over real labels: 4 right of 6 answers given (P 2/3) and of 8 asked (R 1/2).
    assert got["micro_f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert got["macro_precision"] == pytest.approx((0.5 + 0.75) / 2)
    assert got["macro_recall"] == pytest.approx((1 / 3 + 3 / 5) / 2)


def test_classification_perfect_and_all_unparseable():
    gold = ["positive", "negative", "neutral"]
    assert metrics.classification_scores(gold, gold)["macro_f1"] == pytest.approx(1.0)
    nothing = metrics.classification_scores(gold, [None, None, None], ["negative", "neutral", "positive"])
    # Every score, each class's F1 (f1:<label>) included, is 0.
    assert nothing == {
        "accuracy": 0.0,
        "macro_f1": 0.0,
        "weighted_f1": 0.0,
        "micro_f1": 0.0,
        "macro_precision": 0.0,
        "macro_recall": 0.0,
        "f1:negative": 0.0,
        "f1:neutral": 0.0,
        "f1:positive": 0.0,
    }


def test_classification_three_classes():
    gold = ["positive", "positive", "negative", "neutral", "neutral", "neutral"]
    pred = ["positive", "neutral", "negative", "neutral", None, "positive"]
    got = metrics.classification_scores(gold, pred, ["negative", "neutral", "positive"])
    # negative: 1/1, 1/1 -> 1; neutral: P 1/2, R 1/3 -> 0.4; positive: P 1/2, R 1/2 -> 0.5.
    assert got["macro_f1"] == pytest.approx((1 + 0.4 + 0.5) / 3)
    assert got["weighted_f1"] == pytest.approx((1 * 1 + 3 * 0.4 + 2 * 0.5) / 6)
    assert got["accuracy"] == pytest.approx(3 / 6)


def test_multilabel_scores():
    labels = ["defamation", "fake", "hate", "non-hostile", "offensive"]
    gold = [["fake", "hate"], ["non-hostile"], ["defamation"], ["fake"]]
    pred = [["fake"], ["non-hostile"], None, ["fake", "offensive"]]
    got = metrics.multilabel_scores(gold, pred, labels)
    # TP 3 (fake x2, non-hostile), FP 1 (offensive), FN 2 (hate, defamation): P 3/4, R 3/5.
    assert got["micro_f1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    # fake 1, non-hostile 1, hate 0, defamation 0, offensive 0.
    assert got["macro_f1"] == pytest.approx(2 / 5)
    assert got["weighted_f1"] == pytest.approx((2 * 1 + 1 * 0 + 1 * 1 + 1 * 0) / 5)
    assert got["accuracy"] == pytest.approx(1 / 4)  # exact set match on row 2 only


def test_rouge_english_by_hand():
    got = metrics.rouge_scores(["the cat sat on the mat"], ["the cat sat on a mat"])
    assert got["rouge1"] == pytest.approx(5 / 6)  # 5 of 6 unigrams shared (the: clipped to 1)
    assert got["rouge2"] == pytest.approx(3 / 5)  # the cat, cat sat, sat on
    assert got["rougeL"] == pytest.approx(5 / 6)  # LCS: the cat sat on mat


AR_REF = "قال الرئيس إن الاقتصاد ينمو بسرعة"
AR_HYP = "قال الرئيس إن الاقتصاد ينمو"
HI_REF = "सरकार ने नई नीति की घोषणा की"
HI_HYP = "सरकार ने नीति की घोषणा की"


def test_rouge_default_tokenizer_drops_arabic_and_hindi():
    default = rouge_scorer.RougeScorer(["rouge1", "rouge2"])
    for ref, hyp in ((AR_REF, AR_HYP), (HI_REF, HI_HYP), (AR_REF, AR_REF)):
        assert default.score(ref, hyp)["rouge2"].fmeasure == 0.0
        assert default.score(ref, hyp)["rouge1"].fmeasure == 0.0


def test_rouge_our_tokenizer_keeps_arabic_and_hindi():
    ar = metrics.rouge_scores([AR_REF], [AR_HYP])
    assert ar["rouge1"] == pytest.approx(10 / 11)  # P 5/5, R 5/6
    assert ar["rouge2"] == pytest.approx(8 / 9)  # P 4/4, R 4/5
    hi = metrics.rouge_scores([HI_REF], [HI_HYP])
    assert hi["rouge1"] == pytest.approx(12 / 13)  # P 6/6, R 6/7 (की twice on both sides)
    assert hi["rouge2"] == pytest.approx(2 * 0.8 * (4 / 6) / (0.8 + 4 / 6))  # P 4/5, R 4/6
    assert metrics.ScriptTokenizer().tokenize("नई नीति, की!") == ["नई", "नीति", "की"]


def test_rouge_mean_over_samples_and_unparseable():
    got = metrics.rouge_scores([AR_REF, "the cat sat on the mat"], [AR_REF, None])
    assert got["rouge2"] == pytest.approx(0.5)


def _logs(rows):
    return [[math.log(p) for p in row] for row in rows]


def test_auc_binary():
    gold = [S, N, S, N]
    # p(sarcastic) 0.9, 0.4, 0.35, 0.1 -> pairs (pos > neg): 0.9>0.4, 0.9>0.1, 0.35>0.1; 0.35<0.4 -> 3/4.
    lp = _logs([[0.1, 0.9], [0.6, 0.4], [0.65, 0.35], [0.9, 0.1]])
    assert metrics.auc_score(gold, lp, [N, S]) == pytest.approx(0.75)
    assert metrics.positive_label([N, S]) == S
    # Unnormalised log-probabilities (sums over answer tokens) are renormalised over the label space.
    shifted = [[a - 7.0, b - 7.0] for a, b in lp]
    assert metrics.auc_score(gold, shifted, [N, S]) == pytest.approx(0.75)
    assert metrics.auc_score([S, S], lp[:2], [N, S]) is None  # one class only: undefined


def test_auc_one_vs_rest_macro():
    labels = ["negative", "neutral", "positive"]
    gold = ["negative", "neutral", "positive", "positive", "negative", "neutral"]
    probs = [
        [0.7, 0.2, 0.1],
        [0.2, 0.5, 0.3],
        [0.1, 0.3, 0.6],
        [0.25, 0.4, 0.35],
        [0.4, 0.4, 0.2],
        [0.45, 0.35, 0.2],
    ]
    got = metrics.auc_score(gold, _logs(probs), labels)
    # Of the 2 x 4 positive-negative pairs per class, ranked right: negative 7, neutral 6, positive 8.
    assert got == pytest.approx((7 / 8 + 6 / 8 + 8 / 8) / 3)
    assert got == pytest.approx(roc_auc_score(gold, probs, multi_class="ovr", average="macro", labels=labels))


def test_majority_baseline():
    gold = [N, N, N, N, N, S, S, S]
    # Always not-sarcastic: F1 = 2 * (5/8) / (5/8 + 1) for it, 0 for sarcastic.
    assert metrics.majority_baseline(gold) == pytest.approx((2 * 0.625 / 1.625) / 2)
    assert metrics.majority_baseline([]) is None


@pytest.mark.parametrize(
    ("task_type", "sota", "available", "expected"),
    [
        ("classification", "Macro-F1", ["accuracy", "macro_f1", "weighted_f1"], "macro_f1"),
        ("classification", "W-F1", ["accuracy", "macro_f1", "weighted_f1"], "weighted_f1"),
        ("classification", "Acc", ["accuracy", "macro_f1"], "accuracy"),
        ("classification", "micro F1", ["micro_f1"], "micro_f1"),
        ("classification", "F1 (positive class)", ["macro_f1"], "macro_f1"),
        ("classification", "AUC", ["macro_f1"], "macro_f1"),  # not scored: the default
        ("classification", "AUROC", ["macro_f1", "auc"], "auc"),
        ("classification", None, ["macro_f1"], "macro_f1"),
        ("multilabel", None, ["micro_f1", "macro_f1"], "micro_f1"),
        ("multilabel", "Macro-F1", ["micro_f1", "macro_f1"], "macro_f1"),
        ("generation", None, ["rouge1", "rouge2", "rougeL"], "rouge2"),
        ("generation", "ROUGE-L", ["rouge1", "rouge2", "rougeL"], "rougeL"),
    ],
)
def test_primary_metric(task_type, sota, available, expected):
    assert metrics.primary_metric(task_type, sota, available) == expected


def test_as_fraction():
    assert metrics.as_fraction(72.5) == pytest.approx(0.725)
    assert metrics.as_fraction(0.81) == pytest.approx(0.81)
    assert metrics.as_fraction(None) is None
    assert metrics.as_fraction(float("nan")) is None


def test_each_class_f1_is_a_score_of_its_own():
    gold = [S, S, S, N, N, N, N, N]
    pred = [S, N, None, N, N, S, N, None]
    got = metrics.classification_scores(gold, pred, [N, S])
    # sarcastic: P 1/2, R 1/3 -> 0.4; not-sarcastic: P 3/4, R 3/5 -> 2/3 (the macro-F1 is their mean).
    assert got["f1:sarcastic"] == pytest.approx(0.4)
    assert got["f1:not-sarcastic"] == pytest.approx(2 / 3)


def test_per_class_table_and_confusion_matrix_keep_unparseable_apart():
    gold = [S, S, S, N, N, N, N, N]
    pred = [S, N, None, N, N, S, N, None]
    table = {r["label"]: r for r in metrics.per_class_scores(gold, pred, [N, S]).iter_rows(named=True)}
    assert table[S] == {
        "label": S,
        "precision": 0.5,
        "recall": pytest.approx(1 / 3),
        "f1": pytest.approx(0.4),
        "support": 3,
        "predicted": 2,
    }
    assert table[N]["support"] == 5 and table[N]["predicted"] == 4 and table[N]["recall"] == pytest.approx(0.6)
    cm = metrics.confusion_matrix(gold, pred, [N, S])
    assert cm.columns == ["gold", N, S, metrics.UNPARSEABLE_COLUMN]
    assert cm.rows(named=True) == [
        {"gold": N, N: 3, S: 1, metrics.UNPARSEABLE_COLUMN: 1},
        {"gold": S, N: 1, S: 1, metrics.UNPARSEABLE_COLUMN: 1},
    ]
    assert sum(sum(r[1:]) for r in cm.iter_rows()) == len(gold)  # every row counted once
    # Nothing unparseable: the column is there, with zeros (the same table shape everywhere).
    clean = metrics.confusion_matrix([S, N], [S, S], [N, S])
    assert clean[metrics.UNPARSEABLE_COLUMN].to_list() == [0, 0]


def test_per_class_for_label_sets():
    labels = ["defamation", "fake", "hate", "non-hostile", "offensive"]
    gold = [["fake", "hate"], ["non-hostile"], ["defamation"], ["fake"]]
    pred = [["fake"], ["non-hostile"], None, ["fake", "offensive"]]
    table = {r["label"]: r for r in metrics.per_class_scores(gold, pred, labels, multilabel=True).iter_rows(named=True)}
    assert table["fake"]["f1"] == pytest.approx(1.0) and table["fake"]["support"] == 2
    assert table["hate"]["recall"] == 0.0 and table["offensive"]["predicted"] == 1
    assert table["defamation"]["support"] == 1 and table["defamation"]["predicted"] == 0


def test_majority_scores_on_every_metric():
    gold = [N, N, N, N, N, S, S, S]
    got = metrics.majority_scores(gold, "classification", [N, S])
    assert got["macro_f1"] == pytest.approx(metrics.majority_baseline(gold))
    assert got["accuracy"] == pytest.approx(5 / 8) and got["f1:sarcastic"] == 0.0
    sets = metrics.majority_scores(["fake, hate", "non-hostile", "non-hostile"], "multilabel", ["fake", "hate"])
    assert sets["accuracy"] == pytest.approx(2 / 3)  # always "non-hostile"
    assert metrics.majority_scores(["a summary"], "generation", []) == {}


@pytest.mark.parametrize(
    ("sota", "expected"),
    [
        ("F-score of the sarcastic class", "f1:sarcastic"),
        ("F1 of the positive class", "f1:sarcastic"),  # the positive class of a binary label space
        ("Sarcastic-class F1", "f1:sarcastic"),
        ("F1 (sarcastic)", "f1:sarcastic"),
        ("support-weighted F1", "weighted_f1"),
        ("F1-PN", None),  # mean F1 of positive and negative sentiment: not computed, so not comparable
        ("coarse hostility F1 (hostile vs non-hostile)", None),
        ("F1 of the neutral class", None),  # no such class here
    ],
)
def test_a_sota_metric_compares_only_with_the_same_metric(sota, expected):
    available = ["accuracy", "macro_f1", "weighted_f1", "f1:not-sarcastic", "f1:sarcastic"]
    assert metrics.comparable_metric(sota, available) == expected
    assert metrics.primary_metric("classification", sota, available) == (expected or "macro_f1")


def test_percent_is_the_one_unit_of_shares():
    assert metrics.percent(0.125) == "12.5%" and metrics.percent(0) == "0.0%" and metrics.percent(None) == "–"
