"""Codim-2 points (Bogdanov-Takens, cusp, Bautin) located by Newton on the extended
systems [fold or Hopf system; test function] = 0, against normal forms dressed so that
nothing is axis-aligned: the normal-form variables y are rotated and shifted into
z = Z0 + Q (y, w) together with stable slave variables w (w_i' = -(i+1) w_i + y_1^2, which
do not feed back, so the codim-2 point stays at z = Z0), and the parameters enter through
a nonlinear map beta(a) with beta(A) = 0.  The exact location is therefore (Z0, A)."""

import functools

import numpy as np
import pytest

import bifsnn.continuation.codim2 as c2
from bifsnn.continuation import (
    ContinuationOptions,
    ODEProblem,
    continue_equilibria,
    continue_fold,
    continue_hopf,
)

A = np.array([0.3, -0.2])
C1, C2 = 0.5, 0.2


def beta(a):
    d1, d2 = a[0] - A[0], a[1] - A[1]
    return np.array([d1 + C1 * d2**2, d2 + C2 * d1])


def dressed(g, d: int, n_slaves: int = 3, seed: int = 1):
    """f(z, a) = Q [g(y, beta(a)); -(i+1) w_i + y_1^2] at y, w = Q^T (z - Z0)."""
    n = d + n_slaves
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    Z0 = np.linspace(0.5, -0.5, n)
    rates = np.arange(1, n_slaves + 1, dtype=float)

    def f(z, a):
        yw = Q.T @ (z - Z0)
        y, w = yw[:d], yw[d:]
        return Q @ np.r_[g(y, beta(a)), -rates * w + y[0] ** 2]

    def lift(y):
        return Z0 + Q @ np.r_[y, y[0] ** 2 / rates]
    return f, lift, Z0


def cusp_g(y, b):
    return np.array([b[0] + b[1] * y[0] - y[0] ** 3])


def bt_g(y, b):
    return np.array([y[1], b[0] + b[1] * y[0] + y[0] ** 2 - y[0] * y[1]])


def bautin_g(y, b):
    r2 = y[0] ** 2 + y[1] ** 2
    h = b[0] + b[1] * r2 - r2**2
    return np.array([h * y[0] - y[1], y[0] + h * y[1]])


def _a_for(beta_target):
    """Parameters a with beta(a) = beta_target (fixed point: the map is a near-identity)."""
    a = A + beta_target
    for _ in range(100):
        a = a - (beta(a) - beta_target)
    return a


def _run(kind, locators, locate_tol, monkeypatch):
    monkeypatch.setattr(c2, "CODIM2_LOCATORS", locators)
    names = ("a1", "a2")
    if kind == "CP":
        f, lift, Z0 = dressed(cusp_g, 1)
        y0 = -1.5
        a0 = _a_for(np.array([-1.0 * y0 + y0**3, 1.0]))  # beta2 = 1: two folds
        pr = ODEProblem(f, lift(np.array([y0])), a0, param_names=names)
        br = continue_equilibria(pr, ContinuationOptions(ds=0.05, ds_max=0.1, p_min=-3,
                                                         p_max=3))
        curve = continue_fold(br, br.points("LP")[0], "a2", ContinuationOptions(
            ds=0.05, ds_max=0.1, direction=-1, bounds={"a2": (A[1] - 0.5, A[1] + 2)},
            max_steps=200, locate_tol=locate_tol))
    elif kind == "BT":
        f, lift, Z0 = dressed(bt_g, 2)
        a0 = _a_for(np.array([0.0, 1.0]))  # y = (-1, 0) is an equilibrium
        pr = ODEProblem(f, lift(np.array([-1.0, 0.0])), a0, param_names=names)
        br = continue_equilibria(pr, ContinuationOptions(ds=0.05, ds_max=0.1,
                                                         p_min=A[0] - 2, p_max=A[0] + 2))
        curve = continue_fold(br, br.points("LP")[0], "a2", ContinuationOptions(
            ds=0.05, ds_max=0.1, direction=-1, bounds={"a2": (A[1] - 1, A[1] + 2)},
            max_steps=200, locate_tol=locate_tol))
    elif kind == "BT-H":
        f, lift, Z0 = dressed(bt_g, 2)
        a0 = _a_for(np.array([-0.5, -1.0]))
        y1 = (1 - np.sqrt(3)) / 2  # y1^2 - y1 - 0.5 = 0: the branch that meets beta1 = 0
        pr = ODEProblem(f, lift(np.array([y1, 0.0])), a0, param_names=names)
        br = continue_equilibria(pr, ContinuationOptions(ds=0.05, ds_max=0.1,
                                                         p_min=A[0] - 2, p_max=A[0] + 0.2))
        curve = continue_hopf(br, br.points("H")[0], "a2", ContinuationOptions(
            ds=0.05, ds_max=0.1, bounds={"a2": (A[1] - 2, A[1] + 1)}, max_steps=200,
            locate_tol=locate_tol))
    else:  # GH
        f, lift, Z0 = dressed(bautin_g, 2)
        a0 = _a_for(np.array([-0.5, -1.0]))
        pr = ODEProblem(f, lift(np.zeros(2)), a0, param_names=names)
        br = continue_equilibria(pr, ContinuationOptions(ds=0.05, ds_max=0.1,
                                                         p_max=A[0] + 0.5))
        curve = continue_hopf(br, br.points("H")[0], "a2", ContinuationOptions(
            ds=0.05, ds_max=0.2, bounds={"a2": (A[1] - 2, A[1] + 1)}, max_steps=200,
            locate_tol=locate_tol))
    (pt,) = curve.points("BT" if kind == "BT-H" else kind)
    err = max(float(np.max(np.abs(pt.params - A))), float(np.max(np.abs(pt.x - Z0))))
    return pt, err, curve


