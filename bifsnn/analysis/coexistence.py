"""Coexistence map of an ODE in two parameters: where two attractors coexist.

The curves bound the candidate regions; integration decides.  :func:`coexistence_map`

1. continues the equilibrium of ``problem`` in ``param1`` over ``range1`` (at the problem's
   value of ``param2``) and every Hopf (H) and fold (LP) point found in (``param1``,
   ``param2``) within the box; the Hopf curves are split into supercritical (l1 < 0) and
   subcritical (l1 > 0) parts at their Bautin (GH) points;
2. continues the fold-of-cycles (LPC) curve that emanates from every GH point
   (:func:`bifsnn.continuation.periodic.continue_lpc_from_gh`);
3. cuts the box into the regions those curves enclose (a raster of the box, curves as walls)
   and, at the deepest point of every region, integrates the ODE from the equilibrium
   (kicked along its leading eigenvector) and from cycle states (the cycle of the nearest
   LPC point, the oscillation found at the nearest other sample); two distinct attractors
   reached = coexistence *confirmed* there, otherwise the region is reported as
   unconfirmed with what was reached;
4. scans lines ``param1 = value`` the same way (the cycle start carried along the line),
   giving the confirmed extents along each line next to the curve crossings.

Nothing is called coexisting without an integration that reached both attractors.

    res = coexistence_map(problem, "b1", "b2", (-1, 1), (-1, 1), lines=[-0.02])
    res.regions[k].status        # "confirmed" / "unconfirmed" / "single"
    plot_coexistence_map(res, "figures/coexistence_map")
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bifsnn.continuation import (
    Collocation,
    ContinuationOptions,
    continue_equilibria,
    continue_fold,
    continue_hopf,
)
from bifsnn.continuation.grid import equilibrium_grid
from bifsnn.continuation.periodic import continue_lpc_from_gh

__all__ = [
    "Attractor",
    "CoexistenceMap",
    "LineScan",
    "MapCurve",
    "Region",
    "Sample",
    "coexistence_map",
    "plot_coexistence_map",
    "scipy_integrator",
]

#: An integrator: (x0, p, t_end) -> (t, X) with X of shape (len(t), n).
Integrator = Callable[[np.ndarray, np.ndarray, float], tuple[np.ndarray, np.ndarray]]


@dataclass
class MapCurve:
    """One curve of the map: ``kind`` "H" (Hopf), "LP" (fold) or "LPC" (fold of cycles).

    ``p1``, ``p2``: the polyline; ``l1``: first Lyapunov coefficient per point on Hopf curves
    (NaN elsewhere); ``period`` per point on LPC curves; ``origin``: where it was started;
    ``message``: how the continuation ended; ``branch``: the engine's Branch (not saved)
    and ``rows``: the branch row of every point (-1: a point added, not computed).
    """

    kind: str
    p1: np.ndarray
    p2: np.ndarray
    l1: np.ndarray
    period: np.ndarray
    origin: str
    success: bool
    message: str
    branch: Any = field(default=None, repr=False)
    rows: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.rows is None:
            self.rows = np.arange(len(self.p1))

    def segments(self) -> list[tuple[str, np.ndarray]]:
        """Hopf curves: runs of equal criticality as ("super" | "sub" | "unknown", (m, 2)
        points), neighbouring runs sharing their end point; other kinds: one run."""
        xy = np.c_[self.p1, self.p2]
        if self.kind != "H":
            return [(self.kind, xy)]
        lab = np.where(np.isfinite(self.l1), np.where(self.l1 > 0, "sub", "super"), "unknown")
        out, begin = [], 0
        for i in range(1, len(xy) + 1):
            if i == len(xy) or lab[i] != lab[begin]:
                out.append((str(lab[begin]), xy[max(begin - 1, 0):i]))
                begin = i
        return out

    def crossings(self, value1: float) -> list[float]:
        """``p2`` where the polyline crosses ``p1`` = ``value1`` (linear interpolation)."""
        t = self.p1 - value1
        out = []
        for i in range(len(t) - 1):
            if t[i] == 0.0:
                out.append(float(self.p2[i]))
            elif t[i] * t[i + 1] < 0:
                th = t[i] / (t[i] - t[i + 1])
                out.append(float(self.p2[i] + th * (self.p2[i + 1] - self.p2[i])))
        if len(t) and t[-1] == 0.0:
            out.append(float(self.p2[-1]))
        return out

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (NaN as null; the branch left out)."""
        def arr(a):
            return [None if not math.isfinite(v) else float(v) for v in a]
        return dict(kind=self.kind, p1=arr(self.p1), p2=arr(self.p2), l1=arr(self.l1),
                    period=arr(self.period), origin=self.origin, success=self.success,
                    message=self.message)


