"""``babelgraph build``: attribute, prune and save the graph of one prompt (and export it)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from babelgraph.cli.options import (
    add_model_arguments,
    add_out_argument,
    add_pruning_arguments,
    check_outputs,
    file_stem,
    graph_stem,
    load_model_from,
    positive,
    probability,
    say_unless_quiet,
)
from babelgraph.errors import BabelgraphError


def add_parser(commands: argparse._SubParsersAction) -> None:
    build = commands.add_parser("build", help="build, prune and save the attribution graph of one prompt")
    build.add_argument("prompt", help='the prompt, e.g. \'The opposite of "small" is "\'')
    add_model_arguments(build)
    add_out_argument(build)
    build.add_argument("--name", default=None, help="file name stem (default: derived from the prompt)")
    add_pruning_arguments(build)
    build.add_argument("--max-n-logits", type=positive, default=10, help="at most N logit targets (default 10)")
    build.add_argument("--desired-logit-prob", type=probability, default=0.95, help="logit probability to cover")
    build.add_argument("--target", action="append", default=None, help="a logit target token (repeatable)")
    build.add_argument(
        "--batch-size", type=positive, default=None, help="rows per backward pass (default: 64 on CPU, 512 on GPU)"
    )
    build.add_argument("--keep-unpruned", action="store_true", help="also save the unpruned graph")
    build.add_argument("--no-labels", action="store_true", help="skip automatic feature labels from the reference text")
    build.add_argument(
        "--format", default=None, help="also export the pruned graph beside it: comma-separated html,graphml,gexf,json"
    )


def run(args: argparse.Namespace) -> int:
    import babelgraph as bg
    from babelgraph.files import output_group
    from babelgraph.formats import export, parse_formats

    say = say_unless_quiet(args)
    # every check before the slow part: a typo or an unusable --out fails at once, not after the attribution
    formats = parse_formats(args.format) if args.format else []
    if not args.prompt.strip():  # before any heavy import: the commonest mistake answers at once
        raise BabelgraphError("the prompt is empty: give some text to attribute")
    # a graph file is named after its prompt (and its model unless it is the demo): two models never share one
    named = args.prompt if args.model == "demo" else f"{args.model} {args.prompt}"
    stem = file_stem(args.name) if args.name is not None else graph_stem(named)
    out = Path(args.out)
    planned = [out / f"{stem}.safetensors"]
    if args.keep_unpruned:
        planned.append(out / f"{stem}.unpruned.safetensors")
    planned += [out / f"{stem}.{fmt}" for fmt in formats]
    check_outputs(args, planned)
    started = time.perf_counter()
    model = load_model_from(args)
    if "json" in formats:  # Neuronpedia ids must be unique: known from the model alone, so checked now
        from babelgraph.formats.neuronpedia import check_model_ids

        check_model_ids(model.describe())
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
    pruned = bg.prune(
        graph, node_threshold=args.node_threshold, edge_threshold=args.edge_threshold, rule=args.prune_rule
    )
    pruned_at = time.perf_counter()
    if not args.no_labels and model.tokenizer is not None:
        from babelgraph.languages.labels import label_features

        label_features(pruned, model)  # from the reference text (cached per model after the first time)
    done = time.perf_counter()

    with output_group():  # the graph and its exports appear together, or none of them
        paths = [pruned.save(planned[0])]
        if args.keep_unpruned:
            paths.append(graph.save(planned[1]))
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
    labels = f"labels {done - pruned_at:.2f}s"
    if done - pruned_at > 5:  # the first run on a model computes its reference-text statistics
        labels += " (reference statistics, cached after the first run)"
    say(
        f"     time: load {loaded - started:.1f}s, attribute {attributed - loaded:.2f}s,"
        f" prune {pruned_at - attributed:.2f}s, {labels}"
    )
    for path in paths:
        print(path)
    return 0
