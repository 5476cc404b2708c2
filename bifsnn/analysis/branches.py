"""Continuation of the network's reduced ODE for :func:`bifsnn.analysis.analyse_network` and
the translation of its branches into verification records (the only module that reads
continuation objects; the rest of the analysis works on :mod:`bifsnn.analysis.verify`
records).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from bifsnn.analysis.verify import BranchRecord, Prediction, SpecialPointRecord, VerifyOptions

__all__ = ["continue_network", "cycle_peaks_hz", "records_from_continuation"]

_CYCLE_DS = 0.1
_CYCLE_DS_MAX = 2.0


def continue_network(model: Any, param: str, p_range: tuple[float, float], x0: np.ndarray,
                     scale: float, o: Any, side: float, say: Callable[[str], None],
                     messages: list[str], timings: dict[str, float]) -> dict[str, Any]:
    """Equilibria both ways from ``x0``; cycles from the first (or every) Hopf point; the
    period-doubled cycle from each continued cycle's first PD point.  Failures are recorded
    in ``messages`` and in the branches' ``success``/``message``, never raised."""
    from bifsnn.continuation import ContinuationOptions, continue_equilibria

    lo, hi = p_range
    t0 = time.perf_counter()
    problem = model.ode_problem(param, x0=x0)
    eqs = []
    for direction in (+1, -1):
        opts = ContinuationOptions(ds=0.005 * scale, ds_max=0.05 * scale, ds_min=1e-8 * scale,
                                   p_min=lo, p_max=hi, max_steps=o.max_steps,
                                   direction=direction)
        br = continue_equilibria(problem, opts)
        eqs.append(br)
        sps = ", ".join(f"{s.type} {s.param:.4g}" for s in br.special_points if s.type != "EP")
        say(f"equilibria ({direction:+d}): {len(br)} points, {sps or 'no special points'}; "
            f"{br.message}")
    timings["equilibria"] = time.perf_counter() - t0

    cycles: list[tuple[str, str, Any]] = []  # (label, kind, branch)
    if o.cycles != "none":
        t0 = time.perf_counter()
        hopfs = sorted({round(sp.param, 9): (br, sp) for br in eqs
                        for sp in br.points("H")}.items())
        if o.cycles == "first":
            hopfs = hopfs[:1]
        for p_h, (br, sp) in hopfs:
            cb = _cycle_from_hopf(problem, br, sp, p_range, o, side, say, messages)
            if cb is None:
                continue
            cycles.append((f"cycle from H {p_h:.4g}", "stable_cycle", cb))
            pds = cb.special("PD")
            if o.period_doubling and pds:
                pd = pds[0]
                cb2 = _cycle_from_pd(problem, cb, pd, p_range, o, side, say, messages)
                if cb2 is not None:
                    cycles.append((f"period-doubled cycle from PD {pd.p:.4g}",
                                   "period_doubled_cycle", cb2))
        timings["cycles"] = time.perf_counter() - t0
    return {"problem": problem, "equilibria": eqs, "cycles": cycles,
            "targets": {lab: getattr(cb, "target", "") for lab, _k, cb in cycles}}


def _cycle_from_hopf(problem, br, sp, p_range, o, side, say, messages):
    from bifsnn.continuation import hopf_data
    from bifsnn.continuation.periodic import cycle_from_hopf_data

    try:
        system, start = cycle_from_hopf_data(problem, hopf_data(br, sp), ntst=o.ntst, ncol=4)
    except Exception as exc:  # numerical failure: report and go on
        messages.append(f"cycle from H {sp.param:.6g} could not start: {exc}")
        say(messages[-1])
        return None
    return _chunked(system, start, p_range, o, side, o.cycle_steps, o.ntst,
                    f"cycles from H {sp.param:.4g}", say)


def _cycle_from_pd(problem, cb, pd, p_range, o, side, say, messages):
    from bifsnn.continuation.periodic import switch_at_pd

    try:
        start = switch_at_pd(cb.system, cb, pd)
    except Exception as exc:
        messages.append(f"period-doubled cycle from PD {pd.p:.6g} could not start: {exc}")
        say(messages[-1])
        return None
    return _chunked(cb.system, start, p_range, o, side, o.pd_steps, 2 * o.ntst,
                    f"period-doubled cycles from PD {pd.p:.4g}", say)


