"""bifsnn: spiking E-I networks -> Markov approximation -> ODE -> bifurcation analysis.

Pipeline (one module per stage): ``params`` (network parameters) -> ``snn`` / ``markov``
(stochastic simulators) -> ``reduction`` (sympy-derived ODE and reference map) ->
``continuation`` (a general numerical continuation engine) -> ``observables`` / ``plots``.
"""

from bifsnn._version import __version__
from bifsnn.params import NetworkParams, ParameterError  # noqa: E402
from bifsnn.results import SimulationResult, load_result, save_result  # noqa: E402

__all__ = [
    "NetworkParams",
    "ParameterError",
    "SimulationResult",
    "__version__",
    "load_result",
    "save_result",
]
