"""The `lensforge` command: one module per stage, each command a thin call into the stage's public API."""

from __future__ import annotations

import importlib
import sys

from lensforge.cli.allocator import tune_allocator
from lensforge.cli.leave import exit_code, leave
from lensforge.errors import LensforgeError

tune_allocator(sys.argv[1:])  # before Polars loads (lensforge.cli.common imports it)

from lensforge.cli.common import app, err_console  # noqa: E402

# One module per stage, imported in the order the stages run so `lensforge --help` lists them that way.
STAGE_MODULES = ("catalog", "ingest", "curate", "quality", "instruct", "release", "finetune", "evaluate", "serve")
for _name in STAGE_MODULES:
    importlib.import_module(f"lensforge.cli.{_name}")

__all__ = ["app", "main", "run"]


def main(argv: list[str] | None = None) -> None:
    """Entry point: expected failures print one line and exit 1; bugs keep their traceback."""
    try:
        app(args=argv)
    except LensforgeError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise SystemExit(1) from None


def run() -> None:
    """The console script: `main`, then the process ends without Python's teardown (see lensforge.cli.leave)."""
    try:
        main()
    except SystemExit as exc:
        code = exit_code(exc)
    else:
        code = 0
    leave(code)


if __name__ == "__main__":
    run()
