"""Great Expectations validation of one ingested version: clean sets pass, each kind of breakage is caught."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from lensforge.errors import LensforgeError
from lensforge.ingest.validate import EXAMPLE_CHARS, ExpectationResult, validate_version

LABELS = ["positive", "negative", "neutral"]
TWEETS = {
    "en": {
        "positive": ["Loving the new metro line, my commute is so quick now", "Great match tonight, what a goal!"],
        "negative": ["Power cut again for the third time this week", "Flight delayed four hours, no update at all"],
        "neutral": ["The ministry publishes the exam results on Sunday", "Weather: clouds over the coast tomorrow"],
    },
    "ar": {
        "positive": ["خدمة رائعة من الفريق اليوم شكرا لكم", "مبروك للمنتخب الفوز المستحق"],
        "negative": ["انقطاع الكهرباء مرة أخرى في الحي", "الزحمة في الطريق لا تطاق هذا الصباح"],
        "neutral": ["تعلن الوزارة نتائج الامتحانات يوم الأحد", "درجات الحرارة معتدلة غدا على الساحل"],
    },
}
# Per label, 100 tweets: 80 train, 10 dev, 10 test, so every split has the same class mix.
PER_LABEL = 100
SPLIT_OF = ["train"] * 80 + ["dev"] * 10 + ["test"] * 10
ORDER = [
    ("expect_column_values_to_not_be_null", "sample_id"),
    ("expect_column_values_to_not_be_null", "split"),
    ("expect_column_values_to_not_be_null", "text"),
    ("expect_column_values_to_not_be_null", "label"),
    ("expect_column_values_to_be_in_set", "label"),
    ("expect_column_values_to_be_unique", "sample_id"),
    ("expect_column_value_lengths_to_be_between", "text"),
    ("expect_column_values_to_be_in_set", "split"),
    ("expect_column_values_to_be_in_set", "text_key_splits"),
]
PROPORTIONS = ("expect_column_values_to_be_between", "excess")


def text_key(text: str) -> str:
    """The dedup key the ingest stage computes: case, punctuation and spacing do not matter."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def make_rows(task_type: str = "classification") -> list[dict[str, Any]]:
    rows = []
    for li, label in enumerate(LABELS):
        for k in range(PER_LABEL):
            i = li * PER_LABEL + k
            lang = "ar" if i % 2 else "en"
            templates = TWEETS[lang][label]
            original = f"@user{i}  {templates[i % len(templates)]} #{i}"
            text = " ".join(original.split())
            split = SPLIT_OF[k]
            multi = [label, "urgent"] if k % 5 == 0 else [label]
            rows.append(
                {
                    "sample_id": f"tweets-v1-{i:04d}",
                    "dataset": "tweets",
                    "version": "v1",
                    "language": lang,
                    "task": "sentiment",
                    "task_type": task_type,
                    "split": split,
                    "text": text,
                    "text_original": original,
                    "text_pair": f"reply to {i}" if task_type == "pair_classification" else None,
                    "label_raw": label.upper(),
                    "label": multi if task_type == "multilabel" else None if task_type == "generation" else label,
                    "target": f"summary of tweet {i}" if task_type == "generation" else None,
                    "source_file": f"{split}.tsv",
                    "source_line": k + 2,
                    "text_key": text_key(text),
                }
            )
    return rows


def to_frame(rows: list[dict[str, Any]], task_type: str = "classification") -> pl.DataFrame:
    label_type = pl.List(pl.String) if task_type == "multilabel" else pl.String
    schema = {
        **{c: pl.String for c in rows[0]},
        "source_line": pl.Int64,
        "label": label_type,
    }
    return pl.DataFrame(rows, schema=schema)


def edit(rows: list[dict[str, Any]], index: int, **changes: Any) -> None:
    rows[index].update(changes)
    if "text" in changes and "text_key" not in changes and changes["text"] is not None:
        rows[index]["text_key"] = text_key(changes["text"])


def index_of(rows: list[dict[str, Any]], split: str, nth: int = 0) -> int:
    return [i for i, r in enumerate(rows) if r["split"] == split][nth]


def by_name(results: list[ExpectationResult]) -> dict[tuple[str, str | None], ExpectationResult]:
    named = {(r.expectation, r.column): r for r in results}
    assert len(named) == len(results)
    return named


