"""Benchmark: cost of one cycle-continuation step versus state dimension n and mesh size.

Problem: the 1-D reaction-diffusion Brusselator of ``benchmarks/auto_peer.py`` (problem (c):
n = 2m interior unknowns, Dirichlet, banded sparse Jacobian), cycles continued in b from its
first Hopf point with ``bifsnn.continuation.periodic`` (collocation degree 4, sparse LU).

For every (n, ntst) the script starts at the Hopf point, takes ``--warmup`` steps, then times
``--steps`` steps (wall and process CPU time; each step = predictor, Newton corrector, tangent,
Floquet multipliers, mesh adaptation) and, separately, one Newton iteration (Jacobian
assembly + SuperLU factorisation + solve) and one Floquet computation. Timings are minima
over ``--repeats`` runs (the machine is shared). With ``--auto`` and bifpy installed, AUTO-07p
(via auto_peer.run_brusselator_1d, same NTST/NCOL, differential per-step timing) is run for
the sizes in ``--auto-sizes``.

With ``--network`` the reduced network ODE (148 variables, default NetworkParams, smooth bin
rule) is timed instead: cycles continued in p_EI from the Hopf point near 0.9596 at
ntst = ``--network-ntst`` (default 20 40 60). The time per step is differential (a run of
warmup + steps minus a run of warmup steps, both from the Hopf start) so that set-up, the
start's Floquet multipliers and the first tangent are not counted. ``--compare`` also times the
previous corrector (full Newton, one MMD ordering per LU) in the same process;
``--compare-reuse`` alternates a new LU at every predictor with factorisations carried across
steps (``Collocation(reuse_lu=False/True)``).

Usage: python benchmarks/bench_continuation_cycles.py [--sizes 4 20 50 100 200 300]
       [--ntst 20 50 100] [--steps 3] [--auto] [--json out.json]
       python benchmarks/bench_continuation_cycles.py --network [--network-ntst 20 40 60]
       [--steps 4] [--compare]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bifsnn.continuation import ContinuationOptions  # noqa: E402
from bifsnn.continuation.linalg import sparse_lu  # noqa: E402
from bifsnn.continuation.periodic import (  # noqa: E402
    CYCLE_DEFAULTS,
    Collocation,
    CollocationOperator,
    CycleSystem,
    continue_cycles,
    continue_cycles_from_orbit,
    cycle_from_hopf,
    floquet_from_jacobian,
)

A_, D1, D2 = 2.0, 0.008, 0.004


def brusselator_1d_system(n: int) -> tuple[CycleSystem, np.ndarray, float, np.ndarray]:
    """CycleSystem for auto_peer's 1-D Brusselator, continued in b; Hopf data (x, b, q)."""
    import auto_peer as ap

    m = n // 2
    p0 = np.array([A_, 5.0, D1, D2])
    sys_ = CycleSystem(
        ap.brusselator_1d_rhs, n, dfdx=ap.brusselator_1d_jac_sparse, params=p0, ipar=1,
        vectorized=True, jac_sparsity=ap.brusselator_1d_sparsity(n),
    )
    bH = ap.brusselator_1d_hopf_b(n, A_, D1, D2, k=1)
    x = np.empty(n)
    x[0::2] = A_
    x[1::2] = bH / A_
    J = sys_.jac(x, bH)
    lam, V = np.linalg.eig(J)
    k = int(np.argmin(np.abs(lam.real) + 1e3 * (lam.imag <= 0)))
    assert abs(lam[k].real) < 1e-8 * max(1, m), lam[k]
    return sys_, x, bH, (lam[k].imag, V[:, k])


