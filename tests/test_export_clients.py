"""Exports as the clients that open them read them: Gephi's GraphML key rules (ported from its importer),
circuit-tracer's influence and metadata semantics, automatic labels, colours for colour-blind readers, layout."""

from __future__ import annotations

import itertools
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import pytest
import torch

import babelgraph as bg
from babelgraph import AttributionGraph, Node
from babelgraph.errors import BabelgraphError
from babelgraph.formats import export
from babelgraph.formats.common import (
    KIND_COLOURS,
    MAX_NODE_RADIUS,
    NEGATIVE_RGB,
    POSITIVE_RGB,
    ROW_HEIGHT,
    TAG_COLOURS,
    check_size,
    cumulative_influence,
    feature_label,
    layout,
)
from babelgraph.formats.neuronpedia import check_model_ids

# ---- a port of Gephi's ImporterGraphML key association (gephi/gephi, modules/ImportPlugin/.../ImporterGraphML.java)
GEPHI_NODE_PROPERTIES = {
    "label": "label",
    "nodelabel": "label",
    "x": "x",
    "y": "y",
    "z": "z",
    "xpos": "x",
    "ypos": "y",
    "zpos": "z",
    "size": "size",
    "r": "r",
    "g": "g",
    "b": "b",
    "color": "color",
}
GEPHI_EDGE_PROPERTIES = {
    "label": "label",
    "edgelabel": "label",
    "weight": "weight",
    "Edge Weight": "weight",
    "r": "r",
    "g": "g",
    "b": "b",
    "color": "color",
}
NS = "{http://graphml.graphdrawing.org/xmlns}"


def gephi_import(path: Path, legacy_yed: bool = False) -> dict:
    """Nodes and edges as Gephi's GraphML importer builds them: a key is a *property* when its id, else its
    attr.name, is a known property name (Gephi <= 0.9.2 also mapped id d3 -> node label, d7 -> edge label);
    other keys become columns; graph keys are ignored with a warning; issues are collected with their level."""
    root = ET.parse(path).getroot()
    node_props, edge_props, node_cols, edge_cols, issues = {}, {}, {}, {}, []
    legacy = {"d3", "d7"} if legacy_yed else set()
    if legacy_yed:
        node_props["d3"], edge_props["d7"] = "label", "label"
    for key in root.iter(NS + "key"):
        kid, title = key.get("id", "").strip(), (key.get("attr.name") or "").strip() or key.get("id", "").strip()
        scope, kind = key.get("for", "all").strip(), (key.get("attr.type") or "").strip()
        if not kid:
            issues.append(("SEVERE", "attribute id missing"))
            continue
        if kid in legacy:  # Gephi <= 0.9.2: the yEd ids were fixed before any key was read
            continue
        if scope == "node" and (GEPHI_NODE_PROPERTIES.get(kid) or GEPHI_NODE_PROPERTIES.get(title)):
            node_props[kid] = GEPHI_NODE_PROPERTIES.get(kid) or GEPHI_NODE_PROPERTIES[title]
            continue
        if scope == "edge" and (GEPHI_EDGE_PROPERTIES.get(kid) or GEPHI_EDGE_PROPERTIES.get(title)):
            edge_props[kid] = GEPHI_EDGE_PROPERTIES.get(kid) or GEPHI_EDGE_PROPERTIES[title]
            continue
        if not kind:
            issues.append(("SEVERE", f"attribute type missing for {title}"))
        if scope == "graph":
            issues.append(("WARNING", f"graph attribute {title} ignored"))
            continue
        if scope not in ("node", "edge", "all"):
            issues.append(("SEVERE", f"attribute class unknown for {title}"))
            continue
        (node_cols if scope == "node" else edge_cols)[kid] = title

    def read(element, props, cols):
        out = {"props": {}, "cols": {}}
        for data in element.findall(NS + "data"):
            fore, value = data.get("key", "").strip(), (data.text or "")
            if not fore:
                issues.append(("SEVERE", "data key missing"))
                continue
            prop = props.get(fore)
            if prop is not None and value:
                try:
                    parsed = (
                        int(value)
                        if prop in "rgb"
                        else float(value)
                        if prop in ("x", "y", "z", "size", "weight")
                        else value
                    )
                except ValueError:
                    issues.append(("SEVERE", f"value {value!r} cannot be {prop}"))
                    continue
                out["props"][prop] = parsed
            elif fore in cols:
                out["cols"][cols[fore]] = value
        return out

    graph = root.find(NS + "graph")
    nodes = {n.get("id"): read(n, node_props, node_cols) for n in graph.iter(NS + "node")}
    edges = {(e.get("source"), e.get("target")): read(e, edge_props, edge_cols) for e in graph.iter(NS + "edge")}
    return {"nodes": nodes, "edges": edges, "issues": issues}


