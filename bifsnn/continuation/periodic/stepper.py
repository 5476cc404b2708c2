"""The cycle stepper: pseudo-arclength continuation of periodic orbits on an adaptive
collocation mesh, with Floquet multipliers, LPC/PD/NS detection and location, and the end of
a branch at a Hopf point.

The predictor-corrector loop is its own (not :class:`~bifsnn.continuation.arclength.
ArclengthContinuation`): the unknown vector changes meaning when the mesh is adapted between
steps, the corrector is a chord Newton that reuses one sparse LU for the tangent, and the
bordered Newton system stays a single sparse matrix.  (A variant stepping with the shared
engine took 1.7-2.2x the CPU time per step on the 1-D Brusselator, n = 4..100, and was
removed; see benchmarks/README.md.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from bifsnn.continuation.errors import UserFunctionError, call_user
from bifsnn.continuation.events import locate_zero
from bifsnn.continuation.linalg import blas_single_thread
from bifsnn.continuation.options import ContinuationOptions, emit_progress

from .collocation import (
    CollocationOperator,
    FloquetResult,
    condensable,
    condensable_size,
    factorize,
    floquet_from_jacobian,
)
from .discretization import Collocation
from .mesh import adapt_mesh, interpolate_to_mesh, uniform_mesh
from .starts import amplitude
from .system import CycleSystem
from .types import CyclePoint, CycleStart, RawSpecial

__all__ = ["CycleRun", "run_cycles"]


@dataclass
class CycleRun:
    """What the stepper returns: points, special points and how the run ended."""

    points: list[CyclePoint]
    specials: list[RawSpecial]
    success: bool
    status: str
    message: str
    system: CycleSystem
    info: dict = field(default_factory=dict)


def _weights(coll: CollocationOperator, opts: ContinuationOptions, disc: Collocation,
             scale: float = 1.0) -> np.ndarray:
    wu = np.repeat(coll.wnode, coll.n) / scale**2
    return np.concatenate([wu, [disc.weight_period, opts.weights_param]])


def _pack(U: np.ndarray, T: float, p: float) -> np.ndarray:
    return np.concatenate([U.ravel(), [T, p]])


def _unpack(X: np.ndarray, coll: CollocationOperator) -> tuple[np.ndarray, float, float]:
    return X[: coll.nU].reshape(coll.nnodes, coll.n), float(X[coll.nU]), float(X[coll.nU + 1])


def _damp_ds(coll: CollocationOperator, U: np.ndarray, amp: float, tau: np.ndarray) -> float:
    """Derivative of the amplitude along the (W-normalised) tangent tau."""
    tu = tau[: coll.nU].reshape(coll.nnodes, coll.n)
    return float(np.sum(coll.wnode[:, None] * (U - coll.wnode @ U) * tu)) / max(amp, 1e-300)


def _nontrivial(mu: np.ndarray) -> np.ndarray:
    return np.delete(mu, np.argmin(np.abs(mu - 1.0)))


def _counts(mu: np.ndarray) -> dict[str, int]:
    """Counts of the nontrivial multipliers: "PD" real < -1, "NS" complex outside the unit
    circle, "out" all outside it (see :func:`_crossings`)."""
    m = _nontrivial(mu)
    real = np.abs(m.imag) <= 1e-7 * np.maximum(1.0, np.abs(m))
    return {
        "PD": int(np.sum(real & (m.real < -1.0))),
        "NS": int(np.sum(~real & (np.abs(m) > 1.0))),
        "out": int(np.sum(np.abs(m) > 1.0)),
    }


def _crossings(a: dict[str, int], b: dict[str, int]) -> list[str]:
    """PD / NS crossings suggested by the multiplier counts ``a`` -> ``b`` of two points.

    Two real multipliers that collide and become a complex pair (or the reverse) change the
    "PD" or "NS" count by 2 without any multiplier crossing the unit circle ("out"
    unchanged): that is no bifurcation.  An NS point is a complex pair crossing |mu| = 1,
    which changes both "NS" and "out" by 2; a PD point changes "PD" and "out" by 1.  A
    neutral saddle (two real multipliers with mu1 * mu2 = 1) changes no count and is not
    labelled."""
    d_pd, d_ns, d_out = (b[k] - a[k] for k in ("PD", "NS", "out"))
    found = []
    if d_pd % 2 or (d_pd and not d_ns):
        found.append("PD")
    if d_ns and abs(d_out) >= 2:
        found.append("NS")
    return found


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


#: Label checks (issue 9): a cycle special point is reported as located only when the
#: Floquet multipliers are accurate (trivial multiplier within TRIVIAL_TOL of 1) and, for a
#: fold of cycles, a second multiplier is within LPC_DOUBLE_TOL of 1 (a double 1), for a
#: period doubling a real multiplier within TEST_TOL of -1, for a Neimark-Sacker point a
#: complex pair within TEST_TOL of the unit circle.  PD and NS are impossible for n <= 2.
TRIVIAL_TOL = 1e-3
LPC_DOUBLE_TOL = 2e-2
TEST_TOL = 1e-4


#: Tangent at a converged point with a carried factorisation (Collocation.reuse_lu): GMRES
#: to this relative accuracy in at most this many iterations, else a new LU.  The chord
#: tangent it replaces (from the LU at the predictor) was 1e-4 ... 1e-2 off (max norm,
#: relative) along the reduced network ODE's cycle branch.
TANGENT_RTOL = 1e-5
TANGENT_MAX_REFINE = 8
#: Anderson acceleration of the corrector with a carried factorisation: history length.
ANDERSON_DEPTH = 5
#: Step-size control with a carried factorisation: by the predictor's distance to the
#: corrected point (max norm, relative as in the convergence test), which does not depend on
#: how stale the factorisation is: grow ds below PREDICTOR_FAST, shrink it above
#: PREDICTOR_SLOW.  Calibrated against the iteration-count rule of the chord corrector at
#: the predictor, whose first correction is this distance to first order: on the reduced
#: network ODE and the Brusselator chain 3-4 iterations below ~1.5e-3, 7 and more above ~6e-3.
PREDICTOR_FAST = 1.5e-3
PREDICTOR_SLOW = 6e-3


#: The Floquet multipliers' Jacobian is assembled with its parameter column's values
#: (False: left zero; only the collocation block enters the monodromy matrix, so the
#: multipliers are the same bit for bit, without one df/dp column at the collocation points)
FLOQUET_P_VALUES = False
#: Likewise for its period column (-f at the collocation points: one evaluation of f at
#: the 160 collocation points less per step on the reduced network ODE at ntst 40; the
#: multipliers are the same bit for bit; benchmarks/README.md, cycspeed8)
FLOQUET_T_VALUES = False
#: Likewise for its phase row (the phase reference's values: f at the mesh nodes); with
#: :data:`LAZY_PHASE_REFERENCE` a plain step then never evaluates the phase reference at its
#: new point (one evaluation of f at the 161 nodes less per step on the reduced network ODE at
#: ntst 40; the multipliers are the same bit for bit; benchmarks/README.md, asm14)
FLOQUET_PHASE_VALUES = False
#: The phase reference at a step's new point is evaluated when first used (by a tangent
#: from a new factorisation, the Hopf end, an LPC check or the multipliers' Jacobian when its
#: phase row has values) instead of at once (False: the previous order; the same values)
LAZY_PHASE_REFERENCE = True
#: Sparsity detection before each mesh adaptation: from the Floquet multipliers' evaluations
#: of df/dx at the new point's collocation points (False: df/dx evaluated again at its mesh
#: nodes, the previous rule; on the reduced network ODE both give the same pattern at every
#: step of the benchmark branch; benchmarks/README.md, cycspeed6)
DETECT_AT_FLOQUET = True


#: Homoclinic-approach stop: over the last HOMOCLINIC_STEPS accepted steps the period grew
#: at every step, to more than HOMOCLINIC_RATIO times the branch's first period, while the
#: parameter moved by <= HOMOCLINIC_DP (relative): the period grows without bound at a
#: fixed parameter.
HOMOCLINIC_STEPS = 10
HOMOCLINIC_RATIO = 10.0
HOMOCLINIC_DP = 1e-6


def homoclinic_approach(hist: list[tuple[float, float]]) -> str:
    """A message when the (period, parameter) history shows a cycle approaching a homoclinic
    orbit (period growing without bound at a fixed parameter), else ""."""
    if len(hist) <= HOMOCLINIC_STEPS:
        return ""
    (T0, p0), (T1, p1) = hist[-1 - HOMOCLINIC_STEPS], hist[-1]
    Ts = [t for t, _ in hist[-1 - HOMOCLINIC_STEPS:]]
    growing = all(b > a for a, b in zip(Ts, Ts[1:], strict=False))
    if (growing and T1 >= HOMOCLINIC_RATIO * hist[0][0]
            and abs(p1 - p0) <= HOMOCLINIC_DP * (1 + abs(p1))):
        return (f"the cycle approaches a homoclinic orbit near p = {p1:.10g}: over the last "
                f"{HOMOCLINIC_STEPS} steps the period grew from {T0:.4g} to {T1:.4g} while "
                f"the parameter moved by {abs(p1 - p0):.2g}")
    return ""


def confirm_label(kind: str, n: int, fl: FloquetResult | None, located: bool
                  ) -> tuple[bool, str]:
    """``(located, reason)``: whether a located cycle special point passes the checks of
    its kind (see :data:`TRIVIAL_TOL`); ``reason`` says why not ("" when it passes)."""
    if kind in ("PD", "NS") and n <= 2:
        return False, f"{kind} is impossible for a planar system (n = {n})"
    if not located:
        return False, "the locator did not converge"
    if fl is None:
        return False, "no Floquet multipliers at the located point"
    if not np.isfinite(fl.trivial_error) or fl.trivial_error > TRIVIAL_TOL:
        return False, (f"Floquet multipliers inaccurate: trivial multiplier error "
                       f"{fl.trivial_error:.2g} > {TRIVIAL_TOL:g}")
    m = _nontrivial(fl.multipliers)
    if m.size == 0:
        return False, "no nontrivial multiplier"
    if kind == "LPC":
        d = float(np.min(np.abs(m - 1.0)))
        if d > LPC_DOUBLE_TOL:
            return False, (f"no double multiplier 1 (nearest nontrivial multiplier is {d:.2g} "
                           f"from 1 > {LPC_DOUBLE_TOL:g})")
    elif kind == "PD":
        d = float(np.min(np.abs(m + 1.0)))
        if d > TEST_TOL:
            return False, f"no multiplier at -1 (nearest is {d:.2g} away > {TEST_TOL:g})"
    elif kind == "NS":
        cplx = m[np.abs(m.imag) > 1e-7 * np.maximum(1.0, np.abs(m))]
        d = float(np.min(np.abs(np.abs(cplx) - 1.0))) if cplx.size else np.inf
        if d > TEST_TOL:
            return False, (f"no complex pair on the unit circle (nearest modulus is {d:.2g} "
                           f"from 1 > {TEST_TOL:g})")
    return True, ""


def _preconditioned_gmres(A, lu, b: np.ndarray, x0: np.ndarray, rtol: float, kmax: int
                          ) -> tuple[np.ndarray, bool]:
    """GMRES on lu^{-1} A x = lu^{-1} b from x0 (left preconditioning by the factorisation of
    a nearby matrix), stopped when the preconditioned residual, which estimates the error of
    x, is below rtol |x0|; (x, converged) after at most kmax iterations."""
    r = lu.solve(b - A @ x0)
    beta = float(np.linalg.norm(r))
    target = rtol * float(np.linalg.norm(x0))
    if not np.isfinite(beta):
        return x0, False
    if beta <= target:
        return x0, True
    V = [r / beta]
    H = np.zeros((kmax + 1, kmax))
    for j in range(kmax):
        w = lu.solve(A @ V[j])
        for i in range(j + 1):  # modified Gram-Schmidt
            H[i, j] = float(w @ V[i])
            w = w - H[i, j] * V[i]
        H[j + 1, j] = float(np.linalg.norm(w))
        e1 = np.zeros(j + 2)
        e1[0] = beta
        y = np.linalg.lstsq(H[: j + 2, : j + 1], e1, rcond=None)[0]
        res = float(np.linalg.norm(H[: j + 2, : j + 1] @ y - e1))
        if res <= target or H[j + 1, j] == 0.0:
            x = x0 + np.column_stack(V) @ y
            return x, bool(np.all(np.isfinite(x)))
        V.append(w / H[j + 1, j])
    return x0, False


class _Stepper:
    """Corrector and tangent solves on a fixed mesh."""

    def __init__(self, system: CycleSystem, tm: np.ndarray, opts: ContinuationOptions,
                 disc: Collocation, scale: float = 1.0) -> None:
        self.coll = CollocationOperator(system, tm, disc.ncol)
        self.coll.threads = disc.threads
        self.opts = opts
        self.disc = disc
        self.scale = scale
        self.W = _weights(self.coll, opts, disc, scale)
        self.accelerate = disc.reuses_lu(system.n)

    def floquet(self, U: np.ndarray, T: float, p: float, Fref,
                tau: np.ndarray, detect: bool = False) -> FloquetResult:
        """Floquet multipliers of the cycle (U, T, p).  When they come from the condensation
        (large n), from the Jacobian bordered like the corrector's (parameter column,
        arclength row ``W tau``): same collocation block, hence the same monodromy matrix,
        and one sparsity pattern (block layout, ordering, LU pattern) for both; the
        parameter column's values are not needed (:data:`FLOQUET_P_VALUES`), nor the phase
        row's (:data:`FLOQUET_PHASE_VALUES`).  ``Fref``: the phase reference, or a callable
        returning it (called only when it is used).  With ``detect`` ``self.detected`` is
        df/dx's sparsity pattern at the cycle's collocation points from the same evaluations
        (None when the system cannot give it so)."""
        if condensable_size(self.coll):
            Fr = (Fref() if callable(Fref) else Fref) if FLOQUET_PHASE_VALUES else None
            A = self.coll.jacobian(U, T, p, Fr, with_p=True, border_row=self.W * tau,
                                   p_values=FLOQUET_P_VALUES, t_values=FLOQUET_T_VALUES,
                                   phase_values=FLOQUET_PHASE_VALUES, detect=detect)
        else:
            A = self.coll.jacobian(U, T, p, Fref() if callable(Fref) else Fref,
                                   detect=detect)
        self.detected = getattr(A, "dfdx_pattern", None)
        return floquet_from_jacobian(A, self.coll)

    def tangent(self, X: np.ndarray, tau_prev: np.ndarray, Fref: np.ndarray, A=None, lu=None):
        """Unit tangent (W-norm) oriented along tau_prev; reuses a factorisation if given."""
        if lu is None:
            U, T, p = _unpack(X, self.coll)
            A = self.coll.jacobian(U, T, p, Fref, with_p=True, border_row=self.W * tau_prev)
            lu = factorize(A, self.coll)
        rhs = np.zeros(A.shape[0])
        rhs[-1] = 1.0
        z = lu.solve(rhs)
        z /= math.sqrt(float(np.sum(self.W * z * z)))
        if np.sum(self.W * z * tau_prev) < 0:
            z = -z
        return z, A

    def refined_tangent(self, A, tau_prev: np.ndarray, lu) -> tuple[np.ndarray, tuple | None]:
        """Unit tangent (W-norm) oriented along tau_prev for the bordered Jacobian ``A`` of a
        converged point: GMRES preconditioned by ``lu``, a factorisation of a nearby matrix of
        the same size (e.g. from an earlier step), to TANGENT_RTOL in at most
        TANGENT_MAX_REFINE iterations, else from a new LU of ``A``.  Returns (tangent,
        (A, new lu)) when a new factorisation was made (to carry on), else (tangent, None)."""
        rhs = np.zeros(A.shape[0])
        rhs[-1] = 1.0
        if condensable(A, self.coll):
            # the multipliers need the condensation of A anyway: solve with it exactly
            lu = None
        z, ok = (None, False) if lu is None else _preconditioned_gmres(
            A, lu, rhs, lu.solve(rhs), TANGENT_RTOL, TANGENT_MAX_REFINE)
        factor = None
        if not ok:
            lu = factorize(A, self.coll)
            self.factorizations = getattr(self, "factorizations", 0) + 1
            z = lu.solve(rhs)
            factor = (A, lu)
        z /= math.sqrt(float(np.sum(self.W * z * z)))
        if np.sum(self.W * z * tau_prev) < 0:
            z = -z
        return z, factor

    def correct(self, Xpred: np.ndarray, X0: np.ndarray, tau: np.ndarray, ds: float,
                Fref: np.ndarray | None = None, chord: bool | None = None, factor=None):
        """Newton on [G(X); <W tau, X - X0> - ds] = 0 with the phase reference at X0.

        With ``chord`` (default ``Collocation.newton_chord``) the Jacobian is factorised at the
        predictor and reused while the corrections contract by at least a factor 3 per
        iteration, and refactorised otherwise: on large systems one LU costs as much as
        ~30 solves. Convergence is judged on the correction size as for full Newton, so the
        accepted point satisfies the same tolerance. ``self.factorizations`` counts LUs.
        ``factor``: an (A, lu) pair of this mesh and bordering row (e.g. from a nearby point)
        to start the chord iteration with.
        """
        coll = self.coll
        chord = self.disc.newton_chord if chord is None else chord
        U0, T0, p0 = _unpack(X0, coll)
        if Fref is None:
            Fref = coll.phase_reference(U0, T0, p0)
        X = Xpred.copy()
        Wt = self.W * tau
        max_iter = self.opts.newton_max_iter
        A, lu = factor if (chord and factor is not None) else (None, None)
        # with a carried factorisation (an earlier point's Jacobian) the chord iteration
        # contracts only linearly: Anderson acceleration of the fixed-point map
        # X -> X - LU^{-1} r(X) (the GMRES of the linearised problem) restores fast convergence
        accel = chord and factor is not None and self.accelerate
        hist: list[tuple[np.ndarray, np.ndarray]] = []
        X_prev = dx_prev = None
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
                    lu = factorize(A, self.coll)
                    self.factorizations += 1
                    if accel:
                        prev_step = math.inf  # contraction judged per factorisation
                dx = lu.solve(-r)
            except RuntimeError as exc:
                return None, it, f"singular Jacobian ({exc})"
            if not np.all(np.isfinite(dx)):
                return None, it, "NaN in Newton step"
            step = float(np.max(np.abs(dx)))
            if chord and step > prev_step / 3.0:
                lu = None  # slow contraction: refactorise at the next iterate
            prev_step = step
            Xplain = X + dx
            if Xplain[coll.nU] <= 0:
                return None, it, "period became non-positive"
            if step < self.opts.newton_tol * (1.0 + np.max(np.abs(Xplain))):
                self.last_factor = (A, lu)
                return Xplain, it, "converged"
            if accel and lu is not None and X_prev is not None:
                hist.append((X - X_prev, dx - dx_prev))
                del hist[:-ANDERSON_DEPTH]
                dX = np.column_stack([h[0] for h in hist])
                dF = np.column_stack([h[1] for h in hist])
                gamma = np.linalg.lstsq(dF, dx, rcond=None)[0]
                X_prev, dx_prev = X, dx
                X = Xplain - (dX + dF) @ gamma
                if X[coll.nU] <= 0 or not np.all(np.isfinite(X)):
                    X, hist = Xplain, []
            elif lu is None:  # a new factorisation next: a new fixed-point map
                hist, X_prev, dx_prev = [], None, None
                X = Xplain
            else:
                X_prev, dx_prev = X, dx
                X = Xplain
        return None, max_iter, "Newton did not converge"


def _land_on_bound(st: _Stepper, X0: np.ndarray, tau0: np.ndarray, ds: float, bound: float,
                   opts: ContinuationOptions, floquet: bool
                   ) -> tuple[np.ndarray, FloquetResult | None, float] | None:
    """The cycle where the step from X0 crosses p = bound (a zero of p(s) - bound along the
    step, by the engine's zero locator), with its multipliers; None if it cannot be found."""

    def value_at(s: float):
        Xs, _, _ = st.correct(X0 + s * tau0, X0, tau0, s)
        return None if Xs is None else (float(Xs[-1]) - bound, Xs)

    got = value_at(ds)
    if got is None:
        return None
    scale = max(1.0, abs(bound))
    s_b, Xb, ok = locate_zero(value_at, 0.0, ds, float(X0[-1]) - bound, got[0],
                              max_iter=opts.locate_max_iter, ftol=1e-12 * scale,
                              xtol=1e-13 * max(ds, 1e-12), ends=(X0, got[1]), best=True)
    if Xb is None or abs(float(Xb[-1]) - bound) > 1e-9 * scale:
        return None
    coll = st.coll
    fl = None
    if floquet:
        Ub, Tb, pb = _unpack(Xb, coll)
        fl = st.floquet(Ub, Tb, pb, coll.phase_reference(Ub, Tb, pb), tau0)
    return Xb, fl, s_b


def cycle_event_value(coll: CollocationOperator, sysobj: CycleSystem, X: np.ndarray,
                      name: str, opts: ContinuationOptions) -> float:
    """Value of the event function ``name`` at the cycle X: built-in "param", "period",
    "amplitude", or ``opts.record[name](cycle, p)`` with the cycle as a CycleSolution and p
    the full parameter vector."""
    U, T, p = _unpack(X, coll)
    if name == "param":
        return p
    if name == "period":
        return T
    if name == "amplitude":
        return float(amplitude(U, coll.wnode))
    P = np.atleast_1d(np.asarray(sysobj.P(p), dtype=float))
    from .collocation import CycleSolution

    return float(call_user(opts.record[name], f"record[{name!r}]",
                           CycleSolution(coll.tm.copy(), coll.ncol, U.copy(), T, p),
                           np.asarray(P, dtype=float)))


def _cycle_events(st: _Stepper, sysobj: CycleSystem, X0: np.ndarray, tau0: np.ndarray,
                  ds: float, X1: np.ndarray, opts: ContinuationOptions) -> list:
    """UZ points in the step from X0 to X1: ``(s, X, name, value, located)`` for every
    (name, value) of ``opts.events`` crossed, located by the engine's zero locator along the
    step (sorted along the step)."""
    coll = st.coll
    out = []
    for name, values in opts.events.items():
        ga = cycle_event_value(coll, sysobj, X0, name, opts)
        gb = cycle_event_value(coll, sysobj, X1, name, opts)
        for v in values:
            fa, fb = ga - v, gb - v
            if not (np.isfinite(fa) and np.isfinite(fb)) or fa * fb > 0 or fa == 0:
                continue

            def value_at(s, name=name, v=v):
                Xs, _, _ = st.correct(X0 + s * tau0, X0, tau0, s)
                return None if Xs is None else (
                    cycle_event_value(coll, sysobj, Xs, name, opts) - v, Xs)

            scale = max(1.0, abs(v))
            s_e, Xe, ok = locate_zero(value_at, 0.0, ds, fa, fb, max_iter=opts.locate_max_iter,
                                      ftol=opts.locate_tol * scale,
                                      xtol=1e-13 * max(ds, 1e-12), ends=(X0, X1), best=True)
            if Xe is None:
                continue
            ok = bool(ok) and abs(cycle_event_value(coll, sysobj, Xe, name, opts) - v) <= (
                1e3 * opts.locate_tol * scale)
            out.append((float(s_e), Xe, name, float(v), ok))
    out.sort(key=lambda r: r[0])
    return out


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
        amplitude=amplitude(U, st.coll.wnode),
        newton_iterations=it,
        ds=ds,
    )


