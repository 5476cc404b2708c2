"""Transfer kernel F, M1 (docs/MODEL.md section 4) against quadrature and Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from bifsnn.reduction import MarkovModelDef
from bifsnn.reduction.integrate import simulate_ode

CASES = [
    # (a, b, mu, sigma)
    (0.0, 4.0, 0.7, 0.9),
    (10.0, 10.0001, 2.5, 1.3),  # the reference rule's tiny width at an edge
    (-3.0, 1.0, -4.0, 6.0),
    (92.0, 96.0, 3.0, 2.0),
]


def _quad(x, a, b, mu, sig):
    # F(x) = mean over u of Phi((x-u-mu)/sig); M1(x) = mean of (u+mu) Phi(z) - sig phi(z)
    def f(u):
        return stats.norm.cdf((x - u - mu) / sig)

    def m(u):
        z = (x - u - mu) / sig
        return (u + mu) * stats.norm.cdf(z) - sig * stats.norm.pdf(z)

    F = integrate.quad(f, a, b, epsabs=1e-14, epsrel=1e-13)[0] / (b - a)
    M1 = integrate.quad(m, a, b, epsabs=1e-13, epsrel=1e-13)[0] / (b - a)
    return F, M1


@pytest.mark.parametrize("case", CASES)
def test_kernel_vs_quadrature(smooth_model, case):
    a, b, mu, sig = case
    edges = np.linspace(min(a, a + mu) - 5 * sig - 2, max(b, b + mu) + 5 * sig + 2, 23)
    F = np.empty(edges.size)
    M1 = np.empty(edges.size)
    smooth_model.module.edge_kernel(edges, a, b, mu, sig, F, M1)
    for e, x in enumerate(edges):
        Fq, Mq = _quad(x, a, b, mu, sig)
        # quad is accurate to ~1e-13; the closed form loses ~1e-16 / ((b-a)/sig) to
        # cancellation for narrow supports (1e-12 at width 1e-4), hence 1e-10 (abs, M1
        # relative to the voltage scale |x| + 1)
        assert abs(F[e] - Fq) < 1e-10, (x, F[e], Fq)
        assert abs(M1[e] - Mq) < 1e-10 * (abs(x) + 1), (x, M1[e], Mq)


def test_kernel_vs_monte_carlo(smooth_model):
    rng = np.random.default_rng(0)
    a, b, mu, sig = 2.0, 6.0, 1.5, 1.7
    n = 400_000
    v = rng.uniform(a, b, n) + rng.normal(mu, sig, n)
    edges = np.array([0.0, 2.0, 4.0, 6.0, 8.0, 10.0])
    F = np.empty(edges.size)
    M1 = np.empty(edges.size)
    smooth_model.module.edge_kernel(edges, a, b, mu, sig, F, M1)
    for e, x in enumerate(edges):
        below = v < x
        p = below.mean()
        m1 = np.where(below, v, 0.0).mean()
        se_p = math.sqrt(p * (1 - p) / n) + 1e-12
        se_m = np.where(below, v, 0.0).std() / math.sqrt(n) + 1e-12
        # 5 standard errors: a false failure has probability ~1e-6 per comparison
        assert abs(F[e] - p) < 5 * se_p, (x, F[e], p)
        assert abs(M1[e] - m1) < 5 * se_m, (x, M1[e], m1)


def test_kernel_saturation_is_continuous(smooth_model):
    # the loops skip erfc/exp beyond 8.5 standard deviations: the closed form must agree
    # there with the saturated values (0, or 1 and the full mean) to 1e-15
    a, b, mu, sig = 0.0, 4.0, 0.5, 1.0
    x_hi = b + mu + 8.49 * sig
    x_lo = a + mu - 8.49 * sig
    edges = np.array([x_lo, x_hi])
    F = np.empty(2)
    M1 = np.empty(2)
    smooth_model.module.edge_kernel(edges, a, b, mu, sig, F, M1)
    assert abs(F[0]) < 1e-15 and abs(M1[0]) < 1e-15
    assert abs(F[1] - 1) < 1e-15 and abs(M1[1] - (0.5 * (a + b) + mu)) < 1e-13


def test_kernel_gradient(smooth_model):
    # generated derivatives of F, M1 in (a, b, mu, sig) vs central differences
    edges = np.linspace(-6, 14, 11)
    theta = np.array([1.0, 3.5, 0.8, 1.4])
    mod = smooth_model.module
    k = edges.size
    F, M1, dF, dM1 = np.empty(k), np.empty(k), np.empty((k, 4)), np.empty((k, 4))
    mod.edge_kernel_grad(edges, *theta, F, M1, dF, dM1)
    for i in range(4):
        s = 1e-6
        tp, tm = theta.copy(), theta.copy()
        tp[i] += s
        tm[i] -= s
        Fp, Mp, Fm, Mm = np.empty(k), np.empty(k), np.empty(k), np.empty(k)
        mod.edge_kernel(edges, *tp, Fp, Mp)
        mod.edge_kernel(edges, *tm, Fm, Mm)
        # central differences with s = 1e-6: error ~ 1e-10 + 1e-16 * |M1| / s
        np.testing.assert_allclose(dF[:, i], (Fp - Fm) / (2 * s), atol=1e-8)
        np.testing.assert_allclose(dM1[:, i], (Mp - Mm) / (2 * s), atol=1e-7)


# ---------------------------------------------------------------- normal cdf / pdf table
@pytest.mark.parametrize("kind, abs_tol, rel_tol", [("poly", 2.3e-16, 5e-15),
                                                     ("table", 1.2e-16, 2e-13)])
def test_normal_cdf_pdf_matches_exact_values(kind, abs_tol, rel_tol):
    # the kernel's norm_cdf_pdf against 30-digit values on [-9, 9] (Phi for t <= 0, phi
    # everywhere); beyond, 0 or 1 and 0 (Phi(-9) = 1.1e-19).  Measured maxima against the
    # exact values (8000 points): "poly" (default, branch-free) 1.8e-16 absolute, 4.3e-15
    # relative; "table" (piecewise polynomial table) 1.1e-16, 1.0e-13; libm erfc / exp
    # 1.2e-16, 1.1e-14.  Phi near 1/2 is the product phi R of two rounded values in "poly":
    # 2 ulp (2.2e-16) from the rounded exact value, where the table is within 1 ulp.
    import mpmath

    from bifsnn.reduction.codegen import load_generated

    f = load_generated("smooth", kind).norm_cdf_pdf
    ts = np.concatenate([np.linspace(-9.0, 9.0, 1201), np.random.default_rng(1).uniform(-9, 9, 800),
                         [-0.0, 0.0, -9.0 + 1e-12, 9.0 - 1e-12, 9.0]])
    with mpmath.workdps(30):
        for t in ts:
            P, p = f(float(t))
            Pe, pe = float(mpmath.ncdf(t)), float(mpmath.npdf(t))
            assert abs(P - Pe) <= abs_tol and abs(p - pe) <= abs_tol, (t, P - Pe, p - pe)
            assert abs(p - pe) <= rel_tol * pe, (t, p, pe)
            if t <= 0:
                assert abs(P - Pe) <= rel_tol * Pe, (t, P, Pe)
    for t, want in ((-9.5, (0.0, 0.0)), (9.5, (1.0, 0.0)), (-40.0, (0.0, 0.0)),
                    (np.inf, (1.0, 0.0)), (-np.inf, (0.0, 0.0))):
        assert f(t) == want


def test_normal_table_is_generated_and_keyed():
    # the table and the polynomials come from symbolic.normal_table / normal_poly (the
    # generator), so their text is part of the cache key; every kind gets its own module
    from bifsnn.reduction import codegen, symbolic

    paths = {codegen.generated_path("smooth", kind) for kind in symbolic.NORMAL_KINDS}
    assert len(paths) == len(symbolic.NORMAL_KINDS)
    assert codegen.generated_path("smooth") == codegen.generated_path("smooth", "poly")
    e, r, _, _ = symbolic.normal_poly(**symbolic.NORMAL_POLY_SPEC)
    assert len(e) == symbolic.NORMAL_POLY_SPEC["deg_exp"] + 1
    assert len(r) == symbolic.NORMAL_POLY_SPEC["deg_mills"] + 1
    with pytest.raises(ValueError, match="deg_mills"):
        symbolic.normal_poly(9.0, 4.0, 0, 11)
    spec = symbolic.NORMAL_TABLE_SPEC
    table = symbolic.normal_table(spec["t_max"], spec["width"], spec["degree"])
    assert len(table) == round(spec["t_max"] / spec["width"])
    assert all(len(piece) == spec["degree"] + 1 for piece in table)
    with pytest.raises(ValueError, match="normal"):
        codegen.load_generated("smooth", "fast")
    with pytest.raises(ValueError, match="t_max"):
        symbolic.normal_table(1.0, 0.3, 5)


def _twin(model, normal):
    """A copy of ``model`` whose kernel evaluates the normal cdf / pdf by ``normal``."""
    import copy

    from bifsnn.reduction.codegen import load_generated

    twin = copy.copy(model)
    twin.module = load_generated(model.definition.bin_rule, normal)
    return twin


# slow: compiles the whole libm-kernel twin (48 s cold); the default kernel's cdf/pdf values are
# checked against exact values in the default run (test_normal_cdf_pdf_matches_exact_values)
@pytest.mark.slow
@pytest.mark.parametrize("rule", ["smooth", "reference"])
def test_rhs_and_jacobian_match_libm_kernel(rule):
    # the default kernel reproduces the erfc/exp kernel: f within 2e-13 of max|f| and, for
    # components above 1e-9 max|f|, within 1e-11 relative (the rest: nearly empty bins fed
    # by the kernel's far tails); the Jacobian within 1e-13 of max|J|
    from conftest import random_state

    from bifsnn.reduction import MarkovModelDef
    from bifsnn.reduction.integrate import simulate_ode

    model = MarkovModelDef(bin_rule=rule).compile()
    twin = _twin(model, "libm")
    rng = np.random.default_rng(3)
    traj = simulate_ode(model, t_ms=40.0, record_every_ms=2.0).extra["state"]
    states = list(traj) + [random_state(model.definition, rng) for _ in range(5)]
    for x in states:
        f, g = model.rhs(x), twin.rhs(x)
        scale = np.abs(g).max()
        assert np.abs(f - g).max() <= 2e-13 * scale
        big = np.abs(g) > 1e-9 * scale
        assert (np.abs(f - g)[big] <= 1e-11 * np.abs(g)[big]).all()
        np.testing.assert_allclose(model.firing_rates(x), twin.firing_rates(x), rtol=1e-12)
    for x in states[::4]:
        J, Jr = model.jacobian(x), twin.jacobian(x)
        assert np.abs(J - Jr).max() <= 1e-13 * np.abs(Jr).max()


# slow: compiles the whole table-kernel twin (34 s cold)
@pytest.mark.slow
def test_poly_kernel_reproduces_table_kernel_dynamics(smooth_model):
    # the default branch-free kernel ("poly") changed bits against the former table kernel;
    # the dynamics agree far inside the integration tolerance (rtol 1e-5): over 300 ms of the
    # oscillation (same 1581 steps) every state component within 5e-11 of its largest value
    # (measured), firing rates within 2e-12 of their largest; the equilibrium within 1e-12
    from bifsnn.reduction import find_equilibrium
    from bifsnn.reduction.integrate import simulate_ode

    table = _twin(smooth_model, "table")
    ra = simulate_ode(smooth_model, t_ms=300.0, record_every_ms=0.5)
    rb = simulate_ode(table, t_ms=300.0, record_every_ms=0.5)
    assert ra.options["n_steps"] == rb.options["n_steps"]
    xa, xb = ra.extra["state"], rb.extra["state"]
    assert (np.abs(xa - xb) <= 1e-9 * np.abs(xb).max(axis=0)).all()
    fa = np.array([smooth_model.firing_rates(s) for s in xa])
    fb = np.array([table.firing_rates(s) for s in xb])
    assert np.abs(fa - fb).max() <= 1e-10 * np.abs(fb).max()
    ea, eb = find_equilibrium(smooth_model).x, find_equilibrium(table).x
    assert np.abs(ea - eb).max() <= 1e-10 * np.abs(eb).max()


@pytest.mark.slow
def test_poly_kernel_reproduces_table_kernel_hopf_points():
    # the p_EI branch's Hopf points with the default kernel equal the table kernel's:
    # measured 3.8e-13 (H at 0.95957441090), 6e-15, 2e-14, 2e-14 over p_EI in [0.5, 1]
    from bifsnn import NetworkParams
    from bifsnn.continuation import ContinuationOptions, continue_equilibria
    from bifsnn.reduction import MarkovModelDef, find_equilibrium

    m = MarkovModelDef(NetworkParams().replace(p_EI=1.0), bin_rule="smooth").compile()
    hopf = []
    for model in (m, _twin(m, "table")):
        prob = model.ode_problem("p_EI", x0=find_equilibrium(model).x)
        eq = continue_equilibria(prob, ContinuationOptions(ds=2, ds_max=20, p_min=0.9,
                                                           p_max=1.0, direction=-1))
        hopf.append([(s.param, s.x) for s in eq.special_points if s.type == "H"])
    assert len(hopf[0]) == len(hopf[1]) >= 1
    for (p, x), (q, y) in zip(*hopf, strict=True):
        assert abs(p - q) <= 1e-10 * abs(q)
        assert np.abs(x - y).max() <= 1e-10 * np.abs(y).max()


def _random_source(rng, edges, beyond):
    """(a, b, mu, sig) of a random source: a up to ``beyond`` outside the grid, widths from
    1e-4 to 10, sigma from 1e-2 to 20."""
    a = rng.uniform(edges[0] - beyond, edges[-1] + beyond)
    return a, a + 10 ** rng.uniform(-4, 1), rng.normal(0, 5), 10 ** rng.uniform(-2, 1.3)


def test_windowed_kernel_is_bit_identical(smooth_model):
    # transport evaluates only the edges of edge_window: same bits as every edge, and
    # transport itself equals the sum over all edges with edge_kernel
    mod = smooth_model.module
    edges = smooth_model.edges
    k = edges.size
    rng = np.random.default_rng(7)
    for _ in range(300):
        a, b, mu, sig = _random_source(rng, edges, 10.0)
        lo, hi = mod.edge_window(edges, a, b, mu, sig)
        F, M1 = np.empty(k), np.empty(k)
        Fw, Mw = np.full(k, np.nan), np.full(k, np.nan)
        mod.edge_kernel(edges, a, b, mu, sig, F, M1)
        mod.edge_kernel_window(edges, lo, hi, a, b, mu, sig, Fw, Mw)
        # written: edges 0, 1, K and lo - 1 .. hi + 1 (all that transport reads)
        idx = sorted({0, 1, k - 1} | set(range(max(lo - 1, 0), min(hi + 2, k))))
        assert np.array_equal(F[idx], Fw[idx]) and np.array_equal(M1[idx], Mw[idx]), (
            a, b, mu, sig, lo, hi)
        # outside the window the kernel is saturated: 0 below lo, 1 above hi
        assert (F[:max(lo, 0)] == 0).all() and (F[hi + 1:] == 1).all()



def _plain_transport(model, x):
    """transport as the plain sum over every edge with edge_kernel (no window, no cut)."""
    mod, edges, d = model.module, model.edges, model.definition
    K, e0 = d.K, edges[0]
    F, M1 = np.empty(K + 1), np.empty(K + 1)
    want = np.zeros(4 * K)
    want_fired = np.zeros(2)
    for q in range(2):
        offn, offA = 2 * K * q, 2 * K * q + K
        for j in range(K):
            if x[offn + j] == 0.0:
                continue
            nj, _, _, _, a, b, _, _, dd = mod._source(x, q, j, K, model.pv, edges, model.opt)
            mod.edge_kernel(edges, a, b, dd[0], dd[1], F, M1)
            want[offn] += nj * F[1]
            want[offA] += nj * (M1[1] - M1[0] + e0 * F[0])
            for m in range(1, K):
                want[offn + m] += nj * (F[m + 1] - F[m])
                want[offA + m] += nj * (M1[m + 1] - M1[m])
            want_fired[q] += nj * (1.0 - F[K])
    return want, want_fired


@pytest.mark.parametrize("closure", ["paper-smooth", "paper-reference", "coloured-regime"])
def test_transport_is_the_plain_sum_over_every_edge(closure, smooth_model, reference_model):
    # transport (exact windows, set-up vectorised over bins, flat kernel loop) gives the
    # same bits as the plain sum over every edge: random states (with exactly empty bins),
    # states of the oscillation; the reference rule with delta = 0 (empty bins at the
    # midpoint) and the regime-weighted drift cover the other branches of the set-up
    from conftest import random_state

    if closure == "paper-smooth":
        model = smooth_model
    elif closure == "paper-reference":
        model = reference_model
    else:
        model = MarkovModelDef(closure="coloured-regime", bin_rule="smooth").compile()
    d = model.definition
    rng = np.random.default_rng(11)
    states = [random_state(d, rng) for _ in range(3)]
    states[0][[0, 5, d.K + 3]] = 0.0  # empty bins: skipped as sources
    states[0][[d.K, d.K + 5, 3 * d.K + 3]] = 0.0
    if closure == "paper-smooth":
        r = simulate_ode(model, t_ms=40.0, record_every_ms=2.0)
        states += list(r.extra["state"])
    k = d.K + 1
    for x in states:
        out = np.full(d.n_state, np.nan)
        F, M1 = np.empty(k), np.empty(k)
        fired = model.module.transport(x, model.pv, model.edges, model.opt, out, F, M1)
        want, want_fired = _plain_transport(model, x)
        assert np.array_equal(out[:4 * d.K], want)
        assert np.array_equal(fired, want_fired)


def test_exact_window_is_exactly_the_unsaturated_edges(smooth_model):
    # _exact_window at any cut: lo = the first edge with al >= -cut, hi = the last with
    # be <= cut (al, be as the kernel computes them), from any round-off of its first guess
    mod = smooth_model.module
    edges = smooth_model.edges
    K = edges.size - 1
    rng = np.random.default_rng(3)
    for _ in range(400):
        a, b, mu, sig = _random_source(rng, edges, 30.0)
        cut = rng.choice([5.0, 6.0, 8.5])
        lo, hi = mod._exact_window(edges, a, b, mu, sig, cut)
        isig = 1.0 / sig
        al = (edges - a - mu) * isig
        be = (edges - b - mu) * isig
        inside = np.flatnonzero((al >= -cut) & (be <= cut))
        want_lo = np.flatnonzero(al >= -cut)
        want_hi = np.flatnonzero(be <= cut)
        assert lo == (want_lo[0] if want_lo.size else K + 1)
        assert hi == (want_hi[-1] if want_hi.size else -1)
        assert list(range(lo, hi + 1)) == list(inside)
    assert mod._exact_window(edges, 0.0, 0.1, np.nan, np.nan, 8.5) == (0, K)


def test_states_outside_the_domain_give_nan_not_wild_indices(smooth_model):
    # a NaN kernel argument (e.g. sqrt of a negative variance at a negative count, as a
    # Newton iterate of a cycle continuation can produce) once went through int(NaN) into
    # the edge window and the normal table: heap corruption.  Now: the full window, NaN out.
    mod = smooth_model.module
    edges = smooth_model.edges
    K = edges.size - 1
    assert mod.edge_window(edges, 0.0, 0.1, np.nan, np.nan) == (0, K)
    assert mod.edge_window(edges, np.nan, 0.1, 0.0, 1.0) == (0, K)
    P, p = mod.norm_cdf_pdf(np.nan)
    assert np.isnan(P) and np.isnan(p)
    F, M1 = np.zeros(K + 1), np.zeros(K + 1)
    mod.edge_kernel_window(edges, 0, K, 0.0, 0.1, np.nan, np.nan, F, M1)
    assert np.isnan(F[1:K]).all()
    d = smooth_model.definition
    x = smooth_model.definition.initial_state()
    for bad in (np.nan, -1e4, np.inf):
        y = x.copy()
        y[[3, d.n_state - 3]] = bad  # a bin count and a pathway variance
        assert smooth_model.rhs(y).shape == (d.n_state,)
        assert smooth_model.jacobian(y).shape == (d.n_state, d.n_state)
