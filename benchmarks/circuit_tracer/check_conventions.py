#!/usr/bin/env python
"""Independent re-derivation of circuit-tracer's adjacency on a benchmark model dir.

Runs in either environment (needs torch, transformer_lens, safetensors). It rebuilds the
frozen-attention / frozen-LayerNorm-scale linear replacement model by hand (no
circuit-tracer code) and compares every filled row of a circuit-tracer output file made
by run_circuit_tracer.py. This pins down the conventions documented in README.md:

  * sources: feature = activation * W_dec[f] written after MLP l at pos p;
             error   = hook_mlp_out - (acts @ W_dec + b_dec + x @ W_skip.T) at (l, p), zero at pos 0;
             token   = W_E[token] added to resid_pre of layer 0 (no positional embedding)
  * linear paths: residual stream, LN1 centring / frozen scale / gain -> W_V -> frozen
    pattern -> W_O, LN2 centring / frozen scale -> W_skip (the MLP itself is not a path),
    ln_final centring / frozen scale / gain
  * targets: feature = W_enc[:, f] read at ln2.hook_normalized (= (x - mean)/scale, BEFORE
             ln2.w / ln2.b) of layer l at pos p (pre-activation direct effect);
             logit   = W_U[:, tok] - W_U.mean(1) read at the ln_final output (incl. its gain)
             at the last position.
  * no bias terms anywhere (b_V, b_O, LN biases, b_dec, b_enc, b_U contribute nothing).

Usage: python check_conventions.py --model-dir DIR --ct-out FILE.safetensors [--index 0]
"""

from __future__ import annotations

import argparse
import json
import os

import torch
from safetensors.torch import load_file


def center(x):
    return x - x.mean(-1, keepdim=True)


@torch.no_grad()
def expected_adjacency(model_dir: str, tokens: list[int], logit_ids: torch.Tensor):
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg_kwargs = json.load(open(os.path.join(model_dir, "model_config.json")))
    kw = dict(cfg_kwargs, dtype=torch.float64, device="cpu", init_weights=False)
    cfg = HookedTransformerConfig(**kw)
    model = HookedTransformer(cfg)
    sd = load_file(os.path.join(model_dir, "model.safetensors"))
    params = dict(model.named_parameters())
    model.load_state_dict({k: v.double() for k, v in sd.items() if k in params}, strict=False)
    L, P = cfg.n_layers, len(tokens)
    tcs = [
        {k: v.double() for k, v in load_file(os.path.join(model_dir, "transcoders", f"layer_{l}.safetensors")).items()}
        for l in range(L)
    ]
    toks = torch.tensor(tokens)[None]
    _, cache = model.run_with_cache(toks)

    # features and errors (BOS position zeroed, as circuit-tracer does)
    acts, errs = [], []
    for l in range(L):
        x = cache[f"blocks.{l}.ln2.hook_normalized"][0]
        t = tcs[l]
        a = torch.relu(x @ t["W_enc"] + t["b_enc"])
        a[0] = 0
        rec = a @ t["W_dec"] + t["b_dec"] + (x @ t["W_skip"].T if "W_skip" in t else 0)
        e = cache[f"blocks.{l}.hook_mlp_out"][0] - rec
        e[0] = 0
        acts.append(a)
        errs.append(e)
    act_idx = torch.stack([a for a in acts]).to_sparse().coalesce()
    feats = act_idx.indices().T  # (layer, pos, feat) sorted
    fvals = act_idx.values()
    nF = feats.shape[0]

    # source list: (kind, layer, pos, vector)
    src_layer, src_pos, src_vec = [], [], []
    for i in range(nF):
        l, p, f = feats[i].tolist()
        src_layer.append(l)
        src_pos.append(p)
        src_vec.append(fvals[i] * tcs[l]["W_dec"][f])
    for l in range(L):
        for p in range(P):
            src_layer.append(l)
            src_pos.append(p)
            src_vec.append(errs[l][p])
    for p in range(P):
        src_layer.append(-1)
        src_pos.append(p)
        src_vec.append(model.W_E[tokens[p]])
    S = len(src_vec)
    src_layer = torch.tensor(src_layer)
    src_pos = torch.tensor(src_pos)
    src_vec = torch.stack(src_vec)

    # push every source (one per batch row) through the linearised model
    D = cfg.d_model
    r = torch.zeros(S, P, D, dtype=torch.float64)
    emb = src_layer == -1
    r[emb.nonzero()[:, 0], src_pos[emb]] = src_vec[emb]
    n2 = []
    for l in range(L):
        s1 = cache[f"blocks.{l}.ln1.hook_scale"][0]  # [P, 1]
        a_in = center(r) / s1 * model.blocks[l].ln1.w
        v = torch.einsum("spd,hde->sphe", a_in, model.blocks[l].attn.W_V)
        pat = cache[f"blocks.{l}.attn.hook_pattern"][0]  # [H, q, k]
        z = torch.einsum("hqk,skhe->sqhe", pat, v)
        r = r + torch.einsum("sqhe,hed->sqd", z, model.blocks[l].attn.W_O)
        s2 = cache[f"blocks.{l}.ln2.hook_scale"][0]
        nl = center(r) / s2
        n2.append(nl)
        if "W_skip" in tcs[l]:
            r = r + nl @ tcs[l]["W_skip"].T
        here = src_layer == l
        r[here.nonzero()[:, 0], src_pos[here]] += src_vec[here]
    sf = cache["ln_final.hook_scale"][0]
    lnf = center(r) / sf * model.ln_final.w

    n_logits = len(logit_ids)
    N = S + n_logits
    A = torch.zeros(N, N, dtype=torch.float64)
    for i in range(nF):
        l, p, f = feats[i].tolist()
        A[i, :S] = n2[l][:, p] @ tcs[l]["W_enc"][:, f]
    WU = model.W_U
    dirs = WU[:, logit_ids] - WU.mean(1, keepdim=True)  # [D, k]
    A[S:, :S] = (lnf[:, -1] @ dirs).T
    return A, feats


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--ct-out", required=True)
    ap.add_argument("--index", type=int, default=0)
    a = ap.parse_args()
    t = load_file(a.ct_out)
    i = a.index
    tokens = t[f"input_tokens_{i}"].tolist()
    A_ct = t[f"adjacency_{i}"].double()
    A_ref, feats = expected_adjacency(a.model_dir, tokens, t[f"logit_tokens_{i}"])
    assert torch.equal(feats, t[f"active_features_{i}"]), "active feature sets differ"
    assert A_ct.shape == A_ref.shape, (A_ct.shape, A_ref.shape)
    diff = (A_ct - A_ref).abs()
    scale = A_ref.abs().max()
    nF = feats.shape[0]
    print(
        json.dumps(
            {
                "n_nodes": A_ct.shape[0],
                "n_features": nF,
                "max_abs_ref": scale.item(),
                "max_abs_diff": diff.max().item(),
                "max_rel_diff": (diff.max() / scale).item(),
                "feature_rows_max_diff": diff[:nF].max().item(),
                "logit_rows_max_diff": diff[-len(t[f"logit_tokens_{i}"]) :].max().item(),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
