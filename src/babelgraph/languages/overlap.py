"""Feature overlap by layer: do parallel texts in two languages use the same features?

For each language pair and dictionary, ``IoU = |S_A ∩ S_B| / |S_A ∪ S_B|`` where ``S`` is the set of features
active anywhere (non-BOS) in a text, averaged over aligned pairs (line ``i`` of A with line ``i`` of B). The same
measure on unrelated pairs is the baseline: line ``i`` of A with the line ``j != i`` of B nearest in length to
line ``i`` of B (the IoU favours sets of like size, and translations are alike in length), or with a seeded
random derangement. Shared features beyond it are evidence of language-independent representations
(docs/method.md).
Whether "beyond it" is more than noise is read from a 95% bootstrap interval (over lines) of the paired
difference parallel - baseline.

On long texts most features fire somewhere in almost every text, so the plain IoU saturates and a few shared
content features barely move it. The ``idf`` measure weights each feature by ``log(N / df)``, ``df`` the number
of the pair's ``N`` texts it fires in: a feature in every text counts 0, a rare one the most (a weighted Jaccard).

Texts that share tokens (names, numbers, format codes, cognates) share the features those tokens drive without
sharing a representation of meaning, so the same measure on the sets of token ids is reported beside the
layers (row ``tok``, ``layer = -1`` in the tables): feature overlap beyond the baseline where token overlap is at
its baseline is the stronger evidence.

Which features carry the sharing is asked one feature at a time (:func:`shared_features`): in how many lines does
the feature fire in both the text and its translation, against how many it would if translations were exchanged
at random among lines whose translations are of like length? A one-sided test on that count, with
Benjamini-Hochberg false-discovery control over every feature active in the pair's texts at that layer, picks the
features translations share beyond chance and length.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from babelgraph.errors import BabelgraphError
from babelgraph.files import atomic_path

if TYPE_CHECKING:  # the model stack (torch, transformer_lens) loads only when overlap is measured, not for --help
    from babelgraph.model.replacement import ReplacementModel

OverlapMeasure = Literal["iou", "idf"]
MEASURES: dict[str, str] = {  # what the table's heading says; the plot's axis says MEASURE_LABELS
    "iou": "IoU of active features",
    "idf": "IDF-weighted IoU of active features (weight log(N/df) over the pair's texts)",
}
MEASURE_LABELS: dict[str, str] = {"iou": "IoU", "idf": "IDF-weighted IoU"}
OverlapBaseline = Literal["length", "shuffled"]
BASELINES: dict[str, str] = {
    "length": "each line against the unrelated line nearest its translation in length",
    "shuffled": "each line against a seeded random unrelated line",
}


@dataclass
class PairStatistics:
    """One language pair, per layer (a single entry for tokens): parallel and baseline overlap (mean, population
    std, pairs used) and the paired difference with its 95% bootstrap interval."""

    parallel_mean: list[float]
    parallel_std: list[float]
    baseline_mean: list[float]
    baseline_std: list[float]
    difference: list[float]
    difference_low: list[float]
    difference_high: list[float]
    n_pairs: int
    n_baseline_pairs: int


@dataclass
class OverlapResult:
    """Per language pair (``"en-fr"``) and dictionary: mean and standard deviation of the IoU over text pairs."""

    model: str
    languages: list[str]
    dictionaries: list[str]
    layers: list[int]
    features: dict[str, PairStatistics]  # per pair ("en-fr"): one entry per dictionary
    tokens: dict[str, PairStatistics]  # per pair: the same statistics on token ids, the lexical control
    skipped: dict[str, int] = field(default_factory=dict)  # per language: lines that tokenize to nothing
    baseline_seed: int = 0
    measure: OverlapMeasure = "iou"
    baseline: OverlapBaseline = "length"
    shared: dict[str, list[SharedFeature]] = field(default_factory=dict)  # per pair: every feature tested

    # per pair, per dictionary: views of ``features`` by statistic
    parallel_mean = property(lambda self: self._by_pair("parallel_mean"))
    parallel_std = property(lambda self: self._by_pair("parallel_std"))
    baseline_mean = property(lambda self: self._by_pair("baseline_mean"))
    baseline_std = property(lambda self: self._by_pair("baseline_std"))
    difference = property(lambda self: self._by_pair("difference"))
    difference_low = property(lambda self: self._by_pair("difference_low"))
    difference_high = property(lambda self: self._by_pair("difference_high"))
    n_pairs = property(lambda self: self._by_pair("n_pairs"))
    n_baseline_pairs = property(lambda self: self._by_pair("n_baseline_pairs"))

    def _by_pair(self, statistic: str) -> dict:
        return {pair: getattr(stats, statistic) for pair, stats in self.features.items()}

    def significant(self, pair: str, k: int) -> bool:
        """Parallel beats the baseline at dictionary ``k``: the interval of the difference lies above 0."""
        return self.features[pair].difference_low[k] > 0

    @property
    def pairs(self) -> list[str]:
        """The language pairs measured, ``"en-fr"`` style, in the order of the languages given."""
        return list(self.features)

    def rows(self) -> list[dict[str, float | int | str]]:
        """Per pair: the token row (``dictionary="tokens"``, ``layer=-1``), then one row per dictionary layer."""
        rows = []
        for pair in self.pairs:
            if pair in self.tokens:
                rows.append(_row(pair, "tokens", -1, self.tokens[pair], 0))
            for k, (name, layer) in enumerate(zip(self.dictionaries, self.layers)):
                rows.append(_row(pair, name, layer, self.features[pair], k))
        return rows

    def format_table(self) -> str:
        """The rows as the fixed-width table the CLI prints, with what ``*`` and ``tok`` mean."""
        lines = [f"{'pair':<7} {'layer':>5} {'parallel':>16} {'baseline':>16}   difference [95% interval]"]
        for row in self.rows():
            parallel = f"{row['parallel_mean']:.3f} ± {row['parallel_std']:.3f}"
            baseline = f"{row['baseline_mean']:.3f} ± {row['baseline_std']:.3f}"
            diff = f"{row['difference']:+.3f} [{row['difference_low']:+.3f}, {row['difference_high']:+.3f}]"
            mark = " *" if row["difference_low"] > 0 else ""
            layer = "tok" if row["dictionary"] == "tokens" else row["layer"]
            lines.append(f"{row['pair']:<7} {layer:>5} {parallel:>16} {baseline:>16}   {diff}{mark}")
        for pair, features in self.shared.items():
            found = [sum(f.q_value <= FDR and f.dictionary == name for f in features) for name in self.dictionaries]
            lines.append(f"{pair}: features shared beyond chance (q <= {FDR}) by layer: " + " ".join(map(str, found)))
        if self.shared:
            lines.append(
                "features shared beyond chance: firing in both a text and its translation in more lines than if "
                "translations were exchanged among lines of like length (one-sided, Benjamini-Hochberg per layer)"
            )
        lines.append("* parallel beats the baseline: the 95% bootstrap interval of the difference lies above 0")
        if self.tokens:
            lines.append(
                "tok: the same measure on the texts' token ids, the lexical overlap that features may only reflect"
            )
        return "\n".join(lines)


def _row(pair: str, dictionary: str, layer: int, stats: PairStatistics, k: int) -> dict[str, float | int | str]:
    """One table row: entry ``k`` of a pair's statistics."""
    return {
        "pair": pair,
        "dictionary": dictionary,
        "layer": layer,
        **{key: getattr(stats, key)[k] for key in _PER_LAYER},
        "n_pairs": stats.n_pairs,
        "n_baseline_pairs": stats.n_baseline_pairs,
    }


