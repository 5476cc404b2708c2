"""Two-parameter continuation of folds (LPC) and period doublings (PD) of cycles.

Minimally augmented systems (as in MatCont): the cycle equations R(U, T, p1, p2) = 0
(collocation, periodicity, phase) plus one scalar g = 0, where g is the last component of the
solution of a bordered linear system

    [ M(X)  b ] [w]   [0]
    [ c^T   0 ] [g] = [1]

with M = d R / d(U, T) at fixed parameters (LPC) or the collocation operator of the variational
equation with the anti-periodic condition w(0) + w(1) = 0 (PD). The gradient of g is
-v^T (dM/dX) w, with v from the transposed bordered system; dM/dX w is the second derivative of
R in direction w, computed here exactly up to O(h^2) as a central difference of two collocation
Jacobians, (J(X + h w) - J(X - h w))^T v / 2h (symmetry of second derivatives). The borders b, c
are updated to v, w after every step (restricted to the boundary rows and the first node's
and the period's columns when that keeps most of them: no extra fill in the sparse LU). Steps
are taken by the shared ArclengthContinuation core on a fixed mesh (no mesh adaptation along
the curve); on LPC curves its Newton systems are solved by block elimination with the LU of
the bordered matrix above (one sparse LU per iteration instead of two), and the sparsity of
df/dx is detected from the cycle and widened along the curve as in the cycle stepper.
Events, record functions and progress reports as on every branch (``ContinuationOptions``).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from bifsnn.continuation.arclength import ArclengthContinuation
from bifsnn.continuation.derivatives import method as derivative_method
from bifsnn.continuation.errors import UserFunctionError, call_user
from bifsnn.continuation.options import (
    BUILTIN_EVENTS,
    ContinuationOptions,
    check_events,
    emit_progress,
)
from bifsnn.continuation.result import Branch, SpecialPoint, merge_sides, with_end_points

from .collocation import CollocationOperator, CycleSolution, floquet_from_jacobian, sparse_lu
from .cycle_normal_forms import ns_normal_form, pd_normal_form
from .cycle_points import (
    CURVE_TESTS,
    NORMAL_FORM_FD_MAX_N,
    NORMAL_FORM_TESTS,
    BorderedTest,
    bisect_on_curve,
    confirm_codim2,
    det_sign,
    locate_on_curve,
    multiplier_ns_test,
)
from .cycles import _names, cycle_system
from .mesh import node_quadrature_weights
from .starts import amplitude
from .system import CycleSystem

__all__ = ["CYCLE_CURVE_DEFAULTS", "continue_lpc", "continue_lpc_from_gh", "continue_ns",
           "continue_ns_from_hh", "continue_ns_from_zh", "continue_pd"]

#: Options used by :func:`continue_lpc` / :func:`continue_pd` when given ``options=None``.
CYCLE_CURVE_DEFAULTS = {"ds": 0.02, "ds_min": 1e-6, "ds_max": 0.2, "max_steps": 50}


class _Augmented:
    """Minimally augmented LPC/PD system on a fixed collocation mesh."""

    def __init__(self, sysobj: CycleSystem, i2: int, kind: str, tm: np.ndarray, ncol: int):
        self.base = sysobj
        self.i2 = i2
        self.kind = kind
        self.coll = CollocationOperator(sysobj, tm, ncol)
        self.nU = self.coll.nU
        self.n = sysobj.n
        self._cache: tuple | None = None
        self.b: np.ndarray | None = None
        self.c: np.ndarray | None = None
        self.Uref: np.ndarray | None = None
        self.Fref: np.ndarray | None = None

    # ---------------------------------------------------------------- pieces
    def split(self, X: np.ndarray):
        c = self.coll
        return X[: self.nU].reshape(c.nnodes, c.n), float(X[self.nU]), float(X[self.nU + 1]), \
            float(X[self.nU + 2])

    def _sys(self, p2: float) -> CycleSystem:
        P = self.base.params.copy()
        P[self.i2] = p2
        return self.base.with_params(P)

    def set_reference(self, X: np.ndarray) -> None:
        U, T, p1, p2 = self.split(X)
        self.coll.sys = self._sys(p2)
        self.Uref = U.copy()
        self.Fref = self.coll.phase_reference(U, T, p1)
        self._cache = None

    def residual(self, X: np.ndarray) -> np.ndarray:
        U, T, p1, p2 = self.split(X)
        self.coll.sys = self._sys(p2)
        return self.coll.residual(U, T, p1, self.Uref, self.Fref)

    def full_jacobian(self, X: np.ndarray) -> sp.csc_matrix:
        """dR/d(U, T, p1, p2)."""
        U, T, p1, p2 = self.split(X)
        s = self._sys(p2)
        self.coll.sys = s
        A = self.coll.jacobian(U, T, p1, self.Fref, with_p=True)
        s2 = s.with_params(s.P(p1), ipar=self.i2)
        xc = self.coll.coll_points(U)
        col = np.zeros(A.shape[0])
        col[: self.coll.ncoll] = (-T * s2.fp_batch(xc, p2)).ravel()
        return sp.hstack([A, sp.csc_matrix(col[:, None])], format="csc")

    def defining_matrix(self, J: sp.csc_matrix, kind: str | None = None) -> sp.csc_matrix:
        """The matrix whose singularity defines ``kind`` (default: the curve's): the (U, T)
        block of the cycle Jacobian (LPC) or the anti-periodic variational operator (PD)."""
        c = self.coll
        if (kind or self.kind) == "LPC":
            return J[:, : self.nU + 1].tocsc()
        n = self.n
        C = J[: c.ncoll, : self.nU]
        bc = sp.csr_matrix(
            (np.ones(2 * n), (np.r_[np.arange(n), np.arange(n)],
                              np.r_[np.arange(n), (c.nnodes - 1) * n + np.arange(n)])),
            shape=(n, self.nU),
        )
        return sp.vstack([C, bc], format="csc")

    def embed_w(self, w: np.ndarray) -> np.ndarray:
        out = np.zeros(self.nU + 3)
        out[: w.size] = w
        return out

    def init_borders(self, X: np.ndarray) -> None:
        """Approximate null vectors of M by two steps of inverse iteration."""
        M = self.defining_matrix(self.full_jacobian(X))
        self.b, self.c = self._sparse_borders(*_null_borders(M, complex_=False))
        self._cache = None

    #: borders restricted to the boundary rows / first-node (and period) columns are used
    #: when they keep at least this fraction of the null vectors' norms
    SPARSE_BORDER_MIN = 0.05

    def _sparse_borders(self, v: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unit borders b, c from the left and right null vectors v, w of M, restricted to
        its boundary rows (periodicity / anti-periodicity and phase) and to the first node's
        (and the period's) columns: dense borders triple the fill of the sparse LU of the
        bordered matrix on collocation systems (8.2e6 against 3.3e6 nonzeros, 0.72 s against
        0.24 s on the 148-variable network ODE), restricted ones add none.  Dense borders are
        kept when the restriction loses most of either vector (:data:`SPARSE_BORDER_MIN`)."""
        nc, n = self.coll.ncoll, self.n
        b = np.zeros_like(v)
        b[nc:] = v[nc:]
        c = np.zeros_like(w)
        c[:n] = w[:n]
        c[self.nU:] = w[self.nU:]
        nv, nw = np.linalg.norm(v), np.linalg.norm(w)
        if np.linalg.norm(b) < self.SPARSE_BORDER_MIN * nv or \
                np.linalg.norm(c) < self.SPARSE_BORDER_MIN * nw:
            b, c = v, w
        return b / np.linalg.norm(b), c / np.linalg.norm(c)

    def evaluate(self, X: np.ndarray):
        """(g, v, w, J_full) at X, cached for the last X."""
        if self._cache is not None and np.array_equal(self._cache[0], X):
            return self._cache[1]
        J = self.full_jacobian(X)
        M = self.defining_matrix(J)
        B = sp.bmat([[M, sp.csc_matrix(self.b[:, None])],
                     [sp.csc_matrix(self.c[None, :]), None]], format="csc")
        lu = _lu(B)
        rhs = np.zeros(B.shape[0])
        rhs[-1] = 1.0
        wg = lu.solve(rhs)
        vg = lu.solve(rhs, trans="T")
        out = (float(wg[-1]), vg[:-1], wg[:-1], J)
        self._cache = (X.copy(), out)
        self._lu = (lu, wg)
        return out

    def G(self, X: np.ndarray) -> np.ndarray:
        g = self.evaluate(X)[0]
        return np.append(self.residual(X), g)

    def dG(self, X: np.ndarray) -> sp.csc_matrix:
        g, v, w, J = self.evaluate(X)
        what = self.embed_w(w)
        h = np.finfo(float).eps ** (1 / 3) * (1.0 + np.max(np.abs(X))) / max(
            np.max(np.abs(what)), 1e-300)
        Jp = self.full_jacobian(X + h * what)
        Jm = self.full_jacobian(X - h * what)
        if self.kind == "LPC":
            vv = v
        else:
            vv = np.zeros(J.shape[0])
            vv[: self.coll.ncoll] = v[: self.coll.ncoll]
        grad = -((Jp - Jm).T @ vv) / (2 * h)
        self.coll.sys = self._sys(self.split(X)[3])  # back to p2 of X
        out = sp.vstack([J, sp.csr_matrix(grad[None, :])], format="csc")
        self._dG = (out, self._lu[0], grad) if self.kind == "LPC" else None
        return out

    def newton_solver(self, D, c: np.ndarray):
        """Solver of the bordered Newton matrix [D; c^T] by block elimination with the LU of
        the bordered matrix B of g (LPC curves; D the last result of :meth:`dG`), or None.

        With x = (U, T), y = (p1, p2): R_x x + R_y y = r1, q^T [x; y] = r2 (g's gradient and
        c).  B^{-1} applied to [r1; 0], [R_y; 0] and [0; 1] gives x and the border's
        multiplier xi as affine functions of (y, eta) (eta = the border row's value); xi = 0
        and the two rows q fix (y, eta) by a 3 x 3 solve.  B stays well conditioned on the
        curve (where R_x = M is singular), and the extra LU of the whole Newton matrix, whose
        two dense rows triple its fill, is not needed."""
        last = getattr(self, "_dG", None)
        if last is None or last[0] is not D:
            return None
        return _BlockEliminationSolve(D, c, last[1], self.nU + 1)

    def update_borders(self, X: np.ndarray) -> None:
        _, v, w, _ = self.evaluate(X)
        self.b, self.c = self._sparse_borders(v, w)
        self._cache = None


class _BlockEliminationSolve:
    """solve(rhs) for [[R_x, R_y], [Q_x, Q_y]] (R = D's first m rows, Q = D's last row and
    c^T) with ``lu`` the LU of B = [[R_x, b], [c_B^T, 0]] (see
    :meth:`_Augmented.newton_solver`); m = the number of x unknowns."""

    def __init__(self, D, c: np.ndarray, lu, m: int) -> None:
        D = sp.csc_matrix(D)
        self.lu, self.m = lu, m
        self.Ry = D[:m, m:].toarray()  # (m, 2)
        Q = np.vstack([D[m:, :].toarray(), np.asarray(c, dtype=float)[None, :]])  # (2, m + 2)
        self.Qx, self.Qy = Q[:, :m], Q[:, m:]
        F = np.zeros((m + 1, 3))
        F[:m, :2] = self.Ry
        F[m, 2] = 1.0
        S = lu.solve(F)  # columns: B^-1 [R_y; 0], B^-1 [0; 1]
        self.Xs, self.xis = S[:m], S[m]
        if not np.all(np.isfinite(S)):
            raise np.linalg.LinAlgError("non-finite block elimination")

    def solve(self, rhs: np.ndarray, trans: str = "N") -> np.ndarray:
        """The solution of the bordered Newton system (``trans`` 'N' only)."""
        if trans != "N":
            raise ValueError(f"trans = {trans!r} is out of range: only 'N' is supported")
        m = self.m
        rhs = np.asarray(rhs, dtype=float)
        s0 = self.lu.solve(np.r_[rhs[:m], 0.0])
        x0, xi0 = s0[:m], s0[m]
        X1, X2, E = self.Xs[:, 0], self.Xs[:, 1], self.Xs[:, 2]
        xi1, xi2, xe = self.xis
        # x = x0 - y1 X1 - y2 X2 + eta E;  xi0 - y1 xi1 - y2 xi2 + eta xe = 0
        A = np.zeros((3, 3))
        A[0] = [-xi1, -xi2, xe]
        A[1:, 0] = -(self.Qx @ X1) + self.Qy[:, 0]
        A[1:, 1] = -(self.Qx @ X2) + self.Qy[:, 1]
        A[1:, 2] = self.Qx @ E
        z = np.linalg.solve(A, np.r_[-xi0, rhs[m:] - self.Qx @ x0])
        x = x0 - z[0] * X1 - z[1] * X2 + z[2] * E
        return np.r_[x, z[:2]]


class _AugmentedNS(_Augmented):
    """Minimally augmented NS system: unknowns (U, T, p1, p2, theta); equations the cycle
    equations and Re g = Im g = 0, g the last component of the complex bordered system
    ``[[M(theta), b], [c^H, 0]] [w; g] = [0; 1]`` with M(theta) the collocation operator of
    the variational equation and the boundary condition w(1) - exp(i theta) w(0) = 0
    (singular exactly when exp(i theta) is a Floquet multiplier; the complex bordering of
    BifurcationKit's NS curves of periodic orbits).  dg/dX = -v^H (dM/dX) w, with the
    derivative of the collocation block along Re w and Im w from central differences of
    collocation Jacobians (as for LPC/PD), and dg/dtheta = i exp(i theta) v_bc^H w(0)."""

    def __init__(self, sysobj: CycleSystem, i2: int, tm: np.ndarray, ncol: int):
        super().__init__(sysobj, i2, "NS", tm, ncol)

    def theta(self, X: np.ndarray) -> float:
        """The angle theta of the critical multiplier pair exp(+-i theta)."""
        return float(X[self.nU + 3])

    def ns_matrix(self, J: sp.csc_matrix, theta: float) -> sp.csc_matrix:
        """Collocation block of J with the boundary rows w(1) - exp(i theta) w(0)."""
        c, n = self.coll, self.n
        ar = np.arange(n)
        C = J[: c.ncoll, : self.nU].astype(complex)
        bc = sp.csr_matrix(
            (np.r_[np.full(n, -np.exp(1j * theta)), np.ones(n)],
             (np.r_[ar, ar], np.r_[ar, (c.nnodes - 1) * n + ar])), shape=(n, self.nU))
        return sp.vstack([C, bc], format="csc")

    def embed_w(self, w: np.ndarray) -> np.ndarray:
        out = np.zeros(self.nU + 4)
        out[: w.size] = w
        return out

    def init_borders(self, X: np.ndarray) -> None:
        """Approximate null vectors of M(theta) by inverse iteration (complex)."""
        M = self.ns_matrix(self.full_jacobian(X), self.theta(X))
        self.b, self.c = _null_borders(M, complex_=True)
        self._cache = None

    def evaluate(self, X: np.ndarray):
        """(g, v, w, J_full) at X (g complex), cached for the last X."""
        if self._cache is not None and np.array_equal(self._cache[0], X):
            return self._cache[1]
        J = self.full_jacobian(X)
        M = self.ns_matrix(J, self.theta(X))
        B = sp.bmat([[M, sp.csc_matrix(self.b[:, None])],
                     [sp.csc_matrix(np.conj(self.c)[None, :]), None]], format="csc")
        lu = _lu(B)
        rhs = np.zeros(B.shape[0], dtype=complex)
        rhs[-1] = 1.0
        wg = lu.solve(rhs)
        vg = lu.solve(rhs, trans="H")
        out = (complex(wg[-1]), vg[:-1], wg[:-1], J)
        self._cache = (X.copy(), out)
        return out

    def G(self, X: np.ndarray) -> np.ndarray:
        g = self.evaluate(X)[0]
        return np.r_[self.residual(X), g.real, g.imag]

    def dG(self, X: np.ndarray) -> sp.csc_matrix:
        g, v, w, J = self.evaluate(X)
        nc = self.coll.ncoll
        vc = np.zeros(J.shape[0], dtype=complex)
        vc[:nc] = np.conj(v[:nc])
        grad = np.zeros(X.size - 1, dtype=complex)
        for part, fac in ((w.real, 1.0), (w.imag, 1j)):
            what = self.embed_w(part)
            h = np.finfo(float).eps ** (1 / 3) * (1.0 + np.max(np.abs(X))) / max(
                np.max(np.abs(what)), 1e-300)
            D = (self.full_jacobian(X + h * what) - self.full_jacobian(X - h * what)) / (2 * h)
            grad -= fac * (D.T @ vc)
        self.coll.sys = self._sys(self.split(X)[3])  # back to p2 of X
        n = self.n
        th = self.theta(X)
        gth = 1j * np.exp(1j * th) * np.vdot(v[nc: nc + n], w[:n])
        row = np.r_[grad, gth]
        Jx = sp.hstack([J, sp.csc_matrix((J.shape[0], 1))], format="csc")
        return sp.vstack([Jx, sp.csr_matrix(np.vstack([row.real, row.imag]))], format="csc")

    def update_borders(self, X: np.ndarray) -> None:
        _, v, w, _ = self.evaluate(X)
        self.b = v / np.linalg.norm(v)
        self.c = w / np.linalg.norm(w)
        self._cache = None


def continue_lpc(branch: Branch, point: SpecialPoint | int, param2: int | str,
                 options: ContinuationOptions | None = None, *, name: str = "") -> Branch:
    """Continue a fold of cycles (LPC point of a 'PO' branch) in its parameter and
    ``param2`` (index or name); returns a Branch of kind 'LPC'.  See :func:`continue_pd`."""
    return _continue_cycle_curve("LPC", branch, point, param2, options, name)


def continue_pd(branch: Branch, point: SpecialPoint | int, param2: int | str,
                options: ContinuationOptions | None = None, *, name: str = "") -> Branch:
    """Continue a period doubling (PD point of a 'PO' branch) in its parameter and ``param2``
    (index or name); returns a Branch of kind 'PD'.

    ``point`` is a SpecialPoint or an index into ``branch.special_points``.  The curve is
    computed on the point's mesh (no adaptation along it).  ``options`` (default
    :data:`CYCLE_CURVE_DEFAULTS`): ``direction`` orients the first step along ``param2``;
    ``p_min``/``p_max`` bound the first parameter and ``bounds[param2]`` the second;
    ``detect_bifurcations`` computes Floquet multipliers at every point; ``both_sides``
    continues both ways from the point and merges; a ``progress`` function that raises
    StopIteration ends the curve (that side) there (status "stopped").  Exceptions in the
    user's f end the curve with the partial result (status "error").
    """
    return _continue_cycle_curve("PD", branch, point, param2, options, name)


def continue_ns(branch: Branch, point: SpecialPoint | int, param2: int | str,
                options: ContinuationOptions | None = None, *, name: str = "") -> Branch:
    """Continue a Neimark-Sacker point (NS point of a 'PO' branch) in its parameter and
    ``param2`` (index or name); returns a Branch of kind 'NS' whose ``extra['theta']`` is the
    angle of the critical multiplier pair exp(+-i theta).

    Unknowns: the cycle, its period, both parameters and theta (see :class:`_AugmentedNS`).
    Along the curve the strong resonances R1-R4 (theta = 0, pi, 2 pi/3, pi/2) and the
    fold-NS and flip-NS points (LPNS, PDNS) are detected and located; the curve ends at R1
    or R2 (where the NS curve meets an LPC or PD curve).  Options as in
    :func:`continue_pd`."""
    return _continue_cycle_curve("NS", branch, point, param2, options, name)


def _param_index(problem, branch: Branch, param2: int | str) -> int:
    names = branch.param_names or getattr(problem, "param_names", None)
    if isinstance(param2, str):
        if not names or param2 not in names:
            raise ValueError(f"param2 = {param2!r} is out of range: parameter names are "
                             f"{names}")
        return list(names).index(param2)
    k = int(param2)
    if not 0 <= k < branch.p.shape[1]:
        raise ValueError(f"param2 = {param2!r} is out of range: must index the "
                         f"{branch.p.shape[1]} parameters")
    return k


def _bounds2(opts: ContinuationOptions, names, k2: int) -> tuple[float, float]:
    for key, val in opts.bounds.items():
        if key == k2 or (names and isinstance(key, str) and key in names
                         and list(names).index(key) == k2):
            return float(val[0]), float(val[1])
    return -np.inf, np.inf


def _continue_cycle_curve(kind: str, branch: Branch, point, param2, options, name) -> Branch:
    if not isinstance(branch, Branch) or branch.kind != "PO":
        raise ValueError(f"continue_{kind.lower()} starts from a 'PO' branch")
    if branch.problem is None:
        raise ValueError("the branch carries no problem: load it with "
                         "load_branch(path, problem=...)")
    opts = ContinuationOptions(**CYCLE_CURVE_DEFAULTS) if options is None else options
    check_events(opts, BUILTIN_EVENTS, kind)
    if opts.both_sides:
        one = opts.with_(both_sides=False)
        fwd = _continue_cycle_curve(kind, branch, point, param2, one, name)
        back = _continue_cycle_curve(kind, branch, point, param2,
                                     one.with_(direction=-opts.direction), name)
        out = merge_sides(back, fwd) if opts.direction > 0 else merge_sides(fwd, back)
        out.options = opts
        return out
    sp_ = branch.point(point, kind)
    i1 = sp_.param_indices[0]
    i2 = _param_index(branch.problem, branch, param2)
    if i2 == i1:
        raise ValueError(f"param2 = {param2!r} is out of range: must differ from the branch's "
                         f"parameter {branch.param_label(0)!r}")
    p_vec = branch.p[sp_.index].copy()
    sysobj = cycle_system(branch.problem, p_vec, i1)
    if sysobj.params is None:
        raise ValueError("the problem needs a parameter vector for two-parameter curves")
    cyc = branch.cycle(sp_.index)
    disc = branch.collocation
    sparse_ok = (disc is None or getattr(disc, "detect_sparsity", True)) and \
        sysobj.dfdx_user is not None and sysobj.n >= 20
    if sparse_ok and sysobj.dense_pattern:
        # the collocation LUs cost ~ the fill of the n x n blocks: use df/dx's sparsity (as
        # the one-parameter cycle stepper does), widened along the curve when it grows
        sysobj = sysobj.with_sparsity(sysobj.detect_sparsity(cyc.U, float(cyc.p)))
    names = branch.param_names
    lo2, hi2 = _bounds2(opts, names, i2)
    opts.check_start(float(cyc.p), branch.param_label(0))
    if not lo2 <= p_vec[i2] <= hi2:
        raise ValueError(f"start param2 = {p_vec[i2]!r} is outside its bounds [{lo2}, {hi2}]")
    X0 = np.concatenate([cyc.U.ravel(), [cyc.T, cyc.p, p_vec[i2]]])
    if kind == "NS":
        theta0 = _ns_angle(sp_, sysobj.n)
        aug: _Augmented = _AugmentedNS(sysobj, i2, cyc.tm, cyc.ncol)
        X0 = np.r_[X0, theta0]
    else:
        aug = _Augmented(sysobj, i2, kind, cyc.tm, cyc.ncol)
    n = sysobj.n
    nU = aug.nU
    tests = _CurveTests(kind, aug, opts, branch.problem) if opts.detect_codim2 else None
    rows: list[dict] = []
    specials: list[tuple[int, SpecialPoint]] = []

    def record(X: np.ndarray, t: np.ndarray, it: int) -> dict:
        g, _, _, J = aug.evaluate(X)
        need_mu = opts.detect_bifurcations or (tests is not None and tests.needs_multipliers)
        mu = floquet_from_jacobian(J, aug.coll).multipliers if need_mu else None
        row = {"u": X.copy(), "t": t.copy(), "g": g, "mu": mu, "it": it}
        row["tests"] = tests.values(X, J, t, mu) if tests is not None else {}
        return row

    try:
        aug.set_reference(X0)
        aug.init_borders(X0)
        wnode = node_quadrature_weights(cyc.tm, cyc.ncol)
        W = np.concatenate([np.repeat(wnode, n), [1.0, opts.weights_param, opts.weights_param],
                            [1.0] * (X0.size - nU - 3)])
        cont = _CurveContinuation(
            aug, aug.G, X0, dG=aug.dG, ds=opts.ds, ds_min=opts.ds_min, ds_max=opts.ds_max,
            max_steps=opts.max_steps, newton_tol=opts.newton_tol,
            newton_max_iter=opts.newton_max_iter, direction=opts.direction,
            direction_index=nU + 2, weights=W, max_angle=opts.max_angle,
            bounds={nU + 1: (opts.p_min, opts.p_max), nU + 2: (lo2, hi2)},
            correct_initial=True,
        )
        if cont.status == "running":
            rows.append(record(cont.u, cont.tangent, 0))
            if tests is not None:
                tests.refresh(rows[-1])
            aug.update_borders(cont.u)
            aug.set_reference(cont.u)
            for res in cont:
                A = rows[-1]
                if _through_zero_amplitude(A["u"], res.u, nU, n, wnode):
                    cont.stop("the cycles shrink to zero amplitude: the curve ends at an "
                              f"equilibrium (near {branch.param_label(0)} = "
                              f"{A['u'][nU + 1]:.8g}; a GH, ZH or HH point) and would retrace "
                              "itself with the phase shifted")
                    break
                B = record(res.u, res.tangent, res.iterations)
                found = tests.scan(cont, A, B) if tests is not None else []
                for r in found:
                    rows.append(r)
                    specials.append((len(rows) - 1, _special(r, aug, i1, i2, n)))
                ends = [r["type"] for r in found if r["type"] in ("R1", "R2")
                        and kind == "NS"]
                if ends:  # the curve ends at the resonance (the point past it is dropped)
                    end = next(r for r in found if r["type"] == ends[0])
                    rows = rows[: next(i for i, r in enumerate(rows) if r is end) + 1]
                    specials = [(i, s) for i, s in specials if i < len(rows)]
                    hits = []
                else:
                    hits = _cycle_curve_events(cont, aug, A, B, opts, i1, i2)
                    for r in hits:
                        rows.append(r)
                        specials.append((len(rows) - 1, _special(r, aug, i1, i2, n)))
                    rows.append(B)
                if tests is not None:
                    tests.refresh(B)
                if sparse_ok and not aug.base.dense_pattern:
                    _widen_sparsity(aug, res.u, res.tangent, cont.ds)
                aug.update_borders(res.u)
                aug.set_reference(res.u)
                cont.replace(G=aug.G, dG=aug.dG)
                if ends:
                    cont.stop(f"reached a {ends[0]} point (theta = "
                              f"{'0' if ends[0] == 'R1' else 'pi'}): the NS curve ends")
                if hits and opts.stop_at_events:
                    ev = hits[0]["info"]
                    cont.stop(f"reached the event {ev['event']} = {ev['value']:g}")
                if opts.verbose:
                    print(f"{kind} curve step {cont.n_steps}: params = "
                          f"({res.u[nU + 1]:.8g}, {res.u[nU + 2]:.8g})")
                try:
                    emit_progress(opts, {
                        "kind": kind, "step": cont.n_steps,
                        "params": (float(res.u[nU + 1]), float(res.u[nU + 2])),
                        "ds": float(res.ds), "points": len(rows), "period": float(res.u[nU]),
                        "amplitude": _amp(res.u[:nU].reshape(-1, n), cyc)})
                except StopIteration:  # the caller's progress function ends the curve here
                    cont.stop("stopped by the progress function")
                    break
        status, message, success = cont.status, cont.message, cont.success
    except UserFunctionError as exc:
        status, success = "error", False
        message = f"the user's function raised an exception: {exc}"
    out = _curve_branch(kind, rows, specials, sysobj, i1, i2, cyc, branch, opts, success,
                        status, message, name)
    if tests is not None and tests.skipped:
        out.info["normal_form_tests"] = f"GPD / CH not tested: {tests.skipped}"
    return out


def _cycle_curve_value(aug: _Augmented, X: np.ndarray, name: str, opts: ContinuationOptions,
                       i1: int) -> float:
    """Event / record function ``name`` at the curve point X: built-in "param", "param2",
    "period", "amplitude", or ``opts.record[name](cycle, p)`` with the cycle a CycleSolution
    (continued in the first parameter) and p the full parameter vector."""
    U, T, p1, p2 = aug.split(X)
    if name == "param":
        return p1
    if name == "param2":
        return p2
    if name == "period":
        return T
    if name == "amplitude":
        return float(amplitude(U, aug.coll.wnode))
    P = aug.base.params.copy()
    P[i1], P[aug.i2] = p1, p2
    cyc = CycleSolution(aug.coll.tm.copy(), aug.coll.ncol, U.copy(), T, p1)
    return float(call_user(opts.record[name], f"record[{name!r}]", cyc, P))


def _cycle_curve_events(cont, aug: _Augmented, A: dict, B: dict, opts: ContinuationOptions,
                        i1: int, i2: int) -> list[dict]:
    """UZ rows between consecutive curve rows A and B (every value of ``opts.events``
    crossed), located by the Illinois method on corrected curve points, in curve order."""
    out = []
    for name, values in opts.events.items():
        ga = _cycle_curve_value(aug, A["u"], name, opts, i1)
        gb = _cycle_curve_value(aug, B["u"], name, opts, i1)
        for v in values:
            fa, fb = ga - v, gb - v
            if not (np.isfinite(fa) and np.isfinite(fb)) or fa * fb > 0 or fa == 0:
                continue

            def value_of(u, _J, name=name, v=v):
                return _cycle_curve_value(aug, u, name, opts, i1) - v

            u, _J, t, ok = locate_on_curve(cont, A, B, fa, fb, value_of, opts.locate_tol,
                                           max(opts.locate_max_iter, 30))
            if u is None:
                u, t, ok = B["u"], B["t"], False
            g = aug.evaluate(u)[0]
            info = {"event": name, "value": float(v),
                    "residual": float(np.max(np.abs(aug.G(u))))}
            if not ok:
                info["unconfirmed"] = "event not located"
            out.append({"u": u, "t": t, "g": g, "mu": None, "it": 0, "tests": {},
                        "type": "UZ", "located": bool(ok), "info": info,
                        "test_value": float(value_of(u, None))})
    c = cont.weights * A["t"]
    out.sort(key=lambda r: float(c @ (r["u"] - A["u"])))
    return out


class _CurveContinuation(ArclengthContinuation):
    """ArclengthContinuation whose Newton matrices are solved by the curve system's block
    elimination when it offers one (:meth:`_Augmented.newton_solver`)."""

    def __init__(self, aug: _Augmented, *args, **kwargs) -> None:
        self.aug = aug
        super().__init__(*args, **kwargs)

    def _factorize(self, J, c: np.ndarray):
        try:
            solver = self.aug.newton_solver(J, c) if BLOCK_ELIMINATION else None
            return solver if solver is not None else super()._factorize(J, c)
        except RuntimeError as exc:  # SuperLU: "Factor is exactly singular"
            raise np.linalg.LinAlgError(str(exc)) from exc


def _lu(B):
    """sparse_lu(B), with SuperLU's RuntimeError for an exactly singular matrix raised as
    LinAlgError: the continuation then retries the step smaller instead of losing the curve."""
    try:
        return sparse_lu(B)
    except RuntimeError as exc:
        raise np.linalg.LinAlgError(str(exc)) from exc


#: Solve the LPC curve's Newton systems by block elimination (False: one sparse LU of the
#: whole bordered Newton matrix per iteration, the previous method; for benchmarks/tests).
BLOCK_ELIMINATION = True


def _widen_sparsity(aug: _Augmented, X: np.ndarray, t: np.ndarray, ds: float) -> None:
    """Widen the df/dx pattern of ``aug`` by the couplings nonzero at the cycle X (and at the
    states predicted 2, 4 and 8 steps ahead along t, so that it changes rarely)."""
    U, _, p1, p2 = aug.split(X)
    sysobj = aug._sys(p2)
    pat = sysobj.detect_sparsity(U, p1)
    if pat.sum() <= sysobj.nnz:
        return
    tu = t[: aug.nU].reshape(U.shape)
    ahead = np.vstack([U + k * ds * tu for k in (2, 4, 8)])
    pat |= sysobj.detect_sparsity(ahead[np.all(np.isfinite(ahead), axis=1)], p1)
    aug.base = aug.base.with_sparsity(pat)
    aug.coll = CollocationOperator(aug._sys(p2), aug.coll.tm, aug.coll.ncol)
    aug._cache = None


def _through_zero_amplitude(uA: np.ndarray, uB: np.ndarray, nU: int, n: int,
                            wnode: np.ndarray) -> bool:
    """Whether the step from uA to uB passed through a zero-amplitude cycle: the oscillating
    parts of the two (phase-aligned) cycles are anti-correlated."""
    UA, UB = uA[:nU].reshape(-1, n), uB[:nU].reshape(-1, n)
    dA, dB = UA - wnode @ UA, UB - wnode @ UB
    return float(np.sum(wnode[:, None] * dA * dB)) < 0


def _ns_angle(sp_: SpecialPoint, n: int) -> float:
    """Angle in (0, pi) of the multiplier pair nearest the unit circle at an NS point."""
    mu = sp_.data.get("multipliers")
    if mu is None:
        raise ValueError("the NS point carries no Floquet multipliers")
    mu = np.asarray(mu)
    cplx = mu[np.abs(mu.imag) > 1e-7 * np.maximum(1.0, np.abs(mu))]
    if cplx.size == 0:
        raise ValueError("the NS point has no complex multiplier pair")
    z = cplx[int(np.argmin(np.abs(np.abs(cplx) - 1.0)))]
    return float(abs(np.angle(z)))


def _special(r: dict, aug: _Augmented, i1: int, i2: int, n: int) -> SpecialPoint:
    U, T, p1, p2 = aug.split(r["u"])
    P = aug.base.params.copy()
    P[i1], P[i2] = p1, p2
    data = {"period": T, "multipliers": r["mu"], "test": r["test_value"], **r["info"]}
    if isinstance(aug, _AugmentedNS):
        data["theta"] = aug.theta(r["u"])
    why = data.get("unconfirmed", "")
    return SpecialPoint(r["type"], -1, U[0].copy(), P, (i1, i2), bool(r["located"]), data,
                        f"unconfirmed: {why}" if why else "")


#: The NS angle theta at the strong resonances (and its negatives, modulo 2 pi).
_RESONANCE_ANGLE = {"R1": 0.0, "R2": math.pi, "R3": 2 * math.pi / 3, "R4": math.pi / 2}


class _CurveTests:
    """The codim-2 test functions of one curve (see :mod:`.cycle_points`)."""

    #: tests on the determinant of a defining matrix: (curve kind, test) -> matrix kind
    MATRIX_TESTS = {("LPC", "LPPD"): "PD", ("PD", "LPPD"): "LPC", ("NS", "LPNS"): "LPC",
                    ("NS", "PDNS"): "PD"}

    def __init__(self, kind: str, aug: _Augmented, opts: ContinuationOptions, problem=None):
        self.kind, self.aug, self.opts = kind, aug, opts
        self.problem = problem
        n = aug.n
        self.names = [t for t, need in CURVE_TESTS[kind].items() if n >= need]
        #: why a normal-form test (GPD, CH) is not evaluated on this curve ("" if it is)
        self.skipped = ""
        if any(t in NORMAL_FORM_TESTS for t in self.names):
            if problem is None or not hasattr(problem, "directional"):
                self.skipped = ("the branch's problem gives no second and third derivatives "
                                "(an ODEProblem does)")
            elif derivative_method(problem, 3) != "exact" and n > NORMAL_FORM_FD_MAX_N:
                self.skipped = (f"the periodic normal form needs exact second and third "
                                f"derivatives for n > {NORMAL_FORM_FD_MAX_N} (n = {n})")
            if self.skipped:
                self.names = [t for t in self.names if t not in NORMAL_FORM_TESTS]
        self.matrix = {t: self.MATRIX_TESTS[(kind, t)] for t in self.names
                       if (kind, t) in self.MATRIX_TESTS}
        self.needs_multipliers = any(t in ("LPNS", "PDNS") and t not in self.matrix
                                     for t in self.names)
        self.e_proj: np.ndarray | None = None

    def _proj(self, t: np.ndarray) -> np.ndarray:
        nU = self.aug.nU
        return np.array([t[nU + 1], t[nU + 2]])

    def values(self, X: np.ndarray, J, t: np.ndarray, mu, only: str | None = None
               ) -> dict[str, float]:
        """Test values at a curve point; ``only``: just that test."""
        out: dict[str, float] = {}
        for name in self.names if only is None else [only]:
            if name in self.matrix:
                out[name] = det_sign(self.aug.defining_matrix(J, self.matrix[name]))
            elif name == "CPC":
                tp = self._proj(t)
                e = self.e_proj if self.e_proj is not None else tp / max(
                    np.linalg.norm(tp), 1e-300)
                out[name] = float(tp @ e)
            elif name in ("LPNS", "PDNS"):
                out[name] = multiplier_ns_test(mu)
            elif name in NORMAL_FORM_TESTS:
                out[name] = self.normal_form(X, J, name)[0]
            elif name == "R1" and self.kind == "LPC":
                # <psi, phi>: periodicity rows of the left null vector, w(0) of the right one
                _, v, w, _ = self.aug.evaluate(X)
                nc, n = self.aug.coll.ncoll, self.aug.n
                psi, phi = v[nc: nc + n], w[:n]
                out[name] = float(psi @ phi / max(np.linalg.norm(psi) * np.linalg.norm(phi),
                                                  1e-300))
            elif self.kind == "PD":  # R2: <psi, phi> of the -1 eigenvectors
                _, v, w, _ = self.aug.evaluate(X)
                nc, n = self.aug.coll.ncoll, self.aug.n
                psi, phi = v[nc: nc + n], w[:n]
                out[name] = float(psi @ phi / max(np.linalg.norm(psi) * np.linalg.norm(phi),
                                                  1e-300))
            else:  # resonances on an NS curve
                th = self.aug.theta(X)
                s, c = math.sin(th), math.cos(th)
                out[name] = {"R1": s if c > 0 else float("nan"),
                             "R2": s if c < 0 else float("nan"),
                             "R3": c + 0.5, "R4": c}[name]
        return out

    def normal_form(self, X: np.ndarray, J, name: str) -> tuple[float, dict]:
        """(test value, coefficients) of a normal-form test at the curve point X: the PD
        coefficient c (GPD) or Re d of the NS normal form (CH); NaN when it cannot be
        computed (e.g. theta at 0 or pi)."""
        aug = self.aug
        U, T, p1, p2 = aug.split(X)
        P = aug.base.params.copy()
        P[aug.base.ipar], P[aug.i2] = p1, p2
        try:
            if name == "GPD":
                r = pd_normal_form(self.problem, aug.coll, U, T, P, J)
                return r["c"], r
            r = ns_normal_form(self.problem, aug.coll, U, T, P, J, aug.theta(X))
            return r["re_d"], r
        except (ValueError, RuntimeError, np.linalg.LinAlgError):
            return float("nan"), {}

    def refresh(self, row: dict) -> None:
        """The CPC reference direction at an accepted point (its CPC value recomputed)."""
        tp = self._proj(row["t"])
        self.e_proj = tp / max(np.linalg.norm(tp), 1e-300)
        if "CPC" in self.names:
            row["tests"]["CPC"] = float(np.linalg.norm(tp))

    def scan(self, cont, A: dict, B: dict) -> list[dict]:
        """Located codim-2 points between consecutive curve points A and B, in curve order."""
        found = []
        for name in self.names:
            fa, fb = A["tests"].get(name, np.nan), B["tests"].get(name, np.nan)
            if not (np.isfinite(fa) and np.isfinite(fb)) or fa * fb > 0 or fa == 0:
                continue
            if self.kind == "NS" and name in ("LPNS", "PDNS"):
                # the NS pair itself at 1 or -1 is R1/R2, not a second degeneracy
                th = (self.aug.theta(A["u"]), self.aug.theta(B["u"]))
                z = 1.0 if name == "LPNS" else -1.0
                if any(abs(np.exp(1j * x) - z) < 0.2 for x in th):
                    continue
            r = self._locate(cont, A, B, name, fa, fb)
            if r is not None:
                found.append(r)
        c = cont.weights * A["t"]
        found.sort(key=lambda r: float(c @ (r["u"] - A["u"])))
        return found

    def _theta_landing(self, cont, A, B, name):
        """The curve point with theta at the resonance angle nearest the bracket (Newton on
        the curve system plus theta = theta*), or Nones if it fails or leaves the bracket."""
        nU = self.aug.nU
        thA, thB = A["u"][nU + 3], B["u"][nU + 3]
        base = _RESONANCE_ANGLE[name]
        mid = 0.5 * (thA + thB)
        cands = [s * base + 2 * math.pi * k for s in (1, -1) for k in range(-3, 4)]
        target = min(cands, key=lambda x: abs(x - mid))
        if not min(thA, thB) <= target <= max(thA, thB):
            return None, None, None, False
        frac = (target - thA) / (thB - thA) if thB != thA else 0.5
        guess = A["u"] + frac * (B["u"] - A["u"])
        c = np.zeros(guess.size)
        c[nU + 3] = 1.0
        u, ok, _, _, J = cont.correct(guess, c, target)
        span = float(np.max(np.abs(B["u"] - A["u"])))
        if not ok or float(np.max(np.abs(u - 0.5 * (A["u"] + B["u"])))) > span:
            return None, None, None, False
        return u, J, cont.tangent_at(u, J, A["t"]), True

    def _locate(self, cont, A, B, name, fa, fb) -> dict | None:
        aug, opts = self.aug, self.opts
        bt = None
        if name in self.matrix:
            which = self.matrix[name]

            def mat(u):
                return aug.defining_matrix(aug.evaluate(u)[3], which)

            # shrink the bracket by bisection on the determinant's sign until the bordered
            # test with borders from inverse iteration at one end changes sign across it
            for attempt in range(6):
                for row in (B, A):
                    bt = BorderedTest(mat(row["u"]))
                    fa, fb = bt.value(mat(A["u"])), bt.value(mat(B["u"]))
                    if np.isfinite(fa) and np.isfinite(fb) and fa * fb < 0:
                        break
                else:
                    bt = None
                if bt is not None or attempt == 5:
                    break
                A, B = bisect_on_curve(cont, A, B, lambda u, J: det_sign(mat(u)), 3)

        def value_of(u, J):
            _, _, _, Jf = aug.evaluate(u)
            if bt is not None:
                return bt.value(aug.defining_matrix(Jf, self.matrix[name]))
            if name == "CPC":
                t = cont.tangent_at(u, J, A["t"])
                return self.values(u, Jf, t, None, name)[name]
            mu = None
            if name in ("LPNS", "PDNS"):
                mu = floquet_from_jacobian(Jf, aug.coll).multipliers
            return self.values(u, Jf, A["t"], mu, name)[name]

        u, how = None, "none"
        if name in self.matrix and bt is None:
            u, J, t, ok = None, None, None, False
        elif name in _RESONANCE_ANGLE and self.kind == "NS":
            how = "newton"
            # theta is an unknown: the point with theta = theta* solves the curve system
            # plus one linear equation (one Newton solve; Illinois below if it fails)
            u, J, t, ok = self._theta_landing(cont, A, B, name)
        if u is None and not (name in self.matrix and bt is None):
            how = "regula_falsi"
            u, J, t, ok = locate_on_curve(cont, A, B, fa, fb, value_of, opts.locate_tol,
                                          max(opts.locate_max_iter, 30))
        info: dict = {"locator": how if u is not None and ok else "none"}
        if u is None:  # keep the detection, unlocated, at the end of the bracket
            u, t, ok = B["u"], B["t"], False
        _, _, _, Jf = aug.evaluate(u)
        fl = floquet_from_jacobian(Jf, aug.coll)
        theta = aug.theta(u) if isinstance(aug, _AugmentedNS) else None
        tp = self._proj(t)
        ratio = float(np.linalg.norm(tp) / max(np.linalg.norm(t), 1e-300))
        located, why = confirm_codim2(name, aug.n, fl, ok, theta, ratio)
        if name in NORMAL_FORM_TESTS:
            val, coef = self.normal_form(u, Jf, name)
            if not (np.isfinite(val) and abs(val) <= 1e-3 * min(abs(fa), abs(fb))):
                return None  # the coefficient changed sign through a pole, not a zero
            info.update({k: v for k, v in coef.items() if k != "re_d"})
            info["derivatives"] = derivative_method(self.problem, 3)
        if not located:
            info["unconfirmed"] = why
        info["residual"] = float(np.max(np.abs(aug.G(u))))
        if name == "CPC":
            info["tangent_ratio"] = ratio
        tv = float(value_of(u, J)) if J is not None else float("nan")
        return {"u": u, "t": t, "g": aug.evaluate(u)[0], "mu": fl.multipliers, "it": 0,
                "tests": {}, "type": name, "located": located, "info": info,
                "test_value": tv}


def _curve_branch(kind, rows, specials, sysobj: CycleSystem, i1, i2, cyc, branch, opts,
                  success, status, message, name) -> Branch:
    n = sysobj.n
    N = len(rows)
    base = sysobj.params
    nnodes = cyc.U.shape[0]
    nU = nnodes * n

    def pvec(u):
        out = base.copy()
        out[i1], out[i2] = u[nU + 1], u[nU + 2]
        return out

    nodes = np.array([r["u"][:nU] for r in rows]).reshape(N, nnodes, n)
    X = nodes[:, 0, :] if N else np.zeros((0, n))
    P = np.array([pvec(r["u"]) for r in rows]).reshape(N, base.size)
    EV = np.full((N, n), np.nan + 0j)
    nu = np.full(N, -1, dtype=int)
    for i, r in enumerate(rows):
        mu = r["mu"]
        if mu is not None:
            EV[i, : min(n, mu.size)] = mu[:n]
            nontriv = np.delete(mu, np.argmin(np.abs(mu - 1.0)))
            nu[i] = int(np.sum(np.abs(nontriv) > 1.0 + 1e-7))
    extra = {
        "period": np.array([r["u"][nU] for r in rows], dtype=float),
        "test": np.array([np.abs(r["g"]) if kind == "NS" else r["g"] for r in rows],
                         dtype=float),
        "x_min": nodes.min(axis=1) if N else np.zeros((0, n)),
        "x_max": nodes.max(axis=1) if N else np.zeros((0, n)),
        "amplitude": np.array([_amp(r["u"][:nU].reshape(nnodes, n), cyc) for r in rows],
                              dtype=float),
        "mesh": np.repeat(np.asarray(cyc.tm)[None, :], N, axis=0),
        "nodes": nodes,
    }
    if kind == "NS":
        extra["theta"] = np.array([r["u"][nU + 3] for r in rows], dtype=float)
    for key in opts.record:
        extra[key] = np.array([_cycle_curve_value(_view(sysobj, i2, cyc), r["u"], key, opts, i1)
                               for r in rows], dtype=float)
    names = sorted({k for r in rows for k in r["tests"]})
    for k in names:
        extra[f"test_{k}"] = np.array([r["tests"].get(k, np.nan) for r in rows], dtype=float)
    pts = []
    for row, s in specials:
        s.index = row
        pts.append(s)
    sps = with_end_points(pts, X, P, (i1, i2), message)
    for sp_ in sps:
        sp_.data["period"] = float(extra["period"][sp_.index])
    pn, xn = _names(branch.problem)
    return Branch(
        kind=kind, x=X, p=P, param_indices=(i1, i2), eigenvalues=EV, n_unstable=nu,
        tangents=np.array([r["t"] for r in rows]) if N else None,
        special_points=sps, extra=extra, success=success and N > 0, status=status,
        message=message, param_names=pn or branch.param_names, x_names=xn or branch.x_names,
        name=name or f"{branch.name}-{kind}", nit=int(sum(r["it"] for r in rows)),
        info={"ncol": int(cyc.ncol), "ntst": len(cyc.tm) - 1}, problem=branch.problem,
        options=opts, collocation=branch.collocation,
    )


def _view(sysobj: CycleSystem, i2: int, cyc) -> _Augmented:
    """A curve system on the curve's mesh, for evaluating record functions at its rows."""
    return _Augmented(sysobj, i2, "LPC", cyc.tm, cyc.ncol)


def _amp(U: np.ndarray, cyc) -> float:
    from .starts import amplitude

    return amplitude(U, node_quadrature_weights(cyc.tm, cyc.ncol))


def _null_borders(M, *, complex_: bool) -> tuple[np.ndarray, np.ndarray]:
    """Left and right approximate null vectors of M by three steps of inverse iteration from a
    fixed random start (complex starts and conjugate transpose when ``complex_``)."""
    lu = sparse_lu(M)
    rng = np.random.default_rng(7)
    if complex_:
        w = rng.standard_normal(M.shape[1]) + 1j * rng.standard_normal(M.shape[1])
        v = rng.standard_normal(M.shape[0]) + 1j * rng.standard_normal(M.shape[0])
    else:
        w = rng.standard_normal(M.shape[1])
        v = rng.standard_normal(M.shape[0])
    for _ in range(3):
        w = lu.solve(w)
        w /= np.linalg.norm(w)
        v = lu.solve(v, trans="H" if complex_ else "T")
        v /= np.linalg.norm(v)
    return v, w


def _dense(J) -> np.ndarray:
    return J.toarray() if sp.issparse(J) else np.asarray(J, dtype=float)


def continue_lpc_from_gh(hopf_curve: Branch, point: SpecialPoint | int,
                         options: ContinuationOptions | None = None,
                         collocation=None, *, rows_away: int = 2, name: str = "",
                         cycle_options: ContinuationOptions | None = None) -> Branch:
    """The fold-of-cycles (LPC) curve that emanates from a Bautin (GH) point of a Hopf curve.

    Switching: the Hopf-curve point ``rows_away`` rows from the GH point on the side where
    l1 has the sign opposite to the point's second Lyapunov coefficient l2 (the only side
    with a fold of small cycles: l2 < 0, the subcritical side l1 > 0, where the small
    unstable cycles fold back; l2 > 0, the supercritical side l1 < 0, where the small stable
    cycles fold back; l1 > 0 when l2 was not computed) is crossed by a one-parameter
    equilibrium run in the curve's first parameter; the cycles born there are continued until
    their fold (a located, confirmed LPC), which is then continued in the second parameter
    (:func:`continue_lpc`; ``options`` as there, ``both_sides`` to follow it both ways).
    The fold must be the cycle branch's first turn and agree with the Bautin normal form's
    prediction at that Hopf point (``_small_fold_prediction``: cycle amplitude
    sqrt(-l1 / l2) within a factor 3, parameter offset omega l1^2 / (4 l2 dRe(lambda)/dp)
    within a factor 9, same sign), or, when l2 or the transversality is not known, lie no
    farther from the Hopf point than the Hopf point from the GH point; else it is a fold of
    large cycles (the fold of the small ones was stepped over), and the same row is tried
    once more with the cycle steps (``ds``, ``ds_max``) divided by 5.
    When those cycles have no such fold (e.g. a Newton iterate leaves the model's domain,
    or the Hopf curve turns in the first parameter next to the GH point), the rows
    2 ``rows_away`` and 4 ``rows_away`` away are tried, then the same rows with the cycles
    continued in the second parameter (the LPC curve is then continued in the first, its
    ``param_indices`` in that order, the events "param" / "param2" of ``options`` still
    naming the Hopf curve's first / second parameter); ``info['switch_row']`` is the row used and
    ``info['switch_failures']`` the reasons of the attempts before it.  The two parameters
    swap roles when the Hopf curve runs closer to the first parameter's direction than to
    the second's between the GH point and the first row tried (crossing it in the first is
    then nearly tangential: small dRe(lambda)/dp, the small fold far away).
    ``cycle_options``: options of the one-parameter cycle continuation to the fold (default:
    ``ds``/``ds_max`` of ``options``, 200 steps; its norm is relative to the cycle's size while
    the LPC curve's is absolute, so a problem with a large state needs both).  The equilibrium
    run that crosses the Hopf point takes its steps along the branch's tangent, so its
    parameter steps are the same whatever the size of the state.  The
    result's ``info['from_gh']`` holds the GH point's two parameters.  Raises ValueError with
    the reasons when no subcritical Hopf point or no fold of cycles is found."""
    if not isinstance(hopf_curve, Branch) or hopf_curve.kind != "H":
        raise ValueError("continue_lpc_from_gh starts from a Hopf curve (a Branch of kind 'H')")
    if hopf_curve.problem is None:
        raise ValueError("the Hopf curve carries no problem: load it with "
                         "load_branch(path, problem=...)")
    if not (isinstance(rows_away, int) and rows_away >= 1):
        raise ValueError(f"rows_away = {rows_away!r} is out of range: must be an integer >= 1")
    gh = hopf_curve.point(point, "GH")
    l1 = np.asarray(hopf_curve.extra.get("GH"), dtype=float)
    l2 = gh.data.get("l2")
    sign = -1.0 if l2 is not None and np.isfinite(l2) and l2 > 0 else 1.0  # l1 l2 < 0
    side = [j for j in range(len(hopf_curve)) if j != gh.index and np.isfinite(l1[j])
            and sign * l1[j] > 0]
    after = [j for j in side if j > gh.index]
    before = [j for j in side if j < gh.index][::-1]
    cand = after if after and (not before or after[0] - gh.index <= gh.index - before[0]) \
        else before
    if not cand:
        raise ValueError(f"no Hopf point with l1 {'<' if sign < 0 else '>'} 0 next to the GH "
                         "point on this curve")
    opts = ContinuationOptions(**CYCLE_CURVE_DEFAULTS) if options is None else options
    why: list[str] = []
    tried: set[tuple[int, int]] = set()
    for which in _crossing_order(hopf_curve, gh.index, cand[min(rows_away, len(cand)) - 1]):
        for r in (rows_away, 2 * rows_away, 4 * rows_away):
            j = cand[min(r, len(cand)) - 1]
            if (which, j) in tried:
                continue
            tried.add((which, j))
            label = f"row {j}, cycles in {hopf_curve.param_label(which)}"
            fold, scale = None, 1.0
            while fold is None:
                try:
                    po = _cycles_from_hopf_row(hopf_curve, j, opts, collocation, 200,
                                               which=which, cycle_options=cycle_options,
                                               until="LPC", step_scale=scale)
                except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
                    why.append(f"{label}: {exc}")
                    break
                fold, reason = _first_fold(po)
                big = False
                if fold is not None:
                    reason, big = _not_small_fold(hopf_curve, j, gh, fold, po)
                    fold = None if reason else fold
                if fold is None:
                    steps = "" if scale == 1.0 else f", cycle steps x{scale:g}"
                    why.append(f"{label}{steps}: the cycles from the Hopf point at "
                               f"{po.param_values[0]:.8g}: {reason} ({po.message})")
                    if not (big and scale == 1.0):
                        break
                    scale = _SMALL_STEP_SCALE  # the small fold was stepped over: once more,
                    # with smaller cycle steps
            if fold is None:
                continue
            other = hopf_curve.param_indices[1 - which]
            out = continue_lpc(po, fold, other,
                               opts if which == 0 else _swap_params(opts, hopf_curve),
                               name=name or f"{hopf_curve.name}-GH-LPC")
            out.info["from_gh"] = tuple(float(v) for v in gh.params)
            out.info["switch_row"] = int(j)
            out.info["switch_side"] = "l1 < 0" if sign < 0 else "l1 > 0"
            if why:
                out.info["switch_failures"] = list(why)
            return out
    raise ValueError("no fold of cycles found next to the GH point: " + "; ".join(why))


def _crossing_order(hopf_curve: Branch, g: int, j: int) -> tuple[int, int]:
    """Which parameter to cross the Hopf curve in first, between its rows ``g`` (the GH
    point) and ``j``: the first (0) unless the curve runs closer to its direction than to the
    second's (then crossing in the first is nearly tangential: dRe(lambda)/dp is small and the
    small cycles' fold is far from the Hopf point and hard to reach)."""
    d = np.abs(hopf_curve.p[j, list(hopf_curve.param_indices)] - hopf_curve.p[g, list(
        hopf_curve.param_indices)])
    return (1, 0) if d[0] > d[1] else (0, 1)


def _cycles_from_hopf_row(hopf_curve: Branch, j: int, opts: ContinuationOptions, collocation,
                          max_steps: int, which: int = 0,
                          cycle_options: ContinuationOptions | None = None,
                          until: str | None = None, step_scale: float = 1.0) -> Branch:
    """The cycles born at row ``j`` of a Hopf curve: a one-parameter equilibrium run in the
    curve's first (``which`` 0) or second (1) parameter, started on the branch's tangent,
    crosses the Hopf point, whose cycles are continued (``cycle_options`` if given, else
    ``max_steps``, ``opts``' ds and ds_max; ``opts``' p bounds for the first parameter, its
    ``bounds`` entry for the second; ds and ds_max times ``step_scale``).  The result's
    ``info['hopf']`` holds the Hopf point's parameter, omega, l1 and dRe(lambda)/dp."""
    from dataclasses import replace

    from bifsnn.continuation.equilibria import continue_equilibria

    from .cycles import continue_cycles

    i1 = hopf_curve.param_indices[which]
    x, p = hopf_curve.x[j].copy(), hopf_curve.p[j].copy()
    pr = hopf_curve.problem
    delta = 1e-2 * max(1.0, abs(p[i1]))
    p_start = p.copy()
    p_start[i1] -= delta
    # arclength per unit of the parameter: sqrt(1 + |dx/dp|^2) with J dx/dp = -df/dp
    # and the start predicted along it
    try:
        dxdp = np.linalg.solve(np.asarray(_dense(pr.jac_x(x, p))),
                               -np.asarray(pr.jac_p(x, p, [i1]), dtype=float).ravel())
    except np.linalg.LinAlgError:
        dxdp = np.zeros_like(x)
    if not np.all(np.isfinite(dxdp)):
        dxdp = np.zeros_like(x)
    scale = float(np.sqrt(1.0 + dxdp @ dxdp))
    x = x - delta * dxdp
    eq_opts = ContinuationOptions(ds=scale * delta / 5, ds_max=scale * delta / 2,
                                  p_min=p_start[i1] - delta, p_max=p[i1] + delta,
                                  max_steps=200)
    eq = continue_equilibria(replace(pr, x0=x, p0=p_start, param=i1), eq_opts)
    hs = [h for h in eq.points("H") if h.located]
    if not hs:
        raise ValueError(f"no Hopf point found crossing {hopf_curve.param_label(which)} at "
                         f"the Hopf-curve row {j}")
    h = min(hs, key=lambda s: abs(s.param - p[i1]))
    lo, hi = (opts.p_min, opts.p_max) if which == 0 else _bounds2(
        opts, hopf_curve.param_names, i1)
    cyc_opts = cycle_options if cycle_options is not None else ContinuationOptions(
        ds=opts.ds, ds_max=opts.ds_max, max_steps=max_steps, p_min=lo, p_max=hi)
    if step_scale != 1.0:
        cyc_opts = cyc_opts.with_(ds=cyc_opts.ds * step_scale,
                                  ds_max=cyc_opts.ds_max * step_scale,
                                  ds_min=min(cyc_opts.ds_min, cyc_opts.ds * step_scale))
    hopf = {"param": float(h.param), **{k: h.data.get(k) for k in ("omega", "l1", "dre_dp")}}
    if until is None:
        po = continue_cycles(eq, h, cyc_opts, collocation)
        po.info["hopf"] = hopf
        return po
    # in chunks, stopping after the chunk with the first located point of kind ``until``
    # (the branch is not needed past it: a run to max_steps can cost ~5x more)
    left = cyc_opts.max_steps
    chunk = min(left, _UNTIL_CHUNK)
    po = continue_cycles(eq, h, cyc_opts.with_(max_steps=chunk), collocation)
    left -= chunk
    while left > 0 and po.status == "max_steps" and not po.points(until) and \
            _first_turn(po.param_values) is None and len(po) >= 2:
        chunk = min(left, _UNTIL_CHUNK)
        step = float(po.param_values[-1] - po.param_values[-2])
        end = po.special_points[-1]
        po = continue_cycles(po, end, cyc_opts.with_(
            max_steps=chunk, direction=1 if step >= 0 else -1, both_sides=False),
            po.collocation or collocation)
        left -= chunk
    po.info["hopf"] = hopf
    return po


def _first_turn(p: np.ndarray) -> int | None:
    """The first row where the parameter sequence ``p`` turns (its steps change sign)."""
    d = np.sign(np.diff(np.asarray(p, dtype=float)))
    d = d[d != 0]
    idx = np.flatnonzero(np.diff(np.asarray(p, dtype=float)))
    for k in range(1, d.size):
        if d[k] != d[k - 1]:
            return int(idx[k])
    return None


def _first_fold(po: Branch) -> tuple[SpecialPoint | None, str]:
    """The fold of the small cycles born at a Hopf point next to a GH point: the branch's
    first LPC point, when it is located and no earlier turn of the parameter went unlabelled
    (a later fold is a fold of large cycles, on another LPC curve); else (None, why)."""
    folds = po.points("LPC")
    turn = _first_turn(po.param_values)
    if not folds:
        return None, ("no fold" if turn is None else
                      f"the parameter turns at row {turn} without an LPC label")
    first = min(folds, key=lambda s: s.index)
    if turn is not None and turn < first.index - 1:
        return None, (f"the parameter turns at row {turn} (p = {po.param_values[turn]:.8g}) "
                      f"before the first LPC label (row {first.index}): an unlabelled fold")
    if not first.located:
        return None, f"the first fold is not confirmed ({first.message or 'not located'})"
    return first, ""


def _far_fold(hopf_curve: Branch, j: int, gh: SpecialPoint, fold: SpecialPoint) -> str:
    """Why ``fold`` (of the cycles born at row ``j`` of the Hopf curve) is not the fold of
    small cycles of the GH point, or "".  That fold lies within O(h^2) of the Hopf point at a
    distance h from the GH point (Bautin normal form: b1 = -b2^2 / 4); one farther from the
    Hopf point than the Hopf point is from the GH point (parameter space, unscaled) is a fold
    of large cycles on another LPC curve (the small fold was missed, e.g. stepped over)."""
    ij = list(hopf_curve.param_indices)
    hp = hopf_curve.p[j, ij]
    d_row = float(np.linalg.norm(hp - gh.p[ij]))
    d_fold = float(np.linalg.norm(fold.p[ij] - hp))
    if d_fold <= d_row:
        return ""
    return (f"its first fold is {d_fold:.3g} from the Hopf point, farther than the Hopf point "
            f"is from the GH point ({d_row:.3g}): a fold of large cycles, not the GH point's")


def _small_fold_prediction(hopf: dict, l2: float | None) -> tuple[float, float] | None:
    """The Bautin normal form's fold of the small cycles born at a Hopf point next to a GH
    point: (L2 amplitude of x(t) - mean, parameter offset from the Hopf point), or None when
    it cannot be predicted (l2, l1, omega or dRe(lambda)/dp unknown or zero, l1 l2 >= 0).

    On the centre manifold r' = r (beta + omega (l1 r^2 + l2 r^4)) with beta = Re(lambda),
    l1 = Re(c1) / omega and l2 = Re(c2) / omega: the cycles have beta = -omega (l1 r^2 +
    l2 r^4), which turns at r^2 = -l1 / (2 l2), beta = omega l1^2 / (4 l2); the cycle is
    x* + 2 Re(z e^{i omega t} q) with <q, q> = 1, of L2 amplitude sqrt(2) r = sqrt(-l1 / l2).
    Leading order: the relative error grows with the Hopf point's distance from the GH point.
    """
    vals = [hopf.get(k) for k in ("l1", "omega", "dre_dp")] + [l2]
    if not all(v is not None and np.isfinite(v) and v != 0 for v in vals):
        return None
    l1, omega, dre_dp, l2 = (float(v) for v in vals)
    if l1 * l2 >= 0:
        return None
    return float(np.sqrt(-l1 / l2)), omega * l1 ** 2 / (4 * l2 * dre_dp)


#: Factor within which a fold's cycle amplitude must match the normal form's prediction (its
#: parameter offset: the square of it) for the GH switch to take it as the small fold.
_SMALL_FOLD_FACTOR = 3.0
#: Cycle steps (ds, ds_max) times this when a row's first fold was a fold of large cycles.
_SMALL_STEP_SCALE = 0.2


def _not_small_fold(hopf_curve: Branch, j: int, gh: SpecialPoint, fold: SpecialPoint,
                    po: Branch) -> tuple[str, bool]:
    """Why ``fold`` (the first fold of the cycles ``po`` born at row ``j`` of the Hopf curve)
    is not the GH point's fold of small cycles ("" when it is), and whether it is too large
    (a fold of large cycles: the small one may have been stepped over).  The test is the
    normal form's prediction (:func:`_small_fold_prediction`; amplitude within a factor
    ``_SMALL_FOLD_FACTOR``, offset within its square, same sign), else :func:`_far_fold`."""
    pred = _small_fold_prediction(po.info.get("hopf") or {}, gh.data.get("l2"))
    if pred is None:
        why = _far_fold(hopf_curve, j, gh, fold)
        return why, bool(why)
    amp_pred, dp_pred = pred
    amp = float(np.asarray(po.extra["amplitude"])[fold.index])
    dp = float(fold.param - po.info["hopf"]["param"])
    f = _SMALL_FOLD_FACTOR
    ok_amp = amp_pred / f <= amp <= amp_pred * f
    ok_dp = dp * dp_pred > 0 and abs(dp_pred) / f ** 2 <= abs(dp) <= abs(dp_pred) * f ** 2
    if ok_amp and ok_dp:
        return "", False
    return (f"its first fold (cycle amplitude {amp:.4g}, {dp:+.3g} from the Hopf point) is "
            f"not the normal form's fold of small cycles (amplitude {amp_pred:.4g}, "
            f"{dp_pred:+.3g}; factor {f:g} / {f * f:g} allowed)"
            + (": a fold of large cycles" if amp > amp_pred * f else ""),
            amp > amp_pred * f)


#: Steps per chunk of the cycle continuation that looks for a fold (continue_lpc_from_gh).
_UNTIL_CHUNK = 25


def continue_ns_from_zh(hopf_curve: Branch, point: SpecialPoint | int,
                        options: ContinuationOptions | None = None, collocation=None, *,
                        side: int | None = None, rows_away: int = 2, max_cycle_steps: int = 80,
                        name: str = "") -> Branch:
    """The Neimark-Sacker (torus) curve that emanates from a zero-Hopf (ZH) point of a Hopf
    curve (MatCont's ZH -> NS switch).

    The ZH normal-form coefficients (``s``, ``theta`` in the point's data, Kuznetsov's
    normalisation) decide: a torus curve exists only when s * theta < 0; otherwise ValueError
    says so.  Switching: the cycles born at the Hopf-curve row ``rows_away`` rows from the
    point (on ``side`` +1 / -1 of it along the curve, default both, nearest first) are
    continued in the first parameter (``max_cycle_steps`` steps, ``options``' ds, ds_max and
    p bounds) until a located, confirmed NS point, which is continued in the second parameter
    (:func:`continue_ns`, ``options`` as there).  ``info['from_ZH']`` holds the point's two
    parameters, ``info['switch_row']`` the Hopf-curve row used.  Raises ValueError with the
    reason when no NS point is found."""
    return _ns_from_hopf_curve("ZH", hopf_curve, point, options, collocation, side, rows_away,
                               max_cycle_steps, name)


def continue_ns_from_hh(hopf_curve: Branch, point: SpecialPoint | int,
                        options: ContinuationOptions | None = None, collocation=None, *,
                        side: int | None = None, rows_away: int = 2, max_cycle_steps: int = 80,
                        name: str = "") -> Branch:
    """A Neimark-Sacker (torus) curve that emanates from a double-Hopf (HH) point of a Hopf
    curve (MatCont's HH -> NS switch): the cycles born on the Hopf curve next to the point
    (``side`` +1 / -1 along the curve, default both, nearest first) lose stability to the
    second oscillation at an NS point near it, which is continued in two parameters.  The HH
    point's data carry its normal-form coefficients (p11, p12, p21, p22, theta, delta), but
    the switch does not use them: which torus curves exist is found by trying both sides.
    Arguments and errors as in :func:`continue_ns_from_zh`;
    ``info['from_HH']`` holds the point's two parameters."""
    return _ns_from_hopf_curve("HH", hopf_curve, point, options, collocation, side, rows_away,
                               max_cycle_steps, name)


def _ns_from_hopf_curve(kind, hopf_curve, point, options, collocation, side, rows_away,
                        max_cycle_steps, name) -> Branch:
    fname = f"continue_ns_from_{kind.lower()}"
    if not isinstance(hopf_curve, Branch) or hopf_curve.kind != "H":
        raise ValueError(f"{fname} starts from a Hopf curve (a Branch of kind 'H')")
    if hopf_curve.problem is None:
        raise ValueError("the Hopf curve carries no problem: load it with "
                         "load_branch(path, problem=...)")
    if not (isinstance(rows_away, int) and rows_away >= 1):
        raise ValueError(f"rows_away = {rows_away!r} is out of range: must be an integer >= 1")
    if side not in (None, 1, -1):
        raise ValueError(f"side = {side!r} is out of range: must be None, +1 or -1")
    if not (isinstance(max_cycle_steps, int) and max_cycle_steps >= 1):
        raise ValueError(f"max_cycle_steps = {max_cycle_steps!r} is out of range: must be an "
                         "integer >= 1")
    pt = hopf_curve.point(point, kind)
    if not pt.located:
        raise ValueError(f"the {kind} point is not located ({pt.message})")
    if kind == "ZH":
        s_, th = pt.data.get("s"), pt.data.get("theta")
        if s_ is not None and th is not None and np.isfinite(th) and s_ * th > 0:
            raise ValueError(f"the zero-Hopf normal form has s * theta = {s_ * th:.4g} > 0: no "
                             "torus (NS) curve emanates from this point")
    opts = ContinuationOptions(**CYCLE_CURVE_DEFAULTS) if options is None else options
    omega = hopf_curve.extra.get("omega")
    rows = []
    for sd in ((1, -1) if side is None else (side,)):
        j = pt.index + sd * rows_away
        if 0 <= j < len(hopf_curve) and (omega is None or abs(omega[j]) > 0):
            rows.append(j)
    why = []
    for which in (0, 1):  # cycles in the first parameter, then in the second
        other = hopf_curve.param_indices[1 - which]
        for j in rows:
            label = f"row {j}, cycles in {hopf_curve.param_label(which)}"
            try:
                po = _cycles_from_hopf_row(hopf_curve, j, opts, collocation, max_cycle_steps,
                                           which)
            except ValueError as exc:
                why.append(f"{label}: {exc}")
                continue
            nss = [s for s in po.points("NS") if s.located]
            if not nss:
                why.append(f"{label}: no located NS point ({po.message})")
                continue
            curve_opts = opts if which == 0 else _swap_bounds(opts, hopf_curve)
            out = continue_ns(po, nss[0], other, curve_opts,
                              name=name or f"{hopf_curve.name}-{kind}-NS")
            out.info[f"from_{kind}"] = tuple(float(v) for v in pt.params)
            out.info["switch_row"] = int(j)
            return out
    raise ValueError(f"no NS point found near the {kind} point: " + "; ".join(why))


def _swap_bounds(opts: ContinuationOptions, curve: Branch) -> ContinuationOptions:
    """Options for a curve whose first parameter is ``curve``'s second: the p bounds and the
    ``bounds`` entry of the two parameters exchanged."""
    i1, i2 = curve.param_indices
    lo2, hi2 = _bounds2(opts, curve.param_names, i2)
    bounds = {k: v for k, v in opts.bounds.items()
              if _bounds_key(k, curve.param_names) not in (i1, i2)}
    bounds[i1] = (opts.p_min, opts.p_max)
    return opts.with_(p_min=lo2, p_max=hi2, bounds=bounds)


def _swap_params(opts: ContinuationOptions, curve: Branch) -> ContinuationOptions:
    """:func:`_swap_bounds`, and the events "param" / "param2" exchanged, so that they keep
    naming ``curve``'s first / second parameter on a curve continued in the other order."""
    swap = {"param": "param2", "param2": "param"}
    return _swap_bounds(opts, curve).with_(
        events={swap.get(k, k): v for k, v in opts.events.items()})


def _bounds_key(key, names) -> int | None:
    if isinstance(key, str):
        return list(names).index(key) if names and key in names else None
    return int(key)
