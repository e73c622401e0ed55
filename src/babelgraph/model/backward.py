"""Backward passes of the frozen replacement model: what one batch of attribution rows costs.

A row is ``J^T w_t``: the gradient of one target's read (its direction ``w_t`` at one position) with respect to
every source's write point, through the frozen model (docs/method.md). Two implementations give the same
gradients:

- :class:`AutogradBackward`, for every model babelgraph loads: the frozen replay of
  :func:`~babelgraph.model.replacement.frozen_forward` and ``torch.autograd.grad`` with batched cotangents;
- :class:`TranscoderBackward`, for the common case where it applies (pre-norm blocks, every MLP replaced by a
  per-layer transcoder that reads ``ln2.hook_normalized``): the same linear map written out layer by layer.
  With the MLPs replaced and the attention patterns and norm scales frozen, a block's backward pass is three
  matrix products per position (the transcoder's skip, ``W_O``, ``W_V``), the patterns' mixing over positions
  and the norms' per-position scaling and centring; written out, it skips autograd's bookkeeping and the
  elementwise steps of the norms, and the first attention layer a target meets runs on the target's own
  position only (where its gradient is not zero) instead of the whole prefix. No forward replay is needed:
  the trace's patterns and scales are all it reads. On a CPU a graph takes about half the time it took through
  autograd (docs/benchmarks.md); tests check the two against each other on tiny random models.

:func:`frozen_backward` picks the fast one where it applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from babelgraph.model.replacement import FrozenRun, ReplacementModel, Trace, frozen_forward

# transformer_lens norm classes, and whether each centres its input (LayerNorm) or only scales it (RMSNorm)
CENTRED_NORMS = {"LayerNorm": True, "LayerNormPre": True, "RMSNorm": False, "RMSNormPre": False}
_ATTENTION = {"Attention", "GroupedQueryAttention"}
_WIDE = {
    t: torch.promote_types(t, torch.float32) for t in (torch.float16, torch.bfloat16, torch.float32, torch.float64)
}


class PrefixBackward(Protocol):
    """Backward passes on one prefix of the prompt (its first ``length`` tokens)."""

    def gradients(self, read: int, positions: torch.Tensor, vectors: torch.Tensor) -> list[torch.Tensor | None]:
        """Gradients of ``vectors[i] . (read at positions[i])`` for each row ``i``, at the embedding and then
        at each write point upstream of the read (``model.writes_before``), each ``[rows, length, d]`` (``None``
        where a write point cannot reach the read). ``read`` is a dictionary index, or -1 for the final norm."""
        ...


class FrozenBackward(Protocol):
    def prefix(self, tr: Trace) -> PrefixBackward:
        """Prepare backward passes on the prefix ``tr`` (a :meth:`Trace.prefix`)."""
        ...


# ---- autograd through the frozen replay: every architecture --------------------------------------------------
class AutogradBackward:
    def __init__(self, model: ReplacementModel) -> None:
        self.model = model

    def prefix(self, tr: Trace) -> PrefixBackward:
        return _AutogradPrefix(self.model, frozen_forward(self.model, tr, 1))


@dataclass
class _AutogradPrefix:
    model: ReplacementModel
    run: FrozenRun

    def gradients(self, read: int, positions: torch.Tensor, vectors: torch.Tensor) -> list[torch.Tensor | None]:
        model, run = self.model, self.run
        base = run.final if read < 0 else run.reads[read]
        grad = torch.zeros(len(positions), *base.shape, dtype=base.dtype, device=base.device)
        grad[torch.arange(len(positions), device=base.device), 0, positions] = vectors.to(base.dtype)
        upstream = model.writes_before(None if read < 0 else model.dictionaries[read].read_hook)
        inputs = [run.embedding, *(run.writes[w] for w in upstream)]
        found = torch.autograd.grad([base], inputs, [grad], retain_graph=True, allow_unused=True, is_grads_batched=True)
        return [None if g is None else g[:, 0] for g in found]


# ---- the same map written out, for per-layer transcoders in pre-norm blocks -----------------------------------
def _centre(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    return x - x.mean(dim, keepdim=True)


@dataclass
class _Block:
    """One block's weights with its norms folded in.

    A frozen norm's backward pass is ``centre(g * gain) / scale``: the gain and the centring are linear maps
    over the model dimension, so they fold into the matrix next to them, and only the per-position ``1 / scale``
    is left for the backward pass (one fused multiply-add)."""

    w_o: torch.Tensor  # [d_model, heads * d_head]: gradient at the attention output @ w_o = gradient at z
    w_v: torch.Tensor  # [heads * d_head, d_model]: gradient at the values @ w_v = gradient at resid_pre / scale
    skip: torch.Tensor | None  # [d_model, d_model]: gradient at resid_post @ skip = gradient at resid_mid / scale
    n_heads: int


def _supported(model: ReplacementModel) -> bool:
    from transformer_lens.utilities.architectures import POST_NORM_ARCHITECTURES

    hooked, cfg = model.model, model.model.cfg
    if cfg.attn_only or cfg.parallel_attn_mlp or cfg.use_attn_in or cfg.use_split_qkv_input:
        return False
    if cfg.original_architecture in POST_NORM_ARCHITECTURES or cfg.positional_embedding_type == "shortformer":
        return False
    if getattr(cfg, "clip_qkv", None) is not None or getattr(cfg, "load_in_4bit", False):
        return False  # clipped values (OLMo) have zero gradient where they clip; 4-bit weights are packed
    if len(model.dictionaries) != cfg.n_layers or len(model.write_points) != cfg.n_layers:
        return False
    for layer, (d, point) in enumerate(zip(model.dictionaries, model.write_points)):
        if d.read_hook != f"blocks.{layer}.ln2.hook_normalized" or tuple(d.write_hooks) != (point.hook,):
            return False
        if point.hook != f"blocks.{layer}.hook_mlp_out" or point.dictionary != layer or point.write != 0:
            return False
    norms = [hooked.ln_final] + [getattr(b, name) for b in hooked.blocks for name in ("ln1", "ln2")]
    if cfg.use_normalization_before_and_after:
        norms += [b.ln1_post for b in hooked.blocks]
    if any(type(n).__name__ not in CENTRED_NORMS for n in norms):
        return False
    return all(type(b.attn).__name__ in _ATTENTION for b in hooked.blocks)


def _gain(norm: torch.nn.Module, dtype: torch.dtype) -> torch.Tensor | None:
    weight = getattr(norm, "w", None)
    return None if weight is None else weight.detach().to(dtype)


def _fold_into_reader(norm: torch.nn.Module, matrix: torch.Tensor, gain: bool) -> torch.Tensor:
    """``matrix`` ``[k, d_model]`` maps a gradient onto the norm's output (``h = v @ matrix``); returns it with
    the norm's backward pass (gain, if ``gain``, then centring) folded in: ``v @ result == centre(h * gain)``."""
    matrix = matrix.to(_WIDE[matrix.dtype])
    weight = _gain(norm, matrix.dtype) if gain else None
    if weight is not None:
        matrix = matrix * weight
    return _centre(matrix, 1) if CENTRED_NORMS[type(norm).__name__] else matrix


