#!/usr/bin/env python
"""Create a random GPT-2-style benchmark model directory (model + per-layer transcoders).

Runs in either environment (the project's own venv or /tmp/ct-venv); it needs only
torch, transformer_lens and safetensors.  ``tokenizers``/``transformers`` are optional:
when present a tiny word-level HF tokenizer is written to ``DIR/tokenizer/``; otherwise
``run_circuit_tracer.py`` builds the identical tokenizer on the fly.

Directory format (see README.md in this folder):

  model_config.json            HookedTransformerConfig kwargs
  model.safetensors            HookedTransformer parameters (state_dict() minus buffers), float32
  bench_config.json            bos_token_id, transcoder hooks, d_transcoder, calibration info
  tokenizer/                   optional HF fast tokenizer (word level: "<bos>"=0, "<unk>"=1, "t{i}"=i)
  transcoders/layer_{l}.safetensors
       W_enc [d_model, d_transcoder], b_enc [d_transcoder],
       W_dec [d_transcoder, d_model], b_dec [d_model], optional W_skip [d_model, d_model]
       acts = relu(x @ W_enc + b_enc);  out = acts @ W_dec + b_dec + x @ W_skip.T
       x = blocks.{l}.ln2.hook_normalized, out replaces blocks.{l}.hook_mlp_out

Weights are drawn from a torch.Generator seeded with --seed (CPU), independently of the
transformer_lens version, so the same command gives the same files in both environments.
Transcoder encoder biases are calibrated so that the mean L0 (active features per
position and layer, BOS position excluded) on random token sequences is --target-l0.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import torch
from safetensors.torch import save_file

BOS_TOKEN_ID = 0
UNK_TOKEN_ID = 1
FEATURE_INPUT_HOOK = "ln2.hook_normalized"
FEATURE_OUTPUT_HOOK = "hook_mlp_out"

PRESETS = {
    "default": dict(
        n_layers=6,
        d_model=256,
        n_heads=4,
        d_head=64,
        d_mlp=1024,
        d_vocab=4096,
        n_ctx=256,
        d_transcoder=2048,
    ),
    # Gemma-2-2B-like sizes (GPT-2 architecture!). Only meant for a GPU machine.
    "gemma": dict(
        n_layers=26,
        d_model=2304,
        n_heads=8,
        d_head=256,
        d_mlp=9216,
        d_vocab=256000,
        n_ctx=1024,
        d_transcoder=16384,
    ),
}


def model_config_kwargs(a) -> dict:
    return dict(
        model_name="babelgraph-random-bench",
        n_layers=a.n_layers,
        d_model=a.d_model,
        n_heads=a.n_heads,
        d_head=a.d_head,
        d_mlp=a.d_mlp,
        d_vocab=a.d_vocab,
        n_ctx=a.n_ctx,
        act_fn=a.act_fn,
        normalization_type="LN",
        positional_embedding_type="standard",
        attn_only=False,
        eps=1e-5,
        seed=a.seed,
        dtype="float32",
    )


def hooked_config(cfg_kwargs: dict, device: str):
    from transformer_lens import HookedTransformerConfig

    kw = dict(cfg_kwargs)
    kw["dtype"] = getattr(torch, kw.get("dtype", "float32"))
    kw["device"] = device
    kw["init_weights"] = False
    return HookedTransformerConfig(**kw)


def random_state_dict(model, gen: torch.Generator, perturb: bool) -> dict[str, torch.Tensor]:
    """Fill every parameter of `model` from `gen` (CPU), by name, in sorted-name order.

    Only parameters are returned: buffers (attn.mask, attn.IGNORE) differ between
    transformer_lens versions (3.9 keeps an empty lazy mask) and are not stored."""
    cfg = model.cfg
    D, H, dh, M, V = cfg.d_model, cfg.n_heads, cfg.d_head, cfg.d_mlp, cfg.d_vocab

    def normal(shape, std):
        return torch.randn(*shape, generator=gen, device=gen.device) * std

    sd = {}
    for name, p in sorted(model.named_parameters()):
        shape = tuple(p.shape)
        leaf = name.split(".")[-1]
        if name == "embed.W_E":
            t = normal(shape, 1.0)
        elif name == "pos_embed.W_pos":
            t = normal(shape, 0.5)
        elif leaf in ("W_Q", "W_K"):
            t = normal(shape, 1.0 / math.sqrt(D))
        elif leaf == "W_V":
            t = normal(shape, 1.0 / math.sqrt(D))
        elif leaf == "W_O":
            t = normal(shape, 0.5 / math.sqrt(H * dh))
        elif leaf == "W_in":
            t = normal(shape, 1.0 / math.sqrt(D))
        elif leaf == "W_out":
            t = normal(shape, 0.5 / math.sqrt(M))
        elif name == "unembed.W_U":
            t = normal(shape, 2.0 / math.sqrt(D))
        elif leaf == "w":  # LayerNorm gain
            t = 1.0 + (normal(shape, 0.1) if perturb else torch.zeros(shape, device=gen.device))
        elif leaf in ("b", "b_Q", "b_K", "b_V", "b_O", "b_in", "b_out", "b_U"):
            t = normal(shape, 0.05) if perturb else torch.zeros(shape, device=gen.device)
        else:
            raise ValueError(f"no init rule for parameter {name}")
        sd[name] = t.to(torch.float32).contiguous()
    del V
    return sd


def random_prompts(gen: torch.Generator, n: int, length: int, d_vocab: int) -> torch.Tensor:
    """Random token sequences of `length` tokens, BOS first, ids drawn from [2, d_vocab)."""
    body = torch.randint(2, d_vocab, (n, length - 1), generator=gen, device=gen.device)
    return torch.cat([torch.full((n, 1), BOS_TOKEN_ID, dtype=torch.long, device=gen.device), body], dim=1)


@torch.no_grad()
def collect_transcoder_inputs(model, tokens: torch.Tensor, batch: int = 4) -> list[torch.Tensor]:
    """ln2.hook_normalized of every layer, positions >= 1 only, flattened to [N, d_model]."""
    L = model.cfg.n_layers
    names = [f"blocks.{l}.{FEATURE_INPUT_HOOK}" for l in range(L)]
    out = [[] for _ in range(L)]
    for i in range(0, tokens.shape[0], batch):
        _, cache = model.run_with_cache(tokens[i : i + batch].to(model.cfg.device), names_filter=names)
        for l in range(L):
            out[l].append(cache[names[l]][:, 1:].reshape(-1, model.cfg.d_model).float())
    return [torch.cat(o) for o in out]


def write_tokenizer(out_dir: str, d_vocab: int) -> bool:
    """Word-level fast tokenizer: "<bos>"=0, "<unk>"=1, "t{i}"=i. Returns False if libs are missing."""
    try:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers  # noqa: F401
    except Exception:
        return False
    tok = build_tokenizer(d_vocab)
    tok.save_pretrained(out_dir)
    # transformers>=5 writes tokenizer_class "TokenizersBackend", unknown to transformers 4.x
    # (circuit-tracer's venv); the 4.x/5.x-neutral name is PreTrainedTokenizerFast.
    cfg_path = os.path.join(out_dir, "tokenizer_config.json")
    if os.path.exists(cfg_path):
        with open(cfg_path) as f:
            tcfg = json.load(f)
        tcfg["tokenizer_class"] = "PreTrainedTokenizerFast"
        with open(cfg_path, "w") as f:
            json.dump(tcfg, f, indent=2)
    return True


def build_tokenizer(d_vocab: int):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<bos>": BOS_TOKEN_ID, "<unk>": UNK_TOKEN_ID}
    for i in range(2, d_vocab):
        vocab[f"t{i}"] = i
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<bos>", unk_token="<unk>", model_max_length=1 << 30
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="model directory to create")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--gemma-scale",
        action="store_true",
        help="26 layers, d_model 2304, 8x256 heads, d_mlp 9216, vocab 256000, 16384-wide "
        "transcoders (GPU machine only: ~20 GB of files, ~12 GB RAM + GPU)",
    )
    for k in PRESETS["default"]:
        ap.add_argument("--" + k.replace("_", "-"), type=int, default=None)
    ap.add_argument("--act-fn", default="gelu_new", choices=["gelu_new", "gelu"])
    ap.add_argument("--no-skip", action="store_true", help="transcoders without W_skip")
    ap.add_argument(
        "--no-perturb", action="store_true", help="zero biases and unit LayerNorm gains (default: small random values)"
    )
    ap.add_argument("--target-l0", type=float, default=14.0)
    ap.add_argument("--calib-seqs", type=int, default=16)
    ap.add_argument("--calib-len", type=int, default=64)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument(
        "--init-device",
        default="cpu",
        help="where the random numbers are drawn (default cpu: the same files on every machine and transformer_lens "
        "version); 'cuda' draws them on the GPU, much faster at --gemma-scale, but the weights then differ from a "
        "cpu-drawn model of the same seed",
    )
    ap.add_argument(
        "--save-dtype",
        default="float32",
        choices=["float32", "bfloat16"],
        help="dtype of the written weights (default float32; bfloat16 halves the files for runs that load the "
        "model in bfloat16 anyway: the loaders cast, and casting float32 files gives the same bfloat16 weights). "
        "Calibration always uses the float32 weights",
    )
    a = ap.parse_args(argv)
    save_dtype = getattr(torch, a.save_dtype)

    preset = PRESETS["gemma" if a.gemma_scale else "default"]
    for k, v in preset.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    assert a.n_heads * a.d_head == a.d_model or True  # TL allows n_heads*d_head != d_model

    t0 = time.time()
    os.makedirs(os.path.join(a.out, "transcoders"), exist_ok=True)
    gen = torch.Generator(device=a.init_device).manual_seed(a.seed)

    from transformer_lens import HookedTransformer

    cfg_kwargs = model_config_kwargs(a)
    cfg = hooked_config(cfg_kwargs, "cpu")
    model = HookedTransformer(cfg)
    sd = random_state_dict(model, gen, perturb=not a.no_perturb)
    missing, unexpected = model.load_state_dict(sd, strict=False, assign=True)  # no 2nd copy
    assert not unexpected and all(k not in dict(model.named_parameters()) for k in missing)
    model.to(a.device)
    model.eval()

    with open(os.path.join(a.out, "model_config.json"), "w") as f:
        json.dump(cfg_kwargs, f, indent=2)
    save_file({k: v.to(save_dtype).contiguous() for k, v in sd.items()}, os.path.join(a.out, "model.safetensors"))

    # ---- transcoders: random weights, then calibrate b_enc on random prompts ----
    calib = random_prompts(gen, a.calib_seqs, min(a.calib_len, a.n_ctx), a.d_vocab)
    xs = collect_transcoder_inputs(model, calib)
    frac = a.target_l0 / a.d_transcoder
    l0s = []
    for l in range(a.n_layers):
        D, T = a.d_model, a.d_transcoder
        W_enc = torch.randn(D, T, generator=gen, device=gen.device) / math.sqrt(D)
        W_dec = torch.randn(T, D, generator=gen, device=gen.device) / math.sqrt(D)
        b_dec = torch.randn(D, generator=gen, device=gen.device) * 0.05
        offs = torch.randn(T, generator=gen, device=gen.device) * 0.1  # per-feature spread of thresholds
        x = xs[l].to(a.device)
        pre = x @ W_enc.to(a.device) + offs.to(a.device)  # [N, T]
        flat = pre.flatten()
        k = max(1, int(round(flat.numel() * (1.0 - frac))))
        q = flat.kthvalue(k).values.item()  # global (1 - frac) quantile for this layer
        b_enc = offs - q
        l0 = (pre - q > 0).float().sum(-1).mean().item()
        l0s.append(l0)
        tensors = {"W_enc": W_enc, "b_enc": b_enc, "W_dec": W_dec, "b_dec": b_dec}
        if not a.no_skip:
            tensors["W_skip"] = torch.randn(D, D, generator=gen, device=gen.device) * (0.1 / math.sqrt(D))
        tensors = {k2: v.to(save_dtype).contiguous().cpu() for k2, v in tensors.items()}
        save_file(tensors, os.path.join(a.out, "transcoders", f"layer_{l}.safetensors"))
        del pre, flat, x

    bench = {
        "bos_token_id": BOS_TOKEN_ID,
        "unk_token_id": UNK_TOKEN_ID,
        "feature_input_hook": FEATURE_INPUT_HOOK,
        "feature_output_hook": FEATURE_OUTPUT_HOOK,
        "d_transcoder": a.d_transcoder,
        "skip_connection": not a.no_skip,
        "activation": "relu",
        "transcoder_convention": "acts = relu(x @ W_enc + b_enc); out = acts @ W_dec + b_dec + x @ W_skip.T",
        "seed": a.seed,
        "target_l0": a.target_l0,
        "calibration": {"n_seqs": a.calib_seqs, "seq_len": int(calib.shape[1]), "l0_per_layer_in_sample": l0s},
        "perturbed_biases": not a.no_perturb,
    }
    if a.init_device != "cpu":
        bench["init_device"] = a.init_device
    if a.save_dtype != "float32":
        bench["save_dtype"] = a.save_dtype
    with open(os.path.join(a.out, "bench_config.json"), "w") as f:
        json.dump(bench, f, indent=2)
    wrote_tok = write_tokenizer(os.path.join(a.out, "tokenizer"), a.d_vocab)
    print(
        json.dumps(
            {
                "out": a.out,
                "seconds": round(time.time() - t0, 1),
                "tokenizer_written": wrote_tok,
                "l0_per_layer": [round(v, 2) for v in l0s],
            }
        )
    )


if __name__ == "__main__":
    main()
