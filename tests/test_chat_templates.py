"""Chat templates: the one renderer, train/serve parity, TRL's labels and packing, and any templated model.

No downloads: the Qwen-style and Llama-3.1-style tokenizers are byte-level BPEs trained here on demo rows, carrying
the real Qwen2.5 and Llama-3.1 chat templates as the pinned TRL release stores them (trl/chat_templates/); the
other templates are lensforge's shipped ones. The rows are real demo rows (Arabic, Hindi, English, summaries)
shaped as the snapshot builder writes them (tests/test_finetune.py).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from test_finetune import FAST, SNAPSHOT_ID, write_snapshot

from lensforge.errors import LensforgeError
from lensforge.finetune.chat import ChatTemplate, render, resolve_template, shipped_templates, turn_end
from lensforge.finetune.data import prepare_examples, to_dataset
from lensforge.finetune.tiny import random_llama, train_tokenizer

IGNORE = -100
SMALL = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "max_position_embeddings": 512,
}
MESSAGES = [
    {"role": "system", "content": "SYS"},
    {"role": "user", "content": "Classify.\nInput: text"},
    {"role": "assistant", "content": "Label: positive"},
]
# name -> (template source, special tokens, bos, eos, pad)
FAMILIES = {
    "qwen": ("trl:qwen2_5", ["<|im_start|>", "<|im_end|>", "<|endoftext|>"], None, "<|im_end|>", "<|endoftext|>"),
    "llama3.1": (
        "trl:llama3_1",
        ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|finetune_right_pad_id|>"],
        "<|begin_of_text|>",
        "<|eot_id|>",
        "<|finetune_right_pad_id|>",
    ),
    "gemma": ("trl:gemma", ["<bos>", "<eos>", "<pad>", "<start_of_turn>", "<end_of_turn>"], "<bos>", "<eos>", "<pad>"),
    "phi3": (
        "trl:phi3",
        ["<s>", "<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"],
        "<s>",
        "<|endoftext|>",
        "<|endoftext|>",
    ),
    "llama2": ("llama2", ["<s>", "</s>", "<pad>"], "<s>", "</s>", "<pad>"),
    "mistral": ("mistral", ["<s>", "</s>", "<pad>"], "<s>", "</s>", "<pad>"),
    "tiny": ("tiny", ["<|pad|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"], None, "<|end|>", "<|pad|>"),
}


def _template_text(source: str) -> str:
    if source.startswith("trl:"):
        import trl

        return (Path(trl.__file__).parent / "chat_templates" / f"{source[4:]}.jinja").read_text(encoding="utf-8")
    return shipped_templates()[source]


@pytest.fixture(scope="module")
def snapshot_rows(tmp_path_factory) -> list[list[dict]]:
    """Train rows of the test snapshot: Arabic sarcasm, English sentiment, English summaries."""
    from lensforge.workspace import resolve_workspace

    ws = resolve_workspace(tmp_path_factory.mktemp("chat") / "ws")
    write_snapshot(ws)
    frame = pl.read_parquet(ws.snapshots_dir / SNAPSHOT_ID / "data" / "train.parquet")
    rows = frame["messages"].to_list()
    return rows[:6] + rows[150:156] + rows[-6:]


def make_tokenizer(family: str, texts: list[str]):
    """A byte-level BPE trained on `texts` with the family's special tokens and chat template."""
    source, special, bos, eos, pad = FAMILIES[family]
    return train_tokenizer(
        texts,
        special_tokens=["<unk>", *special],
        vocab_size=1500,
        unk_token="<unk>",
        min_frequency=1,
        bos_token=bos,
        eos_token=eos,
        pad_token=pad,
        chat_template=_template_text(source),
    )


@pytest.fixture(scope="module")
def tokenizers(snapshot_rows) -> dict:
    texts = [m["content"] for row in snapshot_rows for m in row] * 3
    return {family: make_tokenizer(family, texts) for family in FAMILIES}


def tiny_model_folder(tokenizer, folder: Path) -> Path:
    """A 2-layer Llama (hidden 32) at seeded random init beside the tokenizer: enough to run TRL and generate."""
    random_llama(tokenizer, SMALL, seed=0).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _sft_prepared(model_path: Path, tokenizer, dataset, *, packing: bool = False, **extra):
    """SFTTrainer's prepared train dataset (labels built by TRL), and the trainer (for its collator)."""
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        output_dir=str(model_path / "sft"),
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,
        report_to="none",
        max_length=256,
        packing=packing,
        per_device_train_batch_size=4,
        **extra,
    )
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(model_path),
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    return trainer.train_dataset, trainer


# ---------------------------------------------------------------- the shipped templates


