"""Exact higher derivatives of the reduced ODE (Taylor series generated from the sympy pieces)
against the analytic Jacobian and Ridders' extrapolated differences of it."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_state

from bifsnn.continuation.derivatives import ridders
from bifsnn.reduction import MarkovModelDef


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-300))


@pytest.fixture(scope="module")
def coloured_model():
    return MarkovModelDef(bin_rule="smooth", closure="coloured").compile()


@pytest.mark.parametrize("seed, closure", [(0, "paper"), (1, "paper"), (2, "coloured")])
def test_series_against_jacobian(smooth_model, coloured_model, seed, closure):
    if closure == "coloured":  # the paper's assembly with the coloured-noise variance
        smooth_model = coloured_model
    d = smooth_model.definition
    rng = np.random.default_rng(seed)
    x = random_state(d, rng, empty_frac=0.2, tiny=1e-3)
    v = rng.standard_normal(x.size) * (0.01 * np.abs(x) + 1e-3)
    s = smooth_model.taylor_series(x, v[None, :])[0]
    # order 0 and 1: the right-hand side and the analytic Jacobian (both independent code)
    assert _rel(s[:, 0], smooth_model.rhs(x)) < 1e-12
    J = smooth_model.jacobian(x)
    assert _rel(s[:, 1], J @ v) < 1e-11

    # orders 2 and 3 against Ridders' extrapolation of differences of the analytic Jacobian,
    # started at h0 = 0.01 (nearly empty bins vary on the scale delta = 1e-3: from h0 = 0.1
    # the extrapolation itself is wrong by O(1) on seed 1; from 0.01 its error estimate is
    # ~1e-8 relative); a wrong series term is O(1)
    def d2(h):
        return (smooth_model.jacobian(x + h * v) - smooth_model.jacobian(x - h * v)) @ v / (2 * h)

    def d3(h):
        return (smooth_model.jacobian(x + h * v) - 2 * J
                + smooth_model.jacobian(x - h * v)) @ v / h**2

    Q, eQ = ridders(d2, 0.01)
    K, eK = ridders(d3, 0.01)
    assert _rel(2 * s[:, 2], Q) < 1e-7
    assert _rel(6 * s[:, 3], K) < 1e-6


def test_ode_problem_forms_are_exact_and_multilinear(smooth_model):
    d = smooth_model.definition
    rng = np.random.default_rng(3)
    x = random_state(d, rng, empty_frac=0.2, tiny=1e-3)
    pr = smooth_model.ode_problem("p_EI", x0=x)
    assert pr.derivatives == "exact"
    u, v, w = (rng.standard_normal(x.size) * (0.01 * np.abs(x) + 1e-3) for _ in range(3))
    p = pr.p0
    B = pr.d2f(x, p, u, v)
    assert _rel(pr.d2f(x, p, v, u), B) < 1e-10
    assert _rel(pr.d2f(x, p, 2 * u, v), 2 * B) < 1e-10
    # B(u, v) = d/dh J(x + h u) v, by Ridders on the analytic Jacobian
    Bfd, _ = ridders(lambda h: (pr.dfdx(x + h * u, p) - pr.dfdx(x - h * u, p)) @ v / (2 * h),
                     0.01)
    assert _rel(B, Bfd) < 1e-7
    C = pr.d3f(x, p, u, v, w)
    for perm in ((v, w, u), (w, u, v), (u, w, v)):
        assert _rel(pr.d3f(x, p, *perm), C) < 1e-8
    Cuuw = pr.d3f(x, p, u, u, w)  # the two-equal-arguments route
    Cfd, _ = ridders(lambda h: (pr.dfdx(x + h * u, p) - 2 * pr.dfdx(x, p)
                                + pr.dfdx(x - h * u, p)) @ w / h**2, 0.01)
    assert _rel(Cuuw, Cfd) < 1e-6
    assert _rel(pr.d3f(x, p, u, w, u), Cuuw) < 1e-10


def test_closure_without_taylor_assembly_keeps_finite_differences():
    m = MarkovModelDef(closure="conditional").compile()
    pr = m.ode_problem("p_EI")
    assert pr.derivatives == "finite-difference" and pr.d2f is None
    with pytest.raises(ValueError, match="closure = 'conditional' has no Taylor assembly"):
        m.taylor_series(m.definition.initial_state(), np.ones((1, m.n_state)))
    assert m.ode_problem("p_EI", exact_higher=False).derivatives == "finite-difference"


@pytest.mark.slow
def test_series_reference_rule(reference_model):
    # the reference rule's pieces are piecewise (sympy Piecewise): away from the kinks the
    # series is exact as well.  With delta = 0 the bin mean A/n of a bin holding 1e-10
    # neurons varies on the scale 1e-10, beyond any difference quotient: every bin gets
    # at least one neuron here
    d = reference_model.definition
    rng = np.random.default_rng(5)
    x = random_state(d, rng, empty_frac=0.0, margin=0.1)
    for pop in ("E", "I"):
        n, A = x[d.slice("n", pop)], x[d.slice("A", pop)]
        n_new = 0.5 * n + 0.5
        x[d.slice("A", pop)] = A / n * n_new
        x[d.slice("n", pop)] = n_new
    v = rng.standard_normal(x.size) * (0.01 * np.abs(x) + 1e-3)
    s = reference_model.taylor_series(x, v[None, :])[0]
    assert _rel(s[:, 0], reference_model.rhs(x)) < 1e-12
    assert _rel(s[:, 1], reference_model.jacobian(x) @ v) < 1e-10
    # a plain central difference of the Jacobian with a small step (Ridders from 0.01 would
    # straddle the rule's kinks: off by 5 % on this state)
    h = 1e-5
    Q = (reference_model.jacobian(x + h * v) - reference_model.jacobian(x - h * v)) @ v / (2 * h)
    assert _rel(2 * s[:, 2], Q) < 1e-7
