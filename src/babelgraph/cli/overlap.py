"""``babelgraph overlap``: feature overlap (IoU) by layer on parallel texts, against a shuffled baseline."""

from __future__ import annotations

import argparse
from pathlib import Path

from babelgraph.cli.options import add_model_arguments, add_out_argument, load_model_from
from babelgraph.errors import BabelgraphError


def add_parser(commands: argparse._SubParsersAction) -> None:
    overlap = commands.add_parser("overlap", help="feature overlap (IoU) by layer on parallel texts vs a baseline")
    overlap.add_argument("--languages", default="en,fr,zh", help="comma-separated languages (default en,fr,zh)")
    overlap.add_argument(
        "--texts-dir", default=None, help="folder with {lang}.txt, one aligned text per line (default: shipped text)"
    )
    overlap.add_argument("--seed", type=int, default=0, help="seed for the baseline's shuffled pairs (default 0)")
    add_out_argument(overlap)
    add_model_arguments(overlap)


def run(args: argparse.Namespace) -> int:
    from babelgraph.languages.overlap import feature_overlap, save_overlap_plot, save_overlap_table
    from babelgraph.languages.reference import reference_texts

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
    model = load_model_from(args)
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
    return 0