@pytest.mark.parametrize(
    ("name", "prompt", "answer"),
    [
        ("llama2", "<s>[INST] <<SYS>>\nSYS\n<</SYS>>\n\nClassify.\nInput: text [/INST]", " Label: positive </s>"),
        ("mistral", "<s>###Human: SYS\n\nClassify.\nInput: text ###Assistant:", " Label: positive</s>"),
        ("tiny", "<|system|>SYS<|user|>Classify.\nInput: text<|assistant|>", "Label: positive<|end|>"),
    ],
)
def test_shipped_templates_render_the_seed_formats(tokenizers, name, prompt, answer):
    tok = tokenizers[name]
    assert tok.apply_chat_template(MESSAGES[:2], tokenize=False, add_generation_prompt=True) == prompt
    assert tok.apply_chat_template(MESSAGES, tokenize=False) == prompt + answer
    template = resolve_template(tok, None)
    assert template.name == name and template.mask_source == "generation"  # a shipped text is known by its name
    (r,) = render(tok, [MESSAGES], template)
    assert tok.decode(r.prompt_ids) == prompt and r.input_ids[: len(r.prompt_ids)] == r.prompt_ids
    assert tok.decode([t for t, m in zip(r.input_ids, r.loss_mask, strict=True) if m]) == answer


