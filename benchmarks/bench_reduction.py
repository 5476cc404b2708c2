"""Cost of the reduced model (bifsnn.reduction) at the default grid, K = 35 bins.

Prints (and with --json writes) the measured numbers next to the targets:

* cold start (sympy derivation + code generation + numba compilation, fresh cache directory,
  separate process) and warm start (same cache, new process) up to a first f(x) and df/dx;
* right-hand side f(x) (target <= 100 us), analytic Jacobian (<= 2 ms) and df/dp (all 19
  parameters), median over repeats at a state taken from an oscillating trajectory; the
  right-hand side also with the pinned reference kernel (libm erfc / exp instead of the
  generated branch-free polynomials, ``load_generated(rule, "libm")``) in the same process,
  and the ratio;
* the transport (the right-hand side's kernel sums) against the pinned former form (commit
  6572836: windows with a margin edge each side, set-up source by source, work arrays
  allocated per call; same kernel pieces), alternated over states of an oscillating
  trajectory in one process, the ratio and their largest difference (0 expected);
* reference map and ODE (explicit Tsitouras 5(4); stiff LSODA / BDF with the analytic
  Jacobian) in CPU seconds per model second (issue 14 targets: map <= 0.2, ODE <= 1),
  measured differentially (run of T2 minus run of T1, divided by T2 - T1) so compilation and
  set-up are excluded; the map and the explicit ODE also with the pinned reference (libm
  kernel; ODE with Dormand-Prince at the former default tolerances rtol 1e-6, atol 1e-8),
  each run right after the current code, and the ratios;
* the same for a network 4x larger (N S fixed): the cost must not depend on N;
* the spiking network at N = 4000 (``params.scaled(10)``) in the same process, and the ratio
  of its CPU cost per model second to the ODE's, at its defaults (Tsitouras 5(4), kernel cut
  6 sd), with the model's kernel (8.5 sd) and with the former pair (Dormand-Prince 5(4),
  6 sd) (issue 14 target: >= 5 for the explicit ODE);
* with ``--kernel-cut`` (alone): the simulation kernel cut's error and cost against the
  model's kernel, at tight and at default tolerances;
* with ``--pairs`` (alone): right-hand sides and errors (rates, MFE peaks, period, counts,
  state over 1200 ms) of the two explicit pairs at several tolerances, N = 400 and 4000;
* where the explicit ODE's time goes (with the model's kernel): steps, rejected steps and
  right-hand sides per model second (differential, like the cost), CPU per right-hand side
  inside the integrator against the same right-hand side alone (a numba loop over states of
  the same trajectory), i.e. the integrator's own overhead;
* with ``--methods``: right-hand sides, Jacobians and LU factorisations per model ms that
  other integrators (scipy DOP853, Radau, BDF, LSODA with the analytic Jacobian; the compiled
  Dormand-Prince at other tolerances) need over the same 60 ms of the oscillation, and their
  error against a tight reference (compiled Dormand-Prince, rtol 1e-10, atol 1e-12): mean E
  rate, E count per output step (max deviation / max count), final state (RMS in units of
  the default tolerances), so methods are compared at equal accuracy.

The machine is shared: wall-clock numbers are inflated by other load (CPU time much less);
the script prints the 1-minute load average next to them.  Usage::

    python benchmarks/bench_reduction.py [--quick] [--skip-start] [--methods] [--json out.json]
    python benchmarks/bench_reduction.py --kernel-cut | --pairs
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from bifsnn.reduction import MarkovModelDef
from bifsnn.reduction.integrate import simulate_map, simulate_ode

_START_SNIPPET = (
    "import time; t=time.perf_counter();"
    "from bifsnn.reduction import MarkovModelDef;"
    "d=MarkovModelDef(); m=d.compile(); x=d.initial_state(); m.rhs(x); m.jacobian(x);"
    "print(time.perf_counter()-t)"
)


def _start_time(cache: str) -> float:
    env = dict(os.environ, BIFSNN_CACHE_DIR=cache)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", _START_SNIPPET], env=env, check=True,
                   capture_output=True)
    return time.perf_counter() - t


def _median_time(fn, repeats: int) -> tuple[float, float]:
    """(median wall time, mean CPU time of this process) per call, seconds."""
    ts = []
    c0 = time.process_time()
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)), (time.process_time() - c0) / repeats


def _per_model_second(run, t1: float, t2: float) -> tuple[float, float]:
    """(wall, CPU) seconds per model second, differential between runs of t1 and t2 ms."""
    run(1.0)  # compile
    wa, ca = _median_time(lambda: run(t1), 1)
    wb, cb = _median_time(lambda: run(t2), 1)
    scale = (t2 - t1) / 1000.0
    return (wb - wa) / scale, (cb - ca) / scale


def _libm_twin(m):
    """``m`` with the pinned reference kernel (normal cdf / pdf by libm erfc / exp)."""
    from bifsnn.reduction.codegen import load_generated

    twin = copy.copy(m)
    twin.module = load_generated(m.definition.bin_rule, "libm")
    return twin


def _bench_micro(out: dict) -> None:
    d = MarkovModelDef()
    m = d.compile()
    ref = _libm_twin(m)
    r = simulate_ode(m, t_ms=150.0, record_every_ms=0.1)
    # a state inside an oscillation (highest E firing in the record)
    rates = np.array([m.firing_rates(s)[0] for s in r.extra["state"]])
    x = r.extra["state"][int(np.argmax(rates))]
    m.rhs(x)
    ref.rhs(x)  # compiles the pinned kernel outside the timing (CPU is a mean over calls)
    m.jacobian(x)
    m.dfdp_all(x)
    for key, fn, reps, unit, target in (
        ("rhs_us", lambda: m.rhs(x), 3000, 1e6, "<= 100 us"),
        ("rhs_libm_us", lambda: ref.rhs(x), 3000, 1e6, "pinned reference"),
        ("jacobian_ms", lambda: m.jacobian(x), 300, 1e3, "<= 2 ms"),
        ("dfdp_all_ms", lambda: m.dfdp_all(x), 300, 1e3, "-"),
    ):
        wall, cpu = _median_time(fn, reps)
        out[key] = wall * unit
        out[key + "_cpu"] = cpu * unit
        u = "us" if unit == 1e6 else "ms"
        print(f"{key:<14} K = {d.K}, n = {d.n_state}: wall {wall * unit:8.3f} {u}, "
              f"CPU {cpu * unit:8.3f} {u} (target {target})")
    out["rhs_libm_over_current"] = out["rhs_libm_us_cpu"] / out["rhs_us_cpu"]
    print(f"rhs: libm kernel / current kernel CPU time: {out['rhs_libm_over_current']:.2f}")
    states = np.ascontiguousarray(r.extra["state"][int(50 / 0.1):])
    _bench_transport(out, m, states)
    _bench_jacobian_window(out, m, states)


def _bench_jacobian_only(out: dict) -> None:
    """:func:`_bench_jacobian_window` alone, on the states of :func:`_bench_micro`."""
    m = MarkovModelDef().compile()
    r = simulate_ode(m, t_ms=150.0, record_every_ms=0.1)
    _bench_jacobian_window(out, m, np.ascontiguousarray(r.extra["state"][int(50 / 0.1):]))


def _former_transport(mod):
    """The transport of commit 6572836 (pinned: odespeed4's three passes per population,
    each occupied source's (a, b, mu, sig) in turn and its edge_window with one edge of
    margin each side, the window's edges into flat arrays allocated per call, the kernel
    with its saturation branches over them, the sums), compiled against ``mod``'s pieces."""
    import numba as nb

    source, window, wvalue = mod._source_kernel, mod.edge_window, mod._window_value
    ncp, tcut = mod.norm_cdf_pdf, mod._TCUT
    kcore = nb.njit(error_model="numpy", inline="always")(mod.kcore.py_func)

    @nb.njit(error_model="numpy")
    def kernels(n, X, A, B, MU, SIG, F, M1):
        for i in range(n):
            x, a, b, mu, sig = X[i], A[i], B[i], MU[i], SIG[i]
            isig = 1.0 / sig
            al = (x - a - mu) * isig
            be = (x - b - mu) * isig
            PA, pA = ncp(al)
            PB, pB = ncp(be)
            f, g = kcore(x, a, b, mu, sig, al, be, PA, pA, PB, pB)
            if al < -tcut:
                f = 0.0
                g = 0.0
            elif be > tcut:
                f = 1.0
                g = 0.5 * (a + b) + mu
            F[i] = f
            M1[i] = g

    @nb.njit(error_model="numpy")
    def former(x, pv, edges, opt, out, F_, M1_):
        K = edges.shape[0] - 1
        e0 = edges[0]
        W = np.empty((7, K * (K + 1)))
        X, A, B, MU, SIG, F, M1 = W[0], W[1], W[2], W[3], W[4], W[5], W[6]
        src = np.empty((4, K), dtype=np.int64)
        means = np.empty(K)
        fired = np.zeros(2)
        for q in range(2):
            offn = 2 * K * q
            offA = offn + K
            for m in range(K):
                out[offn + m] = 0.0
                out[offA + m] = 0.0
            n = 0
            ns = 0
            for j in range(K):
                if x[offn + j] == 0.0:
                    continue
                a, b, mu, sig = source(x, q, j, K, pv, edges, opt)
                lo, hi = window(edges, a, b, mu, sig)
                lo = max(lo, 0)
                hi = min(hi, K)
                src[0, ns], src[1, ns], src[2, ns], src[3, ns] = j, lo, hi, n
                means[ns] = 0.5 * (a + b) + mu
                ns += 1
                for e in range(lo, hi + 1):
                    X[n], A[n], B[n], MU[n], SIG[n] = edges[e], a, b, mu, sig
                    n += 1
            kernels(n, X, A, B, MU, SIG, F, M1)
            for s in range(ns):
                lo, hi, st, mean = src[1, s], src[2, s], src[3, s], means[s]
                nj = x[offn + src[0, s]]
                F0, M0 = wvalue(0, lo, hi, st, F, M1, mean)
                F1, M11 = wvalue(1, lo, hi, st, F, M1, mean)
                FK = wvalue(K, lo, hi, st, F, M1, mean)[0]
                out[offn] += nj * F1
                out[offA] += nj * (M11 - M0 + e0 * F0)
                fired[q] += nj * (1.0 - FK)
                l0 = max(1, lo - 1)
                l1 = min(K, hi + 1)
                if l0 >= l1:
                    continue
                Fp, Mp = wvalue(l0, lo, hi, st, F, M1, mean)
                for m in range(l0, l1):
                    Fn, Mn = wvalue(m + 1, lo, hi, st, F, M1, mean)
                    out[offn + m] += nj * (Fn - Fp)
                    out[offA + m] += nj * (Mn - Mp)
                    Fp = Fn
                    Mp = Mn
        return fired

    return former


