"""The discretisation of periodic orbits used by a cycle continuation (validated on
construction); the continuation's own settings are a
:class:`~bifsnn.continuation.ContinuationOptions`."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from .mesh import check_mesh_args

__all__ = ["Collocation"]

#: The largest ``Collocation.threads`` accepted
MAX_THREADS = 256


@dataclass(frozen=True)
class Collocation:
    """Orthogonal collocation: ``ntst`` mesh intervals of degree ``ncol`` (2..7).

    ``adapt_mesh``: redistribute the mesh (AUTO-style equidistribution) every that many
    accepted steps (0 or False: never; True: every step).  ``newton_chord``: the corrector
    reuses one LU while the corrections contract fast (False: full Newton).
    ``detect_sparsity``: with an analytic dense df/dx and n >= 20, detect its sparsity pattern
    from the cycle's nodes (fewer nonzeros make the collocation LU several times cheaper).
    ``state_scale``: the state part of the arclength norm is (int |u - u_prev|^2 dt)^(1/2) /
    state_scale; None: max(1, RMS of the start cycle), so that ``ds`` is relative to the size
    of the state.  ``weight_period`` weights the period in that norm.  ``amp_min``: below this
    amplitude a branch is taken to have reached a Hopf point.  ``reuse_lu`` (with
    ``newton_chord``): the corrector starts from the latest factorisation of the continuation
    (an earlier step, possibly on another mesh of the same size) instead of a new one at every
    predictor (Anderson-accelerated chord iteration, refactorising when it contracts slowly),
    the tangent at each converged point is refined by GMRES against that point's Jacobian
    (relative 1e-5), and the step size follows the predictor's distance to the branch.  Off by
    default: on the reduced network ODE it saved ~2/3 of the LUs but about as much time went
    into the extra iterations (CPU per step 0.8x at ntst = 60, 1.1x at ntst = 20 and 40, one
    loaded run; benchmarks/README.md).  ``threads``: threads of the condensation's block
    kernels (the refactorisation of the interval blocks, the many-column propagation) on
    large sparse systems and of df/dx at the collocation points; every block, column and
    point goes through the same operations whatever the count (bit-identical results); 1
    (default) keeps them on the calling thread.
    """

    ntst: int = 40
    ncol: int = 4
    adapt_mesh: int = 1
    newton_chord: bool = True
    detect_sparsity: bool = True
    state_scale: float | None = None
    weight_period: float = 1.0
    amp_min: float = 1e-8
    reuse_lu: bool = False
    threads: int = 1

    def __post_init__(self) -> None:
        check_mesh_args(self.ntst, self.ncol)
        a = self.adapt_mesh
        if not (isinstance(a, bool) or (isinstance(a, int) and a >= 0)):
            raise ValueError(f"adapt_mesh = {a!r} is out of range: must be True/False or an "
                             "integer >= 0 (adapt every that many steps)")
        object.__setattr__(self, "adapt_mesh", int(a))
        if self.state_scale is not None and not (_finite(self.state_scale)
                                                 and self.state_scale > 0):
            raise ValueError(f"state_scale = {self.state_scale!r} is out of range: must be None "
                             "or a finite number > 0")
        if not isinstance(self.reuse_lu, bool):
            raise ValueError(f"reuse_lu = {self.reuse_lu!r} is out of range: must be True or "
                             "False")
        t = self.threads
        if not (isinstance(t, int) and not isinstance(t, bool) and 1 <= t <= MAX_THREADS):
            raise ValueError(f"threads = {t!r} is out of range: must be an integer in "
                             f"[1, {MAX_THREADS}]")
        for name in ("weight_period", "amp_min"):
            v = getattr(self, name)
            if not (_finite(v) and v > 0):
                raise ValueError(f"{name} = {v!r} is out of range: must be a finite number > 0")

    def reuses_lu(self, n: int) -> bool:
        """Whether the corrector carries factorisations across steps for n states."""
        return bool(self.reuse_lu) and self.newton_chord

    def with_(self, **changes) -> Collocation:
        """A validated copy with some fields changed."""
        return replace(self, **changes)


def _finite(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
