"""Attractor geometry: the SNN's state and the reduced ODE's attractors in the same coordinates.

Coordinates ("occupation coordinates"): per population, the fraction of neurons in each
voltage band (``coarse`` consecutive bins of the reduction's grid merged into one band) and
the refractory fraction, so every coordinate is a fraction in [0, 1] and each population's
coordinates sum to 1.  For the ODE they come from the state (n per bin, R = N - sum n); for
the SNN from its sampled voltage histograms and refractory counts (``voltage_hist_every_ms``
with the reduction's edges).  The SNN's distance to an attractor is the Euclidean distance of
each sample to the nearest point of the ODE's attractor (sampled densely along the cycle,
or the equilibrium point); :func:`attractor_distance` reports its mean and median and the
attractor's own size (mean distance of its points from their centroid) as the scale.
Finite N adds sampling noise to the SNN's histogram, which puts a floor under the distance
of order sqrt(number of coordinates / N).

Phase-resolved Wasserstein distance (:func:`phase_resolved_wasserstein`): the distance of the
SNN's occupation *density* to the attractor's, not only of its points to the nearest point.
Each SNN sample gets the phase of its nearest attractor point (:func:`cycle_phase` gives the
attractor's points their phase from its period; an equilibrium has one phase); per phase bin
the sliced 1-Wasserstein distance between the SNN's samples and the attractor's points of that
bin (mean over ``n_projections`` seeded random unit directions of the 1-D W1 of the
projections); the bins are weighted by the SNN's occupation of them.  For an equilibrium it is
the sliced W1 of the SNN's cloud to the point.  Sampling N neurons from the attractor's own
occupation gives a nonzero value: :func:`wasserstein_sampling_floor` (multinomial draws).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from bifsnn.network.params import POPULATIONS, ParameterError
from bifsnn.reduction import simulate_ode

__all__ = [
    "ode_coordinates",
    "snn_coordinates",
    "AttractorDistance",
    "attractor_distance",
    "nearest_attractor",
    "coordinate_names",
    "sampling_floor",
    "cycle_phase",
    "sliced_wasserstein",
    "phase_resolved_wasserstein",
    "wasserstein_sampling_floor",
    "PhaseWasserstein",
    "ode_attractors",
]


def _check_coarse(K: int, coarse: int) -> int:
    if isinstance(coarse, bool) or not isinstance(coarse, int | np.integer) or coarse < 1 \
            or K % coarse:
        raise ParameterError(f"coarse = {coarse!r} is out of range: must be a divisor of the "
                             f"number of bins K = {K}")
    return int(coarse)


def coordinate_names(definition: Any, coarse: int = 5) -> list[str]:
    """Labels of the occupation coordinates, e.g. "E[-40,-20)" and "E refractory"."""
    c = _check_coarse(definition.K, coarse)
    e = definition.edges
    names = []
    for pop in POPULATIONS:
        names += [f"{pop}[{e[j]:g},{e[j + c]:g})" for j in range(0, definition.K, c)]
        names.append(f"{pop} refractory")
    return names


def _bands(n: np.ndarray, coarse: int) -> np.ndarray:
    return n.reshape(n.shape[0], -1, coarse).sum(axis=2)


def ode_coordinates(definition: Any, states: Any, coarse: int = 5) -> np.ndarray:
    """Occupation coordinates (T, D) of reduced states (T, n_state) of ``definition``."""
    d = definition
    c = _check_coarse(d.K, coarse)
    x = np.atleast_2d(np.asarray(states, dtype=float))
    if x.shape[1] != d.n_state:
        raise ParameterError(f"states have {x.shape[1]} columns; expected {d.n_state}")
    cols = []
    for pop in POPULATIONS:
        N = d.params.N(pop)
        n = x[:, d.slice("n", pop)]
        cols += [_bands(n, c) / N, ((N - n.sum(axis=1)) / N)[:, None]]
    return np.hstack(cols)


def snn_coordinates(result: Any, definition: Any, coarse: int = 5) -> np.ndarray:
    """Occupation coordinates (T, D) of a simulation's sampled voltage histograms."""
    d = definition
    c = _check_coarse(d.K, coarse)
    if result.voltage_hist_e is None:
        raise ParameterError("result has no voltage histograms: run with voltage_hist_every_ms "
                             "and voltage_hist_edges = definition.edges")
    edges = np.asarray(result.voltage_hist_edges)
    if edges.shape != d.edges.shape or not np.allclose(edges, d.edges):
        raise ParameterError("result's voltage_hist_edges differ from the definition's bins")
    cols = []
    for pop, hist, ref in (("E", result.voltage_hist_e, result.extra["refractory_e"]),
                           ("I", result.voltage_hist_i, result.extra["refractory_i"])):
        N = d.params.N(pop)
        cols += [_bands(np.asarray(hist, float), c) / N, (np.asarray(ref, float) / N)[:, None]]
    return np.hstack(cols)


