"""Continuation of periodic orbits by collocation: start from Hopf points or simulations,
pseudo-arclength steps with mesh adaptation, Floquet multipliers, LPC/PD/NS detection and
location, branch switching at period doublings, and termination at Hopf points.

The predictor-corrector loop is implemented here (not the generic core in
``bifsnn.continuation.arclength``) because the unknown vector changes meaning when the mesh is
adapted between steps and the bordered Newton system must stay a single sparse matrix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.integrate import solve_ivp

from .collocation import (
    Collocation,
    CycleSolution,
    FloquetResult,
    NodeValues,
    floquet_from_jacobian,
    sparse_lu,
)
from .mesh import (
    adapt_mesh,
    check_mesh_args,
    evaluate,
    interpolate_to_mesh,
    node_times,
    uniform_mesh,
)
from .system import CycleSystem, as_cycle_system

__all__ = [
    "CycleOptions",
    "CyclePoint",
    "CycleSpecialPoint",
    "CycleBranch",
    "CycleStart",
    "continue_cycles",
    "cycle_from_hopf",
    "cycle_from_hopf_data",
    "cycle_from_trajectory",
    "cycle_from_simulation",
    "detect_period",
    "switch_at_pd",
    "solve_cycle",
]


# ---------------------------------------------------------------------------------- options
@dataclass
class CycleOptions:
    """Options of cycle continuation (step sizes are in the weighted arclength norm)."""

    ds: float = 0.05
    ds_min: float = 1e-7
    ds_max: float = 1.0
    max_steps: int = 200
    p_min: float = -math.inf
    p_max: float = math.inf
    T_max: float = math.inf
    ntst: int = 40
    ncol: int = 4
    newton_tol: float = 1e-9
    newton_max_iter: int = 8
    adapt_every: int = 1  # adapt mesh every k accepted steps (0: never)
    floquet: bool = True
    detect: tuple[str, ...] = ("LPC", "PD", "NS")
    locate: bool = True
    locate_max_iter: int = 12
    amp_min: float = 1e-8  # below this amplitude the branch is taken to have reached a Hopf point
    weight_T: float = 1.0
    weight_p: float = 1.0
    # The state part of the arclength norm is (int |u - u_prev|^2 dt)^(1/2) / state_scale.
    # None: max(1, RMS of the start cycle's node values), so that ds is relative to the size
    # of the state (the reduced neuron model has |x| ~ 1e3, where an absolute norm would let
    # the parameter barely move).
    state_scale: float | None = None
    # "builtin" (default): this module's corrector; reuses the last Newton factorisation for
    # the tangent and orders SuperLU with MMD_AT_PLUS_A. "core": steps by the shared
    # bifsnn.continuation.arclength.ArclengthContinuation, same numbers but one more LU and
    # Jacobian per step and SuperLU's default COLAMD ordering, which on the 148-variable
    # reduced neuron model fills 27x more (2.5e8 vs 9.3e6 nonzeros, 22 s vs 0.9 s per LU).
    engine: str = "builtin"
    # Builtin corrector: chord Newton (one LU per step while the corrections contract fast,
    # refactorised otherwise; the tangent reuses that LU). False: full Newton.
    newton_chord: bool = True
    # With an analytic dense df/dx and n >= 20, detect its sparsity pattern from the nodes of
    # the start cycle (union over all nodes, re-checked at every mesh adaptation). Fewer
    # nonzeros make the collocation Jacobian and its LU several times cheaper.
    detect_sparsity: bool = True

    def validate(self) -> None:
        check_mesh_args(self.ntst, self.ncol)
        for name in ("ds_min", "ds_max", "newton_tol"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.state_scale is not None and not self.state_scale > 0:
            raise ValueError(f"state_scale must be None or > 0, got {self.state_scale}")
        if not (self.ds != 0 and abs(self.ds) <= self.ds_max):
            raise ValueError(f"ds must be nonzero with |ds| <= ds_max, got {self.ds}")
        if not (isinstance(self.max_steps, int) and self.max_steps >= 1):
            raise ValueError(f"max_steps must be an integer >= 1, got {self.max_steps}")
        if not self.p_min < self.p_max:
            raise ValueError(f"need p_min < p_max, got {self.p_min}, {self.p_max}")
        if self.engine not in ("core", "builtin"):
            raise ValueError(f"engine must be 'core' or 'builtin', got {self.engine!r}")
        bad = set(self.detect) - {"LPC", "PD", "NS"}
        if bad:
            raise ValueError(f"detect may contain 'LPC', 'PD', 'NS'; got {sorted(bad)}")


# ---------------------------------------------------------------------------------- results
@dataclass
class CyclePoint(NodeValues):
    """One converged cycle on the branch."""

    p: float
    T: float
    tm: np.ndarray
    ncol: int
    U: np.ndarray  # node values (ntst*ncol+1, n), normalised time node_times(tm, ncol)
    multipliers: np.ndarray | None = None
    trivial_error: float = float("nan")
    amplitude: float = float("nan")  # L2 norm of u - mean over the period
    newton_iterations: int = 0
    ds: float = float("nan")

    @property
    def stable(self) -> bool | None:
        """True if all nontrivial multipliers lie inside the unit circle."""
        if self.multipliers is None:
            return None
        mu = np.delete(self.multipliers, np.argmin(np.abs(self.multipliers - 1.0)))
        return bool(np.all(np.abs(mu) < 1.0))

    def solution(self) -> CycleSolution:
        return CycleSolution(self.tm, self.ncol, self.U, self.T, self.p)


@dataclass
class CycleSpecialPoint:
    """Special point: kind in {'LPC', 'PD', 'NS', 'H' (branch ended at a Hopf point)}."""

    kind: str
    index: int  # index into CycleBranch.points
    p: float
    T: float
    multipliers: np.ndarray | None
    located: bool
    info: dict = field(default_factory=dict)

    @property
    def type(self) -> str:
        """Alias of ``kind`` (the plotting interface labels points by ``.type``)."""
        return self.kind


@dataclass
class CycleBranch:
    """A continued branch of periodic orbits (duck-types as a cycle branch for plotting)."""

    points: list[CyclePoint]
    special_points: list[CycleSpecialPoint]
    success: bool
    message: str
    n: int
    options: CycleOptions
    kind: str = "cycle"
    extra: dict = field(default_factory=dict)
    name: str = "cycles"

    def __len__(self) -> int:
        return len(self.points)

    @property
    def p(self) -> np.ndarray:
        """Continuation parameter value of every point."""
        return np.array([pt.p for pt in self.points])

    @property
    def param_values(self) -> np.ndarray:
        """Same as ``p`` (name used by bifsnn.continuation.plots)."""
        return self.p

    @property
    def period(self) -> np.ndarray:
        return np.array([pt.T for pt in self.points])

    @property
    def x_min(self) -> np.ndarray:
        """(npoints, n) minimum of each component over the cycle."""
        return np.array([pt.x_min for pt in self.points]).reshape(len(self.points), self.n)

    @property
    def x_max(self) -> np.ndarray:
        return np.array([pt.x_max for pt in self.points]).reshape(len(self.points), self.n)

    @property
    def amplitude(self) -> np.ndarray:
        return np.array([pt.amplitude for pt in self.points])

    @property
    def stable(self) -> np.ndarray:
        return np.array([bool(pt.stable) if pt.stable is not None else False for pt in self.points])

    @property
    def multipliers(self) -> list[np.ndarray | None]:
        return [pt.multipliers for pt in self.points]

    def special(self, kind: str) -> list[CycleSpecialPoint]:
        return [s for s in self.special_points if s.kind == kind]


@dataclass
class CycleStart:
    """Starting data for continue_cycles: a (possibly degenerate) cycle and optional tangent."""

    tm: np.ndarray
    ncol: int
    U: np.ndarray
    T: float
    p: float
    tangent: np.ndarray | None = None  # (U-part flattened, T, p) on this mesh
    info: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------- helpers
def _amplitude(U: np.ndarray, w: np.ndarray) -> float:
    mean = w @ U
    return float(np.sqrt(np.sum(w[:, None] * (U - mean) ** 2)))


def _weights(coll: Collocation, opts: CycleOptions, scale: float = 1.0) -> np.ndarray:
    wu = np.repeat(coll.wnode, coll.n) / scale**2
    return np.concatenate([wu, [opts.weight_T, opts.weight_p]])


def _pack(U: np.ndarray, T: float, p: float) -> np.ndarray:
    return np.concatenate([U.ravel(), [T, p]])


def _unpack(X: np.ndarray, coll: Collocation) -> tuple[np.ndarray, float, float]:
    return X[: coll.nU].reshape(coll.nnodes, coll.n), float(X[coll.nU]), float(X[coll.nU + 1])


def _damp_ds(coll: Collocation, U: np.ndarray, amp: float, tau: np.ndarray) -> float:
    """Derivative of the amplitude along the (W-normalised) tangent tau."""
    tu = tau[: coll.nU].reshape(coll.nnodes, coll.n)
    return float(np.sum(coll.wnode[:, None] * (U - coll.wnode @ U) * tu)) / max(amp, 1e-300)


def _nontrivial(mu: np.ndarray) -> np.ndarray:
    return np.delete(mu, np.argmin(np.abs(mu - 1.0)))


def _counts(mu: np.ndarray) -> dict[str, int]:
    """Counts whose change signals PD (real < -1) and NS (complex outside unit circle)."""
    m = _nontrivial(mu)
    real = np.abs(m.imag) <= 1e-7 * np.maximum(1.0, np.abs(m))
    return {
        "PD": int(np.sum(real & (m.real < -1.0))),
        "NS": int(np.sum(~real & (np.abs(m) > 1.0))),
    }


def _test_value(kind: str, mu: np.ndarray | None, tangent: np.ndarray) -> float:
    if kind == "LPC":
        return float(tangent[-1])
    m = _nontrivial(mu)
    if kind == "PD":
        k = np.argmin(np.abs(m + 1.0))
        return float(m[k].real + 1.0)
    cplx = np.abs(m.imag) > 1e-7 * np.maximum(1.0, np.abs(m))
    if not np.any(cplx):
        return float("nan")
    mc = m[cplx]
    k = np.argmin(np.abs(np.abs(mc) - 1.0))
    return float(np.abs(mc[k]) - 1.0)


class _Stepper:
    """Corrector and tangent solves on a fixed mesh."""

    def __init__(self, system: CycleSystem, tm: np.ndarray, opts: CycleOptions,
                 scale: float = 1.0) -> None:
        self.coll = Collocation(system, tm, opts.ncol)
        self.opts = opts
        self.scale = scale
        self.W = _weights(self.coll, opts, scale)

    def tangent(self, X: np.ndarray, tau_prev: np.ndarray, Fref: np.ndarray, A=None, lu=None):
        """Unit tangent (W-norm) oriented along tau_prev; reuses a factorisation if given."""
        if lu is None:
            U, T, p = _unpack(X, self.coll)
            A = self.coll.jacobian(U, T, p, Fref, with_p=True, border_row=self.W * tau_prev)
            lu = sparse_lu(A)
        rhs = np.zeros(A.shape[0])
        rhs[-1] = 1.0
        z = lu.solve(rhs)
        z /= math.sqrt(float(np.sum(self.W * z * z)))
        if np.sum(self.W * z * tau_prev) < 0:
            z = -z
        return z, A

    def correct(self, Xpred: np.ndarray, X0: np.ndarray, tau: np.ndarray, ds: float,
                Fref: np.ndarray | None = None, chord: bool | None = None, factor=None):
        """Newton on [G(X); <W tau, X - X0> - ds] = 0 with the phase reference at X0.

        With ``chord`` (default ``opts.newton_chord``) the Jacobian is factorised at the
        predictor and reused while the corrections contract by at least a factor 3 per
        iteration, and refactorised otherwise: on large systems one LU costs as much as
        ~30 solves. Convergence is judged on the correction size as for full Newton, so the
        accepted point satisfies the same tolerance. ``self.factorizations`` counts LUs.
        ``factor``: an (A, lu) pair of this mesh and bordering row (e.g. from a nearby point)
        to start the chord iteration with.
        """
        coll = self.coll
        chord = self.opts.newton_chord if chord is None else chord
        U0, T0, p0 = _unpack(X0, coll)
        if Fref is None:
            Fref = coll.phase_reference(U0, T0, p0)
        X = Xpred.copy()
        Wt = self.W * tau
        max_iter = self.opts.newton_max_iter
        A, lu = factor if (chord and factor is not None) else (None, None)
        prev_step = math.inf
        self.factorizations = 0
        for it in range(1, max_iter + 1):
            U, T, p = _unpack(X, coll)
            r = np.append(coll.residual(U, T, p, U0, Fref), Wt @ (X - X0) - ds)
            if not np.all(np.isfinite(r)):
                return None, it, "NaN in residual"
            try:
                if lu is None or not chord:
                    A = coll.jacobian(U, T, p, Fref, with_p=True, border_row=Wt)
                    lu = sparse_lu(A)
                    self.factorizations += 1
                dx = lu.solve(-r)
            except RuntimeError as exc:
                return None, it, f"singular Jacobian ({exc})"
            if not np.all(np.isfinite(dx)):
                return None, it, "NaN in Newton step"
            step = float(np.max(np.abs(dx)))
            if chord and step > prev_step / 3.0:
                lu = None  # slow contraction: refactorise at the next iterate
            prev_step = step
            X = X + dx
            if X[coll.nU] <= 0:
                return None, it, "period became non-positive"
            if step < self.opts.newton_tol * (1.0 + np.max(np.abs(X))):
                self.last_factor = (A, lu)
                return X, it, "converged"
        return None, max_iter, "Newton did not converge"


def _make_point(st: _Stepper, X: np.ndarray, fl: FloquetResult | None, it: int, ds: float):
    U, T, p = _unpack(X, st.coll)
    return CyclePoint(
        p=p,
        T=T,
        tm=st.coll.tm.copy(),
        ncol=st.coll.ncol,
        U=U.copy(),
        multipliers=None if fl is None else fl.multipliers,
        trivial_error=float("nan") if fl is None else fl.trivial_error,
        amplitude=_amplitude(U, st.coll.wnode),
        newton_iterations=it,
        ds=ds,
    )


# ---------------------------------------------------------------------------------- main loop
def continue_cycles(
    system: Any,
    start: CycleStart | CycleSolution | CyclePoint,
    options: CycleOptions | None = None,
    **kwargs: Any,
) -> CycleBranch:
    """Pseudo-arclength continuation of a branch of periodic orbits in the scalar parameter p.

    ``start`` is a converged cycle (CycleSolution/CyclePoint) or a CycleStart with a tangent
    (e.g. from ``cycle_from_hopf`` or ``switch_at_pd``). Without a tangent the branch starts in
    the direction of increasing p if ``options.ds > 0``, else decreasing p; for a start built
    from the Lyapunov coefficient (``cycle_from_hopf(..., l1=...)``) ds > 0 means away from
    the Hopf point. Keyword arguments
    override fields of ``options``. Never raises on numerical failure: the partial branch is
    returned with ``success=False`` and a message.
    """
    sysobj = as_cycle_system(system)
    opts = CycleOptions() if options is None else CycleOptions(**vars(options))
    for k, v in kwargs.items():
        if not hasattr(opts, k):
            raise TypeError(f"unknown option {k!r}")
        setattr(opts, k, v)
    opts.validate()
    direction = 1.0 if opts.ds > 0 else -1.0
    info = getattr(start, "info", {}) or {}
    if getattr(start, "tangent", None) is None and info.get("start") == "lyapunov":
        # a cycle started at a small distance from its Hopf point: ds > 0 means "away from
        # the Hopf point" (towards larger amplitude), ds < 0 back towards it
        direction *= float(np.sign(float(start.p) - float(info["hopf_p"]))) or 1.0
    ds = abs(opts.ds)

    # --- bring the start onto a mesh of the requested size and degree
    tm0, U0 = np.asarray(start.tm, float), np.asarray(start.U, float)
    if U0.ndim != 2 or U0.shape[1] != sysobj.n:
        raise ValueError(f"start.U must have shape (nodes, {sysobj.n}), got {U0.shape}")
    tangent0 = getattr(start, "tangent", None)
    if len(tm0) - 1 != opts.ntst or start.ncol != opts.ncol:
        tm = uniform_mesh(opts.ntst) if len(tm0) - 1 != opts.ntst else tm0
        U = interpolate_to_mesh(tm0, U0, start.ncol, tm, opts.ncol)
        if tangent0 is not None:
            n = sysobj.n
            tu = np.asarray(tangent0)[:-2].reshape(-1, n)
            tu = interpolate_to_mesh(tm0, tu, start.ncol, tm, opts.ncol)
            tangent0 = np.concatenate([tu.ravel(), np.asarray(tangent0)[-2:]])
    else:
        tm, U = tm0, U0
    if (opts.detect_sparsity and sysobj.dense_pattern and sysobj.dfdx_user is not None
            and sysobj.n >= 20):
        sysobj = sysobj.with_sparsity(sysobj.detect_sparsity(U, float(start.p)))
    if opts.state_scale is None:
        scale = max(1.0, float(np.sqrt(np.mean(U**2))))
    else:
        scale = float(opts.state_scale)
    st = _Stepper(sysobj, tm, opts, scale)
    X = _pack(U, float(start.T), float(start.p))
    points: list[CyclePoint] = []
    specials: list[CycleSpecialPoint] = []

    def finish(success: bool, message: str) -> CycleBranch:
        return CycleBranch(points, specials, success, message, sysobj.n, opts,
                           extra={"jac_nnz": sysobj.nnz, "pattern_widenings": n_widen})

    # --- initial tangent
    coll = st.coll
    Fref = coll.phase_reference(*_unpack(X, coll))
    degenerate = tangent0 is not None and _amplitude(U, coll.wnode) < 1e-12
    Fref_first = None
    try:
        if tangent0 is not None:
            # given tangent (Hopf or PD start) is used as is: at such points the Jacobian has
            # a two-dimensional kernel and a recomputed tangent would be arbitrary
            tau = np.asarray(tangent0, float) * direction
            tau /= math.sqrt(float(np.sum(st.W * tau * tau)))
            if degenerate:
                Fref_first = coll.node_derivative(tau[: coll.nU].reshape(coll.nnodes, coll.n))
                Fref_first /= math.sqrt(float(np.sum(coll.wnode[:, None] * Fref_first**2)))
        else:
            e_p = np.zeros_like(X)
            e_p[-1] = direction
            tau, _ = st.tangent(X, e_p, Fref)
    except RuntimeError as exc:
        return finish(False, f"could not compute the initial tangent: {exc}")
    if not degenerate:
        fl = coll.floquet(*_unpack(X, coll)) if opts.floquet else None
        points.append(_make_point(st, X, fl, 0, 0.0))
    else:
        fl = None
    prev_counts = _counts(fl.multipliers) if fl is not None else None
    prev_tau = tau
    amp_prev = _amplitude(U, coll.wnode)
    steps_since_adapt = 0
    n_widen = 0

    cont = _make_core(st, X, tau, Fref_first, ds, opts) if opts.engine == "core" else None

    for _step in range(opts.max_steps):
        coll = st.coll
        if cont is not None:
            # ---- one adaptive step of the shared pseudo-arclength engine
            res = cont.step()
            if not res.ok:
                if cont.status == "bound":
                    return finish(True, f"parameter left [{opts.p_min}, {opts.p_max}]")
                return finish(False, cont.message)
            Xnew, tau_new, A, it = res.u, res.tangent, res.jacobian, res.iterations
            ds_taken, ds = res.ds, cont.ds
            Unew, Tnew, pnew = _unpack(Xnew, coll)
        else:
            # ---- predictor / corrector with step halving
            while True:
                Xnew, it, msg = st.correct(X + ds * tau, X, tau, ds, Fref_first)
                if Xnew is not None:
                    break
                ds *= 0.5
                if ds < opts.ds_min:
                    return finish(False, f"step size below ds_min={opts.ds_min:g} ({msg})")
            ds_taken = ds
            Unew, Tnew, pnew = _unpack(Xnew, coll)
            Fref_new = coll.phase_reference(Unew, Tnew, pnew)
            try:
                # the factorisation of the corrector (same bordering row; with the chord
                # method taken at the predictor, O(ds^2) away) gives the tangent
                tau_new, A = st.tangent(Xnew, tau, Fref_new, *st.last_factor)
            except RuntimeError as exc:
                return finish(False, f"tangent solve failed: {exc}")
            if opts.floquet and (opts.newton_chord or A is None):
                # multipliers need the Jacobian at the converged point itself
                A = coll.jacobian(Unew, Tnew, pnew, Fref_new)
        fl_new = floquet_from_jacobian(A, coll) if opts.floquet else None
        amp_new = _amplitude(Unew, coll.wnode)

        # ---- reached a Hopf point? (amplitude shrinking through zero)
        dAds = _damp_ds(coll, Unew, amp_new, tau_new)
        hopf_end = amp_new < opts.amp_min or (
            amp_new < amp_prev and dAds < 0 and amp_new + ds * dAds <= 0.25 * amp_new)
        if hopf_end and cont is None and opts.newton_chord:
            # the chord tangent is O(ds^2) off; the extrapolation to zero amplitude needs the
            # exact one (one more LU, only here)
            try:
                tau_new, _ = st.tangent(Xnew, tau, Fref_new)
            except RuntimeError as exc:
                return finish(False, f"tangent solve failed: {exc}")
            dAds = _damp_ds(coll, Unew, amp_new, tau_new)
        if hopf_end:
            dpdA = tau_new[-1] / dAds if dAds != 0 else 0.0
            dTdA = tau_new[-2] / dAds if dAds != 0 else 0.0
            pH = pnew - 0.5 * amp_new * dpdA
            TH = Tnew - 0.5 * amp_new * dTdA
            points.append(_make_point(st, Xnew, fl_new, it, ds_taken))
            specials.append(
                CycleSpecialPoint(
                    "H", len(points) - 1, pH, TH, None, False,
                    {"amplitude": amp_new, "omega": 2 * math.pi / TH},
                )
            )
            return finish(True, f"branch reached a Hopf point near p={pH:.8g} (zero amplitude)")

        # ---- detection of special points between X and Xnew
        found: list[tuple[str, float]] = []
        if "LPC" in opts.detect and prev_tau[-1] * tau_new[-1] < 0 and len(points) > 0:
            found.append(("LPC", 0.0))
        if fl_new is not None and prev_counts is not None:
            cnt = _counts(fl_new.multipliers)
            for kind in ("PD", "NS"):
                if kind in opts.detect and cnt[kind] != prev_counts[kind]:
                    found.append((kind, 0.0))
            prev_counts = cnt
        elif fl_new is not None:
            prev_counts = _counts(fl_new.multipliers)
        for kind, _ in found:
            ends = ((X, fl, tau), (Xnew, fl_new, tau_new))
            sp_pt = _locate(st, kind, X, tau, ds_taken, Xnew, opts, ends) if opts.locate else None
            if sp_pt is not None:
                Xs, fls, taus, ok = sp_pt
                points.append(_make_point(st, Xs, fls, 0, float("nan")))
                specials.append(
                    CycleSpecialPoint(
                        kind, len(points) - 1, float(Xs[-1]), float(Xs[-2]),
                        None if fls is None else fls.multipliers, ok,
                        {"test": _test_value(kind, None if fls is None else fls.multipliers,
                                             taus)},
                    )
                )
            else:
                points.append(_make_point(st, Xnew, fl_new, it, ds_taken))
                specials.append(
                    CycleSpecialPoint(
                        kind, len(points) - 1, pnew, Tnew,
                        None if fl_new is None else fl_new.multipliers, False,
                    )
                )
        points.append(_make_point(st, Xnew, fl_new, it, ds_taken))
        X, tau, prev_tau, amp_prev, fl = Xnew, tau_new, tau_new, amp_new, fl_new
        Fref_first = None

        # ---- stopping criteria
        if not (opts.p_min <= pnew <= opts.p_max):
            return finish(True, f"parameter left [{opts.p_min}, {opts.p_max}]")
        if Tnew > opts.T_max:
            return finish(True, f"period {Tnew:g} exceeds T_max={opts.T_max:g}")

        # ---- step size control (the core engine does its own)
        if cont is None:
            nfac = getattr(st, "factorizations", it)
            if opts.newton_chord:
                fast, slow = (it <= 4 and nfac <= 1), (it >= 7 or nfac >= 3)
            else:
                fast, slow = it <= 3, it >= 6
            if fast:
                ds = min(ds * 1.5, opts.ds_max)
            elif slow:
                ds = max(ds * 0.6, opts.ds_min)

        # ---- mesh adaptation (interpolate solution and tangent onto the new mesh)
        steps_since_adapt += 1
        if opts.adapt_every and steps_since_adapt >= opts.adapt_every:
            steps_since_adapt = 0
            U, T, p = _unpack(X, st.coll)
            tm_new, U_new = adapt_mesh(st.coll.tm, U, opts.ncol)
            tu = tau[: st.coll.nU].reshape(st.coll.nnodes, st.coll.n)
            tu_new = interpolate_to_mesh(st.coll.tm, tu, opts.ncol, tm_new, opts.ncol)
            if opts.detect_sparsity and not sysobj.dense_pattern and sysobj.dfdx_user is not None:
                pat = sysobj.detect_sparsity(U, p)
                if pat.sum() > sysobj.nnz:
                    # new couplings appeared: widen the pattern, including those at the states
                    # predicted 2, 4 and 8 steps ahead, so that it changes rarely (every new
                    # pattern costs a new fill-reducing ordering and structure)
                    tu_old = tau[: st.coll.nU].reshape(st.coll.nnodes, st.coll.n)
                    ahead = np.vstack([U + k * ds * tu_old for k in (2, 4, 8)])
                    pat |= sysobj.detect_sparsity(ahead[np.all(np.isfinite(ahead), axis=1)], p)
                    sysobj = sysobj.with_sparsity(pat)
                    n_widen += 1
            st = _Stepper(sysobj, tm_new, opts, scale)
            X = _pack(U_new, T, p)
            tau = np.concatenate([tu_new.ravel(), tau[-2:]])
            tau /= math.sqrt(float(np.sum(st.W * tau * tau)))
            prev_tau = tau
        if cont is not None:
            # new phase reference (and mesh) for the next step
            G, dG = _core_functions(st, X, None)
            cont.replace(G=G, dG=dG, u=X, tangent=tau, weights=st.W)
    return finish(False, f"max_steps={opts.max_steps} reached")


def _core_functions(st: _Stepper, Xref: np.ndarray, Fref: np.ndarray | None):
    """Residual G(X) and sparse dG(X) (collocation, periodicity, phase w.r.t. Xref)."""
    coll = st.coll
    Uref, Tref, pref = _unpack(Xref, coll)
    Uref = Uref.copy()
    if Fref is None:
        Fref = coll.phase_reference(Uref, Tref, pref)

    def G(X: np.ndarray) -> np.ndarray:
        U, T, p = _unpack(X, coll)
        return coll.residual(U, T, p, Uref, Fref)

    def dG(X: np.ndarray):
        U, T, p = _unpack(X, coll)
        return coll.jacobian(U, T, p, Fref, with_p=True)

    return G, dG


def _make_core(st: _Stepper, X: np.ndarray, tau: np.ndarray, Fref: np.ndarray | None,
               ds: float, opts: CycleOptions):
    from bifsnn.continuation.arclength import ArclengthContinuation

    G, dG = _core_functions(st, X, Fref)
    return ArclengthContinuation(
        G, X, dG=dG, tangent=tau, ds=ds, ds_min=opts.ds_min, ds_max=opts.ds_max,
        max_steps=opts.max_steps + 1, newton_tol=opts.newton_tol,
        newton_max_iter=opts.newton_max_iter, direction=1 if tau[-1] >= 0 else -1,
        direction_index=-1, weights=st.W, correct_initial=False,
        bounds={X.size - 1: (opts.p_min, opts.p_max)},
    )


def _locate(st: _Stepper, kind: str, X0: np.ndarray, tau0: np.ndarray, ds: float,
            X1: np.ndarray, opts: CycleOptions, ends=None):
    """Locate a zero of the test function between s=0 (X0) and s=ds by the Illinois method.

    ``ends``: optional ((X0, floquet0, tangent0), (X1, floquet1, tangent1)) already computed
    by the caller on the current mesh, so the bracket ends are not recomputed. Inner points
    are corrected to the usual tolerance; the tangent (one more LU) is computed only for LPC
    (its test function) and the multipliers only for PD/NS (and at the returned point).
    """
    coll = st.coll

    last = {"factor": None}

    def evaluate(s: float):
        # all evaluations share the mesh and bordering row: the chord LU of the previous one
        # (a nearby point) starts the next; it is refactorised if convergence is slow
        Xs, _, _ = st.correct(X0 + s * tau0, X0, tau0, s, factor=last["factor"])
        if Xs is None:
            Xs, _, _ = st.correct(X0 + s * tau0, X0, tau0, s)
        if Xs is None:
            return None
        last["factor"] = st.last_factor
        Us, Ts, ps = _unpack(Xs, coll)
        Fr = coll.phase_reference(Us, Ts, ps)
        if kind == "LPC":
            # the test function is the tangent itself: from a factorisation at Xs, not the
            # chord one taken at the predictor
            factor = st.last_factor if st.factorizations and not st.opts.newton_chord else ()
            taus, _ = st.tangent(Xs, tau0, Fr, *factor)
            fl = None
        else:
            taus = None
            fl = floquet_from_jacobian(coll.jacobian(Us, Ts, ps, Fr), coll)
        return Xs, fl, taus, _test_value(kind, None if fl is None else fl.multipliers, taus)

    def known(e):
        Xe, fle, taue = e
        if Xe.shape != X0.shape or (kind != "LPC" and fle is None):
            return None
        return Xe, fle, taue, _test_value(kind, None if fle is None else fle.multipliers, taue)

    a, b = 0.0, ds
    ea = known(ends[0]) if ends is not None else None
    eb = known(ends[1]) if ends is not None else None
    ea = evaluate(a) if ea is None else ea
    eb = evaluate(b) if eb is None else eb
    if ea is None or eb is None or not np.isfinite(ea[3]) or not np.isfinite(eb[3]):
        return None
    fa, fb = ea[3], eb[3]
    if fa * fb > 0:
        return None
    best = ea if abs(fa) < abs(fb) else eb
    side = 0
    tol = 1e-9 if kind == "LPC" else 1e-8
    for _ in range(opts.locate_max_iter):
        c = b - fb * (b - a) / (fb - fa)
        if not (min(a, b) < c < max(a, b)):
            c = 0.5 * (a + b)
        ec = evaluate(c)
        if ec is None:
            break
        fc = ec[3]
        if abs(fc) < abs(best[3]):
            best = ec
        if abs(fc) < tol or abs(b - a) < 1e-10 * max(ds, 1e-12):
            break
        if fc * fb < 0:
            a, fa = b, fb
            b, fb = c, fc
            side = 0
        else:
            b, fb = c, fc
            if side == -1:
                fa *= 0.5
            side = -1
    Xs, fl, taus, val = best
    Us, Ts, ps = _unpack(Xs, coll)
    Fr = coll.phase_reference(Us, Ts, ps)
    if fl is None and opts.floquet:
        fl = floquet_from_jacobian(coll.jacobian(Us, Ts, ps, Fr), coll)
    return Xs, fl, taus, bool(abs(val) < 1e-5)


# ---------------------------------------------------------------------------------- starts
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
        coll = Collocation(sysobj, tm, ncol)
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
    dalpha_dp * dp; dp defaults to a small step on the side where the cycle exists.
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
            if dp is None:
                dp = 1e-3 * max(1.0, abs(p))
            dp = abs(dp) * (-np.sign(l1 * dalpha_dp))  # side where -alpha/l1 > 0
            w2 = -dalpha_dp * dp / (omega * l1)
            amp = 2.0 * math.sqrt(max(w2, 0.0))
            U = x[None, :] + amp * shape
            info.update({"l1": float(l1), "dalpha_dp": float(dalpha_dp), "amplitude_guess": amp})
            sol = solve_cycle(sysobj, tm, U, T, p + dp, ncol, adapt=1, floquet=False)
            if sol.success and _amplitude(sol.U, node_quad(tm, ncol)) > 0.1 * amp:
                info["start"] = "lyapunov"
                return CycleStart(sol.tm, ncol, sol.U, sol.T, p + dp, None, info)
            info["lyapunov_start_failed"] = sol.message
    U = np.repeat(x[None, :], len(t), axis=0)
    tangent = np.concatenate([shape.ravel(), [0.0, 0.0]])
    info["start"] = "eigenvector"
    return CycleStart(tm, ncol, U, T, float(p), tangent, info)


def cycle_from_hopf_data(
    problem: Any, hopf: Any, *, use_lyapunov: bool = True, dp: float | None = None,
    ntst: int = 40, ncol: int = 4,
) -> tuple[CycleSystem, CycleStart]:
    """Start at a Hopf point found by the equilibrium engine.

    ``problem`` is a ``bifsnn.continuation.ODEProblem`` (or anything ``as_cycle_system``
    accepts) and ``hopf`` a ``HopfData`` (attributes x, p (parameter vector), param, omega, q,
    l1, dre_dp), e.g. from ``bifsnn.continuation.hopf_data(branch, 0)``. Returns the cycle
    system (parameter vector fixed at the Hopf point, continued in ``hopf.param``) and the
    start for :func:`continue_cycles`.
    """
    params = np.asarray(hopf.p, dtype=float)
    sysobj = as_cycle_system(problem, params=params, ipar=int(hopf.param))
    p_star = float(params[int(hopf.param)])
    l1 = getattr(hopf, "l1", None) if use_lyapunov else None
    start = cycle_from_hopf(sysobj, np.asarray(hopf.x, float), p_star, float(hopf.omega),
                            np.asarray(hopf.q), l1=l1, dalpha_dp=getattr(hopf, "dre_dp", None),
                            dp=dp, ntst=ntst, ncol=ncol)
    return sysobj, start


def node_quad(tm: np.ndarray, ncol: int) -> np.ndarray:
    from .mesh import node_quadrature_weights

    return node_quadrature_weights(tm, ncol)


def _dalpha_dp(sysobj: CycleSystem, x: np.ndarray, p: float, omega: float) -> float:
    """d Re(lambda)/dp of the critical eigenvalue, by central differences along equilibria."""
    h = 1e-5 * max(1.0, abs(p))
    vals = []
    for pp in (p - h, p + h):
        xx = x.copy()
        for _ in range(30):
            r = sysobj.f(xx, pp)
            dx = np.linalg.solve(sysobj.jac(xx, pp), -r)
            xx += dx
            if np.max(np.abs(dx)) < 1e-12 * (1 + np.max(np.abs(xx))):
                break
        lam = np.linalg.eigvals(sysobj.jac(xx, pp))
        vals.append(lam[np.argmin(np.abs(lam - 1j * omega))].real)
    return (vals[1] - vals[0]) / (2 * h)


def detect_period(
    t: np.ndarray, x: np.ndarray, *, rtol: float = 1e-3, component: int | None = None
) -> tuple[float, float, str]:
    """Period of the (assumed periodic) end of a trajectory x (K, n) sampled at times t.

    Upward crossings of the mean by the most varying component are candidate returns; the
    period is the smallest lag at which the state returns within rtol * (range) of the final
    crossing state. Returns (period, t_end, message); period is nan when none is found.
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
    scale = np.maximum(np.ptp(xs, axis=0), 1e-12)
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


