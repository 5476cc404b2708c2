"""Metastability: windowed observables, state segmentation, dwell times, switching rates.

A long record (per-step population spike counts, or any scalar series on a uniform grid) is
cut into windows of ``window_ms`` advanced by ``step_ms``; in each window
:func:`windowed_observables` computes the mean and peak (1 ms smoothed) E rate, the spike
synchrony index, the MFE peak-height alternation and the spectral power in a band relative
to Poisson firing.
:func:`segment_hysteresis` turns one such series into a two-state sequence with two
thresholds (a state changes only when the series crosses the far threshold); its time
resolution is the window step (stored with the result).  :func:`dwell_statistics` measures
every dwell and estimates the switching rate out of each state as (number of exits) / (time
spent in the state), the maximum-likelihood estimate for exponential dwells with censored
first and last intervals, with the exact Poisson (chi-square) confidence interval.  Dwells
shorter than about 1.5 windows are missed and merge their neighbours, which biases the other
state's exit rate low by about (rate out of the short state) x 1.5 x resolution; keep that
product small (the tests check this bias).

:func:`fit_gaussian_hmm` fits a hidden Markov model with Gaussian emissions (k states, one
or many sequences pooled; Baum-Welch with scaled forward-backward recursions, the best of
``n_init`` seeded starts) and :meth:`GaussianHMM.viterbi` decodes the most likely state
sequence; :func:`segment_hmm` turns that into a :class:`Segmentation` for
:func:`dwell_statistics`.  :func:`segment_runs` segments many runs of one observable with one
shared rule (an Otsu threshold with a hysteresis band, or one HMM fitted to all runs).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from bifsnn._cache import njit_cached
from bifsnn.network.observables import mfe_peaks, smooth_rate, ssi
from bifsnn.network.params import ParameterError

__all__ = [
    "WindowedObservables",
    "Segmentation",
    "StateDwells",
    "DwellStatistics",
    "windowed_observables",
    "two_level_threshold",
    "segment_hysteresis",
    "dwell_statistics",
    "rate_confidence_interval",
    "pooled_rates",
    "telegraph_signal",
    "GaussianHMM",
    "fit_gaussian_hmm",
    "segment_hmm",
    "RunsSegmentation",
    "segment_runs",
]


def _positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating) \
            or not math.isfinite(value) or value <= 0:
        raise ParameterError(f"{name} = {value!r} is out of range: must be a finite number > 0")
    return float(value)


def _series(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim != 1 or a.size == 0:
        raise ParameterError(f"{name} must be a non-empty 1-D array (got shape {a.shape})")
    if not np.all(np.isfinite(a)):
        raise ParameterError(f"{name} contains non-finite values")
    return a


# --------------------------------------------------------------------------- windows


@dataclass
class WindowedObservables:
    """Observables per window; ``t_ms`` is each window's centre."""

    t_ms: np.ndarray
    window_ms: float
    step_ms: float
    rate_hz: np.ndarray  # mean per-neuron E rate
    max_rate_hz: np.ndarray  # maximum of the 1 ms smoothed per-neuron E rate
    ssi: np.ndarray  # spike synchrony index of the E population
    alternation: np.ndarray  # mean |Delta m| / mean peak height of MFE peaks (NaN: < 2 peaks)
    band_power: np.ndarray  # mean E-count periodogram in the band / Poisson level (1: Poisson)
    band_hz: tuple[float, float] = (20.0, 100.0)

    def as_dict(self) -> dict[str, np.ndarray]:
        """The per-window series by name."""
        return {"rate_hz": self.rate_hz, "max_rate_hz": self.max_rate_hz, "ssi": self.ssi,
                "alternation": self.alternation, "band_power": self.band_power}


