"""The ``babelgraph`` command: a thin layer over the Python API.

Every user mistake surfaces as one line on stderr (``babelgraph: error: ...``) and exit status 2.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from babelgraph.errors import BabelgraphError

DEFAULT_OUT = "babelgraph-out"


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie in (0, 1], got {text}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default="demo", help="'demo' (bundled, default), 'demo-residual', or a transformer_lens model name"
    )
    parser.add_argument(
        "--dictionaries",
        nargs="+",
        default=None,
        help="sae_lens release id ('release' or 'release:id1,id2') or local sae_lens folders (default: the demo's)",
    )
    parser.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (default: the model's)")
    parser.add_argument("--dtype", default=None, help="float32 (default), float64, bfloat16 or float16")
    parser.add_argument("--quiet", action="store_true", help="no progress bars and no summary; print output paths")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="babelgraph", description="Attribution graphs over sparse-dictionary features, across languages."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="build, prune and save the attribution graph of one prompt")
    build.add_argument("prompt", help='the prompt, e.g. \'The opposite of "small" is "\'')
    _add_model_arguments(build)
    build.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    build.add_argument("--name", default=None, help="file name stem (default: derived from the prompt)")
    build.add_argument("--node-threshold", type=_probability, default=0.8, help="share of node influence kept")
    build.add_argument("--edge-threshold", type=_probability, default=0.98, help="share of edge influence kept")
    build.add_argument("--max-feature-nodes", type=_positive, default=None, help="explore at most N features")
    build.add_argument("--max-n-logits", type=_positive, default=10, help="at most N logit targets (default 10)")
    build.add_argument("--desired-logit-prob", type=_probability, default=0.95, help="logit probability to cover")
    build.add_argument("--target", action="append", default=None, help="a logit target token (repeatable)")
    build.add_argument(
        "--batch-size", type=_positive, default=None, help="rows per backward pass (default: 64 on CPU, 512 on GPU)"
    )
    build.add_argument("--keep-unpruned", action="store_true", help="also save the unpruned graph")
    return parser


def graph_stem(prompt: str) -> str:
    """A readable, filesystem-safe file stem for a prompt (non-ASCII kept, so Chinese prompts stay readable)."""
    words = re.sub(r"[^\w]+", "-", prompt, flags=re.UNICODE).strip("-_").lower()[:40] or "prompt"
    digest = hashlib.sha1(prompt.encode("utf-8")).hexdigest()[:6]
    return f"{words}-{digest}"


def _build(args: argparse.Namespace) -> None:
    import babelgraph as bg

    say = (lambda *a, **k: None) if args.quiet else print
    started = time.perf_counter()
    model = bg.load_model(args.model, args.dictionaries, device=args.device, dtype=args.dtype)
    loaded = time.perf_counter()
    graph = bg.attribute(
        model,
        args.prompt,
        targets=args.target,
        max_n_logits=args.max_n_logits,
        desired_logit_prob=args.desired_logit_prob,
        batch_size=args.batch_size,
        max_feature_nodes=args.max_feature_nodes,
        progress=not args.quiet,
    )
    attributed = time.perf_counter()
    pruned = bg.prune(graph, node_threshold=args.node_threshold, edge_threshold=args.edge_threshold)
    done = time.perf_counter()

    out = Path(args.out)
    stem = args.name or graph_stem(args.prompt)
    paths = [pruned.save(out / f"{stem}.safetensors")]
    if args.keep_unpruned:
        paths.append(graph.save(out / f"{stem}.unpruned.safetensors"))

    n_dicts = len(model.dictionaries)
    say(f"prompt: {args.prompt!r} ({len(graph.tokens)} tokens) on {model.name} with {n_dicts} dictionaries")
    say("top logits: " + ", ".join(f"{n.token!r} {n.probability:.3f}" for n in graph.logit_nodes))
    before, after = graph.node_counts(), pruned.node_counts()
    for label, counts, g in (("unpruned", before, graph), ("pruned", after, pruned)):
        say(
            f"{label:>9}: {counts['feature']} features, {counts['error']} errors, {counts['embedding']} embeddings,"
            f" {counts['logit']} logits, {g.n_edges} edges"
        )
    scores = pruned.metadata["scores"]
    say(
        f"   scores: replacement {scores['unpruned']['replacement']:.3f} -> {scores['pruned']['replacement']:.3f},"
        f" completeness {scores['unpruned']['completeness']:.3f} -> {scores['pruned']['completeness']:.3f}"
        " (unpruned -> pruned)"
    )
    say(
        f"     time: load {loaded - started:.1f}s, attribute {attributed - loaded:.2f}s, prune {done - attributed:.2f}s"
    )
    for path in paths:
        print(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            _build(args)
    except BabelgraphError as exc:
        print(f"babelgraph: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("babelgraph: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
