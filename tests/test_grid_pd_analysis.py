"""analyses/grid_pd.py (period-doubling boundary against the voltage grid, issue 11): its
root finder, its peak-height multiplier estimator on synthetic data, and (slow) the PD and
mu = -0.5 points of the default reduced ODE.

The script is not a package module, so it is loaded from its path.  Reference values (paper
closure, bins of 4, tau_EE = 1.4 ms: mu = -0.5 at p_EI 0.7783, PD at 0.7868) are those of
figures/fidelity_closures.md, section "Voltage grid and the period-doubling boundary".
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "analyses" / "grid_pd.py"


@pytest.fixture(scope="module")
def gp():
    spec = importlib.util.spec_from_file_location("grid_pd", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["grid_pd"] = mod
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop("grid_pd", None)


class _Curve:
    """Stands in for the cycle branch: a smooth, decreasing mu(p) with known roots."""

    def __init__(self) -> None:
        self.calls = 0

    def mu(self, p: float) -> float:
        self.calls += 1
        return -0.1 - 60.0 * (p - 0.77) - 900.0 * (p - 0.77) ** 2


@pytest.mark.parametrize("target", [-0.5, -1.0])
def test_locate_finds_the_root_of_mu_minus_target(gp, target):
    c = _Curve()
    # root of -0.1 - 60 x - 900 x^2 = target, x = p - 0.77 > 0
    x = (-60.0 + np.sqrt(3600.0 - 3600.0 * (0.1 + target))) / 1800.0
    p = gp._locate(c, target, 0.77, 0.8, 1e-5)
    assert abs(p - (0.77 + x)) < 2e-5
    assert c.calls < 25


def test_locate_refuses_an_interval_without_a_sign_change(gp):
    with pytest.raises(RuntimeError, match="does not change sign"):
        gp._locate(_Curve(), -0.5, 0.70, 0.75, 1e-4)


def _pulses(heights, period_ms=19.3, dt=0.1, width_ms=0.8):
    """E spike counts per step of a train of Gaussian rate pulses of the given peak heights
    (spikes/ms), the pulse centres off the sampling grid."""
    t = np.arange(int((len(heights) + 1) * period_ms / dt)) * dt
    rate = np.zeros_like(t)
    for n, h in enumerate(heights):
        rate += h * np.exp(-0.5 * ((t - (n + 0.5) * period_ms) / width_ms) ** 2)
    return SimpleNamespace(dt_ms=dt, spike_counts_e=rate * dt)


@pytest.mark.parametrize("mu", [-0.35, -0.6, -0.85])
def test_peak_multiplier_recovers_the_decay_ratio(gp, mu):
    heights = 100.0 + 20.0 * mu ** np.arange(120)
    est, pairs = gp.peak_multiplier(_pulses(heights))
    assert pairs >= 3
    assert abs(est - mu) < 0.03


def test_peak_multiplier_says_nan_when_nothing_decays(gp):
    est, pairs = gp.peak_multiplier(_pulses(np.full(60, 100.0)))
    assert pairs == 0 and np.isnan(est)


@pytest.mark.slow
def test_pd_and_mu_half_points_of_the_default_ode(gp):
    from bifsnn.reduction import MarkovModelDef

    r = gp.measure(MarkovModelDef(), [0.775, 0.785, 0.79], 5e-4, 20)
    assert r["n_state"] == 148
    assert abs(r["p_mu_half"] - 0.7783) < 1e-3
    assert abs(r["p_pd"] - 0.7868) < 1e-3