@dataclass
class Attractor:
    """What one integration reached: ``kind`` "equilibrium", "cycle" or "unsettled"
    (still moving slowly at the end); ``amplitude``: max over components of the
    peak-to-peak over the final window; ``mean``: the state's time average there; ``start``:
    which initial state ("equilibrium", "lpc cycle", "neighbour's cycle")."""

    kind: str
    amplitude: float
    mean: np.ndarray = field(repr=False)
    start: str
    final: np.ndarray = field(repr=False)


@dataclass
class Sample:
    """Integrations at one parameter point: the equilibrium found there (``eq_found``,
    ``eq_unstable``: eigenvalues with Re > 0), the runs and the distinct attractors."""

    p1: float
    p2: float
    eq_found: bool
    eq_unstable: int
    runs: list[Attractor]
    distinct: list[Attractor]

    @property
    def coexistence(self) -> bool:
        """True when the runs reached two or more distinct attractors."""
        return len(self.distinct) >= 2

    def describe(self) -> str:
        """One line: the attractors reached and from which start."""
        parts = [f"{a.kind} (amplitude {a.amplitude:.3g}, from {a.start})" for a in self.distinct]
        unsettled = [a.start for a in self.runs if a.kind == "unsettled"]
        s = "; ".join(parts) or "nothing settled"
        return s + (f"; unsettled from {', '.join(unsettled)}" if unsettled else "")


@dataclass
class Region:
    """One region of the box enclosed by the curves: its size (fraction of the box),
    bounding curves (indices into :attr:`CoexistenceMap.curves`), the sample integrated at
    its deepest point and the verdict ``status``: "confirmed" (two attractors reached),
    "single" (one attractor reached from every start) or "unconfirmed" (a run did not
    settle or the equilibrium was not found)."""

    label: int
    area_fraction: float
    bounded_by: list[int]
    sample: Sample | None
    status: str


@dataclass
class LineScan:
    """Integrations along ``param1`` = ``value1``: one :class:`Sample` per ``values2``,
    the curve crossings on the line (p2, curve index) and the intervals of ``param2`` where
    coexistence was confirmed (between the first and last confirming sample of each run of
    consecutive ones; the true extent reaches at most to the neighbouring samples)."""

    value1: float
    values2: np.ndarray
    samples: list[Sample]
    crossings: list[tuple[float, int]]

    def intervals(self) -> list[tuple[float, float]]:
        """Runs of consecutive samples with coexistence, as (first, last) ``param2``."""
        out, run = [], []
        for v, s in zip(self.values2, self.samples, strict=True):
            if s.coexistence:
                run.append(float(v))
            elif run:
                out.append((run[0], run[-1]))
                run = []
        if run:
            out.append((run[0], run[-1]))
        return out


@dataclass
class CoexistenceMap:
    """Result of :func:`coexistence_map`: the curves, GH points, regions and line scans.

    ``gh``: (p1, p2, located, curve index) per Bautin point; ``labels``: the raster of
    region labels ([i2, i1]; 0 on curves); ``messages``: what failed or was skipped.
    """

    params: tuple[str, str]
    range1: tuple[float, float]
    range2: tuple[float, float]
    curves: list[MapCurve]
    gh: list[tuple[float, float, bool, int]]
    regions: list[Region]
    lines: list[LineScan]
    labels: np.ndarray = field(repr=False)
    messages: list[str]
    elapsed_s: float

    @property
    def confirmed(self) -> list[Region]:
        """Regions where two attractors were reached."""
        return [r for r in self.regions if r.status == "confirmed"]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict: curves, GH points, regions, lines (no branches, no raster)."""
        def sample(s: Sample) -> dict[str, Any]:
            return dict(p1=s.p1, p2=s.p2, eq_found=s.eq_found, eq_unstable=s.eq_unstable,
                        coexistence=s.coexistence, attractors=[
                            dict(kind=a.kind, amplitude=None if not math.isfinite(
                                a.amplitude) else a.amplitude, start=a.start) for a in s.runs])
        return dict(params=list(self.params), range1=list(self.range1),
                    range2=list(self.range2), curves=[c.to_json() for c in self.curves],
                    gh=[list(g) for g in self.gh],
                    regions=[dict(label=r.label, area_fraction=r.area_fraction,
                                  bounded_by=r.bounded_by, status=r.status,
                                  sample=None if r.sample is None else sample(r.sample))
                             for r in self.regions],
                    lines=[dict(value1=ln.value1, intervals=ln.intervals(),
                                crossings=[list(c) for c in ln.crossings],
                                values2=[float(v) for v in ln.values2],
                                samples=[sample(s) for s in ln.samples]) for ln in self.lines],
                    messages=list(self.messages), elapsed_s=self.elapsed_s)


# ----------------------------------------------------------------------------- integration
def scipy_integrator(problem: Any, *, method: str = "LSODA", rtol: float = 1e-7,
                     atol: float = 1e-9, max_step: float = math.inf) -> Integrator:
    """An :data:`Integrator` for ``problem`` by ``scipy.integrate.solve_ivp`` with the
    problem's Jacobian (dense)."""
    from scipy.integrate import solve_ivp

    def jac(x, p):
        J = problem.jac_x(x, p)
        return J.toarray() if hasattr(J, "toarray") else np.asarray(J, dtype=float)

    def run(x0: np.ndarray, p: np.ndarray, t_end: float) -> tuple[np.ndarray, np.ndarray]:
        r = solve_ivp(lambda t, y: problem.rhs(y, p), (0.0, float(t_end)), np.asarray(x0, float),
                      method=method, jac=lambda t, y: jac(y, p), rtol=rtol, atol=atol,
                      max_step=max_step)
        return r.t, r.y.T

    return run