def time_case(n: int, ntst: int, steps: int, warmup: int, repeats: int) -> dict:
    sys_, x, bH, (omega, q) = brusselator_1d_system(n)
    start = cycle_from_hopf(sys_, x, bH, omega, q, ntst=ntst, ncol=4)
    disc = Collocation(ntst=ntst, ncol=4)
    best: dict = {}
    for _ in range(repeats):
        br = continue_cycles_from_orbit(sys_, start, _opts(ds=0.02, max_steps=warmup), disc)
        pt = br.cycle(-1)
        w0, c0 = time.perf_counter(), time.process_time()
        br2 = continue_cycles(br, -1, _opts(ds=0.02, max_steps=steps))
        wall = (time.perf_counter() - w0) / steps
        cpu = (time.process_time() - c0) / steps
        assert len(br2) >= steps, br2.message
        coll = CollocationOperator(sys_, pt.tm, 4)
        Fref = coll.phase_reference(pt.U, pt.T, pt.p)
        w0 = time.perf_counter()
        A = coll.jacobian(pt.U, pt.T, pt.p, Fref)
        t_jac = time.perf_counter() - w0
        w0 = time.perf_counter()
        lu = sparse_lu(A)
        lu.solve(np.ones(A.shape[0]))
        t_lu = time.perf_counter() - w0
        w0 = time.perf_counter()
        fl = floquet_from_jacobian(A, coll)
        t_fl = time.perf_counter() - w0
        row = {
            "n": n, "ntst": ntst, "unknowns": A.shape[0], "nnz_jac": int(A.nnz),
            "nnz_lu": int(lu.L.nnz + lu.U.nnz), "step_wall_s": wall, "step_cpu_s": cpu,
            "newton_iter_s": t_jac + t_lu, "assembly_s": t_jac, "lu_solve_s": t_lu,
            "floquet_s": t_fl, "trivial_mult_err": fl.trivial_error, "b_end": br2.param_values[-1],
            "period": br2.period[-1],
        }
        for k, v in row.items():
            if k.endswith("_s"):
                best[k] = min(best.get(k, np.inf), v)
            else:
                best[k] = v
    return best


def auto_case(n: int, ntst: int) -> dict | None:
    import auto_peer as ap

    if not ap.auto_available():
        return None
    settings = ap.AutoSettings(ds=0.02, dsmax=0.05, iad=3, ntst=ntst, ncol=4)
    _, cyc = ap.run_brusselator_1d(n, settings, cycle_steps=4, cycle_baseline_steps=1)
    if cyc is None or cyc.timing is None:
        return None
    return {"n": n, "ntst": ntst, "auto_step_wall_s": cyc.timing.time_per_step_s,
            "auto_step_cpu_s": cyc.timing.cpu_per_step_s, "auto_success": cyc.success}


def _opts(**kw) -> ContinuationOptions:
    """Cycle continuation options: the cycle defaults with some fields changed."""
    return ContinuationOptions(**{**CYCLE_DEFAULTS, **kw})


def network_hopf_start():
    """Equilibrium branch of the reduced network ODE in p_EI and its Hopf point near 0.96."""
    from bifsnn import NetworkParams
    from bifsnn.continuation import continue_equilibria
    from bifsnn.reduction import network_problem

    start = network_problem(NetworkParams().replace(p_EI=1.0), "p_EI")
    br = continue_equilibria(start.problem, start.options(ds_max_frac=0.05, p_min=0.9,
                                                          p_max=1.0, direction=-1))
    return br, br.points("H")[0]


def network_case(eq, hopf, ntst: int, steps: int, warmup: int, fast: bool = True,
                 reuse_lu: bool = False) -> dict:
    """Differential wall/CPU time per cycle step on the reduced network ODE."""
    from bifsnn.continuation import linalg as colmod

    disc = Collocation(ntst=ntst, ncol=4, newton_chord=fast, reuse_lu=reuse_lu)
    colmod.REUSE_ORDERING = fast
    try:
        out = {}
        for nst in (warmup, warmup + steps):
            w0, c0 = time.perf_counter(), time.process_time()
            br = continue_cycles(eq, hopf, _opts(p_min=0.9, p_max=1.0, max_steps=nst), disc)
            out[nst] = (time.perf_counter() - w0, time.process_time() - c0, br)
    finally:
        colmod.REUSE_ORDERING = True
    br = out[warmup + steps][2]
    assert len(br) >= warmup + steps, br.message
    mu = br.multipliers[-1]
    last = br.cycle(len(br) - 1)
    from bifsnn.continuation.periodic.cycles import cycle_system

    sys_ = cycle_system(eq.problem, hopf.p, hopf.param_indices[0])
    sys_ = sys_.with_sparsity(sys_.detect_sparsity(last.U, last.p))  # as the stepper does
    return {
        "system": sys_, "tm": last.tm, "U": last.U, "T": last.T, "p": last.p,
        "ntst": ntst, "fast": fast, "unknowns": (ntst * 4 + 1) * eq.problem.n + 2,
        "step_wall_s": (out[warmup + steps][0] - out[warmup][0]) / steps,
        "step_cpu_s": (out[warmup + steps][1] - out[warmup][1]) / steps,
        "p_end": float(br.param_values[-1]), "period_end": float(br.period[-1]),
        "trivial_mult_err": float(br.extra["trivial_error"][-1]),
        "max_abs_mu": float(np.nanmax(np.abs(mu))),
        "newton_its": br.extra["newton_iterations"][warmup + 1:].tolist(),
        "special": [(sp_.type, sp_.param) for sp_ in br.special_points if sp_.type != "EP"],
    }


