"""The evaluate stage's public API (the CLI and the app call these, nothing deeper)."""

from __future__ import annotations

from lensforge.evaluate.backends import OpenAICompatibleBackend, TransformersBackend
from lensforge.evaluate.extract import extract_label, label_alternatives
from lensforge.evaluate.report import compare, write_report
from lensforge.evaluate.runner import evaluate, get_eval, list_evals

__all__ = [
    "OpenAICompatibleBackend",
    "TransformersBackend",
    "compare",
    "evaluate",
    "extract_label",
    "get_eval",
    "label_alternatives",
    "list_evals",
    "write_report",
]
