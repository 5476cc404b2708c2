"""The reduced model: sympy-derived ODE of the binned Markov model and the reference map.

docs/MODEL.md sections 2-5.  Public API:

* :class:`MarkovModelDef` - network parameters + bins (dv, v_min; bins end at M), within-bin
  rule, bin-mean regularisation delta, window h, map outflow; state labels and slices;
  ``compile()`` -> :class:`ReducedModel` with ``rhs``, ``jacobian``, ``dfdp``, ``dfdp_all``,
  ``firing_rates`` (all analytic, numba-compiled from sympy-generated code);
* :func:`simulate_map` (reference map, 5a) and :func:`simulate_ode` (ODE, 5b; explicit
  Tsitouras or Dormand-Prince 5(4), or a stiff scipy solver with the analytic Jacobian) ->
  SimulationResult;
* :func:`find_equilibrium` -> :class:`EquilibriumResult` (Newton, eigenvalues, rates);
* :func:`network_problem` -> :class:`NetworkProblem`: compiled model, equilibrium and the
  continuation problem in one named parameter (the one recipe for every caller).
* :func:`clear_cache` - delete the generated and compiled code (it is regenerated on demand).

Choices made for the ODE (documented because they change the dynamics):

* Within-bin density ("smooth", default for the ODE): uniform, centred on the bin mean Vbar,
  half-width hw = (dv/2) sqrt(((1 - s^2) / (1 + sqrt(s^2 + eps^2)))^2 + h_min^2) with
  s = (Vbar - mid)/(dv/2).  Since (1 - s^2)/(1 + |s|) = 1 - |s|, for eps, h_min -> 0 this is
  exactly the reference rule (widest uniform density touching the nearer edge); sqrt(s^2 +
  eps^2) replaces the kink |s| at the midpoint and h_min keeps the width positive at the
  edges.  The rule is C-infinity in Vbar (defaults eps = 0.2, h_min = 0.02).  The density
  then overlaps neighbouring bins by at most h_min dv / 2.
* Bin mean: Vbar = mid + (A - n mid) n / (n^2 + delta^2) (default delta = 1e-3 neurons):
  A/n for occupied bins, the midpoint for empty ones, smooth everywhere.
* sigma = sqrt(var + sigma_floor^2) instead of clipping the variance at 0.
* Mass below the lowest edge is lumped into the lowest bin at the lowest edge voltage.
* A leak (tau_m set) enters the drift as -h Vbar / tau_m.
"""

from bifsnn.reduction.codegen import clear_cache
from bifsnn.reduction.equilibria import EquilibriumResult, find_equilibrium
from bifsnn.reduction.integrate import simulate_map, simulate_ode
from bifsnn.reduction.model import (
    BIN_RULES,
    CLOSURES,
    OUTFLOWS,
    PARAM_INDEX,
    MarkovModelDef,
    ReducedModel,
)
from bifsnn.reduction.problem import NetworkProblem, network_problem

__all__ = [
    "BIN_RULES",
    "CLOSURES",
    "OUTFLOWS",
    "PARAM_INDEX",
    "EquilibriumResult",
    "MarkovModelDef",
    "NetworkProblem",
    "ReducedModel",
    "clear_cache",
    "find_equilibrium",
    "network_problem",
    "simulate_map",
    "simulate_ode",
]
