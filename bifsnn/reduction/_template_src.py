# ruff: noqa: F821
"""Assembly loops of the reduced model: NOT imported directly.

This file is the fixed (hand-written) half of the generated module: codegen.py appends it
to the sympy-printed scalar functions (``bin_mean_raw``, ``within_bin``, ``drift``,
``drift_dp``, ``kcore``, ``kcore_grad``, ``moment_rhs``) and imports the result from the cache
directory.  Everything here is numba-compiled and only does chain rules and sums.

Layout of the ODE state x (length 4K + 8): n_E[0:K], A_E[K:2K], n_I[2K:3K], A_I[3K:4K],
then (m, v) for the pathways EE, EI, IE, II.  R_Q = N_Q - sum n_Q is eliminated.

Parameter vector pv: its layout is ``model.PARAM_INDEX`` (plus the threshold M last); codegen
writes it into the generated module as the constants ``_P_*`` (``_P_S + k``: S of pathway k
in EE, EI, IE, II order; likewise ``_P_P``, ``_P_TAU``; ``_P_N + q``: N of population q) and
``_NPAR``, the number of parameters with df/dp support.
Options vector opt: 0 eps, 1 h_min, 2 delta, 3 sigma floor, 4 V_reset, 5 reset bin index.
"""

import math

import numba as nb
import numpy as np

_SQRT1_2 = 0.7071067811865476
_INV_SQRT2PI = 0.3989422804014327
#: Beyond TCUT standard deviations the normal cdf is 0 or 1 to below 1e-17: skip erfc/exp.
_TCUT = 8.5


@nb.njit(cache=True, error_model='numpy')
def bin_mean(n, A, mid, delta):
    """Regularised bin mean; delta = 0 and n = 0 (no information) gives the midpoint."""
    if n * n + delta * delta == 0.0:
        return mid, 0.0, 0.0
    return bin_mean_raw(n, A, mid, delta)


@nb.njit(cache=True, error_model='numpy')
def edge_kernel(edges, a, b, mu, sig, F, M1):
    """F(e) and M1(e) at every edge e for one source bin (uniform [a, b] + N(mu, sig^2))."""
    mean = 0.5 * (a + b) + mu
    for e in range(edges.shape[0]):
        x = edges[e]
        al = (x - a - mu) / sig
        be = (x - b - mu) / sig
        if al < -_TCUT:
            F[e] = 0.0
            M1[e] = 0.0
        elif be > _TCUT:
            F[e] = 1.0
            M1[e] = mean
        else:
            PA = 0.5 * math.erfc(-al * _SQRT1_2)
            pA = _INV_SQRT2PI * math.exp(-0.5 * al * al)
            PB = 0.5 * math.erfc(-be * _SQRT1_2)
            pB = _INV_SQRT2PI * math.exp(-0.5 * be * be)
            F[e], M1[e] = kcore(x, a, b, mu, sig, al, be, PA, pA, PB, pB)


@nb.njit(cache=True, error_model='numpy')
def edge_kernel_grad(edges, a, b, mu, sig, F, M1, dF, dM1):
    """As edge_kernel plus dF/d(a, b, mu, sig) and dM1/d(a, b, mu, sig) (rows per edge)."""
    mean = 0.5 * (a + b) + mu
    for e in range(edges.shape[0]):
        x = edges[e]
        al = (x - a - mu) / sig
        be = (x - b - mu) / sig
        if al < -_TCUT:
            F[e] = 0.0
            M1[e] = 0.0
            for k in range(4):
                dF[e, k] = 0.0
                dM1[e, k] = 0.0
        elif be > _TCUT:
            F[e] = 1.0
            M1[e] = mean
            for k in range(4):
                dF[e, k] = 0.0
            dM1[e, 0] = 0.5
            dM1[e, 1] = 0.5
            dM1[e, 2] = 1.0
            dM1[e, 3] = 0.0
        else:
            PA = 0.5 * math.erfc(-al * _SQRT1_2)
            pA = _INV_SQRT2PI * math.exp(-0.5 * al * al)
            PB = 0.5 * math.erfc(-be * _SQRT1_2)
            pB = _INV_SQRT2PI * math.exp(-0.5 * be * be)
            r = kcore_grad(x, a, b, mu, sig, al, be, PA, pA, PB, pB)
            F[e] = r[0]
            M1[e] = r[1]
            dF[e, 0] = r[2]
            dF[e, 1] = r[3]
            dF[e, 2] = r[4]
            dF[e, 3] = r[5]
            dM1[e, 0] = r[6]
            dM1[e, 1] = r[7]
            dM1[e, 2] = r[8]
            dM1[e, 3] = r[9]


