"""Switching in the SNN in a second coexistence region (issue 12, item 2).

The coexistence map (figures/coexistence_map.md) finds, next to p_EI = 0.8 / tau_EE in
(2.59, 3.02), a region at large p_EI and small tau_EE where a large cycle (MFEs) coexists with
a stable low-rate equilibrium.  Here, at (p_EI, tau_EE) = POINT:

1. the ODE: integrated from its equilibrium (kicked by 1e-3) and from the cycle of the
   neighbouring point SOURCE (where the equilibrium is unstable) - both persisting = bistable;
2. long SNN runs (N = 400 k with N S fixed, several seeds), started from the default state,
   from the ODE's equilibrium or from its cycle (voltage histogram and pending spikes,
   ``state_from_reduced``); segmentation as in analyses/metastability.py: peak of the 1 ms
   smoothed E rate in 50 ms windows, Otsu threshold over all runs, hysteresis band of +-25 %
   of the gap between the state medians; dwell times and pooled exit rates with exact
   Poisson 95 % intervals.

Writes figures/metastability_regions.{png,pdf} and the section between the markers
``<!-- regions:begin -->`` / ``<!-- regions:end -->`` of figures/metastability.md (the rest of
that file is left as analyses/metastability.py wrote it).  SNN runs are cached as .npz in
--cache.

Usage: ``python analyses/metastability_regions.py [--cache DIR] [--quick]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bifsnn import NetworkParams
from bifsnn.analysis.switching import cycle_state, peak_rate_series, run_counts
from bifsnn.network.metastability import pooled_rates, segment_runs
from bifsnn.network.observables import smooth_rate
from bifsnn.network.plots import save_figure, subplots
from bifsnn.network.results import atomic_write_text
from bifsnn.reduction import MarkovModelDef, find_equilibrium, simulate_ode

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "figures"
POINT = (1.0, 1.25)     # (p_EI, tau_EE ms): inside the large-p_EI coexistence region
SOURCE = (0.95, 1.25)   # neighbour with an unstable equilibrium: the cycle's source
WINDOW_MS = 50.0
TRANSIENT_MS = 100.0
BEGIN, END = "<!-- regions:begin -->", "<!-- regions:end -->"
#: (N scale k, seed, t_ms, start) of the full run
RUNS = [(0.5, 1, 30000.0, "default"), (0.5, 2, 20000.0, "eq"),
        (1.0, 1, 20000.0, "default"), (1.0, 2, 20000.0, "eq"), (1.0, 3, 10000.0, "cycle"),
        (2.0, 1, 20000.0, "default"), (2.0, 2, 10000.0, "eq"), (2.0, 3, 10000.0, "cycle"),
        (4.0, 1, 20000.0, "default"), (4.0, 2, 10000.0, "eq"), (4.0, 3, 10000.0, "cycle"),
        (8.0, 1, 20000.0, "default"), (8.0, 2, 10000.0, "eq"), (8.0, 3, 10000.0, "cycle")]
QUICK = [(1.0, 1, 1000.0, "default"), (1.0, 2, 1000.0, "eq")]


def definition(k: float = 1.0, point: tuple[float, float] = POINT) -> MarkovModelDef:
    """The reduced model at ``point`` for N = 400 k (N S fixed)."""
    return MarkovModelDef(params=NetworkParams(p_EI=point[0], tau_EE=point[1]).scaled(k))


def ode_check(t_ms: float) -> dict:
    """Range of the E rate (spikes/ms) over the last 500 ms from the equilibrium and from
    the cycle state, at POINT."""
    d = definition()
    eq = find_equilibrium(d)
    out = {"eq_stable": bool(eq.stable), "eq_rate_hz": 1000.0 * eq.rate_e / d.params.N_E}
    for name, x0 in (("from_eq", eq.x * (1 + 1e-3)), ("from_cycle", cycle_state(d, SOURCE))):
        r = simulate_ode(d, t_ms=t_ms, x0=x0)
        f = np.asarray(r.rate_e)[-5000:]
        out[name] = (float(f.min()), float(f.max()), float(f.mean()))
    mid = 0.5 * (f.max() + f.min())  # the cycle's period from its upward mid-crossings
    up = np.flatnonzero((f[1:] > mid) & (f[:-1] <= mid)) * r.dt_ms
    out["period_ms"] = float(np.median(np.diff(up))) if len(up) > 2 else float("nan")
    return out


def mfe_trains(e: np.ndarray, n_e: int, threshold_hz: float, period_ms: float) -> dict:
    """MFE onsets (upward crossings of ``threshold_hz`` by the 1 ms smoothed per-neuron E
    rate, at least 20 ms apart) grouped into trains: successive MFEs at most 1.5 ODE periods
    apart.  On the cycle every MFE is followed by the next one period later."""
    sm = smooth_rate(e / 0.1, 0.1) * 1000.0 / n_e
    up = np.flatnonzero((sm[1:] > threshold_hz) & (sm[:-1] <= threshold_hz)) * 0.1
    on = [t for i, t in enumerate(up) if i == 0 or t - up[i - 1] > 20.0]
    gaps = np.diff(on)
    brk = np.flatnonzero(gaps > 1.5 * period_ms)
    lengths = np.diff(np.r_[0, brk + 1, len(on)]) if on else np.zeros(0, int)
    return {"n_mfe": len(on), "lengths": lengths, "t_s": len(e) * 1e-4}


def switching(runs: list[tuple], cache: Path) -> dict:
    """Windowed peak rate, one segmentation over all runs, dwell statistics per run."""
    series, cpu, counts, rates = {}, {}, {}, {}
    for k, seed, t_ms, start in runs:
        d = definition(k)
        e, cpu[(k, seed, start)] = run_counts("snn", d, t_ms=t_ms, seed=seed, start=start,
                                              source=SOURCE, cache=cache)
        counts[(k, seed, start)] = e
        t, peak, rates[(k, seed, start)] = peak_rate_series(
            e, d, window_ms=WINDOW_MS, skip_ms=TRANSIENT_MS if start == "default" else 0.0)
        series[(k, seed, start)] = (t, peak)
    seg = segment_runs(series, resolution_ms=WINDOW_MS)
    out = {"threshold_hz": seg.threshold, "low_hz": seg.low, "high_hz": seg.high,
           "medians_hz": seg.medians, "series": series, "cpu_s": cpu, "groups": {},
           "counts": counts}
    for key, r in rates.items():
        states = seg.segmentations[key].states
        mean_hz = [float(np.mean(r[states == s])) if np.any(states == s)
                   else float("nan") for s in (0, 1)]
        out["groups"].setdefault(int(round(400 * key[0])), []).append(
            (key, seg.stats[key], mean_hz))
    return out


def plot(sw: dict) -> None:
    keys = sorted(sw["series"])
    fig, axes = subplots(len(keys), 1, figsize=(8, 1.5 * len(keys)), constrained_layout=True,
                         squeeze=False)
    for ax, key in zip(axes[:, 0], keys, strict=True):
        t, v = sw["series"][key]
        ax.plot(t / 1000.0, v, lw=0.6)
        for y in (sw["low_hz"], sw["high_hz"]):
            ax.axhline(y, color="k", lw=0.5, ls=":")
        ax.set_yscale("log")
        ax.set_ylabel("peak rate\n(Hz)", fontsize=7)
        ax.set_title(f"SNN at p_EI = {POINT[0]}, tau_EE = {POINT[1]} ms: N = "
                     f"{int(round(400 * key[0]))}, seed {key[1]}, start {key[2]}", fontsize=8)
    axes[-1, 0].set_xlabel("t (s)")
    save_figure(fig, FIGURES / "metastability_regions")


def _ci(ci: tuple[float, float]) -> str:
    return f"[{ci[0]:.3g}, {ci[1]:.3g}]"


def section(ode: dict, sw: dict, quick: bool) -> str:
    """The markdown section for figures/metastability.md."""
    f = ode
    L = [BEGIN, f"## Switching in a second region: p_EI = {POINT[0]}, tau_EE = {POINT[1]} ms",
         "", f"Made by `analyses/metastability_regions.py` (`--quick` = {quick}); "
         "![runs](metastability_regions.png)", "",
         f"ODE (N = 400): equilibrium stable = {f['eq_stable']} at {f['eq_rate_hz']:.1f} Hz "
         "per E neuron; E rate (spikes/ms) over the last 500 ms of 1500 ms from the "
         f"equilibrium: {f['from_eq'][0]:.2f}-{f['from_eq'][1]:.2f} (mean "
         f"{f['from_eq'][2]:.2f}); from the cycle of ({SOURCE[0]}, {SOURCE[1]}): "
         f"{f['from_cycle'][0]:.2f}-{f['from_cycle'][1]:.2f} (mean {f['from_cycle'][2]:.2f}).",
         "", f"Segmentation: peak of the 1 ms smoothed E rate in {WINDOW_MS:g} ms windows; "
         f"Otsu threshold over all runs {sw['threshold_hz']:.0f} Hz, hysteresis "
         f"{sw['low_hz']:.0f}-{sw['high_hz']:.0f} Hz; state medians "
         f"{sw['medians_hz'][0]:.0f} Hz (state 0) and {sw['medians_hz'][1]:.0f} Hz (state 1). "
         f"Runs from the default state drop their first {TRANSIENT_MS:g} ms; runs from the "
         "ODE's equilibrium or cycle start at t = 0.", "",
         "| N | runs (seed/start/s) | CPU s | occupancy of state 1 | mean rate in state 0 / 1 "
         "(Hz) | exits 0->1 | rate 0->1 (1/s, 95 % CI) | exits 1->0 | rate 1->0 (1/s, 95 % CI) "
         "| complete dwells 0 / 1 (s) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for n, runs in sorted(sw["groups"].items()):
        pr = pooled_rates([r[1] for r in runs])
        occ = np.mean([r[1].occupancy[1] for r in runs])
        desc = ", ".join(f"{k[1]}/{k[2]}/{r.t_total_ms / 1000:.0f}" for k, r, _ in runs)
        cpu = sum(sw["cpu_s"][k] for k, _, _ in runs)
        m = [np.nanmean([r[2][s] for r in runs]) for s in (0, 1)]
        dw = [np.concatenate([r[1].states[s].dwells_ms for r in runs]) / 1000.0 for s in (0, 1)]
        L.append(f"| {n} | {desc} | {cpu:.0f} | {occ:.2f} | {m[0]:.1f} / {m[1]:.1f} | "
                 f"{pr[0]['n_exits']} | {pr[0]['rate_per_s']:.3g} "
                 f"{_ci(pr[0]['rate_ci_per_s'])} | {pr[1]['n_exits']} | "
                 f"{pr[1]['rate_per_s']:.3g} {_ci(pr[1]['rate_ci_per_s'])} | "
                 f"{', '.join(f'{x:.2f}' for x in dw[0][:6])} / "
                 f"{', '.join(f'{x:.2f}' for x in dw[1][:6])} |")
    T = f["period_ms"]
    L += ["", f"MFE trains (the state-1 dwells above are one or two windows, i.e. one or two "
          f"ODE periods of {T:.1f} ms): MFE onsets = upward crossings of "
          f"{sw['threshold_hz']:.0f} Hz by the 1 ms smoothed E rate (>= 20 ms apart); a train "
          f"= successive MFEs at most {1.5 * T:.0f} ms (1.5 periods) apart. On the ODE's cycle "
          "every MFE is followed by the next; q = fraction of MFEs followed by another within "
          "the train (mean train length 1 / (1 - q) for geometric lengths).", "",
          "| N | MFEs | MFEs per s | trains | q | mean train length | trains of >= 3 | longest "
          "train |", "|---|---|---|---|---|---|---|---|"]
    for n, runs in sorted(sw["groups"].items()):
        tr = [mfe_trains(sw["counts"][k], int(round(300 * k[0])), sw["threshold_hz"], T)
              for k, _, _ in runs]
        lens = np.concatenate([t["lengths"] for t in tr])
        n_mfe = sum(t["n_mfe"] for t in tr)
        dur = sum(t["t_s"] for t in tr)
        q = (n_mfe - len(lens)) / n_mfe if n_mfe else float("nan")
        L.append(f"| {n} | {n_mfe} | {n_mfe / dur:.2f} | {len(lens)} | {q:.3f} | "
                 f"{lens.mean() if len(lens) else float('nan'):.2f} | "
                 f"{int(np.sum(lens >= 3))} | {int(lens.max()) if len(lens) else 0} |")
    return "\n".join(L + ["", END]) + "\n"


def write_section(text: str) -> None:
    """Replace (or append) the marked section of figures/metastability.md."""
    path = FIGURES / "metastability.md"
    old = path.read_text() if path.exists() else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        new = head + text.rstrip("\n") + rest.split(END, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + text
    atomic_write_text(path, new)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=ROOT / "out" / "metastability")
    ap.add_argument("--quick", action="store_true", help="short runs (a smoke test)")
    args = ap.parse_args()
    ode = ode_check(1500.0)
    print(ode, flush=True)
    sw = switching(QUICK if args.quick else RUNS, args.cache)
    plot(sw)
    write_section(section(ode, sw, args.quick))


if __name__ == "__main__":
    main()
