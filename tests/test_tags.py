"""The tags against ground truth: hand-made evidence with known answers, hand-computed statistics, and a tiny
model whose dictionary features are planted (a shared concept feature at different positions in prompts of
different lengths, a French-only feature, a quote feature every prompt has, a BOS feature)."""

from __future__ import annotations

import atexit
import shutil
import tempfile

import pytest
import torch
from sae_lens import StandardSAE, StandardSAEConfig
from sae_lens.saes.sae import SAEMetadata
from tokenizers import Tokenizer, models, pre_tokenizers
from transformer_lens import HookedTransformer, HookedTransformerConfig
from transformers import PreTrainedTokenizerFast

import babelgraph as bg
from babelgraph.languages.batch import baseline_jobs, concept_job, shared_share_by_layer
from babelgraph.languages.compare import compare
from babelgraph.languages.controls import auto_controls, concept_word
from babelgraph.languages.reference import monolinguality
from babelgraph.languages.tags import LanguageEvidence, TagRule, tag_counts_sweep, tag_feature


# ---- the rule on hand-made evidence -----------------------------------------------------------------------------
def ev(activation: float, controls: list[float]) -> LanguageEvidence:
    return LanguageEvidence(
        activation, [5] if activation > 0 else [], ["w"] if activation > 0 else [], [activation], controls=controls
    )


QUIET = [0.0] * 8  # fires on no control prompt
LOUD = [1.0] * 8  # fires on every control prompt


@pytest.mark.parametrize(
    ("evidence", "tag", "languages"),
    [
        ({"en": ev(2, QUIET), "fr": ev(1, QUIET), "zh": ev(0.5, QUIET)}, "shared-concept", ["en", "fr", "zh"]),
        ({"en": ev(2, QUIET), "fr": ev(0, QUIET), "zh": ev(0.1, QUIET)}, "specific-concept", ["en"]),
        ({"en": ev(2, LOUD), "fr": ev(2, LOUD), "zh": ev(0, QUIET)}, "shared-task", ["en", "fr"]),
        ({"en": ev(0, QUIET), "fr": ev(2, LOUD), "zh": ev(0, QUIET)}, "specific-task", ["fr"]),
        # silent on the English prompt, yet on most English controls: not French-specific, a shared task feature
        ({"en": ev(0, LOUD), "fr": ev(2, LOUD), "zh": ev(0, QUIET)}, "shared-task", ["en", "fr"]),
        # selective in French, but English fires on most of its controls: the evidence conflicts
        ({"en": ev(0, LOUD), "fr": ev(2, QUIET)}, "unclear", ["fr", "en"]),
        ({"en": ev(2, QUIET), "fr": ev(2, LOUD), "zh": ev(0, QUIET)}, "unclear", ["en", "fr"]),
        ({"en": ev(2, []), "fr": ev(0, QUIET)}, "unclear", ["en"]),
    ],
)
def test_rule_on_known_evidence(evidence, tag, languages):
    result = tag_feature(evidence)
    assert (result.tag, result.languages) == (tag, languages), result.reason


def test_activity_threshold_is_relative_and_bos_free():
    # 0.1 is below 0.1 x 2 = 0.2 (inactive); 0.3 is above it: the tag turns from specific to shared
    low = {"en": ev(2, QUIET), "fr": ev(0.1, QUIET)}
    high = {"en": ev(2, QUIET), "fr": ev(0.3, QUIET)}
    assert tag_feature(low).tag == "specific-concept" and tag_feature(high).tag == "shared-concept"
    assert tag_feature(low, TagRule(active_threshold=0.05)).tag == "shared-concept"  # absolute threshold


def test_control_rate_and_margin_by_hand():
    e = {"en": ev(1.0, [0.0, 0.5, 0.05, 2.0]), "fr": ev(0.0, QUIET)}  # threshold 0.1: 2 of 4 controls active
    assert e["en"].control_rate(0.1) == 0.5
    result = tag_feature(e, TagRule(max_control_rate=0.6))
    assert result.tag == "specific-concept"
    # margins: en activity (1.0 - 0.1) / 0.1 = 9, fr activity (0.1 - 0) / 0.1 = 1, control rate |0.5 - 0.6| = 0.1
    assert result.margin == pytest.approx(0.1)
    assert tag_feature(e, TagRule(max_control_rate=0.25)).tag == "specific-task"


