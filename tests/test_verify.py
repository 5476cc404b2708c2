"""Verification layer on systems whose right verdicts are known: a noisy Hopf normal form
checked against its deterministic version, and a synthetic transition at a known place."""

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from bifsnn.analysis.verify import (
    AGREE,
    DISAGREE,
    INCONCLUSIVE,
    BranchRecord,
    Prediction,
    SpecialPointRecord,
    Trace,
    VerifyOptions,
    _run_one,
    attractor_of,
    locate_transition,
    observe,
    planned_runs,
    quantity_verdict,
    threshold_verdict,
    verify,
)

R0_HZ, C, OMEGA = 100.0, 4.0, 2 * math.pi / 12.5  # rate, modulation depth, 80 Hz


def hopf_trace(mu: float, seed: int, dt_scale: float = 1.0, *, sigma: float = 0.02,
               t_ms: float = 1500.0) -> Trace:
    """z' = (mu + i omega) z / 10 - |z|^2 z / 10 + sigma xi (Euler-Maruyama, dt 0.1 ms);
    rate = R0 max(0, 1 + (C / 4) Re z); the deterministic cycle has |z| = sqrt(mu)."""
    dt = 0.1 * dt_scale
    n = int(t_ms / dt)
    rng = np.random.default_rng(seed)
    noise = sigma * math.sqrt(dt) * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    z = np.empty(n, complex)
    zc = 0.01 + 0j if sigma == 0 else 0j
    a = (mu + 1j * OMEGA * 10) / 10
    for k in range(n):
        zc = zc + dt * (a * zc - zc * (zc.real ** 2 + zc.imag ** 2) / 10) + noise[k]
        z[k] = zc
    rate = R0_HZ * np.clip(1 + C * z.real / 4, 0, None)  # depth C/4 per unit |z|
    return Trace(rate, rate.copy(), dt)


def hopf_snn(mu: float, seed: int, dt_scale: float = 1.0) -> Trace:
    return hopf_trace(mu, seed, dt_scale)


OPTS = VerifyOptions(seeds=(0, 1, 2), side_distance=0.3, n_along=2, sync_threshold=1.1,
                     boundary_tol=0.1, mfe_min_height_hz=105.0, transient_ms=300.0,
                     bisect_steps=4)


def deterministic_prediction(mu: float, label: str = "equilibria") -> list[Prediction]:
    """What the deterministic normal form predicts: its own observables without noise."""
    if mu <= 0:
        return [Prediction(label, "stable_equilibrium", mu, R0_HZ, R0_HZ)]
    o = observe(hopf_trace(mu, 0, sigma=0.0, t_ms=3000.0), OPTS)
    return [Prediction("cycle from H 0", "stable_cycle", mu, o["rate_e_hz"], o["rate_i_hz"],
                       12.5, o["peak_height_hz"], 0.0)]


SPECIAL = [SpecialPointRecord("H", 0.0, "equilibria", 12.5)]
BRANCHES = [BranchRecord("equilibria", "EP", ((-1.0, 0.0),), True),
            BranchRecord("cycle from H 0", "PO", ((0.0, 1.0),), True)]


@pytest.fixture(scope="module")
def right():
    return verify(SPECIAL, BRANCHES, deterministic_prediction, (-1.0, 1.0),
                  {"snn": hopf_snn}, param="mu", options=OPTS)


def test_correct_predictions_agree(right):
    """The deterministic normal form predicts its noisy version: nothing disagrees, most
    checks agree, the Hopf point is found by the SNN-side search within the tolerance."""
    assert right.test_values == pytest.approx([-0.75, -0.3, -0.25, 0.25, 0.3, 0.75])
    verdicts = [v.verdict for v in right.verdicts]
    assert DISAGREE not in verdicts, [(v.value, v.observable, v.statistic)
                                      for v in right.verdicts if v.verdict == DISAGREE]
    assert verdicts.count(AGREE) >= 0.8 * len(verdicts)
    (b,) = right.boundaries
    assert b.kind == "synchrony_onset" and b.verdict == AGREE
    # deterministic crossing of the synchrony ratio 1.1: 1 + (C/4)^2 mu / 2 = 1.1 -> mu = 0.2;
    # noise adds synchrony, so the noisy crossing lies a little below
    assert 0.0 <= b.snn_value <= 0.2
    assert b.snn_interval[0] < b.snn_value < b.snn_interval[1]
    assert right.dt_control and all(r["value"] in (-0.3, 0.3) for r in right.dt_control)
    assert "of" in right.summary_line()


