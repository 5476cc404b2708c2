"""Metastability and attractor geometry at p_EI = 0.8 (issue 12).

1. Coexistence in the reduced ODE: for each tau_EE, integrate from the stable equilibrium
   (slightly perturbed) and from a point of the large cycle (continued in tau_EE from 2.5);
   both persisting = bistable.
2. Switching: long SNN runs at tau_EE = 2.8 for N = 400 k (NetworkParams.scaled(k), N S
   fixed), started from the default state or from the ODE's cycle; the same for the reduced
   model with finite-size noise (reduction.noise.simulate_sde).  Segmentation: windowed peak
   E rate (50 ms windows), Otsu threshold over all runs, hysteresis band +-25 % of the gap
   between the two state medians; dwell times and pooled exit rates with 95 % intervals.
3. Geometry: short SNN runs with voltage histograms along p_EI (tau_EE = 1.4) and tau_EE
   (p_EI = 0.8); mean distance of the SNN's occupation coordinates to the ODE's attractor(s).

Writes figures/metastability_{switching,geometry}.{png,pdf} and figures/metastability.md.
Runs are cached as .npz in --cache (same seeds and initial states give the same files).

Usage: ``python analyses/metastability.py [--cache DIR] [--quick]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bifsnn import NetworkParams
from bifsnn.analysis.geometry import (
    attractor_distance,
    nearest_attractor,
    ode_coordinates,
    sampling_floor,
    snn_coordinates,
)
from bifsnn.network.metastability import (
    dwell_statistics,
    pooled_rates,
    segment_hysteresis,
    two_level_threshold,
    windowed_observables,
)
from bifsnn.network.plots import save_figure, subplots
from bifsnn.network.results import atomic_write_text
from bifsnn.network.snn import simulate_snn
from bifsnn.network.states import state_from_reduced
from bifsnn.reduction import MarkovModelDef, find_equilibrium, simulate_ode
from bifsnn.reduction.noise import simulate_sde

FIGURES = Path(__file__).resolve().parent.parent / "figures"
P_EI, TAU = 0.8, 2.8
WINDOW_MS = 50.0
TRANSIENT_MS = 100.0  # dropped from runs that start from the default state


def cycle_state(d: MarkovModelDef) -> np.ndarray:
    """A point of the large cycle: from tau_EE = 2.5 (where it is the only attractor)."""
    x = simulate_ode(d.replace(tau_EE=2.5), t_ms=600.0).extra["final_state"]
    return simulate_ode(d, t_ms=400.0, x0=x).extra["final_state"]


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


def run_counts(kind: str, k: float, seed: int, t_ms: float, start: str, cache: Path,
               tau: float = TAU) -> np.ndarray:
    """E spike counts of an SNN or noisy-ODE run at p_EI = 0.8 (cached)."""
    tag = "_dt0.05" if kind == "sde" else ""
    path = cache / f"{kind}_tau{tau}_k{float(k)}_s{seed}_{start}_T{int(t_ms)}{tag}.npz"
    if path.exists():
        return np.load(path)["e"].astype(float)
    p = NetworkParams(p_EI=P_EI, tau_EE=tau).scaled(k)
    d = MarkovModelDef(params=p)
    x = {"cycle": cycle_state, "eq": lambda d: find_equilibrium(d).x,
         "default": lambda d: None}[start](d)
    if kind == "snn":
        st = None if x is None else state_from_reduced(d, x, seed=seed)
        e = simulate_snn(p, t_ms=t_ms, seed=seed, progress=False, initial_state=st).spike_counts_e
    else:
        e = simulate_sde(d, t_ms=t_ms, seed=seed, x0=x, dt_ms=0.05,
                         record_every_ms=1000.0).spike_counts_e
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, e=e.astype(np.float32))
    return e.astype(float)


def switching(runs: list[tuple], cache: Path) -> dict:
    """Windowed peak rate, one segmentation for all runs, pooled rates per (kind, N)."""
    series = {}
    for kind, k, seed, t_ms, start in runs:
        e = run_counts(kind, k, seed, t_ms, start, cache)
        skip = int(TRANSIENT_MS / 0.1) if start == "default" else 0  # the start's transient
        w = windowed_observables(e[skip:], 0.1, int(round(300 * k)), window_ms=WINDOW_MS)
        series[(kind, k, seed, start)] = (w.t_ms + skip * 0.1, w.max_rate_hz)
    pooled = np.concatenate([v for _, v in series.values()])
    thr = two_level_threshold(pooled)
    lo_med = np.median(pooled[pooled < thr])
    hi_med = np.median(pooled[pooled >= thr])
    band = 0.25 * (hi_med - lo_med)
    out = {"threshold_hz": thr, "low_hz": thr - band, "high_hz": thr + band,
           "state_medians_hz": (float(lo_med), float(hi_med)), "series": series, "groups": {}}
    for (kind, k, seed, start), (t, v) in series.items():
        st = dwell_statistics(segment_hysteresis(v, t, thr - band, thr + band,
                                                 resolution_ms=WINDOW_MS))
        g = out["groups"].setdefault((kind, int(round(400 * k))), [])
        g.append((seed, start, st))
    return out


def ode_attractors(d: MarkovModelDef) -> dict[str, np.ndarray]:
    """Occupation coordinates of the ODE's attractors reached from the default start and
    from the cycle state (last 300 ms, 0.1 ms apart), labelled equilibrium or cycle."""
    out: dict[str, np.ndarray] = {}
    for x0 in (None, cycle_state(d)):
        r = simulate_ode(d, t_ms=800.0, x0=x0, record_every_ms=0.1)
        c = ode_coordinates(d, r.extra["state"][-3000:])
        label = "equilibrium" if np.ptp(c, axis=0).max() < 1e-3 else "cycle"
        out.setdefault(label, c[-1:] if label == "equilibrium" else c)
    return out


def geometry(values: list[tuple[str, float]], t_ms: float) -> list[dict]:
    """Mean distance of the SNN (N = 400) to the ODE's attractor(s) along one parameter."""
    rows = []
    for name, value in values:
        p = NetworkParams(**({"p_EI": value} if name == "p_EI" else
                             {"p_EI": P_EI, "tau_EE": value}))
        d = MarkovModelDef(params=p)
        coords = ode_attractors(d)
        r = simulate_snn(p, t_ms=t_ms, seed=1, progress=False, voltage_hist_every_ms=1.0,
                         voltage_hist_edges=d.edges)
        y = snn_coordinates(r, d)[100:]
        labels = list(coords)
        idx, dist = nearest_attractor(y, [coords[k] for k in labels])
        rows.append({"param": name, "value": value, "mean_distance": float(dist.mean()),
                     "attractors": labels,
                     "sizes": [attractor_distance(coords[k], coords[k]).attractor_size
                               for k in labels],
                     "floor": sampling_floor(np.vstack(list(coords.values())), p.N_E, p.N_I),
                     "fraction_nearest": [float(np.mean(idx == i)) for i in range(len(labels))],
                     "snn": y, "ode": coords})
    return rows


