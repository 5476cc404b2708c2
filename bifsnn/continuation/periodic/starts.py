"""Starts of cycle continuations: a cycle corrected at fixed parameter, the small cycle near a
Hopf point, a cycle from a simulated trajectory, the doubled cycle at a period doubling."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.integrate import solve_ivp

from bifsnn.continuation.linalg import newton

from .collocation import CollocationOperator, CycleSolution, floquet_from_jacobian
from .mesh import (
    adapt_mesh,
    check_mesh_args,
    evaluate,
    interpolate_to_mesh,
    node_quadrature_weights,
    node_times,
    uniform_mesh,
)
from .system import CycleSystem, as_cycle_system
from .types import CycleStart

__all__ = [
    "amplitude",
    "cycle_from_hopf",
    "cycle_from_simulation",
    "cycle_from_trajectory",
    "detect_period",
    "pd_start",
    "solve_cycle",
]


def amplitude(U: np.ndarray, w: np.ndarray) -> float:
    """L2 norm of u - mean over the period (node values ``U``, quadrature weights ``w``)."""
    mean = w @ U
    return float(np.sqrt(np.sum(w[:, None] * (U - mean) ** 2)))


def solve_cycle(
    system: Any,
    tm: np.ndarray,
    U: np.ndarray,
    T: float,
    p: float,
    ncol: int,
    *,
    ntst: int | None = None,
    adapt: int = 2,
    tol: float = 1e-9,
    max_iter: int = 20,
    floquet: bool = True,
) -> CycleSolution:
    """Newton-correct a cycle guess at fixed p, adapting the mesh ``adapt`` times."""
    sysobj = as_cycle_system(system)
    tm = np.asarray(tm, float)
    U = np.asarray(U, float)
    if sysobj.dense_pattern and sysobj.dfdx_user is not None and sysobj.n >= 20:
        sysobj = sysobj.with_sparsity(sysobj.detect_sparsity(U, p))
    if ntst is not None and ntst != len(tm) - 1:
        tm, U = adapt_mesh(tm, U, ncol, ntst)
    sol = None
    for k in range(adapt + 1):
        coll = CollocationOperator(sysobj, tm, ncol)
        sol = coll.newton(U, T, p, tol=tol, max_iter=max_iter)
        if not sol.success:
            return sol
        U, T = sol.U, sol.T
        if k < adapt:
            tm, U = adapt_mesh(tm, U, ncol)
    if floquet:
        sol.floquet = coll.floquet(sol.U, sol.T, p)
    return sol


def cycle_from_hopf(
    system: Any,
    x: np.ndarray,
    p: float,
    omega: float,
    q: np.ndarray,
    *,
    l1: float | None = None,
    dalpha_dp: float | None = None,
    dp: float | None = None,
    ntst: int = 40,
    ncol: int = 4,
) -> CycleStart:
    """Starting data for a cycle branch emanating from a Hopf point (x, p, omega, q).

    q is the critical eigenvector (A q = i omega q). Without l1 the start is the degenerate
    cycle u = x with tangent Re(q e^{2 pi i t}) and dp = 0 (the branch leaves vertically).
    With the first Lyapunov coefficient l1 (Kuznetsov's normalisation l1 = Re(c1)/omega with
    x = x* + 2 Re(w q), <q, q> = 1) and d(Re lambda)/dp (computed from equilibria if not
    given), a genuine small cycle is built at p + dp: |w|^2 = -alpha/(omega l1), alpha =
    dalpha_dp * dp; dp defaults to a small step on the side where the cycle exists (1e-3
    max(1, |p|), retried 8 and 64 times smaller when no cycle converges there: near a
    Bautin point the small cycles fold back within a short distance).
    """
    sysobj = as_cycle_system(system)
    x = np.asarray(x, float)
    q = np.asarray(q, complex)
    if q.shape != (sysobj.n,):
        raise ValueError(f"q (eigenvector) must have shape ({sysobj.n},), got {q.shape}")
    if not omega > 0:
        raise ValueError(f"omega must be > 0, got {omega}")
    check_mesh_args(ntst, ncol)
    # normalise q: unit length, and the phase making Re(q) and Im(q) orthogonal
    q = q / np.linalg.norm(q)
    a = 0.5 * np.angle(np.sum(q * q))
    q = q * np.exp(-1j * a)
    tm = uniform_mesh(ntst)
    t = node_times(tm, ncol)
    shape = np.real(q[None, :] * np.exp(2j * np.pi * t)[:, None])
    T = 2 * np.pi / omega
    info: dict[str, Any] = {"hopf_p": float(p), "hopf_omega": float(omega)}
    if l1 is not None and l1 != 0 and np.isfinite(l1):
        if dalpha_dp is None:
            dalpha_dp = _dalpha_dp(sysobj, x, p, omega)
        if dalpha_dp and np.isfinite(dalpha_dp):
            # near a Bautin point (l1 -> 0) the cycles of a subcritical Hopf point fold back
            # within |dp| ~ l1^2 / |l2|: the default step may lie past that fold (no cycle
            # there), so it is retried 8 and 64 times smaller; a given dp is tried alone
            steps = [abs(dp)] if dp is not None else [1e-3 * max(1.0, abs(p)) / 8 ** k
                                                      for k in range(3)]
            fails = []
            for size in steps:
                dp = size * (-np.sign(l1 * dalpha_dp))  # side where -alpha/l1 > 0
                w2 = -dalpha_dp * dp / (omega * l1)
                amp = 2.0 * math.sqrt(max(w2, 0.0))
                U = x[None, :] + amp * shape
                info.update({"l1": float(l1), "dalpha_dp": float(dalpha_dp),
                             "amplitude_guess": amp, "dp": float(dp)})
                sol = solve_cycle(sysobj, tm, U, T, p + dp, ncol, adapt=1, floquet=False)
                if sol.success and amplitude(sol.U, node_quadrature_weights(tm, ncol)) \
                        > 0.1 * amp:
                    info["start"] = "lyapunov"
                    if fails:
                        info["lyapunov_retries"] = "; ".join(fails)
                    return CycleStart(sol.tm, ncol, sol.U, sol.T, p + dp, None, info)
                fails.append(f"dp = {dp:.3g}: {sol.message}")
            info["lyapunov_start_failed"] = "; ".join(fails)
    U = np.repeat(x[None, :], len(t), axis=0)
    tangent = np.concatenate([shape.ravel(), [0.0, 0.0]])
    info["start"] = "eigenvector"
    return CycleStart(tm, ncol, U, T, float(p), tangent, info)


def _dalpha_dp(sysobj: CycleSystem, x: np.ndarray, p: float, omega: float) -> float:
    """d Re(lambda)/dp of the critical eigenvalue, by central differences along equilibria."""
    h = 1e-5 * max(1.0, abs(p))
    vals = []
    for pp in (p - h, p + h):
        xx, _, _, _ = newton(lambda y, pp=pp: sysobj.f(y, pp), lambda y, pp=pp: sysobj.jac(y, pp),
                             x, tol=1e-12, max_iter=30)
        lam = np.linalg.eigvals(sysobj.jac(xx, pp))
        vals.append(lam[np.argmin(np.abs(lam - 1j * omega))].real)
    return (vals[1] - vals[0]) / (2 * h)


#: detect_period's floor on a component's range, relative to the largest component's range.
RANGE_FLOOR = 1e-6


def detect_period(
    t: np.ndarray, x: np.ndarray, *, rtol: float = 1e-3, component: int | None = None
) -> tuple[float, float, str]:
    """Period of the (assumed periodic) end of a trajectory x (K, n) sampled at times t.

    Upward crossings of the mean by the most varying component are candidate returns; the
    period is the smallest lag at which the state returns within rtol * (range) of the final
    crossing state, each component's range floored at 1e-6 of the largest (a component that
    barely moves, e.g. a near-empty voltage bin, carries only integrator noise and must not
    decide the return). Returns (period, t_end, message); period is nan when none is found.
    """
    t = np.asarray(t, float)
    x = np.asarray(x, float)
    half = t >= t[0] + 0.5 * (t[-1] - t[0])
    xs = x[half]
    c = int(np.argmax(xs.std(axis=0))) if component is None else component
    level = xs[:, c].mean()
    y = x[:, c] - level
    idx = np.flatnonzero((y[:-1] < 0) & (y[1:] >= 0))
    if len(idx) < 3:
        return float("nan"), float("nan"), "fewer than 3 crossings: no oscillation detected"
    frac = -y[idx] / (y[idx + 1] - y[idx])
    tc = t[idx] + frac * (t[idx + 1] - t[idx])
    xc = x[idx] + frac[:, None] * (x[idx + 1] - x[idx])
    ranges = np.ptp(xs, axis=0)
    scale = np.maximum(ranges, max(RANGE_FLOOR * ranges.max(), 1e-12))
    end = xc[-1]
    for k in range(len(tc) - 2, -1, -1):
        if np.max(np.abs(xc[k] - end) / scale) < rtol:
            return float(tc[-1] - tc[k]), float(tc[-1]), "ok"
    return float("nan"), float("nan"), f"trajectory does not return within rtol={rtol}"


def cycle_from_trajectory(
    system: Any,
    t: np.ndarray,
    x: np.ndarray,
    p: float,
    *,
    period: float | None = None,
    ntst: int = 40,
    ncol: int = 4,
    rtol: float = 1e-3,
    solve: bool = True,
) -> CycleSolution:
    """Cycle guess from a simulated trajectory (period detected if not given), then corrected."""
    sysobj = as_cycle_system(system)
    t = np.asarray(t, float)
    x = np.asarray(x, float)
    if x.ndim != 2 or x.shape != (len(t), sysobj.n):
        raise ValueError(f"x must have shape (len(t), {sysobj.n}), got {x.shape}")
    if period is None:
        period, t_end, msg = detect_period(t, x, rtol=rtol)
        if not np.isfinite(period):
            return CycleSolution(uniform_mesh(ntst), ncol, np.zeros((ntst * ncol + 1, sysobj.n)),
                                 float("nan"), p, False, msg)
    else:
        t_end = t[-1]
    if t_end - period < t[0]:
        raise ValueError("trajectory is shorter than one period")
    # fine uniform sampling, adapt a mesh to it, then interpolate
    tf = uniform_mesh(max(4 * ntst, 200))
    tn = node_times(tf, ncol)
    Uf = np.column_stack([np.interp(t_end - period + tn * period, t, x[:, i])
                          for i in range(sysobj.n)])
    Uf[-1] = Uf[0]
    tm, _ = adapt_mesh(tf, Uf, ncol, ntst)
    U = interpolate_to_mesh(tf, Uf, ncol, tm, ncol)
    if not solve:
        return CycleSolution(tm, ncol, U, period, p, True, "guess (not corrected)")
    sol = solve_cycle(sysobj, tm, U, period, p, ncol)
    if sol.success:
        # a slowly decaying alternating transient (multiplier near -1) can make the detected
        # period a multiple of the true one: the corrected orbit then repeats itself
        for k in (2, 3):
            t = np.linspace(0, 1, 400, endpoint=False)
            u0 = evaluate(sol.tm, sol.U, ncol, t)
            scale = max(float(np.ptp(u0)), 1e-12)
            if np.abs(evaluate(sol.tm, sol.U, ncol, t + 1.0 / k) - u0).max() < 1e-6 * scale:
                tk = np.linspace(0, 1.0 / k, 4 * ntst * ncol + 1)
                Uk = evaluate(sol.tm, sol.U, ncol, tk)
                trial = cycle_from_trajectory(sysobj, tk * sol.T, Uk, p, period=sol.T / k,
                                              ntst=ntst, ncol=ncol, solve=True)
                if trial.success:
                    trial.message += f" (detected period was {k} x the true period)"
                    return trial
    return sol


def cycle_from_simulation(
    system: Any,
    x0: np.ndarray,
    p: float,
    *,
    t_transient: float,
    t_record: float,
    ntst: int = 40,
    ncol: int = 4,
    method: str = "LSODA",
    rtol: float = 1e-7,
    atol: float = 1e-9,
) -> CycleSolution:
    """Integrate past a transient, detect the period, and correct the cycle by collocation.

    The integration only provides a guess (the collocation Newton solve makes it exact), so
    moderate tolerances suffice; use method="Radau" for very stiff systems.
    """
    sysobj = as_cycle_system(system)
    if not (t_transient >= 0 and t_record > 0):
        raise ValueError("t_transient must be >= 0 and t_record > 0")

    def rhs(_t, y):
        return sysobj.f(y, p)

    def jac(_t, y):
        return sysobj.jac(y, p)

    kw = {"jac": jac} if method in ("Radau", "BDF", "LSODA") else {}
    y0 = np.asarray(x0, float)
    if t_transient > 0:
        s0 = solve_ivp(rhs, (0, t_transient), y0, method=method, rtol=rtol, atol=atol, **kw)
        if not s0.success:
            return CycleSolution(uniform_mesh(ntst), ncol, np.zeros((ntst * ncol + 1, sysobj.n)),
                                 float("nan"), p, False, f"integration failed: {s0.message}")
        y0 = s0.y[:, -1]
    s1 = solve_ivp(rhs, (0, t_record), y0, method=method, rtol=rtol, atol=atol,
                   dense_output=True, **kw)
    if not s1.success:
        return CycleSolution(uniform_mesh(ntst), ncol, np.zeros((ntst * ncol + 1, sysobj.n)),
                             float("nan"), p, False, f"integration failed: {s1.message}")
    tt = np.linspace(0, t_record, max(20000, 50 * len(s1.t)))
    xx = s1.sol(tt).T
    return cycle_from_trajectory(sysobj, tt, xx, p, ntst=ntst, ncol=ncol)


def pd_start(system: Any, cycle: CycleSolution, *, amp: float = 1e-3) -> CycleStart:
    """Start of the period-doubled branch at a PD cycle (``cycle``: a located PD point).

    The doubled cycle is the PD cycle traversed twice (period 2T, mesh concatenated) and the
    tangent is the Floquet eigenvector for multiplier -1 propagated over the first period
    (w) followed by -w over the second, which closes up because w(T) = -w(0).
    """
    sysobj = as_cycle_system(system)
    pt = cycle
    coll = CollocationOperator(sysobj, pt.tm, pt.ncol)
    Fref = coll.phase_reference(pt.U, pt.T, pt.p)
    A = coll.jacobian(pt.U, pt.T, pt.p, Fref)
    fl = floquet_from_jacobian(A, coll, vectors=True)
    k = int(np.argmin(np.abs(fl.multipliers + 1.0)))
    v = np.real(fl.eigenvectors[:, k])
    v /= np.linalg.norm(v)
    w = coll.propagate_linear(A, v)
    tm2 = np.concatenate([0.5 * pt.tm, 0.5 + 0.5 * pt.tm[1:]])
    U2 = np.vstack([pt.U[:-1], pt.U])
    W2 = np.vstack([w[:-1], -w])
    scale = amp / max(np.max(np.abs(W2)), 1e-300)
    tangent = np.concatenate([(W2 * scale).ravel(), [0.0, 0.0]])
    info = {"start": "pd", "pd_multiplier": complex(fl.multipliers[k]),
            "w_end_plus_v": float(np.max(np.abs(w[-1] + v)))}
    return CycleStart(tm2, pt.ncol, U2, 2 * pt.T, pt.p, tangent, info)
