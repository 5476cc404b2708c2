"""``bifsnn sweep spec.toml`` (run or resume a sweep) and ``bifsnn sweep-map DIR`` (plot)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def _parse_assignments(items: list[str], flag: str) -> dict[str, Any]:
    import tomllib

    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"bifsnn: error: {flag} expects NAME=VALUE, got {item!r}")
        name, raw = (s.strip() for s in item.split("=", 1))
        try:
            out[name] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            out[name] = raw  # bare strings, e.g. a model kind or a module:function
    return out


def _cmd_sweep(args: argparse.Namespace) -> int:
    import warnings

    from bifsnn.cli.common import CliError, check_output_location
    from bifsnn.sweeps.engine import run_sweep
    from bifsnn.sweeps.runners import check_runners, validate_point_options
    from bifsnn.sweeps.spec import SweepSpecError, load_spec
    from bifsnn.sweeps.store import SweepStore, SweepStoreError

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            spec = load_spec(args.spec)
    except SweepSpecError as exc:
        print(f"bifsnn sweep: error: invalid spec {args.spec}: {exc}", file=sys.stderr)
        return 2
    for w in caught:
        print(f"bifsnn sweep: warning: {w.message}", file=sys.stderr)
    out = args.out or args.spec.with_suffix(".sweep")
    check_output_location(out, argument="--out")
    if args.plot:
        x, y = args.plot
        dims = (*spec.dims, *spec.list_coords())
        for axis in (x, y):
            if axis not in dims:
                raise CliError("--plot", f"{axis!r} is not a dimension of this sweep "
                               f"(dimensions: {list(spec.dims)})")
        if x == y:
            raise CliError("--plot", "X and Y must be different dimensions")
        from bifsnn.sweeps.store import require_xarray

        try:
            require_xarray()
        except ImportError as exc:
            raise CliError("--plot", str(exc)) from None
    backend = args.backend
    if args.scheduler or args.local_cluster:
        backend = "dask"
    runners = {k: str(v) for k, v in _parse_assignments(args.runner, "--runner").items()}
    try:
        check_runners(sorted({p.model for p in spec.sample_points()}), runners or None)
        validate_point_options(spec.sample_points(), runners or None)
    except (ImportError, ValueError) as exc:
        print(f"bifsnn sweep: error: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        n_done = 0
        if (out / "manifest.json").exists():
            try:
                n_done = len(SweepStore.open(out, spec).finished_keys())
            except SweepStoreError as exc:
                print(f"bifsnn sweep: error: {exc}", file=sys.stderr)
                return 2
        print(json.dumps({
            "spec": str(args.spec), "out": str(out), "dims": list(spec.dims),
            "shape": list(spec.shape), "n_points": spec.n_points,
            "n_done": n_done, "n_todo": spec.n_points - n_done,
        }))
        return 0
    try:
        res = run_sweep(
            spec, out, backend=backend, workers=args.workers, scheduler=args.scheduler,
            dask_processes=not args.threads, runners=runners or None,
            progress=not args.no_progress, retry_failed=args.retry_failed,
            max_points=args.max_points,
        )
    except (SweepSpecError, SweepStoreError, ImportError) as exc:
        print(f"bifsnn sweep: error: {exc}", file=sys.stderr)
        return 2
    print(f"{res.message}; ran {res.n_run} points ({res.n_error} failed), skipped "
          f"{res.n_skipped} already done, {res.elapsed_s:.1f} s on {res.backend} "
          f"({res.workers} workers), {res.points_per_minute:.1f} points/min; results in "
          f"{res.path}")
    _print_failures(SweepStore.open(out))
    if args.plot:
        x, y = args.plot
        _plot(out, x, y, args.plot_var, _parse_assignments(args.select, "--select"),
              args.curve, out / f"map_{args.plot_var}_{x}_{y}")
    return 0 if res.n_error == 0 else 1


#: At most this many failed points are listed at the end of a sweep (all are in the store).
_MAX_FAILURES_SHOWN = 10


def _print_failures(store: Any) -> None:
    """List the failed points of the store (key, coordinates, first line of the error)."""
    failed = [r for r in store.iter_records() if r.get("status") != "ok"]
    if not failed:
        return
    print(f"{len(failed)} failed point(s) in {store.path} (rerun with --retry-failed to "
          "recompute them):", file=sys.stderr)
    for rec in failed[:_MAX_FAILURES_SHOWN]:
        coords = ", ".join(f"{k}={v!r}" for k, v in rec.get("coords", {}).items())
        reason = (rec.get("error") or "no message").strip().splitlines()[0]
        print(f"  {rec.get('key')} ({coords}): {reason}", file=sys.stderr)
    if len(failed) > _MAX_FAILURES_SHOWN:
        print(f"  ... and {len(failed) - _MAX_FAILURES_SHOWN} more (their records are in "
              f"{store.points_dir})", file=sys.stderr)


def _load_curve(path: Path) -> Any:
    import numpy as np

    if path.suffix == ".npy":
        return np.load(path)
    return np.loadtxt(path, delimiter="," if path.suffix == ".csv" else None, ndmin=2)


def _plot(store_dir: Path, x: str, y: str, var: str, select: dict[str, Any],
          curves: list[Path], out: Path) -> None:
    from bifsnn.sweeps.plot import plot_regime_map
    from bifsnn.sweeps.store import load_sweep

    ds = load_sweep(store_dir)
    curve_map = {p.stem: _load_curve(p) for p in curves} if curves else None
    m = plot_regime_map(ds, x, y, var, select=select or None, curves=curve_map, out=out)
    print("wrote " + ", ".join(str(p) for p in m.paths))


def _cmd_sweep_map(args: argparse.Namespace) -> int:
    from bifsnn.sweeps.store import SweepStoreError

    select = _parse_assignments(args.select, "--select")
    try:
        if args.var == "delta_m_hist":
            from bifsnn.sweeps.plot import plot_delta_m_diagram
            from bifsnn.sweeps.store import load_sweep

            m = plot_delta_m_diagram(load_sweep(args.dir), args.x, select=select or None,
                                     out=args.out or args.dir / f"delta_m_vs_{args.x}")
            print("wrote " + ", ".join(str(p) for p in m.paths))
            return 0
        if args.y is None:
            raise ValueError("--y is required (except for --var delta_m_hist)")
        _plot(args.dir, args.x, args.y, args.var, select,
              args.curve, args.out or args.dir / f"map_{args.var}_{args.x}_{args.y}")
    except (ValueError, SweepStoreError, ImportError) as exc:
        print(f"bifsnn sweep-map: error: {exc}", file=sys.stderr)
        return 2
    return 0


_SPEC_HELP = """\
Spec format (TOML; every key is optional except [grid] or [[points]]):

    name = "pEI-tauEE"
    model = "snn"            # snn, markov, map or ode
    t_ms = 1000.0            # model time per point, ms
    seeds = [0, 1]           # every point is run once per seed
    transient_ms = 100.0     # excluded from the observables
    observables = ["rates", "ssi", "spectral_peak", "delta_m", "regime"]
    keep_spikes = false      # also store each point's result file
    [base]                   # network parameters shared by all points
    N_E = 300
    [grid]                   # cartesian axes: parameters (see 'bifsnn params'), model,
    p_EI = [0.5, 0.6, 0.7]   # t_ms or scale; duplicate values are removed
    tau_EE = { start = 1.0, stop = 2.0, num = 5 }
    [options.snn]            # keyword arguments of the model kind's runner
    connectivity = "annealed"

