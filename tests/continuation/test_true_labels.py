"""Labels that are true (issue 9): cycle special points pass checks of their kind or are
reported as unconfirmed with the reason."""

import numpy as np
import pytest
from cont_models import bautin_problem

from bifsnn.continuation import ContinuationOptions, ODEProblem, continue_equilibria
from bifsnn.continuation.periodic import continue_cycles, stepper
from bifsnn.continuation.periodic.collocation import FloquetResult
from bifsnn.continuation.periodic.discretization import Collocation
from bifsnn.continuation.periodic.stepper import confirm_label


def _bt_problem() -> ODEProblem:
    # BT normal form x' = y, y' = b1 + b2 x + x^2 - x y at b2 = -1: the cycles born at the
    # Hopf point b1 = 0 grow into a homoclinic orbit; their period increases monotonically
    def f(z, p):
        return np.array([z[1], p[0] + p[1] * z[0] + z[0] ** 2 - z[0] * z[1]])
    pr = ODEProblem(f, [0.0, 0.0], [-0.1, -1.0], param_names=("b1", "b2"))
    # equilibrium x^2 - x - 0.1 = 0 -> x = (1 - sqrt(1.4)) / 2 (the one with the Hopf point)
    pr.x0 = np.array([(1 - np.sqrt(1.4)) / 2, 0.0])
    return pr


def test_planar_homoclinic_approach_gets_no_lpc_pd_or_ns(monkeypatch):
    # go on past the homoclinic-approach stop, to periods ~200 where the multipliers are
    # noise (the engine before issue 9 labelled LPCs and PDs there)
    monkeypatch.setattr(stepper, "HOMOCLINIC_RATIO", np.inf)
    pr = _bt_problem()
    br = continue_equilibria(pr, ContinuationOptions(ds=0.01, ds_max=0.05, p_min=-0.5,
                                                     p_max=0.5))
    po = continue_cycles(br, br.points("H")[0], ContinuationOptions(
        ds=0.05, ds_max=0.5, max_steps=400, p_min=-0.5, p_max=0.5), Collocation(ntst=20))
    T = po.period
    assert T[-1] > 100 and np.all(np.diff(T) > 0)  # the period is monotone ...
    # ... and the Floquet multipliers become inaccurate (trivial multiplier error ~1)
    assert np.nanmax(po.extra["trivial_error"]) > 0.5
    # so no fold of cycles is labelled, and no PD / NS in the plane: a fold detected by the
    # noisy tangent there (it is with scipy 1.17 / numpy 2.4) is reported unconfirmed,
    # carried by the step's own point (no duplicate point), never as found
    assert not [s for s in po.special_points if s.type in ("PD", "NS")]
    for s in po.special_points:
        if s.type != "EP":
            assert s.type == "LPC" and not s.located and s.data["unconfirmed"], s


def _fl(mu, triv):
    return FloquetResult(np.asarray(mu, dtype=complex), None, triv)


def test_confirm_label_checks_each_kind():
    assert confirm_label("PD", 2, _fl([1.0, -1.0], 1e-12), True) == (
        False, "PD is impossible for a planar system (n = 2)")
    assert confirm_label("NS", 2, _fl([1.0, 0.1], 1e-12), True)[0] is False
    ok, why = confirm_label("PD", 3, _fl([1.0, -1.0, 0.3], 0.5), True)
    assert not ok and "trivial multiplier error" in why
    assert confirm_label("PD", 3, _fl([1.0, -1.0 + 1e-7, 0.3], 1e-10), True) == (True, "")
    ok, why = confirm_label("LPC", 2, _fl([1.0, 1.55], 1e-10), True)
    assert not ok and "double multiplier 1" in why
    assert confirm_label("LPC", 2, _fl([1.0, 0.998], 1e-10), True) == (True, "")
    ok, why = confirm_label("NS", 3, _fl([1.0, 0.9 + 0.3j, 0.9 - 0.3j], 1e-10), True)
    assert not ok and "unit circle" in why
    z = np.exp(0.7j)
    assert confirm_label("NS", 3, _fl([1.0, z, np.conj(z)], 1e-10), True) == (True, "")
    assert confirm_label("LPC", 3, _fl([1.0, 1.0], 1e-10), False)[0] is False


