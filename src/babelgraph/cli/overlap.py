"""``babelgraph overlap``: feature overlap (IoU) by layer on parallel texts, against an unrelated baseline."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from babelgraph.cli.options import add_model_arguments, add_out_argument, check_outputs, load_model_from
from babelgraph.errors import BabelgraphError
from babelgraph.languages.overlap import BASELINES, MEASURES


def add_parser(commands: argparse._SubParsersAction) -> None:
    overlap = commands.add_parser("overlap", help="feature overlap (IoU) by layer on parallel texts vs a baseline")
    overlap.add_argument("--languages", default="en,fr,zh", help="comma-separated languages (default en,fr,zh)")
    overlap.add_argument(
        "--texts-dir", default=None, help="folder with {lang}.txt, one aligned text per line (default: shipped text)"
    )
    overlap.add_argument(
        "--baseline",
        choices=list(BASELINES),
        default="length",
        help="length: each line against the unrelated line nearest its translation in length (default; the IoU "
        "favours sets of like size); shuffled: against a seeded random unrelated line",
    )
    overlap.add_argument("--seed", type=int, default=0, help="seed for the baseline's ties or shuffle (default 0)")
    overlap.add_argument(
        "--measure",
        choices=list(MEASURES),
        default="iou",
        help="iou: plain IoU of active features (default); idf: each feature weighted by log(N/df) over the "
        "pair's texts, so features that fire in every text count nothing (for long texts, where IoU saturates)",
    )
    add_out_argument(overlap)
    add_model_arguments(overlap)


_LANGUAGE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")


def read_lines(file: Path) -> list[str]:
    """The lines of a UTF-8 text file; anything else is one BabelgraphError."""
    try:
        return file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise BabelgraphError(
            f"{file} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}): save it as UTF-8"
        ) from None
    except OSError as exc:
        raise BabelgraphError(f"cannot read {file} ({exc.strerror or exc})") from None


def run(args: argparse.Namespace) -> int:
    from babelgraph.files import output_group
    from babelgraph.languages.overlap import (
        feature_overlap,
        save_overlap_plot,
        save_overlap_table,
        save_shared_features,
    )
    from babelgraph.languages.reference import reference_texts

    languages = list(dict.fromkeys(lang.strip() for lang in args.languages.split(",") if lang.strip()))
    for lang in languages:
        if not _LANGUAGE.fullmatch(lang):
            raise BabelgraphError(f"--languages: {lang!r} is not a language code (letters, e.g. en,fr,zh)")
    if len(languages) < 2:
        raise BabelgraphError("--languages: feature overlap compares languages, give at least two, e.g. en,fr")
    if args.texts_dir is None:
        texts = reference_texts(languages)
    else:
        texts = {}
        for lang in languages:
            file = Path(args.texts_dir) / f"{lang}.txt"
            if not file.is_file():
                raise BabelgraphError(f"no {file}: --texts-dir needs one {{lang}}.txt per language")
            texts[lang] = read_lines(file)
    out = Path(args.out)
    # the defaults keep the plain name; other settings say so, so runs side by side in one folder do not collide
    settings = [value for value, default in ((args.measure, "iou"), (args.baseline, "length")) if value != default]
    stem = "-".join(["overlap", *languages, *settings])
    planned = [out / f"{stem}.{suffix}" for suffix in ("png", "csv", "json")] + [out / f"{stem}-features.csv"]
    check_outputs(args, planned)
    model = load_model_from(args)
    result = feature_overlap(model, texts, baseline_seed=args.seed, measure=args.measure, baseline=args.baseline)
    with output_group():  # plot and tables together, or none
        paths = [save_overlap_plot(result, planned[0])]
        paths += [save_overlap_table(result, path) for path in planned[1:3]]
        paths.append(save_shared_features(result, planned[3]))
    if not args.quiet:
        skipped = sum(result.skipped.values())
        print(f"feature overlap on {model.name}: {MEASURES[result.measure]}, parallel vs baseline (mean ± std)")
        print(f"baseline: {BASELINES[result.baseline]}")
        print(result.format_table())
        if skipped:
            print(f"skipped {skipped} line(s) that tokenize to nothing: {result.skipped}")
    for path in paths:
        print(path)
    return 0
