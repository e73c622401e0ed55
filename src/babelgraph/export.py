"""Exports of an attribution graph: a self-contained HTML page, GraphML and GEXF for Gephi, Neuronpedia graph JSON.

Each library has pitfalls (pyvis pulls Bootstrap from a CDN and shows tooltips as raw text; the XML writers choke on
``None``, NaN, numpy scalars and control characters; Neuronpedia ids can collide); each is fixed in exactly one
place here, named in the helper's docstring. Every file is written through :func:`atomic_path`, so a failed export
leaves nothing behind.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import networkx as nx

from babelgraph.errors import BabelgraphError
from babelgraph.graph import AttributionGraph, Node, atomic_path

FORMATS = ("html", "graphml", "gexf", "json")
SUFFIXES = {".html": "html", ".htm": "html", ".graphml": "graphml", ".gexf": "gexf", ".json": "json"}

# colours by node kind (RGB) and by edge sign; shared by every format so Gephi and the page agree
KIND_COLOURS: dict[str, tuple[int, int, int]] = {
    "feature": (242, 142, 43),
    "error": (150, 150, 150),
    "embedding": (89, 161, 79),
    "logit": (176, 122, 161),
}
# comparison graphs (babelgraph.compare): feature nodes coloured by tag instead of kind
TAG_COLOURS: dict[str, tuple[int, int, int]] = {
    "multilingual": (0, 150, 136),
    "language-specific": (214, 39, 40),
    "mixed": (140, 86, 75),
}
POSITIVE_RGB = (37, 99, 235)
NEGATIVE_RGB = (220, 38, 38)
CELL_WIDTH = 160.0  # layout units per token position
ROW_HEIGHT = 140.0  # layout units per layer

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")


# ---- the entry point ------------------------------------------------------------------------------------------
def export(graph: AttributionGraph, path: str | Path, format: str | None = None) -> Path:
    """Write ``graph`` to ``path`` as ``format`` (default: inferred from the suffix); returns the path."""
    path = Path(path)
    fmt = (format or SUFFIXES.get(path.suffix.lower(), "")).lower()
    if fmt not in FORMATS:
        what = f"unknown export format {format!r}" if format else f"cannot infer an export format from {path.name!r}"
        raise BabelgraphError(f"{what}: choose one of {', '.join(FORMATS)} (or the matching file suffix)")
    if path.is_dir():
        raise BabelgraphError(f"{path} is a folder: give a file name such as {path / ('graph.' + fmt)}")
    _check_not_empty(graph)
    writer = {"html": write_html, "graphml": write_graphml, "gexf": write_gexf, "json": write_json}[fmt]
    return writer(graph, path)


def parse_formats(text: str) -> list[str]:
    """``"html,graphml"`` -> ``["html", "graphml"]``; unknown names are a user error."""
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise BabelgraphError(f"unknown export format {','.join(bad) or text!r}: choose from {', '.join(FORMATS)}")
    return list(dict.fromkeys(formats))


def _check_not_empty(graph: AttributionGraph) -> None:
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


def _relative_sizes(graph: AttributionGraph) -> list[float]:
    """0..1 per node: sqrt of influence relative to the largest (logits: their probability)."""
    influences = [clean_float(n.influence) for n in graph.nodes]
    top = max((abs(v) for v in influences), default=0.0) or 1.0
    return [
        math.sqrt(clean_float(n.probability)) if n.kind == "logit" else math.sqrt(abs(v) / top)
        for n, v in zip(graph.nodes, influences)
    ]


def _edges(graph: AttributionGraph) -> list[tuple[int, int, float]]:
    """(source, target, signed weight) of every nonzero, finite edge."""
    import torch

    adjacency = graph.adjacency.detach().to("cpu", torch.float64)
    targets, sources = torch.nonzero(adjacency, as_tuple=True)
    weights = adjacency[targets, sources].tolist()
    return [(s, t, w) for s, t, w in zip(sources.tolist(), targets.tolist(), weights) if w != 0 and math.isfinite(w)]


def _node_attributes(graph: AttributionGraph) -> list[dict[str, str | int | float]]:
    """Typed attributes for XML writers: only str/int/float, never None/NaN/numpy (one place for Gephi formats)."""
    coords, sizes = layout(graph), _relative_sizes(graph)
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
    attributes = _node_attributes(graph)
    out = nx.DiGraph()
    out.graph["prompt"] = clean_text(graph.prompt)
    out.graph["model"] = clean_text((graph.metadata.get("model") or {}).get("model", ""))
    ids = [clean_text(node.id) for node in graph.nodes]
    for node_id, attrs in zip(ids, attributes):
        out.add_node(node_id, **attrs)
    for s, t, w in _edges(graph):
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


# ---- GraphML / GEXF -------------------------------------------------------------------------------------------
def write_graphml(graph: AttributionGraph, path: str | Path) -> Path:
    """GraphML for Gephi, yEd, networkx and igraph: weight = |w|, signed_weight and sign kept beside it."""
    _check_not_empty(graph)
    out, _ = _networkx(graph)
    path = Path(path)
    with atomic_path(path) as tmp:
        nx.write_graphml(out, str(tmp), encoding="utf-8", named_key_ids=False)
    return path


def write_gexf(graph: AttributionGraph, path: str | Path) -> Path:
    """GEXF with ``viz`` position, colour and size, so Gephi opens it already laid out."""
    _check_not_empty(graph)
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


# ---- Neuronpedia JSON -----------------------------------------------------------------------------------------
def _cantor(x: int, y: int) -> int:
    return (x + y) * (x + y + 1) // 2 + y


def neuronpedia_ids(graph: AttributionGraph) -> list[str]:
    """Neuronpedia node ids: features ``{layer}_{feature}_{pos}``, errors ``{layer}_-1_{pos}``, embeddings
    ``E_{token_id}_{pos}``, logits ``{n_layers+1}_{token_id}_{pos}``.

    The ids carry the layer, not the dictionary, so two dictionaries at one layer (e.g. an attention SAE and a
    transcoder) could give two nodes one id; that is refused here with a clear error rather than written.
    """
    logit_layer = _n_layers(graph) + 1
    ids = []
    for node in graph.nodes:
        if node.kind == "feature":
            ids.append(f"{node.layer}_{node.feature}_{node.position}")
        elif node.kind == "error":
            ids.append(f"{node.layer}_-1_{node.position}")
        elif node.kind == "embedding":
            ids.append(f"E_{_token_id(graph, node)}_{node.position}")
        else:
            ids.append(f"{logit_layer}_{_token_id(graph, node)}_{node.position}")
    seen: dict[str, int] = {}
    for i, node_id in enumerate(ids):
        if node_id in seen:
            a, b = graph.nodes[seen[node_id]], graph.nodes[i]
            raise BabelgraphError(
                f"cannot write Neuronpedia JSON: nodes {a.id!r} ({a.dictionary}) and {b.id!r} ({b.dictionary}) both"
                f" get id {node_id!r}, because Neuronpedia ids name a layer, not a dictionary; use one dictionary"
                " per layer, or export GraphML/HTML instead"
            )
        seen[node_id] = i
    return ids


def _n_layers(graph: AttributionGraph) -> int:
    n_layers = (graph.metadata.get("model") or {}).get("n_layers")
    if n_layers is None:
        n_layers = max((n.layer for n in graph.nodes if n.kind == "logit"), default=0)
    return int(n_layers)


def _token_id(graph: AttributionGraph, node: Node) -> int:
    if node.token_id is not None:
        return int(node.token_id)
    if node.kind == "embedding" and 0 <= node.position < len(graph.tokens):
        return int(graph.tokens[node.position])
    return -1


def neuronpedia_json(graph: AttributionGraph, slug: str | None = None) -> dict[str, Any]:
    """The graph in the schema circuit-tracer writes for Neuronpedia (metadata, qParams, nodes, links)."""
    ids = neuronpedia_ids(graph)
    model = graph.metadata.get("model") or {}
    logits = graph.logit_nodes
    target_prob = max((clean_float(n.probability) for n in logits), default=0.0)
    nodes = []
    target_done = False
    for node, node_id in zip(graph.nodes, ids):
        layer = node.layer
        entry: dict[str, Any] = {
            "node_id": node_id,
            "feature": 0,
            "layer": str(layer),
            "ctx_idx": int(node.position),
            "feature_type": "",
            "token_prob": 0.0,
            "is_target_logit": False,
            "run_idx": 0,
            "reverse_ctx_idx": 0,
            "jsNodeId": node_id,
            "clerp": "",
            "influence": clean_float(node.influence),
            "activation": clean_float(node.activation),
        }
        if node.kind == "feature":
            feature = int(node.feature or 0)
            entry.update(
                feature=_cantor(layer, feature),
                feature_type="cross layer transcoder",
                jsNodeId=f"{layer}_{feature}-0",
            )
        elif node.kind == "error":
            entry.update(feature=-1, feature_type="mlp reconstruction error", jsNodeId=f"{layer}_{node.position}-0")
        elif node.kind == "embedding":
            token_id = _token_id(graph, node)
            entry.update(
                feature=int(node.position),
                layer="E",
                feature_type="embedding",
                jsNodeId=f"E_{token_id}-{node.position}",
            )
        else:
            prob = clean_float(node.probability)
            is_target = not target_done and prob == target_prob
            target_done = target_done or is_target
            token_id = _token_id(graph, node)
            entry.update(
                feature=token_id,
                layer=str(_n_layers(graph) + 1),
                feature_type="logit",
                token_prob=prob,
                is_target_logit=is_target,
                jsNodeId=f"L_{token_id}-{node.position}",
                clerp=f'Output "{clean_text(node.token)}" (p={prob:.3f})',
            )
        nodes.append(entry)
    links = [{"source": ids[s], "target": ids[t], "weight": w} for s, t, w in _edges(graph)]
    dictionaries = [clean_text(d.get("name", "")) for d in model.get("dictionaries", [])]
    metadata = {
        "slug": clean_text(slug or "babelgraph"),
        "scan": clean_text(model.get("model", "unknown")),
        "transcoder_list": dictionaries,
        "prompt_tokens": [clean_text(t) for t in graph.token_strings],
        "prompt": clean_text(graph.prompt),
        "node_threshold": clean_float((graph.metadata.get("pruning") or {}).get("node_threshold", 0.8)),
        "schema_version": 1,
        "info": {"generator": {"name": "babelgraph"}},
    }
    q_params = {"pinnedIds": [], "supernodes": [], "linkType": "both", "clickedId": "", "sg_pos": ""}
    return {"metadata": metadata, "qParams": q_params, "nodes": nodes, "links": links}


def write_json(graph: AttributionGraph, path: str | Path) -> Path:
    """Neuronpedia graph JSON (UTF-8, no NaN: ``allow_nan=False`` makes a stray one a bug, not a bad file)."""
    _check_not_empty(graph)
    path = Path(path)
    data = neuronpedia_json(graph, slug=path.stem)
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, indent=1)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


# ---- HTML (pyvis) ---------------------------------------------------------------------------------------------
_CDN_TAG = re.compile(
    r"<link\b[^>]*\bhref\s*=\s*[\"']?https?://[^>]*>|<script\b[^>]*\bsrc\s*=\s*[\"']?https?://[^>]*>\s*</script>",
    re.IGNORECASE,
)
_REMOTE_ATTRIBUTE = re.compile(r"\b(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//", re.IGNORECASE)
_EMPTY_HEADING = re.compile(r"<center>\s*<h1>\s*</h1>\s*</center>|<!--\s*<link[^>]*node_modules.*?-->", re.DOTALL)


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


def _e(value: Any) -> str:
    """HTML-escaped text (quotes included): every user string goes through here before it touches markup."""
    return html.escape(clean_text(value), quote=True)


def _hex(rgb: tuple[int, int, int], alpha: float | None = None) -> str:
    if alpha is None:
        return "#{:02x}{:02x}{:02x}".format(*rgb)
    return f"rgba({rgb[0]},{rgb[1]},{rgb[2]},{alpha:.2f})"


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
    if node.kind == "logit":
        rows.append(("probability", f"{clean_float(node.probability):.4f}"))
    rows += extra or []
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<b>{_e(node_label(node))}</b><table>{body}</table>"


def _comparison_rows(info: dict[str, Any] | None, languages: str) -> list[tuple[str, Any]]:
    """Tooltip rows of a comparison graph's node: tag, languages, activation per language."""
    if info is None:
        return [("language", languages)] if languages else []
    rows: list[tuple[str, Any]] = [("tag", info.get("tag", "")), ("languages", languages)]
    rows += [(f"activation {lang}", f"{clean_float(v):.4g}") for lang, v in (info.get("activations") or {}).items()]
    rows += [
        (f"monolinguality {lang}", f"{clean_float(v):.3g}") for lang, v in (info.get("monolinguality") or {}).items()
    ]
    for lang, contexts in (info.get("top_contexts") or {}).items():  # the feature's top example, to check a tag by eye
        if contexts:
            best = contexts[0]
            rows.append((f"top context {lang}", f"[{best.get('token', '')}] {best.get('text', '')}"))
    return rows


