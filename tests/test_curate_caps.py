"""Caps with stratified sampling: the label distribution survives (within one point for classes >= 100 rows)."""

from __future__ import annotations

import numpy as np
import polars as pl

from lensforge.curate.caps import cap_rows


def _synthetic(n: int, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    labels = np.array(["neutral", "negative", "positive", "mixed", "rare"])
    probs = np.array([0.55, 0.25, 0.15, 0.0495, 0.0005])  # 'rare' has ~100 rows in 200K
    return pl.DataFrame(
        {
            "sample_id": [f"s{i:07d}" for i in range(n)],
            "split": ["train"] * n,
            "canonical": labels[rng.choice(len(labels), size=n, p=probs)],
        }
    )


def test_cap_on_200k_rows_keeps_the_distribution():
    frame = _synthetic(200_000)
    kept, report = cap_rows(frame, 20_000, task_type="classification", seed=42)
    assert kept.height == 20_000 == report.after
    assert report.before == 200_000
    assert report.max_deviation <= 0.01  # one percentage point
    before = frame["canonical"].value_counts(normalize=True)
    after = kept["canonical"].value_counts(normalize=True)
    joined = before.join(after, on="canonical")
    assert (joined["proportion"] - joined["proportion_right"]).abs().max() <= 0.01
    assert set(kept["canonical"]) == set(frame["canonical"])  # even the rare class survives
    assert kept["sample_id"].is_unique().all()


def test_cap_is_seeded_and_order_independent():
    frame = _synthetic(50_000, seed=3)
    a, _ = cap_rows(frame, 5_000, task_type="classification", seed=7)
    b, _ = cap_rows(frame.sample(fraction=1.0, shuffle=True, seed=9), 5_000, task_type="classification", seed=7)
    c, _ = cap_rows(frame, 5_000, task_type="classification", seed=8)
    assert set(a["sample_id"]) == set(b["sample_id"])
    assert set(a["sample_id"]) != set(c["sample_id"])


def test_no_cap_when_smaller_and_uniform_for_generation():
    frame = _synthetic(1_000)
    kept, report = cap_rows(frame, 20_000, task_type="classification", seed=1)
    assert kept.height == 1_000 and report.max_deviation == 0.0
    counts = dict(frame["canonical"].value_counts().iter_rows())
    per_class = {r["class"]: (r["n_before"], r["n_after"]) for r in report.per_class}
    assert per_class == {k: (v, v) for k, v in counts.items()}
    assert all(r["share_before"] == r["share_after"] and r["deviation"] == 0 for r in report.per_class)
    gen = frame.with_columns(pl.col("canonical").alias("target"))
    kept, report = cap_rows(gen, 300, task_type="generation", seed=1)
    assert kept.height == 300 and report.stratified_by is None


def test_multilabel_is_stratified_on_the_combination():
    rng = np.random.default_rng(5)
    combos = [["fake"], ["hate"], ["hate", "offensive"], ["non-hostile"], ["defamation", "fake", "offensive"]]
    probs = [0.2, 0.1, 0.05, 0.6, 0.05]
    picks = rng.choice(len(combos), size=40_000, p=probs)
    frame = pl.DataFrame(
        {"sample_id": [f"m{i}" for i in range(40_000)], "canonical": [combos[i] for i in picks]},
        schema={"sample_id": pl.String, "canonical": pl.List(pl.String)},
    )
    kept, report = cap_rows(frame, 4_000, task_type="multilabel", seed=3)
    assert kept.height == 4_000 and report.stratified_by == "label_set"
    assert report.max_deviation <= 0.01
    assert {",".join(sorted(c)) for c in kept["canonical"].to_list()} == {",".join(sorted(c)) for c in combos}
