# ruff: noqa: F821
"""Euler-Maruyama kernels of the finite-size-noise SDE: NOT imported directly.

:mod:`bifsnn.reduction.noise` writes this file next to the generated model module, below a
line importing that module's ``_source``, ``edge_kernel`` and ``rhs``, so that numba can
cache the compiled kernels (passing the functions as arguments would recompile them in
every process: ~8 s).
"""

import math

import numba
import numpy as np


@numba.njit(cache=True)
def _reactions(x, pv, edges, opt, a, idx, val):
    """Propensities a[r] (per ms) and sparse jumps (idx[r, :], val[r, :]); returns count."""
    K = edges.shape[0] - 1
    F = np.empty(K + 1)
    M1 = np.empty(K + 1)
    e0 = edges[0]
    h = pv[18]
    r = 0
    for q in range(2):
        offn = 2 * K * q
        offA = offn + K
        s = 0.0
        for j in range(K):
            s += x[offn + j]
        for j in range(K):
            nj0 = x[offn + j]
            if nj0 <= 0.0:
                continue
            nj, vb, dvb_dn, dvb_dA, lo, hi, da, db, d = _source(x, q, j, K, pv, edges, opt)
            edge_kernel(edges, lo, hi, d[0], d[1], F, M1)
            for l in range(K):
                if l == 0:
                    P = F[1]
                    mom = M1[1] - M1[0] + e0 * F[0]
                else:
                    P = F[l + 1] - F[l]
                    mom = M1[l + 1] - M1[l]
                if P <= 0.0:
                    continue
                a[r] = nj * P / h
                w = mom / P
                idx[r, :] = -1
                if l == j:
                    idx[r, 0] = offA + j
                    val[r, 0] = w - vb
                else:
                    idx[r, 0] = offn + j
                    val[r, 0] = -1.0
                    idx[r, 1] = offn + l
                    val[r, 1] = 1.0
                    idx[r, 2] = offA + j
                    val[r, 2] = -vb
                    idx[r, 3] = offA + l
                    val[r, 3] = w
                r += 1
            Pf = 1.0 - F[K]
            if Pf > 0.0:
                a[r] = nj * Pf / h
                idx[r, :] = -1
                idx[r, 0] = offn + j
                val[r, 0] = -1.0
                idx[r, 1] = offA + j
                val[r, 1] = -vb
                c = 2
                for k in range(4):
                    if k % 2 == q:
                        p = pv[5 + k]
                        idx[r, c] = 4 * K + 2 * k
                        val[r, c] = p
                        idx[r, c + 1] = 4 * K + 2 * k + 1
                        val[r, c + 1] = p * (1.0 - p)
                        c += 2
                r += 1
        R = pv[15 + q] - s
        if R > 0.0:
            rb = int(opt[5])
            a[r] = R / pv[13]
            idx[r, :] = -1
            idx[r, 0] = offn + rb
            val[r, 0] = 1.0
            idx[r, 1] = offA + rb
            val[r, 1] = opt[4]
            r += 1
    return r



@numba.njit(cache=True)
def _em_steps(x, pv, edges, opt, dt, n_sub, n_out, rec_every, scale,
              rng, a, idx, val, counts, states, clipped):
    """n_out output steps of n_sub Euler-Maruyama steps each; returns the status
    (0 ok, else 1 + the output step at which the state became non-finite)."""
    K = edges.shape[0] - 1
    nx = x.shape[0]
    F = np.empty(K + 1)
    M1 = np.empty(K + 1)
    drift = np.empty(nx)
    dx = np.empty(nx)
    rec = 0
    carry0 = 0.0
    carry1 = 0.0
    for s in range(n_out):
        c0 = 0.0
        c1 = 0.0
        for _ in range(n_sub):
            fr = rhs(x, pv, edges, opt, drift, F, M1)
            nr = _reactions(x, pv, edges, opt, a, idx, val)
            for i in range(nx):
                dx[i] = drift[i] * dt
            nf0 = fr[0] * dt
            nf1 = fr[1] * dt
            for r in range(nr):
                g = scale * math.sqrt(a[r] * dt) * rng.standard_normal()
                for c in range(idx.shape[1]):
                    i = idx[r, c]
                    if i < 0:
                        break
                    dx[i] += g * val[r, c]
                # a firing reaction is the one that moves moments (index >= 4K)
                if idx[r, 2] >= 4 * K:
                    if idx[r, 0] < 2 * K:
                        nf0 += g
                    else:
                        nf1 += g
            for i in range(nx):
                x[i] += dx[i]
            c0 += nf0
            c1 += nf1
            # partial truncation: no clipping of the counts (that would add mass); the
            # reactions of bins with n <= 0 are off, so they only refill; A is kept
            # consistent with n (inside the bin's range, the midpoint for n < 0)
            neg = 0.0
            for q in range(2):
                offn = 2 * K * q
                offA = offn + K
                for j in range(K):
                    nj = x[offn + j]
                    if nj < 0.0:
                        neg -= nj
                        x[offA + j] = nj * 0.5 * (edges[j] + edges[j + 1])
                    elif x[offA + j] < edges[j] * nj:
                        x[offA + j] = edges[j] * nj
                    elif x[offA + j] > edges[j + 1] * nj:
                        x[offA + j] = edges[j + 1] * nj
            if neg > clipped[0]:
                clipped[0] = neg
            for i in range(4 * K, nx):
                if x[i] < 0.0:
                    clipped[1] -= x[i]
                    x[i] = 0.0
        # counts are >= 0; a negative step total is carried into the next step instead of
        # being dropped (dropping it biased the mean rate up: +19 % in I at p_EI 1, 1.4 ms)
        c0 += carry0
        c1 += carry1
        carry0 = c0 if c0 < 0.0 else 0.0
        carry1 = c1 if c1 < 0.0 else 0.0
        counts[s, 0] = c0 - carry0
        counts[s, 1] = c1 - carry1
        if not np.all(np.isfinite(x)):
            return s + 1
        if (s + 1) % rec_every == 0 and rec < states.shape[0]:
            states[rec, :] = x
            rec += 1
    return 0
