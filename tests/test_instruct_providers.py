"""Providers, retries, cache, ledger, concurrency and batch mode against a local stand-in server.

No test touches the network: both SDKs are pointed at tests/standin_llm.py through base_url, with
dummy keys set in the environment. Sleeping is injected, so retry waits are recorded, not slept.
"""

from __future__ import annotations

import email.utils
import json
import random
import time

import pytest
import standin_llm
from standin_llm import (
    ANTHROPIC_MESSAGES,
    OPENAI_COMPLETIONS,
    StandIn,
    malformed,
    ok,
    status,
    timeout,
    usage_for,
)

from lensforge.catalog.db import connect
from lensforge.errors import LensforgeError
from lensforge.instruct.batch import BatchPending, get_batch, run_batch
from lensforge.instruct.cache import ResponseCache
from lensforge.instruct.client import CachingClient
from lensforge.instruct.ledger import TOTAL, cost_summary, load_prices, unpriced_models
from lensforge.instruct.providers.anthropic_provider import AnthropicProvider
from lensforge.instruct.providers.base import LLMRequest, ProviderError
from lensforge.instruct.providers.openai_provider import OpenAIProvider
from lensforge.instruct.retry import parse_retry_after

standin = standin_llm.standin  # the stand-in server fixture, used by name below

OPENAI_KEY = "sk-test-openai-0000"
ANTHROPIC_KEY = "sk-ant-test-0000"
KINDS = ["openai", "anthropic"]
ENDPOINT = {"openai": OPENAI_COMPLETIONS, "anthropic": ANTHROPIC_MESSAGES}


@pytest.fixture(autouse=True)
def dummy_keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    for var in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_CUSTOM_HEADERS"):
        monkeypatch.delenv(var, raising=False)


def make(kind: str, st: StandIn, sleeps: list[float] | None = None, **kw):
    """A provider of `kind` pointed at the stand-in, recording (not sleeping) retry waits."""
    sleep = sleeps.append if sleeps is not None else (lambda _s: None)
    kw = {"timeout": 2.0, "max_retries": 3, "sleep": sleep, "rng": random.Random(7), **kw}
    if kind == "openai":
        return OpenAIProvider(base_url=st.openai_url, **kw)
    return AnthropicProvider(base_url=st.anthropic_url, **kw)


def req(i: int, **kw) -> LLMRequest:
    return LLMRequest(system="You write task instructions as JSON.", user=f"Dataset {i}: write 3 instructions.", **kw)


def ledger_rows(ws) -> list[tuple]:
    with connect(ws, read_only=True) as con:
        return con.execute(
            "SELECT provider, model, dataset_id, input_tokens, output_tokens, cost_usd, batch_id, request_hash "
            "FROM llm_calls ORDER BY ts, call_id"
        ).fetchall()


# -- providers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_provider_returns_text_and_token_counts(kind, standin):
    provider = make(kind, standin)
    response = provider.complete(req(1, temperature=0.3, max_tokens=256))

    assert json.loads(response.text) == {"instructions": ["Classify this text: Dataset 1: write 3 instructions."]}
    (logged,) = standin.requests(ENDPOINT[kind])
    assert (response.input_tokens, response.output_tokens) == logged.usage
    assert response.input_tokens > 10 and response.output_tokens > 5
    assert response.provider == kind and response.cached is False
    assert response.request_hash == req(1, temperature=0.3, max_tokens=256).key(kind, provider.model)
    body = logged.body
    assert body["temperature"] == 0.3 and body["max_tokens"] == 256
    if kind == "openai":
        assert body["model"] == "gpt-4o"
        assert body["response_format"] == {"type": "json_object"}
        assert body["messages"][0] == {"role": "system", "content": "You write task instructions as JSON."}
        assert logged.headers["authorization"] == f"Bearer {OPENAI_KEY}"
        assert response.model == "gpt-4o"  # the requested name, not the dated one echoed back
    else:
        assert body["model"] == "claude-3-5-sonnet-latest"
        assert body["system"] == "You write task instructions as JSON."
        assert body["messages"] == [{"role": "user", "content": "Dataset 1: write 3 instructions."}]
        assert ANTHROPIC_KEY in (logged.headers.get("x-api-key", "") + logged.headers.get("authorization", ""))
    assert logged.headers.get("x-stainless-retry-count") == "0"  # the SDK's own retries are off


