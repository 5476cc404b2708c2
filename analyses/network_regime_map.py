"""Flagship regime map: SNN regimes over (p_EI, tau_EE) with the reduced ODE's bifurcation
curves overlaid.

1. The reduced ODE (``MarkovModelDef(params, bin_rule="smooth")``) is continued in p_EI at the
   default tau_EE (1.4 ms) over the p_EI range; every Hopf (and fold) point found there is
   continued in (p_EI, tau_EE) within the plotted box (two-parameter curves, with
   Bogdanov-Takens, Bautin and cusp detection).  A Hopf point that an earlier curve already
   passes through (same p_EI and frequency at the default tau_EE) is not continued again.
2. At every grid point the ODE's equilibrium is found by Newton (marching over the grid from
   the default equilibrium) and its stability is recorded: "equilibrium unstable" is the
   ODE's prediction of oscillations.
3. The SNN is swept over the same grid (``bifsnn.sweeps``; resumable store under ``out/``),
   and every run is classified (asynchronous / regular-MFE / alternating-MFE / irregular).
4. ``figures/network_regime_map.{png,pdf}``: the majority regime per cell, the curves (solid
   where the Hopf bifurcation is supercritical, l1 < 0; dashed where subcritical), the
   codim-2 points, and a dot in every cell where the ODE equilibrium is unstable.
   ``figures/network_regime_map.md``: grid, regime counts, curves, codim-2 points, and the
   cell-by-cell agreement of "SNN oscillates" with "ODE equilibrium unstable".

Usage::

    python analyses/network_regime_map.py                     # full size (default grid)
    python analyses/network_regime_map.py --n-pei 3 --n-tau 2 --seeds 1 --t-ms 400 \\
        --max-curve-steps 5 --out /tmp/rm --figures /tmp/rm   # smoke size

The Hopf curves are cached in the output directory (``curves.json``, keyed by the settings
that determine them), so re-plotting after a finished sweep does not redo the continuation.
A hand-written reading between the ``<!-- reading:begin -->`` / ``<!-- reading:end -->``
markers of an existing markdown file is kept when the file is regenerated.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bifsnn.network.params import NetworkParams

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "figures"
OUT = ROOT / "out" / "network_regime_map"
P_RANGE = (0.3, 1.0)
TAU_RANGE = (1.0, 4.0)
#: SNN regime labels counted as "oscillating" (MFEs present) for the comparison with the ODE.
OSCILLATING = ("regular-MFE", "alternating-MFE", "irregular")
READING_BEGIN = "<!-- reading:begin -->"
READING_END = "<!-- reading:end -->"

__all__ = [
    "BifurcationCurves",
    "Codim2Point",
    "Curve",
    "EquilibriumGrid",
    "bifurcation_curves",
    "compare",
    "equilibrium_grid",
    "main",
    "plot_map",
    "probe_disagreements",
    "run_snn_sweep",
    "write_markdown",
]


# ----------------------------------------------------------------------------- results
@dataclass
class Curve:
    """One two-parameter curve of the reduced ODE in the (p_EI, tau_EE) plane.

    ``kind`` is "H" (Hopf) or "LP" (fold); ``start_p_ei`` the one-parameter point (at the
    base tau_EE) it was started from.  ``omega`` (rad/ms) and ``l1`` (first Lyapunov
    coefficient; < 0 supercritical) are per point, NaN for folds.  The two continuation
    directions are joined into one polyline ordered along the curve.
    """

    kind: str
    start_p_ei: float
    p_ei: np.ndarray
    tau_ee: np.ndarray
    omega: np.ndarray
    l1: np.ndarray
    messages: list[str]
    success: bool

    def xy(self) -> np.ndarray:
        """(n, 2) array of (p_EI, tau_EE) points."""
        return np.c_[self.p_ei, self.tau_ee]

    def crossings(self, tau: float) -> list[tuple[float, float]]:
        """(p_EI, omega) where the polyline crosses tau_EE = ``tau`` (linear interpolation)."""
        out = []
        t = self.tau_ee - tau
        for i in range(len(t) - 1):
            if t[i] == 0.0:
                out.append((float(self.p_ei[i]), float(self.omega[i])))
            elif t[i] * t[i + 1] < 0:
                th = t[i] / (t[i] - t[i + 1])
                out.append((float(self.p_ei[i] + th * (self.p_ei[i + 1] - self.p_ei[i])),
                            float(self.omega[i] + th * (self.omega[i + 1] - self.omega[i]))))
        if len(t) and t[-1] == 0.0:
            out.append((float(self.p_ei[-1]), float(self.omega[-1])))
        return out

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("p_ei", "tau_ee", "omega", "l1"):
            d[k] = [None if not math.isfinite(v) else float(v) for v in getattr(self, k)]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Curve:
        arr = {k: np.array([np.nan if v is None else v for v in d[k]], dtype=float)
               for k in ("p_ei", "tau_ee", "omega", "l1")}
        return cls(kind=d["kind"], start_p_ei=d["start_p_ei"], messages=list(d["messages"]),
                   success=bool(d["success"]), **arr)


@dataclass
class Codim2Point:
    """A codim-2 point located on a curve: BT, GH (Bautin) or CP."""

    type: str
    p_ei: float
    tau_ee: float
    omega: float
    located: bool
    curve: int  # index into BifurcationCurves.curves


@dataclass
class BifurcationCurves:
    """Reduced-ODE bifurcation structure in the (p_EI, tau_EE) box.

    ``one_param``: H / LP points of the p_EI continuation at the base tau_EE (type, p_EI,
    omega, l1).  ``skipped``: one-parameter points not continued, with the reason.
    """

    base_tau_ee: float
    p_range: tuple[float, float]
    tau_range: tuple[float, float]
    one_param: list[dict[str, Any]]
    curves: list[Curve]
    codim2: list[Codim2Point]
    skipped: list[str]
    success: bool
    message: str
    elapsed_s: float
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k not in ("curves", "codim2")}
        d["curves"] = [c.to_json() for c in self.curves]
        d["codim2"] = [asdict(c) for c in self.codim2]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> BifurcationCurves:
        d = dict(d)
        d["curves"] = [Curve.from_json(c) for c in d["curves"]]
        d["codim2"] = [Codim2Point(**c) for c in d["codim2"]]
        d["p_range"] = tuple(d["p_range"])
        d["tau_range"] = tuple(d["tau_range"])
        return cls(**d)


@dataclass
class EquilibriumGrid:
    """The ODE equilibrium at every grid point: ``n_unstable`` eigenvalues with Re > 0
    (-1 where Newton failed), ``leading`` eigenvalue (largest real part), Newton
    ``residual``, the ``states`` (NaN where Newton failed); arrays indexed [tau_EE, p_EI]."""

    p_ei: np.ndarray
    tau_ee: np.ndarray
    n_unstable: np.ndarray
    leading: np.ndarray
    residual: np.ndarray
    success: bool
    message: str
    states: np.ndarray | None = None

    @property
    def unstable(self) -> np.ndarray:
        return self.n_unstable > 0


# ----------------------------------------------------------------------------- continuation
def _one_blas_thread():
    """BLAS held to one thread (threadpoolctl, if installed): the 148 x 148 solves are
    several times faster so on a loaded machine; a no-op context otherwise."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


