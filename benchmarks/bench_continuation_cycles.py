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
rule; ``--closure NAME`` another closure, e.g. conditional: 288 variables, Hopf point 0.8912,
cycles down to p_EI 0.7; ``--compare-dense`` alternates sparse and dense interval blocks) is
timed instead: cycles continued in p_EI from the Hopf point near 0.9596 at
ntst = ``--network-ntst`` (default 20 40 60): one run of ``--network-steps`` steps with the
CPU and wall time of every step (progress callback) and of each phase (:data:`PHASES`), and
their median and spread over the plain steps >= 3 (no special point located, no pattern
widened; the first steps include the start and compilation).  ``--differential`` gives the
previous measure (a run of warmup + steps minus a run of warmup steps, both from the Hopf
start: it repeats the start, whose +-1 CPU-s noise it divides by the steps; benchmarks/
README.md, cycspeed4 section).  ``--compare`` also times the
previous corrector (full Newton, one MMD ordering per LU) in the same process;
``--compare-reuse`` alternates a new LU at every predictor with factorisations carried across
steps (``Collocation(reuse_lu=False/True)``); ``--compare-asm14`` alternates the switches of the
asm14 session (:data:`ASM14_SWITCHES`) at their previous and new values.

Usage: python benchmarks/bench_continuation_cycles.py [--sizes 4 20 50 100 200 300]
       [--ntst 20 50 100] [--steps 3] [--auto] [--json out.json]
       python benchmarks/bench_continuation_cycles.py --network [--network-ntst 20 40 60]
       [--network-steps 12] [--repeats 1] [--no-phases] [--differential --steps 4]
       [--compare] [--compare-asm14 --pairs 6]
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


#: Lower end of the cycle branches' p_EI range (the paper closure's; other closures: 0.7)
P_MIN = 0.9


