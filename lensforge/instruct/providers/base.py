"""The provider interface every instruction source implements."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from lensforge.errors import LensforgeError


@dataclass(frozen=True)
class LLMRequest:
    """One chat request. `metadata` travels with it (dataset id, language, count) but is not sent."""

    system: str
    user: str
    temperature: float = 0.7
    max_tokens: int = 2048
    json_output: bool = True  # ask for a JSON object (providers that support it)
    metadata: dict[str, Any] = field(default_factory=dict)

    def key(self, provider: str, model: str) -> str:
        """Cache key: provider, model, the prompt and the parameters (never an API key)."""
        blob = json.dumps(
            {
                "provider": provider,
                "model": model,
                "system": self.system,
                "user": self.user,
                "temperature": self.temperature,
                "max_tokens": self.max_tokens,
                "json": self.json_output,
            },
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LLMResponse:
    text: str
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cached: bool = False
    request_hash: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ProviderError(LensforgeError):
    """A provider failed after its retries (or cannot start: no key, offline)."""


class Provider(Protocol):
    """What the instruction factory needs from a provider."""

    name: str  # openai | anthropic | offline
    model: str

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Send one request (retrying transient failures) and return the text and token counts."""
        ...
