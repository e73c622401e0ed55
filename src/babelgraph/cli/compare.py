"""``babelgraph compare``: one concept (prompts or ``--concept``) or a batch file of them, with resume and a
summary across concepts."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from babelgraph.cli.options import (
    add_model_arguments,
    add_out_argument,
    add_pruning_arguments,
    check_outputs,
    finite,
    load_model_from,
    positive,
    probability,
)
from babelgraph.errors import BabelgraphError
from babelgraph.languages.batch import (
    BatchSettings,
    Job,
    JobOutcome,
    baseline_jobs,
    clear_partials,
    concept_job,
    format_layers,
    is_done,
    prompts_job,
    read_batch,
    run_job,
    write_summary,
)
from babelgraph.languages.remote import RemoteFolder, is_url
from babelgraph.languages.tasks import LANGUAGES


# ---- parser ---------------------------------------------------------------------------------------------------
def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "compare",
        help="compare the graphs of one concept across languages (multilingual vs language-specific features)",
        description="Give prompts (--en/--fr/--zh/--lang xx=TEXT), or --concept WORD (antonym templates), or "
        '--file JSONL with one {"en": ..., "fr": ..., "zh": ...} or {"concept": ...} per line.',
    )
    for lang in LANGUAGES:
        parser.add_argument(f"--{lang}", default=None, metavar="TEXT", help=f"the {lang} prompt")
    parser.add_argument("--lang", action="append", default=[], metavar="XX=TEXT", help="a prompt in any language")
    parser.add_argument("--concept", default=None, help="an antonym-table word, e.g. small (prompts from templates)")
    parser.add_argument("--file", default=None, help="JSONL batch file; finished concepts are skipped on a rerun")
    add_out_argument(parser)
    add_pruning_arguments(parser)
    parser.add_argument(
        "--active-fraction",
        type=probability,
        default=0.1,
        help="active on a prompt: max activation (BOS excluded) at least this fraction of the feature's strongest "
        "activation over the compared prompts (default 0.1)",
    )
    parser.add_argument("--active-threshold", type=finite, default=None, help="absolute activity threshold instead")
    parser.add_argument(
        "--max-control-rate",
        type=probability,
        default=0.25,
        help="concept-selective: active on at most this share of the control prompts (default 0.25)",
    )
    parser.add_argument(
        "--controls", default=None, help='JSON file {"en": [control prompts], ...} (default: made from the word tables)'
    )
    parser.add_argument("--n-controls", type=positive, default=16, help="control prompts per language (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the control sample (default 0)")
    parser.add_argument(
        "--no-baseline", action="store_true", help="batch: skip the mismatched-concept baseline of the summary"
    )
    parser.add_argument("--format", default="html,graphml,gexf,json", help="comparison graph formats (default: all)")
    parser.add_argument("--no-statistics", action="store_true", help="skip reference-text statistics")
    parser.add_argument("--no-overlap", action="store_true", help="skip the feature-overlap plot on the page")
    parser.add_argument(
        "--workers",
        type=positive,
        default=None,
        help="batch: spread over N Ray workers, each loading the model once (needs pip install babelgraph[ray]; "
        "one per GPU with --device cuda; see docs/distributed.md)",
    )
    parser.add_argument(
        "--ray", default=None, metavar="ADDRESS", help="batch: run on an existing Ray cluster (e.g. auto or HOST:6379)"
    )
    add_model_arguments(parser)


def _single_job(args: argparse.Namespace) -> Job:
    prompts = {lang: getattr(args, lang) for lang in LANGUAGES if getattr(args, lang) is not None}
    for item in args.lang:
        lang, sep, text = item.partition("=")
        if not sep or not lang.strip():
            raise BabelgraphError(f"cannot read --lang {item!r}: write XX=TEXT, e.g. --lang de='Das Gegenteil'")
        prompts[lang.strip()] = text
    if args.concept is not None:
        if prompts:
            raise BabelgraphError("give either prompts (--en/--fr/--zh/--lang) or --concept, not both")
        return concept_job(args.concept)
    from babelgraph.languages.compare import validate_prompts

    validate_prompts(prompts)
    return prompts_job(prompts)


# ---- running --------------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    """Run one comparison or a batch; returns the exit status (batch: 0 if any line worked, else 2)."""
    from babelgraph.formats import parse_formats

    formats = parse_formats(args.format)
    single = args.concept is not None or bool(args.lang) or any(getattr(args, k) is not None for k in LANGUAGES)
    if args.file is not None and single:
        raise BabelgraphError("give either --file or prompts/--concept, not both")
    if args.file is None and not single:
        raise BabelgraphError("nothing to compare: give --en/--fr/--zh prompts, --concept WORD or --file JSONL")
    distributed = args.workers is not None or args.ray is not None
    if is_url(args.out) and args.ray is not None:  # remote workers cannot write into this machine's staging folder
        raise BabelgraphError(
            f"--out {args.out}: with --ray, give a folder every worker shares (see docs/distributed.md); URLs work "
            "for serial batches and local --workers"
        )
    if distributed:
        if args.file is None:
            raise BabelgraphError("--workers and --ray spread a batch: give --file JSONL")
        from babelgraph.languages.distributed import import_ray

        import_ray()  # before anything slow: without Ray, say how to install it
    if args.file is None:
        jobs: list[tuple[int, Job | BabelgraphError]] = [(0, _single_job(args))]
    else:
        jobs = read_batch(Path(args.file))

    controls = _read_controls(args.controls)
    remote = RemoteFolder(args.out) if is_url(args.out) else None  # fsspec URL: staged locally, uploaded per concept
    if remote is None:
        check_outputs(args)  # before loading the model: --out must be a folder we can write
    if args.file is not None and not args.no_baseline:
        jobs += [(0, job) for job in baseline_jobs([j for _, j in jobs if isinstance(j, Job)])]
    settings = batch_settings(args, formats, controls)
    out = remote.local if remote is not None else Path(args.out)

    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), desc="concepts", unit="concept", disable=args.quiet or args.file is None)
    worked: dict[int, Job] = {}
    lines = {index: number for index, (number, _) in enumerate(jobs)}

    def finished(index: int, job: Job, outcome: JobOutcome) -> None:
        bar.update()
        where = f"line {lines[index]}: " if lines[index] else ""
        if outcome.error is not None:
            if args.file is None:
                raise BabelgraphError(outcome.error)
            bar.write(f"babelgraph: warning: {where}{outcome.error} (skipped)", file=sys.stderr)
            return
        worked[index] = job
        if not args.quiet and outcome.text:
            bar.write(outcome.text)
        if remote is not None:
            bar.write(remote.push(job.name))
            return
        for path in outcome.paths if args.file is None else [out / job.name / "page.html"]:
            bar.write(str(path))

    runner = None
    try:
        if distributed:
            from babelgraph.languages.distributed import RayBatch, model_spec

            runner = RayBatch(
                model_spec(args),
                settings,
                out,
                args.workers,
                args.ray,
                overlap=not args.no_overlap,
                describe=not args.quiet,
            )
            description = runner.start()
        else:
            from babelgraph.formats.comparison import overlap_png

            model = load_model_from(args)
            description = model.describe()
            overlap, overlap_note = (None, "skipped (--no-overlap)") if args.no_overlap else overlap_png(model)
        todo: list[tuple[int, Job]] = []
        for index, (number, job) in enumerate(jobs):
            if isinstance(job, BabelgraphError):
                bar.update()
                bar.write(f"babelgraph: warning: line {number}: {job} (skipped)", file=sys.stderr)
            elif args.file is not None and (
                is_done(out / job.name, settings.key(job, description))
                or (remote is not None and remote.pull_if_done(job.name, settings.key(job, description)))
            ):
                bar.update()
                worked[index] = job
                if not args.quiet:
                    bar.write(f"{job.name}: done before with these settings, skipped")
            else:
                todo.append((index, job))
        clear_partials(out, [job for _, job in todo])
        if runner is not None:
            for index, job, outcome in runner.run(todo):
                finished(index, job, outcome)
        else:
            for index, job in todo:
                want_text = not args.quiet and not job.baseline
                outcome = run_job(
                    model,
                    job,
                    out,
                    settings,
                    overlap,
                    overlap_note,
                    progress=not args.quiet and args.file is None,
                    describe=describe if want_text else None,
                )
                finished(index, job, outcome)
    finally:
        bar.close()
        if runner is not None:
            runner.close()
            clear_partials(out, [job for _, job in jobs if isinstance(job, Job)])  # what killed workers left
    try:
        return _finish(args, out, [worked[i] for i in sorted(worked)], remote)
    finally:
        if remote is not None:
            remote.close()


def _finish(args: argparse.Namespace, out: Path, ordered: list[Job], remote: RemoteFolder | None) -> int:
    """The summary of a batch (the summary follows the file, however the jobs finished)."""
    if not any(not j.baseline for j in ordered):
        raise BabelgraphError(f"no line of {args.file} could be compared (see the warnings above)")
    if args.file is None:  # one comparison: its folder is the result; a summary is a batch's (and is not clobbered)
        return 0
    paths = write_summary(out, ordered)
    if not args.quiet and args.file is not None:
        summary = json.loads(paths[0].read_text(encoding="utf-8"))
        print(f"across {len(summary['concepts'])} concepts: concept-selective features shared across languages")
        print(format_layers(summary))
    for path in remote.push_files(paths) if remote is not None else paths:
        print(path)
    return 0


def batch_settings(
    args: argparse.Namespace, formats: list[str], controls: dict[str, list[str]] | None
) -> BatchSettings:
    """The comparison arguments as :class:`BatchSettings` (what a job key covers besides the model)."""
    return BatchSettings(
        node_threshold=args.node_threshold,
        edge_threshold=args.edge_threshold,
        active_fraction=args.active_fraction,
        active_threshold=args.active_threshold,
        max_control_rate=args.max_control_rate,
        n_controls=args.n_controls,
        seed=args.seed,
        max_feature_nodes=args.max_feature_nodes,
        prune_rule=args.prune_rule,
        statistics=not args.no_statistics,
        formats=tuple(formats),
        controls=controls,
    )


def _read_controls(path: str | None) -> dict[str, list[str]] | None:
    """``--controls FILE``: a JSON object mapping languages to lists of control prompts."""
    if path is None:
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise BabelgraphError(f"cannot read --controls {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if not isinstance(data, dict) or not all(
        isinstance(v, list) and all(isinstance(p, str) for p in v) for v in data.values()
    ):
        raise BabelgraphError('--controls must hold a JSON object {"en": ["prompt", ...], "fr": [...]}')
    return data


def describe(name: str, comparison) -> str:  # noqa: ANN001 - a Comparison
    """The per-concept summary: tag counts, per layer, and whether they hang on the thresholds."""
    counts = comparison.counts()
    lines = [
        f"{name}: " + ", ".join(f"{v} {k}" for k, v in counts.items()) + f" ({comparison.settings['seconds']:.1f}s)"
    ]
    for layer, row in comparison.counts_by_layer().items():
        lines.append(f"  L{layer}: " + ", ".join(f"{v} {k}" for k, v in row.items() if v))
    sweep = comparison.robustness()
    spread = {tag: (min(r[tag] for r in sweep), max(r[tag] for r in sweep)) for tag in counts}
    lines.append(
        "  over thresholds (active fraction 0.05-0.5, max control rate 0.1-0.5): "
        + ", ".join(f"{tag} {lo}-{hi}" for tag, (lo, hi) in spread.items())
    )
    by_tag = comparison.monolinguality_by_tag()
    if by_tag:
        lines.append(
            "  median reference monolinguality: "
            + ", ".join(f"{tag} {v['median']:.2f} (n={v['n']})" for tag, v in by_tag.items())
        )
    lines += [f"  note: {note}" for note in comparison.notes]
    return "\n".join(lines)
