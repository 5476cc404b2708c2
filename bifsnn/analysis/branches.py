"""Continuation of the network's reduced ODE for :func:`bifsnn.analysis.analyse_network` and
the translation of its branches into verification records (the only module that reads
continuation objects; the rest of the analysis works on :mod:`bifsnn.analysis.verify`
records).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bifsnn.analysis.verify import (
    ALT,
    BranchRecord,
    Prediction,
    SpecialPointRecord,
    VerifyOptions,
    _range_defaults,
    alternation_multiplier,
    locate_multiplier_crossings,
)

__all__ = ["alternation_multiplier_of", "continue_network", "cycle_peaks_hz",
           "records_from_continuation"]

#: A multiplier is real when |Im mu| <= this times max(1, |mu|) (the continuation's rule).
_REAL_TOL = 1e-7
#: An ALT point must be located to within this fraction of the boundary tolerance.
_ALT_TOL_FRACTION = 0.25

_CYCLE_DS = 0.1
_CYCLE_DS_MAX = 2.0
#: First step of the period-doubled branch: the doubled cycle of the default network's
#: subcritical PD (p_EI 0.7868) reaches its fold (0.7828) and comes back past its start in
#: about 40 steps from 0.5 and 50 from 0.1 (same fold, same path).
_PD_DS = 0.5


def continue_network(model: Any, param: str, p_range: tuple[float, float], x0: np.ndarray,
                     scale: float, o: Any, side: float, say: Callable[[str], None],
                     messages: list[str], timings: dict[str, float],
                     on_equilibria: Callable[[list[Any]], None] | None = None
                     ) -> dict[str, Any]:
    """Equilibria both ways from ``x0``; cycles from the first (or every) Hopf point; the
    period-doubled cycle from each continued cycle's first PD point.  ``on_equilibria`` is
    called with the equilibrium branches before the cycles are continued.  Failures are
    recorded in ``messages`` and in the branches' ``success``/``message``, never raised."""
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
    if on_equilibria is not None:
        on_equilibria(eqs)

    cycles: list[tuple[str, str, Any]] = []  # (label, kind, branch)
    if o.cycles != "none":
        t0 = time.perf_counter()
        hopfs = sorted({round(sp.param, 9): (br, sp) for br in eqs
                        for sp in br.points("H") if sp.located}.items())
        for sp in {round(sp.param, 9): sp for br in eqs for sp in br.points("H")
                   if not sp.located}.values():
            say(f"H {sp.param:.4g} is not a confirmed Hopf point ({_why(sp)}): no cycle is "
                "continued from it")
        if o.cycles == "first":
            hopfs = hopfs[:1]
        for p_h, (br, sp) in hopfs:
            cb = _cycle_from_hopf(problem, br, sp, p_range, o, side, say, messages)
            if cb is None:
                continue
            cycles.append((f"cycle from H {p_h:.4g}", "stable_cycle", cb))
            pds = [q for q in cb.specials() if q[0] == "PD" and q[4].located]
            if o.period_doubling and pds:
                cb2 = _cycle_from_pd(problem, cb, pds[0], p_range, o, side, say, messages)
                if cb2 is not None:
                    cycles.append((f"period-doubled cycle from PD {pds[0][1]:.4g}",
                                   "period_doubled_cycle", cb2))
        timings["cycles"] = time.perf_counter() - t0
    return {"problem": problem, "equilibria": eqs, "cycles": cycles,
            "targets": {lab: cb.target for lab, _k, cb in cycles}}


