"""Writing files: every output goes through :func:`atomic_path`, so a reader never sees a half-written file.

Three guarantees, all here:

- **Atomic files**: each output is written to a temporary ``.<name>.XXXXXXXX.tmp`` beside it and renamed onto
  its final path only when complete; a failed write leaves nothing behind.
- **Outputs of one command together or not at all**: inside :func:`output_group`, :func:`atomic_path` does not
  rename at once but stages the finished temporary file; the group renames them all when its block succeeds and
  removes them all when it fails.
- **No stale temporary files**: a ``kill -9`` can leave a ``.<name>.XXXXXXXX.tmp`` behind; the next write into
  that folder removes such files older than :data:`STALE_SECONDS`.

:func:`check_output_folder` and :func:`check_output_paths` let a command refuse an unusable ``--out`` before it
does any slow work.
"""

from __future__ import annotations

import contextvars
import errno
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from babelgraph.errors import BabelgraphError

STALE_SECONDS = 3600.0  # a temporary file this old is left over from a killed run, never one being written
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")  # what tempfile.mkstemp(prefix=".<name>.") makes
_DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO}
_GROUP: contextvars.ContextVar[list[tuple[Path, Path]] | None] = contextvars.ContextVar("output_group", default=None)


def _folder_of(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def remove_stale_temporaries(folder: Path, older_than: float = STALE_SECONDS) -> list[Path]:
    """Delete ``.<name>.XXXXXXXX.tmp`` files in ``folder`` older than ``older_than`` seconds; returns them."""
    removed = []
    cutoff = time.time() - older_than
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not _TEMP_NAME.match(entry.name):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue  # another process removed or renamed it: fine
    return removed


def _disk_error(exc: OSError, path: Path) -> BabelgraphError:
    reason = exc.strerror or type(exc).__name__
    return BabelgraphError(f"could not write {path} ({reason}): free some space or choose another folder with --out")


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A reader never sees a half-written file, and a failed write leaves nothing behind. Inside
    :func:`output_group` the rename waits for the whole group. A ``path`` that is a folder, a folder that cannot
    be written and a full disk are one-line :class:`BabelgraphError`\\ s.
    """
    path = Path(path)
    folder = _folder_of(path)
    if path.is_dir():
        raise BabelgraphError(f"{path} is a folder: remove it or choose another --out or --name")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        os.close(handle)
    except OSError as exc:
        raise BabelgraphError(
            f"cannot write to {folder} ({exc.strerror or exc}): make it writable or choose another folder"
            " (--out for outputs, $BABELGRAPH_CACHE for the cache)"
        ) from None
    remove_stale_temporaries(folder)
    tmp = Path(tmp_name)
    try:
        try:
            yield tmp
        except OSError as exc:
            if exc.errno in _DISK_ERRORS:
                raise _disk_error(exc, path) from None
            raise
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files private; outputs are ordinary files
        staged = _GROUP.get()
        if staged is not None:
            staged.append((tmp, path))
        else:
            _replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _replace(tmp: Path, path: Path) -> None:
    try:
        os.replace(tmp, path)
    except OSError as exc:
        if path.is_dir():
            raise BabelgraphError(f"{path} is a folder: remove it or choose another --out or --name") from None
        raise _disk_error(exc, path) from None


@contextmanager
def output_group() -> Iterator[None]:
    """Every :func:`atomic_path` write inside the block appears at its final path together at the end, or none
    does: on any failure the staged files are removed (and files already renamed by this group, if a rename
    itself fails, are removed again). Groups nest: an inner group joins the outer one."""
    if _GROUP.get() is not None:
        yield
        return
    staged: list[tuple[Path, Path]] = []
    token = _GROUP.set(staged)
    try:
        yield
    except BaseException:
        _GROUP.reset(token)
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    _GROUP.reset(token)
    done: list[Path] = []
    try:
        for tmp, path in staged:
            _replace(tmp, path)
            done.append(path)
    except BaseException:
        for path in done:
            path.unlink(missing_ok=True)
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise


def check_output_folder(folder: str | Path, option: str = "--out") -> Path:
    """Refuse, before any slow work, a ``folder`` that is a file, lies under a file, or cannot be written.

    Nothing is created: the nearest existing folder is probed with a temporary file that is removed at once.
    """
    folder = Path(folder)
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        where = "it is a file" if existing == folder else f"{existing} is a file"
        raise BabelgraphError(f"cannot write to {option} {folder}: {where}, not a folder; give a folder")
    try:
        handle, probe = tempfile.mkstemp(prefix=".babelgraph-probe.", suffix=".tmp", dir=existing)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise BabelgraphError(
            f"cannot write to {folder} ({exc.strerror or exc}): choose a folder you can write to with {option}"
        ) from None
    return folder


def check_output_paths(paths: Iterable[str | Path], option: str = "--out") -> None:
    """Refuse, before any slow work, final output paths that are folders or whose folder cannot be written."""
    paths = [Path(p) for p in paths]
    for path in paths:
        if path.is_dir():
            raise BabelgraphError(f"{path} is a folder: remove it or choose another {option} or --name")
    for folder in dict.fromkeys(_folder_of(p) for p in paths):
        check_output_folder(folder, option)


def write_json(data: Any, path: str | Path) -> Path:
    """UTF-8 JSON, atomically; ``allow_nan=False`` makes a stray NaN a bug, never a file other tools reject."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1, allow_nan=False), encoding="utf-8")
    return path


def write_text(text: str, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def slug(text: str, digest: bool = True, limit: int = 40) -> str:
    """A readable, filesystem-safe file stem (non-ASCII kept, so Chinese prompts stay readable); with ``digest``,
    a short hash of the full text keeps two texts that read alike apart."""
    words = re.sub(r"[^\w]+", "-", text, flags=re.UNICODE).strip("-_").lower()[:limit]
    if not digest:
        return words or "item"
    encoded = text.encode("utf-8", "surrogatepass")
    return f"{words or 'prompt'}-{hashlib.sha1(encoded).hexdigest()[:6]}"