@dataclass
class AttractorDistance:
    """Distances of sample points to an attractor (occupation coordinates, fractions)."""

    distances: np.ndarray  # per sample
    mean: float
    median: float
    attractor_size: float  # mean distance of the attractor's points from their centroid

    @property
    def relative_mean(self) -> float:
        """Mean distance over the attractor's size (inf for a point attractor)."""
        return self.mean / self.attractor_size if self.attractor_size > 0 else float("inf")


def ode_attractors(definition: Any, starts: list[Any], *, t_ms: float = 1000.0,
                  keep_ms: float = 300.0, record_ms: float = 0.1, coarse: int = 5,
                  same_tol: float = 0.01) -> list[np.ndarray]:
    """Occupation coordinates of the distinct attractors the ODE reaches from ``starts``
    (reduced states, None = the default start): the last ``keep_ms`` of ``t_ms``, every
    ``record_ms``; an equilibrium (coordinates within 1e-3) as its last point; an attractor
    whose every point lies within ``same_tol`` of one already found is dropped."""
    out: list[np.ndarray] = []
    keep = int(round(keep_ms / record_ms))
    for x0 in starts:
        r = simulate_ode(definition, t_ms=t_ms, x0=x0, record_every_ms=record_ms)
        c = ode_coordinates(definition, r.extra["state"][-keep:], coarse)
        if np.ptp(c, axis=0).max() < 1e-3:
            c = c[-1:]
        if not any(attractor_distance(c, a).distances.max() < same_tol for a in out):
            out.append(c)
    return out


def _points(a: Any, name: str) -> np.ndarray:
    p = np.atleast_2d(np.asarray(a, dtype=float))
    if p.size == 0 or not np.all(np.isfinite(p)):
        raise ParameterError(f"{name} must be a non-empty finite array of points")
    return p


def attractor_distance(points: Any, attractor: Any) -> AttractorDistance:
    """Distance of every row of ``points`` to the nearest row of ``attractor``."""
    p = _points(points, "points")
    a = _points(attractor, "attractor")
    if p.shape[1] != a.shape[1]:
        raise ParameterError(f"points have {p.shape[1]} coordinates, attractor {a.shape[1]}")
    dist, _ = cKDTree(a).query(p)
    size = float(np.mean(np.linalg.norm(a - a.mean(axis=0), axis=1)))
    return AttractorDistance(distances=dist, mean=float(dist.mean()),
                             median=float(np.median(dist)), attractor_size=size)


