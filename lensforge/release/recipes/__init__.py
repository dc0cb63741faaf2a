"""Training recipes (a TRL script, an axolotl config) copied into every exported or pushed snapshot."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

RECIPES_DIR = "recipes"  # the folder's name inside an exported snapshot
RECIPE_FILES = ("README.md", "train_trl.py", "axolotl.yaml")
RECIPE_PATHS = tuple(f"{RECIPES_DIR}/{name}" for name in RECIPE_FILES)  # as they appear in an export


def add_recipes(folder: Path) -> list[str]:
    """Copy the recipes into `folder/recipes/`; returns their paths relative to `folder`."""
    source = resources.files("lensforge.release.recipes")
    target = Path(folder) / RECIPES_DIR
    target.mkdir(parents=True, exist_ok=True)
    for name in RECIPE_FILES:
        with resources.as_file(source.joinpath(name)) as path:
            shutil.copyfile(path, target / name)
    return list(RECIPE_PATHS)
