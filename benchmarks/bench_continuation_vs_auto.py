"""Benchmark: bifsnn's continuation engine against AUTO-07p on the same problems.

Runs, with the same tolerances and the same collocation mesh (NTST, NCOL) on both sides,

(a) the Brusselator (equilibria in b, Hopf at 1 + a^2, cycles from the Hopf),
(b) the Lorenz system (C+ in r, subcritical Hopf at r = 24.7368..., cycles from it),
(c) the 1-D reaction-diffusion Brusselator for n = 4 .. 300 state variables (equilibria
    through the Hopf points, cycles from the first Hopf, per-step timing),

and prints, per located point, the number of matching significant digits between bifsnn
and AUTO (and against the closed-form value where one exists), and the AUTO / bifsnn ratio
of wall time per continuation step for equilibria and for cycles as a function of n.

Targets checked: >= 6 matching digits on located points; bifsnn >= 10x faster than AUTO
per cycle step at n = 200.

Run::

    python benchmarks/bench_continuation_vs_auto.py                 # n = 4 20 50 100 200
    python benchmarks/bench_continuation_vs_auto.py --n 4 20 --quick  # a minute or so
    python benchmarks/bench_continuation_vs_auto.py --json out.json   # also save the numbers

AUTO needs the optional ``bifpy`` package (see ``auto_peer.py`` for the install steps);
without it only the bifsnn side runs.  Whatever part of bifsnn's engine cannot be imported
is reported by name and skipped.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import auto_peer as ap  # noqa: E402

# ---------------------------------------------------------------------------------------
# bifsnn side: thin adapters onto bifsnn.continuation (equilibria) and .periodic (cycles)
# ---------------------------------------------------------------------------------------

_EQ_DRIVER_CANDIDATES = (
    ("bifsnn.continuation.equilibria", "continue_equilibria"),
    ("bifsnn.continuation", "continue_equilibria"),
    ("bifsnn.continuation.equilibria", "equilibria"),
)


def _resolve(candidates) -> tuple[Callable | None, str]:
    errors = []
    for mod_name, attr in candidates:
        try:
            mod = importlib.import_module(mod_name)
        except Exception as exc:  # noqa: BLE001 - report any import failure verbatim
            errors.append(f"{mod_name}: {type(exc).__name__}: {exc}")
            continue
        fn = getattr(mod, attr, None)
        if callable(fn):
            return fn, f"{mod_name}.{attr}"
        errors.append(f"{mod_name} has no {attr}")
    return None, "; ".join(errors)


def bifsnn_parts() -> dict[str, tuple[Callable | None, str]]:
    """Which pieces of bifsnn's engine are importable now (name -> (callable, where/why))."""
    parts = {"equilibria": _resolve(_EQ_DRIVER_CANDIDATES)}
    parts["cycle_from_hopf"] = _resolve((("bifsnn.continuation.periodic",
                                          "cycle_from_hopf"),))
    parts["continue_cycles"] = _resolve((("bifsnn.continuation.periodic",
                                          "continue_cycles_from_orbit"),))
    parts["solve_cycle"] = _resolve((("bifsnn.continuation.periodic", "solve_cycle"),))
    return parts


@dataclass
class Model:
    """One benchmark model in the form both engines need."""

    name: str
    f: Callable  # f(u, p), u (n,) or (n, K)
    jac: Callable  # (df/du dense, df/dp) for AUTO
    x0: np.ndarray
    p0: np.ndarray
    ipar: int
    bounds: tuple[float, float]
    dfdx_bifsnn: Callable | None = None  # df/du for bifsnn (sparse at large n)
    jac_sparsity: object = None
    exact_hopf: float | None = None
    batch: object = None  # batched f / df/dx / df/dp for bifsnn (ODEProblem.batch)


