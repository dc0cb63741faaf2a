"""OpenAI chat completions through the official SDK, with our retry policy instead of the SDK's."""

from __future__ import annotations

import json
from typing import Any

import openai

from lensforge.instruct.providers.base import LLMRequest, LLMResponse, ProviderError
from lensforge.instruct.providers.sdk import SDKProvider

API_KEY_ENV = "OPENAI_API_KEY"


class OpenAIProvider(SDKProvider):
    """gpt-4o and friends. The key comes only from `api_key` or $OPENAI_API_KEY, never from files."""

    name = "openai"
    vendor = "OpenAI"
    api_key_env = API_KEY_ENV
    malformed = (json.JSONDecodeError, openai.APIResponseValidationError)

    def __init__(self, model: str = "gpt-4o", *args: Any, **kwargs: Any) -> None:
        super().__init__(model, *args, **kwargs)

    def make_client(self, key: str, base_url: str | None, timeout: float) -> Any:
        # An explicit api_key keeps the SDK away from profiles; max_retries=0 leaves retrying to us.
        return openai.OpenAI(api_key=key, base_url=base_url, timeout=timeout, max_retries=0)

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
