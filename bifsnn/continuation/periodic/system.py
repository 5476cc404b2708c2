"""Adapter turning a user ODE x' = f(x, p) into batched evaluations for periodic-orbit solvers.

The periodic-orbit code evaluates f, df/dx and df/dp at hundreds of points at once. This
module hides whether the user supplied analytic Jacobians, a vectorised f, or neither (then
finite differences with column grouping from an optional sparsity pattern are used).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from bifsnn.continuation.errors import UserFunctionError, call_user
from bifsnn.continuation.linalg import group_columns

__all__ = ["CycleSystem", "as_cycle_system"]


class CycleSystem:
    """Smooth autonomous ODE x' = f(x, p) seen through one scalar continuation parameter.

    Parameters
    ----------
    f : callable f(x, P) -> (n,) with P the parameter object (see ``params``/``ipar``).
    n : state dimension.
    dfdx : optional callable returning the (n, n) Jacobian (dense array or scipy.sparse).
    dfdp : optional callable returning df/dP: (n,) for a scalar parameter, or (n, npar).
    params : None (then P is the scalar continuation parameter itself) or a 1-D array of
        parameters of which entry ``ipar`` is continued.
    vectorized : f accepts x of shape (n, K) and returns (n, K) (solve_ivp convention).
    jac_sparsity : optional (n, n) pattern of df/dx; the diagonal is always included.
    batch : optional batched evaluations of the same f, dfdx, dfdp at many states per call
        (see :class:`~bifsnn.continuation.problem.ODEProblem`; requires ``params``).
    """

    def __init__(
        self,
        f: Callable[..., Any],
        n: int,
        *,
        dfdx: Callable[..., Any] | None = None,
        dfdp: Callable[..., Any] | None = None,
        params: Sequence[float] | np.ndarray | None = None,
        ipar: int = 0,
        vectorized: bool = False,
        jac_sparsity: Any = None,
        fd_step: float = 1e-7,
        batch: Any = None,
    ) -> None:
        if not callable(f):
            raise TypeError("f must be callable f(x, p)")
        if not (isinstance(n, int | np.integer) and n >= 1):
            raise ValueError(f"n (state dimension) must be a positive integer, got {n!r}")
        self.f_user = f
        self.n = int(n)
        self.dfdx_user = dfdx
        self.dfdp_user = dfdp
        self.params = None if params is None else np.array(params, dtype=float)
        if self.params is not None and not (0 <= ipar < self.params.size):
            raise ValueError(f"ipar must be in [0, {self.params.size - 1}], got {ipar}")
        self.ipar = int(ipar)
        self.vectorized = bool(vectorized)
        self.fd_step = float(fd_step)
        # batched evaluations need the full parameter vector (ODEProblem convention)
        self.batch = batch if self.params is not None else None
        if jac_sparsity is None:
            pat = sp.csc_matrix(np.ones((self.n, self.n)))
        else:
            pat = sp.csc_matrix(jac_sparsity, dtype=float)
            if pat.shape != (self.n, self.n):
                raise ValueError(f"jac_sparsity must have shape ({n}, {n}), got {pat.shape}")
            pat = (abs(pat) + sp.identity(self.n, format="csc")).tocsc()
        pat.data[:] = 1.0
        pat.sort_indices()
        coo = pat.tocoo()
        order = np.lexsort((coo.col, coo.row))
        self.jrows = coo.row[order].astype(np.int64)
        self.jcols = coo.col[order].astype(np.int64)
        self.jdiag = (self.jrows == self.jcols).astype(float)
        self.nnz = self.jrows.size
        self._groups = group_columns(pat) if jac_sparsity is not None else np.arange(self.n)

    # ----------------------------------------------------------------- parameter handling
    def P(self, p: float) -> Any:
        """Parameter object passed to the user functions for continuation value p."""
        if self.params is None:
            return float(p)
        P = self.params.copy()
        P[self.ipar] = p
        return P

    @property
    def dense_pattern(self) -> bool:
        """True when df/dx is treated as dense (no sparsity pattern known)."""
        return self.nnz == self.n * self.n

    def with_sparsity(self, pattern: Any) -> CycleSystem:
        """Copy using the (n, n) Jacobian sparsity ``pattern`` (diagonal always included)."""
        return CycleSystem(
            self.f_user, self.n, dfdx=self.dfdx_user, dfdp=self.dfdp_user, params=self.params,
            ipar=self.ipar, vectorized=self.vectorized, jac_sparsity=pattern,
            fd_step=self.fd_step, batch=self.batch,
        )

    def detect_sparsity(self, X: np.ndarray, p: float) -> np.ndarray:
        """Union of the nonzeros of df/dx over the states X (K, n), plus the current pattern.

        Only meaningful with an analytic dfdx (finite differences see every coupling anyway).
        """
        if self.batch is not None:
            nz = self._batched("dfdx", "dfdx_pattern", np.atleast_2d(X), self.P(p)) != 0
        else:
            nz = np.zeros((self.n, self.n), dtype=bool)
            for x in np.atleast_2d(X):
                nz |= self.jac(x, p) != 0
        return self.pattern_with(nz)

    def pattern_with(self, nonzeros: np.ndarray) -> np.ndarray:
        """The (n, n) booleans ``nonzeros`` united with the current pattern (unless dense)
        and the diagonal: what :meth:`detect_sparsity` returns for df/dx's nonzeros."""
        pat = np.array(nonzeros, dtype=bool)
        if not self.dense_pattern:
            pat[self.jrows, self.jcols] = True
        pat[np.arange(self.n), np.arange(self.n)] = True
        return pat

    def jac_values_pattern(self, X: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray | None]:
        """(:meth:`jac_values` at the K points X, :meth:`detect_sparsity` at them) from one
        df/dx per point when the batched evaluations offer ``dfdx_values_pattern``; else
        (the values, None)."""
        fused = getattr(self.batch, "dfdx_values_pattern", None)
        if fused is None:
            return self.jac_values(X, p), None
        try:
            vals, nz = fused(np.asarray(X, dtype=float), self.P(p), self.jrows, self.jcols)
        except Exception as exc:  # noqa: BLE001 - every failure of user code is reported
            raise UserFunctionError("dfdx", exc) from exc
        return np.asarray(vals, dtype=float), self.pattern_with(np.asarray(nz) != 0)

    def with_params(self, params: np.ndarray | None, ipar: int | None = None) -> CycleSystem:
        """Copy with another base parameter vector / continued index."""
        new = object.__new__(CycleSystem)
        new.__dict__.update(self.__dict__)
        new.params = None if params is None else np.array(params, dtype=float)
        if ipar is not None:
            new.ipar = int(ipar)
        return new

    # ----------------------------------------------------------------- single point
    def f(self, x: np.ndarray, p: float) -> np.ndarray:
        """f at one state (an exception in user code becomes a UserFunctionError)."""
        return np.asarray(call_user(self.f_user, "f", np.asarray(x, dtype=float), self.P(p)),
                          dtype=float)

    def jac(self, x: np.ndarray, p: float) -> np.ndarray:
        """Dense (n, n) Jacobian at one point."""
        if self.dfdx_user is not None:
            J = call_user(self.dfdx_user, "dfdx", np.asarray(x, dtype=float), self.P(p))
            return J.toarray() if sp.issparse(J) else np.asarray(J, dtype=float)
        vals = self.jac_values(np.asarray(x, dtype=float)[None, :], p)[0]
        J = np.zeros((self.n, self.n))
        J[self.jrows, self.jcols] = vals
        return J

    def fp(self, x: np.ndarray, p: float) -> np.ndarray:
        """df/dp of the continued parameter at one state."""
        return self.fp_batch(np.asarray(x, dtype=float)[None, :], p)[0]

    # ----------------------------------------------------------------- batches (K, n)
    def _batched(self, what: str, name: str, X: np.ndarray, *args: Any) -> np.ndarray:
        """self.batch.<name>(X, *args) (an exception in it becomes a UserFunctionError
        naming ``what``)."""
        try:
            return np.asarray(getattr(self.batch, name)(np.asarray(X, dtype=float), *args),
                              dtype=float)
        except Exception as exc:  # noqa: BLE001 - every failure of user code is reported
            raise UserFunctionError(what, exc) from exc

    def f_batch(self, X: np.ndarray, p: float) -> np.ndarray:
        """f at K points; X has shape (K, n); returns (K, n)."""
        P = self.P(p)
        if self.batch is not None:
            return self._batched("f", "f", X, P)
        if self.vectorized:
            return np.asarray(call_user(self.f_user, "f", X.T, P), dtype=float).T.reshape(X.shape)
        f = self.f_user
        try:  # one guard around the loop (not one call per point): this is a hot path
            return np.array([f(x, P) for x in X], dtype=float).reshape(X.shape)
        except Exception as exc:  # noqa: BLE001 - every failure of user code is reported
            raise UserFunctionError("f", exc) from exc

    def jac_values(self, X: np.ndarray, p: float) -> np.ndarray:
        """Values of df/dx on the sparsity pattern at K points: (K, nnz)."""
        K = X.shape[0]
        if self.batch is not None:
            return self._batched("dfdx", "dfdx_values", X, self.P(p), self.jrows, self.jcols)
        if self.dfdx_user is not None:
            P = self.P(p)
            out = np.empty((K, self.nnz))
            dfdx = self.dfdx_user
            for k in range(K):
                try:
                    J = dfdx(X[k], P)
                except Exception as exc:  # noqa: BLE001 - every failure of user code
                    raise UserFunctionError("dfdx", exc) from exc
                if sp.issparse(J):
                    J = J.toarray()
                out[k] = np.asarray(J, dtype=float)[self.jrows, self.jcols]
            return out
        # forward differences, one batched f evaluation per column group
        F0 = self.f_batch(X, p)
        out = np.empty((K, self.nnz))
        ngroups = int(self._groups.max()) + 1
        scale = self.fd_step * np.maximum(1.0, np.abs(X))
        col_of_entry = self.jcols
        row_of_entry = self.jrows
        for g in range(ngroups):
            cols = np.flatnonzero(self._groups == g)
            Xp = X.copy()
            Xp[:, cols] += scale[:, cols]
            dF = self.f_batch(Xp, p) - F0
            sel = np.flatnonzero(self._groups[col_of_entry] == g)
            out[:, sel] = dF[:, row_of_entry[sel]] / scale[:, col_of_entry[sel]]
        return out

    def fp_batch(self, X: np.ndarray, p: float) -> np.ndarray:
        """df/dp at K points: (K, n)."""
        if self.batch is not None:
            return self._batched("dfdp", "dfdp_column", X, self.P(p), self.ipar)
        if self.dfdp_user is not None:
            P = self.P(p)
            out = np.empty_like(X)
            for k in range(X.shape[0]):
                g = np.asarray(call_user(self.dfdp_user, "dfdp", X[k], P), dtype=float)
                out[k] = g[:, self.ipar] if (g.ndim == 2 and self.params is not None) else g
            return out
        dp = self.fd_step * max(1.0, abs(p))
        return (self.f_batch(X, p + dp) - self.f_batch(X, p - dp)) / (2 * dp)


