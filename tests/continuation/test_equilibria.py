"""Equilibrium continuation against known answers (tolerances stated per assertion)."""

import numpy as np
import pytest
from cont_models import brusselator_1d, brusselator_1d_hopf_values

from bifsnn.continuation import (
    ContinuationOptions,
    HopfData,
    ODEProblem,
    continue_equilibria,
    hopf_data,
    switch_branch,
)


def hopf_normal_form(s: float) -> ODEProblem:
    def f(z, p):
        r2 = z[0] ** 2 + z[1] ** 2
        return np.array([p[0] * z[0] - z[1] + s * z[0] * r2, z[0] + p[0] * z[1] + s * z[1] * r2])
    return ODEProblem(f, [0.0, 0.0], [-0.5], param_names=("mu",))


def test_fold_normal_form():
    pr = ODEProblem(lambda x, p: np.array([p[0] + x[0] ** 2]), [-1.0], [-1.0])
    br = continue_equilibria(pr, ContinuationOptions(ds=0.05, ds_max=0.2, p_min=-2, p_max=1))
    assert br.success and br.status == "bound"
    (lp,) = br.points("LP")
    assert lp.located
    assert abs(lp.param) < 1e-10  # LP at p = 0
    assert abs(lp.x[0]) < 1e-6    # at x = 0 (the fold is quadratic: x error ~ sqrt(p error))
    # stable (x < 0) before, unstable after
    assert br.n_unstable[0] == 0 and br.n_unstable[-1] == 1
    assert not br.points("H") and not br.points("BP")
    # every branch point satisfies f = 0 (Newton tolerance 1e-9)
    assert np.max(np.abs(br.param_values + br.x[:, 0] ** 2)) < 1e-9


@pytest.mark.parametrize("s", [-1.0, 1.0])
def test_hopf_normal_form(s):
    br = continue_equilibria(hopf_normal_form(s), ContinuationOptions(ds=0.05, ds_max=0.1,
                                                                      p_max=0.5))
    (h,) = br.points("H")
    assert h.located
    assert abs(h.param) < 1e-10                 # H at mu = 0
    assert abs(h.data["omega"] - 1.0) < 1e-10   # omega = 1
    # l1 = 2 s with <q, q> = 1 (see normal_forms docstring); FD third derivatives: 1e-6
    assert abs(h.data["l1"] - 2 * s) < 1e-6
    assert h.data["criticality"] == ("supercritical" if s < 0 else "subcritical")
    assert abs(h.data["dre_dp"] - 1.0) < 1e-6   # Re lambda = mu


def test_hopf_data_predicts_cycle_amplitude():
    br = continue_equilibria(hopf_normal_form(-1.0),
                             ContinuationOptions(ds=0.05, ds_max=0.1, p_max=0.5))
    with pytest.warns(DeprecationWarning, match="HopfData.at"):
        hd_old = hopf_data(br, 0)  # deprecated: position among the H points
    hd = HopfData.at(br, br.points("H")[0])
    assert hd_old.omega == hd.omega and hd_old.l1 == hd.l1
    assert abs(hd.period - 2 * np.pi) < 1e-9
    assert hd.side() == 1.0  # supercritical: cycles for mu > 0
    # exact cycle radius is sqrt(mu); leading-order prediction exact for this normal form
    assert abs(hd.predicted_amplitude(0.04) - 0.2) < 1e-5
    t, X, p, T = hd.cycle_guess(dparam=0.04, n_points=40)
    assert X.shape == (40, 2) and abs(p[0] - 0.04) < 1e-10
    assert abs(np.max(np.hypot(X[:, 0], X[:, 1])) - 0.2) < 1e-5
    assert np.isnan(hd.amplitude(-0.04))


@pytest.mark.parametrize("a", [1.0, 2.0])
def test_brusselator_hopf(a):
    def f(x, p):
        return np.array([p[0] - (p[1] + 1) * x[0] + x[0] ** 2 * x[1],
                         p[1] * x[0] - x[0] ** 2 * x[1]])
    pr = ODEProblem(f, [a, 0.5 / a], [a, 0.5], param="b", param_names=("a", "b"))
    br = continue_equilibria(pr, ContinuationOptions(ds=0.1, ds_max=0.5, p_max=1 + a * a + 2))
    (h,) = br.points("H")
    assert abs(h.param - (1 + a * a)) < 1e-8          # b = 1 + a^2
    assert abs(h.data["omega"] - a) < 1e-8            # omega^2 = det = a^2
    np.testing.assert_allclose(h.x, [a, (1 + a * a) / a], atol=1e-8)
    assert h.data["l1"] < 0                           # supercritical


