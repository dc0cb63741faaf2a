"""lensforge: curate labelled news and social-media datasets into a versioned instruction-tuning set."""

import os

__version__ = "0.1.0"

# Polars allocates through its own jemalloc, which by default hands freed pages back to the kernel within
# seconds; the next step of a pipeline then faults fresh, zeroed pages in again. Keeping freed pages for 30 s
# cut the kernel's share of a 2.7M-row ingest by a quarter (4.9 -> 3.5 s CPU, 8% of the wall time; peak RSS
# +0.2 GiB; bench/ingest_scale.py). Read once, when Polars first allocates: it takes effect only if lensforge
# is imported before Polars (the CLI, the app), and a value the user set wins.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:30000,muzzy_decay_ms:30000")