def _classify(t: np.ndarray, X: np.ndarray, x_eq: np.ndarray | None, window: float,
              tol: float, start: str) -> Attractor:
    if len(t) < 2 or not np.all(np.isfinite(X[-1])) or t[-1] < t[0] + window:
        return Attractor("unsettled", math.nan, np.full(X.shape[1], np.nan), start, X[-1])
    tail = t >= t[-1] - window
    Y = X[tail]
    amp = float(np.max(np.ptp(Y, axis=0)))
    mean = Y.mean(axis=0)
    if amp < tol:
        near = x_eq is not None and float(np.max(np.abs(X[-1] - x_eq))) < 10 * tol
        return Attractor("equilibrium" if near else "unsettled", amp, mean, start, X[-1])
    # a cycle: both halves of the window span the same range (not a transient)
    mid = t[-1] - 0.5 * window
    a = float(np.max(np.ptp(X[tail & (t < mid)], axis=0))) if np.any(tail & (t < mid)) else 0.0
    b = float(np.max(np.ptp(X[t >= mid], axis=0)))
    if abs(a - b) <= 0.05 * max(a, b) + tol:
        return Attractor("cycle", amp, mean, start, X[-1])
    return Attractor("unsettled", amp, mean, start, X[-1])


def _distinct(runs: list[Attractor], tol: float) -> list[Attractor]:
    out: list[Attractor] = []
    for a in runs:
        if a.kind == "unsettled":
            continue
        same = [b for b in out if b.kind == a.kind and (
            a.kind == "equilibrium" or (abs(a.amplitude - b.amplitude) <= 0.05 * max(
                a.amplitude, b.amplitude) and np.max(np.abs(a.mean - b.mean)) <= 0.2 * max(
                a.amplitude, b.amplitude) + tol))]
        if not same:
            out.append(a)
    return out


# ----------------------------------------------------------------------------- curves
def _curve_from(kind: str, br: Any, i1: int, i2: int, origin: str) -> MapCurve:
    n = len(br)
    nan = np.full(n, np.nan)
    l1 = np.asarray(br.extra.get("GH", nan), dtype=float) if kind == "H" else nan
    per = np.asarray(br.extra.get("period", nan), dtype=float) if kind == "LPC" else nan
    return MapCurve(kind, br.p[:, i1].copy(), br.p[:, i2].copy(), l1, per, origin,
                    bool(br.success), br.message, br)


def _near(c: MapCurve, q1: float, q2: float, s1: float, s2: float, tol: float) -> bool:
    """True when (q1, q2) lies within ``tol`` (box-relative) of the polyline ``c``."""
    if not len(c.p1):
        return False
    P = np.c_[c.p1 / s1, c.p2 / s2]
    q = np.array([q1 / s1, q2 / s2])
    if len(P) == 1:
        return bool(np.hypot(*(P[0] - q)) <= tol)
    A, D = P[:-1], np.diff(P, axis=0)
    dd = np.einsum("ij,ij->i", D, D)
    th = np.clip(np.einsum("ij,ij->i", q - A, D) / np.where(dd > 0, dd, 1.0), 0.0, 1.0)
    return bool(np.min(np.hypot(*(A + th[:, None] * D - q).T)) <= tol)


