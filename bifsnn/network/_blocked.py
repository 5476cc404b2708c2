"""Block-partitioned, multi-threaded SNN kernel (``simulate_snn(..., parallel=True)``).

The neurons are split into fixed blocks of :data:`BLOCK` consecutive indices (the partition
depends on N only).  Every block owns an xoshiro256** stream, the seed's base state jumped
``b`` times by 2^128 (non-overlapping streams), and draws everything from it: the Gaussian
drive by an inlined 256-layer ziggurat, the Poisson drive by inversion of a precomputed cdf,
refractory exits, births (the per-step alias tables of the serial kernel) and decays (the
serial kernel's alias tables for means <= 30, an inlined copy of numpy's PTRS sampler above).
Blocks are processed by ``numba.prange``, so the output depends on the seed and not on the
number of threads, which is numba's (``numba.set_num_threads``; ``simulate_snn`` takes a
``threads`` option that sets it for the call only).

One parallel region per step: each block first applies the pending-spike update of the
previous step (docs/MODEL.md 1 step 6, drawn from H(t) with the previous step's spike counts)
and then the voltage update of this step (steps 1-5, 7), neuron by neuron in one pass over
memory.  Between regions, one thread sums the blocks' spike counts, writes the raster and the
histograms and builds the births' alias tables; with quenched connectivity each block gathers
its own births from the previous step's spikes (binary search in the sorted target lists), so
the scatter is parallel too.  The result is statistically identical to the serial kernel of
:mod:`bifsnn.network.snn`, not bit-identical (other random streams; tested in
tests/test_simulators_parallel.py).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import uint64

from bifsnn.network._kernels import binomial_alias, sample_histogram, xoshiro_next

#: Neurons per block (per random stream).  Fixed: the partition must not depend on threads.
BLOCK = 1024

# ---------------------------------------------------------------------------------------------
# xoshiro256**: raw 64-bit output and jump (2^128 steps) for independent block streams
# ---------------------------------------------------------------------------------------------

_JUMP = np.array([0x180EC6D33CFD0ABA, 0xD5A61266F0C9392C, 0xA9582618E03FC9AA,
                  0x39ABDC4529B1661C], dtype=np.uint64)


@numba.njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << uint64(k)) | (x >> uint64(64 - k))


@numba.njit(cache=True, inline="always")
def xoshiro_u64(s0, s1, s2, s3):
    """One xoshiro256** step; returns the raw 64-bit output and the new state words."""
    result = _rotl(s1 * uint64(5), 7) * uint64(9)
    t = s1 << uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


@numba.njit(cache=True)
def block_states(base, n_blocks):
    """(n_blocks, 4) xoshiro256** states: block b is ``base`` advanced by b * 2^128 draws."""
    out = np.empty((n_blocks, 4), dtype=np.uint64)
    s0, s1, s2, s3 = base[0], base[1], base[2], base[3]
    for b in range(n_blocks):
        out[b, 0] = s0
        out[b, 1] = s1
        out[b, 2] = s2
        out[b, 3] = s3
        j0 = uint64(0)
        j1 = uint64(0)
        j2 = uint64(0)
        j3 = uint64(0)
        for w in range(4):
            for bit in range(64):
                if _JUMP[w] & (uint64(1) << uint64(bit)):
                    j0 ^= s0
                    j1 ^= s1
                    j2 ^= s2
                    j3 ^= s3
                _, s0, s1, s2, s3 = xoshiro_u64(s0, s1, s2, s3)
        s0, s1, s2, s3 = j0, j1, j2, j3
    return out


# ---------------------------------------------------------------------------------------------
# ziggurat Gaussian (Marsaglia & Tsang 2000 with 52-bit mantissas, as in numpy)
# ---------------------------------------------------------------------------------------------

ZIG_R = 3.6541528853610088
ZIG_V = 0.00492867323399


def ziggurat_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ki, wi, fi) of the 256-layer ziggurat for the standard normal (52-bit layers)."""
    m = 2.0**52
    dn = tn = ZIG_R
    q = ZIG_V / math.exp(-0.5 * dn * dn)
    ki = np.zeros(256, dtype=np.uint64)
    wi = np.zeros(256)
    fi = np.zeros(256)
    ki[0] = np.uint64(int((dn / q) * m))
    ki[1] = 0
    wi[0] = q / m
    wi[255] = dn / m
    fi[0] = 1.0
    fi[255] = math.exp(-0.5 * dn * dn)
    for i in range(254, 0, -1):
        dn = math.sqrt(-2.0 * math.log(ZIG_V / dn + math.exp(-0.5 * dn * dn)))
        ki[i + 1] = np.uint64(int((dn / tn) * m))
        tn = dn
        fi[i] = math.exp(-0.5 * dn * dn)
        wi[i] = dn / m
    return ki, wi, fi