# ---------------------------------------------------------------------------------- main loop
def _attach_unlocated(specials: list, points: list, kinds: list[str], p: float, T: float,
                      fl_pt) -> None:
    """Record special points detected but not located at the last point appended."""
    for kind in kinds:
        specials.append(RawSpecial(kind, len(points) - 1, p, T,
                                   None if fl_pt is None else fl_pt.multipliers, False,
                                   {"unconfirmed": "not located"}))


def run_cycles(sysobj: CycleSystem, start: CycleStart, opts: ContinuationOptions,
               disc: Collocation, direction: float) -> CycleRun:
    """Continue cycles from ``start`` (a converged cycle, or a CycleStart with a tangent).

    BLAS runs on one thread during the run (restored afterwards).  ``direction`` (+1/-1)
    orients the first step: without a tangent along the parameter, with
    a tangent along it.  Never raises on numerical failure or on an exception in the user's
    f: the points computed so far are returned with ``success`` False and a message.
    """
    points: list[CyclePoint] = []
    specials: list[RawSpecial] = []
    state = {"sys": sysobj, "n_widen": 0}

    def finish(success: bool, status: str, message: str) -> CycleRun:
        s = state["sys"]
        return CycleRun(points, specials, success, status, message, s,
                        {"jac_nnz": int(s.nnz), "pattern_widenings": state["n_widen"]})

    try:
        # BLAS on one thread for the whole run: its calls here are small or medium (vector
        # products of the 24k-unknown collocation vectors, 150 x 150 LAPACK), and OpenBLAS's
        # threads, spinning between them, cost up to 1.5x the CPU time of a step on the
        # reduced network ODE without shortening it (benchmarks/README.md); restored on exit
        with blas_single_thread():
            return _run(sysobj, start, opts, disc, direction, points, specials, state, finish)
    except UserFunctionError as exc:
        return finish(False, "error", f"the user's function raised an exception: {exc}")