@nb.njit(cache=True, error_model='numpy')
def _pop_params(pv, q):
    """(lam, S_E, S_I, tau_E, tau_I, M, M_r, g_leak, h) for population q (0 = E, 1 = I)."""
    return (pv[_P_LAMBDA], pv[_P_S + 2 * q], pv[_P_S + 1 + 2 * q], pv[_P_TAU + 2 * q],
            pv[_P_TAU + 1 + 2 * q], pv[_P_M], pv[_P_M_R], pv[_P_G_LEAK], pv[_P_H])


@nb.njit(cache=True, error_model='numpy')
def _source(x, q, j, K, pv, edges, opt):
    """Kernel parameters of source bin j of population q: Vbar and its derivatives, a, b, mu,
    sig and their derivatives in Vbar (and mu, sig in the moments)."""
    offn = 2 * K * q
    dv = edges[1] - edges[0]
    lo = edges[j]
    mid = lo + 0.5 * dv
    nj = x[offn + j]
    Aj = x[offn + K + j]
    vb, dvb_dn, dvb_dA = bin_mean(nj, Aj, mid, opt[2])
    a, b, da, db = within_bin(vb, lo, dv, opt[0], opt[1])
    mo = 4 * K + 4 * q
    lam, SE, SI, tE, tI, M, Mr, gl, h = _pop_params(pv, q)
    d = drift(vb, x[mo], x[mo + 1], x[mo + 2], x[mo + 3],
              lam, SE, SI, tE, tI, M, Mr, gl, h, opt[3])
    return nj, vb, dvb_dn, dvb_dA, a, b, da, db, d


@nb.njit(cache=True, error_model='numpy')
def transport(x, pv, edges, opt, out, F, M1, clip=False):
    """Write (P^T n) and (Q^T n) into out[n rows], out[A rows]; return (fired_E, fired_I),
    the expected number of neurons crossing threshold in one window (not divided by h).

    ``clip`` (map only, as the authors' code does) sets transfer fractions that round-off
    made negative (~1e-17) to 0, so that occupations stay >= 0 over many steps."""
    K = edges.shape[0] - 1
    e0 = edges[0]
    fired = np.zeros(2)
    for q in range(2):
        offn = 2 * K * q
        offA = offn + K
        for l in range(K):
            out[offn + l] = 0.0
            out[offA + l] = 0.0
        for j in range(K):
            nj = x[offn + j]
            if nj == 0.0:
                continue
            nj, vb, dvb_dn, dvb_dA, a, b, da, db, d = _source(x, q, j, K, pv, edges, opt)
            edge_kernel(edges, a, b, d[0], d[1], F, M1)
            # lowest bin also receives the mass below the lowest edge, placed at that edge
            out[offn] += nj * F[1]
            out[offA] += nj * (M1[1] - M1[0] + e0 * F[0])
            for l in range(1, K):
                P = F[l + 1] - F[l]
                if clip and P <= 0.0:
                    continue
                out[offn + l] += nj * P
                out[offA + l] += nj * (M1[l + 1] - M1[l])
            Pf = 1.0 - F[K]
            if clip and Pf < 0.0:
                Pf = 0.0
            fired[q] += nj * Pf
    return fired