def plot_switching(sw: dict, coex: list[dict]) -> None:
    longest: dict[tuple, tuple] = {}  # one panel per (model, N): its longest run
    for key, (t, _) in sw["series"].items():
        g = (key[0], key[1])
        if g not in longest or t[-1] > sw["series"][longest[g]][0][-1]:
            longest[g] = key
    keys = [longest[g] for g in sorted(longest)]
    fig, axes = subplots(len(keys) + 1, 1, figsize=(8, 1.6 * (len(keys) + 1)),
                         constrained_layout=True)
    ax = axes[0]
    taus = [r["tau_EE"] for r in coex]
    for name, c, dx in (("from_eq", "C0", -0.008), ("from_cycle", "C3", 0.008)):
        x = np.asarray(taus) + dx
        lo, hi = [r[name][0] for r in coex], [r[name][1] for r in coex]
        ax.vlines(x, lo, hi, colors=c, lw=4, alpha=0.6,
                  label=f"ODE {name.replace('_', ' ')} (f_E min-max)")
        ax.plot(x, hi, "_", color=c, ms=10)
    ax.set(xlabel="tau_EE (ms)", ylabel="f_E (spikes/ms)", yscale="symlog")
    ax.legend(fontsize=7)
    for ax, key in zip(axes[1:], keys, strict=True):
        t, v = sw["series"][key]
        ax.plot(t / 1000.0, v, lw=0.6)
        for y in (sw["low_hz"], sw["high_hz"]):
            ax.axhline(y, color="k", lw=0.5, ls=":")
        kind, k, seed, start = key
        ax.set_ylabel("peak rate\n(Hz)", fontsize=7)
        ax.set_title(f"{kind}, N = {int(round(400 * k))}, seed {seed}, start {start}",
                     fontsize=8)
    axes[-1].set_xlabel("t (s)")
    save_figure(fig, FIGURES / "metastability_switching")


