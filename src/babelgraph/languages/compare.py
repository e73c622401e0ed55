"""Multilingual comparison: one pruned graph per language, features aligned across them, tagged with controls.

:func:`compare` traces each language's prompt once, attributes and prunes it, collects for every feature in at
least one pruned graph its evidence in every language (activations and tokens at non-BOS positions, graph
membership, activations on control prompts: :mod:`babelgraph.languages.controls`), tags it
(:mod:`babelgraph.languages.tags`, where the statistics and thresholds are documented), adds its monolinguality
on reference text, and builds the comparison graph (:mod:`babelgraph.languages.comparison_graph`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm

from babelgraph.attribution import attribute
from babelgraph.errors import BabelgraphError
from babelgraph.graph import AttributionGraph
from babelgraph.languages.comparison_graph import comparison_graph, feature_positions
from babelgraph.languages.controls import DEFAULT_N_CONTROLS, auto_controls, prompt_maxima
from babelgraph.languages.reference import REFERENCE_LANGUAGES, feature_statistics
from babelgraph.languages.tags import (
    TAG_MEANINGS,
    TAGS,
    FeatureInfo,
    FeatureKey,
    LanguageEvidence,
    Monolinguality,
    TagRule,
    count_tags,
    tag_counts_sweep,
    tag_feature,
)
from babelgraph.model.replacement import ReplacementModel, Trace, token_strings, tokenize, trace
from babelgraph.pruning import prune

# file names a comparison folder holds: never language codes
RESERVED_LANGUAGE_CODES = ("comparison", "features", "page", "job", "summary", "layers")


# ---- the comparison -------------------------------------------------------------------------------------------
@dataclass
class Comparison:
    """Per-language pruned graphs, the aligned and tagged features, and the comparison graph."""

    prompts: dict[str, str]
    graphs: dict[str, AttributionGraph]
    features: dict[FeatureKey, FeatureInfo]
    graph: AttributionGraph
    rule: TagRule = field(default_factory=TagRule)
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # e.g. why reference statistics or controls are missing
    controls: dict[str, list[str]] = field(default_factory=dict)

    @property
    def languages(self) -> list[str]:
        return list(self.prompts)

    def counts(self) -> dict[str, int]:
        return count_tags(info.tag for info in self.features.values())

    def counts_by_layer(self) -> dict[int, dict[str, int]]:
        """layer -> tag -> number of features, over every layer that has one."""
        table: dict[int, dict[str, int]] = {}
        for info in self.features.values():
            table.setdefault(info.layer, dict.fromkeys(TAGS, 0))[info.tag.tag] += 1
        return dict(sorted(table.items()))

    def robustness(self) -> list[dict[str, Any]]:
        """Tag counts over a grid of thresholds (see :func:`babelgraph.languages.tags.tag_counts_sweep`)."""
        return tag_counts_sweep({k: i.evidence for k, i in self.features.items()}, self.rule)

    def monolinguality_by_tag(self) -> dict[str, dict[str, float | int]]:
        """Median reference-text monolinguality per tag (features with enough evidence): a check of the tags
        against text they never saw (specific tags should sit above shared ones)."""
        out: dict[str, dict[str, float | int]] = {}
        for tag in TAGS:
            scores = sorted(
                i.monolinguality.score
                for i in self.features.values()
                if i.tag.tag == tag and i.monolinguality is not None and i.monolinguality.enough
            )
            if scores:
                out[tag] = {"n": len(scores), "median": scores[len(scores) // 2]}
        return out

    def feature_rows(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per feature, sorted by layer then feature index."""
        rows = []
        for info in sorted(self.features.values(), key=lambda i: (i.layer, i.dictionary_index, i.feature)):
            row = {"id": info.node_id, **info.to_dict()}
            rows.append(row)
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompts": self.prompts,
            "settings": self.settings,
            "counts": self.counts(),
            "counts_by_layer": {str(k): v for k, v in self.counts_by_layer().items()},
            "robustness": self.robustness(),
            "monolinguality_by_tag": self.monolinguality_by_tag(),
            "tag_meanings": dict(TAG_MEANINGS),
            "controls": self.controls,
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
        if lang in RESERVED_LANGUAGE_CODES:
            raise BabelgraphError(f"{lang!r} cannot be a language code: a comparison writes a file of that name")
        if not isinstance(prompt, str) or not prompt.strip():
            raise BabelgraphError(f"the {lang} prompt is empty: give some text for {lang}")
        clean[lang] = prompt
    return clean