@functools.lru_cache(maxsize=4)
def _base_equilibrium(params: NetworkParams) -> tuple[Any, Any]:
    """Compiled reduced model (smooth bin rule) and its equilibrium at ``params`` (cached:
    the equilibrium search integrates the ODE for 600 ms first)."""
    from bifsnn.reduction import MarkovModelDef, find_equilibrium

    model = MarkovModelDef(params, bin_rule="smooth").compile()
    return model, find_equilibrium(model)


def _check_box(name: str, box: Sequence[float], lo_min: float) -> tuple[float, float]:
    lo, hi = (float(v) for v in box)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo_min <= lo < hi):
        raise ValueError(f"{name} = ({lo!r}, {hi!r}) is out of range: need {lo_min} <= lo < hi")
    return lo, hi


def _guarded(system_cls):
    """Subclass of a codim-2 system whose evaluation returns NaN instead of raising when the
    Jacobian at a Newton iterate is not finite (the corrector then shrinks the step).
    Without it a predictor step into the invalid state region aborts the whole curve."""

    class Guarded(system_cls):
        def _solve(self, u):
            try:
                return super()._solve(u)
            except (np.linalg.LinAlgError, ValueError):
                x, p = self.split(u)
                nan = np.full(self.n, np.nan + 0j)
                return dict(x=x, p=p, omega=float(u[-1]), J=None, v=nan, w=nan,
                            s=complex(np.nan, np.nan), g=np.nan)

        def G(self, u):
            if self._cached(u)["J"] is None:
                return np.full(np.asarray(u).size - 1, np.nan)  # one equation per unknown - 1
            return super().G(u)

    return Guarded


def _continue_two_param(kind: str, branch, point, param2: str, opts) -> Any:
    """``continue_hopf`` / ``continue_fold`` with the guarded systems of :func:`_guarded`
    (falls back to the public functions if the engine's internals are not available)."""
    from bifsnn.continuation import codim2

    try:
        curve_fn = codim2._continue_curve
        system_cls = codim2.HopfSystem if kind == "H" else codim2.FoldSystem
    except AttributeError:
        fn = codim2.continue_hopf if kind == "H" else codim2.continue_fold
        return fn(branch, point, param2, opts)
    pr = branch.problem
    free = [point.param_indices[0], pr.param_index(param2)]
    cls = _guarded(system_cls)
    if kind == "H":
        omega = float(point.data["omega"])
        sys_ = cls(pr, free, point.x, point.p, omega)
        u0 = sys_.u_of(point.x, point.p, omega)
    else:
        sys_ = cls(pr, free, point.x, point.p)
        u0 = sys_.u_of(point.x, point.p)
    return curve_fn(kind, sys_, u0, pr, opts, free, f"{branch.name}-{kind}")


def _join(back, fwd, kind: str, start: float) -> tuple[Curve, list[tuple[int, Any]]]:
    """Join the two directions (backward reversed, then forward without its first point)."""
    parts, specials = [], []
    offset = 0
    for j, br in enumerate((back, fwd)):
        if br is None or len(br.x) == 0:
            continue
        P = br.p[:, list(br.param_indices)]
        om = br.extra.get("omega", np.full(len(P), np.nan))
        gh = br.extra.get("GH", np.full(len(P), np.nan)) if kind == "H" \
            else np.full(len(P), np.nan)
        rows = np.arange(len(P))
        if j == 0:
            rows = rows[::-1]
        elif parts:
            rows = rows[1:]
        idx_map = {int(r): offset + k for k, r in enumerate(rows)}
        parts.append(np.c_[P[rows], np.asarray(om)[rows], np.asarray(gh)[rows]])
        for sp in br.special_points:
            if sp.type != "EP" and int(sp.index) in idx_map:
                specials.append((idx_map[int(sp.index)], sp))
        offset += len(rows)
    arr = np.vstack(parts) if parts else np.zeros((0, 4))
    msgs = [f"{d}: {br.message}" for d, br in (("backward", back), ("forward", fwd))
            if br is not None]
    ok = all(br is not None and br.success for br in (back, fwd))
    return Curve(kind=kind, start_p_ei=start, p_ei=arr[:, 0], tau_ee=arr[:, 1],
                 omega=arr[:, 2], l1=arr[:, 3], messages=msgs, success=ok), specials


def _already_on(curves: list[Curve], kind: str, p_ei: float, omega: float, tau: float,
                tol_p: float = 5e-3, tol_omega: float = 0.02) -> int | None:
    """Index of a curve of ``kind`` passing through (p_ei, tau) with frequency ``omega``
    (relative tolerance ``tol_omega``; any frequency for folds), else None."""
    for i, c in enumerate(curves):
        if c.kind != kind:
            continue
        for p, om in c.crossings(tau):
            same_om = kind != "H" or abs(abs(om) - abs(omega)) <= tol_omega * abs(omega)
            if abs(p - p_ei) <= tol_p and same_om:
                return i
    return None


