"""The problem definition: a smooth ODE x' = f(x, p) with a numeric parameter vector.

Parameters are a 1-D numpy array ``p`` (not a dict): ``f(x, p)`` receives a float array, and a
continuation parameter is named either by its index or, when ``param_names`` is given, by
name.  Optional derivatives:

* ``dfdx(x, p)`` -> (n, n) ndarray or scipy.sparse matrix (the Jacobian);
* ``dfdp(x, p)`` -> (n, n_params) ndarray: derivatives with respect to *all* parameters;
* ``d2f(x, p, u, v)`` -> (n,) ndarray: the second directional derivative
  ``D_x^2 f(x, p)[u, v]`` (called with real u, v);
* ``d3f(x, p, u, v, w)`` -> (n,) ndarray: the third directional derivative
  ``D_x^3 f(x, p)[u, v, w]`` (real u, v, w);
* ``d4f(x, p, u, v, w, y)``, ``d5f(x, p, u, v, w, y, z)``: fourth and fifth directional
  derivatives (only the second Lyapunov coefficient at Bautin points needs them; without
  them it differentiates ``d3f`` by Ridders' method).

:meth:`ODEProblem.from_sympy` builds all of them from sympy expressions.  Without ``d2f`` /
``d3f`` the normal-form coefficients use Ridders' finite differences (see
:mod:`bifsnn.continuation.derivatives`) and say so in ``data["derivatives"]``.

Missing derivatives are computed by central finite differences; with ``jac_sparsity`` (an
(n, n) boolean pattern, dense or sparse) the finite-difference Jacobian is sparse and costs one
pair of evaluations per column group.  For n above a few dozen pass either ``dfdx`` returning
a sparse matrix or ``jac_sparsity`` so that the engine uses sparse LU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp

from bifsnn.continuation.errors import call_user
from bifsnn.continuation.linalg import fd_jacobian, group_columns

__all__ = ["ODEProblem"]

_EPS = np.finfo(float).eps


@dataclass
class ODEProblem:
    """x' = f(x, p) with initial guess ``x0`` at parameters ``p0``, continued in ``param``.

    ``param`` is an index into ``p0`` or a name from ``param_names``.  ``name`` labels plots
    and files.  ``x_names`` optionally names the state components.  ``batch`` (optional):
    the same functions at many states per call, for the cycle collocation (an object with
    ``f(X, p)`` -> (K, n), ``dfdx_values(X, p, rows, cols)`` -> (K, len(rows)),
    ``dfdx_pattern(X, p)`` -> (n, n) booleans and ``dfdp_column(X, p, k)`` -> (K, n), X of
    shape (K, n); optionally ``dfdx_values_pattern(X, p, rows, cols)`` -> both of the
    former from one df/dx per state); it must give the values of f, dfdx and dfdp.
    """

    f: Callable[[np.ndarray, np.ndarray], np.ndarray]
    x0: np.ndarray
    p0: np.ndarray
    param: int | str = 0
    dfdx: Callable[[np.ndarray, np.ndarray], object] | None = None
    dfdp: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    jac_sparsity: object = None
    param_names: Sequence[str] | None = None
    x_names: Sequence[str] | None = None
    name: str = "ode"
    d2f: Callable[..., np.ndarray] | None = None
    d3f: Callable[..., np.ndarray] | None = None
    d4f: Callable[..., np.ndarray] | None = None
    d5f: Callable[..., np.ndarray] | None = None
    batch: object = field(default=None, repr=False, compare=False)
    _groups: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.x0 = np.atleast_1d(np.asarray(self.x0, dtype=float)).copy()
        scalar_p = np.ndim(self.p0) == 0
        self.p0 = np.atleast_1d(np.asarray(self.p0, dtype=float)).copy()
        if self.p0.ndim != 1:
            raise ValueError(f"p0 has shape {self.p0.shape}: the parameter vector is always a "
                             "1-D array (f receives p as one)")
        if self.param_names is not None:
            self.param_names = tuple(self.param_names)
            if len(self.param_names) != self.p0.size:
                raise ValueError("param_names must have one name per entry of p0")
        self.param = self.param_index(self.param)
        fx = np.asarray(self.f(self.x0, self.p0), dtype=float)
        if fx.shape != self.x0.shape:
            hint = (f"; p0 = {float(self.p0[0])!r} was given as a scalar, but the parameter "
                    "vector is always a 1-D array: f receives p with shape (1,), so write "
                    "p[0] in f"
                    if scalar_p else "")
            raise ValueError(f"f(x0, p0) has shape {fx.shape}, expected {self.x0.shape}{hint}")
        for key in ("d2f", "d3f", "d4f", "d5f"):
            fun = getattr(self, key)
            if fun is not None and not callable(fun):
                raise ValueError(f"{key} must be callable or None, got {type(fun).__name__}")
        if self.jac_sparsity is not None:
            self.jac_sparsity = sp.csc_matrix(self.jac_sparsity, dtype=bool)
            self._groups = group_columns(self.jac_sparsity)

    @classmethod
    def from_sympy(cls, exprs: Sequence, state_syms: Sequence, param_syms: Sequence,
                   x0: Sequence[float], p0: Sequence[float], param: int | str = 0,
                   **kwargs) -> ODEProblem:
        """A problem from sympy expressions ``exprs`` (one per state) in ``state_syms`` and
        ``param_syms``, with exact ``dfdx``, ``dfdp``, ``d2f`` to ``d5f`` generated by sympy
        (numpy code via ``lambdify`` with common-subexpression elimination).  Parameter and
        state names default to the symbols' names; further keyword arguments go to the
        constructor (``name``, ``jac_sparsity``, ...)."""
        from bifsnn.continuation.symbolic import sympy_derivatives

        exprs, state_syms, param_syms = list(exprs), list(state_syms), list(param_syms)
        if len(exprs) != len(state_syms):
            raise ValueError(f"exprs has {len(exprs)} entries but state_syms has "
                             f"{len(state_syms)}: need one expression per state")
        funs = sympy_derivatives(exprs, state_syms, param_syms)
        kwargs.setdefault("param_names", tuple(str(s) for s in param_syms))
        kwargs.setdefault("x_names", tuple(str(s) for s in state_syms))
        return cls(f=funs["f"], x0=np.asarray(x0, dtype=float), p0=np.asarray(p0, dtype=float),
                   param=param, dfdx=funs["dfdx"], dfdp=funs["dfdp"], d2f=funs["d2f"],
                   d3f=funs["d3f"], d4f=funs["d4f"], d5f=funs["d5f"], **kwargs)

    @property
    def derivatives(self) -> str:
        """"exact" when second and third derivatives are supplied, else
        "finite-difference"."""
        return "exact" if self.d2f is not None and self.d3f is not None else \
            "finite-difference"

    def directional(self, x: np.ndarray, p: np.ndarray):
        """The multilinear forms B, C at ``(x, p)`` (a
        :class:`~bifsnn.continuation.derivatives.DirectionalDerivatives`)."""
        from bifsnn.continuation.derivatives import DirectionalDerivatives

        return DirectionalDerivatives(self, x, p)

    # ---------------------------------------------------------------- names and indices
    @property
    def n(self) -> int:
        """State dimension."""
        return self.x0.size

    @property
    def n_params(self) -> int:
        """Length of the parameter vector."""
        return self.p0.size

    @property
    def sparse(self) -> bool:
        """Whether the Jacobian is sparse (a sparsity pattern was given or dfdx is sparse)."""
        if self.jac_sparsity is not None:
            return True
        if self.dfdx is not None:
            return sp.issparse(self.dfdx(self.x0, self.p0))
        return False

    def param_index(self, param: int | str) -> int:
        """Index of a parameter given by name or index; an unknown name raises ValueError."""
        if isinstance(param, str):
            if self.param_names is None or param not in self.param_names:
                raise ValueError(f"unknown parameter {param!r}; names: {self.param_names}")
            return self.param_names.index(param)
        k = int(param)
        if not -self.p0.size <= k < self.p0.size:
            raise ValueError(f"parameter index {k} out of range for {self.p0.size} parameters")
        return k % self.p0.size

    def param_label(self, k: int) -> str:
        """Name of parameter k (p[k] when the problem has no names)."""
        return self.param_names[k] if self.param_names is not None else f"p[{k}]"

    def with_param(self, param: int | str) -> ODEProblem:
        """A copy continued in another parameter."""
        return replace(self, param=self.param_index(param))

    # ---------------------------------------------------------------- evaluations
    def rhs(self, x: np.ndarray, p: np.ndarray) -> np.ndarray:
        """f(x, p) as a float array (an exception in f becomes a UserFunctionError)."""
        return np.asarray(call_user(self.f, "f", x, p), dtype=float)

    def jac_x(self, x: np.ndarray, p: np.ndarray):
        """df/dx at (x, p): ndarray, or sparse CSC when the problem is sparse."""
        if self.dfdx is not None:
            J = call_user(self.dfdx, "dfdx", x, p)
            return sp.csc_matrix(J) if sp.issparse(J) else np.asarray(J, dtype=float)
        return fd_jacobian(lambda y: self.rhs(y, p), x, sparsity=self.jac_sparsity,
                           groups=self._groups, central=True)

    def jac_p(self, x: np.ndarray, p: np.ndarray, indices: Sequence[int]) -> np.ndarray:
        """df/dp for the parameters ``indices``: dense (n, len(indices))."""
        indices = [self.param_index(k) for k in indices]
        if self.dfdp is not None:
            D = np.asarray(call_user(self.dfdp, "dfdp", x, p), dtype=float).reshape(self.n, -1)
            return D[:, indices]
        out = np.empty((self.n, len(indices)))
        for j, k in enumerate(indices):
            h = _EPS ** (1 / 3) * max(1.0, abs(p[k]))
            pp, pm = p.copy(), p.copy()
            pp[k] += h
            pm[k] -= h
            out[:, j] = (self.rhs(x, pp) - self.rhs(x, pm)) / (2 * h)
        return out

    def jac_x_dir(self, x: np.ndarray, p: np.ndarray, v: np.ndarray):
        """Directional derivative of the Jacobian, d/de J(x + e v, p) at e = 0 (real v)."""
        nv = float(np.linalg.norm(v))
        if nv == 0:
            return self.jac_x(x, p) * 0.0
        h = _EPS ** (1 / 3) * max(1.0, float(np.linalg.norm(x)) / np.sqrt(self.n))
        d = v / nv
        return (self.jac_x(x + h * d, p) - self.jac_x(x - h * d, p)) * (nv / (2 * h))

    def jac_x_dp(self, x: np.ndarray, p: np.ndarray, k: int):
        """d/dp_k of the Jacobian."""
        h = _EPS ** (1 / 3) * max(1.0, abs(p[k]))
        pp, pm = p.copy(), p.copy()
        pp[k] += h
        pm[k] -= h
        return (self.jac_x(x, pp) - self.jac_x(x, pm)) / (2 * h)
