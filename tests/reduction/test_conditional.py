"""The conditional closure: conservation, Jacobian, reduction to the paper's closure (fidelity
regression and CLI: test_closures.py)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import (
    assert_dfdp_close,
    assert_rows_close,
    clear_near_threshold,
    fd_jacobian,
    random_state,
)

from bifsnn import NetworkParams
from bifsnn.network.params import PATHWAYS, ParameterError
from bifsnn.reduction import MarkovModelDef, simulate_map, simulate_ode


@pytest.fixture(scope="module")
def cond_def() -> MarkovModelDef:
    return MarkovModelDef(closure="conditional")


@pytest.fixture(scope="module")
def cond_model(cond_def):
    return cond_def.compile()


def cond_state(d: MarkovModelDef, seed: int, spread: float = 0.1, **kw) -> np.ndarray:
    """A random valid state of the conditional closure: the paper's random state with every
    bin's pending totals B = m n scaled by a random factor (conditional means differ)."""
    rng = np.random.default_rng(seed)
    x = d.extend_state(random_state(d.replace(closure="paper"), rng, **kw))
    K = d.K
    x[4 * K + 8:] *= np.exp(spread * rng.standard_normal(4 * K))
    return x


def test_validation():
    with pytest.raises(ParameterError, match="closure"):
        MarkovModelDef(closure="magic")
    with pytest.raises(ParameterError, match="coupling"):
        MarkovModelDef(closure="conditional", coupling=-1.0)
    d = MarkovModelDef(closure="conditional")
    assert d.n_state == 8 * d.K + 8 == len(d.state_names)
    assert d.state_names[d.slice_pending("EI").start] == "B_EI[0]"
    with pytest.raises(ValueError, match="paper"):
        simulate_map(d, t_ms=1.0)


@pytest.mark.parametrize("kw", [{}, {"closure": "conditional-regime", "regime_shift": -7.0},
                                {"closure": "conditional-slope"},
                                {"closure": "conditional-regime-slope", "regime_shift": -7.0}])
def test_conservation_of_neurons_and_pending_spikes(cond_def, kw):
    # Nobody near threshold (all mass below 40): transport must then conserve every bin's
    # neurons and pending totals, including the covariance flux (it sums to zero), so
    # d(sum n)/dt = R/tau_R and d(sum B)/dt = -sum B/tau + p f sum n + B_R/tau_R exactly.
    # ("conditional-regime" with regime_shift -7: the E population's weight is about 0.6 at
    # this drift-driven state; the "-slope" closures: the sloped within-bin density, MODEL.md 5h)
    d = cond_def.replace(**kw)
    p, model = d.params, d.compile()
    x = clear_near_threshold(d, cond_state(d, 5))
    for pw in PATHWAYS:
        x[d.slice_pending(pw)] *= (x[d.slice("n", pw[0])] > 0)
    if "regime_shift" in kw:
        assert 0.3 < model.module.couplings(x, model.pv, model.opt, d.K, 0)[2] < 0.9
    f = model.firing_rates(x)
    assert np.all(f < 1e-12)
    dx = model.rhs(x)
    R = d.refractory(x)
    for q, pop in enumerate(("E", "I")):
        assert dx[d.slice("n", pop)].sum() == pytest.approx(R[q] / p.tau_R, rel=1e-10)
    for pw in PATHWAYS:
        B = x[d.slice_pending(pw)]
        BR = p.N(pw[0]) * x[d.moment_index("m", pw)] - B.sum()
        expect = (-B.sum() / p.tau(pw) + p.p(pw) * f["EI".index(pw[1])]
                  * x[d.slice("n", pw[0])].sum() + BR / p.tau_R)
        assert dx[d.slice_pending(pw)].sum() == pytest.approx(expect, rel=1e-9, abs=1e-9)


def test_manifold_without_coupling_is_invariant_and_is_the_paper(cond_def):
    # coupling = 0: on B = m n the B rows are d(m n)/dt (firing included) and the rest is
    # the paper's right-hand side, at any state.
    d0 = cond_def.replace(coupling=0.0)
    paper = cond_def.replace(closure="paper").compile()
    m0 = d0.compile()
    xp = random_state(paper.definition, np.random.default_rng(3))
    x = d0.extend_state(xp)
    dx, dxp = m0.rhs(x), paper.rhs(xp)
    n = xp.size
    assert np.abs(dx[:n] - dxp).max() <= 1e-9 * (1 + np.abs(dxp).max())
    for pw in PATHWAYS:
        i = d0.moment_index("m", pw)
        nn = d0.slice("n", pw[0])
        expect = xp[i] * dxp[nn] + dxp[i] * xp[nn]
        assert np.allclose(dx[d0.slice_pending(pw)], expect, rtol=1e-8, atol=1e-9)


