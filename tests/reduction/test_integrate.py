"""ODE integrators, SimulationResult output, equilibria and the ``ode`` CLI command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bifsnn.reduction import MarkovModelDef
from bifsnn.reduction.equilibria import find_equilibrium
from bifsnn.reduction.integrate import simulate_map, simulate_ode


def test_explicit_and_stiff_agree(smooth_model):
    # two independent integrators (compiled Dormand-Prince, scipy LSODA with the analytic
    # Jacobian) at rtol 1e-8 must agree on the spike counts to 1e-4 of the peak count per
    # step over 60 ms, which includes the first MFE
    a = simulate_ode(smooth_model, t_ms=60.0, rtol=1e-8, atol=1e-10)
    b = simulate_ode(smooth_model, t_ms=60.0, integrator="stiff", rtol=1e-8, atol=1e-10)
    assert a.options["success"] and b.options["success"]
    assert a.n_steps == b.n_steps == 600
    peak = a.spike_counts_e.max()
    assert peak > 1.0
    np.testing.assert_allclose(a.spike_counts_e, b.spike_counts_e, atol=1e-4 * peak)
    np.testing.assert_allclose(a.extra["final_state"], b.extra["final_state"],
                               atol=1e-4 * np.abs(a.extra["final_state"]).max())


def test_counts_are_integrated_rates(smooth_model):
    # counts per step = integral of f over the step; check against the trapezoid rule on the
    # rate at the recorded step ends.  The rate grows by up to ~25 % per step in this
    # start-up, so the trapezoid error (r dt)^2 / 12 is up to ~0.5 %: tolerance 1 % of the
    # value or of the largest count (the earliest counts, ~1e-40, grow faster still)
    r = simulate_ode(smooth_model, t_ms=8.0, record_every_ms=0.1, rtol=1e-9, atol=1e-11)
    states = r.extra["state"]
    f_end = np.array([smooth_model.firing_rates(s) for s in states])  # rate at step ends
    f_mid = 0.5 * (f_end[1:] + f_end[:-1])  # trapezoid
    counts = r.spike_counts_e[1:]
    np.testing.assert_allclose(counts, f_mid[:, 0] * r.dt_ms, rtol=1e-2,
                               atol=1e-2 * counts.max())


def test_result_fields(smooth_model):
    r = simulate_map(smooth_model, t_ms=20.0, record_every_ms=2.0)
    assert r.model == "map" and r.n_steps == 200 and r.dt_ms == 0.1
    assert r.extra["state"].shape == (10, smooth_model.n_state)
    assert len(r.options["state_names"]) == smooth_model.n_state
    with pytest.raises(ValueError, match="t_ms"):
        simulate_ode(smooth_model, t_ms=-1.0)
    with pytest.raises(ValueError, match="integrator"):
        simulate_ode(smooth_model, t_ms=1.0, integrator="rk4")


def test_bad_initial_state_and_method_rejected_before_work(smooth_model):
    # a NaN / inf initial state would reach the compiled right-hand side, whose bin and
    # table indices are undefined for NaN (a crash, not an exception): refused up front,
    # naming the entry; so are a stiff method scipy would not run with the Jacobian
    x = smooth_model.definition.initial_state()
    x[3] = np.nan
    with pytest.raises(ValueError, match=r"x0\[3\] \(n_E\[3\]\) = nan"):
        simulate_ode(smooth_model, t_ms=1.0, x0=x)
    x[3] = np.inf
    with pytest.raises(ValueError, match="x0 must be finite"):
        simulate_map(smooth_model, t_ms=1.0, x0=x)
    with pytest.raises(ValueError, match="R0"):
        simulate_map(smooth_model, t_ms=1.0, R0=np.array([np.nan, 0.0]))
    with pytest.raises(ValueError, match="method"):
        simulate_ode(smooth_model, t_ms=1.0, integrator="stiff", method="RK45")


def test_kernel_cut_is_a_small_simulation_only_change(smooth_model):
    # kernel_cut_sd = 8.5 is the model's kernel (the generated module's _TCUT); the default
    # cut of the explicit integrator (6 sd) changes the trajectory by ~ its tail mass, far
    # below the integrator's tolerance (benchmarks/README.md, odespeed5), and a cut is
    # refused where it would not apply
    from bifsnn.reduction.integrate import KERNEL_CUT_SD, SIMULATION_KERNEL_CUT_SD

    assert smooth_model.module._TCUT == KERNEL_CUT_SD
    exact = simulate_ode(smooth_model, t_ms=60.0, kernel_cut_sd=KERNEL_CUT_SD)
    assert exact.options["kernel_cut_sd"] == KERNEL_CUT_SD
    cut = simulate_ode(smooth_model, t_ms=60.0)
    assert cut.options["kernel_cut_sd"] == SIMULATION_KERNEL_CUT_SD == 6.0
    same = simulate_ode(smooth_model, t_ms=60.0, kernel_cut_sd=6)
    assert np.array_equal(cut.extra["final_state"], same.extra["final_state"])
    x, y = exact.extra["final_state"], cut.extra["final_state"]
    assert 0.0 < np.abs(x - y).max() <= 1e-7 * np.abs(x).max()
    assert abs(cut.spike_counts_e.sum() / exact.spike_counts_e.sum() - 1.0) <= 1e-8
    stiff = simulate_ode(smooth_model, t_ms=1.0, integrator="stiff")
    assert stiff.options["kernel_cut_sd"] == KERNEL_CUT_SD
    for bad in (4.9, 8.6, float("nan"), "6"):
        with pytest.raises(ValueError, match="kernel_cut_sd"):
            simulate_ode(smooth_model, t_ms=1.0, kernel_cut_sd=bad)
    with pytest.raises(ValueError, match="integrator = 'explicit' only"):
        simulate_ode(smooth_model, t_ms=1.0, integrator="stiff", kernel_cut_sd=6.0)
    slope = MarkovModelDef(closure="slope")
    assert simulate_ode(slope, t_ms=1.0).options["kernel_cut_sd"] == KERNEL_CUT_SD
    with pytest.raises(ValueError, match="paper's transport only"):
        simulate_ode(slope, t_ms=1.0, kernel_cut_sd=6.0)


def test_equilibrium_stable_case():
    # tau_EE = 4 ms: the equilibrium is stable (all eigenvalues in the left half plane); a
    # long ODE run must end on it (rates to 1e-4 relative), and Newton must reach a
    # residual at round-off level
    m = MarkovModelDef().replace(tau_EE=4.0).compile()
    eq = find_equilibrium(m, t_average_ms=300.0, transient_ms=100.0)
    assert eq.success, eq.message
    assert eq.residual < 1e-6
    assert eq.stable
    run = simulate_ode(m, t_ms=1500.0, x0=eq.x + 1e-3 * np.abs(eq.x))
    f_end = m.firing_rates(run.extra["final_state"])
    np.testing.assert_allclose(f_end, [eq.rate_e, eq.rate_i], rtol=1e-4)
    assert 10 < eq.rate_e_hz < 200


def test_equilibrium_default_is_unstable_focus(smooth_model):
    # at the defaults the network oscillates (MFEs): the equilibrium exists but has a
    # complex pair with positive real part
    eq = find_equilibrium(smooth_model, t_average_ms=300.0, transient_ms=100.0)
    assert eq.success, eq.message
    lead = eq.eigenvalues[np.argmax(eq.eigenvalues.real)]
    assert lead.real > 0 and abs(lead.imag) > 0
    assert not eq.stable


def test_equilibrium_reports_failure(smooth_model):
    x0 = smooth_model.definition.initial_state()
    eq = find_equilibrium(smooth_model, x0, max_iter=1)
    assert not eq.success and "iterations" in eq.message


def test_cli_ode(capsys):
    pytest.importorskip("bifsnn.network.observables")
    from bifsnn.cli import main

    assert main(["ode", "--form", "map", "--t-ms", "150", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["rate_e_hz"] > 0
    assert main(["ode", "--t-ms", "150", "--json", "--integrator", "stiff",
                 "--set", "p_EI=0.5"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["rate_e_hz"] > 0


def test_cli_ode_explicit_method(tmp_path, capsys):
    from bifsnn.cli import main
    from bifsnn.network.results import load_result

    rates = {}
    for pair in ("tsit5", "dopri5"):  # the pair chosen is the one run; same solution
        out = tmp_path / pair
        assert main(["ode", "--t-ms", "150", "--json", "--no-plots", "--out", str(out),
                     "--explicit-method", pair]) == 0
        rates[pair] = json.loads(capsys.readouterr().out)["rate_e_hz"]
        assert load_result(out / "result.h5").options["method"] == pair
    assert rates["tsit5"] == pytest.approx(rates["dopri5"], rel=1e-3)
