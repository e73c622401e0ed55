"""Attribution: the direct effect of every active feature, error and embedding on every feature and top logit.

The method (docs/method.md): the traced, frozen replacement model (:mod:`babelgraph.model.replacement`) is an
affine function of the sources (feature activations, error vectors, embeddings), so

    A[t, s] = a_s * (d_s . J^T w_t)

where ``J^T w_t`` is one backward pass of that frozen model from target ``t``'s read direction ``w_t``, with the
gradient stopped at every feature. Rows are computed up to ``batch_size`` at a time, one backward pass per batch
over the prompt up to the targets' positions, by :mod:`babelgraph.model.backward`: autograd with batched
cotangents through one frozen replay (batch 1, not ``batch`` copies), or, for per-layer transcoders, the same
map written out.

Memory grows with what is kept. With ``N`` nodes (features given rows + errors + embeddings + logits), ``F``
active features, ``C = F + errors + embeddings`` raw columns and batch ``b``, the peak beyond the model is

- full graph: the ``N x N`` float32 adjacency (``4 N^2`` bytes; here ``C = N - logits``), every row written
  into it once from a ``b x C`` buffer;
- ``max_feature_nodes = K``: the computed rows, ``(logits + K) x C`` float32, plus the final ``N x N``
  adjacency (``N = K + errors + embeddings + logits``) they are folded into, plus sweeps of about 64 MB;

plus, in both, a backward pass's gradients at every write point upstream of its targets (``layers + 1`` tensors of
``b x prefix x d_model``; with autograd also one frozen forward run of the prefix at batch 1), and for the
written-out backward pass a copy of each block's ``W_V``, ``W_O`` and skip with the norms folded in (about 1.5 GB
in float32 at Gemma-2-2B size). No ``F x C`` matrix and no second ``N x N`` copy is made.

This module reaches the model only through the :class:`~babelgraph.model.dictionaries.Dictionary` interface and
the replacement model's write points; it names no hook.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from babelgraph.errors import BabelgraphError
from babelgraph.graph import AttributionGraph, Node
from babelgraph.model.backward import PrefixBackward, frozen_backward
from babelgraph.model.replacement import (
    Prompt,
    ReplacementModel,
    Trace,
    demeaned_unembedding,
    single_token,
    token_strings,
    tokenize,
    trace,
)


# ---- attribution --------------------------------------------------------------------------------------------
@dataclass
class _Sources:
    """Column layout of the raw (unpruned) attribution matrix: all active features, errors, embeddings."""

    dict_index: torch.Tensor  # per active feature
    position: torch.Tensor
    feature: torch.Tensor
    activation: torch.Tensor
    n_positions: int
    n_dicts: int
    n_writes: int  # write points: each has an error node per position

    @property
    def n_features(self) -> int:
        return len(self.feature)

    def error_column(self, w: int, pos: int) -> int:
        return self.n_features + w * self.n_positions + pos

    def embedding_column(self, pos: int) -> int:
        return self.n_features + self.n_writes * self.n_positions + pos

    @property
    def n_columns(self) -> int:
        return self.n_features + (self.n_writes + 1) * self.n_positions


def _active_features(tr: Trace) -> _Sources:
    start = 1 if tr.has_bos else 0
    parts = []
    for k, acts in enumerate(tr.activations):
        pos, feat = torch.nonzero(acts[start:], as_tuple=True)
        pos = pos + start
        parts.append((torch.full_like(pos, k), pos, feat, acts[pos, feat]))
    dict_index, position, feature, activation = (torch.cat(x) for x in zip(*parts))
    return _Sources(dict_index, position, feature, activation, len(tr.tokens), len(tr.activations), len(tr.errors))


def _source_vectors(model: ReplacementModel, tr: Trace, src: _Sources) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """What each source writes, padded per position, for the embedding and then each write point.

    For write point ``w``: ``vectors [pos, m, d]`` holds ``a_s * d_s`` for the active features at each position,
    then the error vector (embedding: the embedding); ``columns [pos, m]`` their columns in A, padding pointing at
    a spare column ``src.n_columns``. A row's entries are then one batched matmul of the gradient with ``vectors``.
    """
    n_pos = src.n_positions
    positions = torch.arange(n_pos, device=tr.embedding.device)
    out = [(tr.embedding[:, None, :], (src.embedding_column(0) + positions)[:, None])]
    for w, point in enumerate(model.write_points):
        k, d = point.dictionary, model.dictionaries[point.dictionary]
        cols = torch.nonzero(src.dict_index == k).flatten()
        pos = src.position[cols]
        counts = torch.bincount(pos, minlength=n_pos)
        m = int(counts.max()) if len(cols) else 0
        vectors = torch.zeros(n_pos, m + 1, tr.errors[w].shape[-1], dtype=tr.errors[w].dtype, device=pos.device)
        columns = torch.full((n_pos, m + 1), src.n_columns, dtype=torch.long, device=pos.device)
        slot = torch.arange(len(cols), device=pos.device) - (torch.cumsum(counts, 0) - counts)[pos]
        vectors[pos, slot] = d.decoder(point.write)[src.feature[cols]] * src.activation[cols, None]
        columns[pos, slot] = cols
        vectors[:, m] = tr.errors[w]
        columns[:, m] = src.error_column(w, 0) + positions
        out.append((vectors, columns))
    return out


def _select_logits(
    model: ReplacementModel, tr: Trace, targets: Sequence[str | int] | None, max_n_logits: int, desired_prob: float
) -> tuple[torch.Tensor, torch.Tensor]:
    probs = torch.softmax(tr.logits[-1].double(), dim=-1)
    if targets:
        ids = [t if isinstance(t, int) else single_token(model, t) for t in targets]
        for i in ids:
            if not 0 <= i < probs.shape[0]:
                raise BabelgraphError(f"target token id {i} is outside the vocabulary (size {probs.shape[0]})")
        index = torch.tensor(ids, device=probs.device)
        return index, probs[index]
    top_p, top_i = probs.sort(descending=True)
    cumulative = top_p.cumsum(0)
    n = int((cumulative < desired_prob).sum().item()) + 1
    n = max(1, min(n, max_n_logits))
    return top_i[:n], top_p[:n]


def row_dtype(model_dtype: torch.dtype) -> torch.dtype:
    """The precision attribution rows are accumulated in: float32 for a half-precision model (float16, bfloat16),
    whose backward passes still run in its own dtype; the model's own dtype otherwise (docs/method.md,
    "Precision")."""
    return torch.promote_types(model_dtype, torch.float32)


@dataclass
class _Target:
    """A row to compute: where the target reads (dictionary index, or -1 for the final norm) and with what."""

    dict_index: int
    position: int
    vector: torch.Tensor


def _backward_rows(
    model: ReplacementModel,
    backward: PrefixBackward,
    length: int,
    src: _Sources,
    sources: list[tuple[torch.Tensor, torch.Tensor]],
    targets: list[_Target],
) -> torch.Tensor:
    """Rows of A for targets that read at one place (one dictionary, or the logits), from backward passes on
    the prompt's first ``length`` tokens (one batch of cotangents).

    The result is a ``len(targets) x (src.n_columns + 1)`` buffer (the last column collects padding) that the
    caller copies into its storage: the only per-batch allocation of row size."""
    k = targets[0].dict_index
    positions = torch.tensor([t.position for t in targets], device=sources[0][0].device)
    gradients = backward.gradients(k, positions, torch.stack([t.vector for t in targets]))
    upstream = model.writes_before(None if k < 0 else model.dictionaries[k].read_hook)
    acc = row_dtype(model.dtype)
    rows = torch.zeros(len(targets), src.n_columns + 1, dtype=acc, device=positions.device)
    for (vectors, columns), gradient in zip([sources[0], *(sources[w + 1] for w in upstream)], gradients):
        if gradient is None:
            continue
        # [pos, rows, d] @ [pos, d, m] -> every source's entry at every position, in one batched matmul
        entries = torch.bmm(gradient.transpose(0, 1).to(acc), vectors[:length].transpose(1, 2).to(acc))
        # accumulate: a cross-layer dictionary's features write at several write points, one column each
        rows.index_add_(1, columns[:length].flatten(), entries.transpose(0, 1).reshape(len(targets), -1))
    return rows


_CPU_PASS_ELEMENTS = 1 << 19  # gradient entries per backward pass on a CPU (2 MB in float32)


class _RowComputer:
    """Computes rows for any list of targets.

    A row costs a backward pass through the frozen model from its target's read point (depth) over the prompt up
    to its target's position (a token cannot be affected by later ones). So targets are cut into position
    buckets; each bucket runs the frozen model once on its prefix, then one backward pass per dictionary (one
    depth) of at most ``batch_size`` targets.
    """

    def __init__(self, model: ReplacementModel, tr: Trace, src: _Sources, batch_size: int, bar: tqdm) -> None:
        self.model, self.tr, self.src, self.batch_size, self.bar = model, tr, src, batch_size, bar
        self.sources = _source_vectors(model, tr, src)
        self.backward = frozen_backward(model)
        self.clock = {"forward": 0.0, "backward": 0.0}

    def __call__(self, targets: list[_Target], out: torch.Tensor, slots: Sequence[int]) -> None:
        """Compute the rows of ``targets`` and write target ``i``'s row into ``out[slots[i], :n_columns]``.

        ``out`` is the rows' final storage (the adjacency itself for a full graph): every row is written there
        once, from a buffer of at most ``batch_size`` rows."""
        n_columns = self.src.n_columns
        for bucket in self._buckets(targets):
            length = max(targets[i].position for i in bucket) + 1
            tick = time.perf_counter()
            backward = self.backward.prefix(self.tr.prefix(length))
            self.clock["forward"] += time.perf_counter() - tick
            tick = time.perf_counter()
            by_dict: dict[int, list[int]] = {}
            for i in bucket:
                by_dict.setdefault(targets[i].dict_index, []).append(i)
            per_pass = self._rows_per_pass(length)
            for indices in by_dict.values():
                for start in range(0, len(indices), per_pass):
                    chunk = indices[start : start + per_pass]
                    batch = [targets[i] for i in chunk]
                    rows = _backward_rows(self.model, backward, length, self.src, self.sources, batch)
                    where = torch.tensor([slots[i] for i in chunk], dtype=torch.long, device=out.device)
                    out[where, :n_columns] = rows[:, :n_columns].to(out.device, out.dtype)
                    self.bar.update(len(chunk))
            self.clock["backward"] += time.perf_counter() - tick

    def _rows_per_pass(self, length: int) -> int:
        """At most ``batch_size``; on a CPU also few enough (but at least 4) that a pass's gradients
        (rows x length x d_model) stay near 2 MB, within the caches. On the benchmark model (d_model 256) at 128
        tokens that is at most 16 rows, and the graph took 17-20 s against 23 s with 64-row passes
        (docs/benchmarks.md)."""
        if self.model.device.type != "cpu":
            return self.batch_size
        d_model = int(self.model.model.cfg.d_model)
        return min(self.batch_size, max(4, _CPU_PASS_ELEMENTS // (length * d_model)))

    def _buckets(self, targets: list[_Target]) -> list[list[int]]:
        """Consecutive positions, closed when some dictionary has ``batch_size`` targets in the bucket."""
        order = sorted(range(len(targets)), key=lambda i: targets[i].position)
        buckets: list[list[int]] = []
        counts: dict[int, int] = {}
        for i in order:
            target = targets[i]
            new_position = not buckets or targets[buckets[-1][-1]].position != target.position
            if not buckets or (new_position and max(counts.values()) >= self.batch_size):
                buckets.append([])
                counts = {}
            buckets[-1].append(i)
            counts[target.dict_index] = counts.get(target.dict_index, 0) + 1
        return buckets


def attribute(
    model: ReplacementModel,
    prompt: Prompt,
    *,
    targets: Sequence[str | int] | None = None,
    max_n_logits: int = 10,
    desired_logit_prob: float = 0.95,
    batch_size: int | None = None,
    max_feature_nodes: int | None = None,
    progress: bool = True,
    traced: Trace | None = None,
) -> AttributionGraph:
    """Build the unpruned attribution graph of ``prompt`` (text, or token ids for models without a tokenizer).

    Logit targets are the top tokens until their probability adds up to ``desired_logit_prob`` (at most
    ``max_n_logits``), or the single tokens named in ``targets``. With ``max_feature_nodes``, only that many
    features get rows, chosen greedily by their estimated influence on the logits; the rest are folded into the
    error node at their position, so every row still sums to its pre-activation. ``traced`` is the prompt's
    trace when the caller already has it (a comparison traces each prompt once).
    """
    started = time.perf_counter()
    if batch_size is None:  # small backward passes suit a CPU's caches; a GPU wants wide ones
        batch_size = 64 if model.device.type == "cpu" else 512
    if batch_size < 1:
        raise BabelgraphError("batch_size must be at least 1")
    if traced is None:
        tokens, has_bos = tokenize(model, prompt)
        traced = trace(model, tokens, has_bos)
    tr, tokens = traced, traced.tokens
    traced = time.perf_counter()
    _check_dictionary_identities(model, tr)
    src = _active_features(tr)
    logit_ids, logit_probs = _select_logits(model, tr, targets, max_n_logits, desired_logit_prob)
    last = len(tokens) - 1
    unembed = demeaned_unembedding(model)
    logit_targets = [_Target(-1, last, unembed[:, int(i)]) for i in logit_ids]

    n_rows_total = len(logit_targets) + src.n_features
    limit = src.n_features if max_feature_nodes is None else min(max_feature_nodes, src.n_features)
    bar = tqdm(total=len(logit_targets) + limit, desc="attribution rows", unit="row", disable=not progress)
    rows_for = _RowComputer(model, tr, src, batch_size, bar)

    def feature_target(i: int) -> _Target:
        k = int(src.dict_index[i])
        return _Target(k, int(src.position[i]), model.dictionaries[k].encoder[:, int(src.feature[i])])

    exploration: dict[str, float] = {}
    if limit == src.n_features:
        # node order = the raw column order (features, errors, embeddings) then logits: every row is written
        # straight into the adjacency, the only nodes x nodes tensor
        n = src.n_columns + len(logit_targets)
        adjacency = torch.zeros(n, n, dtype=torch.float32, device=tr.embedding.device)
        rows_for(logit_targets, adjacency, range(src.n_columns, n))
        rows_for([feature_target(i) for i in range(src.n_features)], adjacency, range(src.n_features))
        selected = list(range(src.n_features))
    else:
        selected, adjacency = _explore_by_influence(
            model, src, logit_targets, logit_probs, limit, batch_size, feature_target, rows_for, exploration
        )
    bar.close()
    rows_done = time.perf_counter()
    graph = _assemble(model, tr, src, selected, adjacency.cpu(), logit_ids, logit_probs, prompt)
    graph.metadata.update(
        {
            "settings": {
                "max_n_logits": max_n_logits,
                "desired_logit_prob": desired_logit_prob,
                "batch_size": batch_size,
                "max_feature_nodes": max_feature_nodes,
                "targets": list(targets) if targets else None,
            },
            "n_active_features": src.n_features,
            "n_rows_computed": len(logit_targets) + len(selected),
            "n_rows_possible": n_rows_total,
            "seconds": time.perf_counter() - started,
            "timing": {
                "trace": traced - started,
                **{f"rows_{phase}": seconds for phase, seconds in rows_for.clock.items()},
                **exploration,
                "rows_total": rows_done - traced,
                "assemble": time.perf_counter() - rows_done,
            },
        }
    )
    return graph


_CHUNK_ELEMENTS = 1 << 24  # rows are swept in chunks of about this many entries (64 MB in float32)


def _chunks(n_rows: int, n_columns: int) -> list[tuple[int, int]]:
    step = max(1, _CHUNK_ELEMENTS // max(1, n_columns))
    return [(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]


def _abs_row_sums(rows: torch.Tensor) -> torch.Tensor:
    """``sum_s |rows[t, s]|`` per row, a chunk at a time (no copy of ``rows``)."""
    out = torch.empty(rows.shape[0], dtype=rows.dtype, device=rows.device)
    for start, stop in _chunks(*rows.shape):
        out[start:stop] = rows[start:stop].abs().sum(1)
    return out


def _explore_by_influence(
    model: ReplacementModel,
    src: _Sources,
    logit_targets: list[_Target],
    logit_probs: torch.Tensor,
    limit: int,
    batch: int,
    feature_target: Callable[[int], _Target],
    rows_for: _RowComputer,
    clock: dict[str, float],
    growth: float = 2.0,
) -> tuple[list[int], torch.Tensor]:
    """Give rows to the ``limit`` features with the most estimated influence on the logits; return them (in
    graph order) and the adjacency.

    The estimate is the influence of pruning (rows normalised by all their sources) through the rows computed so
    far. It is re-estimated on a geometric schedule: after the logit rows, after ``batch`` feature rows, then
    each time the number of computed rows has grown by ``growth`` (so about ``log2(limit / batch)`` estimates,
    not one per batch). Each step's features are computed together, so the row computer cuts them into full
    position buckets.

    Memory: the computed rows, ``(n_logits + limit) x columns`` float32 (``columns`` = active features + errors +
    embeddings), plus the final ``nodes x nodes`` adjacency they are folded into (``nodes`` = limit + errors +
    embeddings + logits), plus chunks of about 64 MB; never ``features x columns``.
    """
    n, n_logits = src.n_features, len(logit_targets)
    device = rows_for.tr.embedding.device
    rows = torch.zeros(n_logits + limit, src.n_columns, dtype=torch.float32, device=device)
    totals = torch.zeros(n_logits + limit, dtype=torch.float32, device=device)
    rows_for(logit_targets, rows, range(n_logits))
    totals[:n_logits] = _abs_row_sums(rows[:n_logits])
    weights = logit_probs.to(device, torch.float32) / totals[:n_logits].clamp_min(1e-30)
    first = weights @ rows[:n_logits, :n].abs()
    order = torch.zeros(limit, dtype=torch.long, device=device)
    visited = torch.zeros(n, dtype=torch.bool, device=device)
    explored, estimating, n_estimates = rows[n_logits:], 0.0, 0
    done = 0
    while done < limit:
        tick = time.perf_counter()
        estimate = first.clone()
        if done:
            n_estimates += 1
            term = first
            for _ in range(src.n_dicts + 1):  # the graph is a DAG as deep as the dictionaries
                weights = term[order[:done]] / totals[n_logits : n_logits + done].clamp_min(1e-30)
                if not bool(weights.any()):
                    break
                term = torch.zeros_like(first)
                for start, stop in _chunks(done, n):
                    term += weights[start:stop] @ explored[start:stop, :n].abs()
                estimate += term
        estimate[visited] = -1.0
        take = min(max(batch, int(done * (growth - 1.0))), limit - done)
        chosen = torch.topk(estimate, take).indices
        estimating += time.perf_counter() - tick
        rows_for([feature_target(int(i)) for i in chosen], rows, range(n_logits + done, n_logits + done + take))
        totals[n_logits + done : n_logits + done + take] = _abs_row_sums(explored[done : done + take])
        order[done : done + take] = chosen
        visited[chosen] = True
        done += take
    tick = time.perf_counter()
    selected, adjacency = _fold_unexplored(model, src, rows, n_logits, order)
    clock.update({"explore_estimates": estimating, "n_estimates": n_estimates, "fold": time.perf_counter() - tick})
    return selected, adjacency


def _fold_unexplored(
    model: ReplacementModel, src: _Sources, rows: torch.Tensor, n_logits: int, order: torch.Tensor
) -> tuple[list[int], torch.Tensor]:
    """The adjacency of a capped graph from its computed rows (logits first, then features in ``order``).

    Columns of explored features keep their own node; an unexplored feature's column is added to the error node
    of its dictionary's first write point at its position, so every row still sums to its pre-activation. One
    ``index_add_`` per chunk of rows maps all raw columns to their node at once."""
    n_pos, n_writes, n_features = src.n_positions, src.n_writes, src.n_features
    device = rows.device
    ranked = torch.argsort(order)  # graph order (dictionary, position, feature), not exploration order
    selected = order[ranked]
    n_sel = len(selected)
    n = n_sel + (n_writes + 1) * n_pos + n_logits
    first_write = torch.tensor(
        [min(w for w, p in enumerate(model.write_points) if p.dictionary == k) for k in range(src.n_dicts)],
        dtype=torch.long,
        device=device,
    )
    node_of = torch.empty(src.n_columns, dtype=torch.long, device=device)
    node_of[:n_features] = n_sel + first_write[src.dict_index.to(device)] * n_pos + src.position.to(device)
    node_of[selected] = torch.arange(n_sel, device=device)
    node_of[n_features:] = torch.arange(n_sel, n_sel + (n_writes + 1) * n_pos, device=device)
    # row r of ``rows`` becomes node ``node_row[r]``: logits last, features by their rank in graph order
    node_row = torch.empty(len(rows), dtype=torch.long, device=device)
    node_row[:n_logits] = torch.arange(n - n_logits, n, device=device)
    node_row[n_logits + ranked] = torch.arange(n_sel, device=device)
    adjacency = torch.zeros(n, n, dtype=torch.float32, device=device)
    for start, stop in _chunks(len(rows), src.n_columns):
        block = torch.zeros(stop - start, n, dtype=torch.float32, device=device)
        block.index_add_(1, node_of, rows[start:stop])
        adjacency[node_row[start:stop]] = block
    return selected.tolist(), adjacency


def _assemble(
    model: ReplacementModel,
    tr: Trace,
    src: _Sources,
    selected: list[int],
    adjacency: torch.Tensor,  # nodes x nodes, float32: selected features, errors, embeddings, logits
    logit_ids: torch.Tensor,
    logit_probs: torch.Tensor,
    prompt: Prompt,
) -> AttributionGraph:
    """Lay out the nodes (features, errors, embeddings, logits) of the square adjacency matrix."""
    strings = token_strings(model, tr.tokens)
    n_pos = src.n_positions

    nodes: list[Node] = []
    for i in selected:
        k, pos, feat = int(src.dict_index[i]), int(src.position[i]), int(src.feature[i])
        d = model.dictionaries[k]
        nodes.append(
            Node(
                id=f"feat_{k}_{feat}_{pos}",
                kind="feature",
                layer=d.layer,
                position=pos,
                feature=feat,
                dictionary=d.name,
                activation=float(src.activation[i]),
                token=strings[pos],
                token_id=int(tr.tokens[pos]),
            )
        )
    for w, point in enumerate(model.write_points):
        d = model.dictionaries[point.dictionary]
        norms = tr.errors[w].norm(dim=-1)
        for pos in range(n_pos):
            nodes.append(
                Node(
                    id=f"err_{w}_{pos}",
                    kind="error",
                    layer=point.layer,
                    position=pos,
                    dictionary=d.name,
                    activation=float(norms[pos]),
                    token=strings[pos],
                    token_id=int(tr.tokens[pos]),
                )
            )
    norms = tr.embedding.norm(dim=-1)
    for pos in range(n_pos):
        nodes.append(
            Node(
                id=f"emb_{pos}",
                kind="embedding",
                layer=-1,
                position=pos,
                activation=float(norms[pos]),
                token=strings[pos],
                token_id=int(tr.tokens[pos]),
            )
        )
    last_logits = tr.logits[-1]
    for token_id, prob in zip(logit_ids.tolist(), logit_probs.tolist()):
        text = token_strings(model, torch.tensor([token_id]))[0]
        nodes.append(
            Node(
                id=f"logit_{token_id}",
                kind="logit",
                layer=model.n_layers,
                position=n_pos - 1,
                activation=float(last_logits[token_id]),
                token=text,
                token_id=int(token_id),
                probability=float(prob),
            )
        )
    prompt_text = prompt if isinstance(prompt, str) else "".join(strings[int(tr.has_bos) :])
    metadata = {"model": model.describe(), "has_bos": tr.has_bos, "pruned": False}
    return AttributionGraph(prompt_text, tr.tokens.tolist(), strings, nodes, adjacency, metadata)


def _check_dictionary_identities(model: ReplacementModel, tr: Trace) -> None:
    """Fail loudly if a dictionary's own ``encode`` disagrees with the affine pre-activation attribution uses.

    For every supported architecture an active feature's activation equals its pre-activation; one that does not
    (e.g. a normalisation sae_lens applies at run time) would make every edge into it wrong.
    """
    for k, d in enumerate(model.dictionaries):
        acts = tr.activations[k]
        active = acts != 0
        if not active.any():
            continue
        pre = d.pre_activations(tr.reads[k])
        gap = ((pre - acts).abs() * active).max() / pre.abs().max().clamp_min(1.0)
        if gap > (1e-3 if acts.dtype in (torch.float32, torch.float64) else 5e-2):
            raise BabelgraphError(
                f"dictionary at {d.read_hook} ({d.architecture}): its active features do not equal "
                "their affine pre-activations, so babelgraph cannot attribute through it"
            )