@pytest.fixture(scope="module")
def model():
    return bg.load_model("demo")


@pytest.fixture(scope="module")
def unpruned(model):
    return bg.attribute(model, 'The opposite of "small" is "', progress=False)


@pytest.fixture(scope="module")
def pruned(unpruned):
    return bg.prune(unpruned)


def test_every_graphml_lands_label_xy_colour_where_gephi_expects(pruned, tmp_path):
    from babelgraph.formats.gephi import node_attributes

    path = export(pruned, tmp_path / "g.graphml")
    expected, _ = node_attributes(pruned)
    for legacy in (False, True):  # current Gephi, and Gephi <= 0.9.2 with yEd's d3/d7 ids
        gephi = gephi_import(path, legacy_yed=legacy)
        assert not [i for i in gephi["issues"] if i[0] == "SEVERE"], gephi["issues"]
        for node, attrs in zip(pruned.nodes, expected):
            props = gephi["nodes"][node.id]["props"]
            assert props["label"] == attrs["label"] and not props["label"].replace(".", "").isdigit()
            assert props["x"] == pytest.approx(attrs["x"]) and props["y"] == pytest.approx(attrs["y"])
            assert (props["r"], props["g"], props["b"]) == (attrs["r"], attrs["g"], attrs["b"])
            assert props["size"] > 0
            assert gephi["nodes"][node.id]["cols"]["kind"] == node.kind  # ordinary columns still arrive
        signs = set()
        for edge in gephi["edges"].values():
            props, cols = edge["props"], edge["cols"]
            assert props["weight"] > 0 and float(cols["signed_weight"]) == pytest.approx(
                props["weight"] * int(cols["sign"])
            )
            rgb = (props["r"], props["g"], props["b"])
            assert rgb == (POSITIVE_RGB if int(cols["sign"]) > 0 else NEGATIVE_RGB)
            signs.add(int(cols["sign"]))
        assert signs == {1, -1}
    # the bug the port guards against: networkx' default ids (d0, d1, ...) where d3 is x, read by Gephi <= 0.9.2
    bad = tmp_path / "default_ids.graphml"
    bad.write_text(
        f'<graphml xmlns="{NS[1:-1]}"><key id="d0" for="node" attr.name="label" attr.type="string"/>'
        '<key id="d3" for="node" attr.name="x" attr.type="double"/>'
        '<graph edgedefault="directed"><node id="a"><data key="d0">L0 #1</data><data key="d3">160.0</data></node>'
        "</graph></graphml>"
    )
    assert gephi_import(bad, legacy_yed=True)["nodes"]["a"]["props"] == {"label": "160.0"}  # x lost, as reported
    assert gephi_import(bad)["nodes"]["a"]["props"] == {"x": 160.0, "label": "L0 #1"}