def failures(results: list[ExpectationResult]) -> list[tuple[str, str | None]]:
    return [(r.expectation, r.column) for r in results if not r.success]


def validate(rows: list[dict[str, Any]], task_type: str = "classification", **kwargs: Any) -> list[ExpectationResult]:
    space = [*LABELS, "urgent"] if task_type == "multilabel" else [] if task_type == "generation" else LABELS
    return validate_version(to_frame(rows, task_type), task_type=task_type, label_space=space, **kwargs)


def test_clean_frame_passes_every_expectation_in_a_stable_order():
    results = validate(make_rows(), resplit_by="label")
    assert [(r.expectation, r.column) for r in results] == [*ORDER, PROPORTIONS]
    assert failures(results) == []
    assert all(r.unexpected_count == 0 and r.examples == [] for r in results)
    named = by_name(results)
    assert named[("expect_column_values_to_be_in_set", "label")].details["value_set"] == LABELS
    assert named[("expect_column_value_lengths_to_be_between", "text")].details == {
        "column": "text",
        "min_value": 3,
        "max_value": 20000,
    }
    assert named[("expect_column_values_to_not_be_null", "text")].observed_value["element_count"] == 300
    assert named[PROPORTIONS].observed_value["max_deviation"] == pytest.approx(0.0)


def test_null_text_is_caught_and_named_by_sample_id():
    rows = make_rows()
    edit(rows, 7, text=None, text_key=None)
    results = validate(rows)
    assert failures(results) == [("expect_column_values_to_not_be_null", "text")]
    bad = by_name(results)[("expect_column_values_to_not_be_null", "text")]
    assert bad.unexpected_count == 1
    assert bad.examples == ["tweets-v1-0007"]


def test_label_outside_the_label_space():
    rows = make_rows()
    edit(rows, 3, label="sarcasm")
    edit(rows, 250, label="sarcasm")
    edit(rows, 251, label="POSITIVE")
    results = validate(rows)
    assert failures(results) == [("expect_column_values_to_be_in_set", "label")]
    bad = by_name(results)[("expect_column_values_to_be_in_set", "label")]
    assert bad.unexpected_count == 3
    assert bad.examples == ["sarcasm", "POSITIVE"]


def test_missing_label_is_caught():
    rows = make_rows()
    edit(rows, 12, label=None)
    results = validate(rows)
    assert failures(results) == [("expect_column_values_to_not_be_null", "label")]
    assert by_name(results)[("expect_column_values_to_not_be_null", "label")].examples == ["tweets-v1-0012"]


def test_multilabel_clean_then_label_outside_the_space():
    rows = make_rows("multilabel")
    clean = validate(rows, "multilabel", resplit_by="label")
    order = [(e, "label_item" if (e, c) == ("expect_column_values_to_be_in_set", "label") else c) for e, c in ORDER]
    assert [(r.expectation, r.column) for r in clean] == [*order, PROPORTIONS]
    assert failures(clean) == []

    edit(rows, 40, label=["negative", "spam"])
    edit(rows, 41, label=["spam"])
    edit(rows, 42, label=["neutral", "Urgent"])
    results = validate(rows, "multilabel")
    assert failures(results) == [("expect_column_values_to_be_in_set", "label_item")]
    bad = by_name(results)[("expect_column_values_to_be_in_set", "label_item")]
    assert bad.unexpected_count == 3
    assert bad.examples == ["spam", "Urgent"]
    assert bad.details["value_set"] == [*LABELS, "urgent"]


def test_multilabel_null_label_list_is_caught():
    rows = make_rows("multilabel")
    edit(rows, 5, label=None)
    results = validate(rows, "multilabel")
    assert failures(results) == [("expect_column_values_to_not_be_null", "label")]
    assert by_name(results)[("expect_column_values_to_not_be_null", "label")].examples == ["tweets-v1-0005"]


def test_duplicated_sample_id():
    rows = make_rows()
    edit(rows, 5, sample_id="tweets-v1-0004")
    results = validate(rows)
    assert failures(results) == [("expect_column_values_to_be_unique", "sample_id")]
    bad = by_name(results)[("expect_column_values_to_be_unique", "sample_id")]
    assert bad.unexpected_count == 2  # both rows that carry the id
    assert bad.examples == ["tweets-v1-0004"]


