"""End-to-end network analysis: reduced ODE continued in p_EI and checked against the SNN."""

import json
from dataclasses import replace

import numpy as np
import pytest

from bifsnn import NetworkParams, ParameterError
from bifsnn.analysis import AnalysisOptions, VerifyOptions, analyse_network, default_range
from bifsnn.cli import main

SMALL = AnalysisOptions(n_scan=3, scan_seeds=(0,), t_ms=600.0, cycles="none", workers=1,
                        verify=VerifyOptions(seeds=(0, 1), n_along=1, transient_ms=100.0,
                                             dt_control=False))


@pytest.fixture(scope="module")
def analysis():
    return analyse_network(NetworkParams(), "p_EI", (0.55, 0.85), options=SMALL, log=None)


def test_hopf_points_are_genuine(analysis):
    """Every located Hopf point has a pair of eigenvalues on the imaginary axis (|Re| < 1e-6
    of the largest |lambda|) and no eigenvalue with a larger real part crossing there."""
    assert analysis.success, analysis.message
    hopfs = [sp for br in analysis.equilibria for sp in br.points("H")]
    assert len(hopfs) >= 2
    for sp in hopfs:
        br = next(b for b in analysis.equilibria if sp in b.special_points)
        lam = np.linalg.eigvals(br.problem.jac_x(sp.x, sp.p))
        crit = lam[np.argmin(np.abs(lam.real))]
        assert abs(crit.real) < 1e-6 * np.abs(lam).max()
        assert abs(abs(crit.imag) - sp.data["omega"]) < 1e-6 * sp.data["omega"]
        assert 0.55 <= sp.param <= 0.85


def test_small_job_verdicts(analysis):
    """Between the Hopf points 0.5005 and 0.9596 the equilibrium is unstable: every test value
    predicts an oscillation and the SNN shows one (synchrony ratio > 1.5 from p_EI 0.55 on)."""
    ver = analysis.verification
    assert ver is not None and ver.verdicts
    assert {v.prediction for v in ver.verdicts} == {"oscillation"}
    assert all(v.verdict == "agree" for v in ver.verdicts), ver.summary_line()
    assert ver.boundaries == []  # the H points at 0.70 and 0.73 do not change the attractor


def test_worker_pool_gives_the_serial_result(analysis):
    """With two workers the derivatives are precompiled in the workers and the runs the
    equilibria fix are submitted ahead of the continuation: the verdicts are the serial run's,
    number for number (every run is seeded)."""
    par = analyse_network(NetworkParams(), "p_EI", (0.55, 0.85),
                          options=replace(SMALL, workers=2), log=None)
    assert par.status == analysis.status
    assert par.verification.test_values == analysis.verification.test_values
    assert [(v.value, v.observable, v.statistic, v.verdict) for v in par.verification.verdicts] \
        == [(v.value, v.observable, v.statistic, v.verdict)
            for v in analysis.verification.verdicts]
    assert par.snn_delta_m == analysis.snn_delta_m


def test_report_and_files(analysis, tmp_path):
    out = analysis.save(tmp_path / "a")
    data = json.loads((out / "analysis.json").read_text())
    assert data["param"] == "p_EI" and data["status"] == "completed" and data["success"]
    assert any(sp["type"] == "H" for sp in data["special_points"])
    for key in ("prediction", "observable", "predicted", "observed", "spread", "verdict"):
        assert key in data["verdicts"][0]
    assert len(data["delta_m_diagram"]["values"]) == 3
    text = (out / "report.md").read_text()
    assert "| H |" in text and "predictions agree with the SNN" in text
    # the status line does not repeat a message equal to the status ("completed. completed.")
    assert "**Status: completed.**" in text.splitlines()
    assert (out / "bifurcation_diagram.png").stat().st_size > 10_000


def test_branch_stopped_early_is_not_success():
    """A cycle branch that runs out of steps inside the range: status 'stopped early',
    success False, and the report says so."""
    o = replace(SMALL, cycles="first", cycle_steps=2, n_scan=0,
                verify=replace(SMALL.verify, n_along=0))
    a = analyse_network(NetworkParams(), "p_EI", (0.45, 0.6), options=o, log=None)
    assert a.status == "stopped early" and not a.success
    assert "stopped early" in a.message
    text = a.report_markdown()
    assert "**no**" in text
    # a message that differs from the status follows it once
    head = next(ln for ln in text.splitlines() if ln.startswith("**Status:"))
    assert head == f"**Status: stopped early.** {a.message.rstrip('.')}.", head


