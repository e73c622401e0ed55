"""The graph object (files, networkx), exploration by influence, targets, and bad input on tiny models."""

from __future__ import annotations

import os

import pytest
import torch
from _frozen import target_values, trace_of, zero_sources
from _tiny import gpt2_style, llama_style, make_sae, make_transcoder

import babelgraph as bg
from babelgraph import AttributionGraph, BabelgraphError

PROMPT = "the opposite of small is"


@pytest.fixture(scope="module")
def transcoder_model():
    hooked = gpt2_style()
    return bg.load_model(hooked, [make_transcoder("skip_transcoder", layer) for layer in range(3)])


@pytest.fixture(scope="module")
def graph(transcoder_model):
    return bg.attribute(transcoder_model, PROMPT, progress=False)


def test_graph_has_the_documented_shape(graph):
    counts = graph.node_counts()
    n_tokens = len(graph.tokens)
    assert counts["embedding"] == n_tokens and counts["error"] == 3 * n_tokens
    assert 1 <= counts["logit"] <= 10
    kinds = [node.kind for node in graph.nodes]
    assert kinds == sorted(kinds, key=["feature", "error", "embedding", "logit"].index)
    assert graph.token_strings[0] == "<bos>" and graph.prompt == PROMPT
    probs = graph.logit_probabilities
    assert bool((probs[:-1] >= probs[1:]).all())  # top tokens, most likely first
    # no edge into an embedding or error, and none from a logit
    for kind in ("embedding", "error"):
        assert graph.adjacency[graph.indices(kind)].abs().sum() == 0
    assert graph.adjacency[:, graph.indices("logit")].abs().sum() == 0


def test_save_and_load_round_trip(graph, tmp_path):
    path = graph.save(tmp_path / "g.safetensors")
    loaded = AttributionGraph.load(path)
    assert torch.equal(loaded.adjacency, graph.adjacency)
    assert loaded.nodes == graph.nodes and loaded.tokens == graph.tokens and loaded.prompt == graph.prompt
    assert loaded.metadata == graph.metadata
    assert [p.name for p in tmp_path.iterdir()] == ["g.safetensors"]  # no temporary file left behind
    with open(path, "rb") as handle:
        assert b"pickle" not in handle.read(4096)


def test_load_refuses_foreign_files(tmp_path):
    bogus = tmp_path / "not-a-graph.safetensors"
    bogus.write_bytes(b"hello")
    with pytest.raises(BabelgraphError, match="not a babelgraph graph"):
        AttributionGraph.load(bogus)
    with pytest.raises(BabelgraphError, match="does not exist"):
        AttributionGraph.load(tmp_path / "missing.safetensors")


