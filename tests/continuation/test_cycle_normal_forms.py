"""Periodic normal forms of PD and NS cycles, and the codim-2 points that need them (GPD on
PD curves, CH on NS curves) plus R1 on LPC curves, on models with analytic answers.

Models (sympy, exact derivatives): a cycle r = 1 of (x, y) with r' = r (1 - r^2) + BET r q,
phi' = OM + KAP q, coupled to a transverse part whose amplitude enters as q:

* PD: (a, b) = Rot(phi / 2) (xi, eta) (a Moebius band), q = xi^2,
  xi' = (mu - 0.3 nu + 0.2 nu^2) xi + (sin nu - 0.45) xi^3 + GAM (r^2 - 1) xi, eta' = -eta.
  PD at mu = 0.3 nu - 0.2 nu^2; on the centre manifold r^2 - 1 = BET xi^2, so
  xi' = (sin nu - 0.45 + GAM BET) xi^3: with int_0^T |v1|^2 dt = 1 (T = 2 pi / OM) the PD
  coefficient is c = (sin nu - 0.45 + GAM BET) / T and a1 = KAP / (OM T); GPD where
  sin nu = 0.45 - GAM BET = 0.05.
* NS: z = a + i b, q = |z|^2, z' = (mu - 0.3 nu + 0.2 nu^2 + 2.2 i) z
  + (sin nu - 0.45 + 0.7 i) |z|^2 z + GAM (r^2 - 1) z: Re d = 2 (sin nu - 0.45 + GAM BET) / T,
  a1 = 2 KAP / (OM T), Im d = 2 * 0.7 / T - (2.2 - theta / T) a1; CH where sin nu = 0.05.
* R1: q = xi with (xi, eta) the Bogdanov-Takens normal form xi' = eta, eta' = b1 + b2 xi +
  xi^2 - xi eta: folds of cycles on b1 = b2^2 / 4, a triple multiplier 1 (R1) at b1 = b2 = 0.
"""

import math

import numpy as np
import pytest
import sympy as sp

from bifsnn.continuation import ContinuationOptions, ODEProblem
from bifsnn.continuation.periodic import (
    Collocation,
    continue_cycles_from_orbit,
    continue_lpc,
    continue_ns,
    continue_pd,
    cycle_system,
    solve_cycle,
    uniform_mesh,
)
from bifsnn.continuation.periodic import codim2_cycles as c2c
from bifsnn.continuation.periodic.collocation import CollocationOperator
from bifsnn.continuation.periodic.cycle_normal_forms import ns_normal_form, pd_normal_form
from bifsnn.continuation.periodic.mesh import node_times

OM, KAP, BET, GAM, OM2 = 1.0, 0.3, 0.5, 0.8, 2.2
T0 = 2 * math.pi / OM
NU_STAR = math.asin(0.45 - GAM * BET)  # GPD and CH
MU_STAR = 0.3 * NU_STAR - 0.2 * NU_STAR**2


def _cycle_part(x, y, q):
    s = x**2 + y**2
    phid = OM + KAP * q
    return s, phid, [x * (1 - s) + BET * q * x - phid * y, y * (1 - s) + BET * q * y + phid * x]


def pd_model() -> ODEProblem:
    x, y, a, b = sp.symbols("x y a b", real=True)
    mu, nu = sp.symbols("mu nu", real=True)
    r = sp.sqrt(x**2 + y**2)
    Pm = sp.Matrix([[1 + x / r, y / r], [y / r, 1 - x / r]]) / 2
    ab = sp.Matrix([a, b])
    xi2 = (ab.T * Pm * ab)[0]
    s, phid, f = _cycle_part(x, y, xi2)
    g = (mu - 0.3 * nu + 0.2 * nu**2) + (sp.sin(nu) - 0.45) * xi2 + GAM * (s - 1)
    dab = g * Pm * ab - (sp.eye(2) - Pm) * ab + phid / 2 * sp.Matrix([[0, -1], [1, 0]]) * ab
    return ODEProblem.from_sympy(f + [dab[0], dab[1]], [x, y, a, b], [mu, nu], [1, 0, 0, 0],
                                 [-0.2, 0.3])


