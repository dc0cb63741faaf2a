"""Side-by-side reports of evaluations (a base model and its fine-tuned adapter, say) against SOTA.

A report is a folder under `reports/`: `report.md` for reading anywhere, `report.html` with the same
tables and the charts, `report.json` with the table data for the app, and `charts/` with each chart's
Vega-Lite spec (plus SVG and PNG when the optional vl-convert package is installed; the HTML then
embeds the SVG so it works offline, else it renders the specs with vega-embed from a CDN).

Values are fractions in [0, 1], as stored; SOTA values the catalog gives in percent are divided by
100 so the difference is meaningful. Each dataset's score comes with its context, from the floor up:
the majority baseline (always answering the most frequent gold label of the test rows, on the
dataset's primary metric), the classical baseline (TF-IDF + logistic regression, `evaluate.baseline`;
the newest one on the same snapshot joins the report by itself), the models, and the published SOTA
with its citation, split and confidence, or "not comparable" when its metric is not one we compute.
Per class, precision/recall/F1 and a confusion matrix (unparseable answers in a column of their own)
show where a model goes wrong. Unparseable answers are one unit everywhere: percent of the test rows.
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path
from typing import Any

import altair as alt
import polars as pl

from lensforge.catalog.constants import LABELLED_TASK_TYPES
from lensforge.catalog.datasets import dataset_frame
from lensforge.catalog.db import connect
from lensforge.curate.mappings import label_vocabulary, mapping_chain
from lensforge.errors import LensforgeError
from lensforge.evaluate import metrics
from lensforge.evaluate.baseline import is_classical
from lensforge.evaluate.extract import split_labels
from lensforge.evaluate.store import get_eval, list_evals
from lensforge.finetune.runs import loss_curve, run_record
from lensforge.release.store import get_snapshot
from lensforge.workspace import Workspace, write_text_atomic

VEGA_CDN = (
    '<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>\n'
    '<script src="https://cdn.jsdelivr.net/npm/vega-lite@5"></script>\n'
    '<script src="https://cdn.jsdelivr.net/npm/vega-embed@6"></script>'
)
_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: right; }
th:first-child, td:first-child, td.text { text-align: left; }
th { background: #f3f3f3; }
td.up { color: #0a6b2d; } td.down { color: #a3190f; }
.note { color: #555; font-size: 0.9rem; }
"""


def _vl_convert() -> Any | None:
    """The vl-convert module when installed (optional: PNG/SVG export and offline HTML charts)."""
    try:
        import vl_convert
    except ImportError:
        return None
    return vl_convert


CLASSICAL = "classical baseline"
MAJORITY = "majority baseline"
NOT_COMPARABLE = "not comparable"
SOTA_FIELDS = ("metric", "value", "citation", "split", "confidence", "note")


def _role(row: dict[str, Any]) -> str:
    if is_classical(row):
        return CLASSICAL
    return "fine-tuned" if row.get("adapter") or row.get("run_id") else "base"


def _primary_map(ev: dict[str, Any]) -> dict[str, str]:
    """The primary metric per dataset as the evaluation chose it (the task type's default if unrecorded)."""
    chosen = dict((ev.get("params") or {}).get("primary_metrics") or {})
    for item in (ev.get("summary") or {}).get("datasets", []):
        chosen.setdefault(item["dataset_id"], item.get("primary_metric") or metrics.default_metric(item["task_type"]))
    return chosen


def _finished(ws: Workspace, eval_id: str) -> dict[str, Any]:
    ev = get_eval(ws, eval_id)
    if ev["status"] != "finished":
        raise LensforgeError(f"evaluation {eval_id} is {ev['status']}, not finished", hint=ev.get("error") or None)
    return ev


def _value(ev: dict[str, Any], dataset_id: str, metric: str) -> float | None:
    for s in ev["scores"]:
        if s["dataset_id"] == dataset_id and s["metric"] == metric:
            return s["value"]
    return None


