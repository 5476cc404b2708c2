"""Regime classifier on synthetic signals with known regimes.

Synthetic E spike-count trains (dt = 0.1 ms, N_E = 300) are built from a Poisson background
plus MFE bumps (Poisson counts with a 0.4 ms Gaussian profile) whose heights and timing follow
the regime; the observables come from ``bifsnn.network.observables.summary`` as in a real sweep.
"""

from __future__ import annotations

import numpy as np
import pytest

from bifsnn.network.params import NetworkParams
from bifsnn.network.results import SimulationResult
from bifsnn.sweeps.classify import (
    DELTA_M_EDGES,
    RegimeThresholds,
    classify_regime,
    delta_m_histogram,
    delta_m_stats,
    ssi_independent,
    synchrony_ratio,
)
from bifsnn.sweeps.runners import derive_observables

DT = 0.1
T_MS = 2000.0


def synthetic_result(kind: str, seed: int) -> SimulationResult:
    """E/I spike counts of a given regime ("asynchronous", "regular", "alternating",
    "irregular")."""
    rng = np.random.default_rng(seed)
    n = int(T_MS / DT)
    # background between MFEs: 2 spikes/ms (the 10 spikes/ms peak threshold is 5.6 sd of
    # its 1 ms average away); asynchronous: 8 spikes/ms, no events
    lam = np.full(n, 0.8 if kind == "asynchronous" else 0.2)
    t = np.arange(n) * DT
    if kind != "asynchronous":
        times, heights = [], []
        tk, k = 30.0, 0
        while tk < T_MS - 10:
            times.append(tk)
            if kind == "regular":
                heights.append(150.0)
                tk += 20.0
            elif kind == "alternating":
                heights.append(200.0 if k % 2 == 0 else 80.0)
                tk += 20.0
            else:  # irregular: independent heights and intervals
                heights.append(rng.uniform(30.0, 250.0))
                tk += rng.uniform(12.0, 35.0)
            k += 1
        for tk, hk in zip(times, heights, strict=True):
            # hk spikes in the bump: per-step mean = hk * dt * Gaussian(0.4 ms) density
            lam += hk * DT * np.exp(-0.5 * ((t - tk) / 0.4) ** 2) / (0.4 * np.sqrt(2 * np.pi))
    ce = rng.poisson(lam).astype(float)
    ci = rng.poisson(lam / 3).astype(float)
    return SimulationResult(model="snn", params=NetworkParams(), dt_ms=DT,
                            spike_counts_e=ce, spike_counts_i=ci, seed=seed)


@pytest.mark.parametrize(
    "kind,label",
    [("asynchronous", "asynchronous"), ("regular", "regular-MFE"),
     ("alternating", "alternating-MFE"), ("irregular", "irregular")],
)
def test_classifier_on_synthetic_trains(kind: str, label: str) -> None:
    # Exact labels for 5 noise realisations each: the regimes are built far from thresholds.
    from bifsnn.network.observables import summary

    for seed in range(5):
        obs = derive_observables(summary(synthetic_result(kind, seed), 100.0),
                                 ("ssi", "delta_m", "regime"), RegimeThresholds())
        assert obs["regime"] == label, (kind, seed, obs)


def test_delta_m_stats_exact_values() -> None:
    # Exact arithmetic on hand-made sequences (tolerance 1e-12: float rounding only).
    s = delta_m_stats([100, 50, 100, 50, 100], [20, 20, 20, 20])
    assert s["n_peaks"] == 5
    assert s["delta_m_sign_alternation"] == 1.0
    assert s["delta_m_band_cv"] == pytest.approx(0.0, abs=1e-12)
    assert s["delta_m_rel"] == pytest.approx(50 / 80, rel=1e-12)
    assert s["interval_cv"] == pytest.approx(0.0, abs=1e-12)
    s = delta_m_stats([10, 20, 30, 40], [1, 2, 3])
    assert s["delta_m_sign_alternation"] == 0.0
    assert s["delta_m_mean"] == pytest.approx(10.0, rel=1e-12)
    empty = delta_m_stats([], [])
    assert empty["n_peaks"] == 0 and np.isnan(empty["delta_m_rel"])


def test_classifier_thresholds_and_edge_cases() -> None:
    regular = {"ssi_e_ratio": 5.0, "peak_heights": [100.0] * 10,
               "peak_intervals_ms": [20.0] * 9}
    assert classify_regime(regular) == "regular-MFE"
    # too few peaks, or no synchrony beyond independent firing, means asynchronous
    assert classify_regime({**regular, "peak_heights": [100.0] * 3}) == "asynchronous"
    assert classify_regime({**regular, "ssi_e_ratio": 1.1}) == "asynchronous"
    assert classify_regime({**regular, "ssi_e_ratio": float("nan")}) == "asynchronous"
    # a stricter threshold changes the decision: documented thresholds are the only knobs
    assert classify_regime(regular, RegimeThresholds(sync_ratio_async=6.0)) == "asynchronous"
    # timing irregular although heights constant -> irregular
    jitter = {**regular, "peak_intervals_ms": [10.0, 30.0] * 4 + [20.0]}
    assert classify_regime(jitter) == "irregular"
    with pytest.raises(ValueError, match="min_peaks"):
        RegimeThresholds(min_peaks=2)
    with pytest.raises(ValueError, match="alt_sign_fraction"):
        RegimeThresholds(alt_sign_fraction=1.5)


def test_synchrony_ratio_is_one_for_independent_poisson_firing() -> None:
    # 300 independent Poisson neurons at 40 Hz for 20 s: ratio 1 within 3 % (the SSI
    # estimate's sampling error at this length is well below 1 %).
    from bifsnn.network.observables import ssi

    rng = np.random.default_rng(3)
    counts = rng.poisson(300 * 40.0 * DT / 1000.0, size=200_000).astype(float)
    assert synchrony_ratio(ssi(counts, 300), 40.0, 300, DT) == pytest.approx(1.0, abs=0.03)
    assert ssi_independent(40.0, 300, DT) == pytest.approx(11 * 1.2 / 300 + 1 / 300, rel=1e-12)
    assert np.isnan(synchrony_ratio(None, 40.0, 300, DT))


def test_delta_m_histogram_fractions() -> None:
    # Delta m = 100, -100, 1000: 1000 lies outside [-300, 300], counts in the denominator only
    # (the project's convention in bifsnn.network.observables); exact fractions up to 1e-12.
    from bifsnn.network.observables import delta_m_histogram as hist_of
    from bifsnn.network.observables import peak_differences

    with pytest.deprecated_call():
        hist = delta_m_histogram([0.0, 100.0, 0.0, 1000.0])
    assert np.array_equal(hist, hist_of(peak_differences([0.0, 100.0, 0.0, 1000.0])).fraction)
    assert hist.shape == (len(DELTA_M_EDGES) - 1,)
    assert hist.sum() == pytest.approx(2 / 3, abs=1e-12)
    assert hist[np.searchsorted(DELTA_M_EDGES, 100.0, side="right") - 1] == pytest.approx(1 / 3)
    with pytest.deprecated_call():
        assert delta_m_histogram([5.0]).sum() == 0.0
