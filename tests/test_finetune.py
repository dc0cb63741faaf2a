"""Fine-tuning: presets and overrides, chat formats, the loss mask, the tiny model, and runs end to end on CPU.

Everything is offline (HF_HUB_OFFLINE=1): the base model is the tiny local Llama, built from the snapshot's texts.
The snapshot is written by hand from the demo corpus (Arabic sarcasm, English sentiment and summaries), with
`messages` shaped as the snapshot builder writes them.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from lensforge.catalog.db import connect, transaction
from lensforge.errors import LensforgeError
from lensforge.finetune import api
from lensforge.finetune.config import OPTIMIZERS, load_presets, parse_overrides, resolve_config
from lensforge.finetune.tiny import TINY_SPECIAL_TOKENS
from lensforge.hashing import file_sha256

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "lensforge" / "demo" / "data"
SNAPSHOT_ID = "s0f1e2d3c4b5a69"
SYSTEM = "You are a social media expert providing accurate analysis and insights."
INSTRUCTIONS = {
    "demo_sarcasm_ar": [
        "Decide whether the Arabic tweet is sarcastic. Answer with one label: sarcastic or not-sarcastic.",
        "Is the following Arabic tweet sarcastic? Reply sarcastic or not-sarcastic.",
    ],
    "demo_news_sentiment_en": [
        "Classify the sentiment of the news sentence as positive, negative or neutral.",
        "What is the sentiment of this news item? Answer positive, negative or neutral.",
    ],
    "demo_summaries_en": ["Summarize the news article in one sentence.", "Write a one-sentence news summary."],
}
FAST = {"max_steps": 12, "logging_steps": 2, "save_steps": 100, "per_device_batch": 8}

pytestmark = pytest.mark.usefixtures("offline")


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def _demo_rows() -> list[tuple[str, str, str, str, str, str, str, str]]:
    """(dataset, language, task, split, id, input, output, answer prefix) from three demo datasets."""
    rows = []
    for split, name in (("train", "train.tsv"), ("test", "test.tsv")):
        frame = pl.read_csv(DEMO / "demo_sarcasm_ar" / name, separator="\t", quote_char=None)
        for i, r in enumerate(frame.iter_rows(named=True)):
            label = "sarcastic" if str(r["sarcasm"]).upper() == "TRUE" else "not-sarcastic"
            s = "dev" if split == "train" and i % 8 == 7 else split
            rows.append(("demo_sarcasm_ar", "ar", "Sarcasm Detection", s, r["id"], r["tweet"], label, "Label: "))
    for split in ("train", "dev", "test"):
        for r in pl.read_csv(DEMO / "demo_news_sentiment_en" / f"{split}.csv").iter_rows(named=True):
            head = ("demo_news_sentiment_en", "en", "Sentiment Classification", split, r["id"])
            rows.append((*head, r["sentence"], r["sentiment"], "Label: "))
    for split in ("train", "test"):
        for r in pl.read_ndjson(DEMO / "demo_summaries_en" / f"{split}.jsonl").iter_rows(named=True):
            head = ("demo_summaries_en", "en", "News Summarization", split, r["id"])
            rows.append((*head, r["article"], r["summary"], "Summary: "))
    return rows


def write_snapshot(ws) -> dict[str, int]:
    """A snapshot folder and its catalog row, as lensforge.release.snapshot lays them out."""
    rnd = random.Random(7)
    records = []
    for ds, lang, task, split, sid, text, output, prefix in _demo_rows():
        k = 0 if split == "test" else rnd.randrange(len(INSTRUCTIONS[ds]))
        instruction = INSTRUCTIONS[ds][k]
        records.append(
            {
                "id": f"{ds}:{sid}",
                "dataset": ds,
                "language": lang,
                "task": task,
                "split": split,
                "instruction_id": f"{ds}-i{k}",
                "instruction": instruction,
                "input": text,
                "output": output,
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": f"{instruction}\nInput: {text}"},
                    {"role": "assistant", "content": prefix + output},
                ],
            }
        )
    frame = pl.DataFrame(records)
    target = ws.ensure().snapshots_dir / SNAPSHOT_ID
    (target / "data").mkdir(parents=True)
    counts = {}
    for split in ("train", "dev", "test"):
        part = frame.filter(pl.col("split") == split)
        part.write_parquet(target / "data" / f"{split}.parquet")
        counts[split] = part.height
    (target / "README.md").write_text("# test snapshot\n", encoding="utf-8")
    # The file hashes finetune re-checks before training (`lensforge snapshot verify`).
    outputs = {p.relative_to(target).as_posix(): file_sha256(p) for p in sorted(target.rglob("*")) if p.is_file()}
    manifest = {"snapshot_id": SNAPSHOT_ID, "rows": counts, "outputs": outputs}
    (target / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with transaction(ws) as con:
        con.execute(
            "INSERT INTO snapshots (snapshot_id, created_by, mixture, path, manifest, rows_train, rows_dev, rows_test) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [SNAPSHOT_ID, "tester", "test-mix", f"snapshots/{SNAPSHOT_ID}", json.dumps(manifest), *counts.values()],
        )
    return counts


@pytest.fixture
def snap(ws):
    write_snapshot(ws)
    return ws


def _runs(ws) -> list[dict]:
    with connect(ws, read_only=True) as con:
        return con.sql("SELECT * FROM runs").pl().to_dicts()


def _events(ws, kind: str, subject: str) -> int:
    with connect(ws, read_only=True) as con:
        rows = con.execute("SELECT count(*) FROM events WHERE kind = ? AND subject = ?", [kind, subject]).fetchall()
    return rows[0][0]


# ---------------------------------------------------------------- presets and overrides


def test_presets_hold_the_documented_values():
    presets = load_presets()
    assert set(presets) == {"llamalens-qlora", "llamalens-lora", "qlora-r64", "cpu-tiny"}
    q = presets["llamalens-qlora"]
    assert (q.quantization, q.compute_dtype, q.double_quant) == ("4bit", "bfloat16", False)
    assert (q.lora_r, q.lora_alpha, q.lora_dropout) == (128, 128, 0.1)  # the LlamaLens code's (facts section 6)
    assert (q.learning_rate, q.lr_scheduler, q.optimizer, q.epochs) == (2e-4, "linear", "adamw_torch", 2)
    assert (q.packing, q.max_length, q.warmup_steps, q.seed) == (True, 4096, 10, 3407)
    assert q.per_device_batch * q.grad_accum == 16 and q.per_device_batch == 4
    assert q.base_model == "meta-llama/Llama-3.1-8B-Instruct" and q.chat_template is None  # the model's own
    full = presets["llamalens-lora"]
    assert (full.quantization, full.lora_r, full.lora_alpha, full.epochs) == ("none", 512, 512, 2)
    r64 = presets["qlora-r64"]
    assert (r64.lora_r, r64.lora_alpha, r64.lora_dropout, r64.quantization) == (64, 16, 0.1, "4bit")
    assert (r64.optimizer, r64.lr_scheduler, r64.warmup_ratio, r64.group_by_length) == (
        "paged_adamw_32bit",
        "cosine",
        0.03,
        True,
    )
    assert r64.chat_template == "mistral"  # Mistral-7B-v0.1 ships no template: the seed's ###Human format
    tiny = presets["cpu-tiny"]
    assert (tiny.base_model, tiny.quantization, tiny.compute_dtype, tiny.max_length) == ("tiny", "none", "float32", 256)
    assert not tiny.needs_cuda() and q.needs_cuda() and r64.needs_cuda()


def test_offered_optimizers_exist_in_transformers():
    from transformers.training_args import OptimizerNames

    assert set(OPTIMIZERS) <= {o.value for o in OptimizerNames}


def test_overrides_are_typed_against_the_fields():
    got = parse_overrides(
        ["lora_r=8", "learning_rate=3e-4", "packing=true", "target_modules=q_proj,v_proj", "chat_template=none"]
    )
    assert got == {
        "lora_r": 8,
        "learning_rate": 3e-4,
        "packing": True,
        "target_modules": ["q_proj", "v_proj"],
        "chat_template": None,
    }
    assert parse_overrides(["chat_template=llama2"]) == {"chat_template": "llama2"}
    assert parse_overrides(["chat_template=/tmp/mine.jinja"]) == {"chat_template": "/tmp/mine.jinja"}
    cfg = resolve_config("cpu-tiny", {"epochs": "2", "modules_to_save": "lm_head", "quantization": "8bit"})
    assert cfg.epochs == 2.0 and cfg.modules_to_save == ["lm_head"] and cfg.quantization == "8bit"
    assert resolve_config("cpu-tiny", {}).lora_r == 16  # the preset itself is unchanged


@pytest.mark.parametrize(
    ("items", "needle"),
    [
        (["lora_rank=8"], "unknown setting 'lora_rank'"),
        (["lora_r=eight"], "lora_r"),
        (["packing=perhaps"], "packing"),
        (["quantization=2bit"], "quantization"),
        (["learning_rate=-1"], "learning_rate"),
        (["optimizer=adamw_hf"], "optimizer"),
        (["chat_template=chatml"], "chat template"),
        (["chat_format=llama3"], "unknown setting 'chat_format'"),
        (["epochs"], "key=value"),
    ],
)
def test_bad_overrides_are_clear_errors(items, needle):
    with pytest.raises(LensforgeError) as err:
        parse_overrides(items)
    assert needle in str(err.value)
    if "unknown" in needle:
        assert "valid keys:" in str(err.value) and "lora_r" in str(err.value) and "quantization" in str(err.value)


def test_unknown_preset_lists_the_presets():
    with pytest.raises(LensforgeError, match="cpu-tiny"):
        resolve_config("llamalens-xl", {})


# ---------------------------------------------------------------- the tiny model


def test_tiny_model_is_cached_carries_its_chat_template_and_loads_offline(snap):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from lensforge.finetune.chat import has_generation_markers, shipped_templates
    from lensforge.finetune.data import corpus_texts

    texts = corpus_texts(snap.snapshots_dir / SNAPSHOT_ID)
    first = api.ensure_tiny_model(snap, texts)
    assert api.ensure_tiny_model(snap, texts) == first
    assert first.parent == snap.cache_dir / "models" and first.name.startswith("tiny-")
    assert api.ensure_tiny_model(snap, texts[:-1]) != first  # another corpus, another model
    tok = AutoTokenizer.from_pretrained(first)
    model = AutoModelForCausalLM.from_pretrained(first)
    assert tok.pad_token == "<|pad|>" and model.config.vocab_size == len(tok)
    for special in TINY_SPECIAL_TOKENS:
        assert len(tok(special, add_special_tokens=False)["input_ids"]) == 1
    arabic = "نتمنى معالجة الهاتف الجديد"
    assert tok.decode(tok(arabic, add_special_tokens=False)["input_ids"]) == arabic
    # The tokenizer carries the shipped `tiny` template, with generation markers (what TRL's
    # assistant_only_loss needs), so the saved folder trains and serves like any chat model.
    assert tok.chat_template == shipped_templates()["tiny"] and has_generation_markers(tok.chat_template)
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    assert tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == (
        "<|system|>S<|user|>U<|assistant|>"
    )


# ---------------------------------------------------------------- training runs


def test_cpu_tiny_trains_end_to_end(snap):
    progress = []
    result = api.train(snap, SNAPSHOT_ID, preset="cpu-tiny", overrides=FAST, actor="me", on_progress=progress.append)
    run_id = result["run_id"]
    assert result["status"] == "finished" and run_id.startswith("r") and len(run_id) == 12
    run_path = snap.runs_dir / run_id
    metrics = pl.read_parquet(run_path / "metrics.parquet")
    assert metrics["step"].to_list() == [1, 2, 4, 6, 8, 10, 12]
    losses = metrics["loss"].to_list()
    assert losses[-1] < losses[0]
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json"):
        assert (run_path / "adapter" / name).is_file(), name
    assert "step 12/12" in (run_path / "log.txt").read_text(encoding="utf-8")
    record = api.get_run(snap, run_id)
    assert record["status"] == "finished" and record["error"] is None and record["finished_at"]
    assert record["steps"] == 12 and record["train_rows"] == 390 and record["chat_format"] == "tiny"
    assert record["snapshot_id"] == SNAPSHOT_ID and record["base_model"] == "tiny" and record["preset"] == "cpu-tiny"
    assert record["tokens_per_second"] > 0 and record["wall_seconds"] > 0
    assert record["final_loss"] == pytest.approx(losses[-1])
    assert record["overrides"] == FAST and record["config"]["max_steps"] == 12
    assert record["config"]["data"]["dropped"] == 0
    assert [m["step"] for m in record["metrics"]] == metrics["step"].to_list()
    assert record["adapter_path"] == f"runs/{run_id}/adapter"
    assert _events(snap, "finetune.start", run_id) == 1
    assert [p["step"] for p in progress if p["event"] == "log"] == metrics["step"].to_list()
    steps = [p["step"] for p in progress if p["event"] == "step"]
    assert steps == list(range(0, 13)) and {p["max_steps"] for p in progress if p["event"] == "step"} == {12}
    phases = [p["phase"] for p in progress if p["event"] == "phase"]
    assert phases == ["tokenizer", "data", "model", "training", "saving"]
    (fit,) = [p for p in progress if p["event"] == "data_done"]
    assert fit["dropped"] == 0 and "all 390 rows fit max_length 256" in fit["message"]
    assert record["phase"] == "finished" and record["config"]["loss_mask"] == "generation"
    assert json.loads((run_path / "status.json").read_text(encoding="utf-8"))["phase"] == "finished"
    listed = api.list_runs(snap)
    assert listed["run_id"].to_list() == [run_id] and listed["status"].to_list() == ["finished"]
    # the adapter loads on the base offline and generates
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(run_path / "adapter")  # saved with the chat template it trained with
    model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(record["config"]["base_path"]), run_path / "adapter"
    )
    prompt = [{"role": "user", "content": "hello"}]
    ids = tok.apply_chat_template(prompt, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    ids = ids["input_ids"]
    assert model.generate(ids, max_new_tokens=3, do_sample=False).shape[1] > ids.shape[1]


def test_4bit_on_cpu_is_refused_before_anything_loads(snap, monkeypatch):
    import torch
    import transformers

    def boom(*args, **kwargs):
        raise AssertionError("weights must not load")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", boom)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", boom)
    monkeypatch.setattr("lensforge.finetune.tiny.ensure_tiny_model", boom)
    cases = [
        ("llamalens-qlora", {}),
        ("qlora-r64", {}),
        ("cpu-tiny", {"quantization": "4bit"}),
        ("cpu-tiny", {"quantization": "8bit"}),
        ("cpu-tiny", {"optimizer": "paged_adamw_32bit"}),
    ]
    for preset, overrides in cases:
        with pytest.raises(LensforgeError) as err:
            api.train(snap, SNAPSHOT_ID, preset=preset, overrides=overrides, actor="tester")
        assert "cpu-tiny" in str(err.value) and "CUDA" in str(err.value), preset
        with pytest.raises(LensforgeError, match="cpu-tiny"):
            api.start_background(snap, SNAPSHOT_ID, None, preset, overrides, "tester")
    assert _runs(snap) == []
    assert list(snap.runs_dir.iterdir()) == []
    assert not (snap.cache_dir / "models").exists()


def test_unknown_snapshot_and_offline_hub_are_clear_errors(snap):
    started = time.monotonic()
    with pytest.raises(LensforgeError, match="lensforge snapshot list"):
        api.train(snap, "sdoesnotexist000", preset="cpu-tiny", overrides=FAST, actor="tester")
    with pytest.raises(LensforgeError, match="offline") as err:
        api.train(snap, "QCRI/LlamaLens-Arabic@v1.0", preset="cpu-tiny", overrides=FAST, actor="tester")
    assert "HF_HUB_OFFLINE" in str(err.value)
    with pytest.raises(LensforgeError, match="lensforge snapshot list"):
        api.start_background(snap, "sdoesnotexist000", None, "cpu-tiny", FAST, "tester")
    assert time.monotonic() - started < 10  # refused at once, no network retries
    assert _runs(snap) == []


def test_hub_snapshot_records_repo_revision_and_sha(snap, monkeypatch):
    """REPO@REVISION goes through datasets.load_dataset at the resolved commit (the Hub is faked here)."""
    from types import SimpleNamespace

    import datasets
    import huggingface_hub
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    local = snap.snapshots_dir / SNAPSHOT_ID
    sha = "a1" * 20
    loads = []

    class FakeApi:
        def dataset_info(self, repo, revision=None):
            assert (repo, revision) == ("acme/lens-snapshot", "v1.0")
            return SimpleNamespace(sha=sha)

    def fake_load(repo, revision=None):
        loads.append((repo, revision))
        return datasets.DatasetDict(
            {s: datasets.Dataset.from_parquet(str(local / "data" / f"{s}.parquet")) for s in ("train", "dev", "test")}
        )

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda repo, name, **kw: str(local / name))
    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    result = api.train(
        snap, "acme/lens-snapshot@v1.0", preset="cpu-tiny", overrides={**FAST, "max_steps": 2}, actor="tester"
    )
    record = api.get_run(snap, result["run_id"])
    assert record["status"] == "finished" and record["train_rows"] == 390
    assert (record["hub_repo"], record["hub_revision"], record["hub_sha"]) == ("acme/lens-snapshot", "v1.0", sha)
    assert record["snapshot_id"] == SNAPSHOT_ID  # the manifest's id
    assert loads == [("acme/lens-snapshot", sha)]  # loaded at the resolved commit, not the moving tag


def test_a_failing_training_closes_the_run_as_failed(snap, monkeypatch):
    import transformers

    def broken(self, *args, **kwargs):
        raise RuntimeError("simulated crash in the training loop")

    monkeypatch.setattr(transformers.Trainer, "train", broken)
    with pytest.raises(RuntimeError, match="simulated crash"):
        api.train(snap, SNAPSHOT_ID, preset="cpu-tiny", overrides=FAST, actor="tester")
    (row,) = _runs(snap)
    assert row["status"] == "failed" and row["finished_at"] is not None
    assert "simulated crash in the training loop" in row["error"]
    assert "failed: RuntimeError" in (snap.runs_dir / row["run_id"] / "log.txt").read_text(encoding="utf-8")


def test_cancel_then_resume_continues_the_step_count(snap):
    overrides = {**FAST, "max_steps": 10, "logging_steps": 1, "save_steps": 4}

    def cancel_at_step_5(row):
        if row["event"] == "log" and row["step"] == 5:
            api.cancel_run(snap, row["run_id"], "tester")

    first = api.train(
        snap, SNAPSHOT_ID, preset="cpu-tiny", overrides=overrides, actor="me", on_progress=cancel_at_step_5
    )
    run_id = first["run_id"]
    assert first["status"] == "cancelled" and first["steps"] == 6  # stops at the next step, with a checkpoint there
    assert api.get_run(snap, run_id)["status"] == "cancelled"
    assert api.latest_checkpoint(snap.runs_dir / run_id).name == "checkpoint-6"
    assert not (snap.runs_dir / run_id / "adapter").exists()
    with pytest.raises(LensforgeError, match="not running"):
        api.cancel_run(snap, run_id, "tester")

    second = api.train(snap, SNAPSHOT_ID, preset="cpu-tiny", overrides=overrides, actor="tester", resume=True)
    assert second["run_id"] == run_id and second["status"] == "finished" and second["steps"] == 10
    record = api.get_run(snap, run_id)
    assert record["status"] == "finished" and record["error"] is None
    assert [m["step"] for m in record["metrics"]] == list(range(1, 11))
    assert pl.read_parquet(snap.runs_dir / run_id / "metrics.parquet")["step"].to_list() == list(range(1, 11))
    assert "resuming from checkpoint-6" in (snap.runs_dir / run_id / "log.txt").read_text(encoding="utf-8")
    assert (snap.runs_dir / run_id / "adapter" / "adapter_model.safetensors").is_file()
    assert _events(snap, "finetune.start", run_id) == 1 and _events(snap, "finetune.resume", run_id) == 1
    assert len(_runs(snap)) == 1
    with pytest.raises(LensforgeError, match="nothing to resume"):
        api.train(snap, SNAPSHOT_ID, preset="cpu-tiny", overrides=overrides, actor="tester", resume=True)


def _wait(ws, run_id: str, timeout: float = 150.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = api.get_run(ws, run_id)
        if record["status"] != "running":
            return record
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} still running after {timeout}s: {Path(record['log_path']).read_text()}")


@pytest.mark.slow(seconds=28)
def test_background_run_and_accelerate_launch_on_one_cpu_process(snap):
    """Two processes at once on one catalog: a background run and `accelerate launch --cpu` (1 process)."""
    started = time.monotonic()
    bg = api.start_background(snap, SNAPSHOT_ID, "tiny", "cpu-tiny", {**FAST, "max_steps": 5}, "tester")
    assert time.monotonic() - started < 15  # returns at once; training goes on in its own process
    assert api.get_run(snap, bg)["status"] == "running"

    accelerate = Path(sys.executable).parent / "accelerate"
    cmd = [str(accelerate), "launch", "--num_processes", "1", "--cpu", "--num_machines", "1"]
    cmd += ["--mixed_precision", "no", "--dynamo_backend", "no", "-m", "lensforge.finetune.launch"]
    cmd += ["--workspace", str(snap.root), "--snapshot", SNAPSHOT_ID, "--preset", "cpu-tiny", "--actor", "launcher"]
    cmd += ["--set", "max_steps=5", "--set", "logging_steps=1", "--set", "per_device_batch=8"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    launched = json.loads(proc.stdout.strip().splitlines()[-1])
    assert launched["status"] == "finished" and launched["steps"] == 5
    record = api.get_run(snap, launched["run_id"])
    assert record["status"] == "finished" and record["actor"] == "launcher" and record["config"]["world_size"] == 1
    assert [m["step"] for m in record["metrics"]] == [1, 2, 3, 4, 5]
    assert _events(snap, "finetune.start", launched["run_id"]) == 1

    done = _wait(snap, bg)
    assert done["status"] == "finished", Path(done["log_path"]).read_text(encoding="utf-8")[-3000:]
    assert done["steps"] == 5 and done["pid"] and done["adapter_path"] == f"runs/{bg}/adapter"
    log = Path(done["log_path"]).read_text(encoding="utf-8")
    assert "run finished" in log and f'"run_id": "{bg}"' in log  # our lines and the process's stdout
    assert _events(snap, "finetune.start", bg) == 1
    assert set(api.list_runs(snap)["run_id"]) == {bg, launched["run_id"]}


def test_a_run_whose_process_died_is_closed_as_failed(snap):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    from lensforge.finetune.runs import insert_run

    insert_run(
        snap,
        {
            "run_id": "rdead0000000",
            "snapshot_id": SNAPSHOT_ID,
            "base_model": "tiny",
            "preset": "cpu-tiny",
            "overrides": {},
            "config": {},
            "chat_format": "tiny",
            "path": "runs/rdead0000000",
            "pid": dead.pid,
        },
        actor="tester",
    )
    listed = api.list_runs(snap)
    assert listed["status"].to_list() == ["failed"]
    assert "ended without recording an outcome" in api.get_run(snap, "rdead0000000")["error"]
    with pytest.raises(LensforgeError, match="no run"):
        api.get_run(snap, "rnope")


def test_cli_finetune_and_evaluate_say_what_they_do(snap, capsys):
    """Phases, the over-length rows and why, the step bar; then a per-dataset line from evaluate."""
    from clihelp import run_cli

    sets = ["max_steps=2", "logging_steps=1", "per_device_batch=8", "max_length=80"]
    res = run_cli(capsys, "-w", str(snap.root), "finetune", SNAPSHOT_ID, *(a for s in sets for a in ("--set", s)))
    assert res.code == 0, res.err
    out = res.out
    for phase in ("tokenizer:", "data:", "model:", "training:", "saving:"):
        assert phase in out, out
    assert out.index("tokenizer:") < out.index("data:") < out.index("training:") < out.index("saving:")
    dropped = re.search(r"train: dropped (\d+) of 390 rows longer than max_length 80 tokens \(truncation=drop\)", out)
    assert dropped and int(dropped.group(1)) > 0, out
    assert "raise --set max_length=N to keep them" in out
    run_id = re.search(r"run (r[0-9a-f]{11}) finished", out).group(1)
    assert api.get_run(snap, run_id)["config"]["data"]["dropped"] == int(dropped.group(1))

    res = run_cli(
        capsys, "-w", str(snap.root), "evaluate", "--snapshot", SNAPSHOT_ID, "--adapter", run_id, "--limit", "2"
    )
    assert res.code == 0, res.err
    for k, name in enumerate(("demo_sarcasm_ar", "demo_news_sentiment_en", "demo_summaries_en"), start=1):
        assert re.search(rf"\[{k}/3\] {name}: 2 rows in [\d.]+ s", res.out), res.out