def _run(sysobj, start, opts, disc, direction, points, specials, state, finish):
    detect = ("LPC", "PD", "NS") if opts.detect_bifurcations else ()
    floquet = opts.detect_bifurcations
    ds = opts.ds

    # --- bring the start onto a mesh of the requested size and degree
    tm0, U0 = np.asarray(start.tm, float), np.asarray(start.U, float)
    if U0.ndim != 2 or U0.shape[1] != sysobj.n:
        raise ValueError(f"start.U must have shape (nodes, {sysobj.n}), got {U0.shape}")
    tangent0 = start.tangent
    if len(tm0) - 1 != disc.ntst or start.ncol != disc.ncol:
        tm = uniform_mesh(disc.ntst) if len(tm0) - 1 != disc.ntst else tm0
        U = interpolate_to_mesh(tm0, U0, start.ncol, tm, disc.ncol)
        if tangent0 is not None:
            n = sysobj.n
            tu = np.asarray(tangent0)[:-2].reshape(-1, n)
            tu = interpolate_to_mesh(tm0, tu, start.ncol, tm, disc.ncol)
            tangent0 = np.concatenate([tu.ravel(), np.asarray(tangent0)[-2:]])
    else:
        tm, U = tm0, U0
    if (disc.detect_sparsity and sysobj.dense_pattern and sysobj.dfdx_user is not None
            and sysobj.n >= 20):
        sysobj = sysobj.with_sparsity(sysobj.detect_sparsity(U, float(start.p)))
        state["sys"] = sysobj
    if disc.state_scale is None:
        scale = max(1.0, float(np.sqrt(np.mean(U**2))))
    else:
        scale = float(disc.state_scale)
    st = _Stepper(sysobj, tm, opts, disc, scale)
    X = _pack(U, float(start.T), float(start.p))

    # --- initial tangent
    coll = st.coll
    Fref = coll.phase_reference(*_unpack(X, coll))
    degenerate = tangent0 is not None and amplitude(U, coll.wnode) < 1e-12
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
        return finish(False, "initial", f"could not compute the initial tangent: {exc}")
    if not degenerate:
        fl = coll.floquet(*_unpack(X, coll)) if floquet else None
        points.append(_make_point(st, X, fl, 0, 0.0))
    else:
        fl = None
    prev_counts = _counts(fl.multipliers) if fl is not None else None
    prev_tau = tau
    amp_prev = amplitude(U, coll.wnode)
    hist: list[tuple[float, float]] = []
    steps_since_adapt = 0

    reuse = disc.reuses_lu(sysobj.n)
    carry = None  # (A, lu): the latest factorisation, carried across steps when reuse
    for _step in range(opts.max_steps):
        coll = st.coll
        # ---- predictor / corrector with step halving
        while True:
            fac = carry if (carry is not None and carry[0].shape[0] == coll.nU + 2) else None
            Xnew, it, msg = st.correct(X + ds * tau, X, tau, ds, Fref_first, factor=fac)
            if Xnew is not None:
                break
            if fac is not None:
                carry = None  # retry from a new factorisation at the predictor
                continue
            ds *= 0.5
            if ds < opts.ds_min:
                return finish(False, "ds_min", f"step size below ds_min={opts.ds_min:g} ({msg})")
        ds_taken = ds
        # the predictor's distance to the branch (relative, as in the convergence test)
        pred_dist = (float(np.max(np.abs(Xnew - X - ds * tau)))
                     / (1.0 + float(np.max(np.abs(Xnew)))))
        Unew, Tnew, pnew = _unpack(Xnew, coll)
        # the phase reference at the new point, evaluated when first needed (a step whose
        # multipliers come from the condensation and whose tangent reuses the corrector's
        # factorisation never needs it: FLOQUET_PHASE_VALUES)
        fref_box: list = [] if LAZY_PHASE_REFERENCE else [
            coll.phase_reference(Unew, Tnew, pnew)]

        def fref_new(box=fref_box, coll=coll, Unew=Unew, Tnew=Tnew, pnew=pnew):
            if not box:
                box.append(coll.phase_reference(Unew, Tnew, pnew))
            return box[0]

        carried = fac is not None  # started from an earlier factorisation
        try:
            if reuse:
                # the Jacobian at the converged point (its collocation block also gives the
                # multipliers) and the tangent refined against the latest factorisation
                A = coll.jacobian(Unew, Tnew, pnew, fref_new(), with_p=True,
                                  border_row=st.W * tau)
                tau_new, fresh = st.refined_tangent(A, tau, st.last_factor[1])
                carry = fresh if fresh is not None else st.last_factor
            else:
                # the factorisation of the corrector (same bordering row; with the chord
                # method taken at the predictor, O(ds^2) away) gives the tangent
                tau_new, A = st.tangent(
                    Xnew, tau, fref_new() if st.last_factor[1] is None else None,
                    *st.last_factor)
        except RuntimeError as exc:
            return finish(False, "singular", f"tangent solve failed: {exc}")
        detected = None  # df/dx's sparsity pattern at Xnew's collocation points
        if floquet and not reuse and (disc.newton_chord or A is None):
            # multipliers need the Jacobian at the converged point itself
            fl_new = st.floquet(Unew, Tnew, pnew, fref_new, tau, detect=DETECT_AT_FLOQUET)
            detected = st.detected
        else:
            fl_new = floquet_from_jacobian(A, coll) if floquet else None
        amp_new = amplitude(Unew, coll.wnode)

        # ---- reached a Hopf point? (amplitude shrinking through zero)
        dAds = _damp_ds(coll, Unew, amp_new, tau_new)
        hopf_end = amp_new < disc.amp_min or (
            amp_new < amp_prev and dAds < 0 and amp_new + ds * dAds <= 0.25 * amp_new)
        if hopf_end and disc.newton_chord:
            # the chord tangent is O(ds^2) off; the extrapolation to zero amplitude needs the
            # exact one (one more LU, only here)
            try:
                tau_new, _ = st.tangent(Xnew, tau, fref_new())
            except RuntimeError as exc:
                return finish(False, "singular", f"tangent solve failed: {exc}")
            dAds = _damp_ds(coll, Unew, amp_new, tau_new)
        if hopf_end:
            dpdA = tau_new[-1] / dAds if dAds != 0 else 0.0
            dTdA = tau_new[-2] / dAds if dAds != 0 else 0.0
            pH = pnew - 0.5 * amp_new * dpdA
            TH = Tnew - 0.5 * amp_new * dTdA
            points.append(_make_point(st, Xnew, fl_new, it, ds_taken))
            specials.append(RawSpecial("H", len(points) - 1, pH, TH, None, False,
                                       {"amplitude": amp_new, "omega": 2 * math.pi / TH}))
            return finish(True, "stopped",
                          f"branch reached a Hopf point near p={pH:.8g} (zero amplitude)")

        # ---- detection of special points between X and Xnew
        found: list[str] = []
        unlocated: list[str] = []  # kinds detected but not located in this step
        if "LPC" in detect and prev_tau[-1] * tau_new[-1] < 0 and len(points) > 0:
            # the chord tangents' parameter components changed sign: trust it only if the
            # exact tangents at both ends (fresh factorisations) agree
            try:
                Up, Tp, pp_ = _unpack(X, coll)
                t_a, _ = st.tangent(X, prev_tau, coll.phase_reference(Up, Tp, pp_))
                t_b, _ = st.tangent(Xnew, tau_new, fref_new())
                if t_a[-1] * t_b[-1] < 0:
                    found.append("LPC")
                    prev_tau, tau_new = t_a, t_b
            except RuntimeError:
                found.append("LPC")
        if fl_new is not None and prev_counts is not None:
            cnt = _counts(fl_new.multipliers)
            found += [k for k in _crossings(prev_counts, cnt) if k in detect]
            prev_counts = cnt
        elif fl_new is not None:
            prev_counts = _counts(fl_new.multipliers)
        for kind in found:
            ends = ((X, fl, tau), (Xnew, fl_new, tau_new))
            sp_pt = _locate(st, kind, X, tau, ds_taken, Xnew, opts, ends) if opts.locate else None
            if sp_pt is not None:
                Xs, fls, taus, ok = sp_pt
                ok, why = confirm_label(kind, coll.n, fls, ok)
                if kind in ("PD", "NS") and coll.n <= 2:
                    continue  # impossible in the plane: never labelled
                points.append(_make_point(st, Xs, fls, 0, float("nan")))
                mu = None if fls is None else fls.multipliers
                data = {"test": _test_value(kind, mu, taus)}
                if why:
                    data["unconfirmed"] = why
                specials.append(RawSpecial(kind, len(points) - 1, float(Xs[-1]), float(Xs[-2]),
                                           mu, ok, data))
            else:
                if kind in ("PD", "NS") and coll.n <= 2:
                    continue
                unlocated.append(kind)  # recorded at the step's own point, appended below
        if opts.events:
            hits = _cycle_events(st, state["sys"], X, tau, ds_taken, Xnew, opts)
            for s_e, Xe, ev_name, ev_val, ok in hits:
                fle = None
                if floquet:
                    Ue, Te, pe = _unpack(Xe, st.coll)
                    fle = st.floquet(Ue, Te, pe, st.coll.phase_reference(Ue, Te, pe), tau)
                points.append(_make_point(st, Xe, fle, 0, s_e))
                specials.append(RawSpecial(
                    "UZ", len(points) - 1, float(Xe[-1]), float(Xe[-2]),
                    None if fle is None else fle.multipliers, ok,
                    {"event": ev_name, "value": ev_val,
                     **({} if ok else {"unconfirmed": "event not located"})}))
            if hits and opts.stop_at_events:
                points.append(_make_point(st, Xnew, fl_new, it, ds_taken))
                _attach_unlocated(specials, points, unlocated, pnew, Tnew, fl_new)
                return finish(True, "stopped",
                              f"reached the event {hits[0][2]} = {hits[0][3]:g}")
        if not (opts.p_min <= pnew <= opts.p_max):
            # the branch leaves the range inside this step: end it exactly on the bound
            bound = opts.p_max if pnew > opts.p_max else opts.p_min
            landed = _land_on_bound(st, X, tau, ds_taken, bound, opts, floquet)
            if landed is not None:
                Xb, fl_b, s_b = landed
                if unlocated:  # the detected step ends past the bound: its point carries them
                    points.append(_make_point(st, Xnew, fl_new, it, ds_taken))
                    _attach_unlocated(specials, points, unlocated, pnew, Tnew, fl_new)
                points.append(_make_point(st, Xb, fl_b, it, s_b))
                return finish(True, "bound", f"parameter left [{opts.p_min}, {opts.p_max}]; "
                              f"the branch ends on the bound p = {bound:g}")
            points.append(_make_point(st, Xnew, fl_new, it, ds_taken))
            _attach_unlocated(specials, points, unlocated, pnew, Tnew, fl_new)
            return finish(True, "bound", f"parameter left [{opts.p_min}, {opts.p_max}] (the "
                          "point on the bound could not be computed; the last point lies past it)")
        points.append(_make_point(st, Xnew, fl_new, it, ds_taken))
        _attach_unlocated(specials, points, unlocated, pnew, Tnew, fl_new)
        X, tau, prev_tau, amp_prev, fl = Xnew, tau_new, tau_new, amp_new, fl_new
        Fref_first = None
        detected_X = detected  # (X's pattern; the located points above did not change it)

        try:
            emit_progress(opts, {"kind": "PO", "step": _step + 1, "param": pnew, "period": Tnew,
                                 "amplitude": amp_new, "ds": ds_taken, "points": len(points),
                                 "stable": points[-1].stable})
        except StopIteration:  # the caller's progress function ends the run here
            return finish(True, "stopped", "stopped by the progress function")

        # ---- stopping criteria
        if Tnew > opts.period_max:
            return finish(True, "stopped", f"period {Tnew:g} exceeds period_max="
                          f"{opts.period_max:g}")
        hist.append((Tnew, pnew))
        why = homoclinic_approach(hist)
        if why:
            return finish(True, "homoclinic", why)

        # ---- step size control
        nfac = getattr(st, "factorizations", it)
        if carried:
            fast = pred_dist < PREDICTOR_FAST
            slow = pred_dist > PREDICTOR_SLOW
        elif disc.newton_chord:
            fast, slow = (it <= 4 and nfac <= 1), (it >= 7 or nfac >= 3)
        else:
            fast, slow = it <= 3, it >= 6
        if fast:
            ds = min(ds * 1.5, opts.ds_max)
        elif slow:
            ds = max(ds * 0.6, opts.ds_min)

        # ---- mesh adaptation (interpolate solution and tangent onto the new mesh)
        steps_since_adapt += 1
        if disc.adapt_mesh and steps_since_adapt >= disc.adapt_mesh:
            steps_since_adapt = 0
            U, T, p = _unpack(X, st.coll)
            tm_new, U_new = adapt_mesh(st.coll.tm, U, disc.ncol)
            tu = tau[: st.coll.nU].reshape(st.coll.nnodes, st.coll.n)
            tu_new = interpolate_to_mesh(st.coll.tm, tu, disc.ncol, tm_new, disc.ncol)
            if disc.detect_sparsity and not sysobj.dense_pattern and sysobj.dfdx_user is not None:
                # df/dx's nonzeros on the cycle: at its collocation points when the multipliers
                # evaluated df/dx there (no second evaluation), else at its mesh nodes
                pat = detected_X if detected_X is not None else sysobj.detect_sparsity(U, p)
                if pat.sum() > sysobj.nnz:
                    # new couplings appeared: widen the pattern, including those at the states
                    # predicted 2, 4 and 8 steps ahead, so that it changes rarely (every new
                    # pattern costs a new fill-reducing ordering and structure)
                    tu_old = tau[: st.coll.nU].reshape(st.coll.nnodes, st.coll.n)
                    ahead = np.vstack([U + k * ds * tu_old for k in (2, 4, 8)])
                    pat |= sysobj.detect_sparsity(ahead[np.all(np.isfinite(ahead), axis=1)], p)
                    sysobj = sysobj.with_sparsity(pat)
                    state["sys"] = sysobj
                    state["n_widen"] += 1
            st = _Stepper(sysobj, tm_new, opts, disc, scale)
            X = _pack(U_new, T, p)
            tau = np.concatenate([tu_new.ravel(), tau[-2:]])
            tau /= math.sqrt(float(np.sum(st.W * tau * tau)))
            prev_tau = tau
    return finish(False, "max_steps", f"max_steps={opts.max_steps} reached")


