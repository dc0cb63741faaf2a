"""Training steps through TRL's SFTTrainer (lensforge's loop) against transformers' plain Trainer, same data.

    python bench/finetune_steps.py [--steps 40] [--rows 600] [--threads 1]

Both loops train the same LoRA adapter (the cpu-tiny preset: r 16 on every linear layer, embeddings and head
trained) on the tiny local model over the same examples, rendered and masked by `lensforge.finetune.chat.render`:

- baseline: `transformers.Trainer` with a right-padding collator and the labels built by hand (what lensforge did
  before it used TRL);
- lensforge: `SFTTrainer` as `lensforge.finetune.train` configures it (labels from the masks, TRL's collator and
  loss), without packing and with packing (best-fit blocks, padding-free).

Prints seconds per step and tokens per second for each, and the ratio to the baseline measured in the same run.
Figures move with the load of the machine (several engineers share its 2 cores): compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

from lensforge.finetune.chat import resolve_template
from lensforge.finetune.config import get_preset
from lensforge.finetune.data import prepare_examples, to_dataset
from lensforge.finetune.tiny import ensure_tiny_model
from lensforge.workspace import resolve_workspace

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "lensforge" / "demo" / "data"
SYSTEM = "You are a social media expert providing accurate analysis and insights."


def demo_rows(limit: int) -> list[list[dict[str, str]]]:
    """Conversations from the demo corpus (English sentiment and summaries), cycled up to `limit` rows."""
    rows = []
    for r in pl.read_csv(DEMO / "demo_news_sentiment_en" / "train.csv").iter_rows(named=True):
        rows.append((f"Classify the sentiment.\nInput: {r['sentence']}", f"Label: {r['sentiment']}"))
    for r in pl.read_ndjson(DEMO / "demo_summaries_en" / "train.jsonl").iter_rows(named=True):
        rows.append((f"Summarize the article.\nInput: {r['article']}", f"Summary: {r['summary']}"))
    out = []
    while len(out) < limit:
        for user, answer in rows[: limit - len(out)]:
            out.append(
                [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": user},
                    {"role": "assistant", "content": answer},
                ]
            )
    return out


def _lora() -> Any:
    from peft import LoraConfig

    cfg = get_preset("cpu-tiny")
    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        target_modules=cfg.target_modules,
        modules_to_save=list(cfg.modules_to_save),
        task_type="CAUSAL_LM",
    )


def _time(trainer: Any, steps: int) -> dict[str, float]:
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    tokens = int(trainer.state.num_input_tokens_seen or 0)
    return {"s_per_step": seconds / steps, "tokens_per_s": tokens / seconds}


def baseline(model_path: Path, data: Any, out: Path, steps: int, batch: int) -> dict[str, float]:
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments

    def collate(examples: list[dict[str, Any]]) -> dict[str, Any]:
        width = max(len(e["input_ids"]) for e in examples)
        ids = torch.zeros((len(examples), width), dtype=torch.long)
        labels = torch.full((len(examples), width), -100, dtype=torch.long)
        mask = torch.zeros((len(examples), width), dtype=torch.long)
        for i, e in enumerate(examples):
            n = len(e["input_ids"])
            ids[i, :n] = torch.tensor(e["input_ids"])
            labels[i, :n] = torch.tensor(
                [t if m else -100 for t, m in zip(e["input_ids"], e["assistant_masks"], strict=True)]
            )
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_path), _lora())
    args = TrainingArguments(
        output_dir=str(out / "baseline"),
        max_steps=steps,
        per_device_train_batch_size=batch,
        learning_rate=1e-3,
        use_cpu=True,
        report_to="none",
        disable_tqdm=True,
        save_strategy="no",
        remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding",
        logging_steps=steps,
    )
    return _time(Trainer(model=model, args=args, train_dataset=data, data_collator=collate), steps)


def sft(model_path: Path, data: Any, tok: Any, out: Path, steps: int, batch: int, packing: bool) -> dict[str, float]:
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        output_dir=str(out / f"sft-{packing}"),
        max_steps=steps,
        per_device_train_batch_size=batch,
        learning_rate=1e-3,
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,
        report_to="none",
        disable_tqdm=True,
        save_strategy="no",
        include_num_input_tokens_seen="non_padding",
        logging_steps=steps,
        max_length=256,
        packing=packing,
    )
    model = AutoModelForCausalLM.from_pretrained(model_path)
    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok, peft_config=_lora())
    return _time(trainer, steps)


def main() -> None:
    import torch
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--rows", type=int, default=600)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=1, help="torch threads (the cpu-tiny preset uses 1)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    hf_logging.set_verbosity_error()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        ws = resolve_workspace(out / "ws").ensure()
        rows = demo_rows(a.rows)
        model_path = ensure_tiny_model(ws, [m["content"] for r in rows for m in r])
        tok = AutoTokenizer.from_pretrained(model_path)
        started = time.perf_counter()
        prepared = prepare_examples(rows, tok, resolve_template(tok, None), max_length=256)
        render_s = time.perf_counter() - started
        data = to_dataset(prepared)
        base = baseline(model_path, data, out, a.steps, a.batch)
        result = {
            "rows": len(rows),
            "render_rows_per_s": round(len(rows) / render_s),
            "baseline_trainer": base,
            "sft_trainer": sft(model_path, data, tok, out, a.steps, a.batch, packing=False),
            "sft_trainer_packed": sft(model_path, data, tok, out, a.steps, a.batch, packing=True),
        }
    for key in ("sft_trainer", "sft_trainer_packed"):
        result[key]["step_time_vs_baseline"] = round(result[key]["s_per_step"] / base["s_per_step"], 2)
    print(json.dumps(result, indent=2, default=lambda v: round(v, 3)))


if __name__ == "__main__":
    main()
