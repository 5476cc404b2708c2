"""Observables on synthetic signals whose answers are known in closed form."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bifsnn.network import observables as obs
from bifsnn.network.params import NetworkParams
from bifsnn.network.results import SimulationResult

DT = 0.1


def _bumps(n_steps: int, centres: list[int], heights: list[float], width_steps: float = 5.0
           ) -> np.ndarray:
    t = np.arange(n_steps)
    x = np.zeros(n_steps)
    for c, h in zip(centres, heights, strict=True):
        x += h * np.exp(-0.5 * ((t - c) / width_steps) ** 2)
    return x


def _mfe_result(counts_e: np.ndarray, counts_i: np.ndarray, model: str = "synthetic"
                ) -> SimulationResult:
    return SimulationResult(model=model, params=NetworkParams(), dt_ms=DT,
                            spike_counts_e=counts_e, spike_counts_i=counts_i, seed=1)


# --------------------------------------------------------------------------- rates


def test_per_neuron_rate_constant_counts_exact():
    # 3 spikes per 0.1 ms step = 30 spikes/ms over 300 neurons = 100 Hz per neuron.
    # Exact arithmetic up to float rounding (rel 1e-12).
    counts = np.full(5000, 3)
    assert obs.per_neuron_rate_hz(counts, DT, 300) == pytest.approx(100.0, rel=1e-12)


def test_per_neuron_rate_drops_transient():
    # 10 ms of silence then 1 spike/step: with the transient removed the rate is exactly
    # 10 spikes/ms / 100 neurons = 100 Hz; without it, 90 % of that.
    counts = np.concatenate([np.zeros(100), np.ones(900)])
    assert obs.per_neuron_rate_hz(counts, DT, 100, transient_ms=10.0) == pytest.approx(100.0)
    assert obs.per_neuron_rate_hz(counts, DT, 100) == pytest.approx(90.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(spike_counts=np.ones((3, 3)), dt_ms=DT, n_neurons=10), "1-D"),
        (dict(spike_counts=np.ones(10), dt_ms=-0.1, n_neurons=10), "dt_ms"),
        (dict(spike_counts=np.ones(10), dt_ms=DT, n_neurons=0), "n_neurons"),
        (dict(spike_counts=-np.ones(10), dt_ms=DT, n_neurons=10), ">= 0"),
        (dict(spike_counts=np.ones(10), dt_ms=DT, n_neurons=10, transient_ms=1.0),
         "transient_ms"),
        (dict(spike_counts=np.array([1.0, np.nan]), dt_ms=DT, n_neurons=10), "NaN"),
    ],
)
def test_per_neuron_rate_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        obs.per_neuron_rate_hz(**kwargs)


def test_smooth_rate_window_and_edges():
    # Impulse of height 10 at step 50, window 1 ms = 10 steps covering t-5..t+4:
    # the output is 1.0 on steps 46..55 and 0 elsewhere (exact up to rounding).
    x = np.zeros(100)
    x[50] = 10.0
    y = obs.smooth_rate(x, DT)
    expected = np.zeros(100)
    expected[46:56] = 1.0
    np.testing.assert_allclose(y, expected, atol=1e-12)
    # Truncated windows at the edges average over existing steps only: constants stay put.
    np.testing.assert_allclose(obs.smooth_rate(np.full(37, 4.2), DT), 4.2, rtol=1e-12)
    # A ramp is reproduced in the interior, shifted by half a step for an even window.
    ramp = np.arange(200.0)
    np.testing.assert_allclose(obs.smooth_rate(ramp, DT)[5:195], ramp[5:195] - 0.5,
                               atol=1e-9)
    # 2 ms window at dt 0.1 = 20 steps: impulse of 20 gives 1 on 20 steps
    y2 = obs.smooth_rate(np.r_[np.zeros(50), 20.0, np.zeros(49)], DT, window_ms=2.0)
    assert y2.sum() == pytest.approx(20.0) and np.count_nonzero(y2 > 0.5) == 20
    with pytest.raises(ValueError, match="window_ms"):
        obs.smooth_rate(x, DT, window_ms=0.01)


# --------------------------------------------------------------------------- MFE peaks


def test_mfe_peaks_positions_heights_threshold_and_separation():
    n = 2000
    # Peaks at 20, 40, 60 ms (200, 400, 600 steps); one too small (8 < 10 spikes/ms) at
    # 80 ms; two close ones at 100 and 105 ms (5 ms < 9 ms apart: only the higher survives).
    x = _bumps(n, [200, 400, 600, 800, 1000, 1050], [50, 120, 60, 8, 30, 45])
    peaks = obs.mfe_peaks(x, DT)
    np.testing.assert_array_equal(peaks.indices, [200, 400, 600, 1050])
    # Heights are the sampled maxima of well-separated Gaussians (overlap < 1e-6 relative).
    np.testing.assert_allclose(peaks.heights, [50, 120, 60, 45], rtol=1e-6)
    idx, heights = peaks  # NamedTuple unpacking works
    assert idx is peaks.indices and heights is peaks.heights
    # Lowering the separation to 4 ms keeps both close peaks
    assert obs.mfe_peaks(x, DT, min_separation_ms=4.0).indices.size == 5
    assert obs.mfe_peaks(np.zeros(100), DT).indices.size == 0


def test_peak_differences():
    np.testing.assert_allclose(obs.peak_differences([100, 40, 100, 40]), [-60, 60, -60])
    assert obs.peak_differences([5.0]).size == 0


# --------------------------------------------------------------------------- Delta m


def test_delta_m_histogram_two_bands_and_normalisation():
    dm = np.array([-52.0, 52.0] * 10 + [400.0])  # one value out of range
    h = obs.delta_m_histogram(dm)
    assert h.edges.size == 121 and h.fraction.size == 120
    # -52 lies in [-55, -50) (bin 49), +52 in [50, 55) (bin 70); each is 10 of 21 values.
    assert h.fraction[49] == pytest.approx(10 / 21)
    assert h.fraction[70] == pytest.approx(10 / 21)
    assert h.fraction.sum() == pytest.approx(20 / 21)  # out-of-range value not hidden
    assert np.all(obs.delta_m_histogram([]).fraction == 0)


def test_log2_display():
    np.testing.assert_allclose(obs.log2_display([0.0, 1.0, 3.0]), [0.0, 1.0, 2.0])


def test_delta_m_vs_parameter_sorts_and_pools():
    diag = obs.delta_m_vs_parameter(
        [(0.6, [0.0, 0.0]), (0.4, [-52.0, 52.0]), (0.6, [2.0, 100.0])]
    )
    np.testing.assert_allclose(diag.parameter_values, [0.4, 0.6])
    assert diag.fraction.shape == (2, 120)
    np.testing.assert_array_equal(diag.n_values, [2, 4])
    # row 0.6 pools four values: 0, 0, 2 in [0, 5) (bin 60) and 100 in [100, 105) (bin 80)
    assert diag.fraction[1, 60] == pytest.approx(0.75)
    assert diag.fraction[1, 80] == pytest.approx(0.25)
    np.testing.assert_allclose(diag.display, np.log2(1 + diag.fraction))
    with pytest.raises(ValueError, match="empty"):
        obs.delta_m_vs_parameter([])


# --------------------------------------------------------------------------- SSI


def test_ssi_perfect_synchrony_is_one():
    # All N fire in one step, events 50 steps apart: s_t = N, SSI = N * N / N / N = 1.
    counts = np.zeros(500)
    counts[[100, 150, 300]] = 40
    assert obs.ssi(counts, 40) == pytest.approx(1.0, rel=1e-12)


def test_ssi_uniform_firing_matches_hand_count():
    # c spikes in every step of a record of n steps: s_t = c * (number of steps within
    # +-5 of t inside the record), so SSI = c * mean(window sizes) / N exactly.
    c, n, N = 2.0, 100, 400
    sizes = [min(t + 5, n - 1) - max(t - 5, 0) + 1 for t in range(n)]
    expected = c * np.mean(sizes) / N
    assert obs.ssi(np.full(n, c), N) == pytest.approx(expected, rel=1e-12)
    # interior value 11 c / N with the window of half-width 5
    assert 11 * c / N * 0.9 < expected <= 11 * c / N
    assert math.isnan(obs.ssi(np.zeros(10), N))
    with pytest.raises(ValueError, match="half_window_steps"):
        obs.ssi(np.ones(10), N, half_window_steps=-1)


def test_ssi_two_spikes_offset():
    # One spike at t=10 and one at t=13 (within 5 steps): each sees s = 2 -> SSI = 2 / N.
    # Spikes 6 steps apart see only themselves -> SSI = 1 / N.
    a = np.zeros(30)
    a[[10, 13]] = 1
    b = np.zeros(30)
    b[[10, 16]] = 1
    assert obs.ssi(a, 10) == pytest.approx(0.2)
    assert obs.ssi(b, 10) == pytest.approx(0.1)


# --------------------------------------------------------------------------- spectrum


@pytest.mark.parametrize("f0", [40.0, 43.3, 71.0])
def test_spectral_peak_finds_sinusoid(f0):
    t_ms = np.arange(20000) * DT  # 2 s
    rng = np.random.default_rng(3)
    x = 20 + 15 * np.sin(2 * np.pi * f0 * t_ms / 1000) + rng.normal(0, 2, t_ms.size)
    sp = obs.spectral_peak(x, DT)
    assert sp.success
    # Welch resolution with 500 ms segments is 2 Hz; parabolic refinement gets well within
    # half a bin, so 0.5 Hz is a safe bound.
    assert sp.frequency_hz == pytest.approx(f0, abs=0.5)
    assert sp.power > 0


def test_spectral_peak_prefers_fundamental_of_sharp_mfe_comb():
    # 1-step pulses every 20 ms: all harmonics of 50 Hz have equal power, so the highest
    # Welch bin is an arbitrary harmonic; the fundamental rule must report 50 Hz.
    x = np.zeros(20000)
    x[50::200] = 100.0
    sp = obs.spectral_peak(x, DT)
    assert sp.success and sp.frequency_hz == pytest.approx(50.0, abs=0.5)
    raw = obs.spectral_peak(x, DT, fundamental_ratio=2.0)  # ratio > 1: highest bin only
    assert raw.frequency_hz == pytest.approx(raw.max_frequency_hz)
    assert np.isclose(raw.frequency_hz / 50.0, round(raw.frequency_hz / 50.0), atol=0.02)


def test_spectral_peak_near_hint_picks_mfe_rate_not_alternation_line():
    # Big (40 spikes/step) and small (8) 1 ms MFEs alternating every 16 ms: lines at the
    # MFE rate 62.5 Hz and at the alternation 31.25 Hz.  With the hint (what summary passes:
    # 1000 / median MFE interval) the MFE-rate line is reported; 0.5 Hz = 1/4 resolution.
    x = np.zeros(30000)
    for j, start in enumerate(range(100, 29900, 160)):
        x[start:start + 10] = 400.0 if j % 2 == 0 else 80.0
    # the alternation line has ~0.4 of the top power: a permissive subharmonic rule
    # (fundamental_ratio 0.3) would take it; the hint overrides that rule.
    lax = obs.spectral_peak(x, DT, fundamental_ratio=0.3)
    assert lax.frequency_hz == pytest.approx(31.25, abs=0.5)
    sp = obs.spectral_peak(x, DT, near_hz=62.5, fundamental_ratio=0.3)
    assert sp.frequency_hz == pytest.approx(62.5, abs=0.5)
    info = obs.summary(_mfe_result(x * DT, x * DT / 3), transient_ms=100.0)
    assert info["spectral_peak_hz"] == pytest.approx(62.5, abs=0.5)
    assert info["period_ms"] == pytest.approx(16.0, rel=0.01)
    with pytest.raises(ValueError, match="near_hz"):
        obs.spectral_peak(x, DT, near_hz=-3.0)


def test_spectral_peak_constant_signal_reports_failure():
    sp = obs.spectral_peak(np.full(4000, 3.0), DT)
    assert not sp.success and math.isnan(sp.frequency_hz) and "constant" in sp.message


def test_oscillation_period_and_amplitude_of_sinusoid():
    t_ms = np.arange(10000) * DT
    x = 5 + 7 * np.sin(2 * np.pi * t_ms / 25.0)  # 40 Hz, amplitude 7
    osc = obs.oscillation(x, DT)
    assert osc.success
    assert osc.period_ms == pytest.approx(25.0, rel=0.02)  # 0.5 Hz of 40 Hz is ~1.3 %
    # sampled extrema of a 250-step period differ from +-7 by < 7 (1 - cos(pi/250)) ~ 6e-4
    assert osc.amplitude == pytest.approx(7.0, rel=1e-3)
    assert osc.n_cycles >= 38


# --------------------------------------------------------------------------- projections


def test_attractor_projection_names_and_errors():
    counts_e = np.arange(2000) % 7
    res = _mfe_result(counts_e, np.ones(2000))
    res.extra["m_EE"] = np.linspace(0, 1, 2000)
    x, y = obs.attractor_projection(res, "f_E", "m_EE", transient_ms=100.0)
    assert x.size == y.size == 1000
    np.testing.assert_allclose(y, np.linspace(0, 1, 2000)[1000:])
    np.testing.assert_allclose(x, obs.smooth_rate(res.rate_e, DT)[1000:])
    with pytest.raises(ValueError, match="available: f_E, f_I, m_EE"):
        obs.attractor_projection(res, "f_E", "nope")


def test_attractor_projection_reads_recorded_state_and_aligns_grids():
    # Reduced models record the state every 1 ms (10 steps) with options["state_names"].
    n = 3000
    res = _mfe_result(np.full(n, 2.0), np.ones(n), model="ode")
    t_state = np.arange(1, 301) * 1.0
    res.extra["state_t_ms"] = t_state
    res.extra["state"] = np.column_stack([t_state, 2 * t_state])
    res.options["state_names"] = ["m_EE", "m_EI"]
    assert obs.state_variable_names(res) == ["f_E", "f_I", "m_EE", "m_EI"]
    x, y = obs.attractor_projection(res, "m_EE", "m_EI", transient_ms=100.0)
    np.testing.assert_allclose(x, np.arange(101, 301))  # samples with t > 100 ms
    np.testing.assert_allclose(y, 2 * x)
    # a per-step variable is interpolated onto the 1 ms grid: f_E is 20 spikes/ms throughout
    fx, my = obs.attractor_projection(res, "f_E", "m_EE", transient_ms=100.0)
    assert fx.size == my.size == 200
    np.testing.assert_allclose(fx, 20.0, rtol=1e-12)


# --------------------------------------------------------------------------- summary


def _alternating_mfe_counts(n_steps: int = 12000, period_steps: int = 200) -> np.ndarray:
    """Integer E counts: MFEs every 20 ms alternating 120 and 60 spikes over 10 steps
    (12 or 6 per step) on a background of 1 spike every other step."""
    counts = np.zeros(n_steps, dtype=np.int64)
    counts[::2] = 1
    for j, start in enumerate(range(150, n_steps - 20, period_steps)):
        counts[start:start + 10] += 12 if j % 2 == 0 else 6
    return counts


def test_summary_on_alternating_mfes():
    ce = _alternating_mfe_counts()
    ci = (ce // 3).astype(np.int64)
    info = obs.summary(_mfe_result(ce, ci), transient_ms=100.0)
    json.dumps(info, allow_nan=False)  # plain JSON, no NaN
    for key in ("rate_e_hz", "rate_i_hz", "ssi_e", "ssi_i", "spectral_peak_hz",
                "peak_heights", "peak_intervals_ms", "period_ms", "amplitude_e", "n_peaks"):
        assert key in info
    k = 1000
    assert info["rate_e_hz"] == pytest.approx(1000 * ce[k:].sum() / (ce[k:].size * DT) / 300)
    # Smoothed over 10 steps, a 10-step block of 12 (6) on background 0.5 peaks at exactly
    # 12.5 (6.5) + 0 spikes/step -> (12 + 0.5) / 0.1 = 125 or 65 spikes/ms (+- background
    # parity: the 10-step window holds exactly 5 background spikes, so exact).
    heights = np.array(info["peak_heights"])
    assert set(np.round(heights, 6)) == {125.0, 65.0}
    np.testing.assert_allclose(info["peak_intervals_ms"], 20.0, atol=1e-9)
    assert np.all(np.abs(np.abs(np.diff(heights)) - 60.0) < 1e-9)
    assert info["delta_m_abs_mean"] == pytest.approx(60.0)
    # MFEs every 20 ms give the main line at 50 Hz; the height alternation (+-30 around a
    # mean of 95) only adds a weaker 25 Hz line.  0.5 Hz = a quarter of the 2 Hz resolution.
    assert info["spectral_peak_hz"] == pytest.approx(50.0, abs=0.5)
    assert info["n_peaks"] == len(info["peak_heights"]) == len(info["peak_times_ms"])


def test_summary_on_float_expected_counts_and_silence():
    t_ms = (np.arange(5000) + 1) * DT
    ce = 2.0 + 1.5 * np.sin(2 * np.pi * t_ms / 20.0)  # expected counts, 50 Hz rhythm
    info = obs.summary(_mfe_result(ce, ce / 2, model="ode"), transient_ms=100.0)
    assert info["spectral_peak_hz"] == pytest.approx(50.0, abs=0.5)
    assert info["period_ms"] == pytest.approx(20.0, rel=0.01)
    # smoothed amplitude: 1 ms boxcar on a 20 ms sinusoid scales by sinc(1/20) = 0.9959
    assert info["amplitude_e"] == pytest.approx(15 * np.sinc(1 / 20), rel=1e-3)
    # peaks (35 spikes/ms > 10) at t = 105, 125, ..., 485 ms: 20 after the 100 ms transient
    assert info["n_peaks"] == 20
    np.testing.assert_allclose(info["peak_intervals_ms"], 20.0, atol=DT)
    silent = obs.summary(_mfe_result(np.zeros(3000), np.zeros(3000)), transient_ms=100.0)
    assert silent["rate_e_hz"] == 0.0 and silent["ssi_e"] is None
    assert silent["spectral_peak_hz"] is None and silent["n_peaks"] == 0
    json.dumps(silent, allow_nan=False)


def test_summary_rejects_bad_results():
    with pytest.raises(ValueError, match="transient_ms"):
        obs.summary(_mfe_result(np.ones(500), np.ones(500)), transient_ms=100.0)
    with pytest.raises(ValueError, match="differ in length"):
        obs.summary(_mfe_result(np.ones(5000), np.ones(4000)))
    with pytest.raises(TypeError, match="SimulationResult"):
        obs.summary(object())
