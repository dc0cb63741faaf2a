"""The classical baseline: TF-IDF + logistic regression per dataset, scored exactly like a language model.

Between "always the majority class" and a published SOTA, a reader needs to know what a plain text
classifier gets, in seconds on CPU, on the same rows. For each labelled dataset of a snapshot the
classical model (`curate.classical`) trains on the snapshot's train split (its `input` and `output`)
and answers every test row; the answers go through `evaluate` itself as a backend, so the extraction,
metrics, `evals` row, scores, predictions file and event are the ones every model gets, linked to the
snapshot. Its evaluation is told apart by its backend, `classical`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import polars as pl

from lensforge.catalog.constants import LABELLED_TASK_TYPES
from lensforge.curate.classical import ClassicalModel, ClassicalParams, prepare_texts
from lensforge.errors import LensforgeError
from lensforge.evaluate.backends import LABEL_TOKENS, Prompt, without_answer
from lensforge.evaluate.extract import join_labels, split_labels
from lensforge.evaluate.runner import evaluate, plan_datasets
from lensforge.release.store import snapshot_dir
from lensforge.workspace import Workspace

BACKEND = "classical"
MODEL = "classical:tfidf-logreg"


def is_classical(eval_row: dict[str, Any]) -> bool:
    """Whether an evaluation is a classical baseline (not a language model)."""
    return eval_row.get("backend") == BACKEND


def _user_turn(prompt: Prompt) -> str:
    """What identifies a test row inside a prompt: its (last) user turn, which holds the instruction and input."""
    if isinstance(prompt, str):
        return prompt
    return next((str(m["content"]) for m in reversed(prompt) if m.get("role") == "user"), "")


class ClassicalBackend:
    """Answers each test row with the label its dataset's classical model predicted (trained beforehand)."""

    name = BACKEND

    def __init__(self, answers: dict[str, str], fitted: dict[str, dict[str, Any]], params: ClassicalParams) -> None:
        self.answers = answers
        self.fitted = fitted
        self.params = params

    def generate(self, conversations: Sequence[Prompt], *, max_new_tokens: int = LABEL_TOKENS) -> list[str]:
        out = []
        for conv in conversations:
            turn = _user_turn(conv)
            if turn not in self.answers:
                raise LensforgeError("the classical baseline was asked about a row it was not trained to answer")
            out.append(self.answers[turn])
        return out

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, **self.params.describe(), "datasets": self.fitted}


def train_backend(
    ws: Workspace,
    snapshot_id: str,
    datasets: Sequence[str] | None = None,
    *,
    seed: int = 0,
    params: ClassicalParams | None = None,
) -> tuple[ClassicalBackend, list[str], dict[str, str]]:
    """One classical model per labelled dataset: (backend, datasets it answers, datasets skipped with why)."""
    params = params or ClassicalParams()
    plans = plan_datasets(ws, snapshot_id, datasets)
    train_path = snapshot_dir(ws, snapshot_id) / "data" / "train.parquet"
    train = (
        pl.read_parquet(train_path, columns=["dataset", "input", "output"])
        if train_path.is_file()
        else pl.DataFrame(schema={"dataset": pl.String, "input": pl.String, "output": pl.String})
    )
    answers: dict[str, str] = {}
    fitted: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    for plan in plans:
        did, task_type = plan["dataset_id"], plan["task_type"]
        if task_type not in LABELLED_TASK_TYPES:
            skipped[did] = f"{task_type}: the classical baseline answers labelled tasks only"
            continue
        rows = train.filter(pl.col("dataset") == did).drop_nulls("output")
        multilabel = task_type == "multilabel"
        labels = [split_labels(o) for o in rows["output"]] if multilabel else rows["output"].to_list()
        try:
            model = ClassicalModel(params, seed=seed).fit(
                prepare_texts(rows["input"].to_list()), labels, multilabel=multilabel
            )
        except LensforgeError as exc:
            skipped[did] = f"train split: {exc.message}"
            continue
        started = time.monotonic()
        test = plan["rows"]
        predicted = model.predict(prepare_texts(test["input"].to_list()))
        for messages, answer in zip(test["messages"].to_list(), predicted, strict=True):
            answers[_user_turn(without_answer(list(messages)))] = join_labels(answer) if multilabel else answer
        fitted[did] = {
            "train_rows": rows.height,
            "classes": model.classes,
            "fit_seconds": round(model.fit_seconds, 2),
            "predict_seconds": round(time.monotonic() - started, 2),
        }
    return ClassicalBackend(answers, fitted, params), list(fitted), skipped


def run_baseline(
    ws: Workspace,
    snapshot_id: str,
    *,
    actor: str,
    datasets: Sequence[str] | None = None,
    seed: int = 0,
    params: ClassicalParams | None = None,
) -> dict[str, Any]:
    """Train and score the classical baseline on a snapshot; returns the evaluation's result plus what was skipped.

    Summaries and datasets whose train split holds fewer than two labels are skipped (and said so); an
    error when nothing is left to score.
    """
    backend, answerable, skipped = train_backend(ws, snapshot_id, datasets, seed=seed, params=params)
    if not answerable:
        why = "; ".join(f"{d}: {r}" for d, r in skipped.items()) or "no dataset"
        raise LensforgeError(f"the classical baseline has nothing to score in snapshot {snapshot_id} ({why})")
    result = evaluate(ws, model=MODEL, snapshot_id=snapshot_id, datasets=answerable, backend=backend, actor=actor)
    return {**result, "skipped": skipped}
