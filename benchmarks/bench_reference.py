"""Seconds for reference-text feature statistics (cold and cached) and feature overlap on the shipped text.

    python benchmarks/bench_reference.py                 # print a Markdown section
    python benchmarks/bench_reference.py --append docs/benchmarks.md

Statistics are asked for every feature of every dictionary; "cold" uses a fresh, empty cache folder each run.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

import babelgraph as bg
from babelgraph.languages.overlap import feature_overlap
from babelgraph.languages.reference import feature_statistics, reference_texts


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="demo")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: stable on a shared CPU)")
    parser.add_argument("--append", default=None, help="append the section to this Markdown file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = bg.load_model(args.model)
    features = [(k, i) for k, d in enumerate(model.dictionaries) for i in range(d.width)]
    texts = reference_texts()
    n_lines = len(texts["en"])

    def cold() -> None:
        with tempfile.TemporaryDirectory() as folder:
            os.environ["BABELGRAPH_CACHE"] = folder
            feature_statistics(model, features)

    cold_s = _median_seconds(cold, args.repeats)
    with tempfile.TemporaryDirectory() as folder:
        os.environ["BABELGRAPH_CACHE"] = folder
        feature_statistics(model, features)
        cached_s = _median_seconds(lambda: feature_statistics(model, features), args.repeats)
    overlap_s = _median_seconds(lambda: feature_overlap(model, texts), args.repeats)
    result = feature_overlap(model, texts)

    machine = f"{platform.machine()} ({os.cpu_count()} CPUs, shared), Python {platform.python_version()}"
    lines = [
        "",
        "## Reference statistics and feature overlap",
        "",
        f"`python benchmarks/bench_reference.py --threads {args.threads}` on {datetime.date.today()}: "
        f"model `{args.model}`, the shipped reference text ({n_lines} aligned lines in each of en/fr/zh), "
        f"{len(features)} features, median of "
        f"{args.repeats} runs, on {machine}, torch {torch.__version__} ({torch.get_num_threads()} threads).",
        "",
        "| step | seconds |",
        "|---|---:|",
        f"| `feature_statistics`, every feature, cold (forward passes, write the cache) | {cold_s:.2f} |",
        f"| `feature_statistics`, every feature, cached (read the cache) | {cached_s:.2f} |",
        f"| `feature_overlap`, 3 language pairs | {overlap_s:.2f} |",
        "",
        "IoU of active features per layer (parallel vs baseline, mean ± std over line pairs):",
        "",
        "```",
        result.format_table(),
        "```",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.append:
        with Path(args.append).open("a", encoding="utf-8") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