_PER_LAYER = (
    "parallel_mean",
    "parallel_std",
    "baseline_mean",
    "baseline_std",
    "difference",
    "difference_low",
    "difference_high",
)


# ---- pure parts ---------------------------------------------------------------------------------------------
def iou(a: set[int], b: set[int], weights: Mapping[int, float] | None = None) -> float:
    """Intersection over union, each feature counting ``weights[f]`` (default 1); an empty (or all-zero-weight)
    union shares nothing, so 0.0 (not evidence of overlap)."""
    if weights is None:
        union = len(a | b)
        return len(a & b) / union if union else 0.0
    union_weight = sum(weights[f] for f in a | b)
    return sum(weights[f] for f in a & b) / union_weight if union_weight > 0 else 0.0


def idf_weights(*corpora: Sequence[Sequence[set[int]] | None]) -> list[dict[int, float]]:
    """Per layer: ``log(N / df)`` for every feature active in some text, over the non-empty texts of ``corpora``
    (``N`` of them; ``df``: how many the feature fires in). A feature active in every text weighs 0."""
    texts = [t for corpus in corpora for t in corpus if t is not None]
    if not texts:
        return []
    counts: list[dict[int, int]] = [{} for _ in texts[0]]
    for text in texts:
        for layer_counts, active in zip(counts, text):
            for f in active:
                layer_counts[f] = layer_counts.get(f, 0) + 1
    return [{f: math.log(len(texts) / df) for f, df in layer_counts.items()} for layer_counts in counts]


