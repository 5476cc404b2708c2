"""Fidelity benchmark: how close is the reduced ODE to the spiking network? (issue 11)

Grid p_EI in {0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0} x tau_EE in {1.2, 1.4, 2, 3, 4} ms (35 cells;
``--quick``: p_EI {0.6, 0.9, 1.0} x tau_EE {1.4, 3}).  Per cell:

* the SNN, ``--seeds`` seeds (default 2) x ``--t-ms`` (default 2000 ms) after a 100 ms
  transient (annealed connectivity, Gaussian drive), and the neuron-level Markov model (seed 0);
* the reduced ODE of every requested closure (``--closures``, default ``paper``), 1600 ms
  from the SNN's initial state, and the Newton equilibrium from the time average: the
  prediction is the attractor reached from the SNN's initial state, i.e. the equilibrium's
  rates where it is stable and the run went there (time-averaged rates within 2 % of it),
  otherwise the time average (after 300 ms) of the run.  (Taking a stable equilibrium the
  run did not reach, as an earlier version did, scores an attractor the SNN's initial state
  does not lead to in the ODE: in bistable cells the table says "bistable".)
  A second run (800 ms) from a spread initial state (neurons uniform on [0, M), moments at a
  20 Hz drive) says whether the ODE's answer depends on the initial state (column "IC").

Observables (MODEL.md section 6): per-neuron E and I rates, SSI, spectral peak of f_E, mean
MFE peak height.  Score: cells (p_EI <= 0.95, 30 cells) with the E (I) rate within 5 % of the
SNN's seed mean, and p_EI = 1.0 cells with both rates within 15 %.

Writes ``figures/fidelity_<closure>.md`` (table + score), ``figures/fidelity_<closure>.{png,pdf}``
(heat maps of the rate errors), regenerates the score table of every closure scored so far in
``figures/fidelity_closures.md`` (from those files' score lines; ``--table-only`` does just
that) and caches the simulator results in
``figures/fidelity_snn.json`` (reused while grid, seeds and duration match; ``--fresh`` reruns).

Usage: ``nice -n 10 python analyses/fidelity.py [--quick] [--closures paper conditional]
[--workers 2]``
"""

from __future__ import annotations

import argparse
import json
import math
import re
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


def closure_definition(closure: str, p_EI: float, tau_EE: float) -> Any:
    """The MarkovModelDef of a named closure at one grid cell.

    "paper": the published reduction (smooth rule, bins of 4); "dv2": the same with bins of
    2 (a finer voltage grid); any other name is passed to MarkovModelDef(closure=...), with
    "+field=value" suffixes setting numeric fields ("coloured-regime-slope+regime_shift=0.5")."""
    from bifsnn import NetworkParams
    from bifsnn.reduction import MarkovModelDef

    params = NetworkParams().replace(p_EI=p_EI, tau_EE=tau_EE)
    if closure == "dv2":
        return MarkovModelDef(params=params, dv=2.0, **_paper_kw())
    if closure == "paper":
        return MarkovModelDef(params=params, **_paper_kw())
    name, *extra = closure.split("+")
    kw = {k: float(v) for k, v in (e.split("=") for e in extra)}
    return MarkovModelDef(params=params, closure=name, **kw)


def _paper_kw() -> dict[str, Any]:
    from bifsnn.reduction import MarkovModelDef

    return {"closure": "paper"} if "closure" in MarkovModelDef.__dataclass_fields__ else {}


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


def run_simulators(cell: tuple[float, float], seeds: int, t_ms: float) -> dict[str, Any]:
    """SNN (seeds 0..seeds-1) and Markov model (seed 0) observables at one cell."""
    from bifsnn import NetworkParams
    from bifsnn.network.markov import simulate_markov
    from bifsnn.network.snn import simulate_snn

    p = NetworkParams().replace(p_EI=cell[0], tau_EE=cell[1])
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


