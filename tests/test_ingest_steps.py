"""Each ingest step on its own, on small realistic frames (Arabic, Devanagari, English, pair tasks), and the
pipeline's column contract and per-step accounting (issue 11)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from lensforge.catalog.spec import DatasetEntry, LabelDecoding
from lensforge.errors import LensforgeError
from lensforge.ingest.checks import Validate
from lensforge.ingest.clean import (
    CrossSplitLeakage,
    DropTooLong,
    DropTooShort,
    DropUnlabelled,
    ExactDedup,
    NormaliseText,
    TextKey,
)
from lensforge.ingest.normalise import DecodeLabels, ReadFiles
from lensforge.ingest.run import IngestParams, ingest_steps
from lensforge.ingest.splits import AssignSplits
from lensforge.ingest.steps import IngestContext, Pipeline, Step, StepOutput

ENTRY = DatasetEntry.model_validate(
    {
        "name": "Tweets",
        "language": "ar",
        "version": "1",
        "task": "Sentiment Analysis",
        "task_type": "classification",
        "source": {"local": {"slug": "tweets"}},
        "ingest": {
            "format": "tsv",
            "quoting": False,
            "files": [{"split": "train", "path": "train.tsv"}, {"split": "test", "path": "test.tsv"}],
            "columns": {"text": "text", "label": "label", "id": "id"},
            "labels": {"space": ["pos", "neg"], "mapping": {"1": "pos", "0": "neg"}},
        },
    }
)


def ctx() -> IngestContext:
    return IngestContext(entry=ENTRY, version_id="vtest")


def frame(**cols: list) -> pl.DataFrame:
    return pl.DataFrame(
        cols, schema={k: pl.String for k in cols} | {"source_line": pl.Int64} if "source_line" in cols else None
    )


def texts(out: StepOutput, col: str = "text") -> list[str]:
    return out.kept[col].to_list()


# --- the column contract -------------------------------------------------------------------------------


def test_a_step_placed_before_the_step_that_adds_its_column_fails_when_the_pipeline_is_built():
    with pytest.raises(LensforgeError) as err:
        Pipeline([ReadFiles(), DropTooShort(), NormaliseText()])
    msg = str(err.value)
    assert "'too_short' needs column(s) text" in msg and "steps before it: read" in msg


def test_the_real_step_list_satisfies_its_own_contract_for_every_task_type():
    for task_type, extra in (
        ("classification", {}),
        ("multilabel", {"labels": {"multilabel_separator": ","}}),
        ("pair_classification", {"columns": {"text": "a", "text_pair": "b", "label": "l"}}),
        ("generation", {"columns": {"text": "a", "target": "b"}}),
    ):
        spec = {**ENTRY.ingest.model_dump(), **extra}  # type: ignore[union-attr]
        entry = ENTRY.model_copy(update={"task_type": task_type, "ingest": type(ENTRY.ingest).model_validate(spec)})
        for params in (IngestParams(), IngestParams(drop_near_dup=True)):
            names = Pipeline(ingest_steps(entry, params)).names
            assert names[0] == "read" and names[-2:] == ["validate", "write"]
            assert ("near_dup" in names) is params.drop_near_dup


def test_a_step_run_alone_without_its_columns_says_which():
    with pytest.raises(LensforgeError, match=r"'leakage' needs column\(s\) text_key"):
        CrossSplitLeakage()(frame(split=["train"], text=["hello there"]), ctx())
    with pytest.raises(LensforgeError, match=r"'unlabelled' needs column\(s\) target"):
        DropUnlabelled(task_type="generation")(frame(text=["a text"]), ctx())


def test_step_names_must_be_distinct():
    with pytest.raises(LensforgeError, match="distinct names"):
        Pipeline([NormaliseText(), TextKey(), TextKey()], start_columns=["text_original"])


def test_pipeline_counts_rows_through_each_step_and_checks_the_books():
    rows = frame(
        text_original=["Great match tonight!!", "ok", "Great   match tonight!!", "x" * 50],
        split=["train", "train", "train", "test"],
        sample_id=["a", "b", "c", "d"],
        label=["pos", "neg", "pos", "neg"],
    )
    steps = [NormaliseText(), TextKey(), DropTooShort(), DropTooLong(max_chars=40), ExactDedup()]
    c = ctx()
    kept, stats = Pipeline(steps, start_columns=rows.columns).run(rows, c)
    assert [s.step for s in stats] == ["normalise", "text_key", "too_short", "too_long", "exact_dedup"]
    assert [(s.rows_in, s.rows_out) for s in stats] == [(4, 4), (4, 4), (4, 3), (3, 2), (2, 1)]
    assert stats[2].dropped == {"too_short": 1} and stats[3].dropped == {"too_long": 1}
    assert stats[4].dropped == {"duplicate": 1}
    assert all(s.seconds >= 0 and s.peak_rss_mib > 0 for s in stats)
    assert kept["sample_id"].to_list() == ["a"]
    assert sum(d.height for d in c.dropped) == 3

    class Leaky(Step):
        name = "leaky"

        def run(self, frame: pl.DataFrame, ctx: IngestContext) -> StepOutput:
            return StepOutput(kept=frame.head(1))

    with pytest.raises(RuntimeError, match="'leaky' lost rows"):
        Pipeline([Leaky()]).run(rows, ctx())


# --- read and decode -------------------------------------------------------------------------------------


def test_read_files_counts_records_apart_from_the_parser(tmp_path: Path):
    (tmp_path / "train.tsv").write_text("id\ttext\tlabel\n1\tخدمة رائعة اليوم\t1\n2\tbroken row\n\n3\tسيء جدا\t0\n")
    (tmp_path / "test.tsv").write_text("id\ttext\tlabel\n9\tالطقس معتدل غدا\t1\n")
    c = IngestContext(entry=ENTRY, source_root=tmp_path)
    c.raw_files = [{"path": "train.tsv", "split": "train"}, {"path": "test.tsv", "split": "test"}]
    out = ReadFiles()(pl.DataFrame(), c)
    assert out.rows_in == 5 and out.kept.height == 3
    assert out.dropped is not None and sorted(out.dropped["reason"].to_list()) == ["empty_line", "ragged_row"]
    assert out.dropped["sample_id"].null_count() == 0  # quarantined rows get ids too
    assert set(ReadFiles.adds) <= set(out.kept.columns)
    assert c.raw_files[0]["lines"] == 4 and c.raw_files[0]["records"] == 4 and c.raw_files[0]["parsed"] == 2
    assert out.kept.filter(pl.col("source_id") == "3")["source_line"].item() == 5


def test_decode_labels_maps_codes_and_splits_multilabel_fields():
    single = DecodeLabels(decoding=LabelDecoding(mapping={"0": "neg", "1": "pos"}))
    out = single(frame(label_raw=["1", " 0 ", "", None]), ctx())
    assert out.kept["label"].to_list() == ["pos", "neg", None, None]
    multi = DecodeLabels(task_type="multilabel", decoding=LabelDecoding(multilabel_separator=","))
    out = multi(frame(label_raw=["hate, offensive", "fake,,fake", "non-hostile", ""]), ctx())
    assert out.kept["label"].to_list() == [["hate", "offensive"], ["fake"], ["non-hostile"], None]


# --- normalise, key, length ------------------------------------------------------------------------------


def test_normalise_arabic_devanagari_and_english_without_touching_the_original():
    originals = [
        "ﻻ  أحب\tهذا",  # presentation form of lam-alef, a tab and a double space
        "क़िला  बहुत\nसुंदर है",  # precomposed qa (U+0958) becomes qa + nukta under NFKC
        "Fish &amp; chips",
        '"quoted tweet"',  # what a CSV field stored as """quoted tweet""" parses to
    ]
    out = NormaliseText(html_unescape=True, strip_outer_quotes=True)(frame(text_original=originals), ctx())
    assert texts(out) == ["لا أحب هذا", "क़िला बहुत सुंदर है", "Fish & chips", "quoted tweet"]
    assert texts(out, "text_original") == originals
    assert out.dropped is None


def test_normalise_cleans_the_second_text_of_a_pair():
    rows = frame(text_original=["The  sky is blue"], text_pair=["It\u00a0is   raining"])
    out = NormaliseText()(rows, ctx())
    assert out.kept["text_pair"].to_list() == ["It is raining"]


def test_text_key_folds_case_links_mentions_and_arabic_marks():
    rows = frame(
        text=["@user مَرْحَبــــا بكم https://t.co/x", "@other مرحبا بكم", "BREAKING: Floods", "breaking: floods"],
    )
    keys = TextKey()(rows, ctx()).kept["text_key"].to_list()
    assert keys[0] == keys[1] == "مرحبا بكم"
    assert keys[2] == keys[3]


def test_text_key_of_a_pair_holds_both_texts():
    rows = frame(text=["A man plays guitar.", "A man plays guitar."], text_pair=["He makes music.", "He sleeps."])
    keys = TextKey()(rows, ctx()).kept["text_key"].to_list()
    assert keys[0] != keys[1] and keys[0].startswith("a man plays guitar.")


def test_too_short_counts_letters_of_any_script_not_digits_or_emoji():
    rows = frame(text=["نعم", "هه", "कल आना", "१२३ 😀😀", "ok!", "hey"])
    out = DropTooShort()(rows, ctx())
    assert texts(out) == ["نعم", "कल आना", "hey"]
    assert out.dropped is not None
    assert dict(zip(out.dropped["text"], out.dropped["detail"], strict=True)) == {
        "هه": "2 letter(s)",
        "१२३ 😀😀": "0 letter(s)",
        "ok!": "2 letter(s)",
    }


def test_too_long_quarantines_only_the_oversized_text():
    out = DropTooLong(max_chars=10)(frame(text=["short one", "much longer than ten"]), ctx())
    assert texts(out) == ["short one"]
    assert out.dropped is not None and out.dropped["detail"].to_list() == ["20 characters"]


# --- leakage, unlabelled, dedup, split -------------------------------------------------------------------


def test_leakage_alone_removes_held_out_texts_from_train_and_dev_never_from_test():
    rows = frame(
        split=["train", "train", "dev", "dev", "test"],
        text_key=["same", "dev text", "same", "dev text", "same"],
    )
    out = CrossSplitLeakage()(rows, ctx())
    assert out.kept.rows() == [("dev", "dev text"), ("test", "same")]
    assert out.dropped is not None
    assert sorted(out.dropped["reason"].to_list()) == ["leak_dev_in_train", "leak_test_in_dev", "leak_test_in_train"]


def test_unlabelled_rows_say_whether_the_file_had_labels():
    rows = frame(label=["pos", None, None]).with_columns(pl.Series("file_labelled", [True, True, False]))
    out = DropUnlabelled()(rows, ctx())
    assert out.kept.height == 1
    assert out.dropped is not None
    assert out.dropped["detail"].to_list() == [
        "empty label field",
        "the file has no labels (released without gold labels)",
    ]
    multi = pl.DataFrame({"label": [["hate"], [], None]}, schema={"label": pl.List(pl.String)})
    assert DropUnlabelled(task_type="multilabel")(multi, ctx()).kept.height == 1


def test_exact_dedup_keeps_the_first_of_equal_labels_and_none_of_a_conflict():
    rows = frame(
        split=["train"] * 6,
        text_key=["a", "a", "b", "b", "c", "c"],
        sample_id=["a1", "a2", "b1", "b2", "c1", "c2"],
        label=["Check-worthy", "check_worthy", "pos", "neg", "pos", "pos"],
    )
    out = ExactDedup()(rows, ctx())
    assert out.kept["sample_id"].to_list() == ["a1", "c1"]
    assert out.dropped is not None
    why = dict(zip(out.dropped["sample_id"], out.dropped["detail"], strict=True))
    assert why == {
        "a2": "duplicate of a1",
        "b1": "2 different labels for this text",
        "b2": "2 different labels for this text",
        "c2": "duplicate of c1",
    }


def test_exact_dedup_is_per_split_and_compares_label_sets_for_multilabel():
    rows = pl.DataFrame(
        {
            "split": ["train", "test", "train", "train"],
            "text_key": ["x", "x", "y", "y"],
            "sample_id": ["1", "2", "3", "4"],
            "label": [["hate"], ["hate"], ["hate", "fake"], ["fake", "hate"]],
        }
    )
    out = ExactDedup()(rows, ctx())
    assert out.kept["sample_id"].to_list() == ["1", "2", "3"]


def test_assign_splits_carves_missing_splits_and_leaves_the_method_for_validation():
    n = 200
    rows = frame(split=["train"] * n, sample_id=[f"s{i}" for i in range(n)], label=["pos", "neg"] * (n // 2))
    c = ctx()
    out = AssignSplits(seed=7)(rows, c)
    assert out.detail["method"] == "resplit_70_20_10" and c.facts["split"].stratified_by == "label"
    assert out.detail["rows"] == {"dev": 20, "test": 40, "train": 140}


# --- validate --------------------------------------------------------------------------------------------


def test_validate_needs_the_pair_text_for_pair_tasks_and_records_results():
    assert "text_pair" in Validate(task_type="pair_classification").needs
    assert "target" in Validate(task_type="generation").needs
    rows = frame(
        sample_id=[f"s{i}" for i in range(6)],
        split=["train", "train", "train", "test", "test", "test"],
        text=["खबर आज की", "नया दिन है", "शाम की बात", "सुबह की सैर", "रात की नींद", "दोपहर का खाना"],
        text_key=["1", "2", "3", "4", "5", "6"],
        label=["pos", "neg", "pos", "neg", "pos", "maybe"],
    )
    c = ctx()
    c.raw_files = [
        {"path": "train.tsv", "split": "train", "records": 3},
        {"path": "test.tsv", "split": "test", "records": 3},
    ]
    out = Validate(label_space=["pos", "neg"], quoting=False, fmt="tsv")(rows, c)
    assert out.kept.height == 6 and out.dropped is None
    failed = out.detail["failed"]
    assert failed == ["expect_column_values_to_be_in_set(label)"]
    names = [r.expectation for r in c.facts["validation"]]
    assert names[-2:] == ["ingest_split_has_rows", "ingest_split_has_rows"]


def test_small_datasets_run_together_with_one_validation_and_a_bad_one_is_skipped(ws, tmp_path):
    from test_ingest_inputs import TWEETS, _entry, _register, _write

    from lensforge.ingest.api import ingest_many
    from lensforge.ingest.run import ingest_dataset

    rows = [(f"{t} (report {i})", lab) for i in range(10) for t, lab in TWEETS]
    body = "id\ttext\tlabel\n" + "".join(f"{i}\t{t}\t{lab}\n" for i, (t, lab) in enumerate(rows))
    entries = []
    for name in ("Alpha", "Beta", "Broken"):
        _write(tmp_path, name.lower(), "train.tsv", body if name != "Broken" else bytes(range(256)) * 4)
        entries.append(_register(ws, _entry(name, "tsv", [{"split": "train", "path": "train.tsv"}], quoting=False)))
    targets = [(e.dataset_id, e) for e in entries]
    events = []
    out = ingest_many(
        ws,
        targets,
        sources=tmp_path,
        params=IngestParams(),
        actor="t",
        strict=False,
        on_progress=events.append,
        workers=1,
    )
    assert [o["dataset_id"] for o in out["ingested"]] == ["en/Alpha@1", "en/Beta@1"]
    assert (
        out["skipped"][0]["dataset_id"] == "en/Broken@1" and "not a delimited text file" in out["skipped"][0]["reason"]
    )
    for o in out["ingested"]:
        validate = next(s for s in o["steps"] if s["step"] == "validate")
        assert validate["detail"]["run_with"] == 2 and o["valid"]
    assert {e.dataset_id for e in events if e.stats is not None and e.step == "write"} == {"en/Alpha@1", "en/Beta@1"}
    # The same version, counts and validation as ingesting alone.
    alone = ingest_dataset(ws, entries[0], sources=tmp_path, params=IngestParams(), actor="t")
    first = out["ingested"][0]
    assert alone.status == "unchanged" and alone.version_id == first["version_id"]
    assert alone.kept == first["kept"] and alone.dropped == first["dropped"]


def test_ingest_all_draws_a_bar_per_step_with_datasets_and_rows():
    import io

    from rich.console import Console

    from lensforge.cli.ingest import _StepBars
    from lensforge.ingest.api import IngestEvent
    from lensforge.ingest.steps import StepStats
    from lensforge.progress import progress_bar

    progress = progress_bar(Console(file=io.StringIO(), force_terminal=True))
    bars = _StepBars(progress, 3)
    names = ["read", "exact_dedup", "write"]
    for did, rows in (("ar/A@1", 100), ("en/B@1", 50)):
        for pos, name in enumerate(names):
            bars(IngestEvent(did, name, pos, len(names)))
            bars(IngestEvent(did, name, pos, len(names), StepStats(name, rows, rows - pos, {}, 0.1, 10.0)))
    bars(IngestEvent("hi/C@1", "unchanged", 3, 3))
    tasks = {t.description.split()[0]: t for t in progress.tasks}
    assert [t.description.split()[0] for t in progress.tasks] == ["datasets", *names]
    assert tasks["exact_dedup"].completed == 3 and tasks["exact_dedup"].total == 3  # two ran it, one unchanged
    assert tasks["exact_dedup"].description.endswith("148 rows")
    assert tasks["datasets"].completed == 3


def test_larger_datasets_start_first_and_results_keep_the_order_asked(ws, tmp_path, monkeypatch):
    # Issue 11: a big dataset started last finishes alone while the other worker idles, so datasets above the
    # small-set size start largest first; what ingest returns stays in the order the user named them.
    from test_ingest_inputs import TWEETS, _entry, _register, _write

    import lensforge.ingest.api as api
    from lensforge.ingest.api import ingest_many

    monkeypatch.setattr(api, "SMALL_DATASET_BYTES", 1)  # every dataset counts as large here
    entries = []
    for name, repeats in (("Small", 2), ("Large", 12), ("Middle", 6)):
        rows = [(f"{t} (report {i})", lab) for i in range(repeats) for t, lab in TWEETS]
        body = "id\ttext\tlabel\n" + "".join(f"{i}\t{t}\t{lab}\n" for i, (t, lab) in enumerate(rows))
        _write(tmp_path, name.lower(), "train.tsv", body)
        entries.append(_register(ws, _entry(name, "tsv", [{"split": "train", "path": "train.tsv"}], quoting=False)))
    events = []
    out = ingest_many(
        ws,
        [(e.dataset_id, e) for e in entries],
        sources=tmp_path,
        params=IngestParams(),
        actor="t",
        on_progress=events.append,
        workers=1,
    )
    started = [e.dataset_id for e in events if e.step == "read" and e.stats is None]
    assert started == ["en/Large@1", "en/Middle@1", "en/Small@1"]
    assert [o["dataset_id"] for o in out["ingested"]] == ["en/Small@1", "en/Large@1", "en/Middle@1"]


def test_small_datasets_are_grouped_by_bytes_so_both_workers_get_about_the_same(ws, tmp_path):
    # Issue 11: small datasets run in one group per worker; groups of about equal bytes, so one worker does
    # not finish long after the other. One set as big as the three others together gets a group of its own.
    from test_ingest_inputs import TWEETS, _entry, _register, _write

    from lensforge.ingest.api import ingest_many

    entries = []
    for name, repeats in (("One", 2), ("Big", 6), ("Two", 2), ("Three", 2)):
        rows = [(f"{t} (report {i})", lab) for i in range(repeats) for t, lab in TWEETS]
        body = "id\ttext\tlabel\n" + "".join(f"{i}\t{t}\t{lab}\n" for i, (t, lab) in enumerate(rows))
        _write(tmp_path, name.lower(), "train.tsv", body)
        entries.append(_register(ws, _entry(name, "tsv", [{"split": "train", "path": "train.tsv"}], quoting=False)))
    out = ingest_many(
        ws, [(e.dataset_id, e) for e in entries], sources=tmp_path, params=IngestParams(), actor="t", workers=2
    )
    run_with = {
        o["dataset_id"]: next(s for s in o["steps"] if s["step"] == "validate")["detail"].get("run_with", 1)
        for o in out["ingested"]
    }
    assert run_with == {"en/One@1": 3, "en/Big@1": 1, "en/Two@1": 3, "en/Three@1": 3}


# --- the ingest command's allocator setting ---------------------------------------------------------------


def test_command_of_skips_root_options_and_their_values():
    from lensforge.cli.allocator import command_of

    assert command_of(["-w", "ingest", "snapshot"]) == "snapshot"  # a workspace folder named "ingest"
    assert command_of(["--workspace", "ws", "--user", "ana", "ingest", "a@1"]) == "ingest"
    assert command_of(["--workspace=ws", "ingest", "--all"]) == "ingest"
    assert command_of(["--version"]) is None


@pytest.mark.parametrize(
    ("argv", "preset", "expected"),
    [
        (["-w", "ws", "ingest", "--all"], None, "dirty_decay_ms:5000,muzzy_decay_ms:5000"),
        (["snapshot", "build"], None, None),
        (["ingest", "--all"], "dirty_decay_ms:100", "dirty_decay_ms:100"),  # the user's own setting is kept
    ],
)
def test_ingest_sets_the_allocator_before_polars_loads(argv, preset, expected):
    """In a fresh `lensforge` process: Polars must not be loaded before the setting (jemalloc reads it once), and
    Polars then appends it after its own defaults, where jemalloc lets the later value win."""
    import os
    import subprocess
    import sys

    code = (
        "import sys\n"
        f"sys.argv = ['lensforge', *{argv!r}]\n"
        "import lensforge.cli\n"
        "import os, polars\n"
        "print(os.environ.get('_RJEM_MALLOC_CONF', ''))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    if preset:
        env["_RJEM_MALLOC_CONF"] = preset
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    settings = out.strip().split(",")
    polars_own = ["dirty_decay_ms:500", "muzzy_decay_ms:1000"]
    assert settings[:2] == polars_own
    assert settings[2:] == (expected.split(",") if expected else [])


def test_a_run_registers_its_versions_together_as_one_by_one_would(tmp_path):
    """ingest_many writes every new version's catalog rows in one statement per table; the rows must be those
    of ingesting each dataset alone (version, validation results, step stats, one event each), and a version
    registered again replaces its rows instead of adding to them."""
    from test_ingest_inputs import TWEETS, _entry, _register, _write

    from lensforge.catalog.db import connect, query_frame
    from lensforge.catalog.setup import ensure_initialised
    from lensforge.ingest.api import ingest_many
    from lensforge.ingest.run import ingest_dataset
    from lensforge.workspace import Workspace

    src = tmp_path / "src"
    names = ("Alpha", "Beta", "Gamma")
    for k, name in enumerate(names):
        rows = [(f"{t} ({name} {i})", lab) for i in range(4 + k) for t, lab in TWEETS]
        _write(
            src,
            name.lower(),
            "train.tsv",
            "id\ttext\tlabel\n" + "".join(f"{i}\t{t}\t{lab}\n" for i, (t, lab) in enumerate(rows)),
        )

    def catalog(root: Path, one_by_one: bool, twice: bool = False) -> dict[str, list[dict]]:
        ws = Workspace(root)
        ensure_initialised(ws, actor="t")
        entries = [
            _register(ws, _entry(n, "tsv", [{"split": "train", "path": "train.tsv"}], quoting=False)) for n in names
        ]
        for run in range(2 if twice else 1):
            if run:  # a version folder without its report is written anew, and registered again
                for report in (ws.root / "datasets").glob("*/*/report.json"):
                    report.unlink()
            if one_by_one:
                for e in entries:
                    ingest_dataset(ws, e, sources=src, params=IngestParams(), actor="t")
            else:
                ingest_many(
                    ws, [(e.dataset_id, e) for e in entries], sources=src, params=IngestParams(), actor="t", workers=1
                )
        sql = {
            "versions": "SELECT * EXCLUDE (created_at) FROM ingested_versions ORDER BY version_id",
            "validation": "SELECT * FROM validation_results ORDER BY version_id, position",
            "stats": "SELECT * EXCLUDE (seconds, peak_rss_mib) FROM ingest_step_stats ORDER BY version_id, position",
            "events": "SELECT actor, kind, subject, payload FROM events WHERE kind = 'ingest.version' ORDER BY subject",
        }
        with connect(ws, read_only=True) as con:
            out = {k: query_frame(con, q).to_dicts() for k, q in sql.items()}
        # The one difference: small datasets of one run are validated together, and their stats say with how many.
        for row in out["stats"]:
            detail = json.loads(row["detail"])
            if detail.pop("run_with", None) == len(names):
                row["detail"] = json.dumps(detail)
        return out

    together = catalog(tmp_path / "together", one_by_one=False)
    alone = catalog(tmp_path / "alone", one_by_one=True)
    assert len(together["versions"]) == 3 and all(v["is_current"] for v in together["versions"])
    assert len(together["events"]) == 3 and together["stats"] and together["validation"]
    assert together == alone
    # Registered again: replaced, not doubled (and one event per registration).
    again = catalog(tmp_path / "again", one_by_one=False, twice=True)
    assert {k: v for k, v in again.items() if k != "events"} == {k: v for k, v in together.items() if k != "events"}
    assert sorted(again["events"], key=str) == sorted(together["events"] * 2, key=str)


def test_sample_ids_are_the_md5_of_their_parts_as_hashlib_gives_them():
    """The id contract (DESIGN: stable hash of dataset and source identity): md5 hex of dataset, source id,
    original text, pair and target joined by U+001F, a null as "", first 20 digits. Pinned against hashlib,
    on Arabic, Devanagari, emoji, empty and null parts, so no rewrite of the hashing can move an id."""
    import hashlib

    from lensforge.ingest.normalise import SAMPLE_ID_PARTS, assign_sample_ids

    rows = {
        "dataset": ["ar/ArSarcasm@1", "hi/Hate@1", "en/Claims@1", "en/Claims@1", "ar/ArSarcasm@1"],
        "source_id": ["17", None, "a\x1fb", "", "17"],
        "text_original": ["هذا نص  ساخر 😂", "यह एक वाक्य है", "Claim: the sky is green", "", None],
        "text_pair": [None, None, "Evidence “quoted”", None, None],
        "target": [None, "सारांश", None, None, None],
        "split": ["train"] * 5,
    }
    frame = pl.DataFrame(rows, schema={k: pl.String for k in rows})
    ids = assign_sample_ids(frame)["sample_id"].to_list()
    expected = [
        hashlib.md5("\x1f".join(frame[c][i] or "" for c in SAMPLE_ID_PARTS).encode("utf-8")).hexdigest()[:20]
        for i in range(frame.height)
    ]
    assert ids == expected


def test_seeded_keys_are_md5s_first_15_hex_digits_as_hashlib_gives_them():
    """Splits, caps, instruction picks and orders all hang on these keys: pinned against hashlib on Arabic,
    Devanagari, emoji, empty and long ids, so a faster way of computing them cannot move a row."""
    import hashlib

    from lensforge.hashing import seeded_keys

    ids = ["ar/ArSarcasm@1:17", "यह एक वाक्य है", "😂" * 40, "", "x" * 5000, "en/Claims@1:a\x1fb"]
    for seed, salt in ((42, "order"), (0, ""), (2**31, "cap")):
        expected = [int(hashlib.md5(f"{i}#{salt}:{seed}".encode()).hexdigest()[:15], 16) for i in ids]
        got = seeded_keys(pl.Series(ids), seed, salt)
        assert got.dtype == pl.UInt64 and got.to_list() == expected
    assert max(expected) < 2**60


@pytest.mark.parametrize("task_type", ["classification", "multilabel", "pair_classification", "generation"])
def test_kept_rows_are_written_as_they_read_back_with_statistics_only_where_readers_use_them(tmp_path, task_type):
    """The write step hands Polars' string views to pyarrow: every value and type reads back the same (Polars and
    DuckDB), the small columns carry footer statistics and dictionaries, the three texts neither (their min/max
    pruned nothing and cost a comparison per row), and `curate.samples` still learns from the footer whether the
    second text and the target hold anything."""
    import duckdb
    import pyarrow.parquet as pq

    from lensforge.curate.samples import _file_meta
    from lensforge.ingest.run import ROW_GROUP, write_kept
    from lensforge.ingest.schema import conform

    n = ROW_GROUP + 5  # two row groups
    base = ["خدمة رائعة اليوم", "बहुत अच्छी सेवा", "Great service today", 'a "quoted", text\nover two lines']
    rows = pl.DataFrame(
        {
            "sample_id": [f"{i:020x}" for i in range(n)],
            "dataset": "ar/Tweets@1",
            "version": "vtest",
            "language": "ar",
            "task": "Sentiment Analysis",
            "task_type": task_type,
            "split": ["train", "dev", "test"] * (n // 3) + ["train"] * (n % 3),
            "text": [base[i % 4] + f" {i}" for i in range(n)],
            "source_line": pl.int_range(2, n + 2, eager=True),
        }
    ).with_columns(
        pl.col("text").alias("text_original"),
        pl.col("text").str.to_lowercase().alias("text_key"),
        pl.lit("1").alias("label_raw"),
        pl.lit("train.tsv").alias("source_file"),
    )
    if task_type == "multilabel":
        rows = rows.with_columns(
            pl.when(pl.col("source_line") % 7 == 0).then(None).otherwise(pl.lit(["a", "b"])).alias("label")
        )
    elif task_type == "generation":
        rows = rows.with_columns(pl.col("text").str.slice(0, 8).alias("target"))
    else:
        rows = rows.with_columns(pl.lit("pos").alias("label"))
    if task_type == "pair_classification":
        rows = rows.with_columns(pl.col("text").str.reverse().alias("text_pair"))
    kept = conform(rows, task_type)
    path = tmp_path / "train.parquet"
    write_kept(kept, path)

    back = pl.read_parquet(path)
    assert back.schema == kept.schema and back.equals(kept)
    via_duckdb = duckdb.sql(f"SELECT * FROM '{path}' ORDER BY source_line").pl()
    assert via_duckdb.equals(kept)
    meta = pq.read_metadata(path)
    assert meta.num_row_groups == 2
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    column = {name: meta.row_group(0).column(i) for i, name in enumerate(names)}
    for text in ("text", "text_original", "text_key"):
        assert column[text].statistics is None, text
        assert "RLE_DICTIONARY" not in column[text].encodings and "PLAIN_DICTIONARY" not in column[text].encodings
    for small in ("sample_id", "split", "text_pair", "target"):
        assert column[small].statistics is not None and column[small].statistics.has_null_count, small
    assert "RLE_DICTIONARY" in column["split"].encodings or "PLAIN_DICTIONARY" in column["split"].encodings
    rows_, kind, has_pair, has_target = _file_meta(str(path))
    assert rows_ == n and kind == ("list" if task_type == "multilabel" else "string")
    assert has_pair == (task_type == "pair_classification") and has_target == (task_type == "generation")


# --- set-up before the steps, not beside them -------------------------------------------------------------

_PREPARE_PROBE = """
import sys
from pathlib import Path
from lensforge.catalog.setup import init_workspace
from lensforge.ingest import validate
from lensforge.ingest.api import ingest_many, ingest_targets
from lensforge.ingest.run import IngestParams, ingest_dataset
from lensforge.workspace import resolve_workspace

