"""Diagnostics of the regime-weighted coloured closure (issue 11, branch closure4).

Three measurements, each printed and written to ``figures/closure_diagnostics.json``:

* ``weight``: does the regime weight's fast feedback move the Hopf points?  At the equilibria
  of "coloured-regime", the leading eigenvalue of the Jacobian (a) as it is, (b) with the
  weight frozen at its equilibrium value (no feedback through z), (c) with z replaced by a
  low-pass filtered copy, d zeta_q / dt = (z_q(x) - zeta_q) / tau_w, for several tau_w (the
  augmented Jacobian [[J_frozen, B], [C / tau_w, -1 / tau_w]], B = df/dzeta from the
  ``regime_shift`` derivative row by row, C = dz/dx).  Scans p_EI at tau_EE = 1.4 ms and
  tau_EE at p_EI = 0.8; the Hopf estimate is the linear zero of max Re between scan points.
* ``grid``: equilibrium rate errors against the SNN with finer bins (dv 2, 1), a shorter
  window (h 0.05 ms) and a sharper within-bin rule ("coloured-regime"), and the paper's and
  the conditional closure at dv 4 and 1, at five cells.
* ``size``: SNN (seed 0, 1 s after 100 ms) and the closures' equilibria for networks scaled
  by k = 1, 4, 16 (N -> k N, S -> S / k): per-neuron E rate and the SNN's synchrony ratio.

Usage: ``nice -n 10 python analyses/closure_diagnostics.py [weight grid size]``
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from bifsnn import NetworkParams
from bifsnn.network.results import atomic_write_text
from bifsnn.reduction import MarkovModelDef, find_equilibrium

OUT = Path(__file__).resolve().parent.parent / "figures" / "closure_diagnostics.json"
SNN_CACHE = OUT.parent / "fidelity_snn.json"
TAU_W_MS = (0.0, 1.0, 4.5, 10.0, 20.0, math.inf)  # 0: as it is; inf: frozen weight


def regime_z(d: MarkovModelDef, x: np.ndarray, q: int) -> float:
    """z = (M - V*) / s_V of population q (0 = E, 1 = I) at state x (MODEL.md 5e)."""
    p = d.params
    pop = "EI"[q]
    mE, vE = x[d.moment_index("m", pop + "E")], x[d.moment_index("v", pop + "E")]
    mI, vI = x[d.moment_index("m", pop + "I")], x[d.moment_index("v", pop + "I")]
    SE, SI, tE, tI = p.S(pop + "E"), p.S(pop + "I"), p.tau(pop + "E"), p.tau(pop + "I")
    gl = 0.0 if p.tau_m is None else 1.0 / p.tau_m
    k = SI * mI / (tI * (p.M + p.M_r)) + gl
    var_rate = (p.lambda_ext + 2 * tE / (1 + tE * k) * SE**2 * vE / tE**2
                + 2 * tI / (1 + tI * k) * SI**2 * vI / tI**2)
    a_M = p.lambda_ext + SE * mE / tE - SI * mI / tI - gl * p.M
    return -a_M / math.sqrt(k * var_rate / 2 + 1e-18)


def _rows_of(d: MarkovModelDef, q: int) -> np.ndarray:
    """Rows of f that depend on population q's weight: its bins and the moments it drives."""
    pop = "EI"[q]
    rows = list(range(d.slice("n", pop).start, d.slice("A", pop).stop))
    for pw in (p for p in ("EE", "EI", "IE", "II") if p[1] == pop):
        rows += [d.moment_index("m", pw), d.moment_index("v", pw)]
    return np.array(rows)


def leading_eigenvalues(d: MarkovModelDef, x: np.ndarray) -> list[float]:
    """max Re eigenvalue for every tau_w of TAU_W_MS at the equilibrium x of definition d."""
    m = d.compile()
    n = x.size
    eps = 1e-5
    dfdz0 = (d.replace(regime_shift=eps).compile().rhs(x)
             - d.replace(regime_shift=-eps).compile().rhs(x)) / (2 * eps)
    B, C = np.zeros((n, 2)), np.zeros((2, n))
    for q in (0, 1):
        rows = _rows_of(d, q)
        B[rows, q] = -dfdz0[rows]  # weight Phi(z - z0): d/dz = -d/dz0
        for pop in "EI":
            for i in (d.moment_index(s, "EI"[q] + pop) for s in ("m", "v")):
                h = 1e-6 * max(1.0, abs(x[i]))
                xp, xm = x.copy(), x.copy()
                xp[i] += h
                xm[i] -= h
                C[q, i] = (regime_z(d, xp, q) - regime_z(d, xm, q)) / (2 * h)
    J = m.jacobian(x)
    J_frozen = J - B @ C
    out = []
    for tw in TAU_W_MS:
        if tw == 0.0:
            ev = np.linalg.eigvals(J)
        elif math.isinf(tw):
            ev = np.linalg.eigvals(J_frozen)
        else:
            ev = np.linalg.eigvals(np.block([[J_frozen, B], [C / tw, -np.eye(2) / tw]]))
        out.append(float(ev.real.max()))
    return out