@nb.njit(cache=True, error_model='numpy')
def rhs(x, pv, edges, opt, out, F, M1):
    """ODE right-hand side into out; returns the firing rates (f_E, f_I) in spikes/ms."""
    K = edges.shape[0] - 1
    h = pv[_P_H]
    fired = transport(x, pv, edges, opt, out, F, M1)
    rb = int(opt[5])
    vr = opt[4]
    tR = pv[_P_TAU_R]
    fr = np.empty(2)
    for q in range(2):
        offn = 2 * K * q
        offA = offn + K
        s = 0.0
        for l in range(K):
            s += x[offn + l]
        R = pv[_P_N + q] - s
        for l in range(K):
            out[offn + l] = (out[offn + l] - x[offn + l]) / h
            out[offA + l] = (out[offA + l] - x[offA + l]) / h
        out[offn + rb] += R / tR
        out[offA + rb] += vr * R / tR
        fr[q] = fired[q] / h
    for k in range(4):
        i = 4 * K + 2 * k
        src = k % 2
        r = moment_rhs(x[i], x[i + 1], fr[src], pv[_P_P + k], pv[_P_TAU + k])
        out[i] = r[0]
        out[i + 1] = r[1]
    return fr


@nb.njit(cache=True, error_model='numpy')
def firing_rates(x, pv, edges, opt, F, M1):
    """(f_E, f_I) in spikes/ms at state x."""
    K = edges.shape[0] - 1
    out = np.empty(4 * K + 8)
    fired = transport(x, pv, edges, opt, out, F, M1)
    return fired / pv[_P_H]


@nb.njit(cache=True, error_model='numpy')
def jac(x, pv, edges, opt, J, gf, F, M1, dF, dM1):
    """Analytic Jacobian df/dx into J (nx by nx) and the gradients of (f_E, f_I) into gf."""
    K = edges.shape[0] - 1
    nx = 4 * K + 8
    h = pv[_P_H]
    e0 = edges[0]
    J[:, :] = 0.0
    gf[:, :] = 0.0
    dP = np.empty((K + 1, 5))  # per edge: dF/d(Vbar, mE, vE, mI, vI)
    dQ = np.empty((K + 1, 5))
    fired = np.zeros(2)
    for q in range(2):
        offn = 2 * K * q
        offA = offn + K
        mo = 4 * K + 4 * q
        for j in range(K):
            nj, vb, dvb_dn, dvb_dA, a, b, da, db, d = _source(x, q, j, K, pv, edges, opt)
            mu = d[0]
            sig = d[1]
            edge_kernel_grad(edges, a, b, mu, sig, F, M1, dF, dM1)
            for e in range(K + 1):
                dP[e, 0] = dF[e, 0] * da + dF[e, 1] * db + dF[e, 2] * d[2] + dF[e, 3] * d[3]
                dP[e, 1] = dF[e, 2] * d[4]
                dP[e, 2] = dF[e, 3] * d[5]
                dP[e, 3] = dF[e, 2] * d[6]
                dP[e, 4] = dF[e, 3] * d[7]
                dQ[e, 0] = (dM1[e, 0] * da + dM1[e, 1] * db + dM1[e, 2] * d[2]
                            + dM1[e, 3] * d[3])
                dQ[e, 1] = dM1[e, 2] * d[4]
                dQ[e, 2] = dM1[e, 3] * d[5]
                dQ[e, 3] = dM1[e, 2] * d[6]
                dQ[e, 4] = dM1[e, 3] * d[7]
            # target bins
            for l in range(K):
                if l == 0:
                    P = F[1]
                    Q = M1[1] - M1[0] + e0 * F[0]
                else:
                    P = F[l + 1] - F[l]
                    Q = M1[l + 1] - M1[l]
                rn = offn + l
                rA = offA + l
                for k in range(5):
                    if l == 0:
                        gP = dP[1, k]
                        gQ = dQ[1, k] - dQ[0, k] + e0 * dP[0, k]
                    else:
                        gP = dP[l + 1, k] - dP[l, k]
                        gQ = dQ[l + 1, k] - dQ[l, k]
                    if k == 0:
                        J[rn, offn + j] += (nj * gP * dvb_dn) / h
                        J[rn, offA + j] += nj * gP * dvb_dA / h
                        J[rA, offn + j] += (nj * gQ * dvb_dn) / h
                        J[rA, offA + j] += nj * gQ * dvb_dA / h
                    else:
                        J[rn, mo + k - 1] += nj * gP / h
                        J[rA, mo + k - 1] += nj * gQ / h
                J[rn, offn + j] += P / h
                J[rA, offn + j] += Q / h
            # firing
            Pf = 1.0 - F[K]
            fired[q] += nj * Pf
            gf[q, offn + j] += (Pf - nj * dP[K, 0] * dvb_dn) / h
            gf[q, offA + j] += -nj * dP[K, 0] * dvb_dA / h
            for k in range(1, 5):
                gf[q, mo + k - 1] += -nj * dP[K, k] / h
        # decay, reset from the eliminated refractory pool
        rb = int(opt[5])
        tR = pv[_P_TAU_R]
        for l in range(K):
            J[offn + l, offn + l] -= 1.0 / h
            J[offA + l, offA + l] -= 1.0 / h
            J[offn + rb, offn + l] -= 1.0 / tR
            J[offA + rb, offn + l] -= opt[4] / tR
    fr = fired / h
    for k in range(4):
        i = 4 * K + 2 * k
        src = k % 2
        r = moment_rhs(x[i], x[i + 1], fr[src], pv[_P_P + k], pv[_P_TAU + k])
        # r: dm, dv, then d(dm)/d(m, v, f, p, tau), d(dv)/d(m, v, f, p, tau)
        J[i, i] += r[2]
        J[i, i + 1] += r[3]
        J[i + 1, i] += r[7]
        J[i + 1, i + 1] += r[8]
        for c in range(nx):
            J[i, c] += r[4] * gf[src, c]
            J[i + 1, c] += r[9] * gf[src, c]
    return fr


