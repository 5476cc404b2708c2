"""Metastability at p_EI = 0.8 (issue 12): coexistence in the ODE and the SNN's switching.

1. Coexistence in the reduced ODE: for each tau_EE, integrate from the stable equilibrium
   (slightly perturbed) and from a point of the large cycle (continued in tau_EE from 2.5);
   both persisting = bistable.
2. Switching traces: the longest SNN run per N at tau_EE = 2.8 (runs of
   analyses/switching_models.py, same cache), the windowed peak E rate and its segmentation
   (threshold as in switching_models.py, and a two-state HMM on log10 of the peak rate).

The rates with their intervals are in figures/switching_models.md (all models, both regions),
the irregular cells and HMM vs threshold in figures/switching_irregular.md, the attractor
distances in figures/geometry_scaling.md.  Writes figures/metastability_switching.{png,pdf}
and the coexistence section of figures/metastability.md (the hand-written summary at the top
and the section of analyses/metastability_regions.py are kept).

Usage: ``python analyses/metastability.py [--cache DIR] [--quick]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bifsnn import NetworkParams
from bifsnn.analysis.switching import peak_rate_series, run_counts
from bifsnn.network.metastability import segment_runs
from bifsnn.network.plots import save_figure, subplots
from bifsnn.network.results import atomic_write_text
from bifsnn.reduction import MarkovModelDef, find_equilibrium, simulate_ode

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "figures"
P_EI, TAU = 0.8, 2.8
WINDOW_MS = 50.0
TRANSIENT_MS = 100.0
#: (k, seed, t_ms) of the longest default-start SNN run per N at (P_EI, TAU)
TRACES = [(1.0, 2, 30000.0), (2.0, 2, 60000.0), (4.0, 1, 20000.0), (8.0, 2, 10000.0)]
SUMMARY = ("<!-- summary:begin -->", "<!-- summary:end -->")
REGIONS = "<!-- regions:begin -->"


def coexistence(taus: list[float]) -> list[dict]:
    """Attractors reached from the equilibrium and from the cycle, per tau_EE."""
    rows = []
    x_cyc = simulate_ode(MarkovModelDef(params=NetworkParams(p_EI=P_EI, tau_EE=2.5)),
                         t_ms=600.0).extra["final_state"]
    for tau in taus:
        d = MarkovModelDef(params=NetworkParams(p_EI=P_EI, tau_EE=tau))
        eq = find_equilibrium(d)
        row = {"tau_EE": tau, "eq_stable": bool(eq.stable), "eq_rate_e": eq.rate_e}
        for name, x0 in (("from_eq", eq.x * (1 + 1e-3)), ("from_cycle", x_cyc)):
            r = simulate_ode(d, t_ms=1000.0, x0=x0)
            f = r.rate_e[-3000:]
            row[name] = (float(f.min()), float(f.max()))
            if name == "from_cycle" and f.max() > 30.0:
                x_cyc = r.extra["final_state"]  # continue along the cycle
        row["bistable"] = row["from_eq"][1] - row["from_eq"][0] < 1.0 < \
            row["from_cycle"][1] - row["from_cycle"][0]
        rows.append(row)
    return rows


def traces(runs: list[tuple], cache: Path) -> dict:
    """Peak-rate series of the runs and their threshold and HMM segmentations."""
    series = {}
    for k, seed, t_ms in runs:
        d = MarkovModelDef(params=NetworkParams(p_EI=P_EI, tau_EE=TAU).scaled(k))
        e, _ = run_counts("snn", d, t_ms=t_ms, seed=seed, cache=cache)
        t, peak, _ = peak_rate_series(e, d, window_ms=WINDOW_MS, skip_ms=TRANSIENT_MS)
        series[(k, seed)] = (t, peak)
    return {"series": series,
            **{m: segment_runs(series, resolution_ms=WINDOW_MS, method=m, log=m == "hmm")
               for m in ("threshold", "hmm")}}


def plot(coex: list[dict], tr: dict) -> None:
    """ODE attractors along tau_EE (top) and the SNN's traces with both segmentations."""
    keys = sorted(tr["series"])
    fig, axes = subplots(len(keys) + 1, 1, figsize=(8, 1.6 * (len(keys) + 1)),
                         constrained_layout=True)
    ax = axes[0]
    taus = np.asarray([r["tau_EE"] for r in coex])
    for name, c, dx in (("from_eq", "C0", -0.008), ("from_cycle", "C3", 0.008)):
        lo, hi = [r[name][0] for r in coex], [r[name][1] for r in coex]
        ax.vlines(taus + dx, lo, hi, colors=c, lw=4, alpha=0.6,
                  label=f"ODE {name.replace('_', ' ')} (f_E min-max)")
        ax.plot(taus + dx, hi, "_", color=c, ms=10)  # visible for an equilibrium too
    ax.set(xlabel="tau_EE (ms)", ylabel="f_E (spikes/ms)", yscale="symlog")
    ax.legend(fontsize=7)
    th = tr["threshold"]
    for ax, key in zip(axes[1:], keys, strict=True):
        t, v = tr["series"][key]
        ax.plot(t / 1000.0, v, lw=0.6, color="0.3")
        for method, c, y0 in (("threshold", "C0", 0.0), ("hmm", "C3", 0.5)):
            st = tr[method].segmentations[key].states
            ax.fill_between(t / 1000.0, y0, y0 + 0.5, where=st == 1, color=c, alpha=0.3,
                            transform=ax.get_xaxis_transform(), lw=0, label=f"state 1 ({method})")
        for y in (th.low, th.high):
            ax.axhline(y, color="k", lw=0.5, ls=":")
        ax.set_ylabel("peak rate\n(Hz)", fontsize=7)
        ax.set_title(f"SNN, N = {int(round(400 * key[0]))}, seed {key[1]}", fontsize=8)
    axes[1].legend(fontsize=6, loc="upper right")
    axes[-1].set_xlabel("t (s)")
    save_figure(fig, FIGURES / "metastability_switching")