@dataclass
class Row:
    """One printed comparison line."""

    problem: str
    what: str
    bifsnn: float | None
    auto: float | None
    exact: float | None = None
    note: str = ""
    digits_vs_auto: float | None = None
    digits_vs_exact_bifsnn: float | None = None
    digits_vs_exact_auto: float | None = None

    def __post_init__(self) -> None:
        if self.bifsnn is not None and self.auto is not None:
            self.digits_vs_auto = ap.matching_digits(self.bifsnn, self.auto)
        if self.exact is not None:
            if self.bifsnn is not None:
                self.digits_vs_exact_bifsnn = ap.matching_digits(self.bifsnn, self.exact)
            if self.auto is not None:
                self.digits_vs_exact_auto = ap.matching_digits(self.auto, self.exact)


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    timing: list[dict] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def bifsnn_equilibria(driver: Callable, model: Model, settings: ap.AutoSettings, n_steps: int,
                      baseline: int | None = None, compute_l1: bool = False):
    """Equilibrium branch of ``model`` with bifsnn (same tolerances as AUTO)."""
    from bifsnn.continuation.options import ContinuationOptions
    from bifsnn.continuation.problem import ODEProblem

    problem = ODEProblem(
        f=model.f, x0=model.x0, p0=model.p0, param=model.ipar,
        dfdx=model.dfdx_bifsnn or (lambda u, p: model.jac(u, p)[0]),
        dfdp=lambda u, p: _full_dfdp(model, u, p), name=model.name, batch=model.batch,
    )

    def run(steps: int):
        opts = ContinuationOptions(
            ds=abs(settings.ds), ds_min=settings.dsmin, ds_max=settings.dsmax, max_steps=steps,
            p_min=model.bounds[0], p_max=model.bounds[1], newton_tol=settings.epsu,
            locate_tol=min(settings.epss, 1e-9), direction=1 if settings.ds > 0 else -1,
            compute_l1=compute_l1, detect_codim2=False,
        )
        return driver(problem, opts)

    return ap.differential_timing(run, n_steps, baseline, lambda br: max(len(br) - 1, 0))


def _full_dfdp(model: Model, u, p) -> np.ndarray:
    dfdp = np.asarray(model.jac(u, p)[1], dtype=float)
    out = np.zeros((u.shape[0], model.p0.size))
    out[:, : dfdp.shape[1]] = dfdp
    return out


def bifsnn_cycle_system(model: Model):
    from bifsnn.continuation.periodic.system import CycleSystem

    return CycleSystem(
        model.f, int(model.x0.size),
        dfdx=model.dfdx_bifsnn or (lambda u, p: model.jac(u, p)[0]),
        dfdp=lambda u, p: _full_dfdp(model, u, p),
        params=model.p0, ipar=model.ipar, vectorized=True, jac_sparsity=model.jac_sparsity,
    )


def hopf_data(model: Model, x: np.ndarray, p_value: float) -> tuple[float, np.ndarray]:
    """(omega, q) of the critical eigenpair at a Hopf point (dense eig of the Jacobian)."""
    p = model.p0.copy()
    p[model.ipar] = p_value
    J = np.asarray(model.jac(np.asarray(x, dtype=float), p)[0])
    lam, V = np.linalg.eig(J)
    cand = np.flatnonzero(lam.imag > 1e-12)
    if cand.size == 0:
        raise ValueError(f"no complex eigenvalue at the Hopf point p={p_value!r}")
    k = int(cand[np.argmin(np.abs(lam.real[cand]))])
    return float(abs(lam[k].imag)), V[:, k]


def bifsnn_cycles(model: Model, system, x_h, p_h, omega, q, settings: ap.AutoSettings,
                  n_steps: int, baseline: int | None, *, p_bounds, T_max=math.inf,
                  adapt_every: int = 0):
    from bifsnn.continuation import ContinuationOptions
    from bifsnn.continuation.periodic import (
        CYCLE_DEFAULTS,
        Collocation,
        continue_cycles_from_orbit,
        cycle_from_hopf,
    )

    start = cycle_from_hopf(system, x_h, p_h, omega, q, ntst=settings.ntst, ncol=settings.ncol)
    disc = Collocation(ntst=settings.ntst, ncol=settings.ncol, adapt_mesh=adapt_every)

    def run(steps: int):
        opts = ContinuationOptions(**{
            **CYCLE_DEFAULTS, "ds": settings.ds, "ds_min": settings.dsmin,
            "ds_max": settings.dsmax, "max_steps": max(steps, 1), "p_min": p_bounds[0],
            "p_max": p_bounds[1], "period_max": T_max, "newton_tol": settings.epsu})
        return continue_cycles_from_orbit(system, start, opts, disc)

    return ap.differential_timing(run, n_steps, baseline, lambda br: len(br))


def shooting_period(model: Model, p_value: float, x0: np.ndarray, T0: float) -> float | None:
    """Reference period at p by single shooting (DOP853, rtol = atol = 1e-13).

    Unknowns: the state except component 0 (held fixed as the phase condition) and T;
    equations: phi_T(x) - x = 0.  Small systems only (n + 1 integrations per Newton step).
    """
    from scipy.integrate import solve_ivp
    from scipy.optimize import fsolve

    p = model.p0.copy()
    p[model.ipar] = p_value
    x0 = np.asarray(x0, dtype=float)

    def residual(z):
        x = x0.copy()
        x[1:] = z[:-1]
        sol = solve_ivp(lambda t, u: model.f(u, p), (0.0, z[-1]), x, method="DOP853",
                        rtol=1e-13, atol=1e-13)
        return sol.y[:, -1] - x

    z, _, ier, _ = fsolve(residual, np.concatenate([x0[1:], [T0]]), full_output=True,
                          xtol=1e-13)
    return float(z[-1]) if ier == 1 else None


