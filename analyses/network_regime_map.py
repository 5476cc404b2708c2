"""Flagship regime map: SNN regimes over (p_EI, tau_EE) with the reduced ODE's bifurcation
curves overlaid (library: ``bifsnn.analysis.regime_map``).

1. The reduced ODE (smooth bin rule) is continued in p_EI at the default tau_EE (1.4 ms); every
   Hopf / fold point found is continued in (p_EI, tau_EE) within the box, both directions
   (Bogdanov-Takens, Bautin and cusp detection); a point an earlier curve already passes
   through (same p_EI and frequency) is not continued again.
2. At every grid point the ODE's equilibrium is found by Newton, marching over the grid from
   the default equilibrium, and its stability recorded ("unstable" predicts oscillations).
3. The SNN is swept over the same grid (``bifsnn.sweeps``; resumable store under ``out/``) and
   every run classified (asynchronous / regular-MFE / alternating-MFE / irregular).
4. ``figures/network_regime_map.{png,pdf}``: majority regime per cell, the curves (solid where
   the Hopf bifurcation is supercritical, l1 < 0; dashed where subcritical), codim-2 points and
   a dot where the ODE equilibrium is unstable; ``.md``: grid, counts, curves, codim-2 points,
   the cell-by-cell agreement, and ODE probes of the cells where SNN and ODE disagree.

Usage::

    python analyses/network_regime_map.py            # full size (15 x 13 grid, 2 seeds, 2 s)
    python analyses/network_regime_map.py --quick    # 8 x 7 grid, 1 seed, 1 s runs (1/14 of
                                                     # the SNN time; curves as above)

The curves are cached in the output directory (``curves.json``, keyed by their settings). A
hand-written reading between the ``<!-- reading:begin -->`` / ``<!-- reading:end -->``
markers of an existing markdown file is kept when the file is regenerated.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bifsnn.analysis.regime_map import (
    BifurcationCurves,
    bifurcation_curves,
    compare,
    comparison_statements,
    lpc_curves,
    network_equilibrium_grid,
    plot_regime_map_with_curves,
    probe_disagreements,
)
from bifsnn.continuation import load_branch
from bifsnn.continuation.linalg import blas_single_thread
from bifsnn.network.params import NetworkParams
from bifsnn.network.results import atomic_write_text
from bifsnn.reduction import network_problem
from bifsnn.sweeps import SweepSpec, run_sweep

ROOT = Path(__file__).resolve().parent.parent
FIGURES, OUT = ROOT / "figures", ROOT / "out" / "network_regime_map"
P_RANGE, TAU_RANGE = (0.3, 1.0), (1.0, 4.0)
#: Largest parameter step of one Newton solve when marching over the grid (p_EI, tau_EE ms).
MARCH_STEP = (0.05, 0.25)
READING_BEGIN, READING_END = "<!-- reading:begin -->", "<!-- reading:end -->"
QUICK = dict(n_pei=8, n_tau=7, seeds=1, t_ms=1000.0)


def _fmt_list(v: Sequence[float]) -> str:
    return ", ".join(f"{x:.3f}" for x in v) if len(v) else "-"


def _grid_lines(grid: Any, cmp: dict[str, Any]) -> list[str]:
    code = {"asynchronous": "A", "regular-MFE": "R", "alternating-MFE": "L", "irregular": "I"}
    out = ["```", "tau_EE \\ p_EI " + " ".join(f"{p:5.2f}" for p in grid.values1)]
    for i in range(len(grid.values2) - 1, -1, -1):
        cells = []
        for j in range(len(grid.values1)):
            mark = "?" if not grid.found[i, j] else ("*" if grid.unstable[i, j] else " ")
            cells.append(f"{code.get(str(cmp['majority'][i, j]), '-'):>4}{mark}")
        out.append(f"{grid.values2[i]:13.2f} " + " ".join(cells))
    return out + ["```", ""]


def _curve_lines(curves: BifurcationCurves) -> list[str]:
    L = ["## Reduced ODE: one-parameter points at the base tau_EE and two-parameter curves\n",
         f"Continuation in p_EI over [{curves.range1[0]}, {curves.range1[1]}] at tau_EE = "
         f"{curves.base2} ms:\n", "| type | p_EI | omega (rad/ms) | period (ms) | l1 |",
         "|---|---|---|---|---|"]
    for it in curves.one_param:
        om = it.get("omega", math.nan)
        per = 2 * math.pi / om if om and math.isfinite(om) else math.nan
        L.append(f"| {it['type']} | {it['value']:.4f} | {om:.4f} | {per:.2f} | "
                 f"{it.get('l1', math.nan):.3g} |")
    L.append("")
    for k, c in enumerate(curves.curves):
        sub = np.sum(np.isfinite(c.l1) & (c.l1 > 0))
        kind = {"H": "Hopf", "LP": "fold", "LPC": "fold of cycles"}[c.kind]
        L.append(f"- curve {k} ({kind}, from p_EI = "
                 f"{c.start:.4f}): {len(c.p1)} points, p_EI in [{np.nanmin(c.p1):.3f}, "
                 f"{np.nanmax(c.p1):.3f}], tau_EE in [{np.nanmin(c.p2):.3f}, "
                 f"{np.nanmax(c.p2):.3f}]"
                 + (f", omega in [{np.nanmin(np.abs(c.omega)):.3f}, "
                    f"{np.nanmax(np.abs(c.omega)):.3f}] rad/ms, {sub} points subcritical"
                    if c.kind == "H" else "") + f"; ends: {'; '.join(c.messages)}")
    L += [f"- not continued: {s}" for s in curves.skipped]
    L += [f"- continuation status: {curves.message}", "",
          "Codim-2 points located on the curves:\n"]
    if curves.codim2:
        L += ["| type | p_EI | tau_EE (ms) | omega (rad/ms) | located | curve |",
              "|---|---|---|---|---|---|"]
        L += [f"| {cp.type} | {cp.p1:.4f} | {cp.p2:.4f} | {cp.omega:.4f} | "
              f"{'yes' if cp.located else 'no'} | {cp.curve} |" for cp in curves.codim2]
    else:
        L.append("none in the box.")
    return L + [""]


def _probe_lines(probes: list[dict[str, Any]]) -> list[str]:
    if not probes:
        return []
    L = ["Cells where they disagree, probed with ODE runs (1500 ms; peak-to-peak of the "
         "per-neuron E rate over the last 500 ms, Hz) from the equilibrium kicked along its "
         "leading eigenvector (1e-3 relative) and from a state on the oscillation of the "
         "nearest cell where both oscillate; SNN: seed means (synchrony ratio "
         "SSI_E/SSI_indep, classifier threshold 1.5):\n",
         "| p_EI | tau_EE | SNN labels | SNN rate (Hz) | SNN sync ratio | SNN spectral peak "
         "(Hz) | ODE unstable eigenvalues | ODE p2p from eq. | ODE p2p from cycle (source "
         "cell) | ODE mean rate from eq. / from cycle (Hz) |",
         "|---|---|---|---|---|---|---|---|---|---|"]
    for it in probes:
        src = it.get("cycle_source")
        src_s = f" ({src[0]:.2f}, {src[1]:.2f})" if src else ""
        L.append(f"| {it['p_EI']:.2f} | {it['tau_EE']:.2f} | "
                 f"{', '.join(it.get('snn_labels', [it['snn']]))} | "
                 f"{it.get('snn_rate_e_hz', math.nan):.1f} | "
                 f"{it.get('snn_ssi_e_ratio', math.nan):.2f} | "
                 f"{it.get('snn_spectral_peak_hz', math.nan):.0f} | {it['n_unstable']} | "
                 f"{it['amp_from_eq_hz']:.3g} | {it['amp_from_cycle_hz']:.3g}{src_s} | "
                 f"{it['mean_from_eq_hz']:.1f} / {it['mean_from_cycle_hz']:.1f} |")
    return L + [""]


def write_markdown(path: Path, *, info: dict[str, Any], curves: BifurcationCurves, grid: Any,
                   cmp: dict[str, Any], probes: list[dict[str, Any]]) -> Path:
    """Write the report; a hand-written reading between the markers is kept."""
    kept = ""
    if path.exists():
        old = path.read_text()
        if READING_BEGIN in old and READING_END in old:
            kept = old.split(READING_BEGIN, 1)[1].split(READING_END, 1)[0].strip("\n")
    s = info["sweep"]
    L = ["# Regime map over (p_EI, tau_EE): SNN sweep vs the reduced ODE's bifurcations\n",
         f"Generated by `analyses/network_regime_map.py` ({info['command']}).\n",
         f"![regime map]({path.stem}.png)\n", "## Grid and runs\n",
         f"- p_EI: {len(grid.values1)} values {_fmt_list(grid.values1)}",
         f"- tau_EE (ms): {len(grid.values2)} values {_fmt_list(grid.values2)}",
         f"- other parameters: defaults of `NetworkParams` (N_E = 300, N_I = 100, annealed "
         f"connectivity, Gaussian drive); seeds {info['seeds']}; {info['t_ms']:.0f} ms per "
         f"run, first {info['transient_ms']:.0f} ms discarded",
         f"- sweep: {s['n_points']} runs, {s['n_run']} run now ({s['n_skipped']} resumed from "
         f"the store), {s['n_error']} failed; {s['elapsed_s']:.0f} s wall in this invocation "
         f"on backend {s['backend']} with {s['workers']} worker(s); per-run time summed over "
         f"all {s['n_points']} stored runs: {s['run_s_total']:.0f} s",
         f"- reduced ODE: smooth bin rule; continuation {curves.elapsed_s:.0f} s (settings: "
         f"ds = {curves.settings.get('ds_frac')} N, ds_max = "
         f"{curves.settings.get('ds_max_frac')} N, at most {curves.settings.get('max_steps')} "
         "steps per direction)", f"- {info['lpc_note']}",
         "- regime classifier: `bifsnn.sweeps.classify` defaults; a cell shows the majority "
         "label over seeds (ties: first in asynchronous, regular-MFE, alternating-MFE, "
         "irregular)\n", "## Regime counts\n", "| regime | runs | cells (majority) |",
         "|---|---|---|"]
    for lab in sorted(set(cmp["run_counts"]) | set(cmp["cell_counts"])):
        L.append(f"| {lab or 'no result'} | {cmp['run_counts'].get(lab, 0)} | "
                 f"{cmp['cell_counts'].get(lab, 0)} |")
    L += ["", "Majority label per cell (rows tau_EE, columns p_EI; A asynchronous, R "
          "regular-MFE, L alternating-MFE, I irregular; `*` = ODE equilibrium unstable, `?` = "
          "ODE equilibrium not found):\n"]
    L += _grid_lines(grid, cmp) + _curve_lines(curves)
    L += ["## SNN regimes vs the ODE's prediction\n",
          f"ODE equilibrium per grid point: {grid.message}.\n", "| | cells |", "|---|---|"]
    L += [f"| {k} | {v} |" for k, v in cmp["table"].items()]
    L += ["", "Per tau_EE row: p_EI midpoints where the SNN majority label switches between "
          "asynchronous and oscillating, where the ODE equilibrium's stability switches on the "
          "grid, and where the Hopf curves cross the row (curve index):\n",
          "| tau_EE | SNN switches | ODE stability switches | Hopf crossings |",
          "|---|---|---|---|"]
    for r in cmp["rows"]:
        hopf = ", ".join(f"{p:.3f} ({k})" for p, k in r["hopf"]) or "-"
        L.append(f"| {r['value2']:.2f} | {_fmt_list(r['snn_switch'])} | "
                 f"{_fmt_list(r['ode_switch'])} | {hopf} |")
    L += [""] + _probe_lines(probes)
    L += ["## Reading\n", "Computed from the tables above:\n"]
    L += comparison_statements(cmp, curves)
    L += ["", READING_BEGIN, kept or "(no hand-written reading yet)", READING_END, ""]
    atomic_write_text(path, "\n".join(L))
    return path


def _count(name: str, lo: int = 1):
    def conv(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} = {s!r} must be an integer") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"{name} = {v} is out of range: must be >= {lo}")
        return v
    return conv


def _positive(name: str):
    def conv(s: str) -> float:
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} = {s!r} must be a number") from None
        if not (math.isfinite(v) and v > 0):
            raise argparse.ArgumentTypeError(f"{name} = {v} is out of range: must be > 0")
        return v
    return conv


def add_lpc_curves(curves: BifurcationCurves, source: Path) -> str:
    """Append the fold-of-cycles curves of the coexistence map to ``curves``: from its
    ``map.json`` or, for a directory, from the LPC branches saved there (``LPC_*.h5``);
    returns a sentence for the report."""
    if source.is_dir():
        lpc = []
        for f in sorted(source.glob("LPC_*.h5")):
            br = load_branch(f)
            i1, i2 = br.param_indices
            lpc += lpc_curves({"curves": [dict(
                kind="LPC", p1=br.p[:, i1].tolist(), p2=br.p[:, i2].tolist(),
                period=br.period.tolist(), origin=f.stem, message=br.message,
                success=br.success)]})
        how = f"the LPC branches saved by `analyses/coexistence_map.py` ({len(lpc)} files)"
    elif source.exists():
        lpc = lpc_curves(json.loads(source.read_text()))
        how = f"`{source.name}` of `analyses/coexistence_map.py`"
    else:
        return (f"fold-of-cycles curves not drawn: {source} missing (run "
                "analyses/coexistence_map.py)")
    curves.curves.extend(lpc)
    return (f"fold-of-cycles (LPC) curves from the Bautin points: {len(lpc)}, read from "
            f"{how} (numbers and ODE confirmations in `coexistence_map.md`)")


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller run: " + ", ".join(
        f"--{k.replace('_', '-')} {v:g}" for k, v in QUICK.items()) + " (explicit options win)")
    ap.add_argument("--n-pei", type=_count("--n-pei"),
                    help="grid points in p_EI (default 15: step 0.05 over [0.3, 1.0])")
    ap.add_argument("--n-tau", type=_count("--n-tau"),
                    help="grid points in tau_EE (default 13: step 0.25 over [1.0, 4.0] ms)")
    ap.add_argument("--p-range", type=float, nargs=2, default=P_RANGE, metavar=("LO", "HI"),
                    help="p_EI range (default 0.3 1.0); must contain the base p_EI = 0.8")
    ap.add_argument("--tau-range", type=float, nargs=2, default=TAU_RANGE,
                    metavar=("LO", "HI"), help="tau_EE range, ms (default 1.0 4.0); must "
                    "contain the base tau_EE = 1.4")
    ap.add_argument("--seeds", type=_count("--seeds"), help="seeds per grid point (default 2)")
    ap.add_argument("--t-ms", type=_positive("--t-ms"),
                    help="model time per SNN run, ms (default 2000)")
    ap.add_argument("--transient-ms", type=float, default=100.0,
                    help="discarded start of every run, ms (default 100)")
    ap.add_argument("--max-curve-steps", type=_count("--max-curve-steps"), default=400,
                    help="continuation steps per direction (default 400)")
    ap.add_argument("--ds-max-frac", type=_positive("--ds-max-frac"), default=0.1,
                    help="largest arclength step / (N_E + N_I) (default 0.1)")
    ap.add_argument("--backend", choices=("pool", "serial"), default="pool")
    ap.add_argument("--workers", type=_count("--workers"), default=2)
    ap.add_argument("--out", type=Path, default=OUT,
                    help="directory of the resumable sweep store and curve cache")
    ap.add_argument("--figures", type=Path, default=FIGURES,
                    help="directory of network_regime_map.{png,pdf,md}")
    ap.add_argument("--no-cache", action="store_true", help="recompute the curves")
    ap.add_argument("--coexistence", type=Path, default=ROOT / "out" / "coexistence_map" /
                    "map.json", help="map.json of analyses/coexistence_map.py, or its branches/ "
                    "directory: the fold-of-cycles curves are drawn (skipped with a note when "
                    "missing)")
    ap.add_argument("--quiet", action="store_true")
    return ap


def _axis(n: int, box: tuple[float, float]) -> np.ndarray:
    return np.round(np.linspace(*box, n), 10) if n > 1 else np.array([np.mean(box)])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the curves, the grid, the sweep; write the figure and the report."""
    ap = build_parser()
    args = ap.parse_args(argv)
    defaults = QUICK if args.quick else dict(n_pei=15, n_tau=13, seeds=2, t_ms=2000.0)
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if not (0 <= args.transient_ms < args.t_ms):
        ap.error(f"--transient-ms = {args.transient_ms} is out of range: must be in "
                 f"[0, --t-ms = {args.t_ms})")
    params = NetworkParams()
    for name, (lo, hi), base, lo_min, hi_max in (
            ("--p-range", args.p_range, params.p_EI, 0.0, 1.0),
            ("--tau-range", args.tau_range, params.tau_EE, 1e-6, math.inf)):
        if not (lo_min <= lo <= base <= hi <= hi_max and lo < hi):
            ap.error(f"{name} = {lo} {hi} is out of range: need {lo_min} <= LO < HI <= "
                     f"{hi_max} with LO <= {base} <= HI (the base point)")
    say = (lambda s: None) if args.quiet else (lambda s: print(s, flush=True))
    p_range, tau_range = tuple(args.p_range), tuple(args.tau_range)
    pv, tv = _axis(args.n_pei, p_range), _axis(args.n_tau, tau_range)
    args.out.mkdir(parents=True, exist_ok=True)
    start = network_problem(params, "p_EI")
    say(f"equilibrium at the base point: {start.message}")

    cache, curves = args.out / "curves.json", None   # 1. curves (cached)
    want = dict(params=params.to_dict(), param="p_EI", param2="tau_EE", range1=list(p_range),
                range2=list(tau_range), ds_frac=0.005, ds_max_frac=args.ds_max_frac,
                max_steps=args.max_curve_steps)
    if cache.exists() and not args.no_cache:
        try:
            cached = BifurcationCurves.from_json(json.loads(cache.read_text()))
            if all(cached.settings.get(k) == v for k, v in want.items()):
                curves = cached
                say(f"curves: loaded from {cache}")
        except (ValueError, KeyError, TypeError) as exc:
            say(f"curves: cache {cache} unusable ({exc}); recomputing")
    if curves is None:
        with blas_single_thread():  # the 148 x 148 solves are faster single-threaded
            curves = bifurcation_curves(start, "tau_EE", p_range, tau_range,
                                        ds_max_frac=args.ds_max_frac,
                                        max_steps=args.max_curve_steps, log=say)
        atomic_write_text(cache, json.dumps(curves.to_json(), indent=1))
    say(f"curves: {curves.message} ({curves.elapsed_s:.0f} s)")

    t0 = time.perf_counter()   # 2. ODE equilibrium stability on the grid
    grid = network_equilibrium_grid(start, "tau_EE", pv, tv, max_param_step=MARCH_STEP)
    say(f"equilibrium grid: {grid.message} ({time.perf_counter() - t0:.0f} s)")

    store = args.out / (f"snn_{args.n_pei}x{args.n_tau}_p{p_range[0]:g}-{p_range[1]:g}_"
                        f"tau{tau_range[0]:g}-{tau_range[1]:g}_s{args.seeds}_{args.t_ms:g}ms")
    spec = SweepSpec(grid={"p_EI": [float(v) for v in pv], "tau_EE": [float(v) for v in tv]},
                     model="snn", t_ms=float(args.t_ms), seeds=list(range(args.seeds)),
                     transient_ms=float(args.transient_ms), name="network_regime_map")
    res = run_sweep(spec, store, backend=args.backend, progress=not args.quiet,
                    workers=args.workers if args.backend != "serial" else None)
    ds = res.dataset()   # 3. SNN sweep
    say(f"sweep: {res.message} ({res.elapsed_s:.0f} s)")

    cmp = compare(ds, grid, curves)   # 4. figure and report
    t0 = time.perf_counter()
    with blas_single_thread():
        probes = probe_disagreements(start, grid, cmp, ds)
    say(f"probed {len(probes)} disagreeing cell(s) ({time.perf_counter() - t0:.0f} s)")
    lpc_note = add_lpc_curves(curves, args.coexistence)   # read as late as possible
    say(lpc_note)
    args.figures.mkdir(parents=True, exist_ok=True)
    stem = args.figures / "network_regime_map"
    plot_regime_map_with_curves(
        ds, curves, grid, stem, labels=("p_EI (I -> E connection probability)", "tau_EE (ms)"),
        title=f"SNN regime (majority of {args.seeds} seed(s), {args.t_ms:g} ms) and "
              "reduced-ODE bifurcations")
    cmd = " ".join(["python analyses/network_regime_map.py",
                    *(sys.argv[1:] if argv is None else argv)])
    run_s = float(np.nansum(np.asarray(ds["elapsed_s"].values, float))) \
        if "elapsed_s" in ds else math.nan
    info = dict(command=f"`{cmd.strip()}`", seeds=list(range(args.seeds)), t_ms=args.t_ms,
                lpc_note=lpc_note,
                transient_ms=args.transient_ms,
                sweep=dict(n_points=res.n_points, n_run=res.n_run, n_skipped=res.n_skipped,
                           n_error=res.n_error, elapsed_s=res.elapsed_s, backend=res.backend,
                           workers=res.workers, run_s_total=run_s))
    write_markdown(stem.with_suffix(".md"), info=info, curves=curves, grid=grid, cmp=cmp,
                   probes=probes)
    say(f"wrote {stem}.png/.pdf/.md")
    return 0 if res.success else 1


if __name__ == "__main__":
    raise SystemExit(main())
