"""Time integration of the reduced model: the reference map (5a) and the ODE (5b).

Both return a :class:`bifsnn.network.results.SimulationResult` whose ``spike_counts_e/i`` are the
expected population spike counts per output step (for the ODE: the integral of f_Q over each
step of length ``params.dt``, from the cumulative count integrated with the state; for the map:
the neurons fired in each window h), so every observable applies unchanged.  ``extra`` holds
the state trajectory sampled every ``record_every_ms`` (``state_t_ms``, ``state``) and the
final state (``final_state``); state labels are in ``options["state_names"]``.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from bifsnn.continuation.linalg import blas_single_thread
from bifsnn.network.results import SimulationResult
from bifsnn.reduction.model import (
    CONDITIONAL_CLOSURES,
    SLOPE_CLOSURES,
    MarkovModelDef,
    ReducedModel,
)

__all__ = ["simulate_map", "simulate_ode", "INTEGRATORS", "EXPLICIT_METHODS", "STIFF_METHODS",
           "KERNEL_CUT_SD", "KERNEL_CUT_RANGE", "SIMULATION_KERNEL_CUT_SD"]

INTEGRATORS = ("explicit", "stiff")
#: Compiled pairs of ``integrator="explicit"``: Tsitouras 5(4) (the default; at the default
#: tolerances about as accurate as Dormand-Prince on the oscillation with 10 % fewer
#: right-hand sides, benchmarks/README.md, odespeed6) and Dormand-Prince 5(4) (the former).
EXPLICIT_METHODS = ("tsit5", "dopri5")
#: scipy ``solve_ivp`` methods of ``integrator="stiff"`` (all use the analytic Jacobian).
STIFF_METHODS = ("LSODA", "BDF", "Radau")
#: The model's transfer kernel: the normal cdf is 0 or 1 beyond 8.5 standard deviations
#: (tail mass ~1e-17; ``_TCUT`` of the generated module).  ``simulate_ode(kernel_cut_sd=c)``
#: with c in KERNEL_CUT_RANGE cuts it at c instead (docs/MODEL.md, "kernel cut").
KERNEL_CUT_SD = 8.5
KERNEL_CUT_RANGE = (5.0, KERNEL_CUT_SD)
#: simulate_ode's cut where its explicit integrator applies one (sources of less than 1/2
#: neuron are cut narrower, so that none drops more than Phi(-6) neurons of tail): against
#: the model's kernel (1200 ms of the oscillation, both at rtol 1e-10) peak heights and the
#: state move by ~1e-8 and ~1e-9, rates by ~1e-11, four orders below the integrator's own
#: error at its default tolerances (benchmarks/README.md, odespeed5 and odespeed6).
SIMULATION_KERNEL_CUT_SD = 6.0


def _as_model(model: MarkovModelDef | ReducedModel) -> ReducedModel:
    if isinstance(model, ReducedModel):
        return model
    if isinstance(model, MarkovModelDef):
        return model.compile()
    raise TypeError(f"model must be a MarkovModelDef or ReducedModel, got {type(model)!r}")


def _n_steps(t_ms: float, step_ms: float, name: str = "t_ms") -> int:
    if not (isinstance(t_ms, int | float) and math.isfinite(t_ms) and t_ms > 0):
        raise ValueError(f"{name} = {t_ms!r} is out of range: must be a finite number > 0")
    n = int(round(t_ms / step_ms))
    if n < 1:
        raise ValueError(f"{name} = {t_ms!r} is shorter than one step ({step_ms} ms)")
    return n


def _initial_state(d: MarkovModelDef, x0: np.ndarray | None) -> np.ndarray:
    """The definition's initial state, or ``x0`` checked (shape, finite) and copied."""
    if x0 is None:
        return d.initial_state()
    x = np.array(x0, dtype=float)
    if x.shape != (d.n_state,):
        raise ValueError(f"x0 has shape {x.shape}; expected ({d.n_state},)")
    if not np.all(np.isfinite(x)):
        bad = int(np.flatnonzero(~np.isfinite(x))[0])
        raise ValueError(f"x0 must be finite: x0[{bad}] ({d.state_names[bad]}) = {float(x[bad])!r}")
    return x


