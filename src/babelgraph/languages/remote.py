"""A batch's output folder at an fsspec URL (``s3://bucket/run``, ``gs://...``, ``memory://...``).

Jobs run into a local staging folder exactly as they do for a local ``--out``; each finished concept is then
uploaded file by file with its ``job.json`` last, so a concept whose ``job.json`` is there is complete (the same
done marker the local batch uses), and a rerun skips concepts whose remote ``job.json`` has the same key.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from babelgraph.errors import BabelgraphError
from babelgraph.languages.batch import DONE_FILE, KEY_FILE


def is_url(out: str | Path) -> bool:
    return "://" in str(out)


class RemoteFolder:
    """``--out URL``: a local staging folder mirrored to the URL one finished concept at a time."""

    def __init__(self, url: str) -> None:
        try:
            import fsspec
        except ImportError:
            raise BabelgraphError(f"--out {url}: writing to a URL needs fsspec (pip install fsspec)") from None
        try:
            self.fs: Any
            self.fs, self.root = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as exc:  # e.g. s3:// without s3fs installed
            raise BabelgraphError(f"--out {url}: {exc}") from None
        self.url = url.rstrip("/")
        self.local = Path(tempfile.mkdtemp(prefix="babelgraph-remote-"))

    def _remote(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def pull_if_done(self, name: str, key: str) -> bool:
        """Whether the remote concept ``name`` is complete with this key; if so, its files are fetched into the
        staging folder (the summary reads them)."""
        try:
            recorded = json.loads(self.fs.cat_file(self._remote(name, KEY_FILE))).get("key")
        except (OSError, ValueError, AttributeError):
            return False
        if recorded != key or not self.fs.exists(self._remote(name, DONE_FILE)):
            return False
        target = self.local / name
        target.mkdir(parents=True, exist_ok=True)
        for path in self.fs.find(self._remote(name)):
            self.fs.get_file(path, str(target / Path(path).name))
        return True

    def push(self, name: str) -> str:
        """Upload a finished concept folder, ``job.json`` last; returns its URL."""
        folder = self.local / name
        files = sorted(p for p in folder.iterdir() if p.is_file())
        for path in [p for p in files if p.name != KEY_FILE] + [p for p in files if p.name == KEY_FILE]:
            self.fs.put_file(str(path), self._remote(name, path.name))
        return f"{self.url}/{name}"

    def push_files(self, paths: Iterable[Path]) -> list[str]:
        urls = []
        for path in paths:
            self.fs.put_file(str(path), self._remote(path.name))
            urls.append(f"{self.url}/{path.name}")
        return urls

    def close(self) -> None:
        shutil.rmtree(self.local, ignore_errors=True)
