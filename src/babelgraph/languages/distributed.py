"""A comparison batch spread over Ray workers: each loads the model once and takes jobs from the driver's queue.

Ray is optional (``pip install babelgraph[ray]``) and imported only here, only when a batch asks for it. Every job
runs through :func:`babelgraph.languages.batch.run_job`, exactly as in the serial loop, so the files are the same;
the driver keeps the rest of the batch's guarantees:

- **one job per worker at a time**, from a queue the driver holds, so a dead worker loses at most its current job;
- **a worker that dies** (killed, out of memory, its machine gone) has its job put back at the front of the queue
  and is replaced by a fresh one; a job that has killed ``max_attempts`` workers is reported as a failed line and
  the batch goes on;
- **any other exception** in a job is reported for that line, and the worker goes on with the next job;
- **writes are atomic per concept** (``run_job`` renames a finished folder into place), so a job retried after
  its worker died, or run twice, never leaves a mixed folder; what killed workers left half-written
  (``.<name>.partial-*``) is removed when the batch ends.

The output folder must be one every worker and the driver see at the same path: a local folder for a one-machine
batch, a shared filesystem (NFS, Lustre, a mounted bucket) on a cluster.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from babelgraph.errors import BabelgraphError
from babelgraph.languages.batch import BatchSettings, Job, JobOutcome

INSTALL_HINT = "distributed batches need Ray: pip install babelgraph[ray]"


def import_ray() -> Any:
    """``ray``, or a one-line BabelgraphError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise BabelgraphError(INSTALL_HINT) from None
    return ray


@dataclass
class ModelSpec:
    """What a worker loads: the CLI's model arguments, plus torch CPU threads per worker."""

    model: str = "demo"
    dictionaries: list[str] | None = None
    device: str | None = None
    dtype: str | None = None
    threads: int = 1

    @property
    def gpu(self) -> bool:
        return (self.device or "").startswith("cuda")


class Worker:
    """One Ray actor: loads the model once (and the overlap plot once), then runs jobs one at a time."""

    def __init__(self, spec: ModelSpec, settings: BatchSettings, out: str, overlap: bool) -> None:
        self.settings, self.out = settings, Path(out)
        self.error: str | None = None
        self.description: dict[str, Any] | None = None
        try:
            import torch

            torch.set_num_threads(spec.threads)
            import babelgraph as bg

            self.model = bg.load_model(spec.model, spec.dictionaries, device=spec.device, dtype=spec.dtype)
            self.description = self.model.describe()
            self.overlap, self.overlap_note = None, "skipped (--no-overlap)"
            if overlap:
                from babelgraph.formats.comparison import overlap_png

                self.overlap, self.overlap_note = overlap_png(self.model)
        except BabelgraphError as exc:  # a bad model argument: the driver says it in one line
            self.error = str(exc)

    def ready(self) -> tuple[dict[str, Any] | None, str | None, int]:
        return self.description, self.error, os.getpid()

    def run(self, job: Job, describe: bool) -> JobOutcome:
        from babelgraph.languages.batch import run_job

        describer = None
        if describe:
            from babelgraph.cli.compare import describe as describer
        return run_job(self.model, job, self.out, self.settings, self.overlap, self.overlap_note, describe=describer)


@dataclass
class _Item:
    index: int  # position in the batch (the summary keeps the serial order)
    job: Job
    attempts: int = 0


