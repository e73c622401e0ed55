"""Export time, peak memory and file size per format, and the HTML page's time to interactive and slider step.

    python benchmarks/bench_export.py                          # 10,000 nodes / 100,000 edges + the demo graph
    python benchmarks/bench_export.py --nodes 1000 --edges 10000

Each format is exported in a fresh process (peak resident memory of that process, ``ru_maxrss``), from a random
hand-built graph (no model). The page is timed on the unpruned demo graph (``bg.attribute`` on
'The opposite of "small" is "', about 900 nodes and 135k edges) in headless Chromium (system ``chromium``, via
playwright): from navigation until the page's script has built the view and drawn once (``bgView`` exists and
a frame is drawn), and the median time of a pruning-slider step (input event until the next frame is drawn).
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


def _child(fmt: str, nodes: int, edges: int, folder: str) -> None:
    """Run in a fresh process: build the graph, export one format, print seconds, bytes and peak MB."""
    import resource

    graph = AttributionGraph.load(Path(folder) / "bench.safetensors")  # as a user would: from a file
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    path = export(graph, Path(folder) / f"bench.{fmt}")
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{seconds} {path.stat().st_size} {peak} {base}")


def isolated_exports(nodes: int, edges: int, folder: Path) -> dict[str, tuple[float, int, float, float]]:
    import subprocess
    import sys

    random_graph(nodes, edges).save(folder / "bench.safetensors")
    results = {}
    for fmt in FORMATS:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                fmt,
                "--nodes",
                str(nodes),
                "--edges",
                str(edges),
                "--folder",
                str(folder),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        results[fmt] = (float(out[0]), int(out[1]), float(out[2]), float(out[3]))
    return results


def page_timings(path: Path, repeats: int) -> tuple[float, float] | None:
    """(median seconds to interactive, median seconds per slider step) in headless Chromium."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    loads, steps = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            start = time.perf_counter()
            page.goto(path.resolve().as_uri())
            page.wait_for_function("window.bgView !== undefined", timeout=120_000)
            page.evaluate("new Promise(done => { network.once('afterDrawing', done); network.redraw(); })")
            loads.append(time.perf_counter() - start)
            for value in ("40", "60", "80", "30"):
                steps.append(
                    page.evaluate(
                        "v => new Promise(done => { const s = document.getElementById('bg-prune');"
                        " const t = performance.now(); s.value = v; s.dispatchEvent(new Event('input'));"
                        " network.once('afterDrawing', () => done((performance.now() - t) / 1000));"
                        " network.redraw(); })",
                        value,
                    )
                )
            page.close()
        browser.close()
    return statistics.median(loads), statistics.median(steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--edges", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--folder", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.nodes, args.edges, args.folder)
        return

    import babelgraph as bg

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results = isolated_exports(args.nodes, args.edges, folder)
        model = bg.load_model("demo")
        demo = bg.attribute(model, 'The opposite of "small" is "', progress=False)
        start = time.perf_counter()
        page = export(demo, folder / "demo.html")
        demo_export = time.perf_counter() - start
        size = page.stat().st_size
        timings = page_timings(page, args.repeats)

    cpu = platform.processor() or platform.machine()
    lines = [
        "",
        f"`python benchmarks/bench_export.py` on {datetime.date.today().isoformat()}, {cpu} ({os.cpu_count()} CPUs,"
        f" shared), Python {platform.python_version()}, torch {torch.__version__}.",
        "",
        f"Random graph of {args.nodes} nodes and {args.edges} edges, each format in a fresh process:",
        "",
        "| format | export time (s) | peak memory of the process (MB) | of which loading the graph (MB) | file (MB) |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {fmt} | {seconds:.2f} | {peak:.0f} | {base:.0f} | {size / 1e6:.1f} |"
        for fmt, (seconds, size, peak, base) in results.items()
    ]
    lines.append("")
    lines.append(
        f"Unpruned demo graph ({len(demo.nodes)} nodes, {demo.n_edges} edges): HTML export {demo_export:.2f} s,"
        f" page {size / 1e6:.1f} MB."
    )
    if timings is None:
        lines.append("Page timings: not measured (no Chromium or playwright here).")
    else:
        lines.append(
            f"Headless Chromium (software rendering), median of {args.repeats} loads: interactive in"
            f" {timings[0]:.2f} s; pruning-slider step {timings[1]:.3f} s (median of {4 * args.repeats} steps)."
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