def windowed_observables(
    counts_e: Any,
    dt_ms: float,
    n_e: int,
    *,
    window_ms: float = 50.0,
    step_ms: float | None = None,
    band_hz: tuple[float, float] = (20.0, 100.0),
    min_peak_height: float = 10.0,
) -> WindowedObservables:
    """Per-window E rate and peak rate (Hz), SSI, peak-height alternation and band power.

    ``counts_e``: E spike counts per step of ``dt_ms``; ``n_e``: number of E neurons.
    ``step_ms`` (default ``window_ms``) is the window advance, i.e. the time resolution.
    Band power is the mean periodogram of the counts in ``band_hz`` over the Poisson level
    (the mean count per step): 1 for independent Poisson firing, large for oscillations.
    Alternation is mean |h[k+1] - h[k]| / mean h over the MFE peaks (smoothed rate, peaks
    >= ``min_peak_height`` spikes/ms, >= 9 ms apart) whose step lies in the window.
    """
    x = _series(counts_e, "counts_e")
    dt = _positive(dt_ms, "dt_ms")
    if isinstance(n_e, bool) or not isinstance(n_e, int | np.integer) or n_e < 1:
        raise ParameterError(f"n_e = {n_e!r} is out of range: must be an integer >= 1")
    w_ms = _positive(window_ms, "window_ms")
    s_ms = w_ms if step_ms is None else _positive(step_ms, "step_ms")
    lo_hz, hi_hz = (float(b) for b in band_hz)
    if not 0 <= lo_hz < hi_hz:
        raise ParameterError(f"band_hz = {band_hz!r} is out of range: need 0 <= low < high")
    w = int(round(w_ms / dt))
    s = max(1, int(round(s_ms / dt)))
    if w < 2 or w > x.size:
        raise ParameterError(
            f"window_ms = {window_ms!r} is out of range: must cover 2 to {x.size} steps "
            f"({2 * dt:g} to {x.size * dt:g} ms)")
    starts = np.arange(0, x.size - w + 1, s)
    rate = x / dt
    sm = smooth_rate(rate, dt, 1.0)
    peaks = mfe_peaks(sm, dt, min_height=min_peak_height)
    freqs = np.fft.rfftfreq(w, dt / 1000.0)
    band = (freqs >= lo_hz) & (freqs <= hi_hz)
    n_win = starts.size
    out = {k: np.full(n_win, np.nan) for k in ("rate", "max", "ssi", "alt", "pow")}
    for k, a in enumerate(starts):
        seg = x[a:a + w]
        out["rate"][k] = 1000.0 * seg.sum() / (w * dt) / n_e
        out["max"][k] = 1000.0 * sm[a:a + w].max() / n_e
        out["ssi"][k] = ssi(seg, n_e) if seg.sum() > 0 else 0.0
        sel = (peaks.indices >= a) & (peaks.indices < a + w)
        h = peaks.heights[sel]
        if h.size >= 2:
            out["alt"][k] = np.mean(np.abs(np.diff(h))) / np.mean(h)
        # periodogram of the counts; independent Poisson counts give a flat spectrum at the
        # mean count, so this ratio is 1 for asynchronous firing and >> 1 for oscillations
        spec = np.abs(np.fft.rfft(seg - seg.mean())) ** 2 / w
        mean = seg.mean()
        out["pow"][k] = spec[band].mean() / mean if mean > 0 else 0.0
    return WindowedObservables(
        t_ms=(starts + w / 2.0) * dt, window_ms=w * dt, step_ms=s * dt, rate_hz=out["rate"],
        max_rate_hz=out["max"],
        ssi=out["ssi"], alternation=out["alt"], band_power=out["pow"], band_hz=(lo_hz, hi_hz))


# --------------------------------------------------------------------------- segmentation


def two_level_threshold(x: Any) -> float:
    """Otsu's threshold: the split of ``x`` (NaNs ignored) that maximises the between-class
    variance; a data-driven centre for :func:`segment_hysteresis` in a bimodal series."""
    a = np.sort(np.asarray(x, dtype=float)[np.isfinite(np.asarray(x, dtype=float))])
    if a.size < 2 or a[0] == a[-1]:
        raise ParameterError("x needs at least two distinct finite values for a threshold")
    n = a.size
    c = np.cumsum(a)
    k = np.arange(1, n)
    w0 = k / n
    m0 = c[:-1] / k
    m1 = (c[-1] - c[:-1]) / (n - k)
    between = w0 * (1 - w0) * (m0 - m1) ** 2
    between[a[1:] == a[:-1]] = -1.0  # split only between distinct values
    j = int(np.argmax(between))
    return float(0.5 * (a[j] + a[j + 1]))


