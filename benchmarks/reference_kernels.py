"""Frozen reference copy of the fast simulator kernels, for same-process regression timing.

NOT imported by the package and never to be edited to follow it: this is the SNN and
Markov-model stepping code as it was at commit 1fc1c0e (O(1) alias-table sampling, before the
shared ``fire_or_update``/``prepare_run`` refactors), with its own copies of the helpers it
calls, so ``bench_simulators.py --reference`` can time the package's current kernels against it
in one process (ratio current / reference) and check that both give the same output for the
same seed.  Update it deliberately, with the commit, when a faster kernel becomes the new
reference.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np
from numba import uint64

REFERENCE_COMMIT = "1fc1c0e"

def make_uniform_state(rng: np.random.Generator) -> np.ndarray:
    """xoshiro256** state (4 nonzero uint64 words) drawn from ``rng``."""
    return rng.integers(1, 2**63, size=4, dtype=np.uint64)


@numba.njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << uint64(k)) | (x >> uint64(64 - k))


@numba.njit(cache=True, inline="always")
def uniform(state) -> float:
    """Uniform draw on [0, 1) from the xoshiro256** state (updated in place)."""
    s0 = state[0]
    s1 = state[1]
    s2 = state[2]
    s3 = state[3]
    result = _rotl(s1 * uint64(5), 7) * uint64(9)
    t = s1 << uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    state[0] = s0
    state[1] = s1
    state[2] = s2
    state[3] = s3
    return (result >> uint64(11)) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True)
def build_alias(pmf, start, K, prob, alias, small, large) -> None:
    """Walker/Vose alias table of the (unnormalised) pmf[start : start + K].

    Writes ``prob`` and ``alias`` (indices relative to ``start``) at [start, start + K);
    ``small`` and ``large`` are int scratch arrays of length >= K.  A draw then costs one
    uniform and one comparison, whatever the distribution (see :func:`sample_alias`).
    """
    total = 0.0
    for j in range(K):
        total += pmf[start + j]
    ns = 0
    nl = 0
    for j in range(K):
        x = pmf[start + j] * K / total
        prob[start + j] = x
        alias[start + j] = j
        if x < 1.0:
            small[ns] = j
            ns += 1
        else:
            large[nl] = j
            nl += 1
    while ns > 0 and nl > 0:
        ns -= 1
        sj = small[ns]
        lj = large[nl - 1]
        alias[start + sj] = lj
        rest = prob[start + lj] + prob[start + sj] - 1.0
        prob[start + lj] = rest
        if rest < 1.0:
            nl -= 1
            small[ns] = lj
            ns += 1
    for k in range(nl):  # what remains is exactly 1 up to rounding
        prob[start + large[k]] = 1.0
    for k in range(ns):
        prob[start + small[k]] = 1.0


@numba.njit(cache=True, inline="always")
def sample_alias(ust, prob, alias, start, K) -> int:
    """Draw j in [0, K) from the alias table at ``start`` with one uniform."""
    u = uniform(ust) * K
    j = int(u)
    if j >= K:
        j = K - 1
    if u - j < prob[start + j]:
        return j
    return alias[start + j]


@numba.njit(cache=True)
def binomial_alias(n, p, pmf, prob, alias, small, large):
    """Alias table of Binomial(n, p) restricted to where its pmf exceeds 1e-20 of the mode.

    Every neuron of a population draws Binomial(n_Q', p) with the same (n, p) in a step, so
    one table per step and pathway makes each draw O(1).  The pmf is built from the mode
    outwards by the ratio recurrence (no exp, no underflow; the neglected mass is < 1e-17).
    Returns (lo, K): a draw is ``lo + sample_alias(ust, prob, alias, lo, K)``.
    """
    if p <= 0.0:
        prob[0] = 1.0
        alias[0] = 0
        return 0, 1
    if p >= 1.0:
        prob[n] = 1.0
        alias[n] = 0
        return n, 1
    r = p / (1.0 - p)
    mode = min(n, int((n + 1) * p))
    pmf[mode] = 1.0
    lo = mode
    while lo > 0:
        val = pmf[lo] * lo / ((n - lo + 1) * r)
        if val < 1e-20:
            break
        lo -= 1
        pmf[lo] = val
    hi = mode
    while hi < n:
        val = pmf[hi] * (n - hi) / (hi + 1) * r
        if val < 1e-20:
            break
        hi += 1
        pmf[hi] = val
    build_alias(pmf, lo, hi - lo + 1, prob, alias, small, large)
    return lo, hi - lo + 1


def poisson_alias_tables(
    decay: np.ndarray, lam_max: float = 30.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Alias tables of Poisson(h * decay[q, src]) for every integer h with mean <= ``lam_max``.

    Returns ``(prob, alias, offsets)``: the table of (q, src, h) occupies
    ``offsets[q, src, h] : offsets[q, src, h + 1]`` and is truncated where the upper tail
    is < 1e-20; an empty range marks means above ``lam_max``, which the caller draws with
    the library's O(1) PTRS sampler instead.
    """
    from scipy.special import gammaln

    h_max = int(lam_max / decay.min()) + 1
    k_all = np.arange(int(lam_max + 12.0 * np.sqrt(lam_max) + 21.0))
    offsets = np.zeros((2, 2, h_max + 2), dtype=np.int64)
    pieces = []
    pos = 0
    for q in range(2):
        for src in range(2):
            lam = np.arange(h_max + 1) * decay[q, src]
            k_max = (lam + 12.0 * np.sqrt(lam) + 20.0).astype(np.int64)
            with np.errstate(divide="ignore", invalid="ignore"):
                pmf_all = np.exp(-lam[:, None] + k_all[None, :] * np.log(lam)[:, None]
                                 - gammaln(k_all + 1.0)[None, :])
            pmf_all[0] = 0.0
            pmf_all[0, 0] = 1.0  # h = 0: no decay
            for h in range(h_max + 1):
                offsets[q, src, h] = pos
                if lam[h] > lam_max:
                    continue
                pieces.append(pmf_all[h, : k_max[h] + 1])
                pos += k_max[h] + 1
            offsets[q, src, h_max + 1] = pos
    pmf = np.concatenate(pieces)
    prob = np.empty_like(pmf)
    alias = np.empty(len(pmf), dtype=np.int64)
    _build_all(pmf, offsets.reshape(-1), prob, alias)
    return prob, alias, offsets


@numba.njit(cache=True)
def _build_all(pmf, flat_offsets, prob, alias) -> None:
    scratch_s = np.empty(len(pmf), np.int64)
    scratch_l = np.empty(len(pmf), np.int64)
    for t in range(len(flat_offsets) - 1):
        a = flat_offsets[t]
        b = flat_offsets[t + 1]
        if b > a:
            build_alias(pmf, a, b - a, prob, alias, scratch_s, scratch_l)


@numba.njit(cache=True)
def sample_histogram(V, refr, pop, e0, de, hist, hist_ref, idx):
    """Histogram the voltages of non-refractory neurons per population into sample ``idx``.

    Bins are uniform (first edge ``e0``, width ``de``); voltages outside are clipped into the
    end bins.  Refractory neurons are counted in ``hist_ref``.
    """
    nb = hist.shape[2]
    for i in range(V.shape[0]):
        q = pop[i]
        if refr[i]:
            hist_ref[idx, q] += 1
            continue
        b = int(np.floor((V[i] - e0) / de))
        if b < 0:
            b = 0
        elif b >= nb:
            b = nb - 1
        hist[idx, q, b] += 1


@numba.njit(cache=True, inline="always")
def leave_refractory(ust, refr, V, i, p_leave, V_reset) -> None:
    """Exponential refractory period: leave with probability dt / tau_R, keeping V = V_reset."""
    if uniform(ust) < p_leave:
        refr[i] = False
        V[i] = V_reset


class PendingTables(NamedTuple):
    """Sampling tables for the pending-spike update (see :func:`advance_pending`)."""

    decay: np.ndarray  # dt / tau, [post, pre]
    p_conn: np.ndarray  # connection probabilities, [post, pre]
    pois_prob: np.ndarray  # alias tables of Poisson(h dt / tau), per (post, pre, h)
    pois_alias: np.ndarray
    pois_off: np.ndarray
    bin_pmf: np.ndarray  # per-step binomial scratch, (2, 2, N + 1)
    bin_prob: np.ndarray
    bin_alias: np.ndarray
    bin_lo: np.ndarray  # (2, 2)
    bin_K: np.ndarray  # (2, 2)
    scratch_small: np.ndarray  # (N + 1,)
    scratch_large: np.ndarray


def pending_tables(p_conn: np.ndarray, decay: np.ndarray, n_max: int) -> PendingTables:
    """Tables for populations whose per-step spike counts are at most ``n_max``."""
    prob, alias, off = poisson_alias_tables(decay)
    shape = (2, 2, n_max + 1)
    return PendingTables(
        decay, p_conn, prob, alias, off, np.zeros(shape), np.zeros(shape),
        np.zeros(shape, np.int64), np.zeros((2, 2), np.int64), np.zeros((2, 2), np.int64),
        np.zeros(n_max + 1, np.int64), np.zeros(n_max + 1, np.int64),
    )


@numba.njit(cache=True)
def advance_pending(H, pop, n_e, n_i, quenched, births, tables, rng, ust):
    """Step 6 of MODEL.md 1: H <- max(0, H + Binomial(n_Q', p) - Poisson(H dt / tau)).

    ``H[i, src]`` counts neuron i's pending spikes from population src (0 = E, 1 = I); with
    quenched connectivity the births are given in ``births``.  All neurons of a population
    share (n, p) in a step, so births come from one alias table per step and pathway;
    Poisson decays with mean <= 30 come from precomputed alias tables per (pathway, h),
    larger ones from the library (PTRS).  Both draws use H(t): exactly max(0, H + B - P).
    """
    decay = tables.decay
    n_src = (n_e, n_i)
    if not quenched:
        for q in range(2):
            for src in range(2):
                if n_src[src] > 0:
                    lo, K = binomial_alias(
                        n_src[src], tables.p_conn[q, src], tables.bin_pmf[q, src],
                        tables.bin_prob[q, src], tables.bin_alias[q, src],
                        tables.scratch_small, tables.scratch_large,
                    )
                    tables.bin_lo[q, src] = lo
                    tables.bin_K[q, src] = K
    off = tables.pois_off
    h_table = off.shape[2] - 1
    for i in range(H.shape[0]):
        q = pop[i]
        for src in range(2):
            h = H[i, src]
            if quenched:
                b = births[i, src]
            elif n_src[src] > 0:
                lo = tables.bin_lo[q, src]
                b = lo + sample_alias(ust, tables.bin_prob[q, src], tables.bin_alias[q, src],
                                      lo, tables.bin_K[q, src])
            else:
                b = 0
            d = 0
            if h > 0:
                if h < h_table and off[q, src, h + 1] > off[q, src, h]:
                    d = sample_alias(ust, tables.pois_prob, tables.pois_alias, off[q, src, h],
                                     off[q, src, h + 1] - off[q, src, h])
                else:
                    d = rng.poisson(h * decay[q, src])
            h = h + b - d
            H[i, src] = h if h > 0 else 0


@numba.njit(cache=True)
def _snn_steps(
    V, refr, H, pop, a_syn, lam_dt, drive_poisson, M, M_r, V_reset, leak_dt,
    p_leave, quenched, indptr, indices, births, spiked, tables, rng, ust,
    step0, n, counts, mask, rbuf_n, rbuf_s, hist_every, e0, de, hist, hist_ref,
):
    """Advance ``n`` steps in place; return the number of raster events written."""
    N = V.shape[0]
    inv_span = 1.0 / (M + M_r)
    sqrt_lam = math.sqrt(lam_dt)
    written = 0
    for k in range(n):
        step = step0 + k
        n_sp = 0
        n_e = 0
        n_i = 0
        for i in range(N):
            if refr[i]:
                leave_refractory(ust, refr, V, i, p_leave, V_reset)
                continue
            q = pop[i]
            if drive_poisson:
                ext = float(rng.poisson(lam_dt))
            else:
                ext = lam_dt + sqrt_lam * rng.standard_normal()
            v = V[i]
            exc = a_syn[q, 0] * H[i, 0]
            inh = a_syn[q, 1] * H[i, 1] * (v + M_r) * inv_span
            v_new = v + ext + exc - inh - v * leak_dt
            if v_new > M:  # threshold and reset (MODEL.md 1, step 5)
                V[i] = V_reset
                refr[i] = True
                spiked[n_sp] = i
                n_sp += 1
                if q == 0:
                    n_e += 1
                else:
                    n_i += 1
                if mask[i]:
                    rbuf_n[written] = i
                    rbuf_s[written] = step
                    written += 1
            else:
                V[i] = v_new
        counts[step, 0] = n_e
        counts[step, 1] = n_i
        if quenched:
            births[:, :] = 0
            for s in range(n_sp):
                j = spiked[s]
                src = pop[j]
                for ptr in range(indptr[j], indptr[j + 1]):
                    births[indices[ptr], src] += 1
        advance_pending(H, pop, n_e, n_i, quenched, births, tables, rng, ust)
        if hist_every > 0 and (step + 1) % hist_every == 0:
            sample_histogram(V, refr, pop, e0, de, hist, hist_ref, (step + 1) // hist_every - 1)
    return written


def _quenched_connectivity(p: np.ndarray, pop: np.ndarray, rng: np.random.Generator):
    """CSR lists of postsynaptic targets per presynaptic neuron (no self-connections);
    ``p[post, pre]`` are the connection probabilities by population."""
    n = len(pop)
    indptr = np.zeros(n + 1, dtype=np.int64)
    chunks = []
    for j in range(n):
        prob = p[pop, pop[j]]
        targets = np.flatnonzero(rng.random(n) < prob)
        targets = targets[targets != j]
        chunks.append(targets)
        indptr[j + 1] = indptr[j] + len(targets)
    indices = np.concatenate(chunks).astype(np.int64) if chunks else np.zeros(0, np.int64)
    return indptr, indices


@numba.njit(cache=True)
def input_mean_var(V, q, m, v, S, tau, lam, h, M, M_r, include_drive):
    """Mean and variance of the window-h input to a neuron of population q at voltage V.

    ``m``, ``v``: 2x2 arrays [post, pre] of pending-spike population means and variances.
    """
    c = (V + M_r) / (M + M_r)
    mu = h * (S[q, 0] * m[q, 0] / tau[q, 0] - S[q, 1] * m[q, 1] / tau[q, 1] * c)
    var = h * (
        S[q, 0] ** 2 * v[q, 0] / tau[q, 0] ** 2 + S[q, 1] ** 2 * v[q, 1] / tau[q, 1] ** 2 * c * c
    )
    if include_drive:
        mu += h * lam
        var += h * lam
    return mu, max(var, 0.0)


@numba.njit(cache=True)
def _markov_steps(
    V, refr, m, v, pop, S, p_conn, tau, lam, h, drive_poisson, M, M_r, V_reset, leak_dt,
    p_leave, rng, ust,
    step0, n, counts, mask, rbuf_n, rbuf_s, hist_every, e0, de, hist, hist_ref,
):
    """Advance ``n`` steps in place; return the number of raster events written."""
    N = V.shape[0]
    written = 0
    for k in range(n):
        step = step0 + k
        n_e = 0
        n_i = 0
        for i in range(N):
            if refr[i]:
                leave_refractory(ust, refr, V, i, p_leave, V_reset)
                continue
            q = pop[i]
            x = V[i]
            mu, var = input_mean_var(x, q, m, v, S, tau, lam, h, M, M_r, not drive_poisson)
            dv = mu + math.sqrt(var) * rng.standard_normal()
            if drive_poisson:
                dv += float(rng.poisson(lam * h))
            x_new = x + dv - x * leak_dt
            if x_new > M:  # threshold and reset (MODEL.md 1, step 5)
                V[i] = V_reset
                refr[i] = True
                if q == 0:
                    n_e += 1
                else:
                    n_i += 1
                if mask[i]:
                    rbuf_n[written] = i
                    rbuf_s[written] = step
                    written += 1
            else:
                V[i] = x_new
        counts[step, 0] = n_e
        counts[step, 1] = n_i
        # moments of MODEL.md 2, one forward-Euler step driven by the realised rates
        for q in range(2):
            for src in range(2):
                f = (n_e if src == 0 else n_i) / h
                mq = m[q, src]
                vq = v[q, src]
                m[q, src] = mq + h * (-mq / tau[q, src] + p_conn[q, src] * f)
                v[q, src] = vq + h * (
                    -2.0 * vq / tau[q, src] + mq / tau[q, src]
                    + p_conn[q, src] * (1.0 - p_conn[q, src]) * f
                )
        if hist_every > 0 and (step + 1) % hist_every == 0:
            sample_histogram(V, refr, pop, e0, de, hist, hist_ref, (step + 1) // hist_every - 1)
    return written


def _pathway_arrays(params) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    names = (("EE", "EI"), ("IE", "II"))
    S = np.array([[params.S(pw) for pw in row] for row in names])
    p = np.array([[params.p(pw) for pw in row] for row in names])
    tau = np.array([[params.tau(pw) for pw in row] for row in names])
    return S, p, tau


def _run(kernel, n_steps: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Chunked loop of the package's driver (2000 steps, no raster, no histograms)."""
    counts = np.zeros((n_steps, 2), dtype=np.int64)
    mask = np.zeros(n, dtype=np.bool_)
    rbuf = np.empty(0, dtype=np.int32)
    hist = np.zeros((0, 2, 35), dtype=np.int64)
    hist_ref = np.zeros((0, 2), dtype=np.int64)
    chunk = min(n_steps, 2000)
    for step0 in range(0, n_steps, chunk):
        kernel(step0, min(chunk, n_steps - step0), counts, mask, rbuf, rbuf, hist, hist_ref)
    return counts[:, 0].copy(), counts[:, 1].copy()


def reference_snn(params, t_ms: float, seed: int, connectivity: str = "annealed",
                  drive: str = "gaussian") -> tuple[np.ndarray, np.ndarray]:
    """Per-step (E, I) spike counts of the reference SNN (same seed semantics as the package)."""
    n_steps = max(1, int(round(t_ms / params.dt)))
    rng = np.random.default_rng(seed)
    ust = make_uniform_state(rng)
    pop = np.concatenate([np.zeros(params.N_E, np.int64), np.ones(params.N_I, np.int64)])
    n = len(pop)
    S, p, tau = _pathway_arrays(params)
    a_syn = S * params.dt / tau
    decay = params.dt / tau
    tables = pending_tables(p, decay, max(params.N_E, params.N_I))
    quenched = connectivity == "quenched"
    if quenched:
        indptr, indices = _quenched_connectivity(p, pop, rng)
    else:
        indptr, indices = np.zeros(1, np.int64), np.zeros(0, np.int64)
    V = np.zeros(n)
    refr = np.zeros(n, dtype=np.bool_)
    H = np.zeros((n, 2), dtype=np.int64)
    births = np.zeros((n, 2), dtype=np.int64)
    spiked = np.zeros(n, dtype=np.int64)
    leak_dt = 0.0 if params.tau_m is None else params.dt / params.tau_m

    def kernel(step0, k, counts, mask, rbuf_n, rbuf_s, hist, hist_ref):
        return _snn_steps(
            V, refr, H, pop, a_syn, params.lambda_ext * params.dt, drive == "poisson",
            params.M, params.M_r, params.V_reset, leak_dt, params.dt / params.tau_R,
            quenched, indptr, indices, births, spiked, tables, rng, ust,
            step0, k, counts, mask, rbuf_n, rbuf_s, 0, -40.0, 4.0, hist, hist_ref,
        )

    return _run(kernel, n_steps, n)


def reference_markov(params, t_ms: float, seed: int, drive: str = "gaussian"
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Per-step (E, I) spike counts of the reference neuron-level Markov model."""
    n_steps = max(1, int(round(t_ms / params.dt)))
    rng = np.random.default_rng(seed)
    ust = make_uniform_state(rng)
    pop = np.concatenate([np.zeros(params.N_E, np.int64), np.ones(params.N_I, np.int64)])
    n = len(pop)
    S, p, tau = _pathway_arrays(params)
    V = np.zeros(n)
    refr = np.zeros(n, dtype=np.bool_)
    m = np.zeros((2, 2))
    v = np.zeros((2, 2))
    leak_dt = 0.0 if params.tau_m is None else params.dt / params.tau_m

    def kernel(step0, k, counts, mask, rbuf_n, rbuf_s, hist, hist_ref):
        return _markov_steps(
            V, refr, m, v, pop, S, p, tau, params.lambda_ext, params.dt, drive == "poisson",
            params.M, params.M_r, params.V_reset, leak_dt, params.dt / params.tau_R, rng, ust,
            step0, k, counts, mask, rbuf_n, rbuf_s, 0, -40.0, 4.0, hist, hist_ref,
        )

    return _run(kernel, n_steps, n)
