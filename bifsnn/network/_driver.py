"""Shared driver for the stochastic simulators (SNN and neuron-level Markov model).

The compiled kernels advance the network by a chunk of steps; this module splits a run into
chunks (for the progress bar and bounded raster buffers), collects spike counts, rasters and
voltage histograms, and builds the :class:`~bifsnn.network.results.SimulationResult`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from bifsnn.network.params import NetworkParams, ParameterError
from bifsnn.network.results import SimulationResult

#: Default voltage-histogram edges: the reduction's bin grid, DV = 4 on [-40, 100).
DEFAULT_HIST_EDGES = np.arange(-40.0, 100.0 + 1e-9, 4.0)

DRIVES = ("gaussian", "poisson")
#: Seeds are 0 <= seed < 2**64 (what result files store).
SEED_LIMIT = 2**64


def check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ParameterError(f"{name} = {value!r} is not allowed: must be one of {allowed}")


def n_steps_for(params: NetworkParams, t_ms: float) -> int:
    if not (isinstance(t_ms, int | float) and math.isfinite(t_ms) and t_ms > 0):
        raise ParameterError(f"t_ms = {t_ms!r} is out of range: must be a finite number > 0")
    return max(1, int(round(t_ms / params.dt)))


def raster_mask(params: NetworkParams, raster_neurons: Any) -> np.ndarray:
    """Boolean mask over all neurons (E first, then I) of those whose spikes are recorded."""
    n = params.N_E + params.N_I
    mask = np.zeros(n, dtype=np.bool_)
    if raster_neurons is None:
        return mask
    if isinstance(raster_neurons, str):
        if raster_neurons != "all":
            raise ParameterError(
                f"raster_neurons = {raster_neurons!r} is not allowed: must be None, 'all' "
                "or an array of neuron indices"
            )
        mask[:] = True
        return mask
    idx = np.asarray(raster_neurons, dtype=np.int64).ravel()
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ParameterError(f"raster_neurons: indices must lie in [0, {n - 1}]")
    mask[idx] = True
    return mask


def hist_every_steps(params: NetworkParams, voltage_hist_every_ms: float | None) -> int:
    if voltage_hist_every_ms is None:
        return 0
    if not (math.isfinite(voltage_hist_every_ms) and voltage_hist_every_ms > 0):
        raise ParameterError(
            f"voltage_hist_every_ms = {voltage_hist_every_ms!r} is out of range: must be > 0"
        )
    return max(1, int(round(voltage_hist_every_ms / params.dt)))


def population_index(params: NetworkParams) -> np.ndarray:
    """0 for E neurons (indices 0..N_E-1), 1 for I neurons."""
    return np.concatenate([np.zeros(params.N_E, np.int64), np.ones(params.N_I, np.int64)])


def pathway_arrays(params: NetworkParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(S, p, tau) as 2x2 arrays indexed [post, pre] with 0 = E, 1 = I."""
    names = (("EE", "EI"), ("IE", "II"))
    S = np.array([[params.S(pw) for pw in row] for row in names])
    p = np.array([[params.p(pw) for pw in row] for row in names])
    tau = np.array([[params.tau(pw) for pw in row] for row in names])
    return S, p, tau


