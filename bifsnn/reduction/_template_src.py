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
Options vector opt: 0 eps, 1 h_min, 2 delta, 3 sigma floor, 4 V_reset, 5 reset bin index,
6 conditional transport (1) or not (0), 7 kappa, 8 phi, 9 coloured-noise variance (1) or not (0).
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
              lam, SE, SI, tE, tI, M, Mr, gl, h, opt[3], opt[9], opt[10], opt[11])
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
    if opt[6] == 1.0:
        return rhs_cond(x, pv, edges, opt, out, F, M1)
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
    if opt[6] == 1.0:
        return rhs_cond(x, pv, edges, opt, np.empty(x.shape[0]), F, M1)
    out = np.empty(4 * K + 8)
    fired = transport(x, pv, edges, opt, out, F, M1)
    return fired / pv[_P_H]


@nb.njit(cache=True, error_model='numpy')
def jac(x, pv, edges, opt, J, gf, F, M1, dF, dM1):
    """Analytic Jacobian df/dx into J (nx by nx) and the gradients of (f_E, f_I) into gf."""
    if opt[6] == 1.0:
        return jac_cond(x, pv, edges, opt, J, gf, F, M1, dF, dM1)
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
                dP[e, 1] = dF[e, 2] * d[4] + dF[e, 3] * d[9]
                dP[e, 2] = dF[e, 3] * d[5]
                dP[e, 3] = dF[e, 2] * d[6] + dF[e, 3] * d[8]
                dP[e, 4] = dF[e, 3] * d[7]
                dQ[e, 0] = (dM1[e, 0] * da + dM1[e, 1] * db + dM1[e, 2] * d[2]
                            + dM1[e, 3] * d[3])
                dQ[e, 1] = dM1[e, 2] * d[4] + dM1[e, 3] * d[9]
                dQ[e, 2] = dM1[e, 3] * d[5]
                dQ[e, 3] = dM1[e, 2] * d[6] + dM1[e, 3] * d[8]
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
    if opt[6] == 1.0:
        return dfdp_fd(x, pv, edges, opt, D, F, M1)
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
                          lam, SE, SI, tE, tI, M, Mr, gl, hh, opt[3], opt[9], opt[10], opt[11])
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
    nx = x0.shape[0]
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


# --------------------------------------------------------------------- conditional closure
# State (length 8K + 8): the paper's 4K + 8 entries, then B[q, X] (K bins each) for q, X in
# (E, E), (E, I), (I, E), (I, I): the total pending count of pathway qX over the neurons of
# each voltage bin.  B_R = N_q m_qX - sum_j B_j (refractory neurons) is eliminated like R.
# Options: opt[6] = 1 selects this closure, opt[7] = kappa (covariance coupling), opt[8] = phi
# (smoothing of max(w, 0)).


@nb.njit(cache=True, error_model='numpy')
def _b_off(K, q, X):
    """Index of B[q, X][0] in the state."""
    return 4 * K + 8 + (2 * q + X) * K


@nb.njit(cache=True, error_model='numpy')
def within_var(x, pv, opt, K, q, X):
    """Within-bin variance w of pathway qX's pending count: v - (sum_j G_j + G_R)/N, floored
    smoothly at 0; returns (w, dw/dv, D) with D the between-compartment variance."""
    delta = opt[2]
    offn = 2 * K * q
    ob = _b_off(K, q, X)
    mo = 4 * K + 4 * q + 2 * X
    m = x[mo]
    N = pv[_P_N + q]
    sn = 0.0
    sb = 0.0
    G = 0.0
    for j in range(K):
        sn += x[offn + j]
        sb += x[ob + j]
        G += disp_term(x[offn + j], x[ob + j], m, delta)[0]
    G += disp_term(N - sn, N * m - sb, m, delta)[0]
    D = G / N
    wp = wplus(x[mo + 1] - D, opt[8])
    return wp[0], wp[1], D


@nb.njit(cache=True, error_model='numpy')
def edge_kernel_rho(edges, a, b, mu, sig, F, M1, Rho):
    """As edge_kernel plus the density Rho(e) of V' at every edge."""
    mean = 0.5 * (a + b) + mu
    for e in range(edges.shape[0]):
        x = edges[e]
        al = (x - a - mu) / sig
        be = (x - b - mu) / sig
        if al < -_TCUT:
            F[e] = 0.0
            M1[e] = 0.0
            Rho[e] = 0.0
        elif be > _TCUT:
            F[e] = 1.0
            M1[e] = mean
            Rho[e] = 0.0
        else:
            PA = 0.5 * math.erfc(-al * _SQRT1_2)
            pA = _INV_SQRT2PI * math.exp(-0.5 * al * al)
            PB = 0.5 * math.erfc(-be * _SQRT1_2)
            pB = _INV_SQRT2PI * math.exp(-0.5 * be * be)
            r = kcore_rho(x, a, b, mu, sig, al, be, PA, pA, PB, pB)
            F[e] = r[0]
            M1[e] = r[1]
            Rho[e] = r[2]