def bifurcation_curves(
    params: NetworkParams | None = None,
    *,
    p_range: Sequence[float] = P_RANGE,
    tau_range: Sequence[float] = TAU_RANGE,
    ds_frac: float = 0.005,
    ds_max_frac: float = 0.1,
    max_steps: int = 400,
    progress: bool = True,
) -> BifurcationCurves:
    """Hopf and fold curves of the reduced ODE in the (p_EI, tau_EE) box.

    Continues the equilibrium in p_EI from the base point in both directions, then every
    H/LP point in (p_EI, tau_EE), both directions, within the box.  Arclength steps are
    ``ds_frac`` and at most ``ds_max_frac`` times N_E + N_I (the state norm is O(1e3)).
    """
    from bifsnn.continuation import ContinuationOptions, continue_equilibria

    t0 = time.perf_counter()
    params = params or NetworkParams()
    p_lo, p_hi = _check_box("p_range", p_range, 0.0)
    t_lo, t_hi = _check_box("tau_range", tau_range, 1e-6)
    if not (p_lo <= params.p_EI <= p_hi):
        raise ValueError(f"params.p_EI = {params.p_EI} is outside p_range = {(p_lo, p_hi)}")
    if not (t_lo <= params.tau_EE <= t_hi):
        raise ValueError(f"params.tau_EE = {params.tau_EE} is outside tau_range = "
                         f"{(t_lo, t_hi)}")
    if not (isinstance(max_steps, int) and max_steps >= 1):
        raise ValueError(f"max_steps = {max_steps!r} is out of range: must be an integer >= 1")
    say = (lambda s: print(s, flush=True)) if progress else (lambda s: None)
    N = params.N_E + params.N_I
    settings = dict(params=params.to_dict(),
                    p_range=[p_lo, p_hi], tau_range=[t_lo, t_hi], ds_frac=ds_frac,
                    ds_max_frac=ds_max_frac, max_steps=max_steps)
    model, eq = _base_equilibrium(params)
    if not eq.success:
        return BifurcationCurves(params.tau_EE, (p_lo, p_hi), (t_lo, t_hi), [], [], [], [],
                                 False, f"no equilibrium at the base point: {eq.message}",
                                 time.perf_counter() - t0, settings)
    opts1 = ContinuationOptions(ds=ds_frac * N, ds_max=0.05 * N, p_min=p_lo, p_max=p_hi,
                                max_steps=1000)
    branches = []
    for d in (-1, 1):
        br = continue_equilibria(model.ode_problem("p_EI", x0=eq.x), opts1.with_(direction=d))
        say(f"equilibria p_EI direction {d:+d}: {len(br.x)} points, {br.message}")
        branches.append(br)
    points = sorted(((sp, br) for br in branches for sp in br.special_points
                     if sp.type in ("H", "LP")), key=lambda t: t[0].param)
    one = []
    for sp, _ in points:
        item = {"type": sp.type, "p_EI": sp.param}
        for k in ("omega", "l1"):
            if k in sp.data and sp.data[k] is not None:
                item[k] = float(sp.data[k])
        one.append(item)
    opts2 = ContinuationOptions(ds=ds_frac * N, ds_max=ds_max_frac * N, p_min=p_lo,
                                p_max=p_hi, bounds={"tau_EE": (t_lo, t_hi)},
                                max_steps=max_steps)
    curves: list[Curve] = []
    codim2: list[Codim2Point] = []
    skipped: list[str] = []
    messages: list[str] = []
    for sp, br in points:
        omega = float(sp.data.get("omega", np.nan))
        hit = _already_on(curves, sp.type, sp.param, omega, params.tau_EE)
        if hit is not None:
            skipped.append(f"{sp.type} at p_EI = {sp.param:.4f}: lies on curve {hit} "
                           f"(started at p_EI = {curves[hit].start_p_ei:.4f})")
            say(skipped[-1])
            continue
        runs = []
        for d in (-1, 1):
            ts = time.perf_counter()
            try:
                c = _continue_two_param(sp.type, br, sp, "tau_EE", opts2.with_(direction=d))
            except (np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
                c = None
                messages.append(f"{sp.type} at p_EI = {sp.param:.4f}, direction {d:+d}: "
                                f"{type(exc).__name__}: {exc}")
            runs.append(c)
            say(f"{sp.type} curve from p_EI = {sp.param:.4f}, direction {d:+d}: "
                f"{'failed' if c is None else f'{len(c.x)} points, {c.message}'} "
                f"({time.perf_counter() - ts:.0f} s)")
        curve, specials = _join(runs[0], runs[1], sp.type, sp.param)
        if len(curve.p_ei) == 0:
            skipped.append(f"{sp.type} at p_EI = {sp.param:.4f}: continuation failed")
            continue
        curves.append(curve)
        for row, s2 in specials:
            om = float(s2.data.get("omega", curve.omega[row]))
            codim2.append(Codim2Point(s2.type, float(curve.p_ei[row]),
                                      float(curve.tau_ee[row]), om, bool(s2.located),
                                      len(curves) - 1))
    ok = bool(curves) and all(c.success for c in curves) and not messages
    msg = "; ".join(messages) if messages else (
        f"{len(curves)} curve(s) from {len(points)} one-parameter point(s)" if points
        else "no Hopf or fold point on the p_EI branch at the base tau_EE")
    return BifurcationCurves(params.tau_EE, (p_lo, p_hi), (t_lo, t_hi), one, curves, codim2,
                             skipped, ok or (not points), msg, time.perf_counter() - t0,
                             settings)


def equilibrium_grid(
    p_values: Sequence[float], tau_values: Sequence[float], params: NetworkParams | None = None,
    *, tol: float = 1e-9, max_iter: int = 20,
) -> EquilibriumGrid:
    """Equilibrium of the reduced ODE and its stability at every (p_EI, tau_EE) grid point.

    Newton on the ODE problem, marching along p_EI within each tau_EE row and starting each
    row from the previous row's first solution (all from the base equilibrium), so the
    equilibrium followed is the one continued from the base point.
    """
    params = params or NetworkParams()
    pv, tv = np.asarray(p_values, float), np.asarray(tau_values, float)
    if pv.ndim != 1 or tv.ndim != 1 or not len(pv) or not len(tv):
        raise ValueError("p_values and tau_values must be non-empty 1-D sequences")
    model, eq = _base_equilibrium(params)
    prob = model.ode_problem("p_EI", x0=eq.x)
    ip, it_ = prob.param_index("p_EI"), prob.param_index("tau_EE")
    shape = (len(tv), len(pv))
    nu = np.full(shape, -1, dtype=int)
    lead = np.full(shape, np.nan + 0j)
    resid = np.full(shape, np.nan)
    states = np.full((*shape, prob.n), np.nan)
    failures = []
    if not eq.success:
        return EquilibriumGrid(pv, tv, nu, lead, resid, False,
                               f"no equilibrium at the base point: {eq.message}")

    def newton(x, p):
        """Undamped Newton (max|f| often grows at the first step and then falls
        quadratically, so a line search on max|f| stalls); returns (x, max|f|), inf when
        the iterate leaves the domain or does not converge within max_iter."""
        f = prob.rhs(x, p)
        for _ in range(max_iter):
            if not np.all(np.isfinite(f)):
                return x, np.inf
            r = float(np.max(np.abs(f)))
            if r <= tol * (1.0 + float(np.max(np.abs(x)))):
                return x, r
            try:
                x = x + np.linalg.solve(np.asarray(prob.jac_x(x, p)), -f)
            except np.linalg.LinAlgError:
                return x, np.inf
            f = prob.rhs(x, p)
        return x, np.inf

    def march(x, p, target_p, target_t):
        """Newton from (x, p) to the target parameters along a straight line, in steps of
        at most 0.05 in p_EI and 0.25 ms in tau_EE (to stay on the followed equilibrium),
        halving a step on failure (down to 2**-10 of the way)."""
        q0 = p.copy()
        q1 = p.copy()
        q1[ip], q1[it_] = target_p, target_t
        dist = max(abs(q1[ip] - q0[ip]) / 0.05, abs(q1[it_] - q0[it_]) / 0.25, 1.0)
        h_max = 1.0 / math.ceil(dist)
        s, h, r = 0.0, h_max, 0.0
        while s < 1.0 - 1e-12:
            h = min(h, 1.0 - s)
            xt, r = newton(x, q0 + (s + h) * (q1 - q0))
            if np.isfinite(r):
                x, s, h = xt, s + h, min(2 * h, h_max)
            elif h > 2.0 ** -10:
                h /= 2
            else:
                return x, np.inf
        return x, r

    p_base = prob.p0.copy()
    row_start = (eq.x.copy(), p_base.copy())
    with _one_blas_thread():
        _march_grid(pv, tv, row_start, march, prob, ip, it_, nu, lead, resid, states,
                    failures)
    return EquilibriumGrid(pv, tv, nu, lead, resid, not failures,
                           "ok" if not failures else "Newton failed at " + "; ".join(failures),
                           states)


def _march_grid(pv, tv, row_start, march, prob, ip, it_, nu, lead, resid, states,
                failures) -> None:
    from bifsnn.continuation.events import eigenvalues

    for i, tau in enumerate(tv):
        x, p = row_start
        x, r = march(x, p, pv[0], tau)
        p = p.copy()
        p[ip], p[it_] = pv[0], tau
        row_start = (x.copy(), p.copy())
        for j, pe in enumerate(pv):
            if j > 0:
                x, r = march(x, p, pe, tau)
                p = p.copy()
                p[ip] = pe
            if not np.isfinite(r):
                failures.append(f"(p_EI={pe:.3f}, tau_EE={tau:.3f}): residual {r:.3g}")
                continue
            ev = eigenvalues(np.asarray(prob.jac_x(x, p)), "dense")
            nu[i, j] = int(np.sum(ev.real > 0))
            lead[i, j] = ev[0]
            resid[i, j] = r
            states[i, j] = x


# ----------------------------------------------------------------------------- sweep
def run_snn_sweep(
    out: str | Path, p_values: Sequence[float], tau_values: Sequence[float], *,
    seeds: Sequence[int] = (0, 1), t_ms: float = 2000.0, transient_ms: float = 100.0,
    base: dict[str, Any] | None = None, backend: str = "pool", workers: int | None = 2,
    progress: bool = True,
) -> tuple[Any, Any]:
    """Run (or resume) the SNN sweep over the grid; returns (SweepRunResult, dataset)."""
    from bifsnn.sweeps import SweepSpec, run_sweep

    spec = SweepSpec(grid={"p_EI": [float(v) for v in p_values],
                           "tau_EE": [float(v) for v in tau_values]},
                     model="snn", t_ms=float(t_ms), seeds=list(seeds),
                     transient_ms=float(transient_ms), base=dict(base or {}),
                     name="network_regime_map")
    res = run_sweep(spec, out, backend=backend, workers=workers if backend != "serial"
                    else None, progress=progress)
    return res, res.dataset()


# ----------------------------------------------------------------------------- comparison
def _majority_labels(ds) -> np.ndarray:
    """Majority regime per cell, array [tau_EE, p_EI] (plot.reduce_to_2d's rule)."""
    from bifsnn.sweeps.plot import reduce_to_2d

    arr, _ = reduce_to_2d(ds, "p_EI", "tau_EE", "regime")
    return arr


def compare(ds, grid: EquilibriumGrid, curves: BifurcationCurves | None = None
            ) -> dict[str, Any]:
    """Cell-by-cell comparison of the SNN regime with the ODE equilibrium's stability, and
    per tau_EE row: where the SNN switches between asynchronous and oscillating vs where the
    Hopf curves cross the row."""
    labels = np.asarray(ds["regime"].transpose("tau_EE", "p_EI", "seed").values, dtype=object)
    maj = _majority_labels(ds)
    run_counts = Counter(str(v) for v in labels.ravel())
    cell_counts = Counter(str(v) for v in maj.ravel())
    osc = np.vectorize(lambda s: s in OSCILLATING)(maj)
    valid = grid.n_unstable >= 0
    uns = grid.unstable
    table = {
        "SNN osc & ODE unstable": int(np.sum(osc & uns & valid)),
        "SNN async & ODE stable": int(np.sum(~osc & ~uns & valid)),
        "SNN osc & ODE stable": int(np.sum(osc & ~uns & valid)),
        "SNN async & ODE unstable": int(np.sum(~osc & uns & valid)),
        "ODE equilibrium not found": int(np.sum(~valid)),
    }
    seed_split = 0
    for i in range(labels.shape[0]):
        for j in range(labels.shape[1]):
            o = {s in OSCILLATING for s in labels[i, j] if s}
            seed_split += len(o) > 1
    rows = []
    pv = grid.p_ei
    for i, tau in enumerate(grid.tau_ee):
        snn_switch = [0.5 * (pv[j] + pv[j + 1]) for j in range(len(pv) - 1)
                      if osc[i, j] != osc[i, j + 1]]
        ode_switch = [0.5 * (pv[j] + pv[j + 1]) for j in range(len(pv) - 1)
                      if valid[i, j] and valid[i, j + 1] and uns[i, j] != uns[i, j + 1]]
        hopf = []
        if curves is not None:
            for k, c in enumerate(curves.curves):
                if c.kind == "H":
                    hopf += [(p, k) for p, _ in c.crossings(float(tau))]
        rows.append(dict(tau_EE=float(tau), snn_switch=snn_switch, ode_switch=ode_switch,
                         hopf=sorted(hopf)))
    agree = table["SNN osc & ODE unstable"] + table["SNN async & ODE stable"]
    n_valid = int(valid.sum())
    half = 0.5 * float(np.min(np.diff(pv))) if len(pv) > 1 else float("nan")
    return dict(run_counts=dict(run_counts), cell_counts=dict(cell_counts), table=table,
                half_step=half,
                agree=agree, n_valid=n_valid, seed_split_cells=seed_split, rows=rows,
                majority=maj, oscillating=osc)


def _ode_amplitude(model, x0, t_ms: float, window_ms: float) -> tuple[float, float, bool]:
    """(peak-to-peak, mean) of the ODE's per-neuron E rate (Hz, 1 ms bins) over the last
    ``window_ms`` of a run from ``x0``, and whether the integration succeeded."""
    from bifsnn.reduction import simulate_ode

    res = simulate_ode(model, t_ms=t_ms, x0=x0)
    ok = bool(res.options.get("success", True))
    n_e = res.params.N_E
    per_ms = max(1, int(round(1.0 / res.dt_ms)))
    r = np.asarray(res.spike_counts_e, dtype=float)
    r = r[: len(r) // per_ms * per_ms].reshape(-1, per_ms).sum(axis=1)  # spikes per ms
    tail = r[-int(window_ms):] * 1000.0 / n_e
    if len(tail) == 0 or not np.all(np.isfinite(tail)):
        return float("nan"), float("nan"), False
    return float(tail.max() - tail.min()), float(tail.mean()), ok


def _kick(model, x_eq: np.ndarray, size: float) -> np.ndarray:
    """``x_eq`` moved by ``size`` |x_eq| along the real part of the leading eigenvector of
    the Jacobian (that direction keeps the conserved totals of the state, unlike a random
    kick)."""
    ev, vec = np.linalg.eig(np.asarray(model.jacobian(x_eq)))
    v = np.real(vec[:, int(np.argmax(ev.real))])
    if not np.any(v):
        v = np.imag(vec[:, int(np.argmax(ev.real))])
    return x_eq + size * np.linalg.norm(x_eq) * v / np.linalg.norm(v)


def probe_disagreements(grid: EquilibriumGrid, cmp: dict[str, Any],
                        params: NetworkParams | None = None, ds: Any = None, *,
                        t_ms: float = 1500.0, window_ms: float = 500.0,
                        perturbation: float = 1e-3) -> list[dict[str, Any]]:
    """ODE runs at every cell where the SNN and the ODE's linear stability disagree.

    Two runs per cell: from the equilibrium with a relative perturbation (does it decay, or
    grow into a cycle?) and from a state on the oscillation of the nearest cell where both
    oscillate (is there a stable cycle coexisting with a stable equilibrium, i.e. the
    bistable region next to a subcritical Hopf curve?).  Amplitudes are the peak-to-peak
    per-neuron E rate (Hz) over the last ``window_ms``.  With the sweep dataset ``ds`` the
    SNN's seed-mean rate, synchrony ratio and spectral peak are added.
    """
    from bifsnn.reduction import MarkovModelDef

    params = params or NetworkParams()
    osc, valid = cmp["oscillating"], grid.n_unstable >= 0
    dis = np.argwhere(valid & (osc != grid.unstable))
    both = np.argwhere(valid & osc & grid.unstable)
    out: list[dict[str, Any]] = []
    cycle_states: dict[tuple[int, int], np.ndarray] = {}
    for i, j in dis:
        pe, tau = float(grid.p_ei[j]), float(grid.tau_ee[i])
        model = MarkovModelDef(params.replace(p_EI=pe, tau_EE=tau), bin_rule="smooth").compile()
        x_eq = grid.states[i, j]
        amp_eq, mean_eq, ok1 = _ode_amplitude(model, _kick(model, x_eq, perturbation),
                                              t_ms, window_ms)
        item = dict(p_EI=pe, tau_EE=tau, snn=str(cmp["majority"][i, j]),
                    n_unstable=int(grid.n_unstable[i, j]), amp_from_eq_hz=amp_eq,
                    mean_from_eq_hz=mean_eq, amp_from_cycle_hz=float("nan"),
                    mean_from_cycle_hz=float("nan"), cycle_source=None, ok=ok1)
        if ds is not None:
            cell = ds.isel(p_EI=int(j), tau_EE=int(i))
            for k in ("rate_e_hz", "ssi_e_ratio", "spectral_peak_hz"):
                if k in cell:
                    item[f"snn_{k}"] = float(np.nanmean(np.asarray(cell[k].values, float)))
            item["snn_labels"] = [str(v) for v in np.asarray(cell["regime"].values).ravel()]
        if len(both):
            k = int(np.argmin(np.abs(both[:, 0] - i) + np.abs(both[:, 1] - j)))
            ci, cj = (int(v) for v in both[k])
            if (ci, cj) not in cycle_states:
                src = MarkovModelDef(params.replace(p_EI=float(grid.p_ei[cj]),
                                                    tau_EE=float(grid.tau_ee[ci])),
                                     bin_rule="smooth").compile()
                from bifsnn.reduction import simulate_ode

                res = simulate_ode(src, t_ms=t_ms,
                                   x0=_kick(src, grid.states[ci, cj], perturbation))
                cycle_states[(ci, cj)] = np.asarray(res.extra["final_state"])
            amp_c, mean_c, ok2 = _ode_amplitude(model, cycle_states[(ci, cj)], t_ms, window_ms)
            item.update(amp_from_cycle_hz=amp_c, mean_from_cycle_hz=mean_c,
                        cycle_source=(float(grid.p_ei[cj]), float(grid.tau_ee[ci])),
                        ok=item["ok"] and ok2)
        out.append(item)
    return out


# ----------------------------------------------------------------------------- figure
def plot_map(ds, curves: BifurcationCurves | None, grid: EquilibriumGrid | None,
             out: str | Path | None, title: str = "") -> Any:
    """Regime heat map (majority over seeds) with the curves, codim-2 points and ODE
    instability dots; writes ``out.png`` and ``out.pdf`` when ``out`` is given."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.lines import Line2D

    from bifsnn._files import atomic_path
    from bifsnn.sweeps import plot_regime_map

    rm = plot_regime_map(ds, "p_EI", "tau_EE", "regime", title=title or " ")
    fig = rm.figure
    ax = fig.axes[0]
    xlim, ylim = ax.get_xlim(), ax.get_ylim()
    handles = []
    colors = ["k", "#6a3d9a", "#33a02c", "#b15928", "#1f78b4"]
    if curves is not None:
        for k, c in enumerate(curves.curves):
            col = colors[k % len(colors)]
            xy = c.xy()
            if c.kind == "H":
                sub = np.where(np.isfinite(c.l1), c.l1 > 0, False)
                # split into runs of equal criticality; shared end points keep lines joined
                start = 0
                for i in range(1, len(xy) + 1):
                    if i == len(xy) or sub[i] != sub[start]:
                        seg = xy[start:min(i + 1, len(xy))]
                        ax.plot(seg[:, 0], seg[:, 1], color=col, lw=2.0,
                                ls="--" if sub[start] else "-")
                        start = i
                handles.append(Line2D([], [], color=col, lw=2.0,
                                      label=f"Hopf from p_EI={c.start_p_ei:.3f}"))
            else:
                ax.plot(xy[:, 0], xy[:, 1], color=col, lw=2.0, ls=":")
                handles.append(Line2D([], [], color=col, lw=2.0, ls=":",
                                      label=f"fold from p_EI={c.start_p_ei:.3f}"))
        if any(c.kind == "H" for c in curves.curves):
            handles.append(Line2D([], [], color="0.3", lw=1.5, ls="--",
                                  label="dashed: subcritical (l1 > 0)"))
        marks = {"BT": ("s", "BT"), "GH": ("*", "GH (Bautin)"), "CP": ("^", "CP")}
        seen = set()
        for cp in curves.codim2:
            m, lab = marks.get(cp.type, ("o", cp.type))
            ax.plot(cp.p_ei, cp.tau_ee, m, ms=12, mfc="yellow", mec="k", zorder=5)
            if cp.type not in seen:
                handles.append(Line2D([], [], ls="", marker=m, ms=10, mfc="yellow", mec="k",
                                      label=lab))
                seen.add(cp.type)
    if grid is not None and np.any(grid.unstable):
        P, T = np.meshgrid(grid.p_ei, grid.tau_ee)
        ax.plot(P[grid.unstable], T[grid.unstable], "k.", ms=4)
        handles.append(Line2D([], [], ls="", marker=".", color="k", ms=6,
                              label="ODE equilibrium unstable"))
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    ax.set_xlabel("p_EI (I -> E connection probability)")
    ax.set_ylabel("tau_EE (ms)")
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize="small",
                   frameon=False)
    fig.set_size_inches(7.6, 6.4)
    if out is not None:
        stem = Path(out)
        stem.parent.mkdir(parents=True, exist_ok=True)
        for ext in (".png", ".pdf"):
            with atomic_path(stem.parent / (stem.name + ext)) as tmp:
                fig.savefig(tmp, format=ext[1:], dpi=150)
    return fig


# ----------------------------------------------------------------------------- report
def _fmt_list(v: Sequence[float]) -> str:
    return ", ".join(f"{x:.3f}" for x in v) if len(v) else "-"


def _auto_reading(cmp: dict[str, Any], curves: BifurcationCurves | None) -> list[str]:
    """Statements computed from the comparison (no interpretation beyond the numbers)."""
    t = cmp["table"]
    n = cmp["n_valid"]
    out = [f"- Cells where 'SNN oscillates' (majority label regular-, alternating-MFE or "
           f"irregular) matches 'ODE equilibrium unstable': {cmp['agree']} of {n} "
           f"({100.0 * cmp['agree'] / max(n, 1):.0f}%)."]
    out.append(f"- SNN oscillates where the ODE equilibrium is stable: "
               f"{t['SNN osc & ODE stable']} cells; SNN asynchronous where it is unstable: "
               f"{t['SNN async & ODE unstable']} cells.")
    out.append(f"- Cells whose seeds disagree on oscillating vs asynchronous: "
               f"{cmp['seed_split_cells']}.")
    if curves is not None:
        dists = []
        for r in cmp["rows"]:
            hp = [p for p, _ in r["hopf"]]
            dists += [min(abs(x - h) for h in hp) if hp else math.inf for x in r["snn_switch"]]
        if dists:
            half = cmp.get("half_step", float("nan"))
            near = sum(d <= half + 1e-12 for d in dists)
            finite = [d for d in dists if math.isfinite(d)]
            out.append(
                f"- SNN async/oscillating switches (midpoints between grid cells, so the SNN "
                f"boundary is known to +-{half:.3f}) within {half:.3f} of a Hopf-curve "
                f"crossing of the same tau_EE row: {near} of {len(dists)}; largest distance "
                f"{max(finite):.3f}" + (" (some rows have no crossing)"
                                        if len(finite) < len(dists) else "") + ".")
    return out


def write_markdown(path: str | Path, *, spec_info: dict[str, Any], curves: BifurcationCurves,
                   grid: EquilibriumGrid, cmp: dict[str, Any], sweep_info: dict[str, Any],
                   figure_name: str, probes: list[dict[str, Any]] | None = None) -> Path:
    """Write the report; a hand-written reading between the markers is kept."""
    from bifsnn.network.results import atomic_write_text

    path = Path(path)
    kept = ""
    if path.exists():
        old = path.read_text()
        if READING_BEGIN in old and READING_END in old:
            kept = old.split(READING_BEGIN, 1)[1].split(READING_END, 1)[0].strip("\n")
    L: list[str] = []
    L.append("# Regime map over (p_EI, tau_EE): SNN sweep vs the reduced ODE's bifurcations\n")
    L.append(f"Generated by `analyses/network_regime_map.py` ({spec_info['command']}).\n")
    L.append(f"![regime map]({figure_name}.png)\n")
    L.append("## Grid and runs\n")
    L.append(f"- p_EI: {len(grid.p_ei)} values {_fmt_list(grid.p_ei)}")
    L.append(f"- tau_EE (ms): {len(grid.tau_ee)} values {_fmt_list(grid.tau_ee)}")
    L.append(f"- other parameters: defaults of `NetworkParams` (N_E = 300, N_I = 100, "
             f"annealed connectivity, Gaussian drive); seeds {spec_info['seeds']}; "
             f"{spec_info['t_ms']:.0f} ms per run, first {spec_info['transient_ms']:.0f} ms "
             "discarded")
    L.append(f"- sweep: {sweep_info['n_points']} runs, {sweep_info['n_run']} run now "
             f"({sweep_info['n_skipped']} resumed from the store), {sweep_info['n_error']} "
             f"failed; {sweep_info['elapsed_s']:.0f} s wall in this invocation on backend "
             f"{sweep_info['backend']} with {sweep_info['workers']} worker(s); per-run time "
             f"summed over all {sweep_info['n_points']} stored runs: "
             f"{sweep_info.get('run_s_total', float('nan')):.0f} s")
    L.append(f"- reduced ODE: smooth bin rule; continuation {curves.elapsed_s:.0f} s "
             f"(settings: ds = {curves.settings.get('ds_frac')} N, ds_max = "
             f"{curves.settings.get('ds_max_frac')} N, at most "
             f"{curves.settings.get('max_steps')} steps per direction)")
    L.append("- regime classifier: `bifsnn.sweeps.classify` defaults; a cell shows the "
             "majority label over seeds (ties: first in asynchronous, regular-MFE, "
             "alternating-MFE, irregular)\n")
    L.append("## Regime counts\n")
    L.append("| regime | runs | cells (majority) |")
    L.append("|---|---|---|")
    labels = sorted(set(cmp["run_counts"]) | set(cmp["cell_counts"]))
    for lab in labels:
        L.append(f"| {lab or 'no result'} | {cmp['run_counts'].get(lab, 0)} | "
                 f"{cmp['cell_counts'].get(lab, 0)} |")
    L.append("")
    L.append("Majority label per cell (rows tau_EE, columns p_EI; A asynchronous, R "
             "regular-MFE, L alternating-MFE, I irregular; `*` = ODE equilibrium unstable, "
             "`?` = ODE equilibrium not found):\n")
    code = {"asynchronous": "A", "regular-MFE": "R", "alternating-MFE": "L",
            "irregular": "I", "": "-"}
    L.append("```")
    L.append("tau_EE \\ p_EI " + " ".join(f"{p:5.2f}" for p in grid.p_ei))
    for i in range(len(grid.tau_ee) - 1, -1, -1):
        cells = []
        for j in range(len(grid.p_ei)):
            mark = "?" if grid.n_unstable[i, j] < 0 else ("*" if grid.unstable[i, j] else " ")
            cells.append(f"{code.get(str(cmp['majority'][i, j]), '?'):>4}{mark}")
        L.append(f"{grid.tau_ee[i]:13.2f} " + " ".join(cells))
    L.append("```\n")
    L.append("## Reduced ODE: one-parameter points at the base tau_EE and two-parameter "
             "curves\n")
    L.append(f"Continuation in p_EI over [{curves.p_range[0]}, {curves.p_range[1]}] at "
             f"tau_EE = {curves.base_tau_ee} ms:\n")
    L.append("| type | p_EI | omega (rad/ms) | period (ms) | l1 |")
    L.append("|---|---|---|---|---|")
    for it in curves.one_param:
        om = it.get("omega", float("nan"))
        per = 2 * math.pi / om if om and math.isfinite(om) else float("nan")
        L.append(f"| {it['type']} | {it['p_EI']:.4f} | {om:.4f} | {per:.2f} | "
                 f"{it.get('l1', float('nan')):.3g} |")
    L.append("")
    for k, c in enumerate(curves.curves):
        sub = np.sum(np.isfinite(c.l1) & (c.l1 > 0))
        L.append(f"- curve {k} ({'Hopf' if c.kind == 'H' else 'fold'}, from p_EI = "
                 f"{c.start_p_ei:.4f}): {len(c.p_ei)} points, p_EI in "
                 f"[{np.nanmin(c.p_ei):.3f}, {np.nanmax(c.p_ei):.3f}], tau_EE in "
                 f"[{np.nanmin(c.tau_ee):.3f}, {np.nanmax(c.tau_ee):.3f}]"
                 + (f", omega in [{np.nanmin(np.abs(c.omega)):.3f}, "
                    f"{np.nanmax(np.abs(c.omega)):.3f}] rad/ms, {sub} points subcritical"
                    if c.kind == "H" else "")
                 + f"; ends: {'; '.join(c.messages)}")
    for s in curves.skipped:
        L.append(f"- not continued: {s}")
    L.append(f"- continuation status: {curves.message}")
    L.append("")
    L.append("Codim-2 points located on the curves:\n")
    if curves.codim2:
        L.append("| type | p_EI | tau_EE (ms) | omega (rad/ms) | located | curve |")
        L.append("|---|---|---|---|---|---|")
        for cp in curves.codim2:
            L.append(f"| {cp.type} | {cp.p_ei:.4f} | {cp.tau_ee:.4f} | {cp.omega:.4f} | "
                     f"{'yes' if cp.located else 'no'} | {cp.curve} |")
    else:
        L.append("none in the box.")
    L.append("")
    L.append("## SNN regimes vs the ODE's prediction\n")
    L.append(f"ODE equilibrium per grid point: {grid.message}.\n")
    L.append("| | cells |")
    L.append("|---|---|")
    for k, v in cmp["table"].items():
        L.append(f"| {k} | {v} |")
    L.append("")
    L.append("Per tau_EE row: p_EI midpoints where the SNN majority label switches between "
             "asynchronous and oscillating, where the ODE equilibrium's stability switches on "
             "the grid, and where the Hopf curves cross the row (curve index):\n")
    L.append("| tau_EE | SNN switches | ODE stability switches | Hopf crossings |")
    L.append("|---|---|---|---|")
    for r in cmp["rows"]:
        hopf = ", ".join(f"{p:.3f} ({k})" for p, k in r["hopf"]) or "-"
        L.append(f"| {r['tau_EE']:.2f} | {_fmt_list(r['snn_switch'])} | "
                 f"{_fmt_list(r['ode_switch'])} | {hopf} |")
    L.append("")
    if probes:
        L.append("Cells where they disagree, probed with ODE runs (1500 ms; peak-to-peak of "
                 "the per-neuron E rate over the last 500 ms, Hz) from the equilibrium kicked "
                 "along its leading eigenvector (1e-3 relative) and from a state on the "
                 "oscillation of the nearest cell where both oscillate; SNN: seed means "
                 "(synchrony ratio SSI_E/SSI_indep, classifier threshold 1.5):\n")
        L.append("| p_EI | tau_EE | SNN labels | SNN rate (Hz) | SNN sync ratio | SNN "
                 "spectral peak (Hz) | ODE unstable eigenvalues | ODE p2p from eq. | ODE p2p "
                 "from cycle (source cell) | ODE mean rate from eq. / from cycle (Hz) |")
        L.append("|---|---|---|---|---|---|---|---|---|---|")
        for it in probes:
            src = it.get("cycle_source")
            src_s = f" ({src[0]:.2f}, {src[1]:.2f})" if src else ""
            L.append(f"| {it['p_EI']:.2f} | {it['tau_EE']:.2f} | "
                     f"{', '.join(it.get('snn_labels', [it['snn']]))} | "
                     f"{it.get('snn_rate_e_hz', float('nan')):.1f} | "
                     f"{it.get('snn_ssi_e_ratio', float('nan')):.2f} | "
                     f"{it.get('snn_spectral_peak_hz', float('nan')):.0f} | "
                     f"{it['n_unstable']} | {it['amp_from_eq_hz']:.3g} | "
                     f"{it['amp_from_cycle_hz']:.3g}{src_s} | {it['mean_from_eq_hz']:.1f} / "
                     f"{it['mean_from_cycle_hz']:.1f} |")
        L.append("")
    L.append("## Reading\n")
    L.append("Computed from the tables above:\n")
    L.extend(_auto_reading(cmp, curves))
    L.append("")
    L.append(READING_BEGIN)
    L.append(kept if kept else "(no hand-written reading yet)")
    L.append(READING_END)
    L.append("")
    atomic_write_text(path, "\n".join(L))
    return path


# ----------------------------------------------------------------------------- CLI
def _positive_int(name: str, lo: int = 1):
    def conv(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} = {s!r} must be an integer") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"{name} = {v} is out of range: must be >= {lo}")
        return v
    return conv


def _positive_float(name: str):
    def conv(s: str) -> float:
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} = {s!r} must be a number") from None
        if not (math.isfinite(v) and v > 0):
            raise argparse.ArgumentTypeError(f"{name} = {v} is out of range: must be > 0")
        return v
    return conv


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-pei", type=_positive_int("--n-pei"), default=15,
                    help="grid points in p_EI (default 15: step 0.05 over [0.3, 1.0])")
    ap.add_argument("--n-tau", type=_positive_int("--n-tau"), default=13,
                    help="grid points in tau_EE (default 13: step 0.25 over [1.0, 4.0] ms)")
    ap.add_argument("--p-range", type=float, nargs=2, default=P_RANGE, metavar=("LO", "HI"),
                    help="p_EI range of the grid and the curves (default 0.3 1.0); must "
                         "contain the base p_EI = 0.8")
    ap.add_argument("--tau-range", type=float, nargs=2, default=TAU_RANGE,
                    metavar=("LO", "HI"), help="tau_EE range, ms (default 1.0 4.0); must "
                    "contain the base tau_EE = 1.4")
    ap.add_argument("--seeds", type=_positive_int("--seeds"), default=2,
                    help="seeds per grid point (0..seeds-1; default 2)")
    ap.add_argument("--t-ms", type=_positive_float("--t-ms"), default=2000.0,
                    help="model time per SNN run, ms (default 2000)")
    ap.add_argument("--transient-ms", type=float, default=100.0,
                    help="discarded start of every run, ms (default 100)")
    ap.add_argument("--max-curve-steps", type=_positive_int("--max-curve-steps"),
                    default=400, help="continuation steps per direction (default 400)")
    ap.add_argument("--ds-max-frac", type=_positive_float("--ds-max-frac"), default=0.1,
                    help="largest arclength step / (N_E + N_I) (default 0.1)")
    ap.add_argument("--backend", choices=("pool", "serial"), default="pool")
    ap.add_argument("--workers", type=_positive_int("--workers"), default=2)
    ap.add_argument("--out", type=Path, default=OUT,
                    help="directory of the resumable sweep store and curve cache")
    ap.add_argument("--figures", type=Path, default=FIGURES,
                    help="directory of network_regime_map.{png,pdf,md}")
    ap.add_argument("--no-cache", action="store_true", help="recompute the curves")
    ap.add_argument("--quiet", action="store_true")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
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
    progress = not args.quiet
    say = (lambda s: print(s, flush=True)) if progress else (lambda s: None)
    p_range, tau_range = tuple(args.p_range), tuple(args.tau_range)
    pv = np.round(np.linspace(*p_range, args.n_pei), 10) if args.n_pei > 1 \
        else np.array([np.mean(p_range)])
    tv = np.round(np.linspace(*tau_range, args.n_tau), 10) if args.n_tau > 1 \
        else np.array([np.mean(tau_range)])
    args.out.mkdir(parents=True, exist_ok=True)

    # 1. curves (cached)
    cache = args.out / "curves.json"
    curves = None
    want = dict(params=params.to_dict(), p_range=list(p_range),
                tau_range=list(tau_range), ds_frac=0.005, ds_max_frac=args.ds_max_frac,
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
        with _one_blas_thread():
            curves = bifurcation_curves(params, p_range=p_range, tau_range=tau_range,
                                        ds_max_frac=args.ds_max_frac,
                                        max_steps=args.max_curve_steps, progress=progress)
        from bifsnn.network.results import atomic_write_text

        atomic_write_text(cache, json.dumps(curves.to_json(), indent=1))
    say(f"curves: {curves.message} ({curves.elapsed_s:.0f} s)")

    # 2. ODE equilibrium stability on the grid
    t0 = time.perf_counter()
    grid = equilibrium_grid(pv, tv, params)
    say(f"equilibrium grid: {grid.message} ({time.perf_counter() - t0:.0f} s)")

    # 3. SNN sweep
    store = args.out / (f"snn_{args.n_pei}x{args.n_tau}_p{p_range[0]:g}-{p_range[1]:g}_"
                        f"tau{tau_range[0]:g}-{tau_range[1]:g}_s{args.seeds}_{args.t_ms:g}ms")
    res, ds = run_snn_sweep(store, pv, tv, seeds=range(args.seeds), t_ms=args.t_ms,
                            transient_ms=args.transient_ms, backend=args.backend,
                            workers=args.workers, progress=progress)
    say(f"sweep: {res.message} ({res.elapsed_s:.0f} s)")

    # 4. figure and report
    cmp = compare(ds, grid, curves)
    t0 = time.perf_counter()
    with _one_blas_thread():
        probes = probe_disagreements(grid, cmp, params, ds)
    say(f"probed {len(probes)} disagreeing cell(s) with ODE runs "
        f"({time.perf_counter() - t0:.0f} s)")
    args.figures.mkdir(parents=True, exist_ok=True)
    name = "network_regime_map"
    plot_map(ds, curves, grid, args.figures / name,
             title=f"SNN regime (majority of {args.seeds} seed(s), {args.t_ms:g} ms) "
                   "and reduced-ODE bifurcations")
    cmd = "python analyses/network_regime_map.py " + " ".join(
        sys.argv[1:] if argv is None else list(argv))
    write_markdown(args.figures / f"{name}.md",
                   spec_info=dict(command=f"`{cmd.strip()}`", seeds=list(range(args.seeds)),
                                  t_ms=args.t_ms, transient_ms=args.transient_ms),
                   curves=curves, grid=grid, cmp=cmp,
                   sweep_info=dict(n_points=res.n_points, n_run=res.n_run,
                                   n_skipped=res.n_skipped, n_error=res.n_error,
                                   elapsed_s=res.elapsed_s, backend=res.backend,
                                   workers=res.workers,
                                   run_s_total=float(np.nansum(np.asarray(
                                       ds["elapsed_s"].values, float)))
                                   if "elapsed_s" in ds else float("nan")),
                   figure_name=name, probes=probes)
    say(f"wrote {args.figures / name}.png/.pdf/.md")
    return 0 if res.success else 1


if __name__ == "__main__":
    raise SystemExit(main())
