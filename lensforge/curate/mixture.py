"""Mixture plans: which dataset versions go into a snapshot, with what caps, languages and seed.

A plan is a TOML file, validated at load. `lensforge curate plan FILE` shows what a snapshot built
from it would hold (per language, task and dataset) and what the caps remove, before building.

    name = "llamalens-ar-en-hi"
    seed = 42
    languages = ["ar", "en", "hi"]          # optional filter
    order = "language"                      # optional: alphabetical, language, task, random
    instructions = "en"                     # optional: en, native, both
    [caps]                                  # 0 means no cap
    train = 20000
    [select]                                # optional: every dataset matching
    collection = "demo"
    status = "selected"
    [[datasets]]                            # and/or named ones
    ref = "ar/ArSarcasm-v2@v2"
    version = "vaa8dba1d1bb6d7e"            # optional ingested version (default: current)
    train_cap = 5000                        # optional per-dataset caps
    allow_invalid = "reason"                # optional: use a version that failed validation
    allow_excluded = "reason"               # optional: use an excluded or superseded dataset (recorded)
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lensforge.catalog.constants import SPLITS
from lensforge.catalog.datasets import entry_from_catalog, list_datasets, resolve
from lensforge.catalog.db import connect, reading
from lensforge.catalog.spec import DatasetEntry
from lensforge.curate.caps import DEFAULT_TRAIN_CAP, CapReport, cap_rows
from lensforge.curate.decisions import (
    apply_row_decisions,
    count_applied,
    decisions_for,
    restorable_rows,
    set_id_of,
)
from lensforge.curate.mappings import EffectiveMapping, drop_unlabelled, effective_mapping, map_labels
from lensforge.errors import LensforgeError
from lensforge.ingest.versions import current_version_id, get_version, has_version, load_rows
from lensforge.workspace import Workspace, write_text_atomic


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Caps(_Strict):
    train: int = Field(default=DEFAULT_TRAIN_CAP, ge=0)
    dev: int = Field(default=0, ge=0)
    test: int = Field(default=0, ge=0)


class Select(_Strict):
    collection: str | None = None
    status: str | None = "selected"
    language: str | None = None
    task: str | None = None


class DatasetChoice(_Strict):
    ref: str = Field(min_length=1)
    version: str | None = None
    train_cap: int | None = Field(default=None, ge=0)
    dev_cap: int | None = Field(default=None, ge=0)
    test_cap: int | None = Field(default=None, ge=0)
    allow_invalid: str | None = None
    allow_excluded: str | None = None


class MixturePlan(_Strict):
    name: str = Field(min_length=1)
    seed: int = 42
    languages: list[str] | None = None
    # How `snapshot build` lays the rows out unless told otherwise (the paper's four orders; instruction language).
    order: Literal["alphabetical", "language", "task", "random"] | None = None
    instructions: Literal["en", "native", "both"] | None = None
    caps: Caps = Field(default_factory=Caps)
    select: Select | None = None
    datasets: list[DatasetChoice] = Field(default_factory=list)


MIXTURES_DIR = "mixtures"  # under the workspace: the mixtures saved from the app


def mixture_path(ws: Workspace, name: str) -> Path:
    """Where a mixture of this name is saved in the workspace (a file name safe on every system)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.").lower()
    if not slug:
        raise LensforgeError(f"{name!r} cannot name a mixture file: use letters, digits, '-', '_' or '.'")
    return ws.root / MIXTURES_DIR / f"{slug}.toml"


def mixture_toml(plan: MixturePlan) -> str:
    """The plan as TOML, the format `load_plan` reads (only the fields that differ from their defaults)."""
    data = plan.model_dump(exclude_defaults=True)
    lines = [
        f"{key} = {_toml(data[key])}" for key in ("name", "seed", "languages", "order", "instructions") if key in data
    ]
    for table in ("caps", "select"):
        if data.get(table):
            lines += ["", f"[{table}]", *(f"{k} = {_toml(v)}" for k, v in data[table].items() if v is not None)]
    for choice in data.get("datasets", []):
        lines += ["", "[[datasets]]", *(f"{k} = {_toml(v)}" for k, v in choice.items() if v is not None)]
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    """A TOML value: strings in JSON's escaping (also valid TOML basic strings), numbers, lists of those."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def save_mixture(ws: Workspace, plan: MixturePlan, *, overwrite: bool = True) -> Path:
    """Write the plan under the workspace's mixtures/ folder (validated again on the way, so it loads back)."""
    path = mixture_path(ws, plan.name)
    if path.exists() and not overwrite:
        raise LensforgeError(f"a mixture named {plan.name!r} exists already ({path.name})")
    text = mixture_toml(plan)
    if load_plan_text(text, path) != plan:
        raise LensforgeError(f"mixture {plan.name!r} does not survive a save and load", hint="this is a bug")
    write_text_atomic(path, text)
    return path