def _split_at_zero_amplitude(c: MapCurve, points: list[tuple[float, float]], s1: float,
                             s2: float, tol: float = 0.02) -> list[tuple[Any, str]]:
    """An LPC curve continued through a GH point (its cycles shrink to zero and grow again)
    retraces itself: cut it where the amplitude has a local minimum below 5 % of its maximum
    within ``tol`` (box-relative) of a GH point, and drop a piece that retraces an earlier one.
    Returns (piece or None, note) pairs."""
    amp = np.asarray(c.branch.extra.get("amplitude", []), dtype=float) if c.branch is not None \
        else np.zeros(0)
    if amp.size != len(c.p1) or not points or not np.isfinite(amp).all():
        return [(c, "")]
    cuts = [k for k in range(1, len(amp) - 1) if amp[k] <= amp[k - 1] and amp[k] <= amp[k + 1]
            and amp[k] < 0.05 * amp.max() and min(math.hypot((c.p1[k] - a) / s1, (c.p2[k] - b)
                                                             / s2) for a, b in points) <= tol]
    if not cuts:
        return [(c, "")]
    bounds = [0, *cuts, len(amp) - 1]
    out: list[tuple[Any, str]] = []
    kept: list[MapCurve] = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        rows = slice(a, b + 1)
        piece = MapCurve("LPC", c.p1[rows].copy(), c.p2[rows].copy(), c.l1[rows].copy(),
                         c.period[rows].copy(), f"{c.origin}, rows {a}-{b}", c.success,
                         c.message, c.branch, c.rows[rows].copy())
        dup = any(all(_near(k, x, y, s1, s2, 5e-3) for x, y in zip(piece.p1, piece.p2,
                                                                   strict=True)) for k in kept)
        if dup:
            out.append((None, f"rows {a}-{b} retrace an earlier piece (continued through a "
                              "GH point): dropped"))
        else:
            kept.append(piece)
            out.append((piece, f"cut at row {a}" if a else ""))
    return out


def _join_to_gh(c: MapCurve, points: list[tuple[float, float]], s1: float, s2: float,
                tol: float = 0.05) -> list[str]:
    """An LPC curve emanates from GH points, but its continuation stops before the cycles
    shrink to zero: join an end to a GH point within ``tol`` (box-relative) so that the
    region it bounds is closed; returns what was joined."""
    out = []
    if not len(c.p1) or not points:
        return out
    for end in (0, -1):
        d = [math.hypot((c.p1[end] - a) / s1, (c.p2[end] - b) / s2) for a, b in points]
        k = int(np.argmin(d))
        if 0 < d[k] <= tol:
            a, b = points[k]
            ins = 0 if end == 0 else len(c.p1)
            c.p1, c.p2 = np.insert(c.p1, ins, a), np.insert(c.p2, ins, b)
            c.l1, c.period = np.insert(c.l1, ins, np.nan), np.insert(c.period, ins, np.nan)
            c.rows = np.insert(c.rows, ins, -1)
            out.append(f"{'first' if end == 0 else 'last'} point joined to the GH point "
                       f"({a:.6g}, {b:.6g}) {d[k]:.3g} (box-relative) away")
    return out


# ----------------------------------------------------------------------------- raster
def _rasterize(curves: list[MapCurve], box: tuple, n: int) -> tuple[np.ndarray, list]:
    (lo1, hi1), (lo2, hi2) = box
    wall = np.zeros((n, n), bool)
    per_curve = []
    for c in curves:
        mask = np.zeros((n, n), bool)
        u = (np.asarray(c.p1) - lo1) / (hi1 - lo1) * (n - 1)
        v = (np.asarray(c.p2) - lo2) / (hi2 - lo2) * (n - 1)
        for k in range(len(u) - 1):
            if not (np.isfinite(u[k]) and np.isfinite(u[k + 1])):
                continue
            m = int(math.ceil(3 * max(abs(u[k + 1] - u[k]), abs(v[k + 1] - v[k]), 1e-9))) + 1
            uu = np.rint(np.linspace(u[k], u[k + 1], m + 1)).astype(int)
            vv = np.rint(np.linspace(v[k], v[k + 1], m + 1)).astype(int)
            ok = (uu >= 0) & (uu < n) & (vv >= 0) & (vv < n)
            mask[vv[ok], uu[ok]] = True
        per_curve.append(mask)
        wall |= mask
    return wall, per_curve


def _regions(wall: np.ndarray, per_curve: list, min_pixels: int):
    from scipy import ndimage

    labels, count = ndimage.label(~wall)  # 4-connected: a diagonal wall holds
    out = []
    for lab in range(1, count + 1):
        mask = labels == lab
        size = int(mask.sum())
        if size < min_pixels:
            continue
        depth = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
        i2, i1 = np.unravel_index(int(np.argmax(depth)), mask.shape)
        ring = ndimage.binary_dilation(mask, iterations=2)
        bounded = [k for k, m in enumerate(per_curve) if np.any(ring & m)]
        out.append((lab, size / mask.size, bounded, int(i1), int(i2)))
    return labels, out