def _header(graph: AttributionGraph) -> str:
    tokens = " ".join(
        f'<span class="bg-token"><sub>{i}</sub>{_e(repr(t)[1:-1])}</span>' for i, t in enumerate(graph.token_strings)
    )
    logits = ", ".join(f"<b>{_e(repr(n.token))}</b> {clean_float(n.probability):.3f}" for n in graph.logit_nodes)
    scores = graph.metadata.get("scores") or {}
    score_rows = "".join(
        f"<tr><th>{_e(label)}</th><td>{clean_float(s.get('replacement')):.3f}</td>"
        f"<td>{clean_float(s.get('completeness')):.3f}</td></tr>"
        for label, s in scores.items()
        if isinstance(s, dict)
    )
    counts = graph.node_counts()
    model = (graph.metadata.get("model") or {}).get("model", "")
    colours = dict(KIND_COLOURS)
    if "comparison" in graph.metadata:
        del colours["feature"]
        colours = {f"{tag} feature": rgb for tag, rgb in TAG_COLOURS.items()} | colours
    legend = "".join(
        f'<span class="bg-key"><i style="background:{_hex(rgb)}"></i>{_e(kind)}</span>' for kind, rgb in colours.items()
    ) + (
        f'<span class="bg-key"><i class="bg-line" style="background:{_hex(POSITIVE_RGB)}"></i>positive edge</span>'
        f'<span class="bg-key"><i class="bg-line" style="background:{_hex(NEGATIVE_RGB)}"></i>negative edge</span>'
    )
    return f"""
<div id="bg-header">
  <h2>babelgraph attribution graph <small>{_e(model)}</small></h2>
  <div><b>prompt</b> <code id="bg-prompt">{_e(graph.prompt)}</code></div>
  <div><b>tokens</b> {tokens}</div>
  <div><b>top logits</b> {logits}</div>
  <div><b>nodes</b> {counts["feature"]} features, {counts["error"]} errors, {counts["embedding"]} embeddings,
    {counts["logit"]} logits; <b>edges</b> {graph.n_edges}</div>
  <table class="bg-scores"><tr><th></th><th>replacement</th><th>completeness</th></tr>{score_rows}</table>
  <div id="bg-legend">{legend} &nbsp; x: token position, y: layer (embeddings bottom, logits top)</div>
  <div id="bg-controls">
    <label><input type="checkbox" id="bg-hide-errors"> hide error nodes</label>
    <label>min |weight| <input type="range" id="bg-min-weight" min="0" max="1000" value="0"></label>
    <span id="bg-weight-value">0</span> (<span id="bg-edges-shown"></span> edges shown)
  </div>
</div>
"""


