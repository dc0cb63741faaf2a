"""Load and validate registry entries: the YAML files shipped in the package, or a user's YAML/CSV.

All entries of one load are validated together before anything is written, so a bad file
leaves the catalog as it was.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from lensforge.catalog.constants import TASK_TYPES
from lensforge.catalog.spec import DatasetEntry, Sota, make_dataset_id
from lensforge.errors import LensforgeError

REGISTRY_PACKAGE = "lensforge.registry"
DEMO_PACKAGE = "lensforge.demo.registry"


@dataclass(frozen=True)
class LoadedEntry:
    entry: DatasetEntry
    origin: str  # file (and row or index) it came from


def _format_validation(origin: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(entry)"
        parts.append(f"{loc}: {err['msg']}")
    return f"{origin}: invalid entry: " + "; ".join(parts)


def parse_entry(data: Any, origin: str) -> DatasetEntry:
    """Validate one mapping as a DatasetEntry; the error names the origin and the field."""
    if not isinstance(data, dict):
        raise LensforgeError(f"{origin}: expected a mapping of fields, got {type(data).__name__}")
    try:
        entry = DatasetEntry.model_validate(data)
    except ValidationError as exc:
        raise LensforgeError(_format_validation(origin, exc)) from None
    if not entry.sota.cited:
        raise LensforgeError(f"{origin}: invalid entry: sota: a SOTA value needs its metric and its citation")
    return entry


def _read_yaml(text: str, origin: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LensforgeError(f"{origin}: not valid YAML: {exc}") from None


def load_yaml_text(text: str, origin: str) -> list[LoadedEntry]:
    """A YAML document holding one entry, a list of entries, or {datasets: [...]}."""
    data = _read_yaml(text, origin)
    if isinstance(data, dict) and "datasets" in data and len(data) == 1:
        data = data["datasets"]
    if isinstance(data, dict):
        return [LoadedEntry(parse_entry(data, origin), origin)]
    if isinstance(data, list):
        return [LoadedEntry(parse_entry(item, f"{origin}[{i}]"), f"{origin}[{i}]") for i, item in enumerate(data)]
    raise LensforgeError(f"{origin}: expected a dataset entry or a list of them")


# Columns of the reference CSV (shared/reference/llamalens_datasets.csv) that an import needs.
CSV_REQUIRED = ("name", "language", "task")
_INT_FIELDS = ("train_size", "dev_size", "test_size", "label_count")


def _none_if_empty(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def derive_task_type(task: str, name: str, labels: list[str], notes: str | None) -> str:
    """Task type for a reference-CSV row, which has no task-type column.

    Rule: summarization is generation; NLI and stance are pair tasks; multi-label when the
    row says so (notes or name) or its labels are comma-joined combinations; else single-label.
    """
    t = task.lower()
    if "summarization" in t:
        return "generation"
    if "natural language inference" in t or t.startswith("stance"):
        return "pair_classification"
    text = f"{name} {notes or ''}".lower()
    if "multilabel" in text or "multi-label" in text or any("," in lab for lab in labels):
        return "multilabel"
    if t in ("propaganda technique detection", "propaganda span detection"):
        return "multilabel"
    return "classification"


def csv_row_to_entry_dict(row: dict[str, str], origin: str, collection: str) -> dict[str, Any]:
    """Map one row of the reference-CSV format to entry fields; empty cells stay empty."""
    missing = [col for col in CSV_REQUIRED if not _none_if_empty(row.get(col))]
    if missing:
        raise LensforgeError(f"{origin}: missing field(s) {', '.join(missing)}")
    ints: dict[str, int | None] = {}
    for col in _INT_FIELDS:
        raw = _none_if_empty(row.get(col))
        if raw is None:
            ints[col] = None
            continue
        try:
            ints[col] = int(raw.replace(",", ""))
        except ValueError:
            raise LensforgeError(f"{origin}: field {col} must be an integer, got {raw!r}") from None
    labels = [lab for lab in (_none_if_empty(row.get("labels")) or "").split("|") if lab]
    if ints["label_count"] is not None and labels and ints["label_count"] != len(labels):
        raise LensforgeError(f"{origin}: field label_count says {ints['label_count']} but labels lists {len(labels)}")
    name = row["name"].strip()
    notes = _none_if_empty(row.get("notes"))
    sota_value = _none_if_empty(row.get("sota_value"))
    try:
        sota_num = float(sota_value) if sota_value is not None else None
    except ValueError:
        raise LensforgeError(f"{origin}: field sota_value must be a number, got {sota_value!r}") from None
    in_final = _none_if_empty(row.get("in_final_52"))
    superseded = _none_if_empty(row.get("superseded_by"))
    status = "candidate"
    reason = None
    if superseded:
        status, reason = "excluded", f"superseded by {superseded}"
    elif in_final == "yes":
        status = "selected"
    elif in_final == "no":
        status, reason = "excluded", "not in the LlamaLens release (in_final_52 = no)"
    explicit_type = _none_if_empty(row.get("task_type"))
    if explicit_type and explicit_type not in TASK_TYPES:
        raise LensforgeError(f"{origin}: field task_type {explicit_type!r} is not one of {', '.join(TASK_TYPES)}")
    hub = None
    if notes and "processed copy: " in notes and " config " in notes:
        # "processed copy: QCRI/LlamaLens-Arabic config NAME; ..." names the released Hub copy.
        head = notes.split("processed copy: ", 1)[1].split(";", 1)[0]
        repo, _, config = head.partition(" config ")
        if repo.strip() and config.strip():
            hub = {"repo": repo.strip(), "config": config.strip()}
    return {
        "name": name,
        "language": (row.get("language") or "").strip(),
        "version": _none_if_empty(row.get("version")),
        "task": row["task"].strip(),
        "task_type": explicit_type or derive_task_type(row["task"], name, labels, notes),
        "capability": _none_if_empty(row.get("capability")),
        "task_definition": _none_if_empty(row.get("task_definition")),
        "labels": labels,
        "license": _none_if_empty(row.get("license")),
        "citation": _none_if_empty(row.get("citation")),
        "source_url": _none_if_empty(row.get("source_url")),
        "source": {"hub": hub} if hub else {},
        "has_official_split": _none_if_empty(row.get("has_official_split")),
        "published_sizes": {"train": ints["train_size"], "dev": ints["dev_size"], "test": ints["test_size"]},
        "sota": {
            "metric": _none_if_empty(row.get("sota_metric")),
            "value": sota_num,
            "citation": _none_if_empty(row.get("sota_citation")),
            **{key: _none_if_empty(row.get(f"sota_{key}")) for key in SOTA_CSV_OPTIONAL},
        },
        "status": status,
        "exclusion_reason": reason,
        "superseded_by": superseded,
        "in_final_52": in_final,
        "collection": collection,
        "notes": notes,
    }


def load_csv_text(text: str, origin: str, collection: str = "user") -> list[LoadedEntry]:
    """Entries from a CSV in the reference-table format (see shared/reference)."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        raise LensforgeError(f"{origin}: empty CSV file")
    absent = [col for col in CSV_REQUIRED if col not in reader.fieldnames]
    if absent:
        raise LensforgeError(f"{origin}: missing column(s) {', '.join(absent)}")
    out = []
    for i, row in enumerate(reader, start=2):
        where = f"{origin}:{i}"
        if None in row:
            raise LensforgeError(f"{where}: row has more fields than the header")
        out.append(LoadedEntry(parse_entry(csv_row_to_entry_dict(row, where, collection), where), where))
    if not out:
        raise LensforgeError(f"{origin}: no rows")
    return out


