"""Occupation coordinates of the ODE and the SNN, and distances to attractors."""

import numpy as np
import pytest

from bifsnn.analysis.geometry import (
    attractor_distance,
    coordinate_names,
    cycle_phase,
    nearest_attractor,
    ode_coordinates,
    phase_resolved_wasserstein,
    sampling_floor,
    sliced_wasserstein,
    snn_coordinates,
    wasserstein_sampling_floor,
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


def test_sliced_wasserstein_known_values():
    """1-D: W1(N(0,1), N(1,1)) = 1; a shift s in d = 2 gives |s| E|cos| = |s| 2/pi; a cloud
    against itself 0."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20000, 1))
    assert sliced_wasserstein(x, x + 1.0, n_projections=1) == pytest.approx(1.0, abs=1e-9)
    assert sliced_wasserstein(x, rng.standard_normal((20000, 1)) + 1.0) == \
        pytest.approx(1.0, abs=0.03)
    y = rng.standard_normal((5000, 2))
    assert sliced_wasserstein(y, y) == pytest.approx(0.0, abs=1e-12)
    shifted = sliced_wasserstein(y, y + np.array([0.3, 0.4]), n_projections=4000)
    assert shifted == pytest.approx(0.5 * 2 / np.pi, rel=0.03)
    with pytest.raises(ParameterError, match="n_projections"):
        sliced_wasserstein(y, y, n_projections=0)


def test_cycle_phase_and_phase_resolved_distance():
    """A circle sampled every 0.1 ms with period 12.3 ms: period and phases recovered; points
    on the cycle have distance ~0; a Gaussian cloud around a point attractor has the sliced
    W1 sigma E|theta . xi| = sigma sqrt(2/pi) (isotropic noise); the cycle at half its radius
    is 0.5 away radially, i.e. W1 about 0.5 x 2 / pi."""
    t = np.arange(0, 60.0, 0.1)
    circle = np.column_stack([np.cos(2 * np.pi * t / 12.3), np.sin(2 * np.pi * t / 12.3)])
    phase, period = cycle_phase(circle, 0.1)
    assert period == pytest.approx(12.3, rel=2e-3)
    assert phase[0] == 0.0 and np.all((phase >= 0) & (phase < 1))
    ts = t + 0.01  # the cycle turned by 0.005 rad: W1 about 0.005 x 2 / pi
    between = np.column_stack([np.cos(2 * np.pi * ts / 12.3), np.sin(2 * np.pi * ts / 12.3)])
    on = phase_resolved_wasserstein(between, circle, phase)
    assert on.distance < 0.01 and on.n_bins == 20
    assert on.occupation.sum() == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    cloud = 0.1 * rng.standard_normal((20000, 2)) + np.array([1.0, 2.0])
    eq = phase_resolved_wasserstein(cloud, [[1.0, 2.0]], None, n_projections=500)
    assert eq.n_bins == 1 and eq.distance == pytest.approx(0.1 * np.sqrt(2 / np.pi), rel=0.03)
    inner = phase_resolved_wasserstein(0.5 * circle, circle, phase)
    assert inner.distance == pytest.approx(0.5 * 2 / np.pi, rel=0.1)
    with pytest.raises(ParameterError, match="not a sampled cycle"):
        cycle_phase(circle[:50], 0.1)
    with pytest.raises(ParameterError, match="phase"):
        phase_resolved_wasserstein(circle, circle, phase + 1.0)


def test_wasserstein_floor_matches_multinomial_samples(d_eq):
    """At the equilibrium, N neurons drawn from its occupation are at the floor, and the floor
    falls about as 1/sqrt(N) (N = 400 vs 1600)."""
    d, eq = d_eq
    y = ode_coordinates(d, eq.x)
    f400 = wasserstein_sampling_floor(y, None, P.N_E, P.N_I, seed=1)
    f1600 = wasserstein_sampling_floor(y, None, 4 * P.N_E, 4 * P.N_I, seed=1)
    assert f1600 / f400 == pytest.approx(0.5, rel=0.1)
    rng = np.random.default_rng(3)
    draws = np.hstack([rng.multinomial(P.N_E, y[0, :8] / y[0, :8].sum(), 1000) / P.N_E,
                       rng.multinomial(P.N_I, y[0, 8:] / y[0, 8:].sum(), 1000) / P.N_I])
    assert phase_resolved_wasserstein(draws, y).distance == pytest.approx(f400, rel=0.1)
