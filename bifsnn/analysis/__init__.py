"""Analysis of the network: continuation of its reduced ODE checked against spiking runs."""

from bifsnn.analysis.network import NetworkAnalysis, VerificationPoint, analyse_network

__all__ = ["NetworkAnalysis", "VerificationPoint", "analyse_network"]
