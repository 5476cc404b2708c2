"""Condensation with dense interval blocks, for systems whose Jacobian df/dx is dense.

:class:`~.condensed.CondensedLU` factorises the interval blocks D_j (m n x m n) by a compiled
sparse LU and propagates through them by sparse triangular solves: right when df/dx is
sparse (the paper's closure: 11 % of entries, little fill).  When df/dx is dense (the
conditional closures: ~50 % of entries, through the within-bin variances and the firing
rates every bin's transfer depends on), the sparse LU fills in completely and runs at a
fraction of a dense factorisation's speed: on the conditional closure's ODE (n = 288, ntst 40)
the block LUs took 17.6 CPU-s per cycle step.  :class:`DenseCondensedLU` does the same
condensation (same equations, same monodromy matrix, same solves) with LAPACK's LU of every
D_j and matrix products for the couplings A_j.  :func:`dense_blocks` decides which one a
system gets (:data:`DENSE_BLOCK_DENSITY`).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from .condensed import CondensedLU

__all__ = ["DENSE_BLOCK_DENSITY", "DenseCondensedLU", "dense_blocks"]

#: Systems whose df/dx pattern holds more than this fraction of the n^2 entries are condensed
#: with dense interval blocks (:class:`DenseCondensedLU`); None: never (the sparse blocks of
#: :class:`~.condensed.CondensedLU` for every system, the previous method)
DENSE_BLOCK_DENSITY: float | None = 0.25


def dense_blocks(coll) -> bool:
    """Whether the collocation Jacobians of ``coll`` are condensed with dense blocks."""
    nnz = getattr(coll.sys, "nnz", None)
    return (DENSE_BLOCK_DENSITY is not None and nnz is not None
            and nnz > DENSE_BLOCK_DENSITY * coll.n * coll.n)


class DenseLayout:
    """Where the interval blocks A_j and D_j of a collocation Jacobian sit in ``A.data``
    (one sparsity pattern), with the index arrays that scatter them into dense blocks."""

    def __init__(self, posA, patA, posD, patD, mn: int) -> None:
        self.posA, self.patA, self.posD, self.patD = posA, patA, posD, patD
        self.mn = mn
        self.rowsA = np.repeat(np.arange(mn), np.diff(patA[0]))  # patA: CSR (rows, cols)
        self.colsA = np.asarray(patA[1])
        self.colsD = np.repeat(np.arange(mn), np.diff(patD[0]))  # patD: CSC (cols, rows)
        self.rowsD = np.asarray(patD[1])


class DenseCondensedLU(CondensedLU):
    """:class:`~.condensed.CondensedLU` with dense LU factors of the interval blocks D_j
    (LAPACK, partial pivoting) and dense couplings A_j; the same interface (``solve``,
    ``monodromy``, ``bordered``).  BLAS threads as the caller set them (one in a cycle run)."""

    def __init__(self, A: sp.csc_matrix, coll, lay: DenseLayout, border: bool = True) -> None:
        self._build(A, coll, lay, border)
        self.S_lu = None
        if border:
            self.bordered()

    def _build(self, A: sp.csc_matrix, coll, lay: DenseLayout, border: bool) -> None:
        self._sizes(A, coll, lay)
        N, n, mn, data = self.N, self.n, self.mn, A.data
        self.Ax = np.ascontiguousarray(data[lay.posA])
        self.Ai = lay.colsA
        self.Ad = np.zeros((N, mn, n))
        self.Ad[:, lay.rowsA, lay.colsA] = self.Ax
        # D_j^T in C order is D_j in Fortran order: LAPACK factorises it in place
        DT = np.zeros((N, mn, mn))
        DT[:, lay.colsD, lay.rowsD] = data[lay.posD]
        self.lus, self.perms = [], []
        for j in range(N):
            lu, piv = sla.lu_factor(DT[j].T, overwrite_a=True, check_finite=False)
            d = np.abs(np.diag(lu))
            if not np.all(np.isfinite(d)) or d.min() == 0.0:
                raise RuntimeError(f"Factor is exactly singular (interval block {j})")
            self.lus.append((lu, piv))
            self.perms.append(_row_permutation(piv))
        self._first_node(A, coll, lay, border, pad=False)

    def _propagate(self, Z: np.ndarray, k0: int) -> float:
        """Z <- the last node of the forward block substitution of [0 | G] - C_0 Z (the
        first k0 columns without G) in place; the largest |entry| of the first k0 columns."""
        mn = self.mn
        k = Z.shape[1]
        growth = 0.0
        R = np.zeros((mn, k))
        for j in range(self.N):
            R[:, :k0] = 0.0
            R[:, k0:] = self.G[j, :, :k - k0]
            R -= self.Ad[j] @ Z
            Z[:] = self._last_node(j, R)
            if k0:
                growth = max(growth, float(np.max(np.abs(Z[:, :k0]))))
        return growth

    def _last_node(self, j: int, r: np.ndarray) -> np.ndarray:
        """The last n entries of D_j^{-1} r: the whole forward substitution, the backward
        one through U's last n rows only (the last node's unknowns are D_j's last columns)."""
        lu = self.lus[j][0]
        n = self.n
        w = sla.solve_triangular(lu, r[self.perms[j]], lower=True, unit_diagonal=True,
                                 check_finite=False)
        return sla.solve_triangular(lu[-n:, -n:], w[-n:], check_finite=False)

    def _solve_rest_T(self, e: np.ndarray) -> np.ndarray:
        """C_r^{-T} e for e of shape (ncoll, k) (block backward substitution)."""
        N, n, mn = self.N, self.n, self.mn
        e = np.asarray(e, dtype=float).reshape(N, mn, -1)
        v = np.empty_like(e)
        carry = None
        for j in range(N - 1, -1, -1):
            r = e[j].copy()
            if carry is not None:
                r[mn - n:] -= carry
            v[j] = sla.lu_solve(self.lus[j], r, trans=1, check_finite=False)
            carry = self.Ad[j].T @ v[j]
        return v.reshape(N * mn, -1)

    def _forward(self, bc: np.ndarray, z0: np.ndarray, keep: bool):
        n, mn = self.n, self.mn
        z = np.array(z0, dtype=float)
        g = np.asarray(bc, dtype=float).reshape(self.N, mn)
        yall = np.empty((self.N, mn)) if keep else None
        for j in range(self.N):
            r = g[j] - self.Ad[j] @ z
            if keep:
                yall[j] = sla.lu_solve(self.lus[j], r, check_finite=False)
                z = yall[j, mn - n:].copy()
            else:
                z = self._last_node(j, r)
        return z, (yall.ravel() if keep else None)


def _row_permutation(piv: np.ndarray) -> np.ndarray:
    """The row order P r of LAPACK's getrf row interchanges ``piv`` (0-based)."""
    perm = np.arange(piv.size)
    for i, p in enumerate(piv.tolist()):
        perm[i], perm[p] = perm[p], perm[i]
    return perm

