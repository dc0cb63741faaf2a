"""What the CLI and the app call for fine-tuning (one import point; the modules behind it may move).

Importing this module is cheap: torch and transformers load only when a run starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from lensforge.errors import LensforgeError
from lensforge.finetune.chat import MODEL_TEMPLATE
from lensforge.finetune.config import (
    CPU_PRESET,
    TrainConfig,
    check_hardware,
    get_preset,
    load_presets,
    parse_overrides,
    resolve_config,
    valid_keys,
)
from lensforge.finetune.data import resolve_base, resolve_snapshot
from lensforge.finetune.runs import (
    cancel_run,
    get_run,
    insert_run,
    list_runs,
    read_phase,
    run_dir,
    update_run,
    write_phase,
)
from lensforge.finetune.tiny import ensure_tiny_model
from lensforge.finetune.train import find_resumable, latest_checkpoint, new_run_id, train
from lensforge.workspace import Workspace

__all__ = [
    "CPU_PRESET",
    "TrainConfig",
    "cancel_run",
    "ensure_tiny_model",
    "get_preset",
    "get_run",
    "latest_checkpoint",
    "list_presets",
    "list_runs",
    "parse_overrides",
    "read_phase",
    "resolve_base",
    "resolve_config",
    "start_background",
    "train",
    "valid_keys",
]


def list_presets() -> dict[str, TrainConfig]:
    """Every preset by name, validated (presets.toml)."""
    return dict(load_presets())


def start_background(
    ws: Workspace,
    snapshot: str,
    base: str | None,
    preset: str,
    overrides: dict[str, Any] | None,
    actor: str,
    *,
    resume: bool = False,
) -> str:
    """Start a run in a detached process and return its id at once; the run row exists when this returns.

    Settings, hardware and snapshot are checked here, so a mistake is an error now rather than a line in a
    log. The process (`python -m lensforge.finetune.launch --run-id ...`) writes stdout/stderr to
    runs/<run_id>/log.txt and takes the row over; `cancel_run` stops it, `get_run` follows it.
    """
    overrides = dict(overrides or {})
    if base is not None:
        if overrides.get("base_model", base) != base:
            raise LensforgeError(f"two base models given: {base!r} and base_model={overrides['base_model']!r}")
        overrides["base_model"] = base
    cfg = resolve_config(preset, overrides)
    check_hardware(cfg, preset)
    source = resolve_snapshot(ws, snapshot)
    typed = {k: getattr(cfg, k) for k in overrides}
    if resume:
        run_id = find_resumable(ws, source, cfg.base_model, preset, typed)
        update_run(ws, run_id, status="running", error=None, finished_at=None, pid=None)
    else:
        run_id = new_run_id(source.snapshot_id, cfg.base_model, preset, typed)
        path = run_dir(ws, run_id)
        path.mkdir(parents=True, exist_ok=True)
        insert_run(
            ws,
            {
                "run_id": run_id,
                "snapshot_id": source.snapshot_id,
                "hub_repo": source.hub_repo,
                "hub_revision": source.hub_revision,
                "hub_sha": source.hub_sha,
                "base_model": cfg.base_model,
                "preset": preset,
                "overrides": typed,
                "config": {**cfg.model_dump(), "preset": preset, "background": True},
                "chat_format": cfg.chat_template or MODEL_TEMPLATE,  # the process records the resolved name
                "path": str(path.relative_to(ws.root)),
                "pid": None,
            },
            actor=actor,
        )
    path = run_dir(ws, run_id)
    write_phase(ws, run_id, "starting")
    cmd = [
        sys.executable,
        "-m",
        "lensforge.finetune.launch",
        "--workspace",
        str(ws.root),
        "--snapshot",
        snapshot,
        "--preset",
        preset,
        "--overrides-json",
        json.dumps(typed, default=str),
        "--actor",
        actor,
        "--run-id",
        run_id,
        *(["--resume"] if resume else []),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TQDM_DISABLE": "1"}
    with (path / "log.txt").open("ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # survives the CLI exiting; Ctrl-C in the terminal does not reach it
        )
    update_run(ws, run_id, pid=proc.pid)
    return run_id
