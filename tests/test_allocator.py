"""lensforge keeps Polars' freed memory for reuse for a while (issue 11: the kernel's share of a big ingest)."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import os, time
{setup}
import lensforge
import polars as pl

def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

frame = pl.DataFrame({{"a": pl.arange(0, 40_000_000, eager=True)}}).with_columns(b=pl.col("a") * 2)
before = rss()
del frame
time.sleep(2.5)
print(os.environ["_RJEM_MALLOC_CONF"])
print(before - rss())
"""


def _probe(setup: str = "") -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(setup=setup)], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0], int(out[1])


def test_freed_memory_is_kept_for_reuse_and_a_users_setting_wins():
    conf, released = _probe()
    # Polars' own default (500 ms) comes first; lensforge's 30 s decay after it, so it applies.
    assert conf.endswith("dirty_decay_ms:30000,muzzy_decay_ms:30000")
    assert released < 100 << 20  # the ~640 MB freed 2.5 s ago is still held for the next allocation
    conf, released = _probe("os.environ['_RJEM_MALLOC_CONF'] = 'dirty_decay_ms:0,muzzy_decay_ms:0'")
    assert conf.endswith("dirty_decay_ms:0,muzzy_decay_ms:0") and "30000" not in conf
    assert released > 300 << 20  # returned to the kernel at once, as the user asked
