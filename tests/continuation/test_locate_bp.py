"""Branch points located by Newton on the minimally augmented BP system (with regula falsi
on the bordered test function as fallback), against exactly known locations."""

import numpy as np
import pytest
import scipy.sparse as sp

import bifsnn.continuation.equilibria as eq
from bifsnn.continuation import (
    ContinuationOptions,
    ODEProblem,
    continue_equilibria,
    switch_branch,
)


def transcritical(dfdx: bool = True) -> ODEProblem:
    return ODEProblem(lambda x, p: np.array([p[0] * x[0] - x[0] ** 2]), [0.0], [-1.0],
                      dfdx=(lambda x, p: np.array([[p[0] - 2 * x[0]]])) if dfdx else None,
                      dfdp=(lambda x, p: np.array([[x[0]]])) if dfdx else None)


def pitchfork(dfdx: bool = True) -> ODEProblem:
    return ODEProblem(lambda x, p: np.array([p[0] * x[0] - x[0] ** 3]), [0.0], [-1.0],
                      dfdx=(lambda x, p: np.array([[p[0] - 3 * x[0] ** 2]])) if dfdx else None,
                      dfdp=(lambda x, p: np.array([[x[0]]])) if dfdx else None)


# 2-D: a transcritical normal form with a nonlinear slave variable, rotated and shifted so
# that neither the branch point nor the branches' tangents are axis-aligned:
#   y1' = (p - P0) y1 - y1^2 + y1 y2,  y2' = -y2 + y1^2,   z = Z0 + R y.
# Branches: y = 0 (all p) and y2 = y1^2, p - P0 = y1 - y1^2 - y1^3 (through y = 0 at p = P0).
P0 = 0.3
Z0 = np.array([1.2, -0.7])
TH = 0.7
R = np.array([[np.cos(TH), -np.sin(TH)], [np.sin(TH), np.cos(TH)]])


def _y(z):
    return R.T @ (z - Z0)


def planar_f(z, p):
    y1, y2 = _y(z)
    return R @ np.array([(p[0] - P0) * y1 - y1 ** 2 + y1 * y2, -y2 + y1 ** 2])


def planar_dfdx(z, p):
    y1, y2 = _y(z)
    gy = np.array([[p[0] - P0 - 2 * y1 + y2, y1], [2 * y1, -1.0]])
    return R @ gy @ R.T


def planar_dfdp(z, p):
    y1, _ = _y(z)
    return (R @ np.array([y1, 0.0]))[:, None]


def planar_problem() -> ODEProblem:
    y1 = -0.5  # start on the nontrivial branch
    z = Z0 + R @ np.array([y1, y1 ** 2])
    return ODEProblem(planar_f, z, [P0 + y1 - y1 ** 2 - y1 ** 3], dfdx=planar_dfdx,
                      dfdp=planar_dfdp)


# >= 50-D: u' = D Lap_N u + p (u - c) + a (u - c)^2 - (u - c)^3 on N cells of [0, pi] with
# Neumann conditions.  The homogeneous state u = c exists for all p; cosine mode k
# (eigenvalue -q_k of the discrete Laplacian, q_k = (4 / h^2) sin^2(k pi / (2 N))) becomes
# unstable at p_k = D q_k: a pitchfork that breaks the reflection symmetry for odd k.
def reaction_diffusion(N: int = 60, D: float = 0.25, c: float = 0.4, a: float = 0.5):
    h = np.pi / N
    main = -2.0 * np.ones(N)
    main[0] = main[-1] = -1.0
    lap = sp.diags([main, np.ones(N - 1), np.ones(N - 1)], [0, 1, -1], format="csc") / h**2

    def f(u, p):
        w = u - c
        return D * (lap @ u) + p[0] * w + a * w**2 - w**3

    def dfdx(u, p):
        w = u - c
        return (D * lap + sp.diags(p[0] + 2 * a * w - 3 * w**2)).tocsc()

    def dfdp(u, p):
        return (u - c)[:, None]

    pr = ODEProblem(f, np.full(N, c), [0.1], dfdx=dfdx, dfdp=dfdp, name=f"rd-{N}")
    k = np.arange(1, N)
    p_exact = D * 4 / h**2 * np.sin(k * np.pi / (2 * N)) ** 2
    return pr, p_exact


