"""Checks of the AUTO-07p peer used by the continuation benchmarks (benchmarks/auto_peer.py).

Skipped when the optional ``bifpy`` package (AUTO-07p) is not importable.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("bifpy.auto")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import auto_peer as ap  # noqa: E402


def test_brusselator_hopf_six_digits():
    # Hopf of the Brusselator at b = 1 + a^2, equilibrium (a, b/a).  AUTO locates it
    # to ~epss = 1e-7 relative; 6 matching digits is the benchmark's agreement target.
    a = 2.0
    eq = ap.auto_equilibria(ap.brusselator_rhs, ap.brusselator_jac, [a, 0.5], [a, 1.0], 1,
                            (0.0, 8.0), ap.AutoSettings(ds=0.05, dsmax=0.2), n_steps=200)
    assert eq.success, eq.message
    hb = eq.points_of("HB")
    assert len(hb) == 1
    exact = ap.brusselator_hopf_b(a)
    assert ap.matching_digits(hb[0].parameter, exact) >= 6.0
    np.testing.assert_allclose(hb[0].state, [a, exact / a], rtol=1e-6)
    # purely imaginary pair +-i a (frequency a): AUTO prints eigenvalues to 6 digits
    imag = np.sort(np.abs(hb[0].eigenvalues.imag))
    np.testing.assert_allclose(imag, [a, a], rtol=1e-5)


def test_brusselator_cycles_from_hopf_start_at_hopf_period():
    # Cycles born at the Hopf have period 2 pi / a there; AUTO's first cycle point is the
    # Hopf itself, so its period must match to the Hopf location accuracy (1e-6 relative).
    a = 2.0
    s = ap.AutoSettings(ds=0.05, dsmax=0.2)
    eq = ap.auto_equilibria(ap.brusselator_rhs, ap.brusselator_jac, [a, 0.5], [a, 1.0], 1,
                            (0.0, 8.0), s, n_steps=200)
    cyc = ap.auto_cycles_from_hopf(ap.brusselator_rhs, ap.brusselator_jac, eq, 1, (0.0, 8.0), s,
                                   n_steps=30, user_values=(5.2,))
    assert cyc.success, cyc.message
    np.testing.assert_allclose(cyc.period[0], 2 * np.pi / a, rtol=1e-6)
    uz = cyc.points_of("UZ")
    assert len(uz) == 1 and abs(uz[0].parameter - 5.2) < 1e-6
    assert uz[0].period > 2 * np.pi / a  # period grows with b on this branch
    # the stored orbit is periodic: first and last mesh states agree (AUTO's BC, to ~epsu)
    orbit = cyc.raw.branches[0].points[[p.label for p in cyc.raw.branches[0].points].index(
        uz[0].label)].periodic_orbit
    np.testing.assert_allclose(orbit.state[0], orbit.state[-1], atol=1e-8)


def test_brusselator_1d_jacobian_and_exact_hopf():
    # Analytic Jacobian vs central differences (step 1e-6: truncation ~1e-12, round-off
    # ~1e-10 relative on entries of size (m+1)^2 d ~ 1); then AUTO's first Hopf vs the
    # closed-form value b_1 = 1 + a^2 + (d1 + d2) q_1, to 6 digits.
    n = 12
    rng = np.random.default_rng(0)
    u = 1.0 + rng.random(n)
    p = np.array([2.0, 5.0, 0.008, 0.004])
    J, dP = ap.brusselator_1d_jac(u, p)
    h = 1e-6
    f = ap.brusselator_1d_rhs
    Jfd = np.column_stack([(f(u + h * e, p) - f(u - h * e, p)) / (2 * h) for e in np.eye(n)])
    np.testing.assert_allclose(J, Jfd, atol=1e-7)
    dPfd = np.column_stack([(f(u, p + h * e) - f(u, p - h * e)) / (2 * h) for e in np.eye(4)])
    np.testing.assert_allclose(dP, dPfd, atol=1e-6)
    # the sparse Jacobian (used by bifsnn) is the same matrix, and inside the pattern
    np.testing.assert_allclose(ap.brusselator_1d_jac_sparse(u, p).toarray(), J, rtol=0, atol=0)
    assert np.all(ap.brusselator_1d_sparsity(n).toarray()[J != 0])
    # vectorised evaluation (n, K) equals column-by-column evaluation
    U = np.column_stack([u, 2 * u, u[::-1]])
    np.testing.assert_array_equal(f(U, p)[:, 1], f(U[:, 1], p))
    eq, cyc = ap.run_brusselator_1d(n, do_cycles=False)
    hb = eq.points_of("HB")
    assert hb, eq.message
    exact = ap.brusselator_1d_hopf_b(n, 2.0, 0.008, 0.004)
    assert ap.matching_digits(hb[0].parameter, exact) >= 6.0
    assert cyc is None


def test_differential_timing_subtracts_baseline():
    # fake run costing 0.02 s fixed + 0.01 s per step: per-step time must come out near
    # 0.01 s, not (0.02 + 0.05) / 5; tolerance 5 ms for sleep jitter on a loaded machine.
    import time

    def run(k):
        time.sleep(0.02 + 0.01 * k)
        return k

    out, t = ap.differential_timing(run, 5, 1, lambda k: k)
    assert out == 5 and t.n_steps == 5 and t.baseline_steps == 1
    assert abs(t.time_per_step_s - 0.01) < 5e-3


def test_settings_validation_names_field():
    with pytest.raises(ValueError, match="ncol"):
        ap.AutoSettings(ncol=9)
    with pytest.raises(ValueError, match="ds"):
        ap.AutoSettings(ds=1.0, dsmax=0.1)
    with pytest.raises(ValueError, match="n must be"):
        ap.run_brusselator_1d(7)
