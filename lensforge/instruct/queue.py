"""The curator's review queue: every current dataset version with work left before a snapshot takes it.

Three gates stop a snapshot build, each owned by a stage: a version that failed validation (ingest),
source labels whose mapping is not reviewed (curate), and missing or stale instructions (instruct: an
active instruction that no longer names every canonical label, e.g. after a label was renamed). The
queue lives in the instruct stage because that is the latest stage whose state it reads. It only reads:
opening a dataset for review would write proposals, so labels never opened are listed as such.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from lensforge.catalog.datasets import entry_from_catalog
from lensforge.catalog.db import connect
from lensforge.catalog.spec import DatasetEntry
from lensforge.curate.mappings import LabelVocabulary, label_vocabulary, review_status
from lensforge.instruct.checks import missing_labels
from lensforge.instruct.generate import native_names
from lensforge.instruct.store import list_instructions
from lensforge.workspace import Workspace

KINDS = ("validation", "labels", "instructions")


def _item(v: dict[str, Any], kind: str, detail: str, action: str) -> dict[str, Any]:
    return {
        "dataset_id": v["dataset_id"],
        "version_id": v["version_id"],
        "kind": kind,
        "detail": detail,
        "action": action,
    }


def review_queue(ws: Workspace) -> list[dict[str, Any]]:
    """What is left to do per current version, each item with the command (or page) that clears it.

    Ordered by dataset, then validation, labels, instructions (the order the gates are met in).
    """
    with connect(ws, read_only=True) as con:
        versions = review_status(con)
        entries = {did: entry_from_catalog(con, did) for did in versions["dataset_id"].to_list()}
    vocab = label_vocabulary(ws, versions["dataset_id"].to_list())
    active = list_instructions(ws, status="active")
    out: list[dict[str, Any]] = []
    for v in versions.iter_rows(named=True):
        did = v["dataset_id"]
        if not v["valid"]:
            out.append(
                _item(
                    v,
                    "validation",
                    f"{v['failed_expectations']} validation expectation(s) failed",
                    f"see `lensforge ingest report {did}`; fix the source or its registry entry and re-ingest, "
                    'or give a reason (allow_invalid = "…" in the mixture)',
                )
            )
        if v["task_type"] != "generation":
            if v["mapped"] == 0:
                out.append(_item(v, "labels", "label mappings not reviewed yet", f"`lensforge labels review {did}`"))
            elif v["proposed"]:
                shown = ", ".join(v["pending_labels"][:6]) + (" …" if v["proposed"] > 6 else "")
                out.append(
                    _item(
                        v,
                        "labels",
                        f"{v['proposed']} mapping(s) pending: {shown}",
                        f"`lensforge labels approve {did} LABEL…` (or reject / set with a reason)",
                    )
                )
        out += _instruction_items(ws, v, entries[did], vocab.get(did), active.filter(pl.col("dataset_id") == did))
    return out


def _instruction_items(
    ws: Workspace, v: dict[str, Any], entry: DatasetEntry, vocab: LabelVocabulary | None, mine: pl.DataFrame
) -> list[dict[str, Any]]:
    did = v["dataset_id"]
    if mine.is_empty():
        return [_item(v, "instructions", "no active instructions", f"`lensforge instruct generate {did}`")]
    if v["task_type"] == "generation" or vocab is None:
        return []
    labels = sorted({k.canonical for k in vocab.links if k.canonical and k.status != "rejected"})
    if not labels:
        return []
    stale, missing = 0, set()
    for row in mine.iter_rows(named=True):
        native = native_names(ws, entry, labels, row["language"]) if row["language"] != "en" else {}
        gone = missing_labels(row["text"], labels, native)
        if gone:
            stale += 1
            missing.update(gone)
    if not stale:
        return []
    return [
        _item(
            v,
            "instructions",
            f"{stale} of {mine.height} active instruction(s) do not name {', '.join(sorted(missing))}",
            f"`lensforge instruct generate {did}` for new ones, then `lensforge instruct disable` the stale ones",
        )
    ]
