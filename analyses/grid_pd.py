"""Period-doubling boundary of the reduced ODE against its voltage grid (issue 11, branch
``closure8``; results in figures/fidelity_closures.md, "Voltage grid and the period-doubling
boundary").

Default mode, per bin width ``--dv``: the p_EI cycle branch of the default tau_EE is followed
by natural continuation in p_EI (collocation, ``--ntst`` intervals, each cycle Newton-corrected
at fixed p_EI from the nearest one computed; the first from a simulation started at the
default equilibrium), and its Floquet multiplier of most negative real part, mu(p_EI), is
recorded on ``--p-scan``.  Then mu = -0.5 (where the alternation index of AR(1)-like peak
heights, (1 - mu) / 2, crosses the verification's 0.75) and mu = -1 (the PD point) are located
by regula falsi to ``--tol`` in p_EI.  ``--scale k`` takes the network k times larger (N k,
S / k: less input noise, a different deterministic limit).

``--decay ode|map``: mu from the alternating decay of peak heights in runs of the ODE or of
the fixed-window reference map (which has no exact cycles).  ``--markov P ...``: the
alternation index of the neuron-level Markov model (with ``--sde``: of the paper closure's
finite-size-noise SDE on bins of the first ``--dv``) at those p_EI, ``--seeds`` x ``--t-ms``.
CPU seconds are printed (the machine is shared).

Usage: ``nice -n 10 python analyses/grid_pd.py --dv 4 2 1 [--scale 4] [--out FILE.json]``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np


def _most_negative(mu: np.ndarray) -> float:
    """Real part of the Floquet multiplier of most negative real part."""
    return float(np.min(np.real(mu)))


class _Branch:
    """Cycles of one model in p_EI, each corrected from the nearest one computed so far."""

    def __init__(self, model: Any, p_start: float, ntst: int) -> None:
        from bifsnn.continuation.periodic import cycle_from_simulation
        from bifsnn.reduction import find_equilibrium

        self.problem = model.ode_problem("p_EI")
        self.k = int(self.problem.param)
        self.ntst = ntst
        eq = find_equilibrium(model)
        sol = cycle_from_simulation(self._system(p_start), eq.x, p_start, t_transient=400.0,
                                    t_record=60.0, ntst=ntst, ncol=4, method="LSODA",
                                    rtol=1e-6, atol=1e-8)
        if not sol.success:
            raise RuntimeError(f"no cycle at p_EI = {p_start}: {sol.message}")
        self.cycles: dict[float, Any] = {}
        self._keep(p_start, sol)

    def _system(self, p: float) -> Any:
        from bifsnn.continuation.periodic import cycle_system

        pv = np.asarray(self.problem.p0, float).copy()
        pv[self.k] = p
        return cycle_system(self.problem, pv, self.k)

    def _keep(self, p: float, sol: Any) -> None:
        self.cycles[p] = sol

    def mu(self, p: float) -> float:
        """Most negative real Floquet multiplier of the cycle at p_EI = p."""
        from bifsnn.continuation.periodic import solve_cycle

        if p in self.cycles:
            return _most_negative(self.cycles[p].floquet.multipliers)
        near = min(self.cycles, key=lambda q: abs(q - p))
        c = self.cycles[near]
        sol = solve_cycle(self._system(p), c.tm, c.U, c.T, p, c.ncol, adapt=1)
        if not sol.success:
            raise RuntimeError(f"cycle not converged at p_EI = {p}: {sol.message}")
        self._keep(p, sol)
        return _most_negative(sol.floquet.multipliers)


def _locate(br: Any, target: float, lo: float, hi: float, tol: float) -> float:
    """p_EI where br.mu(p) = target, by regula falsi (Illinois) on a bracket [lo, hi], to
    ``tol`` in p_EI (or |mu - target| < 1e-4)."""
    a, b = lo, hi
    fa, fb = br.mu(a) - target, br.mu(b) - target
    if fa * fb > 0:
        raise RuntimeError(f"mu - {target} does not change sign on [{lo}, {hi}]")
    for _ in range(40):
        c = b - fb * (b - a) / (fb - fa)
        fc = br.mu(c) - target
        if fc * fb < 0:
            a, fa = b, fb
        else:
            fa /= 2.0
        b, fb = c, fc
        if abs(b - a) < tol or abs(fc) < 1e-4:
            return c
    raise RuntimeError(f"no convergence to mu = {target} in 40 steps on [{lo}, {hi}]")


def measure(definition: Any, p_scan: list[float], tol: float, ntst: int) -> dict[str, Any]:
    """mu(p_EI) on ``p_scan`` and the p_EI of mu = -0.5 and mu = -1, with CPU seconds."""
    t0 = time.process_time()
    model = definition.compile()
    br = _Branch(model, p_scan[0], ntst)
    scan = []
    for p in p_scan:
        scan.append((p, round(br.mu(p), 4)))
        if scan[-1][1] < -1.0:
            break
    out: dict[str, Any] = {"n_state": model.n_state, "scan": scan}
    for name, target in (("p_mu_half", -0.5), ("p_pd", -1.0)):
        pairs = [(a, b) for a, b in zip(scan, scan[1:], strict=False)
                 if (a[1] - target) * (b[1] - target) <= 0]
        out[name] = (round(_locate(br, target, pairs[0][0][0], pairs[0][1][0], tol), 4)
                     if pairs else None)
    out["period_ms_at_pd"] = (round(float(br.cycles[min(br.cycles, key=lambda q: abs(
        q - out["p_pd"]))].T), 3) if out["p_pd"] else None)
    out["cpu_s"] = round(time.process_time() - t0, 1)
    out["cycles_solved"] = len(br.cycles)
    return out


def alternation(params: Any, p_values: list[float], seeds: list[int], t_ms: float,
                sde_dv: float | None = None) -> list[dict[str, Any]]:
    """Alternation index (seed mean, as the verification layer computes it: 200 ms dropped)
    of the neuron-level Markov model, or with ``sde_dv`` of the paper closure's finite-size-
    noise SDE on bins of that width, at each p_EI; and mu = 1 - 2 index, the Floquet
    multiplier an AR(1) sequence of peak heights with that index would have."""
    from bifsnn.analysis import Trace, observe
    from bifsnn.network.markov import simulate_markov
    from bifsnn.reduction import MarkovModelDef, find_equilibrium
    from bifsnn.reduction.noise import simulate_sde

    x0 = None
    if sde_dv is not None:
        x0 = find_equilibrium(MarkovModelDef(params=params, dv=sde_dv).compile()).x
    rows = []
    for p in p_values:
        t0 = time.process_time()
        idx = []
        for seed in seeds:
            if sde_dv is None:
                r = simulate_markov(params.replace(p_EI=p), t_ms=t_ms, seed=seed, progress=False)
            else:
                r = simulate_sde(MarkovModelDef(params=params.replace(p_EI=p), dv=sde_dv),
                                 t_ms=t_ms, seed=seed, x0=x0)
            k = 1000.0 / float(r.dt_ms)
            tr = Trace(np.asarray(r.spike_counts_e, float) * k / params.N_E,
                       np.asarray(r.spike_counts_i, float) * k / params.N_I, float(r.dt_ms),
                       params.N_E)
            idx.append(float(observe(tr)["alternation_index"]))
        a = float(np.mean(idx))
        rows.append({"p_EI": p, "alternation_index": [round(x, 3) for x in idx],
                     "mean": round(a, 3), "mu_ar1": round(1 - 2 * a, 3),
                     "cpu_s": round(time.process_time() - t0, 1)})
    return rows


def peak_multiplier(result: Any) -> tuple[float, int]:
    """Multiplier of the alternating decay of MFE peak heights in a deterministic run that
    settles on a period-1 cycle: d_n the successive height differences (peaks of the 1 ms
    smoothed E rate, refined by a parabola through the three samples at each peak), mu the
    least-squares ratio d_(n+1) / d_n over the pairs where |d_n| lies between 20 times the
    settled jitter (the last 15 differences) and 1/20 of the largest difference; with the
    number of pairs used (NaN, 0 when none qualify)."""
    from bifsnn.network.observables import mfe_peaks, smooth_rate

    dt = float(result.dt_ms)
    sm = smooth_rate(np.asarray(result.spike_counts_e, float) / dt, dt)
    ix = np.asarray(mfe_peaks(sm, dt, 9.0, 10.0).indices)
    ix = ix[(ix > 0) & (ix < sm.size - 1)]
    y0, y1, y2 = sm[ix - 1], sm[ix], sm[ix + 1]
    dd = np.diff(y1 - (y0 - y2) ** 2 / (8 * (y0 - 2 * y1 + y2)))
    if dd.size < 20:
        return float("nan"), 0
    floor, big = float(np.std(dd[-15:])), float(np.max(np.abs(dd)))
    i = np.nonzero((np.abs(dd[:-1]) > 20 * floor) & (np.abs(dd[:-1]) < big / 20))[0]
    if i.size == 0:
        return float("nan"), 0
    return float(np.sum(dd[i + 1] * dd[i]) / np.sum(dd[i] ** 2)), int(i.size)


def decay_multipliers(params: Any, dv: float, p_values: list[float], form: str
                      ) -> list[dict[str, Any]]:
    """:func:`peak_multiplier` of 1500 ms runs of the ODE (``form`` "ode") or the reference
    map of fixed windows ("map", the published algorithm) from the default equilibrium."""
    from bifsnn.reduction import MarkovModelDef, find_equilibrium, simulate_map, simulate_ode

    x0 = find_equilibrium(MarkovModelDef(params=params, dv=dv).compile()).x
    sim = simulate_ode if form == "ode" else simulate_map
    rows = []
    for p in p_values:
        r = sim(MarkovModelDef(params=params.replace(p_EI=p), dv=dv), t_ms=1500.0, x0=x0)
        mu, n = peak_multiplier(r)
        rows.append({"p_EI": p, "mu": round(mu, 4), "pairs": n})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dv", type=float, nargs="*", default=[4.0, 2.0, 1.0])
    ap.add_argument("--closure", default="paper")
    ap.add_argument("--scale", type=float, default=1.0, help="network size factor k (N k, S/k)")
    ap.add_argument("--p-scan", type=float, nargs="+", default=[0.77, 0.775, 0.78, 0.785, 0.79,
                                                                0.795, 0.8])
    ap.add_argument("--tol", type=float, default=2e-4)
    ap.add_argument("--ntst", type=int, default=20)
    ap.add_argument("--markov", type=float, nargs="*", default=None,
                    help="instead: the Markov model's alternation index at these p_EI")
    ap.add_argument("--sde", action="store_true",
                    help="with --markov: the paper closure's finite-size-noise SDE on bins "
                         "of the first --dv instead of the Markov model")
    ap.add_argument("--decay", choices=("ode", "map"), default=None,
                    help="instead: multipliers from the decay of peak heights in runs of the "
                         "ODE or the fixed-window map on bins of each --dv, at --p-scan")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--t-ms", type=float, default=1500.0)
    ap.add_argument("--out", type=Path, default=None, help="also write the rows as JSON")
    args = ap.parse_args(argv)
    from bifsnn import NetworkParams
    from bifsnn.reduction import MarkovModelDef

    params = NetworkParams() if args.scale == 1 else NetworkParams().scaled(args.scale)
    rows = []
    if args.markov:
        sde = args.dv[0] if args.sde else None
        name = f"sde dv={sde:g}" if args.sde else "markov"
        r = {"grid": f"{name} k={args.scale:g}",
             "rows": alternation(params, args.markov, args.seeds, args.t_ms, sde)}
        print(json.dumps(r), flush=True)
        rows.append(r)
    for dv in (args.dv if args.decay else []):
        r = {"grid": f"{args.decay} decay dv={dv:g} k={args.scale:g}",
             "rows": decay_multipliers(params, dv, args.p_scan, args.decay)}
        print(json.dumps(r), flush=True)
        rows.append(r)
    for dv in ([] if args.markov or args.decay else args.dv):
        d = MarkovModelDef(params=params, closure=args.closure, dv=dv)
        key = f"{args.closure} dv={dv:g} k={args.scale:g}"
        r = {"grid": key, **measure(d, sorted(args.p_scan), args.tol, args.ntst)}
        rows.append(r)
        print(json.dumps(r), flush=True)
    if args.out:
        from bifsnn.network.results import atomic_write_text

        old = json.loads(args.out.read_text()) if args.out.exists() else {}
        old.update({r["grid"]: r for r in rows})
        atomic_write_text(args.out, json.dumps(old, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
