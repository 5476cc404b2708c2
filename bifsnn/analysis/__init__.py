"""Analysis of the network: continuation of its reduced ODE, every prediction checked against
spiking runs with a verdict (:mod:`bifsnn.analysis.verify`)."""

from bifsnn.analysis.coexistence import (
    CoexistenceMap,
    coexistence_map,
    plot_coexistence_map,
)
from bifsnn.analysis.network import (
    DEFAULT_RANGES,
    AnalysisOptions,
    NetworkAnalysis,
    analyse_network,
    default_range,
)
from bifsnn.analysis.report import plot_analysis, report_markdown
from bifsnn.analysis.verify import (
    BoundaryResult,
    BranchRecord,
    Prediction,
    SpecialPointRecord,
    Trace,
    Verdict,
    Verification,
    VerifyOptions,
    locate_transition,
    observe,
    verify,
)

__all__ = [
    "DEFAULT_RANGES",
    "AnalysisOptions",
    "BoundaryResult",
    "BranchRecord",
    "CoexistenceMap",
    "NetworkAnalysis",
    "Prediction",
    "SpecialPointRecord",
    "Trace",
    "Verdict",
    "Verification",
    "VerifyOptions",
    "analyse_network",
    "coexistence_map",
    "default_range",
    "locate_transition",
    "observe",
    "plot_analysis",
    "plot_coexistence_map",
    "report_markdown",
    "verify",
]
