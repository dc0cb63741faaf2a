"""Every pinned dependency is used: a pin nothing imports is dropped (or put to work replacing our own code)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Distribution name -> module name, where they differ.
MODULE = {
    "huggingface-hub": "huggingface_hub",
    "great-expectations": "great_expectations",
    "PyYAML": "yaml",
    "scikit-learn": "sklearn",
    "rouge-score": "rouge_score",
    "vl-convert-python": "vl_convert",
}
# Pinned but loaded by another library, never imported by name (why each is needed).
INDIRECT = {
    "bitsandbytes": "transformers loads it for 4-bit/8-bit quantization and the 8-bit optimizers (QLoRA presets)",
    "ruff": "a command: `make lint` and tests/test_lint.py run it",
    "pytest-xdist": "a pytest plugin: `make test` runs the suite on two workers (`-n 2`)",
}


def _names(specs: list[str]) -> list[str]:
    return [re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0] for spec in specs]


def _imported(module: str, folders: list[str]) -> bool:
    pattern = re.compile(rf"^\s*(?:import|from)\s+{re.escape(module)}\b", re.MULTILINE)
    return any(
        pattern.search(path.read_text(encoding="utf-8")) for folder in folders for path in (ROOT / folder).rglob("*.py")
    )


def test_every_pinned_dependency_is_imported():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    unused = [
        name
        for name in _names(project["dependencies"])
        if name not in INDIRECT and not _imported(MODULE.get(name, name), ["lensforge"])
    ]
    unused += [
        name
        for name in _names(project["optional-dependencies"]["dev"])
        if name not in INDIRECT and not _imported(MODULE.get(name, name), ["lensforge", "tests", "bench", "tools"])
    ]
    assert not unused, f"pinned but never imported: {unused} (drop the pin, or use it)"


def test_the_build_backend_reads_the_project_table_without_deprecations():
    """setuptools deprecates `project.license` as a table and announced that builds using it stop working after
    2027-02-18; the CI's install builds the project with the setuptools its build requirement names, so a
    deprecation today is a failed install later. The backend is pinned so that day is chosen, not met."""
    import warnings

    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dist = apply_configuration(Distribution(), ROOT / "pyproject.toml")
    deprecations = [str(w.message).splitlines()[0] for w in caught if "Deprecat" in w.category.__name__]
    assert not deprecations, deprecations
    assert dist.get_name() == "lensforge"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]["requires"]
    assert all("==" in spec for spec in requires), f"unpinned build requirement: {requires}"
