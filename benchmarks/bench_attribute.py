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


def load_bench_model(model_dir: Path, device: str, dtype: str = "float32"):
    """The random model and its transcoders as a babelgraph ReplacementModel (sae_lens SkipTranscoders).

    Weights are read straight onto ``device`` and cast to ``dtype`` there; every parameter comes from the files
    (checked), so transformer_lens' own random initialisation is skipped."""
    import torch
    from sae_lens import SkipTranscoder, SkipTranscoderConfig, Transcoder, TranscoderConfig
    from sae_lens.saes.sae import SAEMetadata
    from safetensors.torch import load_file
    from transformer_lens import HookedTransformer, HookedTransformerConfig
    from transformers import PreTrainedTokenizerFast

    import babelgraph as bg

    cfg_kwargs = json.loads((model_dir / "model_config.json").read_text())
    cfg_kwargs["dtype"] = getattr(torch, dtype)
    cfg = HookedTransformerConfig(**{**cfg_kwargs, "device": device, "init_weights": False})
    tokenizer = None
    if (model_dir / "tokenizer").is_dir():
        tokenizer = PreTrainedTokenizerFast.from_pretrained(str(model_dir / "tokenizer"))
    model = HookedTransformer(cfg, tokenizer=tokenizer, move_to_device=False)
    model.to(device, print_details=False)
    state = load_file(str(model_dir / "model.safetensors"), device=device)
    missing, _ = model.load_state_dict(state, strict=False)
    lacking = [name for name, _ in model.named_parameters() if name in missing]
    if lacking:
        raise ValueError(f"{model_dir / 'model.safetensors'} lacks parameters {lacking[:5]}")
    del state
    transcoders = []
    for layer in range(cfg.n_layers):
        weights = load_file(str(model_dir / "transcoders" / f"layer_{layer}.safetensors"), device=device)
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
                dtype=dtype,
                metadata=SAEMetadata(
                    hook_name=f"blocks.{layer}.ln2.hook_normalized", hook_name_out=f"blocks.{layer}.hook_mlp_out"
                ),
            )
        )
        tc.load_state_dict(weights)
        transcoders.append(tc.to(device))
    return bg.load_model(model, transcoders)


def worker(args: argparse.Namespace) -> None:
    """Sizes (``--index``, one or more) in this process: warm up, time one graph each, one JSON line per graph.

    ``--worker-batch-sizes`` runs every size at each batch size in turn (the model is loaded once); with
    ``--keep-going`` a graph that fails (e.g. out of memory) gives a line with ``error`` and the rest still run."""
    import gc

    import torch

    import babelgraph as bg

    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = args.device.startswith("cuda")
    started = time.perf_counter()
    model = load_bench_model(Path(args.model_dir), args.device, args.dtype)
    load_seconds = time.perf_counter() - started
    prompts = json.loads(Path(args.prompts).read_text())
    batch_sizes = [None if b == "default" else int(b) for b in args.worker_batch_sizes or []] or [args.batch_size]
    for batch_size in batch_sizes:
        started = time.perf_counter()
        bg.attribute(model, prompts[args.index[0]][:8], batch_size=batch_size, progress=False)  # warm-up
        warmup_seconds = time.perf_counter() - started
        for index in args.index:
            prompt = prompts[index]
            gpu = {}
            if cuda:
                gc.collect()
                torch.cuda.synchronize()
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
                gpu["gpu_allocated_before_mb"] = torch.cuda.memory_allocated() / 2**20  # the weights, mostly
            started, cpu_started = time.perf_counter(), time.process_time()
            try:
                graph = bg.attribute(
                    model, prompt, batch_size=batch_size, max_feature_nodes=args.max_feature_nodes, progress=False
                )
                if cuda:
                    torch.cuda.synchronize()
            except Exception as e:  # out of memory, ...
                if not args.keep_going:
                    raise
                graph, error = None, f"{type(e).__name__}: {str(e)[:300]}"
            seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
            if cuda:
                gpu["peak_gpu_reserved_mb"] = torch.cuda.max_memory_reserved() / 2**20
            settings = {"batch_size": batch_size, "max_feature_nodes": args.max_feature_nodes, "dtype": args.dtype}
            if graph is None:
                peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
                print(json.dumps({"tokens": len(prompt), "error": error, "peak_gpu_mb": peak, **gpu, **settings}))
                sys.stdout.flush()
                continue
            counts = graph.node_counts()
            result = {
                "tokens": len(prompt),
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,  # on a loaded machine with one thread: the better estimate of a quiet core
                "timing": graph.metadata["timing"],
                "features": counts["feature"],
                "l0": counts["feature"] / max(1, (len(prompt) - 1) * model.n_layers),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                # allocator peak of the attribute call, model weights included (gpu_allocated_before_mb)
                "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
            }
            if cuda:
                result.update(gpu, device_name=torch.cuda.get_device_name())
            if args.worker_batch_sizes or len(args.index) > 1:
                result.update(settings, load_seconds=load_seconds, warmup_seconds=warmup_seconds)
                result["batch_size"] = graph.metadata["settings"]["batch_size"]  # the one used (default resolved)
                result["n_active_features"] = graph.metadata["n_active_features"]
            if args.save_graph:
                graph.save(args.save_graph)
            del graph  # frees its tensors before the next graph's peak is measured
            print(json.dumps(result))
            sys.stdout.flush()


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


