"""`lensforge pipeline`: every stage, in order, on the embedded demo corpus."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from lensforge.catalog.datasets import catalog_summary, list_datasets
from lensforge.catalog.setup import init_workspace
from lensforge.workspace import Workspace

Log = Callable[[str], None]


def demo_mixture_path() -> Path:
    """The mixture file shipped with the demo corpus."""
    return Path(str(resources.files("lensforge.demo").joinpath("mixture.toml")))


def _silent(line: str) -> None:
    """The default `log`: the pipeline returns its results; printing them is the caller's choice."""


def run_pipeline(
    ws: Workspace,
    *,
    actor: str,
    log: Log | None = None,
    providers: list[str] | None = None,
) -> dict[str, Any]:
    """Run the stages that exist so far on the demo collection and return what each produced.

    `log` receives one line per stage and per result worth reading (the CLI prints them; by default nothing is
    printed). `providers` names the instruction providers (e.g. ["offline"] on a machine with API keys but no
    network); by default those with a key are used, else the offline one.
    """
    log = log or _silent
    from lensforge.ingest.api import ingest_many, ingest_targets
    from lensforge.ingest.run import IngestParams

    os.environ.setdefault("TQDM_DISABLE", "1")  # library progress bars (weights loading) would drown the stage log
    started = time.monotonic()
    result: dict[str, Any] = {"workspace": str(ws.root), "stages": {}}
    stages = 8

    log(f"[1/{stages}] init + catalog import (built-in registry and demo corpus)")
    result["stages"]["init"] = init_workspace(ws, actor=actor, collections=("llamalens", "demo"))
    summary = catalog_summary(ws)
    log(
        f"      {summary['total']} candidates: "
        + ", ".join(f"{k} {v}" for k, v in summary["by_status"].items())
        + " | "
        + ", ".join(f"{k} {v}" for k, v in summary["by_language"].items())
    )
    result["stages"]["catalog"] = {k: summary[k] for k in ("total", "by_status", "by_language", "by_collection")}

    log(f"[2/{stages}] ingest the demo datasets (clean, dedup, leakage, split, validate)")
    demo_ids = list_datasets(ws, collection="demo")["dataset_id"].to_list()
    ingested = ingest_many(ws, ingest_targets(ws, demo_ids, False), sources=None, params=IngestParams(), actor=actor)
    result["stages"]["ingest"] = {
        o["dataset_id"]: {"version": o["version_id"], "kept": o["kept"], "dropped": o["dropped"], "valid": o["valid"]}
        for o in ingested["ingested"]
    }
    for o in ingested["ingested"]:
        log(f"      {o['dataset_id']}: read {o['records_read']}, kept {sum(o['kept'].values())}, valid {o['valid']}")

    log(f"[3/{stages}] curate: label proposals approved for the demo (recorded), mixture plan")
    from lensforge.curate.mappings import approve, review, sync_proposals
    from lensforge.curate.mixture import load_plan, plan_summary

    curated = {}
    for did in demo_ids:
        sync_proposals(ws, did, actor=actor)  # the proposals' event names who ran the pipeline
        rev = review(ws, did)
        if rev["pending"]:
            approve(ws, did, [], actor=actor, all_auto=True, reason="demo pipeline: automatic proposals accepted")
        rev = review(ws, did)
        curated[did] = {"mapping_version": rev["mapping_version_id"], "labels": rev["after"]}
    plan = plan_summary(ws, load_plan(demo_mixture_path()))
    result["stages"]["curate"] = {"mappings": curated, "plan": {k: plan[k] for k in ("totals", "removed_by_caps")}}
    log(
        f"      mixture {plan['name']}: train {plan['totals']['train']}, dev {plan['totals']['dev']}, "
        f"test {plan['totals']['test']} rows from {len(plan['datasets'])} datasets"
    )

    from lensforge.instruct.api import generate_many
    from lensforge.instruct.generate import default_provider_names

    names = providers or default_provider_names()
    log(f"[4/{stages}] instructions (provider: {', '.join(names)})")
    gen = generate_many(ws, demo_ids, provider_names=names, languages="both", actor=actor)
    result["stages"]["instructions"] = {
        "providers": gen["providers"],
        "requests_sent": gen["requests_sent"],
        "cache_hits": gen["cache_hits"],
        "sets": len(gen["outcomes"]),
    }
    log(f"      {len(gen['outcomes'])} instruction sets ({gen['requests_sent']} requests, {gen['cache_hits']} cached)")

    log(f"[5/{stages}] snapshot (order by language, English instructions)")
    from lensforge.release.snapshot import build_snapshot

    snap = build_snapshot(ws, demo_mixture_path(), order="language", instructions="en", actor=actor)
    result["stages"]["snapshot"] = snap
    log(f"      snapshot {snap['snapshot_id']} ({snap['status']}): {snap['rows']}")

    log(f"[6/{stages}] fine-tune the tiny model (preset cpu-tiny)")
    from lensforge.finetune.api import train

    last = {"step": 0}

    def on_progress(info: dict[str, Any]) -> None:
        step = int(info.get("step") or 0)
        if info.get("loss") is not None and step >= last["step"] + 25:
            last["step"] = step
            log(f"      step {step}: loss {info['loss']:.3f}")

    run = train(
        ws, snap["snapshot_id"], base="tiny", preset="cpu-tiny", overrides={}, actor=actor, on_progress=on_progress
    )
    result["stages"]["finetune"] = {k: run.get(k) for k in ("run_id", "status", "steps", "final_loss", "wall_seconds")}
    log(f"      run {run['run_id']} {run['status']}: {run.get('steps')} steps, final loss {run.get('final_loss')}")

    log(f"[7/{stages}] evaluate the classical baseline, the base and the fine-tuned model on every test split")
    from lensforge.evaluate.api import evaluate, run_baseline
    from lensforge.finetune.api import resolve_base
    from lensforge.release.store import snapshot_dir

    classical = run_baseline(ws, snap["snapshot_id"], actor=actor)
    classical_scores = {d["dataset_id"]: d["primary_value"] for d in classical["datasets"]}
    base_path = resolve_base(ws, "tiny", snapshot_dir(ws, snap["snapshot_id"]))  # renders with its own template
    base_eval = evaluate(ws, model=base_path, snapshot_id=snap["snapshot_id"], actor=actor)
    tuned_eval = evaluate(ws, model=base_path, snapshot_id=snap["snapshot_id"], run_id=run["run_id"], actor=actor)
    scores = {}
    for b, t in zip(base_eval["datasets"], tuned_eval["datasets"], strict=True):
        cl = classical_scores.get(b["dataset_id"])
        scores[b["dataset_id"]] = {
            "metric": b["primary_metric"],
            "classical": cl,
            "base": b["primary_value"],
            "fine_tuned": t["primary_value"],
        }
        log(
            f"      {b['dataset_id']}: {b['primary_metric']} classical {'–' if cl is None else f'{cl:.3f}'} | "
            f"base {b['primary_value']:.3f} -> fine-tuned {t['primary_value']:.3f}"
        )
    result["stages"]["evaluate"] = {
        "classical": classical["eval_id"],
        "base": base_eval["eval_id"],
        "fine_tuned": tuned_eval["eval_id"],
        "scores": scores,
    }

    log(f"[8/{stages}] report")
    from lensforge.evaluate.api import write_report

    paths = write_report(ws, evals=[base_eval["eval_id"], tuned_eval["eval_id"]], run_id=run["run_id"], name="demo")
    result["stages"]["report"] = paths
    result["seconds"] = round(time.monotonic() - started, 2)
    log(f"finished in {result['seconds']} s; report {paths['markdown']}")
    return result
