"""``babelgraph intervene``: edit features and compare the next-token distribution (optionally a sweep)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from babelgraph.cli.options import (
    add_model_arguments,
    add_out_argument,
    check_outputs,
    graph_stem,
    load_model_from,
    positive,
)
from babelgraph.errors import BabelgraphError, check_finite, one_line


def add_parser(commands: argparse._SubParsersAction) -> None:
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
    intervene.add_argument("--top-k", type=positive, default=10, help="tokens shown (default 10)")
    intervene.add_argument("--sweep", default=None, help="START:STOP:N: replace every edit's value by each strength")
    intervene.add_argument("--answer", action="append", default=[], help="word to track in a sweep (repeatable)")
    add_out_argument(intervene, what="sweep plot")
    add_model_arguments(intervene)


MAX_SWEEP_STEPS = 1000


def parse_sweep(text: str) -> list[float]:
    """``START:STOP:N`` -> N evenly spaced finite strengths (1 <= N <= :data:`MAX_SWEEP_STEPS`)."""
    parts = text.split(":")
    try:
        if len(parts) != 3:
            raise ValueError
        start, stop, n = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        raise BabelgraphError(f"cannot read --sweep {text!r}: write START:STOP:N, e.g. 0:6:7") from None
    check_finite(start, f"--sweep START ({parts[0]})")
    check_finite(stop, f"--sweep STOP ({parts[1]})")
    if not 1 <= n <= MAX_SWEEP_STEPS:
        raise BabelgraphError(f"--sweep {text!r}: N must lie between 1 and {MAX_SWEEP_STEPS}, got {n}")
    return [start + (stop - start) * i / max(n - 1, 1) for i in range(n)]


def warn(messages: list[str]) -> None:
    """Warnings as one line on stderr."""
    if messages:
        print("babelgraph: warning: " + one_line("; ".join(messages)), file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from babelgraph.analysis.intervene import intervene, parse_edit, save_sweep_plot, sweep
    from babelgraph.files import output_group

    edits = [parse_edit(text, op) for op in ("scale", "set", "add") for text in getattr(args, op)]
    if not edits:
        raise BabelgraphError("give at least one edit: --scale, --set or --add L{layer}:{feature}={value}")
    strengths = None
    if args.sweep is not None:
        strengths = parse_sweep(args.sweep)
        if not args.answer:
            raise BabelgraphError("a sweep needs at least one --answer WORD to track")
        plot = Path(args.out) / f"sweep-{graph_stem(args.prompt)}.png"
        check_outputs(args, [plot])
    model = load_model_from(args)
    options = {"freeze_attention": not args.free_attention}
    if strengths is None:
        result = intervene(model, args.prompt, edits, top_k=args.top_k, **options)
        warn(result.warnings)
        print(result.format())
        return 0
    import dataclasses

    def factory(strength: float) -> list:
        return [dataclasses.replace(e, value=strength) for e in edits]

    swept = sweep(model, args.prompt, factory, strengths, args.answer, **options)
    warn(swept.warnings)
    for i, strength in enumerate(swept.strengths):
        probs = "  ".join(f"p({a})={swept.probabilities[a][i]:.4f}" for a in swept.probabilities)
        print(f"{strength:8.3f}  {probs}  top {swept.top_tokens[i]!r}")
    with output_group():
        print(save_sweep_plot(swept, plot))
    return 0
