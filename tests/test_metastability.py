"""Segmentation, dwell times and switching rates on synthetic telegraph signals."""

import math

import numpy as np
import pytest

from bifsnn.network.metastability import (
    dwell_statistics,
    fit_gaussian_hmm,
    pooled_rates,
    rate_confidence_interval,
    segment_hmm,
    segment_hysteresis,
    segment_runs,
    telegraph_signal,
    two_level_threshold,
    windowed_observables,
)
from bifsnn.network.params import ParameterError


def _noisy_windowed(states, dt_ms, window_ms, noise, seed):
    """Window means of state + Gaussian noise (a stand-in for a windowed observable)."""
    rng = np.random.default_rng(seed)
    x = states + noise * rng.standard_normal(states.size)
    w = int(round(window_ms / dt_ms))
    n = x.size // w
    xm = x[: n * w].reshape(n, w).mean(axis=1)
    return xm, (np.arange(n) + 0.5) * window_ms


def test_telegraph_rates_recovered_within_ci():
    """Known rates 2/s (0 -> 1) and 5/s (1 -> 0), mean dwells 500 and 200 ms, resolution
    5 ms, 20 seeds of 100 s: the 95 % intervals cover the true rates in >= 34 of 40 cases
    (expected 38; P(< 34) ~ 0.5 % for exact intervals); mean estimates as predicted."""
    r01, r10 = 2.0, 5.0
    covered, est0, est1 = 0, [], []
    for seed in range(20):
        s = telegraph_signal(r01, r10, t_ms=100_000.0, dt_ms=1.0, seed=seed)
        xm, t = _noisy_windowed(s, 1.0, 5.0, noise=0.3, seed=100 + seed)
        thr = two_level_threshold(xm)
        assert abs(thr - 0.5) < 0.1
        st = dwell_statistics(segment_hysteresis(xm, t, thr - 0.2, thr + 0.2))
        assert st.resolution_ms == pytest.approx(5.0)
        lo0, hi0 = st.states[0].rate_ci_per_s
        lo1, hi1 = st.states[1].rate_ci_per_s
        covered += (lo0 <= r01 <= hi0) + (lo1 <= r10 <= hi1)
        est0.append(st.states[0].rate_per_s)
        est1.append(st.states[1].rate_per_s)
        # about 140 exits from state 0 in 100 s: an interval tens of percent wide, not more
        assert 0.2 < (hi0 - lo0) / r01 < 0.8
        assert st.occupancy[1] == pytest.approx(r01 / (r01 + r10), abs=0.06)
        assert st.states[1].ks_pvalue > 1e-3  # exponential dwells
    assert covered >= 34
    # dwells shorter than ~1.5 windows are missed and merge their neighbours, which biases
    # the other state's exit rate low by about (its partner's rate) x 1.5 x resolution:
    # 5/s x 7.5 ms = 3.7 % for state 0, 1.5 % for state 1
    assert np.mean(est0) == pytest.approx(r01 * (1 - 0.037), rel=0.03)
    assert np.mean(est1) == pytest.approx(r10 * (1 - 0.015), rel=0.03)


def test_exact_counts_without_noise():
    """A clean signal: exits and exposure are counted exactly, first/last dwells censored."""
    s = np.array([0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1], dtype=float)
    t = np.arange(s.size) * 10.0
    st = dwell_statistics(segment_hysteresis(s, t, 0.4, 0.6))
    d0, d1 = st.states[0], st.states[1]
    assert d0.n_exits == 2 and d0.exposure_ms == pytest.approx(70.0)
    assert d1.n_exits == 1 and d1.exposure_ms == pytest.approx(50.0)
    np.testing.assert_allclose(d0.dwells_ms, [40.0])
    np.testing.assert_allclose(d1.dwells_ms, [20.0])
    assert d0.rate_per_s == pytest.approx(1000 * 2 / 70.0)