def run_ode(cell: tuple[float, float], closure: str) -> dict[str, Any]:
    """ODE prediction at one cell: stable equilibrium, else the time average."""
    from bifsnn.reduction import find_equilibrium, simulate_ode

    d = closure_definition(closure, *cell)
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
        "cpu_s": time.process_time() - t0,
    }


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
        "e_ok": sum(abs(e) <= TOL_GRID for e, _ in ge), "i_ok": sum(abs(i) <= TOL_GRID
                                                                    for _, i in ge),
        "n_grid": len(ge),
        "top_ok": sum(abs(e) <= TOL_PEI1 and abs(i) <= TOL_PEI1 for e, i in te),
        "n_top": len(te),
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
    tag = closure + ("_quick" if args.quick else "")
    lines = [
        f"# Fidelity of the reduced ODE (closure `{closure}`) against the SNN",
        "",
        f"Generated by `analyses/fidelity.py{' --quick' if args.quick else ''}`. SNN: "
        f"{args.seeds} seeds x {args.t_ms:g} ms after a {TRANSIENT_MS:g} ms transient "
        "(annealed, Gaussian drive); Markov model seed 0; ODE: stable equilibrium where the "
        "run from the SNN's initial state goes to it, else that run's "
        f"time average over ({ODE_AVG_FROM_MS:g}, {ODE_T_MS:g}] ms; IC = an 800 ms "
        "run from a spread initial state gives a different answer "
        "(rates > 2 % or peak heights > 10 % apart). Errors are (model - SNN) / SNN, "
        "SNN = seed mean; "
        "+-: half the seed range.",
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
    fig.suptitle(f"closure '{closure}': {score_line(sc)}", fontsize=9)
    save_figure(fig, FIGURES / f"fidelity_{tag}")
    return score_line(sc)


SCORE_RE = re.compile(r"\*\*Score: E within 5 %: (\d+)/(\d+), I: (\d+)/\d+, p_EI=1.0 within "
                      r"15 %: (\d+)/(\d+) \(mean \|E error\| ([\d.]+) %, mean \|I error\| "
                      r"([\d.]+) %\)\*\*")
TABLE_BEGIN, TABLE_END = "<!-- scores:begin -->", "<!-- scores:end -->"


def write_score_table() -> str:
    """Regenerate the score table of ``figures/fidelity_closures.md`` (between its markers)
    from the score lines of every ``figures/fidelity_<closure>[_quick].md``."""
    from bifsnn.network.results import atomic_write_text

    rows = ["| closure | grid | E within 5 % | I within 5 % | p_EI = 1.0 within 15 % | "
            "mean abs E / I error |", "|---|---|---|---|---|---|"]
    for f in sorted(FIGURES.glob("fidelity_*.md"), key=lambda f: (f.stem.endswith("_quick"),
                                                                  f.stem)):
        m = SCORE_RE.search(f.read_text())
        if m is None:
            continue
        name = f.stem.removeprefix("fidelity_")
        quick = name.endswith("_quick")
        g = m.groups()
        rows.append(f"| {name.removesuffix('_quick')} | {'quick' if quick else 'full'} | "
                    f"{g[0]}/{g[1]} | {g[2]}/{g[1]} | {g[3]}/{g[4]} | {g[5]} % / {g[6]} % |")
    table = "\n".join(rows)
    path = FIGURES / "fidelity_closures.md"
    text = path.read_text() if path.exists() else f"{TABLE_BEGIN}\n{TABLE_END}\n"
    if TABLE_BEGIN not in text:
        text = f"{TABLE_BEGIN}\n{TABLE_END}\n\n" + text
    head, rest = text.split(TABLE_BEGIN, 1)
    tail = rest.split(TABLE_END, 1)[1]
    atomic_write_text(path, f"{head}{TABLE_BEGIN}\n{table}\n{TABLE_END}{tail}")
    return table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="6-cell subset")
    ap.add_argument("--closures", nargs="+", default=["paper"])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--t-ms", type=float, default=2000.0, help="SNN time after the transient")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--fresh", action="store_true", help="ignore the cached simulator runs")
    ap.add_argument("--table-only", action="store_true",
                    help="only regenerate the score table of figures/fidelity_closures.md")
    args = ap.parse_args(argv)
    if args.table_only:
        print(write_score_table())
        return 0
    if args.seeds < 1:
        ap.error(f"--seeds = {args.seeds} must be >= 1")
    if not (math.isfinite(args.t_ms) and args.t_ms >= 200):
        ap.error(f"--t-ms = {args.t_ms} must be >= 200")
    if args.workers < 1:
        ap.error(f"--workers = {args.workers} must be >= 1")
    cells = [(p, t) for p in (QUICK_P_EI if args.quick else P_EI)
             for t in (QUICK_TAU_EE if args.quick else TAU_EE)]
    cache_path = FIGURES / "fidelity_snn.json"
    cache: dict[str, Any] = {}
    if cache_path.exists() and not args.fresh:
        cache = json.loads(cache_path.read_text())
    meta = {"seeds": args.seeds, "t_ms": args.t_ms}
    if cache.get("meta") != meta:
        cache = {"meta": meta, "cells": {}}
    todo = [c for c in cells if f"{c[0]:g},{c[1]:g}" not in cache["cells"]]
    cpu: dict[str, float] = {}
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        sim_jobs = [pool.submit(run_simulators, c, args.seeds, args.t_ms) for c in todo]
        ode_jobs = {cl: [pool.submit(run_ode, c, cl) for c in cells] for cl in args.closures}
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
    write_score_table()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
