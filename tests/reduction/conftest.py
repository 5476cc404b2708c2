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


def fd_jacobian(model, x: np.ndarray, rel: float = 1e-6, floor: float = 1e-2,
                fn=None) -> np.ndarray:
    """Central-difference df/dx, step ``rel * max(|x_i|, floor)`` per component; ``fn``
    (default ``model.rhs``) is the function differentiated (e.g. ``model.firing_rates``)."""
    fn = model.rhs if fn is None else fn
    J = np.empty((np.size(fn(x)), x.size))
    for i in range(x.size):
        s = rel * max(abs(x[i]), floor)
        xp, xm = x.copy(), x.copy()
        xp[i] += s
        xm[i] -= s
        J[:, i] = (fn(xp) - fn(xm)) / (2 * s)
    return J


def assert_rows_close(J: np.ndarray, Jfd: np.ndarray, tol: float = 1e-5,
                      names: list[str] | None = None) -> None:
    """Every entry of J within ``tol`` of its row's largest magnitude of the differences."""
    scale = np.abs(J).max(axis=1, keepdims=True) + 1e-12
    err = np.abs(J - Jfd) / scale
    i, j = np.unravel_index(err.argmax(), err.shape)
    where = f"{names[i]} / {names[j]}" if names else f"({i}, {j})"
    assert err.max() < tol, f"{where}: analytic {J[i, j]}, fd {Jfd[i, j]}"


def assert_dfdp_close(model, x: np.ndarray, names: tuple[str, ...]) -> None:
    """Analytic df/dp of each named parameter against a central difference."""
    for name in names:
        v = model.param_value(name)
        s = 1e-5 * max(abs(v), 1.0)
        fd = (model.with_param_value(name, v + s).rhs(x)
              - model.with_param_value(name, v - s).rhs(x)) / (2 * s)
        assert np.abs(model.dfdp(x, name) - fd).max() <= 1e-5 * (1 + np.abs(fd).max()), name


def clear_near_threshold(d: MarkovModelDef, x: np.ndarray, v_max: float = 40.0) -> np.ndarray:
    """x with every bin above ``v_max`` emptied and the bin means kept below it (nobody can
    fire within a window: transport must then conserve neurons)."""
    for pop in ("E", "I"):
        n = x[d.slice("n", pop)]
        n[d.edges[1:] > v_max] = 0.0
        x[d.slice("A", pop)] = np.minimum(x[d.slice("A", pop)], n * (v_max - 1.0))
    return x
