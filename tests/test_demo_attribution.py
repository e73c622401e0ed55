"""End to end on the bundled demo model: the canonical prompts' graphs are complete and prune sensibly."""

from __future__ import annotations

import pytest
import torch
from _frozen import target_values, trace_of, zero_sources

import babelgraph as bg
from babelgraph.cli import main

PROMPTS = {
    "en": ('The opposite of "small" is "', "big"),
    "fr": ('Le contraire de "petit" est "', "grand"),
    "zh": ('"小"的反义词是"', "大"),
}


@pytest.fixture(scope="module")
def demo():
    return bg.load_model("demo", device="cpu")


@pytest.fixture(scope="module", params=list(PROMPTS))
def graphs(request, demo):
    prompt, answer = PROMPTS[request.param]
    graph = bg.attribute(demo, prompt, progress=False)
    return prompt, answer, graph, bg.prune(graph)


def test_top_logit_is_the_antonym(graphs):
    _, answer, graph, _ = graphs
    assert graph.logit_nodes[0].token == answer


def test_demo_graph_rows_sum_to_pre_activations(demo, graphs):
    _, _, graph, _ = graphs
    tr = trace_of(demo, graph)
    values = target_values(demo, graph, tr)
    bias = target_values(demo, graph, tr, **zero_sources(tr))
    rows = graph.indices("feature") + graph.indices("logit")
    total = graph.adjacency.double().sum(1) + bias
    assert torch.allclose(total[rows], values[rows], atol=2e-4 * float(values[rows].abs().max()), rtol=0)


def test_pruning_keeps_a_readable_core(graphs):
    _, _, graph, pruned = graphs
    counts, kept = graph.node_counts(), pruned.node_counts()
    assert 0 < kept["feature"] < counts["feature"] and pruned.n_edges < graph.n_edges
    assert kept["embedding"] == counts["embedding"] and kept["logit"] == counts["logit"]
    scores = pruned.metadata["scores"]
    for name in ("replacement", "completeness"):
        assert 0.0 < scores["pruned"][name] <= scores["unpruned"][name] <= 1.0
    # every kept feature lies on a path: it feeds something and something feeds it
    features = pruned.indices("feature")
    assert bool((pruned.adjacency[:, features] != 0).any(0).all())
    assert bool((pruned.adjacency[features] != 0).any(1).all())


def test_cli_builds_on_the_demo_by_default(tmp_path, capsys):
    assert main(["build", PROMPTS["zh"][0], "--out", str(tmp_path), "--quiet"]) == 0
    (path,) = capsys.readouterr().out.split()
    graph = bg.AttributionGraph.load(path)
    assert graph.metadata["model"]["model"] == "demo" and graph.logit_nodes[0].token == "大"
