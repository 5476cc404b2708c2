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

``--model sde`` (branch stoch11) scores the reduced model with the finite-size noise of the
N neurons instead (:func:`bifsnn.reduction.noise.simulate_sde`, same drift, noise_scale 1,
Euler-Maruyama step ``--sde-dt-ms``): per cell the SNN's seeds and duration (``--seeds`` runs
of 100 + ``--t-ms`` ms from the SNN's initial state), observables after the 100 ms transient
as for the SNN, prediction = seed mean.  Writes ``figures/fidelity_sde_<closure>.md`` (the
deterministic closure's errors from ``fidelity_<closure>.md`` beside it) and ``.{png,pdf}``
(``fidelity_sde-dt<step>_<closure>`` for a step other than 0.01 ms); its score line enters
the score table as ``sde_<closure>``.  Closures with the paper's
state only (``paper``, ``coloured``, ``coloured-regime``).

``--snn-scale K --sparse`` (branch sparse11) scores against the network scaled by K: N K
neurons with connection probabilities p / K (each neuron's expected input counts stay, the
input two neurons share falls as 1 / K; without ``--sparse``: ``NetworkParams.scaled(K)``,
N K and S / K).  The SNN, the Markov model and every closure's ODE are then those of the
scaled parameters (the ODE's moment equations carry N p f and p (1 - p) f: the scaled
network's own reduction, not the N = 400 one).  Cache ``figures/fidelity_snn_sparse<K>.json``
(``_dense<K>``), outputs ``figures/fidelity_sparse<K>_<closure>[_quick].{md,png,pdf}``; their
score lines enter the score table with grid "full, sparse xK" (or "quick, ...").
``--model ode`` only.

Usage: ``nice -n 10 python analyses/fidelity.py [--quick] [--closures paper conditional]
[--model ode|sde] [--workers 2] [--snn-scale 4 --sparse]``
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


def cell_params(p_EI: float, tau_EE: float, scale: int = 1, sparse: bool = False) -> Any:
    """NetworkParams at one cell; scale K > 1: N K neurons with p / K (sparse) or S / K."""
    from bifsnn import NetworkParams
    from bifsnn.network.params import PATHWAYS

    p = NetworkParams().replace(p_EI=p_EI, tau_EE=tau_EE)
    if scale == 1:
        return p
    if sparse:
        return p.replace(N_E=scale * p.N_E, N_I=scale * p.N_I,
                         **{f"p_{pw}": p.p(pw) / scale for pw in PATHWAYS})
    return p.scaled(scale)


def closure_definition(closure: str, p_EI: float, tau_EE: float, scale: int = 1,
                       sparse: bool = False) -> Any:
    """The MarkovModelDef of a named closure at one grid cell (of the network scaled by
    ``scale``, see :func:`cell_params`).

    "paper": the published reduction (smooth rule, bins of 4); "dv2": the same with bins of
    2 (a finer voltage grid); any other name is passed to MarkovModelDef(closure=...), with
    "+field=value" suffixes setting numeric fields ("coloured-regime-slope+regime_shift=0.5")."""
    from bifsnn.reduction import MarkovModelDef

    params = cell_params(p_EI, tau_EE, scale, sparse)
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
    k = getattr(args, "snn_scale", 1)
    return "" if k == 1 else f"{'sparse' if args.sparse else 'dense'}{k}"


def run_sde(cell: tuple[float, float], closure: str, seeds: int, t_ms: float,
            dt_ms: float) -> dict[str, Any]:
    """Finite-size-noise SDE at one cell: seeds 0..seeds-1, 100 + t_ms ms each from the SNN's
    initial state, observables after the transient; prediction = seed mean."""
    from bifsnn.reduction.noise import simulate_sde

    d = closure_definition(closure, *cell)
    m = d.compile()
    t0 = time.process_time()
    runs = []
    for s in range(seeds):
        res = simulate_sde(m, t_ms=t_ms + TRANSIENT_MS, seed=s, dt_ms=dt_ms)
        o = _obs(res) if res.options["success"] else {k: math.nan for k in KEYS}
        o["success"] = bool(res.options["success"])
        o["max_negative_mass"] = res.options["max_negative_mass"]
        o["clipped_moments"] = res.options["clipped_moments"]
        runs.append(o)
    pred = {k: float(np.nanmean([r[k] for r in runs])) for k in KEYS}
    return {
        "p_EI": cell[0], "tau_EE": cell[1], "closure": closure, "pred": pred, "runs": runs,
        "success": all(r["success"] for r in runs), "n_state": int(d.n_state),
        "n_neurons": int(d.params.N_E + d.params.N_I),
        "cpu_s": time.process_time() - t0,
    }


def _deterministic_errors(closure: str) -> dict[tuple[float, float], tuple[str, str, str]]:
    """(E err, I err, state) per cell from the deterministic table ``fidelity_<closure>.md``
    ({} if it has not been made)."""
    path = FIGURES / f"fidelity_{closure}.md"
    out: dict[tuple[float, float], tuple[str, str, str]] = {}
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        col = [c.strip() for c in line.split("|")]
        if len(col) == 15 and re.fullmatch(r"[\d.]+", col[1]):
            state = "eq" if col[9].startswith("eq") else (
                "bistable" if "bistable" in col[9] else "cycle")
            out[(float(col[1]), float(col[2]))] = (col[7], col[8], state)
    return out


def write_sde_report(closure: str, cells: list[dict], sims: dict, args: argparse.Namespace,
                     cpu: dict[str, float]) -> str:
    """Table, score line and heat maps of the SDE (``fidelity_sde_<closure>[_quick]``)."""
    from bifsnn.network.plots import save_figure, subplots
    from bifsnn.network.results import atomic_write_text

    sc = score(cells, sims)
    dt_tag = f"-dt{args.sde_dt_ms:g}" if args.sde_dt_ms != 0.01 else ""
    tag = f"sde{dt_tag}_{closure}" + ("_quick" if args.quick else "")
    det = _deterministic_errors(closure)
    cmd = f"analyses/fidelity.py --model sde --closures {closure}" + \
        (f" --sde-dt-ms {args.sde_dt_ms:g}" if args.sde_dt_ms != 0.01 else "") + \
        (" --quick" if args.quick else "")
    lines = [
        f"# Fidelity of the reduced model with finite-size noise (SDE, closure `{closure}`) "
        "against the SNN",
        "",
        f"Generated by `{cmd}`. SNN: {args.seeds} seeds x {args.t_ms:g} ms after a "
        f"{TRANSIENT_MS:g} ms transient (cached, `fidelity_snn.json`); SDE: "
        "`bifsnn.reduction.noise.simulate_sde` (chemical Langevin noise of N_E + N_I = "
        f"{cells[0]['n_neurons']} neurons, noise_scale 1, Euler-Maruyama step "
        f"{args.sde_dt_ms:g} ms), seeds 0..{args.seeds - 1} x {args.t_ms:g} ms after the same "
        "transient from the SNN's initial state, observables as for the SNN, prediction = "
        "seed mean. Errors are (model - SNN) / SNN, SNN = seed mean; +-: half the seed range. "
        f"ODE err: the deterministic closure's errors from `fidelity_{closure}.md` (eq: "
        "stable equilibrium, cycle: time average, bistable: time average beside a stable "
        "equilibrium). neg: largest total negative bin occupancy of the two runs (neurons).",
        "",
        f"**Score: {score_line(sc)}**",
        "",
        f"CPU: SDE {cpu.get('ode', 0):.0f} s (state dimension {cells[0]['n_state']}).",
        "",
        "| p_EI | tau_EE | SNN E Hz | SNN I Hz | ODE E / I err | SDE E Hz | E err | I err | "
        "SDE E seeds | SSI_E SNN/SDE | f peak Hz SNN/SDE | peak height SNN/SDE | neg |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        s = sims[(c["p_EI"], c["tau_EE"])]
        se, si = _snn_mean(s, "rate_e_hz"), _snn_mean(s, "rate_i_hz")
        spread = 0.5 * (max(x["rate_e_hz"] for x in s["snn"]) -
                        min(x["rate_e_hz"] for x in s["snn"]))
        pr = c["pred"]
        de = det.get((c["p_EI"], c["tau_EE"]))
        seeds_e = " / ".join(f"{r['rate_e_hz']:.1f}" for r in c["runs"])
        lines.append(
            f"| {c['p_EI']:g} | {c['tau_EE']:g} | {se:.1f} +- {spread:.1f} | {si:.1f} | "
            f"{f'{de[0]} / {de[1]} ({de[2]})' if de else '-'} | {pr['rate_e_hz']:.1f} | "
            f"{100 * rel_err(pr['rate_e_hz'], se):+.1f} % | "
            f"{100 * rel_err(pr['rate_i_hz'], si):+.1f} % | "
            f"{seeds_e} | "
            f"{_snn_mean(s, 'ssi_e'):.3f} / {_fmt(pr['ssi_e'], '.3f')} | "
            f"{_snn_mean(s, 'spectral_peak_hz'):.0f} / {_fmt(pr['spectral_peak_hz'], '.0f')} | "
            f"{_snn_mean(s, 'peak_mean'):.0f} / {_fmt(pr['peak_mean'], '.0f')} | "
            f"{max(r['max_negative_mass'] for r in c['runs']):.1f} |")
    lines.append("")
    atomic_write_text(FIGURES / f"fidelity_{tag}.md", "\n".join(lines) + "\n")

    def det_err(c: dict[str, Any], s: dict[str, Any]) -> float:
        de = det.get((c["p_EI"], c["tau_EE"]))
        return float(de[0].rstrip(" %")) / 100 if de else math.nan

    pe = sorted({c["p_EI"] for c in cells})
    te = sorted({c["tau_EE"] for c in cells})
    panels = [("SDE E rate error (%)", lambda c, s: rel_err(c["pred"]["rate_e_hz"],
                                                            _snn_mean(s, "rate_e_hz"))),
              ("SDE I rate error (%)", lambda c, s: rel_err(c["pred"]["rate_i_hz"],
                                                            _snn_mean(s, "rate_i_hz"))),
              ("deterministic ODE E rate error (%)", det_err)]
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
    fig.suptitle(f"SDE, closure '{closure}': {score_line(sc)}", fontsize=9)
    save_figure(fig, FIGURES / f"fidelity_{tag}")
    return score_line(sc)


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
    net = _network_tag(args)
    tag = (f"{net}_" if net else "") + closure + ("_quick" if args.quick else "")
    scaled = (f" --snn-scale {args.snn_scale}{' --sparse' if args.sparse else ''}"
              if net else "")
    lines = [
        f"# Fidelity of the reduced ODE (closure `{closure}`) against the SNN"
        + (f" scaled by {args.snn_scale} ({'sparse' if args.sparse else 'dense'}: N = "
           f"{cells[0]['n_neurons']}, {'p' if args.sparse else 'S'} / {args.snn_scale})"
           if net else ""),
        "",
        (f"SNN, Markov model and ODE all at the scaled parameters (cache "
         f"`fidelity_snn_{net}.json`); rates per neuron. " if net else "") +
        f"Generated by `analyses/fidelity.py{' --quick' if args.quick else ''}"
        f"{f' --closures {closure}{scaled}' if net else ''}`. SNN: "
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
    fig.suptitle(f"closure '{closure}'" + (f", SNN {net} (N = {cells[0]['n_neurons']})"
                                            if net else "") + f": {score_line(sc)}",
                 fontsize=9)
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
    net_re = re.compile(r"fidelity_(sparse|dense)(\d+)_")
    for f in sorted(FIGURES.glob("fidelity_*.md"), key=lambda f: (
            net_re.match(f.name) is not None, f.stem.endswith("_quick"), f.stem)):
        m = SCORE_RE.search(f.read_text())
        if m is None:
            continue
        name = f.stem.removeprefix("fidelity_")
        quick = name.endswith("_quick")
        # scored against a scaled network (--snn-scale): grid "full, sparse x4"
        net = net_re.match(f.name)
        scaled = f", {net[1]} x{net[2]}" if net else ""
        if net:
            name = name.removeprefix(f"{net[1]}{net[2]}_")
        g = m.groups()
        rows.append(f"| {name.removesuffix('_quick')} | {'quick' if quick else 'full'}{scaled} | "
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
    ap.add_argument("--model", choices=("ode", "sde"), default="ode",
                    help="deterministic ODE or the SDE with the noise of N neurons")
    ap.add_argument("--sde-dt-ms", type=float, default=0.01,
                    help="Euler-Maruyama step of --model sde (must divide dt = 0.1 ms)")
    ap.add_argument("--snn-scale", type=int, default=1,
                    help="score against the network scaled by K (N K neurons; see --sparse)")
    ap.add_argument("--sparse", action="store_true",
                    help="with --snn-scale: p / K (default: S / K, NetworkParams.scaled)")
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
    if not (math.isfinite(args.sde_dt_ms) and args.sde_dt_ms > 0):
        ap.error(f"--sde-dt-ms = {args.sde_dt_ms} must be a number > 0 dividing 0.1")
    if args.workers < 1:
        ap.error(f"--workers = {args.workers} must be >= 1")
    if args.snn_scale < 1:
        ap.error(f"--snn-scale = {args.snn_scale} must be an integer >= 1")
    if args.snn_scale > 1 and args.model != "ode":
        ap.error("--snn-scale > 1 works with --model ode only")
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
        if args.model == "sde":
            ode_jobs = {cl: [pool.submit(run_sde, c, cl, args.seeds, args.t_ms,
                                         args.sde_dt_ms) for c in cells]
                        for cl in args.closures}
        else:
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
            line = (write_sde_report if args.model == "sde" else write_report)(
                cl, res, sims, args, cpu)
            print(f"{cl}: {line}")
    write_score_table()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
