"""NS labels only where a complex pair crosses the unit circle (issue 9, item 2).

Product system: the planar oscillator r' = r (1 - r^2), theta' = 1 (cycle r = 1, period
2 pi) times a linear transverse part z' = A z, A = [[a, 1], [c, a]], at z = 0 along the
cycle.  The nontrivial multipliers are exp(-4 pi) and exp(2 pi (a +- sqrt(c))): real for
c > 0, a complex pair of modulus exp(2 pi a) for c < 0.  Continued in c through 0, the two
real multipliers collide and become complex without crossing |mu| = 1 (outside for a > 0,
inside for a < 0): no NS point.  Continued in a with c > 0 fixed, the real pair's product
exp(4 pi a) passes 1 at a = 0 (a neutral saddle): no NS point either.  The known-answer NS
tests (a complex pair crossing) are in test_periodic_ns.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bifsnn.continuation import ContinuationOptions
from bifsnn.continuation import periodic as per
from bifsnn.continuation.periodic.mesh import node_times
from bifsnn.continuation.periodic.stepper import _counts, _crossings


def _system(which: str, fixed: float) -> per.CycleSystem:
    """``which`` "c": A = [[fixed, 1], [p, fixed]]; "a": A = [[p, 1], [fixed, p]]."""

    def coeffs(p: float) -> tuple[float, float]:
        return (fixed, p) if which == "c" else (p, fixed)

    def f(x, p):
        a, c = coeffs(p)
        r2 = x[0] ** 2 + x[1] ** 2
        return np.array([x[0] - x[1] - x[0] * r2, x[1] + x[0] - x[1] * r2,
                         a * x[2] + x[3], c * x[2] + a * x[3]])

    def jac(x, p):
        a, c = coeffs(p)
        r2 = x[0] ** 2 + x[1] ** 2
        J = np.zeros((4, 4))
        J[0, :2] = [1 - r2 - 2 * x[0] ** 2, -1 - 2 * x[0] * x[1]]
        J[1, :2] = [1 - 2 * x[0] * x[1], 1 - r2 - 2 * x[1] ** 2]
        J[2, 2:] = [a, 1.0]
        J[3, 2:] = [c, a]
        return J

    def dfdp(x, p):
        return (np.array([0.0, 0.0, 0.0, x[2]]) if which == "c"
                else np.array([0.0, 0.0, x[2], x[3]]))

    return per.CycleSystem(f, 4, dfdx=jac, dfdp=dfdp)


def _branch(which: str, fixed: float, p0: float, p_max: float):
    sys_ = _system(which, fixed)
    tm = per.uniform_mesh(20)
    t = node_times(tm, 4)
    U = np.column_stack([np.cos(2 * np.pi * t), np.sin(2 * np.pi * t), 0 * t, 0 * t])
    sol = per.solve_cycle(sys_, tm, U, 2 * np.pi, p0, 4, adapt=0)
    assert sol.success, sol.message
    o = ContinuationOptions(**{**per.CYCLE_DEFAULTS, **dict(ds=0.002, ds_max=0.004,
                                                        max_steps=60, p_min=p0 - 1.0,
                                                        p_max=p_max)})
    return per.continue_cycles_from_orbit(sys_, sol, o, per.Collocation(ntst=20, ncol=4))


def _nontrivial_pair(mu: np.ndarray) -> np.ndarray:
    m = np.asarray(mu)
    m = np.delete(m, np.argmin(np.abs(m - 1.0)))
    return m[np.argsort(-np.abs(m))][:2]  # drop the radial exp(-4 pi)


@pytest.mark.parametrize("a", [0.1, -0.1])
def test_real_pair_turning_complex_is_not_ns(a):
    br = _branch("c", a, -0.02, 0.006)
    assert br.success, br.message
    assert [s.type for s in br.special_points] == ["EP", "EP"], br.special_points
    # the branch did pass the collision: complex pair at the start, real pair at the end,
    # modulus exp(2 pi a) / exp(2 pi (a +- sqrt c)) as the formula says
    first, last = _nontrivial_pair(br.multipliers[0]), _nontrivial_pair(br.multipliers[-1])
    assert np.all(np.abs(first.imag) > 0.1) and np.allclose(np.abs(first),
                                                             math.exp(2 * math.pi * a))
    c = float(br.param_values[-1])
    assert c > 0 and np.all(np.abs(last.imag) < 1e-9)
    want = np.exp(2 * math.pi * (a + np.array([1.0, -1.0]) * math.sqrt(c)))
    assert np.allclose(np.sort(last.real)[::-1], want, rtol=1e-7)
    # on one side of the circle all along (outside for a > 0, inside for a < 0)
    for mu in br.multipliers:
        assert np.all((np.abs(_nontrivial_pair(mu)) > 1) == (a > 0))


def test_neutral_saddle_is_not_ns():
    br = _branch("a", 0.04, -0.05, 0.05)
    assert br.success, br.message
    assert [s.type for s in br.special_points] == ["EP", "EP"], br.special_points
    lo, hi = _nontrivial_pair(br.multipliers[0]), _nontrivial_pair(br.multipliers[-1])
    # real saddle pair exp(2 pi (a +- 0.2)); its product exp(4 pi a) passed 1 at a = 0
    assert np.all(np.abs(lo.imag) < 1e-9) and np.all(np.abs(hi.imag) < 1e-9)
    assert np.prod(lo.real) < 1 < np.prod(hi.real)


@pytest.mark.parametrize("before, after, want", [
    ([1.5, 1.2], [1.3 + 0.2j, 1.3 - 0.2j], []),          # collision outside
    ([0.5, 0.4], [0.45 + 0.1j, 0.45 - 0.1j], []),        # collision inside
    ([-1.5, -1.2], [-1.3 + 0.2j, -1.3 - 0.2j], []),      # collision outside, negative axis
    ([0.9 + 0.3j, 0.9 - 0.3j], [1.0 + 0.3j, 1.0 - 0.3j], ["NS"]),  # pair crosses |mu| = 1
    ([0.9, 0.5], [1.2 + 0.1j, 1.2 - 0.1j], ["NS"]),     # collision inside, then crossing
    ([-0.9, 0.5], [-1.1, 0.5], ["PD"]),
    ([1.1, 0.95], [1.08 + 0.01j, 1.08 - 0.01j], []),    # real crossing of +1, collision
    ([3.0, 0.3], [3.3, 0.34], []),                       # neutral saddle (product 1)
])
def test_count_changes_that_are_crossings(before, after, want):
    a = _counts(np.array([1.0, *before]))
    b = _counts(np.array([1.0, *after]))
    assert _crossings(a, b) == want and _crossings(b, a) == want
