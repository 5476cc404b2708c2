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
are updated to v, w after every step. Steps are taken by the shared ArclengthContinuation core
on a fixed mesh (no mesh adaptation along the curve).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from .collocation import Collocation, floquet_from_jacobian, sparse_lu
from .cycles import CycleBranch, CycleSpecialPoint
from .mesh import node_quadrature_weights
from .system import CycleSystem, as_cycle_system

__all__ = ["CycleCurvePoint", "CycleCurve", "continue_cycle_bifurcation"]


@dataclass
class CycleCurvePoint:
    p1: float
    p2: float
    T: float
    U: np.ndarray
    g: float
    multipliers: np.ndarray | None = None


@dataclass
class CycleCurve:
    """A curve of LPC or PD points of cycles in two parameters."""

    kind: str
    points: list[CycleCurvePoint]
    tm: np.ndarray
    ncol: int
    ipar: tuple[int, int]
    success: bool
    message: str
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.points)

    @property
    def p1(self) -> np.ndarray:
        return np.array([q.p1 for q in self.points])

    @property
    def p2(self) -> np.ndarray:
        return np.array([q.p2 for q in self.points])

    @property
    def period(self) -> np.ndarray:
        return np.array([q.T for q in self.points])

    @property
    def params(self) -> np.ndarray:
        """(N, 2) array of (p1, p2) (interface of bifsnn.continuation.plots)."""
        return np.column_stack([self.p1, self.p2]) if self.points else np.zeros((0, 2))

    @property
    def special_points(self) -> list:
        return []


class _Augmented:
    """Minimally augmented LPC/PD system on a fixed collocation mesh."""

    def __init__(self, sysobj: CycleSystem, i2: int, kind: str, tm: np.ndarray, ncol: int):
        self.base = sysobj
        self.i2 = i2
        self.kind = kind
        self.coll = Collocation(sysobj, tm, ncol)
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

    def defining_matrix(self, J: sp.csc_matrix) -> sp.csc_matrix:
        c = self.coll
        if self.kind == "LPC":
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
        lu = sparse_lu(M)
        rng = np.random.default_rng(7)
        w = rng.standard_normal(M.shape[1])
        v = rng.standard_normal(M.shape[0])
        for _ in range(3):
            w = lu.solve(w)
            w /= np.linalg.norm(w)
            v = lu.solve(v, trans="T")
            v /= np.linalg.norm(v)
        self.b, self.c = v, w
        self._cache = None

    def evaluate(self, X: np.ndarray):
        """(g, v, w, J_full) at X, cached for the last X."""
        if self._cache is not None and np.array_equal(self._cache[0], X):
            return self._cache[1]
        J = self.full_jacobian(X)
        M = self.defining_matrix(J)
        B = sp.bmat([[M, sp.csc_matrix(self.b[:, None])],
                     [sp.csc_matrix(self.c[None, :]), None]], format="csc")
        lu = sparse_lu(B)
        rhs = np.zeros(B.shape[0])
        rhs[-1] = 1.0
        wg = lu.solve(rhs)
        vg = lu.solve(rhs, trans="T")
        out = (float(wg[-1]), vg[:-1], wg[:-1], J)
        self._cache = (X.copy(), out)
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
        self.full_jacobian(X)  # restore coll.sys for p2 of X
        return sp.vstack([J, sp.csr_matrix(grad[None, :])], format="csc")

    def update_borders(self, X: np.ndarray) -> None:
        _, v, w, _ = self.evaluate(X)
        self.b = v / np.linalg.norm(v)
        self.c = w / np.linalg.norm(w)
        self._cache = None


def continue_cycle_bifurcation(
    system: Any,
    branch: CycleBranch,
    special: CycleSpecialPoint,
    ipar2: int,
    *,
    ds: float = 0.02,
    ds_min: float = 1e-6,
    ds_max: float = 0.2,
    max_steps: int = 50,
    p1_bounds: tuple[float, float] = (-math.inf, math.inf),
    p2_bounds: tuple[float, float] = (-math.inf, math.inf),
    newton_tol: float = 1e-9,
    newton_max_iter: int = 10,
    floquet: bool = True,
) -> CycleCurve:
    """Continue a located LPC or PD point of ``branch`` in (p1, params[ipar2]).

    ``system`` must carry a parameter vector (``params``) with the branch's parameter at
    ``ipar`` and the second parameter at ``ipar2``. ``ds > 0`` starts towards increasing p2.
    """
    from bifsnn.continuation.arclength import ArclengthContinuation

    sysobj = as_cycle_system(system)
    if sysobj.params is None:
        raise ValueError("system needs a parameter vector (params) for two-parameter curves")
    if not (0 <= ipar2 < sysobj.params.size) or ipar2 == sysobj.ipar:
        raise ValueError(f"ipar2 must index params and differ from ipar={sysobj.ipar}")
    if special.kind not in ("LPC", "PD"):
        raise ValueError(f"special point must be LPC or PD, got {special.kind}")
    pt = branch.points[special.index]
    aug = _Augmented(sysobj, ipar2, special.kind, pt.tm, pt.ncol)
    X0 = np.concatenate([pt.U.ravel(), [pt.T, pt.p, sysobj.params[ipar2]]])
    aug.set_reference(X0)
    aug.init_borders(X0)
    wnode = node_quadrature_weights(pt.tm, pt.ncol)
    W = np.concatenate([np.repeat(wnode, sysobj.n), [1.0, 1.0, 1.0]])
    cont = ArclengthContinuation(
        aug.G, X0, dG=aug.dG, ds=abs(ds), ds_min=ds_min, ds_max=ds_max,
        max_steps=max_steps, newton_tol=newton_tol, newton_max_iter=newton_max_iter,
        direction=1 if ds > 0 else -1, direction_index=-1, weights=W,
        bounds={X0.size - 2: p1_bounds, X0.size - 1: p2_bounds}, correct_initial=True,
    )
    points: list[CycleCurvePoint] = []

    def record(X: np.ndarray) -> None:
        U, T, p1, p2 = aug.split(X)
        g, _, _, J = aug.evaluate(X)
        mu = floquet_from_jacobian(J, aug.coll).multipliers if floquet else None
        points.append(CycleCurvePoint(p1, p2, T, U.copy(), g, mu))

    if cont.status != "running":
        return CycleCurve(special.kind, points, pt.tm, pt.ncol, (sysobj.ipar, ipar2), False,
                          cont.message)
    record(cont.u)
    aug.update_borders(cont.u)
    aug.set_reference(cont.u)
    for res in cont:
        record(res.u)
        aug.update_borders(res.u)
        aug.set_reference(res.u)
        cont.replace(G=aug.G, dG=aug.dG)
    return CycleCurve(special.kind, points, pt.tm, pt.ncol, (sysobj.ipar, ipar2), cont.success,
                      cont.message)