def test_runs_planned_ahead_are_the_ones_verify_uses(right):
    """planned_runs lists the runs verify makes before it needs results (test values, both
    ends of each boundary search, dt/2 control); submitted ahead as Futures in the cache,
    verify waits for them instead of running them again, with the same result."""
    from concurrent.futures import ThreadPoolExecutor

    made = []

    def counting_map(fn, args):
        made.extend((a[1], a[2], a[3]) for a in args)
        return [fn(*a) for a in args]

    keys = planned_runs(SPECIAL, BRANCHES, deterministic_prediction, (-1.0, 1.0), ["snn"],
                        OPTS)
    assert ("snn", -0.3, 0, 0.5) in keys and ("snn", -0.6, 2, 1.0) in keys  # dt/2, bracket
    with ThreadPoolExecutor(2) as ex:
        cache = {k: ex.submit(_run_one, hopf_snn, k[1], k[2], k[3], OPTS) for k in keys}
        ahead = verify(SPECIAL, BRANCHES, deterministic_prediction, (-1.0, 1.0),
                       {"snn": hopf_snn}, param="mu", options=OPTS, map_fn=counting_map,
                       cache=cache)
    assert not set(made) & {(v, s, d) for _m, v, s, d in keys}  # nothing planned was rerun
    assert made  # the bisection's inner values are not planned: verify runs them
    assert [v.statistic for v in ahead.verdicts] == [v.statistic for v in right.verdicts]
    assert ahead.boundaries[0].snn_value == right.boundaries[0].snn_value


def test_wrong_predictions_disagree():
    """A Hopf point placed at mu = 0.5 (predicting no oscillation at mu = 0.2 ... 0.5) and a
    cycle with twice the true period must get 'disagree'."""
    def wrong(mu: float) -> list[Prediction]:
        if mu <= 0.5:
            return [Prediction("equilibria", "stable_equilibrium", mu, R0_HZ, R0_HZ)]
        (p,) = deterministic_prediction(mu)
        return [Prediction(p.branch, p.kind, mu, p.rate_e_hz, p.rate_i_hz, 25.0,
                           p.peak_rate_e_hz, 0.0)]

    sp = [SpecialPointRecord("H", 0.5, "equilibria", 25.0)]
    br = [BranchRecord("equilibria", "EP", ((-1.0, 0.5),), True),
          BranchRecord("cycle from H 0", "PO", ((0.5, 1.0),), True)]
    opts = VerifyOptions(**{**OPTS.__dict__, "n_along": 0, "dt_control": False})
    res = verify(sp, br, wrong, (-1.0, 1.0), {"snn": hopf_snn}, options=opts)
    by = {(round(v.value, 6), v.observable.split(":")[0]): v.verdict for v in res.verdicts}
    assert by[(0.2, "oscillation absent")] == DISAGREE
    assert by[(0.8, "period_ms")] == DISAGREE
    (b,) = res.boundaries
    assert b.verdict == DISAGREE and b.distance > 0.3


def bistable(mu: float) -> list[Prediction]:
    """A quiet equilibrium and a cycle (the deterministic normal form's at mu = 0.5), both
    predicted stable, each with a start state."""
    (cyc,) = deterministic_prediction(0.5)
    return [Prediction("equilibria", "stable_equilibrium", mu, R0_HZ, R0_HZ, start="eq"),
            Prediction("cycle", "stable_cycle", mu, cyc.rate_e_hz, cyc.rate_i_hz, 12.5,
                       cyc.peak_rate_e_hz, 0.0, start="cycle")]


