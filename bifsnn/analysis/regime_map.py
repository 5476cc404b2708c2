"""Regime map of the network in two parameters: the reduced ODE's bifurcation curves and
equilibrium stability on a grid, compared cell by cell with an SNN sweep over the same grid.

    start = network_problem(NetworkParams(), "p_EI")
    curves = bifurcation_curves(start, "tau_EE", (0.3, 1.0), (1.0, 4.0))   # H / LP curves
    grid = network_equilibrium_grid(start, "tau_EE", p_values, tau_values)  # stability
    cmp = compare(sweep_dataset, grid, curves)       # SNN oscillates <-> equilibrium unstable
    probes = probe_disagreements(start, grid, cmp, sweep_dataset)
    fig = plot_regime_map_with_curves(sweep_dataset, curves, grid, "figures/regime_map")

The first parameter is the one ``start`` is continued in; the second (``param2``) is the
other axis.  Arrays over the grid are indexed [i2, i1] (rows: param2).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from bifsnn.continuation import continue_equilibria, continue_fold, continue_hopf
from bifsnn.continuation.grid import EquilibriumGrid, equilibrium_grid
from bifsnn.reduction.problem import NetworkProblem

__all__ = [
    "OSCILLATING",
    "BifurcationCurves",
    "Codim2Point",
    "Curve",
    "bifurcation_curves",
    "compare",
    "comparison_statements",
    "lpc_curves",
    "network_equilibrium_grid",
    "plot_regime_map_with_curves",
    "probe_disagreements",
    "two_parameter_curve",
]

#: SNN regime labels counted as "oscillating" (MFEs present) in the comparison with the ODE.
OSCILLATING = ("regular-MFE", "alternating-MFE", "irregular")
_ARRAYS = ("p1", "p2", "omega", "l1")


@dataclass
class Curve:
    """One two-parameter curve of the reduced ODE: ``kind`` "H" (Hopf), "LP" (fold) or "LPC"
    (fold of cycles, from a coexistence map: :func:`lpc_curves`), started at ``start`` (value
    of the first parameter) on the one-parameter branch (LPC: at its Bautin point).

    ``p1``, ``p2``: the two parameters along the curve, one polyline through both
    continuation directions; ``omega`` (rad/ms) and ``l1`` (first Lyapunov coefficient, < 0
    supercritical) per point, NaN for folds (LPC curves: ``omega`` = 2 pi / period);
    ``messages``: how each direction ended.
    """

    kind: str
    start: float
    p1: np.ndarray
    p2: np.ndarray
    omega: np.ndarray
    l1: np.ndarray
    messages: list[str]
    success: bool

    def xy(self) -> np.ndarray:
        """(n, 2) array of (p1, p2) points."""
        return np.c_[self.p1, self.p2]

    def crossings(self, value2: float) -> list[tuple[float, float]]:
        """(p1, omega) where the polyline crosses p2 = ``value2`` (linear interpolation)."""
        out = []
        t = self.p2 - value2
        for i in range(len(t) - 1):
            if t[i] == 0.0:
                out.append((float(self.p1[i]), float(self.omega[i])))
            elif t[i] * t[i + 1] < 0:
                th = t[i] / (t[i] - t[i + 1])
                out.append((float(self.p1[i] + th * (self.p1[i + 1] - self.p1[i])),
                            float(self.omega[i] + th * (self.omega[i + 1] - self.omega[i]))))
        if len(t) and t[-1] == 0.0:
            out.append((float(self.p1[-1]), float(self.omega[-1])))
        return out

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (NaN as null)."""
        d = asdict(self)
        for k in _ARRAYS:
            d[k] = [None if not math.isfinite(v) else float(v) for v in getattr(self, k)]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Curve:
        """Inverse of :meth:`to_json`."""
        arr = {k: np.array([np.nan if v is None else v for v in d[k]], dtype=float)
               for k in _ARRAYS}
        return cls(kind=d["kind"], start=d["start"], messages=list(d["messages"]),
                   success=bool(d["success"]), **arr)