def _locate(st: _Stepper, kind: str, X0: np.ndarray, tau0: np.ndarray, ds: float,
            X1: np.ndarray, opts: ContinuationOptions, ends=None):
    """Locate a zero of the test function between s=0 (X0) and s=ds (``events.locate_zero``,
    Illinois), returning the evaluated point with the smallest |test value|.

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
            factor = st.last_factor if st.factorizations and not st.disc.newton_chord else ()
            taus, _ = st.tangent(Xs, tau0, Fr, *factor)
            fl = None
        else:
            taus = None
            fl = st.floquet(Us, Ts, ps, Fr, tau0)
        return Xs, fl, taus, _test_value(kind, None if fl is None else fl.multipliers, taus)

    def known(e):
        Xe, fle, taue = e
        if Xe.shape != X0.shape or (kind != "LPC" and fle is None):
            return None
        return Xe, fle, taue, _test_value(kind, None if fle is None else fle.multipliers, taue)

    ea = known(ends[0]) if ends is not None else None
    eb = known(ends[1]) if ends is not None else None
    ea = evaluate(0.0) if ea is None else ea
    eb = evaluate(ds) if eb is None else eb
    if ea is None or eb is None or not np.isfinite(ea[3]) or not np.isfinite(eb[3]):
        return None
    if ea[3] * eb[3] > 0:
        return None

    def value_at(s: float):
        got = evaluate(s)
        return None if got is None else (got[3], got)

    _, best, _ = locate_zero(value_at, 0.0, ds, ea[3], eb[3], max_iter=opts.locate_max_iter,
                             ftol=1e-9 if kind == "LPC" else 1e-8,
                             xtol=1e-10 * max(ds, 1e-12), ends=(ea, eb), best=True)
    Xs, fl, taus, val = best
    Us, Ts, ps = _unpack(Xs, coll)
    Fr = coll.phase_reference(Us, Ts, ps)
    if fl is None and opts.detect_bifurcations:
        fl = st.floquet(Us, Ts, ps, Fr, tau0)
    return Xs, fl, taus, bool(abs(val) < 1e-5)


