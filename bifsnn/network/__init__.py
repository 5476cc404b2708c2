"""The spiking network side: parameters, SNN and Markov simulators, results, observables, plots.

``params`` (NetworkParams) -> ``snn`` / ``markov`` (simulate_*, numba kernels in ``_kernels``,
shared run set-up in ``_driver``) -> ``results`` (SimulationResult, HDF5) -> ``observables``
(rates, MFEs, synchrony, spectra) -> ``plots``.
"""

from bifsnn.network.params import NetworkParams, ParameterError
from bifsnn.network.results import SimulationResult, load_result, save_result

__all__ = ["NetworkParams", "ParameterError", "SimulationResult", "load_result", "save_result"]