def test_text_shared_between_train_and_test_is_caught_after_normalisation():
    rows = make_rows()
    train, test = index_of(rows, "train", 3), index_of(rows, "test", 0)
    shared = rows[train]["text"]
    edit(rows, test, text=f"  {shared.upper()}!!")  # cleaned differently, same key
    results = validate(rows)
    assert failures(results) == [("expect_column_values_to_be_in_set", "text_key_splits")]
    bad = by_name(results)[("expect_column_values_to_be_in_set", "text_key_splits")]
    assert bad.unexpected_count == 2  # the train row and the test row
    assert bad.examples == [shared, f"  {shared.upper()}!!"]
    assert bad.observed_value["shared_texts"] == 1


def test_same_text_twice_in_one_split_is_not_a_leak():
    rows = make_rows()
    first, second = index_of(rows, "train", 0), index_of(rows, "train", 1)
    edit(rows, second, text=rows[first]["text"])
    assert failures(validate(rows)) == []


def test_too_short_and_too_long_texts():
    rows = make_rows()
    edit(rows, 10, text="ok")
    edit(rows, 11, text="ha " * 7000)
    results = validate(rows)
    assert failures(results) == [("expect_column_value_lengths_to_be_between", "text")]
    bad = by_name(results)[("expect_column_value_lengths_to_be_between", "text")]
    assert bad.unexpected_count == 2
    assert bad.examples[0] == "ok"
    assert bad.examples[1].startswith("ha ha") and len(bad.examples[1]) == EXAMPLE_CHARS + 1
    loose = validate(rows, text_length=(2, 30000))
    assert failures(loose) == []


def test_bad_and_missing_split_values():
    rows = make_rows()
    edit(rows, 0, split="validation")
    edit(rows, 1, split=None)
    results = validate(rows)
    assert failures(results) == [
        ("expect_column_values_to_not_be_null", "split"),
        ("expect_column_values_to_be_in_set", "split"),
    ]
    named = by_name(results)
    assert named[("expect_column_values_to_be_in_set", "split")].unexpected_count == 1
    assert named[("expect_column_values_to_be_in_set", "split")].examples == ["validation"]
    assert named[("expect_column_values_to_not_be_null", "split")].examples == ["tweets-v1-0001"]


def skewed_rows() -> list[dict[str, Any]]:
    """A re-split gone wrong: the test split drew 20 positives and 10 negatives, no neutrals."""
    rows = make_rows()
    for i, row in enumerate(rows):
        k = i % PER_LABEL
        row["split"] = "train" if k < 80 else "dev" if k < 90 else "test"
    neutral_test = [i for i, r in enumerate(rows) if r["label"] == "neutral" and r["split"] == "test"]
    positive_train = [i for i, r in enumerate(rows) if r["label"] == "positive" and r["split"] == "train"]
    for a, b in zip(neutral_test, positive_train, strict=False):
        rows[a]["split"], rows[b]["split"] = "train", "test"
    return rows


def test_skewed_class_proportions_in_a_resplit_set():
    results = validate(skewed_rows(), resplit_by="label")
    assert failures(results) == [PROPORTIONS]
    bad = by_name(results)[PROPORTIONS]
    # test: positive 20/30 vs 1/3 overall (+0.333), neutral 0/30 vs 1/3 (-0.333); negative 10/30 is fine.
    # train: positive 70/240 and neutral 90/240 vs 1/3 (0.042 each); negatives and dev are untouched.
    assert bad.unexpected_count == 4
    assert bad.observed_value["max_deviation"] == pytest.approx(1 / 3, abs=1e-6)
    assert bad.observed_value["split"] == "test"
    assert bad.observed_value["label"] in {"positive", "neutral"}
    assert {(e["split"], e["label"]) for e in bad.examples} == {
        ("train", "positive"),
        ("train", "neutral"),
        ("test", "positive"),
        ("test", "neutral"),
    }
    assert bad.observed_value["tolerance"] == pytest.approx(0.02)
    # A wide enough tolerance accepts the same split.
    assert failures(validate(skewed_rows(), resplit_by="label", proportion_tolerance=0.4)) == []


