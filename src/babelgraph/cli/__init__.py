"""The ``babelgraph`` command: a thin layer over the Python API.

One module per subcommand, each with ``add_parser(commands)`` and ``run(args) -> exit status``, registered in
:data:`COMMANDS`. Parsers import nothing heavy, so ``--help`` answers at once. Every user mistake surfaces as one
line on stderr (``babelgraph: error: ...``) and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from babelgraph.errors import BabelgraphError

COMMANDS = ("build", "export", "compare", "lens", "intervene", "overlap", "fetch")


def build_parser() -> argparse.ArgumentParser:
    from babelgraph import __version__

    parser = argparse.ArgumentParser(
        prog="babelgraph", description="Attribution graphs over sparse-dictionary features, across languages."
    )
    parser.add_argument("--version", action="version", version=f"babelgraph {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        _module(name).add_parser(commands)
    return parser


def _module(name: str):  # noqa: ANN202 - a babelgraph.cli.<name> module
    return importlib.import_module(f"babelgraph.cli.{name}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    try:
        return _module(args.command).run(args)
    except BabelgraphError as exc:
        print(f"babelgraph: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("babelgraph: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
