"""Where a run's outputs live, and how files are written so a crash never leaves half a file."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lensforge.errors import LensforgeError

DEFAULT_HOME = "lensforge-workspace"
HOME_ENV = "LENSFORGE_HOME"
SOURCES_ENV = "LENSFORGE_SOURCES"
USER_ENV = "LENSFORGE_USER"


@dataclass(frozen=True)
class Workspace:
    """A workspace directory: the catalog plus the data files every stage writes."""

    root: Path

    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.duckdb"

    @property
    def datasets_dir(self) -> Path:
        return self.root / "datasets"

    @property
    def snapshots_dir(self) -> Path:
        return self.root / "snapshots"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def evals_dir(self) -> Path:
        return self.root / "evals"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    def ensure(self) -> Workspace:
        """Create the directory tree; safe to call on every command."""
        try:
            for d in (
                self.root,
                self.datasets_dir,
                self.snapshots_dir,
                self.cache_dir,
                self.runs_dir,
                self.evals_dir,
                self.reports_dir,
            ):
                d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LensforgeError(f"cannot create workspace at {self.root}: {exc.strerror}") from exc
        return self


def resolve_workspace(path: str | os.PathLike[str] | None = None) -> Workspace:
    """Pick the workspace: explicit path, then $LENSFORGE_HOME, then ./lensforge-workspace."""
    chosen = path or os.environ.get(HOME_ENV) or DEFAULT_HOME
    return Workspace(Path(chosen).expanduser().resolve())


def resolve_sources(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The folder holding local mirrors of sources (one sub-folder per dataset slug), if any."""
    chosen = path or os.environ.get(SOURCES_ENV)
    return Path(chosen).expanduser().resolve() if chosen else None


def current_user(explicit: str | None = None) -> str:
    """Who is acting: --user, then $LENSFORGE_USER, then the login name."""
    if explicit:
        return explicit
    env = os.environ.get(USER_ENV)
    if env:
        return env
    try:
        return os.getlogin()
    except OSError:
        return os.environ.get("USER", "unknown")


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary sibling path; move it onto `target` only if the block succeeds.

    The one way lensforge writes a file or folder that others may read meanwhile (the catalog's reports, the
    response cache, run status, evaluation outputs). Works for files and directories: whatever the block creates
    at the yielded path replaces `target` in one rename. A file replacing a file is never absent, not even for a
    moment (a concurrent reader sees the old or the new one); a folder replaces a folder by removing the old one
    first. If the block fails, `target` is left as it was and the temporary copy is removed.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    staged = tmp / target.name
    try:
        yield staged
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif staged.is_dir() and (target.exists() or target.is_symlink()):
            target.unlink()
        os.replace(staged, target)  # a file over a file (or a symlink) is replaced atomically
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def current_umask() -> int:
    """The process umask (read by setting it and putting it back; there is no other way to read it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def seal(folder: Path) -> None:
    """Make a finished output folder immutable by convention and shareable: files read-only, folders per umask.

    Folders made with `tempfile.mkdtemp` are 0700 (unreadable to a team sharing a workspace); this gives every
    folder the mode a plain `mkdir` would (0777 less the umask) and every file the read bits of 0666 less the
    umask, without write bits. Folders stay writable so a rebuild can still replace the whole tree.
    """
    mask = current_umask()
    folder = Path(folder)
    for path in [folder, *folder.rglob("*")]:
        if path.is_symlink():
            continue
        path.chmod((0o777 & ~mask) if path.is_dir() else (0o444 & ~mask))


def write_text_atomic(target: Path, text: str) -> None:
    """Write a UTF-8 text file through a temporary name (see `atomic_path`)."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
