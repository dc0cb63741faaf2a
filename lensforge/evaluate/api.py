"""The evaluate stage's public API (the CLI and the app call these, nothing deeper)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lensforge.errors import LensforgeError
from lensforge.evaluate.backends import OpenAICompatibleBackend, TransformersBackend
from lensforge.evaluate.baseline import is_classical, run_baseline
from lensforge.evaluate.extract import extract_label, label_alternatives
from lensforge.evaluate.report import (
    CHAIN_COLUMN,
    class_breakdown,
    compare,
    newest_classical,
    predictions_side_by_side,
    score_table,
    write_report,
)
from lensforge.evaluate.runner import evaluate
from lensforge.evaluate.store import get_eval, list_evals
from lensforge.workspace import Workspace

__all__ = [
    "CHAIN_COLUMN",
    "OpenAICompatibleBackend",
    "TransformersBackend",
    "class_breakdown",
    "compare",
    "evaluate",
    "evaluate_named",
    "extract_label",
    "get_eval",
    "is_classical",
    "label_alternatives",
    "list_evals",
    "newest_classical",
    "predictions_side_by_side",
    "resolve_eval_model",
    "run_baseline",
    "score_table",
    "write_report",
]


def resolve_eval_model(
    ws: Workspace, model: str | None, adapter: str | None, snapshot_id: str
) -> tuple[str, str | None, str | None]:
    """(model path or name, adapter path, run id) from what a person named for the transformers backend.

    `adapter` is a folder or a run id (then the run's adapter, and its base model unless `model` names
    another); `model` "tiny" is the run's own tiny model, else the one built from the snapshot's texts.
    """
    from lensforge.finetune.api import get_run, resolve_base
    from lensforge.release.store import snapshot_dir

    run_id, base_path = None, None
    if adapter and not Path(adapter).exists():
        run = get_run(ws, adapter)  # a run id: its adapter, and its base unless --model says otherwise
        run_id = run["run_id"]
        adapter = str(ws.root / run["adapter_path"]) if run.get("adapter_path") else None
        if adapter is None:
            raise LensforgeError(f"run {run_id} has no adapter (status {run['status']})")
        model = model or run["base_model"]
        base_path = run["config"].get("base_path") if model == run["base_model"] else None
    if not model:
        raise LensforgeError("give --model (a base model, or tiny) or --adapter RUN")
    if model == "tiny":  # the run's own tiny model, else the one built from this snapshot
        return base_path or resolve_base(ws, "tiny", snapshot_dir(ws, snapshot_id)), adapter, run_id
    return model, adapter, run_id


def evaluate_named(
    ws: Workspace,
    *,
    snapshot_id: str,
    model: str | None,
    adapter: str | None = None,
    backend: str = "transformers",
    **options: Any,
) -> dict[str, Any]:
    """`lensforge evaluate`: resolve the model a person named (a run id as the adapter, `tiny`), then evaluate.

    The openai-compatible backend takes `model` as the name its server serves. `options` are `evaluate`'s.
    """
    run_id = None
    if backend == "transformers":
        model, adapter, run_id = resolve_eval_model(ws, model, adapter, snapshot_id)
    elif not model:
        raise LensforgeError("give --model (the name the server serves)")
    return evaluate(
        ws, model=model, snapshot_id=snapshot_id, adapter=adapter, run_id=run_id, backend=backend, **options
    )
