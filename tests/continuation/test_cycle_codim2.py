"""Two-parameter NS curves, codim-2 points on LPC/PD/NS curves, and torus curves from ZH/HH
points (issue 9).

Known answers come from :func:`cont_models.cycle_product`, whose cycles and Floquet
multipliers are known in closed form (rho solves g(rho) = mu + b rho + e rho^2 - rho^3 = 0):
NS where nu = c rho with angle theta = 2 pi (W + d rho), PD where alpha = -gamma sqrt(rho),
LPC where g'(rho) = 0, CPC where also g'' = 0.  The ZH/HH switches are checked against
independent one-parameter continuations (the NS point of a cycle branch located on its
multipliers) at points of the computed curve.
"""

import math

import numpy as np
import pytest
import sympy as sp
from cont_models import cycle_product, cycle_product_rho, cycle_product_start

from bifsnn.continuation import (
    ContinuationOptions,
    ODEProblem,
    continue_equilibria,
    continue_hopf,
    continue_ns,
)
from bifsnn.continuation.periodic import (
    CYCLE_DEFAULTS,
    Collocation,
    FloquetResult,
    continue_cycles_from_orbit,
    continue_lpc,
    continue_ns_from_hh,
    continue_ns_from_zh,
    continue_pd,
)
from bifsnn.continuation.periodic.cycle_points import confirm_codim2

W, D, C = 0.12, 0.3, 0.5
RHO_F = 1 / math.sqrt(3)  # fold of cycles of g = mu + rho - rho^3
MU_F = RHO_F**3 - RHO_F


def po_opts(**kw) -> ContinuationOptions:
    """Cycle continuation options: the cycle defaults with some fields changed."""
    return ContinuationOptions(**{**CYCLE_DEFAULTS, **kw})


def curve_opts(**kw) -> ContinuationOptions:
    """Two-parameter curve options (ds 0.05, ds_max 0.2) with some fields changed."""
    return ContinuationOptions(**{"ds": 0.05, "ds_max": 0.2, "max_steps": 60, **kw})


def labels(br) -> list[str]:
    """The special-point labels of a branch, in order."""
    return [s.type for s in br.special_points]


@pytest.fixture(scope="module")
def ns_branch():
    """Cycles of the NS product (n = 4) in nu at mu = 0 (rho = 1): NS at nu = c = 0.5."""
    pr = cycle_product(("ns",), param="nu", mu=0.0, nu=0.3, d=D)
    sol = cycle_product_start(pr, 1.0)
    br = continue_cycles_from_orbit(pr, sol, po_opts(ds=0.05, max_steps=40, p_min=0.3,
                                                     p_max=0.8), Collocation(ntst=20))
    (ns,) = br.points("NS")
    assert ns.located and abs(ns.param - C) < 1e-8
    return br


def _rho_nodes(br) -> np.ndarray:
    nodes = br.extra["nodes"]
    return np.max(nodes[:, :, 0] ** 2 + nodes[:, :, 1] ** 2, axis=1)


def test_ns_curve_known_answer_with_resonances_and_fold_ns(ns_branch):
    br = ns_branch
    ns = br.points("NS")[0]
    # towards smaller mu: R3 (rho = 0.7111, outer cycles), the fold of cycles LPNS
    # (rho = 1/sqrt 3) and R4 (rho = 0.4333, inner cycles), then the bound nu = 0.1
    cur = continue_ns(br, ns, "mu", curve_opts(direction=-1, p_min=0.1, p_max=1.5,
                                                bounds={"mu": (-1.0, 3.0)}))
    assert cur.kind == "NS" and cur.success, cur.message
    assert labels(cur) == ["EP", "R3", "LPNS", "R4", "EP"], cur.special_points
    nu, mu = cur.params.T
    rho = _rho_nodes(cur)
    # every point on the exact curve nu = c rho, theta = 2 pi (W + d rho), g(rho) = 0
    assert np.abs(nu - C * rho).max() < 1e-8
    assert np.abs(cur.extra["theta"] - 2 * np.pi * (W + D * rho)).max() < 1e-8
    assert np.abs(mu + rho - rho**3).max() < 1e-8
    exact = {"R3": (1 / 3 - W) / D, "R4": (1 / 4 - W) / D, "LPNS": RHO_F}
    for s in cur.special_points[1:-1]:
        r = exact[s.type]
        assert s.located, s
        np.testing.assert_allclose(s.params, [C * r, r**3 - r], atol=1e-8)
    assert abs(cur.points("R3")[0].data["theta"] - 2 * np.pi / 3) < 1e-9
    assert abs(cur.points("R4")[0].data["theta"] - np.pi / 2) < 1e-9
    # the other way: R2 (rho = 1.2667) ends the curve
    up = continue_ns(br, ns, "mu", curve_opts(direction=1, p_min=0.1, p_max=1.5,
                                              bounds={"mu": (-1.0, 3.0)}))
    assert labels(up) == ["EP", "R2", "EP"] and up.status == "stopped", up.message
    r = (0.5 - W) / D
    np.testing.assert_allclose(up.points("R2")[0].params, [C * r, r**3 - r], atol=1e-8)


