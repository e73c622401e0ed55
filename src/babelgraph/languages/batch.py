"""Batches of comparisons: jobs from concepts or JSONL lines, results keyed by what produced them, and the summary
across concepts (the per-layer share of concept-selective features that are shared, with a band and a baseline).

The CLI (``babelgraph compare --file``) runs the jobs; this module holds what a batch *is*, so a script or a
distributed runner can use the same rules.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import shutil
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from babelgraph.errors import BabelgraphError
from babelgraph.files import slug, write_json, write_text
from babelgraph.languages.tags import TAGS
from babelgraph.languages.tasks import antonym_concepts, concept_prompts

DONE_FILE = "page.html"  # written last by save_comparison: its presence marks a folder complete
KEY_FILE = "job.json"  # what produced the folder; a rerun with other settings recomputes
BASELINE_FOLDER = "baseline"
PARTIAL = ".partial-"  # a job writes into ``.<name>.partial-<id>`` beside its folder, then renames it into place


@dataclass
class Job:
    """One comparison to run: its output folder name, its prompts by language, and optional control prompts."""

    name: str
    prompts: dict[str, str]
    controls: dict[str, list[str]] | None = None
    concept: str | None = None  # the antonym-table concept, when the job was made from one
    baseline: bool = False  # a mismatched-concept control job (see :func:`baseline_jobs`)
    extra: dict[str, Any] = field(default_factory=dict)

    def key(self, model: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        """A digest of everything that produced the result: prompts, controls, model, dictionaries, settings."""
        text = json.dumps(
            {"prompts": self.prompts, "controls": self.controls, "model": model, "settings": settings},
            sort_keys=True,
            ensure_ascii=False,
            default=str,
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def concept_job(concept: str) -> Job:
    return Job(slug(concept, digest=False, limit=60), concept_prompts(concept), concept=concept)


def prompts_job(prompts: dict[str, str], name: str | None = None, controls: dict | None = None) -> Job:
    folder = slug(name, digest=False, limit=60) if name else slug(" | ".join(prompts.values()))
    return Job(folder, prompts, controls)


def line_job(line: str) -> Job:
    """One batch line -> a job; a bad line is a BabelgraphError saying what is wrong with it."""
    try:
        data = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise BabelgraphError(f"not JSON ({getattr(exc, 'msg', 'nested too deeply')})") from None
    if not isinstance(data, dict):
        raise BabelgraphError('expected an object such as {"concept": "small"} or {"en": "...", "fr": "..."}')
    controls = data.pop("controls", None)
    if controls is not None and not (
        isinstance(controls, dict)
        and all(isinstance(v, list) and all(isinstance(p, str) for p in v) for v in controls.values())
    ):
        raise BabelgraphError('controls must map languages to lists of prompts: {"en": ["...", ...], ...}')
    if "concept" in data:
        if not isinstance(data["concept"], str):
            raise BabelgraphError("concept must be a string")
        job = concept_job(data["concept"])
        job.controls = controls
        return job
    name = data.pop("name", None)
    if name is not None and not isinstance(name, str):
        raise BabelgraphError("name must be a string")
    bad = [k for k, v in data.items() if not isinstance(v, str)]
    if bad:
        raise BabelgraphError(f"prompts must be strings (not {', '.join(bad)})")
    return prompts_job(data, name, controls)


def read_batch(path: Path) -> list[tuple[int, Job | BabelgraphError]]:
    """Every non-empty, non-comment line as a job or the error it gives; two jobs may not share a folder name."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BabelgraphError(f"cannot read {path}: {exc.strerror or exc}") from None
    jobs: list[tuple[int, Job | BabelgraphError]] = []
    names: dict[str, int] = {}
    for number, line_bytes in enumerate(raw.splitlines(), start=1):
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError:
            jobs.append((number, BabelgraphError("not valid UTF-8: save the file as UTF-8")))
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            job = line_job(line)
        except BabelgraphError as exc:
            jobs.append((number, exc))
            continue
        if job.name in names or job.name == BASELINE_FOLDER:
            other = f"line {names[job.name]}" if job.name in names else "the baseline folder"
            jobs.append((number, BabelgraphError(f"name {job.name!r} is taken by {other}: give a distinct name")))
            continue
        names[job.name] = number
        jobs.append((number, job))
    if not jobs:
        raise BabelgraphError(f"{path} has no lines to compare")
    return jobs


