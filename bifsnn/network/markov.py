"""Neuron-level Markov model of docs/MODEL.md section 3 (numba).

Each neuron's synaptic input over one window h = dt is replaced by an independent Gaussian
draw whose mean and variance come from the population moments (m, v) of the pending-spike
counts (docs/MODEL.md section 2); the moments are advanced by one forward-Euler step driven by the
realised population spike counts of the step.  Threshold, reset and refractory rules are the
SNN's, so the SNN and this model differ only by the decorrelation assumption.

``drive="gaussian"`` (default) puts the external Poisson drive into the Gaussian draw
(lambda h in mean and variance, as in docs/MODEL.md 3); ``drive="poisson"`` draws it exactly as
Poisson(lambda h) and keeps only the synaptic part Gaussian.
"""

from __future__ import annotations

import math

import numpy as np

from bifsnn._cache import njit_cached
from bifsnn.network import _driver as drv
from bifsnn.network._kernels import (
    sample_histogram,
    xoshiro_next,
)
from bifsnn.network.params import NetworkParams
from bifsnn.network.results import SimulationResult
from bifsnn.network.states import NetworkState, check_initial_state

__all__ = ["simulate_markov", "input_mean_var"]


@njit_cached()
def input_mean_var(V, q, m, v, S, tau, lam, h, M, M_r, include_drive):
    """Mean and variance of the window-h input to a neuron of population q at voltage V.

    ``m``, ``v``: 2x2 arrays [post, pre] of pending-spike population means and variances.
    """
    c = (V + M_r) / (M + M_r)
    mu = h * (S[q, 0] * m[q, 0] / tau[q, 0] - S[q, 1] * m[q, 1] / tau[q, 1] * c)
    var = h * (
        S[q, 0] ** 2 * v[q, 0] / tau[q, 0] ** 2 + S[q, 1] ** 2 * v[q, 1] / tau[q, 1] ** 2 * c * c
    )
    if include_drive:
        mu += h * lam
        var += h * lam
    return mu, max(var, 0.0)


@njit_cached()
def _markov_steps(
    V, refr, m, v, pop, S, p_conn, tau, lam, h, drive_poisson, M, M_r, V_reset, leak_dt,
    p_leave, rng, ust,
    step0, n, counts, mask, rbuf_n, rbuf_s, hist_every, e0, de, hist, hist_ref,
):
    """Advance ``n`` steps in place; return the number of raster events written."""
    N = V.shape[0]
    written = 0
    for k in range(n):
        step = step0 + k
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
            x = V[i]
            mu, var = input_mean_var(x, q, m, v, S, tau, lam, h, M, M_r, not drive_poisson)
            dv = mu + math.sqrt(var) * rng.standard_normal()
            if drive_poisson:
                dv += float(rng.poisson(lam * h))
            x_new = x + dv - x * leak_dt
            if x_new > M:  # threshold and reset (docs/MODEL.md 1, step 5)
                V[i] = V_reset
                refr[i] = True
                if q == 0:
                    n_e += 1
                else:
                    n_i += 1
                if mask[i]:
                    rbuf_n[written] = i
                    rbuf_s[written] = step
                    written += 1
            else:
                V[i] = x_new
        ust[0] = s0
        ust[1] = s1
        ust[2] = s2
        ust[3] = s3
        counts[step, 0] = n_e
        counts[step, 1] = n_i
        # moments of docs/MODEL.md 2, one forward-Euler step driven by the realised rates
        for q in range(2):
            for src in range(2):
                f = (n_e if src == 0 else n_i) / h
                mq = m[q, src]
                vq = v[q, src]
                m[q, src] = mq + h * (-mq / tau[q, src] + p_conn[q, src] * f)
                v[q, src] = vq + h * (
                    -2.0 * vq / tau[q, src] + mq / tau[q, src]
                    + p_conn[q, src] * (1.0 - p_conn[q, src]) * f
                )
        if hist_every > 0 and (step + 1) % hist_every == 0:
            sample_histogram(V, refr, pop, e0, de, hist, hist_ref, (step + 1) // hist_every - 1)
    return written


def simulate_markov(
    params: NetworkParams,
    *,
    t_ms: float,
    seed: int | None = 0,
    drive: str = "gaussian",
    raster_neurons=None,
    voltage_hist_every_ms: float | None = None,
    voltage_hist_edges: np.ndarray | None = None,
    progress: bool = True,
    initial_state: NetworkState | None = None,
) -> SimulationResult:
    """Simulate the neuron-level Markov model for ``t_ms`` ms (same interface as the SNN).

    Starts from V = 0, zero moments, nobody refractory (or from ``initial_state``: V,
    refractory flags and the moments m, v; its H is unused); window h = params.dt.  The final
    moments are returned in ``result.extra["m"]`` and ``result.extra["v"]`` (2x2, [post, pre]).
    """
    if initial_state is not None:
        check_initial_state(initial_state, params)
    run_setup = drv.prepare_run(params, t_ms, seed, drive, raster_neurons,
                                voltage_hist_every_ms, voltage_hist_edges)
    seed, n_steps, mask, hist_every, edges, rng, ust, pop, S, p, tau = run_setup
    n = len(pop)
    V = np.zeros(n)
    refr = np.zeros(n, dtype=np.bool_)
    m = np.zeros((2, 2))
    v = np.zeros((2, 2))
    if initial_state is not None:
        V[:] = initial_state.V
        refr[:] = initial_state.refractory
        m[:] = initial_state.m
        v[:] = initial_state.v
    leak_dt = 0.0 if params.tau_m is None else params.dt / params.tau_m

    def chunk(step0, k, counts, mask_, rbuf_n, rbuf_s, every, edges_, hist, hist_ref):
        return _markov_steps(
            V, refr, m, v, pop, S, p, tau, params.lambda_ext, params.dt, drive == "poisson",
            params.M, params.M_r, params.V_reset, leak_dt, params.dt / params.tau_R, rng, ust,
            step0, k, counts, mask_, rbuf_n, rbuf_s, every, edges_[0], edges_[1] - edges_[0],
            hist, hist_ref,
        )

    run = drv.run_chunked(chunk, params, n_steps, mask, hist_every, edges, progress, "markov")
    options = {"drive": drive, "t_ms": n_steps * params.dt, "window_h_ms": params.dt}
    if initial_state is not None:
        options["initial_state"] = "given"
    result = drv.build_result("markov", params, seed, options, run, hist_every, edges)
    result.extra["m"] = m.copy()
    result.extra["v"] = v.copy()
    return result
