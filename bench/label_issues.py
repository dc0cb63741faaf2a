"""Planted-flip check for lensforge.curate.label_issues (a script that prints figures, not a test).

Usage:
    python bench/label_issues.py [--sources ../shared/data] [--dataset hi/HASOC2019@2019 ...]
        [--rate 0.05] [--folds 5] [--seed 0]

For each real dataset: ingest it into a temporary workspace, take its train and dev rows (decoded labels),
flip the label of a known random 5% of the TRAIN rows to another label of the dataset, and run the
label-issue ranking (out-of-fold TF-IDF + logistic regression probabilities, cleanlab) on the flipped
data. Prints, for k = half, one and two times the number of flips and for every row cleanlab flags:
precision at k (share of the top k that are planted flips; chance = the flip rate) and recall at k
(share of the flips found in the top k), plus the seconds the ranking took.

Real data carries label noise of its own, which the ranking also surfaces: a non-planted row in the top
k is not necessarily a false alarm, so the precision printed is a lower bound of what a curator gets.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lensforge.catalog.setup import init_workspace  # noqa: E402
from lensforge.curate.classical import out_of_fold_probabilities, prepare_texts  # noqa: E402
from lensforge.curate.label_issues import LABEL_ISSUE_PARAMS, rank_label_issues  # noqa: E402
from lensforge.ingest.api import ingest_many, ingest_targets  # noqa: E402
from lensforge.ingest.run import IngestParams  # noqa: E402
from lensforge.ingest.versions import current_version, load_rows  # noqa: E402
from lensforge.workspace import resolve_workspace  # noqa: E402

DEFAULT = ["hi/HASOC2019@2019", "en/CT25Subjectivity@2025", "ar/ArSarcasm-v2@v2", "en/DavidsonHateOffensive@2017"]


def flip(labels: list[str], rows: list[int], rate: float, seed: int) -> tuple[list[str], set[int]]:
    """A known `rate` of the given rows get another label of the dataset, drawn at random."""
    rng = random.Random(seed)
    space = sorted(set(labels))
    flipped = set(rng.sample(rows, k=max(1, round(rate * len(rows)))))
    noisy = [rng.choice([x for x in space if x != lab]) if i in flipped else lab for i, lab in enumerate(labels)]
    return noisy, flipped


def measure(texts: list[str], labels: list[str], flipped: set[int], folds: int, seed: int) -> dict:
    started = time.monotonic()
    probs, classes, _ = out_of_fold_probabilities(texts, labels, folds=folds, seed=seed, params=LABEL_ISSUE_PARAMS)
    ranking = rank_label_issues(probs, classes, labels)
    seconds = time.monotonic() - started
    order = ranking["row"].to_list()
    flagged = int(ranking["is_issue"].sum())
    out = {"rows": len(labels), "flips": len(flipped), "flagged": flagged, "seconds": seconds, "at": {}}
    for name, k in (("k=flips/2", len(flipped) // 2), ("k=flips", len(flipped)), ("k=2*flips", 2 * len(flipped))):
        hits = len(set(order[:k]) & flipped)
        out["at"][name] = (k, hits / k if k else 0.0, hits / len(flipped))
    hits = len(set(order[:flagged]) & flipped)
    out["at"]["flagged"] = (flagged, hits / flagged if flagged else 0.0, hits / len(flipped))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--dataset", action="append", help="A registry id (repeatable); default: four real sets.")
    parser.add_argument("--rate", type=float, default=0.05)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    datasets = args.dataset or DEFAULT

    with tempfile.TemporaryDirectory() as tmp:
        ws = resolve_workspace(Path(tmp) / "ws")
        init_workspace(ws, actor="bench", collections=("llamalens",))
        ingest_many(ws, ingest_targets(ws, datasets, False), sources=args.sources, params=IngestParams(), actor="bench")
        print(f"planted label flips: {args.rate:.0%} of train rows, {args.folds}-fold, seed {args.seed}")
        print("(machine shared with other jobs: seconds are noisy; chance precision = the flip rate)\n")
        header = f"{'dataset':42} {'rows':>6} {'flips':>5} {'flagged':>7} {'s':>6}  " + "  ".join(
            f"{name:>22}" for name in ("P/R @ flips/2", "P/R @ flips", "P/R @ 2*flips", "P/R @ flagged")
        )
        print(header)
        print("-" * len(header))
        for did in datasets:
            rows = load_rows(ws, current_version(ws, did), ("train", "dev"), columns=["split", "text", "label"])
            rows = rows.drop_nulls("label")
            labels = rows["label"].to_list()
            train_rows = [i for i, s in enumerate(rows["split"].to_list()) if s == "train"]
            noisy, flipped = flip(labels, train_rows, args.rate, args.seed)
            res = measure(prepare_texts(rows["text"].to_list()), noisy, flipped, args.folds, args.seed)
            cells = "  ".join(f"{p:>8.2f} / {r:.2f} (k={k:>5})" for k, p, r in res["at"].values())
            print(f"{did:42} {res['rows']:>6} {res['flips']:>5} {res['flagged']:>7} {res['seconds']:>6.1f}  {cells}")


if __name__ == "__main__":
    main()