def test_resonances_with_a_jordan_block_on_ns_and_pd_curves():
    # part "r2": multipliers -exp(2 pi (alpha +- sqrt(kappa^2 rho - c0^2))) (rho = 1): for
    # kappa < c0 a complex pair with NS at alpha = 0, theta = pi - 2 pi sqrt(c0^2 - kappa^2);
    # R4, R3 at sqrt(c0^2 - kappa^2) = 1/4, 1/6 and the generic 1:2 resonance (a Jordan
    # block -1) at kappa = c0, alpha = 0, where the NS curve ends and the PD curve
    # alpha = -sqrt(kappa^2 - c0^2) turns back
    pr = cycle_product(("r2",), param="alpha", mu=0.0, alpha=-0.2, kappa=0.1, c0=0.3)
    br = continue_cycles_from_orbit(pr, cycle_product_start(pr, 1.0), po_opts(
        ds=0.05, max_steps=40, p_min=-0.2, p_max=0.1), Collocation(ntst=20))
    (ns,) = br.points("NS")
    cur = continue_ns(br, ns, "kappa", curve_opts(ds_max=0.1, max_steps=40, p_min=-0.6,
                                                  p_max=0.6, bounds={"kappa": (0.0, 1.0)}))
    assert labels(cur) == ["EP", "R4", "R3", "R2", "EP"], cur.special_points
    assert cur.status == "stopped" and "R2" in cur.message
    kap = {"R4": math.sqrt(0.09 - 1 / 16), "R3": math.sqrt(0.09 - 1 / 36), "R2": 0.3}
    for s in cur.special_points[1:-1]:
        assert s.located and s.data["locator"] == "newton", s
        np.testing.assert_allclose(s.params, [0.0, kap[s.type]], atol=1e-8)
    assert np.abs(cur.params[:, 0]).max() < 1e-8  # the NS curve alpha = 0
    th = np.pi - 2 * np.pi * np.sqrt(np.maximum(0.09 - cur.params[:, 1] ** 2, 0.0))
    assert np.abs(cur.extra["theta"] - th).max() < 1e-7
    # the PD curve of the same block (c0 = 0.2, from kappa = 0.5) meets it at R2
    pr = cycle_product(("r2",), param="alpha", mu=0.0, alpha=-0.5, kappa=0.5, c0=0.2)
    br = continue_cycles_from_orbit(pr, cycle_product_start(pr, 1.0), po_opts(
        ds=0.05, max_steps=40, p_min=-0.5, p_max=0.1), Collocation(ntst=20))
    (pd,) = br.points("PD")
    cur = continue_pd(br, pd, "kappa", curve_opts(ds_max=0.1, max_steps=9, direction=-1,
                                                  p_min=-0.6, p_max=0.6,
                                                  bounds={"kappa": (0.0, 1.0)}))
    assert labels(cur) == ["EP", "R2", "EP"], cur.special_points
    r2 = cur.points("R2")[0]
    assert r2.located and r2.data["locator"] == "regula_falsi"
    np.testing.assert_allclose(r2.params, [0.0, 0.2], atol=1e-8)
    alpha, kappa = cur.params.T
    assert np.abs(alpha**2 - (kappa**2 - 0.04)).max() < 1e-8
    assert alpha[-1] > 0  # past R2, on the other branch of the PD curve