@dataclass
class Codim2Point:
    """A codim-2 point on curve number ``curve``: BT, GH (Bautin) or CP."""

    type: str
    p1: float
    p2: float
    omega: float
    located: bool
    curve: int


@dataclass
class BifurcationCurves:
    """The reduced ODE's Hopf and fold curves in the box ``range1`` x ``range2``.

    ``one_param``: the H / LP points of the continuation in ``params[0]`` at ``params[1]`` =
    ``base2`` (type, value, omega, l1); ``skipped``: points not continued, with the reason.
    """

    params: tuple[str, str]
    base2: float
    range1: tuple[float, float]
    range2: tuple[float, float]
    one_param: list[dict[str, Any]]
    curves: list[Curve]
    codim2: list[Codim2Point]
    skipped: list[str]
    success: bool
    message: str
    elapsed_s: float
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = {k: v for k, v in asdict(self).items() if k not in ("curves", "codim2")}
        d["curves"] = [c.to_json() for c in self.curves]
        d["codim2"] = [asdict(c) for c in self.codim2]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> BifurcationCurves:
        """Inverse of :meth:`to_json`."""
        d = dict(d)
        d["curves"] = [Curve.from_json(c) for c in d["curves"]]
        d["codim2"] = [Codim2Point(**c) for c in d["codim2"]]
        for k in ("params", "range1", "range2"):
            d[k] = tuple(d[k])
        return cls(**d)


# ----------------------------------------------------------------------------- curves
def two_parameter_curve(branch: Any, point: Any, param2: str, options: Any
                        ) -> tuple[Curve, list[tuple[int, Any]]]:
    """Hopf or fold curve through ``point`` (an H or LP point of ``branch``) in the branch's
    parameter and ``param2``: ``continue_hopf`` / ``continue_fold`` with ``both_sides``, one
    polyline ordered by increasing ``param2`` at the start.  Returns the curve and its
    codim-2 special points as (row in the curve, SpecialPoint).  A numerical failure
    (LinAlgError, FloatingPointError) gives an empty curve with ``success`` False and the
    error in ``messages``."""
    fn = {"H": continue_hopf, "LP": continue_fold}.get(point.type)
    if fn is None:
        raise ValueError(f"point.type = {point.type!r} is out of range: must be 'H' or 'LP'")
    try:
        br = fn(branch, point, param2, options.with_(both_sides=True, direction=1))
    except (np.linalg.LinAlgError, FloatingPointError) as exc:
        empty = np.zeros(0)
        return Curve(point.type, float(point.param), empty, empty, empty, empty,
                     [f"{type(exc).__name__}: {exc}"], False), []
    P = br.p[:, list(br.param_indices)]
    nan = np.full(len(P), np.nan)
    om = np.asarray(br.extra.get("omega", nan), dtype=float)
    gh = np.asarray(br.extra.get("GH", nan), dtype=float) if point.type == "H" else nan
    curve = Curve(kind=point.type, start=float(point.param), p1=P[:, 0], p2=P[:, 1],
                  omega=om, l1=gh, messages=br.message.split("; "), success=bool(br.success))
    return curve, [(int(sp.index), sp) for sp in br.special_points if sp.type != "EP"]


def _already_on(curves: list[Curve], kind: str, p1: float, omega: float, value2: float,
                tol_p: float = 5e-3, tol_omega: float = 0.02) -> int | None:
    """Index of a curve of ``kind`` through (p1, value2) with frequency ``omega``
    (relative tolerance ``tol_omega``; any frequency for folds), else None."""
    for i, c in enumerate(curves):
        if c.kind != kind:
            continue
        for p, om in c.crossings(value2):
            same_om = kind != "H" or abs(abs(om) - abs(omega)) <= tol_omega * abs(omega)
            if abs(p - p1) <= tol_p and same_om:
                return i
    return None


def _box(name: str, box: Sequence[float], base: float) -> tuple[float, float]:
    lo, hi = (float(v) for v in box)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= base <= hi and lo < hi):
        raise ValueError(f"{name} = ({lo!r}, {hi!r}) is out of range: need finite lo < hi "
                         f"with lo <= {base} <= hi (the start point)")
    return lo, hi


