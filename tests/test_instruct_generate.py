"""The instruction factory: valid instructions per dataset and language, rejects kept, top-ups, budget, review."""

from __future__ import annotations

import json

import pytest
import standin_llm
from clihelp import run_cli

from lensforge.catalog.events import list_events
from lensforge.errors import LensforgeError
from lensforge.instruct.checks import check_instruction, parse_instructions, script_share
from lensforge.instruct.generate import generate_for
from lensforge.instruct.providers.base import LLMRequest, LLMResponse
from lensforge.instruct.store import list_instructions, rejects

standin = standin_llm.standin

GOOD_EN = [
    "Read the following Arabic tweet and decide whether it is sarcastic or not-sarcastic. Reply with the label only.",
    "Is this Arabic post sarcastic? Answer with exactly one of: sarcastic, not-sarcastic.",
    "Label the tweet below as sarcastic or not-sarcastic according to whether the author means the opposite.",
    "Classify the sarcasm in this social media post; valid answers are sarcastic and not-sarcastic.",
    "Determine if the writer of this Arabic tweet is being ironic. Output sarcastic or not-sarcastic, nothing else.",
]


class ScriptedProvider:
    """A provider that replies from a list (then repeats the last reply), counting calls."""

    name = "scripted"
    model = "scripted-1"

    def __init__(self, replies: list[str]):
        self.replies = replies
        self.calls = 0

    def complete(self, request: LLMRequest) -> LLMResponse:
        text = self.replies[min(self.calls, len(self.replies) - 1)]
        self.calls += 1
        return LLMResponse(text, self.name, self.model, len(request.user) // 4, len(text) // 4)


def test_checks_and_parsing():
    assert parse_instructions('```json\n{"instructions": ["a", "b"]}\n```') == ["a", "b"]
    assert parse_instructions('Sure! Here they are: ["one", {"instruction": "two"}] Hope it helps') == ["one", "two"]
    assert parse_instructions("no json here") == []
    ok = check_instruction(
        GOOD_EN[0],
        language="en",
        task_type="classification",
        labels=["sarcastic", "not-sarcastic"],
        native_labels={},
        accepted=[],
    )
    assert ok.ok
    missing = check_instruction(
        "Decide whether the following Arabic tweet is sarcastic. Reply with the label.",
        language="en",
        task_type="classification",
        labels=["sarcastic", "not-sarcastic"],
        native_labels={},
        accepted=[],
    )
    assert not missing.ok and missing.reason.startswith("missing_labels: not-sarcastic")
    native = check_instruction(
        "صنّف التغريدة التالية إلى إحدى الفئتين: ساخر أو غير ساخر. أجب بالتصنيف فقط.",
        language="ar",
        task_type="classification",
        labels=["sarcastic", "not-sarcastic"],
        native_labels={"sarcastic": "ساخر", "not-sarcastic": "غير ساخر"},
        accepted=[],
    )
    assert native.ok
    wrong_script = check_instruction(
        GOOD_EN[0],
        language="ar",
        task_type="classification",
        labels=["sarcastic", "not-sarcastic"],
        native_labels={},
        accepted=[],
    )
    assert not wrong_script.ok and wrong_script.reason.startswith("wrong_script")
    near = check_instruction(
        GOOD_EN[0] + " Thanks.",
        language="en",
        task_type="classification",
        labels=["sarcastic", "not-sarcastic"],
        native_labels={},
        accepted=[GOOD_EN[0]],
    )
    assert not near.ok and near.reason.startswith("near_duplicate")
    assert script_share("नमस्ते दुनिया", "hi") == 1.0


def test_offline_generation_for_the_demo_and_rerun_sends_nothing(demo_ws, capsys):
    root = str(demo_ws.root)
    res = run_cli(capsys, "-w", root, "instruct", "generate", "--all", "--json")
    assert res.code == 0, res.err
    out = res.json()
    assert out["providers"] == [{"name": "offline", "model": "lensforge-offline-1"}]
    df = list_instructions(demo_ws)
    per = df.group_by("dataset_id", "language").len()
    assert per["len"].to_list() == [20] * per.height
    # Arabic and Hindi datasets have native-language sets too; English ones only English.
    langs = {(r["dataset_id"], r["language"]) for r in per.to_dicts()}
    assert ("ar/DemoSarcasm@1", "ar") in langs and ("hi/DemoHateSpeech@1", "hi") in langs
    assert ("en/DemoCheckworthy@1", "en") in langs and not any(
        d == "en/DemoCheckworthy@1" and lg != "en" for d, lg in langs
    )
    ar = df.filter((df["dataset_id"] == "ar/DemoSarcasm@1") & (df["language"] == "ar"))["text"].to_list()
    assert all(script_share(t, "ar") >= 0.6 for t in ar)
    again = run_cli(capsys, "-w", root, "instruct", "generate", "--all", "--json").json()
    assert again["requests_sent"] == 0
    assert {o["status"] for o in again["outcomes"]} == {"complete"}


def test_a_rerun_over_complete_sets_reads_no_labels_and_opens_the_catalog_a_few_times(demo_ws, monkeypatch):
    """A dataset whose instructions are complete needs no label space (the mapping's review reads every row) and
    no catalog connection of its own: on 24 ingested datasets a no-op run took 6.0 s, now 0.7 s."""
    import lensforge.catalog.db as db
    import lensforge.instruct.generate as generate
    from lensforge.instruct.api import generate_many

    first = generate_many(demo_ws, [], all_=True, actor="t")
    assert first["requests_sent"] > 0
    datasets = {o["dataset_id"] for o in first["outcomes"]}
    opened, labelled = [], []
    real_open, real_labels = db._open, generate.dataset_labels
    monkeypatch.setattr(db, "_open", lambda *a, **k: opened.append(a) or real_open(*a, **k))
    monkeypatch.setattr(generate, "dataset_labels", lambda *a, **k: labelled.append(a[1]) or real_labels(*a, **k))
    again = generate_many(demo_ws, [], all_=True, actor="t")
    assert again["requests_sent"] == 0 and {o["status"] for o in again["outcomes"]} == {"complete"}
    assert {o["dataset_id"] for o in again["outcomes"]} == datasets and len(datasets) >= 4
    assert labelled == [] and len(opened) <= 3  # targets, then entries and instructions together
    # A language that lost an instruction is topped up, and only its dataset reads its labels.
    import polars as pl

    from lensforge.instruct.store import set_status

    ar = list_instructions(demo_ws).filter((pl.col("dataset_id") == "ar/DemoSarcasm@1") & (pl.col("language") == "ar"))[
        "instruction_id"
    ][0]
    # The batch prefetch plans the same way: nothing and no labels for a complete set, the one missing
    # instruction (and one label read) for the set that lost it.
    providers = generate.make_providers(["offline"])
    assert (
        generate.first_round_requests(demo_ws, "en/DemoCheckworthy@1", providers=providers, n=20, languages="both")
        == []
    )
    assert labelled == []
    set_status(demo_ws, ar, "disabled", actor="t", reason="test")
    planned = generate.first_round_requests(demo_ws, "ar/DemoSarcasm@1", providers=providers, n=20, languages="both")
    assert [index for index, _ in planned] == [0] and labelled == ["ar/DemoSarcasm@1"]
    assert planned[0][1].metadata["instruction_language"] == "ar"
    labelled.clear()
    topped = generate_many(demo_ws, ["ar/DemoSarcasm@1"], actor="t")
    assert labelled == ["ar/DemoSarcasm@1"]
    status = {o["language"]: (o["status"], o["accepted"]) for o in topped["outcomes"]}
    assert status == {"ar": ("generated", 1), "en": ("complete", 0)}


def test_rejects_are_kept_and_top_ups_fill_the_set(demo_ws):
    replies = [
        "I am sorry, I cannot produce JSON today.",
        json.dumps(
            {
                "instructions": [
                    GOOD_EN[0],
                    "Decide whether this tweet is sarcastic.",  # too short and misses a label
                    # labels missing:
                    "Is the text ironic? Say yes or no please, and explain your reasoning in detail below.",
                    GOOD_EN[0] + " Thanks.",  # near duplicate
                    GOOD_EN[1],
                ]
            }
        ),
        json.dumps({"instructions": GOOD_EN[2:]}),
    ]
    provider = ScriptedProvider(replies)
    outcomes = generate_for(demo_ws, "ar/DemoSarcasm@1", providers=[provider], n=5, languages="en")
    assert len(outcomes[0].accepted) == 5
    assert provider.calls == 3  # one unparseable reply, one partial, one top-up
    stored = list_instructions(demo_ws, "ar/DemoSarcasm@1", language="en")
    assert stored["text"].to_list() == GOOD_EN[:2] + GOOD_EN[2:]
    assert stored["position"].to_list() == [0, 1, 2, 3, 4]
    reasons = sorted(r.split(":")[0] for r in rejects(demo_ws, "ar/DemoSarcasm@1")["reason"].to_list())
    assert reasons == ["missing_labels", "near_duplicate", "too_short", "unparseable"]


def test_budget_spent_is_a_clear_error_and_writes_no_partial_set(demo_ws):
    provider = ScriptedProvider([json.dumps({"instructions": [GOOD_EN[0]]})])
    with pytest.raises(LensforgeError, match=r"ar/DemoSarcasm@1: only 1 of 5 valid en instructions after 3 rounds"):
        generate_for(demo_ws, "ar/DemoSarcasm@1", providers=[provider], n=5, languages="en", max_rounds=3)
    assert list_instructions(demo_ws, "ar/DemoSarcasm@1").height == 0
    assert rejects(demo_ws, "ar/DemoSarcasm@1").height >= 1  # the repeats are recorded as near duplicates


def test_openai_sdk_against_the_standin_fills_cache_and_ledger(demo_ws, standin, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    standin.responder = lambda body: json.dumps({"instructions": GOOD_EN})
    from lensforge.instruct.ledger import cost_summary
    from lensforge.instruct.providers.openai_provider import OpenAIProvider

    provider = OpenAIProvider(model="gpt-4o", base_url=standin.openai_url)
    generate_for(demo_ws, "ar/DemoSarcasm@1", providers=[provider], n=5, languages="en")
    sent = standin.count("/v1/chat/completions")
    assert sent == 1
    summary = cost_summary(demo_ws)
    row = summary.filter(summary["provider"] == "openai").to_dicts()[0]
    assert row["calls"] == 1 and row["input_tokens"] > 0 and row["cost_usd"] > 0
    # Same request again (after disabling and regenerating would change the prompt; a fresh set does not):
    for iid in list_instructions(demo_ws, "ar/DemoSarcasm@1")["instruction_id"].to_list():
        with __import__("lensforge.catalog.db", fromlist=["transaction"]).transaction(demo_ws) as con:
            con.execute("DELETE FROM instructions WHERE instruction_id = ?", [iid])
    generate_for(demo_ws, "ar/DemoSarcasm@1", providers=[provider], n=5, languages="en")
    assert standin.count("/v1/chat/completions") == sent  # answered from the cache
    assert "sk-test-not-a-real-key" not in json.dumps(list_events(demo_ws, limit=1000).to_dicts(), default=str)


def test_edit_disable_and_show_write_the_audit_log(demo_ws, capsys):
    root = str(demo_ws.root)
    run_cli(capsys, "-w", root, "instruct", "generate", "DemoSarcasm", "--languages", "en")
    iid = list_instructions(demo_ws, "DemoSarcasm")["instruction_id"][0]
    res = run_cli(
        capsys,
        "-w",
        root,
        "--user",
        "amal",
        "instruct",
        "edit",
        iid,
        "--text",
        "Decide if the tweet is sarcastic or not-sarcastic; answer with the label.",
        "--reason",
        "shorter",
    )
    assert res.code == 0, res.err
    res = run_cli(capsys, "-w", root, "--user", "amal", "instruct", "disable", iid, "--reason", "too close to #2")
    assert res.code == 0
    info = run_cli(capsys, "-w", root, "instruct", "show", iid, "--json").json()
    assert info["status"] == "disabled" and info["edited_by"] == "amal"
    assert [h["kind"] for h in info["history"]] == ["instruct.edit", "instruct.disable"]
    assert run_cli(capsys, "-w", root, "instruct", "disable", iid).code == 1  # a reason is required
    assert run_cli(capsys, "-w", root, "instruct", "show", "i-nope").code == 1
