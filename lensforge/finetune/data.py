"""From a snapshot to training examples: where the snapshot is, which base model and chat format, and tokens.

Each row's `messages` are rendered with the base model's chat format into a prompt and a completion and
tokenized separately, so the labels are -100 over every prompt token and the loss falls on the assistant's
answer (and its end-of-turn marker) only. Examples longer than max_length are dropped or have the prompt's
start cut (`truncation`), and the counts are reported. Packing concatenates examples into max_length blocks,
keeping each example's mask.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from lensforge.errors import LensforgeError
from lensforge.finetune.chat import FORMATS, ChatFormat, chat_format_for
from lensforge.release.schema import hub_split
from lensforge.release.verify import require_intact
from lensforge.workspace import Workspace, atomic_path

IGNORE = -100
SPLITS = ("train", "dev", "test")
TINY_NAMES = ("tiny", "lensforge-tiny")
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class SnapshotSource:
    """A snapshot on disk (`data/<split>.parquet`), local or fetched from the Hub."""

    snapshot_id: str
    path: Path
    hub_repo: str | None = None
    hub_revision: str | None = None
    hub_sha: str | None = None


def is_hub_ref(snapshot: str) -> bool:
    return "/" in snapshot or "@" in snapshot


def hub_offline() -> bool:
    import huggingface_hub.constants as hc

    env = any(os.environ.get(k, "").strip().lower() in _TRUE for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    return env or bool(hc.HF_HUB_OFFLINE)


def resolve_snapshot(ws: Workspace, snapshot: str) -> SnapshotSource:
    """A local snapshot id, or `REPO@REVISION` fetched with `datasets` (refused at once when offline)."""
    if is_hub_ref(snapshot):
        return _hub_snapshot(ws, snapshot)
    from lensforge.release.snapshot import get_snapshot

    try:
        row = get_snapshot(ws, snapshot)
    except LensforgeError:
        raise LensforgeError(
            f"no snapshot {snapshot!r} in workspace {ws.root}",
            hint="see `lensforge snapshot list`, or give a Hub snapshot as REPO@REVISION",
        ) from None
    path = ws.root / row["path"]
    require_intact(path, row["manifest"], name=snapshot)  # never train on files that no longer match the manifest
    _check_folder(path, snapshot)
    return SnapshotSource(snapshot_id=snapshot, path=path)


def _check_folder(path: Path, name: str) -> None:
    if not (path / "data" / "train.parquet").is_file():
        raise LensforgeError(f"snapshot {name}: {path / 'data' / 'train.parquet'} is missing")


def _hub_snapshot(ws: Workspace, ref: str) -> SnapshotSource:
    repo, _, revision = ref.partition("@")
    revision = revision or "main"
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise LensforgeError(f"bad Hub snapshot {ref!r}: use ORG/NAME@REVISION")
    if hub_offline():
        raise LensforgeError(
            f"cannot fetch the Hub snapshot {repo}@{revision}: offline mode is on (HF_HUB_OFFLINE=1)",
            hint="train on a local snapshot (`lensforge snapshot list`), or unset HF_HUB_OFFLINE with network access",
        )
    import datasets
    from huggingface_hub import HfApi, hf_hub_download

    try:
        sha = HfApi().dataset_info(repo, revision=revision).sha
        assert sha is not None
        folder = ws.cache_dir / "hub" / repo.replace("/", "--") / sha
        if not (folder / "data" / "train.parquet").is_file():
            loaded = datasets.load_dataset(repo, revision=sha)  # the commit, not the (movable) revision name
            with atomic_path(folder) as staged:  # all splits or none in the cache
                (staged / "data").mkdir(parents=True)
                for split in SPLITS:  # published as train/validation/test (older snapshots: dev)
                    name = next((n for n in (hub_split(split), split) if n in loaded), None)
                    if name is not None:
                        loaded[name].to_parquet(str(staged / "data" / f"{split}.parquet"))
                try:
                    manifest = hf_hub_download(repo, "manifest.json", repo_type="dataset", revision=sha)
                    (staged / "manifest.json").write_bytes(Path(manifest).read_bytes())
                except Exception:  # a dataset published elsewhere may have no manifest; the sha identifies it
                    pass
    except LensforgeError:
        raise
    except Exception as exc:
        raise LensforgeError(f"cannot load the Hub snapshot {repo}@{revision}: {exc}") from None
    snapshot_id = f"{repo}@{sha[:12]}"
    if (folder / "manifest.json").is_file():
        snapshot_id = json.loads((folder / "manifest.json").read_text(encoding="utf-8")).get("snapshot_id", snapshot_id)
    _check_folder(folder, ref)
    return SnapshotSource(snapshot_id, folder, hub_repo=repo, hub_revision=revision, hub_sha=sha)


def read_split(snapshot_dir: Path, split: str) -> pl.DataFrame:
    """One split's rows (empty frame when the split has no file)."""
    path = Path(snapshot_dir) / "data" / f"{split}.parquet"
    if not path.is_file():
        return pl.DataFrame()
    frame = pl.read_parquet(path)
    if "messages" not in frame.columns:
        raise LensforgeError(f"{path} has no `messages` column; is it a lensforge snapshot?")
    return frame


