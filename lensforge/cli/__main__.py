"""`python -m lensforge.cli ...`: the same command as `lensforge` (the benches start it this way)."""

from lensforge.cli import run

run()
