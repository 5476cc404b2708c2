"""Two-parameter curves of cycle folds (LPC) and period doublings (PD)."""

import numpy as np
import pytest

from bifsnn.continuation import ContinuationOptions
from bifsnn.continuation.periodic import (
    CYCLE_DEFAULTS,
    Collocation,
    continue_cycles_from_orbit,
    continue_lpc,
    continue_pd,
    cycle_from_hopf,
    cycle_from_simulation,
)
from bifsnn.continuation.periodic.examples import bautin_2p, rossler_3p


def opts(**kw) -> ContinuationOptions:
    """Cycle continuation options: the cycle defaults with some fields changed."""
    return ContinuationOptions(**{**CYCLE_DEFAULTS, **kw})


def curve_opts(**kw) -> ContinuationOptions:
    """The two-parameter defaults (ds 0.02, ds_min 1e-6, ds_max 0.2) with some fields changed."""
    return ContinuationOptions(**{"ds": 0.02, "ds_min": 1e-6, "ds_max": 0.2, **kw})


def test_bautin_lpc_curve_is_parabola():
    # exact LPC curve beta1 = -beta2^2/4; the defining system is solved to Newton tolerance
    # 1e-9 and the cycle is a circle (collocation error ~1e-10): 1e-7 along the curve
    s = bautin_2p(0.0, 1.0)
    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, np.array([1.0, -1.0j]), ntst=20)
    br = continue_cycles_from_orbit(s, start, opts(ds=0.05, max_steps=80, p_min=-0.5, p_max=0.5),
                                    Collocation(ntst=20))
    lpc = br.points("LPC")[0]
    cur = continue_lpc(br, lpc, 1, curve_opts(ds=0.05, max_steps=30, bounds={1: (0.5, 2.0)}))
    assert cur.success, cur.message
    assert cur.kind == "LPC" and cur.param_indices == (0, 1)
    p1, p2 = cur.params.T
    assert len(cur) > 5 and p2.max() == pytest.approx(2.0, abs=1e-9)
    assert np.abs(p1 + p2**2 / 4).max() < 1e-7
    # amplitude on the curve: r^2 = beta2 / 2
    r2 = np.hypot(cur.extra["nodes"][:, :, 0], cur.extra["nodes"][:, :, 1]).max(axis=1) ** 2
    assert np.abs(r2 - p2 / 2).max() < 1e-6
    # both directions from the LPC (beta2 = 1), merged: the whole parabola over [0.5, 2]
    both = continue_lpc(br, lpc, 1, curve_opts(ds=0.05, max_steps=30, bounds={1: (0.5, 2.0)},
                                               both_sides=True))
    p1, p2 = both.params.T
    assert both.success and np.all(np.diff(p2) > 0)
    assert p2.min() == pytest.approx(0.5, abs=1e-9) and p2.max() == pytest.approx(2.0, abs=1e-9)
    assert np.abs(p1 + p2**2 / 4).max() < 1e-7


def test_roessler_pd_curve_has_multiplier_minus_one_and_matches_one_parameter_runs():
    # along the PD curve in (c, b) the Floquet multipliers (monodromy, independent of the
    # bordered test function) contain -1 to 1e-7; a one-parameter run in c at the b of a curve
    # point locates its PD at the same c to 1e-6
    s = rossler_3p(0.2, 0.2, 2.5)
    sol = cycle_from_simulation(s, np.array([1.0, 1.0, 0.0]), 2.5, t_transient=300,
                                t_record=50, ntst=40, ncol=4)
    br = continue_cycles_from_orbit(s, sol, opts(ds=0.1, max_steps=40, p_max=3.0),
                                    Collocation(ntst=40))
    pd = br.points("PD")[0]
    cur = continue_pd(br, pd, 1, curve_opts(ds=0.02, max_steps=6, bounds={1: (0.1, 0.4)}))
    assert cur.kind == "PD"
    assert len(cur) >= 5
    p1, p2 = cur.params.T
    assert np.all(np.diff(p2) > 0)
    for mu in cur.multipliers:
        assert np.min(np.abs(mu + 1)) < 1e-7
    s_b = rossler_3p(0.2, p2[-1], 2.5)
    sol_b = cycle_from_simulation(s_b, np.array([1.0, 1.0, 0.0]), p1[-1] - 0.3,
                                  t_transient=300, t_record=50, ntst=40, ncol=4)
    br_b = continue_cycles_from_orbit(s_b, sol_b, opts(ds=0.1, max_steps=40, p_max=p1[-1] + 0.2),
                                      Collocation(ntst=40))
    pd_b = br_b.points("PD")
    assert len(pd_b) == 1 and abs(pd_b[0].param - p1[-1]) < 1e-6


def test_codim2_bad_input():
    s = bautin_2p()
    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, np.array([1.0, -1.0j]), ntst=10)
    br = continue_cycles_from_orbit(s, start, opts(ds=0.05, max_steps=60, p_min=-0.5, p_max=0.5),
                                    Collocation(ntst=10))
    lpc = br.points("LPC")[0]
    with pytest.raises(ValueError, match="param2"):
        continue_lpc(br, lpc, 0)
    with pytest.raises(ValueError, match="expected PD"):
        continue_pd(br, lpc, 1)