def test_homoclinic_approach_stops_with_a_message():
    pr = _bt_problem()
    br = continue_equilibria(pr, ContinuationOptions(ds=0.01, ds_max=0.05, p_min=-0.5,
                                                     p_max=0.5))
    po = continue_cycles(br, br.points("H")[0], ContinuationOptions(
        ds=0.05, ds_max=0.5, max_steps=400, p_min=-0.5, p_max=0.5), Collocation(ntst=20))
    assert po.status == "homoclinic" and po.success
    assert "homoclinic orbit near p = -0.2136" in po.message
    assert len(po) < 300 and po.period[-1] > 60


def test_record_functions_and_user_events_on_equilibria():
    import pytest

    # x' = p - x^3: x = p^(1/3); record x^2, stop where x^2 = 1.44 (p = 1.728)
    pr = ODEProblem(lambda x, p: np.array([p[0] - x[0] ** 3]), [0.5], [0.125])
    opts = ContinuationOptions(ds=0.05, ds_max=0.1, p_max=3.0,
                               record={"x2": lambda x, p: float(x[0] ** 2)},
                               events={"x2": 1.0, "param": [0.5, 2.0]})
    br = continue_equilibria(pr, opts)
    np.testing.assert_allclose(br.extra["x2"], br.x[:, 0] ** 2, rtol=1e-14)
    uz = br.points("UZ")
    assert [(u.data["event"], u.data["value"]) for u in uz] == [
        ("param", 0.5), ("x2", 1.0), ("param", 2.0)]
    assert all(u.located for u in uz)
    assert abs(uz[0].param - 0.5) < 1e-9 and abs(uz[1].param - 1.0) < 1e-8
    assert abs(uz[2].x[0] - 2.0 ** (1 / 3)) < 1e-8
    stop = continue_equilibria(pr, opts.with_(events={"x2": 1.44}, stop_at_events=True))
    assert stop.status == "stopped" and "x2 = 1.44" in stop.message
    assert abs(stop.points("UZ")[0].param - 1.728) < 1e-8
    assert stop.param_values[-1] < 1.9
    with pytest.raises(ValueError, match="events"):
        ContinuationOptions(events={"rate": 1.0})


def _bautin_hopf_curve():
    """The Hopf curve (in b2) of z' = (b1 + i) z + b2 z |z|^2 - z |z|^4: GH at (0, 0); cycles
    r^2 solve b1 + b2 r^2 - r^4 = 0 and fold on b1 = -b2^2 / 4 (b2 > 0)."""
    from bifsnn.continuation import continue_hopf

    pr = bautin_problem()
    br = continue_equilibria(pr, ContinuationOptions(ds=0.05, ds_max=0.1, p_max=0.5))
    return continue_hopf(br, br.points("H")[0], "b2", ContinuationOptions(
        ds=0.05, ds_max=0.2, bounds={"b2": (-2.0, 1.0)}, max_steps=200))


def test_gh_to_lpc_curve_of_the_bautin_normal_form():
    from bifsnn.continuation.periodic import continue_lpc_from_gh

    hc = _bautin_hopf_curve()
    gh = hc.points("GH")[0]
    lc = continue_lpc_from_gh(hc, gh, ContinuationOptions(
        ds=0.02, ds_max=0.1, max_steps=60, both_sides=True, bounds={"b2": (0.05, 0.6)}),
        Collocation(ntst=20))
    assert lc.kind == "LPC" and lc.success
    b1, b2 = lc.params[:, 0], lc.params[:, 1]
    assert b2.min() <= 0.051 and b2.max() >= 0.599  # followed across the whole box
    assert np.max(np.abs(b1 + b2**2 / 4)) < 1e-10
    # its cycles: r^2 = b2 / 2, period 2 pi
    np.testing.assert_allclose(lc.period, 2 * np.pi, rtol=1e-8)
    np.testing.assert_allclose(np.hypot(lc.x[:, 0], lc.x[:, 1]) ** 2, b2 / 2, rtol=1e-6)
    np.testing.assert_allclose(lc.info["from_gh"], [0.0, 0.0], atol=1e-8)


def _sympy_bautin_hopf_curve(sign: int):
    """The Hopf curve (in b2) of z' = (b1 + i) z + b2 z |z|^2 + sign z |z|^4 written in
    sympy (exact derivatives: the GH point's l2 = 4 sign is computed)."""
    import sympy

    from bifsnn.continuation import continue_hopf

    x, y, b1, b2 = sympy.symbols("x y b1 b2")
    r2 = x**2 + y**2
    g = b1 + b2 * r2 + sign * r2**2
    pr = ODEProblem.from_sympy([g * x - y, x + g * y], [x, y], [b1, b2], [0.0, 0.0],
                               [-0.5, -1.0], param="b1")
    br = continue_equilibria(pr, ContinuationOptions(ds=0.05, ds_max=0.1, p_max=0.5))
    return continue_hopf(br, br.points("H")[0], "b2", ContinuationOptions(
        ds=0.05, ds_max=0.2, bounds={"b2": (-2.0, 1.0)}, max_steps=200))