ZIG_KI, ZIG_WI, ZIG_FI = ziggurat_tables()
_MASK52 = np.uint64(0x000FFFFFFFFFFFFF)
_U53 = 1.0 / 9007199254740992.0


@numba.njit(cache=True)
def _zig_slow(idx, rabs, x, s0, s1, s2, s3, ki, wi, fi):
    """The ziggurat's rare path (~1 % of draws): wedge test, tail, or a fresh draw."""
    while True:
        if idx == 0:  # base strip: Marsaglia's tail algorithm beyond r
            while True:
                r1, s0, s1, s2, s3 = xoshiro_u64(s0, s1, s2, s3)
                r2, s0, s1, s2, s3 = xoshiro_u64(s0, s1, s2, s3)
                xx = -math.log1p(-((r1 >> uint64(11)) * _U53)) / ZIG_R
                yy = -math.log1p(-((r2 >> uint64(11)) * _U53))
                if yy + yy > xx * xx:
                    t = ZIG_R + xx
                    return (-t if (rabs >> uint64(8)) & uint64(1) else t), s0, s1, s2, s3
        else:
            r1, s0, s1, s2, s3 = xoshiro_u64(s0, s1, s2, s3)
            u = (r1 >> uint64(11)) * _U53
            if (fi[idx - 1] - fi[idx]) * u + fi[idx] < math.exp(-0.5 * x * x):
                return x, s0, s1, s2, s3
        r, s0, s1, s2, s3 = xoshiro_u64(s0, s1, s2, s3)
        idx = np.int64(r & uint64(255))
        rabs = (r >> uint64(9)) & _MASK52
        x = rabs * wi[idx]
        if (r >> uint64(8)) & uint64(1):
            x = -x
        if rabs < ki[idx]:
            return x, s0, s1, s2, s3


@numba.njit(cache=True, inline="always")
def zig_normal(s0, s1, s2, s3, ki, wi, fi):
    """Standard normal draw; returns (z, s0, s1, s2, s3)."""
    r, s0, s1, s2, s3 = xoshiro_u64(s0, s1, s2, s3)
    idx = np.int64(r & uint64(255))
    rabs = (r >> uint64(9)) & _MASK52
    x = rabs * wi[idx]
    if (r >> uint64(8)) & uint64(1):
        x = -x
    if rabs >= ki[idx]:
        x, s0, s1, s2, s3 = _zig_slow(idx, rabs, x, s0, s1, s2, s3, ki, wi, fi)
    return x, s0, s1, s2, s3


@numba.njit(cache=True)
def normal_draws(state, n):
    """``n`` standard normal draws of :func:`zig_normal` from ``state`` (updated); for tests."""
    out = np.empty(n)
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    for k in range(n):
        out[k], s0, s1, s2, s3 = zig_normal(s0, s1, s2, s3, ZIG_KI, ZIG_WI, ZIG_FI)
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3
    return out


# ---------------------------------------------------------------------------------------------
# Poisson by PTRS (Hoermann 1993; numpy's random_poisson_ptrs), valid for lam >= 10
# ---------------------------------------------------------------------------------------------