def ns_model() -> ODEProblem:
    x, y, a, b = sp.symbols("x y a b", real=True)
    mu, nu = sp.symbols("mu nu", real=True)
    z2 = a**2 + b**2
    s, _, f = _cycle_part(x, y, z2)
    z = a + sp.I * b
    dz = sp.expand((mu - 0.3 * nu + 0.2 * nu**2 + sp.I * OM2) * z
                   + (sp.sin(nu) - 0.45 + 0.7 * sp.I) * z2 * z + GAM * (s - 1) * z)
    return ODEProblem.from_sympy(f + [sp.re(dz), sp.im(dz)], [x, y, a, b], [mu, nu],
                                 [1, 0, 0, 0], [-0.2, 0.3])


def r1_model() -> ODEProblem:
    x, y, xi, eta = sp.symbols("x y xi eta", real=True)
    b1, b2 = sp.symbols("b1 b2", real=True)
    _, _, f = _cycle_part(x, y, xi)
    return ODEProblem.from_sympy(f + [eta, b1 + b2 * xi + xi**2 - xi * eta], [x, y, xi, eta],
                                 [b1, b2], [1, 0, 0, 0], [-0.2, 0.5])


def _cycle(pr, P, ntst, ncol=4, r2=1.0, T=T0, rest=(0.0, 0.0)):
    sysobj = cycle_system(pr, P, 0)
    tm = uniform_mesh(ntst)
    t = node_times(tm, ncol)
    U = np.zeros((t.size, 4))
    U[:, 0], U[:, 1] = math.sqrt(r2) * np.cos(2 * np.pi * t), math.sqrt(r2) * np.sin(2 * np.pi * t)
    U[:, 2:] = rest
    sol = solve_cycle(sysobj, tm, U, T, P[0], ncol, adapt=0)
    assert sol.success, sol.message
    return sysobj, sol


def _branch(pr, P, ntst, **kw):
    _, sol = _cycle(pr, P, ntst, **kw)
    return continue_cycles_from_orbit(
        pr, sol, ContinuationOptions(ds=0.05, ds_max=0.1, max_steps=40, p_min=-0.3, p_max=0.3),
        Collocation(ntst=ntst, ncol=4, adapt_mesh=0))


@pytest.fixture(scope="module")
def pd_pr():
    return pd_model()


@pytest.fixture(scope="module")
def ns_pr():
    return ns_model()


def _jac(sysobj, sol):
    coll = CollocationOperator(sysobj, sol.tm, sol.ncol)
    return coll, coll.jacobian(sol.U, sol.T, sol.p, coll.phase_reference(sol.U, sol.T, sol.p))


@pytest.mark.parametrize("ntst, tol", [(20, 3e-10), (40, 1e-11)])
def test_pd_normal_form_analytic(pd_pr, ntst, tol):
    nu = 0.3
    P = np.array([0.3 * nu - 0.2 * nu**2, nu])
    sysobj, sol = _cycle(pd_pr, P, ntst)
    coll, J = _jac(sysobj, sol)
    r = pd_normal_form(pd_pr, coll, sol.U, sol.T, P, J)
    c, a1 = (math.sin(nu) - 0.45 + GAM * BET) / T0, KAP / (OM * T0)
    print(f"PD ntst {ntst}: c {r['c']!r} (analytic {c!r}), a1 {r['a1']!r} ({a1!r})")
    assert abs(r["c"] - c) <= tol * abs(c) and abs(r["a1"] - a1) <= tol * a1


def test_ns_normal_form_analytic(ns_pr):
    nu = 0.3
    P = np.array([0.3 * nu - 0.2 * nu**2, nu])
    sysobj, sol = _cycle(ns_pr, P, 40)
    coll, J = _jac(sysobj, sol)
    theta = (OM2 * T0) % (2 * math.pi)
    r = ns_normal_form(ns_pr, coll, sol.U, sol.T, P, J, theta)
    a1 = 2 * KAP / (OM * T0)
    d = complex(2 * (math.sin(nu) - 0.45 + GAM * BET) / T0,
                2 * 0.7 / T0 - (OM2 - theta / T0) * a1)
    print(f"NS: d {r['d']!r} (analytic {d!r}), a1 {r['a1']!r} ({a1!r})")
    assert abs(r["d"] - d) <= 2e-8 * abs(d) and abs(r["a1"] - a1) <= 2e-8 * a1
    with pytest.raises(ValueError, match="theta"):
        ns_normal_form(ns_pr, coll, sol.U, sol.T, P, J, math.pi)


