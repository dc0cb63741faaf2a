"""The dataset card (README.md) of a snapshot: Hub metadata that `datasets.load_dataset` reads, and a body for people.

The front matter names the parquet file of each split (`configs`; the dev rows are published as the `validation`
split every Hub tool expects), the columns and sizes (`dataset_info`, derived from the snapshot schema;
`load_dataset` checks the row counts), the licences (with `license_link` to LICENSES.md when the sources differ),
languages, task categories and ids, and the source datasets the Hub indexes. The body says what the snapshot holds,
how it was built (from the manifest), what the cross-dataset leakage check removed, each source dataset with its
label space and licence, bias, risks and limitations, and every source's citation. The text depends only on its
inputs (no clock), because the card is hashed into the id.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from lensforge.catalog.constants import TASK_TYPES
from lensforge.release.schema import FIELD_DOCS, LICENSES, SPLITS, card_features, data_file, hub_split

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
    """Rows, in-memory bytes and file bytes per split of a `data/` folder: the `summary` `render_card` wants.

    `num_bytes` is the size of the data as loaded (Arrow buffers), which is what the Hub's `dataset_info` means;
    `download_bytes` is the Parquet file size.
    """
    import pyarrow.parquet as pq

    rows, num_bytes, download = {}, {}, {}
    for split in SPLITS:
        path = Path(data_dir) / Path(data_file(split)).name
        if path.is_file():
            table = pq.read_table(path)
            rows[split] = int(table.num_rows)
            num_bytes[split] = int(table.nbytes)
            download[split] = int(path.stat().st_size)
    return {"rows": rows, "num_bytes": num_bytes, "download_bytes": download}


def render_card(
    manifest: dict[str, Any], datasets: list[dict[str, Any]], *, title: str, summary: dict[str, Any]
) -> str:
    """README.md text for a snapshot: YAML front matter for the Hub and `load_dataset`, then the human card.

    `manifest` is the snapshot manifest (or just `{"inputs": ...}` while building): inputs `mixture`, `order`,
    `instructions`, `seed`, `caps`, `code_version` and `datasets` (per dataset `dataset_id`, `version_id`,
    `mapping_version_id`, `instruction_ids`, `test_instruction_id`, optionally `allow_excluded`), and optionally
    `cross_leakage` (what the leakage check removed). `datasets` describes each source (dataset_id, name,
    language, task, task_type, license, citation, source_url, hub_repo, label_space, rows). `summary` gives
    `rows` per split (and optionally `num_bytes` and `download_bytes` per split; see `data_summary`). A split with
    no rows is left out of the metadata, because `load_dataset` refuses an empty split.
    """
    inputs = manifest.get("inputs") or {}
    rows = _split_rows(manifest, datasets, summary)
    present = [s for s in SPLITS if rows.get(s, 0) > 0] or ["train"]
    meta = _front_matter(title, datasets, rows, summary, present)
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
    name = (_slug(texts[0]) or "other") if len(texts) == 1 else "mixed-source-licenses"
    # `other` means nothing without the terms: license_link points at the file listing each source's licence.
    return {"license": "other", "license_name": name, "license_link": LICENSES}


# Task words -> the Hub's text-classification task ids (https://huggingface.co/tasks); checked in order.
_CLASSIFICATION_IDS = (
    (("sentiment", "emotion"), "sentiment-classification"),
    (("hate", "offens", "abus", "hostil", "toxic", "cyberbull"), "hate-speech-detection"),
    (("fact", "check", "claim", "rumo", "credib"), "fact-checking"),
    (("topic", "categor"), "topic-classification"),
    (("natural language inference", "nli", "entail"), "natural-language-inference"),
)


def task_tags(task: str, task_type: str) -> tuple[str, list[str]]:
    """The Hub task category and task ids of one dataset, from its task type (and its task name's keywords)."""
    name = task.lower()
    if task_type == "generation":
        if "summar" in name:
            return "summarization", ["news-articles-summarization"] if "news" in name else []
        return "text-generation", []
    ids = ["multi-label-classification" if task_type == "multilabel" else "multi-class-classification"]
    ids += [tag for words, tag in _CLASSIFICATION_IDS if any(w in name for w in words)]
    if task_type == "pair_classification" and "stance" in name:
        ids.append("fact-checking")
    return "text-classification", ids


def _task_categories(datasets: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    cats, ids = set(), set()
    for d in datasets:
        if d.get("task_type") not in TASK_TYPES:
            continue
        cat, tags = task_tags(str(d.get("task") or ""), str(d["task_type"]))
        cats.add(cat)
        ids.update(tags)
    return sorted(cats), sorted(ids)


def source_dataset(d: dict[str, Any]) -> str:
    """The Hub's `source_datasets` entry of a source: `extended|REPO` for a Hub dataset, else `extended|other-NAME`."""
    repo = d.get("hub_repo")
    return f"extended|{repo}" if repo else f"extended|other-{_slug(str(d.get('name') or d.get('dataset_id')))}"


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
    summary: dict[str, Any],
    present: list[str],
) -> dict[str, Any]:
    languages = sorted({str(d["language"]) for d in datasets if d.get("language")})
    categories, task_ids = _task_categories(datasets)
    num_bytes = summary.get("num_bytes") or {}
    download = summary.get("download_bytes") or {}
    tags = ["instruction-tuning", "chat", "lensforge"]
    tags += sorted({_slug(str(d["task"])) for d in datasets if d.get("task")} - set(tags) - {""})
    meta: dict[str, Any] = {"pretty_name": _one_line(title)}
    meta.update(_licenses(datasets))
    meta["language"] = languages
    meta["multilinguality"] = "multilingual" if len(languages) > 1 else "monolingual"
    meta["size_categories"] = [_size_category(sum(rows.values()))]
    meta["source_datasets"] = sorted({source_dataset(d) for d in datasets})
    meta["task_categories"] = categories
    if task_ids:
        meta["task_ids"] = task_ids
    meta["tags"] = tags
    meta["configs"] = [
        {
            "config_name": "default",
            "data_files": [{"split": hub_split(s), "path": data_file(s)} for s in present],
        }
    ]
    info: dict[str, Any] = {
        "features": card_features(),
        "splits": [
            {"name": hub_split(s), "num_bytes": int(num_bytes.get(s) or 0), "num_examples": int(rows.get(s, 0))}
            for s in present
        ],
    }
    if download:
        info["download_size"] = sum(int(download.get(s) or 0) for s in present)
    if num_bytes:
        info["dataset_size"] = sum(int(num_bytes.get(s) or 0) for s in present)
    meta["dataset_info"] = info
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
    out += [f"# splits: {', '.join(hub_split(s) for s in present)}", "```", ""]
    out += ["| split | rows |", "| --- | ---: |"]
    out += [f"| {hub_split(s)} | {rows.get(s, 0):,} |" for s in SPLITS]
    out += [f"| total | {sum(rows.values()):,} |", ""]
    out += [
        "The `validation` split holds the rows lensforge calls `dev` (their `split` column says `dev`; "
        "`manifest.json` maps the published names back under `splits`).",
        "",
    ]
    missing = [s for s in SPLITS if s not in present]
    if missing:
        out += [
            f"Empty split{'s' if len(missing) > 1 else ''} ({', '.join(hub_split(s) for s in missing)}) left out "
            "of the configuration.",
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
        overridden = [i for i in per_input if i.get("allow_excluded")]
        if overridden:
            out += ["Datasets a curator had excluded, used with a recorded reason:", ""]
            out += [f"- {_cell(i['dataset_id'])}: {_cell(i['allow_excluded'])}" for i in overridden]
            out += [""]

    out += _leakage_lines(manifest.get("cross_leakage"))

    out += ["## Source datasets", ""]
    out += ["| dataset | name | language | task | train | validation | test | labels | licence |"]
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

    out += ["## Bias, risks and limitations", ""]
    notes = risk_notes(manifest, datasets)
    for key, heading in RISK_HEADINGS.items():
        if notes.get(key):
            out += [f"- **{heading}.** {notes[key]}"]
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


def _leakage_lines(leak: dict[str, Any] | None) -> list[str]:
    if not leak:
        return []
    removed = leak.get("removed") or {}
    out = ["## Cross-dataset leakage", ""]
    out += [
        f"Every test and validation row's {leak.get('key') or 'normalised text key'} was looked up among the train "
        "rows of every dataset here, and every test row among the validation rows. "
        f"Policy `{leak.get('policy')}`: {int(removed.get('train') or 0):,} train and "
        f"{int(removed.get('dev') or 0):,} validation rows matched a held-out row and were removed; "
        "the held-out rows stay as published. Each removed row is listed in `cross_leakage.parquet`.",
        "",
    ]
    pairs = leak.get("pairs") or []
    if pairs:
        out += ["| removed from | split | matches | split | rows |", "| --- | --- | --- | --- | ---: |"]
        for p in pairs:
            out.append(
                f"| {_cell(p['dataset'])} | {hub_split(p['split'])} | {_cell(p['held_out_dataset'])} | "
                f"{hub_split(p['held_out_split'])} | {int(p['rows']):,} |"
            )
        out += [""]
    return out


RISK_HEADINGS = {
    "sources": "Sources and labels",
    "biases": "Bias",
    "personal_information": "Personal information",
    "coverage": "Coverage",
    "instructions": "Instructions",
    "limitations": "Limitations",
}
_HARMFUL = ("hate", "offens", "abus", "hostil", "toxic", "cyberbull", "harm")


def risk_notes(manifest: dict[str, Any], datasets: list[dict[str, Any]]) -> dict[str, str]:
    """What a user of this snapshot should know before training on it (the card's section, Croissant's RAI fields).

    Written from the snapshot's own facts: its sources, which tasks involve harmful content, row counts per
    language, what the leakage check removed.
    """
    n = len(datasets)
    harmful = [str(d.get("dataset_id")) for d in datasets if any(w in str(d.get("task", "")).lower() for w in _HARMFUL)]
    by_language: dict[str, int] = {}
    for d in datasets:
        lang = str(d.get("language") or "?")
        by_language[lang] = by_language.get(lang, 0) + int((d.get("rows") or {}).get("train") or 0)
    coverage = ", ".join(f"{LANGUAGE_NAMES.get(lang, lang)} {count:,}" for lang, count in sorted(by_language.items()))
    notes = {
        "sources": (
            f"The rows come from {n} published dataset{'s' if n != 1 else ''}, labelled by different teams under "
            "different guidelines, platforms and time periods. Canonical labels merge source spellings through "
            "reviewed mappings, but the same label name (e.g. `offensive`) need not mean the same thing in two "
            "datasets."
        ),
        "biases": (
            (
                f"{', '.join(harmful)} hold{'s' if len(harmful) == 1 else ''} hateful, offensive or hostile posts, "
                "quoted verbatim. Their labels reflect their annotators' judgements; classifiers trained on such "
                "data are known to flag dialectal and minority-group language as offensive more often than other "
                "language. "
                if harmful
                else ""
            )
            + "Datasets were sampled by keyword, period and platform, so topics and dialects are unevenly covered."
        ),
        "personal_information": (
            "Posts are quoted as published apart from whitespace and Unicode normalisation: they can hold names, "
            "@mentions and other personal information of their authors or of the people they mention."
        ),
        "coverage": f"Training rows per language: {coverage}." if coverage else "",
        "instructions": (
            "Instructions were written by an LLM or lensforge's offline template provider and checked automatically "
            "(length, script, every label named); not every one was read by a person."
        ),
        "limitations": (
            "Test splits are the sources' own where they publish one, so scores compare with the literature only for "
            "those. The leakage check matches exact normalised texts; lightly edited copies across datasets can "
            "remain. Use for research on news and social-media analysis; not for moderating or profiling individuals "
            "without human review."
        ),
    }
    leak = manifest.get("cross_leakage") or {}
    removed = leak.get("removed") or {}
    if removed:
        notes["limitations"] += (
            f" {int(removed.get('train') or 0):,} train and {int(removed.get('dev') or 0):,} validation rows that "
            "repeated another dataset's held-out rows were removed."
        )
    return notes


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
        lines += [
            "",
            "The metadata says `license: other` because the sources differ or name no Hub licence id; "
            f"`{LICENSES}` lists each source's terms.",
        ]
    return lines


def render_licenses(datasets: list[dict[str, Any]]) -> str:
    """LICENSES.md: each source dataset's licence as stated, its Hub licence id, and where its terms are."""
    out = [
        "# Licences of the source datasets",
        "",
        "This snapshot mixes rows of the datasets below; each row keeps its source's licence (see the `dataset` "
        "column). Check each source's terms before redistributing or training on it.",
        "",
        "| dataset | licence as stated | Hub licence id | source |",
        "| --- | --- | --- | --- |",
    ]
    for d in datasets:
        out.append(
            "| "
            + " | ".join(
                [
                    _cell(d.get("dataset_id")),
                    _cell((d.get("license") or "").strip() or "not stated"),
                    _code(hub_license(d.get("license")) or "none"),
                    f"<{_one_line(str(d['source_url']))}>" if d.get("source_url") else "-",
                ]
            )
            + " |"
        )
    return "\n".join(out) + "\n"


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
