"""Labels that are true (issue 9): cycle special points pass checks of their kind or are
reported as unconfirmed with the reason."""

import numpy as np

from bifsnn.continuation import ContinuationOptions, ODEProblem, continue_equilibria
from bifsnn.continuation.periodic import continue_cycles
from bifsnn.continuation.periodic.collocation import FloquetResult
from bifsnn.continuation.periodic.discretization import Collocation
from bifsnn.continuation.periodic.stepper import confirm_label


def _bt_problem() -> ODEProblem:
    # BT normal form x' = y, y' = b1 + b2 x + x^2 - x y at b2 = -1: the cycles born at the
    # Hopf point b1 = 0 grow into a homoclinic orbit; their period increases monotonically
    def f(z, p):
        return np.array([z[1], p[0] + p[1] * z[0] + z[0] ** 2 - z[0] * z[1]])
    pr = ODEProblem(f, [0.0, 0.0], [-0.1, -1.0], param_names=("b1", "b2"))
    # equilibrium x^2 - x - 0.1 = 0 -> x = (1 - sqrt(1.4)) / 2 (the one with the Hopf point)
    pr.x0 = np.array([(1 - np.sqrt(1.4)) / 2, 0.0])
    return pr


def test_planar_homoclinic_approach_gets_no_lpc_pd_or_ns():
    pr = _bt_problem()
    br = continue_equilibria(pr, ContinuationOptions(ds=0.01, ds_max=0.05, p_min=-0.5,
                                                     p_max=0.5))
    po = continue_cycles(br, br.points("H")[0], ContinuationOptions(
        ds=0.05, ds_max=0.5, max_steps=400, p_min=-0.5, p_max=0.5), Collocation(ntst=20))
    T = po.period
    assert T[-1] > 100 and np.all(np.diff(T) > 0)  # the period is monotone ...
    # ... and the Floquet multipliers become inaccurate (trivial multiplier error ~1)
    assert np.nanmax(po.extra["trivial_error"]) > 0.5
    # so no fold of cycles, and no PD / NS in the plane
    assert [s.type for s in po.special_points if s.type != "EP"] == []


def _fl(mu, triv):
    return FloquetResult(np.asarray(mu, dtype=complex), None, triv)


def test_confirm_label_checks_each_kind():
    assert confirm_label("PD", 2, _fl([1.0, -1.0], 1e-12), True) == (
        False, "PD is impossible for a planar system (n = 2)")
    assert confirm_label("NS", 2, _fl([1.0, 0.1], 1e-12), True)[0] is False
    ok, why = confirm_label("PD", 3, _fl([1.0, -1.0, 0.3], 0.5), True)
    assert not ok and "trivial multiplier error" in why
    assert confirm_label("PD", 3, _fl([1.0, -1.0 + 1e-7, 0.3], 1e-10), True) == (True, "")
    ok, why = confirm_label("LPC", 2, _fl([1.0, 1.55], 1e-10), True)
    assert not ok and "double multiplier 1" in why
    assert confirm_label("LPC", 2, _fl([1.0, 0.998], 1e-10), True) == (True, "")
    ok, why = confirm_label("NS", 3, _fl([1.0, 0.9 + 0.3j, 0.9 - 0.3j], 1e-10), True)
    assert not ok and "unit circle" in why
    z = np.exp(0.7j)
    assert confirm_label("NS", 3, _fl([1.0, z, np.conj(z)], 1e-10), True) == (True, "")
    assert confirm_label("LPC", 3, _fl([1.0, 1.0], 1e-10), False)[0] is False
