"""Coexistence map of the reduced network ODE in (p_EI, tau_EE) (issue 12, item 1).

``bifsnn.analysis.coexistence.coexistence_map`` on the reduced ODE (smooth bin rule, default
NetworkParams otherwise): the Hopf curve through the Hopf points of the p_EI branch at the
default tau_EE (split into super- and subcritical parts at its Bautin points), the
fold-of-cycles curve from every Bautin point, the regions those curves enclose, each sampled
at its deepest point and integrated from the equilibrium and from cycle states, and line scans
at fixed p_EI.  Writes figures/coexistence_map.{png,pdf,md} and the map as JSON in --out.

Usage: ``python analyses/coexistence_map.py [--lines 0.8 1.0] [--line-points 13]``
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from bifsnn.analysis.coexistence import coexistence_map, plot_coexistence_map, scipy_integrator
from bifsnn.continuation import Collocation, ContinuationOptions
from bifsnn.continuation.linalg import blas_single_thread
from bifsnn.network.params import NetworkParams
from bifsnn.network.results import atomic_write_text
from bifsnn.reduction import network_problem

ROOT = Path(__file__).resolve().parent.parent
FIGURES, OUT = ROOT / "figures", ROOT / "out" / "coexistence_map"
BOX = ((0.3, 1.0), (1.0, 4.0))


def _curve_line(k: int, c) -> str:
    ok = np.isfinite(c.p1)
    per = c.period[np.isfinite(c.period)]
    extra = (f", period {per.min():.2f}-{per.max():.2f} ms" if per.size else "")
    if c.kind == "H":
        extra += f", {int(np.sum(np.isfinite(c.l1) & (c.l1 > 0)))} of {len(c.p1)} points " \
                 "subcritical"
    return (f"| {k} | {c.kind} | {c.origin} | {len(c.p1)} | {np.min(c.p1[ok]):.4f}-"
            f"{np.max(c.p1[ok]):.4f} | {np.min(c.p2[ok]):.4f}-{np.max(c.p2[ok]):.4f} | "
            f"{c.message}{extra} |")


def _sample_text(s) -> str:
    return s.describe().replace("|", "/")


def _gh_point(res, g):
    """The SpecialPoint of the GH entry g = (p1, p2, located, curve) of the map."""
    i1, i2 = (list(res.curves[g[3]].branch.param_names).index(n) for n in res.params)
    return min(res.curves[g[3]].branch.points("GH"),
               key=lambda q: abs(q.p[i1] - g[0]) + abs(q.p[i2] - g[1]))


def _gh_line(res, g) -> str:
    q = _gh_point(res, g).data

    def num(key: str, fmt: str) -> str:
        v = q.get(key)
        return "-" if v is None else format(float(np.real(v)), fmt)
    return (f"| {g[0]:.12f} | {g[1]:.12f} | {num('omega', '.10f')} | {num('l2', '.9e')} | "
            f"{num('derivative_error', '.1e')} | {num('GH', '.1e')} | {num('residual', '.1e')} | "
            f"{q.get('derivatives', '-')}, {q.get('higher_derivatives', '-')} | "
            f"{'yes' if g[2] else 'no'} | {g[3]} |")


def _lpc_summary(res) -> list[str]:
    """One row per LPC branch: where it starts (its GH end: distance to its GH point and
    cycle amplitude there), where and why it ends."""
    n1, n2 = res.params
    s1, s2 = (b - a for a, b in (res.range1, res.range2))
    rows, seen = [], set()
    for c in res.curves:
        br = c.branch
        if c.kind != "LPC" or br is None or id(br) in seen:
            continue
        seen.add(id(br))
        i1, i2 = (list(br.param_names).index(n) for n in res.params)
        amp = np.asarray(br.extra["amplitude"], dtype=float)
        g = br.info.get("from_gh", (np.nan, np.nan))
        g1, g2 = json.loads(g) if isinstance(g, str) else g  # str: saved before bifsnn 0a7547b
        d = np.hypot((br.p[:, i1] - g1) / s1, (br.p[:, i2] - g2) / s2)
        j = 0 if amp[0] <= amp[-1] else len(amp) - 1  # the GH end: the smaller cycles
        o = len(amp) - 1 - j
        rows.append(f"| ({g1:.6f}, {g2:.6f}) | {br.info.get('switch_row', '-')} | {len(br)} | "
                    f"({br.p[j, i1]:.6f}, {br.p[j, i2]:.6f}): {d[j]:.2e}, {amp[j]:.3g} | "
                    f"{amp.min():.3g} at {d[int(np.argmin(amp))]:.2e} | ({br.p[o, i1]:.6f}, "
                    f"{br.p[o, i2]:.6f}): {amp[o]:.3g} | {br.nit} | {br.message} |")
    if not rows:
        return []
    return ["", "## Fold-of-cycles curves from the GH points", "",
            "One row per computed curve (both directions from the fold of the cycles born at "
            "the Hopf-curve row *switch row*, merged). *GH end*: the end with the smaller "
            f"cycles, its ({n1}, {n2}), box-relative distance to the GH point and cycle "
            "amplitude (L2 over the period, counts; the equilibrium's largest component is "
            "~1500 counts); *smallest cycle*: the least amplitude on the curve and its "
            "distance to the GH point; *Newton iterations*: total over the curve.", "",
            "| from GH | switch row | points | GH end: point, distance, amplitude | smallest "
            "cycle, at distance | other end, amplitude | Newton iterations | how it ended |",
            "|---|---|---|---|---|---|---|---|", *rows]


def write_markdown(res, path: Path, cmd: str, cpu_s: float, wall_s: float) -> None:
    """The numbers of the map."""
    n1, n2 = res.params
    L = ["# Coexistence map of the reduced ODE in (p_EI, tau_EE)", "",
         f"Generated by `analyses/coexistence_map.py` (`{cmd}`); {wall_s:.0f} s wall, "
         f"{cpu_s:.0f} s CPU on a shared machine (2 cores, load ~10).", "",
         "![coexistence map](coexistence_map.png)", "",
         "Reduced ODE with the smooth bin rule, default NetworkParams except p_EI and tau_EE. "
         "Curves: the Hopf curve through the Hopf points of the p_EI branch at tau_EE = 1.4 ms "
         "(solid where supercritical, l1 < 0; dashed where subcritical), the fold-of-cycles "
         "(LPC) curves started at the Bautin (GH) points, fold (LP) curves if any. Regions: "
         "the parts of the box the curves enclose (raster of "
         f"{res.labels.shape[0]} x {res.labels.shape[1]}); each is integrated at its deepest "
         "point from the equilibrium (kicked by 1e-3 along its leading eigenvector), from "
         "three phases of the cycle of the nearest LPC point and from the oscillation found "
         "at the nearest earlier sample. A region is *confirmed* when two distinct "
         "attractors were reached, *single* when every run reached the same one, "
         "*unconfirmed* when a run did not settle.", "",
         "## Bautin (GH) points", "",
         "Located by Newton on the Hopf system plus l1 = 0 with exact second and third "
         "derivatives (sympy); l2 from exact d3f, its fourth and fifth derivatives by Ridders' "
         "differences of it (error estimate: Ridders' own, on those forms). *l1 test*: the "
         "scaled l1 at the located point (0 in exact arithmetic); *residual*: Newton's final "
         "residual of the whole system.", "",
         f"| {n1} | {n2} (ms) | omega (rad/ms) | l2 | Ridders est. | l1 test | residual | "
         "derivatives | located | on curve |", "|---|---|---|---|---|---|---|---|---|---|"]
    L += [_gh_line(res, g) for g in res.gh]
    L += ["", "## Curves", "", f"| # | kind | started at | points | {n1} | {n2} | end |",
          "|---|---|---|---|---|---|---|"]
    L += [_curve_line(k, c) for k, c in enumerate(res.curves)]
    L += _lpc_summary(res)
    seen, uz = set(), []
    for k, c in enumerate(res.curves):
        if c.kind == "LPC" and c.branch is not None and id(c.branch) not in seen:
            seen.add(id(c.branch))
            uz += [(k, u) for u in c.branch.points("UZ")]
    if uz:
        L += ["", f"Fold-of-cycles curves crossing the lines (UZ points located on the curves, "
              f"event '{n1}'):", "", f"| curve # | {n1} | {n2} (ms) | period (ms) | located |",
              "|---|---|---|---|---|"]
        names = list(res.curves[uz[0][0]].branch.param_names)
        i1, i2 = names.index(n1), names.index(n2)
        L += [f"| {k} | {u.p[i1]:.6f} | {u.p[i2]:.8f} | {u.data.get('period', float('nan')):.6f}"
              f" | {'yes' if u.located else 'no'} |" for k, u in uz]
    L += ["", "## Regions", "", f"| region | area (fraction of box) | bounded by curves | "
          f"sample ({n1}, {n2}) | equilibrium (unstable eigenvalues) | verdict | "
          "attractors reached |", "|---|---|---|---|---|---|---|"]
    for r in res.regions:
        s = r.sample
        L.append(f"| {r.label} | {r.area_fraction:.4f} | {', '.join(map(str, r.bounded_by))}"
                 f" | ({s.p1:.4f}, {s.p2:.3f}) | {'found' if s.eq_found else 'not found'} "
                 f"({s.eq_unstable}) | **{r.status}** | {_sample_text(s)} |")
    for ln in res.lines:
        L += ["", f"## Line {n1} = {ln.value1}", "",
              "Curve crossings (curve #): " + (", ".join(
                  f"{x:.4f} ({k}, {res.curves[k].kind})" for x, k in ln.crossings) or "none"),
              "", f"Coexistence confirmed at the samples {n2} in: " + (", ".join(
                  f"[{a:.3f}, {b:.3f}]" for a, b in ln.intervals()) or "none") +
              " (the true extent reaches at most to the neighbouring samples).", "",
              f"| {n2} | equilibrium unstable eigenvalues | coexistence | attractors |",
              "|---|---|---|---|"]
        L += [f"| {v:.3f} | {s.eq_unstable} | {'yes' if s.coexistence else 'no'} | "
              f"{_sample_text(s)} |" for v, s in zip(ln.values2, ln.samples, strict=True)]
    L += ["", "## Messages", ""] + [f"- {m}" for m in res.messages or ["none"]]
    atomic_write_text(path, "\n".join(L) + "\n")


def _plain(o):
    return o.tolist() if hasattr(o, "tolist") else str(o)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=float, nargs="*", default=[0.8, 1.0],
                    help="p_EI values of the line scans")
    ap.add_argument("--line-points", type=int, default=13)
    ap.add_argument("--t-ms", type=float, default=1200.0, help="length of each integration")
    ap.add_argument("--raster", type=int, default=240)
    ap.add_argument("--ntst", type=int, default=20, help="collocation mesh intervals")
    ap.add_argument("--lpc-steps", type=int, default=100,
                    help="continuation steps per direction of every LPC curve")
    ap.add_argument("--lpc-ds-max", type=float, default=600.0,
                    help="largest LPC curve step (absolute norm: the cycle's L2 size in counts)")
    ap.add_argument("--no-lpc", action="store_true",
                    help="skip the LPC curves (regions from the Hopf curve alone)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--figures", type=Path, default=FIGURES)
    args = ap.parse_args(argv)
    t0, c0 = time.perf_counter(), time.process_time()
    inner = tuple(v for v in args.lines if BOX[0][0] < v < BOX[0][1])  # LPC curves: UZ there
    start = network_problem(NetworkParams(), "p_EI")
    if not start.success:
        print(f"no equilibrium at the start: {start.message}", file=sys.stderr)
        return 1
    with blas_single_thread():
        res = coexistence_map(
            start.problem, "p_EI", "tau_EE", *BOX,
            equilibrium_options=start.options(ds_frac=0.005, ds_max_frac=0.05,
                                              max_steps=1000),
            curve_options=start.options(ds_frac=0.005, ds_max_frac=0.1, max_steps=400),
            lpc_options=ContinuationOptions(
                ds=20.0, ds_max=args.lpc_ds_max, max_steps=args.lpc_steps, both_sides=True,
                detect_bifurcations=False, detect_codim2=False,  # tests: ~40 % of a step
                events={"param": inner} if inner else {}),
            cycle_options=ContinuationOptions(ds=0.02, ds_max=0.2, max_steps=150),
            collocation=Collocation(ntst=args.ntst), lines=args.lines,
            line_points=args.line_points, t_end=args.t_ms, t_window=300.0,
            raster=args.raster, branch_dir=args.out / "branches", lpc_from_gh=not args.no_lpc,
            integrator=scipy_integrator(start.problem, rtol=1e-6, atol=1e-6),
            log=lambda s: print(f"[{time.perf_counter() - t0:6.0f} s] {s}", flush=True))
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "map.json", json.dumps(res.to_json(), default=_plain,
                                                        indent=1))
    args.figures.mkdir(parents=True, exist_ok=True)
    stem = args.figures / "coexistence_map"
    plot_coexistence_map(res, stem, labels=("p_EI (I -> E connection probability)",
                                            "tau_EE (ms)"),
                         title="Reduced ODE: where a cycle coexists with the equilibrium")
    cmd = " ".join(["python analyses/coexistence_map.py", *(sys.argv[1:] if argv is None
                                                            else argv)])
    write_markdown(res, stem.with_suffix(".md"), cmd.strip(), time.process_time() - c0,
                   time.perf_counter() - t0)
    print(f"wrote {stem}.png/.pdf/.md; regions: " + ", ".join(
        f"{r.label}: {r.status}" for r in res.regions) + "; lines: " + "; ".join(
        f"{ln.value1}: {ln.intervals()}" for ln in res.lines))
    return 0 if math.isfinite(res.elapsed_s) else 1


if __name__ == "__main__":
    raise SystemExit(main())
