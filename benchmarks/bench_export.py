"""Export time and file size for a graph of about 1,000 nodes and 10,000 edges, and the HTML page's load time.

    python benchmarks/bench_export.py                 # print a Markdown section
    python benchmarks/bench_export.py --append docs/benchmarks.md

The graph is random (hand-built, no model): real pruned graphs are ten times smaller, so this is the
stress case. Load time is measured in headless Chromium (system ``chromium``, via playwright) from navigation
until the network object exists and has drawn once; skipped when Chromium or playwright is missing.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

from babelgraph import AttributionGraph, Node
from babelgraph.formats import FORMATS, export

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def random_graph(n_nodes: int = 1000, n_edges: int = 10_000, n_tokens: int = 12, n_layers: int = 6, seed: int = 0):
    """Features, errors, embeddings and logits in the usual order; edges only from lower to higher rows (a DAG)."""
    generator = torch.Generator().manual_seed(seed)
    n_logits = 10
    n_errors = n_layers * n_tokens
    n_features = n_nodes - n_errors - n_tokens - n_logits
    nodes: list[Node] = []
    for i in range(n_features):
        layer, pos = i % n_layers, int(torch.randint(1, n_tokens, (1,), generator=generator))
        nodes.append(Node(f"f{i}", "feature", layer, pos, 1.0 + i % 7, f"tok{pos}", feature=i, influence=1 / (i + 1)))
    for layer in range(n_layers):
        for pos in range(n_tokens):
            nodes.append(Node(f"r{layer}_{pos}", "error", layer, pos, 0.5, f"tok{pos}", influence=0.01))
    for pos in range(n_tokens):
        nodes.append(Node(f"e{pos}", "embedding", -1, pos, 1.0, f"tok{pos}", token_id=pos, influence=0.1))
    for k in range(n_logits):
        nodes.append(Node(f"l{k}", "logit", n_layers, n_tokens - 1, 5.0, f"out{k}", token_id=100 + k, probability=0.09))
    rows = torch.tensor([node.layer for node in nodes])
    adjacency = torch.zeros(len(nodes), len(nodes))
    added = 0
    while added < n_edges:
        s, t = torch.randint(0, len(nodes), (2, 4 * n_edges), generator=generator)
        ok = (rows[s] < rows[t]) & (adjacency[t, s] == 0)
        s, t = s[ok][: n_edges - added], t[ok][: n_edges - added]
        pairs = torch.unique(t * len(nodes) + s)
        t, s = pairs // len(nodes), pairs % len(nodes)
        adjacency[t, s] = torch.randn(len(s), generator=generator)
        added = int((adjacency != 0).sum())
    tokens = list(range(n_tokens))
    metadata = {"model": {"model": "random", "n_layers": n_layers}}
    return AttributionGraph("random benchmark graph", tokens, [f"tok{i}" for i in tokens], nodes, adjacency, metadata)


def time_exports(graph: AttributionGraph, folder: Path, repeats: int) -> dict[str, tuple[float, int]]:
    results = {}
    for fmt in FORMATS:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            path = export(graph, folder / f"bench.{fmt}")
            times.append(time.perf_counter() - start)
        results[fmt] = (statistics.median(times), path.stat().st_size)
    return results


def page_load_seconds(path: Path, repeats: int) -> float | None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            start = time.perf_counter()
            page.goto(path.resolve().as_uri())
            page.wait_for_function("window.bgNetwork !== undefined", timeout=120_000)
            page.evaluate("new Promise(done => { network.once('afterDrawing', done); network.redraw(); })")
            times.append(time.perf_counter() - start)
            page.close()
        browser.close()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--edges", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--append", type=Path, default=None, help="append the Markdown section to this file")
    args = parser.parse_args()

    graph = random_graph(args.nodes, args.edges)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results = time_exports(graph, folder, args.repeats)
        load = page_load_seconds(folder / "bench.html", args.repeats)

    cpu = platform.processor() or platform.machine()
    lines = [
        "",
        "## Export",
        "",
        f"`python benchmarks/bench_export.py` on {datetime.date.today().isoformat()}: a random graph of"
        f" {len(graph.nodes)} nodes and {graph.n_edges} edges, median of {args.repeats} runs, on {cpu}"
        f" ({os.cpu_count()} CPUs, shared), Python {platform.python_version()}, torch {torch.__version__}.",
        "",
        "| format | export time (s) | file size (MB) |",
        "|---|---:|---:|",
    ]
    lines += [f"| {fmt} | {seconds:.2f} | {size / 1e6:.2f} |" for fmt, (seconds, size) in results.items()]
    lines.append("")
    if load is None:
        lines.append("HTML load time: not measured (no Chromium or playwright here).")
    else:
        lines.append(
            f"HTML load time in headless Chromium (file:// to the first drawn frame, software rendering): {load:.2f} s."
        )
    lines.append(
        "The HTML page carries vis-network (about 0.7 MB) in line, so small graphs cost that much; the rest grows"
        " with the edges (each carries colour, width and a tooltip)."
    )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.append:
        with args.append.open("a", encoding="utf-8") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