def bifsnn_period_at(system, branch, p_target: float, settings: ap.AutoSettings) -> float | None:
    """Period of the bifsnn cycle at exactly p_target (Newton at fixed p from the nearest point)."""
    from bifsnn.continuation.periodic import solve_cycle

    if not len(branch):
        return None
    k = int(np.argmin(np.abs(branch.param_values - p_target)))
    pt = branch.cycle(k)
    sol = solve_cycle(system, pt.tm, pt.U, pt.T, p_target, pt.ncol, adapt=0,
                      tol=settings.epsu, floquet=False)
    return float(sol.T) if sol.success else None


# ---------------------------------------------------------------------------------------
# the problems
# ---------------------------------------------------------------------------------------


def brusselator_model(a: float = 2.0) -> Model:
    return Model("brusselator", ap.brusselator_rhs, ap.brusselator_jac, np.array([a, 1.0 / a]),
                 np.array([a, 1.0]), 1, (0.0, 8.0), exact_hopf=ap.brusselator_hopf_b(a))


def lorenz_model(sigma: float = 10.0, beta: float = 8.0 / 3.0, r0: float = 10.0) -> Model:
    return Model("lorenz", ap.lorenz_rhs, ap.lorenz_jac, ap.lorenz_c_plus(r0, beta),
                 np.array([r0, sigma, beta]), 0, (1.0001, 30.0),
                 exact_hopf=ap.lorenz_hopf_r(sigma, beta))


def brusselator_1d_model(n: int, cfg: ap.Brusselator1DConfig | None = None) -> Model:
    cfg = cfg or ap.Brusselator1DConfig()
    x0 = np.empty(n)
    x0[0::2] = cfg.a
    x0[1::2] = cfg.b_start / cfg.a
    return Model(f"brusselator_1d[n={n}]", ap.brusselator_1d_rhs, ap.brusselator_1d_jac, x0,
                 np.array([cfg.a, cfg.b_start, cfg.d1, cfg.d2]), 1,
                 (cfg.b_start - 1.0, cfg.b_end), dfdx_bifsnn=ap.brusselator_1d_jac_sparse,
                 jac_sparsity=ap.brusselator_1d_sparsity(n),
                 exact_hopf=ap.brusselator_1d_hopf_b(n, cfg.a, cfg.d1, cfg.d2))


def network_model() -> tuple[Model, object]:
    """The reduced network ODE (n = 148, default NetworkParams, smooth rule) continued in p_EI
    from its equilibrium at p_EI = 1, as a Model with p = [p_EI] (the other parameters fixed
    at their defaults; AUTO's PAR(11) is the period, so the 19-entry parameter vector of the
    reduced model cannot be handed to AUTO as it is)."""
    from bifsnn import NetworkParams
    from bifsnn.reduction import network_problem
    from bifsnn.reduction.model import PARAM_INDEX

    start = network_problem(NetworkParams().replace(p_EI=1.0), "p_EI")
    if not start.success:
        raise RuntimeError(f"network equilibrium at p_EI = 1 not found: {start.message}")
    prob = start.problem
    ip = PARAM_INDEX["p_EI"]
    base = np.asarray(prob.p0, dtype=float).copy()

    def full(p) -> np.ndarray:
        q = base.copy()
        q[ip] = p[0]
        return q

    def f(u, p):
        q = full(p)
        u = np.asarray(u, dtype=float)
        if u.ndim == 2:
            return np.stack([prob.f(u[:, k], q) for k in range(u.shape[1])], axis=1)
        return prob.f(u, q)

    def jac(u, p):
        q = full(p)
        u = np.asarray(u, dtype=float)
        return prob.dfdx(u, q), prob.dfdp(u, q)[:, [ip]]

    class Batch:
        """The model's batched evaluations (as bifsnn's own network problem has them) with
        p = [p_EI]."""

        def f(self, X, p):
            return prob.batch.f(X, full(p))

        def dfdx_values(self, X, p, rows, cols):
            return prob.batch.dfdx_values(X, full(p), rows, cols)

        def dfdx_pattern(self, X, p):
            return prob.batch.dfdx_pattern(X, full(p))

        def dfdp_column(self, X, p, k):
            return prob.batch.dfdp_column(X, full(p), ip)

    model = Model("network ODE (n=148)", f, jac, np.asarray(prob.x0, dtype=float).copy(),
                  np.array([1.0]), 0, (0.9, 1.0001), batch=Batch())
    return model, start


