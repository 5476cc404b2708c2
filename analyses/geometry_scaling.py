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
  systematic excess sqrt(max(RMS^2 - floor^2, 0)) (what sampling alone does not explain).

Writes figures/geometry_scaling.{png,pdf,md}; runs cached as .npz in --cache.
Usage: ``python analyses/geometry_scaling.py [--cache DIR] [--quick]``
"""

from __future__ import annotations

import argparse
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
from bifsnn.network.markov import simulate_markov
from bifsnn.network.plots import save_figure, subplots
from bifsnn.network.results import atomic_write_text
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


def ode_attractors(d: MarkovModelDef, k: float, cache: Path) -> list[np.ndarray]:
    """Coordinates of the ODE's attractors (last 300 ms, 0.1 ms apart) from the default start
    and from the large cycle carried from (0.8, 2.5); one entry per distinct attractor."""
    p = d.params
    path = cache / f"ode_p{p.p_EI}_tau{p.tau_EE}_k{k}.npz"
    if path.exists():
        z = np.load(path)
        return [z[f"a{i}"] for i in range(len(z.files))]
    src = simulate_ode(definition((0.8, 2.5), k), t_ms=600.0).extra["final_state"]
    out: list[np.ndarray] = []
    for x0 in (None, src):
        r = simulate_ode(d, t_ms=1000.0, x0=x0, record_every_ms=0.1)
        c = ode_coordinates(d, r.extra["state"][-3000:])
        if np.ptp(c, axis=0).max() < 1e-3:
            c = c[-1:]
        # the same attractor again (e.g. the one cycle from both starts): every point of c
        # within 0.01 of a
        if not any(attractor_distance(c, a).distances.max() < 0.01 for a in out):
            out.append(c)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **{f"a{i}": a for i, a in enumerate(out)})
    return out


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
                att = ode_attractors(d, k, cache)
                floor = sampling_floor(np.vstack(att), d.params.N_E, d.params.N_I)
                for model in ("snn", "markov"):
                    _, dist = nearest_attractor(coords(model, point, k, cache), att)
                    rms = float(np.sqrt(np.mean(dist ** 2)))
                    rows.append({"line": line, "value": point[0 if line == "p_EI" else 1],
                                 "N": int(400 * k), "model": model, "rms": rms,
                                 "floor": floor, "n_attractors": len(att),
                                 "excess": float(np.sqrt(max(rms ** 2 - floor ** 2, 0.0)))})
                print(rows[-2:], flush=True)
    return rows


def plot(rows: list[dict]) -> None:
    """RMS distance and floor (top), systematic excess (bottom), along each line."""
    fig, axes = subplots(2, 2, figsize=(10, 6.5), constrained_layout=True)
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
            axes[0, j].plot(v, [x["floor"] for x in r], ls, color="k", lw=0.8,
                            label=f"sampling floor, N = {n}")
        axes[0, j].set(xlabel=line, ylabel="RMS distance to the ODE attractor", ylim=(0, None))
        axes[1, j].set(xlabel=line, ylabel="systematic excess", ylim=(0, None))
        axes[0, j].legend(fontsize=6)
        axes[1, j].legend(fontsize=6)
    save_figure(fig, FIGURES / "geometry_scaling")


def write_md(rows: list[dict], quick: bool) -> None:
    """figures/geometry_scaling.md with every number of the figure."""
    L = ["# Attractor distance along p_EI and tau_EE: SNN and Markov model, N = 400 and 1600",
         "", f"Made by `analyses/geometry_scaling.py` (`--quick` = {quick}). "
         "![distance](geometry_scaling.png)", "",
         f"Runs of {T_MS - SKIP:.0f} ms (after {SKIP} ms), seed 1, voltage histograms every "
         "1 ms; coordinates = fractions of each population in 20-unit voltage bands and "
         "refractory (16 numbers); distance = to the nearest point of the ODE's attractors "
         "at the same N. Excess = sqrt(max(RMS^2 - floor^2, 0)); an exact reduction would have "
         "excess ~ 0 and an RMS distance falling as 1/sqrt(N).", "",
         "| line | value | N | ODE attractors | floor | SNN RMS | SNN excess | Markov RMS | "
         "Markov excess |", "|---|---|---|---|---|---|---|---|---|"]
    for line in LINES:
        for r in [x for x in rows if x["line"] == line and x["model"] == "snn"]:
            m = next(x for x in rows if x["line"] == line and x["model"] == "markov"
                     and x["N"] == r["N"] and x["value"] == r["value"])
            L.append(f"| {line} | {r['value']} | {r['N']} | {r['n_attractors']} | "
                     f"{r['floor']:.3f} | {r['rms']:.3f} | {r['excess']:.3f} | "
                     f"{m['rms']:.3f} | {m['excess']:.3f} |")
    path = FIGURES / "geometry_scaling.md"
    old = path.read_text() if path.exists() else ""
    keep = old[old.index("<!-- reading -->"):] if "<!-- reading -->" in old else ""
    atomic_write_text(path, "\n".join(L) + "\n\n" + keep)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=ROOT / "out" / "geometry_scaling")
    ap.add_argument("--quick", action="store_true", help="three points per line (a smoke test)")
    args = ap.parse_args()
    rows = measure(args.cache, args.quick)
    plot(rows)
    write_md(rows, args.quick)


if __name__ == "__main__":
    main()
