"""What the OpenAI and Anthropic providers share: the key from the environment, our retry policy, errors."""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from lensforge.instruct.providers.base import ProviderError
from lensforge.instruct.retry import call_with_retries

DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 4

T = TypeVar("T")


class SDKProvider:
    """A provider backed by an official SDK client; subclasses say which SDK and how to talk to it."""

    name: ClassVar[str]
    vendor: ClassVar[str]  # for messages: "OpenAI", "Anthropic"
    api_key_env: ClassVar[str]
    malformed: ClassVar[tuple[type[BaseException], ...]] = (json.JSONDecodeError,)

    def __init__(
        self,
        model: str,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        *,
        retry_base: float = 0.5,
        retry_cap: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        key = api_key or os.environ.get(self.api_key_env)
        if not key:
            raise ProviderError(
                f"no {self.vendor} API key: set the {self.api_key_env} environment variable",
                hint="or use the offline provider, which needs no key",
            )
        self.model = model
        self.max_attempts = max_retries + 1  # max_retries counts the retries after the first attempt
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.sleep = sleep
        self.rng = rng or random.Random()
        # The SDK must not retry behind our back: ours honours Retry-After and is testable.
        self.client = self.make_client(key, base_url, timeout)

    def make_client(self, key: str, base_url: str | None, timeout: float) -> Any:
        raise NotImplementedError

    def call(self, fn: Callable[[], T]) -> T:
        """Run one SDK call under the retry policy; a garbled body becomes a ProviderError."""
        try:
            return call_with_retries(
                fn,
                max_attempts=self.max_attempts,
                base=self.retry_base,
                cap=self.retry_cap,
                sleep=self.sleep,
                rng=self.rng,
                provider=self.name,
            )
        except self.malformed as exc:
            raise ProviderError(
                f"{self.name} returned a malformed response (not JSON or not the expected shape)"
            ) from exc
