"""Equilibria of an ODE over a two-parameter grid, with their stability.

:func:`equilibrium_grid` follows one equilibrium over a rectangular grid of two parameters
by Newton, marching from a known equilibrium: along the first parameter within each row of
the second, each row starting from the previous row's first solution.  Steps between grid
points are cut to at most ``max_param_step`` in each parameter (halved on failure), so the
equilibrium followed is the one connected to the start, not whichever Newton finds first.
A grid point where Newton fails is recorded as such (``n_unstable = -1``), never guessed.

    grid = equilibrium_grid(problem, "a", np.linspace(0, 1, 11), "b", [0.5, 1.0])
    grid.n_unstable      # [i_b, i_a]: eigenvalues with Re > 0, -1 where Newton failed
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bifsnn.continuation.events import eigenvalues
from bifsnn.continuation.linalg import blas_single_thread, newton
from bifsnn.continuation.problem import ODEProblem

__all__ = ["EquilibriumGrid", "equilibrium_grid"]


@dataclass
class EquilibriumGrid:
    """Equilibria over a grid of ``params = (param1, param2)``; arrays indexed [i2, i1].

    ``n_unstable``: eigenvalues with Re > 0 (-1 where Newton failed); ``leading``: the
    eigenvalue of largest real part; ``residual``: max|f| at the solution; ``states``: the
    equilibria (NaN where Newton failed).  ``success`` is False when any point failed;
    ``message`` names the failed points.
    """

    params: tuple[str, str]
    values1: np.ndarray
    values2: np.ndarray
    n_unstable: np.ndarray
    leading: np.ndarray
    residual: np.ndarray
    states: np.ndarray
    success: bool
    message: str

    @property
    def found(self) -> np.ndarray:
        """True where Newton converged."""
        return self.n_unstable >= 0

    @property
    def unstable(self) -> np.ndarray:
        """True where the equilibrium was found and has an eigenvalue with Re > 0."""
        return self.n_unstable > 0


def _values(name: str, values: Sequence[float]) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size == 0 or not np.all(np.isfinite(v)):
        raise ValueError(f"{name} = {values!r} is out of range: must be a non-empty 1-D "
                         "sequence of finite numbers")
    return v


def _default_step(v: np.ndarray) -> float:
    d = np.abs(np.diff(v))
    d = d[d > 0]
    return float(d.min()) if d.size else math.inf


def equilibrium_grid(
    problem: ODEProblem,
    param1: str | int,
    values1: Sequence[float],
    param2: str | int,
    values2: Sequence[float],
    *,
    x0: np.ndarray | None = None,
    p0: np.ndarray | None = None,
    max_param_step: tuple[float, float] | None = None,
    tol: float = 1e-9,
    max_iter: int = 20,
) -> EquilibriumGrid:
    """Equilibrium and its stability at every grid point of (``param1``, ``param2``).

    Starts from ``x0`` at ``p0`` (defaults: ``problem.x0``, ``problem.p0``), which must be
    an equilibrium or close to one.  Newton (:func:`bifsnn.continuation.linalg.newton`)
    converges when max|f| <= ``tol`` (1 + max|x0|); a march between grid points moves at
    most ``max_param_step`` (default: the grid spacing of each parameter) per Newton solve.
    """
    i1, i2 = problem.param_index(param1), problem.param_index(param2)
    if i1 == i2:
        raise ValueError(f"param2 = {param2!r} is out of range: must differ from param1")
    v1, v2 = _values("values1", values1), _values("values2", values2)
    if max_param_step is None:
        max_param_step = (_default_step(v1), _default_step(v2))
    h1, h2 = (float(h) for h in max_param_step)
    if not (h1 > 0 and h2 > 0):
        raise ValueError(f"max_param_step = {max_param_step!r} is out of range: both > 0")
    if not (math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol = {tol!r} is out of range: must be a finite number > 0")
    if not (isinstance(max_iter, int) and max_iter >= 1):
        raise ValueError(f"max_iter = {max_iter!r} is out of range: must be an integer >= 1")
    x = np.array(problem.x0 if x0 is None else x0, dtype=float)
    p = np.array(problem.p0 if p0 is None else p0, dtype=float)
    if x.shape != (problem.n,) or p.shape != (problem.n_params,):
        raise ValueError(f"x0/p0 have shapes {x.shape}/{p.shape}; expected ({problem.n},)/"
                         f"({problem.n_params},)")
    abs_tol = tol * (1.0 + float(np.max(np.abs(x))))

    def solve(x, q):
        z, ok, _, res = newton(lambda y: problem.rhs(y, q), lambda y: problem.jac_x(y, q), x,
                               tol=abs_tol, max_iter=max_iter)
        return z, (float(res) if ok else math.inf)

    def march(x, q0, target1, target2):
        """Newton from (x, q0) to the target along a straight line in parameter space, in
        steps of at most (h1, h2), halving a step on failure (down to 2**-10 of the way)."""
        q1 = q0.copy()
        q1[i1], q1[i2] = target1, target2
        dist = max(abs(q1[i1] - q0[i1]) / h1, abs(q1[i2] - q0[i2]) / h2, 1.0)
        h_max = 1.0 / math.ceil(dist)
        s, h, r = 0.0, h_max, 0.0
        while s < 1.0 - 1e-12:
            h = min(h, 1.0 - s)
            xt, r = solve(x, q0 + (s + h) * (q1 - q0))
            if math.isfinite(r):
                x, s, h = xt, s + h, min(2 * h, h_max)
            elif h > 2.0 ** -10:
                h /= 2
            else:
                return x, math.inf
        return x, r

    shape = (v2.size, v1.size)
    nu = np.full(shape, -1, dtype=int)
    lead = np.full(shape, np.nan + 0j)
    resid = np.full(shape, np.nan)
    states = np.full((*shape, problem.n), np.nan)
    failures: list[str] = []
    name1, name2 = problem.param_label(i1), problem.param_label(i2)
    with blas_single_thread():
        row_x, row_p = x, p
        for i, b in enumerate(v2):
            x, r = march(row_x, row_p, v1[0], b)
            q = row_p.copy()
            q[i1], q[i2] = v1[0], b
            row_x, row_p = x.copy(), q.copy()
            for j, a in enumerate(v1):
                if j > 0:
                    x, r = march(x, q, a, b)
                    q = q.copy()
                    q[i1] = a
                if not math.isfinite(r):
                    failures.append(f"({name1}={a:.4g}, {name2}={b:.4g})")
                    continue
                ev = eigenvalues(np.asarray(problem.jac_x(x, q)), "dense")
                nu[i, j] = int(np.sum(ev.real > 0))
                lead[i, j] = ev[0]
                resid[i, j] = r
                states[i, j] = x
    message = "ok" if not failures else "Newton failed at " + "; ".join(failures)
    return EquilibriumGrid((name1, name2), v1, v2, nu, lead, resid, states, not failures,
                           message)