def test_unconfirmed_hopf_label_starts_no_cycle(monkeypatch):
    """Along tau_EE below 1.3 the network's unstable complex pair turns real near 1.069: no
    crossing of the imaginary axis, so no H label (it used to be an unlocated H).  An H label
    the engine cannot confirm (here the true Hopf point at 2.593, demoted) is listed as
    unconfirmed, no cycle is continued from it and no boundary is compared with it."""
    import bifsnn.continuation as engine

    o = replace(SMALL, cycles="first", n_scan=0, verify=replace(SMALL.verify, n_along=0))
    a = analyse_network(NetworkParams(), "tau_EE", (1.0, 1.3), options=o, log=None)
    assert [s for s in a.special if s.type == "H"] == [] and a.cycles == []
    real = engine.continue_equilibria  # imported by name inside analyse_network

    def demoted(*args, **kwargs):
        br = real(*args, **kwargs)
        for s in br.points("H"):
            s.located = False
            s.data["unconfirmed"] = "demoted by the test"
            s.message = "unconfirmed: demoted by the test"
        return br

    monkeypatch.setattr(engine, "continue_equilibria", demoted)
    a = analyse_network(NetworkParams(), "tau_EE", (2.4, 2.8), options=o, log=None)
    (h,) = [s for s in a.special if s.type == "H"]
    assert abs(h.value - 2.5933) < 1e-3 and not h.confirmed and h.note
    assert a.cycles == [] and a.cycle_curves == []
    assert a.verification.boundaries == []
    line = next(ln for ln in a.report_markdown().splitlines() if ln.startswith("| H | 2.593"))
    assert "**no**" in line


def test_nothing_verifiable_is_not_a_success():
    """lambda_ext over its default range: the equilibrium is unstable everywhere and has no
    special point, so no prediction can be checked; the status says so plainly."""
    o = replace(SMALL, cycles="first", n_scan=0)
    a = analyse_network(NetworkParams(), "lambda_ext", None, options=o, log=None)
    assert a.special == [] and a.verification.verdicts == []
    assert a.status == "nothing verified" and not a.success
    text = a.report_markdown()
    assert "**Status: nothing verified.**" in text and "no prediction" in text


@pytest.mark.parametrize("kwargs, name", [
    (dict(param="M"), "param"),
    (dict(param="p_EI", p_range=(0.9, 0.5)), "p_range"),
    (dict(param="p_EI", p_range=(0.5, 1.5)), "p_EI"),
    (dict(param="S_EE"), "no default range"),
    (dict(param="p_EI", options=AnalysisOptions(n_scan=-1)), "n_scan"),
    (dict(param="p_EI", options=AnalysisOptions(cycles="some")), "cycles"),
    (dict(param="p_EI", closure="exact"), "closure"),
])
def test_bad_input_rejected_before_work(kwargs, name):
    with pytest.raises(ParameterError, match=name):
        analyse_network(NetworkParams(), log=None, **kwargs)


def test_each_parameter_has_its_own_default_range():
    assert default_range("p_EI") == (0.4, 1.0)
    assert default_range("tau_EE") == (1.0, 4.0)
    with pytest.raises(ParameterError, match="--range"):
        default_range("S_II")


def test_cli_analyse_bad_range_exits_2(capsys):
    assert main(["analyse", "--range", "0.5", "1.5", "--quiet"]) == 2
    assert "p_EI" in capsys.readouterr().err
    assert main(["analyse", "--param", "S_EE", "--quiet"]) == 2
    assert "no default range" in capsys.readouterr().err


def test_cli_analyse_bad_closure_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["analyse", "--closure", "exact", "--quiet"])
    assert exc.value.code == 2 and "--closure" in capsys.readouterr().err


def test_analysis_with_another_closure():
    """closure="coloured-regime" continues that closure's ODE: its last Hopf point of the
    p_EI branch at tau_EE = 1.4 is 0.841 (the paper's closure: 0.9596), and the result,
    report and JSON name the closure."""
    o = replace(SMALL, n_scan=0, verify=replace(SMALL.verify, n_along=0, seeds=(0,)))
    a = analyse_network(NetworkParams(), "p_EI", (0.8, 0.9), closure="coloured-regime",
                        options=o, log=None)
    assert a.success, a.message
    hopfs = [s.value for s in a.special if s.type == "H"]
    assert len(hopfs) == 1 and hopfs[0] == pytest.approx(0.841, abs=2e-3)
    assert a.to_dict()["closure"] == "coloured-regime"
    assert "closure coloured-regime" in a.report_markdown()
    assert a.verification.verdicts  # the SNN runs beside the Hopf point were checked