def iou_values(
    sets_a: Sequence[Sequence[set[int]] | None],
    sets_b: Sequence[Sequence[set[int]] | None],
    pairing: Sequence[int],
    weights: Sequence[Mapping[int, float]] | None = None,
) -> dict[int, list[float]]:
    """Per line ``i`` whose texts are both non-empty: the per-layer IoU of ``sets_a[i]`` with ``sets_b[pairing[i]]``
    (weighted by ``weights[layer]`` when given, e.g. ``idf_weights(sets_a, sets_b)``).

    ``sets_x[i]`` is one set per layer, or ``None`` for a text that tokenized to nothing: such pairs are left out.
    """
    values: dict[int, list[float]] = {}
    for i, j in enumerate(pairing):
        a, b = sets_a[i], sets_b[j]
        if a is None or b is None:
            continue
        if len(a) != len(b):
            raise BabelgraphError("both texts need one feature set per layer")
        per_layer = weights if weights is not None else [None] * len(a)
        values[i] = [iou(x, y, w) for x, y, w in zip(a, b, per_layer)]
    return values


def mean_iou(
    sets_a: Sequence[Sequence[set[int]] | None],
    sets_b: Sequence[Sequence[set[int]] | None],
    pairing: Sequence[int],
) -> tuple[list[float], list[float], int]:
    """Per-layer mean and (population) standard deviation of the IoU of ``sets_a[i]`` with ``sets_b[pairing[i]]``.

    Returns ``(means, stds, number of pairs used)``; with no pairs the means and stds are NaN.
    """
    n_layers = next((len(s) for s in [*sets_a, *sets_b] if s is not None), 0)
    return _mean_std(iou_values(sets_a, sets_b, pairing), n_layers)


def _mean_std(by_line: dict[int, list[float]], n_layers: int) -> tuple[list[float], list[float], int]:
    values = list(by_line.values())
    if not values:
        return [math.nan] * n_layers, [math.nan] * n_layers, 0
    means = [sum(column) / len(column) for column in zip(*values)]
    stds = [math.sqrt(sum((v - m) ** 2 for v in column) / len(column)) for column, m in zip(zip(*values), means)]
    return means, stds, len(values)


def paired_difference(
    parallel: dict[int, list[float]],
    baseline: dict[int, list[float]],
    seed: int = 0,
    draws: int = 2000,
    n_layers: int | None = None,
) -> tuple[list[float], list[float], list[float]]:
    """Per layer: mean over lines of ``parallel[i] - baseline[i]`` and its 95% percentile bootstrap interval
    (lines resampled with replacement). NaN where fewer than two lines have both values (``n_layers`` of them
    when no line has any)."""
    lines = sorted(set(parallel) & set(baseline))
    if n_layers is None:
        n_layers = len(next(iter(parallel.values()), []))
    if len(lines) < 2:
        return [math.nan] * n_layers, [math.nan] * n_layers, [math.nan] * n_layers
    diffs = [[parallel[i][k] - baseline[i][k] for i in lines] for k in range(n_layers)]
    samples = _bootstrap_samples(len(lines), seed, draws)
    means, lows, highs = [], [], []
    for column in diffs:
        boot = sorted(sum(itemgetter(*sample)(column)) / len(sample) for sample in samples)
        means.append(sum(column) / len(column))
        lows.append(boot[int(0.025 * (draws - 1))])
        highs.append(boot[int(math.ceil(0.975 * (draws - 1)))])
    return means, lows, highs


@functools.lru_cache(maxsize=8)
def _bootstrap_samples(n: int, seed: int, draws: int) -> tuple[tuple[int, ...], ...]:
    """The resampled line indices; every pair and the token row of one run share them (drawing them is the slow
    part of the bootstrap), and the same ``(n, seed, draws)`` always gives the same draws."""
    rng = random.Random(seed)
    return tuple(tuple(rng.randrange(n) for _ in range(n)) for _ in range(draws))


