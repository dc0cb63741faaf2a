"""Snapshot build at the paper's scale: 2.7M curated rows into chat-format Parquet.

    python bench/snapshot_scale.py [--rows 2700000] [--datasets 24]

Reuses the corpus of bench/ingest_scale.py (synthesised and ingested first when absent), approves
the label proposals, writes offline instructions, then times `lensforge snapshot build` with no caps
(so every curated row goes in) in a separate process, twice: the second build must give the same id.
Targets on the 2-core machine: <= 10 s and <= 3 GiB per build. Prints wall and CPU time, peak RSS, rows
and the build's own seconds per step. As a baseline measured in the same run (the machine is shared, so
wall times vary with load), it also times a plain Polars read and rewrite of the snapshot's three Parquet
files, the floor of any build that writes them, and prints the build's ratio to it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "ingest_scale"
WS = OUT / "snapshot_ws"


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds (user + system), this child's own peak RSS (GiB, from GNU time), its stdout."""
    timed = ["/usr/bin/time", "-f", "%M %U %S", *cmd] if Path("/usr/bin/time").exists() else cmd
    os.sync()  # the previous step's writes flushed first: their write-back is not this run's time
    t0 = time.perf_counter()
    proc = subprocess.run(timed, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"failed: {' '.join(cmd)}")
    if timed is not cmd:
        peak_kib, user, system = proc.stderr.strip().splitlines()[-1].split()
        return wall, float(user) + float(system), int(peak_kib) / (1024 * 1024), proc.stdout
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / (1024 * 1024), proc.stdout


REWRITE = (
    "import sys, pathlib, polars as pl\n"
    "out = pathlib.Path(sys.argv[1])\n"
    "for f in sys.argv[2:]:\n"
    "    pl.read_parquet(f).write_parquet(out / pathlib.Path(f).name, compression='zstd', compression_level=1)\n"
)


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
    print(f"load average before the builds: {os.getloadavg()[0]:.1f} (2 cores; figures vary with load)")
    results = []
    for attempt in (1, 2):
        wall, cpu, rss, out = run([*lf, "snapshot", "build", str(mixture), "--order", "language", "--json"], env)
        res = json.loads(out)
        results.append((wall, res))
        rows = sum(res["rows"].values())
        print(
            f"build {attempt}: {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS {rss:.2f} GiB, {rows:,} rows, "
            f"id {res['snapshot_id']} ({res['status']}) (targets <= 10 s, <= 3 GiB)"
        )
        steps = {k: v for k, v in (res.get("seconds") or {}).items() if k != "total"}
        print("  steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()))
    assert results[0][1]["snapshot_id"] == results[1][1]["snapshot_id"]
    files = [str(p) for p in sorted((Path(results[0][1]["path"]) / "data").glob("*.parquet"))]
    scratch = OUT / "rewrite"
    scratch.mkdir(exist_ok=True)
    floor, floor_cpu, _rss, _ = run([sys.executable, "-c", REWRITE, str(scratch), *files], env)
    shutil.rmtree(scratch)
    best = min(wall for wall, _ in results)
    print(
        f"baseline, a plain Polars read + rewrite of the snapshot's files: {floor:.1f} s wall, {floor_cpu:.1f} s CPU; "
        f"build / baseline = {best / floor:.1f}x"
    )


if __name__ == "__main__":
    main()
