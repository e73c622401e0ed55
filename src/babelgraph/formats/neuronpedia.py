"""Neuronpedia / circuit-tracer graph JSON, with circuit-tracer 0.5.0's semantics, and ``graph-metadata.json``.

**Node ids.** Neuronpedia names a feature ``{layer}_{feature}_{position}``; that names a layer, not a dictionary,
and circuit-tracer's ``jsNodeId`` for an error node (``{layer}_{position}-0``) equals a feature's whenever the
feature index equals the position. babelgraph's scheme keeps Neuronpedia's ids where they are unambiguous and is
unique by construction otherwise:

- Every dictionary gets a *slot*: the number of dictionaries before it (in the model's order) at the same layer;
  every write point (where error nodes live) likewise gets the number of write points before it at its layer.
  With one dictionary per layer, every slot is 0.
- ``offset`` is the smallest power of ten above every dictionary's width (circuit-tracer's convention).
- Feature: ``feature = slot * offset + index``, ``node_id = {layer}_{feature}_{pos}``,
  ``jsNodeId = {layer}_{feature}-{pos}``. Slot 0 gives exactly Neuronpedia's id.
- Error: ``node_id = {layer}_-{slot + 1}_{pos}`` (``-1`` for the usual single write point), ``feature = -1 - slot``,
  ``jsNodeId = ERR_{layer}_{slot}-{pos}``.
- Embedding: ``node_id = E_{token_id}_{pos}``, ``jsNodeId = E_{token_id}-{pos}``.
- Logit: ``node_id = {n_layers + 1}_{token_id}_{pos}``, ``jsNodeId = L_{token_id}-{pos}``.

Feature ``jsNodeId`` starts with a digit and the others with a letter, and features differ in (layer, slot,
index, pos), so no two nodes share an id. :func:`check_model_ids` checks a model description
(``ReplacementModel.describe()``) before any attribution runs: two dictionaries with one name, a dictionary without
a width, or a dictionary layer that reaches the logits' row are refused there, with one line of advice.

**Influence.** ``influence`` is circuit-tracer's *cumulative* influence share
(:func:`babelgraph.formats.common.cumulative_influence`): its viewer keeps the nodes with
``influence <= threshold``, so the most influential nodes have the smallest values. The share is of the total
influence of the graph's nodes (of the unpruned graph's total where pruning recorded it as
``metadata["pruning"]["total_influence"]``). Logits have ``influence: null`` and error, embedding and logit nodes
``activation: null``, as circuit-tracer writes them. ``clerp`` is the feature's automatic label.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from babelgraph.errors import BabelgraphError
from babelgraph.files import atomic_path, write_json
from babelgraph.formats.common import (
    check_not_empty,
    check_size,
    clean_float,
    clean_text,
    comparison_tags,
    cumulative_influence,
    edge_arrays,
    feature_label,
    node_influences,
)
from babelgraph.graph import AttributionGraph, Node

# The Neuronpedia schema and circuit-tracer's viewer know one feature-node type, whatever the dictionary; the
# dictionary's real kind (sae / transcoder / cross-layer transcoder) is written in metadata.info.dictionaries.
_FEATURE_NODE_TYPE = "cross layer transcoder"
METADATA_FILE = "graph-metadata.json"
MAX_METADATA_BYTES = 64 * 1024 * 1024  # an existing graph-metadata.json larger than this is refused, never read


def _token(text: str) -> str:
    """circuit-tracer's ``process_token``: newline, tab and carriage return made visible."""
    return clean_text(text).replace("\n", "⏎").replace("\t", "→").replace("\r", "↵")


