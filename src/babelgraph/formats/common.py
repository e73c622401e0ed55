"""What every export format shares: text and number cleaning, escaping, the layout, colours and labels.

Each library's pitfall is fixed here once, named in the helper's docstring: the XML writers choke on ``None``,
NaN, numpy scalars and control characters; user strings must stay inert inside HTML and embedded JSON.
"""

from __future__ import annotations

import html
import json
import math
import re
import zlib
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from babelgraph.errors import BabelgraphError
from babelgraph.graph import AttributionGraph, Node

if TYPE_CHECKING:
    from babelgraph.languages.tags import FeatureInfo

# Colours: the Okabe-Ito palette, told apart by readers with any of the three common colour-vision deficiencies
# (tests/test_export.py simulates them). One table shared by every format, so Gephi and the page agree.
KIND_COLOURS: dict[str, tuple[int, int, int]] = {
    "feature": (230, 159, 0),  # orange
    "error": (90, 90, 90),  # dark grey
    "embedding": (0, 158, 115),  # bluish green
    "logit": (136, 0, 136),  # purple
}
# comparison graphs (babelgraph.languages): feature nodes coloured by tag instead of kind. Tag names belong to
# babelgraph.languages.tags; a tag missing below takes the next spare colour. Okabe-Ito colours: told apart by
# colour-blind readers.
TAG_COLOURS: dict[str, tuple[int, int, int]] = {  # the 5 Okabe-Ito colours furthest apart under simulated CVD
    "shared-concept": (86, 180, 233),  # sky blue
    "specific-concept": (213, 94, 0),  # vermillion
    "shared-task": (120, 120, 120),  # grey: task and format features step back
    "specific-task": (240, 228, 66),  # yellow
    "unclear": (0, 0, 0),  # black
}
SPARE_TAG_COLOURS: tuple[tuple[int, int, int], ...] = ((0, 158, 115), (204, 121, 167), (0, 114, 178))
POSITIVE_RGB = (0, 114, 178)  # blue
NEGATIVE_RGB = (213, 94, 0)  # vermillion
CELL_WIDTH = 160.0  # layout units per token position that holds feature or error nodes (at least)
EMPTY_CELL_WIDTH = 70.0  # a position with only its embedding (long prompts stay readable)
NODE_SPACING = 100.0  # centre to centre within a cell's sub-row: room for a two-line feature label
SUBROW_SPACING = 60.0  # centre to centre between a cell's sub-rows: more than any node's diameter
MAX_NODE_RADIUS = 20.0  # the HTML page's and Gephi's largest node radius, in layout units
MAX_SUBROWS = 3  # a crowded cell wraps onto this many sub-rows before it widens
ROW_HEIGHT = 200.0  # layout units per layer
MAX_EXPORT_EDGES = 5_000_000  # above this every exporter refuses (prune first); see docs/benchmarks.md "Exports"

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


# C0 controls as their Unicode "control pictures" (U+2400-241F, U+2421), newline and tab as arrows: byte-fallback
# tokens stay visible and XML-legal. C1 controls have no pictures; clean_text drops them.
_VISIBLE = {c: 0x2400 + c for c in range(32)} | {ord("\n"): "⏎", ord("\t"): "→", 0x7F: 0x2421}


