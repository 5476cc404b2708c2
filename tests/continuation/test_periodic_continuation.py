"""Cycle continuation: Hopf starts, ending at Hopf points, LPC (Bautin), PD cascade
(Roessler) with branch switching, and graceful failure."""

import numpy as np
import pytest

from bifsnn.continuation import Branch, ContinuationOptions
from bifsnn.continuation.periodic import (
    CYCLE_DEFAULTS,
    Collocation,
    CycleSystem,
    continue_cycles,
    continue_cycles_from_orbit,
    cycle_from_hopf,
    cycle_from_simulation,
)
from bifsnn.continuation.periodic.examples import bautin, hopf_normal_form, rossler

Q_HOPF = np.array([1.0, -1.0j])  # critical eigenvector of the Hopf normal form at the origin

# Reference PD points of the Roessler system (a = b = 0.2) in c, computed for this test by
# accurate multiple shooting (DOP853, rtol 1e-12, secant on the -1 multiplier; script in the
# module docstring of bifsnn/continuation/periodic/shooting.py's test, see
# test_periodic_shooting.py::test_roessler_pd_reference_by_shooting, marked slow).
ROSSLER_PD1 = 2.8324450
ROSSLER_PD2 = 3.8373582


def opts(**kw) -> ContinuationOptions:
    """Cycle continuation options: the cycle defaults with some fields changed."""
    return ContinuationOptions(**{**CYCLE_DEFAULTS, **kw})


def radius(br: Branch) -> np.ndarray:
    """Max over each cycle of |(x, y)|."""
    return np.hypot(br.extra["nodes"][:, :, 0], br.extra["nodes"][:, :, 1]).max(axis=1)


def test_hopf_start_along_eigenvector_gives_sqrt_amplitude():
    # exact branch: radius sqrt(p), T = 2 pi; errors of ntst=20, ncol=4 are ~1e-10, we allow
    # 1e-7; the branch must leave the Hopf point towards p > 0 (supercritical)
    s = hopf_normal_form()
    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, Q_HOPF, ntst=20)
    assert start.info["start"] == "eigenvector"
    br = continue_cycles_from_orbit(s, start, opts(ds=0.05, max_steps=40, p_max=1.0),
                                    Collocation(ntst=20))
    assert br.kind == "PO"
    assert br.success and "parameter left" in br.message and br.status == "bound"
    assert len(br) > 5
    p = br.param_values
    assert np.all(p > 0)
    assert np.abs(radius(br) - np.sqrt(p)).max() < 1e-7
    assert np.abs(br.period - 2 * np.pi).max() < 1e-7
    # multipliers along the branch: exp(-4 pi p), error < 1e-7
    mu2 = br.multipliers[:, 1].real
    assert np.abs(mu2 - np.exp(-4 * np.pi * p)).max() < 1e-7
    assert br.stable.all()
    # envelopes for plotting
    assert br.x_max.shape == (len(br), 2) and np.all(br.x_max[:, 0] > br.x_min[:, 0])
    assert br.nit == int(br.extra["newton_iterations"].sum()) > 0


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
    br = continue_cycles_from_orbit(s, start, opts(ds=0.05, max_steps=10), Collocation(ntst=20))
    assert br.param_values[-1] > br.param_values[0]


def test_branch_ends_at_hopf_point_without_bouncing():
    # continue from a big cycle towards the Hopf point p = 0: must stop there (within 1e-6,
    # the quadratic extrapolation error from amplitude ~ds) with a special point 'H', and no
    # point may have p < 0 (a bounce would continue with the phase-shifted copy)
    s = hopf_normal_form()
    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, Q_HOPF, ntst=20)
    up = continue_cycles_from_orbit(s, start, opts(ds=0.1, max_steps=8), Collocation(ntst=20))
    down = continue_cycles(up, -1, opts(ds=0.1, max_steps=200, direction=-1))
    assert down.success, down.message
    assert "Hopf" in down.message
    h = down.points("H")
    assert len(h) == 1
    assert abs(h[0].param) < 1e-6 and abs(h[0].data["period"] - 2 * np.pi) < 1e-6
    assert np.all(down.param_values > -1e-12)
    assert np.all(np.diff(down.amplitude) < 0)