def _read_text(path: Path) -> str:
    """A user's file as text (a UTF-8 BOM is fine); a missing or non-UTF-8 file is an error naming it."""
    if not path.is_file():
        raise LensforgeError(f"no such file: {path}")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise LensforgeError(f"{path}: not UTF-8 text") from None


# A SOTA CSV: one published score per row, for datasets already in the catalog.
SOTA_CSV_REQUIRED = ("dataset", "metric", "value", "citation")
SOTA_CSV_OPTIONAL = ("split", "confidence", "note")


@dataclass(frozen=True)
class SotaRow:
    """One row of a SOTA CSV: the dataset it names (a reference, resolved against the catalog) and its score."""

    dataset: str
    sota: Sota
    origin: str  # file:line


def is_sota_csv(path: Path) -> bool:
    """A CSV whose header names a `dataset` and a `value` column is a SOTA CSV, not registry entries."""
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh), [])
    except (OSError, UnicodeDecodeError):
        return False
    names = {h.strip() for h in header}
    return {"dataset", "value"} <= names and "name" not in names


def load_sota_csv(path: Path) -> list[SotaRow]:
    """Validated SOTA rows; an error names the file, the line and the field.

    Columns: dataset ([lang/]name[@version]), metric (as the source names it), value (a fraction, or percent
    as the source gives it), citation; optional split, confidence (high, medium or low) and note.
    """
    reader = csv.DictReader(io.StringIO(_read_text(path)))
    header = [h.strip() for h in reader.fieldnames or []]
    absent = [col for col in SOTA_CSV_REQUIRED if col not in header]
    if absent:
        raise LensforgeError(
            f"{path}: missing column(s) {', '.join(absent)}",
            hint=f"a SOTA CSV has the columns {', '.join(SOTA_CSV_REQUIRED + SOTA_CSV_OPTIONAL)}",
        )
    rows: list[SotaRow] = []
    seen: dict[str, str] = {}
    for line, raw in enumerate(reader, start=2):
        where = f"{path}:{line}"
        if None in raw:
            raise LensforgeError(f"{where}: row has more fields than the header")
        row = {k.strip(): _none_if_empty(v) for k, v in raw.items() if k is not None}
        for col in SOTA_CSV_REQUIRED:
            if row.get(col) is None:
                raise LensforgeError(f"{where}: field {col} is empty", hint="every SOTA row needs its citation")
        try:
            value = float(str(row["value"]).rstrip("%"))
        except ValueError:
            raise LensforgeError(f"{where}: field value must be a number, got {row['value']!r}") from None
        fields = {"metric": row["metric"], "value": value, "citation": row["citation"]}
        fields |= {key: row.get(key) for key in SOTA_CSV_OPTIONAL}
        try:
            sota = Sota.model_validate(fields)
        except ValidationError as exc:
            raise LensforgeError(_format_validation(where, exc).replace("invalid entry", "invalid SOTA row")) from None
        dataset = str(row["dataset"])
        if dataset in seen:
            raise LensforgeError(f"{where}: field dataset {dataset!r} is listed twice (also at {seen[dataset]})")
        seen[dataset] = where
        rows.append(SotaRow(dataset, sota, where))
    if not rows:
        raise LensforgeError(f"{path}: no rows")
    return rows