def list_mixtures(ws: Workspace) -> list[Path]:
    """The mixture files saved in the workspace, by name."""
    folder = ws.root / MIXTURES_DIR
    return sorted(folder.glob("*.toml")) if folder.is_dir() else []


def load_plan(path: Path) -> MixturePlan:
    """Read and validate a mixture TOML; errors name the file and field."""
    if not path.is_file():
        raise LensforgeError(f"no such mixture file: {path}")
    return load_plan_text(path.read_text(encoding="utf-8"), path)


def load_plan_text(text: str, path: Path) -> MixturePlan:
    """Validate mixture TOML text (`path` names it in errors)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LensforgeError(f"{path}: not valid TOML: {exc}") from None
    return plan_from_dict(data, origin=str(path))


def plan_from_dict(data: dict[str, Any], *, origin: str = "mixture") -> MixturePlan:
    """Validate a mixture given as data (a TOML file's content, or the app's editor); errors name the field."""
    try:
        plan = MixturePlan.model_validate(data)
    except ValidationError as exc:
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise LensforgeError(f"{origin}: invalid mixture: " + "; ".join(parts)) from None
    if plan.select is None and not plan.datasets:
        raise LensforgeError(f"{origin}: the mixture names no datasets (add [[datasets]] or [select])")
    return plan


@dataclass
class PlannedDataset:
    dataset_id: str
    entry: DatasetEntry
    version: dict[str, Any]
    choice: DatasetChoice
    caps: dict[str, int | None]


@dataclass
class CuratedDataset:
    planned: PlannedDataset
    rows: pl.DataFrame  # ingested rows with `canonical`, after caps
    mapping_version_id: str
    pending_labels: list[str]
    rejected_rows: int
    cap_reports: dict[str, CapReport] = field(default_factory=dict)
    before: dict[str, int] = field(default_factory=dict)
    label_space: list[str] = field(default_factory=list)  # canonical labels of the mapping used (none: generation)
    decision_set_id: str | None = None  # the row-level decisions applied (None: none)
    row_decisions: dict[str, Any] = field(default_factory=dict)  # AppliedDecisions.as_dict()


def resolve_plan(
    ws: Workspace, plan: MixturePlan, *, allow_invalid: str | None = None, allow_excluded: str | None = None
) -> list[PlannedDataset]:
    """Datasets and versions the plan names; unknown names or versions are errors, nothing is changed.

    `allow_invalid` (a reason) admits versions that failed validation, for every dataset of the plan.
    An excluded or superseded dataset is refused unless the plan (`allow_excluded`) or the caller gives a reason:
    a curator excluded it for a cause (an older release of another set, not in the paper's mixture), and a
    mixture that takes it anyway must say why.
    """
    choices: dict[str, tuple[DatasetChoice, bool]] = {}  # dataset -> (choice, named explicitly)
    if plan.select is not None:
        sel = plan.select
        for did in list_datasets(
            ws, language=sel.language, task=sel.task, status=sel.status, collection=sel.collection
        )["dataset_id"].to_list():
            choices[did] = (DatasetChoice(ref=did), False)
    out = []
    with connect(ws, read_only=True) as con:
        for choice in plan.datasets:
            choices[resolve(con, choice.ref)] = (choice, True)
        for did, (choice, explicit) in choices.items():
            entry = entry_from_catalog(con, did)
            if plan.languages and entry.language not in plan.languages:
                continue
            if choice.version:
                if not has_version(con, did, choice.version):
                    raise LensforgeError(f"{did} has no ingested version {choice.version!r}")
                version_id = choice.version
            else:
                current = current_version_id(con, did)
                if current is None:
                    if not explicit:
                        continue  # matched by [select] but never ingested: not part of the mixture
                    raise LensforgeError(
                        f"{did} has not been ingested yet", hint=f"run `lensforge ingest {choice.ref}`"
                    )
                version_id = current
            out.append((did, entry, version_id, choice))
    planned, excluded = [], []
    for did, entry, version_id, choice in out:
        if allow_excluded and not choice.allow_excluded and is_excluded(entry):
            choice = choice.model_copy(update={"allow_excluded": allow_excluded})
        if is_excluded(entry) and not (choice.allow_excluded or "").strip():
            excluded.append(f"{did} ({exclusion_text(entry)})")
            continue
        version = get_version(ws, version_id)
        if allow_invalid and not choice.allow_invalid and not version["valid"]:
            choice = choice.model_copy(update={"allow_invalid": allow_invalid})
        if not version["valid"] and not choice.allow_invalid:
            raise LensforgeError(
                f"{did} version {version_id} failed validation",
                hint='fix it and re-ingest, or set allow_invalid = "reason" for it in the mixture',
            )
        caps = {
            "train": _cap(choice.train_cap, plan.caps.train),
            "dev": _cap(choice.dev_cap, plan.caps.dev),
            "test": _cap(choice.test_cap, plan.caps.test),
        }
        planned.append(PlannedDataset(did, entry, version, choice, caps))
    if excluded:
        raise LensforgeError(
            f"mixture {plan.name!r} holds excluded datasets: {'; '.join(excluded)}",
            hint='remove them, or give a reason: allow_excluded = "..." for the dataset in the mixture, '
            "or --allow-excluded REASON",
        )
    if not planned:
        raise LensforgeError(f"mixture {plan.name!r} selects no ingested dataset")
    return sorted(planned, key=lambda p: (p.entry.language, p.dataset_id))


def is_excluded(entry: DatasetEntry) -> bool:
    """Excluded by a curator or by the registry, or superseded by a newer release."""
    return entry.status == "excluded" or bool(entry.superseded_by)


def exclusion_text(entry: DatasetEntry) -> str:
    if entry.superseded_by:
        return f"superseded by {entry.superseded_by}"
    return f"excluded: {entry.exclusion_reason}" if entry.exclusion_reason else "excluded"


# What later stages need of an ingested row (the rest stays in the version's Parquet files).
CURATED_COLUMNS = [
    "sample_id",
    "dataset",
    "language",
    "task",
    "split",
    "text",
    "text_pair",
    "text_key",
    "label_raw",
    "target",
]


def _cap(specific: int | None, default: int) -> int | None:
    value = default if specific is None else specific
    return value or None


@dataclass
class CurationInputs:
    """What the catalog holds for curating one dataset: its label mapping (through the gate) and row decisions.

    Read apart from the rows so a build can read every dataset's inputs through one catalog connection
    (`catalog.db.reading`) before the long Parquet reads, and fail on an unreviewed mapping before any of them.
    """

    mapping: EffectiveMapping
    decisions: pl.DataFrame


def curation_inputs(
    ws: Workspace, planned: PlannedDataset, *, allow_proposed: bool, actor: str, used_by: str, record: bool
) -> CurationInputs:
    """The mapping through the gate (`record`: proposals used are put on record) and the row decisions."""
    if record:
        eff = effective_mapping(ws, planned.dataset_id, allow_proposed=allow_proposed, actor=actor, used_by=used_by)
    else:
        eff = _preview_mapping(ws, planned.dataset_id)
    return CurationInputs(eff, decisions_for(ws, planned.dataset_id))


def curate_dataset(
    ws: Workspace,
    planned: PlannedDataset,
    *,
    seed: int,
    allow_proposed: bool,
    actor: str,
    used_by: str,
    record: bool,
    inputs: CurationInputs | None = None,
) -> CuratedDataset:
    """Canonical labels through the mapping gate, the row-level decisions, then the caps (train; dev/test only
    when set). Decisions come before caps so an excluded row frees its place for another. `inputs` read earlier
    (`curation_inputs`) are used as given."""
    if inputs is None:
        inputs = curation_inputs(
            ws, planned, allow_proposed=allow_proposed, actor=actor, used_by=used_by, record=record
        )
    eff, decisions = inputs.mapping, inputs.decisions
    task_type = planned.entry.task_type
    rows = load_rows(ws, planned.version, columns=CURATED_COLUMNS)
    restored = restorable_rows(ws, planned.version, decisions, CURATED_COLUMNS)
    if restored.height:
        rows = pl.concat([rows, restored.cast(rows.schema)], how="vertical_relaxed")
    applied = count_applied(rows, decisions, restored=restored.height, set_id=set_id_of(decisions))
    decided = apply_row_decisions(map_labels(rows, planned.entry, eff.mapping), decisions, task_type=task_type)
    mapped, rejected = drop_unlabelled(decided, task_type)
    before = {s: int(mapped.filter(pl.col("split") == s).height) for s in SPLITS}
    parts, reports = [], {}
    for split in SPLITS:
        part = mapped.filter(pl.col("split") == split)
        capped, report = cap_rows(part, planned.caps[split], task_type=planned.entry.task_type, seed=seed)
        parts.append(capped)
        reports[split] = report
    return CuratedDataset(
        planned,
        pl.concat(parts, how="vertical_relaxed"),
        eff.mapping_version_id,
        eff.proposed_used,
        rejected,
        reports,
        before,
        sorted({c for c in eff.mapping.values() if c}) if planned.entry.task_type != "generation" else [],
        decision_set_id=applied.decision_set_id,
        row_decisions=applied.as_dict(),
    )


def _preview_mapping(ws: Workspace, ref: str) -> EffectiveMapping:
    """The mapping as it stands (proposals included), without the gate and without an event."""
    from lensforge.curate.mappings import mapping_version_id, review

    info = review(ws, ref)
    mapping = {m["raw_label"]: (None if m["status"] == "rejected" else m["canonical"]) for m in info["mappings"]}
    pending = [m["raw_label"] for m in info["mappings"] if m["status"] == "proposed"]
    return EffectiveMapping(
        info["dataset_id"], info["version_id"], mapping_version_id(info["version_id"], mapping), mapping, pending
    )


def canonical_labels(rows: pl.DataFrame, task_type: str) -> list[str]:
    """The distinct canonical labels of curated rows (atoms for multi-label; none for generation)."""
    if task_type == "generation" or rows.height == 0:
        return []
    col = rows["canonical"]
    if col.dtype == pl.List(pl.String):
        col = col.explode()
    return sorted(col.drop_nulls().unique().to_list())


def plan_summary(ws: Workspace, plan: MixturePlan) -> dict[str, Any]:
    """What a snapshot built from this plan would hold, and what the caps remove; writes nothing but proposals.

    The datasets' reads share one catalog connection (`reading`), as a snapshot build's do; one dataset's
    curated rows are held at a time.
    """
    datasets = []
    with reading(ws):
        for planned in resolve_plan(ws, plan):
            cur = curate_dataset(
                ws, planned, seed=plan.seed, allow_proposed=True, actor="plan", used_by="plan", record=False
            )
            after = {s: int(cur.rows.filter(pl.col("split") == s).height) for s in SPLITS}
            datasets.append(
                {
                    "dataset_id": planned.dataset_id,
                    "language": planned.entry.language,
                    "task": planned.entry.task,
                    "version_id": planned.version["version_id"],
                    "valid": planned.version["valid"],
                    "mapping_version_id": cur.mapping_version_id,
                    "pending_labels": cur.pending_labels,
                    "rejected_rows": cur.rejected_rows,
                    "row_decisions": cur.row_decisions,
                    "before": cur.before,
                    "after": after,
                    "removed_by_caps": {s: cur.before[s] - after[s] for s in after},
                    "caps": planned.caps,
                    "cap_max_deviation": cur.cap_reports["train"].max_deviation,
                    "labels_after": canonical_labels(cur.rows, planned.entry.task_type),
                }
            )
    frame = pl.DataFrame(
        [
            {
                "dataset_id": d["dataset_id"],
                "language": d["language"],
                "task": d["task"],
                **{f"{s}": d["after"][s] for s in SPLITS},
                **{f"{s}_removed": d["removed_by_caps"][s] for s in SPLITS},
            }
            for d in datasets
        ]
    )
    by = lambda col: (  # noqa: E731
        frame.group_by(col).agg(pl.col("train", "dev", "test", "train_removed").sum()).sort(col).to_dicts()
    )
    return {
        "name": plan.name,
        "seed": plan.seed,
        "caps": plan.caps.model_dump(),
        "datasets": datasets,
        "by_language": by("language"),
        "by_task": by("task"),
        "totals": {s: int(frame[s].sum()) for s in SPLITS},
        "removed_by_caps": {s: int(frame[f"{s}_removed"].sum()) for s in SPLITS},
        "pending_labels": sum(len(d["pending_labels"]) for d in datasets),
    }