def _fold_into_writer(norm: torch.nn.Module, matrix: torch.Tensor) -> torch.Tensor:
    """``matrix`` ``[d_model, k]`` is applied after the norm's backward pass (``z = centre(g * gain) @ matrix``);
    returns it with that folded in: ``g @ result == z``."""
    matrix = matrix.to(_WIDE[matrix.dtype])
    if CENTRED_NORMS[type(norm).__name__]:
        matrix = _centre(matrix, 0)
    weight = _gain(norm, matrix.dtype)
    return matrix if weight is None else weight[:, None] * matrix


class TranscoderBackward:
    """The frozen model's backward pass written out (see the module docstring); build with :meth:`for_model`."""

    def __init__(self, model: ReplacementModel) -> None:
        self.model = model
        hooked, dtype = model.model, model.dtype
        post = hooked.cfg.use_normalization_before_and_after
        self.blocks = []
        for layer, block in enumerate(hooked.blocks):
            attn = block.attn
            n_heads, d_head = attn.W_O.shape[0], attn.W_O.shape[1]
            w_o = attn.W_O.detach().reshape(n_heads * d_head, -1).T  # [d_model, heads * d_head]
            w_v = attn.W_V.detach().transpose(1, 2).reshape(n_heads * d_head, -1)  # [heads * d_head, d_model]
            skip = model.dictionaries[layer].skip(0)  # [d_model (out), d_model (in)]
            self.blocks.append(
                _Block(
                    w_o=(_fold_into_writer(block.ln1_post, w_o) if post else w_o).to(dtype),
                    w_v=_fold_into_reader(block.ln1, w_v, True).to(dtype),  # attention reads ln1's gain too
                    skip=None if skip is None else _fold_into_reader(block.ln2, skip.detach(), False).to(dtype),
                    n_heads=n_heads,
                )
            )

    @classmethod
    def for_model(cls, model: ReplacementModel) -> TranscoderBackward | None:
        return cls(model) if _supported(model) else None

    def prefix(self, tr: Trace) -> PrefixBackward:
        return _TranscoderPrefix(self, tr)