def _run_both(pr, opts, monkeypatch):
    out = {}
    for locators in (("newton", "regula_falsi"), ("regula_falsi",)):
        monkeypatch.setattr(eq, "BP_LOCATORS", locators)
        out[locators[0]] = continue_equilibria(pr, opts)
    return out["newton"], out["regula_falsi"]


@pytest.mark.parametrize("analytic", [True, False])
def test_transcritical_bp_newton(analytic, monkeypatch):
    opts = ContinuationOptions(ds=0.05, ds_max=0.2, p_min=-1.5, p_max=1)
    new, old = _run_both(transcritical(analytic), opts, monkeypatch)
    (bp,) = new.points("BP")
    (bp_old,) = old.points("BP")
    assert bp.located and bp.data["locator"] == "newton"
    assert bp.data["residual"] < 1e-10 and abs(bp.data["beta"]) < 1e-10
    # BP at (0, 0): exact up to rounding (the transcritical test function is linear along
    # the branch x = 0, even with the FD Jacobian, whose error vanishes at x = 0): 1e-14
    assert abs(bp.param) < 1e-14 and abs(bp.x[0]) < 1e-14
    # regula falsi stops when its bracket is below locate_tol = 1e-9: measured 7.2e-10
    assert bp_old.data["locator"] == "regula_falsi"
    assert abs(bp.param) <= abs(bp_old.param)


def test_transcritical_bp_on_the_nontrivial_branch():
    # continuing along x = p: the BP is met on the oblique branch
    pr = ODEProblem(lambda x, p: np.array([p[0] * x[0] - x[0] ** 2]), [-1.0], [-1.0])
    br = continue_equilibria(pr, ContinuationOptions(ds=0.05, ds_max=0.2, p_max=1))
    (bp,) = br.points("BP")
    assert bp.data["locator"] == "newton"
    assert abs(bp.param) < 1e-12 and abs(bp.x[0]) < 1e-12  # exact (0, 0), rounding: 1e-12
    # the stored tangent is the continued branch's (x = p): (1, 1)/sqrt(2) to 1e-8
    t = bp.data["tangent"] * np.sign(bp.data["tangent"][1])
    np.testing.assert_allclose(t, [2 ** -0.5, 2 ** -0.5], atol=1e-8)


@pytest.mark.parametrize("analytic", [True, False])
def test_pitchfork_bp_newton(analytic):
    br = continue_equilibria(pitchfork(analytic),
                             ContinuationOptions(ds=0.05, ds_max=0.2, p_max=1))
    (bp,) = br.points("BP")
    assert bp.located and bp.data["locator"] == "newton" and bp.data["residual"] < 1e-10
    assert bp.x[0] == 0.0  # the branch x = 0 is exact
    # analytic Jacobian: exact up to rounding (1e-14).  Finite-difference Jacobian: its
    # central-difference error is -h^2 = -(eps^(1/3))^2 = -3.7e-11 in f_x, so the
    # computed BP sits at p = 3.7e-11 (the FD floor): 1e-10
    assert abs(bp.param) < (1e-14 if analytic else 1e-10)


def test_planar_bp_rotated(monkeypatch):
    """2-D, BP on a curved branch at a generic point (Z0, P0), tangents not axis-aligned;
    with a loose locate_tol the regula falsi error follows the tolerance, Newton's does not."""
    opts = ContinuationOptions(ds=0.05, ds_max=0.1, p_max=P0 + 0.15, locate_tol=1e-6)
    new, old = _run_both(planar_problem(), opts, monkeypatch)
    (bp,) = new.points("BP")
    (bp_old,) = old.points("BP")
    assert bp.data["locator"] == "newton" and bp.data["residual"] < 1e-10
    err = max(abs(bp.param - P0), float(np.max(np.abs(bp.x - Z0))))
    err_old = max(abs(bp_old.param - P0), float(np.max(np.abs(bp_old.x - Z0))))
    assert err < 1e-12          # measured 5.6e-17 (2 Newton iterations)
    assert err_old > 10 * err   # regula falsi to locate_tol = 1e-6: measured 1.1e-7
    # switching at the Newton-located BP lands on the other branch y = 0, i.e. z = Z0
    monkeypatch.setattr(eq, "BP_LOCATORS", ("newton", "regula_falsi"))
    nb = switch_branch(new, bp, opts.with_(max_steps=20, p_min=P0 - 0.3))
    assert nb.success
    assert np.max(np.abs(nb.x - Z0)) < 1e-9  # Newton tolerance on the new branch: 1e-9