def network_hopf_start(closure: str = "paper"):
    """Equilibrium branch of the reduced network ODE (``closure``) in p_EI and its Hopf point
    nearest below p_EI = 1 (paper: 0.9596; conditional: 0.8912)."""
    from bifsnn import NetworkParams
    from bifsnn.continuation import continue_equilibria
    from bifsnn.reduction import network_problem

    start = network_problem(NetworkParams().replace(p_EI=1.0), "p_EI", closure=closure)
    br = continue_equilibria(start.problem, start.options(ds_max_frac=0.05, p_min=P_MIN - 0.1
                                                          if closure != "paper" else P_MIN,
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


#: Phases of a cycle step for the per-step timing: "label: module.function ..." (modules under
#: bifsnn.continuation.periodic); every function is wrapped by a timer (process CPU time,
#: exclusive of the wrapped functions it calls)
_PHASE_TABLE = """
assembly: collocation.CollocationOperator.jacobian
residual: collocation.CollocationOperator.residual collocation.CollocationOperator.phase_reference
block LU: condensed._block_lus
propagation: condensed._propagate condensed._propagate_sn
condensation other: condensed.CondensedLU._build
border: condensed.CondensedLU._build_border
solves: condensed.CondensedLU.solve
SuperLU: collocation.sparse_lu stepper.factorize
Floquet: stepper.floquet_from_jacobian
layout: collocation._BlockLayout.__init__
pattern rebuild: collocation.CollocationOperator._structure condensed._Extras.__init__
    system.CycleSystem.detect_sparsity
mesh: stepper.adapt_mesh stepper.interpolate_to_mesh
"""


def _phases(table: str) -> tuple[tuple[str, str, str], ...]:
    """(label, module, attribute) rows of a phase table (see :data:`_PHASE_TABLE`)."""
    rows, label = [], ""
    for line in table.strip().splitlines():
        if ":" in line:
            label, line = line.split(":", 1)
        for ref in line.split():
            mod, attr = ref.split(".", 1)
            rows.append((label.strip(), f"bifsnn.continuation.periodic.{mod}", attr))
    return tuple(rows)


PHASES = _phases(_PHASE_TABLE)


class PhaseTimer:
    """Wraps the functions of :data:`PHASES` with process-CPU timers (exclusive time: a
    wrapped function's time excludes that of the wrapped functions it calls) while active;
    ``totals`` maps each label to its accumulated CPU seconds.  Restores the originals on
    exit."""

    def __init__(self, phases=PHASES) -> None:
        self.phases = phases
        self.totals: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._stack: list[float] = []  # child time accumulated per active frame
        self._saved: list = []

    def _wrap(self, label: str, fn):
        def timed(*a, **kw):
            self._stack.append(0.0)
            c0 = time.process_time()
            try:
                return fn(*a, **kw)
            finally:
                dt = time.process_time() - c0
                child = self._stack.pop()
                self.totals[label] = self.totals.get(label, 0.0) + dt - child
                self.calls[label] = self.calls.get(label, 0) + 1
                if self._stack:
                    self._stack[-1] += dt
        return timed

    def __enter__(self) -> PhaseTimer:
        import importlib

        for label, mod, attr in self.phases:
            obj = importlib.import_module(mod)
            *owner, name = attr.split(".")
            for o in owner:
                obj = getattr(obj, o)
            orig = obj.__dict__[name] if isinstance(obj, type) else getattr(obj, name)
            self._saved.append((obj, name, orig))
            setattr(obj, name, self._wrap(label, orig))
        return self

    def __exit__(self, *exc) -> None:
        for obj, name, orig in reversed(self._saved):
            setattr(obj, name, orig)
        self._saved.clear()


def network_steps(eq, hopf, ntst: int, steps: int, first: int = 3, phases: bool = True,
                  repeat: int = 1, threads: int = 1) -> dict:
    """Per-step CPU and wall time inside one run of ``steps`` cycle steps from the Hopf point
    (recorded at every step through the progress callback), and with ``phases`` the CPU time
    of each phase of :data:`PHASES` per step.  Statistics over steps >= ``first`` (the first
    steps include compilation, numba cache loading and the first patterns); steps with a
    special-point location or a pattern widening are reported apart ("plain" steps have
    neither).  ``repeat`` runs in one process, statistics over all of them.  ``threads``:
    ``Collocation.threads`` (phase timers need 1: the timers are not thread-safe)."""
    if threads > 1 and phases:
        raise ValueError("phases need threads = 1 (the phase timers are not thread-safe)")
    recs = []
    out_br = None
    from bifsnn.continuation.periodic import collocation as cmod

    for _ in range(repeat):
        # without phases only the layout builds are counted (to flag pattern widenings)
        timer = PhaseTimer(PHASES if phases else [x for x in PHASES if x[0] == "layout"])
        marks: list[tuple] = []

        def prog(info, marks=marks, timer=timer):
            marks.append((info["step"], time.process_time(), time.perf_counter(),
                          info["points"], dict(timer.totals),
                          timer.calls.get("layout", 0)))

        cmod._LAYOUTS.clear()  # every run builds its patterns (as a fresh process would)
        opts = _opts(p_min=P_MIN, p_max=1.0, max_steps=steps, progress=prog)
        c0, w0 = time.process_time(), time.perf_counter()
        with timer:
            br = continue_cycles(eq, hopf, opts, Collocation(ntst=ntst, ncol=4,
                                                              threads=threads))
        prev = (0, c0, w0, 1, {}, 0)
        for m in marks:
            step, c, w, npts, tot, nlay = m
            ph = ({k: v - prev[4].get(k, 0.0) for k, v in tot.items()} if phases else {})
            recs.append({"step": step, "cpu_s": c - prev[1], "wall_s": w - prev[2],
                         "located": npts - prev[3] > 1, "widened": nlay > prev[5],
                         "phases": ph})
            prev = m
        out_br = br
    sel = [r for r in recs if r["step"] >= first]
    plain = [r for r in sel if not (r["located"] or r["widened"])]

    def stats(rows, key="cpu_s"):
        v = np.array([r[key] for r in rows])
        if v.size == 0:
            return {"n": 0}
        return {"n": int(v.size), "median": float(np.median(v)), "min": float(v.min()),
                "max": float(v.max()), "q25": float(np.percentile(v, 25)),
                "q75": float(np.percentile(v, 75))}

    labels = sorted({k for r in plain for k in r["phases"]})
    phase_med = {k: float(np.median([r["phases"].get(k, 0.0) for r in plain]))
                 for k in labels}
    return {"ntst": ntst, "steps": steps, "repeat": repeat, "records": recs,
            "plain_cpu": stats(plain), "plain_wall": stats(plain, "wall_s"),
            "all_cpu": stats(sel), "phases_median": phase_med,
            "p_end": float(out_br.param_values[-1]),
            "branch_hash": _branch_hash(out_br),
            "newton_its": out_br.extra["newton_iterations"].tolist(),
            "special": [(s.type, float(s.param)) for s in out_br.special_points
                        if s.type != "EP"]}


def _branch_hash(br) -> str:
    """A hash of a branch's parameter values, periods and multipliers (bit for bit)."""
    import hashlib

    h = hashlib.sha1()
    for a in (br.param_values, br.period, br.multipliers):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:12]


def network_threads_compare(prob, hopf, ntst: int, steps: int, pairs: int,
                            threads: int) -> list[dict]:
    """Same process, alternated: per-step wall and CPU time with the condensation's block
    kernels on 1 and on ``threads`` threads (``Collocation.threads``), no phase timers; the
    branches must be the same bit for bit."""
    rows = []
    for _ in range(pairs):
        for t in (1, threads):
            r = network_steps(prob, hopf, ntst, steps, phases=False, threads=t)
            r["threads"] = t
            rows.append(r)
            print(f"threads {t}: plain steps >= 3 (n = {r['plain_cpu']['n']}): wall median "
                  f"{r['plain_wall']['median']:.3f} s (range {r['plain_wall']['min']:.3f}-"
                  f"{r['plain_wall']['max']:.3f}), CPU median {r['plain_cpu']['median']:.3f} s;"
                  f" p_EI end {r['p_end']:.10f}, branch {r['branch_hash']}", flush=True)
    one = [r for r in rows if r["threads"] == 1]
    many = [r for r in rows if r["threads"] == threads]
    wall = np.median([b["plain_wall"]["median"] / a["plain_wall"]["median"]
                      for a, b in zip(one, many, strict=True)])
    cpu = np.median([b["plain_cpu"]["median"] / a["plain_cpu"]["median"]
                     for a, b in zip(one, many, strict=True)])
    same = len({r["branch_hash"] for r in rows}) == 1
    print(f"ntst {ntst}: {threads} threads / 1 thread per plain step (median of {pairs} "
          f"pairs): wall {wall:.3f}, CPU {cpu:.3f}; branches bit for bit the same: {same}")
    return rows


def print_steps(r: dict) -> None:
    """Print the per-step table and statistics of :func:`network_steps`."""
    print(f"ntst {r['ntst']}: {r['steps']} steps x {r['repeat']} run(s); per step CPU / wall s"
          " (L: a special point located in the step, W: pattern widened)")
    for rec in r["records"]:
        flag = ("L" if rec["located"] else "") + ("W" if rec["widened"] else "")
        print(f"  step {rec['step']:>3} {rec['cpu_s']:7.3f} {rec['wall_s']:7.3f} {flag}")
    pc, pw, ac = r["plain_cpu"], r["plain_wall"], r["all_cpu"]
    if pc["n"]:
        print(f"plain steps >= 3 (n = {pc['n']}): CPU median {pc['median']:.3f} s "
              f"(quartiles {pc['q25']:.3f}-{pc['q75']:.3f}, range {pc['min']:.3f}-"
              f"{pc['max']:.3f}); wall median {pw['median']:.3f} s")
    if ac["n"]:
        print(f"all steps >= 3 (n = {ac['n']}): CPU median {ac['median']:.3f} s, range "
              f"{ac['min']:.3f}-{ac['max']:.3f}")
    if r["phases_median"]:
        tot = sum(r["phases_median"].values())
        print("phase CPU s per plain step (median): " + ", ".join(
            f"{k} {v:.3f}" for k, v in sorted(r["phases_median"].items(),
                                               key=lambda kv: -kv[1])) +
              f" (sum {tot:.3f}; the rest of the step is unwrapped code)")
    print(f"p_EI end {r['p_end']:.10f}; Newton its {r['newton_its']}; special "
          f"{[(t, round(p, 10)) for t, p in r['special']]}")


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


def network_nogil_compare(prob, hopf, ntst: int, pairs: int) -> list[dict]:
    """Same process, alternated: the condensation's propagation (152 columns) and block
    refactorisation compiled with and without ``nogil`` (the flag that lets
    ``Collocation.threads`` run them on threads), on the factors of a cycle of the branch;
    CPU per call and their largest difference (0 expected)."""
    import numba

    from bifsnn.continuation.periodic import condensed as cmod

    got = []
    real = cmod.CondensedLU._first_node

    def keep(self, *a, **kw):
        got.append(self)
        return real(self, *a, **kw)

    cmod.CondensedLU._first_node = keep
    try:
        continue_cycles(prob, hopf, _opts(p_min=P_MIN, p_max=1.0, max_steps=4),
                        Collocation(ntst=ntst, ncol=4))
    finally:
        cmod.CondensedLU._first_node = real
    f = got[-1]
    n = f.n
    G = np.zeros(f.G.shape[:2] + (4,))
    G[:, :, :f.G.shape[2]] = f.G
    args = (f.Ap, f.Ai, f.Ax, f.Lp, f.Li, f.Lx, f.Up, f.Ui, f.Ux, *f.sn[1:], f.last, f.last_to)
    kernels = {flag: numba.njit(nogil=flag)(cmod._propagate_sn.py_func) for flag in (True, False)}
    outs, times = {}, {True: [], False: []}
    for flag, kern in kernels.items():
        Z = np.zeros((n, n + 4))
        Z[:, :n] = -np.eye(n)
        kern(*args, G, n, Z)  # compiles
        outs[flag] = Z
    for _ in range(pairs):
        for flag, kern in kernels.items():
            c0 = time.process_time()
            for _ in range(10):
                Z = np.zeros((n, n + 4))
                Z[:, :n] = -np.eye(n)
                kern(*args, G, n, Z)
            times[flag].append((time.process_time() - c0) / 10)
    ratio = float(np.median(np.array(times[True]) / np.array(times[False])))
    same = bool(np.array_equal(outs[True], outs[False]))
    print(f"propagation, {n + 4} columns, CPU s per call, nogil / without: " + ", ".join(
        f"{a:.4f} / {b:.4f}" for a, b in zip(times[True], times[False], strict=True))
        + f"; median ratio {ratio:.3f}; the same values: {same}")
    return [{"ntst": ntst, "nogil_s": times[True], "gil_s": times[False], "ratio": ratio,
             "same": same}]


def network_dense_compare(prob, hopf, ntst: int, steps: int, pairs: int) -> list[dict]:
    """Per-step CPU time with sparse interval blocks (DENSE_BLOCK_DENSITY None) and dense
    ones (its default), alternated ``pairs`` times in this process."""
    from bifsnn.continuation.periodic import dense_blocks

    default = dense_blocks.DENSE_BLOCK_DENSITY
    rows = []
    try:
        for _ in range(pairs):
            for label, value in (("sparse blocks", None), ("dense blocks", default)):
                dense_blocks.DENSE_BLOCK_DENSITY = value
                r = network_steps(prob, hopf, ntst, steps)
                pc = r["plain_cpu"]
                print(f"{label:>14}: step 1 {r['records'][0]['cpu_s']:.2f} s, plain steps >= 3 "
                      f"CPU median {pc.get('median', float('nan')):.3f} s (n = {pc['n']}); "
                      f"phases {({k: round(v, 3) for k, v in r['phases_median'].items()})}; "
                      f"p_EI end {r['p_end']:.10f}; Newton its {r['newton_its']}", flush=True)
                rows.append({"setting": label, **{k: v for k, v in r.items()
                                                  if k != "records"}})
    finally:
        dense_blocks.DENSE_BLOCK_DENSITY = default
    return rows


#: The switches of the asm14 session (module under bifsnn.continuation.periodic, attribute,
#: previous value, new value) for ``--compare-asm14``
ASM14_SWITCHES = (("condensed", "PREFETCH_COLUMNS", 0, 16),
                  ("collocation", "SCATTER_GATHERED", False, True),
                  ("condensed", "REFACTOR_SUPERNODAL", False, True),
                  ("stepper", "LAZY_PHASE_REFERENCE", False, True),
                  ("stepper", "FLOQUET_PHASE_VALUES", True, False))


def network_switch_compare(prob, hopf, ntst: int, steps: int, pairs: int,
                           switches=ASM14_SWITCHES) -> list[dict]:
    """Same process, alternated (off/on, then on/off, ...): :func:`network_steps` with the
    ``switches`` at their previous and their new values; per round the plain-step CPU
    medians, their ratio and whether the branch (p_EI end to the last bit, Newton
    iterations, special points) is the same; then the median ratio and the phase medians."""
    import importlib

    mods = [(importlib.import_module(f"bifsnn.continuation.periodic.{m}"), a, old, new)
            for m, a, old, new in switches]
    saved = [(m, a, getattr(m, a)) for m, a, _, _ in mods]

    def setall(on: bool) -> None:
        for m, a, old, new in mods:
            setattr(m, a, new if on else old)

    rows, ratios, phases = [], [], {False: [], True: []}
    try:
        setall(True)
        network_steps(prob, hopf, ntst, steps, phases=False)  # warm: compilation, caches
        for r in range(pairs):
            out = {}
            for on in ((False, True) if r % 2 == 0 else (True, False)):
                setall(on)
                out[on] = network_steps(prob, hopf, ntst, steps)
                phases[on].append(out[on]["phases_median"])
            same = all(out[False][k] == out[True][k] for k in ("p_end", "newton_its", "special"))
            a, b = out[False]["plain_cpu"]["median"], out[True]["plain_cpu"]["median"]
            ratios.append(b / a)
            with open("/proc/loadavg") as fh:
                load = fh.read().split()[0]
            print(f"round {r + 1}: plain-step CPU median previous {a:.3f} s, new {b:.3f} s, "
                  f"new / previous {b / a:.3f}; load {load}; same branch: {same} "
                  f"(p_EI end {out[True]['p_end']!r})", flush=True)
            rows.append({"round": r + 1, "previous_s": a, "new_s": b, "same_branch": same})
    finally:
        for m, a, v in saved:
            setattr(m, a, v)
    print(f"ntst {ntst}: new / previous plain-step CPU, median of {len(ratios)} rounds "
          f"{np.median(ratios):.3f} (range {min(ratios):.3f}-{max(ratios):.3f})")
    for on in (False, True):
        keys = sorted({k for p in phases[on] for k in p}, key=lambda k: -phases[on][0].get(k, 0))
        med = {k: float(np.median([p.get(k, 0.0) for p in phases[on]])) for k in keys}
        text = ", ".join(f"{k} {v:.3f}" for k, v in med.items() if v >= 0.0005)
        print(("new" if on else "previous") + f" phases (median of rounds): {text} "
              f"(sum {sum(med.values()):.3f})")
    return rows


def network_main(args) -> list[dict]:
    global P_MIN
    if args.closure != "paper":
        P_MIN = 0.7
    prob, hopf = network_hopf_start(args.closure)
    if args.compare_dense:
        print(f"reduced network ODE, closure {args.closure} (n = {prob.problem.n}), cycles in "
              f"p_EI from the Hopf point at {hopf.param:.6g}; ncol=4; {args.network_steps} "
              "steps per run")
        return [row for ntst in args.network_ntst
                for row in network_dense_compare(prob, hopf, ntst, args.network_steps,
                                                 args.pairs)]
    if args.compare_nogil:
        return [row for ntst in args.network_ntst
                for row in network_nogil_compare(prob, hopf, ntst, args.pairs)]
    if args.compare_threads:
        print(f"reduced network ODE (n = {prob.problem.n}, closure {args.closure}), cycles in "
              f"p_EI from the Hopf point at {hopf.param:.6g}; ncol=4; threads 1 and "
              f"{args.compare_threads} alternated, {args.pairs} pairs")
        return [row for ntst in args.network_ntst
                for row in network_threads_compare(prob, hopf, ntst, args.network_steps,
                                                   args.pairs, args.compare_threads)]
    per_step = not (args.differential or args.compare or args.compare_condensed
                    or args.compare_reuse or args.compare_floquet or args.compare_asm14)
    print(f"reduced network ODE (n = {prob.problem.n}, closure {args.closure}), cycles in p_EI "
          "from the Hopf point at "
          f"{hopf.param:.6g}; ncol=4" + ("" if per_step or args.compare_asm14 else
                                         f"; {args.steps} timed steps after {args.warmup}"))
    if not (per_step or args.compare_asm14):
        print(f"{'ntst':>5} {'corrector':>10} {'unknowns':>9} {'step wall s':>12} "
              f"{'step CPU s':>11} {'p_EI end':>11} {'|mu_triv-1|':>12} {'Newton its':>14}")
    rows = []
    if args.compare_asm14:
        for ntst in args.network_ntst:
            rows += network_switch_compare(prob, hopf, ntst, args.network_steps, args.pairs)
        return rows
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
    if per_step:
        for ntst in args.network_ntst:
            r = network_steps(prob, hopf, ntst, args.network_steps,
                              phases=not args.no_phases and args.threads == 1,
                              repeat=args.repeats, threads=args.threads)
            print_steps(r)
            rows.append({k: v for k, v in r.items()})
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
    ap_.add_argument("--compare-asm14", action="store_true",
                     help="with --network: the asm14 session's switches (ASM14_SWITCHES) off "
                          "and on, alternated in one process, --pairs rounds, per-step timing")
    ap_.add_argument("--compare-condensed", action="store_true",
                     help="with --network: global SuperLU + Arnoldi (pinned baseline) vs "
                          "condensation onto the first node (new LU per step, and carried), "
                          "alternated in one process")
    for flag, kw, text in (
            ("--network-steps", {"type": int, "default": 12}, "steps of the per-step timing "
             "run (statistics over steps >= 3)"),
            ("--no-phases", {"action": "store_true"}, "per-step times without phase timers"),
            ("--differential", {"action": "store_true"}, "the previous measure: (warmup + "
             "steps)-step run minus warmup-step run, instead of per-step timing")):
        ap_.add_argument(flag, **kw, help="with --network: " + text)
    ap_.add_argument("--closure", default="paper",
                     help="with --network: the closure of the reduced ODE (docs/MODEL.md 5)")
    ap_.add_argument("--compare-dense", action="store_true",
                     help="with --network: sparse vs dense interval blocks "
                          "(dense_blocks.DENSE_BLOCK_DENSITY), alternated in one process")
    ap_.add_argument("--threads", type=int, default=1,
                     help="with --network: Collocation.threads of the per-step run (no phase "
                          "timers unless 1)")
    ap_.add_argument("--compare-threads", type=int, default=0, metavar="N",
                     help="with --network: threads 1 and N (Collocation.threads) alternated "
                          "in one process, --pairs rounds, per-step wall and CPU")
    ap_.add_argument("--compare-nogil", action="store_true",
                     help="with --network: the propagation kernel compiled with and without "
                          "nogil, alternated in one process, --pairs rounds")
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