# ---------------------------------------------------------------------------------- PD switch
def switch_at_pd(
    system: Any,
    branch: CycleBranch,
    special: CycleSpecialPoint | int | None = None,
    *,
    amplitude: float = 1e-3,
) -> CycleStart:
    """Start data for the period-doubled branch at a located PD point of ``branch``.

    The doubled cycle is the PD cycle traversed twice (period 2T, mesh concatenated) and the
    tangent is the Floquet eigenvector for multiplier -1 propagated over the first period
    (w) followed by -w over the second, which closes up because w(T) = -w(0).
    """
    sysobj = as_cycle_system(system)
    if special is None:
        pds = branch.special("PD")
        if not pds:
            raise ValueError("branch has no PD point")
        special = pds[0]
    elif isinstance(special, int):
        special = branch.special_points[special]
    if special.kind != "PD":
        raise ValueError(f"special point is {special.kind}, not PD")
    pt = branch.points[special.index]
    coll = Collocation(sysobj, pt.tm, pt.ncol)
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
    scale = amplitude / max(np.max(np.abs(W2)), 1e-300)
    tangent = np.concatenate([(W2 * scale).ravel(), [0.0, 0.0]])
    info = {"pd_multiplier": complex(fl.multipliers[k]), "w_end_plus_v": float(
        np.max(np.abs(w[-1] + v)))}
    return CycleStart(tm2, pt.ncol, U2, 2 * pt.T, pt.p, tangent, info)
