"""The reduced network ODE as a continuation problem, started at its equilibrium.

One recipe for every caller (network analysis, regime map, benchmarks)::

    start = network_problem(NetworkParams(), "p_EI")    # compile -> equilibrium -> problem
    if start.success:
        br = continue_equilibria(start.problem, start.options(p_min=0.4, p_max=1.0))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bifsnn.network.params import NetworkParams, ParameterError
from bifsnn.reduction.equilibria import EquilibriumResult, find_equilibrium
from bifsnn.reduction.model import PARAM_INDEX, MarkovModelDef, ReducedModel

__all__ = ["NetworkProblem", "network_problem"]


@dataclass(frozen=True)
class NetworkProblem:
    """Compiled reduced ODE, its equilibrium, and the ODE problem continued in ``param``.

    ``problem.x0`` is the equilibrium found (its last Newton iterate when ``success`` is
    False: check ``success`` and ``message`` before continuing).
    """

    definition: MarkovModelDef
    model: ReducedModel
    equilibrium: EquilibriumResult
    problem: Any  # bifsnn.continuation.ODEProblem
    param: str

    @property
    def success(self) -> bool:
        """True when Newton found the equilibrium."""
        return bool(self.equilibrium.success)

    @property
    def message(self) -> str:
        """How the equilibrium search ended."""
        return self.equilibrium.message

    @property
    def n_neurons(self) -> int:
        """N_E + N_I: the scale of the state (counts of neurons), for arclength steps."""
        p = self.definition.params
        return int(p.N_E + p.N_I)

    def options(self, *, ds_frac: float = 0.005, ds_max_frac: float = 0.05,
                **changes: Any) -> Any:
        """``ContinuationOptions`` with the steps scaled to the state: ``ds`` = ``ds_frac``
        and ``ds_max`` = ``ds_max_frac`` times N_E + N_I (the state norm is O(N)); further
        fields (``p_min``, ``max_steps``, ...) as keywords."""
        from bifsnn.continuation import ContinuationOptions

        n = self.n_neurons
        return ContinuationOptions(ds=ds_frac * n, ds_max=ds_max_frac * n, **changes)


def network_problem(
    params: NetworkParams | None = None,
    param: str = "p_EI",
    *,
    bin_rule: str = "smooth",
    exact_higher: bool = True,
    **definition: Any,
) -> NetworkProblem:
    """Compile the reduced ODE of ``params`` (``MarkovModelDef(params, bin_rule=...,
    **definition)``), find its equilibrium (:func:`find_equilibrium`, which first integrates
    the ODE for 600 ms) and build the ODE problem continued in ``param`` (with exact second
    and third derivatives unless ``exact_higher`` is False: see
    :meth:`ReducedModel.ode_problem`)."""
    params = NetworkParams() if params is None else params
    if param not in PARAM_INDEX:
        raise ParameterError(f"param = {param!r} cannot be continued: one of "
                             f"{sorted(PARAM_INDEX)}")
    d = MarkovModelDef(params, bin_rule=bin_rule, **definition)
    model = d.compile()
    eq = find_equilibrium(model)
    return NetworkProblem(d, model, eq,
                          model.ode_problem(param, x0=eq.x, exact_higher=exact_higher),
                          param)