class CycleChain:
    """A cycle branch continued in chunks: the chunks' rows in order (each chunk starts at the
    previous one's end point, which is not repeated)."""

    def __init__(self, chunks: list[Any], complete: bool, message: str, target: str):
        self.chunks, self.complete, self.message, self.target = chunks, complete, message, target
        self.rows = [(c, i) for k, c in enumerate(chunks) for i in range(1 if k else 0, len(c))]

    @property
    def p(self) -> np.ndarray:
        """Parameter value of every row."""
        return np.array([float(c.param_values[i]) for c, i in self.rows])

    @property
    def stable(self) -> np.ndarray:
        """Stability of every row (False where unknown)."""
        return np.array([bool(c.stable[i]) for c, i in self.rows], bool)

    @property
    def multipliers(self) -> list[np.ndarray]:
        """Floquet multipliers of every row (NaN padding dropped)."""
        out = []
        for c, i in self.rows:
            mu = np.asarray(c.eigenvalues[i])
            out.append(mu[np.isfinite(mu)])
        return out

    @property
    def trivial_error(self) -> np.ndarray:
        """|mu - 1| of the multiplier nearest 1 at every row (NaN where not recorded)."""
        return np.array([float(c.extra.get("trivial_error", np.full(len(c), np.nan))[i])
                         for c, i in self.rows])

    def cycle(self, j: int) -> Any:
        """Row ``j`` as a CycleSolution (mesh ``tm``, ``ncol``, nodes ``U``, ``T``, ``p``)."""
        c, i = self.rows[j]
        return c.cycle(i)

    def specials(self) -> list[tuple[str, float, float, Any, Any]]:
        """(type, value, period, chunk, SpecialPoint) of the LPC/PD/NS points, de-duplicated."""
        out: list[tuple[str, float, float, Any, Any]] = []
        for c in self.chunks:
            for sp in c.special_points:
                if sp.type in ("LPC", "PD", "NS") and not any(
                        t == sp.type and abs(v - sp.param) < 1e-7 for t, v, *_ in out):
                    out.append((sp.type, float(sp.param), float(sp.data.get("period", np.nan)),
                                c, sp))
        return out


def _why(sp: Any) -> str:
    """Why a special point is unconfirmed (its message, or 'not located')."""
    why = str(sp.data.get("unconfirmed") or sp.message or "not located")
    return why.removeprefix("unconfirmed: ")


def _cycle_opts(o: Any, p_range: tuple[float, float], n: int, ds: float, direction: int) -> Any:
    from bifsnn.continuation import ContinuationOptions
    from bifsnn.continuation.periodic import CYCLE_DEFAULTS

    return ContinuationOptions(**{**CYCLE_DEFAULTS, "ds": ds, "ds_max": _CYCLE_DS_MAX,
                                  "max_steps": n, "p_min": p_range[0], "p_max": p_range[1],
                                  "direction": direction})


def _cycle_from_hopf(problem, br, sp, p_range, o, side, say, messages):
    from bifsnn.continuation import Collocation, continue_cycles

    def first(opts: Any) -> Any:
        return continue_cycles(br, sp, opts, Collocation(ntst=o.ntst, ncol=4))

    return _chunked(first, p_range, o, side, o.cycle_steps, f"cycles from H {sp.param:.4g}",
                    say, messages)


def _cycle_from_pd(problem, chain, pd, p_range, o, side, say, messages):
    from bifsnn.continuation import continue_cycles

    _t, _v, _T, chunk, sp = pd

    def first(opts: Any) -> Any:  # stops where it comes back to the PD point (see _chunked)
        return continue_cycles(chunk, sp, opts.with_(events={"param": [float(sp.param)]},
                                                    stop_at_events=True))

    return _chunked(first, p_range, o, side, o.pd_steps,
                    f"period-doubled cycles from PD {sp.param:.4g}", say, messages, _PD_DS)