@dataclass
class Segmentation:
    """State sequence on the grid ``t_ms`` (hysteresis: state 1 = the series above ``high``;
    HMM: states ordered by their emission mean, ``low`` = ``high`` = NaN)."""

    t_ms: np.ndarray
    states: np.ndarray  # int8: 0, 1, ... or -1 before the first decision
    low: float
    high: float
    resolution_ms: float  # grid step; dwells shorter than about this are not resolved
    method: str = "hysteresis"

    @property
    def switch_times_ms(self) -> np.ndarray:
        """Grid times at which the state changes (first decision excluded)."""
        s = self.states
        valid = s >= 0
        idx = np.flatnonzero(valid[1:] & valid[:-1] & (s[1:] != s[:-1])) + 1
        return self.t_ms[idx]


def segment_hysteresis(
    x: Any, t_ms: Any, low: float, high: float, *, resolution_ms: float | None = None,
) -> Segmentation:
    """Two states from ``x`` with hysteresis: enter 1 when x > ``high``, return to 0 when
    x < ``low``; NaN samples keep the current state.  ``t_ms`` is the uniform sample grid;
    ``resolution_ms`` defaults to its step (pass the window length when larger)."""
    a = np.asarray(x, dtype=float)
    t = _series(t_ms, "t_ms")
    if a.ndim != 1 or a.size != t.size:
        raise ParameterError(f"x must be 1-D with the length of t_ms ({t.size}); got {a.shape}")
    if t.size >= 2 and np.any(np.diff(t) <= 0):
        raise ParameterError("t_ms must be strictly increasing")
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise ParameterError(f"low = {low!r}, high = {high!r}: need finite low <= high")
    states = np.full(a.size, -1, dtype=np.int8)
    cur = -1
    for k, v in enumerate(a):
        if v > high:
            cur = 1
        elif v < low:
            cur = 0
        states[k] = cur
    step = float(np.median(np.diff(t))) if t.size >= 2 else 0.0
    res = step if resolution_ms is None else _positive(resolution_ms, "resolution_ms")
    return Segmentation(t_ms=t, states=states, low=float(low), high=float(high),
                        resolution_ms=res)


# --------------------------------------------------------------------------- dwell times


def rate_confidence_interval(n_events: int, exposure_ms: float,
                             confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) interval for a Poisson rate: ``n_events`` in ``exposure_ms``; per ms."""
    if exposure_ms <= 0:
        return (0.0, math.inf)
    a = 1.0 - confidence
    lo = 0.0 if n_events == 0 else stats.chi2.ppf(a / 2, 2 * n_events) / (2 * exposure_ms)
    hi = stats.chi2.ppf(1 - a / 2, 2 * n_events + 2) / (2 * exposure_ms)
    return (float(lo), float(hi))


@dataclass
class StateDwells:
    """Dwells in one state; rates per second with their confidence interval."""

    state: int
    dwells_ms: np.ndarray  # complete dwells (both ends observed)
    n_exits: int
    exposure_ms: float  # total time in the state, censored first/last intervals included
    rate_per_s: float
    rate_ci_per_s: tuple[float, float]
    mean_dwell_ms: float  # 1 / rate (inf without exits)
    mean_dwell_ci_ms: tuple[float, float]
    ks_pvalue: float  # Kolmogorov-Smirnov test of the complete dwells against exponential


@dataclass
class DwellStatistics:
    """Dwell times and switching rates of both states of a :class:`Segmentation`."""

    states: dict[int, StateDwells]
    resolution_ms: float
    confidence: float
    t_total_ms: float
    occupancy: dict[int, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-friendly numbers per state."""
        out: dict[str, Any] = {"resolution_ms": self.resolution_ms,
                               "confidence": self.confidence, "t_total_ms": self.t_total_ms}
        for s, d in self.states.items():
            out[f"state{s}"] = {
                "n_exits": d.n_exits, "exposure_ms": d.exposure_ms,
                "rate_per_s": d.rate_per_s, "rate_ci_per_s": list(d.rate_ci_per_s),
                "mean_dwell_ms": d.mean_dwell_ms, "mean_dwell_ci_ms": list(d.mean_dwell_ci_ms),
                "n_complete_dwells": int(d.dwells_ms.size), "ks_pvalue": d.ks_pvalue,
                "occupancy": self.occupancy.get(s, 0.0),
            }
        return out


