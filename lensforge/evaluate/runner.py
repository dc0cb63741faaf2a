"""Zero-shot evaluation of a model (optionally with an adapter) on a snapshot's test splits.

Everything that can be checked is checked before any inference (snapshot, datasets, backend, chat
format, run), so a typo costs nothing. The `evals` row is written as `running` first and always ends
`finished` or `failed`: the finished status, every score and the event are written in one transaction
after all inference succeeded, and any exception (a server that keeps timing out, Ctrl-C) marks the
row failed with the error instead. Predictions go to `evals/<eval_id>/predictions.parquet` only then.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from lensforge.catalog.constants import SPLITS, TASK_TYPES
from lensforge.catalog.datasets import dataset_frame, native_labels
from lensforge.catalog.db import connect, transaction
from lensforge.catalog.events import record_event
from lensforge.errors import LensforgeError
from lensforge.evaluate import metrics
from lensforge.evaluate.backends import (
    LABEL_TOKENS,
    SUMMARY_STOP,
    SUMMARY_TOKENS,
    Backend,
    OpenAICompatibleBackend,
    TransformersBackend,
    accepts_stop,
    load_tokenizer,
    without_answer,
)
from lensforge.evaluate.extract import extract_label, join_labels, label_alternatives, split_labels, strip_prefix
from lensforge.evaluate.store import fail_eval, finish_eval, insert_eval
from lensforge.finetune.chat import shipped_templates
from lensforge.finetune.runs import run_record
from lensforge.release.snapshot import dataset_facts
from lensforge.release.store import get_snapshot, snapshot_dir
from lensforge.workspace import Workspace, atomic_path, write_text_atomic

BACKENDS = ("transformers", "openai-compatible")
GENERATE_CHUNK = 64  # rows per backend call: the progress bar moves after each
Progress = Callable[[dict[str, Any]], None]
_SENTENCE_END = re.compile(r"[.।](?=\s|$)")

PREDICTION_SCHEMA = {
    "id": pl.String,
    "dataset": pl.String,
    "language": pl.String,
    "task_type": pl.String,
    "input": pl.String,
    "gold": pl.String,
    "raw_output": pl.String,
    "prediction": pl.String,
    "parseable": pl.Boolean,
    "label_candidates": pl.List(pl.String),
    "label_logprobs": pl.List(pl.Float64),
}


@dataclass
class _Dataset:
    """One dataset of the snapshot as the evaluation sees it."""

    dataset_id: str
    language: str
    task: str
    task_type: str
    labels: list[str]
    rows: pl.DataFrame
    sota_metric: str | None = None
    sota_value: float | None = None
    sota_citation: str | None = None
    native: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)


def new_eval_id() -> str:
    """Sortable by time, unique enough for concurrent runs."""
    return f"e{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"


def cut_summary(text: str) -> str:
    """A summary up to its first full stop (the paper stops generation on '.'; Hindi ends sentences with '।')."""
    body = strip_prefix(text)
    m = _SENTENCE_END.search(body)
    return (body[: m.end()] if m else body).strip()


def _snapshot_frames(root: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The test rows, and (dataset, output) of every split for the label spaces."""
    data = root / "data"
    test_path = data / "test.parquet"
    if not test_path.is_file():
        raise LensforgeError(f"snapshot folder {root} has no data/test.parquet")
    test = pl.read_parquet(test_path)
    parts = [
        pl.read_parquet(data / f"{s}.parquet", columns=["dataset", "output"])
        for s in SPLITS
        if (data / f"{s}.parquet").is_file()
    ]
    return test, pl.concat(parts)


def _infer_task_type(rows: pl.DataFrame) -> str:
    """For a dataset neither the catalog nor the manifest describes: from the answers' shape."""
    first = rows["messages"][0].to_list() if rows.height else []  # one row's messages (a Series in Polars 2)
    answer = next((m["content"] for m in first if m["role"] == "assistant"), "")
    if answer.startswith("Summary:"):
        return "generation"
    if rows["output"].str.contains(", ").any():
        return "multilabel"
    return "classification"


