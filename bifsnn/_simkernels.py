"""numba helpers shared by the SNN and Markov-model kernels (random draws, refractory, recording).

Uniform draws come from an inlined xoshiro256** generator (about 1 ns per draw against about
6 ns through numba's ``np.random.Generator`` interface, which cannot be inlined); Gaussian draws
and the Poisson draws with means above 30 use the numpy ``Generator``.  Both are seeded
from the same ``default_rng(seed)``, so a seed still determines the run bit for bit.
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
def binomial_cdf(n: int, p: float, out) -> None:
    """CDF of Binomial(n, p) into out[0..n].

    Every neuron of a population draws Binomial(n_Q', p) with the same (n, p) in a step, so
    one table per step and pathway turns each draw into one uniform and a binary search
    (exact inversion up to the rounding of the table).  The pmf is built from its mode
    outwards by the ratio recurrence and cut where it falls below 1e-20 of the mode (the
    neglected mass is < 1e-17), so the cost is O(sqrt(n)) exp-free steps plus O(n) fills.
    """
    if p <= 0.0:
        out[: n + 1] = 1.0
        return
    if p >= 1.0:
        out[:n] = 0.0
        out[n] = 1.0
        return
    r = p / (1.0 - p)
    mode = min(n, int((n + 1) * p))
    out[: n + 1] = 0.0
    out[mode] = 1.0  # unnormalised pmf, scaled so that the mode is 1
    lo = mode
    while lo > 0:
        val = out[lo] * lo / ((n - lo + 1) * r)
        if val < 1e-20:
            break
        lo -= 1
        out[lo] = val
    hi = mode
    while hi < n:
        val = out[hi] * (n - hi) / (hi + 1) * r
        if val < 1e-20:
            break
        hi += 1
        out[hi] = val
    acc = 0.0
    for k in range(lo, hi + 1):
        acc += out[k]
        out[k] = acc
    inv = 1.0 / acc
    for k in range(lo, hi + 1):
        out[k] *= inv
    out[hi : n + 1] = 1.0


@numba.njit(cache=True, inline="always")
def sample_from_cdf_linear(ust, cdf, lo: int, hi: int) -> int:
    """Inversion by sequential search from ``lo`` (cheapest when the mass sits near ``lo``)."""
    u = uniform(ust)
    j = lo
    while j < hi and u >= cdf[j]:
        j += 1
    return j - lo


@numba.njit(cache=True, inline="always")
def sample_from_cdf(ust, cdf, lo: int, hi: int) -> int:
    """Inversion by binary search: (smallest j in [lo, hi] with u < cdf[j]) - lo."""
    u = uniform(ust)
    start = lo
    while lo < hi:
        mid = (lo + hi) >> 1
        if u < cdf[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo - start


def poisson_cdf_tables(decay: np.ndarray, lam_max: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    """CDF tables of Poisson(h * decay[q, src]) for every integer h with mean <= ``lam_max``.

    Returns ``(cdf, offsets)``: the table of (q, src, h) is ``cdf[offsets[q, src, h] :
    offsets[q, src, h + 1]]``, truncated where the upper tail is < 1e-20 (last entry set to
    1); an empty range marks means above ``lam_max``, which the caller draws with the
    library's O(1) PTRS sampler instead.
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
                log_pmf = (-lam[:, None] + k_all[None, :] * np.log(lam)[:, None]
                           - gammaln(k_all + 1.0)[None, :])
            log_pmf[0] = -np.inf
            log_pmf[0, 0] = 0.0  # h = 0: no decay
            cdf_all = np.cumsum(np.exp(log_pmf), axis=1)
            for h in range(h_max + 1):
                offsets[q, src, h] = pos
                if lam[h] > lam_max:
                    continue
                cdf = cdf_all[h, : k_max[h] + 1].copy()
                cdf[-1] = 1.0
                pieces.append(cdf)
                pos += len(cdf)
            offsets[q, src, h_max + 1] = pos
    return np.concatenate(pieces), offsets


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