def dwell_statistics(seg: Segmentation, confidence: float = 0.95) -> DwellStatistics:
    """Dwell times and exit rates with exact Poisson intervals (``confidence``)."""
    if not 0 < confidence < 1:
        raise ParameterError(f"confidence = {confidence!r} is out of range: must be in (0, 1)")
    s, t = seg.states, seg.t_ms
    valid = np.flatnonzero(s >= 0)
    step = seg.resolution_ms if t.size < 2 else float(np.median(np.diff(t)))
    result: dict[int, StateDwells] = {}
    occupancy: dict[int, float] = {}
    if valid.size == 0:
        runs: list[tuple[int, float, bool]] = []
    else:
        sv = s[valid[0]:]
        change = np.flatnonzero(sv[1:] != sv[:-1]) + 1
        bounds = np.concatenate(([0], change, [sv.size]))
        runs = []
        for k in range(bounds.size - 1):
            dur = (bounds[k + 1] - bounds[k]) * step
            complete = 0 < k < bounds.size - 2
            runs.append((int(sv[bounds[k]]), dur, complete))
    total = sum(r[1] for r in runs)
    for state in range(max(2, int(s.max()) + 1 if s.size else 2)):
        mine = [r for r in runs if r[0] == state]
        exposure = float(sum(r[1] for r in mine))
        # every run of this state except a final censored one ends in an exit
        n_exits = sum(1 for i, r in enumerate(runs) if r[0] == state and i < len(runs) - 1)
        dwells = np.array([r[1] for r in mine if r[2]])
        lo, hi = rate_confidence_interval(n_exits, exposure, confidence)
        rate = n_exits / exposure if exposure > 0 else math.nan
        ks = (float(stats.kstest(dwells, "expon", args=(0, dwells.mean())).pvalue)
              if dwells.size >= 5 else math.nan)
        result[state] = StateDwells(
            state=state, dwells_ms=dwells, n_exits=n_exits, exposure_ms=exposure,
            rate_per_s=1000.0 * rate, rate_ci_per_s=(1000.0 * lo, 1000.0 * hi),
            mean_dwell_ms=1.0 / rate if rate > 0 else math.inf,
            mean_dwell_ci_ms=(1.0 / hi if hi > 0 else math.inf, 1.0 / lo if lo > 0 else math.inf),
            ks_pvalue=ks)
        occupancy[state] = exposure / total if total > 0 else 0.0
    return DwellStatistics(states=result, resolution_ms=seg.resolution_ms,
                           confidence=confidence, t_total_ms=float(total), occupancy=occupancy)


def pooled_rates(runs: list[DwellStatistics],
                 confidence: float = 0.95) -> dict[int, dict[str, Any]]:
    """Exit rate per state pooled over independent runs (exits and exposures summed; the
    runs must share one segmentation), with its exact interval; rates per second."""
    if not runs:
        raise ParameterError("runs must hold at least one DwellStatistics")
    out: dict[int, dict[str, Any]] = {}
    for state in sorted(set().union(*(r.states for r in runs))):
        n = sum(r.states[state].n_exits for r in runs if state in r.states)
        t = float(sum(r.states[state].exposure_ms for r in runs if state in r.states))
        lo, hi = rate_confidence_interval(n, t, confidence)
        out[state] = {"n_exits": n, "exposure_ms": t,
                      "rate_per_s": 1000.0 * n / t if t > 0 else math.nan,
                      "rate_ci_per_s": (1000.0 * lo, 1000.0 * hi)}
    return out


def telegraph_signal(rate01_per_s: float, rate10_per_s: float, t_ms: float, dt_ms: float,
                     seed: int = 0) -> np.ndarray:
    """A two-state continuous-time Markov chain sampled on a grid of ``dt_ms`` (int8 0/1):
    leaves 0 at ``rate01_per_s`` and 1 at ``rate10_per_s``; starts in its stationary law."""
    r01 = _positive(rate01_per_s, "rate01_per_s") / 1000.0
    r10 = _positive(rate10_per_s, "rate10_per_s") / 1000.0
    n = int(round(_positive(t_ms, "t_ms") / _positive(dt_ms, "dt_ms")))
    rng = np.random.default_rng(seed)
    out = np.empty(n, dtype=np.int8)
    state = int(rng.random() < r01 / (r01 + r10))
    t, k = 0.0, 0
    while k < n:
        t += rng.exponential(1.0 / (r01 if state == 0 else r10))
        k_end = min(n, int(t / dt_ms))
        out[k:k_end] = state
        k = k_end
        state = 1 - state
    return out


