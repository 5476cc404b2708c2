"""Sweep throughput: serial vs process pool (1, 2 workers) vs Dask LocalCluster (2 workers).

Runs the same small-SNN sweep (default: network scaled to 0.5 x (300, 100), 500 ms per
point, 6 values of p_EI x 4 seeds = 24 points) on every backend into fresh directories and
prints a table: wall time, points per minute, mean in-worker compute time per point, and
per-point overhead = (wall time x workers - total compute time) / points, i.e. the worker
time not spent simulating (start-up, JIT warm-up, scheduling, result transfer, store writes);
start-up = time until the first record is written minus that point's compute time.
The forkserver that the pool forks its workers from is started once before timing (a
one-point pool run); Dask starts a fresh LocalCluster (processes) inside its timing.

    python benchmarks/bench_sweeps.py [--points-per-seed 6] [--seeds 4] [--t-ms 500]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bifsnn.network.params import NetworkParams
from bifsnn.sweeps import SweepSpec, run_sweep


def _spec(n_p: int, n_seeds: int, t_ms: float, scale: float) -> SweepSpec:
    small = NetworkParams().scaled(scale)
    base = {k: getattr(small, k) for k in ("N_E", "N_I", "S_EE", "S_IE", "S_EI", "S_II")}
    return SweepSpec(grid={"p_EI": [float(x) for x in np.linspace(0.5, 1.0, n_p)]},
                     seeds=list(range(n_seeds)), t_ms=t_ms, base=base)


def _measure(name: str, spec: SweepSpec, root: Path, **kw) -> dict:
    out = root / name.replace(" ", "_")
    t0_wall = time.time()
    t0 = time.perf_counter()
    res = run_sweep(spec, out, progress=False, **kw)
    wall = time.perf_counter() - t0
    files = list((out / "points").glob("p*.json"))
    recs = [json.loads(p.read_text()) for p in files]
    compute = float(np.sum([r["elapsed_s"] for r in recs]))
    workers = max(res.workers, 1)
    # start-up: until the first record was written, minus that point's own compute time
    first = min(files, key=lambda p: p.stat().st_mtime)
    startup = first.stat().st_mtime - t0_wall - json.loads(first.read_text())["elapsed_s"]
    return {
        "startup_s": startup,
        "backend": name, "workers": workers, "points": res.n_run, "failed": res.n_error,
        "wall_s": wall, "points_per_min": 60.0 * res.n_run / wall,
        "compute_per_point_s": compute / max(res.n_run, 1),
        "overhead_per_point_s": (wall * workers - compute) / max(res.n_run, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points-per-seed", type=int, default=6)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--t-ms", type=float, default=500.0)
    ap.add_argument("--scale", type=float, default=0.5)
    args = ap.parse_args()
    spec = _spec(args.points_per_seed, args.seeds, args.t_ms, args.scale)
    p0 = spec.points_list()[0].params
    print(f"sweep: {spec.n_points} SNN points, N_E={p0.N_E}, N_I={p0.N_I}, "
          f"t_ms={args.t_ms}; cores={os.cpu_count()}, load average before: "
          f"{os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        warm = SweepSpec(grid={"p_EI": [0.5]}, seeds=[0], t_ms=150.0, base=spec.base)
        run_sweep(warm, root / "warm", backend="pool", workers=1, progress=False)
        rows = [
            _measure("serial", spec, root, backend="serial"),
            _measure("pool 1", spec, root, backend="pool", workers=1),
            _measure("pool 2", spec, root, backend="pool", workers=2),
            _measure("dask 2", spec, root, backend="dask", workers=2, dask_processes=True),
        ]
    print(f"{'backend':<8} {'workers':>7} {'points':>6} {'wall s':>7} {'pts/min':>8} "
          f"{'compute/pt s':>12} {'overhead/pt s':>13} {'start-up s':>10}")
    for r in rows:
        print(f"{r['backend']:<8} {r['workers']:>7} {r['points']:>6} {r['wall_s']:>7.2f} "
              f"{r['points_per_min']:>8.0f} {r['compute_per_point_s']:>12.3f} "
              f"{r['overhead_per_point_s']:>13.3f} {r['startup_s']:>10.2f}")
    print(f"load average after: {os.getloadavg()[0]:.1f} (shared machine: numbers are noisy)")


if __name__ == "__main__":
    main()