def _drop_state(r: dict) -> None:
    """Remove the cycle state (system, mesh, nodes) from a network_case row before printing."""
    for key in ("system", "tm", "U", "T", "p"):
        r.pop(key)


def network_floquet_compare(prob, hopf, ntst: int, steps: int, warmup: int, pairs: int,
                            what: str = "block") -> list[dict]:
    """Same process, alternated: CPU per step and per Floquet computation with the block
    (interval by interval) factorisation of C_rest and with one LU of the whole C_rest
    (``what="block"``), or with the interval blocks gathered through the cached layout and
    sliced block by block (``what="layout"``)."""
    from bifsnn.continuation.periodic import collocation as cmod

    flag = "BLOCK_FLOQUET" if what == "block" else "LAYOUT_FLOQUET"
    names = ("whole LU", "block") if what == "block" else ("sliced", "layout")
    rows = []
    try:
        for _ in range(pairs):
            for block in (False, True):
                setattr(cmod, flag, block)
                r = network_case(prob, hopf, ntst, steps, warmup)
                coll_ = CollocationOperator(r["system"], r["tm"], 4)
                A = coll_.jacobian(r["U"], r["T"], r["p"],
                                   coll_.phase_reference(r["U"], r["T"], r["p"]))
                c0 = time.process_time()
                fl = floquet_from_jacobian(A, coll_)
                r["floquet_cpu_s"] = time.process_time() - c0
                r["mu"] = fl.multipliers
                r["block_floquet"] = block
                _drop_state(r)
                rows.append(r)
                print(f"{ntst:>5} {names[block]:>9} step CPU "
                      f"{r['step_cpu_s']:7.3f} s, Floquet CPU {r['floquet_cpu_s']:6.3f} s, "
                      f"p_end {r['p_end']:.9f}", flush=True)
    finally:
        setattr(cmod, flag, True)
    old = [r for r in rows if not r["block_floquet"]]
    new = [r for r in rows if r["block_floquet"]]
    pairs_ = list(zip(old, new, strict=True))
    step_ratio = np.median([b["step_cpu_s"] / a["step_cpu_s"] for a, b in pairs_])
    fl_ratio = np.median([b["floquet_cpu_s"] / a["floquet_cpu_s"] for a, b in pairs_])
    dmu = max(float(np.max(np.abs(np.sort_complex(a["mu"]) - np.sort_complex(b["mu"]))))
              for a, b in pairs_)
    print(f"{names[1]} / {names[0]} CPU (median of {len(old)} pairs): step {step_ratio:.3f}, "
          f"Floquet "
          f"{fl_ratio:.3f}; max |mu difference| {dmu:.1e}")
    for r in rows:
        r["mu"] = [complex(z) for z in r["mu"]]
    return rows


def network_reuse_compare(prob, hopf, ntst: int, steps: int, warmup: int, pairs: int
                          ) -> list[dict]:
    """Same process, alternated: CPU per step with a new LU at every predictor
    (``Collocation(reuse_lu=False)``) and with factorisations carried across steps."""
    rows = []
    for _ in range(pairs):
        for reuse in (False, True):
            r = network_case(prob, hopf, ntst, steps, warmup, reuse_lu=reuse)
            _drop_state(r)
            r["reuse_lu"] = reuse
            rows.append(r)
            print(f"{ntst:>5} {'carried' if reuse else 'new LU':>10} {r['unknowns']:>9} "
                  f"{r['step_wall_s']:>12.3f} {r['step_cpu_s']:>11.3f} {r['p_end']:>11.7f} "
                  f"{r['trivial_mult_err']:>12.1e} {str(r['newton_its']):>14}", flush=True)
    old = [r["step_cpu_s"] for r in rows if not r["reuse_lu"]]
    new = [r["step_cpu_s"] for r in rows if r["reuse_lu"]]
    ratio = np.median([b / a for a, b in zip(old, new, strict=True)])
    print(f"ntst {ntst}: carried / new-LU CPU per step (median of {len(old)} pairs) {ratio:.3f}")
    return rows