def _record_every(record_every_ms: float, step_ms: float) -> int:
    if not (math.isfinite(record_every_ms) and record_every_ms > 0):
        raise ValueError(f"record_every_ms = {record_every_ms!r} must be a finite number > 0")
    return max(1, int(round(record_every_ms / step_ms)))


def simulate_map(
    model: MarkovModelDef | ReducedModel,
    *,
    t_ms: float,
    x0: np.ndarray | None = None,
    R0: np.ndarray | None = None,
    rate_lag: bool = True,
    record_every_ms: float = 1.0,
) -> SimulationResult:
    """Iterate the reference map (docs/MODEL.md 5a) with step h = the definition's window.

    ``rate_lag=True`` (the published algorithm) drives the moments with the previous step's
    firing rate; ``False`` with this step's, which makes the map exactly one forward-Euler
    step of the ODE (outflow "clean").  The refractory outflow is the definition's
    ``outflow``.  ``R0`` defaults to N - sum n.
    """
    m = _as_model(model)
    d = m.definition
    if d.closure != "paper":
        raise ValueError(f"closure = {d.closure!r}: the reference map exists for the 'paper' "
                         "closure only (use simulate_ode)")
    h = d.window_ms
    n = _n_steps(t_ms, h)
    every = _record_every(record_every_ms, h)
    x = _initial_state(d, x0)
    R = d.refractory(x) if R0 is None else np.array(R0, dtype=float)
    if R.shape != (2,) or not np.all(np.isfinite(R)):
        raise ValueError(f"R0 = {R0!r} must be two finite numbers (refractory E, I)")
    counts = np.zeros((n, 2))
    states = np.zeros((n // every, d.n_state))
    Rs = np.zeros((n // every, 2))
    t0 = time.perf_counter()
    xf, Rf, _, status = m.module.run_map(
        x, R, m.pv, m.edges, m.opt, d.outflow == "published", rate_lag, n, every,
        counts, states, Rs,
    )
    wall = time.perf_counter() - t0
    message = "ok" if status == 0 else f"non-finite state after step {status}"
    return SimulationResult(
        model="map",
        params=d.params,
        dt_ms=h,
        spike_counts_e=counts[:, 0],
        spike_counts_i=counts[:, 1],
        seed=None,
        options=_options(d, form="map", rate_lag=rate_lag, success=status == 0,
                         message=message, wall_s=wall),
        extra={
            "state_t_ms": (np.arange(states.shape[0]) + 1) * every * h,
            "state": states,
            "refractory": Rs,
            "final_state": np.asarray(xf),
            "final_refractory": np.asarray(Rf),
        },
    )


def simulate_ode(
    model: MarkovModelDef | ReducedModel,
    *,
    t_ms: float,
    x0: np.ndarray | None = None,
    integrator: str = "explicit",
    method: str = "LSODA",
    explicit_method: str = "tsit5",
    rtol: float = 1e-5,
    atol: float = 1e-6,
    record_every_ms: float = 1.0,
    max_steps: int | None = None,
    kernel_cut_sd: float | None = None,
) -> SimulationResult:
    """Integrate the ODE (docs/MODEL.md 5b) for ``t_ms`` and sample rates on the params.dt grid.

    ``integrator="explicit"``: a compiled Runge-Kutta 5(4) pair with adaptive steps,
    ``explicit_method`` in EXPLICIT_METHODS (Tsitouras by default, Dormand-Prince the former);
    ``"stiff"``: scipy ``solve_ivp`` with ``method`` (BDF, Radau or LSODA) and the analytic
    Jacobian.  Default tolerances rtol = 1e-5, atol = 1e-6 (neurons, mV neurons, counts):
    against rtol = 1e-10 over 1200 ms of the default oscillation the mean rates move by
    1-2e-7, the MFE peak heights by 1.6e-4 (largest of 61) and the period by 1.7e-7
    relative (Dormand-Prince: 2-2.5e-7, 1.6e-4, 1.6e-7 with 12 % more right-hand sides;
    benchmarks/README.md, odespeed6).  ``max_steps`` bounds the explicit integrator (default
    200 steps per model ms + 10000; a typical run needs ~5 per ms).  Failure (step
    underflow, step limit, non-finite state) is reported in ``options["success"]`` /
    ``options["message"]`` with the partial result up to that time.

    ``kernel_cut_sd``: the transfer kernel's normal cdf is taken as 0 or 1 beyond this many
    standard deviations, in KERNEL_CUT_RANGE; 8.5 (KERNEL_CUT_SD) is the model's kernel, the
    one continuation and every other evaluation use.  Below 8.5 a source bin of fewer than
    1/2 neurons is cut narrower, at the fewest standard deviations that keep its dropped
    tail below Phi(-cut) neurons at either end.  Default (None): 6
    (SIMULATION_KERNEL_CUT_SD, tail mass ~1e-9, a simulation-only approximation whose effect
    is ~1e-4 of the integrator's own error; docs/MODEL.md section 4, benchmarks/README.md,
    odespeed5 and odespeed6) where it applies, the explicit integrator with the paper's
    transport; 8.5 elsewhere, where a value other than 8.5 is refused.  Recorded in
    ``options["kernel_cut_sd"]``.
    """
    if integrator not in INTEGRATORS:
        raise ValueError(f"integrator = {integrator!r} is out of range: one of {INTEGRATORS}")
    if integrator == "stiff" and method not in STIFF_METHODS:
        raise ValueError(f"method = {method!r} is out of range: one of {STIFF_METHODS}")
    if explicit_method not in EXPLICIT_METHODS:
        raise ValueError(f"explicit_method = {explicit_method!r} is out of range: one of "
                         f"{EXPLICIT_METHODS}")
    m = _as_model(model)
    d = m.definition
    tcut = _kernel_cut(kernel_cut_sd, integrator, d)
    dt = d.params.dt
    n = _n_steps(t_ms, dt)
    every = _record_every(record_every_ms, dt)
    x = _initial_state(d, x0)
    t_end = n * dt
    if max_steps is None:
        max_steps = int(200 * t_end) + 10_000
    t0 = time.perf_counter()
    if integrator == "explicit":
        cum = np.zeros((n + 1, 2))
        states = np.zeros((n // every, d.n_state))
        pair = m.module._RK_TSIT5 if explicit_method == "tsit5" else m.module._RK_DOPRI5
        xf, t_reached, nsteps, nrej, status = m.module.explicit_rk(
            x, m.pv, m.edges, m.opt, t_end, dt, rtol, atol, min(0.01, dt), max_steps, every,
            cum, states, tcut, pair,
        )
        messages = {0: "ok", 1: "max_steps reached", 2: "step size underflow",
                    3: "non-finite state"}
        message = messages[int(status)]
        if status != 0:
            message += f" at t = {t_reached:.6g} ms"
        success = status == 0
        n_done = min(n, int(math.floor(t_reached / dt + 1e-9)))
        stats: dict[str, Any] = {"n_steps": int(nsteps), "n_rejected": int(nrej)}
    else:
        cum, states, xf, success, message, n_done, stats = _solve_stiff(
            m, x, n, dt, every, method, rtol, atol
        )
    wall = time.perf_counter() - t0
    # differences of the interpolated cumulative count: interpolation error can make a
    # step with (almost) no firing slightly negative (observed ~1e-100); set those to 0
    counts = np.maximum(np.diff(cum[: n_done + 1], axis=0), 0.0)
    n_rec = n_done // every
    return SimulationResult(
        model="ode",
        params=d.params,
        dt_ms=dt,
        spike_counts_e=counts[:, 0].copy(),
        spike_counts_i=counts[:, 1].copy(),
        seed=None,
        options=_options(d, form="ode", integrator=integrator,
                         method=method if integrator == "stiff" else explicit_method,
                         rtol=rtol, atol=atol, kernel_cut_sd=tcut, success=bool(success),
                         message=message, wall_s=wall, **stats),
        extra={
            "state_t_ms": (np.arange(n_rec) + 1) * every * dt,
            "state": states[:n_rec],
            "final_state": np.asarray(xf),
        },
    )


def _kernel_cut(kernel_cut_sd: float | None, integrator: str, d: MarkovModelDef) -> float:
    """``kernel_cut_sd`` checked (in KERNEL_CUT_RANGE, other than the model's kernel only
    where the compiled explicit integrator's transport applies it), or its default."""
    applies = integrator == "explicit" and d.closure not in CONDITIONAL_CLOSURES + SLOPE_CLOSURES
    if kernel_cut_sd is None:
        return SIMULATION_KERNEL_CUT_SD if applies else KERNEL_CUT_SD
    lo, hi = KERNEL_CUT_RANGE
    if not (isinstance(kernel_cut_sd, int | float) and lo <= kernel_cut_sd <= hi):
        raise ValueError(f"kernel_cut_sd = {kernel_cut_sd!r} is out of range: must be a number "
                         f"in [{lo}, {hi}] (standard deviations)")
    if kernel_cut_sd != KERNEL_CUT_SD:
        if integrator != "explicit":
            raise ValueError(f"kernel_cut_sd = {kernel_cut_sd!r} applies to integrator = "
                             f"'explicit' only (the model's kernel is {KERNEL_CUT_SD})")
        if d.closure in CONDITIONAL_CLOSURES + SLOPE_CLOSURES:
            raise ValueError(f"kernel_cut_sd = {kernel_cut_sd!r} applies to the closures with "
                             f"the paper's transport only, not closure = {d.closure!r}")
    return float(kernel_cut_sd)


def _solve_stiff(
    m: ReducedModel, x: np.ndarray, n: int, dt: float, every: int, method: str,
    rtol: float, atol: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool, str, int, dict[str, Any]]:
    from scipy.integrate import solve_ivp

    nx = m.n_state
    mod, pv, edges, opt = m.module, m.pv, m.edges, m.opt
    F, M1 = np.empty(len(edges)), np.empty(len(edges))
    dF, dM1 = np.empty((len(edges), 4)), np.empty((len(edges), 4))
    Ja = np.zeros((nx + 2, nx + 2))
    gf = np.empty((2, nx))
    n_jac = [0]

    def fun(t: float, y: np.ndarray) -> np.ndarray:
        out = np.empty(nx + 2)
        fr = mod.rhs(np.ascontiguousarray(y[:nx]), pv, edges, opt, out[:nx], F, M1)
        out[nx:] = fr
        return out

    def jac(t: float, y: np.ndarray) -> np.ndarray:
        n_jac[0] += 1
        J = np.empty((nx, nx))
        mod.jac(np.ascontiguousarray(y[:nx]), pv, edges, opt, J, gf, F, M1, dF, dM1)
        Ja[:nx, :nx] = J
        Ja[nx:, :nx] = gf
        return Ja.copy()

    y0 = np.concatenate([x, [0.0, 0.0]])
    t_grid = np.arange(n + 1) * dt
    atol_v = np.full(nx + 2, atol)
    atol_v[nx:] = 1e6  # cumulative counts: not error-controlled (their rate is)
    # BLAS held to one thread: the ~150 x 150 LU factorisations of the stiff solvers run
    # ~50x slower multi-threaded on a loaded 2-core machine (25 ms vs 0.5 ms)
    with blas_single_thread():
        sol = solve_ivp(fun, (0.0, t_grid[-1]), y0, method=method, jac=jac, t_eval=t_grid,
                        rtol=rtol, atol=atol_v)
    n_done = sol.y.shape[1] - 1
    cum = sol.y[nx:, :].T
    ys = sol.y[:nx, :].T
    idx = np.arange(every, n_done + 1, every)
    states = ys[idx]
    xf = ys[-1] if n_done >= 0 else x
    stats = {"n_fev": int(sol.nfev), "n_jev": int(sol.njev), "n_lu": int(sol.nlu)}
    return cum, states, xf, bool(sol.success), str(sol.message), n_done, stats


def _options(d: MarkovModelDef, **kw: Any) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "bin_rule": d.bin_rule,
        "closure": d.closure,
        "dv": d.dv,
        "v_min": d.v_min,
        "K": d.K,
        "eps": d.eps,
        "h_min": d.h_min,
        "delta": d.delta,
        "window_ms": d.window_ms,
        "outflow": d.outflow,
        "sigma_floor": d.sigma_floor,
        "state_names": d.state_names,
    }
    opts.update(kw)
    return opts
