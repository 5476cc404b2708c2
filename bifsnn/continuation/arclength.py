"""Generic pseudo-arclength continuation of a curve G(u) = 0, G: R^{m+1} -> R^m.

This module knows nothing about equilibria, cycles or neurons: ``u`` is any extended unknown
(``u = (x, p)`` for equilibria, ``(x, p1, p2)`` for fold curves, collocation unknowns plus
period and parameter for cycles, ...).  Clients drive it step by step and may change the
system between steps (borders of minimally augmented systems, phase-condition reference,
mesh remapping).

API
---
::

    from bifsnn.continuation.arclength import ArclengthContinuation

    cont = ArclengthContinuation(
        G, u0,                  # G(u) -> ndarray (m,);  u0: (m+1,) point on (or near) the curve
        dG=None,                # dG(u) -> (m, m+1) ndarray or scipy.sparse matrix; FD if None
        tangent=None,           # unit initial tangent; computed from dG(u0) if None
        ds=1e-2, ds_min=1e-8, ds_max=1e-1, max_steps=1000,
        newton_tol=1e-9, newton_max_iter=10,
        bounds=None,            # {component index: (lo, hi)}: stop on the box boundary
        direction=+1, direction_index=-1,  # orient the initial tangent: sign(t[idx]) == direction
        weights=None,           # (m+1,) weights of the arclength inner product; 1 by default
        max_angle=None,         # reject a step whose tangent turns by more (radians)
        correct_initial=True,   # Newton-correct u0 first (constraint u[direction_index] fixed)
    )

    for pt in cont:             # = repeated cont.step() while cont.status == "running"
        use(pt.u, pt.tangent, pt.jacobian)

    pt = cont.step()            # one adaptive step: StepResult; accepted if pt.ok
    cont.status                 # "running" | "max_steps" | "ds_min" | "nan" | "bound" |
                                # "stopped" | "initial" | "error" (see STATUS_MESSAGES)
    cont.message, cont.success  # human-readable reason; False for max_steps/ds_min/nan/initial
    cont.u, cont.tangent, cont.ds, cont.jacobian, cont.n_steps   # the current accepted point

    # Modify the system between steps (all arguments optional):
    cont.replace(G=new_G, dG=new_dG, u=new_u, tangent=new_t, weights=w, recompute_tangent=False)
    cont.stop("reason")         # make status "stopped" (client-side termination, success=True)
    cont.fail("reason")         # make status "error" (e.g. the user's f raised; success=False)

    # Lower level, for event location and step splitting (nothing is committed):
    trial = cont.try_step(ds)   # predictor u + ds*t, Newton corrector; StepResult (ok or not)
    cont.accept(trial)          # commit a successful trial as the new current point
    u, ok, it, res, J = cont.correct(u_guess, c, d)   # Newton on [G(u); c.u - d] = 0
    t = cont.tangent_at(u, J=None, t_ref=None)        # unit tangent at u (oriented like t_ref)
    state = cont.save_state(); cont.restore_state(state)

``StepResult`` fields: ``ok``, ``u``, ``tangent``, ``ds`` (arclength of the step taken),
``iterations``, ``residual``, ``jacobian`` (dG at ``u``, for eigenvalues etc.), ``reason``
(failure reason: "newton", "nan", "singular", "angle", "bound"), ``at_bound`` (the point was
put exactly on a bound; the run then stops with status "bound").

Numerics: tangent predictor; Newton corrector on the bordered system
[[dG(u)], [w*t^T]] du = -[G(u); <t, u - u_pred>_w] factorised with sparse LU (SuperLU) when dG
is sparse and dense LU otherwise; the new tangent solves [[dG], [w*t_old^T]] t = [0; 1].
Step size: grown by up to ``grow`` after fast Newton convergence, shrunk after slow
convergence, halved after failure; below ``ds_min`` the run stops.  Non-finite residuals or
Jacobians count as a failed step with reason "nan".  When a corrected point leaves a box bound
the point is recomputed exactly on the bound (Newton with the constraint u[k] = bound) and the
run ends with status "bound".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from bifsnn.continuation.errors import UserFunctionError
from bifsnn.continuation.linalg import Factorization, bordered, fd_jacobian, is_sparse

__all__ = ["ArclengthContinuation", "StepResult", "STATUS_MESSAGES"]

STATUS_MESSAGES = {
    "running": "continuation in progress",
    "max_steps": "maximum number of steps reached",
    "ds_min": "step size fell below ds_min (Newton corrector failed to converge)",
    "nan": "non-finite values (NaN/inf) in the residual or Jacobian; step size fell below ds_min",
    "bound": "reached a bound of the continuation parameters",
    "stopped": "stopped by the client",
    "initial": "the initial point could not be corrected onto the curve",
    "error": "the user's function raised an exception",
}
_SUCCESS = {"running", "bound", "stopped"}


@dataclass
class StepResult:
    """Outcome of one continuation step (accepted when ``ok``)."""

    ok: bool
    u: np.ndarray
    tangent: np.ndarray | None = None
    ds: float = 0.0
    iterations: int = 0
    residual: float = np.inf
    jacobian: object = None
    reason: str = ""
    at_bound: bool = False
    step_index: int = -1
    extra: dict = field(default_factory=dict)


class ArclengthContinuation:
    """Iterator-style pseudo-arclength continuation (see the module docstring)."""

    grow = 1.5
    shrink = 0.5

    def __init__(
        self,
        G: Callable[[np.ndarray], np.ndarray],
        u0: np.ndarray,
        dG: Callable[[np.ndarray], object] | None = None,
        tangent: np.ndarray | None = None,
        ds: float = 1e-2,
        ds_min: float = 1e-8,
        ds_max: float = 1e-1,
        max_steps: int = 1000,
        newton_tol: float = 1e-9,
        newton_max_iter: int = 10,
        bounds: dict[int, tuple[float, float]] | None = None,
        direction: int = 1,
        direction_index: int = -1,
        weights: np.ndarray | None = None,
        max_angle: float | None = None,
        correct_initial: bool = True,
    ):
        if not (np.isfinite(ds) and ds > 0):
            raise ValueError(f"ds = {ds!r} is out of range: must be a finite number > 0 "
                             "(direction=-1 goes backwards)")
        if direction not in (1, -1):
            raise ValueError(f"direction = {direction!r} is out of range: must be +1 or -1")
        self.G = G
        self.dG = dG if dG is not None else (lambda u: fd_jacobian(self.G, u))
        self.ds = float(ds)
        self.ds_min = float(ds_min)
        self.ds_max = float(ds_max)
        self.max_steps = int(max_steps)
        self.newton_tol = float(newton_tol)
        self.newton_max_iter = int(newton_max_iter)
        self.bounds = dict(bounds or {})
        self.direction = int(direction)
        self.max_angle = max_angle
        u0 = np.array(u0, dtype=float)
        self.dim = u0.size
        self.direction_index = direction_index % self.dim
        self.weights = np.ones(self.dim) if weights is None else np.asarray(weights, float)
        self.n_steps = 0
        self.status = "running"
        self._stop_message = ""
        self.last_failure = ""
        self.last_error = ""  # text of the last exception raised by G or dG, if any

        u, J = u0, None
        try:
            if correct_initial:
                k = self.direction_index
                c = np.zeros(self.dim)
                c[k] = 1.0
                u, ok, it, res, J = self.correct(u0, c, u0[k])
                if not ok:
                    # A vertical curve in the chosen coordinate: try the plain residual instead.
                    u, ok, it, res, J = self.correct(u0, None, None)
                if not ok:
                    self.status = "initial"
                    self._stop_message = f"Newton residual {res:.3g} after {it} iterations"
                    u, J = u0, None
            self.u = u
            self.jacobian = J
            if self.status == "running":
                if J is None:
                    J = self.dG(u)
                    self.jacobian = J
                if tangent is None:
                    t = self._initial_tangent(u, J)
                else:
                    t = np.asarray(tangent, dtype=float)
                    t = t / self._norm(t)
                if t[self.direction_index] * self.direction < 0:
                    t = -t
                self.tangent = t
        except UserFunctionError as exc:
            self.u, self.jacobian = np.asarray(u0, dtype=float), None
            self.fail(str(exc))
        if self.status != "running":
            self.tangent = np.zeros(self.dim) if tangent is None else np.asarray(tangent, float)

    # ------------------------------------------------------------------ helpers
    def _norm(self, v: np.ndarray) -> float:
        return float(np.sqrt(np.sum(self.weights * v * v)))

    def _dot(self, a: np.ndarray, b: np.ndarray) -> float:
        return float(np.sum(self.weights * a * b))

    @property
    def success(self) -> bool:
        """True unless the run ended in a failure (running, bound and stopped count as success)."""
        return self.status in _SUCCESS

    @property
    def message(self) -> str:
        """Human-readable status, with the reason the run stopped if any."""
        msg = STATUS_MESSAGES.get(self.status, self.status)
        return f"{msg}: {self._stop_message}" if self._stop_message else msg

    def _initial_tangent(self, u: np.ndarray, J) -> np.ndarray:
        """Unit null vector of dG(u): bordered solves with a few trial vectors."""
        rng = np.random.default_rng(12345)
        trials = [np.eye(1, self.dim, self.direction_index).ravel()]
        trials += [rng.standard_normal(self.dim) for _ in range(3)]
        best, best_res = None, np.inf
        for c in trials:
            try:
                t = self._factorize(J, c).solve(np.r_[np.zeros(self.dim - 1), 1.0])
            except (np.linalg.LinAlgError, ValueError):
                continue
            if not np.all(np.isfinite(t)) or not np.any(t):
                continue
            t = t / self._norm(t)
            res = float(np.linalg.norm(J @ t))
            if res < 1e-6:
                return t
            if res < best_res:
                best, best_res = t, res
        if best is None:
            if is_sparse(J):
                J = J.toarray()
            _, _, vt = np.linalg.svd(np.asarray(J))
            best = vt[-1]
            best = best / self._norm(best)
        return best

    def _factorize(self, J, c: np.ndarray):
        """A factorisation (an object with ``solve(rhs)``) of the bordered matrix [dG; c^T]
        at the point where ``J`` = dG was evaluated (subclasses may solve it by block
        elimination with a factorisation they already hold)."""
        return Factorization(bordered(J, None, c))

    def tangent_at(self, u: np.ndarray, J=None, t_ref: np.ndarray | None = None) -> np.ndarray:
        """Unit tangent of the curve at ``u`` oriented to have positive inner product with
        ``t_ref`` (default: the current tangent)."""
        if J is None:
            J = self.dG(u)
        t_ref = self.tangent if t_ref is None else t_ref
        rhs = np.zeros(self.dim)
        rhs[-1] = 1.0
        t = self._factorize(J, self.weights * t_ref).solve(rhs)
        t = t / self._norm(t)
        if self._dot(t, t_ref) < 0:
            t = -t
        return t

    # ------------------------------------------------------------------ corrector
    #: Exceptions from a user's G or dG that mean "no usable value here" (e.g. a minimally
    #: augmented system whose inner factorisation meets a non-finite matrix): the step fails
    #: with reason "nan" and is retried smaller instead of aborting the whole branch.
    EVAL_ERRORS = (np.linalg.LinAlgError, ValueError, FloatingPointError, ZeroDivisionError,
                   OverflowError)

    def _eval(self, fn: Callable[[np.ndarray], object], u: np.ndarray):
        """fn(u), or None (with last_failure set) when it raises or is not finite."""
        try:
            val = fn(u)
        except self.EVAL_ERRORS as exc:
            self.last_failure = "nan"
            self.last_error = f"{type(exc).__name__}: {exc}"
            return None
        data = val.data if is_sparse(val) else np.asarray(val, dtype=float)
        if not np.all(np.isfinite(data)):
            self.last_failure = "nan"
            return None
        return val if is_sparse(val) else data

    def correct(self, u_guess: np.ndarray, c: np.ndarray | None, d: float | None):
        """Newton on [G(u); c.u - d] = 0 (or least-change Newton on G alone when ``c`` is
        None).  Returns ``(u, converged, iterations, residual, dG(u))``."""
        u = np.array(u_guess, dtype=float)
        for it in range(1, self.newton_max_iter + 1):
            r = self._eval(self.G, u)
            J = None if r is None else self._eval(self.dG, u)
            if J is None:
                return u, False, it, np.inf, None
            if c is None:
                # minimum-norm Newton step for the underdetermined system
                Jd = J.toarray() if is_sparse(J) else np.asarray(J)
                du = -np.linalg.lstsq(Jd, r, rcond=None)[0]
            else:
                rhs = np.r_[r, float(c @ u) - d]
                try:
                    du = -self._factorize(J, c).solve(rhs)
                except (np.linalg.LinAlgError, ValueError):
                    self.last_failure = "singular"
                    return u, False, it, np.inf, None
            if not np.all(np.isfinite(du)):
                self.last_failure = "nan"
                return u, False, it, np.inf, None
            u = u + du
            step = float(np.max(np.abs(du)))
            if step <= self.newton_tol * (1.0 + float(np.max(np.abs(u)))):
                r = self._eval(self.G, u)
                if r is None:
                    return u, False, it, np.inf, None
                res = float(np.max(np.abs(r))) if r.size else 0.0
                if res <= max(self.newton_tol, 1e3 * step):
                    J = self._eval(self.dG, u)
                    if J is None:
                        return u, False, it, np.inf, None
                    return u, True, it, res, J
            if step > 1e8 * (1.0 + float(np.max(np.abs(u_guess)))):
                break
        r = self._eval(self.G, u)
        res = np.inf if r is None else float(np.max(np.abs(r)))
        self.last_failure = "nan" if not np.isfinite(res) else "newton"
        return u, False, self.newton_max_iter, res, None

    # ------------------------------------------------------------------ stepping
    def try_step(self, ds: float) -> StepResult:
        """Predict ``u + ds*t`` and correct; nothing is committed (see :meth:`accept`)."""
        u_pred = self.u + ds * self.tangent
        c = self.weights * self.tangent
        u, ok, it, res, J = self.correct(u_pred, c, float(c @ u_pred))
        if not ok:
            return StepResult(False, u, None, ds, it, res, None, self.last_failure)
        try:
            t = self.tangent_at(u, J, self.tangent)
        except (np.linalg.LinAlgError, ValueError):
            return StepResult(False, u, None, ds, it, res, None, "singular")
        if not np.all(np.isfinite(t)):
            return StepResult(False, u, None, ds, it, res, None, "nan")
        return StepResult(True, u, t, ds, it, res, J, "")

    def accept(self, res: StepResult) -> StepResult:
        """Make a successful trial the current point."""
        if not res.ok:
            raise ValueError("cannot accept a failed step")
        self.u = res.u
        self.tangent = res.tangent
        self.jacobian = res.jacobian
        self.n_steps += 1
        res.step_index = self.n_steps
        if res.at_bound:
            self.status = "bound"
        elif self.n_steps >= self.max_steps:
            self.status = "max_steps"
        return res

    def _outside(self, u: np.ndarray) -> tuple[int, float] | None:
        for k, (lo, hi) in self.bounds.items():
            if u[k] < lo:
                return k, lo
            if u[k] > hi:
                return k, hi
        return None

    def _land_on_bound(self, trial: StepResult, k: int, b: float) -> StepResult:
        """Recompute a point that left the box exactly on the bound u[k] = b."""
        u0, u1 = self.u, trial.u
        frac = (b - u0[k]) / (u1[k] - u0[k]) if u1[k] != u0[k] else 1.0
        guess = u0 + np.clip(frac, 0.0, 1.0) * (u1 - u0)
        c = np.zeros(self.dim)
        c[k] = 1.0
        u, ok, it, res, J = self.correct(guess, c, b)
        if not ok:
            return StepResult(False, u, None, trial.ds, it, res, None, "bound")
        t = self.tangent_at(u, J, self.tangent)
        ds = self._norm(u - self.u)
        return StepResult(True, u, t, ds, it, res, J, "", at_bound=True)

    def step(self) -> StepResult:
        """One adaptive step; on success the point is accepted and returned.  An exception
        in the user's function ends the run with status "error" (its text in ``message``)."""
        try:
            return self._step()
        except UserFunctionError as exc:
            self.fail(str(exc))
            return StepResult(False, self.u, self.tangent, 0.0, reason="error")

    def _step(self) -> StepResult:
        if self.status != "running":
            return StepResult(False, self.u, self.tangent, 0.0, reason=self.status)
        here = self._outside(self.u)
        if here is not None and self._dot(self.tangent, np.eye(1, self.dim, here[0]).ravel()) * (
            1 if here[1] == self.bounds[here[0]][1] else -1
        ) > 0:
            self.status = "bound"
            return StepResult(False, self.u, self.tangent, 0.0, reason="bound")
        ds = min(self.ds, self.ds_max)
        while True:
            trial = self.try_step(ds)
            if trial.ok and self.max_angle is not None:
                cosang = np.clip(self._dot(trial.tangent, self.tangent), -1.0, 1.0)
                if np.arccos(cosang) > self.max_angle and ds > self.ds_min:
                    trial = replace(trial, ok=False, reason="angle")
            if trial.ok:
                break
            self.last_failure = trial.reason or self.last_failure
            ds *= self.shrink
            if ds < self.ds_min:
                self.status = "nan" if trial.reason == "nan" else "ds_min"
                self._stop_message = f"last failure: {trial.reason}, ds = {ds:.3g}"
                self.ds = ds
                return trial
        out = self._outside(trial.u)
        if out is not None:
            landed = self._land_on_bound(trial, *out)
            if landed.ok:
                trial = landed
            else:
                self.status = "bound"
                return landed
        # step-size adaptation from the Newton effort
        it = trial.iterations
        if it <= 2:
            factor = self.grow
        elif it <= max(3, self.newton_max_iter // 3):
            factor = 1.0 + (self.grow - 1.0) / 2
        elif it >= max(5, (2 * self.newton_max_iter) // 3):
            factor = self.shrink + 0.2
        else:
            factor = 1.0
        self.ds = float(np.clip(ds * factor, self.ds_min, self.ds_max))
        return self.accept(trial)

    def __iter__(self) -> Iterator[StepResult]:
        while self.status == "running":
            res = self.step()
            if not res.ok:
                break
            yield res

    # ------------------------------------------------------------------ modification
    def replace(self, G=None, dG=None, u=None, tangent=None, weights=None,
                recompute_tangent: bool = False) -> None:
        """Replace parts of the system between steps (e.g. new borders, new phase reference,
        remeshed unknowns).  If the dimension of ``u`` changes, pass a matching ``tangent``
        (or ``recompute_tangent=True``)."""
        if G is not None:
            self.G = G
        if dG is not None:
            self.dG = dG
        if u is not None:
            u = np.asarray(u, dtype=float)
            if u.size != self.dim:
                self.dim = u.size
                self.direction_index = min(self.direction_index, self.dim - 1)
                if weights is None and self.weights.size != self.dim:
                    self.weights = np.ones(self.dim)
            self.u = u
            self.jacobian = None
        if weights is not None:
            self.weights = np.asarray(weights, dtype=float)
        if tangent is not None:
            t = np.asarray(tangent, dtype=float)
            self.tangent = t / self._norm(t)
        if recompute_tangent or (tangent is None and self.tangent.size != self.dim):
            J = self.dG(self.u)
            self.jacobian = J
            if self.tangent.size == self.dim:
                self.tangent = self.tangent_at(self.u, J, self.tangent)
            else:
                self.tangent = self._initial_tangent(self.u, J)

    def stop(self, reason: str = "") -> None:
        """End the run successfully (status "stopped") with ``reason``."""
        self.status = "stopped"
        self._stop_message = reason

    def fail(self, reason: str) -> None:
        """End the run with status "error" (e.g. the user's function raised ``reason``)."""
        self.status = "error"
        self._stop_message = reason

    def save_state(self) -> dict:
        """Snapshot of the current point, tangent, step and status (for restore_state)."""
        return dict(u=self.u.copy(), tangent=self.tangent.copy(), ds=self.ds,
                    jacobian=self.jacobian, n_steps=self.n_steps, status=self.status)

    def restore_state(self, state: dict) -> None:
        """Return to a snapshot taken by save_state."""
        self.u = state["u"].copy()
        self.tangent = state["tangent"].copy()
        self.ds = state["ds"]
        self.jacobian = state["jacobian"]
        self.n_steps = state["n_steps"]
        self.status = state["status"]
