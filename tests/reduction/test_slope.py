"""The sloped within-bin density (closures "slope" and "coloured-regime-slope"): its kernel
against quadrature, the density's mean and support, the reduction to the paper's closure at
zero slope, conservation, Jacobian and df/dp (fidelity regression of three grid cells and
CLI: test_closures.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import assert_rows_close, clear_near_threshold, fd_jacobian, random_state

from bifsnn.network.params import ParameterError
from bifsnn.reduction import MarkovModelDef

SLOPED = ("slope", "coloured-regime-slope")


@pytest.fixture(scope="module")
def slope_model():
    return MarkovModelDef(closure="slope").compile()


def _normal_cdf(t: float) -> float:
    return 0.5 * math.erfc(-t / math.sqrt(2))


def _quadrature(x: float, a: float, b: float, g: float, mu: float, sig: float,
                n: int = 20001) -> tuple[float, float]:
    """F(x), M1(x) of U (linear density of slope g on [a, b]) + N(mu, sig^2), by Simpson."""
    u = np.linspace(a, b, n)
    rho = (1 + g * (2 * u - a - b) / (b - a)) / (b - a)
    t = (x - u - mu) / sig
    cdf = np.array([_normal_cdf(v) for v in t])
    pdf = np.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)
    w = np.ones(n)
    w[1:-1:2], w[2:-1:2] = 4, 2
    w *= (u[1] - u[0]) / 3
    return float(np.sum(w * rho * cdf)), float(np.sum(w * rho * ((u + mu) * cdf - sig * pdf)))


@pytest.mark.parametrize("g", [-0.9, -0.3, 0.0, 0.6])
@pytest.mark.parametrize("x", [95.5, 97.0, 99.0])
def test_kernel_against_quadrature(slope_model, g, x):
    mod = slope_model.module
    a, b, mu, sig = 95.2, 98.9, 0.4, 1.1
    al, be = (x - a - mu) / sig, (x - b - mu) / sig
    args = (x, a, b, g, mu, sig, al, be, *mod.norm_cdf_pdf(al), *mod.norm_cdf_pdf(be))
    F, M1 = mod.kslope(*args)
    Fq, Mq = _quadrature(x, a, b, g, mu, sig)
    assert F == pytest.approx(Fq, abs=1e-10) and M1 == pytest.approx(Mq, abs=1e-8)
    if g == 0.0:  # the paper's uniform kernel
        uni = mod.kcore(x, a, b, mu, sig, *args[6:])
        assert (F, M1) == pytest.approx(uni, rel=1e-13)
    # kslope_grad: the values and d/d(a, b, g, mu, sig) against central differences
    r = mod.kslope_grad(*args)
    assert r[:2] == pytest.approx((F, M1), rel=1e-13)
    base = [x, a, b, g, mu, sig]
    for k in range(5):
        s = 1e-6
        hi, lo = list(base), list(base)
        hi[k + 1] += s
        lo[k + 1] -= s

        def ev(v: list[float]) -> tuple[float, float]:
            t1, t2 = (v[0] - v[1] - v[4]) / v[5], (v[0] - v[2] - v[4]) / v[5]
            return mod.kslope(*v, t1, t2, *mod.norm_cdf_pdf(t1), *mod.norm_cdf_pdf(t2))

        fp, fm = ev(hi), ev(lo)
        assert r[2 + k] == pytest.approx((fp[0] - fm[0]) / (2 * s), abs=1e-7)
        assert r[7 + k] == pytest.approx((fp[1] - fm[1]) / (2 * s), abs=1e-5)


def test_density_fills_the_bin_with_the_bins_mean(slope_model):
    # for |s| <= 1/3 a linear density on the whole bin has the mean: the rule returns it
    # (slope 3 s, support [lo, hi]) up to the smooth limiter (O(s^9)) and the h_min floor
    mod = slope_model.module
    lo, dv = 96.0, 4.0
    for s in (-0.2, -0.1, 0.0, 0.15):
        V = lo + dv / 2 * (1 + s)
        w = mod.within_bin_slope(V, lo, dv, 0.2, 0.02, 5.0, 5.0, 5.0, 0.5, 1e-3, 1.0, 0.0)
        a, b, g = w[:3]
        assert g == pytest.approx(3 * s, abs=0.01 * abs(3 * s) + 1e-15)
        assert a + (b - a) / 2 + g * (b - a) / 6 == pytest.approx(V, abs=1e-12)  # the mean
        assert a == pytest.approx(lo, abs=0.02) and b == pytest.approx(lo + dv, abs=0.02)
    # near an edge: |g| < 1 (positive density) and the support stays (almost) in the bin
    for s in (-0.95, -0.6, 0.7):
        V = lo + dv / 2 * (1 + s)
        a, b, g = mod.within_bin_slope(V, lo, dv, 0.2, 0.02, 5.0, 5.0, 5.0, 0.5, 1e-3, 1.0,
                                       0.0)[:3]
        assert abs(g) < 1 and a > lo - 0.01 and b < lo + dv + 0.01
        assert a + (b - a) / 2 + g * (b - a) / 6 == pytest.approx(V, abs=1e-12)


@pytest.mark.parametrize("closure,paper", [("slope", "paper"),
                                           ("coloured-regime-slope", "coloured-regime")])
def test_zero_slope_is_the_paper_closure(closure, paper):
    # slope_scale = neighbour_slope = 0: the uniform density, i.e. exactly the closure
    # without the slope (right-hand side, rates and Jacobian)
    d = MarkovModelDef(closure=closure, slope_scale=0.0)
    x = random_state(d, np.random.default_rng(11))
    a, b = d.compile(), d.replace(closure=paper).compile()
    scale = 1 + np.abs(b.rhs(x)).max()
    assert np.abs(a.rhs(x) - b.rhs(x)).max() <= 1e-12 * scale
    assert np.allclose(a.firing_rates(x), b.firing_rates(x), rtol=1e-12, atol=1e-14)
    assert np.abs(a.jacobian(x) - b.jacobian(x)).max() <= 1e-10 * np.abs(b.jacobian(x)).max()
    # and the slope does change the transport
    full = d.replace(slope_scale=1.0).compile()
    assert np.abs(full.rhs(x) - b.rhs(x)).max() > 1e-3 * scale


@pytest.mark.parametrize("closure", SLOPED)
def test_conservation_of_neurons_spikes_and_voltage(closure):
    d = MarkovModelDef(closure=closure, neighbour_slope=1.0)
    m = d.compile()
    x = random_state(d, np.random.default_rng(7))
    # with firing: every neuron leaving the bins is a spike, d(sum n)/dt = R / tau_R - f
    f = m.firing_rates(x)
    assert np.all(f > 0)
    dx = m.rhs(x)
    R = d.refractory(x)
    for q, pop in enumerate(("E", "I")):
        assert dx[d.slice("n", pop)].sum() == pytest.approx(R[q] / d.params.tau_R - f[q],
                                                            rel=1e-10, abs=1e-10)
    # without input (no drive, no pending spikes), nobody near threshold and the lowest bins
    # empty (mass pushed below the grid is placed at its lowest edge), the total voltage is
    # kept: the sloped density's mean is the bin mean
    d0 = d.replace(lambda_ext=0.0, delta=0.0)  # delta: Vbar = A / n exactly
    x = clear_near_threshold(d0, random_state(d0, np.random.default_rng(8)))
    x[4 * d0.K:] = 0.0
    for pop in ("E", "I"):
        for qty in ("n", "A"):
            x[d0.slice(qty, pop).start + np.arange(2)] = 0.0
    dx = d0.compile().rhs(x)
    for pop in ("E", "I"):
        A = x[d0.slice("A", pop)]
        assert np.abs(dx[d0.slice("A", pop)].sum()) <= 1e-9 * np.abs(A).sum()


@pytest.mark.parametrize("closure,kn,seed", [("slope", 0.0, 0), ("slope", 1.0, 1),
                                             ("coloured-regime-slope", 0.5, 2)])
def test_jacobian_and_dfdp_against_finite_differences(closure, kn, seed):
    d = MarkovModelDef(closure=closure, neighbour_slope=kn)
    m = d.compile()
    x = random_state(d, np.random.default_rng(seed))
    assert_rows_close(m.jacobian(x), fd_jacobian(m, x, floor=0.01))
    J, gf = m.jacobian(x, with_rate_gradient=True)
    s = 1e-6
    for i in np.random.default_rng(seed).choice(x.size, 8, replace=False):
        e = np.zeros(x.size)
        e[i] = s * max(abs(x[i]), 0.01)
        fd = (m.firing_rates(x + e) - m.firing_rates(x - e)) / (2 * e[i])
        assert np.allclose(gf[:, i], fd, rtol=1e-5, atol=1e-7 * (1 + np.abs(gf).max()))
    for name in ("p_EI", "tau_EE", "S_EI", "lambda_ext"):
        v = m.param_value(name)
        h = 1e-5 * max(abs(v), 1.0)
        fd = (m.with_param_value(name, v + h).rhs(x) - m.with_param_value(name, v - h).rhs(x))
        assert np.abs(m.dfdp(x, name) - fd / (2 * h)).max() <= 1e-5 * (1 + np.abs(fd).max() / h)


def test_options_and_bad_input():
    d = MarkovModelDef(closure="coloured-regime-slope", neighbour_slope=0.5)
    assert d.n_state == 4 * d.K + 8 and not d.conditional
    o = d.option_vector()
    assert tuple(o[9:15]) == (1.0, 1.0, 0.0, 1.0, 1.0, 0.5)  # slot 15: coupling_e
    assert tuple(MarkovModelDef(closure="paper").option_vector()[12:15]) == (0.0, 1.0, 0.0)
    with pytest.raises(ParameterError, match="slope_scale"):
        MarkovModelDef(closure="slope", slope_scale=-1.0)
    with pytest.raises(ParameterError, match="neighbour_slope"):
        MarkovModelDef(closure="slope", neighbour_slope=math.inf)
    with pytest.raises(ParameterError, match="bin_rule"):
        MarkovModelDef(closure="slope", bin_rule="reference")


def test_finite_size_noise_refuses_the_sloped_closures():
    from bifsnn.reduction.noise import simulate_sde

    with pytest.raises(ParameterError, match="finite-size noise"):
        simulate_sde(MarkovModelDef(closure="slope"), t_ms=1.0, seed=0)