def derangement(n: int, seed: int) -> list[int]:
    """A seeded random permutation with no fixed point (Sattolo's cycle), so no line meets its own translation."""
    order = list(range(n))
    rng = random.Random(seed)
    for i in range(n - 1, 0, -1):
        j = rng.randrange(i)
        order[i], order[j] = order[j], order[i]
    return order


# ---- which features are shared ------------------------------------------------------------------------------
FDR = 0.05  # the false-discovery rate at which a feature counts as shared (tables list every q)
STRATUM_SIZE = 5  # lines of like length whose pairing the null lets exchange (10 let length-driven features through)


@dataclass(frozen=True)
class SharedFeature:
    """One feature of one pair and layer: in how many lines it fires in both a text and its translation
    (``parallel_both``), how many that would be expected if translations were exchanged at random among lines of
    like length (``expected_both``), the exact one-sided p-value of "more" (1.0 where the count is not above the
    expectation) and its Benjamini-Hochberg q-value over the layer's features."""

    pair: str
    dictionary: str
    layer: int
    feature: int
    parallel_both: int
    expected_both: float
    p_value: float
    q_value: float


def co_firing_expected(counts: Sequence[tuple[int, int, int]]) -> float:
    """Expected number of lines where a feature fires in both texts when, within each stratum of ``(lines, lines
    where it fires in A, lines where it fires in B)``, B's texts are paired with A's at random."""
    return sum(k_a * k_b / n for n, k_a, k_b in counts)


def co_firing_p_value(observed: int, counts: Sequence[tuple[int, int, int]]) -> float:
    """Exact one-sided p-value of at least ``observed`` joint firings under that null: the count is a sum of
    independent hypergeometric counts, one per stratum, whose distribution is their convolution. Rare features get
    exact small-count tails (a normal approximation makes them look far too significant)."""
    import numpy as np

    distribution, offset = np.ones(1), 0
    for n, k_a, k_b in counts:
        if k_a == 0 or k_b == 0:
            continue  # the stratum contributes 0 for sure
        low, high = max(0, k_a + k_b - n), min(k_a, k_b)
        total = math.comb(n, k_a)  # exact integers, divided once, so large strata do not overflow a float
        pmf = [math.comb(k_b, x) * math.comb(n - k_b, k_a - x) / total for x in range(low, high + 1)]
        distribution = np.convolve(distribution, np.array(pmf))
        offset += low
    return float(min(1.0, distribution[max(0, observed - offset) :].sum()))


def benjamini_hochberg(p_values: Sequence[float], n_hypotheses: int | None = None) -> list[float]:
    """Benjamini-Hochberg q-values in the order given; ``n_hypotheses`` (default: as many as p-values) counts
    hypotheses tested whose p-value is 1 and not listed."""
    m = len(p_values) if n_hypotheses is None else n_hypotheses
    if m < len(p_values):
        raise BabelgraphError(f"{len(p_values)} p-values but only {m} hypotheses counted")
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    q = [1.0] * len(p_values)
    running = 1.0
    for rank in range(len(order), 0, -1):  # from the largest p down, so q is monotone
        i = order[rank - 1]
        running = min(running, p_values[i] * m / rank)
        q[i] = running
    return q


