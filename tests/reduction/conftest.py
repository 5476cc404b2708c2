"""Shared fixtures of the reduction tests: compiled models and random valid states."""

from __future__ import annotations

import numpy as np
import pytest

from bifsnn.reduction import MarkovModelDef


def random_state(
    d: MarkovModelDef,
    rng: np.random.Generator,
    *,
    empty_frac: float = 0.3,
    tiny: float = 1e-4,
    margin: float = 0.05,
    refractory_frac: float = 0.1,
) -> np.ndarray:
    """A valid state: n >= 0 with sum n <= N, bin means inside their bins, moments >= 0.

    A fraction ``empty_frac`` of the bins is nearly empty (occupancy scaled by ``tiny``);
    bin means keep a relative distance ``margin`` from the edges.
    """
    x = np.zeros(d.n_state)
    lo = d.edges[:-1]
    for pop in ("E", "I"):
        N = d.params.N(pop)
        w = rng.dirichlet(np.full(d.K, 0.5)) * N * (1 - refractory_frac)
        w[rng.random(d.K) < empty_frac] *= tiny
        V = lo + d.dv * rng.uniform(margin, 1 - margin, d.K)
        x[d.slice("n", pop)] = w
        x[d.slice("A", pop)] = w * V
    for pw in ("EE", "EI", "IE", "II"):
        m = rng.uniform(0, 40)
        x[d.moment_index("m", pw)] = m
        x[d.moment_index("v", pw)] = rng.uniform(0, 2 * m + 1)
    return x


@pytest.fixture(scope="session")
def smooth_model():
    return MarkovModelDef(bin_rule="smooth").compile()


@pytest.fixture(scope="session")
def reference_model():
    return MarkovModelDef(bin_rule="reference", delta=0.0).compile()
