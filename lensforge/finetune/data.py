"""From a snapshot to training examples: where the snapshot is, which base model, and token ids with loss masks.

Each row's `messages` go through the chat template (`chat.render`, the same function evaluation uses), giving
token ids and a mask over the answer and its end-of-turn marker. Examples longer than max_length are dropped or
have the prompt's start cut (`truncation`), and the counts are reported. TRL's SFTTrainer does the rest: labels
from the mask, packing (without attention across examples), collation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from lensforge.catalog.constants import SPLITS
from lensforge.errors import LensforgeError
from lensforge.finetune.chat import ChatTemplate, render
from lensforge.hub import hub_offline
from lensforge.release.schema import hub_split
from lensforge.release.verify import require_intact
from lensforge.workspace import Workspace, atomic_path

TINY_NAMES = ("tiny", "lensforge-tiny")


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


def resolve_snapshot(ws: Workspace, snapshot: str) -> SnapshotSource:
    """A local snapshot id, or `REPO@REVISION` fetched with `datasets` (refused at once when offline)."""
    if is_hub_ref(snapshot):
        return _hub_snapshot(ws, snapshot)
    from lensforge.release.store import get_snapshot, snapshot_dir

    try:
        row = get_snapshot(ws, snapshot)
    except LensforgeError:
        raise LensforgeError(
            f"no snapshot {snapshot!r} in workspace {ws.root}",
            hint="see `lensforge snapshot list`, or give a Hub snapshot as REPO@REVISION",
        ) from None
    path = snapshot_dir(ws, row)
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


def resolve_base(ws: Workspace, base: str, snapshot_dir: Path) -> str:
    """The model to load: a Hub name, a local folder, or (`tiny`) the local tiny model built from the snapshot."""
    from lensforge.finetune.tiny import ensure_tiny_model

    if base in TINY_NAMES:
        return str(ensure_tiny_model(ws, corpus_texts(snapshot_dir)))
    local = Path(base).expanduser()
    return str(local.resolve()) if local.is_dir() else base


@dataclass
class TrainData:
    """Rendered training examples (token ids and loss masks) and what happened to the rows that did not fit."""

    input_ids: list[list[int]] = field(default_factory=list)
    loss_masks: list[list[int]] = field(default_factory=list)
    rows: int = 0
    dropped: int = 0  # longer than max_length and not cut (truncation=drop, or the answer alone too long)
    truncated: int = 0  # prompt start cut off (truncation=prompt_left)
    longest: int = 0  # tokens of the longest row, before dropping or cutting

    @property
    def tokens(self) -> int:
        return sum(len(x) for x in self.input_ids)

    def stats(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "examples": len(self.input_ids),
            "dropped": self.dropped,
            "truncated": self.truncated,
            "longest": self.longest,
            "tokens": self.tokens,
        }


def prepare_examples(
    conversations: list[list[dict[str, Any]]],
    tokenizer: Any,
    template: ChatTemplate,
    *,
    max_length: int,
    truncation: str = "drop",
    on_progress: Callable[[int, int], None] | None = None,
) -> TrainData:
    """Every conversation rendered (chat.render) with its loss mask; rows over max_length dropped or prompt-cut.

    Done here rather than by TRL's truncation, which keeps the start and would cut the answer (the label) off.
    """
    out = TrainData(rows=len(conversations))
    for r in render(tokenizer, conversations, template, on_progress=on_progress):
        ids, mask = r.input_ids, r.loss_mask
        out.longest = max(out.longest, len(ids))
        if len(ids) > max_length:
            if truncation == "drop" or r.answer_length >= max_length:  # an answer alone too long cannot be kept whole
                out.dropped += 1
                continue
            cut = len(ids) - max_length
            ids, mask = ids[cut:], mask[cut:]
            out.truncated += 1
        out.input_ids.append(ids)
        out.loss_masks.append(mask)
    return out


def to_dataset(data: TrainData) -> Any:
    """A tokenized `datasets.Dataset` for TRL's SFTTrainer: it builds labels from `assistant_masks`, packs, collates."""
    import datasets

    return datasets.Dataset.from_dict(
        {
            "input_ids": data.input_ids,
            "assistant_masks": data.loss_masks,
            "length": [len(x) for x in data.input_ids],
        }
    )
