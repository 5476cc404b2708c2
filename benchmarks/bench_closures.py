"""Cost of the reduced model's closures against issue 11's limits, measured in one process.

For each closure of ``bifsnn.reduction.CLOSURES`` (``paper``: the published reduction;
``conditional``: per-bin conditional means of the pending input; ``coloured``: the pending
input's variance as coloured noise; ``conditional-coloured``: both) at the default parameters:

* state dimension (limit: at most 3x the paper's);
* the same for the paper's closure with bins of 2 and 1 instead of 4 (the "finer grid" option);
* right-hand side f(x) (limit 200 us), analytic Jacobian df/dx (limit 3 ms) and df/dp (all
  19 parameters), CPU time per call (best of 5 batches) at the default equilibrium;
* continuation of the equilibrium branch in p_EI over [0.3, 1.0] from the defaults, both
  directions, with the options of ``bifsnn.analysis.analyse_network`` (limit: under a
  minute), CPU seconds, and the Hopf points it finds.

CPU times, not wall times (the machine is shared); the script prints the load average and
the conditional/paper ratios, which load affects much less.  Usage::

    nice -n 10 python benchmarks/bench_closures.py [--no-continuation] [--closures paper ...]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from bifsnn import NetworkParams
from bifsnn.reduction import CLOSURES, MarkovModelDef, find_equilibrium


def _per_call(fn, x: np.ndarray, n: int) -> float:
    best = np.inf
    for _ in range(5):
        t = time.process_time()
        for _ in range(n):
            fn(x)
        best = min(best, (time.process_time() - t) / n)
    return best


#: what is measured: the closures, and the paper's closure on grids of a half and a quarter
#: of the bin width
VARIANTS = {c: {"closure": c} for c in CLOSURES} | {
    f"paper, dv {dv:g}": {"closure": "paper", "dv": dv} for dv in (2.0, 1.0)}


def measure(variant: str, continuation: bool) -> dict[str, float]:
    d = MarkovModelDef(**VARIANTS[variant])
    m = d.compile()
    eq = find_equilibrium(m)
    x = eq.x
    m.rhs(x), m.jacobian(x), m.dfdp_all(x)  # compile
    out = {
        "n_state": d.n_state,
        "rhs_us": 1e6 * _per_call(m.rhs, x, 2000),
        "jac_ms": 1e3 * _per_call(m.jacobian, x, 100),
        "dfdp_ms": 1e3 * _per_call(m.dfdp_all, x, 50),
        "rate_e_hz": eq.rate_e_hz,
    }
    if continuation:
        from bifsnn.continuation import ContinuationOptions, continue_equilibria

        p = NetworkParams()
        scale = p.N_E + p.N_I
        problem = m.ode_problem("p_EI", x0=x)
        t = time.process_time()
        hopf = []
        for direction in (+1, -1):
            opts = ContinuationOptions(ds=0.005 * scale, ds_max=0.05 * scale,
                                       ds_min=1e-8 * scale, p_min=0.3, p_max=1.0,
                                       max_steps=400, direction=direction)
            br = continue_equilibria(problem, opts)
            hopf += [sp.param for sp in br.special_points if sp.type == "H"]
        out["continuation_s"] = time.process_time() - t
        out["hopf_p_EI"] = sorted(round(float(h), 4) for h in set(hopf))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-continuation", action="store_true")
    ap.add_argument("--closures", nargs="+", choices=list(VARIANTS), default=list(VARIANTS),
                    help="the variants to measure (default all; 'paper' is always measured)")
    args = ap.parse_args()
    res = {c: measure(c, not args.no_continuation)
           for c in ["paper"] + [c for c in args.closures if c != "paper"]}
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; CPU times")
    for c, r in res.items():
        print(f"{c:12s} " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                      for k, v in r.items()))
    a = res["paper"]
    for name in list(res)[1:]:
        b = res[name]
        ratios = {k: b[k] / a[k] for k in ("n_state", "rhs_us", "jac_ms", "dfdp_ms",
                                            "continuation_s") if k in a}
        print(f"{name} / paper: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))


if __name__ == "__main__":
    main()