def visible_token(token: str, limit: int) -> str:
    """A token as labels show it: controls made visible, outer spaces stripped, cut to ``limit`` characters."""
    visible = clean_text(str(token).translate(_VISIBLE))
    text = visible.strip() or visible
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean_float(value: Any) -> float:
    """Plain ``float``; ``None``, NaN and infinities become 0.0 (XML readers and JSON reject them)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0


def _cell_shape(n: int) -> tuple[int, int]:
    """(columns, sub-rows) of a cell of ``n`` nodes: one row up to 4, then up to MAX_SUBROWS rows, then wider
    (a layer's row has room for the sub-rows; the page's width is what runs out first)."""
    if n <= 4:
        return max(n, 1), 1
    rows = min(MAX_SUBROWS, math.ceil(n / 4))
    return math.ceil(n / rows), rows


def layout(graph: AttributionGraph) -> list[tuple[float, float]]:
    """(x, row) per node. Rows: embeddings 0, layer ``l`` at ``l + 1``, logits on top (``n_layers + 1``).

    Each token position gets a column as wide as its most crowded (layer, position) cell needs, so no two nodes
    overlap (centres at least :data:`SUBROW_SPACING` apart, more than any node's diameter); a crowded cell wraps
    onto up to :data:`MAX_SUBROWS` sub-rows inside its layer's row. Positions that hold no feature or error
    node narrow to :data:`EMPTY_CELL_WIDTH`, so a long prompt stays readable. Within a cell the most
    influential node comes first.
    """
    cells: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, node in enumerate(graph.nodes):
        cells[(node.layer, node.position)].append(i)
    n_positions = max([len(graph.token_strings)] + [node.position + 1 for node in graph.nodes])
    widths = [EMPTY_CELL_WIDTH] * n_positions
    for (_, position), members in cells.items():
        if any(graph.nodes[i].kind in ("feature", "error") for i in members):
            columns, _ = _cell_shape(len(members))
            widths[position] = max(widths[position], CELL_WIDTH, (columns + 1) * NODE_SPACING)
    centres, left = [], 0.0
    for width in widths:
        centres.append(left + width / 2)
        left += width
    coords: list[tuple[float, float]] = [(0.0, 0.0)] * len(graph.nodes)
    for (layer, position), members in cells.items():
        members.sort(key=lambda i: (-abs(clean_float(graph.nodes[i].influence)), i))
        columns, rows = _cell_shape(len(members))
        for k, i in enumerate(members):
            row, column = divmod(k, columns)
            in_row = min(columns, len(members) - row * columns)
            dx = (column - (in_row - 1) / 2) * NODE_SPACING
            dy = (row - (rows - 1) / 2) * SUBROW_SPACING / ROW_HEIGHT
            coords[i] = (centres[position] + dx, float(layer + 1) + dy)
    return coords


def feature_label(node: Node) -> str:
    """A feature's short name: its automatic label (:func:`babelgraph.languages.labels.label_features`) when set,
    else ``L2 #123 "small"`` (layer, feature index and the prompt token it fires on)."""
    if node.label:
        return clean_text(node.label)
    return clean_text(f"L{node.layer} #{node.feature} {_quoted(node.token)}")


def _quoted(token: str, limit: int = 16) -> str:
    return f'"{visible_token(token, limit)}"'


def node_label(node: Node) -> str:
    """The label every format shows: a feature's :func:`feature_label`, ``error L2 @5``, the token, the logit."""
    if node.kind == "feature":
        return feature_label(node)
    if node.kind == "error":
        return f"error L{node.layer} @{node.position}"
    if node.kind == "embedding":
        return clean_text(node.token)
    return f"{clean_text(node.token)} ({clean_float(node.probability):.3f})"


def comparison_features(graph: AttributionGraph) -> dict[str, FeatureInfo] | None:
    """The typed record of every feature node of a comparison graph (``None`` for an ordinary graph): the one place
    exporters read a comparison's tags and evidence from (:class:`babelgraph.languages.tags.FeatureInfo`)."""
    if "comparison" not in graph.metadata:
        return None
    from babelgraph.languages.tags import FeatureInfo

    return {node_id: FeatureInfo.from_dict(data) for node_id, data in (graph.metadata.get("features") or {}).items()}


def comparison_tags(graph: AttributionGraph) -> list[tuple[str, str]] | None:
    """Per node ``(tag, comma-joined languages)`` of a comparison graph (``None`` for an ordinary graph): features
    carry their tag and its languages; per-language nodes get tag ``""`` and their language."""
    features = comparison_features(graph)
    if features is None:
        return None
    node_language = graph.metadata.get("node_language") or {}
    rows = []
    for node in graph.nodes:
        info = features.get(node.id)
        if info is not None:
            rows.append((info.tag.tag, ",".join(info.tag.languages)))
        else:
            rows.append(("", str(node_language.get(node.id, ""))))
    return rows


def comparison_rows(info: FeatureInfo | None, languages: str) -> list[tuple[str, str]]:
    """Readable (name, value) rows of one comparison node, for tooltips: the tag with its reason and margin, and
    per language where the feature fires, its control rate and whether it is in that graph; its monolinguality
    and top reference context."""
    if info is None:
        return [("language", languages)] if languages else []
    rows = [("tag", f"{info.tag.tag} ({', '.join(info.tag.languages) or '-'})"), ("why", info.tag.reason)]
    rows.append(("margin", f"{info.tag.margin:.2g}"))
    for lang, e in info.evidence.items():
        rate = info.tag.control_rates.get(lang)
        control = "no controls" if rate is None else f"controls {rate:.2f}"
        rows.append((f"{lang}", f"{info.where(lang)}; {control}{'; in graph' if e.in_graph else ''}"))
    mono = info.monolinguality
    if mono is not None:
        rows.append(
            ("monolinguality", f"{mono.score:.2f} {mono.top_language}" + ("" if mono.enough else " (little evidence)"))
        )
    for lang, contexts in (info.top_contexts or {}).items():  # the feature's top example, to check a tag by eye
        if contexts:
            rows.append((f"top context {lang}", f"[{contexts[0].get('token', '')}] {contexts[0].get('text', '')}"))
    return rows


def tag_colour(tag: str) -> tuple[int, int, int] | None:
    """The colour of a comparison tag (``None`` for no tag); a tag missing from TAG_COLOURS takes a spare colour
    chosen by a hash of its name (stable across runs and pages)."""
    if not tag:
        return None
    if tag in TAG_COLOURS:
        return TAG_COLOURS[tag]
    return SPARE_TAG_COLOURS[zlib.crc32(tag.encode("utf-8")) % len(SPARE_TAG_COLOURS)]


def node_colour(node: Node, tag: str = "") -> tuple[int, int, int]:
    colour = tag_colour(tag) if node.kind == "feature" else None
    return colour or KIND_COLOURS[node.kind]


def relative_sizes(graph: AttributionGraph, influences: list[float] | None = None) -> list[float]:
    """0..1 per node: sqrt of influence relative to the largest (logits: their probability)."""
    influences = influences if influences is not None else [clean_float(n.influence) for n in graph.nodes]
    top = max((abs(v) for v in influences), default=0.0) or 1.0
    return [
        math.sqrt(clean_float(n.probability)) if n.kind == "logit" else math.sqrt(abs(v) / top)
        for n, v in zip(graph.nodes, influences)
    ]


def check_size(graph: AttributionGraph, what: str, limit: int = MAX_EXPORT_EDGES) -> int:
    """The graph's edge count; a graph above ``limit`` edges is refused with one line of advice (never written
    half-way or allocated for): exports stream edges, but a file that large helps nobody."""
    import torch

    adjacency = graph.adjacency.detach()
    n_edges = sum(int(torch.count_nonzero(adjacency[i : i + 2048])) for i in range(0, adjacency.shape[0], 2048))
    if n_edges > limit:
        raise BabelgraphError(
            f"the graph has {n_edges:,} edges, more than the {limit:,} a {what} export takes: prune it first"
            " (babelgraph prune, or --node-threshold/--edge-threshold) or raise the bound in Python"
        )
    return n_edges


def edge_arrays(graph: AttributionGraph, chunk_rows: int = 2048) -> tuple[Any, Any, Any]:
    """(sources, targets, signed weights) of every nonzero, finite edge as numpy arrays (int32, int32, float64),
    ordered by target then source. Read in blocks of ``chunk_rows`` rows, so memory stays at the edges' size
    (never a float64 copy of the whole dense matrix)."""
    import numpy as np
    import torch

    adjacency = graph.adjacency.detach()
    sources, targets, weights = [], [], []
    for start in range(0, adjacency.shape[0], chunk_rows):
        block = adjacency[start : start + chunk_rows].to("cpu")
        t, s = torch.nonzero(block, as_tuple=True)
        w = block[t, s].to(torch.float64).numpy()
        ok = np.isfinite(w)
        sources.append(s.numpy()[ok].astype(np.int32))
        targets.append((t.numpy()[ok] + start).astype(np.int32))
        weights.append(w[ok])
    if not weights:
        return np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0)
    return np.concatenate(sources), np.concatenate(targets), np.concatenate(weights)


