"""The package's demo loader (babelgraph.demo), pointed at a folder of demo-build artefacts."""

from __future__ import annotations

from pathlib import Path

from transformer_lens import HookedTransformer

from babelgraph.demo import demo_dictionary_dirs, load_demo_transformer


def load_transformer(folder: Path, device: str = "cpu") -> HookedTransformer:
    return load_demo_transformer(device=device, folder=Path(folder))


def dictionary_dirs(folder: Path, kind: str = "transcoders") -> list[Path]:
    return demo_dictionary_dirs(kind, folder=Path(folder))