# --------------------------------------------------------------------------- hidden Markov model


@njit_cached()
def _forward_backward(logb, A, pi):  # pragma: no cover - compiled
    """Scaled forward-backward: posteriors (T, K), summed pair posteriors (K, K), log L."""
    T, K = logb.shape
    alpha = np.empty((T, K))
    beta = np.empty((T, K))
    b = np.empty((T, K))
    c = np.empty(T)
    loglik = 0.0
    for t in range(T):
        m = logb[t].max()
        for k in range(K):
            b[t, k] = math.exp(logb[t, k] - m)
        loglik += m
    for k in range(K):
        alpha[0, k] = pi[k] * b[0, k]
    c[0] = alpha[0].sum()
    alpha[0] /= c[0]
    for t in range(1, T):
        for j in range(K):
            acc = 0.0
            for i in range(K):
                acc += alpha[t - 1, i] * A[i, j]
            alpha[t, j] = acc * b[t, j]
        c[t] = alpha[t].sum()
        alpha[t] /= c[t]
    beta[T - 1] = 1.0
    for t in range(T - 2, -1, -1):
        for i in range(K):
            acc = 0.0
            for j in range(K):
                acc += A[i, j] * b[t + 1, j] * beta[t + 1, j]
            beta[t, i] = acc / c[t + 1]
    gamma = alpha * beta
    xi = np.zeros((K, K))
    for t in range(T - 1):
        for i in range(K):
            for j in range(K):
                xi[i, j] += alpha[t, i] * A[i, j] * b[t + 1, j] * beta[t + 1, j] / c[t + 1]
    for t in range(T):
        loglik += math.log(c[t])
    return gamma, xi, loglik


@njit_cached()
def _viterbi(logb, logA, logpi):  # pragma: no cover - compiled
    """Most likely state path (log-space Viterbi)."""
    T, K = logb.shape
    delta = np.empty((T, K))
    psi = np.zeros((T, K), dtype=np.int64)
    for k in range(K):
        delta[0, k] = logpi[k] + logb[0, k]
    for t in range(1, T):
        for j in range(K):
            best, arg = -np.inf, 0
            for i in range(K):
                v = delta[t - 1, i] + logA[i, j]
                if v > best:
                    best, arg = v, i
            delta[t, j] = best + logb[t, j]
            psi[t, j] = arg
    path = np.empty(T, dtype=np.int64)
    path[T - 1] = int(np.argmax(delta[T - 1]))
    for t in range(T - 2, -1, -1):
        path[t] = psi[t + 1, path[t + 1]]
    return path


