"""End to end: a hand-built snapshot and catalog, a tiny local Llama, an OpenAI-compatible stand-in, the report."""

from __future__ import annotations

import json
import math
import time

import polars as pl
import pytest
from standin_openai_compat import running, status, timeout, user_text

from lensforge.catalog.db import connect, transaction
from lensforge.errors import LensforgeError
from lensforge.evaluate import report as report_mod
from lensforge.evaluate.api import compare, evaluate, get_eval, list_evals, write_report
from lensforge.evaluate.backends import OpenAICompatibleBackend, TransformersBackend
from lensforge.finetune.tiny import TINY_SPECIAL_TOKENS, random_llama, train_tokenizer
from lensforge.release.snapshot import SNAPSHOT_SCHEMA, SYSTEM_PROMPT

SNAPSHOT_ID = "s0123456789abcde"
SARCASM, HOSTILITY, XLSUM = "ar/ArSarcasm-v2", "hi/Hostility", "en/xlsum-mini"
S, N = "sarcastic", "not-sarcastic"

# (dataset, language, task, instruction, [(id, split, input, output)])
DATA = [
    (
        SARCASM,
        "ar",
        "sarcasm detection",
        "Classify the tweet as sarcastic or not-sarcastic.",
        [
            ("ar-1", "test", "يا سلام على الخدمة الرائعة، ساعتين انتظار", S),
            ("ar-2", "test", "الطقس اليوم مشمس في الرياض", N),
            ("ar-3", "test", "شكرا للحكومة على الانترنت السريع جدا", S),
            ("ar-4", "test", "افتتاح المكتبة العامة الجديدة غدا", N),
            ("ar-5", "test", "أكيد الزحمة هي أجمل شيء في الصباح", S),
            ("ar-6", "test", "المنتخب يتأهل إلى الدور الثاني", N),
            ("ar-7", "train", "ما أروع أن ينقطع التيار في الصيف", S),
            ("ar-8", "train", "وزارة الصحة تعلن حملة تطعيم", N),
            ("ar-9", "dev", "جميل جدا أن يتأخر القطار كل يوم", S),
        ],
    ),
    (
        HOSTILITY,
        "hi",
        "hostility detection",
        "Identify the hostility labels of the post: defamation, fake, hate, offensive or non-hostile.",
        [
            ("hi-1", "test", "यह खबर पूरी तरह झूठी है और नेता को बदनाम करती है", "defamation, fake"),
            ("hi-2", "test", "आज मौसम बहुत अच्छा है", "non-hostile"),
            ("hi-3", "test", "इन लोगों को देश से निकाल दो", "hate"),
            ("hi-4", "test", "वैक्सीन से चुंबक बन जाता है, शेयर करें", "fake"),
            ("hi-5", "test", "तुम बेवकूफ हो", "offensive"),
            ("hi-6", "test", "नई सड़क का उद्घाटन हुआ", "non-hostile"),
            ("hi-7", "train", "यह झूठ फैलाने वाले लोग देशद्रोही हैं", "fake, hate"),
            ("hi-8", "train", "क्रिकेट मैच में भारत जीता", "non-hostile"),
        ],
    ),
    (
        XLSUM,
        "en",
        "news summarization",
        "Summarize the news article in one sentence.",
        [
            (
                "en-1",
                "test",
                "The city council approved a new budget on Monday. The plan raises spending on schools and parks.",
                "The city council approved a budget that raises spending on schools and parks.",
            ),
            (
                "en-2",
                "test",
                "Heavy rain flooded several roads in the north of the country. Officials closed two bridges.",
                "Heavy rain flooded roads and closed two bridges in the north.",
            ),
            (
                "en-3",
                "train",
                "A local team won the national championship after a dramatic final on Sunday.",
                "A local team won the national championship.",
            ),
        ],
    ),
]
TEST_ROWS = sum(1 for *_, rows in DATA for r in rows if r[1] == "test")