root, shared = Path(sys.argv[1]), Path(sys.argv[2])
ws = resolve_workspace(root)
init_workspace(ws, actor="t")
ready = lambda: validate._definition is not None
seen = []
many = ingest_targets(ws, ["en/CT22Checkworthiness@2022", "en/CT25Subjectivity@2025"], False)
alone = ingest_targets(ws, ["hi/HASOC2019@2019"], False)[0][1]
if sys.argv[3] == "many":
    ingest_many(ws, many, sources=shared, params=IngestParams(), actor="t",
                on_progress=lambda e: seen.append((e.dataset_id, e.step, e.stats is None, ready())))
elif sys.argv[3] == "alone":
    ingest_dataset(ws, alone, sources=shared, params=IngestParams(), actor="t",
                   on_step=lambda step, pos, total, stats: seen.append(("alone", step, stats is None, ready())))
else:
    out = ingest_many(ws, many, sources=shared, params=IngestParams(), actor="t")
    single = ingest_dataset(ws, alone, sources=shared, params=IngestParams(), actor="t")
    seen = [o["status"] for o in out["ingested"]] + [single.status]
print(repr(seen))
print("great_expectations" in sys.modules)
"""


@pytest.mark.slow(seconds=17)
def test_great_expectations_is_ready_before_any_step_starts_and_not_imported_when_nothing_is_new(tmp_path, shared_data):
    # Issue 11: GE's import (~0.9 s of CPU, holding the GIL) run beside the first datasets' steps cost more
    # wall and CPU time on two cores than it hid; it is now each pipeline's set-up before its first step. A run
    # where every dataset is unchanged validates nothing and pays no import. Fresh processes: GE not imported.
    import ast

    from test_ingest_validate import _fresh_process

    ws_root = tmp_path / "ws"
    events = []
    for mode in ("many", "alone"):  # each in its own process, so neither finds GE imported by the other
        out = _fresh_process(_PREPARE_PROBE, str(ws_root), str(shared_data), mode)
        events += [e for e in ast.literal_eval(out[0]) if e[0]]  # not the run-wide overlap report's event
        assert out[1] == "True"
    starts = [(did, step) for did, step, started, _ in events if started]
    assert ("en/CT25Subjectivity@2025", "read") in starts and ("alone", "read") in starts  # together and alone
    assert len({did for did, *_ in events}) == 3
    assert all(ok for *_, ok in events), [e for e in events if not e[-1]][:3]  # ready at every step's start
    again = _fresh_process(_PREPARE_PROBE, str(ws_root), str(shared_data), "again")
    assert ast.literal_eval(again[0]) == ["unchanged", "unchanged", "unchanged"]
    assert again[1] == "False"
