"""The regime-weighted coloured closure ("coloured-regime"): weight formula, its limits (paper's
closure when drift-driven or without input fluctuations, "coloured" when fluctuation-driven),
Jacobian, df/dp and Taylor pieces (conservation, fidelity regression of three grid cells and
CLI: test_closures.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import assert_dfdp_close, assert_rows_close, fd_jacobian, random_state

from bifsnn import NetworkParams
from bifsnn.network.params import PATHWAYS
from bifsnn.reduction import MarkovModelDef


@pytest.fixture(scope="module")
def reg_model():
    return MarkovModelDef(closure="coloured-regime").compile()


def _pars(p: NetworkParams) -> tuple:
    return (p.lambda_ext, p.S_EE, p.S_EI, p.tau_EE, p.tau_EI, p.M, p.M_r, p.dt)


def _variance(V, mE, vE, mI, vI, lam, SE, SI, tE, tI, M, Mr, h, z0=0.0):
    """Window variance of "coloured-regime", written out independently of sympy."""
    c = (V + Mr) / (M + Mr)
    k = SI * mI / (tI * (M + Mr))
    gE, gI = 2 * tE / (1 + tE * k), 2 * tI / (1 + tI * k)
    a_M = lam + SE * mE / tE - SI * mI / tI  # drift at threshold; = -k (M - V*)
    s_V = math.sqrt((lam + gE * SE**2 * vE / tE**2 + gI * SI**2 * vI / tI**2) / (2 * k))
    z = -a_M / (k * s_V)  # (M - V*) / s_V
    w = 0.5 * math.erfc(-(z - z0) / math.sqrt(2))
    gE, gI = 1 + w * (gE - 1), 1 + w * (gI - 1)
    return h * (lam + gE * SE**2 * vE / tE**2 + gI * SI**2 * vI / tI**2 * c * c), w


def test_layout_and_options():
    d = MarkovModelDef(closure="coloured-regime")
    assert d.n_state == 4 * d.K + 8 and not d.conditional
    o = d.option_vector()
    assert (o[9], o[10], o[11]) == (1.0, 1.0, 0.0)
    assert tuple(MarkovModelDef(closure="coloured").option_vector()[9:12]) == (1.0, 0.0, 0.0)
    assert MarkovModelDef(closure="coloured-regime", regime_shift=0.5).option_vector()[11] == 0.5
    with pytest.raises(ValueError, match="regime_shift"):
        MarkovModelDef(closure="coloured-regime", regime_shift=math.nan)


@pytest.mark.parametrize("mE,z0", [(2.4, 0.0), (3.0, 0.0), (3.6, 0.0), (3.0, 0.7)])
def test_variance_is_the_weighted_coloured_noise(reg_model, mE, z0):
    p = reg_model.definition.params
    lam, SE, SI, tE, tI, M, Mr, h = _pars(p)
    V, vE, mI, vI = 37.0, 4.0, 15.0, 9.0
    var, w = _variance(V, mE, vE, mI, vI, lam, SE, SI, tE, tI, M, Mr, h, z0)
    assert 1e-3 < w < 1 - 1e-3  # in the transition: both limits matter
    args = (V, mE, vE, mI, vI, lam, SE, SI, tE, tI, M, Mr, 0.0, h, 0.0)
    d = reg_model.module.drift(*args, 1.0, 1.0, z0)
    assert d[1] == pytest.approx(math.sqrt(var), rel=1e-12)
    assert d[0] == reg_model.module.drift(*args, 0.0, 0.0, 0.0)[0]  # the paper's mean input
    # d sigma / d m_E (the regime weight's) against a central difference
    s = 1e-5
    fd = (reg_model.module.drift(V, mE + s, *args[2:], 1.0, 1.0, z0)[1]
          - reg_model.module.drift(V, mE - s, *args[2:], 1.0, 1.0, z0)[1]) / (2 * s)
    assert d[9] == pytest.approx(fd, rel=1e-6) and abs(d[9]) > 1e-4


def test_limits_drift_and_fluctuation_driven(reg_model):
    # strongly drift-driven (threshold far below V*): the paper's variance; strongly
    # fluctuation-driven (far above): the coloured closure's
    lam, SE, SI, tE, tI, M, Mr, h = _pars(reg_model.definition.params)
    mod = reg_model.module
    for mE, mI, want in ((60.0, 5.0, (0.0, 0.0)), (0.5, 60.0, (1.0, 0.0))):
        args = (40.0, mE, 20.0, mI, 30.0, lam, SE, SI, tE, tI, M, Mr, 0.0, h, 0.0)
        got = mod.drift(*args, 1.0, 1.0, 0.0)[1]
        assert got == pytest.approx(mod.drift(*args, *want, 0.0)[1], rel=1e-9)
        assert got != pytest.approx(mod.drift(*args, 1.0 - want[0], 0.0, 0.0)[1], rel=1e-3)


def test_without_input_fluctuations_it_is_the_paper_closure():
    d = MarkovModelDef(closure="coloured-regime")
    x = random_state(d, np.random.default_rng(4))
    for pw in PATHWAYS:
        x[d.moment_index("v", pw)] = 0.0
    a = d.compile().rhs(x)
    b = d.replace(closure="paper").compile().rhs(x)
    assert np.abs(a - b).max() <= 1e-12 * (1 + np.abs(b).max())


def _transition_state(d: MarkovModelDef, rng: np.random.Generator) -> np.ndarray:
    """A random state whose moments put both populations near z = 0 (weight ~ 1/2)."""
    x = random_state(d, rng)
    p = d.params
    for pop in ("E", "I"):
        pe, pi = pop + "E", pop + "I"
        mI = x[d.moment_index("m", pi)]
        # lam + S_QE m_QE / tau_QE = S_QI m_QI / tau_I + small: a(M) ~ 0
        x[d.moment_index("m", pe)] = max(
            (p.S(pi) * mI / p.tau(pi) - p.lambda_ext) * p.tau(pe) / p.S(pe), 0.0) + 0.3
    return x


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_jacobian_and_dfdp_against_finite_differences(reg_model, seed):
    d = reg_model.definition
    m = reg_model
    x = _transition_state(d, np.random.default_rng(seed))
    J = m.jacobian(x)
    # floor 0.01 (0.1 truncates at the nearly empty bins, n ~ 1e-4)
    assert_rows_close(J, fd_jacobian(m, x, floor=0.01))
    # the regime weight's d sigma / d m_E is in it: the coloured closure's Jacobian differs
    Jc = MarkovModelDef(closure="coloured").compile().jacobian(x)
    col = d.moment_index("m", "EE")
    assert np.abs(J[:, col] - Jc[:, col]).max() > 1e-3 * np.abs(Jc[:, col]).max()
    assert_dfdp_close(m, x, ("p_EI", "tau_EI", "S_EI", "S_EE", "tau_EE", "M_r", "lambda_ext", "h"))


# slow: compiles the regime closure's Taylor series (36 s cold)
@pytest.mark.slow
def test_taylor_series_against_jacobian(reg_model):
    # the exact higher derivatives (reduction.taylor) include the regime weight
    from bifsnn.continuation.derivatives import ridders

    def _rel(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-300))

    d = reg_model.definition
    rng = np.random.default_rng(6)
    x = _transition_state(d, rng)
    v = rng.standard_normal(x.size) * (0.01 * np.abs(x) + 1e-3)
    s = reg_model.taylor_series(x, v[None, :])[0]
    assert _rel(s[:, 0], reg_model.rhs(x)) < 1e-12
    J = reg_model.jacobian(x)
    assert _rel(s[:, 1], J @ v) < 1e-11
    Q, _ = ridders(lambda h: (reg_model.jacobian(x + h * v) - reg_model.jacobian(x - h * v))
                   @ v / (2 * h), 0.01)
    assert _rel(2 * s[:, 2], Q) < 1e-7
