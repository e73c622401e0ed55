"""The written-out backward pass (per-layer transcoders) against autograd through the frozen replay."""

from __future__ import annotations

import pytest
import torch
from _tiny import D_MODEL, MODELS, make_sae, make_transcoder

import babelgraph as bg
from babelgraph.model.backward import AutogradBackward, TranscoderBackward, frozen_backward
from babelgraph.model.replacement import tokenize, trace

PROMPT = "the opposite of small is big le contraire de"
KINDS = ("skip_transcoder", "jumprelu_transcoder")
SUPPORTED = [name for name in MODELS if name != "parallel"]  # GPT-J-style blocks have no resid_mid


def _model(name: str, kind: str):
    hooked = MODELS[name]()
    return bg.load_model(hooked, [make_transcoder(kind, layer, seed=layer) for layer in range(hooked.cfg.n_layers)])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", SUPPORTED)
def test_written_out_gradients_equal_autograd(name, kind):
    model = _model(name, kind)
    assert isinstance(frozen_backward(model), TranscoderBackward)
    tokens, has_bos = tokenize(model, PROMPT)
    full = trace(model, tokens, has_bos)
    generator = torch.Generator().manual_seed(0)
    for length in (len(tokens), 5):
        tr = full.prefix(length)
        fast, slow = TranscoderBackward(model).prefix(tr), AutogradBackward(model).prefix(tr)
        for read in (-1, *range(len(model.dictionaries))):
            positions = torch.randint(0, length, (6,), generator=generator)
            if read < 0:
                positions[:] = length - 1
            vectors = torch.randn(6, D_MODEL, generator=generator, dtype=torch.float64)
            expected = slow.gradients(read, positions, vectors)
            got = fast.gradients(read, positions, vectors)
            assert len(got) == len(expected) == 1 + (len(model.write_points) if read < 0 else read)
            for g, e in zip(got, expected):
                assert e is not None and g.shape == e.shape
                assert torch.allclose(g, e, atol=1e-10 * float(e.abs().max()), rtol=0), (read, length)
                assert e.abs().max() > 0


def test_other_models_fall_back_to_autograd():
    parallel = _model("parallel", "skip_transcoder")
    hooked = MODELS["gpt2"]()
    saes = bg.load_model(hooked, [make_sae("topk", f"blocks.{layer}.hook_resid_post") for layer in range(3)])
    partial = bg.load_model(MODELS["gpt2"](), [make_transcoder("skip_transcoder", 1)])  # MLPs 0 and 2 stay
    for model in (parallel, saes, partial):
        assert isinstance(frozen_backward(model), AutogradBackward)


@pytest.mark.parametrize("norm_kind", ["LN", "RMS"])
def test_folding_a_norm_into_the_matrix_next_to_it_is_exact(norm_kind):
    """The identities the written-out pass rests on, for both sides a matrix can sit on (a post-attention
    LayerNorm, which transformer_lens does not build today, included)."""
    from transformer_lens.components import LayerNorm, RMSNorm

    from babelgraph.model.backward import _fold_into_reader, _fold_into_writer

    generator = torch.Generator().manual_seed(1)
    cfg = {"d_model": D_MODEL, "d_head": 8, "n_layers": 1, "n_ctx": 8, "eps": 1e-5, "dtype": torch.float64}
    norm = (LayerNorm if norm_kind == "LN" else RMSNorm)(cfg)
    norm.w.data = torch.randn(D_MODEL, generator=generator, dtype=torch.float64)

    def backward(g):  # centre(g * gain), the norm's backward pass without its per-position scale
        g = g * norm.w
        return g - g.mean(-1, keepdim=True) if norm_kind == "LN" else g

    v, m_read = (
        torch.randn(5, 12, generator=generator, dtype=torch.float64),
        torch.randn(12, D_MODEL, generator=generator, dtype=torch.float64),
    )
    assert torch.allclose(v @ _fold_into_reader(norm, m_read, True), backward(v @ m_read), atol=1e-12)
    g, m_write = (
        torch.randn(5, D_MODEL, generator=generator, dtype=torch.float64),
        torch.randn(D_MODEL, 12, generator=generator, dtype=torch.float64),
    )
    assert torch.allclose(g @ _fold_into_writer(norm, m_write), backward(g) @ m_write, atol=1e-12)
