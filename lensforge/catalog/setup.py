"""Creating a workspace: directories, schema, and the built-in registry in the catalog."""

from __future__ import annotations

from typing import Any

from lensforge.catalog.datasets import import_entries
from lensforge.catalog.db import connect, transaction
from lensforge.catalog.events import has_event, record_event
from lensforge.catalog.migrations import LATEST
from lensforge.catalog.registry import load_builtin
from lensforge.workspace import Workspace


def is_initialised(ws: Workspace) -> bool:
    """True once `init` has run on this workspace."""
    if not ws.catalog_path.exists():
        return False
    with connect(ws, read_only=True) as con:
        return has_event(con, "workspace.init")


def init_workspace(ws: Workspace, *, actor: str, collections: tuple[str, ...] = ("llamalens",)) -> dict[str, Any]:
    """Create the workspace and import the built-in registry collections; safe to rerun."""
    ws.ensure()
    first = not is_initialised(ws)
    results = {}
    for collection in collections:
        entries = load_builtin(collection)
        results[collection] = import_entries(ws, entries, actor=actor, source=f"builtin:{collection}").as_dict()
    if first:
        with transaction(ws) as con:
            record_event(
                con,
                actor=actor,
                kind="workspace.init",
                subject=str(ws.root),
                payload={"schema_version": LATEST, "collections": list(collections)},
            )
    return {
        "workspace": str(ws.root),
        "created": first,
        "schema_version": LATEST,
        "imported": {
            k: {"added": len(v["added"]), "updated": len(v["updated"]), "unchanged": len(v["unchanged"])}
            for k, v in results.items()
        },
    }


def ensure_initialised(ws: Workspace, *, actor: str) -> None:
    """Every command creates the workspace on first use, as `init` would."""
    if not is_initialised(ws):
        init_workspace(ws, actor=actor)
