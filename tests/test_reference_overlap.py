"""Reference-text feature statistics and feature overlap by layer: pure parts by hand, the rest on the demo."""

from __future__ import annotations

import functools
import json
import math

import pytest
import torch

import babelgraph as bg
from babelgraph.cli import main
from babelgraph.languages import reference
from babelgraph.languages.overlap import (
    FDR,
    benjamini_hochberg,
    co_firing_expected,
    co_firing_p_value,
    derangement,
    feature_overlap,
    idf_weights,
    iou,
    iou_values,
    length_matched_partners,
    length_strata,
    mean_iou,
    paired_difference,
    save_overlap_plot,
    save_overlap_table,
    save_shared_features,
    shared_features,
)
from babelgraph.languages.reference import feature_statistics, reference_texts
from babelgraph.model.replacement import trace


@functools.lru_cache(maxsize=1)
def demo() -> bg.ReplacementModel:
    return bg.load_model("demo")


@pytest.fixture(autouse=True)
def private_cache_one_thread(tmp_path, monkeypatch):
    """Cache in a tmp folder; one torch thread, since two threads on a busy shared CPU can run 30x slower."""
    monkeypatch.setenv("BABELGRAPH_CACHE", str(tmp_path / "cache"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---- pure parts ---------------------------------------------------------------------------------------------
def test_iou_known_answers():
    assert iou({1, 2, 3}, {2, 3, 4}) == 0.5
    assert iou({1}, {1}) == 1.0
    assert iou({1}, {2}) == 0.0
    assert iou(set(), set()) == 0.0
    assert iou({1, 2, 3, 4}, {1}) == 0.25


def test_mean_iou_averages_per_layer_and_skips_empty_texts():
    sets_a = [[{1, 2}, {1}], [{3}, set()], None]
    sets_b = [[{1, 2}, {2}], [{3, 4}, {5}], [{1}, {1}]]
    means, stds, used = mean_iou(sets_a, sets_b, range(3))
    assert used == 2
    assert means == pytest.approx([0.75, 0.0])
    assert stds == pytest.approx([0.25, 0.0])
    means, stds, used = mean_iou(sets_a, sets_b, [0, 0, 2])  # both texts of A against B's first
    assert used == 2 and means == pytest.approx([0.5, 0.0]) and stds == pytest.approx([0.5, 0.0])
    means, _, used = mean_iou([None], [[{1}]], [0])
    assert used == 0 and all(math.isnan(m) for m in means)


def test_idf_weights_and_weighted_iou_known_answers():
    sets_a = [[{1, 2}], [{1, 3}], None]
    sets_b = [[{1}], [{1, 2, 4}], [{9}]]
    (weights,) = idf_weights(sets_a, sets_b)  # 5 non-empty texts; feature 1 in 4, 2 in 2, the rest in 1
    assert weights == pytest.approx(
        {1: math.log(5 / 4), 2: math.log(5 / 2), 3: math.log(5), 4: math.log(5), 9: math.log(5)}
    )
    assert iou({1, 2}, {1, 2, 4}, weights) == pytest.approx(
        (weights[1] + weights[2]) / (weights[1] + weights[2] + weights[4])
    )
    assert iou({7}, {7}, {7: 0.0}) == 0.0  # a feature in every text carries no weight, so no evidence either
    assert iou({1, 2}, {2, 3}, {1: 1.0, 2: 1.0, 3: 1.0}) == iou({1, 2}, {2, 3})  # equal weights: the plain IoU
    assert iou_values(sets_a, sets_b, range(3), [weights]) == {
        0: [pytest.approx(weights[1] / (weights[1] + weights[2]))],
        1: [pytest.approx(weights[1] / sum(weights[f] for f in (1, 2, 3, 4)))],
    }
    assert idf_weights([None]) == []


def _planted_corpus(rng, n_lines: int, shared_content: int) -> tuple[list, list]:
    """Two languages' texts, one layer: each text has most of 150 generic features (they fire in ~90% of texts),
    a few language-specific ones, its own rare features, and ``shared_content`` rare features that its
    translation shares (the planted language-independent content)."""
    generic = range(150)
    texts = {"a": [], "b": []}
    for line in range(n_lines):
        content = {1000 + 10 * line + k for k in range(shared_content)}
        for lang, offset in (("a", 200), ("b", 300)):
            own = {5000 + 1000 * (lang == "b") + 10 * line + k for k in range(rng.randrange(1, 4))}
            specific = {offset + f for f in range(50) if rng.random() < 0.5}
            text = {f for f in generic if rng.random() < 0.9} | specific | own | content
            texts[lang].append([text])
    return texts["a"], texts["b"]


def test_idf_overlap_finds_planted_shared_content_that_saturated_iou_hides():
    import random

    sets_a, sets_b = _planted_corpus(random.Random(0), 40, shared_content=3)
    parallel_order, baseline_order = range(40), derangement(40, 0)
    weights = idf_weights(sets_a, sets_b)
    plain = paired_difference(iou_values(sets_a, sets_b, parallel_order), iou_values(sets_a, sets_b, baseline_order))
    weighted = paired_difference(
        iou_values(sets_a, sets_b, parallel_order, weights), iou_values(sets_a, sets_b, baseline_order, weights)
    )
    assert weighted[1][0] > 0  # the interval of the weighted difference lies above 0
    assert weighted[0][0] > 4 * plain[0][0] > 0  # and the effect is several times what the plain IoU shows


def test_idf_overlap_holds_its_false_positive_rate_when_nothing_is_shared():
    """No planted content: parallel pairs are as unrelated as the baseline's, so the 95% interval should lie
    above 0 in about 2.5% of corpora (the weights come from the same texts, which must not bias the test)."""
    import random

    rng = random.Random(1)
    hits = 0
    for trial in range(100):
        sets_a, sets_b = _planted_corpus(rng, 30, shared_content=0)
        weights = idf_weights(sets_a, sets_b)
        parallel = iou_values(sets_a, sets_b, range(30), weights)
        baseline = iou_values(sets_a, sets_b, derangement(30, trial), weights)
        hits += paired_difference(parallel, baseline, seed=trial, draws=500)[1][0] > 0
    assert hits <= 6


def _length_confounded_corpus(rng, n_lines: int) -> tuple[list, list, list]:
    """Two languages' texts, one layer, nothing shared in meaning: each feature fires per token with its own
    probability, so long texts hold more features, and a text and its translation are alike in length (0.8-1.25x)
    over a 3-80 token range. Returns both languages' sets and B's lengths."""
    pool = [0.25 / (1 + f / 15) for f in range(400)]  # frequent to rare, shared by both languages
    sets_a, sets_b, lengths_b = [], [], []
    for _ in range(n_lines):
        length = math.exp(rng.uniform(math.log(3), math.log(80)))
        for sets, own in ((sets_a, 1000), (sets_b, 2000)):
            n_tokens = max(1, round(length * rng.uniform(0.8, 1.25)))
            fired = {f for f, p in enumerate(pool) if rng.random() < 1 - (1 - p) ** n_tokens}
            fired |= {own + f for f, p in enumerate(pool[:100]) if rng.random() < 1 - (1 - p) ** n_tokens}
            sets.append([fired])
        lengths_b.append(n_tokens)
    return sets_a, sets_b, lengths_b


@pytest.mark.parametrize("measure", ["iou", "idf"])
def test_length_matched_baseline_holds_the_false_positive_rate_where_a_shuffled_one_fails(measure):
    """Translations share length, not meaning, here: the IoU of like-sized sets is higher, so against random
    partners "parallel beats the baseline" nearly always; against partners as long as the translation it should
    happen in about 2.5% of corpora."""
    import random

    rng = random.Random(2)
    hits = {"shuffled": 0, "length": 0}
    for trial in range(100):
        sets_a, sets_b, lengths_b = _length_confounded_corpus(rng, 40)
        weights = idf_weights(sets_a, sets_b) if measure == "idf" else None
        parallel = iou_values(sets_a, sets_b, range(40), weights)
        for name, pairing in (
            ("shuffled", derangement(40, trial)),
            ("length", length_matched_partners(lengths_b, trial)),
        ):
            baseline = iou_values(sets_a, sets_b, pairing, weights)
            hits[name] += paired_difference(parallel, baseline, seed=trial, draws=500)[1][0] > 0
    assert hits["shuffled"] >= 80
    assert hits["length"] <= 6


def test_length_matched_partners_pick_the_nearest_other_line_and_skip_empty_ones():
    lengths = [10, 11, 40, None, 38, 10]
    partners = length_matched_partners(lengths, seed=0)
    assert partners[0] == 5 and partners[5] == 0  # equal length, another line
    assert partners[2] == 4 and partners[4] == 2
    assert partners[1] in (0, 5)  # a tie, broken by the seed
    assert 3 not in partners and all(j != i for i, j in enumerate(partners))
    assert {length_matched_partners(lengths, seed=s)[1] for s in range(20)} == {0, 5}
    with pytest.raises(bg.BabelgraphError, match="two non-empty lines"):
        length_matched_partners([5, None], seed=0)


def test_paired_difference_mean_and_bootstrap_interval():
    # layer 0: parallel beats baseline by exactly 0.5 on every line, so every resample gives 0.5;
    # layer 1: differences +1 and -1 on two lines each: mean 0, and the interval must straddle 0.
    parallel = {0: [0.75, 1.0], 1: [0.5, 0.0], 2: [1.0, 1.0], 3: [0.5, 0.0]}
    baseline = {0: [0.25, 0.0], 1: [0.0, 1.0], 2: [0.5, 0.0], 3: [0.0, 1.0], 9: [0.0, 0.0]}
    means, lows, highs = paired_difference(parallel, baseline, seed=0)
    assert means == pytest.approx([0.5, 0.0])
    assert lows[0] == pytest.approx(0.5) and highs[0] == pytest.approx(0.5)
    assert lows[1] < 0 < highs[1] and lows[1] >= -1 and highs[1] <= 1
    assert paired_difference(parallel, baseline, seed=3) == paired_difference(parallel, baseline, seed=3)
    one = paired_difference({0: [0.1]}, {0: [0.0]})  # a single line: no interval
    assert all(math.isnan(v) for part in one for v in part)
    sets_a = [[{1, 2}], None, [{3}]]
    sets_b = [[{2}], [{1}], [{3}]]
    assert iou_values(sets_a, sets_b, range(3)) == {0: [0.5], 2: [1.0]}


def test_derangement_has_no_fixed_point_and_is_seeded():
    for n in (2, 3, 10, 309):
        order = derangement(n, seed=0)
        assert sorted(order) == list(range(n))
        assert all(i != j for i, j in enumerate(order))
    assert derangement(50, 1) == derangement(50, 1)


def test_reference_texts_are_aligned_and_unknown_language_fails():
    texts = reference_texts()
    assert set(texts) == {"en", "fr", "zh"}
    assert len({len(lines) for lines in texts.values()}) == 1 and 200 <= len(texts["en"]) <= 400
    with pytest.raises(bg.BabelgraphError, match="no reference text"):
        reference_texts(["en", "xx"])


# ---- on the demo model --------------------------------------------------------------------------------------
def test_feature_statistics_monolinguality_cache_and_contexts(tmp_path, monkeypatch):
    model = demo()
    features = [(k, i) for k in range(len(model.dictionaries)) for i in range(0, 1024, 97)]
    stats = feature_statistics(model, features, top_k=4)
    for f in features:
        s = stats[f]
        total = sum(max(0.0, m) for m in s.mean_activation.values())
        if total > 0:  # shares are the means normalised; the score rescales the top share to [0, 1]
            assert all(s.share[g] == pytest.approx(max(0.0, m) / total) for g, m in s.mean_activation.items())
            assert s.score == pytest.approx((3 * max(s.share.values()) - 1) / 2) and 0 <= s.score <= 1
            assert s.share[s.top_language] == max(s.share.values())
        assert s.enough == (sum(s.active_positions.values()) >= 5)
        for lang in s.mean_activation:
            values = [c.activation for c in s.top_contexts[lang]]
            assert values == sorted(values, reverse=True) and len(values) <= 4
    assert list((tmp_path / "cache" / "reference").glob("*.safetensors"))

    def no_recompute(*args, **kwargs):
        raise AssertionError("the second call should read the cache")

    monkeypatch.setattr(reference, "_compute", no_recompute)
    assert feature_statistics(model, features, top_k=4) == stats

    f, lang = next((f, lang) for f in features for lang in ("en", "fr", "zh") if stats[f].top_contexts[lang])
    context = stats[f].top_contexts[lang][0]
    tokens, start = reference.encode_line(model, context.text)  # lines longer than the context are truncated
    has_bos = bool(start)
    direct = trace(model, tokens, has_bos).activations[f[0]][context.position, f[1]]
    assert context.activation == pytest.approx(float(direct), rel=1e-4, abs=1e-5)
    assert context.token == model.model.tokenizer.decode([int(tokens[context.position])])
    # the evidence count, recomputed line by line from traces (BOS excluded)
    count = 0
    for line in reference.reference_texts([lang])[lang]:
        tokens, start = reference.encode_line(model, line)
        count += int((trace(model, tokens, bool(start)).activations[f[0]][start:, f[1]] > 0).sum())
    assert stats[f].active_positions[lang] == count


def test_feature_statistics_rejects_bad_input():
    with pytest.raises(bg.BabelgraphError, match="out of range"):
        feature_statistics(demo(), [(99, 0)])
    with pytest.raises(bg.BabelgraphError, match="at least two"):
        feature_statistics(demo(), [(0, 0)], languages=["en"])


def test_co_firing_null_strata_and_benjamini_hochberg_known_answers():
    assert co_firing_expected([(4, 2, 2), (3, 3, 1)]) == pytest.approx(2.0)
    # one stratum of 4 lines, the feature in 2 of A's and 2 of B's: joint firings 0, 1, 2 with 1/6, 4/6, 1/6
    assert co_firing_p_value(2, [(4, 2, 2)]) == pytest.approx(1 / 6)
    assert co_firing_p_value(1, [(4, 2, 2)]) == pytest.approx(5 / 6)
    assert co_firing_p_value(3, [(4, 2, 2), (3, 3, 1)]) == pytest.approx(1 / 6)  # the full stratum adds 1 for sure
    # a rare feature: once in A and once in B in each of 10 strata of 10 lines, so Binomial(10, 0.1) joint firings
    binomial_tail = 1 - sum(math.comb(10, k) * 0.1**k * 0.9 ** (10 - k) for k in range(3))
    assert co_firing_p_value(3, [(10, 1, 1)] * 10) == pytest.approx(binomial_tail)
    assert co_firing_p_value(0, [(10, 0, 4)]) == 1.0 and co_firing_p_value(1, [(10, 0, 4)]) == 0.0
    assert [len(g) for g in length_strata(list(range(25)), 10)] == [10, 10, 5]
    assert [len(g) for g in length_strata(list(range(12)))] == [5, 7]  # the default size, 5
    assert [len(g) for g in length_strata(list(range(24)), 10)] == [10, 14]
    assert length_strata([5, 1, 3, 2], 2) == [[1, 3], [2, 0]]
    assert benjamini_hochberg([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.04, 0.04])
    assert benjamini_hochberg([0.01], n_hypotheses=10) == pytest.approx([0.1])
    assert benjamini_hochberg([0.5, 0.001], n_hypotheses=4) == pytest.approx([1.0, 0.004])


def _co_firing_corpus(seed: int, n_lines: int = 100, n_features: int = 60, shared: tuple[int, ...] = ()):
    """Two languages' feature sets per line (one layer): each feature fires in a random 30% of lines in each
    language independently, except the ``shared`` ones, which fire in the same random 30% of lines in both."""
    rng = torch.Generator().manual_seed(seed)
    a = [set() for _ in range(n_lines)]
    b = [set() for _ in range(n_lines)]
    for f in range(n_features):
        in_a = torch.rand(n_lines, generator=rng) < 0.3
        in_b = in_a if f in shared else torch.rand(n_lines, generator=rng) < 0.3
        for i in range(n_lines):
            if in_a[i]:
                a[i].add(f)
            if in_b[i]:
                b[i].add(f)
    return [[s] for s in a], [[s] for s in b]


def test_shared_features_finds_planted_ones_and_nothing_where_nothing_is_shared():
    found_planted, false_discoveries = [], 0
    for seed in range(10):
        sets_a, sets_b = _co_firing_corpus(seed, shared=(3, 17))
        lengths = [1 + i % 7 for i in range(len(sets_b))]
        rows = shared_features(sets_a, sets_b, lengths, "en-zh", ["L0"], [0])
        significant = {r.feature for r in rows if r.q_value <= FDR}
        found_planted.append({3, 17} <= significant)
        false_discoveries += len(significant - {3, 17})
        planted = next(r for r in rows if r.feature == 3)
        assert planted.parallel_both > planted.expected_both
        assert (planted.pair, planted.dictionary, planted.layer) == ("en-zh", "L0", 0)
    assert all(found_planted)
    assert false_discoveries <= 4  # 10 corpora of 58 null features each, FDR 5% (about 1 expected; uncorrected: ~29)
    null_runs = [
        {r.feature for r in shared_features(*_co_firing_corpus(seed), [1] * 100) if r.q_value <= FDR}
        for seed in range(20)
    ]
    assert sum(bool(s) for s in null_runs) <= 3  # under the complete null, any discovery at most ~5% of the time


def test_shared_features_controls_for_length():
    """A feature that fires in long texts of both languages co-fires in translations (alike in length) without being
    shared. Compared within strata of like length it is not found, wherever its length threshold falls; against all
    lines it is, for most thresholds. The same for a feature whose rate grows with length."""
    n = 60
    lengths = [5 + i for i in range(n)]
    within, across = 0, 0
    for cutoff in range(10, 60):
        fires = [[{1} if length > cutoff else set()] for length in lengths]
        within += any(r.q_value <= FDR for r in shared_features(fires, fires, lengths))
        across += any(r.q_value <= FDR for r in shared_features(fires, fires, lengths, stratum_size=n))
    assert within == 0 and across >= 40
    graded_within, graded_across = 0, 0
    for seed in range(20):
        rng = torch.Generator().manual_seed(seed)
        lengths = torch.randint(5, 121, (200,), generator=rng).tolist()
        rate = torch.tensor([(length - 5) / 115 for length in lengths])
        sets_a = [[{1} if x else set()] for x in (torch.rand(200, generator=rng) < rate).tolist()]
        sets_b = [[{1} if x else set()] for x in (torch.rand(200, generator=rng) < rate).tolist()]
        graded_within += any(r.q_value <= FDR for r in shared_features(sets_a, sets_b, lengths))
        graded_across += any(r.q_value <= FDR for r in shared_features(sets_a, sets_b, lengths, stratum_size=200))
    assert graded_within <= 3 and graded_across >= 15


def test_shared_features_counts_and_skips_empty_lines():
    sets_a = [[{1, 2}], [{1}], None, [{2}]]
    sets_b = [[{1}], [{1, 2}], [{2}], [{2}]]
    rows = {r.feature: r for r in shared_features(sets_a, sets_b, [1, 1, 1, 1], stratum_size=4)}
    with pytest.raises(bg.BabelgraphError, match="only 1 hypotheses"):
        benjamini_hochberg([0.01, 0.02], n_hypotheses=1)
    assert 0 < co_firing_p_value(310, [(1200, 600, 600)]) < 0.5  # large strata: exact integers, no float overflow
    assert co_firing_p_value(601, [(1200, 600, 600)]) == 0.0  # more joint firings than either language has
    # lines 0, 1, 3 (line 2 of A is empty): feature 1 fires in both at 0 and 1, in A at 0 and 1, in B at 0 and 1
    assert rows[1].parallel_both == 2 and rows[1].expected_both == pytest.approx(2 * 2 / 3)
    assert rows[2].parallel_both == 1 and rows[2].expected_both == pytest.approx(2 * 2 / 3)


def test_feature_overlap_on_demo(tmp_path):
    result = feature_overlap(demo())
    assert result.pairs == ["en-fr", "en-zh", "fr-zh"]
    values = [v for table in (result.parallel_mean, result.baseline_mean) for row in table.values() for v in row]
    assert all(0.0 <= v <= 1.0 for v in values)
    parallel = [v for row in result.parallel_mean.values() for v in row]
    baseline = [v for row in result.baseline_mean.values() for v in row]
    assert sum(parallel) / len(parallel) > sum(baseline) / len(baseline)
    for pair in result.pairs:  # the difference is reported with an interval that contains it
        for k, (d, low, high) in enumerate(
            zip(result.difference[pair], result.difference_low[pair], result.difference_high[pair])
        ):
            assert d == pytest.approx(result.parallel_mean[pair][k] - result.baseline_mean[pair][k])
            assert low <= d <= high
    table = json.loads(save_overlap_table(result, tmp_path / "o.json").read_text(encoding="utf-8"))
    assert len(table["rows"]) == 3 * (1 + len(demo().dictionaries))  # per pair: the token row, then the layers
    assert [row["layer"] for row in table["rows"][: 1 + len(demo().dictionaries)]] == [-1, *result.layers]
    assert "tok " in result.format_table().splitlines()[1]
    assert save_overlap_table(result, tmp_path / "o.csv").read_text().startswith("pair,dictionary,layer")
    assert save_overlap_plot(result, tmp_path / "o.png").read_bytes()[:4] == b"\x89PNG"


def test_identical_texts_overlap_fully_in_tokens_and_features_and_beat_the_baseline(tmp_path):
    lines = ["The sun is hot.", "Le chat dort.", "大小", "The opposite of small is big.", "Ici, lune."]
    for measure in ("iou", "idf"):
        result = feature_overlap(demo(), {"en": lines, "xx": lines}, measure=measure)
        shared = result.shared["en-xx"]  # a text's features all fire in its "translation": never fewer than chance
        assert shared and all(f.parallel_both >= f.expected_both for f in shared)
        assert {f.layer for f in shared} <= set(result.layers)
        written = save_shared_features(result, tmp_path / "f.csv").read_text(encoding="utf-8").splitlines()
        assert len(written) == 1 + len(shared)
        plot_only = feature_overlap(demo(), {"en": lines, "xx": lines}, measure=measure, per_feature=False)
        assert plot_only.shared == {} and plot_only.difference == result.difference
        assert result.tokens["en-xx"].parallel_mean == [pytest.approx(1.0)]
        assert result.tokens["en-xx"].baseline_mean[0] < 0.5
        assert result.parallel_mean["en-xx"] == pytest.approx([1.0] * len(result.layers))
        assert all(d > 0 for d in result.difference["en-xx"])


def test_token_control_is_at_its_baseline_for_texts_in_disjoint_scripts():
    """Latin against Han characters share no token ids, so the lexical control shows nothing either way."""
    texts = {"en": ["big", "small", "hot", "cold"], "zh": ["大", "小", "热", "冷"]}
    for measure in ("iou", "idf"):
        tokens = feature_overlap(demo(), texts, measure=measure).tokens["en-zh"]
        assert tokens.parallel_mean == tokens.baseline_mean == [0.0]


def test_feature_overlap_skips_empty_lines_and_rejects_mismatched_counts():
    texts = {"en": ["The sun is hot.", "   ", "The moon is cold."], "fr": ["Ici, soleil.", "Ici, eau.", "Ici, lune."]}
    result = feature_overlap(demo(), texts)
    assert result.skipped == {"en": 1, "fr": 0} and result.n_pairs["en-fr"] == 2
    with pytest.raises(bg.BabelgraphError, match="same number of lines"):
        feature_overlap(demo(), {"en": ["a b", "c d"], "fr": ["e f"]})
    weighted = feature_overlap(demo(), texts, measure="idf")
    assert weighted.measure == "idf" and weighted.n_pairs["en-fr"] == 2
    assert all(0.0 <= v <= 1.0 for v in weighted.parallel_mean["en-fr"] + weighted.baseline_mean["en-fr"])
    with pytest.raises(bg.BabelgraphError, match="overlap measure 'cosine'"):
        feature_overlap(demo(), texts, measure="cosine")
    with pytest.raises(bg.BabelgraphError, match="overlap baseline 'template'"):
        feature_overlap(demo(), texts, baseline="template")
    with pytest.raises(bg.BabelgraphError, match="fr: fewer than two lines"):
        feature_overlap(demo(), {"en": ["The sun.", "The moon."], "fr": ["Le soleil.", "  "]})
    shuffled = feature_overlap(demo(), texts, baseline="shuffled")
    assert shuffled.baseline == "shuffled" and shuffled.parallel_mean == result.parallel_mean


def test_cli_overlap(tmp_path, capsys):
    folder = tmp_path / "texts"
    folder.mkdir()
    texts = reference_texts(["en", "zh"])
    for lang, lines in texts.items():
        (folder / f"{lang}.txt").write_text("\n".join(lines[:40]) + "\n", encoding="utf-8")
    assert main(["overlap", "--languages", "en,zh", "--texts-dir", str(folder), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "en-zh" in out and "parallel" in out
    for suffix in ("png", "csv", "json"):
        assert (tmp_path / f"overlap-en-zh.{suffix}").is_file()
    assert "features shared beyond chance" in out
    shared = (tmp_path / "overlap-en-zh-features.csv").read_text(encoding="utf-8").splitlines()
    assert shared[0] == "pair,dictionary,layer,feature,parallel_both,expected_both,p_value,q_value" and len(shared) > 1
    args = ["overlap", "--languages", "en,zh", "--texts-dir", str(folder), "--out", str(tmp_path), "--measure", "idf"]
    assert main(args) == 0
    assert "IDF-weighted" in capsys.readouterr().out
    assert json.loads((tmp_path / "overlap-en-zh-idf.json").read_text(encoding="utf-8"))["measure"] == "idf"
    assert main([*args, "--baseline", "shuffled"]) == 0
    saved = json.loads((tmp_path / "overlap-en-zh-idf-shuffled.json").read_text(encoding="utf-8"))
    assert (saved["measure"], saved["baseline"]) == ("idf", "shuffled")
    assert "seeded random unrelated line" in capsys.readouterr().out
    assert main(["overlap", "--languages", "en,de", "--out", str(tmp_path)]) == 2
    assert "no reference text" in capsys.readouterr().err


def _overlap_controls():
    """examples/overlap_controls.py, which the README's overlap numbers are made with."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "overlap_controls.py"
    spec = importlib.util.spec_from_file_location("overlap_controls", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_overlap_placebo_pairs_no_line_with_its_translation_in_any_pair():
    texts = {lang: [f"{lang}{i}" for i in range(7)] for lang in ("en", "fr", "zh", "de")}
    shuffled = _overlap_controls().placebo(texts, seed=3)
    assert shuffled["en"] == texts["en"]
    origin = {lang: [int(line[2:]) for line in lines] for lang, lines in shuffled.items()}
    assert all(sorted(order) == list(range(7)) for order in origin.values())  # each a permutation of the lines
    langs = list(origin)
    for x, a in enumerate(langs):
        for b in langs[x + 1 :]:
            assert all(i != j for i, j in zip(origin[a], origin[b])), (a, b)

    # with the lines' lengths, overlap's baselines (both kinds, seed 0) must not meet a translation either
    texts = {lang: [f"{lang}{i:02d}" for i in range(30)] for lang in ("en", "fr", "zh")}
    lengths = {lang: [3 + (7 * i) % 11 for i in range(30)] for lang in texts}
    shuffled = _overlap_controls().placebo(texts, seed=0, lengths=lengths)
    origin = {lang: [int(line[2:]) for line in lines] for lang, lines in shuffled.items()}
    for x, a in enumerate(texts):
        for b in list(texts)[x + 1 :]:
            placed = [lengths[b][i] for i in origin[b]]
            for pairing in (range(30), length_matched_partners(placed, 0), derangement(30, 0)):
                assert all(origin[a][i] != origin[b][j] for i, j in enumerate(pairing)), (a, b)


def test_overlap_latin_split_partitions_lines_by_the_script_language():
    texts = {"en": ["the cat", "use --force", "ten"], "zh": ["猫", "使用 --force", "十"]}
    split = _overlap_controls().latin_split(texts, "zh")
    assert split["no-latin"] == {"en": ["the cat", "ten"], "zh": ["猫", "十"]}
    assert split["latin"] == {"en": ["use --force"], "zh": ["使用 --force"]}
