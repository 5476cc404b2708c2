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

import numpy as np
import scipy.sparse as sp

from bifsnn.continuation.arclength import ArclengthContinuation
from bifsnn.continuation.errors import UserFunctionError
from bifsnn.continuation.options import ContinuationOptions
from bifsnn.continuation.result import Branch, SpecialPoint, merge_sides, with_end_points

from .collocation import CollocationOperator, floquet_from_jacobian, sparse_lu
from .cycles import _names, cycle_system
from .mesh import node_quadrature_weights
from .system import CycleSystem

__all__ = ["CYCLE_CURVE_DEFAULTS", "continue_lpc", "continue_lpc_from_gh", "continue_pd"]

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
    continues both ways from the point and merges.  Exceptions in the user's f end the curve
    with the partial result (status "error").
    """
    return _continue_cycle_curve("PD", branch, point, param2, options, name)


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
    names = branch.param_names
    lo2, hi2 = _bounds2(opts, names, i2)
    opts.check_start(float(cyc.p), branch.param_label(0))
    if not lo2 <= p_vec[i2] <= hi2:
        raise ValueError(f"start param2 = {p_vec[i2]!r} is outside its bounds [{lo2}, {hi2}]")
    aug = _Augmented(sysobj, i2, kind, cyc.tm, cyc.ncol)
    X0 = np.concatenate([cyc.U.ravel(), [cyc.T, cyc.p, p_vec[i2]]])
    rows: list[tuple] = []
    n = sysobj.n

    def record(X: np.ndarray, it: int) -> None:
        U, T, p1, p2 = aug.split(X)
        g, _, _, J = aug.evaluate(X)
        mu = floquet_from_jacobian(J, aug.coll).multipliers if opts.detect_bifurcations else None
        rows.append((U.copy(), T, p1, p2, g, mu, it))

    try:
        aug.set_reference(X0)
        aug.init_borders(X0)
        wnode = node_quadrature_weights(cyc.tm, cyc.ncol)
        W = np.concatenate([np.repeat(wnode, n), [1.0, opts.weights_param, opts.weights_param]])
        cont = ArclengthContinuation(
            aug.G, X0, dG=aug.dG, ds=opts.ds, ds_min=opts.ds_min, ds_max=opts.ds_max,
            max_steps=opts.max_steps, newton_tol=opts.newton_tol,
            newton_max_iter=opts.newton_max_iter, direction=opts.direction, direction_index=-1,
            weights=W, bounds={X0.size - 2: (opts.p_min, opts.p_max), X0.size - 1: (lo2, hi2)},
            correct_initial=True,
        )
        if cont.status == "running":
            record(cont.u, 0)
            aug.update_borders(cont.u)
            aug.set_reference(cont.u)
            for res in cont:
                record(res.u, res.iterations)
                aug.update_borders(res.u)
                aug.set_reference(res.u)
                cont.replace(G=aug.G, dG=aug.dG)
        status, message, success = cont.status, cont.message, cont.success
    except UserFunctionError as exc:
        status, success = "error", False
        message = f"the user's function raised an exception: {exc}"
    return _curve_branch(kind, rows, sysobj, i1, i2, cyc, branch, opts, success, status,
                         message, name)


def _curve_branch(kind, rows, sysobj: CycleSystem, i1, i2, cyc, branch, opts, success, status,
                  message, name) -> Branch:
    n = sysobj.n
    N = len(rows)
    base = sysobj.params

    def pvec(p1, p2):
        out = base.copy()
        out[i1], out[i2] = p1, p2
        return out

    nodes = np.array([r[0] for r in rows]).reshape(N, cyc.U.shape[0], n)
    X = nodes[:, 0, :] if N else np.zeros((0, n))
    P = np.array([pvec(r[2], r[3]) for r in rows]).reshape(N, base.size)
    EV = np.full((N, n), np.nan + 0j)
    nu = np.full(N, -1, dtype=int)
    for i, r in enumerate(rows):
        mu = r[5]
        if mu is not None:
            EV[i, : min(n, mu.size)] = mu[:n]
            nontriv = np.delete(mu, np.argmin(np.abs(mu - 1.0)))
            nu[i] = int(np.sum(np.abs(nontriv) > 1.0 + 1e-7))
    extra = {
        "period": np.array([r[1] for r in rows], dtype=float),
        "test": np.array([r[4] for r in rows], dtype=float),
        "x_min": nodes.min(axis=1) if N else np.zeros((0, n)),
        "x_max": nodes.max(axis=1) if N else np.zeros((0, n)),
        "amplitude": np.array([_amp(r[0], cyc) for r in rows], dtype=float),
        "mesh": np.repeat(np.asarray(cyc.tm)[None, :], N, axis=0),
        "nodes": nodes,
    }
    sps = with_end_points([], X, P, (i1, i2), message)
    for sp_ in sps:
        sp_.data["period"] = float(extra["period"][sp_.index])
    pn, xn = _names(branch.problem)
    return Branch(
        kind=kind, x=X, p=P, param_indices=(i1, i2), eigenvalues=EV, n_unstable=nu,
        special_points=sps, extra=extra, success=success and N > 0, status=status,
        message=message, param_names=pn or branch.param_names, x_names=xn or branch.x_names,
        name=name or f"{branch.name}-{kind}", nit=int(sum(r[6] for r in rows)),
        info={"ncol": int(cyc.ncol), "ntst": len(cyc.tm) - 1}, problem=branch.problem,
        options=opts, collocation=branch.collocation,
    )


def _dense(J) -> np.ndarray:
    return J.toarray() if sp.issparse(J) else np.asarray(J, dtype=float)


def _amp(U: np.ndarray, cyc) -> float:
    from .starts import amplitude

    return amplitude(U, node_quadrature_weights(cyc.tm, cyc.ncol))


def continue_lpc_from_gh(hopf_curve: Branch, point: SpecialPoint | int,
                         options: ContinuationOptions | None = None,
                         collocation=None, *, rows_away: int = 2, name: str = "",
                         cycle_options: ContinuationOptions | None = None) -> Branch:
    """The fold-of-cycles (LPC) curve that emanates from a Bautin (GH) point of a Hopf curve.

    Switching: the Hopf-curve point ``rows_away`` rows from the GH point on its subcritical
    side (l1 > 0, where the small unstable cycles fold back) is crossed by a one-parameter
    equilibrium run in the curve's first parameter; the cycles born there are continued until
    their fold (a located, confirmed LPC), which is then continued in the second parameter
    (:func:`continue_lpc`; ``options`` as there, ``both_sides`` to follow it both ways).
    ``cycle_options``: options of the one-parameter cycle continuation to the fold (default:
    ``ds``/``ds_max`` of ``options``, 200 steps; its norm is relative to the cycle's size while
    the LPC curve's is absolute, so a problem with a large state needs both).  The equilibrium
    run that crosses the Hopf point takes its steps along the branch's tangent, so its
    parameter steps are the same whatever the size of the state.  The
    result's ``info['from_gh']`` holds the GH point's two parameters.  Raises ValueError with
    the reason when no subcritical Hopf point or no fold of cycles is found."""
    from dataclasses import replace

    from bifsnn.continuation.equilibria import continue_equilibria

    from .cycles import continue_cycles

    if not isinstance(hopf_curve, Branch) or hopf_curve.kind != "H":
        raise ValueError("continue_lpc_from_gh starts from a Hopf curve (a Branch of kind 'H')")
    if hopf_curve.problem is None:
        raise ValueError("the Hopf curve carries no problem: load it with "
                         "load_branch(path, problem=...)")
    if not (isinstance(rows_away, int) and rows_away >= 1):
        raise ValueError(f"rows_away = {rows_away!r} is out of range: must be an integer >= 1")
    gh = hopf_curve.point(point, "GH")
    i1, i2 = hopf_curve.param_indices
    l1 = np.asarray(hopf_curve.extra.get("GH"), dtype=float)
    side = [j for j in range(len(hopf_curve)) if j != gh.index and np.isfinite(l1[j])
            and l1[j] > 0]
    after = [j for j in side if j > gh.index]
    before = [j for j in side if j < gh.index][::-1]
    cand = after if after and (not before or after[0] - gh.index <= gh.index - before[0]) \
        else before
    if not cand:
        raise ValueError("no Hopf point with l1 > 0 next to the GH point on this curve")
    j = cand[min(rows_away, len(cand)) - 1]
    x, p = hopf_curve.x[j].copy(), hopf_curve.p[j].copy()
    pr = hopf_curve.problem
    opts = ContinuationOptions(**CYCLE_CURVE_DEFAULTS) if options is None else options
    # cross the Hopf point in the first parameter
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
        raise ValueError(f"no Hopf point found crossing {hopf_curve.param_label(0)} at the "
                         f"Hopf-curve row {j}")
    h = min(hs, key=lambda s: abs(s.param - p[i1]))
    cyc_opts = cycle_options if cycle_options is not None else ContinuationOptions(
        ds=opts.ds, ds_max=opts.ds_max, max_steps=200, p_min=opts.p_min, p_max=opts.p_max)
    po = continue_cycles(eq, h, cyc_opts, collocation)
    folds = [s for s in po.points("LPC") if s.located]
    if not folds:
        raise ValueError(f"the cycles from the Hopf point at {h.param:.8g} have no located "
                         f"fold ({po.message})")
    out = continue_lpc(po, folds[0], i2, opts, name=name or f"{hopf_curve.name}-GH-LPC")
    out.info["from_gh"] = tuple(float(v) for v in gh.params)
    return out
