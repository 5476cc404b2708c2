"""Fold and Hopf points as solutions of minimally augmented systems (Govaerts; MatCont), used
to locate them on equilibrium branches (one free parameter: square systems solved by Newton)
and to continue them in two parameters (:func:`continue_fold`, :func:`continue_hopf`).

Fold (LP): unknowns ``(x, p_free)``; equations ``f(x, p) = 0`` and ``g(x, p) = 0`` where
``[[J, b], [c^T, 0]] [v; g] = [0; 1]``.  Its derivatives come from the adjoint solution
``w``: ``g_z = -w^T J_z v``.

Hopf (H): unknowns ``(x, p_free, omega)``; equations ``f = 0``, ``Re s = 0``, ``Im s = 0``
where ``[[J - i omega I, b], [c^H, 0]] [v; s] = [0; 1]`` (complex bordering, as in
BifurcationKit); ``s_z = -w^H (J - i omega I)_z v``.  Along a Hopf curve omega passes through
zero at a Bogdanov-Takens point (where the curve turns back on itself with -omega).

Borders are refreshed after every accepted step from the adjoint/right null vectors.
Codim-2 test functions: on fold curves ``BT = <w, v>`` (unit vectors; zero at
Bogdanov-Takens) and ``CP = <w, B(v, v)>`` (zero at a cusp); on Hopf curves ``BT = omega``
and ``GH = l1`` (zero at a Bautin point).  A sign change between two curve points is
located by Newton on ``[curve system; test] = 0`` (:func:`locate_codim2`; BT on a Hopf
curve via the fold system, since the Hopf system degenerates at omega = 0), falling back to
regula falsi along the curve; ``data['locator']``, ``['residual']``, ``['iterations']``
record which.

Branch points of equilibria (:class:`BranchPointSystem`): ``[G(u) + beta psi; g1; g2] = 0``
with ``g`` from the bordered ``(n+2) x (n+2)`` matrix ``[[G_u, psi], [C^T, 0]]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from bifsnn.continuation.arclength import ArclengthContinuation
from bifsnn.continuation.errors import UserFunctionError, call_user
from bifsnn.continuation.events import eigenvalues, locate_zero, stability_counts
from bifsnn.continuation.linalg import Factorization, bordered, newton
from bifsnn.continuation.normal_forms import critical_eigenvectors, first_lyapunov
from bifsnn.continuation.options import ContinuationOptions, check_events, emit_progress
from bifsnn.continuation.problem import ODEProblem
from bifsnn.continuation.result import Branch, SpecialPoint, merge_sides, with_end_points

__all__ = [
    "BranchPointSystem",
    "FoldSystem",
    "HopfSystem",
    "continue_fold",
    "continue_hopf",
    "locate_codim2",
]


def _hstack(J, cols: np.ndarray):
    if cols.shape[1] == 0:
        return J
    if sp.issparse(J):
        return sp.hstack([J, sp.csc_matrix(cols)], format="csc")
    return np.hstack([np.asarray(J), cols])


def _vstack(A, rows: np.ndarray):
    if sp.issparse(A):
        return sp.vstack([A, sp.csr_matrix(rows)], format="csc")
    return np.vstack([A, rows])


class _Augmented:
    """Common bookkeeping: unknown vector layout and a one-entry cache."""

    def __init__(self, problem: ODEProblem, free: Sequence[int], p: np.ndarray):
        self.problem = problem
        self.free = [problem.param_index(k) for k in free]
        self.p_base = np.asarray(p, dtype=float).copy()
        self.n = problem.n
        self._key = None
        self._val = None

    def split(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = u[: self.n]
        p = self.p_base.copy()
        p[self.free] = u[self.n: self.n + len(self.free)]
        return x, p

    def _cached(self, u: np.ndarray):
        key = u.tobytes()
        if key != self._key:
            self._val = self._solve(u)
            self._key = key
        return self._val

    def _solve(self, u):  # pragma: no cover - abstract
        raise NotImplementedError


class FoldSystem(_Augmented):
    """Minimally augmented fold system; ``u = (x, p_free)``; ``len(free)`` = 1 (location) or
    2 (fold curve)."""

    def __init__(self, problem: ODEProblem, free: Sequence[int], x: np.ndarray, p: np.ndarray,
                 J=None):
        super().__init__(problem, free, p)
        if J is None:
            J = problem.jac_x(x, self.p_base)
        v, w = critical_eigenvectors(J, 0.0)
        self.b = w / np.linalg.norm(w)
        self.c = v / np.linalg.norm(v)

    def u_of(self, x: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Curve unknowns u = (x, free parameters) from a state and a parameter vector."""
        return np.r_[x, p[self.free]]

    def _solve(self, u):
        x, p = self.split(u)
        J = self.problem.jac_x(x, p)
        fac = Factorization(bordered(J, self.b, self.c))
        rhs = np.zeros(self.n + 1)
        rhs[-1] = 1.0
        vg = fac.solve(rhs)
        wg = fac.solve(rhs, trans="T")
        return dict(x=x, p=p, J=J, v=vg[:-1], g=vg[-1], w=wg[:-1])

    def G(self, u: np.ndarray) -> np.ndarray:
        """Defining system of the fold curve: f(x, p) = 0 and the bordered test function g = 0."""
        s = self._cached(u)
        return np.r_[self.problem.rhs(s["x"], s["p"]), s["g"]]

    def dG(self, u: np.ndarray):
        """Jacobian of G with respect to u (analytic df/dx, df/dp and the derivative of g)."""
        s = self._cached(u)
        x, p, J, v, w = s["x"], s["p"], s["J"], s["v"], s["w"]
        fp = self.problem.jac_p(x, p, self.free)
        Dv = self.problem.jac_x_dir(x, p, v)
        gx = -np.asarray(Dv.T @ w).ravel()
        gp = [-float(w @ (self.problem.jac_x_dp(x, p, k) @ v)) for k in self.free]
        top = _hstack(J, fp)
        return _vstack(top, np.r_[gx, gp][None, :])

    def update_borders(self, u: np.ndarray) -> None:
        """Refresh the bordering vectors from the current null vectors (keeps G regular)."""
        s = self._cached(u)
        self.b = s["w"] / np.linalg.norm(s["w"])
        self.c = s["v"] / np.linalg.norm(s["v"])
        self._key = None

    def null_vectors(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised right and left null vectors (v, w) of df/dx at u."""
        s = self._cached(u)
        return s["v"] / np.linalg.norm(s["v"]), s["w"] / np.linalg.norm(s["w"])

    def tests(self, u: np.ndarray) -> dict[str, float]:
        """Codim-2 test functions on a fold curve: BT (<w, v>) and CP (<w, B(v, v)>)."""
        s = self._cached(u)
        v, w = self.null_vectors(u)
        x, p = s["x"], s["p"]
        B = self.problem.directional(x, p).B(v, v)
        return {"BT": float(w @ v), "CP": float(w @ B), "ZH": _zh_fold_test(s["J"])}

    def test_value(self, u: np.ndarray, name: str) -> float:
        """One codim-2 test function ("BT" or "CP") at ``u`` (as in :meth:`tests`)."""
        if name == "BT":
            v, w = self.null_vectors(u)
            return float(w @ v)
        if name == "CP":
            return self.tests(u)["CP"]
        if name == "ZH":
            return _zh_fold_test(self._cached(u)["J"])
        raise ValueError(f"unknown fold-curve test {name!r}; expected 'BT', 'CP' or 'ZH'")


class HopfSystem(_Augmented):
    """Minimally augmented Hopf system; ``u = (x, p_free, omega)``."""

    def __init__(self, problem: ODEProblem, free: Sequence[int], x: np.ndarray, p: np.ndarray,
                 omega: float, J=None):
        super().__init__(problem, free, p)
        if J is None:
            J = problem.jac_x(x, self.p_base)
        q, pa = critical_eigenvectors(J, 1j * omega)
        self.b = pa / np.linalg.norm(pa)
        self.c = q / np.linalg.norm(q)

    def u_of(self, x: np.ndarray, p: np.ndarray, omega: float) -> np.ndarray:
        """Curve unknowns u = (x, free parameters, omega)."""
        return np.r_[x, p[self.free], omega]

    def split_omega(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Split u into the state, the full parameter vector and omega."""
        x, p = self.split(u)
        return x, p, float(u[-1])

    def _solve(self, u):
        x, p, om = self.split_omega(u)
        J = self.problem.jac_x(x, p)
        n = self.n
        if sp.issparse(J):
            A = sp.csc_matrix(J, dtype=complex) - 1j * om * sp.identity(n, format="csc")
        else:
            A = np.asarray(J, dtype=complex) - 1j * om * np.eye(n)
        fac = Factorization(bordered(A, self.b, np.conj(self.c)))
        rhs = np.zeros(n + 1, dtype=complex)
        rhs[-1] = 1.0
        vs = fac.solve(rhs)
        ws = fac.solve(rhs, trans="H")
        return dict(x=x, p=p, omega=om, J=J, v=vs[:-1], s=vs[-1], w=ws[:-1])

    def G(self, u: np.ndarray) -> np.ndarray:
        """Defining system of the Hopf curve: f(x, p) = 0 and the complex bordered test = 0."""
        c = self._cached(u)
        return np.r_[self.problem.rhs(c["x"], c["p"]), c["s"].real, c["s"].imag]

    def dG(self, u: np.ndarray):
        """Jacobian of G with respect to u."""
        c = self._cached(u)
        x, p, J, v, w = c["x"], c["p"], c["J"], c["v"], c["w"]
        pr = self.problem
        wb = np.conj(w)
        sx = -(np.asarray(pr.jac_x_dir(x, p, v.real).T @ wb).ravel()
               + 1j * np.asarray(pr.jac_x_dir(x, p, v.imag).T @ wb).ravel())
        sp_ = np.array([-np.vdot(w, pr.jac_x_dp(x, p, k) @ v) for k in self.free])
        som = 1j * np.vdot(w, v)
        fp = pr.jac_p(x, p, self.free)
        top = _hstack(J, np.c_[fp, np.zeros(self.n)])
        rows = np.vstack([np.r_[sx.real, sp_.real, som.real], np.r_[sx.imag, sp_.imag, som.imag]])
        return _vstack(top, rows)

    def update_borders(self, u: np.ndarray) -> None:
        """Refresh the bordering vectors from the current critical eigenvectors."""
        c = self._cached(u)
        self.b = c["w"] / np.linalg.norm(c["w"])
        self.c = c["v"] / np.linalg.norm(c["v"])
        self._key = None

    def eigenvectors(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Critical (q, p_adj) normalised as in :mod:`normal_forms`."""
        c = self._cached(u)
        q = c["v"] / np.linalg.norm(c["v"])
        k = int(np.argmax(np.abs(q)))
        q = q * np.exp(-1j * np.angle(q[k]))
        pa = c["w"] / np.conj(np.vdot(c["w"], q))
        return q, pa

    def l1(self, u: np.ndarray) -> float:
        """First Lyapunov coefficient at u (nan where omega is ~0)."""
        c = self._cached(u)
        x, p, om, J = c["x"], c["p"], c["omega"], c["J"]
        if abs(om) < 1e-12:
            return float("nan")
        q, pa = self.eigenvectors(u)
        if om < 0:
            q, pa, om = np.conj(q), np.conj(pa), -om
        try:
            return first_lyapunov(None, x, J, om, q, pa, forms=self.problem.directional(x, p))
        except np.linalg.LinAlgError:  # J singular (a zero-Hopf point): l1 has a pole
            return float("nan")

    def tests(self, u: np.ndarray) -> dict[str, float]:
        """Codim-2 test functions on a Hopf curve: BT (omega), GH (l1) and ZH (a real
        eigenvalue through zero: see :meth:`zh_test`)."""
        return {"BT": float(u[-1]), "GH": self.l1(u), "ZH": self.zh_test(u),
                "HH": _hh_test(self._cached(u)["J"], float(u[-1]))}

    #: Borders (b, c) of the smooth ZH test, set by the locator near a detected ZH point.
    zh_border: tuple[np.ndarray, np.ndarray] | None = None

    def zh_test(self, u: np.ndarray) -> float:
        """ZH test on a Hopf curve: with ``zh_border`` set, the last entry g of
        ``[[J, b], [c^T, 0]] [v; g] = [0; 1]`` (smooth, zero where J is singular); else
        ``sign(det J) * min |real eigenvalue|`` (continuous, changes sign exactly where one
        real eigenvalue crosses zero; NaN above 400 unknowns, where it is not computed)."""
        c = self._cached(u)
        J = c["J"]
        if self.zh_border is not None:
            b, cc = self.zh_border
            rhs = np.zeros(self.n + 1)
            rhs[-1] = 1.0
            return float(Factorization(bordered(J, b, cc)).solve(rhs)[-1])
        return _zh_hopf_test(J)

    def test_value(self, u: np.ndarray, name: str) -> float:
        """One codim-2 test function ("BT": omega, "GH": l1, "ZH") at ``u``."""
        if name == "BT":
            return float(u[-1])
        if name == "GH":
            return self.l1(u)
        if name == "ZH":
            return self.zh_test(u)
        if name == "HH":
            return _hh_test(self._cached(u)["J"], float(u[-1]))
        raise ValueError(f"unknown Hopf-curve test {name!r}; expected 'BT', 'GH', 'ZH' or "
                         "'HH'")


_ZH_MAX_N = 400


def _dense_eigs(J) -> np.ndarray | None:
    if J.shape[0] > _ZH_MAX_N:
        return None
    A = J.toarray() if sp.issparse(J) else np.asarray(J, dtype=float)
    return np.linalg.eigvals(A)


def _zh_hopf_test(J) -> float:
    """sign(det J) * min |Re lambda| over the real eigenvalues (NaN if none or n > 400)."""
    ev = _dense_eigs(J)
    if ev is None:
        return float("nan")
    real = ev[np.abs(ev.imag) <= 1e-8 * (1 + np.abs(ev))].real
    if real.size == 0:
        return float("nan")
    return float(np.prod(np.sign(real)) * np.min(np.abs(real)))


def _zh_fold_test(J) -> float:
    """Bialternate-product test on a fold curve: prod_{i<j} (lambda_i + lambda_j) over the
    eigenvalues other than the one nearest zero, normalised by prod |lambda_i| + |lambda_j|
    (real; changes sign where a pair with lambda_i + lambda_j = 0 appears: a zero-Hopf
    point when the pair is complex, a neutral saddle when it is real)."""
    ev = _dense_eigs(J)
    if ev is None or ev.size < 3:
        return float("nan")
    k = int(np.argmin(np.abs(ev)))
    rest = np.delete(ev, k)
    i, j = np.triu_indices(rest.size, 1)
    s = rest[i] + rest[j]
    scale = np.abs(rest[i]) + np.abs(rest[j])
    val = np.prod(s / np.where(scale > 0, scale, 1.0))
    return float(np.real(val))


def _hh_test(J, omega: float) -> float:
    """Double-Hopf test on a Hopf curve: the bialternate product prod_{i<j} (lambda_i +
    lambda_j) / (|lambda_i| + |lambda_j|) over the eigenvalues other than the Hopf pair
    +-i omega (real; it changes sign where a second pair with lambda_i + lambda_j = 0
    appears: a double-Hopf point when that pair is complex, a neutral saddle when real).
    NaN above 400 unknowns or with fewer than two other eigenvalues."""
    ev = _dense_eigs(J)
    if ev is None or ev.size < 4:
        return float("nan")
    for target in (1j * abs(omega), -1j * abs(omega)):
        ev = np.delete(ev, int(np.argmin(np.abs(ev - target))))
    i, j = np.triu_indices(ev.size, 1)
    s = ev[i] + ev[j]
    scale = np.abs(ev[i]) + np.abs(ev[j])
    return float(np.real(np.prod(s / np.where(scale > 0, scale, 1.0))))


class BranchPointSystem:
    """Minimally augmented system of a simple branch point of a curve ``G(u) = 0``,
    ``G: R^{m+1} -> R^m`` (Govaerts, *Numerical Methods for Bifurcations of Dynamical
    Equilibria*, sec. 4.4; MatCont's BP system).

    At a simple branch point ``A = G_u`` (m x (m+1)) has rank m - 1.  With a border ``psi``
    (m-vector, near the left null vector of A) and ``C`` ((m+1) x 2, near a basis of the
    null space of A), the bordered matrix ``M = [[A, psi], [C^T, 0]]`` is nonsingular near
    the branch point and ``M [V; g] = [0; I_2]`` defines ``g = (g1, g2)``, both zero exactly
    where the rank drops.  These are two conditions on the curve, so an unfolding unknown
    ``beta`` is added: unknowns ``z = (u, beta)``, equations
    ``[G(u) + beta psi; g1(u); g2(u)] = 0`` (square, m + 2); at the branch point
    ``beta = 0``.  Derivatives: ``g_k,u = -w^T G_uu[v_k, .]`` with ``M^T [w; h] = e_last``;
    the second derivatives are central differences of ``dG`` along ``v_k`` (an inexact
    Jacobian only slows Newton down; the residual, and so the located point, is exact).
    """

    def __init__(self, G, dG, psi: np.ndarray, C: np.ndarray):
        self.G_curve = G
        self.dG_curve = dG
        self.psi = np.asarray(psi, dtype=float).ravel()
        self.psi = self.psi / np.linalg.norm(self.psi)
        C = np.asarray(C, dtype=float).reshape(self.psi.size + 1, 2)
        Q, _ = np.linalg.qr(C)
        self.C = Q
        self.m = self.psi.size
        self._key = None
        self._val = None

    @classmethod
    def from_tangent(cls, G, dG, u: np.ndarray, tangent: np.ndarray) -> BranchPointSystem:
        """Borders from the curve near a branch point: ``C = [t, phi]`` and ``psi``, where
        ``phi`` / ``(psi, .)`` are the right / left vectors of the smallest singular value
        of the square Jacobian ``[[G_u], [t^T]]`` (its null vectors at the branch point)."""
        A = dG(u)
        t = np.asarray(tangent, dtype=float)
        t = t / np.linalg.norm(t)
        Aext = bordered(A, None, t)
        phi, left = critical_eigenvectors(Aext, 0.0)
        psi = left[:-1]
        if not np.all(np.isfinite(psi)) or np.linalg.norm(psi) == 0:
            raise np.linalg.LinAlgError("no left null vector for the branch-point border")
        return cls(G, dG, psi, np.c_[t, phi])

    def _solve(self, u: np.ndarray):
        key = u.tobytes()
        if key == self._key:
            return self._val
        A = self.dG_curve(u)
        M = bordered(A, self.psi, self.C, np.zeros((2, 1)))
        fac = Factorization(M)
        rhs = np.zeros((self.m + 2, 2))
        rhs[self.m, 0] = rhs[self.m + 1, 1] = 1.0
        sol = fac.solve(rhs)
        e = np.zeros(self.m + 2)
        e[-1] = 1.0
        w = fac.solve(e, trans="T")[: self.m]
        self._val = dict(A=A, V=sol[: self.m + 1], g=sol[self.m + 1], w=w)
        self._key = key
        return self._val

    def F(self, z: np.ndarray) -> np.ndarray:
        """MatCont's branch-point system [G + beta psi; g1; g2] at z = (u, beta)."""
        u, beta = z[:-1], z[-1]
        s = self._solve(u)
        return np.r_[np.asarray(self.G_curve(u), dtype=float) + beta * self.psi, s["g"]]

    def dF(self, z: np.ndarray):
        """Jacobian of F with respect to z."""
        u = z[:-1]
        s = self._solve(u)
        rows = np.zeros((2, u.size + 1))
        for j in range(2):
            rows[j, :-1] = -self._w_Guu(u, s["V"][:, j], s["w"])
        top = _hstack(s["A"], self.psi[:, None])
        return _vstack(top, rows)

    def _w_Guu(self, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Row vector w^T G_uu[v, .] by a central difference of dG along v."""
        nv = float(np.linalg.norm(v))
        if nv == 0:
            return np.zeros(u.size)
        h = np.finfo(float).eps ** (1 / 3) * max(1.0, float(np.linalg.norm(u))
                                                 / np.sqrt(u.size))
        d = v / nv
        D = (self.dG_curve(u + h * d) - self.dG_curve(u - h * d)) * (nv / (2 * h))
        return np.asarray(D.T @ w).ravel()

    def locate(self, u0: np.ndarray, tol: float = 1e-10, max_iter: int = 20):
        """Newton from ``(u0, beta = 0)``; returns ``(u, beta, converged, iterations,
        residual)`` with the residual the max-norm of the full system."""
        z, ok, it, res = newton(self.F, self.dF, np.r_[u0, 0.0], tol=tol, max_iter=max_iter)
        return z[:-1], float(z[-1]), ok, it, res


def _test_gradient(system, u: np.ndarray, name: str, mode: str = "full",
                   t_ref: np.ndarray | None = None) -> np.ndarray:
    """Gradient of a codim-2 test function: exact for omega (BT on Hopf curves), else
    central differences with relative step 1e-5 (the FD tests CP and GH carry noise of
    about 1e-11 and 1e-9, so the gradient is good to ~1e-4, enough for Newton).

    ``mode="full"`` differentiates along every unknown (2 (m+1) evaluations);
    ``"tangent"`` only along the curve's tangent at ``u`` (2 evaluations, for large
    systems): the Jacobian then differs from the exact one only off the curve, where the
    Newton step is O(|G|), so convergence stays fast near the curve."""
    g = np.zeros(u.size)
    if isinstance(system, HopfSystem) and name == "BT":
        g[-1] = 1.0
        return g
    if mode == "tangent":
        A = system.dG(u)
        t0 = np.ones(u.size) if t_ref is None else np.asarray(t_ref, dtype=float)
        rhs = np.zeros(u.size)
        rhs[-1] = 1.0
        t = Factorization(bordered(A, None, t0)).solve(rhs)
        t = t / np.linalg.norm(t)
        h = 1e-5 * max(1.0, float(np.linalg.norm(u)) / np.sqrt(u.size))
        d = (system.test_value(u + h * t, name) - system.test_value(u - h * t, name)) / (2 * h)
        return d * t
    for j in range(u.size):
        h = 1e-5 * max(1.0, abs(u[j]))
        up, um = u.copy(), u.copy()
        up[j] += h
        um[j] -= h
        g[j] = (system.test_value(up, name) - system.test_value(um, name)) / (2 * h)
    return g


#: Floors of the Newton tolerance per codim-2 test: the residual of a test evaluated with
#: finite-difference derivatives cannot go below its noise (CP: second derivatives,
#: GH: third derivatives of f).
_CODIM2_NEWTON_TOL = {"BT": 1e-10, "CP": 1e-10, "GH": 1e-8, "ZH": 1e-10, "HH": 1e-10}


def locate_codim2(system, u0: np.ndarray, name: str, tol: float = 1e-10,
                  max_iter: int = 20, gradient: str = "auto",
                  tangent: np.ndarray | None = None) -> tuple[np.ndarray, bool, int, float]:
    """Codim-2 point on a fold or Hopf curve by Newton on the square extended system
    ``[G(u); phi(u)] = 0`` (``G`` the minimally augmented fold/Hopf system with two free
    parameters, ``phi`` the test function ``name``: BT ``<w, v>`` on folds, i.e. the null
    vector also lies in the range of f_x; CP the quadratic coefficient ``<w, B(v, v)>``;
    BT ``omega`` and GH ``l1`` on Hopf curves; the GH row scaled by max|x|^2, the scale of
    1/l1).  ``tol`` is capped at 1e-10 and, with finite-difference derivatives, floored at
    the noise level of the test (1e-8 for GH; no floor with exact derivatives).  Returns
    ``(u, converged, iterations, residual)`` with the max-norm residual of the extended
    system.  ``gradient``: how the
    test's gradient is taken ("full", "tangent" along the curve, see :func:`_test_gradient`,
    or "auto": full for at most 40 unknowns); ``tangent`` orients the curve tangent."""
    if gradient not in ("auto", "full", "tangent"):
        raise ValueError(f"gradient = {gradient!r}; expected 'auto', 'full' or 'tangent'")
    mode = ("full" if u0.size <= 40 else "tangent") if gradient == "auto" else gradient
    # l1 scales like 1/|x|^2 (q has unit norm): on a state of size X it is O(1/X^2) (1e-7 on
    # the network, X ~ 1e3), so the GH row is scaled by X^2 to make the residual test mean
    # the same as for the other rows
    scale = 1.0
    if name == "GH":
        scale = max(1.0, float(np.max(np.abs(u0[: system.n]), initial=0.0))) ** 2

    def H(u):
        return np.r_[system.G(u), scale * system.test_value(u, name)]

    def dH(u):
        grad = scale * _test_gradient(system, u, name, mode, tangent)
        return _vstack(system.dG(u), grad[None, :])

    floor = _CODIM2_NEWTON_TOL.get(name, 0.0)
    if name in ("GH", "CP") and getattr(system.problem, "derivatives", "") == "exact":
        floor = 0.0  # exact second/third derivatives: no finite-difference noise to respect
    tol = max(min(tol, 1e-10), floor)
    return newton(H, dH, u0, tol=tol, max_iter=max_iter)


# ----------------------------------------------------------------------------- curves
_CODIM2_TESTS = {"LP": ("BT", "CP", "ZH"), "H": ("BT", "GH", "ZH", "HH")}


def _point_of(branch, point, kind: str):
    if not isinstance(branch, Branch) or branch.kind != "EP":
        raise ValueError(f"a {kind} curve starts from an 'EP' branch")
    if branch.problem is None:
        raise ValueError("the branch carries no problem: load it with "
                         "load_branch(path, problem=...)")
    return branch.point(point, kind)


def continue_fold(branch, point, param2, options=None, name: str = ""):
    """Continue a fold (LP) of an equilibrium ``branch`` in two parameters: its own
    continuation parameter and ``param2`` (index or name).  Detects Bogdanov-Takens (BT) and
    cusp (CP) points.  ``point``: an 'LP' SpecialPoint or an index into
    ``branch.special_points``.  ``options.direction`` orients the first step along
    ``param2``; ``options.bounds[param2]`` bounds it; ``both_sides`` continues both ways.
    Returns a :class:`Branch` of kind 'LP' with ``param_indices = (p1, p2)``."""
    pt = _point_of(branch, point, "LP")
    pr: ODEProblem = branch.problem
    free = [pt.param_indices[0], pr.param_index(param2)]
    sys_ = FoldSystem(pr, free, pt.x, pt.p)
    u0 = sys_.u_of(pt.x, pt.p)
    return _continue_curve("LP", sys_, u0, pr, options or ContinuationOptions(), free,
                           name or f"{branch.name}-LP")


def continue_hopf(branch, point, param2, options=None, name: str = ""):
    """Continue a Hopf point of an equilibrium ``branch`` in its parameter and ``param2``.
    Detects Bogdanov-Takens (BT: omega -> 0; the run stops there, since beyond it the curve
    retraces itself with -omega) and Bautin / generalised Hopf (GH: l1 = 0) points.  The
    per-point frequency is in ``extra['omega']`` and l1 in ``extra['GH']``.  ``point`` and
    ``options`` as in :func:`continue_fold`."""
    pt = _point_of(branch, point, "H")
    pr: ODEProblem = branch.problem
    free = [pt.param_indices[0], pr.param_index(param2)]
    omega = float(pt.data["omega"])
    sys_ = HopfSystem(pr, free, pt.x, pt.p, omega)
    u0 = sys_.u_of(pt.x, pt.p, omega)
    return _continue_curve("H", sys_, u0, pr, options or ContinuationOptions(), free,
                           name or f"{branch.name}-H")


def _bound_for(opts, pr: ODEProblem, k: int) -> tuple[float, float]:
    for key, val in opts.bounds.items():
        if pr.param_index(key) == k:
            return float(val[0]), float(val[1])
    return -np.inf, np.inf


def _curve_loop(kind, system, cont, rows, specials, record, test_names, free, opts, n):
    """Steps of a codim-1 curve: record points, locate codim-2 points between them."""
    for res in cont:
        A = rows[-1]
        B = record(res.u, res.tangent)
        B["it"] = res.iterations
        found = []
        for tn in test_names:
            fa, fb = A["tests"].get(tn, np.nan), B["tests"].get(tn, np.nan)
            if not (np.isfinite(fa) and np.isfinite(fb)) or fa * fb >= 0:
                continue
            got = _locate_test(cont, system, A, B, tn, fa, fb, opts)
            if got is not None:
                found.append(got)
        found.sort(key=lambda r: r["s"])
        for r in found:
            rows.append(r)
            x, p = system.split(r["u"])
            data = {**r["tests"], **r["info"]}
            if kind == "H":
                data["omega"] = float(r["u"][-1])
            specials.append((len(rows) - 1, SpecialPoint(
                r["type"], -1, x.copy(), p, tuple(free), r["located"], data)))
        hits = _curve_events(cont, system, A, B, opts, n) if opts.events else []
        for r in hits:
            rows.append(r)
            x, p = system.split(r["u"])
            specials.append((len(rows) - 1, SpecialPoint(
                "UZ", -1, x.copy(), p, tuple(free), r["located"], r["info"],
                "" if r["located"] else "unconfirmed: event not located")))
        rows.append(B)
        if hits and opts.stop_at_events:
            r = hits[0]["info"]
            cont.stop(f"reached the event {r['event']} = {r['value']:g}")
            break
        system.update_borders(res.u)
        if kind == "H" and any(r["type"] == "BT" for r in found):
            cont.stop("reached a Bogdanov-Takens point (omega = 0): the Hopf curve ends")
        if opts.verbose:
            print(f"{kind} curve step {cont.n_steps}: params = {res.u[n:n + 2]}")
        emit_progress(opts, {"kind": kind, "step": cont.n_steps,
                             "params": (float(res.u[n]), float(res.u[n + 1])),
                             "ds": float(res.ds), "points": len(rows)})


def _curve_event_value(system, u: np.ndarray, name: str, opts, n: int) -> float:
    """Event function ``name`` on a codim-2 curve: "param", "param2" or a record one."""
    if name == "param":
        return float(u[n])
    if name == "param2":
        return float(u[n + 1])
    x, p = system.split(u)
    return float(call_user(opts.record[name], f"record[{name!r}]", x.copy(), p))


def _curve_events(cont, system, A: dict, B: dict, opts, n: int) -> list[dict]:
    """UZ rows between consecutive curve rows A and B (every crossed value of
    ``opts.events``), located by regula falsi on corrected curve points."""
    tA, uA = A["t"], A["u"]
    c = cont.weights * tA
    base = float(c @ uA)
    s_B = float(c @ (B["u"] - uA))
    out = []
    for name, values in opts.events.items():
        ga = _curve_event_value(system, uA, name, opts, n)
        gb = _curve_event_value(system, B["u"], name, opts, n)
        for v in values:
            fa, fb = ga - v, gb - v
            if not (np.isfinite(fa) and np.isfinite(fb)) or fa * fb > 0 or fa == 0:
                continue

            def val(s_, name=name, v=v):
                u, ok, _, _, _ = cont.correct(uA + s_ * tA, c, base + s_)
                return None if not ok else (_curve_event_value(system, u, name, opts, n) - v,
                                            u)

            s_, u, ok = locate_zero(val, 0.0, s_B, fa, fb, tol=opts.locate_tol)
            if u is None:
                u = uA + (fa / (fa - fb)) * (B["u"] - uA)
                ok = False
            out.append(dict(u=u, t=tA, s=s_, tests=A["tests"], ev=A["ev"], located=bool(ok),
                            info={"event": name, "value": float(v),
                                  "residual": float(np.max(np.abs(system.G(u))))}))
    out.sort(key=lambda r: r["s"])
    return out


def _continue_curve(kind, system, u0, pr: ODEProblem, opts, free, name):
    check_events(opts, ("param", "param2"), kind)
    if opts.both_sides:
        one = opts.with_(both_sides=False)
        sys2 = type(system).__new__(type(system))  # same start borders for the second run
        sys2.__dict__.update(system.__dict__)
        sys2._key = None
        fwd = _continue_curve(kind, system, u0, pr, one, free, name)
        back = _continue_curve(kind, sys2, u0, pr, one.with_(direction=-opts.direction), free,
                               name)
        out = merge_sides(back, fwd) if opts.direction > 0 else merge_sides(fwd, back)
        out.options = opts
        return out
    n = pr.n
    bounds = {n: (opts.p_min, opts.p_max), n + 1: _bound_for(opts, pr, free[1])}
    opts.check_start(float(u0[n]), pr.param_label(free[0]))
    lo2, hi2 = bounds[n + 1]
    if not lo2 <= u0[n + 1] <= hi2:
        raise ValueError(f"start {pr.param_label(free[1])} = {u0[n + 1]!r} is outside its "
                         f"bounds [{lo2!r}, {hi2!r}]")
    dim = u0.size
    weights = np.ones(dim)
    weights[n: n + 2] = opts.weights_param
    cont = ArclengthContinuation(
        system.G, u0, system.dG, ds=opts.ds, ds_min=opts.ds_min, ds_max=opts.ds_max,
        max_steps=opts.max_steps, newton_tol=opts.newton_tol,
        newton_max_iter=opts.newton_max_iter, bounds=bounds, direction=opts.direction,
        direction_index=n + 1, weights=weights, max_angle=opts.max_angle,
    )
    test_names = _CODIM2_TESTS[kind] if opts.detect_codim2 else ()
    dense_eigs = opts.eig_method == "dense" or (opts.eig_method == "auto"
                                                and n <= opts.dense_eig_max)
    n_eigs = min(opts.n_eigs or (n if dense_eigs else 12), n)

    def record(u, t):
        x, p = system.split(u)
        tests = system.tests(u) if test_names else {}
        ev = eigenvalues(pr.jac_x(x, p), opts.eig_method, n_eigs, opts.dense_eig_max)
        return dict(u=u, t=t, tests=tests, ev=ev)

    rows: list[dict] = []
    specials: list[tuple[int, SpecialPoint]] = []
    try:
        if cont.status not in ("initial", "error"):
            rows.append(record(cont.u, cont.tangent))
        _curve_loop(kind, system, cont, rows, specials, record, test_names, free, opts, n)
    except UserFunctionError as exc:  # keep every point computed before the failure
        cont.fail(str(exc))

    N = len(rows)
    X = np.array([r["u"][:n] for r in rows]).reshape(N, n)
    P = np.array([system.split(r["u"])[1] for r in rows]).reshape(N, pr.n_params)
    T = np.array([r["t"] for r in rows]).reshape(N, dim)
    EV = np.full((N, n_eigs), np.nan + 0j)
    for i, r in enumerate(rows):
        EV[i, : min(n_eigs, r["ev"].size)] = r["ev"][:n_eigs]
    nu = np.array([stability_counts(r["ev"], tol=1e-7)[0] for r in rows], dtype=int)
    extra = {tn: np.array([r["tests"].get(tn, np.nan) for r in rows]) for tn in test_names}
    for key in opts.record:
        extra[key] = np.array([_curve_event_value(system, r["u"], key, opts, n) for r in rows])
    if kind == "H":
        extra["omega"] = np.array([r["u"][-1] for r in rows])
    for (row, sp_) in specials:
        sp_.index = row
    sps = with_end_points([sp_ for _, sp_ in specials], X, P, tuple(free), cont.message)
    return Branch(
        kind=kind, x=X, p=P, param_indices=tuple(free), eigenvalues=EV, n_unstable=nu,
        tangents=T, special_points=sps, extra=extra, success=cont.success and N > 0,
        status=cont.status, message=cont.message, param_names=pr.param_names,
        x_names=tuple(pr.x_names) if pr.x_names else None, name=name,
        nit=int(sum(r.get("it", 0) for r in rows)), problem=pr,
        options=opts,
    )


#: Codim-2 locators tried in order ("newton": :func:`locate_codim2`, "regula_falsi":
#: Illinois on the test function along the curve); a module attribute for comparisons.
CODIM2_LOCATORS: tuple[str, ...] = ("newton", "regula_falsi")


def _locate_test(cont, system, A, B, tn, fa, fb, opts):
    """Zero of codim-2 test ``tn`` between consecutive curve points A and B: Newton on the
    extended system from the secant guess, regula falsi along the curve as the fallback.
    ``info`` records the ``locator``, its ``residual`` and ``iterations``, and the normal-form
    coefficients of the located point (:func:`_codim2_coefficients`).  Returns None when the
    sign change is not a codim-2 point: on a fold curve a real pair lambda, -lambda (a neutral
    saddle); on a Hopf curve l1 changing sign through a pole (where a real eigenvalue crosses
    zero, at a zero-Hopf point) rather than through a zero."""
    if tn == "ZH" and isinstance(system, FoldSystem):
        return _locate_zh_on_fold(cont, system, A, B, fa, fb, opts)
    if tn == "ZH":
        x0, p0 = system.split(0.5 * (A["u"] + B["u"]))
        q0, p0v = critical_eigenvectors(system.problem.jac_x(x0, p0), 0.0)
        system.zh_border = (p0v / np.linalg.norm(p0v), q0 / np.linalg.norm(q0))
        fa, fb = system.zh_test(A["u"]), system.zh_test(B["u"])
        try:
            if not (np.isfinite(fa) and np.isfinite(fb)) or fa * fb >= 0:
                return None
            r = _locate_test_core(cont, system, A, B, tn, fa, fb, opts)
        finally:
            system.zh_border = None
        r["tests"] = {**r["tests"], "ZH": 0.0 if r["located"] else float("nan")}
        r["info"].update(_codim2_coefficients(system, r["u"], "ZH"))
        return r
    if tn == "HH":
        th = fa / (fa - fb)
        x0, p0 = system.split((1 - th) * A["u"] + th * B["u"])
        om0 = abs(float(A["u"][-1]))
        ev = np.linalg.eigvals(np.asarray(system.problem.jac_x(x0, p0).toarray()
                                          if sp.issparse(system.problem.jac_x(x0, p0))
                                          else system.problem.jac_x(x0, p0)))
        for target in (1j * om0, -1j * om0):
            ev = np.delete(ev, int(np.argmin(np.abs(ev - target))))
        cplx = ev[np.abs(ev.imag) > 1e-8 * (1 + np.abs(ev))]
        if cplx.size == 0 or np.min(np.abs(cplx.real)) > 0.5 * np.abs(
                cplx[np.argmin(np.abs(cplx.real))].imag):
            return None  # a real pair lambda, -lambda: a neutral saddle, not a bifurcation
    r = _locate_test_core(cont, system, A, B, tn, fa, fb, opts)
    if tn == "HH" and r["located"]:
        x, p = system.split(r["u"])
        ev = np.linalg.eigvals(np.asarray(system.problem.jac_x(x, p).toarray()
                                          if sp.issparse(system.problem.jac_x(x, p))
                                          else system.problem.jac_x(x, p)))
        om = abs(float(r["u"][-1]))
        rest = ev[np.abs(np.abs(ev.imag) - om) > 1e-6 * (1 + om)]
        cand = rest[rest.imag > 0]
        if cand.size:
            om2 = float(cand[np.argmin(np.abs(cand.real))].imag)
            r["info"]["omega2"] = om2
            r["info"]["omega"] = om
    if tn == "GH":
        l1 = r["tests"].get("GH", np.nan)
        if not (np.isfinite(l1) and abs(l1) <= 1e-3 * min(abs(fa), abs(fb))):
            return None  # l1 passed a pole, not a zero: no Bautin point here
    r["info"].update(_codim2_coefficients(system, r["u"], tn))
    return r


def _codim2_coefficients(system, u: np.ndarray, tn: str, omega: float | None = None) -> dict:
    """Normal-form coefficients at a located codim-2 point (BT: a, b; CP: c; ZH: g200,
    g011, h110, s, theta; HH: G2100, G1011, G1110, G0021, p11, p12, p21, p22, theta,
    delta, :func:`~bifsnn.continuation.normal_forms.double_hopf_coefficients`; GH: the
    second Lyapunov coefficient l2 and c2, see
    :func:`~bifsnn.continuation.normal_forms.second_lyapunov`) and how the derivatives were
    taken."""
    from bifsnn.continuation.normal_forms import (
        bogdanov_takens_coefficients,
        cusp_coefficient,
        zero_hopf_coefficients,
    )

    pr = system.problem
    x, p = system.split(u[: system.n + len(system.free)])
    out: dict = {}
    try:
        J = pr.jac_x(x, p)
        forms = pr.directional(x, p)
        if tn == "BT":
            c = bogdanov_takens_coefficients(None, x, J, forms=forms)
            out.update(a=c["a"], b=c["b"])
        elif tn == "CP":
            q, pa = critical_eigenvectors(J, 0.0)
            out["c"] = cusp_coefficient(None, x, J, q, pa, forms=forms)
        elif tn == "ZH":
            om = abs(float(u[-1])) if omega is None else float(omega)
            out.update(zero_hopf_coefficients(None, x, J, om, forms=forms))
            out["omega"] = om
        elif tn == "HH":
            from bifsnn.continuation.normal_forms import double_hopf_coefficients

            om = abs(float(u[-1])) if omega is None else float(omega)
            om2 = _second_frequency(J, om)
            if om2 is None:
                return out
            c = double_hopf_coefficients(None, x, J, om, om2, forms=forms)
            out.update({k: c[k] for k in ("G2100", "G1011", "G1110", "G0021", "p11", "p12",
                                          "p21", "p22", "theta", "delta")})
        elif tn == "GH" and isinstance(system, HopfSystem):
            from bifsnn.continuation.normal_forms import second_lyapunov

            if forms.kind_used(3) != "exact":  # D, E by differences of a differenced C
                out["l2_missing"] = ("l2 needs exact third derivatives (d3f, or an "
                                     "ODEProblem.from_sympy problem)")
                return out

            om = float(u[-1])
            q, pa = system.eigenvectors(u)
            if om < 0:
                q, pa, om = np.conj(q), np.conj(pa), -om
            r = second_lyapunov(x, J, om, q, pa, forms)
            out.update(l2=r["l2"], c2=r["c2"],
                       higher_derivatives=r["higher_derivatives"])
        else:
            return out
        out["derivatives"] = forms.kind_used(3 if tn in ("CP", "GH", "HH") else 2)
        out["derivative_error"] = forms.error
    except (np.linalg.LinAlgError, ValueError):
        pass
    return out


def _second_frequency(J, omega: float) -> float | None:
    """The frequency of the eigenvalue pair nearest the imaginary axis other than +-i omega
    (None without one)."""
    ev = np.linalg.eigvals(np.asarray(J.toarray() if sp.issparse(J) else J))
    rest = ev[np.abs(np.abs(ev.imag) - omega) > 1e-6 * (1 + omega)]
    cand = rest[rest.imag > 1e-8 * (1 + np.abs(rest))]
    if cand.size == 0:
        return None
    return float(cand[np.argmin(np.abs(cand.real))].imag)


def _locate_zh_on_fold(cont, system, A, B, fa, fb, opts):
    """ZH on a fold curve: confirm the pair with lambda_i + lambda_j -> 0 is complex, then
    locate on the Hopf system (ZH test) from the interpolated point."""
    th = fa / (fa - fb)
    u0 = (1 - th) * A["u"] + th * B["u"]
    x0, p0 = system.split(u0)
    J0 = system.problem.jac_x(x0, p0)
    ev = np.linalg.eigvals(J0.toarray() if sp.issparse(J0) else np.asarray(J0))
    ev = np.delete(ev, int(np.argmin(np.abs(ev))))
    cplx = ev[np.abs(ev.imag) > 1e-8 * (1 + np.abs(ev))]
    if cplx.size == 0:
        return None  # a real pair lambda, -lambda: a neutral saddle, not a bifurcation
    lam = cplx[int(np.argmin(np.abs(cplx.real)))]
    if abs(lam.real) > 0.5 * abs(lam.imag):
        return None
    om = abs(float(lam.imag))
    info: dict = {"locator": "none", "residual": float("nan"), "iterations": 0}
    u, ok = u0, False
    try:
        hs = HopfSystem(system.problem, system.free, x0, p0, om, J=J0)
        q0, p0v = critical_eigenvectors(J0, 0.0)
        hs.zh_border = (p0v / np.linalg.norm(p0v), q0 / np.linalg.norm(q0))
        uh, conv, it, res = locate_codim2(hs, np.r_[u0, om], "ZH", tol=opts.locate_tol,
                                          max_iter=opts.newton_max_iter,
                                          tangent=np.r_[A["t"], 0.0])
        span = float(np.max(np.abs(B["u"] - A["u"])))
        if conv and float(np.max(np.abs(uh[:-1] - 0.5 * (A["u"] + B["u"])))) <= span + 1e-8:
            u, ok = uh[:-1], True
            info = {"locator": "newton", "residual": float(res), "iterations": it}
            om = abs(float(uh[-1]))
    except (np.linalg.LinAlgError, ValueError, FloatingPointError):
        pass
    c = cont.weights * A["t"]
    x, p = system.split(u)
    ev_all = eigenvalues(system.problem.jac_x(x, p), opts.eig_method, None,
                         opts.dense_eig_max)
    tests = {**system.tests(u), "ZH": 0.0 if ok else float("nan")}
    info.update(_codim2_coefficients(system, u, "ZH", omega=om))
    return dict(u=u, t=A["t"], tests=tests, ev=ev_all, s=float(c @ (u - A["u"])), type="ZH",
                located=bool(ok), info=info)


def _locate_test_core(cont, system, A, B, tn, fa, fb, opts):
    """Newton then regula falsi on test ``tn`` (see :func:`_locate_test`)."""
    tA, uA = A["t"], A["u"]
    c = cont.weights * tA
    base = float(c @ uA)
    s_B = float(c @ (B["u"] - uA))
    th = fa / (fa - fb)
    payload, ok, s = None, False, th * s_B
    info: dict = {"locator": "none", "residual": float("nan"), "iterations": 0}
    span = float(np.max(np.abs(B["u"] - uA)))
    for method in getattr(opts, "locators", None) or CODIM2_LOCATORS:
        if method == "newton":
            u0 = (1 - th) * uA + th * B["u"]
            try:
                if isinstance(system, HopfSystem) and tn == "BT":
                    # [Hopf system; omega] = 0 is solved by the whole fold curve (at omega = 0
                    # the complex bordered condition only says det f_x = 0): locate the BT
                    # point on the fold system instead, then set omega = 0
                    x0, p0 = system.split(u0[:-1])
                    fs = FoldSystem(system.problem, system.free, x0, p0)
                    z, conv, it, res = locate_codim2(fs, u0[:-1], "BT", tol=opts.locate_tol,
                                                     max_iter=opts.newton_max_iter,
                                                     tangent=tA[:-1])
                    u = np.r_[z, 0.0]
                else:
                    u, conv, it, res = locate_codim2(system, u0, tn, tol=opts.locate_tol,
                                                     max_iter=opts.newton_max_iter,
                                                     tangent=tA)
                within = float(np.max(np.abs(u - 0.5 * (uA + B["u"])))) <= span + 1e-8
                if conv and within:
                    payload, ok, s = (u, system.tests(u)), True, float(c @ (u - uA))
                    info = {"locator": "newton", "residual": float(res), "iterations": it}
            except (np.linalg.LinAlgError, ValueError, FloatingPointError):
                pass
        elif method == "regula_falsi":
            def val(s_):
                u, ok_, _, _, _ = cont.correct(uA + s_ * tA, c, base + s_)
                if not ok_:
                    return None
                tests = system.tests(u)
                return tests[tn], (u, tests)
            s, payload, ok = locate_zero(val, 0.0, s_B, fa, fb, tol=opts.locate_tol)
            if payload is not None:
                info = {"locator": "regula_falsi" if ok else "none",
                        "residual": float(np.max(np.abs(system.G(payload[0])))),
                        "iterations": 0}
        else:
            raise ValueError(f"unknown codim-2 locator {method!r}")
        if ok:
            break
    if payload is None:
        u = (1 - th) * uA + th * B["u"]
        tests = {tn: np.nan}
        ok = False
    else:
        u, tests = payload
    ev = np.array([], dtype=complex)
    try:
        x, p = system.split(u)
        ev = eigenvalues(system.problem.jac_x(x, p), opts.eig_method, None, opts.dense_eig_max)
    except (np.linalg.LinAlgError, ValueError):
        pass
    type_ = "GH" if tn == "GH" else tn
    return dict(u=u, t=tA, tests=tests, ev=ev, s=s, type=type_, located=bool(ok), info=info)
