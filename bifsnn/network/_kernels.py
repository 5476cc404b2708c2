"""numba helpers shared by the SNN and Markov-model kernels (random draws, alias tables,
recording).

Uniform draws come from an inlined xoshiro256** generator (about 1 ns per draw against about
6 ns through numba's ``np.random.Generator`` interface, which cannot be inlined); the Markov
model's Gaussian draws use the numpy ``Generator`` (the SNN draws everything from xoshiro,
see :mod:`bifsnn.network._blocked`).  Both are seeded from the same ``default_rng(seed)``, so
a seed still determines the run bit for bit.

Threshold, reset and raster recording are written out in each kernel on purpose: as a shared
``inline="always"`` helper taking the state arrays (commit ad12dee) numba's IR inlining added
array reference-count updates on every neuron-step that its refcount pruning does not remove
across the helper's branches, and the Markov model ran 2x, the annealed SNN 1.35x slower
(same output); as a plain njit call it was worse still.  Keep array-taking helpers in the
per-neuron loop branch-free or measure them (``benchmarks/bench_simulators.py --reference``).
"""

from __future__ import annotations

import numpy as np
from numba import uint64

from bifsnn._cache import njit_cached


def make_uniform_state(rng: np.random.Generator) -> np.ndarray:
    """xoshiro256** state (4 nonzero uint64 words) drawn from ``rng``."""
    return rng.integers(1, 2**63, size=4, dtype=np.uint64)


@njit_cached(inline="always")
def _rotl(x, k):
    return (x << uint64(k)) | (x >> uint64(64 - k))


@njit_cached(inline="always")
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


@njit_cached(_nrt=False)  # allocates nothing: no reference counts on its arrays per call
def build_alias(pmf, start, K, prob, alias, small, large) -> None:
    """Walker/Vose alias table of the (unnormalised) pmf[start : start + K].

    Writes ``prob`` and ``alias`` (indices relative to ``start``) at [start, start + K);
    ``small`` and ``large`` are int scratch arrays of length >= K.  A draw then costs one
    uniform and one comparison, whatever the distribution (the SNN packs these tables for
    integer draws: :func:`bifsnn.network._blocked.pack_alias`).
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


@njit_cached(_nrt=False)  # allocates nothing: no reference counts on its arrays per call
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
