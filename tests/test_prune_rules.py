"""``prune(..., rule="circuit-tracer")`` reproduces circuit-tracer 0.5.0's pruned set on shared graphs.

The reference below implements circuit-tracer's published rule independently (written for this test from its
description, not from babelgraph's pruning code): node influence is seeded with the logit probabilities and
*includes* the token nodes when the node threshold is found; token and logit nodes are always kept; edges are scored
on the node-pruned graph; then feature and error nodes without an outgoing edge, and features without an incoming
one, are dropped to a fixed point. circuit-tracer orders nodes features, errors, tokens, logits, which is
babelgraph's order (embeddings in the token nodes' place).
"""

from __future__ import annotations

import pytest
import torch
from _tiny import gpt2_style, make_transcoder

import babelgraph as bg
from babelgraph import AttributionGraph, Node
from babelgraph.errors import BabelgraphError


# ---- the reference rule -----------------------------------------------------------------------------------------
def _rows_normalised(matrix: torch.Tensor) -> torch.Tensor:
    weights = matrix.abs()
    return weights / weights.sum(dim=1, keepdim=True).clamp(min=1e-10)


def _influence(transition: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """seed @ (T + T^2 + ...): the walk ends because the graph is a DAG."""
    total, step = torch.zeros_like(seed), seed @ transition
    for _ in range(transition.shape[0] + 1):
        if not bool(step.any()):
            return total
        total, step = total + step, step @ transition
    raise AssertionError("not a DAG")


def _cut(scores: torch.Tensor, share: float) -> torch.Tensor:
    """The score of the first item (largest first) at which the running share of the total reaches ``share``."""
    ordered = scores.sort(descending=True).values
    running = ordered.cumsum(0) / ordered.sum()
    reached = torch.nonzero(running >= share).flatten()
    return ordered[int(reached[0]) if len(reached) else len(ordered) - 1]


def ct_prune_graph(adjacency, logit_probabilities, n_tokens, n_features, node_threshold, edge_threshold):
    n, n_logits = adjacency.shape[0], len(logit_probabilities)
    fixed = torch.zeros(n, dtype=torch.bool)  # token and logit nodes: always kept
    fixed[n - n_logits - n_tokens :] = True
    seed = torch.zeros(n, dtype=adjacency.dtype)
    seed[n - n_logits :] = logit_probabilities
    node_influence = _influence(_rows_normalised(adjacency), seed)
    node_mask = (node_influence >= _cut(node_influence, node_threshold)) | fixed
    kept = adjacency * node_mask[:, None] * node_mask[None, :]
    transition = _rows_normalised(kept)
    edge_scores = transition * (_influence(transition, seed) + seed)[:, None]
    edge_mask = edge_scores >= _cut(edge_scores.flatten(), edge_threshold)
    is_feature = torch.arange(n) < n_features
    while True:
        edge_mask &= node_mask[:, None] & node_mask[None, :]
        has_out = edge_mask.any(0)  # a source of some kept edge
        has_in = edge_mask.any(1)
        new = node_mask & (fixed | has_out) & (~is_feature | has_in)
        if torch.equal(new, node_mask):
            return node_mask, edge_mask
        node_mask = new


# ---- shared graphs --------------------------------------------------------------------------------------------
def random_graph(seed: int, n_pos: int = 6, n_layers: int = 4, per_layer: int = 5, n_logits: int = 4):
    """A random layered DAG in babelgraph's layout: features (layer, position), errors, embeddings, logits."""
    g = torch.Generator().manual_seed(seed)
    nodes = []
    for layer in range(n_layers):
        for pos in range(n_pos):
            for f in range(per_layer):
                act = float(torch.rand(1, generator=g)) + 0.1
                nodes.append(Node(f"feat_{layer}_{f}_{pos}", "feature", layer, pos, act, "t", feature=f))
    nodes += [Node(f"err_{layer}_{p}", "error", layer, p, 1.0, "t") for layer in range(n_layers) for p in range(n_pos)]
    nodes += [Node(f"emb_{p}", "embedding", -1, p, 1.0, "t") for p in range(n_pos)]
    probs = torch.rand(n_logits, generator=g).sort(descending=True).values
    probs = (probs / probs.sum() * 0.7).tolist()
    nodes += [Node(f"logit_{i}", "logit", n_layers, n_pos - 1, 1.0, "x", probability=p) for i, p in enumerate(probs)]
    n = len(nodes)
    a = torch.zeros(n, n)
    for t, target in enumerate(nodes):
        if target.kind not in ("feature", "logit"):
            continue
        for s, source in enumerate(nodes):
            earlier = source.layer < target.layer
            if source.kind == "feature" or source.kind == "error":
                ok = earlier and source.position <= target.position
            elif source.kind == "embedding":
                ok = source.position <= target.position
            else:
                ok = False
            if ok and float(torch.rand(1, generator=g)) < 0.5:
                a[t, s] = float(torch.randn(1, generator=g)) * float(torch.rand(1, generator=g)) ** 3
    return AttributionGraph("random", list(range(n_pos)), ["t"] * n_pos, nodes, a)


@pytest.fixture(scope="module")
def model_graph():
    model = bg.load_model(gpt2_style(), [make_transcoder("skip_transcoder", layer) for layer in range(3)])
    return bg.attribute(model, "the opposite of small is", progress=False)


def reference_sets(graph: AttributionGraph, node_threshold: float, edge_threshold: float, dtype: torch.dtype):
    node_mask, edge_mask = ct_prune_graph(
        graph.adjacency.to(dtype),
        torch.tensor([n.probability for n in graph.logit_nodes], dtype=dtype),
        n_tokens=len(graph.indices("embedding")),
        n_features=len(graph.indices("feature")),
        node_threshold=node_threshold,
        edge_threshold=edge_threshold,
    )
    ids = [n.id for n in graph.nodes]
    nodes = {ids[i] for i in torch.nonzero(node_mask).flatten().tolist()}
    kept = edge_mask & node_mask[:, None] & node_mask[None, :] & (graph.adjacency != 0)
    edges = {(ids[s], ids[t]) for t, s in torch.nonzero(kept).tolist()}
    return nodes, edges


def pruned_sets(pruned: AttributionGraph):
    ids = [n.id for n in pruned.nodes]
    return set(ids), {(ids[s], ids[t]) for t, s in torch.nonzero(pruned.adjacency).tolist()}


THRESHOLDS = [(0.8, 0.98), (0.5, 0.9), (0.95, 0.99), (0.3, 0.7), (1.0, 1.0)]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("node_threshold", "edge_threshold"), THRESHOLDS)
def test_circuit_tracer_rule_reproduces_its_pruned_set_on_random_graphs(seed, node_threshold, edge_threshold):
    graph = random_graph(seed)
    pruned = bg.prune(graph, node_threshold, edge_threshold, rule="circuit-tracer")
    assert pruned_sets(pruned) == reference_sets(graph, node_threshold, edge_threshold, torch.float64)
    assert pruned.metadata["pruning"]["rule"] == "circuit-tracer"