def keeps_history(mu: float, seed: int, dt_scale: float = 1.0, start=None) -> Trace:
    """Bistable: stays where it is started (the cycle from 'cycle', quiet otherwise)."""
    return hopf_trace(0.5 if start == "cycle" else -0.5, seed, dt_scale)


def forgets_history(mu: float, seed: int, dt_scale: float = 1.0, start=None) -> Trace:
    """Monostable: always ends on the quiet equilibrium, wherever it is started."""
    return hopf_trace(-0.5, seed, dt_scale)


COEX = VerifyOptions(**{**OPTS.__dict__, "n_along": 1, "dt_control": False})
COEX_BRANCHES = [BranchRecord("equilibria", "EP", ((0.1, 0.2),), True)]


@pytest.mark.parametrize("sim, expected", [(keeps_history, AGREE),
                                            (forgets_history, DISAGREE)])
def test_coexistence_checked_by_runs_started_on_each_attractor(sim, expected):
    """Where two attractors are predicted, runs started on each tell whether the simulator
    keeps the history: a bistable simulator agrees, one that always relaxes to the same
    attractor disagrees (its runs started on the cycle end on the equilibrium)."""
    res = verify([], COEX_BRANCHES, bistable, (0.0, 1.0), {"snn": sim, "markov": sim},
                 options=COEX)
    (v,) = res.verdicts
    assert v.prediction == "coexistence" and v.verdict == expected, v.statistic
    assert v.markov_verdict == expected
    assert v.n_seeds == 2 * len(COEX.seeds)
    if expected == AGREE:
        assert v.observed == 1.0 and "cycle: 3/3 stay" in v.statistic
    else:
        assert v.observed == 0.5 and "from cycle: 0/3 stay (3 to equilibrium)" in v.statistic


def test_coexistence_without_start_states_is_inconclusive():
    """Attractors without a start state cannot be checked: inconclusive, never faked."""
    def no_start(mu: float) -> list[Prediction]:
        return [replace(p, start=None) for p in bistable(mu)]

    res = verify([], COEX_BRANCHES, no_start, (0.0, 1.0), {"snn": keeps_history},
                 options=COEX)
    (v,) = res.verdicts
    assert v.prediction == "coexistence" and v.verdict == INCONCLUSIVE
    assert "no start state" in v.statistic


def test_attractor_of_assigns_runs_by_signature_and_rate():
    eq = Prediction("e", "stable_equilibrium", 0.0, 10.0, 10.0)
    eq2 = Prediction("e2", "stable_equilibrium", 0.0, 50.0, 10.0)
    cyc = Prediction("c", "stable_cycle", 0.0, 30.0, 10.0, 12.5)
    dbl = Prediction("d", "period_doubled_cycle", 0.0, 30.0, 10.0, 25.0)
    o = VerifyOptions()
    assert attractor_of({"synchrony": 1.1, "rate_e_hz": 45.0}, [eq, eq2, cyc], o) == 1
    assert attractor_of({"synchrony": 3.0, "alternation_index": 0.4}, [eq, cyc, dbl], o) == 1
    assert attractor_of({"synchrony": 3.0, "alternation_index": 0.9}, [eq, cyc, dbl], o) == 2
    assert attractor_of({"synchrony": 3.0, "alternation_index": 0.9}, [eq, cyc], o) is None
    assert attractor_of({"synchrony": math.nan}, [eq, cyc], o) is None


@pytest.mark.parametrize("position", [0.37, 0.81])
def test_boundary_located_on_synthetic_transition(position):
    """A noisy sigmoid step at a known position: the located value is within 0.01 of it and
    its interval contains it."""
    def stat(v: float) -> list[float]:
        rng = np.random.default_rng(int(v * 1e6))
        return list(1 / (1 + np.exp(-(v - position) / 0.02)) + 0.05 * rng.standard_normal(4))

    loc = locate_transition(stat, 0.0, 1.0, 0.5, steps=8)
    assert loc["located"]
    assert abs(loc["value"] - position) < 0.01
    assert loc["interval"][0] <= position <= loc["interval"][1]
    assert len(loc["evaluations"]) == 10