def test_graphml_reads_in_igraph_with_graph_metadata(pruned, tmp_path):
    import igraph

    path = export(pruned, tmp_path / "g.graphml")
    g = nx.read_graphml(path)
    assert g.graph["prompt"] == pruned.prompt and g.graph["generator"].startswith("babelgraph ")
    assert json.loads(g.graph["pruning"])["node_threshold"] == pytest.approx(0.8)
    ig = igraph.Graph.Read_GraphML(str(path))
    assert ig["prompt"] == pruned.prompt and set(ig.es.attributes()) >= {"weight", "signed_weight", "sign", "r"}
    assert all(w > 0 for w in ig.es["weight"])


def test_gexf_carries_viz_and_edge_colour(pruned, tmp_path):
    path = export(pruned, tmp_path / "g.gexf")
    g = nx.read_gexf(path)
    node = pruned.nodes[pruned.indices("feature")[0]]
    assert g.nodes[node.id]["label"] == feature_label(node) and g.nodes[node.id]["viz"]["size"] > 0
    gexf, viz = "{http://www.gexf.net/1.2draft}", "{http://www.gexf.net/1.2draft/viz}"
    edges = list(ET.parse(path).getroot().iter(gexf + "edge"))
    assert len(edges) == pruned.n_edges
    for edge in edges:
        colour = edge.find(viz + "color")
        sign = next(int(v.get("value")) for v in edge.iter(gexf + "attvalue") if v.get("for") == "sign")
        rgb = tuple(int(colour.get(c)) for c in "rgb")
        assert rgb == (POSITIVE_RGB if sign > 0 else NEGATIVE_RGB) and float(edge.get("weight")) > 0


# ---- Neuronpedia / circuit-tracer ------------------------------------------------------------------------------
def test_cumulative_influence_is_circuit_tracers():
    values = cumulative_influence([0.1, 0.5, 0.0, 0.4])
    assert values == pytest.approx([1.0, 0.5, 1.0, 0.9])  # sorted desc: 0.5 -> 0.5, 0.4 -> 0.9, 0.1 -> 1.0


