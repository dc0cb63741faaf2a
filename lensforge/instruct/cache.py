"""A content-addressed file cache of provider responses, so a rerun never pays twice for one prompt.

One JSON file per request key under `<ws>/cache/llm/<key[:2]>/<key>.json`. Only the response's own
fields are stored (text, provider, model, token counts, request hash): never API keys or HTTP headers.
Writes go through `workspace.write_text_atomic`, so a crash leaves either the old file or the new one.
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

from lensforge.instruct.providers.base import LLMResponse
from lensforge.workspace import Workspace, write_text_atomic

log = logging.getLogger(__name__)

_KEY = re.compile(r"^[0-9a-f]{16,128}$")
_FIELDS = ("text", "provider", "model", "input_tokens", "output_tokens", "request_hash")


class ResponseCache:
    """Responses keyed by `LLMRequest.key(provider, model)`; safe to share between threads."""

    def __init__(self, ws: Workspace) -> None:
        self.root = ws.cache_dir / "llm"

    def path(self, key: str) -> Path:
        """Where a key's response lives (keys are hex digests, so no path tricks are possible)."""
        if not _KEY.match(key):
            raise ValueError(f"not a cache key (expected a hex digest): {key!r}")
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> LLMResponse | None:
        """The cached response (marked cached=True), or None on a miss or an unreadable entry."""
        path = self.path(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return LLMResponse(
                text=str(data["text"]),
                provider=str(data["provider"]),
                model=str(data["model"]),
                input_tokens=int(data["input_tokens"]),
                output_tokens=int(data["output_tokens"]),
                cached=True,
                request_hash=str(data.get("request_hash") or key),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # A damaged entry is a miss: the request is sent again and the entry rewritten.
            log.warning("ignoring unreadable cache entry %s: %s", path, exc)
            return None

    def put(self, key: str, response: LLMResponse) -> None:
        """Store a response atomically (a reader sees the old entry or the new one, never half of one)."""
        path = self.path(key)
        record = {name: getattr(response, name) for name in _FIELDS}
        record["request_hash"] = response.request_hash or key
        record["stored_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        write_text_atomic(path, json.dumps(record, ensure_ascii=False, sort_keys=True))

    def __contains__(self, key: str) -> bool:
        return self.path(key).is_file()