def bifurcation_curves(
    start: NetworkProblem,
    param2: str,
    range1: Sequence[float],
    range2: Sequence[float],
    *,
    ds_frac: float = 0.005,
    ds_max_frac: float = 0.1,
    max_steps: int = 400,
    log: Callable[[str], None] | None = None,
) -> BifurcationCurves:
    """Hopf and fold curves of the reduced ODE in the box ``range1`` x ``range2``.

    Continues the equilibrium of ``start`` in its parameter over ``range1`` (both
    directions), then every H / LP point found in (parameter, ``param2``) within the box,
    both directions, at most ``max_steps`` steps each, arclength steps ``ds_frac`` and at
    most ``ds_max_frac`` times N_E + N_I.  A point that an earlier curve already passes
    through (same value and frequency) is not continued again.
    """
    t0 = time.perf_counter()
    say = log or (lambda _s: None)
    pr = start.problem
    param = start.param
    base1 = float(pr.p0[pr.param_index(param)])
    base2 = float(pr.p0[pr.param_index(param2)])
    lo1, hi1 = _box("range1", range1, base1)
    lo2, hi2 = _box("range2", range2, base2)
    if not (isinstance(max_steps, int) and max_steps >= 1):
        raise ValueError(f"max_steps = {max_steps!r} is out of range: must be an integer >= 1")
    settings = dict(params=start.definition.params.to_dict(), param=param, param2=param2,
                    range1=[lo1, hi1], range2=[lo2, hi2], ds_frac=ds_frac,
                    ds_max_frac=ds_max_frac, max_steps=max_steps)

    def result(one, curves, codim2, skipped, ok, msg):
        return BifurcationCurves((param, param2), base2, (lo1, hi1), (lo2, hi2), one, curves,
                                 codim2, skipped, ok, msg, time.perf_counter() - t0, settings)

    if not start.success:
        return result([], [], [], [], False, f"no equilibrium at the start: {start.message}")
    opts1 = start.options(ds_frac=ds_frac, ds_max_frac=0.05, p_min=lo1, p_max=hi1,
                          max_steps=1000)
    branches = []
    for d in (-1, 1):
        br = continue_equilibria(pr, opts1.with_(direction=d))
        say(f"equilibria in {param}, direction {d:+d}: {len(br.x)} points, {br.message}")
        branches.append(br)
    points = sorted(((sp, br) for br in branches for sp in br.special_points
                     if sp.type in ("H", "LP")), key=lambda t: t[0].param)
    one = [{"type": sp.type, "value": float(sp.param),
            **{k: float(sp.data[k]) for k in ("omega", "l1") if sp.data.get(k) is not None}}
           for sp, _ in points]
    def tick(info: dict) -> None:  # progress of the two-parameter curves, every 25 steps
        if info["step"] % 25 == 0:
            say(f"{info['kind']} curve: step {info['step']}, ({param}, {param2}) = "
                f"({info['params'][0]:.5g}, {info['params'][1]:.5g})")

    opts2 = start.options(ds_frac=ds_frac, ds_max_frac=ds_max_frac, p_min=lo1, p_max=hi1,
                          bounds={param2: (lo2, hi2)}, max_steps=max_steps, progress=tick)
    curves: list[Curve] = []
    codim2: list[Codim2Point] = []
    skipped: list[str] = []
    failed: list[str] = []
    for sp, br in points:
        hit = _already_on(curves, sp.type, sp.param, float(sp.data.get("omega", np.nan)),
                          base2)
        if hit is not None:
            skipped.append(f"{sp.type} at {param} = {sp.param:.4f}: lies on curve {hit} "
                           f"(started at {param} = {curves[hit].start:.4f})")
            say(skipped[-1])
            continue
        ts = time.perf_counter()
        curve, specials = two_parameter_curve(br, sp, param2, opts2)
        say(f"{sp.type} curve from {param} = {sp.param:.4f}: {len(curve.p1)} points; "
            f"{'; '.join(curve.messages)} ({time.perf_counter() - ts:.0f} s)")
        if len(curve.p1) == 0:
            failed.append(f"{sp.type} at {param} = {sp.param:.4f}: continuation failed "
                          f"({'; '.join(curve.messages)})")
            skipped.append(failed[-1])
            continue
        curves.append(curve)
        for row, s2 in specials:
            codim2.append(Codim2Point(s2.type, float(curve.p1[row]), float(curve.p2[row]),
                                      float(s2.data.get("omega", curve.omega[row])),
                                      bool(s2.located), len(curves) - 1))
    ok = all(c.success for c in curves) and not failed
    msg = (f"{len(curves)} curve(s) from {len(points)} one-parameter point(s)" if points
           else f"no Hopf or fold point on the {param} branch at {param2} = {base2:g}")
    if failed:
        msg += "; " + "; ".join(failed)
    return result(one, curves, codim2, skipped, ok, msg)