def nearest_attractor(points: Any, attractors: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(index of the nearest attractor, distance to it) for every row of ``points``."""
    p = _points(points, "points")
    if not attractors:
        raise ParameterError("attractors must hold at least one attractor")
    d = np.column_stack([attractor_distance(p, a).distances for a in attractors])
    return np.argmin(d, axis=1), d.min(axis=1)


def sampling_floor(coords: Any, n_e: int, n_i: int) -> float:
    """Root-mean-square distance that sampling N_E + N_I independent neurons from the
    occupation ``coords`` (rows of ODE coordinates) alone would give: the multinomial
    variance sum_i p_i (1 - p_i) / N per population, averaged over the rows."""
    c = _points(coords, "coords")
    half = c.shape[1] // 2
    var = (np.sum(c[:, :half] * (1 - c[:, :half]), axis=1) / n_e
           + np.sum(c[:, half:] * (1 - c[:, half:]), axis=1) / n_i)
    return float(np.sqrt(np.mean(var)))


def cycle_phase(points: Any, dt_ms: float) -> tuple[np.ndarray, float]:
    """(phase in [0, 1) of every row, period in ms) of an attractor sampled every ``dt_ms``:
    the period is the first close return to the first point (a local minimum of the distance
    below 5 % of its maximum, after the distance exceeded half of it); a point attractor (all
    rows within 1e-9) has phase 0 and period 0.  Raises if no return is found."""
    p = _points(points, "points")
    dist = np.linalg.norm(p - p[0], axis=1)
    if dist.max() < 1e-9:
        return np.zeros(p.shape[0]), 0.0
    far = np.flatnonzero(dist > 0.5 * dist.max())
    cand = [i for i in range(far[0] + 1, p.shape[0] - 1)
            if dist[i] <= dist[i - 1] and dist[i] <= dist[i + 1] and dist[i] < 0.05 * dist.max()]
    if not cand:
        raise ParameterError("points do not return close to their start: not a sampled cycle "
                             "(record at least one period)")
    period_steps = cand[0]
    # refine by a parabola through the distances around the return
    i = period_steps
    den = dist[i - 1] - 2 * dist[i] + dist[i + 1]
    shift = 0.5 * (dist[i - 1] - dist[i + 1]) / den if den > 0 else 0.0
    period = (i + shift) * float(dt_ms)
    phase = np.mod(np.arange(p.shape[0]) * float(dt_ms) / period, 1.0)
    return phase, period


def _directions(dim: int, n: int, seed: int) -> np.ndarray:
    u = np.random.default_rng(seed).standard_normal((n, dim))
    return u / np.linalg.norm(u, axis=1, keepdims=True)


def _w1_quantiles(a: np.ndarray, b: np.ndarray, n_q: int = 200) -> np.ndarray:
    """1-D W1 per column of the projections a (n, L) and b (m, L) via quantile functions."""
    q = (np.arange(n_q) + 0.5) / n_q
    return np.mean(np.abs(np.quantile(a, q, axis=0) - np.quantile(b, q, axis=0)), axis=0)


def sliced_wasserstein(x: Any, y: Any, *, n_projections: int = 64, seed: int = 0) -> float:
    """Sliced 1-Wasserstein distance between the point clouds ``x`` and ``y`` (rows): the mean
    over ``n_projections`` random unit directions (``default_rng(seed)``) of the 1-D W1."""
    a, b = _points(x, "x"), _points(y, "y")
    if a.shape[1] != b.shape[1]:
        raise ParameterError(f"x has {a.shape[1]} coordinates, y {b.shape[1]}")
    if isinstance(n_projections, bool) or not isinstance(n_projections, int) \
            or n_projections < 1:
        raise ParameterError(f"n_projections = {n_projections!r} is out of range: must be >= 1")
    u = _directions(a.shape[1], n_projections, seed)
    return float(np.mean(_w1_quantiles(a @ u.T, b @ u.T)))


@dataclass
class PhaseWasserstein:
    """Phase-resolved sliced W1 of samples to an attractor (occupation fractions)."""

    distance: float  # occupation-weighted mean over the phase bins
    per_bin: np.ndarray  # W1 per phase bin (NaN where the SNN has no sample)
    occupation: np.ndarray  # fraction of the samples in each bin
    n_bins: int


def phase_resolved_wasserstein(points: Any, attractor: Any, phase: Any | None = None, *,
                               n_bins: int = 20, n_projections: int = 64,
                               seed: int = 0) -> PhaseWasserstein:
    """Phase-resolved sliced W1 of ``points`` to ``attractor`` (rows with their ``phase`` in
    [0, 1); None: a point attractor, one bin): each point takes the phase of its nearest
    attractor point; per bin the sliced W1 of the points to the attractor's points of that
    bin; bins weighted by the points' occupation."""
    p, a = _points(points, "points"), _points(attractor, "attractor")
    if p.shape[1] != a.shape[1]:
        raise ParameterError(f"points have {p.shape[1]} coordinates, attractor {a.shape[1]}")
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ParameterError(f"n_bins = {n_bins!r} is out of range: must be an integer >= 1")
    ph = np.zeros(a.shape[0]) if phase is None else np.asarray(phase, float)
    if ph.shape != (a.shape[0],) or np.any((ph < 0) | (ph >= 1)):
        raise ParameterError("phase must hold one value in [0, 1) per attractor row")
    nb = 1 if phase is None or np.ptp(a, axis=0).max() < 1e-12 else n_bins
    abin = np.minimum((ph * nb).astype(int), nb - 1)
    _, near = cKDTree(a).query(p)
    pbin = abin[near]
    u = _directions(p.shape[1], n_projections, seed)
    per_bin = np.full(nb, np.nan)
    occ = np.bincount(pbin, minlength=nb) / p.shape[0]
    for b in range(nb):
        sel_p, sel_a = p[pbin == b], a[abin == b]
        if sel_p.shape[0] and sel_a.shape[0]:
            per_bin[b] = float(np.mean(_w1_quantiles(sel_p @ u.T, sel_a @ u.T)))
    ok = np.isfinite(per_bin)
    dist = float(np.sum(per_bin[ok] * occ[ok]) / np.sum(occ[ok]))
    return PhaseWasserstein(distance=dist, per_bin=per_bin, occupation=occ, n_bins=nb)


def wasserstein_sampling_floor(attractor: Any, phase: Any | None, n_e: int, n_i: int, *,
                               n_samples: int = 1000, n_bins: int = 20,
                               seed: int = 0) -> float:
    """The phase-resolved W1 that N_E + N_I independent neurons sampled from the attractor's
    own occupation give (``n_samples`` multinomial draws at random attractor points): the
    value an exact reduction would reach at this N."""
    a = _points(attractor, "attractor")
    rng = np.random.default_rng(seed)
    half = a.shape[1] // 2
    rows = a[rng.integers(0, a.shape[0], n_samples)]
    draws = []
    for cols, n in ((slice(0, half), n_e), (slice(half, None), n_i)):
        pr = np.clip(rows[:, cols], 0.0, None)
        pr = pr / pr.sum(axis=1, keepdims=True)
        draws.append(np.array([rng.multinomial(n, q) for q in pr]) / n)
    return phase_resolved_wasserstein(np.hstack(draws), a, phase, n_bins=n_bins,
                                      seed=seed).distance
