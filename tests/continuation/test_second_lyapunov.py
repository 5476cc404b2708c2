"""Second Lyapunov coefficient l2 at Bautin (GH) points against analytic answers, and the
normal-form coefficients on SpecialPoint (saved and loaded with the branch)."""

from dataclasses import replace

import numpy as np
import pytest
import sympy as sp

from bifsnn.continuation import (
    ContinuationOptions,
    ODEProblem,
    continue_equilibria,
    continue_hopf,
    load_branch,
    save_branch,
)
from bifsnn.continuation.normal_forms import critical_eigenvectors, second_lyapunov

X = sp.symbols("x1 x2 x3")
B1, B2, KAP, S = sp.symbols("b1 b2 kappa s")


def bautin_3d(a: float = 0.7, d: float = 0.9) -> list:
    """The Bautin normal form w' = (b1 + i) w + (b2 + i kappa) w |w|^2 + s w |w|^4 (w = y1 +
    i y2) with a decoupled stable direction y3' = -y3 + y1^2 + y1 y2, written in x = phi(y),
    phi(y) = (y1, y2 + a y1^2, y3 + d y1^2): a near-identity change of coordinates, which
    leaves l1 = 2 b2 and, where it vanishes, l2 = 4 s unchanged, but gives the formula
    quadratic terms and a third dimension to work through."""
    x1, x2, x3 = X
    y1, y2, y3 = x1, x2 - a * x1**2, x3 - d * x1**2
    r2 = y1**2 + y2**2
    g1 = B1 * y1 - y2 + (B2 * y1 - KAP * y2) * r2 + S * y1 * r2**2
    g2 = y1 + B1 * y2 + (B2 * y2 + KAP * y1) * r2 + S * y2 * r2**2
    g3 = -y3 + y1**2 + y1 * y2
    return [g1, 2 * a * y1 * g1 + g2, 2 * d * y1 * g1 + g3]


def _l2_at_origin(pr: ODEProblem) -> dict:
    x, p = np.zeros(pr.n), pr.p0
    J = pr.jac_x(x, p)
    q, pa = critical_eigenvectors(J, 1j)
    return second_lyapunov(x, J, 1.0, q, pa, pr.directional(x, p))


@pytest.mark.parametrize("s", [-0.7, 0.45])
def test_l2_bautin_normal_form_planar(s):
    x1, x2 = X[:2]
    r2 = x1**2 + x2**2
    f = [B1 * x1 - x2 + B2 * x1 * r2 + S * x1 * r2**2,
         x1 + B1 * x2 + B2 * x2 * r2 + S * x2 * r2**2]
    pr = ODEProblem.from_sympy(f, [x1, x2], [B1, B2, S], [0, 0], [0, 0, s])
    r = _l2_at_origin(pr)
    assert abs(r["l2"] - 4 * s) < 1e-13 and r["higher_derivatives"] == "exact"
    assert abs(r["c1"]) < 1e-14


def test_l2_transformed_bautin_3d_exact_and_ridders():
    pr = ODEProblem.from_sympy(bautin_3d(), X, [B1, B2, KAP, S], [0, 0, 0], [0, 0, 0.3, -0.7])
    r = _l2_at_origin(pr)
    assert abs(r["l2"] - 4 * -0.7) < 1e-12           # every digit with d4f, d5f
    assert abs(r["c1"] - 2j * 0.3) < 1e-12            # c1 = 2 i kappa: l1 = 0, omega shift
    # fourth and fifth derivatives by Ridders' differences of the exact d3f
    r2 = _l2_at_origin(replace(pr, d4f=None, d5f=None))
    assert r2["higher_derivatives"] == "ridders-on-exact-d3f"
    assert abs(r2["l2"] - 4 * -0.7) < 1e-9


def test_l2_rayleigh_oscillator():
    # x'' + x = mu x' + a3 x'^3 + a5 x'^5 (Rayleigh type): at mu = a3 = 0 the first nonzero
    # focal value is the average of sin(t) a5 (r sin t)^5 over a turn, r' = (5/16) a5 r^5,
    # i.e. the Bautin normal form with s = 5 a5 / 16 and l2 = 4 s = 5 a5 / 4
    x, y = X[:2]
    mu, a3, a5 = sp.symbols("mu a3 a5")
    pr = ODEProblem.from_sympy([y, -x + mu * y + a3 * y**3 + a5 * y**5], [x, y],
                               [mu, a3, a5], [0, 0], [0, 0, -0.8])
    r = _l2_at_origin(pr)
    assert abs(r["l2"] - 5 * -0.8 / 4) < 1e-13


def test_gh_on_hopf_curve_carries_l2_and_survives_save(tmp_path):
    pr = ODEProblem.from_sympy(bautin_3d(), X, [B1, B2, KAP, S], [0, 0, 0],
                               [-0.2, -0.5, 0.3, -0.7], param="b1")
    opts = ContinuationOptions(ds=0.05, ds_max=0.1, p_min=-0.3, p_max=0.3)
    br = continue_equilibria(pr, opts)
    (h,) = br.points("H")
    assert h.normal_form["l1"] == pytest.approx(-1.0, abs=1e-9)  # l1 = 2 b2
    hc = continue_hopf(br, h, "b2", opts.with_(bounds={"b2": (-1.0, 1.0)}, both_sides=True))
    (gh,) = hc.points("GH")
    assert gh.located and abs(gh.params[1]) < 1e-9       # GH at b2 = 0 (b1 = 0)
    nf = gh.normal_form
    assert abs(nf["l2"] - 4 * -0.7) < 1e-9 and nf["derivatives"] == "exact"
    back = load_branch(save_branch(hc, tmp_path / "hopf.h5"))
    (gh2,) = back.points("GH")
    assert gh2.normal_form["l2"] == nf["l2"] and gh2.normal_form["c2"] == nf["c2"]
