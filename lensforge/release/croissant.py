"""croissant.json: the snapshot described in Croissant 1.0 (JSON-LD), with the Responsible-AI fields we know.

Croissant is what dataset search engines and loaders (mlcroissant, TFDS, the Hub's viewer) read. It lists the
files (each split's Parquet file with its SHA-256), one record set per published split whose fields come from the
snapshot schema, and the RAI vocabulary (`rai:dataBiases`, `rai:dataLimitations`, ...) filled from the same notes
as the card's bias, risks and limitations section. Like the card, it depends only on its inputs (no clock).
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from lensforge.release.card import hub_license, risk_notes, source_dataset
from lensforge.release.schema import COLUMNS, LICENSES, SPLITS, data_file, hub_split

CROISSANT_VERSION = "http://mlcommons.org/croissant/1.0"
RAI_VERSION = "http://mlcommons.org/croissant/RAI/1.0"
_SPDX = "https://spdx.org/licenses/"

# The JSON-LD context of Croissant 1.0 (the vocabulary every Croissant file declares).
CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}

# Hub licence ids -> SPDX ids (Croissant recommends a licence URL).
_SPDX_IDS = {
    "apache-2.0": "Apache-2.0",
    "mit": "MIT",
    "cc0-1.0": "CC0-1.0",
    "cc-by-4.0": "CC-BY-4.0",
    "cc-by-sa-4.0": "CC-BY-SA-4.0",
    "cc-by-nc-4.0": "CC-BY-NC-4.0",
    "cc-by-nc-sa-4.0": "CC-BY-NC-SA-4.0",
    "cc-by-nc-nd-4.0": "CC-BY-NC-ND-4.0",
    "cc-by-3.0": "CC-BY-3.0",
    "cc-by-sa-3.0": "CC-BY-SA-3.0",
    "gpl-3.0": "GPL-3.0-only",
    "odc-by": "ODC-By-1.0",
    "odbl": "ODbL-1.0",
    "pddl": "PDDL-1.0",
}


def _licence(datasets: list[dict[str, Any]]) -> list[str]:
    """One SPDX URL when every source shares a known licence, else the file that lists each source's terms."""
    ids = {hub_license(d.get("license")) for d in datasets}
    if len(ids) == 1:
        only = ids.pop()
        if only in _SPDX_IDS:
            return [_SPDX + _SPDX_IDS[only]]
    return [LICENSES]


def _field(record_set: str, file_id: str, name: str, dtype: pl.DataType, doc: str) -> dict[str, Any]:
    field: dict[str, Any] = {"@type": "cr:Field", "@id": f"{record_set}/{name}", "name": name, "description": doc}
    source = {"fileObject": {"@id": file_id}, "extract": {"column": name}}
    if isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct):
        field["repeated"] = True
        field["subField"] = [
            {
                "@type": "cr:Field",
                "@id": f"{record_set}/{name}/{sub.name}",
                "name": sub.name,
                "dataType": "sc:Text",
                "source": {**source, "transform": {"jsonPath": sub.name}},
            }
            for sub in dtype.inner.fields
        ]
    else:
        field["dataType"] = "sc:Text"
        field["source"] = source
    return field


def render_croissant(
    manifest: dict[str, Any],
    datasets: list[dict[str, Any]],
    *,
    title: str,
    rows: dict[str, int],
    file_hashes: dict[str, str],
) -> str:
    """The croissant.json text: files with their hashes, one record set per non-empty split, RAI notes."""
    present = [s for s in SPLITS if rows.get(s, 0) > 0] or ["train"]
    distribution, record_sets = [], []
    for split in present:
        published = hub_split(split)
        file_id = f"{published}-parquet"
        distribution.append(
            {
                "@type": "cr:FileObject",
                "@id": file_id,
                "name": file_id,
                "description": f"The {published} split ({split} rows), {rows.get(split, 0):,} rows.",
                "contentUrl": data_file(split),
                "encodingFormat": "application/x-parquet",
                "sha256": file_hashes.get(data_file(split), ""),
            }
        )
        record_sets.append(
            {
                "@type": "cr:RecordSet",
                "@id": published,
                "name": published,
                "description": f"Rows of the {published} split.",
                "field": [_field(published, file_id, name, dtype, doc) for name, (dtype, doc) in COLUMNS.items()],
            }
        )
    notes = risk_notes(manifest, datasets)
    citations = [str(d.get("citation")).strip() for d in datasets if (d.get("citation") or "").strip()]
    languages = sorted({str(d["language"]) for d in datasets if d.get("language")})
    inputs = manifest.get("inputs") or {}
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": [CROISSANT_VERSION, RAI_VERSION],
        "name": " ".join(title.split()),
        "description": (
            f"Instruction-tuning rows built by lensforge from {len(datasets)} labelled news and social-media "
            f"datasets (mixture {inputs.get('mixture', '?')!s}); each row has an instruction, an input, the expected "
            "output and a chat `messages` list."
        ),
        "license": _licence(datasets),
        "inLanguage": languages,
        "keywords": ["instruction-tuning", "social media", "news", *sorted({str(d.get("task")) for d in datasets})],
        "isBasedOn": sorted({source_dataset(d) for d in datasets}),
        "citeAs": "\n\n".join(citations) if citations else None,
        "distribution": distribution,
        "recordSet": record_sets,
        "rai:dataCollection": notes["sources"],
        "rai:dataCollectionType": ["Secondary Data Analysis"],
        "rai:dataPreprocessingProtocol": [
            "lensforge ingest: Unicode and whitespace normalisation, removal of too-short, unlabelled, duplicate and "
            "label-conflicting rows, leakage between a dataset's own splits; canonical labels through reviewed "
            "mappings; per-dataset caps; cross-dataset leakage check at snapshot build (see manifest.json)."
        ],
        "rai:dataAnnotationProtocol": [
            "Labels are the source datasets' own annotations, renamed to canonical labels by reviewed mappings."
        ],
        "rai:machineAnnotationTools": [notes["instructions"]],
        "rai:dataBiases": [notes["biases"]],
        "rai:dataLimitations": [notes["limitations"], *([notes["coverage"]] if notes.get("coverage") else [])],
        "rai:personalSensitiveInformation": [notes["personal_information"]],
        "rai:dataUseCases": [
            "Instruction fine-tuning and zero-shot evaluation of models for news and social-media analysis (research)."
        ],
    }
    if manifest.get("snapshot_id"):
        doc["identifier"] = manifest["snapshot_id"]
    doc = {k: v for k, v in doc.items() if v is not None}
    return json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
