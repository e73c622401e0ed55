"""Writing files: every output goes through :func:`atomic_path`, so a reader never sees a half-written file."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from babelgraph.errors import BabelgraphError


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A reader never sees a half-written file, and a failed write leaves nothing behind.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        os.close(handle)
    except OSError as exc:
        raise BabelgraphError(
            f"cannot write to {folder} ({exc.strerror}): choose a folder you can write to with --out"
        ) from None
    tmp = Path(tmp_name)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files private; outputs are ordinary files
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
    return f"{words or 'prompt'}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:6]}"
