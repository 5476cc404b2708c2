"""General numerical continuation engine for smooth ODEs x' = f(x, p).

Problem / options / result are separate objects (as in BifurcationKit.jl); numerics follow
AUTO-07p and MatCont (pseudo-arclength, minimally augmented systems)::

    from bifsnn.continuation import (ODEProblem, ContinuationOptions, continue_equilibria,
                                     switch_branch, hopf_data, continue_fold, continue_hopf)

    prob = ODEProblem(f, x0, p0, param="b", param_names=("a", "b"), dfdx=jac)
    br = continue_equilibria(prob, ContinuationOptions(ds=0.01, p_max=5.0))
    br.special_points            # LP / H / BP (located), EP at both ends
    hopf_data(br, 0)             # start data for a cycle continuation
    continue_hopf(br, 0, "a")    # two-parameter Hopf curve (BT, GH detection)

Modules: ``arclength`` (generic curve engine), ``equilibria``, ``codim2``, ``events``,
``normal_forms``, ``linalg``, ``plots``, ``io``; periodic orbits live in ``periodic``.
"""

from bifsnn.continuation.arclength import ArclengthContinuation, StepResult
from bifsnn.continuation.codim2 import (
    BranchPointSystem,
    continue_fold,
    continue_hopf,
    locate_codim2,
)
from bifsnn.continuation.equilibria import continue_equilibria, hopf_data, switch_branch
from bifsnn.continuation.normal_forms import HopfData
from bifsnn.continuation.options import ContinuationOptions
from bifsnn.continuation.problem import ODEProblem
from bifsnn.continuation.result import Branch, SpecialPoint

__all__ = [
    "ArclengthContinuation",
    "Branch",
    "BranchPointSystem",
    "ContinuationOptions",
    "HopfData",
    "ODEProblem",
    "SpecialPoint",
    "StepResult",
    "continue_equilibria",
    "continue_fold",
    "continue_hopf",
    "hopf_data",
    "locate_codim2",
    "switch_branch",
]
