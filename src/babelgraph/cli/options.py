"""Options and argument types every subcommand shares, in one place."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from babelgraph.files import slug as graph_stem  # noqa: F401 - the CLI's name for it

DEFAULT_OUT = "babelgraph-out"


def probability(text: str) -> float:
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie in (0, 1], got {text}")
    return value


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


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
        "--threads", type=positive, default=None, help="torch CPU threads (1 is fastest on a busy shared CPU)"
    )


def add_pruning_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--node-threshold", type=probability, default=0.8, help="share of node influence kept")
    parser.add_argument("--edge-threshold", type=probability, default=0.98, help="share of edge influence kept")
    parser.add_argument("--max-feature-nodes", type=positive, default=None, help="explore at most N features")


def add_out_argument(parser: argparse.ArgumentParser, default: str | None = DEFAULT_OUT, what: str = "output") -> None:
    shown = default if default is not None else "the input's folder"
    parser.add_argument("--out", default=default, help=f"{what} folder (default: {shown})")


def load_model_from(args: argparse.Namespace) -> Any:
    """The replacement model the shared model arguments name."""
    import babelgraph as bg

    return bg.load_model(args.model, args.dictionaries, device=args.device, dtype=args.dtype)


def say_unless_quiet(args: argparse.Namespace) -> Callable[..., None]:
    return (lambda *a, **k: None) if getattr(args, "quiet", False) else print