def test_slider_keeps_the_most_influential_nodes(unpruned, tmp_path):
    data = json.loads(export(unpruned, tmp_path / "g.json").read_text(encoding="utf-8"))
    from babelgraph.formats.common import node_influences

    raw = node_influences(unpruned)
    prunable = [(e, r) for e, r, n in zip(data["nodes"], raw, unpruned.nodes) if n.kind in ("feature", "error")]
    # a slider position that keeps about a quarter of them (the first node alone can hold over 40% of the influence)
    threshold = sorted(e["influence"] for e, _ in prunable)[len(prunable) // 4]
    kept = [r for e, r in prunable if e["influence"] <= threshold]  # what circuit-tracer's viewer keeps there
    dropped = [r for e, r in prunable if e["influence"] > threshold]
    assert kept and dropped and min(kept) >= max(dropped)  # the most influential stay, the weakest go
    assert len(kept) < len(prunable) / 2
    nodes = data["nodes"]
    assert all(e["influence"] is None and e["activation"] is None for e in nodes if e["feature_type"] == "logit")
    assert all(e["activation"] is None for e in nodes if e["feature_type"] in ("embedding", "mlp reconstruction error"))
    assert all(isinstance(e["activation"], float) for e in nodes if e["feature_type"] == "cross layer transcoder")


def test_graph_metadata_json_is_updated_not_overwritten(pruned, tmp_path):
    export(pruned, tmp_path / "a.json")
    export(pruned, tmp_path / "b.json")
    export(pruned, tmp_path / "a.json")  # again: replaced, not duplicated
    index = json.loads((tmp_path / "graph-metadata.json").read_text(encoding="utf-8"))
    assert sorted(g["slug"] for g in index["graphs"]) == ["a", "b"]
    entry = index["graphs"][0]
    assert entry["node_threshold"] == pytest.approx(0.8) and entry["info"]["generator"]["name"] == "babelgraph"
    assert entry["info"]["generator"]["version"] == bg.__version__
    assert entry["info"]["pruning"]["edge_threshold"] == pytest.approx(0.98)
    (tmp_path / "graph-metadata.json").write_text("{not json")
    with pytest.raises(BabelgraphError, match="not valid JSON"):
        export(pruned, tmp_path / "c.json")


def test_ids_unique_and_model_check(model, pruned):
    from babelgraph.formats.neuronpedia import neuronpedia_json

    data = neuronpedia_json(pruned)
    for field in ("node_id", "jsNodeId"):
        assert len({e[field] for e in data["nodes"]}) == len(data["nodes"])
    # an error node and a feature whose index equals the position: distinct jsNodeIds
    error = next(e for e in data["nodes"] if e["feature_type"] == "mlp reconstruction error")
    assert error["jsNodeId"].startswith("ERR_")
    plan = check_model_ids(model.describe())
    assert plan.offset == 10_000 and set(plan.feature_slot.values()) == {0}
    two = model.describe()
    two["dictionaries"] = two["dictionaries"] + [dict(two["dictionaries"][0], name="attn0")]
    assert check_model_ids(two).feature_slot["attn0"] == 1
    same = model.describe()
    same["dictionaries"] = same["dictionaries"] + [dict(same["dictionaries"][0])]
    with pytest.raises(BabelgraphError, match="share the name"):
        check_model_ids(same)


# ---- labels, colours, layout -----------------------------------------------------------------------------------
def test_feature_labels_from_reference_text(model, pruned, tmp_path):
    from babelgraph.languages.labels import label_features

    graph = pruned.subgraph(list(range(len(pruned.nodes))))
    node = graph.nodes[graph.indices("feature")[0]]
    assert feature_label(node) == f'L{node.layer} #{node.feature} "{node.token.strip() or node.token}"'
    label_features(graph, model)
    labels = [n.label for n in graph.nodes if n.kind == "feature"]
    assert all(label and label.startswith(f"L{n.layer} #{n.feature} · ") for label, n in zip(labels, graph.nodes))
    assert any(label.endswith(("(en)", "(fr)", "(zh)")) for label in labels)
    loaded = AttributionGraph.load(graph.save(tmp_path / "g.safetensors"))
    assert [n.label for n in loaded.nodes] == [n.label for n in graph.nodes]
    data = json.loads(export(graph, tmp_path / "g.json").read_text(encoding="utf-8"))
    assert [e["clerp"] for e in data["nodes"] if e["feature_type"] == "cross layer transcoder"] == labels
    assert nx.read_graphml(export(graph, tmp_path / "g.graphml")).nodes[node.id]["label"] == node.label


def test_old_graph_files_load_without_label(pruned, tmp_path):
    from safetensors.torch import load_file, save_file

    path = pruned.save(tmp_path / "g.safetensors")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        header = json.loads(handle.metadata()["babelgraph"])
    for node in header["nodes"]:
        del node["label"]
    save_file(load_file(str(path)), str(path), metadata={"babelgraph": json.dumps(header)})
    assert all(n.label is None for n in AttributionGraph.load(path).nodes)


def _simulate(rgb, kind):
    """Colour-vision deficiency simulation (Vienot 1999 for protan/deutan, Brettel-style tritan matrix)."""
    lin = [((c / 255) / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4) for c in rgb]
    m = {
        "protan": [[0.11238, 0.88762, 0.0], [0.11238, 0.88762, 0.0], [0.00401, -0.00401, 1.0]],
        "deutan": [[0.29275, 0.70725, 0.0], [0.29275, 0.70725, 0.0], [-0.02234, 0.02234, 1.0]],
        "tritan": [[1.0, 0.14461, -0.14461], [0.0, 0.85924, 0.14076], [0.0, 0.85924, 0.14076]],
    }[kind]
    return [max(0.0, min(1.0, sum(m[r][c] * lin[c] for c in range(3)))) for r in range(3)]


def _lab(lin):
    x = (0.4124 * lin[0] + 0.3576 * lin[1] + 0.1805 * lin[2]) / 0.95047
    y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    z = (0.0193 * lin[0] + 0.1192 * lin[1] + 0.9505 * lin[2]) / 1.08883
    f = [v ** (1 / 3) if v > 0.008856 else 7.787 * v + 16 / 116 for v in (x, y, z)]
    return (116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2]))


