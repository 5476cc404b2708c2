"""Orthogonal collocation for periodic orbits (AUTO-07p style), sparse Jacobian, Newton, Floquet.

Unknowns: node values U ((ntst*ncol+1) * n, last node = first node by an explicit periodicity
equation), the period T and (during continuation) the parameter p. Equations, in this row
order: collocation at the Gauss points of every interval (ntst*ncol*n), periodicity
u(0) - u(1) = 0 (n), the integral phase condition int <u - u_ref, u_ref'> dt = 0 (1) and,
optionally, one bordering row (pseudo-arclength). Columns: U, then T, then p. The collocation
block alone is singular (phase invariance); the bordered matrix is factorised by SuperLU.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from bifsnn._cache import njit_cached
from bifsnn.continuation.linalg import PATTERN_KEY_ATTR, _pattern_key, sparse_lu

from .mesh import (
    collocation_tables,
    node_quadrature_weights,
)
from .system import CycleSystem

__all__ = ["CollocationOperator", "CycleSolution", "factorize", "floquet_from_jacobian",
           "FloquetResult", "sparse_lu"]


@dataclass
class FloquetResult:
    """Floquet multipliers (sorted by decreasing modulus) and the monodromy matrix."""

    multipliers: np.ndarray
    monodromy: np.ndarray | None
    trivial_error: float  # |mu - 1| for the multiplier closest to 1 (accuracy check)
    eigenvectors: np.ndarray | None = None
    # log|det M| = log|product of all multipliers|, accumulated interval by interval so that it
    # stays accurate when multipliers underflow (e.g. 1e-136 for van der Pol, mu = 10)
    log_abs_det: float = float("nan")

    def log_abs_nontrivial_2d(self) -> float:
        """For n = 2: log|mu_2| = log|det M| - log|mu_trivial| (accurate even if mu_2 ~ 1e-300)."""
        k = int(np.argmin(np.abs(self.multipliers - 1.0)))
        return self.log_abs_det - float(np.log(np.abs(self.multipliers[k])))


class NodeValues:
    """Mixin for cycles stored as node values ``U`` on mesh ``tm`` (degree ``ncol``) with
    period ``T``: node times and componentwise extremes."""

    @property
    def t(self) -> np.ndarray:
        """Physical times of the nodes (0 ... T)."""
        from .mesh import node_times

        return node_times(self.tm, self.ncol) * self.T

    @property
    def x_min(self) -> np.ndarray:
        """Componentwise minimum over the cycle's mesh nodes."""
        return self.U.min(axis=0)

    @property
    def x_max(self) -> np.ndarray:
        """Componentwise maximum over the cycle's mesh nodes."""
        return self.U.max(axis=0)


@dataclass
class CycleSolution(NodeValues):
    """A periodic orbit on a collocation mesh (normalised time in [0, 1])."""

    tm: np.ndarray
    ncol: int
    U: np.ndarray  # (ntst*ncol+1, n)
    T: float
    p: float
    success: bool = True
    message: str = ""
    iterations: int = 0
    residual_norm: float = float("nan")
    floquet: FloquetResult | None = None
    extra: dict = field(default_factory=dict)

    @property
    def ntst(self) -> int:
        """Number of mesh intervals."""
        return len(self.tm) - 1

    @property
    def multipliers(self) -> np.ndarray | None:
        """Floquet multipliers, or None if they were not computed."""
        return None if self.floquet is None else self.floquet.multipliers


