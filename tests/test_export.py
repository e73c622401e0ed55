"""Exports: each format read back by an independent reader, nasty strings kept valid, user mistakes refused cleanly."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import networkx as nx
import pytest
import torch

import babelgraph as bg
from babelgraph import AttributionGraph, Node
from babelgraph.cli import main
from babelgraph.errors import BabelgraphError
from babelgraph.formats import FORMATS, export
from babelgraph.formats.neuronpedia import neuronpedia_ids

NASTY = 'say "hi" & <b>bye</b>\x01 \U0001f600 小 </script><script>alert(1)</script>"><img src=x onerror=alert(1)>'
NEURONPEDIA_NODE_FIELDS = {
    "node_id": str,
    "feature": int,
    "layer": str,
    "ctx_idx": int,
    "feature_type": str,
    "token_prob": float,
    "is_target_logit": bool,
    "run_idx": int,
    "reverse_ctx_idx": int,
    "jsNodeId": str,
    "clerp": str,
    "influence": (float, type(None)),
    "activation": (float, type(None)),
}
FEATURE_TYPES = {"cross layer transcoder", "mlp reconstruction error", "embedding", "logit"}


@pytest.fixture(scope="module")
def demo_graph() -> AttributionGraph:
    model = bg.load_model("demo")
    return bg.prune(bg.attribute(model, 'The opposite of "small" is "', progress=False))


def hand_graph(prompt: str = NASTY, token: str = NASTY, same_layer: bool = False) -> AttributionGraph:
    """Two features (one with NaN activation and no influence), an error, two embeddings, one logit."""
    second_dict = "blocks.0.attn" if same_layer else "blocks.1.mlp"
    nodes = [
        Node("f0", "feature", 0, 1, 1.5, token, feature=7, dictionary="blocks.0.mlp", token_id=5, influence=0.4),
        Node("f1", "feature", 0 if same_layer else 1, 1, float("nan"), token, feature=7, dictionary=second_dict),
        Node("r0", "error", 0, 1, 0.3, token, dictionary="blocks.0.mlp", influence=0.1),
        Node("e0", "embedding", -1, 0, 1.0, "<bos>", token_id=0, influence=0.2),
        Node("e1", "embedding", -1, 1, 1.0, token, token_id=5, influence=0.9),
        Node("l0", "logit", 2, 1, 3.0, token, token_id=9, probability=0.75),
    ]
    a = torch.zeros(6, 6)
    a[0, 4], a[0, 3] = 2.0, -0.5  # f0 <- e1, e0
    a[1, 0], a[1, 2] = 1.25, -0.25  # f1 <- f0, r0
    a[5, 1], a[5, 4] = -3.0, float("inf")  # l0 <- f1, e1 (inf: must not reach any file)
    metadata = {"model": {"model": "hand", "n_layers": 2}, "scores": {"pruned": {"replacement": 0.5}}}
    return AttributionGraph(prompt, [0, 5], ["<bos>", token], nodes, a, metadata)


def signed_edges(graph: AttributionGraph) -> dict[tuple[str, str], float]:
    t, s = torch.nonzero(graph.adjacency, as_tuple=True)
    return {
        (graph.nodes[j].id, graph.nodes[i].id): float(graph.adjacency[i, j])
        for i, j in zip(t.tolist(), s.tolist())
        if math.isfinite(float(graph.adjacency[i, j]))
    }


# ---- GraphML / GEXF -------------------------------------------------------------------------------------------
def test_graphml_reads_back_in_networkx_and_igraph(demo_graph, tmp_path):
    import igraph

    path = export(demo_graph, tmp_path / "g.graphml")
    expected = signed_edges(demo_graph)
    assert len(expected) == demo_graph.n_edges > 50

    g = nx.read_graphml(path)
    assert g.is_directed() and g.number_of_nodes() == len(demo_graph.nodes) and g.number_of_edges() == len(expected)
    for node in demo_graph.nodes:
        attrs = g.nodes[node.id]
        assert attrs["kind"] == node.kind and attrs["layer"] == node.layer and attrs["position"] == node.position
        assert attrs["feature"] == (node.feature if node.feature is not None else -1)
        assert attrs["activation"] == pytest.approx(node.activation)
        assert attrs["influence"] == pytest.approx(node.influence or 0.0)
        assert attrs["token"] == node.token and attrs["label"]
        assert all(0 <= attrs[c] <= 255 and isinstance(attrs[c], int) for c in "rgb")
        assert {"x", "y", "size"} <= attrs.keys()
    for (s, t), w in expected.items():
        data = g.edges[s, t]
        assert data["weight"] == pytest.approx(abs(w)) and data["signed_weight"] == pytest.approx(w)
        assert data["sign"] == (1 if w > 0 else -1)
    assert {d["sign"] for _, _, d in g.edges(data=True)} == {1, -1}  # both signs exercised

    ig = igraph.Graph.Read_GraphML(str(path))
    assert ig.is_directed() and ig.vcount() == len(demo_graph.nodes) and ig.ecount() == len(expected)
    names = ig.vs["id"]
    assert set(ig.vs.attributes()) >= {"label", "x", "y", "size", "r", "g", "b", "kind", "layer", "position"}
    assert set(ig.vs.attributes()) >= {"feature", "activation", "influence", "token"}
    for edge in ig.es:
        w = expected[(names[edge.source], names[edge.target])]
        assert edge["signed_weight"] == pytest.approx(w) and edge["weight"] == pytest.approx(abs(w))
        assert edge["sign"] == (1 if w > 0 else -1)


def test_gexf_reads_back_with_viz(demo_graph, tmp_path):
    g = nx.read_gexf(export(demo_graph, tmp_path / "g.gexf"))
    assert g.number_of_nodes() == len(demo_graph.nodes) and g.number_of_edges() == demo_graph.n_edges
    logit = demo_graph.logit_nodes[0]
    viz = g.nodes[logit.id]["viz"]
    assert (
        viz["position"]["y"] > g.nodes[demo_graph.nodes[demo_graph.indices("embedding")[0]].id]["viz"]["position"]["y"]
    )
    assert {"r", "g", "b"} <= viz["color"].keys() and viz["size"] > 0


def test_nasty_strings_stay_valid_xml_and_json(tmp_path):
    import igraph

    graph = hand_graph()
    clean = NASTY.replace("\x01", "")
    g = nx.read_graphml(export(graph, tmp_path / "g.graphml"))
    assert g.graph["prompt"] == clean and g.nodes["f0"]["token"] == clean
    assert g.nodes["f1"]["activation"] == 0.0  # NaN -> 0.0
    assert g.nodes["f1"]["influence"] == pytest.approx(0.75)  # None: computed from the edges (f1 feeds l0 alone)
    assert g.number_of_edges() == 5  # the inf edge is dropped
    assert igraph.Graph.Read_GraphML(str(tmp_path / "g.graphml")).vs.find(id="e1")["token"] == clean
    assert nx.read_gexf(export(graph, tmp_path / "g.gexf")).nodes["f0"]["token"] == clean

    data = json.loads((export(graph, tmp_path / "g.json")).read_text(encoding="utf-8"))
    assert data["metadata"]["prompt"] == clean and data["metadata"]["prompt_tokens"][1] == clean
    assert "NaN" not in (tmp_path / "g.json").read_text(encoding="utf-8")


# ---- Neuronpedia JSON -----------------------------------------------------------------------------------------
def test_neuronpedia_json_schema(demo_graph, tmp_path):
    data = json.loads(export(demo_graph, tmp_path / "graph.json").read_text(encoding="utf-8"))
    assert set(data) == {"metadata", "qParams", "nodes", "links"}
    meta = data["metadata"]
    assert meta["slug"] == "graph" and meta["prompt"] == demo_graph.prompt and meta["schema_version"] == 1
    assert meta["prompt_tokens"] == demo_graph.token_strings and isinstance(meta["node_threshold"], float)
    assert isinstance(meta["scan"], str) and isinstance(meta["transcoder_list"], list)
    assert set(data["qParams"]) == {"pinnedIds", "supernodes", "linkType", "clickedId", "sg_pos"}

    assert len(data["nodes"]) == len(demo_graph.nodes)
    for entry, node in zip(data["nodes"], demo_graph.nodes):
        assert set(entry) == set(NEURONPEDIA_NODE_FIELDS)
        assert all(isinstance(entry[k], t) for k, t in NEURONPEDIA_NODE_FIELDS.items()), entry
        assert entry["feature_type"] in FEATURE_TYPES and entry["ctx_idx"] == node.position
    n_layers = demo_graph.metadata["model"]["n_layers"]
    by_kind = {node.kind: entry for entry, node in zip(data["nodes"], demo_graph.nodes)}
    feature = next(n for n in demo_graph.nodes if n.kind == "feature")
    assert by_kind["feature"]["node_id"].split("_")[0] == str(by_kind["feature"]["layer"])
    assert f"{feature.layer}_{feature.feature}_{feature.position}" in {e["node_id"] for e in data["nodes"]}
    assert re.fullmatch(r"\d+_-1_\d+", by_kind["error"]["node_id"])
    assert re.fullmatch(r"E_\d+_\d+", by_kind["embedding"]["node_id"]) and by_kind["embedding"]["layer"] == "E"
    logit = by_kind["logit"]
    assert logit["node_id"].startswith(f"{n_layers + 1}_") and logit["layer"] == str(n_layers + 1)
    assert sum(e["is_target_logit"] for e in data["nodes"]) == 1

    ids = {e["node_id"] for e in data["nodes"]}
    assert len(ids) == len(data["nodes"]) and len(data["links"]) == demo_graph.n_edges
    assert all(
        set(link) == {"source", "target", "weight"} and {link["source"], link["target"]} <= ids
        for link in data["links"]
    )
    weights = sorted(abs(link["weight"]) for link in data["links"])
    assert weights[-1] == pytest.approx(float(demo_graph.adjacency.abs().max()))


def test_neuronpedia_ids_stay_unique_when_two_dictionaries_share_a_layer(tmp_path):
    assert len(set(neuronpedia_ids(hand_graph()))) == 6
    data = json.loads(export(hand_graph(same_layer=True), tmp_path / "g.json").read_text(encoding="utf-8"))
    ids = [e["node_id"] for e in data["nodes"]]
    js = [e["jsNodeId"] for e in data["nodes"]]
    assert len(set(ids)) == len(set(js)) == 6
    assert ids[:2] == ["0_7_1", "0_17_1"]  # second dictionary at layer 0: slot 1, offset 10 (widths from indices)
    assert data["nodes"][0]["feature"] != data["nodes"][1]["feature"]


# ---- HTML -----------------------------------------------------------------------------------------------------
def test_html_is_self_contained_and_escapes_the_prompt(tmp_path):
    page = export(hand_graph(), tmp_path / "g.html").read_text(encoding="utf-8")
    assert '<meta charset="utf-8">' in page
    assert not re.search(r"\b(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//", page, re.IGNORECASE)
    assert "<script>alert(1)" not in page and "<img src=x" not in page and "<b>bye" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown in the header, as text
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", page, re.DOTALL)
    assert not any("alert(1)" in s for s in scripts[:1])  # vis-network untouched
    assert sum("alert(1)" in s for s in scripts) == 1  # only in the node data, with '<' escaped as \u003c
    data = next(s for s in scripts if "alert(1)" in s)
    assert "\\u003c/script\\u003e" in data
    assert "小" in page and "\U0001f600" in page


def test_html_of_the_demo_graph_has_every_node_and_the_header(demo_graph, tmp_path):
    page = export(demo_graph, tmp_path / "g.html").read_text(encoding="utf-8")
    data = json.loads(re.search(r"var BG_DATA = (\{.*?\});</script>", page, re.DOTALL).group(1))
    assert len(data["nodes"]) == len(demo_graph.nodes)
    assert len(data["edges"]["s"]) == len(data["edges"]["w"]) == demo_graph.n_edges
    strengths = [abs(w) for w in data["edges"]["w"]]
    assert strengths == sorted(strengths, reverse=True)  # strongest first, so the page draws those first
    for text in ("replacement", "completeness", "bg-hide-errors", "bg-prune", "big"):
        assert text in page
    scores = demo_graph.metadata["scores"]  # the header shows each score the graph carries, to 3 decimals
    assert {"unpruned", "pruned"} <= set(scores)
    for s in scores.values():
        assert f"<td>{s['replacement']:.3f}</td><td>{s['completeness']:.3f}</td>" in page
    assert "cdn.jsdelivr.net" not in page and "cdnjs.cloudflare.com" not in page


# ---- mistakes -------------------------------------------------------------------------------------------------
def test_unknown_format_unwritable_path_and_empty_graph_leave_nothing(tmp_path):
    graph = hand_graph()
    with pytest.raises(BabelgraphError, match="choose one of html, graphml, gexf, json"):
        export(graph, tmp_path / "g.pdf")
    with pytest.raises(BabelgraphError, match="choose one of"):
        export(graph, tmp_path / "g.html", format="svg")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(BabelgraphError, match="cannot write"):
        export(graph, blocker / "sub" / "g.graphml")
    with pytest.raises(BabelgraphError, match="is a folder"):
        export(graph, tmp_path, format="json")
    empty = AttributionGraph("a", [0], ["a"], [graph.nodes[3]], torch.zeros(1, 1))
    for fmt in FORMATS:
        with pytest.raises(BabelgraphError, match="nothing to export.*lower the thresholds"):
            export(empty, tmp_path / f"empty.{fmt}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_cli_export_and_errors(tmp_path, capsys):
    graph = hand_graph(prompt="a", token="a")
    # graph files refuse non-finite numbers (tests/test_attacks.py); the exporters' own cleaning is tested above
    graph.adjacency = torch.nan_to_num(graph.adjacency, posinf=2.0)
    graph.nodes[1] = dataclasses.replace(graph.nodes[1], activation=0.5)
    graph_file = graph.save(tmp_path / "g.safetensors")
    assert main(["export", str(graph_file), "--format", "html,graphml,gexf,json", "--out", str(tmp_path / "o")]) == 0
    printed = capsys.readouterr().out.split()
    assert [Path(p).name for p in printed] == ["g.html", "g.graphml", "g.gexf", "g.json"]
    assert all(Path(p).stat().st_size > 0 for p in printed)

    assert main(["export", str(graph_file), "--format", "html,pdf"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("babelgraph: error: unknown export format 'pdf'") and err.count("\n") == 1
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    assert main(["export", str(graph_file), "--out", str(blocker)]) == 2
    assert capsys.readouterr().err.startswith("babelgraph: error: cannot write")
    assert main(["build", "x", "--format", "png"]) == 2  # refused before any model is loaded
    assert "unknown export format 'png'" in capsys.readouterr().err


def test_cli_build_writes_the_formats_beside_the_graph(tmp_path, capsys):
    code = main(["build", "Le contraire de", "--out", str(tmp_path), "--name", "g", "--format", "html,json", "--quiet"])
    assert code == 0
    assert [Path(p).name for p in capsys.readouterr().out.split()] == ["g.safetensors", "g.html", "g.json"]
    graph = AttributionGraph.load(tmp_path / "g.safetensors")
    data = json.loads((tmp_path / "g.json").read_text(encoding="utf-8"))
    assert len(data["nodes"]) == len(graph.nodes) and data["metadata"]["prompt"] == "Le contraire de"
