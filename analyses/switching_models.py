"""Switching rates of the SNN, the neuron-level Markov model and the noisy reduced ODE
(issue 12, items 2 and 3), in both coexistence regions, against N (N S fixed).

Three finite-N models of the same network, from the most to the least detailed:

* ``snn``: the spiking network (``simulate_snn``);
* ``markov``: the neuron-level Markov model (``simulate_markov``): the SNN's neurons, each
  with an independent Gaussian input drawn from the population moments (the decorrelation
  assumption of the reduction), with exactly N neurons' counting statistics;
* ``sde``: the reduced ODE with the chemical-Langevin finite-size noise of N neurons
  (``reduction.noise.simulate_sde``, Euler-Maruyama, dt 0.05 ms);
* ``sde_col``: the same SDE with the coloured closure (docs/MODEL.md 5d: the pending input's
  variance as coloured noise, the SNN's persistence of each neuron's pending spikes).

If ``markov`` agrees with ``sde``, the SDE is a faithful diffusion approximation of the
Markov model and a mismatch with ``snn`` comes from the decorrelation assumption (the drift
and the state-dependent noise of the reduction), not from the noise's derivation; if
``markov`` agrees with ``snn``, the SDE's noise is at fault.

For each region (p_EI, tau_EE) and each N = 400 k: the ODE at that N (its equilibrium's
stability, and whether the large cycle carried from a neighbouring point where it is the only
attractor persists); runs from the default state, the ODE's equilibrium or its cycle
(``state_from_reduced``: voltage histogram and pending spikes); one segmentation per region
for all models (peak of the 1 ms smoothed E rate in 50 ms windows, Otsu threshold over all
runs of the region, hysteresis band +-25 % of the gap between the state medians); exit rates
pooled over runs (exits / exposure) with exact Poisson 95 % intervals.

Writes figures/switching_models.{png,pdf,md}; runs are cached as .npz in --cache.
Usage: ``python analyses/switching_models.py [--cache DIR] [--quick]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bifsnn import NetworkParams
from bifsnn.analysis.report import write_markdown_keeping
from bifsnn.analysis.switching import cycle_state, peak_rate_series, run_counts
from bifsnn.network.metastability import pooled_rates, segment_runs
from bifsnn.network.plots import save_figure, subplots
from bifsnn.network.results import atomic_write_text
from bifsnn.reduction import MarkovModelDef, find_equilibrium, simulate_ode

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "figures"
WINDOW_MS = 50.0
TRANSIENT_MS = 100.0
SDE_DT_MS = 0.05
#: region name -> (p_EI, tau_EE), and the neighbouring point whose only attractor is the cycle
REGIONS = {"A": ((0.8, 2.8), (0.8, 2.5)), "B": ((1.0, 1.25), (0.95, 1.25))}
KS = (0.5, 1.0, 2.0, 4.0, 8.0)


def _runs(quick: bool) -> list[tuple]:
    """(region, model, k, seed, t_ms, start) of every run."""
    if quick:
        return [(r, m, 1.0, 1, 1000.0, s) for r in REGIONS for m in ("markov", "sde")
                for s in ("eq", "cycle")]
    out = []
    # SNN: the runs of analyses/metastability.py (region A) and metastability_regions.py (B)
    out += [("A", "snn", 1.0, 2, 30000.0, "default")]
    out += [("A", "snn", 1.0, s, 1000.0, "cycle") for s in (1, 2, 3, 4, 5)]
    out += [("A", "snn", 2.0, 1, 10000.0, "default"), ("A", "snn", 2.0, 2, 60000.0, "default"),
            ("A", "snn", 2.0, 3, 30000.0, "default"), ("A", "snn", 4.0, 1, 20000.0, "default"),
            ("A", "snn", 8.0, 1, 10000.0, "cycle"), ("A", "snn", 8.0, 2, 10000.0, "default")]
    # escapes from the ODE's equilibrium (added here)
    out += [("A", "snn", k, s, t, "eq") for k, s, t in (
        (1.0, 6, 5000.0), (1.0, 7, 5000.0), (4.0, 3, 5000.0), (4.0, 4, 5000.0),
        (8.0, 3, 3000.0), (8.0, 4, 3000.0))]
    out += [("B", "snn", k, s, t, st) for k, s, t, st in (
        (0.5, 1, 30000.0, "default"), (0.5, 2, 20000.0, "eq"),
        (1.0, 1, 20000.0, "default"), (1.0, 2, 20000.0, "eq"), (1.0, 3, 10000.0, "cycle"),
        (2.0, 1, 20000.0, "default"), (2.0, 2, 10000.0, "eq"), (2.0, 3, 10000.0, "cycle"),
        (4.0, 1, 20000.0, "default"), (4.0, 2, 10000.0, "eq"), (4.0, 3, 10000.0, "cycle"),
        (8.0, 1, 20000.0, "default"), (8.0, 2, 10000.0, "eq"), (8.0, 3, 10000.0, "cycle"))]
    # the Markov model and the SDE: from the equilibrium and from the cycle, every N
    for r in REGIONS:
        for k in KS:
            for s, start in ((1, "eq"), (2, "cycle")):
                out.append((r, "markov", k, s, 20000.0, start))
    # the SDEs (about 1.3 CPU s per simulated s at any N): from the equilibrium (the cycle's
    # dwell follows the first escape); the coloured closure's cycle exists at N >= 1600 in A
    out += [(r, "sde", 0.5, 1, 10000.0, "eq") for r in REGIONS]
    out += [(r, m, k, 1, 6000.0, "eq") for r in REGIONS for m in ("sde", "sde_col")
            for k in KS[1:]]
    out += [("A", "sde_col", k, 2, 4000.0, "cycle") for k in (4.0, 8.0)]
    return out


def definition(region: str, k: float, closure: str = "paper") -> MarkovModelDef:
    """The reduced model of ``region`` for N = 400 k, N S fixed."""
    pe, tau = REGIONS[region][0]
    return MarkovModelDef(params=NetworkParams(p_EI=pe, tau_EE=tau).scaled(k), closure=closure)


def ode_at(region: str, k: float, closure: str = "paper") -> dict:
    """Equilibrium stability and whether the carried cycle persists, at N = 400 k."""
    d = definition(region, k, closure=closure)
    eq = find_equilibrium(d)
    r = simulate_ode(d, t_ms=1200.0, x0=cycle_state(d, REGIONS[region][1]))
    f = np.asarray(r.rate_e)[-5000:]
    return {"eq_stable": bool(eq.stable), "eq_rate_hz": 1000.0 * eq.rate_e / d.params.N_E,
            "cycle": bool(f.max() - f.min() > 1.0),
            "cycle_rate_hz": 1000.0 * float(f.mean()) / d.params.N_E}


def analyse(region: str, runs: list[tuple], cache: Path) -> dict:
    """One segmentation over all runs of ``region``; dwell statistics grouped by (model, N)."""
    series, cpu = {}, {}
    for _, model, k, seed, t_ms, start in runs:
        d = definition(region, k, closure="coloured" if model == "sde_col" else "paper")
        e, cpu[(model, k, seed, start)] = run_counts(
            model.removesuffix("_col"), d, t_ms=t_ms, seed=seed, start=start,
            source=REGIONS[region][1], cache=cache, sde_dt_ms=SDE_DT_MS)
        t, peak, _ = peak_rate_series(e, d, window_ms=WINDOW_MS,
                                      skip_ms=TRANSIENT_MS if start == "default" else 0.0)
        series[(model, k, seed, start)] = (t, peak)
    seg = segment_runs(series, resolution_ms=WINDOW_MS)
    groups: dict[tuple, list] = {}
    for key in series:
        groups.setdefault((key[0], key[1]), []).append((key, seg.stats[key]))
    return {"threshold_hz": seg.threshold, "low_hz": seg.low, "high_hz": seg.high,
            "medians_hz": seg.medians, "groups": groups, "cpu_s": cpu, "series": series}


MODELS = {"snn": ("C0", "o"), "markov": ("C2", "s"), "sde": ("C3", "^"),
          "sde_col": ("C1", "D")}


def plot(results: dict, odes: dict) -> None:
    """Exit rates (95 % intervals) against N: one column per region, one row per state."""
    fig, axes = subplots(2, len(results), figsize=(5.2 * len(results), 6.4),
                         constrained_layout=True, squeeze=False)
    for j, (region, res) in enumerate(results.items()):
        for i, state in enumerate((0, 1)):
            ax = axes[i, j]
            for model, (c, mk) in MODELS.items():
                ks = sorted(k for m, k in res["groups"] if m == model)
                if not ks:
                    continue
                dx = {"snn": 0.91, "markov": 0.97, "sde": 1.03, "sde_col": 1.09}[model]
                for k in ks:
                    pr = pooled_rates([s for _, s in res["groups"][(model, k)]])[state]
                    n = 400 * k * dx
                    lo, hi = pr["rate_ci_per_s"]
                    if pr["n_exits"] > 0:
                        ax.errorbar(n, pr["rate_per_s"], yerr=[[pr["rate_per_s"] - lo],
                                    [hi - pr["rate_per_s"]]], fmt=mk, color=c, ms=5,
                                    capsize=2)
                    elif np.isfinite(hi):
                        ax.plot(n, hi, "v", color=c, mfc="none", ms=7)
                ax.plot([], [], mk, color=c, label=model)
            for k in KS:
                o = odes[region]["paper"][k]
                if not (o["cycle"] and o["eq_stable"]):
                    ax.axvspan(400 * k / 1.2, 400 * k * 1.2, color="0.85", lw=0)
            name = "low state (0 -> 1)" if state == 0 else "large cycle (1 -> 0)"
            (pe, tau), _ = REGIONS[region]
            ax.set(xscale="log", yscale="log", xlabel="N", ylabel="exit rate (1/s)",
                   title=f"region {region} (p_EI {pe}, tau_EE {tau}): {name}")
            ax.set_xticks([400 * k for k in KS], [str(int(400 * k)) for k in KS])
            ax.tick_params(which="minor", labelbottom=False)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=8,
               title="95 % intervals; open v: 95 % upper bound (0 exits); grey: the paper-"
               "closure ODE is not bistable at this N", title_fontsize=7)
    save_figure(fig, FIGURES / "switching_models")


def _ci(ci: tuple[float, float]) -> str:
    return f"[{ci[0]:.3g}, {ci[1]:.3g}]"


def write_md(results: dict, odes: dict, quick: bool) -> None:
    """figures/switching_models.md with every number of the figure."""
    L = ["# Switching rates: SNN, neuron-level Markov model and noisy reduced ODE", "",
         f"Made by `analyses/switching_models.py` (`--quick` = {quick}). "
         "![rates](switching_models.png)", "",
         "Models: `snn` the spiking network; `markov` the neuron-level Markov model (the SNN's "
         "neurons with independent Gaussian inputs from the population moments, exactly N "
         "neurons); `sde` the reduced ODE with the chemical-Langevin noise of N neurons "
         f"(Euler-Maruyama, dt {SDE_DT_MS} ms); `sde_col` the same with the coloured closure "
         "(docs/MODEL.md 5d). N = 400 k with N S fixed (NetworkParams."
         "scaled). Starts: `default` (first 100 ms dropped), `eq` / `cycle` = the ODE's "
         "equilibrium / a point of its large cycle (its first dwell is the escape from that "
         "state). State 0 = low state, 1 = large cycle (MFEs every period); resolution 50 ms.",
         ""]
    for region, res in results.items():
        (pe, tau), src = REGIONS[region]
        L += [f"## Region {region}: p_EI = {pe}, tau_EE = {tau} ms", "",
              f"Threshold (Otsu, all runs of the region) {res['threshold_hz']:.0f} Hz, "
              f"hysteresis {res['low_hz']:.0f}-{res['high_hz']:.0f} Hz; state medians "
              f"{res['medians_hz'][0]:.0f} / {res['medians_hz'][1]:.0f} Hz.", "",
              f"The ODE at each N, with the paper's and the coloured closure (the cycle of "
              f"({src[0]}, {src[1]}), 400 ms at the region's point, then 1.2 s; the cycle "
              "'persists' if the E rate still oscillates by > 1 spike/ms): ", "",
              "| N | closure | equilibrium stable (rate Hz) | large cycle persists (mean Hz) | "
              "bistable |", "|---|---|---|---|---|"]
        for k in KS:
            for closure in ("paper", "coloured"):
                o = odes[region][closure][k]
                L.append(f"| {int(400 * k)} | {closure} | {o['eq_stable']} "
                         f"({o['eq_rate_hz']:.1f}) | {o['cycle']} ({o['cycle_rate_hz']:.1f}) | "
                         f"{o['eq_stable'] and o['cycle']} |")
        L += ["", "| model | N | runs (seed/start/s) | CPU s | occupancy of 1 | exits 0->1 | "
              "rate 0->1 (1/s, 95 % CI) | exits 1->0 | rate 1->0 (1/s, 95 % CI) | mean dwell "
              "0 / 1 (s) |", "|---|---|---|---|---|---|---|---|---|---|"]
        for (model, k), runs in sorted(res["groups"].items(),
                                       key=lambda g: (list(MODELS).index(g[0][0]), g[0][1])):
            pr = pooled_rates([s for _, s in runs])
            occ = sum(s.occupancy[1] * s.t_total_ms for _, s in runs) / \
                sum(s.t_total_ms for _, s in runs)
            desc = ", ".join(f"{key[2]}/{key[3]}/{s.t_total_ms / 1000:.0f}" for key, s in runs)
            cpu = sum(res["cpu_s"][key] for key, _ in runs)
            mean = [pr[i]["exposure_ms"] / pr[i]["n_exits"] / 1000 if pr[i]["n_exits"] else
                    float("inf") for i in (0, 1)]
            L.append(f"| {model} | {int(400 * k)} | {desc} | {cpu:.0f} | {occ:.2f} | "
                     f"{pr[0]['n_exits']} | {pr[0]['rate_per_s']:.3g} "
                     f"{_ci(pr[0]['rate_ci_per_s'])} | {pr[1]['n_exits']} | "
                     f"{pr[1]['rate_per_s']:.3g} {_ci(pr[1]['rate_ci_per_s'])} | "
                     f"{mean[0]:.3g} / {mean[1]:.3g} |")
        L.append("")
    write_markdown_keeping(FIGURES / "switching_models.md", "\n".join(L))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=ROOT / "out" / "switching_models")
    ap.add_argument("--quick", action="store_true", help="short runs (a smoke test)")
    ap.add_argument("--regions", default="AB", help="which regions (default AB)")
    args = ap.parse_args()
    runs = _runs(args.quick)
    regions = [r for r in REGIONS if r in args.regions]
    path = args.cache / "odes.json"
    cached = json.loads(path.read_text()) if path.exists() else {}
    odes: dict = {}
    for r in regions:
        for closure in ("paper", "coloured"):
            for k in KS:
                key = f"{r}_{closure}_{k}"
                if key not in cached:
                    cached[key] = ode_at(r, k, closure)
                    args.cache.mkdir(parents=True, exist_ok=True)
                    atomic_write_text(path, json.dumps(cached))
                odes.setdefault(r, {}).setdefault(closure, {})[k] = cached[key]
    print(odes, flush=True)
    results = {r: analyse(r, [x for x in runs if x[0] == r], args.cache) for r in regions}
    plot(results, odes)
    write_md(results, odes, args.quick)


if __name__ == "__main__":
    main()