def length_strata(lengths: Sequence[int], size: int = STRATUM_SIZE) -> list[list[int]]:
    """Positions ``0..len-1`` cut into groups of about ``size`` by length (ties in the given order); the last group
    takes the remainder when it would be smaller than half a group."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups = [order[i : i + size] for i in range(0, len(order), size)]
    if len(groups) > 1 and len(groups[-1]) < size / 2:
        last = groups.pop()
        groups[-1] += last
    return groups


def shared_features(
    sets_a: Sequence[Sequence[set[int]] | None],
    sets_b: Sequence[Sequence[set[int]] | None],
    lengths_b: Sequence[int | None],
    pair: str = "a-b",
    dictionaries: Sequence[str] | None = None,
    layers: Sequence[int] | None = None,
    stratum_size: int = STRATUM_SIZE,
) -> list[SharedFeature]:
    """Per layer, every feature that fires in some text of both languages, tested for firing in both a text and its
    translation more often than if translations were exchanged among lines whose translations are of like length
    (``lengths_b``; strata of ``stratum_size``). Lines empty in either language are left out. The false-discovery
    control counts every feature active in some text of A or B at that layer. Sorted by layer, then q-value."""
    import torch

    lines = [i for i in range(len(sets_a)) if sets_a[i] is not None and sets_b[i] is not None]
    n_layers = len(sets_a[lines[0]]) if lines else 0
    layers = list(range(n_layers)) if layers is None else list(layers)
    dictionaries = [str(layer) for layer in layers] if dictionaries is None else list(dictionaries)
    strata = [[lines[i] for i in group] for group in length_strata([lengths_b[i] or 0 for i in lines], stratum_size)]
    found: list[SharedFeature] = []
    for k in range(n_layers):
        active = set().union(*(t[k] for t in [*sets_a, *sets_b] if t is not None))
        both_languages = set().union(*(sets_a[i][k] for i in lines)) & set().union(*(sets_b[i][k] for i in lines))
        features = sorted(both_languages)
        column = {f: c for c, f in enumerate(features)}
        fires_a = torch.zeros(len(sets_a), len(features), dtype=torch.int64)
        fires_b = torch.zeros_like(fires_a)
        for fires, sets in ((fires_a, sets_a), (fires_b, sets_b)):
            for i in lines:
                fires[i, [column[f] for f in sets[i][k] if f in column]] = 1
        observed = (fires_a * fires_b).sum(0).tolist()
        in_a = [fires_a[group].sum(0).tolist() for group in strata]  # per stratum, per feature
        in_b = [fires_b[group].sum(0).tolist() for group in strata]
        rows = []
        for c, f in enumerate(features):
            counts = [(len(group), a[c], b[c]) for group, a, b in zip(strata, in_a, in_b)]
            mean = co_firing_expected(counts)
            p = co_firing_p_value(observed[c], counts) if observed[c] > mean else 1.0
            rows.append((f, observed[c], mean, p))
        q_values = benjamini_hochberg([row[3] for row in rows], n_hypotheses=len(active))
        layer_rows = [
            SharedFeature(pair, dictionaries[k], layers[k], f, count, mean, p, q)
            for (f, count, mean, p), q in zip(rows, q_values)
        ]
        found += sorted(layer_rows, key=lambda r: (r.q_value, r.p_value, r.feature))
    return found


# ---- the measurement ----------------------------------------------------------------------------------------
@dataclass
class TextSets:
    """What overlap compares, per line of one language (``None`` for a line that tokenizes to nothing): the
    features active at some non-BOS position (one set per dictionary), the non-BOS token ids (a one-set list, so
    the same functions score both) and the number of non-BOS tokens."""

    features: list[list[set[int]] | None]
    tokens: list[list[set[int]] | None]
    lengths: list[int | None]


def text_sets(model: ReplacementModel, lines: Sequence[str]) -> TextSets:
    """One pass of the model over ``lines``: their active features, token ids and lengths."""
    from babelgraph.languages.reference import line_activations

    sets = TextSets([None] * len(lines), [None] * len(lines), [None] * len(lines))
    for index, tokens, start, acts in line_activations(model, lines):
        sets.features[index] = [set((a[start:] > 0).any(dim=0).nonzero().flatten().tolist()) for a in acts]
        sets.tokens[index] = [set(tokens[start:].tolist())]
        sets.lengths[index] = len(tokens) - start
    return sets


def length_matched_partners(lengths: Sequence[int | None], seed: int) -> list[int]:
    """For each line ``i``: the line ``j != i`` whose length is nearest line ``i``'s (in log tokens; ties broken in
    a seeded random order), skipping empty lines. Pairing line ``i`` of A with line ``j`` of B, where ``lengths``
    are B's, gives a baseline partner as long as the translation: the IoU of sets favours sets of similar size,
    and translations are alike in length, which a random partner is not."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    rank = {j: r for r, j in enumerate(order)}  # the tie-breaker
    present = [j for j in range(len(lengths)) if lengths[j]]
    partners = []
    for i, length in enumerate(lengths):
        candidates = [j for j in present if j != i]
        if not candidates:
            raise BabelgraphError("the baseline needs at least two non-empty lines")
        target = math.log(length) if length else 0.0
        partners.append(min(candidates, key=lambda j: (abs(math.log(lengths[j]) - target), rank[j])))
    return partners


