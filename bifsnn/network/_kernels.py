"""numba helpers shared by the SNN and Markov-model kernels (random draws, refractory, recording).

Uniform draws come from an inlined xoshiro256** generator (about 1 ns per draw against about
6 ns through numba's ``np.random.Generator`` interface, which cannot be inlined); Gaussian draws
and the Poisson draws with means above 30 use the numpy ``Generator``.  Both are seeded
from the same ``default_rng(seed)``, so a seed still determines the run bit for bit.

Threshold, reset and raster recording are written out in each kernel on purpose: as a shared
``inline="always"`` helper taking the state arrays (commit ad12dee) numba's IR inlining added
array reference-count updates on every neuron-step that its refcount pruning does not remove
across the helper's branches, and the Markov model ran 2x, the annealed SNN 1.35x slower
(same output); as a plain njit call it was worse still.  Keep array-taking helpers in the
per-neuron loop branch-free or measure them (``benchmarks/bench_simulators.py --reference``).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import uint64


def make_uniform_state(rng: np.random.Generator) -> np.ndarray:
    """xoshiro256** state (4 nonzero uint64 words) drawn from ``rng``."""
    return rng.integers(1, 2**63, size=4, dtype=np.uint64)


@numba.njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << uint64(k)) | (x >> uint64(64 - k))


@numba.njit(cache=True, inline="always")
def xoshiro_next(s0, s1, s2, s3):
    """One xoshiro256** step on a state held in four local uint64 words.

    Returns ``(u, s0, s1, s2, s3)`` with u uniform on [0, 1).  Kernels keep the state in locals
    inside their loops (loaded from and stored back to the state array around them): through
    the array every draw is four loads and four stores that the compiler cannot keep in
    registers next to the other arrays' stores, which doubled the cost of the pending-spike
    update.
    """
    result = _rotl(s1 * uint64(5), 7) * uint64(9)
    t = s1 << uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return (result >> uint64(11)) * (1.0 / 9007199254740992.0), s0, s1, s2, s3


@numba.njit(cache=True)
def uniform(state) -> float:
    """Uniform draw on [0, 1) from the xoshiro256** state array (updated in place)."""
    u, s0, s1, s2, s3 = xoshiro_next(state[0], state[1], state[2], state[3])
    state[0] = s0
    state[1] = s1
    state[2] = s2
    state[3] = s3
    return u


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


@numba.njit(cache=True)
def sample_alias(ust, prob, alias, start, K) -> int:
    """Draw j in [0, K) from the alias table at ``start`` with one uniform.

    The kernels write this out inline on their local xoshiro state (same arithmetic, so the
    same draw for the same uniform); this function is the reference for tests.
    """
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