@nb.njit(cache=True, error_model='numpy')
def dfdp(x, pv, edges, opt, D, F, M1, dF, dM1):
    """df/dp for the first _NPAR entries of pv into D (nx by _NPAR)."""
    K = edges.shape[0] - 1
    h = pv[_P_H]
    e0 = edges[0]
    D[:, :] = 0.0
    T = np.empty(4 * K + 8)
    fired = transport(x, pv, edges, opt, T, F, M1)
    gfp = np.zeros((2, _NPAR))  # d(fired)/dp (not yet divided by h)
    # global index of (lam, SE, SI, tauE, tauI, Mr, gl, h) per population
    for q in range(2):
        gidx = (_P_LAMBDA, _P_S + 2 * q, _P_S + 1 + 2 * q, _P_TAU + 2 * q, _P_TAU + 1 + 2 * q,
                _P_M_R, _P_G_LEAK, _P_H)
        offn = 2 * K * q
        offA = offn + K
        mo = 4 * K + 4 * q
        lam, SE, SI, tE, tI, M, Mr, gl, hh = _pop_params(pv, q)
        for j in range(K):
            nj = x[offn + j]
            if nj == 0.0:
                continue
            nj, vb, dvb_dn, dvb_dA, a, b, da, db, d = _source(x, q, j, K, pv, edges, opt)
            dd = drift_dp(vb, x[mo], x[mo + 1], x[mo + 2], x[mo + 3],
                          lam, SE, SI, tE, tI, M, Mr, gl, hh, opt[3])
            edge_kernel_grad(edges, a, b, d[0], d[1], F, M1, dF, dM1)
            for k in range(8):
                p = gidx[k]
                dmu = dd[k]
                dsg = dd[8 + k]
                for l in range(K):
                    if l == 0:
                        gP = dF[1, 2] * dmu + dF[1, 3] * dsg
                        gQ = ((dM1[1, 2] - dM1[0, 2] + e0 * dF[0, 2]) * dmu
                              + (dM1[1, 3] - dM1[0, 3] + e0 * dF[0, 3]) * dsg)
                    else:
                        gP = (dF[l + 1, 2] - dF[l, 2]) * dmu + (dF[l + 1, 3] - dF[l, 3]) * dsg
                        gQ = ((dM1[l + 1, 2] - dM1[l, 2]) * dmu
                              + (dM1[l + 1, 3] - dM1[l, 3]) * dsg)
                    D[offn + l, p] += nj * gP / h
                    D[offA + l, p] += nj * gQ / h
                gfp[q, p] += -nj * (dF[K, 2] * dmu + dF[K, 3] * dsg)
        # explicit dependence on h of (T - x)/h, on tau_R and N_Q via R = N_Q - sum n
        rb = int(opt[5])
        tR = pv[_P_TAU_R]
        s = 0.0
        for l in range(K):
            s += x[offn + l]
            D[offn + l, _P_H] += -(T[offn + l] - x[offn + l]) / (h * h)
            D[offA + l, _P_H] += -(T[offA + l] - x[offA + l]) / (h * h)
        R = pv[_P_N + q] - s
        D[offn + rb, _P_TAU_R] += -R / (tR * tR)
        D[offA + rb, _P_TAU_R] += -opt[4] * R / (tR * tR)
        D[offn + rb, _P_N + q] += 1.0 / tR
        D[offA + rb, _P_N + q] += opt[4] / tR
    fr = fired / h
    for q in range(2):
        for p in range(_NPAR):
            gfp[q, p] /= h
        gfp[q, _P_H] += -fired[q] / (h * h)
    for k in range(4):
        i = 4 * K + 2 * k
        src = k % 2
        r = moment_rhs(x[i], x[i + 1], fr[src], pv[_P_P + k], pv[_P_TAU + k])
        D[i, _P_P + k] += r[5]
        D[i, _P_TAU + k] += r[6]
        D[i + 1, _P_P + k] += r[10]
        D[i + 1, _P_TAU + k] += r[11]
        for p in range(_NPAR):
            D[i, p] += r[4] * gfp[src, p]
            D[i + 1, p] += r[9] * gfp[src, p]
    return fr