def test_proportions_are_not_checked_unless_lensforge_resplit_by_label():
    for resplit_by in (None, "random"):
        results = validate(skewed_rows(), resplit_by=resplit_by)
        assert [(r.expectation, r.column) for r in results] == ORDER
        assert failures(results) == []


def test_skewed_multilabel_resplit_is_caught():
    rows = make_rows("multilabel")
    for row in rows:  # every "urgent" sample in test, none elsewhere outside train
        if "urgent" in row["label"] and row["split"] == "dev":
            row["split"] = "test"
    results = validate(rows, "multilabel", resplit_by="label")
    assert failures(results) == [PROPORTIONS]
    worst = by_name(results)[PROPORTIONS].observed_value
    assert (worst["split"], worst["label"]) in {("dev", "urgent"), ("test", "urgent")}


def test_every_result_is_json_serialisable_even_with_everything_broken():
    rows = make_rows()
    edit(rows, 0, text=None, text_key=None)
    edit(rows, 1, label="sarcasm")
    edit(rows, 2, sample_id="tweets-v1-0003")
    edit(rows, 4, text="x")
    edit(rows, 5, split="holdout")
    edit(rows, index_of(rows, "test", 2), text=rows[index_of(rows, "train", 9)]["text"])
    results = validate(rows, resplit_by="label")
    assert len(failures(results)) == 6  # the single odd label is within the rounding allowance of the proportions check
    payload = json.loads(json.dumps([asdict(r) for r in results], ensure_ascii=False))
    assert len(payload) == len(results)
    for r in results:
        assert isinstance(r.unexpected_count, int)
        assert len(r.examples) <= 5


def test_examples_are_capped_at_five():
    rows = make_rows()
    for i in range(12):
        edit(rows, i, label=f"other{i}")
    bad = by_name(validate(rows))[("expect_column_values_to_be_in_set", "label")]
    assert bad.unexpected_count == 12
    assert bad.examples == [f"other{i}" for i in range(5)]


def test_generation_requires_target_not_label():
    rows = make_rows("generation")
    results = validate(rows, "generation", resplit_by="label")
    columns = [(r.expectation, r.column) for r in results]
    assert ("expect_column_values_to_not_be_null", "target") in columns
    assert not any(c in ("label", "label_item", "excess") for _, c in columns)
    assert failures(results) == []

    edit(rows, 9, target=None)
    results = validate(rows, "generation")
    assert failures(results) == [("expect_column_values_to_not_be_null", "target")]
    assert by_name(results)[("expect_column_values_to_not_be_null", "target")].examples == ["tweets-v1-0009"]


