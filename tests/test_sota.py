"""Published reference scores: only verified values with their citation, mapped onto metrics we compute.

The registry's SOTA values are checked against ../shared/reference/sota_reference.md (the only
source allowed), the CSV import against bad input, and the mapping of each source metric name.
"""

from __future__ import annotations

import importlib.util
import re
import shutil

import pytest
import yaml
from conftest import ROOT, SHARED_DATA

from lensforge.catalog.registry import load_builtin, parse_entry
from lensforge.errors import LensforgeError
from lensforge.evaluate import metrics

REFERENCE = SHARED_DATA.parent / "reference"
# Registry id -> the lensforge metric its SOTA compares with (None: not comparable), for a binary space.
EXPECTED = {
    "ar/ArSarcasm-v2@v2": ("f1:sarcastic", ["sarcastic", "not-sarcastic"]),
    "ar/CT25Subjectivity@2025": ("macro_f1", ["objective", "subjective"]),
    "en/CT25Subjectivity@2025": ("macro_f1", ["objective", "subjective"]),
    "en/DavidsonHateOffensive@2017": ("weighted_f1", ["hate-speech", "offensive-speech", "neither"]),
    "hi/HASOC2019@2019": ("macro_f1", ["offensive", "not-offensive"]),
    "hi/Hindi-Hostility-Detection-CONSTRAINT-2021": (None, ["fake", "hate-speech", "non-hostile"]),
}
NO_VERIFIED_VALUE = ("ar/CT22Checkworthiness@2022", "en/CT22Checkworthiness@2022", "ar/ArSarcasm@v1")


def _reference_rows() -> list[dict[str, str]]:
    text = (REFERENCE / "sota_reference.md").read_text(encoding="utf-8")
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and "/" in cells[0] and not cells[0].startswith("dataset"):
            rows.append(dict(zip(("dataset", "split", "metric", "value", "source", "confidence"), cells, strict=True)))
    return rows


def _available(labels: list[str]) -> list[str]:
    return ["accuracy", "macro_f1", "weighted_f1", "micro_f1", *(f"f1:{lab}" for lab in labels)]


def test_registry_sota_values_are_the_verified_ones_with_citation_split_and_confidence():
    reference = _reference_rows()
    entries = {item.entry.dataset_id: item.entry for item in load_builtin("llamalens")}
    with_sota = {did for did, e in entries.items() if e.sota.value is not None}
    assert with_sota == set(EXPECTED)  # never a value the reference does not verify
    for did in with_sota:
        sota = entries[did].sota
        name = did.split("/")[1].split("@")[0]
        rows = [r for r in reference if r["dataset"].split(" ")[0] == f"{did[:2]}/{name}"]
        matching = [r for r in rows if r["value"].startswith(f"{sota.value:g}") or str(sota.value) in r["value"]]
        assert matching, (did, sota.value, rows)
        row = matching[0]
        assert sota.metric and sota.metric.split(" (")[0].lower() in row["metric"].lower(), (sota.metric, row)
        assert sota.confidence == row["confidence"].split(" ")[0]
        assert sota.split and sota.citation
        first_author = re.split(r"[ ,.]", sota.citation.replace("Leaderboard as reproduced in ", ""))[0]
        assert first_author in row["source"] or row["source"].startswith("same"), (first_author, row["source"])
    for did in NO_VERIFIED_VALUE:
        assert entries[did].sota.value is None, did


@pytest.mark.parametrize("dataset_id", sorted(EXPECTED))
def test_source_metric_names_map_onto_our_metrics_or_are_not_comparable(dataset_id):
    sota = next(i.entry.sota for i in load_builtin("llamalens") if i.entry.dataset_id == dataset_id)
    expected, labels = EXPECTED[dataset_id]
    assert metrics.comparable_metric(sota.metric, _available(labels)) == expected


def test_a_sota_value_needs_its_metric_and_citation():
    entry = {"name": "X", "language": "en", "task": "Sentiment", "task_type": "classification"}
    with pytest.raises(
        LensforgeError, match=r"x\.yaml: invalid entry: sota: a SOTA value needs its metric and its citation"
    ):
        parse_entry({**entry, "sota": {"metric": "macro-F1", "value": 0.8}}, "x.yaml")
    with pytest.raises(LensforgeError, match=r"sota.confidence"):
        parse_entry({**entry, "sota": {"metric": "m", "value": 0.8, "citation": "c", "confidence": "sure"}}, "x.yaml")


def test_build_registry_keeps_the_hand_added_sota(tmp_path, monkeypatch):
    csv_path = REFERENCE / "llamalens_datasets.csv"
    spec = importlib.util.spec_from_file_location("build_registry", ROOT / "tools" / "build_registry.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    copy = tmp_path / "registry"
    shutil.copytree(ROOT / "lensforge" / "registry", copy)
    monkeypatch.setattr(tool, "REGISTRY", copy)
    tool.main(str(csv_path))
    for rel in ("ar/arsarcasm-v2@v2.yaml", "hi/hasoc2019@2019.yaml"):
        before = yaml.safe_load((ROOT / "lensforge" / "registry" / rel).read_text(encoding="utf-8"))["sota"]
        after = yaml.safe_load((copy / rel).read_text(encoding="utf-8"))["sota"]
        assert after == before and set(after) == {"metric", "value", "citation", "split", "confidence", "note"}
