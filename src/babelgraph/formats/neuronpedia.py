"""Neuronpedia / circuit-tracer graph JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babelgraph.errors import BabelgraphError
from babelgraph.files import write_json
from babelgraph.formats.common import check_not_empty, clean_float, clean_text, signed_edges
from babelgraph.graph import AttributionGraph, Node

# The Neuronpedia schema and circuit-tracer's viewer know one feature-node type, whatever the dictionary; the
# dictionary's real kind (sae / transcoder / cross-layer transcoder) is written in metadata.info.dictionaries.
_FEATURE_NODE_TYPE = "cross layer transcoder"


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
                feature_type=_FEATURE_NODE_TYPE,
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
    links = [{"source": ids[s], "target": ids[t], "weight": w} for s, t, w in signed_edges(graph)]
    dictionaries = [clean_text(d.get("name", "")) for d in model.get("dictionaries", [])]
    metadata = {
        "slug": clean_text(slug or "babelgraph"),
        "scan": clean_text(model.get("model", "unknown")),
        "transcoder_list": dictionaries,
        "prompt_tokens": [clean_text(t) for t in graph.token_strings],
        "prompt": clean_text(graph.prompt),
        "node_threshold": clean_float((graph.metadata.get("pruning") or {}).get("node_threshold", 0.8)),
        "schema_version": 1,
        "info": {
            "generator": {"name": "babelgraph"},
            "dictionaries": [
                {"name": clean_text(d.get("name", "")), "kind": clean_text(d.get("kind", "")), "layer": d.get("layer")}
                for d in model.get("dictionaries", [])
            ],
        },
    }
    q_params = {"pinnedIds": [], "supernodes": [], "linkType": "both", "clickedId": "", "sg_pos": ""}
    return {"metadata": metadata, "qParams": q_params, "nodes": nodes, "links": links}


def write(graph: AttributionGraph, path: str | Path) -> Path:
    """Neuronpedia graph JSON (UTF-8, no NaN)."""
    check_not_empty(graph)
    path = Path(path)
    data = neuronpedia_json(graph, slug=path.stem)
    return write_json(data, path)
