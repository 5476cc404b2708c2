"""Events, record functions and progress on LPC / PD curves of cycles (issue 9 item 5), and
the LPC curve's block-elimination Newton solves against one LU of the whole matrix."""

import numpy as np
import pytest
from cont_models import bautin_problem

from bifsnn.continuation import ContinuationOptions
from bifsnn.continuation.periodic import (
    CYCLE_DEFAULTS,
    Collocation,
    codim2_cycles,
    continue_cycles_from_orbit,
    continue_lpc,
    continue_pd,
    cycle_from_hopf,
    cycle_from_simulation,
)
from bifsnn.continuation.periodic.examples import bautin_2p, rossler_3p


@pytest.fixture(scope="module")
def bautin_branch():
    """Cycles of the Bautin normal form (beta2 = 1) through their fold at beta1 = -1/4."""
    s = bautin_2p(0.0, 1.0)
    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, np.array([1.0, -1.0j]), ntst=20)
    return continue_cycles_from_orbit(
        s, start, ContinuationOptions(**{**CYCLE_DEFAULTS, "ds": 0.05, "max_steps": 80,
                                         "p_min": -0.5, "p_max": 0.5}), Collocation(ntst=20))


def _r2(cyc, p):
    """Squared radius of the cycle (the largest over its nodes)."""
    return float(np.max(np.sum(cyc.U ** 2, axis=1)))


def test_lpc_curve_events_record_and_progress(bautin_branch):
    # exact curve beta1 = -beta2^2/4 with r^2 = beta2/2: UZ at beta2 = 1.5 and at
    # r^2 = 0.8 (beta2 = 1.6) located on it, r^2 recorded at every row
    steps = []
    o = ContinuationOptions(ds=0.05, ds_min=1e-6, ds_max=0.2, max_steps=30,
                            bounds={1: (0.5, 2.0)}, record={"r2": _r2},
                            events={"param2": 1.5, "r2": 0.8}, progress=steps.append)
    cur = continue_lpc(bautin_branch, bautin_branch.points("LPC")[0], 1, o)
    assert cur.success, cur.message
    uz = cur.points("UZ")
    assert [u.data["event"] for u in uz] == ["param2", "r2"]
    assert all(u.located for u in uz)
    b1, b2 = uz[0].params
    assert b2 == pytest.approx(1.5, abs=1e-8) and b1 == pytest.approx(-1.5 ** 2 / 4, abs=1e-7)
    b1, b2 = uz[1].params
    assert b2 == pytest.approx(1.6, abs=1e-6) and b1 == pytest.approx(-1.6 ** 2 / 4, abs=1e-6)
    p2 = cur.params[:, 1]
    assert np.abs(cur.extra["r2"] - p2 / 2).max() < 1e-6
    # one progress report per accepted step, with the curve's parameters, period, amplitude
    assert len(steps) == len(cur) - 1 - len(uz)
    assert {s["kind"] for s in steps} == {"LPC"}
    last = steps[-1]
    assert last["params"] == pytest.approx(tuple(cur.params[-1]), abs=1e-12)
    assert last["period"] == pytest.approx(cur.extra["period"][-1], rel=1e-12)
    assert last["points"] == len(cur)
    # stop at the first event
    stop = continue_lpc(bautin_branch, bautin_branch.points("LPC")[0], 1,
                        o.with_(stop_at_events=True, progress=False))
    assert len(stop) < len(cur) and "event param2 = 1.5" in stop.message
    assert stop.points("UZ")[0].params[1] == pytest.approx(1.5, abs=1e-8)
    # a progress function that raises StopIteration ends the curve there, with its points

    def enough(info):
        if info["step"] >= 4:
            raise StopIteration

    short = continue_lpc(bautin_branch, bautin_branch.points("LPC")[0], 1,
                         o.with_(progress=enough, events={}))
    assert short.status == "stopped" and short.success and len(short) == 5
    assert "progress function" in short.message


def test_lpc_block_elimination_matches_full_lu(bautin_branch, monkeypatch):
    o = ContinuationOptions(ds=0.05, ds_min=1e-6, ds_max=0.2, max_steps=12,
                            bounds={1: (0.5, 2.0)})
    lpc = bautin_branch.points("LPC")[0]
    fast = continue_lpc(bautin_branch, lpc, 1, o)
    monkeypatch.setattr(codim2_cycles, "BLOCK_ELIMINATION", False)
    full = continue_lpc(bautin_branch, lpc, 1, o)
    assert len(fast) == len(full)
    assert np.abs(fast.params - full.params).max() < 1e-9


