"""Multiple shooting as an independent periodic-orbit method, compared with collocation."""

import numpy as np
import pytest

from bifsnn.continuation.periodic import cycle_from_simulation
from bifsnn.continuation.periodic.examples import hopf_normal_form, rossler, van_der_pol
from bifsnn.continuation.periodic.shooting import shoot_cycle


def test_shooting_hopf_normal_form_exact():
    # exact answer T = 2 pi, multiplier exp(-4 pi p); DOP853 rtol 1e-11 gives ~1e-10
    s = hopf_normal_form()
    sh = shoot_cycle(s, np.array([0.5, 0.1]), 6.0, 0.3, n_segments=3, method="DOP853",
                     rtol=1e-11, atol=1e-13)
    assert sh.success, sh.message
    assert abs(sh.T - 2 * np.pi) < 1e-8
    assert abs(np.hypot(*sh.x.T) - np.sqrt(0.3)).max() < 1e-8
    assert abs(sh.multipliers[1] - np.exp(-4 * np.pi * 0.3)) < 1e-8
    assert sh.trivial_error < 1e-8


def test_shooting_matches_collocation_roessler():
    # Roessler c = 2.5 (stable period-1 cycle, multipliers 1, -0.77, ~5e-6): the two methods
    # have independent discretisation errors (collocation ~1e-9 on 40 adapted intervals,
    # DOP853 rtol 1e-11): period and multipliers must agree to 1e-7
    s = rossler()
    sol = cycle_from_simulation(s, np.array([1.0, 1.0, 0.0]), 2.5, t_transient=300,
                                t_record=50, ntst=40, ncol=4)
    assert sol.success
    sh = shoot_cycle(s, sol.U[0], sol.T, 2.5, n_segments=4, guess=(sol.tm, sol.U, sol.ncol),
                     method="DOP853", rtol=1e-11, atol=1e-13)
    assert sh.success, sh.message
    assert abs(sh.T - sol.T) < 1e-7
    assert np.abs(sh.multipliers - sol.floquet.multipliers).max() < 1e-7
    # the shooting orbit lies on the collocation orbit: distance of x[1] to the nodes' curve
    from bifsnn.continuation.periodic import evaluate

    tt = np.linspace(0, 1, 20001)
    curve = evaluate(sol.tm, sol.U, sol.ncol, tt)
    d = np.min(np.linalg.norm(curve - sh.x[1], axis=1))
    assert d < 1e-3  # limited by the 20001-point sampling of the curve (speed ~ 6/T)


def test_shooting_matches_collocation_van_der_pol_stiff():
    # van der Pol mu = 10 (stiff relaxation cycle) with LSODA + analytic variational Jacobian:
    # period agrees with collocation (80 adapted intervals) to 1e-7 relative; the shooting
    # log|det M| (Liouville integral) matches the Radau reference -311.8442 to 1e-3
    s = van_der_pol()
    sol = cycle_from_simulation(s, np.array([2.0, 0.0]), 10.0, t_transient=60, t_record=60,
                                ntst=80, ncol=4)
    sh = shoot_cycle(s, sol.U[0], sol.T, 10.0, n_segments=6, guess=(sol.tm, sol.U, sol.ncol),
                     method="LSODA", rtol=1e-10, atol=1e-12)
    assert sh.success, sh.message
    assert abs(sh.T - sol.T) < 1e-7 * sol.T
    assert abs(sh.log_abs_det - (-311.8442)) < 1e-3
    assert sh.trivial_error < 1e-6


def test_shooting_bad_input():
    s = hopf_normal_form()
    with pytest.raises(ValueError, match="n_segments"):
        shoot_cycle(s, np.ones(2), 6.0, 0.3, n_segments=0)
    with pytest.raises(ValueError, match="T"):
        shoot_cycle(s, np.ones(2), -1.0, 0.3)


def _pd_by_shooting(s, c0, c1, x0, T, segments=4):
    """Secant iteration on c for Re(mu) + 1 = 0 of the multiplier nearest -1 (shooting)."""

    def test(c, x, T):
        sh = shoot_cycle(s, x, T, c, n_segments=segments, method="DOP853", rtol=1e-12,
                         atol=1e-13, tol=1e-11)
        assert sh.success, sh.message
        m = sh.multipliers[np.argmin(np.abs(sh.multipliers + 1))]
        return m.real + 1, sh

    f0, sh0 = test(c0, x0, T)
    f1, sh1 = test(c1, sh0.x[0], sh0.T)
    for _ in range(10):
        c2 = c1 - f1 * (c1 - c0) / (f1 - f0)
        f2, sh2 = test(c2, sh1.x[0], sh1.T)
        c0, f0, c1, f1, sh1 = c1, f1, c2, f2, sh2
        if abs(f2) < 1e-11:
            break
    return c1


@pytest.mark.slow
def test_roessler_pd_reference_by_shooting():
    # recomputes the reference PD points used in test_periodic_continuation.py by shooting
    # (independent of collocation); they agree with the collocation values to 1e-6
    from test_periodic_continuation import ROSSLER_PD1, ROSSLER_PD2

    s = rossler()
    sol = cycle_from_simulation(s, np.array([1.0, 1.0, 0.0]), 2.82, t_transient=300,
                                t_record=50, ntst=40, ncol=4)
    assert sol.success and 5.5 < sol.T < 6.0
    pd1 = _pd_by_shooting(s, 2.82, 2.84, sol.U[0], sol.T)
    assert abs(pd1 - ROSSLER_PD1) < 1e-6
    sol2 = cycle_from_simulation(s, np.array([1.0, 1.0, 0.0]), 3.8, t_transient=300,
                                 t_record=80, ntst=80, ncol=4)
    assert sol2.success and 11 < sol2.T < 12.5
    pd2 = _pd_by_shooting(s, 3.83, 3.845, sol2.U[0], sol2.T)
    assert abs(pd2 - ROSSLER_PD2) < 1e-6

