"""Shared fixtures: a fresh workspace per test, and the real datasets read in place."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LENSFORGE_SHARED_DATA", ROOT.parent / "shared" / "data"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture
def shared_data() -> Path:
    """The nine real datasets beside the project (../shared/data); never copied into the repo."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real datasets not found at {SHARED_DATA} (set LENSFORGE_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture
def ws(tmp_path, monkeypatch):
    """An empty workspace; LENSFORGE_HOME points at it for code that reads the environment."""
    from lensforge.workspace import resolve_workspace

    root = tmp_path / "ws"
    monkeypatch.setenv("LENSFORGE_HOME", str(root))
    monkeypatch.setenv("LENSFORGE_USER", "tester")
    return resolve_workspace(root)


REFERENCE_CSV = ROOT.parent / "shared" / "reference" / "llamalens_datasets.csv"


@pytest.fixture
def reference_csv() -> Path:
    """The LlamaLens dataset table the registry must reproduce."""
    if not REFERENCE_CSV.is_file():
        pytest.fail(f"reference table not found at {REFERENCE_CSV}")
    return REFERENCE_CSV


@pytest.fixture(scope="session")
def real_workspace(tmp_path_factory):
    """One workspace with the nine real datasets ingested through the CLI (shared: copy before changing)."""
    import io
    import json
    from contextlib import redirect_stderr, redirect_stdout

    from lensforge.cli import main
    from lensforge.workspace import resolve_workspace

    if not SHARED_DATA.is_dir():
        pytest.fail(f"real datasets not found at {SHARED_DATA} (set LENSFORGE_SHARED_DATA)")
    root = tmp_path_factory.mktemp("real") / "ws"
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            main(["-w", str(root), "ingest", "--all", "--sources", str(SHARED_DATA), "--json"])
        except SystemExit as exc:
            assert exc.code in (0, None), err.getvalue()
    return resolve_workspace(root), json.loads(out.getvalue())


@pytest.fixture
def real_ws_copy(real_workspace, tmp_path):
    """A private copy of the real-data workspace, for tests that change the catalog."""
    import shutil

    from lensforge.workspace import resolve_workspace

    target = tmp_path / "real_copy"
    shutil.copytree(real_workspace[0].root, target)
    return resolve_workspace(target)


@pytest.fixture(scope="session")
def demo_workspace(tmp_path_factory):
    """The demo corpus ingested and its label proposals approved (shared: copy before changing)."""
    from lensforge.catalog.datasets import list_datasets
    from lensforge.catalog.setup import init_workspace
    from lensforge.curate.mappings import approve, review
    from lensforge.ingest.api import ingest_many, ingest_targets
    from lensforge.ingest.run import IngestParams
    from lensforge.workspace import resolve_workspace

    ws = resolve_workspace(tmp_path_factory.mktemp("demo") / "ws")
    init_workspace(ws, actor="fixture", collections=("llamalens", "demo"))
    ids = list_datasets(ws, collection="demo")["dataset_id"].to_list()
    ingest_many(ws, ingest_targets(ws, ids, False), sources=None, params=IngestParams(), actor="fixture")
    for did in ids:
        if review(ws, did)["pending"]:
            approve(ws, did, [], actor="fixture", all_auto=True, reason="test fixture")
    return ws


@pytest.fixture
def demo_ws(demo_workspace, tmp_path):
    """A private copy of the curated demo workspace."""
    import shutil

    from lensforge.workspace import resolve_workspace

    target = tmp_path / "demo_copy"
    shutil.copytree(demo_workspace.root, target)
    return resolve_workspace(target)


@pytest.fixture(scope="session")
def snapshot_workspace(demo_workspace, tmp_path_factory):
    """The curated demo workspace plus offline instructions and one snapshot (shared: copy before changing)."""
    import shutil

    from app_fixtures import add_snapshot

    from lensforge.workspace import resolve_workspace

    root = tmp_path_factory.mktemp("app_snap") / "ws"
    shutil.copytree(demo_workspace.root, root)
    ws = resolve_workspace(root)
    return ws, add_snapshot(ws)


@pytest.fixture
def snap_ws(snapshot_workspace, tmp_path):
    """A private copy of the snapshot workspace, and the snapshot id."""
    import shutil

    from lensforge.workspace import resolve_workspace

    ws, sid = snapshot_workspace
    target = tmp_path / "snap_copy"
    shutil.copytree(ws.root, target)
    return resolve_workspace(target), sid


@pytest.fixture(scope="session")
def eval_workspace(snapshot_workspace, tmp_path_factory):
    """The snapshot workspace plus a base and a 'fine-tuned' evaluation from scripted backends."""
    import shutil

    from app_fixtures import add_evals

    from lensforge.workspace import resolve_workspace

    ws, sid = snapshot_workspace
    root = tmp_path_factory.mktemp("app_eval") / "ws"
    shutil.copytree(ws.root, root)
    ws = resolve_workspace(root)
    return ws, sid, add_evals(ws, sid)


def pytest_collection_modifyitems(config, items):
    """The tests marked slow run first, longest first; the rest keep their collected order.

    `make test` runs on two workers (pytest-xdist): the six-minute demo pipeline started last would leave one
    worker alone at the end; started first, the many short tests fill the other worker meanwhile. A marker's
    `seconds` is what the test took on a 2-core machine (2026-12-02); it only orders the run.
    """

    def weight(item) -> float:
        marker = item.get_closest_marker("slow")
        return -marker.kwargs.get("seconds", 1) if marker else 0

    items.sort(key=weight)
