"""Occupation coordinates of the ODE and the SNN, and distances to attractors."""

import numpy as np
import pytest

from bifsnn.analysis.geometry import (
    attractor_distance,
    coordinate_names,
    nearest_attractor,
    ode_coordinates,
    sampling_floor,
    snn_coordinates,
)
from bifsnn.network.params import NetworkParams, ParameterError
from bifsnn.network.snn import simulate_snn
from bifsnn.network.states import state_from_reduced
from bifsnn.reduction import MarkovModelDef, find_equilibrium, simulate_ode

P = NetworkParams()


@pytest.fixture(scope="module")
def d_eq():
    d = MarkovModelDef(params=P)
    return d, find_equilibrium(d)


def test_coordinates_are_fractions(d_eq):
    d, eq = d_eq
    y = ode_coordinates(d, eq.x)
    assert y.shape == (1, 16) and len(coordinate_names(d)) == 16
    half = y.shape[1] // 2
    assert y[0, :half].sum() == pytest.approx(1.0) and y[0, half:].sum() == pytest.approx(1.0)
    assert coordinate_names(d)[0] == "E[-40,-20)" and coordinate_names(d)[7] == "E refractory"
    with pytest.raises(ParameterError, match="coarse"):
        ode_coordinates(d, eq.x, coarse=4)


def test_distance_to_own_trajectory_and_a_shift(d_eq):
    d, _ = d_eq
    r = simulate_ode(d, t_ms=300.0, record_every_ms=0.1)
    y = ode_coordinates(d, r.extra["state"][1000:])
    dist = attractor_distance(y[::7], y)
    assert dist.mean == pytest.approx(0.0, abs=1e-12) and dist.attractor_size > 0.05
    shift = np.zeros(y.shape[1])
    shift[0] = 0.01
    assert attractor_distance(y + shift, y).median <= 0.01 + 1e-12
    idx, dmin = nearest_attractor(y[:5] + shift, [y, y + 10.0])
    assert np.all(idx == 0) and np.all(dmin <= 0.01 + 1e-12)


def test_snn_started_at_the_equilibrium_sits_near_it(d_eq):
    """After one step the SNN's coordinates are the equilibrium's up to the rounding and the
    sampling of 400 neurons (distance < 0.05 in fractions); the default start is far."""
    d, eq = d_eq
    st = state_from_reduced(d, eq.x, seed=0)
    kw = dict(t_ms=0.1, seed=1, progress=False, voltage_hist_every_ms=0.1,
              voltage_hist_edges=d.edges)
    near = attractor_distance(snn_coordinates(simulate_snn(P, initial_state=st, **kw), d),
                              ode_coordinates(d, eq.x))
    far = attractor_distance(snn_coordinates(simulate_snn(P, **kw), d), ode_coordinates(d, eq.x))
    assert near.mean < 0.05 < 0.5 < far.mean
    # a state sampled from the equilibrium's occupation lies at about the sampling floor
    floor = sampling_floor(ode_coordinates(d, eq.x), P.N_E, P.N_I)
    rng = np.random.default_rng(0)
    y = ode_coordinates(d, eq.x)[0]
    draws = np.hstack([rng.multinomial(P.N_E, y[:8] / y[:8].sum(), 2000) / P.N_E,
                       rng.multinomial(P.N_I, y[8:] / y[8:].sum(), 2000) / P.N_I])
    rms = np.sqrt(np.mean(np.sum((draws - y) ** 2, axis=1)))
    assert rms == pytest.approx(floor, rel=0.05)
    with pytest.raises(ParameterError, match="voltage histograms"):
        snn_coordinates(simulate_snn(P, t_ms=1.0, progress=False), d)