def pair_statistics(
    sets_a: Sequence[Sequence[set[int]] | None],
    sets_b: Sequence[Sequence[set[int]] | None],
    baseline_pairing: Sequence[int],
    measure: OverlapMeasure,
    n_layers: int,
    seed: int,
) -> PairStatistics:
    """Overlap of line ``i`` of A with line ``i`` of B (parallel) and with line ``baseline_pairing[i]`` of B."""
    weights = idf_weights(sets_a, sets_b) if measure == "idf" else None
    parallel = iou_values(sets_a, sets_b, range(len(sets_a)), weights)
    baseline = iou_values(sets_a, sets_b, baseline_pairing, weights)
    p_mean, p_std, p_used = _mean_std(parallel, n_layers)
    b_mean, b_std, b_used = _mean_std(baseline, n_layers)
    diff, low, high = paired_difference(parallel, baseline, seed=seed, n_layers=n_layers)
    return PairStatistics(p_mean, p_std, b_mean, b_std, diff, low, high, p_used, b_used)


def parallel_line_count(texts: Mapping[str, Sequence[str]], what: str, why_two: str) -> int:
    """The number of aligned lines, after checking there are two or more languages with as many lines each, and at
    least two lines (``why_two`` says what needs them)."""
    if len(texts) < 2:
        raise BabelgraphError(f"{what} compares languages: give texts in at least two")
    counts = {lang: len(lines) for lang, lines in texts.items()}
    if len(set(counts.values())) != 1:
        shown = ", ".join(f"{lang} {n}" for lang, n in counts.items())
        raise BabelgraphError(f"parallel texts must have the same number of lines in every language ({shown})")
    n = next(iter(counts.values()))
    if n < 2:
        raise BabelgraphError(f"give at least two aligned lines per language ({why_two})")
    return n


def feature_overlap(
    model: ReplacementModel,
    texts: Mapping[str, Sequence[str]] | None = None,
    baseline_seed: int = 0,
    measure: OverlapMeasure = "iou",
    baseline: OverlapBaseline = "length",
    per_feature: bool = True,
) -> OverlapResult:
    """IoU of active feature sets per dictionary for every language pair, parallel texts against a baseline, with
    the same statistics on token ids beside them (the lexical control).

    ``texts`` maps languages to aligned lines (line ``i`` says the same in each); default: the shipped
    reference text. ``measure="idf"`` weights features by their inverse document frequency over the pair's
    texts (the same weights for parallel and baseline pairs). ``baseline="length"`` pairs each line with the
    unrelated line nearest its translation in length; ``"shuffled"`` with a seeded derangement. With
    ``per_feature``, each feature is also tested for being shared (:func:`shared_features`, in ``.shared``).
    """
    if measure not in MEASURES:
        raise BabelgraphError(f"overlap measure {measure!r}: use one of {', '.join(MEASURES)}")
    if baseline not in BASELINES:
        raise BabelgraphError(f"overlap baseline {baseline!r}: use one of {', '.join(BASELINES)}")
    from babelgraph.languages.reference import reference_texts

    texts = reference_texts() if texts is None else texts
    languages = list(texts)
    n = parallel_line_count(texts, "feature overlap", "the baseline pairs unrelated lines")
    sets = {lang: text_sets(model, texts[lang]) for lang in languages}
    for lang in languages:
        if sum(length is not None for length in sets[lang].lengths) < 2:
            raise BabelgraphError(f"{lang}: fewer than two lines tokenize to something; the baseline needs two")
    result = OverlapResult(
        model=model.name,
        languages=languages,
        dictionaries=[d.name for d in model.dictionaries],
        layers=[d.layer for d in model.dictionaries],
        features={},
        tokens={},
        skipped={lang: sum(length is None for length in sets[lang].lengths) for lang in languages},
        baseline_seed=baseline_seed,
        measure=measure,
        baseline=baseline,
    )
    for x, a in enumerate(languages):
        for b in languages[x + 1 :]:
            pair = f"{a}-{b}"
            if baseline == "length":
                pairing = length_matched_partners(sets[b].lengths, baseline_seed)
            else:
                pairing = derangement(n, baseline_seed)
            result.features[pair] = pair_statistics(
                sets[a].features, sets[b].features, pairing, measure, len(result.layers), baseline_seed
            )
            result.tokens[pair] = pair_statistics(sets[a].tokens, sets[b].tokens, pairing, measure, 1, baseline_seed)
            if per_feature:
                result.shared[pair] = shared_features(
                    sets[a].features, sets[b].features, sets[b].lengths, pair, result.dictionaries, result.layers
                )
    return result


