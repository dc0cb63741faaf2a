"""The package keeps its shape: data flows one way, so a stage imports only `catalog` and earlier stages."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lensforge"
STAGES = ["catalog", "ingest", "curate", "instruct", "release", "finetune", "evaluate", "app"]
# Top-level orchestrators sit above every stage; only the app may call the demo pipeline's helpers.
ABOVE_STAGES = {"cli": None, "pipeline": {"app"}}


def _imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lensforge."):
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("lensforge.")]
    return found


def test_stages_import_only_earlier_stages():
    rank = {s: i for i, s in enumerate(STAGES)}
    bad = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if len(rel.parts) < 2 or rel.parts[0] not in rank:
            continue
        me = rel.parts[0]
        for module in _imports(path):
            other = module.split(".")[1]
            if other in rank and rank[other] > rank[me]:
                bad.append(f"{rel} imports {module} (a later stage)")
            allowed = ABOVE_STAGES.get(other, set()) if other in ABOVE_STAGES else set()
            if other in ABOVE_STAGES and me not in (allowed or set()):
                bad.append(f"{rel} imports {module} (the CLI/pipeline sit above every stage)")
    assert not bad, "\n".join(bad)


def test_every_stage_is_a_package():
    for stage in STAGES:
        assert (PACKAGE / stage / "__init__.py").is_file(), stage
    assert (PACKAGE / "cli" / "__init__.py").is_file()
