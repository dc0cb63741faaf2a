"""Anthropic messages through the official SDK, with our retry policy instead of the SDK's."""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import anthropic

from lensforge.instruct.providers.base import LLMRequest, LLMResponse, ProviderError
from lensforge.instruct.retry import call_with_retries

API_KEY_ENV = "ANTHROPIC_API_KEY"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 4

T = TypeVar("T")


class AnthropicProvider:
    """Claude models. The key comes only from `api_key` or $ANTHROPIC_API_KEY (no profiles or config files)."""

    name = "anthropic"

    def __init__(
        self,
        model: str = "claude-3-5-sonnet-latest",
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
        key = api_key or os.environ.get(API_KEY_ENV)
        if not key:
            raise ProviderError(
                f"no Anthropic API key: set the {API_KEY_ENV} environment variable",
                hint="or use the offline provider, which needs no key",
            )
        self.model = model
        self.max_attempts = max_retries + 1  # max_retries counts the retries after the first attempt
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.sleep = sleep
        self.rng = rng or random.Random()
        # An explicit api_key stops the SDK from reading profiles; max_retries=0 leaves retrying to us.
        self.client = anthropic.Anthropic(api_key=key, base_url=base_url, timeout=timeout, max_retries=0)

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
        except (json.JSONDecodeError, anthropic.APIResponseValidationError) as exc:
            raise ProviderError(
                f"{self.name} returned a malformed response (not JSON or not the expected shape)"
            ) from exc

    def request_body(self, request: LLMRequest) -> dict[str, Any]:
        """The messages body for a request; batch requests carry the same one as `params`."""
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "messages": [{"role": "user", "content": request.user}],
            "temperature": request.temperature,
        }
        if request.system:
            body["system"] = request.system
        return body

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Send one request (retrying transient failures) and return the text and token counts."""
        body = self.request_body(request)
        # This SDK version has no typed `temperature` argument; the API still takes it in the body.
        extra = {"temperature": body.pop("temperature")}
        message = self.call(lambda: self.client.messages.create(**body, extra_body=extra))
        return self.response_from_body(message.model_dump(), request.key(self.name, self.model))

    def response_from_body(self, body: dict[str, Any], request_hash: str) -> LLMResponse:
        """Turn a Message JSON object (online or from a batch result) into an LLMResponse."""
        try:
            blocks = body.get("content") or []
            texts = [b.get("text") or "" for b in blocks if b.get("type") == "text"]
            usage = body.get("usage") or {}
            input_tokens = int(usage.get("input_tokens") or 0)
            output_tokens = int(usage.get("output_tokens") or 0)
        except (AttributeError, TypeError, ValueError) as exc:
            raise ProviderError(f"{self.name} returned a message without text or usage") from exc
        if not texts:
            raise ProviderError(f"{self.name} returned no text blocks")
        return LLMResponse(
            text="".join(texts),
            provider=self.name,
            model=self.model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            request_hash=request_hash,
        )
