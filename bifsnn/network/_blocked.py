"""The SNN kernel: block-partitioned, serial or multi-threaded (``simulate_snn``).

The neurons are split into fixed blocks of :data:`BLOCK` consecutive indices (the partition
depends on N only).  Every block owns an xoshiro256** stream, the seed's base state jumped
``b`` times by 2^128 (non-overlapping streams), and draws everything from it: the Gaussian
drive by an inlined 256-layer ziggurat, the Poisson drive by inversion of a precomputed cdf,
refractory exits, births (a packed alias table per step and pathway) and decays (cached packed
alias tables per pathway and count for means <= 30, an inlined copy of numpy's PTRS sampler
above).  :func:`serial_steps` runs the blocks one after the other, :func:`parallel_steps` the
same blocks on numba's threads, a whole chunk of steps in one parallel region (the threads
claim blocks and wait for each step's tail through atomic slots, :mod:`._atomics`): the output
depends on the seed only, not on the number of threads nor on the choice of kernel (tested
bit for bit).

One pass per block and step: each block first applies the pending-spike update of the
previous step (docs/MODEL.md 1 step 6, drawn from H(t) with the previous step's spike counts)
and then the voltage update of this step (steps 1-5, 7), neuron by neuron.  After the blocks,
one thread sums their spike counts, writes the raster, sums the blocks' voltage histograms
(each block's neurons are binned right after its pass, by the thread that ran it, so this
O(N) part runs on all the threads) and builds the births' tables (:func:`_step_tail`).
Quenched births are gathered per block from the previous step's spikes: with a bit matrix by
bit-sliced counters (:func:`quenched_births_bits`), with CSR target lists a binary search per
spike.

Speed (benchmarks/README.md): a neuron-step costs about 0.4x the CPU time of the kernel of
commit 1fc1c0e (same process, N = 400 and 4000); the packed alias tables (one raw 64-bit
draw, one load and an integer compare per sample) and the inlined ziggurat replace numpy's
Generator calls, and the Poisson tables are truncated exactly where the upper tail drops
below 1e-20, since a table's size is what its draws' cache misses cost at N = 4000.  The
block pass, the tail and their callees are compiled without numba's reference counting
(``_nrt=False``; they allocate nothing, the quenched births' counters use per-block scratch
in :class:`SamplerTables`): with it, every call counted up and down the references of its ~30
array arguments, atomic operations that cost ~0.4-0.7 us per step (measured at N = 4) and
that the threads of :func:`parallel_steps` contended for; with unsigned indices in the
per-neuron loop, a step at N = 400 costs 0.73-0.76x the CPU time it did, same output.  The
output is statistically identical to that of the earlier kernels (tests/test_simulators.py),
not bit-identical.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numba
import numpy as np
from numba import uint64

from bifsnn._cache import njit_cached
from bifsnn.network._atomics import atomic_add, atomic_cas, atomic_load, atomic_store, spin_pause
from bifsnn.network._kernels import build_alias

#: Neurons per block (per random stream).  Fixed: the partition must not depend on threads.
BLOCK = 1024

# ---------------------------------------------------------------------------------------------
# xoshiro256**: raw 64-bit output and jump (2^128 steps) for independent block streams
# ---------------------------------------------------------------------------------------------

_JUMP = np.array([0x180EC6D33CFD0ABA, 0xD5A61266F0C9392C, 0xA9582618E03FC9AA,
                  0x39ABDC4529B1661C], dtype=np.uint64)


@njit_cached(inline="always")
def _rotl(x, k):
    return (x << uint64(k)) | (x >> uint64(64 - k))


@njit_cached(inline="always")
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


@njit_cached()
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


@njit_cached()
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


@njit_cached(inline="always")
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


@njit_cached()
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


@njit_cached()
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


@njit_cached()
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
# packed alias tables: one raw 64-bit draw and one load per sample
# ---------------------------------------------------------------------------------------------
#
# A table of K outcomes is padded with zero-probability outcomes to K2 = 2^L entries (L <= 16);
# entry j packs the acceptance threshold t_j = round(prob_j 2^32) (33 bits; 2^32 = always) and
# the alias a_j (16 bits) as t_j << 16 | a_j.  A draw from a raw xoshiro output r: j = the top
# L bits of r's upper half, kept if the low 32 bits of r are < t_j, else a_j (Walker/Vose
# alias method with integer arithmetic; probabilities are exact to 2^-33).

_M32 = np.uint64(0xFFFFFFFF)
_M16 = np.uint64(0xFFFF)
_TWO32 = 4294967296.0
#: Largest packed table: 2^16 outcomes (the alias is stored in 16 bits).
MAX_TABLE_BITS = 16


@njit_cached(_nrt=False)  # allocates nothing; see _block_pass
def pack_alias(pmf, start, K, out, out_start, pad, prob, alias, small, large):
    """Packed alias table of the (unnormalised) pmf[start : start + K] written at
    ``out[out_start : out_start + 2^L]``; returns L.  ``pad``, ``prob``, ``alias``, ``small``
    and ``large`` are scratch arrays of length >= 2^L."""
    L = 0
    while (1 << L) < K:
        L += 1
    if L > MAX_TABLE_BITS:
        raise ValueError("alias table too large (more than 2^16 outcomes)")
    K2 = 1 << L
    for j in range(K):
        pad[j] = pmf[start + j]
    for j in range(K, K2):
        pad[j] = 0.0
    build_alias(pad, 0, K2, prob, alias, small, large)
    for j in range(K2):
        x = prob[j] * _TWO32 + 0.5
        t = uint64(_TWO32) if x >= _TWO32 else uint64(x)
        out[out_start + j] = (t << uint64(16)) | uint64(alias[j])
    return L


@njit_cached(inline="always")
def alias_draw(r, tab, base, L):
    """Outcome in [0, 2^L) of the packed table at ``tab[base:]`` for the raw draw ``r``."""
    j = np.int64((r >> uint64(32)) >> uint64(32 - L))
    e = tab[base + j]
    if (r & _M32) >= (e >> uint64(16)):
        j = np.int64(e & _M16)
    return j


@njit_cached()
def sample_packed(state, tab, base, L, n):
    """``n`` draws of :func:`alias_draw` from ``state`` (updated); for tests."""
    out = np.empty(n, np.int64)
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    for k in range(n):
        r, s0, s1, s2, s3 = xoshiro_u64(s0, s1, s2, s3)
        out[k] = alias_draw(r, tab, base, L)
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3
    return out


@njit_cached(_nrt=False)  # allocates nothing; see _block_pass
def binomial_packed(n, p, pmf, out, out_start, pad, prob, alias, small, large):
    """Packed alias table of Binomial(n, p) at ``out[out_start : out_start + 2^L]``,
    restricted to where its pmf exceeds 1e-20 of the mode (built from the mode outwards by
    the ratio recurrence; the neglected mass is < 1e-17).  Returns (lo, L): a draw is
    ``lo + alias_draw(r, out, out_start, L)``.
    """
    if p <= 0.0 or p >= 1.0 or n == 0:
        out[out_start] = uint64(_TWO32) << uint64(16)
        return (n if p >= 1.0 else 0), 0
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
    L = pack_alias(pmf, lo, hi - lo + 1, out, out_start, pad, prob, alias, small, large)
    return lo, L


class SamplerTables(NamedTuple):
    """Tables of the pending-spike update (docs/MODEL.md 1, step 6) for the kernels below."""

    decay: np.ndarray  # dt / tau, [post, pre]
    p_conn: np.ndarray  # connection probabilities, [post, pre]
    dtab: np.ndarray  # packed alias tables of Poisson(h dt / tau), concatenated
    dmeta: np.ndarray  # (2, 2, h_table): offset << 6 | L of the table of (post, pre, h); -1: PTRS
    btab: np.ndarray  # this step's packed binomial tables of the births, (post, pre) at
    # offset (2 post + pre) * len(pad)
    blo: np.ndarray  # (2, 2) their lowest outcome
    bL: np.ndarray  # (2, 2) their size exponent
    planes: np.ndarray  # (n_blocks, rows, BLOCK / 64) scratch of the quenched births' counters
    pmf: np.ndarray  # scratch for the binomial tables
    pad: np.ndarray
    prob: np.ndarray
    alias: np.ndarray
    small: np.ndarray
    large: np.ndarray


@njit_cached()
def _pack_all(pmf, seg_start, seg_len, out_start, out, pad, prob, alias, small, large):
    for t in range(seg_start.shape[0]):
        pack_alias(pmf, seg_start[t], seg_len[t], out, out_start[t], pad, prob, alias, small,
                   large)


def sampler_tables(p_conn: np.ndarray, decay: np.ndarray, n_max: int,
                   lam_max: float = 30.0, n_blocks: int = 1) -> SamplerTables:
    """Tables for populations of at most ``n_max`` neurons: packed alias tables of
    Poisson(h decay[q, src]) for every h with mean <= ``lam_max`` (above it the kernels draw by
    PTRS; see :func:`poisson_tables`), room for the per-step binomial tables of the
    births, and the scratch of ``n_blocks`` blocks' quenched births (the kernels allocate
    nothing)."""
    decay = np.ascontiguousarray(decay, dtype=float)
    dtab, dmeta = poisson_tables(decay.tobytes(), float(lam_max))
    width = max(1 << max(0, int(2 * n_max + 1).bit_length()), 256)
    return SamplerTables(
        decay, p_conn, dtab, dmeta, np.zeros(4 * width, np.uint64),
        np.zeros((2, 2), np.int64), np.zeros((2, 2), np.int64),
        np.zeros((max(1, n_blocks), plane_rows(n_max), BLOCK // 64), np.uint64),
        np.zeros(n_max + 1),
        np.zeros(width), np.zeros(width), np.zeros(width, np.int64),
        np.zeros(width, np.int64), np.zeros(width, np.int64),
    )


@functools.lru_cache(maxsize=8)
def poisson_tables(decay_bytes: bytes, lam_max: float) -> tuple[np.ndarray, np.ndarray]:
    """(dtab, dmeta): packed alias tables of Poisson(h decay[q, src]) (``decay_bytes``: the
    2 x 2 float array's bytes) for every h >= 1 with mean <= ``lam_max``, each truncated where
    the upper tail is < 1e-20 (a table's size is what a draw's cache misses cost); the table of
    (q, src, h) is ``dtab[o : o + 2^L]`` with ``dmeta[q, src, h] = o << 6 | L`` (-1: none).
    Cached (about 30 ms to build, read-only for the kernels)."""
    from scipy.special import gammaln

    decay = np.frombuffer(decay_bytes, dtype=float).reshape(2, 2)
    h_max = int(lam_max / decay.min()) + 1
    k_all = np.arange(int(lam_max + 14.0 * np.sqrt(lam_max) + 40.0))
    dmeta = np.full((2, 2, h_max + 1), -1, dtype=np.int64)
    pieces, seg_start, seg_len, out_start = [], [], [], []
    pos = 0
    opos = 0
    for q in range(2):
        for src in range(2):
            lam = np.arange(h_max + 1) * decay[q, src]
            with np.errstate(divide="ignore", invalid="ignore"):
                pmf_all = np.exp(-lam[:, None] + k_all[None, :] * np.log(lam)[:, None]
                                 - gammaln(k_all + 1.0)[None, :])
            # upper tail beyond k: sf[h, k] = P(X > k); keep 0..k_max with sf < 1e-20
            sf = np.cumsum(pmf_all[:, ::-1], axis=1)[:, ::-1] - pmf_all
            for h in range(1, h_max + 1):
                if lam[h] > lam_max:
                    break
                K = int(np.argmax(sf[h] < 1e-20)) + 1
                L = max(0, int(K - 1).bit_length())
                pieces.append(pmf_all[h, :K])
                seg_start.append(pos)
                seg_len.append(K)
                out_start.append(opos)
                dmeta[q, src, h] = (opos << 6) | L
                pos += K
                opos += 1 << L
    pmf = np.concatenate(pieces)
    dtab = np.zeros(opos, dtype=np.uint64)
    width = 1 << (max(seg_len) - 1).bit_length()
    pad, prob = np.zeros(width), np.zeros(width)
    alias, small, large = (np.zeros(width, np.int64) for _ in range(3))
    _pack_all(pmf, np.array(seg_start, np.int64), np.array(seg_len, np.int64),
              np.array(out_start, np.int64), dtab, pad, prob, alias, small, large)
    return dtab, dmeta


# ---------------------------------------------------------------------------------------------
# the kernel: one pass per block and step, then one serial tail per step
# ---------------------------------------------------------------------------------------------


#: From this many spikes of a population in a step, quenched births are counted by
#: bit-sliced (Harley-Seal) counters, below by adding the rows' bits one by one.
HS_MIN_SPIKES = 8


def plane_rows(max_count: int) -> int:
    """Rows of :func:`quenched_births_bits`' scratch for up to ``max_count`` spikes of a
    population in a step: the bit planes of the counts (at least 3) and a row of carries."""
    return max(3, int(max_count).bit_length()) + 1


@njit_cached(inline="always")
def _csa(a, b, c):
    """Carry-save adder on 64 one-bit lanes: (carry, sum) of a + b + c."""
    u = a ^ b
    return (a & b) | (u & c), u ^ c


@njit_cached(_nrt=False)  # allocates nothing; see _block_pass
def quenched_births_bits(conn, spk, first, count, acc, lo, hi, planes):
    """``acc[lo:hi]`` (padded to whole 64-bit words) = the number of the spikes
    ``spk[first : first + count]`` whose row of the bit matrix ``conn`` (row n: zeros) has the
    target's bit set.  ``planes``: uint64 scratch of at least :func:`plane_rows` (count) rows
    of ``ceil(hi / 64) - lo // 64`` words (one per block, since blocks run on several threads).

    From :data:`HS_MIN_SPIKES` spikes on, by bit-sliced counters: plane k of word w holds bit k
    of the 64 targets' counts, eight rows at a time go through a Harley-Seal carry-save tree
    into planes 0-2 and the eights ripple into the planes above; then the planes are expanded
    into the counts (about 1/3 of the row-by-row cost at 50 spikes, 1/3 at 500).
    """
    w0 = lo >> 6
    nw = ((hi + 63) >> 6) - w0
    if count < HS_MIN_SPIKES:
        for w in range(nw):
            out = acc[(w0 + w) << 6:(w0 + w + 1) << 6]
            for t in range(uint64(64)):
                out[t] = 0
        for s in range(first, first + count):
            row = conn[spk[s]]
            for w in range(nw):
                x = row[w0 + w]
                out = acc[(w0 + w) << 6:(w0 + w + 1) << 6]
                # an unsigned index: no negative-index wraparound, so LLVM vectorises
                for t in range(uint64(64)):
                    out[t] += np.int32((x >> t) & uint64(1))
        return
    n_planes = 3
    while (1 << n_planes) <= count:
        n_planes += 1
    if n_planes + 1 > planes.shape[0] or nw > planes.shape[1]:
        raise ValueError("quenched_births_bits: planes scratch too small")
    for k in range(n_planes + 1):
        for w in range(nw):
            planes[k, w] = 0
    carry = planes[n_planes]  # the row after the planes: the carries
    zero = conn.shape[0] - 1
    end = first + count
    for g in range(first, end, 8):
        j0 = spk[g]
        j1 = spk[g + 1] if g + 1 < end else zero
        j2 = spk[g + 2] if g + 2 < end else zero
        j3 = spk[g + 3] if g + 3 < end else zero
        j4 = spk[g + 4] if g + 4 < end else zero
        j5 = spk[g + 5] if g + 5 < end else zero
        j6 = spk[g + 6] if g + 6 < end else zero
        j7 = spk[g + 7] if g + 7 < end else zero
        for w in range(nw):
            c = w0 + w
            ones = planes[0, w]
            twos = planes[1, w]
            fours = planes[2, w]
            ta, ones = _csa(ones, conn[j0, c], conn[j1, c])
            tb, ones = _csa(ones, conn[j2, c], conn[j3, c])
            fa, twos = _csa(twos, ta, tb)
            ta, ones = _csa(ones, conn[j4, c], conn[j5, c])
            tb, ones = _csa(ones, conn[j6, c], conn[j7, c])
            fb, twos = _csa(twos, ta, tb)
            carry[w], fours = _csa(fours, fa, fb)
            planes[0, w] = ones
            planes[1, w] = twos
            planes[2, w] = fours
        for k in range(3, n_planes):  # ripple the eights upwards
            left = uint64(0)
            for w in range(nw):
                cw = carry[w]
                t = planes[k, w] & cw
                planes[k, w] ^= cw
                carry[w] = t
                left |= t
            if left == 0:
                break
    for w in range(nw):
        out = acc[(w0 + w) << 6:(w0 + w + 1) << 6]
        for t in range(uint64(64)):
            out[t] = 0
        for k in range(n_planes):
            x = planes[k, w]
            for t in range(uint64(64)):
                out[t] += np.int32(((x >> t) & uint64(1)) << uint64(k))


@njit_cached(inline="always")
def _alias_draw_u(r, tab, base, L):
    """:func:`alias_draw` with an unsigned table offset ``base`` (no negative-index
    wraparound in the hot loop)."""
    j = (r >> uint64(32)) >> uint64(32 - L)
    e = tab[base + j]
    if (r & _M32) >= (e >> uint64(16)):
        j = e & _M16
    return np.int64(j)


# _nrt=False (numba's switch for functions that allocate nothing): a call to an njit function
# otherwise increments and decrements the reference count of every array argument, each an
# atomic operation through a call: about 60 per block pass and 60 per tail (the tables
# NamedTuple alone holds 13 arrays), 0.4-0.7 us per step, and cache lines bouncing between
# the threads of the parallel kernel, which all count the same arrays.  numba compiles the
# callees of such a function without reference counting too, so none of them may allocate.
# Indices into the per-neuron arrays are unsigned: a signed index costs a negative-index
# wraparound select on every access.
@njit_cached(_nrt=False)
def _block_pass(b, do_pending, do_voltage, cur, ne_prev, ni_prev, V, refr, H, pop, a_syn,
                lam_dt, drive_poisson, drive_cdf, M, M_r, V_reset, leak_dt, p_leave,
                quenched, conn, indptr, indices, births, spiked, blk_cnt, blk_ne, blk_ni,
                tables, ust):
    """Block b's pending-spike update of the previous step (if ``do_pending``) and voltage
    update of this step (if ``do_voltage``), neuron by neuron in one pass."""
    N = V.shape[0]
    lo = b * BLOCK
    hi = min(N, lo + BLOCK)
    prv = 1 - cur
    inv_span = 1.0 / (M + M_r)
    sqrt_lam = math.sqrt(lam_dt)
    ki = ZIG_KI
    wi = ZIG_WI
    fi = ZIG_FI
    decay = tables.decay
    btab = tables.btab
    width = uint64(tables.pad.shape[0])
    blo = tables.blo
    bL = tables.bL
    dtab = tables.dtab
    dmeta = tables.dmeta
    h_table = uint64(dmeta.shape[2])
    n_cdf = drive_cdf.shape[0]
    dense = conn.shape[0] > 0
    if do_pending and quenched:
        spk = spiked[prv]  # the previous step's spikes, E then I (compacted by _step_tail)
        for src in range(2):
            first = 0 if src == 0 else ne_prev
            count = ne_prev if src == 0 else ni_prev
            if dense:
                quenched_births_bits(conn, spk, first, count, births[src], lo, hi,
                                     tables.planes[b])
                continue
            for i in range(lo, hi):
                births[src, i] = 0
            for s in range(first, first + count):
                j = spk[s]
                a = indptr[j]
                e = indptr[j + 1]
                p0 = a + np.searchsorted(indices[a:e], lo)
                for ptr in range(p0, e):
                    t = indices[ptr]
                    if t >= hi:
                        break
                    births[src, t] += 1
    s0, s1, s2, s3 = ust[b, 0], ust[b, 1], ust[b, 2], ust[b, 3]
    cnt = 0
    ne = 0
    ni = 0
    one = uint64(1)
    for i in range(uint64(lo), uint64(hi)):
        q = uint64(pop[i])
        if do_pending:
            for src in range(uint64(2)):
                h = H[i, src]
                if quenched:
                    bb = np.int64(births[src, i])
                elif (ne_prev if src == 0 else ni_prev) > 0:
                    r, s0, s1, s2, s3 = xoshiro_u64(s0, s1, s2, s3)
                    bb = blo[q, src] + _alias_draw_u(r, btab, (q + q + src) * width,
                                                     bL[q, src])
                else:
                    bb = 0
                d = 0
                if h > 0:
                    m = dmeta[q, src, uint64(h)] if uint64(h) < h_table else -1
                    if m >= 0:
                        r, s0, s1, s2, s3 = xoshiro_u64(s0, s1, s2, s3)
                        d = _alias_draw_u(r, dtab, uint64(m >> 6), m & 63)
                    else:
                        d, s0, s1, s2, s3 = poisson_ptrs(h * decay[q, src], s0, s1, s2, s3)
                h = h + bb - d
                H[i, src] = h if h > 0 else 0
        if not do_voltage:
            continue
        if refr[i]:  # exponential refractory period, V stays V_reset
            r, s0, s1, s2, s3 = xoshiro_u64(s0, s1, s2, s3)
            if (r >> uint64(11)) * _U53 < p_leave:
                refr[i] = False
                V[i] = V_reset
            continue
        if drive_poisson:
            r, s0, s1, s2, s3 = xoshiro_u64(s0, s1, s2, s3)
            u = (r >> uint64(11)) * _U53
            m2 = 0
            while m2 < n_cdf - 1 and u >= drive_cdf[m2]:
                m2 += 1
            ext = float(m2)
        else:
            z, s0, s1, s2, s3 = zig_normal(s0, s1, s2, s3, ki, wi, fi)
            ext = lam_dt + sqrt_lam * z
        v = V[i]
        exc = a_syn[q, 0] * H[i, 0]
        inh = a_syn[q, one] * H[i, one] * (v + M_r) * inv_span
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


@njit_cached(_nrt=False)  # see _block_pass
def _block_histogram(b, V, refr, pop, e0, de, hpart, hrpart):
    """Voltage histogram and refractory counts of block b's neurons per population into
    ``hpart[b]`` and ``hrpart[b]``, binned exactly as
    :func:`~bifsnn.network._kernels.sample_histogram` does (called after the block's pass of
    a step that is sampled; the step's tail sums the blocks')."""
    lo = b * BLOCK
    hi = min(V.shape[0], lo + BLOCK)
    nbins = hpart.shape[2]
    for q in range(2):
        hrpart[b, q] = 0
        for j in range(nbins):
            hpart[b, q, j] = 0
    for i in range(uint64(lo), uint64(hi)):
        q = uint64(pop[i])
        if refr[i]:
            hrpart[b, q] += 1
            continue
        j = int(np.floor((V[i] - e0) / de))
        if j < 0:
            j = 0
        elif j >= nbins:
            j = nbins - 1
        hpart[b, q, j] += 1


@njit_cached(_nrt=False)  # see _block_pass
def _step_tail(step, cur, pop, quenched, spiked, blk_cnt, blk_ne, blk_ni, n_prev, tables,
               counts, mask, rbuf_n, rbuf_s, written, hist_every, hpart, hrpart, hist,
               hist_ref):
    """After a step's voltage update (one thread): spike counts, raster, the births' tables
    for the next step, the histogram sample (the sum of the blocks' ``hpart`` / ``hrpart``,
    binned in their passes).  Returns the raster events written so far."""
    nb = blk_ne.shape[0]
    n_e = 0
    n_i = 0
    for c in range(nb):
        n_e += blk_ne[c]
        n_i += blk_ni[c]
    counts[step, 0] = n_e
    counts[step, 1] = n_i
    n_prev[0] = n_e
    n_prev[1] = n_i
    if rbuf_n.shape[0] > 0:
        for c in range(nb):
            for s in range(blk_cnt[cur, c]):
                nrn = spiked[cur, c * BLOCK + s]
                if mask[nrn]:
                    rbuf_n[written] = nrn
                    rbuf_s[written] = step
                    written += 1
    if quenched:  # this step's spikes as one list, E then I, for the next pending update
        pos = 0
        for c in range(nb):
            base = c * BLOCK
            for s in range(blk_cnt[cur, c]):
                spiked[cur, pos] = spiked[cur, base + s]
                pos += 1
    else:
        n_src = (n_e, n_i)
        for q in range(2):
            for src in range(2):
                if n_src[src] > 0:
                    lo, L = binomial_packed(n_src[src], tables.p_conn[q, src], tables.pmf,
                                            tables.btab, (2 * q + src) * tables.pad.shape[0],
                                            tables.pad, tables.prob, tables.alias,
                                            tables.small, tables.large)
                    tables.blo[q, src] = lo
                    tables.bL[q, src] = L
    if hist_every > 0 and (step + 1) % hist_every == 0:
        idx = (step + 1) // hist_every - 1
        for c in range(nb):
            for q in range(2):
                hist_ref[idx, q] += hrpart[c, q]
                for j in range(hist.shape[2]):
                    hist[idx, q, j] += hpart[c, q, j]
    return written


@njit_cached()
def serial_steps(
    V, refr, H, pop, a_syn, lam_dt, drive_poisson, drive_cdf, M, M_r, V_reset, leak_dt,
    p_leave, quenched, conn, indptr, indices, births, spiked, blk_cnt, blk_ne, blk_ni, n_prev,
    tables, ust, step0, n, counts, mask, rbuf_n, rbuf_s, hist_every, e0, de, hist, hist_ref,
):
    """Advance ``n`` steps in place on one thread; return the raster events written.

    Same blocks, streams and order of draws as :func:`parallel_steps`, hence the same output.
    ``spiked`` (2, N) and ``blk_cnt`` (2, n_blocks) are double-buffered by step parity: a
    block gathers its quenched births from the previous step's spikes while the others record
    this step's.  ``n_prev`` holds the previous step's (n_E, n_I) across calls: the pending
    update of a chunk's last step is applied at the end of the chunk, so H is consistent
    between calls.
    """
    nb = ust.shape[0]
    hpart = np.zeros((nb, 2, hist.shape[2]), dtype=np.int64)
    hrpart = np.zeros((nb, 2), dtype=np.int64)
    written = 0
    for k in range(n + 1):
        cur = (step0 + k) % 2
        ne_prev = n_prev[0]
        ni_prev = n_prev[1]
        hist_now = k < n and hist_every > 0 and (step0 + k + 1) % hist_every == 0
        for b in range(nb):
            _block_pass(b, k > 0, k < n, cur, ne_prev, ni_prev, V, refr, H, pop, a_syn,
                        lam_dt, drive_poisson, drive_cdf, M, M_r, V_reset, leak_dt, p_leave,
                        quenched, conn, indptr, indices, births, spiked, blk_cnt, blk_ne,
                        blk_ni, tables, ust)
            if hist_now:
                _block_histogram(b, V, refr, pop, e0, de, hpart, hrpart)
        if k == n:
            break
        written = _step_tail(step0 + k, cur, pop, quenched, spiked, blk_cnt, blk_ne, blk_ni,
                             n_prev, tables, counts, mask, rbuf_n, rbuf_s, written,
                             hist_every, hpart, hrpart, hist, hist_ref)
    return written


#: Slots of the int64 array through which the threads of :func:`parallel_steps` synchronise,
#: each on its own 64-byte cache line: workers entered, steps whose tail is done, block
#: passes done, raster events written, then one claim slot per block.
_ENTERED, _TAILS, _DONE, _WRITTEN, _CLAIMS = 0, 8, 16, 24, 32
_LINE = 8


@njit_cached(parallel=True)
def parallel_steps(
    V, refr, H, pop, a_syn, lam_dt, drive_poisson, drive_cdf, M, M_r, V_reset, leak_dt,
    p_leave, quenched, conn, indptr, indices, births, spiked, blk_cnt, blk_ne, blk_ni, n_prev,
    tables, ust, step0, n, counts, mask, rbuf_n, rbuf_s, hist_every, e0, de, hist, hist_ref,
    n_workers,
):
    """:func:`serial_steps` with the blocks of every step spread over ``n_workers`` workers
    (numba's thread count; an argument, since ``numba.get_num_threads()`` inside the function
    would keep it out of the cache), all ``n`` steps in one parallel region.

    Each thread (worker) claims blocks of the current step by an atomic compare-and-swap on
    the block's claim slot, its own contiguous range first (the same blocks every step, so
    their state stays in its cache), then the others' from their far end (load balance; a
    delayed thread holds up at most the block it is in).  The thread that completes a step's
    last block runs the step's tail (:func:`_step_tail`) and publishes it; the threads wait
    for it by spinning (pause, then ``sched_yield``).  Any thread may run any block, so the
    region cannot deadlock whatever number of threads numba actually runs it on.  The blocks,
    streams and order of steps are those of :func:`serial_steps`: the same output.
    """
    nb = ust.shape[0]
    sync = np.zeros(_CLAIMS + _LINE * nb, dtype=np.int64)
    hpart = np.zeros((nb, 2, hist.shape[2]), dtype=np.int64)
    hrpart = np.zeros((nb, 2), dtype=np.int64)
    for b in range(nb):
        sync[_CLAIMS + _LINE * b] = -1  # claim slot: the last step that claimed the block
    for _w in numba.prange(n_workers):
        me = atomic_add(sync, _ENTERED, 1)
        own_lo = min(me, n_workers) * nb // n_workers
        own_hi = min(me + 1, n_workers) * nb // n_workers
        n_own = own_hi - own_lo
        for k in range(n + 1):
            spins = 0
            while atomic_load(sync, _TAILS) < k:  # the tail of step k - 1
                spin_pause(spins)
                spins += 1
            cur = (step0 + k) % 2
            # atomic reads: numba's parfor pass would hoist plain reads of n_prev out of the
            # region (it does not see that _step_tail writes it)
            ne_prev = atomic_load(n_prev, 0)
            ni_prev = atomic_load(n_prev, 1)
            hist_now = k < n and hist_every > 0 and (step0 + k + 1) % hist_every == 0
            for j in range(nb):
                # own blocks ascending, then the others' descending from the last block
                if j < n_own:
                    b = own_lo + j
                else:
                    b = nb - 1 - (j - n_own)
                    if b < own_hi:
                        b -= n_own
                slot = _CLAIMS + _LINE * b
                if atomic_load(sync, slot) != k - 1 or not atomic_cas(sync, slot, k - 1, k):
                    continue
                _block_pass(b, k > 0, k < n, cur, ne_prev, ni_prev, V, refr, H, pop, a_syn,
                            lam_dt, drive_poisson, drive_cdf, M, M_r, V_reset, leak_dt,
                            p_leave, quenched, conn, indptr, indices, births, spiked,
                            blk_cnt, blk_ne, blk_ni, tables, ust)
                if hist_now:
                    _block_histogram(b, V, refr, pop, e0, de, hpart, hrpart)
                if atomic_add(sync, _DONE, 1) == (k + 1) * nb - 1 and k < n:
                    written = _step_tail(step0 + k, cur, pop, quenched, spiked, blk_cnt,
                                         blk_ne, blk_ni, n_prev, tables, counts, mask, rbuf_n,
                                         rbuf_s, atomic_load(sync, _WRITTEN), hist_every,
                                         hpart, hrpart, hist, hist_ref)
                    atomic_store(sync, _WRITTEN, written)
                    atomic_store(sync, _TAILS, k + 1)
    return atomic_load(sync, _WRITTEN)