def test_lorenz_subcritical_hopf():
    sigma, beta = 10.0, 8.0 / 3.0

    def f(u, p):
        return np.array([p[1] * (u[1] - u[0]), p[0] * u[0] - u[1] - u[0] * u[2],
                         u[0] * u[1] - p[2] * u[2]])
    r0 = 2.0
    c = np.sqrt(beta * (r0 - 1))
    pr = ODEProblem(f, [c, c, r0 - 1], [r0, sigma, beta], param_names=("r", "sigma", "b"))
    br = continue_equilibria(pr, ContinuationOptions(ds=0.1, ds_max=1.0, p_max=30))
    (h,) = br.points("H")
    r_h = sigma * (sigma + beta + 3) / (sigma - beta - 1)  # 24.7368...
    assert abs(h.param - r_h) < 1e-7
    assert abs(h.data["omega"] - np.sqrt(beta * (r_h + sigma))) < 1e-7
    assert h.data["l1"] > 0 and h.data["criticality"] == "subcritical"
    assert br.n_unstable[0] == 0 and br.n_unstable[-1] == 2


def test_pitchfork_branch_point_and_switching():
    pr = ODEProblem(lambda x, p: np.array([p[0] * x[0] - x[0] ** 3]), [0.0], [-1.0])
    opts = ContinuationOptions(ds=0.05, ds_max=0.2, p_max=1)
    br = continue_equilibria(pr, opts)
    (bp,) = br.points("BP")
    assert bp.located and abs(bp.param) < 1e-8 and abs(bp.x[0]) < 1e-12
    assert not br.points("LP")
    for direction, sign in ((1, 1), (-1, -1)):
        nb = switch_branch(br, bp, opts.with_(max_steps=60, direction=direction))
        assert nb.success
        # the new branch is p = x^2 (Newton tolerance): 1e-8
        assert np.max(np.abs(nb.param_values - nb.x[:, 0] ** 2)) < 1e-8
        assert np.all(np.sign(nb.x[1:, 0]) == sign)
        assert np.all(nb.n_unstable == 0)  # supercritical pitchfork: stable
        assert abs(nb.param_values[-1] - 1.0) < 1e-12


def test_transcritical_branch_point_and_switching():
    pr = ODEProblem(lambda x, p: np.array([p[0] * x[0] - x[0] ** 2]), [0.0], [-1.0])
    opts = ContinuationOptions(ds=0.05, ds_max=0.2, p_min=-1.5, p_max=1)
    br = continue_equilibria(pr, opts)
    (bp,) = br.points("BP")
    assert abs(bp.param) < 1e-8
    nb = switch_branch(br, bp, opts.with_(max_steps=100))
    # the other branch is x = p
    assert np.max(np.abs(nb.x[:, 0] - nb.param_values)) < 1e-8
    assert np.ptp(nb.param_values) > 0.5
    # exchange of stability: x = p is stable for p > 0
    pos = nb.param_values > 0.05
    assert np.all(nb.n_unstable[pos] == 0)
    # direction is along the parameter; both_sides gives the whole line x = p, merged
    for d in (1, -1):
        side = switch_branch(br, bp, opts.with_(max_steps=5, direction=d))
        assert np.all(np.sign(side.param_values[1:] - bp.param) == d)
    both = switch_branch(br, bp, opts.with_(max_steps=5, both_sides=True))
    assert len(both) == 11 and np.all(np.diff(both.param_values) > 0)
    assert np.max(np.abs(both.x[:, 0] - both.param_values)) < 1e-8


def test_both_sides_equilibria_and_hopf_curve_merge():
    pr = ODEProblem(lambda x, p: np.array([p[0] - x[0] ** 3]), [0.0], [0.0])
    both = continue_equilibria(pr, ContinuationOptions(ds=0.1, max_steps=5, both_sides=True))
    assert len(both) == 11 and np.all(np.diff(both.param_values) > 0)
    assert both.param_values[0] < 0 < both.param_values[-1]
    assert [s.type for s in both.special_points] == ["EP", "EP"]
    assert both.special_points[-1].index == 10
    assert np.max(np.abs(both.param_values - both.x[:, 0] ** 3)) < 1e-9