class IdPlan:
    """Slots and offset for the id scheme of the module docstring, from a model description or from a graph."""

    def __init__(self, dictionaries: list[tuple[str, int, int]], write_points: list[tuple[str, int]], n_layers: int):
        self.n_layers = n_layers
        names = [name for name, _, _ in dictionaries]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise BabelgraphError(
                f"two dictionaries share the name {dupes[0]!r}, so their nodes cannot be told apart in an export:"
                " give each dictionary its own name (its hook, or a name in the mapping passed to load_model)"
            )
        self.offset = 10 ** max(1, math.ceil(math.log10(max([w for _, _, w in dictionaries] + [2]))))
        self.feature_slot: dict[str, int] = {}
        seen: dict[int, int] = {}
        for name, layer, _ in dictionaries:
            if layer >= n_layers + 1 or layer < 0:
                raise BabelgraphError(
                    f"dictionary {name!r} sits at layer {layer}, outside the model's layers 0..{n_layers - 1}:"
                    " its node ids would collide with the logits' or the embeddings'; check its hook"
                )
            self.feature_slot[name] = seen.get(layer, 0)
            seen[layer] = seen.get(layer, 0) + 1
        self.error_slot: dict[tuple[str, int], int] = {}
        seen = {}
        for name, layer in write_points:
            self.error_slot[(name, layer)] = seen.get(layer, 0)
            seen[layer] = seen.get(layer, 0) + 1

    @classmethod
    def from_description(cls, description: Mapping[str, Any]) -> IdPlan:
        dictionaries = []
        for d in description.get("dictionaries") or []:
            if d.get("width") is None:
                raise BabelgraphError(
                    f"dictionary {d.get('name')!r} has no width in the model description: cannot plan node ids"
                )
            dictionaries.append((str(d.get("name")), int(d.get("layer", 0)), int(d["width"])))
        points = []
        for p in description.get("write_points") or []:
            k = int(p["dictionary"])
            points.append((dictionaries[k][0], int(p["layer"])))
        if not points:  # older descriptions: one write point per dictionary, at its layer
            points = [(name, layer) for name, layer, _ in dictionaries]
        return cls(dictionaries, points, int(description.get("n_layers", 0)))

    @classmethod
    def from_graph(cls, graph: AttributionGraph) -> IdPlan:
        """The plan of the model that made ``graph`` when its description is in the metadata, else one read off
        the nodes (dictionaries in order of first appearance; widths from the largest feature index)."""
        described = graph.metadata.get("model") or {}
        n_layers = _n_layers(graph)
        if described.get("dictionaries") and all(d.get("width") is not None for d in described["dictionaries"]):
            plan = cls.from_description({**described, "n_layers": n_layers})
            if all(n.dictionary in plan.feature_slot for n in graph.nodes if n.kind == "feature"):
                return plan
        widths: dict[tuple[str, int], int] = {}
        points: dict[tuple[str, int], None] = {}
        for node in graph.nodes:
            if node.kind == "feature":
                key = (str(node.dictionary), node.layer)
                widths[key] = max(widths.get(key, 1), int(node.feature or 0) + 1)
            elif node.kind == "error":
                points[(str(node.dictionary), node.layer)] = None
        names: dict[str, tuple[int, int]] = {}
        for (name, layer), width in widths.items():
            names.setdefault(name, (layer, width))
        return cls([(n, lw[0], lw[1]) for n, lw in names.items()], list(points), n_layers)

    def ids(self, graph: AttributionGraph, node: Node) -> tuple[str, str, int]:
        """(node_id, jsNodeId, feature) of one node."""
        if node.kind == "feature":
            slot = self.feature_slot.get(str(node.dictionary), 0)
            feature = slot * self.offset + int(node.feature or 0)
            return (f"{node.layer}_{feature}_{node.position}", f"{node.layer}_{feature}-{node.position}", feature)
        if node.kind == "error":
            slot = self.error_slot.get((str(node.dictionary), node.layer), 0)
            return (
                f"{node.layer}_-{slot + 1}_{node.position}",
                f"ERR_{node.layer}_{slot}-{node.position}",
                -1 - slot,
            )
        token_id = _token_id(graph, node)
        if node.kind == "embedding":
            return f"E_{token_id}_{node.position}", f"E_{token_id}-{node.position}", int(node.position)
        return f"{self.n_layers + 1}_{token_id}_{node.position}", f"L_{token_id}-{node.position}", token_id


def check_model_ids(description: Mapping[str, Any]) -> IdPlan:
    """Check that every node of graphs made with this model (``ReplacementModel.describe()``) gets a unique
    Neuronpedia id; raise :class:`BabelgraphError` with one line of advice if not. Call it before attribution."""
    return IdPlan.from_description(description)


def neuronpedia_ids(graph: AttributionGraph) -> list[str]:
    """``node_id`` of every node (see the module docstring); duplicates are a bug and raise."""
    return [row[0] for row in _checked_ids(graph)]


def _checked_ids(graph: AttributionGraph) -> list[tuple[str, str, int]]:
    plan = IdPlan.from_graph(graph)
    rows = [plan.ids(graph, node) for node in graph.nodes]
    for column, what in ((0, "node_id"), (1, "jsNodeId")):
        seen: dict[str, int] = {}
        for i, row in enumerate(rows):
            if row[column] in seen:
                a, b = graph.nodes[seen[row[column]]], graph.nodes[i]
                raise BabelgraphError(
                    f"cannot write Neuronpedia JSON: nodes {a.id!r} and {b.id!r} both get {what} {row[column]!r};"
                    " the graph has two nodes of one kind at one (dictionary, position, feature): rebuild it"
                )
            seen[row[column]] = i
    return rows


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


def graph_metadata(graph: AttributionGraph, slug: str | None = None) -> dict[str, Any]:
    """The ``metadata`` block: circuit-tracer's fields, plus babelgraph's version, pruning settings and scores."""
    from babelgraph import __version__

    model = graph.metadata.get("model") or {}
    pruning = graph.metadata.get("pruning") or {}
    dictionaries = model.get("dictionaries", [])
    return {
        "slug": clean_text(slug or "babelgraph"),
        "scan": clean_text(model.get("model", "unknown")),
        "transcoder_list": [clean_text(d.get("name", "")) for d in dictionaries],
        "prompt_tokens": [_token(t) for t in graph.token_strings],
        "prompt": clean_text(graph.prompt),
        "node_threshold": clean_float(pruning.get("node_threshold", 0.8)) if graph.metadata.get("pruned") else None,
        "schema_version": 1,
        "info": {
            "generator": {"name": "babelgraph", "version": clean_text(__version__)},
            "pruning": {
                k: clean_float(v) if isinstance(v, float) else v
                for k, v in pruning.items()
                if isinstance(v, (int, float, str, bool))
            },
            "pruned": bool(graph.metadata.get("pruned", False)),
            "scores": json.loads(json.dumps(graph.metadata.get("scores") or {}, default=clean_float)),
            "dictionaries": [
                {"name": clean_text(d.get("name", "")), "kind": clean_text(d.get("kind", "")), "layer": d.get("layer")}
                for d in dictionaries
            ],
            "influence": "cumulative influence share, as circuit-tracer: keep nodes with influence <= threshold",
        },
    }


