"""The dataset card (README.md) of a snapshot: Hub metadata that `datasets.load_dataset` reads, and a body for people.

The front matter names the parquet file of each split (`configs`), the columns and row counts (`dataset_info`;
`load_dataset` checks the counts), the licences, languages and task categories the Hub indexes. The body says what
the snapshot holds, how it was built (from the manifest), each source dataset with its label space and licence, and
every source's citation. The text depends only on its inputs (no clock), because the card is hashed into the id.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

SPLITS = ("train", "dev", "test")

# The snapshot columns, in `datasets` YAML form (Features._to_yaml_list of the parquet schema).
FEATURES: list[dict[str, Any]] = [
    *(
        {"name": name, "dtype": "string"}
        for name in ("id", "dataset", "language", "task", "split", "instruction_id", "instruction", "input", "output")
    ),
    {"name": "messages", "list": [{"name": "role", "dtype": "string"}, {"name": "content", "dtype": "string"}]},
]

FIELD_DOCS = {
    "id": "sample id of the source row",
    "dataset": "source dataset id",
    "language": "language of the input text",
    "task": "task name of the source dataset",
    "split": "train, dev or test",
    "instruction_id": "id of the instruction used for this row",
    "instruction": "the instruction text",
    "input": "the text to analyse (pair tasks: both texts)",
    "output": "the expected answer: the canonical label(s), or the summary",
    "messages": "chat form of the row: system, user (instruction and input), assistant (the answer)",
}

LANGUAGE_NAMES = {"ar": "Arabic", "en": "English", "hi": "Hindi"}

# Free-text licence names seen in the registry, mapped to Hub licence ids.
_LICENSE_ALIASES = {
    "apache license, version 2.0": "apache-2.0",
    "apache license 2.0": "apache-2.0",
    "apache 2.0": "apache-2.0",
    "mit license": "mit",
    "cc0": "cc0-1.0",
    "public domain": "cc0-1.0",
}
# The Hub licence ids a slug may match (a subset of https://huggingface.co/docs/hub/repositories-licenses).
_HUB_LICENSES = frozenset(
    {
        "apache-2.0",
        "mit",
        "afl-3.0",
        "artistic-2.0",
        "bsd",
        "bsd-2-clause",
        "bsd-3-clause",
        "cc",
        "cc0-1.0",
        "cc-by-2.0",
        "cc-by-2.5",
        "cc-by-3.0",
        "cc-by-4.0",
        "cc-by-sa-3.0",
        "cc-by-sa-4.0",
        "cc-by-nc-2.0",
        "cc-by-nc-3.0",
        "cc-by-nc-4.0",
        "cc-by-nd-4.0",
        "cc-by-nc-nd-3.0",
        "cc-by-nc-nd-4.0",
        "cc-by-nc-sa-2.0",
        "cc-by-nc-sa-3.0",
        "cc-by-nc-sa-4.0",
        "gpl-2.0",
        "gpl-3.0",
        "lgpl-3.0",
        "agpl-3.0",
        "mpl-2.0",
        "odc-by",
        "odbl",
        "pddl",
        "unknown",
    }
)

ORDER_DOCS = {
    "alphabetical": "rows sorted by language, dataset and sample id",
    "language": "rows grouped by language, seeded shuffle within each language",
    "task": "rows grouped by task, seeded shuffle within each task",
    "random": "seeded shuffle of all rows",
}


def hub_license(text: str | None) -> str | None:
    """The Hub licence id for a free-text licence name, or None when it has none (so the card says `other`)."""
    if text is None or not text.strip():
        return "unknown"
    lowered = " ".join(text.strip().lower().split())
    if lowered in _LICENSE_ALIASES:
        return _LICENSE_ALIASES[lowered]
    slug = re.sub(r"[\s_]+", "-", lowered)
    slug = re.sub(r"-+", "-", slug)
    return slug if slug in _HUB_LICENSES else None


def data_summary(data_dir: Path) -> dict[str, dict[str, int]]:
    """Rows and in-memory bytes per split of a `data/` folder, the `summary` the card's `splits` metadata wants."""
    import pyarrow.parquet as pq

    rows, num_bytes = {}, {}
    for split in SPLITS:
        path = Path(data_dir) / f"{split}.parquet"
        if path.is_file():
            table = pq.read_table(path)
            rows[split] = int(table.num_rows)
            num_bytes[split] = int(table.nbytes)
    return {"rows": rows, "num_bytes": num_bytes}


