"""GraphML and GEXF for Gephi (and yEd, networkx, igraph): typed node attributes, layout and colours."""

from __future__ import annotations

from pathlib import Path

import networkx as nx

from babelgraph.files import atomic_path
from babelgraph.formats.common import (
    ROW_HEIGHT,
    check_not_empty,
    clean_float,
    clean_text,
    comparison_tags,
    layout,
    node_colour,
    node_label,
    relative_sizes,
    signed_edges,
)
from babelgraph.graph import AttributionGraph


def node_attributes(graph: AttributionGraph) -> list[dict[str, str | int | float]]:
    """Typed attributes for XML writers: only str/int/float, never None/NaN/numpy (one place for Gephi formats)."""
    coords, sizes = layout(graph), relative_sizes(graph)
    tags = comparison_tags(graph)
    rows = []
    for i, (node, (x, row), size) in enumerate(zip(graph.nodes, coords, sizes)):
        r, g, b = node_colour(node, tags[i][0] if tags else "")
        rows.append(
            {
                "label": clean_text(node_label(node)),
                "x": float(x),
                "y": float(row * ROW_HEIGHT),
                "size": float(5.0 + 25.0 * size),
                "r": int(r),
                "g": int(g),
                "b": int(b),
                "kind": clean_text(node.kind),
                "layer": int(node.layer),
                "position": int(node.position),
                "feature": int(node.feature) if node.feature is not None else -1,
                "activation": clean_float(node.activation),
                "influence": clean_float(node.influence),
                "token": clean_text(node.token),
            }
        )
        if tags:
            rows[-1]["tag"] = clean_text(tags[i][0])
            rows[-1]["languages"] = clean_text(tags[i][1])
    return rows


def _networkx(graph: AttributionGraph) -> tuple[nx.DiGraph, list[dict[str, str | int | float]]]:
    attributes = node_attributes(graph)
    out = nx.DiGraph()
    out.graph["prompt"] = clean_text(graph.prompt)
    out.graph["model"] = clean_text((graph.metadata.get("model") or {}).get("model", ""))
    ids = [clean_text(node.id) for node in graph.nodes]
    for node_id, attrs in zip(ids, attributes):
        out.add_node(node_id, **attrs)
    for s, t, w in signed_edges(graph):
        out.add_edge(ids[s], ids[t], weight=abs(w), signed_weight=w, sign=1 if w > 0 else -1)
    per_language = graph.metadata.get("edge_weights") or {}
    if per_language:  # comparison graph: every edge gets weight_<lang> for each language (0 where absent)
        for lang in per_language:
            for s, t in out.edges:
                out.edges[s, t][f"weight_{clean_text(lang)}"] = 0.0
        for lang, entries in per_language.items():
            for t, s, w in entries:
                if out.has_edge(ids[int(s)], ids[int(t)]):
                    out.edges[ids[int(s)], ids[int(t)]][f"weight_{clean_text(lang)}"] = clean_float(w)
    return out, attributes


def write_graphml(graph: AttributionGraph, path: str | Path) -> Path:
    """GraphML for Gephi, yEd, networkx and igraph: weight = |w|, signed_weight and sign kept beside it."""
    check_not_empty(graph)
    out, _ = _networkx(graph)
    path = Path(path)
    with atomic_path(path) as tmp:
        nx.write_graphml(out, str(tmp), encoding="utf-8", named_key_ids=False)
    return path


def write_gexf(graph: AttributionGraph, path: str | Path) -> Path:
    """GEXF with ``viz`` position, colour and size, so Gephi opens it already laid out."""
    check_not_empty(graph)
    out, attributes = _networkx(graph)
    for node_id, attrs in zip(list(out.nodes), attributes):
        out.nodes[node_id]["viz"] = {
            "position": {"x": attrs["x"], "y": attrs["y"], "z": 0.0},
            "color": {"r": attrs["r"], "g": attrs["g"], "b": attrs["b"], "a": 1.0},
            "size": attrs["size"],
        }
    path = Path(path)
    with atomic_path(path) as tmp:
        nx.write_gexf(out, str(tmp), encoding="utf-8")
    return path
