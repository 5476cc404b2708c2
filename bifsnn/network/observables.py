"""Observables of a simulated network (docs/MODEL.md section 6), as plain functions over arrays.

Every function takes per-step population spike counts (integers from the stochastic models,
expected counts from the deterministic ones) or population rates in spikes/ms on a uniform
grid of step ``dt_ms``.  Units are in the names: ``*_hz`` is per neuron (Hz), a "rate" without
suffix is the population count rate in spikes/ms.  :func:`summary` combines them for one
:class:`~bifsnn.network.results.SimulationResult` into a JSON-serialisable dict.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from scipy import signal

from bifsnn.network.params import ParameterError

__all__ = [
    "DEFAULT_DELTA_M_EDGES",
    "MFEPeaks",
    "DeltaMHistogram",
    "DeltaMDiagram",
    "SpectralPeak",
    "Oscillation",
    "per_neuron_rate_hz",
    "transient_steps",
    "smooth_rate",
    "mfe_peaks",
    "peak_differences",
    "delta_m_histogram",
    "log2_display",
    "delta_m_vs_parameter",
    "ssi",
    "ssi_independent",
    "synchrony_ratio",
    "spectral_peak",
    "oscillation",
    "attractor_projection",
    "state_variable_names",
    "summary",
]

#: Delta m histogram bins of docs/MODEL.md section 6: width 5 spikes/ms on [-300, 300].
DEFAULT_DELTA_M_EDGES: np.ndarray = np.arange(-300.0, 305.0, 5.0)
DEFAULT_DELTA_M_EDGES.setflags(write=False)


# --------------------------------------------------------------------------- validation


def _check_dt(dt_ms: float, name: str = "dt_ms") -> float:
    try:
        dt = float(dt_ms)
    except (TypeError, ValueError):
        raise ValueError(f"{name} = {dt_ms!r} must be a positive number (ms)") from None
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"{name} = {dt_ms!r} is out of range: must be finite and > 0 ms")
    return dt


def _check_series(x: Any, name: str, *, nonnegative: bool = True) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array over time steps, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(float, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if nonnegative and arr.size and arr.min() < 0:
        raise ValueError(f"{name} must be >= 0 everywhere (min is {arr.min():g})")
    return arr


def _check_n_neurons(n_neurons: Any) -> int:
    if isinstance(n_neurons, bool) or not float(n_neurons).is_integer() or n_neurons < 1:
        raise ValueError(f"n_neurons = {n_neurons!r} is out of range: must be an integer >= 1")
    return int(n_neurons)


def _check_nonneg(value: float, name: str) -> float:
    v = float(value)
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"{name} = {value!r} is out of range: must be finite and >= 0")
    return v


def transient_steps(transient_ms: float, dt_ms: float, n_steps: int) -> int:
    """Number of leading steps covered by ``transient_ms`` (rounded to the nearest step).

    Raises :class:`~bifsnn.network.params.ParameterError` (a ``ValueError``; the CLI reports it
    as a usage error) if the transient would leave no step to analyse.
    """
    dt = _check_dt(dt_ms)
    transient = _check_nonneg(transient_ms, "transient_ms")
    k = int(round(transient / dt))
    if k >= n_steps:
        raise ParameterError(
            f"transient_ms = {transient_ms!r} is out of range: must be shorter than the "
            f"recorded duration {n_steps * dt:g} ms"
        )
    return k


# --------------------------------------------------------------------------- rates


def per_neuron_rate_hz(
    spike_counts: Any, dt_ms: float, n_neurons: int, transient_ms: float = 0.0
) -> float:
    """Mean firing rate per neuron in Hz after dropping the first ``transient_ms``.

    ``1000 * mean(f_Q) / N_Q`` with ``f_Q = counts / dt_ms`` the population rate in spikes/ms.
    """
    counts = _check_series(spike_counts, "spike_counts")
    dt = _check_dt(dt_ms)
    n = _check_n_neurons(n_neurons)
    if counts.size == 0:
        raise ValueError("spike_counts is empty")
    k = transient_steps(transient_ms, dt, counts.size)
    tail = counts[k:]
    return float(1000.0 * tail.sum() / (tail.size * dt) / n)


def _window_steps(window_ms: float, dt_ms: float, name: str = "window_ms") -> int:
    w = _check_nonneg(window_ms, name)
    steps = int(round(w / dt_ms))
    if steps < 1:
        raise ValueError(
            f"{name} = {window_ms!r} is out of range: must cover at least one step "
            f"(>= {dt_ms / 2:g} ms at dt_ms = {dt_ms:g})"
        )
    return steps


def smooth_rate(rate: Any, dt_ms: float, window_ms: float = 1.0) -> np.ndarray:
    """Centred moving average of ``rate`` over ``round(window_ms / dt_ms)`` steps.

    At dt = 0.1 ms the default 1 ms window is 10 steps.  The window for output step ``t``
    covers steps ``t - w//2 .. t - w//2 + w - 1`` (for even ``w`` it reaches one step further
    back than forward).  Edges: near the ends the window is truncated to the steps that exist
    and the average is taken over those only (no zero padding), so a constant signal stays
    constant and the output has the input's length.
    """
    x = _check_series(rate, "rate", nonnegative=False)
    dt = _check_dt(dt_ms)
    w = _window_steps(window_ms, dt)
    n = x.size
    if n == 0 or w == 1:
        return x.copy()
    csum = np.concatenate(([0.0], np.cumsum(x)))
    start = np.clip(np.arange(n) - w // 2, 0, n)
    stop = np.clip(np.arange(n) - w // 2 + w, 0, n)
    return (csum[stop] - csum[start]) / (stop - start)


# --------------------------------------------------------------------------- MFE peaks


class MFEPeaks(NamedTuple):
    """Peaks of the smoothed E rate: step indices and heights (spikes/ms)."""

    indices: np.ndarray
    heights: np.ndarray


def mfe_peaks(
    smoothed_rate_e: Any,
    dt_ms: float,
    min_separation_ms: float = 9.0,
    min_height: float = 10.0,
) -> MFEPeaks:
    """Multiple-firing-event peaks: local maxima at least ``min_height`` spikes/ms high and
    at least ``min_separation_ms`` apart (the higher one wins, as in ``scipy.signal.find_peaks``
    with ``distance``).  Flat-topped maxima are reported at their middle step.
    """
    x = _check_series(smoothed_rate_e, "smoothed_rate_e", nonnegative=False)
    dt = _check_dt(dt_ms)
    sep = _check_nonneg(min_separation_ms, "min_separation_ms")
    height = float(min_height)
    if not math.isfinite(height):
        raise ValueError(f"min_height = {min_height!r} must be finite (spikes/ms)")
    distance = max(1, int(math.ceil(sep / dt - 1e-9)))
    idx, props = signal.find_peaks(x, height=height, distance=distance)
    return MFEPeaks(indices=idx.astype(np.int64), heights=np.asarray(props["peak_heights"]))


def peak_differences(heights: Any) -> np.ndarray:
    """Delta m: height differences between successive MFE peaks, ``h[k+1] - h[k]``."""
    h = _check_series(heights, "heights", nonnegative=False)
    return np.diff(h)


# --------------------------------------------------------------------------- Delta m histogram


class DeltaMHistogram(NamedTuple):
    """Fraction of Delta m values per bin (``fraction[j]`` for ``[edges[j], edges[j+1])``)."""

    fraction: np.ndarray
    edges: np.ndarray


def _check_edges(edges: Any) -> np.ndarray:
    e = np.asarray(edges, dtype=float)
    if e.ndim != 1 or e.size < 2 or not np.all(np.isfinite(e)) or np.any(np.diff(e) <= 0):
        raise ValueError("edges must be a 1-D, finite, strictly increasing array of >= 2 values")
    return e


def delta_m_histogram(delta_m: Any, edges: Any = DEFAULT_DELTA_M_EDGES) -> DeltaMHistogram:
    """Normalised histogram of Delta m: the fraction of *all* values falling in each bin.

    Values outside ``[edges[0], edges[-1]]`` count in the denominator but in no bin, so the
    fractions sum to less than 1 when some fall outside (visible rather than hidden).  With
    no values at all every fraction is 0.  The last bin is closed on the right (numpy rule).
    """
    d = _check_series(delta_m, "delta_m", nonnegative=False)
    e = _check_edges(edges)
    counts, _ = np.histogram(d, bins=e)
    frac = counts / d.size if d.size else np.zeros(e.size - 1)
    return DeltaMHistogram(fraction=frac.astype(float), edges=e)


def log2_display(x: Any) -> np.ndarray:
    """Display transform ``log2(1 + x)`` used for the Delta m diagrams (maps [0, 1] to [0, 1])."""
    arr = np.asarray(x, dtype=float)
    if np.any(arr < -1):
        raise ValueError("log2_display needs x >= -1")
    return np.log2(1.0 + arr)


@dataclass
class DeltaMDiagram:
    """Delta m histograms against a parameter: ``fraction[i, j]`` is the fraction of the
    Delta m values at ``parameter_values[i]`` that fall in bin ``[edges[j], edges[j+1])``.
    ``n_values[i]`` is how many Delta m values entered row ``i``.
    """

    parameter_values: np.ndarray
    edges: np.ndarray
    fraction: np.ndarray
    n_values: np.ndarray

    @property
    def display(self) -> np.ndarray:
        """``log2(1 + fraction)``, the array shown in the diagram."""
        return log2_display(self.fraction)


def delta_m_vs_parameter(
    pairs: Iterable[tuple[float, Any]], edges: Any = DEFAULT_DELTA_M_EDGES
) -> DeltaMDiagram:
    """Build the 2-D "histogram of Delta m against a parameter" array.

    ``pairs`` is an iterable of ``(parameter value, delta_m array)``; runs with the same
    parameter value are pooled into one row.  Rows are sorted by parameter value.
    """
    e = _check_edges(edges)
    pooled: dict[float, list[np.ndarray]] = {}
    for item in pairs:
        try:
            value, dm = item
        except (TypeError, ValueError):
            raise ValueError("pairs must contain (parameter value, delta_m array) pairs") from None
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"parameter value {value!r} must be finite")
        pooled.setdefault(v, []).append(_check_series(dm, "delta_m", nonnegative=False))
    if not pooled:
        raise ValueError("pairs is empty: need at least one (parameter value, delta_m) pair")
    values = np.array(sorted(pooled))
    rows, n_vals = [], []
    for v in values:
        dm = np.concatenate(pooled[float(v)])
        rows.append(delta_m_histogram(dm, e).fraction)
        n_vals.append(dm.size)
    return DeltaMDiagram(
        parameter_values=values, edges=e, fraction=np.vstack(rows), n_values=np.array(n_vals)
    )


# --------------------------------------------------------------------------- synchrony


def ssi(spike_counts: Any, n_neurons: int, half_window_steps: int = 5) -> float:
    """Spike synchrony index (docs/MODEL.md section 6).

    For every step ``t`` with ``n_t > 0`` spikes, ``s_t`` is the number of spikes in steps
    ``t - k .. t + k`` (``k = half_window_steps``, truncated at the ends of the record);
    ``SSI = (sum_t n_t s_t / sum_t n_t) / N``: the expected fraction of the population firing
    within +-k steps of a randomly chosen spike.  Works on expected (float) counts too.
    Returns NaN when there is no spike at all.
    """
    n = _check_series(spike_counts, "spike_counts")
    N = _check_n_neurons(n_neurons)
    if isinstance(half_window_steps, bool) or int(half_window_steps) != half_window_steps \
            or half_window_steps < 0:
        raise ValueError(
            f"half_window_steps = {half_window_steps!r} is out of range: must be an integer >= 0"
        )
    k = int(half_window_steps)
    total = n.sum()
    if total <= 0:
        return float("nan")
    csum = np.concatenate(([0.0], np.cumsum(n)))
    idx = np.arange(n.size)
    lo = np.clip(idx - k, 0, n.size)
    hi = np.clip(idx + k + 1, 0, n.size)
    s = csum[hi] - csum[lo]
    return float(np.dot(n, s) / total / N)


def ssi_independent(rate_hz: float, n_neurons: int | None, dt_ms: float) -> float:
    """SSI (11-step window) of independent firing at ``rate_hz`` per neuron.

    For Poisson step counts of mean mu = N r dt / 1000 in a population of N neurons,
    E[n s] / E[n] = 11 mu + 1 (the spike itself is in its own window), so the SSI is
    (11 mu + 1) / N.  ``n_neurons`` None: an infinite population (expected, not sampled,
    counts, e.g. a deterministic model's rate): 11 r dt / 1000.
    """
    r, dt = float(rate_hz), float(dt_ms)
    if n_neurons is None:
        return 11.0 * r * dt / 1000.0
    n = int(n_neurons)
    return (11.0 * n * r * dt / 1000.0 + 1.0) / n


def synchrony_ratio(ssi_e: Any, rate_e_hz: Any, n_e: Any, dt_ms: Any) -> float:
    """The synchrony ratio ``ssi_e / ssi_independent(rate_e_hz, n_e, dt_ms)``: 1 for
    independent firing, larger for synchronous firing (the one definition used by the sweep
    classifier and the verification layer; ``n_e`` None for expected counts).  NaN when an
    input is missing or not finite, or the independent SSI is not positive."""
    try:
        ssi_v, rate, dt = float(ssi_e), float(rate_e_hz), float(dt_ms)
        n = None if n_e is None else int(n_e)
    except (TypeError, ValueError):
        return math.nan
    if not (math.isfinite(ssi_v) and math.isfinite(rate) and rate >= 0 and dt > 0
            and (n is None or n > 0)):
        return math.nan
    indep = ssi_independent(rate, n, dt)
    return ssi_v / indep if indep > 0 else math.nan


# --------------------------------------------------------------------------- oscillations


@dataclass
class SpectralPeak:
    """Welch power spectrum of a rate and its dominant (fundamental) peak in
    ``[fmin_hz, fmax_hz]``.

    ``frequency_hz`` is refined by a parabola through the log power of the top three bins;
    ``power`` is the PSD at the chosen bin ((spikes/ms)^2 / Hz); ``max_frequency_hz`` is the
    frequency of the highest bin (differs from ``frequency_hz`` when a harmonic was the
    highest).  ``success`` is False (with the reason in ``message`` and NaN peak) when the
    band is empty or the signal is constant.
    """

    frequency_hz: float
    power: float
    freqs_hz: np.ndarray
    psd: np.ndarray
    success: bool
    message: str
    max_frequency_hz: float = math.nan


def _refine(freqs: np.ndarray, psd: np.ndarray, j: int) -> float:
    """Parabolic interpolation of the log power around bin ``j``."""
    f = float(freqs[j])
    if 0 < j < freqs.size - 1 and np.all(psd[j - 1:j + 2] > 0):
        y0, y1, y2 = np.log(psd[j - 1:j + 2])
        denom = y0 - 2 * y1 + y2
        if denom < 0:
            shift = 0.5 * (y0 - y2) / denom
            f += float(np.clip(shift, -0.5, 0.5)) * float(freqs[1] - freqs[0])
    return f


def spectral_peak(
    rate: Any,
    dt_ms: float,
    *,
    segment_ms: float = 500.0,
    fmin_hz: float = 5.0,
    fmax_hz: float = 500.0,
    near_hz: float | None = None,
    fundamental_ratio: float = 0.9,
) -> SpectralPeak:
    """Frequency (Hz) and power of the dominant rhythm in the Welch spectrum of ``rate``.

    Segments of ``segment_ms`` (shortened to the record if needed; 500 ms gives 2 Hz
    resolution) with 50 % overlap and a Hann window, mean removed per segment.
    Frequencies below ``fmin_hz`` are ignored so slow drifts do not win over the gamma band.

    Which peak: the highest bin is ambiguous for MFE trains, whose spectrum has lines at the
    MFE rate, at its harmonics (sharp events: nearly equal power) and, when big and small
    MFEs alternate, at half the MFE rate (with anything from ~0.4 to ~0.9 of the top power
    in the default SNN, varying from seed to seed).  Therefore:
    - with ``near_hz`` (e.g. 1000 / median MFE interval, as :func:`summary` does), the
      highest local maximum within a factor 1.25 of ``near_hz`` is reported;
    - otherwise, or if there is none, the highest bin, replaced by its lowest subharmonic
      ``f_max / d`` (d = 2..5, a local maximum within 1.5 bins) whose power is at least
      ``fundamental_ratio`` times the top power (near-equal harmonic combs).  Use
      ``fundamental_ratio > 1`` to always get the highest bin.
    The highest bin is always available as ``max_frequency_hz``.
    """
    x = _check_series(rate, "rate", nonnegative=False)
    dt = _check_dt(dt_ms)
    seg = _window_steps(segment_ms, dt, "segment_ms")
    fmin = _check_nonneg(fmin_hz, "fmin_hz")
    fmax = _check_nonneg(fmax_hz, "fmax_hz")
    if fmax <= fmin:
        raise ValueError(f"fmax_hz = {fmax_hz!r} must be > fmin_hz = {fmin_hz!r}")
    fundamental_ratio = float(fundamental_ratio)
    if not (fundamental_ratio > 0):
        raise ValueError(f"fundamental_ratio = {fundamental_ratio!r} must be > 0")
    if near_hz is not None:
        near_hz = float(near_hz)
        if not (math.isfinite(near_hz) and near_hz > 0):
            raise ValueError(f"near_hz = {near_hz!r} must be a positive frequency (Hz) or None")
    if x.size < 8:
        raise ValueError(f"rate has {x.size} samples; the spectrum needs at least 8")
    nperseg = min(seg, x.size)
    fs_hz = 1000.0 / dt
    freqs, psd = signal.welch(x, fs=fs_hz, nperseg=nperseg, noverlap=nperseg // 2,
                              detrend="constant")
    band = np.flatnonzero((freqs >= fmin) & (freqs <= fmax))
    if band.size == 0:
        return SpectralPeak(math.nan, math.nan, freqs, psd, False,
                            f"no Welch frequency in [{fmin:g}, {fmax:g}] Hz "
                            f"(resolution {freqs[1] - freqs[0]:g} Hz)")
    if not np.any(psd[band] > 0):
        return SpectralPeak(math.nan, 0.0, freqs, psd, False, "rate is constant: no power")
    j_max = int(band[np.argmax(psd[band])])
    f_max = _refine(freqs, psd, j_max)
    interior = band[(band > 0) & (band < freqs.size - 1)]
    local_max = interior[(psd[interior] >= psd[interior - 1])
                         & (psd[interior] >= psd[interior + 1]) & (psd[interior] > 0)]
    if near_hz is not None:
        cand = local_max[(freqs[local_max] >= near_hz / 1.25)
                         & (freqs[local_max] <= near_hz * 1.25)]
        if cand.size:
            j = int(cand[np.argmax(psd[cand])])
            return SpectralPeak(_refine(freqs, psd, j), float(psd[j]), freqs, psd, True,
                                f"highest peak within a factor 1.25 of {near_hz:.4g} Hz", f_max)
    df = float(freqs[1] - freqs[0])
    j = j_max
    for d in range(5, 1, -1):  # lowest subharmonic first
        target = f_max / d
        if target < fmin:
            continue
        cand = local_max[np.abs(freqs[local_max] - target) <= 1.5 * df]
        if cand.size:
            c = int(cand[np.argmax(psd[cand])])
            if psd[c] >= fundamental_ratio * psd[j_max]:
                j = c
                break
    msg = ("highest bin" if j == j_max
           else f"highest bin {f_max:.4g} Hz is a harmonic; reporting fundamental")
    return SpectralPeak(_refine(freqs, psd, j), float(psd[j]), freqs, psd, True, msg, f_max)


@dataclass
class Oscillation:
    """Period (ms) and amplitude (half peak-to-trough, in the rate's units) of a rhythm."""

    period_ms: float
    amplitude: float
    n_cycles: int
    success: bool
    message: str


def oscillation(
    rate: Any, dt_ms: float, period_ms: float | None = None, **spectral_kwargs: Any
) -> Oscillation:
    """Oscillation period and amplitude of a (smoothed) rate.

    The period defaults to ``1000 / spectral_peak(...)``.  The amplitude is half the mean
    peak minus the mean trough, where peaks (troughs) are maxima (minima) at least 0.7
    periods apart; for a sinusoid ``a sin(...) + c`` this is ``a``.
    """
    x = _check_series(rate, "rate", nonnegative=False)
    dt = _check_dt(dt_ms)
    if period_ms is None:
        sp = spectral_peak(x, dt, **spectral_kwargs)
        if not sp.success:
            return Oscillation(math.nan, math.nan, 0, False, sp.message)
        period_ms = 1000.0 / sp.frequency_hz
    period = _check_dt(period_ms, "period_ms")
    distance = max(1, int(0.7 * period / dt))
    peaks, _ = signal.find_peaks(x, distance=distance)
    troughs, _ = signal.find_peaks(-x, distance=distance)
    if peaks.size == 0 or troughs.size == 0:
        return Oscillation(period, math.nan, 0, False,
                           "no peak or no trough found: record shorter than a period?")
    amp = 0.5 * (x[peaks].mean() - x[troughs].mean())
    return Oscillation(period, float(amp), int(min(peaks.size, troughs.size)), True, "ok")


# --------------------------------------------------------------------------- attractors


def state_variable_names(result: Any) -> list[str]:
    """Names usable in :func:`attractor_projection` for this result."""
    names = ["f_E", "f_I"]
    names += [k for k in sorted(result.extra)
              if np.ndim(result.extra[k]) == 1 and len(result.extra[k]) == result.n_steps]
    state_names = (getattr(result, "options", None) or {}).get("state_names")
    if state_names and "state" in result.extra and "state_t_ms" in result.extra:
        names += list(state_names)
    return names


def _trajectory(result: Any, name: str, window_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """(t_ms, values) of one named variable of ``result``."""
    if name in ("f_E", "f_I"):
        rate = result.rate_e if name == "f_E" else result.rate_i
        return result.t_ms, smooth_rate(rate, result.dt_ms, window_ms)
    if name in result.extra:
        arr = np.asarray(result.extra[name], dtype=float)
        if arr.shape != (result.n_steps,):
            raise ValueError(
                f"result.extra[{name!r}] has shape {arr.shape}, need ({result.n_steps},) "
                "(one value per step)"
            )
        return result.t_ms, arr
    state_names = list((getattr(result, "options", None) or {}).get("state_names") or [])
    if name in state_names and "state" in result.extra and "state_t_ms" in result.extra:
        state = np.asarray(result.extra["state"], dtype=float)
        t = np.asarray(result.extra["state_t_ms"], dtype=float)
        if state.ndim != 2 or state.shape != (t.size, len(state_names)):
            raise ValueError(f"result.extra['state'] has shape {state.shape}, expected "
                             f"({t.size}, {len(state_names)}) from state_t_ms and state_names")
        return t, state[:, state_names.index(name)]
    raise ValueError(f"unknown variable {name!r}; available: "
                     f"{', '.join(state_variable_names(result))}")


def attractor_projection(
    result: Any,
    x: str = "f_E",
    y: str = "f_I",
    *,
    transient_ms: float = 100.0,
    window_ms: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Trajectory projected on two named variables, after the transient (``t > transient``).

    ``"f_E"`` / ``"f_I"`` are the smoothed population rates (spikes/ms, ``window_ms``
    moving average); other names are per-step arrays in ``result.extra`` or, for the reduced
    models, entries of ``result.options["state_names"]`` (e.g. ``"m_EE"``, ``"m_EI"``) read
    from the recorded ``extra["state"]`` at ``extra["state_t_ms"]``.  When the two variables
    are recorded on different time grids, the finer one is interpolated onto the coarser.
    """
    k = transient_steps(transient_ms, result.dt_ms, result.n_steps)
    t0 = k * result.dt_ms
    tx, vx = _trajectory(result, x, window_ms)
    ty, vy = _trajectory(result, y, window_ms)
    if tx.size != ty.size or not np.allclose(tx, ty):
        if tx.size >= ty.size:
            vx, tx = np.interp(ty, tx, vx), ty
        else:
            vy, ty = np.interp(tx, ty, vy), tx
    keep = tx > t0 + 1e-9
    return vx[keep], vy[keep]


# --------------------------------------------------------------------------- summary


def _num(v: float) -> float | None:
    """Plain float for JSON, ``None`` for NaN/inf (JSON has no NaN)."""
    v = float(v)
    return v if math.isfinite(v) else None


def _floats(a: Sequence[float] | np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(a, dtype=float)]


def summary(result: Any, transient_ms: float = 100.0) -> dict[str, Any]:
    """Observables of one run, JSON-serialisable (plain floats/ints/lists; ``None`` if
    undefined, e.g. SSI without spikes).

    Keys: rates per neuron (``rate_e_hz``, ``rate_i_hz``), synchrony (``ssi_e``, ``ssi_i``),
    Welch peak of the E rate (``spectral_peak_hz`` near the MFE rate when there are MFEs,
    ``spectral_peak_power``, ``spectral_highest_bin_hz``), oscillation
    ``period_ms`` and ``amplitude_e`` (smoothed E rate, spikes/ms), MFE peaks of the smoothed
    E rate after the transient (``n_peaks``, ``peak_times_ms``, ``peak_heights`` in
    spikes/ms, ``peak_intervals_ms``, ``peak_interval_mean_ms``), Delta m statistics
    (``delta_m_mean``, ``delta_m_std``, ``delta_m_abs_mean``), and run metadata.
    """
    for attr in ("spike_counts_e", "spike_counts_i", "dt_ms", "params"):
        if not hasattr(result, attr):
            raise TypeError(f"summary needs a SimulationResult-like object (missing {attr!r})")
    dt = _check_dt(result.dt_ms, "result.dt_ms")
    ce = _check_series(result.spike_counts_e, "result.spike_counts_e")
    ci = _check_series(result.spike_counts_i, "result.spike_counts_i")
    if ce.size != ci.size:
        raise ValueError(f"spike_counts_e and spike_counts_i differ in length "
                         f"({ce.size} vs {ci.size})")
    if ce.size == 0:
        raise ValueError("result has no time steps")
    k = transient_steps(transient_ms, dt, ce.size)
    n_e, n_i = result.params.N_E, result.params.N_I
    ce_t, ci_t = ce[k:], ci[k:]

    rate_e = ce / dt
    sm_e = smooth_rate(rate_e, dt)
    sm_e_t = sm_e[k:]
    peaks = mfe_peaks(sm_e_t, dt)
    times = np.round((peaks.indices + k + 1) * dt, 9)  # no float noise like 116.90000000000002
    intervals = np.diff(times)
    dm = peak_differences(peaks.heights)

    # MFE rate from the peak intervals picks the spectral line (see spectral_peak)
    near = 1000.0 / float(np.median(intervals)) if intervals.size >= 2 else None
    if ce_t.size >= 8:
        sp = spectral_peak(ce_t / dt, dt, near_hz=near)
        osc = (oscillation(sm_e_t, dt, period_ms=1000.0 / sp.frequency_hz) if sp.success
               else Oscillation(math.nan, math.nan, 0, False, sp.message))
    else:
        sp = SpectralPeak(math.nan, math.nan, np.array([]), np.array([]), False,
                          "fewer than 8 steps after the transient")
        osc = Oscillation(math.nan, math.nan, 0, False, sp.message)

    return {
        "model": str(getattr(result, "model", "")),
        "dt_ms": dt,
        "duration_ms": float(ce.size * dt),
        "transient_ms": float(k * dt),
        "N_E": int(n_e),
        "N_I": int(n_i),
        "rate_e_hz": per_neuron_rate_hz(ce, dt, n_e, transient_ms=k * dt),
        "rate_i_hz": per_neuron_rate_hz(ci, dt, n_i, transient_ms=k * dt),
        "ssi_e": _num(ssi(ce_t, n_e)),
        "ssi_i": _num(ssi(ci_t, n_i)),
        "spectral_peak_hz": _num(sp.frequency_hz),
        "spectral_peak_power": _num(sp.power),
        "spectral_highest_bin_hz": _num(sp.max_frequency_hz),
        "period_ms": _num(osc.period_ms),
        "amplitude_e": _num(osc.amplitude),
        "n_peaks": int(peaks.indices.size),
        "peak_times_ms": _floats(times),
        "peak_heights": _floats(peaks.heights),
        "peak_intervals_ms": _floats(intervals),
        "peak_interval_mean_ms": _num(intervals.mean()) if intervals.size else None,
        "delta_m_mean": _num(dm.mean()) if dm.size else None,
        "delta_m_std": _num(dm.std()) if dm.size else None,
        "delta_m_abs_mean": _num(np.abs(dm).mean()) if dm.size else None,
    }
