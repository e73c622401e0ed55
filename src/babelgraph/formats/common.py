"""What every export format shares: text and number cleaning, escaping, the layout, colours and labels.

Each library's pitfall is fixed here once, named in the helper's docstring: the XML writers choke on ``None``,
NaN, numpy scalars and control characters; user strings must stay inert inside HTML and embedded JSON.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections import defaultdict
from typing import Any

from babelgraph.errors import BabelgraphError
from babelgraph.graph import AttributionGraph, Node

# colours by node kind (RGB) and by edge sign; shared by every format so Gephi and the page agree
KIND_COLOURS: dict[str, tuple[int, int, int]] = {
    "feature": (242, 142, 43),
    "error": (150, 150, 150),
    "embedding": (89, 161, 79),
    "logit": (176, 122, 161),
}
# comparison graphs (babelgraph.compare): feature nodes coloured by tag instead of kind
TAG_COLOURS: dict[str, tuple[int, int, int]] = {  # Okabe-Ito: told apart by colour-blind readers
    "shared-concept": (0, 158, 115),
    "specific-concept": (213, 94, 0),
    "shared-task": (86, 180, 233),
    "specific-task": (230, 159, 0),
    "unclear": (204, 121, 167),
}
POSITIVE_RGB = (37, 99, 235)
NEGATIVE_RGB = (220, 38, 38)
CELL_WIDTH = 160.0  # layout units per token position
ROW_HEIGHT = 140.0  # layout units per layer

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")


def check_not_empty(graph: AttributionGraph) -> None:
    if not graph.indices("feature") and graph.n_edges == 0:
        raise BabelgraphError(
            "nothing to export: the graph has no feature nodes and no edges; lower the thresholds"
            " (--node-threshold / --edge-threshold) or check the prompt"
        )


# ---- shared helpers -------------------------------------------------------------------------------------------
def clean_text(value: Any) -> str:
    """Plain ``str`` with XML-illegal characters (C0/C1 controls, lone surrogates) removed; emoji and quotes kept.

    The one place that keeps GraphML/GEXF parseable: the XML writers escape ``<&"`` but happily emit ``\\x01``.
    """
    return _XML_ILLEGAL.sub("", "" if value is None else str(value))


def clean_float(value: Any) -> float:
    """Plain ``float``; ``None``, NaN and infinities become 0.0 (XML readers and JSON reject them)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0


def layout(graph: AttributionGraph) -> list[tuple[float, float]]:
    """(x, row) per node: x from the token position (nodes sharing a cell spread sideways), row from the layer.

    Rows: embeddings 0, layer ``l`` at ``l + 1``, logits on top (``n_layers + 1``).
    """
    cells: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, node in enumerate(graph.nodes):
        cells[(node.layer, node.position)].append(i)
    coords: list[tuple[float, float]] = [(0.0, 0.0)] * len(graph.nodes)
    for (layer, position), members in cells.items():
        spacing = min(28.0, 0.9 * CELL_WIDTH / max(len(members), 1))
        for k, i in enumerate(members):
            offset = (k - (len(members) - 1) / 2) * spacing
            coords[i] = (position * CELL_WIDTH + offset, float(layer + 1))
    return coords


def node_label(node: Node) -> str:
    if node.kind == "feature":
        return f"L{node.layer} #{node.feature} @{node.position}"
    if node.kind == "error":
        return f"error L{node.layer} @{node.position}"
    if node.kind == "embedding":
        return node.token
    return f"{node.token} ({clean_float(node.probability):.3f})"


def comparison_tags(graph: AttributionGraph) -> list[tuple[str, str]] | None:
    """Per node ``(tag, comma-joined languages)`` of a comparison graph (``None`` for an ordinary graph).

    Features carry their tag from ``metadata["features"]``; per-language nodes get tag ``""`` and their language.
    """
    if "comparison" not in graph.metadata:
        return None
    features = graph.metadata.get("features") or {}
    node_language = graph.metadata.get("node_language") or {}
    rows = []
    for node in graph.nodes:
        info = features.get(node.id)
        if info is not None:
            rows.append((str(info.get("tag", "")), ",".join(info.get("languages", []))))
        else:
            rows.append(("", str(node_language.get(node.id, ""))))
    return rows


def node_colour(node: Node, tag: str = "") -> tuple[int, int, int]:
    return TAG_COLOURS.get(tag, KIND_COLOURS[node.kind]) if node.kind == "feature" else KIND_COLOURS[node.kind]


def relative_sizes(graph: AttributionGraph) -> list[float]:
    """0..1 per node: sqrt of influence relative to the largest (logits: their probability)."""
    influences = [clean_float(n.influence) for n in graph.nodes]
    top = max((abs(v) for v in influences), default=0.0) or 1.0
    return [
        math.sqrt(clean_float(n.probability)) if n.kind == "logit" else math.sqrt(abs(v) / top)
        for n, v in zip(graph.nodes, influences)
    ]


def signed_edges(graph: AttributionGraph) -> list[tuple[int, int, float]]:
    """(source, target, signed weight) of every nonzero, finite edge."""
    import torch

    adjacency = graph.adjacency.detach().to("cpu", torch.float64)
    targets, sources = torch.nonzero(adjacency, as_tuple=True)
    weights = adjacency[targets, sources].tolist()
    return [(s, t, w) for s, t, w in zip(sources.tolist(), targets.tolist(), weights) if w != 0 and math.isfinite(w)]


def script_safe_json(value: Any) -> str:
    """JSON that cannot end a ``<script>`` element or open a comment: ``<``, ``>``, ``&`` and U+2028/9 escaped.

    The one place that keeps user strings inside embedded JSON inert (also installed as Jinja's ``tojson`` dump
    function for pyvis' node and edge data).
    """
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text


def escape(value: Any) -> str:
    """HTML-escaped text (quotes included): every user string goes through here before it touches markup."""
    return html.escape(clean_text(value), quote=True)


def hex_colour(rgb: tuple[int, int, int], alpha: float | None = None) -> str:
    if alpha is None:
        return "#{:02x}{:02x}{:02x}".format(*rgb)
    return f"rgba({rgb[0]},{rgb[1]},{rgb[2]},{alpha:.2f})"