def _chunked(first: Callable[[Any], Any], p_range, o, side, max_steps, label, say, messages,
             ds: float = _CYCLE_DS):
    """One ``continue_cycles`` run of up to ``max_steps`` steps (not restarted in chunks: a
    restart without the tangent can jump between the sheets of a fold).  With
    ``o.until_unstable`` the stated target is 2 side distances of parameter path length past
    the loss of stability (past the next fold when stability was lost at a fold: see
    :func:`_past_loss`), else the end of the range.  A branch that ends on its own (range
    bound, Hopf point, homoclinic approach, period bound) is complete; one that ends on
    max_steps is complete past its target, or when it turned at a fold and came back past
    its start value (it covers its side of the start; e.g. the unstable doubled cycle of a
    subcritical PD folding back), and "stopped early" otherwise.  With ``o.until_unstable``
    the run ends as soon as its target is reached (the progress function stops it).
    Exceptions end the branch with a message (reported, not raised)."""
    target = ("2 side distances (parameter path length) past the loss of stability (past "
              "the next fold when it was lost at a fold), a fold and return past the start, "
              "or the range end" if o.until_unstable else
              "a fold and return past the start, or the range end")
    say(f"{label}: continuing (up to {max_steps} steps, progress every 10)...")
    t0 = time.perf_counter()

    seen_p: list[float] = []
    seen_stable: list[bool] = []
    reached = [False]

    def tick(info: dict) -> None:
        """Progress every 10 steps; ends the run (StopIteration) once the target is reached."""
        if info["step"] % 10 == 0:
            say(f"{label}: step {info['step']}, p = {info['param']:.5g}, period = "
                f"{info['period']:.4g} ms [{time.perf_counter() - t0:.0f} s]")
        seen_p.append(float(info["param"]))
        seen_stable.append(bool(info.get("stable")))
        if o.until_unstable and _past_loss(np.array(seen_p), np.array(seen_stable), 2 * side):
            reached[0] = True
            raise StopIteration

    try:
        cb = first(_cycle_opts(o, p_range, max_steps, ds, 1).with_(progress=tick))
    except Exception as exc:  # numerical failure: report, no branch
        messages.append(f"{label}: {type(exc).__name__}: {exc}")
        say(messages[-1])
        return None
    if len(cb) == 0:
        messages.append(f"{label}: no cycle computed ({cb.message})")
        return None
    chain = CycleChain([cb], False, "", target)
    if cb.status == "stopped" and reached[0]:
        return _finished(chain, target, f"target reached ({cb.message} at "
                         f"{chain.p[-1]:.4g})", label, say, t0)
    returned = cb.status == "stopped" and any(q.type == "UZ" for q in cb.special_points)
    if cb.status == "max_steps" or returned:
        fold = _turned_back(chain.p)
        stab = "" if chain.stable[1:].any() else "; unstable everywhere past its start"
        if not returned and o.until_unstable and _past_loss(chain.p, chain.stable, 2 * side):
            done, message = True, f"target reached ({cb.message}){stab}"
        elif fold is not None:
            lpc = [(v, sp) for t, v, _T, _c, sp in chain.specials()
                   if t == "LPC" and abs(v - fold) <= 1e-3 * max(1.0, abs(fold))]
            what = (f"LPC {lpc[0][0]:.4g}" + ("" if lpc[0][1].located else
                                              f", label unconfirmed: {_why(lpc[0][1])}")
                    if lpc else f"p = {fold:.4g}")
            done = True
            message = (f"turned at a fold ({what}) and came back past its start "
                       f"{chain.p[0]:.4g}: the side of the start it covers is complete "
                       f"({cb.message} at {chain.p[-1]:.4g}){stab}")
        else:
            done = False
            message = (f"{cb.message} at {chain.p[-1]:.4g}, inside [{p_range[0]:g}, "
                       f"{p_range[1]:g}] before the target, with no fold or special point "
                       f"explaining the end{stab}")
    else:
        done, message = bool(cb.success), cb.message
    return _finished(chain, target, message, label, say, t0, complete=done)


def _finished(chain: CycleChain, target: str, message: str, label: str,
              say: Callable[[str], None], t0: float, complete: bool = True) -> CycleChain:
    """Log the end of a cycle branch; the chain marked complete or not, with ``message``."""
    found = ", ".join(f"{t} {v:.4g}" for t, v, *_ in chain.specials()) or "none"
    say(f"{label}: {len(chain.rows)} points, {chain.p.min():.4g} to {chain.p.max():.4g}, "
        f"special points: {found}; {message}  [{time.perf_counter() - t0:.0f} s]")
    return CycleChain(chain.chunks, complete, message, target)


