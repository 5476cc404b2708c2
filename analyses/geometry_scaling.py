"""Attractor distance along p_EI and tau_EE, for the SNN and the neuron-level Markov model at
two sizes (issue 12, item 4).

The distance of a finite network's state to the ODE's attractor has two parts: sampling
(N neurons drawn from the ODE's occupation scatter by about ``sampling_floor``, which falls as
1/sqrt(N)) and a systematic part (the reduction's error).  Here, along p_EI (tau_EE = 1.4 ms)
and tau_EE (p_EI = 0.8), for N = 400 and 1600 (N S fixed) and for the SNN and the Markov model
(the SNN's neurons with independent Gaussian inputs, i.e. the reduction's decorrelation
assumption without the binning and closure):

* occupation coordinates of every 1 ms sample after 100 ms (``analysis.geometry``: fractions
  of each population in 20-unit voltage bands and refractory);
* the ODE's attractors at the same N, reached from the default start and from a point of the
  large cycle (carried from p_EI = 0.8, tau_EE = 2.5);
* RMS distance of the samples to the nearest attractor point, the sampling floor, and the
  systematic excess sqrt(max(RMS^2 - floor^2, 0)) (what sampling alone does not explain);
* the phase-resolved sliced Wasserstein distance W1 of the samples' density to the attractor
  (``analysis.geometry.phase_resolved_wasserstein``: each sample takes the phase of its nearest
  cycle point, 20 phase bins, sliced W1 per bin over 64 seeded directions, bins weighted by the
  samples' occupation; an equilibrium: the sliced W1 of the cloud to the point; samples split
  between two attractors by nearness, weighted by the split) and its sampling floor (N neurons
  drawn from the attractor's own occupation).

Writes figures/geometry_scaling.{png,pdf,md} and figures/geometry_planes.{png,pdf} (the SNN's
samples and the ODE's attractors in the plane E refractory fraction vs E fraction in the top
voltage band); runs cached as .npz in --cache.
Usage: ``python analyses/geometry_scaling.py [--cache DIR] [--quick]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bifsnn import NetworkParams
from bifsnn.analysis.geometry import (
    cycle_phase,
    nearest_attractor,
    ode_attractors,
    phase_resolved_wasserstein,
    sampling_floor,
    snn_coordinates,
    wasserstein_sampling_floor,
)
from bifsnn.analysis.report import write_markdown_keeping
from bifsnn.network.markov import simulate_markov
from bifsnn.network.params import ParameterError
from bifsnn.network.plots import save_figure, subplots
from bifsnn.network.snn import simulate_snn
from bifsnn.reduction import MarkovModelDef, simulate_ode

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "figures"
LINES = {"p_EI": [(v, 1.4) for v in (0.5, 0.6, 0.7, 0.8, 0.9)],
         "tau_EE": [(0.8, v) for v in (1.4, 2.2, 2.5, 2.8, 3.1)]}
KS = (1.0, 4.0)
T_MS = 1100.0
SKIP = 100  # samples (1 ms) dropped


def definition(point: tuple[float, float], k: float) -> MarkovModelDef:
    """Reduced model at (p_EI, tau_EE) for N = 400 k (N S fixed)."""
    return MarkovModelDef(params=NetworkParams(p_EI=point[0], tau_EE=point[1]).scaled(k))


def attractors(d: MarkovModelDef, k: float, cache: Path) -> list[np.ndarray]:
    """Coordinates of the ODE's distinct attractors (last 300 ms, 0.1 ms apart) from the
    default start and from the large cycle carried from (0.8, 2.5), cached."""
    p = d.params
    path = cache / f"ode_p{p.p_EI}_tau{p.tau_EE}_k{k}.npz"
    if path.exists():
        z = np.load(path)
        return [z[f"a{i}"] for i in range(len(z.files))]
    src = simulate_ode(definition((0.8, 2.5), k), t_ms=600.0).extra["final_state"]
    out = ode_attractors(d, [None, src])
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **{f"a{i}": a for i, a in enumerate(out)})
    return out


def wasserstein(y: np.ndarray, att: list[np.ndarray], n_e: int, n_i: int) -> tuple:
    """(phase-resolved W1, its sampling floor, phased?) of samples ``y`` to the attractors:
    samples split by nearness, each attractor's W1 and floor weighted by its share."""
    idx, _ = nearest_attractor(y, att)
    w = floor = 0.0
    phased = True
    for i, a in enumerate(att):
        share = float(np.mean(idx == i))
        phase = None
        if len(a) > 1:
            try:
                phase, _ = cycle_phase(a, 0.1)
            except ParameterError:  # no close return in 300 ms: one bin, unphased
                phased = False
        if share > 0:
            w += share * phase_resolved_wasserstein(y[idx == i], a, phase).distance
            floor += share * wasserstein_sampling_floor(a, phase, n_e, n_i)
    return w, floor, phased