def _hopf_estimates(values: list[float], re: np.ndarray) -> list[list[float]]:
    """Per tau_w column, the parameter values where max Re changes sign (linear zeros)."""
    est = []
    for c in range(re.shape[1]):
        r = re[:, c]
        est.append([round(float(values[i] - r[i] * (values[i + 1] - values[i]) / (r[i + 1] - r[i])),
                          4) for i in range(len(r) - 1) if r[i] * r[i + 1] < 0])
    return est


def weight_feedback() -> dict[str, Any]:
    """Leading eigenvalue against tau_w along the two default scans (see the docstring)."""
    res: dict[str, Any] = {"tau_w_ms": [str(t) for t in TAU_W_MS]}
    scans = {"p_EI": ([1.0, 0.98, 0.96, 0.94, 0.92, 0.9, 0.88, 0.86, 0.84, 0.82],
                      {"tau_EE": 1.4}),
             "tau_EE": ([2.8, 2.7, 2.6, 2.5, 2.4, 2.3, 2.2, 2.1, 2.0], {"p_EI": 0.8})}
    for param, (values, fixed) in scans.items():
        x, table = None, []
        for v in values:
            d = MarkovModelDef(params=NetworkParams(**fixed, **{param: v}),
                               closure="coloured-regime")
            eq = find_equilibrium(d, x0=x)
            if not eq.success:
                eq = find_equilibrium(d)
            x = eq.x
            re = leading_eigenvalues(d, x)
            table.append(re)
            print(f"{param} {v:.3f} E {eq.rate_e_hz:6.2f} Hz z_E {regime_z(d, x, 0):+.2f} max Re "
                  + " ".join(f"{r:+.4f}" for r in re), flush=True)
        res[param] = {"values": values, "max_re": table,
                      "hopf": _hopf_estimates(values, np.array(table))}
        print(f"{param} Hopf per tau_w {res['tau_w_ms']}: {res[param]['hopf']}", flush=True)
    return res


def _snn_rates(cell: tuple[float, float]) -> tuple[float, float]:
    runs = json.loads(SNN_CACHE.read_text())["cells"][f"{cell[0]:g},{cell[1]:g}"]["snn"]
    return (float(np.mean([r["rate_e_hz"] for r in runs])),
            float(np.mean([r["rate_i_hz"] for r in runs])))


def grid_convergence() -> dict[str, Any]:
    """E / I rate errors of the closures' equilibria under finer numerics (five cells)."""
    variants = {"coloured-regime": {"dv 4": {}, "dv 2": {"dv": 2.0}, "dv 1": {"dv": 1.0},
                                    "h 0.05": {"h": 0.05},
                                    "eps 0.05": {"eps": 0.05, "h_min": 0.005}},
                "paper": {"dv 4": {}, "dv 1": {"dv": 1.0}},
                "conditional": {"dv 4": {}, "dv 1": {"dv": 1.0}}}
    res: dict[str, Any] = {}
    for cell in ((0.7, 3.0), (0.8, 4.0), (0.9, 3.0), (0.95, 3.0), (1.0, 3.0)):
        se, si = _snn_rates(cell)
        row = {}
        for closure, kws in variants.items():
            for name, kw in kws.items():
                eq = find_equilibrium(MarkovModelDef(
                    params=NetworkParams(p_EI=cell[0], tau_EE=cell[1]), closure=closure, **kw))
                row[f"{closure}, {name}"] = [round(100 * (eq.rate_e_hz / se - 1), 1),
                                             round(100 * (eq.rate_i_hz / si - 1), 1), eq.success]
        res[f"{cell[0]:g},{cell[1]:g}"] = row
        print(cell, row, flush=True)
    return res


def size_scaling() -> dict[str, Any]:
    """SNN against the closures' equilibria for networks k = 1, 4, 16 times larger."""
    from bifsnn.network.observables import summary, synchrony_ratio
    from bifsnn.network.snn import simulate_snn

    res: dict[str, Any] = {}
    for cell in ((0.9, 1.4), (0.95, 1.4), (1.0, 1.4), (0.8, 3.0), (0.9, 3.0), (1.0, 3.0)):
        rows = {}
        for k in (1, 4, 16):
            p = NetworkParams().replace(p_EI=cell[0], tau_EE=cell[1]).scaled(k)
            s = summary(simulate_snn(p, t_ms=1100.0, seed=0, progress=False),
                        transient_ms=100.0)
            row = {"snn_e_hz": round(s["rate_e_hz"], 2),
                   "snn_sync": round(synchrony_ratio(s["ssi_e"], s["rate_e_hz"], p.N_E, p.dt),
                                     2)}
            for cl in ("paper", "conditional", "coloured-regime"):
                eq = find_equilibrium(MarkovModelDef(params=p, closure=cl))
                row[cl] = [round(eq.rate_e_hz, 2), "stable" if eq.stable else "unstable"]
            rows[k] = row
        res[f"{cell[0]:g},{cell[1]:g}"] = rows
        print(cell, rows, flush=True)
    return res


def main() -> None:
    """Run the chosen diagnostics and merge them into figures/closure_diagnostics.json."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("parts", nargs="*", default=["weight", "grid", "size"],
                    choices=["weight", "grid", "size"])
    args = ap.parse_args()
    funcs = {"weight": weight_feedback, "grid": grid_convergence, "size": size_scaling}
    for part in args.parts:
        result = funcs[part]()
        out = json.loads(OUT.read_text()) if OUT.exists() else {}  # other parts kept
        out[part] = result
        atomic_write_text(OUT, json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