@dataclass
class RayBatch:
    """Start workers on a local Ray instance (``workers``) or a running cluster (``address``), then :meth:`run`.

    ``workers`` defaults to one per GPU of the cluster with a CUDA device, else one per CPU. Use as a context
    manager: workers are released, and a Ray instance this object started is shut down, on exit.
    """

    spec: ModelSpec
    settings: BatchSettings
    out: Path
    workers: int | None = None
    address: str | None = None
    overlap: bool = True
    max_attempts: int = 3  # workers a job may kill before it counts as a failed line
    describe: bool = True  # workers return the per-concept description text
    actors: list[Any] = field(default_factory=list)
    replaced: int = 0
    _started_ray: bool = False

    def __enter__(self) -> RayBatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- workers ----------------------------------------------------------------------------------------------
    def start(self) -> dict[str, Any]:
        """Start the workers and wait until each has loaded the model; returns the model's description."""
        ray = import_ray()
        if not ray.is_initialized():
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.workers or os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
            self._started_ray = True
        resources = ray.cluster_resources()
        capacity = int(resources.get("GPU" if self.spec.gpu else "CPU", 0))
        if capacity < 1:
            what = "GPUs (--device cuda)" if self.spec.gpu else "CPUs"
            raise BabelgraphError(f"the Ray cluster has no {what} for a worker")
        count = min(self.workers or capacity, capacity)
        self._actor_class = ray.remote(Worker).options(
            num_cpus=1, num_gpus=1 if self.spec.gpu else 0, max_restarts=0, max_concurrency=1
        )
        self.actors = [self._new_actor() for _ in range(count)]
        description = None
        try:
            answers = ray.get([a.ready.remote() for a in self.actors])
        except ray.exceptions.RayError as exc:  # the worker process died while loading (not a BabelgraphError)
            lines = [line for line in str(exc).splitlines() if line.strip()]
            raise BabelgraphError(f"a Ray worker failed to start: {lines[-1] if lines else exc}") from None
        for answer in answers:
            found, error, _ = answer
            if error:
                raise BabelgraphError(error)
            if description is not None and found != description:
                raise BabelgraphError("workers loaded different models: install the same versions on every node")
            description = found
        assert description is not None
        return description

    def _new_actor(self) -> Any:
        return self._actor_class.remote(self.spec, self.settings, str(self.out), self.overlap)

    def close(self) -> None:
        if not self.actors and not self._started_ray:
            return
        ray = import_ray()
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False

    def _dispatched(self, job: Job, actor: Any) -> None:
        """Called on the driver each time a job is sent to a worker (a hook for tests that kill workers)."""

    # ---- the queue --------------------------------------------------------------------------------------------
    def run(self, jobs: Sequence[tuple[int, Job]]) -> Iterator[tuple[int, Job, JobOutcome]]:
        """Run ``(index, job)`` pairs on the workers; yield ``(index, job, outcome)`` as each finishes, in
        completion order, every job exactly once (a job whose workers kept dying yields an outcome with
        ``error``)."""
        ray = import_ray()
        from ray.exceptions import RayActorError, RayTaskError

        pending = deque(_Item(index, job) for index, job in jobs)
        idle = list(self.actors)
        running: dict[Any, tuple[Any, _Item]] = {}
        while pending or running:
            while idle and pending:
                actor, item = idle.pop(), pending.popleft()
                running[actor.run.remote(item.job, self.describe and not item.job.baseline)] = (actor, item)
                self._dispatched(item.job, actor)
            ready, _ = ray.wait(list(running), num_returns=1)
            actor, item = running.pop(ready[0])
            try:
                outcome = ray.get(ready[0])
            except RayActorError:
                item.attempts += 1
                self._replace(actor, idle)
                if item.attempts < self.max_attempts:
                    pending.appendleft(item)
                    continue
                message = f"its worker died {item.attempts} times (out of memory?); not retried again"
                outcome = JobOutcome(item.job.name, error=message)
            except RayTaskError as exc:
                idle.append(actor)
                cause = getattr(exc, "cause", None) or exc
                outcome = JobOutcome(item.job.name, error=f"{type(cause).__name__}: {cause}".splitlines()[0])
            else:
                idle.append(actor)
            yield item.index, item.job, outcome

    def _replace(self, dead: Any, idle: list[Any]) -> None:
        """A fresh worker for a dead one; it loads the model before its first job (the job waits on it). Deaths are
        bounded (each job kills at most ``max_attempts`` workers), so replacing always ends."""
        self.actors = [a for a in self.actors if a is not dead]
        self.replaced += 1
        actor = self._new_actor()
        self.actors.append(actor)
        idle.append(actor)


def model_spec(args: Any) -> ModelSpec:
    """The CLI's model arguments as a :class:`ModelSpec` (one torch thread per worker unless ``--threads``)."""
    return ModelSpec(args.model, args.dictionaries, args.device, args.dtype, args.threads or 1)
