"""Fidelity of the reduced model WITH finite-size noise (SDE) against the SNN (issue 11).

The reduced model with the chemical Langevin noise of its N_E + N_I neurons
(:func:`bifsnn.reduction.noise.simulate_sde`, the closure's own drift, noise_scale 1,
Euler-Maruyama step ``--sde-dt-ms``, default 0.01 ms) on the grid of ``fidelity.py`` (p_EI in
{0.5, ..., 1.0} x tau_EE in {1.2, 1.4, 2, 3, 4} ms; ``--quick``: p_EI {0.6, 0.9, 1.0} x tau_EE
{1.4, 3}).  Per cell: the SNN's seeds and duration (``--seeds`` runs of 100 + ``--t-ms`` ms from
the SNN's initial state), observables after the 100 ms transient as for the SNN (MODEL.md
section 6), prediction = seed mean, scored exactly like the ODE by ``fidelity.py`` (cells with
p_EI <= 0.95 within 5 %, p_EI = 1.0 within 15 %).  The SNN is read from
``figures/fidelity_snn.json`` (written by ``fidelity.py``; never rerun here).

Writes ``figures/fidelity_sde_<closure>[_quick].md`` (table, score line, the deterministic
closure's errors from ``fidelity_<closure>.md`` beside each cell) and ``.{png,pdf}`` (heat
maps); ``fidelity_sde-dt<step>_<closure>`` for a step other than 0.01 ms.  Then runs
``fidelity.py --table-only`` (``fidelity_table.py``), which puts the score line in the table of
``figures/fidelity_closures.md`` (rows ``sde_<closure>``).  Closures with the paper's state
only (``paper``, ``coloured``, ``coloured-regime``).

Usage: ``nice -n 10 python analyses/fidelity_sde.py [--quick] [--closures paper
coloured-regime] [--sde-dt-ms 0.01] [--workers 2]``
"""

from __future__ import annotations

import argparse
import json
import math
import re
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
    cmd = f"analyses/fidelity_sde.py --closures {closure}" + \
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="6-cell subset")
    ap.add_argument("--closures", nargs="+", default=["paper"])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--t-ms", type=float, default=2000.0, help="run time after the transient")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sde-dt-ms", type=float, default=0.01,
                    help="Euler-Maruyama step (must divide dt = 0.1 ms)")
    args = ap.parse_args(argv)
    if args.seeds < 1:
        ap.error(f"--seeds = {args.seeds} must be >= 1")
    if not (math.isfinite(args.sde_dt_ms) and args.sde_dt_ms > 0):
        ap.error(f"--sde-dt-ms = {args.sde_dt_ms} must be a number > 0 dividing 0.1")
    if args.workers < 1:
        ap.error(f"--workers = {args.workers} must be >= 1")
    cells = [(p, t) for p in (QUICK_P_EI if args.quick else P_EI)
             for t in (QUICK_TAU_EE if args.quick else TAU_EE)]
    cache_path = FIGURES / "fidelity_snn.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    if cache.get("meta") != {"seeds": args.seeds, "t_ms": args.t_ms} or any(
            f"{c[0]:g},{c[1]:g}" not in cache["cells"] for c in cells):
        ap.error(f"{cache_path} lacks these cells, seeds or duration: run fidelity.py first")
    sims = {c: cache["cells"][f"{c[0]:g},{c[1]:g}"] for c in cells}
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        jobs = {cl: [pool.submit(run_sde, c, cl, args.seeds, args.t_ms, args.sde_dt_ms)
                     for c in cells] for cl in args.closures}
        for cl, js in jobs.items():
            res = [j.result() for j in js]
            cpu = {"ode": sum(r["cpu_s"] for r in res)}
            print(f"{cl}: {write_sde_report(cl, res, sims, args, cpu)}")
    subprocess.run([sys.executable, str(Path(__file__).with_name("fidelity.py")),
                    "--table-only"], check=True, stdout=subprocess.DEVNULL)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
