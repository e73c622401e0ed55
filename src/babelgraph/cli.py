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
    parser.add_argument(
        "--threads", type=_positive, default=None, help="torch CPU threads (1 is fastest on a busy shared CPU)"
    )


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
    build.add_argument(
        "--format", default=None, help="also export the pruned graph beside it: comma-separated html,graphml,gexf,json"
    )

    export = commands.add_parser("export", help="export a saved graph as HTML, GraphML, GEXF or Neuronpedia JSON")
    export.add_argument("graph", help="a graph file written by `babelgraph build` (.safetensors)")
    export.add_argument(
        "--format",
        default="html,graphml,json",
        help="comma-separated html,graphml,gexf,json (default: html,graphml,json)",
    )
    export.add_argument("--out", default=None, help="output folder (default: the graph file's folder)")
    _add_lens_and_intervene(commands)
    _add_overlap(commands)
    from babelgraph.compare_cli import add_compare_parser

    add_compare_parser(commands, _add_model_arguments)
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

    from babelgraph.export import export, parse_formats

    formats = parse_formats(args.format) if args.format else []  # before the slow part: fail fast on a typo
    out = Path(args.out)
    stem = args.name or graph_stem(args.prompt)
    paths = [pruned.save(out / f"{stem}.safetensors")]
    if args.keep_unpruned:
        paths.append(graph.save(out / f"{stem}.unpruned.safetensors"))
    paths += [export(pruned, out / f"{stem}.{fmt}", fmt) for fmt in formats]

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


def _export(args: argparse.Namespace) -> None:
    from babelgraph.export import export, parse_formats
    from babelgraph.graph import AttributionGraph

    formats = parse_formats(args.format)
    source = Path(args.graph)
    graph = AttributionGraph.load(source)
    out = Path(args.out) if args.out else source.parent
    stem = source.name.removesuffix(".safetensors")
    for fmt in formats:
        print(export(graph, out / f"{stem}.{fmt}", fmt))


def _add_lens_and_intervene(commands: argparse._SubParsersAction) -> None:
    """The `lens` and `intervene` subcommands (logit lens, feature interventions)."""
    lens = commands.add_parser("lens", help="logit lens: answer probabilities and entropy after every layer")
    lens.add_argument("prompt", nargs="?", default=None, help="the prompt (or use --task)")
    lens.add_argument("--answer", action="append", default=[], help="LABEL=WORD, e.g. zh=雪 (repeatable)")
    lens.add_argument("--task", choices=["translation", "repetition", "antonym"], default=None, help="word-table mode")
    lens.add_argument("--from", dest="source", default="fr", help="source language: en, fr or zh (default fr)")
    lens.add_argument("--to", dest="target", default="zh", help="target language: en, fr or zh (default zh)")
    lens.add_argument("--seed", type=int, default=0, help="seed for the demonstrations (default 0)")
    lens.add_argument("--n-demos", type=int, default=4, help="demonstrations per prompt (default 4)")
    lens.add_argument("--table-format", choices=["csv", "json"], default="csv", help="table format (default csv)")
    lens.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    _add_model_arguments(lens)

    syntax = "L{layer}:{feature}[,{feature}...][@{pos}[,{pos}...]]={value}"
    intervene = commands.add_parser(
        "intervene",
        help="edit features and compare the next-token distribution",
        description=f"Edits are {syntax}: model layer, features, token positions (negative from the end; default "
        "every non-BOS position), value. E.g. --scale L3:1234@-1=-2 (suppress), --set L1:5,9=0, --add L2:7@3=4.",
    )
    intervene.add_argument("prompt", help="the prompt")
    for op, meaning in (("scale", "multiply by"), ("set", "set to"), ("add", "add")):
        intervene.add_argument(
            f"--{op}", action="append", default=[], metavar="EDIT", help=f"{meaning} VALUE: {syntax} (repeatable)"
        )
    intervene.add_argument("--free-attention", action="store_true", help="run the real model, attention free")
    intervene.add_argument("--top-k", type=_positive, default=10, help="tokens shown (default 10)")
    intervene.add_argument("--sweep", default=None, help="START:STOP:N: replace every edit's value by each strength")
    intervene.add_argument("--answer", action="append", default=[], help="word to track in a sweep (repeatable)")
    intervene.add_argument("--out", default=DEFAULT_OUT, help=f"sweep plot folder (default: {DEFAULT_OUT})")
    _add_model_arguments(intervene)


def _lens(args: argparse.Namespace) -> None:
    import babelgraph as bg
    from babelgraph.lens import lens_task, logit_lens, save_lens_plot, save_lens_table

    answers = {}
    for item in args.answer:
        label, sep, word = item.partition("=")
        if not sep or not label.strip() or not word.strip():
            raise BabelgraphError(f"cannot read --answer {item!r}: write LABEL=WORD, e.g. --answer zh=雪")
        answers[label.strip()] = word.strip()
    if (args.prompt is None) == (args.task is None):
        raise BabelgraphError("give either a prompt (with --answer LABEL=WORD) or --task, not both or neither")
    if args.prompt is not None and not answers:
        raise BabelgraphError("give at least one --answer LABEL=WORD, e.g. --answer zh=雪 --answer en=snow")
    model = bg.load_model(args.model, args.dictionaries, device=args.device, dtype=args.dtype)
    if args.task is not None:
        result = lens_task(model, args.task, args.source, args.target, args.n_demos, args.seed)
        pair = f"{args.source}-{args.target}" if args.task == "translation" else args.target
        stem = f"lens-{args.task}-{pair}"
    else:
        result = logit_lens(model, args.prompt, answers)
        stem = "lens-" + graph_stem(args.prompt)
    out = Path(args.out)
    paths = [save_lens_plot(result, out / f"{stem}.png"), save_lens_table(result, out / f"{stem}.{args.table_format}")]
    if not args.quiet:
        print(f"{result.title} ({result.n_prompts} prompt{'s' if result.n_prompts > 1 else ''})")
        print(result.format_table())
    for path in paths:
        print(path)


