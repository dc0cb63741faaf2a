"""Helpers shared by the app tests: carry a demo workspace further down the pipeline, cheaply.

Instructions come from the offline provider and the evaluations from scripted backends (no model is
loaded), so the later pages have something real to show in seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

import lensforge.app
from lensforge.evaluate.api import evaluate
from lensforge.instruct.api import generate_many
from lensforge.pipeline import demo_mixture_path
from lensforge.release.snapshot import build_snapshot, snapshot_dir
from lensforge.workspace import Workspace


def add_snapshot(ws: Workspace) -> str:
    """Offline instructions for every ingested dataset, then the demo mixture's snapshot; returns its id."""
    generate_many(ws, [], all_=True, actor="fixture")
    return build_snapshot(ws, demo_mixture_path(), actor="fixture")["snapshot_id"]


class ScriptedBackend:
    """Answers from a table of inputs (the gold answer for every `right_every`-th one), else a fixed reply."""

    name = "scripted"

    def __init__(self, answers: dict[str, str], *, right_every: int, fallback: str) -> None:
        self.answers = answers
        self.right_every = right_every
        self.fallback = fallback

    def generate(self, conversations: list[Any], *, max_new_tokens: int = 20) -> list[str]:
        out = []
        for i, conv in enumerate(conversations):
            user = next(m["content"] for m in reversed(conv) if m["role"] == "user")
            gold = next((a for text, a in self.answers.items() if text and text in user), None)
            out.append(gold if gold is not None and i % self.right_every == 0 else self.fallback)
        return out


def add_evals(ws: Workspace, snapshot_id: str) -> tuple[str, str]:
    """A 'base' and a 'fine-tuned' evaluation of the snapshot's test rows; returns their ids."""
    test = pl.read_parquet(snapshot_dir(ws, snapshot_id) / "data" / "test.parquet")
    answers = dict(zip(test["input"].to_list(), test["output"].to_list(), strict=True))
    base = evaluate(
        ws,
        model="tiny",
        snapshot_id=snapshot_id,
        backend=ScriptedBackend(answers, right_every=4, fallback="I am not sure."),
        actor="fixture",
        limit_per_dataset=12,
    )
    tuned = evaluate(
        ws,
        model="tiny",
        snapshot_id=snapshot_id,
        adapter="runs/scripted/adapter",
        backend=ScriptedBackend(answers, right_every=1, fallback="I am not sure."),
        actor="fixture",
        limit_per_dataset=12,
    )
    return base["eval_id"], tuned["eval_id"]


# ----------------------------------------------------------------------------- driving the app (AppTest)

MAIN = Path(lensforge.app.__file__).resolve().parent / "main.py"
PAGES = (
    "overview",
    "queue",
    "catalog",
    "quality",
    "samples",
    "labels",
    "label_issues",
    "instructions",
    "mixtures",
    "snapshots",
    "snapshot_rows",
    "training",
    "scores",
)
TITLES = {
    "overview": "Overview",
    "queue": "Review queue",
    "catalog": "Catalog",
    "quality": "Data quality",
    "samples": "Samples",
    "labels": "Label review",
    "label_issues": "Label issues",
    "instructions": "Instructions",
    "mixtures": "Mixtures",
    "snapshots": "Snapshots",
    "snapshot_rows": "Snapshot rows",
    "training": "Training",
    "scores": "Scores",
}


def open_page(page: str, *, timeout: float = 120) -> AppTest:
    """Run the app's entry script and switch to `page` (the sidebar and navigation run too)."""
    at = AppTest.from_file(str(MAIN), default_timeout=timeout)
    at.run()
    if page != "overview":
        at.switch_page(f"views/{page}.py")
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == [TITLES[page]]
    return at


def shown(at: AppTest) -> str:
    """Every text element of the page, joined (to look for a message without caring where it is)."""
    parts = []
    for kind in ("markdown", "caption", "info", "warning", "error", "success", "subheader"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts)


def use(monkeypatch: pytest.MonkeyPatch, ws) -> None:
    monkeypatch.setenv("LENSFORGE_HOME", str(ws.root))
    monkeypatch.setenv("LENSFORGE_USER", "tester")