def test_pair_classification_requires_the_second_text():
    rows = make_rows("pair_classification")
    assert failures(validate(rows, "pair_classification")) == []
    edit(rows, 3, text_pair=None)
    results = validate(rows, "pair_classification")
    assert failures(results) == [("expect_column_values_to_not_be_null", "text_pair")]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task_type": "ranking", "label_space": LABELS}, "unknown task type"),
        ({"task_type": "classification", "label_space": []}, "non-empty label space"),
        ({"task_type": "classification", "label_space": LABELS, "text_length": (10, 5)}, "text length"),
        ({"task_type": "multilabel", "label_space": LABELS}, "list of strings"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(LensforgeError, match=message):
        validate_version(to_frame(make_rows()), **kwargs)


def test_missing_columns_are_refused():
    frame = to_frame(make_rows()).drop("text_key")
    with pytest.raises(LensforgeError, match="text_key"):
        validate_version(frame, task_type="classification", label_space=LABELS)


def test_validating_many_versions_together_gives_each_its_own_results(monkeypatch):
    # Issue 11: small datasets are validated in one GE run; every version must get exactly the results
    # it gets alone (counts, observed values, examples of its own failures).
    import lensforge.ingest.validate as validate_mod
    from lensforge.ingest.validate import ValidationRequest, validate_many

    def renamed(rows: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
        return [{**r, "sample_id": prefix + r["sample_id"]} for r in rows]

    broken = renamed(make_rows(), "b-")
    edit(broken, 3, label="sarcastic")
    passing = [
        ValidationRequest(to_frame(make_rows()), "classification", LABELS),
        ValidationRequest(to_frame(renamed(make_rows()[:150], "o-")), "classification", LABELS),
        ValidationRequest(to_frame(renamed(make_rows(), "r-")), "classification", LABELS, resplit_by="label"),
        ValidationRequest(to_frame(make_rows("multilabel"), "multilabel"), "multilabel", [*LABELS, "urgent"]),
        ValidationRequest(
            to_frame(renamed(make_rows("multilabel"), "m-"), "multilabel"), "multilabel", [*LABELS, "urgent"]
        ),
    ]
    runs: list[str] = []
    real_run = validate_mod._run
    monkeypatch.setattr(validate_mod, "_run", lambda name, *a, **kw: runs.append(name) or real_run(name, *a, **kw))
    for requests in (passing, [*passing[:2], ValidationRequest(to_frame(broken), "classification", LABELS)]):
        runs.clear()
        together = validate_many(requests)
        batched = len(runs)
        alone = [
            validate_version(r.frame, task_type=r.task_type, label_space=r.label_space, resplit_by=r.resplit_by)
            for r in requests
        ]
        assert [[asdict(x) for x in rs] for rs in together] == [[asdict(x) for x in rs] for rs in alone]
        if requests is passing:
            # rows of the classification sets, rows and label items of the multilabel ones, proportions: 4 runs
            assert batched == 4 < len(runs) - batched
        else:
            assert failures(together[2]) == [("expect_column_values_to_be_in_set", "label")]
            assert not failures(together[0]) and not failures(together[1])
    unique = by_name(validate_many(passing[1:2])[0])[("expect_column_values_to_be_unique", "sample_id")]
    assert unique.observed_value["element_count"] == 150


@pytest.mark.parametrize("task_type", ["classification", "multilabel", "pair_classification", "generation"])
def test_pass_fail_first_gives_the_summary_results(monkeypatch, task_type):
    # Issue 11: a version is validated pass/fail first (GE's BOOLEAN_ONLY, no unexpected lists) and its passes
    # are reported from that; the record must be what GE's SUMMARY run gives, field for field, and a failing
    # version must still get SUMMARY's counts and examples.
    import lensforge.ingest.validate as validate_mod

    labels = [*LABELS, "urgent"] if task_type == "multilabel" else LABELS
    clean = to_frame(make_rows(task_type), task_type)
    broken_rows = make_rows(task_type)
    edit(broken_rows, 4, sample_id=broken_rows[5]["sample_id"])
    broken = to_frame(broken_rows, task_type)
    formats: list[str] = []
    real_run = validate_mod._run

    def spy(*args, **kwargs):
        formats.append(kwargs.get("result_format", validate_mod._SUMMARY)["result_format"])
        return real_run(*args, **kwargs)

    monkeypatch.setattr(validate_mod, "_run", spy)
    resplit = None if task_type == "generation" else "label"
    quick, used = {}, {}
    for name, frame in (("clean", clean), ("broken", broken)):
        formats.clear()
        quick[name] = validate_version(frame, task_type=task_type, label_space=labels, resplit_by=resplit)
        used[name] = list(formats)
    assert set(used["clean"]) == {"BOOLEAN_ONLY"}
    assert used["broken"][0] == "BOOLEAN_ONLY" and "SUMMARY" in used["broken"]  # the failing part re-ran
    monkeypatch.setattr(validate_mod, "_quick_applies", lambda _data: False)
    for name, frame in (("clean", clean), ("broken", broken)):
        full = validate_version(frame, task_type=task_type, label_space=labels, resplit_by=resplit)
        assert [asdict(r) for r in quick[name]] == [asdict(r) for r in full], name
    assert all(r.success for r in quick["clean"])
    failed = [r for r in quick["broken"] if not r.success]
    assert [(r.expectation, r.column, r.unexpected_count) for r in failed] == [
        ("expect_column_values_to_be_unique", "sample_id", 2)
    ]
    assert failed[0].examples == [broken_rows[5]["sample_id"]]


_DEFERRED_PROBE = """
import sys
import polars as pl
from lensforge.ingest.validate import ValidationRequest, _DeferredModule, validate_many
frame = pl.DataFrame({"sample_id": ["a", "b"], "split": ["train", "test"], "text": ["one two", "three four"],
                      "text_key": ["one two", "three four"], "label": ["pos", "bad"]})
results = validate_many([ValidationRequest(frame, "classification", ["pos", "neg"])])[0]
print([r.success for r in results])
print(sorted(n for n in ("scipy.stats", "altair") if isinstance(sys.modules.get(n), _DeferredModule)))
from scipy import stats
import altair
print(round(float(stats.entropy([0.5, 0.5])), 4), altair.Chart.__name__, type(sys.modules["scipy.stats"]).__name__)
"""


def _fresh_process(code: str, *args: str) -> list[str]:
    """The lines a probe prints in a new interpreter (in this one, other tests may have imported GE already);
    `args` are its sys.argv[1:]."""
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.splitlines()


def test_ge_validates_without_importing_scipy_stats_or_altair_and_both_still_import():
    out = _fresh_process(_DEFERRED_PROBE)
    assert out[0] == "[True, True, True, True, False, True, True, True, True]"  # the label outside the space fails
    assert out[1] == "['altair', 'scipy.stats']"  # validation never needed them
    assert out[2] == "0.6931 Chart module"  # and they import for real when read


_CONCURRENT_PROBE = """
import sys, threading
import polars as pl
import great_expectations as gx
from lensforge.ingest.validate import ValidationRequest, validate_many
built = []
real = gx.get_context
def counting(*args, **kwargs):
    built.append(threading.get_ident())
    return real(*args, **kwargs)
gx.get_context = counting
frame = pl.DataFrame({"sample_id": ["a", "b"], "split": ["train", "test"], "text": ["one two", "three four"],
                      "text_key": ["one two", "three four"], "label": ["pos", "neg"]})
go = threading.Barrier(4)
passed = []
def validate():
    go.wait()
    results = validate_many([ValidationRequest(frame, "classification", ["pos", "neg"])])[0]
    passed.append(all(r.success for r in results))
threads = [threading.Thread(target=validate) for _ in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
print(len(built), passed)
"""


def test_threads_validating_at_once_build_one_context():
    # Four threads validate at once in a fresh process, with no pipeline to warm GE up first: they wait for one
    # context instead of each building its own (the once-guard is in the cached builder, not in `warm_up`).
    out = _fresh_process(_CONCURRENT_PROBE)
    assert out == ["1 [True, True, True, True]"]


_ROOM_PROBE = """
import sys
sys.path.insert(0, sys.argv[1])
from test_datastack import CALLS, worst_faults
from lensforge.ingest import validate
seen = []
real = validate._import_gx
def probing():
    seen.append(worst_faults())
    return real()
validate._import_gx = probing
validate.warm_up()
print(seen[0] < CALLS // 20, worst_faults() >= CALLS, "great_expectations" in sys.modules)
"""


def test_ge_is_set_up_with_room_on_the_frame_stack():
    # GE's import remapped a 16 KiB frame-stack chunk ~36,000 times (lensforge.datastack): its set-up, the import
    # included, now runs where calls at a chunk's edge do not, measured inside the build just before GE is
    # imported (fresh process: nothing imported or cached yet).
    out = _fresh_process(_ROOM_PROBE, str(Path(__file__).resolve().parent))
    assert out == ["True True True"]


_GC_PROBE = """
import gc
from lensforge.ingest.validate import _import_gx
collections = []
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(info["generation"]))
gx = _import_gx()
during = list(collections)
print(len(during), gc.isenabled(), hasattr(gx, "expectations"))
gc.disable()
from lensforge.ingest.validate import _import_gx as again
again()
print(gc.isenabled())
"""


def test_ge_imports_without_a_cycle_collection_and_leaves_the_collector_as_it_found_it():
    # GE's import makes ~150K long-lived objects; collections during it freed nothing and held the GIL while
    # the first files were read. Fresh process: GE must not be imported yet.
    out = _fresh_process(_GC_PROBE)
    during, enabled, usable = out[0].split()
    assert int(during) <= 1  # at most the young collection as the collector resumes (hundreds before)
    assert (enabled, usable) == ("True", "True")  # the collector back on, GE usable
    assert out[1] == "False"  # a collector the caller turned off stays off
