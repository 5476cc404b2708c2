"""Condensation of a collocation Jacobian onto the first node and the scalar unknowns.

The collocation block of the Jacobian is C = [C_0 | C_r]: C_0 couples to the first node x_0,
C_r (all later nodes y) is block lower bidiagonal (interval j: its own m n node unknowns
through D_j, the n of its first node through A_j).  With the scalar columns G (period,
parameter) and the extra rows E (periodicity, phase, bordering), a linear system

    C_0 x_0 + C_r y + G q = b_c,      E_0 x_0 + E_y y + E_q q = b_e

is solved by eliminating y:  y = C_r^{-1} (b_c - C_0 x_0 - G q), leaving the dense
(n + nq) x (n + nq) system  S [x_0; q] = b_e - E_y C_r^{-1} b_c  with
S = [E_0, E_q] - E_y C_r^{-1} [C_0, G].  Only the last node of C_r^{-1} [C_0, G] is needed for
the periodicity rows (it is minus the monodromy matrix in its first n columns); rows of E
that involve other nodes (phase, bordering) use one transposed solve each.  C_r^{-1} is a
forward block substitution through the period with the N sparse LUs of the D_j (m n x m n,
little fill); the n + nq right-hand sides go through a compiled row-major triangular solve.

On the reduced network ODE (n = 148, ntst = 40) this replaces one SuperLU factorisation of the
whole bordered Jacobian (6.4 M nonzeros in L + U) and gives the Floquet multipliers of the
same matrix as a by-product (the eigenvalues of the dense monodromy matrix).  It is the
single-shooting condensation of the collocation system: the block substitution multiplies
the interval transfer matrices, so it is used only while their products stay moderate
(:data:`GROWTH_MAX`); beyond that the caller falls back to the global sparse LU.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from llvmlite import binding as _llvm_binding
from llvmlite import ir as _llvm_ir
from numba import types as _nb_types
from numba.core import cgutils as _cgutils
from numba.extending import intrinsic as _intrinsic

from bifsnn._cache import njit_cached
from bifsnn.continuation.linalg import blas_single_thread

from .threads import parts as _parts
from .threads import pool as _pool

__all__ = ["CondensedLU", "GROWTH_MAX"]

#: Index arrays handed to the compiled kernels are unsigned 32-bit (:func:`kernel_index`):
#: numba adds a negative-index wraparound fix-up to every load and store through a signed
#: index, none through an unsigned one.  On the reduced network ODE (ntst 40) the
#: refactorisation of the 40 blocks runs 2x faster, a one-column solve pass 1.5x, the
#: 150-column propagation ~1.07x, with bit-identical values (False: int64, the previous
#: dtype; benchmarks/README.md, cycspeed6)
UNSIGNED_INDEX = True


def kernel_index(a) -> np.ndarray:
    """``a`` (non-negative integers) as a contiguous index array for the compiled kernels:
    uint32 (see :data:`UNSIGNED_INDEX`), int64 when a value does not fit."""
    a = np.asarray(a)
    if UNSIGNED_INDEX and (a.size == 0 or int(a.max()) < 2**32):
        return np.ascontiguousarray(a, dtype=np.uint32)
    return np.ascontiguousarray(a, dtype=np.int64)


#: The row indices of the block factors (Li, Ui: below m n) are unsigned 16-bit when they fit
#: (:func:`row_index`): the one-column passes of the solves stream the factors of every
#: block (21.6 MB on the reduced network ODE at ntst 40) and run ~1.15x faster with 2 instead
#: of 4 bytes per index; bit-identical (False: :func:`kernel_index`; benchmarks/README.md,
#: cycspeed7)
SMALL_ROW_INDEX = True


def row_index(a) -> np.ndarray:
    """Row indices of the block factors for the compiled kernels: uint16 when every value
    fits (see :data:`SMALL_ROW_INDEX`), else :func:`kernel_index`."""
    a = np.asarray(a)
    if SMALL_ROW_INDEX and UNSIGNED_INDEX and (a.size == 0 or int(a.max()) < 2**16):
        return np.ascontiguousarray(a, dtype=np.uint16)
    return kernel_index(a)


def _kernel_factors(Lp, Li, Lx, Up, Ui, Ux, pr) -> tuple:
    """The block factors (Lp, Li, Lx, Up, Ui, Ux, pr) with their index arrays as
    :func:`kernel_index` arrays, the row indices Li, Ui as :func:`row_index` arrays (values
    unchanged)."""
    return (kernel_index(Lp), row_index(Li), Lx, kernel_index(Up), row_index(Ui), Ux,
            kernel_index(pr))


#: The condensation's many-column propagation (:meth:`CondensedLU._propagate`) runs by
#: supernodes of the block factors, 8 updates fused per pass over a row of Y
#: (:func:`_propagate_sn`; bit-identical; False: column by column, :func:`_propagate`, the
#: previous kernel; benchmarks/README.md, cycspeed7)
SUPERNODAL = True


#: The many-column propagation runs on a multiple of 4 columns, zero columns appended (the
#: bordered condensation's 150 columns become 152): the compiled loops over the columns of
#: a row then have no scalar tail, and rows of 152 doubles start on 64-byte boundaries;
#: every real column goes through the same operations (bit-identical).  ~0.88x the
#: 150-column propagation on the reduced network ODE at ntst 40; 148 columns (the
#: multipliers') are left as they are (False: no padding; benchmarks/README.md, cycspeed8)
PAD_COLUMNS = True


#: The one-column passes of the solves (:func:`_propagate1`) prefetch the factors of the
#: column this many columns ahead (software prefetch hints, :func:`_prefetch`): U's columns
#: are taken in descending order, i.e. backwards through memory, where the hardware prefetcher
#: leaves them to be fetched on demand from L3 or memory (the factors of the 40 interval
#: blocks are 18 MB on the reduced network ODE at ntst 40).  Hints only: every value is
#: computed as before (bit-identical); 0: no hints, the previous kernel's memory accesses
#: (benchmarks/README.md, asm14)
PREFETCH_COLUMNS = 16



def _prefetch_name(ptr) -> str:
    """llvm.prefetch's name for the pointer type ``ptr``: the suffix names the pointer type,
    "p0" for LLVM's opaque pointers (the only kind from LLVM 17), "p0i8" for a typed i8*
    (llvmlite's own mangling, as in its ``declare_intrinsic``)."""
    if _llvm_binding.llvm_version_info[0] >= 17:
        return "llvm.prefetch.p0"
    return "llvm.prefetch." + getattr(ptr, "intrinsic_name", "p0i8")


@_intrinsic
def _prefetch(typingctx, arr, idx):  # pragma: no cover - compiled
    """A read prefetch hint (high locality) for the cache line of the 1-D array entry
    arr[idx] (idx in range: not checked; a hint never faults)."""
    sig = _nb_types.void(arr, idx)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        idx = context.cast(builder, args[1], signature.args[1], _nb_types.intp)
        ptr = builder.gep(ary.data, [idx])
        i8p = _llvm_ir.IntType(8).as_pointer()
        i32 = _llvm_ir.IntType(32)
        fnty = _llvm_ir.FunctionType(_llvm_ir.VoidType(), [i8p, i32, i32, i32])
        fn = _cgutils.get_or_insert_function(builder.module, fnty, _prefetch_name(i8p))
        builder.call(fn, [builder.bitcast(ptr, i8p), _llvm_ir.Constant(i32, 0),
                          _llvm_ir.Constant(i32, 3), _llvm_ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


#: Largest entry (relative to 1) allowed in the propagated products C_r^{-1} [C_0, G] at the
#: last node of any interval; above it the condensation is refused (ValueError) and the
#: caller uses the global sparse LU (single shooting loses ~log10 of the growth in digits).
GROWTH_MAX = 1e8


@njit_cached()
def _propagate(Ap, Ai, Ax, Lp, Li, Lx, Up, Ui, Ux, pr, q, last, last_to, Gq, k0, Z, Yall,
               keep):  # pragma: no cover - compiled
    """Forward block substitution through the intervals for k right-hand sides (row-major).

    For j = 0..N-1: R = [0 | Gq_j] - A_j Z (first k0 columns zero), y = D_j[:, q]^{-1} R by
    the LU (row permutation pr_j, unit lower L_j with its diagonal first in each column,
    upper U_j with its diagonal last, CSC with absolute offsets, other indices in any order),
    then Z <- the interval's last node (x[q[i]] = y[i]).  With ``keep`` the whole interval
    solution x_j is written to Yall[j].  Returns the largest |Z| entry met in the first k0
    columns (the products of transfer matrices).  Every column goes through the same
    operations whatever the others are.
    """
    N = Ax.shape[0]
    mn = Gq.shape[1]
    k = Z.shape[1]
    Y = np.empty((mn, k))
    growth = 0.0
    for j in range(N):
        for i in range(mn):  # R row i, written straight to its pivot row of Y
            r = pr[j, i]
            for t in range(k0):
                Y[r, t] = 0.0
            for t in range(k0, k):
                Y[r, t] = Gq[j, i, t - k0]
            for idx in range(Ap[i], Ap[i + 1]):
                a = Ax[j, idx]
                c = Ai[idx]
                for t in range(k):
                    Y[r, t] -= a * Z[c, t]
        for c in range(mn):  # unit lower triangular, column oriented (diagonal skipped)
            for idx in range(Lp[j, c] + 1, Lp[j, c + 1]):
                i = Li[idx]
                a = Lx[idx]
                for t in range(k):
                    Y[i, t] -= a * Y[c, t]
        for c in range(mn - 1, -1, -1):  # upper triangular (column c: rows < c, then c)
            d = Up[j, c + 1] - 1
            piv = 1.0 / Ux[d]
            for t in range(k):
                Y[c, t] *= piv
            for idx in range(Up[j, c], d):
                i = Ui[idx]
                a = Ux[idx]
                for t in range(k):
                    Y[i, t] -= a * Y[c, t]
        for i in range(last.size):
            for t in range(k):
                v = Y[last[i], t]
                Z[last_to[i], t] = v
                if t < k0 and abs(v) > growth:
                    growth = abs(v)
        if keep:
            for i in range(mn):
                for t in range(k):
                    Yall[j, q[i], t] = Y[i, t]
    return growth


@njit_cached(nogil=True)
def _propagate_sn(Ap, Ai, Ax, Lp, Li, Lx, Up, Ui, Ux, ip, Ls, Lsp, Us, Usp, Uc, Ucp, last,
                  last_to, Gq, k0, Z):  # pragma: no cover - compiled
    """:func:`_propagate` by supernodes (same operations on every entry of Y, in the same
    order: bit-identical), without ``keep``.

    L's columns sorted by row, cut into supernodes (Ls: first columns per block, then mn;
    Lsp: each block's start in Ls): columns c0..c0+s-1 with a dense unit lower diagonal block
    and the same rows B below it, so that Y[c0..c0+s-1] update every row of B in 8-entry
    fused passes (one load and store of the target row per 8 updates instead of one per
    update); U's rows cut likewise (Us, Usp: row supernodes r0..r1, dense upper diagonal
    block, the same columns C right of it; Uc[Ucp[g]:Ucp[g + 1]] = (column, position of row
    r0 in that column) for supernode g of all blocks, columns descending), whose rows take
    the updates of 8 columns of C per pass; A_j's rows are pulled 8 entries per pass.
    ip[j, r] = the row of D_j pivoted to r.  Every Y[i, t] receives its updates in the
    order of the column-oriented substitution (L: columns ascending, U: descending, then
    the pivot's reciprocal), as products then differences (no contraction).
    """
    N = Ax.shape[0]
    mn = Gq.shape[1]
    k = Z.shape[1]
    Y = np.empty((mn, k))
    growth = 0.0
    for j in range(N):
        for r in range(mn):  # R = [0 | Gq_j] - A_j Z, row by row in pivot order
            i = ip[j, r]
            for t in range(k0):
                Y[r, t] = 0.0
            for t in range(k0, k):
                Y[r, t] = Gq[j, i, t - k0]
            idx = Ap[i]
            e1 = Ap[i + 1]
            while idx + 7 < e1:
                v0 = Ax[j, idx]
                c0 = Ai[idx]
                v1 = Ax[j, idx + 1]
                c1 = Ai[idx + 1]
                v2 = Ax[j, idx + 2]
                c2 = Ai[idx + 2]
                v3 = Ax[j, idx + 3]
                c3 = Ai[idx + 3]
                v4 = Ax[j, idx + 4]
                c4 = Ai[idx + 4]
                v5 = Ax[j, idx + 5]
                c5 = Ai[idx + 5]
                v6 = Ax[j, idx + 6]
                c6 = Ai[idx + 6]
                v7 = Ax[j, idx + 7]
                c7 = Ai[idx + 7]
                for t in range(k):
                    y = Y[r, t] - v0 * Z[c0, t]
                    y = y - v1 * Z[c1, t]
                    y = y - v2 * Z[c2, t]
                    y = y - v3 * Z[c3, t]
                    y = y - v4 * Z[c4, t]
                    y = y - v5 * Z[c5, t]
                    y = y - v6 * Z[c6, t]
                    y = y - v7 * Z[c7, t]
                    Y[r, t] = y
                idx += 8
            while idx < e1:
                a = Ax[j, idx]
                c = Ai[idx]
                for t in range(k):
                    Y[r, t] -= a * Z[c, t]
                idx += 1
        for sn in range(Lsp[j], Lsp[j + 1] - 1):  # L: supernodes, ascending
            c0 = Ls[sn]
            s = Ls[sn + 1] - c0
            for q in range(s):  # the diagonal block, column oriented
                c = c0 + q
                base = Lp[j, c]
                for u in range(1, s - q):
                    a = Lx[base + u]
                    for t in range(k):
                        Y[c + u, t] -= a * Y[c, t]
            b0 = Lp[j, c0] + s
            for b in range(Lp[j, c0 + 1] - b0):  # the rows below, B[b] = Li[b0 + b]
                i = Li[b0 + b]
                q = 0
                while q + 7 < s:
                    v0 = Lx[Lp[j, c0 + q] + s - q + b]
                    v1 = Lx[Lp[j, c0 + q + 1] + s - q - 1 + b]
                    v2 = Lx[Lp[j, c0 + q + 2] + s - q - 2 + b]
                    v3 = Lx[Lp[j, c0 + q + 3] + s - q - 3 + b]
                    v4 = Lx[Lp[j, c0 + q + 4] + s - q - 4 + b]
                    v5 = Lx[Lp[j, c0 + q + 5] + s - q - 5 + b]
                    v6 = Lx[Lp[j, c0 + q + 6] + s - q - 6 + b]
                    v7 = Lx[Lp[j, c0 + q + 7] + s - q - 7 + b]
                    for t in range(k):
                        y = Y[i, t] - v0 * Y[c0 + q, t]
                        y = y - v1 * Y[c0 + q + 1, t]
                        y = y - v2 * Y[c0 + q + 2, t]
                        y = y - v3 * Y[c0 + q + 3, t]
                        y = y - v4 * Y[c0 + q + 4, t]
                        y = y - v5 * Y[c0 + q + 5, t]
                        y = y - v6 * Y[c0 + q + 6, t]
                        y = y - v7 * Y[c0 + q + 7, t]
                        Y[i, t] = y
                    q += 8
                while q < s:
                    a = Lx[Lp[j, c0 + q] + s - q + b]
                    c = c0 + q
                    for t in range(k):
                        Y[i, t] -= a * Y[c, t]
                    q += 1
        gb = Usp[j] - j  # U: row supernodes, descending (g: index over all blocks)
        for sn in range(Usp[j + 1] - 2, Usp[j] - 1, -1):
            r0 = Us[sn]
            r1 = Us[sn + 1] - 1
            s = r1 - r0 + 1
            g = gb + sn - Usp[j]
            g0 = Ucp[g]
            g1 = Ucp[g + 1]
            while g0 + 7 < g1:
                d0 = Uc[g0, 0]
                d1 = Uc[g0 + 1, 0]
                d2 = Uc[g0 + 2, 0]
                d3 = Uc[g0 + 3, 0]
                d4 = Uc[g0 + 4, 0]
                d5 = Uc[g0 + 5, 0]
                d6 = Uc[g0 + 6, 0]
                d7 = Uc[g0 + 7, 0]
                for q in range(s):
                    r = r0 + q
                    v0 = Ux[Uc[g0, 1] + q]
                    v1 = Ux[Uc[g0 + 1, 1] + q]
                    v2 = Ux[Uc[g0 + 2, 1] + q]
                    v3 = Ux[Uc[g0 + 3, 1] + q]
                    v4 = Ux[Uc[g0 + 4, 1] + q]
                    v5 = Ux[Uc[g0 + 5, 1] + q]
                    v6 = Ux[Uc[g0 + 6, 1] + q]
                    v7 = Ux[Uc[g0 + 7, 1] + q]
                    for t in range(k):
                        y = Y[r, t] - v0 * Y[d0, t]
                        y = y - v1 * Y[d1, t]
                        y = y - v2 * Y[d2, t]
                        y = y - v3 * Y[d3, t]
                        y = y - v4 * Y[d4, t]
                        y = y - v5 * Y[d5, t]
                        y = y - v6 * Y[d6, t]
                        y = y - v7 * Y[d7, t]
                        Y[r, t] = y
                g0 += 8
            while g0 < g1:
                d = Uc[g0, 0]
                p = Uc[g0, 1]
                for q in range(s):
                    a = Ux[p + q]
                    for t in range(k):
                        Y[r0 + q, t] -= a * Y[d, t]
                g0 += 1
            for c in range(r1, r0 - 1, -1):  # the diagonal block, column oriented
                dd = Up[j, c + 1] - 1
                piv = 1.0 / Ux[dd]
                for t in range(k):
                    Y[c, t] *= piv
                for r in range(r0, c):
                    a = Ux[dd - (c - r)]
                    for t in range(k):
                        Y[r, t] -= a * Y[c, t]
        for i in range(last.size):
            for t in range(k):
                v = Y[last[i], t]
                Z[last_to[i], t] = v
                if t < k0 and abs(v) > growth:
                    growth = abs(v)
    return growth


#: The coupling blocks A_j are gathered from the Jacobian's data by a compiled loop through
#: the layout's kernel index (:func:`_gather`; numpy's fancy index with int64 positions
#: took ~2x as long); the same values (False: the fancy index)
COMPILED_GATHER = True


@njit_cached()
def _gather(data, pos, out):  # pragma: no cover - compiled
    """out[j, e] = data[pos[j, e]]."""
    for j in range(pos.shape[0]):
        for e in range(pos.shape[1]):
            out[j, e] = data[pos[j, e]]


@njit_cached()
def _sort_l_columns(Lp, Li, Lx, Lt):  # pragma: no cover - compiled
    """Sort every column of the L factors by row (in place; the unit diagonal stays first);
    Lt[o] = the new offset in its column of the entry that was at position o."""
    N = Lp.shape[0]
    mn = Lp.shape[1] - 1
    src = np.empty(mn, dtype=np.int64)
    for j in range(N):
        for c in range(mn):
            a, b = Lp[j, c], Lp[j, c + 1]
            for t in range(b - a):
                src[t] = t
            for t in range(a + 1, b):
                ki = Li[t]
                kx = Lx[t]
                ko = src[t - a]
                u = t - 1
                while u >= a and Li[u] > ki:
                    Li[u + 1] = Li[u]
                    Lx[u + 1] = Lx[u]
                    src[u + 1 - a] = src[u - a]
                    u -= 1
                Li[u + 1] = ki
                Lx[u + 1] = kx
                src[u + 1 - a] = ko
            for t in range(b - a):
                Lt[a + src[t]] = t


@njit_cached()
def _supernodes(Lp, Li, Up, Ui, Ls, Lsp, Us, Usp, Uc, Ucp):  # pragma: no cover - compiled
    """The supernodes of the block factors for :func:`_propagate_sn` (L's and U's columns
    sorted by row) into Ls, Lsp, Us, Usp, Uc, Ucp (large enough); returns their lengths."""
    N = Lp.shape[0]
    mn = Lp.shape[1] - 1
    nls = 0
    nus = 0
    nuc = 0
    g = 0
    rcnt = np.zeros(mn + 1, dtype=np.int64)
    rcols = np.empty(Ui.size, dtype=np.int64)
    rpos = np.empty(Ui.size, dtype=np.int64)
    fill = np.zeros(mn, dtype=np.int64)
    for j in range(N):
        # L: column c joins the supernode of c - 1 when column c - 1 is {c - 1, c} + rest
        # and column c is {c} + the same rest
        Lsp[j] = nls
        Ls[nls] = 0
        nls += 1
        for c in range(1, mn):
            a0, a1 = Lp[j, c - 1], Lp[j, c]
            b0, b1 = Lp[j, c], Lp[j, c + 1]
            join = a1 - a0 >= 2 and Li[a0 + 1] == c and a1 - a0 - 1 == b1 - b0
            if join:
                for t in range(b1 - b0):
                    if Li[a0 + 1 + t] != Li[b0 + t]:
                        join = False
                        break
            if not join:
                Ls[nls] = c
                nls += 1
        Ls[nls] = mn
        nls += 1
        # U by rows (columns ascending, with their positions)
        for r in range(mn + 1):
            rcnt[r] = 0
        for c in range(mn):
            for idx in range(Up[j, c], Up[j, c + 1]):
                rcnt[Ui[idx] + 1] += 1
        for r in range(mn):
            rcnt[r + 1] += rcnt[r]
        for r in range(mn):
            fill[r] = rcnt[r]
        for c in range(mn):
            for idx in range(Up[j, c], Up[j, c + 1]):
                r = Ui[idx]
                rcols[fill[r]] = c
                rpos[fill[r]] = idx
                fill[r] += 1
        Usp[j] = nus
        Us[nus] = 0
        nus += 1
        for r in range(1, mn):
            a0, a1 = rcnt[r - 1], rcnt[r]
            b0, b1 = rcnt[r], rcnt[r + 1]
            join = a1 - a0 >= 2 and rcols[a0 + 1] == r and a1 - a0 - 1 == b1 - b0
            if join:
                for t in range(b1 - b0):
                    if rcols[a0 + 1 + t] != rcols[b0 + t]:
                        join = False
                        break
            if not join:
                Us[nus] = r
                nus += 1
        Us[nus] = mn
        nus += 1
        for sn in range(Usp[j], nus - 1):  # columns right of each U supernode, descending
            r0 = Us[sn]
            r1 = Us[sn + 1] - 1
            Ucp[g] = nuc
            for t in range(rcnt[r0 + 1] - 1, rcnt[r0] - 1, -1):
                c = rcols[t]
                if c <= r1:
                    break
                Uc[nuc, 0] = c
                Uc[nuc, 1] = rpos[t]
                nuc += 1
            g += 1
    Ucp[g] = nuc
    Lsp[N] = nls
    Usp[N] = nus
    return nls, nus, nuc


@njit_cached()
def _propagate1(Ap, Ai, Ax, Lp, Li, Lx, Up, Ui, Ux, pr, q, last, last_to, g, z, yall,
                keep, pf):  # pragma: no cover - compiled
    """:func:`_propagate` for one right-hand side g (N, mn) and first node z (n,), in place;
    with ``keep`` the interval solutions go to yall (N, mn).  ``pf`` > 0: prefetch hints
    for the factors' column pf columns ahead (see :data:`PREFETCH_COLUMNS`; no effect on
    the values)."""
    N = Ax.shape[0]
    mn = g.shape[1]
    y = np.empty(mn)
    for j in range(N):
        for i in range(mn):
            acc = g[j, i]
            for idx in range(Ap[i], Ap[i + 1]):
                acc -= Ax[j, idx] * z[Ai[idx]]
            y[pr[j, i]] = acc
        for c in range(mn):
            if pf > 0 and c + pf < mn:
                for o in range(Lp[j, c + pf], Lp[j, c + pf + 1], 8):
                    _prefetch(Lx, o)
                for o in range(Lp[j, c + pf], Lp[j, c + pf + 1], 32):
                    _prefetch(Li, o)
            yc = y[c]
            if yc != 0.0:
                for idx in range(Lp[j, c] + 1, Lp[j, c + 1]):
                    y[Li[idx]] -= Lx[idx] * yc
        for c in range(mn - 1, -1, -1):
            if pf > 0 and c >= pf:  # (U's column c - pf sits below column c in memory)
                for o in range(Up[j, c - pf], Up[j, c - pf + 1], 8):
                    _prefetch(Ux, o)
                for o in range(Up[j, c - pf], Up[j, c - pf + 1], 32):
                    _prefetch(Ui, o)
            d = Up[j, c + 1] - 1
            y[c] /= Ux[d]
            yc = y[c]
            if yc != 0.0:
                for idx in range(Up[j, c], d):
                    y[Ui[idx]] -= Ux[idx] * yc
        for i in range(last.size):
            z[last_to[i]] = y[last[i]]
        if keep:
            for i in range(mn):
                yall[j, q[i]] = y[i]
    return 0.0


@njit_cached()
def _factor_blocks(ipD, ixD, vals, Lp, Li, Lx, Up, Ui, Ux, pr):  # pragma: no cover - compiled
    """Sparse LU with partial pivoting of the N blocks D_j (one CSC pattern ipD, ixD; values
    vals[j]), left-looking (Gilbert-Peierls, as CSparse's cs_lu with tol = 1: the largest
    entry of the column is the pivot, the diagonal when it is as large), into the flat
    arrays of :func:`_propagate` (P_j D_j = L_j U_j; L_j unit lower with its diagonal
    first in each column, row indices in pivot order; U_j's diagonal last; pr[j, i] = the
    pivot position of row i).  Returns (status, lnz, unz): status 0 done, 1 the L or U
    arrays are too small (lnz / unz: the sizes reached), 2 block lnz singular."""
    N = vals.shape[0]
    mn = ipD.shape[0] - 1
    capL = Li.shape[0]
    capU = Ui.shape[0]
    x = np.zeros(mn)
    pinv = np.empty(mn, dtype=np.int64)
    xi = np.empty(mn, dtype=np.int64)  # reach, in topological order from xi[top:]
    stack = np.empty(mn, dtype=np.int64)
    pstack = np.empty(mn, dtype=np.int64)
    mark = np.zeros(mn, dtype=np.int64)  # mark[i] == stamp: visited in this column
    stamp = 0
    lnz = 0
    unz = 0
    for j in range(N):
        for i in range(mn):
            pinv[i] = -1
        l0 = lnz
        for k in range(mn):
            stamp += 1
            Lp[j, k] = lnz
            Up[j, k] = unz
            if lnz + mn > capL or unz + mn > capU:
                return 1, lnz + mn, unz + mn
            # reach of column k's pattern in the graph of L (depth first, iterative)
            top = mn
            for p in range(ipD[k], ipD[k + 1]):
                r0 = ixD[p]
                if mark[r0] == stamp:
                    continue
                head = 0
                stack[0] = r0
                while head >= 0:
                    r = stack[head]
                    if mark[r] != stamp:
                        mark[r] = stamp
                        pstack[head] = Lp[j, pinv[r]] + 1 if pinv[r] >= 0 else 0
                    done = True
                    if pinv[r] >= 0:
                        c = pinv[r]
                        end = Lp[j, c + 1]  # = lnz for c = k - 1 (set above)
                        q = pstack[head]
                        while q < end:
                            i2 = Li[q]
                            q += 1
                            if mark[i2] != stamp:
                                pstack[head] = q
                                head += 1
                                stack[head] = i2
                                done = False
                                break
                        if done:
                            pstack[head] = end
                    if done:
                        head -= 1
                        top -= 1
                        xi[top] = r
            # numeric: x = L \ D[:, k] on the reach
            for p in range(ipD[k], ipD[k + 1]):
                x[ixD[p]] = vals[j, p]
            for p in range(top, mn):
                r = xi[p]
                c = pinv[r]
                if c < 0:
                    continue
                xr = x[r]
                for q in range(Lp[j, c] + 1, Lp[j, c + 1]):
                    x[Li[q]] -= Lx[q] * xr
            # pivot: the largest unpivoted entry, the diagonal row k when it is as large
            ipiv = -1
            a = -1.0
            for p in range(top, mn):
                r = xi[p]
                if pinv[r] < 0:
                    t = abs(x[r])
                    if t > a:
                        a = t
                        ipiv = r
                else:
                    Ui[unz] = pinv[r]
                    Ux[unz] = x[r]
                    unz += 1
            if ipiv < 0 or not a > 0.0:
                return 2, j, 0
            if pinv[k] < 0 and mark[k] == stamp and abs(x[k]) >= a:
                ipiv = k
            piv = x[ipiv]
            Ui[unz] = k
            Ux[unz] = piv
            unz += 1
            pinv[ipiv] = k
            Li[lnz] = ipiv
            Lx[lnz] = 1.0
            lnz += 1
            for p in range(top, mn):
                r = xi[p]
                if pinv[r] < 0:
                    Li[lnz] = r
                    Lx[lnz] = x[r] / piv
                    lnz += 1
                x[r] = 0.0
        Lp[j, mn] = lnz
        Up[j, mn] = unz
        for q in range(l0, lnz):  # L's row indices in pivot order
            Li[q] = pinv[Li[q]]
        for i in range(mn):
            pr[j, i] = pinv[i]
    return 0, lnz, unz


@njit_cached()
def _sort_u_columns(Up, Ui, Ux):  # pragma: no cover - compiled
    """Sort every column of the U factors by row (in place; insertion sort, short columns)."""
    N = Up.shape[0]
    mn = Up.shape[1] - 1
    for j in range(N):
        for c in range(mn):
            a, b = Up[j, c], Up[j, c + 1]
            for t in range(a + 1, b):
                ki = Ui[t]
                kx = Ux[t]
                u = t - 1
                while u >= a and Ui[u] > ki:
                    Ui[u + 1] = Ui[u]
                    Ux[u + 1] = Ux[u]
                    u -= 1
                Ui[u + 1] = ki
                Ux[u + 1] = kx


@njit_cached(nogil=True)
def _refactor_blocks(ipD, ixD, data, pos, Lp, Li, Lx, Up, Ui, Ux, pr, tol, failed):
    # pragma: no cover - compiled
    """Numeric refactorisation of the N blocks with the patterns and row pivots of an
    earlier :func:`_factor_blocks` of blocks with the same CSC pattern (U's columns sorted
    by row, :func:`_sort_u_columns`): Lx, Ux are overwritten.  Block j's values are
    data[pos[j]] (read in place: no gathered copy of the 1.5 M block entries).  A block
    whose kept pivot is smaller than ``tol`` times the largest entry below it (threshold
    partial pivoting) is left unfinished and marked failed[j] = 1 (the caller factorises
    it anew); the others are done.  Returns the number of failed blocks."""
    N = pos.shape[0]
    mn = ipD.shape[0] - 1
    x = np.zeros(mn)
    nfail = 0
    for j in range(N):
        failed[j] = 0
        for k in range(mn):
            for p in range(ipD[k], ipD[k + 1]):
                x[pr[j, ixD[p]]] = data[pos[j, p]]
            ue = Up[j, k + 1] - 1  # the diagonal: U's column sorted, row k last
            for idx in range(Up[j, k], ue):
                c = Ui[idx]
                xc = x[c]
                Ux[idx] = xc
                x[c] = 0.0
                if xc != 0.0:
                    for q in range(Lp[j, c] + 1, Lp[j, c + 1]):
                        x[Li[q]] -= Lx[q] * xc
            piv = x[k]
            x[k] = 0.0
            Ux[ue] = piv
            big = 0.0
            for q in range(Lp[j, k] + 1, Lp[j, k + 1]):
                v = x[Li[q]]
                if abs(v) > big:
                    big = abs(v)
            if not abs(piv) >= tol * big or piv == 0.0:
                for q in range(Lp[j, k] + 1, Lp[j, k + 1]):
                    x[Li[q]] = 0.0  # x is zero again (the column's pattern covers D's)
                failed[j] = 1
                nfail += 1
                break
            Lx[Lp[j, k]] = 1.0
            for q in range(Lp[j, k] + 1, Lp[j, k + 1]):
                r = Li[q]
                Lx[q] = x[r] / piv
                x[r] = 0.0
    return nfail


@njit_cached(nogil=True)
def _refactor_blocks_sn(ipD, ixD, data, pos, Lp, Li, Lx, Up, Ui, Ux, pr, tol, failed, Ls,
                        Lsp):  # pragma: no cover - compiled
    """:func:`_refactor_blocks` with the updates of consecutive columns of one supernode of
    L (Ls, Lsp: see :func:`_propagate_sn`; L's columns sorted by row) fused: when U's column
    k holds columns c, c + 1, ... of one supernode, their diagonal block is applied column
    by column as before, and then the rows R below it (the same rows in each of these
    columns) take the 4 (or 2) updates in one pass (one load and store of x[i] instead of
    one per update).  Every x[i] receives the same updates in the same order as in
    :func:`_refactor_blocks` (a column whose x value is exactly zero skipped as there), so
    the factors and the refused blocks are the same bit for bit."""
    N = pos.shape[0]
    mn = ipD.shape[0] - 1
    x = np.zeros(mn)
    snce = np.empty(mn, dtype=np.int64)
    nfail = 0
    for j in range(N):
        failed[j] = 0
        for sn in range(Lsp[j], Lsp[j + 1] - 1):
            for c in range(Ls[sn], Ls[sn + 1]):
                snce[c] = Ls[sn + 1]
        for k in range(mn):
            for p in range(ipD[k], ipD[k + 1]):
                x[pr[j, ixD[p]]] = data[pos[j, p]]
            ue = Up[j, k + 1] - 1
            idx = Up[j, k]
            while idx < ue:
                c = Ui[idx]
                xc = x[c]
                Ux[idx] = xc
                x[c] = 0.0
                a0 = Lp[j, c]
                a1 = Lp[j, c + 1]
                if xc != 0.0 and c + 1 < snce[c] and idx + 1 < ue and Ui[idx + 1] == c + 1:
                    if (c + 3 < snce[c] and idx + 3 < ue and Ui[idx + 3] == c + 3):
                        # four columns of one supernode: the diagonal block in order, then
                        # the common rows R below it with the four updates fused
                        x[c + 1] -= Lx[a0 + 1] * xc
                        x[c + 2] -= Lx[a0 + 2] * xc
                        x[c + 3] -= Lx[a0 + 3] * xc
                        x1 = x[c + 1]
                        Ux[idx + 1] = x1
                        x[c + 1] = 0.0
                        p1 = Lp[j, c + 1]
                        if x1 != 0.0:
                            x[c + 2] -= Lx[p1 + 1] * x1
                            x[c + 3] -= Lx[p1 + 2] * x1
                        x2 = x[c + 2]
                        Ux[idx + 2] = x2
                        x[c + 2] = 0.0
                        p2 = Lp[j, c + 2]
                        if x2 != 0.0:
                            x[c + 3] -= Lx[p2 + 1] * x2
                        x3 = x[c + 3]
                        Ux[idx + 3] = x3
                        x[c + 3] = 0.0
                        p3 = Lp[j, c + 3]
                        if x1 != 0.0 and x2 != 0.0 and x3 != 0.0:
                            o1 = p1 + 3 - (a0 + 4)
                            o2 = p2 + 2 - (a0 + 4)
                            o3 = p3 + 1 - (a0 + 4)
                            for q in range(a0 + 4, a1):
                                i = Li[q]
                                x[i] = (((x[i] - Lx[q] * xc) - Lx[q + o1] * x1)
                                        - Lx[q + o2] * x2) - Lx[q + o3] * x3
                        else:
                            for q in range(a0 + 4, a1):
                                x[Li[q]] -= Lx[q] * xc
                            if x1 != 0.0:
                                for q in range(p1 + 3, Lp[j, c + 2]):
                                    x[Li[q]] -= Lx[q] * x1
                            if x2 != 0.0:
                                for q in range(p2 + 2, Lp[j, c + 3]):
                                    x[Li[q]] -= Lx[q] * x2
                            if x3 != 0.0:
                                for q in range(p3 + 1, Lp[j, c + 4]):
                                    x[Li[q]] -= Lx[q] * x3
                        idx += 4
                        continue
                    x[c + 1] -= Lx[a0 + 1] * xc
                    xd = x[c + 1]
                    Ux[idx + 1] = xd
                    x[c + 1] = 0.0
                    b1 = Lp[j, c + 1] + 1 - (a0 + 2)
                    if xd != 0.0:
                        for q in range(a0 + 2, a1):
                            i = Li[q]
                            x[i] = (x[i] - Lx[q] * xc) - Lx[q + b1] * xd
                    else:
                        for q in range(a0 + 2, a1):
                            x[Li[q]] -= Lx[q] * xc
                    idx += 2
                    continue
                if xc != 0.0:
                    for q in range(a0 + 1, a1):
                        x[Li[q]] -= Lx[q] * xc
                idx += 1
            piv = x[k]
            x[k] = 0.0
            Ux[ue] = piv
            big = 0.0
            for q in range(Lp[j, k] + 1, Lp[j, k + 1]):
                v = x[Li[q]]
                if abs(v) > big:
                    big = abs(v)
            if not abs(piv) >= tol * big or piv == 0.0:
                for q in range(Lp[j, k] + 1, Lp[j, k + 1]):
                    x[Li[q]] = 0.0
                failed[j] = 1
                nfail += 1
                break
            Lx[Lp[j, k]] = 1.0
            for q in range(Lp[j, k] + 1, Lp[j, k + 1]):
                r_ = Li[q]
                Lx[q] = x[r_] / piv
                x[r_] = 0.0
    return nfail


@njit_cached()
def _solve_rest_T_kernel(Ap, Ai, Ax, Lp, Li, Lx, Up, Ui, Ux, pr, q, n, e, v, Lt
                         ):  # pragma: no cover - compiled
    """C_r^{-T} e by block backward substitution (e, v: (N mn, k)): for j = N-1..0, solve
    D_j^T v_j = e_j - [0; A_{j+1}^T v_{j+1}] (the coupling acts on interval j's last node)
    with the LU of D_j[:, q] (P D[:, q] = L U: D^T = (L U)^T-solve, then undo q and P).
    L's column entries are summed in the factorisation's order: Lt[o] is the offset in its
    column of the o-th entry in that order (:func:`_sort_l_columns`; Lt[o] = o - column
    start when the columns were not reordered)."""
    N = Lp.shape[0]
    mn = q.shape[0]
    k = e.shape[1]
    carry = np.zeros((n, k))
    w = np.empty((mn, k))
    for j in range(N - 1, -1, -1):
        base = j * mn
        # rhs in column order of D[:, q]: r_c = e[q[c]] (minus the carry on the last node)
        for c in range(mn):
            src = q[c]
            for t in range(k):
                val = e[base + src, t]
                if src >= mn - n:
                    val -= carry[src - (mn - n), t]
                w[c, t] = val
        if k == 2:  # the same operations, the two sums in registers (see below)
            for c in range(mn):
                d = Up[j, c + 1] - 1
                s0 = w[c, 0]
                s1 = w[c, 1]
                for idx in range(Up[j, c], d):
                    i = Ui[idx]
                    a = Ux[idx]
                    s0 -= a * w[i, 0]
                    s1 -= a * w[i, 1]
                piv = Ux[d]
                w[c, 0] = s0 / piv
                w[c, 1] = s1 / piv
            for c in range(mn - 1, -1, -1):
                c0 = Lp[j, c]
                s0 = w[c, 0]
                s1 = w[c, 1]
                for o in range(c0 + 1, Lp[j, c + 1]):
                    idx = c0 + Lt[o]
                    i = Li[idx]
                    a = Lx[idx]
                    s0 -= a * w[i, 0]
                    s1 -= a * w[i, 1]
                w[c, 0] = s0
                w[c, 1] = s1
        else:
            # U^T z = r (U^T lower; column c of U is row c of U^T, its diagonal last)
            for c in range(mn):
                d = Up[j, c + 1] - 1
                for idx in range(Up[j, c], d):
                    i = Ui[idx]
                    a = Ux[idx]
                    for t in range(k):
                        w[c, t] -= a * w[i, t]
                piv = Ux[d]
                for t in range(k):
                    w[c, t] /= piv
            # L^T y = z (L^T upper, unit diagonal first in each column of L)
            for c in range(mn - 1, -1, -1):
                c0 = Lp[j, c]
                for o in range(c0 + 1, Lp[j, c + 1]):
                    idx = c0 + Lt[o]
                    i = Li[idx]
                    a = Lx[idx]
                    for t in range(k):
                        w[c, t] -= a * w[i, t]
        # v_j = P^T y: v[i] = y[pr[i]]
        for i in range(mn):
            r = pr[j, i]
            for t in range(k):
                v[base + i, t] = w[r, t]
        # carry for interval j - 1: A_j^T v_j (A_j: mn x n, CSR Ap, Ai; values Ax[j])
        for c in range(n):
            for t in range(k):
                carry[c, t] = 0.0
        for i in range(mn):
            for idx in range(Ap[i], Ap[i + 1]):
                a = Ax[j, idx]
                c = Ai[idx]
                for t in range(k):
                    carry[c, t] += a * v[base + i, t]
    return 0


#: Factorise the interval blocks with the compiled LU (:func:`_factor_blocks`); False:
#: SuperLU's, one call per block (the previous method; same pivoting rule and ordering)
COMPILED_LU = True
#: Refactorise with the pivots and patterns of the previous blocks of the same layout
#: (numeric only) while every kept pivot is at least PIVOT_TOL times the largest entry
#: below it in its column (threshold partial pivoting); else a new factorisation
REFACTOR = True
PIVOT_TOL = 0.1
#: The numeric refactorisation fuses the updates of up to 4 consecutive columns of one
#: supernode of L (:func:`_refactor_blocks_sn`; the same factors and refusals bit for bit;
#: ~0.63x the refactorisation of the 40 blocks on the reduced network ODE at ntst 40;
#: False: :func:`_refactor_blocks`, column by column; benchmarks/README.md, asm14)
REFACTOR_SUPERNODAL = True
#: When a refactorisation refuses some blocks, factorise only those anew and keep the others'
#: refactorised values (False: every block anew, the previous rule)
PARTIAL_REFACTOR = True
#: How often :func:`_block_lus` refactorised every block, refused some blocks (a pivot too
#: small), and how many blocks were factorised anew after a refusal
STATS = {"refactor": 0, "refactor_refused": 0, "blocks_anew": 0}
#: Sizes (L, U entries per block) of the latest block factorisations, per (mn, block
#: nonzeros): the first guess of the next one's arrays
_LU_SIZES: dict[tuple[int, int], tuple[float, float]] = {}


def _block_lus(ipD: np.ndarray, ixD: np.ndarray, data: np.ndarray, pos: np.ndarray, mn: int,
               ref=None, threads: int = 1):
    """(Lp, Li, Lx, Up, Ui, Ux, pr, pattern, sn) of the N blocks (CSC pattern ipD, ixD,
    values data[pos[j]], partial pivoting, the columns in their given order) for
    :func:`_propagate` (sn: their supernodes, :func:`_block_supernodes`); ``pattern``
    (Lp, Li, Up, Ui, pr, sn) can be passed back as ``ref`` for
    the next blocks of the same pattern: they are then refactorised numerically with the
    same pivots (:func:`_refactor_blocks`; on ``threads`` threads) unless a pivot has become
    too small (:data:`PIVOT_TOL`).  RuntimeError when a block is exactly singular."""
    N = pos.shape[0]
    if not COMPILED_LU:
        f = _kernel_factors(*_superlu_blocks(ipD, ixD, data[pos], mn))
        return (*f, None, _block_supernodes(f[0], f[1], f[3], f[4], f[6]))
    if ref is not None and REFACTOR and ref[0].shape[0] == N:
        Lp, Li, Up, Ui, pr = ref[:5]
        Lx = np.empty(Li.size)
        Ux = np.empty(Ui.size)
        failed = np.empty(N, dtype=np.uint8)
        if threads > 1 and N > 1:
            nfail = _refactor_threads(ipD, ixD, data, pos, Lp, Li, Lx, Up, Ui, Ux, pr,
                                      failed, ref[5], threads)
        elif REFACTOR_SUPERNODAL:
            nfail = _refactor_blocks_sn(ipD, ixD, data, pos, Lp, Li, Lx, Up, Ui, Ux, pr,
                                        PIVOT_TOL, failed, ref[5][2], ref[5][3])
        else:
            nfail = _refactor_blocks(ipD, ixD, data, pos, Lp, Li, Lx, Up, Ui, Ux, pr,
                                     PIVOT_TOL, failed)
        if nfail == 0:
            STATS["refactor"] += 1
            return Lp, Li, Lx, Up, Ui, Ux, pr, ref, ref[5]
        STATS["refactor_refused"] += 1
        if PARTIAL_REFACTOR:
            STATS["blocks_anew"] += nfail
            bad = np.flatnonzero(failed)
            new = _fresh_lus(ipD, ixD, data[pos[bad]], mn)
            Lt = _merge_lt(Lp, ref[5][0], new, bad)
            out = _kernel_factors(*_merge_blocks((Lp, Li, Lx, Up, Ui, Ux, pr), new[:7], bad))
            sn = _block_supernodes(out[0], out[1], out[3], out[4], out[6], Lt)
            return (*out, (out[0], out[1], out[3], out[4], out[6], sn), sn)
        STATS["blocks_anew"] += N
    *f, Lt = _fresh_lus(ipD, ixD, data[pos], mn)
    Lp, Li, Lx, Up, Ui, Ux, pr = _kernel_factors(*f)
    sn = _block_supernodes(Lp, Li, Up, Ui, pr, Lt)
    return Lp, Li, Lx, Up, Ui, Ux, pr, (Lp, Li, Up, Ui, pr, sn), sn


def _merge_lt(Lp: np.ndarray, Lt: np.ndarray, new: tuple, bad: np.ndarray) -> np.ndarray:
    """The column offsets Lt (see :func:`_sort_l_columns`) of the merged factors of
    :func:`_merge_blocks` (blocks ``bad`` replaced by those of ``new``)."""
    parts = [Lt[Lp[j, 0]:Lp[j, -1]] for j in range(Lp.shape[0])]
    for k, j in enumerate(bad):
        parts[j] = new[7][new[0][k, 0]:new[0][k, -1]]
    return np.concatenate(parts)


def _block_supernodes(Lp, Li, Up, Ui, pr, Lt=None) -> tuple:
    """(Lt, ip, Ls, Lsp, Us, Usp, Uc, Ucp) of block factors whose L and U columns are
    sorted by row (see :func:`_propagate_sn`, :func:`_solve_rest_T_kernel`) as kernel
    index arrays; Lt None: the columns were sorted from the start."""
    N, mn1 = Lp.shape
    mn = mn1 - 1
    if Lt is None:
        Lt = np.arange(Li.size) - np.repeat(Lp[:, :-1].ravel(), np.diff(Lp, axis=1).ravel())
    Ls = np.empty(N * (mn + 1), dtype=np.int64)
    Us = np.empty(N * (mn + 1), dtype=np.int64)
    Lsp = np.empty(N + 1, dtype=np.int64)
    Usp = np.empty(N + 1, dtype=np.int64)
    Uc = np.empty((Ui.size, 2), dtype=np.int64)
    Ucp = np.empty(N * mn + 1, dtype=np.int64)
    nls, nus, nuc = _supernodes(Lp, Li, Up, Ui, Ls, Lsp, Us, Usp, Uc, Ucp)
    ip = np.empty((N, mn), dtype=np.int64)
    np.put_along_axis(ip, np.asarray(pr, dtype=np.int64), np.arange(mn)[None, :], axis=1)
    return tuple(kernel_index(a) for a in (Lt, ip, Ls[:nls], Lsp, Us[:nus], Usp,
                                           Uc[:nuc], Ucp[:nus - N + 1]))


def _merge_blocks(old: tuple, new: tuple, bad: np.ndarray) -> tuple:
    """The flat block factors (Lp, Li, Lx, Up, Ui, Ux, pr) of ``old`` with blocks ``bad``
    replaced by the blocks of ``new`` (factors of those blocks only, in that order)."""
    N = old[0].shape[0]
    src = [(old, j) for j in range(N)]
    for k, j in enumerate(bad):
        src[j] = (new, k)
    out = []
    for ptr, idx, val in ((0, 1, 2), (3, 4, 5)):
        P = np.empty_like(old[ptr])
        parts_i, parts_v = [], []
        off = 0
        for j, (f, k) in enumerate(src):
            a, b = f[ptr][k, 0], f[ptr][k, -1]
            P[j] = f[ptr][k] - a + off
            parts_i.append(f[idx][a:b])
            parts_v.append(f[val][a:b])
            off += b - a
        out += [P, np.concatenate(parts_i), np.concatenate(parts_v)]
    pr = old[6].copy()
    pr[bad] = new[6]
    return (*out, pr)


def _fresh_lus(ipD: np.ndarray, ixD: np.ndarray, vals: np.ndarray, mn: int) -> tuple:
    """(Lp, Li, Lx, Up, Ui, Ux, pr, Lt) of a new factorisation (:func:`_factor_blocks`, L's
    and U's columns sorted by row, Lt: see :func:`_sort_l_columns`) of the blocks vals[j];
    RuntimeError when a block is exactly singular."""
    N = vals.shape[0]
    key = (mn, ixD.size)
    perL, perU = _LU_SIZES.get(key, (2 * ixD.size, 2 * ixD.size))
    capL, capU = int(N * perL) + N * mn, int(N * perU) + N * mn
    while True:
        Lp = np.empty((N, mn + 1), dtype=np.int64)
        Up = np.empty((N, mn + 1), dtype=np.int64)
        Li = np.empty(capL, dtype=np.int64)
        Lx = np.empty(capL)
        Ui = np.empty(capU, dtype=np.int64)
        Ux = np.empty(capU)
        pr = np.empty((N, mn), dtype=np.int64)
        status, lnz, unz = _factor_blocks(ipD, ixD, vals, Lp, Li, Lx, Up, Ui, Ux, pr)
        if status == 0:
            _LU_SIZES[key] = (lnz / N, unz / N)
            Li, Lx, Ui, Ux = Li[:lnz], Lx[:lnz], Ui[:unz], Ux[:unz]
            _sort_u_columns(Up, Ui, Ux)
            Lt = np.empty(lnz, dtype=np.int64)
            _sort_l_columns(Lp, Li, Lx, Lt)
            return Lp, Li, Lx, Up, Ui, Ux, pr, Lt
        if status == 2:
            raise RuntimeError(f"Factor is exactly singular (interval block {lnz})")
        capL, capU = max(2 * capL, int(lnz) + N * mn), max(2 * capU, int(unz) + N * mn)


def _superlu_blocks(ipD: np.ndarray, ixD: np.ndarray, vals: np.ndarray, mn: int):
    """:func:`_block_lus` by SuperLU (NATURAL column order), one call per block."""
    N = vals.shape[0]
    Lp = np.empty((N, mn + 1), dtype=np.int64)
    Up = np.empty((N, mn + 1), dtype=np.int64)
    Li, Lx, Ui, Ux = [], [], [], []
    pr = np.empty((N, mn), dtype=np.int64)
    offL = offU = 0
    for j, v in enumerate(vals):
        lu = spla.splu(sp.csc_matrix((v, ixD, ipD), shape=(mn, mn)), permc_spec="NATURAL")
        L, U = lu.L, lu.U
        Lp[j] = L.indptr + offL
        Up[j] = U.indptr + offU
        offL += L.nnz
        offU += U.nnz
        Li.append(L.indices)
        Lx.append(L.data)
        Ui.append(U.indices)
        Ux.append(U.data)
        pr[j] = lu.perm_r
    Li, Lx = np.concatenate(Li).astype(np.int64), np.concatenate(Lx)
    Ui, Ux = np.concatenate(Ui).astype(np.int64), np.concatenate(Ux)
    _sort_u_columns(Lp, Li, Lx)  # by row: L's unit diagonal first, U's diagonal last
    _sort_u_columns(Up, Ui, Ux)
    return Lp, Li, Lx, Up, Ui, Ux, pr


def _propagate_threads(args: tuple, G: np.ndarray, k0: int, Z: np.ndarray,
                       threads: int) -> float:
    """:func:`_propagate_sn` with Z's columns split among ``threads`` threads (every column
    goes through the same operations alone or with others: the same values bit for bit);
    parts of 4 columns' multiples (see :data:`PAD_COLUMNS`)."""
    parts = _parts(Z.shape[1], threads, 4)
    jobs = []
    for a, b in parts:
        Zc = np.ascontiguousarray(Z[:, a:b])
        Gc = np.ascontiguousarray(G[:, :, max(a - k0, 0):max(b - k0, 0)])
        jobs.append((a, b, Zc, _pool(threads).submit(_propagate_sn, *args, Gc,
                                                       min(max(k0 - a, 0), b - a), Zc)))
    growth = 0.0
    for a, b, Zc, job in jobs:
        growth = max(growth, job.result())
        Z[:, a:b] = Zc
    return growth


def _refactor_threads(ipD, ixD, data, pos, Lp, Li, Lx, Up, Ui, Ux, pr, failed, sn,
                      threads: int) -> int:
    """The refactorisation of the N blocks (:func:`_refactor_blocks_sn`, or
    :func:`_refactor_blocks` without :data:`REFACTOR_SUPERNODAL`), blocks split among
    ``threads`` threads (each block alone: the same factors bit for bit); refused blocks."""
    jobs = []
    for a, b in _parts(pos.shape[0], threads):
        common = (ipD, ixD, data, pos[a:b], Lp[a:b], Li, Lx, Up[a:b], Ui, Ux, pr[a:b],
                  PIVOT_TOL, failed[a:b])
        if REFACTOR_SUPERNODAL:
            jobs.append(_pool(threads).submit(_refactor_blocks_sn, *common, sn[2],
                                              sn[3][a:b + 1]))
        else:
            jobs.append(_pool(threads).submit(_refactor_blocks, *common))
    return sum(job.result() for job in jobs)


class CondensedLU:
    """Factorisation of a square collocation Jacobian ``A`` (rows: collocation, then n + nq
    extra rows; columns: nodes, then nq scalar unknowns) by condensation onto (x_0, q).

    ``lay`` is the cached block layout of A's pattern
    (:class:`~bifsnn.continuation.periodic.collocation._BlockLayout`).  Raises RuntimeError
    when a block D_j is exactly singular (SuperLU's) or S is, ValueError when the propagated
    products grow beyond :data:`GROWTH_MAX`.  ``solve(b)`` solves A z = b; ``monodromy`` is
    the monodromy matrix of the collocation block (n x n).  With ``border`` False only the
    monodromy matrix is formed (the Floquet multipliers need no more); :meth:`bordered`
    completes the factorisation for solving.
    """

    def __init__(self, A: sp.csc_matrix, coll, lay, border: bool = True) -> None:
        with blas_single_thread():
            self._build(A, coll, lay, border)
        self.S_lu = None
        if border:
            self.bordered()

    def bordered(self) -> CondensedLU:
        """This factorisation with the condensed system of the extra rows formed and
        factorised (once); RuntimeError when it is exactly singular."""
        if self.S_lu is None:
            with blas_single_thread():
                self._build_border()
        return self

    def _sizes(self, A: sp.csc_matrix, coll, lay) -> None:
        """The sizes of A (ValueError unless a square collocation Jacobian) and its layout."""
        n, nU, ncoll = coll.n, coll.nU, coll.ncoll
        nq = A.shape[1] - nU
        if A.shape != (ncoll + n + nq, nU + nq) or nq < 0:
            raise ValueError(f"A has shape {A.shape}: not a square collocation Jacobian")
        self.shape = A.shape
        self.N, self.n, self.mn, self.nq, self.nU, self.ncoll = (coll.ntst, n, lay.mn, nq, nU,
                                                                 ncoll)
        self.lay = lay

    def _first_node(self, A: sp.csc_matrix, coll, lay, border: bool, pad: bool) -> None:
        """The scalar columns G per interval and the last node of C_r^{-1} [C_0, G] (only
        C_r^{-1} C_0, the monodromy part, without ``border``; ``pad``: on a multiple of 4
        columns, see :data:`PAD_COLUMNS`); ValueError when the products grow too much."""
        N, n, mn, nq, data = self.N, self.n, self.mn, self.nq, A.data
        ex = _extras(A, coll, lay)
        self.ex = ex
        G = np.zeros(self.ncoll * nq)
        G[ex.G_dst] = data[ex.G_pos]
        self.G = G.reshape(N, mn, nq)
        # without the border the G columns follow in _build_border if it is ever needed:
        # every column is propagated by the same operations, alone or with others
        k = n + nq if border else n
        Z = np.zeros((n, -(-k // 4) * 4 if pad else k))
        Z[:, :n] = -np.eye(n)
        growth = self._propagate(Z, n)
        Z = np.ascontiguousarray(Z[:, :k]) if Z.shape[1] > k else Z
        if not np.isfinite(growth) or growth > GROWTH_MAX:
            raise ValueError(f"condensation refused: products grow to {growth:.3g}")
        self.monodromy = -Z[:, :n]
        self._Z, self._data = Z, data

    def _build(self, A: sp.csc_matrix, coll, lay, border: bool) -> None:
        self._sizes(A, coll, lay)
        self.threads = int(getattr(coll, "threads", 1))
        mn, data = lay.mn, A.data
        k = lay.kernel  # the layout's index arrays as kernel_index arrays
        if COMPILED_GATHER:
            self.Ax = np.empty(k["posA"].shape)
            _gather(data, k["posA"], self.Ax)
        else:
            self.Ax = np.ascontiguousarray(data[lay.posA])
        self.Ap, self.Ai = k["Ap"], k["Ai"]
        (self.Lp, self.Li, self.Lx, self.Up, self.Ui, self.Ux, self.pr, ref,
         self.sn) = _block_lus(k["ipD"], k["ixD"], data, k["posDq"], mn,
                               getattr(lay, "lu_pattern", None), self.threads)
        lay.lu_pattern = ref  # the next factorisation of this pattern refactorises
        self.q, self.last, self.last_to = k["q"], k["last"], k["last_to"]
        self._dummy = np.empty((1, 1, 1))
        self._first_node(A, coll, lay, border, PAD_COLUMNS)

    def _build_border(self) -> None:
        """The condensed system of the extra rows: S = [E_0, E_q] - E_y C_r^{-1} [C_0, G]."""
        n, nq, nU, ex, Z = self.n, self.nq, self.nU, self.ex, self._Z
        if Z.shape[1] < n + nq:  # built without the border: the G columns now
            ZG = np.zeros((n, nq))
            self._propagate(ZG, 0)
            Z = self._Z = np.hstack([Z, ZG])
        ev = self._data[ex.E_pos]
        S = np.zeros((n + nq, n + nq))
        S[ex.S_row, ex.S_col] = ev[ex.S_sel]
        self.E_last = np.zeros((len(ex.rows_last), n))
        self.E_last[ex.L_row, ex.L_col] = ev[ex.L_sel]
        S[ex.rows_last] -= self.E_last @ Z
        E_dense = np.zeros((len(ex.rows_dense), nU - n))
        E_dense[ex.D_row, ex.D_col] = ev[ex.D_sel]
        self.V = self._solve_rest_T(E_dense.T).T  # rows: C_r^{-T} e_i
        if ex.rows_dense:
            row = np.zeros((len(ex.rows_dense), n + nq))
            # v^T [C_0, G] with C_0 = A_0 (interval 0 rows) on x_0
            for r in range(row.shape[0]):
                row[r, :n] = np.bincount(self.Ai, weights=self.V[r, ex.A_rowidx] * self.Ax[0],
                                         minlength=n)
            if nq:
                row[:, n:] = self.V @ self.G.reshape(-1, nq)
            S[ex.rows_dense] -= row
        S_lu = sla.lu_factor(S, check_finite=True)
        d = np.abs(np.diag(S_lu[0]))
        if not np.all(np.isfinite(d)) or d.min() == 0.0:
            raise RuntimeError("Factor is exactly singular (condensed system)")
        self.S_lu = S_lu
        self._data = None

    # ------------------------------------------------------------------ block solves
    def _propagate(self, Z: np.ndarray, k0: int) -> float:
        """Z <- the last node of the forward block substitution of [0 | G] - C_0 Z (the
        first k0 columns without G) in place, by supernodes (:data:`SUPERNODAL`); the
        largest |entry| of the first k0 columns met."""
        G = self.G
        if Z.shape[1] - k0 > G.shape[2]:  # zero columns of padding (see PAD_COLUMNS)
            G = np.zeros(G.shape[:2] + (Z.shape[1] - k0,))
            G[:, :, :self.G.shape[2]] = self.G
        if SUPERNODAL:
            args = (self.Ap, self.Ai, self.Ax, self.Lp, self.Li, self.Lx, self.Up, self.Ui,
                    self.Ux, *self.sn[1:], self.last, self.last_to)
            if self.threads > 1 and Z.shape[1] >= 8 * self.threads:
                return _propagate_threads(args, G, k0, Z, self.threads)
            return _propagate_sn(*args, G, k0, Z)
        return _propagate(self.Ap, self.Ai, self.Ax, self.Lp, self.Li, self.Lx, self.Up,
                          self.Ui, self.Ux, self.pr, self.q, self.last, self.last_to, G,
                          k0, Z, self._dummy, False)

    def _solve_rest_T(self, e: np.ndarray) -> np.ndarray:
        """C_r^{-T} e for e of shape (ncoll, k) (block backward substitution)."""
        v = np.empty((self.N * self.mn, e.shape[1]))
        _solve_rest_T_kernel(self.Ap, self.Ai, self.Ax, self.Lp, self.Li, self.Lx, self.Up,
                             self.Ui, self.Ux, self.pr, self.q, self.n,
                             np.ascontiguousarray(e, dtype=float), v, self.sn[0])
        return v

    def _forward(self, bc: np.ndarray, z0: np.ndarray, keep: bool):
        z = np.array(z0, dtype=float)
        g = np.ascontiguousarray(bc, dtype=float).reshape(self.N, self.mn)
        yall = np.empty((self.N, self.mn)) if keep else self._dummy[0]
        _propagate1(self.Ap, self.Ai, self.Ax, self.Lp, self.Li, self.Lx, self.Up, self.Ui,
                    self.Ux, self.pr, self.q, self.last, self.last_to, g, z, yall, keep,
                    PREFETCH_COLUMNS)
        return z, (yall.ravel() if keep else None)

    def solve(self, b: np.ndarray, trans: str = "N") -> np.ndarray:
        """z with A z = b (b of length A.shape[0], real)."""
        if trans != "N":
            raise ValueError("CondensedLU solves only A z = b (trans='N')")
        self.bordered()
        b = np.asarray(b, dtype=float)
        if b.ndim != 1:
            return np.column_stack([self.solve(col) for col in b.T])
        n, nq, ncoll = self.n, self.nq, self.ncoll
        bc, be = b[:ncoll], b[ncoll:].copy()
        if bc.any():  # (zero collocation part, e.g. a tangent's right-hand side: nothing to do)
            w_last, _ = self._forward(bc, np.zeros(n), keep=False)
            if self.ex.rows_last:
                be[self.ex.rows_last] -= self.E_last @ w_last
            if self.ex.rows_dense:
                be[self.ex.rows_dense] -= self.V @ bc
        with blas_single_thread():
            xq = sla.lu_solve(self.S_lu, be)
        x0, qv = xq[:n], xq[n:]
        rhs = bc - self.G.reshape(-1, nq) @ qv if nq else bc
        _, y = self._forward(rhs, x0, keep=True)
        return np.concatenate([x0, y, qv])


class _Extras:
    """Where the scalar columns G and the extra rows E of a collocation Jacobian sit in
    ``A.data`` (one sparsity pattern), and which extra rows involve only the last node."""

    def __init__(self, A: sp.csc_matrix, coll, lay) -> None:
        n, nU, ncoll, mn = coll.n, coll.nU, coll.ncoll, lay.mn
        nq = A.shape[1] - nU
        cols = np.repeat(np.arange(A.shape[1]), np.diff(A.indptr))
        rows = A.indices
        g = np.flatnonzero((cols >= nU) & (rows < ncoll))
        self.G_pos = g
        self.G_dst = rows[g] * nq + (cols[g] - nU)
        e = np.flatnonzero(rows >= ncoll)
        self.E_pos = e
        er, ec = rows[e] - ncoll, cols[e]
        # S part: columns x_0 and q
        sel = np.flatnonzero((ec < n) | (ec >= nU))
        self.S_sel, self.S_row = sel, er[sel]
        self.S_col = np.where(ec[sel] < n, ec[sel], ec[sel] - nU + n)
        # y part: rows whose y-entries all lie on the last node use the propagated last node
        iny = (ec >= n) & (ec < nU)
        lo = nU - n
        first_y = np.full(n + nq, nU)
        np.minimum.at(first_y, er[iny], ec[iny])
        has_y = np.zeros(n + nq, dtype=bool)
        has_y[er[iny]] = True
        last_only = has_y & (first_y >= lo)
        self.rows_last = [int(i) for i in np.flatnonzero(last_only)]
        self.rows_dense = [int(i) for i in np.flatnonzero(has_y & ~last_only)]
        lpos = {r: k for k, r in enumerate(self.rows_last)}
        dpos = {r: k for k, r in enumerate(self.rows_dense)}
        sel = np.flatnonzero(iny & last_only[er])
        self.L_sel, self.L_row = sel, np.array([lpos[r] for r in er[sel]], dtype=np.int64)
        self.L_col = ec[sel] - lo
        sel = np.flatnonzero(iny & ~last_only[er])
        self.D_sel, self.D_row = sel, np.array([dpos[r] for r in er[sel]], dtype=np.int64)
        self.D_col = ec[sel] - n
        self.A_rowidx = np.repeat(np.arange(mn), np.diff(lay.patA[0]))


_EXTRAS: dict[tuple, _Extras] = {}


def _extras(A: sp.csc_matrix, coll, lay) -> _Extras:
    """The cached :class:`_Extras` of A's pattern."""
    from bifsnn.continuation.linalg import _pattern_key

    key = (_pattern_key(A), coll.ntst, coll.ncol, coll.n)
    if key not in _EXTRAS:
        if len(_EXTRAS) >= 4:
            _EXTRAS.pop(next(iter(_EXTRAS)))
        _EXTRAS[key] = _Extras(A, coll, lay)
    return _EXTRAS[key]