# Newton error bounds, with the measured values: CP 1.4e-11 (the floor set by the central-
# difference Jacobian, whose error -h^2 = -3.7e-11 enters the fold condition), BT on the
# fold curve 7e-14, BT on the Hopf curve 1.2e-13, GH 4.8e-12 (l1 from FD third
# derivatives, noise ~1e-9 in l1 / |grad l1| ~ 1).
NEWTON_TOL = {"CP": 1e-10, "BT": 1e-12, "BT-H": 1e-12, "GH": 1e-10}


@pytest.mark.parametrize("kind", ["CP", "BT", "BT-H", "GH"])
def test_codim2_newton_location(kind, monkeypatch):
    # locate_tol = 1e-6 on purpose: Newton works to 1e-10 (or the test's noise floor)
    # whatever the tolerance, while regula falsi stops at a bracket of locate_tol
    pt, err, curve = _run(kind, ("newton", "regula_falsi"), 1e-6, monkeypatch)
    assert pt.located and pt.data["locator"] == "newton"
    assert pt.data["iterations"] <= 3  # full FD gradient: measured 2 each
    assert pt.data["residual"] < (1e-8 if kind == "GH" else 1e-10)
    assert err < NEWTON_TOL[kind]
    if kind == "BT-H":
        assert pt.data["omega"] == 0.0
        assert curve.status == "stopped"
    pt_old, err_old, _ = _run(kind, ("regula_falsi",), 1e-6, monkeypatch)
    assert pt_old.data["locator"] == "regula_falsi"
    if kind in ("BT-H", "GH"):
        # measured regula falsi errors at locate_tol = 1e-6: BT-H 1.8e-9, GH 3.4e-7
        assert err_old > 10 * err


@pytest.mark.parametrize("kind", ["CP", "BT", "BT-H", "GH"])
def test_codim2_newton_with_tangent_gradient(kind, monkeypatch):
    """The large-system variant (test gradient only along the curve tangent, 2 evaluations
    instead of 2 (m + 1)) converges to the same points, a little more slowly."""
    monkeypatch.setattr(c2, "locate_codim2",
                        functools.partial(c2.locate_codim2, gradient="tangent"))
    pt, err, _ = _run(kind, ("newton", "regula_falsi"), 1e-6, monkeypatch)
    assert pt.data["locator"] == "newton"
    assert 2 <= pt.data["iterations"] <= 8  # measured 3-4 (full gradient: 2)
    assert err < NEWTON_TOL[kind]           # measured 1.4e-11, 1.2e-13, 7e-14, 3.9e-12


def test_codim2_fallback_to_regula_falsi(monkeypatch):
    def fail(*args, **kwargs):
        raise np.linalg.LinAlgError("forced failure")
    monkeypatch.setattr(c2, "locate_codim2", fail)
    pt, err, _ = _run("GH", ("newton", "regula_falsi"), 1e-9, monkeypatch)
    assert pt.located and pt.data["locator"] == "regula_falsi"
    assert err < 1e-7  # the old accuracy (test_codim2 uses 1e-7 for GH): measured 3.7e-12


def test_locate_codim2_rejects_unknown_test():
    f, lift, Z0 = dressed(cusp_g, 1)
    pr = ODEProblem(f, lift(np.array([-1.0])), A, param_names=("a1", "a2"))
    fs = c2.FoldSystem(pr, [0, 1], pr.x0, pr.p0)
    with pytest.raises(ValueError, match="GH"):
        c2.locate_codim2(fs, fs.u_of(pr.x0, pr.p0), "GH")
    with pytest.raises(ValueError, match="gradient"):
        c2.locate_codim2(fs, fs.u_of(pr.x0, pr.p0), "BT", gradient="exact")
