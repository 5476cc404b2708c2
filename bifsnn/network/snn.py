"""Clock-driven simulator of the spiking E-I network of docs/MODEL.md section 1 (numba).

Neurons 0..N_E-1 are excitatory, N_E..N_E+N_I-1 inhibitory.  Each neuron carries a voltage, a
refractory flag and two pending-spike counters (from E and from I).  Connectivity is
"annealed" (every spike reaches every neuron with a fresh Bernoulli draw; default) or
"quenched" (one fixed random connection matrix, no self-connections).  The external drive is
Gaussian with mean = variance = lambda dt (default) or exact Poisson(lambda dt).

Order within a step (docs/MODEL.md 1): refractory neurons leave with probability dt / tau_R (they
receive no input in that step); every other neuron integrates external, excitatory and
conductance-like inhibitory input and may spike; then every pending-spike counter gains its
Binomial(n_Q', p) births and loses its Poisson(H dt / tau) decays, both drawn from H(t).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np

from bifsnn.network import _driver as drv
from bifsnn.network._kernels import (
    binomial_alias,
    poisson_alias_tables,
    sample_histogram,
    xoshiro_next,
)
from bifsnn.network.params import NetworkParams, ParameterError
from bifsnn.network.results import SimulationResult
from bifsnn.network.states import NetworkState, check_initial_state

__all__ = ["simulate_snn", "CONNECTIVITIES"]

CONNECTIVITIES = ("annealed", "quenched")


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
    """Step 6 of docs/MODEL.md 1: H <- max(0, H + Binomial(n_Q', p) - Poisson(H dt / tau)).

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
    bin_prob = tables.bin_prob
    bin_alias = tables.bin_alias
    bin_lo = tables.bin_lo
    bin_K = tables.bin_K
    pois_prob = tables.pois_prob
    pois_alias = tables.pois_alias
    off = tables.pois_off
    h_table = off.shape[2] - 1
    # the alias draws of _kernels.sample_alias, written out on a local xoshiro state
    s0, s1, s2, s3 = ust[0], ust[1], ust[2], ust[3]
    for i in range(H.shape[0]):
        q = pop[i]
        for src in range(2):
            h = H[i, src]
            if quenched:
                b = births[i, src]
            elif n_src[src] > 0:
                lo = bin_lo[q, src]
                K = bin_K[q, src]
                u, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
                u *= K
                j = int(u)
                if j >= K:
                    j = K - 1
                if u - j >= bin_prob[q, src, lo + j]:
                    j = bin_alias[q, src, lo + j]
                b = lo + j
            else:
                b = 0
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
                    d = rng.poisson(h * decay[q, src])
            h = h + b - d
            H[i, src] = h if h > 0 else 0
    ust[0] = s0
    ust[1] = s1
    ust[2] = s2
    ust[3] = s3


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
        s0, s1, s2, s3 = ust[0], ust[1], ust[2], ust[3]
        for i in range(N):
            if refr[i]:  # exponential refractory period: leave w.p. dt / tau_R, V stays V_reset
                u, s0, s1, s2, s3 = xoshiro_next(s0, s1, s2, s3)
                if u < p_leave:
                    refr[i] = False
                    V[i] = V_reset
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
            if v_new > M:  # threshold and reset (docs/MODEL.md 1, step 5)
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
        ust[0] = s0
        ust[1] = s1
        ust[2] = s2
        ust[3] = s3
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
    # int32 targets: the scatter of births streams this list (0.8 N^2 entries) from memory
    # every step, so half the bytes is ~half the memory traffic
    indices = np.concatenate(chunks).astype(np.int32) if chunks else np.zeros(0, np.int32)
    return indptr, indices


def simulate_snn(
    params: NetworkParams,
    *,
    t_ms: float,
    seed: int | None = 0,
    connectivity: str = "annealed",
    drive: str = "gaussian",
    raster_neurons=None,
    voltage_hist_every_ms: float | None = None,
    voltage_hist_edges: np.ndarray | None = None,
    progress: bool = True,
    initial_state: NetworkState | None = None,
    parallel: bool = False,
    threads: int | None = None,
) -> SimulationResult:
    """Simulate the spiking network for ``t_ms`` ms from V = 0, H = 0, nobody refractory
    (or from ``initial_state``: V, refractory flags and pending spikes H; see
    :func:`bifsnn.network.states.state_from_reduced`).

    ``seed`` follows numpy ``default_rng`` semantics: the same seed gives bit-identical output.
    ``raster_neurons``: None, "all" or neuron indices whose spikes are recorded.
    ``voltage_hist_every_ms``: sample per-population voltage histograms at this interval over
    ``voltage_hist_edges`` (uniform; default the reduction's grid DV = 4 on [-40, 100)).

    ``parallel=True`` runs the block-partitioned multi-threaded kernel (:mod:`._blocked`):
    fixed blocks of 1024 neurons, each with its own random stream, so the output depends on
    the seed and not on the number of threads; it is statistically identical to the serial
    kernel, not bit-identical to it.  It runs on numba's current thread count
    (``numba.set_num_threads``, ``NUMBA_NUM_THREADS``) or on ``threads`` threads for this call
    only.  Worth it from N ~ 10^4.
    """
    drv.check_choice("connectivity", connectivity, CONNECTIVITIES)
    n_threads = check_threads(parallel, threads)
    if initial_state is not None:
        check_initial_state(initial_state, params)
    run_setup = drv.prepare_run(params, t_ms, seed, drive, raster_neurons,
                                voltage_hist_every_ms, voltage_hist_edges,
                                quenched=connectivity == "quenched")
    seed, n_steps, mask, hist_every, edges, rng, ust, pop, S, p, tau = run_setup
    n = len(pop)
    a_syn = S * params.dt / tau  # voltage per pending spike per step
    decay = params.dt / tau
    tables = pending_tables(p, decay, max(params.N_E, params.N_I))
    if connectivity == "quenched":
        indptr, indices = _quenched_connectivity(p, pop, rng)
    else:
        indptr, indices = np.zeros(1, np.int64), np.zeros(0, np.int32)

    V = np.zeros(n)
    refr = np.zeros(n, dtype=np.bool_)
    H = np.zeros((n, 2), dtype=np.int64)
    if initial_state is not None:
        V[:] = initial_state.V
        refr[:] = initial_state.refractory
        H[:] = initial_state.H
    births = np.zeros((n, 2), dtype=np.int64)
    spiked = np.zeros(n, dtype=np.int64)
    leak_dt = 0.0 if params.tau_m is None else params.dt / params.tau_m
    options = {"connectivity": connectivity, "drive": drive, "t_ms": n_steps * params.dt}
    if initial_state is not None:
        options["initial_state"] = "given"
    if parallel:
        options["parallel"] = True
        run = _run_blocked(params, n_steps, mask, hist_every, edges, progress, V, refr, H,
                           pop, a_syn, drive, leak_dt, connectivity == "quenched", indptr,
                           indices, tables, ust, n_threads)
        return drv.build_result("snn", params, seed, options, run, hist_every, edges)

    def chunk(step0, k, counts, mask_, rbuf_n, rbuf_s, every, edges_, hist, hist_ref):
        return _snn_steps(
            V, refr, H, pop, a_syn, params.lambda_ext * params.dt, drive == "poisson",
            params.M, params.M_r, params.V_reset, leak_dt, params.dt / params.tau_R,
            connectivity == "quenched", indptr, indices, births, spiked, tables, rng, ust,
            step0, k, counts, mask_, rbuf_n, rbuf_s, every, edges_[0], edges_[1] - edges_[0],
            hist, hist_ref,
        )

    run = drv.run_chunked(chunk, params, n_steps, mask, hist_every, edges, progress, "snn")
    return drv.build_result("snn", params, seed, options, run, hist_every, edges)



def check_threads(parallel: bool, threads: int | None) -> int | None:
    """Validate ``parallel`` / ``threads`` (threads only with parallel=True, 1..numba's max)."""
    if not isinstance(parallel, bool | np.bool_):
        raise ParameterError(f"parallel = {parallel!r} is not allowed: must be True or False")
    if threads is None:
        return None
    if not parallel:
        raise ParameterError("threads is only allowed with parallel=True")
    limit = numba.config.NUMBA_NUM_THREADS
    if isinstance(threads, bool) or not isinstance(threads, int | np.integer) \
            or not 1 <= threads <= limit:
        raise ParameterError(
            f"threads = {threads!r} is out of range: must be an integer in [1, {limit}] "
            "(NUMBA_NUM_THREADS)"
        )
    return int(threads)


def _run_blocked(params, n_steps, mask, hist_every, edges, progress, V, refr, H, pop, a_syn,
                 drive, leak_dt, quenched, indptr, indices, tables, ust, n_threads):
    """Run the block-partitioned kernel through the shared chunk driver."""
    from bifsnn.network import _blocked

    n = len(pop)
    nb = -(-n // _blocked.BLOCK)
    states = _blocked.block_states(ust, nb)
    lam_dt = params.lambda_ext * params.dt
    cdf = _blocked.poisson_cdf_table(lam_dt) if drive == "poisson" else np.ones(1)
    births = np.zeros((n, 2), dtype=np.int64)
    spiked = np.zeros((2, n), dtype=np.int64)
    blk_cnt = np.zeros((2, nb), dtype=np.int64)
    blk_ne = np.zeros(nb, dtype=np.int64)
    blk_ni = np.zeros(nb, dtype=np.int64)
    n_prev = np.zeros(2, dtype=np.int64)

    def chunk(step0, k, counts, mask_, rbuf_n, rbuf_s, every, edges_, hist, hist_ref):
        return _blocked.blocked_steps(
            V, refr, H, pop, a_syn, lam_dt, drive == "poisson", cdf, params.M, params.M_r,
            params.V_reset, leak_dt, params.dt / params.tau_R, quenched, indptr, indices,
            births, spiked, blk_cnt, blk_ne, blk_ni, n_prev, tables, states, step0, k,
            counts, mask_, rbuf_n, rbuf_s, every, edges_[0], edges_[1] - edges_[0], hist,
            hist_ref,
        )

    previous = numba.get_num_threads()
    if n_threads is not None:
        numba.set_num_threads(n_threads)  # the caller asked for it; restored below
    try:
        return drv.run_chunked(chunk, params, n_steps, mask, hist_every, edges, progress,
                               "snn")
    finally:
        if n_threads is not None:
            numba.set_num_threads(previous)
