"""Write one registry YAML per row of the LlamaLens reference CSV (run by hand, output committed).

Usage: python tools/build_registry.py [../shared/reference/llamalens_datasets.csv]

Only facts from the CSV go in; an empty cell stays absent. Fields the CSV has no column
for (ingest spec, local source, citation, native label names, the SOTA reference with its
citation, split, confidence and note) that were added by hand to an existing file are kept
when the file is rewritten.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lensforge.catalog.registry import csv_row_to_entry_dict, load_csv_text  # noqa: E402

REGISTRY = ROOT / "lensforge" / "registry"
FIELD_ORDER = [
    "name",
    "language",
    "version",
    "task",
    "task_type",
    "capability",
    "task_definition",
    "labels",
    "label_native",
    "license",
    "citation",
    "source_url",
    "source",
    "has_official_split",
    "published_sizes",
    "sota",
    "status",
    "exclusion_reason",
    "superseded_by",
    "in_final_52",
    "collection",
    "notes",
    "ingest",
]
CSV_DERIVED = {
    "name",
    "language",
    "version",
    "task",
    "task_type",
    "capability",
    "labels",
    "license",
    "source_url",
    "has_official_split",
    "published_sizes",
    "sota",
    "status",
    "exclusion_reason",
    "superseded_by",
    "in_final_52",
    "collection",
    "notes",
}


def _prune(value: object) -> object:
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    return value


def file_for(entry: dict) -> Path:
    lang = entry["language"] if entry["language"] in ("ar", "en", "hi") else "other"
    slug = re.sub(r"[^a-z0-9]+", "-", entry["name"].lower()).strip("-")
    if entry.get("version"):
        slug += "@" + entry["version"]
    return REGISTRY / lang / f"{slug}.yaml"


def ordered(entry: dict) -> dict:
    return {k: entry[k] for k in FIELD_ORDER if k in entry} | {k: v for k, v in entry.items() if k not in FIELD_ORDER}


def main(csv_path: str) -> None:
    text = Path(csv_path).read_text(encoding="utf-8")
    load_csv_text(text, csv_path, collection="llamalens")  # validate first
    import csv
    import io

    written = 0
    for i, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        entry = csv_row_to_entry_dict(row, f"{csv_path}:{i}", "llamalens")
        entry = _prune(entry)
        path = file_for(entry)
        if path.exists():
            old = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for key, value in old.items():
                if key not in CSV_DERIVED:
                    entry[key] = value
                elif key in ("source", "sota"):
                    # The CSV's cells win where it has them; what was added by hand (a local mirror, a SOTA
                    # citation, split, confidence and note) is kept.
                    entry[key] = {**value, **entry.get(key, {})}
        path.parent.mkdir(parents=True, exist_ok=True)
        header = (
            f"# From shared/reference/llamalens_datasets.csv row {i}; edit by hand only the fields the CSV lacks.\n"
        )
        path.write_text(
            header + yaml.safe_dump(ordered(entry), allow_unicode=True, sort_keys=False, width=110), encoding="utf-8"
        )
        written += 1
    print(f"wrote {written} registry files under {REGISTRY}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(ROOT.parent / "shared" / "reference" / "llamalens_datasets.csv"))
