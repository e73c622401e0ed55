"""GraphML and GEXF for Gephi (and yEd, networkx, igraph, graph-tool): typed attributes, layout and colours.

Both files are streamed, node by node and edge by edge, so memory stays at the graph's own size.

GraphML follows the rules of Gephi's importer (``ImporterGraphML``): a ``<key>`` becomes a node or edge *property*
when its ``id``, or else its ``attr.name``, is one of ``label, x, y, z, size, r, g, b, color`` (nodes) or
``label, weight, r, g, b, color`` (edges); Gephi 0.9.2 and older also took id ``d3`` as the node label and ``d7``
as the edge label (yEd's convention). So every key's id is its name (never ``d0, d1, ...``), and Gephi puts the
label, position, size and colour where they belong. Edges carry ``weight = |w|`` (Gephi needs it positive),
``signed_weight``, ``sign`` and an ``r, g, b`` colour by sign. The graph-level keys (prompt, model, ...) are read by
networkx and igraph; Gephi logs them as "graph attributes ignored" (a warning, not an import error).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from babelgraph.files import atomic_path
from babelgraph.formats.common import (
    NEGATIVE_RGB,
    POSITIVE_RGB,
    ROW_HEIGHT,
    check_not_empty,
    check_size,
    clean_float,
    clean_text,
    comparison_features,
    comparison_rows,
    comparison_tags,
    cumulative_influence,
    edge_arrays,
    layout,
    node_colour,
    node_influences,
    node_label,
    relative_sizes,
)
from babelgraph.graph import AttributionGraph

# attribute name -> GraphML type; insertion order is the order of the <key> elements
NODE_KEYS: dict[str, str] = {
    "label": "string",
    "x": "double",
    "y": "double",
    "size": "double",
    "r": "int",
    "g": "int",
    "b": "int",
    "kind": "string",
    "layer": "int",
    "position": "int",
    "feature": "int",
    "dictionary": "string",
    "activation": "double",
    "influence": "double",
    "cumulative_influence": "double",
    "token": "string",
}
EDGE_KEYS: dict[str, str] = {
    "weight": "double",
    "signed_weight": "double",
    "sign": "int",
    "r": "int",
    "g": "int",
    "b": "int",
}


def graph_attributes(graph: AttributionGraph) -> dict[str, str]:
    """Graph-level metadata as strings: prompt, model, generator and version, pruning settings, scores (JSON)."""
    from babelgraph import __version__

    meta = graph.metadata
    return {
        "prompt": clean_text(graph.prompt),
        "model": clean_text((meta.get("model") or {}).get("model", "")),
        "generator": f"babelgraph {clean_text(__version__)}",
        "pruning": clean_text(json.dumps(meta.get("pruning") or {}, ensure_ascii=False)),
        "scores": clean_text(json.dumps(meta.get("scores") or {}, ensure_ascii=False)),
    }


def node_attributes(graph: AttributionGraph, edges: Any = None) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Typed attributes per node (only str/int/float: never None/NaN/numpy) and the extra keys' types.

    A comparison graph's features also carry ``tag``, ``languages``, ``tag_evidence`` (the tag's other fields,
    e.g. threshold and where it is active), ``activation_<lang>`` and ``monolinguality_<lang>``.
    """
    coords = layout(graph)
    influences = node_influences(graph, edges)
    sizes = relative_sizes(graph, influences)
    cumulative = cumulative_influence(influences)
    tags = comparison_tags(graph)
    features = comparison_features(graph) or {}
    extra: dict[str, str] = {}
    rows = []
    for i, (node, (x, row), size) in enumerate(zip(graph.nodes, coords, sizes)):
        r, g, b = node_colour(node, tags[i][0] if tags else "")
        attrs: dict[str, Any] = {
            "label": clean_text(node_label(node)),
            "x": float(x),
            "y": float(row * ROW_HEIGHT),
            "size": float(5.0 + 15.0 * size),
            "r": int(r),
            "g": int(g),
            "b": int(b),
            "kind": clean_text(node.kind),
            "layer": int(node.layer),
            "position": int(node.position),
            "feature": int(node.feature) if node.feature is not None else -1,
            "dictionary": clean_text(node.dictionary or ""),
            "activation": clean_float(node.activation),
            "influence": clean_float(influences[i]),
            "cumulative_influence": clean_float(cumulative[i]),
            "token": clean_text(node.token),
        }
        if tags:
            attrs["tag"], attrs["languages"] = clean_text(tags[i][0]), clean_text(tags[i][1])
            extra.update(tag="string", languages="string")
            info = features.get(node.id)
            if info is not None:
                rows_text = "; ".join(f"{k}: {v}" for k, v in comparison_rows(info, "") if k != "tag")
                typed: dict[str, str | float] = {"tag_evidence": rows_text, "tag_margin": info.tag.margin}
                for lang, e in info.evidence.items():
                    rate = info.tag.control_rates.get(lang)
                    typed[f"activation_{lang}"] = e.activation
                    typed[f"control_rate_{lang}"] = -1.0 if rate is None else rate
                if info.monolinguality is not None:
                    typed["monolinguality"] = info.monolinguality.score
                    typed["monolinguality_top"] = info.monolinguality.top_language
                    typed.update({f"monolinguality_share_{k}": v for k, v in info.monolinguality.share.items()})
                for key, value in typed.items():
                    name = clean_text(key)
                    attrs[name] = clean_text(value) if isinstance(value, str) else clean_float(value)
                    extra[name] = "string" if isinstance(value, str) else "double"
        rows.append(attrs)
    return rows, extra