def lpc_curves(coexistence: dict[str, Any]) -> list[Curve]:
    """The fold-of-cycles curves of a coexistence map
    (:meth:`bifsnn.analysis.coexistence.CoexistenceMap.to_json`) as regime-map curves."""
    out = []
    for c in coexistence.get("curves", []):
        if c.get("kind") != "LPC":
            continue
        arr = {k: np.array([np.nan if v is None else v for v in c[k]], dtype=float)
               for k in ("p1", "p2", "period")}
        ok = np.isfinite(arr["p1"]) & np.isfinite(arr["p2"])
        start = float(arr["p1"][ok][0]) if ok.any() else math.nan
        out.append(Curve(kind="LPC", start=start, p1=arr["p1"], p2=arr["p2"],
                         omega=2 * np.pi / arr["period"], l1=np.full(len(arr["p1"]), np.nan),
                         messages=[f"from {c.get('origin', '?')}: {c.get('message', '')}"],
                         success=bool(c.get("success", False))))
    return out


# ----------------------------------------------------------------------------- grid
def network_equilibrium_grid(
    start: NetworkProblem, param2: str, values1: Sequence[float], values2: Sequence[float],
    *, max_param_step: tuple[float, float] | None = None,
) -> EquilibriumGrid:
    """Equilibrium and stability of the reduced ODE at every grid point, followed from the
    equilibrium of ``start`` (:func:`bifsnn.continuation.grid.equilibrium_grid`)."""
    if not start.success:
        raise ValueError(f"start has no equilibrium ({start.message}): nothing to follow")
    return equilibrium_grid(start.problem, start.param, values1, param2, values2,
                            max_param_step=max_param_step)


# ----------------------------------------------------------------------------- comparison
def compare(ds: Any, grid: EquilibriumGrid, curves: BifurcationCurves | None = None
            ) -> dict[str, Any]:
    """Cell-by-cell comparison of the SNN regime (sweep dataset ``ds`` over the grid's two
    parameters, with a ``seed`` dimension) with the ODE equilibrium's stability, and per
    row of the second parameter where the SNN switches between asynchronous and
    oscillating, where the equilibrium's stability switches, and where Hopf curves cross."""
    from bifsnn.sweeps.plot import reduce_to_2d

    n1, n2 = grid.params
    labels = np.asarray(ds["regime"].transpose(n2, n1, "seed").values, dtype=object)
    maj, _ = reduce_to_2d(ds, n1, n2, "regime")
    osc = np.vectorize(lambda s: s in OSCILLATING, otypes=[bool])(maj)
    valid, uns = grid.found, grid.unstable
    table = {
        "SNN osc & ODE unstable": int(np.sum(osc & uns & valid)),
        "SNN async & ODE stable": int(np.sum(~osc & ~uns & valid)),
        "SNN osc & ODE stable": int(np.sum(osc & ~uns & valid)),
        "SNN async & ODE unstable": int(np.sum(~osc & uns & valid)),
        "ODE equilibrium not found": int(np.sum(~valid)),
    }
    seed_split = sum(len({s in OSCILLATING for s in labels[i, j] if s}) > 1
                     for i in range(labels.shape[0]) for j in range(labels.shape[1]))
    v1, rows = grid.values1, []

    def switches(a, mask):
        return [0.5 * (v1[j] + v1[j + 1]) for j in range(len(v1) - 1)
                if mask[j] and mask[j + 1] and a[j] != a[j + 1]]

    for i, b in enumerate(grid.values2):
        hopf = [] if curves is None else sorted(
            (p, k) for k, c in enumerate(curves.curves) if c.kind == "H"
            for p, _ in c.crossings(float(b)))
        rows.append(dict(value2=float(b), snn_switch=switches(osc[i], np.ones(len(v1), bool)),
                         ode_switch=switches(uns[i], valid[i]), hopf=hopf))
    return dict(run_counts=dict(Counter(str(v) for v in labels.ravel())),
                cell_counts=dict(Counter(str(v) for v in maj.ravel())), table=table,
                half_step=0.5 * float(np.min(np.diff(v1))) if len(v1) > 1 else math.nan,
                agree=table["SNN osc & ODE unstable"] + table["SNN async & ODE stable"],
                n_valid=int(valid.sum()), seed_split_cells=int(seed_split), rows=rows,
                majority=maj, oscillating=osc, params=grid.params)


