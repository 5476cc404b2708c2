"""Verification of bifurcation predictions against stochastic simulations.

The layer works on plain records, not on a continuation API: an analysis supplies its special
points (:class:`SpecialPointRecord`), its branches (:class:`BranchRecord`) and a function
``predict(value) -> list[Prediction]`` (the stable attractors it predicts there); the
simulators are callables ``simulate(value, seed, dt_scale) -> Trace``.  :func:`verify`

1. chooses test values: both sides of every special point at ``side_distance`` and
   ``n_along`` values spread along every branch;
2. runs each simulator there with every seed (through ``map_fn``, e.g. a process pool) and
   computes the observables of :func:`observe` (rates in Hz per neuron);
3. compares every prediction with an explicit statistic, its spread over seeds and a verdict
   (agree / disagree / inconclusive; thresholds in :class:`VerifyOptions`);
4. locates the simulator's own transitions (synchrony, alternation) by a bracketing search
   over the parameter and compares them with the special points (:func:`locate_transition`);
5. repeats the runs next to special points with half the time step (dt/2 control).

Alternation is compared like with like.  The SNN's alternation index (minus the lag-1
correlation of successive differences of MFE peak heights) is a statistic of noisy heights:
near a cycle whose real Floquet multiplier mu lies in (-1, 0) the height deviations behave as
an AR(1) sequence x_n = mu x_(n-1) + e_n, whose differences have lag-1 correlation
-(1 - mu) / 2, so the index is (1 - mu) / 2 (:func:`predicted_alternation_index`).  The
index crosses ``alt_threshold`` theta where mu crosses mu* = 1 - 2 theta (-0.5 for
theta 0.75: :func:`alternation_multiplier`), on the stable cycle before the period doubling
(mu = -1).  The predicted alternation boundary is therefore the point of the cycle branch where
mu crosses mu* (special-point type ``ALT``, located by :func:`locate_multiplier_crossings`),
reported beside the PD point; where no such crossing is located, the boundary verdict is
``unconfirmed``.  Per-point verdicts predict alternation on a stable cycle from the same
rule (present where mu < mu*).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "AGREE",
    "DISAGREE",
    "INCONCLUSIVE",
    "UNCONFIRMED",
    "ALT",
    "BoundaryResult",
    "BranchRecord",
    "Prediction",
    "SpecialPointRecord",
    "Trace",
    "Verdict",
    "Verification",
    "VerifyOptions",
    "attractor_of",
    "alternation_multiplier",
    "alternation_predicted",
    "locate_multiplier_crossings",
    "locate_transition",
    "observe",
    "planned_runs",
    "predicted_alternation_index",
    "quantity_verdict",
    "threshold_verdict",
    "verify",
]

AGREE, DISAGREE, INCONCLUSIVE = "agree", "disagree", "inconclusive"
#: Boundary verdict where the ODE side cannot place the prediction (e.g. no located crossing
#: of the alternation multiplier): never counted as agreement.
UNCONFIRMED = "unconfirmed"
#: Special-point type of the point where a stable cycle's real Floquet multiplier crosses
#: mu* = 1 - 2 alt_threshold (the predicted alternation transition of noisy peak heights).
ALT = "ALT"
Simulator = Callable[..., "Trace"]  # (value, seed, dt_scale[, start=state]) -> Trace
MapFn = Callable[[Callable[..., Any], list[tuple]], list[Any]]


@dataclass(frozen=True)
class Trace:
    """Population rates per neuron (Hz) on a uniform grid of step ``dt_ms``; ``n_e``: the
    number of E neurons the rate was counted from (None: expected counts, e.g. of a
    deterministic model), used by the synchrony ratio."""

    rate_e_hz: np.ndarray
    rate_i_hz: np.ndarray
    dt_ms: float
    n_e: int | None = None


@dataclass(frozen=True)
class Prediction:
    """One stable attractor predicted at ``value`` (NaN: not predicted).

    ``kind``: ``stable_equilibrium``, ``stable_cycle``, ``period_doubled_cycle`` or
    ``oscillation`` (no stable equilibrium, no continued stable cycle: only the presence of
    an oscillation is predicted).  Rates in Hz per neuron; ``peak_rate_e_hz`` the E rate's
    maximum over a cycle; ``delta_m_hz`` the height difference of the doubled cycle's two
    peaks; ``alt_multiplier`` (cycles): the most negative real part of the nontrivial Floquet
    multipliers (0 when none is negative; NaN when unknown, inaccurate, or when a complex pair
    lies left of mu*, where the AR(1) relation of :func:`predicted_alternation_index` does not
    apply; see :func:`bifsnn.analysis.branches.alternation_multiplier_of`).
    """

    branch: str
    kind: str
    value: float
    rate_e_hz: float = math.nan
    rate_i_hz: float = math.nan
    period_ms: float = math.nan
    peak_rate_e_hz: float = math.nan
    delta_m_hz: float = math.nan
    alt_multiplier: float = math.nan
    start: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class SpecialPointRecord:
    """A special point: ``type`` in {H, LP, BP, LPC, PD, NS, ...} on branch ``branch``;
    ``confirmed`` False (with the reason in ``note``) for a label the continuation could not
    confirm (not located, or its eigenvalues/multipliers do not show it).

    ``ALT`` points (a stable cycle's real multiplier crossing ``multiplier``; see the module
    docstring) also carry ``alternation_above`` (alternation predicted on the side of larger
    parameter values) and ``halfwidth`` (how far the true crossing may lie from ``value``:
    the location's accuracy on the branch's rows)."""

    type: str
    value: float
    branch: str
    period_ms: float = math.nan
    confirmed: bool = True
    note: str = ""
    multiplier: float = math.nan
    alternation_above: bool | None = None
    halfwidth: float = 0.0


@dataclass(frozen=True)
class BranchRecord:
    """A branch: label, kind (EP/PO), the parameter intervals where it is stable and whether
    it covered what was asked (``complete``) with its end message."""

    label: str
    kind: str
    stable_intervals: tuple[tuple[float, float], ...]
    complete: bool
    message: str = ""


@dataclass
class VerifyOptions:
    """Seeds, test-value placement and the verdict thresholds (all stated in the report).

    Coexisting attractors: runs started on each attractor (``Prediction.start``), every seed;
    each run is assigned to the predicted attractor it shows (oscillation by the synchrony
    ratio, alternation by the alternation index, else the nearest E rate): agree (the SNN
    keeps the history) if from every start at least ``keep_fraction`` of the runs stay on
    their attractor, disagree if from some start at most 1 - ``keep_fraction`` do.

    Quantities (rates, period, peak height, |Delta m|): relative error e = |obs - pred| / |pred|
    with band u = n_sigma * (SD over seeds / sqrt(n)) / |pred|: agree if e + u <= tol,
    disagree if e - u > tol, else inconclusive.  Presence/absence of oscillation: synchrony
    ratio against ``sync_threshold``; of alternation: minus the lag-1 correlation of successive
    peak differences against ``alt_threshold`` (i.i.d. peak heights give 0.5, perfect
    alternation 1): agree if mean +- n_sigma * SE lies wholly on the predicted side.
    Alternation is predicted on a doubled cycle and on a stable cycle whose real multiplier
    is below mu* = 1 - 2 ``alt_threshold`` (see the module docstring), so ``alt_threshold``
    must lie in (0.5, 1).
    """

    seeds: tuple[int, ...] = (0, 1, 2)
    side_distance: float | None = None  # default (hi - lo) / 15
    n_along: int = 3
    rate_tol: float = 0.15
    period_tol: float = 0.10
    peak_tol: float = 0.30
    delta_m_tol: float = 0.40
    sync_threshold: float = 1.5
    alt_threshold: float = 0.75
    n_sigma: float = 2.0
    boundary_tol: float | None = None  # default (hi - lo) / 24
    bisect_steps: int = 4
    transient_ms: float = 200.0
    mfe_min_height_hz: float = 100.0 / 3.0  # 10 spikes/ms for N_E = 300
    mfe_min_separation_ms: float = 9.0
    dt_control: bool = True
    keep_fraction: float = 2.0 / 3.0
    grid: tuple[float, ...] = ()  # values already simulated: along-branch values snap to it

    def validate(self) -> None:
        """Raise ValueError naming the first bad option."""
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds = {self.seeds!r} must be distinct and non-empty")
        for name in ("rate_tol", "period_tol", "peak_tol", "delta_m_tol", "n_sigma",
                     "sync_threshold", "alt_threshold", "mfe_min_separation_ms"):
            if not (getattr(self, name) > 0):
                raise ValueError(f"{name} = {getattr(self, name)!r} must be > 0")
        if not 0.5 < self.alt_threshold < 1.0:
            raise ValueError(f"alt_threshold = {self.alt_threshold!r} must be in (0.5, 1): "
                             "the alternation index is 0.5 for independent heights, 1 for "
                             "strict alternation")
        for name in ("side_distance", "boundary_tol"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise ValueError(f"{name} = {v!r} must be None or > 0")
        if not 0.5 < self.keep_fraction <= 1.0:
            raise ValueError(f"keep_fraction = {self.keep_fraction!r} must be in (0.5, 1]")
        if not (isinstance(self.n_along, int) and self.n_along >= 0):
            raise ValueError(f"n_along = {self.n_along!r} must be an integer >= 0")
        if not (isinstance(self.bisect_steps, int) and self.bisect_steps >= 0):
            raise ValueError(f"bisect_steps = {self.bisect_steps!r} must be an integer >= 0")


# ------------------------------------------------------------------------------ observables
def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 3 or np.std(a) == 0 or np.std(b) == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def _bimodality(x: np.ndarray) -> float:
    """Sample bimodality coefficient (> 5/9 suggests two modes); NaN for < 4 values."""
    n = x.size
    if n < 4 or np.std(x) == 0:
        return math.nan
    from scipy import stats

    g = stats.skew(x, bias=False)
    k = stats.kurtosis(x, bias=False)
    return float((g * g + 1) / (k + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))))


def observe(trace: Trace, opts: VerifyOptions | None = None) -> dict[str, Any]:
    """Observables of one run after the transient, rates and heights in Hz per neuron.

    ``synchrony``: the synchrony ratio of :func:`bifsnn.network.observables.synchrony_ratio`
    (SSI of the E population, the fraction firing within +-5 steps of a spike, over its value
    for independent firing at the same rate in ``trace.n_e`` neurons: 1 without synchrony);
    ``spectral_period_ms`` from the Welch peak near the MFE rate, ``spectral_power_fraction``
    the share of 5-500 Hz power within 15 % of that peak; MFE peaks of the 1 ms smoothed E
    rate (``peak_heights_hz``, ``mfe_interval_ms``), and alternation statistics of the peak
    heights: ``alternation_fraction`` (successive differences changing sign; 2/3 for i.i.d.
    heights), ``alternation_index`` (minus the lag-1 correlation of successive differences;
    0.5 for i.i.d., 1 for strict alternation), ``delta_m_bimodality`` and ``delta_m_hz``.
    """
    from bifsnn.network.observables import (
        mfe_peaks,
        smooth_rate,
        spectral_peak,
        ssi,
        synchrony_ratio,
    )

    o = opts or VerifyOptions()
    dt = float(trace.dt_ms)
    k = int(round(o.transient_ms / dt))
    re = np.asarray(trace.rate_e_hz, float)[k:]
    ri = np.asarray(trace.rate_i_hz, float)[k:]
    if re.size < 16:
        raise ValueError(f"trace has {re.size} steps after the transient; need >= 16")
    out: dict[str, Any] = {"rate_e_hz": float(re.mean()), "rate_i_hz": float(ri.mean())}
    counts = np.clip(re, 0, None) * dt / 1000.0  # fraction of the population per step
    out["synchrony"] = synchrony_ratio(ssi(counts, 1), out["rate_e_hz"], trace.n_e, dt)
    sm = smooth_rate(re, dt)
    pk = mfe_peaks(sm, dt, o.mfe_min_separation_ms, o.mfe_min_height_hz)
    h = np.asarray(pk.heights, float)
    iv = np.diff(pk.indices) * dt
    near = 1000.0 / float(np.median(iv)) if iv.size >= 2 else None
    sp = spectral_peak(re, dt, near_hz=near)
    out["spectral_peak_hz"] = float(sp.frequency_hz) if sp.success else math.nan
    out["spectral_period_ms"] = 1000.0 / sp.frequency_hz if sp.success else math.nan
    frac = math.nan
    if sp.success:
        band = (sp.freqs_hz >= 5) & (sp.freqs_hz <= 500)
        near_band = band & (np.abs(sp.freqs_hz / sp.frequency_hz - 1) <= 0.15)
        tot = float(sp.psd[band].sum())
        frac = float(sp.psd[near_band].sum() / tot) if tot > 0 else math.nan
    out["spectral_power_fraction"] = frac
    out["n_peaks"] = int(h.size)
    out["mfe_interval_ms"] = float(iv.mean()) if iv.size else math.nan
    out["peak_height_hz"] = float(h.mean()) if h.size else math.nan
    d = np.diff(h)
    out["alternation_fraction"] = float(np.mean(d[1:] * d[:-1] < 0)) if d.size >= 3 else math.nan
    c = _corr(d[1:], d[:-1]) if d.size >= 4 else math.nan
    out["alternation_index"] = -c if math.isfinite(c) else math.nan
    out["delta_m_bimodality"] = _bimodality(d)
    out["delta_m_abs_hz"] = float(np.median(np.abs(d))) if d.size else math.nan
    out["delta_m_hz"] = [float(x) for x in d]
    return out


def _run_one(sim: Simulator, value: float, seed: int, dt_scale: float,
             opts: VerifyOptions, start: Any = None) -> dict[str, Any]:
    """Simulate (from ``start`` if given) and observe (top level, so a process pool can
    run it)."""
    trace = sim(value, seed, dt_scale) if start is None else \
        sim(value, seed, dt_scale, start=start)
    return observe(trace, opts)


def _serial_map(fn: Callable[..., Any], args: list[tuple]) -> list[Any]:
    return [fn(*a) for a in args]


def _stored(store: dict[tuple, Any], key: tuple) -> dict[str, Any]:
    """The observation under ``key``; a Future (a run submitted ahead, see
    :func:`planned_runs`) is waited for and replaced by its result."""
    r = store[key]
    if isinstance(r, Future):
        r = store[key] = r.result()
    return r


# ------------------------------------------------------------------------------ verdicts
def _mean_se(values: Sequence[float]) -> tuple[float, float, float, int]:
    v = np.array([x for x in values if x is not None and math.isfinite(x)], float)
    if v.size == 0:
        return math.nan, math.nan, math.nan, 0
    sd = float(v.std(ddof=1)) if v.size > 1 else math.nan
    return float(v.mean()), sd, sd / math.sqrt(v.size) if v.size > 1 else math.nan, int(v.size)


def quantity_verdict(predicted: float, observed: Sequence[float], tol: float,
                     n_sigma: float = 2.0) -> tuple[str, str]:
    """Verdict and statistic text for a predicted number against per-seed observations."""
    mean, _sd, se, n = _mean_se(observed)
    if not math.isfinite(predicted) or predicted == 0:
        return INCONCLUSIVE, "no usable prediction"
    if n == 0:
        return INCONCLUSIVE, "not observed in any seed"
    if n < 2:
        return INCONCLUSIVE, f"one seed only: no spread (relative error " \
                             f"{abs(mean - predicted) / abs(predicted):.3f})"
    e = abs(mean - predicted) / abs(predicted)
    u = n_sigma * se / abs(predicted)
    text = f"rel. error {e:.3f} ± {u:.3f} (tol {tol:g})"
    if e + u <= tol:
        return AGREE, text
    if e - u > tol:
        return DISAGREE, text
    return INCONCLUSIVE, text


def threshold_verdict(present: bool, observed: Sequence[float], threshold: float,
                      n_sigma: float = 2.0) -> tuple[str, str]:
    """Verdict for a predicted presence (``present``) or absence of a feature whose statistic
    exceeds ``threshold`` when the feature is there."""
    mean, _sd, se, n = _mean_se(observed)
    if n < 2:
        return INCONCLUSIVE, f"{n} usable seed(s): no spread"
    text = f"mean {mean:.3g} ± {n_sigma * se:.2g} vs threshold {threshold:g}"
    above, below = mean - n_sigma * se > threshold, mean + n_sigma * se < threshold
    if (present and above) or (not present and below):
        return AGREE, text
    if (present and below) or (not present and above):
        return DISAGREE, text
    return INCONCLUSIVE, text


def predicted_alternation_index(multiplier: float) -> float:
    """Alternation index (1 - mu) / 2 of noisy peak heights whose deviations follow
    x_n = mu x_(n-1) + e_n (a cycle with real Floquet multiplier ``multiplier`` = mu and
    i.i.d. kicks): Cov(d_n, d_(n-1)) = -s2 (1 - mu)^2 and Var(d_n) = 2 s2 (1 - mu) for the
    differences d_n = x_n - x_(n-1), s2 = Var(x)."""
    return (1.0 - float(multiplier)) / 2.0


def alternation_multiplier(alt_threshold: float) -> float:
    """mu* = 1 - 2 theta: the real Floquet multiplier at which the alternation index of
    noisy peak heights crosses ``alt_threshold`` = theta (inverse of
    :func:`predicted_alternation_index`; -0.5 for theta = 0.75)."""
    if not 0.5 < alt_threshold < 1.0:
        raise ValueError(f"alt_threshold = {alt_threshold!r} must be in (0.5, 1)")
    return 1.0 - 2.0 * float(alt_threshold)


def locate_multiplier_crossings(p: Sequence[float], multiplier: Sequence[float],
                                stable: Sequence[bool], mu_star: float, tol: float
                                ) -> list[dict[str, Any]]:
    """Where a branch's real multiplier crosses ``mu_star`` between two stable rows.

    ``p``, ``multiplier`` (NaN: unknown at that row, skipped), ``stable``: one entry per row
    in branch order.  Each crossing between consecutive rows with finite multipliers (both
    stable) is placed at the root of the quadratic through them and a neighbouring row (on a
    monotone stretch of the parameter); its ``halfwidth`` is the distance to the linear
    interpolation's root (the error of the lower order, an upper estimate of the quadratic's),
    at most the distance to the far end of the bracket (the root lies in it).  Without a
    neighbour, or across rows without a finite multiplier, the linear root with the bracket
    as its error.  ``confirmed`` when ``halfwidth <= tol``.
    Returns dicts ``value``, ``halfwidth``, ``bracket``, ``alternation_above`` (multiplier
    below ``mu_star`` at the larger parameter value), ``confirmed``, ``note``."""
    if not tol > 0:
        raise ValueError(f"tol = {tol!r} must be > 0")
    p = np.asarray(p, float)
    mu = np.asarray(multiplier, float)
    st = np.asarray(stable, bool)
    if not p.shape == mu.shape == st.shape or p.ndim != 1:
        raise ValueError(f"p, multiplier, stable must be 1-d of one length; got {p.shape}, "
                         f"{mu.shape}, {st.shape}")
    ok = np.flatnonzero(np.isfinite(mu) & np.isfinite(p))
    out: list[dict[str, Any]] = []
    for a, b in zip(ok[:-1], ok[1:], strict=True):
        if not (st[a:b + 1].all() and p[a] != p[b]):
            continue
        fa, fb = mu[a] - mu_star, mu[b] - mu_star
        if fa * fb > 0 or fa == fb or (fa == 0 and a != ok[0]):
            continue  # a root exactly on a row is counted once, in the bracket ending there
        v = float(p[a] + (p[b] - p[a]) * fa / (fa - fb))
        far = max(abs(v - p[a]), abs(p[b] - v))
        half, note = far, f"bracketed by rows at {p[a]:.6g} and {p[b]:.6g}"
        if b - a > 1:
            note += f" ({b - a - 1} row(s) between without an accurate multiplier)"
        else:
            q = _quadratic_root(p, mu, ok, a, b, mu_star)
            if q is not None:  # the quadratic's root, its distance from the linear one
                v, half = q, min(far, max(abs(q - v), 1e-12))
            else:
                note += " (no neighbouring row for the interpolation error)"
        lo_p, hi_p = (a, b) if p[a] < p[b] else (b, a)
        out.append({"value": v, "halfwidth": float(half),
                    "bracket": (float(p[lo_p]), float(p[hi_p])),
                    "alternation_above": bool(mu[hi_p] < mu_star),
                    "confirmed": bool(half <= tol),
                    "note": note + ("" if half <= tol else
                                    f"; located only to +-{half:.2g} > {tol:.2g}")})
    return out


def _quadratic_root(p: np.ndarray, mu: np.ndarray, ok: np.ndarray, a: int, b: int,
                    mu_star: float) -> float | None:
    """Root in [p_a, p_b] of the quadratic through rows a, b and an adjacent finite row on a
    monotone stretch of p (None if there is none)."""
    k = int(np.searchsorted(ok, a))
    for c in ([ok[k - 1]] if k > 0 else []) + ([ok[k + 2]] if k + 2 < ok.size else []):
        if abs(c - a) > 2 or abs(c - b) > 2:
            continue
        idx = sorted((int(c), int(a), int(b)))
        x = p[idx]
        if not (np.all(np.diff(x) > 0) or np.all(np.diff(x) < 0)):
            continue
        coef = np.polyfit(x - p[a], mu[idx] - mu_star, 2)
        roots = np.roots(coef) + p[a]
        lo, hi = min(p[a], p[b]), max(p[a], p[b])
        inside = [float(r.real) for r in np.atleast_1d(roots)
                  if abs(r.imag) < 1e-12 and lo <= r.real <= hi]
        if len(inside) == 1:
            return inside[0]
    return None


@dataclass
class Verdict:
    """One prediction checked on one observable (``observed``/``spread``: SNN mean and SD
    over seeds; ``markov_*``: the Markov model's)."""

    branch: str
    prediction: str
    value: float
    observable: str
    predicted: float | str
    observed: float
    spread: float
    n_seeds: int
    statistic: str
    verdict: str
    markov_observed: float = math.nan
    markov_spread: float = math.nan
    markov_verdict: str = ""


@dataclass
class BoundaryResult:
    """A special point against the simulator's own transition (``snn_interval``: where the
    transition lies, ``None`` for an open end).  Alternation boundaries are placed at the
    ``ALT`` point (``ode_halfwidth``: its location accuracy) with the PD point it leads to in
    ``beside``; verdict ``unconfirmed`` when the ODE side has no located ``ALT`` point."""

    kind: str
    type: str
    ode_value: float
    snn_value: float | None
    snn_interval: tuple[float | None, float | None]
    distance: float | None
    statistic: str
    threshold: float
    verdict: str
    reason: str
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    beside: str = ""
    ode_halfwidth: float = 0.0


@dataclass
class Verification:
    """Everything :func:`verify` found; ``to_dict`` is JSON-ready."""

    param: str
    options: VerifyOptions
    test_values: list[float]
    verdicts: list[Verdict]
    boundaries: list[BoundaryResult]
    dt_control: list[dict[str, Any]]
    observations: dict[str, dict[float, list[dict[str, Any]]]]

    def counts(self) -> dict[str, int]:
        """Number of SNN verdicts of each kind."""
        out = {AGREE: 0, DISAGREE: 0, INCONCLUSIVE: 0}
        for v in self.verdicts:
            out[v.verdict] = out.get(v.verdict, 0) + 1
        return out

    def summary_line(self) -> str:
        """"k of n predictions agree" with the SNN (and the Markov model)."""
        c = self.counts()
        n = len(self.verdicts)
        if n == 0 and not self.boundaries:
            return "no prediction was checked against the SNN (0 verdicts, 0 boundaries)"
        mk = sum(v.markov_verdict == AGREE for v in self.verdicts)
        nb = sum(b.verdict == AGREE for b in self.boundaries)
        nu = sum(b.verdict == UNCONFIRMED for b in self.boundaries)
        return (f"{c[AGREE]} of {n} predictions agree with the SNN ({c[DISAGREE]} disagree, "
                f"{c[INCONCLUSIVE]} inconclusive; {mk} of {n} agree with the Markov model); "
                f"{nb} of {len(self.boundaries)} boundaries agree"
                + (f" ({nu} unconfirmed on the ODE side)" if nu else ""))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready verification: summary line, options, verdicts, boundaries, dt/2 controls."""
        o = asdict(self.options)
        return {
            "summary": self.summary_line(),
            "thresholds": o,
            "test_values": self.test_values,
            "verdicts": [asdict(v) for v in self.verdicts],
            "boundaries": [{k: v for k, v in asdict(b).items()} for b in self.boundaries],
            "dt_control": self.dt_control,
        }


# ------------------------------------------------------------------------------ test values
def _range_defaults(opts: VerifyOptions, lo: float, hi: float) -> tuple[float, float]:
    side = opts.side_distance if opts.side_distance is not None else (hi - lo) / 15
    btol = opts.boundary_tol if opts.boundary_tol is not None else (hi - lo) / 24
    return side, btol


def choose_test_values(special: Iterable[SpecialPointRecord], branches: Iterable[BranchRecord],
                       p_range: tuple[float, float], opts: VerifyOptions) -> list[float]:
    """Both sides of every special point at the side distance, and ``n_along`` values spread
    inside every stable interval of every branch (snapped to ``opts.grid`` if given)."""
    lo, hi = p_range
    side, _ = _range_defaults(opts, lo, hi)
    vals: list[float] = []
    for sp in special:
        vals += [v for v in (sp.value - side, sp.value + side) if lo <= v <= hi]
    grid = np.array(sorted(opts.grid), float)
    for br in branches:
        for a, b in br.stable_intervals:
            a, b = max(a, lo), min(b, hi)
            if b <= a or opts.n_along == 0:
                continue
            for v in a + (b - a) * (np.arange(opts.n_along) + 0.5) / opts.n_along:
                if grid.size:
                    inside = grid[(grid >= a) & (grid <= b)]
                    v = inside[np.argmin(np.abs(inside - v))] if inside.size else v
                vals.append(float(v))
    out: list[float] = []
    for v in sorted(vals):
        if not out or v - out[-1] > 1e-9 * max(1.0, abs(v)):
            out.append(float(v))
    return out


# ------------------------------------------------------------------------------ the checks
_CHECKS: dict[str, list[tuple[str, str, str]]] = {
    # (observable in the prediction / "present"/"absent", observed key, tolerance option)
    "stable_equilibrium": [("rate_e_hz", "rate_e_hz", "rate_tol"),
                           ("rate_i_hz", "rate_i_hz", "rate_tol"),
                           ("absent", "synchrony", "sync_threshold")],
    "stable_cycle": [("period_ms", "spectral_period_ms", "period_tol"),
                     ("period_ms", "mfe_interval_ms", "period_tol"),
                     ("peak_rate_e_hz", "peak_height_hz", "peak_tol"),
                     ("rate_e_hz", "rate_e_hz", "rate_tol"),
                     ("rate_i_hz", "rate_i_hz", "rate_tol"),
                     ("present", "synchrony", "sync_threshold"),
                     ("alternation", "alternation_index", "alt_threshold")],
    "period_doubled_cycle": [("present", "alternation_index", "alt_threshold"),
                             ("delta_m_hz", "delta_m_abs_hz", "delta_m_tol"),
                             ("half_period_ms", "mfe_interval_ms", "period_tol"),
                             ("rate_e_hz", "rate_e_hz", "rate_tol"),
                             ("rate_i_hz", "rate_i_hz", "rate_tol")],
    "oscillation": [("present", "synchrony", "sync_threshold")],
}


def alternation_predicted(pred: Prediction, opts: VerifyOptions) -> bool | None:
    """Whether ``pred`` predicts an alternation index above ``alt_threshold``: True on a
    doubled cycle, on a cycle whose real multiplier is below mu* (module docstring); False on
    an equilibrium or a cycle with the multiplier above mu*; None when it cannot say (a cycle
    without a usable multiplier, an oscillation of unknown form)."""
    if pred.kind == "period_doubled_cycle":
        return True
    if pred.kind == "stable_equilibrium":
        return False
    if pred.kind == "stable_cycle" and math.isfinite(pred.alt_multiplier):
        return bool(pred.alt_multiplier < alternation_multiplier(opts.alt_threshold))
    return None


def _alternation_check(pred: Prediction, o: VerifyOptions) -> tuple[str, str]:
    """("present"/"absent"/"" (no prediction), predicted text) of a cycle's alternation."""
    alt = alternation_predicted(pred, o)
    thr, star = o.alt_threshold, alternation_multiplier(o.alt_threshold)
    if alt is None:
        return "", "not predicted: no accurate real Floquet multiplier"
    mu = pred.alt_multiplier
    return ("present", f"present (> {thr:g}): mu = {mu:.3g} < {star:g}") if alt else \
        ("absent", f"absent (< {thr:g}): mu = {mu:.3g} > {star:g}")


def _check(pred: Prediction, what: str, key: str, opt: str, obs: dict[str, list[dict]],
           o: VerifyOptions) -> Verdict:
    vals = {m: [r.get(key, math.nan) for r in runs] for m, runs in obs.items()}
    alt_text = ""
    if what == "alternation":  # predicted from the cycle's multiplier
        what, alt_text = _alternation_check(pred, o)
        if not what:
            snn_m, snn_sd, _, n = _mean_se(vals.get("snn", []))
            mk_m, mk_sd, _, _ = _mean_se(vals.get("markov", []))
            return Verdict(pred.branch, pred.kind, pred.value, f"alternation: {key}", alt_text,
                           snn_m, snn_sd, n, "no prediction to check", INCONCLUSIVE, mk_m,
                           mk_sd, INCONCLUSIVE if "markov" in vals else "")
    res = {}
    for m, v in vals.items():
        if what in ("present", "absent"):
            res[m] = threshold_verdict(what == "present", v, getattr(o, opt), o.n_sigma)
        else:
            target = pred.period_ms / 2 if what == "half_period_ms" else getattr(pred, what)
            res[m] = quantity_verdict(target, v, getattr(o, opt), o.n_sigma)
    if alt_text:
        predicted: float | str = alt_text
    elif what in ("present", "absent"):
        predicted = f"{what} (> {getattr(o, opt):g})" if what == "present" \
            else f"{what} (< {getattr(o, opt):g})"
    else:
        predicted = pred.period_ms / 2 if what == "half_period_ms" else getattr(pred, what)
    snn_m, snn_sd, _, n = _mean_se(vals.get("snn", []))
    mk_m, mk_sd, _, _ = _mean_se(vals.get("markov", []))
    label = {"present": "oscillation present", "absent": "oscillation absent"}.get(what, what)
    if key == "alternation_index":
        label = "alternation " + what
    return Verdict(pred.branch, pred.kind, pred.value, f"{label}: {key}", predicted, snn_m,
                   snn_sd, n, res.get("snn", (INCONCLUSIVE, ""))[1],
                   res.get("snn", (INCONCLUSIVE, ""))[0], mk_m, mk_sd,
                   res.get("markov", ("", ""))[0])


def locate_transition(stat: Callable[[float], list[float]], lo: float, hi: float,
                      threshold: float, *, steps: int = 4,
                      n_sigma: float = 2.0) -> dict[str, Any]:
    """Bracketing search for the parameter where the seed mean of ``stat`` crosses
    ``threshold`` between ``lo`` and ``hi``.

    Bisection on the sign of mean - threshold for ``steps`` steps, then linear interpolation
    inside the final bracket. Half-width of the interval: half the bracket plus
    n_sigma * SE / |slope| (the seeds' spread turned into parameter units).  Returns
    ``located`` False (and which end is above) when the ends do not bracket a crossing.
    """
    evals: list[dict[str, Any]] = []

    def ev(v: float) -> tuple[float, float]:
        m, _sd, se, _n = _mean_se(stat(v))
        evals.append({"value": float(v), "mean": m, "se": se})
        return m, se

    (ma, sa), (mb, sb) = ev(lo), ev(hi)
    if not (math.isfinite(ma) and math.isfinite(mb)) or (ma - threshold) * (mb - threshold) > 0:
        return {"located": False, "lo_above": bool(ma > threshold),
                "hi_above": bool(mb > threshold), "evaluations": evals}
    a, b = lo, hi
    for _ in range(steps):
        c = 0.5 * (a + b)
        mc, sc = ev(c)
        if not math.isfinite(mc):
            break
        if (ma - threshold) * (mc - threshold) <= 0:
            b, mb, sb = c, mc, sc
        else:
            a, ma, sa = c, mc, sc
    slope = (mb - ma) / (b - a)
    v = a + (threshold - ma) / slope if slope != 0 else 0.5 * (a + b)
    se = np.nanmean([sa, sb]) if np.isfinite([sa, sb]).any() else math.nan
    half = 0.5 * (b - a) + (n_sigma * se / abs(slope) if slope != 0 and math.isfinite(se)
                            else 0.5 * (b - a))
    return {"located": True, "value": float(v), "interval": (float(v - half), float(v + half)),
            "evaluations": evals}


class _Plan(NamedTuple):
    """One boundary to check: the special point, kind, SNN statistic, whether the feature is
    present above it, the PD point beside an ALT point, and why it is unconfirmed ("")."""

    sp: SpecialPointRecord
    kind: str
    key: str
    up: bool
    beside: SpecialPointRecord | None
    unconfirmed: str


def _pd_beside(alt: SpecialPointRecord, special: Sequence[SpecialPointRecord]
               ) -> SpecialPointRecord | None:
    """The nearest confirmed PD point of ``alt``'s branch on its alternating side."""
    side = 1.0 if alt.alternation_above else -1.0
    pds = [s for s in special if s.type == "PD" and s.confirmed and s.branch == alt.branch
           and side * (s.value - alt.value) > 0]
    return min(pds, key=lambda s: abs(s.value - alt.value)) if pds else None


def _no_alt_reason(pd: SpecialPointRecord, special: Sequence[SpecialPointRecord], up: bool,
                   o: VerifyOptions) -> str:
    """Why a PD point that changes the predicted alternation has no located ALT point."""
    star = alternation_multiplier(o.alt_threshold)
    cand = [s for s in special if s.type == ALT and s.branch == pd.branch
            and (s.value < pd.value) == up]
    if cand:
        s = min(cand, key=lambda q: abs(q.value - pd.value))
        return (f"the crossing of mu = {star:g} on '{pd.branch}' near {s.value:.4g} is not "
                f"located: {s.note}")
    return (f"no crossing of a real Floquet multiplier through mu = {star:g} (alternation "
            f"index {o.alt_threshold:g}) was located on the stable part of '{pd.branch}' "
            f"before PD {pd.value:.4g}")


def _boundary_kinds(special: Sequence[SpecialPointRecord],
                    predict: Callable[[float], list[Prediction]], side: float,
                    o: VerifyOptions) -> list[_Plan]:
    """The boundaries to check: every confirmed H point that changes the predicted synchrony;
    every confirmed ALT point (alternation onset/offset, with its PD beside); every confirmed
    PD point that changes the predicted alternation without a confirmed ALT point leading to
    it (an ``unconfirmed`` boundary: the like-for-like point is missing)."""
    out = []
    alts = [s for s in special if s.type == ALT and s.confirmed
            and s.alternation_above is not None]
    covered = {id(pd) for a in alts if (pd := _pd_beside(a, special)) is not None}
    for sp in special:
        if not sp.confirmed:
            continue  # no boundary is claimed at a label that was not confirmed
        if sp.type == ALT:
            if sp.alternation_above is not None:
                up = bool(sp.alternation_above)
                out.append(_Plan(sp, "alternation_onset" if up else "alternation_offset",
                                 "alternation_index", up, _pd_beside(sp, special), ""))
            continue
        below, above = predict(sp.value - side / 4), predict(sp.value + side / 4)

        def osc(preds: list[Prediction]) -> bool:
            return bool(preds) and not any(p.kind == "stable_equilibrium" for p in preds)

        def p1(preds: list[Prediction]) -> bool:
            return any(p.kind == "stable_cycle" for p in preds)

        if sp.type == "H" and osc(below) != osc(above):
            up = osc(above)
            out.append(_Plan(sp, "synchrony_onset" if up else "synchrony_offset", "synchrony",
                             up, None, ""))
        elif sp.type == "PD" and p1(below) != p1(above) and id(sp) not in covered:
            up = p1(below)
            out.append(_Plan(sp, "alternation_onset" if up else "alternation_offset",
                             "alternation_index", up, None,
                             _no_alt_reason(sp, special, up, o)))
    return out


def verify(special: Sequence[SpecialPointRecord], branches: Sequence[BranchRecord],
           predict: Callable[[float], list[Prediction]], p_range: tuple[float, float],
           simulators: dict[str, Simulator], *, param: str = "p",
           options: VerifyOptions | None = None, map_fn: MapFn | None = None,
           cache: dict[tuple, dict[str, Any]] | None = None,
           log: Callable[[str], None] | None = None) -> Verification:
    """Check every prediction at the chosen test values; locate the boundaries; dt/2 control.

    ``simulators``: ``{"snn": f, "markov": g}`` (``snn`` required), each
    ``f(value, seed, dt_scale) -> Trace``.  ``cache``: observations already made, keyed by
    ``(model, value, seed, dt_scale)`` (filled as runs are made).
    """
    o = options or VerifyOptions()
    o.validate()
    if "snn" not in simulators:
        raise ValueError("simulators must contain 'snn'")
    lo, hi = float(p_range[0]), float(p_range[1])
    side, btol = _range_defaults(o, lo, hi)
    mapf = map_fn or _serial_map
    store = cache if cache is not None else {}
    say = log or (lambda _m: None)

    def runs(model: str, values: Sequence[float], dt_scale: float = 1.0,
             seeds: Sequence[int] | None = None) -> dict[float, list[dict]]:
        seeds = o.seeds if seeds is None else seeds
        todo = [(model, float(v), int(s), dt_scale) for v in values for s in seeds]
        new = [k for k in dict.fromkeys(todo) if k not in store]
        if new:
            res = mapf(_run_one, [(simulators[m], v, s, d, o) for m, v, s, d in new])
            store.update(zip(new, res, strict=True))
        return {float(v): [_stored(store, (model, float(v), int(s), dt_scale)) for s in seeds]
                for v in values}

    values = choose_test_values(special, branches, (lo, hi), o)
    say(f"verification: {len(values)} test values x {len(o.seeds)} seeds x "
        f"{len(simulators)} models")
    obs = {m: runs(m, values) for m in simulators}
    verdicts: list[Verdict] = []
    for v in values:
        preds = predict(v)
        stable = [p for p in preds if p.kind != "oscillation"]
        if len(stable) > 1:
            verdicts.append(_coexistence(v, stable, simulators, o, mapf, store))
            continue
        for pred in preds:
            for what, key, opt in _CHECKS.get(pred.kind, []):
                verdicts.append(_check(pred, what, key, opt,
                                       {m: obs[m][v] for m in simulators}, o))
    say(f"verification: {len(verdicts)} checks made; locating boundaries")

    def locate(plan: _Plan) -> BoundaryResult:
        sp, kind, key = plan.sp, plan.kind, plan.key
        thr = o.sync_threshold if key == "synchrony" else o.alt_threshold

        def stat(v: float) -> list[float]:
            return [r.get(key, math.nan) for r in runs("snn", [v])[float(v)]]

        a, b = _boundary_bracket(sp, side, lo, hi)
        loc = locate_transition(stat, a, b, thr, steps=o.bisect_steps, n_sigma=o.n_sigma)
        res = _boundary_result(plan, thr, loc, a, b, lo, hi, btol)
        say(f"boundary {kind} (ODE {sp.type} {sp.value:.4g}): {res.verdict}, "
            f"SNN {res.snn_value}")
        return res

    kinds = _boundary_kinds(special, predict, side, o)
    if map_fn is not None and len(kinds) > 1:  # the bisections run side by side on the pool
        with ThreadPoolExecutor(max_workers=len(kinds)) as threads:
            boundaries = list(threads.map(locate, kinds))
    else:
        boundaries = [locate(item) for item in kinds]

    dt_rows = []
    if o.dt_control:
        near = _dt_control_values([b.ode_value for b in boundaries], side, lo, hi)
        seeds = o.seeds[:2]
        full = runs("snn", near, 1.0, seeds)
        half = runs("snn", near, 0.5, seeds)
        for v in near:
            for key in ("rate_e_hz", "synchrony", "alternation_index", "mfe_interval_ms"):
                m1 = _mean_se([r.get(key, math.nan) for r in full[v]])
                m2 = _mean_se([r.get(key, math.nan) for r in half[v]])
                dif = m2[0] - m1[0]
                noise = math.hypot(m1[1] if math.isfinite(m1[1]) else 0,
                                   m2[1] if math.isfinite(m2[1]) else 0)
                dt_rows.append({"value": v, "observable": key, "dt": m1[0], "dt_half": m2[0],
                                "difference": dif, "seed_sd": noise,
                                "within_seed_spread": bool(abs(dif) <= o.n_sigma * noise)})
    return Verification(param, o, values, verdicts, boundaries, dt_rows,
                        {m: obs[m] for m in simulators})


def _boundary_bracket(sp: SpecialPointRecord, side: float, lo: float, hi: float
                      ) -> tuple[float, float]:
    """The parameter interval searched for the SNN's own transition near ``sp``."""
    return max(lo, sp.value - 2 * side), min(hi, sp.value + 2 * side)


def _dt_control_values(values: Sequence[float], side: float, lo: float, hi: float
                       ) -> list[float]:
    """Both sides of every boundary's special point, where the dt/2 control runs."""
    return sorted({round(v + s * side, 12) for v in values for s in (-1, 1)
                   if lo <= v + s * side <= hi})


def planned_runs(special: Sequence[SpecialPointRecord], branches: Sequence[BranchRecord],
                 predict: Callable[[float], list[Prediction]], p_range: tuple[float, float],
                 models: Iterable[str], options: VerifyOptions | None = None
                 ) -> list[tuple[str, float, int, float]]:
    """Cache keys ``(model, value, seed, dt_scale)`` of the runs :func:`verify` will make
    for these records before it needs the simulators' results: every test value with every
    seed, both ends of each boundary search and the dt/2 control runs.  A caller that knows
    part of the records early (e.g. the equilibria before the cycles) can submit these runs
    ahead and pass the Futures in ``verify``'s ``cache``."""
    o = options or VerifyOptions()
    lo, hi = float(p_range[0]), float(p_range[1])
    side, _ = _range_defaults(o, lo, hi)
    keys = [(m, float(v), int(s), 1.0) for m in models
            for v in choose_test_values(special, branches, (lo, hi), o) for s in o.seeds]
    kinds = _boundary_kinds(special, predict, side, o)
    for sp, *_ in kinds:
        keys += [("snn", float(v), int(s), 1.0) for v in _boundary_bracket(sp, side, lo, hi)
                 for s in o.seeds]
    if o.dt_control:
        near = _dt_control_values([sp.value for sp, *_ in kinds], side, lo, hi)
        keys += [("snn", float(v), int(s), d) for d in (1.0, 0.5) for v in near
                 for s in o.seeds[:2]]
    return list(dict.fromkeys(keys))


def _signature(p: Prediction, opts: VerifyOptions) -> tuple[bool, bool]:
    """(oscillation, alternation) that the attractor of ``p`` shows (alternation as
    :func:`alternation_predicted` says)."""
    return (p.kind != "stable_equilibrium", alternation_predicted(p, opts) is True)


def attractor_of(run: dict[str, Any], attractors: Sequence[Prediction],
                 opts: VerifyOptions) -> int | None:
    """Index of the predicted attractor that one run's observables show, or None when it
    shows none of them (oscillation: synchrony ratio > ``sync_threshold``; alternation:
    alternation index > ``alt_threshold``, predicted as :func:`alternation_predicted` says;
    among attractors of the same signature the nearest E rate)."""
    sync, alt = run.get("synchrony", math.nan), run.get("alternation_index", math.nan)
    if not math.isfinite(sync):
        return None
    osc = sync > opts.sync_threshold
    sig = (osc, bool(osc and math.isfinite(alt) and alt > opts.alt_threshold))
    same = [k for k, p in enumerate(attractors) if _signature(p, opts) == sig]
    if not same:
        return None
    r = run.get("rate_e_hz", math.nan)
    return min(same, key=lambda k: abs(attractors[k].rate_e_hz - r)
               if math.isfinite(attractors[k].rate_e_hz) and math.isfinite(r) else 0.0)


def _coexistence(v: float, stable: list[Prediction], simulators: dict[str, Simulator],
                 o: VerifyOptions, mapf: MapFn, store: dict[tuple, dict[str, Any]]
                 ) -> Verdict:
    """History dependence where several stable attractors are predicted: runs started on
    each of them, every seed, and whether they stay (see :class:`VerifyOptions`)."""
    label = " + ".join(p.branch for p in stable)
    predicted = f"{len(stable)} stable attractors: every start kept"
    if any(p.start is None for p in stable):
        return Verdict(label, "coexistence", v, "history dependence", predicted, math.nan,
                       math.nan, 0, "no start state for every attractor: the simulators "
                       "cannot be started on each of them", INCONCLUSIVE)
    if len({_signature(p, o) for p in stable}) < len(stable) and any(
            not math.isfinite(p.rate_e_hz) for p in stable):
        return Verdict(label, "coexistence", v, "history dependence", predicted, math.nan,
                       math.nan, 0, "the attractors cannot be told apart by the observables",
                       INCONCLUSIVE)
    result: dict[str, tuple[float, str, str]] = {}
    for model in simulators:
        keys = [(model, float(v), int(s), 1.0, f"start:{k}:{p.branch}")
                for k, p in enumerate(stable) for s in o.seeds]
        new = [key for key in keys if key not in store]
        if new:
            res = mapf(_run_one, [(simulators[m], val, s, d, o, stable[int(tag.split(":")[1])]
                                   .start) for m, val, s, d, tag in new])
            store.update(zip(new, res, strict=True))
        kept, parts = [], []
        for k, p in enumerate(stable):
            ends = [attractor_of(store[(model, float(v), int(s), 1.0,
                                        f"start:{k}:{p.branch}")], stable, o)
                    for s in o.seeds]
            frac = sum(e == k for e in ends) / len(ends)
            kept.append(frac)
            went = ", ".join(f"{sum(e == j for e in ends)} to {_short(stable[j])}"
                             for j in range(len(stable)) if j != k and j in ends)
            lost = sum(e is None for e in ends)
            parts.append(f"from {_short(p)}: {sum(e == k for e in ends)}/{len(ends)} stay"
                         + (f" ({went})" if went else "")
                         + (f" ({lost} on no predicted attractor)" if lost else ""))
        if all(f >= o.keep_fraction for f in kept):
            verdict = AGREE
        elif any(f <= 1.0 - o.keep_fraction for f in kept):
            verdict = DISAGREE
        else:
            verdict = INCONCLUSIVE
        result[model] = (float(np.mean(kept)), verdict,
                         "; ".join(parts) + f" (keep fraction >= {o.keep_fraction:.2g})")
    snn_frac, snn_verdict, text = result["snn"]
    mk = next((m for m in result if m != "snn"), None)
    return Verdict(label, "coexistence", v, "history dependence: fraction of runs that stay "
                   "on their start attractor", predicted, snn_frac, math.nan,
                   len(o.seeds) * len(stable), text, snn_verdict,
                   result[mk][0] if mk else math.nan, math.nan, result[mk][1] if mk else "")


def _short(p: Prediction) -> str:
    return {"stable_equilibrium": "equilibrium", "stable_cycle": "cycle",
            "period_doubled_cycle": "doubled cycle"}.get(p.kind, p.kind)


def _boundary_result(plan: _Plan, thr: float, loc: dict[str, Any], a: float, b: float,
                     lo: float, hi: float, btol: float) -> BoundaryResult:
    """The verdict of one boundary: |SNN - ODE| against ``btol``, widened by the SNN
    interval's and the ODE point's half-widths; ``unconfirmed`` for a plan without a
    like-for-like ODE point (the SNN's transition is still reported)."""
    sp, kind, key, up = plan.sp, plan.kind, plan.key, plan.up
    stat = f"{key} crosses {thr:g} (seed mean)"
    h = float(sp.halfwidth) if sp.type == ALT else 0.0
    beside = "" if plan.beside is None else f"{plan.beside.type} {plan.beside.value:.4g}"

    def result(snn: float | None, interval: tuple[float | None, float | None],
               d: float | None, verdict: str, why: str) -> BoundaryResult:
        if plan.unconfirmed:
            verdict, why = UNCONFIRMED, f"{plan.unconfirmed} (SNN side: {why})"
        return BoundaryResult(kind, sp.type, sp.value, snn, interval, d, stat, thr, verdict,
                              why, loc["evaluations"], beside, h)

    odeh = f" + ODE {h:.2g}" if h else ""
    if loc["located"]:
        v = loc["value"]
        i0, i1 = loc["interval"]
        d = abs(v - sp.value)
        half = 0.5 * (i1 - i0)
        if d + h <= btol and half <= btol:
            verdict, why = AGREE, f"|SNN - ODE| = {d:.3g}{odeh} <= tol {btol:.3g}"
        elif d - half - h > btol:
            verdict, why = DISAGREE, (f"|SNN - ODE| = {d:.3g} > tol {btol:.3g} + {half:.2g}"
                                      f"{odeh}")
        else:
            verdict, why = INCONCLUSIVE, (f"|SNN - ODE| = {d:.3g}, interval half-width "
                                          f"{half:.2g}{odeh} vs tol {btol:.3g}")
        return result(v, (i0, i1), d, verdict, why)
    # no crossing in [a, b]: the feature is on (or off) on both sides
    feature_lo, feature_hi = loc["lo_above"], loc["hi_above"]
    # where must the SNN transition lie? feature present on the "up" side of the transition
    if feature_lo == feature_hi:
        if feature_lo == up:  # looks like the "after" side everywhere: transition below a
            interval: tuple[float | None, float | None] = (None, a)
            bound = a
        else:  # transition above b
            interval, bound = (b, None), b
        d = abs(sp.value - bound)
        at_range_end = (bound == lo and interval[0] is None) or (bound == hi and
                                                                interval[1] is None)
        verdict = DISAGREE if d - h > btol else INCONCLUSIVE
        why = (f"no SNN crossing in [{a:.4g}, {b:.4g}]: the SNN transition lies "
               f"{'below' if interval[0] is None else 'above'} {bound:.4g}, >= {d:.3g} from "
               f"the ODE's" + (" (search reached the end of the range)" if at_range_end else ""))
        return result(None, interval, None, verdict, why)
    return result(None, (None, None), None, INCONCLUSIVE, "statistic undefined at a search end")
