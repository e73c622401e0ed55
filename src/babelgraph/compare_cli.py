"""The ``babelgraph compare`` subcommand: one concept (prompts or ``--concept``) or a batch file of them.

Kept out of cli.py so the command's batch, resume and summary logic sits beside nothing else; cli.py only
registers the parser and dispatches here.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babelgraph.errors import BabelgraphError
from babelgraph.graph import atomic_path

DONE_FILES = ("comparison.safetensors", "features.json", "page.html")  # page.html is written last


@dataclass
class Job:
    """One comparison to run: its output folder name and its prompts by language."""

    name: str
    prompts: dict[str, str]


# ---- parser ---------------------------------------------------------------------------------------------------
def add_compare_parser(commands: argparse._SubParsersAction, add_model_arguments: Any) -> None:
    from babelgraph.cli import DEFAULT_OUT, _positive, _probability

    parser = commands.add_parser(
        "compare",
        help="compare the graphs of one concept across languages (multilingual vs language-specific features)",
        description="Give prompts (--en/--fr/--zh/--lang xx=TEXT), or --concept WORD (antonym templates), or "
        '--file JSONL with one {"en": ..., "fr": ..., "zh": ...} or {"concept": ...} per line.',
    )
    for lang in ("en", "fr", "zh"):
        parser.add_argument(f"--{lang}", default=None, metavar="TEXT", help=f"the {lang} prompt")
    parser.add_argument("--lang", action="append", default=[], metavar="XX=TEXT", help="a prompt in any language")
    parser.add_argument("--concept", default=None, help="an antonym-table word, e.g. small (prompts from templates)")
    parser.add_argument("--file", default=None, help="JSONL batch file; finished concepts are skipped on a rerun")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    parser.add_argument("--node-threshold", type=_probability, default=0.8, help="share of node influence kept")
    parser.add_argument("--edge-threshold", type=_probability, default=0.98, help="share of edge influence kept")
    parser.add_argument(
        "--active-fraction",
        type=_probability,
        default=0.1,
        help="a one-graph feature is language-specific while its activation on the other prompts stays below this "
        "fraction of its own (default 0.1)",
    )
    parser.add_argument("--active-threshold", type=float, default=None, help="absolute activity threshold instead")
    parser.add_argument("--max-feature-nodes", type=_positive, default=None, help="explore at most N features")
    parser.add_argument("--format", default="html,graphml,gexf,json", help="comparison graph formats (default: all)")
    parser.add_argument("--no-statistics", action="store_true", help="skip reference-text statistics")
    parser.add_argument("--no-overlap", action="store_true", help="skip the feature-overlap plot on the page")
    add_model_arguments(parser)


# ---- inputs ---------------------------------------------------------------------------------------------------
def antonym_concepts() -> dict[str, dict[str, str]]:
    """English first-column word -> {language: word} from the shipped antonym table."""
    from importlib import resources

    text = resources.files("babelgraph").joinpath("data", "antonyms.tsv").read_text(encoding="utf-8")
    lines = [line.split("\t") for line in text.splitlines() if line.strip()]
    rows = [dict(zip(lines[0], row)) for row in lines[1:]]
    return {row["en_a"]: {lang: row[f"{lang}_a"] for lang in ("en", "fr", "zh")} for row in rows}


def concept_job(concept: str) -> Job:
    from babelgraph.compare import TEMPLATES

    concepts = antonym_concepts()
    if concept not in concepts:
        some = ", ".join(list(concepts)[:8])
        raise BabelgraphError(f"unknown concept {concept!r}: choose an antonym-table word such as {some}")
    return Job(_safe(concept), {lang: TEMPLATES[lang].format(word) for lang, word in concepts[concept].items()})


def prompts_job(prompts: dict[str, str], name: str | None = None) -> Job:
    from babelgraph.cli import graph_stem

    return Job(_safe(name) if name else graph_stem(" | ".join(prompts.values())), prompts)


def _safe(name: str) -> str:
    return re.sub(r"[^\w]+", "-", name, flags=re.UNICODE).strip("-_")[:60] or "concept"


def line_job(line: str) -> Job:
    """One batch line -> a job; a bad line is a BabelgraphError saying what is wrong with it."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BabelgraphError(f"not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise BabelgraphError('expected an object such as {"concept": "small"} or {"en": "...", "fr": "..."}')
    if "concept" in data:
        if not isinstance(data["concept"], str):
            raise BabelgraphError("concept must be a string")
        return concept_job(data["concept"])
    name = data.pop("name", None)
    bad = [k for k, v in data.items() if not isinstance(v, str)]
    if bad:
        raise BabelgraphError(f"prompts must be strings (not {', '.join(bad)})")
    return prompts_job(data, name if isinstance(name, str) else None)


def _single_job(args: argparse.Namespace) -> Job:
    prompts = {lang: getattr(args, lang) for lang in ("en", "fr", "zh") if getattr(args, lang) is not None}
    for item in args.lang:
        lang, sep, text = item.partition("=")
        if not sep or not lang.strip():
            raise BabelgraphError(f"cannot read --lang {item!r}: write XX=TEXT, e.g. --lang de='Das Gegenteil'")
        prompts[lang.strip()] = text
    if args.concept is not None:
        if prompts:
            raise BabelgraphError("give either prompts (--en/--fr/--zh/--lang) or --concept, not both")
        return concept_job(args.concept)
    from babelgraph.compare import _validate_prompts

    _validate_prompts(prompts)
    return prompts_job(prompts)


