"""The comparison graph: one graph over every language, features collapsed over positions.

It has one node per feature and each language's error, embedding and logit nodes with ids prefixed by the
language (``en:emb_3``). Each language's edges are kept in ``metadata["edge_weights"]`` as
``{lang: [[target, source, weight], ...]}`` (weights summed over collapsed positions); the adjacency is their mean
over the languages where the edge exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from babelgraph.errors import BabelgraphError
from babelgraph.graph import AttributionGraph, Node
from babelgraph.languages.tags import FeatureInfo, FeatureKey, tag_features


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
    for lang, g in graphs.items():
        for node, key in zip(g.nodes, node_keys[lang]):
            if key is not None and node.influence is not None:
                influences[key] = max(influences.get(key, node.influence), node.influence)

    nodes: list[Node] = []
    node_index: dict[str, int] = {}
    meta_features: dict[str, dict[str, Any]] = {}
    for info in sorted(features.values(), key=lambda i: (i.layer, i.key)):
        spots = [offsets[lang] + p for lang, ps in info.positions.items() for p in ps]
        first_tokens = [f"{lang}:{graphs[lang].token_strings[ps[0]]}" for lang, ps in info.positions.items() if ps]
        node_index[info.node_id] = len(nodes)
        nodes.append(
            Node(
                id=info.node_id,
                kind="feature",
                layer=info.layer,
                position=round(sum(spots) / len(spots)) if spots else 0,
                activation=max(info.activations.values(), default=0.0),
                token=" | ".join(first_tokens),
                feature=info.feature,
                dictionary=info.dictionary,
                influence=influences.get(info.key),
            )
        )
        meta_features[info.node_id] = {
            "tag": info.tag,
            "languages": list(info.languages),
            "active_elsewhere": list(info.active_elsewhere),
            "activations": dict(info.activations),
            "positions": {lang: list(p) for lang, p in info.positions.items()},
            "monolinguality": info.monolinguality,
            "top_contexts": info.top_contexts,
            "threshold": info.threshold,
        }
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


def _features_from_graphs(
    graphs: Mapping[str, AttributionGraph], node_keys: Mapping[str, list[FeatureKey | None]]
) -> dict[FeatureKey, FeatureInfo]:
    """Feature infos from graphs alone (activation: max over a language's nodes of the feature, else 0)."""
    described: dict[int, tuple[str, int]] = {}
    activations: dict[FeatureKey, dict[str, float]] = {}
    positions: dict[str, dict[FeatureKey, list[int]]] = {lang: {} for lang in graphs}
    for lang, g in graphs.items():
        for node, key in zip(g.nodes, node_keys[lang]):
            if key is None:
                continue
            described[key[0]] = (node.dictionary or "", node.layer)
            acts = activations.setdefault(key, dict.fromkeys(graphs, 0.0))
            acts[lang] = max(acts[lang], float(node.activation))
            positions[lang].setdefault(key, []).append(node.position)
    tags = tag_features({lang: set(p) for lang, p in positions.items()}, activations)
    return {
        key: FeatureInfo(
            dictionary_index=key[0],
            feature=key[1],
            dictionary=described[key[0]][0],
            layer=described[key[0]][1],
            tag=t.tag,
            languages=list(t.languages),
            active_elsewhere=list(t.active_elsewhere),
            threshold=t.threshold,
            activations=activations[key],
            positions={lang: sorted(positions[lang][key]) for lang in graphs if key in positions[lang]},
        )
        for key, t in tags.items()
    }