def test_lpc_curve_cusp_of_cycles():
    # planar: g = mu + b rho + 1.5 rho^2 - rho^3 has a cusp of cycles at g' = g'' = 0:
    # rho = 0.5, b = -0.75, mu = 0.125; the LPC curve from b = -0.48 passes it and turns
    # back along the other fold branch, whose cycles shrink to zero amplitude at the Bautin
    # point mu = b = 0, where the curve ends (past it, it would retrace itself with the
    # cycles shifted by half a period).  No PD/NS-type label on a planar system.
    pr = cycle_product((), mu=0.0, b=-0.48, e=1.5)
    sol = cycle_product_start(pr, cycle_product_rho(0.0, -0.48, 1.5))
    br = continue_cycles_from_orbit(pr, sol, po_opts(ds=0.05, max_steps=60, p_min=-0.2,
                                                     p_max=0.2, direction=-1),
                                    Collocation(ntst=20))
    lpc = br.points("LPC")[0]
    assert abs(lpc.param + 0.064) < 1e-8  # rho = 0.8
    cur = continue_lpc(br, lpc, "b", curve_opts(ds_max=0.1, direction=-1,
                                                bounds={"b": (-1.0, 0.5)}))
    assert cur.status == "stopped" and "zero amplitude" in cur.message, cur.message
    assert labels(cur) == ["EP", "CPC", "EP"], cur.special_points
    assert np.abs(cur.params[-1]).max() < 1e-2  # near the Bautin point (0, 0)
    cpc = cur.points("CPC")[0]
    assert cpc.located and cpc.data["tangent_ratio"] < 1e-8
    np.testing.assert_allclose(cpc.params, [0.125, -0.75], atol=1e-8)
    # both fold branches: g' = b + 3 rho - 3 rho^2 = 0 along the whole curve
    rho = _rho_nodes(cur)
    assert np.abs(cur.params[:, 1] + 3 * rho - 3 * rho**2).max() < 1e-8
    assert rho.min() < 0.45 and rho.max() > 0.75


@pytest.fixture(scope="module")
def pd_branch():
    """Cycles of the (ns, pd) product (n = 6) in mu at nu = 0.2, alpha = -0.35 from rho = 1:
    PD at rho = (0.35/0.4)^2 (outer cycles), then the fold of cycles at rho = 1/sqrt 3."""
    pr = cycle_product(("ns", "pd"), mu=0.0, nu=0.2, alpha=-0.35)
    sol = cycle_product_start(pr, 1.0)
    br = continue_cycles_from_orbit(pr, sol, po_opts(ds=0.05, max_steps=60, p_min=-0.5,
                                                     p_max=0.2, direction=-1),
                                    Collocation(ntst=20))
    rp = (0.35 / 0.4) ** 2
    assert abs(br.points("PD")[0].param - (rp**3 - rp)) < 1e-8
    assert abs(br.points("LPC")[0].param - MU_F) < 1e-8
    return br


def test_lpc_curves_fold_ns_and_fold_flip(pd_branch):
    br = pd_branch
    lpc = br.points("LPC")[0]
    cur = continue_lpc(br, lpc, "nu", curve_opts(ds_max=0.1, max_steps=30,
                                                 bounds={"nu": (0.0, 0.5)}))
    assert labels(cur) == ["EP", "LPNS", "EP"], cur.special_points
    np.testing.assert_allclose(cur.points("LPNS")[0].params, [MU_F, C * RHO_F], atol=1e-8)
    cur = continue_lpc(br, lpc, "alpha", curve_opts(ds_max=0.1, max_steps=30,
                                                    bounds={"alpha": (-0.5, -0.1)}))
    assert labels(cur) == ["EP", "LPPD", "EP"], cur.special_points
    s = cur.points("LPPD")[0]
    assert s.located
    np.testing.assert_allclose(s.params, [MU_F, -0.4 * math.sqrt(RHO_F)], atol=1e-8)


def test_pd_curves_flip_ns_and_fold_flip(pd_branch):
    br = pd_branch
    pd = br.points("PD")[0]
    rp = (0.35 / 0.4) ** 2
    cur = continue_pd(br, pd, "nu", curve_opts(ds_max=0.1, max_steps=30,
                                               bounds={"nu": (0.0, 0.5)}))
    assert labels(cur) == ["EP", "PDNS", "EP"], cur.special_points
    np.testing.assert_allclose(cur.points("PDNS")[0].params, [rp**3 - rp, C * rp], atol=1e-8)
    # in (mu, alpha) the PD curve alpha = -gamma sqrt(rho) passes the fold (LPPD) and, on
    # the inner cycles, the NS of z2 at rho = nu / c = 0.4 (PDNS)
    cur = continue_pd(br, pd, "alpha", curve_opts(ds_max=0.1, max_steps=30,
                                                  bounds={"alpha": (-0.5, -0.1)}))
    assert labels(cur) == ["EP", "LPPD", "PDNS", "EP"], cur.special_points
    assert all(s.located for s in cur.special_points)
    np.testing.assert_allclose(cur.points("LPPD")[0].params, [MU_F, -0.4 * math.sqrt(RHO_F)],
                               atol=1e-8)
    np.testing.assert_allclose(cur.points("PDNS")[0].params, [0.4**3 - 0.4,
                                                              -0.4 * math.sqrt(0.4)], atol=1e-8)