@pytest.mark.parametrize(("node_threshold", "edge_threshold"), THRESHOLDS)
def test_circuit_tracer_rule_reproduces_its_pruned_set_on_an_attribution_graph(
    model_graph, node_threshold, edge_threshold
):
    pruned = bg.prune(model_graph, node_threshold, edge_threshold, rule="circuit-tracer")
    nodes, edges = pruned_sets(pruned)
    assert (nodes, edges) == reference_sets(model_graph, node_threshold, edge_threshold, torch.float64)
    # circuit-tracer itself computes in float32: the same sets here (round-off can only move exact ties)
    if node_threshold < 1.0:
        assert nodes == reference_sets(model_graph, node_threshold, edge_threshold, torch.float32)[0]


def test_the_rules_differ_by_counting_the_embeddings(model_graph):
    ours = bg.prune(model_graph, 0.8, 0.98)
    theirs = bg.prune(model_graph, 0.8, 0.98, rule="circuit-tracer")
    assert ours.metadata["pruning"]["rule"] == "babelgraph"
    # embeddings hold much of the influence, so circuit-tracer's 80% reaches fewer features and errors
    assert theirs.node_counts()["feature"] < ours.node_counts()["feature"]
    # ... and circuit-tracer's rule with the embeddings' influence taken out is babelgraph's node threshold
    influence = {n.id: n.influence for n in ours.nodes}
    assert all(influence[n.id] == pytest.approx(n.influence) for n in theirs.nodes if n.id in influence)


def test_unknown_rule_is_refused(model_graph):
    with pytest.raises(BabelgraphError, match="unknown pruning rule"):
        bg.prune(model_graph, rule="neuronpedia")