def render_card(
    manifest: dict[str, Any], datasets: list[dict[str, Any]], *, title: str, summary: dict[str, Any]
) -> str:
    """README.md text for a snapshot: YAML front matter for the Hub and `load_dataset`, then the human card.

    `manifest` is the snapshot manifest (or just `{"inputs": ...}` while building): inputs `mixture`, `order`,
    `instructions`, `seed`, `caps`, `code_version` and `datasets` (per dataset `dataset_id`, `version_id`,
    `mapping_version_id`, `instruction_ids`, `test_instruction_id`). `datasets` describes each source
    (dataset_id, name, language, task, task_type, license, citation, source_url, label_space, rows).
    `summary` gives `rows` per split (and optionally `num_bytes` per split; see `data_summary`). A split with
    no rows is left out of the metadata, because `load_dataset` refuses an empty split.
    """
    inputs = manifest.get("inputs") or {}
    rows = _split_rows(manifest, datasets, summary)
    num_bytes = summary.get("num_bytes") or {}
    present = [s for s in SPLITS if rows.get(s, 0) > 0] or ["train"]
    meta = _front_matter(title, datasets, rows, num_bytes, present)
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000)
    body = _body(title, manifest, inputs, datasets, rows, summary, present)
    return f"---\n{front}---\n\n{body}"


def _split_rows(manifest: dict[str, Any], datasets: list[dict[str, Any]], summary: dict[str, Any]) -> dict[str, int]:
    given = summary.get("rows") or manifest.get("rows")
    if given:
        return {s: int(given.get(s) or 0) for s in SPLITS}
    return {s: sum(int((d.get("rows") or {}).get(s) or 0) for d in datasets) for s in SPLITS}


def _licenses(datasets: list[dict[str, Any]]) -> dict[str, Any]:
    ids = {hub_license(d.get("license")) for d in datasets}
    texts = sorted({(d.get("license") or "").strip() or "not stated" for d in datasets})
    if len(ids) == 1 and None not in ids:
        return {"license": ids.pop()}
    if len(texts) == 1:
        return {"license": "other", "license_name": _slug(texts[0]) or "other"}
    return {"license": "other", "license_name": "mixed-source-licenses"}


def _task_categories(datasets: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    cats, ids = set(), set()
    for d in datasets:
        task_type = d.get("task_type")
        if task_type == "generation":
            cats.add("summarization" if "summar" in str(d.get("task", "")).lower() else "text-generation")
        elif task_type in ("classification", "multilabel", "pair_classification"):
            cats.add("text-classification")
            if task_type == "multilabel":
                ids.add("multi-label-classification")
    return sorted(cats), sorted(ids)


def _size_category(total: int) -> str:
    for limit, name in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
    ):
        if total < limit:
            return name
    return "10M<n<100M"


