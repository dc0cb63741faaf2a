"""`catalog import`: validated YAML and CSV, with every bad input refused and the catalog unchanged."""

from __future__ import annotations

import re
import textwrap

import pytest
from clihelp import run_cli

from lensforge.catalog.datasets import export_catalog, show_dataset
from lensforge.catalog.events import list_events

GOOD = """
name: MyTweets
language: ar
version: "1"
task: Sentiment Classification
task_type: classification
labels: [positive, negative]
label_native:
  positive: {ar: إيجابي}
"""


@pytest.fixture
def inited(ws, capsys):
    assert run_cli(capsys, "-w", str(ws.root), "init").code == 0
    return ws


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_yaml_import_adds_then_updates(inited, capsys, tmp_path):
    ws = inited
    path = _write(tmp_path, "mine.yaml", GOOD)
    res = run_cli(capsys, "-w", str(ws.root), "catalog", "import", str(path), "--json")
    assert res.code == 0, res.err
    assert res.json()["added"] == ["ar/MyTweets@1"]
    info = show_dataset(ws, "MyTweets@1")
    assert info["collection"] == "user"
    assert info["label_space"][0] == {"label": "positive", "native": {"ar": "إيجابي"}}
    # Same file again: nothing changes; an edit updates in place and keeps a curator's exclusion.
    assert run_cli(capsys, "-w", str(ws.root), "catalog", "import", str(path), "--json").json()["unchanged"] == [
        "ar/MyTweets@1"
    ]
    run_cli(capsys, "-w", str(ws.root), "catalog", "exclude", "MyTweets", "--reason", "noisy")
    _write(tmp_path, "mine.yaml", GOOD.replace("[positive, negative]", "[positive, negative, neutral]"))
    res = run_cli(capsys, "-w", str(ws.root), "catalog", "import", str(path), "--json")
    assert res.json()["updated"] == ["ar/MyTweets@1"]
    info = show_dataset(ws, "MyTweets@1")
    assert [lab["label"] for lab in info["label_space"]] == ["positive", "negative", "neutral"]
    assert info["status"] == "excluded" and info["exclusion_reason"] == "noisy"


def test_csv_import_in_reference_format(inited, capsys, tmp_path):
    ws = inited
    path = _write(
        tmp_path,
        "more.csv",
        """\
        name,version,language,task,capability,labels,label_count,train_size,in_final_52,superseded_by
        NewSet,2,en,Stance Detection,,agree|disagree,2,1200,unknown,
        NewSet,1,en,Stance Detection,,agree|disagree,2,,no,NewSet@2
        """,
    )
    res = run_cli(capsys, "-w", str(ws.root), "catalog", "import", str(path), "--json")
    assert res.code == 0, res.err
    assert sorted(res.json()["added"]) == ["en/NewSet@1", "en/NewSet@2"]
    old = show_dataset(ws, "NewSet@1")
    assert old["status"] == "excluded" and old["superseded_by"] == "en/NewSet@2"
    assert show_dataset(ws, "NewSet@2")["task_type"] == "pair_classification"
    assert show_dataset(ws, "NewSet@2")["published_train"] == 1200


BAD_INPUTS = {
    "missing_field.yaml": ("name: X\nlanguage: en\ntask_type: classification\n", "task: Field required"),
    "wrong_type.yaml": (
        "name: X\nlanguage: en\ntask: T\ntask_type: classification\npublished_sizes: {train: many}\n",
        "published_sizes.train",
    ),
    "unknown_language.yaml": ("name: X\nlanguage: xx\ntask: T\ntask_type: classification\n", "unknown language 'xx'"),
    "unknown_task_type.yaml": ("name: X\nlanguage: en\ntask: T\ntask_type: ranking\n", "task_type"),
    "duplicate.yaml": (
        "- {name: X, language: en, version: '1', task: T, task_type: classification}\n"
        "- {name: X, language: en, version: '1', task: T, task_type: generation}\n",
        "duplicate dataset en/X@1",
    ),
    "dangling_supersede.yaml": (
        "name: X\nlanguage: en\ntask: T\ntask_type: classification\nstatus: excluded\n"
        "exclusion_reason: old\nsuperseded_by: Nowhere@9\n",
        "superseded_by points to 'Nowhere@9'",
    ),
    "unknown_field.yaml": ("name: X\nlanguage: en\ntask: T\ntask_type: classification\ncolour: red\n", "colour"),
    "not_yaml.yaml": ("name: [unclosed\n", "not valid YAML"),
    "bad_size.csv": ("name,language,task,train_size\nX,en,T,lots\n", "train_size must be an integer"),
    "missing_column.csv": ("name,language\nX,en\n", "missing column(s) task"),
    "bad_type.csv": ("name,language,task,task_type\nX,en,T,ranking\n", "task_type 'ranking'"),
    "bad_lang.csv": ("name,language,task\nX,english,T\n", "unknown language 'english'"),
}


@pytest.mark.parametrize("filename", sorted(BAD_INPUTS))
def test_bad_import_names_file_and_field_and_changes_nothing(inited, capsys, tmp_path, filename):
    ws = inited
    text, expected = BAD_INPUTS[filename]
    path = tmp_path / filename
    path.write_text(text, encoding="utf-8")
    before = export_catalog(ws, "json")
    res = run_cli(capsys, "-w", str(ws.root), "catalog", "import", str(path))
    assert res.code == 1
    assert str(path) in res.err, res.err
    assert expected in res.err, res.err
    assert "Traceback" not in res.err
    assert export_catalog(ws, "json") == before


