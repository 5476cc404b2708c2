"""Fidelity benchmark: how close is the reduced ODE to the spiking network? (issue 11)

Grid p_EI in {0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0} x tau_EE in {1.2, 1.4, 2, 3, 4} ms (35 cells;
``--quick``: p_EI {0.6, 0.9, 1.0} x tau_EE {1.4, 3}).  Per cell:

* the SNN, ``--seeds`` seeds (default 2) x ``--t-ms`` (default 2000 ms) after a 100 ms
  transient (annealed connectivity, Gaussian drive), and the neuron-level Markov model (seed 0);
* the reduced ODE of every requested closure (``--closures``, default ``paper``), 1600 ms
  from the SNN's initial state, and the Newton equilibrium from the time average: the
  prediction is the attractor reached from the SNN's initial state, i.e. the equilibrium's
  rates where it is stable and the run went there (time-averaged rates within 2 % of it),
  otherwise the time average (after 300 ms) of the run (a stable equilibrium the run did not
  reach is not scored: the table says "bistable").  A second run (800 ms) from a spread
  initial state (neurons uniform on [0, M), moments at a 20 Hz drive) says whether the
  ODE's answer depends on the initial state (column "IC").

Observables (MODEL.md section 6): per-neuron E and I rates, SSI, spectral peak of f_E, mean
MFE peak height.  Score: cells (p_EI <= 0.95, 30 cells) with the E (I) rate within 5 % of the
SNN's seed mean, and p_EI = 1.0 cells with both rates within 15 %.

Writes ``figures/fidelity_<closure>.{md,png,pdf}`` (table + score, heat maps of the rate
errors), caches the simulator results in ``figures/fidelity_snn.json`` (reused while grid,
seeds and duration match; ``--fresh`` reruns) and regenerates the score table of
``figures/fidelity_closures.md`` (``analyses/fidelity_table.py``; ``--table-only`` does just that).

``--snn-scale K --sparse`` scores against the network scaled by K (N K neurons, p / K: each
neuron's input counts stay, the shared input falls as 1 / K; without ``--sparse``: N K, S / K).
SNN, Markov model and ODE are then those of the scaled parameters (the scaled network's own
reduction); cache ``fidelity_snn_sparse<K>.json``, outputs ``fidelity_sparse<K>_<closure>``,
grid "full, sparse xK" in the score table.

Usage: ``nice -n 10 python analyses/fidelity.py [--quick] [--closures paper conditional]
[--workers 2] [--snn-scale 4 --sparse]``
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

FIGURES = Path(__file__).resolve().parent.parent / "figures"
P_EI = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
TAU_EE = (1.2, 1.4, 2.0, 3.0, 4.0)
QUICK_P_EI = (0.6, 0.9, 1.0)
QUICK_TAU_EE = (1.4, 3.0)
TRANSIENT_MS = 100.0
ODE_T_MS = 1600.0
ODE_SPREAD_T_MS = 800.0
ODE_AVG_FROM_MS = 300.0
KEYS = ("rate_e_hz", "rate_i_hz", "ssi_e", "spectral_peak_hz", "peak_mean")
TOL_GRID = 0.05
TOL_PEI1 = 0.15


def cell_params(p_EI: float, tau_EE: float, scale: int = 1, sparse: bool = False) -> Any:
    """NetworkParams at one cell; scale K > 1: N K neurons with p / K (sparse) or S / K."""
    from bifsnn import NetworkParams
    from bifsnn.network.params import PATHWAYS

    p = NetworkParams().replace(p_EI=p_EI, tau_EE=tau_EE)
    if scale == 1 or not sparse:
        return p.scaled(scale) if scale > 1 else p
    return p.replace(N_E=scale * p.N_E, N_I=scale * p.N_I,
                     **{f"p_{pw}": p.p(pw) / scale for pw in PATHWAYS})


def closure_definition(closure: str, p_EI: float, tau_EE: float, scale: int = 1,
                       sparse: bool = False) -> Any:
    """The MarkovModelDef of a named closure at one grid cell (of the network scaled by
    ``scale``, see :func:`cell_params`).

    "paper": the published reduction (smooth rule, bins of 4); "dv2": the same with bins of
    2 (a finer voltage grid); any other name is passed to MarkovModelDef(closure=...), with
    "+field=value" suffixes setting numeric fields ("coloured-regime-slope+regime_shift=0.5")."""
    from bifsnn.reduction import MarkovModelDef

    params = cell_params(p_EI, tau_EE, scale, sparse)
    if closure in ("dv2", "paper"):
        return MarkovModelDef(params=params, dv=2.0 if closure == "dv2" else 4.0)
    name, *extra = closure.split("+")
    kw = {k: float(v) for k, v in (e.split("=") for e in extra)}
    return MarkovModelDef(params=params, closure=name, **kw)


def _obs(res: Any) -> dict[str, float]:
    from bifsnn.network.observables import summary

    s = summary(res, transient_ms=TRANSIENT_MS)
    h = s["peak_heights"]
    return {
        "rate_e_hz": s["rate_e_hz"], "rate_i_hz": s["rate_i_hz"],
        "ssi_e": s["ssi_e"] if s["ssi_e"] is not None else math.nan,
        "spectral_peak_hz": (s["spectral_peak_hz"] if s["spectral_peak_hz"] is not None
                             else math.nan),
        "peak_mean": float(np.mean(h)) if h else 0.0,
        "n_peaks": s["n_peaks"],
    }


def run_simulators(cell: tuple[float, float], seeds: int, t_ms: float, scale: int = 1,
                   sparse: bool = False) -> dict[str, Any]:
    """SNN (seeds 0..seeds-1) and Markov model (seed 0) observables at one cell."""
    from bifsnn.network.markov import simulate_markov
    from bifsnn.network.snn import simulate_snn

    p = cell_params(cell[0], cell[1], scale, sparse)
    t0 = time.process_time()
    snn = [_obs(simulate_snn(p, t_ms=t_ms + TRANSIENT_MS, seed=s, progress=False))
           for s in range(seeds)]
    markov = _obs(simulate_markov(p, t_ms=t_ms + TRANSIENT_MS, seed=0, progress=False))
    return {"p_EI": cell[0], "tau_EE": cell[1], "snn": snn, "markov": markov,
            "cpu_s": time.process_time() - t0}


def spread_state(d: Any) -> np.ndarray:
    """Second initial state: neurons uniform over the bins in [V_reset, M), nobody
    refractory, pending-spike moments at the values of a steady 20 Hz drive."""
    from bifsnn.network.params import PATHWAYS

    x = np.zeros(d.n_state)
    p = d.params
    lo = d.reset_bin
    nb = d.K - lo
    mids = d.edges[:-1] + 0.5 * d.dv
    for pop in ("E", "I"):
        sn, sa = d.slice("n", pop), d.slice("A", pop)
        x[sn.start + lo: sn.stop] = p.N(pop) / nb
        x[sa.start + lo: sa.stop] = p.N(pop) / nb * mids[lo:]
    for pw in PATHWAYS:
        f = 0.02 * p.N(pw[1])  # spikes/ms of the source population at 20 Hz
        m = p.p(pw) * f * p.tau(pw)
        x[d.moment_index("m", pw)] = m
        x[d.moment_index("v", pw)] = m * (1 - p.p(pw) / 2)
    if hasattr(d, "extend_state"):
        x = d.extend_state(x)
    return x


def run_ode(cell: tuple[float, float], closure: str, scale: int = 1,
            sparse: bool = False) -> dict[str, Any]:
    """ODE prediction at one cell: stable equilibrium, else the time average."""
    from bifsnn.reduction import find_equilibrium, simulate_ode

    d = closure_definition(closure, *cell, scale=scale, sparse=sparse)
    m = d.compile()
    t0 = time.process_time()
    runs = {}
    for label, x0, t_ms in (("reset", None, ODE_T_MS),
                            ("spread", spread_state(d), ODE_SPREAD_T_MS)):
        res = simulate_ode(m, t_ms=t_ms, x0=x0)
        o = _obs(res) if res.options["success"] else {k: math.nan for k in KEYS}
        # rates averaged after ODE_AVG_FROM_MS (the observables above use 100 ms)
        k = int(round(ODE_AVG_FROM_MS / res.dt_ms))
        o["rate_e_hz"] = 1000 * res.spike_counts_e[k:].mean() / res.dt_ms / d.params.N_E
        o["rate_i_hz"] = 1000 * res.spike_counts_i[k:].mean() / res.dt_ms / d.params.N_I
        o["success"] = bool(res.options["success"])
        runs[label] = (o, res)
    avg_state = runs["reset"][1].extra["state"]
    keep = runs["reset"][1].extra["state_t_ms"] > ODE_AVG_FROM_MS
    eq = find_equilibrium(m, avg_state[keep].mean(axis=0))
    stable = bool(eq.success and eq.stable)
    pred = dict(runs["reset"][0])
    # The prediction is the attractor reached from the SNN's initial state: the stable
    # equilibrium only if the run went there (time-averaged rates within 2 % of it), else the
    # run's time average (a bistable cell: the stable equilibrium coexists with a cycle).
    reached = stable and all(abs(pred[q] - getattr(eq, q)) <= 0.02 * max(getattr(eq, q), 1e-9)
                             for q in ("rate_e_hz", "rate_i_hz"))
    if reached:
        pred["rate_e_hz"], pred["rate_i_hz"] = eq.rate_e_hz, eq.rate_i_hz
    a, b = runs["reset"][0], runs["spread"][0]
    ic_dep = any(abs(a[q] - b[q]) > 0.02 * max(abs(a[q]), 1e-9)
                 for q in ("rate_e_hz", "rate_i_hz")) or \
        abs(a["peak_mean"] - b["peak_mean"]) > 0.1 * max(a["peak_mean"], 10.0)
    return {
        "p_EI": cell[0], "tau_EE": cell[1], "closure": closure, "pred": pred,
        "eq": {"success": bool(eq.success), "stable": stable, "reached": bool(reached),
               "rate_e_hz": eq.rate_e_hz, "rate_i_hz": eq.rate_i_hz},
        "spread": {q: b[q] for q in KEYS}, "ic_dependent": bool(ic_dep),
        "success": bool(a["success"] and b["success"]),
        "n_state": int(d.n_state if not hasattr(d, "n_state_total") else d.n_state_total),
        "n_neurons": int(d.params.N_E + d.params.N_I),
        "cpu_s": time.process_time() - t0,
    }


def _network_tag(args: argparse.Namespace) -> str:
    """"" for the N = 400 network, else "sparse<K>" / "dense<K>" (file names)."""
    return "" if args.snn_scale == 1 else f"{'sparse' if args.sparse else 'dense'}{args.snn_scale}"


def _snn_mean(sim: dict[str, Any], key: str) -> float:
    return float(np.nanmean([s[key] for s in sim["snn"]]))


def rel_err(model: float, ref: float) -> float:
    return (model - ref) / ref if ref else math.nan


def score(cells: list[dict[str, Any]], sims: dict[tuple, dict]) -> dict[str, Any]:
    """Counts of cells within tolerance (see module docstring) and error statistics."""
    grid = [c for c in cells if c["p_EI"] <= 0.95 + 1e-9]
    top = [c for c in cells if c["p_EI"] > 0.95 + 1e-9]

    def errs(c: dict[str, Any]) -> tuple[float, float]:
        s = sims[(c["p_EI"], c["tau_EE"])]
        return (rel_err(c["pred"]["rate_e_hz"], _snn_mean(s, "rate_e_hz")),
                rel_err(c["pred"]["rate_i_hz"], _snn_mean(s, "rate_i_hz")))

    ge = [errs(c) for c in grid]
    te = [errs(c) for c in top]
    e_all = np.array([abs(e) for e, _ in ge]) if ge else np.zeros(0)
    return {
        "e_ok": sum(abs(e) <= TOL_GRID for e, _ in ge), "n_grid": len(ge),
        "i_ok": sum(abs(i) <= TOL_GRID for _, i in ge), "n_top": len(te),
        "top_ok": sum(abs(e) <= TOL_PEI1 and abs(i) <= TOL_PEI1 for e, i in te),
        "e_mean_abs": float(e_all.mean()) if e_all.size else math.nan,
        "i_mean_abs": float(np.mean([abs(i) for _, i in ge])) if ge else math.nan,
        "worst_e": max(ge, key=lambda t: abs(t[0]))[0] if ge else math.nan,
    }


def score_line(sc: dict[str, Any]) -> str:
    return (f"E within 5 %: {sc['e_ok']}/{sc['n_grid']}, I: {sc['i_ok']}/{sc['n_grid']}, "
            f"p_EI=1.0 within 15 %: {sc['top_ok']}/{sc['n_top']} (mean |E error| "
            f"{100 * sc['e_mean_abs']:.1f} %, mean |I error| {100 * sc['i_mean_abs']:.1f} %)")


def _fmt(x: float, f: str = ".3g") -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, f)


def write_report(closure: str, cells: list[dict], sims: dict, args: argparse.Namespace,
                 cpu: dict[str, float]) -> str:
    from bifsnn.network.plots import save_figure, subplots
    from bifsnn.network.results import atomic_write_text

    sc = score(cells, sims)
    net = _network_tag(args)
    tag = (f"{net}_" if net else "") + closure + ("_quick" if args.quick else "")
    kind, n = ("sparse", "p") if args.sparse else ("dense", "S")
    scaled = f" --closures {closure} --snn-scale {args.snn_scale}" \
        f"{' --sparse' if args.sparse else ''}" if net else ""
    lines = [
        f"# Fidelity of the reduced ODE (closure `{closure}`) against the SNN" + (
            f" scaled by {args.snn_scale} ({kind}: N = {cells[0]['n_neurons']}, {n} / "
            f"{args.snn_scale})" if net else ""), "",
        (f"SNN, Markov model and ODE all at the scaled parameters (cache `fidelity_snn_{net}"
         ".json`); rates per neuron. " if net else "") + "Generated by `analyses/fidelity.py"
        f"{' --quick' if args.quick else ''}{scaled}`. SNN: {args.seeds} seeds x {args.t_ms:g} "
        f"ms after a {TRANSIENT_MS:g} ms transient (annealed, Gaussian drive); Markov model seed "
        "0; ODE: stable equilibrium where the run from the SNN's initial state goes to it, else "
        f"that run's time average over ({ODE_AVG_FROM_MS:g}, {ODE_T_MS:g}] ms; IC = an 800 ms "
        "run from a spread initial state gives a different answer (rates > 2 % or peak heights "
        "> 10 % apart). Errors are (model - SNN) / SNN, SNN = seed mean; +-: half the seed range.",
        "",
        f"**Score: {score_line(sc)}**",
        "",
        f"CPU: simulators {cpu.get('sim', 0):.0f} s, ODE {cpu.get('ode', 0):.0f} s "
        f"(state dimension {cells[0]['n_state']}).",
        "",
        "| p_EI | tau_EE | SNN E Hz | SNN I Hz | Markov E err | ODE E Hz | E err | I err | ODE "
        "state | IC | SSI_E SNN/ODE | f peak Hz SNN/ODE | peak height SNN/ODE |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        s = sims[(c["p_EI"], c["tau_EE"])]
        se, si = _snn_mean(s, "rate_e_hz"), _snn_mean(s, "rate_i_hz")
        spread = 0.5 * (max(x["rate_e_hz"] for x in s["snn"]) -
                        min(x["rate_e_hz"] for x in s["snn"]))
        pr = c["pred"]
        state = ("eq (stable)" if c["eq"].get("reached", c["eq"]["stable"]) else
                 f"time avg (bistable: stable eq {c['eq']['rate_e_hz']:.1f} Hz not reached)"
                 if c["eq"]["stable"] else "time avg")
        lines.append(
            f"| {c['p_EI']:g} | {c['tau_EE']:g} | {se:.1f} +- {spread:.1f} | {si:.1f} | "
            f"{100 * rel_err(s['markov']['rate_e_hz'], se):+.1f} % | {pr['rate_e_hz']:.1f} | "
            f"{100 * rel_err(pr['rate_e_hz'], se):+.1f} % | "
            f"{100 * rel_err(pr['rate_i_hz'], si):+.1f} % | {state} | "
            f"{'yes' if c['ic_dependent'] else ''} | {_snn_mean(s, 'ssi_e'):.3f} / "
            f"{_fmt(pr['ssi_e'], '.3f')} | {_snn_mean(s, 'spectral_peak_hz'):.0f} / "
            f"{_fmt(pr['spectral_peak_hz'], '.0f')} | {_snn_mean(s, 'peak_mean'):.0f} / "
            f"{_fmt(pr['peak_mean'], '.0f')} |")
    lines.append("")
    text = "\n".join(lines) + "\n"
    atomic_write_text(FIGURES / f"fidelity_{tag}.md", text)

    pe = sorted({c["p_EI"] for c in cells})
    te = sorted({c["tau_EE"] for c in cells})
    panels = [("ODE E rate error (%)", lambda c, s: rel_err(c["pred"]["rate_e_hz"],
                                                            _snn_mean(s, "rate_e_hz"))),
              ("ODE I rate error (%)", lambda c, s: rel_err(c["pred"]["rate_i_hz"],
                                                            _snn_mean(s, "rate_i_hz"))),
              ("Markov model E rate error (%)", lambda c, s: rel_err(
                  s["markov"]["rate_e_hz"], _snn_mean(s, "rate_e_hz")))]
    fig, axes = subplots(1, 3, figsize=(13, 4.2))
    for ax, (title, fn) in zip(axes, panels, strict=True):
        Z = np.full((len(pe), len(te)), np.nan)
        for c in cells:
            Z[pe.index(c["p_EI"]), te.index(c["tau_EE"])] = 100 * fn(
                c, sims[(c["p_EI"], c["tau_EE"])])
        im = ax.imshow(Z, origin="lower", cmap="RdBu_r", vmin=-50, vmax=50, aspect="auto")
        for i in range(len(pe)):
            for j in range(len(te)):
                if math.isfinite(Z[i, j]):
                    ax.text(j, i, f"{Z[i, j]:+.0f}", ha="center", va="center", fontsize=8,
                            fontweight="bold" if abs(Z[i, j]) > 5 else "normal")
        ax.set_xticks(range(len(te)), [f"{t:g}" for t in te])
        ax.set_yticks(range(len(pe)), [f"{p:g}" for p in pe])
        ax.set_xlabel("tau_EE (ms)")
        ax.set_ylabel("p_EI")
        ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=axes, shrink=0.8, label="(model - SNN) / SNN, %")
    net_s = f", SNN {net} (N = {cells[0]['n_neurons']})" if net else ""
    fig.suptitle(f"closure '{closure}'{net_s}: {score_line(sc)}", fontsize=9)
    save_figure(fig, FIGURES / f"fidelity_{tag}")
    return score_line(sc)


def write_score_table() -> int:
    """Regenerate the score table of ``figures/fidelity_closures.md`` (fidelity_table.py)."""
    return subprocess.run([sys.executable, str(Path(__file__).with_name("fidelity_table.py"))],
                          check=False).returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="6-cell subset")
    ap.add_argument("--closures", nargs="+", default=["paper"])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--t-ms", type=float, default=2000.0, help="SNN time after the transient")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--snn-scale", type=int, default=1,
                    help="score against the network scaled by K (N K neurons; see --sparse)")
    ap.add_argument("--sparse", action="store_true",
                    help="with --snn-scale: p / K (default: S / K, NetworkParams.scaled)")
    ap.add_argument("--fresh", action="store_true", help="ignore the cached simulator runs")
    ap.add_argument("--table-only", action="store_true",
                    help="only regenerate the score table of figures/fidelity_closures.md")
    args = ap.parse_args(argv)
    if args.table_only:
        return write_score_table()
    if args.seeds < 1:
        ap.error(f"--seeds = {args.seeds} must be >= 1")
    if not (math.isfinite(args.t_ms) and args.t_ms >= 200):
        ap.error(f"--t-ms = {args.t_ms} must be >= 200")
    if args.workers < 1:
        ap.error(f"--workers = {args.workers} must be >= 1")
    if args.snn_scale < 1:
        ap.error(f"--snn-scale = {args.snn_scale} must be an integer >= 1")
    net = _network_tag(args)
    scale_kw = {"scale": args.snn_scale, "sparse": args.sparse}
    cells = [(p, t) for p in (QUICK_P_EI if args.quick else P_EI)
             for t in (QUICK_TAU_EE if args.quick else TAU_EE)]
    cache_path = FIGURES / (f"fidelity_snn_{net}.json" if net else "fidelity_snn.json")
    cache: dict[str, Any] = {}
    if cache_path.exists() and not args.fresh:
        cache = json.loads(cache_path.read_text())
    meta = {"seeds": args.seeds, "t_ms": args.t_ms} | ({"network": net} if net else {})
    if cache.get("meta") != meta:
        cache = {"meta": meta, "cells": {}}
    todo = [c for c in cells if f"{c[0]:g},{c[1]:g}" not in cache["cells"]]
    cpu: dict[str, float] = {}
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        sim_jobs = [pool.submit(run_simulators, c, args.seeds, args.t_ms, **scale_kw)
                    for c in todo]
        ode_jobs = {cl: [pool.submit(run_ode, c, cl, **scale_kw) for c in cells]
                    for cl in args.closures}
        for j in sim_jobs:
            r = j.result()
            cache["cells"][f"{r['p_EI']:g},{r['tau_EE']:g}"] = r
        if sim_jobs:
            from bifsnn.network.results import atomic_write_text

            atomic_write_text(cache_path, json.dumps(
                cache, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o),
                indent=1))
        sims = {c: cache["cells"][f"{c[0]:g},{c[1]:g}"] for c in cells}
        cpu["sim"] = sum(s["cpu_s"] for s in sims.values())
        for cl, jobs in ode_jobs.items():
            res = [j.result() for j in jobs]
            cpu["ode"] = sum(r["cpu_s"] for r in res)
            line = write_report(cl, res, sims, args, cpu)
            print(f"{cl}: {line}")
    return write_score_table()


if __name__ == "__main__":
    raise SystemExit(main())
