"""Where a dataset's raw files are: a local mirror folder, a folder inside the package, or the Hub."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from lensforge.catalog.spec import DatasetEntry
from lensforge.errors import LensforgeError
from lensforge.hub import hub_offline

DEMO_DATA_PACKAGE = "lensforge.demo.data"


@dataclass(frozen=True)
class ResolvedSource:
    kind: str  # local, package or hub
    root: Path | None  # folder holding the spec's files (local, package)
    description: str


def resolve_source(entry: DatasetEntry, sources: Path | None, *, allow_hub: bool = True) -> ResolvedSource:
    """Pick the first usable source: package folder, local mirror, then the Hub (when allowed)."""
    src = entry.source
    if src.package:
        root = Path(str(resources.files(DEMO_DATA_PACKAGE).joinpath(src.package)))
        if not root.is_dir():
            raise LensforgeError(f"{entry.dataset_id}: packaged data folder {src.package!r} is missing")
        return ResolvedSource("package", root, f"package folder {src.package}")
    if src.local:
        if sources is not None and (sources / src.local.slug).is_dir():
            return ResolvedSource("local", sources / src.local.slug, f"local mirror {sources / src.local.slug}")
        if src.hub is None or not allow_hub:
            where = f"{sources}/{src.local.slug}" if sources else f"<sources>/{src.local.slug}"
            raise LensforgeError(
                f"{entry.dataset_id}: no local copy found at {where}",
                hint="pass --sources DIR (or set LENSFORGE_SOURCES) to the folder holding " + src.local.slug,
            )
    if src.hub and not allow_hub:
        raise LensforgeError(f"{entry.dataset_id}: only a Hub copy is registered", hint="ask for it by name, or --hub")
    if src.hub:
        if hub_offline():
            slug = src.local.slug if src.local else entry.name
            raise LensforgeError(
                f"{entry.dataset_id}: the source is the Hugging Face dataset {src.hub.repo}"
                + (f" (config {src.hub.config})" if src.hub.config else "")
                + " and the Hub is offline (HF_HUB_OFFLINE=1)",
                hint=f"download it elsewhere and point --sources DIR at a folder holding {slug}/",
            )
        return ResolvedSource("hub", None, f"hub {src.hub.repo}:{src.hub.config or ''}@{src.hub.revision or 'main'}")
    raise LensforgeError(f"{entry.dataset_id}: the registry entry has no usable source (local, package or hub)")


def load_hub_splits(entry: DatasetEntry) -> dict[str, object]:
    """The Hub copy as {split: datasets.Dataset}; only called when online."""
    assert entry.source.hub is not None
    import datasets

    hub = entry.source.hub
    try:
        loaded = datasets.load_dataset(hub.repo, hub.config, revision=hub.revision)
    except Exception as exc:  # network, auth and missing-config errors come from several libraries
        raise LensforgeError(
            f"{entry.dataset_id}: could not load {hub.repo} ({hub.config}) from the Hub: {exc}",
            hint="point --sources DIR at a local copy",
        ) from None
    rename = {"validation": "dev", "valid": "dev", "dev": "dev", "train": "train", "test": "test"}
    return {rename.get(name, name): ds for name, ds in loaded.items()}