def baseline_jobs(jobs: Sequence[Job], languages: Sequence[str] = ("en", "fr", "zh")) -> list[Job]:
    """Mismatched-concept controls: for the i-th concept job, language j gets the prompt of concept i + j (mod n).

    The prompts then share no concept, so a ``shared-concept`` tag there is a false positive of the tag rule: the
    per-layer share it gives is the floor the real share must clear.
    """
    concepts = [j.concept for j in jobs if j.concept is not None]
    if len(concepts) < len(languages):
        return []
    table = antonym_concepts()
    out = []
    for i, concept in enumerate(concepts):
        prompts = {
            lang: concept_prompts(concepts[(i + j) % len(concepts)])[lang]
            for j, lang in enumerate(languages)
            if lang in table[concept]
        }
        out.append(Job(f"{BASELINE_FOLDER}/{slug(concept, digest=False, limit=60)}", prompts, baseline=True))
    return out


def is_done(folder: Path, key: str) -> bool:
    try:
        recorded = json.loads((folder / KEY_FILE).read_text(encoding="utf-8")).get("key")
    except (OSError, ValueError, AttributeError):
        return False
    return recorded == key and (folder / DONE_FILE).is_file()


def mark_done(folder: Path, job: Job, key: str) -> Path:
    return write_json(
        {"key": key, "name": job.name, "prompts": job.prompts, "baseline": job.baseline}, folder / KEY_FILE
    )


@dataclass(frozen=True)
class BatchSettings:
    """Everything besides the model that decides a comparison's result: what a job key covers, picklable so a
    distributed worker runs a job exactly as the serial loop does."""

    node_threshold: float = 0.8
    edge_threshold: float = 0.98
    active_fraction: float = 0.1
    active_threshold: float | None = None
    max_control_rate: float = 0.25
    n_controls: int = 16
    seed: int = 0
    max_feature_nodes: int | None = None
    prune_rule: str = "babelgraph"
    statistics: bool = True
    formats: tuple[str, ...] = ("html", "graphml", "gexf", "json")
    controls: dict[str, list[str]] | None = None  # ``--controls``: for jobs that bring none of their own

    def job_controls(self, job: Job) -> dict[str, list[str]] | None:
        return job.controls if job.controls is not None else self.controls

    def key(self, job: Job, model: Mapping[str, Any]) -> str:
        """The job's key (:meth:`Job.key`) for a model description (``ReplacementModel.describe()``)."""
        settings = {
            "node_threshold": self.node_threshold,
            "edge_threshold": self.edge_threshold,
            "rule": [self.active_fraction, self.active_threshold, self.max_control_rate],
            "n_controls": self.n_controls,
            "seed": self.seed,
            "max_feature_nodes": self.max_feature_nodes,
            **({"prune_rule": self.prune_rule} if self.prune_rule != "babelgraph" else {}),  # old keys stay valid
            "statistics": self.statistics,
            "formats": list(self.formats),
            "controls": self.job_controls(job),
        }
        return job.key(model, settings)


@dataclass
class JobOutcome:
    """What running one job gave: ``paths`` written (final places), ``text`` (the per-concept description when
    asked for), or ``error`` (a BabelgraphError's message; nothing was written then)."""

    name: str
    paths: list[Path] = field(default_factory=list)
    text: str = ""
    error: str | None = None


