"""Cycle continuation: Hopf starts, ending at Hopf points, LPC (Bautin), PD cascade
(Roessler) with branch switching, and graceful failure."""

import numpy as np
import pytest

from bifsnn.continuation.periodic import (
    CycleOptions,
    CycleSystem,
    continue_cycles,
    cycle_from_hopf,
    cycle_from_simulation,
    switch_at_pd,
)
from bifsnn.continuation.periodic.examples import bautin, hopf_normal_form, rossler

Q_HOPF = np.array([1.0, -1.0j])  # critical eigenvector of the Hopf normal form at the origin

# Reference PD points of the Roessler system (a = b = 0.2) in c, computed for this test by
# accurate multiple shooting (DOP853, rtol 1e-12, secant on the -1 multiplier; script in the
# module docstring of bifsnn/continuation/periodic/shooting.py's test, see
# test_periodic_shooting.py::test_roessler_pd_reference_by_shooting, marked slow).
ROSSLER_PD1 = 2.8324450
ROSSLER_PD2 = 3.8373582


@pytest.mark.parametrize("engine", ["core", "builtin"])
def test_hopf_start_along_eigenvector_gives_sqrt_amplitude(engine):
    # exact branch: radius sqrt(p), T = 2 pi; errors of ntst=20, ncol=4 are ~1e-10, we allow
    # 1e-7; the branch must leave the Hopf point towards p > 0 (supercritical)
    s = hopf_normal_form()
    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, Q_HOPF, ntst=20)
    assert start.info["start"] == "eigenvector"
    br = continue_cycles(s, start, ds=0.05, max_steps=40, p_max=1.0, ntst=20, engine=engine)
    assert br.success and "parameter left" in br.message
    if engine == "core":  # the shared engine lands exactly on the bound
        assert abs(br.p[-1] - 1.0) < 1e-9
    assert len(br) > 5
    p = br.p
    assert np.all(p > 0)
    radius = np.array([np.hypot(*pt.U.T).max() for pt in br.points])
    assert np.abs(radius - np.sqrt(p)).max() < 1e-7
    assert np.abs(br.period - 2 * np.pi).max() < 1e-7
    # multipliers along the branch: exp(-4 pi p), error < 1e-7
    mu2 = np.array([pt.multipliers[1].real for pt in br.points])
    assert np.abs(mu2 - np.exp(-4 * np.pi * p)).max() < 1e-7
    assert br.stable.all()
    # envelopes for plotting
    assert br.x_max.shape == (len(br), 2) and np.all(br.x_max[:, 0] > br.x_min[:, 0])


def test_hopf_start_from_lyapunov_coefficient():
    # l1 = -2 in Kuznetsov's normalisation for this system; the predicted radius at
    # p = 1e-3 is sqrt(1e-3) and the corrected cycle must match it to 1e-7
    s = hopf_normal_form()
    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, Q_HOPF, l1=-2.0, ntst=20)
    assert start.info["start"] == "lyapunov"
    assert abs(start.info["dalpha_dp"] - 1.0) < 1e-6
    assert start.p > 0
    assert abs(np.hypot(*start.U.T).max() - np.sqrt(start.p)) < 1e-7
    assert abs(start.info["amplitude_guess"] / 2 * np.sqrt(2) - np.sqrt(start.p)) < 1e-9
    br = continue_cycles(s, start, ds=0.05, max_steps=10, ntst=20)
    assert br.p[-1] > br.p[0]


def test_branch_ends_at_hopf_point_without_bouncing():
    # continue from a big cycle towards the Hopf point p = 0: must stop there (within 1e-6,
    # the quadratic extrapolation error from amplitude ~ds) with a special point 'H', and no
    # point may have p < 0 (a bounce would continue with the phase-shifted copy)
    s = hopf_normal_form()
    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, Q_HOPF, ntst=20)
    up = continue_cycles(s, start, ds=0.1, max_steps=8, ntst=20)
    down = continue_cycles(s, up.points[-1], ds=-0.1, max_steps=200, ntst=20)
    assert down.success, down.message
    assert "Hopf" in down.message
    h = down.special("H")
    assert len(h) == 1
    assert abs(h[0].p) < 1e-6 and abs(h[0].T - 2 * np.pi) < 1e-6
    assert np.all(down.p > -1e-12)
    assert np.all(np.diff(down.amplitude) < 0)