@nb.njit(cache=True, error_model='numpy')
def map_step(x, R, f_drive, pv, edges, opt, outflow_published, xn, F, M1):
    """One step of the reference map (docs/MODEL.md 5a) from (x, R) into xn; returns (R', fired).

    x holds n, A and the moments as in the ODE state; R the refractory counts (kept
    explicitly here).  The moments advance by a forward Euler step driven by ``f_drive``
    (the published map passes the previous step's rate).  Refractory outflow: clean
    R h / tau_R (pre-step R), or ``outflow_published``: |(n_f - R'/tau_R) h| with
    R' = R + n_f, as in the authors' code.
    """
    K = edges.shape[0] - 1
    h = pv[_P_H]
    tR = pv[_P_TAU_R]
    rb = int(opt[5])
    fired = transport(x, pv, edges, opt, xn, F, M1, True)
    Rn = np.empty(2)
    for q in range(2):
        offn = 2 * K * q
        offA = offn + K
        Rp = R[q] + fired[q]
        if outflow_published:
            out = abs((fired[q] - Rp / tR) * h)
        else:
            out = R[q] * h / tR
        Rn[q] = Rp - out
        xn[offn + rb] += out
        xn[offA + rb] += opt[4] * out
    for k in range(4):
        i = 4 * K + 2 * k
        src = k % 2
        r = moment_rhs(x[i], x[i + 1], f_drive[src], pv[_P_P + k], pv[_P_TAU + k])
        xn[i] = x[i] + h * r[0]
        xn[i + 1] = x[i + 1] + h * r[1]
    return Rn, fired