def test_zero_coupling_trajectory_equals_paper(cond_def):
    # starting on the manifold (the SNN's initial state has B = 0 = m n), coupling 0 gives
    # the paper's trajectory
    # (tight tolerances: the explicit integrator's steps differ with the state dimension)
    p = NetworkParams().replace(p_EI=0.9, tau_EE=3.0)
    kw = {"t_ms": 100.0, "rtol": 1e-9, "atol": 1e-9}
    a = simulate_ode(MarkovModelDef(params=p), **kw)
    b = simulate_ode(MarkovModelDef(params=p, closure="conditional", coupling=0.0), **kw)
    n = a.extra["final_state"].size
    assert np.allclose(b.extra["final_state"][:n], a.extra["final_state"], rtol=1e-5,
                       atol=1e-6)
    assert np.allclose(b.spike_counts_e, a.spike_counts_e, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed,kw", [(0, {}), (1, {"empty_frac": 0.6, "tiny": 1e-6})])
def test_jacobian_against_finite_differences(cond_model, seed, kw):
    # same error budget as tests/reduction/test_jacobian.py: 1e-5 of each row's scale
    x = cond_state(cond_model.definition, seed, **kw)
    # floor 0.1 (step >= 1e-7): the within-bin variance couples every bin to every other
    # one, so round-off (~1e-16 |f| / step, |f| up to 1e5) needs larger steps than the
    # paper's test; truncation stays small ((step / delta)^2 ~ 1e-8 in nearly empty bins)
    J, gf = cond_model.jacobian(x, with_rate_gradient=True)
    assert_rows_close(J, fd_jacobian(cond_model, x, floor=0.1),
                      names=cond_model.definition.state_names)
    fd = fd_jacobian(cond_model, x, floor=0.1, fn=cond_model.firing_rates)
    assert np.abs(gf - fd).max() < 1e-5 * np.abs(gf).max()


def test_jacobian_within_variance_floor_active(cond_model):
    # strongly heterogeneous conditional means: the between-bin variance exceeds v and the
    # smooth floor of w is what the chain rule must follow
    d, m = cond_model.definition, cond_model
    x = cond_state(d, 9, spread=2.0)
    for q in range(2):
        for X in range(2):
            w, _, D = m.module.within_var(x, m.pv, m.opt, d.K, q, X)
            assert D > x[4 * d.K + 4 * q + 2 * X + 1] and w < 1e-6  # floor active
    assert_rows_close(cond_model.jacobian(x),
                      fd_jacobian(cond_model, x, floor=0.01))  # curvature: smaller steps


def test_dfdp(cond_model):
    assert_dfdp_close(cond_model, cond_state(cond_model.definition, 2),
                      ("p_EI", "tau_EE", "lambda_ext"))


def test_cli_map_form_refuses_the_closure(capsys):
    from bifsnn.cli import main

    code = main(["ode", "--form", "map", "--closure", "conditional", "--t-ms", "300"])
    err = capsys.readouterr().err
    assert code == 2 and "--closure" in err and "form ode" in err


def test_coupling_of_the_e_pathway(cond_def):
    # coupling_e sets the E pathway's covariance coupling apart from the I pathway's: unset it
    # is coupling; its Jacobian is still exact; coupling_e = 0 keeps B_QE = m_QE n invariant
    # (only the inhibitory input is conditioned) while the I pathway's totals still move
    with pytest.raises(ParameterError, match="coupling_e"):
        MarkovModelDef(closure="conditional", coupling_e=-0.5)
    assert cond_def.option_vector()[15] == cond_def.option_vector()[7] == 1.0
    assert cond_def.replace(coupling=0.5, coupling_e=0.25).option_vector()[[7, 15]].tolist() \
        == [0.5, 0.25]
    x = cond_state(cond_def, 4)
    same = cond_def.replace(coupling_e=1.0).compile()
    assert np.array_equal(same.rhs(x), cond_def.compile().rhs(x))
    d = cond_def.replace(coupling_e=0.3)
    m = d.compile()
    assert not np.allclose(m.rhs(x), same.rhs(x))
    assert_rows_close(m.jacobian(x), fd_jacobian(m, x, floor=0.1), names=d.state_names)
    m0 = cond_def.replace(coupling_e=0.0).compile()
    xp = random_state(cond_def.replace(closure="paper"), np.random.default_rng(3))
    x0 = cond_def.extend_state(xp)
    dx, dx1 = m0.rhs(x0), same.rhs(x0)
    for pw in PATHWAYS:
        i, nn = cond_def.moment_index("m", pw), cond_def.slice("n", pw[0])
        for model_dx, kappa_e in ((dx, 0.0), (dx1, 1.0)):
            expect = x0[i] * model_dx[nn] + model_dx[i] * x0[nn]
            invariant = np.allclose(model_dx[cond_def.slice_pending(pw)], expect, rtol=1e-8,
                                    atol=1e-9)
            assert invariant == (pw[1] == "E" and kappa_e == 0.0)


def test_cycles_of_the_closure_are_condensed_with_dense_blocks(cond_def, cond_model):
    # the closure's df/dx is dense (~50 %: every bin's transfer depends on the within-bin
    # variances and the rates): its cycles' interval blocks are factorised densely, the
    # paper closure's (11 %) by the sparse block LU
    from bifsnn.continuation.periodic import CollocationOperator, dense_blocks
    from bifsnn.continuation.periodic.cycles import cycle_system
    from bifsnn.continuation.periodic.mesh import uniform_mesh

    paper = cond_def.replace(closure="paper")
    states = (cond_state(cond_def, 0), random_state(paper, np.random.default_rng(0)))
    for model, x, dense in ((cond_model, states[0], True), (paper.compile(), states[1], False)):
        sys_ = cycle_system(model.ode_problem("p_EI", x0=x))
        sys_ = sys_.with_sparsity(sys_.detect_sparsity(x[None, :], sys_.params[sys_.ipar]))
        assert dense_blocks.dense_blocks(CollocationOperator(sys_, uniform_mesh(4), 4)) is dense