def _chunked(system, start, p_range, o, side, max_steps, ntst, label, say):
    """``continue_cycles`` in chunks of ``o.chunk_steps`` (progress on ``say``), restarted
    from the last point; with ``o.until_unstable`` it stops 2 side distances after the branch
    lost stability (its stated target), else at the end of the range."""
    from bifsnn.continuation.periodic import CycleBranch, CycleOptions, continue_cycles

    lo, hi = p_range
    pts: list[Any] = []
    sps: list[Any] = []
    cur, ds, steps = start, _CYCLE_DS, 0
    complete, message = False, ""
    t0 = time.perf_counter()
    while True:
        n = min(o.chunk_steps, max_steps - steps)
        if n <= 0:
            complete, message = False, (f"max_steps={max_steps} reached at {pts[-1].p:.4g} "
                                        f"inside [{lo:g}, {hi:g}]")
            break
        cb = continue_cycles(system, cur, CycleOptions(
            max_steps=n, p_min=lo, p_max=hi, ntst=ntst, ncol=4, ds=ds, ds_max=_CYCLE_DS_MAX))
        offset = len(pts) - (1 if pts else 0)
        new = cb.points[1:] if pts else cb.points
        for s in cb.special_points:
            if s.kind == "H" and pts == [] and s.index == 0:
                continue
            if not any(s.kind == q.kind and abs(s.p - q.p) < 1e-7 for q in sps):
                sps.append(replace(s, index=s.index + offset))
        pts += new
        steps += n
        stab = "stable" if pts and pts[-1].stable else "unstable"
        found = ", ".join(f"{s.kind} {s.p:.4g}" for s in sps) or "none"
        say(f"{label}: {len(pts)} points up to {pts[-1].p:.4g} ({stab}), special points: "
            f"{found}  [{time.perf_counter() - t0:.0f} s]" if pts else f"{label}: no point")
        if not cb.message.startswith("max_steps"):  # (max_steps also has success False)
            complete, message = bool(cb.success), cb.message
            break
        if o.until_unstable and _past_loss(pts, 2 * side):
            complete, message = True, (f"target reached: {2 * side:.3g} past the loss of "
                                       f"stability")
            break
        if len(pts) < 2:
            complete, message = False, "no progress"
            break
        cur = pts[-1]
        direction = 1.0 if pts[-1].p >= pts[-2].p else -1.0
        ds = direction * (abs(pts[-1].ds) if math.isfinite(pts[-1].ds) and pts[-1].ds
                          else _CYCLE_DS)
    out = CycleBranch(pts, sps, complete, message, cb.n, cb.options)
    out.system = system  # for switch_at_pd
    out.target = ("until 2 side distances past the loss of stability" if o.until_unstable
                  else "the whole range")
    return out


def _past_loss(pts: list[Any], dist: float) -> bool:
    stab = [bool(p.stable) for p in pts]
    for j in range(1, len(stab)):
        if stab[j - 1] and not stab[j]:
            return all(not s for s in stab[j:]) and abs(pts[-1].p - pts[j].p) >= dist
    return False


# ------------------------------------------------------------------------ cycle observables
def cycle_peaks_hz(model: Any, pt: Any, n_e: int, n_i: int, dt_ms: float, opts: VerifyOptions
                   ) -> tuple[np.ndarray, float, float, float, float]:
    """MFE peaks of one cycle as the SNN's are measured (1 ms smoothing, same thresholds):
    (peak heights over one period in Hz per neuron, mean E rate, mean I rate (Hz), max and
    min of the raw E rate (Hz))."""
    from bifsnn.continuation.periodic.mesh import node_quadrature_weights, node_times
    from bifsnn.network.observables import mfe_peaks, smooth_rate

    t = node_times(pt.tm, pt.ncol) * pt.T
    rates = np.array([model.firing_rates(u) for u in pt.U])  # spikes/ms
    w = node_quadrature_weights(pt.tm, pt.ncol)
    w = w / w.sum()
    fe_hz, fi_hz = rates[:, 0] * 1000 / n_e, rates[:, 1] * 1000 / n_i
    m = max(8, int(round(pt.T / dt_ms)))
    grid = np.arange(3 * m) * (pt.T / m)
    prof = np.interp(grid % pt.T, t, fe_hz, period=pt.T)
    sm = smooth_rate(prof, pt.T / m)
    pk = mfe_peaks(sm, pt.T / m, opts.mfe_min_separation_ms, opts.mfe_min_height_hz)
    mid = (pk.indices >= m) & (pk.indices < 2 * m)
    return (np.asarray(pk.heights)[mid], float(w @ fe_hz), float(w @ fi_hz),
            float(fe_hz.max()), float(fe_hz.min()))


def _intervals(p: np.ndarray, stable: np.ndarray) -> tuple[tuple[float, float], ...]:
    out, j = [], 0
    while j < len(p):
        if stable[j]:
            k = j
            while k + 1 < len(p) and stable[k + 1]:
                k += 1
            if k > j:
                out.append((float(min(p[j:k + 1])), float(max(p[j:k + 1]))))
            j = k + 1
        else:
            j += 1
    return tuple(out)


