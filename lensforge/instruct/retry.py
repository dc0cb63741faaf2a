"""Our own retry policy for provider calls (the SDKs' built-in retries are switched off).

Owning the policy makes it testable (sleep and randomness are injectable) and lets us honour a
server's Retry-After exactly: exponential backoff with full jitter on 429, 5xx, timeouts and
connection errors; other 4xx fail at once because sending the same request again cannot help.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import anthropic
import openai

from lensforge.instruct.providers.base import ProviderError

log = logging.getLogger(__name__)

T = TypeVar("T")

_STATUS_ERRORS = (openai.APIStatusError, anthropic.APIStatusError)
_CONNECTION_ERRORS = (openai.APIConnectionError, anthropic.APIConnectionError)  # timeouts are subclasses
_TIMEOUT_ERRORS = (openai.APITimeoutError, anthropic.APITimeoutError)


@dataclass(frozen=True)
class Failure:
    """How one failed attempt is classified."""

    retryable: bool
    status: str  # "429", "500", "timeout", "connection error", ...
    retry_after: float | None = None  # seconds the server asked us to wait, if it said


def parse_retry_after(headers: object, *, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` as seconds or an HTTP date; None if absent."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    ms = get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = get("retry-after")
    if value is None:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def classify(exc: BaseException) -> Failure | None:
    """Classify an SDK exception; None means it is not a provider transport/status error at all."""
    if isinstance(exc, _TIMEOUT_ERRORS):
        return Failure(True, "timeout")
    if isinstance(exc, _CONNECTION_ERRORS):
        return Failure(True, "connection error")
    if isinstance(exc, _STATUS_ERRORS):
        code = int(exc.status_code)
        retryable = code == 429 or code >= 500
        after = parse_retry_after(exc.response.headers) if retryable else None
        return Failure(retryable, str(code), after)
    return None


def backoff_delay(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**(attempt-1))] for the attempt that just failed."""
    return rng.uniform(0.0, min(cap, base * (2 ** (attempt - 1))))


def call_with_retries(
    fn: Callable[[], T],
    *,
    max_attempts: int = 5,
    base: float = 0.5,
    cap: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    provider: str = "provider",
) -> T:
    """Call `fn` until it succeeds, retrying transient provider failures; raise ProviderError at the end.

    The wait before each retry is max(Retry-After, jittered backoff), so a server's request to slow
    down is always honoured while clients that were throttled together still spread out.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    rng = rng or random.Random()
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except Exception as exc:
            failure = classify(exc)
            if failure is None:
                raise
            if not failure.retryable:
                raise ProviderError(
                    f"{provider} request failed with status {failure.status} (not retried): {_detail(exc)}"
                ) from exc
            if attempt >= max_attempts:
                raise ProviderError(
                    f"{provider} request failed after {attempt} attempt{'s' if attempt != 1 else ''}: "
                    f"last status {failure.status}: {_detail(exc)}",
                    hint="the service may be overloaded or unreachable; try again later",
                ) from exc
            delay = backoff_delay(attempt, base=base, cap=cap, rng=rng)
            if failure.retry_after is not None:
                delay = max(failure.retry_after, delay)
            log.info(
                "%s: attempt %d/%d failed (%s); retrying in %.2fs",
                provider,
                attempt,
                max_attempts,
                failure.status,
                delay,
            )
            sleep(delay)


def _detail(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return message if len(message) <= 300 else message[:297] + "..."