@pytest.mark.parametrize("kind", KINDS)
def test_429_is_retried_and_retry_after_is_honoured(kind, standin):
    sleeps: list[float] = []
    standin.push(status(429, retry_after=1), status(429, retry_after=2))
    response = make(kind, standin, sleeps).complete(req(1))

    assert response.text
    assert standin.count(ENDPOINT[kind]) == 3
    assert len(sleeps) == 2
    assert sleeps[0] >= 1.0 and sleeps[1] >= 2.0


def test_retry_after_as_http_date(standin):
    sleeps: list[float] = []
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    standin.push(status(429, retry_after=when))
    make("openai", standin, sleeps).complete(req(1))
    assert len(sleeps) == 1 and 3.0 <= sleeps[0] <= 6.0


def test_parse_retry_after_forms():
    now = 1_000_000.0
    assert parse_retry_after({"retry-after": "7"}, now=now) == 7.0
    assert parse_retry_after({"retry-after": "1.5"}, now=now) == 1.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}, now=now) == 0.25
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=now) == pytest.approx(30.0, abs=1.0)
    assert parse_retry_after({"retry-after": "soon"}, now=now) is None
    assert parse_retry_after({}, now=now) is None


@pytest.mark.parametrize("kind", KINDS)
def test_500_is_retried_then_succeeds(kind, standin):
    sleeps: list[float] = []
    standin.push(status(500), status(503))
    response = make(kind, standin, sleeps, retry_base=0.5).complete(req(1))

    assert response.text
    assert standin.count(ENDPOINT[kind]) == 3
    # full jitter: each wait lies in [0, base * 2**(attempt-1)]
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0


@pytest.mark.parametrize("kind", KINDS)
def test_repeated_500_gives_provider_error_after_max_attempts(kind, standin):
    sleeps: list[float] = []
    standin.push(*[status(500)] * 5)
    with pytest.raises(ProviderError) as info:
        make(kind, standin, sleeps, max_retries=2).complete(req(1))

    assert standin.count(ENDPOINT[kind]) == 3
    assert len(sleeps) == 2
    message = str(info.value)
    assert kind in message and "500" in message and "3 attempts" in message


@pytest.mark.parametrize("kind", KINDS)
def test_timeout_is_retried(kind, standin):
    sleeps: list[float] = []
    standin.push(timeout(1.5))
    response = make(kind, standin, sleeps, timeout=0.3).complete(req(1))

    assert response.text
    assert standin.count(ENDPOINT[kind]) == 2
    assert len(sleeps) == 1


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("code", [400, 401, 404])
def test_other_4xx_are_not_retried(kind, code, standin):
    sleeps: list[float] = []
    standin.push(status(code), ok('{"never": "reached"}'))
    with pytest.raises(ProviderError, match=f"status {code} \\(not retried\\)"):
        make(kind, standin, sleeps).complete(req(1))
    assert standin.count(ENDPOINT[kind]) == 1
    assert sleeps == []


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_body_is_a_clear_error(kind, standin):
    standin.push(malformed())
    with pytest.raises(ProviderError, match="malformed response"):
        make(kind, standin).complete(req(1))
    assert standin.count(ENDPOINT[kind]) == 1