def _label_space(outputs: pl.Series, task_type: str) -> list[str]:
    if task_type == "generation":
        return []
    values = [v for v in outputs.to_list() if v]
    if task_type == "multilabel":
        return sorted({atom for v in values for atom in split_labels(v)})
    return sorted(set(values))


def _catalog_info(ws: Workspace, ids: list[str]) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, dict]]]:
    """Catalog rows and registry native names of the datasets (absent datasets are simply missing)."""
    if not ids:
        return {}, {}
    with connect(ws, read_only=True) as con:
        rows = dataset_frame(con, ("task", "task_type", "sota_metric", "sota_value", "sota_citation"), ids)
        registry = native_labels(con, ids)
    return {r["dataset_id"]: r for r in rows.to_dicts()}, registry


def _recorded_template(run: dict[str, Any] | None) -> str | None:
    """The shipped template a run recorded: used only when neither the caller nor the tokenizer gives one.

    A run saves its tokenizer, with the template it trained with, beside the adapter, and the backend renders
    with that; runs saved before tokenizers carried templates are still evaluated with the template they named.
    """
    recorded = (run or {}).get("chat_format")
    return recorded if recorded in shipped_templates() else None


def _plan(
    ws: Workspace, root: Path, manifest: dict[str, Any], datasets: Sequence[str] | None, limit: int | None
) -> list[_Dataset]:
    test, every = _snapshot_frames(root)
    order = [d["dataset_id"] for d in (manifest.get("inputs") or {}).get("datasets", [])]
    order += [d for d in test["dataset"].unique(maintain_order=True).to_list() if d not in order]
    if datasets:
        missing = [d for d in datasets if d not in order]
        if missing:
            raise LensforgeError(
                f"not in this snapshot: {', '.join(missing)}",
                hint=f"the snapshot holds {', '.join(order) or 'no datasets'}",
            )
        order = [d for d in order if d in set(datasets)]
    order = [d for d in order if test.filter(pl.col("dataset") == d).height]
    if not order:
        raise LensforgeError("the snapshot has no test rows to evaluate")
    info, registry = _catalog_info(ws, order)
    facts = dataset_facts(manifest)  # task types as the snapshot recorded them (no card prose to parse)
    native_file = ws.root / "native_labels.yaml"
    plans = []
    for did in order:
        rows = test.filter(pl.col("dataset") == did)
        if limit is not None:
            rows = rows.head(max(0, int(limit)))
        cat = info.get(did, {})
        task_type = cat.get("task_type") or facts.get(did, {}).get("task_type") or _infer_task_type(rows)
        if task_type not in TASK_TYPES:
            task_type = _infer_task_type(rows)
        task = cat.get("task") or str(rows["task"][0])
        labels = _label_space(every.filter(pl.col("dataset") == did)["output"], task_type)
        native, aliases = (
            label_alternatives(labels, task=task, registry_native=registry.get(did), native_file=native_file)
            if labels
            else ({}, {})
        )
        sota_value = cat.get("sota_value")
        plans.append(
            _Dataset(
                dataset_id=did,
                language=str(rows["language"][0]),
                task=task,
                task_type=task_type,
                labels=labels,
                rows=rows,
                sota_metric=cat.get("sota_metric"),
                sota_value=None if sota_value is None or math.isnan(sota_value) else float(sota_value),
                sota_citation=cat.get("sota_citation"),
                native=native,
                aliases=aliases,
            )
        )
    return plans


def _dataset_progress(on_progress: Progress | None, d: _Dataset, index: int, count: int) -> Callable[[int], None]:
    def report(done: int) -> None:
        if on_progress is not None:
            on_progress(
                {
                    "event": "dataset",
                    "dataset": d.dataset_id,
                    "index": index,
                    "datasets": count,
                    "done": done,
                    "total": d.rows.height,
                }
            )

    return report


def _generate(
    backend: Backend, conversations: list[list[dict[str, Any]]], generation: bool, progress: Callable[[int], None]
) -> list[str]:
    """Answers in chunks (progress after each); summaries stop at their first full stop (a stopping criterion).

    A backend whose generate() takes no `stop` (one written before it did) still works: its summaries are cut
    at the first full stop afterwards (cut_summary).
    """
    kwargs: dict[str, Any] = {"max_new_tokens": SUMMARY_TOKENS if generation else LABEL_TOKENS}
    if generation and accepts_stop(backend):
        kwargs["stop"] = SUMMARY_STOP
    chunk = max(GENERATE_CHUNK, 4 * int(getattr(backend, "batch_size", 1) or 1))
    raw: list[str] = []
    progress(0)
    for start in range(0, len(conversations), chunk):
        raw += backend.generate(conversations[start : start + chunk], **kwargs)
        progress(len(raw))
    return raw