def _intervene(args: argparse.Namespace) -> None:
    import babelgraph as bg
    from babelgraph.intervene import intervene, parse_edit, save_sweep_plot, sweep

    edits = [parse_edit(text, op) for op in ("scale", "set", "add") for text in getattr(args, op)]
    if not edits:
        raise BabelgraphError("give at least one edit: --scale, --set or --add L{layer}:{feature}={value}")
    strengths = None
    if args.sweep is not None:
        parts = args.sweep.split(":")
        try:
            start, stop, n = float(parts[0]), float(parts[1]), int(parts[2])
        except (ValueError, IndexError):
            raise BabelgraphError(f"cannot read --sweep {args.sweep!r}: write START:STOP:N, e.g. 0:6:7") from None
        if len(parts) != 3 or n < 1:
            raise BabelgraphError(f"cannot read --sweep {args.sweep!r}: write START:STOP:N with N >= 1")
        if not args.answer:
            raise BabelgraphError("a sweep needs at least one --answer WORD to track")
        strengths = [start + (stop - start) * i / max(n - 1, 1) for i in range(n)]
    model = bg.load_model(args.model, args.dictionaries, device=args.device, dtype=args.dtype)
    options = {"freeze_attention": not args.free_attention}
    if strengths is None:
        result = intervene(model, args.prompt, edits, top_k=args.top_k, **options)
        print(result.format())
        return
    import dataclasses

    def factory(strength: float) -> list:
        return [dataclasses.replace(e, value=strength) for e in edits]

    swept = sweep(model, args.prompt, factory, strengths, args.answer, **options)
    for i, strength in enumerate(swept.strengths):
        probs = "  ".join(f"p({a})={swept.probabilities[a][i]:.4f}" for a in swept.probabilities)
        print(f"{strength:8.3f}  {probs}  top {swept.top_tokens[i]!r}")
    print(save_sweep_plot(swept, Path(args.out) / f"sweep-{graph_stem(args.prompt)}.png"))


def _add_overlap(commands: argparse._SubParsersAction) -> None:
    """The `overlap` subcommand: feature overlap by layer on parallel texts, against a shuffled baseline."""
    overlap = commands.add_parser("overlap", help="feature overlap (IoU) by layer on parallel texts vs a baseline")
    overlap.add_argument("--languages", default="en,fr,zh", help="comma-separated languages (default en,fr,zh)")
    overlap.add_argument(
        "--texts-dir", default=None, help="folder with {lang}.txt, one aligned text per line (default: shipped text)"
    )
    overlap.add_argument("--seed", type=int, default=0, help="seed for the baseline's shuffled pairs (default 0)")
    overlap.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    _add_model_arguments(overlap)


def _overlap(args: argparse.Namespace) -> None:
    import babelgraph as bg
    from babelgraph.overlap import feature_overlap, save_overlap_plot, save_overlap_table
    from babelgraph.reference import reference_texts

    languages = [lang.strip() for lang in args.languages.split(",") if lang.strip()]
    if args.texts_dir is None:
        texts = reference_texts(languages)
    else:
        texts = {}
        for lang in languages:
            file = Path(args.texts_dir) / f"{lang}.txt"
            if not file.is_file():
                raise BabelgraphError(f"no {file}: --texts-dir needs one {{lang}}.txt per language")
            texts[lang] = file.read_text(encoding="utf-8").splitlines()
    model = bg.load_model(args.model, args.dictionaries, device=args.device, dtype=args.dtype)
    result = feature_overlap(model, texts, baseline_seed=args.seed)
    out = Path(args.out)
    stem = "overlap-" + "-".join(languages)
    paths = [save_overlap_plot(result, out / f"{stem}.png")]
    paths += [save_overlap_table(result, out / f"{stem}.{suffix}") for suffix in ("csv", "json")]
    if not args.quiet:
        skipped = sum(result.skipped.values())
        print(f"feature overlap on {model.name}: IoU of active features, parallel vs baseline (mean ± std)")
        print(result.format_table())
        if skipped:
            print(f"skipped {skipped} line(s) that tokenize to nothing: {result.skipped}")
    for path in paths:
        print(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    try:
        if args.command == "build":
            _build(args)
        elif args.command == "export":
            _export(args)
        elif args.command == "lens":
            _lens(args)
        elif args.command == "intervene":
            _intervene(args)
        elif args.command == "overlap":
            _overlap(args)
        elif args.command == "compare":
            from babelgraph.compare_cli import run_compare

            return run_compare(args)
    except BabelgraphError as exc:
        print(f"babelgraph: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("babelgraph: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
