"""Chosen initial states of the SNN and the Markov model (for example the reduced ODE's
equilibrium or a point on its cycle), so that runs can start anywhere and history
dependence can be tested.

:class:`NetworkState` holds every neuron's voltage, refractory flag and pending-spike counts
(SNN) plus the population moments of the pending spikes (Markov model).
:func:`state_from_reduced` builds one from a reduced-model state vector x (layout of
:class:`~bifsnn.reduction.model.MarkovModelDef`: n and A per bin and population, then the
moments; R = N - sum n): bin counts are rounded to integers by largest remainders (so the
histogram reproduces n within one neuron per bin and the refractory counts R within one),
voltages are spread evenly over the bin's reference within-bin density with the bin mean
A/n, and each neuron's pending spikes are drawn independently with the population mean m
and variance v (binomial if v < m, Poisson if v = m, negative binomial if v > m).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bifsnn.network.params import POPULATIONS, NetworkParams, ParameterError

__all__ = ["NetworkState", "state_from_reduced", "voltage_histogram", "check_initial_state"]


@dataclass
class NetworkState:
    """State of all neurons (E first, then I) and the pending-spike population moments."""

    V: np.ndarray  # (N,) voltages
    refractory: np.ndarray  # (N,) bool
    H: np.ndarray  # (N, 2) int64 pending spikes from E, from I
    m: np.ndarray  # (2, 2) population means of pending spikes [post, pre]
    v: np.ndarray  # (2, 2) population variances [post, pre]

    @property
    def n_neurons(self) -> int:
        return int(self.V.shape[0])


def check_initial_state(state: Any, params: NetworkParams) -> NetworkState:
    """Validate ``state`` against ``params`` (shapes, types, finiteness); return it."""
    if not isinstance(state, NetworkState):
        raise ParameterError(f"initial_state must be a NetworkState, got {type(state)!r}")
    n = params.N_E + params.N_I
    checks = (("V", (n,)), ("refractory", (n,)), ("H", (n, 2)), ("m", (2, 2)), ("v", (2, 2)))
    for name, shape in checks:
        a = getattr(state, name)
        if not isinstance(a, np.ndarray) or a.shape != shape:
            raise ParameterError(
                f"initial_state.{name} must be an array of shape {shape} for N_E + N_I = {n}")
    if not (np.all(np.isfinite(state.V)) and np.all(np.isfinite(state.m))
            and np.all(np.isfinite(state.v))):
        raise ParameterError("initial_state: V, m and v must be finite")
    if np.any(state.V > params.M):
        raise ParameterError(f"initial_state.V must be <= the threshold M = {params.M}")
    if np.any(state.H < 0) or np.any(state.m < 0) or np.any(state.v < 0):
        raise ParameterError("initial_state: H, m and v must be >= 0")
    return state


def _largest_remainder(x: np.ndarray, total: int) -> np.ndarray:
    """Non-negative integers with sum ``total`` closest to ``x`` (x clipped at 0, rescaled)."""
    x = np.clip(np.asarray(x, dtype=float), 0.0, None)
    s = x.sum()
    if s <= 0:
        out = np.zeros(x.size, np.int64)
        out[0] = total
        return out
    x = x * (total / s)
    base = np.floor(x).astype(np.int64)
    short = total - int(base.sum())
    if short > 0:
        order = np.argsort(-(x - base), kind="stable")
        base[order[:short]] += 1
    return base


def _pending_counts(mean: float, var: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """Non-negative integers with the given mean and (approximately) variance."""
    if mean <= 0:
        return np.zeros(size, np.int64)
    if var > mean * (1 + 1e-9):  # over-dispersed: negative binomial
        p = mean / var
        r = mean * p / (1 - p)
        return rng.negative_binomial(r, p, size).astype(np.int64)
    if var < mean * (1 - 1e-9):  # under-dispersed: binomial with n trials
        n = max(1, int(round(mean * mean / (mean - var))))
        return rng.binomial(n, min(1.0, mean / n), size).astype(np.int64)
    return rng.poisson(mean, size).astype(np.int64)


def state_from_reduced(definition: Any, x: Any, *, seed: int = 0) -> NetworkState:
    """A network state whose bin histogram, refractory counts and pending-spike moments are
    those of the reduced state ``x`` of ``definition`` (a MarkovModelDef); seeded."""
    d = definition
    params: NetworkParams = d.params
    x = np.asarray(x, dtype=float)
    if x.shape != (d.n_state,):
        raise ParameterError(f"x has shape {x.shape}; expected ({d.n_state},)")
    if not np.all(np.isfinite(x)):
        raise ParameterError("x must be finite")
    rng = np.random.default_rng(seed)
    edges = d.edges
    Vs, refr, H = [], [], []
    moments = np.zeros((2, 2, 2))
    for qi, pop in enumerate(POPULATIONS):
        N = params.N(pop)
        n = x[d.slice("n", pop)]
        A = x[d.slice("A", pop)]
        R = max(0.0, N - n.sum())
        counts = _largest_remainder(np.append(n, R), N)
        V = np.empty(N)
        k = 0
        for j in range(d.K):
            c = int(counts[j])
            if c == 0:
                continue
            lo, hi = edges[j], edges[j + 1]
            vbar = A[j] / n[j] if n[j] > 0 else 0.5 * (lo + hi)
            vbar = min(max(vbar, lo), hi - 1e-9 * (hi - lo))  # stay inside the bin
            # the reference rule: widest uniform density inside the bin with mean vbar
            if vbar <= 0.5 * (lo + hi):
                a, b = lo, 2 * vbar - lo
            else:
                a, b = 2 * vbar - hi, hi
            V[k:k + c] = a + (b - a) * (np.arange(c) + 0.5) / c
            k += c
        V[k:] = params.V_reset
        r = np.zeros(N, dtype=np.bool_)
        r[k:] = True
        Vs.append(V)
        refr.append(r)
        h = np.zeros((N, 2), np.int64)
        for si, src in enumerate(POPULATIONS):
            pw = pop + src
            mean = max(0.0, float(x[d.moment_index("m", pw)]))
            var = max(0.0, float(x[d.moment_index("v", pw)]))
            moments[:, qi, si] = mean, var
            h[:, si] = _pending_counts(mean, var, N, rng)
        H.append(h)
    return NetworkState(V=np.concatenate(Vs), refractory=np.concatenate(refr),
                        H=np.concatenate(H), m=moments[0].copy(), v=moments[1].copy())


def voltage_histogram(state: NetworkState, params: NetworkParams,
                      edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(E counts per bin, I counts per bin, refractory (R_E, R_I)) of ``state``'s
    non-refractory neurons over ``edges`` (the last bin includes its upper edge)."""
    out = []
    for lo_i, hi_i in ((0, params.N_E), (params.N_E, params.N_E + params.N_I)):
        V = state.V[lo_i:hi_i][~state.refractory[lo_i:hi_i]]
        out.append(np.histogram(V, bins=edges)[0])
    R = np.array([state.refractory[:params.N_E].sum(), state.refractory[params.N_E:].sum()])
    return out[0], out[1], R