@pytest.mark.parametrize("engine", ["core", "builtin"])
def test_bautin_fold_of_cycles_and_multipliers(engine):
    # Bautin with beta2 = 1: subcritical Hopf at b1 = 0, fold of cycles (LPC) at
    # b1 = -1/4, r^2 = 1/2; located to 1e-6 (test-function tolerance 1e-9 in the tangent).
    # Multipliers vs exp(2 pi (b1 + 3 r^2 - 5 r^4)) to 1e-6 on the whole branch.
    s = bautin(1.0)
    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, Q_HOPF, ntst=20)
    br = continue_cycles(s, start, ds=0.05, max_steps=80, ntst=20, p_min=-0.5, p_max=0.5,
                         engine=engine)
    lpc = br.special("LPC")
    assert len(lpc) == 1, [sp.kind for sp in br.special_points]
    assert lpc[0].located
    assert abs(lpc[0].p + 0.25) < 1e-6
    pt = br.points[lpc[0].index]
    assert abs(np.hypot(*pt.U.T).max() ** 2 - 0.5) < 1e-5
    # after the fold the big cycle is stable, before it the small one is unstable
    assert not br.points[1].stable and br.points[-1].stable
    for q in br.points:
        r2 = np.hypot(*q.U.T).max() ** 2
        exact = np.exp(2 * np.pi * (q.p + 3 * r2 - 5 * r2**2))
        mu = q.multipliers[np.argmin(np.abs(q.multipliers - exact))]
        assert abs(mu - exact) < 1e-6 * max(1.0, exact)
        assert abs(q.T - 2 * np.pi) < 1e-7


@pytest.fixture(scope="module")
def rossler_branch():
    s = rossler()
    sol = cycle_from_simulation(s, np.array([1.0, 1.0, 0.0]), 2.5, t_transient=300,
                                t_record=50, ntst=40, ncol=4)
    assert sol.success, sol.message
    br = continue_cycles(s, sol, ds=0.1, max_steps=40, p_max=3.0, ntst=40)
    return s, br


def test_rossler_first_period_doubling(rossler_branch):
    # PD1 vs the shooting reference: 1e-6 (the collocation error with 40 adapted intervals is
    # ~1e-8 and location tolerance 1e-8 in the multiplier)
    s, br = rossler_branch
    pd = br.special("PD")
    assert len(pd) == 1 and pd[0].located
    assert abs(pd[0].p - ROSSLER_PD1) < 1e-6
    mu = pd[0].multipliers
    assert np.min(np.abs(mu + 1)) < 1e-6
    assert br.points[0].stable and not br.points[-1].stable


def test_rossler_branch_switch_to_doubled_cycle_and_second_pd(rossler_branch):
    # switching at PD1 gives a cycle of twice the period; continuing it finds PD2 (1e-6)
    s, br = rossler_branch
    start = switch_at_pd(s, br)
    assert abs(start.info["pd_multiplier"] + 1) < 1e-6
    assert start.info["w_end_plus_v"] < 1e-8  # w(T) = -v for the -1 eigenvector
    T1 = br.points[br.special("PD")[0].index].T
    br2 = continue_cycles(s, start, ds=0.05, max_steps=40, p_max=3.9, ntst=80)
    assert br2.success, br2.message
    assert abs(br2.period[0] - 2 * T1) < 1e-6
    # the doubled branch leaves the period-1 cycle: its orbit must differ from the
    # twice-traversed period-1 orbit (x_max of first and second half differ)
    last = br2.points[-1]
    half = (last.U.shape[0] - 1) // 2
    assert abs(last.U[:half, 0].max() - last.U[half:, 0].max()) > 0.1
    pd2 = br2.special("PD")
    assert len(pd2) == 1 and pd2[0].located
    assert abs(pd2[0].p - ROSSLER_PD2) < 1e-6


def test_max_steps_returns_partial_branch():
    s = hopf_normal_form()
    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, Q_HOPF, ntst=10)
    br = continue_cycles(s, start, ds=0.05, max_steps=3, ntst=10)
    assert not br.success and "max_steps" in br.message
    assert len(br) == 3


