"""The evaluate stage's public API (the CLI and the app call these, nothing deeper)."""

from __future__ import annotations

from lensforge.evaluate.backends import OpenAICompatibleBackend, TransformersBackend
from lensforge.evaluate.baseline import is_classical, run_baseline
from lensforge.evaluate.extract import extract_label, label_alternatives
from lensforge.evaluate.report import class_breakdown, compare, newest_classical, score_table, write_report
from lensforge.evaluate.runner import evaluate
from lensforge.evaluate.store import get_eval, list_evals

__all__ = [
    "OpenAICompatibleBackend",
    "TransformersBackend",
    "class_breakdown",
    "compare",
    "evaluate",
    "extract_label",
    "get_eval",
    "is_classical",
    "label_alternatives",
    "list_evals",
    "newest_classical",
    "run_baseline",
    "score_table",
    "write_report",
]