def run_job(
    model: Any,
    job: Job,
    out: Path,
    settings: BatchSettings,
    overlap: bytes | None = None,
    overlap_note: str = "",
    *,
    progress: bool = False,
    describe: Callable[[str, Any], str] | None = None,
) -> JobOutcome:
    """Compare one job and write its folder ``out/<job.name>`` whole or not at all; the serial loop and every
    distributed worker call this, so both produce the same files.

    The comparison is written into a fresh ``.<name>.partial-<id>`` folder beside the target, ``job.json`` (the
    key) last, then renamed into place; an older folder of that name is moved aside first and deleted after. A
    crash leaves at most a ``.partial-`` folder (never a mixed one), which :func:`clear_partials` removes. A
    :class:`BabelgraphError` (bad prompt, unknown concept) is returned in ``error``; anything else propagates.
    """
    from babelgraph.formats.comparison import save_comparison
    from babelgraph.languages.compare import compare
    from babelgraph.languages.tags import TagRule

    out = Path(out)
    folder = out / job.name
    rule = TagRule(settings.active_fraction, settings.active_threshold, settings.max_control_rate)
    try:
        comparison = compare(
            model,
            job.prompts,
            controls=settings.job_controls(job),
            n_controls=settings.n_controls,
            seed=settings.seed,
            rule=rule,
            node_threshold=settings.node_threshold,
            edge_threshold=settings.edge_threshold,
            prune_rule=settings.prune_rule,
            max_feature_nodes=settings.max_feature_nodes,
            statistics=settings.statistics,
            progress=progress,
        )
        tmp = folder.parent / f".{folder.name}{PARTIAL}{uuid.uuid4().hex[:12]}"
        try:
            written = save_comparison(comparison, tmp, list(settings.formats), overlap, overlap_note)
            mark_done(tmp, job, settings.key(job, model.describe()))
            _swap_into_place(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    except BabelgraphError as exc:
        return JobOutcome(job.name, error=str(exc))
    paths = [folder / p.relative_to(tmp) for p in written]
    return JobOutcome(job.name, paths, describe(job.name, comparison) if describe else "")


def _swap_into_place(tmp: Path, folder: Path) -> None:
    """Rename the finished ``tmp`` onto ``folder`` (a directory rename cannot replace a non-empty directory, so an
    old one is moved aside first, then deleted)."""
    old = None
    if folder.exists():
        old = folder.parent / f".{folder.name}{PARTIAL}old-{uuid.uuid4().hex[:12]}"
        os.replace(folder, old)
    os.replace(tmp, folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def clear_partials(out: Path, jobs: Sequence[Job]) -> int:
    """Remove what crashed or killed jobs left: ``.<name>.partial-*`` folders beside each job's folder. Call it
    before a batch starts (never while one runs on the same folder); returns how many were removed."""
    removed = 0
    for job in jobs:
        folder = Path(out) / job.name
        if folder.parent.is_dir():
            for stale in folder.parent.glob(f".{folder.name}{PARTIAL}*"):
                shutil.rmtree(stale, ignore_errors=True)
                removed += 1
    return removed


# ---- summary across concepts ----------------------------------------------------------------------------------
def _layer_counts(features: Sequence[Mapping[str, Any]]) -> dict[int, dict[str, int]]:
    table: dict[int, dict[str, int]] = {}
    for row in features:
        table.setdefault(int(row["layer"]), dict.fromkeys(TAGS, 0))[row["tag"]] += 1
    return table


def shared_share_by_layer(
    results: Mapping[str, Mapping[str, Any]], n_boot: int = 1000, seed: int = 0
) -> dict[int, dict[str, float | int | None]]:
    """Per layer: concept-selective features that are shared vs specific, summed over concepts, the share shared,
    and a 95% band from resampling concepts (bootstrap)."""
    per_concept = {name: _layer_counts(data["features"]) for name, data in results.items()}
    layers = sorted({layer for counts in per_concept.values() for layer in counts})
    names = list(per_concept)
    rng = random.Random(seed)
    samples = [[rng.choice(names) for _ in names] for _ in range(n_boot)] if names else []
    out: dict[int, dict[str, float | int | None]] = {}
    for layer in layers:

        def share(chosen: Sequence[str], layer: int = layer) -> float | None:
            shared = sum(per_concept[n].get(layer, {}).get("shared-concept", 0) for n in chosen)
            specific = sum(per_concept[n].get(layer, {}).get("specific-concept", 0) for n in chosen)
            return shared / (shared + specific) if shared + specific else None

        totals = {tag: sum(per_concept[n].get(layer, {}).get(tag, 0) for n in names) for tag in TAGS}
        boot = sorted(v for v in (share(s) for s in samples) if v is not None)
        low = boot[int(0.025 * (len(boot) - 1))] if boot else None
        high = boot[int(0.975 * (len(boot) - 1))] if boot else None
        out[layer] = {**totals, "share_shared": share(names), "low": low, "high": high}
    return out


def summarise(
    results: Mapping[str, Mapping[str, Any]], baseline: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """Across concepts: per layer the share of concept-selective features shared across languages (with band and,
    when given, the mismatched-concept baseline), and per feature how often it gets each tag.

    ``results`` (and ``baseline``) map concept name -> its ``features.json`` content.
    """
    features: dict[str, dict[str, Any]] = {}
    for data in results.values():
        for row in data["features"]:
            entry = features.setdefault(
                row["id"],
                {"id": row["id"], "dictionary": row["dictionary"], "layer": row["layer"], "feature": row["feature"]}
                | {"concepts": 0}
                | dict.fromkeys(TAGS, 0),
            )
            entry["concepts"] += 1
            entry[row["tag"]] += 1
    ordered = sorted(features.values(), key=lambda e: (-e["shared-concept"], -e["concepts"], e["layer"], e["feature"]))
    summary: dict[str, Any] = {
        "concepts": {name: {"prompts": d["prompts"], "counts": d["counts"]} for name, d in results.items()},
        "layers": {str(k): v for k, v in shared_share_by_layer(results).items()},
        "features": ordered,
    }
    if baseline:
        summary["baseline_layers"] = {str(k): v for k, v in shared_share_by_layer(baseline).items()}
    return summary


def format_layers(summary: Mapping[str, Any]) -> str:
    """The per-layer table the CLI prints: real share shared [band] beside the baseline's."""
    base = summary.get("baseline_layers") or {}
    lines = ["layer  shared  specific  share shared [95% band]" + ("   baseline (mismatched concepts)" if base else "")]

    def fmt(row: Mapping[str, Any] | None) -> str:
        if not row or row.get("share_shared") is None:
            return "-"
        band = f" [{row['low']:.2f}, {row['high']:.2f}]" if row.get("low") is not None else ""
        return f"{row['share_shared']:.2f}{band}"

    for layer, row in summary["layers"].items():
        text = f"L{layer:<5}{row['shared-concept']:>6}{row['specific-concept']:>10}  {fmt(row):<24}"
        lines.append(text + (f"   {fmt(base.get(layer))}" if base else ""))
    return "\n".join(lines)


def write_summary(out: Path, jobs: Sequence[Job]) -> list[Path]:
    """``summary.json``, ``summary.csv`` (per feature), ``layers.csv`` and ``layers.png`` (per layer)."""
    results = {j.name: _read(out / j.name) for j in jobs if not j.baseline}
    baseline = {j.name: _read(out / j.name) for j in jobs if j.baseline}
    summary = summarise(results, baseline or None)
    paths = [write_json(summary, out / "summary.json")]
    buffer = io.StringIO()
    columns = ["id", "dictionary", "layer", "feature", "concepts", *TAGS]
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(summary["features"])
    paths.append(write_text(buffer.getvalue(), out / "summary.csv"))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["which", "layer", *TAGS, "share_shared", "low", "high"])
    for which in ("layers", "baseline_layers"):
        for layer, row in (summary.get(which) or {}).items():
            writer.writerow(
                ["concepts" if which == "layers" else "baseline", layer, *(row[t] for t in TAGS)]
                + ["" if row[k] is None else f"{row[k]:.4f}" for k in ("share_shared", "low", "high")]
            )
    paths.append(write_text(buffer.getvalue(), out / "layers.csv"))
    paths.append(save_layer_plot(summary, out / "layers.png"))
    return paths


def _read(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "features.json").read_text(encoding="utf-8"))


def save_layer_plot(summary: Mapping[str, Any], path: Path) -> Path:
    """Share of concept-selective features shared across languages, per layer, with its band and the baseline."""
    from babelgraph.files import atomic_path
    from babelgraph.plotting import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=120)
    for which, label, style in (("layers", "same concept", "-"), ("baseline_layers", "mismatched concepts", "--")):
        rows = [(int(k), v) for k, v in (summary.get(which) or {}).items() if v.get("share_shared") is not None]
        if not rows:
            continue
        xs = [k for k, _ in rows]
        ax.plot(xs, [v["share_shared"] for _, v in rows], style, marker="o", label=label)
        banded = [(k, v) for k, v in rows if v.get("low") is not None]
        if banded:
            ax.fill_between(
                [k for k, _ in banded], [v["low"] for _, v in banded], [v["high"] for _, v in banded], alpha=0.2
            )
    n = len(summary.get("concepts", {}))
    layers = sorted({int(k) for which in ("layers", "baseline_layers") for k in (summary.get(which) or {})})
    ax.set_xticks(layers)  # every layer, also those without concept-selective features (no point drawn)
    ax.set(xlabel="layer", ylabel="shared / (shared + specific)", ylim=(-0.02, 1.02))
    ax.set_title(f"Concept-selective features shared across languages ({n} concepts, 95% band)", fontsize=9)
    if ax.lines:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no concept-selective features in any layer", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
