"""The coloured-noise closures: variance formula, reduction to the paper's closure without
input fluctuations, Jacobian and df/dp (conservation, fidelity regression and CLI for every
closure: test_closures.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import assert_dfdp_close, assert_rows_close, fd_jacobian, random_state

from bifsnn.network.params import PATHWAYS
from bifsnn.reduction import MarkovModelDef


@pytest.fixture(scope="module")
def col_model():
    return MarkovModelDef(closure="coloured").compile()


def test_layout():
    d = MarkovModelDef(closure="coloured")
    assert d.n_state == 4 * d.K + 8 == len(d.state_names) and not d.conditional
    dc = MarkovModelDef(closure="conditional-coloured")
    assert dc.n_state == 8 * dc.K + 8 and dc.conditional
    assert d.option_vector()[9] == 1.0 and MarkovModelDef().option_vector()[9] == 0.0
    with pytest.raises(ValueError, match="pending"):
        d.slice_pending("EI")


def test_variance_is_the_filtered_coloured_noise(col_model):
    # window variance h [lam + g_E S_E^2 v_E / tau_E^2 + g_I S_I^2 v_I c^2 / tau_I^2],
    # g = 2 tau / (1 + tau k), k = S_I m_I / (tau_I (M + M_r)) (no leak): written out here
    # independently of the sympy derivation
    p = col_model.definition.params
    lam, SE, SI, tE, tI, M, Mr, h = (p.lambda_ext, p.S_EE, p.S_EI, p.tau_EE, p.tau_EI, p.M,
                                     p.M_r, p.dt)
    V, mE, vE, mI, vI = 37.0, 6.0, 4.0, 15.0, 9.0
    c = (V + Mr) / (M + Mr)
    k = SI * mI / (tI * (M + Mr))
    gE, gI = 2 * tE / (1 + tE * k), 2 * tI / (1 + tI * k)
    var = h * (lam + gE * SE**2 * vE / tE**2 + gI * SI**2 * vI / tI**2 * c * c)
    args = (V, mE, vE, mI, vI, lam, SE, SI, tE, tI, M, Mr, 0.0, h, 0.0)
    d_col = col_model.module.drift(*args, 1.0, 0.0, 0.0)
    d_pap = col_model.module.drift(*args, 0.0, 0.0, 0.0)
    assert d_col[1] == pytest.approx(math.sqrt(var), rel=1e-13)
    assert d_col[0] == d_pap[0]  # the mean input is the paper's
    var_paper = h * (lam + SE**2 * vE / tE**2 + SI**2 * vI / tI**2 * c * c)
    assert d_pap[1] == pytest.approx(math.sqrt(var_paper), rel=1e-13)


@pytest.mark.parametrize("closure", ["coloured", "conditional-coloured"])
def test_without_input_fluctuations_it_is_the_uncoloured_closure(closure):
    # with v = 0 on every pathway (no pending-input fluctuation, so nothing whose correlation
    # time could matter) the right-hand side is exactly the uncoloured closure's
    # (w_floor = 0: the conditional closure's smooth floor would leave w = w_floor / 2 > 0)
    base = {"coloured": "paper", "conditional-coloured": "conditional"}[closure]
    d = MarkovModelDef(closure=closure, w_floor=0.0)
    x = d.extend_state(random_state(d.replace(closure="paper"), np.random.default_rng(4)))
    for pw in PATHWAYS:
        x[d.moment_index("v", pw)] = 0.0
    a = d.compile().rhs(x)
    b = d.replace(closure=base).compile().rhs(x)
    assert np.abs(a - b).max() <= 1e-12 * (1 + np.abs(b).max())
    x[d.moment_index("v", "EI")] = 5.0  # and it differs once there is some
    assert np.abs(d.compile().rhs(x) - d.replace(closure=base).compile().rhs(x)).max() > 1e-3


@pytest.mark.parametrize("closure,seed", [("coloured", 0), ("coloured", 1),
                                          ("conditional-coloured", 0)])
def test_jacobian_and_dfdp_against_finite_differences(closure, seed):
    d = MarkovModelDef(closure=closure)
    m = d.compile()
    rng = np.random.default_rng(seed)
    x = d.extend_state(random_state(d.replace(closure="paper"), rng))
    if d.conditional:
        x[4 * d.K + 8:] *= np.exp(0.1 * rng.standard_normal(4 * d.K))
    assert_rows_close(m.jacobian(x), fd_jacobian(m, x, floor=0.1))
    assert_dfdp_close(m, x, ("p_EI", "tau_EI", "S_EI", "M_r", "lambda_ext", "h"))