def _auto_network_side(model, eq_set, cyc_set, cycle_steps: int, user_value: float,
                       send: Callable[[dict], None]) -> None:
    """AUTO's part of :func:`compare_network`; ``send`` gets one dict after the equilibria
    (Hopf) and one after the cycles (plain numbers, so that it can cross a process)."""
    name = model.name
    a_eq = ap.auto_equilibria(model.f, model.jac, model.x0, model.p0, 0, model.bounds,
                              eq_set, n_steps=200, stop_after_hopf=1, problem=name)
    hbs = a_eq.points_of("HB")
    send({"phase": "equilibria", "hopf": hbs[0].parameter if hbs else None,
          "eq_message": a_eq.message})
    if not hbs:
        return
    a_cyc = ap.auto_cycles_from_hopf(
        model.f, model.jac, a_eq, 0, model.bounds, cyc_set, n_steps=cycle_steps,
        baseline_steps=2, user_values=(user_value,), problem=name)
    uz = a_cyc.points_of("UZ")
    t = a_cyc.timing
    send({"phase": "cycles", "period0": float(a_cyc.period[0]) if a_cyc.period.size else None,
          "uz_period": uz[0].period if uz else None, "cyc_message": a_cyc.message,
          "timing": None if t is None else vars(t)})


def _auto_network_limited(args: tuple, timeout_s: float) -> tuple[dict, str]:
    """Run :func:`_auto_network_side` in a forked child (its own process group, so that
    AUTO's own subprocess goes with it) for at most ``timeout_s`` wall seconds; returns the
    merged results it sent and "" or why it stopped early (partial results kept)."""
    import multiprocessing as mp
    import os
    import signal
    import time

    ctx = mp.get_context("fork")
    recv, snd = ctx.Pipe(duplex=False)

    def child() -> None:
        os.setpgrp()
        try:
            _auto_network_side(*args, send=snd.send)
        except Exception as exc:  # noqa: BLE001 - reported to the parent as the reason
            snd.send({"phase": "error", "error": f"{type(exc).__name__}: {exc}"})

    proc = ctx.Process(target=child)  # not daemonic: bifpy starts its own child
    proc.start()
    snd.close()
    out: dict = {}
    t_end = time.monotonic() + timeout_s
    why = ""
    while True:
        left = t_end - time.monotonic()
        if left <= 0:
            why = (f"AUTO stopped after the --auto-timeout of {timeout_s:.0f} s wall "
                   f"(finished phases: {out.get('phases', [])})")
            break
        try:
            if not recv.poll(min(left, 5.0)):
                if not proc.is_alive() and not recv.poll(0):
                    why = why or f"AUTO's process ended without results (exit {proc.exitcode})"
                    break
                continue
            msg = recv.recv()
        except EOFError:
            break
        out.setdefault("phases", []).append(msg["phase"])
        out.update(msg)
        if msg["phase"] == "error":
            why = f"AUTO failed: {msg['error']}"
            break
        if msg["phase"] == "cycles" or (msg["phase"] == "equilibria" and msg["hopf"] is None):
            break
    if proc.is_alive():
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.join(5)
    return out, why


