"""The tiny local base model: a small Llama at seeded random init with a tokenizer trained on the snapshot.

It exists so fine-tuning and evaluation run offline on a laptop CPU in minutes. Nothing is downloaded: the
tokenizer is a ByteLevel BPE trained with `tokenizers` on the snapshot's own texts (plus the turn markers as
special tokens) and carries the shipped `tiny` chat template, with generation markers, so the model trains with
a plain TRL script (`assistant_only_loss=True`) or an axolotl `chat_template` config like any chat model. The
weights are random. Both are saved with `save_pretrained`, so `AutoTokenizer`/`AutoModelForCausalLM
.from_pretrained(path)` load them like any Hub model. The folder name
hashes the tokenizer corpus and the configuration, so the same snapshot gives the same model, built once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lensforge.finetune.chat import shipped_templates
from lensforge.workspace import Workspace, atomic_path

# Small enough to train a few hundred steps a minute on two CPU cores, large enough to learn the demo labels.
TINY_CONFIG: dict[str, Any] = {
    "vocab_size": 4096,  # the BPE target; the trained vocabulary may be smaller on a small corpus
    "hidden_size": 128,
    "intermediate_size": 384,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "max_position_embeddings": 2048,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": False,
}
TINY_VERSION = 2  # bump when the build recipe changes, so old cached models are not reused (2: chat template)
TINY_TEMPLATE = "tiny"  # the shipped chat template (templates/tiny.jinja) whose markers are the special tokens
TINY_SPECIAL_TOKENS = ("<|pad|>", "<|unk|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>")


def _corpus_key(texts: list[str], seed: int) -> str:
    h = hashlib.sha256()
    h.update(
        json.dumps(
            {
                "v": TINY_VERSION,
                "config": TINY_CONFIG,
                "special": TINY_SPECIAL_TOKENS,
                "template": shipped_templates()[TINY_TEMPLATE],
                "seed": seed,
            }
        ).encode()
    )
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


def train_tokenizer(
    texts: list[str],
    *,
    special_tokens: list[str],
    vocab_size: int,
    unk_token: str,
    min_frequency: int = 2,
    **tokenizer_kwargs: Any,
) -> Any:
    """A byte-level BPE trained on `texts` with `special_tokens` as single tokens, as a transformers tokenizer.

    `tokenizer_kwargs` go to PreTrainedTokenizerFast (pad/eos/bos tokens, chat_template...). Byte-level, so any
    script (Arabic, Devanagari) round-trips.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=unk_token))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    named = {v for k, v in tokenizer_kwargs.items() if k.endswith("_token") and v}
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token=unk_token,
        additional_special_tokens=[t for t in special_tokens if t not in named | {unk_token}],
        **tokenizer_kwargs,
    )


def random_llama(tokenizer: Any, config: dict[str, Any], seed: int) -> Any:
    """A LlamaForCausalLM at seeded random init sized to the tokenizer, with its special token ids set."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        **{**config, "vocab_size": len(tokenizer)},
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def ensure_tiny_model(ws: Workspace, texts: Iterable[str], *, seed: int = 0) -> Path:
    """The folder of the tiny model for this corpus, built (tokenizer + random weights) on first use."""
    corpus = [t for t in texts if t]
    target = ws.cache_dir / "models" / f"tiny-{_corpus_key(corpus, seed)}"
    if (target / "config.json").is_file() and (target / "tokenizer.json").is_file():
        return target
    tokenizer = train_tokenizer(
        corpus,
        special_tokens=list(TINY_SPECIAL_TOKENS),
        vocab_size=int(TINY_CONFIG["vocab_size"]),
        unk_token="<|unk|>",
        pad_token="<|pad|>",
        eos_token="<|end|>",
        model_max_length=int(TINY_CONFIG["max_position_embeddings"]),
        padding_side="right",
        chat_template=shipped_templates()[TINY_TEMPLATE],
    )
    model = random_llama(tokenizer, TINY_CONFIG, seed)
    with atomic_path(target) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "lensforge.json").write_text(
            json.dumps({"kind": "tiny", "seed": seed, "texts": len(corpus), "config": TINY_CONFIG}, indent=2),
            encoding="utf-8",
        )
    return target
