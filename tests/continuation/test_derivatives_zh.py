"""Exact / Ridders derivatives, normal-form coefficients, zero-Hopf detection (issue 9)."""

import numpy as np
import pytest
import sympy as sp

from bifsnn.continuation import (
    ContinuationOptions,
    ODEProblem,
    continue_equilibria,
    continue_fold,
    continue_hopf,
)
from bifsnn.continuation.derivatives import ridders
from bifsnn.continuation.normal_forms import (
    bogdanov_takens_coefficients,
    critical_eigenvectors,
    cusp_coefficient,
)


def wilson_cowan(gain: float, exact: str = "sympy") -> ODEProblem:
    """Wilson-Cowan pair with logistic sigmoids of gain ``gain`` (steep for 10-15)."""
    E, I, P, g = sp.symbols("E I P g")

    def S(u):
        return 1 / (1 + sp.exp(-u))

    f = [-E + S(g * (E - I + P - 0.3)), (-I + S(g * (E - 0.2 * I - 0.45))) / 2]
    pr = ODEProblem.from_sympy(f, [E, I], [P, g], [0.0, 0.0], [-1.0, gain], param="P")
    from scipy.optimize import fsolve

    pr.x0 = fsolve(lambda x: pr.f(x, pr.p0), [0.0, 0.0], xtol=1e-14)
    if exact == "sympy":
        return pr
    if exact == "jacobian":
        return ODEProblem(pr.f, pr.x0, pr.p0, param="P", dfdx=pr.dfdx, param_names=("P", "g"))
    return ODEProblem(pr.f, pr.x0, pr.p0, param="P", param_names=("P", "g"))


def lorenz84(p0=(0.0, 0.25, 0.25, 4.0), x0=(0.0, 0.0, 0.0)) -> ODEProblem:
    x, y, z = sp.symbols("x y z")
    F, G, a, b = sp.symbols("F G a b")
    f = [-y**2 - z**2 - a * x + a * F, x * y - b * x * z - y + G, b * x * y + x * z - z]
    return ODEProblem.from_sympy(f, [x, y, z], [F, G, a, b], x0, p0, param="F")


def test_ridders_second_derivative_of_steep_function():
    # d^2/dx^2 tanh(15 x) at 0.05: exact -2 * 225 tanh sech^2; Ridders to 1e-9 relative
    x0, k = 0.05, 15.0
    exact = -2 * k**2 * np.tanh(k * x0) / np.cosh(k * x0) ** 2

    def D(h):
        f = lambda t: np.tanh(k * t)  # noqa: E731
        return np.array([(f(x0 + h) - 2 * f(x0) + f(x0 - h)) / h**2])

    val, err = ridders(D, 0.1)
    assert abs(val[0] - exact) < 1e-9 * abs(exact)
    assert err < 1e-7 * abs(exact)


def test_from_sympy_derivatives_are_exact():
    pr = lorenz84(p0=(1.3, 0.7, 0.25, 4.0))
    rng = np.random.default_rng(1)
    x, u, v, w = (rng.standard_normal(3) for _ in range(4))
    # f is quadratic: d2f is constant and symmetric, d3f vanishes
    d2 = pr.d2f(x, pr.p0, u, v)
    np.testing.assert_allclose(d2, pr.d2f(x + 1.0, pr.p0, v, u), rtol=0, atol=1e-14)
    np.testing.assert_allclose(pr.f(x + u, pr.p0) - pr.f(x, pr.p0) - pr.dfdx(x, pr.p0) @ u,
                               0.5 * pr.d2f(x, pr.p0, u, u), atol=1e-13)
    assert np.all(pr.d3f(x, pr.p0, u, v, w) == 0)
    assert pr.derivatives == "exact"
    assert ODEProblem(pr.f, pr.x0, pr.p0).derivatives == "finite-difference"


def test_from_sympy_rejects_unknown_symbols():
    x, y, k = sp.symbols("x y k")
    with pytest.raises(ValueError, match="neither state_syms nor param_syms"):
        ODEProblem.from_sympy([x * k, y], [x, y], [], [0, 0], [])


@pytest.mark.parametrize("gain", [10.0, 15.0])
def test_wilson_cowan_l1_exact_and_finite_differences_agree(gain):
    opts = ContinuationOptions(ds=0.01, ds_max=0.02, p_max=1.5, max_steps=2000)
    vals = {}
    for mode in ("sympy", "jacobian", "f"):
        br = continue_equilibria(wilson_cowan(gain, mode), opts)
        hs = br.points("H")
        assert hs
        vals[mode] = np.array([h.data["l1"] for h in hs])
        want = "exact" if mode == "sympy" else "finite-difference"
        assert all(h.data["derivatives"] == want for h in hs)
    # Ridders on the exact Jacobian: 1e-10 relative; on f alone: 1e-8 relative (measured
    # 1e-12 and 1e-9)
    np.testing.assert_allclose(vals["jacobian"], vals["sympy"], rtol=1e-10)
    np.testing.assert_allclose(vals["f"], vals["sympy"], rtol=1e-8)


