"""The reduced model: sympy-derived ODE of the binned Markov model and the reference map."""

from bifsnn.reduction.model import (
    BIN_RULES,
    OUTFLOWS,
    PARAM_INDEX,
    MarkovModelDef,
    ReducedModel,
)

__all__ = [
    "BIN_RULES",
    "OUTFLOWS",
    "PARAM_INDEX",
    "MarkovModelDef",
    "ReducedModel",
]
