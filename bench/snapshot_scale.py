"""Snapshot build at the paper's scale: 2.7M curated rows into chat-format Parquet.

    python bench/snapshot_scale.py [--rows 2700000] [--datasets 24]

Reuses the corpus of bench/ingest_scale.py (synthesised and ingested first when absent), approves
the label proposals, writes offline instructions, then times `lensforge snapshot build` with no caps
(so every curated row goes in) in a separate process, twice: the second build must give the same id.
Target on the 2-core machine: <= 10 s per build. Prints wall time, peak RSS and rows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "ingest_scale"
WS = OUT / "snapshot_ws"


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds and this child's own peak RSS (GiB, from GNU time), and its stdout."""
    timed = ["/usr/bin/time", "-f", "%M", *cmd] if Path("/usr/bin/time").exists() else cmd
    t0 = time.perf_counter()
    proc = subprocess.run(timed, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"failed: {' '.join(cmd)}")
    peak_kib = (
        int(proc.stderr.strip().splitlines()[-1])
        if timed is not cmd
        else resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    )
    return wall, peak_kib / (1024 * 1024), proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2_700_000)
    ap.add_argument("--datasets", type=int, default=24)
    args = ap.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    lf = [sys.executable, "-m", "lensforge.cli", "-w", str(WS)]
    if not (OUT / "registry.yaml").is_file():
        sys.path.insert(0, str(HERE))
        from ingest_scale import synthesise

        synthesise(args.rows, args.datasets)
    fresh = not WS.exists()
    t0 = time.perf_counter()
    if fresh:
        subprocess.run([*lf, "catalog", "import", str(OUT / "registry.yaml")], env=env, check=True, capture_output=True)
    names = json.loads(
        subprocess.run(
            [*lf, "catalog", "list", "--collection", "user", "--json"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    if fresh:  # the synthetic datasets by name: `--all` would also try the built-in registry's real datasets
        ingest = [*lf, "ingest", *(d["dataset_id"] for d in names), "--sources", str(OUT / "sources")]
        subprocess.run(ingest, env=env, check=True, capture_output=True)
        print(f"prepared the ingested workspace in {time.perf_counter() - t0:.0f} s")
    ids = [d["dataset_id"] for d in names]
    code = (
        "from lensforge.workspace import resolve_workspace\n"
        "from lensforge.curate.mappings import approve, review\n"
        f"ws = resolve_workspace({str(WS)!r})\n"
        f"for d in {ids!r}:\n"
        "    if review(ws, d)['pending']:\n"
        "        approve(ws, d, [], actor='bench', all_auto=True, reason='bench')\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    subprocess.run([*lf, "instruct", "generate", *ids, "--languages", "en"], env=env, check=True, capture_output=True)
    mixture = OUT / "snapshot_mixture.toml"
    mixture.write_text(
        'name = "bench-2.7M"\nseed = 42\n[caps]\ntrain = 0\n[select]\ncollection = "user"\nstatus = "candidate"\n',
        encoding="utf-8",
    )
    results = []
    for attempt in (1, 2):
        wall, rss, out = run([*lf, "snapshot", "build", str(mixture), "--order", "language", "--json"], env)
        res = json.loads(out)
        results.append(res)
        rows = sum(res["rows"].values())
        print(
            f"build {attempt}: {wall:.1f} s wall, peak RSS {rss:.2f} GiB, {rows:,} rows, id {res['snapshot_id']} "
            f"({res['status']}) (target <= 10 s)"
        )
    assert results[0]["snapshot_id"] == results[1]["snapshot_id"]


if __name__ == "__main__":
    main()