def test_pooled_rates_add_exits_and_exposures():
    s = np.array([0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1], dtype=float)
    st = dwell_statistics(segment_hysteresis(s, np.arange(s.size) * 10.0, 0.4, 0.6))
    pooled = pooled_rates([st, st])
    assert pooled[0]["n_exits"] == 4 and pooled[0]["exposure_ms"] == pytest.approx(140.0)
    assert pooled[0]["rate_per_s"] == pytest.approx(st.states[0].rate_per_s)
    lo, hi = pooled[0]["rate_ci_per_s"]
    assert st.states[0].rate_ci_per_s[0] < lo < hi < st.states[0].rate_ci_per_s[1]


def test_hysteresis_ignores_excursions_inside_the_band():
    x = np.array([0.0, 0.55, 0.45, 0.9, 0.5, 0.35, 0.6, 0.1])
    seg = segment_hysteresis(x, np.arange(x.size, dtype=float), 0.4, 0.7)
    np.testing.assert_array_equal(seg.states, [0, 0, 0, 1, 1, 0, 0, 0])
    np.testing.assert_allclose(seg.switch_times_ms, [3.0, 5.0])


def test_undecided_start_and_resolution_limit():
    """Samples before the first decision are -1; dwells shorter than the window vanish."""
    seg = segment_hysteresis([0.5, 0.5, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0], 0.2, 0.8)
    np.testing.assert_array_equal(seg.states, [-1, -1, 1, 0])
    s = telegraph_signal(50.0, 50.0, t_ms=20_000.0, dt_ms=1.0, seed=3)  # mean dwell 20 ms
    xm, t = _noisy_windowed(s, 1.0, 40.0, noise=0.0, seed=0)
    st = dwell_statistics(segment_hysteresis(xm, t, 0.3, 0.7))
    # windows of 40 ms cannot resolve 20 ms dwells: the rate is far below the true one
    assert st.states[0].rate_ci_per_s[1] < 50.0


def test_rate_ci_properties():
    lo, hi = rate_confidence_interval(0, 1000.0)
    assert lo == 0.0 and hi == pytest.approx(-math.log(0.025) / 1000.0, rel=1e-6)
    lo, hi = rate_confidence_interval(100, 1000.0)
    assert lo < 0.1 < hi


def test_windowed_observables_tell_synchrony_from_asynchrony():
    """Synthetic counts: 1 s of periodic MFEs (40 Hz) then 1 s of Poisson firing."""
    rng = np.random.default_rng(1)
    dt, n_e = 0.1, 300
    sync = np.zeros(10_000)
    sync[::250] = 150  # an MFE of 150 spikes every 25 ms
    sync += rng.poisson(0.3, sync.size)
    asyn = rng.poisson(0.3 + 150 / 250, 10_000)
    w = windowed_observables(np.concatenate([sync, asyn]), dt, n_e, window_ms=100.0,
                            min_peak_height=30.0)
    assert w.t_ms.size == 20 and w.step_ms == pytest.approx(100.0)
    assert np.all(w.ssi[:10] > 3 * w.ssi[10:].max())
    # an MFE of 150 spikes in one step: 1500 spikes/ms over 1 ms = 500 Hz per neuron
    np.testing.assert_allclose(w.max_rate_hz[1:10], 500.0 + 10.0, atol=25.0)  # [0]: edge
    assert np.all(w.max_rate_hz[10:] < 100.0)
    assert np.all(w.band_power[:10] > 10 * w.band_power[10:].max())
    assert np.mean(w.band_power[10:]) == pytest.approx(1.0, abs=0.3)  # the Poisson level
    assert np.all(np.isnan(w.alternation[10:]))  # no MFE peaks in the asynchronous part
    np.testing.assert_allclose(w.alternation[1:9], 0.0, atol=0.05)
    np.testing.assert_allclose(w.rate_hz[10:], 1000 * 0.9 / dt / n_e, rtol=0.1)


def test_bad_inputs_raise():
    with pytest.raises(ParameterError, match="window_ms"):
        windowed_observables(np.ones(100), 0.1, 10, window_ms=1e6)
    with pytest.raises(ParameterError, match="low"):
        segment_hysteresis([0.0, 1.0], [0.0, 1.0], 0.8, 0.2)
    with pytest.raises(ParameterError, match="confidence"):
        dwell_statistics(segment_hysteresis([0.0, 1.0], [0.0, 1.0], 0.2, 0.8), confidence=1.5)
    with pytest.raises(ParameterError, match="rate01_per_s"):
        telegraph_signal(-1.0, 1.0, 10.0, 1.0)