def test_gpd_on_a_pd_curve(pd_pr):
    br = _branch(pd_pr, np.array([-0.2, 0.3]), 20)
    cur = continue_pd(br, br.points("PD")[0], "nu", ContinuationOptions(
        ds=0.05, ds_max=0.1, max_steps=40, direction=-1, bounds={"nu": (-0.2, 0.4)}))
    assert [s.type for s in cur.special_points] == ["EP", "GPD", "EP"], cur.special_points
    g = cur.points("GPD")[0]
    print(f"GPD: {g.params!r}, analytic ({MU_STAR!r}, {NU_STAR!r})")
    assert g.located and g.data["derivatives"] == "exact"
    np.testing.assert_allclose(g.params, [MU_STAR, NU_STAR], rtol=0, atol=1e-10)
    assert abs(g.data["c"]) < 1e-12 and abs(g.data["a1"] - KAP / (OM * T0)) < 1e-9
    # the test column: c changes sign once, from subcritical (c > 0) to supercritical
    c = cur.extra["test_GPD"]
    c = c[np.isfinite(c)]
    assert c[0] > 0 > c[-1] and np.sum(np.diff(np.sign(c)) != 0) == 1


def test_chenciner_on_an_ns_curve(ns_pr):
    br = _branch(ns_pr, np.array([-0.2, 0.3]), 20)
    cur = continue_ns(br, br.points("NS")[0], "nu", ContinuationOptions(
        ds=0.05, ds_max=0.1, max_steps=40, direction=-1, bounds={"nu": (-0.2, 0.4)}))
    assert [s.type for s in cur.special_points] == ["EP", "CH", "EP"], cur.special_points
    ch = cur.points("CH")[0]
    print(f"CH: {ch.params!r}, analytic ({MU_STAR!r}, {NU_STAR!r})")
    assert ch.located
    np.testing.assert_allclose(ch.params, [MU_STAR, NU_STAR], rtol=0, atol=1e-10)
    assert abs(ch.data["d"].real) < 1e-12


def test_r1_on_an_lpc_curve():
    pr = r1_model()
    xs = (-0.5 + math.sqrt(0.25 + 0.8)) / 2  # equilibrium of the BT part at b1 = -0.2
    br = _branch(pr, np.array([-0.2, 0.5]), 20, r2=1 + BET * xs, T=2 * math.pi / (OM + KAP * xs),
                 rest=(xs, 0.0))
    lpc = br.points("LPC")[0]
    assert abs(lpc.param - 0.0625) < 1e-10
    cur = continue_lpc(br, lpc, "b2", ContinuationOptions(
        ds=0.05, ds_max=0.1, max_steps=40, direction=-1, bounds={"b2": (-0.5, 0.6)}))
    assert [s.type for s in cur.special_points] == ["EP", "R1", "EP"], cur.special_points
    r1 = cur.points("R1")[0]
    print(f"R1: {r1.params!r}, analytic (0, 0)")
    assert r1.located and np.max(np.abs(r1.params)) < 1e-10
    assert np.max(np.abs(cur.params[:, 0] - cur.params[:, 1] ** 2 / 4)) < 1e-10


def test_normal_form_tests_skipped_without_exact_derivatives(ns_pr, monkeypatch):
    fd = ODEProblem(ns_pr.f, ns_pr.x0, ns_pr.p0, dfdx=ns_pr.dfdx, param_names=("mu", "nu"))
    br = _branch(fd, np.array([-0.2, 0.3]), 20)
    monkeypatch.setattr(c2c, "NORMAL_FORM_FD_MAX_N", 3)
    cur = continue_ns(br, br.points("NS")[0], "nu", ContinuationOptions(
        ds=0.05, ds_max=0.1, max_steps=3, direction=-1, bounds={"nu": (-0.2, 0.4)}))
    assert "exact second and third derivatives" in cur.info["normal_form_tests"]
    assert "test_CH" not in cur.extra and not cur.points("CH")