def test_equilibrium_rates_along_branch_use_each_points_parameter():
    """Along tau_EE the firing fraction depends on the parameter itself: the branch's rates
    must match a fresh equilibrium solve at that value to 1e-6 relative."""
    from bifsnn.reduction import MarkovModelDef, find_equilibrium

    o = replace(SMALL, n_scan=0, verify=replace(SMALL.verify, n_along=0))
    a = analyse_network(NetworkParams(), "tau_EE", (2.8, 3.4), options=o, log=None)
    curve = a.eq_curves[0]
    value = float(curve["p"][-1])
    eq = find_equilibrium(MarkovModelDef(NetworkParams(tau_EE=value),
                                         bin_rule="smooth").compile())
    assert eq.success and eq.stable
    assert curve["rate_e_hz"][-1] == pytest.approx(eq.rate_e_hz, rel=1e-6)


@pytest.mark.slow
def test_main_job_end_to_end(tmp_path):
    """The README's main job with its defaults: equilibria, the cycle from the first Hopf
    point and the period-doubled cycle, 41 Delta m values, verdicts; exit code 0."""
    assert main(["analyse", "--out", str(tmp_path / "p_EI"), "--quiet"]) == 0
    data = json.loads((tmp_path / "p_EI" / "analysis.json").read_text())
    assert data["status"] == "completed"
    labels = [b["label"] for b in data["branches"]]
    assert labels[0] == "equilibria" and labels[1].startswith("cycle from H 0.5")
    assert labels[2].startswith("period-doubled cycle from PD 0.78")
    assert all(b["complete"] for b in data["branches"]), data["message"]
    assert "turned at a fold" in data["branches"][2]["message"]
    assert len(data["delta_m_diagram"]["values"]) >= 41
    kinds = {b["kind"] for b in data["boundaries"]}
    assert {"synchrony_onset", "alternation_onset"} <= kinds
    assert data["verdicts"] and data["summary"]


def test_cycle_target_counts_parameter_path_length_through_folds():
    """A cycle branch that loses stability and folds back (LPC) reaches its target once its
    parameter path length since the loss is 2 side distances, though p never gets that far."""
    from bifsnn.analysis.branches import _past_loss

    p = np.array([0.5, 0.6, 0.78, 0.80, 0.84, 0.82, 0.78])
    stable = np.array([1, 1, 1, 0, 0, 0, 0], bool)
    assert _past_loss(p, stable, 0.08)
    assert not _past_loss(p[:5], stable[:5], 0.08)
    assert not _past_loss(p, np.ones(7, bool), 0.01)


def test_cycle_target_after_a_loss_at_a_fold_is_past_the_next_fold():
    """Stable small cycles that fold (LPC) and return unstable (the tau_EE branch from H 2.593:
    folds at 2.5755 and 3.0238) run past the next fold, however far it is, and then 2 side
    distances: the whole bistable range and the large cycles past it are on the branch."""
    from bifsnn.analysis.branches import _past_loss

    up = [2.5756, 2.5794, 2.593, 2.70, 2.85, 2.95, 3.00, 3.02, 3.0238]
    p = np.array([2.593, 2.589, 2.585, 2.580, *up, 3.0, 2.9, 2.8, 2.7, 2.6])
    stable = np.array([1] * 5 + [0] * 8 + [1] * 5, bool)
    assert not _past_loss(p[:13], stable[:13], 0.4)  # 0.45 past the loss, before the fold
    assert not _past_loss(p[:17], stable[:17], 0.4)  # past the fold by 0.32 only
    assert _past_loss(p, stable, 0.4)  # 0.42 past the fold
    unstable_after = np.array([1] * 5 + [0] * 13, bool)
    assert _past_loss(p, unstable_after, 0.4)
    assert not _past_loss(p[:15], unstable_after[:15], 0.4)


def test_branch_that_folds_and_returns_past_its_start_is_complete():
    """A branch born at p = 0.7868 that goes down, turns at a fold at 0.7828 and comes back
    past 0.7868 covers its side of the start (complete); one still going down, or turned but
    not yet back, is not."""
    from bifsnn.analysis.branches import _turned_back

    p = np.array([0.7868, 0.7860, 0.7840, 0.7828, 0.7835, 0.7860, 0.7875, 0.79])
    assert _turned_back(p) == pytest.approx(0.7828)
    assert _turned_back(p[:6]) is None
    assert _turned_back(np.linspace(0.7868, 0.70, 10)) is None
    assert _turned_back(np.full(5, 0.5)) is None
    assert _turned_back(np.array([0.5, 0.6, 0.7, 0.6, 0.45])) == pytest.approx(0.7)
