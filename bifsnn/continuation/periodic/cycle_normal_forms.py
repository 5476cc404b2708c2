"""Periodic normal-form coefficients of period doubling (PD) and Neimark-Sacker (NS) cycles on
the collocation discretisation (Kuznetsov, Govaerts, Doedel & Dhooge, "Numerical periodic
normalization for codim 1 bifurcations of limit cycles", SIAM J. Numer. Anal. 43, 2005; as
MatCont's nf_PD / nf_NS).

Near a cycle x0(t) of period T the periodic normal forms are

* PD: ``x = x0(tau) + xi v1(tau) + ...``, ``tau' = 1 + a1 xi^2 + ...``, ``xi' = c xi^3 + ...``
  with v1 anti-periodic, ``v1' = A(t) v1``;
* NS: ``x = x0(tau) + xi v1(tau) + conj(xi v1(tau)) + ...``, ``tau' = 1 + a1 |xi|^2``,
  ``xi' = i (theta / T) xi + d xi |xi|^2 + ...`` with v1 periodic,
  ``v1' = A(t) v1 - i (theta / T) v1`` (exp(+-i theta) the critical multipliers),

in physical time t, with ``int_0^T <v1, v1> dt = 1``.  ``c < 0`` (PD) and ``Re d < 0`` (NS)
mean a supercritical bifurcation (a stable doubled cycle / torus on the side where the cycle
is unstable); their zeros along a PD / NS curve are the generalised period doubling (GPD) and
the Chenciner point (CH).  Derivation (substitution into x' = f(x), orders xi^2 and xi^3):

* PD: ``h2' - A h2 = B(v1, v1) - 2 a1 f(x0)`` (periodic) gives a1 by solvability;
  ``c = <v1*, C(v1, v1, v1) + 3 B(v1, h2) - 6 a1 A v1> / (6 <v1*, v1>)``;
* NS: ``h11' - A h11 = B(v1, conj v1) - a1 f(x0)`` (periodic), ``h20' - A h20 + 2 i (theta/T)
  h20 = B(v1, v1)`` (periodic); ``d = <v1*, C(v1, v1, conj v1) + 2 B(v1, h11) + B(conj v1,
  h20) - 2 a1 (A v1 - i (theta/T) v1)> / (2 <v1*, v1>)``,

with v1* the adjoint null function.  On the discretisation every boundary-value problem is
the collocation system of the cycle's linearisation (rows u'(z) - T A(z) u(z) at the Gauss
points, unscaled, plus boundary rows), and <v1*, r> is the left null vector of that square
operator applied to the right-hand side at the collocation points: the solvability condition
of the discrete problem, so the ratio does not depend on how v1* is scaled.  The NS
functions are written in the Floquet form w = exp(i theta s) v1 (s = t/T), whose boundary
condition is w(1) = exp(i theta) w(0): h20 = exp(-2 i theta s) k20 with k20(1) =
exp(2 i theta) k20(0).  B and C come from the problem's exact derivatives (``d2f``, ``d3f``,
e.g. :meth:`~bifsnn.continuation.ODEProblem.from_sympy`) or Ridders' differences (see
:mod:`bifsnn.continuation.derivatives`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .collocation import CollocationOperator, sparse_lu

__all__ = ["ns_normal_form", "pd_normal_form"]


def _boundary_matrix(coll: CollocationOperator, J: sp.spmatrix, mult: complex
                     ) -> sp.csc_matrix:
    """Collocation block of J with the boundary rows w(1) - mult w(0) = 0."""
    n = coll.n
    ar = np.arange(n)
    C = J[: coll.ncoll, : coll.nU]
    dtype = complex if np.iscomplexobj(mult) and np.imag(mult) != 0 else float
    mult = mult if dtype is complex else float(np.real(mult))
    bc = sp.csr_matrix((np.r_[np.full(n, -mult), np.ones(n)],
                        (np.r_[ar, ar], np.r_[ar, (coll.nnodes - 1) * n + ar])),
                       shape=(n, coll.nU), dtype=dtype)
    return sp.vstack([C.astype(dtype), bc], format="csc")


def _null_vectors(M: sp.csc_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Right and left null vectors (w, psi) of a (nearly) singular square M: bordered solves
    with borders from two steps of inverse iteration (fixed start); ``psi^H M ~ 0``."""
    cplx = np.iscomplexobj(M.data)
    rng = np.random.default_rng(5)
    m = M.shape[0]
    b = rng.standard_normal(m) + (1j * rng.standard_normal(m) if cplx else 0)
    c = rng.standard_normal(m) + (1j * rng.standard_normal(m) if cplx else 0)
    try:
        lu = sparse_lu(M)
        for _ in range(2):
            c = lu.solve(c)
            c /= np.linalg.norm(c)
            b = lu.solve(b, trans="H" if cplx else "T")
            b /= np.linalg.norm(b)
    except RuntimeError:  # exactly singular: the random borders are fine
        pass
    Bm = sp.bmat([[M, sp.csc_matrix(b[:, None])], [sp.csc_matrix(np.conj(c)[None, :]), None]],
                 format="csc")
    lu = sparse_lu(Bm)
    rhs = np.zeros(m + 1, dtype=complex if cplx else float)
    rhs[-1] = 1.0
    w = lu.solve(rhs)[:-1]
    psi = lu.solve(rhs, trans="H" if cplx else "T")[:-1]
    return w, psi


