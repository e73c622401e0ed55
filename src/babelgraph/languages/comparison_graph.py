"""The comparison graph: one graph over every language, each feature one node.

It has one node per feature and each language's error, embedding and logit nodes with ids prefixed by the
language (``en:emb_3``). Each language's edges are kept in ``metadata["edge_weights"]`` as
``{lang: [[target, source, weight], ...]}`` (weights summed over collapsed positions); the adjacency is their mean
over the languages where the edge exists. The languages' token rows lie side by side; a feature node sits at a
position where it fires (:func:`_anchor`), and ``metadata["features"]`` holds each feature's
:class:`~babelgraph.languages.tags.FeatureInfo` (tag, evidence, monolinguality) as a dict.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from babelgraph.errors import BabelgraphError
from babelgraph.graph import AttributionGraph, Node
from babelgraph.languages.tags import FeatureInfo, FeatureKey, LanguageEvidence, tag_feature


def _dictionary_indices(graph: AttributionGraph) -> dict[str, int]:
    """Dictionary name -> index: from the model description in the metadata, else the feature node ids."""
    described = (graph.metadata.get("model") or {}).get("dictionaries") or []
    if described:
        return {d["name"]: i for i, d in enumerate(described)}
    indices: dict[str, int] = {}
    for node in graph.nodes:
        match = re.fullmatch(r"feat_(\d+)_\d+_\d+", node.id)
        if node.kind == "feature" and match and node.dictionary is not None:
            indices.setdefault(node.dictionary, int(match.group(1)))
    return indices


def _node_keys(graph: AttributionGraph, names: Sequence[str] | None = None) -> list[FeatureKey | None]:
    """Per node: its (dictionary index, feature) if it is a feature node, else ``None``."""
    index = {name: i for i, name in enumerate(names)} if names is not None else _dictionary_indices(graph)
    keys: list[FeatureKey | None] = []
    for node in graph.nodes:
        if node.kind != "feature" or node.feature is None:
            keys.append(None)
        elif node.dictionary not in index:
            raise BabelgraphError(f"feature node {node.id!r} names an unknown dictionary {node.dictionary!r}")
        else:
            keys.append((index[node.dictionary], int(node.feature)))
    return keys


def feature_positions(graph: AttributionGraph, names: Sequence[str] | None = None) -> dict[FeatureKey, list[int]]:
    """(dictionary index, feature) -> sorted positions of that feature's nodes in ``graph``."""
    found: dict[FeatureKey, list[int]] = {}
    for node, key in zip(graph.nodes, _node_keys(graph, names)):
        if key is not None:
            found.setdefault(key, []).append(node.position)
    return {key: sorted(p) for key, p in found.items()}