def load_file(path: Path) -> list[LoadedEntry]:
    """A user's import file: YAML (.yaml/.yml) or CSV (.csv)."""
    text = _read_text(path)
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return load_yaml_text(text, str(path))
    if suffix == ".csv":
        return load_csv_text(text, str(path))
    raise LensforgeError(f"{path}: unsupported import format {suffix!r} (use .yaml, .yml or .csv)")


def _package_yaml(package: str) -> list[LoadedEntry]:
    root = resources.files(package)
    out: list[LoadedEntry] = []

    def walk(node: Any, rel: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            child_rel = f"{rel}/{child.name}" if rel else child.name
            if child.is_dir():
                walk(child, child_rel)
            elif child.name.endswith((".yaml", ".yml")):
                out.extend(load_yaml_text(child.read_text(encoding="utf-8"), f"registry/{child_rel}"))

    walk(root, "")
    return out


def load_builtin(collection: str = "llamalens") -> list[LoadedEntry]:
    """The registry shipped in the package: `llamalens` (reference + real sets) or `demo`."""
    if collection == "llamalens":
        entries = _package_yaml(REGISTRY_PACKAGE)
    elif collection == "demo":
        entries = _package_yaml(DEMO_PACKAGE)
    else:
        raise LensforgeError(f"unknown registry collection {collection!r} (use llamalens or demo)")
    check_entries(entries)
    return entries


@dataclass(frozen=True)
class Ref:
    """A user's reference to a dataset: [lang/]name[@version]."""

    name: str
    language: str | None
    version: str | None

    @classmethod
    def parse(cls, text: str) -> Ref:
        text = text.strip()
        if not text:
            raise LensforgeError("empty dataset reference")
        language = None
        if "/" in text:
            head, rest = text.split("/", 1)
            if len(head) == 2 and head.isalpha():
                language, text = head, rest
        name, _, version = text.partition("@")
        return cls(name=name, language=language, version=version or None)

    def matches(self, name: str, language: str, version: str | None) -> bool:
        return (
            name == self.name
            and (self.language is None or self.language == language)
            and (self.version is None or self.version == version)
        )


def resolve_in(
    ref: Ref, keys: Iterable[tuple[str, str, str | None]], default_language: str | None = None
) -> str | None:
    """Find the one dataset a reference names among (name, language, version) keys, or None."""
    hits = [k for k in keys if ref.matches(*k)]
    if len(hits) > 1 and default_language is not None:
        same = [k for k in hits if k[1] == default_language]
        hits = same or hits
    if len(hits) > 1 and ref.version is None:
        unversioned = [k for k in hits if k[2] is None]
        hits = unversioned if len(unversioned) == 1 else hits
    if len(hits) == 1:
        name, language, version = hits[0]
        return make_dataset_id(language, name, version)
    if len(hits) > 1:
        options = ", ".join(sorted(make_dataset_id(lang, n, v) for n, lang, v in hits))
        raise LensforgeError(f"{ref.name!r} is ambiguous: give one of {options}")
    return None


def check_entries(entries: list[LoadedEntry], existing: Iterable[tuple[str, str, str | None]] = ()) -> None:
    """Cross-entry checks: unique name@version per language, and superseded_by resolves."""
    seen: dict[str, str] = {}
    for item in entries:
        key = item.entry.dataset_id
        if key in seen:
            raise LensforgeError(f"{item.origin}: duplicate dataset {key} (also defined in {seen[key]})")
        seen[key] = item.origin
    keys = [(i.entry.name, i.entry.language, i.entry.version) for i in entries]
    all_keys = keys + [k for k in existing if make_dataset_id(k[1], k[0], k[2]) not in seen]
    for item in entries:
        target = item.entry.superseded_by
        if not target:
            continue
        found = resolve_in(Ref.parse(target), all_keys, default_language=item.entry.language)
        if found is None:
            raise LensforgeError(
                f"{item.origin}: field superseded_by points to {target!r}, which is not a registered dataset"
            )
        if found == item.entry.dataset_id:
            raise LensforgeError(f"{item.origin}: field superseded_by points to the dataset itself")