def test_gh_to_lpc_with_positive_l2_takes_the_supercritical_side():
    """z' = (b1 + i) z + b2 z |z|^2 + z |z|^4 (sympy: exact derivatives, so l2 is known):
    l2 > 0, the small stable cycles of the supercritical side (l1 = 2 b2 < 0) fold on
    b1 = b2^2 / 4, b2 < 0; the subcritical side has no fold of small cycles."""
    from bifsnn.continuation.periodic import continue_lpc_from_gh

    hc = _sympy_bautin_hopf_curve(+1)
    gh = hc.points("GH")[0]
    assert gh.data["l2"] > 0
    lc = continue_lpc_from_gh(hc, gh, ContinuationOptions(
        ds=0.02, ds_max=0.1, max_steps=30, bounds={"b2": (-0.6, -0.05)}), Collocation(ntst=20))
    assert lc.info["switch_side"] == "l1 < 0"
    q1, q2 = lc.params[:, 0], lc.params[:, 1]
    assert len(lc) > 5 and q2.max() < 0 and np.max(np.abs(q1 - q2**2 / 4)) < 1e-9


def test_gh_switch_refuses_a_fold_after_an_unlabelled_turn():
    """The fold used by the GH switch is the cycle branch's first turn: an LPC label after an
    unlabelled turn of the parameter (a fold of large cycles) is refused with the reason."""
    from types import SimpleNamespace

    from bifsnn.continuation.periodic.codim2_cycles import _first_fold

    def branch(p, idx, located=True):
        pt = SimpleNamespace(index=idx, located=located, message="")
        return SimpleNamespace(param_values=np.array(p), points=lambda kind: [pt])

    ok = branch([0.5, 0.52, 0.54, 0.55, 0.54, 0.5], 3)
    assert _first_fold(ok)[0] is not None
    late, why = _first_fold(branch([0.5, 0.52, 0.51, 0.53, 0.6, 0.7, 0.65], 5))
    assert late is None and "unlabelled fold" in why
    unconfirmed, why = _first_fold(branch([0.5, 0.52, 0.54, 0.55, 0.54], 3, located=False))
    assert unconfirmed is None and "not confirmed" in why


def test_gh_switch_refuses_a_fold_far_from_its_hopf_point():
    """The reduced network's GH points (p_EI, tau_EE): at (0.7226, 1.3883) the cycles of the
    Hopf point (0.72624, 1.39483) fold at p_EI 0.72719 (small cycles: accepted); at
    (0.8921, 1.5292) those of (0.8938, 1.5204) first fold at p_EI 0.9717, 0.078 away, with
    cycles of amplitude ~3000 counts (a fold of large cycles: refused, with the reason)."""
    from types import SimpleNamespace as NS

    from bifsnn.continuation.periodic.codim2_cycles import _far_fold

    def case(gh, row, fold):
        hc = NS(param_indices=(0, 1), p=np.array([row]))
        return _far_fold(hc, 0, NS(p=np.array(gh)), NS(p=np.array(fold)))

    assert case((0.72261, 1.38827), (0.72624, 1.39483), (0.72719, 1.39483)) == ""
    why = case((0.89212, 1.52918), (0.89382, 1.52039), (0.97174, 1.52039))
    assert "fold of large cycles" in why and "0.0779" in why