def _telegraph_runs(noise, n_runs=6, t_ms=100_000.0, window_ms=5.0, r01=2.0, r10=5.0):
    runs = {}
    for seed in range(n_runs):
        s = telegraph_signal(r01, r10, t_ms=t_ms, dt_ms=1.0, seed=seed)
        xm, t = _noisy_windowed(s, 1.0, window_ms, noise=noise, seed=100 + seed)
        runs[seed] = (t, xm)
    return runs


@pytest.mark.parametrize("noise", [0.3, 1.5])
def test_hmm_recovers_telegraph_rates(noise):
    """Known rates 2/s and 5/s, 6 runs of 100 s in 5 ms windows (about 850 switches each
    way, 3.4 % standard error).  The HMM's transition-matrix rates are within 12 % of the
    truth at low and high noise; its Viterbi dwells give 95 % intervals that cover the truth
    up to the resolution bias (dwells < 1.5 windows missed: about 4 %; at the high noise the
    Viterbi path also smooths out short true dwells: up to 25 %).  The threshold
    segmentation is as good at low noise and fails at the high noise (window noise sd 0.67
    against a level gap of 1: crossings every few windows)."""
    runs = _telegraph_runs(noise)
    hmm = segment_runs(runs, resolution_ms=5.0, method="hmm", seed=0)
    thr = segment_runs(runs, resolution_ms=5.0, method="threshold")
    assert hmm.hmm.converged and hmm.hmm.n_states == 2
    np.testing.assert_allclose(hmm.hmm.means, [0.0, 1.0], atol=0.05)
    np.testing.assert_allclose(hmm.hmm.rates_per_s(), [2.0, 5.0], rtol=0.12)
    p_h, p_t = hmm.pooled(list(runs)), thr.pooled(list(runs))
    bias = 0.05 if noise < 1 else 0.25
    for state, true in ((0, 2.0), (1, 5.0)):
        lo, hi = p_h[state]["rate_ci_per_s"]
        assert lo <= true <= hi * (1 + bias), (state, lo, hi)
        lo, hi = p_t[state]["rate_ci_per_s"]
        if noise < 1:
            assert lo <= true <= hi * (1 + bias), (state, lo, hi)
        else:
            assert lo > 3 * true  # false crossings: rates several times too high
    for s in hmm.segmentations.values():
        assert s.method == "hmm" and s.resolution_ms == 5.0


def test_hmm_is_seeded_and_finds_three_states():
    """Three levels: a 3-state fit orders the states by mean and recovers the levels; the
    same seed gives the same fit."""
    rng = np.random.default_rng(5)
    path = np.repeat(rng.integers(0, 3, 400), 25)
    x = np.array([0.0, 2.0, 5.0])[path] + 0.3 * rng.standard_normal(path.size)
    a = fit_gaussian_hmm(x, step_ms=1.0, n_states=3, seed=7)
    b = fit_gaussian_hmm(x, step_ms=1.0, n_states=3, seed=7)
    np.testing.assert_allclose(a.means, [0.0, 2.0, 5.0], atol=0.05)
    np.testing.assert_array_equal(a.transition, b.transition)
    np.testing.assert_allclose(a.variances, 0.09, rtol=0.15)
    # the Viterbi path is the generating one except near a few switches
    assert np.mean(a.viterbi(x) == path) > 0.99
    # dwell statistics count all three states
    st = dwell_statistics(segment_hmm(x, np.arange(x.size, dtype=float), a))
    assert set(st.states) == {0, 1, 2}
    np.testing.assert_allclose(a.posterior(x).sum(axis=1), 1.0)


def test_hmm_bad_inputs_raise():
    with pytest.raises(ParameterError, match="n_states"):
        fit_gaussian_hmm([0.0, 1.0, 0.0], step_ms=1.0, n_states=1)
    with pytest.raises(ParameterError, match="distinct"):
        fit_gaussian_hmm(np.zeros(10), step_ms=1.0)
    with pytest.raises(ParameterError, match="method"):
        segment_runs({0: ([0.0, 1.0], [0.0, 1.0])}, resolution_ms=1.0, method="kmeans")