def run_babelgraph(args, model_dir: Path, prompt_file: Path, index: int, cap, src_path, graph_file) -> dict:
    """One babelgraph graph in a fresh process (``src_path``: another checkout's ``src`` to import from)."""
    command = [sys.executable, __file__, "--worker", "--model-dir", str(model_dir), "--prompts", str(prompt_file)]
    command += ["--index", str(index), "--device", args.device, "--dtype", args.dtype]
    command += ["--threads", str(args.threads)] if args.threads else []
    command += ["--batch-size", str(args.batch_size)] if args.batch_size else []
    command += ["--max-feature-nodes", str(cap)] if cap else []
    command += ["--save-graph", str(graph_file)] if graph_file else []
    env = dict(os.environ)
    if src_path:
        env["PYTHONPATH"] = str(Path(src_path).resolve())
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    result = json.loads(output.strip().splitlines()[-1])
    result["load_avg_1min"] = os.getloadavg()[0]
    return result


def run_circuit_tracer(args, model_dir: Path, work: Path, prompt: list[int], batch: int, out: Path) -> dict:
    """One circuit-tracer graph in a fresh process (its own warm-up first)."""
    prompt_file = work / f"ct_prompt_{len(prompt)}.json"
    prompt_file.write_text(json.dumps([prompt]))
    command = [args.circuit_tracer, str(RUN_CT), "--model-dir", str(model_dir), "--prompt-tokens", str(prompt_file)]
    command += ["--out", str(out), "--batch-size", str(batch)]
    command += ["--threads", str(args.threads)] if args.threads else []
    command += ["--max-feature-nodes", str(args.ct_max_feature_nodes)] if args.ct_max_feature_nodes else []
    command += ["--device", args.device] + (["--dtype", args.dtype] if args.dtype != "float32" else [])
    subprocess.run(command, check=True, capture_output=True, text=True)
    result = json.loads(Path(str(out).replace(".safetensors", ".json")).read_text())["prompts"][0]
    result["load_avg_1min"] = os.getloadavg()[0]
    return result


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", default=None, help="random model folder (made if missing)")
    parser.add_argument("--gemma-scale", action="store_true", help="26 layers, d_model 2304, 16k transcoders")
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--dtype",
        default="float32",
        choices=["float32", "bfloat16", "float16"],
        help="model and transcoder dtype in both tools (the files stay float32)",
    )
    parser.add_argument("--batch-size", type=int, default=None, help="babelgraph's (default: its own)")
    parser.add_argument("--seed", type=int, default=123, help="prompt seed")
    parser.add_argument("--circuit-tracer", default=None, help="python of a venv with circuit-tracer 0.5.0")
    parser.add_argument(
        "--ct-batch-size",
        type=int,
        nargs="+",
        default=[8, 16, 32, 64, 128],
        help="circuit-tracer batch sizes to sweep; each size is compared with its fastest",
    )
    parser.add_argument("--ct-max-feature-nodes", type=int, default=None)
    parser.add_argument(
        "--max-feature-nodes",
        nargs="+",
        default=["none"],
        help="babelgraph's exploration limit(s), 'none' for the full graph; several run interleaved",
    )
    parser.add_argument("--baseline-src", default=None, help="another babelgraph checkout's src/, run interleaved")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of interleaved runs; medians reported")
    parser.add_argument("--threads", type=int, default=None, help="torch threads in both tools (default: torch's)")
    parser.add_argument("--json-out", default=None, help="write all results here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--prompts", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--worker-batch-sizes", nargs="+", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--keep-going", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--save-graph", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.max_feature_nodes = None if args.max_feature_nodes[0] == "none" else int(args.max_feature_nodes[0])
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

    caps = [None if c == "none" else int(c) for c in args.max_feature_nodes]
    variants = [("babelgraph", None, cap) for cap in caps]
    variants += [("baseline", args.baseline_src, cap) for cap in caps] if args.baseline_src else []
    runs: dict[tuple, list[dict]] = {}
    for repeat in range(args.repeats):  # interleaved: every tool and setting once per size, per round
        for index, size in enumerate(args.sizes):
            for name, src_path, cap in variants:
                keep = repeat == 0 and name == "babelgraph" and cap is None
                graph_file = work / f"ours_{index}.safetensors" if keep else None
                result = run_babelgraph(args, model_dir, prompt_file, index, cap, src_path, graph_file)
                runs.setdefault((name, cap, size), []).append(result)
                print(
                    f"{name} cap={cap} {size} tokens: {result['seconds']:.2f} s (cpu {result['cpu_seconds']:.2f}), "
                    f"peak RSS {result['peak_rss_mb']:.0f} MB (load {result['load_avg_1min']:.1f}) "
                    f"timing {json.dumps(result['timing'])}",
                    flush=True,
                )
            for batch in args.ct_batch_size if args.circuit_tracer else []:
                out = work / f"ct_{index}_{batch}.safetensors"
                result = run_circuit_tracer(args, model_dir, work, prompts[index], batch, out)
                result["file"] = str(out)
                runs.setdefault(("circuit-tracer", batch, size), []).append(result)
                print(
                    f"circuit-tracer batch {batch} {size} tokens: {result['seconds']:.2f} s, peak RSS "
                    f"{result['peak_rss_mb']:.0f} MB (load {result['load_avg_1min']:.1f})",
                    flush=True,
                )

    summary = []
    for index, size in enumerate(args.sizes):
        row: dict = {"tokens": size}
        for name, _, cap in variants:
            results = runs[(name, cap, size)]
            key = name if cap is None else f"{name}_cap{cap}"
            row[key] = {
                "seconds": median([r["seconds"] for r in results]),
                "cpu_seconds": median([r["cpu_seconds"] for r in results]),
                "peak_rss_mb": median([r["peak_rss_mb"] for r in results]),
                "features": results[0]["features"],
                "timing": results[0]["timing"],
                "all_seconds": [r["seconds"] for r in results],
            }
        if args.circuit_tracer:
            sweep = {b: median([r["seconds"] for r in runs[("circuit-tracer", b, size)]]) for b in args.ct_batch_size}
            cpu_sweep = {
                b: median([r["cpu_seconds"] for r in runs[("circuit-tracer", b, size)]]) for b in args.ct_batch_size
            }
            best = min(sweep, key=sweep.get)
            best_runs = runs[("circuit-tracer", best, size)]
            row["circuit_tracer"] = {
                "seconds_by_batch": sweep,
                "best_batch": best,
                "seconds": sweep[best],
                "cpu_seconds_by_batch": cpu_sweep,
                "cpu_seconds": cpu_sweep[best],
                "peak_rss_mb": median([r["peak_rss_mb"] for r in best_runs]),
                "active_features": best_runs[0]["n_active_features"],
            }
            if "babelgraph" in row:
                row["ratio_to_best"] = row["babelgraph"]["seconds"] / sweep[best]
                row["cpu_ratio_to_best"] = row["babelgraph"]["cpu_seconds"] / min(cpu_sweep.values())
                row["agreement"] = compare_with_circuit_tracer(
                    str(work / f"ours_{index}.safetensors"), best_runs[0]["file"], 0
                )
        row["load_avg_1min"] = [r["load_avg_1min"] for results in runs.values() for r in results][-1]
        summary.append(row)

    machine = {
        "date": time.strftime("%Y-%m-%d"),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": args.threads or torch.get_num_threads(),
        "device": args.device if not args.device.startswith("cuda") else torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "load_avg_1min_per_run": [r["load_avg_1min"] for results in runs.values() for r in results],
    }
    print(f"\n{machine}\n")
    for row in summary:
        parts = [f"{row['tokens']} tokens"]
        for key, value in row.items():
            if isinstance(value, dict) and "seconds" in value and key != "circuit_tracer":
                parts.append(
                    f"{key} {value['seconds']:.2f} s (cpu {value['cpu_seconds']:.2f}) / {value['peak_rss_mb']:.0f} MB"
                )
        if "circuit_tracer" in row:
            ct = row["circuit_tracer"]
            sweep = ", ".join(
                f"{b}: {s:.2f} (cpu {ct['cpu_seconds_by_batch'][b]:.2f})" for b, s in ct["seconds_by_batch"].items()
            )
            parts.append(f"circuit-tracer {{{sweep}}} best {ct['best_batch']} {ct['peak_rss_mb']:.0f} MB")
        if "ratio_to_best" in row:
            parts.append(f"ratio {row['ratio_to_best']:.2f} (cpu {row['cpu_ratio_to_best']:.2f})")
            parts.append(f"max rel. diff {row['agreement']['max_abs_diff_relative']:.1e}")
        print(" | ".join(parts))
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps(
                {
                    "machine": machine,
                    "results": summary,
                    "runs": [{"tool": k[0], "setting": k[1], "tokens": k[2], "runs": v} for k, v in runs.items()],
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
