"""Automatic label proposals: source label -> canonical name, with the reason for each step.

The chain: the registry's decoding (integer codes, 0/1), case folding and separator
unification, the native-language table (Arabic, Hindi -> English), then the task's canonical
set (so `TRUE`, `True` and `sarcastic` all become `sarcastic` for every sarcasm dataset).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from lensforge.errors import LensforgeError

_SEPARATORS = re.compile(r"[\s_\-]+")


def fold(label: str) -> str:
    """Case-folded, separators removed: the form aliases are compared in."""
    return _SEPARATORS.sub("", label.strip().casefold())


def tidy(label: str) -> str:
    """Lower case with one hyphen between words: the LlamaLens naming style."""
    return _SEPARATORS.sub("-", label.strip().casefold()).strip("-")


@dataclass(frozen=True)
class TaskGroup:
    key: str
    match: tuple[str, ...]
    aliases: dict[str, str]  # folded alias -> canonical
    labels: tuple[str, ...]


@functools.cache
def _builtin_groups() -> tuple[TaskGroup, ...]:
    data = yaml.safe_load(resources.files("lensforge.curate").joinpath("canonical_labels.yaml").read_text("utf-8"))
    groups = []
    for key, spec in data["tasks"].items():
        aliases: dict[str, str] = {}
        for canonical, names in spec["labels"].items():
            canonical = str(canonical)
            aliases[fold(canonical)] = canonical
            for name in names:
                aliases.setdefault(fold(str(name)), canonical)
        groups.append(TaskGroup(key, tuple(m.lower() for m in spec["match"]), aliases, tuple(map(str, spec["labels"]))))
    return tuple(groups)


def task_group(task: str) -> TaskGroup | None:
    """The canonical set a task name belongs to (first match wins), or None."""
    t = task.lower()
    for group in _builtin_groups():
        if any(m in t for m in group.match):
            return group
    return None


@functools.cache
def _builtin_native() -> dict[str, dict[str, str]]:
    data = yaml.safe_load(resources.files("lensforge.curate").joinpath("native_labels.yaml").read_text("utf-8"))
    return {lang: {fold(str(k)): str(v) for k, v in table.items()} for lang, table in data.items()}


def native_table(workspace_file: Path | None = None) -> dict[str, dict[str, str]]:
    """The project's native-label table, extended (and overridden) by a workspace file if present."""
    table = {lang: dict(entries) for lang, entries in _builtin_native().items()}
    if workspace_file is not None and workspace_file.is_file():
        try:
            extra = yaml.safe_load(workspace_file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise LensforgeError(f"{workspace_file}: not valid YAML: {exc}") from None
        if not isinstance(extra, dict):
            raise LensforgeError(f"{workspace_file}: expected {{language: {{native: english}}}}")
        for lang, entries in extra.items():
            if not isinstance(entries, dict):
                raise LensforgeError(f"{workspace_file}: entries for {lang!r} must be a mapping native -> english")
            table.setdefault(str(lang), {}).update({fold(str(k)): str(v) for k, v in entries.items()})
    return table


@dataclass(frozen=True)
class Proposal:
    raw: str
    canonical: str
    reason: str
    in_task_set: bool


def propose(
    raw: str,
    *,
    task: str,
    decoding: dict[str, str],
    native: dict[str, dict[str, str]],
    extra_labels: tuple[str, ...] = (),
) -> Proposal:
    """Propose a canonical name for one source label, saying which rules fired."""
    steps: list[str] = []
    value = raw
    if raw in decoding:
        value = decoding[raw]
        steps.append(f"registry decoding {raw!r} -> {value!r}")
    for lang, entries in native.items():
        english = entries.get(fold(value))
        if english is not None:
            steps.append(f"native ({lang}) {value!r} -> {english!r}")
            value = english
            break
    group = task_group(task)
    if group is not None:
        hit = group.aliases.get(fold(value))
        if hit is None:
            extras = {fold(lab): lab for lab in extra_labels}
            hit = extras.get(fold(value))
        if hit is not None:
            if hit != value:
                steps.append(f"{group.key} canonical set: {value!r} -> {hit!r}")
            else:
                steps.append(f"already canonical in {group.key}")
            return Proposal(raw, hit, "; ".join(steps), True)
    name = tidy(value)
    if name != value:
        steps.append(f"case and separators: {value!r} -> {name!r}")
    steps.append(f"not in the {group.key} canonical set" if group else "no canonical set for this task")
    return Proposal(raw, name, "; ".join(steps), False)


def describe_group(task: str) -> dict[str, Any]:
    group = task_group(task)
    return {"group": group.key if group else None, "labels": list(group.labels) if group else []}
