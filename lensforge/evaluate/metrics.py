"""Scores per dataset: classification, multi-label, summarisation and ranking (AUC), all on scikit-learn.

Every value is a fraction in [0, 1] (ROUGE too, not x100), so a table of them is comparable; a SOTA
value reported in percent is divided by 100 where it is compared (`as_fraction`).

An unparseable answer is never swapped for a label. In single-label scoring it becomes a sentinel
class that is not in the label list handed to scikit-learn: it is a wrong answer for the gold label's
recall but adds no column of its own, so macro and weighted F1 average over real labels only. In
multi-label scoring it is the empty label set. Wherever a person reads it, the unparseable share is
one unit: a percentage of the dataset's test rows (`percent`).

Single-label scores also carry each class's F1 as `f1:<label>`, because published results are often
the F1 of one class (the sarcastic one, the check-worthy one); a SOTA metric named that way ("F-score
of the sarcastic class") maps onto it. A source metric we do not compute maps to nothing and the
SOTA value is shown as not comparable, never beside a different metric.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
from rouge_score import rouge_scorer
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.preprocessing import MultiLabelBinarizer

from lensforge.catalog.constants import LABELLED_TASK_TYPES
from lensforge.evaluate.extract import split_labels

UNPARSEABLE = "\x00unparseable"
UNPARSEABLE_COLUMN = "(unparseable)"  # its column in a confusion matrix
CLASS_F1 = "f1:"  # prefix of a per-class F1 score: f1:<label>
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")

# Names a catalog's sota_metric may be written as (compared lower case, letters and digits only).
_METRIC_NAMES = {
    "accuracy": ("accuracy", "acc"),
    "macro_f1": ("macrof1", "maf1", "f1macro", "macroavgf1", "macroaveragedf1", "macroaveragef1", "mf1"),
    "weighted_f1": (
        "weightedf1",
        "wf1",
        "f1weighted",
        "weightedavgf1",
        "weightedaveragef1",
        "supportweightedf1",
        "weightedaveragedf1",
    ),
    "micro_f1": ("microf1", "mif1", "f1micro", "microavgf1", "microaveragef1"),
    "rouge1": ("rouge1", "r1"),
    "rouge2": ("rouge2", "r2"),
    "rougeL": ("rougel", "rl"),
    "auc": ("auc", "rocauc", "auroc", "aucroc"),
}


def classification_scores(
    gold: Sequence[str], predicted: Sequence[str | None], labels: Sequence[str] | None = None
) -> dict[str, float]:
    """Accuracy, macro/weighted/micro F1 and macro precision/recall; None predictions count as wrong.

    The averaged labels are those seen in the gold or the predictions (scikit-learn's default) that
    belong to the label space when one is given, never the sentinel.
    """
    if len(gold) != len(predicted):
        raise ValueError("gold and predictions differ in length")
    if not gold:
        return {}
    pred = [UNPARSEABLE if p is None else p for p in predicted]
    space = set(labels) if labels is not None else None
    seen = sorted({*gold, *(p for p in pred if p != UNPARSEABLE)})
    used = [lab for lab in seen if space is None or lab in space or lab in set(gold)]
    out = {"accuracy": float(accuracy_score(gold, pred))}
    for avg in ("macro", "weighted", "micro"):
        out[f"{avg}_f1"] = float(f1_score(gold, pred, labels=used, average=avg, zero_division=0))
    out["macro_precision"] = float(precision_score(gold, pred, labels=used, average="macro", zero_division=0))
    out["macro_recall"] = float(recall_score(gold, pred, labels=used, average="macro", zero_division=0))
    per_class = f1_score(gold, pred, labels=used, average=None, zero_division=0)
    out |= {f"{CLASS_F1}{lab}": float(v) for lab, v in zip(used, per_class, strict=True)}
    return out


def per_class_scores(
    gold: Sequence[str] | Sequence[Sequence[str]],
    predicted: Sequence[str | None] | Sequence[Sequence[str] | None],
    labels: Sequence[str],
    *,
    multilabel: bool = False,
) -> pl.DataFrame:
    """Precision, recall, F1, gold support and predicted count per label (unparseable answers count as wrong).

    The label list is the label space plus any gold label outside it; multi-label rows are label sets.
    """
    if len(gold) != len(predicted):
        raise ValueError("gold and predictions differ in length")
    schema = {
        "label": pl.String,
        "precision": pl.Float64,
        "recall": pl.Float64,
        "f1": pl.Float64,
        "support": pl.Int64,
        "predicted": pl.Int64,
    }
    if not gold:
        return pl.DataFrame(schema=schema)
    if multilabel:
        space = list(dict.fromkeys([*labels, *(lab for g in gold for lab in g)]))
        mlb = MultiLabelBinarizer(classes=space)
        y_true = mlb.fit_transform([list(g) for g in gold])
        y_pred = mlb.transform([[lab for lab in (p or []) if lab in space] for p in predicted])
        p, r, f, support = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
        counts = y_pred.sum(axis=0)
    else:
        space = list(dict.fromkeys([*labels, *gold]))
        pred = [UNPARSEABLE if x is None else x for x in predicted]
        p, r, f, support = precision_recall_fscore_support(gold, pred, labels=space, average=None, zero_division=0)
        made = Counter(pred)
        counts = [made.get(lab, 0) for lab in space]
    rows = zip(space, p, r, f, support, counts, strict=True)
    return pl.DataFrame(
        [(lab, float(a), float(b), float(c), int(d), int(e)) for lab, a, b, c, d, e in rows],
        schema=schema,
        orient="row",
    )


def confusion_matrix(gold: Sequence[str], predicted: Sequence[str | None], labels: Sequence[str]) -> pl.DataFrame:
    """Rows: gold label; columns: the answer given, and last the unparseable answers (a column even when 0)."""
    space = list(dict.fromkeys([*labels, *gold]))
    frame = pl.DataFrame(
        {"gold": list(gold), "answer": [UNPARSEABLE_COLUMN if p is None else p for p in predicted]},
        schema={"gold": pl.String, "answer": pl.String},
    )
    counts = frame.group_by("gold", "answer").len()
    others = [a for a in counts["answer"].unique().sort().to_list() if a not in space and a != UNPARSEABLE_COLUMN]
    columns = [*space, *others, UNPARSEABLE_COLUMN]
    out: dict[str, list[Any]] = {"gold": space}
    lookup = {(g, a): n for g, a, n in counts.iter_rows()}
    for col in columns:
        out[col] = [lookup.get((g, col), 0) for g in space]
    return pl.DataFrame(out, schema={"gold": pl.String, **dict.fromkeys(columns, pl.Int64)})


def multilabel_scores(
    gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str] | None], labels: Sequence[str]
) -> dict[str, float]:
    """Micro/macro/weighted F1 and subset accuracy over label sets; None is the empty set.

    Macro averages over the labels present in the gold or the predictions, as for single-label sets.
    """
    if len(gold) != len(predicted):
        raise ValueError("gold and predictions differ in length")
    if not gold:
        return {}
    space = list(dict.fromkeys([*labels, *(lab for g in gold for lab in g)]))
    pred = [[lab for lab in (p or []) if lab in space] for p in predicted]
    mlb = MultiLabelBinarizer(classes=space)
    y_true = mlb.fit_transform([list(g) for g in gold])
    y_pred = mlb.transform(pred)
    present = np.flatnonzero(y_true.sum(axis=0) + y_pred.sum(axis=0))
    out = {"accuracy": float(accuracy_score(y_true, y_pred))}
    for avg in ("micro", "macro", "weighted"):
        out[f"{avg}_f1"] = float(f1_score(y_true, y_pred, labels=present, average=avg, zero_division=0))
    return out


class ScriptTokenizer:
    """A ROUGE tokenizer that keeps Arabic and Devanagari words.

    rouge-score's default tokenizer lower-cases and then drops everything outside [a-z0-9], so two
    identical Arabic or Hindi summaries score 0. This one splits on anything that is not a letter,
    digit or combining mark (Devanagari vowel signs are marks) and unifies case and Arabic diacritics.
    """

    _drop = re.compile("[\u064b-\u065f\u0670\u0640\u200c\u200d]")

    def tokenize(self, text: str) -> list[str]:
        text = self._drop.sub("", unicodedata.normalize("NFKC", text or "").casefold())
        kept = [ch if ch.isalnum() or unicodedata.category(ch).startswith("M") else " " for ch in text]
        return "".join(kept).split()


def rouge_scores(
    gold: Sequence[str], predicted: Sequence[str | None], *, tokenizer: object | None = None
) -> dict[str, float]:
    """Mean per-sample ROUGE-1/2/L F-measure (an empty or unparseable summary scores 0)."""
    if len(gold) != len(predicted):
        raise ValueError("gold and predictions differ in length")
    if not gold:
        return {}
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), tokenizer=tokenizer or ScriptTokenizer())
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    for ref, hyp in zip(gold, predicted, strict=True):
        scores = scorer.score(ref or "", hyp or "")
        for key in ROUGE_TYPES:
            totals[key] += scores[key].fmeasure
    return {key: totals[key] / len(gold) for key in ROUGE_TYPES}


def positive_label(labels: Sequence[str]) -> str:
    """The positive class of a binary label space: the one that is not a negation, else the later one."""
    plain = [lab for lab in labels if not re.match(r"^(not|non|no)[\s_-]", lab.lower())]
    if len(plain) == 1:
        return plain[0]
    return sorted(labels)[-1]


def _softmax(rows: np.ndarray) -> np.ndarray:
    shifted = rows - rows.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def auc_score(gold: Sequence[str], logprobs: Sequence[Sequence[float]], candidates: Sequence[str]) -> float | None:
    """ROC AUC from each candidate label's log-probability: binary, or one-vs-rest macro for more classes.

    Scores are the candidates' probabilities renormalised over the label space. In one-vs-rest, a class
    with no gold positives (or no negatives) has no AUC and is left out of the mean; None when no class
    (or, for binary, not both classes) appears in the gold.
    """
    if len(gold) != len(logprobs):
        raise ValueError("gold and log-probabilities differ in length")
    if not gold or len(candidates) < 2:
        return None
    probs = _softmax(np.asarray(logprobs, dtype=float))
    y = np.asarray(gold)
    if len(candidates) == 2:
        pos = positive_label(candidates)
        col = list(candidates).index(pos)
        truth = (y == pos).astype(int)
        if truth.min() == truth.max():
            return None
        return float(roc_auc_score(truth, probs[:, col]))
    per_class = []
    for col, label in enumerate(candidates):
        truth = (y == label).astype(int)
        if truth.min() != truth.max():
            per_class.append(roc_auc_score(truth, probs[:, col]))
    return float(np.mean(per_class)) if per_class else None


def _most_frequent(gold: Sequence[str]) -> str:
    counts = Counter(gold)
    return min(counts, key=lambda lab: (-counts[lab], lab))


def majority_baseline(gold: Sequence[str]) -> float | None:
    """Macro-F1 of always answering the most frequent gold label (ties: alphabetical), the floor to beat."""
    if not gold:
        return None
    top = _most_frequent(gold)
    return float(f1_score(list(gold), [top] * len(gold), labels=sorted(set(gold)), average="macro", zero_division=0))


def majority_scores(gold: Sequence[str], task_type: str, labels: Sequence[str]) -> dict[str, float]:
    """Every score of always giving the most frequent gold answer (a label, or a label set for multi-label).

    The floor a model has to beat, on whichever metric the dataset is judged on. Empty for summaries.
    """
    if not gold or task_type not in LABELLED_TASK_TYPES:
        return {}
    if task_type == "multilabel":
        sets = [tuple(sorted(split_labels(g))) for g in gold]
        counts = Counter(sets)
        top = list(min(counts, key=lambda s: (-counts[s], s)))
        return multilabel_scores([list(s) for s in sets], [top] * len(sets), labels)
    return classification_scores(list(gold), [_most_frequent(gold)] * len(gold), labels)


_CLASS_METRIC = re.compile(
    r"^(?:f1|f-?score|f-?measure|f1-?score)\s+(?:of|for)\s+(?:the\s+)?(?P<label>.+?)\s+class$"
    r"|^(?P<label2>.+?)[\s-]+class\s+(?:f1|f-?score|f-?measure)$"
    r"|^(?:f1|f-?score|f-?measure)\s*\((?P<label3>.+?)(?:\s+class)?\)$",
    re.IGNORECASE,
)


def _class_label(text: str, available: Sequence[str] | None) -> str | None:
    """`f1:<label>` for a metric naming one class's F1; "positive" is the positive class of a binary space."""
    m = _CLASS_METRIC.match(text.strip())
    if not m:
        return None
    label = (m["label"] or m["label2"] or m["label3"]).strip().strip("'\"`")
    classes = [a[len(CLASS_F1) :] for a in available or () if a.startswith(CLASS_F1)]
    if label.lower() == "positive" and len(classes) == 2 and "positive" not in classes:
        label = positive_label(classes)
    folded = {re.sub(r"[^a-z0-9]", "", c.lower()): c for c in classes}
    return CLASS_F1 + folded.get(re.sub(r"[^a-z0-9]", "", label.lower()), label)


def metric_name(text: str | None, available: Sequence[str] | None = None) -> str | None:
    """Our name for a metric as a paper or registry writes it ("Macro-F1", "W-F1", "ROUGE-2"), or None.

    One class's F1 ("F-score of the sarcastic class", "F1 of the positive class") is `f1:<label>`; given the
    metrics an evaluation computed, the class is matched to its label's spelling there.
    """
    if not text:
        return None
    key = re.sub(r"[^a-z0-9]", "", text.lower())
    for name, spellings in _METRIC_NAMES.items():
        if key in spellings:
            return name
    return _class_label(text, available)


def comparable_metric(sota_metric: str | None, available: Sequence[str]) -> str | None:
    """The metric of ours a SOTA value can stand beside, or None: then it is shown as not comparable."""
    name = metric_name(sota_metric, available)
    return name if name is not None and name in available else None


def default_metric(task_type: str) -> str:
    """The metric a dataset is judged on when its SOTA metric is unknown or unsupported."""
    if task_type == "multilabel":
        return "micro_f1"
    if task_type == "generation":
        return "rouge2"
    return "macro_f1"


def primary_metric(task_type: str, sota_metric: str | None, available: Sequence[str]) -> str:
    """The catalog's SOTA metric when we compute it for this dataset, else the task type's default."""
    return comparable_metric(sota_metric, available) or default_metric(task_type)


def as_fraction(value: float | None) -> float | None:
    """A SOTA value on our [0, 1] scale: values above 1 are taken as percentages."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value / 100.0 if value > 1.0 else value


def percent(value: float | None) -> str:
    """A share (unparseable answers, say) as people read it everywhere: percent of rows, one decimal."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * value:.1f}%"