def test_reaction_diffusion_symmetry_breaking_pitchforks():
    """60 unknowns (sparse): the homogeneous state's BPs at p_k = D q_k, located to 1e-12
    (measured <= 1.7e-14), and the branch from the first one breaks the reflection symmetry."""
    pr, p_exact = reaction_diffusion(60)
    assert pr.n == 60 and pr.sparse
    opts = ContinuationOptions(ds=0.05, ds_max=0.2, p_max=2.5)
    br = continue_equilibria(pr, opts)
    assert br.success
    bps = br.points("BP")
    expected = p_exact[p_exact < 2.5]
    assert len(bps) == len(expected) == 3
    assert all(bp.data["locator"] == "newton" and bp.data["residual"] < 1e-10 for bp in bps)
    np.testing.assert_allclose([bp.param for bp in bps], expected, rtol=0, atol=1e-12)
    for bp in bps:
        assert np.max(np.abs(bp.x - 0.4)) < 1e-12  # on the homogeneous state u = c
    nb = switch_branch(br, bps[0], opts.with_(max_steps=15, p_max=0.6))
    assert nb.success or nb.status == "max_steps"
    u = nb.x[-1]
    assert np.max(np.abs(pr.rhs(u, nb.p[-1]))) < 1e-9     # an equilibrium (Newton tol)
    assert np.max(np.abs(u - u[::-1])) > 1e-2            # asymmetric: mode k = 1
    assert np.corrcoef(u - u.mean(), np.cos(np.pi * (np.arange(60) + 0.5) / 60))[0, 1] ** 2 > 0.9


def test_fallback_to_regula_falsi_when_newton_fails(monkeypatch):
    def fail(self, *args, **kwargs):
        raise np.linalg.LinAlgError("forced failure")
    monkeypatch.setattr(eq.BranchPointSystem, "locate", fail)
    br = continue_equilibria(pitchfork(True), ContinuationOptions(ds=0.05, ds_max=0.2, p_max=1))
    (bp,) = br.points("BP")
    assert bp.located and bp.data["locator"] == "regula_falsi"
    assert abs(bp.param) < 1e-8 and np.isfinite(bp.data["residual"])  # old accuracy: 1e-8


def test_unknown_locator_is_an_error(monkeypatch):
    monkeypatch.setattr(eq, "BP_LOCATORS", ("bisection",))
    with pytest.raises(ValueError, match="bisection"):
        continue_equilibria(pitchfork(True), ContinuationOptions(ds=0.05, ds_max=0.2, p_max=1))


@pytest.mark.parametrize("locators, expected", [(None, "newton"),
                                                (("regula_falsi",), "regula_falsi"),
                                                (("regula_falsi", "newton"), "regula_falsi")])
def test_locator_order_is_an_option(locators, expected):
    """ContinuationOptions.locators picks the BP locator (first that succeeds is recorded)."""
    pr = ODEProblem(lambda x, p: np.array([p[0] * x[0] - x[0] ** 2]), [0.0], [-1.0])
    br = continue_equilibria(pr, ContinuationOptions(ds=0.05, ds_max=0.2, p_max=1,
                                                     locators=locators))
    (bp,) = br.points("BP")
    assert bp.data["locator"] == expected and abs(bp.param) < 1e-8


def test_bad_locators_rejected():
    with pytest.raises(ValueError, match="locators"):
        ContinuationOptions(locators=("bisection",))
    with pytest.raises(ValueError, match="locators"):
        ContinuationOptions(locators=())
