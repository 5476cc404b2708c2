"""Benchmark: time per equilibrium-continuation step against state dimension, dense vs sparse.

Problem: the 1-D reaction-diffusion Brusselator of ``auto_peer.py`` (n = 2 m unknowns,
a = 2, d1 = 0.008, d2 = 0.004), homogeneous branch continued in b over [4.8, 5.6] with a
fixed step 0.02 (40 steps), eigenvalues counted at every step and every Hopf crossing
located.  Its Hopf values are known in closed form, so every run is also checked.

Columns, per n:

* ``dense``: Jacobian as a dense array (dense LU, LAPACK eigenvalues);
* ``sparse``: Jacobian as scipy CSC (SuperLU; eigenvalues dense while n <= 400, the
  default ``dense_eig_max``);
* ``arpack``: sparse Jacobian and sparse eigenvalues (Cayley transform + ARPACK), the path
  used automatically above n = 400;
* ``no-eig``: sparse, bifurcation detection off (the pure predictor-corrector cost);
* ``AUTO``: AUTO-07p (through ``bifsnn``'s peer runner ``auto_peer.py`` and the optional
  ``bifpy`` package) on the same problem with the same step and tolerances, per-step time
  by difference of a 60-step (stopped at b = 5.6) and a 10-step run (start-up excluded),
  and the ratio AUTO / bifsnn-sparse;
* ``#H``: Hopf points located (bifsnn: -1 if the three runs disagree with the exact count;
  AUTO: as found), ``H err``: largest |b_H - exact| over them.

Run::

    python benchmarks/bench_continuation_equilibria.py            # n = 4 10 20 50 100 200 300
    python benchmarks/bench_continuation_equilibria.py --n 4 50 --no-auto
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import auto_peer  # noqa: E402  (pure-numpy model functions; AUTO itself is optional)

from bifsnn.continuation import ContinuationOptions, ODEProblem, continue_equilibria  # noqa: E402

CFG = auto_peer.Brusselator1DConfig()
DS = 0.02


def problem(n: int, sparse: bool) -> ODEProblem:
    u0 = np.empty(n)
    u0[0::2] = CFG.a
    u0[1::2] = CFG.b_start / CFG.a
    if sparse:
        dfdx = auto_peer.brusselator_1d_jac_sparse
    else:
        def dfdx(u, p):
            return auto_peer.brusselator_1d_jac(u, p)[0]
    return ODEProblem(auto_peer.brusselator_1d_rhs, u0, [CFG.a, CFG.b_start, CFG.d1, CFG.d2],
                      param=1, dfdx=dfdx, param_names=("a", "b", "d1", "d2"))


def exact_hopf(n: int) -> np.ndarray:
    out = []
    for k in range(1, n // 2 + 1):
        b = auto_peer.brusselator_1d_hopf_b(n, CFG.a, CFG.d1, CFG.d2, k)
        q = (b - 1 - CFG.a**2) / (CFG.d1 + CFG.d2)
        if CFG.a**2 * b > (CFG.a**2 + CFG.d2 * q) ** 2 and CFG.b_start < b < CFG.b_end:
            out.append(b)
    return np.array(out)


def run_bifsnn(n: int, sparse: bool, eig_method: str = "auto", detect: bool = True):
    opts = ContinuationOptions(ds=DS, ds_min=1e-6, ds_max=DS, p_max=CFG.b_end, max_steps=1000,
                               newton_tol=1e-9, eig_method=eig_method,
                               detect_bifurcations=detect, max_angle=None)
    pr = problem(n, sparse)
    t0 = time.perf_counter()
    c0 = time.process_time()
    br = continue_equilibria(pr, opts)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    steps = len(br) - 1 - len(br.points("H")) - len(br.points("LP")) - len(br.points("BP"))
    hs = np.array([h.param for h in br.points("H")])
    return wall / max(steps, 1), cpu / max(steps, 1), hs, br


def hopf_error(found: np.ndarray, exact: np.ndarray) -> float:
    """Largest distance from a found Hopf value to the nearest exact one (NaN if none)."""
    if len(found) == 0 or len(exact) == 0:
        return float("nan")
    return float(max(np.min(np.abs(exact - f)) for f in found))


def run_auto(n: int):
    s = auto_peer.AutoSettings(ds=DS, dsmin=1e-6, dsmax=DS, iad=0, epsl=1e-9, epsu=1e-9,
                               epss=1e-7)
    eq, _ = auto_peer.run_brusselator_1d(n, s, eq_steps=60, eq_baseline_steps=10,
                                         do_cycles=False)
    hs = np.array([p.parameter for p in eq.points_of("HB")])
    return eq.timing.time_per_step_s, hs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="*", default=[4, 10, 20, 50, 100, 200, 300])
    ap.add_argument("--no-auto", action="store_true", help="skip the AUTO-07p peer")
    args = ap.parse_args(argv)
    use_auto = not args.no_auto and auto_peer.auto_available()
    if not args.no_auto and not use_auto:
        print("AUTO-07p peer unavailable (pip install bifpy): bifsnn columns only")
    head = (f"{'n':>5} {'dense':>9} {'sparse':>9} {'arpack':>9} {'no-eig':>9} "
            f"{'#H':>3} {'H err':>9}")
    if use_auto:
        head += f" {'AUTO':>9} {'AUTO/sp':>8} {'#H':>3} {'AUTO Herr':>10}"
    print("time per continuation step, ms (wall); H err = max |b_H - exact|")
    print(head)
    for n in args.n:
        exact = exact_hopf(n)
        t_dense, _, h_dense, _ = run_bifsnn(n, sparse=False)
        t_sparse, _, h_sparse, _ = run_bifsnn(n, sparse=True)
        t_arpack, _, h_arpack, _ = (run_bifsnn(n, True, "sparse") if n >= 16
                                    else (np.nan, np.nan, h_sparse, None))
        t_noeig, _, _, _ = run_bifsnn(n, sparse=True, detect=False)
        runs = (h_dense, h_sparse, h_arpack)
        err = max(hopf_error(h, exact) for h in runs)
        n_h = len(h_sparse) if all(len(h) == len(exact) for h in runs) else -1
        line = (f"{n:5d} {t_dense * 1e3:9.2f} {t_sparse * 1e3:9.2f} {t_arpack * 1e3:9.2f} "
                f"{t_noeig * 1e3:9.2f} {n_h:3d} {err:9.1e}")
        if use_auto:
            try:
                t_auto, h_auto = run_auto(n)
                line += (f" {t_auto * 1e3:9.2f} {t_auto / t_sparse:8.2f} {len(h_auto):3d} "
                         f"{hopf_error(h_auto, exact):10.1e}")
            except Exception as exc:  # the peer is optional: report and go on
                line += f"  AUTO failed: {type(exc).__name__}: {exc}"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
