"""The coloured-noise closures: variance formula, reduction to the paper's closure without
input fluctuations, Jacobian and df/dp, conservation, fidelity regression, CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import random_state

from bifsnn import NetworkParams
from bifsnn.network.params import PATHWAYS
from bifsnn.reduction import MarkovModelDef, find_equilibrium


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


def _fd_jacobian(model, x: np.ndarray) -> np.ndarray:
    J = np.empty((x.size, x.size))
    for i in range(x.size):
        s = 1e-6 * max(abs(x[i]), 0.1)
        xp, xm = x.copy(), x.copy()
        xp[i] += s
        xm[i] -= s
        J[:, i] = (model.rhs(xp) - model.rhs(xm)) / (2 * s)
    return J


@pytest.mark.parametrize("closure,seed", [("coloured", 0), ("coloured", 1),
                                          ("conditional-coloured", 0)])
def test_jacobian_and_dfdp_against_finite_differences(closure, seed):
    d = MarkovModelDef(closure=closure)
    m = d.compile()
    rng = np.random.default_rng(seed)
    x = d.extend_state(random_state(d.replace(closure="paper"), rng))
    if d.conditional:
        x[4 * d.K + 8:] *= np.exp(0.1 * rng.standard_normal(4 * d.K))
    J, gf = m.jacobian(x, with_rate_gradient=True)
    Jfd = _fd_jacobian(m, x)
    scale = np.abs(J).max(axis=1, keepdims=True) + 1e-12
    assert (np.abs(J - Jfd) / scale).max() < 1e-5
    for name in ("p_EI", "tau_EI", "S_EI", "M_r", "lambda_ext", "h"):
        v = m.param_value(name)
        s = 1e-5 * max(abs(v), 1.0)
        fd = (m.with_param_value(name, v + s).rhs(x)
              - m.with_param_value(name, v - s).rhs(x)) / (2 * s)
        assert np.abs(m.dfdp(x, name) - fd).max() <= 1e-5 * (1 + np.abs(fd).max()), name


def test_conservation_of_neurons(col_model):
    # nobody near threshold: transport conserves neurons, d(sum n)/dt = R / tau_R
    d = col_model.definition
    x = random_state(d, np.random.default_rng(5))
    for pop in ("E", "I"):
        n = x[d.slice("n", pop)]
        n[d.edges[1:] > 40.0] = 0.0
        x[d.slice("A", pop)] = np.minimum(x[d.slice("A", pop)], n * 39.0)
    assert np.all(col_model.firing_rates(x) < 1e-12)
    dx = col_model.rhs(x)
    R = d.refractory(x)
    for q, pop in enumerate(("E", "I")):
        assert dx[d.slice("n", pop)].sum() == pytest.approx(R[q] / d.params.tau_R, rel=1e-10)


#: SNN per-neuron rates (Hz; 2 seeds x 2 s, analyses/fidelity.py) and the coloured
#: closure's stable equilibrium (figures/fidelity_coloured.md) at three cells.
CELLS = {
    # (p_EI, tau_EE): (SNN E, SNN I, closure E, closure I)
    (0.6, 3.0): (94.0, 108.7, 96.18, 110.52),
    (1.0, 1.4): (11.0, 38.8, 10.48, 38.50),
    (1.0, 3.0): (9.9, 37.7, 10.43, 38.45),
}


@pytest.mark.parametrize("cell", list(CELLS))
def test_fidelity_regression(cell):
    snn_e, snn_i, want_e, want_i = CELLS[cell]
    d = MarkovModelDef(params=NetworkParams().replace(p_EI=cell[0], tau_EE=cell[1]),
                       closure="coloured")
    eq = find_equilibrium(d, t_average_ms=500.0, transient_ms=200.0)
    assert eq.success and eq.stable
    assert eq.rate_e_hz == pytest.approx(want_e, rel=2e-3)
    assert eq.rate_i_hz == pytest.approx(want_i, rel=2e-3)
    tol = 0.15 if cell[0] > 0.95 else 0.05
    assert abs(eq.rate_e_hz / snn_e - 1) <= tol and abs(eq.rate_i_hz / snn_i - 1) <= tol


def test_cli_closure(capsys):
    import json

    from bifsnn.cli import main

    args = ["ode", "--t-ms", "300", "--json", "--set", "p_EI=1.0", "--set", "tau_EE=3"]
    assert main(args + ["--closure", "paper"]) == 0
    paper = json.loads(capsys.readouterr().out)
    assert main(args + ["--closure", "coloured"]) == 0
    col = json.loads(capsys.readouterr().out)
    assert col["rate_e_hz"] > 1.5 * paper["rate_e_hz"] > 0  # 10.4 against 5.5 Hz here
