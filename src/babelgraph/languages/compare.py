"""Multilingual comparison: one pruned graph per language, features aligned across them, and tagged.

A feature is identified by ``(dictionary index, feature index)``; its positions differ across languages, so
alignment ignores positions (DESIGN.md, "Multilingual tagging"). Tags, decided by :func:`tag_features`:

- ``multilingual``: in the pruned graphs of at least two languages (``languages`` lists them);
- ``language-specific``: in exactly one pruned graph, and its activation on every other language's prompt
  (max over all positions) stays below the activity threshold;
- ``mixed``: in exactly one pruned graph but active at or above the threshold on another language's prompt:
  it fires there but is not part of that language's circuit (DESIGN.md's "shared-inactive" evidence).

The activity threshold is ``active_threshold`` when given (absolute), else ``active_fraction`` (default 0.1) of
the feature's activation in its own language: "near zero" relative to how strongly the feature fires where it
matters, which works whatever the dictionaries' activation scale.

The comparison graph (:func:`comparison_graph`) has one node per feature (collapsed over positions) and each
language's error, embedding and logit nodes with ids prefixed by the language (``en:emb_3``). Each language's
edges are kept in ``metadata["edge_weights"]`` as ``{lang: [[target, source, weight], ...]}`` (weights summed over
collapsed positions); the adjacency is their mean over the languages where the edge exists. Node x positions are
laid out with the languages' token rows side by side (``token_strings`` concatenated), a feature at the mean of
its positions there, so every exported format (and Neuronpedia ids) stays unambiguous.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from tqdm.auto import tqdm

from babelgraph.attribution import attribute
from babelgraph.errors import BabelgraphError
from babelgraph.graph import AttributionGraph
from babelgraph.languages.comparison_graph import comparison_graph, feature_positions
from babelgraph.languages.reference import feature_statistics
from babelgraph.languages.tags import DEFAULT_ACTIVE_FRACTION, TAGS, FeatureInfo, FeatureKey, tag_features
from babelgraph.model.replacement import ReplacementModel, tokenize, trace
from babelgraph.pruning import prune


# ---- the comparison -------------------------------------------------------------------------------------------
@dataclass
class Comparison:
    """Per-language pruned graphs, the aligned and tagged features, and the comparison graph."""

    prompts: dict[str, str]
    graphs: dict[str, AttributionGraph]
    features: dict[FeatureKey, FeatureInfo]
    graph: AttributionGraph
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # e.g. why reference statistics are missing

    @property
    def languages(self) -> list[str]:
        return list(self.prompts)

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(TAGS, 0)
        for info in self.features.values():
            counts[info.tag] += 1
        return counts

    def counts_by_layer(self) -> dict[int, dict[str, int]]:
        """layer -> tag -> number of features, over every layer that has one."""
        table: dict[int, dict[str, int]] = {}
        for info in self.features.values():
            table.setdefault(info.layer, dict.fromkeys(TAGS, 0))[info.tag] += 1
        return dict(sorted(table.items()))

    def feature_rows(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per feature, sorted by layer then feature index."""
        rows = []
        for info in sorted(self.features.values(), key=lambda i: (i.layer, i.dictionary_index, i.feature)):
            row = asdict(info)
            row["id"] = info.node_id
            rows.append(row)
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompts": self.prompts,
            "settings": self.settings,
            "counts": self.counts(),
            "counts_by_layer": {str(k): v for k, v in self.counts_by_layer().items()},
            "features": self.feature_rows(),
            "notes": self.notes,
        }


def validate_prompts(prompts: Mapping[str, str]) -> dict[str, str]:
    if len(prompts) < 2:
        have = ", ".join(prompts) or "none"
        raise BabelgraphError(f"a comparison needs prompts in at least two languages (got {have})")
    clean = {}
    for lang, prompt in prompts.items():
        if not isinstance(lang, str) or not re.fullmatch(r"[A-Za-z][\w-]{0,15}", lang):
            raise BabelgraphError(f"bad language code {lang!r}: use letters, digits, '-' or '_', e.g. en or pt-BR")
        if not isinstance(prompt, str) or not prompt.strip():
            raise BabelgraphError(f"the {lang} prompt is empty: give some text for {lang}")
        clean[lang] = prompt
    return clean


