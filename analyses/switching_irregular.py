"""Switching or not where the SNN looks irregular (issue 12, item 2), and HMM vs threshold
segmentation on the SNN runs.

Points: cells of the regime map (figures/network_regime_map.md) labelled *irregular* next to
the boundaries of the oscillating region: C = (0.95, 1.75) and D = (0.90, 2.00) (the ODE's
equilibrium stable, the SNN irregular) and E = (0.80, 2.25) (equilibrium unstable, near the top
of the Hopf curve); for reference the two coexistence regions A = (0.8, 2.8) and
B = (1.0, 1.25) (runs of analyses/switching_models.py, same cache names).  For each point and
N = 400 k (N S fixed): long SNN runs (seeds 1, 2 from the default start, seed 3 from the
ODE's equilibrium), the peak of the 1 ms smoothed E rate in 50 ms windows (resolution 50 ms),
segmented per point and N by (a) an Otsu threshold with a hysteresis band and (b) a two-state
Gaussian HMM on log10 of the peak rate; dwell times and pooled exit rates with exact
Poisson 95 % intervals for both.  What the irregularity is: Ashman's D of the HMM's two
states (D > 2: two separated modes), the inter-event intervals of MFEs (onsets = upward
crossings of the threshold; CV and a KS test against the exponential), the SNN's spectral
peak against the frequency of the ODE's leading eigenvalues, and the fluctuation amplitude
(std of the 1 ms smoothed rate) times sqrt(N / 400) (constant for linear, noise-driven
fluctuations around a stable state).

Writes figures/switching_irregular.{png,pdf,md}; runs cached in --cache.
Usage: ``python analyses/switching_irregular.py [--cache DIR] [--quick]``
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from scipy import stats

from bifsnn import NetworkParams
from bifsnn.analysis.report import write_markdown_keeping
from bifsnn.analysis.switching import peak_rate_series, run_counts
from bifsnn.network.metastability import segment_runs
from bifsnn.network.observables import smooth_rate, spectral_peak
from bifsnn.network.plots import save_figure, subplots
from bifsnn.reduction import MarkovModelDef, find_equilibrium

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "figures"
WINDOW_MS = 50.0
TRANSIENT_MS = 100.0
POINTS = {"C": (0.95, 1.75), "D": (0.9, 2.0), "E": (0.8, 2.25), "A": (0.8, 2.8),
          "B": (1.0, 1.25)}
KS = (1.0, 2.0, 4.0, 8.0)
IRREGULAR_RUNS = [(s, t, st) for s, t, st in ((1, 20000.0, "default"), (2, 20000.0, "default"),
                                              (3, 10000.0, "eq"))]
REFERENCE_RUNS = {  # (k, seed, t_ms, start): runs of analyses/switching_models.py
    "A": [(1.0, 2, 30000.0, "default"), (2.0, 1, 10000.0, "default"),
          (2.0, 2, 60000.0, "default"), (2.0, 3, 30000.0, "default"),
          (4.0, 1, 20000.0, "default"), (8.0, 2, 10000.0, "default")],
    "B": [(k, s, t, st) for k in KS for s, t, st in ((1, 20000.0, "default"),
                                                      (2, 10000.0 if k > 1 else 20000.0, "eq"))]}


#: the other finite-N models where the SNN switches: (point, k, model, closure, seed, t_ms)
MODEL_RUNS = [("D", 2.0, m, c, s, 20000.0) for m, c in (("markov", "paper"), ("sde", "paper"),
                                                         ("sde", "coloured")) for s in (1, 2)]


def runs_of(name: str, quick: bool) -> list[tuple]:
    """(k, seed, t_ms, start) of every run at point ``name``."""
    if quick:
        return [(1.0, 1, 2000.0, "default"), (2.0, 1, 2000.0, "default")]
    return REFERENCE_RUNS.get(name) or [(k, *r) for k in KS for r in IRREGULAR_RUNS]


def definition(point: tuple[float, float], k: float) -> MarkovModelDef:
    """The reduced model at ``point`` for N = 400 k (N S fixed)."""
    return MarkovModelDef(params=NetworkParams(p_EI=point[0], tau_EE=point[1]).scaled(k))


def ode_mode(d: MarkovModelDef) -> dict:
    """Stability of the ODE's equilibrium and its leading eigenvalue (frequency in Hz)."""
    eq = find_equilibrium(d)
    lam = eq.eigenvalues[np.argmax(eq.eigenvalues.real)]
    return {"stable": eq.stable, "re_per_ms": float(lam.real),
            "f_hz": abs(float(lam.imag)) * 1000.0 / (2 * math.pi), "rate_hz": eq.rate_e_hz}