def _edge_lines(graph: AttributionGraph, edges: Any, fmt: str) -> Iterator[str]:
    """One line of XML per edge: ``weight = |w|``, signed weight, sign, colour by sign (and, in a comparison
    graph, the edge's weight in each language, 0 where absent). Numbers need no escaping; ids are quoted once."""
    ids = [quoteattr(clean_text(node.id)) for node in graph.nodes]
    sources, targets, weights = edges
    per_language = graph.metadata.get("edge_weights") or {}
    lookup = {
        quoteattr(f"weight_{clean_text(lang)}"): {(int(s), int(t)): clean_float(w) for t, s, w in entries}
        for lang, entries in per_language.items()
    }
    colours = {1: POSITIVE_RGB, -1: NEGATIVE_RGB}
    for k, (s, t, w) in enumerate(zip(sources.tolist(), targets.tolist(), weights.tolist())):
        sign = 1 if w > 0 else -1
        r, g, b = colours[sign]
        langs = [(key, table.get((s, t), 0.0)) for key, table in lookup.items()]
        if fmt == "graphml":
            extra = "".join(f"<data key={key}>{v!r}</data>" for key, v in langs)
            yield (
                f'    <edge source={ids[s]} target={ids[t]}><data key="weight">{abs(w)!r}</data>'
                f'<data key="signed_weight">{w!r}</data><data key="sign">{sign}</data><data key="r">{r}</data>'
                f'<data key="g">{g}</data><data key="b">{b}</data>{extra}</edge>\n'
            )
        else:
            extra = "".join(f'<attvalue for={key} value="{v!r}" />' for key, v in langs)
            yield (
                f'      <edge id="{k}" source={ids[s]} target={ids[t]} weight="{abs(w)!r}">'
                f'<viz:color r="{r}" g="{g}" b="{b}" a="1.0" />'
                f'<attvalues><attvalue for="signed_weight" value="{w!r}" />'
                f'<attvalue for="sign" value="{sign}" />{extra}</attvalues></edge>\n'
            )


def _raw(value: Any) -> str:
    return repr(clean_float(value)) if isinstance(value, float) else clean_text(value)


def _value(value: Any) -> str:
    """Element text: escaped once (attribute values go through ``quoteattr(_raw(...))`` instead)."""
    return xml_escape(_raw(value))


