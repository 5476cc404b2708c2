"""End-to-end network analysis: reduced ODE continued in p_EI and checked against the SNN."""

import json

import numpy as np
import pytest

from bifsnn import NetworkParams, ParameterError
from bifsnn.analysis import analyse_network
from bifsnn.cli import main


@pytest.fixture(scope="module")
def analysis():
    return analyse_network(NetworkParams(), "p_EI", (0.55, 0.85), n_verify=2, t_ms=600.0,
                           transient_ms=100.0, with_cycles=False, log=None)


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


def test_verification_agrees_where_the_reduction_is_good(analysis):
    """At p_EI = 0.55 and 0.85 the SNN, the Markov model and the ODE agree in E rate to 15 %
    (the reduction's error there is ~5 %, SNN seed spread over 0.5 s ~3 %)."""
    assert [round(v.value, 6) for v in analysis.verification] == [0.55, 0.85]
    for v in analysis.verification:
        assert v.markov["rate_e_hz"] == pytest.approx(v.snn["rate_e_hz"], rel=0.15)
        assert v.ode["rate_e_hz"] == pytest.approx(v.snn["rate_e_hz"], rel=0.15)
        assert "equilibrium_stable" in v.predicted


def test_report_and_files(analysis, tmp_path):
    out = analysis.save(tmp_path / "a")
    data = json.loads((out / "analysis.json").read_text())
    assert data["param"] == "p_EI" and len(data["verification"]) == 2
    assert any(sp["type"] == "H" for sp in data["special_points"])
    assert "| H |" in (out / "report.md").read_text()
    assert (out / "bifurcation_diagram.png").stat().st_size > 10_000


@pytest.mark.parametrize("kwargs, name", [
    (dict(param="M"), "param"),
    (dict(param="p_EI", p_range=(0.9, 0.5)), "p_range"),
    (dict(param="p_EI", p_range=(0.5, 1.5)), "p_EI"),
    (dict(param="p_EI", n_verify=-1), "n_verify"),
])
def test_bad_input_rejected_before_work(kwargs, name):
    with pytest.raises(ParameterError, match=name):
        analyse_network(NetworkParams(), log=None, **kwargs)


def test_cli_analyse_bad_range_exits_2(capsys):
    assert main(["analyse", "--range", "0.5", "1.5", "--quiet"]) == 2
    assert "p_EI" in capsys.readouterr().err


def test_equilibrium_rates_along_branch_use_each_points_parameter():
    """Along tau_EE the firing fraction depends on the parameter itself: the branch's rates
    must match a fresh equilibrium solve at that value to 1e-6 relative."""
    from bifsnn.reduction import MarkovModelDef, find_equilibrium

    a = analyse_network(NetworkParams(), "tau_EE", (2.8, 3.4), n_verify=0, with_cycles=False,
                        log=None)
    br, rates = a.equilibria[0], a.rates_along[0]
    j = len(br) - 1
    value = float(br.param_values[j])
    eq = find_equilibrium(MarkovModelDef(NetworkParams(tau_EE=value),
                                         bin_rule="smooth").compile())
    assert eq.success and eq.stable
    assert rates[j][0] == pytest.approx(eq.rate_e, rel=1e-6)