@nb.njit(cache=True, error_model='numpy')
def edge_kernel_rho_grad(edges, a, b, mu, sig, F, M1, Rho, dF, dM1, dRho):
    """As edge_kernel_grad plus Rho and dRho/d(a, b, mu, sig)."""
    mean = 0.5 * (a + b) + mu
    for e in range(edges.shape[0]):
        x = edges[e]
        al = (x - a - mu) / sig
        be = (x - b - mu) / sig
        if al < -_TCUT or be > _TCUT:
            if al < -_TCUT:
                F[e] = 0.0
                M1[e] = 0.0
                for k in range(4):
                    dM1[e, k] = 0.0
            else:
                F[e] = 1.0
                M1[e] = mean
                dM1[e, 0] = 0.5
                dM1[e, 1] = 0.5
                dM1[e, 2] = 1.0
                dM1[e, 3] = 0.0
            Rho[e] = 0.0
            for k in range(4):
                dF[e, k] = 0.0
                dRho[e, k] = 0.0
        else:
            PA = 0.5 * math.erfc(-al * _SQRT1_2)
            pA = _INV_SQRT2PI * math.exp(-0.5 * al * al)
            PB = 0.5 * math.erfc(-be * _SQRT1_2)
            pB = _INV_SQRT2PI * math.exp(-0.5 * be * be)
            r = kcore_rho_grad(x, a, b, mu, sig, al, be, PA, pA, PB, pB)
            F[e] = r[0]
            M1[e] = r[1]
            for k in range(4):
                dF[e, k] = r[2 + k]
                dM1[e, k] = r[6 + k]
                dRho[e, k] = r[11 + k]
            Rho[e] = r[10]


@nb.njit(cache=True, error_model='numpy')
def _source_cond(x, q, j, K, pv, edges, opt, wE, wI):
    """Kernel parameters of source bin j of population q under the conditional closure:
    (nj, Vbar and d/d(n, A), a, b, da, db, conditional means HE, HI with d/d(n, B, m),
    drift tuple d, stein tuple st)."""
    offn = 2 * K * q
    dv = edges[1] - edges[0]
    lo = edges[j]
    mid = lo + 0.5 * dv
    nj = x[offn + j]
    vb, dvb_dn, dvb_dA = bin_mean(nj, x[offn + K + j], mid, opt[2])
    a, b, da, db = within_bin(vb, lo, dv, opt[0], opt[1])
    mo = 4 * K + 4 * q
    cE = cond_mean(nj, x[_b_off(K, q, 0) + j], x[mo], opt[2])
    cI = cond_mean(nj, x[_b_off(K, q, 1) + j], x[mo + 2], opt[2])
    lam, SE, SI, tE, tI, M, Mr, gl, h = _pop_params(pv, q)
    d = drift(vb, cE[0], wE, cI[0], wI, lam, SE, SI, tE, tI, M, Mr, gl, h, opt[3], opt[9],
              opt[10], opt[11])
    st = stein(vb, wE, wI, SE, SI, tE, tI, M, Mr, h, opt[7])
    return nj, vb, dvb_dn, dvb_dA, a, b, da, db, cE, cI, d, st