def network_condensed_compare(prob, hopf, ntst: int, steps: int, warmup: int, pairs: int
                              ) -> list[dict]:
    """Same process, alternated: CPU per step with the global SuperLU and Arnoldi multipliers
    (the pinned baseline, ``collocation.CONDENSED = False``) and with the condensation onto
    the first node, both with a new LU at every predictor and (condensed) with factorisations
    carried across steps (``Collocation(reuse_lu=True)``)."""
    from bifsnn.continuation.periodic import collocation as cmod

    settings = (("baseline", False, False), ("condensed", True, False),
                ("condensed+carry", True, True))
    rows = []
    try:
        for _ in range(pairs):
            for name, cond, reuse in settings:
                cmod.CONDENSED = cond
                r = network_case(prob, hopf, ntst, steps, warmup, reuse_lu=reuse)
                coll_ = CollocationOperator(r["system"], r["tm"], 4)
                A = coll_.jacobian(r["U"], r["T"], r["p"],
                                   coll_.phase_reference(r["U"], r["T"], r["p"]))
                r["mu_end"] = floquet_from_jacobian(A, coll_).multipliers
                _drop_state(r)
                r["setting"] = name
                rows.append(r)
                print(f"{ntst:>5} {name:>16} {r['step_wall_s']:>9.3f} {r['step_cpu_s']:>9.3f} "
                      f"{r['p_end']:>12.9f} {r['trivial_mult_err']:>9.1e} "
                      f"{str(r['newton_its']):>20}", flush=True)
    finally:
        cmod.CONDENSED = True
    base = [r for r in rows if r["setting"] == "baseline"]
    for name, _, _ in settings[1:]:
        new = [r for r in rows if r["setting"] == name]
        ratio = np.median([a["step_cpu_s"] / b["step_cpu_s"]
                           for a, b in zip(base, new, strict=True)])
        dmu = max(float(np.max(np.abs(np.sort_complex(a["mu_end"])
                                      - np.sort_complex(b["mu_end"]))))
                  for a, b in zip(base, new, strict=True))
        print(f"ntst {ntst}: baseline / {name} CPU per step (median of {len(base)}) "
              f"{ratio:.2f}x; max |mu| difference at the last point {dmu:.1e}")
    for r in rows:
        r["mu_end"] = [complex(z) for z in r["mu_end"]]
    return rows


def network_main(args) -> list[dict]:
    prob, hopf = network_hopf_start()
    print(f"reduced network ODE (n = {prob.problem.n}), cycles in p_EI from the Hopf point at "
          f"{hopf.param:.6g}; ncol=4; {args.steps} timed steps after {args.warmup}")
    print(f"{'ntst':>5} {'corrector':>10} {'unknowns':>9} {'step wall s':>12} "
          f"{'step CPU s':>11} {'p_EI end':>11} {'|mu_triv-1|':>12} {'Newton its':>14}")
    rows = []
    if args.compare_condensed:
        print(f"{'ntst':>5} {'setting':>16} {'wall s':>9} {'CPU s':>9} {'p_EI end':>12} "
              f"{'|mu_tr-1|':>9} {'Newton its':>20}")
        for ntst in args.network_ntst:
            rows += network_condensed_compare(prob, hopf, ntst, args.steps, args.warmup,
                                              args.pairs)
        return rows
    if args.compare_reuse:
        for ntst in args.network_ntst:
            rows += network_reuse_compare(prob, hopf, ntst, args.steps, args.warmup,
                                          args.pairs)
        return rows
    if args.compare_floquet:
        for ntst in args.network_ntst:
            rows += network_floquet_compare(prob, hopf, ntst, args.steps, args.warmup,
                                            args.pairs, args.compare_floquet)
        return rows
    for ntst in args.network_ntst:
        for fast in ((True, False) if args.compare else (True,)):
            r = network_case(prob, hopf, ntst, args.steps, args.warmup, fast)
            _drop_state(r)
            rows.append(r)
            print(f"{ntst:>5} {'chord' if fast else 'previous':>10} {r['unknowns']:>9} "
                  f"{r['step_wall_s']:>12.3f} {r['step_cpu_s']:>11.3f} {r['p_end']:>11.7f} "
                  f"{r['trivial_mult_err']:>12.1e} {str(r['newton_its']):>14}", flush=True)
    return rows


