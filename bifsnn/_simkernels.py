"""numba helpers shared by the SNN and Markov-model kernels (random draws, refractory, recording).

Uniform draws come from an inlined xoshiro256** generator (about 1 ns per draw against about
6 ns through numba's ``np.random.Generator`` interface, which cannot be inlined); Gaussian draws
and the rare large-mean Poisson draws use the numpy ``Generator``.  Both are seeded
from the same ``default_rng(seed)``, so a seed still determines the run bit for bit.
"""

from __future__ import annotations

import math

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
    """CDF of Binomial(n, p) into out[0..n] (log-space pmf, so no underflow for large n).

    Every neuron of a population draws Binomial(n_Q', p) with the same (n, p) in a step, so
    one table per step and pathway turns each draw into one uniform and a binary search
    (exact inversion up to the rounding of the table).
    """
    if p <= 0.0:
        out[: n + 1] = 1.0
        return
    if p >= 1.0:
        out[:n] = 0.0
        out[n] = 1.0
        return
    lp = math.log(p)
    lq = math.log1p(-p)
    lgn = math.lgamma(n + 1.0)
    acc = 0.0
    for k in range(n + 1):
        acc += math.exp(lgn - math.lgamma(k + 1.0) - math.lgamma(n - k + 1.0) + k * lp
                        + (n - k) * lq)
        out[k] = acc
    inv = 1.0 / acc
    for k in range(n + 1):
        out[k] *= inv
    out[n] = 1.0


@numba.njit(cache=True, inline="always")
def sample_from_cdf(ust, cdf, n: int) -> int:
    """Smallest k in [0, n] with u < cdf[k] (inversion by binary search)."""
    u = uniform(ust)
    lo = 0
    hi = n
    while lo < hi:
        mid = (lo + hi) >> 1
        if u < cdf[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@numba.njit(cache=True, inline="always")
def poisson_inversion(ust, lam: float, exp_neg_lam: float) -> int:
    """Poisson(lam) draw by sequential inversion from one uniform (exact; for lam <~ 30).

    ``exp_neg_lam`` is passed in precomputed, which removes the exp() from the hot loop.
    Returns -1 past k = 200 (probability < 1e-100 for lam <= 30): the caller then uses the
    library draw.  (Taking the numpy Generator as an argument here would cost ~10 ns per call
    even when unused, so the fallback lives in the caller.)
    """
    u = uniform(ust)
    k = 0
    term = exp_neg_lam
    cdf = term
    while u > cdf:
        k += 1
        if k > 200:
            return -1
        term *= lam / k
        cdf += term
    return k


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
