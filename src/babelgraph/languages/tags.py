"""Tags that say what a feature stands for across languages, decided from evidence with controls.

A comparison attributes one prompt per language for the same concept (``small`` / ``petit`` / ``小``). A feature
is identified by ``(dictionary index, feature index)``; its positions differ across languages. For each feature in
at least one language's pruned graph, and each language, the evidence is (BOS excluded everywhere: its state is
the same in every prompt):

- its **activation** on that language's concept prompt: the max over non-BOS positions, with every position where
  it fires, the token there and its activation;
- whether it is in that language's **pruned graph**;
- its max activation on each **control prompt** of that language: the same template filled with other concepts
  (or prompts the user gives).

Two statistics, each with a threshold (:class:`TagRule`):

- **active** on a prompt: max activation >= ``active_fraction`` (default 0.1) x the feature's strongest activation
  over the compared concept prompts (or an absolute ``active_threshold``);
- **control rate** in a language: the share of its control prompts on which the feature is active. A feature is
  **concept-selective** in a language when it is active on the concept prompt and its control rate is at most
  ``max_control_rate`` (default 0.25); **generic** there when its control rate is higher, whether or not it fires
  on this concept's prompt (it fires for most concepts: a task or format feature, such as the closing quote every
  prompt has).

The tag combines the two axes, language scope and role:

================== ====================================================================================
``shared-concept``   concept-selective in two or more languages (the multilingual feature for *this* idea)
``specific-concept`` concept-selective in one language, and in every other language inactive on the prompt and on
                     most controls
``shared-task``      generic in two or more languages: a task or format feature, whatever its alignment
``specific-task``    generic in one language and not in the others: a feature of that language (or its format),
                     not of the concept
``unclear``          the evidence conflicts (selective in one language, generic in another) or is missing
                     (no control prompts): the reason says which
================== ====================================================================================

Each tag carries a **margin**: how far the deciding statistics sit from their thresholds, so a user sees whether
a conclusion hangs on a knob; :func:`tag_counts_sweep` recomputes the counts over a grid of thresholds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

Tag = Literal["shared-concept", "specific-concept", "shared-task", "specific-task", "unclear"]
TAGS: tuple[Tag, ...] = ("shared-concept", "specific-concept", "shared-task", "specific-task", "unclear")
TAG_MEANINGS: dict[str, str] = {
    "shared-concept": "selective for this concept in two or more languages",
    "specific-concept": "selective for this concept in one language, silent on the other languages' prompts",
    "shared-task": "fires on most control prompts in two or more languages (a task or format feature)",
    "specific-task": "fires on most prompts of one language only (a feature of that language or its format)",
    "unclear": "the evidence conflicts or is missing (see the reason)",
}
FeatureKey = tuple[int, int]  # (dictionary index, feature index)


@dataclass(frozen=True)
class TagRule:
    """The thresholds a tag is decided by (see the module docstring)."""

    active_fraction: float = 0.1
    active_threshold: float | None = None
    max_control_rate: float = 0.25

    def threshold(self, peak: float) -> float:
        return float(self.active_threshold) if self.active_threshold is not None else self.active_fraction * peak


@dataclass
class LanguageEvidence:
    """One feature on one language's prompts (non-BOS positions only)."""

    activation: float  # max over the concept prompt's non-BOS positions (0 if it never fires there)
    positions: list[int] = field(default_factory=list)  # non-BOS positions where it fires (> 0)
    tokens: list[str] = field(default_factory=list)  # the token at each of those positions
    values: list[float] = field(default_factory=list)  # its activation at each of those positions
    in_graph: bool = False
    graph_positions: list[int] = field(default_factory=list)  # positions where it is a node of the pruned graph
    controls: list[float] = field(default_factory=list)  # max non-BOS activation on each control prompt

    def control_rate(self, threshold: float) -> float | None:
        if not self.controls:
            return None
        return sum(c >= threshold and c > 0 for c in self.controls) / len(self.controls)