def test_boundary_not_located_says_so():
    loc = locate_transition(lambda v: [2.0, 2.1], 0.0, 1.0, 1.5)
    assert not loc["located"] and loc["lo_above"] and loc["hi_above"]


def test_verdict_rules():
    assert quantity_verdict(100.0, [101, 99, 100], 0.1)[0] == AGREE
    assert quantity_verdict(100.0, [150, 151, 149], 0.1)[0] == DISAGREE
    assert quantity_verdict(100.0, [90, 120, 100], 0.1)[0] == INCONCLUSIVE
    assert quantity_verdict(100.0, [100], 0.1)[0] == INCONCLUSIVE  # no spread from one seed
    assert threshold_verdict(True, [2.0, 2.1, 1.9], 1.5)[0] == AGREE
    assert threshold_verdict(False, [2.0, 2.1, 1.9], 1.5)[0] == DISAGREE
    assert threshold_verdict(False, [1.0, 2.0], 1.5)[0] == INCONCLUSIVE


def test_observe_alternation_statistics():
    """Strictly alternating big/small peaks give alternation index 1 and fraction 1;
    independent heights give about 0.5 and 2/3."""
    dt, period = 0.1, 12.0
    t = np.arange(0, 5000, dt)
    k = np.floor(t / period).astype(int)
    for heights, idx, frac in ((np.where(k % 2 == 0, 400.0, 200.0), 1.0, 1.0),
                               (200 + 200 * np.random.default_rng(1).random(k.max() + 1)[k],
                                0.5, 2 / 3)):
        phase = (t % period) / period
        rate = 20 + heights * np.exp(-((phase - 0.5) / 0.05) ** 2)
        o = observe(Trace(rate, rate, dt), VerifyOptions(transient_ms=0.0))
        assert o["alternation_index"] == pytest.approx(idx, abs=0.12)
        assert o["alternation_fraction"] == pytest.approx(frac, abs=0.08)
        assert o["mfe_interval_ms"] == pytest.approx(period, rel=1e-3)


def test_options_validated():
    with pytest.raises(ValueError, match="rate_tol"):
        VerifyOptions(rate_tol=0).validate()
    with pytest.raises(ValueError, match="simulators"):
        verify([], [], lambda v: [], (0, 1), {"markov": hopf_snn})


def test_synchrony_ratio_is_one_definition():
    """observe() uses the observables' synchrony ratio: with the population size, independent
    Poisson firing gives 1 (the spike's own count included); without it (expected counts) the
    denominator is 11 r dt / 1000."""
    from bifsnn.network.observables import ssi, synchrony_ratio

    n, dt, rate = 300, 0.1, 40.0
    counts = np.random.default_rng(3).poisson(n * rate * dt / 1000, 200_000)
    tr = Trace(counts * 1000 / (n * dt), counts * 1000 / (n * dt), dt, n)
    o = observe(tr, VerifyOptions(transient_ms=0.0))
    assert o["synchrony"] == pytest.approx(synchrony_ratio(ssi(counts, n), rate, n, dt),
                                           rel=0.01)
    assert o["synchrony"] == pytest.approx(1.0, abs=0.03)
    assert synchrony_ratio(0.11, 100.0, None, 0.1) == pytest.approx(1.0)