def mfe_intervals(e: np.ndarray, d: MarkovModelDef, threshold_hz: float, skip_ms: float
                  ) -> np.ndarray:
    """Intervals (ms) between MFE onsets: upward crossings of ``threshold_hz`` by the 1 ms
    smoothed per-neuron E rate, at least 20 ms apart."""
    dt = d.params.dt
    sm = smooth_rate(e[int(skip_ms / dt):] / dt, dt) * 1000.0 / d.params.N_E
    up = np.flatnonzero((sm[1:] > threshold_hz) & (sm[:-1] <= threshold_hz)) * dt
    on = [t for i, t in enumerate(up) if i == 0 or t - up[i - 1] > 20.0]
    return np.diff(on)


def analyse(name: str, runs: list[tuple], cache: Path) -> dict:
    """Both segmentations of every run at one point, and the per-N characterisation."""
    point = POINTS[name]
    series, counts, cpu = {}, {}, {}
    for k, seed, t_ms, start in runs:
        d = definition(point, k)
        e, cpu[(k, seed, start)] = run_counts("snn", d, t_ms=t_ms, seed=seed, start=start,
                                              cache=cache)
        skip = TRANSIENT_MS if start == "default" else 0.0
        t, peak, _ = peak_rate_series(e, d, window_ms=WINDOW_MS, skip_ms=skip)
        series[(k, seed, start)] = (t, peak)
        counts[(k, seed, start)] = (e, skip)
    per_n = {}
    for k in sorted({r[0] for r in runs}):
        keys = [key for key in series if key[0] == k]
        d = definition(point, k)
        sub = {key: series[key] for key in keys}
        seg = {m: segment_runs(sub, resolution_ms=WINDOW_MS, method=m, log=m == "hmm")
               for m in ("threshold", "hmm")}
        h = seg["hmm"].hmm
        thr = seg["threshold"].threshold
        ieis = np.concatenate([mfe_intervals(counts[key][0], d, thr, counts[key][1])
                               for key in keys])
        sm = [smooth_rate(counts[key][0] / d.params.dt, d.params.dt) * 1000 / d.params.N_E
              for key in keys]
        sp = spectral_peak(np.concatenate(sm), d.params.dt, fmin_hz=10.0, fmax_hz=200.0,
                           fundamental_ratio=2.0)
        n_mfe = ieis.size + len(keys)
        per_n[k] = {
            "keys": keys, "ode": ode_mode(d), "snn_f_hz": sp.frequency_hz, "seg": seg,
            "ashman_d": float(math.sqrt(2) * abs(h.means[1] - h.means[0])
                              / math.hypot(*np.sqrt(h.variances))),
            "std_scaled": float(np.mean([np.std(s) for s in sm]) * math.sqrt(k)),
            "peak_pct": np.percentile(np.concatenate([series[key][1] for key in keys]),
                                      [5, 50, 95]),
            "mfe_per_s": n_mfe / sum(counts[key][0].size * d.params.dt / 1000 for key in keys),
            "iei_cv": float(np.std(ieis) / np.mean(ieis)) if ieis.size > 2 else math.nan,
            "iei_ks_p": float(stats.kstest(ieis, "expon", args=(0, ieis.mean())).pvalue)
            if ieis.size > 5 else math.nan, "n_iei": int(ieis.size),
            "cpu_s": sum(cpu[key] for key in keys),
            "psd": (sp.freqs_hz, sp.psd)}
    return {"point": point, "per_n": per_n, "series": series}


def model_rates(res: dict, runs: list[tuple], cache: Path) -> list[dict]:
    """Rates of the Markov model and the noisy ODE (from the ODE's equilibrium) at the SNN's
    point and N, segmented with one threshold over these runs and the SNN's runs."""
    out = []
    for name, k, model, closure, seed, t_ms in runs:
        d = MarkovModelDef(params=definition(POINTS[name], k).params, closure=closure)
        e, cpu = run_counts(model, d, t_ms=t_ms, seed=seed, start="eq", cache=cache)
        t, peak, _ = peak_rate_series(e, d, window_ms=WINDOW_MS)
        out.append({"key": (name, k, model, closure, seed), "series": (t, peak), "cpu": cpu})
    for name, k in sorted({(r[0], r[1]) for r in runs}):
        snn = {("snn", "", *key): res[name]["series"][key] for key in res[name]["series"]
               if key[0] == k}
        mine = {r["key"][2:4] + r["key"][4:]: r["series"] for r in out
                if r["key"][:2] == (name, k)}
        seg = segment_runs({**snn, **mine}, resolution_ms=WINDOW_MS)
        for r in out:
            if r["key"][:2] == (name, k):
                r["seg"] = seg
                r["stats"] = seg.stats[r["key"][2:4] + r["key"][4:]]
        snn_keys = list(snn)
        out.append({"key": (name, k, "snn", "", 0), "stats": None, "seg": seg,
                    "pooled": seg.pooled(snn_keys), "cpu": math.nan})
    return out