def records_from_continuation(model: Any, param: str, params: Any, cont: dict[str, Any],
                              p_range: tuple[float, float], vo: VerifyOptions):
    """Branch and special-point records, ``predict(value)``, curves for the diagram and
    ``states(value)`` (the nearest equilibrium state, to start ODE integrations)."""
    n_e, n_i = params.N_E, params.N_I
    branches: list[BranchRecord] = []
    special: list[SpecialPointRecord] = []
    eq_curves = []
    eq_data = []
    for k, br in enumerate(cont["equilibria"]):
        pv = np.asarray(br.param_values, float)
        rates = np.array([model.with_param_value(param, float(v)).firing_rates(x)
                          for x, v in zip(br.x, pv, strict=True)])
        hz = rates * 1000 / np.array([n_e, n_i])
        stable = np.asarray(br.stable, bool)
        eq_data.append((pv, hz, stable, np.asarray(br.x)))
        sps = []
        for sp in br.special_points:
            if sp.type == "EP":
                continue
            per = 2 * math.pi / sp.data["omega"] if "omega" in sp.data else math.nan
            sps.append((sp.type, sp.param, float(hz[sp.index, 0])))
            if not any(s.type == sp.type and abs(s.value - sp.param) < 1e-6 for s in special):
                special.append(SpecialPointRecord(sp.type, sp.param, "equilibria", per))
        eq_curves.append({"p": pv, "rate_e_hz": hz[:, 0], "stable": stable, "special": sps,
                          "direction": +1 if k == 0 else -1})
    ok = all(br.success for br in cont["equilibria"])
    branches.append(BranchRecord(
        "equilibria", "EP",
        tuple(iv for pv, _hz, st, _x in eq_data for iv in _intervals(pv, st)), ok,
        "; ".join(br.message for br in cont["equilibria"])))

    cyc = []
    cycle_curves = []
    for label, kind, cb in cont["cycles"]:
        rows = []
        for pt in cb.points:
            h, re, ri, fmax, fmin = cycle_peaks_hz(model.with_param_value(param, pt.p), pt,
                                                   n_e, n_i, 0.1, vo)
            dm = float(np.median(np.abs(np.diff(np.concatenate([h, h[:1]]))))) \
                if h.size >= 2 else 0.0
            rows.append((pt.p, pt.T, re, ri, float(h.max()) if h.size else fmax, dm,
                         bool(pt.stable), h))
        p = np.array([r[0] for r in rows])
        stable = np.array([r[6] for r in rows], bool)
        cyc.append((label, kind, rows))
        for s in cb.special_points:
            if s.kind in ("LPC", "PD", "NS") and not any(
                    q.type == s.kind and abs(q.value - s.p) < 1e-6 for q in special):
                special.append(SpecialPointRecord(s.kind, float(s.p), label, float(s.T)))
        branches.append(BranchRecord(label, "PO", _intervals(p, stable), bool(cb.success),
                                     cb.message))
        cycle_curves.append({"label": label, "kind": kind, "p": p, "stable": stable,
                             "peaks_hz": [r[7] for r in rows],
                             "rate_e_hz": np.array([r[2] for r in rows]),
                             "special": [(s.kind, float(s.p)) for s in cb.special_points]})
    special.sort(key=lambda s: s.value)

    def predict(v: float) -> list[Prediction]:
        out: list[Prediction] = []
        any_eq = False
        for pv, hz, st, _x in eq_data:
            for j in range(len(pv) - 1):
                a, b = pv[j], pv[j + 1]
                if min(a, b) <= v <= max(a, b) and a != b:
                    any_eq = True
                    if st[j] and st[j + 1]:
                        w = (v - a) / (b - a)
                        r = (1 - w) * hz[j] + w * hz[j + 1]
                        if not any(abs(q.rate_e_hz - r[0]) <= 1e-3 * max(1.0, r[0])
                                   for q in out):
                            out.append(Prediction("equilibria", "stable_equilibrium", v,
                                                  float(r[0]), float(r[1])))
        for label, kind, rows in cyc:
            for j in range(len(rows) - 1):
                r0, r1 = rows[j], rows[j + 1]
                a, b = r0[0], r1[0]
                if min(a, b) <= v <= max(a, b) and a != b and r0[6] and r1[6]:
                    w = (v - a) / (b - a)
                    q = [(1 - w) * x0 + w * x1 for x0, x1 in zip(r0[1:6], r1[1:6], strict=True)]
                    out.append(Prediction(label, kind, v, q[1], q[2], q[0], q[3],
                                          q[4] if kind == "period_doubled_cycle" else 0.0))
                    break
        if not out and any_eq:
            out.append(Prediction("unstable equilibrium, no stable cycle continued",
                                  "oscillation", v))
        return out

    def states(v: float) -> np.ndarray:
        best, dist = None, math.inf
        for pv, _hz, _st, x in eq_data:
            j = int(np.argmin(np.abs(pv - v)))
            if abs(pv[j] - v) < dist:
                best, dist = x[j], abs(pv[j] - v)
        return np.array(best, float)

    return branches, special, predict, eq_curves, cycle_curves, states