def test_confirm_codim2_checks_the_multipliers():
    one, m1, z = 1.0 + 0j, -1.0 + 0j, np.exp(2j * np.pi / 3)

    def fl(*mu, triv=1e-10):
        return FloquetResult(np.array(mu, dtype=complex), None, triv)

    assert confirm_codim2("R3", 3, fl(one, z, np.conj(z)), True) == (True, "")
    ok, why = confirm_codim2("R3", 3, fl(one, 1j, -1j), True)
    assert not ok and "exp(+-i" in why
    ok, why = confirm_codim2("LPPD", 3, fl(one, 1.001, -0.5), True)
    assert not ok and "multiplier -1" in why
    assert confirm_codim2("LPPD", 3, fl(one, 1.001, m1), True)[0]
    ok, why = confirm_codim2("LPNS", 4, fl(one, 1.001, 1.1j, -1.1j), True)
    assert not ok and "unit circle" in why
    ok, why = confirm_codim2("PDNS", 3, fl(one, m1, 0.5), True)
    assert not ok and "at least 4" in why
    ok, why = confirm_codim2("R2", 3, fl(one, m1, m1, triv=0.1), True)
    assert not ok and "inaccurate" in why
    assert confirm_codim2("R4", 3, fl(one, 1j, -1j), False) == (
        False, "the locator did not converge")


def test_continue_ns_bad_input(ns_branch):
    br = ns_branch
    with pytest.raises(ValueError, match="expected NS"):
        continue_ns(br, 0, "mu")
    with pytest.raises(ValueError, match="param2"):
        continue_ns(br, br.points("NS")[0], "nu")


# ------------------------------------------------------------------ ZH / HH -> NS
def lorenz84() -> ODEProblem:
    """Lorenz-84 with parameters (F, G, a, b) = (0, 0.25, 0.25, 4), continued in F."""
    x, y, z, F, G, a, b = sp.symbols("x y z F G a b")
    f = [-y**2 - z**2 - a * x + a * F, x * y - b * x * z - y + G, b * x * y + x * z - z]
    return ODEProblem.from_sympy(f, [x, y, z], [F, G, a, b], [0.0] * 3,
                                 [0.0, 0.25, 0.25, 4.0], param="F")


def one_parameter_ns(pr: ODEProblem, x_guess: np.ndarray, p: np.ndarray, free: int,
                     lo: float, hi: float) -> float:
    """Independent check: parameter ``free`` of the NS point located on its multipliers on
    the one-parameter cycle branch born at the Hopf point met by equilibria in ``free`` from
    ``lo`` (the other parameters fixed at ``p``)."""
    from dataclasses import replace

    from scipy.optimize import fsolve

    from bifsnn.continuation import continue_cycles

    p0 = np.array(p, dtype=float)
    p0[free] = lo
    x0 = fsolve(lambda x: pr.f(x, p0), x_guess, xtol=1e-13)
    eq = continue_equilibria(replace(pr, x0=x0, p0=p0, param=free), ContinuationOptions(
        ds=0.01, ds_max=0.02, p_min=lo, p_max=hi, max_steps=500))
    h = eq.points("H")[0]
    po = continue_cycles(eq, h, ContinuationOptions(ds=0.02, ds_max=0.05, max_steps=120,
                                                    p_min=-5.0, p_max=5.0),
                         Collocation(ntst=40))
    ns = [s for s in po.points("NS") if s.located]
    return ns[0].param  # the first one along the branch, nearest the Hopf point


