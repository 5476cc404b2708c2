"""Periodic orbits of smooth ODEs x' = f(x, p): orthogonal collocation with mesh adaptation
(AUTO-07p style), Floquet multipliers, continuation with LPC/PD/NS detection, branch switching
at period doublings, two-parameter LPC/PD curves, and multiple shooting as an independent
second method. Usage::

    from bifsnn.continuation import continue_equilibria, hopf_data
    from bifsnn.continuation.periodic import (continue_cycles, cycle_from_hopf_data,
                                              cycle_from_simulation, switch_at_pd)
    sys_, start = cycle_from_hopf_data(problem, hopf_data(eq_branch, 0), ntst=60)
    br = continue_cycles(sys_, start, ds=0.05, max_steps=100, p_max=2.0)
    br.p, br.period, br.x_min, br.x_max, br.stable, br.special_points   # CycleBranch
    br.points[k].U, .tm, .multipliers, .trivial_error                   # CyclePoint
    br2 = continue_cycles(sys_, switch_at_pd(sys_, br), ds=0.05)        # doubled cycle
    curve = continue_cycle_bifurcation(sys_, br, br.special("LPC")[0], ipar2=3)

Systems: a ``CycleSystem`` (f(x, p), optional dfdx/dfdp, ``params``/``ipar`` for a
parameter vector, ``vectorized``, ``jac_sparsity``), a plain callable, or an ``ODEProblem``.
"""

from .codim2_cycles import CycleCurve, CycleCurvePoint, continue_cycle_bifurcation
from .collocation import Collocation, CycleSolution, FloquetResult, floquet_from_jacobian
from .cycles import (
    CycleBranch,
    CycleOptions,
    CyclePoint,
    CycleSpecialPoint,
    CycleStart,
    continue_cycles,
    cycle_from_hopf,
    cycle_from_hopf_data,
    cycle_from_simulation,
    cycle_from_trajectory,
    detect_period,
    solve_cycle,
    switch_at_pd,
)
from .mesh import adapt_mesh, collocation_tables, evaluate, interpolate_to_mesh, uniform_mesh
from .shooting import ShootingResult, shoot_cycle
from .system import CycleSystem, as_cycle_system

__all__ = [
    "Collocation",
    "CycleBranch",
    "CycleCurve",
    "CycleCurvePoint",
    "CycleOptions",
    "CyclePoint",
    "CycleSolution",
    "CycleSpecialPoint",
    "CycleStart",
    "CycleSystem",
    "FloquetResult",
    "ShootingResult",
    "adapt_mesh",
    "as_cycle_system",
    "collocation_tables",
    "continue_cycle_bifurcation",
    "continue_cycles",
    "cycle_from_hopf",
    "cycle_from_hopf_data",
    "cycle_from_simulation",
    "cycle_from_trajectory",
    "detect_period",
    "evaluate",
    "floquet_from_jacobian",
    "interpolate_to_mesh",
    "shoot_cycle",
    "solve_cycle",
    "switch_at_pd",
    "uniform_mesh",
]
