"""Analytic df/dx and df/dp against central finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_rows_close, fd_jacobian, random_state

from bifsnn.reduction import PARAM_INDEX

# fd_jacobian: step relative to each component, floored at 1e-8 (round-off); still far below
# the scale delta = 1e-3 on which the regularised bin mean of a nearly empty bin varies.
# assert_rows_close: central differences have truncation error ~ s^2 f''' and round-off
# ~ 1e-16 |f| / s; 1e-5 of the row scale bounds both at these step sizes (worst observed
# mismatch: < 1e-6 of the row scale for the smooth rule, ~5e-6 for the reference rule with
# delta = 0, whose mean A/n is sensitive in nearly empty bins), while a wrong chain-rule term
# is O(1).


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_jacobian_smooth_rule(smooth_model, seed):
    d = smooth_model.definition
    x = random_state(d, np.random.default_rng(seed), empty_frac=0.3, tiny=1e-4)
    assert_rows_close(smooth_model.jacobian(x), fd_jacobian(smooth_model, x))


def test_jacobian_smooth_rule_nearly_empty_and_edges(smooth_model):
    # bins occupied at the 1e-6 level and means close to the edges and the midpoint
    d = smooth_model.definition
    rng = np.random.default_rng(7)
    x = random_state(d, rng, empty_frac=0.6, tiny=1e-6, margin=0.002)
    assert_rows_close(smooth_model.jacobian(x), fd_jacobian(smooth_model, x))


@pytest.mark.parametrize("seed", [3, 4])
def test_jacobian_reference_rule(reference_model, seed):
    # The reference rule has a kink at the bin midpoint: keep bin means away from it.  With
    # delta = 0 the mean A/n moves by (dn/n) V under a change dn of n, so the steps are
    # relative to n itself and occupations are floored at 1e-3 (nearly empty, not empty).
    d = reference_model.definition
    rng = np.random.default_rng(seed)
    x = random_state(d, rng, empty_frac=0.3, tiny=1e-2)
    lo = d.edges[:-1]
    for pop in ("E", "I"):
        n = np.maximum(x[d.slice("n", pop)], 1e-3)
        x[d.slice("n", pop)] = n
        u = rng.choice([-1, 1], d.K) * rng.uniform(0.05, 0.45, d.K) + 0.5
        x[d.slice("A", pop)] = n * (lo + d.dv * u)
    assert_rows_close(reference_model.jacobian(x), fd_jacobian(reference_model, x, 1e-7, 1e-3))


def test_rate_gradient(smooth_model):
    d = smooth_model.definition
    x = random_state(d, np.random.default_rng(11))
    _, gf = smooth_model.jacobian(x, with_rate_gradient=True)
    fd = np.empty_like(gf)
    for i in range(x.size):
        s = 1e-6 * max(abs(x[i]), 1e-2)
        xp, xm = x.copy(), x.copy()
        xp[i] += s
        xm[i] -= s
        fd[:, i] = (smooth_model.firing_rates(xp) - smooth_model.firing_rates(xm)) / (2 * s)
    # same error budget as the Jacobian (relative to the largest entry of each row)
    assert np.abs(gf - fd).max(axis=1).max() < 1e-5 * np.abs(gf).max()


@pytest.mark.parametrize("with_leak", [False, True])
def test_dfdp(smooth_model, with_leak):
    model = smooth_model.with_params(tau_m=20.0) if with_leak else smooth_model
    d = model.definition
    x = random_state(d, np.random.default_rng(5))
    D = model.dfdp_all(x)
    mod = model.module
    for name, k in PARAM_INDEX.items():
        pv = model.pv.copy()
        s = 1e-6 * max(abs(pv[k]), 1e-3)
        outs = []
        for sign in (1, -1):
            p = pv.copy()
            p[k] += sign * s
            out = np.empty(d.n_state)
            mod.rhs(x, p, model.edges, model.opt, out, np.empty(d.K + 1), np.empty(d.K + 1))
            outs.append(out)
        fd = (outs[0] - outs[1]) / (2 * s)
        # relative to the largest entry of the column (same budget as the Jacobian)
        scale = max(np.abs(fd).max(), 1e-9)
        assert np.abs(D[:, k] - fd).max() < 1e-5 * scale, name


def test_dfdp_named(smooth_model):
    x = random_state(smooth_model.definition, np.random.default_rng(2))
    D = smooth_model.dfdp_all(x)
    np.testing.assert_array_equal(smooth_model.dfdp(x, "p_EI"), D[:, PARAM_INDEX["p_EI"]])
    with pytest.raises(ValueError, match="tau_m"):
        smooth_model.dfdp(x, "tau_m")  # no leak in the default model
    with pytest.raises(ValueError, match="no derivative"):
        smooth_model.dfdp(x, "V_reset")
    leaky = smooth_model.with_params(tau_m=20.0)
    np.testing.assert_allclose(
        leaky.dfdp(x, "tau_m"), leaky.dfdp_all(x)[:, PARAM_INDEX["g_leak"]] * (-1 / 400.0)
    )


def test_with_param_value_matches_revalidated_model(smooth_model):
    # the fast parameter path must give the same f as building the definition anew
    x = random_state(smooth_model.definition, np.random.default_rng(9))
    a = smooth_model.with_param_value("p_EI", 0.55).rhs(x)
    b = smooth_model.with_params(p_EI=0.55).rhs(x)
    np.testing.assert_array_equal(a, b)
    assert smooth_model.param_value("p_EI") == 0.8  # original untouched
    assert smooth_model.with_param_value("N_E", 300.5).param_value("N_E") == 300.5


def test_ode_problem_adapter(smooth_model):
    pytest.importorskip("bifsnn.continuation.problem")
    x = random_state(smooth_model.definition, np.random.default_rng(4))
    prob = smooth_model.ode_problem("p_EI", x0=x)
    p = prob.p0.copy()
    np.testing.assert_array_equal(prob.rhs(x, p), smooth_model.rhs(x))
    np.testing.assert_array_equal(prob.jac_x(x, p), smooth_model.jacobian(x))
    k = PARAM_INDEX["p_EI"]
    np.testing.assert_array_equal(prob.jac_p(x, p, [k])[:, 0], smooth_model.dfdp(x, "p_EI"))
    p[k] = 0.5
    np.testing.assert_array_equal(prob.rhs(x, p), smooth_model.with_params(p_EI=0.5).rhs(x))


@pytest.mark.parametrize("closure", ["paper", "conditional"])
def test_batch_evaluations_match_single_state(smooth_model, closure):
    # the cycle collocation's batched f, df/dx on a pattern, pattern (alone and with the
    # values) and df/dp columns give
    # the single-state values bit for bit (the fast p_* column of dfdp_column included)
    model = smooth_model if closure == "paper" else smooth_model.with_params(closure=closure)
    rng = np.random.default_rng(21)
    X = np.array([random_state(model.definition, rng, empty_frac=0.3, tiny=1e-4)
                  for _ in range(5)])
    prob = model.ode_problem("p_EI", x0=X[0])
    b, p = prob.batch, prob.p0.copy()
    p[PARAM_INDEX["p_IE"]] = 0.61
    np.testing.assert_array_equal(b.f(X, p), [prob.rhs(x, p) for x in X])
    J = np.array([prob.jac_x(x, p) for x in X])
    rows, cols = np.nonzero(np.any(J != 0, axis=0))
    np.testing.assert_array_equal(b.dfdx_values(X, p, rows, cols), J[:, rows, cols])
    np.testing.assert_array_equal(b.dfdx_pattern(X, p), np.any(J != 0, axis=0))
    r2, c2 = rows[::3], cols[::3]  # both at once, on a pattern that misses nonzeros
    vals, pat = b.dfdx_values_pattern(X, p, r2, c2)
    np.testing.assert_array_equal(vals, J[:, r2, c2])
    np.testing.assert_array_equal(pat, np.any(J != 0, axis=0))
    D = np.array([prob.dfdp(x, p) for x in X])
    for k in range(len(PARAM_INDEX)):
        np.testing.assert_array_equal(b.dfdp_column(X, p, k), D[:, :, k])
    with pytest.raises(ValueError, match="k = 19 is out of range"):
        b.dfdp_column(X, p, 19)
    with pytest.raises(ValueError, match="X has shape"):
        b.f(X[:, :-1], p)


@pytest.mark.parametrize("changes", [dict(tau_m=20.0), dict(dv=5.0, v_min=-50.0)])
def test_jacobian_leak_and_other_grid(smooth_model, changes):
    model = smooth_model.with_params(**changes)
    x = random_state(model.definition, np.random.default_rng(13))
    assert_rows_close(model.jacobian(x), fd_jacobian(model, x))


def _jac_paper(model, x: np.ndarray, window: bool) -> tuple:
    """(J, gf, rates) of the generated ``jac_paper`` with or without its edge windows."""
    nx, K1 = x.size, model.edges.size
    J, gf = np.empty((nx, nx)), np.empty((2, nx))
    F, M1, dF, dM1 = np.empty(K1), np.empty(K1), np.empty((K1, 4)), np.empty((K1, 4))
    fr = model.module.jac_paper(np.ascontiguousarray(x), model.pv, model.edges, model.opt,
                                J, gf, F, M1, dF, dM1, window)
    return J, gf, np.asarray(fr)


@pytest.mark.parametrize("rule", ["smooth", "reference"])
def test_windowed_jacobian_is_bit_identical(smooth_model, reference_model, rule):
    # the edge windows leave out only exact zeros: every entry has the same bits as the
    # loops over every edge and target bin, on random states (nearly empty bins, narrow
    # inputs whose windows are a single edge or empty, wide ones), another grid, and an
    # oscillating trajectory
    from bifsnn.reduction import simulate_ode

    base = smooth_model if rule == "smooth" else reference_model
    models = [base, base.with_params(dv=5.0, v_min=-50.0)]
    states = []
    rng = np.random.default_rng(21)
    for model in models:
        d = model.definition
        for k in range(6):
            x = random_state(d, rng, empty_frac=0.5, tiny=1e-6)
            if k % 3 == 1:  # no pending input: the narrowest kernels
                for pw in ("EE", "EI", "IE", "II"):
                    x[d.moment_index("m", pw)] = 0.0
                    x[d.moment_index("v", pw)] = 0.0
            elif k % 3 == 2:  # large pending input: windows over many edges
                for pw in ("EE", "EI", "IE", "II"):
                    x[d.moment_index("m", pw)] *= 20.0
                    x[d.moment_index("v", pw)] *= 20.0
            states.append((model, x))
    r = simulate_ode(base, t_ms=40.0, record_every_ms=1.0)
    states += [(base, s) for s in r.extra["state"][::4]]
    narrow = 0
    for model, x in states:
        a = _jac_paper(model, x, True)
        b = _jac_paper(model, x, False)
        for u, v in zip(a, b, strict=True):
            np.testing.assert_array_equal(u, v)
        narrow += int(np.count_nonzero(a[0]) < 0.5 * np.count_nonzero(np.isfinite(a[0])))
    assert narrow > 0  # some states' Jacobians are sparse: windows did leave bins out
    assert base.module.JAC_WINDOW  # the model's jac uses the windows
