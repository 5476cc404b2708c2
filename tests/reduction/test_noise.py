"""Finite-size noise of the reduced model: the chemical Langevin SDE."""

import numpy as np
import pytest

from bifsnn.network.params import NetworkParams, ParameterError
from bifsnn.reduction import MarkovModelDef, find_equilibrium, simulate_ode
from bifsnn.reduction.noise import (
    diffusion_matrix,
    drift_from_reactions,
    simulate_sde,
)

P = NetworkParams()


@pytest.fixture(scope="module")
def model_eq():
    m = MarkovModelDef(params=P).compile()
    eq = find_equilibrium(m)
    assert eq.success
    return m, eq.x


def _increments(m, x, n, seed0=0):
    """n one-step (dt = h = 0.1 ms) Euler-Maruyama increments from the fixed state x."""
    return np.array([simulate_sde(m, t_ms=0.1, dt_ms=0.1, seed=seed0 + s, x0=x)
                     .extra["final_state"] - x for s in range(n)])


def test_reactions_reproduce_the_drift():
    """sum_r a_r nu_r is the ODE's right-hand side (the moments without their decay)."""
    m = MarkovModelDef(params=P).compile()
    x = simulate_ode(m, t_ms=57.0).extra["final_state"]  # a generic point of the cycle
    d = m.definition
    f = m.rhs(x)
    g = drift_from_reactions(m, x)
    K = d.K
    scale = np.abs(x[:4 * K]).max() / d.window_ms
    np.testing.assert_allclose(g[:4 * K], f[:4 * K], atol=1e-5 * scale)
    for pw in ("EE", "EI", "IE", "II"):
        i = d.moment_index("m", pw)
        np.testing.assert_allclose(g[i], f[i] + x[i] / P.tau(pw), rtol=1e-9, atol=1e-9)


def test_noise_variance_matches_the_diffusion_matrix(model_eq):
    """Empirical covariance of 3000 one-step increments against D dt (4 standard errors of a
    variance from 3000 samples ~ 10 %), on well-occupied bins, the totals and a moment."""
    m, x = model_eq
    d = m.definition
    dt = 0.1
    D = diffusion_matrix(m, x)
    dx = _increments(m, x, 3000)
    nE = d.slice("n", "E")
    j = nE.start + int(np.argmax(x[nE]))
    jA = j + d.K
    k = d.moment_index("m", "EE")
    for a, b in ((j, j), (j + 1, j + 1), (jA, jA), (k, k), (j, j + 1), (j, jA)):
        emp = np.cov(dx[:, a], dx[:, b])[0, 1]
        assert emp == pytest.approx(D[a, b] * dt, rel=0.12), (a, b)
    tot = dx[:, nE].sum(axis=1)  # changes only by firing and refractory exit
    w = np.zeros(d.n_state)
    w[nE] = 1.0
    assert tot.var() == pytest.approx(w @ D @ w * dt, rel=0.12)
    # the mean increment is the ODE's drift
    se = np.sqrt(np.diag(D) * dt / dx.shape[0])
    f = m.rhs(x) * dt
    assert abs(dx[:, j].mean() - f[j]) < 5 * se[j]


def test_occupancy_noise_against_its_analytic_value(model_eq):
    """The E occupancy sum_j n_j changes only by firing (-1) and refractory exits (+1), two
    Poisson streams at the ODE's own rates, so its increment variance is analytically
    (f_E + R_E / tau_R) dt with f_E = firing_rates(x)[0] (spikes/ms) and R_E = N_E - sum n:
    D gives it to rounding, 3000 simulated increments within 4 standard errors (12 %)."""
    m, x = model_eq
    d = m.definition
    dt = 0.1
    nE = d.slice("n", "E")
    analytic = (m.firing_rates(x)[0] + (P.N_E - x[nE].sum()) / P.tau_R) * dt
    w = np.zeros(d.n_state)
    w[nE] = 1.0
    assert w @ diffusion_matrix(m, x) @ w * dt == pytest.approx(analytic, rel=1e-6)
    tot = _increments(m, x, 3000, seed0=50_000)[:, nE].sum(axis=1)
    assert tot.var() == pytest.approx(analytic, rel=0.12)


def test_noise_scales_as_one_over_n(model_eq):
    """Scaled network (N -> 4N, N S fixed) at the scaled state (n, A, m x 4; v x 16, so the
    drive's mean and variance are unchanged; delta x 4 keeps every bin mean): D is exactly
    4 times larger, so the noise of
    the normalised state x / N is 4 times smaller in variance, empirically too."""
    m1, x1 = model_eq
    d1 = m1.definition
    m4 = MarkovModelDef(params=P.scaled(4), delta=4 * d1.delta).compile()
    K = d1.K
    x4 = x1 * 4.0
    x4[4 * K + 1::2] *= 4.0  # variances scale as k^2
    np.testing.assert_allclose(m4.firing_rates(x4), 4 * m1.firing_rates(x1), rtol=1e-9)
    D1, D4 = diffusion_matrix(m1, x1), diffusion_matrix(m4, x4)
    sel = np.arange(4 * K + 1, 4 * K + 8, 2)  # the v rows gain a factor p(1 - p) only
    keep = np.setdiff1d(np.arange(d1.n_state), sel)
    np.testing.assert_allclose(D4[np.ix_(keep, keep)], 4 * D1[np.ix_(keep, keep)],
                               rtol=1e-8, atol=1e-12 * np.abs(D1).max())
    j = int(np.argmax(x1[d1.slice("n", "E")]))
    v1 = (_increments(m1, x1, 1500)[:, j] / P.N_E).var()
    v4 = (_increments(m4, x4, 1500, seed0=10_000)[:, j] / (4 * P.N_E)).var()
    assert v1 / v4 == pytest.approx(4.0, rel=0.2)