@nb.njit(cache=True, error_model='numpy')
def rhs_cond(x, pv, edges, opt, out, F, M1):
    """Right-hand side of the conditional closure into out; returns (f_E, f_I)."""
    K = edges.shape[0] - 1
    h = pv[_P_H]
    e0 = edges[0]
    Rho = np.empty(K + 1)
    fired = np.zeros(2)
    for q in range(2):
        offn = 2 * K * q
        offA = offn + K
        oB0 = _b_off(K, q, 0)
        oB1 = _b_off(K, q, 1)
        wE = within_var(x, pv, opt, K, q, 0)[0]
        wI = within_var(x, pv, opt, K, q, 1)[0]
        for l in range(K):
            out[offn + l] = 0.0
            out[offA + l] = 0.0
            out[oB0 + l] = 0.0
            out[oB1 + l] = 0.0
        for j in range(K):
            if x[offn + j] == 0.0:
                continue
            nj, vb, dvb_dn, dvb_dA, a, b, da, db, cE, cI, d, st = _source_cond(
                x, q, j, K, pv, edges, opt, wE, wI)
            edge_kernel_rho(edges, a, b, d[0], d[1], F, M1, Rho)
            # movers carry their pending totals (B_j P, exactly conserved) plus the
            # covariance flux nj s dP/dmu (neurons whose input drives them up move up more)
            BE = x[oB0 + j]
            BI = x[oB1 + j]
            sE = nj * st[0]
            sI = nj * st[1]
            out[offn] += nj * F[1]
            out[offA] += nj * (M1[1] - M1[0] + e0 * F[0])
            out[oB0] += BE * F[1] - sE * Rho[1]
            out[oB1] += BI * F[1] - sI * Rho[1]
            for l in range(1, K):
                P = F[l + 1] - F[l]
                Rl = Rho[l] - Rho[l + 1]  # dP/dmu
                out[offn + l] += nj * P
                out[offA + l] += nj * (M1[l + 1] - M1[l])
                out[oB0 + l] += BE * P + sE * Rl
                out[oB1 + l] += BI * P + sI * Rl
            fired[q] += nj * (1.0 - F[K])
    fr = fired / h
    rb = int(opt[5])
    vr = opt[4]
    tR = pv[_P_TAU_R]
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
        for X in range(2):
            k = 2 * q + X
            ob = _b_off(K, q, X)
            p = pv[_P_P + k]
            tau = pv[_P_TAU + k]
            sb = 0.0
            for l in range(K):
                sb += x[ob + l]
                out[ob + l] = ((out[ob + l] - x[ob + l]) / h - x[ob + l] / tau
                               + p * fr[X] * x[offn + l])
            BR = pv[_P_N + q] * x[4 * K + 2 * k] - sb
            out[ob + rb] += BR / tR
    for k in range(4):
        i = 4 * K + 2 * k
        src = k % 2
        r = moment_rhs(x[i], x[i + 1], fr[src], pv[_P_P + k], pv[_P_TAU + k])
        out[i] = r[0]
        out[i + 1] = r[1]
    return fr


@nb.njit(cache=True, error_model='numpy')
def _dw_vector(x, pv, opt, K, q, X, dwdx):
    """Gradient of the within-bin variance w of pathway qX over the state into dwdx
    (nonzero at n[q], B[q, X], m_qX, v_qX); returns w."""
    delta = opt[2]
    offn = 2 * K * q
    ob = _b_off(K, q, X)
    mo = 4 * K + 4 * q + 2 * X
    m = x[mo]
    N = pv[_P_N + q]
    sn = 0.0
    sb = 0.0
    G = 0.0
    for j in range(K):
        sn += x[offn + j]
        sb += x[ob + j]
    R = N - sn
    BR = N * m - sb
    gR = disp_term(R, BR, m, delta)
    dGm = gR[3] + gR[2] * N
    G = gR[0]
    for j in range(K):
        g = disp_term(x[offn + j], x[ob + j], m, delta)
        G += g[0]
        dwdx[offn + j] = (g[1] - gR[1]) / N
        dwdx[ob + j] = (g[2] - gR[2]) / N
        dGm += g[3]
    wp = wplus(x[mo + 1] - G / N, opt[8])
    # w = wplus(v - D): dw/dD = -wp', dw/dv = wp'
    for j in range(K):
        dwdx[offn + j] *= -wp[1]
        dwdx[ob + j] *= -wp[1]
    dwdx[mo] = -wp[1] * dGm / N
    dwdx[mo + 1] = wp[1]
    return wp[0]