@pytest.mark.slow
def test_ns_from_zero_hopf_lorenz84_matches_one_parameter_runs():
    pr = lorenz84()
    br = continue_equilibria(pr, ContinuationOptions(ds=0.01, ds_max=0.05, p_max=3,
                                                     max_steps=3000))
    hc = continue_hopf(br, br.points("H")[0], "G", ContinuationOptions(
        ds=0.01, ds_max=0.05, max_steps=2000, p_min=-1, p_max=4, bounds={"G": (-1, 3)}))
    (zh,) = hc.points("ZH")
    assert zh.data["s"] * zh.data["theta"] < 0  # the normal form predicts a torus curve
    opts = ContinuationOptions(ds=0.02, ds_max=0.1, max_steps=12, p_min=0.5, p_max=3,
                               bounds={"G": (0.5, 3.0)})
    ns = continue_ns_from_zh(hc, zh, opts)
    assert ns.kind == "NS" and ns.status == "max_steps" and len(ns) == 13, ns.message
    # the NS curve is nearly parallel to F: the switch found it on cycles in G, so the
    # curve's first parameter is G
    assert ns.param_indices == (1, 0)
    assert ns.info["from_ZH"] == pytest.approx(tuple(zh.params))
    # theta grows away from the ZH point (the torus is born from the zero eigenvalue)
    assert np.all(np.diff(ns.extra["theta"]) > 0) and ns.extra["theta"][0] < 0.25
    # independent check: one-parameter cycle branches in G at the F of curve points locate
    # their NS at the curve's G (6 digits and more)
    for k in (3, len(ns) - 1):
        G_k, F_k = ns.params[k]
        j = int(np.argmin(np.abs(hc.params[:, 0] - F_k)))
        p = hc.p[j].copy()
        p[0] = F_k
        G_ns = one_parameter_ns(pr, hc.x[j], p, 1, hc.p[j, 1] - 0.05, hc.p[j, 1] + 0.05)
        print(f"ZH->NS row {k}: F = {F_k:.10g}, G curve {G_k:.12g}, one-parameter {G_ns:.12g}")
        assert abs(G_ns - G_k) < 1e-6 * abs(G_k), (G_ns, G_k)


def test_ns_from_zero_hopf_refused_when_the_normal_form_has_no_torus():
    from dataclasses import replace

    pr = lorenz84()
    br = continue_equilibria(pr, ContinuationOptions(ds=0.01, ds_max=0.05, p_max=3,
                                                     max_steps=3000))
    hc = continue_hopf(br, br.points("H")[0], "G", ContinuationOptions(
        ds=0.01, ds_max=0.05, max_steps=2000, p_min=-1, p_max=4, bounds={"G": (-1, 3)}))
    (zh,) = hc.points("ZH")
    flipped = replace(zh, data={**zh.data, "theta": -zh.data["theta"]})
    with pytest.raises(ValueError, match="s \\* theta"):
        continue_ns_from_zh(hc, flipped)
    with pytest.raises(ValueError, match="side"):
        continue_ns_from_zh(hc, zh, side=2)
    with pytest.raises(ValueError, match="expected ZH"):
        continue_ns_from_zh(hc, 0)


@pytest.mark.slow
def test_ns_from_double_hopf_matches_one_parameter_runs():
    pr = feed_forward_hh()
    br = continue_equilibria(pr, ContinuationOptions(ds=0.05, ds_max=0.1, p_max=0.5))
    hc = continue_hopf(br, br.points("H")[0], "b", ContinuationOptions(
        ds=0.05, ds_max=0.1, max_steps=100, bounds={"b": (-1.0, 1.0)}))
    (hh,) = hc.points("HH")
    assert hh.located and abs(hh.data["omega2"] - 1.618) < 1e-9
    ns = continue_ns_from_hh(hc, hh, ContinuationOptions(ds=0.02, ds_max=0.05, max_steps=15,
                                                         p_min=-1, p_max=1,
                                                         bounds={"b": (-1, 1.0)}))
    assert ns.kind == "NS" and ns.status == "max_steps" and len(ns) == 16, ns.message
    assert ns.param_indices == (0, 1) and ns.info["from_HH"] == pytest.approx([0.0, 0.0])
    # independent check at two curve points: cycles in a at the curve's b, NS on multipliers
    for k in (2, len(ns) - 1):
        a_k, b_k = ns.params[k]
        a_ns = one_parameter_ns(pr, np.zeros(4), np.array([-0.05, b_k]), 0, -0.05, 0.05)
        print(f"HH->NS row {k}: b = {b_k:.10g}, a curve {a_k:.12g}, one-parameter {a_ns:.12g}")
        assert abs(a_ns - a_k) < 1e-6 * abs(a_k), (a_ns, a_k)


def feed_forward_hh(w2: float = 1.618) -> ODEProblem:
    """z1' = (a + i) z1 - z1 |z1|^2, z2' = (b + i w2) z2 - z2 |z2|^2 + 0.5 z1: a double-Hopf
    point at a = b = 0 with frequencies 1 and w2."""
    x1, y1, x2, y2, a, b = sp.symbols("x1 y1 x2 y2 a b")
    r1, r2 = x1**2 + y1**2, x2**2 + y2**2
    f = [a * x1 - y1 - x1 * r1, x1 + a * y1 - y1 * r1,
         b * x2 - w2 * y2 - x2 * r2 + 0.5 * x1, w2 * x2 + b * y2 - y2 * r2 + 0.5 * y1]
    return ODEProblem.from_sympy(f, [x1, y1, x2, y2], [a, b], [0] * 4, [-0.5, -0.3])