def roessler_poincare(hb: float = 2e-3, hc: float = 1e-2) -> dict:
    """The PD coefficient c of the Roessler system (a = b = 0.2) at its first period
    doubling in c (collocation, ntst 60, ncol 5) and, independently, the cubic coefficient
    of the Poincare map's PD normal form ``map_c = <p, C(q,q,q)>/6 - <p, B(q, (A - I)^-1
    B(q, q))>/2`` from central differences of the map (DOP853, rtol 1e-13; section through
    x0(0) normal to f; q the projection of v1(0) onto it), which equals -c T."""
    from scipy.integrate import solve_ivp

    from bifsnn.continuation.periodic import cycle_from_simulation
    from bifsnn.continuation.periodic.cycle_normal_forms import _boundary_matrix, _null_vectors

    x, y, z = sp.symbols("x y z", real=True)
    a, b, c = sp.symbols("a b c", real=True)
    pr = ODEProblem.from_sympy([-y - z, x + a * y, b + z * (x - c)], [x, y, z], [a, b, c],
                               [1, 1, 0], [0.2, 0.2, 2.5], param="c")
    sol = cycle_from_simulation(cycle_system(pr, pr.p0, 2), np.array([1.0, 1.0, 0.0]), 2.5,
                                t_transient=300, t_record=50, ntst=60, ncol=5)
    br = continue_cycles_from_orbit(pr, sol, ContinuationOptions(
        ds=0.1, ds_max=0.2, max_steps=40, p_max=3.0), Collocation(ntst=60, ncol=5, adapt_mesh=0))
    pd = br.points("PD")[0]
    assert pd.located
    cyc, P = br.cycle(pd.index), br.p[pd.index].copy()
    coll, J = _jac(cycle_system(pr, P, 2), cyc)
    r = pd_normal_form(pr, coll, cyc.U, cyc.T, P, J)
    w, _ = _null_vectors(_boundary_matrix(coll, J, -1.0))
    V1 = w.reshape(coll.nnodes, 3)
    x0 = cyc.U[0].copy()
    nf = pr.f(x0, P) / np.linalg.norm(pr.f(x0, P))
    E = np.linalg.svd(nf[None, :])[2][1:]  # orthonormal basis of the section

    def event(t, u):
        return (u - x0) @ nf

    event.direction = 1

    def pmap(s):
        out = solve_ivp(lambda t, u: pr.f(u, P), (0, 2 * cyc.T), x0 + E.T @ s, method="DOP853",
                        rtol=1e-13, atol=1e-15, events=event)
        te, ue = out.t_events[0], out.y_events[0]
        return E @ (ue[int(np.argmax(te > 0.5 * cyc.T))] - x0)

    A = np.column_stack([(pmap(e) - pmap(-e)) / 2e-5 for e in 1e-5 * np.eye(2)])
    q = E @ (V1[0] - (V1[0] @ nf) * nf)
    q_scale = 1.0 / math.sqrt(cyc.T * float(np.sum(coll.wnode[:, None] * V1 * V1)))
    q = q * q_scale  # v1 normalised as in pd_normal_form
    lam, W = np.linalg.eig(A.T)
    p = W[:, int(np.argmin(np.abs(lam + 1)))].real
    p = p / (p @ q)

    def B(u, v):
        return (pmap(hb * (u + v)) - pmap(hb * (u - v)) - pmap(-hb * (u - v))
                + pmap(-hb * (u + v))) / (4 * hb * hb)

    Cqqq = (pmap(2 * hc * q) - 2 * pmap(hc * q) + 2 * pmap(-hc * q) - pmap(-2 * hc * q)) / (
        2 * hc**3)
    h2 = np.linalg.solve(A - np.eye(2), B(q, q))
    map_c = float(p @ Cqqq / 6 - 0.5 * (p @ B(q, h2)))
    return {"c": r["c"], "T": cyc.T, "map_c": map_c, "c_pd": float(pd.param)}


@pytest.mark.slow
def test_pd_coefficient_matches_the_poincare_map_on_roessler():
    r = roessler_poincare()
    print(f"Roessler PD at c = {r['c_pd']:.10g}: -c T = {-r['c'] * r['T']!r}, Poincare map "
          f"{r['map_c']!r}")
    assert abs(-r["c"] * r["T"] - r["map_c"]) <= 1e-4 * abs(r["map_c"])