def corpus_texts(snapshot_dir: Path) -> list[str]:
    """The train split's message texts: what the tiny model's tokenizer is trained on."""
    frame = read_split(snapshot_dir, "train")
    return [m["content"] for msgs in frame["messages"].to_list() for m in msgs] if frame.height else []


def chat_format_name(base: str, explicit: str | None = None) -> str:
    """The chat format a base model will use, without building or loading anything."""
    if explicit:
        return chat_format_for(base, explicit).name
    if base in TINY_NAMES or (Path(base).expanduser() / "lensforge.json").is_file():
        return "tiny"
    try:
        return chat_format_for(base).name
    except LensforgeError as exc:
        raise LensforgeError(exc.message, hint=f"add --set chat_format=NAME ({', '.join(FORMATS)})") from None


def resolve_base(
    ws: Workspace, base: str, snapshot_dir: Path, *, chat_format: str | None = None
) -> tuple[str, ChatFormat]:
    """The model to load (Hub name or local path) and its chat format; `tiny` builds the local tiny model."""
    from lensforge.finetune.tiny import ensure_tiny_model

    fmt = FORMATS[chat_format_name(base, chat_format)]
    if base in TINY_NAMES:
        return str(ensure_tiny_model(ws, corpus_texts(snapshot_dir))), fmt
    local = Path(base).expanduser()
    return (str(local.resolve()) if local.is_dir() else base), fmt


@dataclass
class Encoded:
    """Tokenized examples plus what happened to the ones that did not fit."""

    input_ids: list[list[int]] = field(default_factory=list)
    labels: list[list[int]] = field(default_factory=list)
    rows: int = 0
    dropped: int = 0
    truncated: int = 0
    packed_from: int = 0  # examples packed into the blocks (0: no packing)

    @property
    def tokens(self) -> int:
        return sum(len(x) for x in self.input_ids)

    def stats(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "examples": len(self.input_ids),
            "dropped": self.dropped,
            "truncated": self.truncated,
            "packed_from": self.packed_from,
            "tokens": self.tokens,
        }


def encode_messages(messages: list[dict[str, Any]], tokenizer: Any, fmt: ChatFormat) -> tuple[list[int], list[int]]:
    """Token ids of one conversation and its labels (-100 over the prompt)."""
    prompt = tokenizer(fmt.prompt(messages), add_special_tokens=False)["input_ids"]
    completion = tokenizer(fmt.completion(messages), add_special_tokens=False)["input_ids"]
    return prompt + completion, [IGNORE] * len(prompt) + completion


def encode_rows(
    rows: list[list[dict[str, Any]]],
    tokenizer: Any,
    fmt: ChatFormat,
    *,
    max_length: int,
    truncation: str = "drop",
) -> Encoded:
    """Every conversation tokenized with its loss mask; over-long ones dropped or prompt-cut from the left."""
    out = Encoded(rows=len(rows))
    for messages in rows:
        ids, labels = encode_messages(messages, tokenizer, fmt)
        if len(ids) > max_length:
            answer = sum(1 for x in labels if x != IGNORE)
            if truncation == "drop" or answer >= max_length:  # an answer alone too long cannot be kept whole
                out.dropped += 1
                continue
            cut = len(ids) - max_length
            ids, labels = ids[cut:], labels[cut:]
            out.truncated += 1
        out.input_ids.append(ids)
        out.labels.append(labels)
    return out


def pack(encoded: Encoded, max_length: int, seed: int) -> Encoded:
    """Shuffle (seeded) and concatenate examples into max_length blocks; labels keep their -100 prompt masks.

    Attention crosses example boundaries inside a block (the usual TRL/axolotl packing without
    per-example attention masks); the loss still counts only answer tokens.
    """
    order = list(range(len(encoded.input_ids)))
    random.Random(seed).shuffle(order)
    out = Encoded(rows=encoded.rows, dropped=encoded.dropped, truncated=encoded.truncated, packed_from=len(order))
    ids: list[int] = []
    labels: list[int] = []
    for i in order:
        ids += encoded.input_ids[i]
        labels += encoded.labels[i]
        while len(ids) >= max_length:
            out.input_ids.append(ids[:max_length])
            out.labels.append(labels[:max_length])
            ids, labels = ids[max_length:], labels[max_length:]
    if ids:
        out.input_ids.append(ids)
        out.labels.append(labels)
    return out


def to_dataset(encoded: Encoded) -> Any:
    """A `datasets.Dataset` with input_ids, labels and a length column (for group_by_length)."""
    import datasets

    return datasets.Dataset.from_dict(
        {
            "input_ids": encoded.input_ids,
            "labels": encoded.labels,
            "length": [len(x) for x in encoded.input_ids],
        }
    )


class Collator:
    """Right-pads a batch: pad id for inputs, -100 for labels, and the attention mask."""

    def __init__(self, pad_id: int, multiple_of: int = 8) -> None:
        self.pad_id = pad_id
        self.multiple_of = multiple_of

    def __call__(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        longest = max(len(b["input_ids"]) for b in batch)
        width = -(-longest // self.multiple_of) * self.multiple_of
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, b in enumerate(batch):
            n = len(b["input_ids"])
            ids[i, :n] = torch.tensor(b["input_ids"], dtype=torch.long)
            labels[i, :n] = torch.tensor(b["labels"], dtype=torch.long)
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}