def _front_matter(
    title: str,
    datasets: list[dict[str, Any]],
    rows: dict[str, int],
    num_bytes: dict[str, int],
    present: list[str],
) -> dict[str, Any]:
    languages = sorted({str(d["language"]) for d in datasets if d.get("language")})
    categories, task_ids = _task_categories(datasets)
    tags = ["instruction-tuning", "chat", "lensforge"]
    tags += sorted({_slug(str(d["task"])) for d in datasets if d.get("task")} - set(tags) - {""})
    meta: dict[str, Any] = {"pretty_name": _one_line(title)}
    meta.update(_licenses(datasets))
    meta["language"] = languages
    meta["multilinguality"] = "multilingual" if len(languages) > 1 else "monolingual"
    meta["size_categories"] = [_size_category(sum(rows.values()))]
    meta["task_categories"] = categories
    if task_ids:
        meta["task_ids"] = task_ids
    meta["tags"] = tags
    meta["configs"] = [
        {
            "config_name": "default",
            "data_files": [{"split": s, "path": f"data/{s}.parquet"} for s in present],
        }
    ]
    meta["dataset_info"] = {
        "features": FEATURES,
        "splits": [
            {"name": s, "num_bytes": int(num_bytes.get(s) or 0), "num_examples": int(rows.get(s, 0))} for s in present
        ],
    }
    return meta


