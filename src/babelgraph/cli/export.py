"""``babelgraph export``: a saved graph as HTML, GraphML, GEXF or Neuronpedia JSON."""

from __future__ import annotations

import argparse
from pathlib import Path

from babelgraph.cli.options import add_out_argument, check_outputs, positive


def add_parser(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser("export", help="export a saved graph as HTML, GraphML, GEXF or Neuronpedia JSON")
    export.add_argument("graph", help="a graph file written by `babelgraph build` (.safetensors)")
    export.add_argument(
        "--format",
        default="html,graphml,json",
        help="comma-separated html,graphml,gexf,json (default: html,graphml,json)",
    )
    add_out_argument(export, default=None)
    export.add_argument(
        "--max-nodes",
        type=positive,
        default=None,
        help="refuse graphs with more nodes (default 32768, or $BABELGRAPH_MAX_NODES): bounds the memory used",
    )


def run(args: argparse.Namespace) -> int:
    from babelgraph.files import output_group
    from babelgraph.formats import export, parse_formats
    from babelgraph.graph import AttributionGraph

    formats = parse_formats(args.format)
    source = Path(args.graph)
    out = Path(args.out) if args.out else source.parent
    stem = source.name.removesuffix(".safetensors")
    planned = [out / f"{stem}.{fmt}" for fmt in formats]
    args.out = str(out)
    check_outputs(args, planned)
    graph = AttributionGraph.load(source, max_nodes=args.max_nodes)
    with output_group():  # every format, or none
        paths = [export(graph, path, fmt) for path, fmt in zip(planned, formats)]
    for path in paths:
        print(path)
    return 0
