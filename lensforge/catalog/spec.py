"""The shape of a registry entry: one candidate dataset and, where we can read it, how to ingest it.

Validated with pydantic when loaded, so a typo in a YAML file is reported with its file and
field instead of surfacing as a KeyError three stages later.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lensforge.catalog.constants import Split, TaskType
from lensforge.catalog.languages import ISO_639_1

Status = Literal["candidate", "selected", "excluded"]
FileFormat = Literal["csv", "tsv", "jsonl", "json", "parquet", "xlsx"]
Collection = Literal["llamalens", "demo", "user"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalSource(_Strict):
    """A local mirror folder, found as <sources>/<slug>."""

    slug: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    license_note: str | None = None  # licence as stated by the mirrored source


class HubSource(_Strict):
    """A Hugging Face dataset: load_dataset(repo, config, revision=...)."""

    repo: str = Field(pattern=r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+$")
    config: str | None = None
    revision: str | None = None


class SourceSpec(_Strict):
    local: LocalSource | None = None
    url: str | None = None
    hub: HubSource | None = None
    package: str | None = None  # a folder shipped inside lensforge (the demo corpus)


class FileSpec(_Strict):
    """One raw file and the split its rows belong to."""

    split: Split
    path: str = Field(min_length=1)  # relative to the source folder
    member: str | None = None  # a file inside the zip archive at `path`
    labelled: bool = True  # False for official test files shipped without labels
    expected_records: int | None = Field(default=None, ge=0)  # as counted by the source's docs


class ColumnMap(_Strict):
    """Which raw column holds each field of the normalised schema."""

    text: str
    id: str | None = None
    text_pair: str | None = None
    label: str | None = None
    target: str | None = None


class LabelDecoding(_Strict):
    """How raw label values become decoded labels (before curation)."""

    space: list[str] = Field(default_factory=list)  # values the decoded label may take
    mapping: dict[str, str] = Field(default_factory=dict)  # raw -> decoded, e.g. "0" -> "not-check-worthy"
    multilabel_separator: str | None = None
    strip: bool = True


class IngestSpec(_Strict):
    """Everything a reader needs to turn the raw files into normalised rows."""

    format: FileFormat
    files: list[FileSpec] = Field(min_length=1)
    columns: ColumnMap
    labels: LabelDecoding = Field(default_factory=LabelDecoding)
    delimiter: str | None = None  # default: "," for csv, TAB for tsv
    quoting: bool = True  # False: quote characters are ordinary text
    header: bool = True
    column_names: list[str] | None = None  # required when header is False
    encoding: str = "utf-8"  # a UTF-8 BOM is accepted either way
    sheet: str | None = None  # xlsx
    records_key: str | None = None  # json: the key that holds the list of records
    html_unescape: bool = False
    strip_outer_quotes: bool = False  # texts stored as """...""" keep literal quotes otherwise
    ragged: Literal["quarantine", "pad_unused"] = "quarantine"

    @model_validator(mode="after")
    def _check(self) -> IngestSpec:
        if not self.header and not self.column_names:
            raise ValueError("column_names is required when header is false")
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise ValueError("delimiter must be a single character")
        return self


SotaConfidence = Literal["high", "medium", "low"]


class Sota(_Strict):
    """A published reference score, kept as the source states it.

    `metric` is the source's own name for it ("F-score of the sarcastic class", "macro-F1"); the
    evaluate stage maps it to a metric it computes or shows the value as not comparable. `split`
    and `note` say where the value was measured and what limits the comparison (another split, a
    lower bound), `confidence` how sure the reading of the source is. A value without its metric
    and citation cannot be checked, so input carrying one is refused (`cited`, checked where entries
    and SOTA rows are read; a catalog written before this rule still loads).
    """

    metric: str | None = None
    value: float | None = Field(default=None, ge=0, le=100)  # a fraction, or percent as the source gives it
    citation: str | None = None
    split: str | None = None
    confidence: SotaConfidence | None = None
    note: str | None = None

    @property
    def cited(self) -> bool:
        """No value, or a value with the metric and citation that let a reader check it."""
        return self.value is None or bool(self.metric and self.citation)


class PublishedSizes(_Strict):
    train: int | None = Field(default=None, ge=0)
    dev: int | None = Field(default=None, ge=0)
    test: int | None = Field(default=None, ge=0)


class DatasetEntry(_Strict):
    """One candidate dataset, identified by name, language and release version."""

    name: str = Field(min_length=1)
    language: str
    version: str | None = None
    task: str = Field(min_length=1)
    task_type: TaskType
    capability: str | None = None
    task_definition: str | None = None
    labels: list[str] = Field(default_factory=list)  # label list as published
    label_native: dict[str, dict[str, str]] = Field(default_factory=dict)  # label -> {lang: name}
    license: str | None = None
    citation: str | None = None
    source_url: str | None = None
    source: SourceSpec = Field(default_factory=SourceSpec)
    ingest: IngestSpec | None = None
    has_official_split: Literal["yes", "no", "unknown"] | None = None
    published_sizes: PublishedSizes = Field(default_factory=PublishedSizes)
    sota: Sota = Field(default_factory=Sota)
    status: Status = "candidate"
    exclusion_reason: str | None = None
    superseded_by: str | None = None  # a reference: [lang/]name[@version]
    in_final_52: Literal["yes", "no", "unknown"] | None = None
    collection: Collection = "user"
    notes: str | None = None

    @field_validator("language")
    @classmethod
    def _language(cls, v: str) -> str:
        if v not in ISO_639_1:
            raise ValueError(f"unknown language {v!r}: use an ISO 639-1 code such as ar, en, hi")
        return v

    @field_validator("labels")
    @classmethod
    def _unique_labels(cls, v: list[str]) -> list[str]:
        seen = set()
        for label in v:
            if label in seen:
                raise ValueError(f"label {label!r} listed twice")
            seen.add(label)
        return v

    @model_validator(mode="after")
    def _consistent(self) -> DatasetEntry:
        if self.status == "excluded" and not self.exclusion_reason:
            raise ValueError("an excluded dataset needs an exclusion_reason")
        if self.superseded_by and self.status != "excluded":
            raise ValueError("a superseded dataset must have status excluded")
        for label in self.label_native:
            if label not in self.label_space:
                raise ValueError(f"label_native names {label!r}, which is not in the label space")
        if self.ingest is not None:
            cols = self.ingest.columns
            if self.task_type == "generation" and not cols.target:
                raise ValueError("a generation dataset's ingest.columns needs a target column")
            if self.task_type == "pair_classification" and not cols.text_pair:
                raise ValueError("a pair_classification dataset's ingest.columns needs text_pair")
            if self.task_type != "generation" and not cols.label:
                raise ValueError("ingest.columns needs a label column for a labelled task")
            if self.task_type == "multilabel" and not self.ingest.labels.multilabel_separator:
                raise ValueError("a multilabel dataset needs ingest.labels.multilabel_separator")
        return self

    @property
    def dataset_id(self) -> str:
        return make_dataset_id(self.language, self.name, self.version)

    @property
    def label_space(self) -> list[str]:
        """Working label space: the decoded values when the ingest spec lists them, else as published.

        Multi-label entries published as comma-joined combinations are split into atomic labels.
        """
        if self.ingest is not None and self.ingest.labels.space:
            return list(self.ingest.labels.space)
        if self.task_type == "multilabel":
            atoms: list[str] = []
            for combo in self.labels:
                for part in combo.split(","):
                    part = part.strip()
                    if part and part not in atoms:
                        atoms.append(part)
            return atoms
        return list(self.labels)

    def spec_hash(self) -> str:
        """Hash of the entry's content; a changed registry file changes it."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def make_dataset_id(language: str, name: str, version: str | None) -> str:
    """The catalog key: language/name, plus @version when the release has one."""
    return f"{language}/{name}" + (f"@{version}" if version else "")
