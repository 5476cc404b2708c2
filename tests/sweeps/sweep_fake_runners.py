"""Fast, deterministic stand-ins for the model runners (injected into sweeps in tests).

Each returns a summary-like mapping computed from the parameters and the seed only, so the
same point gives bit-identical observables in any process and on any backend.
"""

from __future__ import annotations

import os
import time

import numpy as np


def fake_point(params, *, t_ms, seed=0, progress=False, **options):
    """Synthetic observables: deterministic function of (p_EI, tau_EE, lambda_ext, seed)."""
    rng = np.random.default_rng([seed, int(1e6 * params.p_EI), int(1e6 * params.tau_EE)])
    n = 8
    base = 100.0 * params.p_EI + 10.0 * params.tau_EE
    heights = base + rng.normal(0.0, 1.0, n)
    if options.get("alternate"):
        heights = heights + 40.0 * (-1.0) ** np.arange(n)
    log = os.environ.get("BIFSNN_FAKE_LOG")
    if log:
        with open(log, "a") as fh:
            fh.write(f"{params.p_EI!r} {params.tau_EE!r} {seed}\n")
    delay = float(os.environ.get("BIFSNN_FAKE_DELAY_S", "0"))
    if delay:
        time.sleep(delay)
    return {
        "rate_e_hz": float(params.lambda_ext * 2 + rng.random()),
        "rate_i_hz": float(params.lambda_ext * 3 + rng.random()),
        "ssi_e": 0.3,
        "ssi_i": 0.25,
        "spectral_peak_hz": 50.0 + params.tau_EE,
        "peak_heights": heights.tolist(),
        "peak_intervals_ms": (20.0 + 0.1 * rng.normal(size=n - 1)).tolist(),
        "t_ms_seen": t_ms,
    }


def failing_point(params, *, t_ms, seed=0, progress=False, **options):
    """Like fake_point but raises for p_EI > 0.65 (a deliberately failing point)."""
    if params.p_EI > 0.65:
        raise RuntimeError(f"deliberate failure at p_EI={params.p_EI}")
    return fake_point(params, t_ms=t_ms, seed=seed, progress=progress, **options)


def _warm() -> None:
    """Warm-up hook: records which process warmed up (one line per warm-up)."""
    log = os.environ.get("BIFSNN_FAKE_WARM")
    if log:
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()}\n")


fake_point.warmup = _warm


def result_point(params, *, t_ms, seed=0, progress=False, **options):
    """A SimulationResult with a synthetic periodic MFE train (for the raw-spike path)."""
    from bifsnn.network.results import SimulationResult

    n = int(round(t_ms / params.dt))
    counts = np.zeros(n)
    period = int(round(20.0 / params.dt))
    counts[period // 2::period] = 40.0
    return SimulationResult(model="snn", params=params, dt_ms=params.dt,
                            spike_counts_e=counts, spike_counts_i=counts / 2, seed=seed)


class LoggingRunner:
    """fake_point that appends the pid of every warm-up and call to files (picklable: the log
    paths travel with the object, not through the environment)."""

    def __init__(self, warm_log: str, call_log: str) -> None:
        self.warm_log, self.call_log = warm_log, call_log

    def warmup(self) -> None:
        with open(self.warm_log, "a") as fh:
            fh.write(f"{os.getpid()}\n")

    def __call__(self, params, *, t_ms, seed=0, progress=False, **options):
        with open(self.call_log, "a") as fh:
            fh.write(f"{os.getpid()} {params.p_EI!r} {params.tau_EE!r} {seed}\n")
        return fake_point(params, t_ms=t_ms, seed=seed, progress=progress, **options)


def crashing_point(params, *, t_ms, seed=0, progress=False, **options):
    """Kills its own (worker) process for p_EI > 0.65, like a segfault would."""
    if params.p_EI > 0.65:
        os._exit(3)
    return fake_point(params, t_ms=t_ms, seed=seed, progress=progress, **options)