def as_cycle_system(obj: Any, **kwargs: Any) -> CycleSystem:
    """Accept a CycleSystem, a callable f, or a duck-typed problem with f/dfdx/dfdp attributes."""
    if isinstance(obj, CycleSystem):
        return obj
    if callable(obj) and not hasattr(obj, "f"):
        return CycleSystem(obj, **kwargs)
    f = getattr(obj, "f", None) or getattr(obj, "rhs", None)
    if f is None:
        raise TypeError("system must be a CycleSystem, a callable f(x, p) or have an f attribute")
    kw = dict(kwargs)
    # bifsnn.continuation.ODEProblem: parameter vector p0, continued index param
    if "params" not in kw and getattr(obj, "p0", None) is not None:
        kw["params"] = np.asarray(obj.p0, dtype=float)
    if "ipar" not in kw and isinstance(getattr(obj, "param", None), int | np.integer):
        kw["ipar"] = int(obj.param)
    for name in ("dfdx", "dfdp", "params", "ipar", "vectorized", "jac_sparsity", "batch"):
        if name not in kw and getattr(obj, name, None) is not None:
            kw[name] = getattr(obj, name)
    if "n" not in kw:
        kw["n"] = int(getattr(obj, "n", getattr(obj, "dim", 0)))
    return CycleSystem(f, **kw)
