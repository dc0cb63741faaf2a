"""The recipes shipped with an export: the TRL script trains the exported snapshot with no lensforge import, and
the axolotl config reads the exported columns with the tokenizer's template and the preset's values."""

from __future__ import annotations

import os
import subprocess
import sys

import polars as pl
import pytest
import yaml
from test_finetune import SNAPSHOT_ID, write_snapshot

from lensforge.finetune.config import get_preset
from lensforge.finetune.data import corpus_texts
from lensforge.finetune.tiny import ensure_tiny_model
from lensforge.release.publish import export_to_dir

# Run the recipe with lensforge made unimportable: any `import lensforge` in it (or in what it imports) fails.
NO_LENSFORGE = (
    "import runpy, sys; sys.modules['lensforge'] = None; sys.argv = sys.argv[1:]; "
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)


@pytest.mark.slow(seconds=16)
def test_exported_snapshot_trains_with_the_plain_trl_recipe(ws, tmp_path):
    write_snapshot(ws)
    snapshot = ws.snapshots_dir / SNAPSHOT_ID
    export = export_to_dir(snapshot, tmp_path / "export")
    model = ensure_tiny_model(ws, corpus_texts(snapshot))  # the tiny model folder lensforge saved, template included
    cmd = [sys.executable, "-c", NO_LENSFORGE, "recipes/train_trl.py", "--model", str(model)]
    cmd += ["--output", str(tmp_path / "adapter"), "--max-steps", "3", "--batch", "4", "--grad-accum", "1"]
    cmd += ["--lora-r", "8", "--lora-alpha", "8", "--max-length", "256"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update({"HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"})
    proc = subprocess.run(cmd, cwd=export, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert f"adapter saved to {tmp_path / 'adapter'}" in proc.stdout
    for name in ("adapter_config.json", "adapter_model.safetensors", "chat_template.jinja"):
        assert (tmp_path / "adapter" / name).is_file(), name


def test_axolotl_recipe_reads_the_exported_columns_with_the_presets_values(ws, tmp_path):
    write_snapshot(ws)
    export = export_to_dir(ws.snapshots_dir / SNAPSHOT_ID, tmp_path / "export")
    config = yaml.safe_load((export / "recipes" / "axolotl.yaml").read_text(encoding="utf-8"))
    assert config["chat_template"] == "tokenizer_default"  # the base model's own template, as lensforge renders
    for entry in (*config["datasets"], *config["test_datasets"]):
        frame = pl.read_parquet(export / entry["path"])  # paths are relative to the exported folder
        assert entry["type"] == "chat_template" and entry["field_messages"] in frame.columns
        roles = {m["role"] for row in frame[entry["field_messages"]].to_list() for m in row}
        assert roles == {"system", "user", "assistant"} and entry["roles_to_train"] == ["assistant"]
        assert entry["message_property_mappings"] == {"role": "role", "content": "content"}
    preset = get_preset("llamalens-qlora")
    assert config["base_model"] == preset.base_model and config["load_in_4bit"] is True
    assert (config["lora_r"], config["lora_alpha"], config["lora_dropout"]) == (
        preset.lora_r,
        preset.lora_alpha,
        preset.lora_dropout,
    )
    assert config["lora_target_modules"] == preset.target_modules
    assert (config["sequence_len"], config["sample_packing"]) == (preset.max_length, preset.packing)
    assert (config["learning_rate"], config["lr_scheduler"], config["warmup_steps"]) == (
        preset.learning_rate,
        preset.lr_scheduler,
        preset.warmup_steps,
    )
    assert (
        config["micro_batch_size"] * config["gradient_accumulation_steps"]
        == preset.per_device_batch * preset.grad_accum
    )
    assert (config["num_epochs"], config["seed"], config["weight_decay"]) == (
        preset.epochs,
        preset.seed,
        preset.weight_decay,
    )