@numba.njit(cache=True)
def poisson_ptrs(lam, s0, s1, s2, s3):
    """Poisson(lam) draw for lam >= 10 by transformed rejection; returns (k, s0..s3)."""
    slam = math.sqrt(lam)
    loglam = math.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2.0)
    while True:
        r1, s0, s1, s2, s3 = xoshiro_u64(s0, s1, s2, s3)
        r2, s0, s1, s2, s3 = xoshiro_u64(s0, s1, s2, s3)
        U = (r1 >> uint64(11)) * _U53 - 0.5
        V = (r2 >> uint64(11)) * _U53
        us = 0.5 - abs(U)
        k = int(math.floor((2.0 * a / us + b) * U + lam + 0.43)) if us > 0.0 else -1
        if us >= 0.07 and V <= vr:
            return k, s0, s1, s2, s3
        if k < 0 or (us < 0.013 and V > us):
            continue
        if (math.log(V) + math.log(invalpha) - math.log(a / (us * us) + b)
                <= -lam + k * loglam - math.lgamma(k + 1.0)):
            return k, s0, s1, s2, s3


@numba.njit(cache=True)
def poisson_draws(state, lam, n):
    """``n`` draws of :func:`poisson_ptrs` from ``state`` (updated); for tests."""
    out = np.empty(n, np.int64)
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    for k in range(n):
        out[k], s0, s1, s2, s3 = poisson_ptrs(lam, s0, s1, s2, s3)
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3
    return out


def poisson_cdf_table(lam: float) -> np.ndarray:
    """cdf of Poisson(lam) at 0, 1, ... up to where the upper tail is < 1e-17 (last entry 1)."""
    from scipy import stats

    k_max = int(lam + 12.0 * math.sqrt(lam) + 20.0)
    cdf = stats.poisson.cdf(np.arange(k_max + 1), lam)
    cdf[-1] = 1.0
    return cdf


# ---------------------------------------------------------------------------------------------
# the kernel
# ---------------------------------------------------------------------------------------------