def test_seeded_reproducibility_and_deterministic_limit(model_eq):
    m, x = model_eq
    a = simulate_sde(m, t_ms=20.0, seed=3, x0=x)
    b = simulate_sde(m, t_ms=20.0, seed=3, x0=x)
    c = simulate_sde(m, t_ms=20.0, seed=4, x0=x)
    np.testing.assert_array_equal(a.extra["final_state"], b.extra["final_state"])
    np.testing.assert_array_equal(a.spike_counts_e, b.spike_counts_e)
    assert not np.array_equal(a.spike_counts_e, c.spike_counts_e)
    assert a.seed == 3 and a.model == "sde" and a.options["success"]
    # noise_scale = 0: explicit Euler of the ODE; at dt = 0.01 ms its rate is the ODE's
    e = simulate_sde(m, t_ms=150.0, noise_scale=0.0)
    o = simulate_ode(m, t_ms=150.0)
    assert e.spike_counts_e.sum() == pytest.approx(o.spike_counts_e.sum(), rel=0.01)


def test_bad_arguments_raise(model_eq):
    m, _ = model_eq
    for kw, word in ((dict(dt_ms=0.03), "dt_ms"), (dict(dt_ms=0.2), "dt_ms"),
                     (dict(seed=-1), "seed"), (dict(noise_scale=-1.0), "noise_scale"),
                     (dict(t_ms=0.0), "t_ms"), (dict(x0=np.zeros(3)), "x0")):
        args = {"t_ms": 1.0, **kw}
        with pytest.raises(ParameterError, match=word):
            simulate_sde(m, **args)


def test_coloured_closure_reactions_reproduce_its_drift():
    """The coloured closure changes P_jl only: its reactions give its own drift, which differs
    from the paper's at the same state (so the SDE follows the closure it is given)."""
    pe = NetworkParams(p_EI=0.8, tau_EE=2.8)
    m = MarkovModelDef(params=pe, closure="coloured").compile()
    paper = MarkovModelDef(params=pe).compile()
    x = simulate_ode(m, t_ms=57.0).extra["final_state"]
    K = m.definition.K
    f, g = m.rhs(x), drift_from_reactions(m, x)
    scale = np.abs(x[:4 * K]).max() / m.definition.window_ms
    np.testing.assert_allclose(g[:4 * K], f[:4 * K], atol=1e-5 * scale)
    assert np.abs(drift_from_reactions(paper, x)[:4 * K] - g[:4 * K]).max() > 1e-2 * scale
    r = simulate_sde(m, t_ms=5.0, seed=3, dt_ms=0.05, x0=x)
    assert r.options["success"] and r.spike_counts_e.sum() > 0


def test_conditional_closures_are_refused():
    """Per-bin pending totals (state 8 K + 8) have no reactions: a clear error, no result."""
    for closure in ("conditional", "conditional-coloured"):
        d = MarkovModelDef(params=P, closure=closure)
        with pytest.raises(ParameterError, match="closure"):
            simulate_sde(d, t_ms=1.0)
        with pytest.raises(ParameterError, match="closure"):
            diffusion_matrix(d, d.initial_state())


def test_spike_counts_are_unbiased_at_a_low_rate():
    """At p_EI = 1 (E 16, I 39 Hz: 0.5 and 0.4 expected spikes per 0.1 ms step, with noise of
    the same size) the counts stay >= 0 and their mean is the mean expected rate at the
    recorded states: the I total over 600 ms (~2300 spikes, noise sd ~2 %) within 7 %.
    Clipping each step's total at 0, as an earlier version did, gave +19 % in I."""
    m = MarkovModelDef(params=NetworkParams(p_EI=1.0, tau_EE=1.4)).compile()
    x0 = simulate_sde(m, t_ms=100.0, seed=1).extra["final_state"]
    r = simulate_sde(m, t_ms=600.0, seed=2, x0=x0, record_every_ms=0.1)
    assert r.options["success"]
    assert r.spike_counts_e.min() >= 0.0 and r.spike_counts_i.min() >= 0.0
    assert (r.spike_counts_i == 0.0).mean() > 0.3  # the regime where clipping biased
    expected = np.array([m.firing_rates(x) for x in r.extra["state"]]).mean(axis=0) * 0.1
    assert r.spike_counts_e.mean() == pytest.approx(expected[0], rel=0.07)
    assert r.spike_counts_i.mean() == pytest.approx(expected[1], rel=0.07)