def test_bautin_fold_of_cycles_and_multipliers():
    # Bautin with beta2 = 1: subcritical Hopf at b1 = 0, fold of cycles (LPC) at
    # b1 = -1/4, r^2 = 1/2; located to 1e-6 (test-function tolerance 1e-9 in the tangent).
    # Multipliers vs exp(2 pi (b1 + 3 r^2 - 5 r^4)) to 1e-6 on the whole branch.
    s = bautin(1.0)
    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, Q_HOPF, ntst=20)
    br = continue_cycles_from_orbit(s, start, opts(ds=0.05, max_steps=80, p_min=-0.5, p_max=0.5),
                                    Collocation(ntst=20))
    lpc = br.points("LPC")
    assert len(lpc) == 1, [sp.type for sp in br.special_points]
    assert lpc[0].located
    assert abs(lpc[0].param + 0.25) < 1e-6
    assert abs(radius(br)[lpc[0].index] ** 2 - 0.5) < 1e-5
    # after the fold the big cycle is stable, before it the small one is unstable
    assert not br.stable[1] and br.stable[-1]
    for i in range(len(br)):
        r2 = radius(br)[i] ** 2
        exact = np.exp(2 * np.pi * (br.param_values[i] + 3 * r2 - 5 * r2**2))
        mult = br.multipliers[i]
        mu = mult[np.argmin(np.abs(mult - exact))]
        assert abs(mu - exact) < 1e-6 * max(1.0, exact)
        assert abs(br.period[i] - 2 * np.pi) < 1e-7


@pytest.fixture(scope="module")
def rossler_branch():
    s = rossler()
    sol = cycle_from_simulation(s, np.array([1.0, 1.0, 0.0]), 2.5, t_transient=300,
                                t_record=50, ntst=40, ncol=4)
    assert sol.success, sol.message
    br = continue_cycles_from_orbit(s, sol, opts(ds=0.1, max_steps=40, p_max=3.0),
                                    Collocation(ntst=40))
    return s, br


def test_rossler_first_period_doubling(rossler_branch):
    # PD1 vs the shooting reference: 1e-6 (the collocation error with 40 adapted intervals is
    # ~1e-8 and location tolerance 1e-8 in the multiplier)
    s, br = rossler_branch
    pd = br.points("PD")
    assert len(pd) == 1 and pd[0].located
    assert abs(pd[0].param - ROSSLER_PD1) < 1e-6
    mu = pd[0].data["multipliers"]
    assert np.min(np.abs(mu + 1)) < 1e-6
    assert br.stable[0] and not br.stable[-1]


def test_rossler_branch_switch_to_doubled_cycle_and_second_pd(rossler_branch):
    # switching at PD1 gives a cycle of twice the period; continuing it finds PD2 (1e-6)
    from bifsnn.continuation.periodic import pd_start

    s, br = rossler_branch
    pd1 = br.points("PD")[0]
    start = pd_start(s, br.cycle(pd1.index))
    assert abs(start.info["pd_multiplier"] + 1) < 1e-6
    assert start.info["w_end_plus_v"] < 1e-8  # w(T) = -v for the -1 eigenvector
    T1 = br.period[pd1.index]
    br2 = continue_cycles(br, pd1, opts(ds=0.05, max_steps=40, p_max=3.9))
    assert br2.collocation.ntst == 80  # twice the mesh intervals by default
    assert br2.success, br2.message
    assert abs(br2.period[0] - 2 * T1) < 1e-6
    # the doubled branch leaves the period-1 cycle: its orbit must differ from the
    # twice-traversed period-1 orbit (x_max of first and second half differ)
    last = br2.cycle(-1)
    half = (last.U.shape[0] - 1) // 2
    assert abs(last.U[:half, 0].max() - last.U[half:, 0].max()) > 0.1
    pd2 = br2.points("PD")
    assert len(pd2) == 1 and pd2[0].located
    assert abs(pd2[0].param - ROSSLER_PD2) < 1e-6


def test_max_steps_returns_partial_branch():
    s = hopf_normal_form()
    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, Q_HOPF, ntst=10)
    br = continue_cycles_from_orbit(s, start, opts(ds=0.05, max_steps=3), Collocation(ntst=10))
    assert not br.success and "max_steps" in br.message and br.status == "max_steps"
    assert len(br) == 3