@dataclass
class FeatureTag:
    """A tag, the languages it is about, why, and how far its statistics sit from the thresholds."""

    tag: Tag
    languages: list[str]  # shared: the languages it is selective (concept) or generic (task) in; specific: the one
    reason: str
    margin: float  # smallest distance of a deciding statistic from its threshold (activity in units of the
    # threshold, control rate in absolute share); near 0 means a small change of a knob could flip the tag
    threshold: float  # the activity threshold used
    selective: list[str] = field(default_factory=list)
    generic: list[str] = field(default_factory=list)
    control_rates: dict[str, float | None] = field(default_factory=dict)


def tag_feature(evidence: Mapping[str, LanguageEvidence], rule: TagRule = TagRule()) -> FeatureTag:
    """The tag of one feature from its evidence in every compared language (pure: no model needed)."""
    peak = max((e.activation for e in evidence.values()), default=0.0)
    threshold = rule.threshold(peak)
    selective, generic, rates = [], [], {}
    margins: list[float] = []
    for lang, e in evidence.items():
        active = e.activation > 0 and e.activation >= threshold
        if threshold > 0:
            margins.append(abs(e.activation - threshold) / threshold)
        rate = e.control_rate(threshold)
        rates[lang] = rate
        if rate is None:
            continue
        if rate > rule.max_control_rate:  # fires on most of this language's prompts, this one or not
            generic.append(lang)
            margins.append(rate - rule.max_control_rate)
        elif active:
            selective.append(lang)
            margins.append(rule.max_control_rate - rate)
    margin = min(margins, default=0.0)
    missing = [lang for lang, e in evidence.items() if not e.controls and e.activation >= threshold > 0]

    def made(tag: Tag, languages: list[str], reason: str) -> FeatureTag:
        return FeatureTag(tag, languages, reason, margin, threshold, selective, generic, rates)

    if missing:
        return made("unclear", missing, f"no control prompts in {', '.join(missing)}: selectivity unknown")
    if selective and generic:
        return made(
            "unclear",
            selective + generic,
            f"selective in {', '.join(selective)} but fires on most controls in {', '.join(generic)}",
        )
    if selective:
        if len(selective) >= 2:
            return made("shared-concept", selective, f"selective in {', '.join(selective)}")
        return made("specific-concept", selective, f"selective in {selective[0]}, silent on the other prompts")
    if generic:
        if len(generic) >= 2:
            return made("shared-task", generic, f"fires on most controls in {', '.join(generic)}")
        return made("specific-task", generic, f"fires on most {generic[0]} controls and on few of the others'")
    return made("unclear", [], "inactive on every compared prompt (outside BOS)")


def tag_features(
    evidence: Mapping[FeatureKey, Mapping[str, LanguageEvidence]], rule: TagRule = TagRule()
) -> dict[FeatureKey, FeatureTag]:
    return {key: tag_feature(e, rule) for key, e in evidence.items()}


def count_tags(tags: Iterable[FeatureTag | str]) -> dict[str, int]:
    counts = dict.fromkeys(TAGS, 0)
    for t in tags:
        counts[t if isinstance(t, str) else t.tag] += 1
    return counts


def tag_counts_sweep(
    evidence: Mapping[FeatureKey, Mapping[str, LanguageEvidence]],
    rule: TagRule = TagRule(),
    active_fractions: Sequence[float] = (0.05, 0.1, 0.2, 0.5),
    max_control_rates: Sequence[float] = (0.1, 0.25, 0.5),
) -> list[dict[str, Any]]:
    """Tag counts over a grid of thresholds: does a conclusion depend on a knob? (An absolute
    ``active_threshold`` in ``rule`` is replaced by each relative ``active_fraction``.)"""
    rows = []
    for fraction in active_fractions:
        for rate in max_control_rates:
            varied = replace(rule, active_fraction=fraction, active_threshold=None, max_control_rate=rate)
            counts = count_tags(tag_features(evidence, varied).values())
            rows.append({"active_fraction": fraction, "max_control_rate": rate, **counts})
    return rows


