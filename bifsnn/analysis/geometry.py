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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from bifsnn.network.params import POPULATIONS, ParameterError

__all__ = [
    "ode_coordinates",
    "snn_coordinates",
    "AttractorDistance",
    "attractor_distance",
    "nearest_attractor",
    "coordinate_names",
    "sampling_floor",
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
