"""Cycle continuation, public entry points: from a Hopf point of an equilibrium branch, from a
period doubling (or any special point) of a cycle branch, or from a cycle computed elsewhere
(a simulated orbit).  Every one returns a :class:`~bifsnn.continuation.Branch` of kind 'PO'.

::

    eq = continue_equilibria(problem, options)
    po = continue_cycles(eq, eq.points("H")[0], options, Collocation(ntst=40))
    po2 = continue_cycles(po, po.points("PD")[0], options)      # period-doubled branch
    sol = cycle_from_simulation(problem, x0, p, t_transient=300, t_record=50)
    po3 = continue_cycles_from_orbit(problem, sol, options)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bifsnn.continuation.normal_forms import critical_eigenvectors
from bifsnn.continuation.options import ContinuationOptions, check_events
from bifsnn.continuation.result import Branch, SpecialPoint, merge_sides, with_end_points

from .collocation import CycleSolution
from .discretization import Collocation
from .starts import cycle_from_hopf, pd_start
from .stepper import CycleRun, run_cycles
from .system import CycleSystem, as_cycle_system
from .types import CycleStart

__all__ = ["CYCLE_DEFAULTS", "continue_cycles", "continue_cycles_from_orbit", "cycle_system"]

#: Options used when a cycle continuation is given ``options=None`` (arclength steps are in
#: the weighted norm of :class:`Collocation`, relative to the size of the state).
CYCLE_DEFAULTS = {"ds": 0.05, "ds_max": 1.0, "max_steps": 200, "newton_max_iter": 8}


def _options(options: ContinuationOptions | None) -> ContinuationOptions:
    if options is None:
        return ContinuationOptions(**CYCLE_DEFAULTS)
    if not isinstance(options, ContinuationOptions):
        raise TypeError(f"options must be a ContinuationOptions, got {type(options).__name__}")
    check_events(options, ("param", "period", "amplitude"), "PO")
    return options


def cycle_system(problem: Any, p: np.ndarray | None = None, param: int | None = None
                 ) -> CycleSystem:
    """The batched cycle system of ``problem`` (an ODEProblem, a CycleSystem or a callable)
    at the parameter vector ``p``, continued in parameter index ``param`` (defaults: the
    problem's own)."""
    if isinstance(problem, CycleSystem):
        if problem.params is None or p is None:
            return problem
        return problem.with_params(np.asarray(p, dtype=float),
                                   problem.ipar if param is None else int(param))
    kw: dict[str, Any] = {}
    if p is not None:
        kw["params"] = np.asarray(p, dtype=float)
    if param is not None:
        kw["ipar"] = int(param)
    return as_cycle_system(problem, **kw)


def _names(problem: Any) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    pn = getattr(problem, "param_names", None)
    xn = getattr(problem, "x_names", None)
    return (tuple(pn) if pn else None), (tuple(xn) if xn else None)


def _to_branch(run: CycleRun, problem: Any, opts: ContinuationOptions, disc: Collocation,
               name: str, start_info: dict) -> Branch:
    """The stepper's records as a Branch of kind 'PO'."""
    sysobj = run.system
    n = sysobj.n
    pts = run.points
    N = len(pts)
    base = sysobj.params
    k = sysobj.ipar if base is not None else 0

    def pvec(value: float) -> np.ndarray:
        if base is None:
            return np.array([value], dtype=float)
        out = base.copy()
        out[k] = value
        return out

    nnodes = disc.ntst * disc.ncol + 1
    X = np.array([pt.U[0] for pt in pts]).reshape(N, n)
    P = np.array([pvec(pt.p) for pt in pts]).reshape(N, 1 if base is None else base.size)
    EV = np.full((N, n), np.nan + 0j)
    nu = np.full(N, -1, dtype=int)
    for i, pt in enumerate(pts):
        if pt.multipliers is not None:
            mu = np.asarray(pt.multipliers)
            EV[i, : min(n, mu.size)] = mu[:n]
            nu[i] = 0 if pt.stable else int(np.sum(np.abs(np.delete(
                mu, np.argmin(np.abs(mu - 1.0)))) >= 1.0))
    extra = {
        "period": np.array([pt.T for pt in pts], dtype=float),
        "amplitude": np.array([pt.amplitude for pt in pts], dtype=float),
        "x_min": np.array([pt.x_min for pt in pts]).reshape(N, n),
        "x_max": np.array([pt.x_max for pt in pts]).reshape(N, n),
        "trivial_error": np.array([pt.trivial_error for pt in pts], dtype=float),
        "newton_iterations": np.array([pt.newton_iterations for pt in pts], dtype=int),
        "ds": np.array([pt.ds for pt in pts], dtype=float),
        "mesh": np.array([pt.tm for pt in pts]).reshape(N, disc.ntst + 1),
        "nodes": np.array([pt.U for pt in pts]).reshape(N, nnodes, n),
    }
    if opts.record:
        from bifsnn.continuation.errors import call_user

        from .collocation import CycleSolution

        for key, fun in opts.record.items():
            extra[key] = np.array([float(call_user(
                fun, f"record[{key!r}]", CycleSolution(pt.tm, pt.ncol, pt.U, pt.T, pt.p),
                np.atleast_1d(np.asarray(sysobj.P(pt.p), dtype=float)))) for pt in pts])
    specials = []
    for s in run.specials:
        data = dict(s.data)
        data["period"] = float(s.T)
        data["multipliers"] = None if s.multipliers is None else np.asarray(s.multipliers)
        row = s.index
        why = data.get("unconfirmed", "")
        specials.append(SpecialPoint(s.type, row, X[row].copy(), pvec(s.p), (k,), bool(s.located),
                                     data, f"unconfirmed: {why}" if why else ""))
    sps = with_end_points(specials, X, P, (k,), run.message)
    for sp_ in sps:
        if sp_.type == "EP":
            sp_.data["period"] = float(extra["period"][sp_.index])
    pn, xn = _names(problem)
    info = {"ncol": disc.ncol, "ntst": disc.ntst, **run.info,
            **{f"start_{key}": val for key, val in start_info.items()
               if isinstance(val, int | float | str | complex)}}
    return Branch(
        kind="PO", x=X, p=P, param_indices=(k,), eigenvalues=EV, n_unstable=nu, tangents=None,
        special_points=sps, extra=extra, success=run.success and N > 0, status=run.status,
        message=run.message, param_names=pn, x_names=xn, name=name,
        nit=int(extra["newton_iterations"].sum()), info=info, problem=problem, options=opts,
        collocation=disc,
    )


def _run(problem: Any, sysobj: CycleSystem, start: CycleStart, opts: ContinuationOptions,
         disc: Collocation, name: str, both_sides: bool) -> Branch:
    """Continue from ``start``: along its tangent if it has one, else in ``opts.direction``
    (both directions and merged with ``both_sides``); a Lyapunov start near a Hopf point
    leaves the Hopf point."""
    info = dict(start.info or {})
    if start.tangent is not None:
        direction = 1.0
        both_sides = False
    elif info.get("start") == "lyapunov":
        direction = float(np.sign(float(start.p) - float(info["hopf_p"]))) or 1.0
        both_sides = False
    else:
        direction = float(opts.direction)
        opts.check_start(float(start.p), _label(problem, sysobj))
    run = run_cycles(sysobj, start, opts, disc, direction)
    fwd = _to_branch(run, problem, opts, disc, name, info)
    if not both_sides:
        return fwd
    back = _to_branch(run_cycles(sysobj, start, opts, disc, -direction), problem, opts, disc,
                      name, info)
    return merge_sides(back, fwd) if direction > 0 else merge_sides(fwd, back)


def _label(problem: Any, sysobj: CycleSystem) -> str:
    pn, _ = _names(problem)
    k = sysobj.ipar if sysobj.params is not None else 0
    return pn[k] if pn and k < len(pn) else f"p[{k}]"


#: A Hopf label that was not located starts a cycle branch only if the Jacobian at the point
#: has an eigenvalue within HOPF_START_TOL * omega of i omega (a pair near the axis).
HOPF_START_TOL = 0.1


def _check_hopf_pair(sysobj: CycleSystem, sp_: SpecialPoint, k: int, omega: float) -> None:
    """ValueError for an unlocated H label without an eigenvalue pair near +-i omega (e.g. a
    complex pair turning real off the axis): no cycle branch emanates from such a point."""
    lam = np.linalg.eigvals(sysobj.jac(sp_.x, float(sp_.p[k])))
    near = complex(lam[np.argmin(np.abs(lam - 1j * omega))])
    d = abs(near - 1j * omega)
    if d > HOPF_START_TOL * omega:
        raise ValueError(
            f"point H at p = {sp_.param:.6g} is not a Hopf point: it was not located and the "
            f"eigenvalue nearest to i omega = {omega:.4g}i is {near:.4g} ({d:.2g} away > "
            f"{HOPF_START_TOL:g} omega); no cycle branch emanates from it")


def continue_cycles(branch: Branch, point: SpecialPoint | int,
                    options: ContinuationOptions | None = None,
                    collocation: Collocation | None = None, *, name: str = "") -> Branch:
    """Continue periodic orbits from a special point of ``branch``; returns a 'PO' branch.

    * ``branch`` of equilibria, ``point`` a Hopf point: the small cycle predicted by the first
      Lyapunov coefficient (or, without it, the degenerate cycle along the critical
      eigenvector); the branch leaves the Hopf point on the side where the cycles exist
      (``direction`` does not apply).  An H label that was not located is refused
      (ValueError) unless the Jacobian there has an eigenvalue near i omega.
    * ``branch`` of cycles, ``point`` a period doubling: the period-doubled branch (twice the
      mesh intervals unless ``collocation`` is given).
    * ``branch`` of cycles, any other point (an end point, LPC, NS): continue from that cycle
      in ``options.direction`` (both directions with ``options.both_sides``).

    ``point`` is a SpecialPoint or an index into ``branch.special_points``.  ``options``
    (default :data:`CYCLE_DEFAULTS`) bounds the first parameter with ``p_min``/``p_max`` and
    stops at ``period_max``; ``collocation`` is the discretisation (default: the branch's, or
    ``Collocation()`` from equilibria).  Numerical failures and exceptions in the user's f end
    the branch with the partial result, ``success`` False and a message.
    """
    if not isinstance(branch, Branch):
        raise TypeError(f"branch must be a Branch, got {type(branch).__name__} (to start from a "
                        "cycle computed elsewhere use continue_cycles_from_orbit)")
    if branch.problem is None:
        raise ValueError("the branch carries no problem: load it with "
                         "load_branch(path, problem=...)")
    opts = _options(options)
    if branch.kind == "EP":
        sp_ = branch.point(point, "H")
        k = sp_.param_indices[0]
        sysobj = cycle_system(branch.problem, sp_.p, k)
        disc = collocation or Collocation()
        omega = float(sp_.data["omega"])
        if not sp_.located:
            _check_hopf_pair(sysobj, sp_, k, omega)
        q = sp_.data.get("q")
        if q is None:
            q, _ = critical_eigenvectors(sysobj.jac(sp_.x, float(sp_.p[k])), 1j * omega)
        start = cycle_from_hopf(sysobj, sp_.x, float(sp_.p[k]), omega, np.asarray(q),
                                l1=sp_.data.get("l1"), dalpha_dp=sp_.data.get("dre_dp"),
                                ntst=disc.ntst, ncol=disc.ncol)
        return _run(branch.problem, sysobj, start, opts, disc,
                    name or f"{branch.name}-PO(H {sp_.param:.6g})", False)
    if branch.kind == "PO":
        sp_ = branch.point(point, ("PD", "EP", "LPC", "NS"))
        k = sp_.param_indices[0]
        sysobj = cycle_system(branch.problem, branch.p[sp_.index], k)
        cyc = branch.cycle(sp_.index)
        base = branch.collocation or Collocation(ntst=len(cyc.tm) - 1, ncol=cyc.ncol)
        if sp_.type == "PD":
            disc = collocation or base.with_(ntst=2 * base.ntst)
            start = pd_start(sysobj, cyc)
            return _run(branch.problem, sysobj, start, opts, disc,
                        name or f"{branch.name}-PD({sp_.param:.6g})", False)
        disc = collocation or base
        start = CycleStart(cyc.tm, cyc.ncol, cyc.U, cyc.T, cyc.p, None, {"start": "cycle"})
        return _run(branch.problem, sysobj, start, opts, disc, name or branch.name,
                    opts.both_sides)
    raise ValueError(f"continue_cycles starts from an EP branch (Hopf point) or a PO branch; "
                     f"got a {branch.kind} branch")


def continue_cycles_from_orbit(problem: Any, cycle: CycleSolution | CycleStart,
                               options: ContinuationOptions | None = None,
                               collocation: Collocation | None = None, *,
                               name: str = "") -> Branch:
    """Continue periodic orbits from a cycle computed elsewhere: a
    :class:`~bifsnn.continuation.periodic.CycleSolution` (e.g. from
    :func:`~bifsnn.continuation.periodic.cycle_from_simulation`, a simulated orbit corrected
    by collocation) or a ``CycleStart`` (from ``cycle_from_hopf``; such a start carries its
    own direction).

    ``problem`` is an ODEProblem (continued in ``problem.param``, the other parameters from
    ``problem.p0``), a CycleSystem (continued in its ``ipar``) or a callable f(x, p) with a
    scalar p.  Direction and ``both_sides`` as in :func:`continue_cycles`."""
    opts = _options(options)
    if isinstance(cycle, CycleSolution):
        if not cycle.success:
            raise ValueError(f"the cycle was not converged: {cycle.message}")
        start = CycleStart(cycle.tm, cycle.ncol, cycle.U, cycle.T, cycle.p, None,
                           {"start": "cycle"})
    elif isinstance(cycle, CycleStart):
        start = cycle
    else:
        raise TypeError(f"cycle must be a CycleSolution or a CycleStart, got "
                        f"{type(cycle).__name__}")
    disc = collocation or Collocation(ntst=len(start.tm) - 1, ncol=start.ncol)
    p0 = getattr(problem, "p0", None)
    if p0 is not None and not isinstance(problem, CycleSystem):
        k = int(problem.param)
        p_vec = np.asarray(p0, dtype=float).copy()
        p_vec[k] = float(start.p)
        sysobj = cycle_system(problem, p_vec, k)
    else:
        sysobj = cycle_system(problem)
    if not math.isfinite(float(start.T)) or start.T <= 0:
        raise ValueError(f"cycle period = {start.T!r} is out of range: must be finite and > 0")
    return _run(problem, sysobj, start, opts, disc, name or getattr(problem, "name", "cycles"),
                opts.both_sides)