# ---- what a comparison keeps per feature ------------------------------------------------------------------------
@dataclass
class Monolinguality:
    """How a feature's activation splits across languages on reference text (non-BOS positions).

    ``share[lang]`` is that language's share of the sum of the per-language mean activations; ``score`` rescales
    the top share to [0, 1] (0: the same mean in every language, 1: it fires in one language only), i.e.
    ``(n * max share - 1) / (n - 1)``. ``active_positions`` counts the positions where it fires, per language: the
    evidence behind the numbers; ``enough`` is False below the minimum, and then the score is shown, not trusted.
    """

    score: float
    top_language: str
    share: dict[str, float]
    active_positions: dict[str, int]
    enough: bool


@dataclass
class FeatureInfo:
    """Everything a comparison knows about one aligned feature: identity, evidence per language, tag, statistics.

    This is the typed record the exports read (``to_dict`` / ``from_dict`` round-trip through a graph file)."""

    dictionary_index: int
    feature: int
    dictionary: str
    layer: int
    evidence: dict[str, LanguageEvidence]
    tag: FeatureTag
    monolinguality: Monolinguality | None = None
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

    @property
    def activations(self) -> dict[str, float]:
        return {lang: e.activation for lang, e in self.evidence.items()}

    @property
    def graph_languages(self) -> list[str]:
        return [lang for lang, e in self.evidence.items() if e.in_graph]

    def where(self, lang: str) -> str:
        """``"small"@5 2.31`` for each position where it fires in ``lang`` (the evidence, readable)."""
        e = self.evidence[lang]
        return ", ".join(f"{t!r}@{p} {v:.3g}" for p, t, v in zip(e.positions, e.tokens, e.values)) or "-"

    def to_dict(self) -> dict[str, Any]:
        """A flat, readable JSON form (``features.json``, graph metadata); :meth:`from_dict` reads it back."""
        mono = self.monolinguality
        return {
            "dictionary_index": self.dictionary_index,
            "feature": self.feature,
            "dictionary": self.dictionary,
            "layer": self.layer,
            "tag": self.tag.tag,
            "languages": list(self.tag.languages),
            "reason": self.tag.reason,
            "margin": self.tag.margin,
            "threshold": self.tag.threshold,
            "selective": list(self.tag.selective),
            "generic": list(self.tag.generic),
            "control_rates": dict(self.tag.control_rates),
            "activations": self.activations,
            "evidence": {lang: asdict(e) for lang, e in self.evidence.items()},
            "monolinguality": dict(mono.share) if mono else None,  # each language's share of the mean activation
            "monolinguality_score": mono.score if mono else None,
            "monolinguality_top": mono.top_language if mono else None,
            "monolinguality_positions": dict(mono.active_positions) if mono else None,
            "monolinguality_enough": mono.enough if mono else None,
            "top_contexts": self.top_contexts,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureInfo:
        tag = FeatureTag(
            data["tag"],
            list(data["languages"]),
            str(data["reason"]),
            float(data["margin"]),
            float(data["threshold"]),
            list(data.get("selective", [])),
            list(data.get("generic", [])),
            dict(data.get("control_rates", {})),
        )
        mono = None
        if data.get("monolinguality_score") is not None:
            mono = Monolinguality(
                float(data["monolinguality_score"]),
                str(data["monolinguality_top"]),
                dict(data["monolinguality"]),
                dict(data["monolinguality_positions"]),
                bool(data["monolinguality_enough"]),
            )
        return cls(
            dictionary_index=int(data["dictionary_index"]),
            feature=int(data["feature"]),
            dictionary=str(data["dictionary"]),
            layer=int(data["layer"]),
            evidence={lang: LanguageEvidence(**e) for lang, e in data["evidence"].items()},
            tag=tag,
            monolinguality=mono,
            top_contexts=data.get("top_contexts"),
        )
