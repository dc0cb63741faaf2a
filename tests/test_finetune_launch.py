"""Multi-process training: a real 2-process `accelerate launch` on CPU, and the shipped FSDP/DeepSpeed configs read
by accelerate's own launcher code (what `accelerate launch --config_file` does before it starts anything)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_finetune import SNAPSHOT_ID, write_snapshot

from lensforge.catalog.db import connect
from lensforge.finetune import api

CONFIGS = Path(__file__).resolve().parents[1] / "lensforge" / "finetune" / "accelerate"


@pytest.mark.slow(seconds=27)
def test_two_cpu_processes_train_one_run_and_write_one_adapter(ws):
    write_snapshot(ws)
    accelerate = Path(sys.executable).parent / "accelerate"
    # --multi_gpu starts the processes with torch.distributed (elastic launch); without CUDA they use gloo on CPU.
    # (`--cpu` with several processes runs one process unless an MPI hostfile is given.)
    cmd = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1"]
    cmd += ["--mixed_precision", "no", "--dynamo_backend", "no", "-m", "lensforge.finetune.launch"]
    cmd += ["--workspace", str(ws.root), "--snapshot", SNAPSHOT_ID, "--preset", "cpu-tiny", "--actor", "launcher"]
    cmd += ["--set", "max_steps=3", "--set", "logging_steps=1", "--set", "per_device_batch=4"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=420, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])  # printed by rank 0 only
    run_id = result["run_id"]
    for rank in (0, 1):  # both processes trained the same run to the same step
        assert f"rank {rank}/2: run {run_id} finished at step 3" in proc.stderr, proc.stderr[-3000:]
    with connect(ws, read_only=True) as con:
        runs = con.execute("SELECT run_id FROM runs").fetchall()
    assert runs == [(run_id,)]  # one run record, written by rank 0
    record = api.get_run(ws, run_id)
    assert record["status"] == "finished" and record["config"]["world_size"] == 2 and record["steps"] == 3
    assert [m["step"] for m in record["metrics"]] == [1, 2, 3]
    adapters = [p for p in ws.runs_dir.rglob("adapter_model.safetensors") if "checkpoint" not in str(p)]
    assert adapters == [ws.runs_dir / run_id / "adapter" / "adapter_model.safetensors"]


def _launch_args(config: str):
    """The launch arguments accelerate derives from a config file, validated as `accelerate launch` does."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    args = launch_command_parser().parse_args(
        ["--config_file", str(CONFIGS / config), "-m", "lensforge.finetune.launch"]
    )
    return _validate_launch_command(args)[0]


def test_fsdp_config_builds_accelerates_fsdp_plugin():
    import transformers
    from accelerate.utils import FullyShardedDataParallelPlugin, patch_environment, prepare_multi_gpu_env

    args = _launch_args("fsdp.yaml")
    assert args.use_fsdp and args.num_processes == 2 and args.fsdp_version == 2
    with patch_environment(**prepare_multi_gpu_env(args)):
        plugin = FullyShardedDataParallelPlugin()  # reads and checks the FSDP_* settings the launcher exports
    assert plugin.fsdp_version == 2 and plugin.activation_checkpointing and plugin.cpu_ram_efficient_loading
    assert plugin.state_dict_type.name == "SHARDED_STATE_DICT"  # train.py gathers a full one to save the adapter
    for cls in plugin.transformer_cls_names_to_wrap:  # the layer class names exist in this transformers
        assert hasattr(transformers, cls.replace("DecoderLayer", "Model")), cls


def test_deepspeed_config_builds_accelerates_deepspeed_plugin():
    from accelerate.utils import DeepSpeedPlugin

    args = _launch_args("deepspeed_zero2.yaml")
    assert args.use_deepspeed and args.num_processes == 2
    path = Path(args.deepspeed_config_file)
    assert path.resolve() == CONFIGS / "ds_zero2.json"  # relative to the repository root, as the file says
    plugin = DeepSpeedPlugin(hf_ds_config=str(CONFIGS / path.name))
    assert plugin.zero_stage == 2
    config = plugin.hf_ds_config.config
    # Batch sizes, accumulation, clipping and precision are "auto": the Trainer fills them from the preset.
    for key in ("train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps"):
        assert config[key] == "auto", key
    assert config["bf16"]["enabled"] == "auto" and config["gradient_clipping"] == "auto"


@pytest.mark.parametrize("config", ["cpu.yaml", "multi_gpu_ddp.yaml"])
def test_other_configs_parse(config):
    args = _launch_args(config)
    want = (True, 1, False) if config == "cpu.yaml" else (False, 2, True)
    assert (args.use_cpu, args.num_processes, args.multi_gpu) == want