# ---- output -------------------------------------------------------------------------------------------------
def save_overlap_table(result: OverlapResult, path: str | Path) -> Path:
    """Write the per-pair, per-layer rows as CSV, or as JSON (with counts and settings) when the suffix is .json."""
    path = Path(path)
    if path.suffix not in (".csv", ".json"):
        raise BabelgraphError(f"overlap table {path.name!r}: use a .csv or .json suffix")
    rows = result.rows()
    with atomic_path(path) as tmp:
        if path.suffix == ".json":
            payload = {
                "model": result.model,
                "measure": result.measure,
                "baseline": result.baseline,
                "languages": result.languages,
                "baseline_seed": result.baseline_seed,
                "skipped_lines": result.skipped,
                "rows": [{k: _json_number(v) for k, v in row.items()} for row in rows],
            }
            tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
        else:
            with tmp.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
    return path


def save_shared_features(result: OverlapResult, path: str | Path) -> Path:
    """CSV of every feature tested for sharing (:func:`shared_features`), per pair and layer, most significant
    first; a feature is shared beyond the baseline where ``q_value <= FDR``."""
    path = Path(path)
    fields = list(SharedFeature.__dataclass_fields__)
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for features in result.shared.values():
            writer.writerows(asdict(f) for f in features)
    return path


def _json_number(value: float | int | str) -> float | int | str | None:
    """NaN (no usable pairs) becomes JSON null instead of the invalid token NaN."""
    return None if isinstance(value, float) and math.isnan(value) else value


def save_overlap_plot(result: OverlapResult, path: str | Path) -> Path:
    """PNG: one panel per language pair, parallel and baseline IoU per layer with ±1 std bands; the token-id
    control, when measured, as unconnected points at the left (``tok``)."""
    from babelgraph.plotting import pyplot

    plt = pyplot()

    path = Path(path)
    pairs = result.pairs
    fig, axes = plt.subplots(
        1, len(pairs), figsize=(3.2 * len(pairs) + 0.6, 3.2), sharey=True, squeeze=False, constrained_layout=True
    )
    x = list(range(len(result.layers)))
    for ax, pair in zip(axes[0], pairs):
        for label, means, stds, color in (
            ("parallel", result.parallel_mean[pair], result.parallel_std[pair], "tab:blue"),
            ("baseline", result.baseline_mean[pair], result.baseline_std[pair], "tab:gray"),
        ):
            low = [max(0.0, m - s) for m, s in zip(means, stds)]
            high = [min(1.0, m + s) for m, s in zip(means, stds)]
            ax.plot(x, means, marker="o", color=color, label=label)
            ax.fill_between(x, low, high, color=color, alpha=0.2)
        marked = [(k, result.parallel_mean[pair][k]) for k in x if result.significant(pair, k)]
        tokens = result.tokens.get(pair)
        if tokens:
            for means, stds, color in (
                (tokens.parallel_mean, tokens.parallel_std, "tab:blue"),
                (tokens.baseline_mean, tokens.baseline_std, "tab:gray"),
            ):
                mean, std = means[0], stds[0]
                ax.errorbar(
                    [-1], [mean], yerr=[[min(std, mean)], [min(std, 1.0 - mean)]], fmt="s", color=color, capsize=3
                )
            ax.axvline(-0.5, color="0.8", linewidth=0.8)
            if tokens.difference_low[0] > 0:
                marked.append((-1, tokens.parallel_mean[0]))
        for k, mean in marked:
            ax.annotate("*", (k, mean), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=12)
        ax.set_title(f"{pair} ({result.n_pairs[pair]} pairs; * = beats baseline, 95%)", fontsize=9)
        ticks = ([-1] if tokens else []) + x
        ax.set_xticks(ticks)
        ax.set_xticklabels((["tok"] if tokens else []) + [str(layer) for layer in result.layers])
        ax.set_xlabel("layer")
        ax.set_ylim(0, 1)
    axes[0][0].set_ylabel(MEASURE_LABELS[result.measure])
    axes[0][0].legend(loc="upper right", fontsize=8)
    fig.suptitle(
        f"feature overlap by layer: {result.model} (tok: token ids, the lexical control; baseline: {result.baseline})",
        fontsize=10,
    )
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