_STYLE = """
<style>
  body { font-family: "Noto Sans", "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif; margin: 8px; }
  #bg-header { font-size: 14px; line-height: 1.6; }
  #bg-header h2 { margin: 4px 0; font-size: 18px; }
  #bg-header code { background: #f3f3f3; padding: 1px 4px; white-space: pre-wrap; }
  .bg-token { border: 1px solid #ddd; border-radius: 3px; padding: 0 3px; margin-right: 2px; white-space: pre; }
  .bg-token sub { color: #888; margin-right: 2px; }
  .bg-scores td, .bg-scores th { padding: 0 8px; text-align: right; font-size: 13px; }
  .bg-key { margin-right: 12px; } .bg-key i { display: inline-block; width: 12px; height: 12px;
    border-radius: 6px; margin-right: 4px; vertical-align: middle; }
  .bg-key i.bg-line { height: 3px; width: 18px; border-radius: 0; }
  #bg-controls label { margin-right: 16px; }
  #mynetwork div.vis-tooltip { font-family: inherit; }
  .bg-tip table { border-collapse: collapse; font-size: 12px; } .bg-tip th { text-align: left; padding-right: 8px; }
  #mynetwork { border: 1px solid #ccc; }
</style>
"""

_SCRIPT = """
<script>
(function () {
  // pyvis 0.3.2 hands vis-network strings as titles, which it shows as raw text: build DOM elements instead.
  // The markup was built in Python with every user string passed through html.escape.
  function element(markup) {
    var div = document.createElement("div");
    div.className = "bg-tip";
    div.innerHTML = markup;
    return div;
  }
  nodes.update(nodes.get().filter(function (n) { return n.tip; }).map(function (n) {
    return {id: n.id, title: element(n.tip)};
  }));
  var maxWeight = BG_MAX_WEIGHT;
  var slider = document.getElementById("bg-min-weight");
  var errors = document.getElementById("bg-hide-errors");
  function threshold() { var v = slider.value / 1000; return maxWeight * v * v; }
  function refresh() {
    var t = threshold(), hideErrors = errors.checked, hidden = {}, shown = 0;
    nodes.update(nodes.get().map(function (n) {
      var hide = hideErrors && n.kind === "error";
      if (hide) { hidden[n.id] = true; }
      return {id: n.id, hidden: hide};
    }));
    edges.update(edges.get().map(function (e) {
      var hide = e.absWeight < t || hidden[e.from] === true || hidden[e.to] === true;
      if (!hide) { shown += 1; }
      return {id: e.id, hidden: hide};
    }));
    document.getElementById("bg-weight-value").textContent = t.toPrecision(3);
    document.getElementById("bg-edges-shown").textContent = shown;
  }
  slider.addEventListener("input", refresh);
  errors.addEventListener("change", refresh);
  refresh();
  window.bgNetwork = network;
})();
</script>
"""