@pytest.mark.parametrize("engine", ["core", "builtin"])
def test_nan_in_rhs_fails_gracefully_with_partial_branch(engine):
    # f returns NaN for p > 0.3: the branch must stop (step floor) and return the points
    # computed before with success=False and a message naming the cause
    base = hopf_normal_form()

    def f(x, p):
        out = base.f_user(x, p)
        return out * np.nan if p > 0.3 else out

    s = CycleSystem(f, 2, dfdx=base.dfdx_user)
    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, Q_HOPF, ntst=10)
    br = continue_cycles(s, start, ds=0.05, max_steps=100, ntst=10, ds_min=1e-4,
                         engine=engine)
    assert not br.success
    assert "ds_min" in br.message and "NaN" in br.message
    assert len(br) > 2 and br.p.max() <= 0.3


@pytest.mark.parametrize("engine", ["core", "builtin"])
def test_step_floor_when_newton_cannot_converge(engine):
    # a Newton budget of 1 iteration cannot converge: the step is halved down to ds_min
    s = hopf_normal_form()
    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, Q_HOPF, ntst=10)
    br = continue_cycles(s, start, ds=0.05, max_steps=10, ntst=10, newton_max_iter=1,
                         ds_min=1e-3, engine=engine)
    assert not br.success and "ds_min" in br.message


def test_invalid_options_raise():
    s = hopf_normal_form()
    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, Q_HOPF, ntst=10)
    with pytest.raises(ValueError, match="ncol"):
        continue_cycles(s, start, ncol=12)
    with pytest.raises(ValueError, match="detect"):
        continue_cycles(s, start, detect=("BP",))
    with pytest.raises(TypeError, match="unknown option"):
        continue_cycles(s, start, dss=0.1)
    with pytest.raises(ValueError, match="q"):
        cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, np.ones(3))
    with pytest.raises(ValueError, match="max_steps"):
        CycleOptions(max_steps=0).validate()
    with pytest.raises(ValueError, match="engine"):
        CycleOptions(engine="auto").validate()


def test_branch_and_curve_plot_with_the_shared_diagram_functions():
    # duck-typed interface of bifsnn.continuation.plots: envelopes, period panel, labels
    from bifsnn.continuation.periodic.codim2_cycles import continue_cycle_bifurcation
    from bifsnn.continuation.periodic.examples import bautin_2p
    from bifsnn.continuation.plots import bifurcation_diagram, two_parameter_diagram

    s = bautin_2p()
    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, Q_HOPF, ntst=10)
    br = continue_cycles(s, start, ds=0.05, max_steps=60, ntst=10, p_min=-0.5, p_max=0.5)
    assert br.special_points[0].type == "LPC"
    fig = bifurcation_diagram(cycles=[br])
    assert len(fig.axes) == 2  # envelope and period panels
    assert len(fig.axes[0].lines) >= 2
    cur = continue_cycle_bifurcation(s, br, br.special("LPC")[0], 1, ds=0.05, max_steps=3)
    fig2 = two_parameter_diagram([cur])
    assert len(fig2.axes[0].lines) >= 1


def test_start_from_equilibrium_engine_hopf_data():
    # ODEProblem + continue_equilibria + hopf_data (the shared engine) -> cycle branch; the
    # Hopf normal form has radius sqrt(p) (1e-7) and the start uses l1 from the engine
    from bifsnn.continuation import ContinuationOptions, ODEProblem, continue_equilibria, hopf_data
    from bifsnn.continuation.periodic import cycle_from_hopf_data

    base = hopf_normal_form()
    prob = ODEProblem(lambda x, p: base.f_user(x, p[0]), np.zeros(2), np.array([-0.5]),
                      dfdx=lambda x, p: base.dfdx_user(x, p[0]))
    eq = continue_equilibria(prob, ContinuationOptions(ds=0.05, p_max=0.5))
    hd = hopf_data(eq, 0)
    assert abs(hd.param_value) < 1e-8
    s, start = cycle_from_hopf_data(prob, hd, ntst=20)
    assert start.info["start"] == "lyapunov"
    br = continue_cycles(s, start, ds=0.05, max_steps=10, ntst=20)
    assert len(br) >= 10
    radius = np.array([np.hypot(*pt.U.T).max() for pt in br.points])
    assert np.abs(radius - np.sqrt(br.p)).max() < 1e-7
