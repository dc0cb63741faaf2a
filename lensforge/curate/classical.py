"""The classical text classifier: TF-IDF over word and character n-grams + logistic regression (scikit-learn).

Two stages use it, which is why it lives here: curate, to find likely label errors from out-of-fold
probabilities (`label_issues`), and evaluate, as the classical baseline a fine-tuned model has to beat
(`evaluate.baseline`). It trains in seconds on CPU.

Script-aware: texts go through the same folding as near-duplicate detection (`ingest.neardup`): case
folded, URLs and @mentions dropped, Arabic diacritics, tatweel and letter variants (أ إ آ → ا, ى → ي,
ة → ه) unified, punctuation removed while combining marks stay, so Devanagari words keep their vowel
signs (scikit-learn's default token pattern would cut them at every matra). Words are then
whitespace tokens; character n-grams stay inside words, which carries Arabic clitics and Hindi
inflections that word n-grams miss.

Multi-label sets get one binary logistic regression per label; a row is given every label whose
probability reaches 0.5, or its most probable label when none does (every row has at least one).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import FeatureUnion
from sklearn.preprocessing import MultiLabelBinarizer

from lensforge.errors import LensforgeError
from lensforge.ingest.neardup import normalise_expr

MODEL_NAME = "tfidf-logreg"
PAIR_SEPARATOR = " ⟂ "  # between the two texts of a pair task (survives the folding: it is applied after)
MIN_DF_ROWS = 1000  # below this many training rows every n-gram counts (min_df 1), above it n-grams seen twice


@dataclass(frozen=True)
class ClassicalParams:
    """Everything that decides the model; recorded with every score and scan it produces."""

    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (1, 4)
    max_features: int = 100_000  # per feature family
    C: float = 4.0
    solver: str = "newton-cg"  # measured: converges in ~5 iterations on these sparse features; lbfgs needs ~30
    max_iter: int = 100
    tol: float = 1e-4
    class_weight: str | None = "balanced"  # macro-F1 rewards the rare classes a plain fit would ignore
    threshold: float = 0.5  # multi-label: a label is given at this probability

    def describe(self) -> dict[str, Any]:
        return {"model": MODEL_NAME, **asdict(self)}


def prepare_texts(texts: Sequence[str | None], pairs: Sequence[str | None] | None = None) -> list[str]:
    """The folded text the model reads; a pair task's two texts joined by a marker."""
    frame = pl.DataFrame({"text": list(texts)}, schema={"text": pl.String}).with_columns(
        normalise_expr("text").fill_null("")
    )
    if pairs is not None:
        other = pl.DataFrame({"text": list(pairs)}, schema={"text": pl.String}).select(
            normalise_expr("text").fill_null("")
        )
        frame = frame.with_columns((pl.col("text") + PAIR_SEPARATOR + other["text"]).alias("text"))
    return frame["text"].to_list()


def _features(params: ClassicalParams, rows: int) -> FeatureUnion:
    min_df = 2 if rows >= MIN_DF_ROWS else 1
    common = {"sublinear_tf": True, "min_df": min_df, "max_features": params.max_features, "dtype": np.float32}
    return FeatureUnion(
        [
            ("word", TfidfVectorizer(analyzer="word", token_pattern=r"\S+", ngram_range=params.word_ngrams, **common)),
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=params.char_ngrams, **common)),
        ]
    )


def _estimator(params: ClassicalParams, multilabel: bool, seed: int) -> Any:
    lr = LogisticRegression(
        C=params.C,
        solver=params.solver,
        max_iter=params.max_iter,
        tol=params.tol,
        class_weight=params.class_weight,
        random_state=seed,
    )
    return OneVsRestClassifier(lr) if multilabel else lr