def _dataset_meta(ev: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per dataset (in the evaluation's order, which follows the snapshot): language, task, counts, SOTA."""
    summary = {item["dataset_id"]: item for item in (ev.get("summary") or {}).get("datasets", [])}
    scored = {s["dataset_id"]: s for s in ev["scores"]}
    meta: dict[str, dict[str, Any]] = {}
    for did in [*(d for d in summary if d in scored), *(d for d in scored if d not in summary)]:
        s = scored[did]
        meta[did] = {
            "language": s["language"],
            "task": s["task"],
            "task_type": (summary.get(did) or {}).get("task_type"),
            "n": s["n"],
            "unparseable": s["unparseable"],
            "sota_metric": s["sota_metric"],
            "sota_value": s["sota_value"],
            "sota_citation": s["sota_citation"],
        }
    return meta


def _rate(meta: dict[str, Any] | None) -> float | None:
    """The unparseable share of a dataset's test rows (the one unit it is shown in)."""
    if not meta or not meta["n"]:
        return None
    return meta["unparseable"] / meta["n"]


def compare(ws: Workspace, eval_a: str, eval_b: str) -> pl.DataFrame:
    """Per dataset: the primary metric of evaluation a and b, b - a, the SOTA beside them, unparseable shares."""
    a, b = _finished(ws, eval_a), _finished(ws, eval_b)
    pa, pb = _primary_map(a), _primary_map(b)
    ma, mb = _dataset_meta(a), _dataset_meta(b)
    rows = []
    for did in list(dict.fromkeys([*ma, *mb])):
        meta = ma.get(did) or mb[did]
        metric = pa.get(did) or pb.get(did) or "macro_f1"
        va, vb = _value(a, did, metric), _value(b, did, metric)
        rows.append(
            {
                "dataset_id": did,
                "language": meta["language"],
                "task": meta["task"],
                "metric": metric,
                "a": va,
                "b": vb,
                "delta": None if va is None or vb is None else vb - va,
                "sota_metric": meta["sota_metric"],
                "sota_value": metrics.as_fraction(meta["sota_value"]),
                "unparseable_rate_a": _rate(ma.get(did)),
                "unparseable_rate_b": _rate(mb.get(did)),
                "n": meta["n"],
            }
        )
    schema = {
        "dataset_id": pl.String,
        "language": pl.String,
        "task": pl.String,
        "metric": pl.String,
        "a": pl.Float64,
        "b": pl.Float64,
        "delta": pl.Float64,
        "sota_metric": pl.String,
        "sota_value": pl.Float64,
        "unparseable_rate_a": pl.Float64,
        "unparseable_rate_b": pl.Float64,
        "n": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def _majority(ws: Workspace, evs: list[dict[str, Any]], labels: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """Every score of the majority answer per labelled dataset, from the gold answers in the predictions."""
    out: dict[str, dict[str, float]] = {}
    for ev in evs:
        path = ws.root / ev["path"] / "predictions.parquet"
        if not path.is_file():
            continue
        gold = pl.read_parquet(path, columns=["dataset", "task_type", "gold"])
        for (did, task_type), part in gold.group_by(["dataset", "task_type"], maintain_order=True):
            if did not in out:
                out[str(did)] = metrics.majority_scores(part["gold"].to_list(), str(task_type), labels.get(did, []))
    return out


def _catalog_sota(ws: Workspace, dataset_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The catalog's current SOTA reference per dataset (one added after an evaluation still shows)."""
    if not dataset_ids:
        return {}
    with connect(ws, read_only=True) as con:
        rows = dataset_frame(con, tuple(f"sota_{f}" for f in SOTA_FIELDS), dataset_ids)
    rows = rows.filter(pl.col("sota_value").is_not_null())
    return {r["dataset_id"]: {f: r[f"sota_{f}"] for f in SOTA_FIELDS} for r in rows.iter_rows(named=True)}


def _sota_caveat(sota: dict[str, Any]) -> str:
    """Split, confidence and note of a SOTA value in one line, for the references list."""
    parts = [f"split: {sota['split']}" if sota.get("split") else "", "", str(sota.get("note") or "")]
    if sota.get("confidence"):
        parts[1] = f"confidence: {sota['confidence']}"
    return "; ".join(p for p in parts if p)


def newest_classical(ws: Workspace, snapshot_id: str) -> str | None:
    """The newest finished classical baseline on a snapshot (what a report puts beside the models)."""
    found = list_evals(ws).filter(
        (pl.col("backend") == "classical") & (pl.col("snapshot_id") == snapshot_id) & (pl.col("status") == "finished")
    )
    return found["eval_id"][0] if found.height else None


def _available(ev: dict[str, Any], dataset_id: str) -> set[str]:
    return {s["metric"] for s in ev["scores"] if s["dataset_id"] == dataset_id and s["value"] is not None}


def score_table(ws: Workspace, evals: list[str], *, classical: str | None = "auto") -> dict[str, Any]:
    """The per-dataset table of a report: majority, classical baseline, the models, and SOTA side by side.

    `evals` are the models' finished evaluations (first = reference, last = candidate); a classical
    baseline among them becomes the classical column. `classical` names one, or "auto" takes the newest
    on the last model's snapshot, or None leaves it out. Each dataset is scored on one metric for every
    column: the SOTA's, when the catalog's current SOTA maps onto a metric every evaluation computed,
    else the one the evaluations chose. A SOTA on another metric is kept but marked not comparable.
    """
    if not evals:
        raise LensforgeError("a report needs at least one evaluation")
    evs = [_finished(ws, e) for e in dict.fromkeys(evals)]
    classic = [ev for ev in evs if is_classical(ev)]
    models = [ev for ev in evs if not is_classical(ev)] or classic[-1:]
    if classical == "auto":
        found = None if classic else newest_classical(ws, models[-1]["snapshot_id"])
        classic_ev = classic[-1] if classic else (_finished(ws, found) if found else None)
    else:
        classic_ev = _finished(ws, classical) if classical else (classic[-1] if classic else None)
    if classic_ev is not None and classic_ev in models and len(models) == 1:
        classic_ev = None  # a report of the classical baseline alone shows it as its only column
    roles = [_role(ev) for ev in models]
    names = [f"{r} ({ev['eval_id']})" if roles.count(r) > 1 else r for r, ev in zip(roles, models, strict=True)]
    columns = ([CLASSICAL] if classic_ev else []) + names
    col_evs = ([classic_ev] if classic_ev else []) + models
    primaries = [_primary_map(ev) for ev in col_evs]
    metas = [_dataset_meta(ev) for ev in col_evs]
    labels = {
        i["dataset_id"]: i.get("labels") or [] for ev in col_evs for i in (ev.get("summary") or {}).get("datasets", [])
    }
    majority = _majority(ws, col_evs, labels)
    dataset_ids = list(dict.fromkeys(did for m in metas[len(columns) - len(names) :] for did in m))
    dataset_ids += [did for m in metas for did in m if did not in dataset_ids]
    current = _catalog_sota(ws, dataset_ids)

    table: list[dict[str, Any]] = []
    for did in dataset_ids:
        meta = next(m[did] for m in reversed(metas) if did in m)
        stored = {f: meta.get(f"sota_{f}") for f in ("metric", "value", "citation")}
        sota_ref = current.get(did) or stored
        scored_by = [ev for ev, m in zip(col_evs, metas, strict=True) if did in m]
        common = set.intersection(*(_available(ev, did) for ev in scored_by))
        chosen = next((p[did] for p in reversed(primaries) if did in p), "macro_f1")
        ours = metrics.comparable_metric(sota_ref.get("metric"), sorted(common))
        metric = ours or chosen
        values = {col: _value(ev, did, metric) for col, ev in zip(columns, col_evs, strict=True)}
        unparseable = {col: _rate(m.get(did)) for col, m in zip(columns, metas, strict=True)}
        first, last = values[names[0]], values[names[-1]]
        sota = metrics.as_fraction(sota_ref.get("value"))
        comparable = sota is not None and ours == metric
        table.append(
            {
                "dataset_id": did,
                "language": meta["language"],
                "task": meta["task"],
                "task_type": meta.get("task_type"),
                "metric": metric,
                "n": meta["n"],
                "values": values,
                "unparseable_rate": unparseable,
                "majority_baseline": (majority.get(did) or {}).get(metric),
                "classical_baseline": values.get(CLASSICAL),
                "delta": None if len(names) < 2 or first is None or last is None else last - first,
                "sota_metric": sota_ref.get("metric"),
                "sota": sota,
                "sota_comparable": comparable,
                "vs_sota": last - sota if comparable and last is not None and sota is not None else None,
                "sota_citation": sota_ref.get("citation"),
                "sota_split": sota_ref.get("split"),
                "sota_confidence": sota_ref.get("confidence"),
                "sota_note": sota_ref.get("note"),
            }
        )

    by_language: list[dict[str, Any]] = []
    for lang in sorted({r["language"] for r in table}):
        rows = [r for r in table if r["language"] == lang]
        entry: dict[str, Any] = {"language": lang, "datasets": len(rows), "mean": {}, "unparseable_rate": {}}
        for col, m in zip(columns, metas, strict=True):
            vals = [r["values"][col] for r in rows if r["values"][col] is not None]
            entry["mean"][col] = sum(vals) / len(vals) if vals else None
            n = sum(m[r["dataset_id"]]["n"] for r in rows if r["dataset_id"] in m)
            bad = sum(m[r["dataset_id"]]["unparseable"] for r in rows if r["dataset_id"] in m)
            entry["unparseable_rate"][col] = bad / n if n else None
        by_language.append(entry)
    return {
        "evals": [ev["eval_id"] for ev in col_evs],
        "models": models,
        "classical": classic_ev,
        "columns": columns,
        "model_columns": names,
        "datasets": table,
        "by_language": by_language,
    }


CHAIN_COLUMN = "source → decoded → canonical"


def label_chains(ws: Workspace, snapshot_id: str, dataset_id: str) -> dict[str, str]:
    """Canonical label -> the label chain(s) that produce it in this snapshot (`source → decoded → canonical`,
    several joined with "; " where source labels were merged).

    The chain is the one the snapshot was built with (its recorded mapping version), so a score is read against
    the labels the model was trained and tested on; a snapshot not in the catalog falls back to the dataset's
    current chain.
    """
    try:
        item = next(
            d for d in get_snapshot(ws, snapshot_id)["manifest"]["inputs"]["datasets"] if d["dataset_id"] == dataset_id
        )
        links = mapping_chain(ws, dataset_id, item["version_id"], item["mapping_version_id"])
    except (LensforgeError, StopIteration, KeyError):
        vocab = label_vocabulary(ws, [dataset_id]).get(dataset_id)
        links = list(vocab.links) if vocab else []
    out: dict[str, list[str]] = {}
    for link in links:
        if link.canonical and link.status != "rejected":
            out.setdefault(link.canonical, []).append(link.chain)
    return {label: "; ".join(chains) for label, chains in out.items()}


def class_breakdown(ws: Workspace, eval_id: str, dataset_id: str) -> dict[str, Any]:
    """Per-class precision/recall/F1 (each label with its chain, `CHAIN_COLUMN`) and (single-label) the confusion
    matrix of one dataset in one evaluation.

    Read from the saved predictions; unparseable answers count as wrong and fill a confusion-matrix
    column of their own. Summaries have neither (an empty table and no matrix).
    """
    ev = get_eval(ws, eval_id)
    path = ws.root / ev["path"] / "predictions.parquet"
    if not path.is_file():
        raise LensforgeError(f"evaluation {eval_id} has no saved predictions at {path}")
    rows = pl.read_parquet(path, columns=["dataset", "task_type", "gold", "prediction"]).filter(
        pl.col("dataset") == dataset_id
    )
    item = next((i for i in (ev.get("summary") or {}).get("datasets", []) if i["dataset_id"] == dataset_id), {})
    task_type = item.get("task_type") or (rows["task_type"][0] if rows.height else "classification")
    labels = item.get("labels") or []
    if rows.height == 0 or task_type not in LABELLED_TASK_TYPES:
        empty = metrics.per_class_scores([], [], []).with_columns(pl.lit(None, pl.String).alias(CHAIN_COLUMN))
        return {"task_type": task_type, "per_class": empty, "confusion": None}
    gold, pred = rows["gold"].to_list(), rows["prediction"].to_list()
    chains = label_chains(ws, ev["snapshot_id"], dataset_id)
    confusion = None
    if task_type == "multilabel":
        sets = [None if p is None else split_labels(p) for p in pred]
        per_class = metrics.per_class_scores([split_labels(g) for g in gold], sets, labels, multilabel=True)
    else:
        per_class = metrics.per_class_scores(gold, pred, labels)
        confusion = metrics.confusion_matrix(gold, pred, labels)
    chain = pl.col("label").replace_strict(chains, default=None, return_dtype=pl.String).alias(CHAIN_COLUMN)
    return {"task_type": task_type, "per_class": per_class.with_columns(chain), "confusion": confusion}


def predictions_side_by_side(ws: Workspace, eval_a: dict[str, Any], eval_b: dict[str, Any]) -> pl.DataFrame:
    """The predictions of two evaluations joined on sample id (a = base, b = fine-tuned, usually); empty when
    either has no saved predictions."""
    pa = ws.root / eval_a["path"] / "predictions.parquet"
    pb = ws.root / eval_b["path"] / "predictions.parquet"
    if not (pa.is_file() and pb.is_file()):
        return pl.DataFrame()
    cols = ["id", "dataset", "language", "input", "gold", "prediction", "raw_output", "parseable"]
    a = pl.read_parquet(pa, columns=cols)
    b = pl.read_parquet(pb, columns=["id", "dataset", "prediction", "raw_output", "parseable"])
    return a.rename({c: f"{c}_a" for c in ("prediction", "raw_output", "parseable")}).join(
        b.rename({c: f"{c}_b" for c in ("prediction", "raw_output", "parseable")}), on=["id", "dataset"], how="inner"
    )


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _loss(ws: Workspace, run_id: str | None) -> tuple[dict[str, Any] | None, pl.DataFrame]:
    if not run_id:
        return None, pl.DataFrame()
    run = run_record(ws, run_id)
    keep = ("run_id", "base_model", "preset", "status", "final_loss", "steps")
    return {k: run[k] for k in keep}, loss_curve(ws, run_id)


def _charts(table: list[dict[str, Any]], columns: list[str], curve: pl.DataFrame) -> dict[str, alt.TopLevelMixin]:
    def value(r: dict[str, Any], col: str) -> float | None:
        return r["majority_baseline"] if col == MAJORITY else r["values"][col]

    bars = [
        {"dataset": r["dataset_id"], "series": col, "value": value(r, col)}
        for r in table
        for col in columns
        if value(r, col) is not None
    ]
    sota = [
        {"dataset": r["dataset_id"], "series": "SOTA", "value": r["sota"]}
        for r in table
        if r["sota"] is not None and r["sota_comparable"]
    ]
    order = [r["dataset_id"] for r in table]
    charts: dict[str, alt.TopLevelMixin] = {}
    if bars:
        base = (
            alt.Chart(alt.Data(values=bars))
            .mark_bar()
            .encode(
                x=alt.X("dataset:N", title=None, sort=order, axis=alt.Axis(labelAngle=-30)),
                xOffset=alt.XOffset("series:N", sort=columns),
                y=alt.Y("value:Q", title="primary metric", scale=alt.Scale(domain=[0, 1])),
                color=alt.Color("series:N", title=None, sort=columns),
                tooltip=["dataset:N", "series:N", alt.Tooltip("value:Q", format=".3f")],
            )
        )
        layers: list[Any] = [base]
        if sota:
            layers.append(
                alt.Chart(alt.Data(values=sota))
                .mark_tick(color="black", thickness=2, size=28)
                .encode(
                    x=alt.X("dataset:N", sort=order),
                    y="value:Q",
                    tooltip=["dataset:N", alt.Tooltip("value:Q", format=".3f")],
                )
            )
        charts["scores"] = alt.layer(*layers).properties(
            title="Primary metric per dataset (ticks: comparable SOTA)", width=max(300, 70 * len(table)), height=260
        )
    if curve.height:
        charts["loss"] = (
            alt.Chart(alt.Data(values=curve.to_dicts()))
            .mark_line(point=curve.height < 60)
            .encode(x=alt.X("step:Q"), y=alt.Y("loss:Q"), tooltip=["step:Q", alt.Tooltip("loss:Q", format=".4f")])
            .properties(title="Training loss", width=500, height=240)
        )
    return charts


def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(map(_md_cell, header)) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    out += ["| " + " | ".join(map(_md_cell, r)) + " |" for r in rows]
    return out


def _html_table(header: list[str], rows: list[list[str]], classes: list[list[str]] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for i, r in enumerate(rows):
        cells = []
        for j, c in enumerate(r):
            cls = classes[i][j] if classes else ""
            cells.append(f'<td class="{cls}">{html.escape(c)}</td>' if cls else f"<td>{html.escape(c)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _sota_cell(r: dict[str, Any]) -> str:
    if r["sota"] is None:
        return "–"
    return _fmt(r["sota"]) if r["sota_comparable"] else f"{_fmt(r['sota'])} ({NOT_COMPARABLE})"


def _vs_sota_cell(r: dict[str, Any]) -> str:
    if r["sota"] is not None and not r["sota_comparable"]:
        return NOT_COMPARABLE
    return _fmt(r["vs_sota"], True)


def _class_sections(
    ws: Workspace, table: list[dict[str, Any]], ev: dict[str, Any], column: str
) -> tuple[list[str], list[str]]:
    """Markdown and HTML of per-class scores and confusion matrices of one column's evaluation."""
    md: list[str] = []
    body: list[str] = []
    for r in table:
        if r["values"].get(column) is None:
            continue
        parts = class_breakdown(ws, ev["eval_id"], r["dataset_id"])
        if parts["per_class"].is_empty():
            continue
        header = ["label", "support", "predicted", "precision", "recall", "F1"]
        rows = [
            [c["label"], str(c["support"]), str(c["predicted"]), _fmt(c["precision"]), _fmt(c["recall"]), _fmt(c["f1"])]
            for c in parts["per_class"].iter_rows(named=True)
        ]
        md += [f"### {_md_cell(r['dataset_id'])}", "", *_md_table(header, rows), ""]
        body += [f"<h3>{html.escape(r['dataset_id'])}</h3>", _html_table(header, rows)]
        if parts["confusion"] is not None:
            cm = parts["confusion"]
            cm_header = ["gold \\ answer", *cm.columns[1:]]
            cm_rows = [[str(v) for v in row] for row in cm.iter_rows()]
            md += [
                "Confusion matrix (rows: gold label; columns: the answer given):",
                "",
                *_md_table(cm_header, cm_rows),
            ]
            md += [""]
            body += ['<p class="note">Confusion matrix (rows: gold label; columns: the answer given)</p>']
            body += [_html_table(cm_header, cm_rows)]
    return md, body


def write_report(
    ws: Workspace,
    *,
    evals: list[str],
    run_id: str | None = None,
    out_dir: Path | None = None,
    name: str | None = None,
    classical: str | None = "auto",
) -> dict[str, Any]:
    """Write the Markdown/HTML report of finished evaluations (first = reference, e.g. base; last = candidate).

    Returns the paths written. `run_id` (default: the one run the evaluations share, if any) adds the
    training-loss chart; `classical` is as in `score_table` (by default the newest classical baseline on
    the snapshot joins as its own column).
    """
    scored = score_table(ws, evals, classical=classical)
    models, columns, names = scored["models"], scored["columns"], scored["model_columns"]
    table, by_language = scored["datasets"], scored["by_language"]
    col_evs = ([scored["classical"]] if scored["classical"] else []) + models
    if run_id is None:
        runs = {ev["run_id"] for ev in models if ev.get("run_id")}
        run_id = runs.pop() if len(runs) == 1 else None
    run, curve = _loss(ws, run_id)

    target = Path(out_dir) if out_dir else ws.reports_dir / (name or "-vs-".join(ev["eval_id"] for ev in col_evs))
    (target / "charts").mkdir(parents=True, exist_ok=True)
    charts = _charts(table, [MAJORITY, *columns], curve)
    vlc = _vl_convert()
    chart_files: dict[str, dict[str, str]] = {}
    svgs: dict[str, str] = {}
    for key, chart in charts.items():
        spec = chart.to_dict()
        files = {"spec": str(target / "charts" / f"{key}.vl.json")}
        write_text_atomic(Path(files["spec"]), json.dumps(spec, indent=1))
        if vlc is not None:
            svgs[key] = vlc.vegalite_to_svg(vl_spec=spec)
            files["svg"] = str(target / "charts" / f"{key}.svg")
            write_text_atomic(Path(files["svg"]), svgs[key])
            files["png"] = str(target / "charts" / f"{key}.png")
            Path(files["png"]).write_bytes(vlc.vegalite_to_png(vl_spec=spec, scale=2))
        chart_files[key] = files

    # The tables, shared by both renderings: from the floor (majority) up to SOTA.
    main_header = ["dataset", "lang", "metric", "n", MAJORITY, *columns]
    if len(names) > 1:
        main_header.append(f"Δ {names[-1]} − {names[0]}")
    main_header += ["SOTA", "SOTA metric", f"Δ {names[-1]} − SOTA"]
    main_rows, main_classes = [], []
    for r in table:
        row = [r["dataset_id"], r["language"], r["metric"], str(r["n"]), _fmt(r["majority_baseline"])]
        row += [_fmt(r["values"][c]) for c in columns]
        cls = ["text", "text", "text", "", "", *([""] * len(columns))]
        if len(names) > 1:
            row.append(_fmt(r["delta"], signed=True))
            cls.append("" if r["delta"] is None else ("up" if r["delta"] > 0 else "down" if r["delta"] < 0 else ""))
        row += [_sota_cell(r), r["sota_metric"] or "–", _vs_sota_cell(r)]
        cls += ["", "text", ""]
        main_rows.append(row)
        main_classes.append(cls)
    up_header = ["dataset", *columns]
    up_rows = [[r["dataset_id"], *(metrics.percent(r["unparseable_rate"][c]) for c in columns)] for r in table]
    lang_header = ["language", "datasets", *(f"mean {c}" for c in columns), *(f"unparseable {c}" for c in columns)]
    lang_rows = [
        [
            e["language"],
            str(e["datasets"]),
            *(_fmt(e["mean"][c]) for c in columns),
            *(metrics.percent(e["unparseable_rate"][c]) for c in columns),
        ]
        for e in by_language
    ]
    eval_header = ["column", "eval", "model", "adapter", "snapshot", "backend", "finished"]
    eval_rows = [
        [
            c,
            ev["eval_id"],
            ev["model"],
            ev.get("adapter") or "–",
            ev["snapshot_id"],
            ev["backend"],
            ev["finished_at"][:19],
        ]
        for c, ev in zip(columns, col_evs, strict=True)
    ]
    title = f"Evaluation report: {' vs '.join(names)}"
    note = (
        "Values are fractions in [0, 1]. Each dataset is scored on its primary metric: the SOTA's metric when it "
        "is one we compute (a class's F1 included), else macro-F1 (classification), micro-F1 (multi-label) or "
        "ROUGE-2 (summaries). Unparseable answers count as wrong; their share is given in percent of the test "
        "rows. SOTA values given in percent are divided by 100; a SOTA on a metric we do not compute is shown as "
        "not comparable. The majority baseline always answers the most frequent test label; the classical "
        "baseline is TF-IDF + logistic regression trained on the snapshot's train split."
    )
    md = [f"# {title}", "", f"_Written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}._", "", note, ""]
    md += ["## Evaluations", "", *_md_table(eval_header, eval_rows), ""]
    md += ["## Scores per dataset", "", *_md_table(main_header, main_rows), ""]
    md += ["## Unparseable answers (percent of test rows)", "", *_md_table(up_header, up_rows), ""]
    md += ["## Per language", "", *_md_table(lang_header, lang_rows), ""]
    # Per class and confusion matrices for every column (classical baseline and each model), in column order.
    per_class = [(col, *_class_sections(ws, table, ev, col)) for col, ev in zip(columns, col_evs, strict=True)]
    for col, class_md, _ in per_class:
        if class_md:
            md += [f"## Per class ({col})", "", *class_md]
    if "scores" in chart_files:
        md += ["## Charts", ""]
        for key, files in chart_files.items():
            rel = Path(files.get("png") or files["spec"]).relative_to(target)
            md += [f"![{key}]({rel.as_posix()})" if "png" in files else f"- {key}: `{rel.as_posix()}` (Vega-Lite)"]
        md += [""]
    if run is not None:
        md += ["## Training run", ""]
        md += [
            f"Run `{run['run_id']}`: base `{run['base_model']}`, preset `{run['preset']}`, status {run['status']}, "
            f"steps {run['steps']}, final loss {_fmt(run['final_loss'])}."
            + ("" if curve.height else " No loss values were recorded."),
            "",
        ]
    cites = [
        (r["dataset_id"], r["sota_citation"], _sota_caveat({k[5:]: v for k, v in r.items() if k.startswith("sota_")}))
        for r in table
        if r["sota_citation"]
    ]
    if cites:
        md += ["## SOTA references", ""]
        md += [f"- **{_md_cell(d)}**: {_md_cell(c)}" + (f" ({_md_cell(x)})" if x else "") for d, c, x in cites]
        md += [""]

    def chart_html(key: str) -> str:
        if key in svgs:
            return f'<figure id="chart-{key}">{svgs[key]}</figure>'
        spec = json.dumps(charts[key].to_dict()).replace("</", "<\\/")
        return f'<div id="chart-{key}"></div><script>vegaEmbed("#chart-{key}", {spec});</script>'

    body = [f"<h1>{html.escape(title)}</h1>", f'<p class="note">{html.escape(note)}</p>']
    body += ["<h2>Evaluations</h2>", _html_table(eval_header, eval_rows)]
    body += ["<h2>Scores per dataset</h2>", _html_table(main_header, main_rows, main_classes)]
    body += ["<h2>Unparseable answers (percent of test rows)</h2>", _html_table(up_header, up_rows)]
    body += ["<h2>Per language</h2>", _html_table(lang_header, lang_rows)]
    for col, _, class_html in per_class:
        if class_html:
            body += [f"<h2>Per class ({html.escape(col)})</h2>", *class_html]
    if charts:
        body += ["<h2>Charts</h2>", *(chart_html(k) for k in charts)]
    if run is not None:
        body += [
            "<h2>Training run</h2>",
            f"<p>Run <code>{html.escape(run['run_id'])}</code>: base <code>{html.escape(str(run['base_model']))}</code>"
            f", preset <code>{html.escape(str(run['preset']))}</code>, status {html.escape(str(run['status']))}, "
            f"final loss {_fmt(run['final_loss'])}."
            + ("" if curve.height else " No loss values were recorded.")
            + "</p>",
        ]
    if cites:
        items = "".join(
            f"<li><b>{html.escape(d)}</b>: {html.escape(str(c))}" + (f" ({html.escape(x)})" if x else "") + "</li>"
            for d, c, x in cites
        )
        body += ["<h2>SOTA references</h2>", f"<ul>{items}</ul>"]
    scripts = VEGA_CDN if charts and not svgs else ""
    page = (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>\n'
        f"<style>{_CSS}</style>\n{scripts}</head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )

    paths = {
        "dir": str(target),
        "markdown": str(target / "report.md"),
        "html": str(target / "report.html"),
        "data": str(target / "report.json"),
        "charts": chart_files,
    }
    write_text_atomic(Path(paths["markdown"]), "\n".join(md))
    write_text_atomic(Path(paths["html"]), page)
    data = {
        "evals": scored["evals"],
        "columns": columns,
        "model_columns": names,
        "datasets": table,
        "by_language": by_language,
    }
    write_text_atomic(Path(paths["data"]), json.dumps(data, indent=2, ensure_ascii=False, default=str))
    return paths