def test_nan_in_rhs_fails_gracefully_with_partial_branch():
    # f returns NaN for p > 0.3: the branch must stop (step floor) and return the points
    # computed before with success=False and a message naming the cause
    base = hopf_normal_form()

    def f(x, p):
        out = base.f_user(x, p)
        return out * np.nan if p > 0.3 else out

    s = CycleSystem(f, 2, dfdx=base.dfdx_user)
    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, Q_HOPF, ntst=10)
    br = continue_cycles_from_orbit(s, start, opts(ds=0.05, max_steps=100, ds_min=1e-4),
                                    Collocation(ntst=10))
    assert not br.success
    assert "ds_min" in br.message and "NaN" in br.message
    assert len(br) > 2 and br.param_values.max() <= 0.3


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyError("key"), ValueError("bad")])
def test_exception_in_user_f_ends_cycle_branch_with_partial_result(exc):
    base = hopf_normal_form()

    def f(x, p):
        if p > 0.3:
            raise exc
        return base.f_user(x, p)

    s = CycleSystem(f, 2, dfdx=base.dfdx_user)
    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, Q_HOPF, ntst=10)
    br = continue_cycles_from_orbit(s, start, opts(ds=0.05, max_steps=100),
                                    Collocation(ntst=10))
    assert not br.success and br.status == "error"
    assert f"{type(exc).__name__}: {exc}" in br.message
    assert len(br) > 2 and br.param_values.max() <= 0.3


def test_step_floor_when_newton_cannot_converge():
    # a Newton budget of 1 iteration cannot converge: the step is halved down to ds_min
    s = hopf_normal_form()
    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, Q_HOPF, ntst=10)
    br = continue_cycles_from_orbit(s, start, opts(ds=0.05, max_steps=10, newton_max_iter=1,
                                                   ds_min=1e-3), Collocation(ntst=10))
    assert not br.success and "ds_min" in br.message


def test_invalid_options_raise():
    s = hopf_normal_form()
    with pytest.raises(ValueError, match="ncol"):
        Collocation(ncol=12)
    with pytest.raises(ValueError, match="adapt_mesh"):
        Collocation(adapt_mesh=-1)
    with pytest.raises(ValueError, match="state_scale"):
        Collocation(state_scale=float("nan"))
    with pytest.raises(ValueError, match="q"):
        cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, np.ones(3))
    with pytest.raises(ValueError, match="max_steps"):
        opts(max_steps=0)
    with pytest.raises(ValueError, match="period_max"):
        opts(period_max=float("nan"))
    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, Q_HOPF, ntst=10)
    with pytest.raises(TypeError, match="options"):
        continue_cycles_from_orbit(s, start, {"ds": 0.1})


def test_branch_and_curve_plot_with_the_shared_diagram_functions():
    # Branch objects of kind PO and LPC in the shared diagram functions
    from bifsnn.continuation.periodic import continue_lpc
    from bifsnn.continuation.periodic.examples import bautin_2p
    from bifsnn.continuation.plots import bifurcation_diagram, two_parameter_diagram

    s = bautin_2p()
    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, Q_HOPF, ntst=10)
    br = continue_cycles_from_orbit(s, start, opts(ds=0.05, max_steps=60, p_min=-0.5,
                                                   p_max=0.5), Collocation(ntst=10))
    assert br.special_points[1].type == "LPC"
    fig = bifurcation_diagram(cycles=[br])
    assert len(fig.axes) == 2  # envelope and period panels
    assert len(fig.axes[0].lines) >= 2
    fig = bifurcation_diagram([br])  # a PO branch among the branches is drawn as cycles
    assert len(fig.axes) == 2
    cur = continue_lpc(br, br.points("LPC")[0], 1, ContinuationOptions(ds=0.05, max_steps=3))
    assert cur.kind == "LPC" and len(cur) >= 3
    fig2 = two_parameter_diagram([cur])
    assert len(fig2.axes[0].lines) >= 1