def _bench_transport(out: dict, m, states: np.ndarray, pairs: int = 5) -> None:
    """CPU per transport call, current against the pinned former form (commit 6572836's
    transport, same kernel pieces), alternated; and their largest difference (0: the
    current transport is bit-identical to it)."""
    import numba as nb

    def looped(fn):
        @nb.njit
        def loop(S, pv, edges, opt, reps, O):
            F = np.empty(edges.shape[0])
            M1 = np.empty(edges.shape[0])
            acc = 0.0
            for _ in range(reps):
                for i in range(S.shape[0]):
                    acc += fn(S[i], pv, edges, opt, O[i], F, M1)[0]
            return acc
        return loop

    loops = {"current": looped(m.module.transport),
             "former": looped(_former_transport(m.module))}
    res: dict = {k: [] for k in loops}
    outs = {}
    for k, loop in loops.items():
        outs[k] = np.zeros_like(states)
        loop(states, m.pv, m.edges, m.opt, 1, outs[k])  # compile, and the outputs
    n4 = 4 * m.definition.K
    diff = np.abs(outs["current"][:, :n4] - outs["former"][:, :n4])
    rel = float(np.max(diff / np.abs(outs["former"][:, :n4]).max(axis=1, keepdims=True)))
    for _ in range(pairs):
        for k, loop in loops.items():
            o = np.zeros_like(states)
            c0 = time.process_time()
            loop(states, m.pv, m.edges, m.opt, 3, o)
            res[k].append((time.process_time() - c0) / (3 * states.shape[0]) * 1e6)
    ratio = float(np.median(np.array(res["former"]) / np.array(res["current"])))
    out.update(transport_us_pairs=list(zip(res["current"], res["former"], strict=True)),
               transport_former_over_current=ratio, transport_max_diff_over_max=rel)
    print("transport CPU us per call, current / pinned former (6572836), alternating: "
          + ", ".join(f"{a:.2f} / {b:.2f}" for a, b in zip(res["current"], res["former"],
                                                            strict=True))
          + f"; former / current median {ratio:.2f}; largest difference {rel:.1e} of max|out|")