def _turned_back(p: np.ndarray) -> float | None:
    """The parameter value where the branch turned (a fold in the parameter), if it then
    came back past its start value p[0]; else None."""
    p = np.asarray(p, float)
    moved = np.flatnonzero(p != p[0])
    if moved.size == 0:
        return None
    q = np.sign(p[moved[0]] - p[0]) * (p - p[0])  # > 0 while moving away from the start
    m = int(np.argmax(q))
    return float(p[m]) if q[m:].min() < 0 else None


def _past_loss(p: np.ndarray, stab: np.ndarray, dist: float) -> bool:
    """Has the branch run ``dist`` in parameter path length (folds included) since it last
    lost stability, without regaining it?  When it lost stability at a fold (the parameter
    turned there), the unstable cycles run to the next fold, where the range of coexisting
    attractors ends (an S-shaped branch: stable, unstable, stable): the distance is then
    counted from the next fold, stable or not past it."""
    p = np.asarray(p, float)
    d = np.sign(np.diff(p))
    for j in range(len(stab) - 1, 0, -1):
        if stab[j - 1] and not stab[j]:
            near = d[max(j - 2, 0): j + 1]  # steps into, across and out of the loss
            near = near[near != 0]
            if near.size >= 2 and np.any(near != near[0]):  # lost at a fold
                k = _next_turn(d, j + 1)
                return k is not None and bool(np.abs(np.diff(p[k:])).sum() >= dist)
            return bool(not stab[j:].any() and np.abs(np.diff(p[j:])).sum() >= dist)
    return False


def _next_turn(d: np.ndarray, start: int) -> int | None:
    """The first row k > ``start`` where the parameter turns (the signs ``d`` of its steps
    change from step k - 1 to step k), or None."""
    for k in range(start + 1, len(d)):
        if d[k] != 0 and d[k - 1] != 0 and d[k] != d[k - 1]:
            return k
    return None


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


def alternation_multiplier_of(multipliers: np.ndarray, trivial_error: float, mu_star: float
                              ) -> float:
    """The multiplier that sets a cycle's alternation (see :mod:`bifsnn.analysis.verify`):
    the most negative real part of the nontrivial ones (0 when none is negative; a complex
    pair counts with its real part, so the value is continuous where a pair meets the real
    axis and splits); NaN when the multipliers are inaccurate (trivial multiplier more than
    the continuation's ``TRIVIAL_TOL`` from 1), missing, or when a complex pair lies left of
    ``mu_star`` (no AR(1) relation there)."""
    from bifsnn.continuation.periodic.stepper import TRIVIAL_TOL

    mu = np.asarray(multipliers, complex)
    mu = mu[np.isfinite(mu)]
    if mu.size < 2 or not (math.isfinite(trivial_error) and trivial_error <= TRIVIAL_TOL):
        return math.nan
    m = np.delete(mu, np.argmin(np.abs(mu - 1.0)))
    real = np.abs(m.imag) <= _REAL_TOL * np.maximum(1.0, np.abs(m))
    if np.any(~real & (m.real < mu_star)):
        return math.nan
    return float(min(m.real.min(), 0.0))


