"""Execution backends behind one interface: ``backend.run(fn, points)`` yields one record per
point as points finish (in completion order).

- :class:`SerialBackend`: in this process, one point after another.
- :class:`PoolBackend` (default): a local process pool over every core; each worker warms up
  the runners (numba JIT) once in its initializer.  If a worker dies (segfault, OOM), the
  points that were in flight are retried one at a time in a fresh pool; a point that kills
  its worker when running alone is recorded as failed.
- :class:`DaskBackend`: ``dask.distributed`` on an existing scheduler (address or Client) or
  on a LocalCluster it starts; dask is an optional extra and imported lazily.

``fn`` maps a :class:`~bifsnn.sweeps.spec.SweepPoint` to a record dict and must not raise for
a failing point (:func:`bifsnn.sweeps.runners.execute_point` guarantees that); backends only
turn infrastructure failures (dead workers) into error records.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Protocol

from bifsnn.sweeps.runners import RunnerTable, warmup_runners
from bifsnn.sweeps.spec import SweepPoint

__all__ = [
    "Backend",
    "DaskBackend",
    "PoolBackend",
    "SerialBackend",
    "available_cores",
    "infrastructure_error_record",
    "make_backend",
    "require_distributed",
]

PointFn = Callable[[SweepPoint], dict[str, Any]]


class Backend(Protocol):
    """What every execution backend provides: a name and run(fn, points) yielding records."""
    name: str

    def run(self, fn: PointFn, points: Iterable[SweepPoint]) -> Iterator[dict[str, Any]]:
        """Yield one record per point, as points finish."""
        ...


def available_cores() -> int:
    """Cores this process may use (affinity-aware)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def infrastructure_error_record(point: SweepPoint, message: str) -> dict[str, Any]:
    """Record for a point lost to the execution machinery rather than to its own code."""
    from bifsnn._version import __version__

    return {
        "key": point.key, "index": point.index, "coords": point.coords,
        "model": point.model, "seed": point.seed, "t_ms": point.t_ms,
        "params": point.params.to_dict(), "options": point.options,
        "version": __version__, "status": "error", "error": message,
        "observables": {}, "elapsed_s": float("nan"),
    }


@dataclass
class SerialBackend:
    """Run points one after another in this process."""

    kinds: list[str] = field(default_factory=list)
    runners: RunnerTable | None = None
    name: str = "serial"
    workers: int = 1

    def run(self, fn: PointFn, points: Iterable[SweepPoint]) -> Iterator[dict[str, Any]]:
        """Run every point in this process, in order, yielding each record."""
        warmup_runners(self.kinds, self.runners)
        for p in points:
            yield fn(p)


#: Modules the forkserver imports once for all pool workers (missing ones are skipped).
FORKSERVER_PRELOAD: tuple[str, ...] = (
    "bifsnn.sweeps.runners", "bifsnn.network.observables", "bifsnn.network.snn",
    "bifsnn.network.markov",
)


def _init_worker(kinds: list[str], runners: RunnerTable | None) -> None:
    warmup_runners(kinds, runners)


