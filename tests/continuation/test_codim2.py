"""Two-parameter continuation of folds and Hopf points: cusp, Bogdanov-Takens, Bautin."""

import numpy as np
import pytest
from cont_models import bautin_problem

from bifsnn.continuation import (
    ContinuationOptions,
    ODEProblem,
    continue_equilibria,
    continue_fold,
    continue_hopf,
)


def cusp_problem():
    # x' = b1 + b2 x - x^3: fold curve (b1, b2) = (-2 x^3, 3 x^2), cusp at (0, 0)
    return ODEProblem(lambda x, p: np.array([p[0] + p[1] * x[0] - x[0] ** 3]), [-1.5],
                      [2.0, 1.0], param_names=("b1", "b2"))


def bt_problem(s=-1.0):
    # x' = y, y' = b1 + b2 x + x^2 + s x y: fold curve b1 = b2^2 / 4, Hopf curve b1 = 0
    # (b2 < 0, omega^2 = -b2), Bogdanov-Takens point at (0, 0)
    def f(x, p):
        return np.array([x[1], p[0] + p[1] * x[0] + x[0] ** 2 + s * x[0] * x[1]])
    return f


def test_cusp_on_fold_curve():
    br = continue_equilibria(cusp_problem(), ContinuationOptions(ds=0.05, ds_max=0.1,
                                                                 p_min=-3, p_max=3,
                                                                 direction=-1))
    lps = br.points("LP")
    assert len(lps) == 2
    np.testing.assert_allclose(sorted(lp.param for lp in lps),
                               [-2 / 3 ** 1.5, 2 / 3 ** 1.5], atol=1e-9)
    fc = continue_fold(br, br.points("LP")[0], "b2",
                       ContinuationOptions(ds=0.05, ds_max=0.1, direction=-1,
                                           bounds={"b2": (-0.5, 2.0)}, max_steps=200))
    assert fc.kind == "LP" and fc.param_indices == (0, 1)
    (cp,) = fc.points("CP")
    assert cp.located
    np.testing.assert_allclose(cp.params, [0.0, 0.0], atol=1e-8)  # cusp at the origin
    # the fold curve satisfies b1 = -2 x^3, b2 = 3 x^2 (Newton tolerance): 1e-8
    assert np.max(np.abs(fc.params[:, 1] - 3 * fc.x[:, 0] ** 2)) < 1e-8
    assert np.max(np.abs(fc.params[:, 0] + 2 * fc.x[:, 0] ** 3)) < 1e-8
    # it passes through the cusp onto the other fold (x changes sign)
    assert fc.x[0, 0] * fc.x[-1, 0] < 0


@pytest.mark.parametrize("s", [-1.0, 1.0])
def test_bogdanov_takens_on_fold_curve(s):
    pr = ODEProblem(bt_problem(s), [-1.0, 0.0], [0.0, 1.0], param_names=("b1", "b2"))
    br = continue_equilibria(pr, ContinuationOptions(ds=0.05, ds_max=0.1, p_min=-2, p_max=2))
    (lp,) = br.points("LP")
    assert abs(lp.param - 0.25) < 1e-9
    fc = continue_fold(br, lp, "b2", ContinuationOptions(ds=0.05, ds_max=0.1, direction=-1,
                                                         bounds={"b2": (-1.0, 2.0)},
                                                         max_steps=200))
    (bt,) = fc.points("BT")
    assert bt.located
    np.testing.assert_allclose(bt.params, [0.0, 0.0], atol=1e-8)
    # fold curve b1 = b2^2 / 4: 1e-8
    assert np.max(np.abs(fc.params[:, 0] - fc.params[:, 1] ** 2 / 4)) < 1e-8
    # at BT both eigenvalues vanish (double zero): 1e-5 (eigenvalues of a Jordan block)
    assert np.max(np.abs(fc.eigenvalues[bt.index])) < 1e-5


def test_bogdanov_takens_on_hopf_curve():
    pr = ODEProblem(bt_problem(-1.0), [0.0, 0.0], [-0.5, -1.0], param_names=("b1", "b2"))
    br = continue_equilibria(pr, ContinuationOptions(ds=0.05, ds_max=0.1, p_min=-2, p_max=0.2))
    (h,) = br.points("H")
    assert abs(h.param) < 1e-10 and abs(h.data["omega"] - 1.0) < 1e-10
    hc = continue_hopf(br, h, "b2", ContinuationOptions(ds=0.05, ds_max=0.1,
                                                        bounds={"b2": (-2.0, 1.0)},
                                                        max_steps=200))
    assert hc.kind == "H"
    (bt,) = hc.points("BT")
    assert bt.located
    np.testing.assert_allclose(bt.params, [0.0, 0.0], atol=1e-8)
    # omega^2 = -b2 along the Hopf curve: 1e-8
    om, b2 = hc.extra["omega"], hc.params[:, 1]
    before = np.arange(len(hc)) < bt.index
    assert np.max(np.abs(om[before] ** 2 + b2[before])) < 1e-8
    assert np.max(np.abs(hc.params[:, 0])) < 1e-8  # b1 = 0 on the Hopf curve
    assert hc.status == "stopped" and "Bogdanov-Takens" in hc.message


def test_bautin_on_hopf_curve():
    # z' = (b1 + i) z + b2 z |z|^2 - z |z|^4: Hopf at b1 = 0, l1 = 2 b2; Bautin at b2 = 0
    pr = bautin_problem()
    br = continue_equilibria(pr, ContinuationOptions(ds=0.05, ds_max=0.1, p_max=0.5))
    (h,) = br.points("H")
    assert abs(h.data["l1"] + 2.0) < 1e-6
    hc = continue_hopf(br, h, "b2", ContinuationOptions(ds=0.05, ds_max=0.2,
                                                        bounds={"b2": (-2.0, 1.0)},
                                                        max_steps=200))
    (gh,) = hc.points("GH")
    assert gh.located
    np.testing.assert_allclose(gh.params, [0.0, 0.0], atol=1e-7)  # l1 by FD: 1e-7
    # l1 changes sign along the curve: 2 b2 (1e-5)
    l1 = hc.extra["GH"]
    assert np.max(np.abs(l1 - 2 * hc.params[:, 1])) < 1e-5
    assert l1[0] < 0 < l1[-1]


def test_brusselator_hopf_curve_matches_formula():
    def f(x, p):
        return np.array([p[0] - (p[1] + 1) * x[0] + x[0] ** 2 * x[1],
                         p[1] * x[0] - x[0] ** 2 * x[1]])
    pr = ODEProblem(f, [1.0, 0.5], [1.0, 0.5], param="b", param_names=("a", "b"))
    br = continue_equilibria(pr, ContinuationOptions(ds=0.1, ds_max=0.5, p_max=4))
    hc = continue_hopf(br, br.points("H")[0], "a", ContinuationOptions(ds=0.05, ds_max=0.2,
                                                       bounds={"a": (0.5, 3.0)}, p_max=20))
    a, b = hc.params[:, 1], hc.params[:, 0]
    assert np.max(np.abs(b - (1 + a * a))) < 1e-8       # b = 1 + a^2
    assert np.max(np.abs(hc.extra["omega"] - a)) < 1e-8  # omega = a
    assert abs(a[-1] - 3.0) < 1e-12
