"""Conservation, map = Euler step of the ODE, positivity of the ODE."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_state
from hypothesis import given, settings
from hypothesis import strategies as st

from bifsnn.reduction import MarkovModelDef
from bifsnn.reduction.integrate import simulate_map


def _refractory_rhs(model, x):
    d = model.definition
    f = model.firing_rates(x)
    R = d.refractory(x)
    return f - R / d.params.tau_R


def test_ode_conserves_neurons(smooth_model):
    # d/dt (sum n) must equal -(dR/dt) = -(f - R/tau_R) exactly: mass below the lowest
    # edge is lumped into the lowest bin, none is lost.  Round-off bound: 1e-12 relative
    # to the largest transport term N / h.
    d = smooth_model.definition
    for seed in range(5):
        x = random_state(d, np.random.default_rng(seed))
        # push mass towards the bottom: strong inhibition drives it below -40
        x[d.moment_index("m", "EI")] = 400.0
        x[d.moment_index("m", "II")] = 400.0
        dx = smooth_model.rhs(x)
        dR = _refractory_rhs(smooth_model, x)
        for q, pop in enumerate("EI"):
            total = dx[d.slice("n", pop)].sum() + dR[q]
            assert abs(total) < 1e-12 * d.params.N(pop) / d.window_ms


@pytest.mark.parametrize(
    "outflow", ["clean", pytest.param("published", marks=pytest.mark.slow)]
)
def test_map_conserves_neurons_over_10_s(outflow):
    # sum n + R = N to 1e-9 relative over 10 s of model time (100000 steps): the map keeps
    # R explicitly, so this tests that no neuron is lost below the lowest edge or at threshold
    d = MarkovModelDef(bin_rule="reference", delta=0.0, outflow=outflow)
    res = simulate_map(d, t_ms=10_000.0, record_every_ms=1000.0)
    assert res.options["success"]
    states, Rs = res.extra["state"], res.extra["refractory"]
    for q, pop in enumerate("EI"):
        N = d.params.N(pop)
        total = states[:, d.slice("n", pop)].sum(axis=1) + Rs[:, q]
        assert np.max(np.abs(total - N)) < 1e-9 * N, (outflow, pop)
    assert res.spike_counts_e.sum() > 1000  # the network was active


def test_map_is_euler_step_of_reference_ode(reference_model):
    # one map step (reference rule, clean outflow, moments driven by this step's rate) equals
    # x + h f(x) up to round-off (1e-12 relative to the largest component)
    d = reference_model.definition
    h = d.window_ms
    mod = reference_model.module
    for seed in range(3):
        x = random_state(d, np.random.default_rng(seed), empty_frac=0.2, tiny=1e-3)
        R = d.refractory(x)
        counts = np.zeros((1, 2))
        xf, Rf, _, status = mod.run_map(
            x, R, reference_model.pv, reference_model.edges, reference_model.opt, False,
            False, 1, 1, counts, np.zeros((1, d.n_state)), np.zeros((1, 2)),
        )
        assert status == 0
        euler = x + h * reference_model.rhs(x)
        scale = np.abs(euler).max()
        np.testing.assert_allclose(xf, euler, rtol=0, atol=1e-12 * scale)
        f = reference_model.firing_rates(x)
        np.testing.assert_allclose(Rf, R + h * (f - R / d.params.tau_R), rtol=0,
                                   atol=1e-12 * scale)
        np.testing.assert_allclose(counts[0], h * f, rtol=1e-12)


def test_published_outflow_differs_and_is_nonnegative():
    d = MarkovModelDef(bin_rule="reference", delta=0.0)
    a = simulate_map(d, t_ms=300.0)
    b = simulate_map(d.replace(outflow="published"), t_ms=300.0)
    assert a.options["success"] and b.options["success"]
    assert not np.allclose(a.rate_e, b.rate_e)
    assert (b.extra["refractory"] >= -1e-9).all()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), empty=st.floats(0.0, 0.9),
       mE=st.floats(0.0, 300.0), mI=st.floats(0.0, 300.0))
def test_ode_finite_and_positivity_preserving(smooth_model, seed, empty, mE, mI):
    # On random valid states the right-hand side is finite, rates are >= 0, and every
    # quantity that is zero has a non-negative derivative (the non-negative orthant is
    # invariant): empty bins, zero moments.  Round-off allowance 1e-12 of N/h.
    d = smooth_model.definition
    rng = np.random.default_rng(seed)
    x = random_state(d, rng, empty_frac=empty, tiny=0.0)
    x[d.moment_index("m", "EE")] = mE
    x[d.moment_index("m", "EI")] = mI
    x[d.moment_index("v", "IE")] = 0.0
    x[d.moment_index("m", "II")] = 0.0
    x[d.moment_index("v", "II")] = 0.0
    dx, f = smooth_model.rhs_and_rates(x)
    tol = 1e-12 * 300 / d.window_ms
    assert np.all(np.isfinite(dx))
    assert np.all(f >= -tol)  # 1 - F(M) carries ~1e-16 cancellation (seen: -4e-14)
    zero = x == 0.0
    n_idx = np.r_[np.arange(d.slice("n", "E").start, d.slice("n", "E").stop),
                  np.arange(d.slice("n", "I").start, d.slice("n", "I").stop),
                  np.arange(4 * d.K, d.n_state)]
    sel = n_idx[zero[n_idx]]
    assert np.all(dx[sel] >= -tol)
    # the voltage of an empty bin grows from 0 towards a value inside the bin:
    # dA/dt = lo * dn/dt ... hi * dn/dt
    lo = d.edges[:-1]
    for pop in "EI":
        sn, sa = d.slice("n", pop), d.slice("A", pop)
        empty_bins = x[sn] == 0.0
        dn, dA = dx[sn][empty_bins], dx[sa][empty_bins]
        l0 = lo[empty_bins]
        assert np.all(dA >= np.minimum(l0 * dn, (l0 + d.dv) * dn) - tol)
        assert np.all(dA <= np.maximum(l0 * dn, (l0 + d.dv) * dn) + tol)
