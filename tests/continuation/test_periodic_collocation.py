"""Collocation discretisation, mesh adaptation and Floquet multipliers against known answers."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from bifsnn.continuation.periodic import (
    CollocationOperator,
    CycleSystem,
    adapt_mesh,
    collocation_tables,
    cycle_from_simulation,
    cycle_from_trajectory,
    detect_period,
    evaluate,
    interpolate_to_mesh,
    solve_cycle,
    uniform_mesh,
)
from bifsnn.continuation.periodic.examples import hopf_normal_form, van_der_pol
from bifsnn.continuation.periodic.mesh import node_quadrature_weights, node_times


@pytest.mark.parametrize("ncol", [2, 3, 4, 5, 6, 7])
def test_tables_exact_for_polynomials(ncol):
    # Lagrange interpolation on ncol+1 nodes reproduces degree-ncol polynomials exactly, and
    # the node quadrature integrates them exactly: only rounding error is allowed (the
    # Vandermonde inverse for degree 7 costs ~1e-13 relative; we allow 1e-11).
    tab = collocation_tables(ncol)
    coef = np.arange(1, ncol + 2, dtype=float)
    poly = np.polynomial.Polynomial(coef)
    vals = poly(tab.nodes)
    assert np.allclose(tab.L @ vals, poly(tab.gauss), atol=1e-12)
    assert np.allclose(tab.D @ vals, poly.deriv()(tab.gauss), atol=1e-10)
    assert abs(tab.wq @ vals - (poly.integ()(1) - poly.integ()(0))) < 1e-11 * vals.max()


def test_bad_mesh_arguments_raise():
    with pytest.raises(ValueError, match="ncol"):
        collocation_tables(9)
    with pytest.raises(ValueError, match="ntst"):
        adapt_mesh(uniform_mesh(4), np.zeros((17, 2)), 4, ntst_new=1)


def test_interpolation_and_quadrature_on_nonuniform_mesh():
    # sin(2 pi t) on a random mesh of 30 intervals, degree 5: the interpolation error is at
    # most max|f^(6)| / 6! * h^6 = (2 pi h_max)^6 / 720; the node quadrature of sin^2 is 1/2
    # within the same bound.
    rng = np.random.default_rng(1)
    tm = np.sort(np.concatenate([[0, 1], rng.uniform(0, 1, 29)]))
    t = node_times(tm, 5)
    U = np.c_[np.sin(2 * np.pi * t), np.cos(2 * np.pi * t)]
    tt = np.linspace(0, 1, 777)
    err = np.abs(evaluate(tm, U, 5, tt) - np.c_[np.sin(2 * np.pi * tt), np.cos(2 * np.pi * tt)])
    bound = (2 * np.pi * np.diff(tm).max()) ** 6 / 720
    assert err.max() < bound
    w = node_quadrature_weights(tm, 5)
    assert abs(w @ U[:, 0] ** 2 - 0.5) < bound
    U2 = interpolate_to_mesh(tm, U, 5, uniform_mesh(40), 3)
    assert U2.shape == (121, 2) and np.allclose(U2[0], U2[-1])


def test_mesh_adaptation_concentrates_on_fast_parts():
    # a sharp pulse at t = 0.5 (width 0.01): after adaptation most intervals lie near it and
    # the interpolation error drops by more than 10x versus the uniform mesh
    def g(t):
        return np.exp(-(((t - 0.5) / 0.01) ** 2))

    tm = uniform_mesh(200)
    U = g(node_times(tm, 4))[:, None]
    tm_new, _ = adapt_mesh(tm, U, 4, 30)
    near = np.sum((tm_new > 0.45) & (tm_new < 0.55))
    assert near > 15
    tt = np.linspace(0, 1, 5001)
    e_uni = np.abs(evaluate(uniform_mesh(30), g(node_times(uniform_mesh(30), 4))[:, None], 4, tt)
                   [:, 0] - g(tt)).max()
    e_ad = np.abs(evaluate(tm_new, g(node_times(tm_new, 4))[:, None], 4, tt)[:, 0] - g(tt)).max()
    assert e_ad < 0.1 * e_uni


@pytest.mark.parametrize("mu", [0.1, 0.5, 2.0])
def test_hopf_normal_form_cycle_and_multipliers(mu):
    # exact: radius sqrt(mu), T = 2 pi, nontrivial multiplier exp(-4 pi mu). Degree 4 on 20
    # intervals of a circle gives ~1e-9 errors; tolerances 1e-7 leave margin for the solver.
    s = hopf_normal_form()
    tm = uniform_mesh(20)
    t = node_times(tm, 4)
    U = 0.8 * np.sqrt(mu) * np.c_[np.cos(2 * np.pi * t), np.sin(2 * np.pi * t)]
    sol = solve_cycle(s, tm, U, 6.0, mu, 4, adapt=1)
    assert sol.success, sol.message
    assert abs(sol.T - 2 * np.pi) < 1e-7
    assert np.abs(np.hypot(*sol.U.T) - np.sqrt(mu)).max() < 1e-7
    mult = sol.floquet.multipliers
    assert abs(mult[0] - 1) < 1e-8  # trivial multiplier as an accuracy check
    assert abs(mult[1] - np.exp(-4 * np.pi * mu)) < 1e-7


def test_finite_difference_jacobian_matches_analytic():
    # same cycle with and without the analytic Jacobian: FD error ~1e-7 only affects Newton's
    # convergence rate, not the converged solution (1e-9)
    s_an = hopf_normal_form()
    s_fd = CycleSystem(s_an.f_user, 2)
    tm = uniform_mesh(16)
    t = node_times(tm, 4)
    U = 0.5 * np.c_[np.cos(2 * np.pi * t), np.sin(2 * np.pi * t)]
    a = CollocationOperator(s_an, tm, 4).newton(U, 6.0, 0.3)
    b = CollocationOperator(s_fd, tm, 4).newton(U, 6.0, 0.3)
    assert a.success and b.success
    assert abs(a.T - b.T) < 1e-9 and np.abs(a.U - b.U).max() < 1e-9


# Van der Pol mu = 10 reference, from solve_ivp Radau (rtol 1e-10, atol 1e-12) over 2.5
# periods started on the cycle, with the divergence integral as a third variable (recomputed
# by test_van_der_pol_radau_reference, marked slow: ~15 s): period = difference of successive
# upward crossings of y = 0; log of the nontrivial multiplier = int_0^T mu (1 - x^2) dt.
VDP10_T = 19.07836957
VDP10_LOG_MU = -311.8442


@pytest.fixture(scope="module")
def vdp10():
    """Van der Pol mu = 10 cycle by collocation (80 adapted intervals, degree 4)."""
    s = van_der_pol()
    sol = cycle_from_simulation(s, np.array([2.0, 0.0]), 10.0, t_transient=60, t_record=60,
                                ntst=80, ncol=4)
    assert sol.success, sol.message
    return s, sol


@pytest.mark.slow
def test_van_der_pol_radau_reference(vdp10):
    s, sol = vdp10
    mu = 10.0

    def g(_t, z):
        return np.array([z[1], mu * (1 - z[0] ** 2) * z[1] - z[0], mu * (1 - z[0] ** 2)])

    def jac(_t, z):
        J = np.zeros((3, 3))
        J[:2, :2] = s.jac(z[:2], mu)
        J[2, 0] = -2 * mu * z[0]
        return J

    def ev(_t, z):
        return z[1]

    ev.direction = 1
    ref = solve_ivp(g, (0, 2.5 * sol.T), np.r_[sol.U[0], 0.0], method="Radau", rtol=1e-10,
                    atol=1e-12, events=ev, jac=jac)
    te, ye = ref.t_events[0], ref.y_events[0]
    # constants above are rounded to 1e-8 (period) and 1e-4 (log multiplier)
    assert abs((te[-1] - te[-2]) - VDP10_T) < 2e-8
    assert abs((ye[-1][2] - ye[-2][2]) - VDP10_LOG_MU) < 2e-4


def test_van_der_pol_period(vdp10):
    # collocation with 80 adapted intervals of degree 4 agrees with Radau to ~1e-9 relative;
    # we require 1e-8 relative (the reference constant is rounded to 1e-8 absolute)
    _, sol = vdp10
    assert abs(sol.T - VDP10_T) < 1e-8 * VDP10_T + 1e-8


def test_van_der_pol_multipliers(vdp10):
    # The nontrivial multiplier is exp(int div f dt) ~ 1e-136 (log = -311.84 from Radau).
    # Gauss collocation is A- but not L-stable, so tiny multipliers are only resolved when the
    # mesh resolves the contraction rate; with 800 intervals log|mu2| is within 5%, and it is
    # far below 1 on any mesh. The trivial multiplier must be 1 within 1e-6.
    s, sol = vdp10
    fl = sol.floquet
    assert fl.trivial_error < 1e-6
    assert fl.log_abs_nontrivial_2d() < -20
    fine = solve_cycle(s, sol.tm, sol.U, sol.T, 10.0, 4, ntst=800, adapt=1)
    assert fine.success
    assert abs(fine.floquet.log_abs_nontrivial_2d() - VDP10_LOG_MU) < 0.05 * abs(VDP10_LOG_MU)
    assert fine.floquet.trivial_error < 1e-9


def test_detect_period_from_trajectory():
    # sampled circle of period 3.7 plus a harmonic: detected period within 1e-6 (linear
    # interpolation of crossings with 2000 samples per period)
    t = np.linspace(0, 40, 20001)
    w = 2 * np.pi / 3.7
    x = np.c_[np.cos(w * t) + 0.3 * np.cos(2 * w * t), np.sin(w * t)]
    T, _, msg = detect_period(t, x)
    assert msg == "ok" and abs(T - 3.7) < 1e-6
    T, _, msg = detect_period(t, np.c_[t, t])
    assert np.isnan(T) and "crossings" in msg


def test_detect_period_ignores_a_component_that_barely_moves():
    # a third component with range 1e-8 of the others and aperiodic noise of its own size
    # (a near-empty bin of the reduced model) does not hide the return; at 1e-5 of the
    # others (above the floor) its noise does
    t = np.linspace(0, 40, 20001)
    w = 2 * np.pi / 3.7
    noise = np.random.default_rng(0).uniform(-1, 1, t.size)
    for size, found in ((1e-8, True), (1e-5, False)):
        x = np.c_[np.cos(w * t), np.sin(w * t), size * noise]
        T, _, msg = detect_period(t, x)
        assert (msg == "ok" and abs(T - 3.7) < 1e-6) if found else np.isnan(T), (size, T, msg)


def test_cycle_from_trajectory_period_two():
    # a period-2 trajectory (alternating big/small loops) is recognised with its full period
    t = np.linspace(0, 60, 60001)
    x = np.c_[np.cos(t), np.sin(t)] * (1 + 0.3 * np.cos(t / 2))[:, None]
    T, _, msg = detect_period(t, x)
    assert abs(T - 4 * np.pi) < 1e-5, (T, msg)
    s = hopf_normal_form()
    t2 = np.linspace(0, 30, 3001)
    traj = 0.9 * np.c_[np.cos(t2), np.sin(t2)]
    sol = cycle_from_trajectory(s, t2, traj, 0.49, ntst=20, ncol=4)
    assert sol.success and abs(sol.T - 2 * np.pi) < 1e-7
    assert np.abs(np.hypot(*sol.U.T) - 0.7).max() < 1e-7
