"""Provider batch APIs (half price, up to 24 h) with resumable polling.

Every submitted batch is recorded in `llm_batches` (submitted -> completed -> collected, or failed)
with the request hashes it carries, so an interrupted run picks up polling the batch it already paid
for instead of submitting a second one. Collected results go into the response cache and the cost
ledger (with their batch id) in one transaction with the status change, so a batch is never ledgered
twice. Requests already in the cache are never submitted.

OpenAI: a JSONL file (one line per request, custom_id = request hash) uploaded with purpose "batch",
then `batches.create(endpoint="/v1/chat/completions", completion_window="24h")`.
Anthropic: `messages.batches.create(requests=[{custom_id, params}])`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from lensforge.catalog.db import connect, transaction
from lensforge.catalog.sqlutil import fetch_one
from lensforge.errors import LensforgeError
from lensforge.instruct.cache import ResponseCache
from lensforge.instruct.ledger import load_prices, record_call
from lensforge.instruct.providers.base import LLMRequest, LLMResponse, ProviderError
from lensforge.workspace import Workspace

log = logging.getLogger(__name__)

OPENAI_ENDPOINT = "/v1/chat/completions"
COMPLETION_WINDOW = "24h"
DEFAULT_POLL_INTERVAL = 30.0
DEFAULT_TIMEOUT = 24 * 3600.0
OPEN_STATUSES = ("submitted", "completed")

_OPENAI_RUNNING = {"validating", "in_progress", "finalizing", "cancelling"}
_OPENAI_FINISHED = {"completed", "expired", "cancelled"}  # may carry (partial) output


T = TypeVar("T")


class BatchProvider(Protocol):
    """What batching needs beyond `Provider`: the SDK client, the retry wrapper and the body codecs."""

    name: str
    model: str
    client: Any

    def call(self, fn: Callable[[], T]) -> T: ...

    def request_body(self, request: LLMRequest) -> dict[str, Any]: ...

    def response_from_body(self, body: dict[str, Any], request_hash: str) -> LLMResponse: ...


class BatchPending(ProviderError):
    """The batch is still running when we stopped waiting; running again resumes polling it."""


@dataclass(frozen=True)
class BatchRecord:
    """One row of `llm_batches`."""

    batch_id: str
    provider: str
    model: str
    status: str
    requests: list[dict[str, Any]]  # [{custom_id, request_hash, dataset_id, purpose}]

    @property
    def hashes(self) -> set[str]:
        return {e["request_hash"] for e in self.requests}


# -- catalog ---------------------------------------------------------------------------------------------


def _record(row: tuple[Any, ...]) -> BatchRecord:
    reqs = row[4]
    return BatchRecord(row[0], row[1], row[2], row[3], json.loads(reqs) if isinstance(reqs, str) else list(reqs))


def get_batch(ws: Workspace, batch_id: str) -> BatchRecord:
    """The recorded batch; an unknown id is a LensforgeError (it was never submitted from this workspace)."""
    with connect(ws, read_only=True) as con:
        row = fetch_one(
            con, "SELECT batch_id, provider, model, status, requests FROM llm_batches WHERE batch_id = ?", [batch_id]
        )
    if row is None:
        raise LensforgeError(f"no batch {batch_id} recorded in this workspace")
    return _record(row)


def open_batches(ws: Workspace, provider: str, model: str) -> list[BatchRecord]:
    """Batches of this provider and model that were submitted but not yet collected, oldest first."""
    with connect(ws, read_only=True) as con:
        rows = con.execute(
            "SELECT batch_id, provider, model, status, requests FROM llm_batches "
            "WHERE provider = ? AND model = ? AND status IN (?, ?) ORDER BY created_at, batch_id",
            [provider, model, *OPEN_STATUSES],
        ).fetchall()
    return [_record(r) for r in rows]


def _set_status(ws: Workspace, batch_id: str, status: str) -> None:
    with transaction(ws) as con:
        con.execute(
            "UPDATE llm_batches SET status = ?, updated_at = current_timestamp WHERE batch_id = ?", [status, batch_id]
        )


# -- submit ----------------------------------------------------------------------------------------------


def submit_batch(
    provider: BatchProvider,
    requests: Sequence[LLMRequest],
    ws: Workspace,
    *,
    dataset_id: str | None = None,
    purpose: str = "instructions",
) -> str | None:
    """Submit the requests that are not cached as one provider batch; returns its id (None if all cached).

    Identical requests are sent once. The batch is recorded as `submitted` with its request hashes.
    """
    cache = ResponseCache(ws)
    chosen: dict[str, LLMRequest] = {}
    for request in requests:
        key = request.key(provider.name, provider.model)
        if key not in chosen and cache.get(key) is None:
            chosen[key] = request
    if not chosen:
        return None
    if provider.name == "openai":
        batch_id = _submit_openai(provider, chosen)
    elif provider.name == "anthropic":
        batch_id = _submit_anthropic(provider, chosen)
    else:
        raise LensforgeError(f"provider {provider.name!r} has no batch API (use the online client)")
    entries = [
        {
            "custom_id": key,
            "request_hash": key,
            "dataset_id": dataset_id if dataset_id is not None else req.metadata.get("dataset_id"),
            "purpose": purpose,
        }
        for key, req in chosen.items()
    ]
    with transaction(ws) as con:
        con.execute(
            "INSERT INTO llm_batches (batch_id, provider, model, status, requests) VALUES (?, ?, ?, 'submitted', ?)",
            [batch_id, provider.name, provider.model, json.dumps(entries)],
        )
    log.info("submitted %s batch %s with %d requests", provider.name, batch_id, len(entries))
    return batch_id


def _submit_openai(provider: BatchProvider, chosen: dict[str, LLMRequest]) -> str:
    lines = [
        json.dumps(
            {"custom_id": key, "method": "POST", "url": OPENAI_ENDPOINT, "body": provider.request_body(req)},
            ensure_ascii=False,
        )
        for key, req in chosen.items()
    ]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    client = provider.client
    uploaded = provider.call(
        lambda: client.files.create(file=("lensforge-batch.jsonl", data, "application/jsonl"), purpose="batch")
    )
    batch = provider.call(
        lambda: client.batches.create(
            input_file_id=uploaded.id,
            endpoint=OPENAI_ENDPOINT,
            completion_window=COMPLETION_WINDOW,
            metadata={"source": "lensforge"},
        )
    )
    return str(batch.id)


def _submit_anthropic(provider: BatchProvider, chosen: dict[str, LLMRequest]) -> str:
    items = [{"custom_id": key, "params": provider.request_body(req)} for key, req in chosen.items()]
    batch = provider.call(lambda: provider.client.messages.batches.create(requests=items))
    return str(batch.id)


# -- poll and collect ------------------------------------------------------------------------------------


def _poll(provider: BatchProvider, batch_id: str) -> str:
    """running | finished | failed."""
    if provider.name == "openai":
        batch = provider.call(lambda: provider.client.batches.retrieve(batch_id))
        if batch.status in _OPENAI_RUNNING:
            return "running"
        if batch.status in _OPENAI_FINISHED and batch.output_file_id:
            return "finished"
        return "failed"
    batch = provider.call(lambda: provider.client.messages.batches.retrieve(batch_id))
    return "finished" if batch.processing_status == "ended" else "running"


def _fetch_results(provider: BatchProvider, batch_id: str) -> dict[str, LLMResponse]:
    """Successful results by custom_id; failed items are logged and left out (a rerun resubmits them)."""
    out: dict[str, LLMResponse] = {}
    if provider.name == "openai":
        batch = provider.call(lambda: provider.client.batches.retrieve(batch_id))
        content = provider.call(lambda: provider.client.files.content(batch.output_file_id))
        for line in content.text.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            custom_id = item.get("custom_id", "")
            resp = item.get("response") or {}
            if item.get("error") or resp.get("status_code") != 200:
                log.warning("batch %s: request %s failed: %s", batch_id, custom_id, item.get("error") or resp)
                continue
            out[custom_id] = provider.response_from_body(resp.get("body") or {}, custom_id)
        return out
    results = provider.call(lambda: list(provider.client.messages.batches.results(batch_id)))
    for item in results:
        if item.result.type != "succeeded":
            log.warning("batch %s: request %s %s", batch_id, item.custom_id, item.result.type)
            continue
        out[item.custom_id] = provider.response_from_body(item.result.message.model_dump(), item.custom_id)
    return out


def collect_batch(
    provider: BatchProvider,
    batch_id: str,
    ws: Workspace,
    *,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    timeout: float = DEFAULT_TIMEOUT,
    sleep: Callable[[float], None] = time.sleep,
) -> list[LLMResponse]:
    """Wait for a recorded batch, then cache and ledger its results; returns them in submission order.

    Gives up with BatchPending after `timeout` seconds of polling (the batch stays `submitted`, so a
    later call resumes it). A batch already collected is answered from the cache without any request.
    """
    record = get_batch(ws, batch_id)
    if (record.provider, record.model) != (provider.name, provider.model):
        raise LensforgeError(
            f"batch {batch_id} was sent to {record.provider}/{record.model}, not {provider.name}/{provider.model}"
        )
    cache = ResponseCache(ws)
    if record.status == "collected":
        found = [cache.get(e["request_hash"]) for e in record.requests]
        return [r for r in found if r is not None]
    if record.status == "failed":
        raise ProviderError(f"{provider.name} batch {batch_id} failed; submit the requests again")
    if record.status == "submitted":
        waited = 0.0
        while True:
            state = _poll(provider, batch_id)
            if state == "finished":
                break
            if state == "failed":
                _set_status(ws, batch_id, "failed")
                raise ProviderError(f"{provider.name} batch {batch_id} failed or expired without output")
            if waited >= timeout:
                raise BatchPending(
                    f"{provider.name} batch {batch_id} is still running after {waited:.0f}s of polling",
                    hint="run again later: polling resumes this batch, nothing is resubmitted",
                )
            sleep(poll_interval)
            waited += poll_interval
        _set_status(ws, batch_id, "completed")
    results = _fetch_results(provider, batch_id)
    responses: list[tuple[dict[str, Any], LLMResponse]] = []
    for entry in record.requests:
        response = results.get(entry["custom_id"])
        if response is None:
            continue
        response = replace(response, cached=False, request_hash=entry["request_hash"])
        cache.put(entry["request_hash"], response)
        responses.append((entry, response))
    prices = load_prices(ws)
    with transaction(ws) as con:  # ledger rows and the status change together: never ledgered twice
        for entry, response in responses:
            record_call(
                ws,
                response,
                dataset_id=entry.get("dataset_id"),
                purpose=entry.get("purpose") or "instructions",
                batch_id=batch_id,
                con=con,
                prices=prices,
            )
        con.execute(
            "UPDATE llm_batches SET status = 'collected', updated_at = current_timestamp WHERE batch_id = ?",
            [batch_id],
        )
    missing = len(record.requests) - len(responses)
    if missing:
        log.warning(
            "%s batch %s: %d of %d requests had no result", provider.name, batch_id, missing, len(record.requests)
        )
    return [r for _, r in responses]


def run_batch(
    provider: BatchProvider,
    requests: Sequence[LLMRequest],
    ws: Workspace,
    *,
    dataset_id: str | None = None,
    purpose: str = "instructions",
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    timeout: float = DEFAULT_TIMEOUT,
    sleep: Callable[[float], None] = time.sleep,
) -> list[LLMResponse]:
    """Responses for all requests in input order, via the cache, an open batch (resumed) or a new batch.

    Uncollected batches of the same provider and model that carry any of the missing requests are
    polled first; only what is still missing afterwards is submitted. Raises BatchPending when a batch
    is still running at `timeout`, and ProviderError if some requests got no result.
    """
    cache = ResponseCache(ws)
    keys = [r.key(provider.name, provider.model) for r in requests]
    fresh: dict[str, LLMResponse] = {}

    def missing() -> set[str]:
        return {k for k in keys if k not in fresh and cache.get(k) is None}

    def collect(batch_id: str) -> None:
        for response in collect_batch(
            provider, batch_id, ws, poll_interval=poll_interval, timeout=timeout, sleep=sleep
        ):
            fresh[response.request_hash] = response

    todo = missing()
    for record in open_batches(ws, provider.name, provider.model) if todo else []:
        if record.hashes & todo:
            log.info("resuming %s batch %s", provider.name, record.batch_id)
            try:
                collect(record.batch_id)
            except BatchPending:
                raise
            except ProviderError as exc:  # failed on the provider's side: resubmit what it carried
                log.warning("batch %s could not be collected: %s", record.batch_id, exc)
    todo = missing()
    if todo:
        batch_id = submit_batch(
            provider,
            [r for r, k in zip(requests, keys, strict=True) if k in todo],
            ws,
            dataset_id=dataset_id,
            purpose=purpose,
        )
        if batch_id is not None:
            collect(batch_id)
    out: list[LLMResponse] = []
    failed = 0
    for key in keys:
        response = fresh.get(key) or cache.get(key)
        if response is None:
            failed += 1
        else:
            out.append(response)
    if failed:
        raise ProviderError(
            f"{failed} of {len(keys)} batch requests to {provider.name} got no result; the rest are cached"
        )
    return out