def _alt_records(label: str, p: np.ndarray, stable: np.ndarray, mu_alt: np.ndarray,
                 period: np.ndarray, mu_star: float, tol: float) -> list[SpecialPointRecord]:
    """ALT points of one period-1 cycle branch: where its alternation multiplier crosses
    ``mu_star`` between stable rows, located to ``tol`` (else unconfirmed, with why)."""
    out = []
    for c in locate_multiplier_crossings(p, mu_alt, stable, mu_star, tol):
        per = float(period[int(np.argmin(np.abs(p - c["value"])))])  # the nearest row's
        out.append(SpecialPointRecord(
            ALT, c["value"], label, per, c["confirmed"],
            f"alternation {'onset' if c['alternation_above'] else 'offset'} "
            f"(mu = {mu_star:g}): {c['note']}", mu_star, c["alternation_above"],
            c["halfwidth"]))
    return out


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
                special.append(SpecialPointRecord(sp.type, sp.param, "equilibria", per,
                                                  bool(sp.located),
                                                  "" if sp.located else _why(sp)))
        eq_curves.append({"p": pv, "rate_e_hz": hz[:, 0], "stable": stable, "special": sps,
                          "direction": +1 if k == 0 else -1})
    ok = all(br.success for br in cont["equilibria"])
    branches.append(BranchRecord(
        "equilibria", "EP",
        tuple(iv for pv, _hz, st, _x in eq_data for iv in _intervals(pv, st)), ok,
        "; ".join(br.message for br in cont["equilibria"])))

    cyc = []
    cycle_curves = []
    mu_star = alternation_multiplier(vo.alt_threshold)
    alt_tol = _ALT_TOL_FRACTION * _range_defaults(vo, *p_range)[1]
    for label, kind, cb in cont["cycles"]:
        rows = []
        mus, triv = cb.multipliers, cb.trivial_error
        for j, (p_j, st_j) in enumerate(zip(cb.p, cb.stable, strict=True)):
            pt = cb.cycle(j)
            h, re, ri, fmax, _fmin = cycle_peaks_hz(model.with_param_value(param, float(p_j)),
                                                    pt, n_e, n_i, 0.1, vo)
            dm = float(np.median(np.abs(np.diff(np.concatenate([h, h[:1]]))))) \
                if h.size >= 2 else 0.0
            mu_j = alternation_multiplier_of(mus[j], triv[j], mu_star) \
                if kind == "stable_cycle" else math.nan
            rows.append((float(p_j), float(pt.T), re, ri, float(h.max()) if h.size else fmax,
                         dm, bool(st_j), h, np.array(pt.U[0], float), mu_j))
        p = np.array([r[0] for r in rows])
        stable = np.array([r[6] for r in rows], bool)
        cyc.append((label, kind, rows))
        if kind == "stable_cycle":
            special += _alt_records(label, p, stable, np.array([r[9] for r in rows]),
                                    np.array([r[1] for r in rows]), mu_star, alt_tol)
        for t, v, per, _c, sp in cb.specials():
            if not any(q.type == t and abs(q.value - v) < 1e-6 for q in special):
                special.append(SpecialPointRecord(t, v, label, per, bool(sp.located),
                                                  "" if sp.located else _why(sp)))
        branches.append(BranchRecord(label, "PO", _intervals(p, stable), bool(cb.complete),
                                     f"{cb.message} (target: {cb.target})"))
        cycle_curves.append({"label": label, "kind": kind, "p": p, "stable": stable,
                             "peaks_hz": [r[7] for r in rows],
                             "rate_e_hz": np.array([r[2] for r in rows]),
                             "special": [(t, v) for t, v, *_ in cb.specials()]
                             + [(s.type, s.value) for s in special
                                if s.type == ALT and s.branch == label],
                             "alt_multiplier": np.array([r[9] for r in rows])})
    special.sort(key=lambda s: s.value)

    def predict(v: float) -> list[Prediction]:
        out: list[Prediction] = []
        any_eq = False
        for pv, hz, st, xs in eq_data:
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
                                                  float(r[0]), float(r[1]),
                                                  start=(1 - w) * xs[j] + w * xs[j + 1]))
        for label, kind, rows in cyc:
            for j in range(len(rows) - 1):
                r0, r1 = rows[j], rows[j + 1]
                a, b = r0[0], r1[0]
                if min(a, b) <= v <= max(a, b) and a != b and r0[6] and r1[6]:
                    w = (v - a) / (b - a)
                    q = [(1 - w) * x0 + w * x1 for x0, x1 in zip(r0[1:6], r1[1:6], strict=True)]
                    out.append(Prediction(label, kind, v, q[1], q[2], q[0], q[3],
                                          q[4] if kind == "period_doubled_cycle" else 0.0,
                                          (1 - w) * r0[9] + w * r1[9],
                                          start=(r0 if w <= 0.5 else r1)[8]))
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
