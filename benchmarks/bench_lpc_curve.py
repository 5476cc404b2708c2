"""Benchmark: CPU time per step of a fold-of-cycles (LPC) curve on the reduced network ODE.

The cycles born at the subcritical Hopf point two rows from the Bautin point (0.6956, 1.7279)
of the Hopf curve in (p_EI, tau_EE) are continued in p_EI to their fold (computed once, or
read from ``--cache``); the fold is then continued in (p_EI, tau_EE) for ``--steps`` steps
(ds 1, ds_max 50, ntst 20, codim-2 tests on) with each of the settings below, in one process,
and the process CPU time per step is reported with its ratio to the new default:

* ``previous``: dense df/dx pattern in the collocation Jacobian, dense borders (v, w) in the
  bordered matrix of g, one sparse LU of the whole bordered Newton matrix per iteration;
* ``sparsity``: df/dx's pattern detected from the cycle, the rest as before;
* ``borders``: plus borders restricted to the boundary rows / first-node columns;
* ``default``: plus the Newton systems solved by block elimination with g's LU.

Every setting must give the same curve points (checked to 1e-8 relative).

Usage: python benchmarks/bench_lpc_curve.py [--steps 4] [--cache /tmp/lpcnet]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from bifsnn.continuation import Collocation, ContinuationOptions, load_branch, save_branch
from bifsnn.continuation.linalg import blas_single_thread
from bifsnn.continuation.periodic import codim2_cycles, continue_lpc
from bifsnn.network.params import NetworkParams
from bifsnn.reduction import network_problem


def _cycles(cache: Path):
    """The cycle branch from the Hopf curve's row next to the first GH point, to its fold."""
    start = network_problem(NetworkParams(), "p_EI")
    pr = start.problem
    path = cache / "bench_lpc_cycles.h5"
    if path.exists():
        return load_branch(path, problem=pr)
    from bifsnn.continuation import continue_equilibria, continue_hopf

    eq = continue_equilibria(pr, start.options(p_min=0.3, p_max=1.0, max_steps=1000))
    h = min(eq.points("H"), key=lambda s: abs(s.param - 0.7045))
    hc = continue_hopf(eq, h, "tau_EE", start.options(
        ds_frac=0.005, ds_max_frac=0.1, max_steps=200, p_min=0.3, p_max=1.0,
        bounds={"tau_EE": (1.0, 4.0)}, both_sides=True))
    g = min(hc.points("GH"), key=lambda s: abs(s.p[0] - 0.6956))
    po = codim2_cycles._cycles_from_hopf_row(
        hc, g.index + 2, ContinuationOptions(ds=1.0, ds_max=50.0), Collocation(ntst=20), 200,
        cycle_options=ContinuationOptions(ds=0.02, ds_max=0.2, max_steps=150))
    cache.mkdir(parents=True, exist_ok=True)
    save_branch(po, path)
    return po


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print one line per setting."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/bifsnn_bench_lpc"))
    ap.add_argument("--settings", nargs="+",
                    default=["previous", "sparsity", "borders", "default"])
    args = ap.parse_args(argv)
    po = _cycles(args.cache)
    fold = [s for s in po.points("LPC") if s.located][0]
    opts = ContinuationOptions(ds=1.0, ds_max=50.0, max_steps=args.steps,
                               detect_bifurcations=False, p_min=0.3, p_max=1.0,
                               bounds={"tau_EE": (1.0, 4.0)})
    dense = po.collocation.with_(detect_sparsity=False) if po.collocation else \
        Collocation(ntst=20, detect_sparsity=False)
    sparse_ = po.collocation or Collocation(ntst=20)
    conf = {"previous": (dense, np.inf, False), "sparsity": (sparse_, np.inf, False),
            "borders": (sparse_, 0.05, False), "default": (sparse_, 0.05, True)}
    out = {}
    for name in args.settings:
        coll, border_min, block = conf[name]
        po.collocation = coll
        codim2_cycles._Augmented.SPARSE_BORDER_MIN = border_min
        codim2_cycles.BLOCK_ELIMINATION = block
        c0 = time.process_time()
        with blas_single_thread():
            cur = continue_lpc(po, fold, "tau_EE", opts)
        cpu = time.process_time() - c0
        out[name] = (cpu / max(len(cur) - 1, 1), cur)
    ref = out.get("default", next(iter(out.values())))
    for name, (per, cur) in out.items():
        dev = np.max(np.abs(cur.params - ref[1].params) / np.maximum(np.abs(ref[1].params), 1))
        print(f"{name:9s} {len(cur) - 1} steps, {per:7.2f} s CPU per step, "
              f"{per / ref[0]:5.2f}x default, max rel. deviation of the params {dev:.1e}")
        if len(cur) != len(ref[1]) or dev > 1e-8:
            print(f"  {name}: curve differs from the default", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