Re-running with the same --out resumes (finished points are skipped); one sweep at a time
runs in a store (a second one started on it stops with an error).
"""


def register(subparsers: Any) -> None:
    """Add the ``sweep`` and ``sweep-map`` subcommands to the bifsnn CLI."""
    from bifsnn.cli.common import nonneg_int, positive_int

    p = subparsers.add_parser(
        "sweep", help="run or resume a parameter sweep from a TOML spec",
        description="Run every point of a sweep spec into a results store; the spec, the "
        "runner options, --out and --plot are checked before any point runs.",
        epilog=_SPEC_HELP,
    )
    p.add_argument("spec", type=Path, help="sweep spec TOML file (format below)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="results directory (default: SPEC.sweep next to the spec); an existing "
                   "store of the same spec is resumed")
    p.add_argument("--backend", choices=("pool", "serial", "dask"), default="pool",
                   help="execution backend: a local process pool, one process, or Dask")
    p.add_argument("--workers", type=positive_int,
                   help="pool processes / LocalCluster workers (default: every core)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on this dask.distributed scheduler (implies --backend dask; "
                   "needs the [sweep] extra)")
    p.add_argument("--local-cluster", action="store_true",
                   help="start a dask LocalCluster (implies --backend dask; needs the [sweep] "
                   "extra)")
    p.add_argument("--threads", action="store_true",
                   help="LocalCluster workers as threads (processes=False)")
    p.add_argument("--runner", action="append", default=[], metavar="KIND=MODULE:FUNCTION",
                   help="override the point function of a model kind (repeatable)")
    p.add_argument("--retry-failed", action="store_true",
                   help="recompute points whose record is a failure")
    p.add_argument("--max-points", type=nonneg_int,
                   help="stop after this many new points (default: no limit)")
    p.add_argument("--dry-run", action="store_true",
                   help="check the spec, runner options, --out and --plot and print point "
                   "counts as JSON, without running")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--plot", nargs=2, metavar=("X", "Y"),
                   help="after the run, draw a map of --plot-var over dimensions X and Y "
                   "(needs the [sweep] extra)")
    p.add_argument("--plot-var", default="regime",
                   help="variable to map, e.g. regime, rate_e_hz, ssi_e")
    p.add_argument("--select", action="append", default=[], metavar="DIM=VALUE",
                   help="fix another dimension for the map (repeatable)")
    p.add_argument("--curve", action="append", default=[], type=Path,
                   help="overlay (x, y) points from a .npy/.csv/.txt file (repeatable)")
    p.set_defaults(func=_cmd_sweep)

    m = subparsers.add_parser(
        "sweep-map", help="plot a regime map from a sweep directory",
        description="Draw a map of one variable of a sweep store over two of its dimensions "
        "(the seed may be one of them); needs the [sweep] extra (xarray).",
    )
    m.add_argument("dir", type=Path, help="sweep results directory")
    m.add_argument("--x", required=True, help="dimension on the x axis")
    m.add_argument("--y", help="dimension on the y axis (not for --var delta_m_hist)")
    m.add_argument("--var", default="regime",
                   help="variable to map; delta_m_hist draws the Delta m histogram against "
                   "--x (simulation-side bifurcation diagram)")
    m.add_argument("--select", action="append", default=[], metavar="DIM=VALUE",
                   help="fix another dimension (repeatable)")
    m.add_argument("--curve", action="append", default=[], type=Path,
                   help="overlay (x, y) points from a .npy/.csv/.txt file (repeatable)")
    m.add_argument("--out", type=Path,
                   help="output path stem; .png and .pdf are written (default: "
                   "DIR/map_VAR_X_Y)")
    m.set_defaults(func=_cmd_sweep_map)