def comparison_graph(
    graphs: Mapping[str, AttributionGraph], features: Mapping[FeatureKey, FeatureInfo] | None = None
) -> AttributionGraph:
    """One graph over every language: features collapsed over positions, other nodes kept per language.

    Without ``features`` (e.g. hand-built graphs) they are derived from the graphs alone: a feature's activation
    in a language is the max over its nodes there, 0 where it is not in that graph.
    """
    languages = list(graphs)
    if len(languages) < 2:
        raise BabelgraphError("a comparison graph needs graphs in at least two languages")
    node_keys = {lang: _node_keys(g) for lang, g in graphs.items()}
    if features is None:
        features = _features_from_graphs(graphs, node_keys)
    offsets: dict[str, int] = {}
    tokens: list[int] = []
    strings: list[str] = []
    for lang, g in graphs.items():
        offsets[lang] = len(strings)
        tokens += list(g.tokens)
        strings += [f"{lang}:{s}" for s in g.token_strings]
    influences: dict[FeatureKey, float] = {}
    labels: dict[FeatureKey, str] = {}
    for lang, g in graphs.items():
        for node, key in zip(g.nodes, node_keys[lang]):
            if key is not None and node.influence is not None:
                influences[key] = max(influences.get(key, node.influence), node.influence)
            if key is not None and node.label:
                labels.setdefault(key, node.label)

    nodes: list[Node] = []
    node_index: dict[str, int] = {}
    meta_features: dict[str, dict[str, Any]] = {}
    for info in sorted(features.values(), key=lambda i: (i.layer, i.key)):
        lang, position = _anchor(info)
        node_index[info.node_id] = len(nodes)
        nodes.append(
            Node(
                id=info.node_id,
                kind="feature",
                layer=info.layer,
                position=offsets[lang] + position,
                activation=max(info.activations.values(), default=0.0),
                token=f"{lang}:{graphs[lang].token_strings[position]}",
                feature=info.feature,
                dictionary=info.dictionary,
                influence=influences.get(info.key),
                label=labels.get(info.key),
            )
        )
        meta_features[info.node_id] = info.to_dict()
    node_language: dict[str, str] = {}
    for kind in ("error", "embedding", "logit"):
        for lang, g in graphs.items():
            for node in g.nodes:
                if node.kind == kind:
                    new_id = f"{lang}:{node.id}"
                    node_index[new_id] = len(nodes)
                    node_language[new_id] = lang
                    nodes.append(Node(**{**node.to_dict(), "id": new_id, "position": offsets[lang] + node.position}))

    n = len(nodes)
    total = torch.zeros(n, n, dtype=torch.float64)
    count = torch.zeros(n, n, dtype=torch.float64)
    edge_weights: dict[str, list[list[float]]] = {}
    for lang, g in graphs.items():
        ids = [
            f"feat_{key[0]}_{key[1]}" if key is not None else f"{lang}:{node.id}"
            for node, key in zip(g.nodes, node_keys[lang])
        ]
        mapping = torch.tensor([node_index[i] for i in ids], dtype=torch.long)
        adjacency = g.adjacency.detach().to("cpu", torch.float64)
        targets, sources = torch.nonzero(adjacency, as_tuple=True)
        weights = torch.zeros(n * n, dtype=torch.float64)
        weights.index_add_(0, mapping[targets] * n + mapping[sources], adjacency[targets, sources])
        weights = weights.view(n, n)
        weights.fill_diagonal_(0.0)  # a feature feeding itself at a later position is no edge between nodes
        present = weights != 0
        total += weights
        count += present
        t_idx, s_idx = torch.nonzero(present, as_tuple=True)
        values = weights[t_idx, s_idx].tolist()
        edge_weights[lang] = [[t, s, w] for t, s, w in zip(t_idx.tolist(), s_idx.tolist(), values)]
    metadata = {
        "model": graphs[languages[0]].metadata.get("model"),
        "pruned": True,
        "comparison": {
            "languages": languages,
            "prompts": {lang: g.prompt for lang, g in graphs.items()},
            "offsets": offsets,
        },
        "features": meta_features,
        "node_language": node_language,
        "edge_weights": edge_weights,
    }
    prompt = " | ".join(f"{lang}: {g.prompt}" for lang, g in graphs.items())
    adjacency = (total / count.clamp_min(1.0)).float()
    return AttributionGraph(prompt, tokens, strings, nodes, adjacency, metadata)


def _anchor(info: FeatureInfo) -> tuple[str, int]:
    """Where a feature node is drawn: at a position where it really fires, in the language where it is in the graph
    with its strongest activation (never an average over languages, which lands on an unrelated token)."""
    best: tuple[float, str, int] | None = None
    for lang, e in info.evidence.items():
        for p in e.graph_positions:
            value = e.values[e.positions.index(p)] if p in e.positions else e.activation
            if best is None or value > best[0]:
                best = (value, lang, p)
    if best is None:  # not in any graph (cannot happen for a comparison's features): its strongest position
        lang = max(info.evidence, key=lambda lang: info.evidence[lang].activation)
        e = info.evidence[lang]
        return lang, e.positions[e.values.index(max(e.values))] if e.positions else 0
    return best[1], best[2]


def _features_from_graphs(
    graphs: Mapping[str, AttributionGraph], node_keys: Mapping[str, list[FeatureKey | None]]
) -> dict[FeatureKey, FeatureInfo]:
    """Feature infos from graphs alone (hand-built or loaded graphs, no model): the evidence is the graph nodes
    (no control prompts, so every tag is ``unclear`` with that reason)."""
    described: dict[int, tuple[str, int]] = {}
    evidence: dict[FeatureKey, dict[str, LanguageEvidence]] = {}
    for lang, g in graphs.items():
        for node, key in zip(g.nodes, node_keys[lang]):
            if key is None:
                continue
            described[key[0]] = (node.dictionary or "", node.layer)
            per_lang = evidence.setdefault(key, {name: LanguageEvidence(0.0) for name in graphs})
            e = per_lang[lang]
            e.activation = max(e.activation, float(node.activation))
            e.positions.append(node.position)
            e.tokens.append(g.token_strings[node.position])
            e.values.append(float(node.activation))
            e.in_graph = True
            e.graph_positions.append(node.position)
    return {
        key: FeatureInfo(key[0], key[1], described[key[0]][0], described[key[0]][1], e, tag_feature(e))
        for key, e in evidence.items()
    }
