"""Double-Hopf (HH) normal-form coefficients against a model with an analytic answer.

z1' = (mu1 + i) z1 + a z1|z1|^2 + b z1|z2|^2 + be1 y z1 + be3 y conj(z1),
z2' = (mu2 + 1.618 i) z2 + c z2|z1|^2 + d z2|z2|^2 + be2 y z2,
y'  = -lam y + al1 |z1|^2 + al2 |z2|^2 + al3 Re(z1^2),
in coordinates w = Q (x1, y1, x2, y2, y) with a random orthogonal Q.  On the centre manifold
y = (al1|z1|^2 + al2|z2|^2)/lam + al3 z1^2/(lam + 2i)/2 + c.c. + ..., so with <q, q> = 1
(z_j = sqrt(2) w_j): G2100 = 2a + 2 be1 al1/lam + be3 al3/(lam + 2i), G1011 = 2b +
2 be1 al2/lam, G1110 = 2c + 2 be2 al1/lam, G0021 = 2d + 2 be2 al2/lam (exact, all digits).
"""

import numpy as np
import pytest
import sympy as sp

from bifsnn.continuation import ContinuationOptions, ODEProblem, continue_equilibria, continue_hopf
from bifsnn.continuation.normal_forms import double_hopf_coefficients

W1, W2, LAM = 1.0, 1.618, 2.0
A_, B_, C_, D_ = -1 + 0.5j, 0.7 - 0.2j, -0.4 + 0.3j, -0.9 - 0.1j
AL1, AL2, AL3, BE1, BE2, BE3 = 0.6, -0.5, 0.8, 0.9, 0.3, 0.7


def exact() -> dict:
    g2100 = 2 * A_ + 2 * BE1 * AL1 / LAM + BE3 * AL3 / (LAM + 2j * W1)
    g1011 = 2 * B_ + 2 * BE1 * AL2 / LAM
    g1110 = 2 * C_ + 2 * BE2 * AL1 / LAM
    g0021 = 2 * D_ + 2 * BE2 * AL2 / LAM
    p11, p12, p21, p22 = (g.real for g in (g2100, g1011, g1110, g0021))
    return {"p11": p11, "p12": p12, "p21": p21, "p22": p22, "theta": p12 / p22,
            "delta": p21 / p11, "G2100": g2100}


def hh_problem() -> ODEProblem:
    w = sp.symbols("w1:6", real=True)
    m1, m2 = sp.symbols("mu1 mu2", real=True)
    Q, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((5, 5)))
    x1, y1, x2, y2, y = sp.Matrix(Q.T) * sp.Matrix(w)
    z1, z2 = x1 + sp.I * y1, x2 + sp.I * y2
    r1, r2 = x1**2 + y1**2, x2**2 + y2**2
    dz1 = sp.expand((m1 + sp.I * W1) * z1 + A_ * z1 * r1 + B_ * z1 * r2 + BE1 * y * z1
                    + BE3 * y * sp.conjugate(z1))
    dz2 = sp.expand((m2 + sp.I * W2) * z2 + C_ * z2 * r1 + D_ * z2 * r2 + BE2 * y * z2)
    dy = -LAM * y + AL1 * r1 + AL2 * r2 + AL3 * (x1**2 - y1**2)
    F = sp.Matrix(Q) * sp.Matrix([sp.re(dz1), sp.im(dz1), sp.re(dz2), sp.im(dz2), dy])
    return ODEProblem.from_sympy([sp.expand(e) for e in F], list(w), [m1, m2], [0] * 5,
                                 [-0.3, 0.2])


@pytest.fixture(scope="module")
def pr():
    return hh_problem()


def test_double_hopf_coefficients_analytic(pr):
    ex = exact()
    x0, p0 = np.zeros(5), np.zeros(2)
    c = double_hopf_coefficients(None, x0, pr.jac_x(x0, p0), W1, W2,
                                 forms=pr.directional(x0, p0))
    for k in ("p11", "p12", "p21", "p22", "theta", "delta", "G2100"):
        print(f"HH {k}: engine {c[k]!r}, analytic {ex[k]!r}")
        assert abs(c[k] - ex[k]) <= 1e-12 * abs(ex[k]), k
    # finite differences of the exact Jacobian (no d2f/d3f): still >= 8 digits
    fd = ODEProblem(pr.f, pr.x0, pr.p0, dfdx=pr.dfdx)
    c = double_hopf_coefficients(None, x0, fd.jac_x(x0, p0), W1, W2,
                                 forms=fd.directional(x0, p0))
    for k in ("p11", "p12", "p21", "p22", "theta", "delta"):
        assert abs(c[k] - ex[k]) <= 1e-8 * abs(ex[k]), (k, c[k], ex[k])
    with pytest.raises(ValueError, match="omega2"):
        double_hopf_coefficients(None, x0, pr.jac_x(x0, p0), W1, -1.0,
                                 forms=pr.directional(x0, p0))


def test_hh_point_on_a_hopf_curve_carries_the_coefficients(pr):
    br = continue_equilibria(pr, ContinuationOptions(ds=0.05, ds_max=0.1, p_max=0.3))
    hc = continue_hopf(br, br.points("H")[0], "mu2", ContinuationOptions(
        ds=0.05, ds_max=0.1, max_steps=40, direction=-1, bounds={"mu2": (-0.3, 0.3)}))
    (hh,) = hc.points("HH")
    assert hh.located and np.max(np.abs(hh.params)) < 1e-10
    ex = exact()
    for k in ("p11", "p12", "p21", "p22", "theta", "delta"):
        assert abs(hh.data[k] - ex[k]) <= 1e-10 * abs(ex[k]), (k, hh.data[k], ex[k])
    assert hh.data["derivatives"] == "exact"
