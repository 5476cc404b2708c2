"""Linear algebra shared by the continuation engine: dense/sparse factorisations, bordered
matrices, finite-difference Jacobians (with column grouping from a sparsity pattern), and
finite-difference multilinear forms (second and third derivatives) for normal forms.

Every function accepts dense ``numpy`` arrays and ``scipy.sparse`` matrices alike; a matrix
stays sparse if it came in sparse.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from threadpoolctl import ThreadpoolController

__all__ = [
    "Factorization",
    "blas_single_thread",
    "bordered",
    "fd_jacobian",
    "group_columns",
    "is_sparse",
    "multilinear_B",
    "multilinear_C",
    "newton",
    "permutation_sign",
    "sparse_lu",
]

_EPS = np.finfo(float).eps


_CONTROLLER = ThreadpoolController()


def blas_single_thread():
    """Context limiting BLAS to one thread, for the small and medium dense LAPACK calls of
    the engine (15-50x faster single-threaded on a busy 2-core machine); the limit is lifted
    on exit (the library never changes the global thread count)."""
    return _CONTROLLER.limit(limits=1, user_api="blas")


#: Reuse the fill-reducing column ordering between factorisations of one sparsity pattern
#: (set False only to benchmark against the previous behaviour).
REUSE_ORDERING = True
_PERM_CACHE: dict[tuple, np.ndarray] = {}
_PERM_CACHE_MAX = 16


#: Attribute under which a sparse matrix may carry its :func:`_pattern_key`, computed once
#: for a cached structure (the collocation Jacobians: hashing their 2 M indices cost ~3 ms per
#: look-up, four look-ups per cycle step).  Only set on matrices whose index arrays are never
#: modified in place.
PATTERN_KEY_ATTR = "_bifsnn_pattern_key"


def _pattern_key(A: sp.csc_matrix) -> tuple:
    key = getattr(A, PATTERN_KEY_ATTR, None)
    if key is not None:
        return key
    return (A.shape, A.nnz, hash(A.indptr.tobytes()), hash(A.indices.tobytes()))


def sparse_lu(A):
    """SuperLU factorisation of a square sparse matrix with the minimum-degree ordering of
    A^T + A (on collocation Jacobians with dense n x n blocks, the reduced network ODE with
    n = 148 and 35k unknowns, 27x less fill than SuperLU's default COLAMD: 9.3e6 against
    2.5e8 nonzeros in L + U, 0.9 s against 22 s; the same cost on banded systems).

    The ordering depends only on the sparsity pattern, which is the same for every Newton
    iterate, tangent and mesh of a given size: above 2000 unknowns it is computed once per
    pattern and reused (SuperLU is then called with the columns pre-permuted and NATURAL
    ordering: same factors and fill, ~20 % less time per factorisation on the reduced
    network ODE).  Returns an object with ``solve(b, trans='N'|'T')``, ``L``, ``U``; raises
    RuntimeError (SuperLU's) when the matrix is exactly singular.
    """
    A = sp.csc_matrix(A)
    if A.shape[0] < 2000 or not REUSE_ORDERING:
        return spla.splu(A, permc_spec="MMD_AT_PLUS_A")
    A.sort_indices()
    key = _pattern_key(A)
    q = _PERM_CACHE.get(key)
    if q is None:
        lu = spla.splu(A, permc_spec="MMD_AT_PLUS_A")
        if len(_PERM_CACHE) >= _PERM_CACHE_MAX:
            _PERM_CACHE.pop(next(iter(_PERM_CACHE)))
        _PERM_CACHE[key] = np.argsort(lu.perm_c)
        return lu
    return _PermutedLU(spla.splu(A[:, q], permc_spec="NATURAL"), q)


class _PermutedLU:
    """LU of B = A[:, q] seen as a factorisation of A."""

    def __init__(self, lu, q: np.ndarray) -> None:
        self.lu = lu
        self.q = q
        self.shape = lu.shape
        self.perm_r = lu.perm_r
        self.perm_c = q[lu.perm_c]  # column permutation of A (natural ordering of B)

    @property
    def L(self):
        return self.lu.L

    @property
    def U(self):
        return self.lu.U

    def solve(self, b: np.ndarray, trans: str = "N") -> np.ndarray:
        """x with A x = b ('N') or A^T x = b ('T', 'H')."""
        if trans == "N":
            y = self.lu.solve(b)
            x = np.empty_like(y)
            x[self.q] = y
            return x
        return self.lu.solve(np.asarray(b)[self.q], trans=trans)


def is_sparse(A) -> bool:
    """True if A is a scipy sparse matrix."""
    return sp.issparse(A)


def permutation_sign(perm: np.ndarray) -> int:
    """Sign (+1/-1) of a permutation given as an index array."""
    perm = np.asarray(perm)
    seen = np.zeros(len(perm), dtype=bool)
    sign = 1
    for i in range(len(perm)):
        if seen[i]:
            continue
        j, length = i, 0
        while not seen[j]:
            seen[j] = True
            j = perm[j]
            length += 1
        if length % 2 == 0:
            sign = -sign
    return sign


class Factorization:
    """LU factorisation of a square dense or sparse matrix with ``solve`` and ``det_sign``.

    Sparse matrices use :func:`sparse_lu` (SuperLU, minimum-degree ordering of A^T + A,
    cached per sparsity pattern); dense matrices LAPACK getrf (BLAS single-threaded).
    ``solve(b, trans)`` with ``trans`` in ``'N'`` (A x = b), ``'T'`` (A^T x = b) or ``'H'``.
    Raises ``np.linalg.LinAlgError`` when the matrix is exactly singular or not finite.
    """

    def __init__(self, A):
        self.sparse = sp.issparse(A)
        self.shape = A.shape
        if self.sparse:
            A = sp.csc_matrix(A)
            if not np.all(np.isfinite(A.data)):
                raise np.linalg.LinAlgError("matrix has non-finite entries")
            try:
                self._lu = sparse_lu(A)
            except RuntimeError as exc:  # "Factor is exactly singular"
                raise np.linalg.LinAlgError(str(exc)) from exc
        else:
            A = np.asarray(A)
            if not np.all(np.isfinite(A)):
                raise np.linalg.LinAlgError("matrix has non-finite entries")
            with warnings.catch_warnings(), blas_single_thread():
                warnings.simplefilter("ignore", sla.LinAlgWarning)
                self._lu = sla.lu_factor(A, check_finite=False)
            if np.any(np.diag(self._lu[0]) == 0):
                raise np.linalg.LinAlgError("matrix is exactly singular")

    def solve(self, b: np.ndarray, trans: str = "N") -> np.ndarray:
        """Solve A y = b (trans='T': A^T y = b) with the stored LU factors."""
        if self.sparse:
            b = np.asarray(b)
            if np.iscomplexobj(b) and self._lu.U.dtype.kind != "c":
                return self._lu.solve(b.real.copy(), trans=trans) + 1j * self._lu.solve(
                    b.imag.copy(), trans=trans
                )
            return self._lu.solve(b, trans=trans)
        code = {"N": 0, "T": 1, "H": 2}[trans]
        return sla.lu_solve(self._lu, b, trans=code, check_finite=False)

    def det_sign(self) -> int:
        """Sign of the determinant of a real matrix (+1, -1, or 0)."""
        if self.sparse:
            d = self._lu.U.diagonal()
            s = int(np.prod(np.sign(d)))
            return s * permutation_sign(self._lu.perm_r) * permutation_sign(self._lu.perm_c)
        lu, piv = self._lu
        s = int(np.prod(np.sign(np.diag(lu))))
        n_swaps = int(np.sum(piv != np.arange(len(piv))))
        return -s if n_swaps % 2 else s


def bordered(A, B: np.ndarray | None = None, C: np.ndarray | None = None, D=None):
    """The matrix [[A, B], [C^T, D]]; sparse if ``A`` is sparse.

    ``B`` is (n, k) (or (n,)), ``C`` is (m, k) (or (m,)) and ``D`` is (k, k) (zeros if None).
    ``B`` may be None to add rows only ([[A], [C^T]]).
    """
    m, n = A.shape
    if C is not None:
        C = np.asarray(C)
        C = C.reshape(n, -1) if C.ndim == 1 else C
    if B is not None:
        B = np.asarray(B)
        B = B.reshape(m, -1) if B.ndim == 1 else B
    if B is None:
        if sp.issparse(A):
            return sp.vstack([A, sp.csr_matrix(C.T)], format="csc")
        return np.vstack([np.asarray(A), C.T])
    k = B.shape[1]
    if D is None:
        D = np.zeros((k, k), dtype=np.result_type(B, C))
    D = np.atleast_2d(D)
    if sp.issparse(A):
        return sp.bmat([[A, sp.csr_matrix(B)], [sp.csr_matrix(C.T), sp.csr_matrix(D)]],
                       format="csc")
    return np.block([[np.asarray(A), B], [C.T, D]])


def group_columns(sparsity) -> np.ndarray:
    """Greedy column grouping (colouring) so that columns in one group share no row.

    Returns an integer group label per column; one finite difference per group suffices.
    """
    S = sp.csc_matrix(sparsity, dtype=bool)
    n = S.shape[1]
    rows_of = [S.indices[S.indptr[j]:S.indptr[j + 1]] for j in range(n)]
    groups = np.full(n, -1, dtype=int)
    used: list[np.ndarray] = []  # row occupancy per group
    for j in range(n):
        r = rows_of[j]
        for g, occ in enumerate(used):
            if not occ[r].any():
                groups[j] = g
                occ[r] = True
                break
        else:
            occ = np.zeros(S.shape[0], dtype=bool)
            occ[r] = True
            used.append(occ)
            groups[j] = len(used) - 1
    return groups


def fd_jacobian(
    fun: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    f0: np.ndarray | None = None,
    sparsity=None,
    groups: np.ndarray | None = None,
    rel_step: float | None = None,
    central: bool = False,
):
    """Finite-difference Jacobian of ``fun`` at ``x`` (forward, or central if ``central``).

    With ``sparsity`` (a dense/sparse boolean pattern of shape (m, n)) the result is a sparse
    CSC matrix computed with one evaluation per column group (pass precomputed ``groups`` from
    :func:`group_columns` to avoid recolouring).  Without it, a dense (m, n) array.
    """
    x = np.asarray(x, dtype=float)
    if f0 is None:
        f0 = np.asarray(fun(x), dtype=float)
    if rel_step is None:
        rel_step = _EPS ** (1 / 3) if central else np.sqrt(_EPS)
    h = rel_step * np.maximum(1.0, np.abs(x))

    def diff(xp: np.ndarray, cols) -> np.ndarray:
        """(fun(x + dx) - fun(x - dx)) / (2 dx) or forward; returns (df, dx of cols)."""
        dx = xp[cols] - x[cols]
        fp = np.asarray(fun(xp), dtype=float)
        if central:
            xm = x.copy()
            xm[cols] -= dx
            return (fp - np.asarray(fun(xm), dtype=float)) / 2.0, dx
        return fp - f0, dx

    if sparsity is None:
        J = np.empty((f0.size, x.size))
        for j in range(x.size):
            xj = x.copy()
            xj[j] += h[j]
            df, dx = diff(xj, [j])
            J[:, j] = df / dx[0]
        return J
    S = sp.csc_matrix(sparsity, dtype=bool)
    if groups is None:
        groups = group_columns(S)
    rows, cols = S.nonzero()
    vals = np.empty(len(rows))
    for g in range(groups.max() + 1 if len(groups) else 0):
        cols_g = np.flatnonzero(groups == g)
        xg = x.copy()
        xg[cols_g] += h[cols_g]
        df, _ = diff(xg, cols_g)
        mask = groups[cols] == g
        vals[mask] = df[rows[mask]] / (xg[cols[mask]] - x[cols[mask]])
    return sp.csc_matrix((vals, (rows, cols)), shape=S.shape)


def multilinear_B(fun: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                  u: np.ndarray, v: np.ndarray | None = None) -> np.ndarray:
    """Second derivative B(u, v) = D^2 fun(x)[u, v] by central differences (complex allowed).

    Uses polarisation on real and imaginary parts, so complex vectors are handled bilinearly
    (no conjugation).
    """
    if v is None:
        v = u
    if np.iscomplexobj(u) or np.iscomplexobj(v):
        ur, ui = np.real(u), np.imag(u)
        vr, vi = np.real(v), np.imag(v)
        re = _B_real(fun, x, ur, vr) - _B_real(fun, x, ui, vi)
        im = _B_real(fun, x, ur, vi) + _B_real(fun, x, ui, vr)
        return re + 1j * im
    return _B_real(fun, x, u, v)


def _quad(fun, x, v):
    """D^2 fun(x)[v, v] (real v)."""
    nv = np.linalg.norm(v)
    if nv == 0:
        return np.zeros_like(np.asarray(fun(x), dtype=float))
    # fourth-order stencil: error O(h^4) + O(eps / h^2)
    h = _EPS ** (1 / 6) * max(1.0, np.linalg.norm(x) / np.sqrt(max(len(x), 1)))
    d = v / nv
    f = {k: np.asarray(fun(x + k * h * d), dtype=float) for k in (-2, -1, 0, 1, 2)}
    return (-f[2] + 16 * f[1] - 30 * f[0] + 16 * f[-1] - f[-2]) / (12 * h**2) * nv**2


def _B_real(fun, x, u, v):
    if np.array_equal(u, v):
        return _quad(fun, x, u)
    return 0.25 * (_quad(fun, x, u + v) - _quad(fun, x, u - v))


def _cubic(fun, x, v):
    """D^3 fun(x)[v, v, v] (real v) by a 6-point central difference (error O(h^4))."""
    nv = np.linalg.norm(v)
    if nv == 0:
        return np.zeros_like(np.asarray(fun(x), dtype=float))
    h = _EPS ** (1 / 7) * max(1.0, np.linalg.norm(x) / np.sqrt(max(len(x), 1)))
    d = v / nv
    f = {k: np.asarray(fun(x + k * h * d), dtype=float) for k in (-3, -2, -1, 1, 2, 3)}
    return ((-f[3] + 8 * f[2] - 13 * f[1] + 13 * f[-1] - 8 * f[-2] + f[-3])
            / (8 * h**3) * nv**3)


def _C_real(fun, x, a, b, c):
    """Symmetric trilinear form by polarisation of the cubic form."""
    T = lambda v: _cubic(fun, x, v)  # noqa: E731
    return (T(a + b + c) - T(a + b - c) - T(a - b + c) + T(a - b - c)) / 24.0


def multilinear_C(fun: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                  u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Third derivative C(u, v, w) = D^3 fun(x)[u, v, w] by finite differences (complex allowed,
    trilinear without conjugation)."""
    parts_u = [(np.real(u), 1.0), (np.imag(u), 1j)]
    parts_v = [(np.real(v), 1.0), (np.imag(v), 1j)]
    parts_w = [(np.real(w), 1.0), (np.imag(w), 1j)]
    out = 0.0
    for a, ca in parts_u:
        if not np.any(a):
            continue
        for b, cb in parts_v:
            if not np.any(b):
                continue
            for c, cc in parts_w:
                if not np.any(c):
                    continue
                out = out + ca * cb * cc * _C_real(fun, x, a, b, c)
    if np.isscalar(out):
        return np.zeros(len(np.asarray(fun(x))), dtype=complex)
    return out


def newton(
    F: Callable[[np.ndarray], np.ndarray],
    dF: Callable[[np.ndarray], object],
    z0: np.ndarray,
    tol: float = 1e-10,
    max_iter: int = 20,
) -> tuple[np.ndarray, bool, int, float]:
    """Plain Newton's method for a square system; returns (z, converged, iterations, |F|).

    Converged when both the Newton step and the residual are below ``tol`` (the step
    relative to ``1 + |z|``).  Stops early on non-finite values or divergence.
    """
    z = np.array(z0, dtype=float)
    r = np.asarray(F(z), dtype=float)
    res = float(np.max(np.abs(r))) if r.size else 0.0
    res0 = res
    for it in range(1, max_iter + 1):
        if not np.all(np.isfinite(r)):
            return z, False, it, np.inf
        try:
            dz = Factorization(dF(z)).solve(-r)
        except (np.linalg.LinAlgError, ValueError):
            return z, False, it, res
        z = z + dz
        r = np.asarray(F(z), dtype=float)
        res = float(np.max(np.abs(r))) if r.size else 0.0
        if not np.isfinite(res) or res > 1e6 * (res0 + 1.0):
            return z, False, it, res
        step = float(np.max(np.abs(dz)))
        if step <= tol * (1.0 + float(np.max(np.abs(z)))) and res <= tol:
            return z, True, it, res
        if res <= 1e-2 * tol:
            return z, True, it, res
    return z, False, max_iter, res