def _predict(
    d: _Dataset, backend: Backend, score_labels: bool, progress: Callable[[int], None]
) -> tuple[pl.DataFrame, dict[str, float], str]:
    """Generate, extract and score one dataset: (prediction rows, metrics, primary metric)."""
    conversations = [without_answer(list(m)) for m in d.rows["messages"].to_list()]
    generation = d.task_type == "generation"
    raw = _generate(backend, conversations, generation, progress)
    gold = d.rows["output"].to_list()
    candidates: list[list[str] | None] = [None] * len(gold)
    logprobs: list[list[float] | None] = [None] * len(gold)
    if generation:
        preds: list[str | None] = [cut_summary(r) or None for r in raw]
        scores = metrics.rouge_scores(gold, preds)
    elif d.task_type == "multilabel":
        parsed = [extract_label(r, d.labels, multilabel=True, native=d.native, aliases=d.aliases) for r in raw]
        sets = [p if isinstance(p, list) else None for p in parsed]
        preds = [join_labels(s) if s else None for s in sets]
        scores = metrics.multilabel_scores([split_labels(g) for g in gold], sets, d.labels)
    else:
        parsed = [extract_label(r, d.labels, native=d.native, aliases=d.aliases) for r in raw]
        preds = [p if isinstance(p, str) else None for p in parsed]
        scores = metrics.classification_scores(gold, preds, d.labels)
        if score_labels and len(d.labels) >= 2 and hasattr(backend, "score_labels"):
            lp = backend.score_labels(conversations, d.labels)
            auc = metrics.auc_score(gold, lp, d.labels)
            if auc is not None:
                scores["auc"] = auc
            candidates = [list(d.labels)] * len(gold)
            logprobs = [list(map(float, row)) for row in lp]
    frame = pl.DataFrame(
        {
            "id": d.rows["id"],
            "dataset": [d.dataset_id] * len(gold),
            "language": d.rows["language"],
            "task_type": [d.task_type] * len(gold),
            "input": d.rows["input"],
            "gold": gold,
            "raw_output": raw,
            "prediction": preds,
            "parseable": [p is not None for p in preds],
            "label_candidates": candidates,
            "label_logprobs": logprobs,
        },
        schema=PREDICTION_SCHEMA,
    )
    primary = metrics.primary_metric(d.task_type, d.sota_metric, list(scores))
    return frame, scores, primary