@nb.njit(cache=True, error_model='numpy')
def run_map(x0, R0, pv, edges, opt, outflow_published, rate_lag, n_steps, rec_every,
            counts, states, Rs):
    """Iterate the map n_steps times; fired counts per step into counts (n_steps by 2),
    every rec_every-th state into states / Rs.  Returns (x, R, f_prev, status)."""
    K = edges.shape[0] - 1
    nx = 4 * K + 8
    F = np.empty(K + 1)
    M1 = np.empty(K + 1)
    x = x0.copy()
    R = R0.copy()
    xn = np.empty(nx)
    f_prev = np.zeros(2)
    f_now = np.zeros(2)
    h = pv[_P_H]
    r = 0
    for s in range(n_steps):
        if rate_lag:
            fd = f_prev
        else:
            fired0 = transport(x, pv, edges, opt, xn, F, M1)
            f_now[0] = fired0[0] / h
            f_now[1] = fired0[1] / h
            fd = f_now
        Rn, fired = map_step(x, R, fd, pv, edges, opt, outflow_published, xn, F, M1)
        counts[s, 0] = fired[0]
        counts[s, 1] = fired[1]
        f_prev[0] = fired[0] / h
        f_prev[1] = fired[1] / h
        x[:] = xn
        R[:] = Rn
        if not (np.isfinite(x).all() and np.isfinite(R).all()):
            return x, R, f_prev, s + 1
        if (s + 1) % rec_every == 0 and r < states.shape[0]:
            states[r, :] = x
            Rs[r, :] = R
            r += 1
    return x, R, f_prev, 0


# --------------------------------------------------------------------- explicit integrator
@nb.njit(cache=True, error_model='numpy')
def _rhs_aug(x, pv, edges, opt, out, F, M1):
    """ODE right-hand side extended by the cumulative spike counts (last two entries)."""
    n = x.shape[0] - 2
    fr = rhs(x[:n], pv, edges, opt, out[:n], F, M1)
    out[n] = fr[0]
    out[n + 1] = fr[1]