def compare_network(ntst: int, ncol: int, report: Report, *, user_value: float,
                    cycle_steps: int, use_auto: bool, auto_timeout_s: float = 3600.0) -> None:
    """Reduced network ODE: Hopf in p_EI, the period at ``user_value`` and the CPU time per
    cycle step (same mesh, same tolerances, mesh adaptation every step in both engines).
    AUTO runs in a child process limited to ``auto_timeout_s`` wall seconds (~15 CPU-s per
    cycle step at n = 148): past it the comparison ends with what AUTO finished."""
    model, _ = network_model()
    name = model.name
    # state entries are neuron counts (O(100)): arclength steps scaled like
    # NetworkProblem.options (ds = 0.005 N, ds_max = 0.05 N with N = 400)
    eq_set = ap.AutoSettings(ds=-2.0, dsmin=1e-4, dsmax=20.0, ntst=ntst, ncol=ncol)
    cyc_set = ap.AutoSettings(ds=-10.0, dsmin=1e-4, dsmax=50.0, ntst=ntst, ncol=ncol, iad=1)
    auto_res: dict = {}
    if use_auto:
        auto_res, why = _auto_network_limited(
            (model, eq_set, cyc_set, cycle_steps, user_value), auto_timeout_s)
        if why:
            report.missing.append(f"{name}: {why}")
        elif auto_res.get("hopf") is None and "equilibria" in auto_res.get("phases", []):
            report.missing.append(f"{name}: AUTO found no Hopf ({auto_res['eq_message']})")
    a_timing = auto_res.get("timing")
    driver, _ = _resolve(_EQ_DRIVER_CANDIDATES)
    # l1 (the Hopf's criticality) tells the cycle start on which side the cycles are
    br, _ = bifsnn_equilibria(driver, model, eq_set, 200, compute_l1=True)
    hs = _bifsnn_hopfs(br)
    b_hb = hs[0] if hs else None
    report.rows.append(Row(name, "Hopf parameter p_EI", b_hb.param if b_hb else None,
                           auto_res.get("hopf")))
    if b_hb is None:
        report.missing.append(f"{name}: bifsnn equilibria found no Hopf ({br.message})")
        return
    omega = float(b_hb.data["omega"])
    report.rows.append(Row(name, "period at the Hopf 2 pi/omega", 2 * math.pi / omega,
                           auto_res.get("period0")))
    system = bifsnn_cycle_system(model)
    # bifsnn's cycle arclength is relative to the size of the state (Collocation.state_scale):
    # its own default steps (CYCLE_DEFAULTS), same tolerances and mesh; started through
    # continue_cycles from the Hopf point, which uses l1 to start on the side of the cycles
    # (cycle_from_hopf alone does not know it: the subcritical side runs into NaN here)
    from bifsnn.continuation import ContinuationOptions, continue_cycles
    from bifsnn.continuation.periodic import CYCLE_DEFAULTS, Collocation

    b_set = ap.AutoSettings(**{**vars(cyc_set), "ds": 0.05, "dsmin": 1e-5, "dsmax": 1.0})

    def run(steps: int):
        opts = ContinuationOptions(**{
            **CYCLE_DEFAULTS, "max_steps": max(steps, 1), "p_min": model.bounds[0],
            "p_max": model.bounds[1], "newton_tol": cyc_set.epsu})
        return continue_cycles(br, b_hb, opts, Collocation(ntst=ntst, ncol=ncol, adapt_mesh=1))

    cyc, timing = ap.differential_timing(run, cycle_steps, 2, lambda b: len(b))
    T_b = bifsnn_period_at(system, cyc, user_value, b_set) if len(cyc) and \
        cyc.param_values.min() <= user_value else None
    report.rows.append(Row(name, f"cycle period at p_EI={user_value:g}", T_b,
                           auto_res.get("uz_period"),
                           note=f"bifsnn {len(cyc)} pts ({cyc.message}); AUTO "
                                f"{auto_res.get('cyc_message', '-')}"))
    row = {"n": int(model.x0.size), "ntst": ntst, "problem": name}
    _store(row, "bifsnn_cycle", timing)
    if a_timing is not None:
        _store(row, "auto_cycle", ap.AutoTiming(**a_timing))
        if timing.cpu_per_step_s > 0:
            row["speedup_cycle_cpu"] = a_timing["cpu_per_step_s"] / timing.cpu_per_step_s
            row["speedup_cycle"] = a_timing["time_per_step_s"] / timing.time_per_step_s
    report.timing.append(row)
    print(f"network ODE, ntst={ntst}: cycle step CPU AUTO "
          f"{_fmt(row.get('auto_cycle_cpu_step_s'), '.3g')} s, bifsnn "
          f"{_fmt(row.get('bifsnn_cycle_cpu_step_s'), '.3g')} s, AUTO / bifsnn "
          f"{_fmt(row.get('speedup_cycle_cpu'), '.3g')}x", flush=True)


def _bifsnn_hopfs(branch) -> list:
    return [s for s in branch.special_points if s.type == "H"]


