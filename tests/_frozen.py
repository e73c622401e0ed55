"""Evaluate graph nodes in the frozen replacement model, independently of the attribution's backward passes."""

from __future__ import annotations

import torch

from babelgraph.graph import AttributionGraph, Node
from babelgraph.model.replacement import (
    ReplacementModel,
    Trace,
    demeaned_logits,
    frozen_forward,
    pre_activations,
    tokenize,
    trace,
)


def dictionary_index(model: ReplacementModel, node: Node) -> int:
    return [d.name for d in model.dictionaries].index(node.dictionary)


def trace_of(model: ReplacementModel, graph: AttributionGraph) -> Trace:
    tokens, has_bos = tokenize(model, graph.tokens)
    return trace(model, tokens, bool(graph.metadata["has_bos"]))


def target_values(model: ReplacementModel, graph: AttributionGraph, tr: Trace, **sources) -> torch.Tensor:
    """Pre-activation of every feature node and de-meaned logit of every logit node (0 for other kinds)."""
    run = frozen_forward(model, tr, 1, requires_grad=False, **sources)
    pre = [p[0] for p in pre_activations(model, run)]
    logits = demeaned_logits(model, run)[0, -1]
    values = []
    for node in graph.nodes:
        if node.kind == "feature":
            values.append(pre[dictionary_index(model, node)][node.position, node.feature])
        elif node.kind == "logit":
            values.append(logits[node.token_id])
        else:
            values.append(torch.zeros((), dtype=logits.dtype))
    return torch.stack(values).double()


def zero_sources(tr: Trace) -> dict[str, object]:
    """Every source set to zero: features (BOS ones stay, they are not nodes), errors, embeddings."""
    start = int(tr.has_bos)
    acts = [a.clone() for a in tr.activations]
    for a in acts:
        a[start:] = 0
    return {
        "activations": acts,
        "errors": [torch.zeros_like(e) for e in tr.errors],
        "embedding": torch.zeros_like(tr.embedding),
    }


def with_source_added(model: ReplacementModel, tr: Trace, node: Node) -> dict[str, object]:
    """The source's contribution added once more: a feature doubled, an error or embedding added again."""
    if node.kind == "feature":
        acts = [a.clone() for a in tr.activations]
        acts[dictionary_index(model, node)][node.position, node.feature] *= 2
        return {"activations": acts}
    if node.kind == "error":
        errors = [e.clone() for e in tr.errors]
        write_point = int(node.id.split("_")[1])  # err_{write point}_{position}
        errors[write_point][node.position] *= 2
        return {"errors": errors}
    embedding = tr.embedding.clone()
    embedding[node.position] *= 2
    return {"embedding": embedding}
