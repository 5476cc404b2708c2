"""Periodic orbits of smooth ODEs x' = f(x, p): orthogonal collocation with mesh adaptation
(AUTO-07p style), Floquet multipliers, continuation with LPC/PD/NS detection, the
period-doubled branch at a PD point, two-parameter LPC/PD/NS curves with their codim-2 points
(CPC, LPPD, LPNS, PDNS, R1-R4; :mod:`.cycle_points`), the switches GH -> LPC and ZH/HH -> NS
curves, and multiple shooting as an independent second method.  Every continuation returns a
:class:`~bifsnn.continuation.Branch` (kind 'PO', 'LPC', 'PD' or 'NS') and starts from a
special point of a branch::

    from bifsnn.continuation import ContinuationOptions, continue_equilibria
    from bifsnn.continuation.periodic import Collocation, continue_cycles, continue_pd
    eq = continue_equilibria(problem, ContinuationOptions(ds=0.01, p_max=2.0))
    po = continue_cycles(eq, eq.points("H")[0], ContinuationOptions(max_steps=100, p_max=2.0),
                         Collocation(ntst=60))
    po.param_values, po.period, po.x_min, po.x_max, po.stable, po.points("PD")
    po.cycle(k).U, .tm, .T                                  # one cycle of the branch
    po2 = continue_cycles(po, po.points("PD")[0], options)  # period-doubled branch
    pd_curve = continue_pd(po, po.points("PD")[0], "b", options)
    ns_curve = continue_ns(po, po.points("NS")[0], "b", options)   # .points("R4"), ...
    torus = continue_ns_from_zh(hopf_curve, hopf_curve.points("ZH")[0], options)

A cycle computed elsewhere (e.g. :func:`cycle_from_simulation`: integrate, detect the period,
correct by collocation) starts a branch with :func:`continue_cycles_from_orbit`.

Systems: an ``ODEProblem``, a ``CycleSystem`` (f(x, p), optional dfdx/dfdp, ``params``/``ipar``
for a parameter vector, ``vectorized``, ``jac_sparsity``) or a plain callable.

Linear algebra: for n > 40 the collocation systems are condensed onto the first node (the
monodromy matrix and the Floquet multipliers come with the factorisation), interval by interval
with sparse LUs, or with LAPACK's dense LUs when df/dx fills more than a quarter of its entries
(:data:`.dense_blocks.DENSE_BLOCK_DENSITY`; e.g. the network ODE's conditional closures).
"""

from .codim2_cycles import (
    CYCLE_CURVE_DEFAULTS,
    continue_lpc,
    continue_lpc_from_gh,
    continue_ns,
    continue_ns_from_hh,
    continue_ns_from_zh,
    continue_pd,
)
from .collocation import CollocationOperator, CycleSolution, FloquetResult, floquet_from_jacobian
from .cycles import CYCLE_DEFAULTS, continue_cycles, continue_cycles_from_orbit, cycle_system
from .discretization import Collocation
from .mesh import adapt_mesh, collocation_tables, evaluate, interpolate_to_mesh, uniform_mesh
from .shooting import ShootingResult, shoot_cycle
from .starts import (
    cycle_from_hopf,
    cycle_from_simulation,
    cycle_from_trajectory,
    detect_period,
    pd_start,
    solve_cycle,
)
from .system import CycleSystem, as_cycle_system
from .types import CycleStart

__all__ = [
    "CYCLE_CURVE_DEFAULTS",
    "CYCLE_DEFAULTS",
    "Collocation",
    "CollocationOperator",
    "CycleSolution",
    "CycleStart",
    "CycleSystem",
    "FloquetResult",
    "ShootingResult",
    "adapt_mesh",
    "as_cycle_system",
    "collocation_tables",
    "continue_cycles",
    "continue_cycles_from_orbit",
    "continue_lpc",
    "continue_lpc_from_gh",
    "continue_ns",
    "continue_ns_from_hh",
    "continue_ns_from_zh",
    "continue_pd",
    "cycle_from_hopf",
    "cycle_from_simulation",
    "cycle_from_trajectory",
    "cycle_system",
    "detect_period",
    "evaluate",
    "floquet_from_jacobian",
    "interpolate_to_mesh",
    "pd_start",
    "shoot_cycle",
    "solve_cycle",
    "uniform_mesh",
]