def test_sweep_recomputes_counts_per_threshold():
    evidence = {(0, 1): {"en": ev(2, QUIET), "fr": ev(0.3, QUIET)}}
    rows = {(r["active_fraction"], r["max_control_rate"]): r for r in tag_counts_sweep(evidence)}
    assert rows[(0.1, 0.25)]["shared-concept"] == 1 and rows[(0.2, 0.25)]["specific-concept"] == 1
    assert all(sum(r[t] for t in ("shared-concept", "specific-concept", "unclear")) == 1 for r in rows.values())


def test_monolinguality_by_hand():
    share, score, top = monolinguality({"en": 3.0, "fr": 1.0, "zh": 0.0})
    assert share == {"en": 0.75, "fr": 0.25, "zh": 0.0} and top == "en"
    assert score == pytest.approx((3 * 0.75 - 1) / 2)
    assert monolinguality({"en": 1.0, "fr": 1.0})[1] == 0.0 and monolinguality({"en": 0.0, "fr": 2.0})[1] == 1.0
    assert monolinguality({"en": 0.0, "fr": 0.0})[1] == 0.0


def test_summary_share_and_band_by_hand():
    def features(layer_tags):
        return {"features": [{"layer": layer, "tag": tag} for layer, tag in layer_tags]}

    results = {
        "a": features([(0, "shared-concept"), (0, "specific-concept"), (1, "shared-task")]),
        "b": features([(0, "shared-concept"), (0, "shared-concept"), (1, "specific-concept")]),
    }
    layers = shared_share_by_layer(results)
    assert layers[0]["share_shared"] == pytest.approx(3 / 4) and layers[1]["share_shared"] == 0.0
    assert 0.5 <= layers[0]["low"] <= 0.75 <= layers[0]["high"] <= 1.0  # resampling a: 1/2, b: 1, both: 3/4


# ---- a planted model ----------------------------------------------------------------------------------------------
EN = {"concept": "small", "controls": ["hot", "long", "high", "old"], "words": ["The", "opposite", "of", "is"]}
FR = {
    "concept": "petit",
    "controls": ["chaud", "haut", "vieux", "lent"],
    "words": ["Le", "contraire", "du", "mot", "est"],
}
ZH = {"concept": "小", "controls": ["热", "长", "高", "老"], "words": ["的", "反义词", "是"]}
TEMPLATES = {
    "en": 'The opposite of " {} " is "',
    "fr": 'Le contraire du mot " {} " est "',
    "zh": '" {} " 的 反义词 是 "',
}
TABLE = {"en": EN, "fr": FR, "zh": ZH}
FRENCH = [*FR["words"], FR["concept"], *FR["controls"]]
VOCAB = ["<bos>", "<unk>", '"'] + [w for t in TABLE.values() for w in [*t["words"], t["concept"], *t["controls"]]]
SHARED, FRENCH_ONLY, QUOTE, BOS = 0, 1, 2, 3


