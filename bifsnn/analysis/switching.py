"""Long runs of the finite-N models for switching analyses (issue 12), with a file cache.

Three finite-N models of one network share this interface: ``"snn"`` (the spiking network),
``"markov"`` (the neuron-level Markov model) and ``"sde"`` (the reduced model with the
finite-size noise of N neurons, :func:`bifsnn.reduction.noise.simulate_sde`; its closure is the
definition's).  A run starts from ``"default"`` (the simulator's own start), ``"eq"`` (the
reduced ODE's equilibrium) or ``"cycle"`` (a point of the ODE's large cycle, carried from a
``source`` point where the cycle is the only attractor); the SNN and the Markov model are
started from a reduced state by :func:`bifsnn.network.states.state_from_reduced` (voltage
histogram and pending spikes).  :func:`run_counts` returns the E spike counts per step and
the CPU seconds of the simulation, cached as ``.npz`` under a name built from the model, the
point, N / 400, seed, start and duration (same inputs give the same file).
:func:`peak_rate_series` turns counts into the windowed observable every switching analysis
segments (the peak of the 1 ms smoothed per-neuron E rate per window).
"""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

from bifsnn.network.markov import simulate_markov
from bifsnn.network.metastability import windowed_observables
from bifsnn.network.params import ParameterError
from bifsnn.network.snn import simulate_snn
from bifsnn.network.states import state_from_reduced
from bifsnn.reduction import MarkovModelDef, find_equilibrium, simulate_ode
from bifsnn.reduction.noise import simulate_sde

__all__ = ["MODELS", "STARTS", "size_factor", "cycle_state", "initial_state", "cpu_seconds",
           "run_counts", "run_name", "peak_rate_series"]

MODELS = ("snn", "markov", "sde")
STARTS = ("default", "eq", "cycle")


def size_factor(d: MarkovModelDef) -> float:
    """k = (N_E + N_I) / 400: the size relative to the default network."""
    return (d.params.N_E + d.params.N_I) / 400.0


def cycle_state(d: MarkovModelDef, source: tuple[float, float], *, source_ms: float = 800.0,
                settle_ms: float = 400.0) -> np.ndarray:
    """A point of the large cycle: the ODE at ``source`` = (p_EI, tau_EE) (where the cycle is
    the only attractor) for ``source_ms``, then ``settle_ms`` at ``d``'s own parameters."""
    src = d.replace(p_EI=float(source[0]), tau_EE=float(source[1]))
    x = simulate_ode(src, t_ms=source_ms).extra["final_state"]
    return simulate_ode(d, t_ms=settle_ms, x0=x).extra["final_state"]


def initial_state(d: MarkovModelDef, start: str,
                  source: tuple[float, float] | None = None) -> np.ndarray | None:
    """The reduced state a run starts from (None for ``"default"``)."""
    if start not in STARTS:
        raise ParameterError(f"start = {start!r} is out of range: must be one of {STARTS}")
    if start == "default":
        return None
    if start == "eq":
        return find_equilibrium(d).x
    if source is None:
        raise ParameterError("start = 'cycle' needs source = (p_EI, tau_EE) of the cycle")
    return cycle_state(d, source)


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children."""
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ch.ru_utime + ch.ru_stime


def run_name(model: str, d: MarkovModelDef, seed: int, t_ms: float, start: str) -> str:
    """Cache file name of a run, e.g. ``snn_p0.8_tau2.8_k1.0_s2_default_T30000.npz``
    (``sde_col_...`` for the SDE with a coloured closure)."""
    tag = model + ("_col" if model == "sde" and d.closure != "paper" else "")
    p = d.params
    return (f"{tag}_p{p.p_EI}_tau{p.tau_EE}_k{size_factor(d)}_s{seed}_{start}"
            f"_T{int(t_ms)}.npz")


def run_counts(model: str, d: MarkovModelDef, *, t_ms: float, seed: int,
               start: str = "default", source: tuple[float, float] | None = None,
               cache: Path | None = None, sde_dt_ms: float = 0.05) -> tuple[np.ndarray, float]:
    """E spike counts per step of one run and its CPU seconds (nan if the cache lacks them).

    ``model``: one of :data:`MODELS`; ``start``: one of :data:`STARTS` (``source`` needed for
    ``"cycle"``); ``cache``: folder of ``.npz`` files (None: no cache).
    """
    if model not in MODELS:
        raise ParameterError(f"model = {model!r} is out of range: must be one of {MODELS}")
    if start not in STARTS:
        raise ParameterError(f"start = {start!r} is out of range: must be one of {STARTS}")
    path = None if cache is None else Path(cache) / run_name(model, d, seed, t_ms, start)
    if path is not None and path.exists():
        z = np.load(path)
        return z["e"].astype(float), float(z["cpu_s"]) if "cpu_s" in z else float("nan")
    x = initial_state(d, start, source)
    c0 = cpu_seconds()
    if model == "sde":
        e = simulate_sde(d, t_ms=t_ms, seed=seed, x0=x, dt_ms=sde_dt_ms,
                         record_every_ms=1000.0).spike_counts_e
    else:
        st = None if x is None else state_from_reduced(d, x, seed=seed)
        sim = simulate_snn if model == "snn" else simulate_markov
        e = sim(d.params, t_ms=t_ms, seed=seed, progress=False, initial_state=st).spike_counts_e
    cpu = cpu_seconds() - c0
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, e=np.asarray(e, np.float32), cpu_s=cpu)
    return np.asarray(e, float), cpu


def peak_rate_series(counts_e: Any, d: MarkovModelDef, *, window_ms: float = 50.0,
                     skip_ms: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(window centres in ms, peak of the 1 ms smoothed per-neuron E rate in Hz, mean rate in
    Hz) per window of ``window_ms``, after dropping the first ``skip_ms`` (a start's
    transient); times count from the run's start."""
    dt = d.params.dt
    skip = int(round(skip_ms / dt))
    w = windowed_observables(np.asarray(counts_e, float)[skip:], dt, d.params.N_E,
                             window_ms=window_ms)
    return w.t_ms + skip * dt, w.max_rate_hz, w.rate_hz
