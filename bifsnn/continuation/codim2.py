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
and ``GH = l1`` (zero at a Bautin point).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from bifsnn.continuation.arclength import ArclengthContinuation
from bifsnn.continuation.events import eigenvalues, locate_zero, stability_counts
from bifsnn.continuation.linalg import Factorization, bordered, multilinear_B, newton
from bifsnn.continuation.normal_forms import critical_eigenvectors, first_lyapunov
from bifsnn.continuation.options import ContinuationOptions
from bifsnn.continuation.problem import ODEProblem
from bifsnn.continuation.result import Branch, SpecialPoint, with_end_points

__all__ = ["BranchPointSystem", "FoldSystem", "HopfSystem", "continue_fold", "continue_hopf"]


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
        s = self._cached(u)
        return np.r_[self.problem.rhs(s["x"], s["p"]), s["g"]]

    def dG(self, u: np.ndarray):
        s = self._cached(u)
        x, p, J, v, w = s["x"], s["p"], s["J"], s["v"], s["w"]
        fp = self.problem.jac_p(x, p, self.free)
        Dv = self.problem.jac_x_dir(x, p, v)
        gx = -np.asarray(Dv.T @ w).ravel()
        gp = [-float(w @ (self.problem.jac_x_dp(x, p, k) @ v)) for k in self.free]
        top = _hstack(J, fp)
        return _vstack(top, np.r_[gx, gp][None, :])

    def update_borders(self, u: np.ndarray) -> None:
        s = self._cached(u)
        self.b = s["w"] / np.linalg.norm(s["w"])
        self.c = s["v"] / np.linalg.norm(s["v"])
        self._key = None

    def null_vectors(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = self._cached(u)
        return s["v"] / np.linalg.norm(s["v"]), s["w"] / np.linalg.norm(s["w"])

    def tests(self, u: np.ndarray) -> dict[str, float]:
        """Codim-2 test functions on a fold curve: BT (<w, v>) and CP (<w, B(v, v)>)."""
        s = self._cached(u)
        v, w = self.null_vectors(u)
        x, p = s["x"], s["p"]
        B = multilinear_B(lambda y: self.problem.rhs(y, p), x, v, v)
        return {"BT": float(w @ v), "CP": float(w @ B)}


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
        return np.r_[x, p[self.free], omega]

    def split_omega(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
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
        c = self._cached(u)
        return np.r_[self.problem.rhs(c["x"], c["p"]), c["s"].real, c["s"].imag]

    def dG(self, u: np.ndarray):
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
        c = self._cached(u)
        x, p, om, J = c["x"], c["p"], c["omega"], c["J"]
        if abs(om) < 1e-12:
            return float("nan")
        q, pa = self.eigenvectors(u)
        if om < 0:
            q, pa, om = np.conj(q), np.conj(pa), -om
        return first_lyapunov(lambda y: self.problem.rhs(y, p), x, J, om, q, pa)

    def tests(self, u: np.ndarray) -> dict[str, float]:
        """Codim-2 test functions on a Hopf curve: BT (omega) and GH (l1)."""
        return {"BT": float(u[-1]), "GH": self.l1(u)}


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
        u, beta = z[:-1], z[-1]
        s = self._solve(u)
        return np.r_[np.asarray(self.G_curve(u), dtype=float) + beta * self.psi, s["g"]]

    def dF(self, z: np.ndarray):
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


# ----------------------------------------------------------------------------- curves
_CODIM2_TESTS = {"LP": ("BT", "CP"), "H": ("BT", "GH")}


def _point_of(branch, point, kind: str):
    if isinstance(point, int):
        pts = branch.points(kind)
        if not pts:
            raise ValueError(f"the branch has no {kind} points")
        point = pts[point]
    if point.type != kind:
        raise ValueError(f"expected a {kind} point, got {point.type}")
    return point


def continue_fold(branch, point, param2, options=None, name: str = ""):
    """Continue a fold (LP) of an equilibrium ``branch`` in two parameters: its own
    continuation parameter and ``param2`` (index or name).  Detects Bogdanov-Takens (BT) and
    cusp (CP) points.  ``point``: an 'LP' special point or its position among the branch's LP
    points.  Returns a :class:`Branch` of kind 'LP' with ``param_indices = (p1, p2)``."""
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
    per-point frequency is in ``extra['omega']`` and l1 in ``extra['GH']``."""
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


def _continue_curve(kind, system, u0, pr: ODEProblem, opts, free, name):
    n = pr.n
    bounds = {n: (opts.p_min, opts.p_max), n + 1: _bound_for(opts, pr, free[1])}
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
    if cont.status != "initial":
        rows.append(record(cont.u, cont.tangent))
    for res in cont:
        A = rows[-1]
        B = record(res.u, res.tangent)
        found = []
        for tn in test_names:
            fa, fb = A["tests"].get(tn, np.nan), B["tests"].get(tn, np.nan)
            if not (np.isfinite(fa) and np.isfinite(fb)) or fa * fb >= 0:
                continue
            found.append(_locate_test(cont, system, A, B, tn, fa, fb, opts))
        found.sort(key=lambda r: r["s"])
        for r in found:
            rows.append(r)
            x, p = system.split(r["u"])
            data = dict(r["tests"])
            if kind == "H":
                data["omega"] = float(r["u"][-1])
            specials.append((len(rows) - 1, SpecialPoint(
                r["type"], -1, x.copy(), p, tuple(free), r["located"], data)))
        rows.append(B)
        system.update_borders(res.u)
        if kind == "H" and any(r["type"] == "BT" for r in found):
            cont.stop("reached a Bogdanov-Takens point (omega = 0): the Hopf curve ends")
        if opts.verbose:
            print(f"{kind} curve step {cont.n_steps}: params = {res.u[n:n + 2]}")

    N = len(rows)
    X = np.array([r["u"][:n] for r in rows]).reshape(N, n)
    P = np.array([system.split(r["u"])[1] for r in rows]).reshape(N, pr.n_params)
    T = np.array([r["t"] for r in rows]).reshape(N, dim)
    EV = np.full((N, n_eigs), np.nan + 0j)
    for i, r in enumerate(rows):
        EV[i, : min(n_eigs, r["ev"].size)] = r["ev"][:n_eigs]
    nu = np.array([stability_counts(r["ev"], tol=1e-7)[0] for r in rows], dtype=int)
    extra = {tn: np.array([r["tests"].get(tn, np.nan) for r in rows]) for tn in test_names}
    if kind == "H":
        extra["omega"] = np.array([r["u"][-1] for r in rows])
    for (row, sp_) in specials:
        sp_.index = row
    sps = with_end_points([sp_ for _, sp_ in specials], X, P, tuple(free), cont.message)
    return Branch(
        kind=kind, x=X, p=P, param_indices=tuple(free), eigenvalues=EV, n_unstable=nu,
        tangents=T, special_points=sps, extra=extra, success=cont.success and N > 0,
        status=cont.status, message=cont.message, param_names=pr.param_names,
        x_names=tuple(pr.x_names) if pr.x_names else None, name=name, problem=pr,
        options=opts,
    )


def _locate_test(cont, system, A, B, tn, fa, fb, opts):
    """Zero of codim-2 test ``tn`` between consecutive curve points A and B."""
    tA, uA = A["t"], A["u"]
    c = cont.weights * tA
    base = float(c @ uA)

    def val(s):
        u, ok, _, _, _ = cont.correct(uA + s * tA, c, base + s)
        if not ok:
            return None
        tests = system.tests(u)
        return tests[tn], (u, tests)

    s_B = float(c @ (B["u"] - uA))
    s, payload, ok = locate_zero(val, 0.0, s_B, fa, fb, tol=opts.locate_tol)
    if payload is None:
        th = fa / (fa - fb)
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
    return dict(u=u, t=tA, tests=tests, ev=ev, s=s, type=type_, located=bool(ok))