@pytest.mark.parametrize(("kind", "env"), [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY")])
def test_missing_api_key_is_a_clear_error(kind, env, standin, monkeypatch):
    monkeypatch.delenv(env)
    with pytest.raises(ProviderError, match=env):
        make(kind, standin)
    assert standin.count() == 0


def test_explicit_key_wins_over_environment(standin, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    provider = make("openai", standin, api_key="sk-explicit")
    provider.complete(req(1))
    assert standin.requests(OPENAI_COMPLETIONS)[0].headers["authorization"] == "Bearer sk-explicit"


# -- cache and client ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_second_identical_run_makes_no_requests(kind, standin, ws):
    requests = [req(i) for i in range(5)]
    first = CachingClient(make(kind, standin), ws).complete_many(requests, dataset_id="ds_a")
    sent = standin.count()
    assert sent == 5 and all(not r.cached for r in first)

    client = CachingClient(make(kind, standin), ws)
    second = client.complete_many(requests, dataset_id="ds_a")
    again = client.complete(requests[0], dataset_id="ds_a")

    assert standin.count() == sent  # nothing went out
    assert all(r.cached for r in [*second, again])
    assert [r.text for r in second] == [r.text for r in first]
    assert client.stats.sent == 0 and client.stats.cache_hits == 6
    assert len(ledger_rows(ws)) == 5  # cache hits are not ledgered

    files = list((ws.cache_dir / "llm").rglob("*.json"))
    assert len(files) == 5
    for path in files:
        assert path.parent.name == path.stem[:2]
        raw = path.read_text(encoding="utf-8")
        assert OPENAI_KEY not in raw and ANTHROPIC_KEY not in raw
        assert "authorization" not in raw.lower() and "header" not in raw.lower()


def test_duplicates_in_one_call_are_sent_once(standin, ws):
    client = CachingClient(make("openai", standin), ws)
    out = client.complete_many([req(1), req(2), req(1)], dataset_id="ds")
    assert standin.count() == 2
    assert out[0].text == out[2].text and out[2].cached
    assert len(ledger_rows(ws)) == 2


def test_reply_that_is_not_json_is_ledgered_but_not_cached(standin, ws):
    standin.push(malformed(body=False))
    client = CachingClient(make("openai", standin), ws)
    bad = client.complete(req(1), dataset_id="ds")
    assert bad.text.startswith("Sure!")
    assert client.stats.not_cached == 1
    good = client.complete(req(1), dataset_id="ds")  # asked again, now a proper JSON reply
    assert json.loads(good.text)
    assert standin.count() == 2
    assert len(ledger_rows(ws)) == 2
    assert client.complete(req(1), dataset_id="ds").cached


def test_cache_round_trip_and_damaged_entry(ws):
    cache = ResponseCache(ws)
    key = req(1).key("openai", "gpt-4o")
    assert cache.get(key) is None
    from lensforge.instruct.providers.base import LLMResponse

    cache.put(key, LLMResponse("{}", "openai", "gpt-4o", 10, 2, request_hash=key))
    got = cache.get(key)
    assert got is not None and got.cached and got.input_tokens == 10
    cache.path(key).write_text("{not json", encoding="utf-8")
    assert cache.get(key) is None
    with pytest.raises(ValueError):
        cache.path("../../etc/passwd")


@pytest.mark.parametrize("kind", KINDS)
def test_concurrency_is_bounded_and_order_kept(kind, standin, ws):
    standin.latency = 0.15
    requests = [req(i) for i in range(10)]
    client = CachingClient(make(kind, standin), ws, concurrency=3)
    out = client.complete_many(requests, dataset_id="ds")

    assert 2 <= standin.max_in_flight <= 3
    assert [json.loads(r.text)["instructions"][0] for r in out] == [
        f"Classify this text: Dataset {i}: write 3 instructions." for i in range(10)
    ]
    assert client.stats.sent == 10 and client.stats.cache_hits == 0


def test_partial_failure_keeps_the_successes(standin, ws):
    client = CachingClient(make("openai", standin, max_retries=0), ws, concurrency=1)
    standin.push(ok('{"a": 1}'), status(400))
    with pytest.raises(ProviderError, match="1 of 3 requests"):
        client.complete_many([req(1), req(2), req(3)], dataset_id="ds")
    assert len(ledger_rows(ws)) == 2
    client.complete_many([req(1), req(2), req(3)], dataset_id="ds")
    assert standin.count() == 4  # only the failed one was sent again


# -- ledger ----------------------------------------------------------------------------------------------


def test_ledger_sums_match_hand_computed_costs(standin, ws):
    prices = load_prices(ws)
    assert prices.lookup("openai", "gpt-4o").model_dump() == {"input_per_mtok": 2.50, "output_per_mtok": 10.00}
    assert prices.lookup("anthropic", "claude-3-5-sonnet-latest").model_dump() == {
        "input_per_mtok": 3.00,
        "output_per_mtok": 15.00,
    }
    CachingClient(make("openai", standin), ws).complete_many([req(i) for i in range(3)], dataset_id="ds_a")
    CachingClient(make("anthropic", standin), ws).complete_many([req(i) for i in range(10, 12)], dataset_id="ds_b")
    CachingClient(make("openai", standin), ws).complete_many([req(i) for i in range(3)], dataset_id="ds_a")  # hits

    oa = [r.usage for r in standin.requests(OPENAI_COMPLETIONS)]
    an = [r.usage for r in standin.requests(ANTHROPIC_MESSAGES)]
    oa_in, oa_out = sum(u[0] for u in oa), sum(u[1] for u in oa)
    an_in, an_out = sum(u[0] for u in an), sum(u[1] for u in an)
    oa_cost = oa_in * 2.50 / 1e6 + oa_out * 10.00 / 1e6
    an_cost = an_in * 3.00 / 1e6 + an_out * 15.00 / 1e6

    summary = cost_summary(ws)
    rows = {(r["provider"], r["dataset_id"]): r for r in summary.iter_rows(named=True)}
    a = rows[("openai", "ds_a")]
    assert (a["model"], a["calls"], a["input_tokens"], a["output_tokens"]) == ("gpt-4o", 3, oa_in, oa_out)
    assert a["cost_usd"] == pytest.approx(oa_cost, rel=1e-12) and a["priced"]
    b = rows[("anthropic", "ds_b")]
    assert (b["calls"], b["input_tokens"], b["output_tokens"]) == (2, an_in, an_out)
    assert b["cost_usd"] == pytest.approx(an_cost, rel=1e-12)
    total = rows[(TOTAL, None)]
    assert (total["calls"], total["input_tokens"], total["output_tokens"]) == (5, oa_in + an_in, oa_out + an_out)
    assert total["cost_usd"] == pytest.approx(oa_cost + an_cost, rel=1e-12)
    assert summary.columns == [
        "provider",
        "model",
        "dataset_id",
        "calls",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "priced",
    ]


def test_unpriced_model_is_recorded_at_cost_zero(standin, ws):
    CachingClient(make("openai", standin, model="gpt-9-preview"), ws).complete(req(1), dataset_id="ds")
    ((provider, model, _ds, tin, tout, cost, _b, _h),) = ledger_rows(ws)
    assert (provider, model, cost) == ("openai", "gpt-9-preview", 0.0) and tin > 0 and tout > 0
    summary = cost_summary(ws)
    assert summary.filter(summary["provider"] == "openai")["priced"].to_list() == [False]
    assert summary.filter(summary["provider"] == TOTAL)["priced"].to_list() == [False]
    assert unpriced_models(ws) == ["openai/gpt-9-preview"]


def test_workspace_price_file_overrides_and_is_validated(standin, ws):
    ws.ensure()
    (ws.root / "prices.toml").write_text(
        '[openai."gpt-4o"]\ninput_per_mtok = 100.0\noutput_per_mtok = 1000.0\n', encoding="utf-8"
    )
    CachingClient(make("openai", standin), ws).complete(req(1), dataset_id="ds")
    tin, tout = standin.requests(OPENAI_COMPLETIONS)[0].usage
    assert ledger_rows(ws)[0][5] == pytest.approx(tin * 100.0 / 1e6 + tout * 1000.0 / 1e6)
    assert load_prices(ws).lookup("openai", "gpt-4o-mini").input_per_mtok == 0.15  # others untouched

    (ws.root / "prices.toml").write_text('[openai."gpt-4o"]\ninput_per_mtok = -1\n', encoding="utf-8")
    with pytest.raises(LensforgeError, match=r"prices.toml: invalid price table: openai\.gpt-4o\.input_per_mtok"):
        load_prices(ws)
    (ws.root / "prices.toml").write_text("[openai\n", encoding="utf-8")
    with pytest.raises(LensforgeError, match="not valid TOML"):
        load_prices(ws)


def test_offline_provider_is_priced_at_zero(ws):
    price = load_prices(ws).lookup("offline", "anything")
    assert price is not None and price.input_per_mtok == 0 and price.output_per_mtok == 0


# -- batches ---------------------------------------------------------------------------------------------

BATCH_CREATE = {"openai": "/v1/batches", "anthropic": "/v1/messages/batches"}


def batch_items(kind: str, st: StandIn) -> list[dict]:
    """The per-request bodies the stand-in received in the (single) batch."""
    (batch,) = st.batches.values()
    if kind == "openai":
        return [line["body"] for line in batch["lines"]]
    return [item["params"] for item in batch["requests"]]


@pytest.mark.parametrize("kind", KINDS)
def test_batch_end_to_end(kind, standin, ws):
    provider = make(kind, standin)
    requests = [req(i) for i in range(4)]
    CachingClient(provider, ws).complete(requests[0], dataset_id="ds_batch")  # already cached: not submitted
    online = standin.count(ENDPOINT[kind])
    sleeps: list[float] = []

    out = run_batch(provider, requests, ws, dataset_id="ds_batch", poll_interval=5.0, sleep=sleeps.append)

    assert standin.count(BATCH_CREATE[kind], "POST") == 1
    assert standin.count(ENDPOINT[kind]) == online  # nothing went through the online endpoint
    items = batch_items(kind, standin)
    assert len(items) == 3 and all(i["model"] == provider.model and i["temperature"] == 0.7 for i in items)
    assert sleeps == [5.0]  # in progress on the first poll, finished on the second
    assert [json.loads(r.text)["instructions"][0] for r in out] == [
        f"Classify this text: Dataset {i}: write 3 instructions." for i in range(4)
    ]
    assert out[0].cached and not any(r.cached for r in out[1:])

    rows = [r for r in ledger_rows(ws) if r[6] is not None]
    assert len(rows) == 3
    (batch_id,) = {r[6] for r in rows}
    assert get_batch(ws, batch_id).status == "collected"
    assert {r[7] for r in rows} == {r.request_hash for r in out[1:]}
    price = load_prices(ws).lookup(kind, provider.model)
    for _p, _m, ds, tin, tout, cost, _b, _h in rows:
        assert ds == "ds_batch"
        assert cost == pytest.approx(0.5 * price.cost(tin, tout))  # batch APIs bill at half price
    cache = ResponseCache(ws)
    assert all(cache.get(r.request_hash) is not None for r in out)

    before = standin.count()
    again = run_batch(provider, requests, ws, dataset_id="ds_batch", sleep=sleeps.append)
    assert standin.count() == before and all(r.cached for r in again)
    assert len(ledger_rows(ws)) == 4


@pytest.mark.parametrize("kind", KINDS)
def test_interrupted_batch_is_resumed_not_resubmitted(kind, standin, ws):
    provider = make(kind, standin)
    requests = [req(i) for i in range(3)]

    def interrupted(_seconds: float) -> None:
        raise KeyboardInterrupt  # the user pressed Ctrl-C while we waited between polls

    with pytest.raises(KeyboardInterrupt):
        run_batch(provider, requests, ws, dataset_id="ds", poll_interval=1.0, sleep=interrupted)
    (batch_id,) = standin.batches
    assert get_batch(ws, batch_id).status == "submitted"
    assert ledger_rows(ws) == []

    out = run_batch(make(kind, standin), requests, ws, dataset_id="ds", poll_interval=1.0, sleep=lambda _s: None)

    assert standin.count(BATCH_CREATE[kind], "POST") == 1
    assert len(out) == 3 and get_batch(ws, batch_id).status == "collected"
    assert {r[6] for r in ledger_rows(ws)} == {batch_id} and len(ledger_rows(ws)) == 3


def test_batch_poll_timeout_leaves_it_resumable(standin, ws):
    provider = make("anthropic", standin)
    with pytest.raises(BatchPending, match="still running"):
        run_batch(provider, [req(1), req(2)], ws, timeout=0, sleep=lambda _s: None)
    out = run_batch(provider, [req(1), req(2)], ws, timeout=0, sleep=lambda _s: None)
    assert len(out) == 2
    assert standin.count(BATCH_CREATE["anthropic"], "POST") == 1


def test_usage_helper_is_realistic():
    body = {"messages": [{"role": "user", "content": "x" * 400}]}
    assert usage_for(body, "y" * 40) == (107, 10)