def signed_edges(graph: AttributionGraph) -> list[tuple[int, int, float]]:
    """(source, target, signed weight) of every nonzero, finite edge."""
    s, t, w = edge_arrays(graph)
    return list(zip(s.tolist(), t.tolist(), w.tolist()))


def node_influences(graph: AttributionGraph, edges: tuple[Any, Any, Any] | None = None) -> list[float]:
    """Each node's influence on the logits: ``Node.influence`` where pruning set it, else computed here from the
    edges exactly as pruning defines it (docs/method.md, "Pruning"), sparse, so an unpruned graph gets it too."""
    import numpy as np

    stored = [n.influence for n in graph.nodes]
    if all(v is not None for v, n in zip(stored, graph.nodes) if n.kind in ("feature", "error", "embedding")):
        return [clean_float(v) for v in stored]
    s, t, w = edges if edges is not None else edge_arrays(graph)
    n = len(graph.nodes)
    row_totals = np.bincount(t, weights=np.abs(w), minlength=n)
    normalized = np.abs(w) / np.where(row_totals[t] > 0, row_totals[t], 1.0)
    seed = np.array([clean_float(node.probability) if node.kind == "logit" else 0.0 for node in graph.nodes])
    total, current = np.zeros(n), seed
    for _ in range(n + 1):  # a DAG: the series ends after at most (longest path) terms
        current = np.bincount(s, weights=current[t] * normalized, minlength=n)
        if not current.any():
            break
        total += current
    return total.tolist()


def cumulative_influence(influences: list[float], total: float | None = None) -> list[float]:
    """circuit-tracer's cumulative influence share: nodes sorted by influence (largest first), each node's value
    is the share of ``total`` (default: the sum over these nodes) held by it and every node before it. So the
    most influential node has the smallest value, and keeping nodes with value <= 0.8 keeps the smallest set
    that holds 80% of the influence (circuit-tracer's ``prune_graph``; its viewer's pruning slider)."""
    values = [max(clean_float(v), 0.0) for v in influences]
    total = clean_float(total) or sum(values)
    if total <= 0:
        return [0.0] * len(values)
    order = sorted(range(len(values)), key=lambda i: (-values[i], i))
    out, running = [0.0] * len(values), 0.0
    for i in order:
        running += values[i]
        out[i] = min(running / total, 1.0)
    return out


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