def chunk_steps(n_steps: int, n_neurons: int) -> int:
    """Steps per kernel call without an observer: at most 2000 and at most 4e6 neuron-steps.

    It depends on the network size only, never on which neurons are rastered: a chunk
    boundary splits the SNN kernels' fused pending/voltage pass, so the draws' order (hence
    the output) depends on where the chunks end.  The raster buffer (chunk x rastered
    neurons) stays within 4e6 events."""
    return int(max(1, min(n_steps, 2000, 4_000_000 // max(1, n_neurons))))


def run_chunked(
    kernel_chunk: Callable[..., int],
    params: NetworkParams,
    n_steps: int,
    mask: np.ndarray,
    hist_every: int,
    hist_edges: np.ndarray,
    progress: bool,
    desc: str,
    every: int = 0,
    after: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Run ``kernel_chunk(step0, n, counts, mask, rbuf_n, rbuf_s, hist_every, edges, hist,
    hist_ref)`` over all steps; it returns the number of raster events written.  With
    ``every`` > 0 the chunks are ``every`` steps long and ``after(steps_done)`` is called
    after each."""
    counts = np.zeros((n_steps, 2), dtype=np.int64)
    n_rec = int(mask.sum())
    chunk = every if every > 0 else chunk_steps(n_steps, mask.size)
    nbins = len(hist_edges) - 1
    n_hist = n_steps // hist_every if hist_every else 0
    hist = np.zeros((max(n_hist, 0), 2, nbins), dtype=np.int64)
    hist_ref = np.zeros((max(n_hist, 0), 2), dtype=np.int64)
    rbuf_n = np.empty(chunk * n_rec if n_rec else 0, dtype=np.int32)
    rbuf_s = np.empty_like(rbuf_n)
    raster_n: list[np.ndarray] = []
    raster_s: list[np.ndarray] = []

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=round(n_steps * params.dt), unit="ms", desc=desc, delay=2.0,
                   leave=False)
    try:
        for step0 in range(0, n_steps, chunk):
            n = min(chunk, n_steps - step0)
            written = kernel_chunk(step0, n, counts, mask, rbuf_n, rbuf_s, hist_every,
                                   hist_edges, hist, hist_ref)
            if n_rec:
                raster_n.append(rbuf_n[:written].copy())
                raster_s.append(rbuf_s[:written].copy())
            if after is not None:
                after(step0 + n)
            if bar is not None:
                bar.n = round((step0 + n) * params.dt)
                bar.refresh()
    finally:
        if bar is not None:
            bar.close()
    out = {"counts": counts, "hist": hist, "hist_ref": hist_ref}
    if n_rec:
        out["raster_neuron"] = np.concatenate(raster_n)
        out["raster_step"] = np.concatenate(raster_s)
    return out


def build_result(
    model: str,
    params: NetworkParams,
    seed: int | None,
    options: dict[str, Any],
    run: dict[str, np.ndarray],
    hist_every: int,
    hist_edges: np.ndarray,
) -> SimulationResult:
    counts = run["counts"]
    kwargs: dict[str, Any] = {}
    if "raster_neuron" in run:
        kwargs["raster_neuron"] = run["raster_neuron"]
        kwargs["raster_step"] = run["raster_step"]
    extra: dict[str, np.ndarray] = {}
    if hist_every:
        n_hist = run["hist"].shape[0]
        kwargs["voltage_hist_t_ms"] = (np.arange(n_hist) + 1) * hist_every * params.dt
        kwargs["voltage_hist_edges"] = hist_edges
        kwargs["voltage_hist_e"] = run["hist"][:, 0, :]
        kwargs["voltage_hist_i"] = run["hist"][:, 1, :]
        extra["refractory_e"] = run["hist_ref"][:, 0]
        extra["refractory_i"] = run["hist_ref"][:, 1]
    return SimulationResult(
        model=model,
        params=params,
        dt_ms=params.dt,
        spike_counts_e=counts[:, 0].copy(),
        spike_counts_i=counts[:, 1].copy(),
        seed=seed,
        options=options,
        extra=extra,
        **kwargs,
    )


class RunSetup(NamedTuple):
    """Validated inputs and fresh random state shared by the stochastic simulators."""

    seed: int | None
    n_steps: int
    mask: np.ndarray  # raster mask over all neurons
    hist_every: int  # steps between voltage-histogram samples (0: none)
    edges: np.ndarray  # voltage-histogram edges
    rng: np.random.Generator
    ust: np.ndarray  # xoshiro256** state for the inlined uniform draws
    pop: np.ndarray  # population index per neuron
    S: np.ndarray  # [post, pre] strengths, probabilities and time constants
    p: np.ndarray
    tau: np.ndarray


def prepare_run(params: NetworkParams, t_ms: float, seed: int | None, drive: str,
                raster_neurons: Any, voltage_hist_every_ms: float | None,
                voltage_hist_edges: np.ndarray | None, *, quenched: bool = False) -> RunSetup:
    """Validate the options common to both simulators (before any work), check that the run
    fits in memory, and seed the RNGs."""
    from bifsnn.network._kernels import make_uniform_state

    check_choice("drive", drive, DRIVES)
    seed = seed_to_int(seed)
    n_steps = n_steps_for(params, t_ms)
    mask = raster_mask(params, raster_neurons)
    every = hist_every_steps(params, voltage_hist_every_ms)
    edges = uniform_edges(voltage_hist_edges)
    check_memory(params, n_steps, n_raster=int(mask.sum()), hist_every=every,
                 n_hist_bins=len(edges) - 1, quenched=quenched)
    rng = np.random.default_rng(seed)
    ust = make_uniform_state(rng)
    S, p, tau = pathway_arrays(params)
    return RunSetup(seed, n_steps, mask, every, edges, rng, ust, population_index(params),
                    S, p, tau)


def seed_to_int(seed: int | None) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) \
            or not 0 <= seed < SEED_LIMIT:
        raise ParameterError(
            f"seed = {seed!r} is out of range: must be an integer with 0 <= seed < 2**64"
        )
    return int(seed)


def uniform_edges(edges: np.ndarray | None) -> np.ndarray:
    """Validated uniform histogram edges (default :data:`DEFAULT_HIST_EDGES`)."""
    if edges is None:
        return DEFAULT_HIST_EDGES
    edges = np.asarray(edges, dtype=float)
    if edges.ndim != 1 or len(edges) < 2:
        raise ParameterError("voltage_hist_edges must be a 1-D array of >= 2 edges")
    widths = np.diff(edges)
    if np.any(widths <= 0) or np.ptp(widths) > 1e-9 * widths.max():
        raise ParameterError("voltage_hist_edges must be increasing and uniformly spaced")
    return edges


#: Quenched connectivity is stored as a bit matrix (1 bit per pair) when the mean connection
#: probability is at least this (int32 target lists take 4 bytes = 32 bits per connection).
DENSE_MIN_P = 1.0 / 32.0

#: Assumed upper rate for sizing raster buffers, spikes per neuron per ms (100 Hz).
_RASTER_RATE_PER_MS = 0.1


def memory_estimate_bytes(params: NetworkParams, n_steps: int, *, n_raster: int = 0,
                          hist_every: int = 0, n_hist_bins: int = 35,
                          quenched: bool = False) -> int:
    """Rough peak memory of one stochastic run, bytes (used to refuse runs that cannot fit).

    Counts: per-step spike counts (int64, both populations) plus the result's and the
    observables' copies (64 bytes per step); per neuron state and sampling tables (~200
    bytes); the raster at up to 100 Hz (16 bytes per spike, twice while concatenating);
    voltage histograms; quenched connectivity (:func:`connectivity_bytes`).
    """
    n = params.N_E + params.N_I
    total = 64 * n_steps + 200 * n + 96 * (max(params.N_E, params.N_I) + 1)
    if n_raster:
        total += int(32 * n_raster * n_steps * params.dt * _RASTER_RATE_PER_MS)
    if hist_every:
        total += 16 * (n_steps // hist_every) * 2 * (n_hist_bins + 1)
    if quenched:
        total += connectivity_bytes(params)
    return int(total)


def connectivity_bytes(params: NetworkParams) -> int:
    """Peak memory of building the quenched connectivity, bytes (:func:`connection_bytes`)."""
    return connection_bytes(params.N_E + params.N_I, _mean_p(params))


def connection_bytes(n: int, p_mean: float) -> int:
    """Peak memory of building a quenched connectivity of ``n`` neurons, bytes: a bit matrix
    (n rows of ceil(n / 64) 64-bit words) when the mean connection probability is >=
    :data:`DENSE_MIN_P`, else int32 target lists (4 bytes per connection, three copies while
    building); plus the builders' buffers (about 9 MB per thread)."""
    if p_mean >= DENSE_MIN_P:
        return 8 * n * -(-n // 64) + 16 * n + (40 << 20)
    return int(12 * p_mean * n * n) + 16 * n + (40 << 20)


def _mean_p(params: NetworkParams) -> float:
    return (params.p_EE + params.p_EI + params.p_IE + params.p_II) / 4.0


def max_quenched_neurons(params: NetworkParams, budget_bytes: int) -> int:
    """Largest N_E + N_I whose quenched connectivity fits in ``budget_bytes``; 0 if none."""
    lo, hi = 0, 1 << 32
    while hi - lo > 1:  # bisection: connection_bytes grows with n
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if connection_bytes(mid, _mean_p(params)) <= budget_bytes \
            else (lo, mid)
    return lo


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo, bytes (None where that is not known)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def format_bytes(n: float) -> str:
    """Human-readable size (binary units)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.3g} PiB"  # pragma: no cover


def check_memory(params: NetworkParams, n_steps: int, **kwargs: Any) -> None:
    """Raise ParameterError before any work if the run's memory estimate exceeds what is
    available (see :func:`memory_estimate_bytes`)."""
    need = memory_estimate_bytes(params, n_steps, **kwargs)
    avail = available_memory_bytes()
    if avail is not None and need > avail:
        n_raster = kwargs.get("n_raster") or 0
        raster = f", raster of {n_raster} neurons" if n_raster else ""
        if kwargs.get("quenched") and connectivity_bytes(params) > avail // 2:
            n = params.N_E + params.N_I
            raise ParameterError(
                f"connectivity = 'quenched' with N_E + N_I = {n} neurons needs about "
                f"{format_bytes(connectivity_bytes(params))} for the connection matrix (1 bit "
                f"per pair), the whole run about {format_bytes(need)}, but "
                f"{format_bytes(avail)} is available: lower N_E/N_I (about "
                f"{max_quenched_neurons(params, avail - need + connectivity_bytes(params))} "
                "neurons fit) or use connectivity = 'annealed'"
            )
        raise ParameterError(
            f"the run needs about {format_bytes(need)} of memory (N_E + N_I = "
            f"{params.N_E + params.N_I} neurons, {n_steps} steps of dt = {params.dt} ms{raster})"
            f" but {format_bytes(avail)} is available: lower N_E/N_I, t_ms or the raster, or "
            "raise dt"
        )
