"""The sweep driver: validate, open the store, run what is missing, record as results arrive."""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bifsnn.sweeps.backends import Backend, make_backend
from bifsnn.sweeps.runners import (
    RunnerTable,
    check_runners,
    execute_point,
    validate_point_options,
)
from bifsnn.sweeps.spec import SweepSpec, SweepSpecError, load_spec
from bifsnn.sweeps.store import SweepStore

__all__ = ["SweepRunResult", "run_sweep"]


@dataclass
class SweepRunResult:
    """Outcome of one :func:`run_sweep` call.

    ``n_skipped`` points already had a record (resumed); ``n_run`` were computed now, of which
    ``n_error`` failed (their records hold the error).  ``success`` is True when every point
    of the sweep has a successful record.
    """

    path: Path
    backend: str
    workers: int
    n_points: int
    n_skipped: int
    n_run: int
    n_ok: int
    n_error: int
    elapsed_s: float
    success: bool
    message: str

    @property
    def points_per_minute(self) -> float:
        return 60.0 * self.n_run / self.elapsed_s if self.elapsed_s > 0 else float("nan")

    def dataset(self) -> Any:
        """The whole sweep (all runs so far) as an ``xarray.Dataset``."""
        return SweepStore.open(self.path).to_dataset()


def run_sweep(
    spec: SweepSpec | str | Path | Mapping[str, Any],
    out: str | Path,
    *,
    backend: str | Backend = "pool",
    workers: int | None = None,
    scheduler: Any = None,
    dask_processes: bool = True,
    runners: RunnerTable | None = None,
    progress: bool = True,
    retry_failed: bool = False,
    mp_context: str = "forkserver",
    max_points: int | None = None,
) -> SweepRunResult:
    """Run (or resume) a sweep into the store directory ``out``.

    ``spec`` is a :class:`SweepSpec`, a TOML path or a dict.  Points already recorded in
    ``out`` are skipped (failed ones too unless ``retry_failed``).  ``backend`` is "pool"
    (default: a process per core), "serial", "dask" (``scheduler`` address/Client, or a
    LocalCluster of ``workers`` workers) or a backend object.  ``runners`` overrides the
    model-kind dispatch table (see :mod:`bifsnn.sweeps.runners`).  ``max_points`` stops after
    that many new points (for budgeted or staged runs).  Every record is written as soon as
    it arrives, so an interrupted run loses at most the points in flight.
    """
    if isinstance(spec, str | Path):
        spec = load_spec(spec)
    elif isinstance(spec, Mapping):
        spec = SweepSpec.from_dict(spec)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ValueError(f"workers = {workers!r} is out of range: must be an integer >= 1")
    if max_points is not None and (not isinstance(max_points, int) or max_points < 0):
        raise ValueError(f"max_points = {max_points!r} is out of range: must be an integer >= 0")
    points = spec.points_list()
    kinds = sorted({p.model for p in points})
    try:
        check_runners(kinds, runners)
        validate_point_options(points, runners)
    except (ImportError, ValueError) as exc:
        raise SweepSpecError(str(exc)) from exc

    if isinstance(backend, str):  # first: a missing optional extra fails before any file
        be = make_backend(backend, workers=workers, scheduler=scheduler,
                          dask_processes=dask_processes, kinds=kinds, runners=runners,
                          mp_context=mp_context)
    else:
        be = backend
    claim = SweepStore(Path(out))
    claim.acquire()  # before the manifest is read or created: one driver per store
    try:
        store = SweepStore.open(out, spec)
        return _run(spec, store, be, points, workers, runners, progress, retry_failed,
                    max_points)
    finally:
        claim.release()


def _run(spec: SweepSpec, store: SweepStore, be: Backend, points: list, workers: int | None,
         runners: RunnerTable | None, progress: bool, retry_failed: bool,
         max_points: int | None) -> SweepRunResult:
    done = store.finished_keys(include_failed=not retry_failed)
    todo = [p for p in points if p.key not in done]
    n_skipped = len(points) - len(todo)
    if max_points is not None:
        todo = todo[:max_points]
    n_workers = int(getattr(be, "workers", None) or workers or 0)

    spikes_dir = None
    if spec.keep_spikes:
        store.spikes_dir.mkdir(parents=True, exist_ok=True)
        spikes_dir = str(store.spikes_dir)
    fn = functools.partial(
        execute_point,
        runners=runners,
        transient_ms=spec.transient_ms,
        observables=tuple(spec.observables),
        classifier=dict(spec.classifier),
        spikes_dir=spikes_dir,
    )

    from tqdm.auto import tqdm

    n_ok = n_err = 0
    t0 = time.perf_counter()
    interrupted = False
    bar = tqdm(total=len(points), initial=n_skipped, unit="pt", desc=f"sweep[{be.name}]",
               disable=not progress, dynamic_ncols=True, smoothing=0.1)
    try:
        if todo:
            for rec in be.run(fn, todo):
                store.write(rec)
                if rec.get("status") == "ok":
                    n_ok += 1
                else:
                    n_err += 1
                bar.update(1)
                bar.set_postfix(failed=n_err, refresh=False)
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        bar.close()
        elapsed = time.perf_counter() - t0
        store.log_run({
            "backend": be.name, "workers": n_workers, "n_todo": len(todo),
            "n_skipped": n_skipped, "n_ok": n_ok, "n_error": n_err,
            "elapsed_s": round(elapsed, 3), "interrupted": interrupted,
        })
    n_good = len(store.finished_keys(include_failed=False))
    success = n_good == len(points)
    if success:
        message = f"all {len(points)} points done"
    else:
        missing = len(points) - len(store.finished_keys())
        message = (f"{n_good}/{len(points)} points successful; "
                   f"{len(store.finished_keys()) - n_good} failed, {missing} not run yet")
    return SweepRunResult(
        path=store.path, backend=be.name, workers=n_workers, n_points=len(points),
        n_skipped=n_skipped, n_run=n_ok + n_err, n_ok=n_ok, n_error=n_err,
        elapsed_s=elapsed, success=success, message=message,
    )
