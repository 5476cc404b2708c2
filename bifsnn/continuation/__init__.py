"""General numerical continuation engine for smooth ODEs x' = f(x, p).

Problem, options and result are separate objects (as in BifurcationKit.jl); numerics follow
AUTO-07p and MatCont (pseudo-arclength, minimally augmented systems, collocation).  Every
continuation returns a :class:`Branch` whose ``kind`` says what it holds (EP, PO, LP, H, LPC,
PD); every start from a special point is ``f(branch, point, [param2], options)`` (kinds also
NS; codim-2 points on LPC/PD/NS curves: CPC, LPPD, LPNS, PDNS, R1-R4)::

    prob = ODEProblem(f, x0, p0, param="b", param_names=("a", "b"))
    opts = ContinuationOptions(ds=0.01, p_max=5.0, direction=+1)   # both_sides=True: merged
    eq = continue_equilibria(prob, opts)                 # EP: LP / H / BP located
    po = continue_cycles(eq, eq.points("H")[0], opts, Collocation(ntst=40))  # PO: LPC/PD/NS
    po2 = continue_cycles(po, po.points("PD")[0], opts)  # period-doubled cycles
    hc = continue_hopf(eq, eq.points("H")[0], "a", opts)  # H curve (BT, GH); also continue_fold,
    pdc = continue_pd(po, po.points("PD")[0], "a", opts)  # continue_lpc, switch_branch(eq, bp)
    nsc = continue_ns(po, po.points("NS")[0], "a", opts)  # torus curve; extra['theta']
    po.to_dataframe(), po.to_xarray(), po.cycle(k), po.period, po.stable
    save_branch(po, "po.h5"); po = load_branch("po.h5", problem=prob)  # continuable again
    continue_cycles_from_orbit(prob, cycle_from_simulation(prob, x0, 2.5, t_transient=300,
                                                           t_record=50), opts)

Failures (Newton, NaN, an exception in f) end a branch with its partial result,
``success`` False and the reason in ``message``.  Modules: ``arclength`` (generic curve
engine), ``equilibria``, ``codim2``, ``events``, ``normal_forms``, ``linalg``, ``plots``,
``io``; periodic orbits live in ``periodic``.
"""

from bifsnn.continuation.arclength import ArclengthContinuation, StepResult
from bifsnn.continuation.codim2 import (
    BranchPointSystem,
    continue_fold,
    continue_hopf,
    locate_codim2,
)
from bifsnn.continuation.equilibria import continue_equilibria, hopf_data, switch_branch
from bifsnn.continuation.errors import UserFunctionError
from bifsnn.continuation.io import load_branch, save_branch
from bifsnn.continuation.normal_forms import HopfData
from bifsnn.continuation.options import ContinuationOptions
from bifsnn.continuation.periodic import (
    Collocation,
    CycleSolution,
    CycleSystem,
    continue_cycles,
    continue_cycles_from_orbit,
    continue_lpc,
    continue_ns,
    continue_pd,
    cycle_from_simulation,
)
from bifsnn.continuation.problem import ODEProblem
from bifsnn.continuation.result import Branch, SpecialPoint

__all__ = [
    "ArclengthContinuation",
    "Branch",
    "BranchPointSystem",
    "Collocation",
    "ContinuationOptions",
    "CycleSolution",
    "CycleSystem",
    "HopfData",
    "ODEProblem",
    "SpecialPoint",
    "StepResult",
    "UserFunctionError",
    "continue_cycles",
    "continue_cycles_from_orbit",
    "continue_equilibria",
    "continue_fold",
    "continue_hopf",
    "continue_lpc",
    "continue_ns",
    "continue_pd",
    "cycle_from_simulation",
    "hopf_data",
    "load_branch",
    "locate_codim2",
    "save_branch",
    "switch_branch",
]
