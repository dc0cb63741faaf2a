"""`python -m lensforge.cli ...`: the same entry point as the `lensforge` command (the benches use it)."""

from lensforge.cli import main

main()
