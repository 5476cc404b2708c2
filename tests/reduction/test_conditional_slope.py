"""The conditional closures with the sloped within-bin density ("conditional-slope",
"conditional-regime-slope"): the density of the sloped kernel, the reduction to the parents
(zero slope) and to "slope" (zero coupling, where input correlation vanishes), Jacobian
(conservation of neurons and pending spikes: test_conditional.py; fidelity regression of three
grid cells and CLI: test_closures.py)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import fd_jacobian, random_state

from bifsnn.network.params import PATHWAYS, ParameterError
from bifsnn.reduction import MarkovModelDef


def cond_state(d: MarkovModelDef, seed: int, spread: float = 0.1, **kw) -> np.ndarray:
    """A random valid state with per-bin pending totals B = m n scaled by random factors."""
    rng = np.random.default_rng(seed)
    x = d.extend_state(random_state(d.replace(closure="paper"), rng, **kw))
    x[4 * d.K + 8:] *= np.exp(spread * rng.standard_normal(4 * d.K))
    return x


@pytest.fixture(scope="module")
def model():
    return MarkovModelDef(closure="conditional-slope").compile()


def test_validation_and_layout():
    d = MarkovModelDef(closure="conditional-slope")
    assert d.conditional and d.n_state == 8 * d.K + 8
    assert d.option_vector()[[6, 12, 16]].tolist() == [1.0, 1.0, 0.0]
    assert MarkovModelDef(closure="conditional-regime-slope").option_vector()[16] == 1.0
    with pytest.raises(ParameterError, match="neighbour_slope"):
        MarkovModelDef(closure="conditional-slope", neighbour_slope=0.5)
    with pytest.raises(ParameterError, match="bin_rule"):
        MarkovModelDef(closure="conditional-slope", bin_rule="reference")


@pytest.mark.parametrize("g", [-0.8, 0.0, 0.5])
def test_kernel_density_is_dF_dx(model, g):
    # kslope_rho's rho is the density of U + xi at x (dF/dx), its derivatives those of
    # rho; g = 0 gives the uniform kernel's density (kcore_rho)
    mod = model.module
    a, b, mu, sig = 95.2, 98.9, 0.4, 1.1

    def ev(x, a=a, b=b, g=g, mu=mu, sig=sig, fn=mod.kslope_rho):
        al, be = (x - a - mu) / sig, (x - b - mu) / sig
        return fn(x, a, b, g, mu, sig, al, be, *mod.norm_cdf_pdf(al), *mod.norm_cdf_pdf(be))

    for x in (95.5, 97.0, 99.0, 100.0):
        F, M1, rho = ev(x)
        assert (F, M1) == pytest.approx(ev(x, fn=mod.kslope), rel=1e-13)
        s = 1e-5
        assert rho == pytest.approx((ev(x + s)[0] - ev(x - s)[0]) / (2 * s), abs=1e-8)
        if g == 0.0:
            al, be = (x - a - mu) / sig, (x - b - mu) / sig
            uni = mod.kcore_rho(x, a, b, mu, sig, al, be, *mod.norm_cdf_pdf(al),
                                *mod.norm_cdf_pdf(be))
            assert rho == pytest.approx(uni[2], rel=1e-12, abs=1e-15)
        r = ev(x, fn=mod.kslope_rho_grad)
        assert r[:2] + (r[12],) == pytest.approx((F, M1, rho), rel=1e-13)
        for k, name in enumerate(("a", "b", "g", "mu", "sig")):
            kw = {name: {"a": a, "b": b, "g": g, "mu": mu, "sig": sig}[name]}
            hi = ev(x, **{name: kw[name] + s})[2]
            lo = ev(x, **{name: kw[name] - s})[2]
            assert r[13 + k] == pytest.approx((hi - lo) / (2 * s), abs=1e-7), name


@pytest.mark.parametrize("closure,parent", [("conditional-slope", "conditional"),
                                            ("conditional-regime-slope", "conditional-regime")])
def test_zero_slope_is_the_parent(closure, parent):
    d = MarkovModelDef(closure=closure, slope_scale=0.0)
    x = cond_state(d, 3)
    a, b = d.compile().rhs(x), d.replace(closure=parent).compile().rhs(x)
    assert np.abs(a - b).max() <= 1e-12 * (1 + np.abs(b).max())


def test_zero_coupling_is_slope_on_the_manifold():
    # coupling 0 (no input correlation carried): on B = m n the B rows are d(m n)/dt and the
    # rest is "slope"'s right-hand side, at any state
    d0 = MarkovModelDef(closure="conditional-slope", coupling=0.0)
    slope = MarkovModelDef(closure="slope").compile()
    xp = random_state(slope.definition, np.random.default_rng(4))
    x = d0.extend_state(xp)
    dx, dxp = d0.compile().rhs(x), slope.rhs(xp)
    assert np.abs(dx[:xp.size] - dxp).max() <= 1e-9 * (1 + np.abs(dxp).max())
    for pw in PATHWAYS:
        i, nn = d0.moment_index("m", pw), d0.slice("n", pw[0])
        assert np.allclose(dx[d0.slice_pending(pw)], xp[i] * dxp[nn] + dxp[i] * xp[nn],
                           rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("closure,seed", [("conditional-slope", 0), ("conditional-slope", 1),
                                          ("conditional-regime-slope", 0)])
def test_jacobian_against_finite_differences(closure, seed):
    # Every entry must match one of two independent difference estimates (central, step
    # 1e-6 max(|x|, 0.1); Richardson-extrapolated central, floor 0.3) to 1e-5 of its row's
    # scale: the dense coupling through the within-bin variances makes single entries of
    # either estimate noisy (round-off at small steps, curvature at large ones), a wrong
    # analytic entry matches neither.
    m = MarkovModelDef(closure=closure, regime_shift=-1.0).compile()
    x = cond_state(m.definition, seed)
    J, gf = m.jacobian(x, with_rate_gradient=True)
    fd1 = fd_jacobian(m, x, floor=0.1)
    fd2 = (4 * fd_jacobian(m, x, floor=0.3) - fd_jacobian(m, x, floor=0.6)) / 3
    scale = np.abs(J).max(axis=1, keepdims=True) + 1e-12
    err = np.minimum(np.abs(J - fd1), np.abs(J - fd2)) / scale
    i, j = np.unravel_index(err.argmax(), err.shape)
    names = m.definition.state_names
    assert err.max() < 1e-5, f"{names[i]} / {names[j]}: {J[i, j]} vs {fd1[i, j]}, {fd2[i, j]}"
    fd = fd_jacobian(m, x, floor=0.1, fn=m.firing_rates)
    assert np.abs(gf - fd).max() < 1e-5 * np.abs(gf).max()
