"""Names every stage shares: the splits and the task types.

Defined once here, in the earliest stage (the registry validates entries against them), and imported everywhere
else, so adding a task type or renaming a split is one edit. The Hub names of the splits (`dev` is published as
`validation`) live with the snapshot schema in `lensforge.release.schema`.
"""

from __future__ import annotations

from typing import Literal, get_args

Split = Literal["train", "dev", "test"]
# The splits of an ingested version and of a snapshot, in this order everywhere (files, tables, reports).
SPLITS: tuple[Split, ...] = get_args(Split)

TaskType = Literal["classification", "multilabel", "pair_classification", "generation"]
TASK_TYPES: tuple[TaskType, ...] = get_args(TaskType)
# One label per row (a pair task labels the relation of two texts).
CLASSIFICATION_TYPES: tuple[TaskType, ...] = ("classification", "pair_classification")
# Every task type with a label space: what label review, label-issue scans and per-class scores apply to.
LABELLED_TASK_TYPES: tuple[TaskType, ...] = (*CLASSIFICATION_TYPES, "multilabel")