# ---- running --------------------------------------------------------------------------------------------------
def run_compare(args: argparse.Namespace) -> int:
    """Run one comparison or a batch; returns the exit status (batch: 0 if any line worked, else 2)."""
    from babelgraph.export import parse_formats

    formats = parse_formats(args.format)
    single = (
        args.concept is not None or bool(args.lang) or any(getattr(args, k) is not None for k in ("en", "fr", "zh"))
    )
    if args.file is not None and single:
        raise BabelgraphError("give either --file or prompts/--concept, not both")
    if args.file is None and not single:
        raise BabelgraphError("nothing to compare: give --en/--fr/--zh prompts, --concept WORD or --file JSONL")
    if args.file is None:
        jobs: list[tuple[int, Job | BabelgraphError]] = [(0, _single_job(args))]
    else:
        jobs = _read_batch(Path(args.file))

    import babelgraph as bg
    from babelgraph.compare import compare, overlap_png, save_comparison

    model = bg.load_model(args.model, args.dictionaries, device=args.device, dtype=args.dtype)
    out = Path(args.out)
    overlap, overlap_note = (None, "skipped (--no-overlap)") if args.no_overlap else overlap_png(model)
    worked: list[Job] = []
    from tqdm.auto import tqdm

    bar = tqdm(jobs, desc="concepts", unit="concept", disable=args.quiet or args.file is None)
    for number, job in bar:
        where = f"line {number}: " if args.file is not None else ""
        if isinstance(job, BabelgraphError):
            print(f"babelgraph: error: {where}{job}", file=sys.stderr)
            continue
        folder = out / job.name
        if args.file is not None and all((folder / name).is_file() for name in DONE_FILES):
            worked.append(job)
            if not args.quiet:
                bar.write(f"{job.name}: done before, skipped")
            continue
        try:
            comparison = compare(
                model,
                job.prompts,
                node_threshold=args.node_threshold,
                edge_threshold=args.edge_threshold,
                active_fraction=args.active_fraction,
                active_threshold=args.active_threshold,
                max_feature_nodes=args.max_feature_nodes,
                statistics=not args.no_statistics,
                progress=not args.quiet and args.file is None,
            )
            paths = save_comparison(comparison, folder, formats, overlap, overlap_note)
        except BabelgraphError as exc:
            if args.file is None:
                raise
            print(f"babelgraph: error: {where}{exc}", file=sys.stderr)
            continue
        worked.append(job)
        if not args.quiet:
            bar.write(describe(job.name, comparison))
        for path in paths if args.file is None else [folder / "page.html"]:
            bar.write(str(path))
    if not worked:
        return 2
    for path in write_summary(out, worked):
        print(path)
    return 0


def describe(name: str, comparison: Any) -> str:
    counts = comparison.counts()
    lines = [
        f"{name}: " + ", ".join(f"{v} {k}" for k, v in counts.items()) + f" ({comparison.settings['seconds']:.1f}s)"
    ]
    for layer, row in comparison.counts_by_layer().items():
        lines.append(f"  L{layer}: " + ", ".join(f"{v} {k}" for k, v in row.items()))
    lines += [f"  note: {note}" for note in comparison.notes]
    return "\n".join(lines)


def _read_batch(path: Path) -> list[tuple[int, Job | BabelgraphError]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BabelgraphError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    jobs: list[tuple[int, Job | BabelgraphError]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            jobs.append((number, line_job(line)))
        except BabelgraphError as exc:
            jobs.append((number, exc))
    if not jobs:
        raise BabelgraphError(f"{path} has no lines to compare")
    return jobs


# ---- summary across concepts ----------------------------------------------------------------------------------
def summarise(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """How often each feature is multilingual across concepts, and the share of multilingual features per layer.

    ``results`` maps concept name -> its ``features.json`` content.
    """
    features: dict[str, dict[str, Any]] = {}
    layers: dict[int, dict[str, int]] = {}
    for data in results.values():
        for row in data["features"]:
            entry = features.setdefault(
                row["id"],
                {"id": row["id"], "dictionary": row["dictionary"], "layer": row["layer"], "feature": row["feature"]}
                | {"concepts": 0, "multilingual": 0, "language-specific": 0, "mixed": 0},
            )
            entry["concepts"] += 1
            entry[row["tag"]] += 1
            layer = layers.setdefault(int(row["layer"]), {"features": 0, "multilingual": 0})
            layer["features"] += 1
            layer["multilingual"] += row["tag"] == "multilingual"
    for entry in features.values():
        entry["share_multilingual"] = entry["multilingual"] / entry["concepts"]
    for layer in layers.values():
        layer["share_multilingual"] = layer["multilingual"] / layer["features"]
    ordered = sorted(features.values(), key=lambda e: (-e["multilingual"], e["layer"], e["feature"]))
    return {
        "concepts": {name: {"prompts": d["prompts"], "counts": d["counts"]} for name, d in results.items()},
        "layers": {str(k): v for k, v in sorted(layers.items())},
        "features": ordered,
    }


def write_summary(out: Path, jobs: list[Job]) -> list[Path]:
    results = {}
    for job in jobs:
        results[job.name] = json.loads((out / job.name / "features.json").read_text(encoding="utf-8"))
    summary = summarise(results)
    json_path, csv_path = out / "summary.json", out / "summary.csv"
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    buffer = io.StringIO()
    columns = ["id", "dictionary", "layer", "feature", "concepts", "multilingual", "language-specific", "mixed"]
    writer = csv.DictWriter(buffer, fieldnames=[*columns, "share_multilingual"], extrasaction="ignore")
    writer.writeheader()
    writer.writerows(summary["features"])
    with atomic_path(csv_path) as tmp:
        tmp.write_text(buffer.getvalue(), encoding="utf-8")
    return [json_path, csv_path]
