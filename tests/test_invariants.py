"""The method's invariants (docs/method.md) on tiny random models: reproduction, completeness, intervention."""

from __future__ import annotations

import pytest
import torch
from _cross_layer import CrossLayerWeights
from _frozen import target_values, trace_of, with_source_added, zero_sources
from _tiny import D_MODEL, MODELS, SAES, WIDTH, make_sae, make_transcoder

import babelgraph as bg
from babelgraph.model.replacement import demeaned_logits, frozen_forward

PROMPT = "the opposite of small is"


def transcoder_setup(model):
    """Three transcoder kinds, reading from two different hooks (a parallel block's MLP reads the residual
    entering the block: it has no hook_resid_mid)."""
    kinds = ["jumprelu_skip_transcoder", "skip_transcoder", "transcoder"]
    mid = "hook_resid_mid" if "blocks.1.hook_resid_mid" in model.hook_dict else "hook_resid_pre"
    hooks = ["ln2.hook_normalized", mid, "ln2.hook_normalized"]
    return [make_transcoder(kinds[layer], layer, hooks[layer]) for layer in range(3)]


def jumprelu_transcoder_setup(model):
    return [make_transcoder("jumprelu_transcoder", layer) for layer in range(3)]


def skip_transcoder_setup(model):
    """Every MLP replaced by a skip transcoder reading ln2's output: the written-out backward pass
    (babelgraph.model.backward) computes these rows wherever the blocks allow it."""
    return [make_transcoder("skip_transcoder", layer, seed=layer) for layer in range(3)]


def sae_setup(kind):
    def build(model):
        return [make_sae(kind, f"blocks.{layer}.hook_resid_post") for layer in range(3)]

    return build


def mixed_sae_setup(model):
    """SAEs at attention output, z (per-head), MLP output and residual hooks in one model."""
    n_z = model.cfg.n_heads * model.cfg.d_head
    return [
        make_sae("gated", "blocks.0.hook_resid_pre"),  # reads the embeddings themselves
        make_sae("standard", "blocks.0.hook_attn_out"),
        make_sae("jumprelu", "blocks.0.hook_mlp_out"),
        make_sae("topk", "blocks.1.attn.hook_z", d_in=n_z),
        make_sae("gated", "blocks.2.hook_resid_pre"),
    ]


def cross_layer_setup(model):
    """A dictionary type registered by the test itself: one cross-layer transcoder writing the MLP outputs of
    layers 0 and 1 (two write points, one dictionary), then a sae_lens transcoder at layer 2."""
    return [CrossLayerWeights.random(D_MODEL, WIDTH, 0, (0, 1), seed=7), make_transcoder("skip_transcoder", 2)]


SETUPS = {
    "transcoders": transcoder_setup,
    "jumprelu-transcoders": jumprelu_transcoder_setup,
    "skip-transcoders": skip_transcoder_setup,
    **{f"resid-{kind}": sae_setup(kind) for kind in SAES},
    "mixed-saes": mixed_sae_setup,
    "cross-layer": cross_layer_setup,
}
CASES = [(m, s) for m in MODELS for s in SETUPS]


@pytest.fixture(params=CASES, ids=[f"{m}-{s}" for m, s in CASES], scope="module")
def case(request):
    model_name, setup_name = request.param
    hooked = MODELS[model_name]()
    model = bg.load_model(hooked, SETUPS[setup_name](hooked))
    graph = bg.attribute(model, PROMPT, batch_size=64, progress=False)
    return model, graph, trace_of(model, graph)


def rows_with_inputs(graph):
    return [i for i, node in enumerate(graph.nodes) if node.kind in ("feature", "logit")]


def test_frozen_model_reproduces_original_logits(case):
    model, graph, tr = case
    run = frozen_forward(model, tr, 1, requires_grad=False)
    original = model.model(tr.tokens[None])
    assert torch.allclose(run.logits, original, atol=1e-9, rtol=0)
    assert graph.n_edges > 0 and graph.node_counts()["feature"] > 0
    if not model.model.cfg.output_logits_soft_cap or model.model.cfg.output_logits_soft_cap <= 0:
        # the logits the targets measure are the model's own (de-meaned), final norm's gain and bias included
        expected = original - original.mean(dim=-1, keepdim=True)
        assert torch.allclose(demeaned_logits(model, run), expected, atol=1e-9, rtol=0)


def test_completeness_rows_sum_to_pre_activations(case):
    model, graph, tr = case
    values = target_values(model, graph, tr)
    bias = target_values(model, graph, tr, **zero_sources(tr))
    rows = rows_with_inputs(graph)
    total = graph.adjacency.double().sum(1) + bias
    scale = values[rows].abs().max()
    assert torch.allclose(total[rows], values[rows], atol=1e-5 * float(scale), rtol=0)


@pytest.mark.parametrize("kind", ["feature", "error", "embedding"])
def test_adding_a_source_moves_targets_by_its_column(case, kind):
    model, graph, tr = case
    base = target_values(model, graph, tr)
    rows = rows_with_inputs(graph)
    candidates = graph.indices(kind)
    picks = sorted({candidates[0], candidates[len(candidates) // 2], candidates[-1]})
    for column in picks:
        moved = target_values(model, graph, tr, **with_source_added(model, tr, graph.nodes[column]))
        expected = graph.adjacency[:, column].double()
        scale = max(float(expected.abs().max()), 1e-3)
        assert torch.allclose((moved - base)[rows], expected[rows], atol=2e-6 * scale + 1e-9, rtol=0), graph.nodes[
            column
        ]


def test_bos_features_are_not_nodes(case):
    _, graph, tr = case
    assert tr.has_bos
    assert all(node.position > 0 for node in graph.nodes if node.kind == "feature")
    # features that fire at BOS exist, so the exclusion is tested, not vacuous
    assert any(bool((acts[0] != 0).any()) for acts in tr.activations)


def test_a_cross_layer_dictionary_has_one_error_node_per_write_point():
    model = bg.load_model(MODELS["gpt2"](), cross_layer_setup(None))
    assert [d.kind for d in model.dictionaries] == ["cross-layer transcoder", "transcoder"]
    assert [p.hook for p in model.write_points] == [f"blocks.{layer}.hook_mlp_out" for layer in range(3)]
    graph = bg.attribute(model, PROMPT, progress=False)
    errors = [n for n in graph.nodes if n.kind == "error"]
    assert len(errors) == 3 * len(graph.tokens) and {n.layer for n in errors} == {0, 1, 2}


@pytest.mark.parametrize("model_name", ["qwen3", "gemma3", "parallel"])
def test_prefix_replays_give_the_same_graph(model_name):
    """Small batches cut the targets into position buckets, each replayed on a prefix of the prompt: the frozen
    values (QK-norm scales included, recorded as rows of heads) must slice to the prefix."""
    hooked = MODELS[model_name]()
    model = bg.load_model(hooked, transcoder_setup(hooked))
    whole = bg.attribute(model, PROMPT, batch_size=64, progress=False)
    pieces = bg.attribute(model, PROMPT, batch_size=2, progress=False)
    assert pieces.metadata["n_rows_computed"] == whole.metadata["n_rows_computed"]
    assert torch.allclose(pieces.adjacency, whole.adjacency, atol=1e-6, rtol=0)