def test_start_from_equilibrium_branch_hopf_point():
    # ODEProblem + continue_equilibria -> continue_cycles(eq, hopf point): the Hopf normal
    # form has radius sqrt(p) (1e-7); the start uses l1 from the equilibrium engine
    from bifsnn.continuation import ODEProblem, continue_equilibria

    base = hopf_normal_form()
    prob = ODEProblem(lambda x, p: base.f_user(x, p[0]), np.zeros(2), np.array([-0.5]),
                      dfdx=lambda x, p: base.dfdx_user(x, p[0]), param_names=("mu",))
    eq = continue_equilibria(prob, ContinuationOptions(ds=0.05, p_max=0.5))
    (h,) = eq.points("H")
    assert abs(h.param) < 1e-8
    br = continue_cycles(eq, h, opts(ds=0.05, max_steps=10), Collocation(ntst=20))
    assert br.info["start_start"] == "lyapunov"
    assert br.param_names == ("mu",) and br.param_label() == "mu"
    assert len(br) >= 10
    assert np.abs(radius(br) - np.sqrt(br.param_values)).max() < 1e-7
    # the same start by index into special_points; an index of a non-Hopf point is refused
    i = eq.special_points.index(h)
    assert len(continue_cycles(eq, i, opts(ds=0.05, max_steps=2), Collocation(ntst=20))) >= 2
    with pytest.raises(ValueError, match="expected H"):
        continue_cycles(eq, 0, opts(), Collocation(ntst=20))


def test_unlocated_hopf_label_off_the_axis_is_refused():
    """An H label that was not located and has no eigenvalue pair near +-i omega (as where an
    unstable complex pair turns real) is refused with a clear error before any step; an
    unlocated label of a genuine Hopf point still starts its branch."""
    from dataclasses import replace

    from bifsnn.continuation import ODEProblem, continue_equilibria

    base = hopf_normal_form()
    prob = ODEProblem(lambda x, p: base.f_user(x, p[0]), np.zeros(2), np.array([-0.5]),
                      dfdx=lambda x, p: base.dfdx_user(x, p[0]), param_names=("mu",))
    eq = continue_equilibria(prob, ContinuationOptions(ds=0.05, p_max=0.5))
    (h,) = eq.points("H")
    fake = replace(h, located=False, data={**h.data, "omega": 3.0})
    with pytest.raises(ValueError, match="not a Hopf point"):
        continue_cycles(eq, fake, opts(ds=0.05, max_steps=2), Collocation(ntst=20))
    genuine = replace(h, located=False)
    assert len(continue_cycles(eq, genuine, opts(ds=0.05, max_steps=2),
                               Collocation(ntst=20))) >= 2


def test_both_sides_from_a_cycle_merges_two_runs():
    s = hopf_normal_form()
    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, Q_HOPF, ntst=20)
    up = continue_cycles_from_orbit(s, start, opts(ds=0.1, max_steps=6), Collocation(ntst=20))
    mid = up.special_points.index(up.points("EP")[-1])
    both = continue_cycles(up, mid, opts(ds=0.1, max_steps=4, both_sides=True))
    p = both.param_values
    assert len(both) == 2 * 4 + 1
    assert np.all(np.diff(p) > 0)  # from the -direction end to the +direction end
    assert abs(p[4] - up.param_values[-1]) < 1e-12
    assert np.abs(radius(both) - np.sqrt(p)).max() < 1e-7


def test_cycle_branch_ends_exactly_on_its_parameter_bound():
    """The last cycle lies on p_max (located along the last step), not one step past it."""
    import numpy as np

    from bifsnn.continuation import (
        Collocation,
        ContinuationOptions,
        ODEProblem,
        continue_cycles,
        continue_equilibria,
    )

    def brusselator(x, p):
        a, b = p
        return np.array([a - (b + 1) * x[0] + x[0] ** 2 * x[1], b * x[0] - x[0] ** 2 * x[1]])

    prob = ODEProblem(brusselator, x0=[1.0, 1.0], p0=[1.0, 1.0], param="b",
                      param_names=("a", "b"))
    eq = continue_equilibria(prob, ContinuationOptions(ds=0.01, ds_max=0.1, p_max=3.0))
    po = continue_cycles(eq, eq.points("H")[0],
                         ContinuationOptions(ds=0.1, max_steps=60, p_max=2.5),
                         Collocation(ntst=20))
    assert po.success and po.status == "bound"
    assert abs(po.param_values[-1] - 2.5) < 1e-9
    assert np.all(po.param_values <= 2.5 + 1e-9)
    assert po.points("EP")[-1].param == po.param_values[-1]
    assert po.stable[-1] and po.multipliers[-1] is not None
