"""Options and argument types every subcommand shares, in one place."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from babelgraph.errors import BabelgraphError
from babelgraph.files import check_output_folder, check_output_paths
from babelgraph.files import slug as graph_stem  # noqa: F401 - the CLI's name for it

DEFAULT_OUT = "babelgraph-out"


MAX_THREADS = max(256, os.cpu_count() or 1)  # torch aborts the process (SIGABRT) on absurd thread counts


def probability(text: str) -> float:
    value = finite(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie in (0, 1], got {text}")
    return value


def finite(text: str) -> float:
    """A float that is not NaN or infinite (``1e999`` reads as infinity)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {text}")
    return value


def threads(text: str) -> int:
    value = positive(text)
    if value > MAX_THREADS:
        raise argparse.ArgumentTypeError(f"must lie between 1 and {MAX_THREADS}, got {text}")
    return value


def check_device(device: str | None) -> None:
    """Refuse, before loading anything, a ``--device`` this torch cannot use (e.g. cuda on a CPU-only build)."""
    if device is None:
        return
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise BabelgraphError(f"unknown --device {device!r}: use cpu, cuda, cuda:N or mps") from None
    if parsed.type == "cpu":
        return
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            build = "this torch is a CPU-only build" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise BabelgraphError(
                f"--device {device}: {build}; install torch's CUDA build for your driver, or use --device cpu"
            )
        count = torch.cuda.device_count()
        if parsed.index is not None and parsed.index >= count:
            raise BabelgraphError(f"--device {device}: there are {count} CUDA device(s), numbered 0..{count - 1}")
        return
    if parsed.type == "mps":
        if not torch.backends.mps.is_available():
            raise BabelgraphError(f"--device {device}: MPS is not available here; use --device cpu")
        return
    raise BabelgraphError(f"--device {device}: babelgraph runs on cpu, cuda or mps")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--model, --dictionaries, --device, --dtype, --threads and --quiet: every command that loads a model."""
    parser.add_argument(
        "--model", default="demo", help="'demo' (bundled, default), 'demo-residual', or a transformer_lens model name"
    )
    parser.add_argument(
        "--dictionaries",
        nargs="+",
        default=None,
        help="sae_lens release id ('release' or 'release:id1,id2') or local sae_lens folders (default: the demo's)",
    )
    parser.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (default: the model's)")
    parser.add_argument("--dtype", default=None, help="float32 (default), float64, bfloat16 or float16")
    parser.add_argument("--quiet", action="store_true", help="no progress bars and no summary; print output paths")
    parser.add_argument(
        "--threads", type=threads, default=None, help="torch CPU threads (1 is fastest on a busy shared CPU)"
    )


def add_pruning_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--node-threshold", type=probability, default=0.8, help="share of node influence kept")
    parser.add_argument("--edge-threshold", type=probability, default=0.98, help="share of edge influence kept")
    parser.add_argument("--max-feature-nodes", type=positive, default=None, help="explore at most N features")
    parser.add_argument(
        "--prune-rule",
        choices=["babelgraph", "circuit-tracer"],
        default="babelgraph",
        help="babelgraph's (default) or circuit-tracer's node rule (token nodes counted); docs/benchmarks.md",
    )


def add_out_argument(parser: argparse.ArgumentParser, default: str | None = DEFAULT_OUT, what: str = "output") -> None:
    shown = default if default is not None else "the input's folder"
    parser.add_argument("--out", default=default, help=f"{what} folder (default: {shown})")


def load_model_from(args: argparse.Namespace) -> Any:
    """The replacement model the shared model arguments name."""
    import babelgraph as bg

    return bg.load_model(args.model, args.dictionaries, device=args.device, dtype=args.dtype)


def say_unless_quiet(args: argparse.Namespace) -> Callable[..., None]:
    return (lambda *a, **k: None) if getattr(args, "quiet", False) else print


def check_outputs(args: argparse.Namespace, paths: Iterable[str | Path] = ()) -> Path:
    """Before the slow work: ``--out`` is a folder that can be written, and no final output path is a folder.
    Returns ``--out`` as a path."""
    out = Path(args.out)
    check_output_folder(out)
    check_output_paths(paths)
    return out


def file_stem(name: str, option: str = "--name") -> str:
    """A user-given file stem: not empty, no folder separators, not a hidden or relative name."""
    if not name.strip() or "/" in name or "\\" in name or name.startswith(".") or "\x00" in name:
        raise BabelgraphError(f"{option} {name!r} is not a file name: use letters, digits, '-' or '_', e.g. small-en")
    if len(name.encode("utf-8")) > 200:
        raise BabelgraphError(f"{option} is {len(name.encode('utf-8'))} bytes long: keep file names under 200")
    return name