def compare(
    model: ReplacementModel,
    prompts: Mapping[str, str],
    *,
    controls: Mapping[str, Sequence[str]] | None = None,
    n_controls: int = DEFAULT_N_CONTROLS,
    seed: int = 0,
    rule: TagRule | None = None,
    node_threshold: float = 0.8,
    edge_threshold: float = 0.98,
    max_feature_nodes: int | None = None,
    prune_rule: str = "babelgraph",
    statistics: bool = True,
    reference_texts: Mapping[str, Sequence[str]] | None = None,
    progress: bool = True,
) -> Comparison:
    """Attribute and prune one graph per language, align the features, tag them, build the comparison graph.

    ``prompts`` maps language codes (at least two) to prompts about one concept. ``controls`` maps languages to
    control prompts (the same wording about other concepts); by default ``n_controls`` are made from the word
    tables (:func:`babelgraph.languages.controls.auto_controls`, seeded by ``seed``). ``rule`` holds the tag
    thresholds. With ``statistics``, each feature also gets its monolinguality and top contexts on reference text
    (the shipped text, or ``reference_texts``).
    """
    started = time.perf_counter()
    rule = rule or TagRule()
    for name in ("active_fraction", "max_control_rate"):
        value = getattr(rule, name)
        if not 0 <= value <= 1:
            raise BabelgraphError(f"{name} must lie in [0, 1], got {value}")
    if rule.active_threshold is not None and not rule.active_threshold >= 0:
        raise BabelgraphError(f"active_threshold must be a number >= 0, got {rule.active_threshold}")
    if n_controls < 0:
        raise BabelgraphError("n_controls must be at least 0")
    prompts = validate_prompts(prompts)
    notes: list[str] = []
    if controls is None:
        controls, notes = auto_controls(model, prompts, n_controls, seed)
    controls = {lang: [str(p) for p in controls.get(lang, [])] for lang in prompts}
    traces: dict[str, Trace] = {}
    for lang, prompt in prompts.items():  # every prompt checked before the slow part
        try:
            tokens, has_bos = tokenize(model, prompt)
            for control in controls[lang]:
                tokenize(model, control)
        except BabelgraphError as exc:
            raise BabelgraphError(f"the {lang} prompt: {exc}") from None
        traces[lang] = trace(model, tokens, has_bos)
    names = [d.name for d in model.dictionaries]
    graphs: dict[str, AttributionGraph] = {}
    for lang in tqdm(prompts, desc="languages", unit="graph", disable=not progress):
        graph = attribute(
            model, prompts[lang], max_feature_nodes=max_feature_nodes, progress=False, traced=traces[lang]
        )
        graphs[lang] = prune(graph, node_threshold=node_threshold, edge_threshold=edge_threshold, rule=prune_rule)
        graphs[lang].metadata["language"] = lang
    control_maxima = {lang: prompt_maxima(model, controls[lang]) if controls[lang] else None for lang in prompts}

    positions = {lang: feature_positions(g, names) for lang, g in graphs.items()}
    keys = sorted(set().union(*(set(p) for p in positions.values())))
    features: dict[FeatureKey, FeatureInfo] = {}
    for key in keys:
        evidence = {
            lang: _evidence(model, traces[lang], key, positions[lang].get(key), control_maxima[lang])
            for lang in prompts
        }
        features[key] = FeatureInfo(
            dictionary_index=key[0],
            feature=key[1],
            dictionary=names[key[0]],
            layer=int(model.dictionaries[key[0]].layer),
            evidence=evidence,
            tag=tag_feature(evidence, rule),
        )
    if statistics and features:
        notes += _add_statistics(model, features, list(prompts), reference_texts)
        if reference_texts is None:  # automatic labels from the shipped reference text
            from babelgraph.languages.labels import label_features

            for g in graphs.values():
                label_features(g, model)
    settings = {
        "node_threshold": node_threshold,
        "edge_threshold": edge_threshold,
        **asdict(rule),
        "n_controls": {lang: len(c) for lang, c in controls.items()},
        "seed": seed,
        "max_feature_nodes": max_feature_nodes,
        "prune_rule": prune_rule,
    }
    graph = comparison_graph(graphs, features)
    comparison = Comparison(prompts, graphs, features, graph, rule, settings, notes, controls)
    comparison.settings["seconds"] = time.perf_counter() - started
    return comparison


def _evidence(
    model: ReplacementModel,
    tr: Trace,
    key: FeatureKey,
    graph_positions: list[int] | None,
    control_maxima: list[torch.Tensor] | None,
) -> LanguageEvidence:
    """One feature's evidence on one language's prompt and controls, BOS excluded."""
    k, f = key
    start = int(tr.has_bos)
    column = tr.activations[k][start:, f].float().cpu()
    where = torch.nonzero(column > 0).flatten()
    strings = token_strings(model, tr.tokens[start:][where]) if len(where) else []
    return LanguageEvidence(
        activation=float(column.max()) if len(column) else 0.0,
        positions=[int(p) + start for p in where],
        tokens=strings,
        values=[float(column[p]) for p in where],
        in_graph=graph_positions is not None,
        graph_positions=list(graph_positions or []),
        controls=[float(v) for v in control_maxima[k][:, f]] if control_maxima is not None else [],
    )


def _add_statistics(
    model: ReplacementModel,
    features: dict[FeatureKey, FeatureInfo],
    languages: list[str],
    texts: Mapping[str, Sequence[str]] | None,
) -> list[str]:
    """Monolinguality and top contexts on reference text; a note for each language without any."""
    available = [
        lang
        for lang in languages
        if (texts is not None and lang in texts) or (texts is None and lang in REFERENCE_LANGUAGES)
    ]
    notes = [
        f"no reference text for {lang}: monolinguality is measured over {', '.join(available)}"
        for lang in languages
        if lang not in available
    ]
    if len(available) < 2:
        return [f"reference statistics need text in two languages; have {', '.join(available) or 'none'}"]
    stats = feature_statistics(model, list(features), languages=tuple(available), texts=texts)
    for key, info in features.items():
        s = stats[key]
        info.monolinguality = Monolinguality(s.score, s.top_language, s.share, s.active_positions, s.enough)
        info.top_contexts = {
            lang: [
                {"text": c.text, "token": c.token, "position": int(c.position), "activation": float(c.activation)}
                for c in contexts
            ]
            for lang, contexts in s.top_contexts.items()
        }
    return notes