def compare_small(model: Model, settings: ap.AutoSettings, parts, report: Report, *,
                  user_value: float, cycle_steps: int, T_max: float, use_auto: bool) -> None:
    """Problems (a)/(b): Hopf location, first-cycle period and the period at ``user_value``."""
    name = model.name
    auto_eq = auto_cyc = None
    if use_auto:
        auto_eq = ap.auto_equilibria(model.f, model.jac, model.x0, model.p0, model.ipar,
                                     model.bounds, settings, n_steps=500, problem=name)
        if auto_eq.points_of("HB"):
            auto_cyc = ap.auto_cycles_from_hopf(
                model.f, model.jac, auto_eq, model.ipar, model.bounds, settings,
                n_steps=cycle_steps, user_values=(user_value,),
                max_period=T_max if math.isfinite(T_max) else None, problem=name)
    a_hb = auto_eq.points_of("HB")[0] if auto_eq and auto_eq.points_of("HB") else None

    # bifsnn equilibria
    b_hb = None
    driver, where = parts["equilibria"]
    if driver is not None:
        try:
            br, _ = bifsnn_equilibria(driver, model, settings, 500)
            hs = _bifsnn_hopfs(br)
            b_hb = hs[0] if hs else None
            if b_hb is None:
                report.missing.append(f"{name}: bifsnn equilibria found no Hopf ({br.message})")
        except Exception as exc:  # noqa: BLE001 - benchmark reports and goes on
            report.missing.append(f"{name}: bifsnn equilibria raised {type(exc).__name__}: {exc}")
    report.rows.append(Row(name, "Hopf parameter", b_hb.param if b_hb else None,
                           a_hb.parameter if a_hb else None, model.exact_hopf))
    if b_hb is not None and a_hb is not None:
        report.rows.append(Row(name, "Hopf state |x|", float(np.linalg.norm(b_hb.x)),
                               float(np.linalg.norm(a_hb.state))))

    # bifsnn cycles: from bifsnn's own Hopf if there is one, else from the exact/AUTO Hopf
    if parts["continue_cycles"][0] is None or parts["cycle_from_hopf"][0] is None:
        return
    if b_hb is not None and "omega" in b_hb.data and "q" in b_hb.data:
        x_h, p_h = b_hb.x, b_hb.param
        omega, q = float(b_hb.data["omega"]), np.asarray(b_hb.data["q"])
        src = "bifsnn Hopf"
    elif a_hb is not None:
        x_h, p_h = a_hb.state, a_hb.parameter
        omega, q = hopf_data(model, x_h, p_h)
        src = "AUTO Hopf"
    else:
        report.missing.append(f"{name}: no Hopf point to start bifsnn cycles from")
        return
    system = bifsnn_cycle_system(model)
    lo, hi = model.bounds
    try:
        br, _ = bifsnn_cycles(model, system, x_h, p_h, omega, q, settings, cycle_steps, None,
                              p_bounds=(lo, hi), T_max=T_max, adapt_every=1)
    except Exception as exc:  # noqa: BLE001
        report.missing.append(f"{name}: bifsnn cycles raised {type(exc).__name__}: {exc}")
        return
    # bifsnn's branch starts one step off the (degenerate) Hopf cycle, so only AUTO's
    # first cycle (the Hopf itself) is compared with 2 pi / omega here
    T0_a = float(auto_cyc.period[0]) if auto_cyc is not None and auto_cyc.period.size else None
    report.rows.append(Row(name, "cycle period at Hopf", None, T0_a, 2 * math.pi / omega,
                           note=f"bifsnn cycles start from the {src}"))
    a_uz = auto_cyc.points_of("UZ") if auto_cyc is not None else []
    T_b = bifsnn_period_at(system, br, user_value, settings)
    T_ref = None
    if a_uz:
        T_ref = shooting_period(model, user_value, a_uz[0].state, a_uz[0].period)
    elif T_b is not None:
        k = int(np.argmin(np.abs(br.param_values - user_value)))
        T_ref = shooting_period(model, user_value, br.cycle(k).U[0], T_b)
    report.rows.append(Row(name, f"cycle period at p={user_value:g}", T_b,
                           a_uz[0].period if a_uz else None, T_ref,
                           note=f"exact = shooting; bifsnn: {len(br)} pts, {br.message}"))


def _store(row: dict, prefix: str, timing) -> None:
    if timing is None:
        return
    row[f"{prefix}_step_s"] = timing.time_per_step_s
    row[f"{prefix}_cpu_step_s"] = timing.cpu_per_step_s
    row[f"{prefix}_steps"] = timing.n_steps


def _far_cycle_row(model: Model, system, a_eq, x_h, p_h, omega, q, settings, report,
                   dp: float = 0.3, steps: int = 120) -> None:
    """Period at p_H + dp (finite amplitude) from both engines, adaptive meshes."""
    target = p_h + dp
    acc = ap.AutoSettings(**{**vars(settings), "iad": 3})
    a_cyc = ap.auto_cycles_from_hopf(model.f, model.jac, a_eq, model.ipar,
                                     (model.bounds[0], model.bounds[1] + 1.0), acc,
                                     n_steps=steps, user_values=(target,), problem=model.name)
    a_uz = a_cyc.points_of("UZ")
    br, _ = bifsnn_cycles(model, system, x_h, p_h, omega, q, settings, steps, None,
                          p_bounds=(model.bounds[0], target + 0.05), adapt_every=1)
    T_b = bifsnn_period_at(system, br, target, settings) if len(br) and \
        br.param_values.max() >= target \
        else None
    report.rows.append(Row(model.name, f"cycle period at p={target:.8g}", T_b,
                           a_uz[0].period if a_uz else None,
                           note=f"finite amplitude; bifsnn {len(br)} pts {br.message}"))