def plot_geometry(geo: list[dict]) -> None:
    fig, axes = subplots(1, 4, figsize=(16, 3.8), constrained_layout=True)
    for row in geo:
        if row["param"] == "tau_EE" and row["value"] in (2.2, 2.8):
            ax = axes[0 if row["value"] == 2.2 else 1]
            # plane: E refractory fraction vs E fraction in the top band [80, 100)
            ax.plot(row["snn"][:, 7], row["snn"][:, 6], ".", ms=1.5, alpha=0.3, label="SNN")
            for label, c in row["ode"].items():
                ax.plot(c[:, 7], c[:, 6], "o-" if len(c) == 1 else "-", lw=1.2,
                        label=f"ODE {label}")
            ax.set(xlabel="E refractory fraction", ylabel="E fraction in V in [80, 100)",
                   title=f"p_EI = 0.8, tau_EE = {row['value']}")
            ax.legend(fontsize=7)
    for ax, name in zip(axes[2:], ("p_EI", "tau_EE"), strict=True):
        rows = [r for r in geo if r["param"] == name]
        x = [r["value"] for r in rows]
        ax.plot(x, [r["mean_distance"] for r in rows], "o-", label="SNN to nearest attractor")
        ax.plot(x, [r["floor"] for r in rows], "k:", label="sampling floor (N = 400)")
        ax.set(xlabel=name, ylabel="mean distance (fractions)", ylim=(0, None),
               title=f"SNN (N = 400) vs ODE along {name}")
        ax.legend(fontsize=7)
    save_figure(fig, FIGURES / "metastability_geometry")


def _fmt_ci(ci: tuple[float, float]) -> str:
    return f"[{ci[0]:.3g}, {ci[1]:.3g}]"