# What a good model answers through the stand-in: right, in native script, or unparseable.
GOOD = {
    "يا سلام على الخدمة الرائعة، ساعتين انتظار": "Label: sarcastic",
    "الطقس اليوم مشمس في الرياض": "Label: not-sarcastic",
    "شكرا للحكومة على الانترنت السريع جدا": "ساخر",
    "افتتاح المكتبة العامة الجديدة غدا": "Label: not sarcastic",
    "أكيد الزحمة هي أجمل شيء في الصباح": "I am not sure what you mean.",
    "المنتخب يتأهل إلى الدور الثاني": "not-sarcastic",
    "यह खबर पूरी तरह झूठी है और नेता को बदनाम करती है": "Label: defamation, fake",
    "आज मौसम बहुत अच्छा है": "non-hostile",
    "इन लोगों को देश से निकाल दो": "नफरत",
    "वैक्सीन से चुंबक बन जाता है, शेयर करें": "fake",
    "तुम बेवकूफ हो": "offensive, hate",
    "नई सड़क का उद्घाटन हुआ": "गैर-शत्रुतापूर्ण",
}
SUMMARIES = {
    text: summary for dataset, *_, rows in DATA if dataset == XLSUM for _, _, text, summary in [r for r in rows]
}


def _input_of(body: dict) -> str:
    return user_text(body).split("\nInput: ", 1)[1]


def good_answer(body: dict) -> str:
    text = _input_of(body)
    if text in SUMMARIES:
        return f"Summary: {SUMMARIES[text]} It was reported by local media."
    return GOOD[text]


def weak_answer(body: dict) -> str:
    text = _input_of(body)
    if text in SUMMARIES:
        return "Summary: The news."
    return "Label: sarcastic" if "ي" in text else "I cannot tell."


