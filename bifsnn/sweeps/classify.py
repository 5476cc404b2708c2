"""Regime classifier: observables of one run -> "asynchronous", "regular-MFE",
"alternating-MFE" or "irregular".

The decision uses the MFE peak sequence (heights m_k and intervals of the smoothed E rate,
docs/MODEL.md section 6) and the E spike synchrony index:

1. **asynchronous** if fewer than ``min_peaks`` MFE peaks were found, or the synchrony ratio
   ``ssi_e_ratio = SSI_E / SSI_indep < sync_ratio_async``, where ``SSI_indep = 11 r dt/1000
   + 1/N_E`` is the SSI of independent Poisson firing at the same per-neuron rate r (Hz)
   (for Poisson step counts of mean mu, E[n s]/E[n] = 11 mu + 1).  The ratio, not SSI itself,
   is used because SSI grows with the rate alone: 134 Hz independent firing already gives
   SSI = 0.15, and at such rates the 10 spikes/ms peak threshold is crossed by noise.
2. With ``Delta m_k = m_{k+1} - m_k`` and ``H`` the mean peak height, three statistics:
   ``delta_m_rel`` = median |Delta m| / H (how much successive MFEs differ),
   ``delta_m_sign_alternation`` = fraction of successive pairs (Delta m_k, Delta m_{k+1}) of
   opposite sign (1 for big-small-big-small; 2/3 in expectation for independent heights),
   ``delta_m_band_cv`` = std(|Delta m|) / mean(|Delta m|) (small when |Delta m| sits in one
   band +-Delta; about 0.76 for Gaussian-independent heights), and ``interval_cv`` = CV of the
   inter-peak intervals.
3. **regular-MFE** if ``delta_m_rel <= regular_dm_rel`` and ``interval_cv <=
   regular_interval_cv`` (one band of Delta m at 0, periodic timing).
4. **alternating-MFE** if ``delta_m_rel >= alt_dm_rel``, ``delta_m_sign_alternation >=
   alt_sign_fraction`` and ``delta_m_band_cv <= alt_band_cv`` (two bands at +-Delta).
5. **irregular** otherwise (a smear of Delta m).

The thresholds are fields of :class:`RegimeThresholds` and can be set per sweep
(``[classifier]`` table of the spec).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from bifsnn.network.observables import (
    DEFAULT_DELTA_M_EDGES,
    ssi_independent,
    synchrony_ratio,
)

__all__ = [
    "REGIMES",
    "RegimeThresholds",
    "classify_regime",
    "delta_m_histogram",
    "delta_m_stats",
    "ssi_independent",
    "synchrony_ratio",
]

REGIMES: tuple[str, ...] = ("asynchronous", "regular-MFE", "alternating-MFE", "irregular")

#: Delta m histogram bins of docs/MODEL.md section 6: width 5 on [-300, 300] (the one
#: definition is ``bifsnn.network.observables.DEFAULT_DELTA_M_EDGES``; this name is kept for
#: the sweep store).
DELTA_M_EDGES: np.ndarray = DEFAULT_DELTA_M_EDGES


@dataclass(frozen=True)
class RegimeThresholds:
    """Documented decision thresholds of :func:`classify_regime` (see module docstring)."""

    #: SSI_E / SSI_indep below which activity counts as asynchronous (no synchronous
    #: events); independent firing gives 1, the default SNN's alternating MFEs about 5.
    sync_ratio_async: float = 1.5
    #: Fewer MFE peaks than this in the analysed window -> asynchronous (need >= 3 Delta m).
    min_peaks: int = 4
    #: median |Delta m| / mean height at most this -> heights count as constant.
    regular_dm_rel: float = 0.15
    #: CV of inter-peak intervals at most this -> timing counts as periodic.
    regular_interval_cv: float = 0.25
    #: alternation needs median |Delta m| / mean height at least this.
    alt_dm_rel: float = 0.15
    #: alternation needs at least this fraction of sign flips between successive Delta m.
    alt_sign_fraction: float = 0.8
    #: alternation needs |Delta m| concentrated in one band: std/mean of |Delta m| at most this.
    alt_band_cv: float = 0.5

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) \
                    or v < 0:
                raise ValueError(f"{f.name} = {v!r} is out of range: must be a finite number >= 0")
        if self.min_peaks < 3:
            raise ValueError(f"min_peaks = {self.min_peaks!r} is out of range: must be >= 3")
        if self.alt_sign_fraction > 1:
            raise ValueError(
                f"alt_sign_fraction = {self.alt_sign_fraction!r} is out of range: must be <= 1"
            )


def delta_m_stats(
    peak_heights: Sequence[float] | np.ndarray, peak_intervals_ms: Sequence[float] | np.ndarray
) -> dict[str, float]:
    """Statistics of MFE peak heights and their successive differences (NaN when undefined)."""
    h = np.asarray(peak_heights, dtype=float).ravel()
    iv = np.asarray(peak_intervals_ms, dtype=float).ravel()
    nan = float("nan")
    out = {
        "n_peaks": float(len(h)),
        "peak_height_mean": float(h.mean()) if len(h) else nan,
        "delta_m_mean": nan,
        "delta_m_std": nan,
        "delta_m_rel": nan,
        "delta_m_sign_alternation": nan,
        "delta_m_band_cv": nan,
        "interval_mean_ms": float(iv.mean()) if len(iv) else nan,
        "interval_cv": float(iv.std() / iv.mean()) if len(iv) > 1 and iv.mean() > 0 else nan,
    }
    if len(h) >= 2:
        dm = np.diff(h)
        adm = np.abs(dm)
        out["delta_m_mean"] = float(dm.mean())
        out["delta_m_std"] = float(dm.std())
        if out["peak_height_mean"] > 0:
            out["delta_m_rel"] = float(np.median(adm) / out["peak_height_mean"])
        if adm.mean() > 0:
            out["delta_m_band_cv"] = float(adm.std() / adm.mean())
        if len(dm) >= 2:
            out["delta_m_sign_alternation"] = float(np.mean(dm[:-1] * dm[1:] < 0))
    return out


def delta_m_histogram(peak_heights: Sequence[float] | np.ndarray) -> np.ndarray:
    """Deprecated: ``bifsnn.network.observables.delta_m_histogram(peak_differences(h)).fraction``.

    This name took peak *heights* while ``observables.delta_m_histogram`` takes Delta m
    values; it stays for one release as a thin wrapper."""
    import warnings

    from bifsnn.network.observables import delta_m_histogram as hist
    from bifsnn.network.observables import peak_differences

    warnings.warn("bifsnn.sweeps.delta_m_histogram(peak_heights) is deprecated: use "
                  "bifsnn.network.observables.delta_m_histogram(peak_differences(heights))",
                  DeprecationWarning, stacklevel=2)
    return hist(peak_differences(np.asarray(peak_heights, dtype=float).ravel())).fraction


def classify_regime(
    observables: Mapping[str, Any], thresholds: RegimeThresholds | None = None
) -> str:
    """Regime label from the synchrony ratio (``ssi_e_ratio``, or ``ssi_e``, ``rate_e_hz``,
    ``N_E``, ``dt_ms`` to compute it) and either the peak arrays (``peak_heights``,
    ``peak_intervals_ms``) or precomputed :func:`delta_m_stats` values."""
    th = thresholds or RegimeThresholds()
    if "peak_heights" in observables:
        stats = delta_m_stats(
            observables["peak_heights"], observables.get("peak_intervals_ms", [])
        )
    else:
        stats = {k: observables.get(k, float("nan")) for k in delta_m_stats([], [])}
    ratio = observables.get("ssi_e_ratio")
    if ratio is None:
        ratio = synchrony_ratio(observables.get("ssi_e"), observables.get("rate_e_hz"),
                                observables.get("N_E"), observables.get("dt_ms"))
    ratio = float(ratio)
    if not (stats["n_peaks"] >= th.min_peaks) or not (ratio >= th.sync_ratio_async):
        return "asynchronous"
    rel, cv = stats["delta_m_rel"], stats["interval_cv"]
    if rel <= th.regular_dm_rel and cv <= th.regular_interval_cv:
        return "regular-MFE"
    if (
        rel >= th.alt_dm_rel
        and stats["delta_m_sign_alternation"] >= th.alt_sign_fraction
        and stats["delta_m_band_cv"] <= th.alt_band_cv
    ):
        return "alternating-MFE"
    return "irregular"
