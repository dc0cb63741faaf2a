"""Fine-tune a LoRA adapter on this snapshot with TRL alone: no lensforge needed.

Run it from the exported snapshot folder (the one holding data/ and manifest.json):

    pip install trl==1.16.0 peft==0.21.2 transformers==5.23.0 datasets
    python recipes/train_trl.py --model meta-llama/Llama-3.1-8B-Instruct --output adapter

Each row's `messages` (system, user, assistant) is conversational data TRL reads as it is, rendered with the
model's own chat template. The loss is on the assistant's answer: through the template's {% generation %} blocks
(assistant_only_loss; TRL swaps in a marked template for common models), else on the completion after the prompt.
Defaults are the LlamaLens code's LoRA values (r 128, alpha 128, dropout 0.1, lr 2e-4, 2 epochs); change them
with the flags.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from datasets import load_dataset
from peft import LoraConfig
from transformers import AutoTokenizer
from trl import SFTConfig, SFTTrainer
from trl.chat_template_utils import get_training_chat_template, has_generation_markers

SNAPSHOT = Path(__file__).resolve().parent.parent


def marks_assistant_tokens(tokenizer) -> bool:
    """True when the chat template has (or TRL can patch in) {% generation %} blocks for assistant_only_loss."""
    template = tokenizer.chat_template
    if not template:
        raise SystemExit("this model's tokenizer has no chat template; pick a chat model or set one")
    if has_generation_markers(template):
        return True
    try:
        get_training_chat_template(tokenizer)
    except ValueError:
        return False
    return True


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="base model: a Hub name or a local folder")
    p.add_argument("--data", default=str(SNAPSHOT / "data"), help="folder with train.parquet (and dev.parquet)")
    p.add_argument("--output", default="adapter", help="where the adapter and tokenizer are saved")
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--max-steps", type=int, default=-1, help="> 0: stop after this many steps")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--batch", type=int, default=4, help="per-device batch size")
    p.add_argument("--grad-accum", type=int, default=4)
    p.add_argument("--max-length", type=int, default=4096)
    p.add_argument("--packing", action="store_true", help="pack rows into max-length blocks (no cross-attention)")
    p.add_argument("--lora-r", type=int, default=128)
    p.add_argument("--lora-alpha", type=int, default=128)
    p.add_argument("--lora-dropout", type=float, default=0.1)
    args = p.parse_args()

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    train = load_dataset("parquet", data_files=str(Path(args.data) / "train.parquet"), split="train")
    train = train.select_columns(["messages"])
    assistant_only = marks_assistant_tokens(tokenizer)
    if not assistant_only:  # prompt/completion rows: TRL's completion-only loss covers the answer
        train = train.map(
            lambda row: {"prompt": row["messages"][:-1], "completion": row["messages"][-1:]},
            remove_columns=["messages"],
        )
    cuda = torch.cuda.is_available()
    config = SFTConfig(
        output_dir=args.output,
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        learning_rate=args.lr,
        lr_scheduler_type="linear",
        per_device_train_batch_size=args.batch,
        gradient_accumulation_steps=args.grad_accum,
        max_length=args.max_length,
        packing=args.packing,
        assistant_only_loss=assistant_only,
        bf16=cuda and torch.cuda.is_bf16_supported(),
        activation_checkpointing=cuda,
        use_cpu=not cuda,
        logging_steps=10,
        save_strategy="no",
        report_to="none",
    )
    lora = LoraConfig(
        r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    trainer = SFTTrainer(
        model=args.model, args=config, train_dataset=train, processing_class=tokenizer, peft_config=lora
    )
    trainer.train()
    trainer.save_model(args.output)
    print(f"adapter saved to {args.output}")


if __name__ == "__main__":
    main()
