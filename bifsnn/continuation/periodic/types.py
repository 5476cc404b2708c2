"""Internal records of the cycle stepper: a start (cycle plus optional tangent) and one
converged point.  The public result of a continuation is a
:class:`~bifsnn.continuation.Branch` of kind 'PO'."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .collocation import CycleSolution, NodeValues

__all__ = ["CyclePoint", "CycleStart", "RawSpecial"]


@dataclass
class CycleStart:
    """Start of a cycle continuation: a (possibly degenerate) cycle on a mesh and an optional
    tangent ``(U-part flattened, T, p)`` on that mesh (given at Hopf and PD starts, where the
    Jacobian has a two-dimensional kernel).  ``info['start']`` says how it was built."""

    tm: np.ndarray
    ncol: int
    U: np.ndarray
    T: float
    p: float
    tangent: np.ndarray | None = None
    info: dict = field(default_factory=dict)


@dataclass
class CyclePoint(NodeValues):
    """One converged cycle of the stepper (node values on mesh ``tm``)."""

    p: float
    T: float
    tm: np.ndarray
    ncol: int
    U: np.ndarray
    multipliers: np.ndarray | None = None
    trivial_error: float = float("nan")
    amplitude: float = float("nan")  # L2 norm of u - mean over the period
    newton_iterations: int = 0
    ds: float = float("nan")

    @property
    def stable(self) -> bool | None:
        """True if all nontrivial multipliers lie inside the unit circle."""
        if self.multipliers is None:
            return None
        mu = np.delete(self.multipliers, np.argmin(np.abs(self.multipliers - 1.0)))
        return bool(np.all(np.abs(mu) < 1.0))

    def solution(self) -> CycleSolution:
        """The point as a CycleSolution."""
        return CycleSolution(self.tm, self.ncol, self.U, self.T, self.p)


@dataclass
class RawSpecial:
    """A special point found by the stepper (converted to a SpecialPoint on the branch)."""

    type: str
    index: int
    p: float
    T: float
    multipliers: np.ndarray | None
    located: bool
    data: dict = field(default_factory=dict)
