"""Periodic orbits of smooth ODEs x' = f(x, p): orthogonal collocation with mesh adaptation
(AUTO-07p style), Floquet multipliers, continuation with LPC/PD/NS detection, branch switching
at period doublings, two-parameter LPC/PD curves, and multiple shooting as an independent
second method.
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
