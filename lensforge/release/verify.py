"""A snapshot is immutable: its files are written read-only, and this module re-checks them against the manifest.

The manifest lists the SHA-256 of every file (`outputs`) and the snapshot id hashes inputs and outputs together, so
a changed byte, a missing or an added file, or an edited manifest is caught. `lensforge snapshot verify ID` reports
file by file; publishing and fine-tuning call `require_intact` first and refuse a snapshot that fails.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lensforge.errors import LensforgeError
from lensforge.hashing import file_sha256
from lensforge.release.schema import MANIFEST


def snapshot_id_of(inputs: dict[str, Any], outputs: dict[str, str]) -> str:
    """The content address: a hash of every input id and every output file hash."""
    blob = json.dumps({"inputs": inputs, "outputs": outputs}, sort_keys=True).encode()
    return "s" + hashlib.sha256(blob).hexdigest()[:15]


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest.json, or None when it is missing or not a JSON object."""
    try:
        data = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def verify_folder(folder: Path, expected: dict[str, Any] | None = None) -> dict[str, Any]:
    """Re-hash every file of a snapshot folder against its manifest (or `expected`, e.g. the catalog's copy).

    Returns {ok, snapshot_id, files: [{path, status, expected, actual}], problems}; status is ok, changed,
    missing or unexpected. Nothing is raised for a damaged snapshot: the caller decides.
    """
    folder = Path(folder)
    on_disk = read_manifest(folder)
    manifest = expected if expected is not None else on_disk
    problems: list[str] = []
    if manifest is None:
        return {
            "ok": False,
            "snapshot_id": None,
            "files": [],
            "problems": [f"{folder / MANIFEST} is missing or not JSON"],
        }
    if expected is not None and on_disk != expected:
        problems.append(f"{MANIFEST} differs from the catalog's copy of the manifest")
    outputs: dict[str, str] = manifest.get("outputs") or {}
    if not outputs:
        problems.append("the manifest lists no file hashes (`outputs`), so its files cannot be verified")
    # Two files at a time, largest first (hashlib releases the GIL): the train split is most of the bytes, the
    # other files hash beside it.
    present = [rel for rel in outputs if (folder / rel).is_file()]
    present.sort(key=lambda rel: -(folder / rel).stat().st_size)
    with ThreadPoolExecutor(max_workers=2) as pool:
        hashes = dict(zip(present, pool.map(file_sha256, [folder / rel for rel in present]), strict=True))
    files = []
    for rel in sorted(outputs):
        if rel not in hashes:
            files.append({"path": rel, "status": "missing", "expected": outputs[rel], "actual": None})
            continue
        actual = hashes[rel]
        files.append(
            {
                "path": rel,
                "status": "ok" if actual == outputs[rel] else "changed",
                "expected": outputs[rel],
                "actual": actual,
            }
        )
    listed = set(outputs) | {MANIFEST}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel not in listed:
            files.append({"path": rel, "status": "unexpected", "expected": None, "actual": file_sha256(path)})
    problems += [f"{f['path']}: {f['status']}" for f in files if f["status"] != "ok"]
    sid = manifest.get("snapshot_id")
    if sid and "inputs" in manifest and snapshot_id_of(manifest["inputs"], outputs) != sid:
        problems.append(f"the manifest's inputs and outputs no longer hash to {sid}")
    return {"ok": not problems, "snapshot_id": sid, "files": files, "problems": problems}


def require_intact(folder: Path, expected: dict[str, Any] | None = None, *, name: str | None = None) -> None:
    """Refuse a snapshot whose files no longer match its manifest (what publish and finetune check first)."""
    result = verify_folder(folder, expected)
    if not result["ok"]:
        label = name or result["snapshot_id"] or str(folder)
        shown = "; ".join(result["problems"][:6]) + ("; ..." if len(result["problems"]) > 6 else "")
        raise LensforgeError(
            f"snapshot {label} at {folder} does not match its manifest: {shown}",
            hint="a snapshot is never edited in place: rebuild it with `lensforge snapshot build`",
        )
