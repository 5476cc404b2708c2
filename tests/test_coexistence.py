"""Coexistence map (issue 12 item 1) on the Bautin normal form, whose bistable region is known:
z' = (b1 + i) z + b2 z |z|^2 - z |z|^4 has a Hopf line b1 = 0 (subcritical for b2 > 0), a GH
point at (0, 0) and a fold of cycles on b1 = -b2^2 / 4 (b2 > 0); a stable cycle coexists with
the stable equilibrium exactly for -b2^2 / 4 < b1 < 0, b2 > 0."""

import math

import numpy as np
import pytest

from bifsnn.analysis.coexistence import (
    Attractor,
    coexistence_map,
    plot_coexistence_map,
    scipy_integrator,
)
from bifsnn.continuation import Collocation, ODEProblem


def _bautin() -> ODEProblem:
    def f(z, p):
        r2 = z[0] ** 2 + z[1] ** 2
        g = p[0] + p[1] * r2 - r2 ** 2
        return np.array([g * z[0] - z[1], z[0] + g * z[1]])
    return ODEProblem(f, [0.0, 0.0], [-0.1, 0.5], param_names=("b1", "b2"))


@pytest.fixture(scope="module")
def bautin_map():
    return coexistence_map(_bautin(), "b1", "b2", (-0.3, 0.2), (-1.0, 1.0),
                           collocation=Collocation(ntst=20), lines=[-0.04], line_points=16,
                           t_end=300.0, t_window=60.0, raster=120)


def _inside(b1: float, b2: float) -> bool:
    return b2 > 0 and -b2 ** 2 / 4 < b1 < 0


def test_curves_gh_and_lpc_parabola(bautin_map):
    res = bautin_map
    hopf = [c for c in res.curves if c.kind == "H"]
    lpc = [c for c in res.curves if c.kind == "LPC"]
    assert len(hopf) == 1 and len(lpc) == 1
    np.testing.assert_allclose(hopf[0].p1, 0.0, atol=1e-8)  # the Hopf line b1 = 0
    assert hopf[0].p2.min() <= -0.999 and hopf[0].p2.max() >= 0.999
    segs = dict((lab, xy) for lab, xy in hopf[0].segments())
    assert segs["sub"][:, 1].min() >= -1e-6 and segs["super"][:, 1].max() <= 1e-6
    assert len(res.gh) == 1 and res.gh[0][2]
    np.testing.assert_allclose(res.gh[0][:2], [0.0, 0.0], atol=1e-6)
    c = lpc[0]
    ok = np.isfinite(c.period)  # computed rows (a joined GH end has no period)
    assert np.max(np.abs(c.p1[ok] + c.p2[ok] ** 2 / 4)) < 1e-8
    assert c.p2.max() >= 0.999  # followed to the edge of the box


def test_regions_confirmed_by_integration(bautin_map):
    res = bautin_map
    conf = res.confirmed
    assert len(conf) == 1
    s = conf[0].sample
    assert _inside(s.p1, s.p2)
    assert sorted(a.kind for a in s.distinct) == ["cycle", "equilibrium"]
    cyc = next(a for a in s.distinct if a.kind == "cycle")
    r2 = (s.p2 + math.sqrt(s.p2 ** 2 + 4 * s.p1)) / 2  # the stable cycle's radius^2
    assert abs(cyc.amplitude - 2 * math.sqrt(r2)) < 1e-3 * 2 * math.sqrt(r2)
    # every other region: one attractor, reached from every start
    for r in res.regions:
        if r is not conf[0]:
            assert r.status == "single" and not _inside(r.sample.p1, r.sample.p2)
    # the raster region of the confirmed sample lies (up to the raster) inside the parabola
    lab = res.labels == conf[0].label
    B1, B2 = np.meshgrid(np.linspace(-0.3, 0.2, 120), np.linspace(-1, 1, 120))
    inside = (B2 > 0) & (-B2 ** 2 / 4 < B1) & (B1 < 0)
    assert np.mean(inside[lab]) > 0.97 and np.mean(lab[inside]) > 0.8


def test_line_scan_extent_matches_the_parabola(bautin_map):
    line = bautin_map.lines[0]
    crossings = [x for x, k in line.crossings if bautin_map.curves[k].kind == "LPC"]
    # b2 = 2 sqrt(0.04), up to the chord error of the polyline (steps <= 0.1 in b2)
    assert len(crossings) == 1 and abs(crossings[0] - 0.4) < 2e-3
    expect = [v for v in line.values2 if v > 0.4]
    assert line.intervals() == [(float(expect[0]), float(expect[-1]))]
    for v, s in zip(line.values2, line.samples, strict=True):
        assert s.coexistence == (v > 0.4)


def test_plot_and_bad_input(bautin_map, tmp_path):
    plot_coexistence_map(bautin_map, tmp_path / "m")
    assert (tmp_path / "m.png").exists() and (tmp_path / "m.pdf").exists()
    pr = _bautin()
    with pytest.raises(ValueError, match="range1"):
        coexistence_map(pr, "b1", "b2", (0.0, 0.2), (-1, 1))
    with pytest.raises(ValueError, match="param2"):
        coexistence_map(pr, "b1", "b1", (-0.3, 0.2), (-1, 1))
    with pytest.raises(ValueError, match="lines"):
        coexistence_map(pr, "b1", "b2", (-0.3, 0.2), (-1, 1), lines=[0.5])


def test_classify_does_not_call_a_decaying_oscillation_a_cycle():
    from bifsnn.analysis.coexistence import _classify

    t = np.linspace(0, 100, 5001)
    decay = np.c_[np.exp(-0.05 * t) * np.cos(t), np.exp(-0.05 * t) * np.sin(t)]
    a = _classify(t, decay, np.zeros(2), 40.0, 1e-3, "x")
    assert a.kind == "unsettled"
    steady = np.c_[np.cos(t), np.sin(t)]
    assert _classify(t, steady, np.zeros(2), 40.0, 1e-3, "x").kind == "cycle"
    assert isinstance(a, Attractor)
    run = scipy_integrator(_bautin())
    tt, X = run(np.array([0.01, 0.0]), np.array([-0.1, 0.5]), 200.0)
    assert _classify(tt, X, np.zeros(2), 40.0, 1e-3, "x").kind == "equilibrium"
