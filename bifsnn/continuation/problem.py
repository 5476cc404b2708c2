"""The problem definition: a smooth ODE x' = f(x, p) with a numeric parameter vector.

Parameters are a 1-D numpy array ``p`` (not a dict): ``f(x, p)`` receives a float array, and a
continuation parameter is named either by its index or, when ``param_names`` is given, by
name.  Optional derivatives:

* ``dfdx(x, p)`` -> (n, n) ndarray or scipy.sparse matrix (the Jacobian);
* ``dfdp(x, p)`` -> (n, n_params) ndarray: derivatives with respect to *all* parameters.

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
    and files.  ``x_names`` optionally names the state components.
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
    _groups: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.x0 = np.atleast_1d(np.asarray(self.x0, dtype=float)).copy()
        self.p0 = np.atleast_1d(np.asarray(self.p0, dtype=float)).copy()
        if self.param_names is not None:
            self.param_names = tuple(self.param_names)
            if len(self.param_names) != self.p0.size:
                raise ValueError("param_names must have one name per entry of p0")
        self.param = self.param_index(self.param)
        fx = np.asarray(self.f(self.x0, self.p0), dtype=float)
        if fx.shape != self.x0.shape:
            raise ValueError(f"f(x0, p0) has shape {fx.shape}, expected {self.x0.shape}")
        if self.jac_sparsity is not None:
            self.jac_sparsity = sp.csc_matrix(self.jac_sparsity, dtype=bool)
            self._groups = group_columns(self.jac_sparsity)

    # ---------------------------------------------------------------- names and indices
    @property
    def n(self) -> int:
        return self.x0.size

    @property
    def n_params(self) -> int:
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
        if isinstance(param, str):
            if self.param_names is None or param not in self.param_names:
                raise ValueError(f"unknown parameter {param!r}; names: {self.param_names}")
            return self.param_names.index(param)
        k = int(param)
        if not -self.p0.size <= k < self.p0.size:
            raise ValueError(f"parameter index {k} out of range for {self.p0.size} parameters")
        return k % self.p0.size

    def param_label(self, k: int) -> str:
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
