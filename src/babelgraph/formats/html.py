"""One self-contained interactive HTML page per graph, for tracing a circuit (vis-network in line, no network).

The page (``assets/graph.js`` and ``assets/graph.css``, inlined at write time) shows nodes by layer (rows, with
axis labels) and token position (columns; positions without features narrow), feature labels on the canvas, a
side panel with a clicked node's top inputs and outputs (click one to walk the circuit), the selected node's
upstream and downstream paths highlighted, and a pruning slider by cumulative influence as in circuit-tracer's
viewer (keep nodes whose cumulative influence share is at most the threshold; embeddings and logits always).
Big graphs draw the strongest :data:`EDGE_BUDGET` edges first, with a note and a button for more. The page fits
its graph to the frame on load, on resize and when it becomes visible (it is also embedded in the comparison
page with ``iframe srcdoc``). Every user string is HTML-escaped, or reaches the page as JSON that cannot close a
script element and is shown with ``textContent``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from babelgraph.files import atomic_path
from babelgraph.formats.common import (
    KIND_COLOURS,
    NEGATIVE_RGB,
    POSITIVE_RGB,
    ROW_HEIGHT,
    TAG_COLOURS,
    check_not_empty,
    check_size,
    clean_float,
    clean_text,
    comparison_features,
    comparison_rows,
    comparison_tags,
    cumulative_influence,
    edge_arrays,
    escape,
    hex_colour,
    layout,
    node_colour,
    node_influences,
    node_label,
    relative_sizes,
    script_safe_json,
    tag_colour,
)
from babelgraph.graph import AttributionGraph, Node

EDGE_BUDGET = 1500  # edges drawn at first (strongest first); the page offers more on demand
PANEL_SIZE = 12  # inputs and outputs listed in the side panel
MAX_HTML_EDGES = 2_000_000  # the page holds every edge in its data: above this, export GraphML instead
_VIS = "templates/lib/vis-9.1.2/"


def _tooltip(node: Node, extra: list[tuple[str, Any]] | None = None) -> str:
    """Tooltip markup; every value escaped. The page's script turns it into a DOM element (pyvis shows raw text)."""
    rows: list[tuple[str, Any]] = [
        ("kind", node.kind),
        ("layer", node.layer),
        ("position", node.position),
        ("token", repr(node.token)),
    ]
    if node.kind in ("feature", "error") and node.dictionary:
        rows.append(("dictionary", node.dictionary))
    if node.kind == "feature":
        rows.append(("feature", node.feature))
    rows.append(("activation", f"{clean_float(node.activation):.4g}"))
    rows.append(("influence", f"{clean_float(node.influence):.4g}"))
    if node.label:
        rows.append(("label", node.label))
    if node.kind == "logit":
        rows.append(("probability", f"{clean_float(node.probability):.4f}"))
    rows += extra or []
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f"<b>{escape(node_label(node))}</b><table>{body}</table>"


