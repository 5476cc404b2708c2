# ruff: noqa: F821
"""Taylor-arithmetic assembly of the reduced ODE (paper closure): NOT imported directly.

This file is the fixed half of the Taylor module: codegen.load_taylor appends it to the
Taylor pieces printed by bifsnn.reduction.taylor (``bin_mean_raw_taylor``,
``within_bin_taylor``, ``drift_taylor``, ``kcore_taylor``, ``moment_rhs_taylor``) and the
parameter-vector constants ``_P_*``.  ``rhs_taylor`` mirrors ``rhs`` of _template_src.py
(paper closure) with every state-dependent scalar replaced by its truncated Taylor series
along the direction dx: out[i, k] is the k-th coefficient of f_i(x + t dx).  A series is a
row of length ORDER + 1.
"""

import math

import numba as nb
import numpy as np

_SQRT1_2 = 0.7071067811865476
_INV_SQRT2PI = 0.3989422804014327
_TCUT = 8.5
ORDER = 3
_NC = ORDER + 1


@nb.njit(cache=True, error_model='numpy')
def _tmul_add(a, b, scale, out):
    """out += scale * a * b (truncated series product)."""
    for k in range(_NC):
        s = 0.0
        for i in range(k + 1):
            s += a[i] * b[k - i]
        out[k] += scale * s


@nb.njit(cache=True, error_model='numpy')
def _tdiv(a, b, out):
    """out = a / b (series; b[0] != 0)."""
    for k in range(_NC):
        s = a[k]
        for i in range(1, k + 1):
            s -= b[i] * out[k - i]
        out[k] = s / b[0]


@nb.njit(cache=True, error_model='numpy')
def edge_kernel_taylor(edges, a, b, mu, sig, F, M1):
    """Series of F(e) and M1(e) at every edge e for one source bin (series a, b, mu, sig)."""
    num = np.empty(_NC)
    al = np.empty(_NC)
    be = np.empty(_NC)
    for e in range(edges.shape[0]):
        x = edges[e]
        for k in range(_NC):
            num[k] = -a[k] - mu[k]
        num[0] += x
        _tdiv(num, sig, al)
        for k in range(_NC):
            num[k] = -b[k] - mu[k]
        num[0] += x
        _tdiv(num, sig, be)
        if al[0] < -_TCUT:
            for k in range(_NC):
                F[e, k] = 0.0
                M1[e, k] = 0.0
        elif be[0] > _TCUT:
            for k in range(_NC):
                F[e, k] = 0.0
                M1[e, k] = 0.5 * (a[k] + b[k]) + mu[k]
            F[e, 0] = 1.0
        else:
            PA = 0.5 * math.erfc(-al[0] * _SQRT1_2)
            pA = _INV_SQRT2PI * math.exp(-0.5 * al[0] * al[0])
            PB = 0.5 * math.erfc(-be[0] * _SQRT1_2)
            pB = _INV_SQRT2PI * math.exp(-0.5 * be[0] * be[0])
            r = kcore_taylor(x, a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3],
                             mu[0], mu[1], mu[2], mu[3], sig[0], sig[1], sig[2], sig[3],
                             al[0], al[1], al[2], al[3], be[0], be[1], be[2], be[3],
                             PA, pA, PB, pB)
            for k in range(_NC):
                F[e, k] = r[k]
                M1[e, k] = r[_NC + k]


@nb.njit(cache=True, error_model='numpy')
def _source_taylor(X, q, j, K, pv, edges, opt, a, b, mu, sig):
    """Series of the kernel parameters a, b, mu, sig of source bin j of population q."""
    offn = 2 * K * q
    dv = edges[1] - edges[0]
    lo = edges[j]
    mid = lo + 0.5 * dv
    n = X[offn + j]
    A = X[offn + K + j]
    vb = np.zeros(_NC)
    if n[0] * n[0] + opt[2] * opt[2] == 0.0:
        vb[0] = mid  # no information (delta = 0, empty bin): the midpoint, as bin_mean
    else:
        r = bin_mean_raw_taylor(n[0], n[1], n[2], n[3], A[0], A[1], A[2], A[3], mid, opt[2])
        for k in range(_NC):
            vb[k] = r[k]
    r = within_bin_taylor(vb[0], vb[1], vb[2], vb[3], lo, dv, opt[0], opt[1])
    for k in range(_NC):
        a[k] = r[k]
        b[k] = r[_NC + k]
    mo = 4 * K + 4 * q
    mE = X[mo]
    vE = X[mo + 1]
    mI = X[mo + 2]
    vI = X[mo + 3]
    r = drift_taylor(vb[0], vb[1], vb[2], vb[3], mE[0], mE[1], mE[2], mE[3],
                     vE[0], vE[1], vE[2], vE[3], mI[0], mI[1], mI[2], mI[3],
                     vI[0], vI[1], vI[2], vI[3], pv[_P_LAMBDA], pv[_P_S + 2 * q],
                     pv[_P_S + 1 + 2 * q], pv[_P_TAU + 2 * q], pv[_P_TAU + 1 + 2 * q],
                     pv[_P_M], pv[_P_M_R], pv[_P_G_LEAK], pv[_P_H], opt[3], opt[9],
                     opt[10], opt[11])
    for k in range(_NC):
        mu[k] = r[k]
        sig[k] = r[_NC + k]


