"""Transfer kernel F, M1 (docs/MODEL.md section 4) against quadrature and Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

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
