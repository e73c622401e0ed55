"""Pruning: keep the nodes and edges that carry most of the influence on the logits (docs/method.md, "Pruning").

Influence is measured on ``Â``, the absolute adjacency with each row normalised to sum to 1, seeded with the logit
probabilities ``w``: ``I = w^T (Â + Â^2 + ...)``. The graph is a DAG, so the series ends after at most
``depth`` terms. The scores are the Circuit Tracing paper's: the *replacement score* is the share of end-to-end
influence that starts at embeddings rather than at errors; the *completeness score* is the influence-weighted
share of each node's inputs that comes from non-error nodes.
"""

from __future__ import annotations

from dataclasses import replace

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
    """Mask of the fewest entries whose scores add up to ``fraction`` of the total."""
    flat = scores.flatten()
    total = flat.sum()
    mask = torch.zeros_like(flat, dtype=torch.bool)
    if total <= 0:
        return mask.view_as(scores)
    values, order = flat.sort(descending=True)
    cumulative = values.cumsum(0) / total
    n_keep = int((cumulative < fraction).sum().item()) + 1
    mask[order[: min(n_keep, len(flat))]] = True
    return mask.view_as(scores) & (scores > 0)


def prune(graph: AttributionGraph, node_threshold: float = 0.8, edge_threshold: float = 0.98) -> AttributionGraph:
    """The readable core of a graph: nodes holding ``node_threshold`` of the influence, edges holding
    ``edge_threshold`` of the edge influence, then nodes left without edges dropped, to a fixed point.

    Embeddings and logits are always kept. The result is an ``AttributionGraph`` whose nodes carry their
    ``influence`` and whose metadata holds the scores of the unpruned and the pruned graph.
    """
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

    node_influence = influence(normalize_rows(adjacency), seed)
    node_mask = _smallest_set_holding(node_influence * ~always, node_threshold) | always

    pruned = adjacency * node_mask[:, None] * node_mask[None, :]
    normalized = normalize_rows(pruned)
    kept_influence = influence(normalized, seed)
    edge_scores = normalized * (kept_influence + seed)[:, None]
    edge_mask = _smallest_set_holding(edge_scores, edge_threshold)

    while True:  # drop nodes left without edges until nothing changes
        edge_mask &= node_mask[:, None] & node_mask[None, :]
        feeds_something = edge_mask.any(dim=0) | is_logit
        is_fed = edge_mask.any(dim=1) | ~has_inputs
        new_mask = (node_mask & feeds_something & is_fed) | always
        if bool((new_mask == node_mask).all()):
            break
        node_mask = new_mask

    keep = torch.nonzero(node_mask).flatten().tolist()
    result = graph.subgraph(keep, edge_mask.to(graph.adjacency.dtype))
    full_influence = node_influence.tolist()
    result.nodes = [replace(node, influence=full_influence[i]) for i, node in zip(keep, result.nodes)]
    unpruned_scores = graph.metadata.get("scores", {}).get("unpruned") or graph_scores(graph)
    pruned_scores = graph_scores(result, row_totals[torch.tensor(keep, dtype=torch.long)])
    result.metadata = {
        **graph.metadata,
        "pruned": True,
        "pruning": {
            "node_threshold": node_threshold,
            "edge_threshold": edge_threshold,
            "unpruned_nodes": n,
            "unpruned_edges": graph.n_edges,
        },
        "scores": {"unpruned": unpruned_scores, "pruned": pruned_scores},
    }
    return result