class CollocationOperator:
    """Collocation equations of x' = T f(x, p) on [0, 1] for a fixed mesh: residual, sparse
    Jacobian, Newton at fixed p, Floquet multipliers (the settings of a continuation are a
    :class:`~bifsnn.continuation.periodic.Collocation`)."""

    #: threads of the condensation's block kernels (``Collocation.threads``)
    threads: int = 1

    def __init__(self, system: CycleSystem, tm: np.ndarray, ncol: int) -> None:
        self.sys = system
        self.tm = np.asarray(tm, dtype=float)
        self.ncol = int(ncol)
        self.tab = collocation_tables(self.ncol)
        self.h = np.diff(self.tm)
        if np.any(self.h <= 0):
            raise ValueError("mesh tm must be strictly increasing")
        self.ntst = len(self.h)
        self.n = system.n
        self.nnodes = self.ntst * self.ncol + 1
        self.nU = self.nnodes * self.n
        self.ncoll = self.ntst * self.ncol * self.n
        self.wnode = node_quadrature_weights(self.tm, self.ncol)
        self._idx = (
            np.arange(self.ntst)[:, None] * self.ncol + np.arange(self.ncol + 1)[None, :]
        )  # (N, m+1) node index per interval
        self._cache: dict = {}
        self._f_last: tuple | None = None  # (X, p, f(X, p), system): _f_at_points

    # ------------------------------------------------------------------ helpers
    def coll_points(self, U: np.ndarray) -> np.ndarray:
        """States at the collocation points (N*m, n)."""
        Uj = U[self._idx]  # (N, m+1, n)
        return np.einsum("kl,jln->jkn", self.tab.L, Uj).reshape(-1, self.n)

    def coll_derivs(self, U: np.ndarray) -> np.ndarray:
        """du/dt (normalised time) at the collocation points (N*m, n)."""
        Uj = U[self._idx]
        d = np.einsum("kl,jln->jkn", self.tab.D, Uj) / self.h[:, None, None]
        return d.reshape(-1, self.n)

    def node_derivative(self, U: np.ndarray) -> np.ndarray:
        """d/dt (normalised time) of the piecewise polynomial at the nodes (left-sided at ends)."""
        Uj = U[self._idx]  # (N, m+1, n)
        Db = self.tab.basis_derivative(self.tab.nodes)  # (m+1 nodes, m+1 basis)
        d = np.einsum("kl,jln->jkn", Db, Uj) / self.h[:, None, None]
        out = d[:, :-1, :].reshape(-1, self.n)
        return np.vstack([out, d[-1, -1][None, :]])

    def phase_reference(self, U: np.ndarray, T: float, p: float) -> np.ndarray:
        """Normalised derivative of a reference orbit at the nodes, for the phase condition."""
        F = T * self.sys.f_batch(U, p)
        nrm = np.sqrt(np.sum(self.wnode[:, None] * F * F))
        return F / (nrm if nrm > 0 else 1.0)

    def _f_at_points(self, X: np.ndarray, p: float) -> np.ndarray:
        """f at the collocation points X, remembered for the next call with the same system
        object, X and p (the corrector's first residual and Jacobian are taken at the same
        point)."""
        got = self._f_last
        if (got is not None and got[3] is self.sys and np.array_equal(got[1], p)
                and np.array_equal(got[0], X)):
            return got[2]
        F = self.sys.f_batch(X, p)
        self._f_last = (X, p, F, self.sys)
        return F

    # ------------------------------------------------------------------ residual
    def residual(
        self, U: np.ndarray, T: float, p: float, Uref: np.ndarray, Fref: np.ndarray
    ) -> np.ndarray:
        """Collocation, periodicity and phase residuals (length ncoll + n + 1)."""
        X = self.coll_points(U)
        r_coll = self.coll_derivs(U) - T * self._f_at_points(X, p)
        r_per = U[0] - U[-1]
        r_phase = np.sum(self.wnode[:, None] * (U - Uref) * Fref)
        return np.concatenate([r_coll.ravel(), r_per, [r_phase]])

    # ------------------------------------------------------------------ Jacobian
    def _structure(self, with_p: bool, border: bool):
        key = (with_p, border)
        if key in self._cache:
            return self._cache[key]
        # the pattern does not depend on the mesh points: share it between meshes of one size
        shared = self.sys.__dict__.setdefault("_collocation_structures", {})
        skey = (self.ntst, self.ncol, with_p, border)
        if skey in shared:
            self._cache[key] = shared[skey]
            return shared[skey]
        N, m, n = self.ntst, self.ncol, self.n
        jr, jc = self.sys.jrows, self.sys.jcols
        j = np.arange(N)[:, None, None, None]
        k = np.arange(m)[None, :, None, None]
        l_ = np.arange(m + 1)[None, None, :, None]
        rows_b = ((j * m + k) * n + jr[None, None, None, :]) + 0 * l_
        cols_b = ((j * m + l_) * n + jc[None, None, None, :]) + 0 * k
        iT = self.nU
        ip = self.nU + 1
        rows = [rows_b.ravel(), np.arange(self.ncoll)]
        cols = [cols_b.ravel(), np.full(self.ncoll, iT)]
        if with_p:
            rows.append(np.arange(self.ncoll))
            cols.append(np.full(self.ncoll, ip))
        r_per = self.ncoll + np.arange(n)
        rows += [r_per, r_per]
        cols += [np.arange(n), (self.nnodes - 1) * n + np.arange(n)]
        r_ph = self.ncoll + n
        rows.append(np.full(self.nU, r_ph))
        cols.append(np.arange(self.nU))
        ncols = self.nU + 1 + (1 if with_p else 0)
        nrows = self.ncoll + n + 1 + (1 if border else 0)
        if border:
            rows.append(np.full(ncols, nrows - 1))
            cols.append(np.arange(ncols))
        rows = np.concatenate(rows)
        cols = np.concatenate(cols)
        nval = rows.size
        A = sp.csc_matrix(
            (np.arange(1, nval + 1, dtype=float), (rows, cols)), shape=(nrows, ncols)
        )
        A.sort_indices()
        perm = A.data.astype(np.int64) - 1
        if perm.size != nval:
            raise RuntimeError("duplicate entries in collocation Jacobian structure")
        A.data = np.zeros(nval)
        setattr(A, PATTERN_KEY_ATTR, _pattern_key(A))  # shared by its Jacobians
        # every Jacobian of this structure shares its index arrays (read-only: an in-place
        # change would raise instead of altering the others)
        A.indices.setflags(write=False)
        A.indptr.setflags(write=False)
        pos = np.empty(nval, dtype=np.int64)  # where value i of jacobian's list goes in A.data
        pos[perm] = np.arange(nval)
        nb_ = rows_b.size
        pos_b = pos[:nb_].reshape(N, m, m + 1, jr.size)
        struct = (A, pos_b, pos[nb_:], _scatter_plan(pos_b, jr, jc, n))
        self._cache[key] = struct
        if len(shared) > 8:
            shared.clear()
        shared[skey] = struct
        return struct

    def jacobian(
        self,
        U: np.ndarray,
        T: float,
        p: float,
        Fref: np.ndarray,
        *,
        with_p: bool = False,
        border_row: np.ndarray | None = None,
        p_values: bool = True,
        t_values: bool = True,
        phase_values: bool = True,
        detect: bool = False,
    ) -> sp.csc_matrix:
        """Sparse Jacobian of the residual w.r.t. (U, T[, p]) with an optional bordering row.

        ``p_values`` False leaves the parameter column's values zero (its entries stay in
        the pattern): for the Floquet multipliers, which use only the collocation block;
        ``t_values`` False likewise for the period column (-f at the collocation points),
        ``phase_values`` False for the phase row (``Fref`` is then not used and may be None).
        ``detect``: the matrix's attribute ``dfdx_pattern`` is then df/dx's sparsity pattern
        at the collocation points (:meth:`CycleSystem.detect_sparsity` there), from the same
        evaluations of df/dx when the system offers that, else None."""
        A, pos_blocks, pos_rest, plan = self._structure(with_p, border_row is not None)
        N, m, n = self.ntst, self.ncol, self.n
        X = self.coll_points(U)
        Jv, pattern = self._dfdx_values(X, p, detect)
        Jv = Jv.reshape(N, m, self.sys.nnz)
        parts = [-self._f_at_points(X, p).ravel() if t_values else np.zeros(self.ncoll)]
        if with_p:
            parts.append(-T * self.sys.fp_batch(X, p).ravel() if p_values
                         else np.zeros(self.ncoll))
        parts += [np.ones(n), -np.ones(n), (self.wnode[:, None] * Fref).ravel()
                  if phase_values else np.zeros(self.nU)]
        if border_row is not None:
            parts.append(np.asarray(border_row, dtype=float))
        data = np.empty(A.nnz)
        data[pos_rest] = np.concatenate(parts)
        # the interval blocks D_kl / h_j * I - T L_kl J(x_jk), written straight into place
        Dh, TL = self.tab.D / self.h[:, None, None], float(T) * self.tab.L
        if plan is not None and SCATTER_BY_COLUMN:
            (_scatter_blocks_gathered if SCATTER_GATHERED else _scatter_blocks_by_column)(
                data, *plan, Dh, TL, self.sys.jdiag, np.ascontiguousarray(Jv))
        else:
            _scatter_blocks(data, pos_blocks, Dh, TL, self.sys.jdiag, np.ascontiguousarray(Jv))
        J = sp.csc_matrix((data, A.indices, A.indptr), shape=A.shape)
        J.has_sorted_indices = True  # the structure's (sorted, shared, read-only) indices
        setattr(J, PATTERN_KEY_ATTR, getattr(A, PATTERN_KEY_ATTR))  # same pattern
        if detect:
            J.dfdx_pattern = pattern
        return J

    def _dfdx_values(self, X: np.ndarray, p: float, detect: bool):
        """(df/dx's values on the pattern at the points X, with ``detect`` its detected
        pattern there or None): on :attr:`threads` threads, the points split among them, when
        more than one (the same values; the patterns' union)."""
        sysobj = self.sys

        def values(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
            return sysobj.jac_values_pattern(Y, p) if detect else (sysobj.jac_values(Y, p), None)

        if self.threads <= 1 or X.shape[0] < 2 * self.threads:
            return values(X)
        from .threads import parts, pool

        got = list(pool(self.threads).map(
            values, [X[a:b] for a, b in parts(X.shape[0], self.threads)]))
        pats = [g[1] for g in got]
        pattern = None if any(q is None for q in pats) else np.logical_or.reduce(pats)
        return np.vstack([g[0] for g in got]), pattern

    # ------------------------------------------------------------------ Newton at fixed p
    def newton(
        self,
        U0: np.ndarray,
        T0: float,
        p: float,
        *,
        Uref: np.ndarray | None = None,
        tol: float = 1e-9,
        max_iter: int = 15,
    ) -> CycleSolution:
        """Newton's method for (U, T) at fixed parameter p (linear solves by
        :func:`factorize`: condensation for large n, see :data:`CONDENSED_NEWTON`).  For
        systems condensed with dense blocks (n > DENSE_FLOQUET_MAX_N and a dense df/dx: a
        factorisation costs tens of solves, see :mod:`.dense_blocks`) a factorisation is
        kept while the steps shrink at least 3x per iteration (chord Newton; the same
        convergence test on the step)."""
        from .dense_blocks import dense_blocks

        U = np.array(U0, dtype=float)
        T = float(T0)
        Uref = U.copy() if Uref is None else Uref
        Fref = self.phase_reference(Uref, T, p)
        rn = np.inf
        chord = CONDENSED_NEWTON and condensable_size(self) and dense_blocks(self)
        fac, prev_step = None, np.inf
        for it in range(1, max_iter + 1):
            r = self.residual(U, T, p, Uref, Fref)
            rn = float(np.max(np.abs(r)))
            if not np.isfinite(rn):
                return CycleSolution(self.tm, self.ncol, U, T, p, False, "NaN in residual", it)
            try:
                if fac is None or not chord:
                    A = self.jacobian(U, T, p, Fref)
                    # by condensation onto the first node for large n, as in the
                    # continuation (SuperLU of the whole system when it does not apply)
                    fac = factorize(A, self) if CONDENSED_NEWTON else sparse_lu(A)
                dx = fac.solve(-r)
            except RuntimeError as exc:
                return CycleSolution(self.tm, self.ncol, U, T, p, False, f"singular: {exc}", it)
            U = U + dx[: self.nU].reshape(U.shape)
            T = T + dx[self.nU]
            step = float(np.max(np.abs(dx)))
            if step > prev_step / 3.0:
                fac = None  # slow contraction: a new factorisation at the next iterate
            prev_step = step
            scale = 1.0 + float(np.max(np.abs(U)))
            if not np.isfinite(step) or T <= 0:
                return CycleSolution(
                    self.tm, self.ncol, U, T, p, False, "Newton diverged (NaN or T <= 0)", it
                )
            if step < tol * scale:
                r = self.residual(U, T, p, Uref, Fref)
                rn = float(np.max(np.abs(r)))
                return CycleSolution(self.tm, self.ncol, U, T, p, True, "converged", it, rn)
        return CycleSolution(
            self.tm, self.ncol, U, T, p, False, f"no convergence in {max_iter} iterations",
            max_iter, rn,
        )

    # ------------------------------------------------------------------ Floquet
    def floquet(self, U: np.ndarray, T: float, p: float, *, vectors: bool = False) -> FloquetResult:
        """Floquet multipliers from the collocation Jacobian (condensation to the monodromy)."""
        Fref = self.phase_reference(U, T, p)
        A = self.jacobian(U, T, p, Fref)
        return floquet_from_jacobian(A, self, vectors=vectors)

    def propagate_linear(self, A: sp.csc_matrix, v0: np.ndarray) -> np.ndarray:
        """Solution of the linearised collocation system through the period with w(0) = v0."""
        n = self.n
        C = A[: self.ncoll, : self.nU]
        lu = sparse_lu(C[:, n:].tocsc())
        w = lu.solve(-(C[:, :n] @ v0))
        return np.vstack([np.asarray(v0)[None, :], w.reshape(-1, n)])


@njit_cached()
def _scatter_blocks(data, pos, Dh, TL, jdiag, Jv):  # pragma: no cover - compiled
    """data[pos[j, k, l, e]] = Dh[j, k, l] jdiag[e] - TL[k, l] Jv[j, k, e]: the collocation
    blocks of interval j (collocation point k, node l, pattern entry e)."""
    N, m, m1, nnz = pos.shape
    for j in range(N):
        for k in range(m):
            for l_ in range(m1):
                a = Dh[j, k, l_]
                b = TL[k, l_]
                for e in range(nnz):
                    data[pos[j, k, l_, e]] = a * jdiag[e] - b * Jv[j, k, e]


#: The collocation blocks are written into the Jacobian's CSC data in the order of its
#: columns (:func:`_scatter_blocks_by_column`: runs of consecutive positions, one start per
#: run) instead of interval by interval through one stored position per entry
#: (:func:`_scatter_blocks`); the same values at the same places (False: the previous
#: kernel; benchmarks/README.md, cycspeed8)
SCATTER_BY_COLUMN = True


def _scatter_plan(pos: np.ndarray, jr: np.ndarray, jc: np.ndarray, n: int):
    """(starts, cptr, eperm) for :func:`_scatter_blocks_by_column`, or None when the block
    entries of one (interval j, node l, column c of df/dx, collocation point k) do not sit
    at consecutive positions of the CSC data (pos: (N, m, m + 1, nnz) positions of the
    block entries, entry e of df/dx's pattern at (jr[e], jc[e]))."""
    from .condensed import kernel_index

    if jr.size == 0:
        return None
    eperm = np.lexsort((jr, jc))  # df/dx's entries by column, then row
    cptr = np.concatenate([[0], np.cumsum(np.bincount(jc, minlength=n))])
    P = pos[:, :, :, eperm]  # (N, m, m + 1, nnz), entries by column
    first = P[:, :, :, np.minimum(cptr[:-1], jr.size - 1)]  # (N, m, m + 1, n)
    off = np.arange(jr.size) - np.repeat(cptr[:-1], np.diff(cptr))
    if not np.array_equal(P - np.repeat(first, np.diff(cptr), axis=3),
                          np.broadcast_to(off, P.shape)):
        return None
    starts = np.ascontiguousarray(first.transpose(0, 2, 3, 1))  # (N, m + 1, n, m)
    if starts.max() + cptr.max() >= 2**32:
        return None
    return kernel_index(starts), kernel_index(cptr), kernel_index(eperm)


@njit_cached()
def _scatter_blocks_by_column(data, starts, cptr, eperm, Dh, TL, jdiag, Jv
                              ):  # pragma: no cover - compiled
    """:func:`_scatter_blocks` in the order of the CSC data: for interval j, node l, column
    c of df/dx and collocation point k, the entries of df/dx's column c (rows ascending,
    eperm[cptr[c]:cptr[c + 1]]) go to consecutive positions from starts[j, l, c, k]."""
    N, m1, n, m = starts.shape
    for j in range(N):
        for l_ in range(m1):
            for c in range(n):
                t0 = cptr[c]
                t1 = cptr[c + 1]
                for k in range(m):
                    a = Dh[j, k, l_]
                    b = TL[k, l_]
                    s = starts[j, l_, c, k]
                    for t in range(t0, t1):
                        e = eperm[t]
                        data[s + (t - t0)] = a * jdiag[e] - b * Jv[j, k, e]


#: :func:`_scatter_blocks_by_column` with each collocation point's df/dx values gathered
#: once into the order of the CSC data (:func:`_scatter_blocks_gathered`), instead of through
#: the entry permutation for each of the m + 1 nodes: the inner loop then reads and writes
#: consecutive entries; the same values at the same places (False: the previous kernel;
#: benchmarks/README.md, asm14)
SCATTER_GATHERED = True


@njit_cached()
def _scatter_blocks_gathered(data, starts, cptr, eperm, Dh, TL, jdiag, Jv
                             ):  # pragma: no cover - compiled
    """:func:`_scatter_blocks_by_column` with Jv[j, k] and jdiag permuted once per interval
    into df/dx's column order (eperm), so that every run reads them consecutively."""
    N, m1, n, m = starts.shape
    nnz = eperm.shape[0]
    Jc = np.empty((m, nnz))
    jd = np.empty(nnz)
    for t in range(nnz):
        jd[t] = jdiag[eperm[t]]
    for j in range(N):
        for k in range(m):
            for t in range(nnz):
                Jc[k, t] = Jv[j, k, eperm[t]]
        for l_ in range(m1):
            for c in range(n):
                t0 = cptr[c]
                t1 = cptr[c + 1]
                for k in range(m):
                    a = Dh[j, k, l_]
                    b = TL[k, l_]
                    s = starts[j, l_, c, k] - t0
                    for t in range(t0, t1):
                        data[s + t] = a * jd[t] - b * Jc[k, t]


DENSE_FLOQUET_MAX_N = 40
#: Arnoldi Floquet path: factorise C_rest interval by interval (False: one LU of the whole
#: C_rest, the previous method; benchmarks/bench_continuation_cycles.py --compare-floquet)
BLOCK_FLOQUET = True
#: Large systems (n > DENSE_FLOQUET_MAX_N): factorise collocation Jacobians by condensation
#: onto the first node (:class:`~.condensed.CondensedLU`) and take the Floquet multipliers
#: from its dense monodromy matrix (False: global SuperLU and Arnoldi, the previous method;
#: benchmarks/bench_continuation_cycles.py --compare-condensed)
CONDENSED = True
CONDENSED_MAX_SCALARS = 8
#: Newton at fixed p (:meth:`CollocationOperator.newton`, the start of a cycle branch) solves
#: by :func:`factorize` like the continuation (False: SuperLU of the whole system, the
#: previous method; benchmarks/README.md, cycspeed5)
CONDENSED_NEWTON = True
#: Block Floquet path: gather the interval blocks through a cached per-pattern layout (False:
#: slice them out of the matrix block by block, with one ordering per block; benchmarks'
#: ``--compare-floquet layout``)
LAYOUT_FLOQUET = True


def floquet_from_jacobian(
    A: sp.csc_matrix, coll: CollocationOperator, *, vectors: bool = False, k: int | None = None
) -> FloquetResult:
    """Monodromy matrix M = -C_rest^{-1} C_0 restricted to the last node, and its eigenvalues.

    C is the collocation block of the Jacobian (rows: collocation equations, columns: node
    values). Given u(0) the collocation equations determine all later nodes (an implicit
    Gauss Runge-Kutta step per interval), so the last node is M u(0). For n <= 40 (or when
    eigenvectors are requested) M is formed densely; otherwise the ``k`` (default 8)
    multipliers of largest modulus are returned (``monodromy`` None): the eigenvalues of the
    dense M from the condensation of A (:func:`factorize`, shared with a factorisation of the
    same matrix object), or, when that does not apply (:data:`CONDENSED` off, growth), by
    Arnoldi iteration (scipy eigs) on v -> M v.  There C_rest is block lower bidiagonal (the
    equations of interval j involve its own m n node unknowns and the n of its first node),
    so it is factorised block by block (:class:`_IntervalPropagator`: N sparse LUs of
    m n x m n, ~3x less fill and half the time of one LU of the whole C_rest on the reduced
    network ODE) and each product is a forward block substitution through the period.
    """
    n = coll.n
    A_in = A
    A = sp.csc_matrix(A)
    C = None
    V = None
    if n <= DENSE_FLOQUET_MAX_N or vectors or (k is not None and k >= n - 1):
        C = A[: coll.ncoll, : coll.nU]
        C0 = C[:, :n].tocsc()
        lu = sparse_lu(C[:, n:].tocsc())
        Y = lu.solve(-np.asfortranarray(C0.toarray()))
        M = Y[-n:, :]
        if vectors:
            mu, V = np.linalg.eig(M)
        else:
            mu = np.linalg.eigvals(M)
    elif (fac := _condensed(A_in, coll, border=False)) is not None:
        kk = min(8 if k is None else int(k), n - 2)
        from bifsnn.continuation.linalg import blas_single_thread

        with blas_single_thread():
            mu = np.linalg.eigvals(fac.monodromy)
        mu = mu[np.argsort(-np.abs(mu), kind="stable")[:kk]]
        M = None
    else:
        kk = min(8 if k is None else int(k), n - 2)
        if BLOCK_FLOQUET:
            propagate = _interval_propagator(A, coll).propagate
        else:  # one LU of the whole C_rest (the benchmarks' "previous" setting)
            C = A[: coll.ncoll, : coll.nU]
            C0 = C[:, :n].tocsc()
            lu = sparse_lu(C[:, n:].tocsc())

            def propagate(v: np.ndarray) -> np.ndarray:
                return lu.solve(-(C0 @ v))[-n:]

        def mv(v: np.ndarray) -> np.ndarray:
            v = np.asarray(v).ravel()
            if np.iscomplexobj(v):
                return mv(v.real) + 1j * mv(v.imag)
            return propagate(v)

        op = spla.LinearOperator((n, n), matvec=mv, dtype=float)
        rng = np.random.default_rng(0)
        mu = spla.eigs(op, k=kk, which="LM", v0=rng.standard_normal(n), tol=1e-10,
                       return_eigenvectors=False, ncv=min(n - 1, 3 * kk + 1))
        M = None
    order = np.argsort(-np.abs(mu))
    mu = mu[order]
    if V is not None:
        V = V[:, order]
    triv = float(np.min(np.abs(mu - 1.0)))
    if n * coll.ncol <= 64:
        logdet = _log_abs_det_by_interval(A[: coll.ncoll, : coll.nU] if C is None else C, coll)
    else:
        logdet = float("nan")
    return FloquetResult(mu, M, triv, V, logdet)


def factorize(A: sp.csc_matrix, coll: CollocationOperator):
    """A factorisation of the square collocation Jacobian ``A`` (``solve(b)``): by
    condensation onto the first node for n > DENSE_FLOQUET_MAX_N (see :data:`CONDENSED`),
    else (or when the condensation is refused) SuperLU of the whole matrix.  RuntimeError
    when A is exactly singular."""
    fac = _condensed(A, coll)
    return sparse_lu(A) if fac is None else fac


def _condensed(A: sp.csc_matrix, coll: CollocationOperator, border: bool = True):
    """The condensed factorisation of A, or None when it does not apply (small n, blocks of
    different patterns, products growing beyond GROWTH_MAX, a singular block or, with
    ``border``, a singular condensed system).  Without ``border`` only its monodromy matrix
    is formed (see :class:`~.condensed.CondensedLU`)."""
    from .condensed import CondensedLU
    from .dense_blocks import DenseCondensedLU, dense_blocks

    if not condensable(A, coll):
        return None
    last = _LAST_CONDENSED
    if last and last[0]() is A:  # the same matrix object (never modified in place)
        fac = last[1]
        if fac is not None and border:
            try:
                fac.bordered()
            except RuntimeError:
                return None
        return fac
    A0 = A
    if not (sp.isspmatrix_csc(A) and hasattr(A, PATTERN_KEY_ATTR)):
        # (a Jacobian of CollocationOperator.jacobian is used as it is: CSC, sorted indices)
        A = sp.csc_matrix(A)
        if not A.has_sorted_indices:
            A = A.sorted_indices()
    dense = dense_blocks(coll)
    lay = _dense_layout(A, coll) if dense else _block_layout(A, coll)
    if lay is None:
        return None
    try:
        fac = (DenseCondensedLU if dense else CondensedLU)(A, coll, lay, border=border)
    except (ValueError, RuntimeError):
        fac = None
    try:
        _LAST_CONDENSED[:] = [weakref.ref(A0), fac]
    except TypeError:
        _LAST_CONDENSED.clear()
    return fac


#: The latest condensation (weak reference to its matrix, factorisation): the stepper
#: factorises a Jacobian and then asks for its multipliers.
_LAST_CONDENSED: list = []


def condensable_size(coll: CollocationOperator) -> bool:
    """Whether collocation Jacobians of ``coll`` are factorised by condensation (when
    square, see :func:`condensable`): :data:`CONDENSED` and n > DENSE_FLOQUET_MAX_N."""
    return CONDENSED and coll.n > DENSE_FLOQUET_MAX_N


def condensable(A, coll: CollocationOperator) -> bool:
    """Whether :func:`factorize` / :func:`floquet_from_jacobian` try the condensation: large
    n, and A square with at most CONDENSED_MAX_SCALARS unknowns after the nodes (period,
    parameters, ...; augmented systems with more are left to SuperLU / ARPACK)."""
    nq = A.shape[1] - coll.nU
    return (CONDENSED and coll.n > DENSE_FLOQUET_MAX_N and A.shape[0] == A.shape[1]
            and 0 <= nq <= CONDENSED_MAX_SCALARS and A.shape[0] == coll.ncoll + coll.n + nq)


def _block_layout(A: sp.csc_matrix, coll: CollocationOperator):
    """The cached :class:`_BlockLayout` of A's pattern (A CSC, sorted), None when the
    interval blocks do not share one pattern."""
    key = (_pattern_key(A), coll.ntst, coll.ncol, coll.n)
    if key not in _LAYOUTS:
        if len(_LAYOUTS) >= _LAYOUTS_MAX:
            _LAYOUTS.pop(next(iter(_LAYOUTS)))
        lay = _BlockLayout(A, coll)
        _LAYOUTS[key] = lay if lay.ok else None
    return _LAYOUTS[key]


def _dense_layout(A: sp.csc_matrix, coll: CollocationOperator):
    """The cached :class:`~.dense_blocks.DenseLayout` of A's pattern (A CSC, sorted), None
    when the interval blocks do not share one pattern."""
    from .dense_blocks import DenseLayout

    key = ("dense", _pattern_key(A), coll.ntst, coll.ncol, coll.n)
    if key not in _LAYOUTS:
        if len(_LAYOUTS) >= _LAYOUTS_MAX:
            _LAYOUTS.pop(next(iter(_LAYOUTS)))
        got = _BlockLayout._from_structure(A, coll) if ANALYTIC_LAYOUT else None
        got = _BlockLayout._sliced(A, coll) if got is None else got
        _LAYOUTS[key] = None if got is None else DenseLayout(*got, coll.ncol * coll.n)
    return _LAYOUTS[key]


class _IntervalPropagator:
    """v -> M v through the collocation equations, one mesh interval at a time.

    Interval j's equations are B_j [u_jm; w_j] = 0 with u_jm its first node (n values) and
    w_j its other m nodes (m n values): w_j = -D_j^{-1} A_j u_jm, and the last n entries of
    w_j start interval j + 1.  The N blocks D_j are factorised once (sparse LU, minimum
    degree ordering of D^T + D); RuntimeError (SuperLU's) when one is exactly singular.
    """

    def __init__(self, C: sp.spmatrix, coll: CollocationOperator) -> None:
        N, m, n = coll.ntst, coll.ncol, coll.n
        mn = m * n
        Cr = sp.csr_matrix(C)
        self.n = n
        self.A: list[sp.csr_matrix] = []
        self.lu: list = []
        for j in range(N):
            B = Cr[j * mn:(j + 1) * mn, j * mn:j * mn + mn + n]
            self.A.append(B[:, :n].tocsr())
            self.lu.append(spla.splu(B[:, n:].tocsc(), permc_spec="MMD_AT_PLUS_A"))

    def propagate(self, v: np.ndarray) -> np.ndarray:
        """The last node of the linearised collocation solution with first node v (real)."""
        u = np.asarray(v, dtype=float)
        n = self.n
        for Aj, lu in zip(self.A, self.lu, strict=True):
            u = lu.solve(-(Aj @ u))[-n:]
        return u


#: Block layouts from the collocation structure's known entry positions (False: by slicing
#: the matrix block by block, the previous method; same layout)
ANALYTIC_LAYOUT = True
#: Block layouts of collocation Jacobians (see :class:`_BlockLayout`), per sparsity pattern.
_LAYOUTS: dict[tuple, _BlockLayout | None] = {}
_LAYOUTS_MAX = 4


class _BlockLayout:
    """Where the interval blocks A_j (coupling to the interval's first node) and D_j (its
    other m nodes, columns in a fill-reducing order) of the collocation block sit in
    ``A.data`` for one sparsity pattern of A (CSC, sorted), and that common order.

    Every interval has the same block pattern, so the blocks of a new Jacobian of this
    pattern are one gather of ``A.data`` (no sparse slicing) and the minimum-degree ordering
    of D^T + D is computed once per pattern instead of once per block and Floquet call.
    """

    def __init__(self, A: sp.csc_matrix, coll: CollocationOperator) -> None:
        m, n = coll.ncol, coll.n
        mn = m * n
        self.ok = True
        known = self._from_structure(A, coll) if ANALYTIC_LAYOUT else None
        if known is not None:
            self.posA, self.patA, posD, patD = known
        else:
            got = self._sliced(A, coll)
            if got is None:
                self.ok = False  # blocks of different patterns: use _IntervalPropagator
                return
            self.posA, self.patA, posD, patD = got
        # SuperLU's minimum-degree ordering of D^T + D (it depends on the pattern only); the
        # columns pre-permuted and factorised with NATURAL ordering give the same factors
        D0 = sp.csc_matrix((A.data[posD[0]], patD[1], patD[0]), shape=(mn, mn))
        self.q = np.argsort(spla.splu(D0, permc_spec="MMD_AT_PLUS_A").perm_c)
        Dq = sp.csc_matrix((np.arange(1, posD.shape[1] + 1, dtype=float), patD[1], patD[0]),
                           shape=(mn, mn))[:, self.q]
        Dq.sort_indices()
        self.posDq = np.ascontiguousarray(posD[:, Dq.data.astype(np.int64) - 1])
        self.patDq = (Dq.indptr, Dq.indices)
        self.lu_pattern = None  # see condensed._block_lus
        # y solves D[:, q] y = b, so x[q[i]] = y[i]: the entries of y that are x's last n
        self.last = np.flatnonzero(self.q >= mn - n)
        self.last_to = self.q[self.last] - (mn - n)
        self.mn = mn
        from .condensed import kernel_index

        #: the index arrays of the condensation's compiled kernels (see kernel_index)
        self.kernel = {
            "ipD": kernel_index(Dq.indptr), "ixD": kernel_index(Dq.indices),
            "posDq": kernel_index(self.posDq), "posA": kernel_index(self.posA),
            "Ap": kernel_index(self.patA[0]),
            "Ai": kernel_index(self.patA[1]), "q": kernel_index(self.q),
            "last": kernel_index(self.last), "last_to": kernel_index(self.last_to)}

    @staticmethod
    def _from_structure(A: sp.csc_matrix, coll: CollocationOperator):
        """(posA, patA, posD, patD) from the cached structure of ``coll`` when A has its
        pattern (A made by :meth:`CollocationOperator.jacobian`), else None: block entry
        (interval j, collocation point k, node l, pattern entry e) sits at a known place."""
        n, nU, ncoll = coll.n, coll.nU, coll.ncoll
        if A.shape[0] - ncoll - n not in (1, 2) or A.shape[1] - nU not in (1, 2):
            return None
        S, pos, _, _ = coll._structure(A.shape[1] == nU + 2, A.shape[0] == ncoll + n + 2)
        if (S.shape != A.shape or S.nnz != A.nnz or not np.array_equal(S.indptr, A.indptr)
                or not np.array_equal(S.indices, A.indices)):
            return None
        N, m = coll.ntst, coll.ncol
        mn = m * n
        jr, jc = coll.sys.jrows, coll.sys.jcols
        posA = np.ascontiguousarray(pos[:, :, 0, :].reshape(N, -1))
        rowsA = (np.arange(m)[:, None] * n + jr[None, :]).ravel()  # increasing (jr sorted)
        patA = (np.concatenate([[0], np.cumsum(np.bincount(rowsA, minlength=mn))]),
                np.tile(jc, m))
        k = np.arange(m)[:, None, None]
        l_ = np.arange(m)[None, :, None]
        rowsD = (k * n + jr[None, None, :] + 0 * l_).ravel()
        colsD = (l_ * n + jc[None, None, :] + 0 * k).ravel()
        o = np.lexsort((rowsD, colsD))
        posD = pos[:, :, 1:, :].reshape(N, -1)[:, o]
        patD = (np.concatenate([[0], np.cumsum(np.bincount(colsD, minlength=mn))]), rowsD[o])
        return posA, patA, posD, patD

    @staticmethod
    def _sliced(A: sp.csc_matrix, coll: CollocationOperator):
        """(posA, patA, posD, patD) by slicing A block by block; None when the blocks do
        not share one pattern."""
        N, m, n = coll.ntst, coll.ncol, coll.n
        mn = m * n
        # the same matrix with data = 1 + position in A.data (exact in float below 2^53)
        P = sp.csc_matrix((np.arange(1, A.nnz + 1, dtype=float), A.indices, A.indptr),
                          shape=A.shape)
        Cr = P[: coll.ncoll, : coll.nU].tocsr()
        posA, posD = [], []
        for j in range(N):
            B = Cr[j * mn:(j + 1) * mn, j * mn:j * mn + mn + n]
            Aj = B[:, :n].tocsr()
            Dj = B[:, n:].tocsc()
            Aj.sort_indices()
            Dj.sort_indices()
            if j == 0:
                patA = (Aj.indptr.copy(), Aj.indices.copy())
                patD = (Dj.indptr.copy(), Dj.indices.copy())
            elif not (np.array_equal(Aj.indptr, patA[0])
                      and np.array_equal(Aj.indices, patA[1])
                      and np.array_equal(Dj.indptr, patD[0])
                      and np.array_equal(Dj.indices, patD[1])):
                return None
            posA.append(Aj.data.astype(np.int64) - 1)
            posD.append(Dj.data.astype(np.int64) - 1)
        return np.array(posA), patA, np.array(posD), patD


def _interval_propagator(A: sp.csc_matrix, coll: CollocationOperator):
    """A propagator v -> M v for the Jacobian A (its collocation block), from the cached
    block layout of A's pattern when every interval has the same block pattern."""
    if not LAYOUT_FLOQUET:
        return _IntervalPropagator(A[: coll.ncoll, : coll.nU], coll)
    if not A.has_sorted_indices:
        A = A.sorted_indices()
    lay = _block_layout(A, coll)
    if lay is None:
        return _IntervalPropagator(A[: coll.ncoll, : coll.nU], coll)
    return _LayoutPropagator(A, lay)


class _LayoutPropagator:
    """:class:`_IntervalPropagator` built from a :class:`_BlockLayout` (same factors, same
    products, without slicing the sparse matrix block by block)."""

    def __init__(self, A: sp.csc_matrix, lay: _BlockLayout) -> None:
        mn, n = lay.mn, lay.last.size
        self.lay = lay
        self.n = n
        vals = A.data[lay.posA]
        ipA, ixA = lay.patA
        self.A = [sp.csr_matrix((v, ixA, ipA), shape=(mn, n)) for v in vals]
        ipD, ixD = lay.patDq
        self.lu = [spla.splu(sp.csc_matrix((v, ixD, ipD), shape=(mn, mn)),
                             permc_spec="NATURAL") for v in A.data[lay.posDq]]

    def propagate(self, v: np.ndarray) -> np.ndarray:
        """The last node of the linearised collocation solution with first node v (real)."""
        u = np.asarray(v, dtype=float)
        last, last_to = self.lay.last, self.lay.last_to
        for Aj, lu in zip(self.A, self.lu, strict=True):
            y = lu.solve(-(Aj @ u))
            u = np.empty(self.n)
            u[last_to] = y[last]
        return u


def _log_abs_det_by_interval(C: sp.csc_matrix, coll: CollocationOperator) -> float:
    """sum_j log|det M_j| with M_j the transfer matrix of interval j (dense, batched)."""
    N, m, n = coll.ntst, coll.ncol, coll.n
    rows = np.arange(N)[:, None] * (m * n) + np.arange(m * n)[None, :]
    cols = np.arange(N)[:, None] * (m * n) + np.arange((m + 1) * n)[None, :]
    Cd = C.tocsr()
    blocks = np.stack([Cd[rows[j]][:, cols[j]].toarray() for j in range(N)])  # (N, mn, (m+1)n)
    Mj = -np.linalg.solve(blocks[:, :, n:], blocks[:, :, :n])[:, -n:, :]
    _, logdet = np.linalg.slogdet(Mj)
    return float(np.sum(logdet))