@nb.njit(cache=True, error_model='numpy')
def rhs_taylor(x, dx, pv, edges, opt, out):
    """out[i, k]: k-th Taylor coefficient of f_i(x + t dx) (paper closure), k <= ORDER."""
    K = edges.shape[0] - 1
    nx = 4 * K + 8
    h = pv[_P_H]
    e0 = edges[0]
    X = np.zeros((nx, _NC))
    for i in range(nx):
        X[i, 0] = x[i]
        X[i, 1] = dx[i]
    F = np.empty((K + 1, _NC))
    M1 = np.empty((K + 1, _NC))
    a = np.empty(_NC)
    b = np.empty(_NC)
    mu = np.empty(_NC)
    sig = np.empty(_NC)
    d = np.empty(_NC)
    fired = np.zeros((2, _NC))
    out[:, :] = 0.0
    for q in range(2):
        offn = 2 * K * q
        offA = offn + K
        for j in range(K):
            nj = X[offn + j]
            if nj[0] == 0.0 and nj[1] == 0.0:
                continue  # identically zero contributions (as rhs skips empty bins)
            _source_taylor(X, q, j, K, pv, edges, opt, a, b, mu, sig)
            edge_kernel_taylor(edges, a, b, mu, sig, F, M1)
            _tmul_add(nj, F[1], 1.0, out[offn])
            for k in range(_NC):
                d[k] = M1[1, k] - M1[0, k] + e0 * F[0, k]
            _tmul_add(nj, d, 1.0, out[offA])
            for l in range(1, K):
                for k in range(_NC):
                    d[k] = F[l + 1, k] - F[l, k]
                _tmul_add(nj, d, 1.0, out[offn + l])
                for k in range(_NC):
                    d[k] = M1[l + 1, k] - M1[l, k]
                _tmul_add(nj, d, 1.0, out[offA + l])
            for k in range(_NC):
                d[k] = -F[K, k]
            d[0] += 1.0
            _tmul_add(nj, d, 1.0, fired[q])
    rb = int(opt[5])
    vr = opt[4]
    tR = pv[_P_TAU_R]
    fr = np.empty((2, _NC))
    R = np.empty(_NC)
    for q in range(2):
        offn = 2 * K * q
        offA = offn + K
        for k in range(_NC):
            s = 0.0
            for l in range(K):
                s += X[offn + l, k]
            R[k] = -s
        R[0] += pv[_P_N + q]
        for l in range(K):
            for k in range(_NC):
                out[offn + l, k] = (out[offn + l, k] - X[offn + l, k]) / h
                out[offA + l, k] = (out[offA + l, k] - X[offA + l, k]) / h
        for k in range(_NC):
            out[offn + rb, k] += R[k] / tR
            out[offA + rb, k] += vr * R[k] / tR
            fr[q, k] = fired[q, k] / h
    for c in range(4):
        i = 4 * K + 2 * c
        src = c % 2
        m = X[i]
        v = X[i + 1]
        f = fr[src]
        r = moment_rhs_taylor(m[0], m[1], m[2], m[3], v[0], v[1], v[2], v[3],
                              f[0], f[1], f[2], f[3], pv[_P_P + c], pv[_P_TAU + c])
        for k in range(_NC):
            out[i, k] = r[k]
            out[i + 1, k] = r[_NC + k]


@nb.njit(cache=True, error_model='numpy')
def series_batch(x, dirs, pv, edges, opt, out):
    """rhs_taylor for every row of dirs: out[r, i, k] (one call for several directions)."""
    for r in range(dirs.shape[0]):
        rhs_taylor(x, dirs[r], pv, edges, opt, out[r])