def _point_forms(problem, X: np.ndarray, P: np.ndarray) -> list:
    return [problem.directional(x, P) for x in X]


def _apply_A(problem, X: np.ndarray, P: np.ndarray, V: np.ndarray) -> np.ndarray:
    out = np.empty(V.shape, dtype=V.dtype)
    for k, x in enumerate(X):
        J = problem.jac_x(x, P)
        out[k] = J @ V[k]
    return out


def _periodic_solve(coll: CollocationOperator, J: sp.spmatrix, rhs_coll: np.ndarray
                    ) -> tuple[np.ndarray, float]:
    """Solution (h, tau) of ``h' - T A h - f(x0) tau = rhs`` (at the collocation points),
    h periodic with the phase row's normalisation: the (U, T) block of the cycle Jacobian."""
    M = J[:, : coll.nU + 1].tocsc()
    rhs = np.zeros(M.shape[0])
    rhs[: coll.ncoll] = rhs_coll.ravel()
    sol = sparse_lu(M).solve(rhs)
    return sol[: coll.nU].reshape(coll.nnodes, coll.n), float(sol[coll.nU])


def pd_normal_form(problem, coll: CollocationOperator, U: np.ndarray, T: float,
                   P: np.ndarray, J: sp.spmatrix) -> dict:
    """PD normal-form coefficients ``{"c", "a1"}`` (module docstring) of the cycle ``U``
    (nodes on ``coll``'s mesh) of period ``T`` at the parameter vector ``P``; ``J`` is the
    cycle Jacobian from ``coll`` (collocation, periodicity and phase rows; columns U, T, ...)
    at that point."""
    n = coll.n
    w, psi = _null_vectors(_boundary_matrix(coll, J, -1.0))
    V1 = w.reshape(coll.nnodes, n)
    V1 = V1 / np.sqrt(T * float(np.sum(coll.wnode[:, None] * V1 * V1)))
    X = coll.coll_points(U)
    V = coll.coll_points(V1)
    forms = _point_forms(problem, X, P)
    BVV = np.array([fm.B(v, v) for fm, v in zip(forms, V, strict=True)])
    H2, tau = _periodic_solve(coll, J, T * BVV)
    a1 = -tau / (2 * T)
    H = coll.coll_points(H2)
    AV = _apply_A(problem, X, P, V)
    R = np.array([fm.C(v, v, v) + 3 * fm.B(v, h) for fm, v, h in zip(forms, V, H, strict=True)])
    R = R - 6 * a1 * AV
    pc = psi[: coll.ncoll]
    c = float(pc @ R.ravel() / (6 * (pc @ V.ravel())))
    return {"c": c, "a1": float(a1)}


def ns_normal_form(problem, coll: CollocationOperator, U: np.ndarray, T: float,
                   P: np.ndarray, J: sp.spmatrix, theta: float) -> dict:
    """NS normal-form coefficients ``{"d", "re_d", "a1"}`` (module docstring) of the cycle
    ``U`` with critical multipliers exp(+-i ``theta``) (0 < |theta| < pi, away from the 1:1
    and 1:2 resonances); arguments as in :func:`pd_normal_form`."""
    if not (np.isfinite(theta) and 1e-6 < abs(np.sin(theta))):
        raise ValueError(f"theta = {theta!r} is out of range: the NS normal form needs a "
                         "multiplier pair exp(+-i theta) off the real axis")
    n = coll.n
    w, psi = _null_vectors(_boundary_matrix(coll, J, np.exp(1j * theta)))
    W1 = w.reshape(coll.nnodes, n)
    W1 = W1 / np.sqrt(T * float(np.sum(coll.wnode[:, None] * np.abs(W1) ** 2)))
    X = coll.coll_points(U)
    Wc = coll.coll_points(W1)
    forms = _point_forms(problem, X, P)
    Bwwb = np.array([np.real(fm.B(v, np.conj(v))) for fm, v in zip(forms, Wc, strict=True)])
    H11n, tau = _periodic_solve(coll, J, T * Bwwb)
    a1 = -tau / T
    Bww = np.array([fm.B(v, v) for fm, v in zip(forms, Wc, strict=True)])
    M2 = _boundary_matrix(coll, J, np.exp(2j * theta))
    rhs = np.zeros(M2.shape[0], dtype=complex)
    rhs[: coll.ncoll] = (T * Bww).ravel()
    K20 = sparse_lu(M2).solve(rhs).reshape(coll.nnodes, n)
    H11, K = coll.coll_points(H11n), coll.coll_points(K20)
    AW = _apply_A(problem, X, P, Wc)
    om = theta / T
    R = np.array([fm.C(v, v, np.conj(v)) + 2 * fm.B(v, h) + fm.B(np.conj(v), k)
                  for fm, v, h, k in zip(forms, Wc, H11, K, strict=True)])
    R = R - 2 * a1 * (AW - 1j * om * Wc)
    pc = psi[: coll.ncoll]
    d = complex(np.vdot(pc, R.ravel()) / (2 * np.vdot(pc, Wc.ravel())))
    return {"d": d, "re_d": float(d.real), "a1": float(a1)}
