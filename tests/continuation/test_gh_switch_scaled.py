"""continue_lpc_from_gh on a problem whose equilibrium moves fast with the parameter: the
equilibrium run that crosses the Hopf point steps along the branch's tangent, so it reaches
the Hopf point whatever dx/dp is (before: ds = 1e-2 / 5 of arclength made parameter steps
~1e-3 times too small when |dx/dp| ~ 1e3, and no Hopf point was found)."""

import numpy as np

from bifsnn.continuation import (
    Collocation,
    ContinuationOptions,
    ODEProblem,
    continue_equilibria,
    continue_hopf,
)
from bifsnn.continuation.periodic import continue_lpc_from_gh

SHIFT = 1000.0


def test_gh_to_lpc_with_an_equilibrium_moving_1000_per_unit_parameter():
    # the Bautin normal form in w = z - (SHIFT * b1, 0): same curves, equilibrium at
    # (SHIFT * b1, 0); LPC curve b1 = -b2^2 / 4
    def f(z, p):
        x, y = z[0] - SHIFT * p[0], z[1]
        r2 = x * x + y * y
        g = p[0] + p[1] * r2 - r2 ** 2
        return np.array([g * x - y, x + g * y])
    pr = ODEProblem(f, [-0.5 * SHIFT, 0.0], [-0.5, -1.0], param_names=("b1", "b2"))
    br = continue_equilibria(pr, ContinuationOptions(ds=5.0, ds_max=50.0, p_max=0.5))
    hc = continue_hopf(br, br.points("H")[0], "b2", ContinuationOptions(
        ds=0.05, ds_max=0.2, bounds={"b2": (-2.0, 1.0)}, max_steps=200))
    gh = hc.points("GH")[0]
    lc = continue_lpc_from_gh(hc, gh, ContinuationOptions(
        ds=0.02, ds_max=1.0, max_steps=8, bounds={"b2": (0.05, 0.6)}), Collocation(ntst=20),
        cycle_options=ContinuationOptions(ds=0.02, ds_max=0.1, max_steps=200))
    assert lc.kind == "LPC" and len(lc) >= 2
    b1, b2 = lc.params[:, 0], lc.params[:, 1]
    assert np.max(np.abs(b1 + b2 ** 2 / 4)) < 1e-8