class _TranscoderPrefix:
    def __init__(self, owner: TranscoderBackward, tr: Trace) -> None:
        self.owner, self.length = owner, len(tr.tokens)
        hooked, dtype = owner.model.model, owner.model.dtype

        def inverse_scale(name: str) -> torch.Tensor:  # [length, 1]
            scale = tr.frozen[f"{name}.hook_scale"][0]
            return (1.0 / scale.to(_WIDE[scale.dtype])).to(dtype)

        n = hooked.cfg.n_layers
        self.patterns = [tr.frozen[f"blocks.{i}.attn.hook_pattern"][0] for i in range(n)]  # [heads, q, k]
        self.ln1 = [inverse_scale(f"blocks.{i}.ln1") for i in range(n)]
        self.ln2 = [inverse_scale(f"blocks.{i}.ln2") for i in range(n)]
        post = hooked.cfg.use_normalization_before_and_after
        self.ln1_post = [inverse_scale(f"blocks.{i}.ln1_post") if post else None for i in range(n)]
        self.final = inverse_scale("ln_final")
        self.centred = {
            -1: CENTRED_NORMS[type(hooked.ln_final).__name__],
            **{i: CENTRED_NORMS[type(b.ln2).__name__] for i, b in enumerate(hooked.blocks)},
        }

    def gradients(self, read: int, positions: torch.Tensor, vectors: torch.Tensor) -> list[torch.Tensor | None]:
        """Walk down from the read: the gradient stays one vector per row (at its position) until the first
        attention layer spreads it over the prefix."""
        blocks = self.owner.blocks
        top = len(blocks) - 1 if read < 0 else read
        # the read is a norm's output before its gain (logit directions carry the final gain already)
        vector = _centre(vectors) if self.centred[read] else vectors
        vector = vector * (self.final if read < 0 else self.ln2[read])[positions]
        at_resid_post = read < 0  # the final norm reads the last block's output; a transcoder its resid_mid
        dense: torch.Tensor | None = None  # [rows, length, d] once the first attention layer has spread it
        writes: list[torch.Tensor] = []
        for layer in range(top, -1, -1):
            block = blocks[layer]
            if at_resid_post:  # write point `layer` adds to the residual here; its skip reads ln2's output
                if dense is None:
                    writes.append(self._spread(vector, positions))
                    if block.skip is not None:
                        vector = vector + (vector @ block.skip) * self.ln2[layer][positions]
                else:
                    writes.append(dense.clone())
                    if block.skip is not None:
                        dense.addcmul_(dense @ block.skip, self.ln2[layer])
            at_resid_post = True
            dense = self._attention(layer, vector, positions) if dense is None else self._attention(layer, dense)
        writes.reverse()
        assert dense is not None
        return [dense, *writes]

    def _spread(self, vector: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        out = vector.new_zeros(len(positions), self.length, vector.shape[-1])
        out[torch.arange(len(positions), device=vector.device), positions] = vector
        return out

    def _attention(self, layer: int, grad: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """The gradient at the block's input (``resid_pre``) from ``grad`` at its attention output (``resid_mid``):
        the residual path plus the attention path. ``grad`` is ``[rows, length, d]``, or with ``positions``
        ``[rows, d]``, one position per row; the result is ``[rows, length, d]`` (``grad`` itself, added to)."""
        block, pattern = self.owner.blocks[layer], self.patterns[layer]
        heads = block.n_heads
        z = grad @ block.w_o  # gradient at the heads' outputs z
        post = self.ln1_post[layer]
        if positions is None:  # [rows, length, heads * d_head] -> values, mixed back over positions
            if post is not None:
                z.mul_(post)
            rows, length = z.shape[:2]
            z = z.reshape(rows, length, heads, -1).transpose(1, 2)
            values = pattern.transpose(-1, -2) @ z  # [rows, heads, length, d_head]
            out = grad
        else:  # one query position per row: its pattern row spreads z over the keys
            if post is not None:
                z.mul_(post[positions])
            rows = z.shape[0]
            values = pattern[:, positions].transpose(0, 1)[..., None] * z.reshape(rows, heads, 1, -1)
            out = self._spread(grad, positions)
        values = values.transpose(1, 2).reshape(rows, self.length, -1)
        return out.addcmul_(values @ block.w_v, self.ln1[layer])


def frozen_backward(model: ReplacementModel) -> FrozenBackward:
    """The fastest implementation that applies to ``model``."""
    return TranscoderBackward.for_model(model) or AutogradBackward(model)
