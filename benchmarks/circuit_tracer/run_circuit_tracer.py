#!/usr/bin/env python
"""Run circuit-tracer 0.5.0 offline on a random benchmark model directory.

Execute with the separate venv:  /tmp/ct-venv/bin/python run_circuit_tracer.py ...
(see setup_venv.sh and README.md; the model dir is made by make_random_model.py).

For every prompt i (a list of token ids, BOS first) the output safetensors holds
  adjacency_{i}            [N, N] float32, rows = targets, cols = sources (circuit-tracer order)
  active_features_{i}      [n_active, 3] int64 rows (layer, pos, feature_idx)
  activation_values_{i}    [n_active] float32
  selected_features_{i}    [n_selected] int64, indices into active_features_{i}
  logit_tokens_{i}         [n_logits] int64 vocab ids
  logit_probabilities_{i}  [n_logits] float32
  input_tokens_{i}         [n_pos] int64
plus safetensors metadata key "metadata": a JSON string with per-prompt wall-clock
seconds of the attribute() call, the node ordering and the settings used.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import tempfile
import time

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

NODE_ORDER = (
    "rows = target nodes, cols = source nodes; node index layout: "
    "[0, n_active): active features in active_features order (sorted by layer, then pos, "
    "then feature_idx; BOS-position features are never active); "
    "[n_active, n_active + n_layers*n_pos): error nodes, index n_active + layer*n_pos + pos "
    "(layer-major; errors at pos 0 are zero vectors so their columns are 0); "
    "[n_active + n_layers*n_pos, n_active + (n_layers+1)*n_pos): token-embedding nodes, one per "
    "position (incl. BOS at pos 0), source vector = W_E[token] only (no positional embedding); "
    "last n_logits: logit nodes in logit_tokens order (descending probability). "
    "Only rows of selected features (all active features when max_feature_nodes is None) and "
    "logit rows are filled; error/token rows are all-zero. "
    "Entry A[t, s] = (source vector of s) . J_{s->t} . (target vector of t) with attention "
    "patterns and LayerNorm scales frozen (stop-gradient) and gradients flowing through "
    "residual stream, attention OV, LayerNorm centring/gain, and transcoder W_skip; "
    "feature source vector = activation * W_dec row, error source = (mlp_out - transcoder "
    "reconstruction incl. b_dec and skip), target vector of a feature = its W_enc column "
    "(so A[t,s] is the direct effect on t's pre-activation), target vector of a logit = "
    "W_U[:, tok] - W_U.mean(over vocab) (de-meaned logit), injected after ln_final."
)


def _load_make_random_model():
    import importlib.util
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("make_random_model", os.path.join(here, "make_random_model.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules["make_random_model"] = mod
    spec.loader.exec_module(mod)
    return mod


def load_tokenizer(model_dir: str, d_vocab: int, bos_id: int):
    """HF fast tokenizer, re-saved to a temp folder (TransformerLens reloads it by path).

    Uses DIR/tokenizer/tokenizer.json (+ special_tokens_map.json) when present, whatever
    transformers version wrote it; otherwise builds make_random_model's word-level one.
    """
    from transformers import PreTrainedTokenizerFast

    tok = None
    tok_dir = os.path.join(model_dir, "tokenizer")
    tok_json = os.path.join(tok_dir, "tokenizer.json")
    if os.path.exists(tok_json):
        try:
            special = {}
            # transformers 4.x keeps special tokens in special_tokens_map.json, 5.x in
            # tokenizer_config.json
            for name in ("tokenizer_config.json", "special_tokens_map.json"):
                sp = os.path.join(tok_dir, name)
                if not os.path.exists(sp):
                    continue
                for k, v in json.load(open(sp)).items():
                    if k in ("bos_token", "eos_token", "unk_token", "pad_token") and v is not None:
                        special[k] = v["content"] if isinstance(v, dict) else v
            tok = PreTrainedTokenizerFast(tokenizer_file=tok_json, model_max_length=1 << 30, **special)
        except Exception as e:  # pragma: no cover - fall back to the built-in tokenizer
            print(f"warning: could not load {tok_json}: {e!r}; building the default tokenizer")
            tok = None
    if tok is None:
        mod = _load_make_random_model()
        assert bos_id == mod.BOS_TOKEN_ID, "built-in tokenizer uses BOS id 0"
        tok = mod.build_tokenizer(d_vocab)
    tmp = tempfile.mkdtemp(prefix="ct-tokenizer-")
    tok.save_pretrained(tmp)
    return PreTrainedTokenizerFast.from_pretrained(tmp)


def load_transcoders(model_dir: str, n_layers: int, bench: dict, device, dtype):
    from circuit_tracer.transcoder import SingleLayerTranscoder, TranscoderSet

    tcs = {}
    for l in range(n_layers):
        t = load_file(os.path.join(model_dir, "transcoders", f"layer_{l}.safetensors"), device=str(device))
        d_model, d_tc = t["W_enc"].shape
        skip = "W_skip" in t
        tc = SingleLayerTranscoder(d_model, d_tc, F.relu, l, skip_connection=skip, device=device, dtype=dtype)
        with torch.no_grad():
            # circuit-tracer stores W_enc as [d_transcoder, d_model] (used via F.linear);
            # our file stores [d_model, d_transcoder]  ->  transpose.
            tc.W_enc.copy_(t["W_enc"].T)
            tc.W_dec.copy_(t["W_dec"])  # [d_transcoder, d_model] in both
            tc.b_enc.copy_(t["b_enc"])
            tc.b_dec.copy_(t["b_dec"])
            if skip:
                # circuit-tracer: skip = x @ W_skip.T  == our convention, no conversion.
                tc.W_skip.copy_(t["W_skip"])
        tcs[l] = tc
    return TranscoderSet(
        tcs,
        feature_input_hook=bench.get("feature_input_hook", "ln2.hook_normalized"),
        feature_output_hook=bench.get("feature_output_hook", "hook_mlp_out"),
        scan="babelgraph-random-bench",
    )


def load_replacement_model(model_dir: str, device: str = "cpu", dtype: str | None = None):
    from circuit_tracer.replacement_model.replacement_model_transformerlens import (
        TransformerLensReplacementModel,
    )
    from transformer_lens import HookedTransformerConfig

    with open(os.path.join(model_dir, "model_config.json")) as f:
        cfg_kwargs = json.load(f)
    bench_path = os.path.join(model_dir, "bench_config.json")
    bench = json.load(open(bench_path)) if os.path.exists(bench_path) else {}
    bos_id = bench.get("bos_token_id", 0)

    kw = dict(cfg_kwargs)
    kw["dtype"] = getattr(torch, dtype or kw.get("dtype", "float32"))
    kw["device"] = device
    kw["init_weights"] = False
    cfg = HookedTransformerConfig(**kw)

    tokenizer = load_tokenizer(model_dir, cfg.d_vocab, bos_id)
    assert bos_id in tokenizer.all_special_ids, (bos_id, tokenizer.all_special_ids)

    # Same steps as TransformerLensReplacementModel.from_config, with the weights loaded
    # before the MLP / unembed modules get wrapped by _configure_replacement_model.
    model = TransformerLensReplacementModel(cfg, tokenizer=tokenizer)
    sd = load_file(os.path.join(model_dir, "model.safetensors"), device=str(device))
    params = dict(model.named_parameters())
    sd = {k: v for k, v in sd.items() if k in params}  # buffers (attn.mask, IGNORE) are ignored
    missing = [k for k in params if k not in sd]
    assert not missing, f"model.safetensors lacks parameters: {missing[:5]}"
    model.load_state_dict(sd, strict=False)
    model.to(device)
    model.eval()

    transcoders = load_transcoders(model_dir, cfg.n_layers, bench, device, cfg.dtype)
    model._configure_replacement_model(transcoders)
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--prompt-tokens", required=True, help="JSON list of token-id lists (BOS first)")
    ap.add_argument("--out", required=True, help="output .safetensors")
    ap.add_argument(
        "--batch-size",
        type=int,
        nargs="+",
        default=[512],
        help="one or more; with several, every prompt runs at each (after its own warm-up) in this one process, and "
        "only the first batch size's tensors are saved",
    )
    ap.add_argument("--max-n-logits", type=int, default=10)
    ap.add_argument("--desired-logit-prob", type=float, default=0.95)
    ap.add_argument("--max-feature-nodes", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--no-warmup", action="store_true")
    ap.add_argument("--verbose", action="store_true", help="circuit-tracer phase timings to stderr")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default=None, help="model and transcoder dtype (default: model_config.json's)")
    ap.add_argument("--no-save", action="store_true", help="write only the .json metadata, no tensors")
    ap.add_argument(
        "--keep-going", action="store_true", help="a failing prompt (e.g. out of memory) is recorded; the rest run"
    )
    a = ap.parse_args(argv)
    cuda = a.device.startswith("cuda")

    if a.threads:
        torch.set_num_threads(a.threads)
    import circuit_tracer
    from circuit_tracer import attribute

    t_load = time.perf_counter()
    model = load_replacement_model(a.model_dir, a.device, a.dtype)
    t_load = time.perf_counter() - t_load

    with open(a.prompt_tokens) as f:
        prompts = json.load(f)

    def run(tokens, batch_size):
        return attribute(
            torch.tensor(tokens, dtype=torch.long, device=a.device),
            model,
            max_n_logits=a.max_n_logits,
            desired_logit_prob=a.desired_logit_prob,
            batch_size=batch_size,
            max_feature_nodes=a.max_feature_nodes,
            verbose=a.verbose,
        )

    warmup_s = None
    tensors, per_prompt = {}, []
    for b, batch_size in enumerate(a.batch_size):
        if not a.no_warmup and prompts:
            t = time.perf_counter()
            run(prompts[0][: min(8, len(prompts[0]))], batch_size)
            warmup_s = time.perf_counter() - t if warmup_s is None else warmup_s
        for i, tokens in enumerate(prompts):
            assert tokens[0] in model.tokenizer.all_special_ids, "prompt must start with BOS"
            gpu = {}
            if cuda:
                gc.collect()
                torch.cuda.synchronize()
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
                gpu["gpu_allocated_before_mb"] = torch.cuda.memory_allocated() / 2**20
            t, c = time.perf_counter(), time.process_time()
            try:
                g = run(tokens, batch_size)
                if cuda:
                    torch.cuda.synchronize()
            except Exception as e:  # out of memory, ...
                if not a.keep_going:
                    raise
                g = None
                error = f"{type(e).__name__}: {str(e)[:300]}"
            dt, dc = time.perf_counter() - t, time.process_time() - c
            if cuda:
                # allocator peak of this call (model weights included: see gpu_allocated_before_mb)
                gpu["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
                gpu["peak_gpu_reserved_mb"] = torch.cuda.max_memory_reserved() / 2**20
            n_pos = len(tokens)
            if g is None:
                per_prompt.append({"index": i, "n_tokens": n_pos, "batch_size": batch_size, "error": error, **gpu})
                print(json.dumps(per_prompt[-1]), flush=True)
                continue
            n_act = int(g.active_features.shape[0])
            n_logits = len(g.logit_targets)
            per_prompt.append(
                {
                    "index": i,
                    "n_tokens": n_pos,
                    "batch_size": batch_size,
                    "seconds": dt,
                    "cpu_seconds": dc,
                    "load_avg_1min_after": os.getloadavg()[0],
                    # peak resident set of this process so far (one prompt per process: that prompt's peak)
                    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                    **gpu,
                    "n_active_features": n_act,
                    "n_selected_features": int(g.selected_features.numel()),
                    "n_logits": n_logits,
                    "n_nodes": int(g.adjacency_matrix.shape[0]),
                    "mean_l0_per_layer_pos_excl_bos": n_act / (model.cfg.n_layers * max(1, n_pos - 1)),
                    "logit_prob_sum": float(g.logit_probabilities.sum()),
                }
            )
            print(json.dumps(per_prompt[-1]), flush=True)
            if b == 0 and not a.no_save:
                tensors[f"adjacency_{i}"] = g.adjacency_matrix.detach().float().cpu().contiguous()
                tensors[f"active_features_{i}"] = g.active_features.detach().long().cpu().contiguous()
                tensors[f"activation_values_{i}"] = g.activation_values.detach().float().cpu().contiguous()
                tensors[f"selected_features_{i}"] = g.selected_features.detach().long().cpu().contiguous()
                tensors[f"logit_tokens_{i}"] = g.logit_token_ids.detach().long().cpu().contiguous()
                tensors[f"logit_probabilities_{i}"] = g.logit_probabilities.detach().float().cpu().contiguous()
                tensors[f"input_tokens_{i}"] = g.input_tokens.detach().long().cpu().contiguous()
            del g  # frees its tensors before the next call's peak is measured

    meta = {
        "tool": "circuit-tracer",
        "circuit_tracer_version": circuit_tracer.__version__,
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": a.device,
        "device_name": torch.cuda.get_device_name() if cuda else None,
        "dtype": str(model.cfg.dtype).replace("torch.", ""),
        "host": platform.node(),
        "model_dir": os.path.abspath(a.model_dir),
        "settings": {
            "batch_size": a.batch_size[0] if len(a.batch_size) == 1 else a.batch_size,
            "max_n_logits": a.max_n_logits,
            "desired_logit_prob": a.desired_logit_prob,
            "max_feature_nodes": a.max_feature_nodes,
        },
        "model_load_seconds": t_load,
        "warmup": None if warmup_s is None else {"prompt": "first prompt truncated to 8 tokens", "seconds": warmup_s},
        "timing_note": "seconds = wall clock of the attribute() call only (model loading and "
        "output writing excluded), after one untimed warm-up call (unless "
        "--no-warmup); cpu_seconds = process CPU time (all threads) of that call",
        "prompts": per_prompt,
        "node_order": NODE_ORDER,
    }
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    if not a.no_save:
        save_file(tensors, a.out, metadata={"metadata": json.dumps(meta)})
    with open(os.path.splitext(a.out)[0] + ".json", "w") as f:
        json.dump(meta, f, indent=2)
    print(json.dumps({"out": a.out, "seconds": [p.get("seconds") for p in per_prompt]}))


if __name__ == "__main__":
    main()
