"""AUTO-07p as the reference ("peer") for bifsnn's continuation benchmarks.

Runs AUTO-07p, through the ``bifpy`` package, on three benchmark problems and
returns the special points it located (type, parameter value, state, period)
together with wall time per continuation step:

(a) Brusselator  x' = a - (b+1) x + x^2 y,  y' = b x - x^2 y; equilibrium
    continuation in b, Hopf at b = 1 + a^2; cycles from that Hopf.
(b) Lorenz system (sigma = 10, beta = 8/3); equilibrium continuation of C+ in r,
    subcritical Hopf at r = sigma (sigma + beta + 3) / (sigma - beta - 1)
    = 24.7368...; cycle continuation from that Hopf.
(c) 1-D reaction-diffusion Brusselator on [0, 1], m interior grid points,
    Dirichlet boundary values (a, b/a), state interleaved (x1, y1, x2, y2, ...),
    n = 2 m.  The homogeneous state (a, b/a) is an equilibrium for every b; its
    Hopf points are known in closed form, b_k = 1 + a^2 + (d1 + d2) q_k with
    q_k = 4 (m+1)^2 sin^2(k pi / (2 (m+1))), which gives an independent check of
    both AUTO and bifsnn.  Used to measure how time per step grows with n.

Every public runner takes an explicit :class:`AutoSettings` (tolerances, step
sizes, mesh NTST/NCOL), so the bifsnn side of the comparison
(``bench_continuation_vs_auto.py``) can use exactly the same numbers.

Timing per step is *differential*: the branch is computed twice, with
``n_steps`` and with ``baseline_steps`` steps, and
``(t_long - t_short) / (n_steps - baseline_steps)`` is reported, so process
start-up (bifpy forks one child per run), AUTO's start-up and bifpy's output
parsing are excluded.  The raw single-run wall time is reported too.

Installation (done and verified on Debian 12 / Python 3.11, Nov 2026)::

    apt-get update && apt-get install -y gfortran   # bifpy builds AUTO-07p from source
    pip install bifpy                                # 0.3.0; compiles libbifpy.so (~1 min)
    # or, from the project: pip install -e ".[auto]"

bifpy 0.3.0 builds AUTO-07p *without* OpenMP/MPI (``libbifpy.so`` links only
libgfortran), so every AUTO run here is single-threaded whatever the core count.
The model callbacks are plain Python (bifpy's ctypes path, ``transpile=False``);
analytic Jacobians are supplied (JAC=1) so the model evaluation cost is one
vectorised numpy call per collocation point and Newton iteration, negligible next
to AUTO's dense condensation at large n.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "AutoSettings",
    "AutoSpecialPoint",
    "AutoBranch",
    "AutoTiming",
    "auto_available",
    "brusselator_rhs",
    "brusselator_jac",
    "brusselator_hopf_b",
    "lorenz_rhs",
    "lorenz_jac",
    "lorenz_hopf_r",
    "lorenz_c_plus",
    "brusselator_1d_rhs",
    "brusselator_1d_jac",
    "brusselator_1d_jac_sparse",
    "brusselator_1d_sparsity",
    "brusselator_1d_hopf_b",
    "auto_equilibria",
    "auto_cycles_from_hopf",
    "Brusselator1DConfig",
    "run_brusselator",
    "run_lorenz",
    "run_brusselator_1d",
    "matching_digits",
    "cpu_seconds",
    "timed_call",
    "differential_timing",
]

PERIOD_INDEX = 11  # AUTO's reserved PAR(11) for the period of a cycle (1-based)


# --------------------------------------------------------------------------------------
# Result and settings types
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AutoSettings:
    """Tolerances, step control and mesh shared by AUTO and bifsnn runs.

    Names follow AUTO-07p's constants: ``epsl``/``epsu`` Newton tolerances on
    parameters/state, ``epss`` tolerance for locating special points, ``ds`` initial
    (signed) arclength step, ``dsmin``/``dsmax`` step bounds, ``ntst`` mesh
    intervals and ``ncol`` collocation points per interval (cycles only),
    ``itmx``/``nwtn``/``itnw`` iteration limits, ``iad`` mesh adaption interval
    (0 = fixed mesh, the fair setting for per-step timing comparisons).
    """

    epsl: float = 1e-9
    epsu: float = 1e-9
    epss: float = 1e-7
    ds: float = 0.01
    dsmin: float = 1e-5
    dsmax: float = 0.1
    ntst: int = 20
    ncol: int = 4
    itmx: int = 9
    nwtn: int = 3
    itnw: int = 7
    iad: int = 3

    def __post_init__(self) -> None:
        for name in ("epsl", "epsu", "epss", "dsmin", "dsmax"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"AutoSettings.{name} must be a finite number > 0, got {value!r}")
        if not (self.ds != 0 and math.isfinite(self.ds)):
            raise ValueError(f"AutoSettings.ds must be finite and non-zero, got {self.ds!r}")
        if not self.dsmin <= abs(self.ds) <= self.dsmax:
            raise ValueError(
                f"AutoSettings.ds must satisfy dsmin <= |ds| <= dsmax, got ds={self.ds}, "
                f"dsmin={self.dsmin}, dsmax={self.dsmax}"
            )
        for name, lo in (("ntst", 1), ("ncol", 2), ("itmx", 1), ("nwtn", 1), ("itnw", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < lo:
                raise ValueError(f"AutoSettings.{name} must be an integer >= {lo}, got {value!r}")
        if self.ncol > 7:
            raise ValueError(f"AutoSettings.ncol must be in [2, 7] (AUTO limit), got {self.ncol}")
        if not isinstance(self.iad, int) or self.iad < 0:
            raise ValueError(f"AutoSettings.iad must be an integer >= 0, got {self.iad!r}")

    def to_auto(self) -> dict:
        """The AUTO-07p constants dictionary (bifpy ``settings``) for these values."""
        return dict(
            epsl=self.epsl, epsu=self.epsu, epss=self.epss, ds=self.ds, dsmin=self.dsmin,
            dsmax=self.dsmax, ntst=self.ntst, ncol=self.ncol, itmx=self.itmx,
            nwtn=self.nwtn, itnw=self.itnw, iad=self.iad,
        )


@dataclass(frozen=True)
class AutoSpecialPoint:
    """One special point AUTO located.

    ``kind`` is AUTO's two-letter code: HB (Hopf), LP (fold), BP (branch point),
    PD (period doubling), TR (torus), UZ (user value), EP (end point), MX (failure).
    ``state`` is the full state for equilibria; for cycles it is the state at
    normalised time 0 of the stored orbit.  ``period`` is None for equilibria.
    ``eigenvalues`` are the Jacobian eigenvalues (equilibria) or Floquet multipliers
    (cycles) AUTO printed, when available.
    """

    kind: str
    parameter: float
    state: np.ndarray
    period: float | None
    label: int
    eigenvalues: np.ndarray | None = None


@dataclass(frozen=True)
class AutoTiming:
    """Cost of a branch (see module docstring for the differential method).

    ``*_wall*`` is elapsed time; ``*_cpu*`` is CPU time of this process plus its finished
    children (bifpy runs AUTO in a forked child), which is less sensitive to other jobs on
    a shared machine.  ``time_per_step_s`` / ``cpu_per_step_s`` are the per-step figures.
    """

    n_steps: int
    wall_time_s: float
    baseline_steps: int | None
    baseline_wall_time_s: float | None
    time_per_step_s: float
    cpu_time_s: float = float("nan")
    baseline_cpu_time_s: float | None = None
    cpu_per_step_s: float = float("nan")


@dataclass
class AutoBranch:
    """A branch computed by AUTO: special points, sampled branch, timing.

    ``parameter`` / ``period`` / ``norm`` are per computed point (``period`` NaN for
    equilibria; ``norm`` is AUTO's L2 solution measure).  ``raw`` is bifpy's
    ``ContinuationResult`` (for restarts from one of its points).
    """

    success: bool
    message: str
    problem: str
    kind: str  # "equilibrium" | "cycle"
    n_state: int
    settings: AutoSettings
    special_points: list[AutoSpecialPoint] = field(default_factory=list)
    parameter: np.ndarray = field(default_factory=lambda: np.empty(0))
    period: np.ndarray = field(default_factory=lambda: np.empty(0))
    norm: np.ndarray = field(default_factory=lambda: np.empty(0))
    timing: AutoTiming | None = None
    raw: object | None = None

    def points_of(self, kind: str) -> list[AutoSpecialPoint]:
        """Special points of one AUTO type code, in branch order."""
        return [p for p in self.special_points if p.kind == kind]


def auto_available() -> bool:
    """True when bifpy (and so AUTO-07p) can be imported."""
    try:
        import bifpy.auto  # noqa: F401
    except Exception:  # ImportError, or a broken native build (OSError)
        return False
    return True


def _require_auto():
    try:
        from bifpy import auto
    except ImportError as exc:  # pragma: no cover - exercised only without bifpy
        raise ImportError(
            "AUTO-07p peer needs the optional 'bifpy' package: apt-get install -y gfortran; "
            "pip install bifpy (or pip install -e '.[auto]')"
        ) from exc
    return auto


# --------------------------------------------------------------------------------------
# Benchmark models (numpy; shared with the bifsnn side of the benchmark)
# Parameter vectors are 0-based numpy views of AUTO's PAR(1..): p[0] is PAR(1).
# --------------------------------------------------------------------------------------


def brusselator_rhs(u: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Brusselator, p[0] = a, p[1] = b."""
    a, b = p[0], p[1]
    x, y = u[0], u[1]
    return np.array([a - (b + 1.0) * x + x * x * y, b * x - x * x * y])


def brusselator_jac(u: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(df/du, df/dp[0:2]) of :func:`brusselator_rhs`."""
    b = p[1]
    x, y = u[0], u[1]
    dfdu = np.array([[-(b + 1.0) + 2 * x * y, x * x], [b - 2 * x * y, -x * x]])
    dfdp = np.array([[1.0, -x], [0.0, x]])
    return dfdu, dfdp


def brusselator_hopf_b(a: float) -> float:
    """Exact Hopf value of b for the Brusselator: 1 + a^2."""
    return 1.0 + a * a


def lorenz_rhs(u: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Lorenz, p[0] = r, p[1] = sigma, p[2] = beta."""
    r, s, b = p[0], p[1], p[2]
    x, y, z = u[0], u[1], u[2]
    return np.array([s * (y - x), r * x - y - x * z, x * y - b * z])


def lorenz_jac(u: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(df/du, df/dp[0:3]) of :func:`lorenz_rhs`."""
    r, s, b = p[0], p[1], p[2]
    x, y, z = u[0], u[1], u[2]
    dfdu = np.array([[-s, s, 0.0], [r - z, -1.0, -x], [y, x, -b]])
    dfdp = np.array([[0.0, y - x, 0.0], [x, 0.0, 0.0], [0.0, 0.0, -z]])
    return dfdu, dfdp


def lorenz_hopf_r(sigma: float = 10.0, beta: float = 8.0 / 3.0) -> float:
    """Exact Hopf value of r on C+/C-: sigma (sigma + beta + 3) / (sigma - beta - 1)."""
    return sigma * (sigma + beta + 3.0) / (sigma - beta - 1.0)


def lorenz_c_plus(r: float, beta: float = 8.0 / 3.0) -> np.ndarray:
    """The equilibrium C+ = (sqrt(beta (r-1)), sqrt(beta (r-1)), r - 1), r > 1."""
    if not r > 1.0:
        raise ValueError(f"r must be > 1 for C+ to exist, got {r!r}")
    c = math.sqrt(beta * (r - 1.0))
    return np.array([c, c, r - 1.0])


def _bru1d_unpack(p: np.ndarray, n: int):
    m = n // 2
    a, b, d1, d2 = p[0], p[1], p[2], p[3]
    inv_h2 = float((m + 1) ** 2)
    return m, a, b, d1 * inv_h2, d2 * inv_h2


def brusselator_1d_rhs(u: np.ndarray, p: np.ndarray) -> np.ndarray:
    """1-D Brusselator, m = n/2 interior points on [0, 1], Dirichlet (a, b/a).

    Parameters p[0] = a, p[1] = b, p[2] = d1 (x diffusion), p[3] = d2 (y diffusion).
    State is interleaved: u[0::2] = x_i, u[1::2] = y_i.  ``u`` may be (n,) or (n, K)
    (K states at once, solve_ivp's vectorised convention).
    """
    u = np.asarray(u, dtype=float)
    n = u.shape[0]
    m, a, b, c1, c2 = _bru1d_unpack(p, n)
    x = u[0::2]
    y = u[1::2]
    xb = np.empty((m + 2,) + u.shape[1:])
    yb = np.empty_like(xb)
    xb[0] = xb[-1] = a
    yb[0] = yb[-1] = b / a
    xb[1:-1] = x
    yb[1:-1] = y
    lap_x = xb[:-2] - 2.0 * x + xb[2:]
    lap_y = yb[:-2] - 2.0 * y + yb[2:]
    x2y = x * x * y
    out = np.empty_like(u)
    out[0::2] = a - (b + 1.0) * x + x2y + c1 * lap_x
    out[1::2] = b * x - x2y + c2 * lap_y
    return out


def brusselator_1d_sparsity(n: int):
    """Sparsity pattern (scipy CSC, bool) of the 1-D Brusselator Jacobian (bandwidth 2)."""
    import scipy.sparse as sp

    if n < 2 or n % 2:
        raise ValueError(f"n must be an even integer >= 2, got {n!r}")
    offsets = [-2, -1, 0, 1, 2]
    return sp.diags([np.ones(n - abs(k)) for k in offsets], offsets, format="csc").astype(bool)


def brusselator_1d_jac_sparse(u: np.ndarray, p: np.ndarray):
    """df/du of :func:`brusselator_1d_rhs` as a scipy CSC matrix (for sparse engines)."""
    import scipy.sparse as sp

    n = u.shape[0]
    m, a, b, c1, c2 = _bru1d_unpack(p, n)
    x = u[0::2]
    y = u[1::2]
    d0 = np.empty(n)
    d0[0::2] = -(b + 1.0) + 2.0 * x * y - 2.0 * c1
    d0[1::2] = -x * x - 2.0 * c2
    up1 = np.zeros(n - 1)  # (i, i+1): x_i -> y_i coupling at even i
    up1[0::2] = x * x
    lo1 = np.zeros(n - 1)  # (i+1, i): y_i row, x_i column
    lo1[0::2] = b - 2.0 * x * y
    d2 = np.empty(n - 2)
    d2[0::2] = c1
    d2[1::2] = c2
    return sp.diags([d2, lo1, d0, up1, d2], [-2, -1, 0, 1, 2], format="csc")


def brusselator_1d_jac(u: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense (df/du, df/dp[0:4]) of :func:`brusselator_1d_rhs` (banded, bandwidth 2)."""
    n = u.shape[0]
    m, a, b, c1, c2 = _bru1d_unpack(p, n)
    x = u[0::2]
    y = u[1::2]
    ix = np.arange(0, n, 2)
    iy = ix + 1
    J = np.zeros((n, n))
    J[ix, ix] = -(b + 1.0) + 2.0 * x * y - 2.0 * c1
    J[ix, iy] = x * x
    J[iy, ix] = b - 2.0 * x * y
    J[iy, iy] = -x * x - 2.0 * c2
    J[ix[1:], ix[:-1]] = c1
    J[ix[:-1], ix[1:]] = c1
    J[iy[1:], iy[:-1]] = c2
    J[iy[:-1], iy[1:]] = c2
    inv_h2 = float((m + 1) ** 2)
    xb = np.empty(m + 2)
    yb = np.empty(m + 2)
    xb[0] = xb[-1] = a
    yb[0] = yb[-1] = b / a
    xb[1:-1] = x
    yb[1:-1] = y
    dP = np.zeros((n, 4))
    # boundary terms: x_0 = x_{m+1} = a, y_0 = y_{m+1} = b / a
    bnd = np.zeros(m)
    bnd[0] += 1.0
    bnd[-1] += 1.0
    dP[ix, 0] = 1.0 + c1 * bnd
    dP[iy, 0] = c2 * bnd * (-b / (a * a))
    dP[ix, 1] = -x
    dP[iy, 1] = x + c2 * bnd / a
    dP[ix, 2] = inv_h2 * (xb[:-2] - 2.0 * x + xb[2:])
    dP[iy, 3] = inv_h2 * (yb[:-2] - 2.0 * y + yb[2:])
    return J, dP


def brusselator_1d_hopf_b(n: int, a: float, d1: float, d2: float, k: int = 1) -> float:
    """Exact k-th Hopf value of b for the homogeneous state of the 1-D Brusselator.

    b_k = 1 + a^2 + (d1 + d2) q_k,  q_k = 4 (m+1)^2 sin^2(k pi / (2 (m+1))),  m = n/2,
    valid while the mode is oscillatory there (a^2 b_k > (a^2 + d2 q_k)^2).
    """
    if n < 2 or n % 2:
        raise ValueError(f"n must be an even integer >= 2, got {n!r}")
    m = n // 2
    if not 1 <= k <= m:
        raise ValueError(f"k must be in [1, {m}], got {k!r}")
    q = 4.0 * (m + 1) ** 2 * math.sin(k * math.pi / (2 * (m + 1))) ** 2
    return 1.0 + a * a + (d1 + d2) * q


# --------------------------------------------------------------------------------------
# AUTO runners
# --------------------------------------------------------------------------------------

_KIND_CODES = {
    "HOPF_BIFURCATION": "HB",
    "FOLD": "LP",
    "BRANCH_POINT": "BP",
    "PERIOD_DOUBLING": "PD",
    "TORUS": "TR",
    "USER_SPECIFIED_VALUE": "UZ",
    "END_POINT": "EP",
    "ABNORMAL_TERMINATION": "MX",
    "USER_SPECIFIED_OUTPUT": "RG",
    "REGULAR": "RG",
}


def _kind_code(point) -> str:
    return _KIND_CODES.get(point.point_type.name, point.point_type.name)


def _make_jac(jac: Callable, icu: Sequence[int]):
    """bifpy's jac wants df/dp only for the continued parameters (icu, 1-based)."""

    def jac_icu(u, p):
        dfdu, dfdp = jac(u, p)
        cols = np.zeros((dfdu.shape[0], len(icu)))
        for k, idx in enumerate(icu):
            if idx - 1 < dfdp.shape[1]:
                cols[:, k] = dfdp[:, idx - 1]
        return dfdu, cols

    return jac_icu


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and its waited-for children."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed_call(fn: Callable[[], object]) -> tuple[object, float, float]:
    """(fn(), wall seconds, CPU seconds incl. children) for one call."""
    c0 = cpu_seconds()
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, cpu_seconds() - c0


def differential_timing(run: Callable[[int], object], n_steps: int, baseline: int | None,
                        steps_of: Callable[[object], int]) -> tuple[object, AutoTiming]:
    """Run ``run(n_steps)`` (and ``run(baseline)``) and time per step by difference."""
    out, wall, cpu = timed_call(lambda: run(n_steps))
    done = steps_of(out)
    if baseline is not None and 0 <= baseline < done:
        _, bwall, bcpu = timed_call(lambda: run(baseline))
        k = done - baseline
        return out, AutoTiming(done, wall, baseline, bwall, (wall - bwall) / k, cpu, bcpu,
                               (cpu - bcpu) / k)
    k = max(done, 1)
    return out, AutoTiming(done, wall, None, None, wall / k, cpu, None, cpu / k)


def _collect(raw, kind: str, cont_index: int, n_state: int
             ) -> tuple[list, np.ndarray, np.ndarray, np.ndarray]:
    """Special points and per-point arrays from a bifpy ContinuationResult."""
    pts = [pt for br in raw.branches for pt in br.points]
    par = np.array([float(pt.parameters[0]) for pt in pts])
    norm = np.array([float(pt.solution_measure) for pt in pts])
    if kind == "cycle":
        per = np.array([float(pt.all_parameters[PERIOD_INDEX - 1]) if pt.all_parameters
                        else float(pt.parameters[1]) for pt in pts])
    else:
        per = np.full(len(pts), np.nan)
    special = []
    for pt in pts:
        code = _kind_code(pt)
        if code == "RG" or not pt.is_labeled:
            continue
        param = float(pt.parameters[0])
        period = None
        if kind == "cycle":
            orbit = pt.periodic_orbit
            state = np.asarray(orbit.state[0], dtype=float) if orbit is not None else np.asarray(
                pt.state, dtype=float)
            period = float(orbit.period) if orbit is not None else float(pt.parameters[1])
            eig = pt.floquet_multipliers
        else:
            src = pt.extended_state if pt.extended_state is not None else pt.state
            state = np.asarray(src, dtype=float)[:n_state]
            eig = pt.eigenvalues
        special.append(AutoSpecialPoint(
            kind=code, parameter=param, state=state, period=period, label=int(pt.label),
            eigenvalues=None if eig is None else np.asarray(eig, dtype=complex),
        ))
    return special, par, per, norm


def _branch_from_runs(problem, kind, n_state, settings, cont_index, run, n_steps, baseline_steps):
    """Run ``run(nmx)`` for n_steps (and baseline_steps when given), build an AutoBranch."""
    auto = _require_auto()

    def steps_of(raw) -> int:
        return max(sum(len(br.points) for br in raw.branches) - 1, 0)

    try:
        # AUTO's NMX counts computed points including the start: nmx = steps + 1
        raw, timing = differential_timing(lambda k: run(k + 1), n_steps, baseline_steps,
                                          steps_of)
    except auto.AutoError as exc:
        return AutoBranch(False, f"AUTO failed: {str(exc)[-800:]}", problem, kind, n_state,
                          settings)
    special, par, per, norm = _collect(raw, kind, cont_index, n_state)
    steps_done = timing.n_steps
    ok = not any(p.kind == "MX" for p in special) and steps_done > 0
    msg = (f"{steps_done} steps" if ok else
           "AUTO reported MX (no convergence)" if steps_done else "AUTO computed no step")
    return AutoBranch(ok, msg, problem, kind, n_state, settings, special, par, per, norm, timing,
                      raw)


def auto_equilibria(
    func: Callable[[np.ndarray, np.ndarray], np.ndarray],
    jac: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None,
    u0: Sequence[float],
    p0: Sequence[float],
    cont_index: int,
    p_bounds: tuple[float, float],
    settings: AutoSettings,
    *,
    n_steps: int = 200,
    baseline_steps: int | None = None,
    stop_after_hopf: int | None = None,
    problem: str = "equilibria",
) -> AutoBranch:
    """Continue equilibria of u' = func(u, p) in p[cont_index] (0-based) from (u0, p0).

    AUTO finds Hopf (HB), fold (LP) and branch points (BP) along the way.  The run
    stops at ``p_bounds`` (AUTO's RL0/RL1), after ``n_steps`` steps, or at the
    ``stop_after_hopf``-th Hopf point.  ``jac`` returns (df/du, df/dp) with df/dp
    columns for p[0..]; None makes AUTO use finite differences.
    """
    auto = _require_auto()
    u0 = np.asarray(u0, dtype=float)
    p0 = np.asarray(p0, dtype=float)
    if not 0 <= cont_index < p0.size:
        raise ValueError(f"cont_index must be in [0, {p0.size - 1}], got {cont_index!r}")
    if not p_bounds[0] < p_bounds[1]:
        raise ValueError(f"p_bounds must be (low, high) with low < high, got {p_bounds!r}")
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps!r}")
    n = u0.size
    icu = [cont_index + 1]

    def stpnt(u, p, t):
        u[:n] = u0
        p[: p0.size] = p0

    def run(nmx):
        s = dict(settings.to_auto(), ips=auto.IPS_EQUILIBRIUM, ndim=n, npar=max(p0.size, 1),
                 nmx=nmx, npr=0, rl0=p_bounds[0], rl1=p_bounds[1], a0=-1e300, a1=1e300,
                 jac=1 if jac is not None else 0, ilp=1, isp=1)
        kw = {}
        if jac is not None:
            kw["jac"] = _make_jac(jac, icu)
        if stop_after_hopf:
            kw["stop"] = [f"HB{int(stop_after_hopf)}"]
        return auto.run(func, stpnt, s, icu=icu, **kw)

    return _branch_from_runs(problem, "equilibrium", n, settings, cont_index, run, n_steps,
                             baseline_steps)


def auto_cycles_from_hopf(
    func: Callable[[np.ndarray, np.ndarray], np.ndarray],
    jac: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None,
    equilibrium_branch: AutoBranch,
    cont_index: int,
    p_bounds: tuple[float, float],
    settings: AutoSettings,
    *,
    hopf_number: int = 1,
    n_steps: int = 20,
    baseline_steps: int | None = None,
    user_values: Sequence[float] = (),
    max_period: float | None = None,
    problem: str = "cycles",
) -> AutoBranch:
    """Continue the cycles born at the ``hopf_number``-th Hopf of ``equilibrium_branch``.

    The period PAR(11) is free; the mesh is ``settings.ntst`` x ``settings.ncol``.
    ``user_values`` are parameter values at which AUTO writes UZ points (cycles at
    a fixed parameter value: a natural point to compare periods and orbits).
    ``max_period`` stops the run when the period exceeds it (approach to a
    homoclinic orbit).
    """
    auto = _require_auto()
    if equilibrium_branch.raw is None:
        raise ValueError("equilibrium_branch has no AUTO result (raw is None)")
    hopfs = [pt for br in equilibrium_branch.raw.branches for pt in br.points
             if pt.point_type == auto.PointType.HOPF_BIFURCATION]
    if not 1 <= hopf_number <= len(hopfs):
        raise ValueError(
            f"hopf_number must be in [1, {len(hopfs)}] (Hopf points on the branch), "
            f"got {hopf_number!r}")
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps!r}")
    hb = hopfs[hopf_number - 1]
    n = equilibrium_branch.n_state
    icu = [cont_index + 1, PERIOD_INDEX]
    npar = max(len(hb.all_parameters or ()), PERIOD_INDEX)

    def run(nmx):
        s = dict(settings.to_auto(), ips=auto.IPS_PERIODIC_ORBIT, ndim=n, npar=npar, nmx=nmx,
                 npr=0, rl0=p_bounds[0], rl1=p_bounds[1], a0=-1e300, a1=1e300,
                 jac=1 if jac is not None else 0, ilp=1, isp=2)
        kw = {}
        if jac is not None:
            kw["jac"] = _make_jac(jac, icu)
        if user_values:
            kw["uzr"] = {cont_index + 1: [float(v) for v in user_values]}
        if max_period is not None:
            kw["uzstop"] = {PERIOD_INDEX: float(max_period)}
        return auto.restart(func, s, hb, icu=icu, isw=auto.ISW_HOPF_TO_PERIODIC_ORBIT, **kw)

    return _branch_from_runs(problem, "cycle", n, settings, cont_index, run, n_steps,
                             baseline_steps)


# --------------------------------------------------------------------------------------
# The three benchmark problems
# --------------------------------------------------------------------------------------


def run_brusselator(
    settings: AutoSettings | None = None,
    *,
    a: float = 2.0,
    b_start: float = 1.0,
    b_max: float = 8.0,
    cycle_steps: int = 40,
    cycle_user_values: Sequence[float] = (5.5,),
) -> tuple[AutoBranch, AutoBranch | None]:
    """Problem (a): equilibria in b from (a, b_start/a), then cycles from the Hopf."""
    settings = settings or AutoSettings(ds=0.05, dsmax=0.2)
    if not a > 0:
        raise ValueError(f"a must be > 0, got {a!r}")
    eq = auto_equilibria(brusselator_rhs, brusselator_jac, [a, b_start / a], [a, b_start], 1,
                         (0.0, b_max), settings, n_steps=500, problem="brusselator")
    if not eq.points_of("HB"):
        return eq, None
    cyc = auto_cycles_from_hopf(brusselator_rhs, brusselator_jac, eq, 1, (0.0, b_max), settings,
                                n_steps=cycle_steps, user_values=cycle_user_values,
                                problem="brusselator")
    return eq, cyc


def run_lorenz(
    settings: AutoSettings | None = None,
    *,
    sigma: float = 10.0,
    beta: float = 8.0 / 3.0,
    r_start: float = 10.0,
    r_max: float = 30.0,
    cycle_steps: int = 60,
    cycle_user_values: Sequence[float] = (20.0,),
    max_period: float | None = 20.0,
) -> tuple[AutoBranch, AutoBranch | None]:
    """Problem (b): equilibrium C+ in r from r_start, then cycles from its Hopf.

    The Hopf is subcritical, so the cycle branch runs to smaller r and ends near
    the homoclinic orbit at r ~ 13.93 (period -> infinity); ``max_period`` bounds it.
    """
    settings = settings or AutoSettings(ds=0.1, dsmax=0.5)
    eq = auto_equilibria(lorenz_rhs, lorenz_jac, lorenz_c_plus(r_start, beta),
                         [r_start, sigma, beta], 0, (1.0001, r_max), settings, n_steps=500,
                         problem="lorenz")
    if not eq.points_of("HB"):
        return eq, None
    cyc = auto_cycles_from_hopf(lorenz_rhs, lorenz_jac, eq, 0, (1.0001, r_max), settings,
                                n_steps=cycle_steps, user_values=cycle_user_values,
                                max_period=max_period, problem="lorenz")
    return eq, cyc


@dataclass(frozen=True)
class Brusselator1DConfig:
    """Parameters of the 1-D Brusselator benchmark (defaults: Hopf before Turing)."""

    a: float = 2.0
    d1: float = 0.008
    d2: float = 0.004
    b_start: float = 4.8
    b_end: float = 5.6


def run_brusselator_1d(
    n: int,
    settings: AutoSettings | None = None,
    *,
    config: Brusselator1DConfig = Brusselator1DConfig(),
    eq_steps: int = 60,
    eq_baseline_steps: int | None = None,
    cycle_steps: int = 4,
    cycle_baseline_steps: int | None = 1,
    do_cycles: bool = True,
) -> tuple[AutoBranch, AutoBranch | None]:
    """Problem (c) at size n: equilibria in b through the Hopf points, then cycles.

    Cycle runs are kept short (``cycle_steps``) because each AUTO cycle step costs
    O(NTST (NCOL n)^3) at large n; per-step time is differential against a
    ``cycle_baseline_steps`` run (see module docstring).
    """
    if not (isinstance(n, int) and n >= 4 and n % 2 == 0):
        raise ValueError(f"n must be an even integer >= 4, got {n!r}")
    settings = settings or AutoSettings(ds=0.02, dsmax=0.05, iad=0)
    c = config
    u0 = np.empty(n)
    u0[0::2] = c.a
    u0[1::2] = c.b_start / c.a
    p0 = [c.a, c.b_start, c.d1, c.d2]
    eq = auto_equilibria(brusselator_1d_rhs, brusselator_1d_jac, u0, p0, 1,
                         (c.b_start - 1.0, c.b_end), settings, n_steps=eq_steps,
                         baseline_steps=eq_baseline_steps, problem=f"brusselator_1d[n={n}]")
    if not do_cycles or not eq.points_of("HB"):
        return eq, None
    cyc = auto_cycles_from_hopf(brusselator_1d_rhs, brusselator_1d_jac, eq, 1,
                                (c.b_start - 1.0, c.b_end + 1.0), settings,
                                n_steps=cycle_steps, baseline_steps=cycle_baseline_steps,
                                problem=f"brusselator_1d[n={n}]")
    return eq, cyc


# --------------------------------------------------------------------------------------
# Comparison helper
# --------------------------------------------------------------------------------------


def matching_digits(value: float, reference: float) -> float:
    """Number of matching significant digits, -log10(|v - r| / |r|) (capped at 16)."""
    if not (math.isfinite(value) and math.isfinite(reference)):
        return 0.0
    scale = abs(reference) if reference != 0 else 1.0
    err = abs(value - reference) / scale
    if err == 0:
        return 16.0
    return float(min(16.0, max(0.0, -math.log10(err))))


def _main() -> None:  # pragma: no cover - manual benchmark entry point
    import argparse

    ap = argparse.ArgumentParser(description="Run the AUTO-07p peer benchmarks alone.")
    ap.add_argument("--n", type=int, nargs="*", default=[4, 20, 50, 100],
                    help="sizes for the 1-D Brusselator scaling run")
    ap.add_argument("--cycle-steps", type=int, default=4)
    ap.add_argument("--ntst", type=int, default=20)
    ap.add_argument("--ncol", type=int, default=4)
    args = ap.parse_args()
    eq, cyc = run_brusselator()
    for p in eq.special_points + (cyc.special_points if cyc else []):
        print(f"brusselator {p.kind} par={p.parameter:.10g} period={p.period}")
    eq, cyc = run_lorenz()
    for p in eq.special_points + (cyc.special_points if cyc else []):
        print(f"lorenz {p.kind} par={p.parameter:.10g} period={p.period}")
    for n in args.n:
        s = AutoSettings(ds=0.02, dsmax=0.05, iad=0, ntst=args.ntst, ncol=args.ncol)
        eq, cyc = run_brusselator_1d(n, s, cycle_steps=args.cycle_steps, eq_baseline_steps=5)
        hb = eq.points_of("HB")
        line = f"n={n:4d} eq/step={eq.timing.time_per_step_s * 1e3:8.2f} ms"
        if hb:
            exact = brusselator_1d_hopf_b(n, 2.0, 0.008, 0.004)
            line += f" HB1={hb[0].parameter:.10g} (exact {exact:.10g})"
        if cyc is not None and cyc.timing is not None:
            line += f" cycle/step={cyc.timing.time_per_step_s:8.3f} s ({cyc.message})"
        print(line, flush=True)


if __name__ == "__main__":  # pragma: no cover
    _main()