def test_gh_to_lpc_falls_back_to_cycles_in_the_second_parameter(monkeypatch):
    """When the cycles in the first parameter give no fold (forced here), the switch tries
    rows further away, then the cycles in the second parameter: same LPC curve."""
    from bifsnn.continuation import continue_hopf
    from bifsnn.continuation.periodic import codim2_cycles, continue_lpc_from_gh

    k = 0.5  # the Bautin normal form in b1 = c1 - k c2, b2 = c2: Hopf curve c1 = k c2,

    def f(z, p):  # LPC curve c1 - k c2 = -c2^2 / 4
        r2 = z[0] ** 2 + z[1] ** 2
        g = p[0] - k * p[1] + p[1] * r2 - r2 ** 2
        return np.array([g * z[0] - z[1], z[0] + g * z[1]])
    pr = ODEProblem(f, [0.0, 0.0], [-0.5, -1.0], param_names=("c1", "c2"))
    br = continue_equilibria(pr, ContinuationOptions(ds=0.05, ds_max=0.1, p_max=0.5))
    hc = continue_hopf(br, br.points("H")[0], "c2", ContinuationOptions(
        ds=0.05, ds_max=0.2, bounds={"c2": (-2.0, 1.0)}, max_steps=200))
    real = codim2_cycles._cycles_from_hopf_row
    calls = []

    def first_fails(curve, j, *a, which=0, **kw):
        calls.append((j, which))
        if which == 0:
            raise ValueError("forced by the test")
        return real(curve, j, *a, which=which, **kw)

    monkeypatch.setattr(codim2_cycles, "_cycles_from_hopf_row", first_fails)
    lc = continue_lpc_from_gh(hc, hc.points("GH")[0], ContinuationOptions(
        ds=0.02, ds_max=0.1, max_steps=20, both_sides=True, bounds={"c2": (0.05, 0.6)},
        events={"param": (0.1,)}), Collocation(ntst=20))
    assert [w for _, w in calls] == [0, 0, 0, 1]  # rows 2, 4, 8 away, then in c2
    assert len(lc.info["switch_failures"]) == 3 and lc.info["switch_row"] == calls[-1][0]
    assert lc.kind == "LPC" and len(lc) >= 10 and lc.param_label(0) == "c2"
    c1, c2 = lc.p[:, 0], lc.p[:, 1]
    assert np.max(np.abs(c1 - k * c2 + c2 ** 2 / 4)) < 1e-10
    assert c2.max() - c2.min() > 0.1
    # the event "param" still names the Hopf curve's first parameter c1: c1 = 0.1 on the
    # LPC curve at c2 = 1 - sqrt(0.6)
    (uz,) = lc.points("UZ")
    assert uz.located and abs(uz.p[0] - 0.1) < 1e-10
    assert abs(uz.p[1] - (1 - np.sqrt(0.6))) < 1e-8

    def never(curve, j, *a, which=0, **kw):
        raise ValueError(f"forced ({which})")
    monkeypatch.setattr(codim2_cycles, "_cycles_from_hopf_row", never)
    with pytest.raises(ValueError, match="no fold of cycles found next to the GH point"):
        continue_lpc_from_gh(hc, hc.points("GH")[0], None, Collocation(ntst=20))


def test_lpc_curve_survives_an_exactly_singular_factorisation(monkeypatch):
    """SuperLU's RuntimeError ("Factor is exactly singular") inside a curve step is a failed
    step (retried smaller), not the end of the curve (it used to lose the whole curve)."""
    from bifsnn.continuation.periodic import codim2_cycles, continue_lpc_from_gh

    hc = _bautin_hopf_curve()
    real, calls = codim2_cycles.sparse_lu, [0]

    def flaky(B):
        calls[0] += 1
        if calls[0] in (6, 7):
            raise RuntimeError("Factor is exactly singular")
        return real(B)

    monkeypatch.setattr(codim2_cycles, "sparse_lu", flaky)
    lc = continue_lpc_from_gh(hc, hc.points("GH")[0], ContinuationOptions(
        ds=0.02, ds_max=0.1, max_steps=15, bounds={"b2": (0.05, 0.6)}), Collocation(ntst=20))
    assert calls[0] > 7 and lc.kind == "LPC" and len(lc) >= 10
    b1, b2 = lc.params[:, 0], lc.params[:, 1]
    assert np.max(np.abs(b1 + b2 ** 2 / 4)) < 1e-10


def test_unstable_pair_turning_real_is_not_a_hopf_point():
    """x' = x - y - x^3, y' = b x + y - y^3: at the origin the eigenvalues are 1 +- sqrt(-b),
    an unstable complex pair for b > 0 that meets on the real axis at b = 0 and splits into
    two real unstable eigenvalues (no crossing of the imaginary axis: no H, no LP, no BP)."""
    def f(x, p):
        return np.array([x[0] - x[1] - x[0] ** 3, p[0] * x[0] + x[1] - x[1] ** 3])

    pr = ODEProblem(f, [0.0, 0.0], [0.5])
    br = continue_equilibria(pr, ContinuationOptions(ds=0.05, ds_max=0.2, p_min=-0.5,
                                                     p_max=0.6, direction=-1))
    assert br.status == "bound" or "bound" in br.message, br.message
    assert br.p[-1, 0] == -0.5 and np.all(br.n_unstable == 2)
    assert [s.type for s in br.special_points] == ["EP", "EP"], br.special_points
    # a Hopf crossing and, later in the same run, the collision of the unstable pair:
    # eigenvalues p +- sqrt(p^2 - 0.04), a pair crossing at p = 0 (omega 0.2) that meets on
    # the real axis at p = 0.2 (two real unstable ones after)
    def g(x, p):
        return np.array([p[0] * x[0] - x[1] - x[0] ** 3,
                         (0.04 - p[0] ** 2) * x[0] + p[0] * x[1] - x[1] ** 3])

    pr2 = ODEProblem(g, [0.0, 0.0], [-0.5])
    br2 = continue_equilibria(pr2, ContinuationOptions(ds=0.05, ds_max=0.2, p_min=-0.5,
                                                       p_max=0.6))
    assert [s.type for s in br2.special_points] == ["EP", "H", "EP"], br2.special_points
    h = br2.points("H")[0]
    assert h.located and abs(h.param) < 1e-10 and abs(h.data["omega"] - 0.2) < 1e-10


