"""Thin edges: stage functions return data and report progress through callbacks; the CLI and the app print.

The walk fails when a stage module (or the pipeline) imports rich, prints, or takes a `console`; the CLI may not
open catalog connections itself. The behaviour tests run the stage functions the CLI now calls in one step.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lensforge.errors import LensforgeError

PACKAGE = Path(__file__).resolve().parents[1] / "lensforge"
STAGES = ("catalog", "ingest", "curate", "instruct", "release", "finetune", "evaluate")
# Process entry points, not stage functions: the training subprocess reports to its parent on stdout, and the
# plain-TRL recipe is a script shipped inside the published snapshot.
ENTRY_POINTS = {"finetune/launch.py", "release/recipes/train_trl.py"}


def _stage_sources() -> list[tuple[str, ast.AST]]:
    paths = [p for s in STAGES for p in sorted((PACKAGE / s).rglob("*.py"))] + [PACKAGE / "pipeline.py"]
    return [(p.relative_to(PACKAGE).as_posix(), ast.parse(p.read_text(encoding="utf-8"))) for p in paths]


def test_stage_functions_neither_print_nor_take_a_console():
    bad = []
    for rel, tree in _stage_sources():
        if rel in ENTRY_POINTS:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "rich":
                bad.append(f"lensforge/{rel}:{node.lineno}: imports rich (draw in the CLI or the app)")
            elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "rich" for a in node.names):
                bad.append(f"lensforge/{rel}:{node.lineno}: imports rich (draw in the CLI or the app)")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                bad.append(f"lensforge/{rel}:{node.lineno}: print() (return data, or report through a callback)")
            elif isinstance(node, ast.arg) and node.arg == "console":
                bad.append(f"lensforge/{rel}:{node.lineno}: a `console` parameter (take a progress callback)")
    assert not bad, "\n".join(bad)


def test_cli_commands_do_not_open_the_catalog():
    bad = []
    for path in sorted((PACKAGE / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "lensforge.catalog.db":
                bad.append(f"lensforge/cli/{path.name}:{node.lineno}: imports the catalog connection")
    assert not bad, "\n".join(bad)


def test_generate_many_reports_progress_through_its_callback_and_prints_nothing(demo_ws, capsys):
    from lensforge.instruct.api import generate_many

    seen = []
    did = "ar/DemoSarcasm@1"
    res = generate_many(
        demo_ws,
        [did],
        n=3,
        provider_names=["offline"],
        languages="en",
        actor="t",
        on_progress=lambda *a: seen.append(a),
    )
    assert seen == [(0, 1, did), (1, 1, None)]
    assert [o["dataset_id"] for o in res["outcomes"]] == [did] and res["outcomes"][0]["accepted"] == 3
    assert capsys.readouterr().out == ""


def test_decide_rows_acts_on_every_row_a_filter_matches(demo_ws):
    from lensforge.curate.decisions import decide_rows
    from lensforge.curate.samples import SampleFilter
    from lensforge.ingest.versions import current_version

    did = "en/DemoCheckworthy@1"
    dev_rows = current_version(demo_ws, did)["kept_dev"]
    match = SampleFilter(datasets=("ignored",), splits=("dev",))
    preview = decide_rows(demo_ws, did, action="exclude", actor="t", preview=True, match=match)
    assert preview["rows"] == dev_rows > 0
    with pytest.raises(LensforgeError, match="not both"):
        decide_rows(demo_ws, did, ["x"], action="exclude", actor="t", match=match)
    with pytest.raises(LensforgeError, match="no row of"):
        decide_rows(demo_ws, did, action="exclude", actor="t", match=SampleFilter(text="zzzqqqxxx"))
    done = decide_rows(demo_ws, did, action="exclude", reason="test", actor="t", match=match)
    assert done["rows"] == dev_rows and done["decision_set_id"]


def test_the_evaluate_stage_resolves_what_a_person_named(demo_ws):
    from lensforge.evaluate.api import evaluate_named, resolve_eval_model

    assert resolve_eval_model(demo_ws, "org/model", None, "s0") == ("org/model", None, None)
    with pytest.raises(LensforgeError, match="--model"):
        resolve_eval_model(demo_ws, None, None, "s0")
    with pytest.raises(LensforgeError, match="no run"):
        resolve_eval_model(demo_ws, None, "r-not-a-run", "s0")
    with pytest.raises(LensforgeError, match="the name the server serves"):
        evaluate_named(demo_ws, snapshot_id="s0", model=None, backend="openai-compatible", actor="t")