@nb.njit(cache=True, error_model='numpy')
def jac_cond(x, pv, edges, opt, J, gf, F, M1, dF, dM1):
    """Analytic Jacobian of the conditional closure into J; gradients of (f_E, f_I) into gf."""
    K = edges.shape[0] - 1
    nx = 8 * K + 8
    h = pv[_P_H]
    e0 = edges[0]
    J[:, :] = 0.0
    gf[:, :] = 0.0
    Rho = np.empty(K + 1)
    dRho = np.empty((K + 1, 4))
    # per edge: derivatives of F, M1, Rho in z = (Vbar, HE, HI, wE, wI)
    dFz = np.empty((K + 1, 5))
    dMz = np.empty((K + 1, 5))
    dRz = np.empty((K + 1, 5))
    dw = np.zeros((2, 2, nx))  # gradient of w[q, X]
    cw = np.zeros((2, 2, nx))  # d(rhs)/d w[q, X]
    gw = np.zeros((2, 2))  # d(fired_q)/d w[q, X] (not divided by h)
    fired = np.zeros(2)
    for q in range(2):
        wE = _dw_vector(x, pv, opt, K, q, 0, dw[q, 0])
        wI = _dw_vector(x, pv, opt, K, q, 1, dw[q, 1])
        offn = 2 * K * q
        offA = offn + K
        oB = (_b_off(K, q, 0), _b_off(K, q, 1))
        mo = 4 * K + 4 * q
        for j in range(K):
            nj, vb, dvb_dn, dvb_dA, a, b, da, db, cE, cI, d, st = _source_cond(
                x, q, j, K, pv, edges, opt, wE, wI)
            mu = d[0]
            sig = d[1]
            edge_kernel_rho_grad(edges, a, b, mu, sig, F, M1, Rho, dF, dM1, dRho)
            for e in range(K + 1):
                dFz[e, 0] = dF[e, 0] * da + dF[e, 1] * db + dF[e, 2] * d[2] + dF[e, 3] * d[3]
                dFz[e, 1] = dF[e, 2] * d[4] + dF[e, 3] * d[9]
                dFz[e, 2] = dF[e, 2] * d[6] + dF[e, 3] * d[8]
                dFz[e, 3] = dF[e, 3] * d[5]
                dFz[e, 4] = dF[e, 3] * d[7]
                dMz[e, 0] = (dM1[e, 0] * da + dM1[e, 1] * db + dM1[e, 2] * d[2]
                             + dM1[e, 3] * d[3])
                dMz[e, 1] = dM1[e, 2] * d[4] + dM1[e, 3] * d[9]
                dMz[e, 2] = dM1[e, 2] * d[6] + dM1[e, 3] * d[8]
                dMz[e, 3] = dM1[e, 3] * d[5]
                dMz[e, 4] = dM1[e, 3] * d[7]
                dRz[e, 0] = (dRho[e, 0] * da + dRho[e, 1] * db + dRho[e, 2] * d[2]
                             + dRho[e, 3] * d[3])
                dRz[e, 1] = dRho[e, 2] * d[4] + dRho[e, 3] * d[9]
                dRz[e, 2] = dRho[e, 2] * d[6] + dRho[e, 3] * d[8]
                dRz[e, 3] = dRho[e, 3] * d[5]
                dRz[e, 4] = dRho[e, 3] * d[7]
            Bj = (x[oB[0] + j], x[oB[1] + j])
            s = (st[0], st[1])
            # ds_X/dz: sE depends on wE; sI on Vbar and wI
            dsz = np.zeros((2, 5))
            dsz[0, 3] = st[3]
            dsz[1, 0] = st[2]
            dsz[1, 4] = st[4]
            cm = (cE, cI)
            for l in range(K):
                if l == 0:
                    P = F[1]
                    Q = M1[1] - M1[0] + e0 * F[0]
                    Rl = -Rho[1]
                else:
                    P = F[l + 1] - F[l]
                    Q = M1[l + 1] - M1[l]
                    Rl = Rho[l] - Rho[l + 1]
                rn = offn + l
                rA = offA + l
                for k in range(5):
                    if l == 0:
                        gP = dFz[1, k]
                        gQ = dMz[1, k] - dMz[0, k] + e0 * dFz[0, k]
                        gR = -dRz[1, k]
                    else:
                        gP = dFz[l + 1, k] - dFz[l, k]
                        gQ = dMz[l + 1, k] - dMz[l, k]
                        gR = dRz[l, k] - dRz[l + 1, k]
                    # d(B_j P + nj s Rl)/dz_k
                    gB0 = Bj[0] * gP + nj * (s[0] * gR + dsz[0, k] * Rl)
                    gB1 = Bj[1] * gP + nj * (s[1] * gR + dsz[1, k] * Rl)
                    if k == 0:  # Vbar
                        J[rn, offn + j] += nj * gP * dvb_dn / h
                        J[rn, offA + j] += nj * gP * dvb_dA / h
                        J[rA, offn + j] += nj * gQ * dvb_dn / h
                        J[rA, offA + j] += nj * gQ * dvb_dA / h
                        for X in range(2):
                            gB = gB0 if X == 0 else gB1
                            J[oB[X] + l, offn + j] += gB * dvb_dn / h
                            J[oB[X] + l, offA + j] += gB * dvb_dA / h
                    elif k <= 2:  # conditional mean H_X, X = k - 1
                        X = k - 1
                        c = cm[X]
                        for Y in range(2):
                            gB = gB0 if Y == 0 else gB1
                            J[oB[Y] + l, offn + j] += gB * c[1] / h
                            J[oB[Y] + l, oB[X] + j] += gB * c[2] / h
                            J[oB[Y] + l, mo + 2 * X] += gB * c[3] / h
                        J[rn, offn + j] += nj * gP * c[1] / h
                        J[rn, oB[X] + j] += nj * gP * c[2] / h
                        J[rn, mo + 2 * X] += nj * gP * c[3] / h
                        J[rA, offn + j] += nj * gQ * c[1] / h
                        J[rA, oB[X] + j] += nj * gQ * c[2] / h
                        J[rA, mo + 2 * X] += nj * gQ * c[3] / h
                    else:  # within-bin variance w_X, X = k - 3 (dense: via cw)
                        X = k - 3
                        cw[q, X, rn] += nj * gP / h
                        cw[q, X, rA] += nj * gQ / h
                        cw[q, X, oB[0] + l] += gB0 / h
                        cw[q, X, oB[1] + l] += gB1 / h
                # explicit factors nj and B_j
                J[rn, offn + j] += P / h
                J[rA, offn + j] += Q / h
                J[oB[0] + l, offn + j] += s[0] * Rl / h
                J[oB[1] + l, offn + j] += s[1] * Rl / h
                J[oB[0] + l, oB[0] + j] += P / h
                J[oB[1] + l, oB[1] + j] += P / h
            # firing
            Pf = 1.0 - F[K]
            fired[q] += nj * Pf
            gf[q, offn + j] += (Pf - nj * dFz[K, 0] * dvb_dn) / h
            gf[q, offA + j] += -nj * dFz[K, 0] * dvb_dA / h
            for X in range(2):
                c = cm[X]
                gH = -nj * dFz[K, 1 + X] / h
                gf[q, offn + j] += gH * c[1]
                gf[q, oB[X] + j] += gH * c[2]
                gf[q, mo + 2 * X] += gH * c[3]
                gw[q, X] += -nj * dFz[K, 3 + X]
        # decay, reset from the eliminated refractory pool
        rb = int(opt[5])
        tR = pv[_P_TAU_R]
        for l in range(K):
            J[offn + l, offn + l] -= 1.0 / h
            J[offA + l, offA + l] -= 1.0 / h
            J[offn + rb, offn + l] -= 1.0 / tR
            J[offA + rb, offn + l] -= opt[4] / tR
    # dense coupling through the within-bin variances
    for q in range(2):
        for X in range(2):
            for c in range(nx):
                g = dw[q, X, c]
                if g == 0.0:
                    continue
                gf[q, c] += gw[q, X] * g / h
                for r in range(nx):
                    if cw[q, X, r] != 0.0:
                        J[r, c] += cw[q, X, r] * g
    fr = fired / h
    rb = int(opt[5])
    tR = pv[_P_TAU_R]
    for q in range(2):
        offn = 2 * K * q
        for X in range(2):
            k = 2 * q + X
            ob = _b_off(K, q, X)
            p = pv[_P_P + k]
            tau = pv[_P_TAU + k]
            for l in range(K):
                J[ob + l, ob + l] += -1.0 / h - 1.0 / tau
                J[ob + l, offn + l] += p * fr[X]
                for c in range(nx):
                    J[ob + l, c] += p * x[offn + l] * gf[X, c]
                J[ob + rb, ob + l] -= 1.0 / tR
            J[ob + rb, 4 * K + 2 * k] += pv[_P_N + q] / tR
    for k in range(4):
        i = 4 * K + 2 * k
        src = k % 2
        r = moment_rhs(x[i], x[i + 1], fr[src], pv[_P_P + k], pv[_P_TAU + k])
        J[i, i] += r[2]
        J[i, i + 1] += r[3]
        J[i + 1, i] += r[7]
        J[i + 1, i + 1] += r[8]
        for c in range(nx):
            J[i, c] += r[4] * gf[src, c]
            J[i + 1, c] += r[9] * gf[src, c]
    return fr


@nb.njit(cache=True, error_model='numpy')
def dfdp_fd(x, pv, edges, opt, D, F, M1):
    """df/dp of the conditional closure by central differences (relative step 1e-6)."""
    nx = x.shape[0]
    fp = np.empty(nx)
    fm = np.empty(nx)
    pp = pv.copy()
    for p in range(_NPAR):
        step = 1e-6 * max(abs(pv[p]), 1e-3)
        pp[p] = pv[p] + step
        rhs_cond(x, pp, edges, opt, fp, F, M1)
        pp[p] = pv[p] - step
        rhs_cond(x, pp, edges, opt, fm, F, M1)
        pp[p] = pv[p]
        for i in range(nx):
            D[i, p] = (fp[i] - fm[i]) / (2.0 * step)
    return rhs_cond(x, pv, edges, opt, fp, F, M1)