def _ci(ci: tuple[float, float]) -> str:
    return f"[{ci[0]:.3g}, {ci[1]:.3g}]"


def _dwell(pr: dict) -> str:
    return f"{pr['exposure_ms'] / pr['n_exits']:.0f}" if pr["n_exits"] else "inf"


def plot(res: dict) -> None:
    """Peak-rate histograms (top) and spectra with the ODE's eigenfrequency (bottom)."""
    fig, axes = subplots(2, len(res), figsize=(3.4 * len(res), 6.0), constrained_layout=True,
                         squeeze=False)
    for j, (name, r) in enumerate(res.items()):
        bins = np.logspace(0.5, 3.3, 60)
        for i, (k, q) in enumerate(r["per_n"].items()):
            c = f"C{i}"
            x = np.concatenate([r["series"][key][1] for key in q["keys"]])
            axes[0, j].hist(x, bins=bins, histtype="step", density=True, color=c,
                            label=f"N = {int(400 * k)}")
            f, p = q["psd"]
            sel = (f > 5) & (f < 250)
            axes[1, j].semilogy(f[sel], p[sel], color=c, lw=0.8, label=f"N = {int(400 * k)}")
            if q["ode"]["f_hz"] > 0:
                axes[1, j].axvline(q["ode"]["f_hz"], color=c, ls=":", lw=0.8)
        pe, tau = r["point"]
        axes[0, j].set(xscale="log", xlabel="peak E rate in 50 ms (Hz)", ylabel="density",
                       title=f"{name}: p_EI {pe}, tau_EE {tau}")
        axes[1, j].set(xlabel="f (Hz)", ylabel="PSD of the 1 ms smoothed E rate",
                       title="dotted: ODE leading eigenfrequency")
        axes[0, j].legend(fontsize=6)
    save_figure(fig, FIGURES / "switching_irregular")


