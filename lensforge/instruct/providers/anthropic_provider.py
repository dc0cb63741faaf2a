"""Anthropic messages through the official SDK, with our retry policy instead of the SDK's."""

from __future__ import annotations

import json
from typing import Any

import anthropic

from lensforge.instruct.providers.base import LLMRequest, LLMResponse, ProviderError
from lensforge.instruct.providers.sdk import SDKProvider

API_KEY_ENV = "ANTHROPIC_API_KEY"


class AnthropicProvider(SDKProvider):
    """Claude models. The key comes only from `api_key` or $ANTHROPIC_API_KEY (no profiles or config files)."""

    name = "anthropic"
    vendor = "Anthropic"
    api_key_env = API_KEY_ENV
    malformed = (json.JSONDecodeError, anthropic.APIResponseValidationError)

    def __init__(self, model: str = "claude-3-5-sonnet-latest", *args: Any, **kwargs: Any) -> None:
        super().__init__(model, *args, **kwargs)

    def make_client(self, key: str, base_url: str | None, timeout: float) -> Any:
        # An explicit api_key keeps the SDK away from profiles; max_retries=0 leaves retrying to us.
        return anthropic.Anthropic(api_key=key, base_url=base_url, timeout=timeout, max_retries=0)

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
