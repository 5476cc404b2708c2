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

import numba
import numpy as np

from bifsnn.network import _blocked
from bifsnn.network import _driver as drv
from bifsnn.network.params import NetworkParams, ParameterError
from bifsnn.network.results import SimulationResult
from bifsnn.network.states import NetworkState, check_initial_state

__all__ = ["simulate_snn", "CONNECTIVITIES"]

CONNECTIVITIES = ("annealed", "quenched")


def _quenched_connectivity(p: np.ndarray, pop: np.ndarray, rng: np.random.Generator):
    """Fixed random connections (no self-connections); ``p[post, pre]`` are the connection
    probabilities by population.  Returns ``(conn, indptr, indices)``: a dense uint8 matrix
    ``conn[pre, post]`` when ``p`` is dense (``_driver.DENSE_MIN_P``; a spike's births are then one
    vectorised row add), else CSR lists of int32 postsynaptic targets per presynaptic neuron
    (``conn`` empty).  The same draws either way, so the same network for the same seed."""
    n = len(pop)
    dense = p.mean() >= drv.DENSE_MIN_P
    conn = np.zeros((n, n) if dense else (0, 0), dtype=np.uint8)
    indptr = np.zeros(n + 1, dtype=np.int64)
    chunks = []
    for j in range(n):
        row = rng.random(n) < p[pop, pop[j]]
        row[j] = False
        if dense:
            conn[j] = row
        else:
            targets = np.flatnonzero(row).astype(np.int32)
            chunks.append(targets)
            indptr[j + 1] = indptr[j] + len(targets)
    indices = np.concatenate(chunks) if chunks else np.zeros(0, np.int32)
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
) -> SimulationResult:
    """Simulate the spiking network for ``t_ms`` ms from V = 0, H = 0, nobody refractory
    (or from ``initial_state``: V, refractory flags and pending spikes H; see
    :func:`bifsnn.network.states.state_from_reduced`).

    ``seed`` follows numpy ``default_rng`` semantics: the same seed gives bit-identical output.
    ``raster_neurons``: None, "all" or neuron indices whose spikes are recorded.
    ``voltage_hist_every_ms``: sample per-population voltage histograms at this interval over
    ``voltage_hist_edges`` (uniform; default the reduction's grid DV = 4 on [-40, 100)).

    The kernel (:mod:`._blocked`) splits the neurons into fixed blocks of 1024, each with its
    own random stream; ``parallel=True`` spreads the blocks of every step over numba's
    threads (``numba.set_num_threads``, ``NUMBA_NUM_THREADS``, or ``threads`` for this call
    only).  The output depends on the seed only: serial and parallel runs of the same seed are
    bit-identical, whatever the thread count.  Worth it from N ~ 10^4.
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
    tables = _blocked.sampler_tables(p, params.dt / tau, max(params.N_E, params.N_I))
    if connectivity == "quenched":
        conn, indptr, indices = _quenched_connectivity(p, pop, rng)
    else:
        conn = np.zeros((0, 0), np.uint8)
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
    nb = -(-n // _blocked.BLOCK)
    states = _blocked.block_states(ust, nb)
    lam_dt = params.lambda_ext * params.dt
    cdf = _blocked.poisson_cdf_table(lam_dt) if drive == "poisson" else np.ones(1)
    births = np.zeros((2, n), dtype=np.int32)
    spiked = np.zeros((2, n), dtype=np.int64)
    blk_cnt = np.zeros((2, nb), dtype=np.int64)
    blk_ne = np.zeros(nb, dtype=np.int64)
    blk_ni = np.zeros(nb, dtype=np.int64)
    n_prev = np.zeros(2, dtype=np.int64)

    def chunk(step0, k, counts, mask_, rbuf_n, rbuf_s, every, edges_, hist, hist_ref):
        return kernel(
            V, refr, H, pop, a_syn, lam_dt, drive == "poisson", cdf, params.M, params.M_r,
            params.V_reset, leak_dt, params.dt / params.tau_R, connectivity == "quenched",
            conn, indptr, indices, births, spiked, blk_cnt, blk_ne, blk_ni, n_prev, tables,
            states, step0, k, counts, mask_, rbuf_n, rbuf_s, every, edges_[0],
            edges_[1] - edges_[0], hist, hist_ref,
        )

    previous = numba.get_num_threads()
    if n_threads is not None:
        numba.set_num_threads(n_threads)  # the caller asked for it; restored below
    try:
        run = drv.run_chunked(chunk, params, n_steps, mask, hist_every, edges, progress, "snn")
    finally:
        if n_threads is not None:
            numba.set_num_threads(previous)
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
