"""OpenAI chat completions through the official SDK, with our retry policy instead of the SDK's."""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import openai

from lensforge.instruct.providers.base import LLMRequest, LLMResponse, ProviderError
from lensforge.instruct.retry import call_with_retries

API_KEY_ENV = "OPENAI_API_KEY"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 4

T = TypeVar("T")


class OpenAIProvider:
    """gpt-4o and friends. The key comes only from `api_key` or $OPENAI_API_KEY, never from files."""

    name = "openai"

    def __init__(
        self,
        model: str = "gpt-4o",
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
                f"no OpenAI API key: set the {API_KEY_ENV} environment variable",
                hint="or use the offline provider, which needs no key",
            )
        self.model = model
        self.max_attempts = max_retries + 1  # max_retries counts the retries after the first attempt
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.sleep = sleep
        self.rng = rng or random.Random()
        # max_retries=0: the SDK must not retry behind our back (ours honours Retry-After and is testable).
        self.client = openai.OpenAI(api_key=key, base_url=base_url, timeout=timeout, max_retries=0)

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
        except (json.JSONDecodeError, openai.APIResponseValidationError) as exc:
            raise ProviderError(
                f"{self.name} returned a malformed response (not JSON or not the expected shape)"
            ) from exc

    def request_body(self, request: LLMRequest) -> dict[str, Any]:
        """The chat-completions body for a request; the batch file uses the same one."""
        messages = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.append({"role": "user", "content": request.user})
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
        if request.json_output:
            body["response_format"] = {"type": "json_object"}
        return body

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Send one request (retrying transient failures) and return the text and token counts."""
        body = self.request_body(request)
        completion = self.call(lambda: self.client.chat.completions.create(**body))
        return self.response_from_body(completion.model_dump(), request.key(self.name, self.model))

    def response_from_body(self, body: dict[str, Any], request_hash: str) -> LLMResponse:
        """Turn a chat-completion JSON object (online or from a batch output line) into an LLMResponse."""
        try:
            choices = body.get("choices") or []
            text = choices[0]["message"]["content"]
            usage = body.get("usage") or {}
            input_tokens = int(usage.get("prompt_tokens") or 0)
            output_tokens = int(usage.get("completion_tokens") or 0)
        except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
            raise ProviderError(f"{self.name} returned a completion without text or usage") from exc
        if not isinstance(text, str):
            raise ProviderError(f"{self.name} returned no text (refusal or empty reply)")
        # The requested model name, not the dated one echoed back: prices and cache keys use it.
        return LLMResponse(
            text=text,
            provider=self.name,
            model=self.model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            request_hash=request_hash,
        )