# ------------------------------------------------------------------ alternation, like for like
def ar1_peaks_trace(mu: float, seed: int, dt_scale: float = 1.0, *, n_peaks: int = 400,
                    alternate: float = 0.0) -> Trace:
    """MFE-like pulses every 12 ms whose heights are 200 + 10 x_n (+- ``alternate``), x_n an
    AR(1) sequence x_n = mu x_(n-1) + e_n: the peak heights of noisy dynamics near a cycle
    whose real Floquet multiplier is mu."""
    dt, period = 0.1 * dt_scale, 12.0
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(n_peaks + 50)
    x = np.zeros_like(e)
    for k in range(1, e.size):
        x[k] = mu * x[k - 1] + e[k]
    signs = np.where(np.arange(n_peaks) % 2 == 0, 1.0, -1.0)
    heights = 200 + 10 * x[50:] + alternate * signs
    t = np.arange(0, n_peaks * period, dt)
    k = np.minimum((t // period).astype(int), n_peaks - 1)
    phase = (t % period) / period
    rate = 20 + heights[k] * np.exp(-((phase - 0.5) / 0.05) ** 2)
    return Trace(rate, rate.copy(), dt)


def test_alternation_index_of_ar1_heights_is_one_minus_mu_over_two():
    """Peak heights following an AR(1) sequence with coefficient mu (noise near a cycle with
    real multiplier mu) have alternation index (1 - mu) / 2: 0.5 for mu = 0, 0.75 for
    mu = -0.5 (so the threshold 0.75 is met at mu* = -0.5, not at the PD's -1)."""
    from bifsnn.analysis.verify import alternation_multiplier, predicted_alternation_index

    assert alternation_multiplier(0.75) == pytest.approx(-0.5)
    assert predicted_alternation_index(alternation_multiplier(0.6)) == pytest.approx(0.6)
    o = VerifyOptions(transient_ms=0.0)
    for mu in (0.4, 0.0, -0.5, -0.8):
        idx = [observe(ar1_peaks_trace(mu, s, n_peaks=3000), o)["alternation_index"]
               for s in range(4)]
        # SD of one lag-1 correlation of n = 3000 values is about 1 / sqrt(n) = 0.018
        assert np.mean(idx) == pytest.approx(predicted_alternation_index(mu), abs=0.03), mu
    with pytest.raises(ValueError, match="alt_threshold"):
        alternation_multiplier(0.5)
    with pytest.raises(ValueError, match="alt_threshold"):
        VerifyOptions(alt_threshold=1.0).validate()


@pytest.mark.parametrize("power", [2, 3])
def test_multiplier_crossing_located_on_a_synthetic_branch(power):
    """A branch with known multipliers mu(p) = -p^power: the crossing of -0.5 lies at
    0.5^(1/power); the located value is within its stated half-width of it, and that
    half-width is far below the row spacing (0.05)."""
    from bifsnn.analysis.verify import locate_multiplier_crossings

    p = np.linspace(0.3, 1.2, 19)
    mu = -p ** power
    stable = mu > -1
    (c,) = locate_multiplier_crossings(p, mu, stable, -0.5, tol=0.005)
    true = 0.5 ** (1 / power)
    assert c["confirmed"] and c["alternation_above"]
    assert abs(c["value"] - true) <= c["halfwidth"] + 1e-12
    assert c["halfwidth"] < 0.01
    assert c["bracket"][0] < true < c["bracket"][1]
    # the same branch run backwards: the same point, alternation still above it
    (r,) = locate_multiplier_crossings(p[::-1], mu[::-1], stable[::-1], -0.5, tol=0.005)
    assert abs(r["value"] - true) <= r["halfwidth"] + 1e-12 and r["alternation_above"]


def test_multiplier_crossing_missing_or_unlocatable():
    """No crossing where the branch is unstable or the multiplier stays above mu*; a crossing
    bracketed only across rows without accurate multipliers is unconfirmed."""
    from bifsnn.analysis.verify import locate_multiplier_crossings

    p = np.linspace(0.3, 1.2, 19)
    mu = -p ** 2
    assert locate_multiplier_crossings(p, mu, np.zeros(19, bool), -0.5, 0.005) == []
    assert locate_multiplier_crossings(p, 0.3 * mu, np.ones(19, bool), -0.5, 0.005) == []
    gap = mu.copy()
    gap[6:12] = np.nan  # rows at 0.6 ... 0.85 without accurate multipliers
    (c,) = locate_multiplier_crossings(p, gap, mu > -1, -0.5, tol=0.005)
    assert not c["confirmed"] and "without an accurate multiplier" in c["note"]
    assert c["bracket"] == pytest.approx((0.55, 0.9))


def _alternating_cycle(mu_at: Callable) -> Callable:
    def sim(value: float, seed: int, dt_scale: float = 1.0) -> Trace:
        if value < 1.0:
            return ar1_peaks_trace(mu_at(value), seed, dt_scale)
        return ar1_peaks_trace(-0.5, seed, dt_scale, alternate=40 * math.sqrt(value - 1.0))
    return sim


ALT_OPTS = VerifyOptions(seeds=(0, 1, 2), side_distance=0.1, n_along=0, boundary_tol=0.06,
                         transient_ms=0.0, dt_control=False, mfe_min_height_hz=60.0)


def _cycle_predictions(value: float) -> list[Prediction]:
    if value < 1.0:
        return [Prediction("cycle", "stable_cycle", value, alt_multiplier=-value)]
    return [Prediction("doubled", "period_doubled_cycle", value)]


@pytest.mark.parametrize("with_alt", [True, False])
def test_alternation_boundary_compared_at_the_multiplier_crossing(with_alt):
    """A cycle whose real multiplier is -p (PD at p = 1) and a simulator with those noisy
    peak heights: its alternation index crosses 0.75 at p = 0.5.  With the ALT point
    (mu = -0.5 at 0.5) the boundary agrees there, the PD listed beside it; without it the
    boundary is unconfirmed (never agree or disagree), the SNN side still searched next to
    the PD (its transition lies below that search)."""
    from bifsnn.analysis.verify import ALT, UNCONFIRMED

    pd = SpecialPointRecord("PD", 1.0, "cycle", 24.0)
    alt = SpecialPointRecord(ALT, 0.5, "cycle", 12.0, True, "", -0.5, True, 0.001)
    special = [alt, pd] if with_alt else [pd]
    res = verify(special, [], _cycle_predictions, (0.0, 1.5),
                 {"snn": _alternating_cycle(lambda v: -v)}, options=ALT_OPTS)
    (b,) = res.boundaries
    assert b.kind == "alternation_onset"
    if with_alt:
        assert (b.type, b.ode_value, b.beside, b.verdict) == (ALT, 0.5, "PD 1", AGREE)
        assert b.snn_value == pytest.approx(0.5, abs=0.06)
    else:
        assert (b.type, b.verdict, b.snn_interval) == ("PD", UNCONFIRMED, (None, 0.8))
        assert "no crossing" in b.reason and "unconfirmed" in res.summary_line()
    # per-point verdicts use the same rule: at 0.9 (mu = -0.9, index 0.95) alternation is
    # predicted on the period-1 cycle (the PD alone would predict it absent: disagree)
    by = {round(v.value, 6): v for v in res.verdicts if "alternation" in v.observable}
    assert "present" in by[0.9].predicted and by[0.9].verdict == AGREE
    if with_alt:
        assert "present" in by[0.6].predicted and by[0.6].verdict != DISAGREE
        assert "absent" in by[0.4].predicted and by[0.4].verdict != DISAGREE


def test_alternation_multiplier_of_a_cycle():
    """The trivial multiplier is dropped; the most negative real part counts (continuous where
    a complex pair splits into two reals); inaccurate multipliers or a complex pair left of mu*
    give NaN (no prediction); no negative multiplier gives 0."""
    from bifsnn.analysis.branches import alternation_multiplier_of

    assert alternation_multiplier_of(np.array([1.0, -0.62, 0.1]), 1e-6, -0.5) == -0.62
    assert alternation_multiplier_of(np.array([1.0, 0.3, 0.1]), 1e-6, -0.5) == 0.0
    assert alternation_multiplier_of(np.array([1.0, -0.3 + 0.01j, -0.3 - 0.01j]), 1e-6,
                                     -0.5) == pytest.approx(-0.3)
    assert math.isnan(alternation_multiplier_of(np.array([1.0, -0.6 + 0.2j, -0.6 - 0.2j]),
                                                1e-6, -0.5))
    assert math.isnan(alternation_multiplier_of(np.array([1.0, -0.62]), 0.07, -0.5))
    assert math.isnan(alternation_multiplier_of(np.array([1.0]), 1e-6, -0.5))