@dataclass
class PoolBackend:
    """A local process pool (``workers`` processes, default every core).

    ``mp_context`` is the multiprocessing start method.  The default "forkserver" is safe with
    threads (tqdm, an in-process Dask cluster) like "spawn", but the server process imports
    numpy, scipy.signal, numba and the simulators once (:data:`FORKSERVER_PRELOAD`) and every
    worker is forked from it, so starting a pool costs well under a second after the first.
    Workers see the environment of the moment the server started (once per process).
    ``max_attempts`` bounds how often a point is retried after its worker died.
    """

    workers: int | None = None
    kinds: list[str] = field(default_factory=list)
    runners: RunnerTable | None = None
    mp_context: str = "forkserver"
    max_attempts: int = 2
    name: str = "pool"

    def __post_init__(self) -> None:
        if self.workers is None:
            self.workers = available_cores()
        if not isinstance(self.workers, int) or self.workers < 1:
            raise ValueError(f"workers = {self.workers!r} is out of range: must be an integer >= 1")

    def run(self, fn: PointFn, points: Iterable[SweepPoint]) -> Iterator[dict[str, Any]]:
        """Run the points on a local process pool, yielding records as they finish."""
        ctx = multiprocessing.get_context(self.mp_context)
        if self.mp_context == "forkserver":
            ctx.set_forkserver_preload(list(FORKSERVER_PRELOAD))  # used when it first starts
        pending: deque[SweepPoint] = deque(points)
        attempts: dict[str, int] = {}
        n = int(self.workers or 1)
        while pending:
            ex = ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_init_worker,
                                     initargs=(self.kinds, self.runners))
            inflight: dict[Future, SweepPoint] = {}
            broken = False
            try:
                while (pending and not broken) or inflight:
                    while pending and not broken and len(inflight) < 2 * n:
                        # Points that were in flight when a worker died run alone, so the
                        # culprit is identified and innocent bystanders are not blamed.
                        suspect = attempts.get(pending[0].key, 0) > 0
                        if any(attempts.get(q.key, 0) > 0 for q in inflight.values()):
                            break
                        if suspect and inflight:
                            break
                        p = pending.popleft()
                        try:
                            inflight[ex.submit(fn, p)] = p
                        except BrokenProcessPool:
                            pending.appendleft(p)
                            broken = True
                        if suspect:
                            break
                    if not inflight:
                        break
                    done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                    for fut in done:
                        p = inflight.pop(fut)
                        try:
                            rec = fut.result()
                        except BrokenProcessPool:
                            broken = True
                            attempts[p.key] = attempts.get(p.key, 0) + 1
                            if attempts[p.key] < self.max_attempts:
                                pending.appendleft(p)
                                continue
                            rec = infrastructure_error_record(
                                p, f"worker process died {attempts[p.key]} times while this "
                                "point was running (segfault, out of memory or killed)")
                        except Exception as exc:  # noqa: BLE001 - e.g. unpicklable record
                            rec = infrastructure_error_record(
                                p, f"process pool could not run this point: "
                                f"{type(exc).__name__}: {exc}")
                        yield rec
            finally:
                ex.shutdown(wait=not broken, cancel_futures=True)


def require_distributed() -> Any:
    """Import dask.distributed or explain that it is the optional ``sweep`` extra."""
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            "the dask backend needs dask.distributed, part of the optional 'sweep' extra: "
            "pip install 'bifsnn[sweep]' (or use the default local process pool)"
        ) from exc
    return distributed


@dataclass
class DaskBackend:
    """Run points on dask.distributed.

    ``scheduler``: an address ("tcp://host:8786"), a ``distributed.Client``, or None to start
    a LocalCluster with ``workers`` single-threaded workers (``processes=False`` runs them as
    threads in this process: fast to start, useful for tests; numba releases no GIL for
    Python-level code, so use processes for throughput).
    """

    scheduler: Any = None
    workers: int | None = None
    processes: bool = True
    kinds: list[str] = field(default_factory=list)
    runners: RunnerTable | None = None
    name: str = "dask"

    def run(self, fn: PointFn, points: Iterable[SweepPoint]) -> Iterator[dict[str, Any]]:
        """Run the points on a Dask cluster (local or remote), yielding records as they finish."""
        distributed = require_distributed()
        cluster = None
        own_client = True
        if isinstance(self.scheduler, distributed.Client):
            client, own_client = self.scheduler, False
        elif self.scheduler:
            client = distributed.Client(self.scheduler)
        else:
            n = self.workers or available_cores()
            cluster = distributed.LocalCluster(
                n_workers=n, threads_per_worker=1, processes=self.processes,
                dashboard_address=None, silence_logs=40,
            )
            client = distributed.Client(cluster)
        try:
            client.run(warmup_runners, self.kinds, self.runners)  # compile once per worker
            pts = list(points)
            futures = client.map(fn, pts, pure=False)
            by_key = {f.key: p for f, p in zip(futures, pts, strict=True)}
            for fut in distributed.as_completed(futures):
                p = by_key[fut.key]
                try:
                    rec = fut.result()
                except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker
                    rec = infrastructure_error_record(
                        p, f"dask could not run this point: {type(exc).__name__}: {exc}")
                fut.release()
                yield rec
        finally:
            if own_client:
                client.close()
            if cluster is not None:
                cluster.close()


def make_backend(
    name: str,
    *,
    workers: int | None = None,
    scheduler: Any = None,
    dask_processes: bool = True,
    kinds: list[str] | None = None,
    runners: RunnerTable | None = None,
    mp_context: str = "forkserver",
) -> Backend:
    """Backend by name: "serial", "pool" (default everywhere) or "dask"."""
    kinds = list(kinds or [])
    if name == "serial":
        return SerialBackend(kinds=kinds, runners=runners)
    if name == "pool":
        return PoolBackend(workers=workers, kinds=kinds, runners=runners, mp_context=mp_context)
    if name == "dask":
        require_distributed()
        return DaskBackend(scheduler=scheduler, workers=workers, processes=dask_processes,
                           kinds=kinds, runners=runners)
    raise ValueError(f"backend = {name!r} is out of range: must be 'serial', 'pool' or 'dask'")