def compare(
    model: ReplacementModel,
    prompts: Mapping[str, str],
    *,
    node_threshold: float = 0.8,
    edge_threshold: float = 0.98,
    active_fraction: float = DEFAULT_ACTIVE_FRACTION,
    active_threshold: float | None = None,
    max_feature_nodes: int | None = None,
    statistics: bool = True,
    progress: bool = True,
) -> Comparison:
    """Attribute and prune one graph per language, align the features, tag them, build the comparison graph.

    ``prompts`` maps language codes (any, at least two) to prompts. With ``statistics`` and the reference module
    installed, each feature also gets its monolinguality and top contexts on the reference text. Each language
    is traced once more besides its attribution (cheap) to read every feature's activation at every position.
    """
    started = time.perf_counter()
    if active_fraction < 0 or (active_threshold is not None and active_threshold < 0):
        raise BabelgraphError("active_fraction and active_threshold must be at least 0")
    prompts = validate_prompts(prompts)
    tokenized = {}
    for lang, prompt in prompts.items():  # every prompt checked before the slow part
        try:
            tokenized[lang] = tokenize(model, prompt)
        except BabelgraphError as exc:
            raise BabelgraphError(f"the {lang} prompt: {exc}") from None
    names = [d.name for d in model.dictionaries]
    graphs: dict[str, AttributionGraph] = {}
    traces = {}
    for lang in tqdm(prompts, desc="languages", unit="graph", disable=not progress):
        tokens, has_bos = tokenized[lang]
        traces[lang] = trace(model, tokens, has_bos)
        graph = attribute(model, prompts[lang], max_feature_nodes=max_feature_nodes, progress=False)
        graphs[lang] = prune(graph, node_threshold=node_threshold, edge_threshold=edge_threshold)
        graphs[lang].metadata["language"] = lang

    positions = {lang: feature_positions(g, names) for lang, g in graphs.items()}
    in_graph = {lang: set(found) for lang, found in positions.items()}
    keys = sorted(set().union(*in_graph.values()))
    activations = {
        key: {lang: float(traces[lang].activations[key[0]][:, key[1]].max()) for lang in prompts} for key in keys
    }
    tags = tag_features(in_graph, activations, active_fraction=active_fraction, active_threshold=active_threshold)
    features: dict[FeatureKey, FeatureInfo] = {}
    for key in keys:
        t = tags[key]
        features[key] = FeatureInfo(
            dictionary_index=key[0],
            feature=key[1],
            dictionary=names[key[0]],
            layer=int(model.dictionaries[key[0]].layer),
            tag=t.tag,
            languages=list(t.languages),
            active_elsewhere=list(t.active_elsewhere),
            threshold=t.threshold,
            activations=activations[key],
            positions={lang: positions[lang][key] for lang in prompts if key in positions[lang]},
        )
    notes = _add_statistics(model, features, list(prompts)) if statistics and features else []
    settings = {
        "node_threshold": node_threshold,
        "edge_threshold": edge_threshold,
        "active_fraction": active_fraction,
        "active_threshold": active_threshold,
        "max_feature_nodes": max_feature_nodes,
    }
    comparison = Comparison(prompts, graphs, features, comparison_graph(graphs, features), settings, notes)
    comparison.settings["seconds"] = time.perf_counter() - started
    return comparison


def _add_statistics(
    model: ReplacementModel, features: dict[FeatureKey, FeatureInfo], languages: list[str]
) -> list[str]:
    """Monolinguality and top contexts from the shipped reference text; a note when a language has none."""
    notes: list[str] = []
    try:
        stats = feature_statistics(model, list(features), languages=tuple(languages))
    except (BabelgraphError, KeyError, ValueError) as exc:  # e.g. no reference text for a language: use the rest
        known = [lang for lang in languages if lang in ("en", "fr", "zh")]
        if len(known) < 2 or len(known) == len(languages):
            return [f"reference statistics unavailable: {exc}"]
        try:
            stats = feature_statistics(model, list(features), languages=tuple(known))
        except (BabelgraphError, KeyError, ValueError) as again:
            return [f"reference statistics unavailable: {again}"]
        notes.append(f"reference statistics for {', '.join(known)} only: {exc}")
    for key, info in features.items():
        s = stats.get(key)
        if s is None:
            continue
        info.monolinguality = {k: float(v) for k, v in s.monolinguality.items()}
        info.top_contexts = {
            lang: [
                {"text": c.text, "token": c.token, "position": int(c.position), "activation": float(c.activation)}
                for c in contexts
            ]
            for lang, contexts in s.top_contexts.items()
        }
    return notes