def neuronpedia_json(graph: AttributionGraph, slug: str | None = None) -> dict[str, Any]:
    """The graph in the schema circuit-tracer writes for Neuronpedia (metadata, qParams, nodes, links)."""
    rows = _checked_ids(graph)
    edges = edge_arrays(graph)
    influences = node_influences(graph, edges)
    total = (graph.metadata.get("pruning") or {}).get("total_influence")
    cumulative = cumulative_influence(influences, total)
    tags = comparison_tags(graph)
    target_prob = max((clean_float(n.probability) for n in graph.logit_nodes), default=0.0)
    nodes = []
    target_done = False
    for i, (node, (node_id, js_id, feature)) in enumerate(zip(graph.nodes, rows)):
        entry: dict[str, Any] = {
            "node_id": node_id,
            "feature": feature,
            "layer": str(node.layer),
            "ctx_idx": int(node.position),
            "feature_type": "",
            "token_prob": 0.0,
            "is_target_logit": False,
            "run_idx": 0,
            "reverse_ctx_idx": 0,
            "jsNodeId": js_id,
            "clerp": "",
            "influence": cumulative[i],
            "activation": None,
        }
        if node.kind == "feature":
            tag = f"[{tags[i][0]}] " if tags and tags[i][0] else ""
            entry.update(
                feature_type=_FEATURE_NODE_TYPE,
                activation=clean_float(node.activation),
                clerp=tag + feature_label(node),
            )
        elif node.kind == "error":
            entry.update(feature_type="mlp reconstruction error")
        elif node.kind == "embedding":
            entry.update(layer="E", feature_type="embedding")
        else:
            prob = clean_float(node.probability)
            is_target = not target_done and prob == target_prob
            target_done = target_done or is_target
            entry.update(
                layer=str(_n_layers(graph) + 1),
                feature_type="logit",
                token_prob=prob,
                is_target_logit=is_target,
                influence=None,
                clerp=f'Output "{_token(node.token)}" (p={prob:.3f})',
            )
        nodes.append(entry)
    sources, targets, weights = edges
    links = [
        {"source": rows[s][0], "target": rows[t][0], "weight": w}
        for s, t, w in zip(sources.tolist(), targets.tolist(), weights.tolist())
    ]
    q_params = {"pinnedIds": [], "supernodes": [], "linkType": "both", "clickedId": "", "sg_pos": ""}
    return {"metadata": graph_metadata(graph, slug), "qParams": q_params, "nodes": nodes, "links": links}


def add_graph_metadata(metadata: dict[str, Any], folder: Path) -> Path:
    """Add (or replace, by slug) one graph's entry in ``folder/graph-metadata.json``, the index circuit-tracer's
    viewer reads (``{"graphs": [...]}``); other graphs' entries are kept. Written atomically."""
    path = folder / METADATA_FILE
    graphs: list[Any] = []
    if path.is_file():
        if path.stat().st_size > MAX_METADATA_BYTES:
            raise BabelgraphError(f"{path} is larger than {MAX_METADATA_BYTES >> 20} MB: not a graph index; move it")
        try:
            existing = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BabelgraphError(f"{path} is not valid JSON ({exc}): fix or remove it, then export again") from None
        if not isinstance(existing, dict) or not isinstance(existing.get("graphs", []), list):
            raise BabelgraphError(f'{path} is not a graph index ({{"graphs": [...]}}): fix or remove it')
        graphs = [
            g for g in existing.get("graphs", []) if not (isinstance(g, dict) and g.get("slug") == metadata["slug"])
        ]
    graphs.append(metadata)
    return write_json({"graphs": graphs}, path)


def write(graph: AttributionGraph, path: str | Path) -> Path:
    """Neuronpedia graph JSON (UTF-8, no NaN), and its entry in ``graph-metadata.json`` beside it."""
    check_not_empty(graph)
    check_size(graph, "Neuronpedia JSON")
    path = Path(path)
    data = neuronpedia_json(graph, slug=path.stem)
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as out:
        # streamed: one link per line, so memory holds the link list once, never its text as well
        head = {k: v for k, v in data.items() if k != "links"}
        text = json.dumps(head, ensure_ascii=False, indent=1, allow_nan=False)
        out.write(text[: text.rindex("}")].rstrip() + ',\n "links": [')
        for k, link in enumerate(data["links"]):
            out.write(("\n  " if k == 0 else ",\n  ") + json.dumps(link, allow_nan=False))
        out.write("\n ]\n}\n")
    add_graph_metadata(data["metadata"], path.parent)
    return path
