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
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from bifsnn.network import _blocked
from bifsnn.network import _driver as drv
from bifsnn.network.params import NetworkParams, ParameterError
from bifsnn.network.results import SimulationResult
from bifsnn.network.states import NetworkState, check_initial_state

__all__ = ["simulate_snn", "CONNECTIVITIES"]

CONNECTIVITIES = ("annealed", "quenched")


#: Rows of the connection matrix drawn per call of the random generator (about 8 MB of doubles).
_BUILD_DOUBLES = 1 << 20


def _quenched_connectivity(p: np.ndarray, pop: np.ndarray, rng: np.random.Generator,
                           workers: int = 1):
    """Fixed random connections (no self-connections); ``p[post, pre]`` are the connection
    probabilities by population.  Returns ``(conn, indptr, indices)``: a bit matrix
    ``conn[pre, w]`` (uint64 words, bit t % 64 of word t // 64 set if pre -> t; 1 bit per pair;
    an extra row n of zeros pads the kernel's groups of eight rows)
    when ``p`` is dense (``_driver.DENSE_MIN_P``; a spike's births are then a row of bits
    added block by block), else CSR lists of int32 postsynaptic targets per presynaptic neuron
    (``conn`` empty).

    Row j takes draws j n ... (j + 1) n - 1 of ``rng`` (uniforms compared with p), the same
    draws either way, so the same network for the same seed.  ``workers`` > 1 threads build
    contiguous ranges of rows, each from a copy of the bit generator advanced to its first row
    (the same draws again; numpy releases the GIL while it fills); ``rng`` ends where a
    one-thread build leaves it."""
    n = len(pop)
    dense = p.mean() >= drv.DENSE_MIN_P
    conn = np.zeros((n + 1, -(-n // 64)) if dense else (0, 0), dtype=np.uint64)  # row n: 0
    conn_bytes = conn.view(np.uint8)
    p_pre = np.stack([p[pop, 0], p[pop, 1]])  # p_pre[src] : probability per post
    bit_gen = rng.bit_generator
    if not hasattr(bit_gen, "advance"):
        workers = 1
    workers = max(1, min(int(workers), n // 256 + 1))
    start_state = bit_gen.state
    cuts = np.linspace(0, n, workers + 1).round().astype(np.int64)
    chunk_rows = max(1, _BUILD_DOUBLES // max(n, 1))

    def build(r0: int, r1: int, g: np.random.Generator) -> list[np.ndarray]:
        buf = np.empty((min(chunk_rows, max(r1 - r0, 1)), n))
        mask = np.empty(buf.shape, dtype=np.bool_)
        lists = []
        for a in range(r0, r1, chunk_rows):
            b = min(r1, a + chunk_rows)
            m = b - a
            g.random(out=buf[:m])
            for src in (0, 1):  # rows a..b-1 from one population, then the other
                rows = np.flatnonzero(pop[a:b] == src)
                if rows.size:
                    lo, hi = rows[0], rows[-1] + 1
                    np.less(buf[lo:hi], p_pre[src], out=mask[lo:hi])
            mask[np.arange(m), np.arange(a, b)] = False
            if dense:
                conn_bytes[a:b, : (n + 7) // 8] = np.packbits(mask[:m], axis=1,
                                                              bitorder="little")
            else:
                lists.append(np.nonzero(mask[:m])[1].astype(np.int32))
                indptr[a + 1:b + 1] = np.count_nonzero(mask[:m], axis=1)
        return lists

    indptr = np.zeros(n + 1, dtype=np.int64)
    if workers == 1:
        lists = build(0, n, rng)
    else:
        gens = []
        for r0 in cuts[:-1]:
            bg = type(bit_gen)()
            bg.state = start_state
            bg.advance(int(r0) * n)
            gens.append(np.random.Generator(bg))
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(build, cuts[:-1], cuts[1:], gens))
        lists = [a for part in parts for a in part]
        bit_gen.advance(n * n)
    np.cumsum(indptr, out=indptr)
    indices = np.concatenate(lists) if lists else np.zeros(0, np.int32)
    return conn, indptr, indices


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
    observer: Callable[[float, NetworkState], None] | None = None,
    observe_every_ms: float | None = None,
) -> SimulationResult:
    """Simulate the spiking network for ``t_ms`` ms from V = 0, H = 0, nobody refractory
    (or from ``initial_state``: V, refractory flags and pending spikes H; see
    :func:`bifsnn.network.states.state_from_reduced`).

    ``observer(t_ms, state)`` (diagnostics) is called every ``observe_every_ms`` (a multiple
    of dt; default dt) with the network's :class:`NetworkState` at that time: ``V``,
    ``refractory`` and ``H`` are the simulator's own arrays (copy them to keep them; the
    observer may modify H in place, e.g. to reshuffle pending inputs among neurons), ``m`` and
    ``v`` the pending counts' population means and variances.  Observing ends a chunk of
    the kernel at every call and the order of the random draws depends on the chunking, so
    the run is statistically, not bit-for-bit, the same as the same seed without an observer.

    ``seed`` follows numpy ``default_rng`` semantics: the same seed gives bit-identical output.
    ``raster_neurons``: None, "all" or neuron indices whose spikes are recorded.
    ``voltage_hist_every_ms``: sample per-population voltage histograms at this interval over
    ``voltage_hist_edges`` (uniform; default the reduction's grid DV = 4 on [-40, 100)).

    The kernel (:mod:`._blocked`) splits the neurons into fixed blocks of 1024, each with its
    own random stream; ``parallel=True`` spreads the blocks of every step over numba's
    threads (``numba.set_num_threads``, ``NUMBA_NUM_THREADS``, or ``threads`` for this call
    only).  The output depends on the seed only: serial and parallel runs of the same seed are
    bit-identical, whatever the thread count and whichever neurons are rastered (the kernel's
    chunks depend on N only, :func:`._driver.chunk_steps`).  Worth it from N ~ 10^4.
    """
    drv.check_choice("connectivity", connectivity, CONNECTIVITIES)
    n_threads = check_threads(parallel, threads)
    every = observe_steps(params, observer, observe_every_ms)
    if initial_state is not None:
        check_initial_state(initial_state, params)
    run_setup = drv.prepare_run(params, t_ms, seed, drive, raster_neurons,
                                voltage_hist_every_ms, voltage_hist_edges,
                                quenched=connectivity == "quenched")
    seed, n_steps, mask, hist_every, edges, rng, ust, pop, S, p, tau = run_setup
    n = len(pop)
    a_syn = S * params.dt / tau  # voltage per pending spike per step
    nb = -(-n // _blocked.BLOCK)
    tables = _blocked.sampler_tables(p, params.dt / tau, max(params.N_E, params.N_I),
                                     n_blocks=nb)
    if connectivity == "quenched":
        workers = (n_threads or numba.get_num_threads()) if parallel else 1
        conn, indptr, indices = _quenched_connectivity(p, pop, rng, workers)
    else:
        conn = np.zeros((0, 0), np.uint64)
        indptr, indices = np.zeros(1, np.int64), np.zeros(0, np.int32)
    V = np.zeros(n)
    refr = np.zeros(n, dtype=np.bool_)
    H = np.zeros((n, 2), dtype=np.int64)
    if initial_state is not None:
        V[:] = initial_state.V
        refr[:] = initial_state.refractory
        H[:] = initial_state.H
    leak_dt = 0.0 if params.tau_m is None else params.dt / params.tau_m
    options = {"connectivity": connectivity, "drive": drive, "t_ms": n_steps * params.dt}
    if initial_state is not None:
        options["initial_state"] = "given"
    if parallel:
        options["parallel"] = True
    kernel = _blocked.parallel_steps if parallel else _blocked.serial_steps
    states = _blocked.block_states(ust, nb)
    lam_dt = params.lambda_ext * params.dt
    cdf = _blocked.poisson_cdf_table(lam_dt) if drive == "poisson" else np.ones(1)
    births = np.zeros((2, nb * _blocked.BLOCK), dtype=np.int32)  # padded: whole bit words
    spiked = np.zeros((2, n), dtype=np.int64)
    blk_cnt = np.zeros((2, nb), dtype=np.int64)
    blk_ne = np.zeros(nb, dtype=np.int64)
    blk_ni = np.zeros(nb, dtype=np.int64)
    n_prev = np.zeros(2, dtype=np.int64)

    def chunk(step0, k, counts, mask_, rbuf_n, rbuf_s, every, edges_, hist, hist_ref):
        workers = (numba.get_num_threads(),) if parallel else ()
        return kernel(
            V, refr, H, pop, a_syn, lam_dt, drive == "poisson", cdf, params.M, params.M_r,
            params.V_reset, leak_dt, params.dt / params.tau_R, connectivity == "quenched",
            conn, indptr, indices, births, spiked, blk_cnt, blk_ne, blk_ni, n_prev, tables,
            states, step0, k, counts, mask_, rbuf_n, rbuf_s, every, edges_[0],
            edges_[1] - edges_[0], hist, hist_ref, *workers,
        )

    def after(steps_done: int) -> None:
        m, v = pending_moments(H, pop)
        observer(steps_done * params.dt, NetworkState(V=V, refractory=refr, H=H, m=m, v=v))

    previous = numba.get_num_threads()
    if n_threads is not None:
        numba.set_num_threads(n_threads)  # the caller asked for it; restored below
    try:
        run = drv.run_chunked(chunk, params, n_steps, mask, hist_every, edges, progress, "snn",
                              every, after if observer is not None else None)
    finally:
        if n_threads is not None:
            numba.set_num_threads(previous)
    return drv.build_result("snn", params, seed, options, run, hist_every, edges)


def observe_steps(params: NetworkParams, observer: Any, every_ms: float | None) -> int:
    """Steps between observer calls (0 without an observer); validates both arguments."""
    if observer is None:
        if every_ms is not None:
            raise ParameterError("observe_every_ms is only allowed with an observer")
        return 0
    if not callable(observer):
        raise ParameterError(f"observer = {observer!r} must be None or a callable "
                             "observer(t_ms, state)")
    if every_ms is None:
        return 1
    k = every_ms / params.dt if isinstance(every_ms, int | float) and not isinstance(
        every_ms, bool) else math.nan
    if not (math.isfinite(k) and k >= 1 - 1e-9 and abs(k - round(k)) <= 1e-9 * k):
        raise ParameterError(f"observe_every_ms = {every_ms!r} is out of range: must be a "
                             f"positive multiple of dt = {params.dt}")
    return int(round(k))


def pending_moments(H: np.ndarray, pop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Population means and variances [post, pre] of the pending counts H (N, 2)."""
    m = np.empty((2, 2))
    v = np.empty((2, 2))
    for q in range(2):
        h = H[pop == q]
        m[q] = h.mean(axis=0) if len(h) else 0.0
        v[q] = h.var(axis=0) if len(h) else 0.0
    return m, v


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