def comparison_statements(cmp: dict[str, Any], curves: BifurcationCurves | None
                          ) -> list[str]:
    """Markdown bullet statements computed from :func:`compare` (numbers only)."""
    t, n = cmp["table"], cmp["n_valid"]
    out = [f"- Cells where 'SNN oscillates' (majority label regular-, alternating-MFE or "
           f"irregular) matches 'ODE equilibrium unstable': {cmp['agree']} of {n} "
           f"({100.0 * cmp['agree'] / max(n, 1):.0f}%).",
           f"- SNN oscillates where the ODE equilibrium is stable: "
           f"{t['SNN osc & ODE stable']} cells; SNN asynchronous where it is unstable: "
           f"{t['SNN async & ODE unstable']} cells.",
           f"- Cells whose seeds disagree on oscillating vs asynchronous: "
           f"{cmp['seed_split_cells']}."]
    dists = []
    for r in cmp["rows"] if curves is not None else []:
        hp = [p for p, _ in r["hopf"]]
        dists += [min(abs(x - h) for h in hp) if hp else math.inf for x in r["snn_switch"]]
    if dists:
        half = cmp["half_step"]
        near = sum(d <= half + 1e-12 for d in dists)
        finite = [d for d in dists if math.isfinite(d)]
        largest = f"{max(finite):.3f}" if finite else "-"
        out.append(f"- SNN async/oscillating switches (midpoints between grid cells, so the "
                   f"SNN boundary is known to +-{half:.3f}) within {half:.3f} of a Hopf-curve "
                   f"crossing of the same {cmp['params'][1]} row: {near} of {len(dists)}; "
                   f"largest distance "
                   f"{largest}" + (" (some rows have no crossing)"
                                   if len(finite) < len(dists) else "") + ".")
    return out


