"""``babelgraph export``: a saved graph as HTML, GraphML, GEXF or Neuronpedia JSON."""

from __future__ import annotations

import argparse
from pathlib import Path

from babelgraph.cli.options import add_out_argument


def add_parser(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser("export", help="export a saved graph as HTML, GraphML, GEXF or Neuronpedia JSON")
    export.add_argument("graph", help="a graph file written by `babelgraph build` (.safetensors)")
    export.add_argument(
        "--format",
        default="html,graphml,json",
        help="comma-separated html,graphml,gexf,json (default: html,graphml,json)",
    )
    add_out_argument(export, default=None)


def run(args: argparse.Namespace) -> int:
    from babelgraph.formats import export, parse_formats
    from babelgraph.graph import AttributionGraph

    formats = parse_formats(args.format)
    source = Path(args.graph)
    graph = AttributionGraph.load(source)
    out = Path(args.out) if args.out else source.parent
    stem = source.name.removesuffix(".safetensors")
    for fmt in formats:
        print(export(graph, out / f"{stem}.{fmt}", fmt))
    return 0
