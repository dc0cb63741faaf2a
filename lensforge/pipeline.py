"""`lensforge pipeline`: every stage, in order, on the embedded demo corpus."""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console

from lensforge.catalog.datasets import catalog_summary, list_datasets
from lensforge.catalog.setup import init_workspace
from lensforge.workspace import Workspace

Log = Callable[[str], None]


def demo_mixture_path() -> Path:
    """The mixture file shipped with the demo corpus."""
    return Path(str(resources.files("lensforge.demo").joinpath("mixture.toml")))


def run_pipeline(ws: Workspace, *, actor: str, log: Log = print, console: Console | None = None) -> dict[str, Any]:
    """Run the stages that exist so far on the demo collection and return what each produced."""
    from lensforge.ingest.api import ingest_many, ingest_targets
    from lensforge.ingest.run import IngestParams

    started = time.monotonic()
    result: dict[str, Any] = {"workspace": str(ws.root), "stages": {}}
    stages = 4

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
    ingested = ingest_many(
        ws, ingest_targets(ws, demo_ids, False), sources=None, params=IngestParams(), actor=actor, console=console
    )
    result["stages"]["ingest"] = {
        o["dataset_id"]: {"version": o["version_id"], "kept": o["kept"], "dropped": o["dropped"], "valid": o["valid"]}
        for o in ingested["ingested"]
    }
    if console is None:
        for o in ingested["ingested"]:
            log(
                f"      {o['dataset_id']}: read {o['records_read']}, kept {sum(o['kept'].values())}, valid {o['valid']}"
            )

    log(f"[3/{stages}] curate: label proposals approved for the demo (recorded), mixture plan")
    from lensforge.curate.mappings import approve, review
    from lensforge.curate.mixture import load_plan, plan_summary

    curated = {}
    for did in demo_ids:
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

    log(f"[{stages}/{stages}] done")
    result["seconds"] = round(time.monotonic() - started, 2)
    log(f"finished in {result['seconds']} s; workspace {ws.root}")
    return result