def coords(model: str, point: tuple[float, float], k: float, cache: Path) -> np.ndarray:
    """Occupation coordinates of a run (cached), 1 ms apart, after the first 100 ms."""
    path = cache / f"geo_{model}_p{point[0]}_tau{point[1]}_k{k}_T{int(T_MS)}.npz"
    if path.exists():
        return np.load(path)["y"]
    d = definition(point, k)
    sim = simulate_snn if model == "snn" else simulate_markov
    r = sim(d.params, t_ms=T_MS, seed=1, progress=False, voltage_hist_every_ms=1.0,
            voltage_hist_edges=d.edges)
    y = snn_coordinates(r, d)[SKIP:]
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, y=y)
    return y


def measure(cache: Path, quick: bool) -> list[dict]:
    """One row per (line, point, N, model)."""
    rows = []
    for line, points in LINES.items():
        for point in (points[::2] if quick else points):
            for k in KS:
                d = definition(point, k)
                att = attractors(d, k, cache)
                floor = sampling_floor(np.vstack(att), d.params.N_E, d.params.N_I)
                for model in ("snn", "markov"):
                    y = coords(model, point, k, cache)
                    _, dist = nearest_attractor(y, att)
                    rms = float(np.sqrt(np.mean(dist ** 2)))
                    w1, w_floor, phased = wasserstein(y, att, d.params.N_E, d.params.N_I)
                    rows.append({"line": line, "value": point[0 if line == "p_EI" else 1],
                                 "N": int(400 * k), "model": model, "rms": rms,
                                 "floor": floor, "n_attractors": len(att), "w1": w1,
                                 "w1_floor": w_floor, "phased": phased, "y": y, "att": att,
                                 "excess": float(np.sqrt(max(rms ** 2 - floor ** 2, 0.0)))})
                print([{k: v for k, v in r.items() if k not in ("y", "att")}
                       for r in rows[-2:]], flush=True)
    return rows


def plot(rows: list[dict]) -> None:
    """RMS distance and floor (top), systematic excess (middle), phase-resolved W1 and its
    floor (bottom), along each line."""
    fig, axes = subplots(3, 2, figsize=(10, 9.5), constrained_layout=True)
    for j, line in enumerate(LINES):
        for k, ls in zip(KS, ("-", "--"), strict=True):
            n = int(400 * k)
            for model, c in (("snn", "C0"), ("markov", "C2")):
                r = [x for x in rows if x["line"] == line and x["N"] == n and x["model"] == model]
                v = [x["value"] for x in r]
                axes[0, j].plot(v, [x["rms"] for x in r], "o" + ls, color=c,
                                label=f"{model}, N = {n}")
                axes[1, j].plot(v, [x["excess"] for x in r], "o" + ls, color=c,
                                label=f"{model}, N = {n}")
                axes[2, j].plot(v, [x["w1"] for x in r], "o" + ls, color=c,
                                label=f"{model}, N = {n}")
            axes[0, j].plot(v, [x["floor"] for x in r], ls, color="k", lw=0.8,
                            label=f"sampling floor, N = {n}")
            axes[2, j].plot(v, [x["w1_floor"] for x in r], ls, color="k", lw=0.8,
                            label=f"sampling floor, N = {n}")
        axes[0, j].set(xlabel=line, ylabel="RMS distance to the ODE attractor", ylim=(0, None))
        axes[1, j].set(xlabel=line, ylabel="systematic excess", ylim=(0, None))
        axes[2, j].set(xlabel=line, ylabel="phase-resolved sliced W1", ylim=(0, None))
        for ax in axes[:, j]:
            ax.legend(fontsize=6)
    save_figure(fig, FIGURES / "geometry_scaling")