def test_llama31_template_renders_its_preamble_and_the_end_of_turn(tokenizers):
    """The issue's skew: Llama-3.1's own template always writes the knowledge-date preamble; so do we now."""
    tok = tokenizers["llama3.1"]
    template = resolve_template(tok, None)
    assert template.name == "model" and template.mask_source == "completion"  # no generation markers
    (r,) = render(tok, [MESSAGES], template)
    prompt = tok.decode(r.prompt_ids)
    assert prompt.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date")
    assert prompt.endswith(
        "SYS<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nClassify.\nInput: text<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    assert tok.decode(r.input_ids[len(r.prompt_ids) :]) == "Label: positive<|eot_id|>"
    assert r.loss_mask == [0] * len(r.prompt_ids) + [1] * r.answer_length
    ids, text = turn_end(tok, template)
    assert ids == [tok.convert_tokens_to_ids("<|eot_id|>")] and text == "<|eot_id|>"


def test_a_template_without_a_system_role_gets_the_system_text_in_the_first_user_turn(tokenizers):
    """Gemma's template refuses a system message; the renderer folds it into the user turn, for train and serve."""
    tok = tokenizers["gemma"]
    with pytest.raises(Exception, match="System role not supported"):
        tok.apply_chat_template(MESSAGES, tokenize=False)
    (r,) = render(tok, [MESSAGES], resolve_template(tok, None))
    assert tok.decode(r.prompt_ids) == (
        "<bos><start_of_turn>user\nSYS\n\nClassify.\nInput: text<end_of_turn>\n<start_of_turn>model\n"
    )
    assert tok.decode(r.input_ids[len(r.prompt_ids) :]) == "Label: positive<end_of_turn>\n"


def test_template_settings_and_their_errors(tokenizers, tmp_path):
    tok = make_tokenizer("qwen", ["hello world"])
    assert resolve_template(tok, "mistral").name == "mistral" and tok.chat_template == shipped_templates()["mistral"]
    own = tmp_path / "mine.jinja"
    own.write_text(shipped_templates()["tiny"], encoding="utf-8")
    assert resolve_template(tok, str(own)).name == str(own.resolve())
    with pytest.raises(LensforgeError, match="neither a shipped template"):
        resolve_template(tok, "chatml")
    tok.chat_template = None
    with pytest.raises(LensforgeError, match="has no chat template") as err:
        resolve_template(tok, None, model="acme/base-7b")
    assert "--set chat_template=NAME" in str(err.value) and "llama2, mistral, tiny" in str(err.value)


def test_a_template_that_renders_the_prompt_differently_is_refused(tokenizers):
    """A generation prompt that is not the start of the rendered conversation would train on another prompt."""
    tok = tokenizers["tiny"]
    skewed = ChatTemplate(
        "skewed",
        shipped_templates()["tiny"].replace(
            "{{- '<|assistant|>' -}}\n{%- endif", "{{- '<|assistant|> ' -}}\n{%- endif"
        ),
    )
    assert skewed.text != shipped_templates()["tiny"]
    with pytest.raises(LensforgeError, match="renders the prompt differently"):
        render(tok, [MESSAGES], skewed)


# ---------------------------------------------------------------- parity and TRL's labels


def test_evaluation_prompts_equal_training_prompts_for_every_template(tokenizers, snapshot_rows, tmp_path):
    """Train/serve parity: the tokens the evaluation backend generates after are those TRL trained the row after."""
    from lensforge.evaluate.backends import TransformersBackend, without_answer

    for family, tok in tokenizers.items():
        folder = tiny_model_folder(tok, tmp_path / family)
        template = resolve_template(tok, None)
        data = prepare_examples(snapshot_rows, tok, template, max_length=256)
        assert data.dropped == 0 and len(data.input_ids) == len(snapshot_rows), family
        prepared, _ = _sft_prepared(folder, tok, to_dataset(data))
        backend = TransformersBackend(str(folder), batch_size=4)  # no chat template given: the tokenizer's own
        served = backend.prompt_ids([without_answer(row) for row in snapshot_rows])
        for row, ex, prompt in zip(snapshot_rows, prepared, served, strict=True):
            labels = ex["labels"]
            first = next(i for i, t in enumerate(labels) if t != IGNORE)
            assert ex["input_ids"][:first] == prompt, family  # the same prompt tokens, in training and at serving
            answer = tok.decode([t for t in labels if t != IGNORE])
            assert answer.lstrip().startswith(row[-1]["content"]), family  # the loss is on the answer ...
            assert backend.turn_end in answer, family  # ... and its end-of-turn marker
            assert row[0]["content"] in tok.decode(prompt), family  # the system text is never lost


def test_lensforge_and_the_plain_trl_recipe_train_on_the_same_tokens(tokenizers, snapshot_rows, tmp_path):
    """The tiny template has generation markers: TRL's assistant_only_loss on raw `messages` (what the exported
    recipe does) gives exactly the input ids and labels lensforge hands TRL."""
    import datasets

    tok = tokenizers["tiny"]
    folder = tiny_model_folder(tok, tmp_path / "tiny")
    data = prepare_examples(snapshot_rows, tok, resolve_template(tok, None), max_length=256)
    ours, _ = _sft_prepared(folder, tok, to_dataset(data))
    plain, _ = _sft_prepared(
        folder, tok, datasets.Dataset.from_dict({"messages": snapshot_rows}), assistant_only_loss=True
    )
    assert ours["input_ids"] == plain["input_ids"] and ours["labels"] == plain["labels"]


def test_packing_keeps_examples_apart(tokenizers, snapshot_rows, tmp_path):
    """TRL's padding-free packing: position ids restart per example, and the logits of a packed example equal
    those of the example alone (attention does not cross the boundary), unlike plain concatenation."""
    import torch

    tok = tokenizers["tiny"]
    folder = tiny_model_folder(tok, tmp_path / "tiny")
    data = prepare_examples(snapshot_rows[:8], tok, resolve_template(tok, None), max_length=256)
    packed, trainer = _sft_prepared(folder, tok, to_dataset(data), packing=True)
    assert len(packed) < len(data.input_ids)  # several examples per block
    assert sum(len(x) for x in packed["input_ids"]) == data.tokens  # nothing cut or lost
    batch = trainer.data_collator([packed[0]])
    assert "attention_mask" not in batch and batch["input_ids"].shape[0] == 1
    starts = (batch["position_ids"][0] == 0).nonzero().flatten().tolist()
    assert len(starts) >= 2
    model = trainer.model.eval()
    with torch.inference_mode():
        packed_logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits[0]
        naive_logits = model(input_ids=batch["input_ids"]).logits[0]
        bounds = [*starts, batch["input_ids"].shape[1]]
        second = slice(bounds[1], bounds[2])
        alone = model(input_ids=batch["input_ids"][:, second]).logits[0]
    assert torch.allclose(packed_logits[second], alone, atol=1e-4)
    assert not torch.allclose(naive_logits[second], alone, atol=1e-4)  # the test can tell the difference


# ---------------------------------------------------------------- any templated model, end to end


def test_a_qwen_style_model_trains_and_evaluates_with_no_template_setting(ws, tokenizers, monkeypatch):
    """Done-when of the issue: a base model carrying a Qwen-style template needs no chat setting to train and
    to be evaluated; the run records the template and the evaluation renders with the one saved beside the adapter."""
    from lensforge.evaluate.api import evaluate, get_eval
    from lensforge.finetune import api

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    write_snapshot(ws)
    folder = tiny_model_folder(tokenizers["qwen"], ws.root / "qwen-style")
    overrides = {**FAST, "max_steps": 4, "modules_to_save": []}
    run = api.train(ws, SNAPSHOT_ID, base=str(folder), preset="cpu-tiny", overrides=overrides, actor="t")
    record = api.get_run(ws, run["run_id"])
    assert record["status"] == "finished" and record["chat_format"] == "model"
    assert record["config"]["loss_mask"] == "completion"  # the Qwen2.5 template has no generation markers
    saved = (ws.runs_dir / run["run_id"] / "adapter" / "chat_template.jinja").read_text(encoding="utf-8")
    assert saved == tokenizers["qwen"].chat_template
    result = evaluate(
        ws,
        model=str(folder),
        snapshot_id=SNAPSHOT_ID,
        run_id=run["run_id"],
        actor="t",
        limit_per_dataset=2,
        datasets=["demo_sarcasm_ar"],
    )
    ev = get_eval(ws, result["eval_id"])
    assert ev["status"] == "finished" and ev["params"]["chat_template"] == "model"
    assert ev["params"]["chat_template_sha"] == record["config"]["chat_template_sha"]