def test_block_elimination_solve_against_dense():
    # the bordered Newton matrix [[R_x, R_y], [Q_x, Q_y]] with R_x singular (the LPC
    # situation), solved through the LU of [[R_x, b], [c^T, 0]]
    import scipy.sparse as sp

    from bifsnn.continuation.linalg import sparse_lu

    rng = np.random.default_rng(3)
    m = 30
    Rx = rng.standard_normal((m, m))
    u, s, vt = np.linalg.svd(Rx)
    s[-1] = 0.0
    Rx = (u * s) @ vt
    D = np.hstack([Rx, rng.standard_normal((m, 2))])
    D = np.vstack([D, rng.standard_normal((1, m + 2))])
    c = rng.standard_normal(m + 2)
    B = np.block([[Rx, u[:, -1:]], [vt[-1:], np.zeros((1, 1))]])
    solver = codim2_cycles._BlockEliminationSolve(sp.csc_matrix(D), c,
                                                  sparse_lu(sp.csc_matrix(B)), m)
    rhs = rng.standard_normal(m + 2)
    N = np.vstack([D, c[None, :]])
    assert np.allclose(solver.solve(rhs), np.linalg.solve(N, rhs), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="trans"):
        solver.solve(rhs, trans="T")


def test_pd_curve_events_and_progress():
    # Roessler's PD curve in (c, b): a UZ at b = 0.21 located on the curve (between its
    # neighbouring rows, cycle equations and PD test solved); progress reports carry the kind
    s = rossler_3p(0.2, 0.2, 2.5)
    sol = cycle_from_simulation(s, np.array([1.0, 1.0, 0.0]), 2.5, t_transient=300,
                                t_record=50, ntst=40, ncol=4)
    br = continue_cycles_from_orbit(
        s, sol, ContinuationOptions(**{**CYCLE_DEFAULTS, "ds": 0.1, "max_steps": 40,
                                       "p_max": 3.0}), Collocation(ntst=40))
    steps = []
    cur = continue_pd(br, br.points("PD")[0], 1, ContinuationOptions(
        ds=0.02, ds_min=1e-6, ds_max=0.2, max_steps=4, bounds={1: (0.1, 0.4)},
        events={"param2": 0.21}, progress=steps.append))
    uz = cur.points("UZ")
    assert len(uz) == 1 and uz[0].located
    assert uz[0].params[1] == pytest.approx(0.21, abs=1e-9)
    assert uz[0].data["residual"] < 1e-8  # a point of the PD curve (cycle equations and g)
    k = uz[0].index
    assert min(cur.params[k - 1, 0], cur.params[k + 1, 0]) < uz[0].params[0] < max(
        cur.params[k - 1, 0], cur.params[k + 1, 0])
    assert steps and {s_["kind"] for s_ in steps} == {"PD"}


def test_gh_switch_stops_the_cycles_after_the_first_fold():
    # Bautin normal form with b2 as the Hopf curve's second parameter: cycle steps so small
    # that the fold needs several chunks of 25 steps; the cycle run stops after the chunk
    # with the fold (not at max_steps = 400), and the LPC curve is the exact parabola
    from bifsnn.continuation import continue_equilibria, continue_hopf
    from bifsnn.continuation.periodic import continue_lpc_from_gh

    pr = bautin_problem()
    br = continue_equilibria(pr, ContinuationOptions(ds=0.05, ds_max=0.1, p_max=0.5))
    hc = continue_hopf(br, br.points("H")[0], "b2", ContinuationOptions(
        ds=0.05, ds_max=0.2, bounds={"b2": (-2.0, 1.0)}, max_steps=200))
    seen = []
    cyc = ContinuationOptions(ds=0.002, ds_max=0.004, max_steps=400,
                              progress=lambda d: seen.append(d["kind"]))
    lc = continue_lpc_from_gh(hc, hc.points("GH")[0], ContinuationOptions(
        ds=0.02, ds_max=0.1, max_steps=10, bounds={"b2": (0.05, 0.6)}), Collocation(ntst=20),
        cycle_options=cyc)
    n_cycle_steps = seen.count("PO")
    assert 25 < n_cycle_steps < 400 and n_cycle_steps % 25 == 0  # whole chunks, then stopped
    b1, b2 = lc.params[:, 0], lc.params[:, 1]
    assert len(lc) > 5 and np.max(np.abs(b1 + b2 ** 2 / 4)) < 1e-10