class ClassicalModel:
    """A fitted vectoriser and classifier, with its classes in a fixed order (the probability columns)."""

    def __init__(self, params: ClassicalParams | None = None, *, seed: int = 0) -> None:
        self.params = params or ClassicalParams()
        self.seed = seed
        self.classes: list[str] = []
        self.multilabel = False
        self.fit_seconds = 0.0
        self._features: FeatureUnion | None = None
        self._model: Any = None

    def fit(self, texts: list[str], labels: Sequence[str] | Sequence[Sequence[str]], *, multilabel: bool = False):
        """Train on folded texts (`prepare_texts`) and their labels (label sets when `multilabel`)."""
        started = time.monotonic()
        self.multilabel = multilabel
        y, self.classes = encode_labels(labels, multilabel)
        self._features = _features(self.params, len(texts))
        x = self._features.fit_transform(texts)
        self._model = _estimator(self.params, multilabel, self.seed).fit(x, y)
        self.fit_seconds = time.monotonic() - started
        return self

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """One column per class, in `classes` order (multi-label: each label's own probability)."""
        if self._features is None:
            raise RuntimeError("fit the model first")
        return np.asarray(self._model.predict_proba(self._features.transform(texts)))

    def predict(self, texts: list[str]) -> list[str] | list[list[str]]:
        return decode(self.predict_proba(texts), self.classes, self.multilabel, self.params.threshold)


def encode_labels(labels: Sequence[Any], multilabel: bool) -> tuple[np.ndarray, list[str]]:
    """Class indices (or a label-indicator matrix for multi-label) and the sorted classes; needs two classes."""
    if multilabel:
        sets = [sorted(set(x)) for x in labels]
        mlb = MultiLabelBinarizer()
        y = mlb.fit_transform(sets)
        classes = [str(c) for c in mlb.classes_]
    else:
        classes = sorted({str(x) for x in labels})
        index = {c: i for i, c in enumerate(classes)}
        y = np.asarray([index[str(x)] for x in labels])
    if len(classes) < 2:
        raise LensforgeError(
            f"the classical model needs rows of at least two labels, these have {len(classes)}"
            + (f" ({classes[0]})" if classes else "")
        )
    return y, classes


def decode(probs: np.ndarray, classes: list[str], multilabel: bool, threshold: float = 0.5) -> Any:
    """Labels from probabilities: the most probable class, or every label at `threshold` (at least the top one)."""
    top = probs.argmax(axis=1)
    if not multilabel:
        return [classes[i] for i in top]
    out = []
    for row, best in zip(probs >= threshold, top, strict=True):
        picked = [classes[j] for j in np.flatnonzero(row)]
        out.append(picked or [classes[best]])
    return out


def out_of_fold_probabilities(
    texts: list[str],
    labels: Sequence[str] | Sequence[Sequence[str]],
    *,
    multilabel: bool = False,
    folds: int = 5,
    seed: int = 0,
    params: ClassicalParams | None = None,
) -> tuple[np.ndarray, list[str], int]:
    """Every row's class probabilities from a model that did not see its label: (probs, classes, folds used).

    The TF-IDF vocabulary is fitted once on all texts (it reads no label, so no label leaks into the
    held-out fold) and only the classifier is cross-validated, which halves the time. Folds are stratified
    by label for single-label sets, capped by the smallest class so every fold holds every class.
    """
    params = params or ClassicalParams()
    y, classes = encode_labels(labels, multilabel)
    if multilabel:
        splitter: Any = KFold(n_splits=min(folds, len(texts)), shuffle=True, random_state=seed)
    else:
        smallest = int(np.bincount(y).min())
        if smallest < 2:
            rare = classes[int(np.bincount(y).argmin())]
            raise LensforgeError(
                f"label {rare!r} has a single row: cross-validation needs at least two rows per label",
                hint="relabel or exclude that row first, or merge the label in the mapping",
            )
        splitter = StratifiedKFold(n_splits=min(folds, smallest), shuffle=True, random_state=seed)
    x = _features(params, len(texts)).fit_transform(texts)
    probs = np.zeros((len(texts), len(classes)), dtype=float)
    for train_idx, held_idx in splitter.split(x, y if not multilabel else None):
        model = _estimator(params, multilabel, seed).fit(x[train_idx], y[train_idx])
        fold_probs = np.asarray(model.predict_proba(x[held_idx]))
        if multilabel or fold_probs.shape[1] == len(classes):
            probs[held_idx] = fold_probs
        else:  # a class absent from this fold's training rows gets probability 0
            probs[np.ix_(held_idx, model.classes_)] = fold_probs
    return probs, classes, splitter.get_n_splits()
