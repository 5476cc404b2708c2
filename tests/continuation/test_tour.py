"""docs/examples/continuation_tour.py runs and its results are right, checked independently:
the Hopf points against the Routh-Hurwitz condition, the period doublings by multiple
shooting (an integrator, not collocation)."""

import runpy
from pathlib import Path

import numpy as np
import pytest

from bifsnn.continuation.periodic import cycle_system, shoot_cycle

TOUR = Path(__file__).resolve().parents[2] / "docs" / "examples" / "continuation_tour.py"


@pytest.fixture(scope="module")
def tour():
    mod = runpy.run_path(str(TOUR))
    return mod, mod["tour"](verbose=False)


def _hurwitz(mod, x, p):
    """(a1 a2 - a3, a2) of the characteristic polynomial l^3 + a1 l^2 + a2 l + a3."""
    J = mod["roessler_jac"](x, p)
    a1 = -np.trace(J)
    a2 = sum(np.linalg.det(J[np.ix_(ij, ij)]) for ij in ([0, 1], [0, 2], [1, 2]))
    a3 = -np.linalg.det(J)
    return a1 * a2 - a3, a2


def _min_dist_to_minus_one(br, point):
    """|mu + 1| of the multipliers by multiple shooting at a PD point of a cycle branch."""
    cyc = br.cycle(point.index)
    sysobj = cycle_system(br.problem, br.p[point.index], point.param_indices[0])
    sh = shoot_cycle(sysobj, cyc.U[0], cyc.T, cyc.p, n_segments=4, method="DOP853",
                     guess=(cyc.tm, cyc.U, cyc.ncol))
    assert sh.success, sh.message
    assert abs(sh.T - cyc.T) < 1e-6  # same orbit: period by shooting vs collocation
    return float(np.min(np.abs(sh.multipliers + 1)))


def test_tour_equilibria_hopf_and_hopf_curve(tour):
    mod, br = tour
    eq, hc = br["equilibria"], br["hopf_curve"]
    assert eq.success and hc.success
    (h,) = eq.points("H")
    g, a2 = _hurwitz(mod, h.x, h.p)
    assert abs(g) < 1e-9 and abs(h.data["omega"] ** 2 - a2) < 1e-9
    assert hc.kind == "H" and hc.param_indices == (0, 1) and len(hc) > 20
    # every point of the two-parameter curve is a Hopf point (Newton tolerance 1e-9)
    for x, p, om in zip(hc.x, hc.p, hc.extra["omega"], strict=True):
        g, a2 = _hurwitz(mod, x, p)
        assert abs(g) < 1e-8 and abs(om**2 - a2) < 1e-8
    b = hc.params[:, 1]
    assert b.min() == pytest.approx(0.1, abs=1e-9) and b.max() == pytest.approx(4.0, abs=1e-9)
    assert np.all(np.diff(b) > 0)  # both sides merged in order


def test_tour_cycles_and_period_doublings(tour):
    _, br = tour
    po, po2 = br["cycles"], br["doubled_cycles"]
    assert po.kind == po2.kind == "PO" and po.success and po2.success
    (pd1,) = po.points("PD")
    (pd2,) = po2.points("PD")
    assert pd1.located and pd2.located
    assert 0.33 < pd1.param < 0.34 and 0.37 < pd2.param < 0.38
    assert abs(po2.period[0] - 2 * po.period[pd1.index]) < 1e-8
    assert po.stable[pd1.index - 1] and not po.stable[-1]
    # shooting (DOP853, rtol 1e-10) at the collocation PD parameters finds a multiplier -1:
    # within 1e-7 (measured 1.7e-9 and 3.8e-9; the locator stops at |mu + 1| < 1e-8)
    assert _min_dist_to_minus_one(po, pd1) < 1e-7
    assert _min_dist_to_minus_one(po2, pd2) < 1e-7