def write_md(coex: list[dict], tr: dict, quick: bool) -> None:
    """The coexistence section of figures/metastability.md (summary and regions kept)."""
    path = FIGURES / "metastability.md"
    old = path.read_text() if path.exists() else ""
    head = ["# Metastability, switching and attractor geometry (issue 12)", ""]
    if SUMMARY[0] in old and SUMMARY[1] in old:
        head += [SUMMARY[0] + old.split(SUMMARY[0], 1)[1].split(SUMMARY[1], 1)[0] + SUMMARY[1],
                 ""]
    h = tr["hmm"].hmm
    lines = head + [
        "## Coexistence in the reduced ODE (p_EI = 0.8)", "",
        f"Made by `analyses/metastability.py` (`--quick` = {quick}); "
        "![coexistence and SNN traces](metastability_switching.png)", "",
        "| tau_EE | equilibrium stable | f_E range from eq | from cycle | bistable |",
        "|---|---|---|---|---|"]
    for r in coex:
        lines.append(f"| {r['tau_EE']} | {r['eq_stable']} | {r['from_eq'][0]:.2f}-"
                     f"{r['from_eq'][1]:.2f} | {r['from_cycle'][0]:.2f}-"
                     f"{r['from_cycle'][1]:.2f} | {r['bistable']} |")
    lines += ["", f"Traces in the figure (SNN at tau_EE = {TAU}, longest run per N, first "
              f"{TRANSIENT_MS:g} ms dropped): peak of the 1 ms smoothed E rate in {WINDOW_MS:g} "
              f"ms windows (resolution {WINDOW_MS:g} ms); threshold segmentation over these "
              f"runs {tr['threshold'].low:.0f}-{tr['threshold'].high:.0f} Hz (hysteresis), "
              f"HMM states at {10 ** h.means[0]:.0f} / {10 ** h.means[1]:.0f} Hz (log10 "
              "Gaussian, Viterbi). The rates with their intervals: `switching_models.md`; "
              "HMM vs threshold: `switching_irregular.md`; attractor distances: "
              "`geometry_scaling.md`."]
    if REGIONS in old:  # the section of metastability_regions.py and the reading after it
        lines += ["", REGIONS + old.split(REGIONS, 1)[1].rstrip("\n")]
    atomic_write_text(path, "\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=ROOT / "out" / "switching_models")
    ap.add_argument("--quick", action="store_true", help="short runs (a smoke test)")
    args = ap.parse_args()
    coex = coexistence([2.5, 2.7, 2.8, 3.0, 3.1] if args.quick else
                       [2.5, 2.6, 2.7, 2.8, 2.9, 3.0, 3.05, 3.1])
    tr = traces([(1.0, 1, 2000.0)] if args.quick else TRACES, args.cache)
    plot(coex, tr)
    write_md(coex, tr, args.quick)
    print(json.dumps({"bistable": [r["tau_EE"] for r in coex if r["bistable"]]}))


if __name__ == "__main__":
    main()
