"""The tag rule and the per-feature record a comparison keeps (see :mod:`babelgraph.languages.compare`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Tag = Literal["multilingual", "language-specific", "mixed"]
TAGS: tuple[Tag, ...] = ("multilingual", "language-specific", "mixed")
FeatureKey = tuple[int, int]  # (dictionary index, feature index)
DEFAULT_ACTIVE_FRACTION = 0.1


@dataclass
class FeatureTag:
    """A feature's tag, the languages behind it, and the activity threshold it was judged against."""

    tag: Tag
    languages: tuple[str, ...]  # multilingual: the graphs it is in; otherwise its one graph's language
    active_elsewhere: tuple[str, ...]  # other languages whose prompt activates it at or above the threshold
    threshold: float


def tag_features(
    in_graph: Mapping[str, set[FeatureKey]],
    activations: Mapping[FeatureKey, Mapping[str, float]],
    *,
    active_fraction: float = DEFAULT_ACTIVE_FRACTION,
    active_threshold: float | None = None,
) -> dict[FeatureKey, FeatureTag]:
    """Tag every feature in at least one language's pruned graph (see the module docstring for the rules).

    ``in_graph`` maps language -> features in its pruned graph; ``activations`` maps feature -> language -> max
    activation over that language's prompt (a missing language counts as 0). Language order follows ``in_graph``.
    """
    languages = list(in_graph)
    keys = sorted(set().union(*in_graph.values())) if in_graph else []
    tags: dict[FeatureKey, FeatureTag] = {}
    for key in keys:
        acts = activations.get(key, {})
        present = tuple(lang for lang in languages if key in in_graph[lang])
        own = float(acts.get(present[0], 0.0))
        threshold = float(active_threshold) if active_threshold is not None else active_fraction * abs(own)
        elsewhere = tuple(
            lang
            for lang in languages
            if lang not in present and float(acts.get(lang, 0.0)) >= threshold and float(acts.get(lang, 0.0)) > 0
        )
        if len(present) >= 2:
            tag: Tag = "multilingual"
        else:
            tag = "mixed" if elsewhere else "language-specific"
        tags[key] = FeatureTag(tag, present, elsewhere, threshold)
    return tags


@dataclass
class FeatureInfo:
    """Everything the page and the summary show about one aligned feature."""

    dictionary_index: int
    feature: int
    dictionary: str
    layer: int
    tag: Tag
    languages: list[str]
    active_elsewhere: list[str]
    threshold: float
    activations: dict[str, float]  # language -> max activation over that language's prompt
    positions: dict[str, list[int]]  # language -> positions where it is in that language's pruned graph
    monolinguality: dict[str, float] | None = None
    top_contexts: dict[str, list[dict[str, Any]]] | None = None

    @property
    def key(self) -> FeatureKey:
        return (self.dictionary_index, self.feature)

    @property
    def node_id(self) -> str:
        return f"feat_{self.dictionary_index}_{self.feature}"

    @property
    def label(self) -> str:
        return f"L{self.layer} #{self.feature}"