def _ode_amplitude(model: Any, x0: np.ndarray, t_ms: float, window_ms: float
                   ) -> tuple[float, float, bool]:
    """(peak-to-peak, mean) of the ODE's per-neuron E rate (Hz, 1 ms bins) over the last
    ``window_ms`` of a run from ``x0``, and whether the integration succeeded."""
    from bifsnn.reduction import simulate_ode

    res = simulate_ode(model, t_ms=t_ms, x0=x0)
    per_ms = max(1, int(round(1.0 / res.dt_ms)))
    r = np.asarray(res.spike_counts_e, dtype=float)
    r = r[: len(r) // per_ms * per_ms].reshape(-1, per_ms).sum(axis=1)  # spikes per ms
    tail = r[-int(window_ms):] * 1000.0 / res.params.N_E
    if len(tail) == 0 or not np.all(np.isfinite(tail)):
        return math.nan, math.nan, False
    return float(tail.max() - tail.min()), float(tail.mean()), bool(
        res.options.get("success", True))


def _kick(model: Any, x_eq: np.ndarray, size: float) -> np.ndarray:
    """``x_eq`` moved by ``size`` |x_eq| along the real part of the leading eigenvector (a
    direction that keeps the conserved totals of the state, unlike a random kick)."""
    ev, vec = np.linalg.eig(np.asarray(model.jacobian(x_eq)))
    k = int(np.argmax(ev.real))
    v = np.real(vec[:, k]) if np.any(np.real(vec[:, k])) else np.imag(vec[:, k])
    return x_eq + size * np.linalg.norm(x_eq) * v / np.linalg.norm(v)


def probe_disagreements(start: NetworkProblem, grid: EquilibriumGrid, cmp: dict[str, Any],
                        ds: Any = None, *, t_ms: float = 1500.0, window_ms: float = 500.0,
                        perturbation: float = 1e-3) -> list[dict[str, Any]]:
    """ODE runs at every cell where the SNN and the ODE's linear stability disagree.

    Two runs per cell: from the equilibrium kicked by ``perturbation`` (does it decay or grow
    into a cycle?) and from a state on the oscillation of the nearest cell where both
    oscillate (a stable cycle next to a stable equilibrium: the bistable region of a
    subcritical Hopf curve?).  Amplitudes: peak-to-peak per-neuron E rate (Hz) over the last
    ``window_ms``.  With the sweep dataset ``ds`` the SNN's seed-mean rate, synchrony ratio
    and spectral peak are added.
    """
    from bifsnn.reduction import simulate_ode

    n1, n2 = grid.params
    d = start.definition

    def model_at(i: int, j: int) -> Any:
        changes = {n1: float(grid.values1[j]), n2: float(grid.values2[i])}
        return d.replace(**changes).compile()

    osc, valid = cmp["oscillating"], grid.found
    both = np.argwhere(valid & osc & grid.unstable)
    out: list[dict[str, Any]] = []
    cycle_states: dict[tuple[int, int], np.ndarray] = {}
    for i, j in np.argwhere(valid & (osc != grid.unstable)):
        model = model_at(i, j)
        amp_eq, mean_eq, ok = _ode_amplitude(model, _kick(model, grid.states[i, j],
                                                          perturbation), t_ms, window_ms)
        item = {n1: float(grid.values1[j]), n2: float(grid.values2[i]),
                "snn": str(cmp["majority"][i, j]), "n_unstable": int(grid.n_unstable[i, j]),
                "amp_from_eq_hz": amp_eq, "mean_from_eq_hz": mean_eq,
                "amp_from_cycle_hz": math.nan, "mean_from_cycle_hz": math.nan,
                "cycle_source": None, "ok": ok}
        if ds is not None:
            cell = ds.isel({n1: int(j), n2: int(i)})
            for k in ("rate_e_hz", "ssi_e_ratio", "spectral_peak_hz"):
                if k in cell:
                    item[f"snn_{k}"] = float(np.nanmean(np.asarray(cell[k].values, float)))
            item["snn_labels"] = [str(v) for v in np.asarray(cell["regime"].values).ravel()]
        if len(both):
            ci, cj = (int(v) for v in both[int(np.argmin(np.abs(both[:, 0] - i)
                                                         + np.abs(both[:, 1] - j)))])
            if (ci, cj) not in cycle_states:
                src = model_at(ci, cj)
                res = simulate_ode(src, t_ms=t_ms,
                                   x0=_kick(src, grid.states[ci, cj], perturbation))
                cycle_states[(ci, cj)] = np.asarray(res.extra["final_state"])
            amp_c, mean_c, ok2 = _ode_amplitude(model, cycle_states[(ci, cj)], t_ms, window_ms)
            item.update(amp_from_cycle_hz=amp_c, mean_from_cycle_hz=mean_c, ok=ok and ok2,
                        cycle_source=(float(grid.values1[cj]), float(grid.values2[ci])))
        out.append(item)
    return out


# ----------------------------------------------------------------------------- figure
def plot_regime_map_with_curves(ds: Any, curves: BifurcationCurves | None,
                                grid: EquilibriumGrid | None, out: Any = None,
                                title: str = "", labels: tuple[str, str] | None = None
                                ) -> Any:
    """Regime heat map of the sweep ``ds`` (majority over seeds) with the curves (Hopf solid
    where supercritical, dashed where subcritical; folds dotted; folds of cycles red
    dash-dotted), codim-2 points and a dot
    where the ODE equilibrium is unstable; saved as ``out.png`` and ``out.pdf`` when ``out``
    (a path stem) is given; ``labels``: axis labels (default: the parameter names).
    Returns the matplotlib Figure."""
    from matplotlib.lines import Line2D

    from bifsnn._figures import save_figure
    from bifsnn.sweeps import plot_regime_map

    names = curves.params if curves is not None else grid.params if grid is not None \
        else ("p_EI", "tau_EE")
    fig = plot_regime_map(ds, names[0], names[1], "regime", title=title or " ").figure
    ax = fig.axes[0]
    xlim, ylim = ax.get_xlim(), ax.get_ylim()
    handles = []
    seen_kinds: set[str] = set()
    colors = ["k", "#6a3d9a", "#33a02c", "#b15928", "#1f78b4"]
    for k, c in enumerate(curves.curves if curves is not None else []):
        col, xy = colors[k % len(colors)], c.xy()
        if c.kind == "H":
            sub = np.where(np.isfinite(c.l1), c.l1 > 0, False)
            begin = 0  # runs of equal criticality; shared end points keep the line joined
            for i in range(1, len(xy) + 1):
                if i == len(xy) or sub[i] != sub[begin]:
                    seg = xy[begin:min(i + 1, len(xy))]
                    ax.plot(seg[:, 0], seg[:, 1], color=col, lw=2.0,
                            ls="--" if sub[begin] else "-")
                    begin = i
            handles.append(Line2D([], [], color=col, lw=2.0,
                                  label=f"Hopf from {names[0]}={c.start:.3f}"))
        elif c.kind == "LPC":
            ax.plot(xy[:, 0], xy[:, 1], color="#e31a1c", lw=1.8, ls="-.")
            if "LPC" not in seen_kinds:
                handles.append(Line2D([], [], color="#e31a1c", lw=1.8, ls="-.",
                                      label="fold of cycles (LPC, from GH)"))
                seen_kinds.add("LPC")
        else:
            ax.plot(xy[:, 0], xy[:, 1], color=col, lw=2.0, ls=":")
            handles.append(Line2D([], [], color=col, lw=2.0, ls=":",
                                  label=f"fold from {names[0]}={c.start:.3f}"))
    if curves is not None and any(c.kind == "H" for c in curves.curves):
        handles.append(Line2D([], [], color="0.3", lw=1.5, ls="--",
                              label="dashed: subcritical (l1 > 0)"))
    marks = {"BT": ("s", "BT"), "GH": ("*", "GH (Bautin)"), "CP": ("^", "CP")}
    seen = set()
    for cp in curves.codim2 if curves is not None else []:
        m, lab = marks.get(cp.type, ("o", cp.type))
        ax.plot(cp.p1, cp.p2, m, ms=12, mfc="yellow", mec="k", zorder=5)
        if cp.type not in seen:
            handles.append(Line2D([], [], ls="", marker=m, ms=10, mfc="yellow", mec="k",
                                  label=lab))
            seen.add(cp.type)
    if grid is not None and np.any(grid.unstable):
        P, T = np.meshgrid(grid.values1, grid.values2)
        ax.plot(P[grid.unstable], T[grid.unstable], "k.", ms=4)
        handles.append(Line2D([], [], ls="", marker=".", color="k", ms=6,
                              label="ODE equilibrium unstable"))
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    ax.set_xlabel((labels or names)[0])
    ax.set_ylabel((labels or names)[1])
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize="small",
                   frameon=False)
    fig.set_size_inches(7.6, 6.4)
    if out is not None:
        save_figure(fig, out)
    return fig
