"""Equilibria of the reduced ODE: damped Newton with the analytic Jacobian.

The default starting point is the time average of an ODE trajectory (after a transient),
which lies close to the equilibrium for damped or small oscillations and is a reasonable
guess inside large ones.  The result carries the eigenvalues of df/dx at the solution
(stability; the conservation laws are eliminated, so no structural zero eigenvalues).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bifsnn.reduction.integrate import simulate_ode
from bifsnn.reduction.model import SLOPE_CLOSURES, MarkovModelDef, ReducedModel

__all__ = ["EquilibriumResult", "find_equilibrium", "time_averaged_state"]


@dataclass
class EquilibriumResult:
    """Outcome of :func:`find_equilibrium` (``x`` is the last iterate if it failed)."""

    x: np.ndarray
    success: bool
    message: str
    eigenvalues: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=complex))
    rate_e: float = float("nan")  # population spike count rate, spikes/ms
    rate_i: float = float("nan")
    rate_e_hz: float = float("nan")  # per neuron, Hz
    rate_i_hz: float = float("nan")
    residual: float = float("nan")  # max |f(x)|
    n_iter: int = 0

    @property
    def stable(self) -> bool:
        """True if every eigenvalue has a negative real part."""
        return bool(self.eigenvalues.size) and bool(np.all(self.eigenvalues.real < 0))


def _model(model: MarkovModelDef | ReducedModel) -> ReducedModel:
    return model if isinstance(model, ReducedModel) else model.compile()


def time_averaged_state(
    model: MarkovModelDef | ReducedModel, *, t_ms: float = 600.0, transient_ms: float = 200.0
) -> np.ndarray:
    """Mean of the ODE state over (transient_ms, t_ms] from the initial state (explicit)."""
    if not 0 <= transient_ms < t_ms:
        raise ValueError(f"transient_ms = {transient_ms!r} must lie in [0, t_ms = {t_ms!r})")
    res = simulate_ode(_model(model), t_ms=t_ms, record_every_ms=0.5)
    t, s = res.extra["state_t_ms"], res.extra["state"]
    keep = t > transient_ms
    if not keep.any():
        return np.asarray(res.extra["final_state"])
    return s[keep].mean(axis=0)


def find_equilibrium(
    model: MarkovModelDef | ReducedModel,
    x0: np.ndarray | None = None,
    *,
    tol: float = 1e-9,
    max_iter: int = 60,
    t_average_ms: float = 600.0,
    transient_ms: float = 200.0,
) -> EquilibriumResult:
    """Solve f(x) = 0 by Newton's method with backtracking on max|f|.

    ``x0`` defaults to :func:`time_averaged_state`.  Converged when max|f| <= tol * (1 +
    max|x|) or the Newton step is below 1e-12 (1 + max|x|) with max|f| small.  For the
    closures with per-bin pending totals, when Newton from the default start fails it is
    restarted once from the paper closure's equilibrium ("slope"'s for the sloped ones) with
    B_j = m n_j (the conditional closures' Newton from a time average can stall where the
    paper's converges, e.g. at the default cell with 4 times the neurons).
    """
    m = _model(model)
    d = m.definition
    kw = {"tol": tol, "max_iter": max_iter}
    if x0 is not None:
        return _newton(m, x0, **kw)
    first = _newton(m, time_averaged_state(m, t_ms=t_average_ms, transient_ms=transient_ms),
                    **kw)
    if first.success or not d.conditional:
        return first
    base = "slope" if d.closure in SLOPE_CLOSURES else "paper"
    paper = find_equilibrium(ReducedModel(d.replace(closure=base), m.overrides),
                             t_average_ms=t_average_ms, transient_ms=transient_ms, **kw)
    if not paper.success:
        return first
    second = _newton(m, d.extend_state(paper.x), **kw)
    return second if second.success else first


def _newton(m: ReducedModel, x0: np.ndarray, *, tol: float, max_iter: int
            ) -> EquilibriumResult:
    """Newton's method with backtracking on max|f| from x0 (see :func:`find_equilibrium`)."""
    d = m.definition
    x = np.array(x0, dtype=float)
    if x.shape != (d.n_state,):
        raise ValueError(f"x0 has shape {x.shape}; expected ({d.n_state},)")
    f = m.rhs(x)
    res = float(np.max(np.abs(f)))
    message = f"no convergence in {max_iter} iterations"
    success = False
    it = 0
    for it in range(1, max_iter + 1):
        if not np.all(np.isfinite(f)):
            message = "non-finite right-hand side"
            break
        if res <= tol * (1.0 + np.max(np.abs(x))):
            success, message = True, "converged (residual)"
            it -= 1
            break
        J = m.jacobian(x)
        try:
            dx = np.linalg.solve(J, -f)
        except np.linalg.LinAlgError:
            message = "singular Jacobian"
            break
        alpha = 1.0
        while alpha > 1e-6:
            xt = x + alpha * dx
            ft = m.rhs(xt)
            rt = float(np.max(np.abs(ft)))
            if np.isfinite(rt) and rt < (1.0 - 1e-4 * alpha) * res:
                break
            alpha *= 0.5
        else:
            message = "line search failed (no decrease of max|f|)"
            break
        x, f, res = xt, ft, rt
        if alpha == 1.0 and np.max(np.abs(dx)) <= 1e-12 * (1.0 + np.max(np.abs(x))):
            success, message = True, "converged (step)"
            break
    else:
        if res <= tol * (1.0 + np.max(np.abs(x))):
            success, message = True, "converged (residual)"
    rates = m.firing_rates(x)
    eig = np.linalg.eigvals(m.jacobian(x)) if np.all(np.isfinite(x)) else np.zeros(0, complex)
    p = d.params
    return EquilibriumResult(
        x=x, success=success, message=message, eigenvalues=eig,
        rate_e=float(rates[0]), rate_i=float(rates[1]),
        rate_e_hz=1000.0 * float(rates[0]) / p.N_E, rate_i_hz=1000.0 * float(rates[1]) / p.N_I,
        residual=res, n_iter=it,
    )