def test_bt_normal_form_coefficients():
    # x' = y, y' = b1 + b2 x + a x^2 + b x y at the origin: (a, b) exactly
    a, b = 0.7, -1.3
    x, y, b1, b2 = sp.symbols("x y b1 b2")
    pr = ODEProblem.from_sympy([y, b1 + b2 * x + a * x**2 + b * x * y], [x, y], [b1, b2],
                               [0, 0], [0, 0])
    for prob in (pr, ODEProblem(pr.f, pr.x0, pr.p0)):
        J = prob.jac_x(np.zeros(2), np.zeros(2))
        c = bogdanov_takens_coefficients(None, np.zeros(2), J,
                                         forms=prob.directional(np.zeros(2), np.zeros(2)))
        assert abs(c["a"] - a) < 1e-12 and abs(c["b"] - b) < 1e-9


def test_bt_coefficients_on_fold_curve_are_reported():
    x, y, b1, b2 = sp.symbols("x y b1 b2")
    pr = ODEProblem.from_sympy([y, b1 + b2 * x + x**2 - x * y], [x, y], [b1, b2],
                               [-1.0, 0.0], [0.0, 1.0])
    br = continue_equilibria(pr, ContinuationOptions(ds=0.05, ds_max=0.1, p_min=-2, p_max=2))
    fc = continue_fold(br, br.points("LP")[0], "b2",
                       ContinuationOptions(ds=0.05, ds_max=0.1, direction=-1,
                                           bounds={"b2": (-1.0, 2.0)}, max_steps=200))
    (bt,) = fc.points("BT")
    assert abs(bt.data["a"] - 1.0) < 1e-8 and abs(bt.data["b"] + 1.0) < 1e-8
    assert bt.data["derivatives"] == "exact"


def test_cusp_coefficient():
    # x' = b1 + b2 x + s x^3 (embedded with a stable y' = -y + x^2): c = s
    s = -0.8
    x, y, b1, b2 = sp.symbols("x y b1 b2")
    pr = ODEProblem.from_sympy([b1 + b2 * x + s * x**3, -y + x**2], [x, y], [b1, b2],
                               [0, 0], [0, 0])
    J = pr.jac_x(np.zeros(2), pr.p0)
    q, pa = critical_eigenvectors(J, 0.0)
    # centre manifold y = x^2 + ... does not feed back into x': c = s
    for prob in (pr, ODEProblem(pr.f, pr.x0, pr.p0)):
        c = cusp_coefficient(None, np.zeros(2), J, q, pa,
                             forms=prob.directional(np.zeros(2), prob.p0))
        assert abs(c - s) < 1e-8


def test_lorenz84_hopf_curve_reports_zero_hopf_not_bautin():
    pr = lorenz84()
    br = continue_equilibria(pr, ContinuationOptions(ds=0.01, ds_max=0.05, p_max=3,
                                                     max_steps=3000))
    hc = continue_hopf(br, br.points("H")[0], "G",
                       ContinuationOptions(ds=0.01, ds_max=0.05, max_steps=2000, p_min=-1,
                                           p_max=4, bounds={"G": (-1, 3)}))
    assert not hc.points("GH")  # l1 changes sign there through a pole
    (zh,) = hc.points("ZH")
    assert zh.located and zh.data["locator"] == "newton"
    J = pr.jac_x(zh.x, zh.p)
    ev = np.linalg.eigvals(J)
    assert np.min(np.abs(ev)) < 1e-10  # a zero eigenvalue ...
    crit = ev[np.abs(ev.imag) > 1e-3]
    assert np.max(np.abs(crit.real)) < 1e-10  # ... and an imaginary pair
    assert abs(abs(crit[0].imag) - zh.data["omega"]) < 1e-10
    # and the fold curve through it finds the same point
    p0 = zh.p.copy()
    p0[1] -= 0.02
    br2 = continue_equilibria(lorenz84(p0, zh.x), ContinuationOptions(
        direction=-1, ds=0.01, ds_max=0.05, p_min=0, p_max=3, max_steps=3000))
    fc = continue_fold(br2, br2.points("LP")[0], "G", ContinuationOptions(
        ds=0.01, ds_max=0.05, max_steps=300, p_min=-1, p_max=4, bounds={"G": (-1, 3)}))
    (zh2,) = fc.points("ZH")
    np.testing.assert_allclose(zh2.params, zh.params, atol=1e-9)
    for key in ("g200", "g011", "theta"):
        assert abs(zh2.data[key] - zh.data[key]) < 1e-8 * (1 + abs(zh.data[key]))