def _body(
    title: str,
    manifest: dict[str, Any],
    inputs: dict[str, Any],
    datasets: list[dict[str, Any]],
    rows: dict[str, int],
    summary: dict[str, Any],
    present: list[str],
) -> str:
    languages = sorted({str(d["language"]) for d in datasets if d.get("language")})
    lang_text = ", ".join(f"{LANGUAGE_NAMES.get(code, code)} (`{code}`)" for code in languages) or "no language"
    out: list[str] = [f"# {_one_line(title)}", ""]
    intro = (
        f"An instruction-tuning dataset built by lensforge from {len(datasets)} labelled news and social-media "
        f"dataset{'s' if len(datasets) != 1 else ''} in {lang_text}, in the style of LlamaLens. Each row is one "
        "labelled sample: an instruction, the input text and the expected output, plus a `messages` list "
        "(system, user, assistant) that chat fine-tuning tools read directly."
    )
    out += [intro, ""]
    if manifest.get("snapshot_id"):
        out += [f"Snapshot id: `{manifest['snapshot_id']}` (content-addressed; `manifest.json` lists every input).", ""]

    out += ["## Loading", "", "```python", "from datasets import load_dataset", ""]
    out += ['ds = load_dataset("ORG/NAME")  # or the path of a local copy of this folder']
    out += [f"# splits: {', '.join(present)}", "```", ""]
    out += ["| split | rows |", "| --- | ---: |"]
    out += [f"| {s} | {rows.get(s, 0):,} |" for s in SPLITS]
    out += [f"| total | {sum(rows.values()):,} |", ""]
    missing = [s for s in SPLITS if s not in present]
    if missing:
        out += [
            f"Empty split{'s' if len(missing) > 1 else ''} ({', '.join(missing)}) left out of the configuration.",
            "",
        ]
    out += ["Fields:", ""]
    out += [f"- `{name}`: {doc}" for name, doc in FIELD_DOCS.items()]
    out += [""]

    out += ["## How it was built", ""]
    out += _build_lines(inputs, summary)
    out += [""]
    per_input = inputs.get("datasets") or []
    if per_input:
        out += ["| dataset | version | mapping version | instructions | test instruction |"]
        out += ["| --- | --- | --- | ---: | --- |"]
        for item in per_input:
            out.append(
                "| "
                + " | ".join(
                    [
                        _cell(item.get("dataset_id")),
                        _code(item.get("version_id")),
                        _code(item.get("mapping_version_id")),
                        str(len(item.get("instruction_ids") or [])),
                        _code(item.get("test_instruction_id")),
                    ]
                )
                + " |"
            )
        out += [""]

    out += ["## Source datasets", ""]
    out += ["| dataset | name | language | task | train | dev | test | labels | licence |"]
    out += ["| --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for d in datasets:
        counts = d.get("rows") or {}
        labels = d.get("label_space") or []
        out.append(
            "| "
            + " | ".join(
                [
                    _cell(d.get("dataset_id")),
                    _cell(d.get("name")),
                    _cell(d.get("language")),
                    _cell(d.get("task")),
                    *(f"{int(counts.get(s) or 0):,}" for s in SPLITS),
                    str(len(labels)) if labels else "generation" if d.get("task_type") == "generation" else "0",
                    _cell(d.get("license") or "not stated"),
                ]
            )
            + " |"
        )
    out += [""]

    out += ["## Label spaces", ""]
    out += ["Outputs use the canonical label names (multi-label rows join their labels with `, `).", ""]
    for d in datasets:
        labels = d.get("label_space") or []
        shown = ", ".join(_code(lab) for lab in labels) if labels else "free text"
        out.append(f"- **{_cell(d.get('dataset_id'))}** ({_cell(d.get('task_type'))}): {shown}")
    out += [""]

    out += ["## Licences", ""]
    out += _licence_lines(datasets)
    out += [""]

    out += ["## Citations", ""]
    out += ["Cite the source datasets when you use this snapshot.", ""]
    for d in datasets:
        out += [f"### {_one_line(str(d.get('dataset_id')))}", ""]
        if d.get("source_url"):
            out += [f"Source: <{_one_line(str(d['source_url']))}>", ""]
        citation = (d.get("citation") or "").strip()
        if citation:
            fence = "`" * max(3, _longest_backtick_run(citation) + 1)
            lang = "bibtex" if citation.startswith("@") else "text"
            out += [f"{fence}{lang}", citation, fence, ""]
        else:
            out += ["No citation recorded for this dataset; see its source.", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _build_lines(inputs: dict[str, Any], summary: dict[str, Any]) -> list[str]:
    def pick(key: str) -> Any:
        return inputs.get(key, summary.get(key))

    lines = []
    if pick("mixture") is not None:
        lines.append(f"- Mixture: `{_one_line(str(pick('mixture')))}`")
    order = pick("order")
    if order is not None:
        doc = ORDER_DOCS.get(str(order))
        lines.append(f"- Order: `{order}`" + (f" ({doc})" if doc else ""))
    mode = pick("instructions")
    if mode is not None:
        lines.append(
            f"- Instructions: `{mode}`; train and dev rows get one seeded random active instruction of their "
            "dataset, test rows the dataset's first instruction (zero-shot prompt)"
        )
    if pick("seed") is not None:
        lines.append(f"- Seed: `{pick('seed')}`")
    caps = pick("caps")
    if isinstance(caps, dict):
        shown = ", ".join(f"{k} {int(v):,}" if v else f"{k} none" for k, v in caps.items())
        lines.append(f"- Caps per dataset: {shown} (train caps keep the label distribution)")
    elif caps is not None:
        lines.append(f"- Caps: `{caps}`")
    code = pick("code_version")
    if isinstance(code, dict):
        lines.append("- Code version: " + ", ".join(f"{k} `{v}`" for k, v in code.items()))
    elif code is not None:
        lines.append(f"- Code version: `{code}`")
    return lines or ["- No build inputs recorded."]


def _licence_lines(datasets: list[dict[str, Any]]) -> list[str]:
    by_licence: dict[str, list[str]] = {}
    for d in datasets:
        by_licence.setdefault((d.get("license") or "").strip() or "not stated", []).append(str(d.get("dataset_id")))
    lines = ["Each row keeps the licence of its source dataset:", ""]
    for licence in sorted(by_licence):
        lines.append(f"- {_cell(licence)}: {', '.join(_cell(x) for x in by_licence[licence])}")
    if len(by_licence) > 1 or any(hub_license(d.get("license")) is None for d in datasets):
        lines += ["", "The metadata says `license: other` because the sources differ or name no Hub licence id."]
    return lines


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _cell(value: Any) -> str:
    """A value safe inside a markdown table cell (one line, pipes escaped)."""
    return _one_line("" if value is None else str(value)).replace("|", "\\|")


def _longest_backtick_run(text: str) -> int:
    return max((len(m) for m in re.findall(r"`+", text)), default=0)


def _code(value: Any) -> str:
    if value is None or value == "":
        return "-"
    text = _cell(value)
    ticks = "`" * (_longest_backtick_run(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"
