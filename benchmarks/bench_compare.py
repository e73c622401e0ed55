"""Seconds for one three-language comparison (`small`) on the demo model, after loading and a warm-up."""

from __future__ import annotations

import argparse
import platform
import time

import torch

import babelgraph as bg
from babelgraph.formats.comparison import comparison_page, overlap_png
from babelgraph.languages.batch import concept_job
from babelgraph.languages.compare import compare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    model = bg.load_model("demo", device="cpu")
    print(
        f"load {time.perf_counter() - started:.2f}s; {platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s)"
    )
    prompts = concept_job("small").prompts
    compare(model, prompts, statistics=False, progress=False)  # warm-up
    for statistics in (False, True):
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            comparison = compare(model, prompts, statistics=statistics, progress=False)
            times.append(time.perf_counter() - t)
        print(f"compare (statistics={statistics}): " + ", ".join(f"{x:.2f}s" for x in times))
    t = time.perf_counter()
    png, _ = overlap_png(model)
    overlap = time.perf_counter() - t
    t = time.perf_counter()
    comparison_page(comparison, png)
    print(f"overlap plot {overlap:.2f}s, page {time.perf_counter() - t:.2f}s")


if __name__ == "__main__":
    main()
