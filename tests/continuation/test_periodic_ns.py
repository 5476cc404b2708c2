"""Known-answer Neimark-Sacker test and checks of the fast corrector / LU reuse.

Product system: a planar oscillator with the stable limit cycle r = 1 (r' = r (1 - r^2),
theta' = 1, period 2 pi) times a second oscillator x3' = nu x3 - w x4 - x3 (x3^2 + x4^2),
x4' = w x3 + nu x4 - x4 (x3^2 + x4^2) sitting at its equilibrium 0. Along the cycle
(cos t, sin t, 0, 0) the Floquet multipliers are 1, exp(-4 pi) (radial direction) and
exp(2 pi nu) exp(+-2 pi i w): a Neimark-Sacker bifurcation exactly at nu = 0 with angle
2 pi w. With w = 1/pi the angle is exactly 2 rad. The cycle itself does not change with nu,
so the branch is p-monotone (no LPC) and no multiplier is real negative (no PD).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from bifsnn.continuation import ContinuationOptions
from bifsnn.continuation.periodic import (
    CYCLE_DEFAULTS,
    Collocation,
    CycleSystem,
    continue_cycles_from_orbit,
    solve_cycle,
    uniform_mesh,
)
from bifsnn.continuation.periodic.collocation import sparse_lu
from bifsnn.continuation.periodic.mesh import node_times

W = 1.0 / math.pi


def opts(**kw) -> ContinuationOptions:
    """Cycle continuation options: the cycle defaults with some fields changed."""
    return ContinuationOptions(**{**CYCLE_DEFAULTS, **kw})


def _f(x: np.ndarray, nu: float) -> np.ndarray:
    r2 = x[0] ** 2 + x[1] ** 2
    s2 = x[2] ** 2 + x[3] ** 2
    return np.array([
        x[0] - x[1] - x[0] * r2,
        x[1] + x[0] - x[1] * r2,
        nu * x[2] - W * x[3] - x[2] * s2,
        W * x[2] + nu * x[3] - x[3] * s2,
    ])


def _jac(x: np.ndarray, nu: float) -> np.ndarray:
    J = np.zeros((4, 4))
    r2 = x[0] ** 2 + x[1] ** 2
    s2 = x[2] ** 2 + x[3] ** 2
    J[0] = [1 - r2 - 2 * x[0] ** 2, -1 - 2 * x[0] * x[1], 0, 0]
    J[1] = [1 - 2 * x[0] * x[1], 1 - r2 - 2 * x[1] ** 2, 0, 0]
    J[2] = [0, 0, nu - s2 - 2 * x[2] ** 2, -W - 2 * x[2] * x[3]]
    J[3] = [0, 0, W - 2 * x[2] * x[3], nu - s2 - 2 * x[3] ** 2]
    return J


def _dfdp(x: np.ndarray, nu: float) -> np.ndarray:
    return np.array([0.0, 0.0, x[2], x[3]])


def _start(nu0: float, ntst: int = 20):
    sys_ = CycleSystem(_f, 4, dfdx=_jac, dfdp=_dfdp)
    tm = uniform_mesh(ntst)
    t = node_times(tm, 4)
    U = np.column_stack([np.cos(2 * np.pi * t), np.sin(2 * np.pi * t), 0 * t, 0 * t])
    sol = solve_cycle(sys_, tm, U, 2 * np.pi, nu0, 4, adapt=0)
    assert sol.success, sol.message
    return sys_, sol


def test_ns_known_answer_location_and_angle():
    sys_, sol = _start(-0.1)
    br = continue_cycles_from_orbit(sys_, sol, opts(ds=0.03, ds_max=0.05, max_steps=30,
                                                    p_min=-0.2, p_max=0.1),
                                    Collocation(ntst=20, ncol=4))
    assert br.success, br.message
    kinds = [s.type for s in br.special_points]
    # exactly one special point, the NS; no spurious LPC/PD on this p-monotone branch
    assert kinds == ["EP", "NS", "EP"], kinds
    ns = br.special_points[1]
    assert ns.located
    # exact answer nu = 0; collocation (ntst=20, ncol=4) of the linear variational equation is
    # accurate to ~1e-10 here, the locator stops at |test| < 1e-8 => 1e-6 is a safe margin
    assert abs(ns.param) < 1e-6, ns.param
    assert abs(ns.data["period"] - 2 * np.pi) < 1e-8  # the cycle does not depend on nu
    mu = ns.data["multipliers"]
    cplx = mu[np.abs(mu.imag) > 1e-3]
    assert cplx.size == 2
    # on the unit circle at the located point, at angle +-2 pi w = +-2 rad
    assert np.allclose(np.abs(cplx), 1.0, atol=1e-6)
    assert abs(abs(np.angle(cplx[0])) - 2 * np.pi * W) < 1e-6
    # the other multipliers: trivial 1 and the radial exp(-4 pi) ~ 3.5e-6
    real = np.sort(np.abs(mu[np.abs(mu.imag) <= 1e-3]))
    assert abs(real[-1] - 1.0) < 1e-8
    assert abs(real[0] - math.exp(-4 * math.pi)) < 1e-8
    # stability flips at the NS: stable before, unstable after (multiplier modulus
    # exp(2 pi nu) on both sides); points on either side are checked against that formula
    for i, p in enumerate(br.param_values):
        if abs(p) > 1e-3:
            mult = br.multipliers[i]
            assert br.stable[i] == (p < 0), (p, mult)
            m = mult[np.abs(mult.imag) > 1e-3]
            assert np.allclose(np.abs(m), math.exp(2 * np.pi * p), rtol=1e-7)


def test_ns_chord_and_full_newton_agree():
    # the chord corrector (one LU per step) must give the same branch and NS location as
    # full Newton: both stop at the same correction tolerance newton_tol = 1e-9 (relative)
    sys_, sol = _start(-0.1)
    o = opts(ds=0.03, ds_max=0.05, max_steps=30, p_min=-0.2, p_max=0.1)
    a = continue_cycles_from_orbit(sys_, sol, o, Collocation(ntst=20, newton_chord=True))
    b = continue_cycles_from_orbit(sys_, sol, o, Collocation(ntst=20, newton_chord=False))
    assert [s.type for s in a.points("NS")] == [s.type for s in b.points("NS")] == ["NS"]
    assert abs(a.points("NS")[0].param - b.points("NS")[0].param) < 1e-8


def test_ns_reverse_direction_detected():
    # crossing from the unstable side (decreasing nu) finds the same point
    sys_, sol = _start(0.07)
    br = continue_cycles_from_orbit(sys_, sol, opts(ds=0.03, ds_max=0.05, max_steps=30,
                                                    p_min=-0.1, p_max=0.2, direction=-1),
                                    Collocation(ntst=20, ncol=4))
    assert [s.type for s in br.special_points] == ["EP", "NS", "EP"]
    assert abs(br.points("NS")[0].param) < 1e-6


def test_sparse_lu_permutation_reuse_solves_exactly():
    # second factorisation of a large matrix with the same pattern goes through the cached
    # column permutation; its solve must still satisfy A x = b to rounding (1e-10 relative)
    rng = np.random.default_rng(1)
    n = 3000
    A = sp.random(n, n, density=2e-3, random_state=rng, format="csc") + 10 * sp.identity(n)
    A = A.tocsc()
    b = rng.standard_normal(n)
    x1 = sparse_lu(A).solve(b)
    A2 = A.copy()
    A2.data = A2.data * (1 + 0.1 * rng.standard_normal(A2.nnz))
    lu2 = sparse_lu(A2)
    x2 = lu2.solve(b)
    assert np.abs(A @ x1 - b).max() < 1e-10 * np.abs(b).max() * 10
    assert np.abs(A2 @ x2 - b).max() < 1e-10 * np.abs(b).max() * 10
    X = lu2.solve(np.column_stack([b, 2 * b]))
    assert np.allclose(X[:, 1], 2 * x2, rtol=1e-12, atol=1e-14)
    # transposed solves through the cached permutation (used by the bordered LPC/PD systems)
    y = lu2.solve(b, trans="T")
    assert np.abs(A2.T @ y - b).max() < 1e-10 * np.abs(b).max() * 10
    # the dense/sparse Factorization goes through the same wrapper (one SuperLU path)
    from bifsnn.continuation.linalg import Factorization

    fac = Factorization(A2)
    assert np.abs(A2 @ fac.solve(b) - b).max() < 1e-10 * np.abs(b).max() * 10
    assert fac.det_sign() == Factorization(A2.toarray()).det_sign()
