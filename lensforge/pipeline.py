"""`lensforge pipeline`: every stage, in order, on the embedded demo corpus."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from lensforge.catalog.datasets import catalog_summary
from lensforge.catalog.setup import init_workspace
from lensforge.workspace import Workspace

Log = Callable[[str], None]


def run_pipeline(ws: Workspace, *, actor: str, log: Log = print) -> dict[str, Any]:
    """Run the stages that exist so far and return what each produced."""
    started = time.monotonic()
    result: dict[str, Any] = {"workspace": str(ws.root), "stages": {}}

    log("[1/2] init + catalog import (built-in registry and demo corpus)")
    init = init_workspace(ws, actor=actor, collections=("llamalens", "demo"))
    result["stages"]["init"] = init

    log("[2/2] catalog summary")
    summary = catalog_summary(ws)
    result["stages"]["summary"] = {k: summary[k] for k in ("total", "by_status", "by_language", "by_collection")}
    log(
        f"      {summary['total']} candidates: "
        + ", ".join(f"{k} {v}" for k, v in summary["by_status"].items())
        + " | "
        + ", ".join(f"{k} {v}" for k, v in summary["by_language"].items())
    )
    result["seconds"] = round(time.monotonic() - started, 2)
    log(f"done in {result['seconds']} s; workspace {ws.root}")
    return result