def main() -> None:
    ap_ = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap_.add_argument("--sizes", type=int, nargs="+", default=[4, 20, 50, 100, 200, 300])
    ap_.add_argument("--ntst", type=int, nargs="+", default=[20, 50, 100])
    ap_.add_argument("--steps", type=int, default=3)
    ap_.add_argument("--warmup", type=int, default=2)
    ap_.add_argument("--repeats", type=int, default=1)
    ap_.add_argument("--max-unknowns", type=int, default=130_000,
                     help="skip cases with more collocation unknowns (memory/time)")
    ap_.add_argument("--auto", action="store_true", help="also time AUTO-07p via bifpy")
    ap_.add_argument("--auto-sizes", type=int, nargs="+", default=[4, 20, 50])
    ap_.add_argument("--json", type=str, default=None)
    ap_.add_argument("--network", action="store_true",
                     help="time the reduced network ODE (n=148) instead of the Brusselator")
    ap_.add_argument("--network-ntst", type=int, nargs="+", default=[20, 40, 60])
    ap_.add_argument("--compare", action="store_true",
                     help="with --network: also time the previous corrector (full Newton)")
    ap_.add_argument("--compare-floquet", nargs="?", const="block", default=None,
                     choices=["block", "layout"],
                     help="with --network: block vs whole-LU Floquet factorisation (block), "
                          "or cached block layout vs block slicing (layout), alternated in "
                          "one process")
    ap_.add_argument("--compare-reuse", action="store_true",
                     help="with --network: new LU per step vs carried factorisations "
                          "(Collocation.reuse_lu), alternated in one process")
    ap_.add_argument("--compare-condensed", action="store_true",
                     help="with --network: global SuperLU + Arnoldi (pinned baseline) vs "
                          "condensation onto the first node (new LU per step, and carried), "
                          "alternated in one process")
    ap_.add_argument("--pairs", type=int, default=2,
                     help="pairs for --compare-floquet / --compare-reuse")
    args = ap_.parse_args()
    if args.network:
        rows = network_main(args)
        if args.json:
            Path(args.json).write_text(json.dumps({"network": rows}, indent=1, default=str))
        return
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=False).stdout.strip()
    except OSError:
        commit = "?"
    print(f"commit {commit}; 1-D Brusselator (auto_peer problem c), ncol=4, "
          f"{args.steps} timed steps after {args.warmup} warm-up steps")
    rows = []
    hdr = (f"{'n':>5} {'ntst':>5} {'unknowns':>9} {'nnz(LU)':>10} {'step wall s':>12} "
           f"{'step CPU s':>11} {'Newton it s':>12} {'Floquet s':>10} {'|mu_triv-1|':>12}")
    print(hdr)
    for n in args.sizes:
        for ntst in args.ntst:
            if (ntst * 4 + 1) * n > args.max_unknowns:
                print(f"{n:>5} {ntst:>5}  skipped (> --max-unknowns)")
                continue
            r = time_case(n, ntst, args.steps, args.warmup, args.repeats)
            rows.append(r)
            print(f"{r['n']:>5} {r['ntst']:>5} {r['unknowns']:>9} {r['nnz_lu']:>10} "
                  f"{r['step_wall_s']:>12.3f} {r['step_cpu_s']:>11.3f} "
                  f"{r['newton_iter_s']:>12.3f} {r['floquet_s']:>10.3f} "
                  f"{r['trivial_mult_err']:>12.1e}", flush=True)
    auto_rows = []
    if args.auto:
        print("\nAUTO-07p (bifpy, single-threaded, dense condensation), same problem/mesh:")
        print(f"{'n':>5} {'ntst':>5} {'AUTO step wall s':>17} {'AUTO step CPU s':>16} "
              f"{'bifsnn step wall s':>19}")
        for n in args.auto_sizes:
            for ntst in args.ntst:
                a = auto_case(n, ntst)
                if a is None:
                    print("AUTO-07p not available (pip install bifpy)")
                    break
                mine = next((r for r in rows if r["n"] == n and r["ntst"] == ntst), None)
                auto_rows.append(a)
                print(f"{n:>5} {ntst:>5} {a['auto_step_wall_s']:>17.4f} "
                      f"{a['auto_step_cpu_s']:>16.4f} "
                      f"{(mine['step_wall_s'] if mine else float('nan')):>19.3f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"commit": commit, "bifsnn": rows,
                                               "auto": auto_rows}, indent=1, default=float))


if __name__ == "__main__":
    main()
