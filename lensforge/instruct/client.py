"""Cache-first access to a provider: every response is paid for once, ledgered once, and reused after.

A hit comes back marked `cached=True` and costs nothing (no ledger row). A miss is sent to the
provider, stored in the cache and recorded in the ledger. `complete_many` sends misses with bounded
concurrency; catalog writes are serialised by the catalog's transaction (which holds a process lock).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from lensforge.instruct.cache import ResponseCache
from lensforge.instruct.ledger import record_call
from lensforge.instruct.providers.base import LLMRequest, LLMResponse, Provider, ProviderError
from lensforge.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass
class ClientStats:
    """What a client did: requests actually sent to the provider vs answered from the cache."""

    sent: int = 0
    cache_hits: int = 0
    failed: int = 0
    not_cached: int = 0  # replies that were not valid JSON when JSON was asked for (kept out of the cache)


def is_valid_json_reply(request: LLMRequest, text: str) -> bool:
    """A reply worth caching: any text, or a JSON object/array when the request asked for JSON."""
    if not request.json_output:
        return True
    try:
        return isinstance(json.loads(text), dict | list)
    except ValueError:
        return False


def _dataset_of(request: LLMRequest, dataset_id: str | None) -> str | None:
    """The dataset a call is charged to: the explicit argument, else the request's metadata."""
    if dataset_id is not None:
        return dataset_id
    value = request.metadata.get("dataset_id")
    return None if value is None else str(value)


class CachingClient:
    """Wraps a Provider with the response cache and the cost ledger."""

    def __init__(self, provider: Provider, ws: Workspace, *, concurrency: int = 4) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.provider = provider
        self.ws = ws
        self.concurrency = concurrency
        self.cache = ResponseCache(ws)
        self.stats = ClientStats()
        self._lock = threading.Lock()

    def key(self, request: LLMRequest) -> str:
        return request.key(self.provider.name, self.provider.model)

    def lookup(self, request: LLMRequest) -> LLMResponse | None:
        """The cached response for a request (cached=True), without sending anything."""
        return self.cache.get(self.key(request))

    def complete(self, request: LLMRequest, *, dataset_id: str | None, purpose: str = "instructions") -> LLMResponse:
        """One response: from the cache if there, else from the provider (then cached and ledgered)."""
        hit = self.lookup(request)
        if hit is not None:
            self._count(cache_hits=1)
            return hit
        return self._send(request, dataset_id=_dataset_of(request, dataset_id), purpose=purpose)

    def complete_many(
        self, requests: Sequence[LLMRequest], *, dataset_id: str | None = None, purpose: str = "instructions"
    ) -> list[LLMResponse]:
        """Responses in input order; misses go out at most `concurrency` at a time, duplicates once.

        If some requests fail, the others are still cached and ledgered before the first error is
        raised, so a rerun pays only for what failed.
        """
        results: list[LLMResponse | None] = [None] * len(requests)
        misses: dict[str, list[int]] = {}
        for i, request in enumerate(requests):
            key = self.key(request)
            if key in misses:
                misses[key].append(i)
                continue
            hit = self.cache.get(key)
            if hit is not None:
                self._count(cache_hits=1)
                results[i] = hit
            else:
                misses[key] = [i]
        errors: list[ProviderError] = []
        if misses:
            with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="llm") as pool:
                futures = {
                    key: pool.submit(
                        self._send,
                        requests[idx[0]],
                        dataset_id=_dataset_of(requests[idx[0]], dataset_id),
                        purpose=purpose,
                    )
                    for key, idx in misses.items()
                }
                for key, future in futures.items():
                    try:
                        response = future.result()
                    except ProviderError as exc:
                        errors.append(exc)
                        continue
                    first, *dupes = misses[key]
                    results[first] = response
                    for j in dupes:  # an identical request in the same call: the same answer, not paid twice
                        results[j] = replace(response, cached=True)
        if errors:
            raise ProviderError(
                f"{len(errors)} of {len(misses)} requests to {self.provider.name} failed; "
                f"the rest are cached. First error: {errors[0].message}"
            ) from errors[0]
        return [r for r in results if r is not None]

    def _send(self, request: LLMRequest, *, dataset_id: str | None, purpose: str) -> LLMResponse:
        key = self.key(request)
        try:
            response = self.provider.complete(request)
        except ProviderError:
            self._count(failed=1)
            raise
        self._count(sent=1)
        response = replace(response, cached=False, request_hash=response.request_hash or key)
        if is_valid_json_reply(request, response.text):
            self.cache.put(key, response)
        else:
            # Paid for (so ledgered) but not cached: the next run asks again instead of replaying junk.
            self._count(not_cached=1)
            log.warning("%s/%s returned text that is not JSON; not cached", response.provider, response.model)
        record_call(self.ws, response, dataset_id=dataset_id, purpose=purpose)
        return response

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self.stats, name, getattr(self.stats, name) + delta)