def _log_emission(x: np.ndarray, means: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """log N(x; mean_k, var_k) per sample and state; NaN samples (missing) give 0."""
    z = x[:, None] - means[None, :]
    lb = -0.5 * (np.log(2 * np.pi * variances)[None, :] + z * z / variances[None, :])
    lb[~np.isfinite(x)] = 0.0
    return lb


@dataclass
class GaussianHMM:
    """A k-state hidden Markov model with Gaussian emissions on a grid of ``step_ms``;
    states ordered by their emission mean (state 0 the lowest)."""

    means: np.ndarray
    variances: np.ndarray
    transition: np.ndarray  # (k, k) per step, rows sum to 1
    initial: np.ndarray
    step_ms: float
    log_likelihood: float
    n_iter: int
    converged: bool

    @property
    def n_states(self) -> int:
        """Number of hidden states."""
        return int(self.means.size)

    def rates_per_s(self) -> np.ndarray:
        """Exit rate of each state implied by the transition matrix: -ln(A_ii) / step."""
        with np.errstate(divide="ignore"):
            return 0.0 - np.log(np.diag(self.transition)) * 1000.0 / self.step_ms  # no -0

    def viterbi(self, x: Any) -> np.ndarray:
        """Most likely state sequence (int8) for the series ``x`` (NaN = missing)."""
        a = np.asarray(x, dtype=float)
        if a.ndim != 1 or a.size == 0:
            raise ParameterError(f"x must be a non-empty 1-D array (got shape {a.shape})")
        with np.errstate(divide="ignore"):
            path = _viterbi(_log_emission(a, self.means, self.variances),
                            np.log(self.transition), np.log(self.initial))
        return path.astype(np.int8)

    def posterior(self, x: Any) -> np.ndarray:
        """Posterior state probabilities (T, k) of the series ``x``."""
        a = np.asarray(x, dtype=float)
        gamma, _, _ = _forward_backward(_log_emission(a, self.means, self.variances),
                                        self.transition, self.initial)
        return gamma


def fit_gaussian_hmm(
    sequences: Any,
    *,
    step_ms: float,
    n_states: int = 2,
    seed: int = 0,
    n_init: int = 4,
    max_iter: int = 300,
    tol: float = 1e-7,
) -> GaussianHMM:
    """Baum-Welch fit of a Gaussian HMM to one series or a list of series (pooled: shared
    parameters, independent starts).  The first start puts the means at the quantiles of the
    data, the other ``n_init - 1`` draw them from the data with ``numpy`` ``default_rng(seed)``;
    the fit with the largest likelihood is returned.  Stops when the log-likelihood gains
    less than ``tol`` per sample; ``converged`` False if ``max_iter`` ran out first."""
    seqs = [np.asarray(sequences, dtype=float)] if np.ndim(sequences[0]) == 0 else \
        [np.asarray(s, dtype=float) for s in sequences]
    if any(s.ndim != 1 or s.size < 2 for s in seqs):
        raise ParameterError("sequences must be 1-D series of at least 2 samples each")
    step = _positive(step_ms, "step_ms")
    if isinstance(n_states, bool) or not isinstance(n_states, int | np.integer) or n_states < 2:
        raise ParameterError(f"n_states = {n_states!r} is out of range: must be an integer >= 2")
    if isinstance(n_init, bool) or not isinstance(n_init, int) or n_init < 1:
        raise ParameterError(f"n_init = {n_init!r} is out of range: must be an integer >= 1")
    pooled = np.concatenate(seqs)
    finite = pooled[np.isfinite(pooled)]
    if np.unique(finite).size < n_states:
        raise ParameterError(f"the series need at least n_states = {n_states} distinct values")
    K = int(n_states)
    var0 = float(np.var(finite))
    floor = 1e-6 * var0
    rng = np.random.default_rng(seed)
    best: GaussianHMM | None = None
    n_total = finite.size
    for attempt in range(n_init):
        means = (np.quantile(finite, (np.arange(K) + 0.5) / K) if attempt == 0 else
                 np.sort(rng.choice(finite, K, replace=False)))
        var = np.full(K, var0 / K ** 2)
        A = np.full((K, K), 0.1 / (K - 1))
        np.fill_diagonal(A, 0.9)
        pi = np.full(K, 1.0 / K)
        old, converged, n_iter = -np.inf, False, 0
        while n_iter < max_iter:
            n_iter += 1
            xi_sum = np.zeros((K, K))
            g0 = np.zeros(K)
            s0, s1, s2 = np.zeros(K), np.zeros(K), np.zeros(K)
            ll = 0.0
            for x in seqs:
                gamma, xi, lls = _forward_backward(_log_emission(x, means, var), A, pi)
                ll += lls
                xi_sum += xi
                g0 += gamma[0]
                ok = np.isfinite(x)
                g, xo = gamma[ok], x[ok]
                s0 += g.sum(axis=0)
                s1 += g.T @ xo
                s2 += g.T @ (xo * xo)
            pi = g0 / g0.sum()
            A = xi_sum / np.maximum(xi_sum.sum(axis=1, keepdims=True), 1e-300)
            A[xi_sum.sum(axis=1) == 0] = np.eye(K)[xi_sum.sum(axis=1) == 0]
            means = s1 / np.maximum(s0, 1e-300)
            var = np.maximum(s2 / np.maximum(s0, 1e-300) - means ** 2, floor)
            if ll - old < tol * n_total:
                converged = True
                break
            old = ll
        order = np.argsort(means)
        fit = GaussianHMM(means=means[order], variances=var[order],
                          transition=A[np.ix_(order, order)], initial=pi[order], step_ms=step,
                          log_likelihood=float(ll), n_iter=n_iter, converged=converged)
        if best is None or fit.log_likelihood > best.log_likelihood:
            best = fit
    assert best is not None
    return best


def segment_hmm(x: Any, t_ms: Any, hmm: GaussianHMM, *,
                resolution_ms: float | None = None) -> Segmentation:
    """The Viterbi path of ``hmm`` on ``x`` as a :class:`Segmentation` on the grid ``t_ms``."""
    t = _series(t_ms, "t_ms")
    a = np.asarray(x, dtype=float)
    if a.ndim != 1 or a.size != t.size:
        raise ParameterError(f"x must be 1-D with the length of t_ms ({t.size}); got {a.shape}")
    step = float(np.median(np.diff(t))) if t.size >= 2 else hmm.step_ms
    res = step if resolution_ms is None else _positive(resolution_ms, "resolution_ms")
    return Segmentation(t_ms=t, states=hmm.viterbi(a), low=math.nan, high=math.nan,
                        resolution_ms=res, method="hmm")


@dataclass
class RunsSegmentation:
    """One segmentation rule applied to many runs: per-run segmentations and dwell statistics.

    ``threshold``, ``low``, ``high``: the Otsu threshold and hysteresis band (``method`` =
    "threshold"); ``medians``: medians of the pooled series below / above the Otsu threshold
    (both methods); ``hmm``: the fitted model (``method`` = "hmm", fitted on ``log10`` of the
    series if ``log``)."""

    method: str
    threshold: float
    low: float
    high: float
    medians: tuple[float, float]
    resolution_ms: float
    segmentations: dict[Hashable, Segmentation]
    stats: dict[Hashable, DwellStatistics]
    hmm: GaussianHMM | None = None
    log: bool = False

    def pooled(self, keys: Any, confidence: float = 0.95) -> dict[int, dict[str, Any]]:
        """Exit rates pooled over the runs ``keys`` (see :func:`pooled_rates`)."""
        return pooled_rates([self.stats[k] for k in keys], confidence)


def segment_runs(
    series: Mapping[Hashable, tuple[Any, Any]],
    *,
    resolution_ms: float,
    method: str = "threshold",
    band_fraction: float = 0.25,
    log: bool = False,
    seed: int = 0,
    confidence: float = 0.95,
) -> RunsSegmentation:
    """Segment every run of ``series`` (key -> (t_ms, x)) with one rule fitted to all runs.

    "threshold": Otsu's threshold of the pooled x with a hysteresis band of +-``band_fraction``
    of the gap between the medians below and above it (:func:`segment_hysteresis`).  "hmm": a
    two-state Gaussian HMM fitted to all runs (on log10 x if ``log``; x floored at 1e-3 of its
    median), Viterbi-decoded per run (:func:`segment_hmm`).  ``resolution_ms`` is stated with
    every segmentation (the window length)."""
    if method not in ("threshold", "hmm"):
        raise ParameterError(f"method = {method!r} is out of range: must be 'threshold' or 'hmm'")
    if not series:
        raise ParameterError("series must hold at least one run")
    if not 0 <= band_fraction < 0.5:
        raise ParameterError(f"band_fraction = {band_fraction!r} is out of range: [0, 0.5)")
    res = _positive(resolution_ms, "resolution_ms")
    pooled = np.concatenate([np.asarray(x, float) for _, x in series.values()])
    thr = two_level_threshold(pooled)
    lo_med = float(np.nanmedian(pooled[pooled < thr]))
    hi_med = float(np.nanmedian(pooled[pooled >= thr]))
    band = band_fraction * (hi_med - lo_med)
    segs: dict[Hashable, Segmentation] = {}
    hmm = None
    if method == "threshold":
        for key, (t, x) in series.items():
            segs[key] = segment_hysteresis(x, t, thr - band, thr + band, resolution_ms=res)
    else:
        fl = 1e-3 * float(np.nanmedian(pooled)) if log else 0.0

        def tr(x: Any) -> np.ndarray:
            a = np.asarray(x, float)
            return np.log10(np.maximum(a, fl)) if log else a

        step = float(np.median(np.diff(np.asarray(next(iter(series.values()))[0], float))))
        hmm = fit_gaussian_hmm([tr(x) for _, x in series.values()], step_ms=step, seed=seed)
        for key, (t, x) in series.items():
            segs[key] = segment_hmm(tr(x), t, hmm, resolution_ms=res)
    stats = {k: dwell_statistics(s, confidence) for k, s in segs.items()}
    return RunsSegmentation(method=method, threshold=thr, low=thr - band, high=thr + band,
                            medians=(lo_med, hi_med), resolution_ms=res, segmentations=segs,
                            stats=stats, hmm=hmm, log=log)