def write_md(res: dict, quick: bool, models: list[dict]) -> None:
    """figures/switching_irregular.md with every number of the runs."""
    L = ["# Switching where the SNN looks irregular; HMM vs threshold segmentation", "",
         f"Made by `analyses/switching_irregular.py` (`--quick` = {quick}). "
         "![histograms and spectra](switching_irregular.png)", "",
         "SNN runs at N = 400 k (N S fixed); `default` starts drop their first 100 ms. "
         "Observable: peak of the 1 ms smoothed per-neuron E rate in 50 ms windows "
         f"(**resolution {WINDOW_MS:g} ms**: dwells shorter than about 75 ms are not "
         "resolved). Both segmentations are fitted to the runs of one point and N (the "
         "levels move with N). Threshold: Otsu over those runs, hysteresis +-25 % of the gap "
         "between the state medians. HMM: two-state Gaussian HMM on log10(peak rate), "
         "Baum-Welch over the same runs (best of 4 seeded starts), Viterbi path. "
         "Rates: exits / exposure pooled over the runs of one N, exact Poisson 95 % "
         "intervals; mean dwell = exposure / exits (ms).", "",
         "## What the activity is", "",
         "ODE: stability of the equilibrium, its leading eigenvalue's real part (1/ms) and "
         "frequency; SNN: spectral peak of the smoothed rate (10-200 Hz), std of the "
         "smoothed rate x sqrt(N / 400) (Hz), peak-rate percentiles 5/50/95 (Hz), MFEs "
         "(upward crossings of the point's threshold) per s, CV of their intervals and "
         "the KS p-value against the exponential. Ashman's D of the HMM's two states "
         "(> 2: two separated modes).", "",
         "| point | N | runs (seed/start/s) | CPU s | ODE eq | Re lambda | ODE f (Hz) | SNN f "
         "(Hz) | std x sqrt(N/400) | peak 5/50/95 | MFE/s | IEI CV | IEI KS p | Ashman D |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in res.items():
        for k, q in r["per_n"].items():
            o = q["ode"]
            runs = ", ".join(f"{s}/{st}/{r['series'][(k, s, st)][0][-1] / 1000:.0f}"
                             for _, s, st in q["keys"])
            L.append(f"| {name} {r['point']} | {int(400 * k)} | {runs} | {q['cpu_s']:.0f} | "
                     f"{'stable' if o['stable'] else 'unstable'} | {o['re_per_ms']:.3g} | "
                     f"{o['f_hz']:.0f} | {q['snn_f_hz']:.0f} | {q['std_scaled']:.1f} | "
                     f"{'/'.join(f'{v:.0f}' for v in q['peak_pct'])} | {q['mfe_per_s']:.2f} | "
                     f"{q['iei_cv']:.2f} | {q['iei_ks_p']:.2g} | {q['ashman_d']:.2f} |")
    L += ["", "## Segmentation: threshold vs HMM", "",
          "| point | N | method | levels (Hz) | occupancy of 1 | exits 0->1 | rate 0->1 (1/s, "
          "95 % CI) | exits 1->0 | rate 1->0 (1/s, 95 % CI) | mean dwell 0 / 1 (ms) | HMM "
          "transition rates 0->1 / 1->0 (1/s) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in res.items():
        for k, q in r["per_n"].items():
            for m, s in q["seg"].items():
                pr = s.pooled(q["keys"])
                st = [s.stats[key] for key in q["keys"]]
                occ = sum(x.occupancy[1] * x.t_total_ms for x in st) / sum(
                    x.t_total_ms for x in st)
                lev = (f"{s.low:.0f}-{s.high:.0f}" if m == "threshold" else
                       "/".join(f"{10 ** v:.0f}" for v in s.hmm.means))
                hr = ("" if m == "threshold" else
                      " / ".join(f"{v:.3g}" for v in s.hmm.rates_per_s()))
                L.append(f"| {name} | {int(400 * k)} | {m} | {lev} | {occ:.2f} | "
                         f"{pr[0]['n_exits']} | {pr[0]['rate_per_s']:.3g} "
                         f"{_ci(pr[0]['rate_ci_per_s'])} | {pr[1]['n_exits']} | "
                         f"{pr[1]['rate_per_s']:.3g} {_ci(pr[1]['rate_ci_per_s'])} | "
                         f"{_dwell(pr[0])} / {_dwell(pr[1])} | {hr} |")
    L += ["", "## Other finite-N models where the SNN switches", "",
          "The neuron-level Markov model and the noisy reduced ODE (paper's and coloured "
          "closure; Euler-Maruyama, dt 0.05 ms), 20 s from the ODE's equilibrium, seeds 1 and "
          "2, segmented with one threshold over these runs and the SNN's runs of the same "
          "point and N (hysteresis band as above).", "",
          "| point | N | model | closure | threshold band (Hz) | CPU s | occupancy of 1 | "
          "rate 0->1 (1/s, 95 % CI) | rate 1->0 (1/s, 95 % CI) |",
          "|---|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple, list] = {}
    for r in models:
        groups.setdefault(r["key"][:4], []).append(r)
    for (name, k, model, closure), rs in sorted(groups.items()):
        seg = rs[0]["seg"]
        pr = rs[0]["pooled"] if model == "snn" else seg.pooled([r["key"][2:4] + r["key"][4:]
                                                               for r in rs])
        st = [seg.stats[key] for key in seg.stats if key[0] == model and key[1] == closure]
        occ = sum(x.occupancy[1] * x.t_total_ms for x in st) / sum(x.t_total_ms for x in st)
        L.append(f"| {name} | {int(400 * k)} | {model} | {closure or '-'} | "
                 f"{seg.low:.0f}-{seg.high:.0f} | {sum(r['cpu'] for r in rs):.0f} | {occ:.2f} | "
                 f"{pr[0]['rate_per_s']:.3g} {_ci(pr[0]['rate_ci_per_s'])} | "
                 f"{pr[1]['rate_per_s']:.3g} {_ci(pr[1]['rate_ci_per_s'])} |")
    write_markdown_keeping(FIGURES / "switching_irregular.md", "\n".join(L))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=ROOT / "out" / "switching_models")
    ap.add_argument("--quick", action="store_true", help="short runs (a smoke test)")
    ap.add_argument("--points", default="CDEAB", help="which points (default CDEAB)")
    args = ap.parse_args()
    res = {}
    for name in args.points:
        res[name] = analyse(name, runs_of(name, args.quick), args.cache)
        print(name, {k: (q["snn_f_hz"], q["ode"]["f_hz"], q["iei_cv"])
                     for k, q in res[name]["per_n"].items()}, flush=True)
    models = [] if args.quick or "D" not in res else model_rates(res, MODEL_RUNS, args.cache)
    plot(res)
    write_md(res, args.quick, models)


if __name__ == "__main__":
    main()
