"""Pruning: keep the nodes and edges that carry most of the influence on the logits (docs/method.md, "Pruning").

Influence is measured on ``Â``, the absolute adjacency with each row normalised to sum to 1, seeded with the logit
probabilities ``w``: ``I = w^T (Â + Â^2 + ...)``. The graph is a DAG, so the series ends after at most
``depth`` terms. The scores are the Circuit Tracing paper's: the *replacement score* is the share of end-to-end
influence that starts at embeddings rather than at errors; the *completeness score* is the influence-weighted
share of each node's inputs that comes from non-error nodes.

Two pruning rules, chosen by ``prune(..., rule=...)``:

- ``"babelgraph"`` (the default): the node threshold is a share of the influence of the *prunable* nodes
  (features and errors). Embeddings and logits are always kept, so they are left out of that total: the
  threshold says how much of the features' and errors' influence the pruned graph keeps.
- ``"circuit-tracer"``: circuit-tracer 0.5.0's ``prune_graph`` rule, reproduced exactly (same node set on the
  same adjacency): the node threshold is a share of the influence of *every* node, the token (embedding) nodes
  counted, and the cut is a score (every node scoring at least the score where the cumulative share reaches the
  threshold is kept, ties included); likewise for edges. Because embeddings hold much of the influence, the same
  threshold keeps fewer features than the default rule (about half as many on a random 128-token graph). Use it
  to compare with circuit-tracer or Neuronpedia graphs. Note that circuit-tracer's token nodes are the token
  embedding alone where babelgraph's are the whole residual stream entering block 0, so the two tools' graphs
  differ in those columns even before pruning.

Both rules then drop edges outside ``edge_threshold`` of the edge influence and, to a fixed point, feature and
error nodes left without an outgoing edge and feature nodes left without an incoming one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import torch

from babelgraph.errors import BabelgraphError
from babelgraph.graph import AttributionGraph


def normalize_rows(adjacency: torch.Tensor, totals: torch.Tensor | None = None) -> torch.Tensor:
    """``|A|`` with each row divided by its sum (or by ``totals``); empty rows stay zero."""
    magnitude = adjacency.abs()
    if totals is None:
        totals = magnitude.sum(dim=1)
    return magnitude / totals.clamp_min(1e-30)[:, None]


def influence(normalized: torch.Tensor, seed: torch.Tensor, max_terms: int | None = None) -> torch.Tensor:
    """``seed^T (Â + Â^2 + ...)``: every node's indirect influence on the seeded nodes (a power series)."""
    total = torch.zeros_like(seed)
    if normalized.shape[0] == 0:
        raise BabelgraphError("the graph has no nodes: nothing to prune or score; check the prompt and the model")
    if not bool(torch.isfinite(normalized).all()) or not bool(torch.isfinite(seed).all()):
        raise BabelgraphError(
            "the graph holds NaN or infinite edge weights or probabilities, so influence is undefined (a model run"
            " in too low a precision, or NaN dictionary weights, can cause this): rebuild it, e.g. with --dtype float32"
        )
    term = seed
    for _ in range(max_terms or normalized.shape[0]):
        term = term @ normalized
        if not bool(term.any()):
            return total
        total = total + term
    raise BabelgraphError("the graph has a cycle: influence does not converge (this is a bug, please report it)")


