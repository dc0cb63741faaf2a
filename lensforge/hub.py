"""Whether lensforge may contact the Hugging Face Hub: one answer for every stage.

Ingest (a registry entry whose source is a Hub dataset), fine-tuning (a snapshot given as REPO@REVISION) and
publishing all ask here before any network call, so a machine set up to stay offline fails at once with a clear
message instead of waiting on timeouts.

The Hub is offline when any of the Hugging Face offline switches is on in the environment now
(`HF_HUB_OFFLINE` or `HF_DATASETS_OFFLINE` set to 1, true, yes or on, any case), or when `huggingface_hub` was
imported in offline mode (it reads `HF_HUB_OFFLINE` once, at import, and then refuses every call; its setting
is read only if it is already imported, so asking costs no import).
"""

from __future__ import annotations

import os
import sys

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
_TRUE = frozenset({"1", "true", "yes", "on"})


def is_true(value: str | None) -> bool:
    """An environment switch as the Hugging Face libraries read it: 1, true, yes or on (any case, spaces ignored)."""
    return (value or "").strip().lower() in _TRUE


def hub_offline() -> bool:
    """True when the Hub must not be contacted (see the module docstring for the one rule)."""
    if any(is_true(os.environ.get(name)) for name in OFFLINE_VARIABLES):
        return True
    constants = sys.modules.get("huggingface_hub.constants")
    return bool(getattr(constants, "HF_HUB_OFFLINE", False))