def test_a_bad_entry_in_a_batch_rolls_back_the_good_ones(inited, capsys, tmp_path):
    ws = inited
    path = _write(
        tmp_path,
        "batch.yaml",
        """\
        - {name: Good, language: en, task: T, task_type: classification}
        - {name: Bad, language: en, task: T, task_type: classification, status: excluded}
        """,
    )
    res = run_cli(capsys, "-w", str(ws.root), "catalog", "import", str(path))
    assert res.code == 1 and "exclusion_reason" in res.err and "[1]" in res.err
    assert run_cli(capsys, "-w", str(ws.root), "catalog", "show", "Good").code == 1


def test_unsupported_and_missing_files(inited, capsys, tmp_path):
    ws = inited
    res = run_cli(capsys, "-w", str(ws.root), "catalog", "import", str(tmp_path / "nope.yaml"))
    assert res.code == 1 and "no such file" in res.err
    other = _write(tmp_path, "x.txt", "hello")
    res = run_cli(capsys, "-w", str(ws.root), "catalog", "import", str(other))
    assert res.code == 1 and "unsupported import format" in res.err


# ----------------------------------------------------------------------------- SOTA CSV (issue 15)

GOOD_CSV = (
    "dataset,metric,value,citation,split,confidence,note\n"
    'ar/CT22Checkworthiness@2022,F1 of the positive class,46.2,"Some team, CLEF 2022 working notes",'
    "official test,low,one team's AraBERT\n"
    "en/CT22Checkworthiness@2022,accuracy,0.85,Someone 2022,,,\n"
)


def test_sota_csv_import_sets_the_reference_with_its_citation(inited, capsys, tmp_path):
    ws = inited
    path = _write(tmp_path, "sota.csv", GOOD_CSV)
    res = run_cli(capsys, "-w", str(ws.root), "catalog", "import", str(path), "--json")
    assert res.code == 0, res.err
    assert res.json()["updated"] == ["ar/CT22Checkworthiness@2022", "en/CT22Checkworthiness@2022"]
    info = show_dataset(ws, "ar/CT22Checkworthiness@2022")
    assert (info["sota_metric"], info["sota_value"], info["sota_citation"]) == (
        "F1 of the positive class",
        46.2,
        "Some team, CLEF 2022 working notes",
    )
    assert (info["sota_split"], info["sota_confidence"], info["sota_note"]) == (
        "official test",
        "low",
        "one team's AraBERT",
    )
    assert info["sota_source"] == f"sota-csv:{path}:2"
    event = list_events(ws, kind="catalog.sota").row(0, named=True)
    assert event["subject"] == str(path) and "CT22Checkworthiness" in event["payload"]
    # A registry re-import (init) keeps the user's value: the registry entry brings none of its own.
    assert run_cli(capsys, "-w", str(ws.root), "init").code == 0
    assert show_dataset(ws, "ar/CT22Checkworthiness@2022")["sota_value"] == 46.2
    # The plain output names what was set.
    res = run_cli(capsys, "-w", str(ws.root), "catalog", "import", str(path))
    assert "SOTA set for 2 dataset(s)" in res.out


BAD_SOTA = {
    "no citation": (
        "dataset,metric,value,citation\nHASOC2019,macro-F1,0.9,\n",
        r"bad\.csv:2: field citation is empty",
    ),
    "not a number": (
        "dataset,metric,value,citation\nHASOC2019,macro-F1,high,X 2020\n",
        r"bad\.csv:2: field value must be a number, got 'high'",
    ),
    "unknown dataset": (
        "dataset,metric,value,citation\nHASOC2019,macro-F1,0.8,X\nNoSuchSet,macro-F1,0.8,X\n",
        r"bad\.csv:3: field dataset: no dataset named 'NoSuchSet'",
    ),
    "bad confidence": (
        "dataset,metric,value,citation,confidence\nHASOC2019,macro-F1,0.8,X,certain\n",
        r"bad\.csv:2: invalid SOTA row: confidence: Input should be 'high', 'medium' or 'low'",
    ),
    "out of range": (
        "dataset,metric,value,citation\nHASOC2019,macro-F1,180,X\n",
        r"bad\.csv:2: invalid SOTA row: value: Input should be less than or equal to 100",
    ),
    "listed twice": (
        "dataset,metric,value,citation\nHASOC2019,macro-F1,0.8,X\nHASOC2019,accuracy,0.8,X\n",
        r"bad\.csv:3: field dataset 'HASOC2019' is listed twice",
    ),
    "missing column": ("dataset,value,citation\nHASOC2019,0.8,X\n", r"bad\.csv: missing column\(s\) metric"),
}


@pytest.mark.parametrize("case", sorted(BAD_SOTA))
def test_a_bad_sota_csv_is_refused_with_file_line_and_field(inited, capsys, tmp_path, case):
    ws = inited
    text, message = BAD_SOTA[case]
    path = _write(tmp_path, "bad.csv", text)
    res = run_cli(capsys, "-w", str(ws.root), "catalog", "import", str(path))
    assert res.code == 1
    assert res.err.startswith("error: ") and re.search(message, " ".join(res.err.split())), res.err
    assert "Traceback" not in res.err
    assert show_dataset(ws, "HASOC2019")["sota_value"] == pytest.approx(0.81)  # the catalog is unchanged
