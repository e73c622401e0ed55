"""A comparison batch on Ray workers: the same files as the serial batch, resume, a killed worker retried.

A local Ray instance with 2 CPUs, shared by the module and shut down at its end; every worker loads the demo model.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest
import torch

import babelgraph as bg
from babelgraph import AttributionGraph
from babelgraph.cli import main

CONCEPTS = ("small", "hot", "long")
FAST = ["--no-statistics", "--no-overlap", "--format", "json", "--n-controls", "4", "--threads", "1"]


@pytest.fixture(scope="module")
def ray_local():
    import ray  # in the test extra: a missing Ray fails here rather than skipping into green

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def batch_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("batch") / "concepts.jsonl"
    path.write_text("".join(json.dumps({"concept": c}) + "\n" for c in CONCEPTS), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def serial(batch_file, tmp_path_factory) -> Path:
    """The serial batch (baseline included), in this process, as the reference."""
    out = tmp_path_factory.mktemp("serial")
    before = torch.get_num_threads()
    try:
        assert main(["compare", "--file", str(batch_file), "--out", str(out), "--quiet", *FAST]) == 0
    finally:
        torch.set_num_threads(before)
    return out


def _files(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}


def _untimed(data):
    """``data`` without its timing fields (``seconds``, ``timing``), at any depth."""
    if isinstance(data, dict):
        return {k: _untimed(v) for k, v in data.items() if k not in ("seconds", "timing")}
    return [_untimed(v) for v in data] if isinstance(data, list) else data


def _same_folder(a: Path, b: Path) -> None:
    """File for file: graphs and features.json equal but for their timing fields, every other file byte-equal."""
    assert _files(a) == _files(b)
    for name in sorted(_files(a)):
        if name.endswith(".safetensors"):
            x, y = AttributionGraph.load(a / name), AttributionGraph.load(b / name)
            assert torch.equal(x.adjacency, y.adjacency) and [n.id for n in x.nodes] == [n.id for n in y.nodes]
            assert _untimed(x.metadata) == _untimed(y.metadata), name
        elif name.endswith("features.json"):
            x, y = (json.loads((f / name).read_text(encoding="utf-8")) for f in (a, b))
            assert _untimed(x) == _untimed(y), name
        else:
            assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.fixture(scope="module")
def parallel(ray_local, batch_file, tmp_path_factory):
    """The same batch on 2 Ray workers, one of them killed while it works on "hot" the first time it gets it."""
    from babelgraph.languages.distributed import RayBatch

    dispatched: list[str] = []
    batches: list[RayBatch] = []

    def kill_during_hot(self, job, actor):
        dispatched.append(job.name)
        batches.append(self)
        if job.name == "hot" and dispatched.count("hot") == 1:
            threading.Timer(1.0, ray_local.kill, [actor]).start()

    out = tmp_path_factory.mktemp("parallel")
    args = ["compare", "--file", str(batch_file), "--out", str(out), *FAST, "--workers", "2"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RayBatch, "_dispatched", kill_during_hot)
        code = main(args)
    return {"code": code, "out": out, "args": args, "dispatched": dispatched, "replaced": batches[0].replaced}


def test_parallel_batch_equals_serial_file_for_file(parallel, serial):
    assert parallel["code"] == 0
    assert {p.split("/")[0] for p in _files(parallel["out"])} >= {*CONCEPTS, "baseline", "summary.json"}
    _same_folder(serial, parallel["out"])  # summary included: it follows the file's order, not the finishing order


def test_a_killed_worker_is_retried_and_nothing_is_lost_or_duplicated(parallel, serial):
    jobs = [*CONCEPTS, *(f"baseline/{c}" for c in CONCEPTS)]
    assert sorted(parallel["dispatched"]) == sorted([*jobs, "hot"]) and parallel["replaced"] == 1
    out = parallel["out"]
    assert not [p for p in out.rglob(".*")], "a killed job's partial folder is left"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert list(summary["concepts"]) == list(CONCEPTS)
    for name in jobs:  # each written once, whole, by what the serial batch records
        assert (out / name / "job.json").read_bytes() == (serial / name / "job.json").read_bytes()


def test_parallel_batch_resumes(parallel, serial, capsys):
    out = parallel["out"]
    stamp = (out / "small" / "page.html").stat().st_mtime_ns
    for path in sorted((out / "hot").iterdir()):
        path.unlink()
    (out / "hot").rmdir()
    capsys.readouterr()
    assert main([*parallel["args"][:-1], "1"]) == 0  # one worker: one job is left
    assert capsys.readouterr().out.count("done before with these settings, skipped") == 5
    assert (out / "small" / "page.html").stat().st_mtime_ns == stamp
    _same_folder(serial, out)


def test_without_ray_the_workers_option_says_how_to_install_it(tmp_path, batch_file, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    monkeypatch.setattr(bg, "load_model", lambda *a, **k: pytest.fail("loaded a model before saying Ray is missing"))
    assert main(["compare", "--file", str(batch_file), "--out", str(tmp_path), "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("babelgraph: error:") and err.count("\n") == 1 and "pip install babelgraph[ray]" in err


def test_workers_spread_a_batch_only(tmp_path, capsys):
    assert main(["compare", "--concept", "small", "--out", str(tmp_path), "--workers", "2"]) == 2
    assert "give --file" in capsys.readouterr().err


def test_an_output_url_without_its_filesystem_is_one_line_not_a_local_folder(tmp_path, batch_file, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # s3fs is not installed here: fsspec cannot open s3://, which must be said at once
    assert main(["compare", "--file", str(batch_file), "--out", "s3://bucket/run", "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("babelgraph: error: --out s3://bucket/run") and err.count("\n") == 1
    assert "s3fs" in err and not (tmp_path / "s3:").exists()