def test_gh_switch_fold_matches_the_normal_form_prediction():
    """The fold taken by the GH switch is checked against the Bautin normal form at its Hopf
    row: z' = (b1 + i) z + b2 z |z|^2 - z |z|^4 has l1 = 2 b2, l2 = -4, so the fold of the
    small cycles has L2 amplitude sqrt(-l1 / l2) = sqrt(b2 / 2) at b1 = -b2^2 / 4: the
    prediction equals the located fold.  The reduced network's GH (0.6956, 1.7279), l2 =
    -1.9e-10: at the Hopf row 0.0366 from it (l1 = 3.8e-7) the small fold has amplitude ~45
    counts, the fold found there had ~445 (large cycles: refused, retry flagged)."""
    from types import SimpleNamespace as NS

    from bifsnn.continuation.periodic.codim2_cycles import (
        _cycles_from_hopf_row,
        _first_fold,
        _not_small_fold,
        _small_fold_prediction,
    )

    hc = _sympy_bautin_hopf_curve(-1)
    gh = hc.points("GH")[0]
    assert abs(gh.data["l2"] + 4) < 1e-6
    j = next(k for k in range(gh.index + 1, len(hc)) if hc.p[k, 1] > 0.15)
    po = _cycles_from_hopf_row(hc, j, ContinuationOptions(ds=0.02, ds_max=0.1),
                               Collocation(ntst=20), 200, until="LPC")
    fold, why = _first_fold(po)
    assert fold is not None, why
    b2 = hc.p[j, 1]
    amp_pred, dp_pred = _small_fold_prediction(po.info["hopf"], gh.data["l2"])
    np.testing.assert_allclose(amp_pred, np.sqrt(b2 / 2), rtol=1e-6)
    np.testing.assert_allclose(dp_pred, -b2 ** 2 / 4, rtol=1e-6)
    np.testing.assert_allclose(po.extra["amplitude"][fold.index], amp_pred, rtol=1e-4)
    np.testing.assert_allclose(fold.param - po.info["hopf"]["param"], dp_pred, rtol=1e-4)
    assert _not_small_fold(hc, j, gh, fold, po) == ("", False)

    # the network's numbers (l1, omega at the row, l2; fold amplitude found; dRe/dp -1 is
    # illustrative: the amplitude test alone refuses the fold)
    net_gh = NS(data={"l2": -1.908753e-10}, p=np.array([0.695573, 1.727931]))
    hopf = {"param": 0.72550568, "l1": 3.801058e-7, "omega": 0.3525, "dre_dp": -1.0}
    amp_pred, dp_pred = _small_fold_prediction(hopf, net_gh.data["l2"])
    assert 44 < amp_pred < 45
    big = NS(info={"hopf": hopf}, extra={"amplitude": np.array([0.0, 444.6])})
    why, too_big = _not_small_fold(hc, 0, net_gh, NS(index=1, param=0.7352), big)
    assert too_big and "a fold of large cycles" in why
    small = NS(info={"hopf": hopf}, extra={"amplitude": np.array([0.0, 50.0])})
    assert _not_small_fold(hc, 0, net_gh, NS(index=1, param=0.72550568 + dp_pred * 1.5),
                           small) == ("", False)
    why, too_big = _not_small_fold(hc, 0, net_gh, NS(index=1, param=0.72550568 - dp_pred),
                                   small)  # wrong side of the Hopf point
    assert not too_big and "not the normal form's fold" in why
    # no l2: the distance rule of _far_fold decides
    assert _small_fold_prediction(hopf, None) is None