def planted_model() -> bg.ReplacementModel:
    """One-hot embeddings, no positional embedding, and an SAE on the embeddings with four planted features."""
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<bos>", unk_token="<unk>")
    folder = tempfile.mkdtemp(prefix="babelgraph-planted-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    fast.save_pretrained(folder)
    d = 48
    cfg = HookedTransformerConfig(
        n_layers=1,
        d_model=d,
        n_heads=2,
        d_head=8,
        d_mlp=32,
        d_vocab=len(VOCAB),
        n_ctx=16,
        act_fn="gelu",
        normalization_type="LN",
        dtype=torch.float64,
        seed=3,
        model_name="planted",
    )
    hooked = HookedTransformer(cfg, tokenizer=PreTrainedTokenizerFast.from_pretrained(folder))
    with torch.no_grad():
        hooked.embed.W_E.copy_(torch.eye(len(VOCAB), d, dtype=torch.float64))
        hooked.pos_embed.W_pos.zero_()
    index = {w: i for i, w in enumerate(VOCAB)}

    def direction(words: list[str]) -> torch.Tensor:
        return torch.stack([torch.eye(d, dtype=torch.float64)[index[w]] for w in words]).sum(0)

    sae = StandardSAE(
        StandardSAEConfig(d_in=d, d_sae=8, dtype="float64", metadata=SAEMetadata(hook_name="blocks.0.hook_resid_pre"))
    )
    with torch.no_grad():
        sae.W_enc.zero_()
        sae.b_enc.fill_(-1.0)
        planted = {SHARED: ["small", "petit", "小"], FRENCH_ONLY: FRENCH, QUOTE: ['"'], BOS: ["<bos>"]}
        for f, words in planted.items():
            sae.W_enc[:, f] = direction(words)
            sae.b_enc[f] = -0.5  # fires (0.5) exactly on its words
        sae.W_dec.copy_(sae.W_enc.T / sae.W_enc.T.norm(dim=-1, keepdim=True).clamp_min(1e-9))
        sae.b_dec.zero_()
    return bg.load_model(hooked, [sae])


@pytest.fixture(scope="module")
def planted() -> bg.Comparison:
    model = planted_model()
    prompts = {lang: TEMPLATES[lang].format(t["concept"]) for lang, t in TABLE.items()}
    controls = {lang: [TEMPLATES[lang].format(w) for w in t["controls"]] for lang, t in TABLE.items()}
    return compare(
        model, prompts, controls=controls, node_threshold=1.0, edge_threshold=1.0, statistics=False, progress=False
    )


def test_planted_features_are_in_the_graphs_at_different_positions(planted):
    features = {info.feature: info for info in planted.features.values()}
    assert {SHARED, FRENCH_ONLY, QUOTE} <= set(features)
    shared = features[SHARED].evidence
    assert [shared[lang].positions for lang in ("en", "fr", "zh")] == [[5], [6], [2]]  # BOS at 0
    assert [shared[lang].tokens for lang in ("en", "fr", "zh")] == [["small"], ["petit"], ["小"]]
    assert len({len(g.tokens) for g in planted.graphs.values()}) == 3  # three prompt lengths


def test_planted_tags_are_recovered_exactly(planted):
    tags = {info.feature: (info.tag.tag, info.tag.languages) for info in planted.features.values()}
    assert tags[SHARED] == ("shared-concept", ["en", "fr", "zh"])
    assert tags[FRENCH_ONLY] == ("specific-task", ["fr"])
    assert tags[QUOTE] == ("shared-task", ["en", "fr", "zh"])  # aligned in every prompt, yet not a concept feature
    # precision and recall 1 on the planted features: no other planted feature carries these tags
    for tag, expected in (("shared-concept", {SHARED}), ("specific-task", {FRENCH_ONLY}), ("shared-task", {QUOTE})):
        assert {f for f, (t, _) in tags.items() if t == tag and f in (SHARED, FRENCH_ONLY, QUOTE, BOS)} == expected


def test_bos_never_counts(planted):
    assert all(info.feature != BOS for info in planted.features.values())  # fires at BOS only: never a node
    for info in planted.features.values():
        assert all(0 not in e.positions and 0 not in e.graph_positions for e in info.evidence.values())


def test_comparison_graph_draws_each_feature_where_it_fires(planted):
    graph = planted.graph
    node = next(n for n in graph.nodes if n.id == f"feat_0_{SHARED}")
    assert graph.token_strings[node.position].split(":", 1)[1] in ("small", "petit", "小")
    loaded = bg.AttributionGraph.load(graph.save(tempfile.mkdtemp() + "/c.safetensors"))
    from babelgraph.languages.tags import FeatureInfo

    info = FeatureInfo.from_dict(loaded.metadata["features"][node.id])
    assert info.tag.tag == "shared-concept" and info.evidence["fr"].positions == [6]


# ---- controls and the baseline --------------------------------------------------------------------------------------
def test_auto_controls_swap_the_concept_word_and_match_length():
    model = bg.load_model("demo")
    prompts = {"en": 'The opposite of "small" is "', "zh": '"小"的反义词是"', "de": "Das Gegenteil"}
    controls, notes = auto_controls(model, prompts, n=6, seed=1)
    assert concept_word(prompts["en"], "en") == "small" and concept_word(prompts["zh"], "zh") == "小"
    assert len(controls["en"]) == 6 and all(c.startswith('The opposite of "') for c in controls["en"])
    assert not any('"small"' in c or '"big"' in c for c in controls["en"])  # never the concept or its antonym
    assert all(len(c) == len(prompts["zh"]) for c in controls["zh"])  # one character swapped for another
    assert "de" not in controls and any("de" in n for n in notes)
    assert controls == auto_controls(model, prompts, n=6, seed=1)[0]  # seeded


def test_baseline_jobs_never_pair_a_concept_with_itself():
    jobs = [concept_job(c) for c in ("small", "hot", "long", "high")]
    base = baseline_jobs(jobs)
    assert len(base) == 4 and all(j.baseline and j.name.startswith("baseline/") for j in base)
    for job, b in zip(jobs, base):
        assert b.prompts["en"] == job.prompts["en"]
        assert b.prompts["fr"] != job.prompts["fr"] and b.prompts["zh"] != job.prompts["zh"]
        assert b.prompts["fr"] != jobs[[j.prompts["en"] for j in jobs].index(b.prompts["en"])].prompts["fr"]