def _bench_jacobian_window(out: dict, m, states: np.ndarray, pairs: int = 5) -> None:
    """CPU per analytic Jacobian (the paper closure's ``jac_paper``) with the edge windows
    (``JAC_WINDOW``, the current kernel) against every edge and target bin (the previous
    loops, the same function with ``window`` False), alternated over the states of an
    oscillating trajectory in one process; the ratio and their largest difference (0: the
    windowed Jacobian is bit-identical)."""
    import numba as nb

    jp = m.module.jac_paper
    nx = states.shape[1]
    K1 = m.edges.shape[0]

    @nb.njit
    def loop(S, pv, edges, opt, reps, window, O):
        J = np.empty((nx, nx))
        gf = np.empty((2, nx))
        F = np.empty(K1)
        M1 = np.empty(K1)
        dF = np.empty((K1, 4))
        dM1 = np.empty((K1, 4))
        for _ in range(reps):
            for i in range(S.shape[0]):
                jp(S[i], pv, edges, opt, J, gf, F, M1, dF, dM1, window)
                O[i] = J[0, 0] + J[nx - 1, 0]
        return J

    n = min(states.shape[0], 400)
    S = np.ascontiguousarray(states[:: max(1, states.shape[0] // n)])
    o = np.empty(S.shape[0])
    diff = 0.0
    for i in range(S.shape[0]):  # compiles; every state's Jacobian compared entry by entry
        a = loop(S[i:i + 1], m.pv, m.edges, m.opt, 1, True, o).copy()
        b = loop(S[i:i + 1], m.pv, m.edges, m.opt, 1, False, o)
        diff = max(diff, float(np.max(np.abs(a - b))))
    res: dict = {True: [], False: []}
    for _ in range(pairs):
        for window in (True, False):
            c0 = time.process_time()
            loop(S, m.pv, m.edges, m.opt, 5, window, o)
            res[window].append((time.process_time() - c0) / (5 * S.shape[0]) * 1e6)
    ratio = float(np.median(np.array(res[True]) / np.array(res[False])))
    out.update(jacobian_window_us_pairs=list(zip(res[True], res[False], strict=True)),
               jacobian_window_over_full=ratio, jacobian_window_max_diff=diff)
    print("analytic Jacobian CPU us per call, edge windows / every edge (the previous loops), "
          "alternating: " + ", ".join(f"{a:.1f} / {b:.1f}" for a, b in zip(
              res[True], res[False], strict=True))
          + f"; windows / every edge median {ratio:.3f}; largest difference {diff:.1e}")


def _bench_runs(out: dict, scale: int, t1: float, t2: float) -> None:
    d = MarkovModelDef()
    if scale != 1:
        d = d.replace(params=d.params.scaled(scale))
    m = d.compile()
    ref = _libm_twin(m)
    label = f"N = {d.params.N_E}/{d.params.N_I}"
    key = "" if scale == 1 else f"_Nx{scale}"
    old_tol = {"rtol": 1e-6, "atol": 1e-8}  # and Dormand-Prince, the former pair
    runs = [
        ("map", lambda t: simulate_map(m, t_ms=t), t1, t2, "<= 0.2"),
        ("map_ref", lambda t: simulate_map(ref, t_ms=t), t1, t2, "pinned reference"),
        ("ode_explicit", lambda t: simulate_ode(m, t_ms=t), t1, t2, "<= 1"),
        ("ode_explicit_ref", lambda t: simulate_ode(ref, t_ms=t, explicit_method="dopri5",
                                                    **old_tol), t1, t2,
         "pinned reference"),
        ("ode_lsoda", lambda t: simulate_ode(m, t_ms=t, integrator="stiff", method="LSODA"),
         t1, t2, "<= 1"),
    ]
    if scale == 1:
        runs.append(("ode_bdf",
                     lambda t: simulate_ode(m, t_ms=t, integrator="stiff", method="BDF"),
                     t1 / 2, t2 / 4, "<= 1"))
    for name, run, a, b, target in runs:
        wall, cpu = _per_model_second(run, a, b)
        out[f"{name}_s_per_model_s{key}"] = wall
        out[f"{name}_cpu_s_per_model_s{key}"] = cpu
        print(f"[{label}] {name:<16} wall {wall:7.3f}, CPU {cpu:7.3f} s per model s "
              f"(target {target})")
    for name in ("map", "ode_explicit"):
        r = out[f"{name}_ref_cpu_s_per_model_s{key}"] / out[f"{name}_cpu_s_per_model_s{key}"]
        out[f"{name}_ref_over_current{key}"] = r
        print(f"[{label}] {name}: pinned reference / current CPU cost: {r:.2f}")


def _bench_snn_ratio(out: dict, t1: float, t2: float, repeats: int = 3) -> None:
    """CPU cost of the SNN at N = 4000 against the explicit ODE's, measured in alternating
    rounds (ODE at its defaults: Tsitouras 5(4), simulation kernel cut of 6 sd; ODE with the
    model's kernel, 8.5 sd; ODE with the former pair, Dormand-Prince 5(4), at the default
    cut; SNN; ``repeats`` times) so that the load of the shared machine, which moves CPU
    figures by 2x within minutes, enters every side of each ratio alike; the medians of the
    rounds' ratios are reported.  LSODA against the median SNN cost."""
    from bifsnn.network.params import NetworkParams
    from bifsnn.network.snn import simulate_snn
    from bifsnn.reduction.integrate import KERNEL_CUT_SD

    params = NetworkParams().scaled(10)
    m = MarkovModelDef().compile()
    triples = []
    for _ in range(repeats):
        _, c_ode = _per_model_second(lambda t: simulate_ode(m, t_ms=t), t1, t2)
        _, c_exact = _per_model_second(
            lambda t: simulate_ode(m, t_ms=t, kernel_cut_sd=KERNEL_CUT_SD), t1, t2)
        _, c_dp5 = _per_model_second(
            lambda t: simulate_ode(m, t_ms=t, explicit_method="dopri5"), t1, t2)
        _, c_snn = _per_model_second(
            lambda t: simulate_snn(params, t_ms=t, progress=False), t1 / 4, t2 / 4)
        triples.append((c_snn, c_ode, c_exact, c_dp5))
    ratios = [a / b for a, b, _, _ in triples]
    ratios_exact = [a / c for a, _, c, _ in triples]
    ratios_dp5 = [a / e for a, _, _, e in triples]
    cpu = float(np.median([a[0] for a in triples]))
    out["snn_N4000_cpu_s_per_model_s"] = cpu
    out["snn_N4000_ode_triples_cpu"] = triples
    out["snn_N4000_over_ode_explicit"] = float(np.median(ratios))
    out["snn_N4000_over_ode_explicit_exact_kernel"] = float(np.median(ratios_exact))
    out["snn_N4000_over_ode_explicit_dopri5"] = float(np.median(ratios_dp5))
    out["snn_N4000_over_ode_lsoda"] = cpu / out["ode_lsoda_cpu_s_per_model_s"]
    print("[N = 4000] SNN annealed / explicit ODE (default: tsit5, cut 6 sd) / explicit ODE "
          "(model's kernel, 8.5 sd) / explicit ODE (dopri5, cut 6 sd), CPU s per model s, "
          "alternating: " + ", ".join(f"{a:.3f} / {b:.3f} / {c:.3f} / {e:.3f}"
                                      for a, b, c, e in triples))
    print(f"SNN (N = 4000) / explicit ODE CPU cost per model second: median "
          f"{out['snn_N4000_over_ode_explicit']:.2f} (triples "
          + ", ".join(f"{r:.2f}" for r in ratios) + "); with the model's kernel "
          f"{out['snn_N4000_over_ode_explicit_exact_kernel']:.2f} ("
          + ", ".join(f"{r:.2f}" for r in ratios_exact) + "); with dopri5 "
          f"{out['snn_N4000_over_ode_explicit_dopri5']:.2f} ("
          + ", ".join(f"{r:.2f}" for r in ratios_dp5) + "); issue 14 target: >= 5")
    print(f"SNN (N = 4000, median) / LSODA: {out['snn_N4000_over_ode_lsoda']:.2f}")


def _rhs_loop_us(m, states: np.ndarray, reps: int = 3) -> float:
    """CPU microseconds per right-hand side alone: a numba loop over ``states``."""
    import numba as nb

    rhs = m.module.rhs

    @nb.njit
    def loop(S, pv, edges, opt, reps):
        F = np.empty(edges.shape[0])
        M1 = np.empty(edges.shape[0])
        out = np.empty(S.shape[1])
        acc = 0.0
        for _ in range(reps):
            for i in range(S.shape[0]):
                acc += rhs(S[i], pv, edges, opt, out, F, M1)[0]
        return acc

    loop(states[:2], m.pv, m.edges, m.opt, 1)  # compile
    c0 = time.process_time()
    loop(states, m.pv, m.edges, m.opt, reps)
    return (time.process_time() - c0) / (reps * states.shape[0]) * 1e6


def _bench_ode_budget(out: dict, t1: float, t2: float, repeats: int = 3) -> None:
    """Where the explicit ODE's CPU time goes (differential between runs of t1 and t2 ms):
    attempted steps and right-hand sides per model second (deterministic), and CPU per
    right-hand side inside the integrator against the right-hand side alone on states of the
    same trajectory, alternated ``repeats`` times (median of the pairs' ratios)."""
    from bifsnn.reduction.integrate import KERNEL_CUT_SD

    m = MarkovModelDef().compile()
    exact = {"kernel_cut_sd": KERNEL_CUT_SD}  # the right-hand side alone is the model's
    simulate_ode(m, t_ms=1.0, **exact)
    r1 = simulate_ode(m, t_ms=t1, **exact)
    r2 = simulate_ode(m, t_ms=t2, record_every_ms=0.05, **exact)
    scale = (t2 - t1) / 1000.0
    steps = (r2.options["n_steps"] - r1.options["n_steps"]) / scale  # rejected included
    rej = (r2.options["n_rejected"] - r1.options["n_rejected"]) / scale
    n_rhs = 6.0 * steps  # FSAL: 6 new right-hand sides per attempted step
    states = np.ascontiguousarray(r2.extra["state"][int(t1 / 0.05):])
    pairs = []
    for _ in range(repeats):
        _, cpu = _per_model_second(lambda t: simulate_ode(m, t_ms=t, **exact), t1, t2)
        pairs.append((cpu / n_rhs * 1e6, _rhs_loop_us(m, states)))
    ratio = float(np.median([a / b for a, b in pairs]))
    out.update(ode_steps_per_model_s=steps, ode_rejected_per_model_s=rej,
               ode_rhs_per_model_s=n_rhs, ode_us_per_rhs_pairs=pairs,
               ode_integrator_over_rhs_alone=ratio)
    print(f"explicit ODE per model second: {steps:.0f} steps ({rej:.0f} of them rejected), "
          f"{n_rhs:.0f} right-hand sides; CPU us per right-hand side inside the integrator / "
          "alone (numba loop over the same trajectory), alternating: "
          + ", ".join(f"{a:.2f} / {b:.2f}" for a, b in pairs)
          + f"; median ratio {ratio:.3f}")


def _error_vs(ref, r, rtol: float = 1e-5, atol: float = 1e-6) -> tuple[float, float, float]:
    """(mean E rate, E count per step, final state) errors of ``r`` against ``ref``."""
    ce, cr = r.spike_counts_e, ref.spike_counts_e
    rate = abs(ce.sum() / cr.sum() - 1.0)
    count = float(np.max(np.abs(ce - cr)) / cr.max())
    xr = ref.extra["final_state"]
    state = float(np.sqrt(np.mean(((r.extra["final_state"] - xr)
                                   / (atol + rtol * np.abs(xr))) ** 2)))
    return rate, count, state


def _dop853_run(m, x0: np.ndarray, t_ms: float, rtol: float, atol: float):
    """scipy DOP853 on the ODE with the cumulative counts: a SimulationResult-like record."""
    from types import SimpleNamespace

    from scipy.integrate import solve_ivp

    nx = m.n_state

    def fun(t, y):
        f, fr = m.rhs_and_rates(y[:nx])
        return np.concatenate([f, fr])

    dt = m.definition.params.dt
    n = int(round(t_ms / dt))
    atol_v = np.full(nx + 2, atol)
    atol_v[nx:] = 1e6  # counts not error-controlled, as in simulate_ode
    sol = solve_ivp(fun, (0.0, n * dt), np.concatenate([x0, [0.0, 0.0]]), method="DOP853",
                    rtol=rtol, atol=atol_v, t_eval=np.arange(n + 1) * dt)
    counts = np.diff(sol.y[nx], axis=0)
    return SimpleNamespace(spike_counts_e=counts, extra={"final_state": sol.y[:nx, -1]},
                           options={"n_fev": sol.nfev, "n_jev": 0, "n_lu": 0})


def _bench_methods(out: dict, t_ms: float = 60.0) -> None:
    """Evaluations per model ms and accuracy of other integrators over the same stretch."""
    import scipy.linalg

    from bifsnn.continuation.linalg import blas_single_thread

    m = MarkovModelDef().compile()
    x0 = simulate_ode(m, t_ms=200.0).extra["final_state"]
    ref = simulate_ode(m, t_ms=t_ms, x0=x0, rtol=1e-10, atol=1e-12, explicit_method="dopri5")
    # cost of one Jacobian and one LU of I - c J in right-hand sides, to rank the methods
    # by what a compiled version of each would cost (Python overhead of scipy excluded)
    states = np.ascontiguousarray(
        simulate_ode(m, t_ms=30.0, x0=x0, record_every_ms=0.05).extra["state"])
    us_rhs = _rhs_loop_us(m, states, reps=2)
    _, cpu_jac = _median_time(lambda: m.jacobian(x0), 200)
    a = np.eye(m.n_state) - 0.05 * m.jacobian(x0)
    with blas_single_thread():
        _, cpu_lu = _median_time(lambda: scipy.linalg.lu_factor(a, check_finite=False), 200)
    jac_eq, lu_eq = cpu_jac * 1e6 / us_rhs, cpu_lu * 1e6 / us_rhs
    out.update(methods_us_rhs=us_rhs, methods_jac_in_rhs=jac_eq, methods_lu_in_rhs=lu_eq)
    print(f"one right-hand side {us_rhs:.1f} us; one Jacobian = {jac_eq:.1f}, one LU "
          f"(148 x 148, scipy, 1 BLAS thread) = {lu_eq:.1f} right-hand sides (CPU)")
    cases = [(f"{pair} (compiled)", rt,
              lambda rt, pair=pair: simulate_ode(m, t_ms=t_ms, x0=x0, rtol=rt, atol=rt / 10,
                                                 explicit_method=pair))
             for pair in ("dopri5", "tsit5") for rt in (1e-4, 1e-5, 1e-6)]
    cases.append(("DOP853 (scipy)", 1e-5, lambda rt: _dop853_run(m, x0, t_ms, rt, rt / 10)))
    for meth, tols in (("Radau", (1e-3, 1e-4, 1e-5)), ("BDF", (1e-3, 1e-4, 1e-5)),
                       ("LSODA", (1e-4, 1e-5))):
        cases += [(f"{meth} (scipy, analytic J)", rt,
                   lambda rt, meth=meth: simulate_ode(m, t_ms=t_ms, x0=x0, integrator="stiff",
                                                      method=meth, rtol=rt, atol=rt / 10))
                  for rt in tols]
    print(f"methods over {t_ms:.0f} ms of the oscillation (after 200 ms), errors against "
          "dopri5 at rtol 1e-10: per model ms right-hand sides / Jacobians / LUs = cost in "
          "right-hand sides; errors: mean E rate, E count per step, final state "
          "(tolerance units)")
    rows = []
    for name, rt, run in cases:
        c0 = time.process_time()
        r = run(rt)
        cpu = (time.process_time() - c0) / t_ms * 1000.0
        o = r.options
        if "n_fev" in o:
            fev, jev, nlu = o["n_fev"], o["n_jev"], o["n_lu"]
        else:
            fev, jev, nlu = 6 * o["n_steps"] + 1, 0, 0  # n_steps counts rejected ones
        err = _error_vs(ref, r)
        equiv = (fev + jev * jac_eq + nlu * lu_eq) / t_ms
        rows.append({"method": name, "rtol": rt, "rhs_per_ms": fev / t_ms,
                     "jac_per_ms": jev / t_ms, "lu_per_ms": nlu / t_ms,
                     "rhs_equivalents_per_ms": equiv,
                     "cpu_s_per_model_s": cpu, "err_rate": err[0], "err_count": err[1],
                     "err_state": err[2]})
        print(f"  {name:<28} rtol {rt:.0e}: {fev / t_ms:6.1f} / {jev / t_ms:5.2f} / "
              f"{nlu / t_ms:5.2f} = {equiv:6.1f} rhs-equivalents; CPU {cpu:6.2f} s per "
              f"model s; errors {err[0]:.1e}, {err[1]:.1e}, {err[2]:.2g}")
    out["methods"] = rows


def _peak_summary(r, t0_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """(heights, times in ms) of the MFE peaks of the E rate after ``t0_ms``, times refined
    by a parabola through the peak step and its neighbours."""
    from bifsnn.network.observables import mfe_peaks

    dt = r.dt_ms
    y = r.spike_counts_e[int(round(t0_ms / dt)):] / dt
    pk = mfe_peaks(y, dt)
    idx = pk.indices[(pk.indices > 0) & (pk.indices < y.size - 1)]
    ym, y0, yp = y[idx - 1], y[idx], y[idx + 1]
    shift = 0.5 * (ym - yp) / (ym - 2.0 * y0 + yp)
    return y0, (idx + shift) * dt


def _cut_errors(ref, r, t0_ms: float) -> dict:
    """Errors of run ``r`` against ``ref`` after ``t0_ms``: mean E / I rates (relative),
    MFE peak heights (largest relative deviation of matched peaks), period (relative, mean
    interval between refined peaks), E count per step (max deviation / max count), final
    state (largest deviation / largest component)."""
    i0 = int(round(t0_ms / ref.dt_ms))
    res = {}
    for pop in ("e", "i"):
        a = getattr(r, f"spike_counts_{pop}")[i0:].sum()
        b = getattr(ref, f"spike_counts_{pop}")[i0:].sum()
        res[f"rate_{pop}"] = abs(a / b - 1.0)
    (h, t), (hr, tr) = _peak_summary(r, t0_ms), _peak_summary(ref, t0_ms)
    if h.size == hr.size and h.size > 2:
        res["peaks"] = float(np.max(np.abs(h - hr) / hr))
        res["period"] = abs(float(np.mean(np.diff(t)) / np.mean(np.diff(tr))) - 1.0)
    else:
        res["peaks"] = res["period"] = float("nan")
    res["n_peaks"] = int(hr.size)
    ce, cr = r.spike_counts_e[i0:], ref.spike_counts_e[i0:]
    res["count"] = float(np.max(np.abs(ce - cr)) / cr.max())
    xr = ref.extra["final_state"]
    res["state"] = float(np.max(np.abs(r.extra["final_state"] - xr)) / np.max(np.abs(xr)))
    return res


def _bench_kernel_cut(out: dict, cuts=(8.5, 7.0, 6.5, 6.0, 5.5), t_ms: float = 1200.0,
                      t0_ms: float = 200.0) -> None:
    """The simulation-only kernel cut (``simulate_ode(kernel_cut_sd=c)``) against the model's
    kernel: each cut at tight tolerances (rtol 1e-10, atol 1e-12, Dormand-Prince for both:
    the cut's own effect on the model) and at the defaults (the cut plus the integrator's
    error), against the model's kernel at tight tolerances; and the cost of each at the
    defaults (CPU per model second, differential, the cuts alternated three times, median)."""
    from bifsnn.reduction.integrate import KERNEL_CUT_SD

    m = MarkovModelDef().compile()
    tight = {"rtol": 1e-10, "atol": 1e-12, "explicit_method": "dopri5"}
    ref = simulate_ode(m, t_ms=t_ms, kernel_cut_sd=KERNEL_CUT_SD, **tight)
    print(f"kernel cut: errors against the model's kernel (8.5 sd) at rtol 1e-10, "
          f"{t_ms:.0f} ms after {t0_ms:.0f} ms ({ref.options['n_steps']} steps): mean rates "
          "E / I, MFE peak heights (max over matched peaks), period, E count per step, final "
          "state (max / max)")
    rows = []
    for c in cuts:
        for tol_name, tol in (("tight", tight), ("default", {})):
            r = simulate_ode(m, t_ms=t_ms, kernel_cut_sd=c, **tol)
            e = _cut_errors(ref, r, t0_ms)
            rows.append({"cut_sd": c, "tol": tol_name, "steps": r.options["n_steps"], **e})
            print(f"  cut {c:4.1f} sd, {tol_name:<7}: steps {r.options['n_steps']:6d}; rates "
                  f"{e['rate_e']:.1e} / {e['rate_i']:.1e}, peaks {e['peaks']:.1e} "
                  f"({e['n_peaks']}), period {e['period']:.1e}, count {e['count']:.1e}, "
                  f"state {e['state']:.1e}")
    cost: dict = {c: [] for c in cuts}
    for _ in range(3):
        for c in cuts:
            cost[c].append(_per_model_second(
                lambda t, c=c: simulate_ode(m, t_ms=t, kernel_cut_sd=c), 200.0, 1200.0)[1])
    med = {c: float(np.median(v)) for c, v in cost.items()}
    print("  CPU s per model s at the defaults (3 alternations, median): "
          + ", ".join(f"cut {c}: {med[c]:.3f} ({med[cuts[0]] / med[c]:.2f}x)" for c in cuts))
    out["kernel_cut"] = {"errors": rows, "cpu_s_per_model_s": {str(c): v for c, v in
                                                               cost.items()}}


def _bench_pairs(out: dict, t_ms: float = 1200.0, t0_ms: float = 200.0) -> None:
    """The explicit pairs at several tolerances (atol = rtol / 10), default network and N x 10:
    right-hand sides over ``t_ms`` and the errors of :func:`_cut_errors` against the model's
    kernel at rtol 1e-10 (Dormand-Prince), so the pairs are compared at equal accuracy; the
    runs use the default kernel cut."""
    from bifsnn.reduction.integrate import KERNEL_CUT_SD

    rows = []
    for label, scale in (("N = 300/100", 1), ("N = 3000/1000", 10)):
        d = MarkovModelDef()
        if scale != 1:
            d = d.replace(params=d.params.scaled(scale))
        m = d.compile()
        ref = simulate_ode(m, t_ms=t_ms, kernel_cut_sd=KERNEL_CUT_SD, rtol=1e-10, atol=1e-12,
                           explicit_method="dopri5")
        print(f"[{label}] explicit pairs over {t_ms:.0f} ms (errors after {t0_ms:.0f} ms "
              "against the model's kernel at rtol 1e-10): right-hand sides (6 per attempted "
              "step), rejected steps; mean rates E / I, MFE peak heights, period, E count per "
              "step, final state")
        for pair in ("dopri5", "tsit5"):
            for rt in (3e-6, 5e-6, 1e-5, 2e-5):
                r = simulate_ode(m, t_ms=t_ms, rtol=rt, atol=rt / 10, explicit_method=pair)
                e = _cut_errors(ref, r, t0_ms)
                n_rhs = 6 * r.options["n_steps"] + 1
                rows.append({"network": label, "pair": pair, "rtol": rt, "rhs": n_rhs,
                             "rejected": r.options["n_rejected"], **e})
                print(f"  {pair:<6} rtol {rt:.0e}: {n_rhs:6d} rhs ({r.options['n_rejected']:3d}"
                      f" rej.); rates {e['rate_e']:.1e} / {e['rate_i']:.1e}, peaks "
                      f"{e['peaks']:.1e}, period {e['period']:.1e}, count {e['count']:.1e}, "
                      f"state {e['state']:.1e}")
    out["pairs"] = rows


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter runs")
    ap.add_argument("--json", help="write the numbers to this file")
    ap.add_argument("--skip-start", action="store_true", help="skip cold/warm start timing")
    ap.add_argument("--methods", action="store_true",
                    help="also compare other integrators at equal accuracy (~1-2 min)")
    ap.add_argument("--kernel-cut", action="store_true",
                    help="only the kernel cut's error and cost against the model's kernel")
    ap.add_argument("--pairs", action="store_true",
                    help="only the explicit pairs' right-hand sides and errors (~1 min)")
    ap.add_argument("--jacobian", action="store_true",
                    help="only the analytic Jacobian: edge windows against every edge")
    args = ap.parse_args(argv)
    out: dict = {"load_avg_1min_before": os.getloadavg()[0]}
    if args.kernel_cut:
        _bench_kernel_cut(out)
        return _finish(out, args.json)
    if args.pairs:
        _bench_pairs(out)
        return _finish(out, args.json)
    if args.jacobian:
        _bench_jacobian_only(out)
        return _finish(out, args.json)

    if not args.skip_start:
        with tempfile.TemporaryDirectory() as cache:
            out["cold_start_s"] = _start_time(cache)
            out["warm_start_s"] = _start_time(cache)
        print(f"cold start (generate + compile, 1 rule): {out['cold_start_s']:.1f} s wall "
              f"(target <= ~60 s)")
        print(f"warm start (cached):                     {out['warm_start_s']:.1f} s wall "
              f"(target: a few s)")
    _bench_micro(out)
    t1, t2 = (100.0, 300.0) if args.quick else (200.0, 1200.0)
    for scale in (1, 4):
        _bench_runs(out, scale, t1, t2)
    _bench_snn_ratio(out, t1, t2)
    _bench_ode_budget(out, t1, t2)
    if args.methods:
        _bench_methods(out)
    return _finish(out, args.json)


def _finish(out: dict, json_path: str | None) -> dict:
    """Print the load average before / after, write ``out`` as JSON if asked; return it."""
    out["load_avg_1min_after"] = os.getloadavg()[0]
    print(f"load average (1 min) before / after: {out['load_avg_1min_before']:.1f} / "
          f"{out['load_avg_1min_after']:.1f} on {os.cpu_count()} cores")
    if json_path:
        with open(json_path, "w") as fh:
            json.dump(out, fh, indent=2)
    return out


if __name__ == "__main__":
    main()
