"""Exports of an attribution graph: one module per format, one :data:`WRITERS` table that the CLI and docs read.

A new format is one module with a ``write(graph, path) -> Path`` function and one entry here. Every file is
written through :func:`babelgraph.graph.atomic_path`, so a failed export leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from babelgraph.errors import BabelgraphError
from babelgraph.formats import gephi, html, neuronpedia
from babelgraph.formats.common import check_not_empty
from babelgraph.graph import AttributionGraph

Writer = Callable[[AttributionGraph, Path], Path]
WRITERS: dict[str, tuple[Writer, tuple[str, ...], str]] = {
    # format: (writer, file suffixes, what it is for)
    "html": (html.write_html, (".html", ".htm"), "offline interactive page (vis-network in line)"),
    "graphml": (gephi.write_graphml, (".graphml",), "GraphML for Gephi, yEd, networkx, igraph"),
    "gexf": (gephi.write_gexf, (".gexf",), "GEXF for Gephi, laid out and coloured"),
    "json": (neuronpedia.write, (".json",), "Neuronpedia / circuit-tracer graph JSON"),
}
FORMATS = tuple(WRITERS)
SUFFIXES = {suffix: fmt for fmt, (_, suffixes, _) in WRITERS.items() for suffix in suffixes}


def export(graph: AttributionGraph, path: str | Path, format: str | None = None) -> Path:
    """Write ``graph`` to ``path`` as ``format`` (default: inferred from the suffix); returns the path."""
    path = Path(path)
    fmt = (format or SUFFIXES.get(path.suffix.lower(), "")).lower()
    if fmt not in FORMATS:
        what = f"unknown export format {format!r}" if format else f"cannot infer an export format from {path.name!r}"
        raise BabelgraphError(f"{what}: choose one of {', '.join(FORMATS)} (or the matching file suffix)")
    if path.is_dir():
        raise BabelgraphError(f"{path} is a folder: give a file name such as {path / ('graph.' + fmt)}")
    check_not_empty(graph)
    return WRITERS[fmt][0](graph, path)


def parse_formats(text: str) -> list[str]:
    """``"html,graphml"`` -> ``["html", "graphml"]``; unknown names are a user error."""
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise BabelgraphError(f"unknown export format {','.join(bad) or text!r}: choose from {', '.join(FORMATS)}")
    return list(dict.fromkeys(formats))
