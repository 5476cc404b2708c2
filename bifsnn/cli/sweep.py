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
    from bifsnn.sweeps.engine import run_sweep
    from bifsnn.sweeps.spec import SweepSpecError, load_spec
    from bifsnn.sweeps.store import SweepStore, SweepStoreError

    try:
        spec = load_spec(args.spec)
    except SweepSpecError as exc:
        print(f"bifsnn sweep: invalid spec {args.spec}: {exc}", file=sys.stderr)
        return 2
    out = args.out or args.spec.with_suffix(".sweep")
    backend = args.backend
    if args.scheduler or args.local_cluster:
        backend = "dask"
    runners = {k: str(v) for k, v in _parse_assignments(args.runner, "--runner").items()}
    if args.dry_run:
        done: set[str] = set()
        if (out / "manifest.json").exists():
            try:
                done = SweepStore.open(out, spec).finished_keys()
            except SweepStoreError as exc:
                print(f"bifsnn sweep: {exc}", file=sys.stderr)
                return 2
        print(json.dumps({
            "spec": str(args.spec), "out": str(out), "dims": list(spec.dims),
            "shape": list(spec.shape), "n_points": spec.n_points,
            "n_done": len(done), "n_todo": spec.n_points - len(done),
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
    if args.plot:
        x, y = args.plot
        _plot(out, x, y, args.plot_var, _parse_assignments(args.select, "--select"),
              args.curve, out / f"map_{args.plot_var}_{x}_{y}")
    return 0 if res.n_error == 0 else 1


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


def register(subparsers: Any) -> None:
    """Add the ``sweep`` and ``sweep-map`` subcommands to the bifsnn CLI."""
    p = subparsers.add_parser(
        "sweep", help="run or resume a parameter sweep from a TOML spec",
        description="Run every point of a sweep spec (see bifsnn.sweeps.spec for the format). "
                    "Re-running with the same --out resumes: finished points are skipped.",
    )
    p.add_argument("spec", type=Path, help="sweep spec TOML file")
    p.add_argument("--out", type=Path,
                   help="results directory (default: SPEC.sweep next to the spec)")
    p.add_argument("--backend", choices=("pool", "serial", "dask"), default="pool",
                   help="execution backend (default: local process pool over every core)")
    p.add_argument("--workers", type=int, help="pool processes / LocalCluster workers "
                   "(default: every core)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on this dask.distributed scheduler (implies --backend dask)")
    p.add_argument("--local-cluster", action="store_true",
                   help="start a dask LocalCluster (implies --backend dask)")
    p.add_argument("--threads", action="store_true",
                   help="LocalCluster workers as threads (processes=False)")
    p.add_argument("--runner", action="append", default=[], metavar="KIND=MODULE:FUNCTION",
                   help="override the point function of a model kind")
    p.add_argument("--retry-failed", action="store_true", help="recompute failed points")
    p.add_argument("--max-points", type=int, help="stop after this many new points")
    p.add_argument("--dry-run", action="store_true",
                   help="validate the spec and print point counts without running")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--plot", nargs=2, metavar=("X", "Y"),
                   help="after the run, draw a map of --plot-var over dimensions X and Y")
    p.add_argument("--plot-var", default="regime", help="variable to map (default: regime)")
    p.add_argument("--select", action="append", default=[], metavar="DIM=VALUE",
                   help="fix another dimension for the map")
    p.add_argument("--curve", action="append", default=[], type=Path,
                   help="overlay (x, y) points from a .npy/.csv/.txt file (repeatable)")
    p.set_defaults(func=_cmd_sweep)

    m = subparsers.add_parser("sweep-map", help="plot a regime map from a sweep directory")
    m.add_argument("dir", type=Path, help="sweep results directory")
    m.add_argument("--x", required=True, help="dimension on the x axis")
    m.add_argument("--y", help="dimension on the y axis (not for --var delta_m_hist)")
    m.add_argument("--var", default="regime",
                   help="variable to map (default: regime); delta_m_hist draws the Delta m "
                        "histogram against --x (simulation-side bifurcation diagram)")
    m.add_argument("--select", action="append", default=[], metavar="DIM=VALUE",
                   help="fix another dimension")
    m.add_argument("--curve", action="append", default=[], type=Path,
                   help="overlay (x, y) points from a .npy/.csv/.txt file (repeatable)")
    m.add_argument("--out", type=Path, help="output path stem (.png and .pdf are written)")
    m.set_defaults(func=_cmd_sweep_map)
