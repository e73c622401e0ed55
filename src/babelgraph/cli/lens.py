"""``babelgraph lens``: the logit lens on one prompt, or averaged over a word-table task."""

from __future__ import annotations

import argparse
from pathlib import Path

from babelgraph.cli.options import (
    add_model_arguments,
    add_out_argument,
    check_outputs,
    graph_stem,
    load_model_from,
    non_negative,
)
from babelgraph.errors import BabelgraphError


def add_parser(commands: argparse._SubParsersAction) -> None:
    lens = commands.add_parser("lens", help="logit lens: answer probabilities and entropy after every layer")
    lens.add_argument("prompt", nargs="?", default=None, help="the prompt (or use --task)")
    lens.add_argument("--answer", action="append", default=[], help="LABEL=WORD, e.g. zh=雪 (repeatable)")
    lens.add_argument("--task", choices=["translation", "repetition", "antonym"], default=None, help="word-table mode")
    lens.add_argument("--from", dest="source", default="fr", help="source language: en, fr or zh (default fr)")
    lens.add_argument("--to", dest="target", default="zh", help="target language: en, fr or zh (default zh)")
    lens.add_argument("--seed", type=int, default=0, help="seed for the demonstrations (default 0)")
    lens.add_argument("--n-demos", type=non_negative, default=4, help="demonstrations per prompt (default 4)")
    lens.add_argument("--table-format", choices=["csv", "json"], default="csv", help="table format (default csv)")
    add_out_argument(lens)
    add_model_arguments(lens)


def run(args: argparse.Namespace) -> int:
    from babelgraph.analysis.lens import lens_task, logit_lens, save_lens_plot, save_lens_table
    from babelgraph.files import output_group
    from babelgraph.languages.tasks import LANGUAGES

    answers = {}
    for item in args.answer:
        label, sep, word = item.partition("=")
        if not sep or not label.strip() or not word.strip():
            raise BabelgraphError(f"cannot read --answer {item!r}: write LABEL=WORD, e.g. --answer zh=雪")
        answers[label.strip()] = word.strip()
    if (args.prompt is None) == (args.task is None):
        raise BabelgraphError("give either a prompt (with --answer LABEL=WORD) or --task, not both or neither")
    if args.task is not None:
        for option, language in (("--from", args.source), ("--to", args.target)):
            if language not in LANGUAGES:
                raise BabelgraphError(f"{option} {language!r}: the word tables have {', '.join(LANGUAGES)}")
    if args.prompt is not None and not answers:
        raise BabelgraphError("give at least one --answer LABEL=WORD, e.g. --answer zh=雪 --answer en=snow")
    if args.task is not None:
        pair = f"{args.source}-{args.target}" if args.task == "translation" else args.target
        stem = f"lens-{args.task}-{pair}"
    else:
        stem = "lens-" + graph_stem(args.prompt)
    out = Path(args.out)
    planned = [out / f"{stem}.png", out / f"{stem}.{args.table_format}"]
    check_outputs(args, planned)
    model = load_model_from(args)
    if args.task is not None:
        result = lens_task(model, args.task, args.source, args.target, args.n_demos, args.seed)
    else:
        result = logit_lens(model, args.prompt, answers)
    with output_group():  # the plot and the table appear together, or neither
        paths = [save_lens_plot(result, planned[0]), save_lens_table(result, planned[1])]
    if not args.quiet:
        print(f"{result.title} ({result.n_prompts} prompt{'s' if result.n_prompts > 1 else ''})")
        print(result.format_table())
    for path in paths:
        print(path)
    return 0
