"""One definition per concept: splits, task types, Hub-offline detection, atomic writes, text similarity.

Each concept is defined in one module and imported everywhere else; the walks below fail, naming the file and
line, when a copy comes back. The behaviour tests pin the one semantics each definition has.
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

import pytest

from lensforge import hub, workspace
from lensforge.catalog.constants import LABELLED_TASK_TYPES, SPLITS, TASK_TYPES
from lensforge.catalog.spec import DatasetEntry
from lensforge.instruct import checks
from lensforge.instruct.providers import offline

PACKAGE = Path(__file__).resolve().parents[1] / "lensforge"

# name -> the one module allowed to define it (a function, or an assignment at any level).
DEFINED_IN = {
    "SPLITS": "catalog/constants.py",
    "TASK_TYPES": "catalog/constants.py",
    "LABELLED_TASK_TYPES": "catalog/constants.py",
    "CLASSIFICATION_TYPES": "catalog/constants.py",
    "SNAPSHOT_SPLITS": None,
    "hub_offline": "hub.py",
    "jaccard": "instruct/checks.py",
    "script_share": "instruct/checks.py",
    "atomic_path": "workspace.py",
    "snapshot_dir": "release/store.py",
    "snapshot_folder": None,
    "key_hash": "ingest/clean.py",
    "file_sha256": "hashing.py",
}
# Folders staged whole and renamed into place by hand, for reasons `atomic_path` does not cover: ingest names its
# staging folder after the writer's pid (so a later run can tell a killed writer's leftovers), and a snapshot
# build hashes the staged files before it decides whether they replace the catalogued copy at all.
RENAMES_BY_HAND = {"workspace.py", "ingest/run.py", "release/snapshot.py"}


def _sources() -> list[tuple[str, ast.AST]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    return [(p.relative_to(PACKAGE).as_posix(), ast.parse(p.read_text(encoding="utf-8"))) for p in paths]


def test_each_concept_is_defined_once():
    bad = []
    for rel, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                names = [(node.name, node.lineno)]
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [(t.id, node.lineno) for t in targets if isinstance(t, ast.Name)]
            else:
                continue
            for name, line in names:
                if name in DEFINED_IN and DEFINED_IN[name] != rel:
                    bad.append(f"lensforge/{rel}:{line}: {name} is defined in lensforge/{DEFINED_IN[name]}; import it")
    assert not bad, "\n".join(bad)


def test_no_literal_split_or_task_type_lists():
    wanted = {tuple(SPLITS), tuple(TASK_TYPES), tuple(LABELLED_TASK_TYPES)}
    bad = []
    for rel, tree in _sources():
        if rel == "catalog/constants.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Tuple | ast.List | ast.Set) and all(
                isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts
            ):
                values = tuple(e.value for e in node.elts)
                if len(values) > 2 and any(set(values) == set(w) for w in wanted):
                    bad.append(f"lensforge/{rel}:{node.lineno}: {values} (use catalog.constants)")
    assert not bad, "\n".join(bad)


def test_files_are_replaced_through_atomic_path():
    bad = []
    for rel, tree in _sources():
        if rel in RENAMES_BY_HAND:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("replace", "rename", "mkstemp"):
                owner = node.value
                if isinstance(owner, ast.Name) and owner.id in ("os", "tempfile"):
                    bad.append(f"lensforge/{rel}:{node.lineno}: {owner.id}.{node.attr} (use workspace.atomic_path)")
    assert not bad, "\n".join(bad)


def test_the_registry_validates_against_the_shared_names():
    assert SPLITS == ("train", "dev", "test")
    assert set(TASK_TYPES) == {"classification", "multilabel", "pair_classification", "generation"}
    assert set(LABELLED_TASK_TYPES) == set(TASK_TYPES) - {"generation"}
    assert DatasetEntry.model_fields["task_type"].annotation.__args__ == TASK_TYPES


# ----------------------------------------------------------------------------- the Hub switch


@pytest.mark.parametrize(
    ("hub_env", "datasets_env", "constant", "offline"),
    [
        ("0", "0", False, False),
        ("", "", False, False),
        ("1", "0", False, True),
        ("TRUE", "", False, True),
        (" yes ", "", False, True),
        ("0", "on", False, True),  # either switch: a datasets download is a Hub call too
        ("0", "1", False, True),
        ("0", "0", True, True),  # huggingface_hub imported in offline mode refuses every call anyway
    ],
)
def test_hub_offline_has_one_rule(monkeypatch, hub_env, datasets_env, constant, offline):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", hub_env)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", datasets_env)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", constant)
    assert hub.hub_offline() is offline


def test_hub_offline_costs_no_import(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    monkeypatch.delitem(sys.modules, "huggingface_hub.constants", raising=False)
    assert hub.hub_offline() is False
    assert "huggingface_hub.constants" not in sys.modules


def test_every_stage_asks_the_same_function():
    from lensforge.finetune import data
    from lensforge.ingest import sources
    from lensforge.release import publish

    assert sources.hub_offline is data.hub_offline is publish.hub_offline is hub.hub_offline


# ----------------------------------------------------------------------------- text similarity


def test_jaccard_is_one_for_identical_sets_and_for_two_empty_ones():
    assert checks.jaccard(set(), set()) == 1.0
    assert checks.jaccard({"a"}, set()) == 0.0
    assert checks.jaccard({"a", "b"}, {"b", "c"}) == pytest.approx(1 / 3)
    assert checks.jaccard(frozenset({"x"}), frozenset({"x"})) == 1.0


def test_script_share_of_text_without_letters_is_zero_and_unknown_languages_pass():
    assert checks.script_share("", "ar") == 0.0
    assert checks.script_share("123 !!! 456", "en") == 0.0
    assert checks.script_share("anything", "de") == 1.0  # no script to judge a language we do not know
    assert checks.script_share("ساخر sarcastic", "ar") == pytest.approx(4 / 13)
    assert checks.script_share("नमस्ते दुनिया", "hi") == 1.0
    assert checks.script_share("Ärger über Straße", "en") == 1.0  # every Latin letter, not only ASCII


def test_the_offline_provider_uses_the_factorys_definitions():
    assert offline.script_share is checks.script_share
    assert offline.jaccard is checks.jaccard
    assert (offline.MIN_CHARS, offline.MAX_CHARS) == (checks.MIN_CHARS, checks.MAX_CHARS)
    assert offline.NEAR_DUPLICATE == checks.NEAR_DUPLICATE and offline.SCRIPT_SHARE == checks.SCRIPT_SHARE


# ----------------------------------------------------------------------------- atomic writes


def test_atomic_path_replaces_a_file_without_a_moment_where_it_is_missing(tmp_path, monkeypatch):
    target = tmp_path / "status.json"
    target.write_text("old", encoding="utf-8")
    seen = []
    real = os.replace

    def replace(src, dst):
        seen.append(Path(dst).read_text(encoding="utf-8"))  # a reader at the moment of the rename
        real(src, dst)

    monkeypatch.setattr(workspace.os, "replace", replace)
    workspace.write_text_atomic(target, "new")
    assert seen == ["old"] and target.read_text(encoding="utf-8") == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]  # no temporary left behind


def test_atomic_path_replaces_folders_and_keeps_the_target_when_the_block_fails(tmp_path):
    target = tmp_path / "out"
    with workspace.atomic_path(target) as staged:
        staged.mkdir()
        (staged / "a.txt").write_text("1", encoding="utf-8")
    with workspace.atomic_path(target) as staged:
        staged.mkdir()
        (staged / "b.txt").write_text("2", encoding="utf-8")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    with pytest.raises(RuntimeError), workspace.atomic_path(target) as staged:
        staged.mkdir()
        raise RuntimeError("crash while writing")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_text_keys_are_hashed_in_one_place():
    # The candidate hash of a text key (leakage, dedup, cross-dataset overlap) is `ingest.clean.key_hash`; a second
    # `.hash(seed=...)` of `text_key` elsewhere would be a second definition that could drift from it.
    bad = [
        f"{rel}:{node.lineno}"
        for rel, tree in _sources()
        if rel != "ingest/clean.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "hash"
        and "text_key" in ast.unparse(node.func.value)
    ]
    assert not bad, f"text_key hashed outside ingest/clean.py: {bad}"


# ----------------------------------------------------------------------------- file hashes


def test_raw_sources_and_snapshot_files_are_hashed_by_the_same_function(tmp_path):
    # Ingest's version ids hash the raw files, snapshot ids and `snapshot verify` the written ones: one rule.
    import hashlib

    from lensforge import hashing
    from lensforge.ingest import run
    from lensforge.release import snapshot, verify

    assert run.file_sha256 is snapshot.file_sha256 is verify.file_sha256 is hashing.file_sha256
    data = "نص عربي, हिन्दी पाठ, English\n".encode() * 100_000  # ~6 MB: more than one read
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert hashing.file_sha256(path) == hashing.file_sha256(path, data) == expected
