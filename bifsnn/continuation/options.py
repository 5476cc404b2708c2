"""Options of the continuation engine (one object for equilibria and codim-2 curves)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

__all__ = ["ContinuationOptions", "LOCATORS"]


#: Methods that locate BP and BT/cusp/Bautin points, tried in the order given by
#: ``ContinuationOptions.locators`` (None: Newton on the minimally augmented system first,
#: regula falsi on the test function as the fallback).
LOCATORS = ("newton", "regula_falsi")


@dataclass
class ContinuationOptions:
    """Numerical options.

    Step control: ``ds`` initial arclength step, ``ds_min`` floor (below it the run stops with
    status ``"ds_min"``), ``ds_max`` ceiling, ``max_steps`` accepted steps.  ``direction``
    (+1/-1) orients the first step in the continuation parameter.  ``p_min``/``p_max`` bound
    the (first) continuation parameter; ``bounds`` maps further parameter indices or names to
    ``(lo, hi)`` (e.g. the second parameter of a codim-2 curve).

    Newton: ``newton_tol`` (on the step relative to 1+|u| and on the residual) and
    ``newton_max_iter``.  ``max_angle`` (radians) rejects steps whose tangent turns more.

    Bifurcations: with ``detect_bifurcations`` the number of unstable eigenvalues is counted at
    every point; a change triggers step splitting (at most ``max_bisections`` halvings) until
    each crossing is isolated, then the point is located (``locate``) to ``locate_tol``.
    Eigenvalues: ``eig_method`` ``"dense"`` (all eigenvalues), ``"sparse"`` (ARPACK
    shift-invert at 0 and at i*omega of the eigenvalues nearest the axis) or ``"auto"`` (dense
    for n <= ``dense_eig_max``).  ``n_eigs`` eigenvalues (largest real part first) are stored
    per point (None: all for dense, 12 for sparse).  ``compute_l1`` computes the first
    Lyapunov coefficient at Hopf points.  ``detect_codim2`` enables BT/cusp/Bautin detection on
    fold and Hopf curves.  ``locators``: the methods that locate BP and BT/cusp/Bautin points,
    tried in order, from :data:`LOCATORS` (None: Newton on the minimally augmented system,
    then regula falsi on the test function).
    """

    ds: float = 1e-2
    ds_min: float = 1e-7
    ds_max: float = 1e-1
    max_steps: int = 500
    p_min: float = -np.inf
    p_max: float = np.inf
    bounds: dict = field(default_factory=dict)
    direction: int = 1
    newton_tol: float = 1e-9
    newton_max_iter: int = 10
    max_angle: float | None = 0.6
    detect_bifurcations: bool = True
    locate: bool = True
    locate_tol: float = 1e-9
    max_bisections: int = 10
    n_eigs: int | None = None
    eig_method: str = "auto"
    dense_eig_max: int = 400
    compute_l1: bool = True
    detect_codim2: bool = True
    weights_param: float = 1.0
    locators: tuple[str, ...] | None = None
    verbose: bool = False

    def __post_init__(self) -> None:
        if not (0 < self.ds_min <= self.ds_max):
            raise ValueError("need 0 < ds_min <= ds_max")
        if self.ds <= 0:
            raise ValueError("ds must be positive (use direction=-1 to go backwards)")
        if self.p_min >= self.p_max:
            raise ValueError("need p_min < p_max")
        if self.eig_method not in ("auto", "dense", "sparse"):
            raise ValueError("eig_method must be 'auto', 'dense' or 'sparse'")
        if self.locators is not None:
            self.locators = tuple(self.locators)
            bad = [m for m in self.locators if m not in LOCATORS]
            if bad or not self.locators:
                raise ValueError(f"locators = {self.locators!r}: must be a non-empty sequence "
                                 f"of {LOCATORS}")

    def with_(self, **changes) -> ContinuationOptions:
        return replace(self, **changes)
