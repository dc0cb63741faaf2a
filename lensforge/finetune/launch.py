"""Process entry point for a training run: `python -m lensforge.finetune.launch ...`.

The same entry point runs on one CPU, one GPU, or several GPUs through accelerate:

    accelerate launch --config_file lensforge/finetune/accelerate/multi_gpu_ddp.yaml \\
        -m lensforge.finetune.launch --workspace W --snapshot S --preset llamalens-qlora

Every process runs `train(...)`; only the main one (RANK 0) writes the catalog, log.txt and the adapter.
Background runs (`api.start_background`) start this module with `--run-id`, so the process takes over the run
row created for it. Exit status 0 when the run finished or was cancelled, 1 on an error (printed to stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from typing import Any

from lensforge.errors import LensforgeError
from lensforge.workspace import current_user, resolve_workspace


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lensforge.finetune.launch", description="Run one fine-tuning run.")
    p.add_argument("--workspace", "-w", default=None, help="workspace folder (default: $LENSFORGE_HOME)")
    p.add_argument("--snapshot", required=True, help="local snapshot id, or REPO@REVISION on the Hub")
    p.add_argument("--base", default=None, help="base model (default: the preset's)")
    p.add_argument("--preset", required=True, help="preset name (see presets.toml)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    p.add_argument("--overrides-json", default=None, help="overrides as one JSON object (used by background runs)")
    p.add_argument("--actor", default=None, help="who starts the run (default: $LENSFORGE_USER)")
    p.add_argument("--run-id", default=None, help="take over this run row (created by start_background)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    return p


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _close_if_open(ws: Any, run_id: str | None, error: str) -> None:
    """A background run that failed before training took its row over must not stay `running`."""
    if not run_id or int(os.environ.get("RANK", "0")) != 0:
        return
    from lensforge.finetune.runs import close_run, run_status

    if run_status(ws, run_id) == "running":
        close_run(ws, run_id, "failed", error=error)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # a terminated run closes its row (cancelled) on the way out
    ws = resolve_workspace(args.workspace)
    from lensforge.finetune.config import parse_overrides
    from lensforge.finetune.train import train

    try:
        overrides = json.loads(args.overrides_json) if args.overrides_json else {}
        overrides.update(parse_overrides(args.sets))
        result = train(
            ws,
            args.snapshot,
            base=args.base,
            preset=args.preset,
            overrides=overrides,
            actor=current_user(args.actor),
            resume=args.resume,
            run_id=args.run_id,
        )
    except LensforgeError as exc:
        _close_if_open(ws, args.run_id, str(exc))
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: train() has closed the run as cancelled
        _close_if_open(ws, args.run_id, "interrupted before training started")
        print("interrupted", file=sys.stderr)
        return 130
    except BaseException as exc:
        _close_if_open(ws, args.run_id, f"{type(exc).__name__}: {exc}")
        raise
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:  # every process says what it did, so a launch shows that all ranks trained
        print(
            f"rank {rank}/{world}: run {result['run_id']} {result['status']} at step {result.get('steps')}",
            file=sys.stderr,
        )
    if rank == 0:
        print(json.dumps(result, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
