"""bifsnn: spiking E-I networks -> Markov approximation -> ODE -> bifurcation analysis.

Packages, each arrow pointing down: ``network`` (parameters, SNN and Markov simulators,
results, observables, plots) -> ``reduction`` (sympy-derived ODE and reference map) ->
``continuation`` (a general engine that knows nothing about neurons) -> ``analysis``
(continuation of the network ODE checked against spiking runs) ; ``sweeps`` (parameter
sweeps); ``cli`` (all command-line code). ``_files`` and ``_version`` are the ground floor.
"""

from bifsnn._version import __version__
from bifsnn.network.params import NetworkParams, ParameterError
from bifsnn.network.results import SimulationResult, load_result, save_result

__all__ = [
    "NetworkParams",
    "ParameterError",
    "SimulationResult",
    "__version__",
    "load_result",
    "save_result",
]
