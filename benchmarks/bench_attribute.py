"""Seconds per attribution graph and peak memory, on a random model, optionally against circuit-tracer 0.5.0.

    python benchmarks/bench_attribute.py                       # demo-sized model, CPU, 16/32/64/128 tokens
    python benchmarks/bench_attribute.py --circuit-tracer /tmp/ct-venv/bin/python   # + the same runs in circuit-tracer
    python benchmarks/bench_attribute.py --gemma-scale --device cuda --sizes 16 64 128   # on a GPU

The model (random GPT-2-style weights and ReLU skip transcoders calibrated to L0 about 14) is written once by
``benchmarks/circuit_tracer/make_random_model.py`` to ``--model-dir``, so both tools read the identical weights.
Each size runs in its own subprocess, so peak memory (resident set on the CPU, allocator peak on a GPU) is that
size's alone; a short warm-up prompt runs first in each process. Time is the ``attribute`` call only (model
loading excluded), like circuit-tracer's timing. With ``--circuit-tracer``, its adjacency is compared with ours
on the shared nodes (feature and logit rows; feature and non-BOS error columns: circuit-tracer zeroes BOS
errors and its token nodes leave out the positional embedding, so those columns differ by definition).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MAKE_MODEL = HERE / "circuit_tracer" / "make_random_model.py"
RUN_CT = HERE / "circuit_tracer" / "run_circuit_tracer.py"


def load_bench_model(model_dir: Path, device: str):
    """The random model and its transcoders as a babelgraph ReplacementModel (sae_lens SkipTranscoders)."""
    import torch
    from sae_lens import SkipTranscoder, SkipTranscoderConfig, Transcoder, TranscoderConfig
    from sae_lens.saes.sae import SAEMetadata
    from safetensors.torch import load_file
    from transformer_lens import HookedTransformer, HookedTransformerConfig
    from transformers import PreTrainedTokenizerFast

    import babelgraph as bg

    cfg_kwargs = json.loads((model_dir / "model_config.json").read_text())
    cfg_kwargs["dtype"] = torch.float32
    cfg = HookedTransformerConfig(**{**cfg_kwargs, "device": device})
    tokenizer = None
    if (model_dir / "tokenizer").is_dir():
        tokenizer = PreTrainedTokenizerFast.from_pretrained(str(model_dir / "tokenizer"))
    model = HookedTransformer(cfg, tokenizer=tokenizer, move_to_device=False)
    state = load_file(str(model_dir / "model.safetensors"))
    model.load_state_dict(state, strict=False)
    model.to(device, print_details=False)
    transcoders = []
    for layer in range(cfg.n_layers):
        weights = load_file(str(model_dir / "transcoders" / f"layer_{layer}.safetensors"))
        d_model, width = weights["W_enc"].shape
        skip = "W_skip" in weights
        cls, cfg_cls = (SkipTranscoder, SkipTranscoderConfig) if skip else (Transcoder, TranscoderConfig)
        tc = cls(
            cfg_cls(
                d_in=d_model,
                d_sae=width,
                d_out=d_model,
                apply_b_dec_to_input=False,
                device=device,
                metadata=SAEMetadata(
                    hook_name=f"blocks.{layer}.ln2.hook_normalized", hook_name_out=f"blocks.{layer}.hook_mlp_out"
                ),
            )
        )
        tc.load_state_dict(weights)
        transcoders.append(tc.to(device))
    return bg.load_model(model, transcoders)


def worker(args: argparse.Namespace) -> None:
    """One size in this process: warm up, time one graph, report JSON (and the adjacency for comparison)."""
    import torch

    import babelgraph as bg

    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_bench_model(Path(args.model_dir), args.device)
    prompt = json.loads(Path(args.prompts).read_text())[args.index]
    bg.attribute(model, prompt[:8], batch_size=args.batch_size, progress=False)  # warm-up
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    graph = bg.attribute(
        model, prompt, batch_size=args.batch_size, max_feature_nodes=args.max_feature_nodes, progress=False
    )
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    counts = graph.node_counts()
    result = {
        "tokens": len(prompt),
        "seconds": seconds,
        "timing": graph.metadata["timing"],
        "features": counts["feature"],
        "l0": counts["feature"] / max(1, (len(prompt) - 1) * model.n_layers),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if args.device.startswith("cuda") else None,
    }
    if args.save_graph:
        graph.save(args.save_graph)
    print(json.dumps(result))


def compare_with_circuit_tracer(ours_path: str, ct_file: str, index: int) -> dict:
    """Max |difference| on shared entries, relative to the largest |entry|."""
    import torch
    from safetensors.torch import load_file

    from babelgraph import AttributionGraph

    ours = AttributionGraph.load(ours_path)
    theirs = load_file(ct_file)
    adjacency = theirs[f"adjacency_{index}"]
    active = theirs[f"active_features_{index}"].tolist()
    logit_tokens = theirs[f"logit_tokens_{index}"].tolist()
    n_layers = ours.metadata["model"]["n_layers"]
    n_pos = len(ours.tokens)
    ct_index = {f"feat_{layer}_{feature}_{pos}": i for i, (layer, pos, feature) in enumerate(active)}
    for layer in range(n_layers):
        for pos in range(1, n_pos):
            ct_index[f"err_{layer}_{pos}"] = len(active) + layer * n_pos + pos
    offset = len(active) + (n_layers + 1) * n_pos
    for i, token in enumerate(logit_tokens):
        ct_index[f"logit_{token}"] = offset + i
    ours_index = {node.id: i for i, node in enumerate(ours.nodes)}
    rows = [n.id for n in ours.nodes if n.kind in ("feature", "logit") and n.id in ct_index]
    cols = [n.id for n in ours.nodes if n.kind in ("feature", "error") and n.id in ct_index]
    a = ours.adjacency[[ours_index[r] for r in rows]][:, [ours_index[c] for c in cols]].double()
    b = adjacency[[ct_index[r] for r in rows]][:, [ct_index[c] for c in cols]].double()
    scale = float(torch.maximum(a.abs().max(), b.abs().max()))
    return {
        "shared_rows": len(rows),
        "shared_columns": len(cols),
        "rows_only_ours": sum(1 for n in ours.nodes if n.kind in ("feature", "logit")) - len(rows),
        "max_abs_diff_relative": float((a - b).abs().max()) / scale,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", default=None, help="random model folder (made if missing)")
    parser.add_argument("--gemma-scale", action="store_true", help="26 layers, d_model 2304, 16k transcoders")
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=None, help="babelgraph's (default: its own)")
    parser.add_argument("--seed", type=int, default=123, help="prompt seed")
    parser.add_argument("--circuit-tracer", default=None, help="python of a venv with circuit-tracer 0.5.0")
    parser.add_argument("--ct-batch-size", type=int, default=512)
    parser.add_argument("--max-feature-nodes", type=int, default=None, help="babelgraph's exploration limit")
    parser.add_argument("--threads", type=int, default=None, help="torch threads in both tools (default: torch's)")
    parser.add_argument("--json-out", default=None, help="write all results here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--prompts", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--save-graph", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    work = Path(tempfile.mkdtemp(prefix="babelgraph-bench-"))
    model_dir = Path(args.model_dir or work / ("gemma-model" if args.gemma_scale else "model"))
    if not (model_dir / "model_config.json").is_file():
        command = [sys.executable, str(MAKE_MODEL), "--out", str(model_dir), "--device", args.device]
        subprocess.run(command + (["--gemma-scale"] if args.gemma_scale else []), check=True)
    import torch

    d_vocab = json.loads((model_dir / "model_config.json").read_text())["d_vocab"]
    generator = torch.Generator().manual_seed(args.seed)
    prompts = [[0] + torch.randint(2, d_vocab, (n - 1,), generator=generator).tolist() for n in args.sizes]
    prompt_file = work / "prompts.json"
    prompt_file.write_text(json.dumps(prompts))

    results = []
    for index, size in enumerate(args.sizes):
        graph_file = work / f"ours_{index}.safetensors"
        command = [
            sys.executable,
            __file__,
            "--worker",
            "--model-dir",
            str(model_dir),
            "--prompts",
            str(prompt_file),
            "--index",
            str(index),
            "--device",
            args.device,
            "--save-graph",
            str(graph_file),
        ] + (["--threads", str(args.threads)] if args.threads else [])
        command += ["--batch-size", str(args.batch_size)] if args.batch_size else []
        command += ["--max-feature-nodes", str(args.max_feature_nodes)] if args.max_feature_nodes else []
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        result = json.loads(output.strip().splitlines()[-1])
        print(
            f"babelgraph {size:4d} tokens: {result['seconds']:.2f} s, peak RSS {result['peak_rss_mb']:.0f} MB",
            flush=True,
        )
        results.append(result)

    if args.circuit_tracer:
        ct_file = work / "ct.safetensors"
        subprocess.run(
            [
                args.circuit_tracer,
                str(RUN_CT),
                "--model-dir",
                str(model_dir),
                "--prompt-tokens",
                str(prompt_file),
                "--out",
                str(ct_file),
                "--batch-size",
                str(args.ct_batch_size),
            ]
            + (["--threads", str(args.threads)] if args.threads else []),
            check=True,
        )
        ct_meta = json.loads(Path(str(ct_file).replace(".safetensors", ".json")).read_text())
        for index, result in enumerate(results):
            ct_seconds = ct_meta["prompts"][index]["seconds"]
            result["circuit_tracer_seconds"] = ct_seconds
            result["ratio_to_circuit_tracer"] = result["seconds"] / ct_seconds
            result["agreement"] = compare_with_circuit_tracer(
                str(work / f"ours_{index}.safetensors"), str(ct_file), index
            )

    machine = {
        "date": time.strftime("%Y-%m-%d"),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": args.threads or torch.get_num_threads(),
        "device": args.device if not args.device.startswith("cuda") else torch.cuda.get_device_name(),
        "torch": torch.__version__,
    }
    print(f"\n{machine}\n")
    print("| tokens | features | babelgraph s | peak memory MB | circuit-tracer s | ratio | max rel. diff |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        memory = r["peak_gpu_mb"] if r["peak_gpu_mb"] is not None else r["peak_rss_mb"]
        ct = f"{r['circuit_tracer_seconds']:.2f}" if "circuit_tracer_seconds" in r else "-"
        ratio = f"{r['ratio_to_circuit_tracer']:.2f}" if "ratio_to_circuit_tracer" in r else "-"
        diff = f"{r['agreement']['max_abs_diff_relative']:.1e}" if "agreement" in r else "-"
        print(f"| {r['tokens']} | {r['features']} | {r['seconds']:.2f} | {memory:.0f} | {ct} | {ratio} | {diff} |")
    print("\nwhere the time goes (s):", json.dumps([{k: round(v, 2) for k, v in r["timing"].items()} for r in results]))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"machine": machine, "results": results}, indent=2))


if __name__ == "__main__":
    main()