def test_brusselator_1d_all_hopf_crossings_located():
    """200 state variables; every Hopf crossing of the homogeneous state (10 in [4, 8.95]),
    several per step (ds_max 0.3 vs spacing 0.12), located to 1e-8 of the exact values."""
    N = 100
    pr = brusselator_1d(N)
    assert pr.n == 200 and pr.sparse
    exact = brusselator_1d_hopf_values(N)
    exact = exact[exact < 8.95]
    br = continue_equilibria(pr, ContinuationOptions(ds=0.1, ds_max=0.3, p_max=8.95))
    assert br.success
    hs = br.points("H")
    assert len(hs) == len(exact) == 10
    assert all(h.located for h in hs)
    np.testing.assert_allclose([h.param for h in hs], exact, rtol=0, atol=1e-8)
    # 2 more unstable eigenvalues after each crossing
    idx = [h.index for h in hs]
    np.testing.assert_array_equal(br.n_unstable[np.array(idx) + 1], 2 * np.arange(1, 11))


@pytest.mark.slow
def test_brusselator_1d_sparse_eigenvalue_counts():
    """The sparse eigenvalue path (Cayley transform + ARPACK) counts exactly too."""
    N = 40
    pr = brusselator_1d(N)
    exact = brusselator_1d_hopf_values(N)
    exact = exact[exact < 6.5]
    br = continue_equilibria(pr, ContinuationOptions(ds=0.1, ds_max=0.3, p_max=6.5,
                                                     eig_method="sparse"))
    hs = br.points("H")
    np.testing.assert_allclose([h.param for h in hs], exact, rtol=0, atol=1e-8)


def test_sparsity_pattern_finite_differences_match_analytic_jacobian():
    ref = brusselator_1d(20)
    pattern = ref.dfdx(ref.x0, ref.p0) != 0
    fd = ODEProblem(ref.f, ref.x0, ref.p0, param="b", jac_sparsity=pattern,
                    param_names=ref.param_names)
    x = ref.x0 + 0.1 * np.sin(np.arange(ref.n))
    J_fd = fd.jac_x(x, ref.p0)
    assert fd.sparse and J_fd.format == "csc"
    assert abs(J_fd - ref.jac_x(x, ref.p0)).max() < 1e-7


def test_graceful_failure_nan_returns_partial_branch():
    # f undefined (NaN) for p < 0: continuing downwards must stop with a message
    def f(x, p):
        return np.array([x[0] - np.sqrt(p[0])])
    pr = ODEProblem(f, [1.0], [1.0])
    with np.errstate(invalid="ignore"):
        br = continue_equilibria(pr, ContinuationOptions(ds=0.1, ds_max=0.1, ds_min=1e-6,
                                                         direction=-1))
    assert not br.success and br.status == "nan"
    assert "non-finite" in br.message
    assert len(br) > 5 and np.all(br.param_values >= 0)
    assert br.special_points[-1].type == "EP"


def test_graceful_failure_max_steps():
    pr = ODEProblem(lambda x, p: np.array([p[0] + x[0] ** 2]), [-1.0], [-1.0])
    br = continue_equilibria(pr, ContinuationOptions(ds=0.01, ds_max=0.01, max_steps=5))
    assert not br.success and br.status == "max_steps"
    assert len(br) == 6 and "maximum number of steps" in br.message


def test_graceful_failure_step_floor():
    # the curve x = p ends at p = 0.5 (no real solution beyond, but no NaN either): Newton
    # fails for every step reaching past it, until ds < ds_min
    def f(x, p):
        return np.array([x[0] - p[0] if p[0] < 0.5 else x[0] ** 2 + 1.0])
    pr = ODEProblem(f, [0.0], [0.0])
    br = continue_equilibria(pr, ContinuationOptions(ds=0.1, ds_max=0.1, ds_min=1e-4,
                                                     detect_bifurcations=False))
    assert not br.success and br.status == "ds_min"
    assert br.param_values[-1] < 0.5 and br.param_values[-1] > 0.4
    assert "ds_min" in br.message