@numba.njit(cache=True, parallel=True)
def blocked_steps(
    V, refr, H, pop, a_syn, lam_dt, drive_poisson, drive_cdf, M, M_r, V_reset, leak_dt,
    p_leave, quenched, indptr, indices, births, spiked, blk_cnt, blk_ne, blk_ni, n_prev,
    tables, ust, step0, n, counts, mask, rbuf_n, rbuf_s, hist_every, e0, de, hist, hist_ref,
):
    """Advance ``n`` steps in place (see the module docstring); return raster events written.

    ``spiked`` (2, N) and ``blk_cnt`` (2, n_blocks) are double-buffered by step parity:
    a block gathers its quenched births from the other blocks' previous-step spikes while
    they record this step's.  ``n_prev`` holds the previous step's (n_E, n_I) across calls:
    the pending update of a chunk's last step is applied at the end of the chunk, so H is
    consistent between calls.
    """
    N = V.shape[0]
    nb = ust.shape[0]
    inv_span = 1.0 / (M + M_r)
    sqrt_lam = math.sqrt(lam_dt)
    ki = ZIG_KI
    wi = ZIG_WI
    fi = ZIG_FI
    decay = tables.decay
    bin_prob = tables.bin_prob
    bin_alias = tables.bin_alias
    bin_lo = tables.bin_lo
    bin_K = tables.bin_K
    pois_prob = tables.pois_prob
    pois_alias = tables.pois_alias
    off = tables.pois_off
    h_table = off.shape[2] - 1
    n_cdf = drive_cdf.shape[0]
    written = 0
    for k in range(n + 1):
        do_pending = k > 0
        do_voltage = k < n
        cur = (step0 + k) % 2  # buffers written by this step's voltage update
        prv = 1 - cur
        ne_prev = n_prev[0]
        ni_prev = n_prev[1]
        for b in numba.prange(nb):
            lo = b * BLOCK
            hi = min(N, lo + BLOCK)
            if do_pending and quenched:
                for i in range(lo, hi):
                    births[i, 0] = 0
                    births[i, 1] = 0
                for c in range(nb):
                    base = c * BLOCK
                    for s in range(blk_cnt[prv, c]):
                        j = spiked[prv, base + s]
                        src = pop[j]
                        a = indptr[j]
                        e = indptr[j + 1]
                        p0 = a + np.searchsorted(indices[a:e], lo)
                        for ptr in range(p0, e):
                            t = indices[ptr]
                            if t >= hi:
                                break
                            births[t, src] += 1
            s0, s1, s2, s3 = ust[b, 0], ust[b, 1], ust[b, 2], ust[b, 3]
            cnt = 0
            ne = 0
            ni = 0
            for i in range(lo, hi):
                q = pop[i]
                if do_pending:
                    for src in range(2):
                        h = H[i, src]
                        if quenched:
                            bb = births[i, src]
                        elif (ne_prev if src == 0 else ni_prev) > 0:
                            blo = bin_lo[q, src]
                            K = bin_K[q, src]
                            u, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
                            u *= K
                            j = int(u)
                            if j >= K:
                                j = K - 1
                            if u - j >= bin_prob[q, src, blo + j]:
                                j = bin_alias[q, src, blo + j]
                            bb = blo + j
                        else:
                            bb = 0
                        d = 0
                        if h > 0:
                            start = off[q, src, h] if h < h_table else 0
                            K = off[q, src, h + 1] - start if h < h_table else 0
                            if K > 0:
                                u, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
                                u *= K
                                d = int(u)
                                if d >= K:
                                    d = K - 1
                                if u - d >= pois_prob[start + d]:
                                    d = pois_alias[start + d]
                            else:
                                d, s0, s1, s2, s3 = poisson_ptrs(h * decay[q, src],
                                                                 s0, s1, s2, s3)
                        h = h + bb - d
                        H[i, src] = h if h > 0 else 0
                if not do_voltage:
                    continue
                if refr[i]:  # exponential refractory period, V stays V_reset
                    u, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
                    if u < p_leave:
                        refr[i] = False
                        V[i] = V_reset
                    continue
                if drive_poisson:
                    u, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
                    m = 0
                    while m < n_cdf - 1 and u >= drive_cdf[m]:
                        m += 1
                    ext = float(m)
                else:
                    z, s0, s1, s2, s3 = zig_normal(s0, s1, s2, s3, ki, wi, fi)
                    ext = lam_dt + sqrt_lam * z
                v = V[i]
                exc = a_syn[q, 0] * H[i, 0]
                inh = a_syn[q, 1] * H[i, 1] * (v + M_r) * inv_span
                v_new = v + ext + exc - inh - v * leak_dt
                if v_new > M:
                    V[i] = V_reset
                    refr[i] = True
                    spiked[cur, lo + cnt] = i
                    cnt += 1
                    if q == 0:
                        ne += 1
                    else:
                        ni += 1
                else:
                    V[i] = v_new
            ust[b, 0] = s0
            ust[b, 1] = s1
            ust[b, 2] = s2
            ust[b, 3] = s3
            if do_voltage:
                blk_cnt[cur, b] = cnt
                blk_ne[b] = ne
                blk_ni[b] = ni
        if not do_voltage:
            break
        step = step0 + k
        n_e = 0
        n_i = 0
        for c2 in range(nb):
            n_e += blk_ne[c2]
            n_i += blk_ni[c2]
        counts[step, 0] = n_e
        counts[step, 1] = n_i
        n_prev[0] = n_e
        n_prev[1] = n_i
        if rbuf_n.shape[0] > 0:
            for c2 in range(nb):
                for s2 in range(blk_cnt[cur, c2]):
                    nrn = spiked[cur, c2 * BLOCK + s2]
                    if mask[nrn]:
                        rbuf_n[written] = nrn
                        rbuf_s[written] = step
                        written += 1
        if not quenched:
            n_src = (n_e, n_i)
            for q2 in range(2):
                for src2 in range(2):
                    if n_src[src2] > 0:
                        blo2, K2 = binomial_alias(
                            n_src[src2], tables.p_conn[q2, src2], tables.bin_pmf[q2, src2],
                            tables.bin_prob[q2, src2], tables.bin_alias[q2, src2],
                            tables.scratch_small, tables.scratch_large,
                        )
                        tables.bin_lo[q2, src2] = blo2
                        tables.bin_K[q2, src2] = K2
        if hist_every > 0 and (step + 1) % hist_every == 0:
            sample_histogram(V, refr, pop, e0, de, hist, hist_ref, (step + 1) // hist_every - 1)
    return written
