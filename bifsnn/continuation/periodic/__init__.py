"""Periodic orbits of smooth ODEs x' = f(x, p): orthogonal collocation with mesh adaptation
(AUTO-07p style), Floquet multipliers, continuation with LPC/PD/NS detection, branch switching
at period doublings, and multiple shooting as an independent second method.
"""

from .collocation import Collocation, CycleSolution, FloquetResult, floquet_from_jacobian
from .cycles import (
    CycleBranch,
    CycleOptions,
    CyclePoint,
    CycleSpecialPoint,
    CycleStart,
    continue_cycles,
    cycle_from_hopf,
    cycle_from_simulation,
    cycle_from_trajectory,
    detect_period,
    solve_cycle,
    switch_at_pd,
)
from .mesh import adapt_mesh, collocation_tables, evaluate, interpolate_to_mesh, uniform_mesh
from .system import CycleSystem, as_cycle_system

__all__ = [
    "Collocation",
    "CycleBranch",
    "CycleOptions",
    "CyclePoint",
    "CycleSolution",
    "CycleSpecialPoint",
    "CycleStart",
    "CycleSystem",
    "FloquetResult",
    "adapt_mesh",
    "as_cycle_system",
    "collocation_tables",
    "continue_cycles",
    "cycle_from_hopf",
    "cycle_from_simulation",
    "cycle_from_trajectory",
    "detect_period",
    "evaluate",
    "floquet_from_jacobian",
    "interpolate_to_mesh",
    "solve_cycle",
    "switch_at_pd",
    "uniform_mesh",
]