def html_page(graph: AttributionGraph) -> str:
    """The page as a string: pyvis' in-line template, CDN tags removed, our header, controls and tooltip fix."""
    from pyvis.network import Network

    net = Network(height="780px", width="100%", directed=True, cdn_resources="in_line", heading="")
    net.templateEnv.policies["json.dumps_function"] = lambda value, **_: script_safe_json(value)
    coords, sizes = layout(graph), _relative_sizes(graph)
    tags = comparison_tags(graph)
    features = graph.metadata.get("features") or {}
    net.nodes = []
    for i, (node, (x, row), size) in enumerate(zip(graph.nodes, coords, sizes)):
        tag = tags[i][0] if tags else ""
        extra = _comparison_rows(features.get(node.id), tags[i][1] if tags else "")
        label = node_label(node) if node.kind in ("embedding", "logit") else ""
        net.nodes.append(
            {
                "id": i,
                "label": clean_text(label),
                "x": x,
                "y": -row * ROW_HEIGHT,
                "fixed": True,
                "physics": False,
                "shape": {"feature": "dot", "error": "square", "embedding": "triangle", "logit": "diamond"}[node.kind],
                "size": 6.0 + 22.0 * size,
                "color": _hex(node_colour(node, tag)),
                "font": {"size": 16, "vadjust": 4},
                "kind": node.kind,
                "tip": _tooltip(node, extra),
            }
        )
    edges = _edges(graph)
    top = max((abs(w) for _, _, w in edges), default=1.0) or 1.0
    net.edges = []
    for k, (s, t, w) in enumerate(edges):
        strength = abs(w) / top
        rgb = POSITIVE_RGB if w > 0 else NEGATIVE_RGB
        net.edges.append(
            {
                "id": f"e{k}",
                "from": s,
                "to": t,
                "width": 0.5 + 6.0 * strength,
                "color": _hex(rgb, 0.25 + 0.75 * math.sqrt(strength)),
                "title": f"{clean_text(graph.nodes[s].id)} -> {clean_text(graph.nodes[t].id)}: {w:+.4g}",
                "absWeight": abs(w),
                "arrows": "to",
            }
        )
    net.node_ids = list(range(len(graph.nodes)))
    net.options = {
        "physics": {"enabled": False},
        "interaction": {"hover": True, "tooltipDelay": 80, "hideEdgesOnDrag": True},
        "edges": {"smooth": False, "arrows": {"to": {"scaleFactor": 0.4}}},
        "layout": {"improvedLayout": False},
    }
    page = net.generate_html(name="graph.html")
    page = _CDN_TAG.sub("", page)
    page = _EMPTY_HEADING.sub("", page)
    if _REMOTE_ATTRIBUTE.search(page):  # pyvis' template changed: fail loudly rather than write a page that phones out
        raise RuntimeError("pyvis template still loads a remote resource; update babelgraph.export._CDN_TAG")
    title = f"<title>babelgraph: {_e(graph.prompt)}</title>"
    page = page.replace("<head>", f'<head>\n<meta name="viewport" content="width=device-width">{title}{_STYLE}', 1)
    page = page.replace("<body>", "<body>" + _header(graph), 1)
    script = _SCRIPT.replace("BG_MAX_WEIGHT", script_safe_json(top))
    page = page.replace("</body>", script + "</body>", 1)
    if '<meta charset="utf-8">' not in page:
        page = page.replace("<head>", '<head><meta charset="utf-8">', 1)
    return "<!DOCTYPE html>\n" + page


def write_html(graph: AttributionGraph, path: str | Path) -> Path:
    """One self-contained HTML page (vis-network in line, no network access), written as UTF-8."""
    _check_not_empty(graph)
    page = html_page(graph)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path
