"""Two-parameter curves of cycle folds (LPC) and period doublings (PD)."""

import numpy as np
import pytest

from bifsnn.continuation.periodic import continue_cycles, cycle_from_hopf, cycle_from_simulation
from bifsnn.continuation.periodic.codim2_cycles import continue_cycle_bifurcation
from bifsnn.continuation.periodic.examples import bautin_2p, rossler_3p


def test_bautin_lpc_curve_is_parabola():
    # exact LPC curve beta1 = -beta2^2/4; the defining system is solved to Newton tolerance
    # 1e-9 and the cycle is a circle (collocation error ~1e-10): 1e-7 along the curve
    s = bautin_2p(0.0, 1.0)
    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, np.array([1.0, -1.0j]), ntst=20)
    br = continue_cycles(s, start, ds=0.05, max_steps=80, ntst=20, p_min=-0.5, p_max=0.5)
    lpc = br.special("LPC")[0]
    cur = continue_cycle_bifurcation(s, br, lpc, 1, ds=0.05, max_steps=30, p2_bounds=(0.5, 2.0))
    assert cur.success, cur.message
    assert len(cur) > 5 and cur.p2.max() == pytest.approx(2.0, abs=1e-9)
    assert np.abs(cur.p1 + cur.p2**2 / 4).max() < 1e-7
    # amplitude on the curve: r^2 = beta2 / 2
    r2 = np.array([np.hypot(*q.U.T).max() ** 2 for q in cur.points])
    assert np.abs(r2 - cur.p2 / 2).max() < 1e-6


def test_roessler_pd_curve_has_multiplier_minus_one_and_matches_one_parameter_runs():
    # along the PD curve in (c, b) the Floquet multipliers (monodromy, independent of the
    # bordered test function) contain -1 to 1e-7; a one-parameter run in c at the b of a curve
    # point locates its PD at the same c to 1e-6
    s = rossler_3p(0.2, 0.2, 2.5)
    sol = cycle_from_simulation(s, np.array([1.0, 1.0, 0.0]), 2.5, t_transient=300,
                                t_record=50, ntst=40, ncol=4)
    br = continue_cycles(s, sol, ds=0.1, max_steps=40, p_max=3.0, ntst=40)
    pd = br.special("PD")[0]
    cur = continue_cycle_bifurcation(s, br, pd, 1, ds=0.02, max_steps=6, p2_bounds=(0.1, 0.4))
    assert len(cur) >= 5
    assert np.all(np.diff(cur.p2) > 0)
    for q in cur.points:
        assert np.min(np.abs(q.multipliers + 1)) < 1e-7
    q = cur.points[-1]
    s_b = rossler_3p(0.2, q.p2, 2.5)
    sol_b = cycle_from_simulation(s_b, np.array([1.0, 1.0, 0.0]), q.p1 - 0.3, t_transient=300,
                                  t_record=50, ntst=40, ncol=4)
    br_b = continue_cycles(s_b, sol_b, ds=0.1, max_steps=40, p_max=q.p1 + 0.2, ntst=40)
    pd_b = br_b.special("PD")
    assert len(pd_b) == 1 and abs(pd_b[0].p - q.p1) < 1e-6


def test_codim2_bad_input():
    s = bautin_2p()
    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, np.array([1.0, -1.0j]), ntst=10)
    br = continue_cycles(s, start, ds=0.05, max_steps=60, ntst=10, p_min=-0.5, p_max=0.5)
    lpc = br.special("LPC")[0]
    with pytest.raises(ValueError, match="ipar2"):
        continue_cycle_bifurcation(s, br, lpc, 0)
