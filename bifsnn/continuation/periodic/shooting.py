"""Multiple shooting for periodic orbits: an independent check of the collocation results.

Unknowns: the states x_0..x_{M-1} at the start of M segments of equal duration T/M, and T.
Equations: phi(x_i, T/M) - x_{i+1 mod M} = 0 and the Poincare phase condition
<x_0 - x_ref, f(x_ref)> = 0. Flows and their sensitivities Phi_i = d phi/d x_i come from
scipy's solve_ivp on the variational equations (Radau with the analytic block Jacobian by
default, so stiff relaxation cycles are fine). Newton's method solves the dense bordered
system; the multipliers are the eigenvalues of Phi_{M-1} ... Phi_0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.integrate import solve_ivp

from .mesh import evaluate
from .system import as_cycle_system

__all__ = ["ShootingResult", "shoot_cycle", "flow_with_sensitivity"]


@dataclass
class ShootingResult:
    """Periodic orbit by multiple shooting."""

    x: np.ndarray  # (M, n) segment start states; x[0] is the phase-fixed point
    T: float
    p: float
    success: bool
    message: str
    iterations: int
    multipliers: np.ndarray | None = None
    monodromy: np.ndarray | None = None
    trivial_error: float = float("nan")
    log_abs_det: float = float("nan")  # sum of log|det Phi_i| (accurate for tiny multipliers)


def flow_with_sensitivity(
    sysobj, x0: np.ndarray, tau: float, p: float, *, method: str = "Radau",
    rtol: float = 1e-10, atol: float = 1e-12,
) -> tuple[np.ndarray, np.ndarray, float]:
    """phi(x0, tau), Phi = d phi / d x0, and int_0^tau trace J dt (log det Phi by Liouville)."""
    n = sysobj.n

    def rhs(_t, z):
        x = z[:n]
        Phi = z[n : n + n * n].reshape(n, n)
        J = sysobj.jac(x, p)
        return np.concatenate([sysobj.f(x, p), (J @ Phi).ravel(), [np.trace(J)]])

    def jac(_t, z):
        J = sysobj.jac(z[:n], p)
        # quasi-Newton Jacobian: ignores d(J Phi)/dx, enough for the implicit solver
        return sp.block_diag([J] + [sp.kron(sp.identity(n), J)] + [sp.csr_matrix((1, 1))],
                             format="csc")

    z0 = np.concatenate([x0, np.eye(n).ravel(), [0.0]])
    kw = {"jac": jac} if method in ("Radau", "BDF") else {}
    if method == "LSODA":
        kw = {"jac": lambda t, z: jac(t, z).toarray()}
    sol = solve_ivp(rhs, (0.0, tau), z0, method=method, rtol=rtol, atol=atol, **kw)
    if not sol.success:
        raise RuntimeError(f"integration failed: {sol.message}")
    z = sol.y[:, -1]
    return z[:n], z[n : n + n * n].reshape(n, n), float(z[-1])


def shoot_cycle(
    system,
    x0: np.ndarray,
    T: float,
    p: float,
    *,
    n_segments: int = 4,
    guess: tuple[np.ndarray, np.ndarray, int] | None = None,
    method: str = "Radau",
    rtol: float = 1e-10,
    atol: float = 1e-12,
    tol: float = 1e-9,
    max_iter: int = 20,
) -> ShootingResult:
    """Find a periodic orbit by multiple shooting from the point x0 (near the orbit) and T.

    ``guess=(tm, U, ncol)`` (a collocation solution) supplies the segment start states;
    otherwise they come from integrating x0 over one period guess.
    """
    sysobj = as_cycle_system(system)
    n = sysobj.n
    M = int(n_segments)
    if M < 1:
        raise ValueError(f"n_segments must be >= 1, got {n_segments}")
    if not T > 0:
        raise ValueError(f"T must be > 0, got {T}")
    if guess is not None:
        tm, U, ncol = guess
        X = evaluate(np.asarray(tm), np.asarray(U), int(ncol), np.arange(M) / M)
    else:
        X = np.empty((M, n))
        X[0] = x0
        for i in range(1, M):
            X[i] = flow_with_sensitivity(sysobj, X[i - 1], T / M, p, method=method,
                                         rtol=rtol, atol=atol)[0]
    X = np.array(X, dtype=float)
    xref = X[0].copy()
    fref = sysobj.f(xref, p)
    fref /= np.linalg.norm(fref)
    Phis = []
    traces = []
    it = 0
    for it in range(1, max_iter + 1):
        res = np.empty(M * n + 1)
        A = np.zeros((M * n + 1, M * n + 1))
        Phis, traces = [], []
        try:
            for i in range(M):
                xe, Phi, tr = flow_with_sensitivity(sysobj, X[i], T / M, p, method=method,
                                                    rtol=rtol, atol=atol)
                Phis.append(Phi)
                traces.append(tr * 1.0)
                j = (i + 1) % M
                res[i * n : (i + 1) * n] = xe - X[j]
                A[i * n : (i + 1) * n, i * n : (i + 1) * n] += Phi
                A[i * n : (i + 1) * n, j * n : (j + 1) * n] -= np.eye(n)
                A[i * n : (i + 1) * n, -1] = sysobj.f(xe, p) / M
        except RuntimeError as exc:
            return ShootingResult(X, T, p, False, str(exc), it)
        res[-1] = fref @ (X[0] - xref)
        A[-1, :n] = fref
        if not np.all(np.isfinite(res)):
            return ShootingResult(X, T, p, False, "NaN in shooting residual", it)
        dz = np.linalg.solve(A, -res)
        X = X + dz[:-1].reshape(M, n)
        T = T + dz[-1]
        if T <= 0:
            return ShootingResult(X, T, p, False, "period became non-positive", it)
        if np.max(np.abs(dz)) < tol * (1 + np.max(np.abs(X))):
            break
    else:
        return ShootingResult(X, T, p, False, f"no convergence in {max_iter} iterations", it)
    # multipliers from the last Newton iterate's flows (the final update is below tol)
    Mono = np.eye(n)
    logdet = 0.0
    for Phi, tr in zip(Phis, traces, strict=True):
        Mono = Phi @ Mono
        logdet += tr
    mu = np.linalg.eigvals(Mono)
    mu = mu[np.argsort(-np.abs(mu))]
    return ShootingResult(X, T, p, True, "converged", it, mu, Mono,
                          float(np.min(np.abs(mu - 1))), logdet)