def _header(graph: AttributionGraph, tags: list[tuple[str, str]] | None, n_edges: int) -> str:
    tokens = " ".join(
        f'<span class="bg-token"><sub>{i}</sub>{escape(repr(t)[1:-1])}</span>'
        for i, t in enumerate(graph.token_strings)
    )
    logits = ", ".join(f"<b>{escape(repr(n.token))}</b> {clean_float(n.probability):.3f}" for n in graph.logit_nodes)
    scores = graph.metadata.get("scores") or {}
    score_rows = "".join(
        f"<tr><th>{escape(label)}</th><td>{clean_float(s.get('replacement')):.3f}</td>"
        f"<td>{clean_float(s.get('completeness')):.3f}</td></tr>"
        for label, s in scores.items()
        if isinstance(s, dict)
    )
    counts = graph.node_counts()
    model = (graph.metadata.get("model") or {}).get("model", "")
    colours: dict[str, tuple[int, int, int]] = dict(KIND_COLOURS)
    if tags is not None:
        present = [t for t in TAG_COLOURS if any(row[0] == t for row in tags)]
        present += sorted({row[0] for row in tags if row[0] and row[0] not in TAG_COLOURS})
        colours = {f"{tag} feature": tag_colour(tag) or KIND_COLOURS["feature"] for tag in present} | {
            k: v for k, v in KIND_COLOURS.items() if k != "feature"
        }
    legend = "".join(
        f'<span class="bg-key"><i style="background:{hex_colour(rgb)}"></i>{escape(kind)}</span>'
        for kind, rgb in colours.items()
    ) + "".join(
        f'<span class="bg-key"><i class="bg-line" style="background:{hex_colour(rgb)}"></i>{sign} edge</span>'
        for sign, rgb in (("positive", POSITIVE_RGB), ("negative", NEGATIVE_RGB))
    )
    return f"""
<div id="bg-header">
  <h2>babelgraph attribution graph <small>{escape(model)}</small></h2>
  <div><b>prompt</b> <code id="bg-prompt">{escape(graph.prompt)}</code></div>
  <details><summary>tokens, top logits, scores</summary>
  <div><b>tokens</b> {tokens}</div>
  <div><b>top logits</b> {logits}</div>
  <table class="bg-scores"><tr><th></th><th>replacement</th><th>completeness</th></tr>{score_rows}</table>
  </details>
  <div><b>nodes</b> {counts["feature"]} features, {counts["error"]} errors, {counts["embedding"]} embeddings,
    {counts["logit"]} logits; <b>edges</b> {n_edges}</div>
  <div id="bg-legend">{legend} &nbsp; x: token position, y: layer. Click a node to trace it.</div>
  <div id="bg-controls">
    <label><input type="checkbox" id="bg-hide-errors"> hide error nodes</label>
    <label title="keep the nodes whose cumulative influence share is at most this (as circuit-tracer's viewer)">
      pruning <input type="range" id="bg-prune" min="1" max="100" step="1" value="100"></label>
    <span id="bg-prune-value"></span>: <span id="bg-nodes-shown"></span> nodes,
    <span id="bg-edges-shown"></span> edges shown<span id="bg-edge-note"></span>
    <button id="bg-more-edges" type="button" hidden>draw more edges</button>
  </div>
</div>
"""


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>babelgraph: {title}</title>
<style>{vis_css}</style>
<style>{css}</style>
</head>
<body>{header}
<div id="bg-main"><div id="mynetwork"></div>
<aside id="bg-panel" hidden><button id="bg-panel-close" type="button" title="close">&times;</button>
<h3 id="bg-panel-title"></h3><div id="bg-panel-details"></div>
<h4>top inputs</h4><ul id="bg-inputs"></ul><h4>top outputs</h4><ul id="bg-outputs"></ul></aside></div>
<script>{vis_js}</script>
<script>var BG_DATA = {data};</script>
<script>{script}</script>
</body></html>
"""


def _asset(name: str) -> str:
    return resources.files("babelgraph.formats").joinpath("assets", name).read_text(encoding="utf-8")


def _vis(name: str) -> str:
    return resources.files("pyvis").joinpath(_VIS + name).read_text(encoding="utf-8")


def page_data(graph: AttributionGraph) -> dict[str, Any]:
    """What the page's script reads: nodes (position, colour, label, tooltip, cumulative influence) and every edge
    as three arrays sorted by |weight|, strongest first."""
    import numpy as np

    sources, targets, weights = edges = edge_arrays(graph)
    influences = node_influences(graph, edges)
    cumulative = cumulative_influence(influences)
    coords, sizes = layout(graph), relative_sizes(graph, influences)
    tags = comparison_tags(graph)
    features = comparison_features(graph) or {}
    nodes = []
    for i, (node, (x, row), size) in enumerate(zip(graph.nodes, coords, sizes)):
        tag = tags[i][0] if tags else ""
        extra: list[tuple[str, Any]] = list(comparison_rows(features.get(node.id), tags[i][1] if tags else ""))
        extra.append(("cumulative influence", f"{cumulative[i]:.3f}"))
        shown = node if node.influence is not None else _with_influence(node, influences[i])
        name = clean_text(node_label(node))
        nodes.append(
            {
                "id": i,
                "name": name,
                "label": _canvas_label(node, name),
                "x": round(float(x), 2),
                "y": round(-float(row) * ROW_HEIGHT, 2),
                "kind": node.kind,
                "size": round(7.0 + 13.0 * size, 2),
                "color": hex_colour(node_colour(node, tag)),
                "cum": round(cumulative[i], 6),
                "tip": _tooltip(shown, extra),
            }
        )
    order = np.argsort(-np.abs(weights), kind="stable")
    ys = sorted({n.layer for n in graph.nodes})
    rows = [
        {
            "label": "emb" if layer < 0 else ("logits" if layer >= _n_layers(graph) else f"L{layer}"),
            "y": -(layer + 1) * ROW_HEIGHT,
        }
        for layer in ys
    ]
    xs = [x for x, _ in coords] or [0.0]
    default = 1.0 if graph.metadata.get("pruned") or len(graph.nodes) <= 200 else 0.8
    return {
        "nodes": nodes,
        "edges": {
            "s": sources[order].tolist(),
            "t": targets[order].tolist(),
            "w": [float(f"{w:.5g}") for w in weights[order].tolist()],
        },
        "rows": rows,
        "rowHeight": ROW_HEIGHT,
        "axisX": min(xs) - 60.0,
        "maxX": max(xs),
        "edgeBudget": EDGE_BUDGET,
        "panelSize": PANEL_SIZE,
        "defaultThreshold": default,
        "positive": ",".join(map(str, POSITIVE_RGB)),
        "negative": ",".join(map(str, NEGATIVE_RGB)),
    }


def _canvas_label(node: Node, name: str) -> str:
    """The label drawn on the canvas: features on two lines (``L2 #123`` / evidence), errors none."""
    if node.kind == "error":
        return ""
    if node.kind == "feature":
        head, sep, rest = name.partition(" · ")
        if not sep:
            head, sep, rest = name.partition(" ")
            head2, sep2, rest2 = rest.partition(" ")
            head, rest = (f"{head} {head2}", rest2) if sep2 else (head, rest)
        return f"{head}\n{rest}" if rest else head
    return name


def _with_influence(node: Node, value: float) -> Node:
    from dataclasses import replace

    return replace(node, influence=value)


def _n_layers(graph: AttributionGraph) -> int:
    n_layers = (graph.metadata.get("model") or {}).get("n_layers")
    if n_layers is None:
        n_layers = max((n.layer for n in graph.nodes if n.kind == "logit"), default=0)
    return int(n_layers)


def html_page(graph: AttributionGraph) -> str:
    """The page as one string: vis-network, the page's CSS and script, and the graph's data, all in line."""
    n_edges = check_size(graph, "HTML", MAX_HTML_EDGES)
    data = page_data(graph)
    return _PAGE.format(
        title=escape(graph.prompt),
        vis_css=_vis("vis-network.css"),
        css=_asset("graph.css"),
        header=_header(graph, comparison_tags(graph), n_edges),
        vis_js=_vis("vis-network.min.js").replace("</script", "<\\/script"),
        data=script_safe_json(data),
        script=_asset("graph.js"),
    )


def write_html(graph: AttributionGraph, path: str | Path) -> Path:
    """One self-contained HTML page (vis-network in line, no network access), written as UTF-8."""
    check_not_empty(graph)
    page = html_page(graph)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path
