"""Batches of comparisons: jobs from concepts or JSONL lines, and the summary across concepts.

The CLI (``babelgraph compare --file``) runs the jobs; this module holds what a batch *is*, so a script or a
distributed runner can use the same rules.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babelgraph.errors import BabelgraphError
from babelgraph.files import atomic_path, slug
from babelgraph.languages.tasks import concept_prompts

DONE_FILES = ("comparison.safetensors", "features.json", "page.html")  # page.html is written last


@dataclass
class Job:
    """One comparison to run: its output folder name and its prompts by language."""

    name: str
    prompts: dict[str, str]


def concept_job(concept: str) -> Job:
    return Job(slug(concept, digest=False, limit=60), concept_prompts(concept))


def prompts_job(prompts: dict[str, str], name: str | None = None) -> Job:
    return Job(slug(name, digest=False, limit=60) if name else slug(" | ".join(prompts.values())), prompts)


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


def read_batch(path: Path) -> list[tuple[int, Job | BabelgraphError]]:
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
