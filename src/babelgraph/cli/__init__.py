"""The ``babelgraph`` command: a thin layer over the Python API.

One module per subcommand, each with ``add_parser(commands)`` and ``run(args) -> exit status``, registered in
:data:`COMMANDS`. Parsers import nothing heavy, so ``--help`` answers at once. Every user mistake surfaces as one
line on stderr (``babelgraph: error: ...``) and exit status 2: argparse's own errors (:class:`Parser`), text that
is not UTF-8, out-of-range ``--threads`` and an unavailable ``--device`` are checked here, before any command
runs; each command checks its own options and its ``--out`` before the slow work.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from babelgraph.errors import BabelgraphError, check_text, one_line

COMMANDS = ("build", "export", "compare", "lens", "intervene", "overlap", "fetch")


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one ``babelgraph: error:`` line (no usage block), exit status 2.

    Subparsers inherit the class (``add_subparsers`` uses the parent's type), so this is the one place."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("babelgraph").strip()
        where = f"{command}: " if command else ""
        hint = f" (see `{self.prog} --help`)"
        self.exit(2, f"babelgraph: error: {where}{one_line(message)}{hint}\n")


def build_parser() -> argparse.ArgumentParser:
    from babelgraph import __version__

    parser = Parser(
        prog="babelgraph", description="Attribution graphs over sparse-dictionary features, across languages."
    )
    parser.add_argument("--version", action="version", version=f"babelgraph {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        _module(name).add_parser(commands)
    return parser


def _module(name: str):  # noqa: ANN202 - a babelgraph.cli.<name> module
    return importlib.import_module(f"babelgraph.cli.{name}")


def check_arguments(args: argparse.Namespace) -> None:
    """Checks every command shares, before it runs: text is UTF-8, ``--threads`` and ``--device`` usable."""
    for name, value in vars(args).items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, str):
                check_text(item, f"--{name.replace('_', '-')}" if name not in ("prompt", "graph") else f"the {name}")
    from babelgraph.cli.options import check_device

    check_device(getattr(args, "device", None))


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and argument errors (2), already printed
        return exc.code if isinstance(exc.code, int) else 2
    try:
        check_arguments(args)
        if getattr(args, "threads", None):
            import torch

            torch.set_num_threads(args.threads)
        return _module(args.command).run(args)
    except BabelgraphError as exc:
        print(f"babelgraph: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except MemoryError:
        print(
            "babelgraph: error: out of memory: use a shorter prompt, fewer features (--max-feature-nodes) or a"
            " pruned graph",
            file=sys.stderr,
        )
        return 2
    except RuntimeError as exc:
        if not _out_of_memory(exc):
            raise
        print(
            f"babelgraph: error: out of memory ({one_line(exc)[:120]}): use a shorter prompt, fewer features"
            " (--max-feature-nodes), --batch-size 16, or a pruned graph",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("babelgraph: interrupted", file=sys.stderr)
        return 130


def _out_of_memory(exc: RuntimeError) -> bool:
    """torch's CPU allocator failure and CUDA out-of-memory (``torch.OutOfMemoryError``) are RuntimeErrors."""
    text = str(exc)
    return type(exc).__name__ == "OutOfMemoryError" or "can't allocate memory" in text or "out of memory" in text


if __name__ == "__main__":
    sys.exit(main())