# ----------------------------------------------------------------------------- the map
def _options(o: ContinuationOptions | None, default: dict[str, Any]) -> ContinuationOptions:
    return ContinuationOptions(**default) if o is None else o


def coexistence_map(
    problem: Any,
    param1: str | int,
    param2: str | int,
    range1: Sequence[float],
    range2: Sequence[float],
    *,
    equilibrium_options: ContinuationOptions | None = None,
    curve_options: ContinuationOptions | None = None,
    lpc_options: ContinuationOptions | None = None,
    cycle_options: ContinuationOptions | None = None,
    collocation: Collocation | None = None,
    lines: Sequence[float] = (),
    line_points: int = 12,
    t_end: float = 1000.0,
    t_window: float = 200.0,
    amp_tol: float = 1e-3,
    raster: int = 200,
    min_region_fraction: float = 2e-4,
    integrator: Integrator | None = None,
    branch_dir: Any = None,
    lpc_from_gh: bool = True,
    log: Callable[[str], None] | None = None,
) -> CoexistenceMap:
    """Coexistence map of ``problem`` (an :class:`~bifsnn.continuation.ODEProblem` at an
    equilibrium) in (``param1``, ``param2``) over ``range1`` x ``range2`` (see the module
    docstring for the steps).

    Options (``ContinuationOptions``; defaults in brackets are relative to the box):
    ``equilibrium_options`` for the run in ``param1`` [ds = 1e-3 of range1], its bounds
    replaced by the box; ``curve_options`` for the Hopf and fold curves; ``lpc_options``
    and ``cycle_options`` / ``collocation`` for :func:`continue_lpc_from_gh` (its LPC norm
    is absolute, its cycle norm relative: a problem with a large state needs both).
    ``lines``: values of ``param1`` scanned at ``line_points`` values of ``param2``.
    Integrations: ``t_end`` long (the problem's time unit), classified over the last
    ``t_window``: "equilibrium" when the peak-to-peak is below ``amp_tol`` (1 + max|x_eq|)
    and the state is at the equilibrium, "cycle" when it is above and steady.  ``raster``:
    pixels per side of the region raster; regions smaller than ``min_region_fraction`` of
    the box are not sampled.  ``integrator``: (x0, p, t_end) -> (t, X), default
    :func:`scipy_integrator` (LSODA).  ``branch_dir``: a directory where every computed
    Hopf, fold and LPC branch is saved (``save_branch``) and from where it is read instead of
    recomputed on the next call (keyed by kind and start point only: empty it when the
    problem or the options change).  ``lpc_from_gh`` False: no LPC curves (the regions are
    then those of the Hopf and fold curves alone; said in ``messages``).
    """
    t0 = time.perf_counter()
    say = log or (lambda _s: None)
    i1, i2 = problem.param_index(param1), problem.param_index(param2)
    if i1 == i2:
        raise ValueError(f"param2 = {param2!r} is out of range: must differ from param1")
    lo1, hi1 = (float(v) for v in range1)
    lo2, hi2 = (float(v) for v in range2)
    b1, b2 = float(problem.p0[i1]), float(problem.p0[i2])
    for name, lo, hi, b in (("range1", lo1, hi1, b1), ("range2", lo2, hi2, b2)):
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= b <= hi and lo < hi):
            raise ValueError(f"{name} = ({lo!r}, {hi!r}) is out of range: need finite "
                             f"lo < hi with lo <= {b} <= hi (the problem's start point)")
    if not (isinstance(line_points, int) and line_points >= 2):
        raise ValueError(f"line_points = {line_points!r} is out of range: integer >= 2")
    for v in lines:
        if not lo1 <= float(v) <= hi1:
            raise ValueError(f"lines = {list(lines)!r} is out of range: values within "
                             f"range1 [{lo1}, {hi1}]")
    if not (t_end > 0 and 0 < t_window < t_end):
        raise ValueError(f"t_window = {t_window!r}, t_end = {t_end!r} are out of range: "
                         "need 0 < t_window < t_end")
    if not (isinstance(raster, int) and raster >= 20):
        raise ValueError(f"raster = {raster!r} is out of range: integer >= 20")
    if not amp_tol > 0:
        raise ValueError(f"amp_tol = {amp_tol!r} is out of range: must be > 0")
    integrate = integrator or scipy_integrator(problem)
    names = (problem.param_label(i1), problem.param_label(i2))
    s1, s2 = hi1 - lo1, hi2 - lo2
    messages: list[str] = []
    pr = problem.with_param(i1)

    def cached(key: str, compute: Callable[..., Any], *a: Any, **kw: Any) -> Any:
        if branch_dir is None:
            return compute(*a, **kw)
        from pathlib import Path

        from bifsnn.continuation import load_branch, save_branch

        path = Path(branch_dir) / f"{key}.h5"
        if path.exists():
            say(f"{key}: read from {path}")
            return load_branch(path, problem=pr)
        out = compute(*a, **kw)
        Path(branch_dir).mkdir(parents=True, exist_ok=True)
        save_branch(out, path)
        return out

    # 1. equilibria in param1, Hopf and fold curves
    eo = _options(equilibrium_options, dict(ds=1e-3 * s1, ds_max=2e-2 * s1, max_steps=2000))
    branches = [continue_equilibria(pr, eo.with_(p_min=lo1, p_max=hi1, direction=d,
                                                 both_sides=False)) for d in (-1, 1)]
    points = sorted(((sp, br) for br in branches for sp in br.special_points
                     if sp.type in ("H", "LP")), key=lambda t: t[0].param)
    say(f"equilibria in {names[0]}: " + ", ".join(f"{sp.type} {sp.param:.6g}"
                                                  for sp, _ in points))
    co = _options(curve_options, dict(ds=1e-3 * s2, ds_max=2e-2 * s2, max_steps=1000))
    co = co.with_(p_min=lo1, p_max=hi1, bounds={names[1]: (lo2, hi2)}, both_sides=True,
                  direction=1)
    curves: list[MapCurve] = []
    for sp, br in points:
        if any(c.kind == sp.type and _near(c, sp.param, b2, s1, s2, 2e-3) for c in curves):
            messages.append(f"{sp.type} at {names[0]} = {sp.param:.6g}: on an earlier curve")
            continue
        fn = continue_hopf if sp.type == "H" else continue_fold
        try:
            cb = cached(f"{sp.type}_{sp.param:.6f}", fn, br, sp, names[1], co)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError) as exc:
            messages.append(f"{sp.type} curve from {names[0]} = {sp.param:.6g} failed: {exc}")
            continue
        curves.append(_curve_from(sp.type, cb, i1, i2, f"{sp.type} at {names[0]} = "
                                                       f"{sp.param:.6g}"))
        say(f"{sp.type} curve from {sp.param:.6g}: {len(cb)} points ({cb.message})")

    # 2. GH points and their LPC curves
    gh: list[tuple[float, float, bool, int]] = []
    lo = _options(lpc_options, dict(ds=1e-2 * s2, ds_max=5e-2 * s2, max_steps=200,
                                   both_sides=True))
    lo = lo.with_(p_min=lo1, p_max=hi1, bounds={names[1]: (lo2, hi2)})
    gh_all = [(float(g.p[i1]), float(g.p[i2]), bool(g.located), k)
              for k, c in enumerate(curves) if c.kind == "H" for g in c.branch.points("GH")]
    for k in range(len(curves)):
        c = curves[k]
        if c.kind != "H":
            continue
        for g in c.branch.points("GH"):
            q1, q2 = float(g.p[i1]), float(g.p[i2])
            gh.append((q1, q2, bool(g.located), k))
            if not lpc_from_gh:
                continue
            if not g.located:
                messages.append(f"GH at ({q1:.6g}, {q2:.6g}) not located: {g.message}; "
                                "no LPC curve started there")
                continue
            on = [j for j, d in enumerate(curves) if d.kind == "LPC"
                  and _near(d, q1, q2, s1, s2, 1e-2)]
            if on:
                messages.append(f"GH at ({q1:.6g}, {q2:.6g}): LPC curve {on[0]} ends there")
                continue
            ts = time.perf_counter()
            try:
                lb = cached(f"LPC_{q1:.6f}_{q2:.6f}", continue_lpc_from_gh, c.branch, g, lo,
                            collocation, cycle_options=cycle_options)
            except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
                messages.append(f"LPC curve from GH ({q1:.6g}, {q2:.6g}) failed: {exc}")
                say(messages[-1])
                continue
            lc = _curve_from("LPC", lb, i1, i2, f"GH ({q1:.6g}, {q2:.6g})")
            known = [(a, b) for a, b, ok, _ in gh_all if ok]
            for piece, note in _split_at_zero_amplitude(lc, known, s1, s2):
                if note:
                    messages.append(f"LPC curve from GH ({q1:.6g}, {q2:.6g}): {note}")
                if piece is None:
                    continue
                for m in _join_to_gh(piece, known, s1, s2):
                    messages.append(f"LPC curve from GH ({q1:.6g}, {q2:.6g}): {m}")
                curves.append(piece)
            say(f"LPC curve from GH ({q1:.6g}, {q2:.6g}): {len(lb)} points, {lb.message} "
                f"({time.perf_counter() - ts:.0f} s)")

    if not lpc_from_gh and gh:
        messages.append(f"LPC curves from the {len(gh)} GH point(s) not computed "
                        "(lpc_from_gh=False): regions bounded by Hopf and fold curves only")
    # 3. regions and their samples
    box = ((lo1, hi1), (lo2, hi2))
    wall, per_curve = _rasterize(curves, box, raster)
    labels, cells = _regions(wall, per_curve, max(1, int(min_region_fraction * raster ** 2)))
    g1 = np.linspace(lo1, hi1, raster)
    g2 = np.linspace(lo2, hi2, raster)
    coarse1 = np.linspace(lo1, hi1, 21)
    coarse2 = np.linspace(lo2, hi2, 21)
    grid = equilibrium_grid(problem, i1, coarse1, i2, coarse2)
    pool: list[tuple[float, float, np.ndarray]] = []  # oscillations found: (p1, p2, state)
    lpc_cycles = [(c, j) for c in curves if c.kind == "LPC" and c.branch is not None
                  for j in range(len(c.p1)) if c.rows[j] >= 0]

    def equilibrium(q1: float, q2: float) -> tuple[np.ndarray | None, int]:
        d = np.hypot((grid.values1[None, :] - q1) / s1, (grid.values2[:, None] - q2) / s2)
        d = np.where(grid.found, d, np.inf)
        if not np.isfinite(d).any():
            return None, -1
        a, b = np.unravel_index(int(np.argmin(d)), d.shape)
        p = problem.p0.copy()
        p[i1], p[i2] = grid.values1[b], grid.values2[a]
        one = equilibrium_grid(problem, i1, [q1], i2, [q2], x0=grid.states[a, b], p0=p)
        return (one.states[0, 0], int(one.n_unstable[0, 0])) if one.found[0, 0] else (None, -1)

    def sample(q1: float, q2: float, carried: np.ndarray | None = None) -> Sample:
        p = problem.p0.copy()
        p[i1], p[i2] = q1, q2
        x_eq, nu = equilibrium(q1, q2)
        scale = 1.0 + (float(np.max(np.abs(x_eq))) if x_eq is not None else 0.0)
        tol = amp_tol * scale
        starts: list[tuple[str, np.ndarray]] = []
        if x_eq is not None:
            J = problem.jac_x(x_eq, p)
            ev, vec = np.linalg.eig(J.toarray() if hasattr(J, "toarray") else np.asarray(J))
            v = vec[:, int(np.argmax(ev.real))]
            v = np.real(v) if np.any(np.real(v)) else np.imag(v)
            starts.append(("equilibrium", x_eq + 1e-3 * scale * v / np.linalg.norm(v)))
        if lpc_cycles:
            c, j = min(lpc_cycles, key=lambda cj: math.hypot((cj[0].p1[cj[1]] - q1) / s1,
                                                             (cj[0].p2[cj[1]] - q2) / s2))
            U = c.branch.cycle(int(c.rows[j])).U
            starts += [("lpc cycle", U[k]) for k in (0, len(U) // 3, 2 * len(U) // 3)]
        if carried is not None:
            starts.append(("carried cycle", carried))
        if pool:
            _, _, xs = min(pool, key=lambda t: math.hypot((t[0] - q1) / s1, (t[1] - q2) / s2))
            starts.append(("neighbour's cycle", xs))
        runs = []
        for name, x0 in starts:
            try:
                t, X = integrate(np.asarray(x0, float), p, t_end)
                runs.append(_classify(np.asarray(t), np.asarray(X), x_eq, t_window, tol, name))
            except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
                messages.append(f"integration at ({q1:.4g}, {q2:.4g}) from {name}: {exc}")
        for a in runs:
            if a.kind == "cycle":
                pool.append((q1, q2, a.final))
        return Sample(q1, q2, x_eq is not None, nu, runs, _distinct(runs, tol))

    def unstable_near(j1: int, j2: int) -> bool:
        a = int(np.argmin(np.abs(grid.values2 - g2[j2])))
        b = int(np.argmin(np.abs(grid.values1 - g1[j1])))
        return bool(grid.unstable[a, b])

    regions = []
    cells.sort(key=lambda c: not unstable_near(c[3], c[4]))  # oscillations first: the pool
    for lab, frac, bounded, j1, j2 in cells:
        ts = time.perf_counter()
        s = sample(float(g1[j1]), float(g2[j2]))
        ok = all(a.kind != "unsettled" for a in s.runs) and s.eq_found
        status = "confirmed" if s.coexistence else ("single" if ok else "unconfirmed")
        regions.append(Region(int(lab), float(frac), bounded, s, status))
        say(f"region {lab} ({frac:.3f} of the box) sample ({s.p1:.4g}, {s.p2:.4g}): {status}: "
            f"{s.describe()} ({time.perf_counter() - ts:.0f} s)")

    # 4. line scans
    scans = []
    for v in lines:
        vals = np.linspace(lo2, hi2, line_points)
        samples, carried = [], None
        for q2 in vals:
            s = sample(float(v), float(q2), carried)
            cyc = [a for a in s.runs if a.kind == "cycle"]
            carried = max(cyc, key=lambda a: a.amplitude).final if cyc else carried
            samples.append(s)
        cross = sorted((x, k) for k, c in enumerate(curves) for x in c.crossings(float(v)))
        scans.append(LineScan(float(v), vals, samples, cross))
        say(f"line {names[0]} = {v}: coexistence on {scans[-1].intervals()}")
    return CoexistenceMap(names, (lo1, hi1), (lo2, hi2), curves, gh, regions, scans, labels,
                          messages, time.perf_counter() - t0)


# ----------------------------------------------------------------------------- figure
def plot_coexistence_map(res: CoexistenceMap, out: Any = None,
                         labels: tuple[str, str] | None = None, title: str = "") -> Any:
    """The map: Hopf curves (solid supercritical, dashed subcritical), fold and LPC curves,
    GH points, regions with confirmed coexistence shaded, every sample marked (filled:
    coexistence confirmed; open: not).  Saved as ``out.png`` / ``out.pdf`` when ``out`` (a
    path stem) is given.  Returns the matplotlib Figure."""
    from matplotlib.lines import Line2D

    from bifsnn._figures import save_figure, subplots

    fig, ax = subplots(figsize=(7.2, 6.0), constrained_layout=True)
    (lo1, hi1), (lo2, hi2) = res.range1, res.range2
    shade = np.isin(res.labels, [r.label for r in res.confirmed])
    if shade.any():
        ax.contourf(np.linspace(lo1, hi1, shade.shape[1]), np.linspace(lo2, hi2, shade.shape[0]),
                    shade.astype(float), levels=[0.5, 1.5], colors=["#fdbf6f"], alpha=0.6)
    handles = [Line2D([], [], color="#fdbf6f", lw=8, alpha=0.6,
                      label="coexistence confirmed (region)")] if shade.any() else []
    styles = {"super": ("k", "-", "Hopf, supercritical"), "sub": ("k", "--", "Hopf, subcritical"),
              "unknown": ("0.5", "-", "Hopf, l1 unknown"), "LP": ("#1f78b4", ":", "fold (LP)"),
              "LPC": ("#e31a1c", "-", "fold of cycles (LPC)")}
    seen = set()
    for c in res.curves:
        for lab, xy in c.segments():
            col, ls, name = styles[lab]
            ax.plot(xy[:, 0], xy[:, 1], color=col, ls=ls, lw=1.8)
            if lab not in seen:
                handles.append(Line2D([], [], color=col, ls=ls, lw=1.8, label=name))
                seen.add(lab)
    for q1, q2, _, _ in res.gh:
        ax.plot(q1, q2, "*", ms=13, mfc="yellow", mec="k", zorder=6)
    if res.gh:
        handles.append(Line2D([], [], ls="", marker="*", ms=11, mfc="yellow", mec="k",
                              label="GH (Bautin)"))
    pts = [(r.sample, "s") for r in res.regions if r.sample] + [
        (s, "o") for ln in res.lines for s in ln.samples]
    for s, m in pts:
        ax.plot(s.p1, s.p2, m, ms=6 if m == "s" else 4, mec="#33a02c",
                mfc="#33a02c" if s.coexistence else "none", zorder=5)
    for m, lab in (("s", "region sample"), ("o", "line sample")):
        handles.append(Line2D([], [], ls="", marker=m, mec="#33a02c", mfc="#33a02c",
                              label=f"{lab}: two attractors reached"))
    handles.append(Line2D([], [], ls="", marker="o", mec="#33a02c", mfc="none",
                          label="sample: one attractor (or unsettled)"))
    ax.set_xlim(lo1, hi1)
    ax.set_ylim(lo2, hi2)
    ax.set_xlabel((labels or res.params)[0])
    ax.set_ylabel((labels or res.params)[1])
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(handles=handles, fontsize=7, loc="best", framealpha=0.8)
    if out is not None:
        save_figure(fig, out)
    return fig