@nb.njit(cache=True, error_model='numpy')
def dopri5(x0, pv, edges, opt, t_end, dt_out, rtol, atol, h0, max_steps, rec_every,
           cum, states):
    """Dormand-Prince 5(4) with step control on the ODE state (counts excluded from the
    error norm) and cubic Hermite output of the cumulative counts on the grid k dt_out.

    cum[k] = expected spikes (E, I) in [0, k dt_out]; states[r] = state at (r+1) rec_every
    dt_out.  Returns (x_final, t_reached, n_steps, n_rejected, status): status 0 ok,
    1 max_steps reached, 2 step size underflow, 3 non-finite state.
    """
    K = edges.shape[0] - 1
    nx = 4 * K + 8
    na = nx + 2
    F = np.empty(K + 1)
    M1 = np.empty(K + 1)
    y = np.zeros(na)
    y[:nx] = x0
    k1 = np.empty(na)
    k2 = np.empty(na)
    k3 = np.empty(na)
    k4 = np.empty(na)
    k5 = np.empty(na)
    k6 = np.empty(na)
    k7 = np.empty(na)
    yt = np.empty(na)
    yn = np.empty(na)
    _rhs_aug(y, pv, edges, opt, k1, F, M1)
    t = 0.0
    dt = h0
    n_out = cum.shape[0]
    cum[0, 0] = 0.0
    cum[0, 1] = 0.0
    iout = 1
    rec = 0
    nsteps = 0
    nrej = 0
    while iout < n_out:
        if nsteps >= max_steps:
            return y[:nx].copy(), t, nsteps, nrej, 1
        if dt < 1e-12:
            return y[:nx].copy(), t, nsteps, nrej, 2
        if t + dt > t_end:
            dt = t_end - t
        for i in range(na):
            yt[i] = y[i] + dt * (0.2 * k1[i])
        _rhs_aug(yt, pv, edges, opt, k2, F, M1)
        for i in range(na):
            yt[i] = y[i] + dt * (3.0 / 40.0 * k1[i] + 9.0 / 40.0 * k2[i])
        _rhs_aug(yt, pv, edges, opt, k3, F, M1)
        for i in range(na):
            yt[i] = y[i] + dt * (44.0 / 45.0 * k1[i] - 56.0 / 15.0 * k2[i] + 32.0 / 9.0 * k3[i])
        _rhs_aug(yt, pv, edges, opt, k4, F, M1)
        for i in range(na):
            yt[i] = y[i] + dt * (19372.0 / 6561.0 * k1[i] - 25360.0 / 2187.0 * k2[i]
                                 + 64448.0 / 6561.0 * k3[i] - 212.0 / 729.0 * k4[i])
        _rhs_aug(yt, pv, edges, opt, k5, F, M1)
        for i in range(na):
            yt[i] = y[i] + dt * (9017.0 / 3168.0 * k1[i] - 355.0 / 33.0 * k2[i]
                                 + 46732.0 / 5247.0 * k3[i] + 49.0 / 176.0 * k4[i]
                                 - 5103.0 / 18656.0 * k5[i])
        _rhs_aug(yt, pv, edges, opt, k6, F, M1)
        for i in range(na):
            yn[i] = y[i] + dt * (35.0 / 384.0 * k1[i] + 500.0 / 1113.0 * k3[i]
                                 + 125.0 / 192.0 * k4[i] - 2187.0 / 6784.0 * k5[i]
                                 + 11.0 / 84.0 * k6[i])
        _rhs_aug(yn, pv, edges, opt, k7, F, M1)
        nsteps += 1
        err = 0.0
        for i in range(nx):
            ei = dt * (71.0 / 57600.0 * k1[i] - 71.0 / 16695.0 * k3[i] + 71.0 / 1920.0 * k4[i]
                       - 17253.0 / 339200.0 * k5[i] + 22.0 / 525.0 * k6[i] - 1.0 / 40.0 * k7[i])
            sc = atol + rtol * max(abs(y[i]), abs(yn[i]))
            err += (ei / sc) ** 2
        err = math.sqrt(err / nx)
        if not math.isfinite(err):
            if dt < 1e-10:
                return y[:nx].copy(), t, nsteps, nrej, 3
            dt *= 0.1
            nrej += 1
            continue
        if err > 1.0:
            dt *= max(0.2, 0.9 * err ** -0.2)
            nrej += 1
            continue
        t_new = t + dt
        # dense output of the counts on the grid points inside (t, t_new]
        while iout < n_out and iout * dt_out <= t_new + 1e-12 * dt_out:
            tk = iout * dt_out
            th = (tk - t) / dt
            if th > 1.0:
                th = 1.0
            h00 = 2 * th ** 3 - 3 * th ** 2 + 1
            h10 = th ** 3 - 2 * th ** 2 + th
            h01 = -2 * th ** 3 + 3 * th ** 2
            h11 = th ** 3 - th ** 2
            for c in range(2):
                cum[iout, c] = (h00 * y[nx + c] + h10 * dt * k1[nx + c] + h01 * yn[nx + c]
                                + h11 * dt * k7[nx + c])
            if iout % rec_every == 0 and rec < states.shape[0]:
                for i in range(nx):
                    states[rec, i] = (h00 * y[i] + h10 * dt * k1[i] + h01 * yn[i]
                                      + h11 * dt * k7[i])
                rec += 1
            iout += 1
        t = t_new
        y[:] = yn
        k1[:] = k7
        dt *= min(5.0, max(0.2, 0.9 * max(err, 1e-10) ** -0.2))
    return y[:nx].copy(), t, nsteps, nrej, 0