def logit_seed(graph: AttributionGraph, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The logit probabilities placed at the logit nodes, zero elsewhere."""
    seed = torch.zeros(len(graph.nodes), dtype=dtype)
    for i in graph.indices("logit"):
        seed[i] = graph.nodes[i].probability or 0.0
    return seed


def graph_scores(graph: AttributionGraph, row_totals: torch.Tensor | None = None) -> dict[str, float]:
    """Replacement and completeness scores.

    ``row_totals`` are the unpruned graph's ``sum_s |A[t, s]|`` per node: for a pruned graph, input mass that
    pruning removed counts as unexplained (like an error), so scores can only drop with pruning.
    """
    adjacency = graph.adjacency.double()
    magnitude = adjacency.abs()
    totals = magnitude.sum(1) if row_totals is None else row_totals.double()
    normalized = normalize_rows(adjacency, totals)
    seed = logit_seed(graph)
    node_influence = influence(normalized, seed)
    errors = graph.indices("error")
    embeddings = graph.indices("embedding")
    has_inputs = totals > 0
    lost = torch.where(has_inputs, 1.0 - normalized.sum(1), torch.zeros_like(totals)).clamp_min(0.0)
    weight = node_influence + seed
    error_influence = node_influence[errors].sum() + (weight * lost).sum()
    token_influence = node_influence[embeddings].sum()
    non_error = torch.where(has_inputs, 1.0 - normalized[:, errors].sum(1) - lost, torch.ones_like(totals))
    return {
        "replacement": float(token_influence / (token_influence + error_influence).clamp_min(1e-30)),
        "completeness": float((non_error * weight).sum() / weight.sum().clamp_min(1e-30)),
    }


def _smallest_set_holding(scores: torch.Tensor, fraction: float) -> torch.Tensor:
    """Mask of the fewest entries whose scores add up to ``fraction`` of the total (only positive entries are
    sorted, so an edge mask costs memory in the edges that have a score, not in nodes x nodes)."""
    flat = scores.flatten()
    mask = torch.zeros_like(flat, dtype=torch.bool)
    positive = torch.nonzero(flat > 0).flatten()
    if len(positive) == 0:
        return mask.view_as(scores)
    values, order = flat[positive].sort(descending=True)
    cumulative = values.cumsum(0) / values.sum()
    n_keep = int((cumulative < fraction).sum().item()) + 1
    mask[positive[order[: min(n_keep, len(positive))]]] = True
    return mask.view_as(scores)


def _at_least_threshold_score(scores: torch.Tensor, fraction: float) -> torch.Tensor:
    """circuit-tracer's ``find_threshold``: keep every entry scoring at least the score at which the cumulative
    share of the sorted scores reaches ``fraction`` (ties kept; zeros too when that score is zero)."""
    flat = scores.flatten()
    positive = flat[flat > 0]  # zeros only matter when the cut falls on them: then everything is kept
    if len(positive) == 0:
        return torch.ones_like(scores, dtype=torch.bool)
    values = positive.sort(descending=True).values
    cumulative = values.cumsum(0) / values.sum()
    index = int(torch.searchsorted(cumulative, torch.tensor([fraction], dtype=cumulative.dtype)).item())
    if index >= len(values):  # past the positive scores (fraction 1 with round-off): the cut is the zeros
        return scores >= 0 if len(positive) < len(flat) else scores >= values[-1]
    return scores >= values[index]


PruneRule = Literal["babelgraph", "circuit-tracer"]
PRUNE_RULES: tuple[str, ...] = ("babelgraph", "circuit-tracer")


def prune(
    graph: AttributionGraph,
    node_threshold: float = 0.8,
    edge_threshold: float = 0.98,
    *,
    rule: PruneRule = "babelgraph",
) -> AttributionGraph:
    """The readable core of a graph: nodes holding ``node_threshold`` of the influence, edges holding
    ``edge_threshold`` of the edge influence, then nodes left without edges dropped, to a fixed point.

    Embeddings and logits are always kept. ``rule`` says whose threshold rule (module docstring): babelgraph's
    (the share of the features' and errors' influence) or circuit-tracer's (the share of every node's influence,
    the embeddings counted). The result is an ``AttributionGraph`` whose nodes carry their ``influence`` and
    whose metadata holds the rule and the scores of the unpruned and the pruned graph.
    """
    if rule not in PRUNE_RULES:
        raise BabelgraphError(f"unknown pruning rule {rule!r}: choose one of {', '.join(PRUNE_RULES)}")
    for name, value in (("node_threshold", node_threshold), ("edge_threshold", edge_threshold)):
        if not 0.0 < value <= 1.0:
            raise BabelgraphError(f"{name} must lie in (0, 1], got {value}")
    adjacency = graph.adjacency.double()
    n = len(graph.nodes)
    kinds = [node.kind for node in graph.nodes]
    always = torch.tensor([k in ("embedding", "logit") for k in kinds])
    is_logit = torch.tensor([k == "logit" for k in kinds])
    has_inputs = torch.tensor([k in ("feature", "logit") for k in kinds])
    seed = logit_seed(graph)
    row_totals = adjacency.abs().sum(1)

    normalized = normalize_rows(adjacency, row_totals)
    node_influence = influence(normalized, seed)
    if rule == "circuit-tracer":
        node_mask = _at_least_threshold_score(node_influence, node_threshold) | always
    else:
        node_mask = _smallest_set_holding(node_influence * ~always, node_threshold) | always

    # the pruned graph's normalised rows, in the same buffer: |A| of kept nodes over their kept inputs
    torch.abs(adjacency, out=normalized).mul_(node_mask[:, None] & node_mask[None, :])
    normalized.div_(normalized.sum(1).clamp_min(1e-30)[:, None])
    kept_influence = influence(normalized, seed)
    edge_scores = normalized.mul_((kept_influence + seed)[:, None])
    if rule == "circuit-tracer":
        edge_mask = _at_least_threshold_score(edge_scores, edge_threshold)
    else:
        edge_mask = _smallest_set_holding(edge_scores, edge_threshold)
    del normalized, edge_scores

    if rule == "circuit-tracer":  # its loop, literally: the first pass reads edges to and from dropped nodes
        prunable, features = ~always, torch.tensor([k == "feature" for k in kinds])
        while True:
            old_mask = node_mask.clone()
            node_mask[prunable] &= edge_mask[:, prunable].any(0)
            node_mask[features] &= edge_mask[features].any(1)
            if bool((node_mask == old_mask).all()):
                break
            edge_mask[~node_mask] = False
            edge_mask[:, ~node_mask] = False
    else:
        while True:  # drop nodes left without edges until nothing changes
            edge_mask &= node_mask[:, None] & node_mask[None, :]
            feeds_something = edge_mask.any(dim=0) | is_logit
            is_fed = edge_mask.any(dim=1) | ~has_inputs
            new_mask = (node_mask & feeds_something & is_fed) | always
            if bool((new_mask == node_mask).all()):
                break
            node_mask = new_mask

    keep = torch.nonzero(node_mask).flatten().tolist()
    result = graph.subgraph(keep, edge_mask)
    full_influence = node_influence.tolist()
    result.nodes = [replace(node, influence=full_influence[i]) for i, node in zip(keep, result.nodes)]
    unpruned_scores = graph.metadata.get("scores", {}).get("unpruned") or graph_scores(graph)
    pruned_scores = graph_scores(result, row_totals[torch.tensor(keep, dtype=torch.long)])
    result.metadata = {
        **graph.metadata,
        "pruned": True,
        "pruning": {
            "rule": rule,
            "node_threshold": node_threshold,
            "edge_threshold": edge_threshold,
            "unpruned_nodes": n,
            "unpruned_edges": graph.n_edges,
        },
        "scores": {"unpruned": unpruned_scores, "pruned": pruned_scores},
    }
    return result