@pytest.mark.parametrize("palette", ["kinds", "tags", "edges"])
def test_colours_stay_apart_for_colour_blind_readers(palette):
    colours = {
        "kinds": list(KIND_COLOURS.values()),
        "tags": list(TAG_COLOURS.values()),
        "edges": [POSITIVE_RGB, NEGATIVE_RGB],
    }[palette]
    for kind in ("protan", "deutan", "tritan"):
        for a, b in itertools.combinations(colours, 2):
            distance = math.dist(_lab(_simulate(a, kind)), _lab(_simulate(b, kind)))
            assert distance > 15, (palette, kind, a, b, distance)


def test_layout_never_overlaps_and_narrows_empty_positions(unpruned):
    coords = layout(unpruned)
    points = [(x, row * ROW_HEIGHT) for x, row in coords]
    cells = {}
    for i, node in enumerate(unpruned.nodes):
        cells.setdefault((node.layer, node.position), []).append(i)
    assert max(len(m) for m in cells.values()) > 10  # crowded cells exercised
    for members in cells.values():
        for i, j in itertools.combinations(members, 2):
            assert math.dist(points[i], points[j]) >= 2 * MAX_NODE_RADIUS
    long_prompt = AttributionGraph(
        "x",
        list(range(60)),
        [f"t{i}" for i in range(60)],
        [Node(f"e{i}", "embedding", -1, i, 1.0, f"t{i}") for i in range(60)]
        + [Node("f", "feature", 0, 59, 1.0, "t59", feature=1, dictionary="d")],
        torch.zeros(61, 61),
    )
    xs = [x for x, _ in layout(long_prompt)]
    assert xs[1] - xs[0] < xs[59] - xs[58]  # positions without features are narrower


def test_huge_graphs_are_refused_with_advice():
    graph = AttributionGraph("x", [0], ["x"], [Node("e", "embedding", -1, 0, 1.0, "x")], torch.ones(1, 1))
    with pytest.raises(BabelgraphError, match="prune it first"):
        check_size(graph, "HTML", limit=0)


def test_labels_show_control_characters_and_survive_every_export(pruned, tmp_path):
    """Byte-fallback tokens can be control characters: shown as control pictures, the same label in every format."""
    from babelgraph.languages.labels import label_from_statistics
    from babelgraph.languages.reference import Context, FeatureStats

    contexts = {
        "zh": [Context("x", "\x02", 3, 2.0)],
        "fr": [Context("y", " de\n", 1, 1.0)],
        "en": [Context("z", "\x9fok", 2, 0.5)],  # C1 controls have no picture: dropped
    }
    stats = FeatureStats({"en": 0.1, "fr": 0.2, "zh": 0.9}, {}, 0.5, "zh", {}, True, contexts)
    label = label_from_statistics(1, 786, stats)
    assert label == 'L1 #786 · "␂"/"de⏎"/"ok" (zh)'
    graph = pruned.subgraph(list(range(len(pruned.nodes))))
    node = graph.nodes[graph.indices("feature")[0]]
    node.label = label
    assert nx.read_graphml(export(graph, tmp_path / "g.graphml")).nodes[node.id]["label"] == label
    assert nx.read_gexf(export(graph, tmp_path / "g.gexf")).nodes[node.id]["label"] == label
    data = json.loads(export(graph, tmp_path / "g.json").read_text(encoding="utf-8"))
    assert label in [e["clerp"] for e in data["nodes"]]