def write_graphml(graph: AttributionGraph, path: str | Path) -> Path:
    """GraphML for Gephi, yEd, networkx and igraph: key ids are the attribute names (see the module docstring)."""
    check_not_empty(graph)
    check_size(graph, "GraphML")
    edges = edge_arrays(graph)
    nodes, extra = node_attributes(graph, edges)
    node_keys = NODE_KEYS | extra
    edge_keys = EDGE_KEYS | {
        f"weight_{clean_text(lang)}": "double" for lang in graph.metadata.get("edge_weights") or {}
    }
    path = Path(path)
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as out:
        out.write(
            "<?xml version='1.0' encoding='utf-8'?>\n"
            '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
            'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n'
        )
        for scope, keys in (
            ("node", node_keys),
            ("edge", edge_keys),
            ("graph", dict.fromkeys(graph_attributes(graph), "string")),
        ):
            for name, kind in keys.items():
                attr = quoteattr(name)
                out.write(f'  <key id={attr} for="{scope}" attr.name={attr} attr.type="{kind}" />\n')
        out.write('  <graph id="G" edgedefault="directed">\n')
        for name, value in graph_attributes(graph).items():
            out.write(f"    <data key={quoteattr(name)}>{_value(value)}</data>\n")
        for node, attrs in zip(graph.nodes, nodes):
            out.write(f"    <node id={quoteattr(clean_text(node.id))}>")
            out.writelines(f"<data key={quoteattr(k)}>{_value(v)}</data>" for k, v in attrs.items())
            out.write("</node>\n")
        out.writelines(_edge_lines(graph, edges, "graphml"))
        out.write("  </graph>\n</graphml>\n")
    return path


_GEXF_TYPES = {"string": "string", "double": "double", "int": "integer"}


def write_gexf(graph: AttributionGraph, path: str | Path) -> Path:
    """GEXF 1.2 with ``viz`` position, colour and size (Gephi opens it laid out), edges coloured by sign."""
    check_not_empty(graph)
    check_size(graph, "GEXF")
    edges = edge_arrays(graph)
    nodes, extra = node_attributes(graph, edges)
    node_keys = {k: v for k, v in (NODE_KEYS | extra).items() if k not in ("label", "x", "y", "size", "r", "g", "b")}
    edge_keys = {"signed_weight": "double", "sign": "int"}
    edge_keys |= {f"weight_{clean_text(lang)}": "double" for lang in graph.metadata.get("edge_weights") or {}}
    meta = graph_attributes(graph)
    path = Path(path)
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as out:
        out.write(
            "<?xml version='1.0' encoding='utf-8'?>\n"
            '<gexf xmlns="http://www.gexf.net/1.2draft" xmlns:viz="http://www.gexf.net/1.2draft/viz" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:schemaLocation="http://www.gexf.net/1.2draft http://www.gexf.net/1.2draft/gexf.xsd" version="1.2">\n'
            f"  <meta><creator>{xml_escape(meta['generator'])}</creator>"
            f"<description>{xml_escape(meta['prompt'])}</description></meta>\n"
            '  <graph defaultedgetype="directed" mode="static">\n'
        )
        for scope, keys in (("node", node_keys), ("edge", edge_keys)):
            out.write(f'    <attributes class="{scope}" mode="static">\n')
            for name, kind in keys.items():
                out.write(
                    f'      <attribute id={quoteattr(name)} title={quoteattr(name)} type="{_GEXF_TYPES[kind]}" />\n'
                )
            out.write("    </attributes>\n")
        out.write("    <nodes>\n")
        for node, attrs in zip(graph.nodes, nodes):
            values = "".join(
                f"<attvalue for={quoteattr(k)} value={quoteattr(_raw(attrs[k]))} />" for k in node_keys if k in attrs
            )
            out.write(
                f"      <node id={quoteattr(clean_text(node.id))} label={quoteattr(attrs['label'])}>"
                f"<attvalues>{values}</attvalues>"
                f'<viz:size value="{attrs["size"]!r}" />'
                f'<viz:position x="{attrs["x"]!r}" y="{attrs["y"]!r}" z="0.0" />'
                f'<viz:color r="{attrs["r"]}" g="{attrs["g"]}" b="{attrs["b"]}" a="1.0" /></node>\n'
            )
        out.write("    </nodes>\n    <edges>\n")
        out.writelines(_edge_lines(graph, edges, "gexf"))
        out.write("    </edges>\n  </graph>\n</gexf>\n")
    return path