def _summaries(per_dataset: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Per language and overall: datasets, rows, unparseable rate, mean of the datasets' primary metrics."""

    def summarise(items: list[dict[str, Any]]) -> dict[str, Any]:
        values = [i["primary_value"] for i in items if i["primary_value"] is not None]
        rows = sum(i["n"] for i in items)
        bad = sum(i["unparseable"] for i in items)
        return {
            "datasets": len(items),
            "rows": rows,
            "unparseable": bad,
            "unparseable_rate": bad / rows if rows else 0.0,
            "mean_primary": sum(values) / len(values) if values else None,
        }

    langs = sorted({i["language"] for i in per_dataset})
    by_language = {lang: summarise([i for i in per_dataset if i["language"] == lang]) for lang in langs}
    return by_language, summarise(per_dataset)


def _make_backend(
    backend: str | Backend,
    *,
    model: str,
    adapter: str | None,
    chat_template: str | None,
    fallback_template: str | None,
    base_url: str | None,
    batch_size: int,
    device: str,
    api_key: str | None,
    concurrency: int,
    request_timeout: float,
    max_retries: int,
) -> Backend:
    if not isinstance(backend, str):
        return backend
    if backend == "transformers":
        return TransformersBackend(
            model,
            adapter,
            chat_template=chat_template,
            fallback_template=fallback_template,
            device=device,
            batch_size=batch_size,
        )
    return OpenAICompatibleBackend(
        base_url or "",
        model,
        api_key=api_key,
        concurrency=concurrency,
        timeout=request_timeout,
        max_retries=max_retries,
    )


def evaluate(
    ws: Workspace,
    *,
    model: str,
    snapshot_id: str,
    adapter: str | None = None,
    run_id: str | None = None,
    datasets: Sequence[str] | None = None,
    backend: str | Backend = "transformers",
    base_url: str | None = None,
    chat_template: str | None = None,
    score_labels: bool = False,
    batch_size: int = 16,
    actor: str,
    limit_per_dataset: int | None = None,
    device: str = "cpu",
    api_key: str | None = None,
    concurrency: int = 8,
    request_timeout: float = 60.0,
    max_retries: int = 4,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """Evaluate `model` zero-shot on the snapshot's test rows; returns per-dataset scores and summaries.

    `backend` is "transformers" (a local folder or cached Hub name, `adapter` a PEFT folder) or
    "openai-compatible" (a vLLM/TGI server at `base_url` serving `model`); a Backend object is used as
    given. `chat_template` (transformers only): a shipped name or a .jinja file; by default the tokenizer's own
    (the adapter's, when its run saved it). `score_labels` adds AUC from the label log-probabilities
    (transformers only). `on_progress` gets {"event": "dataset", "dataset", "index", "datasets", "done", "total"}
    as rows are answered.
    """
    kind = backend if isinstance(backend, str) else getattr(backend, "name", type(backend).__name__)
    if isinstance(backend, str) and backend not in BACKENDS:
        raise LensforgeError(f"unknown backend {backend!r} (use {', '.join(BACKENDS)})")
    if kind == "openai-compatible" and isinstance(backend, str) and not base_url:
        raise LensforgeError("the openai-compatible backend needs --base-url", hint="e.g. http://localhost:8000/v1")
    if score_labels and kind != "transformers" and not hasattr(backend, "score_labels"):
        raise LensforgeError("label scoring (AUC) needs the transformers backend", hint="drop --score-labels")
    if limit_per_dataset is not None and limit_per_dataset < 1:
        raise LensforgeError("limit per dataset must be at least 1")
    snap = get_snapshot(ws, snapshot_id)
    root = snapshot_dir(ws, snap)
    if not root.is_dir():
        raise LensforgeError(f"snapshot {snapshot_id} is catalogued but its folder {root} is missing")
    run = run_record(ws, run_id) if run_id else None
    if run and not adapter and run.get("adapter_path"):
        adapter = str(ws.root / run["adapter_path"])
    fallback = _recorded_template(run)
    template = None
    if kind == "transformers" and isinstance(backend, str):  # a model without a chat template fails here, unrecorded
        template = load_tokenizer(model, adapter, chat_template, fallback=fallback)[1]
    plans = _plan(ws, root, snap["manifest"], datasets, limit_per_dataset)

    eval_id = new_eval_id()
    rel_path = f"evals/{eval_id}"
    params = {
        "datasets": [p.dataset_id for p in plans],
        "score_labels": score_labels,
        "limit_per_dataset": limit_per_dataset,
        "chat_template": template.name if template else None,
        "chat_template_sha": template.sha if template else None,
        "decoding": {
            "do_sample": False,
            "temperature": 0.0,
            "top_p": 1.0,
            "max_new_tokens": {"classification": LABEL_TOKENS, "generation": SUMMARY_TOKENS},
            "summary_stop": list(SUMMARY_STOP),
        },
    }
    with transaction(ws) as con:
        insert_eval(
            con,
            {
                "eval_id": eval_id,
                "actor": actor,
                "model": model,
                "adapter": adapter,
                "run_id": run_id,
                "snapshot_id": snapshot_id,
                "backend": kind,
                "base_url": base_url,
                "params": params,
                "path": rel_path,
            },
        )
    started = time.monotonic()
    try:
        engine = _make_backend(
            backend,
            model=model,
            adapter=adapter,
            chat_template=chat_template,
            fallback_template=fallback,
            base_url=base_url,
            batch_size=batch_size,
            device=device,
            api_key=api_key,
            concurrency=concurrency,
            request_timeout=request_timeout,
            max_retries=max_retries,
        )
        params["backend"] = engine.describe() if hasattr(engine, "describe") else {"backend": kind}
        frames, per_dataset = [], []
        for k, d in enumerate(plans):
            frame, scores, primary = _predict(d, engine, score_labels, _dataset_progress(on_progress, d, k, len(plans)))
            frames.append(frame)
            per_dataset.append(_dataset_result(d, frame, scores, primary))
        by_language, overall = _summaries(per_dataset)
        summary = {
            "eval_id": eval_id,
            "model": model,
            "adapter": adapter,
            "run_id": run_id,
            "snapshot_id": snapshot_id,
            "backend": kind,
            "datasets": per_dataset,
            "by_language": by_language,
            "overall": overall,
            "wall_seconds": time.monotonic() - started,
        }
        out_dir = ws.evals_dir / eval_id
        with atomic_path(out_dir / "predictions.parquet") as tmp:
            pl.concat(frames).write_parquet(tmp, compression="zstd")
        write_text_atomic(out_dir / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False, default=str))
        params["primary_metrics"] = {i["dataset_id"]: i["primary_metric"] for i in per_dataset}
        _record_finished(ws, summary, params, actor)
    except BaseException as exc:  # anything, Ctrl-C included: the row must not stay `running`
        _mark_failed(ws, eval_id, actor, exc, time.monotonic() - started, model=model, snapshot_id=snapshot_id)
        raise
    return {**summary, "status": "finished", "path": str(out_dir), "predictions": str(out_dir / "predictions.parquet")}


def _dataset_result(d: _Dataset, frame: pl.DataFrame, scores: dict[str, float], primary: str) -> dict[str, Any]:
    bad = int((~frame["parseable"]).sum())
    return {
        "dataset_id": d.dataset_id,
        "language": d.language,
        "task": d.task,
        "task_type": d.task_type,
        "n": frame.height,
        "unparseable": bad,
        "unparseable_rate": bad / frame.height if frame.height else 0.0,
        "labels": d.labels,
        "metrics": scores,
        "primary_metric": primary,
        "primary_value": scores.get(primary),
        "sota_metric": d.sota_metric,
        "sota_value": d.sota_value,
        "sota_citation": d.sota_citation,
    }


def _record_finished(ws: Workspace, summary: dict[str, Any], params: dict[str, Any], actor: str) -> None:
    """Scores, the finished status and the event in one transaction: all of them or none."""
    eval_id = summary["eval_id"]
    with transaction(ws) as con:
        finish_eval(con, eval_id, summary["datasets"], wall=summary["wall_seconds"], params=params)
        record_event(
            con,
            actor=actor,
            kind="eval.run",
            subject=eval_id,
            payload={
                "status": "finished",
                **{k: summary[k] for k in ("model", "adapter", "run_id", "snapshot_id", "backend")},
                "datasets": len(summary["datasets"]),
                "rows": summary["overall"]["rows"],
                "mean_primary": summary["overall"]["mean_primary"],
            },
        )


def _mark_failed(ws: Workspace, eval_id: str, actor: str, exc: BaseException, wall: float, **payload: Any) -> None:
    """Record the failure (status, error, one event); never masks the original exception."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    try:
        with transaction(ws) as con:
            fail_eval(con, eval_id, wall=wall, error=f"{type(exc).__name__}: {message}"[:2000])
            record_event(
                con,
                actor=actor,
                kind="eval.run",
                subject=eval_id,
                payload={"status": "failed", "error": message[:500], **payload},
            )
    except Exception:  # the caller re-raises the original failure; this one would only hide it
        pass


def plan_datasets(ws: Workspace, snapshot_id: str, datasets: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The snapshot's datasets as an evaluation sees them (id, task type, label space, test rows).

    For scorers that are not language models (the classical baseline), so they train and answer on
    exactly the datasets, labels and rows `evaluate` will score.
    """
    snap = get_snapshot(ws, snapshot_id)
    plans = _plan(ws, snapshot_dir(ws, snap), snap["manifest"], datasets, None)
    return [{"dataset_id": d.dataset_id, "task_type": d.task_type, "labels": d.labels, "rows": d.rows} for d in plans]
