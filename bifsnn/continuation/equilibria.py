"""Continuation of equilibria f(x, p) = 0 in one parameter, with detection and location of
folds (LP), Hopf points (H) and branch points (BP), branch switching at BP, and the Hopf data
a cycle continuation starts from.

Detection: at every accepted point the eigenvalues of df/dx are computed and the unstable ones
counted (real and non-real separately).  When the counts change over a step, the step is
split by bisection in arclength until each sub-interval holds a single crossing (many pairs
may cross in one step of a large system).  A real crossing is a fold when the parameter
component of the tangent changes sign, otherwise a branch point.  Location: folds and Hopf
points by Newton on the minimally augmented systems of :mod:`codim2`.  Branch points are
detected by the sign change of a bordered test function of the continuation Jacobian
[[f_x f_p]; t^T] (which changes sign at a branch point but not at a fold) and located by
Newton on the minimally augmented BP system of :class:`codim2.BranchPointSystem`
([G + beta psi; g1; g2] = 0, MatCont's), with the Illinois method on the test function as
the fallback.  Every located LP/H/BP records how it was located: ``data['locator']``
("newton", "regula_falsi" or "none"), ``data['residual']`` and ``data['iterations']``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from bifsnn.continuation.arclength import ArclengthContinuation
from bifsnn.continuation.codim2 import BranchPointSystem, FoldSystem, HopfSystem, _hstack
from bifsnn.continuation.errors import UserFunctionError
from bifsnn.continuation.events import (
    CurvePoint,
    eigenvalues_checked,
    isolate,
    locate_zero,
    pair_crossings,
    stability_counts,
)
from bifsnn.continuation.linalg import Factorization, bordered, multilinear_B, newton
from bifsnn.continuation.normal_forms import (
    HopfData,
    critical_eigenvectors,
    first_lyapunov,
    fold_coefficient,
)
from bifsnn.continuation.options import ContinuationOptions, check_events
from bifsnn.continuation.problem import ODEProblem
from bifsnn.continuation.result import Branch, SpecialPoint, merge_sides, with_end_points

__all__ = ["continue_equilibria", "switch_branch", "hopf_data"]


class _EquilibriumCurve:
    """G(u) = f(x, p) with u = (x, p[k]); eigen-analysis and event location helpers."""

    def __init__(self, problem: ODEProblem, options: ContinuationOptions, p_base: np.ndarray):
        self.pr = problem
        self.opts = options
        self.k = problem.param
        self.n = problem.n
        self.p_base = np.asarray(p_base, dtype=float).copy()
        n_eigs = options.n_eigs
        if n_eigs is None:
            dense = options.eig_method == "dense" or (
                options.eig_method == "auto" and self.n <= options.dense_eig_max)
            n_eigs = self.n if dense else 12
        self.n_eigs = min(n_eigs, self.n)
        self._shifts: list[float] = []
        self._n_unstable = 0
        self.last_exact = True

    def p_of(self, u: np.ndarray) -> np.ndarray:
        p = self.p_base.copy()
        p[self.k] = u[self.n]
        return p

    def G(self, u: np.ndarray) -> np.ndarray:
        return self.pr.rhs(u[: self.n], self.p_of(u))

    def dG(self, u: np.ndarray):
        x, p = u[: self.n], self.p_of(u)
        return _hstack(self.pr.jac_x(x, p), self.pr.jac_p(x, p, [self.k]))

    def Jx(self, dG):
        return dG[:, : self.n]

    @property
    def dense(self) -> bool:
        m = self.opts.eig_method
        return m == "dense" or (m == "auto" and self.n <= self.opts.dense_eig_max)

    def eig(self, dG, shifts: list[float] | None = None) -> np.ndarray:
        J = self.Jx(dG)
        if sp.issparse(J):
            J = sp.csc_matrix(J)
        if shifts is None:
            shifts = self._shifts
        k = self.n_eigs if self.dense else max(self.n_eigs, self._n_unstable + 8)
        ev, self.last_exact = eigenvalues_checked(J, self.opts.eig_method, k,
                                                  self.opts.dense_eig_max, shifts)
        if not self.dense:
            self._shifts = _shifts_of(ev)
            self._n_unstable = int(np.sum(ev.real > 0))
        return ev

    def point(self, s: float, u: np.ndarray, t: np.ndarray, dG,
              shifts: list[float] | None = None) -> CurvePoint:
        ev = (self.eig(dG, shifts) if self.opts.detect_bifurcations
              else np.array([], dtype=complex))
        counts = stability_counts(ev) if ev.size else (-1, -1, -1)
        exact = bool(self.last_exact) if ev.size else False
        return CurvePoint(s, u, t, dG, ev, counts, {"count_exact": exact})

    def recount(self, pts: list[CurvePoint]) -> list[float]:
        """Sparse mode: recount points over the union of their shifts, so that every point
        of a comparison sees the same part of the spectrum; returns the shifts used."""
        shifts = _merge_shifts([w for pt in pts for w in _shifts_of(pt.eig)], cap=12)
        for pt in pts:
            pt.eig = self.eig(pt.jacobian, shifts)
            pt.counts = stability_counts(pt.eig)
            pt.extra["count_exact"] = bool(self.last_exact)
        return shifts


def _merge_shifts(ws, rtol: float = 0.05, cap: int = 8) -> list[float]:
    out: list[float] = []
    for w in sorted(ws):
        if w > 1e-8 and not any(abs(w - v) <= rtol * v for v in out):
            out.append(w)
    return out[:cap]


def _shifts_of(ev: np.ndarray) -> list[float]:
    """Frequencies at which to shift-invert next time: the rightmost eigenvalues and those
    nearest the imaginary axis."""
    if ev.size == 0:
        return []
    right = ev[np.argsort(-ev.real)][:6]
    near = ev[np.argsort(np.abs(ev.real))][:4]
    return _merge_shifts([abs(z.imag) for z in np.r_[right, near]])


def _pad(ev: np.ndarray, k: int) -> np.ndarray:
    out = np.full(k, np.nan + 0j)
    out[: min(k, ev.size)] = ev[:k]
    return out


def continue_equilibria(
    problem: ODEProblem,
    options: ContinuationOptions | None = None,
    *,
    x0: np.ndarray | None = None,
    p0: np.ndarray | None = None,
    tangent: np.ndarray | None = None,
    name: str = "",
) -> Branch:
    """Continue equilibria of ``problem`` in ``problem.param`` from ``(x0, p0)`` (defaults:
    ``problem.x0``, ``problem.p0``); returns a Branch of kind 'EP' (partial on failure, with
    ``success`` False and a ``message``).  ``options.direction`` (+1/-1) is the direction of
    the first step in the parameter; ``options.both_sides`` continues both ways and merges.
    ``tangent`` (length n+1, in (x, param) space) starts the run along a given direction
    (used by :func:`switch_branch`)."""
    opts = options or ContinuationOptions()
    check_events(opts, ("param",), "EP")
    if opts.both_sides:
        one = opts.with_(both_sides=False)
        kw = dict(x0=x0, p0=p0, tangent=tangent, name=name)
        fwd = continue_equilibria(problem, one, **kw)
        if tangent is not None:
            kw["tangent"] = -np.asarray(tangent, dtype=float)
        back = continue_equilibria(problem, one.with_(direction=-opts.direction), **kw)
        out = merge_sides(back, fwd) if opts.direction > 0 else merge_sides(fwd, back)
        out.options = opts
        return out
    opts = options or ContinuationOptions()
    x0 = problem.x0 if x0 is None else np.asarray(x0, dtype=float)
    p0 = problem.p0 if p0 is None else np.asarray(p0, dtype=float)
    n, k = problem.n, problem.param
    if tangent is None:
        opts.check_start(float(p0[k]), problem.param_label(k))
    curve = _EquilibriumCurve(problem, opts, p0)
    bounds = {n: (opts.p_min, opts.p_max)}
    weights = np.ones(n + 1)
    weights[n] = opts.weights_param
    cont = ArclengthContinuation(
        curve.G, np.r_[x0, p0[k]], curve.dG, tangent=tangent, ds=opts.ds, ds_min=opts.ds_min,
        ds_max=opts.ds_max, max_steps=opts.max_steps, newton_tol=opts.newton_tol,
        newton_max_iter=opts.newton_max_iter, bounds=bounds, direction=opts.direction,
        direction_index=n, weights=weights, max_angle=opts.max_angle,
        correct_initial=tangent is None,
    )
    rows: list[CurvePoint] = []
    specials: list[tuple[int, SpecialPoint]] = []  # (row in the branch, point)
    nit = 0
    if cont.status not in ("initial", "error"):
        rows.append(curve.point(0.0, cont.u, cont.tangent, cont.jacobian))
    try:
        for res in cont:
            nit += res.iterations
            new = curve.point(res.ds, res.u, res.tangent, res.jacobian)
            prev = rows[-1]
            if opts.detect_bifurcations:
                found = _detect(curve, cont, prev, new)
                for sp_, pt in found:
                    rows.append(pt)
                    specials.append((len(rows) - 1, sp_))
            if opts.events:
                hits = _user_events(curve, cont, prev, new)
                for sp_, pt in hits:
                    rows.append(pt)
                    specials.append((len(rows) - 1, sp_))
                if hits and opts.stop_at_events:
                    sp_ = hits[0][0]
                    rows.append(new)
                    cont.stop(f"reached the event {sp_.data['event']} = "
                              f"{sp_.data['value']:g}")
                    break
            rows.append(new)
            if opts.verbose:
                print(f"step {cont.n_steps}: p = {res.u[n]:.6g}, ds = {res.ds:.3g}, "
                      f"unstable = {new.counts[0]}")
    except UserFunctionError as exc:  # raised while locating: keep what was computed
        cont.fail(str(exc))
    return _make_branch(problem, opts, curve, rows, specials, cont, name, nit)


def _event_value(curve, name: str, u: np.ndarray) -> float:
    if name == "param":
        return float(u[curve.n])
    return float(curve.opts.record[name](u[: curve.n].copy(), curve.p_of(u)))


def _user_events(curve, cont, A: CurvePoint, B: CurvePoint):
    """UZ points between consecutive points A and B: every (name, value) of
    ``options.events`` whose function crosses the value, located by regula falsi on
    corrected curve points."""
    opts, n, k = curve.opts, curve.n, curve.k
    tA, uA = A.tangent, A.u
    c = cont.weights * tA
    base = float(c @ uA)
    s_B = float(c @ (B.u - uA))
    out = []
    for name, values in opts.events.items():
        ga, gb = _event_value(curve, name, A.u), _event_value(curve, name, B.u)
        for v in values:
            fa, fb = ga - v, gb - v
            if not (np.isfinite(fa) and np.isfinite(fb)) or fa * fb > 0 or fa == 0:
                continue

            def val(s_, name=name, v=v):
                u, ok, _, _, _ = cont.correct(uA + s_ * tA, c, base + s_)
                return None if not ok else (_event_value(curve, name, u) - v, u)
            s, u, ok = locate_zero(val, 0.0, s_B, fa, fb, tol=opts.locate_tol)
            if u is None:
                u = uA + (fa / (fa - fb)) * (B.u - uA)
            pt = _located_point(curve, cont, A, u)
            data = {"event": name, "value": v, "tangent": pt.tangent,
                    "residual": float(np.max(np.abs(curve.G(u))))}
            out.append((SpecialPoint("UZ", -1, u[:n].copy(), curve.p_of(u), (k,), bool(ok),
                                     data, "" if ok else "unconfirmed: event not located"),
                        pt))
    out.sort(key=lambda sp_pt: sp_pt[1].s)
    return out


def _make_branch(problem, opts, curve, rows, specials, cont, name, nit) -> Branch:
    n = problem.n
    N = len(rows)
    X = np.array([r.u[:n] for r in rows]).reshape(N, n)
    P = np.array([curve.p_of(r.u) for r in rows]).reshape(N, problem.n_params)
    T = np.array([r.tangent for r in rows]).reshape(N, n + 1)
    ev = np.array([_pad(r.eig, curve.n_eigs) for r in rows]).reshape(N, curve.n_eigs)
    nu = np.array([r.counts[0] for r in rows], dtype=int)
    exact = np.array([bool(r.extra.get("count_exact", True)) for r in rows], dtype=bool)
    for row, sp_ in specials:
        sp_.index = row
    sps = with_end_points([sp_ for _, sp_ in specials], X, P, (problem.param,), cont.message, T)
    msg = cont.message
    if not exact.all():
        msg += (f"; the unstable count is not exact at {int((~exact).sum())} of {N} points "
                "(the sparse eigenvalue solver did not prove it: see extra['count_exact'])")
    return Branch(
        kind="EP", x=X, p=P, param_indices=(problem.param,), eigenvalues=ev, n_unstable=nu,
        tangents=T, special_points=sps, success=cont.success and N > 0, status=cont.status,
        message=msg, param_names=problem.param_names,
        extra={"count_exact": exact, **{key: np.array([_event_value(curve, key, r.u)
                                                        for r in rows])
                                        for key in opts.record}},
        x_names=tuple(problem.x_names) if problem.x_names else None,
        name=name or problem.name, nit=nit, problem=problem, options=opts,
    )


# ----------------------------------------------------------------------------- detection
def _detect(curve: _EquilibriumCurve, cont: ArclengthContinuation, A: CurvePoint,
            B: CurvePoint) -> list[tuple[SpecialPoint, CurvePoint]]:
    """Isolate and locate all crossings between consecutive points A and B."""
    opts = curve.opts
    tA, uA, w = A.tangent, A.u, cont.weights
    c = w * tA
    base = float(c @ uA)

    shifts: list[float] | None = None

    def point_at(s: float) -> CurvePoint | None:
        u, ok, _, _, J = cont.correct(uA + s * tA, c, base + s)
        if not ok:
            return None
        try:
            t = cont.tangent_at(u, J, tA)
        except np.linalg.LinAlgError:
            t = tA
        return curve.point(s, u, t, J, shifts)

    lo = CurvePoint(0.0, A.u, A.tangent, A.jacobian, A.eig, A.counts)
    s_B = float(c @ (B.u - uA))
    hi = CurvePoint(s_B, B.u, B.tangent, B.jacobian, B.eig, B.counts)
    if lo.counts[0] < 0 or hi.counts[0] < 0:
        return []
    if not curve.dense and lo.counts != hi.counts:
        shifts = curve.recount([lo, hi])
    out: list[tuple[SpecialPoint, CurvePoint]] = []
    # Hopf points: every complex pair whose real part changes sign over the step (matched
    # eigenvalues), each located by Newton from its own (theta, omega) guess; the bisection
    # below then only handles what this did not account for
    hopf, complete = _pair_hopf_points(curve, cont, lo, hi)
    out += hopf
    if not complete:
        for a, b, kind in isolate(point_at, lo, hi, opts.max_bisections):
            if kind == "complex" or kind == "multiple":
                # crossings located above inside [a, b] that account for its count change
                known = sum(int(sp_.data.get("direction", 0)) for sp_, pt in out
                            if sp_.type == "H" and a.s <= pt.s <= b.s)
                if known and 2 * known == b.counts[0] - a.counts[0]:
                    continue
                got = _locate(curve, cont, a, b, kind, point_at)
                if got is not None and not _duplicate_hopf(got[0], out):
                    got[0].data.setdefault("direction",
                                           int(np.sign(b.counts[0] - a.counts[0])))
                    out.append(got)
    # real crossings (folds, branch points): bisection on the total unstable count less the
    # pairs that crossed at the Hopf points found above (a complex pair meeting on the real
    # axis and splitting into two real eigenvalues changes the real count by 2 but is no
    # crossing of the imaginary axis)
    # (a crossing at an end of the step counts as inside it: after lo, before hi)
    tiny = 1e-9 * abs(hi.s - lo.s)
    pairs = [(min(max(pt.s, lo.s + tiny), hi.s - tiny), int(sp_.data.get("direction", 0)))
             for sp_, pt in out if sp_.type == "H"]
    lo_r, hi_r = _real_only(lo, pairs), _real_only(hi, pairs)

    def point_at_real(s_):
        pt = point_at(s_)
        return None if pt is None else _real_only(pt, pairs)
    for a, b, kind in isolate(point_at_real, lo_r, hi_r, opts.max_bisections):
        got = _locate(curve, cont, a, b, kind, point_at)
        if got is not None:
            out.append(got)
    for sp_, pt in out:
        _confirm_equilibrium_label(sp_, pt)
    out.sort(key=lambda sp_pt: sp_pt[1].s)
    return out


#: A located LP / H must have its critical eigenvalue this close to the imaginary axis
#: (relative to 1 + |lambda|), as computed at the located point.
EIG_CONFIRM_TOL = 1e-6


def _confirm_equilibrium_label(sp_: SpecialPoint, pt: CurvePoint) -> None:
    """Demote a located LP / H whose eigenvalues at the located point do not show it (a real
    eigenvalue at 0 / a pair +-i omega on the axis) to unconfirmed, with the reason."""
    if not sp_.located or sp_.type not in ("LP", "H") or pt.eig.size == 0:
        return
    ev = pt.eig[np.isfinite(pt.eig)]
    if sp_.type == "LP":
        cand = ev[np.abs(ev.imag) <= 1e-8 * (1 + np.abs(ev))]
        d = float(np.min(np.abs(cand))) if cand.size else np.inf
        bad = d > EIG_CONFIRM_TOL
        why = f"no zero eigenvalue at the located point (nearest real one {d:.2g})"
    else:
        om = float(sp_.data.get("omega", np.nan))
        d = float(np.min(np.abs(ev - 1j * om))) if np.isfinite(om) else np.inf
        bad = d > EIG_CONFIRM_TOL * (1 + abs(om))
        why = f"no eigenvalue at i omega at the located point (nearest is {d:.2g} away)"
    if bad:
        sp_.located = False
        sp_.data["unconfirmed"] = why
        sp_.message = f"unconfirmed: {why}"


def _real_only(pt: CurvePoint, pairs: Sequence[tuple[float, int]] = ()) -> CurvePoint:
    """The point with the count of real crossings only: its unstable count less twice the
    signed number of the Hopf crossings ``pairs`` (arclength, +1 / -1) before it (complex
    crossings are handled by :func:`_pair_hopf_points`)."""
    c = pt.counts
    r = c[0] - 2 * sum(d for s, d in pairs if s < pt.s)
    return CurvePoint(pt.s, pt.u, pt.tangent, pt.jacobian, pt.eig, (r, r, 0), pt.extra)


def _duplicate_hopf(sp_: SpecialPoint, found) -> bool:
    """Whether a Hopf point with the same parameter and frequency is already in ``found``."""
    if sp_.type != "H" or not sp_.located:
        return False
    for other, _ in found:
        if other.type != "H" or not other.located:
            continue
        if (abs(other.param - sp_.param) <= 1e-7 * (1 + abs(sp_.param))
                and abs(other.data["omega"] - sp_.data["omega"])
                <= 1e-6 * (1 + abs(sp_.data["omega"]))):
            return True
    return False


def _pair_hopf_points(curve, cont, lo: CurvePoint, hi: CurvePoint):
    """Locate every matched complex-pair crossing between lo and hi (see
    :func:`events.pair_crossings`).  Returns ``(points, complete)``: complete when every
    crossing was located once and their signed number equals the change of the complex
    unstable count and no pair met on the real axis (so the bisection fallback is not
    needed)."""
    crossings = pair_crossings(lo, hi)
    dc = (hi.counts[2] - lo.counts[2]) // 2
    if not crossings:
        return [], dc == 0 and _n_complex(lo) == _n_complex(hi)
    out: list[tuple[SpecialPoint, CurvePoint]] = []
    net, ok_all = 0, True
    for th, om0, direction in crossings:
        u0 = (1 - th) * lo.u + th * hi.u
        got = _locate_hopf(curve, cont, lo, hi, guess=(u0, om0))
        if got is None or not got[0].located:
            ok_all = False
            continue
        sp_ = got[0]
        if abs(sp_.data["omega"] - om0) > 0.25 * (abs(om0) + 1e-3) or _duplicate_hopf(sp_, out):
            ok_all = False
            continue
        sp_.data["direction"] = direction
        out.append(got)
        net += direction
    complete = ok_all and net == dc and _n_complex(lo) == _n_complex(hi)
    return out, complete


def _n_complex(pt: CurvePoint) -> int:
    """Number of non-real eigenvalues at pt (it changes where a pair meets on the real axis,
    which can hide a Hopf crossing in the change of the unstable complex count)."""
    ev = pt.eig[np.isfinite(pt.eig)]
    return int(np.sum(np.abs(ev.imag) > 1e-8 * (1 + np.abs(ev))))


def _closer(a: CurvePoint, b: CurvePoint, complex_: bool) -> CurvePoint:
    """The end of an isolated interval whose critical eigenvalue is nearer the axis."""
    def dist(pt):
        ev = pt.eig
        sel = np.abs(ev.imag) > 1e-8 if complex_ else np.abs(ev.imag) <= 1e-8
        ev = ev[sel] if sel.any() else ev
        return float(np.min(np.abs(ev.real))) if ev.size else np.inf
    return a if dist(a) <= dist(b) else b


def _interp(a: CurvePoint, b: CurvePoint, complex_: bool) -> tuple[np.ndarray, float]:
    """Secant guess of the crossing between a and b from the critical real parts."""
    def crit(pt):
        ev = pt.eig
        sel = np.abs(ev.imag) > 1e-8 if complex_ else np.abs(ev.imag) <= 1e-8
        ev = ev[sel] if sel.any() else ev
        return ev[int(np.argmin(np.abs(ev.real)))]
    la, lb = crit(a), crit(b)
    ra, rb = la.real, lb.real
    th = ra / (ra - rb) if ra * rb < 0 else 0.5
    th = float(np.clip(th, 0.0, 1.0))
    u = (1 - th) * a.u + th * b.u
    om = (1 - th) * abs(la.imag) + th * abs(lb.imag)
    return u, om


def _located_point(curve: _EquilibriumCurve, cont, a: CurvePoint, u: np.ndarray,
                   t: np.ndarray | None = None) -> CurvePoint:
    J = curve.dG(u)
    if t is None:
        try:
            t = cont.tangent_at(u, J, a.tangent)
        except np.linalg.LinAlgError:
            t = a.tangent
    ev = curve.eig(J)
    # on the special point itself the critical eigenvalue is ~0: count with a tolerance
    scale = 1e-7 * (1 + np.abs(ev))
    counts = stability_counts(np.where(np.abs(ev.real) < scale, -scale, ev.real) + 1j * ev.imag)
    s = float((cont.weights * a.tangent) @ (u - a.u)) + a.s
    return CurvePoint(s, u, t, J, ev, counts)


def _within(u: np.ndarray, a: CurvePoint, b: CurvePoint) -> bool:
    span = float(np.max(np.abs(b.u - a.u)))
    return float(np.max(np.abs(u - 0.5 * (a.u + b.u)))) <= span + 1e-8


def _locate(curve: _EquilibriumCurve, cont, a: CurvePoint, b: CurvePoint, kind: str,
            point_at) -> tuple[SpecialPoint, CurvePoint] | None:
    pr, opts, n, k = curve.pr, curve.opts, curve.n, curve.k
    if kind == "complex":
        return _locate_hopf(curve, cont, a, b)
    if kind == "multiple":
        u, _ = _interp(a, b, False)
        pt = _located_point(curve, cont, a, u)
        return (SpecialPoint("BP", -1, u[:n].copy(), curve.p_of(u), (k,), False,
                             {"tangent": pt.tangent}, "several eigenvalues crossed; "
                             "not resolved"), pt)
    # a fold: the parameter component of the tangent changes sign, or vanishes at one end
    # (a fold at the start point, where the count there is ambiguous)
    tiny = 1e-8 * max(1.0, float(np.max(np.abs(a.tangent))))
    fold = a.tangent[n] * b.tangent[n] < 0 or min(abs(a.tangent[n]), abs(b.tangent[n])) < tiny
    if fold:
        near = _closer(a, b, False)
        u0, _ = _interp(a, b, False)
        located = False
        info: dict = {"locator": "none", "residual": float("nan"), "iterations": 0}
        if opts.locate:
            try:
                fs = FoldSystem(pr, [k], u0[:n], curve.p_of(u0), curve.Jx(near.jacobian))
                z, ok, it, res = newton(fs.G, fs.dG, u0, tol=opts.locate_tol,
                                        max_iter=opts.newton_max_iter + 5)
                if ok and _within(z, a, b):
                    u0, located = z, True
                    info = {"locator": "newton", "residual": float(res), "iterations": it}
            except (np.linalg.LinAlgError, ValueError):
                pass
            if not located:  # fallback: zero of the parameter component of the tangent
                def val(s):
                    pt = point_at(s)
                    return None if pt is None else (float(pt.tangent[n]), pt)
                s, pt, ok = locate_zero(val, a.s, b.s, a.tangent[n], b.tangent[n],
                                        tol=opts.locate_tol)
                if pt is not None:
                    u0, located = pt.u, ok
                    info = {"locator": "regula_falsi" if ok else "none",
                            "residual": float(np.max(np.abs(curve.G(pt.u)))), "iterations": 0}
        pt = _located_point(curve, cont, a, u0)
        x, p = u0[:n], curve.p_of(u0)
        J = curve.Jx(pt.jacobian)
        data: dict = {"tangent": pt.tangent, **info}
        try:
            q, pa = critical_eigenvectors(J, 0.0)
            forms = pr.directional(x, p)
            data.update(q=q, p_adj=pa, eigenvalue=complex(pt.critical()),
                        a=fold_coefficient(None, x, q, pa, forms=forms),
                        derivatives=forms.kind_used(2), derivative_error=forms.error)
        except (np.linalg.LinAlgError, ValueError):
            pass
        return SpecialPoint("LP", -1, x.copy(), p, (k,), located, data), pt
    return _locate_bp(curve, cont, a, b, point_at)


def _bp_test(curve: _EquilibriumCurve, cont, t_ref: np.ndarray, bvec, cvec):
    """Smooth branch-point test: last entry of the bordered solve with [[G_u], [t_ref^T]]."""
    m = curve.n + 1
    rhs = np.zeros(m + 1)
    rhs[-1] = 1.0

    def tau(J) -> float:
        Aext = bordered(J, None, cont.weights * t_ref)
        return float(Factorization(bordered(Aext, bvec, cvec)).solve(rhs)[-1])
    return tau


#: Branch-point locators tried in order ("newton": minimally augmented BP system,
#: "regula_falsi": Illinois on the bordered test function).  A module attribute so that
#: tests and benchmarks can compare the two.
BP_LOCATORS: tuple[str, ...] = ("newton", "regula_falsi")


def _locate_bp(curve, cont, a: CurvePoint, b: CurvePoint, point_at):
    """Branch point between a and b: Newton on :class:`BranchPointSystem` from the secant
    zero of the bordered test function, with regula falsi on that test as the fallback.
    ``data`` records the ``locator`` that succeeded ("newton", "regula_falsi" or "none"),
    its ``residual`` (max-norm of the system it solved: [G + beta psi; g1; g2] for Newton,
    G at the corrected curve point for regula falsi), ``iterations`` and ``test_value``."""
    n, k, opts = curve.n, curve.k, curve.opts
    near = _closer(a, b, False)
    located = False
    u_star = near.u
    tangent = a.tangent if a.s <= b.s else b.tangent
    info: dict = {"locator": "none", "residual": float("nan"), "iterations": 0}
    tau = None
    try:
        Aext = bordered(near.jacobian, None, cont.weights * a.tangent)
        qv, pv = critical_eigenvectors(Aext, 0.0)
        tau = _bp_test(curve, cont, a.tangent, pv / np.linalg.norm(pv), qv / np.linalg.norm(qv))
        fa, fb = tau(a.jacobian), tau(b.jacobian)
    except (np.linalg.LinAlgError, ValueError):
        fa = fb = float("nan")
    for method in (opts.locators or BP_LOCATORS) if opts.locate else ():
        if method == "newton":
            th = fa / (fa - fb) if np.isfinite(fa) and np.isfinite(fb) and fa != fb else 0.5
            u0 = a.u + float(np.clip(th, 0.0, 1.0)) * (b.u - a.u)
            try:
                bps = BranchPointSystem.from_tangent(curve.G, curve.dG, u0, tangent)
                u, beta, ok, it, res = bps.locate(u0, tol=min(opts.locate_tol, 1e-10),
                                                  max_iter=opts.newton_max_iter + 10)
                beta_tol = 10 * max(opts.newton_tol, opts.locate_tol)
                if ok and abs(beta) <= beta_tol and _within(u, a, b):
                    V = bps._solve(u)["V"]
                    t_null = V @ np.linalg.lstsq(V, tangent, rcond=None)[0]
                    if np.linalg.norm(t_null) > 0.5:  # the tangent is in null(G_u) at u
                        tangent = t_null / np.linalg.norm(t_null)
                    u_star, located = u, True
                    info = {"locator": "newton", "residual": float(res), "iterations": it,
                            "beta": beta}
            except (np.linalg.LinAlgError, ValueError):
                pass
        elif method == "regula_falsi" and tau is not None:
            def val(s):
                pt = point_at(s)
                return None if pt is None else (tau(pt.jacobian), pt)
            try:
                s, pt, ok = locate_zero(val, a.s, b.s, fa, fb, tol=opts.locate_tol)
            except (np.linalg.LinAlgError, ValueError):
                pt, ok = None, False
            if pt is not None:
                u_star, located = pt.u, ok
                info = {"locator": "regula_falsi" if ok else "none",
                        "residual": float(np.max(np.abs(curve.G(pt.u)))), "iterations": 0}
        elif method not in ("newton", "regula_falsi"):
            raise ValueError(f"unknown branch-point locator {method!r}")
        if located:
            break
    pt = _located_point(curve, cont, a, u_star, t=tangent)
    data = {"tangent": pt.tangent, "eigenvalue": complex(pt.critical()), **info}
    if tau is not None:
        try:
            data["test_value"] = float(tau(pt.jacobian))
        except (np.linalg.LinAlgError, ValueError):
            pass
    return SpecialPoint("BP", -1, u_star[:n].copy(), curve.p_of(u_star), (k,), located, data), pt


def _locate_hopf(curve, cont, a: CurvePoint, b: CurvePoint, guess=None):
    """Hopf point between a and b by Newton on the Hopf system from ``guess`` = (u0, omega0)
    (default: the secant guess of the critical eigenvalue)."""
    pr, opts, n, k = curve.pr, curve.opts, curve.n, curve.k
    near = _closer(a, b, True)
    u0, om0 = _interp(a, b, True) if guess is None else guess
    located = False
    data: dict = {"locator": "none", "residual": float("nan"), "iterations": 0}
    z = None
    if opts.locate:
        try:
            J0 = curve.Jx(near.jacobian if guess is None else curve.dG(u0))
            hs = HopfSystem(pr, [k], u0[:n], curve.p_of(u0), om0, J0)
            z0 = np.r_[u0, om0]
            z, ok, it, res = newton(hs.G, hs.dG, z0, tol=opts.locate_tol,
                                    max_iter=opts.newton_max_iter + 10)
            if ok and _within(z[:-1], a, b) and abs(z[-1]) > 1e-10:
                located = True
                data.update(locator="newton", residual=float(res), iterations=it)
                u0 = z[:-1]
                if z[-1] < 0:
                    z[-1] = -z[-1]
            else:
                z = None
        except (np.linalg.LinAlgError, ValueError):
            z = None
    pt = _located_point(curve, cont, a, u0)
    x, p = u0[:n].copy(), curve.p_of(u0)
    J = curve.Jx(pt.jacobian)
    if z is not None:
        omega = float(z[-1])
    else:
        crit = pt.eig[np.abs(pt.eig.imag) > 1e-8]
        omega = float(abs(crit[np.argmin(np.abs(crit.real))].imag)) if crit.size else om0
    data["omega"] = omega
    data["eigenvalue"] = complex(pt.critical())
    try:
        q, pa = critical_eigenvectors(J, 1j * omega)
        data.update(q=q, p_adj=pa)
        data["l1"] = None
        if opts.compute_l1:
            forms = pr.directional(x, p)
            data["l1"] = first_lyapunov(None, x, J, omega, q, pa, forms=forms)
            data["derivatives"] = forms.kind_used(3)
            data["derivative_error"] = forms.error
            data["criticality"] = ("supercritical" if data["l1"] < 0 else "subcritical")
        data["dre_dp"] = _transversality(pr, x, p, k, J, q, pa)
    except (np.linalg.LinAlgError, ValueError):
        pass
    data["tangent"] = pt.tangent
    why = ""
    if not located:
        why = ("not located: Newton on the Hopf system did not converge inside the step"
               if opts.locate else "not located (locate=False)")
        data["unconfirmed"] = why
    return SpecialPoint("H", -1, x, p, (k,), located, data,
                        f"unconfirmed: {why}" if why else ""), pt


def _transversality(pr: ODEProblem, x, p, k, J, q, pa) -> float:
    """d Re(lambda) / d p along the equilibrium branch at a Hopf point."""
    fp = pr.jac_p(x, p, [k])[:, 0]
    xp = -Factorization(J).solve(fp)
    h = np.finfo(float).eps ** (1 / 3) * max(1.0, float(np.linalg.norm(np.r_[x, p[k]])))
    pp, pm = p.copy(), p.copy()
    pp[k] += h
    pm[k] -= h
    dJ = (pr.jac_x(x + h * xp, pp) - pr.jac_x(x - h * xp, pm)) / (2 * h)
    return float(np.real(np.vdot(pa, dJ @ q)))


# ----------------------------------------------------------------------------- helpers
def hopf_data(branch: Branch, point: SpecialPoint | int) -> HopfData:
    """Deprecated: use ``HopfData.at(branch, point)`` (``point`` an index into
    ``branch.special_points``), or ``continue_cycles(branch, point)`` to start cycles.

    ``point`` is a special point of type 'H' or its position among ``branch.points('H')``.
    """
    import warnings

    warnings.warn("hopf_data(branch, i) is deprecated: use HopfData.at(branch, point) or "
                  "continue_cycles(branch, point, options)", DeprecationWarning, stacklevel=2)
    if isinstance(point, int | np.integer) and not isinstance(point, bool):
        hopfs = branch.points("H")
        if not -len(hopfs) <= int(point) < len(hopfs):
            raise ValueError(f"point = {int(point)} is out of range: the branch has "
                             f"{len(hopfs)} Hopf point(s) (type 'H')")
        point = hopfs[int(point)]
    return HopfData.at(branch, point)


def switch_branch(branch: Branch, point: SpecialPoint | int,
                  options: ContinuationOptions | None = None, *, name: str = "") -> Branch:
    """Start the other branch through a branch point (explicit branch switching); returns a
    Branch of kind 'EP'.

    ``point`` is a 'BP' SpecialPoint or an index into ``branch.special_points``.  The two
    tangents at the branch point solve the algebraic branching equation
    ``<psi, G_uu[a phi1 + b phi2]^2> = 0`` (``phi1`` the known tangent, ``phi2`` the second
    null vector of G_u, ``psi`` the left null vector; second derivatives by finite
    differences); the root farther from ``phi1`` gives the new branch.  ``options.direction``
    (+1/-1) picks its side along the parameter (along its largest state component if the new
    branch leaves vertically, as at a pitchfork); ``options.both_sides`` continues both sides
    and merges.
    """
    point = branch.point(point, "BP")
    if branch.problem is None:
        raise ValueError("the branch carries no problem: load it with "
                         "load_branch(path, problem=...)")
    pr: ODEProblem = branch.problem
    opts = options or branch.options or ContinuationOptions()
    if opts.both_sides:
        one = opts.with_(both_sides=False)
        fwd = switch_branch(branch, point, one, name=name)
        back = switch_branch(branch, point, one.with_(direction=-opts.direction), name=name)
        out = merge_sides(back, fwd) if opts.direction > 0 else merge_sides(fwd, back)
        out.options = opts
        return out
    curve = _EquilibriumCurve(pr, opts, point.p)
    n = pr.n
    u_star = np.r_[point.x, point.p[pr.param]]
    Gu = curve.dG(u_star)
    phi1 = np.asarray(point.data.get("tangent"), dtype=float)
    phi1 = phi1 / np.linalg.norm(phi1)
    M = bordered(Gu, None, phi1)
    phi2, ext_left = critical_eigenvectors(M, 0.0)
    phi2 = phi2 - (phi2 @ phi1) * phi1
    phi2 /= np.linalg.norm(phi2)
    psi = ext_left[:n] / np.linalg.norm(ext_left[:n])
    a = float(psi @ multilinear_B(curve.G, u_star, phi1, phi1))
    b = float(psi @ multilinear_B(curve.G, u_star, phi1, phi2))
    c = float(psi @ multilinear_B(curve.G, u_star, phi2, phi2))
    # Q(th) = a cos^2 + 2 b cos sin + c sin^2 = (a+c)/2 + R cos(2 th - phi)
    R = np.hypot(0.5 * (a - c), b)
    if R < 1e-14 * (abs(a) + abs(b) + abs(c) + 1e-300):
        th = 0.5 * np.pi
    else:
        phi = np.arctan2(b, 0.5 * (a - c))
        arg = float(np.clip(-(a + c) / (2 * R), -1.0, 1.0))
        roots = [0.5 * (phi + np.arccos(arg)), 0.5 * (phi - np.arccos(arg))]
        th = max(roots, key=lambda r: abs(np.sin(r)))
    d = np.cos(th) * phi1 + np.sin(th) * phi2
    d /= np.linalg.norm(d)
    # side: along the parameter; on a branch that leaves vertically (d[n] ~ 0, a pitchfork)
    # along its largest state component
    side = d[n] if abs(d[n]) > 1e-8 else d[int(np.argmax(np.abs(d[:n])))]
    if side * opts.direction < 0:
        d = -d
    # first point on the new branch: Newton on [G; d.(u - u*) = ds]
    ds = opts.ds
    w = np.ones(n + 1)
    cont = ArclengthContinuation(curve.G, u_star, curve.dG, tangent=d, ds=ds,
                                 newton_tol=opts.newton_tol,
                                 newton_max_iter=opts.newton_max_iter, weights=w,
                                 correct_initial=False, direction_index=n,
                                 direction=1 if d[n] >= 0 else -1)
    u1, ok, _, _, J1 = cont.correct(u_star + ds * d, d, float(d @ u_star) + ds)
    if not ok:
        raise RuntimeError("branch switching failed: Newton did not converge on the new branch")
    t1 = cont.tangent_at(u1, J1, d)
    new_opts = opts.with_(direction=1 if t1[n] >= 0 else -1, both_sides=False)
    out = continue_equilibria(pr, new_opts, x0=u1[:n], p0=curve.p_of(u1), tangent=t1,
                              name=name or f"{branch.name}-switched")
    out.info["switched_from"] = np.r_[u_star]
    return out
