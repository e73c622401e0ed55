"""One self-contained interactive HTML page per graph (pyvis + vis-network in line, no network access).

pyvis pulls Bootstrap from a CDN and shows tooltips as raw text; both are fixed here, once.
"""

from __future__ import annotations

import math
import re
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
    clean_float,
    clean_text,
    comparison_tags,
    escape,
    hex_colour,
    layout,
    node_colour,
    node_label,
    relative_sizes,
    script_safe_json,
    signed_edges,
)
from babelgraph.graph import AttributionGraph, Node

_CDN_TAG = re.compile(
    r"<link\b[^>]*\bhref\s*=\s*[\"']?https?://[^>]*>|<script\b[^>]*\bsrc\s*=\s*[\"']?https?://[^>]*>\s*</script>",
    re.IGNORECASE,
)
_REMOTE_ATTRIBUTE = re.compile(r"\b(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//", re.IGNORECASE)
_EMPTY_HEADING = re.compile(r"<center>\s*<h1>\s*</h1>\s*</center>|<!--\s*<link[^>]*node_modules.*?-->", re.DOTALL)


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
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f"<b>{escape(node_label(node))}</b><table>{body}</table>"


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
    colours = dict(KIND_COLOURS)
    if "comparison" in graph.metadata:
        del colours["feature"]
        colours = {f"{tag} feature": rgb for tag, rgb in TAG_COLOURS.items()} | colours
    legend = "".join(
        f'<span class="bg-key"><i style="background:{hex_colour(rgb)}"></i>{escape(kind)}</span>'
        for kind, rgb in colours.items()
    ) + (
        "".join(
            f'<span class="bg-key"><i class="bg-line" style="background:{hex_colour(rgb)}"></i>{sign} edge</span>'
            for sign, rgb in (("positive", POSITIVE_RGB), ("negative", NEGATIVE_RGB))
        )
    )
    return f"""
<div id="bg-header">
  <h2>babelgraph attribution graph <small>{escape(model)}</small></h2>
  <div><b>prompt</b> <code id="bg-prompt">{escape(graph.prompt)}</code></div>
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
    coords, sizes = layout(graph), relative_sizes(graph)
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
                "color": hex_colour(node_colour(node, tag)),
                "font": {"size": 16, "vadjust": 4},
                "kind": node.kind,
                "tip": _tooltip(node, extra),
            }
        )
    edges = signed_edges(graph)
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
                "color": hex_colour(rgb, 0.25 + 0.75 * math.sqrt(strength)),
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
        raise RuntimeError("pyvis template still loads a remote resource; update babelgraph.formats.html._CDN_TAG")
    title = f"<title>babelgraph: {escape(graph.prompt)}</title>"
    page = page.replace("<head>", f'<head>\n<meta name="viewport" content="width=device-width">{title}{_STYLE}', 1)
    page = page.replace("<body>", "<body>" + _header(graph), 1)
    script = _SCRIPT.replace("BG_MAX_WEIGHT", script_safe_json(top))
    page = page.replace("</body>", script + "</body>", 1)
    if '<meta charset="utf-8">' not in page:
        page = page.replace("<head>", '<head><meta charset="utf-8">', 1)
    return "<!DOCTYPE html>\n" + page


def write_html(graph: AttributionGraph, path: str | Path) -> Path:
    """One self-contained HTML page (vis-network in line, no network access), written as UTF-8."""
    check_not_empty(graph)
    page = html_page(graph)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path