def write_md(coex: list[dict], sw: dict, geo: list[dict], args: argparse.Namespace) -> None:
    lines = ["# Metastability, switching and attractor geometry (p_EI = 0.8)", "",
             f"Made by `analyses/metastability.py` (`--quick` = {args.quick}).", "",
             "## Coexistence in the reduced ODE", "",
             "| tau_EE | equilibrium stable | f_E range from eq | from cycle | bistable |",
             "|---|---|---|---|---|"]
    for r in coex:
        lines.append(f"| {r['tau_EE']} | {r['eq_stable']} | {r['from_eq'][0]:.2f}-"
                     f"{r['from_eq'][1]:.2f} | {r['from_cycle'][0]:.2f}-"
                     f"{r['from_cycle'][1]:.2f} | {r['bistable']} |")
    lines += ["", "## Switching at tau_EE = 2.8", "",
              f"Observable: peak of the 1 ms smoothed E rate per neuron in {WINDOW_MS:g} ms "
              f"windows (resolution {WINDOW_MS:g} ms). Threshold (Otsu, all runs) "
              f"{sw['threshold_hz']:.0f} Hz, hysteresis {sw['low_hz']:.0f}-{sw['high_hz']:.0f}"
              f" Hz; state medians {sw['state_medians_hz'][0]:.0f} Hz (state 0, low) and "
              f"{sw['state_medians_hz'][1]:.0f} Hz (state 1, large cycle). Runs from the "
              f"default state drop their first {TRANSIENT_MS:g} ms; runs from the ODE's "
              "cycle or equilibrium start at t = 0, so their first dwell measures the escape "
              "from that state. Rates pool exits and exposures over the runs (exponential "
              "dwells; exact Poisson intervals); dwells of one window are at the resolution "
              "limit. The noisy ODE (model sde) is integrated by Euler-Maruyama with "
              "dt = 0.05 ms (without noise its period is 1.3 % longer than the adaptive "
              "ODE solution at the defaults; 0.5 % at 0.02 ms).", "",
              "| model | N | runs (seed/start/s) | occupancy of state 1 | exits 0->1 | rate 0->1 "
              "(1/s, 95 % CI) | exits 1->0 | rate 1->0 (1/s, 95 % CI) | complete dwells 0 (s) "
              "| complete dwells 1 (s) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for (kind, n), runs in sorted(sw["groups"].items()):
        pr = pooled_rates([r[2] for r in runs])
        occ = np.mean([r[2].occupancy[1] for r in runs])
        desc = ", ".join(f"{s}/{st}/{r.t_total_ms / 1000:.0f}" for s, st, r in runs)
        dw0, dw = (np.concatenate([r[2].states[i].dwells_ms for r in runs]) / 1000.0
                   for i in (0, 1))
        lines.append(f"| {kind} | {n} | {desc} | {occ:.2f} | {pr[0]['n_exits']} | "
                     f"{pr[0]['rate_per_s']:.3g} {_fmt_ci(pr[0]['rate_ci_per_s'])} | "
                     f"{pr[1]['n_exits']} | {pr[1]['rate_per_s']:.3g} "
                     f"{_fmt_ci(pr[1]['rate_ci_per_s'])} | "
                     f"{', '.join(f'{x:.2f}' for x in dw0[:8])} | "
                     f"{', '.join(f'{x:.2f}' for x in dw[:8])} |")
    lines += ["", "## Attractor geometry (SNN N = 400 vs ODE, occupation coordinates)", "",
              "Coordinates: fractions of each population in 20-unit voltage bands and "
              "refractory (16 numbers); distance = Euclidean distance of each 1 ms SNN sample "
              "(after 100 ms) to the nearest point of the ODE's attractors (reached from the "
              "default start and from the large cycle). Sampling floor = the RMS distance "
              "that sampling 400 independent neurons from the ODE's occupation alone gives.",
              "", "| parameter | value | ODE attractors (size) | SNN fraction nearest each | "
              "mean distance | sampling floor |", "|---|---|---|---|---|---|"]
    for r in geo:
        att = ", ".join(f"{a} ({s:.3f})" for a, s in zip(r["attractors"], r["sizes"],
                                                        strict=True))
        near = ", ".join(f"{f:.2f}" for f in r["fraction_nearest"])
        lines.append(f"| {r['param']} | {r['value']} | {att} | {near} | "
                     f"{r['mean_distance']:.3f} | {r['floor']:.3f} |")
    path = FIGURES / "metastability.md"  # keep the section of metastability_regions.py
    old = path.read_text() if path.exists() else ""
    begin, end = "<!-- regions:begin -->", "<!-- regions:end -->"
    if begin in old and end in old:  # the section and any reading written after it
        lines += ["", begin + old.split(begin, 1)[1].rstrip("\n")]
    atomic_write_text(path, "\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path("/tmp/bifsnn-metastability"))
    ap.add_argument("--quick", action="store_true", help="short runs (a smoke test)")
    args = ap.parse_args()
    q = args.quick
    coex = coexistence([2.5, 2.7, 2.8, 3.0, 3.1] if q else
                       [2.5, 2.6, 2.7, 2.8, 2.9, 3.0, 3.05, 3.1])
    runs = ([("snn", 1.0, 1, 2000.0, "default"), ("snn", 2.0, 1, 2000.0, "default"),
             ("sde", 1.0, 1, 500.0, "eq")] if q else
            [("snn", 1.0, 2, 30000.0, "default")]
            + [("snn", 1.0, s, 1000.0, "cycle") for s in (1, 2, 3, 4, 5)]
            + [("snn", 2.0, 1, 10000.0, "default"), ("snn", 2.0, 2, 60000.0, "default"),
               ("snn", 2.0, 3, 30000.0, "default"), ("snn", 4.0, 1, 20000.0, "default"),
               ("snn", 8.0, 1, 10000.0, "cycle"), ("snn", 8.0, 2, 10000.0, "default"),
               ("sde", 0.5, 1, 8000.0, "eq"), ("sde", 1.0, 1, 8000.0, "eq"),
               ("sde", 2.0, 1, 3000.0, "eq"), ("sde", 2.0, 2, 8000.0, "cycle")]
            + [("sde", 1.0, s, 600.0, "eq") for s in (2, 3, 4, 5, 6)]
            + [("sde", 2.0, s, 600.0, "eq") for s in (3, 4, 5, 6, 7)])
    sw = switching(runs, args.cache)
    geo = geometry([("p_EI", v) for v in ((0.5, 0.8) if q else (0.5, 0.6, 0.7, 0.8, 0.9))]
                   + [("tau_EE", v) for v in ((2.2, 2.8) if q else (1.4, 2.2, 2.5, 2.8, 3.1))],
                   t_ms=400.0 if q else 1500.0)
    plot_switching(sw, coex)
    plot_geometry(geo)
    write_md(coex, sw, geo, args)
    print(json.dumps({"threshold_hz": sw["threshold_hz"],
                      "bistable": [r["tau_EE"] for r in coex if r["bistable"]]}))


if __name__ == "__main__":
    main()