def build_snapshot(ws) -> None:
    """A snapshot folder as build_snapshot writes it, its catalog row, and catalog rows for two of its datasets."""
    rows = []
    for dataset, lang, task, instruction, items in DATA:
        prefix = "Summary: " if dataset == XLSUM else "Label: "
        for sid, split, text, output in items:
            rows.append(
                {
                    "id": sid,
                    "dataset": dataset,
                    "language": lang,
                    "task": task,
                    "split": split,
                    "instruction_id": f"i-{dataset}",
                    "instruction": instruction,
                    "input": text,
                    "output": output,
                    "messages": [
                        {"role": "system", "content": SYSTEM_PROMPT},
                        {"role": "user", "content": f"{instruction}\nInput: {text}"},
                        {"role": "assistant", "content": prefix + output},
                    ],
                }
            )
    frame = pl.DataFrame(rows, schema=SNAPSHOT_SCHEMA)
    root = ws.ensure().snapshots_dir / SNAPSHOT_ID
    (root / "data").mkdir(parents=True)
    counts = {}
    for split in ("train", "dev", "test"):
        part = frame.filter(pl.col("split") == split)
        part.write_parquet(root / "data" / f"{split}.parquet")
        counts[split] = part.height
    manifest = {
        "snapshot_id": SNAPSHOT_ID,
        "inputs": {"datasets": [{"dataset_id": d[0], "test_instruction_id": f"i-{d[0]}"} for d in DATA]},
        "rows": counts,
    }
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (root / "README.md").write_text(
        "## Label spaces\n\n- **ar/ArSarcasm-v2** (classification): `not-sarcastic`, `sarcastic`\n"
        "- **hi/Hostility** (multilabel): `defamation`, `fake`, `hate`, `non-hostile`, `offensive`\n"
        "- **en/xlsum-mini** (generation): free text\n",
        encoding="utf-8",
    )
    with transaction(ws) as con:
        con.execute(
            "INSERT INTO snapshots (snapshot_id, created_by, mixture, path, manifest, rows_train, rows_dev, rows_test) "
            "VALUES (?, 'tester', 'mini', ?, ?, ?, ?, ?)",
            [
                SNAPSHOT_ID,
                f"snapshots/{SNAPSHOT_ID}",
                json.dumps(manifest),
                counts["train"],
                counts["dev"],
                counts["test"],
            ],
        )
        # en/xlsum-mini is deliberately absent from the catalog.
        for did, name, lang, task, ttype, metric, value, cite in (
            (SARCASM, "ArSarcasm-v2", "ar", "sarcasm detection", "classification", "Macro-F1", 62.5, "Abu Farha 2021"),
            (HOSTILITY, "Hostility", "hi", "hostility detection", "multilabel", "Weighted-F1", 0.84, "Bhardwaj 2020"),
        ):
            con.execute(
                "INSERT INTO datasets (dataset_id, name, language, task, task_type, status, collection, spec_hash, "
                "sota_metric, sota_value, sota_citation) VALUES (?, ?, ?, ?, ?, 'selected', 'user', 'x', ?, ?, ?)",
                [did, name, lang, task, ttype, metric, value, cite],
            )
        con.execute(
            "INSERT INTO label_spaces (dataset_id, position, label, native) "
            "VALUES (?, 0, 'TRUE', ?), (?, 1, 'FALSE', ?)",
            [SARCASM, json.dumps({"ar": "ساخر"}), SARCASM, json.dumps({"ar": "غير ساخر"})],
        )


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A 2-layer Llama (hidden 64) at seeded random init, with a byte-level BPE trained on the snapshot texts.

    Its tokenizer carries no chat template (a base model's), so evaluating it needs `chat_template="tiny"`.
    """
    texts = [SYSTEM_PROMPT] + [t for d in DATA for t in (d[3], *(x for r in d[4] for x in (r[2], r[3])))]
    tokenizer = train_tokenizer(
        texts * 3,
        special_tokens=list(TINY_SPECIAL_TOKENS),
        vocab_size=800,
        unk_token="<|unk|>",
        min_frequency=0,
        pad_token="<|pad|>",
        eos_token="<|end|>",
    )
    model = random_llama(
        tokenizer,
        {
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 4,
            "max_position_embeddings": 1024,
        },
        seed=0,
    )
    path = tmp_path_factory.mktemp("tiny") / "tiny-llama"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture
def compat_server():
    """The OpenAI-compatible stand-in (tests/standin_openai_compat.py), one per test."""
    with running() as server:
        yield server


def _scores(ws, eval_id: str) -> pl.DataFrame:
    with connect(ws, read_only=True) as con:
        return con.sql("SELECT * FROM scores WHERE eval_id = ? ORDER BY dataset_id, metric", params=[eval_id]).pl()


def _events(ws, eval_id: str) -> list[dict]:
    with connect(ws, read_only=True) as con:
        rows = con.execute("SELECT kind, payload FROM events WHERE subject = ?", [eval_id]).fetchall()
    return [{"kind": k, "payload": json.loads(p)} for k, p in rows]


def _eval_rows(ws) -> pl.DataFrame:
    with connect(ws, read_only=True) as con:
        return con.sql("SELECT * FROM evals").pl()


# -- transformers backend ------------------------------------------------------------------------------------


def test_transformers_end_to_end(ws, tiny_model):
    build_snapshot(ws)
    result = evaluate(
        ws,
        model=str(tiny_model),
        snapshot_id=SNAPSHOT_ID,
        chat_template="tiny",
        score_labels=True,
        batch_size=4,
        actor="tester",
    )
    assert result["status"] == "finished"
    preds = pl.read_parquet(result["predictions"])
    assert preds.height == TEST_ROWS
    assert set(preds.columns) >= {
        "id",
        "dataset",
        "language",
        "input",
        "gold",
        "raw_output",
        "prediction",
        "parseable",
        "label_candidates",
        "label_logprobs",
    }
    sarcasm = preds.filter(pl.col("dataset") == SARCASM)
    assert sarcasm["label_candidates"].to_list()[0] == [N, S]
    assert all(len(lp) == 2 and all(v < 0 for v in lp) for lp in sarcasm["label_logprobs"].to_list())
    assert preds.filter(pl.col("dataset") != SARCASM)["label_logprobs"].null_count() == TEST_ROWS - 6
    # An unparseable answer is None, never a stand-in label.
    for row in preds.filter(~pl.col("parseable")).iter_rows(named=True):
        assert row["prediction"] is None

    scores = _scores(ws, result["eval_id"])
    by = {(r["dataset_id"], r["metric"]): r for r in scores.iter_rows(named=True)}
    assert {(SARCASM, m) for m in ("accuracy", "macro_f1", "weighted_f1", "micro_f1", "auc")} <= set(by)
    assert {(HOSTILITY, m) for m in ("micro_f1", "macro_f1", "weighted_f1")} <= set(by)
    assert {(XLSUM, m) for m in ("rouge1", "rouge2", "rougeL")} <= set(by)
    assert by[(SARCASM, "macro_f1")]["sota_value"] == 62.5
    assert by[(SARCASM, "macro_f1")]["sota_citation"] == "Abu Farha 2021"
    assert by[(XLSUM, "rouge2")]["sota_value"] is None  # not in the catalog: tolerated
    assert by[(SARCASM, "accuracy")]["n"] == 6
    assert by[(SARCASM, "accuracy")]["unparseable"] == int((~sarcasm["parseable"]).sum())

    ev = get_eval(ws, result["eval_id"])
    assert ev["status"] == "finished" and ev["finished_at"] and ev["error"] is None
    assert ev["params"]["primary_metrics"] == {SARCASM: "macro_f1", HOSTILITY: "weighted_f1", XLSUM: "rouge2"}
    assert ev["params"]["chat_template"] == "tiny"
    assert set(result["by_language"]) == {"ar", "hi", "en"}
    assert result["overall"]["rows"] == TEST_ROWS
    assert [e["payload"]["status"] for e in _events(ws, result["eval_id"])] == ["finished"]
    assert list_evals(ws)["eval_id"].to_list() == [result["eval_id"]]


def test_transformers_batching_and_label_scores_are_consistent(tiny_model):
    backend = TransformersBackend(str(tiny_model), chat_template="tiny", batch_size=3)
    prompts = [
        [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": f"Classify.\nInput: {r[2]}"}]
        for r in DATA[0][4][:3]
    ]
    batched = backend.generate(prompts, max_new_tokens=6)
    backend.batch_size = 1
    single = backend.generate(prompts, max_new_tokens=6)
    assert batched == single  # left padding changes nothing
    assert backend.generate(prompts, max_new_tokens=6) == single  # greedy: deterministic

    import torch

    backend.batch_size = 4
    got = backend.score_labels(prompts, [N, S])
    tok = backend.tokenizer
    for p, prompt in enumerate(prompts):
        for c, label in enumerate((N, S)):
            ids_p = backend.prompt_ids([prompt])[0]
            ids_c = tok.encode(f"Label: {label}<|end|>", add_special_tokens=False)
            with torch.inference_mode():
                logits = backend.model(input_ids=torch.tensor([ids_p + ids_c])).logits[0]
            logp = torch.log_softmax(logits, -1)
            want = sum(float(logp[len(ids_p) - 1 + k, t]) for k, t in enumerate(ids_c))
            assert got[p][c] == pytest.approx(want, abs=1e-3)


# peft's imports and transformers' gradient-checkpointing probe warn from inside the libraries.
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
def test_a_runs_adapter_and_chat_template(ws, tiny_model):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    build_snapshot(ws)
    lora = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model),
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    lora.save_pretrained(ws.runs_dir / "r-lora" / "adapter")
    _add_run(ws, "r-lora", adapter_path="runs/r-lora/adapter")
    common = {"model": str(tiny_model), "snapshot_id": SNAPSHOT_ID, "datasets": [SARCASM], "limit_per_dataset": 2}
    # No adapter or chat template given: both come from the run (its recorded template: the tokenizer has none).
    tuned = evaluate(ws, run_id="r-lora", actor="t", **common)
    ev = get_eval(ws, tuned["eval_id"])
    assert ev["adapter"] == str(ws.runs_dir / "r-lora" / "adapter") and ev["run_id"] == "r-lora"
    assert ev["params"]["chat_template"] == "tiny"
    assert ev["params"]["backend"]["adapter"] == ev["adapter"]
    base = evaluate(ws, chat_template="tiny", actor="t", **common)
    # A fresh LoRA adapter is a no-op (its B matrices start at zero): the same greedy answers as the base.
    raw = [pl.read_parquet(r["predictions"])["raw_output"].to_list() for r in (tuned, base)]
    assert raw[0] == raw[1]


def test_summaries_stop_generating_at_the_first_full_stop(tiny_model):
    """A stopping criterion ends generation at '.', rather than generating the token budget and cutting after."""
    import torch

    backend = TransformersBackend(str(tiny_model), chat_template="tiny", batch_size=2)
    dot = backend.tokenizer.convert_tokens_to_ids(".")
    head = torch.nn.Linear(backend.model.config.hidden_size, len(backend.tokenizer), bias=True)
    with torch.no_grad():  # a head that always answers "."
        head.weight.zero_()
        head.bias.fill_(-10.0)
        head.bias[dot] = 10.0
    backend.model.lm_head = head
    prompts = [[{"role": "user", "content": "Summarize.\nInput: news"}]] * 2
    assert backend.generate(prompts, max_new_tokens=8) == ["." * 8] * 2  # no stop: the whole budget
    assert backend.generate(prompts, max_new_tokens=8, stop=(".", "।")) == ["."] * 2  # stopped at the first


class _StopRecorder:
    """A backend that takes `stop` strings and records what each call asked for."""

    name = "stop-recorder"

    def __init__(self) -> None:
        self.calls: list[tuple[int, dict]] = []

    def generate(self, conversations, *, max_new_tokens=20, stop=()):
        self.calls.append((len(conversations), {"max_new_tokens": max_new_tokens, "stop": tuple(stop)}))
        return ["Summary: a sentence. More." if stop else "Label: sarcastic"] * len(conversations)


def test_only_summaries_are_generated_with_the_full_stop_and_progress_is_reported(ws):
    build_snapshot(ws)
    rec, events = _StopRecorder(), []
    evaluate(ws, model="m", snapshot_id=SNAPSHOT_ID, backend=rec, actor="t", on_progress=events.append)
    asked = {kw["stop"] for _, kw in rec.calls}
    assert asked == {(), (".", "।")}
    assert all(kw["max_new_tokens"] == (64 if kw["stop"] else 20) for _, kw in rec.calls)
    done = [(e["dataset"], e["done"], e["total"]) for e in events]
    for dataset, *_, rows in DATA:  # each dataset reports 0 then all its test rows, in order
        n = sum(1 for r in rows if r[1] == "test")
        assert [(d, x, t) for d, x, t in done if d == dataset] == [(dataset, 0, n), (dataset, n, n)]
    assert [e["index"] for e in events] == sorted(e["index"] for e in events)


class _Recorder:
    """A backend that records whether it was ever asked for anything."""

    name = "recorder"

    def __init__(self) -> None:
        self.calls = 0

    def generate(self, conversations, *, max_new_tokens=20):
        self.calls += 1
        return ["Label: sarcastic"] * len(conversations)


def test_errors_before_any_inference(ws, tiny_model):
    build_snapshot(ws)
    rec = _Recorder()
    with pytest.raises(LensforgeError, match="not in this snapshot: en/nope"):
        evaluate(ws, model="m", snapshot_id=SNAPSHOT_ID, datasets=[SARCASM, "en/nope"], backend=rec, actor="t")
    with pytest.raises(LensforgeError, match="no snapshot"):
        evaluate(ws, model="m", snapshot_id="s-missing", backend=rec, actor="t")
    with pytest.raises(LensforgeError, match="has no chat template") as err:
        evaluate(ws, model=str(tiny_model), snapshot_id=SNAPSHOT_ID, actor="t")  # its tokenizer carries no template
    assert "llama2, mistral, tiny" in str(err.value)
    with pytest.raises(LensforgeError, match=r"neither a shipped template nor a \.jinja file"):
        evaluate(ws, model=str(tiny_model), snapshot_id=SNAPSHOT_ID, chat_template="chatml", actor="t")
    with pytest.raises(LensforgeError, match="base-url"):
        evaluate(ws, model="m", snapshot_id=SNAPSHOT_ID, backend="openai-compatible", actor="t")
    with pytest.raises(LensforgeError, match="no run"):
        evaluate(ws, model="m", snapshot_id=SNAPSHOT_ID, backend=rec, run_id="r-missing", actor="t")
    assert rec.calls == 0
    assert _eval_rows(ws).height == 0  # nothing recorded for a request that never started


def test_a_subset_of_datasets_with_a_limit(ws):
    build_snapshot(ws)
    rec = _Recorder()
    result = evaluate(
        ws, model="m", snapshot_id=SNAPSHOT_ID, datasets=[SARCASM], backend=rec, limit_per_dataset=4, actor="t"
    )
    assert [d["dataset_id"] for d in result["datasets"]] == [SARCASM]
    assert result["datasets"][0]["n"] == 4
    assert result["datasets"][0]["metrics"]["accuracy"] == pytest.approx(0.5)  # ar-1..4: S N S N, all answered S


# -- OpenAI-compatible backend -------------------------------------------------------------------------------


def test_openai_compatible_results_and_bounded_concurrency(ws, compat_server, monkeypatch):
    build_snapshot(ws)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-a-real-openai-key")  # must never reach a self-hosted server
    monkeypatch.delenv("LENSFORGE_EVAL_API_KEY", raising=False)
    compat_server.answer = good_answer
    compat_server.latency = 0.05
    result = evaluate(
        ws,
        model="served-model",
        snapshot_id=SNAPSHOT_ID,
        backend="openai-compatible",
        base_url=compat_server.base_url,
        concurrency=3,
        actor="tester",
    )
    assert 1 < compat_server.max_in_flight <= 3
    assert compat_server.requests == TEST_ROWS
    body = compat_server.bodies[0]
    assert body["temperature"] == 0 and body["top_p"] == 1 and body["model"] == "served-model"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]  # never the gold answer
    assert body["max_tokens"] in (20, 64)
    assert set(compat_server.authorizations) == {"Bearer EMPTY"}

    preds = pl.read_parquet(result["predictions"])
    got = dict(zip(preds["id"], preds["prediction"], strict=True))
    assert got["ar-3"] == S  # answered in Arabic
    assert got["ar-4"] == N  # "not sarcastic" is not "sarcastic"
    assert got["ar-5"] is None  # unparseable stays unparseable
    assert got["hi-3"] == "hate"  # answered in Hindi
    assert got["hi-6"] == "non-hostile"
    assert got["en-1"] == SUMMARIES[DATA[2][4][0][2]]  # cut at the first full stop

    metrics = {d["dataset_id"]: d for d in result["datasets"]}
    ar = metrics[SARCASM]
    assert ar["unparseable"] == 1
    assert ar["metrics"]["accuracy"] == pytest.approx(5 / 6)
    assert ar["primary_metric"] == "macro_f1"
    assert ar["primary_value"] == pytest.approx((0.8 + 1.0) / 2)  # sarcastic P 1 R 2/3; not-sarcastic perfect
    hi = metrics[HOSTILITY]
    assert hi["primary_metric"] == "weighted_f1"
    assert hi["metrics"]["micro_f1"] == pytest.approx(14 / 15)  # 7 right labels, 1 extra (hate on hi-5)
    assert hi["primary_value"] == pytest.approx((1 + 2 + 2 / 3 + 2 + 1) / 7)
    assert metrics[XLSUM]["primary_value"] == pytest.approx(1.0)
    assert get_eval(ws, result["eval_id"])["backend"] == "openai-compatible"


def _fast_backend(url: str, **kw) -> OpenAICompatibleBackend:
    return OpenAICompatibleBackend(url, "served-model", retry_base=0.01, retry_cap=0.05, **kw)


def test_openai_compatible_retries_500_429_and_timeouts(ws, compat_server):
    build_snapshot(ws)
    compat_server.answer = good_answer
    compat_server.push(status(500), status(429), timeout(1.0), status(503))
    backend = _fast_backend(compat_server.base_url, concurrency=1, timeout=0.3, max_retries=4)
    result = evaluate(
        ws, model="served-model", snapshot_id=SNAPSHOT_ID, backend=backend, base_url=compat_server.base_url, actor="t"
    )
    assert result["status"] == "finished"
    assert compat_server.requests == TEST_ROWS + 4  # each failure retried once more
    assert {d["dataset_id"]: d["unparseable"] for d in result["datasets"]}[SARCASM] == 1


def test_a_server_that_keeps_timing_out_fails_the_eval(ws, compat_server):
    build_snapshot(ws)
    compat_server.always = timeout(2.0)
    backend = _fast_backend(compat_server.base_url, concurrency=2, timeout=0.3, max_retries=1)
    started = time.monotonic()
    with pytest.raises(LensforgeError, match="did not answer") as info:
        evaluate(
            ws,
            model="served-model",
            snapshot_id=SNAPSHOT_ID,
            backend=backend,
            base_url=compat_server.base_url,
            limit_per_dataset=2,
            actor="t",
        )
    assert "timeout" in str(info.value)
    assert time.monotonic() - started < 10
    evals = _eval_rows(ws)
    assert evals.height == 1
    row = evals.row(0, named=True)
    assert row["status"] == "failed" and "did not answer" in row["error"] and row["finished_at"] is not None
    assert _scores(ws, row["eval_id"]).height == 0  # nothing partial recorded
    assert not (ws.evals_dir / row["eval_id"] / "predictions.parquet").exists()
    assert [e["payload"]["status"] for e in _events(ws, row["eval_id"])] == ["failed"]
    with pytest.raises(LensforgeError, match="failed, not finished"):
        write_report(ws, evals=[row["eval_id"]])


def test_a_non_retryable_status_fails_at_once(ws, compat_server):
    build_snapshot(ws)
    compat_server.always = status(404)
    backend = _fast_backend(compat_server.base_url, concurrency=1, max_retries=3)
    with pytest.raises(LensforgeError, match=r"refused the request.*404"):
        evaluate(ws, model="gone", snapshot_id=SNAPSHOT_ID, backend=backend, limit_per_dataset=1, actor="t")
    assert compat_server.requests == 1
    assert _eval_rows(ws)["status"].to_list() == ["failed"]


# -- report --------------------------------------------------------------------------------------------------


def _add_run(ws, run_id: str, adapter_path: str | None = None) -> None:
    with transaction(ws) as con:
        con.execute(
            "INSERT INTO runs (run_id, status, actor, snapshot_id, base_model, preset, overrides, config, chat_format, "
            "path, adapter_path, final_loss, steps) "
            "VALUES (?, 'finished', 't', ?, 'tiny', 'cpu-tiny', '{}', '{}', 'tiny', ?, ?, 0.9, 30)",
            [run_id, SNAPSHOT_ID, f"runs/{run_id}", adapter_path],
        )
        for step in range(1, 31):
            con.execute(
                "INSERT INTO run_metrics (run_id, step, loss, learning_rate, epoch) VALUES (?, ?, ?, 1e-4, ?)",
                [run_id, step, 3.0 * math.exp(-step / 10) + 0.8, step / 30],
            )


@pytest.mark.parametrize("vl_convert", [True, False])
def test_report_base_vs_fine_tuned(ws, compat_server, monkeypatch, vl_convert):
    build_snapshot(ws)
    _add_run(ws, "r-001")
    common = {"snapshot_id": SNAPSHOT_ID, "backend": "openai-compatible", "base_url": compat_server.base_url}
    compat_server.answer = weak_answer
    base = evaluate(ws, model="base-model", actor="t", **common)["eval_id"]
    compat_server.answer = good_answer
    tuned = evaluate(ws, model="base-model", adapter="adapters/r-001", run_id="r-001", actor="t", **common)["eval_id"]
    if not vl_convert:
        monkeypatch.setattr(report_mod, "_vl_convert", lambda: None)

    paths = write_report(ws, evals=[base, tuned])
    md = open(paths["markdown"], encoding="utf-8").read()
    page = open(paths["html"], encoding="utf-8").read()
    for text in (md, page):
        for needle in (SARCASM, HOSTILITY, XLSUM, "base", "fine-tuned", "SOTA", "majority baseline", "Per language"):
            assert needle in text
        assert "Abu Farha 2021" in text
    header = next(line for line in md.splitlines() if line.startswith("| dataset | lang"))
    # From the floor up: majority baseline, the models, their difference, SOTA (deliberately reordered so).
    assert "| majority baseline | base | fine-tuned | Δ fine-tuned − base | SOTA |" in header
    # Per class and a confusion matrix of the candidate, unparseable answers in a column of their own.
    assert "## Per class (fine-tuned)" in md and f"### {SARCASM}" in md
    # ... and of every other column too (the base model here), in column order, in both renderings.
    assert md.index("## Per class (base)") < md.index("## Per class (fine-tuned)")
    assert "<h2>Per class (base)</h2>" in page and "<h2>Per class (fine-tuned)</h2>" in page
    assert md.count("| gold \\ answer | not-sarcastic | sarcastic | (unparseable) |") == 2
    assert "| gold \\ answer | not-sarcastic | sarcastic | (unparseable) |" in md
    sarcasm_row = next(line for line in md.splitlines() if line.startswith(f"| {SARCASM} "))
    assert "| 0.625 |" in sarcasm_row  # the catalog's 62.5 (percent) on the [0, 1] scale
    # Majority baseline: 3 of 6 each way, the tie goes to not-sarcastic -> macro-F1 (2/3 + 0) / 2.
    assert "| 0.333 |" in sarcasm_row
    assert set(paths["charts"]) == {"scores", "loss"}
    if vl_convert:
        assert "<svg" in page and "vegaEmbed" not in page
        assert all(open(f["png"], "rb").read(4) == b"\x89PNG" for f in paths["charts"].values())
        assert "![scores](charts/scores.png)" in md
    else:
        assert "vegaEmbed" in page and "<svg" not in page
        assert all("png" not in f for f in paths["charts"].values())
    data = json.loads(open(paths["data"], encoding="utf-8").read())
    assert [d["dataset_id"] for d in data["datasets"]] == [SARCASM, HOSTILITY, XLSUM]

    table = compare(ws, base, tuned)
    assert table.columns[:7] == ["dataset_id", "language", "task", "metric", "a", "b", "delta"]
    row = table.filter(pl.col("dataset_id") == SARCASM).row(0, named=True)
    assert row["metric"] == "macro_f1" and row["sota_value"] == pytest.approx(0.625)
    assert row["delta"] == pytest.approx(row["b"] - row["a"]) and row["delta"] > 0
    assert table.filter(pl.col("dataset_id") == XLSUM)["sota_value"].to_list() == [None]
