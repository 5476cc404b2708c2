"""bifsnn.analysis.regime_map (the regime map's library) and a smoke test of the script
analyses/network_regime_map.py on tiny grids.

The script is not a package module, so it is loaded from its path.  Reference values of the
reduced ODE at the defaults (Hopf points of the p_EI branch at tau_EE = 1.4 ms: p_EI =
0.5005, 0.7045, 0.7285, 0.9596) come from the continuation run recorded in
figures/network_regime_map.md.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from bifsnn.analysis import regime_map as rm
from bifsnn.continuation import ContinuationOptions, ODEProblem, continue_equilibria
from bifsnn.continuation.grid import EquilibriumGrid
from bifsnn.network.params import NetworkParams
from bifsnn.reduction import network_problem

SCRIPT = Path(__file__).resolve().parent.parent / "analyses" / "network_regime_map.py"


@pytest.fixture(scope="module")
def nrm():
    spec = importlib.util.spec_from_file_location("network_regime_map", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["network_regime_map"] = mod  # dataclasses resolve annotations through it
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop("network_regime_map", None)


@pytest.fixture(scope="module")
def start():
    return network_problem(NetworkParams(), "p_EI")


def _curve(p, tau, omega):
    n = len(p)
    return rm.Curve("H", float(p[0]), np.asarray(p, float), np.asarray(tau, float),
                     np.full(n, omega), np.full(n, -1.0), ["test"], True)


def test_crossings_and_duplicate_detection():
    # a curve that crosses tau = 1.4 twice: tau = 1.6 - 20 (p - 0.7)^2 sampled at 4 points
    p = np.array([0.55, 0.65, 0.75, 0.85])
    c = _curve(p, 1.6 - 20 * (p - 0.7) ** 2, 0.5)
    xs = c.crossings(1.4)
    assert len(xs) == 2
    # linear interpolation on the chords: tau 1.15 -> 1.55 crosses 1.4 at 0.625 of the way
    # (exact values 0.6125 and 0.7875; tolerance: round-off)
    assert [x[0] for x in xs] == pytest.approx([0.6125, 0.7875], abs=1e-12)
    assert c.crossings(1.7) == []
    # same point and frequency -> found; other frequency (> 2 %) or other p_EI -> not found
    assert rm._already_on([c], "H", 0.79, 0.505, 1.4) == 0
    assert rm._already_on([c], "H", 0.7875, 0.6, 1.4) is None
    assert rm._already_on([c], "H", 0.70, 0.5, 1.4) is None
    assert rm._already_on([c], "LP", 0.7875, 0.5, 1.4) is None


def test_compare_counts_cells():
    xr = pytest.importorskip("xarray")
    p, tau = [0.4, 0.6, 0.8], [1.0, 2.0]
    lab = np.empty((3, 2, 2), dtype=object)  # (p_EI, tau_EE, seed)
    lab[...] = "asynchronous"
    lab[1, 0, :] = "regular-MFE"         # oscillating, ODE unstable -> agree
    lab[2, 0, :] = ["irregular", "alternating-MFE"]  # oscillating (both seeds), ODE stable
    lab[0, 1, :] = ["asynchronous", "regular-MFE"]   # seed split; majority tie -> async
    ds = xr.Dataset({"regime": (("p_EI", "tau_EE", "seed"), lab)},
                    coords={"p_EI": p, "tau_EE": tau, "seed": [0, 1]})
    nu = np.array([[0, 2, 0], [0, 2, -1]])  # [tau, p]; -1 = Newton failed
    grid = EquilibriumGrid(("p_EI", "tau_EE"), np.array(p), np.array(tau), nu,
                           np.zeros((2, 3), complex), np.zeros((2, 3)), np.zeros((2, 3, 1)),
                           False, "test")
    cmp = rm.compare(ds, grid)
    assert cmp["table"] == {"SNN osc & ODE unstable": 1, "SNN async & ODE stable": 2,
                            "SNN osc & ODE stable": 1, "SNN async & ODE unstable": 1,
                            "ODE equilibrium not found": 1}
    assert cmp["agree"] == 3 and cmp["n_valid"] == 5
    assert cmp["seed_split_cells"] == 1
    assert sum(cmp["run_counts"].values()) == 12
    row0 = cmp["rows"][0]  # tau = 1.0: A R I -> switches at 0.5 only; ODE 0 2 0 -> 0.5, 0.7
    assert row0["snn_switch"] == pytest.approx([0.5]) and \
        row0["ode_switch"] == pytest.approx([0.5, 0.7])


def test_equilibrium_grid_matches_one_parameter_hopf_points(start):
    """Stability from grid Newton agrees with the Hopf points of the continuation: stable
    below p_EI = 0.5005 and above 0.9596, two unstable eigenvalues at 0.6 and 0.8 (counts are
    integers: exact)."""
    assert start.success, start.message
    g = rm.network_equilibrium_grid(start, "tau_EE", [0.4, 0.6, 0.8, 1.0], [1.4])
    assert g.success, g.message
    assert g.n_unstable[0].tolist() == [0, 2, 2, 0]
    # Newton tolerance 1e-9 (1 + max|x|), max|x| ~ 2e3
    assert np.all(g.residual < 1e-5)


def test_hopf_curve_points_are_hopf_points(start):
    """Short two-parameter curves near tau_EE = 1.4: every stored point has a complex pair
    on the imaginary axis at the curve's omega (|Re| < 1e-6 omega: the Hopf system is solved
    to Newton tolerance 1e-9 on a problem scaled O(1e3))."""
    curves = rm.bifurcation_curves(start, "tau_EE", (0.65, 0.85), (1.3, 1.5), max_steps=3)
    starts = sorted(round(c["value"], 3) for c in curves.one_param if c["type"] == "H")
    assert starts == [0.705, 0.728]  # the two Hopf points of the branch in (0.65, 0.85)
    prob = start.problem
    ip, it = prob.param_index("p_EI"), prob.param_index("tau_EE")
    assert len(curves.curves) == 2
    for c in curves.curves:
        assert len(c.p1) >= 4
        # the joined curve passes through its start point at the base tau_EE
        assert np.min(np.abs(c.p1 - c.start) + np.abs(c.p2 - 1.4)) < 1e-9
        # at both ends: re-solve the equilibrium there (grid Newton), then the eigenvalue
        # nearest i*omega must sit on the imaginary axis at omega
        for k in (0, len(c.p1) - 1):
            g = rm.network_equilibrium_grid(start, "tau_EE", [c.p1[k]], [c.p2[k]])
            assert g.success, g.message
            p = prob.p0.copy()
            p[ip], p[it] = c.p1[k], c.p2[k]
            ev = np.linalg.eigvals(prob.jac_x(g.states[0, 0], p))
            om = abs(c.omega[k])
            lam = ev[np.argmin(np.abs(ev - 1j * om))]
            assert abs(lam.real) < 1e-6 * om
            assert abs(lam.imag - om) < 1e-6 * om


def _hopf_line() -> ODEProblem:
    """x' = (mu - b) x - y - x r^2, y' = x + (mu - b) y - y r^2: Hopf exactly on mu = b with
    omega = 1, supercritical (l1 < 0) everywhere."""
    def f(u, p):
        mu, b = p
        x, y = u
        r2 = x * x + y * y
        return np.array([(mu - b) * x - y - x * r2, x + (mu - b) * y - y * r2])

    return ODEProblem(f, [0.0, 0.0], [-0.5, 0.2], param="mu", param_names=("mu", "b"))


def test_two_parameter_curve_joins_both_directions_on_a_known_line():
    br = continue_equilibria(_hopf_line(), ContinuationOptions(ds=0.05, ds_max=0.1,
                                                              p_min=-1.0, p_max=1.0))
    (h,) = br.points("H")
    assert h.param == pytest.approx(0.2, abs=1e-9)
    opts = ContinuationOptions(ds=0.02, ds_max=0.05, p_min=-1.0, p_max=1.0,
                               bounds={"b": (-0.5, 0.6)}, max_steps=200)
    curve, specials = rm.two_parameter_curve(br, h, "b", opts)
    assert curve.success and len(curve.messages) == 2
    # on the line mu = b (Newton tolerance), from one end of the b box to the other, in order
    assert np.max(np.abs(curve.p1 - curve.p2)) < 1e-8
    assert curve.p2[0] == pytest.approx(-0.5, abs=1e-9)
    assert curve.p2[-1] == pytest.approx(0.6, abs=1e-9)
    assert np.all(np.diff(curve.p2) > 0)
    assert np.allclose(np.abs(curve.omega), 1.0, atol=1e-9) and np.all(curve.l1 < 0)
    assert specials == []
    # the start point appears once, where b = 0.2
    assert np.sum(np.abs(curve.p2 - 0.2) < 1e-12) == 1
    with pytest.raises(ValueError, match="point.type"):
        rm.two_parameter_curve(br, br.special_points[0], "b", opts)  # an EP point


def test_curves_json_round_trip():
    c = _curve([0.5, 0.6], [1.0, np.nan], 0.5)
    bc = rm.BifurcationCurves(("p_EI", "tau_EE"), 1.4, (0.3, 1.0), (1.0, 4.0),
                              [{"type": "H", "value": 0.5}], [c],
                              [rm.Codim2Point("GH", 0.55, 1.2, 0.4, True, 0)], [], True,
                              "ok", 1.0, {"max_steps": 3})
    back = rm.BifurcationCurves.from_json(bc.to_json())
    assert back.params == ("p_EI", "tau_EE") and back.range2 == (1.0, 4.0)
    assert np.array_equal(back.curves[0].p2, c.p2, equal_nan=True)
    assert back.codim2 == bc.codim2 and back.settings == {"max_steps": 3}


def test_network_problem_starts_at_the_equilibrium(start):
    assert start.success and start.param == "p_EI"
    x = start.problem.x0
    assert np.array_equal(x, start.equilibrium.x)
    # find_equilibrium's tolerance: max|f| <= 1e-9 (1 + max|x|)
    assert np.max(np.abs(start.problem.rhs(x, start.problem.p0))) <= 1e-9 * (1 + np.abs(x).max())
    opts = start.options(p_min=0.5, p_max=0.9)
    assert opts.ds == pytest.approx(0.005 * 400) and opts.ds_max == pytest.approx(0.05 * 400)
    with pytest.raises(ValueError, match="param"):
        network_problem(NetworkParams(), "no_such_parameter")


def test_bifurcation_curves_rejects_a_box_without_the_start(start):
    with pytest.raises(ValueError, match="range1"):
        rm.bifurcation_curves(start, "tau_EE", (0.85, 1.0), (1.0, 4.0))
    with pytest.raises(ValueError, match="range2"):
        rm.bifurcation_curves(start, "tau_EE", (0.3, 1.0), (2.0, 4.0))


_MAP = {"curves": [
    {"kind": "H", "p1": [0.7, 0.8], "p2": [1.3, 1.4], "l1": [-1, 1], "period": [None, None],
     "origin": "H", "success": True, "message": "ok"},
    {"kind": "LPC", "p1": [0.72, 0.75, None], "p2": [1.35, 1.45, None], "l1": [None] * 3,
     "period": [10.0, 12.0, None], "origin": "GH (0.72, 1.35)", "success": True,
     "message": "reached a bound"}]}


def test_lpc_curves_from_a_coexistence_map():
    (c,) = rm.lpc_curves(_MAP)
    assert c.kind == "LPC" and c.start == 0.72 and c.success
    np.testing.assert_allclose(c.omega[:2], 2 * np.pi / np.array([10.0, 12.0]))
    assert np.isnan(c.p1[2]) and np.all(np.isnan(c.l1))
    assert "GH (0.72, 1.35)" in c.messages[0]


def test_main_tiny_grid_writes_figure_and_report(nrm, tmp_path, capsys):
    import json

    (tmp_path / "map.json").write_text(json.dumps(_MAP))
    args = ["--n-pei", "2", "--n-tau", "2", "--seeds", "1", "--t-ms", "300",
            "--p-range", "0.7", "0.85", "--tau-range", "1.3", "1.5",
            "--max-curve-steps", "2", "--backend", "serial", "--quiet",
            "--out", str(tmp_path / "out"), "--figures", str(tmp_path / "fig"),
            "--coexistence", str(tmp_path / "map.json")]
    assert nrm.main(args) == 0
    text = (tmp_path / "fig" / "network_regime_map.md").read_text()
    assert "fold-of-cycles (LPC) curves from the Bautin points: 1" in text
    assert "(fold of cycles, from p_EI = 0.7200)" in text
    fig = tmp_path / "fig"
    for ext in ("png", "pdf", "md"):
        assert (fig / f"network_regime_map.{ext}").stat().st_size > 0
    md = (fig / "network_regime_map.md").read_text()
    assert "- p_EI: 2 values 0.700, 0.850" in md
    assert "- tau_EE (ms): 2 values 1.300, 1.500" in md
    assert "sweep: 4 runs, 4 run now" in md
    # regime counts over runs add up to the 4 runs
    rows = [ln for ln in md.splitlines() if ln.startswith("| ") and ln.count("|") == 4
            and ln.split("|")[2].strip().isdigit()]
    assert sum(int(r.split("|")[2]) for r in rows) == 4
    # a hand-written reading survives regeneration; curves come from the cache, runs resume
    md = md.replace("(no hand-written reading yet)", "Hand-written text.")
    (fig / "network_regime_map.md").write_text(md)
    assert nrm.main(args) == 0
    md2 = (fig / "network_regime_map.md").read_text()
    assert "Hand-written text." in md2
    assert "sweep: 4 runs, 0 run now (4 resumed" in md2


@pytest.mark.parametrize("bad, name", [
    (["--n-pei", "0"], "--n-pei"),
    (["--t-ms", "-5"], "--t-ms"),
    (["--t-ms", "100", "--transient-ms", "100"], "--transient-ms"),
    (["--p-range", "0.85", "1.0"], "--p-range"),
    (["--quick", "--t-ms", "50"], "--transient-ms"),
])
def test_cli_rejects_bad_input(nrm, bad, name, capsys):
    with pytest.raises(SystemExit) as exc:
        nrm.main(bad)
    assert exc.value.code == 2
    assert name in capsys.readouterr().err


def test_network_tau_ee_branch_has_no_false_hopf_point():
    """Below tau_EE = 1.4 the unstable complex pair of the network's equilibrium meets on the
    real axis near tau_EE = 1.069 (two real unstable eigenvalues after): no crossing of the
    imaginary axis, so no H there (it used to be printed as an unlocated H)."""
    npb = network_problem(NetworkParams(), "tau_EE")
    br = continue_equilibria(npb.problem, npb.options(p_min=1.0, p_max=4.0, max_steps=400,
                                                      direction=-1))
    assert br.param_values[-1] == pytest.approx(1.0)
    assert [s.type for s in br.special_points] == ["EP", "EP"], br.special_points
    ev = br.eigenvalues[np.argmin(np.abs(br.param_values - 1.0))]
    top = ev[np.argsort(-ev.real)[:2]]
    assert np.all(top.real > 0) and np.all(np.abs(top.imag) < 1e-9)  # two real unstable
    assert np.all(br.n_unstable == 2)
