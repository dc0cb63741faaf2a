"""Publish a snapshot: to a Hugging Face dataset repo, or as the same layout to a local folder.

The layout is the snapshot folder itself: manifest.json and every file it lists (README.md, the card whose YAML
lets `datasets.load_dataset` read the splits; data/<split>.parquet; LICENSES.md; croissant.json; the
cross-dataset leakage report). Export and push carry exactly the same files, and both re-verify them against the
manifest first, so a damaged snapshot never leaves the workspace. A Hub push is one commit; the catalog records
the repo, the commit sha, the tag and the URL, with one `publish` event. The token comes only from $HF_TOKEN and
is never written anywhere: not in the catalog, the events, the exported files, nor in an error message.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from lensforge.catalog.db import transaction
from lensforge.catalog.events import record_event
from lensforge.errors import LensforgeError
from lensforge.hub import hub_offline
from lensforge.release.recipes import RECIPE_PATHS, add_recipes
from lensforge.release.schema import CARD, MANIFEST, SPLITS, data_file
from lensforge.release.store import get_snapshot, record_publication, snapshot_dir
from lensforge.release.verify import read_manifest, require_intact
from lensforge.workspace import Workspace, atomic_path

TOKEN_ENV = "HF_TOKEN"
HUB_FILES = (CARD, MANIFEST)
_REPO_PART = re.compile(r"^[A-Za-z0-9_.-]+$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_HF_TOKEN_SHAPE = re.compile(r"hf_[A-Za-z0-9]{8,}")


def validate_repo_id(repo: str) -> str:
    """Refuse anything but `ORG/NAME` before any network call, so a typo never creates a stray repo."""
    if not isinstance(repo, str) or repo.count("/") != 1:
        raise LensforgeError(f"invalid Hub repo {repo!r}: use ORG/NAME (exactly one slash)")
    for part in repo.split("/"):
        if not part or not _REPO_PART.match(part):
            raise LensforgeError(
                f"invalid Hub repo {repo!r}: ORG and NAME may hold only letters, digits, '-', '_' and '.'"
            )
        if part[0] in "-." or part[-1] in "-." or "--" in part or ".." in part:
            raise LensforgeError(
                f"invalid Hub repo {repo!r}: a part may not start or end with '-' or '.', nor hold '--' or '..'"
            )
        if len(part) > 96:
            raise LensforgeError(f"invalid Hub repo {repo!r}: a part may be at most 96 characters")
    return repo


def _validate_tag(tag: str) -> str:
    if not _TAG.match(tag) or ".." in tag or tag.endswith((".", ".lock")) or len(tag) > 128:
        raise LensforgeError(f"invalid tag {tag!r}: use letters, digits, '.', '-' and '_' (e.g. v1.0)")
    return tag


def layout(snapshot_dir: Path) -> list[str]:
    """The files a snapshot publishes (relative paths): manifest.json and every output it lists.

    A manifest without `outputs` (hand-made folders) publishes the card and the split files found. Errors when a
    file is missing.
    """
    if not snapshot_dir.is_dir():
        raise LensforgeError(f"snapshot folder not found: {snapshot_dir}")
    outputs = sorted(((read_manifest(snapshot_dir) or {}).get("outputs") or {}).keys())
    if not outputs:
        outputs = [CARD, *(data_file(s) for s in SPLITS if (snapshot_dir / data_file(s)).is_file())]
    missing = [rel for rel in (*HUB_FILES, *outputs) if not (snapshot_dir / rel).is_file()]
    if not any(rel.startswith("data/") for rel in outputs):
        missing.append("data/*.parquet")
    if missing:
        raise LensforgeError(f"snapshot folder {snapshot_dir} is incomplete: missing {', '.join(missing)}")
    return sorted({MANIFEST, *outputs})


_read_manifest = read_manifest


def _same_snapshot(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    if a is None or b is None:
        return False
    if a.get("snapshot_id") and b.get("snapshot_id"):
        return a["snapshot_id"] == b["snapshot_id"]
    return a == b


def _is_export_of(target: Path, manifest: dict[str, Any] | None, files: list[str]) -> bool:
    """True when `target` holds only the snapshot's files and its manifest is this snapshot's (safe to replace)."""
    allowed = set(files)
    for path in target.rglob("*"):
        if path.is_symlink():
            return False
        if path.is_dir() and any(rel.startswith(path.relative_to(target).as_posix() + "/") for rel in allowed):
            continue
        if not (path.is_file() and path.relative_to(target).as_posix() in allowed):
            return False
    return _same_snapshot(_read_manifest(target), manifest)


def export_to_dir(snapshot_dir: Path, target: Path, *, expected: dict[str, Any] | None = None) -> Path:
    """Write the Hub layout of a snapshot to a local folder (for a manual upload or an offline copy).

    The snapshot is re-verified against its manifest (`expected`: the catalog's copy) first. Goes through a
    temporary sibling folder and a rename, so a failure leaves no half-written export. A non-empty target is
    refused unless it is an earlier export of the same snapshot (then it is replaced). The copies are writable.
    """
    source = Path(snapshot_dir).expanduser().resolve()
    dest = Path(target).expanduser().resolve()
    files = layout(source)
    require_intact(source, expected)
    if dest == source or source in dest.parents or dest in source.parents:
        raise LensforgeError(f"cannot export snapshot {source} into {dest}: the folders overlap")
    if dest.exists() or dest.is_symlink():
        if not dest.is_dir() or dest.is_symlink():
            raise LensforgeError(f"export target {dest} exists and is not a folder")
        if any(dest.iterdir()) and not _is_export_of(dest, _read_manifest(source), [*files, *RECIPE_PATHS]):
            raise LensforgeError(
                f"export target {dest} is not empty and is not an export of this snapshot",
                hint="choose an empty or new folder",
            )
    try:
        with atomic_path(dest) as staged:
            for rel in files:
                (staged / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / rel, staged / rel)
            add_recipes(staged)  # the TRL script and axolotl config, so the export trains without lensforge
    except OSError as exc:
        raise LensforgeError(f"cannot export to {dest}: {exc.strerror or exc}") from exc
    return dest


def _record(
    ws: Workspace,
    *,
    snapshot_id: str,
    target: str,
    kind: str,
    actor: str,
    commit_sha: str | None = None,
    tag: str | None = None,
    url: str | None = None,
    private: bool | None = None,
) -> dict[str, Any]:
    record = {
        "snapshot_id": snapshot_id,
        "target": target,
        "kind": kind,
        "commit_sha": commit_sha,
        "tag": tag,
        "url": url,
        "private": private,
    }
    with transaction(ws) as con:
        record_publication(con, record, actor=actor)
        record_event(con, actor=actor, kind="publish", subject=snapshot_id, payload=record)
    return record


def record_dir_export(ws: Workspace, snapshot_id: str, target: Path, actor: str) -> dict[str, Any]:
    """Record a local export (kind 'dir') and its event, so the catalog knows every copy that left the workspace."""
    source = snapshot_dir(ws, snapshot_id)
    dest = Path(target).expanduser().resolve()
    if not dest.is_dir() or not _same_snapshot(_read_manifest(dest), _read_manifest(source)):
        raise LensforgeError(f"{dest} does not hold an export of snapshot {snapshot_id}", hint="export it first")
    return _record(ws, snapshot_id=snapshot_id, target=str(dest), kind="dir", actor=actor)


def export_snapshot(ws: Workspace, snapshot_id: str, target: Path, *, actor: str) -> dict[str, Any]:
    """Export a catalogued snapshot to a folder and record it (what `--to-dir` does)."""
    info = get_snapshot(ws, snapshot_id)
    dest = export_to_dir(snapshot_dir(ws, info), target, expected=info["manifest"])
    return {**record_dir_export(ws, snapshot_id, dest, actor), "path": str(dest)}


def _scrub(text: str, token: str | None) -> str:
    if token:
        text = text.replace(token, "***")
    return _HF_TOKEN_SHAPE.sub("hf_***", text)


def _hub_call(what: str, token: str, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
    """Call the Hub; a failure becomes a LensforgeError whose text (and chain) cannot carry the token."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:
        message = _scrub(f"{what} failed: {type(exc).__name__}: {exc}", token)
    # Raised outside the except block so the original exception (which might quote a header) is not chained.
    raise LensforgeError(message)


def _commit_sha(info: Any) -> str | None:
    for key in ("oid", "commit_oid", "sha", "commit_sha"):
        value = info.get(key) if isinstance(info, dict) else getattr(info, key, None)
        if value:
            return str(value)
    return None


def _commit_url(info: Any) -> str | None:
    value = info.get("commit_url") if isinstance(info, dict) else getattr(info, "commit_url", None)
    return str(value) if value else None


def publish_to_hub(
    ws: Workspace,
    snapshot_id: str,
    repo: str,
    *,
    private: bool = False,
    tag: str | None = None,
    actor: str,
    api: Any | None = None,
) -> dict[str, Any]:
    """Push a snapshot to a Hub dataset repo in one commit (optionally tagged) and record where it went.

    Everything that can be checked locally (repo name, tag, snapshot, offline mode, $HF_TOKEN) is checked before
    the first network call. `api` replaces `huggingface_hub.HfApi(token=...)` (tests pass a fake).
    """
    validate_repo_id(repo)
    if tag is not None:
        _validate_tag(tag)
    info = get_snapshot(ws, snapshot_id)
    folder = snapshot_dir(ws, info)
    files = layout(folder)
    require_intact(folder, info["manifest"], name=snapshot_id)
    if hub_offline():
        raise LensforgeError(
            "cannot publish to the Hub: huggingface_hub is in offline mode (HF_HUB_OFFLINE)",
            hint="unset HF_HUB_OFFLINE when online, or export the snapshot with --to-dir and upload it later",
        )
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise LensforgeError(
            "no Hugging Face token: set HF_TOKEN to a token with write access",
            hint="or export the snapshot with --to-dir",
        )
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)

    repo_url = _hub_call(
        f"creating dataset repo {repo}",
        token,
        api.create_repo,
        repo,
        repo_type="dataset",
        private=private,
        exist_ok=True,
        token=token,
    )
    with tempfile.TemporaryDirectory(prefix="lensforge-push-") as tmp:  # the export layout: snapshot + recipes
        info = _hub_call(
            f"uploading snapshot {snapshot_id} to {repo}",
            token,
            api.upload_folder,
            repo_id=repo,
            folder_path=str(export_to_dir(folder, Path(tmp) / snapshot_id)),
            repo_type="dataset",
            commit_message=f"Publish lensforge snapshot {snapshot_id}",
            allow_patterns=[*files, *RECIPE_PATHS],  # exactly the exported files
            delete_patterns=["data/*.parquet"],
            token=token,
        )
    sha = _commit_sha(info)
    url = _scrub(str(repo_url), token) if isinstance(repo_url, str) and repo_url.startswith("http") else None
    if url is None:
        from huggingface_hub import constants

        url = f"{constants.ENDPOINT.rstrip('/')}/datasets/{repo}"
    tag_error = None
    if tag is not None:
        if sha is None:
            tag_error = "the upload returned no commit id to tag"
        else:
            try:
                _hub_call(
                    f"tagging {repo}@{sha[:12]} as {tag}",
                    token,
                    api.create_tag,
                    repo,
                    tag=tag,
                    repo_type="dataset",
                    revision=sha,
                    token=token,
                )
            except LensforgeError as exc:
                tag_error = exc.message
    # The commit is on the Hub whatever happened to the tag: record it, then report a failed tag.
    record = _record(
        ws,
        snapshot_id=snapshot_id,
        target=repo,
        kind="hub",
        actor=actor,
        commit_sha=sha,
        tag=None if tag_error else tag,
        url=url,
        private=private,
    )
    if tag_error:
        raise LensforgeError(
            f"uploaded snapshot {snapshot_id} to {repo} (commit {sha}) but {tag_error}",
            hint="the publication is recorded without the tag; tag the commit on the Hub by hand",
        )
    commit_url = _commit_url(info)
    return {**record, "repo": repo, "commit_url": _scrub(commit_url, token) if commit_url else None}