def compare_scaling(n_values, settings: ap.AutoSettings, parts, report: Report, *,
                    eq_steps: int, cycle_steps: int, use_auto: bool,
                    auto_cycle_max_n: int, accuracy_max_n: int = 50) -> None:
    """Problem (c): Hopf location and per-step timing for equilibria and cycles vs n."""
    for n in n_values:
        model = brusselator_1d_model(n)
        name = model.name
        row = {"n": n}
        a_eq = a_cyc = None
        if use_auto:
            a_eq, a_cyc = ap.run_brusselator_1d(
                n, settings, eq_steps=eq_steps, eq_baseline_steps=max(eq_steps // 6, 1),
                cycle_steps=cycle_steps, cycle_baseline_steps=1,
                do_cycles=n <= auto_cycle_max_n)
            _store(row, "auto_eq", a_eq.timing)
            _store(row, "auto_cycle", a_cyc.timing if a_cyc is not None else None)
        a_hb = a_eq.points_of("HB")[0] if a_eq is not None and a_eq.points_of("HB") else None
        b_hb = None
        driver, _ = parts["equilibria"]
        if driver is not None:
            try:
                br, t = bifsnn_equilibria(driver, model, settings, eq_steps,
                                          baseline=max(eq_steps // 6, 1))
                _store(row, "bifsnn_eq", t)
                hs = _bifsnn_hopfs(br)
                b_hb = hs[0] if hs else None
            except Exception as exc:  # noqa: BLE001
                report.missing.append(f"{name}: bifsnn equilibria raised "
                                      f"{type(exc).__name__}: {exc}")
        report.rows.append(Row(name, "Hopf 1 parameter", b_hb.param if b_hb else None,
                               a_hb.parameter if a_hb else None, model.exact_hopf))
        if parts["continue_cycles"][0] is not None:
            p_h = model.exact_hopf
            x_h = model.x0.copy()
            x_h[1::2] = p_h / model.p0[0]
            omega, q = hopf_data(model, x_h, p_h)
            system = bifsnn_cycle_system(model)
            try:
                br, t = bifsnn_cycles(model, system, x_h, p_h, omega, q, settings,
                                      cycle_steps, 1, p_bounds=(model.bounds[0],
                                                                model.bounds[1] + 1.0))
                _store(row, "bifsnn_cycle", t)
                row["bifsnn_cycle_msg"] = br.message
                row["bifsnn_newton_its"] = br.extra["newton_iterations"].tolist()
                if a_cyc is not None and a_cyc.period.size > 1:
                    p_last, T_last = float(a_cyc.parameter[-1]), float(a_cyc.period[-1])
                    T_b = bifsnn_period_at(system, br, p_last, settings)
                    report.rows.append(Row(name, f"cycle period at p={p_last:.8g}", T_b, T_last,
                                           note="AUTO's last cycle point"))
                if n <= accuracy_max_n and a_eq is not None and a_eq.points_of("HB"):
                    _far_cycle_row(model, system, a_eq, x_h, p_h, omega, q, settings, report)
            except Exception as exc:  # noqa: BLE001
                report.missing.append(f"{name}: bifsnn cycles raised {type(exc).__name__}: {exc}")
        for kind in ("eq", "cycle"):
            for unit in ("step_s", "cpu_step_s"):
                a, b = row.get(f"auto_{kind}_{unit}"), row.get(f"bifsnn_{kind}_{unit}")
                key = "speedup_" + kind + ("_cpu" if unit == "cpu_step_s" else "")
                row[key] = (a / b) if a and b and b > 0 else None
        report.timing.append(row)
        _print_timing_row(row)


# ---------------------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------------------


def _fmt(v, spec=".10g") -> str:
    return "-" if v is None else format(v, spec)


def print_rows(rows: list[Row]) -> None:
    print(f"{'problem':24s} {'quantity':28s} {'bifsnn':>16s} {'AUTO':>16s} {'exact':>16s} "
          f"{'dig b~A':>7s} {'dig b~x':>7s} {'dig A~x':>7s}")
    for r in rows:
        print(f"{r.problem:24s} {r.what:28s} {_fmt(r.bifsnn):>16s} {_fmt(r.auto):>16s} "
              f"{_fmt(r.exact):>16s} {_fmt(r.digits_vs_auto, '.1f'):>7s} "
              f"{_fmt(r.digits_vs_exact_bifsnn, '.1f'):>7s} "
              f"{_fmt(r.digits_vs_exact_auto, '.1f'):>7s} {r.note}")


def _print_timing_row(row: dict) -> None:
    def sec(key):
        v = row.get(key)
        return "-" if v is None else f"{v:.3g}s"

    def x(key):
        v = row.get(key)
        return "-" if v is None else f"{v:.3g}x"

    for kind, label in (("eq", "equilibria"), ("cycle", "cycles")):
        print(f"n={row['n']:4d} {label:10s}/step  wall: AUTO {sec(f'auto_{kind}_step_s'):>8s} "
              f"bifsnn {sec(f'bifsnn_{kind}_step_s'):>8s} ratio {x(f'speedup_{kind}'):>7s}   "
              f"cpu: AUTO {sec(f'auto_{kind}_cpu_step_s'):>8s} bifsnn "
              f"{sec(f'bifsnn_{kind}_cpu_step_s'):>8s} ratio {x(f'speedup_{kind}_cpu'):>7s}",
              flush=True)


def main(argv: list[str] | None = None) -> Report:
    ap_ = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap_.add_argument("--n", type=int, nargs="*", default=[4, 20, 50, 100, 200],
                     help="state dimensions for the 1-D Brusselator (even, >= 4)")
    ap_.add_argument("--ntst", type=int, default=20)
    ap_.add_argument("--ncol", type=int, default=4)
    ap_.add_argument("--cycle-steps", type=int, default=3,
                     help="cycle steps per timing run (AUTO costs ~15 s/step at n=200)")
    ap_.add_argument("--eq-steps", type=int, default=80,
                     help="equilibrium steps (the Hopf at b~5.118 needs ~60 at n=200)")
    ap_.add_argument("--auto-cycle-max-n", type=int, default=300,
                     help="skip AUTO cycle runs above this n (they grow ~n^2.4)")
    ap_.add_argument("--no-auto", action="store_true", help="run only the bifsnn side")
    ap_.add_argument("--quick", action="store_true", help="small problems only (a), (b)")
    ap_.add_argument("--json", type=Path, default=None, help="write all numbers here")
    ap_.add_argument("--network", action="store_true",
                     help="only the reduced network ODE (n = 148): Hopf, period at "
                          "--network-p, CPU per cycle step (AUTO ~15-45 s per step)")
    ap_.add_argument("--network-p", type=float, default=0.9595,
                     help="p_EI at which the cycle periods are compared")
    ap_.add_argument("--network-steps", type=int, default=8)
    ap_.add_argument("--auto-timeout", type=float, default=3600.0,
                     help="with --network: wall seconds AUTO may take (it runs in a child "
                          "process; past it the comparison ends with what AUTO finished)")
    args = ap_.parse_args(argv)
    for n in args.n:
        if n < 4 or n % 2:
            ap_.error(f"--n values must be even integers >= 4, got {n}")

    use_auto = not args.no_auto and ap.auto_available()
    report = Report()
    if not use_auto:
        report.missing.append("AUTO-07p (bifpy) not importable or --no-auto: AUTO side skipped")
    parts = bifsnn_parts()
    for key, (fn, where) in parts.items():
        if fn is None:
            report.missing.append(f"bifsnn {key}: not available ({where})")

    if args.network:
        if not args.auto_timeout > 0:
            ap_.error(f"--auto-timeout must be > 0 seconds, got {args.auto_timeout}")
        compare_network(args.ntst, args.ncol, report, user_value=args.network_p,
                        cycle_steps=args.network_steps, use_auto=use_auto,
                        auto_timeout_s=args.auto_timeout)
        print_rows(report.rows)
        return _finish(report, args)
    small = ap.AutoSettings(ds=0.05, dsmax=0.2, ntst=args.ntst, ncol=args.ncol)
    compare_small(brusselator_model(), small, parts, report, user_value=5.5, cycle_steps=60,
                  T_max=math.inf, use_auto=use_auto)
    compare_small(lorenz_model(), small, parts, report, user_value=20.0, cycle_steps=80,
                  T_max=20.0, use_auto=use_auto)
    print_rows(report.rows)
    if not args.quick:
        print()
        scale = ap.AutoSettings(ds=0.02, dsmax=0.05, iad=0, ntst=args.ntst, ncol=args.ncol)
        n_small = len(report.rows)
        compare_scaling(args.n, scale, parts, report, eq_steps=args.eq_steps,
                        cycle_steps=args.cycle_steps, use_auto=use_auto,
                        auto_cycle_max_n=args.auto_cycle_max_n)
        print()
        print_rows(report.rows[n_small:])
    return _finish(report, args)


def _finish(report: Report, args) -> Report:
    digits = [r.digits_vs_auto for r in report.rows if r.digits_vs_auto is not None]
    print()
    if digits:
        print(f"agreement bifsnn vs AUTO: min {min(digits):.1f} digits over {len(digits)} "
              f"located quantities (target >= 6)")
    for row in report.timing:
        if row["n"] == 200 and row.get("speedup_cycle"):
            print(f"cycle step speed-up at n=200: wall {row['speedup_cycle']:.3g}x, cpu "
                  f"{_fmt(row.get('speedup_cycle_cpu'), '.3g')}x (target >= 10x)")
    if report.missing:
        print("missing / skipped:")
        for m in report.missing:
            print(f"  - {m}")
    if args.json is not None:
        args.json.write_text(json.dumps(
            {"rows": [vars(r) for r in report.rows], "timing": report.timing,
             "missing": report.missing, "ntst": args.ntst, "ncol": args.ncol},
            indent=1, default=float))
    return report


if __name__ == "__main__":
    main()