PLANES = [("p_EI", 0.6), ("p_EI", 0.9), ("tau_EE", 2.2), ("tau_EE", 2.8)]


def plot_planes(rows: list[dict]) -> None:
    """SNN samples and ODE attractors in the plane (E refractory, E in [80, 100)): one column
    per point of PLANES, one row per N."""
    fig, axes = subplots(len(KS), len(PLANES), figsize=(4 * len(PLANES), 3.4 * len(KS)),
                         constrained_layout=True, squeeze=False)
    for j, (line, value) in enumerate(PLANES):
        for i, k in enumerate(KS):
            ax = axes[i, j]
            r = next((x for x in rows if x["line"] == line and x["value"] == value
                      and x["N"] == int(400 * k) and x["model"] == "snn"), None)
            if r is None:
                continue
            ax.plot(r["y"][:, 7], r["y"][:, 6], ".", ms=1.5, alpha=0.3, label="SNN")
            for n, a in enumerate(r["att"]):
                ax.plot(a[:, 7], a[:, 6], "o-" if len(a) == 1 else "-", lw=1.2,
                        color=f"C{n + 1}", label="ODE " + ("equilibrium" if len(a) == 1
                                                          else "cycle"))
            ax.set(xlabel="E refractory fraction", ylabel="E fraction in V in [80, 100)",
                   title=f"{line} = {value}, N = {int(400 * k)}: W1 {r['w1']:.3f} "
                   f"(floor {r['w1_floor']:.3f})")
            ax.title.set_fontsize(8)
            ax.legend(fontsize=6)
    save_figure(fig, FIGURES / "geometry_planes")


def write_md(rows: list[dict], quick: bool) -> None:
    """figures/geometry_scaling.md with every number of the figure."""
    L = ["# Attractor distance along p_EI and tau_EE: SNN and Markov model, N = 400 and 1600",
         "", f"Made by `analyses/geometry_scaling.py` (`--quick` = {quick}). "
         "![distance](geometry_scaling.png)", "",
         f"Runs of {T_MS - SKIP:.0f} ms (after {SKIP} ms), seed 1, voltage histograms every "
         "1 ms; coordinates = fractions of each population in 20-unit voltage bands and "
         "refractory (16 numbers); distance = to the nearest point of the ODE's attractors "
         "at the same N. Excess = sqrt(max(RMS^2 - floor^2, 0)); an exact reduction would have "
         "excess ~ 0 and an RMS distance falling as 1/sqrt(N). W1 = phase-resolved sliced "
         "Wasserstein distance of the samples' density to the attractor (20 phase bins, "
         "64 directions; `*`: a cycle without a close return in 300 ms, one bin), W1 floor = "
         "the same for N neurons sampled from the attractor's own occupation. Planes: "
         "![planes](geometry_planes.png)", "",
         "| line | value | N | ODE attractors | floor | SNN RMS | SNN excess | Markov RMS | "
         "Markov excess | W1 floor | SNN W1 | Markov W1 |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for line in LINES:
        for r in [x for x in rows if x["line"] == line and x["model"] == "snn"]:
            m = next(x for x in rows if x["line"] == line and x["model"] == "markov"
                     and x["N"] == r["N"] and x["value"] == r["value"])
            L.append(f"| {line} | {r['value']} | {r['N']} | {r['n_attractors']} | "
                     f"{r['floor']:.3f} | {r['rms']:.3f} | {r['excess']:.3f} | "
                     f"{m['rms']:.3f} | {m['excess']:.3f} | {r['w1_floor']:.3f} | "
                     f"{r['w1']:.3f}{'' if r['phased'] else '*'} | {m['w1']:.3f} |")
    write_markdown_keeping(FIGURES / "geometry_scaling.md", "\n".join(L))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=ROOT / "out" / "geometry_scaling")
    ap.add_argument("--quick", action="store_true", help="three points per line (a smoke test)")
    args = ap.parse_args()
    rows = measure(args.cache, args.quick)
    plot(rows)
    plot_planes(rows)
    write_md(rows, args.quick)


if __name__ == "__main__":
    main()