def test_unwritable_folder_is_a_clear_error_and_leaves_nothing(graph, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores permissions: use a path under a file instead
            target = tmp_path / "afile"
            target.write_text("x")
            path = target / "g.safetensors"
        else:
            path = locked / "g.safetensors"
        with pytest.raises(BabelgraphError, match="cannot write"):
            graph.save(path)
    finally:
        locked.chmod(0o700)
    assert not any(p.name.startswith(".g.safetensors") for p in tmp_path.rglob("*"))


def test_to_networkx_keeps_signed_edges(graph):
    nx_graph = graph.to_networkx()
    assert nx_graph.number_of_nodes() == len(graph.nodes)
    assert nx_graph.number_of_edges() == graph.n_edges
    t, s = torch.nonzero(graph.adjacency)[0].tolist()
    edge = nx_graph.edges[graph.nodes[s].id, graph.nodes[t].id]
    assert edge["weight"] == pytest.approx(float(graph.adjacency[t, s]))


def test_max_feature_nodes_explores_by_influence_and_stays_complete(transcoder_model, graph):
    limited = bg.attribute(transcoder_model, PROMPT, max_feature_nodes=20, batch_size=8, progress=False)
    assert limited.node_counts()["feature"] == 20 < graph.node_counts()["feature"]
    # unexplored features are folded into their position's error node: rows still sum to pre-activations
    tr = trace_of(transcoder_model, limited)
    values = target_values(transcoder_model, limited, tr)
    bias = target_values(transcoder_model, limited, tr, **zero_sources(tr))
    rows = limited.indices("feature") + limited.indices("logit")
    total = limited.adjacency.double().sum(1) + bias
    assert torch.allclose(total[rows], values[rows], atol=1e-5 * float(values[rows].abs().max()))
    # the logit rows agree with the full graph on every shared source
    full_ids = {node.id: i for i, node in enumerate(graph.nodes)}
    for t in limited.indices("logit"):
        for s in limited.indices("feature") + limited.indices("embedding"):
            full = graph.adjacency[full_ids[limited.nodes[t].id], full_ids[limited.nodes[s].id]]
            assert float(limited.adjacency[t, s]) == pytest.approx(float(full), abs=1e-6)
    # the explored features are the most influential ones, not an arbitrary subset
    influence = {n.id: n.influence for n in bg.prune(graph, 1.0, 1.0).nodes if n.kind == "feature"}
    chosen = [influence.get(limited.nodes[i].id, 0.0) for i in limited.indices("feature")]
    median = sorted(influence.values())[len(influence) // 2]
    assert sum(c > median for c in chosen) >= 15


def test_named_targets(transcoder_model):
    graph = bg.attribute(transcoder_model, PROMPT, targets=["big", "grand"], progress=False)
    assert [node.token for node in graph.logit_nodes] == ["big", "grand"]
    with pytest.raises(BabelgraphError, match="2 tokens"):
        bg.attribute(transcoder_model, PROMPT, targets=["big grand"], progress=False)


def test_token_id_prompts_work_without_tokenizer():
    model = bg.load_model(
        llama_style(with_tokenizer=False), [make_sae("topk", f"blocks.{i}.hook_resid_post") for i in range(3)]
    )
    graph = bg.attribute(model, [3, 4, 5, 6], progress=False)
    assert graph.tokens == [3, 4, 5, 6] and graph.metadata["has_bos"] is False


@pytest.mark.parametrize(
    ("prompt", "message"),
    [("", "empty"), ("   ", "empty"), ("small " * 40, "context is 24"), ([], "tokenizes to nothing")],
)
def test_bad_prompts(transcoder_model, prompt, message):
    with pytest.raises(BabelgraphError, match=message):
        bg.attribute(transcoder_model, prompt, progress=False)


def test_dictionaries_that_do_not_fit_are_refused():
    hooked = gpt2_style()
    wide = make_sae("standard", "blocks.0.hook_resid_post", d_in=16)
    with pytest.raises(BabelgraphError, match="belongs to another model"):
        bg.load_model(hooked, [wide])
    nowhere = make_sae("standard", "blocks.7.hook_resid_post")
    with pytest.raises(BabelgraphError, match="does not exist"):
        bg.load_model(hooked, [nowhere])
    with pytest.raises(BabelgraphError, match="neither a folder nor a sae_lens release"):
        bg.load_model(hooked, "no-such-release-anywhere")
    with pytest.raises(BabelgraphError, match="two dictionaries write"):
        bg.load_model(hooked, [make_sae("topk", "blocks.0.hook_resid_post")] * 2)


def test_dictionaries_load_from_sae_lens_folders(tmp_path):
    hooked = gpt2_style()
    for layer in range(3):
        make_transcoder("jumprelu_skip_transcoder", layer).save_model(tmp_path / f"layer_{layer}")
    model = bg.load_model(hooked, tmp_path)
    assert [d.layer for d in model.dictionaries] == [0, 1, 2]
    assert all(d.kind == "transcoder" and d.skip() is not None for d in model.dictionaries)
    one = bg.load_model(hooked, {"blocks.1.ln2.hook_normalized": tmp_path / "layer_1"})
    assert [d.write_hooks[0] for d in one.dictionaries] == ["blocks.1.hook_mlp_out"]
