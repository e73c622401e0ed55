"""Automatic feature labels from reference-text evidence: ``L2 #123 · "small"/"petit" (en)``.

A label names the feature (layer and index), the tokens it fires on most in the reference text
(:func:`babelgraph.languages.reference.feature_statistics`: the top activating token of each language, strongest
first, at most three) and the language with the largest mean activation. Every export shows it: the HTML canvas,
Neuronpedia ``clerp`` and the GraphML/GEXF label.
"""

from __future__ import annotations

from typing import Any

from babelgraph.errors import BabelgraphError
from babelgraph.formats.common import visible_token
from babelgraph.graph import AttributionGraph

MAX_TOKENS = 3
MAX_TOKEN_CHARS = 12


def label_from_statistics(layer: int, feature: int, stats: Any) -> str:
    """``L{layer} #{feature} · "tok"/"tok" (lang)`` from one :class:`FeatureStats` (no evidence: "silent")."""
    tokens: list[tuple[float, str]] = []
    for contexts in (stats.top_contexts or {}).values():
        if contexts:
            tokens.append((contexts[0].activation, visible_token(contexts[0].token, MAX_TOKEN_CHARS)))
    tokens.sort(key=lambda item: -item[0])
    unique = list(dict.fromkeys(token for _, token in tokens))[:MAX_TOKENS]
    means = stats.mean_activation or {}
    if not unique or not any(v > 0 for v in means.values()):
        return f"L{layer} #{feature} · (silent on reference text)"
    language = max(means, key=lambda lang: means[lang])
    return f"L{layer} #{feature} · " + "/".join(f'"{t}"' for t in unique) + f" ({language})"


def label_features(graph: AttributionGraph, model: Any, overwrite: bool = False) -> AttributionGraph:
    """Set ``node.label`` of every feature node of ``graph`` (in place; returns the graph) from the reference text.

    ``model`` is the :class:`~babelgraph.model.replacement.ReplacementModel` that built the graph; a feature's
    dictionary index is the position of ``node.dictionary`` in ``[d.name for d in model.dictionaries]``. Labels
    already set are kept unless ``overwrite``. Statistics are cached per model (see ``babelgraph.reference``).
    """
    from babelgraph.languages.reference import feature_statistics

    names = [d.name for d in model.dictionaries]
    wanted: dict[tuple[int, int], list[int]] = {}
    for i, node in enumerate(graph.nodes):
        if node.kind != "feature" or (node.label and not overwrite):
            continue
        if node.dictionary not in names:
            raise BabelgraphError(
                f"node {node.id!r} comes from dictionary {node.dictionary!r}, which this model does not have:"
                " label a graph with the model that built it"
            )
        wanted.setdefault((names.index(node.dictionary), int(node.feature or 0)), []).append(i)
    if not wanted:
        return graph
    stats = feature_statistics(model, list(wanted), top_k=1)
    for key, members in wanted.items():
        for i in members:
            node = graph.nodes[i]
            node.label = label_from_statistics(node.layer, int(node.feature or 0), stats[key])
    return graph
